//! How many chain runs use the CPU at once. A chain run is CPU work on a blocking thread; with one thread per
//! waiting session, 32 sessions on two cores would time-slice 32 runs, and the async workers that speak SMTP
//! and commit the queue would get a thirty-fourth of the machine each. A run instead waits (on no thread) for
//! one of a few slots, and gives its slot up while its plugin waits on the network or the store (DNS, plugin
//! storage not held in memory), so a slow DNS server never holds the gateway's filtering up.

use std::cell::RefCell;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots chain runs share (one set per process).
#[derive(Clone, Debug)]
pub struct RunSlots {
    semaphore: Arc<Semaphore>,
}

/// A run's right to the CPU, taken before it goes to its blocking thread.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

thread_local! {
    /// The slot of the run on this blocking thread, for the host's waits to give up.
    static HELD: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

impl RunSlots {
    pub fn new(count: usize) -> Self {
        Self { semaphore: Arc::new(Semaphore::new(count.max(1))) }
    }

    /// Twice the cores: on two cores, four slots lowered the default chain's p99 at 32 clients in most runs
    /// measured, without lowering its throughput (README, Benchmark); a run's host waits give their slot up.
    pub fn for_this_machine() -> Self {
        Self::new(2 * std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// A slot if one is free now: for work that is worth doing only when the gateway has the CPU to spare
    /// (lessons from confident verdicts).
    pub fn try_take(&self) -> Option<Slot> {
        let permit = self.semaphore.clone().try_acquire_owned().ok()?;
        Some(Slot { _permit: permit })
    }

    /// Waits, first come first served, for a slot.
    pub async fn take(&self) -> Slot {
        let permit = self.semaphore.clone().acquire_owned().await.expect("the slots' semaphore is never closed");
        Slot { _permit: permit }
    }
}

impl Slot {
    /// Runs `run` on this (blocking) thread holding the slot; [`without_slot`] inside it gives the slot up
    /// for a while. The slot is released when `run` returns or panics.
    pub fn hold<R>(self, run: impl FnOnce() -> R) -> R {
        struct Release;
        impl Drop for Release {
            fn drop(&mut self) {
                HELD.with(|held| held.borrow_mut().take());
            }
        }
        HELD.with(|held| *held.borrow_mut() = Some(self));
        let _release = Release;
        run()
    }
}

/// Runs `wait` — a host call waiting on I/O — after giving up this thread's slot, if it holds one. The run
/// goes on without a slot: taking one back could deadlock (a run may wait on the store while holding a lock
/// that runs holding every slot wait for), and a run that waited on I/O is past the crowd the slots bound.
pub(crate) fn without_slot<R>(wait: impl FnOnce() -> R) -> R {
    HELD.with(|held| held.borrow_mut().take());
    wait()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_waits_for_a_slot_and_a_waiting_plugin_gives_its_slot_up() {
        let slots = RunSlots::new(1);
        let first = slots.take().await;
        let second = tokio::time::timeout(Duration::from_millis(100), slots.take()).await;
        assert!(second.is_err(), "one slot: the second run waits");

        // The first run's plugin waits on the network (`without_slot`) until the second run has finished.
        let (finished, on_finish) = std::sync::mpsc::channel::<()>();
        let waiting = tokio::task::spawn_blocking(move || {
            first.hold(|| without_slot(|| on_finish.recv_timeout(Duration::from_secs(10)).is_ok()))
        });
        let second = tokio::time::timeout(Duration::from_secs(10), slots.take()).await.expect("given up meanwhile");
        tokio::task::spawn_blocking(move || second.hold(|| finished.send(()).unwrap())).await.unwrap();
        assert!(waiting.await.unwrap(), "the first run's wait ended after the second run");

        // Both runs are over: their slot is free again, held by no thread.
        let again = tokio::time::timeout(Duration::from_secs(1), slots.take()).await;
        assert!(again.is_ok(), "released when the runs returned");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_run_releases_its_slot() {
        let slots = RunSlots::new(1);
        let slot = slots.take().await;
        let panicked = tokio::task::spawn_blocking(move || slot.hold(|| panic!("a runtime bug"))).await;
        assert!(panicked.is_err());
        assert!(tokio::time::timeout(Duration::from_secs(1), slots.take()).await.is_ok());
    }
}
