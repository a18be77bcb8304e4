//! `moat plugin test`, as a plugin author runs it on a component built with the SDK.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

fn tagger() -> PathBuf {
    guest("tagger")
}

/// The path of test guest `name` (`host/filter/tests/guests`), built for wasm32-wasip2.
fn guest(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bytes = moat_filter::test_guests::component(name, &dir.join("guests"));
    let path = dir.join(format!("{name}-under-test.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

#[test]
fn prints_verdict_symbols_and_cost_per_message() {
    let out = Command::new(BIN)
        .args(["plugin", "test"])
        .arg(tagger())
        .arg(data("spam.eml"))
        .arg(data("ham.eml"))
        .args(["--config", r#"{"score": 2.5}"#])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let spam = stdout.lines().position(|l| l.contains("spam.eml: continue  score 7.50  fuel ")).expect(&stdout);
    assert!(stdout.lines().nth(spam + 1).unwrap().contains("SUBJECT_FREE"), "{stdout}");
    assert!(stdout.contains("BODY_REPEATS_DRUG"), "{stdout}");
    assert!(stdout.contains("+ X-Tagger: 2 recipients"), "recipients come from To: {stdout}");
    assert!(stdout.contains("ham.eml: continue  score 0.00"), "{stdout}");
}

/// The fuel `moat plugin test` printed for each message, in order.
fn fuel_per_message(stdout: &str) -> Vec<u64> {
    stdout.lines().filter_map(|l| l.split("  fuel ").nth(1)?.split(' ').next()?.parse().ok()).collect()
}

#[test]
fn warm_keeps_the_instance_so_later_messages_show_the_steady_cost() {
    // The rules layer builds its phrases' automaton at its first message.
    let rules = moat_filter::test_guests::workspace_component(
        "moat-plugin-rules",
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests"),
    );
    let plugin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rules-under-test.wasm");
    std::fs::write(&plugin, rules).unwrap();
    let run = |warm: bool| {
        let mut command = Command::new(BIN);
        command.args(["plugin", "test"]).arg(&plugin).arg(data("spam.eml")).arg(data("spam.eml"));
        if warm {
            command.arg("--warm");
        }
        let out = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        fuel_per_message(&stdout)
    };
    let fresh = run(false);
    assert_eq!(fresh.len(), 2);
    assert_eq!(fresh[0], fresh[1], "a fresh instance per message costs the same each time");
    let warm = run(true);
    assert_eq!(warm[0], fresh[0], "the first message builds what the plugin keeps");
    assert!(warm[1] * 2 < warm[0], "the second message finds it built: {warm:?}");
}

#[test]
fn a_refused_configuration_and_a_non_component_are_clear_errors() {
    let out = Command::new(BIN)
        .args(["plugin", "test"])
        .arg(tagger())
        .arg(data("ham.eml"))
        .args(["--config", "[1]"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused its configuration: expected {\"score\": N}, got [1]"), "{stderr}");

    let out = Command::new(BIN).args(["plugin", "test"]).arg(data("ham.eml")).arg(data("ham.eml")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a WebAssembly component"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_validates_uploads_and_keeps_versions() {
    use moat_tests::{Backend, Moat};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(moat) = Moat::builder(BIN, backend).start().await else {
            assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier");
            continue;
        };
        let wasm = tagger();
        let wasm = wasm.to_str().unwrap();
        assert!(
            moat.admin(&["plugin", "add", wasm, "--name", "tagger", "--version", "1.0.0"])
                .contains("Registered tagger 1.0.0")
        );
        moat.admin(&["plugin", "add", wasm, "--name", "tagger", "--version", "1.1.0"]);
        // A plugin built against the frozen WIT 0.1.0 is registered as such, and still accepted.
        let legacy = guest("legacy");
        moat.admin(&["plugin", "add", legacy.to_str().unwrap(), "--name", "legacy", "--version", "1.0.0"]);
        let list = moat.admin(&["plugin", "list"]);
        assert!(
            list.contains("tagger\t1.0.0\t") && list.contains("tagger\t1.1.0\t") && list.contains("WIT 0.2.0"),
            "{list}"
        );
        assert!(list.lines().any(|l| l.starts_with("legacy\t1.0.0\t") && l.contains("WIT 0.1.0")), "{list}");

        let dup = moat.cli(&["plugin", "add", wasm, "--name", "tagger", "--version", "1.1.0"]);
        assert_eq!(dup.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&dup.stderr).contains("plugin tagger version 1.1.0 already exists"));
        let junk = moat.cli(&["plugin", "add", data("ham.eml").to_str().unwrap(), "--name", "junk"]);
        assert_eq!(junk.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&junk.stderr).contains("junk: not a WebAssembly component"));
        assert!(!moat.admin(&["plugin", "list"]).contains("junk"), "nothing half-written");

        assert!(moat.admin(&["plugin", "remove", "tagger", "--version", "1.0.0"]).contains("Removed 1 version(s)"));
        assert!(moat.admin(&["plugin", "remove", "tagger"]).contains("Removed 1 version(s)"));
        assert!(moat.admin(&["plugin", "remove", "legacy"]).contains("Removed 1 version(s)"));
        assert!(moat.admin(&["plugin", "list"]).contains("No plugins registered"));
    }
}

/// The project `moat plugin new` writes builds for wasm, passes its own unit test, and runs under
/// `moat plugin test` — what an author does in their first five minutes.
#[test]
fn a_new_plugin_project_builds_tests_and_runs() {
    let parent = tempfile::tempdir().unwrap();
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let out = Command::new(BIN)
        .args(["plugin", "new", "urgent-words", "--dir"])
        .arg(parent.path())
        .arg("--sdk-path")
        .arg(&sdk)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let project = parent.path().join("urgent-words");
    let again = Command::new(BIN).args(["plugin", "new", "urgent-words", "--dir"]).arg(parent.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // The repository's lock file keeps the dependencies at versions this toolchain builds (and needs no
    // registry); the guests' target dir is shared, so the SDK and wit-bindgen compile once per test run.
    std::fs::copy(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests");
    let cargo = |args: &[&str]| {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    cargo(&["test", "--quiet"]);
    cargo(&["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
    let wasm = target.join("wasm32-wasip2/release/urgent_words.wasm");
    let out = Command::new(BIN)
        .args(["plugin", "test"])
        .arg(&wasm)
        .arg(project.join("tests/data/sample.eml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sample.eml: continue  score 2.00") && stdout.contains("URGENT_SUBJECT"), "{stdout}");
    assert!(stdout.contains("urgent_words: urgent-words: scores messages whose subject"), "its description: {stdout}");
}
