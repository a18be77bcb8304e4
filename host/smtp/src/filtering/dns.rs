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

/// A DNSBL answer that takes longer than this is treated as unknown.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

pub struct HickoryDns {
    resolver: TokioResolver,
    runtime: Handle,
}

impl HickoryDns {
    /// See [`resolver_config`]. Must be created inside the Tokio runtime the resolver runs on.
    pub fn new(nameserver: Option<SocketAddr>) -> Result<Self, String> {
        let (config, options) = resolver_config(nameserver)?;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?;
        Ok(Self { resolver, runtime: Handle::current() })
    }

    /// A domain's MX hosts and preferences, best first (for the console's Get SMTP).
    pub async fn mx(&self, domain: &str) -> Result<Vec<(String, u16)>, String> {
        let lookup = self.resolver.lookup(domain, RecordType::MX);
        let answer = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Err(_) => return Err(format!("the MX lookup of {domain} timed out")),
            Ok(Ok(answer)) => answer,
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => return Ok(Vec::new()),
            Ok(Err(e)) => return Err(format!("the MX lookup of {domain} failed: {e}")),
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

/// Where the server's lookups go: `nameserver` when configured (a local caching resolver, or a test server),
/// else the system's resolvers.
pub(super) fn resolver_config(nameserver: Option<SocketAddr>) -> Result<(ResolverConfig, ResolverOpts), String> {
    match nameserver {
        Some(addr) => {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            Ok((ResolverConfig::from_name_servers(vec![server]), ResolverOpts::default()))
        }
        None => hickory_resolver::system_conf::read_system_conf().map_err(|e| format!("no system DNS resolver: {e}")),
    }
}

impl Resolver for HickoryDns {
    fn lookup(&self, name: &str, kind: RecordKind) -> Result<Vec<String>, PluginDnsError> {
        let record_type = match kind {
            RecordKind::A => RecordType::A,
            RecordKind::Aaaa => RecordType::AAAA,
            RecordKind::Txt => RecordType::TXT,
            RecordKind::Ptr => RecordType::PTR,
        };
        let lookup = self.resolver.lookup(name, record_type);
        match self.runtime.block_on(tokio::time::timeout(LOOKUP_TIMEOUT, lookup)) {
            Err(_) => Err(Unavailable),
            Ok(Ok(answer)) => Ok(answer.answers().iter().filter_map(|r| rdata_text(&r.data)).collect()),
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => Ok(Vec::new()),
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
