//! What the classifier counts: body words and word pairs, subject words, sender, link and mailbox domains,
//! the words of the other headers' values (as SpamAssassin's tokenizer does: a mailer's priorities, encodings
//! and tracking headers), and a few structural facts. Each token once per message, at most `MAX_TOKENS`. What
//! a relaying mailing list adds (its headers, its hosts and links, its footer) is on its ham and spam alike
//! and is not counted; nor is what a mail store writes after delivery, which a gateway never sees.

use moat_sdk::Message;
use moat_sdk::text::find_byte;
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: tokens are deduplicated by a 64-bit hash of their text (a collision drops one token of a
/// message, which a statistical filter does not notice), so each token is hashed once, cheaply (SipHash costs
/// several times more in wasm), and never copied. The text is given as its pieces, hashed as if joined: a
/// token is only written out when it is new.
fn fnv1a(pieces: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for piece in pieces {
        for b in piece.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The hash of the pair of words hashed `first` and `second`, in that order.
fn pair_hash(first: u64, second: u64) -> u64 {
    (first.rotate_left(32) ^ second).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Hashes a set of hashes without hashing them again.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0, |h, b| h.rotate_left(8) ^ u64::from(*b));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Headers whose values name one message or one recipient (dates, ids, addresses, trace): their words say
/// nothing another message repeats, or they are read above in their own way.
const UNIQUE_VALUES: &[&str] = &[
    "date",
    "subject",
    "in-reply-to",
    "references",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "resent-date",
    "resent-message-id",
];

/// Headers a mail reader, mail store or local delivery writes after the message has passed the gateway (its
/// flags, mbox line counts, the delivery time; the list SpamAssassin's and SpamBayes's tokenizers ignore): a
/// gateway never sees them, so they tell only where a collection of mail was kept — on the SpamAssassin
/// corpus, which folders it was saved in.
const WRITTEN_AFTER_DELIVERY: &[&str] = &[
    "delivery-date",
    "status",
    "x-status",
    "x-flags",
    "x-keywords",
    "x-uid",
    "x-uidl",
    "x-imapbase",
    "replied",
    "forwarded",
    "lines",
    "content-length",
];

const MAX_TOKENS: usize = 1500;
const MAX_BODY_CHARS: usize = 60_000;

/// The words of a text as they are counted: the runs of letters, digits and `$!'-`, without `'` or `-` at
/// either end, of 3 to 24 characters; numbers as `#num`, the rest lower-cased; a longer run as `skip:X N`, its
/// first character and its length in tens (SpamBayes's way: a hash buster or an encoded blob is no word, but
/// that it is there says something). Borrowed when already lower-case (most words), so a word costs no
/// allocation until it becomes a key. Chinese and Japanese are written without spaces: a run of their
/// characters is no word but a sentence, so each two neighbouring characters of it count as a word instead
/// (the usual way to index such text without a dictionary).
fn words(text: &str) -> Words<'_> {
    Words { text, at: 0 }
}

/// The words of a text, found in one pass over its bytes that also notes what each word holds (capitals,
/// only digits, characters beyond ASCII). In wasm every comparison is an instruction: `str::split` with a
/// character predicate, then a pass per question asked of each word, cost over 500 instructions a word,
/// most of the classifier's work on a long message.
struct Words<'a> {
    text: &'a str,
    at: usize,
}

/// What a byte is, as bits: part of a word; and of those, a capital, a digit, or `'`/`-` (trimmed at a
/// word's ends). Bytes beyond ASCII are `BEYOND`: their character is decoded to tell.
const WORD: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 4;
const EDGE: u8 = 8;
const BEYOND: u8 = 16;

static CLASSES: [u8; 256] = {
    let mut table = [BEYOND; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b'A'..=b'Z' => WORD | UPPER,
            b'0'..=b'9' => WORD | DIGIT,
            b'a'..=b'z' | b'$' | b'!' => WORD,
            b'\'' | b'-' => WORD | EDGE,
            _ => 0,
        };
        b += 1;
    }
    table
};

fn in_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '$' | '!' | '\'' | '-')
}

/// Han ideographs, hiragana and katakana: scripts written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

/// What a character beyond ASCII is to the word scanner.
#[derive(PartialEq)]
enum Beyond {
    /// Part of a word.
    Word,
    /// Of a script written without spaces: counted in pairs of neighbours.
    Unspaced,
    /// Neither: it ends a word.
    Other,
}

