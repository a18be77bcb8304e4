//! The host side of the `moat:filter` imports, and the per-call state of a plugin's store.
//!
//! Outer `Result` is a trap (a host bug); the inner `Result` is what the guest sees and can handle
//! (`denied`, `unavailable`).

use crate::message::MessageView;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Resource, ResourceTable};

/// The key-value store could not answer; the plugin sees `unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvError;

/// Key-value storage for plugins; `namespace` is tenant × plugin, so plugins never see each other's keys.
pub trait KvStore: Send + Sync {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// One round trip for many keys (a classifier's tokens); override when the backend can batch.
    fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        keys.iter().map(|k| self.get(namespace, k)).collect()
    }
    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), KvError>;
    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError>;
    /// Many increments at once, without expiry; override when the backend can do them in one transaction.
    fn incr_many(&self, namespace: &str, deltas: &[(String, i64)]) -> Result<(), KvError> {
        deltas.iter().try_for_each(|(k, d)| self.incr(namespace, k, *d, None).map(|_| ()))
    }
    /// Counters of many keys (0 when missing or not a counter).
    fn get_counters(&self, namespace: &str, keys: &[String]) -> Result<Vec<i64>, KvError> {
        Ok(self.get_many(namespace, keys)?.iter().map(|v| counter_value(v.as_deref())).collect())
    }
}

/// (namespace, key) → (value, expiry)
type KvEntries = HashMap<(String, String), (Vec<u8>, Option<Instant>)>;

/// A process-local [`KvStore`] with expiry, for a single node.
#[derive(Default)]
pub struct MemoryKv {
    entries: Mutex<KvEntries>,
}

impl KvStore for MemoryKv {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut map = self.entries.lock().map_err(|_| KvError)?;
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

    fn set(&self, namespace: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut map = self.entries.lock().map_err(|_| KvError)?;
        map.insert((namespace.to_owned(), key.to_owned()), (value, ttl.map(|t| Instant::now() + t)));
        Ok(())
    }

    fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let current = self.get(namespace, key)?;
        let value = current.and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, i64::from_le_bytes) + delta;
        let mut map = self.entries.lock().map_err(|_| KvError)?;
        let k = (namespace.to_owned(), key.to_owned());
        let expiry = map.get(&k).and_then(|(_, e)| *e).or_else(|| ttl.map(|t| Instant::now() + t));
        map.insert(k, (value.to_le_bytes().to_vec(), expiry));
        Ok(value)
    }
}

/// The kinds of DNS records a plugin may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    A,
    Aaaa,
    Txt,
    Ptr,
}

impl RecordKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "A" => Some(Self::A),
            "AAAA" => Some(Self::Aaaa),
            "TXT" => Some(Self::Txt),
            "PTR" => Some(Self::Ptr),
            _ => None,
        }
    }
}

/// Why a DNS lookup gave no answer. A name that does not exist is an empty answer, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// Timed out or the resolver failed: the plugin should treat it as "unknown".
    Unavailable,
}

/// DNS for plugins. The server implements it with its resolver; `moat plugin test --dns` and tests with
/// [`StaticDns`]. Called from the blocking thread a chain runs on, so it may block (with a deadline).
pub trait Resolver: Send + Sync {
    fn lookup(&self, name: &str, kind: RecordKind) -> Result<Vec<String>, DnsError>;

    /// Like [`Resolver::lookup`], answering `Unavailable` rather than waiting past `within`. A resolver
    /// with its own fixed deadline overrides this to shorten it.
    fn lookup_within(
        &self,
        name: &str,
        kind: RecordKind,
        within: std::time::Duration,
    ) -> Result<Vec<String>, DnsError> {
        if within.is_zero() {
            return Err(DnsError::Unavailable);
        }
        self.lookup(name, kind)
    }
}

/// Fixed answers, from a file with one `NAME KIND VALUE` per line (`#` starts a comment). Names not listed
/// do not exist.
#[derive(Debug, Default)]
pub struct StaticDns {
    answers: HashMap<(String, RecordKind), Vec<String>>,
}

