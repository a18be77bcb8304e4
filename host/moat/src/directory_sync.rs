//! Synchronizes tenants' directories (LDAP) whose interval has passed; the store's claim keeps several nodes
//! from running one twice.

use moat_directory::Directory;
use std::time::Duration;
use tokio::sync::watch;

/// How often due synchronizations are looked for.
const CHECK_EVERY: Duration = Duration::from_secs(60);

pub async fn run(directory: Directory, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let now = moat_store::unix_now();
        if let Err(e) = directory.sync_due(now).await {
            tracing::warn!("directory synchronization: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}
