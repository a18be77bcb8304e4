//! The authentication layer: the host checks SPF, DKIM and DMARC (and writes `Authentication-Results`);
//! this plugin turns the results into scored symbols and honours the sender domain's DMARC policy — a
//! message that fails DMARC under `p=reject` is refused with 550 5.7.1, under `p=quarantine` held.
//!
//! Configuration (every key optional):
//! ```json
//! {"honour_dmarc": true, "scores": {"SPF_FAIL": 2.0}}
//! ```
//! `honour_dmarc = false` only scores a DMARC failure (`DMARC_FAIL_REJECT` / `DMARC_FAIL_QUARANTINE`).
//! `scores` overrides the defaults of [`SYMBOLS`].
//!
//! Besides the host's results, the layer reads forgery marks in the headers themselves ([`forgery`]): they need no
//! DNS, so they judge senders that publish nothing, and `moat scan`.

mod date;
mod forgery;

use moat_sdk::{AuthResult, Filter, Message, Verdict};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every symbol this layer gives, with its default score.
pub const SYMBOLS: &[(&str, f64, &str)] = &[
    ("SPF_PASS", -0.1, "the sending IP is allowed by the envelope sender's SPF record"),
    ("SPF_FAIL", 2.0, "the envelope sender's SPF record says this IP may not send its mail (-all)"),
    ("SPF_SOFTFAIL", 0.8, "the envelope sender's SPF record says this IP should not send its mail (~all)"),
    ("SPF_NEUTRAL", 0.2, "the envelope sender's SPF record states no opinion on this IP"),
    ("SPF_PERMERROR", 0.5, "the envelope sender's SPF record is broken"),
    ("DKIM_PASS", -0.1, "a valid DKIM signature covers the message"),
    ("DKIM_FAIL", 1.0, "the message carries a DKIM signature that does not verify"),
    ("DKIM_PERMERROR", 0.5, "the message carries an unusable DKIM signature"),
    ("DMARC_PASS", -0.2, "the From domain is aligned with a passing SPF or DKIM identity"),
    ("DMARC_FAIL", 1.5, "the From domain fails DMARC; its policy asks for nothing"),
    ("DMARC_FAIL_QUARANTINE", 5.0, "the From domain fails DMARC and its policy says quarantine"),
    ("DMARC_FAIL_REJECT", 8.0, "the From domain fails DMARC and its policy says reject"),
    ("FORGED_OUTLOOK_MSGID", 5.0, "the Message-ID imitates Outlook's but carries no time, as spam software writes it"),
    ("MSGID_MALFORMED", 3.0, "the Message-ID is not written as mail programs write it (no domain, no @, spaces)"),
    ("DATE_IN_FUTURE", 3.0, "the Date is hours after the message arrived"),
    ("DATE_MALFORMED", 3.0, "the Date is not written as mailers write it (no time zone, a zone that is none)"),
    ("FORGED_FREEMAIL", 3.0, "the From address is at a free mail service whose servers never handled the message"),
    ("FORGED_MUA_OUTLOOK", 3.0, "the X-Mailer names Outlook, but the message lacks what Outlook writes"),
    ("MAILER_RANDOM", 2.5, "the X-Mailer is a random string, not a mail program"),
    (
        "FREEMAIL_NUMBERED",
        2.0,
        "the From address is a free mail account named with a long number, as bulk-registered ones are",
    ),
    (
        "TO_UNDISCLOSED_MAILBOX",
        2.0,
        "the To header gives \"Undisclosed.Recipients\" as a mailbox, where mail programs write an empty group",
    ),
];

/// How far ahead of its arrival a Date may lie before it counts: a mistaken time zone or a slow clock gives
/// an hour or two.
const DATE_SLACK_SECS: i64 = 3 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "yes")]
    honour_dmarc: bool,
    #[serde(default)]
    scores: BTreeMap<String, f64>,
}

fn yes() -> bool {
    true
}

struct Config {
    honour_dmarc: bool,
    scores: BTreeMap<String, f64>,
}

impl Config {
    fn parse(json: &str) -> Result<Self, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| format!("authentication config: {e}"))?;
        for (name, score) in &raw.scores {
            if !SYMBOLS.iter().any(|(known, ..)| known == name) {
                let known: Vec<&str> = SYMBOLS.iter().map(|(n, ..)| *n).collect();
                return Err(format!(
                    "authentication config: unknown symbol {name} in scores (known: {})",
                    known.join(", ")
                ));
            }
            if !score.is_finite() {
                return Err(format!("authentication config: the score of {name} must be a number"));
            }
        }
        Ok(Self { honour_dmarc: raw.honour_dmarc, scores: raw.scores })
    }

    fn symbol(&self, verdict: Verdict, name: &str, detail: &str) -> Verdict {
        let (_, default, reason) = SYMBOLS.iter().find(|(n, ..)| *n == name).expect("a known symbol");
        let score = self.scores.get(name).copied().unwrap_or(*default);
        let reason = if detail.is_empty() { reason.to_string() } else { format!("{reason} ({detail})") };
        verdict.symbol(name, score, &reason)
    }
}

