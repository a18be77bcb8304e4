//! Plugin key-value storage in the store, so greylisting triplets and classifier tokens survive restarts and
//! are shared by every node of a cluster.
//!
//! Bulk reads (`get_many`: a classifier's few hundred tokens per message, most of which it has seen before or
//! never will) go through a short-lived read cache, so scoring does not cost a database round trip per token.
//! Writes on this node evict what they touch; another process's or node's writes show within `CACHE_TTL`
//! (5 s): fine for a statistical model and for an admin's list edits. Single-key reads (`get`, greylisting) always ask the store.
//!
//! A short-lived process that scores many messages of one tenant (`moat scan`) keeps whole namespaces
//! resident instead ([`StoreKv::resident`]): the first read loads the namespace (unless it is huge, such as a
//! full signature database), and every later read is answered from memory, with this process's writes
//! applied to it.

use moat_filter::{KvError, KvStore};
use moat_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How stale a bulk read may be: an admin's edit (a list entry, made by another process) shows within it.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries at most; past it the cache starts over (cheaper than tracking recency for every token).
const CACHE_MAX: usize = 1 << 20;

/// namespace → key → (value, when read)
type Cached = HashMap<String, HashMap<String, (Option<Vec<u8>>, Instant)>>;

/// Namespaces with more entries than this stay in the store even in resident mode (about 100 bytes each).
const RESIDENT_MAX_ENTRIES: i64 = 4_000_000;

/// Every live entry of one namespace. Hashed with foldhash (randomly seeded, several times faster than
/// SipHash on short keys): a scan looks up thousands of keys per message.
type Entries = foldhash::HashMap<String, Box<[u8]>>;

/// namespace → its entries, or `None` when it is too big to keep
type Resident = HashMap<String, Option<Arc<RwLock<Entries>>>>;

/// Called from the blocking threads chains run on: each call waits for the store on the runtime.
pub struct StoreKv {
    store: Store,
    runtime: Handle,
    cache: Mutex<Cached>,
    /// `Some` in resident mode.
    resident: Option<Mutex<Resident>>,
}

impl StoreKv {
    /// Must be created inside the Tokio runtime whose store it uses.
    pub fn new(store: Store) -> Self {
        Self { store, runtime: Handle::current(), cache: Mutex::default(), resident: None }
    }

    /// Keeps each namespace read in bulk wholly in memory, for a process that scores many messages and then
    /// exits: writes by other processes meanwhile are not seen. Must be created inside the Tokio runtime.
    pub fn resident(store: Store) -> Self {
        Self { resident: Some(Mutex::default()), ..Self::new(store) }
    }

    /// The resident copy of `namespace`, loaded on first use; `None` when not in resident mode or too big.
    fn resident_namespace(&self, namespace: &str) -> Result<Option<Arc<RwLock<Entries>>>, KvError> {
        let Some(resident) = &self.resident else { return Ok(None) };
        let mut resident = resident.lock().expect("resident kv lock");
        if let Some(entries) = resident.get(namespace) {
            return Ok(entries.clone());
        }
        let count = self.wait("count", self.store.kv_count(namespace))?;
        if count > RESIDENT_MAX_ENTRIES {
            resident.insert(namespace.to_owned(), None);
            return Ok(None);
        }
        let listed = self.wait("read", self.store.kv_load(namespace, count, crate::now()))?;
        let entries: Entries = listed.into_iter().filter_map(|(k, v)| Some((k, v?.into_boxed_slice()))).collect();
        let entries = Arc::new(RwLock::new(entries));
        resident.insert(namespace.to_owned(), Some(entries.clone()));
        Ok(Some(entries))
    }

    /// Applies a write of this process to the resident copy, if there is one.
    fn apply(&self, namespace: &str, write: impl FnOnce(&mut Entries)) {
        let Some(resident) = &self.resident else { return };
        let entries = resident.lock().expect("resident kv lock").get(namespace).cloned().flatten();
        if let Some(entries) = entries {
            write(&mut entries.write().expect("resident namespace lock"));
        }
    }

    fn wait<T>(&self, what: &str, f: impl Future<Output = Result<T, moat_store::StoreError>>) -> Result<T, KvError> {
        self.runtime.block_on(f).map_err(|e| {
            tracing::warn!("plugin storage {what} failed: {e}");
            KvError
        })
    }

    fn evict<'a>(&self, namespace: &str, keys: impl Iterator<Item = &'a str>) {
        let mut cache = self.cache.lock().expect("kv cache lock");
        if let Some(entries) = cache.get_mut(namespace) {
            for key in keys {
                entries.remove(key);
            }
        }
    }
}

fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|t| crate::now() + t.as_secs().max(1) as i64)
}

