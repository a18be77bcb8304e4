//! Bodies in the database every node shares: the cluster's default, since it adds no service to run.

use crate::{BodyKey, MessageStore, Result};
use moat_store::Store;

#[derive(Debug, Clone)]
pub struct Database {
    store: Store,
}

impl Database {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl MessageStore for Database {
    /// Durable when the commit is: PostgreSQL's `synchronous_commit`, SQLite's `synchronous = FULL`.
    async fn write(&self, key: &BodyKey, parts: &[&[u8]]) -> Result<()> {
        Ok(self.store.body_put(key, &parts.concat(), moat_store::unix_now()).await?)
    }

    async fn get(&self, key: &BodyKey) -> Result<Option<Vec<u8>>> {
        Ok(self.store.body_get(key).await?)
    }

    async fn delete(&self, key: &BodyKey) -> Result<()> {
        Ok(self.store.body_delete(key).await?)
    }

    async fn stored_before(&self, cutoff: i64) -> Result<Vec<BodyKey>> {
        Ok(self.store.bodies_stored_before(cutoff, 100_000).await?)
    }

    fn kind(&self) -> &'static str {
        "database"
    }

    fn stored_with_rows(&self) -> bool {
        true
    }
}
