//! Plugin key-value storage in the store, so greylisting triplets and classifier tokens survive restarts and
//! are shared by every node of a cluster.

use moat_filter::{KvError, KvStore};
use moat_store::Store;
use std::time::Duration;
use tokio::runtime::Handle;

/// Called from the blocking threads chains run on: each call waits for the store on the runtime.
pub struct StoreKv {
    store: Store,
    runtime: Handle,
}

impl StoreKv {
    /// Must be created inside the Tokio runtime whose store it uses.
    pub fn new(store: Store) -> Self {
        Self { store, runtime: Handle::current() }
    }

    fn wait<T>(&self, what: &str, f: impl Future<Output = Result<T, moat_store::StoreError>>) -> Result<T, KvError> {
        self.runtime.block_on(f).map_err(|e| {
            tracing::warn!("plugin storage {what} failed: {e}");
            KvError
        })
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
        self.wait("read", self.store.kv_get_many(namespace, keys, crate::now()))
    }

    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), KvError> {
        self.wait("write", self.store.kv_set(namespace, key, &value, expiry(ttl)))
    }

    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.wait("increment", self.store.kv_incr(namespace, key, delta, expiry(ttl), crate::now()))
    }
}
