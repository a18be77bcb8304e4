//! Filter chains end to end: plugins registered and chained with the CLI, mail sent over real SMTP to a real
//! `moat` process, delivered to a real downstream server, on SQLite and on PostgreSQL.

use moat_tests::{Backend, Client, Moat, Sink, eventually, send};
use std::net::SocketAddr;
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(
    two_plugins_change_the_outcome_tag_quarantine_reject,
    a_shadow_entry_is_logged_but_not_acted_on,
    broken_plugins_follow_fail_open_and_fail_closed,
    envelope_stages_refuse_recipients_and_greylist,
    chains_swap_under_load_without_losing_mail,
    bad_chains_and_plugins_are_refused_with_clear_errors,
    each_tenant_gets_its_own_chain_and_outcome,
);

fn guest(name: &str) -> Vec<u8> {
    moat_filter::test_guests::component(name, &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests"))
}

async fn start(backend: Backend, sink: &Sink) -> Option<Moat> {
    let Some(moat) = Moat::builder(BIN, backend).set("smtp", "max_errors", "50").start().await else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
        return None;
    };
    let downstream = format!("{}:{}:10", sink.addr.ip(), sink.addr.port());
    moat.protect("example.com", &[downstream], &["bob", "carol", "greyhound"]);
    Some(moat)
}

/// Saves a chain and waits until the running server uses it: a probe message must come out as `expect`
/// says (the server reloads within its 100 ms interval).
fn set_chain(moat: &Moat, toml: &str) {
    let out = moat.set_chain(toml, &[]);
    assert!(
        out.status.success(),
        "chain set: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits past a reload interval, so a chain just saved is live.
async fn reloaded() {
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
}

const SPAM: &str =
    "From: a@sender.test\r\nTo: bob@example.com\r\nSubject: FREE stuff inside\r\n\r\nBuy viagra now, viagra cheap.\r\n";
const HAM: &str = "From: a@sender.test\r\nTo: bob@example.com\r\nSubject: Lunch\r\n\r\nSee you at noon.\r\n";

fn chain(thresholds: &str, entries: &str) -> String {
    format!("thresholds = {{ {thresholds} }}\n{entries}")
}

const TAGGER_AND_PROBE: &str = r#"
[[entry]]
plugin = "tagger"
config = { score = 1 }

[[entry]]
plugin = "probe"
kv = true
"#;

async fn two_plugins_change_the_outcome_tag_quarantine_reject(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    moat.add_guest("probe", "1.0.0", &guest("probe"));

    // The tagger scores the spam 6 (SUBJECT_FREE 1 + BODY_REPEATS_DRUG 5): tagged.
    set_chain(&moat, &chain("tag = 5.0, quarantine = 50.0, reject = 100.0", TAGGER_AND_PROBE));
    reloaded().await;
    assert!(send(moat.smtp(), "a@sender.test", &["bob@example.com"], SPAM).await.unwrap().starts_with("250"));
    assert!(send(moat.smtp(), "a@sender.test", &["carol@example.com"], HAM).await.unwrap().starts_with("250"));
    let got = eventually(20, "two deliveries", || async { Some(sink.received()).filter(|r| r.len() == 2) }).await;
    let spam = got.iter().find(|m| m.to == ["bob@example.com"]).unwrap().text();
    let ham = got.iter().find(|m| m.to == ["carol@example.com"]).unwrap().text();
    assert!(spam.contains("\r\nSubject: [SPAM] FREE stuff inside\r\n"), "{spam}");
    assert!(spam.contains("X-Moat-Spam-Status: Yes, score=6.0 tests=SUBJECT_FREE,BODY_REPEATS_DRUG,PROBE_DNS_DENIED,PROBE_OUTSIDE_DENIED,PROBE_DIRECTION,PROBE_COUNT"), "{spam}");
    assert!(spam.contains("X-Tagger: 1 recipients"), "headers the chain adds are delivered: {spam}");
    assert!(ham.contains("X-Moat-Spam-Status: No, score=0.0") && ham.contains("Subject: Lunch\r\n"), "{ham}");

    // The second plugin changes the outcome: a trusted sender is accepted at MAIL FROM, and the rest of the
    // chain (not marked `always`) is skipped.
    assert!(send(moat.smtp(), "boss@trusted.test", &["bob@example.com"], SPAM).await.unwrap().starts_with("250"));
    let trusted = eventually(20, "trusted delivery", || async {
        sink.received().into_iter().find(|m| m.from == "boss@trusted.test")
    })
    .await;
    assert!(trusted.text().contains("X-Moat-Spam-Status: No, score=-10.0 tests=PROBE_TRUSTED"), "{}", trusted.text());

    // Stricter thresholds: the same spam is held in quarantine, then released by the admin.
    set_chain(&moat, &chain("tag = 3.0, quarantine = 5.0, reject = 100.0", TAGGER_AND_PROBE));
    reloaded().await;
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], SPAM).await.unwrap();
    assert!(reply.starts_with("250 2.0.0 OK queued as "), "{reply}");
    let held = moat.admin(&["quarantine", "list"]);
    let id = held.split('\t').next().unwrap().trim().to_owned();
    assert!(held.contains("from <a@sender.test>") && held.contains("score 6.0"), "{held}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 3, "a quarantined message is not delivered");
    assert!(moat.admin(&["quarantine", "release", &id]).contains("queued as"));
    eventually(20, "released delivery", || async { Some(()).filter(|_| sink.received().len() == 4) }).await;
    assert!(moat.admin(&["quarantine", "list"]).contains("The quarantine is empty"));
    let again = moat.cli(&["quarantine", "release", &id]);
    assert_eq!(again.status.code(), Some(1), "released once only");

    // Stricter still: refused at DATA, with the verdict explained in the log.
    set_chain(&moat, &chain("tag = 2.0, quarantine = 4.0, reject = 5.0", TAGGER_AND_PROBE));
    reloaded().await;
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], SPAM).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Message rejected as spam (score 6.0)");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("rejected 6.0 [SUBJECT_FREE,BODY_REPEATS_DRUG,"), "{log}");
    assert!(log.contains("tagger (message): SUBJECT_FREE 1.0, BODY_REPEATS_DRUG 5.0"), "{log}");
    assert!(log.contains("probe (mail-from)") && log.contains("(fuel "), "every stage's cost is logged: {log}");
    assert_eq!(sink.received().len(), 4);
}

