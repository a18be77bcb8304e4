//! Attacks on a running Moat, each through the surface an attacker has: an outside sender's SMTP session, a
//! tenant or domain admin's REST token, the operator's CLI. Each test names the attack it performs and the
//! defect it pins (see docs/SECURITY.md for the threat model and the limits).

use moat_tests::{Backend, Client, Moat, Sink, eventually, send};
use serde_json::json;
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(
    a_notification_address_cannot_smuggle_smtp_commands,
    a_domain_admin_sees_only_mail_for_their_own_domains,
    quarantine_release_reaches_only_the_callers_recipients,
    names_of_other_tenants_are_not_confirmed_or_shadowed,
);

fn guest(name: &str) -> Vec<u8> {
    moat_filter::test_guests::component(name, &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests"))
}

async fn start(backend: Backend) -> Option<Moat> {
    let moat = Moat::builder(BIN, backend).start().await;
    if moat.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
    }
    moat
}

fn sink_host(sink: &Sink) -> String {
    format!("{}:{}:10", sink.addr.ip(), sink.addr.port())
}

/// Attack: a tenant admin sets a notification address that ends the `RCPT TO:` command and pipelines a
/// forged message of its own into another tenant's server (`x@x.test>\r\nRSET\r\nMAIL FROM:…`). Before the
/// fix the address was stored as typed and written raw into SMTP. Now every way of setting it refuses it.
async fn a_notification_address_cannot_smuggle_smtp_commands(backend: Backend) {
    let Some(moat) = start(backend).await else { return };
    moat.admin(&["tenant", "add", "acme"]);
    moat.admin(&["domain", "add", "acme.test", "--downstream", "mx.acme.test", "--tenant", "acme"]);
    let token = moat.api_token("acme-admin", &["--tenant", "acme"]);
    let injected = "x@x.test>\r\nRSET\r\nMAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@other.test>\r\nDATA\r\n";
    let (status, body) = moat
        .console_send(
            "POST",
            "/api/v1/domain-admins",
            &token,
            Some(json!({"name": "helper", "password": "Helper_pass.26", "email": injected, "domains": ["acme.test"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("control character"), "{body}");
    // Nothing half-made: the account was not created without its address.
    let (status, _) = moat
        .console_send(
            "POST",
            "/api/v1/domain-admins",
            &token,
            Some(json!({"name": "helper", "password": "Helper_pass.26", "domains": ["acme.test"]})),
        )
        .await;
    assert_eq!(status, 201, "the name is still free");
    let cli = moat.cli_with_input(&["admin", "add", "ops", "--password-stdin", "--email", injected], "Ops_pass.2026\n");
    assert!(!cli.status.success());
    assert!(!moat.admin(&["admin", "list"]).contains("ops"), "the CLI made no account either");

    // The sender of a session: a MAIL FROM that is not an address is refused where it enters.
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    let reply = c.cmd("MAIL FROM:<a b@sender.test>\r\n").await.unwrap();
    assert!(reply.starts_with("501 5.1.7"), "{reply}");
}

/// Attack: the admin of acme.co reads acme.com's mail, because the log was filtered by a substring of the
/// recipients. Now it is filtered by the recipients' domain ids.
async fn a_domain_admin_sees_only_mail_for_their_own_domains(backend: Backend) {
    let Some(moat) = start(backend).await else { return };
    let sink = Sink::start().await;
    moat.admin(&["tenant", "add", "acme"]);
    for domain in ["acme.co", "acme.com"] {
        moat.admin(&["domain", "add", domain, "--downstream", &sink_host(&sink), "--tenant", "acme"]);
        moat.admin(&["mailbox", "add", &format!("bob@{domain}")]);
    }
    let tenant = moat.api_token("acme-admin", &["--tenant", "acme"]);
    let made = json!({"name": "co-admin", "password": "Co_admin.2026", "domains": ["acme.co"], "view_emails": true});
    assert_eq!(moat.console_send("POST", "/api/v1/domain-admins", &tenant, Some(made)).await.0, 201);
    let co_admin = moat.admin(&["token", "create", "co-admin"]).trim().to_owned();

    let to_com = "From: a@sender.test\r\nSubject: for acme.com only\r\n\r\nprivate\r\n";
    assert!(send(moat.smtp(), "a@sender.test", &["bob@acme.com"], to_com).await.unwrap().starts_with("250"));
    let to_co = "From: a@sender.test\r\nSubject: for acme.co\r\n\r\nhello\r\n";
    assert!(send(moat.smtp(), "a@sender.test", &["bob@acme.co"], to_co).await.unwrap().starts_with("250"));

    let (status, log) = moat.console_send("GET", "/api/v1/log", &co_admin, None).await;
    assert_eq!(status, 200, "{log}");
    let subjects: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["subject"].as_str()).collect();
    assert_eq!(subjects, ["for acme.co"], "acme.com's mail is not acme.co's");
    let (_, all) = moat.console_send("GET", "/api/v1/log", &tenant, None).await;
    let com = all.as_array().unwrap().iter().find(|e| e["subject"] == "for acme.com only").expect("tenant sees it");
    let id = com["id"].as_i64().unwrap();
    let (status, _) = moat.console_send("GET", &format!("/api/v1/log/{id}"), &co_admin, None).await;
    assert_eq!(status, 404, "nor can it be opened by id");
    let (status, _) = moat
        .console_send("POST", &format!("/api/v1/log/{id}/classify"), &co_admin, Some(json!({"classification": "spam"})))
        .await;
    assert_eq!(status, 404, "nor classified");
}

/// Attack: a user who may act for one recipient of a held message released it to every recipient. Now a
/// release (and a delete) covers only the caller's recipients; the others' copies stay held.
async fn quarantine_release_reaches_only_the_callers_recipients(backend: Backend) {
    let Some(moat) = start(backend).await else { return };
    let sink = Sink::start().await;
    moat.admin(&["tenant", "add", "acme"]);
    for domain in ["acme.test", "acme2.test"] {
        moat.admin(&["domain", "add", domain, "--downstream", &sink_host(&sink), "--tenant", "acme"]);
    }
    moat.admin(&["mailbox", "add", "bob@acme.test"]);
    moat.admin(&["mailbox", "add", "carol@acme2.test"]);
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    let chain = "thresholds = { tag = 5.0, quarantine = 10.0, reject = 100.0 }\n\
                 [[entry]]\nplugin = \"tagger\"\nconfig = { score = 20 }\n";
    let out = moat.set_chain(chain, &["--tenant", "acme"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let spam = "From: a@sender.test\r\nSubject: FREE offer\r\n\r\nread this\r\n";
    let reply = send(moat.smtp(), "a@sender.test", &["bob@acme.test", "carol@acme2.test"], spam).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");

    let tenant = moat.api_token("acme-admin", &["--tenant", "acme"]);
    let made = json!({"name": "bobs-admin", "password": "Bobs_admin.26", "domains": ["acme.test"]});
    assert_eq!(moat.console_send("POST", "/api/v1/domain-admins", &tenant, Some(made)).await.0, 201);
    let bobs_admin = moat.admin(&["token", "create", "bobs-admin"]).trim().to_owned();
    let (_, held) = moat.console_send("GET", "/api/v1/quarantine", &bobs_admin, None).await;
    let id = held[0]["id"].as_str().expect("held for bob").to_owned();
    let (status, body) =
        moat.console_send("POST", &format!("/api/v1/quarantine/{id}/release"), &bobs_admin, None).await;
    assert_eq!(status, 200, "{body}");
    let got = eventually(20, "bob's copy delivered", || async { sink.received().pop() }).await;
    assert_eq!(got.to, ["bob@acme.test"], "released to bob only, never to carol");
    let (_, left) = moat.console_send("GET", "/api/v1/quarantine", &tenant, None).await;
    let left = left.as_array().unwrap();
    assert_eq!(left.len(), 1, "still held for carol: {left:?}");
    assert_eq!(left[0]["recipients"], json!(["carol@acme2.test"]));
    let (status, _) = moat.console_send("POST", &format!("/api/v1/quarantine/{id}/release"), &bobs_admin, None).await;
    assert_eq!(status, 404, "bob's admin has nothing left to release");
    assert_eq!(moat.console_send("DELETE", &format!("/api/v1/quarantine/{id}"), &tenant, None).await.0, 204);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1, "carol's copy was deleted, never delivered");
}

/// Attacks: a new tenant learns which admin and domain names other tenants hold from "already exists";
/// registers `mail.acme.test` under acme's `acme.test`; inherits the branding of a removed domain's name.
async fn names_of_other_tenants_are_not_confirmed_or_shadowed(backend: Backend) {
    let Some(moat) = start(backend).await else { return };
    moat.admin(&["tenant", "add", "acme"]);
    moat.admin(&["tenant", "add", "beta"]);
    moat.admin(&["domain", "add", "acme.test", "--downstream", "mx.acme.test", "--tenant", "acme"]);
    let beta = moat.api_token("beta-admin", &["--tenant", "beta"]);
    let domain = |name: &str| Some(json!({"name": name, "downstream": ["mx.beta.test"]}));
    let (status, body) = moat.console_send("POST", "/api/v1/domains", &beta, domain("acme.test")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "domain acme.test is not available");
    let (status, body) = moat.console_send("POST", "/api/v1/domains", &beta, domain("mail.acme.test")).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("mail.acme.test is not available")));
    let admin = Some(json!({"name": "acme-admin", "password": "Whatever_pw.26", "domains": []}));
    let (status, body) = moat.console_send("POST", "/api/v1/domain-admins", &beta, admin).await;
    assert!(!body["error"].as_str().unwrap_or("").contains("exists"), "{status} {body}");
}

/// Attack: an outside sender sends ~100,000 tiny MIME parts with EICAR in the last one, so the antivirus
/// runs out of fuel and the fail-open default chain delivered it as clean. Now the host refuses such a
/// shape before any plugin runs, and a scan the antivirus cannot finish is a tempfail, never clean.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_the_antivirus_cannot_finish_is_never_delivered_as_clean() {
    let sink = Sink::start().await;
    // No fuel per byte, so that the starved antivirus below is starved whatever the message's size.
    let moat = Moat::builder(BIN, Backend::Sqlite)
        .set("filters", "builtin", "true")
        .set("filters", "fuel_per_byte", "0")
        .start()
        .await
        .unwrap();
    moat.protect("example.com", &[sink_host(&sink)], &["bob"]);
    const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let mut many = String::from(
        "From: a@sender.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
    );
    for _ in 0..1_500 {
        many.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    many.push_str(&format!(
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=e.com\r\n\r\n{EICAR}\r\n--b--\r\n"
    ));
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], &many).await.unwrap();
    assert!(reply.starts_with("554 5.6.0 Message refused: the message has 1502 MIME parts"), "{reply}");
    let mut headers = String::new();
    for i in 0..2_000 {
        headers.push_str(&format!("X-Filler-{i}: y\r\n"));
    }
    let reply =
        send(moat.smtp(), "a@sender.test", &["bob@example.com"], &format!("{headers}\r\nbody\r\n")).await.unwrap();
    assert!(reply.starts_with("554 5.6.0") && reply.contains("header fields"), "{reply}");

    // The shipped default chain, with the antivirus starved of fuel: it fails closed (451), never open.
    let shipped = moat.admin(&["chain", "show"]);
    assert!(shipped.contains("fail = \"closed\""), "{shipped}");
    let starved = shipped.replace("fuel = 2000000000", "fuel = 1000");
    assert_ne!(starved, shipped);
    let out = moat.set_chain(&starved, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let virus = format!(
        "From: a@sender.test\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=e.com\r\n\r\n{EICAR}\r\n--b--\r\n"
    );
    let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], &virus).await.unwrap();
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(sink.received().is_empty(), "nothing was delivered");
}

