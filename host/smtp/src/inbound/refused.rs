//! Recipients refused at RCPT (an unknown user, a relay attempt, greylisting, a directory out of reach) are
//! logged too: "why did X not reach me?" is the question admins bring to the email log. They are kept with
//! the transaction and written when it ends (after DATA, RSET, a new EHLO or the end of the session), one
//! row per tenant and reply, so a session costs at most a few rows however many recipients it tried (and
//! `max_errors` closes it after ten refusals).

use super::Session;
use crate::reply::Reply;
use moat_store::{NewLogEntry, TenantId};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncWrite};

/// Refused recipients one transaction remembers at most (more would only repeat the story).
const MAX_REMEMBERED: usize = 100;

#[derive(Debug, Clone)]
pub(super) struct RefusedRecipient {
    address: String,
    reply: Reply,
    /// The protected domain's tenant, when the address is in one (a relay attempt has none).
    tenant: Option<TenantId>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// Remembers a recipient refused with `reply`, for the log row its transaction ends with.
    pub(super) async fn note_refused(&mut self, address: &str, reply: &Reply, tenant: Option<TenantId>) {
        let remembered = self.transaction.as_ref().map_or(MAX_REMEMBERED, |t| t.refused.len());
        if remembered >= MAX_REMEMBERED {
            return;
        }
        let tenant = match tenant {
            Some(tenant) => Some(tenant),
            None => self.tenant_of(address).await,
        };
        let address: String = address.chars().filter(|c| !c.is_control()).take(320).collect();
        if let Some(transaction) = self.transaction.as_mut() {
            transaction.refused.push(RefusedRecipient { address, reply: reply.clone(), tenant });
        }
    }

    /// The tenant of the protected domain (or alias domain) an address is in.
    async fn tenant_of(&self, address: &str) -> Option<TenantId> {
        let domain = address.rsplit_once('@')?.1.trim_end_matches('.').to_ascii_lowercase();
        match self.ctx.queue.store().domain_by_name(&domain).await {
            Ok(found) => found.map(|d| d.tenant_id),
            Err(e) => {
                tracing::warn!("cannot look up a refused recipient's domain: {e}");
                None
            }
        }
    }

    /// Ends the transaction, if one is open, logging the recipients it refused.
    pub(super) async fn end_transaction(&mut self) {
        if let Some(transaction) = self.transaction.take() {
            self.log_refused_recipients(&transaction.sender, transaction.refused).await;
        }
    }

    /// One log row per tenant and reply: "rejected at RCPT: 550 5.1.1 …" or "deferred at RCPT: 451 …".
    pub(super) async fn log_refused_recipients(&self, sender: &str, refused: Vec<RefusedRecipient>) {
        if refused.is_empty() {
            return;
        }
        let mut groups: BTreeMap<(Option<i64>, String), Vec<String>> = BTreeMap::new();
        for r in refused {
            let word = if r.reply.code / 100 == 4 { "deferred" } else { "rejected" };
            let verdict = format!("{word} at RCPT: {}", r.reply);
            let addresses = groups.entry((r.tenant.map(|t| t.0), verdict)).or_default();
            if !addresses.contains(&r.address) {
                addresses.push(r.address);
            }
        }
        let facts = self.facts().await;
        for ((tenant, verdict), addresses) in groups {
            let entry = NewLogEntry {
                received_at: crate::now(),
                client_ip: facts.client_ip.to_string(),
                helo: facts.helo.clone(),
                tls: facts.tls.is_some(),
                sender: sender.to_owned(),
                recipients: addresses.join(", "),
                verdict,
                delivery_status: "not accepted".into(),
                tenant,
                direction: facts.direction(),
                ..NewLogEntry::default()
            };
            if let Err(e) = self.ctx.queue.store().log_add(&entry).await {
                tracing::error!("cannot log refused recipients: {e}");
            }
        }
    }
}
