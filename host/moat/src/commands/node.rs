//! `moat node`: the nodes sharing this database.

use super::{open_store, time};
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Every node that ran on this database: alive or not, and what it is delivering now.
    List,
    /// Forget a node that will not come back (its leases expire on their own; this only clears the list).
    Forget { name: String },
}

impl NodeCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        match self {
            NodeCommand::List => {
                let now = moat_store::unix_now();
                let leases = store.queue_leases(now).await?;
                for node in store.nodes().await? {
                    let delivering = leases.iter().find(|(owner, _)| *owner == node.name).map_or(0, |(_, n)| *n);
                    let state = if node.alive(now) { "alive" } else { "not responding" };
                    println!(
                        "{}\t{}\tversion {}\tstarted {}\tlast heartbeat {}\tdelivering {delivering}",
                        node.name,
                        state,
                        node.version,
                        time(node.started_at),
                        time(node.heartbeat_at)
                    );
                }
            }
            NodeCommand::Forget { name } => {
                anyhow::ensure!(store.node_forget(&name).await?, "no node {name}");
                println!("Forgot node {name}.");
            }
        }
        Ok(())
    }
}
