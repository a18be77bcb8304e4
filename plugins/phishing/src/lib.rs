//! The phishing layer: every link of the message (text and HTML) and its From domain are checked for what
//! phishing looks like — an anchor whose text shows one domain and whose target is another, links to bare
//! IP addresses or hiding their host behind `user@`, images loaded from a bare IP address, look-alikes of the
//! tenant's protected domains (punycode homoglyphs, digit swaps, typos, hyphens and other endings) and of the
//! most phished brands (homoglyphs, hyphens, the brand's name before another domain), URL shorteners, and
//! domains on a blocklist (the entry's config, the tenant's storage `domain|NAME`, or the operator's shared
//! storage) — and what the HTML does: links that carry a page (`data:`) and forms asking for a password, in the
//! message or in an HTML attachment.
//!
//! Configuration (every key optional):
//! ```json
//! {"protected": ["example.com"], "blocklist": ["evil.test"], "shorteners": ["go.example.net"],
//!  "blocklisted": "quarantine", "scores": {"PHISH_SHORTENER": 0.5}}
//! ```
//! The recipients' domains are always protected.

pub mod html;
pub mod lookalike;
pub mod lure;
pub mod urls;

use html::Page;
use moat_sdk::{Filter, Message, Verdict, host};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use urls::Link;

/// Every symbol this layer gives, with its default score.
pub const SYMBOLS: &[(&str, f64, &str)] = &[
    // Newsletters link through their mailing service's tracking domain: a mismatch alone is weak evidence.
    ("PHISH_DISPLAY_MISMATCH", 2.0, "a link shows one domain and goes to another"),
    ("PHISH_IP_URL", 2.5, "a link goes to a bare IP address"),
    // Honest senders serve their pictures from a named host (their own, their mailing service's, a CDN).
    ("PHISH_IP_IMAGE", 2.5, "an image loads from a bare IP address"),
    ("PHISH_USERINFO_URL", 2.0, "a link hides its real host after user@"),
    ("PHISH_LOOKALIKE", 6.0, "a link goes to a look-alike of a protected domain"),
    ("PHISH_LOOKALIKE_SENDER", 6.0, "the From domain is a look-alike of a protected domain"),
    ("PHISH_SHORTENER", 1.0, "a link goes through a URL shortener"),
    ("PHISH_BLOCKLISTED", 10.0, "a link goes to a blocklisted domain"),
    ("PHISH_BRAND_LOOKALIKE", 8.0, "a link or the From domain imitates a much-phished brand's domain"),
    ("PHISH_DATA_URL", 6.0, "a link carries a whole page (data:) instead of going somewhere"),
    // Honest senders send their users to their site to sign in; only phish asks for a password in the mail.
    ("PHISH_PASSWORD_FORM", 10.0, "the message, or an HTML attachment, asks for a password"),
    // Either half is common in honest mail (a bank's own notice; a newsletter's tracking links); together
    // they are a credential phish, which reaches quarantine with the weakest of the others (a shortener).
    (
        "PHISH_CREDENTIAL_LURE",
        9.0,
        "wording that asks to act on an account or its password, with a link or sender that deceives",
    ),
];

/// The registered domains of the brands phishing imitates most (the big webmail, cloud, payment, shop,
/// parcel and social services, and the largest banks). A domain of the brand itself, or its name under
/// another ending (amazon.de), is never flagged.
const BRANDS: &[&str] = &[
    "paypal.com",
    "microsoft.com",
    "office.com",
    "outlook.com",
    "live.com",
    "sharepoint.com",
    "onedrive.com",
    "apple.com",
    "icloud.com",
    "google.com",
    "gmail.com",
    "amazon.com",
    "netflix.com",
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "linkedin.com",
    "dropbox.com",
    "docusign.com",
    "adobe.com",
    "wetransfer.com",
    "dhl.com",
    "fedex.com",
    "usps.com",
    "ebay.com",
    "chase.com",
    "wellsfargo.com",
    "bankofamerica.com",
    "citibank.com",
    "hsbc.com",
    "santander.com",
    "americanexpress.com",
    "coinbase.com",
    "binance.com",
    "steamcommunity.com",
    "roblox.com",
    "yahoo.com",
];

