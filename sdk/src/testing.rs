//! Unit-test a filter natively, without a gateway: build a [`TestMessage`] (from `.eml` bytes, say), set up
//! a [`MockHost`] with the configuration, key-value entries and DNS answers the filter expects, and call the
//! filter's hooks through it. Available on native targets only.
//!
//! ```
//! use moat_sdk::testing::{MockHost, TestMessage};
//! use moat_sdk::{Filter, Message, Verdict, host};
//!
//! struct Counter;
//! impl Filter for Counter {
//!     fn on_message(message: &Message) -> Verdict {
//!         let seen = host::kv_incr("seen", 1, None).unwrap_or(0);
//!         Verdict::pass().symbol("SEEN", seen as f64, "messages seen so far")
//!     }
//! }
//!
//! let mut host = MockHost::new();
//! let message = TestMessage::from_eml(b"Subject: hi\r\n\r\nhello\r\n");
//! host.on_message::<Counter>(&message);
//! let verdict = host.on_message::<Counter>(&message);
//! assert_eq!(verdict.find_symbol("SEEN").unwrap().score, 2.0);
//! ```

use crate::host::{HostError, Level, RecordKind};
use crate::{Attachment, Authentication, Connection, Direction, Filter, Header, Label, Message, Recipient, Verdict};
use std::cell::RefCell;
use std::collections::HashMap;

/// A message as a test states it: parsed from `.eml` bytes, with an envelope and connection you can set.
#[derive(Debug, Clone)]
pub struct TestMessage {
    pub(crate) sender: String,
    pub(crate) recipients: Vec<Recipient>,
    pub(crate) connection: Connection,
    pub(crate) authentication: Authentication,
    pub(crate) headers: Vec<Header>,
    pub(crate) subject: Option<String>,
    pub(crate) text: Vec<String>,
    pub(crate) html: Vec<String>,
    pub(crate) attachments: Vec<(Attachment, Vec<u8>)>,
    pub(crate) raw: Vec<u8>,
    recipients_stated: bool,
}

impl TestMessage {
    /// Parses an RFC 5322 message. The envelope sender defaults to the From address, the recipients to the
    /// To addresses (tenant "default"), the client to 192.0.2.1.
    pub fn from_eml(raw: &[u8]) -> Self {
        // The very view the gateway gives plugins (`moat-message`): the same header list, parts and sniffing.
        let mail = moat_message::Mail::parse(raw.to_vec());
        TestMessage {
            sender: mail.from_address().unwrap_or_default().to_owned(),
            recipients: mail.to_addresses().iter().map(|a| recipient(a, "default")).collect(),
            connection: Connection {
                client_ip: "192.0.2.1".into(),
                ptr: None,
                helo: "client.example".into(),
                tls: None,
                direction: Direction::Inbound,
            },
            authentication: Authentication::default(),
            headers: mail.headers().iter().map(|h| Header { name: h.name.clone(), value: h.value.clone() }).collect(),
            subject: mail.subject().map(str::to_owned),
            text: mail.text_parts().to_vec(),
            html: mail.html_parts().to_vec(),
            attachments: mail
                .attachments()
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let attachment = Attachment {
                        index: i as u32,
                        name: a.name.clone(),
                        declared_type: a.declared_type.clone(),
                        sniffed_type: a.sniffed_type.clone(),
                        size: a.bytes.len() as u64,
                    };
                    (attachment, a.bytes.clone())
                })
                .collect(),
            raw: raw.to_vec(),
            recipients_stated: false,
        }
    }

    /// Sets the envelope sender.
    pub fn sender(mut self, sender: &str) -> Self {
        self.sender = sender.into();
        self
    }

    /// Replaces the envelope recipients with `address` (tenant `tenant`); call again to add more.
    pub fn recipient(mut self, address: &str, tenant: &str) -> Self {
        if !std::mem::replace(&mut self.recipients_stated, true) {
            self.recipients.clear();
        }
        self.recipients.push(recipient(address, tenant));
        self
    }

    /// Sets which way the message goes (inbound by default).
    pub fn direction(mut self, direction: Direction) -> Self {
        self.connection.direction = direction;
        self
    }

    /// Sets the client's address.
    pub fn client_ip(mut self, ip: &str) -> Self {
        self.connection.client_ip = ip.into();
        self
    }

    /// Sets the SPF/DKIM/DMARC results the host would report.
    pub fn authentication(mut self, authentication: Authentication) -> Self {
        self.authentication = authentication;
        self
    }
}

