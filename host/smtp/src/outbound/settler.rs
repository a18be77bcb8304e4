//! Records delivery rounds in groups: whatever rounds finished while the previous record was being written go
//! in the next transaction together ([`Store::queue_settle_rounds`]), so concurrent deliveries share one
//! commit and one set of statements instead of queueing for one each.

use moat_store::{AttemptResult, Round, Settled, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Why a round was not recorded.
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum SettleError {
    #[error("the delivery recorder has stopped")]
    Stopped,
    /// The group's one failure, told to each of its rounds.
    #[error("{0}")]
    Store(Arc<moat_store::StoreError>),
}

/// The most rounds recorded in one transaction.
const MAX_GROUP: usize = 64;

struct Request {
    message_id: String,
    results: Vec<AttemptResult>,
    done: oneshot::Sender<Result<Settled, SettleError>>,
}

#[derive(Clone)]
pub(super) struct Settler {
    requests: mpsc::Sender<Request>,
}

impl Settler {
    /// Starts the task that records rounds for `owner` (this node); it ends with the last `Settler`.
    pub fn start(store: Store, owner: String) -> Self {
        let (requests, pending) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(record_in_groups(store, owner, pending));
        Self { requests }
    }

    /// Records one round: see [`Store::queue_settle_rounds`].
    pub async fn settle(&self, message_id: &str, results: Vec<AttemptResult>) -> Result<Settled, SettleError> {
        let (done, recorded) = oneshot::channel();
        let request = Request { message_id: message_id.to_owned(), results, done };
        self.requests.send(request).await.map_err(|_| SettleError::Stopped)?;
        recorded.await.map_err(|_| SettleError::Stopped)?
    }
}

async fn record_in_groups(store: Store, owner: String, mut pending: mpsc::Receiver<Request>) {
    while let Some(group) = crate::groups::next_group(&mut pending, MAX_GROUP).await {
        let rounds: Vec<Round> =
            group.iter().map(|r| Round { message_id: &r.message_id, results: &r.results }).collect();
        let recorded = store.queue_settle_rounds(&owner, &rounds, crate::now()).await;
        if group.len() > 1 {
            tracing::debug!(rounds = group.len(), "delivery rounds recorded together");
        }
        match recorded {
            Ok(answers) => {
                for (request, answer) in group.into_iter().zip(answers) {
                    let _ = request.done.send(Ok(answer));
                }
            }
            Err(e) => {
                let e = SettleError::Store(Arc::new(e));
                for request in group {
                    let _ = request.done.send(Err(e.clone()));
                }
            }
        }
    }
}
