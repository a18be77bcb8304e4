//! A mail message parsed once, as Moat's filters see it. The host's filter runtime hands it to plugins and the
//! SDK's test harness builds the very same view from `.eml` files, so a filter behaves in its unit tests as it
//! does in the gateway: one parser, one list of header fields, one sniffer.

mod headers;
mod sniff;
mod structure;

pub use sniff::sniff;
pub use structure::{Structure, StructureLimits};

/// An attachment: its name and types as declared and as its first bytes betray, and its decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: Option<String>,
    pub declared_type: String,
    pub sniffed_type: String,
    pub bytes: Vec<u8>,
}

/// A header field: its name as written and its value unfolded, with RFC 2047 encoded words decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A message parsed once.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    raw: Vec<u8>,
    headers: Vec<Header>,
    subject: Option<String>,
    text: Vec<String>,
    html: Vec<String>,
    attachments: Vec<Attachment>,
    structure: Structure,
    from: Vec<String>,
    to: Vec<String>,
    message_id: Option<String>,
    /// The message's own header fields as mail-parser read them (no bodies, no raw copy): what DKIM, SPF and
    /// DMARC checks read, so they need no parse of their own.
    root: mail_parser::Message<'static>,
}

impl Mail {
    /// Parses `raw` (RFC 5322, CRLF or bare LF line ends). Bytes that are no message give an empty view,
    /// never an error: filters judge what they can see.
    pub fn parse(raw: Vec<u8>) -> Self {
        use mail_parser::MimeHeaders;
        let mut mail = Mail { structure: Structure::unparsed(&raw), ..Mail::default() };
        if let Some(m) = parser().parse(&raw) {
            mail.structure = Structure::of(&m, &raw);
            mail.headers = m.headers().iter().map(|h| headers::field(&raw, h)).collect();
            mail.subject = m.subject().map(str::to_owned);
            mail.text = (0..m.text_body_count()).filter_map(|i| m.body_text(i)).map(|t| t.into_owned()).collect();
            // The HTML parts as sent: mail-parser's `body_html` also turns a text-only message's text into an
            // HTML part, which filters would read a second time (link and page checks, tag stripping).
            mail.html = m
                .html_body
                .iter()
                .filter_map(|id| match m.parts.get(*id as usize).map(|p| &p.body) {
                    Some(mail_parser::PartType::Html(html)) => Some(html.to_string()),
                    _ => None,
                })
                .collect();
            mail.attachments = m
                .attachments()
                .map(|part| {
                    let declared_type = part
                        .content_type()
                        .map(|ct| match ct.subtype() {
                            Some(sub) => format!("{}/{}", ct.ctype(), sub),
                            None => ct.ctype().to_owned(),
                        })
                        .unwrap_or_else(|| "application/octet-stream".into());
                    let bytes = part.contents().to_vec();
                    Attachment {
                        name: part.attachment_name().map(str::to_owned),
                        declared_type,
                        sniffed_type: sniff(&bytes).into(),
                        bytes,
                    }
                })
                .collect();
            let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
                a.map(|a| a.iter().filter_map(|a| a.address()).map(str::to_owned).collect()).unwrap_or_default()
            };
            mail.from = addresses(m.from());
            mail.to = addresses(m.to());
            mail.message_id = m.message_id().map(str::to_owned);
            mail.root = header_only(&m);
        }
        mail.raw = raw;
        mail
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Every header field, in order, each occurrence with its own value.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The values of the fields named `name` (any case), in order.
    pub fn header(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The text parts, decoded; an HTML part with no text alternative is here too, converted to text (what a
    /// reader of the message reads).
    pub fn text_parts(&self) -> &[String] {
        &self.text
    }

    /// The `text/html` parts as sent, decoded (a text-only message has none).
    pub fn html_parts(&self) -> &[String] {
        &self.html
    }

    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    pub fn structure(&self) -> Structure {
        self.structure
    }

    /// The first `From:` address.
    pub fn from_address(&self) -> Option<&str> {
        self.from.first().map(String::as_str)
    }

    /// Every `From:` address (RFC 5322 allows several).
    pub fn from_addresses(&self) -> &[String] {
        &self.from
    }

    /// The `To:` addresses.
    pub fn to_addresses(&self) -> &[String] {
        &self.to
    }

    /// The `Message-ID:` without its angle brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The message's own header fields as mail-parser parsed them, with no body and no copy of the bytes
    /// (pass [`Mail::raw`] alongside): for mail-auth's `AuthenticatedMessage::from_parsed`.
    pub fn parsed_headers(&self) -> &mail_parser::Message<'static> {
        &self.root
    }
}

/// mail-parser as it parses by default, with `Received:` kept raw: its structured parse cost a third of the
/// header parsing and nothing reads it (each field's value comes from the bytes, DKIM only counts the fields).
/// A map given to mail-parser replaces its defaults, so they are all listed.
fn parser() -> &'static mail_parser::MessageParser {
    use mail_parser::HeaderName as H;
    static PARSER: std::sync::OnceLock<mail_parser::MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| {
        let lists =
            [H::ListArchive, H::ListHelp, H::ListId, H::ListOwner, H::ListPost, H::ListSubscribe, H::ListUnsubscribe];
        lists
            .into_iter()
            .fold(mail_parser::MessageParser::new(), |p, name| p.header_address(name))
            .with_mime_headers()
            .with_date_headers()
            .with_address_headers()
            .with_message_ids()
            .header_id(H::ReturnPath)
            .header_text(H::Subject)
            .header_text(H::Comments)
            .header_comma_separated(H::Keywords)
            .header_comma_separated(H::ContentLanguage)
            .header_raw(H::Received)
    })
}

