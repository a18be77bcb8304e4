//! Flags invoices and payment requests whose sender domain imitates one of the domains they were sent to:
//! `examp1e.com`, `exarnple.com`, `example-com.net`, `example.com.billing.io` or `xn--exmple-cua.com` posing
//! as `example.com`. Business email compromise starts like this; a generic spam filter scores it clean.
//!
//! Configuration (JSON; every key optional):
//! `{"score": 8.0, "protected": ["example.com"], "keywords": ["invoice", "wire transfer"]}`
//! — `protected` adds domains to those of the recipients; `keywords` replaces the built-in list.

use moat_sdk::{Filter, Message, Verdict, describe, export_filter, host};

describe!(
    summary = "Invoices and payment requests from a domain that imitates one of the recipients' domains.",
    configuration = "score: the score of a match (default 8.0)\nprotected: domains to protect besides the recipients' own\nkeywords: the words that make a message a payment request (replaces the built-in list)",
);

struct LookalikeInvoices;

const DEFAULT_SCORE: f64 = 8.0;
const KEYWORDS: &[&str] = &[
    "invoice",
    "payment",
    "remittance",
    "wire transfer",
    "bank details",
    "iban",
    "swift",
    "overdue",
    "factura",
    "rechnung",
];

/// The filter's configuration, read without a JSON library to keep the component small.
struct Config {
    score: f64,
    protected: Vec<String>,
    keywords: Vec<String>,
}

impl Config {
    fn parse(json: &str) -> Result<Self, String> {
        let json = json.trim();
        if !(json.starts_with('{') && json.ends_with('}')) {
            return Err(format!("expected a JSON object, got {json}"));
        }
        let score = match number_after(json, "\"score\"") {
            Some(Ok(s)) if s > 0.0 && s <= 100.0 => s,
            Some(_) => return Err("\"score\" must be a number between 0 and 100".into()),
            None => DEFAULT_SCORE,
        };
        let protected = strings_after(json, "\"protected\"")?.unwrap_or_default();
        if let Some(bad) = protected.iter().find(|d| !d.contains('.') || d.contains(char::is_whitespace)) {
            return Err(format!("\"protected\": {bad:?} is not a domain"));
        }
        let keywords =
            strings_after(json, "\"keywords\"")?.unwrap_or_else(|| KEYWORDS.iter().map(|k| k.to_string()).collect());
        Ok(Self { score, protected, keywords: keywords.into_iter().map(|k| k.to_lowercase()).collect() })
    }
}

fn value_after<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(key)? + key.len();
    Some(json[at..].trim_start().strip_prefix(':')?.trim_start())
}

fn number_after(json: &str, key: &str) -> Option<Result<f64, ()>> {
    let rest = value_after(json, key)?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(rest.len());
    Some(rest[..end].parse().map_err(|_| ()))
}

fn strings_after(json: &str, key: &str) -> Result<Option<Vec<String>>, String> {
    let Some(rest) = value_after(json, key) else { return Ok(None) };
    let list = rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(inside, _)| inside);
    let list = list.ok_or_else(|| format!("{key} must be a list of strings"))?;
    Ok(Some(list.split(',').map(|s| s.trim().trim_matches('"').to_lowercase()).filter(|s| !s.is_empty()).collect()))
}

/// The domain of an address in a header value such as `"Billing" <billing@examp1e.com>`.
fn domain_of(value: &str) -> Option<String> {
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.trim(),
    };
    let (_, domain) = address.rsplit_once('@')?;
    Some(domain.trim().trim_end_matches('.').to_lowercase())
}

/// Letters that pass for others at a glance.
fn skeleton(s: &str) -> String {
    s.replace("rn", "m")
        .replace("vv", "w")
        .replace("cl", "d")
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' | '|' => 'l',
            '3' => 'e',
            '5' => 's',
            '$' => 's',
            '@' => 'a',
            c => c,
        })
        .collect()
}

/// Edit distance with transpositions (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The name a domain is recognised by: `example` for `example.com` (and for `mail.example.co.uk`, loosely).
fn brand(domain: &str) -> &str {
    let labels: Vec<&str> = domain.split('.').collect();
    match labels.as_slice() {
        [.., name, "co" | "com" | "org" | "net" | "ac" | "gov", _cc] if labels.len() >= 3 && _cc.len() == 2 => name,
        [.., name, _tld] => name,
        [only] => only,
        [] => "",
    }
}

/// Why `candidate` imitates `protected`, if it does.
pub fn imitates(candidate: &str, protected: &str) -> Option<String> {
    if candidate == protected || candidate.ends_with(&format!(".{protected}")) {
        return None;
    }
    if candidate.starts_with(&format!("{protected}.")) {
        return Some(format!("{protected} followed by another domain"));
    }
    let (theirs, ours) = (brand(candidate), brand(protected));
    if theirs.starts_with("xn--") || candidate.split('.').any(|l| l.starts_with("xn--")) {
        return Some("an internationalized (punycode) name".into());
    }
    if theirs.replace('-', "") == ours.replace('-', "") || theirs == protected.replace('.', "-") {
        return Some(format!("{ours} with a hyphen or another ending"));
    }
    if skeleton(theirs) == skeleton(ours) {
        return Some(format!("letters that look like {ours}"));
    }
    // Short names are one typo from many real words; long ones tolerate two.
    let typos = if ours.len() >= 8 { 2 } else { 1 };
    if ours.len() >= 5 && distance(theirs, ours) <= typos {
        return Some(format!("a typo away from {ours}"));
    }
    if ours.len() >= 5 && theirs.len() > ours.len() && (theirs.starts_with(ours) || theirs.ends_with(ours)) {
        return Some(format!("{ours} with extra words"));
    }
    None
}

