use super::{Next, Role, Session, Transaction};
use crate::reply;
use smtp_proto::{MAIL_SMTPUTF8, MailFrom};
use tokio::io::{AsyncRead, AsyncWrite};

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// MAIL FROM: starts a transaction. On the MX listener the sender is not checked against the directory:
    /// inbound mail comes from anywhere; what matters is who it is for. On a submission listener the client
    /// must have authenticated, and may send only as its own domains (or `<>`, a bounce its server sends;
    /// the `From:` header is checked after DATA all the same).
    pub(super) fn mail(&mut self, from: MailFrom<String>) -> Next {
        if self.helo.is_none() {
            return self.refuse_next(reply::NEED_HELO);
        }
        if self.transaction.is_some() {
            return self.refuse_next(reply::NESTED_MAIL);
        }
        if from.size > self.ctx.config.max_message_size {
            return self.refuse_next(reply::MESSAGE_TOO_BIG);
        }
        if !sender_is_valid(&from.address) {
            return self.refuse_next(reply::SYNTAX_SENDER);
        }
        if self.role == Role::Submission {
            let Some(sender) = &self.sender else {
                return self.refuse_next(reply::AUTH_REQUIRED);
            };
            if !from.address.is_empty() && !sender.may_send_as(&from.address) {
                tracing::info!(account = %sender.account, from = %from.address, "sender refused for this account");
                return self.refuse_next(reply::SENDER_NOT_OWNED);
            }
        }
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if !from.address.is_ascii() && !smtputf8 {
            return self.refuse_next(reply::NEED_SMTPUTF8);
        }
        self.transaction = Some(Transaction { sender: from.address, smtputf8, ..Transaction::default() });
        self.reply(reply::SENDER_OK);
        Next::Continue
    }
}

/// The null sender, or an address (an IP-literal domain is a valid sender, though never a recipient here).
/// The sender is written back into `MAIL FROM:` of bounces and deliveries and into headers: whatever is not
/// an address is refused where it enters.
fn sender_is_valid(sender: &str) -> bool {
    use moat_directory::{Address, AddressError};
    sender.is_empty() || matches!(Address::parse(sender), Ok(_) | Err(AddressError::IpLiteral(_)))
}
