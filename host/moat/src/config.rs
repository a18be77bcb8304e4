//! `moat.toml`: every key optional; with no file at all Moat runs on SQLite under `./moat-data` with its MX
//! listener on 127.0.0.1:2525. Unknown keys are errors, so a typo never silently falls back to a default.

use anyhow::{Context, bail};
use moat_smtp::{DeliveryConfig, SessionConfig, SubmissionConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub smtp: SessionConfig,
    pub spool: SpoolConfig,
    pub delivery: DeliveryConfig,
    pub admin: AdminConfig,
    pub filters: FiltersConfig,
    pub console: ConsoleConfig,
    pub retention: RetentionConfig,
    pub quarantine: QuarantineConfig,
    pub dns: DnsConfig,
    pub submission: SubmissionConfig,
    pub cluster: ClusterConfig,
}

/// `[cluster]`: how this node works beside others on one PostgreSQL (a single node needs none of it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `node = "mx1"` — this node's name among the others (default: `[server] hostname`). Its deliveries are
    /// leased under this name; two running nodes must not share one.
    pub node: Option<String>,
    /// `lease = "2m"` — how long a delivery stays this node's without a renewal (renewed every quarter of
    /// it): when a node dies, the others take its work over this long after its last renewal.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { node: None, lease: Duration::from_secs(120) }
    }
}

/// `[dns]`: one resolver for every lookup the server makes — delivery (MX records and host addresses),
/// SPF/DKIM/DMARC, plugins' DNS, the console's MX check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// `nameserver = "127.0.0.1:53"` — a resolver to ask (a local caching resolver); unset: the system's.
    pub nameserver: Option<SocketAddr>,
}

/// `[quarantine]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineConfig {
    /// `digest_every = "1d"` — how often users who want it get a mail listing what was held for them since
    /// the last one (nothing held, no mail); `"0s"` sends none.
    #[serde(with = "humantime_serde")]
    pub digest_every: Duration,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self { digest_every: Duration::from_secs(86_400) }
    }
}

/// `[retention]` — how long Moat keeps what the email log shows. Checked hourly by every node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `log = "90d"` — rows of the email log.
    #[serde(with = "humantime_serde")]
    pub log: Duration,
    /// `quarantine = "30d"` — held messages, released or not.
    #[serde(with = "humantime_serde")]
    pub quarantine: Duration,
    /// `message_copies = "7d"` — delivered messages kept in the message store, so the email log can open and
    /// classify them; `"0s"` keeps none.
    #[serde(with = "humantime_serde")]
    pub message_copies: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            log: Duration::from_secs(90 * DAY),
            quarantine: Duration::from_secs(30 * DAY),
            message_copies: Duration::from_secs(7 * DAY),
        }
    }
}

/// `[console]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// `listen = "127.0.0.1:8080"` — the web console and REST API (`/api/v1`, `/api/openapi.json`).
    pub listen: SocketAddr,
    /// `mx_hosts = ["mx1.moat.example"]` — the MX hosts protected domains publish (the configuration page);
    /// default `[server] hostname`.
    pub mx_hosts: Vec<String>,
    /// `ip_ranges = ["192.0.2.0/28"]` — the addresses Moat sends from, for the SPF record the configuration
    /// page generates and the downstream servers' allow lists.
    pub ip_ranges: Vec<String>,
    /// `smart_host = "smtp.moat.example"` — the host companies relay outgoing mail through; default
    /// `[server] hostname`.
    pub smart_host: Option<String>,
    /// `public_url = "https://console.moat.example/"` — where users reach the console (in welcome messages);
    /// default `http://LISTEN/`.
    pub public_url: Option<String>,
    /// `secure_cookies = false` — mark session cookies `Secure`: turn on when the console is reached over HTTPS
    /// (directly or through a proxy).
    pub secure_cookies: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            mx_hosts: Vec::new(),
            ip_ranges: Vec::new(),
            smart_host: None,
            public_url: None,
            secure_cookies: false,
        }
    }
}

