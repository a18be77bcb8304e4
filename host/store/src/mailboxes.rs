use crate::{DomainId, Result, Store, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub i64);

/// A licensed user's primary address in a protected domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub id: MailboxId,
    pub domain_id: DomainId,
    /// Lower-case local part.
    pub local_part: String,
    pub full_name: Option<String>,
    /// `local@domain` of the mailbox.
    pub address: String,
}

/// One line of a user import, as written: a new mailbox (or an existing one, for its new aliases only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    pub existing: Option<MailboxId>,
    pub domain: DomainId,
    pub local_part: String,
    pub full_name: Option<String>,
    pub password_hash: Option<String>,
    /// (domain, local part) of each alias to add.
    pub aliases: Vec<(DomainId, String)>,
}

/// Another address delivered to a mailbox; its domain may differ from the mailbox's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub address: String,
    pub mailbox: String,
}

fn mailbox_from_row(r: &AnyRow) -> Mailbox {
    Mailbox {
        id: MailboxId(r.get("id")),
        domain_id: DomainId(r.get("domain_id")),
        local_part: r.get("local_part"),
        full_name: r.get("full_name"),
        address: r.get("address"),
    }
}

/// `SELECT` of every mailbox column and its address, followed by the given clause.
macro_rules! select_mailboxes {
    ($clause:literal) => {
        concat!(
            "SELECT m.id, m.domain_id, m.local_part, m.full_name, m.local_part || '@' || d.name AS address \
             FROM mailboxes m JOIN domains d ON d.id = m.domain_id ",
            $clause
        )
    };
}

impl Store {
    pub async fn mailbox_add(
        &self,
        domain: DomainId,
        local_part: &str,
        full_name: Option<&str>,
        now: i64,
    ) -> Result<MailboxId> {
        if self.alias_target(domain, local_part).await?.is_some() {
            return Err(StoreError::Duplicate { what: format!("address {local_part} (an alias)") });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO mailboxes (domain_id, local_part, full_name, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(domain.0)
        .bind(local_part)
        .bind(full_name)
        .bind(now)
        .fetch_one(self.writer())
        .await
        .map_err(StoreError::on_unique(|| format!("mailbox {local_part}")))?;
        Ok(MailboxId(id))
    }

    pub async fn mailbox_find(&self, domain: DomainId, local_part: &str) -> Result<Option<Mailbox>> {
        let row = sqlx::query(select_mailboxes!("WHERE m.domain_id = $1 AND m.local_part = $2"))
            .bind(domain.0)
            .bind(local_part)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(mailbox_from_row))
    }

    pub async fn mailbox_by_id(&self, id: MailboxId) -> Result<Option<Mailbox>> {
        let row = sqlx::query(select_mailboxes!("WHERE m.id = $1")).bind(id.0).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(mailbox_from_row))
    }