async fn a_shadow_entry_is_logged_but_not_acted_on(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    set_chain(&moat, "[[entry]]\nplugin = \"tagger\"\nshadow = true\nconfig = { score = 50 }\n");
    reloaded().await;
    assert!(send(moat.smtp(), "a@sender.test", &["bob@example.com"], SPAM).await.unwrap().starts_with("250"));
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    let text = got.text();
    assert!(text.contains("X-Moat-Spam-Status: No, score=0.0\r\n") && text.contains("Subject: FREE stuff"), "{text}");
    assert!(!text.contains("X-Tagger"), "a shadow entry's headers are not added: {text}");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("tagger (message) shadow: SUBJECT_FREE 50.0, BODY_REPEATS_DRUG 5.0"), "{log}");
    assert!(log.contains("clean 0.0"), "{log}");
}

async fn broken_plugins_follow_fail_open_and_fail_closed(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    for name in ["spin", "hog", "trap"] {
        moat.add_guest(name, "1.0.0", &guest(name));
    }
    // A small fuel budget keeps the endless loop's cost per message low; the hog gets the default budget, so
    // it reaches the memory cap before its fuel runs out.
    let entries = |fail: &str| {
        [("spin", "fuel = 20000000\n"), ("hog", ""), ("trap", "")]
            .iter()
            .map(|(p, fuel)| format!("[[entry]]\nplugin = \"{p}\"\nfail = \"{fail}\"\n{fuel}"))
            .collect::<String>()
    };
    set_chain(&moat, &entries("open"));
    reloaded().await;
    for i in 0..3 {
        let body = HAM.replace("Lunch", &format!("Lunch {i}"));
        let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], &body).await.unwrap();
        assert!(reply.starts_with("250"), "fail-open: mail keeps flowing: {reply}");
    }
    eventually(30, "three deliveries", || async { Some(()).filter(|_| sink.received().len() == 3) }).await;
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    for symbol in ["PLUGIN_TIMEOUT", "PLUGIN_OUT_OF_MEMORY", "PLUGIN_TRAP"] {
        assert!(log.contains(symbol), "{symbol} in {log}");
    }

    set_chain(&moat, &entries("closed"));
    reloaded().await;
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], HAM).await.unwrap();
    assert_eq!(reply, "451 4.3.0 Message could not be checked, try again later");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 3, "fail-closed: nothing unchecked is delivered");
    assert!(moat.admin(&["queue", "list"]).contains("The queue is empty"), "nothing kept after a 451");

    // Failing over and over trips the breaker, and the admin hears about it once.
    for _ in 0..5 {
        send(moat.smtp(), "a@sender.test", &["bob@example.com"], HAM).await.unwrap();
    }
    let alerts = moat.admin(&["alerts"]);
    assert!(alerts.contains("plugin-tripped\tplugin spin failed too often in a row"), "{alerts}");
    assert_eq!(alerts.matches("plugin spin").count(), 1, "{alerts}");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("PLUGIN_TRIPPED"), "{log}");
    // The gateway itself is fine.
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
}