/// Link shorteners: their links hide where they lead.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "tiny.cc",
    "bit.do",
    "t.ly",
    "s.id",
    "v.gd",
    "qrco.de",
    "shorte.st",
    "adf.ly",
];

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Policy {
    Reject,
    Quarantine,
    Score,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    protected: Vec<String>,
    #[serde(default)]
    blocklist: Vec<String>,
    #[serde(default)]
    shorteners: Vec<String>,
    #[serde(default = "quarantine")]
    blocklisted: Policy,
    #[serde(default)]
    scores: BTreeMap<String, f64>,
}

fn quarantine() -> Policy {
    Policy::Quarantine
}

impl Config {
    fn parse(json: &str) -> Result<Self, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let mut config: Config = serde_json::from_str(json).map_err(|e| format!("phishing config: {e}"))?;
        for name in config.scores.keys() {
            if !SYMBOLS.iter().any(|(known, ..)| known == name) {
                let known: Vec<&str> = SYMBOLS.iter().map(|(n, ..)| *n).collect();
                return Err(format!("phishing config: unknown symbol {name} in scores (known: {})", known.join(", ")));
            }
        }
        for domain in config.protected.iter().chain(&config.blocklist).chain(&config.shorteners) {
            if domain.trim().is_empty() || domain.contains(char::is_whitespace) || !domain.contains('.') {
                return Err(format!("phishing config: {domain:?} is not a domain"));
            }
        }
        for list in [&mut config.protected, &mut config.blocklist, &mut config.shorteners] {
            for domain in list.iter_mut() {
                *domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
            }
        }
        Ok(config)
    }

    fn score(&self, name: &str) -> f64 {
        let default = SYMBOLS.iter().find(|(n, ..)| *n == name).map_or(0.0, |(_, s, _)| *s);
        self.scores.get(name).copied().unwrap_or(default)
    }
}

/// `domain` and each parent with at least two labels.
fn with_parents(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1)).map(|i| labels[i..].join(".")).collect()
}

/// Text that reads as a web address (`www.bank.test`, `https://bank.test/login`, `Bank.test`).
fn shown_host(shown: &str) -> Option<String> {
    let shown = shown.trim();
    if let Some(host) = urls::host_of(shown) {
        return Some(host);
    }
    let word = shown.trim_end_matches('/');
    let tld = word.rsplit('.').next()?;
    let looks_like_domain = !word.contains(char::is_whitespace)
        && word.contains('.')
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic());
    looks_like_domain.then(|| word.split('/').next().unwrap_or(word).to_ascii_lowercase())
}

/// The domain of the From address, in any of its forms (`Name <a@b>`, `a@b (Name)`, `a@b`).
fn from_domain(message: &Message) -> Option<String> {
    let from = message.header("From").into_iter().next()?;
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from.split_whitespace().find(|w| w.contains('@'))?,
    };
    let domain = address.rsplit_once('@')?.1;
    let domain: String =
        domain.chars().take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '-').collect::<String>();
    Some(domain.trim_end_matches('.').to_lowercase()).filter(|d| d.contains('.'))
}

