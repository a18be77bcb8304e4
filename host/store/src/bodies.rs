//! Message bodies by their content: the key type every part shares, what refers to a body (so it is kept),
//! and the database message store's table.

use crate::batch::Batch;
use crate::{Result, Store};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashSet;

/// The name of a message body in the message store: the SHA-256 of its bytes, 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BodyKey(String);

impl BodyKey {
    /// The key of the bytes `parts` make together.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
        }
        Self(hex::encode(hash.finalize()))
    }

    /// A key as stored or listed; None for anything else (a stray file, a foreign object).
    pub fn parse(s: &str) -> Option<Self> {
        let valid = s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BodyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn key_column(r: &sqlx::any::AnyRow, column: &str) -> Option<BodyKey> {
    r.get::<Option<String>, _>(column).as_deref().and_then(BodyKey::parse)
}

impl Store {
    /// Which of `keys` something still needs: a queued message, a held one (released or not, until it ages
    /// out), or a log row received after `kept_since` (a delivered copy the email log may still open).
    pub async fn bodies_referenced(&self, keys: &[BodyKey], kept_since: i64) -> Result<HashSet<BodyKey>> {
        let mut referenced = HashSet::new();
        for chunk in keys.chunks(400) {
            let list: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
            let list = list.join(", ");
            let sql = format!(
                "SELECT body FROM queue_messages WHERE body IN ({list}) \
                 UNION SELECT body FROM quarantine WHERE body IN ({list}) \
                 UNION SELECT body FROM message_log WHERE body IN ({list}) AND received_at > $1"
            );
            // Only numbered placeholders are formatted in; every key is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kept_since);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            for row in query.fetch_all(self.pool()).await? {
                referenced.extend(key_column(&row, "body"));
            }
        }
        Ok(referenced)
    }

    /// Stores a body in the database message store; storing it again only renews its time, so a sweep that
    /// saw it unreferenced and old does not take it from under a new reference.
    pub async fn body_put(&self, key: &BodyKey, bytes: &[u8], now: i64) -> Result<()> {
        let mut batch = Batch::new(self.backend());
        Self::bodies_upsert(&mut batch, &[(key, bytes)], now);
        batch.execute(&mut *self.writer().acquire().await?).await
    }

    /// The database store's bodies of messages being committed, inside that commit (one commit for both). A body
    /// twice in the group (the same message sent twice) is written once: PostgreSQL refuses to update one row
    /// twice in one statement.
    pub(crate) fn bodies_insert(batch: &mut Batch, bodies: &[(BodyKey, Vec<u8>)]) {
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<(&BodyKey, &[u8])> = bodies
            .iter()
            .filter(|(key, _)| seen.insert(key.as_str()))
            .map(|(key, bytes)| (key, bytes.as_slice()))
            .collect();
        Self::bodies_upsert(batch, &distinct, crate::unix_now());
    }

    /// Stores `bodies` (distinct keys) or renews their time, one statement for them all (by chunks).
    fn bodies_upsert(batch: &mut Batch, bodies: &[(&BodyKey, &[u8])], now: i64) {
        for chunk in bodies.chunks(crate::sql::ROWS_PER_INSERT) {
            let mut values = batch.push(|first| {
                format!(
                    "INSERT INTO message_bodies (hash, bytes, stored_at) VALUES {} \
                     ON CONFLICT (hash) DO UPDATE SET stored_at = excluded.stored_at",
                    crate::sql::value_rows(first, chunk.len(), 3)
                )
            });
            for (key, bytes) in chunk {
                values.bind(key.as_str()).bind(*bytes).bind(now);
            }
        }
    }

    pub async fn body_get(&self, key: &BodyKey) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT bytes FROM message_bodies WHERE hash = $1")
            .bind(key.as_str())
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn body_delete(&self, key: &BodyKey) -> Result<()> {
        sqlx::query("DELETE FROM message_bodies WHERE hash = $1").bind(key.as_str()).execute(self.writer()).await?;
        Ok(())
    }

    /// Keys of the database message store stored before `cutoff`, at most `limit`.
    pub async fn bodies_stored_before(&self, cutoff: i64, limit: i64) -> Result<Vec<BodyKey>> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT hash FROM message_bodies WHERE stored_at < $1 ORDER BY stored_at LIMIT $2")
                .bind(cutoff)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        Ok(keys.iter().filter_map(|k| BodyKey::parse(k)).collect())
    }

    /// Queued and held messages from before bodies had keys. Their bodies are adopted into the message store
    /// at start.
    pub async fn bodies_without_key(&self) -> Result<Vec<(String, LegacyBody)>> {
        let rows = sqlx::query(
            "SELECT id, 0 AS held FROM queue_messages WHERE body IS NULL \
             UNION ALL SELECT id, 1 AS held FROM quarantine WHERE body IS NULL",
        )
        .fetch_all(self.pool())
        .await?;
        let what = |held: i64| if held == 1 { LegacyBody::Held } else { LegacyBody::Queued };
        Ok(rows.iter().map(|r| (r.get("id"), what(r.get("held")))).collect())
    }

    /// The bytes a held message kept in its own row before bodies had keys.
    pub async fn quarantine_legacy_bytes(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT bytes FROM quarantine WHERE id = $1 AND body IS NULL")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Points an old message (queue or quarantine id `id`) and its log row at its body, now in the message
    /// store; a held message's own copy of the bytes is emptied.
    pub async fn body_adopted(&self, id: &str, what: LegacyBody, key: &BodyKey) -> Result<()> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        match what {
            LegacyBody::Queued => {
                sqlx::query("UPDATE queue_messages SET body = $1 WHERE id = $2")
                    .bind(key.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            LegacyBody::Held => {
                sqlx::query("UPDATE quarantine SET body = $1, bytes = $3 WHERE id = $2")
                    .bind(key.as_str())
                    .bind(id)
                    .bind(Vec::<u8>::new())
                    .execute(&mut *tx)
                    .await?;
            }
            LegacyBody::KeptCopy => {}
        }
        let log = match what {
            LegacyBody::Held => {
                "UPDATE message_log SET body = $1 WHERE id = (SELECT log_id FROM quarantine WHERE id = $2)"
            }
            _ => "UPDATE message_log SET body = $1 WHERE queue_id = $2 AND body IS NULL",
        };
        sqlx::query(log).bind(key.as_str()).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What an old body, from before bodies had keys, belonged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyBody {
    /// A queued message's spool file (`msg/ID`).
    Queued,
    /// A held message's bytes, in its quarantine row.
    Held,
    /// A delivered message's copy (`kept/ID`), named by its queue id.
    KeptCopy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_hash_of_the_whole_and_only_hex_parses() {
        let whole = BodyKey::of(&[b"Subject: hi\r\n\r\nbody"]);
        assert_eq!(whole, BodyKey::of(&[b"Subject: hi\r\n", b"\r\nbody"]), "parts or whole: one key");
        assert_eq!(BodyKey::parse(whole.as_str()), Some(whole.clone()));
        assert!(BodyKey::parse("../etc/passwd").is_none());
        assert!(BodyKey::parse(&whole.as_str().to_uppercase()).is_none());
        assert!(BodyKey::parse(&whole.as_str()[1..]).is_none());
    }
}
