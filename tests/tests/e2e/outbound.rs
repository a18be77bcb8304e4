//! Moat as the customers' authenticated smart host: submission listeners with AUTH inside TLS, sending only
//! as the account's domains, DKIM-signed delivery to the recipient domain's MX (found in the loopback DNS),
//! bounces back through the customer's own servers.

use moat_tests::{Backend, Client, Moat, Sink, SinkBehaviour, eventually};
use std::net::SocketAddr;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(
    a_customer_server_relays_dkim_signed_mail_to_the_recipients_mx,
    a_permanent_failure_bounces_to_the_customers_own_server,
);

/// Moat with example.com's clean mail going to `own`, outside domains' MX hosts on `remote`'s port, and
/// remote.test's MX (mx.remote.test) on loopback.
async fn start(backend: Backend, own: &Sink, remote: &Sink) -> Option<Moat> {
    let mx_port = remote.addr.port().to_string();
    let moat = Moat::builder(BIN, backend).set("delivery", "mx_port", &mx_port).start().await;
    let Some(moat) = moat else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier");
        return None;
    };
    moat.protect("acme.test", &[format!("127.0.0.1:{}:10", own.addr.port())], &["ann"]);
    moat.dns.add("remote.test MX 10 mx.remote.test\nmx.remote.test A 127.0.0.1");
    Some(moat)
}

/// `moat smtp-credential add DOMAIN`: (username, password).
fn credential(moat: &Moat, domain: &str) -> (String, String) {
    let out = moat.admin(&["smtp-credential", "add", domain, "--label", "office server"]);
    let field = |name: &str| {
        out.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).expect("credential printed")
    };
    (field("username:"), field("password:"))
}

fn client(addr: SocketAddr, implicit_tls: bool, user: &str, password: &str) -> mail_send::SmtpClientBuilder<String> {
    mail_send::SmtpClientBuilder::new("127.0.0.1".to_string(), addr.port())
        .unwrap()
        .implicit_tls(implicit_tls)
        .allow_invalid_certs()
        .helo_host("office.acme.test")
        .timeout(Duration::from_secs(30))
        .credentials((user.to_owned(), password.to_owned()))
}

async fn submit(
    builder: &mail_send::SmtpClientBuilder<String>,
    from: &str,
    to: &[&str],
    body: &str,
) -> Result<(), mail_send::Error> {
    let message = mail_send::smtp::message::Message::new(from, to.to_vec(), body.as_bytes());
    builder.connect().await?.send(message).await
}

/// A session on the implicit-TLS port: greeting, EHLO, then `command`; everything the server said until it
/// closed the connection.
async fn implicit_tls_transcript(addr: SocketAddr, command: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("mx.moat.test").unwrap();
    let mut tls = moat_smtp::tls::opportunistic_connector().connect(name, tcp).await.expect("TLS from the first byte");
    tls.write_all(format!("EHLO office.acme.test\r\n{command}\r\n").as_bytes()).await.unwrap();
    let mut transcript = String::new();
    tokio::time::timeout(Duration::from_secs(20), tls.read_to_string(&mut transcript)).await.unwrap().unwrap();
    transcript
}

/// The code of an SMTP refusal the client got.
fn code(e: &mail_send::Error) -> u16 {
    match e {
        mail_send::Error::UnexpectedReply(r) | mail_send::Error::AuthenticationFailed(r) => r.code,
        other => panic!("not an SMTP reply: {other:?}"),
    }
}

