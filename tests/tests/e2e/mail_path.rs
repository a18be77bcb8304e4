//! The mail path end to end: a real `moat` process, real SMTP clients, a real downstream server, on SQLite
//! and on PostgreSQL.

use moat_tests::{Backend, Client, Moat, Sink, SinkBehaviour, eventually, send};
use std::net::SocketAddr;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_message_store!(
    delivered_content_equals_sent_content_plus_received,
    recipients_outside_the_directory_are_refused_and_never_relayed,
    downstream_down_then_up_delivers_after_retry,
    permanent_refusal_bounces_to_the_sender,
    acknowledged_mail_survives_kill_9,
    oversized_message_gets_552_and_nothing_is_queued,
    starttls_round_trip,
    pipelined_session,
    failover_to_the_next_downstream_by_priority,
    mail_that_outlives_max_age_bounces_with_4_4_7,
    cli_errors_are_clear_and_exit_non_zero,
    connections_per_client_ip_are_limited,
);

async fn start(
    backend: Backend,
    tune: impl FnOnce(moat_tests::MoatBuilder) -> moat_tests::MoatBuilder,
) -> Option<Moat> {
    let moat = tune(Moat::builder(BIN, backend)).start().await;
    if moat.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tier: set MOAT_TEST_POSTGRES_URL (scripts/test does)"
        );
        eprintln!("skipped: MOAT_TEST_POSTGRES_URL is not set");
    }
    moat
}

/// An address where nothing listens (yet).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn downstream(addr: SocketAddr, priority: u32) -> String {
    format!("{}:{}:{priority}", addr.ip(), addr.port())
}

async fn delivered_content_equals_sent_content_plus_received(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob"]);
    let body = "From: Alice <alice@sender.test>\r\nTo: bob@example.com\r\nSubject: Quarterly numbers\r\n\
                Message-ID: <q1@sender.test>\r\n\r\nLine one\r\n.leading dot\r\n\r\nCaf\u{e9} 8-bit\r\n";
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], body).await.unwrap();
    assert!(reply.starts_with("250 2.0.0 OK queued as "), "{reply}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    assert_eq!(got.from, "alice@sender.test");
    assert_eq!(got.to, vec!["bob@example.com".to_string()]);
    assert!(got.tls, "delivery used opportunistic STARTTLS");
    let text = got.text();
    let (trace, rest) = text.split_at(text.find("From: Alice").expect("original headers present"));
    assert_eq!(rest, body, "the message arrives byte for byte");
    assert!(
        trace.starts_with("Received: from client.test ([127.0.0.1])\r\n\tby mx.moat.test (Moat) with ESMTP id "),
        "{trace}"
    );
    assert!(trace.lines().skip(1).all(|l| l.starts_with('\t')), "one Received header only: {trace}");
    let log = eventually(10, "log row delivered", || async {
        let log = moat.admin(&["log", "tail"]);
        log.contains("delivered").then_some(log)
    })
    .await;
    assert!(log.contains("\"Quarterly numbers\""), "{log}");
    assert!(log.contains("250 2.0.0 stored by sink"), "the downstream's reply is logged: {log}");
    let metrics = moat.metrics_text().await;
    assert!(metrics.contains("moat_messages_accepted_total 1"), "{metrics}");
    assert!(metrics.contains("moat_recipients_delivered_total 1"), "{metrics}");
}

