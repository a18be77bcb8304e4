use crate::{Mailbox, MailboxId, Result, Store, StoreError, TenantId};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainId(pub i64);

/// A protected domain, or an alias domain whose every address resolves to the same local part of its primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: DomainId,
    pub tenant_id: TenantId,
    /// Lower-case ASCII (A-label) form.
    pub name: String,
    /// Set on alias domains: the primary domain they mirror.
    pub alias_of: Option<DomainId>,
    pub contact_email: Option<String>,
    pub max_users: Option<i64>,
    pub language: String,
    pub signup: Signup,
    pub created_at: i64,
}

/// How a domain's users come to exist in Moat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signup {
    /// Added by admins: console, API, CLI, import.
    #[default]
    Manual,
    /// Also signed up on their first message, when the domain's own mail server accepts the address
    /// (recipient callout).
    Smtp,
    /// Also signed up on their first message, when the tenant's directory (LDAP, Active Directory) knows the
    /// address or alias, with the aliases it lists.
    Ldap,
}

impl Signup {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Smtp => "smtp",
            Self::Ldap => "ldap",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(Self::Manual),
            "smtp" => Some(Self::Smtp),
            "ldap" => Some(Self::Ldap),
            _ => None,
        }
    }
}

/// A mail server of the customer's that Moat delivers a domain's clean mail to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamHost {
    pub host: String,
    pub port: u16,
    /// Like an MX preference: lower is tried first; equal values share the load.
    pub priority: u32,
}

#[derive(Debug, Clone)]
pub struct NewDomain<'a> {
    pub tenant_id: TenantId,
    pub name: &'a str,
    pub alias_of: Option<DomainId>,
    pub contact_email: Option<&'a str>,
    pub max_users: Option<i64>,
    pub language: &'a str,
    pub downstream: &'a [DownstreamHost],
}

/// What an admin may change on a domain after it exists (its name, tenant and primary stay).
#[derive(Debug, Clone)]
pub struct DomainSettings<'a> {
    pub contact_email: Option<&'a str>,
    pub max_users: Option<i64>,
    pub language: &'a str,
    /// Replaces the domain's downstream hosts (empty for an alias domain).
    pub downstream: &'a [DownstreamHost],
}

/// `SELECT` of every domain column, followed by the given clause.
macro_rules! select_domains {
    ($clause:literal) => {
        concat!(
            "SELECT id, tenant_id, name, alias_of, contact_email, max_users, language, signup, created_at \
             FROM domains ",
            $clause
        )
    };
}

fn domain_from_row(r: &AnyRow) -> Domain {
    Domain {
        id: DomainId(r.get("id")),
        tenant_id: TenantId(r.get("tenant_id")),
        name: r.get("name"),
        alias_of: r.get::<Option<i64>, _>("alias_of").map(DomainId),
        contact_email: r.get("contact_email"),
        max_users: r.get("max_users"),
        language: r.get("language"),
        // Written only through `Signup::as_str`.
        signup: Signup::parse(r.get("signup")).unwrap_or_default(),
        created_at: r.get("created_at"),
    }
}

async fn insert_downstream(conn: &mut sqlx::AnyConnection, domain: DomainId, hosts: &[DownstreamHost]) -> Result<()> {
    for host in hosts {
        sqlx::query("INSERT INTO downstream_hosts (domain_id, host, port, priority) VALUES ($1, $2, $3, $4)")
            .bind(domain.0)
            .bind(&host.host)
            .bind(i64::from(host.port))
            .bind(i64::from(host.priority))
            .execute(&mut *conn)
            .await
            .map_err(StoreError::on_unique(|| format!("downstream host {}:{}", host.host, host.port)))?;
    }
    Ok(())
}

