//! The live chains: built from the store's live chain versions, swapped atomically when an admin saves a
//! chain (every node polls the store's chain generation, so a cluster follows), with plugins from the
//! registry and key-value storage and DNS provided by the host.

use crate::{ChainError, Registry, StoreKv};
use moat_filter::{Chain, ChainSpec, KvStore, Resolver};
use moat_store::{ChainGeneration, ChainScope, Direction, DomainId, Store, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The live chains of one direction, by scope.
#[derive(Default)]
struct Scoped {
    default: Option<Arc<Chain>>,
    tenants: HashMap<TenantId, Arc<Chain>>,
    /// Domain overrides by primary domain name.
    domains: HashMap<String, Arc<Chain>>,
}

impl Scoped {
    fn get(&self, scope: ChainScope, domain_name: Option<&str>) -> Option<Arc<Chain>> {
        match (scope, domain_name) {
            (ChainScope::Default, _) => self.default.clone(),
            (ChainScope::Tenant(t), _) => self.tenants.get(&t).cloned(),
            (ChainScope::Domain(..), Some(name)) => self.domains.get(name).cloned(),
            (ChainScope::Domain(..), None) => None,
        }
    }

    fn set(&mut self, scope: ChainScope, domain_name: Option<String>, chain: Arc<Chain>) {
        match (scope, domain_name) {
            (ChainScope::Default, _) => self.default = Some(chain),
            (ChainScope::Tenant(t), _) => {
                self.tenants.insert(t, chain);
            }
            (ChainScope::Domain(..), Some(name)) => {
                self.domains.insert(name, chain);
            }
            (ChainScope::Domain(..), None) => {}
        }
    }
}

/// Every live chain, by direction and scope. Replaced as a whole: a message in flight keeps the set it
/// started with.
#[derive(Default)]
struct ChainSet {
    inbound: Scoped,
    outbound: Scoped,
    tenant_names: HashMap<TenantId, String>,
}

impl ChainSet {
    fn of(&self, direction: Direction) -> &Scoped {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }

    fn of_mut(&mut self, direction: Direction) -> &mut Scoped {
        match direction {
            Direction::Inbound => &mut self.inbound,
            Direction::Outbound => &mut self.outbound,
        }
    }
}

pub struct Chains {
    pub(crate) store: Store,
    pub(crate) registry: Arc<Registry>,
    kv: Arc<dyn KvStore>,
    /// The same storage as `kv`, for its shutdown flush and its bound.
    storage: Arc<StoreKv>,
    dns: Option<Arc<dyn Resolver>>,
    live: RwLock<Arc<ChainSet>>,
    generation: Mutex<ChainGeneration>,
    empty: Arc<Chain>,
}

/// The chain for one recipient, and the name plugins know its tenant by.
pub struct Selected {
    pub chain: Arc<Chain>,
    pub tenant_name: String,
}

impl Chains {
    /// Must be created inside the Tokio runtime whose store it uses.
    pub fn new(store: Store, registry: Arc<Registry>, dns: Option<Arc<dyn Resolver>>) -> Self {
        let storage = Arc::new(StoreKv::new(store.clone()));
        Self {
            kv: storage.clone(),
            storage,
            store,
            registry,
            dns,
            live: RwLock::default(),
            generation: Mutex::default(),
            empty: Arc::new(Chain::empty()),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Writes plugin counters still kept in memory (see [`StoreKv`]): before the store closes.
    pub async fn flush_storage(&self) {
        self.storage.flush().await;
    }

    /// The `direction` chain for mail of `tenant`'s `domain` (the recipient's primary domain inbound, the
    /// sender's outbound): the domain's override, else the tenant's chain, else the default chain, else none
    /// (everything delivered).
    pub fn select(&self, direction: Direction, tenant: TenantId, domain: &str) -> Selected {
        let set = self.live.read().expect("chain set lock").clone();
        let scoped = set.of(direction);
        let chain = scoped
            .domains
            .get(domain)
            .or_else(|| scoped.tenants.get(&tenant))
            .or(scoped.default.as_ref())
            .unwrap_or(&self.empty)
            .clone();
        let tenant_name = set.tenant_names.get(&tenant).cloned().unwrap_or_else(|| tenant.0.to_string());
        Selected { chain, tenant_name }
    }

    /// The client's verified reverse name (forward-confirmed: the PTR name resolves back to `ip`), for the
    /// connect stage. Blocking: call it on the thread the chain runs on.
    pub fn verified_ptr(&self, ip: std::net::IpAddr) -> Option<String> {
        use moat_filter::RecordKind;
        // Loopback clients (local submission, tests) have no meaningful reverse name: no query for them.
        if ip.is_loopback() || ip.is_unspecified() {
            return None;
        }
        let dns = self.dns.as_ref()?;
        let reverse = match ip {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
            }
            std::net::IpAddr::V6(v6) => {
                let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
                let nibbles: Vec<String> = hex.chars().rev().map(String::from).collect();
                format!("{}.ip6.arpa", nibbles.join("."))
            }
        };
        let name = dns.lookup(&reverse, RecordKind::Ptr).ok()?.into_iter().next()?;
        let kind = if ip.is_ipv4() { RecordKind::A } else { RecordKind::Aaaa };
        let forward = dns.lookup(&name, kind).ok()?;
        forward.iter().any(|a| a.parse::<std::net::IpAddr>().ok() == Some(ip)).then_some(name)
    }

    /// Loads the live chains from the store and swaps them in. A chain that cannot be built (its plugin was
    /// removed, say) keeps its scope on the previous chain and is reported.
    pub async fn reload(&self) -> Result<(), moat_store::StoreError> {
        let generation = self.store.chain_generation().await?;
        let versions = self.store.chains_live().await?;
        let tenant_names: HashMap<TenantId, String> =
            self.store.tenant_list().await?.into_iter().map(|t| (t.id, t.name)).collect();
        let previous = self.live.read().expect("chain set lock").clone();
        let mut set = ChainSet { tenant_names, ..ChainSet::default() };
        for version in versions {
            let Some(json) = &version.spec else { continue };
            let tenant_name = match version.scope {
                ChainScope::Default => "default".to_string(),
                ChainScope::Tenant(t) | ChainScope::Domain(t, _) => {
                    set.tenant_names.get(&t).cloned().unwrap_or_else(|| t.0.to_string())
                }
            };
            let owner = crate::save::owner_of(version.scope);
            let built = match ChainSpec::from_json(json) {
                Ok(spec) => self.build(&spec, &tenant_name, owner).await,
                Err(e) => Err(e.into()),
            };
            let domain_name = match version.scope {
                ChainScope::Domain(_, d) => self.domain_name(d).await?,
                _ => None,
            };
            if matches!((version.scope, &domain_name), (ChainScope::Domain(..), None)) {
                continue;
            }
            let old = previous.of(version.direction).get(version.scope, domain_name.as_deref());
            let chain = match built {
                Ok(chain) => Arc::new(chain),
                Err(reason) => {
                    tracing::error!(chain = version.id, "cannot build chain, keeping the previous one: {reason}");
                    match old {
                        Some(old) => old,
                        None => continue,
                    }
                }
            };
            set.of_mut(version.direction).set(version.scope, domain_name, chain);
        }
        *self.live.write().expect("chain set lock") = Arc::new(set);
        *self.generation.lock().expect("generation lock") = generation;
        Ok(())
    }

    async fn domain_name(&self, id: DomainId) -> Result<Option<String>, moat_store::StoreError> {
        Ok(self.store.domain_by_id(id).await?.map(|d| d.name))
    }

    /// Builds a chain of `owner`'s scope (`None`: the default chain), with the plugins that scope may use.
    async fn build(&self, spec: &ChainSpec, tenant: &str, owner: Option<TenantId>) -> Result<Chain, ChainError> {
        let mut plugins = HashMap::new();
        for (_, name, version) in spec.plugins() {
            let plugin = self.registry.plugin(&self.store, owner, name, version).await?;
            plugins.insert((name.to_owned(), version.to_owned()), plugin);
        }
        Ok(spec.build(&plugins, tenant, Some(self.kv.clone()), self.dns.clone())?)
    }

    /// Reloads whenever the store's chain generation changes, and every 60 checks purges expired plugin
    /// storage and trims what lessons grew to `storage_entries` a namespace ([`StoreKv::trim`]), until `stop`
    /// turns true.
    pub async fn follow(self: Arc<Self>, every: Duration, storage_entries: usize, mut stop: watch::Receiver<bool>) {
        let mut ticks = 0u64;
        // Trimming takes seconds (batches with pauses): it runs beside the reloads, one at a time.
        let mut trimming: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            ticks += 1;
            match self.store.chain_generation().await {
                Ok(now) if now != *self.generation.lock().expect("generation lock") => match self.reload().await {
                    Ok(()) => tracing::info!("filter chains reloaded"),
                    Err(e) => tracing::warn!("cannot reload filter chains: {e}"),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot poll filter chains: {e}"),
            }
            if ticks.is_multiple_of(60) {
                let _ = self.store.kv_purge(crate::now()).await;
                if trimming.as_ref().is_none_or(|t| t.is_finished()) {
                    let storage = self.storage.clone();
                    trimming = Some(tokio::spawn(async move {
                        storage.trim(storage_entries).await;
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_filter::{FilterEngine, Limits, StaticDns};

    #[tokio::test]
    async fn reverse_names_count_only_when_they_resolve_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let store = Store::open(&url, moat_store::Durability::Full).await.unwrap();
        let dns = StaticDns::parse(
            "7.2.0.192.in-addr.arpa PTR mx.sender.test\nmx.sender.test A 192.0.2.7\n\
             8.2.0.192.in-addr.arpa PTR www.bank.test\nwww.bank.test A 198.51.100.1\n",
        )
        .unwrap();
        let registry = Arc::new(Registry::new(FilterEngine::new(None, Limits::default()).unwrap()));
        let filters = Chains::new(store, registry, Some(Arc::new(dns)));
        let ptr = |ip: &str| {
            let filters = &filters;
            let ip = ip.parse().unwrap();
            std::thread::scope(|s| s.spawn(move || filters.verified_ptr(ip)).join().unwrap())
        };
        assert_eq!(ptr("192.0.2.7").as_deref(), Some("mx.sender.test"));
        assert_eq!(ptr("192.0.2.8"), None, "a PTR claiming a name that does not resolve back is not trusted");
        assert_eq!(ptr("192.0.2.9"), None, "no PTR");
        assert_eq!(ptr("127.0.0.1"), None);
    }
}
