//! A tenant's chain: ordered entries, each a plugin with its configuration, shadow flag and failure policy.
//! Scores add up over the stages of a transaction and the tenant's thresholds decide, unless an entry returns
//! a final action first.

use crate::breaker::TenantBreakers;
use crate::plugin::{Action, CallSetup, Failure, Label, Plugin, Stage, Symbol, Verdict};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What happens when a plugin fails (trap, timeout, out of memory, tripped breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailPolicy {
    /// Carry on without this entry's opinion: mail keeps flowing.
    #[default]
    Open,
    /// Tempfail the message (`451`): the sender retries, nothing unchecked gets through.
    Closed,
}

pub struct ChainEntry {
    pub plugin: Arc<Plugin>,
    pub call: CallSetup,
    /// Runs and is logged, but its verdict is never acted on: for trying a filter on live traffic.
    pub shadow: bool,
    pub fail: FailPolicy,
    /// Still runs after an earlier entry accepted the message (antivirus: an allow-listed sender's
    /// attachment is still scanned).
    pub always: bool,
    /// What the entry learns from besides admins' classifications ([`Chain::lessons`]).
    pub teaching: Teaching,
    /// One per tenant and stage: a plugin that fails every message while its no-op connect hook succeeds
    /// must still trip, and one tenant's failures never trip it for another.
    pub breakers: TenantBreakers,
}

impl ChainEntry {
    pub fn new(plugin: Arc<Plugin>, call: CallSetup) -> Self {
        Self {
            plugin,
            call,
            shadow: false,
            fail: FailPolicy::Open,
            always: false,
            teaching: Teaching::Nothing,
            breakers: Default::default(),
        }
    }
}

/// What an entry learns from the chain's verdicts, after the reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teaching {
    /// Only from admins' classifications.
    Nothing,
    /// Every verdict: spam when the message is tagged, quarantined or rejected, ham when it is delivered clean
    /// (an IP's local reputation).
    EveryVerdict,
    /// Only the mail the chain is sure of without this entry ([`Autolearn`]): a classifier taught by its own
    /// verdicts would only learn what it already believes.
    Confident,
}

/// When entries that learn from confident verdicts ([`Teaching::Confident`]) are taught, as SpamAssassin's
/// autolearning does: spam when the rest of the chain scores a message at least `spam` without them (the other
/// layers would tag it on their own), ham when the whole chain scores it at most `ham` (the classifier sure and
/// nothing else against it). Mail in between, and mail a final action decided (an allow-list, the antivirus),
/// teaches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autolearn {
    pub spam: f64,
    pub ham: f64,
}

impl Default for Autolearn {
    fn default() -> Self {
        Self { spam: 5.0, ham: -3.0 }
    }
}

/// One entry's lesson from a verdict ([`Chain::lessons`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lesson {
    /// The entry's place in the chain.
    pub entry: usize,
    pub label: Label,
    /// From a confident verdict: optional work, which a busy gateway may skip.
    pub confident: bool,
}

/// Score thresholds of a tenant (or domain). Each applies when the summed score reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// What the gateway does with the message (or, before DATA, with the recipient).
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

impl Outcome {
    /// The word the email log shows.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Deliver => "clean",
            Outcome::Tag => "tagged",
            Outcome::Quarantine => "quarantined",
            Outcome::Reject { .. } => "rejected",
            Outcome::Tempfail { .. } => "tempfailed",
            Outcome::Discard => "discarded",
        }
    }
}

/// One entry's part in a verdict, for the email log.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReport {
    pub plugin: String,
    pub stage: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    pub symbols: Vec<Symbol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub fuel: u64,
    pub micros: u64,
    /// This failure opened the entry's circuit breaker: the admin must hear about it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tripped: bool,
}

/// A chain's running judgement over one transaction for one tenant: envelope stages first, then the message.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Whose mail this is: circuit breakers count failures per tenant.
    pub tenant: Arc<str>,
    /// Sum of the scores of the entries that were acted on.
    pub score: f64,
    pub entries: Vec<EntryReport>,
    pub add_headers: Vec<(String, String)>,
    /// A final action already taken (reject, tempfail, quarantine, discard).
    pub decided: Option<Outcome>,
    /// An entry accepted: only `always` entries still run, and scores no longer count.
    pub accepted: bool,
}

impl Evaluation {
    /// A judgement of `tenant`'s mail.
    pub fn for_tenant(tenant: &str) -> Self {
        Self { tenant: tenant.into(), ..Self::default() }
    }