async fn a_customer_server_relays_dkim_signed_mail_to_the_recipients_mx(backend: Backend) {
    let (own, remote) = (Sink::start().await, Sink::start().await);
    let Some(moat) = start(backend, &own, &remote).await else { return };
    let (user, password) = credential(&moat, "acme.test");
    // The keys' records, published as `moat dkim rotate` says.
    let records = moat.admin(&["dkim", "rotate", "acme.test"]);
    for line in records.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        moat.dns.add(&format!("{} TXT {}", fields[0], fields[2].trim_matches('"')));
    }
    assert_eq!(records.lines().count(), 2, "{records}");

    let body = "From: Ann <ann@acme.test>\r\nTo: Carol <carol@remote.test>\r\nSubject: Offer\r\n\
                Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@acme.test>\r\n\r\nThe offer you asked for.\r\n";
    let starttls = client(moat.submission.unwrap(), false, &user, &password);
    submit(&starttls, "ann@acme.test", &["carol@remote.test"], body).await.expect("relayed");
    let got = eventually(20, "delivery to the remote MX", || async { remote.received().pop() }).await;
    assert_eq!((got.from.as_str(), got.to.as_slice()), ("ann@acme.test", ["carol@remote.test".to_string()].as_slice()));
    let text = got.text();
    assert!(text.contains("with ESMTPSA id"), "{text}");
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");

    // The receiving side's check: both signatures verify against the published records.
    let (config, options) = moat_chains::resolver_config(Some(moat.dns.addr())).unwrap();
    let verifier = mail_auth::MessageAuthenticator::new(config, options).unwrap();
    let message = mail_auth::AuthenticatedMessage::parse(&got.data).unwrap();
    let results = verifier.verify_dkim(&message).await;
    let mut verified: Vec<String> = results
        .iter()
        .map(|r| {
            assert_eq!(r.result(), &mail_auth::DkimResult::Pass, "{r:?}");
            format!("{:?}", r.signature().unwrap().a)
        })
        .collect();
    verified.sort();
    assert_eq!(verified, ["Ed25519Sha256", "RsaSha256"]);

    // Implicit TLS works alike; the email log shows both as outbound.
    let implicit = client(moat.submission_tls.unwrap(), true, &user, &password);
    submit(&implicit, "ann@acme.test", &["dave@remote.test"], &body.replace("Offer", "Second")).await.unwrap();
    eventually(20, "second delivery", || async {
        remote.received().iter().any(|r| r.to == ["dave@remote.test"]).then_some(())
    })
    .await;
    let log = moat.admin(&["log", "tail"]);
    assert_eq!(log.matches("DKIM_SIGNED").count(), 2, "{log}");

    // Sending as someone else's domain is refused, by envelope or by header.
    moat.admin(&["domain", "add", "other.test", "--downstream", "127.0.0.1:9"]);
    let refused = submit(&starttls, "boss@other.test", &["carol@remote.test"], body).await.unwrap_err();
    assert_eq!(code(&refused), 553);
    let forged = body.replace("From: Ann <ann@acme.test>", "From: Boss <boss@other.test>");
    let refused = submit(&starttls, "ann@acme.test", &["carol@remote.test"], &forged).await.unwrap_err();
    assert_eq!(code(&refused), 553);
    assert!(own.received().is_empty(), "nothing for the customer's own server");
    assert_eq!(remote.received().len(), 2, "nothing else went out");
}