impl Store {
    /// Adds a domain and its downstream hosts in one transaction.
    pub async fn domain_add(&self, new: &NewDomain<'_>, now: i64) -> Result<DomainId> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = conn.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO domains (tenant_id, name, alias_of, contact_email, max_users, language, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.tenant_id.0)
        .bind(new.name)
        .bind(new.alias_of.map(|d| d.0))
        .bind(new.contact_email)
        .bind(new.max_users)
        .bind(new.language)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::on_unique(|| format!("domain {}", new.name)))?;
        insert_downstream(&mut tx, DomainId(id), new.downstream).await?;
        tx.commit().await?;
        Ok(DomainId(id))
    }

    /// Changes a domain's settings and replaces its downstream hosts, in one transaction.
    pub async fn domain_update(&self, id: DomainId, settings: &DomainSettings<'_>) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query("UPDATE domains SET contact_email = $2, max_users = $3, language = $4 WHERE id = $1")
            .bind(id.0)
            .bind(settings.contact_email)
            .bind(settings.max_users)
            .bind(settings.language)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("domain #{}", id.0) });
        }
        sqlx::query("DELETE FROM downstream_hosts WHERE domain_id = $1").bind(id.0).execute(&mut *tx).await?;
        insert_downstream(&mut tx, id, settings.downstream).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        let row = sqlx::query(select_domains!("WHERE name = $1")).bind(name).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(domain_from_row))
    }

    /// The domain `name` and its mailbox `local_part` if it has one, in one query: the question every RCPT asks
    /// first. An alias domain has no mailboxes of its own (they are its primary's).
    pub async fn domain_and_mailbox(&self, name: &str, local_part: &str) -> Result<Option<(Domain, Option<Mailbox>)>> {
        let row = sqlx::query(
            "SELECT d.id, d.tenant_id, d.name, d.alias_of, d.contact_email, d.max_users, d.language, d.signup, \
             d.created_at, m.id AS mailbox_id, m.local_part AS mailbox_local_part, m.full_name AS mailbox_full_name, \
             m.local_part || '@' || d.name AS mailbox_address \
             FROM domains d LEFT JOIN mailboxes m ON m.domain_id = d.id AND m.local_part = $2 WHERE d.name = $1",
        )
        .bind(name)
        .bind(local_part)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| {
            let domain = domain_from_row(&r);
            let mailbox = r.get::<Option<i64>, _>("mailbox_id").map(|id| Mailbox {
                id: MailboxId(id),
                domain_id: domain.id,
                local_part: r.get("mailbox_local_part"),
                full_name: r.get("mailbox_full_name"),
                address: r.get("mailbox_address"),
            });
            (domain, mailbox)
        }))
    }

    pub async fn domain_by_id(&self, id: DomainId) -> Result<Option<Domain>> {
        let row = sqlx::query(select_domains!("WHERE id = $1")).bind(id.0).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(domain_from_row))
    }

    /// All domains, or those of one tenant, primary domains before their alias domains.
    pub async fn domain_list(&self, tenant: Option<TenantId>) -> Result<Vec<Domain>> {
        let rows = sqlx::query(select_domains!("WHERE ($1 = 0 OR tenant_id = $1) ORDER BY name"))
            .bind(tenant.map_or(0, |t| t.0))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(domain_from_row).collect())
    }

    /// Removes a domain with everything that is its own: its alias domains, users, aliases and branding (a
    /// later owner of the same name must not inherit a welcome text or logo).
    pub async fn domain_remove(&self, name: &str) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "DELETE FROM branding WHERE scope = $1 OR scope IN \
             (SELECT a.name FROM domains a JOIN domains p ON a.alias_of = p.id WHERE p.name = $1)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM domains WHERE name = $1").bind(name).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("domain {name}") });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn domain_set_signup(&self, id: DomainId, signup: Signup) -> Result<()> {
        let done = sqlx::query("UPDATE domains SET signup = $1 WHERE id = $2")
            .bind(signup.as_str())
            .bind(id.0)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: format!("domain #{}", id.0) });
        }
        Ok(())
    }

    /// Downstream hosts of a domain, lowest priority value first.
    pub async fn downstream_hosts(&self, domain: DomainId) -> Result<Vec<DownstreamHost>> {
        let rows =
            sqlx::query("SELECT host, port, priority FROM downstream_hosts WHERE domain_id = $1 ORDER BY priority, id")
                .bind(domain.0)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(downstream_host).collect())
    }

    /// Where mail for the domain `name` goes, in one query: `None` when Moat does not protect it, else its
    /// downstream hosts (an alias domain's are its primary's), lowest priority value first; maybe none.
    pub async fn route_hosts(&self, name: &str) -> Result<Option<Vec<DownstreamHost>>> {
        let rows = sqlx::query(
            "SELECT h.host, h.port, h.priority FROM domains d \
             LEFT JOIN downstream_hosts h ON h.domain_id = COALESCE(d.alias_of, d.id) \
             WHERE d.name = $1 ORDER BY h.priority, h.id",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let hosts = rows.iter().filter(|r| r.get::<Option<String>, _>("host").is_some()).map(downstream_host);
        Ok(Some(hosts.collect()))
    }
}

