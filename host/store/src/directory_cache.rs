//! Answers of directory lookups kept per node: a recipient's mailbox and a domain's downstream hosts are
//! read for every message and change only when someone edits the directory. Every write to the directory's
//! tables moves `directory_version` (database triggers, so no write path can forget); at most every `refresh`
//! a lookup asks for it, and what was remembered is dropped when it moved. A node thus serves an edit made
//! anywhere in the cluster (console, API, import, sign-up on another node) within `refresh`.
//!
//! Only answers that found something are kept: a mailbox or domain just added is seen at once, and a
//! dictionary attack's misses cost what they cost before, never memory.

use crate::{Result, Store};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before the cache starts over: a bound, not a working-set size (a domain of 100,000 users
/// still fits).
const MAX_ENTRIES: usize = 200_000;

/// What one lookup kind remembers, by key (a normalized address, a domain name).
pub struct DirectoryCache<V> {
    store: Store,
    refresh: Duration,
    state: Mutex<State<V>>,
}

struct State<V> {
    /// The directory's version the entries reflect.
    version: Option<i64>,
    /// When the version was last asked for (or is being asked for).
    checked: Option<Instant>,
    /// Moves whenever the entries are dropped, so an answer read before the drop is not remembered after it.
    epoch: u64,
    entries: HashMap<String, V>,
}

/// Taken by [`DirectoryCache::get`] and given back to [`DirectoryCache::remember`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<V: Clone> DirectoryCache<V> {
    pub fn new(store: Store, refresh: Duration) -> Self {
        let state = State { version: None, checked: None, epoch: 0, entries: HashMap::new() };
        Self { store, refresh, state: Mutex::new(state) }
    }

    /// The remembered answer for `key`, after catching up with the directory when due; the ticket lets a
    /// miss's fresh answer be remembered.
    pub async fn get(&self, key: &str) -> (Option<V>, Ticket) {
        if self.claim_check() {
            let version = self.store.directory_version().await;
            let mut state = self.state.lock().expect("directory cache lock");
            match version {
                Ok(version) if state.version == Some(version) => {}
                Ok(version) => {
                    state.version = Some(version);
                    state.forget();
                }
                Err(e) => {
                    // Unknown whether anything changed: answer from the store until it can say.
                    tracing::warn!("cannot read the directory's version: {e}");
                    state.version = None;
                    state.checked = None;
                    state.forget();
                }
            }
        }
        let state = self.state.lock().expect("directory cache lock");
        (state.entries.get(key).cloned(), Ticket(state.epoch))
    }

    /// Keeps `value` as the answer for `key`, unless the entries were dropped since `ticket` was taken (the
    /// answer may predate the change that dropped them).
    pub fn remember(&self, ticket: Ticket, key: &str, value: V) {
        let mut state = self.state.lock().expect("directory cache lock");
        if ticket.0 != state.epoch || state.version.is_none() {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.forget();
        }
        state.entries.insert(key.to_owned(), value);
    }

    /// Whether this caller asks for the version now. Claimed before the read, so concurrent lookups do not
    /// all ask, and a lookup cancelled mid-read only delays the next check by `refresh`.
    fn claim_check(&self) -> bool {
        let mut state = self.state.lock().expect("directory cache lock");
        let due = state.checked.is_none_or(|at| at.elapsed() >= self.refresh);
        if due {
            state.checked = Some(Instant::now());
        }
        due
    }
}

impl<V> std::fmt::Debug for DirectoryCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryCache").field("refresh", &self.refresh).finish_non_exhaustive()
    }
}

impl<V> State<V> {
    fn forget(&mut self) {
        self.entries.clear();
        self.epoch += 1;
    }
}

impl Store {
    /// Moves with every change to domains, downstream hosts, mailboxes and aliases.
    pub async fn directory_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT version FROM directory_version WHERE id = 1").fetch_one(self.pool()).await?;
        Ok(row.get("version"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{plain_domain, stores};
    use crate::{DEFAULT_TENANT, DomainSettings, DownstreamHost, NewDomain};

    #[tokio::test]
    async fn every_kind_of_directory_write_moves_the_version() {
        for (store, _dir) in stores().await {
            let hosts = [DownstreamHost { host: "mx.acme.test".into(), port: 25, priority: 10 }];
            let mut seen = store.directory_version().await.unwrap();
            let mut moved = async |what: &str| {
                let now = store.directory_version().await.unwrap();
                assert!(now > seen, "{what} did not move the directory version");
                seen = now;
            };
            let new = NewDomain { downstream: &hosts, ..plain_domain(DEFAULT_TENANT, "acme.test") };
            let acme = store.domain_add(&new, 0).await.unwrap();
            moved("a domain and its hosts added").await;
            let ann = store.mailbox_add(acme, "ann", None, 0).await.unwrap();
            moved("a mailbox added").await;
            store.alias_add(acme, "sales", ann, 0).await.unwrap();
            moved("an alias added").await;
            let settings = DomainSettings { contact_email: None, max_users: None, language: "en", downstream: &[] };
            store.domain_update(acme, &settings).await.unwrap();
            moved("settings and downstream hosts replaced").await;
            store.alias_remove(acme, "sales").await.unwrap();
            moved("an alias removed").await;
            store.mailbox_remove(acme, "ann").await.unwrap();
            moved("a mailbox removed").await;
            store.domain_remove("acme.test").await.unwrap();
            moved("a domain removed").await;
        }
    }

    #[tokio::test]
    async fn an_answer_is_kept_until_the_directory_changes_and_the_change_is_seen() {
        for (store, _dir) in stores().await {
            let refresh = Duration::from_millis(50);
            let cache = DirectoryCache::<u32>::new(store.clone(), refresh);
            let (found, ticket) = cache.get("ann@acme.test").await;
            assert_eq!(found, None);
            cache.remember(ticket, "ann@acme.test", 7);
            assert_eq!(cache.get("ann@acme.test").await.0, Some(7));

            store.domain_add(&plain_domain(DEFAULT_TENANT, "acme.test"), 0).await.unwrap();
            // Within `refresh` the node may still answer from memory; after it, never.
            tokio::time::sleep(refresh * 2).await;
            let (found, stale) = cache.get("ann@acme.test").await;
            assert_eq!(found, None, "a directory change drops what was remembered");

            // An answer read before a change the cache has since seen is not kept.
            store.domain_remove("acme.test").await.unwrap();
            tokio::time::sleep(refresh * 2).await;
            let (_, fresh) = cache.get("bob@acme.test").await;
            cache.remember(stale, "ann@acme.test", 8);
            assert_eq!(cache.get("ann@acme.test").await.0, None);
            cache.remember(fresh, "bob@acme.test", 9);
            assert_eq!(cache.get("bob@acme.test").await.0, Some(9));
        }
    }
}
