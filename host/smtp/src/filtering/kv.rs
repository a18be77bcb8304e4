//! Plugin key-value storage in the store, so greylisting triplets and classifier tokens survive restarts and
//! are shared by every node of a cluster.
//!
//! Bulk reads (`get_many`: a classifier's few hundred tokens per message, most of which it has seen before or
//! never will) go through a short-lived read cache, so scoring does not cost a database round trip per token.
//! Writes on this node evict what they touch; another process's or node's writes show within `CACHE_TTL`
//! (5 s): fine for a statistical model and for an admin's list edits. Single-key reads (`get`, greylisting) always ask the store.

use moat_filter::{KvError, KvStore};
use moat_store::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How stale a bulk read may be: an admin's edit (a list entry, made by another process) shows within it.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries at most; past it the cache starts over (cheaper than tracking recency for every token).
const CACHE_MAX: usize = 1 << 20;

/// namespace → key → (value, when read)
type Cached = HashMap<String, HashMap<String, (Option<Vec<u8>>, Instant)>>;

/// Called from the blocking threads chains run on: each call waits for the store on the runtime.
pub struct StoreKv {
    store: Store,
    runtime: Handle,
    cache: Mutex<Cached>,
}

impl StoreKv {
    /// Must be created inside the Tokio runtime whose store it uses.
    pub fn new(store: Store) -> Self {
        Self { store, runtime: Handle::current(), cache: Mutex::default() }
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
        self.wait("read", self.store.kv_get(namespace, key, crate::now()))
    }

    fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
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

    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), KvError> {
        self.evict(namespace, std::iter::once(key));
        self.wait("write", self.store.kv_set(namespace, key, &value, expiry(ttl)))
    }

    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.evict(namespace, std::iter::once(key));
        self.wait("increment", self.store.kv_incr(namespace, key, delta, expiry(ttl), crate::now()))
    }

    fn incr_many(&self, namespace: &str, deltas: &[(String, i64)]) -> Result<(), KvError> {
        self.evict(namespace, deltas.iter().map(|(k, _)| k.as_str()));
        self.wait("increment", self.store.kv_incr_many(namespace, deltas))
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
}