/// Findings by symbol, each with its reasons (deduplicated, in order).
#[derive(Default)]
struct Findings(BTreeMap<&'static str, Vec<String>>);

impl Findings {
    fn add(&mut self, symbol: &'static str, reason: String) {
        let reasons = self.0.entry(symbol).or_default();
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
}

/// The names a message's domains are compared with: the protected domains and the brands, each prepared once.
struct Originals {
    protected: Vec<lookalike::Name>,
    brands: &'static lookalike::Index,
}

/// The brands prepared once per instance (the default chain keeps this layer's instances warm, so once per few
/// thousand messages rather than per message).
fn brands() -> &'static lookalike::Index {
    static BRAND_NAMES: std::sync::OnceLock<lookalike::Index> = std::sync::OnceLock::new();
    BRAND_NAMES.get_or_init(|| lookalike::Index::new(BRANDS.iter().map(|b| lookalike::Name::new(b)).collect()))
}

impl Originals {
    fn new(protected: &BTreeSet<String>) -> Self {
        Self { protected: protected.iter().map(|d| lookalike::Name::new(d)).collect(), brands: brands() }
    }

    /// How `host` imitates a protected domain, for each one it does.
    fn protected_imitated_by(&self, host: &lookalike::Name) -> Vec<String> {
        self.protected.iter().filter_map(|p| lookalike::imitation(host, p, lookalike::Ways::All)).collect()
    }

    /// Whether `host` imitates a brand, and how: only the unmistakable ways (homoglyphs, a hyphen, the brand's
    /// domain before another one). Typos and the brand's name among other words are left out: real domains of
    /// every kind are one letter from a short brand name, and brands' own partners carry their names.
    fn brand_imitated_by(&self, name: &lookalike::Name) -> Option<String> {
        let host = name.written();
        // The brand's own country sites (yahoo.com.au, amazon.com.br) are its, not an imitation.
        let country = host
            .strip_suffix(|c: char| c.is_ascii_lowercase())
            .and_then(|h| h.strip_suffix(|c: char| c.is_ascii_lowercase()))
            .and_then(|h| h.strip_suffix('.'));
        self.brands.unmistakable_candidates(name).find_map(|original| {
            let brand = original.written();
            if country.is_some_and(|h| h == brand || lookalike::is_under(h, brand)) {
                return None;
            }
            let why = lookalike::imitation(name, original, lookalike::Ways::Unmistakable)?;
            Some(format!("{host}: {why}"))
        })
    }
}

/// What a link shows of itself: a bare IP address, a host hidden after `user@`, text naming another domain.
fn check_link(link: &Link, findings: &mut Findings) {
    let host = &link.host;
    if host.parse::<std::net::IpAddr>().is_ok() {
        findings.add("PHISH_IP_URL", link.url.clone());
    }
    if urls::has_userinfo(&link.url) {
        findings.add("PHISH_USERINFO_URL", link.url.clone());
    }
    if let Some(shown) = link.shown.as_deref().and_then(shown_host)
        && lookalike::registered(&shown) != lookalike::registered(host)
    {
        findings.add("PHISH_DISPLAY_MISMATCH", format!("shows {shown}, goes to {host}"));
    }
}

/// Where links go, once per host however many links go there: a shortener, a look-alike of a protected
/// domain or of a brand.
fn check_host(host: &str, config: &Config, originals: &Originals, findings: &mut Findings) {
    let registered = lookalike::registered(host);
    if SHORTENERS.contains(&registered.as_str()) || config.shorteners.iter().any(|s| with_parents(host).contains(s)) {
        findings.add("PHISH_SHORTENER", host.to_owned());
    }
    let name = lookalike::Name::new(host);
    for why in originals.protected_imitated_by(&name) {
        findings.add("PHISH_LOOKALIKE", format!("{host}: {why}"));
    }
    if let Some(why) = originals.brand_imitated_by(&name) {
        findings.add("PHISH_BRAND_LOOKALIKE", why);
    }
}

/// What the HTML of the message and of its HTML attachments does (see [`html`]).
fn check_html(message: &Message, pages: &[Page], findings: &mut Findings) {
    let mut read: Vec<(String, Cow<'_, Page>)> =
        pages.iter().map(|page| ("the message".into(), Cow::Borrowed(page))).collect();
    for attachment in message.attachments() {
        let named_html = attachment.name.as_deref().is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".html") || n.ends_with(".htm") || n.ends_with(".shtml")
        });
        let typed_html = attachment.declared_type == "text/html" || attachment.sniffed_type == "text/html";
        // An attachment can be large: only the first 256 KB of a page is read.
        if (named_html || typed_html)
            && attachment.size <= 256 * 1024
            && let Some(bytes) = message.attachment_bytes(attachment.index)
        {
            let name = attachment.name.clone().unwrap_or_else(|| "an attachment".into());
            read.push((name, Cow::Owned(Page::read(&String::from_utf8_lossy(&bytes)))));
        }
    }
    for (whose, page) in &read {
        for url in &page.data_urls {
            findings.add("PHISH_DATA_URL", format!("{whose}: {url}"));
        }
        if page.password_form {
            findings.add("PHISH_PASSWORD_FORM", format!("a password form in {whose}"));
        }
    }
}

/// Pictures loaded from a bare IP address: the sender has no name for the server they live on, or hides it
/// from domain blocklists.
fn check_images(pages: &[Page], findings: &mut Findings) {
    for source in pages.iter().flat_map(|page| &page.image_sources) {
        if urls::host_of(source).is_some_and(|host| host.parse::<std::net::IpAddr>().is_ok()) {
            findings.add("PHISH_IP_IMAGE", source.clone());
        }
    }
}

/// The message's text and HTML parts, fetched from the host once per message (each fetch copies them all
/// into the plugin).
struct Parts {
    text: Vec<String>,
    html: Vec<String>,
}

