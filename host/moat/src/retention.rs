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
    let before = |keep: Duration| {
        now.checked_sub(keep).unwrap_or(UNIX_EPOCH).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use moat_store::{Accepted, Disposition, Durability, LogQuery, NewLogEntry, NewQuarantined};

    #[tokio::test]
    async fn a_pass_removes_only_what_aged_out() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = Store::open(&url, Durability::None).await.unwrap();
        let spool = Spool::open(dir.path().join("spool"), false).unwrap().keeping_copies(Duration::from_secs(7200));
        let config = RetentionConfig::default();
        let now = SystemTime::now() + Duration::from_secs(3 * 3600);
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let logged = |at: SystemTime, subject: &str| NewLogEntry {
            received_at: secs(at),
            subject: Some(subject.into()),
            verdict: "clean".into(),
            delivery_status: "delivered".into(),
            ..Default::default()
        };
        let old = now - config.log - Duration::from_secs(60);
        let held = |id: &str, at: SystemTime| NewQuarantined {
            id: id.into(),
            tenant: moat_store::DEFAULT_TENANT,
            sender: "a@b.test".into(),
            recipients: vec![],
            subject: None,
            score: 9.0,
            reason: "test".into(),
            received_at: secs(at),
            bytes: b"x".to_vec(),
            direction: moat_store::Direction::Inbound,
        };
        let batch = [
            Accepted { log: logged(old, "old"), disposition: Disposition::LogOnly },
            Accepted { log: logged(now, "new"), disposition: Disposition::LogOnly },
            Accepted {
                log: logged(now, "held long ago"),
                disposition: Disposition::Quarantine(held("q-old", now - config.quarantine - Duration::from_secs(60))),
            },
            Accepted { log: logged(now, "held"), disposition: Disposition::Quarantine(held("q-new", now)) },
        ];
        store.accept_batch(&batch).await.unwrap();
        spool.write("copy", [b"", b"delivered"]).await.unwrap();
        spool.finish("copy").await.unwrap();

        purge(&store, &spool, &config, now).await;

        let rows = store.log_recent(&LogQuery { limit: 10, ..LogQuery::default() }).await.unwrap();
        let mut subjects: Vec<_> = rows.iter().filter_map(|r| r.subject.as_deref()).collect();
        subjects.sort();
        assert_eq!(subjects, ["held", "held long ago", "new"]);
        assert!(store.quarantine_get("q-old").await.unwrap().is_none());
        assert!(store.quarantine_get("q-new").await.unwrap().is_some());
        assert!(spool.read("copy").await.is_err(), "the copy is older than 2 h as of `now`");
    }
}