fn recipient(address: &str, tenant: &str) -> Recipient {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
    Recipient { address: address.into(), tenant: tenant.into(), domain, mailbox: address.into() }
}

/// A stored value and when it expires (clock milliseconds).
type Stored = (Vec<u8>, Option<u64>);

/// What the host offers, as a test sets it up; inspect it after the calls (kv contents, logs).
#[derive(Debug, Clone)]
pub struct MockHost {
    /// The configuration [`crate::host::config`] returns.
    pub config: String,
    /// The clock.
    pub now_ms: u64,
    /// Everything logged, in order.
    pub logs: Vec<(Level, String)>,
    kv: Option<HashMap<String, Stored>>,
    shared_kv: HashMap<String, Vec<u8>>,
    dns: Option<HashMap<(String, RecordKind), Vec<String>>>,
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static HOST: RefCell<Option<MockHost>> = const { RefCell::new(None) };
}

/// Runs `f` on the mock host of the call under way.
pub(crate) fn with_host<R>(f: impl FnOnce(&mut MockHost) -> R) -> R {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let host = h.as_mut().expect("moat_sdk::host called outside the gateway: run the filter through a MockHost");
        f(host)
    })
}

impl MockHost {
    /// Config `{}`, a fixed clock, key-value storage granted and empty, DNS not granted.
    pub fn new() -> Self {
        Self {
            config: "{}".into(),
            now_ms: 1_700_000_000_000,
            logs: Vec::new(),
            kv: Some(HashMap::new()),
            shared_kv: HashMap::new(),
            dns: None,
        }
    }

    /// Sets the JSON configuration.
    pub fn config(mut self, json: &str) -> Self {
        self.config = json.into();
        self
    }

    /// Denies key-value storage, as a chain entry without `kv = true` does.
    pub fn deny_kv(mut self) -> Self {
        self.kv = None;
        self
    }

    /// Grants DNS and adds an answer.
    pub fn dns(mut self, name: &str, kind: RecordKind, answers: &[&str]) -> Self {
        let key = (name.trim_end_matches('.').to_ascii_lowercase(), kind);
        self.dns.get_or_insert_with(HashMap::new).entry(key).or_default().extend(answers.iter().map(|a| a.to_string()));
        self
    }

    /// Grants DNS with no answers: every name does not exist.
    pub fn dns_granted(mut self) -> Self {
        self.dns.get_or_insert_with(HashMap::new);
        self
    }

    /// A stored value, as the filter left it.
    pub fn kv(&self, key: &str) -> Option<&[u8]> {
        self.kv.as_ref()?.get(key).filter(|(_, exp)| exp.is_none_or(|e| e > self.now_ms)).map(|(v, _)| v.as_slice())
    }

    /// Stores a value before the filter runs (lists an admin edited, a model already learned).
    pub fn set_kv(&mut self, key: &str, value: &[u8]) {
        self.kv.get_or_insert_with(HashMap::new).insert(key.into(), (value.to_vec(), None));
    }

    /// Stores a value in the storage the operator shares with every tenant (a signature database loaded).
    pub fn set_shared_kv(&mut self, key: &str, value: &[u8]) {
        self.shared_kv.insert(key.into(), value.to_vec());
    }

    /// Advances the clock (TTLs expire).
    pub fn advance_ms(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    fn call<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // Moved in and back, not cloned: a clone per call made every call cost the whole storage (a trained
        // classifier's table is hundreds of thousands of keys).
        HOST.with(|h| *h.borrow_mut() = Some(std::mem::take(self)));
        let result = f();
        if let Some(after) = HOST.with(|h| h.borrow_mut().take()) {
            *self = after;
        }
        result
    }