/// Credential wording ([`lure`]) in a message that already shows a deception: only then is its text read.
fn check_lure(message: &Message, parts: &Parts, findings: &mut Findings) {
    if findings.0.is_empty() {
        return;
    }
    let mut text = message.subject().unwrap_or_default();
    for part in &parts.text {
        text.push('\n');
        text.push_str(part);
    }
    for part in &parts.html {
        text.push('\n');
        text.push_str(&urls::visible(part, " "));
    }
    if let Some(phrase) = lure::in_text(&text) {
        let with: Vec<&str> = findings.0.keys().copied().collect();
        findings.add("PHISH_CREDENTIAL_LURE", format!("\"{phrase}\" with {}", with.join(", ")));
    }
}

struct Phishing;

impl Filter for Phishing {
    fn configure(config: &str) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn on_message(message: &Message) -> Verdict {
        let config = match Config::parse(&host::config()) {
            Ok(config) => config,
            Err(e) => return Verdict::pass().symbol("PHISHING_CONFIG", 0.0, &e),
        };
        let parts = Parts { text: message.text_parts(), html: message.html_parts() };
        let pages: Vec<Page> = parts.html.iter().map(|h| Page::read(h)).collect();
        let text_links: Vec<Link> = parts.text.iter().flat_map(|t| urls::in_text(t)).collect();
        let links: Vec<&Link> = text_links.iter().chain(pages.iter().flat_map(|page| &page.links)).collect();
        let mut protected: BTreeSet<String> = config.protected.iter().cloned().collect();
        protected.extend(message.recipients().iter().map(|r| lookalike::registered(&r.domain.to_ascii_lowercase())));

        let originals = Originals::new(&protected);
        let mut findings = Findings::default();
        for link in &links {
            check_link(link, &mut findings);
        }
        let hosts: BTreeSet<&str> = links.iter().map(|l| l.host.as_str()).collect();
        for host in &hosts {
            check_host(host, &config, &originals, &mut findings);
        }
        if let Some(from) = from_domain(message) {
            let name = lookalike::Name::new(&from);
            for why in originals.protected_imitated_by(&name) {
                findings.add("PHISH_LOOKALIKE_SENDER", format!("{from}: {why}"));
            }
            if let Some(why) = originals.brand_imitated_by(&name) {
                findings.add("PHISH_BRAND_LOOKALIKE", format!("sender {why}"));
            }
        }
        check_html(message, &pages, &mut findings);
        check_lure(message, &parts, &mut findings);
        // After the lure's check: a picture's host deceives no reader about where a click goes.
        check_images(&pages, &mut findings);
        let mut keys: Vec<String> = Vec::new();
        for host in &hosts {
            for domain in with_parents(host) {
                if config.blocklist.contains(&domain) {
                    findings.add("PHISH_BLOCKLISTED", format!("{host} (blocklist: {domain})"));
                }
                keys.push(format!("domain|{domain}"));
            }
        }
        if !keys.is_empty() {
            let tenant = host::kv_get_many(&keys).unwrap_or_default();
            let shared = host::kv_get_shared(&keys).unwrap_or_default();
            for (i, key) in keys.iter().enumerate() {
                let listed = tenant.get(i).cloned().flatten().or_else(|| shared.get(i).cloned().flatten());
                if let Some(note) = listed {
                    let domain = &key["domain|".len()..];
                    let note = String::from_utf8_lossy(&note);
                    findings.add("PHISH_BLOCKLISTED", format!("{domain} ({note})"));
                }
            }
        }

        let mut verdict = match config.blocklisted {
            _ if !findings.0.contains_key("PHISH_BLOCKLISTED") => Verdict::pass(),
            Policy::Reject => Verdict::reject(550, "5.7.1", "Message contains a link to a blocked site"),
            Policy::Quarantine => Verdict::quarantine(),
            Policy::Score => Verdict::pass(),
        };
        for (name, reasons) in &findings.0 {
            let mut reason = reasons.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
            if reasons.len() > 5 {
                reason.push_str(&format!("; and {} more", reasons.len() - 5));
            }
            verdict = verdict.symbol(name, config.score(name), &reason);
        }
        verdict
    }
}

