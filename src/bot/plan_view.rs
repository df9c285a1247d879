//! Each person's own view of a plan's card (Universal Actions' `refresh`).
//! A replication plan runs only for the person who read it
//! (`start_replication`: it lists what they may read), so in a group chat or
//! a channel only they see Run and Cancel; a deployment's plan shows Approve
//! and Cancel to who holds the deploy role and has not approved it yet.
//! Everyone else sees the plan and who may act on it. The click is still
//! checked on the server.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::actor::Actor;
use super::deploy_job::{Approver, StoredDeployPlan};
use super::replication_plan::StoredReplicationPlan;
use super::{Answer, Bot};
use crate::access::Role;
use crate::botframework::activity::Activity;
use crate::cards::{self, universal};
use crate::store::plans::PlanKind;

/// The replication plan card's refresh: each person's own view of it.
pub(crate) const VIEW_VERB: &str = "replicate.view";
/// The deployment plan card's refresh.
pub(crate) const DEPLOY_VIEW_VERB: &str = "deploy.view";

/// Why someone sees no Approve on a deployment plan.
const NOT_A_DEPLOYER: &str = "Only people with the deploy role can approve or cancel this deployment.";

/// How long the members of a conversation are waited for: the plan card
/// goes out without per-person views rather than late.
const MEMBERS_PATIENCE: Duration = Duration::from_secs(5);

/// Where a card was asked for, kept for after the plan is made.
#[derive(Clone, Debug)]
pub(crate) struct Audience {
    service_url: String,
    conversation_id: String,
    /// Teams' id of who asked: first in the refresh list.
    requester: String,
    /// A personal chat has one person in it: nobody else to show a view to.
    personal: bool,
}

impl Audience {
    pub(crate) fn of(activity: &Activity) -> Option<Audience> {
        let conversation = activity.conversation.as_ref()?;
        Some(Audience {
            service_url: activity.service_url.clone().unwrap_or_default(),
            conversation_id: conversation.id.clone(),
            requester: activity.from.as_ref().map(|f| f.id.clone()).unwrap_or_default(),
            personal: conversation.conversation_type.as_deref().is_none_or(|t| t == "personal"),
        })
    }
}

/// Who sees what on a plan's card.
pub(crate) enum Viewer {
    /// The person who read the plan: Run and Cancel.
    Author,
    /// Anyone else: the plan, and who may act on it.
    Other { author: String },
}

impl Viewer {
    /// The line under the plan for everyone but its author.
    pub(crate) fn note(&self) -> String {
        match self {
            Viewer::Author => String::new(),
            Viewer::Other { author } => {
                format!("Only {author} can run or cancel this plan: it lists what they may read. Plan your own with replicate.")
            }
        }
    }
}

impl Bot {
    /// Makes the plan card `card` ask for each member's own view with `verb`
    /// (up to Teams' 60 people, the requester first). Nothing changes in a
    /// personal chat, or when the members cannot be listed (said in the log).
    pub(crate) async fn refresh_for_members(
        &self,
        card: &mut Value,
        audience: &Audience,
        verb: &str,
        plan_id: &str,
        correlation_id: &str,
    ) {
        if audience.personal {
            return;
        }
        let listed = tokio::time::timeout(
            MEMBERS_PATIENCE,
            self.services.connector.conversation_members(&audience.service_url, &audience.conversation_id),
        )
        .await;
        let members = match listed {
            Ok(Ok(members)) => members,
            Ok(Err(error)) => {
                tracing::warn!(correlation_id, %error, "conversation members unavailable; the plan card is the same for all");
                return;
            }
            Err(_) => {
                tracing::warn!(
                    correlation_id,
                    "conversation members not listed in time; the plan card is the same for all"
                );
                return;
            }
        };
        let mut ids = vec![audience.requester.clone()];
        ids.extend(members.into_iter().map(|m| m.id).filter(|id| *id != audience.requester));
        universal::refresh_for(card, verb, json!({"plan_id": plan_id}), &ids);
    }

