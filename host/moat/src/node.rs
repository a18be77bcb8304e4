//! This process as one node among those sharing the database: registered at start, and a heartbeat the
//! console reads to tell live nodes from dead ones.

use moat_store::{Store, unix_now};
use std::time::Duration;
use tokio::sync::watch;

pub struct Node {
    store: Store,
    name: String,
    run_id: String,
    every: Duration,
}

impl Node {
    /// Registers this run of node `name`. Another run of the same name that beat within the last minute is
    /// most likely a second process given the same name — or this node restarted within a minute of a
    /// crash. Both are possible, so it is a warning, not a refusal.
    pub async fn start(store: &Store, name: &str, every: Duration) -> anyhow::Result<Self> {
        let run_id = uuid::Uuid::now_v7().simple().to_string();
        let now = unix_now();
        let this = moat_store::Node {
            name: name.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            run_id: run_id.clone(),
            started_at: now,
            heartbeat_at: now,
            beat_every: every.as_secs_f64().ceil().max(1.0) as i64,
        };
        let before = store.node_start(&this).await?;
        if let Some(before) = before.filter(|b| now - b.heartbeat_at < 60) {
            tracing::warn!(
                node = name,
                last_heartbeat_secs = now - before.heartbeat_at,
                "another run of this node name was alive moments ago: if another process uses the name, give each \
                 node its own ([cluster] node), or they take each other's deliveries"
            );
        }
        Ok(Self { store: store.clone(), name: name.to_owned(), run_id, every })
    }

    /// Beats now (the node is up: its start may have taken a while) and every interval until `stop` turns
    /// true.
    pub async fn beat(self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if let Err(e) = self.store.node_heartbeat(&self.name, &self.run_id, unix_now()).await {
                tracing::warn!("cannot record this node's heartbeat: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => break,
            }
        }
    }
}