async fn recipients_outside_the_directory_are_refused_and_never_relayed(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, |b| b.set("smtp", "max_errors", "50")).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob"]);
    moat.protect("bücher.test", &[downstream(sink.addr, 10)], &["anna"]);
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    assert!(c.cmd("MAIL FROM:<mallory@evil.test> SMTPUTF8\r\n").await.unwrap().starts_with("250"));
    let cases = [
        ("nobody@example.com", "550 5.1.1"),
        ("bob@gmail.com", "550 5.7.1"),
        ("bob%gmail.com@example.com", "550 5.1.1"),
        ("gmail.com!bob@example.com", "550 5.1.1"),
        ("@example.com:bob@gmail.com", "550 5.7.1"),
        ("\"bob@gmail.com\"@example.com", "550 5.1.1"),
        ("bob@[127.0.0.1]", "550 5.7.1"),
        ("bob@[IPv6:::1]", "550 5.7.1"),
        ("bob@example.com.evil.test", "550 5.7.1"),
        ("bob@sub.example.com", "550 5.7.1"),
        ("bob@gmail.com.", "550 5.7.1"),
        ("bob@example..com", "501 5.1.3"),
        ("BOB@EXAMPLE.COM.", "250 2.1.5"),
        ("@relay.test:bob@example.com", "250 2.1.5"),
        ("anna@xn--bcher-kva.test", "250 2.1.5"),
        ("ANNA@BÜCHER.test", "250 2.1.5"),
    ];
    for (rcpt, want) in cases {
        let reply = c.cmd(&format!("RCPT TO:<{rcpt}>\r\n")).await.unwrap();
        assert!(reply.starts_with(want), "RCPT TO:<{rcpt}> got {reply}, want {want}");
    }
    assert!(c.cmd("DATA\r\n").await.unwrap().starts_with("354"));
    assert!(c.cmd("Subject: t\r\n\r\nx\r\n.\r\n").await.unwrap().starts_with("250"));
    let got = eventually(20, "delivery", || async { (sink.received().len() == 2).then(|| sink.received()) }).await;
    let metrics = moat.metrics_text().await;
    assert!(metrics.contains("moat_recipients_refused_total 12"), "{metrics}");
    let mut all: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    all.sort();
    assert_eq!(all, ["anna@xn--bcher-kva.test", "bob@example.com"], "only protected mailboxes, once each");
}

async fn downstream_down_then_up_delivers_after_retry(backend: Backend) {
    let addr = free_port();
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(addr, 10)], &["bob"]);
    let reply =
        send(moat.smtp(), "alice@sender.test", &["bob@example.com"], "Subject: backup\r\n\r\nkept\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let queue = eventually(20, "a failed attempt", || async {
        let q = moat.admin(&["queue", "list"]);
        q.contains("1 attempt(s)").then_some(q)
    })
    .await;
    assert!(queue.contains("queued, next attempt") && queue.contains("connection"), "{queue}");
    assert!(queue.contains("1 message(s), 1 recipient(s) waiting."), "{queue}");
    let sink = Sink::start_on(addr).await;
    let got = eventually(20, "delivery after the downstream came back", || async { sink.received().pop() }).await;
    assert!(got.text().contains("Subject: backup"));
    eventually(10, "an empty queue", || async { moat.admin(&["queue", "list"]).contains("empty").then_some(()) }).await;
}

async fn permanent_refusal_bounces_to_the_sender(backend: Backend) {
    let sink = Sink::start().await;
    sink.set(SinkBehaviour { reject_prefix: Some("gone".into()), ..SinkBehaviour::default() });
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["alice", "bob", "gone"]);
    let reply = send(
        moat.smtp(),
        "alice@example.com",
        &["bob@example.com", "gone@example.com"],
        "Subject: Partly lost\r\nMessage-ID: <p1@example.com>\r\n\r\nhello\r\n",
    )
    .await
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let bounce = eventually(20, "a bounce", || async { sink.received().into_iter().find(|r| r.from.is_empty()) }).await;
    assert_eq!(bounce.to, vec!["alice@example.com".to_string()]);
    let text = bounce.text();
    assert!(text.contains("multipart/report"), "{text}");
    assert!(text.contains("Final-Recipient: rfc822; gone@example.com"), "{text}");
    assert!(text.contains("Status: 5.1.1"), "{text}");
    assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user here"), "{text}");
    assert!(text.contains("Subject: Partly lost"), "original headers returned: {text}");
    let delivered: Vec<_> = sink.received().into_iter().filter(|r| !r.from.is_empty()).collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].to, vec!["bob@example.com".to_string()]);
    let log = eventually(10, "log settled", || async {
        let l = moat.admin(&["log", "tail"]);
        l.contains("partially delivered").then_some(l)
    })
    .await;
    assert!(log.contains("<> -> alice@example.com"), "the bounce is logged too: {log}");
}