async fn envelope_stages_refuse_recipients_and_greylist(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    moat.add_guest("probe", "1.0.0", &guest("probe"));
    set_chain(&moat, "[[entry]]\nplugin = \"probe\"\nkv = true\n");
    reloaded().await;

    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO reject.me\r\n").await.unwrap();
    c.cmd("MAIL FROM:<a@sender.test>\r\n").await.unwrap();
    assert_eq!(c.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap(), "554 5.7.1 bad HELO");

    let greylisted = |addr: SocketAddr| async move {
        let mut c = Client::connect(addr).await.unwrap();
        c.expect("220").await.unwrap();
        c.cmd("EHLO client.test\r\n").await.unwrap();
        c.cmd("MAIL FROM:<a@sender.test>\r\n").await.unwrap();
        c.cmd("RCPT TO:<greyhound@example.com>\r\n").await.unwrap()
    };
    assert_eq!(greylisted(moat.smtp()).await, "451 4.7.1 greylisted, try again");
    // The triplet is remembered in the store: the retry passes, also after a restart.
    let mut moat = moat;
    moat.restart().await;
    assert_eq!(greylisted(moat.smtp()).await, "250 2.1.5 Recipient OK");
}

async fn chains_swap_under_load_without_losing_mail(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    moat.add_guest("tagger", "2.0.0", &guest("tagger"));
    set_chain(&moat, "[[entry]]\nplugin = \"tagger\"\nversion = \"1.0.0\"\n");
    reloaded().await;
    let addr = moat.smtp();
    let senders: Vec<_> = (0..4)
        .map(|s| {
            tokio::spawn(async move {
                let mut accepted = 0;
                for i in 0..25 {
                    let body = format!("From: s{s}@sender.test\r\nSubject: load {s}-{i}\r\n\r\nhello\r\n");
                    let reply = send(addr, &format!("s{s}@sender.test"), &["bob@example.com"], &body).await.unwrap();
                    assert!(reply.starts_with("250"), "{reply}");
                    accepted += 1;
                }
                accepted
            })
        })
        .collect();
    for round in 0..6 {
        let version = if round % 2 == 0 { "2.0.0" } else { "1.0.0" };
        let score = round + 1;
        set_chain(
            &moat,
            &format!("[[entry]]\nplugin = \"tagger\"\nversion = \"{version}\"\nconfig = {{ score = {score} }}\n"),
        );
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let mut accepted = 0;
    for s in senders {
        accepted += s.await.unwrap();
    }
    assert_eq!(accepted, 100);
    let got =
        eventually(60, "every message delivered", || async { Some(sink.received()).filter(|r| r.len() == 100) }).await;
    assert!(got.iter().all(|m| m.text().contains("X-Moat-Spam-Status: No")), "every message went through a chain");
    let history = moat.admin(&["chain", "history"]);
    assert_eq!(history.lines().count(), 7, "{history}");
    let first = history.lines().last().unwrap().split('\t').next().unwrap().to_owned();
    assert!(moat.admin(&["chain", "rollback", &first]).contains("Rolled the default chain back to version"));
    assert!(moat.admin(&["chain", "show"]).contains("version = \"1.0.0\""));
}

async fn bad_chains_and_plugins_are_refused_with_clear_errors(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    let error = |toml: &str| String::from_utf8_lossy(&moat.set_chain(toml, &[]).stderr).into_owned();
    let refused = error("[[entry]]\nplugin = \"tagger\"\nconfig = { level = 3 }\n");
    assert!(
        refused.contains("entry 1 (tagger): the plugin refused its config: expected {\"score\": N}, got {\"level\":3}"),
        "{refused}"
    );
    assert!(error("[[entry]]\nplugin = \"nope\"\n").contains("no plugin nope is registered"));
    assert!(error("[[entry]]\nplugin = \"tagger\"\nversion = \"9\"\n").contains("no plugin tagger 9 is registered"));
    assert!(error("[[entry]]\nplugn = \"tagger\"\n").contains("unknown field `plugn`"));
    assert!(error("thresholds = { tag = 9.0, quarantine = 1.0, reject = 2.0 }").contains("thresholds must rise"));
    assert!(moat.admin(&["chain", "show"]).contains("none saved"), "nothing half-saved");

    // A valid component that exports nothing: not a filter.
    let empty = moat.write_file("empty.wasm", b"\0asm\x0d\x00\x01\x00");
    let out = moat.cli(&["plugin", "add", &empty, "--name", "empty"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("empty: the component implements neither the moat:filter/filter@0.2.0 world nor 0.1.0"),
        "{stderr}"
    );
    assert!(!moat.admin(&["plugin", "list"]).contains("empty"));

    set_chain(&moat, "[[entry]]\nplugin = \"tagger\"\n");
    let out = moat.cli(&["plugin", "remove", "tagger"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tagger 1.0.0 is used by a live chain"));
    assert!(moat.admin(&["chain", "show"]).contains("plugin = \"tagger\"\nversion = \"1.0.0\""), "pinned at save");
}

/// One message to two tenants: each tenant's chain judges its own recipients. Here one tenant rejects and the
/// other delivers: the message is accepted, delivered to the second only, and each tenant's log row says why.
async fn each_tenant_gets_its_own_chain_and_outcome(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, &sink).await else { return };
    moat.admin(&["tenant", "add", "acme"]);
    let downstream = format!("{}:{}:10", sink.addr.ip(), sink.addr.port());
    moat.admin(&["domain", "add", "acme.test", "--tenant", "acme", "--downstream", &downstream]);
    moat.admin(&["mailbox", "add", "dan@acme.test"]);
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    // The default tenant's chain rejects the spam; acme's only tags it; and acme.test's own override, once
    // saved, delivers it clean.
    set_chain(&moat, &chain("tag = 2.0, quarantine = 4.0, reject = 5.0", "[[entry]]\nplugin = \"tagger\"\n"));
    let acme = chain("tag = 5.0, quarantine = 50.0, reject = 100.0", "[[entry]]\nplugin = \"tagger\"\n");
    assert!(moat.set_chain(&acme, &["--tenant", "acme"]).status.success());
    reloaded().await;

    let both = ["bob@example.com", "dan@acme.test"];
    let reply = send(moat.smtp(), "a@sender.test", &both, SPAM).await.unwrap();
    assert!(reply.starts_with("250 2.0.0 OK queued as "), "one tenant accepted: {reply}");
    let got = eventually(20, "delivery to acme", || async { sink.received().pop() }).await;
    assert_eq!(got.to, ["dan@acme.test"], "the rejecting tenant's recipient gets nothing");
    assert!(got.text().contains("Subject: [SPAM] FREE stuff inside"), "acme tags: {}", got.text());
    let log = moat.admin(&["log", "tail", "-n", "2"]);
    assert!(log.contains("-> bob@example.com") && log.contains("rejected 6.0"), "{log}");
    assert!(log.contains("-> dan@acme.test") && log.contains("tagged 6.0"), "{log}");

    // Every tenant rejecting: the message is refused.
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], SPAM).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Message rejected as spam (score 6.0)");

    // A domain override wins over its tenant's chain.
    let lenient = chain("tag = 50.0, quarantine = 60.0, reject = 70.0", "[[entry]]\nplugin = \"tagger\"\n");
    assert!(moat.set_chain(&lenient, &["--domain", "acme.test"]).status.success());
    reloaded().await;
    send(moat.smtp(), "a@sender.test", &["dan@acme.test"], SPAM).await.unwrap();
    let got = eventually(20, "second delivery", || async { Some(sink.received()).filter(|r| r.len() == 2) }).await;
    assert!(got[1].text().contains("X-Moat-Spam-Status: No, score=6.0"), "{}", got[1].text());
    assert!(moat.admin(&["chain", "show", "--domain", "acme.test"]).contains("reject = 70.0"));
    moat.admin(&["chain", "clear", "--domain", "acme.test"]);
    assert!(moat.admin(&["chain", "show", "--domain", "acme.test"]).contains("the tenant's chain applies"));
}

/// A fresh install with the built-in filters (the default): they are registered and become the default
/// chain, the untrained classifier says so in every verdict, and `moat learn` / `moat scan` work on files.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_install_runs_the_builtin_chain_and_learns() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    let downstream = format!("{}:{}:10", sink.addr.ip(), sink.addr.port());
    moat.protect("example.com", &[downstream], &["bob"]);
    let plugins = moat.admin(&["plugin", "list"]);
    assert!(plugins.contains("bayes\t0.1.0+") && plugins.contains("lists\t0.1.0+"), "built-ins registered: {plugins}");
    // Each built-in says what it does (its `moat:about` section, read when registered).
    for summary in ["\tRules: your own conditions", "\tBayesian classifier:", "\tAntivirus:", "\tPhishing:"] {
        assert!(plugins.contains(summary), "{summary} in {plugins}");
    }
    let chain = moat.admin(&["chain", "show"]);
    assert!(chain.find("plugin = \"lists\"") < chain.find("plugin = \"bayes\""), "lists first: {chain}");

    assert!(send(moat.smtp(), "a@sender.test", &["bob@example.com"], HAM).await.unwrap().starts_with("250"));
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    assert!(got.text().contains("X-Moat-Spam-Status: No, score=0.0 tests=BAYES_LEARNING"), "{}", got.text());

    // The lists: a denied sender domain is refused at RCPT; a user's allow entry beats it for that user.
    assert!(moat.admin(&["list", "add", "deny", "spam.test"]).contains("deny *|domain|spam.test"));
    // The server keeps plugin storage it reads in bulk in memory and reads other processes' edits within 1 s.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    c.cmd("MAIL FROM:<a@mx.spam.test>\r\n").await.unwrap();
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap(),
        "550 5.7.1 Sender or network denied by the recipient's policy"
    );
    moat.admin(&["list", "add", "allow", "a@mx.spam.test", "--user", "bob@example.com"]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let shown = moat.admin(&["list", "show"]);
    assert!(
        shown.contains("allow\tbob@example.com|sender|a@mx.spam.test") && shown.contains("deny\t*|domain|spam.test"),
        "{shown}"
    );
    assert_eq!(c.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap(), "250 2.1.5 Recipient OK");
    assert!(moat.cli(&["list", "add", "deny", "300.1.1.1/8"]).status.code() == Some(1));

    // A rule with a mistake is refused when the chain is saved, naming the rule and the field.
    let bad_rules = "[[entry]]\nplugin = \"rules\"\n[[entry.config.rule]]\nname = \"FREE_STUFF\"\n\
                     when = { field = \"subjet\", contains = \"free\" }\n";
    let refused = String::from_utf8_lossy(&moat.set_chain(bad_rules, &["--tenant", "default"]).stderr).into_owned();
    assert!(
        refused
            .contains("entry 1 (rules): the plugin refused its config: rule 1 (FREE_STUFF): unknown field \"subjet\""),
        "{refused}"
    );

    let spam = moat.write_file("spam.eml", SPAM.as_bytes());
    let ham = moat.write_file("ham.eml", HAM.as_bytes());
    let learned = moat.admin(&["learn", "--spam", &spam, "--ham", &ham]);
    assert!(learned.contains("Learned 1 spam and 1 ham message(s) for tenant default"), "{learned}");
    let scan = moat.admin(&["scan", "--json", &spam]);
    let row: serde_json::Value = serde_json::from_str(scan.lines().next().unwrap()).unwrap();
    assert_eq!(row["action"], "clean");
    assert_eq!(row["symbols"][0], "BAYES_LEARNING");
    assert!(row["details"][0]["reason"].as_str().unwrap().contains("learning: 1 spam and 1 ham so far"), "{row}");
    // Several files: one row each, in the order given; the rate is reported for the messages after the first,
    // which loads what the chain keeps in memory.
    let out = moat.cli(&["scan", &ham, &spam]);
    let (rows, report) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let sources: Vec<&str> = rows.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(sources, [ham.as_str(), spam.as_str()], "{rows}");
    assert!(
        report.contains("scanned 2 message(s)")
            && report.contains("the rest at")
            && report.contains("µs CPU per message"),
        "{report}"
    );

    // The operator's level: a global base for the classifier, a global deny list for every tenant.
    let learned = moat.admin(&["learn", "--global", "--spam", &spam]);
    assert!(learned.contains("Learned 1 spam and 0 ham message(s) for every tenant (global base)"), "{learned}");
    let scan = moat.admin(&["scan", "--json", &spam]);
    assert!(scan.contains("learning: 2 spam and 1 ham so far"), "tenant + global counts: {scan}");
    assert!(moat.admin(&["list", "add", "deny", "127.0.0.0/8", "--global"]).contains("(every tenant)"));
    assert!(moat.admin(&["list", "show", "--global"]).contains("deny\t*|ip|127.0.0.0/8"));
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    c.cmd("MAIL FROM:<someone@elsewhere.test>\r\n").await.unwrap();
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap(),
        "550 5.7.1 Sender or network denied by the recipient's policy"
    );
}

