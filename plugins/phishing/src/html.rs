//! What an HTML page (a message's HTML part, or an HTML attachment) holds, read in one pass over its tags:
//! its links with the text they show, where its pictures load from, links that carry a whole page (`data:`),
//! and forms asking for a password, which no honest mail does: a bank or a mail service sends its users to
//! its site to sign in.
//!
//! One pass because a large newsletter's tags are most of what this layer reads: with a pass per question
//! (links, pictures, `data:` values, forms) the layer was a third of the default chain's time on such mail.
//!
//! Not counted, as measured on the SpamAssassin corpus (both protocols): `javascript:` links (mail clients do
//! not run them, and old newsletters used them for pop-ups: three hard-ham false positives), and forms
//! without a password field (newsletters' search boxes and polls).

use crate::urls::{self, Link};
use moat_sdk::text::find_byte;

/// What one read of a page found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    /// Every `<a href>` with the text it shows, in order, then the URLs written in the text outside anchors.
    pub links: Vec<Link>,
    /// Where each `<img>` loads its picture from (`src`), as written.
    pub image_sources: Vec<String>,
    /// `href`, `action`, `formaction` and `src` values that are not places but a page (`attribute=value`,
    /// the value's first 60 characters), attribute by attribute, each in the order of the page. An inline
    /// image's `src="data:image/…"` is how many honest newsletters carry their logo: `src` counts only with
    /// `data:text/html`.
    pub data_urls: Vec<String>,
    /// A `<form>` and a password field.
    pub password_form: bool,
}

/// The attributes whose `data:` values are pages, in the order their findings are reported.
const PAGE_ATTRIBUTES: [&str; 4] = ["href", "action", "src", "formaction"];

/// One tag: its name (lower case is not promised) and the text between `<` and `>`.
struct Tag<'a> {
    text: &'a str,
    closing: bool,
    name: &'a str,
}

impl<'a> Tag<'a> {
    fn new(text: &'a str) -> Self {
        let inner = &text[1..];
        let (closing, inner) = match inner.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let name_len = inner.bytes().take_while(u8::is_ascii_alphanumeric).count();
        Tag { text, closing, name: &inner[..name_len] }
    }

    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// An opening tag named `name` with something after its name (`<a>` is no link, `<abbr>` no anchor).
    fn opens_with_attributes(&self, name: &str) -> bool {
        !self.closing
            && self.is(name)
            && self.text.as_bytes().get(1 + name.len()).is_some_and(|b| b.is_ascii_whitespace())
    }

    /// Whether this closes an anchor. As mail clients forgive, any closing tag starting `</a` ends one.
    fn closes_anchor(&self) -> bool {
        self.closing && self.name.as_bytes().first().is_some_and(|b| b.eq_ignore_ascii_case(&b'a'))
    }
}

impl Page {
    pub fn read(html: &str) -> Page {
        let mut page = Page::default();
        let mut data_urls: Vec<(usize, String)> = Vec::new();
        let (mut form, mut password) = (false, false);
        // Text runs outside anchors, where URLs written out are links too, and the open anchor's target and text.
        let mut outside = String::new();
        let mut anchor: Option<(Option<String>, String)> = None;
        let mut rest = html;
        loop {
            let (text, tag) = match find_byte(rest, b'<') {
                Some(open) => (&rest[..open], Some(&rest[open..])),
                None => (rest, None),
            };
            // A `>` outside a tag is dropped, as a reader never sees it.
            let into = anchor.as_mut().map_or(&mut outside, |(_, shown)| shown);
            match find_byte(text, b'>') {
                None => into.push_str(text),
                Some(_) => text.split('>').for_each(|piece| into.push_str(piece)),
            }
            // A tag runs to its `>`; one that never closes hides the rest of the page.
            let Some(close) = tag.and_then(|t| find_byte(t, b'>')) else { break };
            let tag_text = &tag.unwrap_or_default()[..close];
            rest = &rest[text.len() + close + 1..];
            let tag = Tag::new(tag_text);

            if let Some((href, shown)) = anchor.take_if(|_| tag.closes_anchor()) {
                page.links.extend(anchor_link(href, &shown));
            } else if anchor.is_none() && tag.opens_with_attributes("a") {
                anchor = Some((attribute(tag.text, "href"), String::new()));
            } else if tag.opens_with_attributes("img") {
                page.image_sources.extend(attribute(tag.text, "src"));
            }
            if !tag.closing {
                form |= tag.is("form");
                password |= tag.is("input") && is_password_field(tag.text);
                // No `data:` in the tag, no `data:` value: most tags are passed over after a byte search (a
                // newsletter's `style="color: red"` has a `:` on every tag, so the `:` alone is not enough).
                if mentions_data(tag.text) {
                    data_urls.extend(page_values(tag.text));
                }
            }
        }
        // An anchor never closed runs to the end of the page, as mail clients show it.
        if let Some((href, shown)) = anchor {
            page.links.extend(anchor_link(href, &shown));
        }
        page.links.extend(urls::in_text(urls::decode_entities(&outside).trim()));
        data_urls.sort_by_key(|(which, _)| *which);
        page.data_urls = data_urls.into_iter().map(|(_, url)| url).collect();
        page.password_form = form && password;
        page
    }
}

