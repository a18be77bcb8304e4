//! Cost of running filters: the fixed overhead of one plugin call (fresh store + instance from the cached
//! `InstancePre`, call, teardown) with a plugin that does nothing, and a whole chain of 1, 3 and 6 plugins that
//! read a 20 KB message through the resource.
//!
//! `cargo bench -p moat-filter --bench calls` (`-- overhead` for the fixed overhead only, e.g. under a profiler)

use moat_filter::{Chain, ChainEntry, FilterEngine, Limits, MessageFacts, ParsedMessage, Thresholds};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests");
    let engine = FilterEngine::new(None, Limits::default()).unwrap();
    let noop = Arc::new(engine.load("noop", &moat_filter::test_guests::component("noop", &target)).unwrap());
    let tagger = Arc::new(engine.load("tagger", &moat_filter::test_guests::component("tagger", &target)).unwrap());
    let message = ParsedMessage::parse(message_20k(), MessageFacts::default());
    let setup = noop.setup("");

    let calls = if std::env::args().any(|a| a == "overhead") { 200_000 } else { 20_000 };
    for _ in 0..1000 {
        let _ = noop.on_message(&message, &setup);
    }
    let start = Instant::now();
    for _ in 0..calls {
        assert!(noop.on_message(&message, &setup).result.is_ok());
    }
    let per_call = start.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!("| what | per message | messages/s on one core |");
    println!("|---|---|---|");
    println!("| fixed overhead of one plugin call (noop) | {per_call:.1} µs | {:.0} |", 1e6 / per_call);

    if std::env::args().any(|a| a == "overhead") {
        return;
    }
    for n in [1, 3, 6] {
        let entries = (0..n).map(|_| ChainEntry::new(tagger.clone(), tagger.setup(r#"{"score": 1}"#))).collect();
        let thresholds = Thresholds { tag: 1e9, quarantine: 1e9, reject: 1e9 };
        let chain = Chain { entries, thresholds, subject_tag: String::new(), autolearn: Default::default() };
        let rounds = 2000;
        let start = Instant::now();
        for _ in 0..rounds {
            assert_eq!(chain.on_message(&message).1.entries.len(), n);
        }
        let per_message = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!(
            "| chain of {n} × tagger (lower-cases and counts every word of a 20 KB text part) | {per_message:.1} µs | {:.0} |",
            1e6 / per_message
        );
    }
}

fn message_20k() -> Vec<u8> {
    let mut m = String::from(
        "From: a@sender.test\r\nTo: bob@example.com\r\nSubject: FREE offer\r\nContent-Type: text/plain\r\n\r\n",
    );
    let line = "Limited time offer on watches and viagra, reply now to claim your prize today.\r\n";
    while m.len() < 20 * 1024 {
        m.push_str(line);
    }
    m.into_bytes()
}
