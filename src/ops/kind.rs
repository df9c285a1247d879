//! What one kind of operation (a replication, a deployment) brings to the
//! engine: its durable state, how it runs from that state, and its result
//! card. Everything else (lease, takeover, cancel, the live card, recording
//! the outcome, the final card, the audit entry) is the engine's.

use std::error::Error;
use std::future::Future;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::running::Running;
use crate::store::operations::{Kind, Operation, Outcome};

/// How a run of an operation ended, as its kind sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// The work is over: the engine records `outcome` and `result`, and the
    /// kind's result card is shown once.
    Finished { outcome: Outcome, result: Value },
    /// This instance stops (its lease is lost, or it is shutting down and
    /// the work runs elsewhere): the next owner carries on from the last
    /// checkpoint.
    LetGo,
}

/// Why a run stopped before its kind could say how the work ended.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The operation row's payload is not the kind's state.
    #[error("the operation is unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
    /// The kind's own error ([`OperationKind::Error`]), as its card says it.
    #[error("{0}")]
    Kind(Box<dyn Error + Send + Sync>),
}

/// The result of a run that could not go on, with the reason people read
/// on its card.
pub fn failure(problem: &dyn std::fmt::Display) -> Value {
    json!({"outcome": Outcome::Failed.as_str(), "error": problem.to_string()})
}

/// One kind of long-running operation.
pub trait OperationKind: Send + Sync + 'static {
    /// The operation row's payload: what a restarted instance needs to carry
    /// on. The engine stores it whenever the kind calls [`Running::checkpoint`].
    /// It carries the `service_url` of the conversation its card is in.
    type State: Serialize + DeserializeOwned + Send + Sync;

    /// What stopped a run from running at all (recorded as failed, with
    /// its text on the result card).
    type Error: Error + Send + Sync + 'static;

    /// The operation row's `kind`.
    const KIND: Kind;

    /// True when the work runs outside this process (a deployment runs in
    /// Azure): letting go of it (a lost lease, a shutdown) must not cancel
    /// it, the next owner follows it again. Otherwise a lost lease cancels
    /// the work here, and the next owner resumes it from the checkpoint.
    const DETACHED: bool = false;

    /// Runs or resumes the operation from `state` (the last checkpoint) to
    /// its end. An `Err` is a problem that stopped it from running at all: the
    /// engine records it as failed, with the reason on the result card.
    fn run(
        &self,
        op: &Operation,
        state: Self::State,
        running: &Running,
    ) -> impl Future<Output = Result<Ending, Self::Error>> + Send;

    /// The card that replaces the progress card once the operation has
    /// ended, from what the store holds (`op.result` and the kind's own records).
    /// `Value::Null` is no card: nothing is written, and the operation counts
    /// as delivered (work nobody waits on, such as a scheduled cycle that went well).
    fn result_card(&self, op: &Operation, state: Self::State) -> impl Future<Output = Value> + Send;
}

/// A registered kind, with its state read from the operation row.
pub(super) trait Registered: Send + Sync {
    fn detached(&self) -> bool;
    fn run<'a>(&'a self, op: &'a Operation, running: &'a Running) -> BoxFuture<'a, Result<Ending, Failure>>;
    fn result_card<'a>(&'a self, op: &'a Operation) -> BoxFuture<'a, Result<Value, Failure>>;
}

impl<K: OperationKind> Registered for K {
    fn detached(&self) -> bool {
        K::DETACHED
    }

    fn run<'a>(&'a self, op: &'a Operation, running: &'a Running) -> BoxFuture<'a, Result<Ending, Failure>> {
        Box::pin(async move {
            let state = state_of::<K>(op)?;
            OperationKind::run(self, op, state, running).await.map_err(|error| Failure::Kind(Box::new(error)))
        })
    }

    fn result_card<'a>(&'a self, op: &'a Operation) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move { Ok(OperationKind::result_card(self, op, state_of::<K>(op)?).await) })
    }
}

fn state_of<K: OperationKind>(op: &Operation) -> Result<K::State, Failure> {
    Ok(serde_json::from_value(op.payload.clone())?)
}
