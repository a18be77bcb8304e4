use crate::DirectoryError;
use moat_store::DownstreamHost;

/// Parses a downstream host written `HOST[:PORT[:PRIORITY]]`, with an IPv6 address in brackets
/// (`[2001:db8::25]:25:10`). Port defaults to 25 and priority to 10.
pub fn parse_downstream(spec: &str) -> Result<DownstreamHost, DirectoryError> {
    let bad = |why: &str| DirectoryError::Downstream { spec: spec.to_owned(), why: why.to_owned() };
    let (host, rest) = if let Some(v6) = spec.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').ok_or_else(|| bad("missing ] after the IPv6 address"))?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad("not an IPv6 address"))?;
        (host.to_owned(), rest.strip_prefix(':').unwrap_or(rest))
    } else {
        let (host, rest) = spec.split_once(':').unwrap_or((spec, ""));
        (host.to_ascii_lowercase(), rest)
    };
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)) {
        return Err(bad("the host must be a hostname or an IP address"));
    }
    let mut parts = rest.split(':').filter(|p| !p.is_empty());
    let port = match parts.next() {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("the port must be 1-65535"))?,
        None => 25,
    };
    let priority = match parts.next() {
        Some(p) => p.parse::<u32>().map_err(|_| bad("the priority must be a whole number"))?,
        None => 10,
    };
    if parts.next().is_some() {
        return Err(bad("expected HOST[:PORT[:PRIORITY]]"));
    }
    Ok(DownstreamHost { host, port, priority })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_priority_with_defaults_and_ipv6() {
        let d = parse_downstream("Mail.Example.com:2525:20").unwrap();
        assert_eq!((d.host.as_str(), d.port, d.priority), ("mail.example.com", 2525, 20));
        let d = parse_downstream("10.0.0.5").unwrap();
        assert_eq!((d.host.as_str(), d.port, d.priority), ("10.0.0.5", 25, 10));
        let d = parse_downstream("[2001:db8::25]:25:5").unwrap();
        assert_eq!((d.host.as_str(), d.port, d.priority), ("2001:db8::25", 25, 5));
        for bad in ["", "host:0", "host:99999", "host:25:x", "host:25:1:2", "[::1", "bad host"] {
            assert!(parse_downstream(bad).is_err(), "{bad}");
        }
    }
}