/// Attack: a sender forges Moat's verdict (`X-Moat-Spam-Status: No`, `Authentication-Results` under Moat's
/// name) with bare LF line ends, or with a space before the colon, and the forgery survived delivery.
#[tokio::test(flavor = "multi_thread")]
async fn forged_verdict_headers_never_reach_the_mailbox() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).start().await.unwrap();
    moat.protect("example.com", &[sink_host(&sink)], &["bob"]);
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    let out = moat.set_chain("[[entry]]\nplugin = \"tagger\"\n", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    for forged in [
        "X-Moat-Spam-Status: No, score=-50 FORGED\nAuthentication-Results: mx.moat.test; dkim=pass FORGED\n\
         From: a@sender.test\nSubject: bare LF\n\nbody\n",
        "X-Moat-Spam-Status : No, score=-50 FORGED\r\nAuthentication-Results\t: mx.moat.test; dkim=pass FORGED\r\n\
         From: a@sender.test\r\nSubject: spaced\r\n\r\nbody\r\n",
    ] {
        let mut c = Client::connect(moat.smtp()).await.unwrap();
        c.expect("220").await.unwrap();
        c.cmd("EHLO client.test\r\n").await.unwrap();
        c.cmd("MAIL FROM:<a@sender.test>\r\n").await.unwrap();
        c.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap();
        c.cmd("DATA\r\n").await.unwrap();
        let reply = c.cmd(&format!("{forged}\r\n.\r\n")).await.unwrap();
        assert!(reply.starts_with("250"), "{reply}");
    }
    let got = eventually(20, "both delivered", || async { Some(sink.received()).filter(|r| r.len() == 2) }).await;
    for message in got {
        let text = message.text();
        assert!(!text.contains("FORGED"), "{text}");
        assert_eq!(text.matches("X-Moat-Spam-Status").count(), 1, "only Moat's own: {text}");
    }
}

