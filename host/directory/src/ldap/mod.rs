//! Sign-up from a tenant's directory (LDAP, Active Directory, Lotus Domino): the settings (tenant-wide or per
//! domain, the bind password sealed), the admin's three checks, sign-up of an unknown recipient on its first
//! message with the aliases the directory lists, and scheduled synchronization.

mod client;
mod settings;

pub use client::{Connection, LdapFailure, Person, addresses};
pub use settings::{LdapSettings, SearchScope, ServerType};

use crate::{Address, Directory, DirectoryError, Language, Notice, RecipientError};
use moat_store::{Domain, StoredLdap, TenantId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Whose settings: every domain of a tenant, or one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdapScope {
    Tenant(String),
    Domain(String),
}

/// What the admin's checks found.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LdapCheck {
    /// The connection and bind: `None` if they worked, else why not.
    pub connection_error: Option<String>,
    /// The user checked for: (primary, name), or why not (`{"Ok": [primary, name]}` or `{"Err": why}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub user: Option<Result<(String, Option<String>), String>>,
    /// The alias checked for: its primary address, or why not (`{"Ok": primary}` or `{"Err": why}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub alias: Option<Result<String, String>>,
}

/// What a synchronization changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncReport {
    pub added: Vec<String>,
    pub renamed: Vec<String>,
    pub aliases_added: usize,
    pub departed: Vec<String>,
    pub removed: bool,
}

/// Bound connections kept between lookups, by stored settings (id and text, so new settings reconnect).
#[derive(Default)]
pub(crate) struct ConnectionPool(Mutex<HashMap<(i64, String), Connection>>);

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionPool")
    }
}

impl Directory {
    /// Sets the directory of a tenant or a domain. The bind password given is sealed; left out, the one
    /// already stored is kept.
    pub async fn set_ldap(&self, scope: &LdapScope, settings: LdapSettings) -> Result<(), DirectoryError> {
        let (tenant, domain) = self.ldap_scope(scope).await?;
        let mut settings = settings.with_defaults();
        if settings.bind_password.is_none()
            && let Some((_, old)) = self.stored_ldap(tenant, domain).await?
        {
            settings.bind_password_sealed = old.bind_password_sealed;
        }
        settings.validate().map_err(|e| DirectoryError::Ldap(e.0))?;
        if let Some(password) = settings.bind_password.take() {
            settings.bind_password_sealed = Some(self.keyring().seal(&password));
        }
        let json = serde_json::to_string(&settings).expect("settings serialize");
        Ok(self.store().ldap_set(tenant, domain, &json, now()).await?)
    }

    /// The settings of a tenant or domain scope exactly, without the sealed password.
    pub async fn ldap_settings(&self, scope: &LdapScope) -> Result<Option<LdapSettings>, DirectoryError> {
        let (tenant, domain) = self.ldap_scope(scope).await?;
        Ok(self.stored_ldap(tenant, domain).await?.map(|(_, s)| LdapSettings { bind_password_sealed: None, ..s }))
    }

    async fn stored_ldap(
        &self,
        tenant: TenantId,
        domain: Option<moat_store::DomainId>,
    ) -> Result<Option<(StoredLdap, LdapSettings)>, DirectoryError> {
        let stored = match domain {
            Some(d) => self.store().ldap_for(tenant, d).await?.filter(|s| s.domain == Some(d)),
            None => self.store().ldap_list().await?.into_iter().find(|s| s.tenant == tenant && s.domain.is_none()),
        };
        stored.map(|s| Ok((s.clone(), parse(&s)?))).transpose()
    }

    async fn ldap_scope(&self, scope: &LdapScope) -> Result<(TenantId, Option<moat_store::DomainId>), DirectoryError> {
        Ok(match scope {
            LdapScope::Tenant(name) => {
                let tenant = self.store().tenant_by_name(name).await?;
                (tenant.ok_or_else(|| DirectoryError::UnknownTenant(name.clone()))?.id, None)
            }
            LdapScope::Domain(name) => {
                let domain = self.domain(name).await?;
                if domain.alias_of.is_some() {
                    let primary = self.primary_of(&domain).await?.name;
                    return Err(DirectoryError::OnAliasDomain {
                        domain: domain.name,
                        primary,
                        what: "sign-up settings",
                    });
                }
                (domain.tenant_id, Some(domain.id))
            }
        })
    }

    /// The settings that apply to a primary domain (its own, else its tenant's).
    async fn ldap_for(&self, domain: &Domain) -> Result<Option<(StoredLdap, LdapSettings)>, DirectoryError> {
        match self.store().ldap_for(domain.tenant_id, domain.id).await? {
            Some(stored) => {
                let settings = parse(&stored)?;
                Ok(Some((stored, settings)))
            }
            None => Ok(None),
        }
    }

