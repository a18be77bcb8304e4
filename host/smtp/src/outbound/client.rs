//! One SMTP transaction with one downstream host: on a kept connection, or a new one (greeting, EHLO,
//! opportunistic STARTTLS); then MAIL, RCPT per recipient, DATA. Replies are kept per recipient for the queue
//! and the log.

use super::connections::{Connections, Destination, Kept, Session};
use super::route::Target;
use super::status::{Failure, reply_text};
use mail_send::SmtpClient;
use smtp_proto::{EXT_START_TLS, Response};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The outcome for one recipient of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    Delivered(String),
    Failed(Failure),
}

pub struct Transaction<'a> {
    pub helo: &'a str,
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub message: &'a [u8],
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// For the reply after the message's final dot.
    pub data_timeout: Duration,
    pub tls: &'a TlsConnector,
    pub destinations: &'a super::networks::Destinations,
}

impl Transaction<'_> {
    /// Runs the transaction against `target`, on a connection `connections` kept open if there is one. `Err`
    /// is a failure of the whole host (try the next one); `Ok` holds one outcome per recipient, in order.
    pub async fn run(&self, target: &Target, connections: &Connections) -> Result<Vec<RecipientOutcome>, Failure> {
        self.checked_arguments().map_err(Attempt::into_failure)?;
        let to = Destination { host: target.host.to_ascii_lowercase(), port: target.port, operators: target.operators };
        while let Some(mut kept) = connections.take(&to) {
            match self.envelope_on(&mut kept.session, Connection::Kept).await {
                Ok(outcomes) => {
                    connections.keep(to, kept);
                    return Ok(outcomes);
                }
                // Closed by the server while idle: nothing of this message was sent, a fresh one takes it.
                Err(Attempt::Stale) => continue,
                Err(other) => return Err(other.into_failure()),
            }
        }
        let mut kept = match self.open(target, true).await {
            // A host whose TLS is broken still gets its mail, in plain text as before STARTTLS existed.
            Err(Attempt::TlsFailed(f)) => {
                tracing::warn!(host = %target.host, "STARTTLS failed ({}), retrying without TLS", f.text);
                self.open(target, false).await
            }
            other => other,
        }
        .map_err(Attempt::into_failure)?;
        let outcomes = self.envelope_on(&mut kept.session, Connection::New).await.map_err(Attempt::into_failure)?;
        connections.keep(to, kept);
        Ok(outcomes)
    }

    /// A new session with `target`, greeted, introduced and (when offered and `try_tls`) under TLS.
    async fn open(&self, target: &Target, try_tls: bool) -> Result<Kept, Attempt> {
        let addrs = self
            .destinations
            .addresses(&target.host, target.port, target.operators)
            .await
            .map_err(|why| Attempt::Host(Failure::temporary(why.to_string())))?;
        let mut last = Failure::temporary(format!("{} has no address", target.host));
        for addr in addrs {
            match SmtpClient::connect(addr, self.connect_timeout).await {
                Ok(mut client) => {
                    client.timeout = self.command_timeout;
                    let opened = std::time::Instant::now();
                    let session = self.introduce(client, target, try_tls).await?;
                    return Ok(Kept { session, opened });
                }
                Err(e) => last = Failure::from_client(&e),
            }
        }
        Err(Attempt::Host(last))
    }

    /// Refuses to start a conversation whose arguments could not be written safely.
    fn checked_arguments(&self) -> Result<(), Attempt> {
        let bad = |what: &str, value: &str| {
            Attempt::Host(Failure::permanent(format!("refusing to send {what} {:?}: not a valid SMTP argument", value)))
        };
        argument(self.helo).map_err(|_| bad("EHLO", self.helo))?;
        argument(self.sender).map_err(|_| bad("MAIL FROM", self.sender))?;
        for rcpt in self.recipients {
            argument(rcpt).map_err(|_| bad("RCPT TO", rcpt))?;
        }
        Ok(())
    }

    async fn introduce(
        &self,
        mut client: SmtpClient<TcpStream>,
        target: &Target,
        try_tls: bool,
    ) -> Result<Session, Attempt> {
        let host_failure = |e: mail_send::Error| Attempt::Host(Failure::from_client(&e));
        let greeting = tokio::time::timeout(self.command_timeout, client.read())
            .await
            .map_err(|_| Attempt::Host(Failure::timeout("timed out waiting for the greeting")))?
            .map_err(host_failure)?;
        if greeting.code != 220 {
            return Err(Attempt::Host(Failure::from_reply(&greeting)));
        }
        let ehlo = client.ehlo(self.helo).await.map_err(host_failure)?;
        if try_tls && ehlo.has_capability(EXT_START_TLS) {
            let mut tls = client
                .start_tls(self.tls, &target.host)
                .await
                .map_err(|e| Attempt::TlsFailed(Failure::from_client(&e)))?;
            tls.ehlo(self.helo).await.map_err(host_failure)?;
            return Ok(Session::Tls(Box::new(tls)));
        }
        Ok(Session::Plain(client))
    }

    async fn envelope_on(
        &self,
        session: &mut Session,
        connection: Connection,
    ) -> Result<Vec<RecipientOutcome>, Attempt> {
        match session {
            Session::Plain(client) => self.envelope(client, connection).await,
            Session::Tls(client) => self.envelope(client.as_mut(), connection).await,
        }
    }

    /// One mail transaction on an introduced session, which is left between transactions on `Ok` (after the
    /// reply to the message, or a `RSET` when every recipient was refused).
    async fn envelope<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        client: &mut SmtpClient<T>,
        connection: Connection,
    ) -> Result<Vec<RecipientOutcome>, Attempt> {
        let host_failure = |e: mail_send::Error| Attempt::Host(Failure::from_client(&e));
        let reply = match client.cmd(format!("MAIL FROM:<{}>\r\n", self.sender)).await {
            Err(_) if connection == Connection::Kept => return Err(Attempt::Stale),
            // 421: the server is closing the channel (an idle timeout it announces).
            Ok(reply) if reply.code == 421 && connection == Connection::Kept => return Err(Attempt::Stale),
            reply => reply.map_err(host_failure)?,
        };
        if reply.code != 250 {
            return Err(Attempt::Host(Failure::from_reply(&reply)));
        }
        let mut outcomes = Vec::with_capacity(self.recipients.len());
        for rcpt in self.recipients {
            let reply = client.cmd(format!("RCPT TO:<{rcpt}>\r\n")).await.map_err(host_failure)?;
            outcomes.push(if positive(&reply) { None } else { Some(Failure::from_reply(&reply)) });
        }
        if outcomes.iter().all(Option::is_some) {
            let _ = client.cmd("RSET\r\n").await;
            return Ok(outcomes.into_iter().map(|f| RecipientOutcome::Failed(f.expect("all failed"))).collect());
        }
        let reply = client.cmd("DATA\r\n").await.map_err(host_failure)?;
        if reply.code != 354 {
            return Err(Attempt::Host(Failure::from_reply(&reply)));
        }
        // RFC 5321 §4.5.3.2: the data may take its time to send, and the final reply up to 10 minutes (the
        // server is filtering it). Giving up earlier only makes a duplicate once the server does accept it.
        tokio::time::timeout(self.command_timeout, write_data(&mut client.stream, self.message))
            .await
            .map_err(|_| Attempt::Host(Failure::timeout("timed out sending the message")))?
            .map_err(|e| Attempt::Host(Failure::temporary(format!("connection error: {e}"))))?;
        let reply = tokio::time::timeout(self.data_timeout, client.read())
            .await
            .map_err(|_| Attempt::Host(Failure::timeout("timed out waiting for the reply to the message")))?
            .map_err(host_failure)?;
        let data = if positive(&reply) { Ok(reply_text(&reply)) } else { Err(Failure::from_reply(&reply)) };
        Ok(outcomes
            .into_iter()
            .map(|rcpt| match (rcpt, &data) {
                (Some(refused), _) => RecipientOutcome::Failed(refused),
                (None, Ok(accepted)) => RecipientOutcome::Delivered(accepted.clone()),
                (None, Err(failed)) => RecipientOutcome::Failed(failed.clone()),
            })
            .collect())
    }
}

