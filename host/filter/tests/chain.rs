//! Chains of real guest components: scores against thresholds, final actions, shadow entries, and the
//! fail-open/closed policy when a plugin breaks.

mod common;

use common::{SPAMMY, guest, message};
use moat_filter::{
    Chain, ChainEntry, ChainSpec, ConnectionFacts, Direction, Evaluation, FailPolicy, FilterEngine, KvGrant, KvStore,
    Label, Lesson, Limits, MemoryKv, MessageFacts, Outcome, ParsedMessage, Plugin, RecipientFacts, Resolver, Stage,
    StaticDns, Teaching, Thresholds,
};
use std::collections::HashMap;
use std::sync::Arc;

fn plugin(engine: &FilterEngine, name: &str) -> Arc<Plugin> {
    Arc::new(engine.load(name, &guest(name)).unwrap())
}

fn entry(plugin: &Arc<Plugin>, config: &str, shadow: bool, fail: FailPolicy) -> ChainEntry {
    let mut entry = ChainEntry::new(plugin.clone(), plugin.setup(config));
    entry.shadow = shadow;
    entry.fail = fail;
    entry
}

fn chain(entries: Vec<ChainEntry>, thresholds: Thresholds) -> Chain {
    Chain { entries, thresholds, subject_tag: "[SPAM]".into(), autolearn: Default::default() }
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
        let (outcome, report) = chain(entries, thresholds).on_message(&message(SPAMMY));
        assert_eq!(outcome, want, "score {score} x{copies}: {}", report.score);
        assert_eq!(report.entries.len(), copies);
        assert_eq!(report.add_headers.len(), copies);
        assert_eq!(report.entries[0].stage, "message");
    }
}

#[test]
fn a_final_action_ends_the_chain() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let (tagger, trap) = (plugin(&e, "tagger"), plugin(&e, "trap"));
    let chain = chain(
        vec![entry(&tagger, "", false, FailPolicy::Open), entry(&trap, "", false, FailPolicy::Closed)],
        Thresholds::default(),
    );
    let (outcome, report) = chain.on_message(&message("X-Reject-Me: yes\r\nSubject: x\r\n\r\nhi\r\n"));
    assert!(matches!(outcome, Outcome::Reject { code: 550, .. }), "{:?}", outcome);
    assert_eq!(report.entries.len(), 1, "the trap never ran");
}

#[test]
fn a_shadow_entry_is_logged_but_never_acted_on() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let (tagger, trap) = (plugin(&e, "tagger"), plugin(&e, "trap"));
    let chain = chain(
        vec![
            entry(&tagger, r#"{"score": 50}"#, true, FailPolicy::Open),
            entry(&trap, "", true, FailPolicy::Closed),
            entry(&tagger, "", true, FailPolicy::Open),
        ],
        Thresholds::default(),
    );
    let (outcome, report) = chain.on_message(&message(SPAMMY));
    assert_eq!(outcome, Outcome::Deliver);
    assert_eq!(report.score, 0.0);
    assert_eq!(report.entries.len(), 3);
    assert_eq!(report.entries[0].symbols[0].score, 50.0, "the shadow verdict is kept for the log");
    assert_eq!(report.entries[1].symbols[0].name, "PLUGIN_TRAP");
}

#[test]
fn failures_follow_the_entry_policy() {
    let e = FilterEngine::new(None, Limits { fuel: 10_000_000, memory_bytes: 16 << 20, ..Limits::default() }).unwrap();
    for broken in ["spin", "hog", "trap"] {
        let broken = plugin(&e, broken);
        let open = chain(vec![entry(&broken, "", false, FailPolicy::Open)], Thresholds::default());
        let (outcome, report) = open.on_message(&message(SPAMMY));
        assert_eq!(outcome, Outcome::Deliver, "fail-open lets mail through");
        assert!(report.entries[0].failure.is_some());
        let closed = chain(vec![entry(&broken, "", false, FailPolicy::Closed)], Thresholds::default());
        let (outcome, _) = closed.on_message(&message(SPAMMY));
        assert!(matches!(outcome, Outcome::Tempfail { code: 451, .. }), "{:?}", outcome);
    }
}

