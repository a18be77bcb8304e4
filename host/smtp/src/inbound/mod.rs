//! The inbound side: the listener (connection limits, STARTTLS) and the ESMTP session, generic over its
//! stream so tests drive it over an in-memory duplex. One file per verb; this file owns the read loop, the
//! input modes (commands, DATA, BDAT) and error limits. A message's SPF/DKIM/DMARC (`authentication`), the
//! `Received:` trace and the tagging of delivered copies live here too.

mod auth;
pub mod authentication;
mod data;
mod ehlo;
mod judge;
pub mod listener;
mod mail;
mod rcpt;
mod received;
mod refused;
mod shaping;
mod submit;
pub mod tagging;

pub(crate) use received::Trace;

use auth::SaslStep;
use listener::Role;

use crate::SmtpContext;
use crate::reply::{self, Reply};
use smtp_proto::Request;
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver, MAX_LINE_LENGTH, RequestReceiver};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a session ended.
pub enum Ending<T> {
    Closed,
    /// The client asked for STARTTLS and got `220`: the caller wraps the stream in TLS and starts a new
    /// session on it (RFC 3207: all state is forgotten).
    StartTls(T),
}

/// The mail transaction between MAIL and the end of DATA/BDAT.
#[derive(Default)]
struct Transaction {
    sender: String,
    smtputf8: bool,
    /// (normalized address, route)
    recipients: Vec<(String, String)>,
    /// BDAT chunks received so far.
    chunks: Option<Vec<u8>>,
    /// Set when a BDAT chunk was refused: later chunks of the message are discarded with this reply.
    chunks_refused: Option<Reply>,
    /// The accepted recipients by tenant and chain, with the chains' judgement so far.
    groups: Vec<judge::Group>,
    /// On a submission listener: what the account has sent so far, read at the first recipient.
    sending: Option<crate::outbound::senders::Sending>,
    /// Recipients refused so far, logged when the transaction ends.
    refused: Vec<refused::RefusedRecipient>,
}

enum Input {
    Command,
    Data {
        receiver: DataReceiver,
        body: Vec<u8>,
    },
    Bdat {
        receiver: BdatReceiver,
    },
    /// The client's answer to an AUTH challenge (`334`), one line.
    Sasl {
        step: SaslStep,
        line: Vec<u8>,
    },
    /// Reads and drops the rest of a refused message or chunk, then answers `reply`.
    Discard {
        receiver: DummyDataReceiver,
        reply: Reply,
        ends_message: bool,
    },
}

enum Next {
    Continue,
    Data,
    Bdat {
        size: usize,
        last: bool,
    },
    DiscardBdat {
        size: usize,
        reply: Reply,
        last: bool,
    },
    StartTls,
    /// A `334` challenge was sent: the next line is the client's SASL response.
    Sasl(SaslStep),
    Close,
}

pub struct Session<T> {
    stream: T,
    ctx: Arc<SmtpContext>,
    role: Role,
    peer: SocketAddr,
    tls: Option<String>,
    helo: Option<String>,
    esmtp: bool,
    transaction: Option<Transaction>,
    errors: u32,
    /// Who authenticated (submission listeners only), and so what it may send as.
    sender: Option<moat_directory::Sender>,
    out: Vec<u8>,
    /// The client's verified reverse name, looked up once per session when first needed.
    ptr: tokio::sync::OnceCell<Option<String>>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// `tls` is the negotiated protocol version when `stream` is already encrypted.
    pub fn new(stream: T, ctx: Arc<SmtpContext>, role: Role, peer: SocketAddr, tls: Option<String>) -> Self {
        Self {
            stream,
            ctx,
            role,
            peer,
            tls,
            helo: None,
            esmtp: false,
            transaction: None,
            errors: 0,
            sender: None,
            out: Vec::new(),
            ptr: tokio::sync::OnceCell::new(),
        }
    }

