//! The end-to-end harness: a real `moat` process on loopback with its own data dir and database, a real
//! downstream SMTP server to deliver to, and real SMTP clients.

mod closed;
pub mod corpus;
mod dns;
pub mod ldap;
mod moat;
mod moto;
mod sink;
mod tmpfs;

pub use closed::ClosedPort;
pub use dns::TestDns;
pub use moat::{Backend, Moat, MoatBuilder};
pub use moto::Moto;
pub use sink::{Received, Sink, SinkBehaviour};
pub use tmpfs::Tmpfs;

/// Runs each listed `async fn NAME(backend: Backend)` as two tests, `sqlite::NAME` and `postgres::NAME`; the
/// PostgreSQL run needs `MOAT_TEST_POSTGRES_URL` (scripts/test sets it; CI fails without it).
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name($crate::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name($crate::Backend::Postgres).await } )* }
    };
}

/// Runs each listed `async fn NAME(backend: Backend)` once per message store: `sqlite::NAME` and
/// `postgres::NAME` (the database store, on each database), `filesystem::NAME` (SQLite, bodies as files) and
/// `s3::NAME` (S3-compatible storage, a `moto_server`).
#[macro_export]
macro_rules! on_each_message_store {
    ($($name:ident),* $(,)?) => {
        $crate::on_each_backend!($($name),*);
        mod filesystem { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name($crate::Backend::Filesystem).await } )* }
        mod s3 { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name($crate::Backend::S3).await } )* }
    };
}

/// Sends one message with a real SMTP client (EHLO, MAIL, RCPT, DATA) and returns the final reply line.
pub async fn send(addr: std::net::SocketAddr, from: &str, to: &[&str], body: &str) -> anyhow::Result<String> {
    let mut c = Client::connect(addr).await?;
    c.expect("220").await?;
    c.cmd("EHLO client.test\r\n").await?;
    c.cmd(&format!("MAIL FROM:<{from}>\r\n")).await?;
    for rcpt in to {
        c.cmd(&format!("RCPT TO:<{rcpt}>\r\n")).await?;
    }
    c.cmd("DATA\r\n").await?;
    let mut data = body.replace("\r\n.", "\r\n..");
    if !data.ends_with("\r\n") {
        data.push_str("\r\n");
    }
    let reply = c.cmd(&format!("{data}.\r\n")).await?;
    c.cmd("QUIT\r\n").await?;
    Ok(reply)
}

/// A plain-text SMTP client that shows every reply as text, for asserting codes.
pub struct Client {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        Ok(Self { stream: tokio::io::BufReader::new(tokio::net::TcpStream::connect(addr).await?) })
    }

    /// Connects from `source` (any 127.0.0.0/8 address works on loopback), to look like another client.
    pub async fn connect_from(addr: std::net::SocketAddr, source: std::net::IpAddr) -> anyhow::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(source, 0))?;
        Ok(Self { stream: tokio::io::BufReader::new(socket.connect(addr).await?) })
    }

    /// Writes `text` (any number of pipelined commands) without waiting.
    pub async fn write(&mut self, text: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stream.get_mut().write_all(text.as_bytes()).await?;
        Ok(())
    }

    /// Writes raw bytes (a message that is not UTF-8) without waiting.
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stream.get_mut().write_all(bytes).await?;
        Ok(())
    }

    /// Reads one (possibly multi-line) reply; returns its last line.
    pub async fn reply(&mut self) -> anyhow::Result<String> {
        use tokio::io::AsyncBufReadExt;
        loop {
            let mut line = String::new();
            let n =
                tokio::time::timeout(std::time::Duration::from_secs(20), self.stream.read_line(&mut line)).await??;
            anyhow::ensure!(n > 0, "connection closed");
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.trim_end().to_owned());
            }
        }
    }

    pub async fn cmd(&mut self, text: &str) -> anyhow::Result<String> {
        self.write(text).await?;
        self.reply().await
    }

    pub async fn expect(&mut self, code: &str) -> anyhow::Result<String> {
        let reply = self.reply().await?;
        anyhow::ensure!(reply.starts_with(code), "expected {code}, got {reply}");
        Ok(reply)
    }
}

/// Polls `check` every 50 ms until it returns Some, or panics after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `moat` a benchmark runs: `built` (its target's own `CARGO_BIN_EXE_…`), or the build `MOAT_BENCH_BIN`
/// names, for A/B runs against an older commit's.
pub fn bench_binary(built: &str) -> String {
    std::env::var("MOAT_BENCH_BIN").unwrap_or_else(|_| built.to_owned())
}

/// User + system CPU of a process so far, from `/proc/PID/stat` (fields 14 and 15, in clock ticks).
pub fn process_cpu(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    let Some(close) = stat.rfind(')') else { return std::time::Duration::ZERO };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    std::time::Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

fn clock_ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100)
}

/// A 10 KB message with ordinary headers, terminated for DATA: the benchmarks' plain load.
pub fn message_10k() -> Vec<u8> {
    let mut m = String::from(
        "From: Load <load@sender.test>\r\nTo: bob@example.com\r\nSubject: benchmark\r\nMessage-ID: <b@sender.test>\r\n\r\n",
    );
    let line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() < 10 * 1024 {
        m.push_str(line);
    }
    m.push_str(".\r\n");
    m.into_bytes()
}
