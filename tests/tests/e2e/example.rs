//! The example filter (`examples/lookalike-invoices`) as its README walks an admin through it: built for
//! wasm32-wasip2, tried with `moat plugin test`, uploaded, enabled in shadow, then live — over real SMTP.

use moat_tests::{Backend, Moat, Sink, eventually, send};
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/lookalike-invoices")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lookalike_invoice_example_from_build_to_live() {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests");
    let bytes = moat_filter::test_guests::workspace_component("lookalike-invoices", &target);
    let wasm = target.join("lookalike-invoices.wasm");
    std::fs::write(&wasm, &bytes).unwrap();
    let data = example_dir().join("tests/data");

    // 1. Try it on sample messages.
    let out = std::process::Command::new(BIN)
        .args(["plugin", "test"])
        .arg(&wasm)
        .arg(data.join("lookalike-invoice.eml"))
        .arg(data.join("partner-invoice.eml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("lookalike-invoices: Invoices and payment requests from a domain that imitates"),
        "{stdout}"
    );
    assert!(stdout.contains("lookalike-invoice.eml: continue  score 8.00"), "{stdout}");
    assert!(stdout.contains("LOOKALIKE_INVOICE"), "{stdout}");
    assert!(stdout.contains("partner-invoice.eml: continue  score 0.00"), "{stdout}");

    // 2. Upload it and enable it in shadow.
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).start().await.unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    assert!(
        moat.admin(&["plugin", "add", wasm.to_str().unwrap(), "--name", "lookalike-invoices", "--version", "1.0.0"])
            .contains("Registered lookalike-invoices 1.0.0")
    );
    let shadow = "thresholds = { tag = 5.0, quarantine = 8.0, reject = 20.0 }\n\n\
                  [[entry]]\nplugin = \"lookalike-invoices\"\nshadow = true\n";
    assert!(moat.set_chain(shadow, &[]).status.success());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let invoice = std::fs::read_to_string(data.join("lookalike-invoice.eml")).unwrap();
    assert!(send(moat.smtp(), "billing@examp1e.com", &["bob@example.com"], &invoice).await.unwrap().starts_with("250"));
    eventually(20, "shadow: delivered", || async { sink.received().pop() }).await;
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("lookalike-invoices (message) shadow: LOOKALIKE_INVOICE 8.0"), "{log}");

    // 3. Live: the same message is now held.
    let live = shadow.replace("shadow = true\n", "");
    assert!(moat.set_chain(&live, &[]).status.success());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(send(moat.smtp(), "billing@examp1e.com", &["bob@example.com"], &invoice).await.unwrap().starts_with("250"));
    let held = moat.admin(&["quarantine", "list"]);
    assert!(held.contains("LOOKALIKE_INVOICE") && held.contains("Invoice INV-20931 overdue"), "{held}");
    assert_eq!(sink.received().len(), 1);
}
