//! Administration commands, run against the same store as the server (SQLite file or PostgreSQL).

pub mod admin;
pub mod alerts;
pub mod antivirus;
pub mod chain;
pub mod domain;
pub mod ldap;
pub mod list;
pub mod log;
pub mod mailbox;
pub mod node;
pub mod outbound;
pub mod plugin;
mod plugin_new;
pub mod quarantine;
pub mod queue;
pub mod scan;
pub mod tenant;

use crate::config::Config;
use moat_directory::Directory;
use moat_store::{Durability, Store};

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    open_store_with(config, Durability::Full).await
}

pub(crate) async fn open_store_with(config: &Config, durability: Durability) -> anyhow::Result<Store> {
    crate::data_dir::prepare(&config.server.data_dir)?;
    Ok(Store::open(&config.database_url(), durability).await?)
}

/// The directory, sealing secrets with the data dir's key file as the server does.
pub(crate) async fn open_directory(config: &Config) -> anyhow::Result<Directory> {
    let store = open_store(config).await?;
    let keyring = moat_directory::Keyring::load_or_create(&config.server.data_dir)?;
    Ok(Directory::new(store).with_keyring(std::sync::Arc::new(keyring)))
}

/// The queue, for a command that queues mail (the server delivers it within its poll interval).
pub(crate) fn queue(config: &Config, store: &Store) -> anyhow::Result<moat_smtp::Queue> {
    Ok(moat_smtp::Queue::new(
        store.clone(),
        config.bodies(store)?,
        &config.server.hostname,
        config.delivery.max_age,
        moat_smtp::Metrics::default(),
    ))
}

/// Prints the header section of message `id`'s body (`moat queue show`, `moat quarantine show`).
pub(crate) async fn print_header_section(
    config: &Config,
    store: &Store,
    id: &str,
    key: Option<&moat_store::BodyKey>,
) -> anyhow::Result<()> {
    let key =
        key.ok_or_else(|| anyhow::anyhow!("{id} has no body in the message store yet: start `moat serve` once"))?;
    let body = config.bodies(store)?.get(key).await?;
    let body = body.ok_or_else(|| anyhow::anyhow!("the body of {id} is not in the message store"))?;
    let end = body.windows(4).position(|w| w == b"\r\n\r\n").map_or(body.len(), |i| i + 2);
    println!("\n{}", String::from_utf8_lossy(&body[..end]));
    Ok(())
}

/// A directory that can ask domains' servers about addresses (sign-up by SMTP).
pub(crate) fn with_callout(config: &Config, directory: Directory) -> anyhow::Result<Directory> {
    let callout = moat_smtp::outbound::callout::SmtpCallout::new(
        directory.store().clone(),
        &config.server.hostname,
        config.destinations(),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(directory.with_callout(std::sync::Arc::new(callout)))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub(crate) fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S").to_string())
}