    /// Calls `F::configure`.
    pub fn configure<F: Filter>(&mut self, config: &str) -> Result<(), String> {
        self.call(|| F::configure(config))
    }

    /// Calls `F::on_connect`.
    pub fn on_connect<F: Filter>(&mut self, connection: &Connection) -> Verdict {
        self.call(|| F::on_connect(connection))
    }

    /// Calls `F::on_mail_from`.
    pub fn on_mail_from<F: Filter>(&mut self, connection: &Connection, sender: &str) -> Verdict {
        self.call(|| F::on_mail_from(connection, sender))
    }

    /// Calls `F::on_rcpt` for each of the message's recipients, as the gateway would; returns the verdicts.
    pub fn on_rcpt<F: Filter>(&mut self, message: &TestMessage) -> Vec<Verdict> {
        self.call(|| message.recipients.iter().map(|r| F::on_rcpt(&message.connection, &message.sender, r)).collect())
    }

    /// Calls `F::on_message`.
    pub fn on_message<F: Filter>(&mut self, message: &TestMessage) -> Verdict {
        self.call(|| F::on_message(&Message::from_test(message)))
    }

    /// Calls `F::learn`.
    pub fn learn<F: Filter>(&mut self, message: &TestMessage, label: Label) {
        self.call(|| F::learn(&Message::from_test(message), label))
    }

    pub(crate) fn kv_get_shared(&mut self, keys: &[impl AsRef<str>]) -> Result<Vec<Option<Vec<u8>>>, HostError> {
        self.kv.as_ref().ok_or(HostError::Denied)?;
        Ok(keys.iter().map(|k| self.shared_kv.get(k.as_ref()).cloned()).collect())
    }

    pub(crate) fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let now = self.now_ms;
        let kv = self.kv.as_mut().ok_or(HostError::Denied)?;
        Ok(kv.get(key).filter(|(_, exp)| exp.is_none_or(|e| e > now)).map(|(v, _)| v.clone()))
    }

    pub(crate) fn kv_set(&mut self, key: &str, value: &[u8], ttl: Option<u32>) -> Result<(), HostError> {
        let expiry = ttl.map(|t| self.now_ms + u64::from(t) * 1000);
        self.kv.as_mut().ok_or(HostError::Denied)?.insert(key.into(), (value.to_vec(), expiry));
        Ok(())
    }

    pub(crate) fn kv_incr(&mut self, key: &str, delta: i64, ttl: Option<u32>) -> Result<i64, HostError> {
        let now = self.now_ms;
        let kv = self.kv.as_mut().ok_or(HostError::Denied)?;
        let live = kv.get(key).filter(|(_, exp)| exp.is_none_or(|e| e > now)).cloned();
        let (value, expiry) = match live {
            Some((v, exp)) => (<[u8; 8]>::try_from(v).map_or(0, i64::from_le_bytes) + delta, exp),
            None => (delta, ttl.map(|t| now + u64::from(t) * 1000)),
        };
        kv.insert(key.into(), (value.to_le_bytes().to_vec(), expiry));
        Ok(value)
    }

    pub(crate) fn dns_lookup(&mut self, name: &str, kind: RecordKind) -> Result<Vec<String>, HostError> {
        let dns = self.dns.as_ref().ok_or(HostError::Denied)?;
        Ok(dns.get(&(name.trim_end_matches('.').to_ascii_lowercase(), kind)).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness gives a filter what the gateway gives it: each `Received:` its own value, the subject
    /// decoded (it once gave every occurrence the first one's value).
    #[test]
    fn each_header_occurrence_has_its_own_value() {
        let message = TestMessage::from_eml(
            b"Received: from a by mx1\r\nReceived: from b by mx2\r\nReceived: from c by mx3\r\n\
              Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody\r\n",
        );
        let received: Vec<&str> =
            message.headers.iter().filter(|h| h.name == "Received").map(|h| h.value.as_str()).collect();
        assert_eq!(received, ["from a by mx1", "from b by mx2", "from c by mx3"]);
        assert_eq!(message.subject.as_deref(), Some("café"));
    }
}
