//! A tenant's chain: ordered entries, each a plugin with its configuration, shadow flag and failure policy.
//! Scores add up and the tenant's thresholds decide, unless an entry returns a final action first.

use crate::host::Capabilities;
use crate::message::ParsedMessage;
use crate::plugin::{Action, Failure, Plugin, Symbol, Verdict};
use std::sync::Arc;
use std::time::Duration;

/// What happens when a plugin fails (trap, timeout, out of memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailPolicy {
    /// Carry on without this entry's opinion: mail keeps flowing.
    #[default]
    Open,
    /// Tempfail the message (`451`): the sender retries, nothing unchecked gets through.
    Closed,
}

pub struct ChainEntry {
    pub plugin: Arc<Plugin>,
    /// JSON configuration, as accepted by the plugin's `configure`.
    pub config: String,
    /// Runs and is logged, but its verdict is never acted on: for trying a filter on live traffic.
    pub shadow: bool,
    pub fail: FailPolicy,
    pub capabilities: Capabilities,
}

/// Score thresholds of a tenant (or domain). Each applies when the summed score reaches it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub tag: f64,
    pub quarantine: f64,
    pub reject: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { tag: 5.0, quarantine: 10.0, reject: 15.0 }
    }
}

/// What the gateway does with the message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Deliver,
    /// Deliver with the spam mark (headers, subject tag).
    Tag,
    Quarantine,
    Reject {
        code: u16,
        enhanced: String,
        text: String,
    },
    Tempfail {
        code: u16,
        enhanced: String,
        text: String,
    },
    Discard,
}

/// One entry's part in a verdict, for the email log.
#[derive(Debug, Clone)]
pub struct EntryReport {
    pub plugin: String,
    pub shadow: bool,
    pub symbols: Vec<Symbol>,
    pub action: Option<Action>,
    pub failure: Option<Failure>,
    pub fuel_used: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct ChainReport {
    pub outcome: Outcome,
    /// Sum of the scores of the entries that were acted on.
    pub score: f64,
    pub entries: Vec<EntryReport>,
    pub add_headers: Vec<(String, String)>,
}

pub struct Chain {
    pub entries: Vec<ChainEntry>,
    pub thresholds: Thresholds,
}

impl Chain {
    pub fn on_message(&self, message: &Arc<ParsedMessage>) -> ChainReport {
        let mut report =
            ChainReport { outcome: Outcome::Deliver, score: 0.0, entries: Vec::new(), add_headers: Vec::new() };
        let mut decided = None;
        for entry in &self.entries {
            let run = entry.plugin.on_message(message, &entry.config, &entry.capabilities);
            let mut line = EntryReport {
                plugin: entry.plugin.name().to_owned(),
                shadow: entry.shadow,
                symbols: Vec::new(),
                action: None,
                failure: None,
                fuel_used: run.fuel_used,
                elapsed: run.elapsed,
            };
            match run.result {
                Err(failure) => {
                    line.symbols.push(Symbol {
                        name: failure.symbol().into(),
                        score: 0.0,
                        reason: format!("{failure:?}"),
                    });
                    line.failure = Some(failure);
                    if entry.fail == FailPolicy::Closed && !entry.shadow {
                        decided = Some(Outcome::Tempfail {
                            code: 451,
                            enhanced: "4.3.0".into(),
                            text: "Message could not be checked, try again later".into(),
                        });
                    }
                }
                Ok(Verdict { action, symbols, add_headers }) => {
                    if !entry.shadow {
                        report.score += symbols.iter().map(|s| s.score).sum::<f64>();
                        report.add_headers.extend(add_headers);
                        decided = final_outcome(&action);
                    }
                    line.symbols = symbols;
                    line.action = Some(action);
                }
            }
            report.entries.push(line);
            if decided.is_some() {
                break;
            }
        }
        let t = self.thresholds;
        report.outcome = decided.unwrap_or(match report.score {
            s if s >= t.reject => Outcome::Reject {
                code: 550,
                enhanced: "5.7.1".into(),
                text: format!("Message rejected as spam (score {s:.1})"),
            },
            s if s >= t.quarantine => Outcome::Quarantine,
            s if s >= t.tag => Outcome::Tag,
            _ => Outcome::Deliver,
        });
        report
    }
}

/// A plugin's final action ends the chain; `Continue` leaves the decision to the scores.
fn final_outcome(action: &Action) -> Option<Outcome> {
    match action {
        Action::Continue => None,
        Action::Accept => Some(Outcome::Deliver),
        Action::Reject { code, enhanced, text } => {
            Some(Outcome::Reject { code: *code, enhanced: enhanced.clone(), text: text.clone() })
        }
        Action::Tempfail { code, enhanced, text } => {
            Some(Outcome::Tempfail { code: *code, enhanced: enhanced.clone(), text: text.clone() })
        }
        Action::Quarantine => Some(Outcome::Quarantine),
        Action::Discard => Some(Outcome::Discard),
    }
}
