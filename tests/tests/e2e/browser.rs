//! The console in a real browser: Debian's headless Chromium driven by playwright-core against a Moat this
//! test starts — `tests/browser/console.mjs` (an admin's day), then `tests/browser/pages.mjs` (every page at
//! 1280 and 375 px, and the flows added since). Screenshots are kept in `target/browser-artifacts/`.

use moat_tests::{Backend, Moat, Sink};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

/// Why the browser tier cannot run here, if it cannot (CI installs both).
fn missing() -> Option<&'static str> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !Path::new("/usr/bin/chromium").exists() {
        Some("Debian's chromium is not installed (apt-get install chromium)")
    } else if !dir.join("node_modules/playwright-core").exists() {
        Some("playwright-core is not installed (npm ci in tests/browser)")
    } else {
        None
    }
}

#[tokio::test]
async fn an_admin_runs_the_console_in_chromium() {
    if let Some(why) = missing() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the browser tier: {why}");
        eprintln!("skipped: {why}");
        return;
    }
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    moat.protect("acme.test", &[format!("127.0.0.1:{}:10", sink.addr.port())], &["bob"]);
    let added = moat.cli_with_input(&["admin", "add", "root", "--password-stdin"], "Root_pass.2026\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    // A delivered message for the email log.
    let report = "From: cfo@partner.test\r\nTo: bob@acme.test\r\nSubject: Quarterly report\r\n\r\nAttached.\r\n";
    moat_tests::send(moat.smtp(), "cfo@partner.test", &["bob@acme.test"], report).await.unwrap();
    moat_tests::eventually(20, "delivery", || async { sink.received().pop() }).await;
    let import = moat.write_file(
        "team.csv",
        b"Full name, Email\nZed Park, zed\nYan Li, yan, Yan_pass.2026, yanli\nBad, bad address\n",
    );
    let plugin = moat.write_file(
        "tagger.wasm",
        &moat_filter::test_guests::component("tagger", &Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests")),
    );
    // A 1×1 PNG.
    let png = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1,
        8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0, 1, 0, 0, 5,
        0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let logo = moat.write_file("logo.png", &png);
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    // Async, so the sink on this test's runtime keeps answering while the browser works.
    let node = |script: &'static str| {
        let mut command = tokio::process::Command::new("node");
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("browser").join(script))
            .env("MOAT_URL", format!("http://{}", moat.console.unwrap()))
            .env("MOAT_ADMIN", "root")
            .env("MOAT_PASSWORD", "Root_pass.2026")
            .env("MOAT_USER", "bob@acme.test")
            .env("MOAT_USER_PASSWORD", "Bob_pass.2026")
            .env("MOAT_DOWNSTREAM", format!("127.0.0.1:{}:10", sink.addr.port()))
            .env("MOAT_IMPORT_FILE", &import)
            .env("MOAT_ARTIFACTS", &artifacts)
            .env("MOAT_PLUGIN_FILE", &plugin)
            .env("MOAT_LOGO_FILE", &logo);
        async move {
            let output = command.output().await.expect("run node");
            assert!(
                output.status.success(),
                "the browser scenario {script} failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    };
    node("console.mjs").await;
    // What the browser did is in the directory.
    let users = moat.admin(&["mailbox", "list"]);
    for address in ["ann@shop.test", "zed@shop.test", "yan@shop.test"] {
        assert!(users.contains(address), "{address} in {users}");
    }
    assert!(moat.admin(&["admin", "list"]).contains("shopadmin\tdomain admin of tenant default: shop.test"));
    let chain = moat.admin(&["chain", "show"]);
    assert!(chain.contains("plugin = \"tagger\"") && chain.contains("tag = 4.0"), "{chain}");
    assert!(chain.contains("[autolearn]\nspam = 6.0\nham = -3.0"), "learning's thresholds from the page: {chain}");
    assert!(chain.contains("autolearn = true"), "the classifier still learns from confident verdicts: {chain}");
    assert!(moat.admin(&["list", "show"]).contains("deny\t@acme.test|ip|127.0.0.1/32"), "denied from the log");
    for page in ["status", "domain", "users", "import", "filtering", "branding", "log", "refused"] {
        assert!(artifacts.join(format!("{page}.png")).exists(), "screenshot of {page}");
    }

    // Four messages held by a rule, for bob; the layout scenario releases three of them.
    let holding = "[[entry]]\nplugin = \"rules\"\n[[entry.config.rule]]\nname = \"HOLD\"\naction = \"quarantine\"\n\
                   when = { field = \"subject\", contains = \"hold\" }\n";
    let saved = moat.set_chain(holding, &[]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let delivered_before = sink.received().len();
    for (i, subject) in ["hold me 1", "hold me 2", "hold me 3", "please hold this invoice"].into_iter().enumerate() {
        let from = format!("sender{i}@partner.test");
        let message = format!("From: {from}\r\nTo: bob@acme.test\r\nSubject: {subject}\r\n\r\nHello\r\n");
        moat_tests::send(moat.smtp(), &from, &["bob@acme.test"], &message).await.unwrap();
    }
    moat_tests::eventually(20, "four messages held", || async {
        let held = moat.admin(&["quarantine", "list"]);
        (held.lines().filter(|l| l.contains("hold")).count() == 4).then_some(())
    })
    .await;
    node("pages.mjs").await;
    moat_tests::eventually(20, "the three released messages delivered", || async {
        (sink.received().len() == delivered_before + 3).then_some(())
    })
    .await;
    let lists = moat.admin(&["list", "show"]);
    assert!(lists.lines().filter(|l| l.starts_with("allow\t@acme.test|sender|sender")).count() == 1, "{lists}");
    let chain = moat.admin(&["chain", "show"]);
    assert!(chain.contains("plugin = \"tagger\""), "the restored chain is live: {chain}");
    for page in ["status", "domains", "quarantine", "filtering", "log-entry", "user-quarantine", "login"] {
        for width in [1280, 375] {
            assert!(artifacts.join(format!("{page}-{width}.png")).exists(), "screenshot of {page} at {width} px");
        }
    }
}
