//! Quarantine digests: every user who wants one gets, once per interval, a mail listing the messages held
//! for them (their address and its aliases) since the last one, with the console's address to release
//! them. Nothing held, no mail. Each digest is claimed in the store first, so several nodes send it once.

use crate::{Directory, Language, Notice};
use moat_store::{DigestDue, MailboxId, Quarantined, StoreError, TenantId};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Users read per batch.
const BATCH: i64 = 1000;

/// A held message as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSummary {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub received: String,
    pub sender: String,
    pub subject: String,
    pub score: String,
}

impl From<&Quarantined> for HeldSummary {
    fn from(q: &Quarantined) -> Self {
        let received = chrono::DateTime::from_timestamp(q.received_at, 0)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
        Self {
            received,
            sender: if q.sender.is_empty() { "<>".into() } else { q.sender.clone() },
            subject: q.subject.clone().unwrap_or_default(),
            score: format!("{:.1}", q.score),
        }
    }
}

impl Directory {
    /// Sends the digests due at `now` (unix seconds) for an interval of `every`; returns how many were sent.
    pub async fn send_digests(&self, now: i64, every: Duration) -> Result<usize, StoreError> {
        let before = now - every.as_secs() as i64;
        let mut sent = 0;
        let mut after = MailboxId(0);
        loop {
            let due = self.store().digests_due(before, after, BATCH).await?;
            let Some(last) = due.last() else { return Ok(sent) };
            after = last.mailbox.id;
            sent += self.send_batch(&due, now, before).await?;
            if (due.len() as i64) < BATCH {
                return Ok(sent);
            }
        }
    }

    async fn send_batch(&self, due: &[DigestDue], now: i64, before: i64) -> Result<usize, StoreError> {
        // Everything held for these tenants since the oldest digest of the batch, read once per tenant.
        let mut oldest: HashMap<TenantId, i64> = HashMap::new();
        for user in due {
            let from = since(user, before);
            oldest.entry(user.tenant).and_modify(|t| *t = (*t).min(from)).or_insert(from);
        }
        let mut held: HashMap<TenantId, Vec<Quarantined>> = HashMap::new();
        for (tenant, from) in oldest {
            held.insert(tenant, self.store().quarantine_since(tenant, from).await?);
        }
        let ids: Vec<MailboxId> = due.iter().map(|u| u.mailbox.id).collect();
        let mut addresses: HashMap<String, HashSet<String>> =
            due.iter().map(|u| (u.mailbox.address.clone(), HashSet::from([u.mailbox.address.clone()]))).collect();
        for alias in self.store().alias_list_of(&ids).await? {
            if let Some(set) = addresses.get_mut(&alias.mailbox) {
                set.insert(alias.address.to_ascii_lowercase());
            }
        }
        let mut sent = 0;
        for user in due {
            if !self.store().digest_claim(user.mailbox.id, user.last, now).await? {
                continue;
            }
            let mine = &addresses[&user.mailbox.address];
            let items: Vec<HeldSummary> = held[&user.tenant]
                .iter()
                .filter(|q| q.received_at > since(user, before) && q.received_at <= now)
                .filter(|q| q.recipients.iter().any(|(address, _)| mine.contains(&address.to_ascii_lowercase())))
                .map(HeldSummary::from)
                .collect();
            if items.is_empty() {
                continue;
            }
            self.notify(
                &user.mailbox.address,
                Language::parse(&user.language),
                Notice::QuarantineDigest { console: self.console_url.clone(), items },
            );
            sent += 1;
        }
        Ok(sent)
    }
}

/// What a user's digest covers from: the last one, or one interval back for the first.
fn since(user: &DigestDue, before: i64) -> i64 {
    if user.last == 0 { before } else { user.last }
}
