//! Bulk mail's phrases: the wording of mass marketing that mail between people and the lists they joined
//! rarely carries — removal instructions, legal-compliance claims, guarantees and calls to order now. One
//! phrase says little (a shop's newsletter may say "click here" or "limited time"); three different ones in a
//! message are how unsolicited offers read. Each phrase was chosen because it fires on the SpamAssassin
//! corpus's older spam and on at most 5 of its 2,500 older ham (most on none); how the set was judged is in
//! the README (Spam accuracy benchmark, "Bulk mail's phrases").

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex::bytes::Regex;
use std::sync::OnceLock;

/// How many different phrases make a message read as bulk marketing.
const ENOUGH: usize = 3;
/// What that adds to the message's score: not a tag on its own (5), but with the classifier's doubt it is.
const SCORE: f64 = 3.0;
/// From this many different phrases on, the message is tagged on their word alone: no ham of the SpamAssassin
/// corpus holds more than four (its retailers' newsletters, hard-ham-1), and 24 of the older spam's 500 hold
/// five or more (README "Spam accuracy benchmark", "What a gateway never sees, many phrases, …").
const MANY: usize = 5;
const MANY_SCORE: f64 = 5.0;
pub const SYMBOL: &str = "BULK_PHRASES";

/// What `found` different phrases add to a message's score, if anything.
pub fn score(found: usize) -> Option<f64> {
    match found {
        MANY.. => Some(MANY_SCORE),
        ENOUGH.. => Some(SCORE),
        _ => None,
    }
}

/// One phrase: what the reason calls it, where it is looked for, the lowercase words one of which it cannot
/// do without (found for all phrases in one pass), and the pattern, matched against the lowercased text.
/// Patterns are bytes with Unicode off (`(?-u)`: `.`, `\s` and `\b` are ASCII's): the phrases are English,
/// and Unicode classes make far larger automata.
struct Phrase {
    name: &'static str,
    place: Where,
    anchors: &'static [&'static str],
    pattern: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Body,
    Subject,
}

const fn phrase(name: &'static str, anchors: &'static [&'static str], pattern: &'static str) -> Phrase {
    Phrase { name, place: Where::Body, anchors, pattern }
}

const PHRASES: &[Phrase] = &[
    phrase("remove in the subject", &["remove"], r#"remove["']? in the subject"#),
    phrase(
        "reply to be removed",
        &["remove"],
        r#"(?s)(reply|respond|send)[^.\n]{0,60}\b(the word |with )?["']?remove["']?\b"#,
    ),
    phrase(
        "to be removed from a list",
        &["remove", "taken off"],
        r"(?s)\b(to be|be|get) (removed|taken off)\b.{0,60}\b(list|mailing|database|e-?mail)",
    ),
    phrase(
        "a bill's number as licence",
        &["1618", "section 301", "title iii"],
        r"s\.? ?1618|bill 1618|section 301|title iii",
    ),
    phrase("in compliance with", &["compliance"], r"in (full )?compliance with"),
    phrase("100% free or guaranteed", &["100%", "100 %"], r"100 ?% (free|guaranteed|satisf|legal|natural|pure|risk)"),
    phrase("risk free", &["risk free", "risk-free"], r"risk[- ]free"),
    phrase("no obligation", &["no obligation"], r"no obligation"),
    phrase("limited time", &["limited time"], r"limited time"),
    phrase("dear friend", &["dear"], r"^\s*dear (friend|sir|madam|valued|member)"),
    phrase("earn dollars", &["earn $", "make $", "earn up to $", "make up to $"], r"\b(earn|make) (up to )?\$\s?\d"),
    phrase(
        "work from home",
        &["work from home", "work at home", "home-based", "home based"],
        r"work (from|at) home|home[- ]based business",
    ),
    phrase(
        "a one-time mailing",
        &["one-time", "one time", "will not"],
        r"one[- ]time (mailing|e-?mail|offer)|will not (receive|be sent) (any )?(further|more|another)",
    ),
    phrase(
        "act or order now",
        &["act now", "order now", "order today", "call now", "call today"],
        r"\bact now\b|\border (now|today)\b|\bcall (now|today)\b",
    ),
    phrase("money back", &["money back", "money-back"], r"money[- ]back"),
    phrase(
        "a toll-free number",
        &["toll", "18", "1-8", "1 8"],
        r"toll[- ]free|1[- ]?8[0-9]{2}[- ][0-9]{3}[- ][0-9]{4}",
    ),
    phrase("an order form", &["order form", "fill out", "fax"], r"order form|fill out|fax (it )?(back|to)"),
    phrase("click here", &["click here", "click below"], r"click (here|below)"),
    phrase("mortgage", &["mortgage", "refinanc"], r"mortgage|refinanc"),
    Phrase { name: "ADV in the subject", place: Where::Subject, anchors: &["adv"], pattern: r"\badv\b|advertisement" },
];

/// Not a pattern of lowercased text: six words or more in capitals in a row (`CAPITALS`).
const CAPITALS: &str = "a run of capitals";

/// How far a phrase's match reaches from the anchor it holds, either way: every pattern but those anchored at
/// the text's start matches at most this many bytes (the longest, "reply … remove", 84), so a match holding
/// an anchor lies within this of it.
const REACH: usize = 100;

/// Every phrase's anchors in one automaton, and each phrase's regex, compiled the first time a message has
/// its anchor: a layer instance is often fresh and compiling all twenty takes a millisecond, where most mail
/// holds the words of a few. The anchors' automaton is a DFA: searched for every anchor, overlaps included
/// (`1618` holds `18`), in a third of the NFA's time. A phrase's regex then reads only the text around its
/// anchors, not the whole message once per candidate phrase.
struct Compiled {
    anchors: AhoCorasick,
    /// Anchor index → the phrases it belongs to.
    owners: Vec<Vec<usize>>,
    regexes: Vec<OnceLock<Regex>>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let mut anchors: Vec<&str> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        for (i, phrase) in PHRASES.iter().enumerate() {
            for anchor in phrase.anchors {
                match anchors.iter().position(|a| a == anchor) {
                    Some(at) => owners[at].push(i),
                    None => {
                        anchors.push(anchor);
                        owners.push(vec![i]);
                    }
                }
            }
        }
        // No prefilter: the DFA already reads a byte a step, and the prefilter's own build was a third of the
        // automaton's (a fresh instance pays it per message).
        let anchors = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&anchors)
            .expect("the anchors build");
        Compiled { anchors, owners, regexes: PHRASES.iter().map(|_| OnceLock::new()).collect() }
    })
}

