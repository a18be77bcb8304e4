//! The `Received:` trace header Moat prepends to every message it accepts (RFC 5321 §4.4).

use std::net::IpAddr;

pub struct Trace<'a> {
    pub helo: &'a str,
    pub client_ip: IpAddr,
    /// The client's verified reverse name.
    pub ptr: Option<&'a str>,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: Option<&'a str>,
    /// The client authenticated (RFC 3848: "with ESMTPSA").
    pub authenticated: bool,
    pub queue_id: &'a str,
    /// Named only when there is exactly one, so a header never discloses the other recipients.
    pub single_recipient: Option<&'a str>,
    pub date: chrono::DateTime<chrono::Utc>,
}

impl Trace<'_> {
    pub fn header(&self) -> String {
        let protocol = match (self.esmtp, self.tls.is_some(), self.authenticated) {
            (true, true, true) => "ESMTPSA",
            (true, false, true) => "ESMTPA",
            (true, true, false) => "ESMTPS",
            (true, false, false) => "ESMTP",
            (false, true, _) => "SMTPS",
            (false, false, _) => "SMTP",
        };
        let helo = helo_clause(self.helo);
        let tls = self.tls.map(|t| format!("\r\n\t(using {t})")).unwrap_or_default();
        let rcpt = self.single_recipient.map(|r| format!("\r\n\tfor <{r}>")).unwrap_or_default();
        let ptr = self.ptr.map(|p| format!("{p} ")).unwrap_or_default();
        format!(
            "Received: from {helo} ({ptr}[{}])\r\n\tby {} (Moat) with {protocol} id {}{tls}{rcpt};\r\n\t{}\r\n",
            self.client_ip,
            self.hostname,
            self.queue_id,
            self.date.to_rfc2822()
        )
    }
}

/// The `from` part for the client's HELO name: a domain name or an address literal as given (RFC 5321
/// §4.4); anything else is not a name and is recorded as a comment, `unknown (helo="…")`, with every
/// character outside printable ASCII and the comment's own delimiters escaped, so a HELO can add no
/// header, line or comment of its own.
fn helo_clause(helo: &str) -> String {
    if is_domain(helo) || is_address_literal(helo) {
        return helo.to_owned();
    }
    let escaped: String = helo
        .chars()
        .take(255)
        .flat_map(|c| match c {
            '(' | ')' | '\\' | '"' => vec!['\\', c],
            c if c.is_ascii_graphic() || c == ' ' => vec![c],
            _ => vec!['?'],
        })
        .collect();
    format!("unknown (helo=\"{escaped}\")")
}

fn is_domain(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn is_address_literal(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) else { return false };
    match inner.strip_prefix("IPv6:").or_else(|| inner.strip_prefix("ipv6:")) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header_names_client_protocol_and_id() {
        let date = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t = Trace {
            helo: "mx.sender.example\r\nX-Injected: yes",
            client_ip: "192.0.2.7".parse().unwrap(),
            ptr: None,
            hostname: "mx.moat.example",
            esmtp: true,
            tls: Some("TLSv1_3"),
            authenticated: false,
            queue_id: "0190abc",
            single_recipient: Some("bob@example.com"),
            date,
        };
        let h = t.header();
        assert!(
            h.starts_with(
                "Received: from unknown (helo=\"mx.sender.example??X-Injected: yes\") ([192.0.2.7])\r\n\t\
                 by mx.moat.example (Moat) with ESMTPS id 0190abc"
            ),
            "{h}"
        );
        assert!(h.contains("for <bob@example.com>;"), "{h}");
        assert!(h.ends_with("+0000\r\n"), "{h}");
        assert_eq!(h.matches("\r\n").count(), h.matches("\r\n\t").count() + 1, "only folded lines: {h}");
        let named = Trace { ptr: Some("mx.sender.example"), helo: "mx.sender.example", ..t }.header();
        assert!(named.starts_with("Received: from mx.sender.example (mx.sender.example [192.0.2.7])"), "{named}");
        let submitted = Trace { authenticated: true, ..t }.header();
        assert!(submitted.contains("with ESMTPSA id"), "RFC 3848: {submitted}");
    }

    #[test]
    fn helo_names_that_are_not_names_are_recorded_escaped() {
        assert_eq!(helo_clause("mx.sender.example"), "mx.sender.example");
        assert_eq!(helo_clause("[192.0.2.7]"), "[192.0.2.7]");
        assert_eq!(helo_clause("[IPv6:2001:db8::1]"), "[IPv6:2001:db8::1]");
        assert_eq!(helo_clause("by evil (x) \"y\""), "unknown (helo=\"by evil \\(x\\) \\\"y\\\"\")");
        assert_eq!(helo_clause("[999.1.1.1]"), "unknown (helo=\"[999.1.1.1]\")");
    }
}
