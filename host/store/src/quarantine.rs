use crate::batch::Batch;
use crate::{BodyKey, Direction, Result, Store, StoreError, TenantId};
use sqlx::Row;

/// A message held instead of delivered, for one tenant's recipients.
#[derive(Debug, Clone)]
pub struct NewQuarantined {
    pub id: String,
    pub tenant: TenantId,
    pub sender: String,
    /// (address, route) pairs, as the queue would deliver them on release.
    pub recipients: Vec<(String, String)>,
    pub subject: Option<String>,
    pub score: f64,
    pub reason: String,
    pub received_at: i64,
    /// The message as held, in the message store.
    pub body: BodyKey,
    pub size: u64,
    /// Outgoing mail held is released by admins only.
    pub direction: Direction,
}

/// Which held messages to list.
#[derive(Debug, Clone, Default)]
pub struct HeldSearch {
    /// One tenant's; `None`: every tenant's.
    pub tenant: Option<TenantId>,
    /// Sender, recipients or subject containing this text (case-insensitive, literally).
    pub text: Option<String>,
    /// Received at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Received before this time.
    pub until: Option<i64>,
    pub limit: i64,
}

/// A quarantined message without its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub id: String,
    pub tenant: TenantId,
    pub sender: String,
    pub recipients: Vec<(String, String)>,
    pub subject: Option<String>,
    pub score: f64,
    pub reason: String,
    pub size: u64,
    pub received_at: i64,
    pub released_at: Option<i64>,
    pub direction: Direction,
    /// The message in the message store (None only before `moat serve` adopted an older install's bytes).
    pub body: Option<BodyKey>,
}

impl Quarantined {
    /// Whether the antivirus held it (a virus, a dangerous or unscannable attachment): the symbols the
    /// message was held for name an antivirus finding. Only admins may release such a message.
    pub fn held_by_antivirus(&self) -> bool {
        self.reason.split([',', ' ']).any(|s| s.starts_with("AV_") && s != "AV_UNSCANNED")
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Quarantined {
    Quarantined {
        id: r.get("id"),
        tenant: TenantId(r.get("tenant_id")),
        sender: r.get("sender"),
        recipients: serde_json::from_str(r.get::<&str, _>("recipients")).unwrap_or_default(),
        subject: r.get("subject"),
        score: r.get("score"),
        reason: r.get("reason"),
        size: r.get::<i64, _>("size") as u64,
        received_at: r.get("received_at"),
        released_at: r.get("released_at"),
        direction: Direction::parse(r.get("direction")).unwrap_or_default(),
        body: crate::bodies::key_column(r, "body"),
    }
}

const COLUMNS: &str =
    "id, tenant_id, sender, recipients, subject, score, reason, size, received_at, released_at, direction, body";

impl Store {
    /// Adds the statement holding `q` (logged as `log_id`) to `batch`.
    pub(crate) fn quarantine_push(batch: &mut Batch, q: &NewQuarantined, log_id: i64) {
        let text = |first: usize| {
            format!(
                "INSERT INTO quarantine (id, tenant_id, log_id, sender, recipients, subject, score, reason, size, \
                 received_at, bytes, direction, body) VALUES {}",
                crate::sql::value_rows(first, 1, 13)
            )
        };
        batch
            .push(text)
            .bind(&q.id)
            .bind(q.tenant.0)
            .bind(log_id)
            .bind(&q.sender)
            .bind(serde_json::to_string(&q.recipients).expect("pairs of strings"))
            .bind(&q.subject)
            .bind(q.score)
            .bind(&q.reason)
            .bind(q.size as i64)
            .bind(q.received_at)
            // The bytes live in the message store; this column only held them before it.
            .bind(Vec::<u8>::new())
            .bind(q.direction.as_str())
            .bind(q.body.as_str());
    }

    /// How many messages are held (not released) for one tenant, and given, with a recipient in one of
    /// `domains` (by the domains recorded with their log rows).
    pub async fn quarantine_count(&self, tenant: TenantId, domains: Option<&[crate::DomainId]>) -> Result<i64> {
        let mut sql = String::from("SELECT COUNT(*) FROM quarantine WHERE released_at IS NULL AND tenant_id = $1");
        if let Some(domains) = domains {
            let ids = crate::sql::id_list(domains.iter().map(|d| d.0));
            let ids = if ids.is_empty() { "0".to_owned() } else { ids };
            // Only integer ids are formatted in.
            sql.push_str(&format!(
                " AND log_id IN (SELECT log_id FROM message_log_domains WHERE domain_id IN ({ids}))"
            ));
        }
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_one(self.pool()).await?)
    }

    /// The newest held messages of a tenant (all tenants with `None`), not yet released.
    pub async fn quarantine_list(&self, tenant: Option<TenantId>, limit: i64) -> Result<Vec<Quarantined>> {
        self.quarantine_search(&HeldSearch { tenant, limit, ..HeldSearch::default() }).await
    }

    /// The newest held messages `search` asks for, not yet released.
    pub async fn quarantine_search(&self, search: &HeldSearch) -> Result<Vec<Quarantined>> {
        let mut sql =
            format!("SELECT {COLUMNS} FROM quarantine WHERE released_at IS NULL AND ($1 IS NULL OR tenant_id = $1)");
        let text = search.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if text.is_some() {
            sql.push_str(
                " AND (LOWER(sender) LIKE $3 ESCAPE '\\' OR LOWER(recipients) LIKE $3 ESCAPE '\\' \
                 OR LOWER(COALESCE(subject, '')) LIKE $3 ESCAPE '\\')",
            );
        }
        crate::message_log::received_within(&mut sql, search.since, search.until);
        sql.push_str(" ORDER BY received_at DESC, id DESC LIMIT $2");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(search.tenant.map(|t| t.0)).bind(search.limit);
        if let Some(text) = text {
            query = query.bind(format!("%{}%", crate::message_log::like_escaped(&text.to_lowercase())));
        }
        Ok(query.fetch_all(self.pool()).await?.iter().map(from_row).collect())
    }

    /// A held message (who it is for, why it is held, where its bytes are).
    pub async fn quarantine_get(&self, id: &str) -> Result<Option<Quarantined>> {
        let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(from_row))
    }

