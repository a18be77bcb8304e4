//! What outbound mail needs stored: the SMTP credentials customers' servers relay with, and the DKIM keys
//! their domains' mail is signed with.

use crate::{DomainId, Result, Store, StoreError, TenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialId(pub i64);

/// An SMTP credential: it may send as its domain (and that domain's alias domains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCredential {
    pub id: CredentialId,
    pub domain_id: DomainId,
    pub domain: String,
    pub tenant_id: TenantId,
    pub username: String,
    /// argon2id PHC string.
    pub secret_hash: String,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// When and why it may no longer send.
    pub suspended: Option<(i64, String)>,
}

const CREDENTIAL_COLUMNS: &str = "c.id, c.domain_id, d.name AS domain, d.tenant_id, c.username, c.secret_hash, \
                                  c.label, c.created_at, c.last_used_at, c.suspended_at, c.suspended_reason";

fn credential_of(row: &AnyRow) -> SmtpCredential {
    let suspended_at: Option<i64> = row.get("suspended_at");
    SmtpCredential {
        id: CredentialId(row.get("id")),
        domain_id: DomainId(row.get("domain_id")),
        domain: row.get("domain"),
        tenant_id: TenantId(row.get("tenant_id")),
        username: row.get("username"),
        secret_hash: row.get("secret_hash"),
        label: row.get("label"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        suspended: suspended_at.map(|at| (at, row.get::<Option<String>, _>("suspended_reason").unwrap_or_default())),
    }
}

/// The signature algorithm of a DKIM key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    RsaSha256,
    Ed25519Sha256,
}

impl DkimAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa-sha256",
            Self::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa-sha256" => Some(Self::RsaSha256),
            "ed25519-sha256" => Some(Self::Ed25519Sha256),
            _ => None,
        }
    }

    /// The `k=` tag of the DNS record.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa",
            Self::Ed25519Sha256 => "ed25519",
        }
    }
}

/// A domain's DKIM key as stored: the private key sealed (the directory seals and opens it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub domain_id: DomainId,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub sealed_private_key: String,
    /// Base64, as the DNS record's `p=` tag.
    pub public_key: String,
    pub created_at: i64,
    /// Set once a newer key took over: it signs no more but stays published until retired.
    pub rotated_at: Option<i64>,
}

fn dkim_key_of(row: &AnyRow) -> Result<DkimKey> {
    let algorithm: String = row.get("algorithm");
    Ok(DkimKey {
        domain_id: DomainId(row.get("domain_id")),
        selector: row.get("selector"),
        algorithm: DkimAlgorithm::parse(&algorithm)
            .ok_or_else(|| StoreError::NotFound { what: format!("DKIM algorithm {algorithm:?}") })?,
        sealed_private_key: row.get("private_key"),
        public_key: row.get("public_key"),
        created_at: row.get("created_at"),
        rotated_at: row.get("rotated_at"),
    })
}

impl Store {
    /// Adds a credential of `domain`; `secret_hash` is already an argon2id PHC string.
    pub async fn smtp_credential_add(
        &self,
        domain: DomainId,
        username: &str,
        secret_hash: &str,
        label: &str,
        now: i64,
    ) -> Result<CredentialId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO smtp_credentials (domain_id, username, secret_hash, label, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(domain.0)
        .bind(username)
        .bind(secret_hash)
        .bind(label)
        .bind(now)
        .fetch_one(self.writer())
        .await
        .map_err(StoreError::on_unique(|| format!("SMTP credential {username}")))?;
        Ok(CredentialId(id))
    }

