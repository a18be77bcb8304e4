//! Quarantine digests end to end: a message the filters hold for a user is listed in the digest mail Moat
//! sends that user through itself, delivered to the company's server.

use moat_tests::{Backend, Moat, Sink, eventually, send};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

#[tokio::test(flavor = "multi_thread")]
async fn a_held_message_is_listed_in_the_users_digest() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite)
        .set("filters", "builtin", "true")
        .set("quarantine", "digest_every", "\"2s\"")
        .start()
        .await
        .unwrap();
    moat.protect("acme.test", &[format!("127.0.0.1:{}:10", sink.addr.port())], &["ann"]);
    let rules = "[[entry]]\nplugin = \"rules\"\n[[entry.config.rule]]\nname = \"HOLD\"\naction = \"quarantine\"\n\
                 when = { field = \"subject\", contains = \"hold me\" }\n";
    let saved = moat.set_chain(rules, &[]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let message = "From: deals@offers.test\r\nTo: ann@acme.test\r\nSubject: please hold me\r\n\r\nBuy\r\n";
    assert!(send(moat.smtp(), "deals@offers.test", &["ann@acme.test"], message).await.unwrap().starts_with("250"));
    // Generous: under the whole suite's load the built-in chain may take a while to compile and go live.
    let digest = eventually(90, "the digest", || async {
        sink.received().into_iter().find(|m| m.to == ["ann@acme.test"] && m.text().contains("held in quarantine"))
    })
    .await;
    let text = digest.text();
    assert!(text.contains("Subject: Moat: 1 message(s) held in quarantine"), "{text}");
    assert!(text.contains("deals@offers.test") && text.contains("please hold me"), "{text}");
    assert!(text.contains("/quarantine"), "{text}");
    assert_eq!(digest.from, "", "sent with the null sender");
    assert!(!sink.received().iter().any(|m| m.text().contains("Buy")), "the held message itself stays held");
}
