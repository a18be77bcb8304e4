//! Where Moat keeps message bodies: a content-addressed [`MessageStore`], each body named by the SHA-256 of
//! its bytes ([`BodyKey`]) and written durably before the `250` that accepts it.
//!
//! Three stores, one contract: the database (the default: a body commits with the rows that refer to it, and
//! a cluster's PostgreSQL is the one thing nodes share anyway), the local filesystem (one node; SQLite's
//! default until 2026-12), and S3-compatible object storage (large installations). Queued, held and kept
//! messages all live in the one store; nothing is deleted while a queue row, a quarantine row or a log row
//! inside the copy-keeping window refers to it ([`sweep`]).

mod database;
mod filesystem;
mod legacy;
mod s3;
mod sweep;

pub use database::Database;
pub use filesystem::Filesystem;
pub use legacy::adopt_legacy_spool;
pub use moat_store::BodyKey;
pub use s3::{S3, S3Settings};
pub use sweep::{GRACE, release, sweep};

use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BodyError {
    #[error("message store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Database(#[from] moat_store::StoreError),
    #[error("object storage: {0}")]
    Object(#[from] object_store::Error),
    #[error("the message store's task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub type Result<T, E = BodyError> = std::result::Result<T, E>;

/// A content-addressed store of message bodies.
#[async_trait::async_trait]
pub trait MessageStore: Send + Sync + std::fmt::Debug {
    /// Stores the bytes `parts` make together under `key` (their [`BodyKey::of`]), durably: once this
    /// returns, a crash of this process or machine does not lose them. Storing a key again renews its time.
    async fn write(&self, key: &BodyKey, parts: &[&[u8]]) -> Result<()>;

    /// The body under `key`; None when it is not (or no longer) stored.
    async fn get(&self, key: &BodyKey) -> Result<Option<Vec<u8>>>;

    /// Removes `key`; a key already gone is not an error.
    async fn delete(&self, key: &BodyKey) -> Result<()>;

    /// Keys stored (or last renewed) before `cutoff`, in unix seconds: what a sweep looks at.
    async fn stored_before(&self, cutoff: i64) -> Result<Vec<BodyKey>>;

    /// "filesystem", "database" or "s3", for logs and the status page.
    fn kind(&self) -> &'static str;

    /// Whether new bodies go into the database with the rows that refer to them, in the accept commit
    /// (`Store::accept_batch`) instead of through [`MessageStore::write`]: one commit per message instead of
    /// two, where both are the same database.
    fn stored_with_rows(&self) -> bool {
        false
    }
}

/// The message store every part of a process shares.
pub type Bodies = Arc<dyn MessageStore>;

/// Stores `parts` and returns their key.
pub async fn put(store: &dyn MessageStore, parts: &[&[u8]]) -> Result<BodyKey> {
    let key = BodyKey::of(parts);
    store.write(&key, parts).await?;
    Ok(key)
}

#[cfg(test)]
mod contract;
