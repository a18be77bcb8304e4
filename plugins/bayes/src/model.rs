//! Token counts in the host's key-value store and Robinson's combining of them.
//!
//! Keys: `t:TOKEN` counts the spam and ham messages a token was seen in, both in one counter (spam in the
//! low 32 bits, ham in the high ones), so a message's counts are one key per token to read and to add to;
//! `n:spam` and `n:ham` count the messages learned. The operator's global base (the plugin's shared storage, filled with
//! `moat learn --global`) has the same keys; a tenant's counts add to it.

use moat_sdk::Label;
use moat_sdk::host::{self, HostError};

/// The spam count's bits of a token's packed counter.
const SPAM_MASK: i64 = 0xffff_ffff;

/// Robinson's strength of the prior and the probability assumed for an unseen token.
const S: f64 = 0.45;
const X: f64 = 0.5;
/// Tokens whose probability is this close to neutral are ignored.
const MIN_DEVIATION: f64 = 0.1;
/// The most significant tokens used per message.
const MAX_DISCRIMINATORS: usize = 150;

pub struct Counts {
    pub spam_messages: i64,
    pub ham_messages: i64,
    /// Per token: (spam count, ham count).
    tokens: Vec<(i64, i64)>,
}

impl Counts {
    /// One host call for every count the message needs. `keys` are the message's token keys
    /// ([`crate::tokens::of`]) after the two totals, `n:spam` and `n:ham`.
    pub fn load(keys: &[String]) -> Result<Self, HostError> {
        let mut values = host::kv_get_counters(keys)?;
        let global_totals = host::kv_get_shared_counters(&keys[..2]).unwrap_or_default();
        if global_totals.into_iter().any(|n| n > 0) {
            for (value, global) in values.iter_mut().zip(host::kv_get_shared_counters(keys)?) {
                *value += global;
            }
        }
        let mut values = values.into_iter();
        let spam_messages = values.next().unwrap_or(0);
        let ham_messages = values.next().unwrap_or(0);
        let tokens = values.map(|packed| (packed & SPAM_MASK, packed >> 32)).collect();
        Ok(Self { spam_messages, ham_messages, tokens })
    }

    /// The spam probability of the message, and how many tokens decided it.
    pub fn classify(&self) -> (f64, usize) {
        let (nspam, nham) = (self.spam_messages.max(1) as f64, self.ham_messages.max(1) as f64);
        let mut probabilities: Vec<f64> = self
            .tokens
            .iter()
            .filter(|(s, h)| s + h > 0)
            .map(|&(s, h)| {
                let spam_ratio = s as f64 / nspam;
                let ham_ratio = h as f64 / nham;
                let p = spam_ratio / (spam_ratio + ham_ratio);
                let n = (s + h) as f64;
                (S * X + n * p) / (S + n)
            })
            .filter(|p| (p - 0.5).abs() >= MIN_DEVIATION)
            .collect();
        probabilities.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        probabilities.truncate(MAX_DISCRIMINATORS);
        if probabilities.is_empty() {
            return (0.5, 0);
        }
        let n = probabilities.len();
        // Fisher's method on both tails, in logs so long products do not underflow.
        let ln_spam: f64 = probabilities.iter().map(|p| (1.0 - p).max(1e-200).ln()).sum();
        let ln_ham: f64 = probabilities.iter().map(|p| p.max(1e-200).ln()).sum();
        let s = 1.0 - chi2q(-2.0 * ln_spam, 2 * n);
        let h = 1.0 - chi2q(-2.0 * ln_ham, 2 * n);
        if s > 0.99 && h > 0.99 {
            // Strong evidence both ways saturates both tails (chi-square says "unsure"); Robinson's geometric
            // means still weigh which side is stronger.
            let (p, q) = (1.0 - (ln_spam / n as f64).exp(), 1.0 - (ln_ham / n as f64).exp());
            return ((1.0 + (p - q) / (p + q)) / 2.0, n);
        }
        ((1.0 + s - h) / 2.0, n)
    }
}

/// P(chi² ≥ x2) with `v` (even) degrees of freedom.
fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// What a message was last taught as, kept per message (`m:DIGEST`, a counter: 1 spam, 2 ham) so that a
/// second lesson moves it between the classes instead of counting it twice: an admin who marks a message spam
/// and then valid leaves it counted once, as valid. Written in the same call as the counts it describes, so the
/// two never disagree. Autolearning keeps no record (it would be one key per message scored); a message it
/// learned and an admin then classifies is counted in both classes, as before.
const SPAM_RECORD: i64 = 1;
const HAM_RECORD: i64 = 2;

/// The message's digest: a 64-bit FNV-1a of its Message-ID and its token keys. The same message gives the same
/// tokens; a tokenizer that changed gives another digest, so a lesson never subtracts tokens it did not add.
/// Messages without a Message-ID whose tokens are all alike count as one, as SpamAssassin's record does.
fn digest(message_id: &str, keys: &[String]) -> u64 {
    std::iter::once(message_id).chain(keys.iter().map(String::as_str)).fold(0xcbf2_9ce4_8422_2325, |h, key| {
        key.bytes().chain([0]).fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// What a lesson did to the counts.
#[derive(Debug, PartialEq)]
pub enum Lesson {
    Counted,
    /// It had been taught the other class, and now counts as this one.
    Moved,
    /// It had been taught this class already.
    AlreadyKnown,
}

/// Counts the message's tokens (`keys` as [`Counts::load`] takes them) for `label`, in one host call; a
/// message taught the other class before is moved, one taught this class is left as it is.
pub fn learn(message_id: &str, keys: &[String], label: Label) -> Result<Lesson, HostError> {
    let record = format!("m:{:016x}", digest(message_id, &keys[2..]));
    let before = host::kv_get_counters(std::slice::from_ref(&record))?.first().copied().unwrap_or(0);
    let (record_value, delta, total, other_delta, other_total) = match label {
        Label::Spam => (SPAM_RECORD, 1, "n:spam", 1 << 32, "n:ham"),
        _ => (HAM_RECORD, 1 << 32, "n:ham", 1, "n:spam"),
    };
    if before == record_value {
        return Ok(Lesson::AlreadyKnown);
    }
    let moved = before != 0;
    let token_delta = if moved { delta - other_delta } else { delta };
    let mut deltas: Vec<(String, i64)> = keys[2..].iter().map(|k| (k.clone(), token_delta)).collect();
    deltas.push((total.to_string(), 1));
    if moved {
        deltas.push((other_total.to_string(), -1));
    }
    deltas.push((record, record_value - before));
    host::kv_incr_many(&deltas)?;
    Ok(if moved { Lesson::Moved } else { Lesson::Counted })
}

/// Counts the message for `label` without a record (autolearning: see [`SPAM_RECORD`]).
pub fn autolearn(keys: &[String], label: Label) -> Result<(), HostError> {
    let (delta, total) = if label == Label::Spam { (1, "n:spam") } else { (1 << 32, "n:ham") };
    let mut deltas: Vec<(String, i64)> = keys[2..].iter().map(|k| (k.clone(), delta)).collect();
    deltas.push((total.to_string(), 1));
    host::kv_incr_many(&deltas)
}