    /// The client's forward-confirmed reverse name (for the filters and the `Received:` header), asked of DNS
    /// once per session; none without a resolver or for loopback clients.
    async fn client_ptr(&self) -> Option<String> {
        let filters = self.ctx.filters.clone();
        let ip = self.peer.ip();
        let lookup =
            || async move { tokio::task::spawn_blocking(move || filters.verified_ptr(ip)).await.ok().flatten() };
        self.ptr.get_or_init(lookup).await.clone()
    }

    /// Sends the `220` greeting.
    pub async fn greet(&mut self) -> std::io::Result<()> {
        let text = format!("{} ESMTP Moat", self.ctx.queue.hostname());
        self.reply(Reply { code: 220, status: None, text: text.into() });
        self.flush().await
    }

    /// Serves commands until the client quits, the connection drops, or STARTTLS hands the stream back.
    pub async fn run(mut self) -> std::io::Result<Ending<T>> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut requests = RequestReceiver::default();
        let mut input = Input::Command;
        // Bytes arriving do not extend a deadline: a command must be whole within the idle timeout of the
        // previous one, and a message must come at least at `min_data_rate` (a client sending a byte a second
        // would otherwise hold its session forever).
        let mut clock = Deadline::new(self.ctx.config.idle_timeout);
        loop {
            let received = match &input {
                Input::Data { body, .. } => body.len(),
                Input::Bdat { .. } => self.transaction.as_ref().and_then(|t| t.chunks.as_ref()).map_or(0, Vec::len),
                Input::Command | Input::Sasl { .. } | Input::Discard { .. } => 0,
            };
            let deadline = clock.due(received, self.ctx.config.min_data_rate);
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(n) => n?,
                Err(_) => {
                    tracing::info!("client too slow or silent: closing the session");
                    self.reply(reply::IDLE_TIMEOUT);
                    return self.close().await;
                }
            };
            if n == 0 {
                self.end_transaction().await;
                return Ok(Ending::Closed);
            }
            let mut bytes = buf[..n].iter();
            loop {
                let line_start = bytes.as_slice();
                let next_input = match &mut input {
                    Input::Command if line_too_long(&mut requests, &mut bytes) => {
                        if self.refuse(reply::LINE_TOO_LONG) {
                            return self.close().await;
                        }
                        None
                    }
                    Input::Command => match requests.ingest(&mut bytes) {
                        Err(smtp_proto::Error::InvalidRecipientAddress) => {
                            self.ctx.metrics.refused_recipients.inc();
                            if self.refuse(bad_recipient(consumed(line_start, &bytes))) {
                                return self.close().await;
                            }
                            None
                        }
                        Ok(request) => {
                            // The next command's time starts when this one is whole.
                            clock.restart();
                            match self.handle(request.into_owned()).await {
                                Next::Continue => None,
                                Next::Data => Some(Input::Data { receiver: DataReceiver::new(), body: Vec::new() }),
                                Next::Bdat { size, last } => {
                                    Some(Input::Bdat { receiver: BdatReceiver::new(size, last) })
                                }
                                Next::DiscardBdat { size, reply, last } => Some(Input::Discard {
                                    receiver: DummyDataReceiver::new_bdat(size),
                                    reply,
                                    ends_message: last,
                                }),
                                Next::Sasl(step) => Some(Input::Sasl { step, line: Vec::new() }),
                                Next::StartTls => {
                                    // Bytes pipelined after STARTTLS are dropped (CVE-2011-0411 command injection).
                                    self.end_transaction().await;
                                    self.flush().await?;
                                    return Ok(Ending::StartTls(self.stream));
                                }
                                Next::Close => {
                                    return self.close().await;
                                }
                            }
                        }
                        Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                        Err(e) => {
                            if self.refuse(protocol_error(e)) {
                                return self.close().await;
                            }
                            None
                        }
                    },
                    Input::Data { receiver, body } => {
                        let complete = receiver.ingest(&mut bytes, body);
                        if complete && body.len() > self.ctx.config.max_message_size {
                            *body = Vec::new();
                            self.message_refused(reply::MESSAGE_TOO_BIG, true).await;
                            Some(Input::Command)
                        } else if complete {
                            let body = std::mem::take(body);
                            self.message_complete(body).await;
                            Some(Input::Command)
                        } else if body.len() > self.ctx.config.max_message_size {
                            let receiver = DummyDataReceiver::new_data(receiver);
                            Some(Input::Discard { receiver, reply: reply::MESSAGE_TOO_BIG, ends_message: true })
                        } else {
                            break;
                        }
                    }
                    Input::Sasl { step, line } => match read_line(&mut bytes, line) {
                        Line::Partial => break,
                        Line::TooLong => {
                            self.refuse(reply::LINE_TOO_LONG);
                            return self.close().await;
                        }
                        Line::Complete => {
                            let text = String::from_utf8_lossy(line).trim_end().to_owned();
                            match self.sasl_response(step.clone(), &text).await {
                                Next::Sasl(step) => Some(Input::Sasl { step, line: Vec::new() }),
                                Next::Close => {
                                    return self.close().await;
                                }
                                _ => Some(Input::Command),
                            }
                        }
                    },
                    Input::Bdat { receiver } => {
                        let chunks = self.transaction.as_mut().and_then(|t| t.chunks.as_mut());
                        let Some(chunks) = chunks else { unreachable!("BDAT input without a transaction") };
                        if receiver.ingest(&mut bytes, chunks) {
                            self.chunk_complete(receiver.is_last).await;
                            Some(Input::Command)
                        } else {
                            break;
                        }
                    }
                    Input::Discard { receiver, reply, ends_message } => {
                        if receiver.ingest(&mut bytes) {
                            let reply = reply.clone();
                            self.message_refused(reply, *ends_message).await;
                            Some(Input::Command)
                        } else {
                            break;
                        }
                    }
                };
                if let Some(next) = next_input {
                    // A new command or message starts its own time.
                    clock.restart();
                    input = next;
                }
            }
            self.flush().await?;
        }
    }

    async fn handle(&mut self, request: Request<String>) -> Next {
        match request {
            Request::Ehlo { host } => {
                self.end_transaction().await;
                self.ehlo(host, true)
            }
            Request::Helo { host } => {
                self.end_transaction().await;
                self.ehlo(host, false)
            }
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data(),
            Request::Bdat { chunk_size, is_last } => self.bdat(chunk_size, is_last),
            Request::StartTls => self.starttls(),
            Request::Rset => {
                self.end_transaction().await;
                self.reply(reply::RESET_OK);
                Next::Continue
            }
            Request::Noop { .. } => {
                self.reply(reply::OK);
                Next::Continue
            }
            Request::Vrfy { .. } => {
                self.reply(reply::VRFY_CANNOT);
                Next::Continue
            }
            Request::Help { .. } => {
                self.reply(Reply::new(214, "2.0.0", "Moat mail gateway; see RFC 5321 for the commands"));
                Next::Continue
            }
            Request::Quit => {
                self.reply(reply::BYE);
                Next::Close
            }
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, initial_response).await,
            Request::Lhlo { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.refuse_next(reply::NOT_IMPLEMENTED),
        }
    }

    /// Sends what is pending and ends the connection cleanly (inside TLS: with its close_notify).
    async fn close(mut self) -> std::io::Result<Ending<T>> {
        self.end_transaction().await;
        self.flush().await?;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.stream.shutdown()).await;
        Ok(Ending::Closed)
    }

    fn starttls(&mut self) -> Next {
        if self.tls.is_some() {
            return self.refuse_next(reply::ALREADY_TLS);
        }
        if self.ctx.tls.is_none() {
            return self.refuse_next(reply::TLS_UNAVAILABLE);
        }
        self.reply(reply::READY_TLS);
        Next::StartTls
    }

    fn reply(&mut self, reply: Reply) {
        reply.write_to(&mut self.out);
    }

    /// Sends an error reply and counts it; true when the session has had too many and must close.
    fn refuse(&mut self, reply: Reply) -> bool {
        tracing::debug!(%reply, "refused");
        self.reply(reply);
        self.errors += 1;
        if self.errors >= self.ctx.config.max_errors {
            self.reply(reply::TOO_MANY_ERRORS);
            return true;
        }
        false
    }

    fn refuse_next(&mut self, reply: Reply) -> Next {
        if self.refuse(reply) { Next::Close } else { Next::Continue }
    }

    /// Writes the pending replies, within the idle timeout: a client that pipelines commands and never reads
    /// the replies would otherwise hold the session (and its task) forever.
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let write = async {
                self.stream.write_all(&self.out).await?;
                self.stream.flush().await
            };
            match tokio::time::timeout(self.ctx.config.idle_timeout, write).await {
                Ok(written) => written?,
                Err(_) => {
                    tracing::info!("client does not read its replies: closing the session");
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading"));
                }
            }
            self.out.clear();
        }
        Ok(())
    }
}

