//! The built-in filter plugins, embedded at build time (see build.rs), and the default chains (inbound and
//! outbound) a new install starts with.

use moat_chains::Registry;
use moat_filter::ChainSpec;
use moat_store::{ChainScope, Direction, Store};

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Who the registry says uploaded the built-in plugins.
const BUILTIN_UPLOADER: &str = "moat (built-in)";

/// The built-ins in chain order, with what each entry grants and whether the outbound chain has it. Lists
/// first (an allow or deny decides before any scoring); antivirus runs even after an allow (`always`), stays
/// warm (`warm`: its compiled signature database is kept between messages) and fails closed: a message it
/// could not finish scanning is answered `451` (the sender retries), never delivered as clean. Every
/// built-in is warm: Moat's own code keeps nothing of a message between calls, and a kept instance saves its
/// instantiation and fresh memory (and the phishing layer's prepared brand table) on every message. Outgoing mail
/// comes from the customer's own server: nothing judges its client (lists, reputation, SPF/DKIM/DMARC), only
/// what it carries.
const DEFAULT_ORDER: &[(&str, &str, bool)] = &[
    ("lists", "kv = true\nwarm = true\n", false),
    ("reputation", "kv = true\nlearn_verdicts = true\nwarm = true\n", false),
    ("antivirus", "kv = true\nalways = true\nwarm = true\nfail = \"closed\"\nfuel = 2000000000\n", true),
    ("authentication", "warm = true\n", false),
    ("phishing", "kv = true\nwarm = true\n", true),
    ("rules", "warm = true\n", true),
    ("bayes", "kv = true\nautolearn = true\nwarm = true\n", true),
];

/// The version a built-in is registered under: its crate's version and the start of its sha256, so a
/// rebuilt plugin is a new version (chains pinned to the old bytes keep them) even before its crate's
/// version is bumped.
pub(crate) fn registered_version(version: &str, bytes: &[u8]) -> String {
    format!("{version}+{}", &moat_filter::sha256_hex(bytes)[..10])
}

/// Whether `name` is a built-in's: nobody else may register a plugin under it, in any scope, so a chain
/// naming `lists` always runs Moat's own bytes.
pub fn is_reserved(name: &str) -> bool {
    BUILTIN.iter().any(|(n, _, _)| n.eq_ignore_ascii_case(name))
}

/// The `direction` chain every tenant without its own gets, once the built-ins are registered. Thresholds
/// are the defaults (tag 5, quarantine 10, reject 15); see README "Built-in filters".
pub fn default_chain(direction: Direction) -> String {
    let mut toml = String::from("thresholds = { tag = 5.0, quarantine = 10.0, reject = 15.0 }\n");
    let outbound = direction == Direction::Outbound;
    for (name, grants, _) in DEFAULT_ORDER.iter().filter(|(_, _, out)| !outbound || *out) {
        let Some((_, version, bytes)) = BUILTIN.iter().find(|(n, _, _)| n == name) else { continue };
        let version = registered_version(version, bytes);
        toml.push_str(&format!("\n[[entry]]\nplugin = {name:?}\nversion = {version:?}\n{grants}"));
    }
    toml
}

/// Registers built-in plugin versions the store lacks, and saves the default chain if none was ever saved
/// or the live one is still what an earlier Moat saved (an admin's default chain is never replaced).
pub async fn install(registry: &Registry, store: &Store) -> anyhow::Result<()> {
    let registered = store.plugin_list().await?;
    for (name, version, bytes) in BUILTIN {
        let version = registered_version(version, bytes);
        if registered.iter().any(|p| p.owner.is_none() && p.name == *name && p.version == version) {
            continue;
        }
        // Validated like any upload: a built-in that does not load is a build defect, said plainly.
        registry.register(store, None, name, &version, bytes, BUILTIN_UPLOADER).await?;
        tracing::info!(plugin = name, version, "registered built-in plugin");
    }
    for direction in [Direction::Inbound, Direction::Outbound] {
        let spec = ChainSpec::from_toml(&default_chain(direction))?.to_json();
        let outdated = match store.chain_history(direction, ChainScope::Default).await?.first() {
            None => true,
            Some(live) => live.created_by == BUILTIN_UPLOADER && live.spec.as_deref() != Some(spec.as_str()),
        };
        if outdated {
            let now = moat_store::unix_now();
            store.chain_save(direction, ChainScope::Default, Some(&spec), BUILTIN_UPLOADER, now).await?;
            tracing::info!(direction = direction.as_str(), "default chain saved with this version's built-in filters");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_its_place_in_the_default_chain() {
        for (name, _, _) in BUILTIN {
            assert!(DEFAULT_ORDER.iter().any(|(n, _, _)| n == name), "{name} is built in but not in DEFAULT_ORDER");
        }
        ChainSpec::from_toml(&default_chain(Direction::Inbound)).unwrap();
        let outbound = ChainSpec::from_toml(&default_chain(Direction::Outbound)).unwrap();
        let names: Vec<&str> = outbound.entries.iter().map(|e| e.plugin.as_str()).collect();
        assert_eq!(names, ["antivirus", "phishing", "rules", "bayes"], "nothing judges the customer's own server");
    }

    /// Each built-in describes itself (SDK `describe!`): the custom section survives the build and the
    /// componentization, and the host reads it from the component's bytes.
    #[test]
    fn every_builtin_says_what_it_does_and_how_to_configure_it() {
        for (name, _, bytes) in BUILTIN {
            let about = moat_filter::read_about(bytes).unwrap_or_else(|| panic!("{name} has no moat:about section"));
            assert!(about.summary.len() > 20 && about.summary.ends_with('.'), "{name}: {:?}", about.summary);
            assert!(!about.configuration.is_empty(), "{name}: no configuration help");
        }
    }

    #[tokio::test]
    async fn a_default_chain_moat_saved_follows_upgrades_and_an_admins_stays() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), moat_store::Durability::None)
                .await
                .unwrap();
        let live =
            |store: Store| async move { store.chain_history(Direction::Inbound, ChainScope::Default).await.unwrap() };
        let registry = Registry::new(moat_filter::FilterEngine::new(None, moat_filter::Limits::default()).unwrap());
        install(&registry, &store).await.unwrap();
        assert_eq!(live(store.clone()).await.len(), 1);
        let outbound = store.chain_history(Direction::Outbound, ChainScope::Default).await.unwrap();
        assert_eq!(outbound.len(), 1, "and the outbound default chain");
        install(&registry, &store).await.unwrap();
        assert_eq!(live(store.clone()).await.len(), 1, "nothing changed: nothing saved");

        // What an older Moat saved is replaced by this version's default chain.
        let older = ChainSpec::from_toml("[[entry]]\nplugin = \"lists\"\n").unwrap().to_json();
        store.chain_save(Direction::Inbound, ChainScope::Default, Some(&older), BUILTIN_UPLOADER, 1).await.unwrap();
        install(&registry, &store).await.unwrap();
        let history = live(store.clone()).await;
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].spec, history[2].spec);

        // An admin's default chain is theirs.
        store.chain_save(Direction::Inbound, ChainScope::Default, Some(&older), "admin", 2).await.unwrap();
        install(&registry, &store).await.unwrap();
        assert_eq!(live(store.clone()).await[0].spec.as_deref(), Some(older.as_str()));
    }
}
