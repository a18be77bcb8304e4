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
pub const ENOUGH: usize = 3;
/// What that adds to the message's score: not a tag on its own (5), but with the classifier's doubt it is.
pub const SCORE: f64 = 3.0;
pub const SYMBOL: &str = "BULK_PHRASES";

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

/// Every phrase's anchors in one automaton, and each phrase's regex, compiled the first time a message has
/// its anchor: a layer instance is often fresh (the engine keeps few warm ones) and compiling all twenty
/// takes a millisecond, where most mail holds the words of a few. The anchors' automaton is a DFA: searched
/// for every anchor, overlaps included (`1618` holds `18`), in a third of the NFA's time.
struct Compiled {
    anchors: AhoCorasick,
    /// Anchor index → the phrases it belongs to.
    owners: Vec<Vec<usize>>,
    regexes: Vec<OnceLock<Regex>>,
    shouting: OnceLock<Regex>,
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
        Compiled {
            anchors,
            owners,
            regexes: PHRASES.iter().map(|_| OnceLock::new()).collect(),
            shouting: OnceLock::new(),
        }
    })
}

impl Compiled {
    fn regex(&self, i: usize) -> &Regex {
        self.regexes[i]
            .get_or_init(|| Regex::new(&format!("(?-u){}", PHRASES[i].pattern)).expect("the phrases compile"))
    }

    /// Marks in `hit` the phrases of `place` that `lowercase` carries.
    fn mark(&self, place: Where, lowercase: &[u8], hit: &mut [bool]) {
        let mut candidate = vec![false; PHRASES.len()];
        for m in self.anchors.find_overlapping_iter(lowercase) {
            for &i in &self.owners[m.pattern().as_usize()] {
                candidate[i] = true;
            }
        }
        for (i, phrase) in PHRASES.iter().enumerate() {
            if candidate[i] && !hit[i] && phrase.place == place && self.regex(i).is_match(lowercase) {
                hit[i] = true;
            }
        }
    }

    /// Whether `text` (as written, not lowercased) has six words or more in a row in capitals, three letters
    /// or more each and apart only by spaces and `!,.`, as shouted offers are.
    fn shouts(&self, text: &[u8]) -> bool {
        self.shouting.get_or_init(|| Regex::new(r"(?-u)(\b[A-Z]{3,}\b[ !,.]+){6,}").expect("compiles")).is_match(text)
    }
}

/// The different bulk phrases a message carries, by name, from its `body` field and subject.
pub fn found(body: &[String], subject: Option<&str>) -> Vec<&'static str> {
    let compiled = compiled();
    let mut hit = vec![false; PHRASES.len()];
    for part in body {
        compiled.mark(Where::Body, &part.as_bytes().to_ascii_lowercase(), &mut hit);
    }
    if let Some(subject) = subject {
        compiled.mark(Where::Subject, &subject.as_bytes().to_ascii_lowercase(), &mut hit);
    }
    let mut found: Vec<&str> = PHRASES.iter().zip(hit).filter_map(|(p, hit)| hit.then_some(p.name)).collect();
    if body.iter().any(|part| compiled.shouts(part.as_bytes())) {
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
    fn six_shouted_words_in_a_row_and_no_fewer() {
        let shouts = |text: &[u8]| compiled().shouts(text);
        assert!(shouts(b"Read this: THE BEST DEAL YOU WILL EVER SEE!!! now"));
        assert!(!shouts(b"THE BEST DEAL YOU WILL see"));
        assert!(!shouts(b"THE BEST DEAL\nYOU WILL EVER SEE"));
        assert!(!shouts(b"THE BEST DEAL YOU WILL EVER"), "the sixth word needs its separator, as in the rule");
        assert!(shouts(b"FREE FREE FREE FREE FREE FREE."));
    }
}
