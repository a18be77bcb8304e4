//! A tenant's directory settings, as admins give them (TOML on the CLI, JSON in the API and the store): the
//! server, how to bind, where and how to search users and their aliases. A server type fills in what an
//! admin leaves out, the way Active Directory, OpenLDAP and Lotus Domino name things.

use serde::{Deserialize, Serialize};

/// The kind of directory, for its attribute names and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ServerType {
    #[default]
    ActiveDirectory,
    Openldap,
    Domino,
}

/// Where users are searched below the base DN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SearchScope {
    /// The entries right below the base DN.
    OneLevel,
    /// The whole tree below it.
    #[default]
    Subtree,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LdapSettings {
    pub server_type: ServerType,
    /// `ldap://dc1.example.com:389` (with `starttls` or in the clear) or `ldaps://dc1.example.com:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// Verify the server's certificate (on unless turned off).
    #[serde(skip_serializing_if = "is_true")]
    pub verify_certificate: Option<bool>,
    /// A CA (PEM) to trust besides the system's, for a directory with its own certificate authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Empty: an anonymous bind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// Given by the admin; never stored or shown: the store keeps it sealed (`bind_password_sealed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_password_sealed: Option<String>,
    pub base_dn: String,
    pub scope: SearchScope,
    /// Attributes an address is looked up in (`mail`, `userPrincipalName`).
    pub user_attributes: Vec<String>,
    /// What a user entry is (`(objectClass=user)`).
    pub user_filter: Option<String>,
    /// The multi-valued attribute listing a user's addresses, `PREFIX:ADDRESS` (`proxyAddresses`: `SMTP:` the
    /// primary, `smtp:` aliases, other prefixes such as `X500:` ignored).
    pub alias_attribute: Option<String>,
    /// Aliases are other entries found by this filter (`%d` the user's DN, `%a` their primary address),
    /// carrying `alias_attribute`, instead of values of the user's own entry.
    pub alias_filter: Option<String>,
    /// Between the prefix and the address in `alias_attribute` values.
    pub alias_delimiter: String,
    /// The user's name (`displayName`); else `given_name_attribute` and `surname_attribute` together.
    pub name_attribute: Option<String>,
    pub given_name_attribute: Option<String>,
    pub surname_attribute: Option<String>,
    /// How often every user is synchronized (`1h`); none: only sign-up on first message.
    pub sync_every: Option<String>,
    /// Whether a synchronization removes users that left the directory (else they are only reported).
    pub remove_departed: bool,
    /// Entries per page of a synchronization's search (RFC 2696).
    pub page_size: Option<u32>,
}

fn is_true(v: &Option<bool>) -> bool {
    v.is_none_or(|v| v)
}

/// Why settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directory settings: {0}")]
pub struct SettingsError(pub String);

impl LdapSettings {
    /// The settings with what the admin left out filled in from the server type.
    pub fn with_defaults(mut self) -> Self {
        let (users, filter, aliases, name): (&[&str], &str, Option<&str>, &str) = match self.server_type {
            ServerType::ActiveDirectory => {
                (&["mail", "userPrincipalName"], "(objectClass=user)", Some("proxyAddresses"), "displayName")
            }
            ServerType::Openldap => (&["mail"], "(objectClass=inetOrgPerson)", None, "displayName"),
            ServerType::Domino => (&["mail"], "(objectClass=dominoPerson)", None, "cn"),
        };
        if self.user_attributes.is_empty() {
            self.user_attributes = users.iter().map(|s| (*s).to_owned()).collect();
        }
        self.user_filter.get_or_insert_with(|| filter.to_owned());
        if self.alias_attribute.is_none() {
            self.alias_attribute = aliases.map(str::to_owned);
        }
        if self.alias_delimiter.is_empty() {
            self.alias_delimiter = ":".into();
        }
        if self.name_attribute.is_none() && self.given_name_attribute.is_none() {
            self.name_attribute = Some(name.to_owned());
        }
        self
    }

    /// Checks what can be checked without the server.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |why: &str| Err(SettingsError(why.to_owned()));
        let scheme = self.url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("ldap") => {}
            Some("ldaps") if self.starttls => return bad("StartTLS is for ldap:// URLs; ldaps:// is TLS already"),
            Some("ldaps") => {}
            _ => return bad("the URL must start with ldap:// or ldaps://"),
        }
        if self.base_dn.trim().is_empty() {
            return bad("a base DN is needed (e.g. dc=example,dc=com)");
        }
        if self.bind_dn.as_deref().is_some_and(|d| !d.is_empty())
            && self.bind_password.is_none()
            && self.bind_password_sealed.is_none()
        {
            return bad("a bind DN needs its password");
        }
        if self.user_attributes.iter().any(|a| !is_attribute(a))
            || [&self.alias_attribute, &self.name_attribute, &self.given_name_attribute, &self.surname_attribute]
                .into_iter()
                .flatten()
                .any(|a| !is_attribute(a))
        {
            return bad("attribute names hold letters, digits and - only");
        }
        if let Some(every) = &self.sync_every {
            let every = humantime::parse_duration(every).map_err(|e| SettingsError(format!("sync_every: {e}")))?;
            if every < std::time::Duration::from_secs(300) {
                return bad("sync_every must be at least 5 minutes");
            }
        }
        Ok(())
    }

    pub fn verifies_certificate(&self) -> bool {
        self.verify_certificate.unwrap_or(true)
    }

    /// How often to synchronize, if at all.
    pub fn sync_interval(&self) -> Option<std::time::Duration> {
        self.sync_every.as_deref().and_then(|e| humantime::parse_duration(e).ok())
    }
}

fn is_attribute(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// RFC 4515: a value written into a filter, with `*`, `(`, `)`, `\` and NUL escaped.
pub fn filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_types_fill_what_is_left_out() {
        let ad = LdapSettings { url: "ldaps://dc1.acme.test".into(), base_dn: "dc=acme".into(), ..Default::default() }
            .with_defaults();
        assert_eq!(ad.user_attributes, ["mail", "userPrincipalName"]);
        assert_eq!(ad.alias_attribute.as_deref(), Some("proxyAddresses"));
        assert_eq!(ad.name_attribute.as_deref(), Some("displayName"));
        assert!(ad.validate().is_ok());
        let ldap = LdapSettings { server_type: ServerType::Openldap, ..ad.clone() }.with_defaults();
        assert_eq!(ldap.user_filter.as_deref(), Some("(objectClass=user)"), "what was given stays");
        let bad = |s: LdapSettings| s.validate().unwrap_err().0;
        assert!(bad(LdapSettings { url: "http://x".into(), ..ad.clone() }).contains("ldap://"));
        assert!(bad(LdapSettings { starttls: true, ..ad.clone() }).contains("StartTLS"));
        assert!(bad(LdapSettings { bind_dn: Some("cn=x".into()), ..ad.clone() }).contains("password"));
        assert!(bad(LdapSettings { sync_every: Some("1m".into()), ..ad.clone() }).contains("5 minutes"));
        assert!(bad(LdapSettings { user_attributes: vec!["ma il".into()], ..ad }).contains("attribute"));
    }

    #[test]
    fn values_are_escaped_in_filters() {
        assert_eq!(filter_value("a*b(c)\\d"), "a\\2ab\\28c\\29\\5cd");
        assert_eq!(filter_value("ann+news@acme.test"), "ann+news@acme.test");
    }
}
