//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use moat_filter::{MessageFacts, ParsedMessage, RecipientFacts};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Builds the guest workspace for wasm32-wasip2 once per test run and returns a guest's component bytes.
pub fn guest(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests");
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guests/Cargo.toml");
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "building the test guests failed (is the target installed? rustup target add wasm32-wasip2)"
        );
        target.join("wasm32-wasip2/release")
    });
    std::fs::read(dir.join(format!("{name}.wasm"))).unwrap()
}

pub fn message(raw: &str) -> std::sync::Arc<ParsedMessage> {
    let rcpt = |a: &str| RecipientFacts {
        address: a.into(),
        tenant: "default".into(),
        domain: "example.com".into(),
        mailbox: a.into(),
    };
    let facts = MessageFacts {
        sender: "a@sender.test".into(),
        recipients: vec![rcpt("bob@example.com"), rcpt("carol@example.com")],
        ..MessageFacts::default()
    };
    ParsedMessage::parse(raw.as_bytes().to_vec(), facts)
}

pub const SPAMMY: &str = "From: a@sender.test\r\nSubject: FREE stuff inside\r\nContent-Type: text/plain\r\n\r\nBuy viagra now, viagra cheap.\r\n";
