use super::{open_store, time};
use crate::config::Config;
use clap::Subcommand;
use moat_store::{QueuedMessage, RecipientStatus};

#[derive(Subcommand)]
pub enum QueueCommand {
    /// List queued messages and where each recipient stands.
    List,
    /// Show one queued message: envelope, recipients, and the message header.
    Show { id: String },
    /// Retry every waiting recipient now (the server picks it up within its poll interval).
    Flush,
    /// Drop a message from the queue without delivering it (its body goes with the next retention pass).
    Delete { id: String },
}

impl QueueCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            QueueCommand::List => {
                let messages = store.queue_list(None, None, i64::MAX).await?;
                if messages.is_empty() {
                    println!("The queue is empty.");
                }
                for m in &messages {
                    print_message(m);
                }
                let waiting = store.queue_status().await?;
                if waiting.messages > 0 {
                    println!("{} message(s), {} recipient(s) waiting.", waiting.messages, waiting.recipients);
                }
            }
            QueueCommand::Show { id } => {
                let m = store.queue_get(&id).await?.ok_or_else(|| anyhow::anyhow!("no queued message {id}"))?;
                print_message(&m);
                super::print_header_section(config, &store, &id, m.body.as_ref()).await?;
            }
            QueueCommand::Flush => {
                let n = store.queue_flush().await?;
                println!("{n} recipient(s) due now.");
            }
            QueueCommand::Delete { id } => {
                store.queue_delete(&id).await?;
                println!("Deleted {id}.");
            }
        }
        Ok(())
    }
}

fn print_message(m: &QueuedMessage) {
    let sender = if m.sender.is_empty() { "<>" } else { m.sender.as_str() };
    println!("{}  {}  {} bytes  from {sender}", m.id, time(m.received_at), m.size);
    for r in &m.recipients {
        let state = match r.status {
            RecipientStatus::Queued => format!("queued, next attempt {}", time(r.next_attempt_at)),
            RecipientStatus::Delivered => "delivered".into(),
            RecipientStatus::Failed => "failed".into(),
        };
        let reply = r.last_reply.as_deref().map(|l| format!(" — {l}")).unwrap_or_default();
        println!("    {} ({}; {} attempt(s)){reply}", r.address, state, r.attempts);
    }
}