/// Attacks on the registry: a tenant uploads a plugin under a built-in's name, so that the operator's next
/// `chain set` pins it with the built-in's grants; or a tenant's plugin is used in another tenant's chain.
#[tokio::test(flavor = "multi_thread")]
async fn tenant_plugins_stay_in_their_tenant_and_built_in_names_are_reserved() {
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    moat.admin(&["tenant", "add", "acme"]);
    moat.admin(&["tenant", "add", "beta"]);
    let tagger = moat.write_file("tagger.wasm", &guest("tagger"));
    for scope in [&["--tenant", "acme"][..], &[][..]] {
        let mut args = vec!["plugin", "add", &tagger, "--name", "lists", "--version", "9.9.9"];
        args.extend_from_slice(scope);
        let out = moat.cli(&args);
        assert!(!out.status.success(), "a built-in's name is reserved in every scope");
        assert!(String::from_utf8_lossy(&out.stderr).contains("the name of a built-in filter"));
    }
    moat.admin(&["plugin", "add", &tagger, "--name", "private", "--version", "1.0.0", "--tenant", "acme"]);
    let chain = "[[entry]]\nplugin = \"private\"\n";
    assert!(moat.set_chain(chain, &["--tenant", "acme"]).status.success(), "acme's own chain may use it");
    for other in [&["--tenant", "beta"][..], &[][..]] {
        let out = moat.set_chain(chain, other);
        assert!(!out.status.success(), "{other:?} may not use acme's plugin");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin private is registered"));
    }
    let list = moat.admin(&["plugin", "list"]);
    assert!(list.lines().any(|l| l.starts_with("private\t1.0.0\ttenant acme")), "{list}");
}