fn downstream_host(r: &sqlx::any::AnyRow) -> DownstreamHost {
    DownstreamHost {
        host: r.get("host"),
        port: u16::try_from(r.get::<i64, _>("port")).unwrap_or(25),
        priority: u32::try_from(r.get::<i64, _>("priority")).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_TENANT, test_support::stores};

    fn example<'a>(name: &'a str, downstream: &'a [DownstreamHost]) -> NewDomain<'a> {
        NewDomain {
            tenant_id: DEFAULT_TENANT,
            name,
            alias_of: None,
            contact_email: Some("it@example.com"),
            max_users: Some(50),
            language: "en",
            downstream,
        }
    }

    #[tokio::test]
    async fn domain_round_trip_with_downstream_hosts_by_priority() {
        for (store, _dir) in stores().await {
            let hosts = [
                DownstreamHost { host: "backup.example.com".into(), port: 25, priority: 20 },
                DownstreamHost { host: "10.0.0.5".into(), port: 2525, priority: 10 },
            ];
            let id = store.domain_add(&example("example.com", &hosts), 100).await.unwrap();
            let domain = store.domain_by_name("example.com").await.unwrap().unwrap();
            assert_eq!(domain.id, id);
            assert_eq!(domain.max_users, Some(50));
            assert_eq!(domain.contact_email.as_deref(), Some("it@example.com"));
            let got = store.downstream_hosts(id).await.unwrap();
            assert_eq!(got, vec![hosts[1].clone(), hosts[0].clone()]);
            assert_eq!(domain.signup, Signup::Manual, "users are added by hand unless said otherwise");
            store.domain_set_signup(id, Signup::Smtp).await.unwrap();
            assert_eq!(store.domain_by_id(id).await.unwrap().unwrap().signup, Signup::Smtp);
            assert!(store.domain_set_signup(DomainId(id.0 + 100), Signup::Smtp).await.is_err());
        }
    }

    #[tokio::test]
    async fn a_route_is_its_domains_hosts_its_primarys_for_an_alias_or_unknown() {
        for (store, _dir) in stores().await {
            let hosts = [
                DownstreamHost { host: "backup.example.com".into(), port: 25, priority: 20 },
                DownstreamHost { host: "10.0.0.5".into(), port: 2525, priority: 10 },
            ];
            let primary = store.domain_add(&example("example.com", &hosts), 100).await.unwrap();
            store.domain_add(&NewDomain { alias_of: Some(primary), ..example("example.net", &[]) }, 100).await.unwrap();
            store.domain_add(&example("empty.test", &[]), 100).await.unwrap();
            let by_priority = Some(vec![hosts[1].clone(), hosts[0].clone()]);
            assert_eq!(store.route_hosts("example.com").await.unwrap(), by_priority);
            assert_eq!(store.route_hosts("example.net").await.unwrap(), by_priority, "an alias: its primary's");
            assert_eq!(store.route_hosts("empty.test").await.unwrap(), Some(vec![]), "protected, no host yet");
            assert_eq!(store.route_hosts("elsewhere.test").await.unwrap(), None, "not protected");
        }
    }

    #[tokio::test]
    async fn duplicate_domain_is_refused_and_removal_cascades() {
        for (store, _dir) in stores().await {
            let primary = store.domain_add(&example("example.com", &[]), 1).await.unwrap();
            let err = store.domain_add(&example("example.com", &[]), 2).await.unwrap_err();
            assert!(matches!(err, StoreError::Duplicate { .. }), "{err}");
            let alias = NewDomain { alias_of: Some(primary), ..example("example.net", &[]) };
            store.domain_add(&alias, 3).await.unwrap();
            store.domain_remove("example.com").await.unwrap();
            assert!(store.domain_list(None).await.unwrap().is_empty());
            let err = store.domain_remove("example.com").await.unwrap_err();
            assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        }
    }
}