/// Whether `data:` is written anywhere in a tag, in any case.
fn mentions_data(tag: &str) -> bool {
    let mut from = 0;
    while let Some(at) = find_byte(&tag[from..], b':').map(|at| from + at) {
        if at >= 4 && tag.as_bytes()[at - 4..at].eq_ignore_ascii_case(b"data") {
            return true;
        }
        from = at + 1;
    }
    false
}

/// An anchor's link, if its target has a host.
fn anchor_link(href: Option<String>, shown: &str) -> Option<Link> {
    let url = href?;
    let host = urls::host_of(&url)?;
    Some(Link { url, host, shown: Some(urls::decode_entities(shown).trim().to_owned()) })
}

/// `type="password"`, `type='password'` or `type=password`, in any case.
fn is_password_field(tag: &str) -> bool {
    let Some(value) = attribute(tag, "type") else { return false };
    value.eq_ignore_ascii_case("password")
}

/// The `data:` values of a tag's page attributes, each with the position of its attribute in
/// [`PAGE_ATTRIBUTES`].
fn page_values(tag: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (name, value, written) in attributes(tag) {
        let Some(which) = PAGE_ATTRIBUTES.iter().position(|a| name.eq_ignore_ascii_case(a)) else { continue };
        let starts = |prefix: &str| value.get(..prefix.len()).is_some_and(|v| v.eq_ignore_ascii_case(prefix));
        if starts("data:text/html") || which != 2 && starts("data:") {
            let shown: String = written.chars().take(60).take_while(|c| !matches!(c, '"' | '\'' | '>')).collect();
            found.push((which, format!("{}={shown}", PAGE_ATTRIBUTES[which])));
        }
    }
    found
}

/// The value of attribute `name` (any case) in a tag's text, `&amp;` decoded and trimmed.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let (_, value, _) = attributes(tag).find(|(n, ..)| n.eq_ignore_ascii_case(name))?;
    Some(match find_byte(value, b'&') {
        None => value.trim().to_owned(),
        Some(_) => value.replace("&amp;", "&").trim().to_owned(),
    })
}

/// A tag's `name=value` attributes, in order: the name, the value (without its quotes), and the text from the
/// value's first character (after an opening quote) to the tag's end. Names without a value are passed over.
/// Read a byte at a time (every delimiter is ASCII): in wasm, searching with a character predicate decoded
/// every character, and a newsletter's links and pictures made this the layer's largest cost.
fn attributes(tag: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    let bytes = tag.as_bytes();
    let ascii_space = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_whitespace);
    // After the tag's own name.
    let mut at = 1 + bytes[1..].iter().position(u8::is_ascii_whitespace).unwrap_or(tag.len() - 1);
    std::iter::from_fn(move || {
        loop {
            while ascii_space(at) || bytes.get(at) == Some(&b'/') {
                at += 1;
            }
            if at == bytes.len() {
                return None;
            }
            let name_start = at;
            while at < bytes.len() && !(ascii_space(at) || matches!(bytes[at], b'=' | b'/')) {
                at += 1;
            }
            let name = &tag[name_start..at];
            at = after_whitespace(tag, at);
            // Whitespace and `/` were passed over: a name is empty only before `=`, so every turn moves on.
            if bytes.get(at) != Some(&b'=') {
                continue;
            }
            at = after_whitespace(tag, at + 1);
            let value_start = at;
            let (value, written) = match bytes.get(at) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let written = &tag[at + 1..];
                    match find_byte(written, quote) {
                        Some(end) => {
                            at += 1 + end + 1;
                            (&written[..end], written)
                        }
                        None => {
                            at = bytes.len();
                            (written, written)
                        }
                    }
                }
                _ => {
                    while at < bytes.len() && !ascii_space(at) {
                        at += 1;
                    }
                    (&tag[value_start..at], &tag[value_start..])
                }
            };
            if !name.is_empty() {
                return Some((name, value, written));
            }
        }
    })
}

