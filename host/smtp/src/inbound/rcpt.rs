use super::{Next, Role, Session};
use crate::reply;
use moat_directory::RecipientError;
use smtp_proto::RcptTo;
use tokio::io::{AsyncRead, AsyncWrite};

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// RCPT TO: accepted only for a mailbox or alias of a protected domain. Everything else is refused here,
    /// which is what keeps Moat from ever relaying.
    pub(super) async fn rcpt(&mut self, to: RcptTo<String>) -> Next {
        let Some(transaction) = &self.transaction else {
            return self.refuse_next(reply::NEED_MAIL);
        };
        if transaction.recipients.len() >= self.ctx.config.max_recipients {
            return self.refuse_next(reply::TOO_MANY_RECIPIENTS);
        }
        if !to.address.is_ascii() && !transaction.smtputf8 {
            return self.refuse_next(reply::NEED_SMTPUTF8);
        }
        if self.role == Role::Submission {
            return self.rcpt_outbound(to.address).await;
        }
        let refusal = match self.ctx.directory.resolve(&to.address).await {
            Ok(recipient) => {
                let address = recipient.address.to_string();
                let transaction = self.transaction.as_mut().expect("checked above");
                if !transaction.recipients.iter().any(|(a, _)| *a == address) {
                    if let Err(refusal) = self.judge_recipient(&recipient, &address).await {
                        self.ctx.metrics.refused_recipients.inc();
                        self.note_refused(&address, &refusal, Some(recipient.tenant)).await;
                        // A filter's tempfail (greylisting) is not the client's error: it must not count
                        // towards closing the session.
                        if refusal.code / 100 == 4 {
                            self.reply(refusal);
                            return Next::Continue;
                        }
                        return self.refuse_next(refusal);
                    }
                    let transaction = self.transaction.as_mut().expect("checked above");
                    transaction.recipients.push((address, recipient.route));
                }
                self.reply(reply::RECIPIENT_OK);
                return Next::Continue;
            }
            Err(RecipientError::Syntax(_)) => reply::SYNTAX_RECIPIENT,
            Err(RecipientError::RelayDenied(_)) => reply::RELAY_DENIED,
            Err(RecipientError::UnknownUser(_)) => reply::UNKNOWN_USER,
            Err(RecipientError::Temporary(e)) => {
                tracing::error!("directory lookup failed: {e}");
                return self.defer_recipient(&to.address, reply::TEMP_DIRECTORY).await;
            }
            // Not the client's error either: neither counts towards closing the session.
            Err(RecipientError::Unverified(why)) => {
                tracing::warn!(rcpt = %to.address, "recipient callout failed: {why}");
                return self.defer_recipient(&to.address, reply::TEMP_UNVERIFIED).await;
            }
            Err(RecipientError::SignupRefused(why)) => {
                tracing::warn!(rcpt = %to.address, "sign-up refused: {why}");
                return self.defer_recipient(&to.address, reply::TEMP_SIGNUP).await;
            }
        };
        tracing::info!(rcpt = %to.address, reply = %refusal, "recipient refused");
        self.ctx.metrics.refused_recipients.inc();
        self.note_refused(&to.address, &refusal, None).await;
        self.refuse_next(refusal)
    }

    /// A recipient that cannot be accepted now (the sender retries): answered and logged, not counted as
    /// the client's error.
    async fn defer_recipient(&mut self, address: &str, reply: crate::reply::Reply) -> Next {
        self.note_refused(address, &reply, None).await;
        self.reply(reply);
        Next::Continue
    }

    /// RCPT TO on a submission listener: the relay. Any domain; a protected domain's address must exist
    /// (and goes where its mail goes, aliases resolved); the chains run after DATA.
    async fn rcpt_outbound(&mut self, address: String) -> Next {
        let (address, route) = match self.ctx.directory.resolve(&address).await {
            Ok(recipient) => (recipient.address.to_string(), recipient.route),
            Err(RecipientError::RelayDenied(_)) => match moat_directory::Address::parse(&address) {
                Ok(parsed) => (parsed.to_string(), parsed.domain().to_owned()),
                Err(_) => return self.refuse_next(reply::SYNTAX_RECIPIENT),
            },
            Err(RecipientError::Syntax(_)) => return self.refuse_next(reply::SYNTAX_RECIPIENT),
            Err(RecipientError::UnknownUser(_)) => {
                if let Some(sender) = &self.sender {
                    self.ctx.senders.bounced(&sender.account, 1).await;
                }
                self.note_refused(&address, &reply::UNKNOWN_USER, None).await;
                return self.refuse_next(reply::UNKNOWN_USER);
            }
            Err(e) => {
                tracing::warn!(rcpt = %address, "recipient cannot be checked now: {e}");
                self.reply(reply::TEMP_DIRECTORY);
                return Next::Continue;
            }
        };
        let transaction = self.transaction.as_mut().expect("checked by rcpt");
        if transaction.recipients.iter().any(|(a, _)| *a == address) {
            self.reply(reply::RECIPIENT_OK);
            return Next::Continue;
        }
        let (count, known) = (transaction.recipients.len() as u64 + 1, transaction.sending);
        let sender = self.sender.as_ref().expect("MAIL needs AUTH on a submission listener");
        let sending = match known {
            Some(sending) => Ok(sending),
            None => self.ctx.senders.sending(&sender.account, sender.tenant).await,
        };
        let sending = match sending.and_then(|s| s.allows(count).map(|()| s)) {
            Ok(sending) => sending,
            Err(refusal) => {
                tracing::info!(account = %sender.account, %refusal, "sending limit");
                let tenant = Some(sender.tenant);
                self.note_refused(&address, &refusal, tenant).await;
                self.reply(refusal);
                return Next::Continue;
            }
        };
        let transaction = self.transaction.as_mut().expect("checked by rcpt");
        transaction.sending = Some(sending);
        transaction.recipients.push((address, route));
        self.reply(reply::RECIPIENT_OK);
        Next::Continue
    }
}
