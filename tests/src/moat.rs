//! A real `moat` process for one test: its own data dir, config and database (SQLite, or a fresh database
//! on the PostgreSQL server named by `MOAT_TEST_POSTGRES_URL`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, bodies in its database: the single-node default.
    Sqlite,
    /// SQLite, bodies on the filesystem (`[spool] store = "filesystem"`, or an install from when it was the
    /// default).
    Filesystem,
    /// PostgreSQL, bodies in the database: the cluster default.
    Postgres,
    /// SQLite, bodies in S3-compatible object storage (a `moto_server` of the test's own).
    S3,
}

impl Backend {
    /// The database URL for a new test, or None when this backend is not available here.
    async fn database_url(self, dir: &Path) -> Option<String> {
        match self {
            Backend::Sqlite | Backend::Filesystem | Backend::S3 => {
                Some(format!("sqlite://{}", dir.join("moat.db").display()))
            }
            Backend::Postgres => {
                let admin = std::env::var("MOAT_TEST_POSTGRES_URL").ok()?;
                sqlx::any::install_default_drivers();
                let pool = sqlx::AnyPool::connect(&admin).await.expect("connect to the test PostgreSQL");
                let name = format!(
                    "moat_e2e_{}",
                    dir.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .to_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
                );
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
                pool.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Some(format!("{base}/{name}"))
            }
        }
    }
}

pub struct MoatBuilder {
    bin: PathBuf,
    backend: Backend,
    /// Where the data dir (and, on SQLite, the database) lives instead of the test's temp dir.
    data_on: Option<PathBuf>,
    /// section -> key -> TOML value
    config: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// Another node's database, shared instead of a fresh one.
    shared_database: Option<String>,
}

impl MoatBuilder {
    /// Sets `key = value` (value in TOML syntax) in `[section]`, replacing the harness default.
    pub fn set(mut self, section: &str, key: &str, value: &str) -> Self {
        self.config.entry(section.into()).or_default().insert(key.into(), value.into());
        self
    }

    /// Runs as another node on `node`'s database (its data dir stays its own).
    pub fn sharing_database_of(mut self, node: &Moat) -> Self {
        self.shared_database = Some(node.database_url.clone());
        self
    }

    /// Keeps the data dir, and on SQLite the database, under `dir` (a small filesystem, say).
    pub fn data_on(mut self, dir: &Path) -> Self {
        self.data_on = Some(dir.to_owned());
        self
    }

