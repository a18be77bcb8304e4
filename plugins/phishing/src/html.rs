//! What the HTML of a message (or of an HTML attachment) does besides linking: links that carry a whole page
//! (`data:`), and forms asking for a password, which no honest mail does: a bank or a mail service sends its
//! users to its site to sign in.
//!
//! Not counted, as measured on the SpamAssassin corpus (both protocols): `javascript:` links (mail clients do
//! not run them, and old newsletters used them for pop-ups: three hard-ham false positives), and forms
//! without a password field (newsletters' search boxes and polls).

/// `href`, `action` and `src` values that are not places but a page in the link (`data:`; an inline image's
/// `src="data:image/…"` is how many honest newsletters carry their logo).
pub fn data_urls(html: &str) -> Vec<String> {
    const ATTRIBUTES: [&str; 4] = ["href", "action", "src", "formaction"];
    let lower = html.to_ascii_lowercase();
    // Found by their `=` (one byte, far faster to find than four words), reported attribute by attribute in
    // the order of `ATTRIBUTES`, each in the order of the page.
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find('=') {
        let equals = at + i;
        at = equals + 1;
        let name = lower[..equals].trim_end();
        let Some(which) = ATTRIBUTES.iter().position(|a| {
            name.strip_suffix(a).is_some_and(|before| before.as_bytes().last().is_some_and(u8::is_ascii_whitespace))
        }) else {
            continue;
        };
        let attribute = ATTRIBUTES[which];
        let value = lower[at..].trim_start().trim_start_matches(['"', '\'']).trim_start();
        if value.starts_with("data:text/html") || attribute != "src" && value.starts_with("data:") {
            // As written: lower-casing kept every byte where it was.
            let original = &html[html.len() - value.len()..];
            let shown: String = original.chars().take(60).take_while(|c| !matches!(c, '"' | '\'' | '>')).collect();
            found.push((which, format!("{attribute}={shown}")));
        }
    }
    found.sort_by_key(|(which, _)| *which);
    found.into_iter().map(|(_, url)| url).collect()
}

/// Whether the HTML holds a form with a password field.
pub fn password_form(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    lower.contains("<form")
        && ["type=\"password\"", "type='password'", "type=password"].iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_and_password_forms_are_seen_and_inline_images_are_not() {
        let html = r#"<a href="javascript:steal()">open</a> <a href = 'data:text/html;base64,PGh0bWw+'>x</a>
                      <img src="data:image/png;base64,iVBOR"> <a href="https://shop.test/">shop</a>"#;
        assert_eq!(data_urls(html), ["href=data:text/html;base64,PGh0bWw+"], "javascript: is not counted");
        assert!(!password_form(html));
        let login = r#"<form action="https://x.test/p"><input type="email"><input type=password></form>"#;
        assert!(password_form(login));
        assert!(!password_form(r#"<form action="/search"><input name="q"></form>"#));
    }
}
