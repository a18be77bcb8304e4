//! Accepting a message into the queue: trace header, body in the message store (durable), queue and log rows
//! in one commit. Only when this returns Ok may the session answer `250`.

pub(crate) mod dsn;
pub mod notices;
mod recent;

use crate::{Metrics, inbound::Trace};
use moat_bodies::{Bodies, BodyKey};
use moat_store::{Accepted, Direction, Disposition, NewLogEntry, NewQuarantined, NewQueuedMessage, Store, TenantId};
use std::net::IpAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::{Notify, mpsc, oneshot};

/// Who handed Moat the message, for the trace header and the log.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub client_ip: IpAddr,
    /// The client's verified reverse name, if it has one.
    pub ptr: Option<String>,
    pub helo: String,
    pub esmtp: bool,
    /// TLS protocol version when the session is encrypted.
    pub tls: Option<String>,
    /// The account the client authenticated as (a customer's server relaying on a submission listener):
    /// such mail is outbound.
    pub authenticated: Option<String>,
}

impl SessionFacts {
    pub fn direction(&self) -> Direction {
        if self.authenticated.is_some() { Direction::Outbound } else { Direction::Inbound }
    }
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
    #[error("storing the message failed: {0}")]
    Body(#[from] moat_bodies::BodyError),
    #[error("queue commit failed: {0}")]
    Commit(String),
    /// The store refused (a release of a message the quarantine does not hold any more, say).
    #[error(transparent)]
    Store(#[from] moat_store::StoreError),
}

/// What a chain decided for one group of recipients (one tenant's, under one chain).
#[derive(Debug, Clone)]
pub struct Judged {
    pub tenant: Option<TenantId>,
    /// (address, route) pairs.
    pub recipients: Vec<(String, String)>,
    pub fate: Fate,
    /// The verdict as the email log shows it.
    pub verdict: LogVerdict,
}

impl Judged {
    /// Recipients delivered as the message came, no chain having judged them.
    pub fn unfiltered(tenant: Option<TenantId>, recipients: Vec<(String, String)>) -> Self {
        Judged {
            tenant,
            recipients,
            fate: Fate::Deliver { add_headers: Vec::new(), subject_tag: None },
            verdict: LogVerdict::unfiltered(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Fate {
    /// Queue for delivery, marked: headers added on top, the subject tagged when `subject_tag` is set.
    Deliver { add_headers: Vec<(String, String)>, subject_tag: Option<String> },
    /// Hold in quarantine.
    Quarantine { score: f64, reason: String },
    /// Only log it (discarded, or rejected for these recipients while others accepted the message).
    Drop,
}

#[derive(Debug, Clone)]
pub struct LogVerdict {
    /// "clean", "tagged", "quarantined", ... ("accepted" when no chain ran).
    pub word: String,
    pub score: Option<f64>,
    pub symbols: Option<String>,
    /// JSON: per entry symbols, action, failure, fuel and time.
    pub report: Option<String>,
}

impl LogVerdict {
    pub fn unfiltered() -> Self {
        Self { word: "accepted".into(), score: None, symbols: None, report: None }
    }
}

/// One accepted message waiting for the committer: its rows, one per group of recipients.
struct Commit {
    rows: Vec<Accepted>,
    /// Bodies stored in the same commit (the database message store).
    bodies: Vec<(BodyKey, Vec<u8>)>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Messages committed together at most: one transaction, one fsync.
const MAX_GROUP_COMMIT: usize = 64;

#[derive(Clone)]
pub struct Queue {
    store: Store,
    bodies: Bodies,
    /// How long a delivered message's body stays readable from the email log.
    keep_copies: std::time::Duration,
    hostname: Arc<str>,
    max_age_secs: i64,
    wake: Arc<Notify>,
    metrics: Metrics,
    commits: mpsc::Sender<Commit>,
    recent: Arc<recent::RecentBodies>,
}

impl Queue {
    /// Must be called inside a Tokio runtime: it starts the committer task.
    pub fn new(store: Store, bodies: Bodies, hostname: &str, max_age: std::time::Duration, metrics: Metrics) -> Self {
        let (commits, pending) = mpsc::channel(1024);
        tokio::spawn(commit_in_groups(store.clone(), pending));
        Self {
            store,
            bodies,
            keep_copies: std::time::Duration::ZERO,
            hostname: hostname.into(),
            max_age_secs: max_age.as_secs() as i64,
            wake: Arc::new(Notify::new()),
            metrics,
            commits,
            recent: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Keeps each delivered message's body for `keep` (counted from its arrival), so the email log can still
    /// open and classify it.
    pub fn keeping_copies(mut self, keep: std::time::Duration) -> Self {
        self.keep_copies = keep;
        self
    }

    /// A message's body: queued, held, or a kept copy.
    pub async fn body(&self, key: &BodyKey) -> Result<Option<Vec<u8>>, QueueError> {
        if let Some(body) = self.recent.take(key) {
            return Ok(Some(body));
        }
        Ok(self.bodies.get(key).await?)
    }

    /// A finished message's body goes unless something still needs it. While copies are kept its log row
    /// does, for `keep_copies`: the hourly sweep takes it after that, so nothing is asked here.
    pub(crate) async fn finish(&self, key: &BodyKey) {
        self.recent.forget(key);
        if !self.keep_copies.is_zero() {
            return;
        }
        let now = crate::now();
        if let Err(e) = moat_bodies::release(&self.store, self.bodies.as_ref(), key, self.keep_copies, now).await {
            // The next sweep removes it.
            tracing::warn!("cannot remove a delivered message's body: {e}");
        }
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Woken whenever mail is queued, so delivery starts at once.
    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Queues `body` for every recipient of the envelope, unfiltered; returns the queue id.
    pub async fn accept(&self, facts: &SessionFacts, envelope: &Envelope, body: &[u8]) -> Result<String, QueueError> {
        let group = Judged::unfiltered(None, envelope.recipients.clone());
        let summary = self.summary(body);
        let ids = self.accept_judged(facts, &envelope.sender, body, vec![group], summary).await?;
        Ok(ids.into_iter().next().unwrap_or_default())
    }

    /// Records a message as its chains judged it, group by group: stores (durably) what is delivered or held,
    /// then commits log rows, queue rows and quarantine in one transaction. Returns the queue ids of the groups
    /// delivered or held. Only when this returns Ok may the session answer `250`.
    #[tracing::instrument(name = "queue", skip_all, fields(queue_id))]
    pub async fn accept_judged(
        &self,
        facts: &SessionFacts,
        sender: &str,
        body: &[u8],
        groups: Vec<Judged>,
        summary: Summary,
    ) -> Result<Vec<String>, QueueError> {
        let prepared = self.prepare(facts, sender, body, groups, summary).await?;
        tracing::Span::current().record("queue_id", prepared.ids.join(",").as_str());
        if let Err(err) = self.commit(prepared.rows, prepared.with_rows).await {
            // No 250 goes out, so the sender keeps the message; its bodies must not linger.
            self.forget_bodies(&prepared.stored).await;
            return Err(err);
        }
        for (key, body) in prepared.to_deliver {
            self.recent.keep(key, body);
        }
        self.queued(prepared.queued);
        tracing::info!(from = %sender, size = body.len(), "accepted");
        Ok(prepared.ids)
    }

    /// Queues the bounce `body` to `to` (from `<>`) and drops the finished message `original` in one commit, so a
    /// crash leaves either the original (bounced again at the next start) or the bounce, never neither. Returns
    /// false when the original was already gone (another pass bounced it): then nothing is queued.
    pub async fn bounce(&self, original: &str, to: &str, body: &[u8]) -> Result<bool, QueueError> {
        let route = to.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        let facts = self.own_facts();
        let group = Judged::unfiltered(None, vec![(to.to_owned(), route)]);
        let summary = self.summary(body);
        let prepared = self.prepare(&facts, "", body, vec![group], summary).await?;
        match self.store.queue_replace(original, &prepared.rows, &prepared.with_rows).await {
            Ok(true) => {
                for (key, body) in prepared.to_deliver {
                    self.recent.keep(key, body);
                }
                self.queued(prepared.queued);
                Ok(true)
            }
            Ok(false) => {
                self.forget_bodies(&prepared.stored).await;
                Ok(false)
            }
            Err(e) => {
                self.forget_bodies(&prepared.stored).await;
                Err(e.into())
            }
        }
    }

    /// What Moat's own messages (notices, bounces) are recorded as coming from.
    pub(crate) fn own_facts(&self) -> SessionFacts {
        SessionFacts {
            client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            ptr: None,
            helo: self.hostname.to_string(),
            esmtp: true,
            tls: None,
            authenticated: None,
        }
    }

    /// The log's summary of a message no filter parsed: its header section is read for it (a parse, counted).
    pub fn summary(&self, body: &[u8]) -> Summary {
        self.metrics.message_parses.inc();
        let headers = mail_parser::MessageParser::new().parse_headers(body);
        Summary {
            subject: headers.as_ref().and_then(|m| m.subject()).map(str::to_owned),
            message_id: headers.as_ref().and_then(|m| m.message_id()).map(str::to_owned),
        }
    }

    fn queued(&self, messages: usize) {
        if messages > 0 {
            self.metrics.queue_messages.inc_by(messages as i64);
            self.wake.notify_one();
        }
    }

    /// Stores (durably) what `groups` deliver or hold and builds the rows that record the message; commits
    /// nothing.
    async fn prepare(
        &self,
        facts: &SessionFacts,
        sender: &str,
        body: &[u8],
        groups: Vec<Judged>,
        summary: Summary,
    ) -> Result<Prepared, QueueError> {
        let now = chrono::Utc::now();
        let received_at = now.timestamp();
        let subject = summary.subject.map(|s| s.chars().take(500).collect::<String>());
        let message_id = summary.message_id.map(|s| s.chars().take(500).collect::<String>());
        let mut rows = Vec::with_capacity(groups.len());
        let mut ids = Vec::new();
        let (mut stored, mut with_rows, mut queued, mut to_deliver) = (Vec::new(), Vec::new(), 0, Vec::new());
        for group in groups {
            let id = uuid::Uuid::now_v7().simple().to_string();
            let trace = Trace {
                helo: &facts.helo,
                client_ip: facts.client_ip,
                ptr: facts.ptr.as_deref(),
                hostname: &self.hostname,
                esmtp: facts.esmtp,
                tls: facts.tls.as_deref(),
                authenticated: facts.authenticated.is_some(),
                queue_id: &id,
                single_recipient: match group.recipients.as_slice() {
                    [(only, _)] => Some(only.as_str()),
                    _ => None,
                },
                date: now,
            }
            .header();
            let marked = match &group.fate {
                Fate::Deliver { add_headers, subject_tag } if !add_headers.is_empty() || subject_tag.is_some() => {
                    Some(crate::inbound::tagging::mark(body, add_headers, subject_tag.as_deref()))
                }
                _ => None,
            };
            let content = marked.as_deref().unwrap_or(body);
            let size = (trace.len() + content.len()) as u64;
            let parts = [trace.as_bytes(), content];
            let body = match group.fate {
                Fate::Drop => None,
                _ if self.bodies.stored_with_rows() => {
                    let key = BodyKey::of(&parts);
                    with_rows.push((key.clone(), parts.concat()));
                    Some(key)
                }
                _ => match moat_bodies::put(self.bodies.as_ref(), &parts).await {
                    Ok(key) => {
                        stored.push(key.clone());
                        Some(key)
                    }
                    Err(e) => {
                        self.forget_bodies(&stored).await;
                        return Err(e.into());
                    }
                },
            };
            let (queue_id, delivery_status, disposition) = match (group.fate, body.clone()) {
                (Fate::Deliver { .. }, Some(body)) => {
                    queued += 1;
                    to_deliver.push((body.clone(), parts.concat()));
                    let message = NewQueuedMessage {
                        id: id.clone(),
                        body,
                        sender: sender.to_owned(),
                        size,
                        received_at,
                        expires_at: received_at + self.max_age_secs,
                        recipients: group.recipients.clone(),
                        account: facts.authenticated.clone(),
                    };
                    (Some(id.clone()), "queued", Disposition::Queue(message))
                }
                (Fate::Quarantine { score, reason }, Some(body)) => {
                    let held = NewQuarantined {
                        id: id.clone(),
                        tenant: group.tenant.unwrap_or(moat_store::DEFAULT_TENANT),
                        sender: sender.to_owned(),
                        recipients: group.recipients.clone(),
                        subject: subject.clone(),
                        score,
                        reason,
                        received_at,
                        body,
                        size,
                        direction: facts.direction(),
                    };
                    (Some(id.clone()), "quarantined", Disposition::Quarantine(held))
                }
                _ => (None, "not delivered", Disposition::LogOnly),
            };
            if let Some(id) = &queue_id {
                ids.push(id.clone());
            }
            let log = NewLogEntry {
                queue_id,
                received_at,
                client_ip: facts.client_ip.to_string(),
                helo: facts.helo.clone(),
                tls: facts.tls.is_some(),
                sender: sender.to_owned(),
                recipients: group.recipients.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", "),
                size,
                subject: subject.clone(),
                message_id: message_id.clone(),
                verdict: group.verdict.word,
                delivery_status: delivery_status.into(),
                tenant: group.tenant.map(|t| t.0),
                score: group.verdict.score,
                symbols: group.verdict.symbols,
                report: group.verdict.report,
                direction: facts.direction(),
                body,
            };
            rows.push(Accepted { log, disposition });
        }
        Ok(Prepared { rows, ids, stored, with_rows, queued, to_deliver })
    }

    /// Removes bodies stored for a message that was not accepted after all. Each is its own (its trace
    /// header names its queue id), so nothing else refers to it.
    async fn forget_bodies(&self, keys: &[BodyKey]) {
        for key in keys {
            let _ = self.bodies.delete(key).await;
        }
    }

    /// Delivers a quarantined message after all: `only` these of its recipients (all still held), or every
    /// recipient still held, go into the queue with the held body (the message store has it already);
    /// returns the new queue id.
    pub async fn release(&self, id: &str, only: Option<Vec<(String, String)>>) -> Result<String, QueueError> {
        let not_held = || moat_store::StoreError::NotFound { what: format!("quarantined message {id}") };
        let held = self.store.quarantine_get(id).await?.ok_or_else(not_held)?;
        let body = held.body.ok_or_else(not_held)?;
        let queue_id = uuid::Uuid::now_v7().simple().to_string();
        let now = crate::now();
        let message = NewQueuedMessage {
            id: queue_id.clone(),
            body,
            sender: held.sender,
            size: held.size,
            received_at: now,
            expires_at: now + self.max_age_secs,
            recipients: only.unwrap_or(held.recipients),
            // An admin released it: its bounces are not the sending account's doing.
            account: None,
        };
        self.store.quarantine_release(id, &message, now).await?;
        self.metrics.queue_messages.inc();
        self.wake.notify_one();
        Ok(queue_id)
    }

    async fn commit(&self, rows: Vec<Accepted>, bodies: Vec<(BodyKey, Vec<u8>)>) -> Result<(), QueueError> {
        let (done, committed) = oneshot::channel();
        let gone = || QueueError::Commit("the committer has stopped".into());
        self.commits.send(Commit { rows, bodies, done }).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?.map_err(QueueError::Commit)
    }
}

/// What the email log shows of a message besides its envelope: read from the one parse of a filtered
/// message ([`Summary::of`]), or from its header section ([`Queue::summary`]).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub subject: Option<String>,
    pub message_id: Option<String>,
}

impl Summary {
    pub fn of(content: &moat_filter::Content) -> Self {
        Self { subject: content.subject().map(str::to_owned), message_id: content.message_id().map(str::to_owned) }
    }
}

/// A message stored and its rows built, not yet committed.
struct Prepared {
    rows: Vec<Accepted>,
    /// Queue ids of the groups delivered or held.
    ids: Vec<String>,
    /// Bodies stored for it (to remove if the commit fails).
    stored: Vec<BodyKey>,
    /// Bodies the commit stores with the rows (the database message store).
    with_rows: Vec<(BodyKey, Vec<u8>)>,
    /// Groups queued for delivery.
    queued: usize,
    /// The bodies those groups deliver, for their first delivery (see [`recent`]).
    to_deliver: Vec<(BodyKey, Vec<u8>)>,
}

/// Commits accepted messages in groups: whatever arrived while the previous commit was on its way to disk
/// goes in the next transaction, so concurrent sessions share one fsync instead of queueing for one each.
async fn commit_in_groups(store: Store, mut pending: mpsc::Receiver<Commit>) {
    while let Some(group) = crate::groups::next_group(&mut pending, MAX_GROUP_COMMIT).await {
        let (mut rows, mut bodies) = (Vec::new(), Vec::new());
        let mut waiters = Vec::with_capacity(group.len());
        for commit in group {
            rows.extend(commit.rows);
            bodies.extend(commit.bodies);
            waiters.push(commit.done);
        }
        let started = std::time::Instant::now();
        let result = store.accept_batch(&rows, &bodies).await.map(|_| ()).map_err(|e| e.to_string());
        // Every waiting session's `250` waits this long: the first place to look when replies are slow.
        tracing::debug!(messages = waiters.len(), took_ms = started.elapsed().as_millis() as u64, "group commit");
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
        let bodies: Bodies =
            std::sync::Arc::new(moat_bodies::Filesystem::open(dir.path().join("spool"), true).unwrap());
        let queue =
            Queue::new(store.clone(), bodies, "mx.test", std::time::Duration::from_secs(60), Metrics::default());
        let facts = SessionFacts {
            client_ip: [192, 0, 2, 1].into(),
            ptr: None,
            helo: "c".into(),
            esmtp: true,
            tls: None,
            authenticated: None,
        };
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
        let queued = store.queue_list(None, None, i64::MAX).await.unwrap();
        assert_eq!(queued.len(), 40);
        assert!(queued.iter().all(|m| ids.contains(&m.id)));
        assert_eq!(store.log_tail(0, 100).await.unwrap().len(), 40);
    }
}
