//! The SMTP side of Moat's configuration. Each field's doc comment shows its TOML line.

use serde::Deserialize;
use std::time::Duration;

/// `[smtp]`: the inbound listener and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// `listen = ["0.0.0.0:25"]` — addresses the MX listener binds (default `127.0.0.1:2525`).
    pub listen: Vec<std::net::SocketAddr>,
    /// `tls_certificate = "/etc/moat/cert.pem"` — PEM chain for STARTTLS; unset, a self-signed one is
    /// generated under `data_dir/tls` on first start.
    pub tls_certificate: Option<std::path::PathBuf>,
    /// `tls_key = "/etc/moat/key.pem"` — PEM private key of `tls_certificate`.
    pub tls_key: Option<std::path::PathBuf>,
    /// `max_message_size = 26214400` — bytes; larger messages get `552 5.3.4` (advertised in EHLO SIZE).
    pub max_message_size: usize,
    /// `max_recipients = 100` — per message; further RCPTs get `452 4.5.3`.
    pub max_recipients: usize,
    /// `max_errors = 10` — bad commands or refused recipients before the session is closed with `421`.
    pub max_errors: u32,
    /// `idle_timeout = "5m"` — how long a client may take to send a whole command (from its first byte, or
    /// from the previous reply), and to read a reply; a message gets this plus what it earns at
    /// `min_data_rate`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// `min_data_rate = 500` — bytes a second a message must arrive at, on average, past the idle timeout
    /// (Postfix's `smtpd_min_data_rate`); 0 turns the bound off.
    pub min_data_rate: u64,
    /// `max_connections = 1000` — concurrent inbound sessions in all.
    pub max_connections: usize,
    /// `max_connections_per_ip = 20` — concurrent inbound sessions from one client address.
    pub max_connections_per_ip: usize,
    /// `connection_rate_per_ip = 60` — new connections per minute from one client address (0: no limit;
    /// loopback clients are never limited).
    pub connection_rate_per_ip: u32,
    /// `connection_rate_per_network = 300` — new connections per minute from one /24 (IPv6: /64).
    pub connection_rate_per_network: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            listen: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 2525))],
            tls_certificate: None,
            tls_key: None,
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_errors: 10,
            idle_timeout: Duration::from_secs(300),
            min_data_rate: 500,
            max_connections: 1000,
            max_connections_per_ip: 20,
            connection_rate_per_ip: 60,
            connection_rate_per_network: 300,
        }
    }
}

/// `[submission]`: where customers' servers relay their outgoing mail (SMTP AUTH inside TLS), and how much
/// they may send. The limits of `[smtp]` apply to these sessions too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionConfig {
    /// `listen = ["0.0.0.0:587"]` — STARTTLS, then AUTH (default `127.0.0.1:5870`; `[]`: none).
    pub listen: Vec<std::net::SocketAddr>,
    /// `listen_tls = ["0.0.0.0:465"]` — TLS from the first byte, then AUTH (default `127.0.0.1:4650`).
    pub listen_tls: Vec<std::net::SocketAddr>,
    /// `account_limits = { messages_per_hour = 500, … }` — what one account (SMTP credential or admin) may
    /// send; past a limit `451 4.7.1`.
    pub account_limits: SendingLimits,
    /// `tenant_limits = { messages_per_hour = 5000, … }` — what all of one tenant's accounts may send together.
    pub tenant_limits: SendingLimits,
    /// `suspend_after_refused = 5` — outbound messages in a row the chain refused or held that suspend an
    /// SMTP credential (a compromised account sending spam); 0: never.
    pub suspend_after_refused: u32,
    /// `suspend_after_bounces = 50` — recipients of one credential's mail that do not exist (refused at RCPT,
    /// or bounced by the receiving server) within an hour that suspend it; 0: never.
    pub suspend_after_bounces: u32,
}

/// Messages and recipients per hour and per day (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingLimits {
    pub messages_per_hour: u64,
    pub recipients_per_hour: u64,
    pub messages_per_day: u64,
    pub recipients_per_day: u64,
}

impl Default for SendingLimits {
    fn default() -> Self {
        Self { messages_per_hour: 500, recipients_per_hour: 2_000, messages_per_day: 5_000, recipients_per_day: 20_000 }
    }
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        let account = SendingLimits::default();
        let times = |n: u64| n * 10;
        Self {
            listen: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 5870))],
            listen_tls: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 4650))],
            account_limits: account,
            tenant_limits: SendingLimits {
                messages_per_hour: times(account.messages_per_hour),
                recipients_per_hour: times(account.recipients_per_hour),
                messages_per_day: times(account.messages_per_day),
                recipients_per_day: times(account.recipients_per_day),
            },
            suspend_after_refused: 5,
            suspend_after_bounces: 50,
        }
    }
}

/// A setting of `[smtp]`, `[submission]` or `[delivery]` that cannot work, in the words of the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("submission.listen and submission.listen_tls must not share an address")]
    SubmissionListenersShared,
    #[error("smtp.listen must name at least one address")]
    NoListener,
    #[error("smtp.tls_certificate and smtp.tls_key go together: set both or neither")]
    HalfTls,
    #[error("smtp.max_message_size must be at least 1024, max_recipients and max_errors at least 1")]
    SessionLimits,
    #[error("delivery.retry_intervals must list at least one interval")]
    NoRetryInterval,
    #[error("delivery.concurrency and delivery.per_destination must be at least 1")]
    Concurrency,
    #[error("delivery.relay: bad port in {0:?}")]
    RelayPort(String),
}

