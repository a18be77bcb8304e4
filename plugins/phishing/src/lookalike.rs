//! Domains made to pass for a protected one: internationalized names (punycode, RFC 3492) whose letters
//! look like Latin ones, digit and letter swaps, typos, and the protected name with a hyphen, an extra word
//! or another ending.

/// Decodes one punycode label (without its `xn--` prefix); `None` when it is not valid punycode.
pub fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    let (basic, encoded) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    if !basic.is_ascii() {
        return None;
    }
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let mut chars = encoded.chars().peekable();
    while chars.peek().is_some() {
        let old_i = i;
        let mut weight = 1u32;
        let mut k = BASE;
        loop {
            let c = chars.next()?;
            let digit = match c {
                'a'..='z' => c as u32 - 'a' as u32,
                'A'..='Z' => c as u32 - 'A' as u32,
                '0'..='9' => c as u32 - '0' as u32 + 26,
                _ => return None,
            };
            i = i.checked_add(digit.checked_mul(weight)?)?;
            let t = if k <= bias {
                1
            } else if k >= bias + 26 {
                26
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            weight = weight.checked_mul(BASE - t)?;
            k += BASE;
        }
        let length = output.len() as u32 + 1;
        bias = adapt(i - old_i, length, old_i == 0);
        n = n.checked_add(i / length)?;
        i %= length;
        output.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(output.into_iter().collect())
}

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((36 - 1) * 26) / 2 {
        delta /= 36 - 1;
        k += 36;
    }
    k + (36 * delta) / (delta + 38)
}

