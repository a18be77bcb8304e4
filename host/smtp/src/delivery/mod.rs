//! The queue manager: picks due mail from the queue, delivers it route by route, records each recipient's
//! outcome, retries temporary failures with backoff until `max_age`, and bounces permanent failures.

mod client;
mod route;
pub mod status;

use crate::dsn::Bounce;
use crate::{DeliveryConfig, Envelope, Metrics, Queue, SessionFacts, now};
use client::{RecipientOutcome, Transaction};
use moat_store::{QueuedMessage, RecipientStatus, StoreError};
use route::Router;
use status::{Failure, Severity};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

/// How long a claimed recipient stays invisible to the next claim while its delivery runs.
const LEASE_SECS: i64 = 15 * 60;

pub struct QueueManager {
    queue: Queue,
    config: DeliveryConfig,
    router: Router,
    tls: tokio_rustls::TlsConnector,
    metrics: Metrics,
    in_flight: Mutex<HashSet<String>>,
}

impl QueueManager {
    pub fn new(
        queue: Queue,
        config: DeliveryConfig,
        metrics: Metrics,
    ) -> Result<Arc<Self>, String> {
        config.validate()?;
        let router = Router::new(queue.store().clone(), config.relay.as_deref())?;
        Ok(Arc::new(Self {
            queue,
            config,
            router,
            tls: crate::tls::opportunistic_connector(),
            metrics,
            in_flight: Mutex::new(HashSet::new()),
        }))
    }

