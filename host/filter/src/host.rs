//! The host side of the `moat:filter` imports, and the per-call state of a plugin's store.
//!
//! Outer `Result` is a trap (a host bug); the inner `Result` is what the guest sees and can handle
//! (`denied`, `unavailable`).

use crate::bindings::moat::filter::{host, types};
use crate::message::MessageView;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Resource, ResourceTable};

/// Key-value storage for plugins; `namespace` is tenant × plugin, so plugins never see each other's keys.
pub trait KvStore: Send + Sync {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, host::HostError>;
    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), host::HostError>;
    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, host::HostError>;
}

/// (namespace, key) → (value, expiry)
type KvEntries = HashMap<(String, String), (Vec<u8>, Option<Instant>)>;

/// A process-local [`KvStore`] with expiry, for a single node.
#[derive(Default)]
pub struct MemoryKv {
    entries: Mutex<KvEntries>,
}

impl KvStore for MemoryKv {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, host::HostError> {
        let mut map = self.entries.lock().map_err(|_| host::HostError::Unavailable)?;
        let k = (namespace.to_owned(), key.to_owned());
        match map.get(&k) {
            Some((_, Some(expiry))) if *expiry <= Instant::now() => {
                map.remove(&k);
                Ok(None)
            }
            Some((value, _)) => Ok(Some(value.clone())),
            None => Ok(None),
        }
    }

    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), host::HostError> {
        let mut map = self.entries.lock().map_err(|_| host::HostError::Unavailable)?;
        map.insert((namespace.to_owned(), key.to_owned()), (value, ttl.map(|t| Instant::now() + t)));
        Ok(())
    }

    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, host::HostError> {
        let current = self.get(namespace, key)?;
        let value = current.and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, i64::from_le_bytes) + delta;
        let mut map = self.entries.lock().map_err(|_| host::HostError::Unavailable)?;
        let k = (namespace.to_owned(), key.to_owned());
        let expiry = map.get(&k).and_then(|(_, e)| *e).or_else(|| ttl.map(|t| Instant::now() + t));
        map.insert(k, (value.to_le_bytes().to_vec(), expiry));
        Ok(value)
    }
}

/// What one chain entry grants its plugin. Everything is denied unless granted here.
#[derive(Clone, Default)]
pub struct Capabilities {
    /// Tenant × plugin namespace for key-value storage; `None` denies the store.
    pub kv: Option<(Arc<dyn KvStore>, String)>,
}

/// The store data of one plugin call.
pub(crate) struct HostState {
    pub table: ResourceTable,
    pub limiter: MemoryCap,
    pub plugin: Arc<str>,
    pub config: Arc<str>,
    pub capabilities: Capabilities,
}

/// Caps linear memory; remembers that it refused, so an out-of-memory trap is reported as such.
pub(crate) struct MemoryCap {
    pub max_bytes: usize,
    pub refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

fn ttl(seconds: Option<u32>) -> Option<Duration> {
    seconds.map(|s| Duration::from_secs(u64::from(s)))
}

impl HostState {
    fn kv(&self) -> Result<(&dyn KvStore, &str), host::HostError> {
        self.capabilities.kv.as_ref().map(|(kv, ns)| (kv.as_ref(), ns.as_str())).ok_or(host::HostError::Denied)
    }

    fn view(&self, message: &Resource<MessageView>) -> wasmtime::Result<&MessageView> {
        Ok(self.table.get(message)?)
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let message: String = message.chars().take(2000).collect();
        let plugin = &*self.plugin;
        match level {
            host::Level::Trace => tracing::trace!(plugin, "{message}"),
            host::Level::Debug => tracing::debug!(plugin, "{message}"),
            host::Level::Info => tracing::info!(plugin, "{message}"),
            host::Level::Warn => tracing::warn!(plugin, "{message}"),
            host::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }

    fn config(&mut self) -> wasmtime::Result<String> {
        Ok(self.config.to_string())
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64))
    }

    fn kv_get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, host::HostError>> {
        Ok(self.kv().and_then(|(kv, ns)| kv.get(ns, &key)))
    }

    fn kv_get_many(&mut self, keys: Vec<String>) -> wasmtime::Result<Result<Vec<Option<Vec<u8>>>, host::HostError>> {
        Ok(self.kv().and_then(|(kv, ns)| keys.iter().map(|k| kv.get(ns, k)).collect()))
    }

    fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> wasmtime::Result<Result<(), host::HostError>> {
        Ok(self.kv().and_then(|(kv, ns)| kv.set(ns, &key, value, ttl(ttl_seconds))))
    }

    fn kv_incr(
        &mut self,
        key: String,
        delta: i64,
        ttl_seconds: Option<u32>,
    ) -> wasmtime::Result<Result<i64, host::HostError>> {
        Ok(self.kv().and_then(|(kv, ns)| kv.incr(ns, &key, delta, ttl(ttl_seconds))))
    }

    /// No chain entry can grant DNS zones yet, so every lookup is denied (capabilities are denied by default).
    fn dns_lookup(
        &mut self,
        _name: String,
        _kind: host::RecordKind,
    ) -> wasmtime::Result<Result<Vec<String>, host::HostError>> {
        Ok(Err(host::HostError::Denied))
    }
}

impl types::Host for HostState {}

impl types::HostMessage for HostState {
    fn sender(&mut self, m: Resource<MessageView>) -> wasmtime::Result<String> {
        Ok(self.view(&m)?.0.wit_sender())
    }
    fn recipients(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<types::Recipient>> {
        Ok(self.view(&m)?.0.wit_recipients())
    }
    fn connection(&mut self, m: Resource<MessageView>) -> wasmtime::Result<types::Connection> {
        Ok(self.view(&m)?.0.wit_connection())
    }
    fn authentication(&mut self, m: Resource<MessageView>) -> wasmtime::Result<types::Authentication> {
        Ok(self.view(&m)?.0.wit_authentication())
    }
    fn headers(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<types::Header>> {
        Ok(self.view(&m)?.0.wit_headers())
    }
    fn header(&mut self, m: Resource<MessageView>, name: String) -> wasmtime::Result<Vec<String>> {
        Ok(self.view(&m)?.0.wit_header(&name))
    }
    fn subject(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Option<String>> {
        Ok(self.view(&m)?.0.wit_subject())
    }
    fn text_parts(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.view(&m)?.0.wit_text_parts())
    }
    fn html_parts(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.view(&m)?.0.wit_html_parts())
    }
    fn attachments(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<types::Attachment>> {
        Ok(self.view(&m)?.0.wit_attachments())
    }
    fn attachment_bytes(&mut self, m: Resource<MessageView>, index: u32) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.view(&m)?.0.wit_attachment_bytes(index))
    }
    fn raw(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.view(&m)?.0.wit_raw())
    }
    fn size(&mut self, m: Resource<MessageView>) -> wasmtime::Result<u64> {
        Ok(self.view(&m)?.0.wit_size())
    }
    fn drop(&mut self, m: Resource<MessageView>) -> wasmtime::Result<()> {
        self.table.delete(m)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_kv_namespaces_counts_and_expires() {
        let kv = MemoryKv::default();
        assert_eq!(kv.incr("t1:bayes", "n", 2, None).unwrap(), 2);
        assert_eq!(kv.incr("t1:bayes", "n", 3, None).unwrap(), 5);
        assert_eq!(kv.get("t2:bayes", "n").unwrap(), None, "another tenant sees nothing");
        kv.set("t1:grey", "triplet", b"x".to_vec(), Some(Duration::ZERO)).unwrap();
        assert_eq!(kv.get("t1:grey", "triplet").unwrap(), None, "expired");
    }
}