/// What the character at `at` (beyond ASCII) is, and its length.
fn char_at(text: &str, at: usize) -> (Beyond, usize) {
    let c = text[at..].chars().next().expect("a character starts here");
    let kind = if unspaced(c) {
        Beyond::Unspaced
    } else if in_word(c) {
        Beyond::Word
    } else {
        Beyond::Other
    };
    (kind, c.len_utf8())
}

/// The classes of a word's bytes: any of them (`or`) and all of them (`and`).
fn classes(word: &str) -> (u8, u8) {
    word.bytes().fold((0, u8::MAX), |(or, and), b| {
        let class = CLASSES[usize::from(b)];
        (or | class, and & class)
    })
}

impl<'a> Iterator for Words<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        let text = self.text;
        let bytes = text.as_bytes();
        let mut at = self.at;
        loop {
            // To the next word's start.
            let start = loop {
                let &b = bytes.get(at)?;
                let class = CLASSES[usize::from(b)];
                if class & WORD != 0 {
                    break at;
                }
                if class == BEYOND {
                    match char_at(text, at) {
                        (Beyond::Word, _) => break at,
                        (Beyond::Unspaced, len) => {
                            let next = at + len;
                            if bytes.get(next).is_some_and(|&b| CLASSES[usize::from(b)] == BEYOND)
                                && let (Beyond::Unspaced, second) = char_at(text, next)
                            {
                                self.at = next;
                                return Some(Cow::Borrowed(&text[at..next + second]));
                            }
                            at = next;
                        }
                        (Beyond::Other, len) => at += len,
                    }
                } else {
                    at += 1;
                }
            };
            // To its end, noting its bytes' classes.
            let (mut or, mut and) = (0, u8::MAX);
            while let Some(&b) = bytes.get(at) {
                let class = CLASSES[usize::from(b)];
                if class & WORD != 0 {
                    (or, and) = (or | class, and & class);
                    at += 1;
                    continue;
                }
                if class == BEYOND
                    && let (Beyond::Word, len) = char_at(text, at)
                {
                    (or, and) = (or | BEYOND, 0);
                    at += len;
                    continue;
                }
                break;
            }
            self.at = at;
            if let Some(word) = counted(&text[start..at], or, and) {
                return Some(word);
            }
        }
    }
}

/// A run of word characters as it is counted, given its bytes' classes; `None` if it is not counted.
fn counted(run: &str, or: u8, and: u8) -> Option<Cow<'_, str>> {
    let (word, or, and) = if or & EDGE != 0 {
        let word = run.trim_matches(['\'', '-']);
        let (or, and) = classes(word);
        (word, or, and)
    } else {
        (run, or, and)
    };
    let ascii = or & BEYOND == 0;
    let chars = if ascii { word.len() } else { word.chars().count() };
    if chars > 24 {
        // Too long to be a word a reader reads (a link's tail, an encoded blob, a string that makes each
        // copy unique): its first character and length say what kind, as SpamBayes's `skip:` tokens do.
        let first = word.chars().next().and_then(|c| c.to_lowercase().next()).unwrap_or('?');
        return Some(Cow::Owned(format!("skip:{first} {}", chars / 10 * 10)));
    }
    if chars < 3 {
        return None;
    }
    Some(if and & DIGIT != 0 {
        Cow::Borrowed("#num")
    } else if ascii && or & UPPER != 0 {
        Cow::Owned(word.to_ascii_lowercase())
    } else if !ascii && word.chars().any(char::is_uppercase) {
        Cow::Owned(word.to_lowercase())
    } else {
        Cow::Borrowed(word)
    })
}

/// Drops tags, keeps link targets' domains and the visible text.
fn strip_html(html: &str, urls: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let rest = each_tag(html, urls, |text| {
        out.push_str(text);
        out.push(' ');
    });
    out.push_str(rest);
    out
}