fn probe_chain(engine: &FilterEngine, kv: Option<Arc<dyn KvStore>>, dns: Option<Arc<dyn Resolver>>) -> Chain {
    let probe = plugin(engine, "probe");
    let mut plugins = HashMap::new();
    plugins.insert(("probe".to_string(), "1".to_string()), probe);
    let spec = ChainSpec::from_toml(
        r#"
        [[entry]]
        plugin = "probe"
        version = "1"
        kv = true
        dns = ["bl.example"]
        "#,
    )
    .unwrap();
    spec.build(&plugins, "t1", kv, dns).unwrap()
}

fn symbols(eval: &Evaluation) -> Vec<String> {
    eval.entries.iter().flat_map(|e| e.symbols.iter().map(|s| s.name.clone())).collect()
}

#[test]
fn envelope_stages_refuse_carry_acceptance_and_use_granted_kv() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let chain = probe_chain(&e, Some(kv.clone()), None);
    let conn = ConnectionFacts { client_ip: "192.0.2.7".into(), helo: "reject.me".into(), ..Default::default() };
    let mut eval = Evaluation::default();
    chain.run(Stage::Connect(&conn), &mut eval);
    assert!(matches!(eval.refusal(), Some(Outcome::Reject { code: 554, .. })), "{:?}", eval.decided);

    let conn = ConnectionFacts { helo: "fine.example".into(), ..conn };
    let rcpt = RecipientFacts { address: "grey@example.com".into(), ..Default::default() };
    let mut first = Evaluation::default();
    chain.run(Stage::Rcpt(&conn, "a@sender.test", &rcpt), &mut first);
    assert!(matches!(first.refusal(), Some(Outcome::Tempfail { code: 451, .. })), "greylisted first");
    let mut retry = Evaluation::default();
    chain.run(Stage::Rcpt(&conn, "a@sender.test", &rcpt), &mut retry);
    assert_eq!(retry.refusal(), None, "the retry passes: the counter lives in the kv store");
    assert_eq!(symbols(&retry), ["PROBE_GREY_PASSED"]);
    assert!(kv.get("t1:probe", "grey:a@sender.test:grey@example.com").unwrap().is_some(), "namespaced by tenant");

    let mut trusted = Evaluation::default();
    chain.run(Stage::MailFrom(&conn, "boss@trusted.test"), &mut trusted);
    assert!(trusted.accepted && trusted.refusal().is_none());
    chain.run(Stage::Message(&message(SPAMMY)), &mut trusted);
    assert_eq!(trusted.entries.len(), 1, "after an accept, entries not marked `always` are skipped");
    assert_eq!(trusted.outcome(&chain.thresholds), Outcome::Deliver);
}

#[test]
fn dns_is_limited_to_granted_zones() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let dns: Arc<dyn Resolver> =
        Arc::new(StaticDns::parse("1.0.0.127.bl.example A 127.0.0.2\nexample.org TXT x").unwrap());
    let listed = |ip: &str| {
        let facts = MessageFacts {
            connection: ConnectionFacts { client_ip: ip.into(), ..Default::default() },
            ..Default::default()
        };
        ParsedMessage::parse(SPAMMY.as_bytes().to_vec(), facts)
    };
    let chain = probe_chain(&e, None, Some(dns));
    let (_, eval) = chain.on_message(&listed("127.0.0.1"));
    let names = symbols(&eval);
    assert!(names.contains(&"PROBE_DNSBL".into()), "{names:?}");
    assert!(names.contains(&"PROBE_OUTSIDE_DENIED".into()), "a zone outside the grant is denied: {names:?}");
    assert!(names.contains(&"PROBE_KV_DENIED".into()), "kv granted in the spec but no store given: {names:?}");
    assert_eq!(eval.score, 6.0);
    let (_, eval) = chain.on_message(&listed("127.0.0.9"));
    assert!(!symbols(&eval).contains(&"PROBE_DNSBL".into()));

    let ungranted = probe_chain(&e, None, None);
    let (_, eval) = ungranted.on_message(&listed("127.0.0.1"));
    assert!(symbols(&eval).contains(&"PROBE_DNS_DENIED".into()), "no resolver granted: denied");
}

