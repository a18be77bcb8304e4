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
    pub fn load(keys: &[&str]) -> Result<Self, HostError> {
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

    /// The spam probability of the message, and which of its tokens decided it.
    pub fn classify(&self) -> Judgement {
        let (nspam, nham) = (self.spam_messages.max(1) as f64, self.ham_messages.max(1) as f64);
        // (the token's position among the message's tokens, its probability)
        let mut deciding: Vec<(usize, f64)> = self
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, (s, h))| s + h > 0)
            .map(|(at, &(s, h))| {
                let spam_ratio = s as f64 / nspam;
                let ham_ratio = h as f64 / nham;
                let p = spam_ratio / (spam_ratio + ham_ratio);
                let n = (s + h) as f64;
                (at, (S * X + n * p) / (S + n))
            })
            .filter(|(_, p)| (p - 0.5).abs() >= MIN_DEVIATION)
            .collect();
        deciding.sort_by(|(_, a), (_, b)| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        deciding.truncate(MAX_DISCRIMINATORS);
        let strongest = |spam: bool| -> Vec<(usize, f64)> {
            deciding.iter().filter(|(_, p)| (*p > 0.5) == spam).take(SHOWN).copied().collect()
        };
        let (spam_like, ham_like) = (strongest(true), strongest(false));
        let n = deciding.len();
        Judgement { probability: combine(deciding.iter().map(|(_, p)| *p), n), used: n, spam_like, ham_like }
    }
}

/// How many of the strongest tokens each way a verdict names.
const SHOWN: usize = 3;

/// What the classifier made of a message.
pub struct Judgement {
    pub probability: f64,
    /// How many tokens decided it.
    pub used: usize,
    /// The strongest spam-like tokens (position among the message's tokens, probability), strongest first.
    pub spam_like: Vec<(usize, f64)>,
    /// … and ham-like ones.
    pub ham_like: Vec<(usize, f64)>,
}

/// Fisher's method on both tails of `n` token probabilities, in logs so long products do not underflow.
fn combine(probabilities: impl Iterator<Item = f64> + Clone, n: usize) -> f64 {
    if n == 0 {
        return 0.5;
    }
    let ln_spam: f64 = probabilities.clone().map(|p| (1.0 - p).max(1e-200).ln()).sum();
    let ln_ham: f64 = probabilities.map(|p| p.max(1e-200).ln()).sum();
    let s = 1.0 - chi2q(-2.0 * ln_spam, 2 * n);
    let h = 1.0 - chi2q(-2.0 * ln_ham, 2 * n);
    if s > 0.99 && h > 0.99 {
        // Strong evidence both ways saturates both tails (chi-square says "unsure"); Robinson's geometric
        // means still weigh which side is stronger.
        let (p, q) = (1.0 - (ln_spam / n as f64).exp(), 1.0 - (ln_ham / n as f64).exp());
        return (1.0 + (p - q) / (p + q)) / 2.0;
    }
    (1.0 + s - h) / 2.0
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

/// How a class is counted: its share of a packed token counter (spam in the low 32 bits, ham in the high
/// ones), the key of its total, and the mark its lessons leave. `None` for a label this classifier does not count.
struct Class {
    delta: i64,
    total: &'static str,
    mark: i64,
}

fn class(label: Label) -> Option<Class> {
    match label {
        Label::Spam => Some(Class { delta: 1, total: "n:spam", mark: SPAM_MARK }),
        Label::Ham => Some(Class { delta: 1 << 32, total: "n:ham", mark: HAM_MARK }),
        _ => None,
    }
}

/// What a message was last taught as, kept per message (`m:DIGEST`, a counter: these marks, 0 never) so that a
/// second lesson moves it between the classes instead of counting it twice: an admin who marks a message spam
/// and then valid leaves it counted once, as valid. Written in the same call as the counts it describes, so the
/// two never disagree. Lessons from the chain's confident verdicts (autolearn) keep one too, so an admin who
/// classifies such a message the other way moves it.
const SPAM_MARK: i64 = 1;
const HAM_MARK: i64 = 2;

/// The message's digest: a 64-bit FNV-1a of its Message-ID and its token keys. The same message gives the same
/// tokens; a tokenizer that changed gives another digest, so a lesson never subtracts tokens it did not add.
/// Messages without a Message-ID whose tokens are all alike count as one, as SpamAssassin's record does.
fn digest(message_id: &str, keys: &[&str]) -> u64 {
    std::iter::once(message_id).chain(keys.iter().copied()).fold(0xcbf2_9ce4_8422_2325, |h, key| {
        key.bytes().chain([0]).fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// Counts the message's tokens (`keys` as [`Counts::load`] takes them) for `label`, in one host call; a
/// message taught the other class before is moved, one taught this class already is left as it is.
pub fn learn(message_id: &str, keys: &[&str], label: Label) -> Result<(), HostError> {
    let Some(now) = class(label) else { return Ok(()) };
    let key = format!("m:{:016x}", digest(message_id, &keys[2..]));
    let before = host::kv_get_counters(std::slice::from_ref(&key))?.first().copied().unwrap_or(0);
    if before == now.mark {
        return Ok(());
    }
    // A value no lesson writes reads as never taught; the update below sets it right.
    let earlier = [Label::Spam, Label::Ham].into_iter().filter_map(class).find(|c| c.mark == before);
    let mut deltas = counted(keys, &now, earlier.as_ref());
    deltas.push((&key, now.mark - before));
    host::kv_incr_many(&deltas)
}

/// The increments that count `keys` in class `now`, taking them out of `earlier` when the message was counted
/// there before.
fn counted<'a>(keys: &[&'a str], now: &Class, earlier: Option<&Class>) -> Vec<(&'a str, i64)> {
    let token_delta = now.delta - earlier.map_or(0, |e| e.delta);
    let mut deltas: Vec<(&str, i64)> = keys[2..].iter().map(|&k| (k, token_delta)).collect();
    deltas.push((now.total, 1));
    if let Some(earlier) = earlier {
        deltas.push((earlier.total, -1));
    }
    deltas
}
