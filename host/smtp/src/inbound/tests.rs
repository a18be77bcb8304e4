//! The session driven over an in-memory duplex: reply codes per RFC 5321, no sockets.

use super::{Ending, Role, Session};
use crate::{Metrics, Queue, SessionConfig, SmtpContext};
use moat_directory::{Directory, DomainSpec};
use moat_store::{Durability, Store};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

struct Harness {
    ctx: Arc<SmtpContext>,
    _dir: tempfile::TempDir,
}

async fn harness(config: SessionConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&format!("sqlite://{}", dir.path().join("moat.db").display()), Durability::None).await.unwrap();
    let directory = Directory::new(store.clone());
    let spec = DomainSpec {
        name: "example.com".into(),
        downstream: vec![moat_directory::parse_downstream("127.0.0.1:1").unwrap()],
        ..DomainSpec::default()
    };
    directory.add_domain(&spec).await.unwrap();
    directory.add_mailbox("bob@example.com", None).await.unwrap();
    let bodies = std::sync::Arc::new(moat_bodies::Filesystem::open(dir.path().join("spool"), false).unwrap());
    let metrics = Metrics::default();
    let queue = Queue::new(store.clone(), bodies, "mx.test", std::time::Duration::from_secs(3600), metrics.clone());
    // The production path: chains from the store (none saved here, so every tenant's is empty).
    let registry =
        moat_chains::Registry::new(moat_filter::FilterEngine::new(None, moat_filter::Limits::default()).unwrap());
    let filters = Arc::new(moat_chains::Chains::new(store.clone(), Arc::new(registry), None));
    filters.reload().await.unwrap();
    let dkim = crate::outbound::dkim::Signer::new(directory.clone());
    let ctx = SmtpContext {
        config,
        directory,
        queue,
        tls: None,
        metrics,
        filters,
        run_slots: moat_chains::RunSlots::for_this_machine(),
        lessons: moat_chains::LessonBudget::new(5),
        authenticator: None,
        dkim,
        senders: Arc::new(crate::outbound::senders::Senders::new(store.clone(), Default::default())),
    };
    Harness { ctx: Arc::new(ctx), _dir: dir }
}

/// Runs a session, sends `input` in one write (so everything is pipelined), and returns all it answered.
async fn converse(h: &Harness, input: &[u8]) -> String {
    converse_as(h, Role::Mx, None, input).await
}

/// [`converse`] on a listener of `role`, the session already inside TLS when `tls` names a version.
async fn converse_as(h: &Harness, role: Role, tls: Option<&str>, input: &[u8]) -> String {
    let (mut client, server): (DuplexStream, DuplexStream) = tokio::io::duplex(1 << 20);
    let mut session = Session::new(server, h.ctx.clone(), role, "192.0.2.9:4000".parse().unwrap(), tls.map(Into::into));
    let task = tokio::spawn(async move {
        session.greet().await.unwrap();
        matches!(session.run().await.unwrap(), Ending::Closed)
    });
    client.write_all(input).await.unwrap();
    client.shutdown().await.unwrap();
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    assert!(task.await.unwrap());
    out
}

/// The first nine characters of each final reply line, EHLO's multi-line reply shown as "250 EHLO".
fn codes(replies: &str) -> Vec<&str> {
    replies
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| if l == "250 VRFY" || l == "250 STARTTLS" { "250 EHLO" } else { &l[..9.min(l.len())] })
        .collect()
}

#[tokio::test]
async fn ehlo_lists_the_extensions() {
    let h = harness(SessionConfig::default()).await;
    let out = converse(&h, b"EHLO client.example\r\nQUIT\r\n").await;
    for ext in ["PIPELINING", "SIZE 26214400", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"] {
        assert!(out.contains(&format!("250-{ext}\r\n")) || out.contains(&format!("250 {ext}\r\n")), "{ext}: {out}");
    }
    assert!(!out.contains("STARTTLS"), "no TLS configured: {out}");
    assert!(out.starts_with("220 mx.test ESMTP"), "{out}");
    assert!(out.ends_with("221 2.0.0 Bye\r\n"), "{out}");
}

