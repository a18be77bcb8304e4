use crate::{Result, Store, StoreError, TenantId};
use sqlx::Row;

/// What an account may administer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The operator (or MSP): every tenant.
    Platform,
    /// One tenant's domains, users, chains and log.
    Tenant(TenantId),
    /// Some domains of one tenant (listed in `admin_domains`), with the permissions of its [`Delegation`].
    Domain(TenantId),
}

impl Role {
    /// The tenant an account is confined to (none for a platform admin).
    pub fn tenant(self) -> Option<TenantId> {
        match self {
            Role::Platform => None,
            Role::Tenant(t) | Role::Domain(t) => Some(t),
        }
    }
}

/// What a domain admin may do besides managing its domains' users (the product's delegated-admin flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delegation {
    /// Open a user's own panel (quarantine, trust lists) from the listings.
    pub open_panels: bool,
    /// Open messages from the email log.
    pub view_emails: bool,
    /// See messages' headers from the email log.
    pub view_headers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: AdminId,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub delegation: Delegation,
    /// Base32 TOTP secret when the second factor is on.
    pub totp_secret: Option<String>,
    pub language: String,
    /// Where the admin's notifications go.
    pub email: Option<String>,
}

const ADMIN_COLUMNS: &str = "a.id, a.name, a.role, a.tenant_id, a.password_hash, a.may_open_panels, a.may_view_emails, \
                             a.may_view_headers, a.totp_secret, a.language, a.email";

fn admin_of(row: &sqlx::any::AnyRow) -> Result<Admin> {
    let role = match (row.get::<String, _>("role").as_str(), row.get::<Option<i64>, _>("tenant_id")) {
        ("platform", _) => Role::Platform,
        ("tenant", Some(tenant)) => Role::Tenant(TenantId(tenant)),
        ("domain", Some(tenant)) => Role::Domain(TenantId(tenant)),
        (other, _) => return Err(StoreError::NotFound { what: format!("role {other:?} of admin") }),
    };
    Ok(Admin {
        id: AdminId(row.get("id")),
        name: row.get("name"),
        role,
        password_hash: row.get("password_hash"),
        delegation: Delegation {
            open_panels: row.get::<i64, _>("may_open_panels") != 0,
            view_emails: row.get::<i64, _>("may_view_emails") != 0,
            view_headers: row.get::<i64, _>("may_view_headers") != 0,
        },
        totp_secret: row.get("totp_secret"),
        language: row.get("language"),
        email: row.get("email"),
    })
}

impl Store {
    /// Adds an account; `password_hash` is already an argon2 PHC string (hashing is the directory's job).
    pub async fn admin_add(&self, name: &str, password_hash: &str, role: Role, now: i64) -> Result<AdminId> {
        let (role, tenant) = match role {
            Role::Platform => ("platform", None),
            Role::Tenant(t) => ("tenant", Some(t.0)),
            Role::Domain(t) => ("domain", Some(t.0)),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admins (name, password_hash, role, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
        )
        .bind(name)
        .bind(password_hash)
        .bind(role)
        .bind(tenant)
        .bind(now)
        .fetch_one(self.writer())
        .await
        .map_err(StoreError::on_unique(|| format!("admin {name}")))?;
        Ok(AdminId(id))
    }

    pub async fn admin_by_name(&self, name: &str) -> Result<Option<Admin>> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins a WHERE a.name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(self.pool()).await?;
        row.as_ref().map(admin_of).transpose()
    }

