//! The reputation layer, on the envelope: DNS block and allow lists (DNSBL/DNSWL) through the host's DNS
//! (only the zones the chain entry grants), the client's local reputation learned from this gateway's own
//! verdicts (per IP and per network, in daily buckets that fade with a half-life), message rate limits per
//! IP and network (451 4.7.1), and greylisting of (network, sender, recipient) triplets at RCPT.
//!
//! The entry should be `learn_verdicts = true` (the host then tells it every verdict) and `kv = true`.
//! Configuration: see [`config::Config`]; for example
//! ```json
//! {"dnsbl": [{"zone": "zen.spamhaus.org", "weight": 5.0}], "dnswl": [{"zone": "list.dnswl.org", "weight": -2.0}],
//!  "reject_at": 10.0, "greylisting": {"delay": 300, "skip_domains": ["example.com"]},
//!  "rate": {"messages_per_ip": 120, "messages_per_network": 600}, "local": {"half_life_days": 3.0}}
//! ```

pub mod config;

use config::Config;
use moat_sdk::host::{HostError, RecordKind};
use moat_sdk::{Connection, Filter, Label, Message, Recipient, Verdict, host};
use std::net::IpAddr;

const DAY_MS: u64 = 86_400_000;
/// Days of verdicts kept per IP and network.
const WINDOW_DAYS: u64 = 14;

/// The client's network: /24 for IPv4, /64 for IPv6 (what one sender usually controls).
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The name a DNS list is asked under: reversed octets (`7.2.0.192`), or reversed nibbles for IPv6.
pub fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
            hex.chars().rev().map(String::from).collect::<Vec<_>>().join(".")
        }
    }
}

fn config() -> Option<Config> {
    Config::parse(&host::config()).ok()
}

fn counter(value: &Option<Vec<u8>>) -> f64 {
    value.as_deref().and_then(|v| v.try_into().ok()).map_or(0.0, |b: [u8; 8]| i64::from_le_bytes(b) as f64)
}

/// Message rate per IP and network this minute; a refusal when over a limit.
fn rate_limited(ip: IpAddr, config: &Config) -> Option<Verdict> {
    let minute = host::now_ms() / 60_000;
    for (what, key, limit) in [
        ("IP", format!("rate|{ip}|{minute}"), config.rate.messages_per_ip),
        ("network", format!("rate|{}|{minute}", network(ip)), config.rate.messages_per_network),
    ] {
        if limit <= 0 {
            continue;
        }
        let Ok(count) = host::kv_incr(&key, 1, Some(120)) else { continue };
        if count > limit {
            return Some(
                Verdict::tempfail(
                    451,
                    "4.7.1",
                    &format!("Too many messages from your {what}, slow down and retry later"),
                )
                .symbol(
                    "REP_RATE_LIMIT",
                    0.0,
                    &format!("{count} messages this minute from {what} (limit {limit})"),
                ),
            );
        }
    }
    None
}

/// DNSBL and DNSWL answers, as symbols; the summed block-list weight.
fn dns_lists(ip: IpAddr, config: &Config, mut verdict: Verdict) -> (Verdict, f64) {
    let name = reversed(ip);
    let mut listed_weight = 0.0;
    for (zone, allow) in config.dnsbl.iter().map(|z| (z, false)).chain(config.dnswl.iter().map(|z| (z, true))) {
        let zone_name = zone.zone.trim_end_matches('.').to_ascii_lowercase();
        let label = zone_name.split('.').next().unwrap_or("").to_ascii_uppercase().replace('-', "_");
        let symbol = if allow { format!("DNSWL_{label}") } else { format!("DNSBL_{label}") };
        match host::dns_lookup(&format!("{name}.{zone_name}"), RecordKind::A) {
            Ok(answers) => {
                // Lists answer 127.0.0.x; anything else is an error page or a wildcard, never a listing.
                let codes: Vec<&String> = answers.iter().filter(|a| a.starts_with("127.")).collect();
                if !codes.is_empty() {
                    let codes = codes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
                    verdict = verdict.symbol(&symbol, zone.weight, &format!("{ip} listed by {zone_name} ({codes})"));
                    if !allow {
                        listed_weight += zone.weight;
                    }
                }
            }
            Err(HostError::Denied) => {
                verdict = verdict.symbol(
                    "REP_DNS_DENIED",
                    0.0,
                    &format!("the chain entry does not grant {zone_name}: add it to the entry's dns list"),
                );
            }
            Err(_) => {}
        }
    }
    (verdict, listed_weight)
}

