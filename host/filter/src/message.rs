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

/// The MIME shape of a message: what the host bounds before any plugin sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Structure {
    /// MIME parts, nested messages' parts included.
    pub parts: usize,
    /// How deep multiparts and attached messages nest (a single-part message is 1).
    pub depth: usize,
    /// Header fields of the message itself.
    pub headers: usize,
    /// Header fields of every part.
    pub all_headers: usize,
    /// Bytes of the message's own header section.
    pub header_bytes: usize,
}

/// Bounds on a message's shape that real mail never reaches, and a crafted message meant to exhaust the
/// filters' budgets (100,000 tiny parts, 300,000 headers) far exceeds. Checked by the host before any
/// plugin runs (see `docs/SECURITY.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructureLimits {
    pub parts: usize,
    pub depth: usize,
    pub headers: usize,
    pub all_headers: usize,
    pub header_bytes: usize,
}

impl Default for StructureLimits {
    fn default() -> Self {
        Self { parts: 1_000, depth: 20, headers: 1_000, all_headers: 10_000, header_bytes: 1 << 20 }
    }
}

impl Structure {
    /// The first limit this shape exceeds, as a sentence for the SMTP reply.
    pub fn exceeds(&self, limits: &StructureLimits) -> Option<String> {
        let checks = [
            (self.parts, limits.parts, "MIME parts"),
            (self.depth, limits.depth, "levels of MIME nesting"),
            (self.headers, limits.headers, "header fields"),
            (self.all_headers, limits.all_headers, "header fields in all its parts"),
            (self.header_bytes, limits.header_bytes, "bytes of header"),
        ];
        checks
            .iter()
            .find(|(n, max, _)| n > max)
            .map(|(n, max, what)| format!("the message has {n} {what}, more than the {max} accepted"))
    }

    fn of(m: &mail_parser::Message<'_>, raw: &[u8]) -> Self {
        let mut shape = Structure { header_bytes: header_section_len(raw), ..Structure::default() };
        shape.headers = m.parts.first().map_or(0, |p| p.headers.len());
        shape.walk(m, 1);
        shape
    }

    fn walk(&mut self, m: &mail_parser::Message<'_>, depth: usize) {
        self.parts += m.parts.len();
        self.all_headers += m.parts.iter().map(|p| p.headers.len()).sum::<usize>();
        self.depth = self.depth.max(depth + part_depth(m, 0, 0));
        for part in &m.parts {
            if let mail_parser::PartType::Message(nested) = &part.body {
                self.walk(nested, depth + 1);
            }
        }
    }
}

/// How many multipart levels lie below part `id` (0 for a leaf). Iterative in spirit: bounded by the parts
/// themselves, and a part listing itself as its own child is not followed.
fn part_depth(m: &mail_parser::Message<'_>, id: usize, level: usize) -> usize {
    match m.parts.get(id).map(|p| &p.body) {
        Some(mail_parser::PartType::Multipart(children)) if level < 64 => children
            .iter()
            .filter(|c| **c as usize > id)
            .map(|c| 1 + part_depth(m, *c as usize, level + 1))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// Bytes up to the blank line that ends the header section (with either line end), or the whole message.
fn header_section_len(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min().unwrap_or(raw.len())
}

/// A header's value as written: its own occurrence (not the first of its name), unfolded and trimmed.
fn header_value(raw: &[u8], h: &mail_parser::Header<'_>) -> String {
    let bytes = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
    String::from_utf8_lossy(bytes).replace("\r\n", "").replace('\n', "").trim().to_owned()
}

/// What a message holds once parsed: shared by every tenant group of a transaction and every plugin.
pub struct Content {
    raw: Vec<u8>,
    headers: Vec<(String, String)>,
    subject: Option<String>,
    text: Vec<String>,
    html: Vec<String>,
    attachments: Vec<AttachmentPart>,
    structure: Structure,
}

/// A message parsed once, with what the host knows of its transaction; cheap to share between the plugins
/// of a chain.
pub struct ParsedMessage {
    facts: MessageFacts,
    content: Arc<Content>,
}

impl ParsedMessage {
    pub fn parse(raw: Vec<u8>, facts: MessageFacts) -> Arc<Self> {
        Self::new(Content::parse(raw), facts)
    }

    /// The message `content` as one tenant group's chain sees it.
    pub fn new(content: Arc<Content>, facts: MessageFacts) -> Arc<Self> {
        Arc::new(Self { facts, content })
    }

    pub fn size(&self) -> usize {
        self.content.raw.len()
    }
}

impl Content {
    pub fn parse(raw: Vec<u8>) -> Arc<Self> {
        let parsed = mail_parser::MessageParser::default().parse(&raw);
        let (mut headers, mut subject, mut text, mut html, mut attachments) =
            (Vec::new(), None, Vec::new(), Vec::new(), Vec::new());
        let mut structure = Structure { header_bytes: header_section_len(&raw), ..Structure::default() };
        if let Some(m) = &parsed {
            structure = Structure::of(m, &raw);
            headers = m.headers().iter().map(|h| (h.name().to_owned(), header_value(&raw, h))).collect();
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
        drop(parsed);
        Arc::new(Self { raw, headers, subject, text, html, attachments, structure })
    }

    pub fn structure(&self) -> Structure {
        self.structure
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
        self.content.headers.iter().map(|(n, v)| wit::Header { name: n.clone(), value: v.clone() }).collect()
    }
    pub(crate) fn wit_header(&self, name: &str) -> Vec<String> {
        self.content.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
    }
    pub(crate) fn wit_subject(&self) -> Option<String> {
        self.content.subject.clone()
    }
    pub(crate) fn wit_text_parts(&self) -> Vec<String> {
        self.content.text.clone()
    }
    pub(crate) fn wit_html_parts(&self) -> Vec<String> {
        self.content.html.clone()
    }
    pub(crate) fn wit_attachments(&self) -> Vec<wit::Attachment> {
        self.content
            .attachments
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
        self.content.attachments.get(index as usize).map(|a| a.bytes.clone())
    }
    pub(crate) fn wit_raw(&self) -> Vec<u8> {
        self.content.raw.clone()
    }
    pub(crate) fn wit_size(&self) -> u64 {
        self.content.raw.len() as u64
    }
}