/// Calls `text` with the text before each tag and keeps each tag's `href=` value; returns what follows the
/// last tag (from a `<` that never closes on, which is text: "a < b").
fn each_tag<'a>(html: &'a str, urls: &mut Vec<String>, mut text: impl FnMut(&'a str)) -> &'a str {
    let mut rest = html;
    while let Some(open) = find_byte(rest, b'<') {
        text(&rest[..open]);
        let Some(close) = find_byte(&rest[open..], b'>') else { return &rest[open..] };
        let tag = &rest[open..open + close];
        // The first `href=` in any case, found by its `=` (comparing five bytes at every place cost more).
        let href =
            tag.match_indices('=').find(|&(at, _)| at >= 4 && tag.as_bytes()[at - 4..at].eq_ignore_ascii_case(b"href"));
        if let Some((equals, _)) = href {
            let value = tag[equals + 1..].trim_start_matches(['"', '\'']);
            urls.push(value.split(['"', '\'', ' ', '>']).next().unwrap_or("").to_owned());
        }
        rest = &rest[open + close + 1..];
    }
    rest
}

/// The whitespace-separated words of `text` that are URLs: they hold `://` or start with `www.`, in order.
/// Found by those two strings rather than by visiting every word: most words are no URL.
fn url_words(text: &str) -> Vec<&str> {
    let mut words = words_holding(text, "://");
    words.extend(words_holding(text, "www.").into_iter().filter(|&(start, _)| text[start..].starts_with("www.")));
    words.sort_unstable();
    words.dedup();
    words.into_iter().map(|(start, end)| &text[start..end]).collect()
}

/// The (start, end) of each whitespace-separated word of `text` that holds `mark`. A mark inside the word
/// just found is passed over, so no stretch of text is searched twice: a message of one long word full of
/// marks costs what its length does.
fn words_holding(text: &str, mark: &str) -> Vec<(usize, usize)> {
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut searched_to = 0;
    for (at, _) in text.match_indices(mark) {
        if at < searched_to {
            continue;
        }
        // Back to the whitespace before, which is at or after the last word's end.
        let start = text[searched_to..at].rfind(char::is_whitespace).map_or(searched_to, |ws| {
            searched_to + ws + text[searched_to + ws..].chars().next().map_or(1, char::len_utf8)
        });
        let end = text[at..].find(char::is_whitespace).map_or(text.len(), |ws| at + ws);
        words.push((start, end));
        searched_to = end;
    }
    words
}

fn url_domain(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#', ':']).next()?.rsplit('@').next()?.to_lowercase();
    host.contains('.').then_some(host)
}

/// The domains (their last two labels) of the mailing lists that relayed a message, from the headers lists
/// write. A list's own hosts and links are on its ham and its spam alike: they say which list, not what was sent.
fn list_domains(message: &Message) -> Vec<String> {
    let mut domains = Vec::new();
    for header in message.headers() {
        let name = header.name.to_ascii_lowercase();
        let is_id = name == "list-id";
        if !is_id && !matches!(name.as_str(), "list-post" | "x-beenthere" | "mailing-list" | "x-mailing-list") {
            continue;
        }
        let value = header.value.to_ascii_lowercase();
        let host = if is_id {
            value.rsplit('<').next().map(|id| id.trim_end_matches(|c: char| c == '>' || c.is_whitespace()))
        } else {
            value.split_once('@').and_then(|(_, rest)| {
                rest.split(|c: char| matches!(c, '>' | '?' | ';' | ',') || c.is_whitespace()).next()
            })
        };
        if let Some(domain) = host.and_then(last_two_labels)
            && !domains.contains(&domain)
        {
            domains.push(domain);
        }
    }
    domains
}

/// Where the footer a list appends begins: at the first separator line (20 or more `_` or `-`) of the body's
/// last `FOOTER_BYTES` after which the list's domain is named, or the body's end. The footer (how to leave the
/// list, a sponsor's block) is on the list's ham and spam alike.
fn before_list_footer(body: &str, lists: &[String]) -> usize {
    const FOOTER_BYTES: usize = 1000;
    let mut from = body.len().saturating_sub(FOOTER_BYTES);
    while !body.is_char_boundary(from) {
        from += 1;
    }
    // Lower-casing ASCII keeps every byte where it was, so offsets in `tail` are offsets in the body.
    let tail = body[from..].to_ascii_lowercase();
    let mut at = 0;
    for line in tail.split_inclusive('\n') {
        let mark = line.trim();
        if mark.len() >= 20
            && (mark.bytes().all(|b| b == b'_') || mark.bytes().all(|b| b == b'-'))
            && lists.iter().any(|domain| tail[at..].contains(domain.as_str()))
        {
            return from + at;
        }
        at += line.len();
    }
    body.len()
}

/// `b.c` of `a.b.c`, if the host has two labels at least.
/// Whether `host` (lower-case) is one of the relaying lists' own.
fn lists_own(host: &str, lists: &[String]) -> bool {
    last_two_labels(host).is_some_and(|domain| lists.contains(&domain))
}

fn last_two_labels(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.trim_matches('.').rsplit('.').take(2).collect();
    (labels.len() == 2 && labels.iter().all(|l| !l.is_empty())).then(|| format!("{}.{}", labels[1], labels[0]))
}

fn sender_domain(value: &str) -> Option<String> {
    let value = value.rsplit('<').next()?.trim_end_matches('>').trim();
    Some(value.rsplit_once('@')?.1.trim().to_lowercase())
}

/// Whether a text part is HTML sent as text: `<html` or `<font`, in lower or upper case. Found by its `<`
/// in one pass (four searches for the words cost four passes).
fn html_in_text(body: &str) -> bool {
    body.match_indices('<')
        .any(|(at, _)| matches!(body.as_bytes().get(at + 1..at + 5), Some(b"html" | b"HTML" | b"font" | b"FONT")))
}

/// A message's tokens as they are found: each one once, at most `MAX_TOKENS`, after the two totals' keys.
struct Collector {
    seen: HashSet<u64, BuildHasherDefault<AlreadyHashed>>,
    keys: Keys,
}

impl Collector {
    fn new() -> Self {
        let mut keys = Keys::new();
        keys.push(&["n:spam"]);
        keys.push(&["n:ham"]);
        Collector { seen: HashSet::with_capacity_and_hasher(MAX_TOKENS, BuildHasherDefault::default()), keys }
    }

    /// Keeps the token written as `pieces` (joined), unless it was given before or there are enough. A token
    /// is given as its pieces: formatting machinery cost a third of the tokenizer's instructions, and a token
    /// the message repeats (most words) is hashed and never written out.
    fn add(&mut self, pieces: &[&str]) {
        self.add_hashed(fnv1a(pieces), pieces);
    }

    /// As [`Collector::add`], with the token's hash: always the same for the same text, and not another
    /// token's.
    fn add_hashed(&mut self, hash: u64, pieces: &[&str]) {
        if !self.full() && self.seen.insert(hash) {
            self.keys.push_token(pieces);
        }
    }

    fn full(&self) -> bool {
        self.keys.len() >= MAX_TOKENS + 2
    }
}

/// A message's keys, written one after another into one string: a large message's 1,500 keys cost a few
/// allocations, not one each (in wasm a key's allocation and free cost more than building it).
pub struct Keys {
    text: String,
    ends: Vec<usize>,
}

impl Keys {
    fn new() -> Self {
        Keys { text: String::with_capacity(MAX_TOKENS * 12), ends: Vec::with_capacity(MAX_TOKENS + 2) }
    }

    fn push(&mut self, pieces: &[&str]) {
        pieces.iter().for_each(|p| self.text.push_str(p));
        self.ends.push(self.text.len());
    }

    /// A token's key: `t:` and the token's pieces.
    fn push_token(&mut self, pieces: &[&str]) {
        self.text.push_str("t:");
        self.push(pieces);
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Every key, in order.
    pub fn all(&self) -> Vec<&str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(start, &end)| &self.text[start..end]).collect()
    }
}

