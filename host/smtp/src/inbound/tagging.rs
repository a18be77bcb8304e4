//! Marks a message for delivery: headers a chain adds go on top, the subject of spam gets its tag, and
//! Moat's own status header (and any `Authentication-Results` claiming to be Moat's) is removed from what the
//! sender wrote, so nobody can forge a clean verdict.

use crate::inbound::authentication::AUTHENTICATION_RESULTS;

/// The header that carries Moat's verdict to the downstream server (and its users' mail rules).
pub const STATUS_HEADER: &str = "X-Moat-Spam-Status";

/// Where the header section ends: the index of its blank line (or the whole message when the message has no
/// body). A line ends at LF, with or without CR before it: a bare LF ends a line for mail-parser and for
/// many downstream servers, so it must for the filter that removes forged fields too.
fn header_end(body: &[u8]) -> usize {
    let mut line_start = 0;
    while line_start < body.len() {
        let rest = &body[line_start..];
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            return line_start;
        }
        match rest.iter().position(|b| *b == b'\n') {
            Some(p) => line_start += p + 1,
            None => return body.len(),
        }
    }
    body.len()
}

/// Splits the header section into whole fields (with their folded continuation lines and line ends).
fn fields(headers: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < headers.len() {
        let line_end = headers[i..].iter().position(|b| *b == b'\n').map_or(headers.len(), |p| i + p + 1);
        let continues = headers.get(line_end).is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continues {
            out.push(&headers[start..line_end]);
            start = line_end;
        }
        i = line_end;
    }
    out
}