    async fn connect(&self, settings: &LdapSettings) -> Result<Connection, LdapFailure> {
        let password = match &settings.bind_password_sealed {
            Some(sealed) => {
                Some(self.keyring().open(sealed).map_err(|e| LdapFailure::Credentials(format!("bind password: {e}")))?)
            }
            None => settings.bind_password.clone(),
        };
        Connection::open(settings, password.as_deref()).await
    }

    /// A bound connection for stored settings: the pooled one, or a new one.
    async fn pooled(&self, stored: &StoredLdap, settings: &LdapSettings) -> Result<Connection, LdapFailure> {
        let key = (stored.id, stored.settings.clone());
        if let Some(conn) = self.ldap_pool().0.lock().expect("pool lock").get(&key).cloned() {
            return Ok(conn);
        }
        let conn = self.connect(settings).await?;
        let mut pool = self.ldap_pool().0.lock().expect("pool lock");
        pool.retain(|(id, _), _| *id != stored.id);
        pool.insert(key, conn.clone());
        Ok(conn)
    }

    fn drop_pooled(&self, stored: &StoredLdap) {
        self.ldap_pool().0.lock().expect("pool lock").retain(|(id, _), _| *id != stored.id);
    }

    /// The person one of whose addresses is `address`, asking once more on a fresh connection if the pooled
    /// one failed (the directory may have closed it).
    async fn lookup(
        &self,
        stored: &StoredLdap,
        settings: &LdapSettings,
        address: &str,
    ) -> Result<Option<Person>, LdapFailure> {
        let mut conn = self.pooled(stored, settings).await?;
        match conn.find(address).await {
            Ok(found) => Ok(found),
            Err(LdapFailure::Refused(why)) => Err(LdapFailure::Refused(why)),
            Err(_) => {
                self.drop_pooled(stored);
                let mut conn = self.pooled(stored, settings).await?;
                conn.find(address).await
            }
        }
    }

    /// The admin's checks of `domain`'s directory: the connection and bind, then (given) a user's primary
    /// address and an alias.
    pub async fn check_ldap(
        &self,
        domain: &str,
        user: Option<&str>,
        alias: Option<&str>,
    ) -> Result<LdapCheck, DirectoryError> {
        let domain = self.domain(domain).await?;
        let primary = self.primary_of(&domain).await?;
        let (_, settings) = self
            .ldap_for(&primary)
            .await?
            .ok_or_else(|| DirectoryError::Ldap(format!("no directory is set for {} or its tenant", primary.name)))?;
        let mut check = LdapCheck::default();
        let mut conn = match self.connect(&settings).await {
            Ok(conn) => conn,
            Err(e) => {
                check.connection_error = Some(e.to_string());
                return Ok(check);
            }
        };
        if let Some(user) = user {
            check.user = Some(match conn.find(user.trim()).await {
                Ok(Some(p)) if p.primary.to_string().eq_ignore_ascii_case(user.trim()) => {
                    Ok((p.primary.to_string(), p.name))
                }
                Ok(Some(p)) => Err(format!("{user} is an alias of {}, not a primary address", p.primary)),
                Ok(None) => Err(format!("no user {user} in the directory")),
                Err(e) => Err(e.to_string()),
            });
        }
        if let Some(alias) = alias {
            check.alias = Some(match conn.find(alias.trim()).await {
                Ok(Some(p)) if p.aliases.iter().any(|a| a.to_string().eq_ignore_ascii_case(alias.trim())) => {
                    Ok(p.primary.to_string())
                }
                Ok(Some(p)) => Err(format!("{alias} is {}'s primary address, not an alias", p.primary)),
                Ok(None) => Err(format!("no alias {alias} in the directory")),
                Err(e) => Err(e.to_string()),
            });
        }
        Ok(check)
    }

    /// Turns sign-up from the directory on for `domain`, once a connection and bind work.
    pub(crate) async fn check_ldap_connection(&self, domain: &Domain) -> Result<(), DirectoryError> {
        let check = self.check_ldap(&domain.name, None, None).await?;
        match check.connection_error {
            None => Ok(()),
            Some(why) => Err(DirectoryError::SignupCheck { domain: domain.name.clone(), why }),
        }
    }

    async fn primary_of(&self, domain: &Domain) -> Result<Domain, DirectoryError> {
        match domain.alias_of {
            None => Ok(domain.clone()),
            Some(id) => Ok(self
                .store()
                .domain_by_id(id)
                .await?
                .ok_or_else(|| DirectoryError::UnknownDomain(domain.name.clone()))?),
        }
    }