    pub async fn admin_by_id(&self, id: AdminId) -> Result<Option<Admin>> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins a WHERE a.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_optional(self.pool()).await?;
        row.as_ref().map(admin_of).transpose()
    }

    pub async fn admin_list(&self) -> Result<Vec<Admin>> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins a ORDER BY a.name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
        rows.iter().map(admin_of).collect()
    }

    pub async fn admin_remove(&self, id: AdminId) -> Result<()> {
        sqlx::query("DELETE FROM admins WHERE id = $1").bind(id.0).execute(self.writer()).await?;
        Ok(())
    }

    /// Sets a domain admin's domains and permissions (replacing the previous ones) in one transaction.
    pub async fn admin_delegate(
        &self,
        admin: AdminId,
        domains: &[crate::DomainId],
        delegation: Delegation,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM admin_domains WHERE admin_id = $1").bind(admin.0).execute(&mut *tx).await?;
        for domain in domains {
            sqlx::query("INSERT INTO admin_domains (admin_id, domain_id) VALUES ($1, $2)")
                .bind(admin.0)
                .bind(domain.0)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE admins SET may_open_panels = $2, may_view_emails = $3, may_view_headers = $4 WHERE id = $1",
        )
        .bind(admin.0)
        .bind(i64::from(delegation.open_panels))
        .bind(i64::from(delegation.view_emails))
        .bind(i64::from(delegation.view_headers))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The domains delegated to a domain admin.
    pub async fn admin_domains(&self, admin: AdminId) -> Result<Vec<crate::DomainId>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT domain_id FROM admin_domains WHERE admin_id = $1 ORDER BY domain_id")
                .bind(admin.0)
                .fetch_all(self.pool())
                .await?;
        Ok(ids.into_iter().map(crate::DomainId).collect())
    }

    /// Sets a new password; the account's API tokens end with the old one (a token taken with a leaked
    /// password must not outlive the password).
    pub async fn admin_set_password(&self, admin: AdminId, password_hash: &str) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("UPDATE admins SET password_hash = $2 WHERE id = $1")
            .bind(admin.0)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM api_tokens WHERE admin_id = $1").bind(admin.0).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `admin` signed in with the TOTP code of time step `step`; false when that step (or a later
    /// one) was used already, so each code signs in once, on every node.
    pub async fn admin_use_totp_step(&self, admin: AdminId, step: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE admins SET totp_step = $2 WHERE id = $1 AND (totp_step IS NULL OR totp_step < $2)")
                .bind(admin.0)
                .bind(step)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Turns the TOTP second factor on (with its sealed secret) or off.
    pub async fn admin_set_totp(&self, admin: AdminId, secret: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE admins SET totp_secret = $2, totp_step = NULL WHERE id = $1")
            .bind(admin.0)
            .bind(secret)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn admin_set_email(&self, admin: AdminId, email: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE admins SET email = $2 WHERE id = $1")
            .bind(admin.0)
            .bind(email)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn admin_set_language(&self, admin: AdminId, language: &str) -> Result<()> {
        sqlx::query("UPDATE admins SET language = $2 WHERE id = $1")
            .bind(admin.0)
            .bind(language)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Keeps the SHA-256 (hex) of a new API token of `admin`.
    pub async fn api_token_add(&self, admin: AdminId, name: &str, token_sha256: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (admin_id, name, token_sha256, created_at) VALUES ($1, $2, $3, $4)")
            .bind(admin.0)
            .bind(name)
            .bind(token_sha256)
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(StoreError::on_unique(|| format!("token {name}")))?;
        Ok(())
    }

    /// An account's tokens, newest first (never the tokens themselves: only their digests are kept).
    pub async fn api_token_list(&self, admin: AdminId) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE admin_id = $1 ORDER BY id DESC",
        )
        .bind(admin.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ApiToken {
                id: r.get("id"),
                name: r.get("name"),
                created_at: r.get("created_at"),
                last_used_at: r.get("last_used_at"),
            })
            .collect())
    }

    /// Revokes one of `admin`'s tokens; false when it has no such token.
    pub async fn api_token_revoke(&self, admin: AdminId, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND admin_id = $2")
            .bind(id)
            .bind(admin.0)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The account a token (by its SHA-256) belongs to, noting its use.
    pub async fn api_token_admin(&self, token_sha256: &str, now: i64) -> Result<Option<Admin>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMIN_COLUMNS} FROM api_tokens t JOIN admins a ON a.id = t.admin_id \
                 WHERE t.token_sha256 = $1"
        )))
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_sha256 = $2")
            .bind(now)
            .bind(token_sha256)
            .execute(self.writer())
            .await?;
        admin_of(&row).map(Some)
    }
}

/// A REST API token as its owner sees it: its label and use, never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;

    #[tokio::test]
    async fn admins_and_their_tokens() {
        for (store, _dir) in stores().await {
            let tenant = store.tenant_add("acme", 0).await.unwrap();
            let root = store.admin_add("root", "$argon2id$x", Role::Platform, 0).await.unwrap();
            store.admin_add("acme-admin", "$argon2id$y", Role::Tenant(tenant), 0).await.unwrap();
            assert!(matches!(store.admin_add("root", "h", Role::Platform, 0).await, Err(StoreError::Duplicate { .. })));
            assert_eq!(store.admin_by_name("acme-admin").await.unwrap().unwrap().role, Role::Tenant(tenant));
            assert_eq!(store.admin_list().await.unwrap().len(), 2);
            store.api_token_add(root, "ci", "ab12", 5).await.unwrap();
            assert_eq!(store.api_token_admin("ab12", 6).await.unwrap().unwrap().name, "root");
            assert_eq!(store.api_token_admin("ffff", 6).await.unwrap(), None);
        }
    }
}