/// When the current command or message must be in: set when it starts, extended only by the data a message
/// brings at the minimum rate.
struct Deadline {
    started: tokio::time::Instant,
    limit: std::time::Duration,
}

impl Deadline {
    fn new(limit: std::time::Duration) -> Self {
        Self { started: tokio::time::Instant::now(), limit }
    }

    fn restart(&mut self) {
        self.started = tokio::time::Instant::now();
    }

    /// The idle limit from the start, plus the time `received` bytes earn at `min_rate` bytes a second.
    fn due(&self, received: usize, min_rate: u64) -> tokio::time::Instant {
        // No rate (0) earns a year: as good as no limit.
        let earned = std::time::Duration::from_secs((received as u64).checked_div(min_rate).unwrap_or(365 * 86400));
        self.started + self.limit + earned
    }
}

/// The receiver limits lines only when they span reads; a whole over-long line in one read is caught here
/// and skipped.
fn line_too_long(requests: &mut RequestReceiver, bytes: &mut std::slice::Iter<'_, u8>) -> bool {
    if !requests.buf().is_empty() {
        return false;
    }
    let rest = bytes.as_slice();
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) if end >= MAX_LINE_LENGTH => {
            *bytes = rest[end + 1..].iter();
            true
        }
        _ => false,
    }
}

