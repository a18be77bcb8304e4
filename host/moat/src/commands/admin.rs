//! `moat admin` and `moat token`: console and REST API accounts, and the API tokens of an account.

use super::open_store;
use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use moat_store::Role;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Add an account: a platform admin (every tenant), or with --tenant that tenant's admin. The password
    /// (8 to 64 letters, digits, `_ . -`) is read from standard input, never from the command line.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        tenant: Option<String>,
        /// Where the account's notifications (import results) go.
        #[arg(long)]
        email: Option<String>,
    },
    /// List accounts.
    List,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a new REST API token of an account (shown once; only its SHA-256 is kept). Send it as
    /// `Authorization: Bearer TOKEN`.
    Create {
        /// The account the token acts as.
        admin: String,
        /// What the token is for (shown in listings).
        #[arg(long, default_value = "api")]
        label: String,
    },
}

use moat_store::unix_now as now;

impl AdminCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            AdminCommand::Add { name, password_stdin: _, tenant, email } => {
                moat_directory::check_account_name(&name)?;
                // Checked before anything is written: an account without its address is half a command.
                if let Some(email) = &email {
                    moat_directory::Address::parse_mailbox(email).with_context(|| format!("bad --email {email}"))?;
                }
                let mut password = String::new();
                std::io::stdin().read_line(&mut password).context("cannot read the password from standard input")?;
                let password = password.trim_end_matches(['\r', '\n']);
                let hash = moat_directory::hash_password(password)?;
                let role = match &tenant {
                    None => Role::Platform,
                    Some(t) => {
                        Role::Tenant(store.tenant_by_name(t).await?.with_context(|| format!("no tenant {t}"))?.id)
                    }
                };
                let id = store.admin_add(&name, &hash, role, now()).await?;
                if let Some(email) = &email {
                    let directory = moat_directory::Directory::new(store.clone());
                    directory.set_notification_address(id, Some(email)).await.context("bad --email")?;
                }
                match tenant {
                    None => println!("Added platform admin {name}."),
                    Some(t) => println!("Added admin {name} of tenant {t}."),
                }
            }
            AdminCommand::List => {
                let tenants = store.tenant_list().await?;
                for admin in store.admin_list().await? {
                    let role = match admin.role {
                        Role::Platform => "platform".to_string(),
                        Role::Tenant(id) => {
                            let name = tenants.iter().find(|t| t.id == id).map_or("?", |t| t.name.as_str());
                            format!("tenant {name}")
                        }
                        Role::Domain(id) => {
                            let name = tenants.iter().find(|t| t.id == id).map_or("?", |t| t.name.as_str());
                            let domains = store.admin_domains(admin.id).await?;
                            let mut names = Vec::new();
                            for d in domains {
                                names.extend(store.domain_by_id(d).await?.map(|d| d.name));
                            }
                            format!("domain admin of tenant {name}: {}", names.join(", "))
                        }
                    };
                    println!("{}\t{role}", admin.name);
                }
            }
        }
        Ok(())
    }
}

impl TokenCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            TokenCommand::Create { admin, label } => {
                let account = store.admin_by_name(&admin).await?.with_context(|| format!("no admin {admin}"))?;
                let (token, digest) = moat_directory::generate_token();
                store.api_token_add(account.id, &label, &digest, now()).await?;
                println!("{token}");
            }
        }
        Ok(())
    }
}
