use super::{Next, Role, Session};
use crate::queue::SessionFacts;
use crate::reply::{self, Reply};
use moat_store::NewLogEntry;
use tokio::io::{AsyncRead, AsyncWrite};

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// DATA: needs a sender and at least one accepted recipient.
    pub(super) fn data(&mut self) -> Next {
        match &self.transaction {
            None => self.refuse_next(reply::NEED_MAIL),
            Some(t) if t.chunks.is_some() => self.refuse_next(reply::BDAT_AFTER_DATA),
            Some(t) if t.recipients.is_empty() => self.refuse_next(reply::NO_VALID_RECIPIENTS),
            Some(_) => {
                self.reply(reply::START_DATA);
                Next::Data
            }
        }
    }

    /// BDAT (RFC 3030): the chunk's bytes follow the command and must be read whatever the reply. Once a
    /// chunk is refused, every later chunk of that message is refused too, until LAST ends it.
    pub(super) fn bdat(&mut self, size: usize, last: bool) -> Next {
        let refusal = match &mut self.transaction {
            None => Some(reply::NEED_MAIL),
            Some(t) if t.recipients.is_empty() => Some(reply::NO_VALID_RECIPIENTS),
            Some(t) if t.chunks_refused.is_some() => t.chunks_refused.clone(),
            Some(t) => {
                let received = t.chunks.as_ref().map_or(0, Vec::len);
                if received.saturating_add(size) > self.ctx.config.max_message_size {
                    t.chunks = None;
                    t.chunks_refused = Some(reply::MESSAGE_TOO_BIG);
                    t.chunks_refused.clone()
                } else {
                    t.chunks.get_or_insert_with(Vec::new);
                    None
                }
            }
        };
        match refusal {
            Some(reply) => Next::DiscardBdat { size, reply, last },
            None => Next::Bdat { size, last },
        }
    }

    /// A BDAT chunk has been read in full.
    pub(super) async fn chunk_complete(&mut self, last: bool) {
        if !last {
            let size = self.transaction.as_ref().and_then(|t| t.chunks.as_ref()).map_or(0, Vec::len);
            self.reply(Reply::dynamic(250, "2.0.0", format!("{size} octets received")));
            return;
        }
        let body = self.transaction.as_mut().and_then(|t| t.chunks.take()).unwrap_or_default();
        self.message_complete(body).await;
    }

    /// The whole message is in: queue it (spool + fsync + commit) and only then say `250`.
    pub(super) async fn message_complete(&mut self, body: Vec<u8>) {
        let Some(mut transaction) = self.transaction.take() else {
            return self.reply(reply::NEED_MAIL);
        };
        self.log_refused_recipients(&transaction.sender, std::mem::take(&mut transaction.refused)).await;
        if self.role == Role::Submission {
            return self.submit(transaction, body).await;
        }
        let facts = self.facts().await;
        let (judged, refusal, summary) = self.judge_message(transaction.groups, &transaction.sender, &body).await;
        let accepted = self.ctx.queue.accept_judged(&facts, &transaction.sender, &body, judged, summary).await;
        if let Some(refusal) = refusal {
            // Only log rows were written: the sender keeps the message.
            if let Err(e) = accepted {
                tracing::error!("cannot log a refused message: {e}");
            }
            self.ctx.metrics.rejected.inc();
            tracing::info!(%refusal, "message refused by filter");
            return self.reply(refusal);
        }
        if accepted.is_ok() {
            self.ctx.metrics.accepted.inc();
        }
        match accepted {
            Ok(ids) if ids.is_empty() => self.reply(Reply::dynamic(250, "2.0.0", "OK".into())),
            Ok(ids) => self.reply(Reply::dynamic(250, "2.0.0", format!("OK queued as {}", ids.join(" ")))),
            Err(e) => {
                tracing::error!("cannot queue message: {e}");
                self.reply(reply::TEMP_QUEUE);
            }
        }
    }

    /// The rest of a refused DATA or BDAT chunk has been read: answer, and when the message is over, log it
    /// and end the transaction.
    pub(super) async fn message_refused(&mut self, reply: Reply, ends_message: bool) {
        self.reply(reply.clone());
        if !ends_message {
            return;
        }
        let Some(mut t) = self.transaction.take() else {
            return;
        };
        self.log_refused_recipients(&t.sender, std::mem::take(&mut t.refused)).await;
        self.ctx.metrics.rejected.inc();
        let recipients = t.recipients.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ");
        self.log_refused(&t.sender, &recipients, &reply).await;
    }

    pub(super) async fn log_refused(&self, sender: &str, recipients: &str, reply: &Reply) {
        let facts = self.facts().await;
        let direction = facts.direction();
        let entry = NewLogEntry {
            queue_id: None,
            received_at: crate::now(),
            client_ip: facts.client_ip.to_string(),
            helo: facts.helo,
            tls: facts.tls.is_some(),
            sender: sender.to_owned(),
            recipients: recipients.to_owned(),
            size: 0,
            verdict: format!("rejected: {reply}"),
            delivery_status: "not delivered".into(),
            direction,
            ..NewLogEntry::default()
        };
        if let Err(e) = self.ctx.queue.store().log_add(&entry).await {
            tracing::error!("cannot log a refused message: {e}");
        }
    }

    pub(super) async fn facts(&self) -> SessionFacts {
        SessionFacts {
            client_ip: self.peer.ip(),
            ptr: self.client_ptr().await,
            helo: self.helo.clone().unwrap_or_default(),
            esmtp: self.esmtp,
            tls: self.tls.clone(),
            authenticated: self.sender.as_ref().map(|s| s.account.clone()),
        }
    }
}
