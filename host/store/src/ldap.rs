//! Where a tenant's directory (LDAP / Active Directory) is, per tenant or per domain. The settings are JSON
//! the directory crate owns; this module only keeps them.

use crate::{DomainId, Result, Store, TenantId};
use sqlx::Row;

/// Stored directory settings of a tenant (`domain` `None`: for every domain of the tenant) or one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLdap {
    pub id: i64,
    pub tenant: TenantId,
    pub domain: Option<DomainId>,
    pub settings: String,
    pub last_sync_at: Option<i64>,
}

fn from_row(r: &sqlx::any::AnyRow) -> StoredLdap {
    StoredLdap {
        id: r.get("id"),
        tenant: TenantId(r.get("tenant_id")),
        domain: r.get::<Option<i64>, _>("domain_id").map(DomainId),
        settings: r.get("settings"),
        last_sync_at: r.get("last_sync_at"),
    }
}

const COLUMNS: &str = "id, tenant_id, domain_id, settings, last_sync_at";

impl Store {
    /// Sets the settings of a scope, replacing what it had.
    pub async fn ldap_set(&self, tenant: TenantId, domain: Option<DomainId>, settings: &str, now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM ldap_settings WHERE tenant_id = $1 AND COALESCE(domain_id, 0) = $2")
            .bind(tenant.0)
            .bind(domain.map_or(0, |d| d.0))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO ldap_settings (tenant_id, domain_id, settings, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant.0)
            .bind(domain.map(|d| d.0))
            .bind(settings)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The settings that apply to `domain` of `tenant`: its own, else the tenant's.
    pub async fn ldap_for(&self, tenant: TenantId, domain: DomainId) -> Result<Option<StoredLdap>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM ldap_settings WHERE tenant_id = $1 AND (domain_id = $2 OR domain_id IS NULL) \
             ORDER BY COALESCE(domain_id, 0) DESC LIMIT 1"
        );
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(domain.0).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(from_row))
    }

    /// Every stored setting (for scheduled synchronization).
    pub async fn ldap_list(&self) -> Result<Vec<StoredLdap>> {
        let sql = format!("SELECT {COLUMNS} FROM ldap_settings ORDER BY id");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?.iter().map(from_row).collect())
    }

    /// Claims a synchronization of settings `id` due before `due_before`: true for the one node that gets it.
    pub async fn ldap_claim_sync(&self, id: i64, due_before: i64, now: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE ldap_settings SET last_sync_at = $3 WHERE id = $1 AND COALESCE(last_sync_at, 0) <= $2")
                .bind(id)
                .bind(due_before)
                .bind(now)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::TenantId;
    use crate::test_support::{plain_domain, stores};

    #[tokio::test]
    async fn a_domains_own_settings_win_over_its_tenants() {
        for (store, _dir) in stores().await {
            let acme: TenantId = store.tenant_add("acme", 0).await.unwrap();
            let domain = |name| plain_domain(acme, name);
            let (a, b) = (
                store.domain_add(&domain("a.test"), 0).await.unwrap(),
                store.domain_add(&domain("b.test"), 0).await.unwrap(),
            );
            assert!(store.ldap_for(acme, a).await.unwrap().is_none());
            store.ldap_set(acme, None, "{\"tenant\":1}", 1).await.unwrap();
            store.ldap_set(acme, Some(b), "{\"b\":1}", 1).await.unwrap();
            assert_eq!(store.ldap_for(acme, a).await.unwrap().unwrap().settings, "{\"tenant\":1}");
            assert_eq!(store.ldap_for(acme, b).await.unwrap().unwrap().settings, "{\"b\":1}");
            store.ldap_set(acme, None, "{\"tenant\":2}", 2).await.unwrap();
            assert_eq!(store.ldap_list().await.unwrap().len(), 2, "replaced, not added");
            let id = store.ldap_for(acme, a).await.unwrap().unwrap().id;
            assert!(store.ldap_claim_sync(id, 100, 100).await.unwrap());
            assert!(!store.ldap_claim_sync(id, 50, 101).await.unwrap(), "claimed once per due time");
        }
    }
}