moat_sdk::describe!(
    summary = "Phishing: deceptive links, look-alikes of your domains and of much-phished brands, password forms, data: pages, shorteners.",
    configuration = "protected: more domains whose look-alikes count (your own are always protected)\nblocklist: domains that hold a message when linked\nshorteners: more URL shortener domains\nblocklisted: \"quarantine\" (default), \"reject\" or \"score\"\nscores: {SYMBOL: score} to change a symbol's score",
);
moat_sdk::export_filter!(Phishing);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::Action;
    use moat_sdk::testing::{MockHost, TestMessage};

    fn html(from: &str, body: &str) -> TestMessage {
        let eml = format!(
            "From: {from}\r\nTo: bob@example.com\r\nSubject: Account notice\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>{body}</body></html>\r\n"
        );
        TestMessage::from_eml(eml.as_bytes()).sender("x@sender.test").recipient("bob@example.com", "default")
    }

    fn names(v: &Verdict) -> Vec<&str> {
        v.symbols().iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn a_classic_phish_lights_up() {
        let mut host = MockHost::new();
        let v = host.on_message::<Phishing>(&html(
            "IT Support <it@examp1e.com>",
            "<a href=\"http://198.51.100.7/owa/login\">https://mail.example.com/owa</a> \
             <a href=\"https://xn--xample-2of.com/reset\">reset</a> or https://bit.ly/3xyz",
        ));
        let got = names(&v);
        for want in
            ["PHISH_DISPLAY_MISMATCH", "PHISH_IP_URL", "PHISH_LOOKALIKE", "PHISH_LOOKALIKE_SENDER", "PHISH_SHORTENER"]
        {
            assert!(got.contains(&want), "{want} missing: {v:?}");
        }
        assert!(
            v.find_symbol("PHISH_DISPLAY_MISMATCH")
                .unwrap()
                .reason
                .contains("shows mail.example.com, goes to 198.51.100.7")
        );
        assert!(v.find_symbol("PHISH_LOOKALIKE").unwrap().reason.contains("shown as еxample.com"), "{v:?}");
        assert_eq!(v.action(), &Action::Continue);
    }

    #[test]
    fn honest_links_pass() {
        let mut host = MockHost::new();
        let v = host.on_message::<Phishing>(&html(
            "News <news@shop.test>",
            "<a href=\"https://www.shop.test/sale?id=1\">www.shop.test/sale</a> \
             <a href=\"https://shop.test/a\">Read more</a> <a href=\"https://mail.example.com/\">your mail</a>",
        ));
        assert!(v.symbols().is_empty(), "{v:?}");
    }

    #[test]
    fn blocklists_from_config_tenant_and_operator() {
        let body = "<a href=\"https://login.evil.test/x\">login</a> and <a href=\"https://cdn.bad.test/\">x</a>";
        let mut host = MockHost::new().config(r#"{"blocklist": ["evil.test"]}"#);
        let v = host.on_message::<Phishing>(&html("a@shop.test", body));
        assert_eq!(v.action(), &Action::Quarantine);
        assert!(v.find_symbol("PHISH_BLOCKLISTED").unwrap().reason.contains("login.evil.test (blocklist: evil.test)"));

        let mut host = MockHost::new().config(r#"{"blocklisted": "reject"}"#);
        host.set_shared_kv("domain|bad.test", b"phishing kit seen 2026-11-20");
        let v = host.on_message::<Phishing>(&html("a@shop.test", body));
        assert!(matches!(v.action(), Action::Reject { code: 550, .. }), "{v:?}");
        assert!(v.find_symbol("PHISH_BLOCKLISTED").unwrap().reason.contains("bad.test (phishing kit seen"));
    }

    fn imitates_brand(host: &str) -> Option<String> {
        Originals::new(&BTreeSet::new()).brand_imitated_by(&lookalike::Name::new(host))
    }

    #[test]
    fn brand_imitations_are_caught_and_the_brands_own_country_sites_are_not() {
        for imitation in ["paypa1.com", "xn--pypal-4ve.com", "pay-pal.com", "paypal.com.account-check.test"] {
            assert!(imitates_brand(imitation).is_some(), "{imitation}");
        }
        for own in ["paypal.com", "www.paypal.com", "yahoo.com.au", "mail.yahoo.com.au", "amazon.de", "apply.com"] {
            assert_eq!(imitates_brand(own), None, "{own}");
        }
    }

    #[test]
    fn config_errors_are_clear() {
        let mut host = MockHost::new();
        assert!(
            host.configure::<Phishing>(r#"{"protected": ["not a domain"]}"#).unwrap_err().contains("is not a domain")
        );
        assert!(
            host.configure::<Phishing>(r#"{"scores": {"PHISH_X": 1}}"#).unwrap_err().contains("unknown symbol PHISH_X")
        );
    }
}
