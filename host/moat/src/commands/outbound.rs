//! Outbound mail: the SMTP credentials customers' servers relay with, and the DKIM keys of their domains.

use super::open_directory;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum SmtpCredentialCommand {
    /// Make a credential for a domain's mail server to relay outgoing mail through Moat (AUTH on the
    /// submission ports). Its secret is shown once.
    Add {
        domain: String,
        /// What it is for ("office Exchange").
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List credentials: username, domain, label, last use, suspension.
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    /// Revoke a credential: it cannot authenticate from now on.
    Revoke { username: String },
    /// Lift a suspension (after a compromised account was dealt with).
    Resume { username: String },
}

#[derive(Subcommand)]
pub enum DkimCommand {
    /// The DKIM records a domain must publish (TXT), signing keys first.
    Show { domain: String },
    /// New keys (RSA-2048 and Ed25519) that sign the domain's mail from now on; the previous keys stop
    /// signing but stay listed until retired, so publish the new records and keep the old ones a while.
    Rotate { domain: String },
    /// Forget a rotated key: its record may leave the DNS.
    Retire { domain: String, selector: String },
}

fn when(at: Option<i64>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map_or("never".into(), |t| t.format("%F %R").to_string())
}

impl SmtpCredentialCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let directory = open_directory(config).await?;
        match self {
            SmtpCredentialCommand::Add { domain, label } => {
                let (credential, secret) = directory.smtp_credential_create(&domain, &label).await?;
                println!("username: {}", credential.username);
                println!("password: {secret}");
                println!(
                    "Shown once: only a hash is kept. The server relays through {} ports {} (STARTTLS) or {} \
                     (TLS), authenticating with these.",
                    config.server.hostname,
                    ports(&config.submission.listen),
                    ports(&config.submission.listen_tls)
                );
            }
            SmtpCredentialCommand::List { domain } => {
                let domain = match domain {
                    Some(name) => {
                        let name = moat_directory::normalize_domain(&name)?;
                        Some(
                            directory
                                .store()
                                .domain_by_name(&name)
                                .await?
                                .ok_or_else(|| anyhow::anyhow!("no domain {name}"))?
                                .id,
                        )
                    }
                    None => None,
                };
                for c in directory.store().smtp_credential_list(None, domain).await? {
                    let state = match &c.suspended {
                        Some((at, why)) => format!("suspended {}: {why}", when(Some(*at))),
                        None => "active".into(),
                    };
                    println!("{}\t{}\t{}\tlast used {}\t{state}", c.username, c.domain, c.label, when(c.last_used_at));
                }
            }
            SmtpCredentialCommand::Revoke { username } => {
                directory.store().smtp_credential_remove(&username.to_ascii_lowercase()).await?;
                println!("Revoked {username}.");
            }
            SmtpCredentialCommand::Resume { username } => {
                if directory.store().smtp_credential_suspend(&username.to_ascii_lowercase(), None).await? {
                    println!("{username} may send again.");
                } else {
                    anyhow::bail!("{username} is not a suspended credential");
                }
            }
        }
        Ok(())
    }
}

fn ports(addrs: &[std::net::SocketAddr]) -> String {
    let ports: Vec<String> = addrs.iter().map(|a| a.port().to_string()).collect();
    if ports.is_empty() { "(none)".into() } else { ports.join(", ") }
}

impl DkimCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let directory = open_directory(config).await?;
        let records = match self {
            DkimCommand::Show { domain } => {
                let records = directory.dkim_records(&domain).await?;
                if records.is_empty() {
                    println!(
                        "{domain} has no DKIM key: its mail is sent unsigned. Make keys with `moat dkim rotate {domain}`."
                    );
                }
                records
            }
            DkimCommand::Rotate { domain } => directory.dkim_rotate(&domain).await?,
            DkimCommand::Retire { domain, selector } => {
                directory.dkim_retire(&domain, &selector).await?;
                println!("Retired {selector}: its record may be removed from the DNS.");
                return Ok(());
            }
        };
        for r in records {
            let state = if r.signing { "signing" } else { "rotated: keep published until retired" };
            println!("{}\tTXT\t\"{}\"\t({}, {state})", r.name, r.value, r.algorithm.as_str());
        }
        Ok(())
    }
}
