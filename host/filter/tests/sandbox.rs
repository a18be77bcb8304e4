//! Real guest components (built from `tests/guests/` with the SDK) through the runtime: the message resource,
//! verdicts, configuration errors, and the sandbox stopping loops, memory hogs and traps.

mod common;

use common::{SPAMMY, guest, message};
use moat_filter::{Action, Failure, FilterEngine, Limits, LoadError};

fn engine(limits: Limits) -> FilterEngine {
    FilterEngine::new(None, limits).unwrap()
}

#[test]
fn a_filter_reads_the_message_through_the_resource_and_returns_a_verdict() {
    let plugin = engine(Limits::default()).load("tagger", &guest("tagger")).unwrap();
    assert_eq!(plugin.sha256().len(), 64);
    let run = plugin.on_message(&message(SPAMMY), &plugin.setup(r#"{"score": 2.5}"#));
    let verdict = run.result.unwrap();
    assert_eq!(verdict.action, Action::Continue);
    let names: Vec<(&str, f64)> = verdict.symbols.iter().map(|s| (s.name.as_str(), s.score)).collect();
    assert_eq!(names, [("SUBJECT_FREE", 2.5), ("BODY_REPEATS_DRUG", 5.0)]);
    assert_eq!(verdict.add_headers, [("X-Tagger".to_string(), "2 recipients".to_string())]);
    assert!(run.fuel_used > 0);

    let reject = plugin.on_message(&message("X-Reject-Me: yes\r\nSubject: hi\r\n\r\nok\r\n"), &plugin.setup(""));
    match reject.result.unwrap().action {
        Action::Reject { code, enhanced, text } => {
            assert_eq!((code, enhanced.as_str(), text.as_str()), (550, "5.7.1", "asked to be rejected"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn configuration_errors_reach_the_admin_verbatim() {
    let plugin = engine(Limits::default()).load("tagger", &guest("tagger")).unwrap();
    assert_eq!(plugin.configure(r#"{"score": 3}"#).result.unwrap(), Ok(()));
    assert_eq!(plugin.configure("[1, 2]").result.unwrap(), Err("expected {\"score\": N}, got [1, 2]".to_string()));
}

#[test]
fn an_endless_loop_is_stopped_by_its_fuel_budget() {
    let limits = Limits { fuel: 20_000_000, fuel_per_byte: 0, ..Limits::default() };
    let plugin = engine(limits).load("spin", &guest("spin")).unwrap();
    let run = plugin.on_message(&message(SPAMMY), &plugin.setup(""));
    assert_eq!(run.result.unwrap_err(), Failure::Timeout);
    assert_eq!(run.fuel_used, 20_000_000);
}

/// Regression: a fixed budget per call let a large crafted message exhaust the antivirus' fuel, and a
/// fail-open layer then passed the message as clean. A call on a message gets fuel in proportion to it.
#[test]
fn a_message_call_gets_fuel_in_proportion_to_the_message() {
    let limits = Limits { fuel: 1_000_000, fuel_per_byte: 100, ..Limits::default() };
    let plugin = engine(limits).load("spin", &guest("spin")).unwrap();
    let small = message(SPAMMY);
    let large = message(&format!("{SPAMMY}{}", "x".repeat(100_000)));
    let (a, b) = (plugin.on_message(&small, &plugin.setup("")), plugin.on_message(&large, &plugin.setup("")));
    assert_eq!(a.fuel_used, 1_000_000 + 100 * small.size() as u64);
    assert_eq!(b.fuel_used, 1_000_000 + 100 * large.size() as u64);
}

/// Fuel bounds computing; the epoch deadline bounds the call in wall-clock time, whatever its fuel.
#[test]
fn a_call_is_stopped_at_its_wall_clock_deadline() {
    // Fuel that never runs out, so only the deadline can stop it (however busy the machine is).
    let limits = Limits {
        fuel: u64::MAX / 2,
        fuel_per_byte: 0,
        call_timeout: std::time::Duration::from_millis(200),
        ..Limits::default()
    };
    let plugin = engine(limits).load("spin", &guest("spin")).unwrap();
    let run = plugin.on_message(&message(SPAMMY), &plugin.setup(""));
    assert_eq!(run.result.unwrap_err(), Failure::Deadline);
    assert_eq!(Failure::Deadline.symbol(), "PLUGIN_TIMEOUT");
    assert!(run.elapsed < std::time::Duration::from_secs(60), "{:?}", run.elapsed);
}

#[test]
fn unbounded_allocation_stops_at_the_memory_cap() {
    let plugin = engine(Limits { memory_bytes: 16 << 20, ..Limits::default() }).load("hog", &guest("hog")).unwrap();
    let run = plugin.on_message(&message(SPAMMY), &plugin.setup(""));
    assert_eq!(run.result.unwrap_err(), Failure::OutOfMemory);
}

/// A memory-hungry plugin under load took 64 MiB per instance, 256 instances at once: the process-wide
/// budget stops growth past it, and what an instance took comes back when it goes.
#[test]
fn instances_share_one_memory_budget() {
    let limits = Limits { memory_bytes: 32 << 20, memory_budget_bytes: 40 << 20, ..Limits::default() };
    let e = engine(limits);
    let (hog, tagger) = (e.load("hog", &guest("hog")).unwrap(), e.load("tagger", &guest("tagger")).unwrap());
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| hog.on_message(&message(SPAMMY), &hog.setup("")))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(runs.iter().all(|r| r.result == Err(Failure::OutOfMemory)), "{runs:?}");
    assert_eq!(e.memory_budget().used(), 0, "every instance gave its memory back");
    let peak = e.memory_budget().peak();
    assert!(peak <= 40 << 20 && peak > 32 << 20, "several instances shared the budget, never past it: {peak}");
    assert!(tagger.on_message(&message(SPAMMY), &tagger.setup("")).result.is_ok(), "the budget is free again");
}

#[test]
fn a_trap_is_a_failure_and_every_call_gets_a_fresh_instance() {
    let e = engine(Limits::default());
    let (trap, tagger) = (e.load("trap", &guest("trap")).unwrap(), e.load("tagger", &guest("tagger")).unwrap());
    for _ in 0..3 {
        let failure = trap.on_message(&message(SPAMMY), &trap.setup("")).result.unwrap_err();
        assert!(matches!(&failure, Failure::Trap(_)), "{failure:?}");
        assert_eq!(failure.symbol(), "PLUGIN_TRAP");
        assert!(tagger.on_message(&message(SPAMMY), &tagger.setup("")).result.is_ok());
    }
}

#[test]
fn non_conforming_uploads_are_refused_with_the_reason() {
    let e = engine(Limits::default());
    let err = e.load("junk", b"hello").err().unwrap();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    let core_module = b"\0asm\x01\0\0\0";
    let err = e.load("core", core_module).err().unwrap();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    let empty_component = b"\0asm\x0d\0\x01\0";
    let err = e.load("empty", empty_component).err().unwrap();
    assert!(matches!(err, LoadError::NotAFilter { .. }), "{err}");
    assert!(err.to_string().contains("implements neither the moat:filter/filter@0.2.0 world nor 0.1.0"), "{err}");
}

#[test]
fn compiled_components_are_cached_by_sha256_and_a_bad_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = guest("tagger");
    let first = FilterEngine::new(Some(dir.path().into()), Limits::default()).unwrap().load("tagger", &bytes).unwrap();
    let cached = dir.path().join(format!("{}.w48e.cwasm", first.sha256()));
    assert!(cached.exists());
    std::fs::write(&cached, b"corrupt").unwrap();
    let again = FilterEngine::new(Some(dir.path().into()), Limits::default()).unwrap().load("tagger", &bytes).unwrap();
    assert!(again.on_message(&message(SPAMMY), &again.setup("")).result.is_ok());
    assert_ne!(std::fs::read(&cached).unwrap(), b"corrupt");
}