/// Where the text from `at` on starts after any whitespace, as `str::trim_start` reads it (Unicode's).
fn after_whitespace(text: &str, at: usize) -> usize {
    let rest = &text[at..];
    at + rest.len() - rest.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_and_password_forms_are_seen_and_inline_images_are_not() {
        let html = r#"<a href="javascript:steal()">open</a> <a href = 'data:text/html;base64,PGh0bWw+'>x</a>
                      <img src="data:image/png;base64,iVBOR"> <a href="https://shop.test/">shop</a>"#;
        let page = Page::read(html);
        assert_eq!(page.data_urls, ["href=data:text/html;base64,PGh0bWw+"], "javascript: is not counted");
        assert!(!page.password_form);
        let login = r#"<form action="https://x.test/p"><input type="email"><INPUT TYPE=Password></form>"#;
        assert!(Page::read(login).password_form);
        assert!(!Page::read(r#"<form action="/search"><input name="q"></form>"#).password_form);
        assert!(
            !Page::read(r#"<p>Never type="password" into a form</p>"#).password_form,
            "words about a form are not one"
        );
    }

    #[test]
    fn page_values_are_reported_by_attribute_then_in_order() {
        let html = r#"<iframe src="data:text/html,<b>"></iframe><form action='data:text/html,x'>
                      <button formaction=data:text/html,y>go</button><A HREF="DATA:text/plain,z">z</A>"#;
        assert_eq!(
            Page::read(html).data_urls,
            [
                "href=DATA:text/plain,z",
                "action=data:text/html,x",
                "src=data:text/html,<b",
                "formaction=data:text/html,y"
            ]
        );
    }

    #[test]
    fn a_data_value_is_found_after_other_colons_and_only_where_written() {
        let html = r#"<p style="color: red; font: 10px x"><a style="margin: 0" href="Data:text/html,w">w</a>"#;
        assert_eq!(Page::read(html).data_urls, ["href=Data:text/html,w"]);
        assert!(!mentions_data(r#"<td style="color: red" title="metadata : none">"#));
        assert!(mentions_data("<a href=DATA:text/html,x>"));
    }

    #[test]
    fn attributes_are_read_as_browsers_write_them() {
        let tag = "<a\thref = 'http://x.test/a b' data=z/ title=\"q\" \u{a0}=\"v\" lone alt=\u{a0}\"w\" end=\"open";
        let found: Vec<(&str, &str)> = attributes(tag).map(|(name, value, _)| (name, value)).collect();
        assert_eq!(
            found,
            [
                ("href", "http://x.test/a b"),
                ("data", "z/"),
                ("title", "q"),
                ("\u{a0}", "v"),
                ("alt", "w"),
                ("end", "open")
            ]
        );
        let (_, _, written) = attributes(tag).next().unwrap();
        assert!(written.starts_with("http://x.test/a b' data=z/"), "the text from the value on: {written}");
        assert_eq!(
            attribute("<img SRC=\" http://p.test/?a=1&amp;b=2 \">", "src").as_deref(),
            Some("http://p.test/?a=1&b=2")
        );
        assert_eq!(attributes("<br>").count(), 0);
        assert_eq!(attributes("<br/>").count(), 0);
    }

    #[test]
    fn images_give_their_sources() {
        let html = r#"<IMG SRC="http://203.0.113.5/a.gif" width=1><img alt=x src='https://cdn.shop.test/logo.png'>
                      <imgx src="http://192.0.2.1/no"> <img src=data:image/png;base64,iVBOR> <img alt="no source">
                      <img alt=" src=http://198.51.100.1/quoted" src="https://cdn.shop.test/b.png">"#;
        assert_eq!(
            Page::read(html).image_sources,
            [
                "http://203.0.113.5/a.gif",
                "https://cdn.shop.test/logo.png",
                "data:image/png;base64,iVBOR",
                "https://cdn.shop.test/b.png"
            ]
        );
    }

    #[test]
    fn anchors_and_the_text_around_them_give_links() {
        let links = Page::read(
            "<p>Dear customer,</p><A class=btn HREF='http://evil.test/login'>https://www.<b>bank</b>.test</A> \
             <a name=top>no link</a> <abbr>www.abbr.test</abbr> visit https://bank.test/help &amp; <a>www.bare.test</a>",
        )
        .links;
        let got: Vec<(&str, Option<&str>)> = links.iter().map(|l| (l.host.as_str(), l.shown.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("evil.test", Some("https://www.bank.test")),
                ("www.abbr.test", None),
                ("bank.test", None),
                ("www.bare.test", None)
            ]
        );
    }

    #[test]
    fn a_tag_that_never_closes_hides_the_rest_and_an_anchor_runs_to_the_end() {
        let page = Page::read(
            "see www.one.test <a href='http://two.test/'>two</a> <img src=http://192.0.2.1/x www.three.test",
        );
        let hosts: Vec<&str> = page.links.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(hosts, ["two.test", "www.one.test"]);
        assert!(page.image_sources.is_empty());
        let unclosed = Page::read("<a href='http://three.test/'>www.<b>four</b>.test");
        assert_eq!(unclosed.links[0].shown.as_deref(), Some("www.four.test"));
    }

    #[test]
    fn attributes_are_read_as_written() {
        let tag = r#"<a title="x = y" data-x HREF = "http://a.test/?a=1&amp;b=2" target=_blank/"#;
        let all: Vec<(&str, &str)> = attributes(tag).map(|(n, v, _)| (n, v)).collect();
        assert_eq!(all, [("title", "x = y"), ("HREF", "http://a.test/?a=1&amp;b=2"), ("target", "_blank/")]);
        assert_eq!(attribute(tag, "href").as_deref(), Some("http://a.test/?a=1&b=2"));
        assert_eq!(attribute("<a href='unclosed", "href").as_deref(), Some("unclosed"));
        assert_eq!(attribute("<a =x ==y href=z", "href").as_deref(), Some("z"));
    }
}
