//! Work that arrives one piece at a time and is written to the store in groups: whatever arrived while the
//! previous group was being written goes in the next one (group commit).

use tokio::sync::mpsc;

/// The next group: waits for one piece, then takes whatever else is waiting, up to `max`. `None` once every
/// sender is gone.
pub(crate) async fn next_group<T>(pending: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = pending.recv().await?;
    let mut group = vec![first];
    while group.len() < max {
        match pending.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    Some(group)
}
