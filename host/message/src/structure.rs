//! The MIME shape of a message, and the bounds the host holds it to before any plugin runs.

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

    /// The shape of bytes mail-parser could not read: only the header section's size is known.
    pub(crate) fn unparsed(raw: &[u8]) -> Self {
        Structure { header_bytes: header_section_len(raw), ..Structure::default() }
    }

    pub(crate) fn of(m: &mail_parser::Message<'_>, raw: &[u8]) -> Self {
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
