//! What the console asks of the running gateway, beyond the store: releasing quarantined mail into the
//! queue, reading spooled mail, teaching the filters classified mail, looking up a domain's MX records,
//! trying a downstream host over SMTP, and checking an uploaded plugin. `moat serve` implements it; without
//! one (the console alone, in unit tests) those actions say they are unavailable.

use moat_store::{Classification, TenantId};
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the gateway did not do what the console asked.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request refused, in words for the admin: a chain that does not check, an upload that is not a
    /// filter, a message no longer held, filters that could not learn, an MX lookup that failed.
    #[error("{0}")]
    Refused(String),
    /// What this gateway cannot do at all now (no DNS resolver configured, a worker that died).
    #[error("{0}")]
    Unavailable(String),
}

/// A downstream host that gave no usable SMTP greeting, and why (for the operator's eyes only).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoGreeting(pub String);

/// An uploaded plugin the gateway compiled and registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPlugin {
    pub name: String,
    pub version: String,
}

/// A logged message an admin classified, to teach the filters of its tenant.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub tenant: TenantId,
    pub client_ip: String,
    pub sender: String,
    /// The tenant's recipients; the first one's domain picks the chain (a domain may have its own).
    pub recipients: Vec<String>,
    pub message: Vec<u8>,
    pub classification: Classification,
}

pub trait Gateway: Send + Sync {
    /// Queues a quarantined message for delivery to `recipients` (address, route), which must still be held;
    /// returns the queue id.
    fn release(
        &self,
        quarantine_id: &str,
        recipients: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<String, GatewayError>>;
    /// The domain's MX hosts (`host`, preference), best first.
    fn mx_hosts(&self, domain: &str) -> BoxFuture<'_, Result<Vec<(String, u16)>, GatewayError>>;
    /// Connects to a downstream host and greets it; returns what it answered.
    fn test_smtp(&self, host: &str, port: u16) -> BoxFuture<'_, Result<String, NoGreeting>>;
    /// Validates a WebAssembly component against Moat's WIT world and stores it as a plugin of `owner`'s
    /// chains (`None`: the operator's, usable in every chain). Built-in names are refused.
    fn register_plugin(
        &self,
        owner: Option<moat_store::TenantId>,
        name: &str,
        version: &str,
        wasm: Vec<u8>,
    ) -> BoxFuture<'_, Result<RegisteredPlugin, GatewayError>>;
    /// Teaches the tenant's live chain a classified message; fails naming the plugins that could not learn it.
    fn learn(&self, lesson: Lesson) -> BoxFuture<'_, Result<(), GatewayError>>;
    /// Checks a chain (JSON, as stored) the way `moat chain set` does and saves it as the `direction` chain
    /// of a tenant (`None`: the default chain); returns the saved version.
    fn save_chain(
        &self,
        direction: moat_store::Direction,
        tenant: Option<TenantId>,
        json: String,
        by: String,
    ) -> BoxFuture<'_, Result<i64, GatewayError>>;
}
