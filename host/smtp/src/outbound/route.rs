//! Where mail for a route (a domain) goes: the protected domain's downstream hosts, or, for any other domain
//! (bounces to outside senders), the configured relay or the domain's MX hosts.

use super::networks::Destinations;
use super::status::Failure;
use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use moat_store::{DirectoryCache, DownstreamHost, Store};
use rand::seq::SliceRandom;
use std::time::Duration;

/// How long a delivery may still use a domain's old downstream hosts after an admin changes them.
const DOWNSTREAM_REFRESH: Duration = Duration::from_secs(1);

/// One host to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// The operator's own relay: exempt from the destination policy, which bounds what tenants and outside
    /// senders can make Moat connect to.
    pub operators: bool,
}

pub struct Router {
    store: Store,
    /// Protected domains' downstream hosts, asked of the store once per directory change, not per delivery.
    downstream: DirectoryCache<Vec<DownstreamHost>>,
    relay: Option<Target>,
    resolver: Option<TokioResolver>,
    destinations: Destinations,
    mx_port: u16,
}

impl Router {
    pub fn new(
        store: Store,
        relay: Option<&str>,
        destinations: Destinations,
        mx_port: u16,
    ) -> Result<Self, crate::SetupError> {
        let relay = match relay {
            Some(spec) => {
                let (host, port) = spec.rsplit_once(':').unwrap_or((spec, "25"));
                let port = port.parse().map_err(|_| crate::ConfigError::RelayPort(spec.to_owned()))?;
                Some(Target { host: host.trim_matches(['[', ']']).to_owned(), port, operators: true })
            }
            None => None,
        };
        // The `[dns]` resolver; without it and without a usable system resolver, MX delivery reports a
        // temporary failure instead of refusing to start.
        let resolver = match destinations.resolver() {
            Some(resolver) => Some(resolver.clone()),
            None => TokioResolver::builder_tokio().ok().and_then(|b| b.build().ok()),
        };
        let downstream = DirectoryCache::new(store.clone(), DOWNSTREAM_REFRESH);
        Ok(Self { store, downstream, relay, resolver, destinations, mx_port })
    }

    pub fn destinations(&self) -> &Destinations {
        &self.destinations
    }

    /// The hosts to try for `route`, best first.
    pub async fn targets(&self, route: &str) -> Result<Vec<Target>, Failure> {
        if let Some(hosts) = self.downstream_hosts(route).await? {
            if hosts.is_empty() {
                return Err(Failure::temporary(format!("no downstream host configured for {route}")));
            }
            return Ok(by_priority(hosts));
        }
        if let Some(relay) = &self.relay {
            return Ok(vec![relay.clone()]);
        }
        self.mx_targets(route).await
    }

    /// A protected domain's downstream hosts (`None`: not a protected domain).
    async fn downstream_hosts(&self, route: &str) -> Result<Option<Vec<DownstreamHost>>, Failure> {
        let (known, ticket) = self.downstream.get(route).await;
        if known.is_some() {
            return Ok(known);
        }
        let hosts = self.store.route_hosts(route).await.map_err(|e| Failure::temporary(format!("store error: {e}")))?;
        if let Some(hosts) = &hosts {
            self.downstream.remember(ticket, route, hosts.clone());
        }
        Ok(hosts)
    }

    async fn mx_targets(&self, domain: &str) -> Result<Vec<Target>, Failure> {
        let resolver = self.resolver.as_ref().ok_or_else(|| Failure::temporary("no DNS resolver configured"))?;
        match resolver.mx_lookup(format!("{domain}.")).await {
            Ok(lookup) => {
                let mut hosts: Vec<DownstreamHost> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some(DownstreamHost {
                            host: mx.exchange.to_ascii().trim_end_matches('.').to_owned(),
                            port: self.mx_port,
                            priority: u32::from(mx.preference),
                        }),
                        _ => None,
                    })
                    .collect();
                // RFC 7505: a single MX of "." says the domain accepts no mail.
                if hosts.len() == 1 && hosts[0].host.is_empty() {
                    return Err(Failure::permanent(format!("{domain} accepts no mail (null MX)")));
                }
                hosts.retain(|h| !h.host.is_empty());
                Ok(by_priority(hosts))
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no))) if no.response_code == ResponseCode::NXDomain => {
                Err(Failure::permanent(format!("domain {domain} does not exist")))
            }
            // No MX: the domain itself is the implicit MX (RFC 5321 §5.1).
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => {
                Ok(vec![Target { host: domain.to_owned(), port: self.mx_port, operators: false }])
            }
            Err(e) => Err(Failure::temporary(format!("MX lookup for {domain} failed: {e}"))),
        }
    }
}

/// Lowest priority value first; hosts of equal priority in random order, so they share the load.
fn by_priority(mut hosts: Vec<DownstreamHost>) -> Vec<Target> {
    hosts.shuffle(&mut rand::rng());
    hosts.sort_by_key(|h| h.priority);
    hosts.into_iter().map(|h| Target { host: h.host, port: h.port, operators: false }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_priority_first_and_equal_priorities_spread() {
        let h = |host: &str, priority| DownstreamHost { host: host.into(), port: 25, priority };
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let order = by_priority(vec![h("backup", 20), h("a", 10), h("b", 10)]);
            assert_eq!(order[2].host, "backup");
            firsts.insert(order[0].host.clone());
        }
        assert_eq!(firsts.len(), 2, "both equal-priority hosts come first sometimes");
    }
}
