//! Moat's mail path: the inbound ESMTP session, the durable spool, the queue, delivery to the customer's
//! downstream hosts with retries, and delivery status notifications.

pub mod authentication;
pub mod config;
pub mod delivery;
mod dsn;
pub mod listener;
pub mod metrics;
pub mod notices;
pub mod queue;
mod received;
pub mod reply;
pub mod session;
mod shaping;
pub mod spool;
pub mod tagging;
pub mod tls;

pub use config::{DeliveryConfig, SessionConfig};
pub use delivery::QueueManager;
pub use listener::{Listener, SmtpContext};
pub use metrics::Metrics;
pub use queue::{Envelope, Fate, Judged, LogVerdict, Queue, SessionFacts};
pub use spool::Spool;

/// Unix time in seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
