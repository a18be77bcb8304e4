use crate::{Result, Store};
use sqlx::Row;
use sqlx::any::AnyRow;

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
    }
}

const LOG_COLUMNS: &str = "id, queue_id, received_at, client_ip, helo, tls, sender, recipients, size, subject, \
                           message_id, verdict, delivery_status, last_reply, tenant_id, score, symbols, report";

/// Appends "a recipient in one of `domains`" to `sql` (parameters from `$first`); returns their values.
fn recipient_patterns(sql: &mut String, domains: Option<&[String]>, first: usize) -> Vec<String> {
    let Some(domains) = domains else { return Vec::new() };
    let patterns: Vec<String> = domains.iter().map(|d| format!("%@{}%", d.replace(['%', '_'], ""))).collect();
    sql.push_str(" AND (1 = 0");
    for i in 0..patterns.len() {
        sql.push_str(&format!(" OR LOWER(recipients) LIKE ${}", i + first));
    }
    sql.push(')');
    patterns
}

impl Store {
    pub(crate) async fn log_insert(conn: &mut sqlx::AnyConnection, e: &NewLogEntry) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO message_log (queue_id, received_at, client_ip, helo, tls, sender, recipients, size, \
             subject, message_id, verdict, delivery_status, tenant_id, score, symbols, report) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, CAST($14 AS DOUBLE PRECISION), $15, $16) \
             RETURNING id",
        )
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
        // As text: sqlx's Any driver sends a NULL f64 with another type than a present one, and PostgreSQL
        // keeps the parameter types of a connection's first preparation, so a score after a NULL would fail.
        .bind(e.score.map(|s| s.to_string()))
        .bind(&e.symbols)
        .bind(&e.report)
        .fetch_one(&mut *conn)
        .await?)
    }

    /// Logs a message that was not queued (refused at DATA, say).
    pub async fn log_add(&self, entry: &NewLogEntry) -> Result<i64> {
        let mut conn = self.writer().acquire().await?;
        Self::log_insert(&mut conn, entry).await
    }

    /// Messages logged since `since`, counted by verdict: every tenant's (`None`), one tenant's, or only
    /// those with a recipient in one of `domains` (a domain admin's view).
    pub async fn log_verdict_counts(
        &self,
        since: i64,
        tenant: Option<crate::TenantId>,
        domains: Option<&[String]>,
    ) -> Result<Vec<(String, i64)>> {
        let mut sql = String::from(
            "SELECT verdict, COUNT(*) AS n FROM message_log WHERE received_at >= $1 AND ($2 = 0 OR tenant_id = $2)",
        );
        let patterns = recipient_patterns(&mut sql, domains, 3);
        sql.push_str(" GROUP BY verdict ORDER BY verdict");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since).bind(tenant.map_or(0, |t| t.0));
        for p in &patterns {
            query = query.bind(p);
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(|r| (r.get("verdict"), r.get("n"))).collect())
    }

    /// The newest rows of every tenant (`None`), one tenant, or (`domains`) with a recipient in those
    /// domains, newest first (the console's email log).
    pub async fn log_recent(
        &self,
        tenant: Option<crate::TenantId>,
        domains: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<LogEntry>> {
        let mut sql = format!("SELECT {LOG_COLUMNS} FROM message_log WHERE ($1 = 0 OR tenant_id = $1)");
        let patterns = recipient_patterns(&mut sql, domains, 3);
        sql.push_str(" ORDER BY id DESC LIMIT $2");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.map_or(0, |t| t.0)).bind(limit);
        for p in &patterns {
            query = query.bind(p);
        }
        Ok(query.fetch_all(self.pool()).await?.iter().map(entry_from_row).collect())
    }

    pub async fn log_get(&self, id: i64) -> Result<Option<LogEntry>> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM message_log WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(entry_from_row))
    }

    /// The newest `limit` rows with an id above `after`, oldest first (for `moat log tail`).
    pub async fn log_tail(&self, after: i64, limit: i64) -> Result<Vec<LogEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT id, queue_id, received_at, client_ip, helo, tls, sender, recipients, size, \
             subject, message_id, verdict, delivery_status, last_reply, tenant_id, score, symbols, report \
             FROM message_log WHERE id > $1 \
             ORDER BY id DESC LIMIT $2) newest ORDER BY id",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
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
            let mine = store.log_verdict_counts(0, None, Some(&["acme.test".to_owned()])).await.unwrap();
            assert!(mine.is_empty());
            let to_acme =
                NewLogEntry { recipients: "Ann@Acme.test".into(), verdict: "clean".into(), ..Default::default() };
            let id = store.log_add(&to_acme).await.unwrap();
            let recent = store.log_recent(None, Some(&["acme.test".to_owned()]), 10).await.unwrap();
            assert_eq!(recent.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
            assert_eq!(store.log_recent(None, None, 3).await.unwrap()[0].id, id, "newest first");
            assert!(
                store
                    .log_recent(Some(crate::TenantId(1)), None, 100)
                    .await
                    .unwrap()
                    .iter()
                    .all(|e| e.tenant == Some(1))
            );
            assert_eq!(store.log_get(id).await.unwrap().unwrap().recipients, "Ann@Acme.test");
            assert_eq!(store.log_get(id + 1000).await.unwrap(), None);
        }
    }
}
