use moat_filter::{LoadError, SpecError};
use moat_store::StoreError;

/// Why a plugin could not be registered or a chain could not be saved or built.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("plugin names may hold only letters, digits and - _ . (got {0:?})")]
    BadName(String),
    #[error("versions may hold only letters, digits and - _ . + (got {0:?})")]
    BadVersion(String),
    #[error("entry {entry}: no plugin {name} is registered (moat plugin add)")]
    NoPlugin { entry: usize, name: String },
    #[error("entry {entry}: no plugin {name} {version} is registered")]
    NoVersion { entry: usize, name: String, version: String },
    #[error("plugin {name} {version} is not registered")]
    Unregistered { name: String, version: String },
    #[error("compiling {name} stopped: {reason}")]
    Compile { name: String, reason: String },
}
