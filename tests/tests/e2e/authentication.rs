//! SPF, DKIM and DMARC end to end: the host checks them against a loopback DNS server, the downstream server
//! gets Moat's `Authentication-Results` (a forged one under Moat's name is dropped), and the built-in
//! authentication layer refuses mail whose From domain fails DMARC under `p=reject`.

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use moat_tests::{Backend, Moat, Sink, eventually, send};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

const CHAIN: &str = "[[entry]]\nplugin = \"authentication\"\n";

fn dkim_key(moat: &Moat) -> Ed25519Key {
    let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap();
    let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
    moat.dns.add(&format!("s1._domainkey.sender.test TXT v=DKIM1; k=ed25519; p={public}"));
    key
}

/// Moat protecting bob@example.com, delivering to a sink, with the authentication layer alone as its chain
/// (live once the reload interval has passed).
async fn gateway() -> (Sink, Moat) {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    assert!(moat.set_chain(CHAIN, &[]).status.success());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    (sink, moat)
}

#[tokio::test(flavor = "multi_thread")]
async fn authenticated_mail_is_marked_and_dmarc_reject_is_honoured() {
    let (sink, moat) = gateway().await;
    moat.dns.add(
        "sender.test TXT v=spf1 ip4:127.0.0.1 -all\n\
         _dmarc.sender.test TXT v=DMARC1; p=reject\n\
         bank.test TXT v=spf1 ip4:192.0.2.10 -all\n\
         _dmarc.bank.test TXT v=DMARC1; p=reject",
    );
    let key = dkim_key(&moat);

    let message = "From: Alice <alice@sender.test>\r\nTo: bob@example.com\r\nSubject: Minutes\r\n\r\nAttached.\r\n";
    let signature = DkimSigner::from_key(key)
        .domain("sender.test")
        .selector("s1")
        .headers(["From", "To", "Subject"])
        .sign(message.as_bytes())
        .unwrap();
    let forged = "Authentication-Results: mx.moat.test; dkim=pass; spf=pass; dmarc=pass\r\n";
    let signed = format!("{forged}{}{message}", signature.to_header());
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &signed).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await.text();
    let results: Vec<&str> = got.split("\r\n").filter(|l| l.starts_with("Authentication-Results:")).collect();
    assert_eq!(results.len(), 1, "the forged results are gone, Moat's are there: {got}");
    let header = &got[got.find("Authentication-Results: mx.moat.test;").unwrap()..];
    let header = &header[..header.find("\r\nX-").or(header.find("\r\nDKIM")).unwrap_or(header.len())];
    for want in ["dkim=pass", "header.d=sender.test", "spf=pass", "smtp.mailfrom=alice@sender.test", "dmarc=pass"] {
        assert!(header.contains(want), "{want} missing from {header}");
    }
    let status = got.lines().find(|l| l.starts_with("X-Moat-Spam-Status:")).unwrap();
    for want in ["DKIM_PASS", "DMARC_PASS", "SPF_PASS"] {
        assert!(status.contains(want), "{want} missing from {status}");
    }

    // A bank's name from an IP its SPF does not list, unsigned: DMARC fails under p=reject.
    let phish = "From: Bank <alerts@bank.test>\r\nTo: bob@example.com\r\nSubject: Verify\r\n\r\nClick.\r\n";
    let reply = send(moat.smtp(), "alerts@bank.test", &["bob@example.com"], phish).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Rejected by the DMARC policy of bank.test: the sender is not authenticated");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("DMARC_FAIL_REJECT") && log.contains("SPF_FAIL"), "{log}");
    assert!(moat.dns.queries().iter().any(|q| q == "_dmarc.bank.test TXT"), "{:?}", moat.dns.queries());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1, "the refused message was not delivered");
}

/// The headers spam software forges are judged in the gateway too, where the arrival is the clock and the
/// client's name counts as part of the trail: a forged Outlook Message-ID, a Date years ahead and a Gmail
/// address that Google's servers never handled add up to a quarantine; Gmail's own mail passes untouched.
#[tokio::test(flavor = "multi_thread")]
async fn forged_headers_are_judged_over_smtp() {
    let (sink, moat) = gateway().await;

    let forged = "From: Jane <jane.doe@gmail.com>\r\nTo: bob@example.com\r\nSubject: Hello\r\n\
                  Date: 1 Jan 2099 00:00:00 +0000\r\nMessage-ID: <00004a1c33b2$00002f1d$00007e21@gmail.com>\r\n\r\nHi.\r\n";
    let reply = send(moat.smtp(), "jane.doe@gmail.com", &["bob@example.com"], forged).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    for symbol in ["FORGED_OUTLOOK_MSGID", "DATE_IN_FUTURE", "FORGED_FREEMAIL"] {
        assert!(log.contains(symbol), "{symbol} missing: {log}");
    }
    assert!(log.contains("quarantined"), "5 + 3 + 3 reaches the quarantine threshold: {log}");

    let genuine = "Received: by mail-lf1-f41.google.com with SMTP id 2adb3069b0e04\r\n\
                   From: Carl <carl.jones@gmail.com>\r\nTo: bob@example.com\r\nSubject: Lunch\r\n\
                   Message-ID: <002a01dd8036$0c7e8a40$257b9ec0$@gmail.com>\r\n\r\nFriday?\r\n";
    let reply = send(moat.smtp(), "carl.jones@gmail.com", &["bob@example.com"], genuine).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await.text();
    assert!(got.contains("Subject: Lunch"), "only the genuine message is delivered: {got}");
    let status = got.lines().find(|l| l.starts_with("X-Moat-Spam-Status:")).unwrap();
    assert!(status.starts_with("X-Moat-Spam-Status: No"), "{status}");
    for symbol in ["FORGED_OUTLOOK_MSGID", "DATE_IN_FUTURE", "FORGED_FREEMAIL"] {
        assert!(!status.contains(symbol), "{symbol} on genuine mail: {status}");
    }
}

/// A sender's domain that does not exist is asked about once while the negative answer's SOA allows (RFC
/// 2308), as real zones send one; an answer without an SOA is asked again each time. The throughput benchmark
/// relies on the first: its test DNS serves SOAs so that Moat's lookups cost what they cost in production.
#[tokio::test(flavor = "multi_thread")]
async fn negative_answers_are_cached_as_long_as_their_soa_says() {
    let (_sink, moat) = gateway().await;
    let asked = |name: &str| moat.dns.queries().iter().filter(|q| *q == name).count();
    let message = |from: &str| format!("From: <{from}>\r\nTo: bob@example.com\r\nSubject: Hello\r\n\r\nHi.\r\n");
    for _ in 0..2 {
        let reply = send(moat.smtp(), "ann@gone.test", &["bob@example.com"], &message("ann@gone.test")).await.unwrap();
        assert!(reply.starts_with("250"), "{reply}");
    }
    assert_eq!(asked("gone.test TXT"), 2, "no SOA: asked for each message");
    moat.dns.cache_negative_answers(300);
    for _ in 0..3 {
        let reply =
            send(moat.smtp(), "ann@absent.test", &["bob@example.com"], &message("ann@absent.test")).await.unwrap();
        assert!(reply.starts_with("250"), "{reply}");
    }
    assert_eq!(asked("absent.test TXT"), 1, "{:?}", moat.dns.queries());
    assert_eq!(asked("_dmarc.absent.test TXT"), 1, "{:?}", moat.dns.queries());
}
