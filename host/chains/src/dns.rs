//! DNS for plugins through the server's resolver (the zones a chain entry grants are checked by the filter
//! runtime before a query gets here).

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::RecordType;
use moat_filter::DnsError::Unavailable;
use moat_filter::{DnsError as PluginDnsError, RecordKind, Resolver};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::runtime::Handle;

/// Why the server's resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ResolverSetupError {
    #[error("no system DNS resolver: {0}")]
    NoSystemResolver(String),
    #[error("cannot set up the DNS resolver: {0}")]
    Build(String),
}

/// Why a domain's MX records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MxLookupError {
    #[error("the MX lookup of {0} timed out")]
    Timeout(String),
    #[error("the MX lookup of {domain} failed: {reason}")]
    Failed { domain: String, reason: String },
}

/// A DNSBL answer that takes longer than this is treated as unknown.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// What a lookup may wait while the resolver is known to be failing (see [`Outage`]).
const OUTAGE_TIMEOUT: Duration = Duration::from_millis(500);

/// Remembers that lookups recently timed out: while a resolver drops or refuses queries, every message would
/// otherwise wait out the full deadline of each lookup, and enough such messages hold every session. During
/// an outage lookups get a short deadline; the first one answered in time ends it.
#[derive(Debug, Default)]
pub struct Outage {
    /// Unix milliseconds of the last timeout; 0 when lookups answer.
    since_ms: std::sync::atomic::AtomicU64,
}

/// An outage older than this is forgotten (the next lookup gets its full deadline again).
const OUTAGE_MEMORY: Duration = Duration::from_secs(60);

impl Outage {
    fn now_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    /// `normal`, or `short` while an outage lasts.
    pub fn deadline(&self, normal: Duration, short: Duration) -> Duration {
        let since = self.since_ms.load(std::sync::atomic::Ordering::Relaxed);
        if since != 0 && Self::now_ms().saturating_sub(since) < OUTAGE_MEMORY.as_millis() as u64 {
            normal.min(short)
        } else {
            normal
        }
    }

    pub fn timed_out(&self) {
        self.since_ms.store(Self::now_ms().max(1), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn answered(&self) {
        self.since_ms.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

pub struct HickoryDns {
    resolver: TokioResolver,
    runtime: Handle,
    outage: Outage,
}

impl HickoryDns {
    /// See [`resolver_config`]. Must be created inside the Tokio runtime the resolver runs on.
    pub fn new(nameserver: Option<SocketAddr>) -> Result<Self, ResolverSetupError> {
        Ok(Self { resolver: tokio_resolver(nameserver)?, runtime: Handle::current(), outage: Outage::default() })
    }

    /// A domain's MX hosts and preferences, best first (for the console's Get SMTP).
    pub async fn mx(&self, domain: &str) -> Result<Vec<(String, u16)>, MxLookupError> {
        let lookup = self.resolver.lookup(domain, RecordType::MX);
        let answer = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Err(_) => return Err(MxLookupError::Timeout(domain.to_owned())),
            Ok(Ok(answer)) => answer,
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => return Ok(Vec::new()),
            Ok(Err(e)) => return Err(MxLookupError::Failed { domain: domain.to_owned(), reason: e.to_string() }),
        };
        let mut hosts: Vec<(String, u16)> = answer
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::MX(mx) => {
                    Some((mx.exchange.to_ascii().trim_end_matches('.').to_ascii_lowercase(), mx.preference))
                }
                _ => None,
            })
            .collect();
        hosts.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(hosts)
    }
}

/// The resolver of `[dns]` for the server's own lookups (delivery's MX and host addresses): see
/// [`resolver_config`].
pub fn tokio_resolver(nameserver: Option<SocketAddr>) -> Result<TokioResolver, ResolverSetupError> {
    let (config, options) = resolver_config(nameserver)?;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|e| ResolverSetupError::Build(e.to_string()))
}

/// Where the server's lookups go: `nameserver` when configured (a local caching resolver, or a test server),
/// else the system's resolvers.
pub fn resolver_config(nameserver: Option<SocketAddr>) -> Result<(ResolverConfig, ResolverOpts), ResolverSetupError> {
    match nameserver {
        Some(addr) => {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            Ok((ResolverConfig::from_name_servers(vec![server]), fail_fast(ResolverOpts::default())))
        }
        None => hickory_resolver::system_conf::read_system_conf()
            .map(|(config, options)| (config, fail_fast(options)))
            .map_err(|e| ResolverSetupError::NoSystemResolver(e.to_string())),
    }
}

/// One try per server with a short wait: callers bound their own lookups (3 s for plugins, 8 s for a
/// message's SPF/DKIM/DMARC), and a server that drops queries must not make each query wait twice.
fn fail_fast(mut options: ResolverOpts) -> ResolverOpts {
    options.timeout = Duration::from_secs(2);
    options.attempts = 1;
    options
}

impl Resolver for HickoryDns {
    fn lookup(&self, name: &str, kind: RecordKind) -> Result<Vec<String>, PluginDnsError> {
        self.lookup_within(name, kind, LOOKUP_TIMEOUT)
    }

    fn lookup_within(&self, name: &str, kind: RecordKind, within: Duration) -> Result<Vec<String>, PluginDnsError> {
        let within = self.outage.deadline(within.min(LOOKUP_TIMEOUT), OUTAGE_TIMEOUT);
        if within.is_zero() {
            return Err(Unavailable);
        }
        let record_type = match kind {
            RecordKind::A => RecordType::A,
            RecordKind::Aaaa => RecordType::AAAA,
            RecordKind::Txt => RecordType::TXT,
            RecordKind::Ptr => RecordType::PTR,
        };
        let lookup = self.resolver.lookup(name, record_type);
        match crate::slots::without_slot(|| self.runtime.block_on(tokio::time::timeout(within, lookup))) {
            Err(_) => {
                self.outage.timed_out();
                Err(Unavailable)
            }
            Ok(Ok(answer)) => {
                self.outage.answered();
                Ok(answer.answers().iter().filter_map(|r| rdata_text(&r.data)).collect())
            }
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => {
                self.outage.answered();
                Ok(Vec::new())
            }
            Ok(Err(e)) => {
                tracing::debug!(name, "plugin DNS lookup failed: {e}");
                Err(Unavailable)
            }
        }
    }
}

fn rdata_text(data: &hickory_resolver::proto::rr::RData) -> Option<String> {
    use hickory_resolver::proto::rr::RData;
    match data {
        RData::A(a) => Some(a.0.to_string()),
        RData::AAAA(a) => Some(a.0.to_string()),
        RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_owned()),
        RData::TXT(t) => Some(t.txt_data.iter().map(|d| String::from_utf8_lossy(d)).collect()),
        _ => None,
    }
}
