//! What can go wrong in a turn and in an operation's run, typed, and the
//! one way a turn's error reaches the person: an error card that says what
//! failed and carries the correlation id that is also in the log line. (An
//! operation's error is recorded as its failed outcome by the engine, and
//! its result card shows it.)

use serde_json::Value;

use crate::botframework::user_token::UserTokenError;
use crate::cards;
use crate::deploy::DeployError;
use crate::identity::IdentityError;
use crate::pairs::Side;
use crate::replication::read::ReadError;
use crate::store::StoreError;

/// A setting this needs is missing (a workspace, the bot's own identity);
/// the text names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotConfigured(pub &'static str);

/// Why work that outlives its turn cannot act as whoever started it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActingAsError {
    #[error(transparent)]
    NotConfigured(#[from] NotConfigured),
    #[error("the token service is unavailable: {0}")]
    TokenService(#[from] UserTokenError),
    #[error("the person who started it is no longer signed in")]
    SignedOut,
    #[error("the sign-in token is unreadable")]
    Unreadable,
    /// The token service keys tokens by Teams user id, the run by object id.
    #[error("the sign-in token belongs to someone other than the person who started it")]
    SomeoneElse,
}

/// What stops an operation's run (a replication, a deployment) from running
/// at all. The engine records it as failed; the text is on the result card.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("the bot is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    NotConfigured(#[from] NotConfigured),
    #[error(transparent)]
    ActingAs(#[from] ActingAsError),
    #[error("the plan it runs is no longer stored")]
    PlanGone,
    #[error("the stored plan is unreadable: {0}")]
    PlanUnreadable(serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Pair(#[from] PairError),
    #[error("pair {0} is no longer registered")]
    PairGone(String),
    #[error(transparent)]
    FailedOver(#[from] crate::pairs::FailedOver),
    /// A scheduled cycle reads both metastores before it runs.
    #[error("the plan could not be made: {0}")]
    Plan(#[from] TurnError),
}

/// What can go wrong in a turn.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TurnError {
    #[error(transparent)]
    NotConfigured(#[from] NotConfigured),
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
    #[error(transparent)]
    Pair(#[from] PairError),
    /// A runbook that does not apply to the pair as it stands.
    #[error(transparent)]
    Runbook(#[from] crate::failover::runbook::Refusal),
    #[error(transparent)]
    FailedOver(#[from] crate::pairs::FailedOver),
    /// A managed-DR pair's failover group could not be read (worded).
    #[error("{0}")]
    ManagedDr(String),
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
        let card = TurnError::from(NotConfigured("no primary workspace is configured"))
            .card("The plan could not be made", "corr-42")
            .to_string();
        assert!(card.contains("The plan could not be made: no primary workspace is configured"), "{card}");
        assert!(card.contains("corr-42"), "{card}");
    }
}

/// Why no pair could be chosen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PairError {
    #[error("there is no pair named {name}{}", known_list(.known))]
    Unknown { name: String, known: Vec<String> },
    #[error(
        "no workspace pair is configured yet: an admin adds one with pair add, or deploy spoke NAME registers one"
    )]
    NoneConfigured,
    #[error("drbot looks after several pairs ({}): name one, or set this chat's default with use PAIR", .0.join(", "))]
    Ambiguous(Vec<String>),
    #[error("pair {0} has no SQL warehouse on the {side}: an admin sets one with {how}", side = .1.as_str(), how = warehouse_how(&.0, *.1))]
    NoWarehouse(String, Side),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

/// How an admin gives pair `name` a warehouse on `side`: the primary's is
/// set in place (`pair set`), the secondary's only with the pair (`pair add`).
fn warehouse_how(name: &str, side: Side) -> String {
    match side {
        Side::Primary => format!("pair set {name} primary_warehouse=ID"),
        Side::Secondary => format!("pair add {name} … warehouse=ID"),
    }
}

fn known_list(known: &[String]) -> String {
    match known.is_empty() {
        true => String::new(),
        false => format!(" (pairs: {})", known.join(", ")),
    }
}

impl PairError {
    pub(crate) fn card(&self, correlation_id: &str) -> Value {
        match self {
            PairError::Store(error) => {
                tracing::error!(correlation_id, %error, "pairs unavailable");
                cards::error("The pairs could not be read.", correlation_id)
            }
            other => cards::with_correlation_id(cards::notice("Which pair?", &other.to_string()), correlation_id),
        }
    }
}