/// A filtered message is parsed once: SPF/DKIM/DMARC, every tenant's chain and the log read the same parse
/// (it was parsed four times). The server counts its parses in `moat_message_parses_total`. And its chains
/// cost one trip to a plugin thread per recipient and one per group after DATA (`moat_filter_runs_total`): a
/// group's connect and MAIL FROM stages ride with its first recipient's (they were a trip of their own).
#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_message_is_parsed_once_and_judged_in_one_trip_per_recipient_and_group() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).start().await.unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob", "carol"]);
    moat.admin(&["tenant", "add", "beta"]);
    moat.admin(&[
        "domain",
        "add",
        "beta.test",
        "--downstream",
        &format!("{}:{}:10", sink.addr.ip(), sink.addr.port()),
        "--tenant",
        "beta",
    ]);
    moat.admin(&["mailbox", "add", "dan@beta.test"]);
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    set_chain(&moat, "[[entry]]\nplugin = \"tagger\"\n");
    reloaded().await;
    let counted = |text: &str, name: &str| -> u64 {
        text.lines()
            .find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')))
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
            .unwrap()
    };
    let before = moat.metrics_text().await;
    // Two tenants' groups (default chain for both), DKIM/SPF/DMARC checked, logged: one parse.
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com", "dan@beta.test"], SPAM).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let after = moat.metrics_text().await;
    let added = |name: &str| counted(&after, name) - counted(&before, name);
    assert_eq!(added("moat_message_parses_total"), 1);
    assert_eq!(added("moat_filter_runs_total"), 2 + 2, "two recipients, two groups");
    let log = moat.admin(&["log", "tail", "-n", "2"]);
    assert!(log.contains("FREE stuff inside"), "the log's subject came from that parse: {log}");
}