async fn acknowledged_mail_survives_kill_9(backend: Backend) {
    let addr = free_port();
    let Some(mut moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(addr, 10)], &["bob"]);
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], "Subject: durable\r\n\r\nsurvive\r\n")
        .await
        .unwrap();
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    moat.kill9();
    let sink = Sink::start_on(addr).await;
    moat.restart().await;
    let got = eventually(20, "delivery after restart", || async { sink.received().pop() }).await;
    assert!(got.text().contains("Subject: durable\r\n\r\nsurvive\r\n"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1);
}

async fn oversized_message_gets_552_and_nothing_is_queued(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, |b| b.set("smtp", "max_message_size", "2048")).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob"]);
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(5000));
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &big).await.unwrap();
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    let reply = c.cmd("MAIL FROM:<alice@sender.test> SIZE=10000\r\n").await.unwrap();
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    assert!(moat.admin(&["queue", "list"]).contains("The queue is empty."));
    assert!(moat.admin(&["log", "tail"]).contains("rejected: 552 5.3.4"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(sink.received().is_empty());
    match backend {
        Backend::Filesystem => {
            let stored = std::fs::read_dir(moat.data_dir().join("spool/bodies")).unwrap().flatten();
            assert_eq!(stored.flat_map(|fan| std::fs::read_dir(fan.path()).unwrap()).count(), 0, "nothing stored");
        }
        Backend::Sqlite | Backend::Postgres => {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&moat.database_url).await.unwrap();
            let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_bodies").fetch_one(&pool).await.unwrap();
            assert_eq!(stored, 0, "nothing stored");
        }
        Backend::S3 => {}
    }
}

async fn starttls_round_trip(backend: Backend) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let sink = Sink::start().await;
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob"]);
    let mut plain = tokio::net::TcpStream::connect(moat.smtp()).await.unwrap();
    let mut reader = BufReader::new(&mut plain);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    // Pipelined after STARTTLS: must be dropped, never answered (command injection).
    reader.get_mut().write_all(b"EHLO c\r\nSTARTTLS\r\nNOOP\r\n").await.unwrap();
    let mut replies = String::new();
    while !replies.contains("220 2.0.0") {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        replies.push_str(&line);
    }
    assert!(replies.contains("250-STARTTLS") || replies.contains("250 STARTTLS"), "{replies}");
    let connector = moat_smtp::tls::opportunistic_connector();
    let name = rustls::pki_types::ServerName::try_from("mx.moat.test").unwrap();
    let tls = connector.connect(name, plain).await.expect("TLS handshake with Moat");
    let mut tls = BufReader::new(tls);
    let mut transcript = String::new();
    for cmd in ["EHLO client.test", "MAIL FROM:<a@sender.test>", "RCPT TO:<bob@example.com>", "DATA"] {
        tls.get_mut().write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        loop {
            line.clear();
            tls.read_line(&mut line).await.unwrap();
            transcript.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    }
    tls.get_mut().write_all(b"Subject: secret\r\n\r\nover TLS\r\n.\r\nQUIT\r\n").await.unwrap();
    line.clear();
    tls.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("250 2.0.0"), "{transcript}{line}");
    assert!(!transcript.contains("STARTTLS"), "STARTTLS is not offered twice: {transcript}");
    assert!(!transcript.starts_with("250 2.0.0 OK"), "the injected NOOP was not answered: {transcript}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    assert!(got.text().contains("with ESMTPS id"), "{}", got.text());
    assert!(got.tls);
}