/// The root part of `m` (its header fields and where its body starts) as an owned message of its own.
fn header_only(m: &mail_parser::Message<'_>) -> mail_parser::Message<'static> {
    let parts = m
        .parts
        .first()
        .map(|root| {
            let mut root = root.clone();
            root.body = mail_parser::PartType::Text("".into());
            vec![root]
        })
        .unwrap_or_default();
    mail_parser::Message { parts, raw_message: std::borrow::Cow::Borrowed(&[]), ..Default::default() }.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_keeps_its_own_value_decoded_and_unfolded() {
        let raw = b"Received: from a.example by mx1\r\n\tfor <x@y>; Mon, 1 Jan 2024 00:00:00 +0000\r\n\
                    Received: from b.example by mx2; Mon, 1 Jan 2024 00:00:01 +0000\r\n\
                    Received: from c.example by mx3; Mon, 1 Jan 2024 00:00:02 +0000\r\n\
                    From: =?utf-8?q?Jos=C3=A9?= <jose@x.example>\r\n\
                    Subject: =?utf-8?b?w4lsw6hhbmU=?= news\r\n\r\nbody\r\n";
        let mail = Mail::parse(raw.to_vec());
        let received: Vec<&str> = mail.header("received").collect();
        assert_eq!(
            received,
            [
                "from a.example by mx1\tfor <x@y>; Mon, 1 Jan 2024 00:00:00 +0000",
                "from b.example by mx2; Mon, 1 Jan 2024 00:00:01 +0000",
                "from c.example by mx3; Mon, 1 Jan 2024 00:00:02 +0000",
            ]
        );
        assert_eq!(mail.header("Subject").next(), Some("Élèane news"));
        assert_eq!(mail.subject(), Some("Élèane news"));
        assert_eq!(mail.header("From").next(), Some("José <jose@x.example>"));
        assert_eq!(mail.from_address(), Some("jose@x.example"));
        assert_eq!(mail.parsed_headers().root_part().headers.len(), 5, "the root's fields, for DKIM");
        assert_eq!(mail.parsed_headers().raw_message.len(), 0, "no second copy of the bytes");
    }

    #[test]
    fn fields_are_parsed_as_mail_parser_does_by_default_but_received() {
        let raw = b"Return-Path: <b@x.example>\r\nReceived: from a.example by mx1; Mon, 1 Jan 2024 00:00:00 +0000\r\n\
                    From: A <a@x.example>\r\nSender: s@x.example\r\nReply-To: r@x.example\r\nTo: t@y.example\r\n\
                    Cc: c@y.example\r\nBcc: b@y.example\r\nResent-From: rf@x.example\r\nResent-Sender: rs@x.example\r\n\
                    Resent-To: rt@y.example\r\nResent-Cc: rc@y.example\r\nResent-Bcc: rb@y.example\r\n\
                    Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-Message-ID: <r@x>\r\n\
                    List-Archive: <https://l/a>\r\nList-Help: <mailto:h@l>\r\nList-Id: L <l.x.example>\r\n\
                    List-Owner: <mailto:o@l>\r\nList-Post: <mailto:p@l>\r\nList-Subscribe: <mailto:s@l>\r\n\
                    List-Unsubscribe: <mailto:u@l>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
                    Message-ID: <m@x>\r\nIn-Reply-To: <i@x>\r\nReferences: <a@x> <b@x>\r\n\
                    Subject: =?utf-8?q?caf=C3=A9?=\r\nComments: =?utf-8?q?s=C3=AD?=\r\nKeywords: a, b\r\n\
                    MIME-Version: 1.0\r\nContent-Language: en, es\r\nContent-Type: text/plain; charset=utf-8\r\n\
                    Content-Disposition: inline\r\nContent-ID: <c@x>\r\nContent-Description: d\r\n\
                    Content-Location: l\r\nContent-Transfer-Encoding: 8bit\r\nX-Other: =?utf-8?q?x?=\r\n\r\nbody\r\n";
        let ours = parser().parse(&raw[..]).unwrap();
        let default = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
        let (ours, default) = (ours.headers(), default.headers());
        assert_eq!(ours.len(), default.len());
        for (o, d) in ours.iter().zip(default) {
            if o.name == mail_parser::HeaderName::Received {
                assert!(matches!(o.value, mail_parser::HeaderValue::Text(_)), "kept raw");
            } else {
                assert_eq!(o.value, d.value, "{}", o.name.as_str());
            }
            assert_eq!((o.offset_start, o.offset_end), (d.offset_start, d.offset_end));
        }
    }

    #[test]
    fn html_parts_are_the_html_sent_and_text_parts_what_a_reader_reads() {
        let text_only = Mail::parse(b"Subject: x\r\n\r\nHello there http://x.test/\r\n".to_vec());
        assert_eq!(text_only.text_parts(), ["Hello there http://x.test/\r\n"]);
        assert!(text_only.html_parts().is_empty(), "no HTML made from the text: {:?}", text_only.html_parts());
        let html_only =
            Mail::parse(b"Subject: x\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n".to_vec());
        assert_eq!(html_only.html_parts(), ["<p>Hello <b>there</b></p>\r\n"]);
        assert_eq!(html_only.text_parts(), ["Hello there\n"], "its text as read");
    }

    /// Read as UTF-8, East Asian charsets came out as replacement characters: a classifier saw no words.
    #[test]
    fn east_asian_charsets_are_decoded() {
        let body = |charset: &str, bytes: &[u8]| {
            let mut raw = format!(
                "Subject: =?big5?B?p0u2Tw==?= now\r\nContent-Type: text/plain; charset={charset}\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\n"
            )
            .into_bytes();
            raw.extend_from_slice(bytes);
            let mail = Mail::parse(raw);
            assert_eq!(mail.subject(), Some("免費 now"));
            mail.text_parts()[0].trim_end().to_owned()
        };
        assert_eq!(body("big5", b"\xa4\xa4\xa4\xe5"), "中文");
        assert_eq!(body("gb2312", b"\xbc\xf2\xcc\xe5\xd6\xd0\xce\xc4"), "简体中文");
        assert_eq!(body("euc-kr", b"\xc7\xd1\xb1\xb9\xbe\xee"), "한국어");
        assert_eq!(body("shift_jis", b"\x93\xfa\x96{\x8c\xea"), "日本語");
        assert_eq!(body("iso-2022-jp", b"\x1b$BF|K\\8l\x1b(B"), "日本語");
    }

    #[test]
    fn bare_lf_messages_and_non_messages_parse() {
        let mail = Mail::parse(b"Subject: hi\nX-A: 1\n\nbody\n".to_vec());
        assert_eq!(mail.header("x-a").collect::<Vec<_>>(), ["1"]);
        assert_eq!(mail.text_parts(), ["body\n"]);
        let junk = Mail::parse(Vec::new());
        assert!(junk.headers().is_empty() && junk.subject().is_none());
    }
}
