use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use moat_filter::{Action, Capabilities, FilterEngine, Limits, MessageFacts, ParsedMessage, RecipientFacts};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PluginCommand {
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
    },
}

impl PluginCommand {
    pub async fn run(self, _config: &Config) -> anyhow::Result<()> {
        let PluginCommand::Test { plugin, messages, config, sender, recipients, fuel } = self;
        let bytes = std::fs::read(&plugin).with_context(|| format!("cannot read {}", plugin.display()))?;
        let name = plugin.file_stem().map_or("plugin".into(), |s| s.to_string_lossy().into_owned());
        let engine = FilterEngine::new(None, Limits { fuel, ..Limits::default() })?;
        let plugin = engine.load(&name, &bytes)?;
        match plugin.configure(&config).result {
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => anyhow::bail!("{name} refused its configuration: {refusal}"),
            Err(failure) => anyhow::bail!("{name} failed while checking its configuration: {failure:?}"),
        }
        for path in &messages {
            let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let facts = envelope(&raw, sender.as_deref(), &recipients);
            let run = plugin.on_message(&ParsedMessage::parse(raw, facts), &config, &Capabilities::default());
            let cost = format!("fuel {}  {:.2} ms", run.fuel_used, run.elapsed.as_secs_f64() * 1000.0);
            match run.result {
                Err(failure) => println!("{}: FAILED {} ({failure:?})  {cost}", path.display(), failure.symbol()),
                Ok(verdict) => {
                    let score = verdict.symbols.iter().fold(0.0, |sum, s| sum + s.score);
                    println!("{}: {}  score {score:.2}  {cost}", path.display(), action(&verdict.action));
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
}

fn action(a: &Action) -> String {
    match a {
        Action::Continue => "continue".into(),
        Action::Accept => "accept".into(),
        Action::Reject { code, enhanced, text } => format!("reject {code} {enhanced} {text}"),
        Action::Tempfail { code, enhanced, text } => format!("tempfail {code} {enhanced} {text}"),
        Action::Quarantine => "quarantine".into(),
        Action::Discard => "discard".into(),
    }
}

/// The envelope a test run pretends: given on the command line, or taken from From/To.
fn envelope(raw: &[u8], sender: Option<&str>, recipients: &[String]) -> MessageFacts {
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
        ..MessageFacts::default()
    }
}
