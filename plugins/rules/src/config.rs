//! The rule format, checked in full at `configure` so an admin's mistake is refused when the chain is saved,
//! naming the rule and the field.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

const FIELDS: &str = "subject, header:NAME, body, sender, sender-domain, recipient, client-ip, helo, size, \
                      attachment-name, attachment-type";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Score,
    Quarantine,
    Reject,
    Accept,
}

pub enum Test {
    Equals(String),
    Contains(String),
    Regex(Regex),
    Greater(f64),
    Less(f64),
}

pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Field { field: String, test: Test },
}

pub struct Rule {
    pub name: String,
    pub description: Option<String>,
    pub score: f64,
    pub action: Action,
    pub add_header: Option<(String, String)>,
    pub when: Condition,
}

pub struct Rules {
    pub rules: Vec<Rule>,
    /// What a message carrying GTUBE, the standard test string of spam filters, gets.
    pub gtube: Gtube,
    /// Whether bulk mail's phrases are scored (`phrases.rs`); on unless an admin turns them off.
    pub bulk_phrases: bool,
}

/// The answer to GTUBE: refused (the default, as SpamAssassin and Rspamd do), held, or not looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gtube {
    #[default]
    Reject,
    Quarantine,
    Off,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    gtube: Gtube,
    #[serde(default = "yes")]
    bulk_phrases: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    description: Option<String>,
    #[serde(default = "one")]
    score: f64,
    action: Option<String>,
    add_header: Option<RawHeader>,
    when: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    value: String,
}

fn one() -> f64 {
    1.0
}

fn field_ok(field: &str) -> bool {
    matches!(
        field,
        "subject"
            | "body"
            | "sender"
            | "sender-domain"
            | "recipient"
            | "client-ip"
            | "helo"
            | "size"
            | "attachment-name"
            | "attachment-type"
    ) || field.strip_prefix("header:").is_some_and(|n| !n.is_empty())
}

fn condition(value: &Value) -> Result<Condition, String> {
    let Value::Object(map) = value else { return Err(format!("a condition must be a table, got {value}")) };
    let list = |v: &Value| -> Result<Vec<Condition>, String> {
        v.as_array().ok_or("all/any take a list of conditions")?.iter().map(condition).collect()
    };
    if let Some(all) = map.get("all") {
        return Ok(Condition::All(list(all)?));
    }
    if let Some(any) = map.get("any") {
        return Ok(Condition::Any(list(any)?));
    }
    if let Some(not) = map.get("not") {
        return Ok(Condition::Not(Box::new(condition(not)?)));
    }
    let field = map.get("field").and_then(Value::as_str).ok_or("a condition needs all, any, not or field")?;
    if !field_ok(field) {
        return Err(format!("unknown field {field:?} ({FIELDS})"));
    }
    let text = |k: &str| map.get(k).map(|v| v.as_str().map(str::to_owned).ok_or(format!("{k} takes a string")));
    let number = |k: &str| map.get(k).map(|v| v.as_f64().ok_or(format!("{k} takes a number")));
    let test = if let Some(v) = text("equals") {
        Test::Equals(v?.to_lowercase())
    } else if let Some(v) = text("contains") {
        Test::Contains(v?.to_lowercase())
    } else if let Some(v) = text("regex") {
        let pattern = v?;
        let re = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("bad regex {pattern:?}: {e}"))?;
        Test::Regex(re)
    } else if let Some(v) = number("greater") {
        Test::Greater(v?)
    } else if let Some(v) = number("less") {
        Test::Less(v?)
    } else {
        return Err(format!("field {field:?} needs equals, contains, regex, greater or less"));
    };
    if let Some(extra) =
        map.keys().find(|k| !["field", "equals", "contains", "regex", "greater", "less"].contains(&k.as_str()))
    {
        return Err(format!("unknown key {extra:?} in a condition"));
    }
    Ok(Condition::Field { field: field.to_owned(), test })
}

impl Rules {
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| format!("rules: {e}"))?;
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (i, r) in raw.rule.into_iter().enumerate() {
            let n = i + 1;
            let name = r.name.filter(|n| !n.is_empty()).ok_or(format!("rule {n}: a name is required"))?;
            let at = |e: String| format!("rule {n} ({name}): {e}");
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(at("names hold only letters, digits and _".into()));
            }
            if !r.score.is_finite() || r.score.abs() > 100.0 {
                return Err(at("score must be between -100 and 100".into()));
            }
            let action = match r.action.as_deref().unwrap_or("score") {
                "score" => Action::Score,
                "quarantine" => Action::Quarantine,
                "reject" => Action::Reject,
                "accept" => Action::Accept,
                other => return Err(at(format!("unknown action {other:?} (score, quarantine, reject, accept)"))),
            };
            let when = condition(&r.when).map_err(at)?;
            rules.push(Rule {
                description: r.description,
                score: r.score,
                action,
                add_header: r.add_header.map(|h| (h.name, h.value)),
                when,
                name,
            });
        }
        Ok(Self { rules, gtube: raw.gtube, bulk_phrases: raw.bulk_phrases })
    }
}
