//! What authenticated accounts and their tenants sent, hour by hour and day by day: counters in the key-value
//! table (namespace `moat:sending`), shared by every node, so a budget is one budget in a cluster.

use crate::{Result, Store, TenantId};

const NAMESPACE: &str = "moat:sending";
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Whose sending is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendingScope {
    /// An SMTP credential's username, or a console account's name.
    Account(String),
    Tenant(TenantId),
}

impl SendingScope {
    fn key(&self) -> String {
        match self {
            SendingScope::Account(name) => format!("a:{}", name.to_lowercase()),
            SendingScope::Tenant(t) => format!("t:{}", t.0),
        }
    }
}

/// Messages and recipients sent this hour and this day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub hour: (u64, u64),
    pub day: (u64, u64),
}

/// The counters of one scope, with their expiry: messages and recipients, this hour and this day.
fn counters(scope: &SendingScope, now: i64) -> [(String, i64); 4] {
    let (key, hour, day) = (scope.key(), now / HOUR, now / DAY);
    [
        (format!("{key}|h{hour}|m"), (hour + 2) * HOUR),
        (format!("{key}|h{hour}|r"), (hour + 2) * HOUR),
        (format!("{key}|d{day}|m"), (day + 1) * DAY + HOUR),
        (format!("{key}|d{day}|r"), (day + 1) * DAY + HOUR),
    ]
}

impl Store {
    /// What `scope` sent this hour and day.
    pub async fn sending_sent(&self, scope: &SendingScope, now: i64) -> Result<Sent> {
        let keys: Vec<String> = counters(scope, now).into_iter().map(|(k, _)| k).collect();
        let values = self.kv_get_many(NAMESPACE, &keys, now).await?;
        let n = |i: usize| {
            values[i].as_deref().and_then(|v| <[u8; 8]>::try_from(v).ok()).map_or(0, |b| i64::from_le_bytes(b).max(0))
                as u64
        };
        Ok(Sent { hour: (n(0), n(1)), day: (n(2), n(3)) })
    }

    /// Counts one message of `recipients` for every scope, in one transaction.
    pub async fn sending_add(&self, scopes: &[SendingScope], recipients: u64, now: i64) -> Result<()> {
        let mut deltas = Vec::with_capacity(4 * scopes.len());
        for scope in scopes {
            for (i, (key, expires)) in counters(scope, now).into_iter().enumerate() {
                let delta = if i % 2 == 0 { 1 } else { recipients as i64 };
                deltas.push((key, delta, Some(expires)));
            }
        }
        self.kv_add_many(NAMESPACE, &deltas, now).await
    }

    /// Adds `n` to an account's counter `what` (kept `ttl` seconds from its first count); the new value.
    pub async fn sending_mark(&self, account: &str, what: &str, n: i64, ttl: i64, now: i64) -> Result<i64> {
        let key = format!("{}|{what}", SendingScope::Account(account.into()).key());
        Ok(self.kv_incr(NAMESPACE, &key, n, Some(now + ttl), now).await?.0)
    }

    /// Forgets an account's counter `what`. A read first: most resets find nothing to forget, and a read
    /// costs no commit.
    pub async fn sending_reset(&self, account: &str, what: &str, now: i64) -> Result<()> {
        let key = format!("{}|{what}", SendingScope::Account(account.into()).key());
        if self.kv_get(NAMESPACE, &key, now).await?.is_none() {
            return Ok(());
        }
        self.kv_delete(NAMESPACE, &key).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;

    #[tokio::test]
    async fn sending_is_counted_per_scope_hour_and_day() {
        for (store, _dir) in stores().await {
            let (ann, acme) = (SendingScope::Account("Ann@Acme.test".into()), SendingScope::Tenant(TenantId(7)));
            let now = 1_800_000_000;
            store.sending_add(&[ann.clone(), acme.clone()], 3, now).await.unwrap();
            store.sending_add(std::slice::from_ref(&ann), 2, now + 10).await.unwrap();
            let sent = store.sending_sent(&SendingScope::Account("ann@acme.test".into()), now + 20).await.unwrap();
            assert_eq!(sent, Sent { hour: (2, 5), day: (2, 5) });
            assert_eq!(store.sending_sent(&acme, now).await.unwrap(), Sent { hour: (1, 3), day: (1, 3) });
            let next_hour = now - now % 3600 + 3600;
            assert_eq!(store.sending_sent(&ann, next_hour).await.unwrap().hour, (0, 0), "a new hour");
            assert_eq!(store.sending_mark("ann@acme.test", "run", 1, 60, now).await.unwrap(), 1);
            assert_eq!(store.sending_mark("ann@acme.test", "run", 1, 60, now).await.unwrap(), 2);
            store.sending_reset("ann@acme.test", "run", now).await.unwrap();
            store.sending_reset("ann@acme.test", "run", now).await.unwrap();
            assert_eq!(store.sending_mark("ann@acme.test", "run", 1, 60, now).await.unwrap(), 1);
        }
    }
}
