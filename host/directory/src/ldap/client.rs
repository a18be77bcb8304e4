//! Talking to the directory: connect (plain, StartTLS or LDAPS, certificates verified unless turned off),
//! bind, and find a person by an address — with deadlines, so a slow directory answers "try later", never
//! holds an SMTP session.

use super::settings::{LdapSettings, SearchScope, filter_value};
use crate::Address;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use std::time::Duration;

/// What a lookup may take in all.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A user as the directory lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub dn: String,
    pub primary: Address,
    pub name: Option<String>,
    /// Other addresses of the person (any domain; the caller keeps those it protects).
    pub aliases: Vec<Address>,
}

/// Why the directory could not be asked; each is said to the admin as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapFailure {
    #[error("the directory server cannot be reached: {0}")]
    Unreachable(String),
    #[error("the TLS connection to the directory failed: {0}")]
    Tls(String),
    #[error("the directory refused the bind DN or password: {0}")]
    Credentials(String),
    #[error("the directory answered with an error: {0}")]
    Refused(String),
    #[error("the directory did not answer in time")]
    Timeout,
}

fn failure(e: LdapError) -> LdapFailure {
    match e {
        LdapError::Io { source } => LdapFailure::Unreachable(source.to_string()),
        LdapError::Timeout { .. } => LdapFailure::Timeout,
        LdapError::Rustls { source } => LdapFailure::Tls(source.to_string()),
        LdapError::DNSName { source } => LdapFailure::Tls(source.to_string()),
        LdapError::LdapResult { result } => LdapFailure::Refused(format!("{} {}", result.rc, result.text)),
        other => {
            let text = other.to_string();
            // rustls reports a refused certificate through the I/O layer of the handshake.
            if text.contains("certificate") || text.contains("tls") || text.contains("TLS") {
                LdapFailure::Tls(text)
            } else {
                LdapFailure::Unreachable(text)
            }
        }
    }
}

/// A bound connection (cheap to clone: clones share the one connection).
#[derive(Clone)]
pub struct Connection {
    ldap: Ldap,
    settings: LdapSettings,
}

impl Connection {
    /// Connects and binds with `password` (the opened bind password, when there is a bind DN).
    pub async fn open(settings: &LdapSettings, password: Option<&str>) -> Result<Self, LdapFailure> {
        tokio::time::timeout(LOOKUP_TIMEOUT, Self::open_in_time(settings, password))
            .await
            .unwrap_or(Err(LdapFailure::Timeout))
    }

    async fn open_in_time(settings: &LdapSettings, password: Option<&str>) -> Result<Self, LdapFailure> {
        let mut conn = LdapConnSettings::new().set_conn_timeout(LOOKUP_TIMEOUT).set_starttls(settings.starttls);
        if settings.verifies_certificate() {
            conn = conn.set_config(std::sync::Arc::new(tls_config(settings.ca_pem.as_deref())?));
        } else {
            conn = conn.set_no_tls_verify(true);
        }
        let (driver, mut ldap) = LdapConnAsync::with_settings(conn, &settings.url).await.map_err(|e| {
            let f = failure(e);
            // A refused or failed handshake surfaces as an I/O error of the TLS stream.
            match f {
                LdapFailure::Unreachable(text) if settings.url.starts_with("ldaps") || settings.starttls => {
                    if text.contains("refused") || text.contains("Connection reset") {
                        LdapFailure::Unreachable(text)
                    } else {
                        LdapFailure::Tls(text)
                    }
                }
                f => f,
            }
        })?;
        ldap3::drive!(driver);
        ldap.with_timeout(LOOKUP_TIMEOUT);
        match (settings.bind_dn.as_deref().filter(|d| !d.is_empty()), password) {
            (Some(dn), Some(password)) => {
                let result = ldap.simple_bind(dn, password).await.map_err(failure)?;
                if result.rc != 0 {
                    return Err(LdapFailure::Credentials(format!("{} {}", result.rc, result.text)));
                }
            }
            (Some(_), None) => return Err(LdapFailure::Credentials("no password".into())),
            (None, _) => {}
        }
        Ok(Self { ldap, settings: settings.clone() })
    }

