//! Sends users their quarantine digests: checks every few minutes which are due (`[quarantine]
//! digest_every`); the store's claim keeps several nodes from sending one twice.

use moat_directory::Directory;
use std::time::Duration;
use tokio::sync::watch;

/// How often due digests are looked for, at most.
const CHECK_AT_MOST_EVERY: Duration = Duration::from_secs(300);

pub async fn run(directory: Directory, every: Duration, mut stop: watch::Receiver<bool>) {
    let pause = every.min(CHECK_AT_MOST_EVERY);
    while !*stop.borrow() {
        let now = moat_store::unix_now();
        match directory.send_digests(now, every).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "quarantine digests queued"),
            Err(e) => tracing::warn!("quarantine digests: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}