    /// Signs `address` of an `ldap` domain up if the directory knows it: its person's mailbox (the
    /// directory's name) and the aliases it lists in the tenant's protected domains.
    pub(crate) async fn ldap_sign_up(&self, primary: &Domain, address: &Address) -> Result<(), RecipientError> {
        let key = address.to_string();
        let now_instant = std::time::Instant::now();
        if self.refusals.recently(&key, now_instant) {
            return Err(RecipientError::UnknownUser(key));
        }
        let unavailable = |why: String| RecipientError::Unverified(why);
        let (stored, settings) = self
            .ldap_for(primary)
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .ok_or_else(|| unavailable(format!("no directory is set for {}", primary.name)))?;
        let person = match self.lookup(&stored, &settings, &key).await {
            Ok(Some(person)) => person,
            Ok(None) => {
                tracing::info!(%address, "not in the directory: not signed up");
                self.refusals.remember(key.clone(), now_instant);
                return Err(RecipientError::UnknownUser(key));
            }
            Err(e) => return Err(unavailable(e.to_string())),
        };
        match self.adopt(primary.tenant_id, &person).await {
            Ok(_) => {
                tracing::info!(%address, primary = %person.primary, "signed up from the directory");
                Ok(())
            }
            Err(e @ (DirectoryError::LicensesExhausted { .. } | DirectoryError::MaxUsers { .. })) => {
                tracing::warn!(%address, "cannot sign up: {e}");
                Err(RecipientError::SignupRefused(e.to_string()))
            }
            Err(DirectoryError::Store(e)) => Err(RecipientError::Temporary(e)),
            Err(e) => {
                tracing::warn!(%address, "directory user not signed up: {e}");
                self.refusals.remember(key.clone(), now_instant);
                Err(RecipientError::UnknownUser(key))
            }
        }
    }

    /// Makes `person` a user of `tenant`: their mailbox (with their name) if missing, and each alias the
    /// directory lists in one of the tenant's protected domains. Returns whether the mailbox was new and how
    /// many aliases were added.
    async fn adopt(&self, tenant: TenantId, person: &Person) -> Result<(bool, usize), DirectoryError> {
        let domain = self.domain(person.primary.domain()).await?;
        if domain.tenant_id != tenant {
            return Err(DirectoryError::UnknownDomain(person.primary.domain().to_owned()));
        }
        let home = self.primary_of(&domain).await?;
        let mailbox_address = format!("{}@{}", person.primary.local(), home.name);
        let existing = self.store().mailbox_find(home.id, person.primary.local()).await?;
        let new = match existing {
            Some(_) => false,
            None => match self.add_mailbox(&mailbox_address, person.name.as_deref()).await {
                Ok(id) => {
                    self.welcome_signed_up(id, &mailbox_address, person.name.as_deref()).await;
                    true
                }
                // Two sessions signing the same person up at once: the other one made the mailbox.
                Err(DirectoryError::Store(moat_store::StoreError::Duplicate { .. })) => false,
                Err(e) => return Err(e),
            },
        };
        let mut added = 0;
        for alias in &person.aliases {
            let Ok(alias_domain) = self.domain(alias.domain()).await else { continue };
            if alias_domain.tenant_id != tenant || self.resolve_quiet(alias).await {
                continue;
            }
            match self.add_alias(&alias.to_string(), &mailbox_address).await {
                Ok(()) => added += 1,
                Err(e @ DirectoryError::LicensesExhausted { .. }) => return Err(e),
                Err(e) => tracing::debug!(%alias, "alias not added: {e}"),
            }
        }
        Ok((new, added))
    }

    /// A user the directory signed up gets the domain's welcome, if it is on, with a console password Moat
    /// generates (the directory's own password is never Moat's to know).
    async fn welcome_signed_up(&self, mailbox: moat_store::MailboxId, address: &str, name: Option<&str>) {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let Ok(Some(welcome)) = self.welcome_of(domain).await else { return };
        let password = crate::generate_password();
        match self.store().mailbox_set_password(mailbox, &crate::hash_generated_password(&password)).await {
            Ok(()) => self.send_welcome(&welcome, address, name, Some(&password)),
            Err(e) => tracing::warn!(%address, "no welcome message: {e}"),
        }
    }

