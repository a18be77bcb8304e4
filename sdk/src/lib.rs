//! Write filter layers for Moat, the email security gateway.
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
//! `cargo build --release --target wasm32-wasip2` then produces the component Moat loads. The same code
//! also builds natively, where the [`testing`] module runs it against a mock host: unit tests need no
//! gateway.
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
        // Keys cross as borrowed strings: a plugin that asks for 1,500 keys need not own 1,500 `String`s.
        ownership: Borrowing { duplicate_if_necessary: false },
    });
}

pub mod host;
mod message;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod text;
mod verdict;

pub use message::{Attachment, AuthResult, Authentication, Header, Message};
pub use verdict::{Action, Symbol, Verdict};
pub use wit::moat::filter::types::{Connection, Direction, Recipient};

/// An admin's classification of a message, fed to [`Filter::learn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Label {
    /// Unwanted mail.
    Spam,
    /// Wanted mail.
    Ham,
}

/// A filter layer. Every hook has a default that expresses no opinion, so a filter overrides only what it
/// needs.
pub trait Filter {
    /// Checks a JSON configuration before an admin's chain uses it; the error text is shown to the admin.
    fn configure(_config: &str) -> Result<(), String> {
        Ok(())
    }

    /// A client connected.
    fn on_connect(_connection: &Connection) -> Verdict {
        Verdict::hook_unused()
    }

    /// `MAIL FROM`; `sender` is empty for the null reverse-path `<>`.
    fn on_mail_from(_connection: &Connection, _sender: &str) -> Verdict {
        Verdict::hook_unused()
    }

    /// `RCPT TO`, for a recipient the directory accepted.
    fn on_rcpt(_connection: &Connection, _sender: &str, _recipient: &Recipient) -> Verdict {
        Verdict::hook_unused()
    }

    /// The whole message, after DATA.
    fn on_message(_message: &Message) -> Verdict {
        Verdict::hook_unused()
    }

    /// An admin classified a logged message as spam or ham.
    fn learn(_message: &Message, _label: Label) {}
}

/// Describes the plugin to the admins who add it to a chain: a one-line summary, then help on its
/// configuration (its fields and defaults, plain text). Moat reads it from the component when the plugin is
/// registered and shows it on the console's Filtering page and in `moat plugin list`; the plugin does not
/// run for it.
///
/// ```ignore
/// moat_sdk::describe!(
///     summary = "Scores mail from senders on a watch list.",
///     configuration = "watch: addresses to score (default none)\nscore: the score each adds (default 3.0)",
/// );
/// ```
#[macro_export]
macro_rules! describe {
    (summary = $summary:literal, configuration = $configuration:literal $(,)?) => {
        const _: () = {
            const TEXT: &str = concat!($summary, "\n", $configuration);
            // A custom section of the component (`moat:about`): data, never code.
            #[used]
            #[unsafe(link_section = "moat:about")]
            static ABOUT: [u8; TEXT.len()] = {
                let text = TEXT.as_bytes();
                let mut bytes = [0u8; TEXT.len()];
                let mut i = 0;
                while i < text.len() {
                    bytes[i] = text[i];
                    i += 1;
                }
                bytes
            };
        };
    };
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
            fn on_connect(conn: $crate::Connection) -> $crate::wit::moat::filter::types::Verdict {
                <$filter as $crate::Filter>::on_connect(&conn).into_wit()
            }
            fn on_mail_from(conn: $crate::Connection, sender: String) -> $crate::wit::moat::filter::types::Verdict {
                <$filter as $crate::Filter>::on_mail_from(&conn, &sender).into_wit()
            }
            fn on_rcpt(
                conn: $crate::Connection,
                sender: String,
                rcpt: $crate::Recipient,
            ) -> $crate::wit::moat::filter::types::Verdict {
                <$filter as $crate::Filter>::on_rcpt(&conn, &sender, &rcpt).into_wit()
            }
            fn on_message(
                message: &$crate::wit::moat::filter::types::Message,
            ) -> $crate::wit::moat::filter::types::Verdict {
                <$filter as $crate::Filter>::on_message(&$crate::Message::from_host(message)).into_wit()
            }
            fn learn(message: &$crate::wit::moat::filter::types::Message, label: $crate::wit::moat::filter::types::Label) {
                <$filter as $crate::Filter>::learn(&$crate::Message::from_host(message), $crate::Label::from_wit(label))
            }
        }

        $crate::wit::__export_filter_world!(__MoatExportedFilter with_types_in $crate::wit);
    };
}

impl Label {
    #[doc(hidden)]
    pub fn from_wit(label: wit::moat::filter::types::Label) -> Self {
        match label {
            wit::moat::filter::types::Label::Spam => Label::Spam,
            wit::moat::filter::types::Label::Ham => Label::Ham,
        }
    }
}
