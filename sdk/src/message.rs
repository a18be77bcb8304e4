//! The message as a filter sees it. In the gateway every accessor is a call into the host, which copies only
//! what was asked for; in native tests the same accessors read a [`crate::testing::TestMessage`].

use crate::wit::moat::filter::types as wit;
use crate::{Connection, Recipient};

/// A header, with its value decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// As written, e.g. "Reply-To".
    pub name: String,
    /// Decoded (RFC 2047 words, unfolded).
    pub value: String,
}

/// An attachment's description; its bytes come from [`Message::attachment_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Pass to [`Message::attachment_bytes`].
    pub index: u32,
    /// The file name the sender gave, if any.
    pub name: Option<String>,
    /// The Content-Type the sender declared.
    pub declared_type: String,
    /// The type the content looks like (magic numbers).
    pub sniffed_type: String,
    /// Decoded size in bytes.
    pub size: u64,
}

/// An SPF, DKIM or DMARC result as the host evaluated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthResult {
    /// Not evaluated, or nothing published.
    #[default]
    None,
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// SPF `~all`.
    Softfail,
    /// The domain states no opinion.
    Neutral,
    /// A temporary error (DNS timeout).
    Temperror,
    /// The published record is broken.
    Permerror,
}

/// SPF, DKIM and DMARC for the message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authentication {
    /// SPF of the envelope sender.
    pub spf: AuthResult,
    /// DKIM signatures.
    pub dkim: AuthResult,
    /// DMARC alignment.
    pub dmarc: AuthResult,
    /// The sender domain's published DMARC policy ("none", "quarantine", "reject").
    pub dmarc_policy: Option<String>,
}

enum Source<'a> {
    Host(&'a wit::Message),
    #[cfg(not(target_arch = "wasm32"))]
    Test(&'a crate::testing::TestMessage),
}

/// The message after DATA, parsed once by the host.
pub struct Message<'a>(Source<'a>);

macro_rules! dispatch {
    ($self:ident, $host:ident => $on_host:expr, $test:ident => $on_test:expr) => {
        match &$self.0 {
            Source::Host($host) => $on_host,
            #[cfg(not(target_arch = "wasm32"))]
            Source::Test($test) => $on_test,
        }
    };
}

impl<'a> Message<'a> {
    #[doc(hidden)]
    pub fn from_host(message: &'a wit::Message) -> Self {
        Message(Source::Host(message))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn from_test(message: &'a crate::testing::TestMessage) -> Self {
        Message(Source::Test(message))
    }

    /// The envelope sender (`MAIL FROM`); empty for `<>`.
    pub fn sender(&self) -> String {
        dispatch!(self, m => m.sender(), t => t.sender.clone())
    }

    /// The envelope recipients this chain judges (one tenant's), with what the directory knows of them.
    pub fn recipients(&self) -> Vec<Recipient> {
        dispatch!(self, m => m.recipients(), t => t.recipients.clone())
    }

    /// The SMTP client.
    pub fn connection(&self) -> Connection {
        dispatch!(self, m => m.connection(), t => t.connection.clone())
    }

    /// SPF, DKIM and DMARC results.
    pub fn authentication(&self) -> Authentication {
        dispatch!(self, m => authentication(m.authentication()), t => t.authentication.clone())
    }

    /// Every header, in order.
    pub fn headers(&self) -> Vec<Header> {
        dispatch!(self,
            m => m.headers().into_iter().map(|h| Header { name: h.name, value: h.value }).collect(),
            t => t.headers.clone())
    }

    /// The values of every header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<String> {
        dispatch!(self,
            m => m.header(name),
            t => t.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.clone()).collect())
    }

    /// The decoded subject.
    pub fn subject(&self) -> Option<String> {
        dispatch!(self, m => m.subject(), t => t.subject.clone())
    }

    /// Decoded text parts; an HTML part with no text alternative is included converted to text (what a reader
    /// of the message reads).
    pub fn text_parts(&self) -> Vec<String> {
        dispatch!(self, m => m.text_parts(), t => t.text.clone())
    }

    /// Decoded text/html parts as sent (a text-only message has none).
    pub fn html_parts(&self) -> Vec<String> {
        dispatch!(self, m => m.html_parts(), t => t.html.clone())
    }

    /// The attachments, without their bytes.
    pub fn attachments(&self) -> Vec<Attachment> {
        dispatch!(self,
            m => m.attachments().into_iter().map(|a| Attachment {
                index: a.index,
                name: a.name,
                declared_type: a.declared_type,
                sniffed_type: a.sniffed_type,
                size: a.size,
            }).collect(),
            t => t.attachments.iter().map(|(a, _)| a.clone()).collect())
    }

    /// The decoded bytes of attachment `index`.
    pub fn attachment_bytes(&self, index: u32) -> Option<Vec<u8>> {
        dispatch!(self, m => m.attachment_bytes(index), t => t.attachments.get(index as usize).map(|(_, b)| b.clone()))
    }

    /// The message as received. Copies the whole message into the filter: prefer the accessors above.
    pub fn raw(&self) -> Vec<u8> {
        dispatch!(self, m => m.raw(), t => t.raw.clone())
    }

    /// Size in bytes, as received.
    pub fn size(&self) -> u64 {
        dispatch!(self, m => m.size(), t => t.raw.len() as u64)
    }
}

fn auth(r: wit::AuthResult) -> AuthResult {
    match r {
        wit::AuthResult::None => AuthResult::None,
        wit::AuthResult::Pass => AuthResult::Pass,
        wit::AuthResult::Fail => AuthResult::Fail,
        wit::AuthResult::Softfail => AuthResult::Softfail,
        wit::AuthResult::Neutral => AuthResult::Neutral,
        wit::AuthResult::Temperror => AuthResult::Temperror,
        wit::AuthResult::Permerror => AuthResult::Permerror,
    }
}

fn authentication(a: wit::Authentication) -> Authentication {
    Authentication { spf: auth(a.spf), dkim: auth(a.dkim), dmarc: auth(a.dmarc), dmarc_policy: a.dmarc_policy }
}
