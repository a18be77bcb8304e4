//! The built-in plugins' data-file cases (`plugins/*/cases/NAME.eml` + `NAME.toml`, format in each
//! `cases/README.md`), run through each plugin's real wasm32-wasip2 build — hits and misses alike.

use moat_filter::{
    AuthResult, Authentication, ConnectionFacts, DnsGrant, FilterEngine, KvGrant, KvStore, Label, Limits, MemoryKv,
    MessageFacts, ParsedMessage, RecipientFacts, Stage, StaticDns, kv_namespace, shared_kv_namespace,
};
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
    /// Entries in the plugin's storage before it runs (lists an admin made).
    #[serde(default)]
    kv: Vec<(String, String)>,
    /// Entries in the plugin's storage shared by all tenants (what the operator loaded).
    #[serde(default)]
    shared_kv: Vec<(String, String)>,
    /// "message" (default) or "rcpt" (the first recipient, bob@example.com).
    #[serde(default = "message_stage")]
    stage: String,
    #[serde(default = "default_client")]
    client_ip: String,
    #[serde(default = "default_sender")]
    sender: String,
    /// The expected action: continue, accept, reject, tempfail, quarantine, discard.
    action: Option<String>,
    #[serde(default)]
    helo: String,
    /// SPF, DKIM and DMARC as the host found them.
    #[serde(default)]
    authentication: AuthenticationCase,
    /// DNS answers the plugin may look up (`NAME KIND VALUE`); granted for every zone.
    #[serde(default)]
    dns: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthenticationCase {
    spf: Option<String>,
    dkim: Option<String>,
    dmarc: Option<String>,
    dmarc_policy: Option<String>,
}

impl AuthenticationCase {
    fn facts(&self) -> Authentication {
        let result = |word: &Option<String>| match word.as_deref().unwrap_or("none") {
            "none" => AuthResult::None,
            "pass" => AuthResult::Pass,
            "fail" => AuthResult::Fail,
            "softfail" => AuthResult::Softfail,
            "neutral" => AuthResult::Neutral,
            "temperror" => AuthResult::Temperror,
            "permerror" => AuthResult::Permerror,
            other => panic!("unknown authentication result {other}"),
        };
        Authentication {
            spf: result(&self.spf),
            dkim: result(&self.dkim),
            dmarc: result(&self.dmarc),
            dmarc_policy: self.dmarc_policy.clone(),
        }
    }
}

fn message_stage() -> String {
    "message".into()
}

fn default_client() -> String {
    "192.0.2.1".into()
}

fn default_sender() -> String {
    "sender@sender.test".into()
}

fn empty_config() -> String {
    "{}".into()
}

fn bob() -> RecipientFacts {
    RecipientFacts {
        address: "bob@example.com".into(),
        tenant: "default".into(),
        domain: "example.com".into(),
        mailbox: "bob@example.com".into(),
    }
}

fn parse(raw: Vec<u8>, case: &Case) -> Arc<ParsedMessage> {
    let connection =
        ConnectionFacts { client_ip: case.client_ip.clone(), helo: case.helo.clone(), ..Default::default() };
    let facts = MessageFacts {
        sender: case.sender.clone(),
        recipients: vec![bob()],
        connection,
        authentication: case.authentication.facts(),
    };
    ParsedMessage::parse(raw, facts)
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
            for (key, value) in &case.kv {
                kv.set(&kv_namespace("t", &name), key, value.as_bytes().to_vec(), None).unwrap();
            }
            for (key, value) in &case.shared_kv {
                kv.set(&shared_kv_namespace(&name), key, value.as_bytes().to_vec(), None).unwrap();
            }
            let mut setup = plugin.setup(&case.config);
            setup.capabilities.kv = Some(KvGrant::new(kv, "t", &name));
            if !case.dns.is_empty() {
                let resolver = StaticDns::parse(&case.dns.join("\n")).unwrap_or_else(|e| panic!("{what}: {e}"));
                setup.capabilities.dns =
                    Some(DnsGrant { resolver: Arc::new(resolver), zones: vec![".".into()].into() });
            }
            assert_eq!(plugin.configure(&case.config).result.unwrap(), Ok(()), "{what}: config refused");
            for (label, file) in &case.learn {
                let label = if label == "spam" { Label::Spam } else { Label::Ham };
                let raw = std::fs::read(dir.join("cases").join(file)).unwrap();
                plugin.learn(&parse(raw, &case), label, &setup).result.unwrap();
            }
            let raw = std::fs::read(case_file.with_extension("eml")).unwrap();
            let message = parse(raw, &case);
            let conn = message.facts().connection.clone();
            let stage = match case.stage.as_str() {
                "message" => Stage::Message(&message),
                "connect" => Stage::Connect(&conn),
                "mail" => Stage::MailFrom(&conn, &case.sender),
                "rcpt" => Stage::Rcpt(&conn, &case.sender, &message.facts().recipients[0]),
                other => panic!("{what}: unknown stage {other}"),
            };
            let verdict = plugin.run(&stage, &setup).result.unwrap_or_else(|f| panic!("{what}: {f}"));
            if let Some(action) = &case.action {
                let got = verdict.action.to_string();
                assert!(got.starts_with(action.as_str()), "{what}: action {got}, expected {action}");
            }
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
    assert!(ran >= 10, "only {ran} cases found");
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
