//! The console as `moat serve` runs it: an account made with `moat admin add`, a token with
//! `moat token create`, the REST API over real HTTP on the console port.

use moat_tests::{Backend, Moat};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(
    accounts_and_tokens_open_the_rest_api,
    the_console_drives_the_running_gateway,
    the_email_log_opens_classifies_and_lists_delivered_mail,
);

async fn accounts_and_tokens_open_the_rest_api(backend: Backend) {
    let Some(moat) = Moat::builder(BIN, backend).start().await else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
        return;
    };
    moat.admin(&["tenant", "add", "acme"]);
    moat.admin(&["domain", "add", "acme.test", "--downstream", "mx.acme.test", "--tenant", "acme"]);
    moat.admin(&["domain", "add", "example.com", "--downstream", "mx.example.com"]);
    // The CLI and the console refuse the same names and pools: the directory decides for both.
    let refused = moat.cli(&["tenant", "add", "no spaces"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("tenant names hold 1 to 64 letters"), "{refused:?}");
    let refused = moat.cli(&["tenant", "licenses", "acme", "--", "-3"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("a license pool is a number of 0 or more"),
        "{refused:?}"
    );

    let weak = moat.cli_with_input(&["admin", "add", "root", "--password-stdin"], "short\n");
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("passwords are 8 to 64 characters long"));
    let added = moat.cli_with_input(&["admin", "add", "root", "--password-stdin"], "Root_pass.2026\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let added =
        moat.cli_with_input(&["admin", "add", "ops", "--password-stdin", "--tenant", "acme"], "Ops_pass.2026\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(moat.admin(&["admin", "list"]), "ops\ttenant acme\nroot\tplatform\n");

    let root = moat.admin(&["token", "create", "root"]).trim().to_owned();
    let ops = moat.admin(&["token", "create", "ops", "--label", "automation"]).trim().to_owned();
    assert!(root.starts_with("moat_") && root != ops);

    let (status, _) = moat.console_get("/api/v1/domains", None).await;
    assert_eq!(status, 401);
    let (status, body) = moat.console_get("/api/v1/domains", Some(&root)).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"acme.test\"") && body.contains("\"example.com\""), "{body}");
    let (_, body) = moat.console_get("/api/v1/domains", Some(&ops)).await;
    assert!(body.contains("\"acme.test\"") && !body.contains("example.com"), "{body}");
    let (status, _) = moat.console_get("/api/v1/domains/example.com", Some(&ops)).await;
    assert_eq!(status, 404);
    // Licensing: a pool of one for acme, used by its first mailbox.
    assert!(moat.admin(&["tenant", "licenses", "acme", "1"]).contains("Tenant acme: 0 license(s) in use of 1."));
    moat.admin(&["mailbox", "add", "ann@acme.test"]);
    let refused = moat.cli(&["mailbox", "add", "bob@acme.test"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("tenant acme has no license left (1 of 1 in use"));
    assert!(moat.admin(&["tenant", "list"]).contains("acme\tlicenses 1/1"));
    let (_, body) = moat.console_get("/api/v1/status", Some(&ops)).await;
    assert!(body.contains("\"licenses\":{\"pool\":1,\"used\":1,\"available\":0}"), "{body}");
    let (status, body) = moat.console_get("/api/openapi.json", None).await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        status == 200 && doc["servers"][0]["url"] == "/api/v1" && doc["paths"]["/domains"].is_object(),
        "{status} {body}"
    );
}

/// A Moat with the built-in filters and tenant acme; `None` where the backend is not available (never on CI).
async fn with_builtins_and_acme(backend: Backend) -> Option<Moat> {
    let Some(moat) = Moat::builder(BIN, backend).set("filters", "builtin", "true").start().await else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
        return None;
    };
    moat.admin(&["tenant", "add", "acme"]);
    Some(moat)
}

