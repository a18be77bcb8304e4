//! Every delivery error is temporary (retry later) or permanent (bounce now), decided here and only here.

use smtp_proto::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Temporary,
    Permanent,
}

/// What went wrong talking to one downstream host, with the text the log and the DSN show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub severity: Severity,
    pub text: String,
    /// The host did not answer in time (the destination is rested for a while).
    pub timed_out: bool,
}

impl Failure {
    pub fn temporary(text: impl Into<String>) -> Self {
        Self { severity: Severity::Temporary, text: text.into(), timed_out: false }
    }

    pub fn permanent(text: impl Into<String>) -> Self {
        Self { severity: Severity::Permanent, text: text.into(), timed_out: false }
    }

    /// The host did not answer within its timeout.
    pub fn timeout(text: impl Into<String>) -> Self {
        Self { timed_out: true, ..Self::temporary(text) }
    }

    pub fn from_reply(reply: &Response<String>) -> Self {
        let severity = if reply.code >= 500 && reply.code < 600 { Severity::Permanent } else { Severity::Temporary };
        Self { severity, text: reply_text(reply), timed_out: false }
    }

    /// Classifies a client error. No wildcard arm: a new mail-send error kind must be classified here.
    pub fn from_client(err: &mail_send::Error) -> Self {
        use mail_send::Error as E;
        match err {
            E::UnexpectedReply(reply) | E::AuthenticationFailed(reply) => Self::from_reply(reply),
            E::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Self::timeout(format!("connection error: {e}")),
            E::Io(e) => Self::temporary(format!("connection error: {e}")),
            E::Tls(e) => Self::temporary(format!("TLS error: {e}")),
            E::Timeout => Self::timeout("timed out"),
            E::UnparseableReply => Self::temporary("unparseable reply or connection closed"),
            E::MissingStartTls => Self::temporary("STARTTLS not offered"),
            E::InvalidTLSName => Self::temporary("invalid TLS server name"),
            E::Base64(e) => Self::temporary(format!("bad base64 from server: {e}")),
            E::Auth(e) => Self::temporary(format!("authentication error: {e}")),
            E::MissingCredentials | E::MissingMailFrom | E::MissingRcptTo | E::UnsupportedAuthMechanism => {
                Self::temporary(format!("client error: {err}"))
            }
        }
    }
}

/// A reply as one line: `550 5.1.1 No such user`.
pub fn reply_text(reply: &Response<String>) -> String {
    let msg = reply.message.replace(['\r', '\n'], " ");
    if reply.esc[0] != 0 {
        format!("{} {}.{}.{} {msg}", reply.code, reply.esc[0], reply.esc[1], reply.esc[2])
    } else {
        format!("{} {msg}", reply.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_classes_decide_severity() {
        let r = |code| Response { code, esc: [0, 0, 0], message: "x".to_string() };
        assert_eq!(Failure::from_reply(&r(451)).severity, Severity::Temporary);
        assert_eq!(Failure::from_reply(&r(421)).severity, Severity::Temporary);
        assert_eq!(Failure::from_reply(&r(550)).severity, Severity::Permanent);
        assert_eq!(Failure::from_reply(&r(554)).severity, Severity::Permanent);
        let io = mail_send::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(Failure::from_client(&io).severity, Severity::Temporary);
        assert_eq!(Failure::from_client(&mail_send::Error::UnexpectedReply(r(552))).severity, Severity::Permanent);
    }
}
