//! The message as plugins see it: parsed once by the host, shared by every plugin of the chain, and copied
//! into a plugin only through the accessor it calls.

use crate::bindings::moat::filter::types as wit;
use std::sync::Arc;

/// SPF, DKIM or DMARC result as the host evaluated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthResult {
    #[default]
    None,
    Pass,
    Fail,
    Softfail,
    Neutral,
    Temperror,
    Permerror,
}

#[derive(Debug, Clone, Default)]
pub struct Authentication {
    pub spf: AuthResult,
    pub dkim: AuthResult,
    pub dmarc: AuthResult,
    pub dmarc_policy: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionFacts {
    pub client_ip: String,
    pub ptr: Option<String>,
    pub helo: String,
    pub tls: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RecipientFacts {
    pub address: String,
    pub tenant: String,
    pub domain: String,
    pub mailbox: String,
}

/// What the host knows besides the message bytes.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    pub sender: String,
    pub recipients: Vec<RecipientFacts>,
    pub connection: ConnectionFacts,
    pub authentication: Authentication,
}

struct AttachmentPart {
    name: Option<String>,
    declared_type: String,
    sniffed_type: String,
    bytes: Vec<u8>,
}

/// A message parsed once; cheap to share between the plugins of a chain.
pub struct ParsedMessage {
    facts: MessageFacts,
    raw: Vec<u8>,
    headers: Vec<(String, String)>,
    subject: Option<String>,
    text: Vec<String>,
    html: Vec<String>,
    attachments: Vec<AttachmentPart>,
}

impl ParsedMessage {
    pub fn parse(raw: Vec<u8>, facts: MessageFacts) -> Arc<Self> {
        let parsed = mail_parser::MessageParser::default().parse(&raw);
        let (mut headers, mut subject, mut text, mut html, mut attachments) =
            (Vec::new(), None, Vec::new(), Vec::new(), Vec::new());
        if let Some(m) = &parsed {
            headers = m
                .headers()
                .iter()
                .map(|h| (h.name().to_owned(), m.header_raw(h.name()).map(|v| v.trim().to_owned()).unwrap_or_default()))
                .collect();
            subject = m.subject().map(str::to_owned);
            text = (0..m.text_body_count()).filter_map(|i| m.body_text(i)).map(|t| t.into_owned()).collect();
            html = (0..m.html_body_count()).filter_map(|i| m.body_html(i)).map(|t| t.into_owned()).collect();
            for part in m.attachments() {
                use mail_parser::MimeHeaders;
                let declared = part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into());
                let bytes = part.contents().to_vec();
                attachments.push(AttachmentPart {
                    name: part.attachment_name().map(str::to_owned),
                    declared_type: declared,
                    sniffed_type: sniff(&bytes).into(),
                    bytes,
                });
            }
        }
        Arc::new(Self { facts, raw, headers, subject, text, html, attachments })
    }
}

impl ParsedMessage {
    pub fn facts(&self) -> &MessageFacts {
        &self.facts
    }
}

/// The content type the first bytes betray, for the types filters most often care about. The SDK's test
/// harness has a copy (sdk/src/testing.rs): keep the two in step.
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [b'M', b'Z', ..] => "application/x-msdownload",
        [0x7f, b'E', b'L', b'F', ..] => "application/x-executable",
        [b'P', b'K', 3, 4, ..] => "application/zip",
        [b'%', b'P', b'D', b'F', ..] => "application/pdf",
        [0xd0, 0xcf, 0x11, 0xe0, ..] => "application/x-ole-storage",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'a', b'r', b'!', ..] => "application/x-rar-compressed",
        _ if bytes.iter().take(512).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The host side of the `message` resource handed to one plugin.
pub struct MessageView(pub(crate) Arc<ParsedMessage>);

pub(crate) fn connection(c: &ConnectionFacts) -> wit::Connection {
    wit::Connection { client_ip: c.client_ip.clone(), ptr: c.ptr.clone(), helo: c.helo.clone(), tls: c.tls.clone() }
}

pub(crate) fn recipient(r: &RecipientFacts) -> wit::Recipient {
    wit::Recipient {
        address: r.address.clone(),
        tenant: r.tenant.clone(),
        domain: r.domain.clone(),
        mailbox: r.mailbox.clone(),
    }
}

fn auth(a: AuthResult) -> wit::AuthResult {
    match a {
        AuthResult::None => wit::AuthResult::None,
        AuthResult::Pass => wit::AuthResult::Pass,
        AuthResult::Fail => wit::AuthResult::Fail,
        AuthResult::Softfail => wit::AuthResult::Softfail,
        AuthResult::Neutral => wit::AuthResult::Neutral,
        AuthResult::Temperror => wit::AuthResult::Temperror,
        AuthResult::Permerror => wit::AuthResult::Permerror,
    }
}

impl ParsedMessage {
    pub(crate) fn wit_sender(&self) -> String {
        self.facts.sender.clone()
    }
    pub(crate) fn wit_recipients(&self) -> Vec<wit::Recipient> {
        self.facts.recipients.iter().map(recipient).collect()
    }
    pub(crate) fn wit_connection(&self) -> wit::Connection {
        connection(&self.facts.connection)
    }
    pub(crate) fn wit_authentication(&self) -> wit::Authentication {
        let a = &self.facts.authentication;
        wit::Authentication {
            spf: auth(a.spf),
            dkim: auth(a.dkim),
            dmarc: auth(a.dmarc),
            dmarc_policy: a.dmarc_policy.clone(),
        }
    }
    pub(crate) fn wit_headers(&self) -> Vec<wit::Header> {
        self.headers.iter().map(|(n, v)| wit::Header { name: n.clone(), value: v.clone() }).collect()
    }
    pub(crate) fn wit_header(&self, name: &str) -> Vec<String> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
    }
    pub(crate) fn wit_subject(&self) -> Option<String> {
        self.subject.clone()
    }
    pub(crate) fn wit_text_parts(&self) -> Vec<String> {
        self.text.clone()
    }
    pub(crate) fn wit_html_parts(&self) -> Vec<String> {
        self.html.clone()
    }
    pub(crate) fn wit_attachments(&self) -> Vec<wit::Attachment> {
        self.attachments
            .iter()
            .enumerate()
            .map(|(i, a)| wit::Attachment {
                index: i as u32,
                name: a.name.clone(),
                declared_type: a.declared_type.clone(),
                sniffed_type: a.sniffed_type.clone(),
                size: a.bytes.len() as u64,
            })
            .collect()
    }
    pub(crate) fn wit_attachment_bytes(&self, index: u32) -> Option<Vec<u8>> {
        self.attachments.get(index as usize).map(|a| a.bytes.clone())
    }
    pub(crate) fn wit_raw(&self) -> Vec<u8> {
        self.raw.clone()
    }
    pub(crate) fn wit_size(&self) -> u64 {
        self.raw.len() as u64
    }
}
