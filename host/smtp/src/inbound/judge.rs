//! Running the recipients' chains from the session. Before DATA a tenant's chain sees connect and MAIL FROM
//! once (at that tenant's first recipient: only then is the tenant known) and RCPT per recipient; its
//! refusals become the recipient's reply. After DATA each group of recipients (one tenant, one chain) gets
//! its own verdict, and the message its one reply: `451` if any group must be retried (nothing is kept), the
//! refusal if every group refused, else `250` with each group delivered, tagged, held or dropped.
//! Plugins run on blocking threads: a slow filter never stalls the sessions sharing a runtime worker.

use super::Session;
use crate::SmtpContext;
use crate::inbound::authentication::{AUTHENTICATION_RESULTS, Envelope};
use crate::inbound::tagging::STATUS_HEADER;
use crate::queue::{Fate, Judged, LogVerdict, Summary};
use crate::reply::Reply;
use moat_directory::Recipient;
use moat_filter::{
    Chain, ConnectionFacts, Content, Evaluation, MessageFacts, Outcome, ParsedMessage, RecipientFacts, Stage,
    StructureLimits,
};
use moat_store::{Direction, TenantId};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// The recipients of one transaction that share a tenant and a chain, and that chain's running judgement.
pub(super) struct Group {
    tenant: TenantId,
    tenant_name: String,
    chain: Arc<Chain>,
    eval: Evaluation,
    /// Connect or MAIL FROM refused this chain's recipients.
    refused: Option<Reply>,
    /// (address, route) pairs and what plugins are told about them.
    recipients: Vec<(String, String)>,
    facts: Vec<RecipientFacts>,
    /// Connect and MAIL FROM have run (they run with the group's first recipient).
    envelope_judged: bool,
}

pub(super) fn refusal_reply(outcome: &Outcome) -> Option<Reply> {
    match outcome {
        Outcome::Reject { code, enhanced, text } | Outcome::Tempfail { code, enhanced, text } => {
            Some(Reply::from_filter(*code, enhanced, text))
        }
        _ => None,
    }
}

/// Runs `stages` of `chain` on a blocking thread and returns the evaluation.
pub(super) async fn run_stages(
    ctx: &SmtpContext,
    chain: Arc<Chain>,
    mut eval: Evaluation,
    stages: impl FnOnce(&Chain, &mut Evaluation) + Send + 'static,
) -> Evaluation {
    on_blocking_thread(ctx, move || {
        stages(&chain, &mut eval);
        eval
    })
    .await
    .unwrap_or_else(not_checked)
}

/// Runs plugins off the async workers, in turn with the other runs ([`SmtpContext::run_slots`]); `None` if the
/// runtime itself failed (plugins cannot panic the host).
async fn on_blocking_thread<R: Send + 'static>(
    ctx: &SmtpContext,
    run: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    ctx.metrics.filter_runs.inc();
    let slot = ctx.run_slots.take().await;
    tokio::task::spawn_blocking(move || slot.hold(run))
        .await
        .inspect_err(|e| tracing::error!("filter chain task failed: {e}"))
        .ok()
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// Teaches the filters that learn from verdicts, off the reply's path (the sender does not wait for them).
    /// Lessons from confident verdicts (autolearn) are optional work: taught only within the node's lessons a
    /// second (`tenant`'s share of them) and when a run slot is free now, so a busy gateway spends its CPU on the
    /// mail waiting.
    fn teach(
        &self,
        tenant: TenantId,
        chain: Arc<Chain>,
        message: Arc<ParsedMessage>,
        eval: &Evaluation,
        outcome: &Outcome,
    ) {
        let mut lessons = chain.lessons(eval, outcome);
        // The slot first: a lesson skipped for a busy moment must not spend the second's budget.
        let slot = if lessons.iter().any(|l| l.confident) {
            self.ctx.run_slots.try_take().filter(|_| self.ctx.lessons.try_spend(tenant))
        } else {
            None
        };
        let confident = lessons.iter().filter(|l| l.confident).count() as u64;
        if slot.is_some() {
            self.ctx.metrics.lessons_taught.inc_by(confident);
        } else {
            self.ctx.metrics.lessons_skipped.inc_by(confident);
            lessons.retain(|l| !l.confident);
        }
        if lessons.is_empty() {
            return;
        }
        tokio::task::spawn_blocking(move || match slot {
            Some(slot) => slot.hold(|| chain.teach(&message, &lessons)),
            None => chain.teach(&message, &lessons),
        });
    }
}

