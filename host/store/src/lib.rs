//! Moat's storage: one sqlx pool over SQLite (the zero-set-up default) or PostgreSQL (several nodes sharing
//! one cluster), the migrations of each backend, and typed repositories. Every SQL string of Moat lives here.
//!
//! Queries are written once in the dialect both backends accept (`$1` placeholders, `RETURNING`, BIGINT
//! columns, unix-second timestamps) and run through sqlx's `Any` driver; only the migrations differ.

mod admins;
mod batch;
mod bodies;
mod branding;
mod chains;
mod digests;
mod directory_cache;
mod domains;
mod error;
mod failures;
mod import_jobs;
mod kv;
mod ldap;
mod mailboxes;
mod message_log;
mod nodes;
mod outbound;
mod plugins;
mod quarantine;
mod queue;
mod sending;
mod sessions;
mod sql;
mod tenants;

pub use admins::{Admin, AdminId, ApiToken, Delegation, Role};
pub use bodies::{BodyKey, LegacyBody};
pub use branding::{Branding, EVERY_DOMAIN};
pub use chains::{ChainGeneration, ChainScope, ChainVersion};
pub use digests::DigestDue;
pub use directory_cache::{DirectoryCache, Ticket};
pub use domains::{Domain, DomainId, DomainSettings, DownstreamHost, NewDomain, Signup};
pub use error::StoreError;
pub use failures::Failures;
pub use import_jobs::{ImportJob, ImportLineError, ImportStatus};
pub use kv::{KvEntry, KvVersion};
pub use ldap::StoredLdap;
pub use mailboxes::{Alias, ImportedUser, Mailbox, MailboxId};
pub use message_log::{Classification, DeliveryAttempt, Direction, LogEntry, LogQuery, NewLogEntry};
pub use nodes::Node;
pub use outbound::{CredentialId, DkimAlgorithm, DkimKey, SmtpCredential};
pub use plugins::{NewPlugin, PluginInfo};
pub use quarantine::{HeldSearch, NewQuarantined, Quarantined};
pub use queue::{
    Accepted, AttemptResult, ClaimRequest, DeliveryStatus, Disposition, NewQueuedMessage, QueueStatus, QueuedMessage,
    QueuedRecipient, RecipientStatus, Round, Settled,
};
pub use sending::{SendingScope, Sent};
pub use sessions::{Principal, Session};
pub use tenants::{DEFAULT_TENANT, Tenant, TenantId};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How hard SQLite works to keep a commit on disk. PostgreSQL is left to its own `synchronous_commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is fsync'd before it returns: what a mail gateway needs before it answers `250`.
    Full,
    /// No fsync at all. Only for benchmarks that measure what fsync costs.
    None,
}

/// The handle every part of Moat shares: cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite: a single connection that every write goes through, so writers queue here in arrival order
    /// (but for `urgent`) instead of sleeping in SQLite's busy handler. PostgreSQL: the same pool as reads.
    writer: AnyPool,
    /// The accept commits waiting for `writer`, which the gateway's bookkeeping lets go first.
    urgent: Arc<UrgentWrites>,
    backend: Backend,
    durability: Durability,
}

/// Commits a client is waiting on (accepted mail, before its `250`), counted while they wait for SQLite's
/// writer, so the gateway's own bookkeeping (delivery claims and settles, plugins' counters) lets them go first.
/// The writer's pool serves in arrival order: an accept that came just after a few bookkeeping writes waited
/// for all of them, and every session of its group commit with it.
#[derive(Debug, Default)]
struct UrgentWrites {
    waiting: AtomicUsize,
    none_waiting: Notify,
}

impl UrgentWrites {
    async fn none(&self) {
        loop {
            let notified = self.none_waiting.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.waiting.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// An urgent commit waiting for the writer; see [`UrgentWrites`].
struct UrgentWait<'a>(&'a UrgentWrites);

impl<'a> UrgentWait<'a> {
    fn new(urgent: &'a UrgentWrites) -> Self {
        urgent.waiting.fetch_add(1, Ordering::AcqRel);
        Self(urgent)
    }
}

impl Drop for UrgentWait<'_> {
    fn drop(&mut self) {
        if self.0.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_waiting.notify_waiters();
        }
    }
}

impl Store {
    /// Opens (creating it if needed) the database at `url` and brings its schema up to date.
    ///
    /// `url` is `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str, durability: Durability) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        // WAL lets readers (console, CLI) run beside the gateway's writes; the busy timeout makes a second
        // process (the CLI) wait for the write lock instead of failing.
        let pragmas: &'static str = match durability {
            Durability::Full => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                 PRAGMA wal_autocheckpoint = 10000;"
            }
            Durability::None => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                 PRAGMA wal_autocheckpoint = 10000;"
            }
        };
        // `probe`: SQLite's writer connection, the only one a failed write can leave inside a transaction the
        // database holds open; the readers need only sqlx's own count checked, which costs nothing. The probe
        // also sets the durability back (queue bookkeeping lowers it for its own transactions: see
        // `Store::begin_bookkeeping`).
        let probe_sql: &'static str = match durability {
            Durability::Full => "PRAGMA synchronous = FULL; BEGIN; ROLLBACK",
            Durability::None => "PRAGMA synchronous = OFF; BEGIN; ROLLBACK",
        };
        let connect = |max: u32, probe: bool| {
            let probe = probe.then_some(probe_sql);
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                // A connection a failed write left inside a transaction is never handed out again: every later
                // "commit" on it would only release a savepoint of a transaction that never ends (sqlx #3742).
                .before_acquire(move |conn, _| Box::pin(async move { Ok(clean(conn, probe).await) }))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(pragmas).await?;
                        }
                        Ok(())
                    })
                })
                .connect(&url)
        };
        let connect_error = |source| StoreError::Connect { url: redact(&url), source };
        let pool = connect(if backend == Backend::Sqlite { 8 } else { 16 }, false).await.map_err(connect_error)?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        let writer = match backend {
            Backend::Sqlite => connect(1, true).await.map_err(connect_error)?,
            Backend::Postgres => pool.clone(),
        };
        Ok(Self { pool, writer, urgent: Arc::default(), backend, durability })
    }

    /// Begins a transaction of the queue's own bookkeeping (claims, delivery rounds; also the first slices of a
    /// many-key counter write, whose last slice flushes them), which need not wait for the disk: on SQLite its
    /// commit is not fsync'd (`synchronous = NORMAL` for it; the next flushed commit carries it, and a crash
    /// before that only repeats a delivery, which at-least-once allows). What Moat acknowledges with `250` is
    /// always committed with a flush.
    pub(crate) async fn begin_bookkeeping<'c>(
        &self,
        conn: &'c mut sqlx::AnyConnection,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>> {
        use sqlx::Connection;
        Ok(match (self.backend, self.durability) {
            (Backend::Sqlite, Durability::Full) => conn.begin_with("PRAGMA synchronous = NORMAL; BEGIN").await?,
            _ => conn.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The writer for a commit a client waits on: bookkeeping that has not started lets it go first.
    pub(crate) async fn urgent_writer(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        let _waiting = UrgentWait::new(&self.urgent);
        Ok(self.writer.acquire().await?)
    }

    /// The writer for the gateway's own bookkeeping: after the urgent commits waiting for it. A bookkeeping
    /// write that got the writer while one was waiting hands it over once and queues again behind it — once
    /// only, so a flood of accepted mail never starves deliveries. (PostgreSQL has no single writer.)
    pub(crate) async fn background_writer(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        if self.backend == Backend::Postgres {
            return Ok(self.writer.acquire().await?);
        }
        self.urgent.none().await;
        let conn = self.writer.acquire().await?;
        if self.urgent.waiting.load(Ordering::Acquire) == 0 {
            return Ok(conn);
        }
        drop(conn);
        self.urgent.none().await;
        Ok(self.writer.acquire().await?)
    }

    /// Copies what the write-ahead log holds into the database (SQLite; nothing on PostgreSQL), without
    /// waiting for readers or the writer: a running gateway calls it every second, so the writer's commits
    /// never pay for a checkpoint (SQLite would run one inside whichever commit fills 1,000 pages, stalling
    /// every session waiting on that commit). Writers' own checkpoints stay as a backstop at 10,000 pages, for
    /// processes that do not call this (the CLI).
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Whether `conn` is outside any transaction, as sqlx counts it and (SQLite, with `probe`) as the database
/// says. SQLite answers a `BEGIN` inside a transaction with an error, so a `BEGIN` and `ROLLBACK` tell whether
/// it is in autocommit mode; PostgreSQL reports a failed commit itself.
async fn clean(conn: &mut sqlx::AnyConnection, probe: Option<&'static str>) -> bool {
    use sqlx::Connection;
    if conn.is_in_transaction() {
        tracing::warn!("a database connection was left inside a transaction: replacing it");
        return false;
    }
    // One round trip to the connection's worker thread for both statements; a BEGIN refused stops the batch.
    if let Some(probe) = probe
        && sqlx::raw_sql(probe).execute(&mut *conn).await.is_err()
    {
        tracing::warn!("a SQLite connection was left inside a transaction: replacing it");
        return false;
    }
    true
}

/// The one clock of the host: unix seconds, as every stored time is.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Hides the password of a database URL, so it can go in an error message or a log line.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A fresh store for one test: SQLite in a temp dir, or a new database on the PostgreSQL server named by
    /// `MOAT_TEST_POSTGRES_URL` when `backend` is Postgres (None when that server is not configured).
    pub async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let mut stores = vec![(Store::open(&url, Durability::Full).await.unwrap(), Some(dir))];
        if let Some(url) = fresh_postgres_database().await {
            stores.push((Store::open(&url, Durability::Full).await.unwrap(), None));
        }
        stores
    }

    /// A primary domain of `tenant` with no contact, limit or downstream: what most store tests need.
    pub fn plain_domain(tenant: TenantId, name: &str) -> NewDomain<'_> {
        NewDomain {
            tenant_id: tenant,
            name,
            alias_of: None,
            contact_email: None,
            max_users: None,
            language: "en",
            downstream: &[],
        }
    }

    async fn fresh_postgres_database() -> Option<String> {
        let Ok(admin_url) = std::env::var("MOAT_TEST_POSTGRES_URL") else {
            assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier: set MOAT_TEST_POSTGRES_URL");
            return None;
        };
        install_default_drivers();
        let admin = AnyPoolOptions::new().max_connections(1).connect(&admin_url).await.unwrap();
        let name = format!("moat_unit_{}", std::process::id() as u64 * 1_000_000 + rand_suffix());
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
        admin.close().await;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        Some(format!("{base}/{name}"))
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        (nanos as u64 % 1000) * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(redact("postgres://moat:secret@db:5432/moat"), "postgres://moat:***@db:5432/moat");
        assert_eq!(redact("sqlite://./moat-data/moat.db"), "sqlite://./moat-data/moat.db");
    }

    async fn synchronous(conn: &mut sqlx::AnyConnection) -> i64 {
        use sqlx::Row;
        sqlx::query("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap().get::<i64, _>(0)
    }

    /// An accepted message's commit goes before bookkeeping that queued for SQLite's writer ahead of it, and
    /// the bookkeeping still gets its turn right after.
    #[tokio::test]
    async fn a_commit_a_client_waits_on_goes_before_bookkeeping() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let store = Store::open(&url, Durability::Full).await.unwrap();
        let held = store.writer().acquire().await.unwrap();
        let (order, mut turns) = tokio::sync::mpsc::unbounded_channel();
        let waiting = |who: &'static str, urgent: bool| {
            let (store, order) = (store.clone(), order.clone());
            tokio::spawn(async move {
                let conn = if urgent { store.urgent_writer().await } else { store.background_writer().await };
                order.send(who).unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(conn);
            })
        };
        let bookkeeping = waiting("bookkeeping", false);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let accept = waiting("accept", true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        let (first, second) = (turns.recv().await.unwrap(), turns.recv().await.unwrap());
        assert_eq!((first, second), ("accept", "bookkeeping"));
        accept.await.unwrap();
        bookkeeping.await.unwrap();
    }

    /// Queue bookkeeping commits without a flush; whatever takes the writer next is back at full durability.
    #[tokio::test]
    async fn the_writer_is_back_at_full_durability_after_bookkeeping() {
        use sqlx::Acquire;
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), Durability::Full).await.unwrap();
        let mut conn = store.writer().acquire().await.unwrap();
        assert_eq!(synchronous(&mut conn).await, 2, "FULL");
        let mut tx = store.begin_bookkeeping(&mut conn).await.unwrap();
        assert_eq!(synchronous(tx.acquire().await.unwrap()).await, 1, "NORMAL inside the bookkeeping");
        tx.commit().await.unwrap();
        drop(conn);
        let mut conn = store.writer().acquire().await.unwrap();
        assert_eq!(synchronous(&mut conn).await, 2, "FULL again for the next writer");
    }

    #[tokio::test]
    async fn unknown_scheme_is_refused() {
        let err = Store::open("mysql://x", Durability::Full).await.unwrap_err();
        assert!(err.to_string().contains("mysql://x"), "{err}");
    }
}
