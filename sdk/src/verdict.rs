//! What a filter answers: an action, scored symbols and headers to add.

use crate::wit::moat::filter::types as wit;

/// What a filter wants done with the message (or, before DATA, with the recipient).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// No decision: later filters run and the summed score decides.
    Continue,
    /// Accept now; later spam filters are skipped (antivirus still runs).
    Accept,
    /// Refuse permanently: a 5xx code, an enhanced status such as "5.7.1", and text.
    Reject {
        /// 5xx.
        code: u16,
        /// Enhanced status code, e.g. "5.7.1".
        enhanced: String,
        /// Shown to the sender.
        text: String,
    },
    /// Refuse temporarily (greylisting, rate limits): the sender retries.
    Tempfail {
        /// 4xx.
        code: u16,
        /// Enhanced status code, e.g. "4.7.1".
        enhanced: String,
        /// Shown to the sender.
        text: String,
    },
    /// Keep the message in quarantine instead of delivering it.
    Quarantine,
    /// Accept and drop without delivering.
    Discard,
}

/// One reason for a verdict, shown in the email log.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    /// Upper-case identifier, e.g. "BAYES_SPAM".
    pub name: String,
    /// Added to the message's score.
    pub score: f64,
    /// Why, in words an admin understands.
    pub reason: String,
}

/// A filter's answer. Build it with [`Verdict::pass`] (or another constructor) and chain
/// [`symbol`](Verdict::symbol) and [`header`](Verdict::header).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    action: Action,
    symbols: Vec<Symbol>,
    headers: Vec<(String, String)>,
    hook_unused: bool,
}

impl Verdict {
    /// No opinion: continue with the next filter.
    pub fn pass() -> Self {
        Verdict { action: Action::Continue, symbols: Vec::new(), headers: Vec::new(), hook_unused: false }
    }

    /// What [`Filter`](crate::Filter)'s default hooks answer: no opinion, and the hook is not implemented,
    /// so the host stops calling it.
    #[doc(hidden)]
    pub fn hook_unused() -> Self {
        Verdict { hook_unused: true, ..Self::pass() }
    }

    /// Refuse permanently: `code` 5xx with an enhanced status such as "5.7.1".
    pub fn reject(code: u16, enhanced: &str, text: &str) -> Self {
        Self::with_action(Action::Reject { code, enhanced: enhanced.into(), text: text.into() })
    }

    /// Refuse temporarily: `code` 4xx with an enhanced status such as "4.7.1".
    pub fn tempfail(code: u16, enhanced: &str, text: &str) -> Self {
        Self::with_action(Action::Tempfail { code, enhanced: enhanced.into(), text: text.into() })
    }

    /// Quarantine the message.
    pub fn quarantine() -> Self {
        Self::with_action(Action::Quarantine)
    }

    /// Accept now, skipping later spam filters.
    pub fn accept() -> Self {
        Self::with_action(Action::Accept)
    }

    /// Accept and drop the message without delivering it.
    pub fn discard() -> Self {
        Self::with_action(Action::Discard)
    }

    fn with_action(action: Action) -> Self {
        Verdict { action, ..Self::pass() }
    }

    /// Adds a scored symbol: the reasons a verdict is explained by in the log.
    pub fn symbol(mut self, name: &str, score: f64, reason: &str) -> Self {
        self.symbols.push(Symbol { name: name.into(), score, reason: reason.into() });
        self
    }

    /// Adds a header to the delivered message.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The action asked for.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// The symbols, in the order they were added.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbol called `name`, if the verdict has it.
    pub fn find_symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.iter().find(|s| s.name == name)
    }

    /// The sum of the symbols' scores.
    pub fn score(&self) -> f64 {
        self.symbols.iter().map(|s| s.score).sum()
    }

    /// Headers to add, as (name, value).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> wit::Verdict {
        let reply = |code, enhanced, text| wit::SmtpReply { code, enhanced, text };
        wit::Verdict {
            action: match self.action {
                Action::Continue => wit::Action::Continue,
                Action::Accept => wit::Action::Accept,
                Action::Reject { code, enhanced, text } => wit::Action::Reject(reply(code, enhanced, text)),
                Action::Tempfail { code, enhanced, text } => wit::Action::Tempfail(reply(code, enhanced, text)),
                Action::Quarantine => wit::Action::Quarantine,
                Action::Discard => wit::Action::Discard,
            },
            symbols: self
                .symbols
                .into_iter()
                .map(|s| wit::Symbol { name: s.name, score: s.score, reason: s.reason })
                .collect(),
            add_headers: self.headers.into_iter().map(|(name, value)| wit::Header { name, value }).collect(),
            hook_unused: self.hook_unused,
        }
    }
}
