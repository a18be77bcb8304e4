use super::{open_store, time};
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Print the newest log entries; with --follow, keep printing new ones.
    Tail {
        /// How many entries.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: i64,
        #[arg(short, long)]
        follow: bool,
        /// Also print each filter's part in the verdict: symbols, action, failure, fuel and time.
        #[arg(short, long)]
        verbose: bool,
    },
}

impl LogCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        let LogCommand::Tail { lines, follow, verbose } = self;
        let mut last = 0;
        loop {
            for e in store.log_tail(last, if last == 0 { lines } else { 1000 }).await? {
                let sender = if e.sender.is_empty() { "<>" } else { e.sender.as_str() };
                let reply = e.last_reply.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
                let score = e.score.map(|s| format!(" {s:.1}")).unwrap_or_default();
                let symbols =
                    e.symbols.as_deref().filter(|s| !s.is_empty()).map(|s| format!(" [{s}]")).unwrap_or_default();
                println!(
                    "{}  {}  [{}]{}  {sender} -> {}  {} bytes  \"{}\"  {}{score}{symbols}  {}{reply}",
                    time(e.received_at),
                    e.queue_id.as_deref().unwrap_or("-"),
                    e.client_ip,
                    if e.tls { " TLS" } else { "" },
                    e.recipients,
                    e.size,
                    e.subject.as_deref().unwrap_or(""),
                    e.verdict,
                    e.delivery_status,
                );
                if verbose && let Some(report) = &e.report {
                    print_report(report);
                }
                last = e.id;
            }
            if !follow {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

/// One line per chain entry that ran, from the log row's JSON report.
fn print_report(report: &str) {
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(report) else { return };
    for entry in entries {
        let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let symbols: Vec<String> = entry
            .get("symbols")
            .and_then(|s| s.as_array())
            .map(|list| {
                list.iter()
                    .map(|s| {
                        let name = s.get("name").and_then(|v| v.as_str()).unwrap_or("?");
                        format!("{name} {:.1}", s.get("score").and_then(|v| v.as_f64()).unwrap_or(0.0))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut line = format!("    {} ({})", text("plugin"), text("stage"));
        if entry.get("shadow").and_then(|v| v.as_bool()) == Some(true) {
            line.push_str(" shadow");
        }
        if !symbols.is_empty() {
            line.push_str(&format!(": {}", symbols.join(", ")));
        }
        if let Some(action) = entry.get("action").and_then(|v| v.as_str()) {
            line.push_str(&format!("; {action}"));
        }
        if let Some(failure) = entry.get("failure").and_then(|v| v.as_str()) {
            line.push_str(&format!("; FAILED: {failure}"));
        }
        let fuel = entry.get("fuel").and_then(|v| v.as_u64()).unwrap_or(0);
        let micros = entry.get("micros").and_then(|v| v.as_u64()).unwrap_or(0);
        line.push_str(&format!("  (fuel {fuel}, {micros} µs)"));
        println!("{line}");
        for symbol in entry.get("symbols").and_then(|s| s.as_array()).into_iter().flatten() {
            let reason = symbol.get("reason").and_then(|v| v.as_str()).unwrap_or("");
            if !reason.is_empty() {
                println!("        {}: {reason}", symbol.get("name").and_then(|v| v.as_str()).unwrap_or("?"));
            }
        }
    }
}
