//! The inbound listener: accepts connections, enforces connection limits, runs a session per connection
//! (with its tracing span) and upgrades it when the client asks for STARTTLS.

use super::{Ending, Session};
use crate::reply::{self, Reply};
use crate::{Metrics, Queue, SessionConfig};
use moat_directory::Directory;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

/// What every session shares.
pub struct SmtpContext {
    pub config: SessionConfig,
    pub directory: Directory,
    pub queue: Queue,
    pub tls: Option<TlsAcceptor>,
    pub metrics: Metrics,
    /// The tenants' filter chains (a tenant without one has the empty chain: delivered as it came).
    pub filters: Arc<moat_chains::Chains>,
    /// How many chain runs use the CPU at once.
    pub run_slots: moat_chains::RunSlots,
    /// Lessons from confident verdicts a second ([`moat_chains::LessonBudget`]).
    pub lessons: moat_chains::LessonBudget,
    /// Checks SPF, DKIM and DMARC of messages a chain filters; `None`: not checked.
    pub authenticator: Option<crate::inbound::authentication::Authenticator>,
    /// Signs outgoing mail with its From domain's DKIM keys.
    pub dkim: crate::outbound::dkim::Signer,
    /// What authenticated accounts may send, and the guard against compromised ones.
    pub senders: Arc<crate::outbound::senders::Senders>,
}

/// What a listener is for; it decides who may send what through it. Relaying for authenticated clients is
/// a policy of its own (the submission role), never a hole in the MX role's recipient rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Mail from the Internet for the protected domains: every recipient must be protected, no AUTH.
    Mx,
    /// Customers' servers relaying their outgoing mail: AUTH (inside TLS) first, then any recipient, sent
    /// only as the authenticated account's domains.
    Submission,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mx => "mx",
            Role::Submission => "submission",
        }
    }
}

pub struct Listener {
    socket: TcpListener,
    role: Role,
    /// TLS from the first byte (port 465, RFC 8314) instead of STARTTLS.
    implicit_tls: bool,
    ctx: Arc<SmtpContext>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    total: Arc<AtomicU64>,
    rate: crate::inbound::shaping::ConnectionRate,
}

/// Counts a connection for its client address while it lives.
struct ConnectionSlot {
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    total: Arc<AtomicU64>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = self.per_ip.lock().expect("connection table");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Listener {
    pub fn new(socket: TcpListener, role: Role, ctx: Arc<SmtpContext>) -> Self {
        let rate = crate::inbound::shaping::ConnectionRate::new(
            ctx.config.connection_rate_per_ip,
            ctx.config.connection_rate_per_network,
        );
        Self { socket, role, implicit_tls: false, ctx, per_ip: Arc::default(), total: Arc::default(), rate }
    }

    /// Speaks TLS from the first byte (submissions, RFC 8314) instead of offering STARTTLS.
    pub fn implicit_tls(mut self) -> Self {
        self.implicit_tls = true;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Accepts connections until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let next_id = AtomicU64::new(1);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.socket.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            let _ = stream.set_nodelay(true);
            let refusal = self.admit(peer.ip());
            let slot = match refusal {
                Ok(slot) => slot,
                Err(reply) => {
                    tokio::spawn(refuse_connection(stream, reply));
                    continue;
                }
            };
            let ctx = self.ctx.clone();
            let (role, implicit_tls) = (self.role, self.implicit_tls);
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let span = tracing::info_span!("session", id, role = self.role.as_str(), client = %peer);
            let mut shutdown = shutdown.clone();
            tokio::spawn(
                async move {
                    ctx.metrics.sessions.inc();
                    tokio::select! {
                        result = serve(stream, peer, role, implicit_tls, ctx.clone()) => {
                            if let Err(e) = result {
                                tracing::debug!("session ended: {e}");
                            }
                        }
                        _ = shutdown.changed() => {}
                    }
                    ctx.metrics.sessions.dec();
                    drop(slot);
                }
                .instrument(span),
            );
        }
    }

    fn admit(&self, ip: IpAddr) -> Result<ConnectionSlot, Reply> {
        let config = &self.ctx.config;
        if self.total.load(Ordering::Relaxed) as usize >= config.max_connections {
            return Err(reply::SERVER_BUSY);
        }
        let minute = crate::now().max(0) as u64 / 60;
        match self.rate.admit(ip, minute) {
            Ok(()) => {}
            Err(crate::inbound::shaping::Exceeded::Ip) => return Err(reply::CONNECTING_TOO_OFTEN),
            Err(crate::inbound::shaping::Exceeded::Network) => return Err(reply::NETWORK_CONNECTING_TOO_OFTEN),
        }
        let mut map = self.per_ip.lock().expect("connection table");
        let count = map.entry(ip).or_insert(0);
        if *count >= config.max_connections_per_ip {
            return Err(reply::TOO_MANY_CONNECTIONS);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionSlot { ip, per_ip: self.per_ip.clone(), total: self.total.clone() })
    }
}

async fn refuse_connection(mut stream: TcpStream, reply: Reply) {
    let mut out = Vec::new();
    reply.write_to(&mut out);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    role: Role,
    implicit_tls: bool,
    ctx: Arc<SmtpContext>,
) -> std::io::Result<()> {
    let stream = if implicit_tls {
        stream
    } else {
        let mut session = Session::new(stream, ctx.clone(), role, peer, None);
        session.greet().await?;
        let Ending::StartTls(stream) = session.run().await? else {
            return Ok(());
        };
        stream
    };
    let Some(acceptor) = ctx.tls.clone() else {
        return Ok(());
    };
    let tls = tokio::time::timeout(ctx.config.idle_timeout, acceptor.accept(stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    let version = tls.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
    tracing::debug!(?version, "TLS established");
    let mut session = Session::new(tls, ctx, role, peer, version.or(Some("TLS".into())));
    if implicit_tls {
        session.greet().await?;
    }
    session.run().await?;
    Ok(())
}
