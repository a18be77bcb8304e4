use super::open_store;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Add a tenant (a customer of an MSP): its domains, users and chains are its own.
    Add { name: String },
    /// List tenants.
    List,
}

impl TenantCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            TenantCommand::Add { name } => {
                let valid = !name.is_empty()
                    && name.len() <= 64
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !valid {
                    anyhow::bail!("tenant names hold 1 to 64 letters, digits and - _ . (got {name:?})");
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                store.tenant_add(&name, now).await?;
                println!("Added tenant {name}. Give it domains with: moat domain add DOMAIN --tenant {name} …");
            }
            TenantCommand::List => {
                for t in store.tenant_list().await? {
                    println!("{}\t{}", t.id.0, t.name);
                }
            }
        }
        Ok(())
    }
}