/// Attack: a tenant admin names loopback (or the metadata service, or Moat's own ports) as a downstream
/// host and uses Test SMTP as a port scanner that echoes banners. By default Moat connects to none of them,
/// and a tenant admin learns only "greeting received" or a generic failure.
#[tokio::test(flavor = "multi_thread")]
async fn tenant_named_hosts_cannot_reach_this_machine_or_scan_ports() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("delivery", "allowed_networks", "[]").start().await.unwrap();
    moat.admin(&["tenant", "add", "acme"]);
    let console = moat.console.unwrap();
    moat.admin(&["domain", "add", "acme.test", "--downstream", &sink_host(&sink), "--tenant", "acme"]);
    moat.admin(&["mailbox", "add", "bob@acme.test"]);
    moat.admin(&[
        "domain",
        "add",
        "scan.test",
        "--downstream",
        &format!("127.0.0.1:{}:10", console.port()),
        "--tenant",
        "acme",
    ]);
    let tenant = moat.api_token("acme-admin", &["--tenant", "acme"]);
    let (status, tested) = moat.console_send("POST", "/api/v1/domains/scan.test/test-smtp", &tenant, None).await;
    assert_eq!(status, 200, "{tested}");
    let answer = tested[0]["answer"].as_str().unwrap();
    assert!(answer.starts_with("No SMTP greeting"), "{answer}");
    assert!(!answer.contains("HTTP") && !answer.contains("refused") && !answer.contains("127.0.0.1"), "{answer}");
    let root = moat.api_token("root", &[]);
    let (_, tested) = moat.console_send("POST", "/api/v1/domains/scan.test/test-smtp", &root, None).await;
    let why = tested[0]["answer"].as_str().unwrap();
    assert!(why.contains("a network the operator does not allow"), "the operator sees why: {why}");

    // Delivery too: mail for a downstream on loopback waits in the queue, it is never sent there.
    let reply = send(moat.smtp(), "a@sender.test", &["bob@acme.test"], "Subject: x\r\n\r\ny\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let queued = eventually(20, "a failed attempt", || async {
        let q = moat.admin(&["queue", "list"]);
        q.contains("does not allow").then_some(q)
    })
    .await;
    assert!(queued.contains("bob@acme.test"), "{queued}");
    assert!(sink.received().is_empty());
}

