use super::open_store;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Add a tenant (a customer of an MSP): its domains, users and chains are its own.
    Add { name: String },
    /// List tenants with their licenses (in use / pool).
    List,
    /// Set a tenant's license pool: a number, or `unlimited`. One license covers a mailbox and 5 of its
    /// aliases; alias domains are free.
    Licenses { name: String, licenses: String },
}

impl TenantCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            TenantCommand::Add { name } => {
                moat_directory::Directory::new(store).add_tenant(&name).await?;
                println!("Added tenant {name}. Give it domains with: moat domain add DOMAIN --tenant {name} …");
            }
            TenantCommand::List => {
                let directory = moat_directory::Directory::new(store.clone());
                for t in store.tenant_list().await? {
                    let usage = directory.license_usage(t.id).await?;
                    let pool = usage.pool.map_or("unlimited".to_string(), |p| p.to_string());
                    println!("{}\t{}\tlicenses {}/{pool}", t.id.0, t.name, usage.used);
                }
            }
            TenantCommand::Licenses { name, licenses } => {
                let pool = match licenses.as_str() {
                    "unlimited" => None,
                    n => Some(n.parse::<i64>().map_err(|_| {
                        anyhow::anyhow!("licenses must be a number of 0 or more, or `unlimited` (got {n:?})")
                    })?),
                };
                let usage = moat_directory::Directory::new(store).set_tenant_licenses(&name, pool).await?;
                let pool = usage.pool.map_or("unlimited".to_string(), |p| p.to_string());
                println!("Tenant {name}: {} license(s) in use of {pool}.", usage.used);
            }
        }
        Ok(())
    }
}
