//! Saving a chain: its entries pinned to registered versions, each plugin asked about its configuration, the
//! whole built once, then stored as a new version of its scope (which every node then follows).

use crate::{ChainError, Chains};
use moat_filter::ChainSpec;
use moat_store::{ChainScope, DEFAULT_TENANT, Direction, TenantId};
use std::collections::HashMap;

/// The tenant whose plugins a chain of `scope` may use besides the operator's (`None`: the default chain).
pub(crate) fn owner_of(scope: ChainScope) -> Option<TenantId> {
    match scope {
        ChainScope::Default => None,
        ChainScope::Tenant(t) | ChainScope::Domain(t, _) => Some(t),
    }
}

impl Chains {
    /// Pins, checks and saves the `direction` chain of `scope` (what `moat chain set`, the console and the API
    /// do); returns the saved version and the chain as saved.
    pub async fn save(
        &self,
        direction: Direction,
        scope: ChainScope,
        mut spec: ChainSpec,
        by: &str,
    ) -> Result<(i64, ChainSpec), ChainError> {
        let owner = owner_of(scope);
        self.pin_versions(owner, &mut spec).await?;
        self.check(scope, &spec).await?;
        let id = self.store.chain_save(direction, scope, Some(&spec.to_json()), by, crate::now()).await?;
        Ok((id, spec))
    }

    /// Entries without a version get the latest registered one, so a later upload never changes a running
    /// chain. A chain of `owner`'s sees that tenant's own plugins and the operator's; of a name the tenant has
    /// uploaded, its own versions (the default chain, `owner` `None`, sees the operator's only).
    async fn pin_versions(&self, owner: Option<TenantId>, spec: &mut ChainSpec) -> Result<(), ChainError> {
        let registered = self.store.plugin_list().await?;
        for (i, entry) in spec.entries.iter_mut().enumerate() {
            let named = |p: &&moat_store::PluginInfo| p.name == entry.plugin;
            let own: Vec<_> = registered.iter().filter(named).filter(|p| owner.is_some() && p.owner == owner).collect();
            let versions: Vec<_> = if own.is_empty() {
                registered.iter().filter(named).filter(|p| p.owner.is_none()).collect()
            } else {
                own
            };
            match &entry.version {
                None => {
                    let latest = versions
                        .last()
                        .ok_or_else(|| ChainError::NoPlugin { entry: i + 1, name: entry.plugin.clone() })?;
                    entry.version = Some(latest.version.clone());
                }
                Some(v) if !versions.iter().any(|p| &p.version == v) => {
                    return Err(ChainError::NoVersion { entry: i + 1, name: entry.plugin.clone(), version: v.clone() });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Loads every enabled entry's plugin (through the registry: compiled once) and lets it judge its config:
    /// whether a pinned chain of `scope` can run.
    pub async fn check(&self, scope: ChainScope, spec: &ChainSpec) -> Result<(), ChainError> {
        let owner = owner_of(scope);
        let mut plugins = HashMap::new();
        for (index, name, version) in spec.plugins() {
            let plugin = self.registry.plugin(&self.store, owner, name, version).await.map_err(|e| match e {
                ChainError::Unregistered { name, version } => ChainError::NoVersion { entry: index, name, version },
                other => other,
            })?;
            plugins.insert((name.to_owned(), version.to_owned()), plugin);
        }
        spec.configure(&plugins)?;
        // A chain that names no tenant still needs a namespace to build: the default tenant's.
        spec.build(&plugins, &DEFAULT_TENANT.0.to_string(), None, None)?;
        Ok(())
    }
}