/// The client's local reputation from this gateway's verdicts, as symbols.
fn local_reputation(ip: IpAddr, config: &Config, mut verdict: Verdict) -> Verdict {
    if !config.local.enabled {
        return verdict;
    }
    let today = host::now_ms() / DAY_MS;
    let subjects = [ip.to_string(), network(ip)];
    let mut keys = Vec::new();
    for subject in &subjects {
        for age in 0..WINDOW_DAYS {
            for label in ["spam", "ham"] {
                keys.push(format!("seen|{subject}|{}|{label}", today.saturating_sub(age)));
            }
        }
    }
    let Ok(values) = host::kv_get_many(&keys) else { return verdict };
    for (index, subject) in subjects.iter().enumerate() {
        let (mut spam, mut ham) = (0.0, 0.0);
        for age in 0..WINDOW_DAYS as usize {
            let at = index * WINDOW_DAYS as usize * 2 + age * 2;
            let weight = 0.5f64.powf(age as f64 / config.local.half_life_days);
            spam += counter(&values[at]) * weight;
            ham += counter(&values[at + 1]) * weight;
        }
        let seen = spam + ham;
        if seen < config.local.min_messages {
            continue;
        }
        let ratio = spam / seen;
        let reason = format!("{subject}: {spam:.1} spam and {ham:.1} clean verdicts, recent ones weighing most");
        let (bad, good, scale) =
            if index == 0 { ("REP_IP_BAD", "REP_IP_GOOD", 1.0) } else { ("REP_NET_BAD", "REP_NET_GOOD", 0.5) };
        if ratio >= 0.7 {
            verdict = verdict.symbol(bad, scale * 4.0 * (ratio - 0.5) * 2.0, &reason);
        } else if ratio <= 0.1 {
            verdict = verdict.symbol(good, scale * -1.5, &reason);
        }
    }
    verdict
}

struct Reputation;

impl Filter for Reputation {
    fn configure(config: &str) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn on_connect(connection: &Connection) -> Verdict {
        let (Some(config), Ok(ip)) = (config(), connection.client_ip.parse::<IpAddr>()) else { return Verdict::pass() };
        if let Some(refusal) = rate_limited(ip, &config) {
            return refusal;
        }
        let (verdict, listed) = dns_lists(ip, &config, Verdict::pass());
        if let Some(limit) = config.reject_at
            && listed >= limit
        {
            let symbols = verdict.symbols().to_vec();
            let refusal = Verdict::reject(554, "5.7.1", &format!("Client host {ip} is on block lists"));
            return symbols.iter().fold(refusal, |v, s| v.symbol(&s.name, s.score, &s.reason));
        }
        local_reputation(ip, &config, verdict)
    }

