//! The queue manager: picks due mail from the queue, delivers it route by route, records each recipient's
//! outcome, retries temporary failures with backoff until `max_age`, and bounces permanent failures.

pub mod callout;
mod client;
mod connections;
pub mod dkim;
pub mod networks;
pub mod probe;
mod route;
mod route_limits;
pub mod senders;
mod settler;
pub mod status;

use crate::queue::dsn::Bounce;
use crate::{DeliveryConfig, Metrics, Queue, now};
use client::{RecipientOutcome, Transaction};
use moat_store::{AttemptResult, DeliveryStatus, QueuedMessage, QueuedRecipient, RecipientStatus, Settled, StoreError};
use route::Router;
use status::{Failure, Severity};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tracing::Instrument;

/// The delivery slot taken for each route of a claimed message.
type RouteSlots = std::collections::HashMap<String, Result<OwnedSemaphorePermit, route_limits::Busy>>;

/// Who delivers: this node's name, which its leases carry, and how long a lease lasts unless renewed. A
/// node that dies leaves its work to the others once its leases expire.
#[derive(Debug, Clone)]
pub struct Leases {
    pub owner: String,
    pub duration: std::time::Duration,
}

impl Leases {
    /// How often leases of work in progress are renewed: often enough that two renewals can fail in a row.
    pub fn renew_every(&self) -> std::time::Duration {
        self.duration / 4
    }

    fn until(&self, now: i64) -> i64 {
        now + self.duration.as_secs().max(1) as i64
    }
}

pub struct QueueManager {
    queue: Queue,
    config: DeliveryConfig,
    leases: Leases,
    router: Router,
    limits: route_limits::RouteLimits,
    tls: tokio_rustls::TlsConnector,
    connections: connections::Connections,
    settler: settler::Settler,
    metrics: Metrics,
    in_flight: Mutex<HashSet<String>>,
    /// Told of outgoing mail's bounces (the compromised-account guard).
    senders: Arc<senders::Senders>,
}

impl QueueManager {
    /// `destinations` bounds where tenants' mail may go (see [`networks::Destinations`]); `senders` hears of
    /// outgoing mail's bounces; `leases` names this node to the others.
    pub fn new(
        queue: Queue,
        config: DeliveryConfig,
        leases: Leases,
        destinations: networks::Destinations,
        metrics: Metrics,
        senders: Arc<senders::Senders>,
    ) -> Result<Arc<Self>, crate::SetupError> {
        config.validate()?;
        let router = Router::new(queue.store().clone(), config.relay.as_deref(), destinations, config.mx_port)?;
        let settler = settler::Settler::start(queue.store().clone(), leases.owner.clone());
        Ok(Arc::new(Self {
            queue,
            limits: route_limits::RouteLimits::new(config.per_destination),
            connections: connections::Connections::new(config.keep_connections),
            settler,
            config,
            leases,
            router,
            tls: crate::tls::opportunistic_connector(),
            metrics,
            in_flight: Mutex::new(HashSet::new()),
            senders,
        }))
    }

    /// Prepares the queue after a start: this node's own leases (deliveries a crash or stop interrupted) and
    /// expired ones are released and due now; other nodes' work in progress stays theirs.
    pub async fn recover(&self) -> Result<(), StoreError> {
        let store = self.queue.store();
        let resumed = store.queue_release_leases(&self.leases.owner, now()).await?;
        self.count_queue().await;
        if resumed > 0 {
            tracing::info!(recipients = resumed, "resuming deliveries a stop interrupted");
        }
        // Messages a stop caught between their last delivery round and their bounce.
        for message in store.queue_finished().await? {
            let body = self.body_of(&message).await.unwrap_or_default();
            tracing::info!(queue_id = %message.id, "finishing a message the last stop left without its bounce");
            self.settle(&message, Vec::new(), &body).await;
        }
        Ok(())
    }

