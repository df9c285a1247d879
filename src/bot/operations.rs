//! Starting an operation from a card click, the same for every kind once its
//! command has built the kind's job: the row keyed so a double click (or a
//! replayed invoke) finds the operation already started and starts nothing,
//! on the clicked card, under the clicker's name, and audited. The engine
//! (`crate::ops`) runs it from there.

use serde::Serialize;
use serde_json::Value;

use super::actor::Actor;
use super::runs::worded_time;
use super::{Answer, Bot};
use crate::botframework::activity::Activity;
use crate::cards;
use crate::store::operations::{Kind, NewOperation, Operation};
use crate::store::StoreError;

/// An operation a click starts.
pub(crate) struct Start<'a, J> {
    pub kind: Kind,
    /// Names what is started (`replicate:PLAN`, `deploy:PLAN`): the same
    /// key finds the same operation.
    pub key: String,
    /// The kind's state, as its first checkpoint.
    pub job: &'a J,
    /// The DR pair it works on, if any (a deployment registers its pair
    /// only once it succeeds).
    pub pair: Option<String>,
    /// The audit entry's action and target.
    pub audit: &'static str,
    pub target: Option<&'a str>,
    /// The card for a click on a plan that already runs.
    pub already: fn(&Operation) -> Value,
}

impl Bot {
    /// Starts the operation and audits it; its first progress card is the
    /// caller's. `Err` is the answer instead: the card of the operation the
    /// key already started, or the error card with the correlation id.
    pub(crate) async fn start_operation<J: Serialize>(
        &self,
        start: Start<'_, J>,
        actor: &Actor,
        activity: &Activity,
        correlation_id: &str,
    ) -> Result<Operation, Answer> {
        let kind = start.kind;
        let new = NewOperation {
            idempotency_key: start.key,
            kind,
            conversation_id: activity.conversation.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            card_activity_id: activity.reply_to_id.clone(),
            started_by_oid: actor.oid().map(str::to_string),
            started_by_upn: Some(actor.upn().to_string()),
            pair: start.pair,
            payload: serde_json::to_value(start.job).unwrap_or(Value::Null),
        };
        let (op, created) = match self.operations.start(&new).await {
            Ok(started) => started,
            Err(StoreError::PairBusy { pair, operation }) => {
                let refused = format!("refused: pair {pair} is replicating ({operation})");
                self.audit(actor, start.audit, start.target, &refused, correlation_id).await;
                return Err(Answer::Card(self.pair_busy_card(&pair, &operation, correlation_id).await));
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, %kind, "operation not created");
                return Err(Answer::Card(cards::error(&format!("The {kind} could not be started."), correlation_id)));
            }
        };
        if !created {
            // A double click or a replayed invoke: the operation that exists, not a second.
            return Err(Answer::Card((start.already)(&op)));
        }
        self.audit(actor, start.audit, start.target, &format!("started {}", op.id), correlation_id).await;
        Ok(op)
    }

    /// Why a replication of `pair` did not start: `operation` of the same
    /// pair is in flight, named with who (or which schedule) started it.
    async fn pair_busy_card(&self, pair: &str, operation: &str, correlation_id: &str) -> Value {
        let running = self.services.store.operation(operation).await.ok().flatten();
        let how = match &running {
            Some(op) if op.payload["scheduled"].as_bool() == Some(true) => {
                format!("started by the pair's schedule at {}", worded_time(op.created_ms))
            }
            Some(op) => format!(
                "started by {} at {}",
                op.started_by_upn.as_deref().unwrap_or("someone"),
                worded_time(op.created_ms)
            ),
            None => "just ending".to_string(),
        };
        cards::with_correlation_id(
            cards::notice(
                &format!("Pair {pair} is replicating already"),
                &format!(
                    "Run {operation} ({how}) is in flight, and a pair replicates once at a time. Follow it with \
                     run {operation}, or stop it with cancel {operation}; then Run this plan again."
                ),
            ),
            correlation_id,
        )
    }
}
