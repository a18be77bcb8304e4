//! A downstream server that is down, reliably.

use std::net::SocketAddr;

/// A loopback port that refuses every connection and stays reserved while this lives. A port merely found
/// free (bound, read, released) may be taken meanwhile by another test's listener — then "the server is down"
/// answers, and a test of retries or expiry sees a refusal instead (seen in CI: another Moat's submission port).
pub struct ClosedPort {
    /// Bound, never listening: connections to it are refused, and nothing else can bind it.
    _socket: socket2::Socket,
    pub addr: SocketAddr,
}

impl ClosedPort {
    pub fn new() -> Self {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        socket.bind(&any.into()).expect("a loopback port");
        let addr = socket.local_addr().expect("its address").as_socket().expect("an IP address");
        Self { _socket: socket, addr }
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}
