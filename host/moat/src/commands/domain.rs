use super::open_directory;
use crate::config::Config;
use clap::{Args, Subcommand};
use moat_directory::{DomainSpec, parse_downstream};
use moat_store::Signup;

#[derive(Subcommand)]
pub enum DomainCommand {
    /// Protect a domain (or add an alias domain of one).
    Add(AddDomain),
    /// List protected domains with their downstream hosts.
    List,
    /// Stop protecting a domain: removes its mailboxes, aliases and alias domains too.
    Remove { name: String },
    /// How the domain's users come to exist: `manual` (added by admins), `smtp` (also signed up on their
    /// first message when the domain's server accepts the address; turned on only if the server passes a
    /// check with --check, an existing address), or `ldap` (signed up from the tenant's directory, set with
    /// `moat ldap set`; turned on only if it answers).
    Signup {
        name: String,
        #[arg(value_parser = ["manual", "smtp", "ldap"])]
        mode: String,
        /// An existing address of the domain, for the check.
        #[arg(long, value_name = "ADDRESS")]
        check: Option<String>,
    },
}

#[derive(Args)]
pub struct AddDomain {
    /// The domain name, e.g. example.com.
    name: String,
    /// Make this an alias domain of an existing protected domain: every mailbox of that domain exists here too.
    #[arg(long, value_name = "DOMAIN")]
    alias_of: Option<String>,
    /// A mail server to deliver to, as HOST[:PORT[:PRIORITY]] (port 25 and priority 10 by default; lower
    /// priority is tried first). Repeat for several.
    #[arg(long, value_name = "HOST:PORT:PRIORITY")]
    downstream: Vec<String>,
    /// Who hears about this domain (license and delivery notices).
    #[arg(long, value_name = "EMAIL")]
    contact: Option<String>,
    /// The most mailboxes this domain may have.
    #[arg(long)]
    max_users: Option<i64>,
    /// Language of notices for this domain (en, es).
    #[arg(long, default_value = "en", value_parser = ["en", "es"])]
    language: String,
    /// Tenant that owns the domain (default tenant when omitted).
    #[arg(long)]
    tenant: Option<String>,
}

impl DomainCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let directory = open_directory(config).await?;
        match self {
            DomainCommand::Add(a) => {
                let downstream = a.downstream.iter().map(|d| parse_downstream(d)).collect::<Result<Vec<_>, _>>()?;
                let spec = DomainSpec {
                    tenant: a.tenant,
                    name: a.name,
                    alias_of: a.alias_of,
                    contact_email: a.contact,
                    max_users: a.max_users,
                    language: Some(a.language),
                    downstream,
                };
                directory.add_domain(&spec).await?;
                let domain = directory.domain(&spec.name).await?;
                println!("Added {}.", domain.name);
            }
            DomainCommand::List => {
                let store = directory.store();
                let domains = store.domain_list(None).await?;
                if domains.is_empty() {
                    println!(
                        "No protected domains. Add one with: moat domain add example.com --downstream mail.example.com:25:10"
                    );
                }
                for d in &domains {
                    match d.alias_of {
                        Some(primary) => {
                            let primary = domains.iter().find(|p| p.id == primary).map_or("?", |p| p.name.as_str());
                            println!("{}\talias of {primary}", d.name);
                        }
                        None => {
                            let hosts = store.downstream_hosts(d.id).await?;
                            let hosts: Vec<String> =
                                hosts.iter().map(|h| format!("{}:{}:{}", h.host, h.port, h.priority)).collect();
                            let users = store.mailbox_list(Some(d.id)).await?.len();
                            let max = d.max_users.map(|m| format!("/{m}")).unwrap_or_default();
                            let signup = match d.signup {
                                Signup::Smtp => "\tsign-up by SMTP",
                                Signup::Ldap => "\tsign-up from the directory",
                                Signup::Manual => "",
                            };
                            println!("{}\tdownstream {}\t{users}{max} mailboxes{signup}", d.name, hosts.join(", "));
                        }
                    }
                }
            }
            DomainCommand::Remove { name } => {
                directory.remove_domain(&name).await?;
                println!("Removed {name}.");
            }
            DomainCommand::Signup { name, mode, check } => {
                let signup = Signup::parse(&mode).expect("clap checked the mode");
                let directory = super::with_callout(config, directory)?;
                directory.set_signup(&name, signup, check.as_deref()).await?;
                match signup {
                    Signup::Smtp => {
                        println!("{name}: the server passed the check; users sign up on their first message.")
                    }
                    Signup::Ldap => {
                        println!("{name}: the directory answers; its users sign up on their first message.")
                    }
                    Signup::Manual => println!("{name}: users are added by admins."),
                }
            }
        }
        Ok(())
    }
}