async fn pipelined_session(backend: Backend) {
    let sink = Sink::start().await;
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob", "carol"]);
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.write(
        "EHLO client.test\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<nobody@example.com>\r\n\
         RCPT TO:<carol@example.com>\r\nDATA\r\n",
    )
    .await
    .unwrap();
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(c.reply().await.unwrap());
    }
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(codes, ["250", "250", "250", "550", "250", "354"], "{replies:?}");
    c.write("Subject: piped\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n").await.unwrap();
    let mut tail = Vec::new();
    for _ in 0..4 {
        tail.push(c.reply().await.unwrap());
    }
    assert!(tail[0].starts_with("250 2.0.0 OK queued"), "{tail:?}");
    assert_eq!([&tail[1][..3], &tail[2][..3], &tail[3][..3]], ["250", "250", "221"], "{tail:?}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    assert_eq!(got.to, vec!["bob@example.com".to_string(), "carol@example.com".to_string()]);
}

async fn failover_to_the_next_downstream_by_priority(backend: Backend) {
    let down = moat_tests::ClosedPort::new();
    let (dead, sink) = (down.addr, Sink::start().await);
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &[downstream(sink.addr, 20), downstream(dead, 10)], &["bob"]);
    assert!(moat.admin(&["domain", "list"]).contains(&format!("{}:10", dead)));
    let reply =
        send(moat.smtp(), "a@sender.test", &["bob@example.com"], "Subject: failover\r\n\r\nx\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = eventually(20, "delivery to the backup host", || async { sink.received().pop() }).await;
    assert!(got.text().contains("Subject: failover"));
    assert!(moat.log().contains("host failed: connection error"), "the primary was tried first");
}

async fn cli_errors_are_clear_and_exit_non_zero(backend: Backend) {
    let Some(moat) = start(backend, |b| b).await else {
        return;
    };
    moat.protect("example.com", &["127.0.0.1:2526:10".into()], &["bob"]);
    let cases: [(&[&str], &str); 7] = [
        (&["mailbox", "add", "not-an-address"], "is not an address of the form local@domain"),
        (&["mailbox", "add", "x@unknown.test"], "domain unknown.test is not protected by Moat"),
        (&["mailbox", "add", "bob@example.com"], "already exists"),
        (&["domain", "add", "example.com", "--downstream", "h:25"], "domain example.com already exists"),
        (&["domain", "add", "example.org"], "example.org needs at least one downstream host"),
        (&["domain", "add", "example.org", "--downstream", "h:99999"], "the port must be 1-65535"),
        (&["queue", "delete", "nope"], "queued message nope not found"),
    ];
    for (args, want) in cases {
        let out = moat.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(want), "{args:?}: {stderr}");
    }
    assert_eq!(moat.cli(&["mailbox", "frobnicate"]).status.code(), Some(2), "usage errors exit 2");
    assert_eq!(moat.admin(&["mailbox", "list"]).trim(), "bob@example.com");
}

async fn connections_per_client_ip_are_limited(backend: Backend) {
    let Some(moat) = start(backend, |b| b.set("smtp", "max_connections_per_ip", "2")).await else {
        return;
    };
    let mut first = Client::connect(moat.smtp()).await.unwrap();
    let mut second = Client::connect(moat.smtp()).await.unwrap();
    first.expect("220").await.unwrap();
    second.expect("220").await.unwrap();
    let mut third = Client::connect(moat.smtp()).await.unwrap();
    third.expect("421 4.7.0").await.unwrap();
    drop(first);
    let mut fourth = eventually(10, "a free slot", || async {
        let mut c = Client::connect(moat.smtp()).await.ok()?;
        c.expect("220").await.ok().map(|_| c)
    })
    .await;
    assert!(fourth.cmd("QUIT\r\n").await.unwrap().starts_with("221"));
}

