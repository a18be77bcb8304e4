//! Retention: what the email log shows ages out — log rows, held messages, and the spool's copies of
//! delivered mail. Every node runs it; the store's deletes are idempotent, the copies are each node's own.

use crate::config::RetentionConfig;
use moat_smtp::Spool;
use moat_store::Store;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(3600);

/// Purges at start and every hour until `stop` turns true.
pub async fn run(store: Store, spool: Spool, config: RetentionConfig, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        purge(&store, &spool, &config, SystemTime::now()).await;
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One pass, as of `now`. Failures are logged: the next pass tries again.
pub async fn purge(store: &Store, spool: &Spool, config: &RetentionConfig, now: SystemTime) {
    let before = |keep: Duration| now.checked_sub(keep).unwrap_or(UNIX_EPOCH).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let log = store.log_purge(before(config.log)).await;
    let quarantine = store.quarantine_purge(before(config.quarantine)).await;
    let copies = spool.purge_copies(now).await;
    match (log, quarantine, copies) {
        (Ok(0), Ok(0), Ok(0)) => {}
        (Ok(log), Ok(held), Ok(copies)) => tracing::info!(log, held, copies, "retention removed aged-out records"),
        (log, quarantine, copies) => tracing::warn!(
            log = ?log.err(),
            quarantine = ?quarantine.err(),
            copies = ?copies.err(),
            "retention could not remove everything aged out"
        ),
    }
}
