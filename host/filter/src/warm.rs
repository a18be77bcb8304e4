//! Warm instances, for chain entries that ask for them (`warm = true`): a few instances of the entry's
//! plugin are kept between calls instead of a fresh one per call, so what the plugin builds once (an
//! antivirus' compiled signature database) survives to the next message. Every call still gets its own
//! fuel, memory cap, resource table, configuration and grants; only the guest's memory carries over, and only
//! within the entry (one tenant's chain). An instance whose call failed in any way is dropped.

use crate::bindings::Filter;
use crate::host::HostState;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::Store;

/// Idle instances one entry keeps whatever their size: enough for a quiet gateway.
const PER_ENTRY: usize = 2;
/// Beyond those, an entry keeps small instances up to this many and this much idle memory. Under load (32
/// sessions at once) most calls otherwise got a fresh instance, which builds again what the plugin builds
/// once (the rules layer's automata, the phishing layer's brand table); a large instance (an antivirus'
/// signature database) stays at two.
const PER_ENTRY_MAX: usize = 16;
const PER_ENTRY_BYTES: usize = 32 << 20;
/// Idle instances kept at most in the process: half of the engine's pooled instance slots, so fresh
/// instances for everything else always find one.
const IN_ALL: usize = crate::engine::MAX_INSTANCES as usize / 2;

static IDLE: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct Instance {
    pub store: Store<HostState>,
    pub filter: Filter,
}

/// One chain entry's idle instances.
#[derive(Default)]
pub struct Warm {
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Warm({} idle)", self.idle.lock().map_or(0, |i| i.len()))
    }
}

impl Warm {
    pub(crate) fn take(&self) -> Option<Instance> {
        let instance = self.idle.lock().expect("warm instances lock").pop()?;
        IDLE.fetch_sub(1, Ordering::Relaxed);
        end_idle(&instance);
        Some(instance)
    }

    /// Keeps an instance whose call succeeded, if there is room (in the entry, see [`entry_has_room`], and in
    /// the process, and idle memory within its share of the plugin memory budget: an instance that grew on a
    /// large message is dropped, its memory given back); otherwise it is dropped.
    pub(crate) fn give_back(&self, instance: Instance) {
        let limiter = &instance.store.data().limiter;
        let mut idle = self.idle.lock().expect("warm instances lock");
        let held: usize = idle.iter().map(|i| i.store.data().limiter.reserved).sum();
        if !entry_has_room(idle.len(), held, limiter.reserved) {
            return;
        }
        if IDLE.fetch_add(1, Ordering::Relaxed) >= IN_ALL {
            IDLE.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        if !limiter.budget.keep_idle(limiter.reserved) {
            IDLE.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        idle.push(instance);
    }

    /// Idle instances in this process, for tests and metrics.
    pub fn idle_in_all() -> usize {
        IDLE.load(Ordering::Relaxed)
    }
}

/// Whether an entry holding `kept` idle instances of `held` bytes keeps one more of `bytes`.
fn entry_has_room(kept: usize, held: usize, bytes: usize) -> bool {
    kept < PER_ENTRY || (kept < PER_ENTRY_MAX && held.saturating_add(bytes) <= PER_ENTRY_BYTES)
}

fn end_idle(instance: &Instance) {
    let limiter = &instance.store.data().limiter;
    limiter.budget.end_idle(limiter.reserved);
}

impl Drop for Warm {
    fn drop(&mut self) {
        if let Ok(idle) = self.idle.get_mut() {
            IDLE.fetch_sub(idle.len(), Ordering::Relaxed);
            idle.iter().for_each(end_idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_keeps_many_small_instances_and_two_large_ones() {
        const MIB: usize = 1 << 20;
        let kept_of = |bytes: usize| (0..).take_while(|&kept| entry_has_room(kept, kept * bytes, bytes)).count();
        assert_eq!(kept_of(2 * MIB), PER_ENTRY_MAX, "a Rust guest's usual 1–2 MiB");
        assert_eq!(kept_of(5 * MIB), 6, "as many as fit in the entry's idle memory");
        assert_eq!(kept_of(40 * MIB), PER_ENTRY, "however large, two");
    }
}
