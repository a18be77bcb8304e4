use crate::batch::Batch;
use crate::{Backend, Result, Store};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

/// What the email log records when a message is accepted or refused.
#[derive(Debug, Clone, Default)]
pub struct NewLogEntry {
    pub queue_id: Option<String>,
    pub received_at: i64,
    pub client_ip: String,
    pub helo: String,
    pub tls: bool,
    pub sender: String,
    pub recipients: String,
    pub size: u64,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub verdict: String,
    pub delivery_status: String,
    /// The tenant whose recipients this row is about (a message to several tenants has a row for each).
    pub tenant: Option<i64>,
    pub score: Option<f64>,
    /// The acted-on symbols, comma-separated: the short explanation.
    pub symbols: Option<String>,
    /// JSON: every chain entry's symbols, action, failure, fuel and time.
    pub report: Option<String>,
    pub direction: Direction,
    /// The message as queued or held, in the message store: a delivered message stays readable from the
    /// log while copies are kept.
    pub body: Option<crate::BodyKey>,
}

/// Which way a message went through Moat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// From the Internet to a protected domain (the MX listener).
    #[default]
    Inbound,
    /// From a customer's server, authenticated, to anywhere (the submission listeners).
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

/// One row of the email log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub id: i64,
    pub queue_id: Option<String>,
    pub received_at: i64,
    pub client_ip: String,
    pub helo: String,
    pub tls: bool,
    pub sender: String,
    pub recipients: String,
    pub size: u64,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub verdict: String,
    pub delivery_status: String,
    /// The downstream's last reply.
    pub last_reply: Option<String>,
    pub tenant: Option<i64>,
    pub score: Option<f64>,
    pub symbols: Option<String>,
    pub report: Option<String>,
    /// An admin's classification, once given.
    pub classified: Option<Classification>,
    pub direction: Direction,
    /// The message in the message store, while something keeps it there.
    pub body: Option<crate::BodyKey>,
}

/// One try at delivering a logged message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    pub recipient: String,
    pub attempted_at: i64,
    /// The node that tried.
    pub node: String,
    /// What became of the recipient: `delivered`, `queued` (to be retried) or `failed`.
    pub status: String,
    /// The downstream's reply, or why no host could be reached.
    pub reply: String,
}

/// What an admin says a logged message was, taught to the tenant's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    Spam,
    Valid,
}

impl Classification {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Valid => "valid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "spam" => Some(Self::Spam),
            "valid" => Some(Self::Valid),
            _ => None,
        }
    }
}

/// Which rows of the email log to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// One tenant's rows; `None`: every tenant's.
    pub tenant: Option<crate::TenantId>,
    /// Only rows with a recipient in one of these domains (a domain admin's view).
    pub domains: Option<Vec<crate::DomainId>>,
    /// Sender, recipients, subject or client IP containing this text (case-insensitive).
    pub text: Option<String>,
    /// Only rows whose verdict starts with this word (`rejected` also finds "rejected: 550 …").
    pub verdict: Option<String>,
    /// Only inbound or only outbound mail.
    pub direction: Option<Direction>,
    /// Only rows received at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only rows received before this time.
    pub until: Option<i64>,
    pub limit: i64,
}

fn entry_from_row(r: &AnyRow) -> LogEntry {
    LogEntry {
        id: r.get("id"),
        queue_id: r.get("queue_id"),
        received_at: r.get("received_at"),
        client_ip: r.get("client_ip"),
        helo: r.get("helo"),
        tls: r.get::<i64, _>("tls") != 0,
        sender: r.get("sender"),
        recipients: r.get("recipients"),
        size: r.get::<i64, _>("size") as u64,
        subject: r.get("subject"),
        message_id: r.get("message_id"),
        verdict: r.get("verdict"),
        delivery_status: r.get("delivery_status"),
        last_reply: r.get("last_reply"),
        tenant: r.get("tenant_id"),
        score: r.get("score"),
        symbols: r.get("symbols"),
        report: r.get("report"),
        classified: r.get::<Option<&str>, _>("classified").and_then(Classification::parse),
        direction: Direction::parse(r.get("direction")).unwrap_or_default(),
        body: crate::bodies::key_column(r, "body"),
    }
}

