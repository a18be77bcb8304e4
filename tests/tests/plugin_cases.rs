//! The built-in plugins' data-file cases (`plugins/*/cases/NAME.eml` + `NAME.toml`, format in each
//! `cases/README.md`), run through each plugin's real wasm32-wasip2 build — hits and misses alike.

use moat_filter::{FilterEngine, KvStore, Label, Limits, MemoryKv, MessageFacts, ParsedMessage, RecipientFacts};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default = "empty_config")]
    config: String,
    #[serde(default)]
    learn: Vec<(String, String)>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    min_score: Option<f64>,
    max_score: Option<f64>,
}

fn empty_config() -> String {
    "{}".into()
}

fn parse(raw: Vec<u8>) -> Arc<ParsedMessage> {
    let rcpt = RecipientFacts {
        address: "bob@example.com".into(),
        tenant: "default".into(),
        domain: "example.com".into(),
        mailbox: "bob@example.com".into(),
    };
    ParsedMessage::parse(
        raw,
        MessageFacts { sender: "sender@sender.test".into(), recipients: vec![rcpt], ..Default::default() },
    )
}

#[test]
fn every_case_of_every_builtin_plugin() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests");
    let engine = FilterEngine::new(None, Limits::default()).unwrap();
    let mut ran = 0;
    let mut plugins: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    plugins.sort();
    for dir in plugins.iter().filter(|d| d.join("cases").is_dir()) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = moat_filter::test_guests::workspace_component(&format!("moat-plugin-{name}"), &target);
        let plugin = engine.load(&name, &bytes).unwrap();
        for case_file in cases(&dir.join("cases")) {
            let case: Case = toml::from_str(&std::fs::read_to_string(&case_file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", case_file.display()));
            let what = format!("{name}/{}", case_file.file_stem().unwrap().to_string_lossy());
            let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
            let mut setup = plugin.setup(&case.config);
            setup.capabilities.kv = Some((kv, format!("t:{name}")));
            assert_eq!(plugin.configure(&case.config).result.unwrap(), Ok(()), "{what}: config refused");
            for (label, file) in &case.learn {
                let label = if label == "spam" { Label::Spam } else { Label::Ham };
                let raw = std::fs::read(dir.join("cases").join(file)).unwrap();
                plugin.learn(&parse(raw), label, &setup).result.unwrap();
            }
            let raw = std::fs::read(case_file.with_extension("eml")).unwrap();
            let verdict = plugin.on_message(&parse(raw), &setup).result.unwrap_or_else(|f| panic!("{what}: {f}"));
            let names: Vec<&str> = verdict.symbols.iter().map(|s| s.name.as_str()).collect();
            let score: f64 = verdict.symbols.iter().map(|s| s.score).sum();
            for want in &case.symbols {
                assert!(
                    names.iter().any(|n| n.starts_with(want.as_str())),
                    "{what}: no {want} in {:?}",
                    verdict.symbols
                );
            }
            for unwanted in &case.absent {
                assert!(!names.iter().any(|n| n.starts_with(unwanted.as_str())), "{what}: {unwanted} in {names:?}");
            }
            assert!(case.min_score.is_none_or(|m| score >= m), "{what}: score {score} below {:?}", case.min_score);
            assert!(case.max_score.is_none_or(|m| score <= m), "{what}: score {score} above {:?}", case.max_score);
            ran += 1;
        }
    }
    assert!(ran >= 3, "only {ran} cases found");
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    found.sort();
    found
}
