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
    },
}

impl LogCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        let LogCommand::Tail { lines, follow } = self;
        let mut last = 0;
        loop {
            for e in store.log_tail(last, if last == 0 { lines } else { 1000 }).await? {
                let sender = if e.sender.is_empty() { "<>" } else { e.sender.as_str() };
                let reply = e.last_reply.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
                println!(
                    "{}  {}  [{}]{}  {sender} -> {}  {} bytes  \"{}\"  {}  {}{reply}",
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
                last = e.id;
            }
            if !follow {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
