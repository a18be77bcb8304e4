use super::{open_store, time};
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// Messages held, newest first.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The envelope, verdict and header of a held message.
    Show { id: String },
    /// Deliver a held message after all.
    Release { id: String },
    /// Delete a held message for good.
    Delete { id: String },
}

impl QuarantineCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            QuarantineCommand::List { tenant, limit } => {
                let tenant = match tenant {
                    None => None,
                    Some(name) => {
                        Some(store.tenant_by_name(&name).await?.ok_or_else(|| anyhow::anyhow!("no tenant {name}"))?.id)
                    }
                };
                let held = store.quarantine_list(tenant, limit).await?;
                if held.is_empty() {
                    println!("The quarantine is empty.");
                }
                for q in held {
                    let rcpts: Vec<_> = q.recipients.iter().map(|(a, _)| a.as_str()).collect();
                    println!(
                        "{}\t{}\tfrom <{}>\tto {}\tscore {:.1}\t{}\t{}",
                        q.id,
                        time(q.received_at),
                        q.sender,
                        rcpts.join(", "),
                        q.score,
                        q.reason,
                        q.subject.unwrap_or_default()
                    );
                }
            }
            QuarantineCommand::Show { id } => {
                let q =
                    store.quarantine_get(&id).await?.ok_or_else(|| anyhow::anyhow!("no quarantined message {id}"))?;
                println!("Id:         {}", q.id);
                println!("Received:   {}", time(q.received_at));
                println!("From:       <{}>", q.sender);
                println!("To:         {}", q.recipients.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", "));
                println!("Score:      {:.1}", q.score);
                println!("Reason:     {}", q.reason);
                if let Some(at) = q.released_at {
                    println!("Released:   {}", time(at));
                }
                super::print_header_section(config, &store, &id, q.body.as_ref()).await?;
            }
            QuarantineCommand::Release { id } => {
                let queue = super::queue(config, &store)?;
                let queue_id = queue.release(&id, None).await?;
                println!("Released {id}: queued as {queue_id} (the server delivers it within its poll interval).");
            }
            QuarantineCommand::Delete { id } => {
                store.quarantine_delete(&id).await?;
                println!("Deleted {id}.");
            }
        }
        Ok(())
    }
}
