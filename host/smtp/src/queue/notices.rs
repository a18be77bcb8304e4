//! Notifications (a full license pool, an import's result) as mail, queued through Moat itself like any
//! other message, so they are retried while the recipient's server is down.

use crate::{Envelope, Queue};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use moat_directory::{Notification, Notifier};
use tokio::sync::mpsc;

/// Hands notifications to a task that queues them: the directory never waits on the queue.
#[derive(Debug)]
pub struct Outbox {
    sender: mpsc::UnboundedSender<Notification>,
}

impl Outbox {
    /// Starts the queueing task (inside a Tokio runtime).
    pub fn start(queue: Queue) -> Self {
        let (sender, mut pending) = mpsc::unbounded_channel::<Notification>();
        tokio::spawn(async move {
            while let Some(notification) = pending.recv().await {
                let to = notification.to.clone();
                match queue_one(&queue, &notification).await {
                    Ok(id) => tracing::info!(%to, queue_id = %id, "notification queued"),
                    Err(e) => tracing::error!(%to, "cannot queue a notification: {e}"),
                }
            }
        });
        Self { sender }
    }
}

impl Notifier for Outbox {
    fn send(&self, notification: Notification) {
        let _ = self.sender.send(notification);
    }
}

/// The message of a notification, from the gateway's postmaster.
pub fn message(hostname: &str, notification: &Notification) -> Vec<u8> {
    let from = format!("postmaster@{hostname}");
    MessageBuilder::new()
        .from(("Moat", from.as_str()))
        .to(notification.to.to_string())
        .subject(notification.subject())
        .message_id(format!("{}.notice@{hostname}", uuid::Uuid::now_v7().simple()))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("Content-Language", Raw::new(notification.language.code()))
        .text_body(notification.text())
        .write_to_vec()
        .unwrap_or_default()
}

/// Queues one notification as mail (what the outbox does; for a process without one, such as the CLI).
pub async fn queue_one(queue: &Queue, notification: &Notification) -> Result<String, super::QueueError> {
    let route = notification.to.domain().to_owned();
    // The null sender: a notification that cannot be delivered is not bounced back to anyone.
    let envelope = Envelope { sender: String::new(), recipients: vec![(notification.to.to_string(), route)] };
    let facts = queue.own_facts();
    let bytes = message(queue.hostname(), notification);
    queue.accept(&facts, &envelope, &bytes).await
}