    /// The person one of whose addresses (primary or alias) is `address`.
    pub async fn find(&mut self, address: &str) -> Result<Option<Person>, LdapFailure> {
        let value = filter_value(address);
        let mut any: Vec<String> = self.settings.user_attributes.iter().map(|a| format!("({a}={value})")).collect();
        if let (Some(attribute), None) = (&self.settings.alias_attribute, &self.settings.alias_filter) {
            // `smtp:` matches `SMTP:` too where the attribute compares without case (Active Directory's does).
            any.push(format!("({attribute}=smtp{}{value})", filter_value(&self.settings.alias_delimiter)));
        }
        let filter = format!("(&{}(|{}))", self.settings.user_filter.as_deref().unwrap_or(""), any.concat());
        let mut found = self.search(&filter, 2).await?;
        if found.is_empty() && self.settings.alias_filter.is_some() {
            found = self.by_separate_alias(address).await?;
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(self.person(found.remove(0)).await?)),
            n => Err(LdapFailure::Refused(format!("{n} directory entries claim {address}"))),
        }
    }

    /// Every user (a synchronization), in pages of `page_size` (RFC 2696).
    pub async fn everyone(&mut self, page_size: u32) -> Result<Vec<Person>, LdapFailure> {
        let filter = self.settings.user_filter.clone().unwrap_or_else(|| "(objectClass=*)".into());
        let attrs = self.attributes();
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
            Box::new(ldap3::adapters::EntriesOnly::new()),
            Box::new(ldap3::adapters::PagedResults::new(page_size.clamp(1, 10_000) as i32)),
        ];
        let mut stream = self
            .ldap
            .streaming_search_with(adapters, &self.settings.base_dn, scope(&self.settings), &filter, attrs)
            .await
            .map_err(failure)?;
        let mut entries = Vec::new();
        while let Some(entry) = stream.next().await.map_err(failure)? {
            entries.push(SearchEntry::construct(entry));
        }
        let result = stream.finish().await;
        if result.rc != 0 {
            return Err(LdapFailure::Refused(format!("{} {}", result.rc, result.text)));
        }
        let mut people = Vec::new();
        for entry in entries {
            match self.person(entry).await {
                Ok(person) => people.push(person),
                Err(LdapFailure::Refused(why)) => tracing::debug!("directory entry skipped: {why}"),
                Err(e) => return Err(e),
            }
        }
        Ok(people)
    }

    fn attributes(&self) -> Vec<String> {
        let s = &self.settings;
        let mut attrs = s.user_attributes.clone();
        for a in
            [&s.alias_attribute, &s.name_attribute, &s.given_name_attribute, &s.surname_attribute].into_iter().flatten()
        {
            attrs.push(a.clone());
        }
        attrs
    }

    async fn search(&mut self, filter: &str, limit: usize) -> Result<Vec<SearchEntry>, LdapFailure> {
        let attrs = self.attributes();
        let base = self.settings.base_dn.clone();
        let scope = scope(&self.settings);
        let (entries, result) =
            self.ldap.search(&base, scope, filter, attrs).await.map_err(failure)?.non_error().map_err(failure)?;
        if result.rc != 0 && result.rc != 32 {
            return Err(LdapFailure::Refused(format!("{} {}", result.rc, result.text)));
        }
        Ok(entries.into_iter().take(limit).map(SearchEntry::construct).collect())
    }

    /// The user whose separate alias entry lists `address` (`alias_filter` with `%a` = the address).
    async fn by_separate_alias(&mut self, address: &str) -> Result<Vec<SearchEntry>, LdapFailure> {
        let (Some(template), Some(attribute)) =
            (self.settings.alias_filter.clone(), self.settings.alias_attribute.clone())
        else {
            return Ok(Vec::new());
        };
        let filter =
            format!("(&{}({attribute}={}))", template.replace("%a", "*").replace("%d", "*"), filter_value(address));
        let aliases = self.search(&filter, 2).await?;
        let Some(alias) = aliases.first() else { return Ok(Vec::new()) };
        // The alias entry names its user by a user attribute (mail), as Domino's and OpenLDAP's do.
        let owner =
            self.settings.user_attributes.iter().find_map(|a| alias.attrs.get(a).and_then(|v| v.first()).cloned());
        let Some(owner) = owner else { return Ok(Vec::new()) };
        let value = filter_value(&owner);
        let any: Vec<String> = self.settings.user_attributes.iter().map(|a| format!("({a}={value})")).collect();
        let filter = format!("(&{}(|{}))", self.settings.user_filter.as_deref().unwrap_or(""), any.concat());
        self.search(&filter, 2).await
    }

    async fn person(&mut self, entry: SearchEntry) -> Result<Person, LdapFailure> {
        let s = self.settings.clone();
        let first = |name: &Option<String>| name.as_ref().and_then(|n| attr(&entry, n).first().cloned());
        let name = first(&s.name_attribute).or_else(|| {
            let given = first(&s.given_name_attribute);
            let surname = first(&s.surname_attribute);
            match (given, surname) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (g, f) => g.or(f),
            }
        });
        let mut listed: Vec<String> = match &s.alias_attribute {
            Some(a) if s.alias_filter.is_none() => attr(&entry, a),
            _ => Vec::new(),
        };
        let plain: Vec<String> = s.user_attributes.iter().flat_map(|a| attr(&entry, a)).collect();
        let (primary, mut aliases) = addresses(&listed, &s.alias_delimiter, plain.first().map(String::as_str));
        let primary = primary.ok_or_else(|| LdapFailure::Refused(format!("{} has no mail address", entry.dn)))?;
        if let (Some(template), Some(attribute)) = (&s.alias_filter, &s.alias_attribute) {
            let filter =
                template.replace("%d", &filter_value(&entry.dn)).replace("%a", &filter_value(&primary.to_string()));
            listed = Vec::new();
            for alias in self.search(&filter, 1000).await? {
                listed.extend(attr(&alias, attribute));
            }
            let (_, found) = addresses(&listed, &s.alias_delimiter, None);
            aliases.extend(found);
        }
        aliases.retain(|a| *a != primary);
        aliases.dedup();
        Ok(Person { dn: entry.dn, primary, name, aliases })
    }
}

