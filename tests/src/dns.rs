//! A DNS server on loopback for one test: answers from records the test sets (`NAME KIND VALUE` lines,
//! kinds A, AAAA, TXT, PTR, MX as `PREFERENCE HOST`), NXDOMAIN for every other name, so nothing a test does
//! ever asks the real DNS. A negative answer carries no SOA unless [`TestDns::cache_negative_answers`] asks for
//! one, so by default a resolver asks again each time and a test may add a name it was first told was missing.

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, PTR, SOA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

type Zone = HashMap<(String, RecordType), Vec<RData>>;

#[derive(Clone)]
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<RwLock<Zone>>,
    queries: Arc<RwLock<Vec<String>>>,
    /// Seconds a negative answer may be cached (its SOA's minimum); 0: no SOA.
    negative_ttl: Arc<AtomicU32>,
}

impl TestDns {
    pub async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind the test DNS server");
        let dns = Self {
            addr: socket.local_addr().unwrap(),
            zone: Arc::default(),
            queries: Arc::default(),
            negative_ttl: Arc::default(),
        };
        let server = dns.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                if let Some(reply) = server.answer(&buffer[..n]) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        dns
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers "no such name" and "no such record" as a zone's server does (RFC 2308: with the zone's SOA,
    /// whose minimum says how long the answer may be cached), so resolvers cache them for `seconds`, as they
    /// do those of the real DNS. The throughput benchmark uses it: without it every message's SPF and DMARC
    /// lookups of names that do not exist went over UDP again.
    pub fn cache_negative_answers(&self, seconds: u32) {
        self.negative_ttl.store(seconds, Ordering::Relaxed);
    }

    /// Adds records, one `NAME KIND VALUE` per line (TXT values may contain spaces).
    pub fn add(&self, records: &str) {
        let mut zone = self.zone.write().unwrap();
        for line in records.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(name), Some(kind), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
                panic!("bad test DNS record: {line}");
            };
            let value = value.trim();
            let (kind, data) = match kind.to_ascii_uppercase().as_str() {
                "A" => (RecordType::A, RData::A(A(value.parse().expect("IPv4 address")))),
                "AAAA" => (RecordType::AAAA, RData::AAAA(AAAA(value.parse().expect("IPv6 address")))),
                "TXT" => (RecordType::TXT, RData::TXT(TXT::new(chunks(value)))),
                "PTR" => (RecordType::PTR, RData::PTR(PTR(fqdn(value)))),
                "MX" => {
                    let (preference, host) = value.split_once(' ').expect("MX value: PREFERENCE HOST");
                    (RecordType::MX, RData::MX(MX::new(preference.parse().expect("MX preference"), fqdn(host))))
                }
                other => panic!("test DNS cannot serve {other} records"),
            };
            zone.entry((key(name), kind)).or_default().push(data);
        }
    }

    /// Every name asked so far, as `NAME KIND`.
    pub fn queries(&self) -> Vec<String> {
        self.queries.read().unwrap().clone()
    }

    fn answer(&self, request: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(request).ok()?;
        let query = request.queries.first()?.clone();
        let name = key(&query.name.to_ascii());
        self.queries.write().unwrap().push(format!("{name} {}", query.query_type));
        let zone = self.zone.read().unwrap();
        let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
        reply.metadata.message_type = MessageType::Response;
        reply.metadata.authoritative = true;
        reply.metadata.recursion_desired = request.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.add_query(query.clone());
        match zone.get(&(name.clone(), query.query_type)) {
            Some(records) => {
                for data in records {
                    reply.add_answer(Record::from_rdata(query.name.clone(), 60, data.clone()));
                }
            }
            None => {
                // A name that exists without this type is "no such record", not "no such name".
                if !zone.keys().any(|(n, _)| *n == name) {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                }
                let ttl = self.negative_ttl.load(Ordering::Relaxed);
                if ttl > 0 {
                    reply.add_authority(negative_soa(&name, ttl));
                }
            }
        }
        reply.to_vec().ok()
    }
}

/// The SOA of the name's top-level zone, as its server would send it with a negative answer.
fn negative_soa(name: &str, ttl: u32) -> Record {
    let apex = fqdn(name.rsplit('.').next().unwrap_or(name));
    let soa = SOA::new(fqdn("ns.test"), fqdn("hostmaster.test"), 1, 3600, 600, 86400, ttl);
    Record::from_rdata(apex, ttl, RData::SOA(soa))
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{}.", key(name))).expect("a DNS name")
}

/// TXT strings are at most 255 bytes each; longer values (DKIM keys) are split as zone files do.
fn chunks(value: &str) -> Vec<String> {
    let value = value.trim_matches('"');
    value.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect()
}