/// `[filters]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FiltersConfig {
    /// `fuel = 200000000` — the default budget of one plugin call (a chain entry may set its own). An endless
    /// loop stops there within milliseconds; a 20 KB tokenizer needs about 5 million.
    pub fuel: u64,
    /// `fuel_per_byte = 1000` — fuel a call on a message gets on top, per byte of the message: scanning
    /// costs grow with size, so a large crafted message cannot exhaust a fixed budget.
    pub fuel_per_byte: u64,
    /// `call_timeout = "10s"` — wall-clock bound of one plugin call, its DNS waits included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: std::time::Duration,
    /// `memory_mib = 64` — linear memory a plugin instance may grow to.
    pub memory_mib: usize,
    /// `memory_budget_mib = 1024` — linear memory all plugin instances of the process may hold together;
    /// past it an instance fails as out of memory (its entry's fail policy decides).
    pub memory_budget_mib: usize,
    /// `reload_interval = "1s"` — how often the server checks the store for saved chains (chains then swap
    /// without a restart, on every node of a cluster).
    #[serde(with = "humantime_serde")]
    pub reload_interval: std::time::Duration,
    /// `authentication = true` — check SPF, DKIM and DMARC of messages a chain filters, give the results to
    /// the plugins and add an `Authentication-Results` header for the downstream server.
    pub authentication: bool,
    /// `concurrent_runs = 8` — chain runs using the CPU at once (others wait their turn, on no thread); a
    /// run's waits on DNS or the store give its turn up. Default: twice the machine's cores.
    pub concurrent_runs: Option<usize>,
    /// `lessons_per_second = 5` — lessons from confident verdicts (autolearn) this node teaches at most a
    /// second, shared equally by the tenants asking for them; past it, and whenever every run slot is busy,
    /// such a lesson is skipped. 0 turns autolearn off.
    pub lessons_per_second: u32,
    /// `storage_entries = 1000000` — entries a plugin's storage of one tenant keeps at most where lessons
    /// write (a classifier's words): checked every minute, one past it loses the entries learned longest ago,
    /// down to nine tenths. Other plugin storage (lists, signatures, counters that expire) is not bounded by it.
    pub storage_entries: usize,
    /// `builtin = true` — register the built-in filter plugins at start and, if no default chain was ever
    /// saved, make them the default chain. `false` starts with an empty registry and unfiltered mail.
    pub builtin: bool,
}

impl Default for FiltersConfig {
    fn default() -> Self {
        let limits = moat_filter::Limits::default();
        Self {
            fuel: limits.fuel,
            fuel_per_byte: limits.fuel_per_byte,
            call_timeout: limits.call_timeout,
            memory_mib: limits.memory_bytes >> 20,
            memory_budget_mib: limits.memory_budget_bytes >> 20,
            reload_interval: std::time::Duration::from_secs(1),
            authentication: true,
            concurrent_runs: None,
            lessons_per_second: 5,
            storage_entries: 1_000_000,
            builtin: true,
        }
    }
}

