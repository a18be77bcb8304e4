//! The lists layer: allow and deny lists by sender address, sender domain (and its parents), client IP and
//! network (CIDR), at tenant, domain and user level. The lists live in the host's key-value store (edited with
//! `moat list`); this plugin only reads them, with one host call per recipient.
//!
//! Keys: `SCOPE|KIND|VALUE` → `allow` or `deny`, where SCOPE is `*` (the whole tenant), `@DOMAIN` or an
//! address, KIND is `sender`, `domain` or `ip`, and an `ip` VALUE is a network such as `192.0.2.0/24`.
//! The operator's global list (the plugin's shared storage, same keys with scope `*`) is the least specific
//! level. The most specific scope with a match decides (a user's allow beats the tenant's deny); within a
//! scope a deny beats an allow. An allow accepts the message: later spam filters are skipped, antivirus still runs.
//!
//! Configuration: `{"deny": "reject"}` (default) or `{"deny": "quarantine"}`.

use moat_sdk::{Connection, Filter, Recipient, Verdict, host};
use std::net::IpAddr;

struct Lists;

#[derive(Clone, Copy, PartialEq)]
enum DenyPolicy {
    Reject,
    Quarantine,
}

fn policy(config: &str) -> Result<DenyPolicy, String> {
    let compact: String = config.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.as_str() {
        "{}" | "" | r#"{"deny":"reject"}"# => Ok(DenyPolicy::Reject),
        r#"{"deny":"quarantine"}"# => Ok(DenyPolicy::Quarantine),
        _ => Err(format!(r#"expected {{"deny": "reject"}} or {{"deny": "quarantine"}}, got {config}"#)),
    }
}

/// The networks an address belongs to, most specific first, as `ip` list values.
pub fn networks(ip: IpAddr) -> Vec<String> {
    match ip {
        IpAddr::V4(v4) => (8..=32)
            .rev()
            .map(|len| {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                // Written by hand: 25 networks per recipient through `format!` cost more than all the rest.
                let mut network = String::with_capacity(18);
                for (i, octet) in (u32::from(v4) & mask).to_be_bytes().into_iter().enumerate() {
                    if i > 0 {
                        network.push('.');
                    }
                    push_decimal(&mut network, u32::from(octet));
                }
                network.push('/');
                push_decimal(&mut network, len);
                network
            })
            .collect(),
        IpAddr::V6(v6) => [128, 64, 56, 48, 32]
            .into_iter()
            .map(|len: u32| {
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                format!("{}/{len}", std::net::Ipv6Addr::from(u128::from(v6) & mask))
            })
            .collect(),
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u32) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// The sender's domain and every parent with at least two labels: `a.b.example.com` → `a.b.example.com`,
/// `b.example.com`, `example.com`.
fn domains(sender: &str) -> Vec<String> {
    let Some((_, domain)) = sender.rsplit_once('@') else { return Vec::new() };
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1)).map(|i| labels[i..].join(".")).collect()
}

/// `SCOPE|KIND|VALUE`, written into its exact size: a recipient asks for about a hundred keys, and building
/// them with `format!` was half of this layer's instructions.
fn key(scope: &str, kind: &str, value: &str) -> String {
    let mut key = String::with_capacity(scope.len() + kind.len() + value.len() + 2);
    for piece in [scope, "|", kind, "|", value] {
        key.push_str(piece);
    }
    key
}

impl Filter for Lists {
    fn configure(config: &str) -> Result<(), String> {
        policy(config).map(|_| ())
    }

    fn on_rcpt(connection: &Connection, sender: &str, recipient: &Recipient) -> Verdict {
        let policy = policy(&host::config()).unwrap_or(DenyPolicy::Reject);
        let sender = sender.to_ascii_lowercase();
        let mut facts: Vec<(&str, String)> = Vec::new();
        if !sender.is_empty() {
            facts.push(("sender", sender.clone()));
            facts.extend(domains(&sender).into_iter().map(|d| ("domain", d)));
        }
        if let Ok(ip) = connection.client_ip.parse::<IpAddr>() {
            facts.extend(networks(ip).into_iter().map(|n| ("ip", n)));
        }
        let address = recipient.address.to_ascii_lowercase();
        let scopes = [address.clone(), format!("@{}", recipient.domain.to_ascii_lowercase()), "*".to_string()];
        let keys: Vec<String> =
            scopes.iter().flat_map(|s| facts.iter().map(move |(kind, value)| key(s, kind, value))).collect();
        let mut values = match host::kv_get_many(&keys) {
            Ok(values) => values,
            Err(e) => return Verdict::pass().symbol("LISTS_UNAVAILABLE", 0.0, &format!("{e:?}")),
        };
        // The global level: the tenant level's keys, in the operator's storage.
        let global_keys = &keys[2 * facts.len()..];
        values.extend(host::kv_get_shared(global_keys).unwrap_or_else(|_| vec![None; global_keys.len()]));
        let scopes = [scopes[0].clone(), scopes[1].clone(), scopes[2].clone(), "*".to_string()];
        let keys: Vec<String> = keys.iter().chain(global_keys).cloned().collect();
        for (scope_index, scope) in scopes.iter().enumerate() {
            let hits: Vec<(&String, bool)> = keys[scope_index * facts.len()..(scope_index + 1) * facts.len()]
                .iter()
                .zip(&values[scope_index * facts.len()..])
                .filter_map(|(key, value)| value.as_deref().map(|v| (key, v == b"deny")))
                .collect();
            let level = match scope_index {
                0 => "user",
                1 => "domain",
                2 => "tenant",
                _ => "global",
            };
            if let Some((key, _)) = hits.iter().find(|(_, deny)| *deny) {
                let reason = format!(
                    "{level} deny list ({scope}): {}",
                    key.split_once('|').map_or(key.as_str(), |(_, rest)| rest)
                );
                return match policy {
                    DenyPolicy::Reject => {
                        Verdict::reject(550, "5.7.1", "Sender or network denied by the recipient's policy")
                    }
                    DenyPolicy::Quarantine => Verdict::quarantine(),
                }
                .symbol("LIST_DENY", 0.0, &reason);
            }
            if let Some((key, _)) = hits.first() {
                let reason = format!(
                    "{level} allow list ({scope}): {}",
                    key.split_once('|').map_or(key.as_str(), |(_, rest)| rest)
                );
                return Verdict::accept().symbol("LIST_ALLOW", 0.0, &reason);
            }
        }
        Verdict::pass()
    }
}

moat_sdk::describe!(
    summary = "Trust lists: allow and deny senders, sender domains, client IPs and networks, per user, domain, tenant or for every tenant.",
    configuration = "deny: what a deny entry does: \"reject\" (default) or \"quarantine\"\nEntries are kept in the console (Trust lists) or with moat list.",
);
moat_sdk::export_filter!(Lists);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::Action;
    use moat_sdk::testing::{MockHost, TestMessage};

    fn message(client: &str) -> TestMessage {
        TestMessage::from_eml(b"From: x@mail.spam.test\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhi\r\n")
            .sender("x@mail.spam.test")
            .recipient("bob@example.com", "default")
            .client_ip(client)
    }

    fn entries(host: MockHost, entries: &[(&str, &str)]) -> MockHost {
        let mut host = host;
        for (key, value) in entries {
            host.set_kv(key, value.as_bytes());
        }
        host
    }

    #[test]
    fn networks_cover_every_prefix() {
        let v4 = networks("192.0.2.77".parse().unwrap());
        assert_eq!(v4.first().unwrap(), "192.0.2.77/32");
        assert!(v4.contains(&"192.0.2.0/24".to_string()) && v4.contains(&"192.0.0.0/16".to_string()));
        assert_eq!(v4.last().unwrap(), "192.0.0.0/8");
        // Written by hand, as `Ipv4Addr` writes them (the keys an admin's entries were stored under).
        for address in ["0.0.0.0", "10.200.3.9", "255.255.255.255", "100.64.7.1"] {
            let ip: std::net::Ipv4Addr = address.parse().unwrap();
            let expected: Vec<String> = (8..=32)
                .rev()
                .map(|len| format!("{}/{len}", std::net::Ipv4Addr::from(u32::from(ip) & (u32::MAX << (32 - len)))))
                .collect();
            assert_eq!(networks(IpAddr::V4(ip)), expected);
        }
        assert!(networks("2001:db8::1".parse().unwrap()).contains(&"2001:db8::/32".to_string()));
    }

    #[test]
    fn deny_rejects_allow_accepts_and_the_most_specific_scope_wins() {
        let mut host = entries(MockHost::new(), &[("*|domain|spam.test", "deny")]);
        let v = &host.on_rcpt::<Lists>(&message("192.0.2.7"))[0];
        assert!(matches!(v.action(), Action::Reject { code: 550, .. }), "{v:?}");
        assert!(v.find_symbol("LIST_DENY").unwrap().reason.contains("tenant deny list (*): domain|spam.test"));

        let mut host = entries(host, &[("bob@example.com|sender|x@mail.spam.test", "allow")]);
        let v = &host.on_rcpt::<Lists>(&message("192.0.2.7"))[0];
        assert_eq!(v.action(), &Action::Accept, "the user's allow beats the tenant's deny");

        let mut host = entries(MockHost::new(), &[("@example.com|ip|192.0.2.0/24", "deny")]);
        assert!(matches!(host.on_rcpt::<Lists>(&message("192.0.2.7"))[0].action(), Action::Reject { .. }));
        assert_eq!(host.on_rcpt::<Lists>(&message("198.51.100.1"))[0].action(), &Action::Continue);
    }

    #[test]
    fn the_global_list_is_the_least_specific_level() {
        let mut host = MockHost::new();
        host.set_shared_kv("*|ip|192.0.2.0/24", b"deny");
        let v = &host.on_rcpt::<Lists>(&message("192.0.2.7"))[0];
        assert!(
            v.find_symbol("LIST_DENY").unwrap().reason.starts_with("global deny list (*): ip|192.0.2.0/24"),
            "{v:?}"
        );
        let mut host = entries(host, &[("*|domain|spam.test", "allow")]);
        assert_eq!(
            host.on_rcpt::<Lists>(&message("192.0.2.7"))[0].action(),
            &Action::Accept,
            "the tenant's allow wins"
        );
    }

    #[test]
    fn the_deny_policy_can_quarantine() {
        let mut host = entries(MockHost::new().config(r#"{"deny": "quarantine"}"#), &[("*|ip|192.0.2.7/32", "deny")]);
        assert_eq!(host.on_rcpt::<Lists>(&message("192.0.2.7"))[0].action(), &Action::Quarantine);
        assert!(host.configure::<Lists>(r#"{"deny": "bounce"}"#).is_err());
    }
}
