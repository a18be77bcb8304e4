//! Prometheus metrics of the mail path, served by `moat serve` on the admin port at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
pub struct Inner {
    pub accepted: Counter,
    pub rejected: Counter,
    pub refused_recipients: Counter,
    pub delivered: Counter,
    pub deferred: Counter,
    pub bounced: Counter,
    pub sessions: Gauge,
    pub queue_messages: Gauge,
    /// Times the mail path parsed a message (once per filtered message; the header section of others).
    pub message_parses: Counter,
    /// Trips of the mail path to a plugin thread (one per recipient with a chain, one per group after DATA).
    pub filter_runs: Counter,
    /// Lessons from confident verdicts taught (autolearn), and those skipped (past the lessons a second, or
    /// every run slot busy).
    pub lessons_taught: Counter,
    pub lessons_skipped: Counter,
    /// Delivery rounds not recorded because another node took their lease over (this node froze or lost the
    /// database for longer than a lease).
    pub leases_lost: Counter,
    registry: std::sync::OnceLock<Registry>,
}

impl std::ops::Deref for Metrics {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let registry = self.inner.registry.get_or_init(|| {
            let mut r = Registry::with_prefix("moat");
            r.register("messages_accepted", "Messages accepted and queued", self.accepted.clone());
            r.register("messages_rejected", "Messages refused at DATA/BDAT", self.rejected.clone());
            r.register(
                "recipients_refused",
                "RCPT TO refused (unknown user, relay, syntax)",
                self.refused_recipients.clone(),
            );
            r.register("recipients_delivered", "Recipients accepted by a downstream host", self.delivered.clone());
            r.register("recipients_deferred", "Delivery attempts that failed temporarily", self.deferred.clone());
            r.register("recipients_bounced", "Recipients failed permanently or expired", self.bounced.clone());
            r.register("smtp_sessions", "Inbound SMTP sessions open now", self.sessions.clone());
            r.register("queue_messages", "Messages waiting in the queue", self.queue_messages.clone());
            r.register("message_parses", "Times the mail path parsed a message", self.message_parses.clone());
            r.register(
                "filter_runs",
                "Times the mail path handed a chain to a plugin thread",
                self.filter_runs.clone(),
            );
            r.register(
                "autolearn_lessons",
                "Lessons from confident verdicts taught to the learning filters (autolearn)",
                self.lessons_taught.clone(),
            );
            r.register(
                "autolearn_skipped",
                "Lessons from confident verdicts skipped: past the lessons a second, or the filters busy",
                self.lessons_skipped.clone(),
            );
            r.register(
                "leases_lost",
                "Delivery rounds not recorded because another node took their lease over",
                self.leases_lost.clone(),
            );
            r
        });
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, registry);
        out
    }
}
