use crate::{Address, AddressError, DirectoryError, normalize_domain};
use moat_store::{
    DEFAULT_TENANT, Domain, DomainId, DownstreamHost, Mailbox, MailboxId, NewDomain, Store, StoreError, TenantId,
};
use thiserror::Error;

/// How stale a node's view of recipients may be after an edit elsewhere (a mailbox removed, an alias
/// retargeted); a recipient just added is never refused for it (misses always ask the store).
const DIRECTORY_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The directory over the store: resolves recipients and makes validated changes.
#[derive(Clone, Debug)]
pub struct Directory {
    store: Store,
    notifier: Option<std::sync::Arc<dyn crate::Notifier>>,
    /// Where end users open the console (for welcome messages).
    pub(crate) console_url: String,
    /// Asks domains' servers about addresses, for sign-up by SMTP.
    pub(crate) callout: Option<std::sync::Arc<dyn crate::Callout>>,
    pub(crate) refusals: std::sync::Arc<crate::signup::Refusals>,
    /// When each domain's contact was last told its tenant has no license left.
    pub(crate) exhaustion_told:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<moat_store::DomainId, std::time::Instant>>>,
    /// Seals the secrets Moat must read back (TOTP seeds, directory bind passwords); ephemeral unless the
    /// server gives its key file.
    keyring: std::sync::Arc<crate::Keyring>,
    /// Bound directory connections, reused between sign-ups.
    ldap_pool: std::sync::Arc<crate::ldap::ConnectionPool>,
    /// Recipients found, by normalized address: RCPT asks the store only for addresses not seen since the
    /// directory last changed.
    found: std::sync::Arc<moat_store::DirectoryCache<Recipient>>,
}

/// A recipient Moat accepts mail for, and where that mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the sender wrote it, normalized; this is what is delivered downstream.
    pub address: Address,
    pub tenant: TenantId,
    pub mailbox: MailboxId,
    /// The mailbox's own address (differs from `address` for an alias or an alias domain).
    pub mailbox_address: String,
    /// The primary domain whose downstream hosts receive the mail.
    pub route: String,
}

/// Why a recipient is refused, one variant per SMTP reply.
#[derive(Debug, Error)]
pub enum RecipientError {
    /// `501 5.1.3`: not an address at all.
    #[error("{0}")]
    Syntax(AddressError),
    /// `550 5.7.1`: not a domain Moat protects. Moat never relays.
    #[error("relay access denied for {0}")]
    RelayDenied(String),
    /// `550 5.1.1`: a protected domain without that user.
    #[error("no such user {0}")]
    UnknownUser(String),
    /// `451 4.3.0`: the directory could not be read; the sender should retry.
    #[error("directory unavailable: {0}")]
    Temporary(StoreError),
    /// `451 4.4.3`: a domain that signs users up by SMTP, whose server could not say whether the address
    /// exists; the sender should retry.
    #[error("cannot verify the recipient now: {0}")]
    Unverified(String),
    /// `451 4.7.1`: the address exists on the domain's server but cannot be signed up now (no license left,
    /// the domain is full); the sender retries while an admin acts.
    #[error("cannot sign the recipient up now: {0}")]
    SignupRefused(String),
}

/// A domain as an admin describes it.
#[derive(Debug, Clone, Default)]
pub struct DomainSpec {
    /// Tenant name; the default tenant when `None`.
    pub tenant: Option<String>,
    pub name: String,
    /// Makes this an alias domain of the named primary domain.
    pub alias_of: Option<String>,
    pub contact_email: Option<String>,
    pub max_users: Option<i64>,
    pub language: Option<String>,
    pub downstream: Vec<DownstreamHost>,
}

/// What an admin may change on an existing domain: the rest of [`DomainSpec`] (name, tenant, primary) stays.
#[derive(Debug, Clone, Default)]
pub struct DomainSettings {
    pub contact_email: Option<String>,
    pub max_users: Option<i64>,
    /// A language code; English when it is not one Moat speaks.
    pub language: String,
    /// Replaces the downstream hosts; a primary domain needs at least one, an alias domain has none.
    pub downstream: Vec<DownstreamHost>,
}

