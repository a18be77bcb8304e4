use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use moat_filter::{
    ConnectionFacts, DnsGrant, FilterEngine, KvGrant, Limits, MemoryKv, MessageFacts, ParsedMessage, RecipientFacts,
    StaticDns,
};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Start a plugin project: a filter with one hook, a native unit test, a sample message and a README.
    New {
        name: String,
        /// Where to create the project directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Depend on the SDK at this path (default: the SDK this moat was built from, if present, else the
        /// published version).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Register a plugin version: the component is validated against the filter world first.
    Add {
        /// The component, built for wasm32-wasip2.
        file: PathBuf,
        /// Name in the registry (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "0.1.0")]
        version: String,
        /// Register it for this tenant's chains only (default: the operator's, usable in every chain).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List registered plugins and their versions.
    List,
    /// Remove a plugin version, or every version.
    Remove {
        name: String,
        #[arg(long)]
        version: Option<String>,
        /// A tenant's own plugin (default: the operator's).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Run a filter plugin over messages, as the gateway would, and print its verdicts.
    Test {
        /// The plugin: a component built for wasm32-wasip2.
        plugin: PathBuf,
        /// Messages (.eml files) to run it on.
        #[arg(required = true)]
        messages: Vec<PathBuf>,
        /// The plugin's JSON configuration.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Envelope sender (default: the message's From address).
        #[arg(long)]
        sender: Option<String>,
        /// Envelope recipient (default: the message's To addresses); repeat for several.
        #[arg(long = "rcpt")]
        recipients: Vec<String>,
        /// Fuel budget per call.
        #[arg(long, default_value_t = Limits::default().fuel)]
        fuel: u64,
        /// DNS answers the plugin gets, one `NAME KIND VALUE` per line (e.g. `2.0.0.127.bl.example A
        /// 127.0.0.2`); every other name does not exist. Without it DNS is denied, as in a chain entry that
        /// grants no zone.
        #[arg(long)]
        dns: Option<PathBuf>,
        /// The SMTP client's address the plugin sees.
        #[arg(long, default_value = "192.0.2.1")]
        client_ip: String,
        /// Keep the instance between messages, as a chain entry with `warm = true` does: what the plugin
        /// builds once is built for the first message only, and later messages show the steady state's cost.
        #[arg(long)]
        warm: bool,
    },
}

impl PluginCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        match self {
            PluginCommand::New { name, dir, sdk_path } => {
                let project = super::plugin_new::create(&name, &dir, sdk_path.as_deref())?;
                println!(
                    "Created {}. Next:\n  cd {}\n  cargo test\n  cargo build --release --target wasm32-wasip2\n  \
                     moat plugin test target/wasm32-wasip2/release/{}.wasm tests/data/sample.eml",
                    project.display(),
                    project.display(),
                    name.replace('-', "_")
                );
                Ok(())
            }
            PluginCommand::Add { file, name, version, tenant } => add(config, &file, name, &version, tenant).await,
            PluginCommand::List => {
                let store = super::open_store(config).await?;
                let plugins = store.plugin_list().await?;
                let tenants: std::collections::HashMap<_, _> =
                    store.tenant_list().await?.into_iter().map(|t| (t.id, t.name)).collect();
                if plugins.is_empty() {
                    println!(
                        "No plugins registered. Add one with: moat plugin add FILTER.wasm --name NAME --version 1.0.0"
                    );
                }
                for p in plugins {
                    let owner = match p.owner {
                        None => "operator".to_owned(),
                        Some(t) => format!("tenant {}", tenants.get(&t).cloned().unwrap_or_else(|| t.0.to_string())),
                    };
                    println!(
                        "{}\t{}\t{owner}\t{}\t{} bytes\tWIT {}\tby {} at {}",
                        p.name,
                        p.version,
                        &p.sha256[..12.min(p.sha256.len())],
                        p.size,
                        p.wit_version,
                        p.uploaded_by,
                        super::time(p.uploaded_at)
                    );
                    // What the plugin says it does (SDK `describe!`), under its line.
                    if let Some(summary) = &p.summary {
                        println!("\t{summary}");
                    }
                }
                Ok(())
            }
            PluginCommand::Remove { name, version, tenant } => {
                let store = super::open_store(config).await?;
                let owner = owner(&store, tenant.as_deref()).await?;
                for live in store.chains_live().await? {
                    let Some(spec) = live.spec.as_deref().and_then(|json| moat_filter::ChainSpec::from_json(json).ok())
                    else {
                        continue;
                    };
                    let scope_owner = match live.scope {
                        moat_store::ChainScope::Default => None,
                        moat_store::ChainScope::Tenant(t) | moat_store::ChainScope::Domain(t, _) => Some(t),
                    };
                    if owner.is_some() && scope_owner != owner {
                        continue;
                    }
                    let used = spec
                        .entries
                        .iter()
                        .find(|e| e.plugin == name && version.as_ref().is_none_or(|v| e.version.as_ref() == Some(v)));
                    if let Some(entry) = used {
                        anyhow::bail!(
                            "{name} {} is used by a live chain (version {}); change that chain first (moat chain set)",
                            entry.version.as_deref().unwrap_or(""),
                            live.id
                        );
                    }
                }
                let n = store.plugin_remove(owner, &name, version.as_deref()).await?;
                println!("Removed {n} version(s) of {name}.");
                Ok(())
            }
            PluginCommand::Test {
                plugin,
                messages,
                config: plugin_config,
                sender,
                recipients,
                fuel,
                dns,
                client_ip,
                warm,
            } => {
                let dns = match dns {
                    None => None,
                    Some(path) => {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?;
                        let answers =
                            StaticDns::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                        Some(Arc::new(answers) as Arc<dyn moat_filter::Resolver>)
                    }
                };
                let envelope = TestEnvelope { sender, recipients, client_ip };
                test(&plugin, &messages, &plugin_config, &envelope, fuel, warm, dns)
            }
        }
    }
}

