//! SMTP replies, with their RFC 3463 enhanced status codes. Every reply text Moat sends is here, so the
//! codes can be checked against RFC 5321 in one place.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code (`class.subject.detail`), omitted for greetings and EHLO.
    pub status: Option<Cow<'static, str>>,
    pub text: Cow<'static, str>,
}

impl Reply {
    pub const fn new(code: u16, status: &'static str, text: &'static str) -> Self {
        Self { code, status: Some(Cow::Borrowed(status)), text: Cow::Borrowed(text) }
    }

    pub fn dynamic(code: u16, status: &'static str, text: String) -> Self {
        Self { code, status: Some(Cow::Borrowed(status)), text: Cow::Owned(text) }
    }

    /// A reply a filter chose (its code and enhanced status already checked by the filter runtime).
    pub fn from_filter(code: u16, status: &str, text: &str) -> Self {
        Self { code, status: Some(Cow::Owned(status.to_owned())), text: Cow::Owned(text.to_owned()) }
    }

    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let sep = if lines.peek().is_some() { '-' } else { ' ' };
            let line = line.trim_end_matches('\r');
            let status = self.status.as_deref().map(|s| format!("{s} ")).unwrap_or_default();
            out.extend_from_slice(format!("{}{sep}{status}{line}\r\n", self.code).as_bytes());
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Some(s) => write!(f, "{} {s} {}", self.code, self.text),
            None => write!(f, "{} {}", self.code, self.text),
        }
    }
}

