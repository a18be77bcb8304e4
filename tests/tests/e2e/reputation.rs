//! The reputation layer over real SMTP: greylisting (first try 451, a retry after the delay 250, a domain
//! that opted out never waits), a DNSBL hit answered by the loopback test DNS server, and the message rate
//! limit.

use moat_tests::{Backend, Client, Moat, Sink, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

async fn moat(sink: &Sink) -> Moat {
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    let downstream = format!("{}:{}:10", sink.addr.ip(), sink.addr.port());
    moat.protect("example.com", std::slice::from_ref(&downstream), &["bob"]);
    moat.protect("optout.test", &[downstream], &["ann"]);
    moat
}

fn chain(moat: &Moat, entry: &str) {
    let toml = format!("[[entry]]\nplugin = \"reputation\"\nkv = true\n{entry}");
    let out = moat.set_chain(&toml, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn reloaded() {
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
}

/// Opens a session and gives MAIL FROM and RCPT TO; returns the client and the RCPT reply.
async fn rcpt(moat: &Moat, from: &str, to: &str) -> (Client, String) {
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO mx.sender.test\r\n").await.unwrap();
    assert!(c.cmd(&format!("MAIL FROM:<{from}>\r\n")).await.unwrap().starts_with("250"));
    let reply = c.cmd(&format!("RCPT TO:<{to}>\r\n")).await.unwrap();
    (c, reply)
}

#[tokio::test(flavor = "multi_thread")]
async fn greylisting_defers_first_tries_and_lets_retries_through() {
    let sink = Sink::start().await;
    let moat = moat(&sink).await;
    chain(&moat, "[entry.config.greylisting]\ndelay = 2\nskip_domains = [\"optout.test\"]\n");
    reloaded().await;

    let (_, first) = rcpt(&moat, "alice@sender.test", "bob@example.com").await;
    assert_eq!(first, "451 4.7.1 Greylisted, please try again later");
    let (_, opted_out) = rcpt(&moat, "alice@sender.test", "ann@optout.test").await;
    assert_eq!(opted_out, "250 2.1.5 Recipient OK", "optout.test is never greylisted");
    let (_, too_soon) = rcpt(&moat, "alice@sender.test", "bob@example.com").await;
    assert!(too_soon.starts_with("451 4.7.1"), "{too_soon}");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (mut c, retry) = rcpt(&moat, "alice@sender.test", "bob@example.com").await;
    assert_eq!(retry, "250 2.1.5 Recipient OK");
    c.cmd("DATA\r\n").await.unwrap();
    let reply = c.cmd("Subject: hello\r\n\r\nHello after waiting.\r\n.\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    assert!(got.text().contains("Hello after waiting."));
    let (_, again) = rcpt(&moat, "alice@sender.test", "bob@example.com").await;
    assert_eq!(again, "250 2.1.5 Recipient OK", "a triplet that passed is not greylisted again");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("GREYLIST_PASSED"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dnsbl_listing_refuses_and_the_rate_limit_slows_senders_down() {
    let sink = Sink::start().await;
    let moat = moat(&sink).await;
    moat.dns.add("1.0.0.127.bl.test A 127.0.0.2\n1.0.0.127.bl.test TXT listed for testing");
    chain(
        &moat,
        "dns = [\"bl.test\"]\n[entry.config]\nreject_at = 5.0\ndnsbl = [{ zone = \"bl.test\", weight = 6.0 }]\n",
    );
    reloaded().await;
    let (_, refused) = rcpt(&moat, "alice@sender.test", "bob@example.com").await;
    assert_eq!(refused, "554 5.7.1 Client host 127.0.0.1 is on block lists");
    assert!(moat.dns.queries().contains(&"1.0.0.127.bl.test A".to_string()), "{:?}", moat.dns.queries());

    chain(&moat, "[entry.config.rate]\nmessages_per_ip = 3\n");
    reloaded().await;
    // The DNSBL transaction counted too, and a minute may turn over once: the limit of 3 lets 2 to 4 through.
    let mut accepted = 0;
    let refusal = loop {
        let (_, reply) = rcpt(&moat, "alice@sender.test", "bob@example.com").await;
        if reply != "250 2.1.5 Recipient OK" {
            break reply;
        }
        accepted += 1;
        assert!(accepted <= 4, "the rate limit never applied");
    };
    assert!(accepted >= 2, "refused too early: {accepted}");
    assert_eq!(refusal, "451 4.7.1 Too many messages from your IP, slow down and retry later");
}