const LOG_COLUMNS: &str = "id, queue_id, received_at, client_ip, helo, tls, sender, recipients, size, subject, \
                           message_id, verdict, delivery_status, last_reply, tenant_id, score, symbols, report, \
                           classified, direction, body";

/// The columns a new log row is written with (`logs_insert`), and the place of `score` among them (counted
/// from 1, as placeholders are).
const INSERTED_COLUMNS: usize = 19;
const SCORE_COLUMN: usize = 15;

/// The recipients' (or sender's) domains, lower case, each once.
fn domain_names(addresses: &str) -> Vec<String> {
    let mut names: Vec<String> = addresses
        .split(',')
        .filter_map(|r| r.trim().rsplit_once('@'))
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Moat's own messages (notices, bounces: the null sender, from this host) are not mail the customers got.
const NOT_OWN_MAIL: &str = "NOT (sender = '' AND client_ip = '127.0.0.1')";

/// Appends "received in `[since, until)`" to `sql`. The times are integers formatted in, like ids: nothing
/// typed reaches the SQL text.
pub(crate) fn received_within(sql: &mut String, since: Option<i64>, until: Option<i64>) {
    if let Some(since) = since {
        sql.push_str(&format!(" AND received_at >= {since}"));
    }
    if let Some(until) = until {
        sql.push_str(&format!(" AND received_at < {until}"));
    }
}

/// `text` as a LIKE pattern matching it literally (with `ESCAPE '\\'`).
pub(crate) fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Appends "a recipient in one of `domains`" to `sql`: an exact match on the domain ids recorded with the
/// row (`message_log_domains`), never a text match on the recipients (`acme.co` is not `acme.com`).
fn for_domains(sql: &mut String, domains: Option<&[crate::DomainId]>) {
    let Some(domains) = domains else { return };
    if domains.is_empty() {
        sql.push_str(" AND 1 = 0");
        return;
    }
    let ids = crate::sql::id_list(domains.iter().map(|d| d.0));
    sql.push_str(&format!(" AND id IN (SELECT log_id FROM message_log_domains WHERE domain_id IN ({ids}))"));
}

impl Store {
    /// Inserts `entries` with the protected domains each was for (a domain's admins see the mail their domain
    /// received, and the mail it sent) and returns their ids, in order. Must run inside the writer's transaction.
    ///
    /// The ids are taken ahead — PostgreSQL's identity sequence, or on SQLite the next after the table's
    /// largest, which is what SQLite would pick (one writer at a time: a writer of another process that
    /// slipped in between makes this commit fail, never two rows share an id) — so a group commit's rows go
    /// as one multi-row insert for the rows and one for their domains, not two statements a message: on
    /// SQLite every statement is a round trip to the connection's thread.
    pub(crate) async fn logs_insert(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
        entries: &[&NewLogEntry],
    ) -> Result<Vec<i64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ids = Self::log_ids_ahead(conn, backend, entries.len()).await?;
        let mut batch = Batch::new(backend);
        Self::logs_push(&mut batch, &ids, entries);
        batch.execute(conn).await?;
        Ok(ids)
    }

    /// Adds the statements writing `entries` under `ids` (from [`Store::log_ids_ahead`]) to `batch`.
    pub(crate) fn logs_push(batch: &mut Batch, ids: &[i64], entries: &[&NewLogEntry]) {
        let rows: Vec<(i64, &NewLogEntry)> = ids.iter().copied().zip(entries.iter().copied()).collect();
        for chunk in rows.chunks(crate::sql::ROWS_PER_INSERT / 2) {
            // The score as text: sqlx's Any driver sends a NULL f64 with another type than a present one, and
            // PostgreSQL keeps the parameter types of a connection's first preparation, so a score after a NULL
            // would fail.
            let text = |first: usize| {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        let p = |n: usize| format!("${}", first - 1 + i * INSERTED_COLUMNS + n);
                        let mut row: Vec<String> = (1..=INSERTED_COLUMNS).map(p).collect();
                        row[SCORE_COLUMN - 1] = format!("CAST({} AS DOUBLE PRECISION)", p(SCORE_COLUMN));
                        format!("({})", row.join(", "))
                    })
                    .collect();
                format!(
                    "INSERT INTO message_log (id, queue_id, received_at, client_ip, helo, tls, sender, recipients, \
                     size, subject, message_id, verdict, delivery_status, tenant_id, score, symbols, report, \
                     direction, body) VALUES {}",
                    values.join(", ")
                )
            };
            let mut values = batch.push(text);
            for (id, e) in chunk {
                values
                    .bind(*id)
                    .bind(&e.queue_id)
                    .bind(e.received_at)
                    .bind(&e.client_ip)
                    .bind(&e.helo)
                    .bind(i64::from(e.tls))
                    .bind(&e.sender)
                    .bind(&e.recipients)
                    .bind(e.size as i64)
                    .bind(&e.subject)
                    .bind(&e.message_id)
                    .bind(&e.verdict)
                    .bind(&e.delivery_status)
                    .bind(e.tenant)
                    .bind(e.score.map(|s| s.to_string()))
                    .bind(&e.symbols)
                    .bind(&e.report)
                    .bind(e.direction.as_str())
                    .bind(e.body.as_ref().map(|k| k.as_str().to_owned()));
            }
        }
        let domains: Vec<(i64, String)> = rows
            .iter()
            .flat_map(|(id, e)| {
                let addresses = match e.direction {
                    Direction::Inbound => &e.recipients,
                    Direction::Outbound => &e.sender,
                };
                domain_names(addresses).into_iter().map(move |name| (*id, name))
            })
            .collect();
        for chunk in domains.chunks(crate::sql::ROWS_PER_INSERT) {
            // A domain's row, and its primary's when it is an alias domain.
            let text = |first: usize| {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| format!("(CAST(${} AS BIGINT), ${})", first + 2 * i, first + 2 * i + 1))
                    .collect();
                format!(
                    "WITH logged (log_id, name) AS (VALUES {}) \
                     INSERT INTO message_log_domains (log_id, domain_id) \
                     SELECT logged.log_id, domains.id FROM logged JOIN domains ON domains.name = logged.name \
                     UNION SELECT logged.log_id, domains.alias_of FROM logged JOIN domains ON domains.name = logged.name \
                     WHERE domains.alias_of IS NOT NULL",
                    values.join(", ")
                )
            };
            let mut values = batch.push(text);
            for (id, name) in chunk {
                values.bind(*id).bind(name);
            }
        }
    }

    /// `count` ids for new log rows.
    pub(crate) async fn log_ids_ahead(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
        count: usize,
    ) -> Result<Vec<i64>> {
        Self::log_ids_after(conn, backend, count, "").await
    }

    /// Opens the writer's transaction and takes `count` ids for new log rows in one round trip: the accept
    /// path's group commit waits for every trip to the connection's thread.
    pub(crate) async fn begin_taking_log_ids(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
        count: usize,
    ) -> Result<Vec<i64>> {
        // IMMEDIATE takes SQLite's write lock now: a write of another process (the CLI) in between makes this
        // wait (busy timeout) instead of failing at the first insert.
        let begin = match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE; ",
            Backend::Postgres => "BEGIN; ",
        };
        Self::log_ids_after(conn, backend, count, begin).await
    }

    /// Runs `before` (statements without rows) and the query taking `count` log ids, as one text: the count is
    /// written into it, so it is one simple query on either backend.
    async fn log_ids_after(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
        count: usize,
        before: &str,
    ) -> Result<Vec<i64>> {
        use sqlx::Row;
        Ok(match backend {
            Backend::Postgres => {
                let text = format!(
                    "{before}SELECT nextval(pg_get_serial_sequence('message_log', 'id')) FROM generate_series(1, {count})"
                );
                let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).fetch_all(&mut *conn).await?;
                rows.iter().map(|row| row.try_get::<i64, _>(0)).collect::<std::result::Result<_, _>>()?
            }
            Backend::Sqlite => {
                let text = format!("{before}SELECT COALESCE(MAX(id), 0) FROM message_log");
                let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).fetch_all(&mut *conn).await?;
                let largest: i64 = rows.first().ok_or(sqlx::Error::RowNotFound)?.try_get(0)?;
                (largest + 1..=largest + count as i64).collect()
            }
        })
    }

    /// The protected domains a logged message was for.
    pub async fn log_domains(&self, id: i64) -> Result<Vec<crate::DomainId>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT domain_id FROM message_log_domains WHERE log_id = $1")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().map(crate::DomainId).collect())
    }

    /// Logs a message that was not queued (refused at DATA, say): its row and its domains in one commit.
    pub async fn log_add(&self, entry: &NewLogEntry) -> Result<i64> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = conn.begin().await?;
        let ids = Self::logs_insert(&mut tx, self.backend(), &[entry]).await?;
        tx.commit().await?;
        Ok(ids[0])
    }

    /// Messages logged since `since`, counted by verdict: every tenant's (`None`), one tenant's, or only
    /// those with a recipient in one of `domains` (a domain admin's view).
    pub async fn log_verdict_counts(
        &self,
        since: i64,
        tenant: Option<crate::TenantId>,
        domains: Option<&[crate::DomainId]>,
    ) -> Result<Vec<(String, i64)>> {
        let mut sql = format!(
            "SELECT verdict, COUNT(*) AS n FROM message_log WHERE received_at >= $1 AND ($2 = 0 OR tenant_id = $2) \
             AND {NOT_OWN_MAIL}"
        );
        for_domains(&mut sql, domains);
        sql.push_str(" GROUP BY verdict ORDER BY verdict");
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since).bind(tenant.map_or(0, |t| t.0));
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(|r| (r.get("verdict"), r.get("n"))).collect())
    }

    /// Messages logged since `since` by verdict in buckets of `bucket` seconds (aligned to the epoch), in
    /// the same scopes as [`Store::log_verdict_counts`]: `(bucket start, verdict, count)`, oldest first.
    pub async fn log_verdict_histogram(
        &self,
        since: i64,
        bucket: i64,
        tenant: Option<crate::TenantId>,
        domains: Option<&[crate::DomainId]>,
    ) -> Result<Vec<(i64, String, i64)>> {
        let mut sql = format!(
            "SELECT (received_at / $3) * $3 AS bucket, verdict, COUNT(*) AS n FROM message_log \
             WHERE received_at >= $1 AND ($2 = 0 OR tenant_id = $2) AND {NOT_OWN_MAIL}"
        );
        for_domains(&mut sql, domains);
        sql.push_str(" GROUP BY bucket, verdict ORDER BY bucket, verdict");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(since)
            .bind(tenant.map_or(0, |t| t.0))
            .bind(bucket.max(1))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|r| (r.get("bucket"), r.get("verdict"), r.get("n"))).collect())
    }

    /// The rows `query` asks for, newest first (the console's email log).
    pub async fn log_recent(&self, query: &LogQuery) -> Result<Vec<LogEntry>> {
        let mut sql = format!("SELECT {LOG_COLUMNS} FROM message_log WHERE ($1 = 0 OR tenant_id = $1)");
        for_domains(&mut sql, query.domains.as_deref());
        let mut texts = Vec::new();
        if let Some(text) = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let n = texts.len() + 3;
            sql.push_str(&format!(
                " AND (LOWER(sender) LIKE ${n} ESCAPE '\\' OR LOWER(recipients) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(COALESCE(subject, '')) LIKE ${n} ESCAPE '\\' OR client_ip LIKE ${n} ESCAPE '\\')"
            ));
            texts.push(format!("%{}%", like_escaped(&text.to_lowercase())));
        }
        if let Some(verdict) = &query.verdict {
            // A prefix: refusals at DATA are logged as "rejected: <reply>".
            sql.push_str(&format!(" AND verdict LIKE ${} ESCAPE '\\'", texts.len() + 3));
            texts.push(format!("{}%", like_escaped(verdict)));
        }
        if let Some(direction) = query.direction {
            sql.push_str(&format!(" AND direction = ${}", texts.len() + 3));
            texts.push(direction.as_str().to_owned());
        }
        received_within(&mut sql, query.since, query.until);
        sql.push_str(" ORDER BY id DESC LIMIT $2");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(query.tenant.map_or(0, |t| t.0)).bind(query.limit);
        for p in &texts {
            q = q.bind(p);
        }
        Ok(q.fetch_all(self.pool()).await?.iter().map(entry_from_row).collect())
    }

    /// Records an admin's classification of a row.
    pub async fn log_classify(&self, id: i64, classification: Classification) -> Result<()> {
        sqlx::query("UPDATE message_log SET classified = $1 WHERE id = $2")
            .bind(classification.as_str())
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Removes log rows received before `before`; returns how many.
    pub async fn log_purge(&self, before: i64) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        for table in ["message_log_domains", "delivery_attempts"] {
            // The table names are this code's own.
            let sql =
                format!("DELETE FROM {table} WHERE log_id IN (SELECT id FROM message_log WHERE received_at < $1)");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM message_log WHERE received_at < $1").bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Every delivery attempt of a logged message, oldest first.
    pub async fn log_attempts(&self, log_id: i64) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT recipient, attempted_at, node, status, reply FROM delivery_attempts WHERE log_id = $1 \
             ORDER BY attempted_at, id",
        )
        .bind(log_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DeliveryAttempt {
                recipient: r.get("recipient"),
                attempted_at: r.get("attempted_at"),
                node: r.get("node"),
                status: r.get("status"),
                reply: r.get("reply"),
            })
            .collect())
    }

    pub async fn log_get(&self, id: i64) -> Result<Option<LogEntry>> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM message_log WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(entry_from_row))
    }

    /// The newest `limit` rows with an id above `after`, oldest first (for `moat log tail`).
    pub async fn log_tail(&self, after: i64, limit: i64) -> Result<Vec<LogEntry>> {
        let sql = format!(
            "SELECT * FROM (SELECT {LOG_COLUMNS} FROM message_log WHERE id > $1 ORDER BY id DESC LIMIT $2) newest \
             ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;

    /// A statement first prepared with a NULL score must still take a score later (PostgreSQL keeps the
    /// parameter types of the first preparation).
    #[tokio::test]
    async fn rows_without_and_with_a_score_share_one_statement() {
        for (store, _dir) in stores().await {
            let entry =
                NewLogEntry { verdict: "accepted".into(), delivery_status: "queued".into(), ..Default::default() };
            let scored =
                NewLogEntry { score: Some(7.5), tenant: Some(1), verdict: "quarantined".into(), ..entry.clone() };
            // Enough rows that every pooled connection prepares the statement with a NULL first.
            for _ in 0..20 {
                store.log_add(&entry).await.unwrap();
            }
            for _ in 0..20 {
                store.log_add(&scored).await.unwrap();
            }
            let rows = store.log_tail(0, 100).await.unwrap();
            assert_eq!(rows.iter().filter(|r| r.score == Some(7.5)).count(), 20);
            let counts = store.log_verdict_counts(0, None, None).await.unwrap();
            assert_eq!(counts, [("accepted".to_owned(), 20), ("quarantined".to_owned(), 20)]);
            let tenant = store.tenant_add("t", 0).await.unwrap();
            let domain = |name: &'static str| crate::test_support::plain_domain(tenant, name);
            let acme = store.domain_add(&domain("acme.test"), 0).await.unwrap();
            let acme_co = store.domain_add(&domain("acme.co"), 0).await.unwrap();
            let mine = store.log_verdict_counts(0, None, Some(&[acme])).await.unwrap();
            assert!(mine.is_empty());
            let to_acme =
                NewLogEntry { recipients: "Ann@Acme.test".into(), verdict: "clean".into(), ..Default::default() };
            let id = store.log_add(&to_acme).await.unwrap();
            let to_acme_com = NewLogEntry { recipients: "x@y.test, bob@acme.com".into(), ..to_acme.clone() };
            let com = store.log_add(&to_acme_com).await.unwrap();
            let of = |d: crate::DomainId| LogQuery { domains: Some(vec![d]), limit: 10, ..LogQuery::default() };
            let recent = store.log_recent(&of(acme)).await.unwrap();
            assert_eq!(recent.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
            assert!(store.log_recent(&of(acme_co)).await.unwrap().is_empty(), "acme.co is not acme.com");
            assert!(store.log_domains(com).await.unwrap().is_empty());
            assert_eq!(store.log_domains(id).await.unwrap(), [acme]);
            let newest = store.log_recent(&LogQuery { limit: 3, ..LogQuery::default() }).await.unwrap();
            assert_eq!(newest[0].id, com, "newest first");
            let tenant_1 = LogQuery { tenant: Some(crate::TenantId(1)), limit: 100, ..LogQuery::default() };
            assert!(store.log_recent(&tenant_1).await.unwrap().iter().all(|e| e.tenant == Some(1)));
            assert_eq!(store.log_get(id).await.unwrap().unwrap().recipients, "Ann@Acme.test");
            assert_eq!(store.log_get(id + 1000).await.unwrap(), None);
        }
    }

    /// A group's rows go in together: each keeps its own fields and domains (an alias domain's row also counts
    /// for its primary), and the ids follow the order given and the rows written before.
    #[tokio::test]
    async fn a_group_of_rows_is_written_at_once_each_with_its_own_domains() {
        for (store, _dir) in stores().await {
            let tenant = store.tenant_add("t", 0).await.unwrap();
            let domain = |name: &'static str| crate::test_support::plain_domain(tenant, name);
            let acme = store.domain_add(&domain("acme.test"), 0).await.unwrap();
            let alias =
                crate::NewDomain { alias_of: Some(acme), ..crate::test_support::plain_domain(tenant, "acme.example") };
            let acme_example = store.domain_add(&alias, 0).await.unwrap();
            let other = store.domain_add(&domain("other.test"), 0).await.unwrap();
            let before = store.log_add(&NewLogEntry { verdict: "clean".into(), ..Default::default() }).await.unwrap();
            let row = |recipients: &str, score: Option<f64>| NewLogEntry {
                recipients: recipients.into(),
                verdict: "clean".into(),
                score,
                ..Default::default()
            };
            let rows = [
                row("ann@acme.example", None),
                row("bob@other.test, Cy@ACME.test, dee@nowhere.test", Some(2.5)),
                row("eve@nowhere.test", Some(-1.0)),
            ];
            let mut conn = store.writer().acquire().await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            let ids = Store::logs_insert(&mut tx, store.backend(), &rows.iter().collect::<Vec<_>>()).await.unwrap();
            tx.commit().await.unwrap();
            drop(conn);
            assert_eq!(ids, [before + 1, before + 2, before + 3]);
            let mut alias_row = store.log_domains(ids[0]).await.unwrap();
            alias_row.sort();
            assert_eq!(alias_row, [acme, acme_example], "an alias domain's mail is its primary's too");
            let mut two = store.log_domains(ids[1]).await.unwrap();
            two.sort();
            assert_eq!(two, [acme, other]);
            assert!(store.log_domains(ids[2]).await.unwrap().is_empty());
            for (id, row) in ids.iter().zip(&rows) {
                let got = store.log_get(*id).await.unwrap().unwrap();
                assert_eq!((got.recipients.as_str(), got.score), (row.recipients.as_str(), row.score));
            }
            let after = store.log_add(&row("ann@acme.test", None)).await.unwrap();
            assert_eq!(after, before + 4);
        }
    }

    #[tokio::test]
    async fn the_log_is_searched_classified_and_purged() {
        for (store, _dir) in stores().await {
            let row = |sender: &str, subject: &str, verdict: &str, at: i64| NewLogEntry {
                sender: sender.into(),
                recipients: "ann@acme.test".into(),
                subject: Some(subject.into()),
                client_ip: "192.0.2.7".into(),
                verdict: verdict.into(),
                delivery_status: "delivered".into(),
                received_at: at,
                ..Default::default()
            };
            let old = store.log_add(&row("a@old.test", "Ancient", "clean", 100)).await.unwrap();
            let cheap =
                store.log_add(&row("deals@spam.test", "CHEAP 100% pills_now", "quarantined", 200)).await.unwrap();
            let hello = store.log_add(&row("bob@ok.test", "Hello", "clean", 300)).await.unwrap();
            let search = |text: &str, verdict: Option<&str>| LogQuery {
                text: Some(text.into()),
                verdict: verdict.map(str::to_owned),
                limit: 10,
                ..LogQuery::default()
            };
            let ids = |rows: Vec<LogEntry>| rows.iter().map(|e| e.id).collect::<Vec<_>>();
            assert_eq!(ids(store.log_recent(&search("cheap", None)).await.unwrap()), [cheap], "subject, any case");
            assert_eq!(ids(store.log_recent(&search("BOB@", None)).await.unwrap()), [hello], "sender");
            assert_eq!(ids(store.log_recent(&search("192.0.2", Some("clean"))).await.unwrap()), [hello, old]);
            assert_eq!(
                ids(store.log_recent(&search("100% pills_", None)).await.unwrap()),
                [cheap],
                "wildcards literal"
            );
            assert!(store.log_recent(&search("nobody", None)).await.unwrap().is_empty());

            assert_eq!(store.log_get(cheap).await.unwrap().unwrap().classified, None);
            store.log_classify(cheap, Classification::Valid).await.unwrap();
            assert_eq!(store.log_get(cheap).await.unwrap().unwrap().classified, Some(Classification::Valid));

            assert_eq!(store.log_purge(250).await.unwrap(), 2);
            assert_eq!(ids(store.log_recent(&LogQuery { limit: 10, ..LogQuery::default() }).await.unwrap()), [hello]);
        }
    }

    /// The status charts' data: verdicts per hour (or day), Moat's own notices left out.
    #[tokio::test]
    async fn verdicts_are_counted_per_bucket_without_moats_own_mail() {
        for (store, _dir) in stores().await {
            let row = |at: i64, verdict: &str, sender: &str, ip: &str| NewLogEntry {
                received_at: at,
                verdict: verdict.into(),
                sender: sender.into(),
                client_ip: ip.into(),
                ..Default::default()
            };
            for entry in [
                row(7200, "clean", "a@x.test", "192.0.2.1"),
                row(7300, "clean", "b@x.test", "192.0.2.1"),
                row(7400, "quarantined", "c@x.test", "192.0.2.1"),
                row(10_900, "clean", "d@x.test", "192.0.2.1"),
                row(10_950, "accepted", "", "127.0.0.1"),
            ] {
                store.log_add(&entry).await.unwrap();
            }
            let hours = store.log_verdict_histogram(3600, 3600, None, None).await.unwrap();
            let expected = [(7200, "clean", 2), (7200, "quarantined", 1), (10_800, "clean", 1)];
            let got: Vec<(i64, &str, i64)> = hours.iter().map(|(b, v, n)| (*b, v.as_str(), *n)).collect();
            assert_eq!(got, expected, "the notice from this host with the null sender is not counted");
            let counts = store.log_verdict_counts(0, None, None).await.unwrap();
            assert!(counts.iter().all(|(v, _)| v != "accepted"), "{counts:?}");
        }
    }
}
