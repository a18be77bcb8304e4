//! Exercises every stage and host capability, so tests can see grants honoured and stage verdicts applied:
//! - connect: rejects HELO `reject.me`;
//! - mail-from: accepts senders at `trusted.test`;
//! - rcpt: greylists recipients starting with `grey` once per sender (kv counter);
//! - message: looks the client up in the `bl.example` DNSBL and outside any grant, says the direction it was
//!   told (`PROBE_DIRECTION`), counts messages in kv;
//! - learn: counts spam and ham labels in kv.
use moat_sdk::host::{self, HostError, RecordKind};
use moat_sdk::{Connection, Filter, Label, Message, Recipient, Verdict, export_filter};

struct Probe;

fn reversed(ip: &str) -> String {
    ip.split('.').rev().collect::<Vec<_>>().join(".")
}

impl Filter for Probe {
    fn on_connect(connection: &Connection) -> Verdict {
        if connection.helo == "reject.me" {
            return Verdict::reject(554, "5.7.1", "bad HELO").symbol("PROBE_HELO", 0.0, "reject.me");
        }
        Verdict::pass()
    }

    fn on_mail_from(_connection: &Connection, sender: &str) -> Verdict {
        if sender.ends_with("@trusted.test") {
            return Verdict::accept().symbol("PROBE_TRUSTED", -10.0, "trusted sender");
        }
        Verdict::pass()
    }

    fn on_rcpt(_connection: &Connection, sender: &str, recipient: &Recipient) -> Verdict {
        if !recipient.address.starts_with("grey") {
            return Verdict::pass();
        }
        match host::kv_incr(&format!("grey:{sender}:{}", recipient.address), 1, Some(3600)) {
            Ok(1) => Verdict::tempfail(451, "4.7.1", "greylisted, try again").symbol("PROBE_GREY", 0.0, "first try"),
            Ok(_) => Verdict::pass().symbol("PROBE_GREY_PASSED", 0.0, "retried"),
            Err(e) => Verdict::pass().symbol("PROBE_KV_ERROR", 0.0, &format!("{e:?}")),
        }
    }

    fn on_message(message: &Message) -> Verdict {
        let mut verdict = Verdict::pass();
        let ip = message.connection().client_ip;
        match host::dns_lookup(&format!("{}.bl.example", reversed(&ip)), RecordKind::A) {
            Ok(answers) if !answers.is_empty() => verdict = verdict.symbol("PROBE_DNSBL", 6.0, &answers.join(",")),
            Ok(_) => {}
            Err(HostError::Denied) => verdict = verdict.symbol("PROBE_DNS_DENIED", 0.0, "bl.example"),
            Err(e) => verdict = verdict.symbol("PROBE_DNS_ERROR", 0.0, &format!("{e:?}")),
        }
        if host::dns_lookup("example.org", RecordKind::Txt) == Err(HostError::Denied) {
            verdict = verdict.symbol("PROBE_OUTSIDE_DENIED", 0.0, "example.org is not granted");
        }
        let direction = match message.connection().direction {
            moat_sdk::Direction::Inbound => "inbound",
            moat_sdk::Direction::Outbound => "outbound",
        };
        verdict = verdict.symbol("PROBE_DIRECTION", 0.0, direction);
        match host::kv_incr("messages", 1, None) {
            Ok(n) => verdict.symbol("PROBE_COUNT", 0.0, &n.to_string()),
            Err(e) => verdict.symbol("PROBE_KV_DENIED", 0.0, &format!("{e:?}")),
        }
    }

    fn learn(_message: &Message, label: Label) {
        let key = if label == Label::Spam { "learned:spam" } else { "learned:ham" };
        let _ = host::kv_incr(key, 1, None);
    }
}

export_filter!(Probe);
