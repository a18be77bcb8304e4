use crate::{Result, Store, StoreError};
use sqlx::Row;

/// A plugin as uploaded: the component's bytes and who put them there.
#[derive(Debug, Clone)]
pub struct NewPlugin<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub sha256: &'a str,
    /// The WIT package version the component implements, e.g. `0.1.0`.
    pub wit_version: &'a str,
    pub bytes: &'a [u8],
    pub uploaded_by: &'a str,
}

/// A registered plugin, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub wit_version: String,
    pub size: u64,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

impl Store {
    /// Registers a plugin version. Versions are immutable: old ones stay for rollback until removed.
    pub async fn plugin_add(&self, p: &NewPlugin<'_>, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO plugins (name, version, sha256, wit_version, bytes, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.name)
        .bind(p.version)
        .bind(p.sha256)
        .bind(p.wit_version)
        .bind(p.bytes)
        .bind(p.uploaded_by)
        .bind(now)
        .execute(self.writer())
        .await
        .map_err(StoreError::on_unique(|| format!("plugin {} version {}", p.name, p.version)))?;
        Ok(())
    }

    pub async fn plugin_list(&self) -> Result<Vec<PluginInfo>> {
        let rows = sqlx::query(
            "SELECT name, version, sha256, wit_version, LENGTH(bytes) AS size, uploaded_by, uploaded_at \
             FROM plugins ORDER BY name, uploaded_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| PluginInfo {
                name: r.get("name"),
                version: r.get("version"),
                sha256: r.get("sha256"),
                wit_version: r.get("wit_version"),
                size: r.get::<i64, _>("size") as u64,
                uploaded_by: r.get("uploaded_by"),
                uploaded_at: r.get("uploaded_at"),
            })
            .collect())
    }

    /// The component bytes of a plugin version.
    pub async fn plugin_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT bytes FROM plugins WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Removes one version of a plugin, or every version when `version` is `None`. Returns how many.
    pub async fn plugin_remove(&self, name: &str, version: Option<&str>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM plugins WHERE name = $1 AND ($2 = '' OR version = $2)")
            .bind(name)
            .bind(version.unwrap_or(""))
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
                name: "lookalike",
                version,
                sha256: "ab",
                wit_version: "0.1.0",
                bytes,
                uploaded_by: "admin",
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
            assert_eq!(store.plugin_bytes("lookalike", "1.0.0").await.unwrap().unwrap(), b"\0asm one");
            assert_eq!(store.plugin_remove("lookalike", Some("1.0.0")).await.unwrap(), 1);
            assert_eq!(store.plugin_remove("lookalike", None).await.unwrap(), 1);
            assert!(store.plugin_remove("lookalike", None).await.is_err());
        }
    }
}
