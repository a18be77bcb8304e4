//! Allow and deny lists ("trust lists") as the `lists` filter reads them from its key-value storage:
//! `SCOPE|KIND|VALUE` → `allow` or `deny`, in the tenant's namespace of the plugin. The CLI, the console and
//! the REST API all write them through here.

use crate::{Directory, DirectoryError};
use std::net::IpAddr;

/// The plugin whose storage holds the lists.
pub const LISTS_PLUGIN: &str = "lists";

/// The lists' namespace for a tenant (kept in step with `moat_filter::kv_namespace`, which a test of the
/// `moat` binary checks).
pub fn lists_namespace(tenant: &str) -> String {
    format!("{tenant}:{LISTS_PLUGIN}")
}

/// Whom an entry applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Every recipient of the tenant.
    Tenant,
    /// Recipients of one domain.
    Domain(String),
    /// One recipient (an end user's own list).
    User(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Allow,
    Deny,
}

impl Listing {
    pub fn as_str(self) -> &'static str {
        match self {
            Listing::Allow => "allow",
            Listing::Deny => "deny",
        }
    }
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub listing: Listing,
    pub scope: ListScope,
    /// `sender`, `domain` or `ip`.
    pub kind: String,
    pub value: String,
    pub key: String,
}

/// The storage key of an entry for `value` (a sender address, a sender domain, or an IP or network).
pub fn list_key(scope: &ListScope, value: &str) -> Result<String, DirectoryError> {
    let scope = match scope {
        ListScope::User(user) => user.trim().to_ascii_lowercase(),
        ListScope::Domain(domain) => format!("@{}", domain.trim().trim_end_matches('.').to_ascii_lowercase()),
        ListScope::Tenant => "*".into(),
    };
    let value = value.trim().to_ascii_lowercase();
    let bad = |why: &str| DirectoryError::ListEntry(format!("{value:?}: {why}"));
    const FORMS: &str = "write an address (ann@example.com), a domain (example.com: its subdomains too), an IP \
                         (192.0.2.7) or a network (192.0.2.0/24)";
    // The lists filter matches whole values: a pattern it would never match is refused, not kept.
    if let Some(domain) = value.strip_prefix("*.").or_else(|| value.strip_prefix("*@")) {
        return Err(bad(&format!("no wildcards: {domain} already covers the domain and its subdomains; {FORMS}")));
    }
    if value.contains(['*', '?', '[', ']', '^', '$', '|', ' ', ',', ';']) {
        return Err(bad(&format!("not a value the lists filter understands; {FORMS}")));
    }
    let (kind, value) = if let Some((ip, len)) = value.split_once('/') {
        let ip: IpAddr = ip.parse().map_err(|_| bad("not a network"))?;
        let len: u32 = len.parse().map_err(|_| bad("bad prefix length"))?;
        let network = networks(ip)
            .into_iter()
            .find(|n| n.ends_with(&format!("/{len}")))
            .ok_or_else(|| bad("IPv4 networks /8 to /32, IPv6 /32, /48, /56, /64 or /128"))?;
        ("ip", network)
    } else if let Ok(ip) = value.parse::<IpAddr>() {
        ("ip", format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }))
    } else if let Some((_, domain)) = value.rsplit_once('@') {
        crate::normalize_domain(domain).map_err(|_| bad(&format!("not an address; {FORMS}")))?;
        ("sender", value.clone())
    } else if value.contains('.') {
        ("domain", crate::normalize_domain(&value).map_err(|_| bad(&format!("not a domain; {FORMS}")))?)
    } else {
        return Err(bad(&format!("neither an address, a domain, nor an IP or network; {FORMS}")));
    };
    Ok(format!("{scope}|{kind}|{value}"))
}

