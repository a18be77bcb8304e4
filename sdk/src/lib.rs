//! Write filter layers for [Moat](https://example.invalid/moat), the email security gateway.
//!
//! A filter is a type implementing [`Filter`]; override only the hooks you need (each defaults to "no
//! opinion"), then export it with [`export_filter!`] and build for `wasm32-wasip2`:
//!
//! ```no_run
//! use moat_sdk::{Filter, Message, Verdict, export_filter};
//!
//! struct ShoutingSubjects;
//!
//! impl Filter for ShoutingSubjects {
//!     fn on_message(message: &Message) -> Verdict {
//!         match message.subject() {
//!             Some(s) if s.len() > 8 && s == s.to_uppercase() => {
//!                 Verdict::pass().symbol("SUBJECT_ALL_CAPS", 1.5, "the subject is all capitals")
//!             }
//!             _ => Verdict::pass(),
//!         }
//!     }
//! }
//!
//! export_filter!(ShoutingSubjects);
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` then produces the component Moat loads.
#![deny(missing_docs)]

/// The bindings generated from Moat's WIT package; use the re-exports at the crate root instead.
#[doc(hidden)]
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "filter",
        pub_export_macro: true,
        export_macro_name: "__export_filter_world",
        default_bindings_module: "moat_sdk::wit",
    });
}

pub use wit::moat::filter::types::{
    Action, Attachment, AuthResult, Authentication, Connection, Header, Label, Message, Recipient, SmtpReply, Symbol,
    Verdict,
};

/// What the host offers a filter: its configuration, logging, the clock, key-value storage and DNS.
pub mod host {
    pub use crate::wit::moat::filter::host::{
        HostError, Level, RecordKind, config, dns_lookup, kv_get, kv_get_many, kv_incr, kv_set, log, now_ms,
    };
}

/// A filter layer. Every hook has a default that expresses no opinion, so a filter overrides only what it
/// needs.
pub trait Filter {
    /// Checks a JSON configuration before an admin's chain uses it; the error text is shown to the admin.
    fn configure(_config: &str) -> Result<(), String> {
        Ok(())
    }

    /// A client connected.
    fn on_connect(_connection: Connection) -> Verdict {
        Verdict::pass()
    }

    /// `MAIL FROM`.
    fn on_mail_from(_connection: Connection, _sender: String) -> Verdict {
        Verdict::pass()
    }

    /// `RCPT TO`, for a recipient the directory accepted.
    fn on_rcpt(_connection: Connection, _sender: String, _recipient: Recipient) -> Verdict {
        Verdict::pass()
    }

    /// The whole message, after DATA.
    fn on_message(_message: &Message) -> Verdict {
        Verdict::pass()
    }

    /// An admin classified a logged message as spam or ham.
    fn learn(_message: &Message, _label: Label) {}
}

impl Verdict {
    /// No opinion: continue with the next filter.
    pub fn pass() -> Self {
        Verdict { action: Action::Continue, symbols: Vec::new(), add_headers: Vec::new() }
    }

    /// Refuse permanently: `code` 5xx with an enhanced status such as "5.7.1".
    pub fn reject(code: u16, enhanced: &str, text: &str) -> Self {
        Self::with_action(Action::Reject(SmtpReply { code, enhanced: enhanced.into(), text: text.into() }))
    }

    /// Refuse temporarily: `code` 4xx with an enhanced status such as "4.7.1".
    pub fn tempfail(code: u16, enhanced: &str, text: &str) -> Self {
        Self::with_action(Action::Tempfail(SmtpReply { code, enhanced: enhanced.into(), text: text.into() }))
    }

    /// Quarantine the message.
    pub fn quarantine() -> Self {
        Self::with_action(Action::Quarantine)
    }

    /// Accept now, skipping later spam filters.
    pub fn accept() -> Self {
        Self::with_action(Action::Accept)
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
        self.add_headers.push(Header { name: name.into(), value: value.into() });
        self
    }
}

/// Exports a [`Filter`] implementation as the component's `filter` world.
#[macro_export]
macro_rules! export_filter {
    ($filter:ty) => {
        #[doc(hidden)]
        pub struct __MoatExportedFilter;

        impl $crate::wit::Guest for __MoatExportedFilter {
            fn configure(config: String) -> Result<(), String> {
                <$filter as $crate::Filter>::configure(&config)
            }
            fn on_connect(conn: $crate::Connection) -> $crate::Verdict {
                <$filter as $crate::Filter>::on_connect(conn)
            }
            fn on_mail_from(conn: $crate::Connection, sender: String) -> $crate::Verdict {
                <$filter as $crate::Filter>::on_mail_from(conn, sender)
            }
            fn on_rcpt(conn: $crate::Connection, sender: String, rcpt: $crate::Recipient) -> $crate::Verdict {
                <$filter as $crate::Filter>::on_rcpt(conn, sender, rcpt)
            }
            fn on_message(message: &$crate::Message) -> $crate::Verdict {
                <$filter as $crate::Filter>::on_message(message)
            }
            fn learn(message: &$crate::Message, label: $crate::Label) {
                <$filter as $crate::Filter>::learn(message, label)
            }
        }

        $crate::wit::__export_filter_world!(__MoatExportedFilter with_types_in $crate::wit);
    };
}