    /// The refresh of a plan card: the plan as the person asking should see it.
    pub(crate) async fn plan_view(self: &Arc<Self>, activity: &Activity, data: &Value, correlation_id: &str) -> Answer {
        let Some(plan_id) = super::plans::plan_id_of(data) else { return super::plans::bad_plan_button() };
        let stored = match self.plan_here(activity, plan_id, PlanKind::Replication, correlation_id).await {
            Ok(stored) => stored,
            Err(answer) => return answer,
        };
        let Ok(plan) = serde_json::from_value::<StoredReplicationPlan>(stored.payload) else {
            return Answer::Card(cards::error("The plan could not be read.", correlation_id));
        };
        // Teams names who asks (`from.aadObjectId`, in a request it signed);
        // a view is only what is shown: a click is checked again.
        let viewer_oid = activity.from.as_ref().and_then(|f| f.aad_object_id.as_deref());
        let viewer = match (stored.created_by_oid.as_deref(), viewer_oid) {
            (Some(author), Some(viewer)) if author.eq_ignore_ascii_case(viewer) => Viewer::Author,
            (None, _) => Viewer::Author,
            _ => Viewer::Other { author: plan.requested_by.clone() },
        };
        own_view(self.plan_card(plan_id, &plan, &viewer), activity, VIEW_VERB, plan_id)
    }

    /// The refresh of a deployment plan's card: Approve and Cancel for who
    /// holds the deploy role and has not approved it yet; for everyone else
    /// the plan and why they have no buttons. Someone not signed in is known
    /// by the object id Teams puts on the request: roles given to them
    /// directly count, roles through a group once they sign in.
    pub(crate) async fn deploy_view(
        self: &Arc<Self>,
        activity: &Activity,
        data: &Value,
        anonymous: bool,
        correlation_id: &str,
    ) -> Answer {
        let Some(plan_id) = super::plans::plan_id_of(data) else { return super::plans::bad_plan_button() };
        let row = match self.plan_here(activity, plan_id, PlanKind::Deployment, correlation_id).await {
            Ok(row) => row,
            Err(answer) => return answer,
        };
        let Ok(stored) = serde_json::from_value::<StoredDeployPlan>(row.payload) else {
            return Answer::Card(cards::error("The plan could not be read.", correlation_id));
        };
        let needs_second = self.services.config.access.deploy_needs_second_approver;
        let note = match self.approver(activity, anonymous, Role::Deploy, NOT_A_DEPLOYER, correlation_id).await {
            Ok(None) => None,
            Ok(Some(actor)) => {
                let me = Approver::of(&actor);
                stored
                    .approvals
                    .iter()
                    .any(|a| a.same_person(&me))
                    .then(|| "You approved it: a second person with the deploy role must approve too.".to_string())
            }
            Err(note) => Some(note),
        };
        own_view(super::deploy_cards::plan(plan_id, &stored, needs_second, note), activity, DEPLOY_VIEW_VERB, plan_id)
    }

    /// Who asks for a view of a card that people holding `role` act on
    /// (`None`: someone not signed in who holds it directly): `Err` is why
    /// they see no buttons (`not_holder`, and how to sign in
    /// when they might hold it through a group). Someone not signed in is
    /// known by the object id Teams puts on the request: roles given to
    /// them directly count, roles through a group once they sign in.
    pub(crate) async fn approver(
        &self,
        activity: &Activity,
        anonymous: bool,
        role: Role,
        not_holder: &str,
        correlation_id: &str,
    ) -> Result<Option<Actor>, String> {
        match self.actor(activity, anonymous).await {
            Ok(Some(actor)) if self.holds(&actor, role, correlation_id).await => Ok(Some(actor)),
            Ok(Some(_)) => Err(not_holder.to_string()),
            _ => {
                let oid = activity.from.as_ref().and_then(|f| f.aad_object_id.as_deref()).unwrap_or_default();
                let person = crate::access::Person { oid, groups: &[] };
                match self.services.config.access.allows(&person, role) {
                    true => Ok(None),
                    false => Err(format!(
                        "{not_holder} If you hold it through a group, sign in (type whoami) and look again."
                    )),
                }
            }
        }
    }
}

/// One person's view of a plan's card, refreshed for them alone when
/// it changes again (its `refresh` names only them).
pub(crate) fn own_view(mut card: Value, activity: &Activity, verb: &str, plan_id: &str) -> Answer {
    if let Some(viewer) = activity.from.as_ref().map(|f| f.id.clone()) {
        universal::refresh_for(&mut card, verb, json!({"plan_id": plan_id}), &[viewer]);
    }
    Answer::Card(card)
}