pub const OK: Reply = Reply::new(250, "2.0.0", "OK");
pub const SENDER_OK: Reply = Reply::new(250, "2.1.0", "Sender OK");
pub const RECIPIENT_OK: Reply = Reply::new(250, "2.1.5", "Recipient OK");
pub const RESET_OK: Reply = Reply::new(250, "2.0.0", "Reset OK");
pub const VRFY_CANNOT: Reply =
    Reply::new(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
pub const START_DATA: Reply =
    Reply { code: 354, status: None, text: Cow::Borrowed("Start mail input; end with <CRLF>.<CRLF>") };
pub const READY_TLS: Reply = Reply::new(220, "2.0.0", "Ready to start TLS");
pub const BYE: Reply = Reply::new(221, "2.0.0", "Bye");

pub const IDLE_TIMEOUT: Reply = Reply::new(421, "4.4.2", "Idle timeout, closing connection");
pub const TOO_MANY_ERRORS: Reply = Reply::new(421, "4.7.0", "Too many errors, closing connection");
pub const TOO_MANY_CONNECTIONS: Reply = Reply::new(421, "4.7.0", "Too many connections from your address, try later");
pub const CONNECTING_TOO_OFTEN: Reply =
    Reply::new(421, "4.7.0", "Too many connections from your address this minute, try later");
pub const NETWORK_CONNECTING_TOO_OFTEN: Reply =
    Reply::new(421, "4.7.0", "Too many connections from your network this minute, try later");
pub const SERVER_BUSY: Reply = Reply::new(421, "4.3.2", "Too many connections, try later");
pub const SHUTTING_DOWN: Reply = Reply::new(421, "4.3.2", "Service shutting down, try later");
pub const TEMP_DIRECTORY: Reply = Reply::new(451, "4.3.0", "Directory temporarily unavailable, try again later");
pub const TEMP_UNVERIFIED: Reply =
    Reply::new(451, "4.4.3", "Cannot verify the recipient with the destination server now, try again later");
pub const TEMP_SIGNUP: Reply = Reply::new(451, "4.7.1", "The recipient cannot be signed up now, try again later");
pub const TEMP_QUEUE: Reply = Reply::new(451, "4.3.0", "Could not queue the message, try again later");
pub const TOO_MANY_RECIPIENTS: Reply = Reply::new(452, "4.5.3", "Too many recipients");
pub const TLS_UNAVAILABLE: Reply = Reply::new(454, "4.7.0", "TLS not available");

pub const UNKNOWN_COMMAND: Reply = Reply::new(500, "5.5.1", "Command unrecognized");
pub const LINE_TOO_LONG: Reply = Reply::new(500, "5.5.2", "Line too long");
pub const SYNTAX_SENDER: Reply = Reply::new(501, "5.1.7", "Bad sender address syntax");
pub const SYNTAX_RECIPIENT: Reply = Reply::new(501, "5.1.3", "Bad recipient address syntax");
pub const NOT_IMPLEMENTED: Reply = Reply::new(502, "5.5.1", "Command not implemented");
pub const NEED_HELO: Reply = Reply::new(503, "5.5.1", "Say EHLO or HELO first");
pub const NEED_MAIL: Reply = Reply::new(503, "5.5.1", "Need MAIL command first");
pub const NESTED_MAIL: Reply = Reply::new(503, "5.5.1", "Sender already specified");
pub const NEED_RCPT: Reply = Reply::new(503, "5.5.1", "Need RCPT command first");
pub const ALREADY_TLS: Reply = Reply::new(503, "5.5.1", "TLS already active");
pub const BDAT_AFTER_DATA: Reply = Reply::new(503, "5.5.1", "DATA and BDAT cannot be mixed");
pub const NO_VALID_RECIPIENTS: Reply = Reply::new(554, "5.5.1", "No valid recipients");
pub const UNKNOWN_USER: Reply = Reply::new(550, "5.1.1", "Recipient address rejected: user unknown");
pub const RELAY_DENIED: Reply = Reply::new(550, "5.7.1", "Relay access denied");
pub const MESSAGE_TOO_BIG: Reply = Reply::new(552, "5.3.4", "Message size exceeds fixed limit");
// AUTH (RFC 4954) and the submission listeners' policy.
pub const AUTH_OK: Reply = Reply::new(235, "2.7.0", "Authentication successful");
pub const AUTH_NOT_ENABLED: Reply = Reply::new(503, "5.5.1", "Authentication not enabled on this port");
pub const AUTH_ALREADY: Reply = Reply::new(503, "5.5.1", "Already authenticated");
pub const AUTH_IN_TRANSACTION: Reply = Reply::new(503, "5.5.1", "AUTH not allowed during a mail transaction");
pub const AUTH_MECHANISM: Reply = Reply::new(504, "5.5.4", "Unrecognized authentication type (PLAIN, LOGIN)");
pub const AUTH_ENCRYPTION_REQUIRED: Reply =
    Reply::new(538, "5.7.11", "Encryption required for requested authentication mechanism: STARTTLS first");
pub const AUTH_INVALID: Reply = Reply::new(535, "5.7.8", "Authentication credentials invalid");
pub const AUTH_CANCELLED: Reply = Reply::new(501, "5.7.0", "Authentication cancelled");
pub const AUTH_SYNTAX: Reply = Reply::new(501, "5.5.2", "Cannot decode the authentication response");
pub const AUTH_LOCKED: Reply =
    Reply::new(421, "4.7.0", "Too many failed authentications; try again later, closing connection");
pub const AUTH_TEMPORARY: Reply = Reply::new(454, "4.7.0", "Temporary authentication failure");
pub const AUTH_REQUIRED: Reply = Reply::new(530, "5.7.0", "Authentication required");
pub const SENDER_NOT_OWNED: Reply = Reply::new(553, "5.7.1", "Sender address not allowed for this account");
pub const FROM_NOT_OWNED: Reply =
    Reply::new(553, "5.7.1", "From: header address not allowed for this account; the message is refused");
pub const NEED_SMTPUTF8: Reply = Reply::new(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_use_dash_continuations() {
        let mut out = Vec::new();
        Reply::dynamic(250, "2.0.0", "one\ntwo".into()).write_to(&mut out);
        assert_eq!(out, b"250-2.0.0 one\r\n250 2.0.0 two\r\n");
    }
}