/// Autolearn: the classifier is taught the mail the rest of the chain is sure of, as the gateway judges it —
/// spam when the other layers' scores reach `[autolearn] spam` without it, ham when the whole chain's score
/// is at most `[autolearn] ham` — after the reply, never the mail in between; `moat scan` teaches only with
/// `--learn`. (Before, a classifier learned only from admins: mail changing over the months left it behind.)
#[tokio::test(flavor = "multi_thread")]
async fn the_classifier_learns_from_mail_the_other_layers_are_sure_of() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    set_chain(
        &moat,
        "autolearn = { spam = 5.0, ham = 0.0 }\n\
         [[entry]]\nplugin = \"rules\"\nwarm = true\n\
         [[entry.config.rule]]\nname = \"SURE\"\nscore = 6.0\nwhen = { field = \"subject\", contains = \"sure\" }\n\
         [[entry.config.rule]]\nname = \"UNSURE\"\nscore = 2.0\nwhen = { field = \"subject\", contains = \"maybe\" }\n\
         [[entry]]\nplugin = \"bayes\"\nkv = true\nautolearn = true\n",
    );
    reloaded().await;
    let message =
        |subject: &str| format!("From: a@sender.test\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\r\nHello.\r\n");
    let probe = moat.write_file("probe.eml", message("probe").as_bytes());
    let counts = || {
        let scan = moat.admin(&["scan", "--json", &probe]);
        let row: serde_json::Value = serde_json::from_str(scan.lines().next().unwrap()).unwrap();
        row["details"].as_array().unwrap().iter().find(|d| d["plugin"] == "bayes").unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(counts().contains("learning: 0 spam and 0 ham so far"), "{}", counts());

    // Tagged by the rules alone (6): spam. Scored 2 by the rules, not sure either way: nothing. Scored 0: ham.
    for subject in ["sure thing", "maybe", "maybe again", "lunch"] {
        let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], &message(subject)).await.unwrap();
        assert!(reply.starts_with("250"), "{reply}");
    }
    eventually(20, "the lessons", || async { counts().contains("learning: 1 spam and 1 ham so far").then_some(()) })
        .await;
    let metrics = moat.metrics_text().await;
    assert!(metrics.lines().any(|l| l == "moat_autolearn_lessons_total 2"), "{metrics}");

    // `moat scan` judges without teaching, unless asked to teach as the gateway would.
    let sure = moat.write_file("sure.eml", message("sure again").as_bytes());
    moat.admin(&["scan", &sure]);
    assert!(counts().contains("learning: 1 spam and 1 ham so far"), "{}", counts());
    moat.admin(&["scan", "--learn", &sure]);
    assert!(counts().contains("learning: 2 spam and 1 ham so far"), "{}", counts());

    // The two ways to learn from verdicts exclude each other, and the thresholds must make sense.
    let refused = |toml: &str| String::from_utf8_lossy(&moat.set_chain(toml, &[]).stderr).into_owned();
    let both = refused("[[entry]]\nplugin = \"bayes\"\nautolearn = true\nlearn_verdicts = true\n");
    assert!(both.contains("entry 1 (bayes): learn_verdicts and autolearn are two ways to learn; choose one"), "{both}");
    let upside_down = refused("autolearn = { spam = 1.0, ham = 2.0 }\n[[entry]]\nplugin = \"bayes\"\n");
    assert!(upside_down.contains("autolearn thresholds must be finite, with ham (2) below spam (1)"), "{upside_down}");
}