/// Attack: reading the data dir (database, kept mail, TOTP seeds) as another local user. Everything Moat
/// writes there is private to its user, and the key that seals secrets is a 0600 file.
#[tokio::test(flavor = "multi_thread")]
async fn the_data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let moat = Moat::builder(BIN, Backend::Sqlite).start().await.unwrap();
    let dir = moat.data_dir();
    let mode = |p: PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.clone()), 0o700);
    assert_eq!(mode(dir.join("secret.key")), 0o600);
    let database = PathBuf::from(moat.database_url.trim_start_matches("sqlite://"));
    assert_eq!(mode(database) & 0o077, 0, "the database, which holds the mail too");
    assert_eq!(mode(dir.join("tls")) & 0o077, 0, "the generated TLS key's directory");
    let weak = moat.cli_with_input(&["admin", "add", "lazy", "--password-stdin"], "aaaaaaaa\n");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("too easy to guess"));
    let common = moat.cli_with_input(&["admin", "add", "lazy", "--password-stdin"], "password1\n");
    assert!(String::from_utf8_lossy(&common.stderr).contains("most common"), "{common:?}");
}

/// Attack: a HELO name written to forge trace information (`x)by(mx.bank.test`) went verbatim into
/// `Received:`. A HELO that is not a domain or address literal is recorded quoted and escaped.
#[tokio::test(flavor = "multi_thread")]
async fn a_helo_cannot_forge_trace_headers() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).start().await.unwrap();
    moat.protect("example.com", &[sink_host(&sink)], &["bob"]);
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO x);by(mx.bank.test\r\n").await.unwrap();
    c.cmd("MAIL FROM:<a@sender.test>\r\n").await.unwrap();
    c.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap();
    c.cmd("DATA\r\n").await.unwrap();
    assert!(c.cmd("Subject: hi\r\n\r\nbody\r\n.\r\n").await.unwrap().starts_with("250"));
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    let text = got.text();
    let received = text.lines().next().unwrap();
    assert_eq!(received, r#"Received: from unknown (helo="x\);by\(mx.bank.test") ([127.0.0.1])"#);
}

/// Attack: a resolver that drops every query made every filtered message wait out the whole 8 s SPF/DKIM/
/// DMARC deadline, and enough such messages hold every session. Once checks time out, later messages wait
/// a short deadline until the resolver answers again.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_resolver_does_not_hold_every_message() {
    let sink = Sink::start().await;
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nameserver = format!("\"{}\"", silent.local_addr().unwrap());
    let moat = Moat::builder(BIN, Backend::Sqlite).set("dns", "nameserver", &nameserver).start().await.unwrap();
    moat.protect("example.com", &[sink_host(&sink)], &["bob"]);
    moat.add_guest("tagger", "1.0.0", &guest("tagger"));
    assert!(moat.set_chain("[[entry]]\nplugin = \"tagger\"\n", &[]).status.success());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let message = "From: a@sender.test\r\nSubject: hi\r\n\r\nbody\r\n";
    // The first message finds the resolver silent and waits the full deadline.
    assert!(send(moat.smtp(), "a@sender.test", &["bob@example.com"], message).await.unwrap().starts_with("250"));
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert!(send(moat.smtp(), "a@sender.test", &["bob@example.com"], message).await.unwrap().starts_with("250"));
    }
    // Three messages at the full deadline would take 24 s; at the outage deadline about 3.
    assert!(started.elapsed() < std::time::Duration::from_secs(12), "{:?}", started.elapsed());
    drop(silent);
}