async fn owner(store: &moat_store::Store, tenant: Option<&str>) -> anyhow::Result<Option<moat_store::TenantId>> {
    match tenant {
        None => Ok(None),
        Some(name) => Ok(Some(store.tenant_by_name(name).await?.with_context(|| format!("no tenant {name}"))?.id)),
    }
}

async fn add(
    config: &Config,
    file: &std::path::Path,
    name: Option<String>,
    version: &str,
    tenant: Option<String>,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = name.unwrap_or_else(|| file.file_stem().map_or("plugin".into(), |s| s.to_string_lossy().into_owned()));
    let uploaded_by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let store = super::open_store(config).await?;
    let owner = owner(&store, tenant.as_deref()).await?;
    let registry = crate::serve::chains(config, &store)?;
    let sha256 = register(registry.registry(), &store, owner, &name, version, &bytes, &uploaded_by).await?;
    match tenant {
        Some(t) => println!("Registered {name} {version} for tenant {t}'s chains (sha256 {sha256})."),
        None => println!("Registered {name} {version} (sha256 {sha256})."),
    }
    Ok(())
}

/// Validates a component against the filter world and registers it (the CLI's and the console's upload) for
/// `owner`'s chains (`None`: the operator's, every chain); returns its SHA-256. A built-in's name is refused
/// in every scope.
pub(crate) async fn register(
    registry: &moat_chains::Registry,
    store: &moat_store::Store,
    owner: Option<moat_store::TenantId>,
    name: &str,
    version: &str,
    bytes: &[u8],
    uploaded_by: &str,
) -> anyhow::Result<String> {
    if crate::builtin::is_reserved(name) {
        anyhow::bail!("{name} is the name of a built-in filter: choose another name");
    }
    Ok(registry.register(store, owner, name, version, bytes, uploaded_by).await?)
}

/// The envelope and client a test run pretends.
struct TestEnvelope {
    sender: Option<String>,
    recipients: Vec<String>,
    client_ip: String,
}

fn test(
    plugin: &std::path::Path,
    messages: &[PathBuf],
    config: &str,
    envelope: &TestEnvelope,
    fuel: u64,
    warm: bool,
    dns: Option<Arc<dyn moat_filter::Resolver>>,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(plugin).with_context(|| format!("cannot read {}", plugin.display()))?;
    let name = plugin.file_stem().map_or("plugin".into(), |s| s.to_string_lossy().into_owned());
    let engine = FilterEngine::new(None, Limits { fuel, ..Limits::default() })?;
    let plugin = engine.load(&name, &bytes)?;
    // What admins will read about it (SDK `describe!`), or that it says nothing.
    match plugin.about() {
        Some(about) => println!("{name}: {}", about.summary),
        None => println!("{name}: no description (add moat_sdk::describe! to the plugin)"),
    }
    match plugin.configure(config).result {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => anyhow::bail!("{name} refused its configuration: {refusal}"),
        Err(failure) => anyhow::bail!("{name} failed while checking its configuration: {failure}"),
    }
    let mut setup = plugin.setup(config);
    setup.fuel = fuel;
    setup.warm = warm.then(Default::default);
    // A test run grants what a chain entry can: storage (in memory, shared across the messages of the run,
    // so counters and learned state carry over) and, with --dns, every name in the answers file.
    setup.capabilities.kv = Some(KvGrant::new(Arc::new(MemoryKv::default()), "test", &name));
    setup.capabilities.dns = dns.map(|resolver| DnsGrant { resolver, zones: Arc::from(vec![".".to_string()]) });
    for path in messages {
        let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let facts = facts(&raw, envelope);
        let run = plugin.on_message(&ParsedMessage::parse(raw, facts), &setup);
        let cost = format!("fuel {}  {:.2} ms", run.fuel_used, run.elapsed.as_secs_f64() * 1000.0);
        match run.result {
            Err(failure) => println!("{}: FAILED {} ({failure})  {cost}", path.display(), failure.symbol()),
            Ok(verdict) => {
                let score = verdict.symbols.iter().fold(0.0, |sum, s| sum + s.score);
                println!("{}: {}  score {score:.2}  {cost}", path.display(), verdict.action);
                for s in &verdict.symbols {
                    println!("  {:<24} {:>6.2}  {}", s.name, s.score, s.reason);
                }
                for (name, value) in &verdict.add_headers {
                    println!("  + {name}: {value}");
                }
            }
        }
    }
    Ok(())
}

/// The envelope a test run pretends: given on the command line, or taken from From/To.
fn facts(raw: &[u8], envelope: &TestEnvelope) -> MessageFacts {
    let (sender, recipients) = (envelope.sender.as_deref(), &envelope.recipients);
    let headers = mail_parser::MessageParser::new().parse_headers(raw);
    let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let from = headers.as_ref().map(|m| addresses(m.from())).unwrap_or_default();
    let to = headers.as_ref().map(|m| addresses(m.to())).unwrap_or_default();
    let recipients = if recipients.is_empty() { to } else { recipients.to_vec() };
    MessageFacts {
        sender: sender.map(str::to_owned).or_else(|| from.into_iter().next()).unwrap_or_default(),
        recipients: recipients
            .into_iter()
            .map(|address| {
                let domain = address.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
                RecipientFacts { mailbox: address.clone(), address, tenant: "default".into(), domain }
            })
            .collect(),
        connection: ConnectionFacts { client_ip: envelope.client_ip.clone(), ..ConnectionFacts::default() },
        ..MessageFacts::default()
    }
}