/// Why a part of the SMTP server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Resolver(#[from] moat_chains::ResolverSetupError),
    #[error("cannot set up the DNS resolver for SPF/DKIM/DMARC: {0}")]
    Authenticator(String),
}

impl SubmissionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Port 0 (any free port, as tests bind) never clashes.
        let overlap = self.listen.iter().any(|a| a.port() != 0 && self.listen_tls.contains(a));
        if overlap {
            return Err(ConfigError::SubmissionListenersShared);
        }
        Ok(())
    }
}

/// `[delivery]`: the queue and delivery to downstream hosts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// `concurrency = 32` — messages delivered at the same time.
    pub concurrency: usize,
    /// `per_destination = 8` — deliveries at the same time to one destination (a protected domain's servers,
    /// or an outside domain): one stalled server never takes every slot.
    pub per_destination: usize,
    /// `connect_timeout = "30s"`
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// `command_timeout = "5m"` — per SMTP command, and for sending the message (RFC 5321 §4.5.3.2).
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// `data_timeout = "10m"` — for the reply after the message's final dot (RFC 5321: 10 minutes, the
    /// server may be filtering it; giving up earlier only makes duplicates).
    #[serde(with = "humantime_serde")]
    pub data_timeout: Duration,
    /// `keep_connections = "2s"` — how long a connection to a downstream host stays open after a delivery,
    /// for the next message to the same host (no new TCP connection, TLS handshake or EHLO); `"0s"` closes
    /// each after its message. Reused for at most 5 minutes.
    #[serde(with = "humantime_serde")]
    pub keep_connections: Duration,
    /// `retry_intervals = ["1m", "5m", "15m", "30m", "1h", "2h", "4h"]` — waits between attempts; the last
    /// one repeats until `max_age`.
    #[serde(deserialize_with = "durations")]
    pub retry_intervals: Vec<Duration>,
    /// `max_age = "5d"` — how long mail is kept and retried while downstream hosts are down (the incoming
    /// email backup) before it bounces.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// `poll_interval = "5s"` — how often the queue is checked for due mail besides new arrivals (it also
    /// picks up `moat queue flush` from another process).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// `relay = "smtp.example.net:25"` — where mail for domains Moat does not protect (bounces to outside
    /// senders) goes; unset, such mail goes to the domain's MX hosts.
    pub relay: Option<String>,
    /// `mx_port = 25` — the port of outside domains' MX hosts (a test, or a network that reaches the
    /// Internet's port 25 through a port forward, sets another).
    pub mx_port: u16,
    /// `allowed_networks = []` — exceptions to `denied_networks` (e.g. `["127.0.0.0/8"]` for a downstream
    /// server on this machine).
    #[serde(deserialize_with = "networks")]
    pub allowed_networks: Vec<crate::outbound::networks::Network>,
    /// `denied_networks = ["127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/4", "::1/128", "::/128",
    /// "fe80::/10", "ff00::/8"]` — where Moat never connects for a tenant (downstream hosts, sign-up
    /// callouts, Test SMTP, MX hosts of outside domains); Moat's own listeners are refused always. Add
    /// private ranges a tenant must not reach.
    #[serde(deserialize_with = "networks")]
    pub denied_networks: Vec<crate::outbound::networks::Network>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let m = |mins: u64| Duration::from_secs(mins * 60);
        Self {
            concurrency: 32,
            per_destination: 8,
            connect_timeout: Duration::from_secs(30),
            command_timeout: m(5),
            data_timeout: m(10),
            keep_connections: Duration::from_secs(2),
            retry_intervals: vec![m(1), m(5), m(15), m(30), m(60), m(120), m(240)],
            max_age: Duration::from_secs(5 * 86400),
            poll_interval: Duration::from_secs(5),
            relay: None,
            mx_port: 25,
            allowed_networks: Vec::new(),
            denied_networks: crate::outbound::networks::default_denied(),
        }
    }
}

impl SessionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::NoListener);
        }
        if self.tls_certificate.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::HalfTls);
        }
        if self.max_message_size < 1024 || self.max_recipients == 0 || self.max_errors == 0 {
            return Err(ConfigError::SessionLimits);
        }
        Ok(())
    }
}

impl DeliveryConfig {
    /// The destination policy of these settings, refusing `own` (Moat's listeners) as well.
    pub fn destinations(
        &self,
        own: impl IntoIterator<Item = std::net::SocketAddr>,
    ) -> crate::outbound::networks::Destinations {
        crate::outbound::networks::Destinations::new(self.allowed_networks.clone(), self.denied_networks.clone())
            .with_own_listeners(own)
    }

    /// The wait after the `attempts`-th failed attempt (1-based).
    pub fn retry_after(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) as usize - 1).min(self.retry_intervals.len().saturating_sub(1));
        self.retry_intervals.get(i).copied().unwrap_or(Duration::from_secs(300))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_intervals.is_empty() {
            return Err(ConfigError::NoRetryInterval);
        }
        if self.concurrency == 0 || self.per_destination == 0 {
            return Err(ConfigError::Concurrency);
        }
        Ok(())
    }
}

fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<crate::outbound::networks::Network>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts.iter().map(|t| t.parse().map_err(serde::de::Error::custom)).collect()
}

fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| humantime::parse_duration(t).map_err(|e| serde::de::Error::custom(format!("{t:?}: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_retry_interval_repeats() {
        let c = DeliveryConfig::default();
        assert_eq!(c.retry_after(1), Duration::from_secs(60));
        assert_eq!(c.retry_after(7), Duration::from_secs(4 * 3600));
        assert_eq!(c.retry_after(50), Duration::from_secs(4 * 3600));
    }
}