impl FiltersConfig {
    pub fn limits(&self) -> moat_filter::Limits {
        moat_filter::Limits {
            fuel: self.fuel,
            fuel_per_byte: self.fuel_per_byte,
            call_timeout: self.call_timeout,
            memory_bytes: self.memory_mib << 20,
            memory_budget_bytes: self.memory_budget_mib << 20,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `hostname = "mx1.example.com"` — the name Moat gives in its greeting, `Received:` headers and bounces
    /// (default: this machine's host name).
    pub hostname: String,
    /// `data_dir = "./moat-data"` — spool, generated TLS certificate, and the SQLite database.
    pub data_dir: PathBuf,
    /// `database_url = "postgres://moat:secret@db/moat"` — default `sqlite://DATA_DIR/moat.db`. Use
    /// PostgreSQL when several Moat nodes share one cluster.
    pub database_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let hostname = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Self { hostname, data_dir: PathBuf::from("./moat-data"), database_url: None }
    }
}

/// `[spool]`: where message bodies (queued, held, kept copies) are stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// `fsync = true` — make every accepted message durable before answering `250`. Turning it off is only
    /// for benchmarks measuring what durability costs: a crash can then lose accepted mail.
    pub fsync: bool,
    /// `store = "database"` — `database` (in the database, SQLite's or the one every node shares), `filesystem`
    /// (under `DATA_DIR/spool`: one node) or `s3` (S3-compatible object storage, `[spool.s3]`). Default:
    /// `database`, except on SQLite where `DATA_DIR/spool/bodies` already exists (an install from when the
    /// filesystem was SQLite's default keeps its bodies there).
    pub store: Option<BodyStoreKind>,
    /// `[spool.s3]` — `endpoint`, `bucket`, `region`, `prefix`, `access_key_id`, `secret_access_key`.
    pub s3: Option<moat_bodies::S3Settings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyStoreKind {
    Filesystem,
    Database,
    S3,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self { fsync: true, store: None, s3: None }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `listen = "127.0.0.1:9425"` — Prometheus metrics at `/metrics`.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 9425)) }
    }
}