    /// Prepares the queue after a start: spool files without queue rows go, and every waiting recipient is due
    /// at once (this also releases the leases of deliveries a crash interrupted).
    pub async fn recover(&self) -> Result<(), StoreError> {
        let ids: HashSet<String> = self.queue.store().queue_ids().await?.into_iter().collect();
        match self.queue.spool().remove_orphans(&ids).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed spool files without queue entries"),
            Err(e) => tracing::warn!("spool clean-up failed: {e}"),
        }
        let due = self.queue.store().queue_flush().await?;
        self.metrics.queue_messages.set(ids.len() as i64);
        if due > 0 {
            tracing::info!(
                messages = ids.len(),
                recipients = due,
                "resuming queued mail"
            );
        }
        Ok(())
    }

    /// Delivers until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        while !*shutdown.borrow() {
            let free = slots.available_permits() as i64;
            if free > 0 {
                let t = now();
                match self
                    .queue
                    .store()
                    .queue_claim_due(t, t + LEASE_SECS, free)
                    .await
                {
                    Ok(messages) => {
                        for message in messages {
                            if !self
                                .in_flight
                                .lock()
                                .expect("in-flight set")
                                .insert(message.id.clone())
                            {
                                continue;
                            }
                            let permit = slots
                                .clone()
                                .acquire_owned()
                                .await
                                .expect("semaphore never closes");
                            let this = self.clone();
                            let span = tracing::info_span!("delivery", queue_id = %message.id);
                            tokio::spawn(
                                async move {
                                    let id = message.id.clone();
                                    this.deliver(message).await;
                                    this.in_flight.lock().expect("in-flight set").remove(&id);
                                    drop(permit);
                                    this.queue.wake().notify_one();
                                }
                                .instrument(span),
                            );
                        }
                    }
                    Err(e) => tracing::error!("cannot read the queue: {e}"),
                }
            }
            tokio::select! {
                _ = self.queue.wake().notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn deliver(&self, message: QueuedMessage) {
        let body = match self.queue.spool().read(&message.id).await {
            Ok(body) => body,
            Err(e) => {
                tracing::error!("spool file unreadable: {e}");
                let failure = Failure {
                    severity: Severity::Permanent,
                    text: format!("message lost from spool: {e}"),
                };
                for r in &message.recipients {
                    self.record(&message, r.id, r.attempts, Err(failure.clone()))
                        .await;
                }
                self.finish(&message.id).await;
                return;
            }
        };
        let mut routes: BTreeMap<&str, Vec<&moat_store::QueuedRecipient>> = BTreeMap::new();
        for r in &message.recipients {
            routes.entry(r.route.as_str()).or_default().push(r);
        }
        for (route, recipients) in routes {
            let addresses: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
            let outcomes = self.deliver_route(&message, route, &addresses, &body).await;
            for (r, outcome) in recipients.iter().zip(outcomes) {
                let result = match outcome {
                    RecipientOutcome::Delivered(reply) => Ok(reply),
                    RecipientOutcome::Failed(f) => Err(f),
                };
                self.record(&message, r.id, r.attempts, result).await;
            }
        }
        self.finish(&message.id).await;
    }

    async fn deliver_route(
        &self,
        message: &QueuedMessage,
        route: &str,
        recipients: &[String],
        body: &[u8],
    ) -> Vec<RecipientOutcome> {
        let all = |f: Failure| {
            recipients
                .iter()
                .map(|_| RecipientOutcome::Failed(f.clone()))
                .collect()
        };
        let targets = match self.router.targets(route).await {
            Ok(t) => t,
            Err(f) => return all(f),
        };
        let transaction = Transaction {
            helo: self.queue.hostname(),
            sender: &message.sender,
            recipients,
            message: body,
            connect_timeout: self.config.connect_timeout,
            command_timeout: self.config.command_timeout,
            tls: &self.tls,
        };
        let mut last = Failure::temporary("no host tried");
        for target in &targets {
            match transaction.run(target).await {
                Ok(outcomes) => {
                    tracing::info!(host = %target.host, port = target.port, "delivered to downstream");
                    return outcomes;
                }
                Err(f) => {
                    tracing::warn!(host = %target.host, port = target.port, "host failed: {}", f.text);
                    // A permanent refusal of the whole transaction (5xx to MAIL or DATA) is the domain's answer.
                    if f.severity == Severity::Permanent {
                        return all(f);
                    }
                    last = f;
                }
            }
        }
        all(last)
    }

    async fn record(
        &self,
        message: &QueuedMessage,
        id: i64,
        attempts: i64,
        result: Result<String, Failure>,
    ) {
        let t = now();
        let (status, next, reply) = match result {
            Ok(reply) => {
                self.metrics.delivered.inc();
                (RecipientStatus::Delivered, 0, reply)
            }
            Err(f) if f.severity == Severity::Temporary => {
                let next = t + self.config.retry_after(attempts as u32 + 1).as_secs() as i64;
                if next > message.expires_at {
                    self.metrics.bounced.inc();
                    let days = (message.expires_at - message.received_at) as f64 / 86400.0;
                    (
                        RecipientStatus::Failed,
                        0,
                        format!("expired after {days:.1} days; last error: {}", f.text),
                    )
                } else {
                    self.metrics.deferred.inc();
                    (RecipientStatus::Queued, next, f.text)
                }
            }
            Err(f) => {
                self.metrics.bounced.inc();
                (RecipientStatus::Failed, 0, f.text)
            }
        };
        if let Err(e) = self
            .queue
            .store()
            .queue_record_attempt(id, status, next, &reply, t)
            .await
        {
            tracing::error!("cannot record a delivery attempt: {e}");
        }
    }

    /// Once no recipient is waiting: bounce the failed ones, settle the log row, drop the message.
    async fn finish(&self, id: &str) {
        let store = self.queue.store();
        let message = match store.queue_get(id).await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => return tracing::error!("cannot read queued message: {e}"),
        };
        let last_reply = message
            .recipients
            .iter()
            .rev()
            .find_map(|r| r.last_reply.clone());
        let count = |s| message.recipients.iter().filter(|r| r.status == s).count();
        let (queued, delivered, failed) = (
            count(RecipientStatus::Queued),
            count(RecipientStatus::Delivered),
            count(RecipientStatus::Failed),
        );
        let status = match (queued, delivered, failed) {
            (q, _, _) if q > 0 => "deferred",
            (_, _, 0) => "delivered",
            (_, 0, _) => "bounced",
            _ => "partially delivered",
        };
        if let Some(log_id) = message.log_id
            && let Err(e) = store
                .log_set_delivery(log_id, status, last_reply.as_deref())
                .await
        {
            tracing::error!("cannot update the log: {e}");
        }
        if queued > 0 {
            return;
        }
        if failed > 0 && !message.sender.is_empty() {
            self.bounce(&message).await;
        }
        if let Err(e) = store.queue_delete(id).await {
            return tracing::error!("cannot remove a finished message from the queue: {e}");
        }
        if let Err(e) = self.queue.spool().remove(id).await {
            tracing::warn!("cannot remove spool file: {e}");
        }
        self.metrics.queue_messages.dec();
        tracing::info!(status, "finished");
    }

    async fn bounce(&self, message: &QueuedMessage) {
        let original = match self.queue.spool().read(&message.id).await {
            Ok(body) => body,
            Err(_) => Vec::new(),
        };
        let failed: Vec<(String, String)> = message
            .recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Failed)
            .map(|r| (r.address.clone(), r.last_reply.clone().unwrap_or_default()))
            .collect();
        let bounce = Bounce {
            hostname: self.queue.hostname(),
            queue_id: &message.id,
            sender: &message.sender,
            arrival: message.received_at,
            failed: &failed,
            original: &original,
        };
        let route = message
            .sender
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let envelope = Envelope {
            sender: String::new(),
            recipients: vec![(message.sender.clone(), route)],
        };
        let facts = SessionFacts {
            client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            helo: self.queue.hostname().to_owned(),
            esmtp: true,
            tls: None,
        };
        match self
            .queue
            .accept(&facts, &envelope, &bounce.message())
            .await
        {
            Ok(dsn_id) => tracing::info!(dsn = %dsn_id, to = %message.sender, "bounce queued"),
            Err(e) => tracing::error!("cannot queue the bounce: {e}"),
        }
    }
}
