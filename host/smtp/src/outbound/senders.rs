//! What authenticated accounts may send: hourly and daily budgets of messages and recipients per account and
//! per tenant, and the guard that suspends an SMTP credential behaving like a compromised one (its messages
//! refused or held by the outbound chain again and again, or a burst of its recipients that do not exist).
//! Counters live in the store (namespace `moat:sending`), so every node of a cluster counts the same budget.

use crate::config::{SendingLimits, SubmissionConfig};
use crate::reply::Reply;
use moat_store::{Store, TenantId};

const NAMESPACE: &str = "moat:sending";
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// One budget's counters: (messages, recipients) this hour and this day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Used {
    hour: (u64, u64),
    day: (u64, u64),
}

/// The store keys of one budget's counters, with their expiry: messages and recipients, this hour and day.
fn keys(scope: &str, now: i64) -> [(String, i64); 4] {
    let (hour, day) = (now / HOUR, now / DAY);
    [
        (format!("{scope}|h{hour}|m"), (hour + 2) * HOUR),
        (format!("{scope}|h{hour}|r"), (hour + 2) * HOUR),
        (format!("{scope}|d{day}|m"), (day + 1) * DAY + HOUR),
        (format!("{scope}|d{day}|r"), (day + 1) * DAY + HOUR),
    ]
}

fn account_scope(account: &str) -> String {
    format!("a:{}", account.to_lowercase())
}

fn tenant_scope(tenant: TenantId) -> String {
    format!("t:{}", tenant.0)
}

/// Which limit `used` plus one more message of `recipients` would pass, if any.
fn exceeded(limits: &SendingLimits, used: Used, recipients: u64) -> Option<String> {
    let over = |limit: u64, count: u64| limit > 0 && count > limit;
    let checks = [
        (limits.messages_per_hour, used.hour.0 + 1, "messages an hour"),
        (limits.recipients_per_hour, used.hour.1 + recipients, "recipients an hour"),
        (limits.messages_per_day, used.day.0 + 1, "messages a day"),
        (limits.recipients_per_day, used.day.1 + recipients, "recipients a day"),
    ];
    checks.into_iter().find(|(limit, count, _)| over(*limit, *count)).map(|(limit, _, what)| format!("{limit} {what}"))
}

pub struct Senders {
    store: Store,
    config: SubmissionConfig,
}

impl Senders {
    pub fn new(store: Store, config: SubmissionConfig) -> Self {
        Self { store, config }
    }

    async fn used(&self, scope: &str, now: i64) -> Result<Used, moat_store::StoreError> {
        let keys: Vec<String> = keys(scope, now).into_iter().map(|(k, _)| k).collect();
        let values = self.store.kv_get_many(NAMESPACE, &keys, now).await?;
        let n = |i: usize| {
            values[i]
                .as_deref()
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map_or(0, |b| i64::from_le_bytes(b).max(0) as u64)
        };
        Ok(Used { hour: (n(0), n(1)), day: (n(2), n(3)) })
    }

    /// `Err` is the `451 4.7.1` for a message of `recipients` that would pass the account's or the tenant's
    /// budget (or a store error's `451 4.3.0`).
    pub async fn check(&self, account: &str, tenant: TenantId, recipients: u64) -> Result<(), Reply> {
        let now = crate::now();
        let (account, tenant) = (account_scope(account), tenant_scope(tenant));
        let (mine, ours) = match tokio::try_join!(self.used(&account, now), self.used(&tenant, now)) {
            Ok(used) => used,
            Err(e) => {
                tracing::error!("cannot read sending counters: {e}");
                return Err(crate::reply::TEMP_DIRECTORY);
            }
        };
        if let Some(limit) = exceeded(&self.config.account_limits, mine, recipients) {
            return Err(Reply::dynamic(
                451,
                "4.7.1",
                format!("Sending limit of this account reached ({limit}); try later"),
            ));
        }
        if let Some(limit) = exceeded(&self.config.tenant_limits, ours, recipients) {
            return Err(Reply::dynamic(
                451,
                "4.7.1",
                format!("Sending limit of your organization reached ({limit}); try later"),
            ));
        }
        Ok(())
    }