/// A line of a fixed-answers file that is not `NAME KIND VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticDnsError {
    #[error("line {0}: expected NAME KIND VALUE, e.g. 2.0.0.127.bl.example A 127.0.0.2")]
    Fields(usize),
    #[error("line {line}: unknown record kind {kind:?} (A, AAAA, TXT or PTR)")]
    Kind { line: usize, kind: String },
}

impl StaticDns {
    pub fn parse(text: &str) -> Result<Self, StaticDnsError> {
        let mut answers: HashMap<_, Vec<String>> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.splitn(3, char::is_whitespace);
            let (Some(name), Some(kind), Some(value)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(StaticDnsError::Fields(n + 1));
            };
            let kind =
                RecordKind::parse(kind).ok_or_else(|| StaticDnsError::Kind { line: n + 1, kind: kind.to_owned() })?;
            answers.entry((normalize_name(name), kind)).or_default().push(value.trim().trim_matches('"').to_owned());
        }
        Ok(Self { answers })
    }
}

impl Resolver for StaticDns {
    fn lookup(&self, name: &str, kind: RecordKind) -> Result<Vec<String>, DnsError> {
        Ok(self.answers.get(&(normalize_name(name), kind)).cloned().unwrap_or_default())
    }
}

fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// True when `name` is `zone` or below it. The root zone "." (never grantable in a chain, whose zones are
/// checked; `moat plugin test --dns` uses it) covers every name.
fn within(name: &str, zone: &str) -> bool {
    let (name, zone) = (normalize_name(name), normalize_name(zone));
    zone.is_empty() || name == zone || name.strip_suffix(&zone).is_some_and(|rest| rest.ends_with('.'))
}

/// A counter as stored: eight little-endian bytes; anything else counts as 0.
pub fn counter_value(value: Option<&[u8]>) -> i64 {
    value.and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, i64::from_le_bytes)
}

/// The key-value namespace of `plugin` for `tenant`.
pub fn kv_namespace(tenant: &str, plugin: &str) -> String {
    format!("{tenant}:{plugin}")
}

/// The namespace of `plugin` the operator fills for every tenant (tenant names never are `*`).
pub fn shared_kv_namespace(plugin: &str) -> String {
    kv_namespace("*", plugin)
}

/// Key-value storage one chain entry grants: its own namespace (read-write) and its plugin's shared one
/// (read-only).
#[derive(Clone)]
pub struct KvGrant {
    pub store: Arc<dyn KvStore>,
    pub namespace: String,
    pub shared: String,
}

impl KvGrant {
    pub fn new(store: Arc<dyn KvStore>, tenant: &str, plugin: &str) -> Self {
        Self { store, namespace: kv_namespace(tenant, plugin), shared: shared_kv_namespace(plugin) }
    }
}

/// What one chain entry grants its plugin. Everything is denied unless granted here.
#[derive(Clone, Default)]
pub struct Capabilities {
    /// Key-value storage; `None` denies the store.
    pub kv: Option<KvGrant>,
    /// The resolver and the zones lookups may go to; `None` denies DNS.
    pub dns: Option<DnsGrant>,
}

/// DNS a chain entry grants: lookups at or below `zones`, through `resolver`.
#[derive(Clone)]
pub struct DnsGrant {
    pub resolver: Arc<dyn Resolver>,
    pub zones: Arc<[String]>,
}

/// The store data of one plugin call.
pub(crate) struct HostState {
    pub table: ResourceTable,
    pub limiter: MemoryCap,
    pub plugin: Arc<str>,
    pub config: Arc<str>,
    pub capabilities: Capabilities,
    /// When the call must be over (its epoch deadline): DNS waits count against it.
    pub deadline: std::time::Instant,
}

