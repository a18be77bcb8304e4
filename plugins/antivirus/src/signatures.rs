//! ClamAV body signatures (`.ndb`: `Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]`), matched with one
//! Aho-Corasick automaton over each pattern's longest fixed run of bytes and verified in full where an anchor
//! hits. Supported hex syntax: bytes, `??`, nibbles `a?`/`?a`, `*`, `{n}`, `{n-m}`, `{-n}`, `{n-}`, `[n-m]`
//! and alternatives `(aa|bbcc)`. Offsets: `*`, `N`, `N,M` and `EOF-N`. Lines using other ClamAV features
//! (entry-point offsets, negations, word boundaries) are counted as unsupported, never half-matched.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// The EICAR test file (68 bytes), which every antivirus must detect.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const EICAR_NAME: &str = "Eicar-Test-Signature";
/// EICAR as ClamAV's main.hdb has it: MD5 and size.
pub const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

/// At most this many steps verify one anchor hit, so a pathological pattern cannot eat the fuel budget.
const VERIFY_BUDGET: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
enum Element {
    Byte { value: u8, mask: u8 },
    Alternatives(Vec<Vec<u8>>),
    Gap { min: usize, max: Option<usize> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Offset {
    Anywhere,
    At(usize),
    Within(usize, usize),
    FromEnd(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Any,
    Pe,
    Elf,
}

#[derive(Debug)]
pub struct Signature {
    pub name: String,
    target: Target,
    offset: Offset,
    elements: Vec<Element>,
    /// Where the anchor (the automaton's pattern) starts, counted from the signature's first byte.
    anchor_at: usize,
}

impl Signature {
    /// Parses one `.ndb` line; `Err` says why it is not supported or malformed.
    pub fn parse(line: &str) -> Result<(Self, Vec<u8>), String> {
        let fields: Vec<&str> = line.trim().split(':').collect();
        if fields.len() < 4 {
            return Err("expected Name:TargetType:Offset:HexSignature".into());
        }
        let name = fields[0].trim();
        if name.is_empty() {
            return Err("the signature has no name".into());
        }
        let target = match fields[1].trim() {
            "0" | "3" | "4" | "5" | "7" => Target::Any,
            "1" => Target::Pe,
            "6" => Target::Elf,
            other => return Err(format!("target type {other} is not supported")),
        };
        let offset = parse_offset(fields[2].trim())?;
        let elements = parse_hex(fields[3].trim())?;
        let (anchor_at, anchor) = anchor(&elements).ok_or("no run of 2 fixed bytes before the first variable gap")?;
        Ok((Self { name: name.to_owned(), target, offset, elements, anchor_at }, anchor))
    }

    fn applies_to(&self, data: &[u8]) -> bool {
        match self.target {
            Target::Any => true,
            Target::Pe => data.starts_with(b"MZ"),
            Target::Elf => data.starts_with(b"\x7fELF"),
        }
    }

    fn starts_well(&self, start: usize, len: usize) -> bool {
        match self.offset {
            Offset::Anywhere => true,
            Offset::At(n) => start == n,
            Offset::Within(n, m) => start >= n && start <= n + m,
            Offset::FromEnd(n) => len >= n && start == len - n,
        }
    }
}

fn parse_offset(text: &str) -> Result<Offset, String> {
    let number = |s: &str| s.trim().parse::<usize>().map_err(|_| format!("offset {text} is not supported"));
    if text == "*" {
        Ok(Offset::Anywhere)
    } else if let Some(n) = text.strip_prefix("EOF-") {
        Ok(Offset::FromEnd(number(n)?))
    } else if let Some((n, m)) = text.split_once(',') {
        Ok(Offset::Within(number(n)?, number(m)?))
    } else {
        Ok(Offset::At(number(text)?))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn parse_hex(text: &str) -> Result<Vec<Element>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let bad = |what: &str, at: usize| format!("{what} at position {at} of the hex signature");
    while i < bytes.len() {
        match bytes[i] {
            b'*' => {
                out.push(Element::Gap { min: 0, max: None });
                i += 1;
            }
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                let end = bytes[i..].iter().position(|b| *b == close).ok_or_else(|| bad("unclosed range", i))? + i;
                let inner = &text[i + 1..end];
                let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad("bad range", i));
                let gap = match inner.split_once('-') {
                    None => {
                        let n = number(inner)?;
                        Element::Gap { min: n, max: Some(n) }
                    }
                    Some(("", m)) => Element::Gap { min: 0, max: Some(number(m)?) },
                    Some((n, "")) => Element::Gap { min: number(n)?, max: None },
                    Some((n, m)) => Element::Gap { min: number(n)?, max: Some(number(m)?) },
                };
                if let Element::Gap { min, max: Some(max) } = gap
                    && max < min
                {
                    return Err(bad("empty range", i));
                }
                out.push(gap);
                i = end + 1;
            }
            b'(' => {
                let end =
                    bytes[i..].iter().position(|b| *b == b')').ok_or_else(|| bad("unclosed alternatives", i))? + i;
                let mut choices = Vec::new();
                for choice in text[i + 1..end].split('|') {
                    let choice = choice.as_bytes();
                    if choice.is_empty() || choice.len() % 2 != 0 {
                        return Err(bad("unsupported alternative", i));
                    }
                    let decoded: Option<Vec<u8>> =
                        choice.chunks(2).map(|p| Some(hex_value(p[0])? << 4 | hex_value(p[1])?)).collect();
                    choices.push(decoded.ok_or_else(|| bad("unsupported alternative", i))?);
                }
                out.push(Element::Alternatives(choices));
                i = end + 1;
            }
            _ => {
                let (Some(&hi), Some(&lo)) = (bytes.get(i), bytes.get(i + 1)) else {
                    return Err(bad("odd number of hex digits", i));
                };
                let element = match (hi, lo) {
                    (b'?', b'?') => Element::Byte { value: 0, mask: 0 },
                    (b'?', lo) => {
                        Element::Byte { value: hex_value(lo).ok_or_else(|| bad("bad nibble", i))?, mask: 0x0f }
                    }
                    (hi, b'?') => {
                        Element::Byte { value: hex_value(hi).ok_or_else(|| bad("bad nibble", i))? << 4, mask: 0xf0 }
                    }
                    (hi, lo) => match (hex_value(hi), hex_value(lo)) {
                        (Some(h), Some(l)) => Element::Byte { value: h << 4 | l, mask: 0xff },
                        _ => return Err(bad(&format!("unsupported token {:?}", &text[i..i + 2]), i)),
                    },
                };
                out.push(element);
                i += 2;
            }
        }
    }
    if out.is_empty() {
        return Err("empty hex signature".into());
    }
    Ok(out)
}

/// The longest anchor used: the automaton's size grows with the anchors' total length (a ClamAV database has
/// tens of thousands of signatures), and the rest of a signature is verified at each hit anyway.
const MAX_ANCHOR: usize = 12;

/// The longest run of fixed bytes at a fixed distance from the start (before anything variable), and that
/// distance; at most [`MAX_ANCHOR`] bytes of it.
fn anchor(elements: &[Element]) -> Option<(usize, Vec<u8>)> {
    fn keep_longer(best: &mut Option<(usize, Vec<u8>)>, start: usize, run: &mut Vec<u8>) {
        if best.as_ref().is_none_or(|(_, b)| run.len() > b.len()) {
            *best = Some((start, std::mem::take(run)));
        }
        run.clear();
    }
    let (mut best, mut run, mut run_start, mut at) = (None, Vec::new(), 0, 0);
    for element in elements {
        if let Element::Byte { value, mask: 0xff } = element {
            if run.is_empty() {
                run_start = at;
            }
            run.push(*value);
            at += 1;
            continue;
        }
        keep_longer(&mut best, run_start, &mut run);
        match element {
            Element::Byte { .. } => at += 1,
            Element::Gap { min, max: Some(max) } if min == max => at += min,
            Element::Alternatives(choices) if choices.iter().all(|c| c.len() == choices[0].len()) => {
                at += choices[0].len()
            }
            _ => break,
        }
    }
    keep_longer(&mut best, run_start, &mut run);
    best.filter(|(_, b)| b.len() >= 2).map(|(at, mut b)| {
        b.truncate(MAX_ANCHOR);
        (at, b)
    })
}

/// Whether `elements` match `data` from `pos`; `budget` bounds the work.
fn matches_at(elements: &[Element], data: &[u8], pos: usize, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let Some((first, rest)) = elements.split_first() else { return true };
    match first {
        Element::Byte { value, mask } => {
            data.get(pos).is_some_and(|b| b & mask == *value) && matches_at(rest, data, pos + 1, budget)
        }
        Element::Alternatives(choices) => choices.iter().any(|c| {
            data.get(pos..pos + c.len()) == Some(c.as_slice()) && matches_at(rest, data, pos + c.len(), budget)
        }),
        Element::Gap { min, max } => {
            let last = max.map_or(data.len(), |m| (pos + m).min(data.len()));
            (pos + min..=last).any(|start| matches_at(rest, data, start, budget))
        }
    }
}

/// Every body signature of a scan, compiled into one automaton.
pub struct BodySignatures {
    signatures: Vec<Signature>,
    automaton: Option<AhoCorasick>,
    /// Lines skipped because they use what this matcher does not support, or are malformed.
    pub unsupported: usize,
}

impl BodySignatures {
    /// Compiles `.ndb` text (comments and blank lines skipped). `strict` fails at the first bad line (an
    /// admin's own signatures in the chain config); otherwise bad lines are counted and skipped (a ClamAV
    /// database that also uses features this matcher lacks).
    pub fn compile<'a>(lines: impl IntoIterator<Item = &'a str>, strict: bool) -> Result<Self, String> {
        let (mut signatures, mut anchors, mut unsupported) = (Vec::new(), Vec::new(), 0);
        for (n, line) in lines.into_iter().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match Signature::parse(line) {
                Ok((signature, anchor)) => {
                    signatures.push(signature);
                    anchors.push(anchor);
                }
                Err(why) if strict => return Err(format!("signature {} ({line}): {why}", n + 1)),
                Err(_) => unsupported += 1,
            }
        }
        let automaton = if anchors.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    // Not a DFA: for a ClamAV database's tens of thousands of anchors a DFA costs ten times the
                    // memory and build time, and every new instance builds it again.
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    // Dense rows only for the root and its children: with random-looking byte signatures the
                    // second level alone has tens of thousands of states, at 1 KiB each when dense.
                    .dense_depth(1)
                    .build(&anchors)
                    .map_err(|e| format!("cannot compile the signatures: {e}"))?,
            )
        };
        Ok(Self { signatures, automaton, unsupported })
    }

    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// The name of the first signature found in `data`.
    pub fn scan(&self, data: &[u8]) -> Option<&str> {
        let automaton = self.automaton.as_ref()?;
        for hit in automaton.find_overlapping_iter(data) {
            let signature = &self.signatures[hit.pattern().as_usize()];
            let Some(start) = hit.start().checked_sub(signature.anchor_at) else { continue };
            if !signature.starts_well(start, data.len()) || !signature.applies_to(data) {
                continue;
            }
            let mut budget = VERIFY_BUDGET;
            if matches_at(&signature.elements, data, start, &mut budget) {
                return Some(&signature.name);
            }
        }
        None
    }
}

