//! An install from before the message store kept its queue in `spool/msg/QUEUE-ID`, delivered copies in
//! `spool/kept/QUEUE-ID` and held messages' bytes in their quarantine rows. At start those move into the
//! message store, once, and their rows point at them.

use crate::{MessageStore, Result, put};
use moat_store::{LegacyBody, Store};
use std::path::Path;

/// Moves what an older install kept under `spool` (and in quarantine rows) into `bodies`. Returns how many
/// bodies moved.
pub async fn adopt_legacy_spool(spool: &Path, store: &Store, bodies: &dyn MessageStore) -> Result<usize> {
    let mut adopted = 0;
    for (id, what) in store.bodies_without_key().await? {
        let bytes = match what {
            LegacyBody::Held => store.quarantine_legacy_bytes(&id).await?,
            _ => read_if_there(&spool.join("msg").join(&id)).await?,
        };
        let Some(bytes) = bytes else {
            // On a cluster, another node's old spool may hold it: that node adopts it when it starts.
            tracing::warn!(id = %id, "an older install's queued message has no spool file on this node");
            continue;
        };
        let key = put(bodies, &[&bytes]).await?;
        store.body_adopted(&id, what, &key).await?;
        adopted += 1;
    }
    let kept = spool.join("kept");
    if let Ok(mut entries) = tokio::fs::read_dir(&kept).await {
        while let Some(entry) = entries.next_entry().await? {
            let id = entry.file_name().to_string_lossy().into_owned();
            let bytes = tokio::fs::read(entry.path()).await?;
            let key = put(bodies, &[&bytes]).await?;
            store.body_adopted(&id, LegacyBody::KeptCopy, &key).await?;
            adopted += 1;
        }
    }
    // Only once every body is in the message store do the old directories go.
    for old in ["msg", "kept"] {
        match tokio::fs::remove_dir_all(spool.join(old)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(adopted)
}

async fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
