//! The filter control plane, in one place for `serve`, the CLI and the console: the plugin registry (one
//! wasmtime engine per process, each component compiled once per sha256, off the async workers), chains pinned
//! to plugin versions, checked by their plugins and saved ([`Chains::save`]), the live chain set selected per
//! recipient and followed across reloads and nodes ([`Chains::select`], [`Chains::follow`]), and what plugins
//! get from the host: key-value storage ([`StoreKv`]) and DNS ([`HickoryDns`]).

mod dns;
mod error;
mod kv;
mod lessons;
mod live;
mod registry;
mod save;
mod slots;

pub use dns::{HickoryDns, MxLookupError, Outage, ResolverSetupError, resolver_config, tokio_resolver};
pub use error::ChainError;
pub use kv::StoreKv;
pub use lessons::LessonBudget;
pub use live::{Chains, Selected};
pub use registry::Registry;
pub use slots::{RunSlots, Slot};

pub(crate) use moat_store::unix_now as now;
