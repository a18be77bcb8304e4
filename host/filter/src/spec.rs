//! A chain as an admin writes it (TOML for `moat chain set`, JSON in the store), checked before it is saved
//! and turned into a runnable [`Chain`] by the server.

use crate::chain::{Autolearn, Chain, ChainEntry, FailPolicy, Teaching, Thresholds};
use crate::host::{Capabilities, DnsGrant, KvGrant, KvStore, Resolver};
use crate::plugin::{CallSetup, Plugin};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// Fuel a chain entry may ask for at most: ten times the default budget.
pub const MAX_FUEL: u64 = 2_000_000_000;

fn default_subject_tag() -> String {
    "[SPAM]".into()
}

fn yes() -> bool {
    true
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Prefixed to the subject of tagged messages; empty to leave subjects alone.
    #[serde(default = "default_subject_tag")]
    pub subject_tag: String,
    /// When entries marked `autolearn` are taught by the chain's verdicts.
    #[serde(default)]
    pub autolearn: Autolearn,
    #[serde(default, rename = "entry")]
    pub entries: Vec<EntrySpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    pub plugin: String,
    /// Pinned when the chain is saved (the latest uploaded version, if left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The plugin's configuration (a TOML table here, JSON for the plugin).
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub shadow: bool,
    #[serde(default)]
    pub fail: FailPolicy,
    /// Runs even after an earlier entry accepted the message (antivirus).
    #[serde(default)]
    pub always: bool,
    /// Learns from every verdict of the chain: spam when the message is tagged, quarantined or rejected,
    /// ham when it is delivered clean (IP reputation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learn_verdicts: bool,
    /// Learns from the mail the rest of the chain is sure of (`[autolearn]`: a classifier).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub autolearn: bool,
    /// Fuel per call, instead of the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Grants key-value storage (namespaced to the tenant and plugin).
    #[serde(default)]
    pub kv: bool,
    /// Keeps a few instances between calls, so what the plugin builds once survives to the next message
    /// (an antivirus' compiled signatures); each call still gets its own fuel, memory cap and grants.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warm: bool,
    /// DNS zones the plugin may query (a DNSBL's zone, say); none by default.
    #[serde(default)]
    pub dns: Vec<String>,
}

#[derive(Debug, Error, PartialEq)]
pub enum SpecError {
    #[error("{0}")]
    Syntax(String),
    #[error(
        "thresholds must rise (tag ≤ quarantine ≤ reject, all finite), but tag is {tag}, quarantine {quarantine} and reject {reject}"
    )]
    Thresholds { tag: f64, quarantine: f64, reject: f64 },
    #[error("entry {index} ({plugin}): fuel must be between 1 and {MAX_FUEL}")]
    Fuel { index: usize, plugin: String },
    #[error("entry {index} ({plugin}): {zone:?} is not a DNS zone")]
    Zone { index: usize, plugin: String, zone: String },
    #[error("entry {index} ({plugin}): the config must be a table (JSON object)")]
    Config { index: usize, plugin: String },
    #[error("entry {index}: no plugin {plugin} {version} is registered")]
    UnknownPlugin { index: usize, plugin: String, version: String },
    #[error("entry {index} ({plugin}): the plugin refused its config: {reason}")]
    Refused { index: usize, plugin: String, reason: String },
    #[error("subject tag is too long (at most 40 characters)")]
    SubjectTag,
    #[error("autolearn thresholds must be finite, with ham ({ham}) below spam ({spam})")]
    Autolearn { spam: f64, ham: f64 },
    #[error("entry {index} ({plugin}): learn_verdicts and autolearn are two ways to learn; choose one")]
    Teaching { index: usize, plugin: String },
}

impl ChainSpec {
    /// Parses the TOML an admin writes, then checks what can be checked without the plugins.
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        let spec: Self = toml::from_str(text).map_err(|e| SpecError::Syntax(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let spec: Self = serde_json::from_str(text).map_err(|e| SpecError::Syntax(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a chain spec is always JSON")
    }

    /// TOML for `moat chain show`; JSON when the config holds what TOML cannot (a null, say).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|_| serde_json::to_string_pretty(self).unwrap_or_default())
    }

    fn check(&self) -> Result<(), SpecError> {
        let Thresholds { tag, quarantine, reject } = self.thresholds;
        if !(tag <= quarantine && quarantine <= reject) || [tag, quarantine, reject].iter().any(|t| !t.is_finite()) {
            return Err(SpecError::Thresholds { tag, quarantine, reject });
        }
        if self.subject_tag.chars().count() > 40 || self.subject_tag.contains(['\r', '\n']) {
            return Err(SpecError::SubjectTag);
        }
        let Autolearn { spam, ham } = self.autolearn;
        if !(spam.is_finite() && ham.is_finite() && ham < spam) {
            return Err(SpecError::Autolearn { spam, ham });
        }
        for (i, e) in self.entries.iter().enumerate() {
            let (index, plugin) = (i + 1, e.plugin.clone());
            if e.fuel.is_some_and(|f| f == 0 || f > MAX_FUEL) {
                return Err(SpecError::Fuel { index, plugin });
            }
            if !e.config.is_object() {
                return Err(SpecError::Config { index, plugin });
            }
            if e.learn_verdicts && e.autolearn {
                return Err(SpecError::Teaching { index, plugin });
            }
            if let Some(zone) = e.dns.iter().find(|z| !is_zone(z)) {
                return Err(SpecError::Zone { index, plugin, zone: zone.clone() });
            }
        }
        Ok(())
    }

    /// The enabled entries' (plugin, version) pairs, versions pinned.
    pub fn plugins(&self) -> impl Iterator<Item = (usize, &str, &str)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.enabled)
            .map(|(i, e)| (i + 1, e.plugin.as_str(), e.version.as_deref().unwrap_or("")))
    }

