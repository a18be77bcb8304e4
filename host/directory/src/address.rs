use thiserror::Error;

/// A mailbox address in the form Moat compares and stores: local part lower-cased, domain as a lower-case
/// A-label (`bücher.example` becomes `xn--bcher-kva.example`) without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error("{0:?} is not an address of the form local@domain")]
    Syntax(String),
    #[error("{0:?} has an IP-literal domain; Moat only accepts mail for domain names")]
    IpLiteral(String),
    #[error("{0:?} is not a valid domain name")]
    Domain(String),
    #[error("local part {0:?} may hold only letters, digits and . _ + - ' characters")]
    LocalPart(String),
    #[error("{0:?} holds a space, a control character or an angle bracket, which no address may")]
    Forbidden(String),
}

impl Address {
    /// Parses an address as received in `RCPT TO` (source route already dropped, quotes already removed) or
    /// typed by an admin. The split is at the last `@`: a quoted `"a@b"@c` has domain `c`.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        // Whatever reaches SMTP (`RCPT TO:<…>`) or a header is an `Address`: a CR, LF, `<` or `>` in one
        // would end the command or the path and let text typed by someone smuggle in commands of its own.
        if raw.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>')) {
            return Err(AddressError::Forbidden(raw.escape_debug().to_string()));
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(|| AddressError::Syntax(raw.to_owned()))?;
        if local.is_empty() || domain.is_empty() || local.len() > 64 || raw.len() > 254 {
            return Err(AddressError::Syntax(raw.to_owned()));
        }
        if domain.starts_with('[') {
            return Err(AddressError::IpLiteral(raw.to_owned()));
        }
        Ok(Self { local: local.to_lowercase(), domain: normalize_domain(domain)? })
    }

    /// Like [`Address::parse`], and also refuses local parts that are not plain mailbox names. Used when an
    /// admin creates a mailbox or alias, so that the directory never holds a `%`, `!` or `@` local part that a
    /// relay trick could reach.
    pub fn parse_mailbox(raw: &str) -> Result<Self, AddressError> {
        let address = Self::parse(raw)?;
        if !is_plain_local_part(&address.local) {
            return Err(AddressError::LocalPart(address.local));
        }
        Ok(address)
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// True when the local part could be a mailbox name; `user%other`, `a!b`, `"a@b"` can never be.
    pub fn has_plain_local_part(&self) -> bool {
        is_plain_local_part(&self.local)
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

fn is_plain_local_part(local: &str) -> bool {
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '+' | '-' | '\''))
}

/// Normalizes a domain name: IDNA to a lower-case A-label, one trailing dot (the root) dropped, every label
/// checked for LDH syntax and length.
pub fn normalize_domain(raw: &str) -> Result<String, AddressError> {
    let bad = || AddressError::Domain(raw.to_owned());
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(bad());
    }
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| bad())?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if labels.len() < 2
        || !labels.iter().all(label_ok)
        || labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_trailing_dot_and_idn_are_normalized() {
        let a = Address::parse("Bob.Smith@Example.COM.").unwrap();
        assert_eq!(a.to_string(), "bob.smith@example.com");
        let idn = Address::parse("anna@Bücher.example").unwrap();
        assert_eq!(idn.domain(), "xn--bcher-kva.example");
        assert_eq!(Address::parse("anna@xn--bcher-kva.example").unwrap(), idn);
        let utf8 = Address::parse("JOSÉ@example.com").unwrap();
        assert_eq!(utf8.local(), "josé");
    }

    #[test]
    fn ip_literals_and_broken_domains_are_refused() {
        assert!(matches!(Address::parse("a@[127.0.0.1]"), Err(AddressError::IpLiteral(_))));
        assert!(matches!(Address::parse("a@[IPv6:::1]"), Err(AddressError::IpLiteral(_))));
        for bad in [
            "a@example..com",
            "a@.example.com",
            "a@example.com..",
            "a@-x.com",
            "a@localhost",
            "a@1.2.3.4",
            "a@exa_mple.com",
        ] {
            assert!(matches!(Address::parse(bad), Err(AddressError::Domain(_))), "{bad}");
        }
        for bad in ["@example.com", "user@", "userexample.com", ""] {
            assert!(matches!(Address::parse(bad), Err(AddressError::Syntax(_))), "{bad}");
        }
    }

    #[test]
    fn smtp_and_header_injection_cannot_hide_in_an_address() {
        for bad in [
            "x@x.test>\r\nRSET\r\nMAIL FROM:<ceo@bank.test",
            "x@x.test\nRCPT TO:<v@other.test>",
            "a b@x.test",
            "a@x.test>",
            "<a@x.test",
            "a\0@x.test",
        ] {
            assert!(matches!(Address::parse(bad), Err(AddressError::Forbidden(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_last_at_sign_splits_and_tricky_local_parts_are_not_plain() {
        let quoted = Address::parse("user@other.example@example.com").unwrap();
        assert_eq!(quoted.domain(), "example.com");
        assert_eq!(quoted.local(), "user@other.example");
        for tricky in ["user%other.example@example.com", "other.example!user@example.com", "user@other@example.com"] {
            let a = Address::parse(tricky).unwrap();
            assert!(!a.has_plain_local_part(), "{tricky}");
            assert!(Address::parse_mailbox(tricky).is_err(), "{tricky}");
        }
        assert!(Address::parse_mailbox("o'brien+news@example.com").is_ok());
    }
}
