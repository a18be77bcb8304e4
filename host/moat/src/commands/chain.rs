//! `moat chain`: the filter chains, checked against the registry and the plugins' own config validation
//! before they are saved. Running servers pick a saved chain up within their reload interval.

use super::{open_store, time};
use crate::config::Config;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use moat_filter::{ChainSpec, FilterEngine, Plugin};
use moat_store::{ChainScope, DEFAULT_TENANT, Store, TenantId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Which chain: the default (every tenant without its own), a tenant's, or a domain's override.
#[derive(Args, Clone)]
pub struct ScopeArgs {
    /// A tenant's chain.
    #[arg(long, conflicts_with = "domain")]
    tenant: Option<String>,
    /// A domain's override of its tenant's chain.
    #[arg(long)]
    domain: Option<String>,
}

#[derive(Subcommand)]
pub enum ChainCommand {
    /// Print the live chain of a scope (TOML, the format `chain set` reads).
    Show {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Save a chain from a TOML file; each plugin checks its config first. Versions left out are pinned to
    /// the latest registered.
    Set {
        file: PathBuf,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove a tenant's or domain's chain, so the wider chain applies again.
    Clear {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Every saved version of a scope's chain, newest first.
    History {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Make an earlier version live again (as a new version).
    Rollback {
        /// The version id, from `moat chain history`.
        version: i64,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

async fn scope(store: &Store, args: &ScopeArgs) -> anyhow::Result<(ChainScope, String)> {
    if let Some(name) = &args.domain {
        let domain = moat_directory::Directory::new(store.clone()).domain(name).await?;
        if domain.alias_of.is_some() {
            bail!("{name} is an alias domain: its mail is filtered by its primary domain's chain");
        }
        return Ok((ChainScope::Domain(domain.tenant_id, domain.id), format!("domain {}", domain.name)));
    }
    if let Some(name) = &args.tenant {
        let tenant = store.tenant_by_name(name).await?.ok_or_else(|| anyhow::anyhow!("no tenant {name}"))?;
        return Ok((ChainScope::Tenant(tenant.id), format!("tenant {name}")));
    }
    Ok((ChainScope::Default, "the default chain".into()))
}

fn who() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}

impl ChainCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            ChainCommand::Show { scope: args } => {
                let (scope, label) = scope(&store, &args).await?;
                match store.chain_history(scope).await?.into_iter().next().and_then(|v| v.spec.map(|s| (v.id, s))) {
                    None => println!("# {label}: none saved, {}", inherits(scope)),
                    Some((id, json)) => {
                        let spec = ChainSpec::from_json(&json)?;
                        println!("# {label}, version {id}\n{}", spec.to_toml());
                    }
                }
            }
            ChainCommand::Set { file, scope: args } => {
                let (scope, label) = scope(&store, &args).await?;
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let spec =
                    ChainSpec::from_toml(&text).with_context(|| format!("{} is not a valid chain", file.display()))?;
                let (id, spec) = save(config, &store, scope, spec, &who()).await?;
                println!(
                    "Saved {label}, version {id}: {} entr(ies); running servers switch to it within {}.",
                    spec.entries.len(),
                    humantime::format_duration(config.filters.reload_interval)
                );
            }
            ChainCommand::Clear { scope: args } => {
                let (scope, label) = scope(&store, &args).await?;
                if scope == ChainScope::Default {
                    bail!("the default chain cannot be cleared; save an empty one instead");
                }
                store.chain_save(scope, None, &who(), now()).await?;
                println!("Cleared {label}: {}.", inherits(scope));
            }
            ChainCommand::History { scope: args } => {
                let (scope, label) = scope(&store, &args).await?;
                let versions = store.chain_history(scope).await?;
                if versions.is_empty() {
                    println!("No chain was ever saved for {label}.");
                }
                for (i, v) in versions.iter().enumerate() {
                    let live = if i == 0 { " (live)" } else { "" };
                    let what = match &v.spec {
                        None => "cleared".to_string(),
                        Some(json) => summary(json),
                    };
                    println!("{}\t{}\tby {}\t{what}{live}", v.id, time(v.created_at), v.created_by);
                }
            }
            ChainCommand::Rollback { version, scope: args } => {
                let (scope, label) = scope(&store, &args).await?;
                let old = store
                    .chain_history(scope)
                    .await?
                    .into_iter()
                    .find(|v| v.id == version)
                    .ok_or_else(|| anyhow::anyhow!("{label} has no version {version} (see moat chain history)"))?;
                let spec = match &old.spec {
                    Some(json) => ChainSpec::from_json(json)?,
                    None => bail!("version {version} cleared the chain; use moat chain clear"),
                };
                check(config, &store, owner_of(scope), &spec).await.context("that version can no longer run")?;
                let id = store.chain_save(scope, Some(&spec.to_json()), &who(), now()).await?;
                println!("Rolled {label} back to version {version} (saved as version {id}).");
            }
        }
        Ok(())
    }
}

fn inherits(scope: ChainScope) -> &'static str {
    match scope {
        ChainScope::Default => "mail is delivered unfiltered",
        ChainScope::Tenant(_) => "the default chain applies",
        ChainScope::Domain(..) => "the tenant's chain applies",
    }
}

fn summary(json: &str) -> String {
    match ChainSpec::from_json(json) {
        Ok(spec) if spec.entries.is_empty() => "no entries".into(),
        Ok(spec) => spec
            .entries
            .iter()
            .map(|e| {
                let mut s = format!("{} {}", e.plugin, e.version.as_deref().unwrap_or("?"));
                if e.shadow {
                    s.push_str(" (shadow)");
                }
                if !e.enabled {
                    s.push_str(" (disabled)");
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("unreadable: {e}"),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Pins, checks and saves a chain (what `moat chain set` and the console's filtering page do); returns the
/// saved version and the chain as saved.
pub(crate) async fn save(
    config: &Config,
    store: &Store,
    scope: ChainScope,
    mut spec: ChainSpec,
    by: &str,
) -> anyhow::Result<(i64, ChainSpec)> {
    let owner = owner_of(scope);
    pin_versions(store, owner, &mut spec).await?;
    check(config, store, owner, &spec).await?;
    let id = store.chain_save(scope, Some(&spec.to_json()), by, now()).await?;
    Ok((id, spec))
}

/// The tenant whose plugins a chain of `scope` may use besides the operator's (`None`: the default chain).
fn owner_of(scope: ChainScope) -> Option<TenantId> {
    match scope {
        ChainScope::Default => None,
        ChainScope::Tenant(t) | ChainScope::Domain(t, _) => Some(t),
    }
}

/// Entries without a version get the latest registered one, so a later upload never changes a running chain.
/// A chain of `owner`'s sees that tenant's own plugins and the operator's; of a name the tenant has uploaded,
/// its own versions (the default chain, `owner` `None`, sees the operator's only).
async fn pin_versions(store: &Store, owner: Option<TenantId>, spec: &mut ChainSpec) -> anyhow::Result<()> {
    let registered = store.plugin_list().await?;
    for (i, entry) in spec.entries.iter_mut().enumerate() {
        let named = |p: &&moat_store::PluginInfo| p.name == entry.plugin;
        let own: Vec<_> = registered.iter().filter(named).filter(|p| owner.is_some() && p.owner == owner).collect();
        let versions: Vec<_> =
            if own.is_empty() { registered.iter().filter(named).filter(|p| p.owner.is_none()).collect() } else { own };
        match &entry.version {
            None => {
                let latest = versions.last().ok_or_else(|| {
                    anyhow::anyhow!("entry {} : no plugin {} is registered (moat plugin add)", i + 1, entry.plugin)
                })?;
                entry.version = Some(latest.version.clone());
            }
            Some(v) if !versions.iter().any(|p| &p.version == v) => {
                bail!("entry {}: no plugin {} {v} is registered", i + 1, entry.plugin)
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Loads every enabled entry's plugin and lets it judge its config.
async fn check(config: &Config, store: &Store, owner: Option<TenantId>, spec: &ChainSpec) -> anyhow::Result<()> {
    let engine = FilterEngine::new(Some(config.server.data_dir.join("plugin-cache")), config.filters.limits())?;
    let mut plugins: HashMap<(String, String), Arc<Plugin>> = HashMap::new();
    for (index, name, version) in spec.plugins() {
        let bytes = store
            .plugin_bytes(owner, name, version)
            .await?
            .ok_or_else(|| anyhow::anyhow!("entry {index}: no plugin {name} {version} is registered"))?;
        plugins.insert((name.into(), version.into()), Arc::new(engine.load(name, &bytes)?));
    }
    spec.configure(&plugins)?;
    // A chain that names no tenant still needs a namespace to build: the default tenant's.
    spec.build(&plugins, &DEFAULT_TENANT.0.to_string(), None, None)?;
    Ok(())
}