impl Config {
    /// Reads `path`, or `./moat.toml` if it exists, or uses the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let path = match path {
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from("moat.toml")).filter(|p| p.exists()),
        };
        let config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                Self::parse(&text).with_context(|| format!("invalid configuration {}", p.display()))?
            }
            None => Self::default(),
        };
        Ok(config)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        // It goes into EHLO, `Received:` and bounces' Message-IDs: a host name, nothing that ends a line.
        let host = &self.server.hostname;
        let label_ok =
            |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if host.len() > 253 || !host.split('.').all(label_ok) {
            bail!("server.hostname must be a host name of letters, digits, - and dots (got {host:?})");
        }
        self.smtp.validate().map_err(anyhow::Error::msg)?;
        self.delivery.validate().map_err(anyhow::Error::msg)?;
        self.submission.validate().map_err(anyhow::Error::msg)?;
        if !(1..=moat_filter::MAX_FUEL).contains(&self.filters.fuel) {
            bail!("filters.fuel must be between 1 and {}", moat_filter::MAX_FUEL);
        }
        if !(1..=4096).contains(&self.filters.memory_mib) {
            bail!("filters.memory_mib must be between 1 and 4096");
        }
        if self.filters.memory_budget_mib < self.filters.memory_mib {
            bail!("filters.memory_budget_mib must be at least filters.memory_mib");
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&self.filters.call_timeout) {
            bail!("filters.call_timeout must be between 100ms and 10m");
        }
        if self.filters.fuel_per_byte > 1_000_000 {
            bail!("filters.fuel_per_byte must be at most 1000000");
        }
        if self.filters.concurrent_runs.is_some_and(|n| !(1..=1024).contains(&n)) {
            bail!("filters.concurrent_runs must be between 1 and 1024");
        }
        if self.filters.reload_interval < std::time::Duration::from_millis(100) {
            bail!("filters.reload_interval must be at least 100ms");
        }
        if self.filters.storage_entries < 100 {
            bail!("filters.storage_entries must be at least 100");
        }
        if !self.quarantine.digest_every.is_zero() && self.quarantine.digest_every < Duration::from_secs(1) {
            bail!("quarantine.digest_every must be at least 1s, or \"0s\" for none");
        }
        let hour = Duration::from_secs(3600);
        if self.retention.log < hour || self.retention.quarantine < hour {
            bail!("retention.log and retention.quarantine must be at least 1h");
        }
        if self.body_store() == BodyStoreKind::S3 && self.spool.s3.is_none() {
            bail!("spool.store = \"s3\" needs a [spool.s3] section (endpoint, bucket)");
        }
        if !(Duration::from_secs(2)..=Duration::from_secs(3600)).contains(&self.cluster.lease) {
            bail!("cluster.lease must be between 2s and 1h");
        }
        let node = self.node();
        if node.is_empty() || node.len() > 64 || !node.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("cluster.node must be 1 to 64 printable characters without spaces (got {node:?})");
        }
        Ok(())
    }

    /// The settings whose defaults only fit a test machine, for the console's status page to point out.
    pub fn setup_gaps(&self) -> Vec<moat_console::SetupGap> {
        use moat_console::SetupGap;
        let mut gaps = Vec::new();
        if self.console.mx_hosts.is_empty() {
            gaps.push(SetupGap::MxHosts);
        }
        if self.console.ip_ranges.is_empty() {
            gaps.push(SetupGap::IpRanges);
        }
        if self.console.public_url.is_none() {
            gaps.push(SetupGap::PublicUrl);
        }
        if !self.server.hostname.contains('.') {
            gaps.push(SetupGap::Hostname);
        }
        gaps
    }

    /// This node's name among the nodes sharing the database.
    pub fn node(&self) -> &str {
        self.cluster.node.as_deref().unwrap_or(&self.server.hostname)
    }

    /// Where the filesystem message store lives, and an older install kept its spool.
    pub fn spool_dir(&self) -> std::path::PathBuf {
        self.server.data_dir.join("spool")
    }

    /// The message store this configuration names.
    pub fn bodies(&self, store: &moat_store::Store) -> anyhow::Result<moat_bodies::Bodies> {
        Ok(match self.body_store() {
            BodyStoreKind::Filesystem => {
                let dir = self.spool_dir();
                let fs = moat_bodies::Filesystem::open(&dir, self.spool.fsync)
                    .with_context(|| format!("cannot open the spool under {}", dir.display()))?;
                std::sync::Arc::new(fs)
            }
            BodyStoreKind::Database => std::sync::Arc::new(moat_bodies::Database::new(store.clone())),
            BodyStoreKind::S3 => {
                let settings = self.spool.s3.as_ref().context("spool.store = \"s3\" needs [spool.s3]")?;
                std::sync::Arc::new(moat_bodies::S3::open(settings).context("cannot set up the S3 message store")?)
            }
        })
    }

    /// Where Moat may connect on a tenant's behalf: `[delivery]`'s networks, never its own listeners.
    pub fn destinations(&self) -> moat_smtp::outbound::networks::Destinations {
        let own = (self.smtp.listen.iter().chain(&self.submission.listen).chain(&self.submission.listen_tls))
            .copied()
            .chain([self.console.listen, self.admin.listen]);
        let destinations = self.delivery.destinations(own);
        // Without `[dns] nameserver`, names resolve as the system resolves them (hosts file included).
        match self.dns.nameserver.map(|ns| moat_chains::tokio_resolver(Some(ns))) {
            Some(Ok(resolver)) => destinations.with_resolver(resolver),
            Some(Err(e)) => {
                tracing::warn!("delivery uses the system resolver: {e}");
                destinations
            }
            None => destinations,
        }
    }

    /// The message store `[spool] store` names, or the default: the database, which stores a body and the rows
    /// that refer to it in one commit (one fsync a message where the filesystem takes three, and no file to
    /// create and delete per message). An SQLite install that already keeps bodies under `spool/bodies` (the
    /// default until 2026-12) goes on doing so: they stay readable, and nothing moves.
    pub fn body_store(&self) -> BodyStoreKind {
        let postgres = self.server.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
        let spool_in_use = || moat_bodies::Filesystem::exists_under(&self.spool_dir());
        self.spool.store.unwrap_or(if !postgres && spool_in_use() {
            BodyStoreKind::Filesystem
        } else {
            BodyStoreKind::Database
        })
    }

    pub fn database_url(&self) -> String {
        self.server
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.server.data_dir.join("moat.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_working_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.smtp.listen, vec!["127.0.0.1:2525".parse().unwrap()]);
        assert_eq!(c.database_url(), "sqlite://./moat-data/moat.db");
        assert!(c.spool.fsync);
        assert_eq!(c.delivery.max_age, std::time::Duration::from_secs(5 * 86400));
        use moat_console::SetupGap;
        let gaps = c.setup_gaps();
        assert!([SetupGap::MxHosts, SetupGap::IpRanges, SetupGap::PublicUrl].iter().all(|g| gaps.contains(g)));
        let set = Config::parse(
            "[server]\nhostname = \"mx1.example.com\"\n[console]\nmx_hosts = [\"mx1.example.com\"]\n\
             ip_ranges = [\"192.0.2.0/28\"]\npublic_url = \"https://console.example.com/\"\n",
        )
        .unwrap();
        assert!(set.setup_gaps().is_empty(), "{:?}", set.setup_gaps());
    }

    #[test]
    fn bodies_go_to_the_database_unless_an_install_already_keeps_them_on_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let config = |extra: &str| {
            Config::parse(&format!("[server]\ndata_dir = {:?}\n{extra}", dir.path().display().to_string())).unwrap()
        };
        assert_eq!(config("").body_store(), BodyStoreKind::Database, "a new install");
        std::fs::create_dir_all(dir.path().join("spool/bodies/ab")).unwrap();
        assert_eq!(config("").body_store(), BodyStoreKind::Filesystem, "an install from the filesystem default");
        assert_eq!(config("[spool]\nstore = \"database\"\n").body_store(), BodyStoreKind::Database, "said");
        let postgres = "database_url = \"postgres://moat@db/moat\"\n";
        assert_eq!(config(postgres).body_store(), BodyStoreKind::Database, "a cluster shares its database");
    }

    #[test]
    fn every_documented_key_parses() {
        let c = Config::parse(
            r#"
            [server]
            hostname = "mx1.example.com"
            data_dir = "/var/lib/moat"
            database_url = "postgres://moat:secret@db/moat"
            [smtp]
            listen = ["0.0.0.0:25", "[::]:25"]
            tls_certificate = "/etc/moat/cert.pem"
            tls_key = "/etc/moat/key.pem"
            max_message_size = 52428800
            max_recipients = 500
            max_errors = 5
            idle_timeout = "2m"
            max_connections = 2000
            max_connections_per_ip = 50
            [spool]
            fsync = true
            store = "s3"
            [spool.s3]
            endpoint = "http://127.0.0.1:9000"
            bucket = "moat-mail"
            region = "eu-west-1"
            prefix = "mx"
            access_key_id = "moat"
            secret_access_key = "secret"
            [cluster]
            node = "mx1"
            lease = "90s"
            [delivery]
            concurrency = 64
            connect_timeout = "10s"
            command_timeout = "2m"
            retry_intervals = ["30s", "10m", "1h"]
            max_age = "7d"
            poll_interval = "1s"
            relay = "smtp.example.net:25"
            [admin]
            listen = "127.0.0.1:9999"
            [quarantine]
            digest_every = "12h"
            [retention]
            log = "180d"
            quarantine = "14d"
            message_copies = "0s"
            "#,
        )
        .unwrap();
        assert_eq!(c.delivery.retry_after(9), std::time::Duration::from_secs(3600));
        assert_eq!(c.smtp.idle_timeout, std::time::Duration::from_secs(120));
        assert_eq!(c.retention.quarantine, Duration::from_secs(14 * 86400));
        assert!(c.retention.message_copies.is_zero());
        assert_eq!((c.node(), c.cluster.lease), ("mx1", Duration::from_secs(90)));
        assert_eq!(c.spool.store, Some(BodyStoreKind::S3));
        assert_eq!(c.quarantine.digest_every, Duration::from_secs(12 * 3600));
    }

    /// Each `tests/config/*.toml` is a broken configuration; the matching `.err` holds text its error must contain.
    #[test]
    fn invalid_configs_fail_with_their_golden_message() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let expected = std::fs::read_to_string(path.with_extension("err")).unwrap();
                let err = Config::parse(&std::fs::read_to_string(&path).unwrap()).unwrap_err();
                let err = format!("{err:#}");
                assert!(err.contains(expected.trim()), "{}: got {err:?}, want {:?}", path.display(), expected.trim());
                seen += 1;
            }
        }
        assert!(seen >= 4, "golden cases found: {seen}");
    }
}