/// The message's token keys as stored (`t:TOKEN`), after the two totals' keys `n:spam` and `n:ham`: built
/// once, they are both what the model reads and what it learns.
pub fn of(message: &Message) -> Keys {
    let mut tokens = Collector::new();
    for w in words(&message.subject().unwrap_or_default()) {
        tokens.add(&["subject:", &w]);
    }
    for from in message.header("From") {
        if let Some(d) = sender_domain(&from) {
            tokens.add(&["from:", &d]);
        }
    }
    let subject = message.subject().unwrap_or_default();
    let bangs = subject.matches('!').count().min(3);
    if bangs > 0 {
        tokens.add(&["subject:bang", ["1", "2", "3"][bangs - 1]]);
    }
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase()) {
        tokens.add(&["subject:all-caps"]);
    }
    let lists = list_domains(message);
    for header in message.headers() {
        let name = header.name.to_ascii_lowercase();
        if WRITTEN_AFTER_DELIVERY.contains(&name.as_str()) {
            continue;
        }
        // Which headers a message has says much about the software that sent it.
        // Mailing-list headers say which list relayed it, not whether the sender is a spammer: lists relay
        // spam too (on the SpamAssassin corpus, counting them cost a third of the misses).
        let list_header = name.starts_with("list-")
            || matches!(
                name.as_str(),
                "x-mailman-version"
                    | "x-beenthere"
                    | "precedence"
                    | "errors-to"
                    | "sender"
                    | "mailing-list"
                    | "x-mailing-list"
                    | "x-loop"
            );
        if !list_header {
            tokens.add(&["hdr:", &name]);
        }
        // Lower-cased only for the fields read below: most are not.
        let value = || header.value.to_ascii_lowercase();
        match name.as_str() {
            "received" => {
                let value = value();
                for host in value
                    .split(|c: char| c.is_whitespace() || "()[];".contains(c))
                    // Host names only: letters, digits, dots and hyphens (`8.12.5/Submit` is a program's version).
                    .filter(|w| {
                        w.contains('.')
                            && w.bytes().any(|b| b.is_ascii_alphabetic())
                            && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    })
                {
                    if let Some(domain) = last_two_labels(host)
                        && !lists.contains(&domain)
                    {
                        tokens.add(&["received:", &domain]);
                    }
                }
            }
            "message-id" => {
                if let Some(domain) = value().rsplit('@').next().map(|d| d.trim_end_matches('>')) {
                    tokens.add(&["message-id:", domain]);
                }
            }
            "content-type" => {
                let value = value();
                let kind = value.split(';').next().unwrap_or("").trim();
                tokens.add(&["content-type:", kind]);
                if let Some(charset) = value.split("charset=").nth(1) {
                    let charset = charset.trim_matches(['"', '\'', ' ']).split(';').next().unwrap_or("");
                    tokens.add(&["charset:", charset]);
                }
            }
            "to" | "cc" => {
                let n = header.value.matches('@').count();
                let count = match n {
                    0 => "0",
                    1 => "1",
                    2..=5 => "few",
                    _ => "many",
                };
                tokens.add(&[&name, ":count", count]);
            }
            // The mailer's name (`x-mailer:outlook`) among them. `words` lower-cases what it returns.
            _ if !list_header && !UNIQUE_VALUES.contains(&name.as_str()) => {
                for w in words(&header.value).take(3) {
                    tokens.add(&[&name, ":", &w]);
                }
            }
            _ => {}
        }
    }
    let mut urls = Vec::new();
    let texts = message.text_parts();
    let htmls = message.html_parts();
    if texts.is_empty() && !htmls.is_empty() {
        tokens.add(&["struct:html-only"]);
    }
    let mut body: String = texts.join("\n");
    for html in &htmls {
        if texts.is_empty() {
            body.push_str(&strip_html(html, &mut urls));
        } else {
            // The text parts say what the HTML does: only its links are read.
            each_tag(html, &mut urls, |_| {});
        }
    }
    if !lists.is_empty() {
        body.truncate(before_list_footer(&body, &lists));
    }
    // A body of no more bytes than the limit has no more characters either.
    if body.len() > MAX_BODY_CHARS
        && let Some((cut, _)) = body.char_indices().nth(MAX_BODY_CHARS)
    {
        body.truncate(cut);
    }
    // HTML sent as plain text: its tags are telling, and its words are still words.
    let body = if html_in_text(&body) {
        tokens.add(&["struct:html-in-text"]);
        strip_html(&body, &mut urls)
    } else {
        body
    };
    for word in url_words(&body) {
        urls.push(word.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != ':' && c != '.').to_owned());
    }
    for url in &urls {
        if let Some(d) = url_domain(url)
            && !lists_own(&d, &lists)
        {
            tokens.add(&["url:", &d]);
        }
    }
    // The mailboxes the text gives (`write to sales@…`, `mailto:remove@…`): their domains, as links'.
    for (start, end) in words_holding(&body, "@") {
        let word = body[start..end].trim_matches(|c: char| !c.is_alphanumeric());
        let Some((_, domain)) = word.rsplit_once('@') else { continue };
        if domain.contains('.') && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
            let domain = domain.to_ascii_lowercase();
            if !lists_own(&domain, &lists) {
                tokens.add(&["email:", &domain]);
            }
        }
    }
    for a in message.attachments() {
        tokens.add(&["attachment:", &a.sniffed_type]);
    }
    // A word pair's hash is made of its words' (a pair is never another token's text), so each word of the
    // body is hashed once.
    let mut previous: Option<(Cow<'_, str>, u64)> = None;
    for w in words(&body) {
        if tokens.full() {
            break;
        }
        let hash = fnv1a(&[&w]);
        if let Some((p, p_hash)) = &previous {
            tokens.add_hashed(pair_hash(*p_hash, hash), &[p, " ", &w]);
        }
        tokens.add_hashed(hash, &[&w]);
        previous = Some((w, hash));
    }
    tokens.keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `words` means, written the plain way: split at every character that is not a word's, trim `'`
    /// and `-`, keep 3 to 24 characters, numbers as `#num`, lower-cased, and longer runs as `skip:` with their
    /// first character and length in tens; and in runs of Chinese or Japanese,
    /// where they stand, each two neighbouring characters.
    fn words_by_definition(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest: Vec<char> = text.chars().collect();
        while !rest.is_empty() {
            let at = rest.iter().position(|&c| unspaced(c)).unwrap_or(rest.len());
            let before: String = rest[..at].iter().collect();
            found.extend(
                before
                    .split(|c: char| !in_word(c))
                    .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
                    .filter(|w| w.chars().count() >= 3)
                    .map(|w| match w.chars().count() {
                        25.. => {
                            format!("skip:{} {}", w.chars().next().unwrap().to_lowercase(), w.chars().count() / 10 * 10)
                        }
                        _ if w.bytes().all(|b| b.is_ascii_digit()) => "#num".to_owned(),
                        _ => w.to_lowercase(),
                    }),
            );
            let run = rest[at..].iter().take_while(|&&c| unspaced(c)).count();
            found.extend(rest[at..at + run].windows(2).map(|pair| pair.iter().collect::<String>()));
            rest.drain(..at + run);
        }
        found
    }

    #[test]
    fn words_are_found_in_one_pass_as_the_definition_says() {
        let texts = [
            "The quick brown fox jumps over the lazy dog, again and again.",
            "don't -- 'quoted' -dash- it's O'Neill's x-ray 12345 12-34 '123' $100!!! FREE!!! a ab abc",
            "Ünïcödé ÉCOLE straße STRASSE Ωμέγα ΑΘΗΝΑ 北京欢迎你 ١٢٣٤ x\u{a0}yyy\u{2003}zzz",
            "免費送你:中文abc日本語のテキストです 한국어 단어 x中y 中 中文",
            "abcdefghijklmnopqrstuvwx abcdefghijklmnopqrstuvwxy éééééééééééééééééééééééé ééééééééééééééééééééééééé",
            "ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ 1234567890123456789012345678 Xyzzyxyzzyxyzzyxyzzyxyzzyxyzzyxyzzy",
            "---abc--- ''' -a- mixedCASE Word, word; WORD. end",
            "",
            "   ",
            "trailing-word",
            "x€y €€€ abc€def ünd",
        ];
        for text in texts {
            let found: Vec<String> = words(text).map(|w| w.into_owned()).collect();
            assert_eq!(found, words_by_definition(text), "{text}");
        }
        assert!(
            matches!(words("already lower").next(), Some(Cow::Borrowed("already"))),
            "no copy of a lower-case word"
        );
    }

    #[test]
    fn html_sent_as_text_is_recognised_by_its_tags_in_either_case() {
        for html in ["<HTML><body>hi", "text then <font size=2>", "a < b <html>", "<FONT color=red>"] {
            assert!(html_in_text(html), "{html}");
        }
        for text in ["a < b and c > d", "<Html> mixed case is not counted", "html and font as words", "<htm", "<"] {
            assert!(!html_in_text(text), "{text}");
        }
    }

    #[test]
    fn url_words_are_the_words_holding_a_scheme_or_starting_with_www() {
        let text = "see http://a.test/x and\u{a0}www.b.test, not awww.c.test; (https://d.test)\twww.e.test/http://f";
        assert_eq!(url_words(text), ["http://a.test/x", "www.b.test,", "(https://d.test)", "www.e.test/http://f"]);
        assert_eq!(url_words("www.only.test"), ["www.only.test"]);
        assert_eq!(url_words("a http://x.test/?u=http://y.test/www.z b"), ["http://x.test/?u=http://y.test/www.z"]);
        assert_eq!(words_holding("://://:// x://", "://"), [(0, 9), (10, 14)], "one word however many marks");
        assert!(url_words("no links here: a.b").is_empty());
    }

    #[test]
    fn text_after_a_bracket_that_never_closes_is_kept() {
        let mut urls = Vec::new();
        assert_eq!(
            strip_html("<p>price <a href=\"http://x.test/\">here</a> < 5 dollars", &mut urls),
            " price  here   < 5 dollars"
        );
        assert_eq!(urls, ["http://x.test/"]);
    }

    #[test]
    fn a_link_is_read_from_the_first_href_in_any_case() {
        let mut urls = Vec::new();
        each_tag(r#"<a style="a=b" HREF='http://y.test/p'><a title="no href" href=http://z.test>"#, &mut urls, |_| {});
        assert_eq!(urls, ["http://y.test/p", "http://z.test"]);
    }
}
