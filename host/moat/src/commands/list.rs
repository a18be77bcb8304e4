//! `moat list`: the allow and deny lists the `lists` filter reads (kept in its key-value storage, per tenant).

use super::open_store;
use crate::config::Config;
use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use moat_directory::ListScope;
use moat_store::Store;

#[derive(Clone, Copy, ValueEnum)]
pub enum Which {
    Allow,
    Deny,
}

#[derive(Args)]
pub struct Entry {
    which: Which,
    /// A sender address (`x@spam.test`), a sender domain (`spam.test`, its subdomains too), or a client IP or
    /// network (`192.0.2.7`, `192.0.2.0/24`).
    value: String,
    /// Only for this recipient (user level).
    #[arg(long, conflicts_with = "domain")]
    user: Option<String>,
    /// Only for recipients of this domain (domain level).
    #[arg(long)]
    domain: Option<String>,
    /// Whose lists (default tenant when omitted; implied by --user/--domain's domain otherwise).
    #[arg(long)]
    tenant: Option<String>,
    /// The operator's list, for every tenant (the least specific level).
    #[arg(long, conflicts_with_all = ["user", "domain", "tenant"])]
    global: bool,
}

#[derive(Subcommand)]
pub enum ListCommand {
    /// Add an entry.
    Add(Entry),
    /// Remove an entry.
    Remove(Entry),
    /// Show a tenant's entries (or, with --global, the operator's).
    Show {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, conflicts_with = "tenant")]
        global: bool,
    },
}

/// The key the lists plugin reads: SCOPE|KIND|VALUE.
fn key(entry: &Entry) -> anyhow::Result<String> {
    let scope = match (&entry.user, &entry.domain) {
        (Some(user), _) => ListScope::User(user.clone()),
        (None, Some(domain)) => ListScope::Domain(domain.clone()),
        (None, None) => ListScope::Tenant,
    };
    Ok(moat_directory::list_key(&scope, &entry.value)?)
}

async fn namespace(store: &Store, tenant: Option<&str>, entry: Option<&Entry>) -> anyhow::Result<String> {
    if entry.is_some_and(|e| e.global) {
        return Ok(moat_filter::shared_kv_namespace(PLUGIN));
    }
    let by_domain =
        entry.and_then(|e| e.user.as_deref().and_then(|u| u.rsplit_once('@').map(|(_, d)| d)).or(e.domain.as_deref()));
    let tenant = match (tenant, by_domain) {
        (Some(name), _) => store.tenant_by_name(name).await?.ok_or_else(|| anyhow::anyhow!("no tenant {name}"))?.name,
        (None, Some(domain)) => {
            let domain = moat_directory::Directory::new(store.clone()).domain(domain).await?;
            store
                .tenant_list()
                .await?
                .into_iter()
                .find(|t| t.id == domain.tenant_id)
                .map(|t| t.name)
                .unwrap_or_default()
        }
        (None, None) => "default".into(),
    };
    Ok(moat_directory::lists_namespace(&tenant))
}

const PLUGIN: &str = moat_directory::LISTS_PLUGIN;

/// Who an entry applies to, for the admin's confirmation.
fn owner(namespace: &str) -> String {
    match namespace.strip_suffix(":lists") {
        Some("*") => "every tenant".into(),
        Some(tenant) => format!("tenant {tenant}"),
        None => namespace.into(),
    }
}

impl ListCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            ListCommand::Add(entry) => {
                let ns = namespace(&store, entry.tenant.as_deref(), Some(&entry)).await?;
                let key = key(&entry)?;
                let value: &[u8] = match entry.which {
                    Which::Allow => b"allow",
                    Which::Deny => b"deny",
                };
                store.kv_set(&ns, &key, value, None).await?;
                println!("{} {key} ({})", String::from_utf8_lossy(value), owner(&ns));
            }
            ListCommand::Remove(entry) => {
                let ns = namespace(&store, entry.tenant.as_deref(), Some(&entry)).await?;
                let key = key(&entry)?;
                if !store.kv_delete(&ns, &key).await? {
                    bail!("no list entry {key}");
                }
                println!("removed {key}");
            }
            ListCommand::Show { tenant, global } => {
                let ns = if global {
                    moat_filter::shared_kv_namespace(PLUGIN)
                } else {
                    namespace(&store, tenant.as_deref(), None).await?
                };
                let entries = store.kv_list(&ns, 0).await?;
                if entries.is_empty() {
                    println!("No list entries.");
                }
                for (key, value) in entries {
                    println!("{}\t{key}", String::from_utf8_lossy(&value.unwrap_or_default()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_directory_writes_lists_where_the_plugin_reads_them() {
        assert_eq!(moat_directory::lists_namespace("acme"), moat_filter::kv_namespace("acme", super::PLUGIN));
    }
}