async fn a_permanent_failure_bounces_to_the_customers_own_server(backend: Backend) {
    let (own, remote) = (Sink::start().await, Sink::start().await);
    let Some(moat) = start(backend, &own, &remote).await else { return };
    remote.set(SinkBehaviour { reject_prefix: Some("gone".into()), ..SinkBehaviour::default() });
    let (user, password) = credential(&moat, "acme.test");
    let body = "From: ann@acme.test\r\nTo: gone@remote.test\r\nSubject: Hello\r\n\r\nAre you there?\r\n";
    submit(&client(moat.submission.unwrap(), false, &user, &password), "ann@acme.test", &["gone@remote.test"], body)
        .await
        .unwrap();
    let bounce = eventually(30, "the bounce at the customer's server", || async { own.received().pop() }).await;
    assert_eq!((bounce.from.as_str(), bounce.to.as_slice()), ("", ["ann@acme.test".to_string()].as_slice()));
    assert!(bounce.text().contains("gone@remote.test"), "{}", bounce.text());
    assert!(bounce.text().contains("550"), "the remote refusal is quoted: {}", bounce.text());

    // A domain that publishes a null MX (RFC 7505) accepts no mail: refused for good at once, not retried.
    moat.dns.add("nullmx.test MX 0 .");
    let body = "From: ann@acme.test\r\nTo: x@nullmx.test\r\nSubject: Hello\r\n\r\nAnyone?\r\n";
    submit(&client(moat.submission.unwrap(), false, &user, &password), "ann@acme.test", &["x@nullmx.test"], body)
        .await
        .unwrap();
    let bounce = eventually(30, "the null-MX bounce", || async {
        own.received().into_iter().find(|m| m.text().contains("x@nullmx.test"))
    })
    .await;
    assert!(bounce.text().contains("accepts no mail (null MX)"), "{}", bounce.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_is_refused_on_the_mx_and_before_tls_and_failures_lock_out() {
    let (own, remote) = (Sink::start().await, Sink::start().await);
    let moat = start(Backend::Sqlite, &own, &remote).await.unwrap();
    let (user, password) = credential(&moat, "acme.test");
    let plain = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
    };
    for (addr, refusal) in [(moat.smtp(), "503 5.5.1"), (moat.submission.unwrap(), "538 5.7.11")] {
        let mut c = Client::connect(addr).await.unwrap();
        c.expect("220").await.unwrap();
        let ehlo = c.cmd("EHLO office.acme.test\r\n").await.unwrap();
        assert!(!ehlo.contains("AUTH"), "no AUTH offered in clear or on the MX port: {ehlo}");
        let reply = c.cmd(&format!("AUTH PLAIN {plain}\r\n")).await.unwrap();
        assert!(reply.starts_with(refusal), "{reply}");
        let reply = c.cmd("MAIL FROM:<ann@acme.test>\r\n").await.unwrap();
        if addr == moat.smtp() {
            assert!(reply.starts_with("250"), "the MX port takes mail as ever: {reply}");
            let relay = c.cmd("RCPT TO:<carol@remote.test>\r\n").await.unwrap();
            assert!(relay.starts_with("550 5.7.1"), "and never relays: {relay}");
        } else {
            assert!(reply.starts_with("530 5.7.0"), "no sending without AUTH: {reply}");
        }
    }

    for attempt in 0..5 {
        let wrong =
            submit(&client(moat.submission.unwrap(), false, &user, "guess"), "ann@acme.test", &["c@remote.test"], "x")
                .await;
        assert_eq!(code(&wrong.unwrap_err()), 535, "attempt {attempt}");
    }
    // Locked out: even the right password is not checked now, and the session ends.
    let transcript = implicit_tls_transcript(moat.submission_tls.unwrap(), &format!("AUTH PLAIN {plain}")).await;
    assert!(
        transcript.ends_with("421 4.7.0 Too many failed authentications; try again later, closing connection\r\n"),
        "{transcript}"
    );
    let alerts = moat.admin(&["alerts"]);
    assert_eq!(alerts.matches("locked out").count(), 1, "the admin is told once: {alerts}");
    assert!(remote.received().is_empty());
}

/// The outbound chain of a fresh install (antivirus, phishing, rules, bayes) judges what customers send: a
/// virus is refused to the customer's server, a tenant's own outbound chain can hold mail, which only an
/// admin releases; the inbound chain is not touched by any of it.
#[tokio::test(flavor = "multi_thread")]
async fn the_outbound_chain_refuses_viruses_and_holds_mail_for_admins() {
    let (own, remote) = (Sink::start().await, Sink::start().await);
    let mx_port = remote.addr.port().to_string();
    let moat = Moat::builder(BIN, Backend::Sqlite)
        .set("filters", "builtin", "true")
        .set("delivery", "mx_port", &mx_port)
        .set("submission", "suspend_after_refused", "3")
        .start()
        .await
        .unwrap();
    moat.protect("acme.test", &[format!("127.0.0.1:{}:10", own.addr.port())], &["ann"]);
    moat.dns.add("remote.test MX 10 mx.remote.test\nmx.remote.test A 127.0.0.1");
    let outbound = moat.admin(&["chain", "show", "--outbound"]);
    assert!(outbound.contains("plugin = \"antivirus\"") && !outbound.contains("reputation"), "{outbound}");
    let (user, password) = credential(&moat, "acme.test");
    let relay = client(moat.submission.unwrap(), false, &user, &password);

    let eicar = "From: ann@acme.test\r\nTo: carol@remote.test\r\nSubject: invoice\r\n\r\n\
                 X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n";
    let refused = submit(&relay, "ann@acme.test", &["carol@remote.test"], eicar).await.unwrap_err();
    let mail_send::Error::UnexpectedReply(reply) = &refused else { panic!("{refused:?}") };
    assert_eq!(
        (reply.code, reply.message.as_str()),
        (550, "Message refused by outbound filtering: Virus found: Eicar-Test-Signature")
    );

    let clean = "From: ann@acme.test\r\nTo: carol@remote.test\r\nSubject: lunch\r\n\r\nNoon at the usual place?\r\n";
    submit(&relay, "ann@acme.test", &["carol@remote.test"], clean).await.unwrap();
    eventually(20, "clean mail out", || async { remote.received().pop() }).await;

    // The tenant's own outbound chain holds GTUBE instead of refusing it.
    let held_by_rules = "[[entry]]\nplugin = \"rules\"\nconfig = { gtube = \"quarantine\" }\n";
    let saved = moat.set_chain(held_by_rules, &["--outbound", "--tenant", "default"]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let gtube = "From: ann@acme.test\r\nTo: carol@remote.test\r\nSubject: test\r\n\r\n\
                 XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
    eventually(10, "the tenant's outbound chain live", || async {
        submit(&relay, "ann@acme.test", &["carol@remote.test"], gtube).await.ok()
    })
    .await;
    let held = moat.admin(&["quarantine", "list"]);
    assert!(held.contains("GTUBE"), "{held}");
    assert!(moat.admin(&["chain", "show"]).contains("plugin = \"lists\""), "the inbound chain is untouched");
    let id = held.lines().find(|l| l.contains("GTUBE")).and_then(|l| l.split_whitespace().next()).unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(remote.received().len(), 1, "the clean message only: GTUBE is held, not sent");
    moat.admin(&["quarantine", "release", &id]);
    let released = eventually(20, "the released message out", || async { remote.received().get(1).cloned() }).await;
    assert!(released.text().contains("GTUBE-STANDARD"), "{}", released.text());
    let log = moat.admin(&["log", "tail"]);
    assert!(log.contains("quarantined"), "{log}");

    // A credential whose messages are held (or refused) three times in a row is suspended (a stolen one,
    // sending spam); one clean message between breaks the run.
    let (infected, secret) = credential(&moat, "acme.test");
    let infected_relay = client(moat.submission.unwrap(), false, &infected, &secret);
    for (i, message) in [gtube, gtube, clean, gtube, gtube, gtube].into_iter().enumerate() {
        let sent = submit(&infected_relay, "ann@acme.test", &["carol@remote.test"], message).await;
        assert!(sent.is_ok(), "message {i}: {sent:?}");
    }
    let refused = submit(&infected_relay, "ann@acme.test", &["carol@remote.test"], clean).await.unwrap_err();
    assert_eq!(code(&refused), 535, "suspended after three in a row: {refused:?}");
    assert!(moat.admin(&["alerts"]).contains("3 messages in a row refused or held"));
}

/// Budgets per account (`451 4.7.1` past them), and the compromised-account guard: a burst of recipients
/// that do not exist suspends the credential and tells the tenant's admins; an admin lifts it.
#[tokio::test(flavor = "multi_thread")]
async fn sending_limits_hold_and_a_burst_of_bounces_suspends_a_credential() {
    let (own, remote) = (Sink::start().await, Sink::start().await);
    remote.set(SinkBehaviour { reject_prefix: Some("gone".into()), ..SinkBehaviour::default() });
    let mx_port = remote.addr.port().to_string();
    let moat = Moat::builder(BIN, Backend::Sqlite)
        .set("delivery", "mx_port", &mx_port)
        .set("submission", "account_limits", "{ messages_per_hour = 2 }")
        .set("submission", "suspend_after_bounces", "3")
        .start()
        .await
        .unwrap();
    moat.protect("acme.test", &[format!("127.0.0.1:{}:10", own.addr.port())], &["ann"]);
    moat.dns.add("remote.test MX 10 mx.remote.test\nmx.remote.test A 127.0.0.1");
    let body = "From: ann@acme.test\r\nSubject: hi\r\n\r\nhello\r\n";

    let (user, password) = credential(&moat, "acme.test");
    let relay = client(moat.submission.unwrap(), false, &user, &password);
    for to in ["a@remote.test", "b@remote.test"] {
        submit(&relay, "ann@acme.test", &[to], body).await.unwrap();
    }
    let third = submit(&relay, "ann@acme.test", &["c@remote.test"], body).await.unwrap_err();
    let mail_send::Error::UnexpectedReply(reply) = &third else { panic!("{third:?}") };
    assert_eq!(
        (reply.code, reply.message.as_str()),
        (451, "Sending limit of this account reached (2 messages an hour); try later")
    );

    let (burst, secret) = credential(&moat, "acme.test");
    let spammer = client(moat.submission.unwrap(), false, &burst, &secret);
    submit(&spammer, "ann@acme.test", &["gone1@remote.test", "gone2@remote.test", "gone3@remote.test"], body)
        .await
        .unwrap();
    let alerts = eventually(30, "the suspension alert", || async {
        let alerts = moat.admin(&["alerts"]);
        alerts.contains("was suspended from sending").then_some(alerts)
    })
    .await;
    assert!(alerts.contains(&burst) && alerts.contains("3 recipients within an hour that do not exist"), "{alerts}");
    let refused = submit(&spammer, "ann@acme.test", &["x@remote.test"], body).await.unwrap_err();
    assert_eq!(code(&refused), 535, "suspended: {refused:?}");
    assert!(moat.admin(&["smtp-credential", "list"]).contains("suspended"), "shown to the admin");
    moat.admin(&["smtp-credential", "resume", &burst]);
    submit(&spammer, "ann@acme.test", &["x@remote.test"], body).await.expect("sends again once lifted");
}