    /// Starts Moat; None when the backend is not available on this machine.
    pub async fn start(self) -> Option<Moat> {
        let dir = tempfile::Builder::new().prefix("moat").tempdir().unwrap();
        let data_root = self.data_on.clone().unwrap_or_else(|| dir.path().to_owned());
        let database_url = match &self.shared_database {
            Some(url) => url.clone(),
            None => self.backend.database_url(&data_root).await?,
        };
        let dns = crate::TestDns::start().await;
        let nameserver = format!("\"{}\"", dns.addr());
        let mut config = self;
        let moto = match config.backend {
            Backend::S3 => {
                let moto = crate::Moto::start("moat-mail")?;
                config = config
                    .set("spool", "store", "\"s3\"")
                    .set("spool.s3", "endpoint", &format!("{:?}", moto.endpoint))
                    .set("spool.s3", "bucket", "\"moat-mail\"")
                    .set("spool.s3", "access_key_id", "\"testing\"")
                    .set("spool.s3", "secret_access_key", "\"testing\"");
                Some(moto)
            }
            Backend::Filesystem => {
                config = config.set("spool", "store", "\"filesystem\"");
                None
            }
            Backend::Sqlite | Backend::Postgres => None,
        };
        if !config.config.get("dns").is_some_and(|f| f.contains_key("nameserver")) {
            config = config.set("dns", "nameserver", &nameserver);
        }
        let data_dir = format!("{:?}", data_root.join("data").display().to_string());
        let config = config.set("server", "hostname", "\"mx.moat.test\"").set("server", "data_dir", &data_dir).set(
            "server",
            "database_url",
            &format!("{database_url:?}"),
        );
        let bin = config.bin.clone();
        let mut text = String::new();
        for (section, keys) in &config.config {
            text.push_str(&format!("[{section}]\n"));
            for (key, value) in keys {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        let config_path = dir.path().join("moat.toml");
        std::fs::write(&config_path, text).unwrap();
        let data_dir = data_root.join("data");
        let mut moat = Moat {
            database_url: database_url.clone(),
            bin,
            dir,
            data_dir,
            config: config_path,
            child: None,
            smtp: None,
            submission: None,
            submission_tls: None,
            metrics: None,
            console: None,
            dns,
            _moto: moto,
        };
        moat.boot().await;
        Some(moat)
    }
}

pub struct Moat {
    bin: PathBuf,
    /// The database this instance uses (SQLite file or a PostgreSQL database of its own).
    pub database_url: String,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    pub smtp: Option<SocketAddr>,
    /// The submission listeners: STARTTLS, and implicit TLS.
    pub submission: Option<SocketAddr>,
    pub submission_tls: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    pub console: Option<SocketAddr>,
    /// The DNS server this instance asks (unless its config names another): every name a test does not add
    /// is NXDOMAIN.
    pub dns: crate::TestDns,
    /// The S3 message store's server, when the backend has one.
    _moto: Option<crate::Moto>,
}

impl Moat {
    /// `bin` is `env!("CARGO_BIN_EXE_moat-e2e")`. The config always listens on 127.0.0.1:0, polls the queue
    /// every 100 ms with 1 s retries, reloads chains every 100 ms and starts without the built-in filters
    /// (an empty registry, unfiltered mail), and asks its own loopback DNS server (`Moat::dns`), unless the
    /// test's own config says otherwise.
    pub fn builder(bin: &str, backend: Backend) -> MoatBuilder {
        // The test process links two TLS providers too (see `moat::cli::main`); its clients use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        MoatBuilder { bin: bin.into(), backend, data_on: None, config: Default::default(), shared_database: None }
            .set("smtp", "listen", "[\"127.0.0.1:0\"]")
            .set("admin", "listen", "\"127.0.0.1:0\"")
            .set("submission", "listen", "[\"127.0.0.1:0\"]")
            .set("submission", "listen_tls", "[\"127.0.0.1:0\"]")
            .set("console", "listen", "\"127.0.0.1:0\"")
            .set("delivery", "poll_interval", "\"100ms\"")
            .set("delivery", "retry_intervals", "[\"1s\"]")
            .set("delivery", "connect_timeout", "\"2s\"")
            .set("delivery", "command_timeout", "\"10s\"")
            // The test's SMTP servers run on this machine, which tenants may not name by default.
            .set("delivery", "allowed_networks", "[\"127.0.0.0/8\"]")
            .set("filters", "reload_interval", "\"100ms\"")
            .set("filters", "builtin", "false")
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn smtp(&self) -> SocketAddr {
        self.smtp.expect("moat is running")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    async fn boot(&mut self) {
        let mut child = Command::new(&self.bin)
            .arg("--config-file")
            .arg(&self.config)
            .arg("serve")
            .env("MOAT_LOG", "info,moat_smtp=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(self.dir.path().join("moat.log")).unwrap()))
            .spawn()
            .expect("start moat");
        let stdout = tokio::process::ChildStdout::from_std(child.stdout.take().unwrap()).unwrap();
        self.child = Some(child);
        let mut lines = BufReader::new(stdout).lines();
        let (mut smtp, mut metrics, mut console) = (None, None, None);
        let (mut submission, mut submission_tls) = (None, None);
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("Moat is listening for mail on ") {
                    smtp = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                }
                if let Some(rest) = line.strip_prefix("Moat is listening for submissions on ") {
                    let addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                    if rest.contains("implicit TLS") {
                        submission_tls = addr;
                    } else {
                        submission = addr;
                    }
                }
                if let Some(rest) = line.strip_prefix("Metrics at http://") {
                    metrics = rest.trim_end_matches("/metrics").parse().ok();
                }
                if let Some(rest) = line.strip_prefix("Console and REST API at http://") {
                    console = rest.trim_end_matches('/').parse().ok();
                }
                if smtp.is_some() && metrics.is_some() && console.is_some() {
                    break;
                }
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(60), read).await.is_err() || smtp.is_none() {
            panic!("moat did not start; its log:\n{}", self.log());
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.smtp = smtp;
        self.submission = submission;
        self.submission_tls = submission_tls;
        self.metrics = metrics;
        self.console = console;
    }

    /// SIGKILL: no shutdown, no flush; what was acknowledged must already be on disk.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.smtp = None;
    }

    /// Freezes the process (SIGSTOP) or lets it go on (SIGCONT): a node that stops answering without dying.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.pid().expect("moat is running").to_string();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success(), "kill {signal} {pid}");
    }

    pub async fn restart(&mut self) {
        self.kill9();
        self.boot().await;
    }

    /// Runs a `moat` admin command against this instance's config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(&self.bin).arg("--config-file").arg(&self.config).args(args).output().expect("run moat cli")
    }

    /// Runs a `moat` command with its standard output piped into `shell` (`head -n 1`, `true`); returns the output of
    /// the `moat` process, whose stdout the shell command closes early.
    pub fn cli_piped_to(&self, args: &[&str], shell: &str) -> Output {
        let mut moat = Command::new(&self.bin)
            .arg("--config-file")
            .arg(&self.config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run moat cli");
        let reader = Command::new("sh")
            .args(["-c", shell])
            .stdin(Stdio::from(moat.stdout.take().unwrap()))
            .stdout(Stdio::null())
            .status()
            .expect("run the reader");
        assert!(reader.success());
        moat.wait_with_output().unwrap()
    }

    /// Runs a `moat` command with `input` on its standard input; returns its output.
    pub fn cli_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(&self.bin)
            .arg("--config-file")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run moat cli");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// A GET to the console over plain HTTP/1.1; returns the status code and the body.
    pub async fn console_get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.console.expect("console listening")).await.unwrap();
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: moat\r\n{auth}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// A request with a JSON body (or none) to the console over plain HTTP/1.1; returns the status code and
    /// the body parsed as JSON (null when it is not JSON).
    pub async fn console_send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        json: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.console.expect("console listening")).await.unwrap();
        let body = json.map(|j| j.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: moat\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
    }

    /// Adds console account `name` (`moat admin add NAME --password-stdin` with `options` such as
    /// `--tenant T`) and returns a new API token of it.
    pub fn api_token(&self, name: &str, options: &[&str]) -> String {
        let mut args = vec!["admin", "add", name, "--password-stdin"];
        args.extend_from_slice(options);
        let added = self.cli_with_input(&args, "Console_pass.2026\n");
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        self.admin(&["token", "create", name]).trim().to_owned()
    }

    /// Runs an admin command that must succeed; returns its stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "moat {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Protects `domain` with delivery to `downstream` and adds `mailboxes`.
    pub fn protect(&self, domain: &str, downstream: &[String], mailboxes: &[&str]) {
        let mut args = vec!["domain", "add", domain];
        for d in downstream {
            args.extend(["--downstream", d.as_str()]);
        }
        self.admin(&args);
        for m in mailboxes {
            self.admin(&["mailbox", "add", &format!("{m}@{domain}")]);
        }
    }

    /// Saves `toml` as the chain of a scope (`--tenant T`, `--domain D`, or none for the default) with
    /// `moat chain set`; returns the command's output, success or not.
    pub fn set_chain(&self, toml: &str, scope: &[&str]) -> Output {
        let path = self.dir.path().join(format!("chain-{}.toml", uuid_like()));
        std::fs::write(&path, toml).unwrap();
        let mut args = vec!["chain", "set", path.to_str().unwrap()];
        args.extend_from_slice(scope);
        self.cli(&args)
    }

    /// Writes a file in this instance's directory; returns its path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Registers a test guest component (see `moat_filter::test_guests`) as plugin `name`.
    pub fn add_guest(&self, name: &str, version: &str, bytes: &[u8]) {
        let path = self.dir.path().join(format!("{name}-{version}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        self.admin(&["plugin", "add", path.to_str().unwrap(), "--name", name, "--version", version]);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moat.log")).unwrap_or_default()
    }

    pub async fn metrics_text(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.metrics.unwrap()).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }
}

impl Drop for Moat {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}