    pub async fn smtp_credential_by_username(&self, username: &str) -> Result<Option<SmtpCredential>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM smtp_credentials c JOIN domains d ON d.id = c.domain_id \
             WHERE c.username = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(username).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(credential_of))
    }

    /// The credentials of one domain, or of one tenant, or every one (`None`, `None`).
    pub async fn smtp_credential_list(
        &self,
        tenant: Option<TenantId>,
        domain: Option<DomainId>,
    ) -> Result<Vec<SmtpCredential>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM smtp_credentials c JOIN domains d ON d.id = c.domain_id \
             WHERE ($1 = 0 OR d.tenant_id = $1) AND ($2 = 0 OR c.domain_id = $2) ORDER BY d.name, c.username"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map_or(0, |t| t.0))
            .bind(domain.map_or(0, |d| d.0))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(credential_of).collect())
    }

    /// Revokes (deletes) a credential: it cannot authenticate from now on.
    pub async fn smtp_credential_remove(&self, username: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM smtp_credentials WHERE username = $1")
            .bind(username)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("SMTP credential {username}") });
        }
        Ok(())
    }

    /// Suspends a credential from sending (`reason` is told to its admins), or lifts it (`None`).
    pub async fn smtp_credential_suspend(&self, username: &str, suspension: Option<(i64, &str)>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE smtp_credentials SET suspended_at = $1, suspended_reason = $2 WHERE username = $3 \
             AND (suspended_at IS NULL) = ($1 IS NOT NULL)",
        )
        .bind(suspension.map(|(at, _)| at))
        .bind(suspension.map(|(_, why)| why.to_owned()))
        .bind(username)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The tenant of an account that may authenticate for sending — an SMTP credential, or a tenant or
    /// domain admin — for telling its admins about it.
    pub async fn sending_account_tenant(&self, account: &str) -> Result<Option<TenantId>> {
        if let Some(credential) = self.smtp_credential_by_username(&account.to_ascii_lowercase()).await? {
            return Ok(Some(credential.tenant_id));
        }
        Ok(self.admin_by_name(account).await?.and_then(|a| a.role.tenant()))
    }

    pub async fn smtp_credential_used(&self, id: CredentialId, now: i64) -> Result<()> {
        sqlx::query("UPDATE smtp_credentials SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.0)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Adds DKIM keys to a domain and, in the same transaction, retires from signing the keys it had: the
    /// new keys sign from now on, the old ones stay published.
    pub async fn dkim_keys_rotate(&self, keys: &[DkimKey], now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for domain in keys.iter().map(|k| k.domain_id).collect::<std::collections::BTreeSet<_>>() {
            sqlx::query("UPDATE dkim_keys SET rotated_at = $1 WHERE domain_id = $2 AND rotated_at IS NULL")
                .bind(now)
                .bind(domain.0)
                .execute(&mut *tx)
                .await?;
        }
        for key in keys {
            sqlx::query(
                "INSERT INTO dkim_keys (domain_id, selector, algorithm, private_key, public_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(key.domain_id.0)
            .bind(&key.selector)
            .bind(key.algorithm.as_str())
            .bind(&key.sealed_private_key)
            .bind(&key.public_key)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::on_unique(|| format!("DKIM selector {}", key.selector)))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A domain's DKIM keys, newest first (signing keys before rotated ones).
    pub async fn dkim_keys(&self, domain: DomainId) -> Result<Vec<DkimKey>> {
        let rows = sqlx::query(
            "SELECT domain_id, selector, algorithm, private_key, public_key, created_at, rotated_at FROM dkim_keys \
             WHERE domain_id = $1 ORDER BY rotated_at IS NOT NULL, created_at DESC, selector",
        )
        .bind(domain.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(dkim_key_of).collect()
    }

    /// Retires a key for good: its record may leave the DNS. A key that still signs cannot be retired.
    pub async fn dkim_key_remove(&self, domain: DomainId, selector: &str) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM dkim_keys WHERE domain_id = $1 AND selector = $2 AND rotated_at IS NOT NULL")
                .bind(domain.0)
                .bind(selector)
                .execute(self.writer())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("rotated DKIM key {selector}") });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{plain_domain, stores};

    #[tokio::test]
    async fn credentials_belong_to_a_domain_and_can_be_suspended_and_revoked() {
        for (store, _dir) in stores().await {
            let tenant = store.tenant_add("acme", 1).await.unwrap();
            let domain = store.domain_add(&plain_domain(tenant, "acme.test"), 1).await.unwrap();
            store.smtp_credential_add(domain, "relay@acme.test", "$argon2id$x", "office server", 2).await.unwrap();
            let again = store.smtp_credential_add(domain, "relay@acme.test", "$argon2id$y", "", 3).await;
            assert!(matches!(again, Err(StoreError::Duplicate { .. })), "{again:?}");
            let found = store.smtp_credential_by_username("relay@acme.test").await.unwrap().unwrap();
            assert_eq!((found.domain.as_str(), found.tenant_id, found.suspended.clone()), ("acme.test", tenant, None));
            assert!(store.smtp_credential_suspend("relay@acme.test", Some((9, "burst"))).await.unwrap());
            assert!(!store.smtp_credential_suspend("relay@acme.test", Some((10, "again"))).await.unwrap());
            let found = store.smtp_credential_by_username("relay@acme.test").await.unwrap().unwrap();
            assert_eq!(found.suspended, Some((9, "burst".into())));
            assert_eq!(store.smtp_credential_list(Some(tenant), None).await.unwrap().len(), 1);
            store.smtp_credential_remove("relay@acme.test").await.unwrap();
            assert_eq!(store.smtp_credential_by_username("relay@acme.test").await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn rotation_keeps_old_keys_published_until_retired() {
        for (store, _dir) in stores().await {
            let tenant = store.tenant_add("acme", 1).await.unwrap();
            let domain = store.domain_add(&plain_domain(tenant, "acme.test"), 1).await.unwrap();
            let key = |selector: &str, at| DkimKey {
                domain_id: domain,
                selector: selector.into(),
                algorithm: DkimAlgorithm::Ed25519Sha256,
                sealed_private_key: "sealed".into(),
                public_key: "cHVi".into(),
                created_at: at,
                rotated_at: None,
            };
            store.dkim_keys_rotate(&[key("one", 10)], 10).await.unwrap();
            store.dkim_keys_rotate(&[key("two", 20)], 20).await.unwrap();
            let keys = store.dkim_keys(domain).await.unwrap();
            let states: Vec<(&str, Option<i64>)> = keys.iter().map(|k| (k.selector.as_str(), k.rotated_at)).collect();
            assert_eq!(states, [("two", None), ("one", Some(20))]);
            assert!(store.dkim_key_remove(domain, "two").await.is_err(), "the signing key stays");
            store.dkim_key_remove(domain, "one").await.unwrap();
            assert_eq!(store.dkim_keys(domain).await.unwrap().len(), 1);
        }
    }
}