/// The linear memory every plugin instance of the process may hold together: each instance's cap alone
/// (64 MiB × 256 pooled instances) would let a memory-hungry plugin under load take gigabytes.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
    /// What idle warm instances hold of `used`: at most a quarter of the limit, so calls always find the rest.
    idle: std::sync::atomic::AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Self {
        Self { limit, used: Default::default(), peak: Default::default(), idle: Default::default() }
    }

    /// Takes `bytes` from the budget, if that many are left.
    fn reserve(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering;
        match self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(bytes).filter(|total| *total <= self.limit)
        }) {
            Ok(before) => {
                self.peak.fetch_max(before + bytes, Ordering::AcqRel);
                true
            }
            Err(_) => false,
        }
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, std::sync::atomic::Ordering::AcqRel);
    }

    /// Counts `bytes` an instance holds as idle (kept warm), if idle instances stay within a quarter of the
    /// limit; false (nothing counted) otherwise: the instance is to be dropped, its memory given back.
    pub(crate) fn keep_idle(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |idle| {
                idle.checked_add(bytes).filter(|total| *total <= self.limit / 4)
            })
            .is_ok()
    }

    /// An idle instance is in use again, or gone.
    pub(crate) fn end_idle(&self, bytes: usize) {
        self.idle.fetch_sub(bytes, std::sync::atomic::Ordering::AcqRel);
    }

    /// Bytes held by live instances now.
    pub fn used(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The most live instances ever held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Caps linear memory per instance and within the process budget; remembers that it refused, so an
/// out-of-memory trap is reported as such. What an instance took from the budget goes back when the
/// instance goes (its store is dropped) — a warm instance keeps it while it keeps the memory.
pub(crate) struct MemoryCap {
    pub max_bytes: usize,
    pub refused: bool,
    pub budget: Arc<MemoryBudget>,
    /// Bytes this instance holds of the budget.
    pub reserved: usize,
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        self.budget.release(self.reserved);
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        let more = desired.saturating_sub(current);
        if !self.budget.reserve(more) {
            self.refused = true;
            return Ok(false);
        }
        self.reserved += more;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub(crate) fn ttl(seconds: Option<u32>) -> Option<Duration> {
    seconds.map(|s| Duration::from_secs(u64::from(s)))
}

impl HostState {
    /// The plugin's own key-value storage and namespace, when the entry grants it.
    pub(crate) fn kv(&self) -> Option<(&dyn KvStore, &str)> {
        self.capabilities.kv.as_ref().map(|g| (g.store.as_ref(), g.namespace.as_str()))
    }

    pub(crate) fn view(&self, message: &Resource<MessageView>) -> wasmtime::Result<&MessageView> {
        Ok(self.table.get(message)?)
    }

    pub(crate) fn log(&self, level: tracing::Level, message: &str) {
        let message: String = message.chars().take(2000).collect();
        let plugin = &*self.plugin;
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{message}"),
            tracing::Level::ERROR => tracing::error!(plugin, "{message}"),
        }
    }

    /// A DNS lookup the entry grants (only names at or below a granted zone; everything else is denied
    /// without a query going out): `Err(None)` denied, `Err(Some(_))` unavailable.
    pub(crate) fn dns_lookup(&self, name: &str, kind: RecordKind) -> Result<Vec<String>, Option<DnsError>> {
        let Some(DnsGrant { resolver, zones }) = &self.capabilities.dns else { return Err(None) };
        if name.len() > 253 || !zones.iter().any(|zone| within(name, zone)) {
            return Err(None);
        }
        // The call's whole DNS time is bounded by its deadline, not only each lookup by the resolver's.
        let within = self.deadline.saturating_duration_since(std::time::Instant::now());
        resolver.lookup_within(name, kind, within).map_err(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_match_whole_labels() {
        assert!(within("2.0.0.127.bl.example", "bl.example"));
        assert!(within("BL.example.", "bl.example"));
        assert!(!within("evilbl.example", "bl.example"), "a suffix that is not a label boundary");
        assert!(!within("bl.example.attacker.test", "bl.example"));
    }

    #[test]
    fn static_dns_answers_and_explains_bad_lines() {
        let dns =
            StaticDns::parse("# a DNSBL\n2.0.0.127.bl.example A 127.0.0.2\nexample.com TXT \"v=spf1 -all\"\n").unwrap();
        assert_eq!(dns.lookup("2.0.0.127.BL.example.", RecordKind::A).unwrap(), ["127.0.0.2"]);
        assert_eq!(dns.lookup("example.com", RecordKind::Txt).unwrap(), ["v=spf1 -all"]);
        assert!(dns.lookup("1.0.0.127.bl.example", RecordKind::A).unwrap().is_empty());
        assert_eq!(
            StaticDns::parse("x.example MX 10 mx").unwrap_err().to_string(),
            "line 1: unknown record kind \"MX\" (A, AAAA, TXT or PTR)"
        );
    }

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