impl KvStore for StoreKv {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(entries) = self.resident_namespace(namespace)? {
            return Ok(entries.read().expect("resident namespace lock").get(key).map(|v| v.to_vec()));
        }
        self.wait("read", self.store.kv_get(namespace, key, crate::now()))
    }

    fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if let Some(entries) = self.resident_namespace(namespace)? {
            let entries = entries.read().expect("resident namespace lock");
            return Ok(keys.iter().map(|k| entries.get(k.as_str()).map(|v| v.to_vec())).collect());
        }
        let now = Instant::now();
        let mut answers: Vec<Option<Option<Vec<u8>>>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        {
            let cache = self.cache.lock().expect("kv cache lock");
            let entries = cache.get(namespace);
            for key in keys {
                match entries.and_then(|e| e.get(key.as_str())) {
                    Some((value, at)) if now.duration_since(*at) < CACHE_TTL => answers.push(Some(value.clone())),
                    _ => {
                        answers.push(None);
                        missing.push(key.clone());
                    }
                }
            }
        }
        if !missing.is_empty() {
            let fetched = self.wait("read", self.store.kv_get_many(namespace, &missing, crate::now()))?;
            let mut cache = self.cache.lock().expect("kv cache lock");
            if cache.values().map(HashMap::len).sum::<usize>() + fetched.len() > CACHE_MAX {
                cache.clear();
            }
            let entries = cache.entry(namespace.to_owned()).or_default();
            let mut fetched = missing.into_iter().zip(fetched);
            for answer in answers.iter_mut().filter(|a| a.is_none()) {
                let (key, value) = fetched.next().expect("one answer per missing key");
                entries.insert(key, (value.clone(), now));
                *answer = Some(value);
            }
        }
        Ok(answers.into_iter().map(|a| a.expect("every key answered")).collect())
    }

    fn get_counters(&self, namespace: &str, keys: &[String]) -> Result<Vec<i64>, KvError> {
        if let Some(entries) = self.resident_namespace(namespace)? {
            let entries = entries.read().expect("resident namespace lock");
            return Ok(keys
                .iter()
                .map(|k| moat_filter::counter_value(entries.get(k.as_str()).map(|v| &v[..])))
                .collect());
        }
        Ok(self.get_many(namespace, keys)?.iter().map(|v| moat_filter::counter_value(v.as_deref())).collect())
    }

    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), KvError> {
        self.evict(namespace, std::iter::once(key));
        self.wait("write", self.store.kv_set(namespace, key, &value, expiry(ttl)))?;
        self.apply(namespace, |entries| {
            entries.insert(key.to_owned(), value.into_boxed_slice());
        });
        Ok(())
    }

    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.evict(namespace, std::iter::once(key));
        let value = self.wait("increment", self.store.kv_incr(namespace, key, delta, expiry(ttl), crate::now()))?;
        self.apply(namespace, |entries| {
            entries.insert(key.to_owned(), Box::new(value.to_le_bytes()));
        });
        Ok(value)
    }

    fn incr_many(&self, namespace: &str, deltas: &[(String, i64)]) -> Result<(), KvError> {
        self.evict(namespace, deltas.iter().map(|(k, _)| k.as_str()));
        self.wait("increment", self.store.kv_incr_many(namespace, deltas))?;
        self.apply(namespace, |entries| {
            for (key, delta) in deltas {
                let entry = entries.entry(key.clone()).or_insert_with(|| Box::new(0i64.to_le_bytes()));
                let current = <[u8; 8]>::try_from(&entry[..]).map_or(0, i64::from_le_bytes);
                *entry = Box::new((current + delta).to_le_bytes());
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn bulk_reads_are_cached_and_local_writes_evict() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let store = Store::open(&url, moat_store::Durability::Full).await.unwrap();
        let kv = StoreKv::new(store.clone());
        let keys: Vec<String> = vec!["a".into(), "b".into()];
        let read = |kv: &StoreKv| {
            let keys = keys.clone();
            std::thread::scope(|s| s.spawn(|| kv.get_many("t:bayes", &keys).unwrap()).join().unwrap())
        };
        assert_eq!(read(&kv), [None, None]);
        // Written behind the cache's back (another node): not seen until the entry ages out.
        store.kv_incr_many("t:bayes", &[("a".into(), 1)]).await.unwrap();
        assert_eq!(read(&kv), [None, None]);
        // Written through this node: evicted, so seen at once.
        std::thread::scope(|s| s.spawn(|| kv.incr_many("t:bayes", &[("b".into(), 2)]).unwrap()).join().unwrap());
        assert_eq!(read(&kv), [None, Some(2i64.to_le_bytes().to_vec())]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_resident_namespace_answers_from_memory_with_local_writes_applied() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let store = Store::open(&url, moat_store::Durability::Full).await.unwrap();
        store.kv_incr_many("t:bayes", &[("s:viagra".into(), 3)]).await.unwrap();
        let kv = StoreKv::resident(store.clone());
        let keys: Vec<String> = (0..64).map(|i| format!("k{i}")).chain(["s:viagra".into()]).collect();
        let on_thread = |f: &(dyn Fn() + Sync)| std::thread::scope(|s| s.spawn(f).join().unwrap());
        on_thread(&|| {
            let got = kv.get_many("t:bayes", &keys).unwrap();
            assert_eq!(got.last().unwrap().as_deref(), Some(&3i64.to_le_bytes()[..]));
            assert!(got[..64].iter().all(Option::is_none));
        });
        // Another process's write is not seen; this one's are, in memory and in the store.
        store.kv_incr_many("t:bayes", &[("k1".into(), 5)]).await.unwrap();
        on_thread(&|| {
            kv.incr_many("t:bayes", &[("s:viagra".into(), 2), ("k2".into(), 1)]).unwrap();
            let got = kv.get_many("t:bayes", &keys).unwrap();
            assert_eq!(got[1], None);
            assert_eq!(got[2].as_deref(), Some(&1i64.to_le_bytes()[..]));
            assert_eq!(got.last().unwrap().as_deref(), Some(&5i64.to_le_bytes()[..]));
        });
        assert_eq!(store.kv_get("t:bayes", "s:viagra", 0).await.unwrap(), Some(5i64.to_le_bytes().to_vec()));
    }
}