    /// The outcome once every stage has run: a final action, else the thresholds.
    pub fn outcome(&self, t: &Thresholds) -> Outcome {
        if let Some(decided) = &self.decided {
            return decided.clone();
        }
        if self.accepted {
            return Outcome::Deliver;
        }
        match self.score {
            s if s >= t.reject => Outcome::Reject {
                code: 550,
                enhanced: "5.7.1".into(),
                text: format!("Message rejected as spam (score {s:.1})"),
            },
            s if s >= t.quarantine => Outcome::Quarantine,
            s if s >= t.tag => Outcome::Tag,
            _ => Outcome::Deliver,
        }
    }

    /// A refusal decided before DATA: the recipient gets this reply instead of `250`.
    pub fn refusal(&self) -> Option<&Outcome> {
        self.decided.as_ref().filter(|o| matches!(o, Outcome::Reject { .. } | Outcome::Tempfail { .. }))
    }

    /// Every symbol acted on, for the `X-Moat-Spam-Status` header and the log's summary.
    pub fn symbol_names(&self) -> Vec<&str> {
        self.entries.iter().filter(|e| !e.shadow).flat_map(|e| e.symbols.iter().map(|s| s.name.as_str())).collect()
    }
}

pub struct Chain {
    pub entries: Vec<ChainEntry>,
    pub thresholds: Thresholds,
    /// Prefixed to the subject of tagged messages; empty leaves subjects alone.
    pub subject_tag: String,
    pub autolearn: Autolearn,
}

fn closed_tempfail() -> Outcome {
    Outcome::Tempfail {
        code: 451,
        enhanced: "4.3.0".into(),
        text: "Message could not be checked, try again later".into(),
    }
}

impl Chain {
    /// A chain that lets everything through: what a tenant without a chain has.
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
            thresholds: Thresholds::default(),
            subject_tag: String::new(),
            autolearn: Autolearn::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Runs `stage` through the entries still in play and folds the verdicts into `eval`.
    pub fn run(&self, stage: Stage<'_>, eval: &mut Evaluation) {
        let (stage_index, stage_name) = match stage {
            Stage::Connect(..) => (0, "connect"),
            Stage::MailFrom(..) => (1, "mail-from"),
            Stage::Rcpt(..) => (2, "rcpt"),
            Stage::Message(..) => (3, "message"),
        };
        for entry in &self.entries {
            if eval.decided.is_some() {
                break;
            }
            if eval.accepted && !entry.always || !entry.plugin.implements(stage_index) {
                continue;
            }
            let breakers = entry.breakers.of(&eval.tenant);
            let mut line = EntryReport {
                plugin: entry.plugin.name().to_owned(),
                stage: stage_name,
                shadow: entry.shadow,
                symbols: Vec::new(),
                action: None,
                failure: None,
                fuel: 0,
                micros: 0,
                tripped: false,
            };
            let breaker = &breakers[stage_index];
            let result = if breaker.allows() {
                let run = entry.plugin.run(&stage, &entry.call);
                line.fuel = run.fuel_used;
                line.micros = u64::try_from(run.elapsed.as_micros()).unwrap_or(u64::MAX);
                match &run.result {
                    Ok(_) => breaker.succeeded(),
                    Err(_) => line.tripped = breaker.failed(),
                }
                if line.tripped {
                    tracing::error!(
                        plugin = entry.plugin.name(),
                        stage = stage_name,
                        "plugin keeps failing: circuit breaker opened"
                    );
                }
                run.result
            } else {
                Err(Failure::Tripped)
            };
            match result {
                Err(failure) => {
                    line.symbols.push(Symbol {
                        name: failure.symbol().into(),
                        score: 0.0,
                        reason: failure.to_string(),
                    });
                    line.failure = Some(failure.to_string());
                    if entry.fail == FailPolicy::Closed && !entry.shadow {
                        eval.decided = Some(closed_tempfail());
                    }
                }
                Ok(Verdict { hook_unused: true, .. }) => {
                    // The SDK's default hook: nothing to report, and never called again for this stage.
                    entry.plugin.hook_unused(stage_index);
                    continue;
                }
                Ok(Verdict { action, symbols, add_headers, hook_unused: false }) => {
                    if !entry.shadow {
                        if !eval.accepted {
                            eval.score += symbols.iter().map(|s| s.score).sum::<f64>();
                        }
                        eval.add_headers.extend(add_headers);
                        apply(&action, stage_name, eval);
                    }
                    line.symbols = symbols;
                    line.action = (action != Action::Continue).then(|| action.to_string());
                }
            }
            eval.entries.push(line);
        }
    }