/// An attribute's values, whatever the case of its name in the answer.
fn attr(entry: &SearchEntry, name: &str) -> Vec<String> {
    entry.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn scope(settings: &LdapSettings) -> Scope {
    match settings.scope {
        SearchScope::OneLevel => Scope::OneLevel,
        SearchScope::Subtree => Scope::Subtree,
    }
}

/// The primary address and the aliases among `PREFIX<delimiter>ADDRESS` values (`SMTP:` primary, `smtp:`
/// alias, any other prefix ignored; a value without a prefix is an alias); `fallback` is the primary when
/// none is marked.
pub fn addresses(values: &[String], delimiter: &str, fallback: Option<&str>) -> (Option<Address>, Vec<Address>) {
    let (mut primary, mut aliases) = (None, Vec::new());
    for value in values {
        let (prefix, address) = match value.split_once(delimiter) {
            Some((prefix, address)) => (prefix, address),
            None => ("smtp", value.as_str()),
        };
        let Ok(address) = Address::parse_mailbox(address.trim()) else { continue };
        match prefix {
            "SMTP" if primary.is_none() => primary = Some(address),
            p if p.eq_ignore_ascii_case("smtp") => aliases.push(address),
            _ => {}
        }
    }
    if primary.is_none() {
        primary = fallback.and_then(|f| Address::parse_mailbox(f).ok());
    }
    (primary, aliases)
}

/// The trust the connection verifies certificates with: the system's roots (Mozilla's, as rustls ships
/// none) and the admin's CA.
fn tls_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, LdapFailure> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        let mut reader = std::io::BufReader::new(pem.as_bytes());
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|e| LdapFailure::Tls(format!("the CA is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| LdapFailure::Tls(format!("the CA cannot be used: {e}")))?;
        }
    }
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapFailure::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses_mark_the_primary_and_aliases_and_skip_the_rest() {
        let values: Vec<String> = [
            "smtp:sales@acme.test",
            "SMTP:ann@acme.test",
            "X500:/o=Acme/ou=Exchange/cn=ann",
            "SIP:ann@acme.test",
            "smtp:ann.lee@acme.net",
            "smtp:not an address",
        ]
        .map(String::from)
        .to_vec();
        let (primary, aliases) = addresses(&values, ":", None);
        assert_eq!(primary.unwrap().to_string(), "ann@acme.test");
        assert_eq!(
            aliases.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["sales@acme.test", "ann.lee@acme.net"]
        );
        let (primary, aliases) = addresses(&["smtp:x@acme.test".into()], ":", Some("ann@acme.test"));
        assert_eq!(primary.unwrap().to_string(), "ann@acme.test", "the mail attribute when no SMTP: value");
        assert_eq!(aliases.len(), 1);
    }
}