    pub async fn mailbox_list(&self, domain: Option<DomainId>) -> Result<Vec<Mailbox>> {
        let rows = sqlx::query(select_mailboxes!("WHERE ($1 = 0 OR m.domain_id = $1) ORDER BY d.name, m.local_part"))
            .bind(domain.map_or(0, |d| d.0))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(mailbox_from_row).collect())
    }

    pub async fn mailbox_remove(&self, domain: DomainId, local_part: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM mailboxes WHERE domain_id = $1 AND local_part = $2")
            .bind(domain.0)
            .bind(local_part)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("mailbox {local_part}") });
        }
        Ok(())
    }

    pub async fn alias_add(&self, domain: DomainId, local_part: &str, mailbox: MailboxId, now: i64) -> Result<()> {
        if self.mailbox_find(domain, local_part).await?.is_some() {
            return Err(StoreError::Duplicate { what: format!("address {local_part} (a mailbox)") });
        }
        sqlx::query("INSERT INTO aliases (domain_id, local_part, mailbox_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(domain.0)
            .bind(local_part)
            .bind(mailbox.0)
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(StoreError::on_unique(|| format!("alias {local_part}")))?;
        Ok(())
    }

    /// The mailbox an alias `local_part` of `domain` delivers to, if there is one.
    pub async fn alias_target(&self, domain: DomainId, local_part: &str) -> Result<Option<MailboxId>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT mailbox_id FROM aliases WHERE domain_id = $1 AND local_part = $2")
                .bind(domain.0)
                .bind(local_part)
                .fetch_optional(self.pool())
                .await?;
        Ok(id.map(MailboxId))
    }

    /// How many aliases deliver to a mailbox.
    pub async fn mailbox_alias_count(&self, mailbox: MailboxId) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM aliases WHERE mailbox_id = $1")
            .bind(mailbox.0)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn alias_list(&self, domain: Option<DomainId>) -> Result<Vec<Alias>> {
        let rows = sqlx::query(
            "SELECT a.local_part || '@' || ad.name AS address, m.local_part || '@' || md.name AS mailbox \
             FROM aliases a JOIN domains ad ON ad.id = a.domain_id \
             JOIN mailboxes m ON m.id = a.mailbox_id JOIN domains md ON md.id = m.domain_id \
             WHERE ($1 = 0 OR a.domain_id = $1) ORDER BY ad.name, a.local_part",
        )
        .bind(domain.map_or(0, |d| d.0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| Alias { address: r.get("address"), mailbox: r.get("mailbox") }).collect())
    }

    /// An end user's console password hash and own language, if set.
    pub async fn mailbox_credentials(&self, mailbox: MailboxId) -> Result<(Option<String>, Option<String>)> {
        let row = sqlx::query("SELECT password_hash, language FROM mailboxes WHERE id = $1")
            .bind(mailbox.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound { what: format!("mailbox #{}", mailbox.0) })?;
        Ok((row.get("password_hash"), row.get("language")))
    }

    pub async fn mailbox_set_password(&self, mailbox: MailboxId, password_hash: &str) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET password_hash = $2 WHERE id = $1")
            .bind(mailbox.0)
            .bind(password_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn mailbox_set_name(&self, mailbox: MailboxId, full_name: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET full_name = $2 WHERE id = $1")
            .bind(mailbox.0)
            .bind(full_name)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Sets an end user's language (`None`: the domain's).
    pub async fn mailbox_set_language(&self, mailbox: MailboxId, language: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET language = $2 WHERE id = $1")
            .bind(mailbox.0)
            .bind(language)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Mailboxes of the given domains whose address or full name contains `query` (case-insensitive),
    /// ordered by address.
    pub async fn mailbox_search(
        &self,
        domains: &[DomainId],
        query: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Mailbox>> {
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        let ids = crate::sql::id_list(domains.iter().map(|d| d.0));
        let escaped = query.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        // The query text is bound; the ids are integers (`id_list`).
        let sql = format!(
            "SELECT m.id, m.domain_id, m.local_part, m.full_name, m.local_part || '@' || d.name AS address \
             FROM mailboxes m JOIN domains d ON d.id = m.domain_id WHERE m.domain_id IN ({ids}) \
             AND (LOWER(m.local_part || '@' || d.name) LIKE $1 ESCAPE '\\' \
                  OR LOWER(COALESCE(m.full_name, '')) LIKE $1 ESCAPE '\\') \
             ORDER BY d.name, m.local_part LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(format!("%{escaped}%"))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(mailbox_from_row).collect())
    }

    /// Writes one batch of imported users in one transaction: new mailboxes with their aliases, and new
    /// aliases of existing mailboxes. The caller has checked every row against the directory; a conflict
    /// found here anyway (a concurrent write) fails the whole batch, so the caller can retry row by row.
    pub async fn import_users(&self, users: &[ImportedUser], now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for user in users {
            let mailbox = match user.existing {
                Some(id) => id,
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO mailboxes (domain_id, local_part, full_name, password_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(user.domain.0)
                    .bind(&user.local_part)
                    .bind(&user.full_name)
                    .bind(&user.password_hash)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::on_unique(|| format!("mailbox {}", user.local_part)))?;
                    MailboxId(id)
                }
            };
            for (domain, local_part) in &user.aliases {
                sqlx::query(
                    "INSERT INTO aliases (domain_id, local_part, mailbox_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(domain.0)
                .bind(local_part)
                .bind(mailbox.0)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::on_unique(|| format!("alias {local_part}")))?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many mailboxes the given domains hold.
    pub async fn mailbox_count(&self, domains: &[DomainId]) -> Result<i64> {
        if domains.is_empty() {
            return Ok(0);
        }
        let ids = crate::sql::id_list(domains.iter().map(|d| d.0));
        let sql = format!("SELECT COUNT(*) FROM mailboxes WHERE domain_id IN ({ids})");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(self.pool()).await?)
    }

    /// The aliases of some mailboxes (a page of users), in one query.
    pub async fn alias_list_of(&self, mailboxes: &[MailboxId]) -> Result<Vec<Alias>> {
        if mailboxes.is_empty() {
            return Ok(Vec::new());
        }
        let ids = crate::sql::id_list(mailboxes.iter().map(|m| m.0));
        let sql = format!(
            "SELECT a.local_part || '@' || ad.name AS address, m.local_part || '@' || md.name AS mailbox \
             FROM aliases a JOIN domains ad ON ad.id = a.domain_id \
             JOIN mailboxes m ON m.id = a.mailbox_id JOIN domains md ON md.id = m.domain_id \
             WHERE a.mailbox_id IN ({ids}) ORDER BY ad.name, a.local_part"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(|r| Alias { address: r.get("address"), mailbox: r.get("mailbox") }).collect())
    }

    pub async fn alias_remove(&self, domain: DomainId, local_part: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM aliases WHERE domain_id = $1 AND local_part = $2")
            .bind(domain.0)
            .bind(local_part)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("alias {local_part}") });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_TENANT;
    use crate::test_support::{plain_domain, stores};

    #[tokio::test]
    async fn mailboxes_and_aliases_share_one_address_space() {
        for (store, _dir) in stores().await {
            let new = plain_domain(DEFAULT_TENANT, "example.com");
            let domain = store.domain_add(&new, 0).await.unwrap();
            let alice = store.mailbox_add(domain, "alice", Some("Alice A."), 0).await.unwrap();
            store.alias_add(domain, "sales", alice, 0).await.unwrap();
            assert_eq!(store.alias_target(domain, "sales").await.unwrap(), Some(alice));
            let mailbox = store.mailbox_by_id(alice).await.unwrap().unwrap();
            assert_eq!(mailbox.address, "alice@example.com");

            let err = store.mailbox_add(domain, "sales", None, 0).await.unwrap_err();
            assert!(matches!(err, StoreError::Duplicate { .. }), "{err}");
            let err = store.alias_add(domain, "alice", alice, 0).await.unwrap_err();
            assert!(matches!(err, StoreError::Duplicate { .. }), "{err}");

            let aliases = store.alias_list(None).await.unwrap();
            assert_eq!(
                aliases,
                vec![Alias { address: "sales@example.com".into(), mailbox: "alice@example.com".into() }]
            );
            store.mailbox_remove(domain, "alice").await.unwrap();
            assert!(store.alias_list(None).await.unwrap().is_empty(), "aliases go with their mailbox");
        }
    }

    #[tokio::test]
    async fn imports_write_whole_batches_or_nothing_and_credentials_and_search_work() {
        for (store, _dir) in stores().await {
            let new = plain_domain(DEFAULT_TENANT, "example.com");
            let domain = store.domain_add(&new, 0).await.unwrap();
            let user = |local: &str, aliases: &[&str]| ImportedUser {
                existing: None,
                domain,
                local_part: local.into(),
                full_name: Some(format!("{local} Smith")),
                password_hash: Some("$moat-sha256$00".into()),
                aliases: aliases.iter().map(|a| (domain, (*a).to_owned())).collect(),
            };
            store.import_users(&[user("ann", &["a1"]), user("bob", &[])], 0).await.unwrap();
            // A conflicting row fails the whole batch: cy is not kept either.
            let err = store.import_users(&[user("cy", &[]), user("dee", &["a1"])], 0).await.unwrap_err();
            assert!(matches!(err, StoreError::Duplicate { .. }), "{err}");
            let all = store.mailbox_list(Some(domain)).await.unwrap();
            assert_eq!(all.iter().map(|m| m.local_part.as_str()).collect::<Vec<_>>(), ["ann", "bob"]);
            let ann = &all[0];
            assert_eq!(store.mailbox_alias_count(ann.id).await.unwrap(), 1);
            let of_ann = store.alias_list_of(&[ann.id, all[1].id]).await.unwrap();
            assert_eq!(of_ann, vec![Alias { address: "a1@example.com".into(), mailbox: "ann@example.com".into() }]);
            let more =
                ImportedUser { existing: Some(ann.id), aliases: vec![(domain, "a2".into())], ..user("ann", &[]) };
            store.import_users(&[more], 0).await.unwrap();
            assert_eq!(store.mailbox_alias_count(ann.id).await.unwrap(), 2);

            assert_eq!(store.mailbox_credentials(ann.id).await.unwrap(), (Some("$moat-sha256$00".into()), None));
            store.mailbox_set_language(ann.id, Some("es")).await.unwrap();
            store.mailbox_set_password(ann.id, "$argon2id$x").await.unwrap();
            assert_eq!(
                store.mailbox_credentials(ann.id).await.unwrap(),
                (Some("$argon2id$x".into()), Some("es".into()))
            );

            let found = |q: &str| {
                let store = store.clone();
                let q = q.to_owned();
                async move { store.mailbox_search(&[domain], &q, 10, 0).await.unwrap().len() }
            };
            assert_eq!(found("BOB").await, 1, "case-insensitive, by address");
            assert_eq!(store.mailbox_count(&[domain]).await.unwrap(), 2);
            assert_eq!(store.mailbox_count(&[]).await.unwrap(), 0);
            assert_eq!(found("smith").await, 2, "by full name");
            assert_eq!(found("@example.com").await, 2);
            assert_eq!(found("%").await, 0, "LIKE wildcards are literal");
            assert_eq!(store.mailbox_search(&[], "", 10, 0).await.unwrap().len(), 0);
        }
    }
}
