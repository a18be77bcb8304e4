//! Plugin key-value storage in the store, so greylisting triplets and classifier tokens survive restarts and
//! are shared by every node of a cluster.
//!
//! A namespace a plugin reads in bulk (a classifier's thousand tokens per message, a list's entries, a
//! client's reputation counters) is kept in memory on first bulk read, so scoring costs no database round
//! trip. It stays current through the store's change feed: this node's writes are applied to it with the
//! values the store returns, and at most every `REFRESH` a read asks the namespace's version and reads only
//! the rows written since (another node's learning, an admin's list edit), or reloads it after a deletion.
//! Namespaces that would pass `RESIDENT_BUDGET` entries in all, and single-key reads of namespaces never
//! read in bulk, are answered by the store.
//!
//! Counters that expire (rate limits, a client's recent verdicts: statistics, written on every message) are
//! counted in memory when their namespace is held and written behind every `FLUSH` ([`Store::kv_add_many`])
//! and at shutdown ([`StoreKv::flush`]); a crash loses at most the last `FLUSH` of them. Counters without
//! expiry (what a classifier learned) and values are written through before the call returns.
//!
//! What a classifier learns grows with every lesson (each message brings words never seen before), and with
//! autolearn lessons come all day. So a namespace this node wrote learned counters to is bounded
//! ([`StoreKv::trim`]): past `max` entries, those learned longest ago are dropped, down to nine tenths —
//! as SpamAssassin expires the tokens it saw least recently. Counters written on every lesson (a class's
//! total) and words mail keeps using stay.

use moat_filter::{KvError, KvStore};
use moat_store::{KvEntry, KvVersion, Store};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How stale another node's (or the console's) writes may be in a resident namespace.
const REFRESH: Duration = Duration::from_secs(1);
/// How often a resident namespace drops its expired entries (the store's purge does not reach memory): rate
/// counters keyed by address and minute would otherwise pile up for as long as the process runs.
const SWEEP: Duration = Duration::from_secs(60);
/// How often counters written behind reach the store.
const FLUSH: Duration = Duration::from_millis(200);
/// Deltas kept for a store that keeps failing; past it they are dropped (they are statistics).
const BEHIND_MAX: usize = 100_000;
/// Entries one trimming transaction deletes at most (SQLite: 20,000 of a trained classifier's rows held the
/// writer 0.4 s on a busy 2-core machine, so about a tenth of a second), and the pause between two, when
/// accepted mail's commits go.
const TRIM_BATCH: u64 = 5_000;
const TRIM_PAUSE: Duration = Duration::from_millis(100);
/// Entries kept in memory in all namespaces (about 100 bytes each), counted as namespaces are loaded.
const RESIDENT_BUDGET: usize = 4_000_000;

/// A stored value and when it expires (unix seconds).
struct Value {
    bytes: Box<[u8]>,
    expires_at: Option<i64>,
}

/// Hashed with foldhash (randomly seeded, several times faster than SipHash on short keys): a message's
/// tokens are thousands of lookups.
type Entries = foldhash::HashMap<String, Value>;

/// A namespace's stored entries as memory keeps them.
fn entries_of(loaded: Vec<KvEntry>) -> Entries {
    loaded
        .into_iter()
        .filter_map(|e| Some((e.key, Value { bytes: e.value?.into_boxed_slice(), expires_at: e.expires_at })))
        .collect()
}

/// One namespace held in memory.
struct Resident {
    entries: RwLock<Entries>,
    /// What the entries reflect, when the store was last asked, and when expired entries were last dropped.
    feed: Mutex<(KvVersion, Instant, Instant)>,
}

impl Resident {
    fn read<T>(&self, keys: &[String], now: i64, answer: impl Fn(Option<&[u8]>) -> T) -> Vec<T> {
        let entries = self.entries.read().expect("resident namespace lock");
        keys.iter()
            .map(|k| {
                let live = entries.get(k.as_str()).filter(|v| v.expires_at.is_none_or(|at| at > now));
                answer(live.map(|v| &v.bytes[..]))
            })
            .collect()
    }

