//! Moat's mail path, laid out the way mail flows: `inbound` (the listener and the ESMTP session, one file per
//! verb), `queue` (the queue, its bodies in the message store, delivery status notifications, Moat's own notices) and
//! `outbound` (the queue manager delivering to the customer's downstream hosts with retries).

pub mod config;
mod groups;
pub mod inbound;
pub mod metrics;
pub mod outbound;
pub mod queue;
pub mod reply;
pub mod tls;

pub use config::{ConfigError, DeliveryConfig, SendingLimits, SessionConfig, SetupError, SubmissionConfig};
pub use inbound::listener::{Listener, SmtpContext};
pub use metrics::Metrics;
pub use outbound::QueueManager;
pub use queue::{Envelope, Fate, Judged, LogVerdict, Queue, SessionFacts};

pub(crate) use moat_store::unix_now as now;
