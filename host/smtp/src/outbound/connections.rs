//! Downstream connections kept open between deliveries, as Postfix's connection cache does: the next message
//! to the same host goes out on the open session (already greeted, EHLO'd and under TLS) instead of paying for
//! a TCP connection, a TLS handshake and four round trips again. A kept connection is used by one delivery at
//! a time, so a host never sees more sessions than deliveries in flight to it; it is closed with `QUIT` once
//! idle for `keep_for`, or once it has been open for [`LIFETIME`].

use mail_send::SmtpClient;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The longest a connection is reused, however busy (Postfix's `smtp_connection_reuse_time_limit`): a host's
/// changed address or certificate is picked up within this.
const LIFETIME: Duration = Duration::from_secs(300);

/// How long a kept connection may take to say goodbye before it is dropped.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// An open SMTP session between transactions.
pub(super) enum Session {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>),
}

impl Session {
    async fn quit(self) {
        let _ = tokio::time::timeout(QUIT_WAIT, async {
            match self {
                Session::Plain(c) => c.quit().await,
                Session::Tls(c) => c.quit().await,
            }
        })
        .await;
    }
}

/// Which connections may serve a delivery: the same host and port, reached under the same destination
/// policy (a connection the operator's relay route opened must never carry a tenant's route, which the policy
/// might have refused).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Destination {
    pub host: String,
    pub port: u16,
    pub operators: bool,
}

/// A session with when it was opened.
pub(super) struct Kept {
    pub session: Session,
    pub opened: Instant,
}

struct Idle {
    kept: Kept,
    since: Instant,
}

pub(super) struct Connections {
    keep_for: Duration,
    idle: Mutex<HashMap<Destination, Vec<Idle>>>,
}

impl Connections {
    /// `keep_for` zero closes every connection after its message.
    pub fn new(keep_for: Duration) -> Self {
        Self { keep_for, idle: Mutex::new(HashMap::new()) }
    }

    /// The most recently used idle connection to `to`, if one is still fresh.
    pub fn take(&self, to: &Destination) -> Option<Kept> {
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("idle connections");
        let list = idle.get_mut(to)?;
        while let Some(entry) = list.pop() {
            if self.fresh(&entry, now) {
                return Some(entry.kept);
            }
            tokio::spawn(entry.kept.session.quit());
        }
        None
    }

    /// Keeps `kept` for the next delivery to `to`, or closes it when it is not to be kept.
    pub fn keep(&self, to: Destination, kept: Kept) {
        if self.keep_for.is_zero() || kept.opened.elapsed() >= LIFETIME {
            tokio::spawn(kept.session.quit());
            return;
        }
        let entry = Idle { kept, since: Instant::now() };
        self.idle.lock().expect("idle connections").entry(to).or_default().push(entry);
    }

    /// Closes the connections idle for longer than `keep_for`.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut stale = Vec::new();
        {
            let mut idle = self.idle.lock().expect("idle connections");
            for list in idle.values_mut() {
                let (fresh, old): (Vec<Idle>, Vec<Idle>) = list.drain(..).partition(|e| self.fresh(e, now));
                *list = fresh;
                stale.extend(old);
            }
            idle.retain(|_, list| !list.is_empty());
        }
        for entry in stale {
            tokio::spawn(entry.kept.session.quit());
        }
    }

    /// Closes every kept connection (the node is stopping).
    pub async fn close_all(&self) {
        let all: Vec<Idle> = self.idle.lock().expect("idle connections").drain().flat_map(|(_, list)| list).collect();
        let mut quits = tokio::task::JoinSet::new();
        for entry in all {
            quits.spawn(entry.kept.session.quit());
        }
        while quits.join_next().await.is_some() {}
    }

    fn fresh(&self, entry: &Idle, now: Instant) -> bool {
        now.duration_since(entry.since) < self.keep_for && now.duration_since(entry.kept.opened) < LIFETIME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn session() -> Session {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        Session::Plain(SmtpClient { stream, timeout: Duration::from_secs(1) })
    }

    fn to(host: &str, operators: bool) -> Destination {
        Destination { host: host.into(), port: 25, operators }
    }

    /// A connection the operator's relay route opened (exempt from the destination policy) never carries a
    /// tenant's route to the same host and port, nor one to another host.
    #[tokio::test]
    async fn a_kept_connection_serves_only_its_own_destination_under_its_own_policy() {
        let connections = Connections::new(Duration::from_secs(30));
        connections.keep(to("relay.test", true), Kept { session: session().await, opened: Instant::now() });
        assert!(connections.take(&to("relay.test", false)).is_none(), "a tenant's route: not the operator's");
        assert!(connections.take(&to("other.test", true)).is_none());
        assert!(connections.take(&to("relay.test", true)).is_some());
        assert!(connections.take(&to("relay.test", true)).is_none(), "one delivery at a time");
    }

    #[tokio::test]
    async fn idle_or_old_connections_are_not_reused() {
        let connections = Connections::new(Duration::from_millis(50));
        connections.keep(to("a.test", false), Kept { session: session().await, opened: Instant::now() });
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(connections.take(&to("a.test", false)).is_none(), "idle past keep_for");
        // (A machine up for less than the lifetime cannot date a connection that far back.)
        if let Some(old) = Instant::now().checked_sub(LIFETIME) {
            let connections = Connections::new(Duration::from_secs(30));
            connections.keep(to("a.test", false), Kept { session: session().await, opened: old });
            let taken = connections.take(&to("a.test", false));
            assert!(taken.is_none(), "open longer than the lifetime: closed, not kept");
        }
        let connections = Connections::new(Duration::ZERO);
        connections.keep(to("a.test", false), Kept { session: session().await, opened: Instant::now() });
        assert!(connections.take(&to("a.test", false)).is_none(), "keep_connections = 0s: none kept");
    }
}
