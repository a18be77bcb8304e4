//! Marks a message for delivery: headers a chain adds go on top, the subject of spam gets its tag, and
//! Moat's own status header is removed from what the sender wrote, so nobody can forge a clean verdict.

/// The header that carries Moat's verdict to the downstream server (and its users' mail rules).
pub const STATUS_HEADER: &str = "X-Moat-Spam-Status";

/// Where the header section ends: the index just past its blank line (or the whole message when the
/// message has no body).
fn header_end(body: &[u8]) -> usize {
    if body.starts_with(b"\r\n") {
        return 0;
    }
    body.windows(4).position(|w| w == b"\r\n\r\n").map_or(body.len(), |p| p + 2)
}

/// Splits the header section into whole fields (with their folded continuation lines and CRLFs).
fn fields(headers: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < headers.len() {
        let line_end = headers[i..].windows(2).position(|w| w == b"\r\n").map_or(headers.len(), |p| i + p + 2);
        let continues = headers.get(line_end).is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continues {
            out.push(&headers[start..line_end]);
            start = line_end;
        }
        i = line_end;
    }
    out
}

fn is_field(field: &[u8], name: &str) -> bool {
    field.len() > name.len() && field[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && field[name.len()] == b':'
}

/// The message as delivered: `add` on top, the subject prefixed with `subject_tag` (unless it already is),
/// and any `X-Moat-Spam-Status` of the sender's removed.
pub fn mark(body: &[u8], add: &[(String, String)], subject_tag: Option<&str>) -> Vec<u8> {
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
        match subject_tag {
            Some(tag) if !tagged && is_field(field, "Subject") => {
                tagged = true;
                let value = &field["Subject:".len()..];
                let trimmed = value.trim_ascii_start();
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
