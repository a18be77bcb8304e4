use super::{Next, Session};
use crate::reply::Reply;
use tokio::io::{AsyncRead, AsyncWrite};

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// EHLO (`esmtp`) or HELO: names the client, resets any transaction, lists the extensions.
    pub(super) fn ehlo(&mut self, host: String, esmtp: bool) -> Next {
        let host = host.trim();
        if host.is_empty() {
            let verb = if esmtp { "EHLO" } else { "HELO" };
            return self.refuse_next(Reply::dynamic(501, "5.5.4", format!("Syntax: {verb} hostname")));
        }
        self.helo = Some(host.chars().take(255).collect());
        self.esmtp = esmtp;
        self.transaction = None;
        let greeting = format!("{} Hello {host} [{}]", self.ctx.queue.hostname(), self.peer.ip());
        if !esmtp {
            self.reply(Reply { code: 250, status: None, text: greeting.into() });
            return Next::Continue;
        }
        let mut lines = vec![
            greeting,
            "PIPELINING".into(),
            format!("SIZE {}", self.ctx.config.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
        ];
        if self.tls.is_none() && self.ctx.tls.is_some() {
            lines.push("STARTTLS".into());
        }
        // Passwords travel only inside TLS (RFC 8314), and only where customers' servers submit.
        if self.role == super::Role::Submission && self.tls.is_some() && self.sender.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("VRFY".into());
        self.reply(Reply { code: 250, status: None, text: lines.join("\n").into() });
        Next::Continue
    }
}
