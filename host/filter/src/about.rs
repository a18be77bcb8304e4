//! What a plugin says about itself: a custom section `moat:about` its author embeds with the SDK's
//! `describe!` (a summary line, then help on its configuration), read from the component's bytes when it is
//! registered, so admins see it next to the plugin without running it.

use wasmparser::{Parser, Payload};

/// The custom section's name (the SDK writes it).
pub const SECTION: &str = "moat:about";

/// At most this much of a section is read: it is shown on a page, not a manual.
const MAX_ABOUT: usize = 16 * 1024;

/// A plugin's own description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginAbout {
    /// One line: what the plugin does.
    pub summary: String,
    /// How to configure it: its configuration's fields and their defaults, as plain text.
    pub configuration: String,
}

impl PluginAbout {
    /// The section's text: the summary, a line break, the configuration help (SDK `describe!`).
    pub fn from_text(text: &str) -> Self {
        let (summary, configuration) = text.split_once('\n').unwrap_or((text, ""));
        Self { summary: summary.trim().to_owned(), configuration: configuration.trim().to_owned() }
    }
}

/// The description in `component` (anywhere in it: the SDK's section lands in its core module), if it has
/// one that is UTF-8 and not too long; anything else is no description, never an error.
pub fn read(component: &[u8]) -> Option<PluginAbout> {
    for payload in Parser::new(0).parse_all(component) {
        if let Ok(Payload::CustomSection(section)) = payload
            && section.name() == SECTION
        {
            let data = section.data();
            if data.len() > MAX_ABOUT {
                return None;
            }
            return std::str::from_utf8(data).ok().map(PluginAbout::from_text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_splits_into_summary_and_help() {
        let about = PluginAbout::from_text("Scores by rules.\n\nrule: a list of rules\n");
        assert_eq!(
            about,
            PluginAbout { summary: "Scores by rules.".into(), configuration: "rule: a list of rules".into() }
        );
        assert_eq!(PluginAbout::from_text("Only a summary").configuration, "");
    }

    #[test]
    fn bytes_that_are_not_a_component_have_no_description() {
        assert_eq!(read(b"not wasm"), None);
        assert_eq!(read(&[]), None);
    }
}