enum Line {
    Complete,
    Partial,
    TooLong,
}

/// Appends to `line` up to and including the next LF.
fn read_line(bytes: &mut std::slice::Iter<'_, u8>, line: &mut Vec<u8>) -> Line {
    for &b in bytes.by_ref() {
        if b == b'\n' {
            return Line::Complete;
        }
        if line.len() >= auth::MAX_RESPONSE {
            return Line::TooLong;
        }
        line.push(b);
    }
    Line::Partial
}

/// The bytes the receiver took since `start`.
fn consumed<'a>(start: &'a [u8], rest: &std::slice::Iter<'_, u8>) -> &'a [u8] {
    &start[..start.len() - rest.as_slice().len()]
}

/// The parser refuses domain literals (`user@[192.0.2.1]`) as bad syntax; they are well-formed addresses of
/// a domain Moat never protects, so they get the relay refusal like any foreign domain.
fn bad_recipient(line: &[u8]) -> Reply {
    if line.windows(2).any(|w| w == b"@[") { reply::RELAY_DENIED } else { reply::SYNTAX_RECIPIENT }
}

fn protocol_error(e: smtp_proto::Error) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => reply::UNKNOWN_COMMAND,
        E::InvalidSenderAddress => reply::SYNTAX_SENDER,
        E::InvalidRecipientAddress => reply::SYNTAX_RECIPIENT,
        E::SyntaxError { syntax } => Reply::dynamic(501, "5.5.4", format!("Syntax: {syntax}")),
        E::InvalidParameter { param } => Reply::dynamic(501, "5.5.4", format!("Invalid parameter {param}")),
        E::UnsupportedParameter { param } => {
            let param: String = param.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
            Reply::dynamic(555, "5.5.4", format!("Unsupported parameter {param}"))
        }
        E::ResponseTooLong => reply::LINE_TOO_LONG,
        E::NeedsMoreData { .. } | E::InvalidResponse { .. } => reply::UNKNOWN_COMMAND,
    }
}

#[cfg(test)]
mod tests;
