//! Chains of real guest components: scores against thresholds, final actions, shadow entries, and the
//! fail-open/closed policy when a plugin breaks.

mod common;

use common::{SPAMMY, guest, message};
use moat_filter::{Capabilities, Chain, ChainEntry, FailPolicy, FilterEngine, Limits, Outcome, Plugin, Thresholds};
use std::sync::Arc;

fn plugin(engine: &FilterEngine, name: &str) -> Arc<Plugin> {
    Arc::new(engine.load(name, &guest(name)).unwrap())
}

fn entry(plugin: &Arc<Plugin>, config: &str, shadow: bool, fail: FailPolicy) -> ChainEntry {
    ChainEntry { plugin: plugin.clone(), config: config.into(), shadow, fail, capabilities: Capabilities::default() }
}

#[test]
fn scores_add_up_across_entries_and_thresholds_decide() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let tagger = plugin(&e, "tagger");
    let thresholds = Thresholds { tag: 5.0, quarantine: 10.0, reject: 15.0 };
    // Each tagger run scores SUBJECT_FREE (config score) + BODY_REPEATS_DRUG (5.0).
    let cases = [
        ("1", 1, Outcome::Tag),
        ("1", 2, Outcome::Quarantine),
        (
            "3",
            2,
            Outcome::Reject {
                code: 550,
                enhanced: "5.7.1".into(),
                text: "Message rejected as spam (score 16.0)".into(),
            },
        ),
    ];
    for (score, copies, want) in cases {
        let config = format!(r#"{{"score": {score}}}"#);
        let entries = (0..copies).map(|_| entry(&tagger, &config, false, FailPolicy::Open)).collect();
        let report = Chain { entries, thresholds }.on_message(&message(SPAMMY));
        assert_eq!(report.outcome, want, "score {score} x{copies}: {}", report.score);
        assert_eq!(report.entries.len(), copies);
        assert_eq!(report.add_headers.len(), copies);
    }
}

#[test]
fn a_final_action_ends_the_chain() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let (tagger, trap) = (plugin(&e, "tagger"), plugin(&e, "trap"));
    let chain = Chain {
        entries: vec![entry(&tagger, "", false, FailPolicy::Open), entry(&trap, "", false, FailPolicy::Closed)],
        thresholds: Thresholds::default(),
    };
    let report = chain.on_message(&message("X-Reject-Me: yes\r\nSubject: x\r\n\r\nhi\r\n"));
    assert!(matches!(report.outcome, Outcome::Reject { code: 550, .. }), "{:?}", report.outcome);
    assert_eq!(report.entries.len(), 1, "the trap never ran");
}

#[test]
fn a_shadow_entry_is_logged_but_never_acted_on() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let (tagger, trap) = (plugin(&e, "tagger"), plugin(&e, "trap"));
    let chain = Chain {
        entries: vec![
            entry(&tagger, r#"{"score": 50}"#, true, FailPolicy::Open),
            entry(&trap, "", true, FailPolicy::Closed),
            entry(&tagger, "", true, FailPolicy::Open),
        ],
        thresholds: Thresholds::default(),
    };
    let report = chain.on_message(&message(SPAMMY));
    assert_eq!(report.outcome, Outcome::Deliver);
    assert_eq!(report.score, 0.0);
    assert_eq!(report.entries.len(), 3);
    assert_eq!(report.entries[0].symbols[0].score, 50.0, "the shadow verdict is kept for the log");
    assert_eq!(report.entries[1].symbols[0].name, "PLUGIN_TRAP");
}

#[test]
fn failures_follow_the_entry_policy() {
    let e = FilterEngine::new(None, Limits { fuel: 10_000_000, memory_bytes: 16 << 20 }).unwrap();
    for broken in ["spin", "hog", "trap"] {
        let broken = plugin(&e, broken);
        let open =
            Chain { entries: vec![entry(&broken, "", false, FailPolicy::Open)], thresholds: Thresholds::default() };
        let report = open.on_message(&message(SPAMMY));
        assert_eq!(report.outcome, Outcome::Deliver, "fail-open lets mail through");
        assert!(report.entries[0].failure.is_some());
        let closed =
            Chain { entries: vec![entry(&broken, "", false, FailPolicy::Closed)], thresholds: Thresholds::default() };
        let report = closed.on_message(&message(SPAMMY));
        assert!(matches!(report.outcome, Outcome::Tempfail { code: 451, .. }), "{:?}", report.outcome);
    }
}
