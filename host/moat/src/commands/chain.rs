//! `moat chain`: the filter chains, checked against the registry and the plugins' own config validation
//! before they are saved. Running servers pick a saved chain up within their reload interval.

use super::{open_store, time};
use crate::config::Config;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use moat_filter::ChainSpec;
use moat_store::{ChainScope, Direction, Store};
use std::path::PathBuf;

/// Which chain: the default (every tenant without its own), a tenant's, or a domain's override; for incoming
/// mail, or with `--outbound` for the mail customers' servers send through Moat.
#[derive(Args, Clone)]
pub struct ScopeArgs {
    /// The outbound chain (mail relayed for the customers' servers) instead of the inbound one.
    #[arg(long)]
    outbound: bool,
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

/// The chain `args` name: its direction, scope and how to call it.
async fn scope(store: &Store, args: &ScopeArgs) -> anyhow::Result<(Direction, ChainScope, String)> {
    let direction = if args.outbound { Direction::Outbound } else { Direction::Inbound };
    let (scope, label) = if let Some(name) = &args.domain {
        let domain = moat_directory::Directory::new(store.clone()).domain(name).await?;
        if domain.alias_of.is_some() {
            bail!("{name} is an alias domain: its mail is filtered by its primary domain's chain");
        }
        (ChainScope::Domain(domain.tenant_id, domain.id), format!("domain {}", domain.name))
    } else if let Some(name) = &args.tenant {
        let tenant = store.tenant_by_name(name).await?.ok_or_else(|| anyhow::anyhow!("no tenant {name}"))?;
        (ChainScope::Tenant(tenant.id), format!("tenant {name}"))
    } else {
        (ChainScope::Default, "the default chain".into())
    };
    let label = if args.outbound { format!("{label} (outbound)") } else { label };
    Ok((direction, scope, label))
}

fn who() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}

impl ChainCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            ChainCommand::Show { scope: args } => {
                let (direction, scope, label) = scope(&store, &args).await?;
                match store
                    .chain_history(direction, scope)
                    .await?
                    .into_iter()
                    .next()
                    .and_then(|v| v.spec.map(|s| (v.id, s)))
                {
                    None => println!("# {label}: none saved, {}", inherits(scope)),
                    Some((id, json)) => {
                        let spec = ChainSpec::from_json(&json)?;
                        println!("# {label}, version {id}\n{}", spec.to_toml());
                    }
                }
            }
            ChainCommand::Set { file, scope: args } => {
                let (direction, scope, label) = scope(&store, &args).await?;
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let spec =
                    ChainSpec::from_toml(&text).with_context(|| format!("{} is not a valid chain", file.display()))?;
                let (id, spec) = crate::serve::chains(config, &store)?.save(direction, scope, spec, &who()).await?;
                println!(
                    "Saved {label}, version {id}: {} entr(ies); running servers switch to it within {}.",
                    spec.entries.len(),
                    humantime::format_duration(config.filters.reload_interval)
                );
            }
            ChainCommand::Clear { scope: args } => {
                let (direction, scope, label) = scope(&store, &args).await?;
                if scope == ChainScope::Default {
                    bail!("the default chain cannot be cleared; save an empty one instead");
                }
                store.chain_save(direction, scope, None, &who(), now()).await?;
                println!("Cleared {label}: {}.", inherits(scope));
            }
            ChainCommand::History { scope: args } => {
                let (direction, scope, label) = scope(&store, &args).await?;
                let versions = store.chain_history(direction, scope).await?;
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
                let (direction, scope, label) = scope(&store, &args).await?;
                let old = store
                    .chain_history(direction, scope)
                    .await?
                    .into_iter()
                    .find(|v| v.id == version)
                    .ok_or_else(|| anyhow::anyhow!("{label} has no version {version} (see moat chain history)"))?;
                let spec = match &old.spec {
                    Some(json) => ChainSpec::from_json(json)?,
                    None => bail!("version {version} cleared the chain; use moat chain clear"),
                };
                let chains = crate::serve::chains(config, &store)?;
                chains.check(scope, &spec).await.context("that version can no longer run")?;
                let id = store.chain_save(direction, scope, Some(&spec.to_json()), &who(), now()).await?;
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

use moat_store::unix_now as now;
