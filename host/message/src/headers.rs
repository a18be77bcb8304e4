//! Header fields as filters read them: each occurrence's own value (mail-parser's `header_raw(name)` gives
//! only the first of a name), unfolded, with RFC 2047 encoded words decoded.

use crate::Header;

pub(crate) fn field(raw: &[u8], h: &mail_parser::Header<'_>) -> Header {
    let bytes = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
    let unfolded = unfold(&String::from_utf8_lossy(bytes));
    let value = if unfolded.contains("=?") { decoded(&unfolded).unwrap_or(unfolded) } else { unfolded };
    Header { name: h.name().to_owned(), value }
}

/// RFC 5322 §2.2.3: a line break followed by white space is folding; the break goes, the space stays.
fn unfold(value: &str) -> String {
    value.replace("\r\n", "").replace('\n', "").trim().to_owned()
}

/// Decodes the encoded words of a value as unstructured text: the value is read as a `Comments:` field,
/// which mail-parser decodes (RFC 2047) whatever the field the value came from.
fn decoded(value: &str) -> Option<String> {
    let synthetic = format!("Comments: {value}\r\n\r\n");
    let parsed = mail_parser::MessageParser::new().parse_headers(synthetic.as_bytes())?;
    let text = parsed.headers().first()?.value().as_text()?.trim().to_owned();
    Some(text)
}