/// Lessons come all day, and each brings words never seen before: a classifier's storage is bounded by
/// `[filters] storage_entries`, the words learned longest ago dropped first, the class totals kept.
#[tokio::test]
async fn what_lessons_grow_stays_within_its_bound() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite)
        .set("filters", "builtin", "true")
        .set("filters", "storage_entries", "150")
        .set("filters", "reload_interval", "\"100ms\"")
        .start()
        .await
        .unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    set_chain(
        &moat,
        "[[entry]]\nplugin = \"rules\"\nwarm = true\n\
         [[entry.config.rule]]\nname = \"SURE\"\nscore = 6.0\nwhen = { field = \"subject\", contains = \"sure\" }\n\
         [[entry]]\nplugin = \"bayes\"\nkv = true\nautolearn = true\n",
    );
    reloaded().await;
    // Each message: 40 words of its own (with their pairs, about 80 tokens), so four outgrow 150.
    for lesson in 0..4 {
        let words: Vec<String> = (0..40).map(|i| format!("word{}x{}", ["a", "b", "c", "d"][lesson], i)).collect();
        let message = format!(
            "From: a@sender.test\r\nTo: bob@example.com\r\nSubject: sure {lesson}\r\n\r\n{}\r\n",
            words.join(" ")
        );
        let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], &message).await.unwrap();
        assert!(reply.starts_with("250"), "{reply}");
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&moat.database_url).await.unwrap();
    let entries = || async {
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM plugin_kv WHERE namespace LIKE '%:bayes'")
            .fetch_all(&pool)
            .await
            .unwrap();
        keys
    };
    eventually(20, "the fourth lesson", || async { entries().await.iter().any(|k| k == "t:worddx39").then_some(()) })
        .await;
    eventually(20, "the bound", || async { moat.log().contains("plugin storage trimmed to its bound").then_some(()) })
        .await;
    let kept = entries().await;
    assert!(kept.len() <= 150, "{} entries", kept.len());
    assert!(kept.iter().any(|k| k == "t:worddx39"), "the newest lesson's words stay");
    assert!(!kept.iter().any(|k| k == "t:wordax0"), "the oldest lesson's words went");
    assert!(kept.iter().any(|k| k == "n:spam"), "the class totals stay");
    let probe = moat.write_file("probe.eml", b"From: a@sender.test\r\nSubject: probe\r\n\r\nHello.\r\n");
    let scan = moat.admin(&["scan", "--json", &probe]);
    assert!(scan.contains("learning: 4 spam and 0 ham so far"), "{scan}");
}
