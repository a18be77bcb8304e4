use crate::{Direction, DomainId, Result, Store, TenantId};
use sqlx::Row;

/// Where a chain applies: the default for every tenant, one tenant, or one domain (an override).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainScope {
    Default,
    Tenant(TenantId),
    Domain(TenantId, DomainId),
}

/// One saved version of a chain: `spec` is the JSON the filter runtime reads; `None` cleared the scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVersion {
    pub id: i64,
    pub direction: Direction,
    pub scope: ChainScope,
    pub spec: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// Changes that make a running server reload its chains: any chain saved, tenant or plugin added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainGeneration {
    pub chains: i64,
    pub tenants: i64,
    pub plugins: i64,
}

fn version_from_row(r: &sqlx::any::AnyRow) -> ChainVersion {
    let tenant: Option<i64> = r.get("tenant_id");
    let domain: Option<i64> = r.get("domain_id");
    let scope = match (tenant, domain) {
        (Some(t), Some(d)) => ChainScope::Domain(TenantId(t), DomainId(d)),
        (Some(t), None) => ChainScope::Tenant(TenantId(t)),
        _ => ChainScope::Default,
    };
    ChainVersion {
        id: r.get("id"),
        direction: Direction::parse(r.get("direction")).unwrap_or_default(),
        scope,
        spec: r.get("spec"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
    }
}

fn scope_ids(scope: ChainScope) -> (Option<i64>, Option<i64>) {
    match scope {
        ChainScope::Default => (None, None),
        ChainScope::Tenant(t) => (Some(t.0), None),
        ChainScope::Domain(t, d) => (Some(t.0), Some(d.0)),
    }
}

const SCOPE_MATCH: &str = "((tenant_id IS NULL AND $1 IS NULL) OR tenant_id = $1) \
                           AND ((domain_id IS NULL AND $2 IS NULL) OR domain_id = $2) AND direction = $3";

impl Store {
    /// Saves a new version of the `direction` chain of `scope` (or clears it with `None`); it goes live at
    /// once, and the previous versions stay for rollback.
    pub async fn chain_save(
        &self,
        direction: Direction,
        scope: ChainScope,
        spec: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<i64> {
        let (tenant, domain) = scope_ids(scope);
        Ok(sqlx::query_scalar(
            "INSERT INTO chains (direction, tenant_id, domain_id, spec, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(direction.as_str())
        .bind(tenant)
        .bind(domain)
        .bind(spec)
        .bind(by)
        .bind(now)
        .fetch_one(self.writer())
        .await?)
    }

    /// The live version of every scope and direction that has one (cleared scopes left out).
    pub async fn chains_live(&self) -> Result<Vec<ChainVersion>> {
        let rows = sqlx::query(
            "SELECT c.id, c.direction, c.tenant_id, c.domain_id, c.spec, c.created_by, c.created_at FROM chains c \
             WHERE c.id = (SELECT MAX(id) FROM chains x WHERE x.direction = c.direction AND \
               ((x.tenant_id IS NULL AND c.tenant_id IS NULL) OR x.tenant_id = c.tenant_id) AND \
               ((x.domain_id IS NULL AND c.domain_id IS NULL) OR x.domain_id = c.domain_id)) \
             AND c.spec IS NOT NULL ORDER BY c.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(version_from_row).collect())
    }

    /// Every version of one scope's `direction` chain, newest first.
    pub async fn chain_history(&self, direction: Direction, scope: ChainScope) -> Result<Vec<ChainVersion>> {
        let (tenant, domain) = scope_ids(scope);
        let sql = format!(
            "SELECT id, direction, tenant_id, domain_id, spec, created_by, created_at FROM chains \
             WHERE {SCOPE_MATCH} ORDER BY id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(domain)
            .bind(direction.as_str())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(version_from_row).collect())
    }

    /// Cheap to poll: changes whenever a chain is saved or a tenant or plugin is added.
    pub async fn chain_generation(&self) -> Result<ChainGeneration> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM chains) AS chains, \
                    (SELECT COALESCE(MAX(id), 0) FROM tenants) AS tenants, \
                    (SELECT COALESCE(MAX(id), 0) FROM plugins) AS plugins",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(ChainGeneration { chains: row.get("chains"), tenants: row.get("tenants"), plugins: row.get("plugins") })
    }

    /// Records something an admin must hear about.
    pub async fn alert_add(&self, tenant: Option<TenantId>, kind: &str, text: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO alerts (tenant_id, kind, text, created_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant.map(|t| t.0))
            .bind(kind)
            .bind(text)
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The newest alerts, of one tenant or (`None`) of all and the operator's own: (tenant, kind, text, time).
    pub async fn alerts(
        &self,
        tenant: Option<TenantId>,
        limit: i64,
    ) -> Result<Vec<(Option<TenantId>, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, kind, text, created_at FROM alerts WHERE ($1 = 0 OR tenant_id = $1) \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(tenant.map_or(0, |t| t.0))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (r.get::<Option<i64>, _>("tenant_id").map(TenantId), r.get("kind"), r.get("text"), r.get("created_at"))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_TENANT;
    use crate::test_support::{plain_domain, stores};

    #[tokio::test]
    async fn the_newest_version_of_each_scope_is_live_and_history_is_kept() {
        for (store, _dir) in stores().await {
            let before = store.chain_generation().await.unwrap();
            let domain = store.domain_add(&plain_domain(DEFAULT_TENANT, "example.com"), 0).await.unwrap();
            let (inbound, outbound) = (Direction::Inbound, Direction::Outbound);
            let tenant = ChainScope::Tenant(DEFAULT_TENANT);
            store.chain_save(inbound, ChainScope::Default, Some("{\"v\":1}"), "admin", 1).await.unwrap();
            store.chain_save(inbound, tenant, Some("{\"v\":2}"), "admin", 2).await.unwrap();
            store.chain_save(outbound, ChainScope::Default, Some("{\"out\":1}"), "admin", 3).await.unwrap();
            store.chain_save(inbound, tenant, Some("{\"v\":3}"), "admin", 3).await.unwrap();
            let scope = ChainScope::Domain(DEFAULT_TENANT, domain);
            store.chain_save(inbound, scope, Some("{\"v\":4}"), "admin", 4).await.unwrap();
            store.chain_save(inbound, scope, None, "admin", 5).await.unwrap();

            let live = store.chains_live().await.unwrap();
            let specs: Vec<_> = live.iter().map(|c| (c.direction, c.scope, c.spec.as_deref().unwrap())).collect();
            assert_eq!(
                specs,
                [
                    (inbound, ChainScope::Default, "{\"v\":1}"),
                    (outbound, ChainScope::Default, "{\"out\":1}"),
                    (inbound, tenant, "{\"v\":3}")
                ]
            );
            let history = store.chain_history(inbound, tenant).await.unwrap();
            assert_eq!(history.iter().map(|c| c.spec.clone().unwrap()).collect::<Vec<_>>(), ["{\"v\":3}", "{\"v\":2}"]);
            assert_eq!(store.chain_history(inbound, scope).await.unwrap()[0].spec, None, "cleared override");
            assert_eq!(store.chain_history(outbound, tenant).await.unwrap(), [], "directions are apart");
            let after = store.chain_generation().await.unwrap();
            assert!(after.chains > before.chains);
        }
    }
}
