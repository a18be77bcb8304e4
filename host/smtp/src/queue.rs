//! Accepting a message into the queue: trace header, spool file (fsync'd), queue and log rows in one commit.
//! Only when this returns Ok may the session answer `250`.

use crate::{Metrics, Spool, received::Trace};
use moat_store::{NewLogEntry, NewQueuedMessage, Store};
use std::net::IpAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::{Notify, mpsc, oneshot};

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
    Commit(String),
}

/// One accepted message waiting for the committer.
struct Commit {
    message: NewQueuedMessage,
    log: NewLogEntry,
    done: oneshot::Sender<Result<(), String>>,
}

/// Messages committed together at most: one transaction, one fsync.
const MAX_GROUP_COMMIT: usize = 64;

#[derive(Clone)]
pub struct Queue {
    store: Store,
    spool: Spool,
    hostname: Arc<str>,
    max_age_secs: i64,
    wake: Arc<Notify>,
    metrics: Metrics,
    commits: mpsc::Sender<Commit>,
}

impl Queue {
    /// Must be called inside a Tokio runtime: it starts the committer task.
    pub fn new(store: Store, spool: Spool, hostname: &str, max_age: std::time::Duration, metrics: Metrics) -> Self {
        let (commits, pending) = mpsc::channel(1024);
        tokio::spawn(commit_in_groups(store.clone(), pending));
        Self {
            store,
            spool,
            hostname: hostname.into(),
            max_age_secs: max_age.as_secs() as i64,
            wake: Arc::new(Notify::new()),
            metrics,
            commits,
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
            queue_id: Some(id.clone()),
            received_at,
            client_ip: facts.client_ip.to_string(),
            helo: facts.helo.clone(),
            tls: facts.tls.is_some(),
            sender: envelope.sender.clone(),
            recipients,
            size,
            subject,
            message_id,
            verdict: "accepted".into(),
            delivery_status: "queued".into(),
        };
        if let Err(err) = self.commit(message, log).await {
            // No 250 goes out, so the sender keeps the message; the spool file must not linger.
            let _ = self.spool.remove(&id).await;
            return Err(err);
        }
        self.metrics.accepted.inc();
        self.metrics.queue_messages.inc();
        self.wake.notify_one();
        tracing::info!(from = %envelope.sender, rcpts = envelope.recipients.len(), size, "queued");
        Ok(id)
    }

    async fn commit(&self, message: NewQueuedMessage, log: NewLogEntry) -> Result<(), QueueError> {
        let (done, committed) = oneshot::channel();
        let gone = || QueueError::Commit("the committer has stopped".into());
        self.commits.send(Commit { message, log, done }).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?.map_err(QueueError::Commit)
    }
}

/// Commits accepted messages in groups: whatever arrived while the previous commit was on its way to disk
/// goes in the next transaction, so concurrent sessions share one fsync instead of queueing for one each.
async fn commit_in_groups(store: Store, mut pending: mpsc::Receiver<Commit>) {
    while let Some(first) = pending.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP_COMMIT {
            match pending.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let (rows, waiters): (Vec<_>, Vec<_>) = group.into_iter().map(|c| ((c.message, c.log), c.done)).unzip();
        let result = store.enqueue(&rows).await.map(|_| ()).map_err(|e| e.to_string());
        if rows.len() > 1 {
            tracing::debug!(messages = rows.len(), "group commit");
        }
        for done in waiters {
            let _ = done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_store::Durability;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_accepts_are_all_committed_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let store = Store::open(&url, Durability::Full).await.unwrap();
        let spool = Spool::open(dir.path().join("spool"), true).unwrap();
        let queue = Queue::new(store.clone(), spool, "mx.test", std::time::Duration::from_secs(60), Metrics::default());
        let facts = SessionFacts { client_ip: [192, 0, 2, 1].into(), helo: "c".into(), esmtp: true, tls: None };
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let (queue, facts) = (queue.clone(), facts.clone());
                tokio::spawn(async move {
                    let envelope = Envelope {
                        sender: format!("s{i}@sender.test"),
                        recipients: vec![("bob@example.com".into(), "example.com".into())],
                    };
                    queue.accept(&facts, &envelope, format!("Subject: {i}\r\n\r\nx\r\n").as_bytes()).await.unwrap()
                })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            assert!(ids.insert(t.await.unwrap()));
        }
        let queued = store.queue_list().await.unwrap();
        assert_eq!(queued.len(), 40);
        assert!(queued.iter().all(|m| ids.contains(&m.id)));
        assert_eq!(store.log_tail(0, 100).await.unwrap().len(), 40);
    }
}
