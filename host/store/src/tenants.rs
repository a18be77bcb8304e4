use crate::{Result, Store, StoreError};
use sqlx::Row;

/// A customer of the operator (or of an MSP): owns domains, mailboxes and, later, a license pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

/// The tenant every install starts with; single-company installs never need another.
pub const DEFAULT_TENANT: TenantId = TenantId(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
}

impl Store {
    pub async fn tenant_add(&self, name: &str, now: i64) -> Result<TenantId> {
        let id: i64 = sqlx::query_scalar("INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(now)
            .fetch_one(self.writer())
            .await
            .map_err(StoreError::on_unique(|| format!("tenant {name}")))?;
        Ok(TenantId(id))
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        let row =
            sqlx::query("SELECT id, name FROM tenants WHERE name = $1").bind(name).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| Tenant { id: TenantId(r.get("id")), name: r.get("name") }))
    }

    /// The tenant's license pool; `None` is no limit.
    pub async fn tenant_licenses(&self, tenant: TenantId) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT licenses FROM tenants WHERE id = $1")
            .bind(tenant.0)
            .fetch_optional(self.pool())
            .await?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: format!("tenant {}", tenant.0) })?;
        Ok(row.get("licenses"))
    }

    pub async fn tenant_set_licenses(&self, tenant: TenantId, licenses: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE tenants SET licenses = $1 WHERE id = $2")
            .bind(licenses)
            .bind(tenant.0)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The number of aliases of each of the tenant's mailboxes (alias domains, which mirror whole domains,
    /// are not aliases): what licenses are counted from.
    pub async fn tenant_alias_counts(&self, tenant: TenantId) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT COUNT(a.id) AS aliases FROM mailboxes m JOIN domains d ON d.id = m.domain_id \
             LEFT JOIN aliases a ON a.mailbox_id = m.id WHERE d.tenant_id = $1 GROUP BY m.id",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| r.get::<i64, _>("aliases")).collect())
    }

    pub async fn tenant_list(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY name").fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|r| Tenant { id: TenantId(r.get("id")), name: r.get("name") }).collect())
    }
}