    /// Whether `address` already reaches a mailbox (no sign-up is attempted for it).
    async fn resolve_quiet(&self, address: &Address) -> bool {
        let Ok(domain) = self.domain(address.domain()).await else { return false };
        let Ok(primary) = self.primary_of(&domain).await else { return false };
        self.find_mailbox(&domain, &primary, address.local()).await.ok().flatten().is_some()
    }

    /// Synchronizes every user of a stored setting's scope with the directory: new users and aliases come in,
    /// names follow, users that left are reported (or removed, if the settings say so); the domain's contact
    /// hears about any change.
    pub async fn sync_ldap(&self, stored: &StoredLdap) -> Result<SyncReport, DirectoryError> {
        let settings = parse(stored)?;
        let mut conn = self.connect(&settings).await.map_err(|e| DirectoryError::Ldap(e.to_string()))?;
        let people =
            conn.everyone(settings.page_size.unwrap_or(500)).await.map_err(|e| DirectoryError::Ldap(e.to_string()))?;
        let domains: Vec<Domain> = self
            .store()
            .domain_list(Some(stored.tenant))
            .await?
            .into_iter()
            .filter(|d| d.alias_of.is_none() && stored.domain.is_none_or(|id| id == d.id))
            .collect();
        let in_scope = |address: &Address| domains.iter().any(|d| d.name == address.domain());
        let mut report = SyncReport { removed: settings.remove_departed, ..SyncReport::default() };
        let mut listed = BTreeSet::new();
        for person in people.iter().filter(|p| in_scope(&p.primary)) {
            listed.insert(person.primary.to_string());
            match self.adopt(stored.tenant, person).await {
                Ok((new, aliases)) => {
                    if new {
                        report.added.push(person.primary.to_string());
                    }
                    report.aliases_added += aliases;
                }
                Err(e) => tracing::warn!(user = %person.primary, "not synchronized: {e}"),
            }
            let home = self.domain(person.primary.domain()).await?;
            if let Some(mailbox) = self.store().mailbox_find(home.id, person.primary.local()).await?
                && person.name.is_some()
                && mailbox.full_name != person.name
            {
                self.store().mailbox_set_name(mailbox.id, person.name.as_deref()).await?;
                if !report.added.contains(&person.primary.to_string()) {
                    report.renamed.push(person.primary.to_string());
                }
            }
        }
        for domain in &domains {
            for mailbox in self.store().mailbox_list(Some(domain.id)).await? {
                if !listed.contains(&mailbox.address.to_ascii_lowercase()) {
                    if settings.remove_departed {
                        self.remove_mailbox(&mailbox.address).await?;
                    }
                    report.departed.push(mailbox.address);
                }
            }
        }
        if !(report.added.is_empty() && report.renamed.is_empty() && report.departed.is_empty()) {
            for domain in &domains {
                if let Some(contact) = &domain.contact_email {
                    self.notify(
                        contact,
                        Language::parse(&domain.language),
                        Notice::DirectorySync {
                            scope: domain.name.clone(),
                            added: report.added.clone(),
                            renamed: report.renamed.clone(),
                            departed: report.departed.clone(),
                            removed: report.removed,
                        },
                    );
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Synchronizes the directory that applies to `domain` now.
    pub async fn sync_ldap_of(&self, domain: &str) -> Result<SyncReport, DirectoryError> {
        let domain = self.domain(domain).await?;
        let primary = self.primary_of(&domain).await?;
        let (stored, _) = self
            .ldap_for(&primary)
            .await?
            .ok_or_else(|| DirectoryError::Ldap(format!("no directory is set for {} or its tenant", primary.name)))?;
        self.sync_ldap(&stored).await
    }

    /// Synchronizes every setting whose interval has passed (claimed in the store, so one node does each).
    pub async fn sync_due(&self, now: i64) -> Result<usize, DirectoryError> {
        let mut done = 0;
        for stored in self.store().ldap_list().await? {
            let Ok(settings) = parse(&stored) else { continue };
            let Some(every) = settings.sync_interval() else { continue };
            if !self.store().ldap_claim_sync(stored.id, now - every.as_secs() as i64, now).await? {
                continue;
            }
            match self.sync_ldap(&stored).await {
                Ok(report) => {
                    tracing::info!(
                        added = report.added.len(),
                        departed = report.departed.len(),
                        "directory synchronized"
                    );
                    done += 1;
                }
                Err(e) => tracing::warn!("directory synchronization failed: {e}"),
            }
        }
        Ok(done)
    }
}

fn parse(stored: &StoredLdap) -> Result<LdapSettings, DirectoryError> {
    serde_json::from_str(&stored.settings).map_err(|e| DirectoryError::Ldap(format!("stored settings: {e}")))
}

use moat_store::unix_now as now;
