//! Plugins' key-value storage, with a change feed: every write stamps its rows with the namespace's next
//! version (taken in the write's transaction, whose lock on the version row orders writers, so versions
//! commit in order), and deletions bump the namespace's epoch. A node that keeps a namespace in memory asks
//! for the version now and then and reads only the rows changed since ([`Store::kv_changes`]), or reloads
//! when the epoch moved.

use crate::{Result, Store};
use sqlx::{AnyConnection, Row};

/// Keys one transaction of a many-key write holds the writer for at most. A classifier's lesson upserts about
/// 1,500 counters, scattered over the table: in one transaction that held SQLite's only writer 40–50 ms on a
/// busy 2-core machine, and every accepted message's commit waited behind it (the slowest 1% of the default
/// chain's messages at 32 clients all finished just after one). A slice of 250 holds it a few milliseconds.
const WRITE_SLICE: usize = 250;

/// One entry as a node keeping the namespace in memory needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    /// The value, or a counter's 8 little-endian bytes.
    pub value: Option<Vec<u8>>,
    pub expires_at: Option<i64>,
}

/// Where a namespace's change feed stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvVersion {
    /// The last write's version.
    pub version: i64,
    /// Bumped by every deletion: a reader's copy must be reloaded.
    pub epoch: i64,
}

fn entry_of(r: &sqlx::any::AnyRow) -> KvEntry {
    KvEntry { key: r.get("key"), value: value_of(r), expires_at: r.get("expires_at") }
}

/// Takes the namespace's next version in the write's transaction; a deletion also moves the epoch.
async fn next_version(conn: &mut AnyConnection, namespace: &str, deleting: bool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO plugin_kv_versions (namespace, version, epoch) VALUES ($1, 1, $2) \
         ON CONFLICT (namespace) DO UPDATE SET version = plugin_kv_versions.version + 1, \
         epoch = plugin_kv_versions.epoch + excluded.epoch RETURNING version",
    )
    .bind(namespace)
    .bind(i64::from(deleting))
    .fetch_one(conn)
    .await?)
}

/// Values and counters share a row; a counter reads back as its 8 little-endian bytes.
fn value_of(r: &sqlx::any::AnyRow) -> Option<Vec<u8>> {
    let value: Option<Vec<u8>> = r.get("value");
    value.or_else(|| r.get::<Option<i64>, _>("counter").map(|c| c.to_le_bytes().to_vec()))
}