    /// Whether any entry learns from verdicts, so the caller can skip [`Chain::lessons`] cheaply.
    pub fn learns_from_verdicts(&self) -> bool {
        self.entries.iter().any(|e| e.teaching != Teaching::Nothing && !e.shadow)
    }

    /// What this verdict teaches the entries that learn from verdicts ([`Teaching`]). Tempfailed or discarded
    /// mail teaches nothing.
    pub fn lessons(&self, eval: &Evaluation, outcome: &Outcome) -> Vec<Lesson> {
        let every = match outcome {
            Outcome::Tag | Outcome::Quarantine | Outcome::Reject { .. } => Label::Spam,
            Outcome::Deliver => Label::Ham,
            Outcome::Tempfail { .. } | Outcome::Discard => return Vec::new(),
        };
        let decided_by_scores = eval.decided.is_none() && !eval.accepted;
        let mut lessons = Vec::new();
        for (entry, e) in self.entries.iter().enumerate().filter(|(_, e)| !e.shadow) {
            let label = match e.teaching {
                Teaching::Nothing => None,
                Teaching::EveryVerdict => Some(every),
                Teaching::Confident if decided_by_scores => {
                    let own: f64 = eval
                        .entries
                        .iter()
                        .filter(|line| !line.shadow && line.plugin == e.plugin.name())
                        .flat_map(|line| line.symbols.iter().map(|s| s.score))
                        .sum();
                    if eval.score - own >= self.autolearn.spam {
                        Some(Label::Spam)
                    } else if eval.score <= self.autolearn.ham {
                        Some(Label::Ham)
                    } else {
                        None
                    }
                }
                Teaching::Confident => None,
            };
            lessons.extend(label.map(|label| Lesson { entry, label, confident: e.teaching == Teaching::Confident }));
        }
        lessons
    }

    /// Teaches `lessons` (from [`Chain::lessons`]); a failure is logged, as the mail has gone on its way.
    pub fn teach<'a>(&self, message: &Arc<crate::ParsedMessage>, lessons: impl IntoIterator<Item = &'a Lesson>) {
        for lesson in lessons {
            let entry = &self.entries[lesson.entry];
            if let Err(failure) = entry.plugin.learn(message, lesson.label, &entry.call).result {
                tracing::warn!(plugin = entry.plugin.name(), "learning from a verdict failed: {failure}");
            }
        }
    }

    /// Teaches every acting (not shadow) entry an admin's classification of a message. Returns the plugins
    /// whose learning failed, with why; the others learned it.
    pub fn learn(&self, message: &Arc<crate::ParsedMessage>, label: Label) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter(|e| !e.shadow)
            .filter_map(|e| {
                let failure = e.plugin.learn(message, label, &e.call).result.err()?;
                Some((e.plugin.name().to_owned(), failure.to_string()))
            })
            .collect()
    }

    /// The outcome of a whole message in one call: every envelope stage was a no-op.
    pub fn on_message(&self, message: &Arc<crate::ParsedMessage>) -> (Outcome, Evaluation) {
        let mut eval = Evaluation::default();
        self.run(Stage::Message(message), &mut eval);
        (eval.outcome(&self.thresholds), eval)
    }
}

/// A plugin's final action ends the chain; `Accept` lets only `always` entries run on; `Continue` leaves the
/// decision to the scores. Quarantine and discard before DATA are carried to the message.
fn apply(action: &Action, stage: &str, eval: &mut Evaluation) {
    let outcome = match action {
        Action::Continue => return,
        Action::Accept => {
            eval.accepted = true;
            return;
        }
        Action::Reject { code, enhanced, text } => {
            Outcome::Reject { code: *code, enhanced: enhanced.clone(), text: text.clone() }
        }
        Action::Tempfail { code, enhanced, text } => {
            Outcome::Tempfail { code: *code, enhanced: enhanced.clone(), text: text.clone() }
        }
        Action::Quarantine => Outcome::Quarantine,
        Action::Discard => Outcome::Discard,
    };
    tracing::debug!(stage, outcome = outcome.as_str(), "final action");
    eval.decided = Some(outcome);
}