    /// Takes `recipients` off a held message inside `tx`: all must still be held, or nothing changes and the
    /// answer is `NotFound`. Once none is left the message is released (`delete`: removed). The old list is
    /// part of the update's condition, so two nodes taking recipients at once cannot both succeed on a stale
    /// list. Returns the message's log row.
    pub(crate) async fn quarantine_take_recipients(
        tx: &mut sqlx::AnyConnection,
        id: &str,
        recipients: &[(String, String)],
        now: i64,
        delete: bool,
    ) -> Result<Option<i64>> {
        let gone = || StoreError::NotFound { what: format!("held recipients of quarantined message {id}") };
        let row = sqlx::query("SELECT recipients, log_id FROM quarantine WHERE id = $1 AND released_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(gone)?;
        let old: String = row.get("recipients");
        let log_id: Option<i64> = row.get("log_id");
        let held: Vec<(String, String)> = serde_json::from_str(&old).unwrap_or_default();
        if recipients.is_empty() || !recipients.iter().all(|r| held.contains(r)) {
            return Err(gone());
        }
        let left: Vec<&(String, String)> = held.iter().filter(|r| !recipients.contains(r)).collect();
        let done = match (left.is_empty(), delete) {
            (true, true) => {
                sqlx::query("DELETE FROM quarantine WHERE id = $1 AND recipients = $2")
                    .bind(id)
                    .bind(&old)
                    .execute(&mut *tx)
                    .await?
            }
            _ => {
                sqlx::query(
                    "UPDATE quarantine SET recipients = $3, released_at = $4 \
                     WHERE id = $1 AND recipients = $2 AND released_at IS NULL",
                )
                .bind(id)
                .bind(&old)
                .bind(serde_json::to_string(&left).expect("pairs of strings"))
                .bind(left.is_empty().then_some(now))
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() == 0 {
            return Err(gone());
        }
        Ok(log_id)
    }

    /// Deletes a held message for `recipients` (all still held); the whole message once nobody's is left.
    pub async fn quarantine_drop_recipients(&self, id: &str, recipients: &[(String, String)], now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        Self::quarantine_take_recipients(&mut tx, id, recipients, now, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a message released (once: a second release finds nothing to do and says so).
    pub async fn quarantine_mark_released(&self, id: &str, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE quarantine SET released_at = $2 WHERE id = $1 AND released_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("unreleased quarantined message {id}") });
        }
        Ok(())
    }

    pub async fn quarantine_delete(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM quarantine WHERE id = $1").bind(id).execute(self.writer()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("quarantined message {id}") });
        }
        Ok(())
    }

    /// Removes held messages received before `before` (released or not); returns how many.
    pub async fn quarantine_purge(&self, before: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM quarantine WHERE received_at < $1").bind(before).execute(self.writer()).await?;
        Ok(done.rows_affected())
    }

    /// A tenant's incoming messages held after `since` and not released, oldest first (what users' digests
    /// list; outgoing mail held is for admins).
    pub async fn quarantine_since(&self, tenant: TenantId, since: i64) -> Result<Vec<Quarantined>> {
        let sql = format!(
            "SELECT {} FROM quarantine WHERE tenant_id = $1 AND received_at > $2 AND released_at IS NULL \
             AND direction = 'inbound' \
             ORDER BY received_at, id",
            COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(since).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(from_row).collect())
    }
}