    /// Renews the leases of the deliveries in progress until `shutdown` turns true (a slow server may take the
    /// whole `data_timeout`); nothing else this node holds, so a round whose settle failed is retried once its
    /// lease expires.
    pub async fn renew_leases(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            tokio::select! {
                _ = tokio::time::sleep(self.leases.renew_every()) => {}
                _ = shutdown.changed() => break,
            }
            let until = self.leases.until(now());
            let in_flight: Vec<String> = self.in_flight.lock().expect("in-flight set").iter().cloned().collect();
            if let Err(e) = self.queue.store().queue_renew_leases(&self.leases.owner, &in_flight, until).await {
                tracing::warn!("cannot renew delivery leases: {e}");
            }
        }
    }

    async fn body_of(&self, message: &QueuedMessage) -> Result<Vec<u8>, String> {
        let key = message.body.as_ref().ok_or("no body recorded")?;
        match self.queue.body(key).await {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(format!("body {key} is not in the message store")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Delivers until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        while !*shutdown.borrow() {
            let free = slots.available_permits();
            if free > 0 {
                let t = now();
                let in_flight: Vec<String> = self.in_flight.lock().expect("in-flight set").iter().cloned().collect();
                let route_slots = self.limits.free_slots();
                let claim = moat_store::ClaimRequest {
                    now: t,
                    owner: &self.leases.owner,
                    lease_until: self.leases.until(t),
                    messages: free,
                    in_flight: &in_flight,
                    route_slots: &route_slots,
                    free_per_route: self.limits.per_destination(),
                };
                match self.queue.store().queue_claim_due(&claim).await {
                    Ok(messages) => {
                        for message in messages {
                            self.in_flight.lock().expect("in-flight set").insert(message.id.clone());
                            // Route slots are taken here, before the next claim budgets against them.
                            let route_slots = self.route_slots(&message);
                            let permit = slots.clone().acquire_owned().await.expect("semaphore never closes");
                            let this = self.clone();
                            let span = tracing::info_span!("delivery", queue_id = %message.id);
                            tokio::spawn(
                                async move {
                                    let id = message.id.clone();
                                    this.deliver(message, route_slots).await;
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
            self.connections.sweep();
            tokio::select! {
                _ = self.queue.wake().notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => self.count_queue().await,
                _ = shutdown.changed() => {}
            }
        }
        self.connections.close_all().await;
    }

    /// Sets the queue gauge from the store: `moat queue delete` and other nodes change the queue too.
    async fn count_queue(&self) {
        match self.queue.store().queue_status().await {
            Ok(status) => {
                self.metrics.queue_messages.set(status.messages as i64);
            }
            Err(e) => tracing::warn!("cannot count the queue: {e}"),
        }
    }

    /// A delivery slot for each route of `message`, or why the route cannot be tried now (it timed out between
    /// the claim and here).
    fn route_slots(&self, message: &QueuedMessage) -> RouteSlots {
        let mut slots = RouteSlots::new();
        for r in &message.recipients {
            if !slots.contains_key(&r.route) {
                slots.insert(r.route.clone(), self.limits.claim(&r.route));
            }
        }
        slots
    }

    async fn deliver(&self, message: QueuedMessage, mut slots: RouteSlots) {
        let mut results = Vec::with_capacity(message.recipients.len());
        let body = self.body_of(&message).await;
        match &body {
            Ok(body) => {
                let mut routes: BTreeMap<&str, Vec<&QueuedRecipient>> = BTreeMap::new();
                for r in &message.recipients {
                    routes.entry(r.route.as_str()).or_default().push(r);
                }
                for (route, recipients) in routes {
                    let slot = match slots.remove(route).unwrap_or_else(|| self.limits.claim(route)) {
                        Ok(slot) => slot,
                        Err(busy) => {
                            results.extend(recipients.iter().map(|r| postponed(r, &busy)));
                            continue;
                        }
                    };
                    let addresses: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
                    let outcomes = self.deliver_route(&message, route, &addresses, body).await;
                    drop(slot);
                    let timed_out = outcomes.iter().any(|o| matches!(o, RecipientOutcome::Failed(f) if f.timed_out));
                    if timed_out {
                        self.limits.timed_out(route)
                    } else {
                        self.limits.answered(route)
                    }
                    for (r, outcome) in recipients.iter().zip(outcomes) {
                        let outcome = match outcome {
                            RecipientOutcome::Delivered(reply) => Ok(reply),
                            RecipientOutcome::Failed(f) => Err(f),
                        };
                        results.push(self.attempt_result(&message, r, outcome));
                    }
                }
            }
            Err(why) => {
                // Temporary: the message store may be out of reach for a while (another node's disk, S3).
                tracing::error!("message body unreadable: {why}");
                let unreadable = Failure::temporary(format!("message body unreadable: {why}"));
                for r in &message.recipients {
                    results.push(self.attempt_result(&message, r, Err(unreadable.clone())));
                }
            }
        }
        self.settle(&message, results, body.as_deref().unwrap_or_default()).await;
    }

    /// Turns one recipient's outcome into its next state: delivered, retried after backoff, or failed (for
    /// good, or because retrying would pass `max_age`).
    fn attempt_result(
        &self,
        message: &QueuedMessage,
        r: &QueuedRecipient,
        outcome: Result<String, Failure>,
    ) -> AttemptResult {
        let (status, next_attempt_at, reply) = match outcome {
            Ok(reply) => {
                self.metrics.delivered.inc();
                (RecipientStatus::Delivered, 0, reply)
            }
            Err(f) if f.severity == Severity::Temporary => {
                let next = now() + self.config.retry_after(r.attempts as u32 + 1).as_secs() as i64;
                if next > message.expires_at {
                    self.metrics.bounced.inc();
                    let days = (message.expires_at - message.received_at) as f64 / 86400.0;
                    (RecipientStatus::Failed, 0, format!("expired after {days:.1} days; last error: {}", f.text))
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
        AttemptResult { recipient_id: r.id, status, next_attempt_at, reply, attempted: true }
    }

    async fn deliver_route(
        &self,
        message: &QueuedMessage,
        route: &str,
        recipients: &[String],
        body: &[u8],
    ) -> Vec<RecipientOutcome> {
        let all = |f: Failure| recipients.iter().map(|_| RecipientOutcome::Failed(f.clone())).collect();
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
            data_timeout: self.config.data_timeout,
            tls: &self.tls,
            destinations: self.router.destinations(),
        };
        let mut last = Failure::temporary("no host tried");
        for target in &targets {
            match transaction.run(target, &self.connections).await {
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

    /// Records the round; once no recipient waits, bounces the failed ones and drops the message. `body` is
    /// the message as this round read it (empty when unreadable), so a bounce does not read it again. A round
    /// whose lease another node took over is not recorded: that node's round counts.
    async fn settle(&self, claimed: &QueuedMessage, results: Vec<AttemptResult>, body: &[u8]) {
        // Recipients refused for good (not expired): what a spammer with a stolen account collects.
        let refused =
            results.iter().filter(|r| r.status == RecipientStatus::Failed && r.reply.starts_with('5')).count() as u64;
        let (message, status) = match self.settler.settle(&claimed.id, results).await {
            Ok(Settled::Recorded(message, status)) => (message, status),
            Ok(Settled::Gone) => return,
            Ok(Settled::LeaseLost) => {
                self.metrics.leases_lost.inc();
                return tracing::warn!("delivery round not recorded: its lease expired and another node took it over");
            }
            Err(e) => return tracing::error!("cannot record the delivery round: {e}"),
        };
        if let Some(account) = &message.account
            && refused > 0
        {
            self.senders.bounced(account, refused).await;
        }
        if status == DeliveryStatus::Deferred {
            return;
        }
        if status.needs_bounce() && !message.sender.is_empty() && !self.bounce(&message, body).await {
            // The message stays, its recipients final: the next start bounces it.
            return;
        }
        if let Some(key) = &message.body {
            self.queue.finish(key).await;
        }
        self.metrics.queue_messages.dec();
        tracing::info!(status = status.as_str(), "finished");
    }

    /// Queues the bounce of a finished message and drops the message, in one commit; false if that failed.
    async fn bounce(&self, message: &QueuedMessage, original: &[u8]) -> bool {
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
            original,
        };
        match self.queue.bounce(&message.id, &message.sender, &bounce.message()).await {
            Ok(true) => {
                tracing::info!(to = %message.sender, "bounce queued");
                true
            }
            Ok(false) => {
                tracing::info!("already bounced");
                true
            }
            Err(e) => {
                tracing::error!("cannot queue the bounce: {e}");
                false
            }
        }
    }
}

/// A recipient not tried this round because its destination is busy: due again soon, no attempt counted.
fn postponed(r: &QueuedRecipient, busy: &route_limits::Busy) -> AttemptResult {
    let (wait, why) = match busy {
        route_limits::Busy::Full => (1, "not tried yet: the destination's deliveries are at their limit".to_owned()),
        route_limits::Busy::Resting(left) => {
            (left.as_secs().max(1) as i64, "not tried yet: the destination timed out and is resting".to_owned())
        }
    };
    AttemptResult {
        recipient_id: r.id,
        status: RecipientStatus::Queued,
        next_attempt_at: now() + wait,
        reply: r.last_reply.clone().unwrap_or(why),
        attempted: false,
    }
}
