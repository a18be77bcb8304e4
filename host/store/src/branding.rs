use crate::{Result, Store};
use sqlx::Row;

/// The scope of branding that applies to every domain without its own.
pub const EVERY_DOMAIN: &str = "*";

/// A logo and the welcome message new users get, for every domain ([`EVERY_DOMAIN`]) or one domain. `None`
/// fields fall back to the branding for every domain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Branding {
    /// (content type, bytes)
    pub logo: Option<(String, Vec<u8>)>,
    /// The welcome message's template (`{name}`, `{address}`, `{password}`, `{console}` are replaced).
    pub welcome: Option<String>,
    /// Whether new users are sent the welcome message.
    pub send_welcome: Option<bool>,
}

impl Store {
    /// The branding set for `scope` exactly (a domain name or [`EVERY_DOMAIN`]).
    pub async fn branding_get(&self, scope: &str) -> Result<Option<Branding>> {
        let row = sqlx::query("SELECT logo, logo_type, welcome, send_welcome FROM branding WHERE scope = $1")
            .bind(scope)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Branding {
            logo: r.get::<Option<String>, _>("logo_type").zip(r.get::<Option<Vec<u8>>, _>("logo")),
            welcome: r.get("welcome"),
            send_welcome: r.get::<Option<i64>, _>("send_welcome").map(|v| v != 0),
        }))
    }

    pub async fn branding_set(&self, scope: &str, branding: &Branding, now: i64) -> Result<()> {
        let (logo_type, logo) = branding.logo.clone().unzip();
        sqlx::query(
            "INSERT INTO branding (scope, logo, logo_type, welcome, send_welcome, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope) DO UPDATE SET logo = $2, logo_type = $3, \
             welcome = $4, send_welcome = $5, updated_at = $6",
        )
        .bind(scope)
        .bind(logo)
        .bind(logo_type)
        .bind(&branding.welcome)
        .bind(branding.send_welcome.map(i64::from))
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;

    #[tokio::test]
    async fn branding_is_kept_per_scope() {
        for (store, _dir) in stores().await {
            assert_eq!(store.branding_get(EVERY_DOMAIN).await.unwrap(), None);
            let logo = Branding {
                logo: Some(("image/png".into(), vec![137, 80])),
                welcome: Some("Hi {name}".into()),
                send_welcome: Some(true),
            };
            store.branding_set(EVERY_DOMAIN, &logo, 1).await.unwrap();
            let own = Branding { welcome: Some("A".into()), ..Branding::default() };
            store.branding_set("a.test", &own, 1).await.unwrap();
            assert_eq!(store.branding_get(EVERY_DOMAIN).await.unwrap(), Some(logo));
            assert_eq!(store.branding_get("a.test").await.unwrap(), Some(own));
            let replaced = Branding { send_welcome: Some(false), ..Branding::default() };
            store.branding_set("a.test", &replaced, 2).await.unwrap();
            assert_eq!(store.branding_get("a.test").await.unwrap(), Some(replaced));
        }
    }
}