    /// Asks every enabled entry's plugin whether it accepts its config; the plugin's words reach the admin.
    pub fn configure(&self, plugins: &HashMap<(String, String), Arc<Plugin>>) -> Result<(), SpecError> {
        for (index, name, version) in self.plugins() {
            let plugin = lookup(plugins, index, name, version)?;
            let config = self.entries[index - 1].config.to_string();
            let reason = match plugin.configure(&config).result {
                Ok(Ok(())) => continue,
                Ok(Err(reason)) => reason,
                Err(failure) => failure.to_string(),
            };
            return Err(SpecError::Refused { index, plugin: name.into(), reason });
        }
        Ok(())
    }

    /// The runnable chain. `tenant` namespaces each plugin's key-value storage.
    pub fn build(
        &self,
        plugins: &HashMap<(String, String), Arc<Plugin>>,
        tenant: &str,
        kv: Option<Arc<dyn KvStore>>,
        dns: Option<Arc<dyn Resolver>>,
    ) -> Result<Chain, SpecError> {
        let mut entries = Vec::new();
        for (index, name, version) in self.plugins() {
            let plugin = lookup(plugins, index, name, version)?;
            let spec = &self.entries[index - 1];
            let capabilities = Capabilities {
                kv: kv.clone().filter(|_| spec.kv).map(|kv| KvGrant::new(kv, tenant, name)),
                dns: dns
                    .clone()
                    .filter(|_| !spec.dns.is_empty())
                    .map(|resolver| DnsGrant { resolver, zones: spec.dns.clone().into() }),
            };
            let call = CallSetup {
                config: spec.config.to_string().into(),
                capabilities,
                fuel: spec.fuel.unwrap_or(plugin.default_fuel()),
                warm: spec.warm.then(Default::default),
            };
            let mut entry = ChainEntry::new(plugin.clone(), call);
            entry.shadow = spec.shadow;
            entry.fail = spec.fail;
            entry.always = spec.always;
            entry.teaching = match (spec.learn_verdicts, spec.autolearn) {
                (true, _) => Teaching::EveryVerdict,
                (false, true) => Teaching::Confident,
                (false, false) => Teaching::Nothing,
            };
            entries.push(entry);
        }
        Ok(Chain {
            entries,
            thresholds: self.thresholds,
            subject_tag: self.subject_tag.clone(),
            autolearn: self.autolearn,
        })
    }
}

impl Default for ChainSpec {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            subject_tag: default_subject_tag(),
            autolearn: Autolearn::default(),
            entries: Vec::new(),
        }
    }
}

fn lookup<'a>(
    plugins: &'a HashMap<(String, String), Arc<Plugin>>,
    index: usize,
    name: &str,
    version: &str,
) -> Result<&'a Arc<Plugin>, SpecError> {
    plugins.get(&(name.to_owned(), version.to_owned())).ok_or_else(|| SpecError::UnknownPlugin {
        index,
        plugin: name.into(),
        version: version.into(),
    })
}

fn is_zone(zone: &str) -> bool {
    let zone = zone.trim_end_matches('.');
    !zone.is_empty()
        && zone.len() <= 253
        && zone.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admins_chain_parses_with_defaults() {
        let spec = ChainSpec::from_toml(
            r#"
            thresholds = { tag = 4.0, quarantine = 8.0, reject = 20.0 }

            [[entry]]
            plugin = "reputation"
            version = "1.0.0"
            dns = ["zen.example"]
            config = { zones = { "zen.example" = 3.5 } }

            [[entry]]
            plugin = "bayes"
            shadow = true
            fail = "closed"
            kv = true
            "#,
        )
        .unwrap();
        assert_eq!(spec.thresholds.reject, 20.0);
        assert_eq!(spec.subject_tag, "[SPAM]");
        assert_eq!(spec.entries[0].config["zones"]["zen.example"], 3.5);
        assert!(spec.entries[1].shadow && spec.entries[1].kv && spec.entries[1].enabled);
        assert_eq!(spec.entries[1].fail, FailPolicy::Closed);
        assert_eq!(ChainSpec::from_json(&spec.to_json()).unwrap(), spec);
        assert_eq!(ChainSpec::from_toml(&spec.to_toml()).unwrap(), spec);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t: &str| ChainSpec::from_toml(t).unwrap_err().to_string();
        assert_eq!(
            err("thresholds = { tag = 9.0, quarantine = 8.0, reject = 20.0 }"),
            "thresholds must rise (tag ≤ quarantine ≤ reject, all finite), but tag is 9, quarantine 8 and reject 20"
        );
        assert!(err("[[entry]]\nplugin = \"x\"\nshadw = true").contains("unknown field `shadw`"));
        assert_eq!(err("[[entry]]\nplugin = \"x\"\nfuel = 0"), "entry 1 (x): fuel must be between 1 and 2000000000");
        assert_eq!(
            err("[[entry]]\nplugin = \"x\"\ndns = [\"bad zone\"]"),
            "entry 1 (x): \"bad zone\" is not a DNS zone"
        );
        assert!(err("[[entry]]\nplugin = \"x\"\nfail = \"sideways\"").contains("unknown variant `sideways`"));
    }
}
