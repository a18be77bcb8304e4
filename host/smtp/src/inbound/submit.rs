//! The end of DATA on a submission listener: a customer's server relaying. The `From:` header must name
//! only the authenticated account's domains; the message is DKIM-signed with its From domain's keys and
//! queued for its recipients, wherever they are.

use super::{Session, Transaction};
use crate::queue::{Fate, Judged, LogVerdict, Summary};
use crate::reply::{self, Reply};
use moat_filter::Content;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    pub(super) async fn submit(&mut self, transaction: Transaction, body: Vec<u8>) {
        let sender = self.sender.clone().expect("MAIL needs AUTH on a submission listener");
        self.ctx.metrics.message_parses.inc();
        let content = Content::parse(body);
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
        let body = Arc::new(content.raw().to_vec());
        let (body, dkim) = match self.ctx.dkim.sign(&domain, body.clone()).await {
            Ok(fields) if !fields.is_empty() => ([fields.as_bytes(), &body].concat(), "DKIM_SIGNED"),
            Ok(_) => {
                tracing::info!(%domain, "no DKIM key: sent unsigned");
                (Arc::unwrap_or_clone(body), "DKIM_UNSIGNED")
            }
            Err(e) => {
                tracing::warn!(%domain, "sent unsigned: {e}");
                (Arc::unwrap_or_clone(body), "DKIM_UNSIGNED")
            }
        };
        let judged = Judged {
            tenant: Some(sender.tenant),
            recipients: transaction.recipients,
            fate: Fate::Deliver { add_headers: Vec::new(), subject_tag: None },
            verdict: LogVerdict { symbols: Some(dkim.into()), ..LogVerdict::unfiltered() },
        };
        let facts = self.facts().await;
        match self.ctx.queue.accept_judged(&facts, &transaction.sender, &body, vec![judged], summary).await {
            Ok(ids) => {
                self.ctx.metrics.accepted.inc();
                self.reply(Reply::dynamic(250, "2.0.0", format!("OK queued as {}", ids.join(" "))));
            }
            Err(e) => {
                tracing::error!("cannot queue message: {e}");
                self.reply(reply::TEMP_QUEUE);
            }
        }
    }
}