impl Filter for LookalikeInvoices {
    fn configure(config: &str) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn on_message(message: &Message) -> Verdict {
        let Ok(config) = Config::parse(&host::config()) else { return Verdict::pass() };
        let mut protected = config.protected.clone();
        protected.extend(message.recipients().into_iter().map(|r| r.domain.to_lowercase()));

        let mut text = message.subject().unwrap_or_default().to_lowercase();
        for part in message.text_parts().iter().chain(message.html_parts().iter()).take(4) {
            text.push(' ');
            text.extend(part.chars().take(20_000).flat_map(char::to_lowercase));
        }
        for attachment in message.attachments() {
            text.push(' ');
            text.push_str(&attachment.name.unwrap_or_default().to_lowercase());
        }
        let Some(keyword) = config.keywords.iter().find(|k| text.contains(k.as_str())) else {
            return Verdict::pass();
        };

        let mut senders: Vec<String> = message.header("From").iter().filter_map(|v| domain_of(v)).collect();
        senders.extend(message.header("Reply-To").iter().filter_map(|v| domain_of(v)));
        senders.extend(domain_of(&message.sender()));
        for sender in &senders {
            for ours in &protected {
                if let Some(why) = imitates(sender, ours) {
                    let reason = format!("{keyword:?} from {sender}, which imitates {ours}: {why}");
                    host::log(host::Level::Info, &reason);
                    return Verdict::pass().symbol("LOOKALIKE_INVOICE", config.score, &reason);
                }
            }
        }
        Verdict::pass()
    }
}

export_filter!(LookalikeInvoices);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::testing::{MockHost, TestMessage};

    fn eml(name: &str) -> TestMessage {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        TestMessage::from_eml(&std::fs::read(path).unwrap())
    }

    #[test]
    fn lookalikes_are_recognised_and_real_domains_are_not() {
        for fake in [
            "examp1e.com",
            "exarnple.com",
            "example-com.net",
            "example.com.billing.io",
            "exmaple.com",
            "examplepay.com",
            "xn--exmple-cua.com",
            "example.co",
        ] {
            assert!(imitates(fake, "example.com").is_some(), "{fake}");
        }
        for real in ["example.com", "mail.example.com", "sample.org", "gmail.com", "ex.com"] {
            assert_eq!(imitates(real, "example.com"), None, "{real}");
        }
    }

    #[test]
    fn an_invoice_from_a_lookalike_is_flagged() {
        let mut host = MockHost::new();
        let verdict = host.on_message::<LookalikeInvoices>(&eml("lookalike-invoice.eml"));
        let symbol = verdict.find_symbol("LOOKALIKE_INVOICE").expect("flagged");
        assert_eq!(symbol.score, DEFAULT_SCORE);
        assert!(symbol.reason.contains("examp1e.com, which imitates example.com"), "{}", symbol.reason);
        assert!(host.logs.iter().any(|(_, line)| line.contains("examp1e.com")));
    }

    #[test]
    fn a_real_partners_invoice_and_a_lookalikes_chat_pass() {
        let mut host = MockHost::new();
        assert!(host.on_message::<LookalikeInvoices>(&eml("partner-invoice.eml")).symbols().is_empty());
        let chat =
            TestMessage::from_eml(b"From: x@examp1e.com\r\nTo: bob@example.com\r\nSubject: lunch?\r\n\r\nnoon\r\n");
        assert!(host.on_message::<LookalikeInvoices>(&chat).symbols().is_empty(), "no invoice wording");
    }

    #[test]
    fn configuration_is_checked_and_used() {
        let mut host = MockHost::new().config(r#"{"score": 3.5, "protected": ["moat.test"]}"#);
        assert_eq!(host.configure::<LookalikeInvoices>(r#"{"score": 3.5}"#), Ok(()));
        assert_eq!(
            host.configure::<LookalikeInvoices>(r#"{"score": "high"}"#),
            Err("\"score\" must be a number between 0 and 100".into())
        );
        assert!(host.configure::<LookalikeInvoices>(r#"{"protected": ["nodot"]}"#).unwrap_err().contains("nodot"));
        let message =
            TestMessage::from_eml(b"From: ap@rnoat.test\r\nTo: x@other.test\r\nSubject: Invoice 7\r\n\r\npay\r\n");
        let verdict = host.on_message::<LookalikeInvoices>(&message);
        assert_eq!(verdict.find_symbol("LOOKALIKE_INVOICE").unwrap().score, 3.5);
    }
}
