//! `deploy hub` and `deploy spoke NAME` from chat: What-If in both regions
//! as the person who asked (ARM by on-behalf-of, so Azure RBAC judges them),
//! a plan card with Approve and Cancel, and on approval (one person, or two
//! different ones when `access.deploy_needs_second_approver` is set) a
//! durable operation that [`super::deploy_run`] carries out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::actor::{ActingAs, Actor, DeployTokens};
use super::deploy_cards::{self, target_words};
use super::deploy_job::{Approver, DeploymentJob, StoredDeployPlan};
use super::error::TurnError;
use super::operations::Start;
use super::plan_view::{Audience, DEPLOY_VIEW_VERB};
use super::plans::{bad_plan_button, plan_id_of, PlanRequest};
use super::{now_ms, Answer, Bot};
use crate::access::Role;
use crate::azure::{ArmClient, PollOptions};
use crate::botframework::activity::Activity;
use crate::cards;
use crate::deploy::{self as engine, Target, Templates};
use crate::store::operations::Kind;
use crate::store::plans::PlanKind;

/// Verbs of the plan and progress cards' buttons.
pub(crate) const APPROVE_VERB: &str = "deploy.approve";
pub(crate) const CANCEL_VERB: &str = "deploy.cancel";

/// The longest a What-If is waited for.
const WHAT_IF_PATIENCE: Duration = Duration::from_secs(300);

impl Bot {
    /// `deploy hub` / `deploy spoke NAME`: the role check, then What-If as
    /// the person, answered with the plan card when it is done.
    pub(crate) async fn plan_deployment(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        target: Result<Target, engine::DeployError>,
        correlation_id: &str,
    ) -> Answer {
        let target = match target {
            Ok(target) => target,
            Err(problem) => {
                return Answer::Card(cards::with_correlation_id(
                    cards::usage("deploy", "deploy hub | deploy transit | deploy spoke NAME", &problem.to_string()),
                    correlation_id,
                ))
            }
        };
        // The gate (`cmd/deploy.rs`) has checked the deploy role.
        let label = target.label();
        self.audit(actor, "plan a deployment", Some(&label), "allowed", correlation_id).await;
        let request = match self.plan_request(activity, actor, "The What-If could not be made", correlation_id).await {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        let placeholder = cards::notice(
            "Planning the deployment…",
            &format!("Running What-If for {} in both regions as {}.", target_words(&target), actor.display_name()),
        );
        let bot = self.clone();
        let audience = Audience::of(activity);
        Answer::Later {
            now: placeholder,
            then: Box::pin(async move {
                match bot.make_deploy_plan(&request, target).await {
                    Ok((plan_id, stored)) => {
                        let needs_second = bot.services.config.access.deploy_needs_second_approver;
                        let mut card = deploy_cards::plan(&plan_id, &stored, needs_second, None);
                        if let Some(audience) = &audience {
                            let cid = &request.correlation_id;
                            bot.refresh_for_members(&mut card, audience, DEPLOY_VIEW_VERB, &plan_id, cid).await;
                        }
                        card
                    }
                    Err(error) => error.card("The What-If could not be made", &request.correlation_id),
                }
            }),
        }
    }

    async fn make_deploy_plan(
        &self,
        request: &PlanRequest,
        target: Target,
    ) -> Result<(String, StoredDeployPlan), TurnError> {
        let tokens: &DeployTokens = &request.tokens.clone().into();
        let settings = &self.services.config.deploy;
        let plan = engine::prepare(&self.arm_client(), tokens, settings, target.clone()).await?;
        let poll = PollOptions::new(self.deploy_poll_interval(), WHAT_IF_PATIENCE, CancellationToken::new());
        let what_if = engine::what_if(&self.arm_client(), tokens, &plan, &poll).await?;
        let stored = StoredDeployPlan {
            target,
            what_if,
            requested_by: request.requested_by.clone(),
            planned_ms: now_ms(),
            approvals: Vec::new(),
        };
        let id = self.save_plan(PlanKind::Deployment, request, &stored).await?;
        Ok((id, stored))
    }

    /// The plan card's Approve: the role again, the second approver when
    /// configured, then the deployment as one durable operation.
    pub(crate) async fn approve_deployment(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        data: &Value,
        correlation_id: &str,
    ) -> Answer {
        let Some(plan_id) = plan_id_of(data) else { return bad_plan_button() };
        if let Err(refusal) =
            self.require(actor, Role::Deploy, "approve a deployment", Some(plan_id), correlation_id).await
        {
            return Answer::Card(refusal);
        }
        let store = &self.services.store;
        let row = match self.plan_here(activity, plan_id, PlanKind::Deployment, correlation_id).await {
            Ok(row) => row,
            Err(answer) => return answer,
        };
        let mut stored: StoredDeployPlan = match serde_json::from_value(row.payload.clone()) {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(correlation_id, %error, "deployment plan unreadable");
                return Answer::Card(cards::error("The plan could not be read.", correlation_id));
            }
        };
        let label = stored.target.label();
        let me = Approver::of(actor);
        if self.services.config.access.deploy_needs_second_approver {
            if stored.approvals.iter().any(|a| a.same_person(&me)) {
                // The first approver again: nothing changes until someone else approves.
                return Answer::Card(deploy_cards::plan(plan_id, &stored, true, None));
            }
            if stored.approvals.is_empty() {
                stored.approvals.push(me);
                let payload = serde_json::to_value(&stored).unwrap_or(Value::Null);
                return match store.replace_plan_payload(plan_id, &row.payload, &payload).await {
                    Ok(true) => {
                        self.audit(actor, "approve a deployment", Some(&label), "first approval", correlation_id).await;
                        Answer::Card(deploy_cards::plan(plan_id, &stored, true, None))
                    }
                    Ok(false) => Answer::Card(cards::notice(
                        "The plan changed meanwhile",
                        "Someone approved it at the same moment. Click Approve again.",
                    )),
                    Err(error) => {
                        tracing::error!(correlation_id, %error, "approval not recorded");
                        Answer::Card(cards::error("The approval could not be recorded.", correlation_id))
                    }
                };
            }
        }
        stored.approvals.push(me);
        self.start_deployment(activity, actor, plan_id, stored, correlation_id).await
    }

