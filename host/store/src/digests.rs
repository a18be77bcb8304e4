//! Quarantine digests: which users are due one, and a claim so that one node sends each.

use crate::{DomainId, Mailbox, MailboxId, Result, Store, TenantId};
use sqlx::Row;

/// A user whose digest is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDue {
    pub mailbox: Mailbox,
    pub tenant: TenantId,
    /// The user's language, else the domain's.
    pub language: String,
    /// When the previous digest was claimed (0: never).
    pub last: i64,
}

impl Store {
    /// Up to `limit` users who want digests and had none since `before`, by mailbox id from `after`.
    pub async fn digests_due(&self, before: i64, after: MailboxId, limit: i64) -> Result<Vec<DigestDue>> {
        let rows = sqlx::query(
            "SELECT m.id, m.domain_id, m.local_part, m.full_name, m.local_part || '@' || d.name AS address, \
             d.tenant_id, COALESCE(m.language, d.language) AS language, COALESCE(m.digest_at, 0) AS last \
             FROM mailboxes m JOIN domains d ON d.id = m.domain_id \
             WHERE m.digest = 1 AND COALESCE(m.digest_at, 0) <= $1 AND m.id > $2 ORDER BY m.id LIMIT $3",
        )
        .bind(before)
        .bind(after.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DigestDue {
                mailbox: Mailbox {
                    id: MailboxId(r.get("id")),
                    domain_id: DomainId(r.get("domain_id")),
                    local_part: r.get("local_part"),
                    full_name: r.get("full_name"),
                    address: r.get("address"),
                },
                tenant: TenantId(r.get("tenant_id")),
                language: r.get("language"),
                last: r.get("last"),
            })
            .collect())
    }

    /// Takes a due digest for this node: true if no other node took it since `last` was read.
    pub async fn digest_claim(&self, mailbox: MailboxId, last: i64, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE mailboxes SET digest_at = $1 WHERE id = $2 AND COALESCE(digest_at, 0) = $3")
            .bind(now)
            .bind(mailbox.0)
            .bind(last)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a user wants quarantine digests.
    pub async fn mailbox_digest(&self, mailbox: MailboxId) -> Result<bool> {
        let on: i64 = sqlx::query_scalar("SELECT digest FROM mailboxes WHERE id = $1")
            .bind(mailbox.0)
            .fetch_one(self.pool())
            .await?;
        Ok(on != 0)
    }

    pub async fn mailbox_set_digest(&self, mailbox: MailboxId, on: bool) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET digest = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(mailbox.0)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{plain_domain, stores};
    use crate::{Accepted, Disposition, NewDomain, NewLogEntry, NewQuarantined};

    #[tokio::test]
    async fn due_digests_are_claimed_once_and_held_mail_is_listed_by_tenant() {
        for (store, _dir) in stores().await {
            let new = NewDomain { language: "es", ..plain_domain(crate::DEFAULT_TENANT, "acme.test") };
            let domain = store.domain_add(&new, 0).await.unwrap();
            let ann = store.mailbox_add(domain, "ann", None, 0).await.unwrap();
            let bob = store.mailbox_add(domain, "bob", None, 0).await.unwrap();
            store.mailbox_set_digest(bob, false).await.unwrap();
            assert!(!store.mailbox_digest(bob).await.unwrap() && store.mailbox_digest(ann).await.unwrap());

            let due = store.digests_due(1000, MailboxId(0), 10).await.unwrap();
            assert_eq!(due.len(), 1, "bob wants none");
            assert_eq!(
                (due[0].mailbox.address.as_str(), due[0].language.as_str(), due[0].last),
                ("ann@acme.test", "es", 0)
            );
            assert!(store.digest_claim(ann, 0, 1000).await.unwrap());
            assert!(!store.digest_claim(ann, 0, 1000).await.unwrap(), "another node's claim after ours fails");
            assert!(store.digests_due(999, MailboxId(0), 10).await.unwrap().is_empty(), "not due again yet");
            assert_eq!(store.digests_due(1000, MailboxId(0), 10).await.unwrap()[0].last, 1000);
            assert!(store.digests_due(1000, ann, 10).await.unwrap().is_empty(), "paged by id");

            let held = |id: &str, at: i64| Accepted {
                log: NewLogEntry {
                    verdict: "quarantined".into(),
                    delivery_status: "held".into(),
                    ..Default::default()
                },
                disposition: Disposition::Quarantine(NewQuarantined {
                    id: id.into(),
                    tenant: crate::DEFAULT_TENANT,
                    sender: "x@spam.test".into(),
                    recipients: vec![("ann@acme.test".into(), "acme.test".into())],
                    subject: Some(id.into()),
                    score: 9.0,
                    reason: "test".into(),
                    received_at: at,
                    body: crate::BodyKey::of(&[b"x"]),
                    size: 1,
                    direction: crate::Direction::Inbound,
                }),
            };
            store.accept_batch(&[held("old", 500), held("new", 1500)], &[]).await.unwrap();
            let since: Vec<String> =
                store.quarantine_since(crate::DEFAULT_TENANT, 1000).await.unwrap().into_iter().map(|q| q.id).collect();
            assert_eq!(since, ["new"]);
            assert!(store.quarantine_since(TenantId(99), 0).await.unwrap().is_empty());
        }
    }
}
