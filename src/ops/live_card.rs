//! A card that shows the current state of a long operation, updated in place.
//!
//! Teams limits how often a bot may write to a conversation, and a person
//! cannot read a card that changes ten times a second anyway. So progress
//! updates coalesce: the newest card wins, and the card is written at most
//! once per `min_interval`, the first time one interval after the card was
//! shown. The final card goes out after the last progress update, never
//! before it, so nobody sees "running" after "finished".

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::botframework::connector::{ConnectorClient, ConnectorError};

/// Where a card lives: its conversation and activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardAddress {
    pub service_url: String,
    pub conversation_id: String,
    pub activity_id: String,
}

/// One card kept current in the background.
pub struct LiveCard {
    latest: watch::Sender<Option<Value>>,
    writer: JoinHandle<Result<(), ConnectorError>>,
}

impl LiveCard {
    pub fn start(connector: Arc<ConnectorClient>, address: CardAddress, min_interval: Duration) -> LiveCard {
        let (latest, mut changes) = watch::channel(None::<Value>);
        let writer = tokio::spawn(async move {
            // The card was just sent (or is the answer to the click that is
            // being sent right now): a rewrite that overtook it would be
            // overwritten by it, so the first rewrite waits one interval too.
            tokio::time::sleep(min_interval).await;
            let mut last_error = Ok(());
            // `changed` still reports the newest value after the sender is gone,
            // so the final card is always written.
            while changes.changed().await.is_ok() {
                let Some(card) = changes.borrow_and_update().clone() else { continue };
                last_error = write(&connector, &address, card).await.map(|_| ());
                if let Err(error) = &last_error {
                    tracing::warn!(%error, "progress card not updated");
                }
                tokio::time::sleep(min_interval).await;
            }
            last_error
        });
        LiveCard { latest, writer }
    }

    /// Shows `card` next (replacing any update not yet written).
    pub fn show(&self, card: Value) {
        self.latest.send_replace(Some(card));
    }

    /// Writes `card` as the last state and waits until it is written.
    pub async fn finish(self, card: Value) -> Result<(), ConnectorError> {
        self.latest.send_replace(Some(card));
        drop(self.latest);
        match self.writer.await {
            Ok(result) => result,
            Err(_) => Err(ConnectorError::Unreachable("the card writer stopped".into())),
        }
    }
}

/// Replaces the card at `address` once.
pub async fn write(
    connector: &ConnectorClient,
    address: &CardAddress,
    card: Value,
) -> Result<crate::botframework::connector::ResourceResponse, ConnectorError> {
    let mut activity = Activity::new(ActivityType::Message);
    activity.id = Some(address.activity_id.clone());
    activity.attachments.push(Attachment::adaptive_card(card));
    connector.update(&address.service_url, &address.conversation_id, &address.activity_id, &activity).await
}
