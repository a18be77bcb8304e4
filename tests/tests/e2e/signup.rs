//! Sign-up by SMTP end to end: a domain whose server validates recipients is checked before the mode is
//! turned on, then gains a mailbox on the first message for an address its server accepts; an address it
//! refuses is refused, a server that cannot be asked and an exhausted license pool defer; the console turns
//! it on through the running gateway — on both backends.

use moat_tests::{Backend, Client, Moat, Sink, SinkBehaviour, eventually, send};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(users_sign_up_on_their_first_message_when_their_server_knows_them);

async fn rcpt(moat: &Moat, to: &str) -> String {
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    c.cmd("MAIL FROM:<someone@sender.test>\r\n").await.unwrap();
    c.cmd(&format!("RCPT TO:<{to}>\r\n")).await.unwrap()
}

async fn users_sign_up_on_their_first_message_when_their_server_knows_them(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = Moat::builder(BIN, backend).start().await else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
        return;
    };
    moat.protect("acme.test", &[format!("127.0.0.1:{}:10", sink.addr.port())], &[]);
    assert!(rcpt(&moat, "ann@acme.test").await.starts_with("550 5.1.1"), "manual: nobody exists yet");

    // The check: an existing address is needed, and a server that accepts any address is refused.
    let refused = moat.cli(&["domain", "signup", "acme.test", "smtp"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("give an existing address"), "{refused:?}");
    let refused = moat.cli(&["domain", "signup", "acme.test", "smtp", "--check", "ann@acme.test"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("must refuse unknown recipients") && said.contains("Recipient Validation"), "{said}");
    assert!(!moat.admin(&["domain", "list"]).contains("sign-up by SMTP"), "not turned on");

    sink.set(SinkBehaviour { only: Some(vec!["ann@acme.test".into(), "bob@acme.test".into()]), ..Default::default() });
    let on = moat.admin(&["domain", "signup", "acme.test", "smtp", "--check", "ann@acme.test"]);
    assert!(on.contains("passed the check"), "{on}");
    assert!(moat.admin(&["domain", "list"]).contains("0 mailboxes\tsign-up by SMTP"));

    // The first message for ann signs her up and is delivered.
    let message = "From: someone@sender.test\r\nTo: ann@acme.test\r\nSubject: hello ann\r\n\r\nHi\r\n";
    assert!(send(moat.smtp(), "someone@sender.test", &["ann@acme.test"], message).await.unwrap().starts_with("250"));
    eventually(20, "delivery to ann", || async {
        sink.received().into_iter().find(|m| m.to == ["ann@acme.test"] && m.text().contains("hello ann"))
    })
    .await;
    assert!(moat.admin(&["mailbox", "list"]).contains("ann@acme.test"));

    // An address the server refuses is refused, and stays refused.
    for _ in 0..2 {
        assert!(rcpt(&moat, "ghost@acme.test").await.starts_with("550 5.1.1"));
    }
    assert!(!moat.admin(&["mailbox", "list"]).contains("ghost@"));

    // No license left for bob: deferred (the sender retries while an admin adds licenses).
    moat.admin(&["tenant", "licenses", "default", "1"]);
    assert!(rcpt(&moat, "bob@acme.test").await.starts_with("451 4.7.1"));
    moat.admin(&["tenant", "licenses", "default", "unlimited"]);
    assert!(rcpt(&moat, "bob@acme.test").await.starts_with("250"));
    assert!(moat.admin(&["mailbox", "list"]).contains("bob@acme.test"));

    // The server down: new addresses are deferred; known ones are still accepted (and queued).
    sink.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(rcpt(&moat, "carol@acme.test").await.starts_with("451 4.4.3"));
    assert!(rcpt(&moat, "ann@acme.test").await.starts_with("250"));

    // Back to manual: no more callouts.
    moat.admin(&["domain", "signup", "acme.test", "manual"]);
    let sink = Sink::start_on(sink.addr).await;
    sink.set(SinkBehaviour { only: Some(vec!["carol@acme.test".into()]), ..Default::default() });
    assert!(rcpt(&moat, "carol@acme.test").await.starts_with("550 5.1.1"));

    // The console turns it on through the running gateway's callout, with the same check.
    let root = moat.api_token("root", &[]);
    let on = serde_json::json!({"mode": "smtp", "check": "carol@acme.test"});
    let (status, domain) = moat.console_send("PUT", "/api/v1/domains/acme.test/signup", &root, Some(on)).await;
    assert_eq!((status, domain["signup"].as_str()), (200, Some("smtp")), "{domain}");
    assert!(rcpt(&moat, "carol@acme.test").await.starts_with("250"));
}
