use crate::commands;
use crate::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Moat: an email security gateway. Point your MX records at it; it accepts mail for your domains only,
/// filters it, and delivers it to your own mail servers, keeping it queued while they are down.
#[derive(Parser)]
#[command(name = "moat", version)]
struct Cli {
    /// Configuration file (default: ./moat.toml when it exists, else built-in defaults).
    #[arg(long = "config-file", global = true, env = "MOAT_CONFIG", value_name = "PATH")]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: SMTP listener, queue and delivery, metrics.
    Serve,
    /// Tenants: the customers of an MSP, each with its own domains, users and chains.
    #[command(subcommand)]
    Tenant(commands::tenant::TenantCommand),
    /// Protected domains and alias domains.
    #[command(subcommand)]
    Domain(commands::domain::DomainCommand),
    /// Mailboxes (licensed users) of protected domains.
    #[command(subcommand)]
    Mailbox(commands::mailbox::MailboxCommand),
    /// Aliases delivered to mailboxes.
    #[command(subcommand)]
    Alias(commands::mailbox::AliasCommand),
    /// The delivery queue.
    #[command(subcommand)]
    Queue(commands::queue::QueueCommand),
    /// The nodes sharing this database (several `moat serve` on one PostgreSQL).
    #[command(subcommand)]
    Node(commands::node::NodeCommand),
    /// The email log.
    #[command(subcommand)]
    Log(commands::log::LogCommand),
    /// Filter plugins (WebAssembly components).
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Allow and deny lists (senders, domains, IPs and networks; per tenant, domain or user), read by the
    /// `lists` filter.
    #[command(subcommand)]
    List(commands::list::ListCommand),
    /// The tenant's directory (LDAP, Active Directory) that signs users up.
    #[command(subcommand)]
    Ldap(commands::ldap::LdapCommand),
    /// SMTP credentials customers' mail servers relay outgoing mail with.
    #[command(subcommand)]
    SmtpCredential(commands::outbound::SmtpCredentialCommand),
    /// DKIM keys outgoing mail is signed with, and the records to publish.
    #[command(subcommand)]
    Dkim(commands::outbound::DkimCommand),
    /// Console and REST API accounts.
    #[command(subcommand)]
    Admin(commands::admin::AdminCommand),
    /// REST API tokens.
    #[command(subcommand)]
    Token(commands::admin::TokenCommand),
    /// Signature databases of the `antivirus` filter (ClamAV formats), shared by every tenant.
    #[command(subcommand)]
    Antivirus(commands::antivirus::AntivirusCommand),
    /// Filter chains: the default, per tenant, per domain.
    #[command(subcommand)]
    Chain(commands::chain::ChainCommand),
    /// Messages held by the filters.
    #[command(subcommand)]
    Quarantine(commands::quarantine::QuarantineCommand),
    /// Run a tenant's filter chain over message files (.eml, directories of them, mbox) without SMTP and
    /// print one line per message: path, action, score, symbols.
    Scan {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Whose chain (default: the default tenant's).
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON object per line: path, action, score, symbols.
        #[arg(long)]
        json: bool,
        /// Teach the filters what the chain's verdicts teach them in the gateway (autolearn, learned
        /// reputation), one message at a time in the order given, as if the mail arrived in that order.
        #[arg(long)]
        learn: bool,
    },
    /// Teach the learning filters (bayes) a tenant's spam and ham: .eml files, directories of them, or mbox.
    Learn {
        #[arg(long, num_args = 1..)]
        spam: Vec<PathBuf>,
        #[arg(long, num_args = 1..)]
        ham: Vec<PathBuf>,
        #[arg(long)]
        tenant: Option<String>,
        /// Into the operator's global base every tenant's classifier starts from.
        #[arg(long, conflicts_with = "tenant")]
        global: bool,
    },
    /// What the gateway wants an admin to know (plugins tripped, say).
    Alerts {
        /// How many, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Runs the CLI; errors print as `error: …` with their causes and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Two TLS providers are linked in (ring, which Moat uses; aws-lc-rs, which the S3 client's HTTP stack
    // brings): libraries that ask rustls for the process default must find one, so it is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command's output piped into `head` (or anything that stops reading) ends the command quietly, as a
/// Unix tool does, instead of a panic on the broken pipe. Not for `serve`, whose stdout closing must not stop
/// a server.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config_file.as_deref())?;
    if !matches!(cli.command, Command::Serve) {
        quiet_on_broken_pipe();
    }
    match cli.command {
        Command::Serve => crate::serve::serve(config).await,
        Command::Tenant(c) => c.run(&config).await,
        Command::Domain(c) => c.run(&config).await,
        Command::Mailbox(c) => c.run(&config).await,
        Command::Alias(c) => c.run(&config).await,
        Command::Queue(c) => c.run(&config).await,
        Command::Node(c) => c.run(&config).await,
        Command::Log(c) => c.run(&config).await,
        Command::Plugin(c) => c.run(&config).await,
        Command::Chain(c) => c.run(&config).await,
        Command::List(c) => c.run(&config).await,
        Command::Ldap(c) => c.run(&config).await,
        Command::Antivirus(c) => c.run(&config).await,
        Command::Admin(c) => c.run(&config).await,
        Command::SmtpCredential(c) => c.run(&config).await,
        Command::Dkim(c) => c.run(&config).await,
        Command::Token(c) => c.run(&config).await,
        Command::Quarantine(c) => c.run(&config).await,
        Command::Scan { paths, tenant, json, learn } => {
            commands::scan::scan(&config, &paths, tenant.as_deref(), json, learn).await
        }
        Command::Learn { spam, ham, tenant, global } => {
            commands::scan::learn(&config, &spam, &ham, tenant.as_deref(), global).await
        }
        Command::Alerts { limit } => commands::alerts::show(&config, limit).await,
    }
}