/// The address of a From value: inside its angle brackets, or the whole value.
fn from_address(from: &str) -> String {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from.trim(),
    };
    address.trim().to_owned()
}

/// The domain of an address, for the admin's log and the reply text.
fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map_or("", |(_, d)| d).trim().to_ascii_lowercase()
}

struct AuthenticationLayer;

impl Filter for AuthenticationLayer {
    fn configure(config: &str) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn on_message(message: &Message) -> Verdict {
        let config = match Config::parse(&moat_sdk::host::config()) {
            Ok(config) => config,
            Err(e) => return Verdict::pass().symbol("AUTHENTICATION_CONFIG", 0.0, &e),
        };
        let auth = message.authentication();
        let sender = message.sender();
        let mut verdict = Verdict::pass();
        let spf = match auth.spf {
            AuthResult::Pass => Some("SPF_PASS"),
            AuthResult::Fail => Some("SPF_FAIL"),
            AuthResult::Softfail => Some("SPF_SOFTFAIL"),
            AuthResult::Neutral => Some("SPF_NEUTRAL"),
            AuthResult::Permerror => Some("SPF_PERMERROR"),
            // `none` is also what a message checked without SMTP (moat scan) carries: no opinion either way.
            _ => None,
        };
        if let Some(name) = spf {
            verdict = config.symbol(verdict, name, &sender);
        }
        let dkim = match auth.dkim {
            AuthResult::Pass => Some("DKIM_PASS"),
            AuthResult::Fail => Some("DKIM_FAIL"),
            AuthResult::Permerror | AuthResult::Neutral => Some("DKIM_PERMERROR"),
            _ => None,
        };
        if let Some(name) = dkim {
            verdict = config.symbol(verdict, name, "");
        }
        let from = from_address(&message.header("From").into_iter().next().unwrap_or_default());
        let domain = domain_of(&from);
        let policy = auth.dmarc_policy.as_deref().unwrap_or("none");
        match auth.dmarc {
            AuthResult::Pass => verdict = config.symbol(verdict, "DMARC_PASS", &domain),
            AuthResult::Fail => {
                let detail = format!("{domain}, p={policy}");
                verdict = match policy {
                    "reject" => config.symbol(verdict, "DMARC_FAIL_REJECT", &detail),
                    "quarantine" => config.symbol(verdict, "DMARC_FAIL_QUARANTINE", &detail),
                    _ => config.symbol(verdict, "DMARC_FAIL", &detail),
                };
                if config.honour_dmarc {
                    let symbols = verdict.symbols().to_vec();
                    let decided = match policy {
                        "reject" => Some(Verdict::reject(
                            550,
                            "5.7.1",
                            &format!("Rejected by the DMARC policy of {domain}: the sender is not authenticated"),
                        )),
                        "quarantine" => Some(Verdict::quarantine()),
                        _ => None,
                    };
                    if let Some(decided) = decided {
                        verdict = symbols.iter().fold(decided, |v, s| v.symbol(&s.name, s.score, &s.reason));
                    }
                }
            }
            _ => {}
        }
        forgery_marks(&config, verdict, message, &from, auth.dmarc)
    }
}

/// A header value as a reason quotes it: the sender wrote it, so only its start.
fn shown(value: &str) -> String {
    value.trim().chars().take(80).collect()
}

/// The forgery marks of the headers ([`forgery`]), each scored once.
fn forgery_marks(config: &Config, mut verdict: Verdict, message: &Message, from: &str, dmarc: AuthResult) -> Verdict {
    let first = |name: &str| message.header(name).into_iter().next();
    if let Some(id) = first("Message-ID") {
        if forgery::forged_outlook_message_id(&id) {
            verdict = config.symbol(verdict, "FORGED_OUTLOOK_MSGID", &shown(&id));
        } else if forgery::malformed_message_id(&id) {
            verdict = config.symbol(verdict, "MSGID_MALFORMED", &shown(&id));
        }
    }
    let received = message.header("Received");
    if let Some(written) = first("Date") {
        let now = i64::try_from(moat_sdk::host::now_ms() / 1000).unwrap_or(i64::MAX);
        let parsed = date::parse(&written);
        if !parsed.is_some_and(|d| d.well_formed) {
            verdict = config.symbol(verdict, "DATE_MALFORMED", &shown(&written));
        }
        if let Some(ahead) = parsed.and_then(|d| forgery::date_ahead(d.unix, &received, now, DATE_SLACK_SECS)) {
            verdict = config.symbol(verdict, "DATE_IN_FUTURE", &format!("{:.1} hours", ahead as f64 / 3600.0));
        }
    }
    // A From domain that passed DMARC sent the message, whatever its trail says.
    let client_name = message.connection().ptr;
    let from_domain = domain_of(from);
    if dmarc != AuthResult::Pass && forgery::freemail_not_relayed(&from_domain, &received, client_name.as_deref()) {
        verdict = config.symbol(verdict, "FORGED_FREEMAIL", &from_domain);
    }
    mailer_marks(config, verdict, message, from)
}