use moat_store::unix_now as now;

impl Directory {
    pub fn new(store: Store) -> Self {
        Self {
            notifier: None,
            console_url: String::new(),
            callout: None,
            refusals: Default::default(),
            exhaustion_told: Default::default(),
            keyring: std::sync::Arc::new(crate::Keyring::ephemeral()),
            ldap_pool: Default::default(),
            found: std::sync::Arc::new(moat_store::DirectoryCache::new(store.clone(), DIRECTORY_REFRESH)),
            store,
        }
    }

    pub(crate) fn keyring(&self) -> &crate::Keyring {
        &self.keyring
    }

    pub(crate) fn ldap_pool(&self) -> &crate::ldap::ConnectionPool {
        &self.ldap_pool
    }

    /// A directory that seals secrets with `keyring` (the data dir's key file).
    pub fn with_keyring(mut self, keyring: std::sync::Arc<crate::Keyring>) -> Self {
        self.keyring = keyring;
        self
    }

    /// Sets (or with `None` removes) an admin's TOTP seed, sealed.
    pub async fn set_totp_secret(
        &self,
        admin: moat_store::AdminId,
        secret: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let sealed = secret.map(|s| self.keyring.seal(s));
        Ok(self.store.admin_set_totp(admin, sealed.as_deref()).await?)
    }

    /// The TOTP seed of a stored (sealed) value. A value stored before sealing existed is still read, and
    /// sealed by [`Directory::seal_stored_secrets`] at the next start.
    pub fn totp_secret(&self, stored: &str) -> Result<String, crate::SealError> {
        if crate::Keyring::is_sealed(stored) { self.keyring.open(stored) } else { Ok(stored.to_owned()) }
    }

