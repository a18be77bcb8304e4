//! Moat's filter runtime: filter layers are WebAssembly components implementing the `moat:filter` world
//! (0.2.0, or the frozen 0.1.0). Each is compiled once (and cached on disk by sha256), validated against the world at load, and run
//! in a fresh, bounded store per message: a fuel budget per call, a memory cap, no WASI filesystem, sockets
//! or environment. A trap, a timeout or running out of memory becomes a [`Failure`], never a crash.

mod about;
mod bindings;
mod breaker;
mod chain;
mod engine;
mod host;
mod message;
mod plugin;
mod spec;
#[doc(hidden)]
pub mod test_guests;
mod warm;
mod wit;

pub use about::{PluginAbout, SECTION as ABOUT_SECTION, read as read_about};
pub use breaker::{Breaker, TenantBreakers};
pub use chain::{
    Autolearn, Chain, ChainEntry, EntryReport, Evaluation, FailPolicy, Lesson, Outcome, Teaching, Thresholds,
};
pub use engine::{FilterEngine, Limits, LoadError};
pub use host::{
    Capabilities, DnsError, DnsGrant, KvError, KvGrant, KvStore, MemoryBudget, MemoryKv, RecordKind, Resolver,
    StaticDns, StaticDnsError, counter_value, kv_namespace, shared_kv_namespace,
};
pub use message::{
    AuthResult, Authentication, ConnectionFacts, Content, Direction, MessageFacts, ParsedMessage, RecipientFacts,
};
pub use moat_message::{Structure, StructureLimits};
pub use plugin::{Action, CallSetup, Failure, Label, Plugin, Run, Stage, Symbol, Verdict};
/// The hex sha256 of a component's bytes: its identity in the registry and the compile cache.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub use spec::{ChainSpec, EntrySpec, MAX_FUEL, SpecError};
pub use warm::Warm;
