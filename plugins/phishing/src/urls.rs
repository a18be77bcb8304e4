//! Links written out in text (`http(s)://` or `www.` URLs), their hosts, and what a reader sees of HTML. An
//! HTML page's anchors are read by [`crate::html::Page`].

/// One link: where it goes and, for an HTML anchor, what it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub url: String,
    pub host: String,
    /// The anchor's visible text (tags removed), for HTML links.
    pub shown: Option<String>,
}

/// The host of a URL (`http://user@host:port/path` → `host`), lower-case, without a trailing dot.
pub fn host_of(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = match url.find("://") {
        Some(i) if url[..i].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => &url[i + 3..],
        _ if url.to_ascii_lowercase().starts_with("www.") => url,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host =
        if host.starts_with('[') { host.split(']').next()?.trim_start_matches('[') } else { host.split(':').next()? };
    let host = host.trim_end_matches('.').to_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Whether a URL hides its real host behind a user-info part (`http://www.bank.test@evil.test/`).
pub fn has_userinfo(url: &str) -> bool {
    let Some(i) = url.find("://") else { return false };
    url[i + 3..].split(['/', '?', '#']).next().is_some_and(|authority| authority.contains('@'))
}

fn url_end(text: &str) -> usize {
    text.find(|c: char| c.is_whitespace() || "\"'<>`".contains(c)).unwrap_or(text.len())
}

/// Where the next URL written out in `text` starts at or after `from`: `http://`, `https://` or `www.`, in
/// any case. Found by the byte each way has (the `:` of `://`, the `.` of `www.`) in one pass, without a
/// lower-case copy: three searches for words cost several times more.
fn next_url_start(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let is = |at: usize, word: &[u8]| bytes.get(at..at + word.len()).is_some_and(|b| b.eq_ignore_ascii_case(word));
    let mut at = from;
    while let Some(i) = bytes[at..].iter().position(|b| matches!(b, b':' | b'.')) {
        let found = at + i;
        at = found + 1;
        let start = match bytes[found] {
            b':' if is(found, b"://") && found >= from + 5 && is(found - 5, b"https") => found - 5,
            b':' if is(found, b"://") && found >= from + 4 && is(found - 4, b"http") => found - 4,
            b'.' if found >= from + 3 && is(found - 3, b"www") => found - 3,
            _ => continue,
        };
        return Some(start);
    }
    None
}

/// URLs written out in plain text.
pub fn in_text(text: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut at = 0;
    while let Some(start) = next_url_start(text, at) {
        // `www.` inside an http URL already taken is skipped by moving past each URL.
        let end = start + url_end(&text[start..]);
        let url = text[start..end].trim_end_matches(['.', ',', ')', ';', ':', '!', '?']);
        if let Some(host) = host_of(url) {
            links.push(Link { url: url.to_owned(), host, shown: None });
        }
        at = end.max(start + 4);
    }
    links
}

/// What a reader sees of some HTML: tags removed, each replaced by `between_tags` (nothing for a link's text,
/// where `www.<b>bank</b>.test` reads as one address; a space for reading words), and the few entities that
/// matter decoded.
pub fn visible(html: &str, between_tags: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Text runs copied whole (a stray `>` outside a tag dropped); a tag runs to its `>`, or to the end.
    while let Some(open) = rest.find('<') {
        rest[..open].split('>').for_each(|piece| out.push_str(piece));
        out.push_str(between_tags);
        rest = rest[open..].find('>').map_or("", |close| &rest[open + close + 1..]);
    }
    rest.split('>').for_each(|piece| out.push_str(piece));
    decode_entities(&out).trim().to_owned()
}

/// `&amp;`, `&nbsp;` and `&#46;` decoded in one pass (a text is searched for `&` alone, which is fast).
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (decoded, len) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&nbsp;") {
            (' ', 6)
        } else if rest.starts_with("&#46;") {
            ('.', 5)
        } else {
            ('&', 1)
        };
        out.push(decoded);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_decoded_in_one_pass() {
        assert_eq!(decode_entities("a&amp;b&nbsp;c&#46;d & e&amp;amp;"), "a&b c.d & e&amp;");
    }

    #[test]
    fn hosts_come_out_of_every_url_shape() {
        assert_eq!(host_of("https://Login.Bank.test:8443/x?y").as_deref(), Some("login.bank.test"));
        assert_eq!(host_of("http://www.bank.test@evil.test/login").as_deref(), Some("evil.test"));
        assert_eq!(host_of("www.shop.test/sale").as_deref(), Some("www.shop.test"));
        assert_eq!(host_of("http://[2001:db8::1]/x").as_deref(), Some("2001:db8::1"));
        assert_eq!(host_of("mailto:bob@example.com"), None);
        assert!(has_userinfo("http://www.bank.test@evil.test/") && !has_userinfo("https://bank.test/a@b"));
    }

    #[test]
    fn text_links_are_found() {
        let text = in_text("See https://shop.test/sale, or www.shop.test. Call us (http://192.0.2.7/x).");
        let hosts: Vec<&str> = text.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(hosts, ["shop.test", "www.shop.test", "192.0.2.7"]);
    }

    #[test]
    fn every_link_of_a_long_text_is_found_in_order() {
        let text: String = (0..300)
            .map(|i| match i % 3 {
                0 => format!("read http://a{i}.test/x and "),
                1 => format!("see https://www.b{i}.test/y or "),
                _ => format!("visit www.c{i}.test, "),
            })
            .collect();
        let hosts: Vec<String> = in_text(&text).into_iter().map(|l| l.host).collect();
        let expected: Vec<String> = (0..300)
            .map(|i| match i % 3 {
                0 => format!("a{i}.test"),
                1 => format!("www.b{i}.test"),
                _ => format!("www.c{i}.test"),
            })
            .collect();
        assert_eq!(hosts, expected, "each once: a www. inside an https link is not a link of its own");
    }
}
