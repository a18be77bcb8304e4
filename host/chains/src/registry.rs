//! The plugin registry's process side: the one engine, and every component compiled once per sha256.

use crate::ChainError;
use moat_filter::{FilterEngine, Plugin};
use moat_store::{NewPlugin, Store, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Registry {
    engine: Arc<FilterEngine>,
    /// Compiled plugins by sha256: reused by every reload, chain check and upload.
    compiled: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl Registry {
    pub fn new(engine: FilterEngine) -> Self {
        Self { engine: Arc::new(engine), compiled: Mutex::default() }
    }

    pub fn engine(&self) -> &FilterEngine {
        &self.engine
    }

    /// The compiled component of `bytes`, from the cache or compiled (or loaded from the engine's artifact
    /// cache) on a blocking thread: compiling is CPU work the async workers must not do.
    pub async fn load(&self, name: &str, bytes: Vec<u8>) -> Result<Arc<Plugin>, ChainError> {
        let sha256 = moat_filter::sha256_hex(&bytes);
        if let Some(plugin) = self.compiled.lock().expect("plugin cache lock").get(&sha256) {
            return Ok(plugin.clone());
        }
        let (engine, owned) = (self.engine.clone(), name.to_owned());
        let plugin = tokio::task::spawn_blocking(move || engine.load(&owned, &bytes))
            .await
            .map_err(|e| ChainError::Compile { name: name.to_owned(), reason: e.to_string() })??;
        let plugin = Arc::new(plugin);
        self.compiled.lock().expect("plugin cache lock").insert(sha256, plugin.clone());
        Ok(plugin)
    }

    /// A registered plugin a chain of `owner`'s scope may use (`None`: the operator's).
    pub async fn plugin(
        &self,
        store: &Store,
        owner: Option<TenantId>,
        name: &str,
        version: &str,
    ) -> Result<Arc<Plugin>, ChainError> {
        let bytes = store
            .plugin_bytes(owner, name, version)
            .await?
            .ok_or_else(|| ChainError::Unregistered { name: name.to_owned(), version: version.to_owned() })?;
        self.load(name, bytes).await
    }

    /// Checks an upload (its name, version, and that it loads as a filter component of our WIT) and registers
    /// it for `owner` (`None`: the operator); returns its sha256. Whether the name is reserved is the caller's
    /// rule (built-in names).
    pub async fn register(
        &self,
        store: &Store,
        owner: Option<TenantId>,
        name: &str,
        version: &str,
        bytes: &[u8],
        uploaded_by: &str,
    ) -> Result<String, ChainError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(ChainError::BadName(name.to_owned()));
        }
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c)) {
            return Err(ChainError::BadVersion(version.to_owned()));
        }
        let plugin = self.load(name, bytes.to_vec()).await?;
        let new = NewPlugin {
            owner,
            name,
            version,
            sha256: plugin.sha256(),
            wit_version: plugin.wit_version(),
            bytes,
            uploaded_by,
            summary: plugin.about().map(|a| a.summary.as_str()),
            configuration_help: plugin.about().map(|a| a.configuration.as_str()),
        };
        store.plugin_add(&new, crate::now()).await?;
        Ok(plugin.sha256().to_owned())
    }
}