#[tokio::test]
async fn pipelined_transaction_is_answered_in_order_and_queued() {
    let h = harness(SessionConfig::default()).await;
    let out = converse(
        &h,
        b"EHLO c\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<x@gmail.com>\r\n\
          RCPT TO:<Bob@Example.com>\r\nDATA\r\nSubject: hi\r\n\r\n..dot-stuffed\r\n.\r\nQUIT\r\n",
    )
    .await;
    let got = codes(&out);
    assert_eq!(got[1..7], ["250 EHLO", "250 2.1.0", "550 5.1.1", "550 5.7.1", "250 2.1.5", "354 Start"], "{out}");
    assert!(got[7].starts_with("250 2.0.0"), "{out}");
    let queued = h.ctx.queue.store().queue_list(None, None, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients[0].address, "bob@example.com");
    let body = h.ctx.queue.body(queued[0].body.as_ref().unwrap()).await.unwrap().unwrap();
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("Received: from c ([192.0.2.9])"), "{body}");
    assert!(body.ends_with("Subject: hi\r\n\r\n.dot-stuffed\r\n"), "{body}");
}

#[tokio::test]
async fn commands_out_of_sequence_get_503() {
    let h = harness(SessionConfig::default()).await;
    let out = converse(
        &h,
        b"MAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\n\
          MAIL FROM:<a@b.example>\r\nDATA\r\nRSET\r\nNOOP\r\nVRFY bob\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&out)[1..],
        [
            "503 5.5.1",
            "250 EHLO",
            "503 5.5.1",
            "503 5.5.1",
            "250 2.1.0",
            "503 5.5.1",
            "554 5.5.1",
            "250 2.0.0",
            "250 2.0.0",
            "252 2.5.2",
            "221 2.0.0"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn oversized_messages_get_552_and_nothing_is_queued() {
    let h = harness(SessionConfig { max_message_size: 1000, ..SessionConfig::default() }).await;
    let big = "x".repeat(70);
    let mut input = b"EHLO c\r\nMAIL FROM:<a@b.example> SIZE=5000\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n".to_vec();
    for _ in 0..100 {
        input.extend_from_slice(format!("{big}\r\n").as_bytes());
    }
    input.extend_from_slice(b".\r\nQUIT\r\n");
    let out = converse(&h, &input).await;
    assert_eq!(
        codes(&out)[2..],
        ["552 5.3.4", "250 2.1.0", "250 2.1.5", "354 Start", "552 5.3.4", "221 2.0.0"],
        "{out}"
    );
    assert_eq!(h.ctx.metrics.rejected.get(), 1);
    assert!(h.ctx.queue.store().queue_list(None, None, i64::MAX).await.unwrap().is_empty());
    let log = h.ctx.queue.store().log_tail(0, 10).await.unwrap();
    assert!(log[0].verdict.starts_with("rejected: 552"), "{log:?}");
}

#[tokio::test]
async fn bdat_chunks_make_one_message_and_oversized_chunks_are_refused() {
    let h = harness(SessionConfig { max_message_size: 100, ..SessionConfig::default() }).await;
    let input = format!(
        "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@example.com>\r\nBDAT 12\r\nSubject: x\r\nBDAT 6 LAST\r\n\r\nhi\r\n\
         MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@example.com>\r\nBDAT 90\r\n{}BDAT 20 LAST\r\n{}QUIT\r\n",
        "9".repeat(90),
        "2".repeat(20)
    );
    let out = converse(&h, input.as_bytes()).await;
    let got = codes(&out);
    assert_eq!(got[1..5], ["250 EHLO", "250 2.1.0", "250 2.1.5", "250 2.0.0"], "{out}");
    assert!(out.contains("250 2.0.0 12 octets received\r\n"), "{out}");
    assert_eq!(got[5], "250 2.0.0", "{out}");
    assert!(out.contains("250 2.0.0 OK queued as "), "{out}");
    assert_eq!(got[6..], ["250 2.1.0", "250 2.1.5", "250 2.0.0", "552 5.3.4", "221 2.0.0"], "{out}");
    let queued = h.ctx.queue.store().queue_list(None, None, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 1);
    let body = h.ctx.queue.body(queued[0].body.as_ref().unwrap()).await.unwrap().unwrap();
    assert!(body.ends_with(b"Subject: x\r\n\r\nhi\r\n"));
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let h = harness(SessionConfig { max_errors: 3, ..SessionConfig::default() }).await;
    let out = converse(&h, b"EHLO c\r\nFOO\r\nBAR\r\nBAZ\r\nNOOP\r\n").await;
    assert_eq!(codes(&out)[1..], ["250 EHLO", "500 5.5.1", "500 5.5.1", "500 5.5.1", "421 4.7.0"], "{out}");
}

#[tokio::test]
async fn long_lines_bad_syntax_and_unsupported_parameters_are_refused() {
    let h = harness(SessionConfig::default()).await;
    let long = format!("NOOP {}\r\n", "a".repeat(5000));
    let input = format!(
        "EHLO c\r\n{long}MAIL FROM:<a@b.example> FOO=BAR\r\nMAIL FROM:a@b\r\nRCPT TO:<bob@example.com>\r\nEHLO\r\nQUIT\r\n"
    );
    let out = converse(&h, input.as_bytes()).await;
    let got = codes(&out);
    assert_eq!(got[2], "500 5.5.2", "{out}");
    assert!(got[3].starts_with("555 5.5.4") || got[3].starts_with("501 5.5.4"), "{out}");
    assert_eq!(got[4..], ["501 5.5.4", "503 5.5.1", "501 5.5.4", "221 2.0.0"], "{out}");
}

#[tokio::test]
async fn recipient_limit_and_utf8_addresses() {
    let h = harness(SessionConfig { max_recipients: 1, ..SessionConfig::default() }).await;
    let out = converse(
        &h,
        "EHLO c\r\nMAIL FROM:<josé@b.example>\r\nMAIL FROM:<josé@b.example> SMTPUTF8\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<bob2@example.com>\r\nQUIT\r\n".as_bytes(),
    )
    .await;
    assert_eq!(
        codes(&out)[1..],
        ["250 EHLO", "553 5.6.7", "250 2.1.0", "250 2.1.5", "452 4.5.3", "221 2.0.0"],
        "{out}"
    );
}

#[tokio::test]
async fn idle_clients_are_disconnected() {
    let h =
        harness(SessionConfig { idle_timeout: std::time::Duration::from_millis(50), ..SessionConfig::default() }).await;
    let (mut client, server) = tokio::io::duplex(4096);
    let session = Session::new(server, h.ctx.clone(), Role::Mx, "192.0.2.9:4000".parse().unwrap(), None);
    let task = tokio::spawn(session.run());
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "421 4.4.2 Idle timeout, closing connection\r\n");
    assert!(matches!(task.await.unwrap().unwrap(), Ending::Closed));
}

fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[tokio::test]
async fn auth_is_offered_and_accepted_only_inside_tls_on_submission_listeners() {
    let h = harness(SessionConfig::default()).await;
    let (credential, secret) = h.ctx.directory.smtp_credential_create("example.com", "").await.unwrap();
    let auth = format!("EHLO c\r\nAUTH PLAIN {}\r\nQUIT\r\n", plain(&credential.username, &secret));
    let mx = converse_as(&h, Role::Mx, Some("TLSv1_3"), auth.as_bytes()).await;
    assert!(!mx.contains("AUTH PLAIN LOGIN"), "{mx}");
    assert_eq!(codes(&mx), ["220 mx.te", "250 EHLO", "503 5.5.1", "221 2.0.0"]);
    let clear = converse_as(&h, Role::Submission, None, auth.as_bytes()).await;
    assert!(!clear.contains("AUTH PLAIN LOGIN"), "{clear}");
    assert_eq!(codes(&clear), ["220 mx.te", "250 EHLO", "538 5.7.1", "221 2.0.0"]);
    let tls = converse_as(&h, Role::Submission, Some("TLSv1_3"), auth.as_bytes()).await;
    assert!(tls.contains("250-AUTH PLAIN LOGIN\r\n"), "{tls}");
    assert_eq!(codes(&tls), ["220 mx.te", "250 EHLO", "235 2.7.0", "221 2.0.0"]);
}

#[tokio::test]
async fn auth_login_takes_two_challenges_and_star_cancels() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let h = harness(SessionConfig::default()).await;
    let (credential, secret) = h.ctx.directory.smtp_credential_create("example.com", "").await.unwrap();
    let input = format!(
        "EHLO c\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN\r\n{}\r\nAUTH LOGIN\r\n{}\r\n{}\r\nQUIT\r\n",
        "not base64!",
        b64(&credential.username),
        b64(&secret)
    );
    let out = converse_as(&h, Role::Submission, Some("TLSv1_3"), input.as_bytes()).await;
    assert_eq!(
        codes(&out),
        [
            "220 mx.te",
            "250 EHLO",
            "334 VXNlc",
            "501 5.7.0",
            "334 ",
            "501 5.5.2",
            "334 VXNlc",
            "334 UGFzc",
            "235 2.7.0",
            "221 2.0.0"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn submission_needs_auth_and_sends_only_as_the_accounts_domains() {
    let h = harness(SessionConfig::default()).await;
    let (credential, secret) = h.ctx.directory.smtp_credential_create("example.com", "").await.unwrap();
    let unauthenticated =
        converse_as(&h, Role::Submission, Some("TLSv1_3"), b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n").await;
    assert_eq!(codes(&unauthenticated), ["220 mx.te", "250 EHLO", "530 5.7.0", "221 2.0.0"]);
    let input = format!(
        "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@other.test>\r\nMAIL FROM:<a@example.com>\r\n\
         RCPT TO:<someone@remote.test>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n\
         From: Mallory <boss@other.test>\r\nSubject: hi\r\n\r\nbody\r\n.\r\n\
         MAIL FROM:<a@example.com>\r\nRCPT TO:<someone@remote.test>\r\nDATA\r\n\
         From: Ann <a@example.com>\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        plain(&credential.username, &secret)
    );
    let out = converse_as(&h, Role::Submission, Some("TLSv1_3"), input.as_bytes()).await;
    assert_eq!(
        codes(&out),
        [
            "220 mx.te",
            "250 EHLO",
            "235 2.7.0",
            "553 5.7.1",
            "250 2.1.0",
            "250 2.1.5",
            "550 5.1.1",
            "354 Start",
            "553 5.7.1",
            "250 2.1.0",
            "250 2.1.5",
            "354 Start",
            "250 2.0.0",
            "221 2.0.0"
        ],
        "{out}"
    );
    let queued = h.ctx.queue.store().queue_list(None, None, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 1, "only the message from the account's own domain");
}

#[tokio::test]
async fn failed_authentications_lock_the_client_out() {
    let h = harness(SessionConfig::default()).await;
    let wrong = plain("smtp-nobody@example.com", "guess");
    let input = format!("EHLO c\r\n{}QUIT\r\n", format!("AUTH PLAIN {wrong}\r\n").repeat(7));
    let out = converse_as(&h, Role::Submission, Some("TLSv1_3"), input.as_bytes()).await;
    assert_eq!(
        codes(&out),
        ["220 mx.te", "250 EHLO", "535 5.7.8", "535 5.7.8", "535 5.7.8", "535 5.7.8", "535 5.7.8", "421 4.7.0"],
        "{out}"
    );
}

/// "Why did it not reach me?": recipients refused at RCPT are in the email log, one row per tenant and
/// reply, written when the transaction ends (after DATA, at RSET, or when the client goes away) — the
/// unknown user with the protected domain's tenant (so its admins see it), the relay attempt with none.
#[tokio::test]
async fn recipients_refused_at_rcpt_are_logged_when_the_transaction_ends() {
    let h = harness(SessionConfig::default()).await;
    converse(
        &h,
        b"EHLO c\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<ghost@example.com>\r\n\
          RCPT TO:<x@gmail.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: hi\r\n\r\nx\r\n.\r\n\
          MAIL FROM:<b@sender.example>\r\nRCPT TO:<later@example.com>\r\nRSET\r\n\
          MAIL FROM:<c@sender.example>\r\nRCPT TO:<gone@example.com>\r\n",
    )
    .await;
    let rows = h.ctx.queue.store().log_tail(0, 20).await.unwrap();
    let refused: Vec<(&str, &str, Option<i64>)> = rows
        .iter()
        .filter(|r| r.verdict.contains("at RCPT"))
        .map(|r| (r.recipients.as_str(), r.verdict.as_str(), r.tenant))
        .collect();
    let tenant = Some(moat_store::DEFAULT_TENANT.0);
    const UNKNOWN: &str = "rejected at RCPT: 550 5.1.1 Recipient address rejected: user unknown";
    assert_eq!(
        refused,
        [
            ("x@gmail.com", "rejected at RCPT: 550 5.7.1 Relay access denied", None),
            ("nobody@example.com, ghost@example.com", UNKNOWN, tenant),
            ("later@example.com", UNKNOWN, tenant),
            ("gone@example.com", UNKNOWN, tenant),
        ],
        "{rows:#?}"
    );
    assert!(rows.iter().any(|r| r.recipients == "bob@example.com" && r.verdict == "accepted"), "the message itself");
}
