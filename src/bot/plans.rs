//! A plan asked for in chat (a replication plan, a deployment's What-If):
//! who asked, where, and with whose tokens it is read; the stored row with
//! its expiry, so that Run or Approve acts on what the person read; and what
//! the plan card's buttons carry. Shared by the commands that make plans
//! (`src/bot/replicate.rs`, `src/bot/deploy.rs`).

use serde::Serialize;
use serde_json::Value;

use super::actor::{Actor, DatabricksTokens};
use super::error::TurnError;
use super::{now_ms, Answer, Bot};
use crate::botframework::activity::Activity;
use crate::cards;
use crate::store::plans::{PlanKind, StoredPlan};
use crate::teams::invoke::InvokeResponse;

/// Who asks for a plan, where, and the tokens it is read with.
pub(crate) struct PlanRequest {
    pub conversation_id: String,
    /// Display name, on the plan card.
    pub requested_by: String,
    /// Object id: only the person who read a plan may run it.
    pub creator: Option<String>,
    pub tokens: DatabricksTokens,
    pub correlation_id: String,
}

impl Bot {
    /// The request for a plan in `activity`, with the conversation
    /// remembered for the cards that follow. `Err` is the answer: an
    /// activity without a conversation, or `what` ("The plan could not be
    /// made") with the reason there are no tokens.
    pub(crate) async fn plan_request(
        &self,
        activity: &Activity,
        actor: &Actor,
        what: &str,
        correlation_id: &str,
    ) -> Result<PlanRequest, Answer> {
        let Some(conversation_id) = activity.conversation.as_ref().map(|c| c.id.clone()) else {
            return Err(Answer::Card(cards::error("This activity has no conversation.", correlation_id)));
        };
        self.remember_conversation(activity, correlation_id).await;
        let tokens = self.tokens_for(actor).map_err(|error| Answer::Card(error.card(what, correlation_id)))?;
        Ok(PlanRequest {
            conversation_id,
            requested_by: actor.display_name().to_string(),
            creator: actor.oid().map(str::to_string),
            tokens,
            correlation_id: correlation_id.to_string(),
        })
    }

    /// Stores `plan` as a plan of `kind` for `request`, expiring after
    /// `[operations] plan_ttl_secs`; returns its id.
    pub(crate) async fn save_plan<P: Serialize>(
        &self,
        kind: PlanKind,
        request: &PlanRequest,
        plan: &P,
    ) -> Result<String, TurnError> {
        let id = uuid::Uuid::new_v4().to_string();
        let row = StoredPlan {
            id: id.clone(),
            kind,
            conversation_id: request.conversation_id.clone(),
            created_by_oid: request.creator.clone(),
            created_ms: now_ms(),
            expires_ms: now_ms() + (self.services.config.operations.plan_ttl_secs * 1000) as i64,
            payload: serde_json::to_value(plan)?,
        };
        self.services.store.save_plan(&row).await?;
        Ok(id)
    }
}

impl Bot {
    /// The stored plan `plan_id` of `kind` made in `activity`'s conversation.
    /// `Err` is the answer when there is none to act on (it expired, was
    /// run or approved, or belongs to another conversation) or the store
    /// cannot be read: what a button on a plan card says then.
    pub(crate) async fn plan_here(
        &self,
        activity: &Activity,
        plan_id: &str,
        kind: PlanKind,
        correlation_id: &str,
    ) -> Result<StoredPlan, Answer> {
        let conversation_id = activity.conversation.as_ref().map(|c| c.id.as_str()).unwrap_or_default();
        match self.services.store.plan(plan_id, now_ms()).await {
            Ok(Some(row)) if row.conversation_id == conversation_id && row.kind == kind => Ok(row),
            Ok(_) => Err(Answer::Card(match kind {
                PlanKind::Replication => cards::notice(
                    "This plan can no longer run",
                    "It expired, ran, or belongs to another conversation. Plan again with replicate.",
                ),
                PlanKind::Deployment => cards::notice(
                    "This plan can no longer be deployed",
                    "It expired, was approved, or belongs to another conversation. Ask again with deploy hub, \
                     deploy transit or deploy spoke NAME.",
                ),
                PlanKind::Runbook => cards::notice(
                    "This runbook can no longer be approved",
                    "It expired, ran, or belongs to another conversation. Ask again with failover, failback or drill.",
                ),
            })),
            Err(error) => {
                tracing::error!(correlation_id, %error, "plan unavailable");
                Err(Answer::Card(cards::error("The plan could not be read.", correlation_id)))
            }
        }
    }
}

/// The button data a Run click carries.
pub(crate) fn plan_id_of(data: &Value) -> Option<&str> {
    data["plan_id"].as_str().filter(|id| id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// For a Run click without a usable plan id.
pub(crate) fn bad_plan_button() -> Answer {
    Answer::Invoke(InvokeResponse::error(400, "BadRequest", "This button carries no plan."))
}
