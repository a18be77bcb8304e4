use crate::{Result, Store, StoreError, TenantId};
use sqlx::Row;

/// What an account may administer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The operator (or MSP): every tenant.
    Platform,
    /// One tenant's domains, users, chains and log.
    Tenant(TenantId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: AdminId,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

fn admin_of(row: &sqlx::any::AnyRow) -> Result<Admin> {
    let role = match (row.get::<String, _>("role").as_str(), row.get::<Option<i64>, _>("tenant_id")) {
        ("platform", _) => Role::Platform,
        ("tenant", Some(tenant)) => Role::Tenant(TenantId(tenant)),
        (other, _) => return Err(StoreError::NotFound { what: format!("role {other:?} of admin") }),
    };
    Ok(Admin { id: AdminId(row.get("id")), name: row.get("name"), role, password_hash: row.get("password_hash") })
}

impl Store {
    /// Adds an account; `password_hash` is already an argon2 PHC string (hashing is the directory's job).
    pub async fn admin_add(&self, name: &str, password_hash: &str, role: Role, now: i64) -> Result<AdminId> {
        let (role, tenant) = match role {
            Role::Platform => ("platform", None),
            Role::Tenant(t) => ("tenant", Some(t.0)),
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
        let row = sqlx::query("SELECT id, name, role, tenant_id, password_hash FROM admins WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(admin_of).transpose()
    }

    pub async fn admin_list(&self) -> Result<Vec<Admin>> {
        let rows = sqlx::query("SELECT id, name, role, tenant_id, password_hash FROM admins ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(admin_of).collect()
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

    /// The account a token (by its SHA-256) belongs to, noting its use.
    pub async fn api_token_admin(&self, token_sha256: &str, now: i64) -> Result<Option<Admin>> {
        let row = sqlx::query(
            "SELECT a.id, a.name, a.role, a.tenant_id, a.password_hash FROM api_tokens t \
             JOIN admins a ON a.id = t.admin_id WHERE t.token_sha256 = $1",
        )
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
