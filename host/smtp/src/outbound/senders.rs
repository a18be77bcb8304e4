//! What authenticated accounts may send: hourly and daily budgets of messages and recipients per account and
//! per tenant, and the guard that suspends an SMTP credential behaving like a compromised one (its messages
//! refused or held by the outbound chain again and again, or a burst of its recipients that do not exist).
//! Counters live in the store ([`moat_store::SendingScope`]), so every node of a cluster counts the same budget.

use crate::config::{SendingLimits, SubmissionConfig};
use crate::reply::Reply;
use moat_store::{SendingScope, Sent, Store, TenantId};

const DAY: i64 = 86_400;

/// Which limit `sent` plus one more message of `recipients` would pass, if any.
fn exceeded(limits: &SendingLimits, sent: Sent, recipients: u64) -> Option<String> {
    let over = |limit: u64, count: u64| limit > 0 && count > limit;
    let checks = [
        (limits.messages_per_hour, sent.hour.0 + 1, "messages an hour"),
        (limits.recipients_per_hour, sent.hour.1 + recipients, "recipients an hour"),
        (limits.messages_per_day, sent.day.0 + 1, "messages a day"),
        (limits.recipients_per_day, sent.day.1 + recipients, "recipients a day"),
    ];
    checks.into_iter().find(|(limit, count, _)| over(*limit, *count)).map(|(limit, _, what)| format!("{limit} {what}"))
}

/// An account's and its tenant's sending so far, with their limits: what one transaction checks against.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    account: Sent,
    tenant: Sent,
    limits: (SendingLimits, SendingLimits),
}

impl Sending {
    /// `Err` is the `451 4.7.1` for a message of `recipients` that would pass the account's or the tenant's
    /// budget.
    pub fn allows(&self, recipients: u64) -> Result<(), Reply> {
        if let Some(limit) = exceeded(&self.limits.0, self.account, recipients) {
            let text = format!("Sending limit of this account reached ({limit}); try later");
            return Err(Reply::dynamic(451, "4.7.1", text));
        }
        if let Some(limit) = exceeded(&self.limits.1, self.tenant, recipients) {
            let text = format!("Sending limit of your organization reached ({limit}); try later");
            return Err(Reply::dynamic(451, "4.7.1", text));
        }
        Ok(())
    }
}

pub struct Senders {
    store: Store,
    config: SubmissionConfig,
}

impl Senders {
    pub fn new(store: Store, config: SubmissionConfig) -> Self {
        Self { store, config }
    }

    /// What `account` and its tenant sent so far this hour and day: read once per transaction (at its first
    /// recipient), then [`Sending::allows`] each recipient without another read.
    pub async fn sending(&self, account: &str, tenant: TenantId) -> Result<Sending, Reply> {
        let now = crate::now();
        let (account, tenant) = (SendingScope::Account(account.into()), SendingScope::Tenant(tenant));
        match tokio::try_join!(self.store.sending_sent(&account, now), self.store.sending_sent(&tenant, now)) {
            Ok((account, tenant)) => {
                Ok(Sending { account, tenant, limits: (self.config.account_limits, self.config.tenant_limits) })
            }
            Err(e) => {
                tracing::error!("cannot read sending counters: {e}");
                Err(crate::reply::TEMP_DIRECTORY)
            }
        }
    }

    /// Counts a message of `recipients` accepted from `account`.
    pub async fn sent(&self, account: &str, tenant: TenantId, recipients: u64) {
        let scopes = [SendingScope::Account(account.into()), SendingScope::Tenant(tenant)];
        if let Err(e) = self.store.sending_add(&scopes, recipients, crate::now()).await {
            tracing::error!("cannot count sent mail: {e}");
        }
    }

    /// Records the outbound chain's verdict on `account`'s message: refused or held ones in a row suspend it.
    pub async fn judged(&self, account: &str, refused: bool) {
        const RUN: &str = "refused-in-a-row";
        if !refused {
            if let Err(e) = self.store.sending_reset(account, RUN, crate::now()).await {
                tracing::error!("cannot reset a sending counter: {e}");
            }
            return;
        }
        let threshold = i64::from(self.config.suspend_after_refused);
        match self.store.sending_mark(account, RUN, 1, DAY, crate::now()).await {
            Ok(n) if threshold > 0 && n == threshold => {
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
        let what = format!("h{}|bounced", now / 3600);
        match self.store.sending_mark(account, &what, n as i64, 7200, now).await {
            // Told once: when this count crosses the threshold.
            Ok(after) if threshold > 0 && after >= threshold && after - (n as i64) < threshold => {
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
        let tenant = self.store.sending_account_tenant(account).await.ok().flatten();
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
        let used = |m, r| Sent { hour: (m, r), day: (m * 100, r * 100) };
        assert_eq!(exceeded(&limits, used(1, 0), 10), None, "the second message, ten recipients: within");
        assert_eq!(exceeded(&limits, used(2, 0), 1).as_deref(), Some("2 messages an hour"));
        assert_eq!(exceeded(&limits, used(1, 5), 6).as_deref(), Some("10 recipients an hour"));
    }
}
