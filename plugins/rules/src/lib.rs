//! The rules layer: custom filters an admin writes without code, as the entry's configuration (TOML tables in
//! `chain.toml`, JSON to the plugin):
//!
//! ```toml
//! [[entry]]
//! plugin = "rules"
//!
//! [[entry.config.rule]]
//! name = "ZIPPED_INVOICE"
//! score = 4.0                                   # the symbol's score (default 1.0)
//! action = "score"                              # or "quarantine", "reject", "accept"
//! add_header = { name = "X-Rule", value = "zipped invoice" }   # optional
//! when = { all = [
//!   { field = "subject", contains = "invoice" },
//!   { field = "attachment-name", regex = '(?i)\.zip$' },
//!   { not = { field = "sender-domain", equals = "supplier.test" } },
//! ] }
//! ```
//!
//! A condition is `all = [...]`, `any = [...]`, `not = {...}`, or a test of one field: `equals`, `contains`
//! (both case-insensitive), `regex` (the linear-time `regex` crate), `greater`/`less` (numbers: `size`).
//! Fields: `subject`, `header:NAME`, `body`, `sender`, `sender-domain`, `recipient`, `client-ip`, `helo`,
//! `size`, `attachment-name`, `attachment-type` (declared or sniffed). A field with several values (headers,
//! recipients, attachments) matches when any value does. Every error names the rule and what is wrong.
//!
//! Before any rule, a message carrying GTUBE (the Generic Test for Unsolicited Bulk Email) is refused, as
//! SpamAssassin and Rspamd do; `gtube = "quarantine"` holds it instead, `gtube = "off"` ignores it.
//!
//! After the admin's rules, three or more of bulk mail's phrases add `BULK_PHRASES` (3.0; five or more 5.0, a
//! tag on their own) — removal instructions, compliance claims, "act now" (`phrases.rs`); `bulk_phrases = false`
//! turns them off.

mod config;
mod phrases;

use config::{Action, Condition, Gtube, Rules, Test};

/// The Generic Test for Unsolicited Bulk Email: a message carrying it is spam by definition, so admins can
/// check that filtering works end to end.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn carries_gtube(body: &[String]) -> bool {
    body.iter().any(|part| part.contains(GTUBE))
}

/// The `body` field: the text parts as read, then the HTML parts as sent. Each call copies the message's text
/// across the sandbox's boundary, so `on_message` takes it once for GTUBE and the phrases.
fn body(message: &Message) -> Vec<String> {
    let mut parts = message.text_parts();
    parts.extend(message.html_parts());
    parts
}
use moat_sdk::{Filter, Message, Verdict, host};

struct RulesFilter;

/// The values of a field in this message.
fn values(message: &Message, field: &str) -> Vec<String> {
    match field {
        "subject" => message.subject().into_iter().collect(),
        "body" => body(message),
        "sender" => vec![message.sender()],
        "sender-domain" => vec![message.sender().rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default()],
        "recipient" => message.recipients().into_iter().map(|r| r.address).collect(),
        "client-ip" => vec![message.connection().client_ip],
        "helo" => vec![message.connection().helo],
        "size" => vec![message.size().to_string()],
        "attachment-name" => message.attachments().into_iter().filter_map(|a| a.name).collect(),
        "attachment-type" => {
            message.attachments().into_iter().flat_map(|a| [a.declared_type, a.sniffed_type]).collect()
        }
        other => match other.strip_prefix("header:") {
            Some(name) => message.header(name),
            None => Vec::new(),
        },
    }
}

fn matches(condition: &Condition, message: &Message) -> bool {
    match condition {
        Condition::All(all) => all.iter().all(|c| matches(c, message)),
        Condition::Any(any) => any.iter().any(|c| matches(c, message)),
        Condition::Not(inner) => !matches(inner, message),
        Condition::Field { field, test } => values(message, field).iter().any(|v| test.holds(v)),
    }
}

impl Test {
    fn holds(&self, value: &str) -> bool {
        match self {
            Test::Equals(want) => value.eq_ignore_ascii_case(want) || value.to_lowercase() == *want,
            Test::Contains(want) => value.to_lowercase().contains(want.as_str()),
            Test::Regex(re) => re.is_match(value),
            Test::Greater(n) => value.trim().parse::<f64>().is_ok_and(|v| v > *n),
            Test::Less(n) => value.trim().parse::<f64>().is_ok_and(|v| v < *n),
        }
    }
}

impl Filter for RulesFilter {
    fn configure(config: &str) -> Result<(), String> {
        Rules::parse(config).map(|_| ())
    }

    fn on_message(message: &Message) -> Verdict {
        let rules = match Rules::parse(&host::config()) {
            Ok(rules) => rules,
            Err(e) => return Verdict::pass().symbol("RULES_CONFIG_ERROR", 0.0, &e),
        };
        let body = body(message);
        if rules.gtube != Gtube::Off && carries_gtube(&body) {
            let verdict = match rules.gtube {
                Gtube::Quarantine => Verdict::quarantine(),
                _ => Verdict::reject(554, "5.7.1", "Message refused: it carries the GTUBE test string"),
            };
            return verdict.symbol("GTUBE", 1000.0, "the GTUBE test string");
        }
        let mut verdict = Verdict::pass();
        for rule in rules.rules.iter().filter(|r| matches(&r.when, message)) {
            let reason = rule.description.clone().unwrap_or_else(|| format!("rule {} matched", rule.name));
            verdict = match rule.action {
                Action::Score => verdict,
                Action::Quarantine => Verdict::quarantine(),
                Action::Reject => Verdict::reject(550, "5.7.1", &format!("Message refused by policy ({})", rule.name)),
                Action::Accept => Verdict::accept(),
            }
            .symbol(&rule.name, rule.score, &reason);
            if let Some((name, value)) = &rule.add_header {
                verdict = verdict.header(name, value);
            }
            if rule.action != Action::Score {
                break;
            }
        }
        if rules.bulk_phrases {
            let found = phrases::found(&body, message.subject().as_deref());
            if let Some(score) = phrases::score(found.len()) {
                let reason = format!("{} of bulk mail's phrases: {}", found.len(), found.join(", "));
                verdict = verdict.symbol(phrases::SYMBOL, score, &reason);
            }
        }
        verdict
    }
}

