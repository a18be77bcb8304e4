//! Accepting a message into the queue: trace header, spool file (fsync'd), queue and log rows in one commit.
//! Only when this returns Ok may the session answer `250`.

use crate::{Metrics, Spool, received::Trace};
use moat_store::{NewLogEntry, NewQueuedMessage, Store, StoreError};
use std::net::IpAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::Notify;

/// Who handed Moat the message, for the trace header and the log.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub client_ip: IpAddr,
    pub helo: String,
    pub esmtp: bool,
    /// TLS protocol version when the session is encrypted.
    pub tls: Option<String>,
}

/// Sender and accepted recipients of one message: (address, route) pairs.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Empty for the null reverse-path `<>`.
    pub sender: String,
    pub recipients: Vec<(String, String)>,
}

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("spool write failed: {0}")]
    Spool(#[from] std::io::Error),
    #[error("queue commit failed: {0}")]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Queue {
    store: Store,
    spool: Spool,
    hostname: Arc<str>,
    max_age_secs: i64,
    wake: Arc<Notify>,
    metrics: Metrics,
}

impl Queue {
    pub fn new(store: Store, spool: Spool, hostname: &str, max_age: std::time::Duration, metrics: Metrics) -> Self {
        Self {
            store,
            spool,
            hostname: hostname.into(),
            max_age_secs: max_age.as_secs() as i64,
            wake: Arc::new(Notify::new()),
            metrics,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Woken whenever mail is queued, so delivery starts at once.
    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Queues `body` for the envelope's recipients and returns the queue id.
    #[tracing::instrument(name = "queue", skip_all, fields(queue_id))]
    pub async fn accept(&self, facts: &SessionFacts, envelope: &Envelope, body: &[u8]) -> Result<String, QueueError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        tracing::Span::current().record("queue_id", id.as_str());
        let now = chrono::Utc::now();
        let trace = Trace {
            helo: &facts.helo,
            client_ip: facts.client_ip,
            hostname: &self.hostname,
            esmtp: facts.esmtp,
            tls: facts.tls.as_deref(),
            queue_id: &id,
            single_recipient: match envelope.recipients.as_slice() {
                [(only, _)] => Some(only.as_str()),
                _ => None,
            },
            date: now,
        }
        .header();
        self.spool.write(&id, [trace.as_bytes(), body]).await?;

        let headers = mail_parser::MessageParser::new().parse_headers(body);
        let subject = headers.as_ref().and_then(|m| m.subject()).map(|s| s.chars().take(500).collect::<String>());
        let message_id = headers.as_ref().and_then(|m| m.message_id()).map(|s| s.chars().take(500).collect::<String>());
        let recipients = envelope.recipients.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ");
        let received_at = now.timestamp();
        let client_ip = facts.client_ip.to_string();
        let size = (trace.len() + body.len()) as u64;
        let message = NewQueuedMessage {
            id: id.clone(),
            sender: envelope.sender.clone(),
            size,
            received_at,
            expires_at: received_at + self.max_age_secs,
            recipients: envelope.recipients.clone(),
        };
        let log = NewLogEntry {
            queue_id: Some(&id),
            received_at,
            client_ip: &client_ip,
            helo: &facts.helo,
            tls: facts.tls.is_some(),
            sender: &envelope.sender,
            recipients: &recipients,
            size,
            subject: subject.as_deref(),
            message_id: message_id.as_deref(),
            verdict: "accepted",
            delivery_status: "queued",
        };
        if let Err(err) = self.store.enqueue(&message, &log).await {
            // No 250 goes out, so the sender keeps the message; the spool file must not linger.
            let _ = self.spool.remove(&id).await;
            return Err(err.into());
        }
        self.metrics.accepted.inc();
        self.metrics.queue_messages.inc();
        self.wake.notify_one();
        tracing::info!(from = %envelope.sender, rcpts = envelope.recipients.len(), size, "queued");
        Ok(id)
    }
}
