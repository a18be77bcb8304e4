//! Which addresses Moat may connect to for a tenant: downstream hosts, sign-up callouts, Test SMTP and MX
//! hosts are names someone outside the operator chose, and without a policy they make Moat a scanner of its
//! own machine and network (loopback services, cloud metadata at 169.254.169.254, Moat's own listeners).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`); a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

/// A network that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a network (write it as 192.0.2.0/24 or 2001:db8::/32)")]
pub struct NotANetwork(String);

/// Why Moat will not connect to a host or an address for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error("cannot resolve {host}: {reason}")]
    Unresolved { host: String, reason: String },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("not connecting to {host}: {why}")]
    Refused { host: String, why: Refusal },
}

/// Why the destination policy refuses an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is one of Moat's own listeners")]
    OwnListener(SocketAddr),
    #[error("{addr} is in {network}, a network the operator does not allow (delivery.denied_networks)")]
    DeniedNetwork { addr: SocketAddr, network: Network },
}

impl FromStr for Network {
    type Err = NotANetwork;

    fn from_str(s: &str) -> Result<Self, NotANetwork> {
        let bad = || NotANetwork(s.to_owned());
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let base: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { base, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Networks refused unless the operator allows them: this machine (loopback), link-local (cloud metadata
/// services), "this network", and multicast.
pub fn default_denied() -> Vec<Network> {
    let v4 = |a, b, c, d, p| Network { base: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix: p };
    let v6 = |base: Ipv6Addr, p| Network { base: IpAddr::V6(base), prefix: p };
    vec![
        v4(127, 0, 0, 0, 8),
        v4(169, 254, 0, 0, 16),
        v4(0, 0, 0, 0, 8),
        v4(224, 0, 0, 0, 4),
        v6(Ipv6Addr::LOCALHOST, 128),
        v6(Ipv6Addr::UNSPECIFIED, 128),
        v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
    ]
}

/// The operator's policy for tenant-named destinations: an address in `denied` is refused unless `allowed`
/// also holds it; Moat's own listeners are refused always.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allowed: Vec<Network>,
    denied: Vec<Network>,
    own: Vec<SocketAddr>,
    resolver: Option<Dns>,
}

/// The `[dns]` resolver names are looked up with (the system's when none is set).
#[derive(Clone)]
struct Dns(hickory_resolver::TokioResolver);

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Destinations {
    pub fn new(allowed: Vec<Network>, denied: Vec<Network>) -> Self {
        Self { allowed, denied, own: Vec::new(), resolver: None }
    }

    /// Looks names up with `resolver` (the `[dns]` setting) instead of the system's resolver.
    pub fn with_resolver(mut self, resolver: hickory_resolver::TokioResolver) -> Self {
        self.resolver = Some(Dns(resolver));
        self
    }

    /// The `[dns]` resolver, when one is set.
    pub fn resolver(&self) -> Option<&hickory_resolver::TokioResolver> {
        self.resolver.as_ref().map(|dns| &dns.0)
    }

    /// Adds the addresses Moat itself listens on (known once the listeners are bound).
    pub fn with_own_listeners(mut self, own: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.own.extend(own);
        self
    }

    /// The addresses of `host:port` Moat may connect to on a tenant's behalf (`exempt`: the operator's own
    /// relay, any address). `Err` says why there is none: the name does not resolve, or the policy refuses
    /// every address it has. Every connection Moat makes for a tenant (delivery, callout, Test SMTP) resolves
    /// its host here.
    pub async fn addresses(&self, host: &str, port: u16, exempt: bool) -> Result<Vec<SocketAddr>, Unreachable> {
        let unresolved =
            |e: &dyn std::fmt::Display| Unreachable::Unresolved { host: host.to_owned(), reason: e.to_string() };
        let resolved: Vec<SocketAddr> = match (host.parse::<IpAddr>(), self.resolver()) {
            (Ok(ip), _) => vec![SocketAddr::new(ip, port)],
            (Err(_), Some(resolver)) => resolver
                .lookup_ip(format!("{}.", host.trim_end_matches('.')))
                .await
                .map_err(|e| unresolved(&e))?
                .iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            (Err(_), None) => tokio::net::lookup_host((host, port)).await.map_err(|e| unresolved(&e))?.collect(),
        };
        let mut refused = None;
        let permitted: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| exempt || self.permits(*addr).map_err(|why| refused = Some(why)).is_ok())
            .collect();
        match (permitted.is_empty(), refused) {
            (false, _) => Ok(permitted),
            (true, Some(why)) => Err(Unreachable::Refused { host: host.to_owned(), why }),
            (true, None) => Err(Unreachable::NoAddress(host.to_owned())),
        }
    }

    /// `Ok` when Moat may connect to `addr` on a tenant's behalf; `Err` says why not.
    pub fn permits(&self, addr: SocketAddr) -> Result<(), Refusal> {
        let ip = addr.ip().to_canonical();
        let is_own = self.own.iter().any(|own| {
            own.port() == addr.port()
                && (own.ip().to_canonical() == ip || own.ip().is_unspecified() && ip.is_loopback())
        });
        if is_own {
            return Err(Refusal::OwnListener(addr));
        }
        match self.denied.iter().find(|n| n.contains(ip)) {
            Some(network) if !self.allowed.iter().any(|n| n.contains(ip)) => {
                Err(Refusal::DeniedNetwork { addr, network: *network })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let n: Network = "192.0.2.0/24".parse().unwrap();
        assert!(n.contains("192.0.2.77".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.1".parse().unwrap()), "IPv4-mapped addresses count as IPv4");
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("192.0.2.1".parse().unwrap()));
        for bad in ["192.0.2.0/33", "example.com", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_link_local_and_own_listeners_are_refused_by_default() {
        let listener: SocketAddr = "0.0.0.0:25".parse().unwrap();
        let policy = Destinations::new(Vec::new(), default_denied()).with_own_listeners([listener]);
        for refused in ["127.0.0.1:6379", "[::1]:25", "169.254.169.254:80", "[fe80::1]:25", "0.0.0.0:25"] {
            assert!(policy.permits(refused.parse().unwrap()).is_err(), "{refused}");
        }
        for fine in ["10.0.0.7:25", "192.168.1.2:2525", "203.0.113.5:25"] {
            assert!(policy.permits(fine.parse().unwrap()).is_ok(), "{fine}");
        }
        let tests = Destinations::new(vec!["127.0.0.0/8".parse().unwrap()], default_denied())
            .with_own_listeners(["127.0.0.1:2525".parse().unwrap()]);
        assert!(tests.permits("127.0.0.1:40000".parse().unwrap()).is_ok(), "allowed carves out of denied");
        assert!(tests.permits("127.0.0.1:2525".parse().unwrap()).is_err(), "never Moat's own listener");
    }
}
