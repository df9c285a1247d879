//! What can go wrong in a turn, typed, and the one way it reaches the
//! person: an error card that says what failed and carries the correlation
//! id that is also in the log line.

use serde_json::Value;

use crate::cards;
use crate::deploy::DeployError;
use crate::identity::IdentityError;
use crate::replication::read::ReadError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum TurnError {
    /// A setting this needs is missing (a workspace, the bot's own identity).
    #[error("{0}")]
    NotConfigured(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("reading the {side}: {source}")]
    Read { side: &'static str, source: ReadError },
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("a stored value: {0}")]
    Stored(#[from] serde_json::Error),
}

impl TurnError {
    /// The error card for `what` ("The plan could not be made"), logged
    /// with the correlation id. Errors name hosts and objects, never tokens.
    pub(crate) fn card(&self, what: &str, correlation_id: &str) -> Value {
        tracing::warn!(correlation_id, error = %self, "{what}");
        cards::error(&format!("{what}: {self}"), correlation_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_says_what_failed_and_carries_the_correlation_id() {
        let card = TurnError::NotConfigured("no primary workspace is configured".into())
            .card("The plan could not be made", "corr-42")
            .to_string();
        assert!(card.contains("The plan could not be made: no primary workspace is configured"), "{card}");
        assert!(card.contains("corr-42"), "{card}");
    }
}
