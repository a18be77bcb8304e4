//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use moat_filter::{MessageFacts, ParsedMessage, RecipientFacts};
use std::path::PathBuf;

/// The bytes of a test guest component.
pub fn guest(name: &str) -> Vec<u8> {
    moat_filter::test_guests::component(name, &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests"))
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