moat_sdk::describe!(
    summary =
        "Rules: your own conditions on headers, body, sender, recipients, client, size and attachments, without code.",
    configuration = "rule: a list of {name, score, action, when, add_header}: action is \"score\" (default), \"quarantine\", \"reject\" or \"accept\"; when is {field, equals|contains|regex|greater|less} combined with all, any and not\ngtube: what the GTUBE test string does: \"reject\" (default), \"quarantine\" or \"off\"\nbulk_phrases: whether three or more of bulk mail's phrases (removal instructions, \"act now\", compliance claims) add BULK_PHRASES, 3.0, and five or more 5.0 (default true)",
);
moat_sdk::export_filter!(RulesFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::Action as VerdictAction;
    use moat_sdk::testing::{MockHost, TestMessage};

    const INVOICE: &[u8] = b"From: ap@vendor.test\r\nTo: bob@example.com\r\nSubject: Invoice 42\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
        --b\r\nContent-Type: application/zip; name=inv.zip\r\nContent-Disposition: attachment; filename=inv.zip\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n--b--\r\n";

    fn rules(json: &str) -> MockHost {
        MockHost::new().config(json)
    }

    #[test]
    fn combined_conditions_score_and_add_headers() {
        let config = r#"{"rule": [{"name": "ZIPPED_INVOICE", "score": 4.0,
            "add_header": {"name": "X-Rule", "value": "zipped invoice"},
            "when": {"all": [{"field": "subject", "contains": "INVOICE"},
                             {"field": "attachment-name", "regex": "(?i)\\.zip$"},
                             {"not": {"field": "sender-domain", "equals": "supplier.test"}}]}}]}"#;
        let mut host = rules(config);
        let message = TestMessage::from_eml(INVOICE).sender("ap@vendor.test");
        let verdict = host.on_message::<RulesFilter>(&message);
        assert_eq!(verdict.find_symbol("ZIPPED_INVOICE").unwrap().score, 4.0);
        assert_eq!(verdict.headers(), [("X-Rule".to_string(), "zipped invoice".to_string())]);
        let trusted = TestMessage::from_eml(INVOICE).sender("ap@supplier.test");
        assert!(host.on_message::<RulesFilter>(&trusted).symbols().is_empty(), "the not() excludes it");
    }

    #[test]
    fn final_actions_and_numbers() {
        let config = r#"{"rule": [{"name": "HUGE", "action": "reject", "when": {"field": "size", "greater": 100}}]}"#;
        let mut host = rules(config);
        let verdict = host.on_message::<RulesFilter>(&TestMessage::from_eml(INVOICE));
        assert!(matches!(verdict.action(), VerdictAction::Reject { code: 550, .. }), "{verdict:?}");
        let small = TestMessage::from_eml(b"Subject: hi\r\n\r\nx\r\n");
        assert_eq!(host.on_message::<RulesFilter>(&small).action(), &VerdictAction::Continue);
    }

    #[test]
    fn gtube_is_refused_or_held_by_policy() {
        let gtube = format!("Subject: test\r\n\r\nThis is the GTUBE, {GTUBE}\r\n");
        let message = TestMessage::from_eml(gtube.as_bytes());
        let verdict = rules("{}").on_message::<RulesFilter>(&message);
        assert!(matches!(verdict.action(), VerdictAction::Reject { code: 554, .. }), "{verdict:?}");
        assert!(verdict.find_symbol("GTUBE").is_some());
        let held = rules(r#"{"gtube": "quarantine"}"#).on_message::<RulesFilter>(&message);
        assert_eq!(held.action(), &VerdictAction::Quarantine);
        assert!(rules(r#"{"gtube": "off"}"#).on_message::<RulesFilter>(&message).symbols().is_empty());
        assert!(
            rules("{}")
                .on_message::<RulesFilter>(&TestMessage::from_eml(b"Subject: hi\r\n\r\nhello\r\n"))
                .symbols()
                .is_empty()
        );
    }

    #[test]
    fn errors_name_the_rule_and_the_field() {
        let mut host = MockHost::new();
        let err = |host: &mut MockHost, json: &str| host.configure::<RulesFilter>(json).unwrap_err();
        assert_eq!(
            err(&mut host, r#"{"rule": [{"name": "A", "when": {"field": "subjct", "contains": "x"}}]}"#),
            "rule 1 (A): unknown field \"subjct\" (subject, header:NAME, body, sender, sender-domain, recipient, \
             client-ip, helo, size, attachment-name, attachment-type)"
        );
        assert!(
            err(&mut host, r#"{"rule": [{"name": "B", "when": {"field": "body", "regex": "("}}]}"#)
                .starts_with("rule 1 (B): bad regex")
        );
        assert!(
            err(
                &mut host,
                r#"{"rule": [{"name": "C", "action": "bounce", "when": {"field": "body", "contains": "x"}}]}"#
            )
            .contains("rule 1 (C)")
        );
        assert!(
            err(&mut host, r#"{"rule": [{"when": {"field": "body", "contains": "x"}}]}"#).contains("rule 1: a name")
        );
        assert_eq!(host.configure::<RulesFilter>("{}"), Ok(()));
    }
}
