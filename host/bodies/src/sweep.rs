//! Removing bodies nothing refers to any more: at once when a delivered message needs no copy kept
//! ([`release`]), and by a periodic mark-and-sweep for everything else ([`sweep`]).

use crate::{BodyKey, MessageStore, Result};
use moat_store::Store;
use std::time::Duration;

/// How old an unreferenced body must be before a sweep takes it: a body is written before the commit that
/// refers to it, and one in that gap must not go.
pub const GRACE: Duration = Duration::from_secs(3600);

/// Removes `key` now if nothing refers to it, copies kept for `keep` included: a finished message's body
/// when no copy is kept. Returns whether it went.
pub async fn release(
    store: &Store,
    bodies: &dyn MessageStore,
    key: &BodyKey,
    keep: Duration,
    now: i64,
) -> Result<bool> {
    let kept_since = now - keep.as_secs() as i64;
    if !store.bodies_referenced(std::slice::from_ref(key), kept_since).await?.is_empty() {
        return Ok(false);
    }
    bodies.delete(key).await?;
    Ok(true)
}

/// Removes every body older than [`GRACE`] that no queued message, held message, or log row received within
/// `keep` refers to. Returns how many went.
pub async fn sweep(store: &Store, bodies: &dyn MessageStore, keep: Duration, now: i64) -> Result<usize> {
    let candidates = bodies.stored_before(now - GRACE.as_secs() as i64).await?;
    let kept_since = now - keep.as_secs() as i64;
    let mut removed = 0;
    for chunk in candidates.chunks(1000) {
        let referenced = store.bodies_referenced(chunk, kept_since).await?;
        for key in chunk.iter().filter(|k| !referenced.contains(k)) {
            bodies.delete(key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