#[test]
fn a_plugin_that_keeps_failing_is_tripped_and_reported_once() {
    let e = FilterEngine::new(
        None,
        Limits { fuel: 1_000_000, fuel_per_byte: 0, memory_bytes: 16 << 20, ..Limits::default() },
    )
    .unwrap();
    let spin = plugin(&e, "spin");
    let chain = chain(vec![entry(&spin, "", false, FailPolicy::Open)], Thresholds::default());
    let mut reports = Vec::new();
    for _ in 0..8 {
        reports.push(chain.on_message(&message(SPAMMY)).1.entries.remove(0));
    }
    let tripped: Vec<bool> = reports.iter().map(|r| r.tripped).collect();
    assert_eq!(tripped, [false, false, false, false, true, false, false, false]);
    assert_eq!(reports[4].symbols[0].name, "PLUGIN_TIMEOUT");
    assert_eq!(reports[5].symbols[0].name, "PLUGIN_TRIPPED", "skipped while open");
    assert_eq!(reports[5].fuel, 0, "a tripped plugin costs nothing");
    let shared: std::sync::Arc<str> = "".into();
    assert!(chain.entries[0].breakers.of(&shared)[3].is_open(), "the message stage's breaker");
    assert!(!chain.entries[0].breakers.of(&shared)[0].is_open(), "other stages are not affected");

    // A shared (default) chain: one tenant's failures open its own breaker, never another tenant's.
    let mut attacked = Evaluation::for_tenant("acme");
    for _ in 0..8 {
        attacked = Evaluation::for_tenant("acme");
        chain.run(Stage::Message(&message(SPAMMY)), &mut attacked);
    }
    assert_eq!(attacked.entries[0].symbols[0].name, "PLUGIN_TRIPPED");
    let mut other = Evaluation::for_tenant("beta");
    chain.run(Stage::Message(&message(SPAMMY)), &mut other);
    assert_eq!(other.entries[0].symbols[0].name, "PLUGIN_TIMEOUT", "beta's mail is still scanned, not skipped");
}

#[test]
fn learn_reaches_the_plugin_with_its_label() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let probe = plugin(&e, "probe");
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let mut setup = probe.setup("{}");
    setup.capabilities.kv = Some(KvGrant::new(kv.clone(), "t1", "probe"));
    for label in [Label::Spam, Label::Spam, Label::Ham] {
        probe.learn(&message(SPAMMY), label, &setup).result.unwrap();
    }
    let count = |k| kv.get("t1:probe", k).unwrap().map(|v| i64::from_le_bytes(v.try_into().unwrap()));
    assert_eq!((count("learned:spam"), count("learned:ham")), (Some(2), Some(1)));
}

