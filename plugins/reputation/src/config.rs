//! The reputation layer's configuration, checked in full when a chain is saved.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// The list's DNS zone, e.g. `zen.spamhaus.org` (the chain entry must grant it: `dns = [...]`).
    pub zone: String,
    /// Added to the score when the client is listed (negative for allow lists).
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Greylisting {
    /// Seconds a first-time (client network, sender, recipient) triplet must wait before a retry passes.
    pub delay: u64,
    /// Seconds a triplet waits for its retry before it must start over.
    pub retry_window: u64,
    /// Days a triplet whose retry passed is let straight through.
    pub pass_days: u64,
    /// Recipient domains never greylisted.
    pub skip_domains: Vec<String>,
}

impl Default for Greylisting {
    fn default() -> Self {
        Self { delay: 300, retry_window: 86_400, pass_days: 36, skip_domains: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rate {
    /// Messages per minute one client IP may send (0: no limit).
    pub messages_per_ip: i64,
    /// Messages per minute one client network (/24, /64) may send (0: no limit).
    pub messages_per_network: i64,
}

impl Default for Rate {
    fn default() -> Self {
        Self { messages_per_ip: 120, messages_per_network: 600 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Local {
    pub enabled: bool,
    /// Days after which a verdict counts half.
    pub half_life_days: f64,
    /// Weighted messages needed before an IP or network is judged.
    pub min_messages: f64,
}

impl Default for Local {
    fn default() -> Self {
        Self { enabled: true, half_life_days: 3.0, min_messages: 5.0 }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub dnsbl: Vec<Zone>,
    #[serde(default)]
    pub dnswl: Vec<Zone>,
    /// Summed DNSBL weight at which the client is refused outright (554 5.7.1); unset: only scored.
    pub reject_at: Option<f64>,
    /// Absent: no greylisting.
    pub greylisting: Option<Greylisting>,
    #[serde(default)]
    pub rate: Rate,
    #[serde(default)]
    pub local: Local,
}

impl Config {
    pub fn parse(json: &str) -> Result<Self, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let config: Config = serde_json::from_str(json).map_err(|e| format!("reputation config: {e}"))?;
        for zone in config.dnsbl.iter().chain(&config.dnswl) {
            let name = zone.zone.trim_end_matches('.');
            if name.is_empty() || !name.contains('.') || name.contains(char::is_whitespace) {
                return Err(format!("reputation config: {:?} is not a DNS zone", zone.zone));
            }
            if !zone.weight.is_finite() {
                return Err(format!("reputation config: the weight of {} must be a number", zone.zone));
            }
        }
        if let Some(grey) = &config.greylisting
            && grey.delay >= grey.retry_window
        {
            return Err("reputation config: greylisting.delay must be shorter than greylisting.retry_window".into());
        }
        if config.local.half_life_days <= 0.0 {
            return Err("reputation config: local.half_life_days must be positive".into());
        }
        Ok(config)
    }
}