/// The domain as people read it: punycode labels decoded.
pub fn unicode(domain: &str) -> String {
    domain
        .split('.')
        .map(|label| match label.strip_prefix("xn--") {
            Some(encoded) => punycode_decode(encoded).unwrap_or_else(|| label.to_owned()),
            None => label.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a name looks like at a glance: confusable letters (Cyrillic, Greek, accented Latin) and digits
/// folded to the Latin letters they pass for, and letter pairs that read as one.
pub fn skeleton(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            'а' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ɑ' | 'α' | '@' => 'a',
            'Ь' | 'ь' | 'ƅ' => 'b',
            'с' | 'ç' | 'ϲ' => 'c',
            'ԁ' | 'ɗ' => 'd',
            'е' | 'è' | 'é' | 'ê' | 'ë' | 'ε' | '3' => 'e',
            'ɡ' => 'g',
            'һ' => 'h',
            'i' | 'і' | 'í' | 'ì' | 'î' | 'ï' | 'ı' | 'ι' | '1' | '|' | 'ӏ' => 'l',
            'ј' => 'j',
            'κ' | 'к' => 'k',
            'ո' => 'n',
            'о' | 'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ο' | '0' => 'o',
            'р' | 'ρ' => 'p',
            'ԛ' => 'q',
            'ѕ' | '5' | '$' => 's',
            'т' | 'τ' => 't',
            'υ' | 'ü' | 'ú' | 'ù' | 'û' => 'u',
            'ν' | 'ѵ' => 'v',
            'ѡ' | 'ω' => 'w',
            'х' | 'χ' => 'x',
            'у' | 'ý' | 'ÿ' | 'γ' => 'y',
            'ᴢ' => 'z',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    folded.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// Edit distance with transpositions (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Second-level labels under which names are registered (`example.co.uk`), for the common country codes.
const SECOND_LEVELS: &[&str] = &["co", "com", "org", "net", "ac", "gov", "edu", "gob", "ne", "or"];

/// The registered domain: `mail.example.com` → `example.com`, `www.example.co.uk` → `example.co.uk`.
pub fn registered(domain: &str) -> String {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    let keep = match labels.as_slice() {
        [.., second, cc] if labels.len() >= 3 && cc.len() == 2 && SECOND_LEVELS.contains(second) => 3,
        _ => 2,
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

/// The name a domain is recognised by: `example` for `example.com` and `mail.example.co.uk`.
fn brand(domain: &str) -> String {
    let registered = registered(domain);
    registered.split('.').next().unwrap_or("").to_owned()
}

/// A domain prepared for comparisons: what [`imitates`] reads of it, computed once however many names it
/// is compared with (a message's links meet a hundred brands).
pub struct Name {
    /// Lower case, as written (punycode kept).
    written: String,
    /// Punycode labels decoded: what a reader sees.
    shown: String,
    registered: String,
    shown_registered: String,
    /// The recognisable name of what is shown, its skeleton, and without hyphens.
    brand: String,
    brand_skeleton: String,
    brand_unhyphenated: String,
    /// The skeleton of what is shown's registered domain.
    registered_skeleton: String,
}

impl Name {
    /// The domain as written, lower case.
    pub fn written(&self) -> &str {
        &self.written
    }

    pub fn new(domain: &str) -> Self {
        let written = domain.to_lowercase();
        let shown = unicode(&written);
        let brand = brand(&shown);
        let shown_registered = registered(&shown);
        Self {
            registered: registered(&written),
            registered_skeleton: skeleton(&shown_registered),
            brand_skeleton: skeleton(&brand),
            brand_unhyphenated: brand.replace('-', ""),
            shown_registered,
            brand,
            written,
            shown,
        }
    }
}

/// Names prepared to be compared with many candidates in the unmistakable ways: which of them a candidate
/// can pass for is looked up by what those ways compare (skeletons, the name without hyphens, the name before
/// another domain) instead of being tried one by one (a message's links meet a hundred brands).
pub struct Index {
    names: Vec<Name>,
    by_key: std::collections::HashMap<String, Vec<usize>>,
}

impl Index {
    pub fn new(names: Vec<Name>) -> Self {
        let mut by_key: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
        for (i, n) in names.iter().enumerate() {
            for key in [&n.written, &n.registered_skeleton, &n.brand_skeleton, &n.brand_unhyphenated] {
                let found = by_key.entry(key.clone()).or_default();
                if found.last() != Some(&i) {
                    found.push(i);
                }
            }
        }
        Self { names, by_key }
    }

    /// The names, in their order, `candidate` may imitate in the [`Ways::Unmistakable`] ways: [`imitation`]
    /// finds none in any other.
    pub fn unmistakable_candidates(&self, candidate: &Name) -> impl Iterator<Item = &Name> {
        let c = candidate;
        let mut found = Vec::new();
        let mut look = |key: &str| found.extend(self.by_key.get(key).into_iter().flatten().copied());
        look(&c.registered_skeleton);
        look(&c.brand_skeleton);
        look(&c.brand_unhyphenated);
        for (dot, _) in c.written.match_indices('.') {
            look(&c.written[..dot]);
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|i| &self.names[i])
    }
}

/// Which ways of passing for a name are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ways {
    /// Homoglyphs, a hyphen, the name before another domain, typos and the name among other words.
    All,
    /// Only the ways a real domain of someone else never looks by chance (a typo or an extra word does: many
    /// real names are one letter from a short brand, and partners carry its name).
    Unmistakable,
}

/// How `candidate` passes for `protected` without being it, if it does in one of `ways` (the symbol's reason).
pub fn imitation(candidate: &Name, protected: &Name, ways: Ways) -> Option<String> {
    let (c, p) = (candidate, protected);
    if c.written == p.written || is_under(&c.written, &p.written) {
        return None;
    }
    let punycode = || if c.shown != c.written { format!(" (shown as {})", c.shown) } else { String::new() };
    if c.written.strip_prefix(p.written.as_str()).is_some_and(|rest| rest.starts_with('.')) {
        return Some(format!("{} followed by another domain", p.written));
    }
    let ours = &p.brand;
    if ours.len() < 3 {
        return None;
    }
    if c.shown_registered != c.registered && c.registered_skeleton == p.registered_skeleton
        || c.brand_skeleton == p.brand_skeleton && c.brand != *ours
    {
        return Some(format!("letters that look like {ours}{}", punycode()));
    }
    if c.brand == *ours {
        return None;
    }
    if c.brand_unhyphenated == p.brand_unhyphenated {
        return Some(format!("{ours} with a hyphen{}", punycode()));
    }
    if ways == Ways::Unmistakable {
        return None;
    }
    // Short names are one typo from many real words; long ones tolerate two.
    let typos = if ours.len() >= 8 { 2 } else { 1 };
    if ours.len() >= 5 && distance(&c.brand_skeleton, &p.brand_skeleton) <= typos {
        return Some(format!("a typo away from {ours}{}", punycode()));
    }
    // The same name under another ending (example.net for example.com) is usually the same owner: not flagged.
    if ours.len() >= 6 && c.brand.len() > ours.len() && c.brand.split('-').any(|part| part == ours) {
        return Some(format!("{ours} with extra words{}", punycode()));
    }
    None
}

/// Whether `name` is a subdomain of `parent` (`mail.example.com` of `example.com`).
pub fn is_under(name: &str, parent: &str) -> bool {
    name.strip_suffix(parent).is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imitates(candidate: &str, protected: &str) -> Option<String> {
        imitation(&Name::new(candidate), &Name::new(protected), Ways::All)
    }

    #[test]
    fn punycode_decodes_as_rfc_3492_says() {
        assert_eq!(punycode_decode("mnchen-3ya").as_deref(), Some("münchen"));
        assert_eq!(punycode_decode("80ak6aa92e").as_deref(), Some("аррӏе"));
        assert_eq!(unicode("xn--80ak6aa92e.com"), "аррӏе.com");
        assert_eq!(punycode_decode("zz-!"), None);
    }

    #[test]
    fn the_index_finds_every_name_a_candidate_imitates_unmistakably() {
        let originals = ["paypal.com", "example.com", "bank-of.test", "apple.com", "live.com", "office.com"];
        let index = Index::new(originals.iter().map(|o| Name::new(o)).collect());
        let candidates = [
            "xn--pypal-4ve.com",       // Cyrillic а
            "paypa1.com",              // a digit for a letter
            "pay-pal.com",             // a hyphen
            "paypal.com.evil.test",    // the name before another domain
            "exarnple.org",            // letters that read as others
            "bankof.test",             // without the hyphen
            "xn--pple-43d.com",        // Cyrillic а in apple
            "login.paypal.com.x.test", // not the name first: none
            "live.co",
            "mail.office.com", // a subdomain: no imitation
            "paypal.com",
            "unrelated.test",
        ];
        let mut imitating = 0;
        for candidate in candidates {
            let c = Name::new(candidate);
            let imitated = |n: &&Name| imitation(&c, n, Ways::Unmistakable).is_some();
            let every: Vec<Name> = originals.iter().map(|o| Name::new(o)).collect();
            let brute: Vec<&str> = every.iter().filter(imitated).map(Name::written).collect();
            let looked_up: Vec<&str> = index.unmistakable_candidates(&c).filter(imitated).map(Name::written).collect();
            assert_eq!(looked_up, brute, "{candidate}");
            imitating += usize::from(!brute.is_empty());
        }
        assert_eq!(imitating, 7, "the first seven candidates imitate a name");
    }

    #[test]
    fn lookalikes_are_caught_and_real_names_are_not() {
        for (candidate, why) in [
            ("xn--xample-2of.com", "letters that look like example"), // Cyrillic е
            ("examp1e.com", "letters that look like example"),
            ("exarnple.com", "letters that look like example"),
            ("ex-ample.com", "example with a hyphen"),
            ("exmaple.com", "a typo away from example"),
            ("example-billing.com", "example with extra words"),
            ("example.com.evil.test", "example.com followed by another domain"),
        ] {
            let got = imitates(candidate, "example.com");
            assert!(got.as_deref().is_some_and(|g| g.starts_with(why)), "{candidate}: {got:?}");
        }
        for real in ["example.com", "mail.example.com", "sample.com", "examine.org", "paypal.com", "example.net"] {
            assert_eq!(imitates(real, "example.com"), None, "{real}");
        }
        assert_eq!(registered("www.example.co.uk"), "example.co.uk");
    }
}
