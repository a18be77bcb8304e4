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
use crate::{Attachment, Authentication, Connection, Filter, Header, Label, Message, Recipient, Verdict};
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
        use mail_parser::MimeHeaders;
        let parsed = mail_parser::MessageParser::default().parse(raw);
        let mut message = TestMessage {
            sender: String::new(),
            recipients: Vec::new(),
            connection: Connection {
                client_ip: "192.0.2.1".into(),
                ptr: None,
                helo: "client.example".into(),
                tls: None,
            },
            authentication: Authentication::default(),
            headers: Vec::new(),
            subject: None,
            text: Vec::new(),
            html: Vec::new(),
            attachments: Vec::new(),
            raw: raw.to_vec(),
            recipients_stated: false,
        };
        let Some(m) = parsed else { return message };
        message.headers = m
            .headers()
            .iter()
            .map(|h| Header {
                name: h.name().to_owned(),
                value: m.header_raw(h.name()).map(|v| v.trim().to_owned()).unwrap_or_default(),
            })
            .collect();
        message.subject = m.subject().map(str::to_owned);
        message.text = (0..m.text_body_count()).filter_map(|i| m.body_text(i)).map(|t| t.into_owned()).collect();
        message.html = (0..m.html_body_count()).filter_map(|i| m.body_html(i)).map(|t| t.into_owned()).collect();
        for (i, part) in m.attachments().enumerate() {
            let declared_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            let bytes = part.contents().to_vec();
            let attachment = Attachment {
                index: i as u32,
                name: part.attachment_name().map(str::to_owned),
                declared_type,
                sniffed_type: sniff(&bytes).into(),
                size: bytes.len() as u64,
            };
            message.attachments.push((attachment, bytes));
        }
        let first =
            |a: Option<&mail_parser::Address>| a.and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_owned);
        message.sender = first(m.from()).unwrap_or_default();
        let to: Vec<String> =
            m.to().map(|a| a.iter().filter_map(|a| a.address()).map(str::to_owned).collect()).unwrap_or_default();
        message.recipients = to.iter().map(|a| recipient(a, "default")).collect();
        message
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

/// The same magic numbers the host recognizes (`moat-filter`'s message.rs; keep the two in step).
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [b'M', b'Z', ..] => "application/x-msdownload",
        [0x7f, b'E', b'L', b'F', ..] => "application/x-executable",
        [b'P', b'K', 3, 4, ..] => "application/zip",
        [b'%', b'P', b'D', b'F', ..] => "application/pdf",
        [0xd0, 0xcf, 0x11, 0xe0, ..] => "application/x-ole-storage",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'a', b'r', b'!', ..] => "application/x-rar-compressed",
        _ if bytes.iter().take(512).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) => "text/plain",
        _ => "application/octet-stream",
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
        HOST.with(|h| *h.borrow_mut() = Some(self.clone()));
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

    pub(crate) fn kv_get_shared(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, HostError> {
        self.kv.as_ref().ok_or(HostError::Denied)?;
        Ok(keys.iter().map(|k| self.shared_kv.get(k).cloned()).collect())
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
