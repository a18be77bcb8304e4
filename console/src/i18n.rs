//! The console's texts come from Moat's one table of languages (`moat-i18n`); this module names its readers
//! the way the pages call them, and checks that every text the pages pass to `t(…)` is in the table.

pub use moat_i18n::{text as tr, text_of as tr_text};

#[cfg(test)]
mod tests {

    /// Every `t("…")` of the pages has a Spanish text.
    #[test]
    fn every_page_text_has_its_spanish() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pages");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let source = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            let pieces: Vec<&str> = source.split("t(\"").collect();
            for (before, piece) in pieces.iter().zip(pieces.iter().skip(1)) {
                // `t(` itself, not `get(` or `expect(`.
                if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let text = &piece[..piece.find('"').unwrap()];
                if !moat_i18n::translated(text) && !missing.contains(&text.to_owned()) {
                    missing.push(text.to_owned());
                }
            }
        }
        assert!(missing.is_empty(), "no Spanish for: {missing:#?}");
    }
}