/// What the console asks of the gateway, over real HTTP, SMTP and DNS: notifications queued as mail (a full
/// license pool, an import's result), Get SMTP from MX records, Test SMTP against the downstream host, and
/// releasing quarantined mail.
async fn the_console_drives_the_running_gateway(backend: Backend) {
    let sink = moat_tests::Sink::start().await;
    let Some(moat) = with_builtins_and_acme(backend).await else { return };
    let downstream = format!("127.0.0.1:{}:10", sink.addr.port());
    moat.admin(&[
        "domain",
        "add",
        "acme.test",
        "--downstream",
        &downstream,
        "--tenant",
        "acme",
        "--contact",
        "it@acme.test",
    ]);
    moat.admin(&["mailbox", "add", "it@acme.test"]);
    moat.admin(&["mailbox", "add", "admin@acme.test"]);
    let ops = moat.api_token("ops", &["--tenant", "acme", "--email", "admin@acme.test"]);
    let mail_to = |address: &'static str, subject: &'static str| {
        let sink = &sink;
        async move {
            moat_tests::eventually(20, subject, || async {
                sink.received().into_iter().find(|m| m.to.iter().any(|t| t == address) && m.text().contains(subject))
            })
            .await
        }
    };

    // A full pool refuses the user and tells the domain's contact, by mail through Moat itself.
    moat.admin(&["tenant", "licenses", "acme", "2"]);
    let (status, body) =
        moat.console_send("POST", "/api/v1/users", &ops, Some(serde_json::json!({"address": "bob@acme.test"}))).await;
    assert_eq!(status, 409, "{body}");
    let notice = mail_to("it@acme.test", "no licenses left").await;
    assert!(notice.text().contains("A user could not be created in acme.test"), "{}", notice.text());
    assert!(notice.text().contains("Auto-Submitted: auto-generated"));
    assert_eq!(notice.from, "", "notifications are sent with the null sender");

    // An import runs in the background and mails its result (with generated passwords) to the admin.
    moat.admin(&["tenant", "licenses", "acme", "4"]);
    let file = serde_json::json!({"file_name": "team.csv", "content": "Zed, zed\nYan, yan, Secret.123\nX, bad address\n", "domain": "acme.test"});
    let (status, body) = moat.console_send("POST", "/api/v1/imports", &ops, Some(file)).await;
    assert_eq!(status, 202, "{body}");
    let progress = body["progress"].as_str().unwrap().to_owned();
    let job = moat_tests::eventually(20, "the import finishes", || async {
        let (_, job) = moat.console_send("GET", &progress, &ops, None).await;
        (job["status"] == "finished").then_some(job)
    })
    .await;
    assert_eq!((job["imported"].as_i64(), job["errors"][0]["line"].as_i64()), (Some(2), Some(3)), "{job}");
    let report = mail_to("admin@acme.test", "import of team.csv finished").await;
    let text = report.text();
    assert!(text.contains("2 imported") && text.contains("line 3:") && text.contains("zed@acme.test  "), "{text}");

    // Get SMTP: the downstream hosts a new domain's MX records name, best first.
    moat.dns.add("newco.test MX 20 mx2.newco.test\nnewco.test MX 10 mx1.newco.test");
    let (status, hosts) = moat.console_send("GET", "/api/v1/mx/newco.test", &ops, None).await;
    assert_eq!(status, 200, "{hosts}");
    assert_eq!(
        hosts,
        serde_json::json!([{"host": "mx1.newco.test", "port": 25, "priority": 10}, {"host": "mx2.newco.test", "port": 25, "priority": 20}])
    );

    // Test SMTP: the sink answers; a closed port does not. A tenant admin learns only which (no banners,
    // no reasons: those would make it a port scanner).
    let (_, tests) = moat.console_send("POST", "/api/v1/domains/acme.test/test-smtp", &ops, None).await;
    assert_eq!(tests[0]["ok"], true, "{tests}");
    assert_eq!(tests[0]["answer"], "SMTP greeting received", "{tests}");
    let down = moat_tests::ClosedPort::new();
    let closed = down.addr.port();
    let body = serde_json::json!({"name": "down.test", "downstream": [format!("127.0.0.1:{closed}:10")]});
    assert_eq!(moat.console_send("POST", "/api/v1/domains", &ops, Some(body)).await.0, 201);
    let (_, tests) = moat.console_send("POST", "/api/v1/domains/down.test/test-smtp", &ops, None).await;
    assert_eq!(tests[0]["ok"], false, "{tests}");
    assert!(tests[0]["answer"].as_str().unwrap().starts_with("No SMTP greeting"), "{tests}");

    // Quarantine: a rule holds a message; the API lists it and releases it to the downstream host.
    let rules = "[[entry]]\nplugin = \"rules\"\n[[entry.config.rule]]\nname = \"HOLD\"\naction = \"quarantine\"\n\
                 when = { field = \"subject\", contains = \"hold me\" }\n";
    let saved = moat.set_chain(rules, &["--tenant", "acme"]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let message = "From: a@sender.test\r\nTo: zed@acme.test\r\nSubject: please hold me\r\n\r\nHello\r\n";
    moat_tests::send(moat.smtp(), "a@sender.test", &["zed@acme.test"], message).await.unwrap();
    let held = moat_tests::eventually(20, "the message is held", || async {
        let (_, held) = moat.console_send("GET", "/api/v1/quarantine", &ops, None).await;
        held.as_array().filter(|h| !h.is_empty()).cloned()
    })
    .await;
    assert_eq!(held[0]["recipients"], serde_json::json!(["zed@acme.test"]));
    let id = held[0]["id"].as_str().unwrap();
    let (status, _) = moat.console_send("POST", &format!("/api/v1/quarantine/{id}/release"), &ops, None).await;
    assert_eq!(status, 200);
    let released = mail_to("zed@acme.test", "please hold me").await;
    assert!(released.text().contains("Hello"));
    let (status, _) = moat.console_send("POST", &format!("/api/v1/quarantine/{id}/release"), &ops, None).await;
    assert_eq!(status, 404, "released once");

    // Released and its sender allowed for the domain, found first by a search of the quarantine.
    let message = "From: b@partner.test\r\nTo: zed@acme.test\r\nSubject: hold me too\r\n\r\nInvoice\r\n";
    moat_tests::send(moat.smtp(), "b@partner.test", &["zed@acme.test"], message).await.unwrap();
    let held = moat_tests::eventually(20, "the second message is held", || async {
        let (_, held) = moat.console_send("GET", "/api/v1/quarantine?q=PARTNER.test", &ops, None).await;
        held.as_array().filter(|h| h.len() == 1).cloned()
    })
    .await;
    let id = held[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/quarantine/{id}/release?allow_sender=true");
    let (status, released) = moat.console_send("POST", &path, &ops, None).await;
    assert_eq!((status, released["allowed_on"].as_str()), (200, Some("acme.test")), "{released}");
    assert!(mail_to("zed@acme.test", "hold me too").await.text().contains("Invoice"));
    let lists = moat.admin(&["list", "show", "--tenant", "acme"]);
    assert!(lists.contains("allow\t@acme.test|sender|b@partner.test"), "{lists}");
}

/// The email log with the running gateway: a delivered message stays readable (the spool's kept copy), an
/// admin classifies it and the tenant's classifier learns it, and denies its IP for the domain.
async fn the_email_log_opens_classifies_and_lists_delivered_mail(backend: Backend) {
    let sink = moat_tests::Sink::start().await;
    let Some(moat) = with_builtins_and_acme(backend).await else { return };
    let downstream = format!("127.0.0.1:{}:10", sink.addr.port());
    moat.admin(&["domain", "add", "acme.test", "--downstream", &downstream, "--tenant", "acme"]);
    moat.admin(&["mailbox", "add", "ann@acme.test"]);
    let ops = moat.api_token("ops", &["--tenant", "acme"]);

    let message = "From: deals@offers.test\r\nTo: ann@acme.test\r\nSubject: Cheap watches today\r\n\r\nBuy now\r\n";
    moat_tests::send(moat.smtp(), "deals@offers.test", &["ann@acme.test"], message).await.unwrap();
    moat_tests::eventually(20, "delivery", || async { sink.received().pop() }).await;
    let entry = moat_tests::eventually(20, "the log says delivered", || async {
        let (_, rows) = moat.console_send("GET", "/api/v1/log?q=cheap+WATCHES&verdict=clean", &ops, None).await;
        rows.as_array().and_then(|r| r.first()).filter(|e| e["delivery_status"] == "delivered").cloned()
    })
    .await;
    let id = entry["id"].as_i64().unwrap();
    let (_, opened) = moat.console_send("GET", &format!("/api/v1/log/{id}"), &ops, None).await;
    assert!(opened["headers"].as_str().unwrap().contains("Subject: Cheap watches today"), "{opened}");
    assert_eq!(opened["text"].as_str().unwrap().trim(), "Buy now", "{opened}");
    // Its journey: every layer of the chain with its findings, and the delivery attempt with the sink's reply.
    let layers = opened["journey"]["layers"].as_array().expect("the layers");
    let plugins: Vec<&str> = layers.iter().map(|l| l["plugin"].as_str().unwrap()).collect();
    for plugin in ["reputation", "authentication", "antivirus", "rules", "bayes"] {
        assert!(plugins.contains(&plugin), "{plugin} in {plugins:?}");
    }
    let attempts = opened["journey"]["attempts"].as_array().expect("the attempts");
    assert_eq!(attempts.len(), 1, "{opened}");
    assert_eq!(
        (attempts[0]["recipient"].as_str(), attempts[0]["status"].as_str()),
        (Some("ann@acme.test"), Some("delivered"))
    );
    assert!(attempts[0]["reply"].as_str().unwrap().starts_with("250"), "{}", attempts[0]);
    let (_, window) = moat.console_send("GET", "/api/v1/log?from=2000-01-01&to=2000-01-02", &ops, None).await;
    assert_eq!(window, serde_json::json!([]), "nothing was received in 2000");
    let (status, _) = moat.console_send("GET", "/api/v1/log?from=yesterday", &ops, None).await;
    assert_eq!(status, 400);

    // Classified as spam: the tenant's classifier has learned one spam message.
    let file = moat.write_file("watches.eml", message.as_bytes());
    let learned = |scan: String| scan.contains("learning: 1 spam and 0 ham so far");
    assert!(!learned(moat.admin(&["scan", "--json", "--tenant", "acme", &file])), "nothing learned yet");
    let spam = serde_json::json!({"classification": "spam"});
    let (status, classified) = moat.console_send("POST", &format!("/api/v1/log/{id}/classify"), &ops, Some(spam)).await;
    assert_eq!(status, 200, "{classified}");
    assert_eq!(classified["classified"], "spam");
    let scan = moat.admin(&["scan", "--json", "--tenant", "acme", &file]);
    assert!(learned(scan.clone()), "{scan}");
    let again = serde_json::json!({"classification": "spam"});
    let (status, _) = moat.console_send("POST", &format!("/api/v1/log/{id}/classify"), &ops, Some(again)).await;
    assert_eq!(status, 200);
    assert!(learned(moat.admin(&["scan", "--json", "--tenant", "acme", &file])), "a second click teaches nothing more");
    let (_, rows) = moat.console_send("GET", "/api/v1/log?q=watches", &ops, None).await;
    assert_eq!(rows[0]["classified"], "spam", "{rows}");
    // Then as valid after all: the message moves to ham, it is not counted in both.
    let valid = serde_json::json!({"classification": "valid"});
    let (status, _) = moat.console_send("POST", &format!("/api/v1/log/{id}/classify"), &ops, Some(valid)).await;
    assert_eq!(status, 200);
    let scan = moat.admin(&["scan", "--json", "--tenant", "acme", &file]);
    assert!(scan.contains("learning: 0 spam and 1 ham so far"), "{scan}");

    // The client's IP denied for the domain, from the log.
    let deny = serde_json::json!({"list": "deny", "party": "ip"});
    let (status, listed) = moat.console_send("POST", &format!("/api/v1/log/{id}/list"), &ops, Some(deny)).await;
    assert_eq!(status, 201, "{listed}");
    assert_eq!((listed["value"].as_str(), listed["domain"].as_str()), (Some("127.0.0.1"), Some("acme.test")));
    assert!(moat.admin(&["list", "show", "--tenant", "acme"]).contains("deny\t@acme.test|ip|127.0.0.1/32"));
}
