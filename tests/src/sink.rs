//! A downstream mail server for tests: speaks SMTP (with STARTTLS), records what it receives, and can be told
//! to refuse recipients, fail temporarily, or be down.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Debug, Clone, Default)]
pub struct SinkBehaviour {
    /// Recipients whose local part starts with this get `550 5.1.1`.
    pub reject_prefix: Option<String>,
    /// Every MAIL FROM gets `451 4.3.0`.
    pub tempfail: bool,
    /// The only recipients that exist (a server with recipient validation); the others get `550 5.1.1`.
    pub only: Option<Vec<String>>,
    /// Never answers the final dot of a message (a server stuck filtering it); nothing is recorded.
    pub stall_at_data: bool,
    /// Closes the connection right after accepting a message, without a word (a server whose idle timeout
    /// ends a connection its client meant to reuse).
    pub close_after_message: bool,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<SinkBehaviour>>,
    sessions: Arc<Sessions>,
    task: Arc<tokio::task::JoinHandle<()>>,
    /// Turns true when the sink stops: its open sessions end too.
    stopped: tokio::sync::watch::Sender<bool>,
}

/// Connections open now, the most ever open at once, and how many there were.
#[derive(Default)]
struct Sessions {
    open: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
}

/// Counts a connection as open until dropped.
struct OpenSession(Arc<Sessions>);

impl OpenSession {
    fn new(sessions: Arc<Sessions>) -> Self {
        let open = sessions.open.fetch_add(1, Ordering::SeqCst) + 1;
        sessions.peak.fetch_max(open, Ordering::SeqCst);
        sessions.total.fetch_add(1, Ordering::SeqCst);
        Self(sessions)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Sink {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// Starts on a given address, e.g. to bring a "down" downstream host up.
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind sink");
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let behaviour: Arc<Mutex<SinkBehaviour>> = Arc::default();
        let sessions: Arc<Sessions> = Arc::default();
        let acceptor = acceptor();
        let (stopped, _) = tokio::sync::watch::channel(false);
        let (r, b, counted, stop) = (received.clone(), behaviour.clone(), sessions.clone(), stopped.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, b, acceptor) = (r.clone(), b.clone(), acceptor.clone());
                let open = OpenSession::new(counted.clone());
                let mut stopping = stop.subscribe();
                tokio::spawn(async move {
                    let _open = open;
                    let session = async {
                        let mut reader = BufReader::new(stream);
                        if converse(&mut reader, &r, &b, false).await.is_some()
                            && let Ok(stream) = acceptor.accept(reader.into_inner()).await
                        {
                            converse(&mut BufReader::new(stream), &r, &b, true).await;
                        }
                    };
                    tokio::select! {
                        _ = session => {}
                        _ = stopping.wait_for(|stopped| *stopped) => {}
                    }
                });
            }
        });
        Self { addr, received, behaviour, sessions, task: Arc::new(task), stopped }
    }

    pub fn set(&self, behaviour: SinkBehaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The most SMTP sessions this sink ever had open at the same time.
    pub fn peak_sessions(&self) -> usize {
        self.sessions.peak.load(Ordering::SeqCst)
    }

    /// How many SMTP sessions (connections) this sink has had.
    pub fn sessions(&self) -> usize {
        self.sessions.total.load(Ordering::SeqCst)
    }

    /// Stops listening and ends the sessions open now, as a server that goes down (the port is free again
    /// once the listener is dropped).
    pub fn stop(&self) {
        self.task.abort();
        self.stopped.send_replace(true);
    }
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    let pair = rcgen::generate_simple_self_signed(vec!["sink.test".to_string()]).unwrap();
    let cert = pair.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(pair.signing_key.serialize_der()).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Serves one connection; returns Some(()) when the client asked for STARTTLS.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    received: &Mutex<Vec<Received>>,
    behaviour: &Mutex<SinkBehaviour>,
    tls: bool,
) -> Option<()> {
    if !tls {
        s.get_mut().write_all(b"220 sink.test ESMTP\r\n").await.ok()?;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if s.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let upper = line.to_ascii_uppercase();
        let b = behaviour.lock().unwrap().clone();
        let reply: String = if upper.starts_with("EHLO") {
            if tls { "250-sink.test\r\n250 8BITMIME\r\n".into() } else { "250-sink.test\r\n250 STARTTLS\r\n".into() }
        } else if upper.starts_with("STARTTLS") {
            s.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await.ok()?;
            return Some(());
        } else if upper.starts_with("MAIL FROM:") {
            if b.tempfail {
                "451 4.3.0 try later\r\n".into()
            } else {
                from = addr_of(&line);
                to.clear();
                "250 2.1.0 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = addr_of(&line);
            let unknown = b.only.as_ref().is_some_and(|only| !only.iter().any(|a| a.eq_ignore_ascii_case(&rcpt)));
            if unknown || b.reject_prefix.as_ref().is_some_and(|p| rcpt.starts_with(p.as_str())) {
                "550 5.1.1 no such user here\r\n".into()
            } else {
                to.push(rcpt);
                "250 2.1.5 ok\r\n".into()
            }
        } else if upper.starts_with("DATA") {
            s.get_mut().write_all(b"354 go\r\n").await.ok()?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if s.read_until(b'\n', &mut l).await.ok()? == 0 {
                    return None;
                }
                if l == b".\r\n" {
                    break;
                }
                data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
            }
            if b.stall_at_data {
                std::future::pending::<()>().await;
            }
            received.lock().unwrap().push(Received { from: from.clone(), to: to.clone(), data, tls });
            if b.close_after_message {
                s.get_mut().write_all(b"250 2.0.0 stored by sink\r\n").await.ok()?;
                return None;
            }
            "250 2.0.0 stored by sink\r\n".into()
        } else if upper.starts_with("QUIT") {
            let _ = s.get_mut().write_all(b"221 bye\r\n").await;
            return None;
        } else {
            "250 ok\r\n".into()
        };
        s.get_mut().write_all(reply.as_bytes()).await.ok()?;
    }
}

fn addr_of(line: &str) -> String {
    line.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(a, _)| a.to_owned()).unwrap_or_default()
}
