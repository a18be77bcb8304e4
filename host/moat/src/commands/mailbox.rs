use super::open_directory;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum MailboxCommand {
    /// Add a mailbox, e.g. alice@example.com.
    Add {
        address: String,
        /// The user's full name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List mailboxes, of one domain or all.
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    /// Remove a mailbox and its aliases.
    Remove { address: String },
}

#[derive(Subcommand)]
pub enum AliasCommand {
    /// Deliver ALIAS to the existing MAILBOX (the alias may be in another protected domain).
    Add { alias: String, mailbox: String },
    /// List aliases, of one domain or all.
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    /// Remove an alias.
    Remove { alias: String },
}

impl MailboxCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let directory = open_directory(config).await?;
        match self {
            MailboxCommand::Add { address, name } => {
                directory.add_mailbox(&address, name.as_deref()).await?;
                println!("Added {}.", address.to_lowercase());
            }
            MailboxCommand::List { domain } => {
                let domain = match domain {
                    Some(d) => Some(directory.domain(&d).await?.id),
                    None => None,
                };
                for m in directory.store().mailbox_list(domain).await? {
                    println!("{}\t{}", m.address, m.full_name.unwrap_or_default());
                }
            }
            MailboxCommand::Remove { address } => {
                directory.remove_mailbox(&address).await?;
                println!("Removed {address}.");
            }
        }
        Ok(())
    }
}

impl AliasCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let directory = open_directory(config).await?;
        match self {
            AliasCommand::Add { alias, mailbox } => {
                directory.add_alias(&alias, &mailbox).await?;
                println!("{} now delivers to {}.", alias.to_lowercase(), mailbox.to_lowercase());
            }
            AliasCommand::List { domain } => {
                let domain = match domain {
                    Some(d) => Some(directory.domain(&d).await?.id),
                    None => None,
                };
                for a in directory.store().alias_list(domain).await? {
                    println!("{}\t-> {}", a.address, a.mailbox);
                }
            }
            AliasCommand::Remove { alias } => {
                directory.remove_alias(&alias).await?;
                println!("Removed {alias}.");
            }
        }
        Ok(())
    }
}