    async fn start_deployment(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        plan_id: &str,
        stored: StoredDeployPlan,
        correlation_id: &str,
    ) -> Answer {
        let label = stored.target.label();
        let Some(acting_as) = ActingAs::in_turn(actor, activity) else {
            return Answer::Card(cards::error("This activity names no user.", correlation_id));
        };
        let expected = stored
            .what_if
            .regions
            .iter()
            .filter_map(|r| Some((r.role?, r.creates + r.modifies + r.no_change + r.other)))
            .collect();
        let job = DeploymentJob {
            plan_id: plan_id.to_string(),
            target: stored.target.clone(),
            acting_as,
            service_url: activity.service_url.clone().unwrap_or_default(),
            started_by: actor.display_name().to_string(),
            approved_by: stored.approvals.iter().map(|a| a.name.clone()).collect(),
            started_ms: now_ms(),
            correlation_id: correlation_id.to_string(),
            expected,
            checkpoint: None,
        };
        let start = Start {
            kind: Kind::Deployment,
            key: format!("deploy:{plan_id}"),
            job: &job,
            pair: None,
            audit: "run a deployment",
            target: Some(&label),
            already: |op| {
                cards::notice(
                    "Already deploying",
                    &format!("This plan is deploying as {}. Its card shows the progress.", op.id),
                )
            },
        };
        let op = match self.start_operation(start, actor, activity, correlation_id).await {
            Ok(op) => op,
            Err(answer) => return answer,
        };
        let card = deploy_cards::progress(&op.id, &job, &Default::default(), true);
        Answer::Card(card)
    }

    /// Cancel on a plan card (discard it) or a progress card (stop it).
    pub(crate) async fn cancel_deployment_from_card(
        self: &Arc<Self>,
        actor: &Actor,
        data: &Value,
        correlation_id: &str,
    ) -> Answer {
        match data["operation_id"].as_str() {
            Some(id) if id.len() <= 64 => Answer::Card(self.cancel_operation(actor, id, correlation_id).await),
            Some(_) => bad_plan_button(),
            None => Answer::Card(cards::notice("Plan discarded", "Nothing was deployed.")),
        }
    }

    /// `cancel ID` of a deployment: recorded for the runner (wherever it
    /// runs) and passed on to ARM in both regions at once, as the person.
    pub(crate) async fn cancel_deployment(
        &self,
        actor: &Actor,
        id: &str,
        payload: &Value,
        correlation_id: &str,
    ) -> Value {
        if let Err(refusal) = self.require(actor, Role::Deploy, "cancel a deployment", Some(id), correlation_id).await {
            return refusal;
        }
        match self.services.store.request_operation_cancel(id, now_ms()).await {
            Ok(true) => {}
            Ok(false) => return cards::notice("Nothing to cancel", &format!("{id} is not running.")),
            Err(error) => {
                tracing::error!(correlation_id, %error, "cancel not recorded");
                return cards::error("The cancel could not be recorded.", correlation_id);
            }
        }
        self.audit(actor, "cancel a deployment", Some(id), "requested", correlation_id).await;
        let target = serde_json::from_value::<DeploymentJob>(payload.clone()).map(|job| job.target);
        // The deterministic names are all a cancel needs; no template is read.
        let plan = target.ok().and_then(|target| {
            engine::plan(&self.services.config.deploy, target, Templates::inline(json!({"resources": []}))).ok()
        });
        if let (Some(plan), Ok(tokens)) = (plan, self.tokens_for(actor)) {
            let client = self.arm_client();
            let tokens: DeployTokens = tokens.into();
            let correlation_id = correlation_id.to_string();
            self.background.spawn(async move {
                if let Err(error) = engine::cancel(&client, &tokens, &plan).await {
                    tracing::warn!(correlation_id, %error, "ARM cancel not accepted; the runner asks again");
                }
            });
        }
        cards::notice("Stopping", &format!("Azure is asked to cancel both deployments of {id}."))
    }

    pub(crate) fn arm_client(&self) -> ArmClient {
        ArmClient::new(crate::http_client::client(), &self.services.config.deploy.arm_url)
    }

    pub(crate) fn deploy_poll_interval(&self) -> Duration {
        Duration::from_millis(self.services.config.deploy.poll_interval_ms.max(10))
    }
}