/// Whether a session was opened for this transaction or kept from an earlier one (which the server may have
/// closed meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    New,
    Kept,
}

/// Sends the message dot-stuffed and terminated, byte for byte: a final CRLF is added only when the
/// message lacks one (mail-send's writer always adds one, which would append a blank line).
async fn write_data<S: AsyncWrite + Unpin>(stream: &mut S, message: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out.extend_from_slice(if message.ends_with(b"\r\n") { b".\r\n" } else { b"\r\n.\r\n" });
    stream.write_all(&out).await?;
    stream.flush().await
}

/// An argument the client writes into a command line (a HELO name, a reverse- or forward-path). Whatever
/// the store holds, a CR or LF would end the command and start another, and `<`/`>` would end the path:
/// such a value is never written. Envelope addresses are parsed where they enter Moat; this is the last gate.
pub(crate) fn argument(value: &str) -> Result<&str, ()> {
    if value.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>')) {
        return Err(());
    }
    Ok(value)
}

fn positive(reply: &Response<String>) -> bool {
    (200..300).contains(&reply.code)
}

enum Attempt {
    Host(Failure),
    TlsFailed(Failure),
    /// A kept connection that failed its first command: the server closed it while it was idle.
    Stale,
}

impl Attempt {
    fn into_failure(self) -> Failure {
        match self {
            Attempt::Host(f) | Attempt::TlsFailed(f) => f,
            Attempt::Stale => Failure::temporary("connection closed by the server"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_arguments_with_line_ends_or_brackets_are_refused() {
        for bad in ["x@x.test>\r\nRSET", "a\nb@x.test", "a@x.test>", "<a@x.test", "a b@x.test", "a\0@x"] {
            assert!(super::argument(bad).is_err(), "{bad:?}");
        }
        assert_eq!(super::argument("ann+news@acme.test"), Ok("ann+news@acme.test"));
        assert_eq!(super::argument(""), Ok(""), "the null reverse-path");
    }

    #[tokio::test]
    async fn data_is_dot_stuffed_and_terminated_without_extra_lines() {
        let mut out = Vec::new();
        super::write_data(&mut out, b".a\r\nb\r\n..c\r\n").await.unwrap();
        assert_eq!(out, b"..a\r\nb\r\n...c\r\n.\r\n");
        let mut out = Vec::new();
        super::write_data(&mut out, b"no newline").await.unwrap();
        assert_eq!(out, b"no newline\r\n.\r\n");
    }
}
