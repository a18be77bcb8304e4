//! A held message shown safely: its text, its HTML sanitized (ammonia: no scripts, no styles that load
//! anything, no images, no live links — every link target is listed as text instead), and what it carries
//! (attachment names, types and sizes; never their contents).

use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;
use std::collections::HashSet;

/// The most of a text or HTML part shown (a message may be megabytes).
const MAX_SHOWN: usize = 200 * 1024;
/// The most link targets listed.
const MAX_LINKS: usize = 50;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Preview {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: String,
    pub text: Option<String>,
    /// The HTML part, sanitized: safe to put in a page as it is.
    pub html: Option<String>,
    /// Where the message's links go, as text.
    pub links: Vec<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

pub fn of(bytes: &[u8]) -> Preview {
    let Some(message) = MessageParser::default().parse(bytes) else { return Preview::default() };
    let addresses = |list: Option<&mail_parser::Address>| {
        list.map(|a| {
            a.iter()
                .map(|addr| match (addr.name(), addr.address()) {
                    (Some(name), Some(address)) => format!("{name} <{address}>"),
                    (None, Some(address)) => address.to_owned(),
                    (Some(name), None) => name.to_owned(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
    };
    let html_source = message.html_bodies().next().and_then(|part| part.text_contents()).map(clip);
    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().unwrap_or("(no name)").chars().take(200).collect(),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            size: part.contents().len(),
        })
        .collect();
    Preview {
        from: addresses(message.from()),
        to: addresses(message.to()),
        subject: message.subject().unwrap_or_default().to_owned(),
        date: message.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        text: message.text_bodies().next().and_then(|part| part.text_contents()).map(|t| clip(t).to_owned()),
        links: html_source.map(links).unwrap_or_default(),
        html: html_source.map(sanitize),
        attachments,
    }
}

fn clip(text: &str) -> &str {
    if text.len() <= MAX_SHOWN {
        return text;
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Markup that cannot run, load or navigate anywhere: ammonia's safe defaults (no script, style, iframe,
/// form or event attribute), no images, and no link target at all (no URL scheme is allowed).
fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(&["img"])
        .url_schemes(HashSet::new())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(None)
        .clean(html)
        .to_string()
}

/// The `href` targets of the HTML, in order, each once.
fn links(html: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut rest = 0;
    while let Some(at) = lower[rest..].find("href=") {
        let start = rest + at + 5;
        let quote = html[start..].chars().next();
        let (begin, end) = match quote {
            Some(q @ ('"' | '\'')) => (start + 1, html[start + 1..].find(q).map(|e| start + 1 + e)),
            _ => (start, html[start..].find(|c: char| c.is_whitespace() || c == '>').map(|e| start + e)),
        };
        let Some(end) = end else { break };
        let target: String = html[begin..end].chars().filter(|c| !c.is_control()).take(500).collect();
        if !target.is_empty() && !found.contains(&target) {
            found.push(target);
            if found.len() == MAX_LINKS {
                break;
            }
        }
        rest = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_images_and_links_do_not_survive_and_link_targets_are_listed() {
        let raw = "From: Bank <alerts@bank.test>\r\nTo: bob@acme.test\r\nSubject: Verify\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
                   <p onclick=\"steal()\">Hello <a href=\"https://evil.test/login\">verify</a>\
                   <img src=\"https://tracker.test/p.gif\"><script>alert(1)</script>\
                   <a href='javascript:alert(2)'>x</a><form action=\"https://evil.test\"><input name=p></form></p>\r\n\
                   --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let preview = of(raw.as_bytes());
        assert_eq!((preview.from.as_str(), preview.subject.as_str()), ("Bank <alerts@bank.test>", "Verify"));
        let html = preview.html.unwrap();
        for gone in ["<script", "onclick", "<img", "tracker.test", "href", "<form", "<input", "javascript:"] {
            assert!(!html.contains(gone), "{gone} in {html}");
        }
        assert!(html.contains("Hello") && html.contains("verify"), "{html}");
        assert_eq!(preview.links, ["https://evil.test/login", "javascript:alert(2)"]);
        assert_eq!(preview.attachments.len(), 1);
        let pdf = &preview.attachments[0];
        assert_eq!((pdf.name.as_str(), pdf.content_type.as_str(), pdf.size), ("invoice.pdf", "application/pdf", 5));
    }

    #[test]
    fn anything_unparseable_is_an_empty_preview() {
        assert!(of(b"").html.is_none());
        assert!(links("<a href=\"unterminated").is_empty());
    }
}