    fn on_rcpt(connection: &Connection, sender: &str, recipient: &Recipient) -> Verdict {
        let Some(config) = config() else { return Verdict::pass() };
        let (Some(grey), Ok(ip)) = (config.greylisting, connection.client_ip.parse::<IpAddr>()) else {
            return Verdict::pass();
        };
        let domain = recipient.domain.to_ascii_lowercase();
        if grey.skip_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
            return Verdict::pass();
        }
        let triplet =
            format!("{}|{}|{}", network(ip), sender.to_ascii_lowercase(), recipient.address.to_ascii_lowercase());
        let (passed_key, first_key) = (format!("grey-pass|{triplet}"), format!("grey|{triplet}"));
        let Ok(found) = host::kv_get_many(&[passed_key.clone(), first_key.clone()]) else {
            return Verdict::pass().symbol("GREYLIST_UNAVAILABLE", 0.0, "storage unavailable: not greylisted");
        };
        if found[0].is_some() {
            return Verdict::pass();
        }
        let now = host::now_ms();
        let first = found[1].as_deref().and_then(|v| v.try_into().ok()).map(u64::from_le_bytes);
        match first {
            Some(first) if now.saturating_sub(first) >= grey.delay * 1000 => {
                let days = u32::try_from(grey.pass_days * 86_400).unwrap_or(u32::MAX);
                let _ = host::kv_set(&passed_key, b"1", Some(days));
                let waited = (now - first) / 1000;
                Verdict::pass().symbol("GREYLIST_PASSED", 0.0, &format!("retried after {waited} s"))
            }
            Some(first) => {
                let left = (grey.delay * 1000).saturating_sub(now - first).div_ceil(1000);
                Verdict::tempfail(451, "4.7.1", "Greylisted, please try again later").symbol(
                    "GREYLISTED",
                    0.0,
                    &format!("retried too soon: {left} s left"),
                )
            }
            None => {
                let window = u32::try_from(grey.retry_window).unwrap_or(u32::MAX);
                let _ = host::kv_set(&first_key, &now.to_le_bytes(), Some(window));
                Verdict::tempfail(451, "4.7.1", "Greylisted, please try again later").symbol(
                    "GREYLISTED",
                    0.0,
                    &format!("first attempt from {}", network(ip)),
                )
            }
        }
    }

    fn learn(message: &Message, label: Label) {
        let Ok(ip) = message.connection().client_ip.parse::<IpAddr>() else { return };
        let label = match label {
            Label::Spam => "spam",
            Label::Ham => "ham",
            _ => return,
        };
        let day = host::now_ms() / DAY_MS;
        let ttl = Some((WINDOW_DAYS * 86_400) as u32);
        for subject in [ip.to_string(), network(ip)] {
            let _ = host::kv_incr(&format!("seen|{subject}|{day}|{label}"), 1, ttl);
        }
    }
}