    /// Adds `delta` to a counter in memory as the store would: an expired or missing one starts over with
    /// `fresh_expiry`, a live one keeps its expiry. Returns the new value.
    fn add(&self, key: &str, delta: i64, fresh_expiry: Option<i64>, now: i64) -> i64 {
        let mut entries = self.entries.write().expect("resident namespace lock");
        let live = entries.get(key).filter(|v| v.expires_at.is_none_or(|at| at > now));
        let (value, expires_at) = match live {
            Some(v) => (moat_filter::counter_value(Some(&v.bytes[..])) + delta, v.expires_at),
            None => (delta, fresh_expiry),
        };
        entries.insert(key.to_owned(), Value { bytes: Box::new(value.to_le_bytes()), expires_at });
        value
    }

    /// Drops entries that expired by `now`; returns how many.
    fn sweep(&self, now: i64) -> usize {
        let mut entries = self.entries.write().expect("resident namespace lock");
        let before = entries.len();
        entries.retain(|_, v| v.expires_at.is_none_or(|at| at > now));
        before - entries.len()
    }

    fn apply(&self, changed: impl IntoIterator<Item = KvEntry>) {
        let mut entries = self.entries.write().expect("resident namespace lock");
        for entry in changed {
            match entry.value {
                Some(bytes) => {
                    entries.insert(entry.key, Value { bytes: bytes.into_boxed_slice(), expires_at: entry.expires_at });
                }
                None => {
                    entries.remove(&entry.key);
                }
            }
        }
    }
}

/// A namespace's place in memory: held, or too big for what is left of the budget.
#[derive(Clone)]
enum Slot {
    Held(Arc<Resident>),
    InStore,
}

/// Expiring counters' deltas not yet in the store: namespace → (key, delta, expiry if it starts over).
type Behind = HashMap<String, Vec<(String, i64, Option<i64>)>>;

/// Called from the blocking threads chains run on: each call waits for the store on the runtime.
pub struct StoreKv {
    store: Store,
    behind: Arc<Mutex<Behind>>,
    runtime: Handle,
    namespaces: Mutex<HashMap<String, Slot>>,
    /// Held while a namespace loads, so the threads that want it wait for one load instead of each loading it.
    loading: Mutex<()>,
    held: AtomicUsize,
    /// The namespaces this node wrote learned counters to: the ones [`StoreKv::trim`] bounds.
    learning: Mutex<HashSet<String>>,
}

