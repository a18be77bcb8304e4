//! `moat ldap`: the tenant's directory (LDAP, Active Directory, Domino) that signs users up — its settings,
//! the three checks admins run before turning it on, and a synchronization on demand.

use super::open_directory;
use crate::config::Config;
use anyhow::Context;
use clap::{Args, Subcommand};
use moat_directory::{LdapScope, LdapSettings};
use std::path::PathBuf;

/// Whose directory: a tenant's (every domain of it) or one domain's.
#[derive(Args, Clone)]
pub struct Scope {
    #[arg(long, conflicts_with = "tenant", required_unless_present = "tenant")]
    domain: Option<String>,
    #[arg(long)]
    tenant: Option<String>,
}

impl Scope {
    fn scope(&self) -> LdapScope {
        match (&self.domain, &self.tenant) {
            (Some(d), _) => LdapScope::Domain(d.clone()),
            (None, Some(t)) => LdapScope::Tenant(t.clone()),
            (None, None) => unreachable!("clap requires one"),
        }
    }
}

#[derive(Subcommand)]
pub enum LdapCommand {
    /// Set the directory from a TOML file (`server_type`, `url`, `starttls`, `bind_dn`, `base_dn`, `scope`,
    /// `user_attributes`, `user_filter`, `alias_attribute`, `alias_filter`, `alias_delimiter`,
    /// `name_attribute`, `sync_every`, `remove_departed`, …; see the README). The bind password is read from
    /// standard input and stored sealed.
    Set {
        file: PathBuf,
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        bind_password_stdin: bool,
    },
    /// Print the settings (never the password).
    Show {
        #[command(flatten)]
        scope: Scope,
    },
    /// The three checks: connection and bind; a user's primary address (--user); an alias (--alias).
    Check {
        domain: String,
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
        #[arg(long, value_name = "ADDRESS")]
        alias: Option<String>,
    },
    /// Synchronize every user of the domain's directory now.
    Sync { domain: String },
}

impl LdapCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let directory = open_directory(config).await?;
        match self {
            LdapCommand::Set { file, scope, bind_password_stdin } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let mut settings: LdapSettings =
                    toml::from_str(&text).with_context(|| format!("{} is not directory settings", file.display()))?;
                if bind_password_stdin {
                    let mut password = String::new();
                    std::io::stdin().read_line(&mut password).context("cannot read the bind password")?;
                    settings.bind_password = Some(password.trim_end_matches(['\r', '\n']).to_owned());
                }
                directory.set_ldap(&scope.scope(), settings).await?;
                println!("Directory settings saved; check them with: moat ldap check DOMAIN --user ADDRESS");
            }
            LdapCommand::Show { scope } => match directory.ldap_settings(&scope.scope()).await? {
                Some(settings) => print!("{}", toml::to_string(&settings)?),
                None => println!("No directory is set here."),
            },
            LdapCommand::Check { domain, user, alias } => {
                let check = directory.check_ldap(&domain, user.as_deref(), alias.as_deref()).await?;
                let mut failed = false;
                match &check.connection_error {
                    None => println!("connection: ok (connected and bound)"),
                    Some(why) => {
                        println!("connection: FAILED: {why}");
                        failed = true;
                    }
                }
                if let Some(user) = &check.user {
                    match user {
                        Ok((primary, name)) => println!("user: {primary} ({})", name.as_deref().unwrap_or("no name")),
                        Err(why) => {
                            println!("user: FAILED: {why}");
                            failed = true;
                        }
                    }
                }
                if let Some(alias) = &check.alias {
                    match alias {
                        Ok(primary) => println!("alias: of {primary}"),
                        Err(why) => {
                            println!("alias: FAILED: {why}");
                            failed = true;
                        }
                    }
                }
                if failed {
                    anyhow::bail!("the directory check failed");
                }
            }
            LdapCommand::Sync { domain } => {
                // The contact's summary is queued from here; the server delivers it.
                let told = std::sync::Arc::new(Collected::default());
                let directory = directory.with_notifier(told.clone());
                let report = directory.sync_ldap_of(&domain).await?;
                let queue = super::queue(config, directory.store())?;
                let notifications: Vec<_> = told.0.lock().expect("notices lock").drain(..).collect();
                for notification in notifications {
                    moat_smtp::queue::notices::queue_one(&queue, &notification).await?;
                }
                println!(
                    "Synchronized: {} new, {} renamed, {} aliases added, {} no longer in the directory{}.",
                    report.added.len(),
                    report.renamed.len(),
                    report.aliases_added,
                    report.departed.len(),
                    if report.removed { " (removed)" } else { " (kept)" }
                );
                for gone in &report.departed {
                    println!("  departed: {gone}");
                }
            }
        }
        Ok(())
    }
}

/// Notifications gathered while a command runs, queued before it ends.
#[derive(Debug, Default)]
struct Collected(std::sync::Mutex<Vec<moat_directory::Notification>>);

impl moat_directory::Notifier for Collected {
    fn send(&self, notification: moat_directory::Notification) {
        self.0.lock().expect("notices lock").push(notification);
    }
}