/// The judgement when the chain could not run at all: retry later rather than guess.
fn not_checked() -> Evaluation {
    Evaluation {
        decided: Some(Outcome::Tempfail {
            code: 451,
            enhanced: "4.3.0".into(),
            text: "Message could not be checked, try again later".into(),
        }),
        ..Evaluation::default()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    pub(super) async fn connection_facts(&self) -> ConnectionFacts {
        ConnectionFacts {
            client_ip: self.peer.ip().to_string(),
            ptr: self.client_ptr().await,
            helo: self.helo.clone().unwrap_or_default(),
            tls: self.tls.clone(),
            // The listener's role says it: only a submission listener relays customers' outgoing mail.
            direction: match self.role {
                super::Role::Mx => moat_filter::Direction::Inbound,
                super::Role::Submission => moat_filter::Direction::Outbound,
            },
        }
    }

    /// Runs the chain of `recipient`'s tenant on RCPT; `Err` is the reply refusing this recipient.
    pub(super) async fn judge_recipient(&mut self, recipient: &Recipient, address: &str) -> Result<(), Reply> {
        let selected = self.ctx.filters.select(Direction::Inbound, recipient.tenant, &recipient.route);
        let conn = self.connection_facts().await;
        let transaction = self.transaction.as_mut().expect("RCPT inside a transaction");
        let sender = transaction.sender.clone();
        let facts = RecipientFacts {
            address: address.to_owned(),
            tenant: selected.tenant_name.clone(),
            domain: address.rsplit_once('@').map_or("", |(_, d)| d).to_owned(),
            mailbox: recipient.mailbox_address.clone(),
        };
        let position = transaction
            .groups
            .iter()
            .position(|g| g.tenant == recipient.tenant && Arc::ptr_eq(&g.chain, &selected.chain));
        let index = match position {
            Some(i) => i,
            None => {
                transaction.groups.push(Group {
                    tenant: recipient.tenant,
                    eval: Evaluation::for_tenant(&selected.tenant_name),
                    tenant_name: selected.tenant_name,
                    chain: selected.chain,
                    refused: None,
                    recipients: Vec::new(),
                    facts: Vec::new(),
                    envelope_judged: false,
                });
                transaction.groups.len() - 1
            }
        };
        let group = &mut transaction.groups[index];
        if !group.chain.is_empty() {
            if let Some(refused) = &group.refused {
                return Err(refused.clone());
            }
            // One trip to a blocking thread per recipient: a new group's connect and MAIL FROM stages go
            // with its first recipient's RCPT stage.
            let envelope = (!group.envelope_judged).then(|| group.eval.clone());
            let (chain, rcpt, tenant_name) = (group.chain.clone(), facts.clone(), group.tenant_name.clone());
            let judged = on_blocking_thread(&self.ctx, move || {
                let envelope = envelope.map(|mut eval| {
                    chain.run(Stage::Connect(&conn), &mut eval);
                    chain.run(Stage::MailFrom(&conn, &sender), &mut eval);
                    eval
                });
                if envelope.as_ref().is_some_and(|e| e.refusal().is_some()) {
                    return (envelope, None);
                }
                let mut verdict = Evaluation::for_tenant(&tenant_name);
                chain.run(Stage::Rcpt(&conn, &sender, &rcpt), &mut verdict);
                (envelope, Some(verdict))
            })
            .await;
            let (envelope, verdict) = match judged {
                Some(judged) => judged,
                None if !group.envelope_judged => (Some(not_checked()), None),
                None => (None, Some(not_checked())),
            };
            for eval in envelope.iter().chain(verdict.iter()) {
                self.alert_trips(recipient.tenant, eval).await;
            }
            let group = &mut self.transaction.as_mut().expect("RCPT inside a transaction").groups[index];
            if let Some(envelope) = envelope {
                group.envelope_judged = true;
                group.refused = envelope.refusal().and_then(refusal_reply);
                group.eval = envelope;
            }
            if let Some(refused) = &group.refused {
                return Err(refused.clone());
            }
            let verdict = verdict.expect("the RCPT stage runs unless the envelope was refused");
            if let Some(reply) = verdict.refusal().and_then(refusal_reply) {
                tracing::info!(rcpt = address, %reply, "recipient refused by filter");
                return Err(reply);
            }
            // RCPT verdicts count once per group: the first accepted recipient's.
            if group.recipients.is_empty() {
                group.eval.score += verdict.score;
                group.eval.entries.extend(verdict.entries);
                group.eval.add_headers.extend(verdict.add_headers);
                group.eval.accepted |= verdict.accepted;
                if group.eval.decided.is_none() {
                    group.eval.decided = verdict.decided;
                }
            }
        }
        let group = &mut self.transaction.as_mut().expect("RCPT inside a transaction").groups[index];
        group.recipients.push((address.to_owned(), recipient.route.clone()));
        group.facts.push(facts);
        Ok(())
    }

    /// Runs each group's chain on the message: the groups' judgements, and the reply refusing the whole
    /// message if it is refused (then every group is only logged).
    pub(super) async fn judge_message(
        &mut self,
        groups: Vec<Group>,
        sender: &str,
        body: &[u8],
    ) -> (Vec<Judged>, Option<Reply>, Summary) {
        let conn = self.connection_facts().await;
        let mut judged = Vec::with_capacity(groups.len());
        let mut refusals = Vec::new();
        let filtered = groups.iter().any(|g| !g.recipients.is_empty() && !g.chain.is_empty());
        // Parsed once for every group; an empty chain needs no parse at all.
        let content = filtered.then(|| {
            self.ctx.metrics.message_parses.inc();
            Arc::new(Content::parse(body.to_vec()))
        });
        // The log's fields come from the same parse; an unfiltered message only has its header section read.
        let summary = match &content {
            Some(content) => Summary::of(content),
            None => self.ctx.queue.summary(body),
        };
        if let Some(why) = content.as_ref().and_then(|c| c.structure().exceeds(&StructureLimits::default())) {
            // Before any plugin or DNS lookup: a shape no real mail has is refused, not scanned.
            tracing::info!(%why, "message refused for its structure");
            let refusal = Reply::dynamic(554, "5.6.0", format!("Message refused: {why}"));
            let judged = groups
                .into_iter()
                .filter(|g| !g.recipients.is_empty())
                .map(|g| Judged {
                    tenant: Some(g.tenant),
                    recipients: g.recipients,
                    fate: Fate::Drop,
                    verdict: LogVerdict {
                        word: "rejected".into(),
                        score: None,
                        symbols: Some("MIME_LIMITS".into()),
                        report: None,
                    },
                })
                .collect();
            return (judged, Some(refusal), summary);
        }
        let checked = match (&self.ctx.authenticator, &content) {
            (Some(authenticator), Some(content)) => {
                let helo = self.helo.clone().unwrap_or_default();
                let envelope = Envelope { client_ip: self.peer.ip(), helo: &helo, sender };
                Some(authenticator.check(&envelope, content).await)
            }
            _ => None,
        };
        for group in groups {
            if group.recipients.is_empty() {
                continue;
            }
            if group.chain.is_empty() {
                judged.push(Judged::unfiltered(Some(group.tenant), group.recipients));
                continue;
            }
            let facts = MessageFacts {
                sender: sender.to_owned(),
                recipients: group.facts,
                connection: conn.clone(),
                authentication: checked.as_ref().map(|c| c.facts.clone()).unwrap_or_default(),
            };
            let content = content.clone().expect("parsed when any chain filters");
            let message = ParsedMessage::new(content, facts);
            let parsed = message.clone();
            let eval = run_stages(&self.ctx, group.chain.clone(), group.eval, move |chain, eval| {
                chain.run(Stage::Message(&parsed), eval)
            })
            .await;
            self.alert_trips(group.tenant, &eval).await;
            let outcome = eval.outcome(&group.chain.thresholds);
            if group.chain.learns_from_verdicts() {
                self.teach(group.tenant, group.chain.clone(), message, &eval, &outcome);
            }
            let symbols = eval.symbol_names().join(",");
            let verdict = LogVerdict {
                word: outcome.as_str().into(),
                score: Some(eval.score),
                symbols: Some(symbols.clone()),
                report: serde_json::to_string(&eval.entries).ok(),
            };
            tracing::info!(tenant = %group.tenant_name, outcome = outcome.as_str(), score = eval.score, %symbols, "judged");
            let status = |spam: bool| {
                let yes = if spam { "Yes" } else { "No" };
                let tests = if symbols.is_empty() { String::new() } else { format!(" tests={symbols}") };
                (STATUS_HEADER.to_string(), format!("{yes}, score={:.1}{tests}", eval.score))
            };
            let deliver = |spam: bool| {
                let mut add_headers = vec![status(spam)];
                if let Some(checked) = &checked {
                    add_headers.push((AUTHENTICATION_RESULTS.to_string(), checked.header.clone()));
                }
                add_headers.extend(eval.add_headers.iter().cloned());
                let tag = group.chain.subject_tag.clone();
                Fate::Deliver { add_headers, subject_tag: (spam && !tag.is_empty()).then_some(tag) }
            };
            let fate = match &outcome {
                Outcome::Deliver => deliver(false),
                Outcome::Tag => deliver(true),
                Outcome::Quarantine => Fate::Quarantine {
                    score: eval.score,
                    reason: if symbols.is_empty() { "quarantined by a filter".into() } else { symbols.clone() },
                },
                Outcome::Discard => Fate::Drop,
                Outcome::Reject { .. } | Outcome::Tempfail { .. } => {
                    refusals.push(refusal_reply(&outcome).expect("a refusal"));
                    Fate::Drop
                }
            };
            judged.push(Judged { tenant: Some(group.tenant), recipients: group.recipients, fate, verdict });
        }
        let refusal = match refusals.iter().find(|r| r.code / 100 == 4) {
            Some(tempfail) => Some(tempfail.clone()),
            None if !refusals.is_empty() && judged.iter().all(|j| j.verdict.word == "rejected") => {
                Some(refusals.swap_remove(0))
            }
            None => None,
        };
        if refusal.is_some() {
            for j in &mut judged {
                j.fate = Fate::Drop;
            }
        }
        (judged, refusal, summary)
    }

    /// Tells the admin, once per trip, that a plugin keeps failing.
    pub(super) async fn alert_trips(&self, tenant: TenantId, eval: &Evaluation) {
        for entry in eval.entries.iter().filter(|e| e.tripped) {
            let text = format!(
                "plugin {} failed too often in a row at {} ({}); it is skipped for a while and its fail policy applies",
                entry.plugin,
                entry.stage,
                entry.failure.as_deref().unwrap_or("unknown failure")
            );
            if let Err(e) = self.ctx.queue.store().alert_add(Some(tenant), "plugin-tripped", &text, crate::now()).await
            {
                tracing::error!("cannot record an alert: {e}");
            }
        }
    }
}