    /// Seals every secret still stored in clear (from before sealing existed); returns how many.
    pub async fn seal_stored_secrets(&self) -> Result<usize, DirectoryError> {
        let mut sealed = 0;
        for admin in self.store.admin_list().await? {
            if let Some(secret) = admin.totp_secret.as_deref().filter(|s| !crate::Keyring::is_sealed(s)) {
                self.store.admin_set_totp(admin.id, Some(&self.keyring.seal(secret))).await?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// A directory that signs users of `smtp`-mode domains up when their domain's server accepts them.
    pub fn with_callout(mut self, callout: std::sync::Arc<dyn crate::Callout>) -> Self {
        self.callout = Some(callout);
        self
    }

    /// A directory that tells domains' contacts when their tenant runs out of licenses (and import results).
    pub fn with_notifier(mut self, notifier: std::sync::Arc<dyn crate::Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Hands a notice for `to` to the notifier. `to` comes from the store (a contact, an admin's
    /// notification address, a mailbox): it reaches `RCPT TO:` only once it parses as an [`Address`].
    pub(crate) fn notify(&self, to: &str, language: crate::Language, notice: crate::Notice) {
        let Some(notifier) = &self.notifier else { return };
        match Address::parse(to) {
            Ok(to) => notifier.send(crate::Notification { to, language, notice }),
            Err(e) => tracing::warn!("notice not sent: {e}"),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Decides whether Moat accepts mail for `raw` (a `RCPT TO` address) and where it goes.
    pub async fn resolve(&self, raw: &str) -> Result<Recipient, RecipientError> {
        let address = match Address::parse(raw) {
            Ok(address) => address,
            // An IP literal is a well-formed address of a domain Moat never protects.
            Err(AddressError::IpLiteral(a)) => return Err(RecipientError::RelayDenied(a)),
            Err(err) => return Err(RecipientError::Syntax(err)),
        };
        let key = address.to_string();
        let (known, ticket) = self.found.get(&key).await;
        if let Some(recipient) = known {
            return Ok(recipient);
        }
        let recipient = self.look_up(address).await?;
        self.found.remember(ticket, &key, recipient.clone());
        Ok(recipient)
    }

    /// [`Directory::resolve`] asking the store (and signing the recipient up when the domain does).
    async fn look_up(&self, address: Address) -> Result<Recipient, RecipientError> {
        let temporary = RecipientError::Temporary;
        let found = self.store.domain_and_mailbox(address.domain(), address.local()).await.map_err(temporary)?;
        let Some((domain, direct)) = found else {
            return Err(RecipientError::RelayDenied(address.to_string()));
        };
        if !address.has_plain_local_part() {
            return Err(RecipientError::UnknownUser(address.to_string()));
        }
        let primary = match domain.alias_of {
            None => domain.clone(),
            Some(id) => self
                .store
                .domain_by_id(id)
                .await
                .map_err(temporary)?
                .ok_or_else(|| RecipientError::UnknownUser(address.to_string()))?,
        };
        let mut mailbox = match direct {
            Some(mailbox) => Some(mailbox),
            // The query above already looked for a primary domain's own mailbox: only its aliases are left.
            None if domain.alias_of.is_none() => {
                self.alias_mailbox(&domain, &primary, address.local()).await.map_err(temporary)?
            }
            None => self.find_mailbox(&domain, &primary, address.local()).await.map_err(temporary)?,
        };
        // Subaddressing (RFC 5233): `ann+news` is ann's unless `ann+news` itself exists. The address is
        // delivered as written; the company's server files it.
        let owner = match address.local().split_once('+') {
            Some((base, _)) if !base.is_empty() => Address::parse(&format!("{base}@{}", address.domain()))
                .map_err(|_| RecipientError::UnknownUser(address.to_string()))?,
            _ => address.clone(),
        };
        if mailbox.is_none() && owner != address {
            mailbox = self.find_mailbox(&domain, &primary, owner.local()).await.map_err(temporary)?;
        }
        if mailbox.is_none() {
            let signed_up = match primary.signup {
                moat_store::Signup::Smtp => match &self.callout {
                    Some(callout) => self.sign_up(callout.as_ref(), &primary, &owner).await.map(|_| true)?,
                    None => false,
                },
                moat_store::Signup::Ldap => self.ldap_sign_up(&primary, &owner).await.map(|_| true)?,
                moat_store::Signup::Manual => false,
            };
            if signed_up {
                mailbox = self.find_mailbox(&domain, &primary, owner.local()).await.map_err(temporary)?;
            }
        }
        let mailbox = mailbox.ok_or_else(|| RecipientError::UnknownUser(address.to_string()))?;
        // An alias may point into another domain: mail goes where its mailbox lives.
        let route = mailbox.address.rsplit_once('@').map_or(primary.name, |(_, d)| d.to_owned());
        Ok(Recipient {
            address,
            tenant: primary.tenant_id,
            mailbox: mailbox.id,
            mailbox_address: mailbox.address,
            route,
        })
    }

    /// A local part of `domain` is a mailbox of the primary, an alias in `domain` itself, or (for an alias
    /// domain) an alias of the primary.
    pub(crate) async fn find_mailbox(
        &self,
        domain: &Domain,
        primary: &Domain,
        local: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        if let Some(mailbox) = self.store.mailbox_find(primary.id, local).await? {
            return Ok(Some(mailbox));
        }
        self.alias_mailbox(domain, primary, local).await
    }

    /// The mailbox an alias `local` of `domain` (or, for an alias domain, of its primary) points to.
    async fn alias_mailbox(
        &self,
        domain: &Domain,
        primary: &Domain,
        local: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        let mut target = self.store.alias_target(domain.id, local).await?;
        if target.is_none() && domain.id != primary.id {
            target = self.store.alias_target(primary.id, local).await?;
        }
        match target {
            Some(id) => self.store.mailbox_by_id(id).await,
            None => Ok(None),
        }
    }

    /// The protected domain `name`, whatever its spelling (case, trailing dot, U-label).
    pub async fn domain(&self, name: &str) -> Result<Domain, DirectoryError> {
        let name = normalize_domain(name)?;
        self.store.domain_by_name(&name).await?.ok_or(DirectoryError::UnknownDomain(name))
    }

    pub async fn add_domain(&self, spec: &DomainSpec) -> Result<DomainId, DirectoryError> {
        let name = normalize_domain(&spec.name)?;
        let tenant = match &spec.tenant {
            None => DEFAULT_TENANT,
            Some(t) => self.store.tenant_by_name(t).await?.ok_or_else(|| DirectoryError::UnknownTenant(t.clone()))?.id,
        };
        // Every front end (CLI, console, API) gets this rule here: a primary domain's mail must go somewhere.
        if spec.alias_of.is_none() && spec.downstream.is_empty() {
            return Err(DirectoryError::NoDownstream(spec.name.trim().to_owned()));
        }
        let alias_of = match &spec.alias_of {
            None => None,
            Some(primary) => {
                let primary = self.domain(primary).await?;
                if primary.alias_of.is_some() {
                    return Err(DirectoryError::NestedAliasDomain { alias: name, primary: primary.name });
                }
                if !spec.downstream.is_empty() || spec.max_users.is_some() {
                    return Err(DirectoryError::OnAliasDomain {
                        domain: name,
                        primary: primary.name,
                        what: "downstream hosts and user limits",
                    });
                }
                Some(primary)
            }
        };
        // A domain above or below another tenant's (beta.org's mail.beta.org, or org-wide names) would let one
        // tenant claim mail, branding or reputation that looks like another's: refused, without saying whose.
        let taken = self.store.domain_list(None).await?.into_iter().any(|d| {
            let owner = alias_of.as_ref().map_or(tenant, |p| p.tenant_id);
            d.tenant_id != owner && (name.ends_with(&format!(".{}", d.name)) || d.name.ends_with(&format!(".{name}")))
        });
        if taken {
            return Err(DirectoryError::NotAvailable(name));
        }
        let contact = match &spec.contact_email {
            Some(c) => Some(Address::parse_mailbox(c)?.to_string()),
            None => None,
        };
        let new = NewDomain {
            tenant_id: alias_of.as_ref().map_or(tenant, |p| p.tenant_id),
            name: &name,
            alias_of: alias_of.as_ref().map(|p| p.id),
            contact_email: contact.as_deref(),
            max_users: spec.max_users,
            language: spec.language.as_deref().unwrap_or("en"),
            downstream: &spec.downstream,
        };
        Ok(self.store.domain_add(&new, now()).await?)
    }

    /// Changes a domain's contact, user limit, language and downstream hosts, by the rules [`Self::add_domain`]
    /// applies to a new one; a limit below the users it has already is refused (nobody is removed by it).
    pub async fn edit_domain(&self, name: &str, settings: &DomainSettings) -> Result<(), DirectoryError> {
        let domain = self.domain(name).await?;
        if let Some(primary) = domain.alias_of {
            if !settings.downstream.is_empty() || settings.max_users.is_some() {
                let primary = self.store.domain_by_id(primary).await?.map(|d| d.name).unwrap_or_default();
                return Err(DirectoryError::OnAliasDomain {
                    domain: domain.name,
                    primary,
                    what: "downstream hosts and user limits",
                });
            }
        } else if settings.downstream.is_empty() {
            return Err(DirectoryError::NoDownstream(domain.name));
        }
        if let Some(max) = settings.max_users {
            let users = self.store.mailbox_count(&[domain.id]).await?;
            if max < 0 || users > max {
                return Err(DirectoryError::MaxUsersBelowUsers { domain: domain.name, max, users });
            }
        }
        let contact = match settings.contact_email.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => Some(Address::parse_mailbox(c)?.to_string()),
            None => None,
        };
        let language = crate::Language::parse(&settings.language);
        let stored = moat_store::DomainSettings {
            contact_email: contact.as_deref(),
            max_users: settings.max_users,
            language: language.code(),
            downstream: &settings.downstream,
        };
        Ok(self.store.domain_update(domain.id, &stored).await?)
    }

    /// Sets (or with `None` clears) where an admin's notices go. The address is checked like a mailbox's:
    /// it will be written into `RCPT TO:` and `To:`.
    pub async fn set_notification_address(
        &self,
        admin: moat_store::AdminId,
        raw: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let address = raw.map(str::trim).filter(|r| !r.is_empty()).map(Address::parse_mailbox).transpose()?;
        Ok(self.store.admin_set_email(admin, address.map(|a| a.to_string()).as_deref()).await?)
    }

    pub async fn remove_domain(&self, name: &str) -> Result<(), DirectoryError> {
        let domain = self.domain(name).await?;
        Ok(self.store.domain_remove(&domain.name).await?)
    }

    /// The user (mailbox) at `address`; an alias or unknown address is [`DirectoryError::UnknownMailbox`].
    pub async fn mailbox(&self, address: &str) -> Result<Mailbox, DirectoryError> {
        let parsed = Address::parse(address)?;
        let domain = self.domain(parsed.domain()).await?;
        self.store
            .mailbox_find(domain.id, parsed.local())
            .await?
            .ok_or_else(|| DirectoryError::UnknownMailbox(parsed.to_string()))
    }

    /// Changes a user's full name and language (`None`: the domain's).
    pub async fn edit_mailbox(
        &self,
        address: &str,
        full_name: Option<&str>,
        language: Option<crate::Language>,
    ) -> Result<Mailbox, DirectoryError> {
        let mailbox = self.mailbox(address).await?;
        let full_name = full_name_of(full_name)?;
        self.store.mailbox_set_name(mailbox.id, full_name).await?;
        self.store.mailbox_set_language(mailbox.id, language.map(crate::Language::code)).await?;
        Ok(Mailbox { full_name: full_name.map(str::to_owned), ..mailbox })
    }

    pub async fn add_mailbox(&self, address: &str, full_name: Option<&str>) -> Result<MailboxId, DirectoryError> {
        let address = Address::parse_mailbox(address)?;
        let full_name = full_name_of(full_name)?;
        let domain = self.domain(address.domain()).await?;
        if let Some(primary) = domain.alias_of {
            let primary = self.store.domain_by_id(primary).await?.map(|d| d.name).unwrap_or_default();
            return Err(DirectoryError::OnAliasDomain { domain: domain.name, primary, what: "mailboxes" });
        }
        if let Some(max) = domain.max_users {
            let count = self.store.mailbox_list(Some(domain.id)).await?.len() as i64;
            if count >= max {
                return Err(DirectoryError::MaxUsers { domain: domain.name, max });
            }
        }
        self.check_licenses(&domain, 1).await?;
        self.store.mailbox_add(domain.id, address.local(), full_name, now()).await.map_err(taken(&address))
    }

    pub async fn remove_mailbox(&self, address: &str) -> Result<(), DirectoryError> {
        let address = Address::parse(address)?;
        let domain = self.domain(address.domain()).await?;
        Ok(self.store.mailbox_remove(domain.id, address.local()).await?)
    }

    /// Makes `alias` deliver to the existing mailbox `mailbox`. The alias may be in another protected domain.
    pub async fn add_alias(&self, alias: &str, mailbox: &str) -> Result<(), DirectoryError> {
        let alias = Address::parse_mailbox(alias)?;
        let target = Address::parse(mailbox)?;
        let target_domain = self.domain(target.domain()).await?;
        let target = self
            .store
            .mailbox_find(target_domain.id, target.local())
            .await?
            .ok_or_else(|| DirectoryError::UnknownMailbox(target.to_string()))?;
        let alias_domain = self.domain(alias.domain()).await?;
        if let Some(primary) = alias_domain.alias_of
            && let Some(existing) = self.store.mailbox_find(primary, alias.local()).await?
        {
            return Err(DirectoryError::ShadowedByAliasDomain {
                address: alias.to_string(),
                existing: existing.address,
                alias_domain: alias_domain.name,
            });
        }
        let aliases = self.store.mailbox_alias_count(target.id).await?;
        let more = crate::licenses_for(aliases + 1) - crate::licenses_for(aliases);
        self.check_licenses(&target_domain, more).await?;
        self.store.alias_add(alias_domain.id, alias.local(), target.id, now()).await.map_err(taken(&alias))?;
        Ok(())
    }

    pub async fn remove_alias(&self, alias: &str) -> Result<(), DirectoryError> {
        let alias = Address::parse(alias)?;
        let domain = self.domain(alias.domain()).await?;
        Ok(self.store.alias_remove(domain.id, alias.local()).await?)
    }
}

/// A user's full name as admins type it: trimmed, empty is none; it reaches `To:` lines of notices and the
/// export, so no control characters, and at most [`FULL_NAME_MAX`] characters.
fn full_name_of(raw: Option<&str>) -> Result<Option<&str>, DirectoryError> {
    match raw.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) if name.chars().count() > FULL_NAME_MAX || name.chars().any(char::is_control) => {
            Err(DirectoryError::FullName(name.chars().take(40).filter(|c| !c.is_control()).collect()))
        }
        name => Ok(name),
    }
}

pub const FULL_NAME_MAX: usize = 200;

/// The store knows a clash by local part only; the admin is told the whole address.
fn taken(address: &Address) -> impl FnOnce(StoreError) -> DirectoryError + '_ {
    move |e| match e {
        StoreError::Duplicate { .. } => DirectoryError::AddressTaken(address.to_string()),
        e => e.into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use moat_store::Durability;

    /// A directory with example.com (downstream 127.0.0.1:2526, at most 3 users; bob@), its alias domain
    /// example.net, and other.org (sales@ goes to bob@example.com).
    pub(crate) async fn directory() -> (Directory, tempfile_free::Dir) {
        let dir = tempfile_free::Dir::new();
        let store = Store::open(&format!("sqlite://{}", dir.path("moat.db")), Durability::None).await.unwrap();
        let directory = Directory::new(store);
        let spec = DomainSpec {
            name: "Example.com".into(),
            downstream: vec![crate::parse_downstream("127.0.0.1:2526:10").unwrap()],
            max_users: Some(3),
            ..DomainSpec::default()
        };
        directory.add_domain(&spec).await.unwrap();
        let alias =
            DomainSpec { name: "example.net".into(), alias_of: Some("example.com".into()), ..DomainSpec::default() };
        directory.add_domain(&alias).await.unwrap();
        let other = DomainSpec {
            name: "other.org".into(),
            downstream: vec![crate::parse_downstream("mx.other.org").unwrap()],
            ..DomainSpec::default()
        };
        directory.add_domain(&other).await.unwrap();
        let nowhere = directory.add_domain(&DomainSpec { name: "nowhere.org".into(), ..DomainSpec::default() }).await;
        assert!(matches!(nowhere, Err(DirectoryError::NoDownstream(_))), "a primary domain needs a downstream host");
        directory.add_mailbox("bob@example.com", Some("Bob")).await.unwrap();
        directory.add_alias("sales@other.org", "bob@example.com").await.unwrap();
        (directory, dir)
    }

    /// A temp dir without pulling `tempfile` into the directory crate's dependencies.
    pub(crate) mod tempfile_free {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "moat-dir-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
            pub fn path(&self, f: &str) -> String {
                self.0.join(f).display().to_string()
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[tokio::test]
    async fn mailboxes_aliases_and_alias_domains_resolve_to_the_primary_route() {
        let (d, _dir) = directory().await;
        for raw in ["bob@example.com", "BOB@EXAMPLE.COM", "bob@example.com.", "bob@example.net", "sales@other.org"] {
            let r = d.resolve(raw).await.unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(r.route, "example.com", "{raw}");
        }
        assert_eq!(d.resolve("Bob@Example.NET").await.unwrap().address.to_string(), "bob@example.net");
    }

    #[tokio::test]
    async fn subaddresses_belong_to_their_mailbox_or_alias_and_keep_their_tag() {
        let (d, _dir) = directory().await;
        for raw in ["bob+news@example.com", "bob+a+b@example.net", "sales+eu@other.org"] {
            let r = d.resolve(raw).await.unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!((r.mailbox_address.as_str(), r.address.to_string()), ("bob@example.com", raw.to_owned()));
        }
        d.add_mailbox("bob+vip@example.com", None).await.unwrap();
        assert_eq!(
            d.resolve("bob+vip@example.com").await.unwrap().mailbox_address,
            "bob+vip@example.com",
            "exact first"
        );
        for raw in ["alice+news@example.com", "+news@example.com", "bob+x@gmail.com"] {
            assert!(d.resolve(raw).await.is_err(), "{raw}");
        }
    }

    #[tokio::test]
    async fn a_found_recipient_is_remembered_until_the_directory_changes() {
        let (d, _dir) = directory().await;
        // Another node's (or the console's) directory: the same store, not this directory's memory.
        let elsewhere = Directory::new(d.store().clone());
        assert!(d.resolve("bob@example.com").await.is_ok());
        elsewhere.remove_mailbox("bob@example.com").await.unwrap();
        assert!(d.resolve("bob@example.com").await.is_ok(), "answered from memory within the refresh");
        tokio::time::sleep(DIRECTORY_REFRESH + std::time::Duration::from_millis(100)).await;
        assert!(matches!(d.resolve("bob@example.com").await, Err(RecipientError::UnknownUser(_))));
        // A miss is never remembered: an address added anywhere is accepted at once.
        elsewhere.add_mailbox("bob@example.com", None).await.unwrap();
        assert!(d.resolve("bob@example.com").await.is_ok());
    }

    #[tokio::test]
    async fn unknown_users_and_foreign_domains_are_told_apart() {
        let (d, _dir) = directory().await;
        assert!(matches!(d.resolve("alice@example.com").await, Err(RecipientError::UnknownUser(_))));
        assert!(matches!(d.resolve("alice@example.net").await, Err(RecipientError::UnknownUser(_))));
        assert!(matches!(d.resolve("bob@other.org").await, Err(RecipientError::UnknownUser(_))));
        assert!(matches!(d.resolve("bob@gmail.com").await, Err(RecipientError::RelayDenied(_))));
        assert!(matches!(d.resolve("bob@sub.example.com").await, Err(RecipientError::RelayDenied(_))));
        assert!(matches!(d.resolve("bob@[127.0.0.1]").await, Err(RecipientError::RelayDenied(_))));
        assert!(matches!(d.resolve("not-an-address").await, Err(RecipientError::Syntax(_))));
    }

    #[tokio::test]
    async fn relay_tricks_never_resolve() {
        let (d, _dir) = directory().await;
        for trick in [
            "bob%gmail.com@example.com",
            "gmail.com!bob@example.com",
            "bob@gmail.com@example.com",
            "bob@gmail.com%example.com",
        ] {
            match d.resolve(trick).await {
                Err(RecipientError::UnknownUser(_) | RecipientError::RelayDenied(_) | RecipientError::Syntax(_)) => {}
                other => panic!("{trick} resolved: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn admin_changes_are_validated() {
        let (d, _dir) = directory().await;
        let err = d.add_mailbox("x@example.net", None).await.unwrap_err();
        assert!(err.to_string().contains("alias domain of example.com"), "{err}");
        let err = d.add_mailbox("x@unknown.org", None).await.unwrap_err();
        assert!(matches!(err, DirectoryError::UnknownDomain(_)), "{err}");
        let err = d.add_mailbox("x%y@example.com", None).await.unwrap_err();
        assert!(matches!(err, DirectoryError::Address(_)), "{err}");
        let err = d.add_mailbox("bob@example.com", None).await.unwrap_err();
        assert_eq!(err.to_string(), "bob@example.com already exists (as a user or an alias)");
        let err = d.add_alias("sales@other.org", "bob@example.com").await.unwrap_err();
        assert_eq!(err.to_string(), "sales@other.org already exists (as a user or an alias)");
        let err = d.add_alias("bob@example.net", "bob@example.com").await.unwrap_err();
        assert!(matches!(err, DirectoryError::ShadowedByAliasDomain { .. }), "{err}");
        let nested =
            DomainSpec { name: "example.info".into(), alias_of: Some("example.net".into()), ..DomainSpec::default() };
        assert!(matches!(d.add_domain(&nested).await, Err(DirectoryError::NestedAliasDomain { .. })));
        d.add_mailbox("carol@example.com", None).await.unwrap();
        d.add_mailbox("dave@example.com", None).await.unwrap();
        let err = d.add_mailbox("erin@example.com", None).await.unwrap_err();
        assert!(matches!(err, DirectoryError::MaxUsers { max: 3, .. }), "{err}");
    }

    #[tokio::test]
    async fn a_domains_settings_are_edited_by_the_rules_of_a_new_one() {
        let (d, _dir) = directory().await;
        let hosts = vec![crate::parse_downstream("mx2.example.com:2525:20").unwrap()];
        let settings = |max_users, downstream: &Vec<DownstreamHost>| DomainSettings {
            contact_email: Some(" Admin@Example.com ".into()),
            max_users,
            language: "es".into(),
            downstream: downstream.clone(),
        };
        d.edit_domain("EXAMPLE.com", &settings(Some(5), &hosts)).await.unwrap();
        let domain = d.domain("example.com").await.unwrap();
        assert_eq!(
            (domain.contact_email.as_deref(), domain.max_users, domain.language.as_str()),
            (Some("admin@example.com"), Some(5), "es")
        );
        assert_eq!(d.store().downstream_hosts(domain.id).await.unwrap(), hosts, "hosts replaced");
        let err = d.edit_domain("example.com", &settings(None, &Vec::new())).await.unwrap_err();
        assert!(matches!(err, DirectoryError::NoDownstream(_)), "{err}");
        d.add_mailbox("carol@example.com", None).await.unwrap();
        let err = d.edit_domain("example.com", &settings(Some(1), &hosts)).await.unwrap_err();
        assert_eq!(err.to_string(), "example.com has 2 users: its maximum cannot be 1 (remove users first)");
        let err = d.edit_domain("example.net", &settings(None, &hosts)).await.unwrap_err();
        assert!(matches!(err, DirectoryError::OnAliasDomain { .. }), "{err}");
        d.edit_domain("example.net", &settings(None, &Vec::new())).await.unwrap();
        let bad = DomainSettings { contact_email: Some("not an address".into()), ..settings(None, &hosts) };
        assert!(matches!(d.edit_domain("example.com", &bad).await, Err(DirectoryError::Address(_))));
        assert_eq!(d.domain("example.com").await.unwrap().max_users, Some(5), "a refused edit changes nothing");
    }

    #[tokio::test]
    async fn licenses_are_enforced_where_users_and_aliases_are_made() {
        let (d, _dir) = directory().await;
        let tenant = moat_store::DEFAULT_TENANT;
        let before = d.license_usage(tenant).await.unwrap();
        assert_eq!(before.pool, None, "no limit until one is set");
        d.store.tenant_set_licenses(tenant, Some(before.used + 1)).await.unwrap();
        d.add_mailbox("carol@example.com", None).await.unwrap();
        let err = d.add_mailbox("dave@example.com", None).await.unwrap_err();
        assert!(err.to_string().contains("tenant default has no license left"), "{err}");
        // Five aliases ride on carol's license; the sixth needs another.
        for i in 1..=5 {
            d.add_alias(&format!("c{i}@example.com"), "carol@example.com").await.unwrap();
        }
        let err = d.add_alias("c6@example.com", "carol@example.com").await.unwrap_err();
        assert!(matches!(err, DirectoryError::LicensesExhausted { .. }), "{err}");
        assert_eq!(d.license_usage(tenant).await.unwrap().available(), Some(0));
        d.store.tenant_set_licenses(tenant, Some(before.used + 2)).await.unwrap();
        d.add_alias("c6@example.com", "carol@example.com").await.unwrap();
        assert_eq!(d.license_usage(tenant).await.unwrap().used, before.used + 2);
    }
}