async fn mail_that_outlives_max_age_bounces_with_4_4_7(backend: Backend) {
    let down = moat_tests::ClosedPort::new();
    let (dead, sink) = (down.addr, Sink::start().await);
    let Some(moat) = start(backend, |b| b.set("delivery", "max_age", "\"2s\"")).await else { return };
    moat.protect("example.com", &[downstream(dead, 10)], &["bob"]);
    moat.protect("sender.test", &[downstream(sink.addr, 10)], &["alice"]);
    let reply =
        send(moat.smtp(), "alice@sender.test", &["bob@example.com"], "Subject: too late\r\n\r\nx\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let bounce = eventually(20, "the expiry bounce", || async { sink.received().pop() }).await;
    assert_eq!((bounce.from.as_str(), bounce.to.as_slice()), ("", ["alice@sender.test".to_string()].as_slice()));
    let text = bounce.text();
    assert!(text.contains("Final-Recipient: rfc822; bob@example.com"), "{text}");
    assert!(text.contains("Status: 4.4.7"), "{text}");
    assert!(text.contains("expired after"), "{text}");
    let metrics = moat.metrics_text().await;
    assert!(metrics.contains("moat_recipients_bounced_total 1"), "{metrics}");
    assert!(metrics.contains("moat_recipients_deferred_total"), "{metrics}");
}

/// Deliveries to one downstream host share a connection (one TLS handshake for many messages), and a kept
/// connection the server closed while idle costs nothing: the message goes out on a new one.
#[tokio::test(flavor = "multi_thread")]
async fn deliveries_reuse_the_downstream_connection_until_the_server_closes_it() {
    let sink = Sink::start().await;
    let moat = start(Backend::Sqlite, |b| b.set("delivery", "keep_connections", "\"30s\"")).await.unwrap();
    moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob"]);
    let deliver = |n: usize| {
        let (moat, sink) = (&moat, &sink);
        async move {
            let body = format!("Subject: reuse {n}\r\n\r\nx\r\n");
            let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], &body).await.unwrap();
            assert!(reply.starts_with("250"), "{reply}");
            eventually(20, "delivery", || async { (sink.received().len() > n).then_some(()) }).await;
        }
    };
    for n in 0..3 {
        deliver(n).await;
    }
    assert_eq!(sink.sessions(), 1, "three messages, one connection");
    assert!(sink.received().iter().all(|r| r.tls), "over the connection's TLS");

    sink.set(SinkBehaviour { close_after_message: true, ..SinkBehaviour::default() });
    for n in 3..6 {
        deliver(n).await;
    }
    // The 4th went out on the kept connection (then closed); the 5th and 6th found theirs closed and opened one.
    assert_eq!(sink.sessions(), 3);
    let subjects: Vec<String> = sink.received().iter().map(|r| r.text()).collect();
    for n in 0..6 {
        assert_eq!(subjects.iter().filter(|s| s.contains(&format!("Subject: reuse {n}\r\n"))).count(), 1, "{n}");
    }
    assert!(!moat.admin(&["log", "tail"]).contains("deferred"), "no attempt failed");
}

/// The database holds new installs' bodies; an install from when the filesystem was SQLite's default (its
/// `spool/bodies` exists) goes on keeping them there, so what it queued and kept stays readable.
#[tokio::test(flavor = "multi_thread")]
async fn an_install_with_bodies_on_the_filesystem_keeps_them_there() {
    let sink = Sink::start().await;
    sink.set(SinkBehaviour { tempfail: true, ..SinkBehaviour::default() });
    let older = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(older.path().join("data/spool/bodies")).unwrap();
    for (root, files_expected) in [(None, false), (Some(older.path()), true)] {
        let builder = Moat::builder(BIN, Backend::Sqlite);
        let moat = match root {
            Some(root) => builder.data_on(root),
            None => builder,
        };
        let moat = moat.start().await.unwrap();
        moat.protect("example.com", &[downstream(sink.addr, 10)], &["bob"]);
        let reply = send(moat.smtp(), "a@sender.test", &["bob@example.com"], "Subject: kept\r\n\r\nx\r\n").await;
        assert!(reply.unwrap().starts_with("250"));

        let files = std::fs::read_dir(moat.data_dir().join("spool/bodies")).into_iter().flatten().flatten();
        let files = files.filter_map(|fan| std::fs::read_dir(fan.path()).ok()).flatten().count();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&moat.database_url).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_bodies").fetch_one(&pool).await.unwrap();
        assert_eq!((files > 0, rows > 0), (files_expected, !files_expected), "files {files}, rows {rows}");
    }
}