impl Compiled {
    fn regex(&self, i: usize) -> &Regex {
        self.regexes[i]
            .get_or_init(|| Regex::new(&format!("(?-u){}", PHRASES[i].pattern)).expect("the phrases compile"))
    }

    /// Marks in `hit` the phrases of `place` that `lowercase` carries.
    fn mark(&self, place: Where, lowercase: &[u8], hit: &mut [bool]) {
        // Per candidate phrase, the stretches of text within `REACH` of its anchors, merged where they meet:
        // each byte is read at most once per phrase however often an anchor repeats.
        let mut stretches: Vec<Vec<(usize, usize)>> = vec![Vec::new(); PHRASES.len()];
        for m in self.anchors.find_overlapping_iter(lowercase) {
            let end = (m.end() + REACH).min(lowercase.len());
            for &i in &self.owners[m.pattern().as_usize()] {
                if hit[i] || PHRASES[i].place != place {
                    continue;
                }
                // A phrase at the text's start may follow any amount of space: it is searched from there.
                let start = if PHRASES[i].pattern.starts_with('^') { 0 } else { m.start().saturating_sub(REACH) };
                match stretches[i].last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => stretches[i].push((start, end)),
                }
            }
        }
        for (i, stretches) in stretches.iter().enumerate() {
            hit[i] |= stretches.iter().any(|&(start, end)| {
                // The search starts at `start` with the text before it as context (`\b`, `^`), and ends where
                // a word ends, so a `\b` at its end means one in the text.
                let end = end + lowercase[end..].iter().take_while(|b| is_word(**b)).count();
                self.regex(i).is_match_at(&lowercase[..end], start)
            });
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `text` (as written, not lowercased) has six words or more in a row in capitals, three letters or
/// more each and each followed by spaces or `!,.`, as shouted offers are: the rule `(\b[A-Z]{3,}\b[ !,.]+){6,}`.
/// Read without a regex: most text has no three capitals in a row, which eight bytes at a time rule out
/// (the regex's automaton read a byte a step, a third of the phrases' cost), and only from a word holding
/// three are the words counted.
fn shouts(text: &[u8]) -> bool {
    let mut at = 0;
    while let Some(found) = three_capitals(text, at) {
        let start = found - text[..found].iter().rev().take_while(|b| is_word(**b)).count();
        match shouted_run(text, start) {
            Ok(()) => return true,
            Err(broken) => at = broken.max(found + 1),
        }
    }
    false
}

/// Eight bytes' worth of ones, and of high bits.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// The high bit of each byte of `x` that is an ASCII capital. Bytes are first taken below 0x80, so adding to
/// one never carries into the next; bytes that were 0x80 or more are then left out.
fn capitals(x: u64) -> u64 {
    let low = x & !HIGH;
    let from_a = low + ONES * (0x80 - u64::from(b'A'));
    let past_z = low + ONES * (0x80 - u64::from(b'Z') - 1);
    from_a & !past_z & !x & HIGH
}

/// `text` with its ASCII capitals lowered, eight bytes a step: a byte at a time, this copy cost a third of
/// the phrases' instructions in wasm.
fn lowercase(text: &[u8]) -> Vec<u8> {
    let mut lower = text.to_vec();
    let mut chunks = lower.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes((&*chunk).try_into().expect("eight bytes"));
        // A capital's high bit, moved to 0x20, is what lowers it.
        chunk.copy_from_slice(&(x | capitals(x) >> 2).to_le_bytes());
    }
    chunks.into_remainder().make_ascii_lowercase();
    lower
}

/// Where, from `from` on, three capitals in a row begin.
fn three_capitals(text: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    // Eight bytes a load, six a step: three in a row starting at any of the first six bytes show in it.
    while at + 8 <= text.len() {
        let chunk = u64::from_le_bytes(text[at..at + 8].try_into().expect("eight bytes"));
        let m = capitals(chunk);
        let three = m & (m >> 8) & (m >> 16);
        if three != 0 {
            return Some(at + three.trailing_zeros() as usize / 8);
        }
        at += 6;
    }
    (at..text.len().saturating_sub(2)).find(|&i| text[i..i + 3].iter().all(u8::is_ascii_uppercase))
}

/// Counts shouted words from the word starting at `start`: `Ok` at the sixth in a row, else `Err` with
/// where the run broke.
fn shouted_run(text: &[u8], start: usize) -> Result<(), usize> {
    let mut run = 0;
    let mut at = start;
    loop {
        let word = text[at..].iter().take_while(|b| is_word(**b)).count();
        let separators = text[at + word..].iter().take_while(|b| matches!(b, b' ' | b'!' | b',' | b'.')).count();
        if word < 3 || separators == 0 || !text[at..at + word].iter().all(u8::is_ascii_uppercase) {
            return Err(at + word.max(1));
        }
        run += 1;
        if run == 6 {
            return Ok(());
        }
        at += word + separators;
    }
}

/// The different bulk phrases a message carries, by name, from its `body` field and subject.
pub fn found(body: &[String], subject: Option<&str>) -> Vec<&'static str> {
    let compiled = compiled();
    let mut hit = vec![false; PHRASES.len()];
    for part in body {
        compiled.mark(Where::Body, &lowercase(part.as_bytes()), &mut hit);
    }
    if let Some(subject) = subject {
        compiled.mark(Where::Subject, &lowercase(subject.as_bytes()), &mut hit);
    }
    let mut found: Vec<&str> = PHRASES.iter().zip(hit).filter_map(|(p, hit)| hit.then_some(p.name)).collect();
    if body.iter().any(|part| shouts(part.as_bytes())) {
        found.push(CAPITALS);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phrase_fires_on_its_own_words_through_its_anchor() {
        let samples = [
            "put REMOVE in the subject line",
            "simply reply with the word remove",
            "if you wish to be removed from our mailing list",
            "sent in accordance with S. 1618 Title III",
            "this mail is in compliance with the law",
            "it is 100% guaranteed",
            "a risk-free trial",
            "there is no obligation",
            "for a limited time",
            "Dear Friend,\nwe write",
            "you can earn $5,000 a week",
            "work from home today",
            "this is a one-time mailing",
            "act now before it ends",
            "a full money back promise",
            "call 1-888-555-1234",
            "just fill out the form",
            "click here to see",
            "lower your mortgage payment",
            "ADV: cheap toner",
        ];
        assert_eq!(samples.len(), PHRASES.len());
        let compiled = compiled();
        for (i, sample) in samples.iter().enumerate() {
            let mut hit = vec![false; PHRASES.len()];
            compiled.mark(PHRASES[i].place, &sample.as_bytes().to_ascii_lowercase(), &mut hit);
            assert!(hit[i], "{} on {sample:?}", PHRASES[i].name);
        }
        let mut hit = vec![false; PHRASES.len()];
        compiled.mark(Where::Subject, b"advent calendar", &mut hit);
        assert!(!hit.iter().any(|h| *h));
    }

    #[test]
    fn no_phrase_reaches_further_than_its_window() {
        for phrase in PHRASES.iter().filter(|p| !p.pattern.starts_with('^')) {
            // Bytes, not UTF-8: the patterns run on `regex::bytes` with Unicode off.
            let hir = regex_syntax::ParserBuilder::new()
                .utf8(false)
                .build()
                .parse(&format!("(?-u){}", phrase.pattern))
                .unwrap();
            let longest = hir.properties().maximum_len().expect("bounded");
            assert!(longest <= REACH, "{}: {longest} bytes", phrase.name);
        }
    }

    #[test]
    fn a_phrase_is_found_wherever_its_anchor_repeats() {
        let far = format!("{}remove {} reply with remove", "x ".repeat(300), "remove ".repeat(100));
        let mut hit = vec![false; PHRASES.len()];
        compiled().mark(Where::Body, far.as_bytes(), &mut hit);
        assert!(hit[1], "reply to be removed, past a hundred other anchors");
        let spaced = format!("{}dear friend, hello", " \n".repeat(200));
        let mut hit = vec![false; PHRASES.len()];
        compiled().mark(Where::Body, spaced.as_bytes(), &mut hit);
        assert!(hit[9], "dear friend after 400 bytes of space");
        let mut hit = vec![false; PHRASES.len()];
        compiled().mark(Where::Body, b"call 1-800-555-1234x", &mut hit);
        compiled().mark(Where::Body, b"act nowadays", &mut hit);
        assert!(hit[15] && !hit[13], "a window's end is a word's: `\\b` as in the whole text");
    }

    #[test]
    fn shouting_is_read_as_its_rule_says() {
        let rule = Regex::new(r"(?-u)(\b[A-Z]{3,}\b[ !,.]+){6,}").unwrap();
        // Texts of the pieces that matter (a word with a digit, capitals after a small letter, a letter outside
        // ASCII, separators and not), drawn at random but the same every run, long enough for six words.
        let pieces: [&[u8]; 9] = [b"ABC", b"ABCD", b"AB", b"ABCD1", b"aBCD", b"\xc3\x89", b" ", b"!.", b"\n"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut shouted = 0;
        for _ in 0..200_000 {
            let len = next() % 40;
            let text: Vec<u8> = (0..len)
                .flat_map(|_| {
                    // Capitals and a space half the time each, so that runs of six happen.
                    let pick = next() % 16;
                    let piece = if pick < 5 {
                        b"ABC" as &[u8]
                    } else if pick < 9 {
                        b" "
                    } else {
                        pieces[pick as usize % 9]
                    };
                    piece.iter().copied()
                })
                .collect();
            assert_eq!(shouts(&text), rule.is_match(&text), "{:?}", String::from_utf8_lossy(&text));
            shouted += usize::from(rule.is_match(&text));
        }
        assert!(shouted > 1000, "runs of six were drawn: {shouted}");
    }

    #[test]
    fn lowered_eight_bytes_a_step_as_a_byte_at_a_time() {
        // Every byte value at every place of a chunk, and every length's remainder.
        let all: Vec<u8> = (0..=255).collect();
        for start in 0..8 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, all.len() - start] {
                let text = &all[start..start + len];
                assert_eq!(lowercase(text), text.to_ascii_lowercase(), "{start} {len}");
            }
        }
        assert_eq!(lowercase("ÉCOLE Straße @[`{ AZ az".as_bytes()), "École straße @[`{ az az".as_bytes());
    }

    #[test]
    fn six_shouted_words_in_a_row_and_no_fewer() {
        assert!(shouts(b"Read this: THE BEST DEAL YOU WILL EVER SEE!!! now"));
        assert!(!shouts(b"THE BEST DEAL YOU WILL see"));
        assert!(!shouts(b"THE BEST DEAL\nYOU WILL EVER SEE"));
        assert!(!shouts(b"THE BEST DEAL YOU WILL EVER"), "the sixth word needs its separator, as in the rule");
        assert!(shouts(b"FREE FREE FREE FREE FREE FREE."));
        assert!(shouts(b"\xffZZZ ABC ABC ABC ABC ABC "), "a byte past 0x7f changes no neighbour");
    }
}
