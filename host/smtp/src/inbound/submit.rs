//! The end of DATA on a submission listener: a customer's server relaying. The `From:` header must name
//! only the authenticated account's domains; the tenant's outbound chain judges the message (what it
//! carries: nothing judges the client, the customer's own server); what it lets through is DKIM-signed with
//! its From domain's keys and queued for its recipients, wherever they are, or held for the admins.

use super::Session;
use super::Transaction;
use super::judge::{refusal_reply, run_stages};
use crate::queue::{Fate, Judged, LogVerdict, Summary};
use crate::reply::{self, Reply};
use moat_directory::Sender;
use moat_filter::{Content, Evaluation, MessageFacts, Outcome, ParsedMessage, RecipientFacts, Stage};
use moat_store::Direction;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// What the outbound chain decided.
enum Decision {
    Send { verdict: LogVerdict },
    Hold { verdict: LogVerdict, score: f64, reason: String },
    Refuse { verdict: LogVerdict, reply: Reply },
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    pub(super) async fn submit(&mut self, transaction: Transaction, body: Vec<u8>) {
        let sender = self.sender.clone().expect("MAIL needs AUTH on a submission listener");
        self.ctx.metrics.message_parses.inc();
        let content = Arc::new(Content::parse(body));
        let from = content.from_addresses();
        if from.is_empty() || !from.iter().all(|a| sender.may_send_as(a)) {
            tracing::info!(account = %sender.account, ?from, "From: refused for this account");
            let recipients = transaction.recipients.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ");
            self.log_refused(&transaction.sender, &recipients, &reply::FROM_NOT_OWNED).await;
            self.ctx.metrics.rejected.inc();
            return self.reply(reply::FROM_NOT_OWNED);
        }
        let domain = from[0].rsplit_once('@').map_or("", |(_, d)| d).trim_end_matches('.').to_ascii_lowercase();
        let summary = Summary::of(&content);
        let decision = self.judge_outbound(&sender, &transaction, &domain, content.clone()).await;
        let refused_or_held = !matches!(decision, Decision::Send { .. });
        self.ctx.senders.judged(&sender.account, refused_or_held).await;
        let recipients = transaction.recipients.len() as u64;
        let (fate, verdict, refusal) = match decision {
            Decision::Refuse { verdict, reply } => (Fate::Drop, verdict, Some(reply)),
            Decision::Send { verdict } => (Fate::Deliver { add_headers: Vec::new(), subject_tag: None }, verdict, None),
            Decision::Hold { verdict, score, reason } => (Fate::Quarantine { score, reason }, verdict, None),
        };
        // Signed after filtering, before it is stored: retries, every recipient and a release from the
        // quarantine send the same signed bytes.
        let (body, verdict) = match &fate {
            Fate::Drop => (content.raw().to_vec(), verdict),
            _ => self.sign(&domain, content.raw(), verdict).await,
        };
        let judged = Judged { tenant: Some(sender.tenant), recipients: transaction.recipients, fate, verdict };
        let facts = self.facts().await;
        let accepted = self.ctx.queue.accept_judged(&facts, &transaction.sender, &body, vec![judged], summary).await;
        if let Some(refusal) = refusal {
            if let Err(e) = accepted {
                tracing::error!("cannot log a refused message: {e}");
            }
            self.ctx.metrics.rejected.inc();
            return self.reply(refusal);
        }
        match accepted {
            Ok(ids) => {
                self.ctx.senders.sent(&sender.account, sender.tenant, recipients).await;
                self.ctx.metrics.accepted.inc();
                self.reply(Reply::dynamic(250, "2.0.0", format!("OK queued as {}", ids.join(" "))));
            }
            Err(e) => {
                tracing::error!("cannot queue message: {e}");
                self.reply(reply::TEMP_QUEUE);
            }
        }
    }

    /// Runs the outbound chain of the sender's tenant (its From domain's override, if any) on the message.
    async fn judge_outbound(
        &mut self,
        sender: &Sender,
        transaction: &Transaction,
        domain: &str,
        content: Arc<Content>,
    ) -> Decision {
        let selected = self.ctx.filters.select(Direction::Outbound, sender.tenant, domain);
        if selected.chain.is_empty() {
            return Decision::Send { verdict: LogVerdict::unfiltered() };
        }
        let recipients = transaction
            .recipients
            .iter()
            .map(|(address, _)| RecipientFacts {
                address: address.clone(),
                tenant: selected.tenant_name.clone(),
                domain: address.rsplit_once('@').map_or("", |(_, d)| d).to_owned(),
                mailbox: String::new(),
            })
            .collect();
        let facts = MessageFacts {
            sender: transaction.sender.clone(),
            recipients,
            connection: self.connection_facts().await,
            authentication: Default::default(),
        };
        let message = ParsedMessage::new(content, facts);
        let eval = Evaluation::for_tenant(&selected.tenant_name);
        let chain = selected.chain.clone();
        let eval =
            run_stages(&self.ctx, chain, eval, move |chain, eval| chain.run(Stage::Message(&message), eval)).await;
        self.alert_trips(sender.tenant, &eval).await;
        let outcome = eval.outcome(&selected.chain.thresholds);
        let symbols = eval.symbol_names().join(",");
        tracing::info!(account = %sender.account, outcome = outcome.as_str(), score = eval.score, %symbols, "outbound judged");
        let verdict = LogVerdict {
            word: outcome.as_str().into(),
            score: Some(eval.score),
            symbols: Some(symbols.clone()),
            report: serde_json::to_string(&eval.entries).ok(),
        };
        match outcome {
            // Outgoing mail is not marked: a tag is for the recipient's own filters to decide.
            Outcome::Deliver | Outcome::Tag => Decision::Send { verdict },
            Outcome::Quarantine => {
                let reason = if symbols.is_empty() { "held by a filter".into() } else { symbols };
                Decision::Hold { verdict, score: eval.score, reason }
            }
            // The customer's server hears why (a virus name, a score): its admins are the ones to act.
            Outcome::Discard => {
                let reply = Reply::dynamic(550, "5.7.1", "Message refused by outbound filtering".into());
                Decision::Refuse { verdict, reply }
            }
            Outcome::Reject { text, .. } => {
                let reply = Reply::dynamic(550, "5.7.1", format!("Message refused by outbound filtering: {text}"));
                Decision::Refuse { verdict, reply }
            }
            Outcome::Tempfail { .. } => {
                let reply = refusal_reply(&outcome).expect("a tempfail has its reply");
                Decision::Refuse { verdict, reply }
            }
        }
    }

    /// `raw` with the From domain's DKIM signatures on top, and the verdict saying whether it was signed.
    async fn sign(&self, domain: &str, raw: &[u8], mut verdict: LogVerdict) -> (Vec<u8>, LogVerdict) {
        let (body, dkim) = match self.ctx.dkim.sign(domain, Arc::new(raw.to_vec())).await {
            Ok(fields) if !fields.is_empty() => ([fields.as_bytes(), raw].concat(), "DKIM_SIGNED"),
            Ok(_) => {
                tracing::info!(%domain, "no DKIM key: sent unsigned");
                (raw.to_vec(), "DKIM_UNSIGNED")
            }
            Err(e) => {
                tracing::warn!(%domain, "sent unsigned: {e}");
                (raw.to_vec(), "DKIM_UNSIGNED")
            }
        };
        verdict.symbols = Some(match verdict.symbols.filter(|s| !s.is_empty()) {
            Some(symbols) => format!("{symbols},{dkim}"),
            None => dkim.into(),
        });
        (body, verdict)
    }
}