moat_sdk::describe!(
    summary =
        "Client reputation: DNS block and allow lists, greylisting, rate limits and the verdicts its past mail earned.",
    configuration = "dnsbl, dnswl: [{zone, weight}] lists to ask (grant the zones with dns = [...] on the entry)\nreject_at: summed DNSBL weight that refuses the client (unset: only scored)\ngreylisting: {delay, retry_window, pass_days, skip_domains} (absent: none)\nrate: {messages_per_ip, messages_per_network} per minute (0: no limit)\nlocal: {enabled, half_life_days, min_messages} for the reputation of past verdicts",
);
moat_sdk::export_filter!(Reputation);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::Action;
    use moat_sdk::testing::{MockHost, TestMessage};

    fn connection(ip: &str) -> Connection {
        Connection {
            client_ip: ip.into(),
            ptr: None,
            helo: "mx.sender.test".into(),
            tls: None,
            direction: moat_sdk::Direction::Inbound,
        }
    }

    fn message(ip: &str) -> TestMessage {
        TestMessage::from_eml(b"From: a@sender.test\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhi\r\n")
            .sender("a@sender.test")
            .recipient("bob@example.com", "default")
            .client_ip(ip)
    }

    #[test]
    fn dns_lists_score_and_can_refuse() {
        let config =
            r#"{"dnsbl": [{"zone": "bl.test", "weight": 6.0}], "dnswl": [{"zone": "wl.test", "weight": -2.0}]}"#;
        let mut host = MockHost::new().config(config).dns("7.2.0.192.bl.test", RecordKind::A, &["127.0.0.2"]);
        let v = host.on_connect::<Reputation>(&connection("192.0.2.7"));
        assert_eq!(v.action(), &Action::Continue);
        assert_eq!(v.find_symbol("DNSBL_BL").unwrap().score, 6.0);
        assert!(v.find_symbol("DNSBL_BL").unwrap().reason.contains("192.0.2.7 listed by bl.test (127.0.0.2)"));
        assert!(host.on_connect::<Reputation>(&connection("192.0.2.8")).symbols().is_empty());

        let strict = r#"{"dnsbl": [{"zone": "bl.test", "weight": 6.0}], "reject_at": 5.0}"#;
        let mut host = MockHost::new().config(strict).dns("7.2.0.192.bl.test", RecordKind::A, &["127.0.0.4"]);
        let v = host.on_connect::<Reputation>(&connection("192.0.2.7"));
        assert!(matches!(v.action(), Action::Reject { code: 554, .. }), "{v:?}");

        let mut denied = MockHost::new().config(config);
        let v = denied.on_connect::<Reputation>(&connection("192.0.2.7"));
        assert!(v.find_symbol("REP_DNS_DENIED").is_some(), "{v:?}");
    }

    #[test]
    fn greylisting_defers_the_first_try_and_passes_the_retry() {
        let mut host = MockHost::new().config(r#"{"greylisting": {"delay": 300}}"#);
        let first = &host.on_rcpt::<Reputation>(&message("192.0.2.7"))[0];
        assert!(matches!(first.action(), Action::Tempfail { code: 451, .. }), "{first:?}");
        host.advance_ms(60_000);
        let early = &host.on_rcpt::<Reputation>(&message("192.0.2.9"))[0];
        assert!(early.find_symbol("GREYLISTED").unwrap().reason.contains("240 s left"), "same /24: {early:?}");
        host.advance_ms(240_000);
        let retry = &host.on_rcpt::<Reputation>(&message("192.0.2.7"))[0];
        assert_eq!(retry.action(), &Action::Continue);
        assert!(retry.find_symbol("GREYLIST_PASSED").is_some());
        host.advance_ms(86_400_000 * 10);
        assert!(host.on_rcpt::<Reputation>(&message("192.0.2.7"))[0].symbols().is_empty(), "passed triplets stay");

        let mut host = MockHost::new().config(r#"{"greylisting": {"skip_domains": ["Example.com"]}}"#);
        assert_eq!(host.on_rcpt::<Reputation>(&message("192.0.2.7"))[0].action(), &Action::Continue);
    }

    #[test]
    fn rate_limits_tempfail_past_the_limit() {
        let mut host = MockHost::new().config(r#"{"rate": {"messages_per_ip": 3, "messages_per_network": 3}}"#);
        for _ in 0..3 {
            assert_eq!(host.on_connect::<Reputation>(&connection("192.0.2.7")).action(), &Action::Continue);
        }
        let v = host.on_connect::<Reputation>(&connection("192.0.2.7"));
        assert!(matches!(v.action(), Action::Tempfail { code: 451, .. }), "{v:?}");
        assert!(v.find_symbol("REP_RATE_LIMIT").unwrap().reason.contains("from IP"));
        let v = host.on_connect::<Reputation>(&connection("192.0.2.8"));
        assert!(v.find_symbol("REP_RATE_LIMIT").unwrap().reason.contains("from network"), "{v:?}");
        host.advance_ms(60_000);
        assert_eq!(host.on_connect::<Reputation>(&connection("192.0.2.7")).action(), &Action::Continue);
    }

    #[test]
    fn verdicts_build_a_reputation_that_fades() {
        let mut host = MockHost::new();
        for _ in 0..8 {
            host.learn::<Reputation>(&message("192.0.2.7"), Label::Spam);
        }
        host.learn::<Reputation>(&message("192.0.2.99"), Label::Spam);
        let v = host.on_connect::<Reputation>(&connection("192.0.2.7"));
        assert!(v.find_symbol("REP_IP_BAD").unwrap().score > 3.9, "{v:?}");
        let neighbour = host.on_connect::<Reputation>(&connection("192.0.2.50"));
        assert!(neighbour.find_symbol("REP_NET_BAD").is_some() && neighbour.find_symbol("REP_IP_BAD").is_none());
        for _ in 0..6 {
            host.learn::<Reputation>(&message("198.51.100.1"), Label::Ham);
        }
        assert!(host.on_connect::<Reputation>(&connection("198.51.100.1")).find_symbol("REP_IP_GOOD").is_some());
        host.advance_ms(DAY_MS * 9);
        let faded = host.on_connect::<Reputation>(&connection("192.0.2.7"));
        assert!(faded.find_symbol("REP_IP_BAD").is_none(), "8 verdicts at 3 half-lives weigh 1: {faded:?}");
    }
}
