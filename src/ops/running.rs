//! What a kind's run holds of the engine while it works: the cancel and
//! lost-lease signals, the live card, and the checkpoint. Its own file so a
//! kind (which is handed a [`Running`]) does not depend on the engine that
//! drives it.

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::live_card::LiveCard;
use crate::store::operations::Lease;
use crate::store::Store;

/// What a kind's run uses of the engine while it works.
pub struct Running {
    pub(super) store: Store,
    /// This process, as the store's leases name it.
    pub(super) instance_id: String,
    /// Cancelled when the process shuts down.
    pub(super) stopping: CancellationToken,
    pub(super) id: String,
    pub(super) detached: bool,
    pub(super) cancel: CancellationToken,
    pub(super) lost: CancellationToken,
    pub(super) live: Option<LiveCard>,
}

impl Running {
    /// Cancelled when someone asked to cancel the operation, or (for work
    /// that runs here) when another instance took it over.
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(super) fn stops(&self) -> Stops {
        Stops { detached: self.detached, cancel: self.cancel.clone(), lost: self.lost.clone() }
    }

    /// True once another instance holds the operation.
    pub fn lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Resolves when this instance should stop following detached work: the
    /// lease is lost, or the process is shutting down (the work goes on, and
    /// the next owner follows it).
    pub async fn let_go(&self) {
        tokio::select! {
            _ = self.lost.cancelled() => {}
            _ = self.stopping.cancelled(), if self.detached => {}
        }
    }

    /// Shows `card` as the operation's progress (coalesced; the newest wins).
    pub fn show(&self, card: Value) {
        if let Some(live) = &self.live {
            live.show(card);
        }
    }

    /// Stores `state` as the operation's checkpoint, if this instance still
    /// holds it (a lost lease is noticed here too). True when it is stored:
    /// work that must not act on an unsaved checkpoint (a runbook about to
    /// pause jobs) stops on false and is resumed from the last one stored.
    pub async fn checkpoint<S: Serialize>(&self, state: &S) -> bool {
        let payload = match serde_json::to_value(state) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(operation = %self.id, %error, "checkpoint not serialisable");
                return false;
            }
        };
        match self.store.update_operation_progress(&self.id, &self.instance_id, &payload, now_ms()).await {
            Ok(Lease::Held { .. }) => true,
            Ok(Lease::Lost) => {
                self.stops().lose();
                false
            }
            Err(error) => {
                tracing::warn!(operation = %self.id, %error, "checkpoint not saved");
                false
            }
        }
    }
}

/// How a run is stopped from outside.
#[derive(Clone)]
pub(super) struct Stops {
    pub(super) detached: bool,
    pub(super) cancel: CancellationToken,
    pub(super) lost: CancellationToken,
}

impl Stops {
    /// Another instance holds the operation now: work that runs here stops
    /// too; detached work is only no longer followed.
    pub(super) fn lose(&self) {
        self.lost.cancel();
        if !self.detached {
            self.cancel.cancel();
        }
    }
}

/// Now, as the store's timestamps count it.
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
