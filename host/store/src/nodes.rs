//! The nodes sharing this database, each saying it is alive.

use crate::{Result, Store};
use sqlx::Row;

/// A Moat process that runs (or ran) on this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub version: String,
    /// Tells one run of a node from the next (a restart).
    pub run_id: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// Seconds between its heartbeats.
    pub beat_every: i64,
}

impl Node {
    /// Whether it beat within its last three intervals.
    pub fn alive(&self, now: i64) -> bool {
        now - self.heartbeat_at <= 3 * self.beat_every.max(1)
    }
}

impl Store {
    /// Records that a node starts a run. Returns the node as it stood before, if it was known: a
    /// recent heartbeat of another run means two processes share one name (their leases would mix).
    pub async fn node_start(&self, node: &Node) -> Result<Option<Node>> {
        let before = self.nodes().await?.into_iter().find(|n| n.name == node.name);
        sqlx::query(
            "INSERT INTO nodes (name, version, run_id, started_at, heartbeat_at, beat_every) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, run_id = excluded.run_id, \
             started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, beat_every = excluded.beat_every",
        )
        .bind(&node.name)
        .bind(&node.version)
        .bind(&node.run_id)
        .bind(node.started_at)
        .bind(node.heartbeat_at)
        .bind(node.beat_every)
        .execute(self.writer())
        .await?;
        Ok(before)
    }

    /// The node's run is alive at `now`.
    pub async fn node_heartbeat(&self, name: &str, run_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE nodes SET heartbeat_at = $3 WHERE name = $1 AND run_id = $2")
            .bind(name)
            .bind(run_id)
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Every node that ever ran on this database, by name.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        let rows =
            sqlx::query("SELECT name, version, run_id, started_at, heartbeat_at, beat_every FROM nodes ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .iter()
            .map(|r| Node {
                name: r.get("name"),
                version: r.get("version"),
                run_id: r.get("run_id"),
                started_at: r.get("started_at"),
                heartbeat_at: r.get("heartbeat_at"),
                beat_every: r.get("beat_every"),
            })
            .collect())
    }

    /// Forgets a node that will not come back (`moat node forget`).
    pub async fn node_forget(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM nodes WHERE name = $1").bind(name).execute(self.writer()).await?;
        Ok(done.rows_affected() > 0)
    }
}