/// The marks of bulk software imitating or hiding a mail program ([`forgery`]): its name, the sender's account,
/// the recipients it hides.
fn mailer_marks(config: &Config, mut verdict: Verdict, message: &Message, from: &str) -> Verdict {
    let first = |name: &str| message.header(name).into_iter().next();
    if let Some(mailer) = first("X-Mailer") {
        let top_type = first("Content-Type").unwrap_or_default();
        if let Some(missing) = forgery::forged_outlook_mailer(&mailer, first("X-MimeOLE").is_some(), &top_type) {
            verdict = config.symbol(verdict, "FORGED_MUA_OUTLOOK", &format!("{}: {missing}", shown(&mailer)));
        }
        if forgery::random_mailer(&mailer) {
            verdict = config.symbol(verdict, "MAILER_RANDOM", &shown(&mailer));
        }
    }
    if forgery::numbered_freemail(from) {
        verdict = config.symbol(verdict, "FREEMAIL_NUMBERED", &shown(from));
    }
    if message.header("To").iter().any(|to| forgery::undisclosed_mailbox(to)) {
        verdict = config.symbol(verdict, "TO_UNDISCLOSED_MAILBOX", "");
    }
    verdict
}

moat_sdk::describe!(
    summary = "Authentication: scores the SPF, DKIM and DMARC results, honours the sender domain's DMARC policy, and finds forged headers.",
    configuration = "honour_dmarc: false only scores a DMARC failure, true (default) also rejects or quarantines as the policy says\nscores: {SYMBOL: score} to change a symbol's score (SPF_FAIL, DKIM_FAIL, DMARC_FAIL, …)",
);
moat_sdk::export_filter!(AuthenticationLayer);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::testing::{MockHost, TestMessage};
    use moat_sdk::{Action, Authentication};

    fn message(spf: AuthResult, dkim: AuthResult, dmarc: AuthResult, policy: Option<&str>) -> TestMessage {
        TestMessage::from_eml(b"From: Bank <alerts@bank.test>\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhi\r\n")
            .sender("alerts@bank.test")
            .recipient("bob@example.com", "default")
            .authentication(Authentication { spf, dkim, dmarc, dmarc_policy: policy.map(str::to_owned) })
    }

    #[test]
    fn dmarc_reject_policy_refuses_and_quarantine_holds() {
        let mut host = MockHost::new();
        let v = host.on_message::<AuthenticationLayer>(&message(
            AuthResult::Fail,
            AuthResult::None,
            AuthResult::Fail,
            Some("reject"),
        ));
        assert!(matches!(v.action(), Action::Reject { code: 550, .. }), "{v:?}");
        assert!(v.find_symbol("DMARC_FAIL_REJECT").unwrap().reason.contains("bank.test, p=reject"));
        assert!(v.find_symbol("SPF_FAIL").is_some());
        let v = host.on_message::<AuthenticationLayer>(&message(
            AuthResult::Softfail,
            AuthResult::Fail,
            AuthResult::Fail,
            Some("quarantine"),
        ));
        assert_eq!(v.action(), &Action::Quarantine);
    }

    #[test]
    fn without_honouring_a_dmarc_failure_is_only_scored() {
        let mut host = MockHost::new().config(r#"{"honour_dmarc": false, "scores": {"DMARC_FAIL_REJECT": 4.5}}"#);
        let v = host.on_message::<AuthenticationLayer>(&message(
            AuthResult::None,
            AuthResult::None,
            AuthResult::Fail,
            Some("reject"),
        ));
        assert_eq!(v.action(), &Action::Continue);
        assert_eq!(v.find_symbol("DMARC_FAIL_REJECT").unwrap().score, 4.5);
    }

    #[test]
    fn passing_mail_scores_slightly_below_zero() {
        let mut host = MockHost::new();
        let v = host.on_message::<AuthenticationLayer>(&message(
            AuthResult::Pass,
            AuthResult::Pass,
            AuthResult::Pass,
            Some("reject"),
        ));
        assert_eq!(v.action(), &Action::Continue);
        assert!(v.score() < 0.0 && v.score() > -1.0, "{v:?}");
    }

    #[test]
    fn unknown_symbols_and_keys_are_refused() {
        let mut host = MockHost::new();
        let e = host.configure::<AuthenticationLayer>(r#"{"scores": {"SPF_FIAL": 1}}"#).unwrap_err();
        assert!(e.contains("unknown symbol SPF_FIAL"), "{e}");
        assert!(host.configure::<AuthenticationLayer>(r#"{"honor_dmarc": true}"#).unwrap_err().contains("honor_dmarc"));
    }
}
