//! Wording that asks the reader to act on an account or its credentials: "verify your account", "your
//! password expires", "su cuenta ha sido suspendida". Honest services write such things too, with links to
//! their own site, so the layer counts this wording only together with a link or sender that deceives
//! (`lib.rs`): the two together are what a credential phish is.

use std::borrow::Cow;
use std::sync::OnceLock;

/// Phrases, English and Spanish. A phrase is slots of words in order; a slot lists its alternatives with `|`,
/// and `*` stands for any one word or none ("account has been suspended", "verify your PayPal account").
/// Words are what the text splits into at anything but a letter or digit ("sign-in" is `sign in`).
const PHRASES: &[&str] = &[
    "verify|confirm|validate|reactivate|unlock|restore|reconfirm your * account|identity|password|credentials|login|mailbox",
    "update|verify|confirm your * billing|payment|card|banking",
    "enter|reenter your * password|credentials|pin",
    "account has|have|is|was|will * suspended|locked|limited|disabled|deactivated|closed|terminated|restricted|blocked|compromised|frozen",
    "unusual|suspicious|unauthorized|unrecognized sign|login|logon|activity|access|transaction|attempt",
    "password will|has|is * expire|expired|expires|expiring",
    "password expires|expired|expiring",
    "mailbox|inbox is|has * full|exceeded|reached",
    "mailbox|inbox|email quota|storage",
    "verifique|verificar|confirme|confirmar|actualice|actualizar|valide|validar|reactive|reactivar su|tu|sus|tus * cuenta|identidad|contraseña|datos",
    "cuenta ha|será|fue|está|sera|esta * suspendida|bloqueada|cerrada|desactivada|limitada|restringida",
    "contraseña caduca|caducará|caducara|expira|expirará|expirara|caducado|expirado",
    "actividad inusual|sospechosa",
    "buzón|buzon está|esta|ha * lleno|excedido",
];

/// How much of a message's text is read: phish says it early, and the search stays bounded.
const MAX_TEXT_BYTES: usize = 200_000;

/// One slot of a phrase: the words it accepts, or any one word or none.
enum Slot {
    Any,
    OneOf(Vec<&'static str>),
}

/// [`PHRASES`] as slots, every word a phrase can start with (sorted), and the most words a phrase can take:
/// prepared once per instance.
struct Prepared {
    phrases: Vec<Vec<Slot>>,
    first_words: Vec<&'static str>,
    longest: usize,
}

fn prepared() -> &'static Prepared {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let phrases: Vec<Vec<Slot>> = PHRASES
            .iter()
            .map(|text| {
                text.split(' ')
                    .map(|slot| if slot == "*" { Slot::Any } else { Slot::OneOf(slot.split('|').collect()) })
                    .collect()
            })
            .collect();
        let mut first_words: Vec<&'static str> = phrases
            .iter()
            .filter_map(|slots| match slots.first() {
                Some(Slot::OneOf(words)) => Some(words.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        first_words.sort_unstable();
        first_words.dedup();
        // A slot takes one word at most (`*` one or none).
        let longest = phrases.iter().map(Vec::len).max().unwrap_or(0);
        Prepared { phrases, first_words, longest }
    })
}

/// How many words from the start of `words` the `slots` match, if they do.
fn matches(slots: &[Slot], words: &[Cow<'_, str>]) -> Option<usize> {
    match slots.split_first() {
        None => Some(0),
        Some((Slot::Any, rest)) => matches(rest, words)
            .or_else(|| if words.is_empty() { None } else { matches(rest, &words[1..]).map(|n| n + 1) }),
        Some((Slot::OneOf(accepted), rest)) => {
            if words.first().is_some_and(|w| accepted.contains(&w.as_ref())) {
                matches(rest, &words[1..]).map(|n| n + 1)
            } else {
                None
            }
        }
    }
}

/// The words of `text` as written, up to [`MAX_TEXT_BYTES`].
fn words(text: &str) -> impl Iterator<Item = &str> + Clone {
    let end = text.floor_char_boundary(MAX_TEXT_BYTES);
    text[..end].split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// A word in lower case, borrowed when it already is (most words).
fn lower(word: &str) -> Cow<'_, str> {
    if word.chars().any(char::is_uppercase) { Cow::Owned(word.to_lowercase()) } else { Cow::Borrowed(word) }
}

/// The first phrase `text` uses that asks for action on an account or its credentials, as the text wrote it.
/// The text is walked once; only a word that starts a phrase is lower-cased with the few after it.
pub fn in_text(text: &str) -> Option<String> {
    let prepared = prepared();
    let mut rest = words(text);
    while let Some(word) = rest.next() {
        // Most words start no phrase: one binary search rather than every phrase's first slot.
        let word = lower(word);
        if prepared.first_words.binary_search(&word.as_ref()).is_err() {
            continue;
        }
        let window: Vec<Cow<'_, str>> =
            std::iter::once(word).chain(rest.clone().take(prepared.longest - 1).map(lower)).collect();
        for slots in &prepared.phrases {
            let Some(Slot::OneOf(first)) = slots.first() else { continue };
            if !first.contains(&window[0].as_ref()) {
                continue;
            }
            if let Some(n) = matches(slots, &window) {
                return Some(window[..n].join(" "));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_requests_are_found_in_either_language_and_ordinary_account_talk_is_not() {
        for (text, phrase) in [
            ("Please verify your PayPal account within 24 hours.", "verify your paypal account"),
            ("Your account has been suspended.", "account has been suspended"),
            ("We noticed unusual sign-in activity", "unusual sign"),
            ("Your password will expire today", "password will expire"),
            ("Your mailbox is full.", "mailbox is full"),
            ("Update your billing details to keep watching", "update your billing"),
            ("Por favor, verifique su cuenta hoy.", "verifique su cuenta"),
            ("Su cuenta ha sido suspendida", "cuenta ha sido suspendida"),
        ] {
            assert_eq!(in_text(text).as_deref(), Some(phrase), "{text}");
        }
        for text in [
            "Manage your account settings or unsubscribe.",
            "Update your email preferences here.",
            "Thanks for creating an account with us.",
            "The password for the wifi is on the whiteboard.",
        ] {
            assert_eq!(in_text(text), None, "{text}");
        }
    }

    #[test]
    fn the_visible_text_of_html_is_what_is_read() {
        let html = "<p>Your <b>account</b> has&nbsp;been <span>locked</span></p><a href=\"x\">here";
        let text = crate::urls::visible(html, " ");
        assert_eq!(in_text(&text).as_deref(), Some("account has been locked"), "{text:?}");
    }
}