impl StoreKv {
    /// Must be created inside the Tokio runtime whose store it uses.
    pub fn new(store: Store) -> Self {
        let behind: Arc<Mutex<Behind>> = Arc::default();
        let weak = Arc::downgrade(&behind);
        let writer = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FLUSH).await;
                let Some(behind) = weak.upgrade() else { return };
                write_behind(&writer, &behind).await;
            }
        });
        Self {
            store,
            behind,
            runtime: Handle::current(),
            namespaces: Mutex::default(),
            loading: Mutex::default(),
            held: AtomicUsize::new(0),
            learning: Mutex::default(),
        }
    }

    /// Writes the counters still in memory only: at shutdown, so nothing counted is lost.
    pub async fn flush(&self) {
        write_behind(&self.store, &self.behind).await;
    }

    /// Bounds what this node's lessons grow: each namespace it wrote learned counters to keeps at most `max`
    /// entries; one past it is trimmed to nine tenths of `max`, its longest-unlearned entries dropped. Returns
    /// how many entries went. Counting a namespace held in memory costs nothing; one in the store only, a count.
    pub async fn trim(&self, max: usize) -> u64 {
        let learning: Vec<String> = self.learning.lock().expect("learning namespaces lock").iter().cloned().collect();
        let mut dropped = 0;
        for namespace in learning {
            let held = self.held(&namespace).map(|r| r.entries.read().expect("resident namespace lock").len());
            let entries = match held {
                Some(n) => n,
                None => match self.store.kv_count(&namespace).await {
                    Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                    Err(e) => {
                        tracing::warn!(namespace, "cannot count plugin storage: {e}");
                        continue;
                    }
                },
            };
            if entries <= max {
                continue;
            }
            let keep = (max - max / 10) as u64;
            let mut gone = 0;
            loop {
                match self.store.kv_trim(&namespace, keep, TRIM_BATCH).await {
                    Ok(n) => {
                        gone += n;
                        // Short of a batch: the bound is reached (a batch ends early only there).
                        if n < TRIM_BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(namespace, "cannot trim plugin storage: {e}");
                        break;
                    }
                }
                tokio::time::sleep(TRIM_PAUSE).await;
            }
            tracing::info!(namespace, entries, dropped = gone, "plugin storage trimmed to its bound");
            dropped += gone;
        }
        dropped
    }

    fn wait<T>(&self, what: &str, f: impl Future<Output = Result<T, moat_store::StoreError>>) -> Result<T, KvError> {
        crate::slots::without_slot(|| self.runtime.block_on(f)).map_err(|e| {
            tracing::warn!("plugin storage {what} failed: {e}");
            KvError
        })
    }

    /// The namespace in memory, loaded on first use and caught up when due; `None` when it is kept in the
    /// store only.
    fn resident(&self, namespace: &str) -> Result<Option<Arc<Resident>>, KvError> {
        let slot = self.namespaces.lock().expect("resident namespaces lock").get(namespace).cloned();
        let resident = match slot {
            Some(Slot::InStore) => return Ok(None),
            Some(Slot::Held(resident)) => resident,
            None => match self.load(namespace)? {
                Some(resident) => resident,
                None => return Ok(None),
            },
        };
        self.catch_up(namespace, &resident)?;
        Ok(Some(resident))
    }

    fn load(&self, namespace: &str) -> Result<Option<Arc<Resident>>, KvError> {
        let _loading = self.loading.lock().expect("kv loading lock");
        match self.namespaces.lock().expect("resident namespaces lock").get(namespace) {
            Some(Slot::Held(resident)) => return Ok(Some(resident.clone())),
            Some(Slot::InStore) => return Ok(None),
            None => {}
        }
        let count = self.wait("count", self.store.kv_count(namespace))?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if self.held.fetch_add(count, Ordering::Relaxed).saturating_add(count) > RESIDENT_BUDGET {
            self.held.fetch_sub(count, Ordering::Relaxed);
            tracing::info!(namespace, entries = count, "plugin storage namespace too big to keep in memory");
            self.namespaces.lock().expect("resident namespaces lock").insert(namespace.to_owned(), Slot::InStore);
            return Ok(None);
        }
        // The version first: what is written meanwhile is in the load or read again by the next catch-up.
        let read = self.wait("read", self.store.kv_version(namespace)).and_then(|version| {
            Ok((version, self.wait("read", self.store.kv_load(namespace, count as i64, crate::now()))?))
        });
        let (version, loaded) = read.inspect_err(|_| {
            self.held.fetch_sub(count, Ordering::Relaxed);
        })?;
        let resident = Arc::new(Resident {
            entries: RwLock::new(entries_of(loaded)),
            feed: Mutex::new((version, Instant::now(), Instant::now())),
        });
        self.namespaces
            .lock()
            .expect("resident namespaces lock")
            .insert(namespace.to_owned(), Slot::Held(resident.clone()));
        Ok(Some(resident))
    }

    /// Reads what other writers changed, at most every `REFRESH`; one thread does it while the others read.
    fn catch_up(&self, namespace: &str, resident: &Resident) -> Result<(), KvError> {
        let Ok(mut feed) = resident.feed.try_lock() else { return Ok(()) };
        if feed.1.elapsed() < REFRESH {
            return Ok(());
        }
        feed.1 = Instant::now();
        if feed.2.elapsed() >= SWEEP {
            feed.2 = feed.1;
            let dropped = resident.sweep(crate::now());
            self.held.fetch_sub(dropped.min(self.held.load(Ordering::Relaxed)), Ordering::Relaxed);
        }
        let now = self.wait("read", self.store.kv_version(namespace))?;
        if now.epoch != feed.0.epoch {
            let count = self.wait("count", self.store.kv_count(namespace))?;
            let loaded = self.wait("read", self.store.kv_load(namespace, count, crate::now()))?;
            let fresh = entries_of(loaded);
            let mut entries = resident.entries.write().expect("resident namespace lock");
            let (before, after) = (entries.len(), fresh.len());
            *entries = fresh;
            drop(entries);
            self.held.fetch_add(after, Ordering::Relaxed);
            self.held.fetch_sub(before, Ordering::Relaxed);
        } else if now.version > feed.0.version {
            let changed = self.wait("read", self.store.kv_changes(namespace, feed.0.version))?;
            resident.apply(changed);
        }
        feed.0 = now;
        Ok(())
    }

    /// The resident copy of `namespace` if it is held, without loading it: for writes, and single-key reads.
    fn held(&self, namespace: &str) -> Option<Arc<Resident>> {
        match self.namespaces.lock().expect("resident namespaces lock").get(namespace) {
            Some(Slot::Held(resident)) => Some(resident.clone()),
            _ => None,
        }
    }
}

