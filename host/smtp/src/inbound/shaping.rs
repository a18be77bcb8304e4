//! Traffic shaping at accept: new connections per minute from one client IP and from its network (/24,
//! /64). Past a limit the client gets `421 4.7.0` before anything else runs; message rates are the reputation
//! filter's (per tenant).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The client's network as shaping counts it: /24 for IPv4, /64 for IPv6.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

/// Which limit a refused connection hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Ip,
    Network,
}

/// Connections counted in one minute: (from the IP, from the network) per address.
type Window = (u64, HashMap<IpAddr, (u32, u32)>);

/// Fixed one-minute windows; the table starts over each minute, so it never grows past one minute's clients.
pub struct ConnectionRate {
    per_ip: u32,
    per_network: u32,
    window: Mutex<Window>,
}

impl ConnectionRate {
    /// Limits of 0 turn that limit off.
    pub fn new(per_ip: u32, per_network: u32) -> Self {
        Self { per_ip, per_network, window: Mutex::new((0, HashMap::new())) }
    }

    /// Counts a connection from `ip` in minute `minute`; `Err` when it is over a limit (it is not counted).
    /// Loopback clients (local submission, health checks) are never limited.
    pub fn admit(&self, ip: IpAddr, minute: u64) -> Result<(), Exceeded> {
        if self.per_ip == 0 && self.per_network == 0 || ip.is_loopback() {
            return Ok(());
        }
        let mut window = self.window.lock().expect("connection rate table");
        if window.0 != minute {
            *window = (minute, HashMap::new());
        }
        let net = network(ip);
        let from_ip = window.1.get(&ip).map_or(0, |c| c.0);
        let from_network = window.1.get(&net).map_or(0, |c| c.1);
        if self.per_ip > 0 && from_ip >= self.per_ip {
            return Err(Exceeded::Ip);
        }
        if self.per_network > 0 && from_network >= self.per_network {
            return Err(Exceeded::Network);
        }
        window.1.entry(ip).or_default().0 += 1;
        window.1.entry(net).or_default().1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip_and_network_per_minute() {
        let rate = ConnectionRate::new(2, 3);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(rate.admit(ip("192.0.2.7"), 1), Ok(()));
        assert_eq!(rate.admit(ip("192.0.2.7"), 1), Ok(()));
        assert_eq!(rate.admit(ip("192.0.2.7"), 1), Err(Exceeded::Ip));
        assert_eq!(rate.admit(ip("192.0.2.8"), 1), Ok(()));
        assert_eq!(rate.admit(ip("192.0.2.9"), 1), Err(Exceeded::Network), "the /24 had 3");
        assert_eq!(rate.admit(ip("198.51.100.1"), 1), Ok(()), "another network");
        assert_eq!(rate.admit(ip("192.0.2.7"), 2), Ok(()), "a new minute starts over");
        assert!((0..10).all(|_| rate.admit(ip("127.0.0.1"), 1).is_ok()), "loopback is not limited");
        let off = ConnectionRate::new(0, 0);
        assert!((0..1000).all(|_| off.admit(ip("2001:db8::1"), 1).is_ok()));
    }
}
