use crate::{Result, Store, StoreError, TenantId};
use sqlx::Row;

/// A plugin as uploaded: the component's bytes and who put them there.
#[derive(Debug, Clone)]
pub struct NewPlugin<'a> {
    /// The tenant whose chains alone may use it; `None`: the operator's, usable in every chain.
    pub owner: Option<TenantId>,
    pub name: &'a str,
    pub version: &'a str,
    pub sha256: &'a str,
    /// The WIT package version the component implements, e.g. `0.1.0`.
    pub wit_version: &'a str,
    pub bytes: &'a [u8],
    pub uploaded_by: &'a str,
    /// What the plugin says it does (one line), and help on its configuration (its `moat:about` section).
    pub summary: Option<&'a str>,
    pub configuration_help: Option<&'a str>,
}

/// A registered plugin, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub owner: Option<TenantId>,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub wit_version: String,
    pub size: u64,
    pub uploaded_by: String,
    pub uploaded_at: i64,
    /// What the plugin says it does (one line), and help on its configuration (its `moat:about` section).
    pub summary: Option<String>,
    pub configuration_help: Option<String>,
}

impl Store {
    /// Registers a plugin version. Versions are immutable: old ones stay for rollback until removed.
    pub async fn plugin_add(&self, p: &NewPlugin<'_>, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO plugins (name, version, sha256, wit_version, bytes, uploaded_by, uploaded_at, tenant_id, summary, \
             configuration_help) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.name)
        .bind(p.version)
        .bind(p.sha256)
        .bind(p.wit_version)
        .bind(p.bytes)
        .bind(p.uploaded_by)
        .bind(now)
        .bind(p.owner.map(|t| t.0))
        .bind(p.summary)
        .bind(p.configuration_help)
        .execute(self.writer())
        .await
        .map_err(StoreError::on_unique(|| format!("plugin {} version {}", p.name, p.version)))?;
        Ok(())
    }

    /// Every registered plugin, oldest first per name: the operator's and every tenant's.
    pub async fn plugin_list(&self) -> Result<Vec<PluginInfo>> {
        let rows = sqlx::query(
            "SELECT name, version, sha256, wit_version, LENGTH(bytes) AS size, uploaded_by, uploaded_at, tenant_id, \
             summary, configuration_help FROM plugins ORDER BY name, uploaded_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| PluginInfo {
                owner: r.get::<Option<i64>, _>("tenant_id").map(TenantId),
                name: r.get("name"),
                version: r.get("version"),
                sha256: r.get("sha256"),
                wit_version: r.get("wit_version"),
                size: r.get::<i64, _>("size") as u64,
                uploaded_by: r.get("uploaded_by"),
                uploaded_at: r.get("uploaded_at"),
                summary: r.get("summary"),
                configuration_help: r.get("configuration_help"),
            })
            .collect())
    }

    /// The component bytes of a plugin version as a chain of `tenant` sees it: the tenant's own upload of
    /// that name and version, else the operator's (`tenant` `None`, the default chain: only the operator's).
    pub async fn plugin_bytes(&self, tenant: Option<TenantId>, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT bytes FROM plugins WHERE name = $1 AND version = $2 AND (tenant_id IS NULL OR tenant_id = $3) \
             ORDER BY COALESCE(tenant_id, 0) DESC LIMIT 1",
        )
        .bind(name)
        .bind(version)
        .bind(tenant.map_or(-1, |t| t.0))
        .fetch_optional(self.pool())
        .await?)
    }

    /// Removes one version of a plugin of `owner` (`None`: the operator's), or every version when `version` is
    /// `None`. Returns how many.
    pub async fn plugin_remove(&self, owner: Option<TenantId>, name: &str, version: Option<&str>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM plugins WHERE name = $1 AND ($2 = '' OR version = $2) AND COALESCE(tenant_id, 0) = $3",
        )
        .bind(name)
        .bind(version.unwrap_or(""))
        .bind(owner.map_or(0, |t| t.0))
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 {
            let what = match version {
                Some(v) => format!("plugin {name} version {v}"),
                None => format!("plugin {name}"),
            };
            return Err(StoreError::NotFound { what });
        }
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;

    #[tokio::test]
    async fn versions_are_kept_side_by_side_and_duplicates_refused() {
        for (store, _dir) in stores().await {
            let v = |version, bytes: &'static [u8]| NewPlugin {
                owner: None,
                name: "lookalike",
                version,
                sha256: "ab",
                wit_version: "0.1.0",
                bytes,
                uploaded_by: "admin",
                summary: Some("Finds look-alikes."),
                configuration_help: Some("protected: domains"),
            };
            store.plugin_add(&v("1.0.0", b"\0asm one"), 1).await.unwrap();
            store.plugin_add(&v("1.1.0", b"\0asm two!"), 2).await.unwrap();
            let err = store.plugin_add(&v("1.1.0", b"x"), 3).await.unwrap_err();
            assert!(matches!(err, StoreError::Duplicate { .. }), "{err}");
            let list = store.plugin_list().await.unwrap();
            assert_eq!(
                list.iter().map(|p| (p.version.as_str(), p.size)).collect::<Vec<_>>(),
                [("1.0.0", 8), ("1.1.0", 9)]
            );
            assert_eq!(
                (list[0].summary.as_deref(), list[0].configuration_help.as_deref()),
                (Some("Finds look-alikes."), Some("protected: domains"))
            );
            assert_eq!(store.plugin_bytes(None, "lookalike", "1.0.0").await.unwrap().unwrap(), b"\0asm one");

            // A tenant's upload of the same name and version is its own: other chains never see it.
            let acme = store.tenant_add("acme", 0).await.unwrap();
            let beta = store.tenant_add("beta", 0).await.unwrap();
            let mine = NewPlugin { owner: Some(acme), ..v("1.0.0", b"\0asm acme's") };
            store.plugin_add(&mine, 4).await.unwrap();
            assert_eq!(store.plugin_bytes(Some(acme), "lookalike", "1.0.0").await.unwrap().unwrap(), b"\0asm acme's");
            assert_eq!(store.plugin_bytes(Some(beta), "lookalike", "1.0.0").await.unwrap().unwrap(), b"\0asm one");
            assert_eq!(store.plugin_bytes(None, "lookalike", "1.0.0").await.unwrap().unwrap(), b"\0asm one");
            let only_acme = NewPlugin { owner: Some(acme), name: "private", ..v("1.0.0", b"\0asm p") };
            store.plugin_add(&only_acme, 5).await.unwrap();
            assert!(store.plugin_bytes(Some(beta), "private", "1.0.0").await.unwrap().is_none());
            assert!(store.plugin_bytes(None, "private", "1.0.0").await.unwrap().is_none());
            assert_eq!(store.plugin_remove(Some(acme), "lookalike", None).await.unwrap(), 1);

            assert_eq!(store.plugin_remove(None, "lookalike", Some("1.0.0")).await.unwrap(), 1);
            assert_eq!(store.plugin_remove(None, "lookalike", None).await.unwrap(), 1);
            assert!(store.plugin_remove(None, "lookalike", None).await.is_err());
        }
    }
}