    /// Counts a message of `recipients` accepted from `account`.
    pub async fn sent(&self, account: &str, tenant: TenantId, recipients: u64) {
        let now = crate::now();
        let mut deltas = Vec::with_capacity(8);
        for scope in [account_scope(account), tenant_scope(tenant)] {
            for (i, (key, expires)) in keys(&scope, now).into_iter().enumerate() {
                let delta = if i % 2 == 0 { 1 } else { recipients as i64 };
                deltas.push((key, delta, Some(expires)));
            }
        }
        if let Err(e) = self.store.kv_add_many(NAMESPACE, &deltas, now).await {
            tracing::error!("cannot count sent mail: {e}");
        }
    }

    /// Records the outbound chain's verdict on `account`'s message: refused or held ones in a row suspend it.
    pub async fn judged(&self, account: &str, refused: bool) {
        let threshold = self.config.suspend_after_refused;
        let key = format!("{}|refused-in-a-row", account_scope(account));
        let now = crate::now();
        if !refused {
            if let Err(e) = self.store.kv_delete(NAMESPACE, &key).await {
                tracing::error!("cannot reset a sending counter: {e}");
            }
            return;
        }
        match self.store.kv_incr(NAMESPACE, &key, 1, Some(now + DAY), now).await {
            Ok((n, _)) if threshold > 0 && n == i64::from(threshold) => {
                let why = format!("{n} messages in a row refused or held as spam or malware by the outbound filters");
                self.suspend(account, &why).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!("cannot count a refused message: {e}"),
        }
    }

    /// Counts `n` recipients of `account`'s mail that do not exist (refused at RCPT, or bounced by the
    /// receiving server): a burst within the hour suspends it.
    pub async fn bounced(&self, account: &str, n: u64) {
        let threshold = i64::from(self.config.suspend_after_bounces);
        let now = crate::now();
        let key = format!("{}|h{}|bounced", account_scope(account), now / HOUR);
        match self.store.kv_incr(NAMESPACE, &key, n as i64, Some((now / HOUR + 2) * HOUR), now).await {
            // Told once: when this count crosses the threshold.
            Ok((after, _)) if threshold > 0 && after >= threshold && after - (n as i64) < threshold => {
                let why = format!("{after} recipients within an hour that do not exist");
                self.suspend(account, &why).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!("cannot count bounces: {e}"),
        }
    }

    /// Suspends an SMTP credential from sending and tells its tenant's admins; a console account cannot be
    /// suspended from here (its password is the console's too), so its admins are told to change it.
    async fn suspend(&self, account: &str, why: &str) {
        let now = crate::now();
        let tenant = match self.store.smtp_credential_by_username(&account.to_lowercase()).await {
            Ok(Some(credential)) => Some(credential.tenant_id),
            _ => self.store.admin_by_name(account).await.ok().flatten().and_then(|a| a.role.tenant()),
        };
        let text = match self.store.smtp_credential_suspend(&account.to_lowercase(), Some((now, why))).await {
            Ok(true) => format!(
                "SMTP credential {account} was suspended from sending: {why}. It may have been stolen: check the \
                 server that uses it, then lift the suspension (moat smtp-credential resume {account})."
            ),
            Ok(false) => {
                format!("The account {account} sending through Moat looks compromised: {why}. Change its password.")
            }
            Err(e) => return tracing::error!("cannot suspend {account}: {e}"),
        };
        tracing::warn!(%account, "{why}: sending suspended");
        if let Err(e) = self.store.alert_add(tenant, "sender-suspended", &text, now).await {
            tracing::error!("cannot record an alert: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_checked_and_zero_means_none() {
        let limits =
            SendingLimits { messages_per_hour: 2, recipients_per_hour: 10, messages_per_day: 0, recipients_per_day: 0 };
        let used = |m, r| Used { hour: (m, r), day: (m * 100, r * 100) };
        assert_eq!(exceeded(&limits, used(1, 0), 10), None, "the second message, ten recipients: within");
        assert_eq!(exceeded(&limits, used(2, 0), 1).as_deref(), Some("2 messages an hour"));
        assert_eq!(exceeded(&limits, used(1, 5), 6).as_deref(), Some("10 recipients an hour"));
    }
}