/// Autolearn: an entry that learns from confident verdicts is taught spam when the other entries alone reach
/// `autolearn.spam`, ham when the whole chain is at most `autolearn.ham`; never by its own score, never when a
/// final action decided, never as a shadow.
#[test]
fn confident_verdicts_teach_a_learner_what_the_others_are_sure_of() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let (tagger, probe) = (plugin(&e, "tagger"), plugin(&e, "probe"));
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let learner = |plugin: &Arc<Plugin>, config: &str, shadow: bool| {
        let mut learner = entry(plugin, config, shadow, FailPolicy::Open);
        learner.call.capabilities.kv = Some(KvGrant::new(kv.clone(), "t1", plugin.name()));
        learner.teaching = Teaching::Confident;
        learner
    };
    let mut chain = chain(
        vec![entry(&tagger, r#"{"score": 1}"#, false, FailPolicy::Open), learner(&probe, "{}", false)],
        Thresholds::default(),
    );
    chain.autolearn.ham = 0.5;
    let lessons = |chain: &Chain, raw: &str| {
        let (outcome, eval) = chain.on_message(&message(raw));
        chain.lessons(&eval, &outcome)
    };
    // The tagger scores SPAMMY 6 without the learner: spam. A plain message scores at most 0.1: ham.
    let spam = lessons(&chain, SPAMMY);
    assert_eq!(spam, [Lesson { entry: 1, label: Label::Spam, confident: true }]);
    assert_eq!(lessons(&chain, "Subject: lunch\r\n\r\nat noon\r\n")[0].label, Label::Ham);
    chain.autolearn.ham = -3.0;
    assert!(lessons(&chain, "Subject: lunch\r\n\r\nat noon\r\n").is_empty(), "in between: nothing");
    assert!(lessons(&chain, &format!("X-Reject-Me: yes\r\n{SPAMMY}")).is_empty(), "a final action decided");
    chain.teach(&message(SPAMMY), &spam);
    let count = |k| kv.get("t1:probe", k).unwrap().map(|v| i64::from_le_bytes(v.try_into().unwrap()));
    assert_eq!((count("learned:spam"), count("learned:ham")), (Some(1), None));

    // The same scores from the learner itself teach it nothing; nor does a shadow learner learn.
    let itself = self::chain(
        vec![entry(&probe, "{}", false, FailPolicy::Open), learner(&tagger, r#"{"score": 1}"#, false)],
        Thresholds::default(),
    );
    assert!(lessons(&itself, SPAMMY).is_empty(), "a learner never teaches itself");
    let shadow = self::chain(
        vec![entry(&tagger, r#"{"score": 1}"#, false, FailPolicy::Open), learner(&probe, "{}", true)],
        Thresholds::default(),
    );
    assert!(lessons(&shadow, SPAMMY).is_empty());
}

#[test]
fn hooks_a_plugin_does_not_implement_are_called_once_then_skipped() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let tagger = plugin(&e, "tagger");
    let chain = chain(vec![entry(&tagger, r#"{"score": 1}"#, false, FailPolicy::Open)], Thresholds::default());
    let conn = ConnectionFacts { client_ip: "192.0.2.1".into(), ..ConnectionFacts::default() };
    assert!(tagger.implements(0), "unknown until asked");
    let mut eval = Evaluation::default();
    chain.run(Stage::Connect(&conn), &mut eval);
    assert!(eval.entries.is_empty(), "the SDK's default hook answers nothing worth a log line: {:?}", eval.entries);
    assert!(!tagger.implements(0), "the tagger has no connect hook");
    chain.run(Stage::Connect(&conn), &mut eval);
    assert!(eval.entries.is_empty());
    let (_, report) = chain.on_message(&message(SPAMMY));
    assert!(tagger.implements(3) && report.entries.len() == 1, "the message hook still runs");
}

#[test]
fn a_warm_entry_keeps_its_instance_and_replaces_a_failed_one() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let counter = plugin(&e, "counter");
    let seen = |setup: &moat_filter::CallSetup, subject: &str| {
        let run = counter.on_message(&message(&format!("Subject: {subject}\r\n\r\nx\r\n")), setup);
        run.result.map(|v| v.symbols[0].score)
    };
    let cold = counter.setup("{}");
    assert_eq!((seen(&cold, "a"), seen(&cold, "b")), (Ok(1.0), Ok(1.0)), "a fresh instance every call");

    let warm = moat_filter::CallSetup { warm: Some(Default::default()), ..counter.setup("{}") };
    let counts: Vec<_> = ["a", "b", "c"].iter().map(|s| seen(&warm, s).unwrap()).collect();
    assert_eq!(counts, [1.0, 2.0, 3.0], "one instance kept between calls");
    assert!(matches!(seen(&warm, "trap"), Err(moat_filter::Failure::Trap(_))));
    assert_eq!(seen(&warm, "d"), Ok(1.0), "the instance that trapped is gone; a fresh one took its place");

    // `warm = true` in a chain gives its entry the pool.
    let spec = ChainSpec::from_toml(
        "[[entry]]\nplugin = \"counter\"\nversion = \"1\"\nwarm = true\n[[entry]]\nplugin = \"counter\"\nversion = \"1\"\n",
    ).unwrap();
    let plugins = HashMap::from([(("counter".to_string(), "1".to_string()), counter.clone())]);
    let built = spec.build(&plugins, "t1", None, None);
    let built = built.unwrap_or_else(|e| panic!("{e}"));
    assert!(built.entries[0].call.warm.is_some() && built.entries[1].call.warm.is_none());
}

/// Idle warm instances hold at most a quarter of the plugin memory budget: one that grew on a large message
/// is dropped after its call, and its memory goes back to the budget.
#[test]
fn a_warm_instance_that_grew_past_its_share_of_the_budget_is_not_kept() {
    let limits = Limits { memory_bytes: 32 << 20, memory_budget_bytes: 40 << 20, ..Limits::default() };
    let e = FilterEngine::new(None, limits).unwrap();
    let counter = plugin(&e, "counter");
    let warm = moat_filter::CallSetup { warm: Some(Default::default()), ..counter.setup("{}") };
    let seen = |subject: &str| {
        let run = counter.on_message(&message(&format!("Subject: {subject}\r\n\r\nx\r\n")), &warm);
        run.result.map(|v| v.symbols[0].score).unwrap()
    };
    assert_eq!([seen("a"), seen("b")], [1.0, 2.0], "small: kept");
    assert_eq!(seen("grow"), 3.0);
    assert!(e.memory_budget().used() == 0, "grown past 10 MiB (a quarter of 40): dropped, its memory given back");
    assert_eq!(seen("c"), 1.0, "a fresh instance");
    assert!(e.memory_budget().used() > 0, "which is kept again");
}

/// Plugins of both WIT versions run side by side: a 0.1.0 component (built before the direction existed)
/// still loads and sees the message; a 0.2.0 one is told which way the message goes.
#[test]
fn plugins_of_wit_0_1_0_keep_working_and_0_2_0_ones_learn_the_direction() {
    let e = FilterEngine::new(None, Limits::default()).unwrap();
    let legacy = plugin(&e, "legacy");
    let probe = plugin(&e, "probe");
    assert_eq!((legacy.wit_version(), probe.wit_version()), ("0.1.0", "0.2.0"));
    let conn = ConnectionFacts { helo: "office.acme.test".into(), ..Default::default() };
    let connect = legacy.run(&Stage::Connect(&conn), &legacy.setup("")).result.unwrap();
    assert_eq!(connect.symbols[0].reason, "office.acme.test");

    for (direction, told) in [(Direction::Inbound, "inbound"), (Direction::Outbound, "outbound")] {
        let facts = MessageFacts {
            connection: ConnectionFacts { helo: "office.acme.test".into(), direction, ..Default::default() },
            recipients: vec![RecipientFacts { address: "carol@remote.test".into(), ..Default::default() }],
            ..Default::default()
        };
        let message = ParsedMessage::parse(SPAMMY.as_bytes().to_vec(), facts);
        let old = legacy.on_message(&message, &legacy.setup("")).result.unwrap();
        assert_eq!(old.symbols[0].name, "LEGACY_SEEN");
        assert_eq!(old.symbols[0].reason, "FREE stuff inside from office.acme.test to 1");
        let new = probe.on_message(&message, &probe.setup("")).result.unwrap();
        let seen = new.symbols.iter().find(|s| s.name == "PROBE_DIRECTION").expect("the probe says what it was told");
        assert_eq!(seen.reason, told);
    }
}