/// Whether `field` is a `name` field; the name may be followed by blanks before its colon (RFC 5322's
/// obsolete syntax, which parsers still accept).
fn is_field(field: &[u8], name: &str) -> bool {
    field.len() > name.len()
        && field[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && field[name.len()..].trim_ascii_start().first() == Some(&b':')
        && field[name.len()..].iter().take_while(|b| **b != b':').all(|b| *b == b' ' || *b == b'\t')
}

/// The value of a field: everything after its colon.
fn value(field: &[u8]) -> &[u8] {
    field.iter().position(|b| *b == b':').map_or(&[][..], |p| &field[p + 1..])
}

/// The authserv-id an `Authentication-Results` value starts with (RFC 8601 §2.2).
fn authserv_id(value: &[u8]) -> &[u8] {
    let value = value.trim_ascii_start();
    let end = value.iter().position(|b| *b == b';' || b.is_ascii_whitespace()).unwrap_or(value.len());
    &value[..end]
}

/// The message as delivered: `add` on top, the subject prefixed with `subject_tag` (unless it already is),
/// and any `X-Moat-Spam-Status` of the sender's removed, as are `Authentication-Results` fields under the
/// authserv-id of one `add` brings (RFC 8601 §5).
pub fn mark(body: &[u8], add: &[(String, String)], subject_tag: Option<&str>) -> Vec<u8> {
    let ours: Vec<&[u8]> = add
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(AUTHENTICATION_RESULTS))
        .map(|(_, value)| authserv_id(value.as_bytes()))
        .collect();
    let end = header_end(body);
    let mut out = Vec::with_capacity(body.len() + 256);
    for (name, value) in add {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let mut tagged = false;
    for field in fields(&body[..end]) {
        if is_field(field, STATUS_HEADER) {
            continue;
        }
        if is_field(field, AUTHENTICATION_RESULTS) {
            let id = authserv_id(value(field));
            if ours.iter().any(|o| o.eq_ignore_ascii_case(id)) {
                continue;
            }
        }
        match subject_tag {
            Some(tag) if !tagged && is_field(field, "Subject") => {
                tagged = true;
                let trimmed = value(field).trim_ascii_start();
                out.extend_from_slice(b"Subject: ");
                if !trimmed.starts_with(tag.as_bytes()) {
                    out.extend_from_slice(tag.as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(trimmed);
            }
            _ => out.extend_from_slice(field),
        }
    }
    if let Some(tag) = subject_tag
        && !tagged
    {
        out.extend_from_slice(format!("Subject: {tag}\r\n").as_bytes());
    }
    out.extend_from_slice(&body[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_on_top_tags_the_subject_and_drops_forged_status() {
        let body = b"From: a@x\r\nSubject: Cheap\r\n  pills\r\nX-Moat-Spam-Status: No, forged\r\n\r\nbody\r\n";
        let add = [(STATUS_HEADER.to_string(), "Yes, score=7.0".to_string())];
        let marked = mark(body, &add, Some("[SPAM]"));
        assert_eq!(
            String::from_utf8(marked).unwrap(),
            "X-Moat-Spam-Status: Yes, score=7.0\r\nFrom: a@x\r\nSubject: [SPAM] Cheap\r\n  pills\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn results_forged_under_our_name_are_dropped_and_others_kept() {
        let body = b"Authentication-Results: MX.moat.test; spf=pass\r\n\tdkim=pass\r\n\
                     Authentication-Results: mx.other.test; spf=fail\r\nFrom: a@x\r\n\r\nbody\r\n";
        let add = [(AUTHENTICATION_RESULTS.to_string(), "mx.moat.test;\r\n\tspf=fail".to_string())];
        assert_eq!(
            String::from_utf8(mark(body, &add, None)).unwrap(),
            "Authentication-Results: mx.moat.test;\r\n\tspf=fail\r\n\
             Authentication-Results: mx.other.test; spf=fail\r\nFrom: a@x\r\n\r\nbody\r\n"
        );
        assert_eq!(mark(body, &[], None), body, "nothing is removed when Moat adds no results");
    }

    #[test]
    fn forged_verdicts_go_whatever_the_line_ends_or_spacing() {
        let add = [
            (STATUS_HEADER.to_string(), "No, score=9.0".to_string()),
            (AUTHENTICATION_RESULTS.to_string(), "mx.moat.test; spf=fail".to_string()),
        ];
        let bare_lf = b"X-Moat-Spam-Status: No, forged\nAuthentication-Results: mx.moat.test; dkim=pass\n\
                        From: a@x\n\nbody\n";
        let marked = String::from_utf8(mark(bare_lf, &add, None)).unwrap();
        assert_eq!(marked.matches("X-Moat-Spam-Status").count(), 1, "{marked}");
        assert!(!marked.contains("forged") && !marked.contains("dkim=pass"), "{marked}");
        assert!(marked.ends_with("From: a@x\n\nbody\n"), "{marked}");
        let spaced = b"X-Moat-Spam-Status : No, forged\r\nAuthentication-Results\t: mx.moat.test; dkim=pass\r\n\r\nb";
        let marked = String::from_utf8(mark(spaced, &add, None)).unwrap();
        assert!(!marked.contains("forged") && !marked.contains("dkim=pass"), "{marked}");
        assert!(!is_field(b"X-Moat-Spam-Status-Extra: 1\r\n", STATUS_HEADER));
        // A blank line ends the header section whatever its line end: a field below it is body text.
        let body_text = b"From: a@x\n\nX-Moat-Spam-Status: quoted in the body\n";
        assert!(String::from_utf8(mark(body_text, &[], None)).unwrap().contains("quoted in the body"));
    }

    #[test]
    fn a_tag_is_not_doubled_and_a_missing_subject_is_added() {
        let again = mark(b"Subject: [SPAM] hi\r\n\r\nx", &[], Some("[SPAM]"));
        assert_eq!(again, b"Subject: [SPAM] hi\r\n\r\nx");
        let none = mark(b"From: a@x\r\n\r\nx", &[], Some("[SPAM]"));
        assert_eq!(none, b"From: a@x\r\nSubject: [SPAM]\r\n\r\nx");
        let untouched = mark(b"From: a@x\r\nSubject: hi\r\n\r\nx", &[], None);
        assert_eq!(untouched, b"From: a@x\r\nSubject: hi\r\n\r\nx");
        assert_eq!(mark(b"\r\nno headers", &[], None), b"\r\nno headers");
    }
}
