//! Failed sign-ins (console, SMTP AUTH), counted in the key-value table (namespace `moat:failures`) so every
//! node sees every node's: a guesser spreading attempts over a cluster gets one budget, not one per node.
//! Each key counts failures in a window that opens at its first failure.

use crate::{Result, Store};
use sqlx::Row;

const NAMESPACE: &str = "moat:failures";

/// Failures counted under one key, and when their window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    pub until: i64,
}

impl Store {
    /// The open windows of `keys` (keys with none are left out).
    pub async fn failures_of(&self, keys: &[String], now: i64) -> Result<Vec<Failures>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (3..keys.len() + 3).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT counter, expires_at FROM plugin_kv WHERE namespace = $1 AND expires_at > $2 AND key IN ({})",
            list.join(", ")
        );
        // Only numbered placeholders are formatted in; every key is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(NAMESPACE).bind(now);
        for key in keys {
            query = query.bind(key);
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|r| Failures {
                count: r.get::<Option<i64>, _>("counter").unwrap_or(0),
                until: r.get::<Option<i64>, _>("expires_at").unwrap_or(now),
            })
            .collect())
    }

    /// Counts one failure under each of `keys` (a window of `window` seconds opens at a key's first); each
    /// key's count now.
    pub async fn failure_add(&self, keys: &[String], window: i64, now: i64) -> Result<Vec<i64>> {
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            counts.push(self.kv_incr(NAMESPACE, key, 1, Some(now + window), now).await?.0);
        }
        Ok(counts)
    }

    /// Forgets `key`'s failures (a success). A read first: most successes find nothing to forget, and a read
    /// costs no commit.
    pub async fn failures_clear(&self, key: &str, now: i64) -> Result<()> {
        if self.failures_of(&[key.to_owned()], now).await?.is_empty() {
            return Ok(());
        }
        self.kv_delete(NAMESPACE, key).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::stores;

    #[tokio::test]
    async fn failures_are_counted_per_key_within_a_window() {
        for (store, _dir) in stores().await {
            let keys = ["ip 192.0.2.1".to_owned(), "account root".to_owned()];
            assert_eq!(store.failure_add(&keys, 900, 1000).await.unwrap(), [1, 1]);
            assert_eq!(store.failure_add(&keys[1..], 900, 1010).await.unwrap(), [2]);
            let open = store.failures_of(&keys, 1020).await.unwrap();
            assert_eq!(open.iter().map(|f| (f.count, f.until)).max(), Some((2, 1900)), "the window opened at 1000");
            assert!(store.failures_of(&keys, 1900).await.unwrap().is_empty(), "closed");
            assert_eq!(store.failure_add(&keys[1..], 900, 1901).await.unwrap(), [1], "a new window");
            store.failures_clear("account root", 1902).await.unwrap();
            assert!(store.failures_of(&keys, 1903).await.unwrap().is_empty());
        }
    }
}