/// Writes the deltas counted so far, namespace by namespace; what fails is kept for the next round.
async fn write_behind(store: &Store, behind: &Mutex<Behind>) {
    let pending = std::mem::take(&mut *behind.lock().expect("write-behind lock"));
    for (namespace, deltas) in pending {
        if let Err(e) = store.kv_add_many(&namespace, &deltas, crate::now()).await {
            let mut behind = behind.lock().expect("write-behind lock");
            if behind.values().map(Vec::len).sum::<usize>() + deltas.len() > BEHIND_MAX {
                tracing::warn!(namespace, dropped = deltas.len(), "cannot write counters, dropping them: {e}");
            } else {
                tracing::warn!(namespace, "cannot write counters, will retry: {e}");
                behind.entry(namespace).or_default().extend(deltas);
            }
        }
    }
}

fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|t| crate::now() + t.as_secs().max(1) as i64)
}

impl KvStore for StoreKv {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        // A single read never loads a namespace; it is answered from memory only when one is held already.
        if let Some(resident) = self.held(namespace) {
            self.catch_up(namespace, &resident)?;
            let key = [key.to_owned()];
            return Ok(resident.read(&key, crate::now(), |v| v.map(<[u8]>::to_vec)).pop().flatten());
        }
        self.wait("read", self.store.kv_get(namespace, key, crate::now()))
    }

    fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        match self.resident(namespace)? {
            Some(resident) => Ok(resident.read(keys, crate::now(), |v| v.map(<[u8]>::to_vec))),
            None => self.wait("read", self.store.kv_get_many(namespace, keys, crate::now())),
        }
    }

    fn get_counters(&self, namespace: &str, keys: &[String]) -> Result<Vec<i64>, KvError> {
        match self.resident(namespace)? {
            Some(resident) => Ok(resident.read(keys, crate::now(), moat_filter::counter_value)),
            None => {
                Ok(self.get_many(namespace, keys)?.iter().map(|v| moat_filter::counter_value(v.as_deref())).collect())
            }
        }
    }

    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), KvError> {
        let expires_at = expiry(ttl);
        self.wait("write", self.store.kv_set(namespace, key, &value, expires_at))?;
        if let Some(resident) = self.held(namespace) {
            resident.apply([KvEntry { key: key.to_owned(), value: Some(value), expires_at }]);
        }
        Ok(())
    }

    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        if let (Some(fresh_expiry), Some(resident)) = (expiry(ttl), self.held(namespace)) {
            let value = resident.add(key, delta, Some(fresh_expiry), crate::now());
            let mut behind = self.behind.lock().expect("write-behind lock");
            behind.entry(namespace.to_owned()).or_default().push((key.to_owned(), delta, Some(fresh_expiry)));
            return Ok(value);
        }
        let (value, expires_at) =
            self.wait("increment", self.store.kv_incr(namespace, key, delta, expiry(ttl), crate::now()))?;
        if let Some(resident) = self.held(namespace) {
            resident.apply([KvEntry { key: key.to_owned(), value: Some(value.to_le_bytes().to_vec()), expires_at }]);
        }
        Ok(value)
    }

    fn incr_many(&self, namespace: &str, deltas: &[(String, i64)]) -> Result<(), KvError> {
        self.wait("increment", self.store.kv_incr_many(namespace, deltas))?;
        let mut learning = self.learning.lock().expect("learning namespaces lock");
        if !learning.contains(namespace) {
            learning.insert(namespace.to_owned());
        }
        drop(learning);
        // Counters without expiry: the held copy adds the same deltas (the next catch-up reads the stored
        // values back, so a concurrent writer elsewhere is accounted for within a refresh).
        if let Some(resident) = self.held(namespace) {
            let now = crate::now();
            for (key, delta) in deltas {
                resident.add(key, *delta, None, now);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        (Store::open(&url, moat_store::Durability::Full).await.unwrap(), dir)
    }

    /// Chains call the store from blocking threads; so do these checks.
    fn on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| s.spawn(f).join().unwrap())
    }

    fn counter(n: i64) -> Option<Vec<u8>> {
        Some(n.to_le_bytes().to_vec())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_namespace_read_in_bulk_is_kept_current_with_every_writer() {
        let (store, _dir) = store().await;
        store.kv_incr_many("t:bayes", &[("s:viagra".into(), 3)]).await.unwrap();
        let kv = StoreKv::new(store.clone());
        let keys: Vec<String> = vec!["a".into(), "b".into(), "s:viagra".into()];
        assert_eq!(on_thread(|| kv.get_many("t:bayes", &keys).unwrap()), [None, None, counter(3)]);
        assert!(kv.held("t:bayes").is_some(), "kept in memory after the first bulk read");

        // This node's writes are seen at once, in memory and in the store.
        on_thread(|| kv.incr_many("t:bayes", &[("s:viagra".into(), 2), ("b".into(), 1)]).unwrap());
        assert_eq!(on_thread(|| kv.get_many("t:bayes", &keys).unwrap()), [None, counter(1), counter(5)]);
        assert_eq!(store.kv_get("t:bayes", "s:viagra", 0).await.unwrap(), counter(5));

        // Another node's write and deletion: seen after the refresh interval, not before.
        store.kv_incr_many("t:bayes", &[("a".into(), 7)]).await.unwrap();
        assert_eq!(on_thread(|| kv.get_counters("t:bayes", &keys).unwrap()), [0, 1, 5]);
        tokio::time::sleep(REFRESH + Duration::from_millis(100)).await;
        assert_eq!(on_thread(|| kv.get_counters("t:bayes", &keys).unwrap()), [7, 1, 5]);
        store.kv_delete("t:bayes", "b").await.unwrap();
        tokio::time::sleep(REFRESH + Duration::from_millis(100)).await;
        assert_eq!(on_thread(|| kv.get_many("t:bayes", &keys).unwrap()), [counter(7), None, counter(5)]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn entries_past_their_expiry_are_not_answered_from_memory() {
        let (store, _dir) = store().await;
        let kv = StoreKv::new(store.clone());
        let keys: Vec<String> = vec!["grey|x".into(), "grey|y".into()];
        assert_eq!(on_thread(|| kv.get_many("t:reputation", &keys).unwrap()), [None, None]);
        on_thread(|| kv.set("t:reputation", "grey|x", b"1".to_vec(), Some(Duration::from_secs(3600))).unwrap());
        store.kv_set("t:reputation", "grey|y", b"2", Some(crate::now() - 1)).await.unwrap();
        tokio::time::sleep(REFRESH + Duration::from_millis(100)).await;
        assert_eq!(on_thread(|| kv.get_many("t:reputation", &keys).unwrap()), [Some(b"1".to_vec()), None]);
        assert_eq!(on_thread(|| kv.get("t:reputation", "grey|x").unwrap()), Some(b"1".to_vec()), "single reads too");
    }

    /// Rate limits and recent verdicts count on every message: in memory, and in the store within a flush.
    #[tokio::test(flavor = "multi_thread")]
    async fn expiring_counters_are_counted_in_memory_and_written_behind() {
        let (store, _dir) = store().await;
        let kv = StoreKv::new(store.clone());
        let hour = Some(Duration::from_secs(3600));
        // Not held yet: written through.
        assert_eq!(on_thread(|| kv.incr("t:reputation", "rate|a", 1, hour).unwrap()), 1);
        assert_eq!(store.kv_get("t:reputation", "rate|a", 0).await.unwrap(), counter(1));
        on_thread(|| kv.get_many("t:reputation", &["seen|a".to_owned()]).unwrap());
        // Held: counted at once, in the store after the flush.
        let counts: Vec<i64> =
            on_thread(|| (0..5).map(|_| kv.incr("t:reputation", "rate|a", 1, hour).unwrap()).collect());
        assert_eq!(counts, [2, 3, 4, 5, 6]);
        assert_eq!(on_thread(|| kv.incr("t:reputation", "seen|b", 2, hour).unwrap()), 2);
        kv.flush().await;
        assert_eq!(store.kv_get("t:reputation", "rate|a", 0).await.unwrap(), counter(6));
        assert_eq!(store.kv_get("t:reputation", "seen|b", 0).await.unwrap(), counter(2));
        let (_, expires_at) = store.kv_incr("t:reputation", "seen|b", 0, None, crate::now()).await.unwrap();
        assert!(expires_at.is_some_and(|at| at > crate::now() + 3500), "the expiry went with it");
        // Without a flush call, the background writer gets there.
        on_thread(|| kv.incr("t:reputation", "rate|a", 1, hour).unwrap());
        tokio::time::sleep(FLUSH * 3).await;
        assert_eq!(store.kv_get("t:reputation", "rate|a", 0).await.unwrap(), counter(7));
        // Counters that never expire (learning) are written through.
        on_thread(|| kv.incr("t:reputation", "total", 1, None).unwrap());
        assert_eq!(store.kv_get("t:reputation", "total", 0).await.unwrap(), counter(1));
    }

    /// Lessons grow a classifier's storage without end; only namespaces written learned counters are bounded.
    #[tokio::test(flavor = "multi_thread")]
    async fn what_lessons_grow_is_trimmed_to_its_bound_oldest_first() {
        let (store, _dir) = store().await;
        let kv = StoreKv::new(store.clone());
        let signatures: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("h{i}"), vec![1])).collect();
        store.kv_set_many("*:antivirus", &signatures).await.unwrap();
        on_thread(|| kv.get_many("*:antivirus", &["h1".to_owned()]).unwrap());
        for lesson in 0..10 {
            let deltas: Vec<(String, i64)> = (0..5).map(|i| (format!("t:{lesson}-{i}"), 1)).collect();
            on_thread(|| kv.incr_many("t:bayes", &deltas).unwrap());
        }
        let keys: Vec<String> = vec!["t:0-0".into(), "t:9-4".into()];
        assert_eq!(on_thread(|| kv.get_counters("t:bayes", &keys).unwrap()), [1, 1]);
        assert_eq!(kv.trim(50).await, 0, "within the bound");
        assert_eq!(kv.trim(20).await, 35, "down to nine tenths of 20: the last three lessons");
        assert_eq!(store.kv_count("t:bayes").await.unwrap(), 15);
        assert_eq!(store.kv_count("*:antivirus").await.unwrap(), 50, "no lessons were written there");
        tokio::time::sleep(REFRESH + Duration::from_millis(100)).await;
        assert_eq!(on_thread(|| kv.get_counters("t:bayes", &keys).unwrap()), [0, 1], "memory follows");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn expired_entries_leave_memory_when_swept() {
        let (store, _dir) = store().await;
        let kv = StoreKv::new(store.clone());
        on_thread(|| kv.get_many("t:reputation", &["x".to_owned()]).unwrap());
        let hour = Some(Duration::from_secs(3600));
        on_thread(|| kv.incr("t:reputation", "rate|a|1", 1, hour).unwrap());
        on_thread(|| kv.incr("t:reputation", "seen|a", 1, None).unwrap());
        let resident = kv.held("t:reputation").unwrap();
        assert_eq!(resident.sweep(crate::now()), 0, "nothing expired yet");
        assert_eq!(resident.sweep(crate::now() + 3601), 1, "the rate counter, not the lasting one");
        assert_eq!(resident.entries.read().unwrap().len(), 1);
    }
}