/// The built-in body signatures: EICAR, so a fresh install proves its antivirus works.
pub fn builtin_ndb() -> String {
    let hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
    format!("{EICAR_NAME}:0:*:{hex}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(ndb: &str, data: &[u8]) -> Option<String> {
        BodySignatures::compile(ndb.lines(), true).unwrap().scan(data).map(str::to_owned)
    }

    #[test]
    fn eicar_is_found_anywhere() {
        let ndb = builtin_ndb();
        assert_eq!(scan(&ndb, EICAR).as_deref(), Some(EICAR_NAME));
        let mut padded = b"some text before\n".to_vec();
        padded.extend_from_slice(EICAR);
        padded.extend_from_slice(b"\r\n");
        assert_eq!(scan(&ndb, &padded).as_deref(), Some(EICAR_NAME));
        assert_eq!(scan(&ndb, &EICAR[..60]), None);
    }

    #[test]
    fn wildcards_gaps_and_alternatives() {
        let ndb = "Test.Gaps:0:*:deadbeef??c?{2}(01|0203)*cafe{-3}babe\n";
        let hit = [0xde, 0xad, 0xbe, 0xef, 0x11, 0xc7, 0, 0, 0x02, 0x03, 9, 9, 9, 0xca, 0xfe, 1, 0xba, 0xbe];
        assert_eq!(scan(ndb, &hit).as_deref(), Some("Test.Gaps"));
        let mut miss = hit;
        miss[5] = 0xd7; // the nibble c? no longer matches
        assert_eq!(scan(ndb, &miss), None);
        let mut far = hit.to_vec();
        far.splice(15..16, [1, 1, 1, 1]); // 4 bytes between cafe and babe: more than {-3}
        assert_eq!(scan(ndb, &far), None);
    }

    #[test]
    fn offsets_and_targets_restrict_where_a_signature_applies() {
        let at_zero = "Test.Start:0:0:41424344\n";
        assert!(scan(at_zero, b"ABCDxx").is_some());
        assert!(scan(at_zero, b"xABCD").is_none());
        let at_end = "Test.End:0:EOF-4:41424344\n";
        assert!(scan(at_end, b"xxABCD").is_some() && scan(at_end, b"ABCDxx").is_none());
        let pe = "Test.Pe:1:*:41424344\n";
        assert!(scan(pe, b"MZ..ABCD").is_some() && scan(pe, b"..ABCD").is_none());
    }

    #[test]
    fn unsupported_lines_are_refused_when_strict_and_skipped_otherwise() {
        let e = BodySignatures::compile(["Bad:0:EP+10:41424344"], true).err().unwrap();
        assert!(e.contains("offset EP+10 is not supported"), "{e}");
        let e = BodySignatures::compile(["Bad:0:*:??*41"], true).err().unwrap();
        assert!(e.contains("no run of 2 fixed bytes"), "{e}");
        let lenient = BodySignatures::compile(["Bad:0:EP+10:41424344", "Good:0:*:4142"], false).unwrap();
        assert_eq!((lenient.len(), lenient.unsupported), (1, 1));
    }
}
