//! What the host offers a filter: its configuration, logging, the clock, key-value storage and DNS. In the
//! gateway these are calls into Moat; in native tests they are answered by [`crate::testing::MockHost`].

#[cfg(target_arch = "wasm32")]
use crate::wit::moat::filter::host as wit;

/// Why a host call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The chain entry does not grant this (kv not granted, a DNS zone not listed).
    Denied,
    /// Temporarily failed (DNS timeout, store down): treat the answer as unknown.
    Unavailable,
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Level {
    /// Very detailed.
    Trace,
    /// For plugin authors.
    Debug,
    /// Normal operation.
    Info,
    /// Something an admin should look at.
    Warn,
    /// Something broke.
    Error,
}

/// DNS record kinds a filter may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// IPv4 addresses (DNSBL answers).
    A,
    /// IPv6 addresses.
    Aaaa,
    /// Text records.
    Txt,
    /// Reverse names.
    Ptr,
}

#[cfg(target_arch = "wasm32")]
fn error(e: wit::HostError) -> HostError {
    match e {
        wit::HostError::Denied => HostError::Denied,
        wit::HostError::Unavailable => HostError::Unavailable,
    }
}

/// Writes to Moat's log, tagged with the plugin.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::log(level, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.logs.push((level, message.to_owned())))
}

/// The chain entry's JSON configuration, as accepted by [`crate::Filter::configure`].
pub fn config() -> String {
    #[cfg(target_arch = "wasm32")]
    return wit::config();
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.config.clone())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return wit::now_ms();
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.now_ms)
}

/// Reads a key of this plugin's storage (private to the plugin and tenant).
pub fn kv_get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_get(key).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.kv_get(key))
}

/// Reads many keys in one host call (a classifier's tokens).
pub fn kv_get_many(keys: &[impl AsRef<str>]) -> Result<Vec<Option<Vec<u8>>>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_get_many(&borrowed(keys)).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| keys.iter().map(|k| h.kv_get(k.as_ref())).collect())
}

/// Reads keys of the storage the operator shares with every tenant for this plugin (read-only): signature
/// databases, global lists, a global classifier base. Same grant as the tenant's own storage.
pub fn kv_get_shared(keys: &[impl AsRef<str>]) -> Result<Vec<Option<Vec<u8>>>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_get_shared(&borrowed(keys)).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.kv_get_shared(keys))
}

/// The counters ([`kv_incr`]) of many keys, 0 for a missing one: one flat answer, much cheaper than
/// [`kv_get_many`] for a classifier's thousand tokens.
pub fn kv_get_counters(keys: &[impl AsRef<str>]) -> Result<Vec<i64>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_get_counters(&borrowed(keys)).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| keys.iter().map(|k| h.kv_get(k.as_ref()).map(|v| counter(v.as_deref()))).collect())
}

/// [`kv_get_counters`] of the operator's shared storage.
pub fn kv_get_shared_counters(keys: &[impl AsRef<str>]) -> Result<Vec<i64>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_get_shared_counters(&borrowed(keys)).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| Ok(h.kv_get_shared(keys)?.iter().map(|v| counter(v.as_deref())).collect()))
}

/// The keys as the bindings take them: borrowed, so a caller's keys are never copied into new `String`s.
#[cfg(target_arch = "wasm32")]
fn borrowed(keys: &[impl AsRef<str>]) -> Vec<&str> {
    keys.iter().map(AsRef::as_ref).collect()
}

#[cfg(not(target_arch = "wasm32"))]
fn counter(value: Option<&[u8]>) -> i64 {
    value.and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, i64::from_le_bytes)
}

/// Writes a key, optionally expiring after `ttl_seconds`.
pub fn kv_set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_set(key, value, ttl_seconds).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.kv_set(key, value, ttl_seconds))
}

/// Adds `delta` to a counter (created at 0) and returns the new value; the TTL applies when it is created.
pub fn kv_incr(key: &str, delta: i64, ttl_seconds: Option<u32>) -> Result<i64, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_incr(key, delta, ttl_seconds).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.kv_incr(key, delta, ttl_seconds))
}

/// Adds many deltas in one host call: what a classifier does when it learns. The store writes them in short
/// transactions in the order given, so a key put last (a "learned" mark) is stored only with all before it.
pub fn kv_incr_many(deltas: &[(impl AsRef<str>, i64)]) -> Result<(), HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit::kv_incr_many(&deltas.iter().map(|(k, d)| (k.as_ref(), *d)).collect::<Vec<_>>()).map_err(error);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| deltas.iter().try_for_each(|(k, d)| h.kv_incr(k.as_ref(), *d, None).map(|_| ())))
}

/// Looks up `name`; allowed only at or below the zones the chain entry grants. A name that does not exist
/// answers an empty list.
pub fn dns_lookup(name: &str, kind: RecordKind) -> Result<Vec<String>, HostError> {
    #[cfg(target_arch = "wasm32")]
    {
        let kind = match kind {
            RecordKind::A => wit::RecordKind::A,
            RecordKind::Aaaa => wit::RecordKind::Aaaa,
            RecordKind::Txt => wit::RecordKind::Txt,
            RecordKind::Ptr => wit::RecordKind::Ptr,
        };
        wit::dns_lookup(name, kind).map_err(error)
    }
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.dns_lookup(name, kind))
}