impl Store {
    /// A plugin's stored value, unless it expired.
    pub async fn kv_get(&self, namespace: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT value, counter FROM plugin_kv WHERE namespace = $1 AND key = $2 \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(namespace)
        .bind(key)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().and_then(value_of))
    }

    /// Many keys in few round trips (a classifier's tokens), answers in the order asked.
    pub async fn kv_get_many(&self, namespace: &str, keys: &[String], now: i64) -> Result<Vec<Option<Vec<u8>>>> {
        let mut found = std::collections::HashMap::with_capacity(keys.len());
        // Bounded IN lists: both backends cap bound parameters per statement, and SQLite looks each `$N` up
        // by name, so very long lists cost more per key than a few medium ones.
        for chunk in keys.chunks(250) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "SELECT key, value, counter FROM plugin_kv WHERE namespace = $1 \
                 AND (expires_at IS NULL OR expires_at > $2) AND key IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(namespace).bind(now);
            for key in chunk {
                query = query.bind(key);
            }
            for row in query.fetch_all(self.pool()).await? {
                if let Some(value) = value_of(&row) {
                    found.insert(row.get::<String, _>("key"), value);
                }
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    pub async fn kv_set(&self, namespace: &str, key: &str, value: &[u8], expires_at: Option<i64>) -> Result<()> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let version = next_version(&mut tx, namespace, false).await?;
        sqlx::query(
            "INSERT INTO plugin_kv (namespace, key, value, counter, expires_at, version) \
             VALUES ($1, $2, $3, NULL, $4, $5) \
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, counter = NULL, \
             expires_at = excluded.expires_at, version = excluded.version",
        )
        .bind(namespace)
        .bind(key)
        .bind(value)
        .bind(expires_at)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds `delta` atomically; an expired or missing entry starts from 0 with `expires_at`, a live one keeps
    /// its expiry. Returns the new value and the entry's expiry.
    pub async fn kv_incr(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(i64, Option<i64>)> {
        let written = self.kv_add(namespace, [(key, delta, expires_at)], now, true).await?;
        let entry = written.into_iter().next().expect("one row written, one returned");
        let value = entry.value.as_deref().and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, i64::from_le_bytes);
        Ok((value, entry.expires_at))
    }

    /// Adds every delta (no expiry); see [`Store::kv_add_many`].
    pub async fn kv_incr_many(&self, namespace: &str, deltas: &[(String, i64)]) -> Result<()> {
        self.kv_add(namespace, deltas.iter().map(|(k, d)| (k.as_str(), *d, None)), 0, false).await.map(drop)
    }

    /// Adds each `(key, delta, expires_at)` as [`Store::kv_incr`] adds one: deltas of the same key are summed
    /// first (the last expiry given counts), then written with multi-row upserts in transactions of at most
    /// `WRITE_SLICE` keys, in the order given, the last one flushed to disk (it flushes the others with
    /// it). So a caller that puts its bookkeeping key last (a classifier's "this message was learned") has it
    /// written only with everything before it; a crash between slices keeps the earlier slices' counts.
    pub async fn kv_add_many(&self, namespace: &str, deltas: &[(String, i64, Option<i64>)], now: i64) -> Result<()> {
        self.kv_add(namespace, deltas.iter().map(|(k, d, e)| (k.as_str(), *d, *e)), now, false).await.map(drop)
    }

    /// [`Store::kv_add_many`], returning each key's entry as it now is (once per key) when `returning`: a
    /// classifier's thousand tokens need not come back.
    async fn kv_add<'k>(
        &self,
        namespace: &str,
        deltas: impl IntoIterator<Item = (&'k str, i64, Option<i64>)>,
        now: i64,
        returning: bool,
    ) -> Result<Vec<KvEntry>> {
        let mut summed: Vec<(&str, i64, Option<i64>)> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (key, delta, expires_at) in deltas {
            match index.get(key) {
                Some(&i) => {
                    summed[i].1 += delta;
                    summed[i].2 = expires_at;
                }
                None => {
                    index.insert(key, summed.len());
                    summed.push((key, delta, expires_at));
                }
            }
        }
        let mut values = Vec::with_capacity(if returning { summed.len() } else { 0 });
        let slices = summed.len().div_ceil(WRITE_SLICE);
        for (i, slice) in summed.chunks(WRITE_SLICE).enumerate() {
            // The writer is taken again for each slice, so what queued behind the previous one (an accepted
            // message's commit) goes first.
            let mut conn = self.background_writer().await?;
            let mut tx = if i + 1 < slices {
                self.begin_bookkeeping(&mut conn).await?
            } else {
                sqlx::Connection::begin(&mut *conn).await?
            };
            let version = next_version(&mut tx, namespace, false).await?;
            let rows: Vec<String> = (0..slice.len())
                .map(|i| format!("($1, ${}, NULL, ${}, ${}, $2)", 3 * i + 4, 3 * i + 5, 3 * i + 6))
                .collect();
            let sql = format!(
                "INSERT INTO plugin_kv (namespace, key, value, counter, expires_at, version) VALUES {} \
                 ON CONFLICT (namespace, key) DO UPDATE SET \
                   counter = CASE WHEN plugin_kv.expires_at IS NOT NULL AND plugin_kv.expires_at <= $3 \
                             THEN excluded.counter ELSE COALESCE(plugin_kv.counter, 0) + excluded.counter END, \
                   expires_at = CASE WHEN plugin_kv.expires_at IS NOT NULL AND plugin_kv.expires_at <= $3 \
                                THEN excluded.expires_at ELSE plugin_kv.expires_at END, \
                   value = NULL, version = excluded.version{}",
                rows.join(", "),
                if returning { " RETURNING key, value, counter, expires_at" } else { "" }
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(namespace).bind(version).bind(now);
            for (key, delta, expires_at) in slice {
                query = query.bind(*key).bind(*delta).bind(*expires_at);
            }
            if returning {
                values.extend(query.fetch_all(&mut *tx).await?.iter().map(entry_of));
            } else {
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(values)
    }

    /// The namespace's version and epoch now ([`KvVersion::default`] if it was never written).
    pub async fn kv_version(&self, namespace: &str) -> Result<KvVersion> {
        let row = sqlx::query("SELECT version, epoch FROM plugin_kv_versions WHERE namespace = $1")
            .bind(namespace)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map_or(KvVersion::default(), |r| KvVersion { version: r.get("version"), epoch: r.get("epoch") }))
    }

    /// The entries written after version `since`, expired or not (the reader applies the expiry).
    pub async fn kv_changes(&self, namespace: &str, since: i64) -> Result<Vec<KvEntry>> {
        let rows =
            sqlx::query("SELECT key, value, counter, expires_at FROM plugin_kv WHERE namespace = $1 AND version > $2")
                .bind(namespace)
                .bind(since)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(entry_of).collect())
    }

    /// How many entries a namespace holds (live or not yet purged).
    pub async fn kv_count(&self, namespace: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM plugin_kv WHERE namespace = $1")
            .bind(namespace)
            .fetch_one(self.pool())
            .await?)
    }

    /// Every live entry of a namespace, by key (for admin views of what a plugin keeps, such as lists).
    pub async fn kv_list(&self, namespace: &str, now: i64) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        let rows = sqlx::query(
            "SELECT key, value, counter FROM plugin_kv WHERE namespace = $1 \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY key",
        )
        .bind(namespace)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| (r.get("key"), value_of(r))).collect())
    }

    /// [`Store::kv_list`] of a namespace of `count` entries (its [`Store::kv_count`]), read as four key
    /// ranges at once: each query runs on its own pooled connection (and, on SQLite, its own worker thread),
    /// so a large namespace loads on every core. Order is not kept.
    pub async fn kv_load(&self, namespace: &str, count: i64, now: i64) -> Result<Vec<KvEntry>> {
        const PARTS: i64 = 4;
        let parts = if count < 10_000 { 1 } else { PARTS };
        let mut bounds: Vec<Option<String>> = vec![None];
        for part in 1..parts {
            let key: Option<String> =
                sqlx::query_scalar("SELECT key FROM plugin_kv WHERE namespace = $1 ORDER BY key LIMIT 1 OFFSET $2")
                    .bind(namespace)
                    .bind(count * part / parts)
                    .fetch_optional(self.pool())
                    .await?;
            bounds.push(key);
        }
        bounds.push(None);
        let range = |low: Option<String>, high: Option<String>| async move {
            let rows = sqlx::query(
                "SELECT key, value, counter, expires_at FROM plugin_kv WHERE namespace = $1 \
                 AND ($2 = '' OR key >= $2) AND ($3 = '' OR key < $3) \
                 AND (expires_at IS NULL OR expires_at > $4)",
            )
            .bind(namespace)
            .bind(low.unwrap_or_default())
            .bind(high.unwrap_or_default())
            .bind(now)
            .fetch_all(self.pool())
            .await?;
            Ok::<_, crate::StoreError>(rows.iter().map(entry_of).collect::<Vec<_>>())
        };
        if parts == 1 {
            return range(None, None).await;
        }
        let b = |i: usize| bounds[i].clone();
        let (a, b1, c, d) =
            tokio::try_join!(range(b(0), b(1)), range(b(1), b(2)), range(b(2), b(3)), range(b(3), b(4)))?;
        Ok([a, b1, c, d].concat())
    }

    /// Writes every value (no expiry) in one transaction with multi-row upserts; a key given twice keeps its
    /// last value. For bulk loads such as signature databases.
    pub async fn kv_set_many(&self, namespace: &str, entries: &[(String, Vec<u8>)]) -> Result<()> {
        let mut last: std::collections::HashMap<&str, &[u8]> = std::collections::HashMap::with_capacity(entries.len());
        let mut order: Vec<&str> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            if last.insert(key.as_str(), value.as_slice()).is_none() {
                order.push(key.as_str());
            }
        }
        let mut conn = self.writer().acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let version = next_version(&mut tx, namespace, false).await?;
        for chunk in order.chunks(400) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, ${}, ${}, NULL, NULL, $2)", 2 * i + 3, 2 * i + 4)).collect();
            let sql = format!(
                "INSERT INTO plugin_kv (namespace, key, value, counter, expires_at, version) VALUES {} \
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, counter = NULL, \
                 expires_at = NULL, version = excluded.version",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(namespace).bind(version);
            for key in chunk {
                query = query.bind(*key).bind(last[key]);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes every entry of a namespace; returns how many.
    pub async fn kv_clear(&self, namespace: &str) -> Result<u64> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        next_version(&mut tx, namespace, true).await?;
        let done = sqlx::query("DELETE FROM plugin_kv WHERE namespace = $1").bind(namespace).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Removes a key; false when it was not there.
    pub async fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        next_version(&mut tx, namespace, true).await?;
        let done = sqlx::query("DELETE FROM plugin_kv WHERE namespace = $1 AND key = $2")
            .bind(namespace)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a namespace's least recently written entries, down to at most `keep` of them, but no more than
    /// about `at_most` in this call (a transaction that deletes millions of rows would hold the writer for
    /// seconds; the caller repeats); returns how many went. Entries written by one call share a version and
    /// stay or go together, so a few less than `keep` may stay, or a few more than `at_most` go. A deletion:
    /// readers' copies reload.
    pub async fn kv_trim(&self, namespace: &str, keep: u64, at_most: u64) -> Result<u64> {
        let mut conn = self.background_writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let nth = |order: &'static str, offset: u64| {
            let sql = format!(
                "SELECT version FROM plugin_kv WHERE namespace = $1 ORDER BY version {order} LIMIT 1 OFFSET $2"
            );
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .bind(namespace)
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        };
        let Some(newest_gone) = nth("DESC", keep).fetch_optional(&mut *tx).await? else { return Ok(0) };
        let batch_end = nth("ASC", at_most.saturating_sub(1)).fetch_optional(&mut *tx).await?;
        let cut = batch_end.map_or(newest_gone, |end| end.min(newest_gone));
        next_version(&mut tx, namespace, true).await?;
        let done = sqlx::query("DELETE FROM plugin_kv WHERE namespace = $1 AND version <= $2")
            .bind(namespace)
            .bind(cut)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Drops expired entries; returns how many. Readers' copies need not hear of it: they keep each entry's
    /// expiry and stop answering with it when it passes.
    pub async fn kv_purge(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM plugin_kv WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::{KvEntry, KvVersion};
    use crate::test_support::stores;

    /// A node keeping a namespace in memory reads only what changed since the version it saw; a deletion
    /// moves the epoch, since a deleted row cannot be read back.
    #[tokio::test]
    async fn writes_are_read_back_as_changes_since_a_version() {
        for (store, _dir) in stores().await {
            let ns = "acme:bayes";
            assert_eq!(store.kv_version(ns).await.unwrap(), KvVersion::default());
            store.kv_incr_many(ns, &[("t:a".into(), 1), ("t:b".into(), 2)]).await.unwrap();
            let seen = store.kv_version(ns).await.unwrap();
            assert_eq!(seen, KvVersion { version: 1, epoch: 0 });
            assert!(store.kv_changes(ns, seen.version).await.unwrap().is_empty());

            store.kv_incr_many(ns, &[("t:b".into(), 5), ("t:c".into(), 1), ("t:c".into(), 1)]).await.unwrap();
            store.kv_set(ns, "note", b"hi", Some(500)).await.unwrap();
            store.kv_set("other:bayes", "t:a", b"x", None).await.unwrap();
            let mut changed = store.kv_changes(ns, seen.version).await.unwrap();
            changed.sort_by(|a, b| a.key.cmp(&b.key));
            let counter = |key: &str, n: i64| KvEntry {
                key: key.into(),
                value: Some(n.to_le_bytes().to_vec()),
                expires_at: None,
            };
            assert_eq!(
                changed,
                [
                    KvEntry { key: "note".into(), value: Some(b"hi".to_vec()), expires_at: Some(500) },
                    counter("t:b", 7),
                    counter("t:c", 2),
                ],
                "what changed since, with its expiry; not t:a, not another namespace"
            );
            assert_eq!(store.kv_incr(ns, "t:a", 1, None, 0).await.unwrap(), (2, None));
            assert_eq!(store.kv_version(ns).await.unwrap(), KvVersion { version: 4, epoch: 0 });

            assert!(store.kv_delete(ns, "note").await.unwrap());
            assert_eq!(store.kv_version(ns).await.unwrap(), KvVersion { version: 5, epoch: 1 }, "a deletion");
            store.kv_clear(ns).await.unwrap();
            assert_eq!(store.kv_version(ns).await.unwrap().epoch, 2);
        }
    }

    /// A learner's storage is bounded: what was learned longest ago goes first, a write's entries together.
    #[tokio::test]
    async fn trimming_keeps_the_most_recently_written_entries() {
        for (store, _dir) in stores().await {
            let ns = "acme:bayes";
            for lesson in 0..5 {
                let deltas: Vec<(String, i64)> = (0..3).map(|i| (format!("t:{lesson}-{i}"), 1)).collect();
                store.kv_incr_many(ns, &deltas).await.unwrap();
            }
            store.kv_incr_many("other:bayes", &[("t:0-0".into(), 1)]).await.unwrap();
            // The first lesson's words learned again: no longer among the oldest.
            store.kv_incr_many(ns, &[("t:0-0".into(), 1), ("n:spam".into(), 1)]).await.unwrap();
            assert_eq!(store.kv_trim(ns, 100, 100).await.unwrap(), 0, "under the bound");
            let before = store.kv_version(ns).await.unwrap();
            assert_eq!(store.kv_trim(ns, 8, 4).await.unwrap(), 5, "at most about 4 at a time: lessons 0 and 1");
            assert_eq!(store.kv_trim(ns, 8, 4).await.unwrap(), 3, "then lesson 2, but the word learned again");
            assert_eq!(store.kv_trim(ns, 8, 4).await.unwrap(), 0, "at the bound");
            let mut left: Vec<String> = store.kv_list(ns, 0).await.unwrap().into_iter().map(|(k, _)| k).collect();
            left.sort();
            assert_eq!(left, ["n:spam", "t:0-0", "t:3-0", "t:3-1", "t:3-2", "t:4-0", "t:4-1", "t:4-2"]);
            assert!(store.kv_version(ns).await.unwrap().epoch > before.epoch, "readers reload");
            assert_eq!(store.kv_count("other:bayes").await.unwrap(), 1, "another namespace untouched");
        }
    }

    /// A lesson's thousand counters never hold the only writer for long: they commit in slices, in the order
    /// given, so the mark a classifier writes last commits with the last slice.
    #[tokio::test]
    async fn many_counters_commit_in_short_slices_in_order() {
        for (store, _dir) in stores().await {
            let ns = "acme:bayes";
            let mut deltas: Vec<(String, i64)> = (0..1_000).map(|i| (format!("t:{i:04}"), 1)).collect();
            deltas.push(("t:0000".into(), 2));
            deltas.push(("m:lesson".into(), 1));
            let before = store.kv_version(ns).await.unwrap();
            store.kv_incr_many(ns, &deltas).await.unwrap();
            let after = store.kv_version(ns).await.unwrap();
            assert_eq!(after.version - before.version, 5, "1,001 keys: four slices of 250 and one");
            let last = store.kv_changes(ns, after.version - 1).await.unwrap();
            assert_eq!(last.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["m:lesson"]);
            let counters = store.kv_get_many(ns, &["t:0000".into(), "t:0999".into()], 0).await.unwrap();
            let counter = |v: &Option<Vec<u8>>| i64::from_le_bytes(v.as_deref().unwrap().try_into().unwrap());
            assert_eq!(counters.iter().map(counter).collect::<Vec<_>>(), [3, 1], "a key given twice is summed");
            assert_eq!(store.kv_count(ns).await.unwrap(), 1_001);
        }
    }

    #[tokio::test]
    async fn a_large_namespace_loads_whole_in_four_ranges() {
        for (store, _dir) in stores().await {
            let entries: Vec<(String, Vec<u8>)> =
                (0..12_345).map(|i| (format!("t:{i:05}"), (i as i64).to_le_bytes().to_vec())).collect();
            store.kv_set_many("acme:bayes", &entries).await.unwrap();
            store.kv_set("other:bayes", "t:00001", b"x", None).await.unwrap();
            let count = store.kv_count("acme:bayes").await.unwrap();
            let mut loaded = store.kv_load("acme:bayes", count, 0).await.unwrap();
            assert_eq!(loaded.len(), 12_345, "every entry once, none of another namespace");
            loaded.sort_by(|a, b| a.key.cmp(&b.key));
            let expected: Vec<KvEntry> =
                entries.into_iter().map(|(key, v)| KvEntry { key, value: Some(v), expires_at: None }).collect();
            assert_eq!(loaded, expected);
        }
    }

    #[tokio::test]
    async fn values_counters_expiry_and_namespaces() {
        for (store, _dir) in stores().await {
            store.kv_set("t1:grey", "k", b"v1", None).await.unwrap();
            store.kv_set("t1:grey", "k", b"v2", Some(50)).await.unwrap();
            assert_eq!(store.kv_get("t1:grey", "k", 10).await.unwrap().as_deref(), Some(&b"v2"[..]));
            assert_eq!(store.kv_get("t1:grey", "k", 50).await.unwrap(), None, "expired at 50");
            assert_eq!(store.kv_get("t2:grey", "k", 10).await.unwrap(), None, "another namespace");

            assert_eq!(store.kv_incr("t1:bayes", "n", 2, Some(100), 10).await.unwrap(), (2, Some(100)));
            assert_eq!(store.kv_incr("t1:bayes", "n", 3, Some(999), 20).await.unwrap(), (5, Some(100)), "kept");
            assert_eq!(store.kv_get("t1:bayes", "n", 30).await.unwrap(), Some(5i64.to_le_bytes().to_vec()));
            assert_eq!(store.kv_incr("t1:bayes", "n", 1, Some(300), 100).await.unwrap(), (1, Some(300)), "expired");
            assert_eq!(store.kv_get("t1:bayes", "n", 299).await.unwrap(), Some(1i64.to_le_bytes().to_vec()));

            let keys: Vec<String> = (0..1200).map(|i| format!("tok{i}")).collect();
            for k in keys.iter().step_by(100) {
                store.kv_incr("t1:bayes", k, 7, None, 0).await.unwrap();
            }
            let got = store.kv_get_many("t1:bayes", &keys, 0).await.unwrap();
            assert_eq!(got.len(), 1200);
            assert_eq!(got.iter().filter(|v| v.is_some()).count(), 12);
            assert_eq!(got[100], Some(7i64.to_le_bytes().to_vec()));
            assert_eq!(got[101], None);

            assert_eq!(store.kv_purge(1000).await.unwrap(), 2, "the expired value and counter");

            let deltas: Vec<(String, i64)> = vec![("tok0".into(), 3), ("fresh".into(), 2), ("fresh".into(), 1)];
            store.kv_incr_many("t1:bayes", &deltas).await.unwrap();
            let got = store.kv_get_many("t1:bayes", &["tok0".into(), "fresh".into()], 0).await.unwrap();
            assert_eq!(got, [Some(10i64.to_le_bytes().to_vec()), Some(3i64.to_le_bytes().to_vec())]);

            let mut entries: Vec<(String, Vec<u8>)> = (0..900).map(|i| (format!("h{i}"), vec![i as u8])).collect();
            entries.push(("h5".into(), b"last".to_vec()));
            store.kv_set_many("*:antivirus", &entries).await.unwrap();
            let got = store.kv_get_many("*:antivirus", &["h5".into(), "h899".into(), "h900".into()], 0).await.unwrap();
            assert_eq!(got, [Some(b"last".to_vec()), Some(vec![899u16 as u8]), None]);
            assert_eq!(store.kv_count("*:antivirus").await.unwrap(), 900);
            assert_eq!(store.kv_clear("*:antivirus").await.unwrap(), 900);
            assert_eq!(store.kv_get("*:antivirus", "h5", 0).await.unwrap(), None);
        }
    }
}