/// The network containing `ip` for each prefix length the lists plugin checks (kept in step with
/// plugins/lists).
pub fn networks(ip: IpAddr) -> Vec<String> {
    match ip {
        IpAddr::V4(v4) => (8..=32u32)
            .map(|len| format!("{}/{len}", std::net::Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - len)))))
            .collect(),
        IpAddr::V6(v6) => [32u32, 48, 56, 64, 128]
            .into_iter()
            .map(|len| {
                let mask = if len == 128 { u128::MAX } else { u128::MAX << (128 - len) };
                format!("{}/{len}", std::net::Ipv6Addr::from(u128::from(v6) & mask))
            })
            .collect(),
    }
}

fn parse_entry(key: &str, value: &[u8]) -> Option<ListEntry> {
    let listing = match value {
        b"allow" => Listing::Allow,
        b"deny" => Listing::Deny,
        _ => return None,
    };
    let mut parts = key.splitn(3, '|');
    let (scope, kind, value) = (parts.next()?, parts.next()?, parts.next()?);
    let scope = match scope {
        "*" => ListScope::Tenant,
        s if s.starts_with('@') => ListScope::Domain(s[1..].to_owned()),
        s => ListScope::User(s.to_owned()),
    };
    Some(ListEntry { listing, scope, kind: kind.into(), value: value.into(), key: key.into() })
}

impl Directory {
    /// Adds (or moves to the other list) an entry of `tenant`'s lists; returns its key.
    pub async fn list_add(
        &self,
        tenant: &str,
        scope: &ListScope,
        listing: Listing,
        value: &str,
    ) -> Result<String, DirectoryError> {
        let key = list_key(scope, value)?;
        self.store().kv_set(&lists_namespace(tenant), &key, listing.as_str().as_bytes(), None).await?;
        Ok(key)
    }

    /// Removes an entry; false when there was none.
    pub async fn list_remove(&self, tenant: &str, scope: &ListScope, value: &str) -> Result<bool, DirectoryError> {
        let key = list_key(scope, value)?;
        Ok(self.store().kv_delete(&lists_namespace(tenant), &key).await?)
    }

    /// Every entry of `tenant`'s lists, or only those of `scope`.
    pub async fn list_entries(
        &self,
        tenant: &str,
        scope: Option<&ListScope>,
    ) -> Result<Vec<ListEntry>, DirectoryError> {
        let entries = self.store().kv_list(&lists_namespace(tenant), 0).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(key, value)| parse_entry(&key, &value.unwrap_or_default()))
            .filter(|e| scope.is_none_or(|s| &e.scope == s))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_scope_kind_and_normalized_value() {
        let user = ListScope::User("Ann@Example.com".into());
        assert_eq!(list_key(&user, "Boss@Partner.test").unwrap(), "ann@example.com|sender|boss@partner.test");
        assert_eq!(
            list_key(&ListScope::Domain("example.com.".into()), "spam.test").unwrap(),
            "@example.com|domain|spam.test"
        );
        assert_eq!(list_key(&ListScope::Tenant, "192.0.2.77/24").unwrap(), "*|ip|192.0.2.0/24");
        assert_eq!(list_key(&ListScope::Tenant, "192.0.2.7").unwrap(), "*|ip|192.0.2.7/32");
        assert!(list_key(&ListScope::Tenant, "10.0.0.0/7").is_err());
        assert!(list_key(&ListScope::Tenant, "not a thing").is_err());
        // Patterns the lists filter never matches are refused with the forms it understands.
        let wildcard = list_key(&ListScope::Tenant, "*.evil.test").unwrap_err().to_string();
        assert!(wildcard.contains("evil.test already covers the domain and its subdomains"), "{wildcard}");
        assert!(wildcard.contains("write an address (ann@example.com)"), "{wildcard}");
        for refused in ["*@evil.test", "evil*.test", "[a-z]+.test", "a@b@", "bad..domain"] {
            assert!(list_key(&ListScope::Tenant, refused).is_err(), "{refused}");
        }
        assert_eq!(list_key(&ListScope::Tenant, "Boss@Partner.test").unwrap(), "*|sender|boss@partner.test");
        let parsed = parse_entry("@example.com|domain|spam.test", b"deny").unwrap();
        assert_eq!((parsed.listing, parsed.scope), (Listing::Deny, ListScope::Domain("example.com".into())));
    }
}
