//! `failover PAIR [--planned | --forced]`, `failback PAIR` and `drill PAIR`
//! from chat: the runbook as it would run (read with the person's identity:
//! the pair's readiness, its recorded table versions), a card with every
//! step, the loss per table and what blocks it, and Approve. A failover or
//! failback runs once `[access] failover_approvers` different people with
//! the failover role have approved it (two unless set); a drill, which
//! changes nothing for good, once one has. The approvals are one row per
//! person in the store, so a double click or a second instance counts once.
//! Asking again in the same conversation while a runbook awaits its
//! approvers shows that runbook (who approved it so far, Approve for who
//! has not) instead of planning a second one whose approvals would not add
//! up with the first's; Discard ends it.
//! The run is an operation ([`super::failover_run`]); `drills [PAIR]` lists
//! past drills.

use std::sync::Arc;

use serde_json::Value;

use super::actor::{ActingAs, Actor, DatabricksTokens};
use super::error::TurnError;
use super::failover_cards;
use super::failover_job::{RunbookJob, StoredRunbook};
use super::failover_services::oriented;
use super::operations::Start;
use super::plan_view::{own_view, Audience};
use super::plans::{bad_plan_button, plan_id_of, PlanRequest};
use super::{now_ms, Answer, Bot};
use crate::access::Role;
use crate::alerts::condition;
use crate::botframework::activity::Activity;
use crate::cards;
use crate::commands::Schedule;
use crate::failover::jobs::PriorStates;
use crate::failover::mode::Mode;
use crate::failover::progress::Progress;
use crate::failover::run::RunOptions;
use crate::failover::runbook;
use crate::pairs::{Pair, Side};
use crate::readiness::report::Reachability;
use crate::store::operations::Kind;
use crate::store::plans::PlanKind;

/// Verbs of the runbook card's buttons and its refresh.
pub(crate) const APPROVE_VERB: &str = "failover.approve";
pub(crate) const CANCEL_VERB: &str = "failover.cancel";
pub(crate) const VIEW_VERB: &str = "failover.view";

/// Why someone sees no Approve on a runbook.
const NOT_AN_APPROVER: &str = "Only people with the failover role can approve or discard this runbook.";

/// What someone who approved a runbook that awaits more approvers reads on it.
const YOU_APPROVED: &str = "You approved it: another person with the failover role must approve too.";

/// How many of a conversation's newest open runbooks are looked through for
/// the one a command asks for again.
const OPEN_RUNBOOKS_READ: i64 = 20;

/// A runbook asked for in chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunbookAsk {
    pub pair: Option<String>,
    pub mode: Mode,
    pub dry_run: bool,
    /// `--override`: approving it goes on despite blockers and an unproven sync.
    pub override_checks: bool,
}

impl Bot {
    /// How many different people must approve a runbook of `mode`.
    pub(super) fn approvals_needed(&self, mode: Mode) -> usize {
        match mode {
            Mode::Drill => 1,
            _ => self.services.config.access.failover_approvals_needed(),
        }
    }

    /// The command: the pair, the runbook read as the person, its card.
    pub(crate) async fn plan_runbook(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        ask: RunbookAsk,
        correlation_id: &str,
    ) -> Answer {
        let conversation = activity.conversation.as_ref().map(|c| c.id.clone());
        let pair = match self.choose_pair(conversation.as_deref(), ask.pair.as_deref()).await {
            Ok(pair) => pair,
            Err(error) => return Answer::Card(error.card(correlation_id)),
        };
        let mode = ask.mode;
        if mode.direction(pair.active).is_none() {
            let hint = match pair.active {
                Side::Primary => "It has not failed over: failover or drill apply.",
                Side::Secondary => "It has failed over already: failback or drill apply.",
            };
            return Answer::Card(cards::notice(
                &format!("A {} does not apply", mode.as_str()),
                &format!("Pair {} is active on the {} side. {hint}", pair.name, pair.active.as_str()),
            ));
        }
        let what = if ask.dry_run { "plan a runbook" } else { "ask for a runbook" };
        self.audit(actor, what, Some(&format!("{} {}", mode.as_str(), pair.name)), "allowed", correlation_id).await;
        if !ask.dry_run {
            if let Some(pending) = self.pending_runbook(activity, actor, &pair, &ask, correlation_id).await {
                return pending;
            }
        }
        let request = match self.plan_request(activity, actor, "The runbook could not be made", correlation_id).await {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        let Some(acting_as) = ActingAs::in_turn(actor, activity) else {
            return Answer::Card(cards::error("This activity names no user.", correlation_id));
        };
        let placeholder = cards::notice(
            &format!("Planning the {}…", mode.as_str()),
            &format!("Reading pair {}'s readiness and recorded versions as {}.", pair.name, actor.display_name()),
        );
        let bot = self.clone();
        let audience = Audience::of(activity);
        Answer::Later {
            now: placeholder,
            then: Box::pin(async move {
                let made = bot.make_runbook(&request, acting_as, &pair, &ask).await;
                match made {
                    Ok((plan_id, stored)) => {
                        let needed = bot.approvals_needed(mode);
                        let id = plan_id.as_deref().unwrap_or("dry-run");
                        if let Some(plan_id) = plan_id.as_ref().filter(|_| mode != Mode::Drill) {
                            let awaiting = format!(
                                "{} asks for a {} of pair {}: {needed} people with the failover role must approve",
                                stored.requested_by,
                                stored.runbook.mode.as_str(),
                                pair.name
                            );
                            bot.observe(vec![condition::approval(&pair.name, plan_id, Some(awaiting))]);
                        }
                        let mut card = failover_cards::runbook(id, &stored, &pair, &[], needed, None, ask.dry_run);
                        if let (Some(plan_id), Some(audience)) = (&plan_id, &audience) {
                            let cid = &request.correlation_id;
                            bot.refresh_for_members(&mut card, audience, VIEW_VERB, plan_id, cid).await;
                        }
                        card
                    }
                    Err(error) => error.card("The runbook could not be made", &request.correlation_id),
                }
            }),
        }
    }

    /// The runbook `ask` names that already awaits its approvers in this
    /// conversation (same pair, mode and override, planned from the side the
    /// pair is active on, unexpired, not started), as `actor` sees it: who
    /// approved it so far, and Approve unless they did. `None`: there is
    /// none (or the store could not say), so a new one is planned.
    async fn pending_runbook(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        pair: &Pair,
        ask: &RunbookAsk,
        correlation_id: &str,
    ) -> Option<Answer> {
        let conversation = activity.conversation.as_ref()?.id.as_str();
        let store = &self.services.store;
        let open = match store.open_plans(PlanKind::Runbook, conversation, now_ms(), OPEN_RUNBOOKS_READ).await {
            Ok(open) => open,
            Err(error) => {
                tracing::warn!(correlation_id, %error, "open runbooks unread: planning a new one");
                return None;
            }
        };
        let (plan_id, stored) = open.into_iter().find_map(|row| {
            let stored = serde_json::from_value::<StoredRunbook>(row.payload).ok()?;
            let runbook = &stored.runbook;
            let same = runbook.pair == pair.name
                && runbook.mode == ask.mode
                && runbook.direction.from == pair.active
                && stored.override_checks == ask.override_checks;
            same.then_some((row.id, stored))
        })?;
        let approvals = match store.runbook_approvals(&plan_id).await {
            Ok(approvals) => approvals,
            Err(error) => {
                tracing::error!(correlation_id, %error, "approvals unread");
                return Some(Answer::Card(cards::error("The approvals could not be read.", correlation_id)));
            }
        };
        let needed = self.approvals_needed(ask.mode);
        let note = approvals.iter().any(|a| a.approver_oid == actor.key()).then(|| YOU_APPROVED.to_string());
        let mut card = failover_cards::runbook(&plan_id, &stored, pair, &approvals, needed, note, false);
        if let Some(audience) = Audience::of(activity) {
            self.refresh_for_members(&mut card, &audience, VIEW_VERB, &plan_id, correlation_id).await;
        }
        Some(Answer::Card(card))
    }

    /// Plans the runbook from the recorded versions and what blocks it now;
    /// stores it unless it is a dry run (`None`: nothing to approve).
    async fn make_runbook(
        &self,
        request: &PlanRequest,
        acting_as: ActingAs,
        pair: &Pair,
        ask: &RunbookAsk,
    ) -> Result<(Option<String>, StoredRunbook), TurnError> {
        let planned = self.runbook_now(&request.tokens, pair, ask.mode, &request.correlation_id).await?;
        let stored = StoredRunbook {
            runbook: planned,
            requested_by: request.requested_by.clone(),
            acting_as,
            planned_ms: now_ms(),
            override_checks: ask.override_checks,
        };
        if ask.dry_run {
            return Ok((None, stored));
        }
        let id = self.save_plan(PlanKind::Runbook, request, &stored).await?;
        Ok((Some(id), stored))
    }

    /// `mode`'s runbook of `pair` as it stands, read with `tokens`: the
    /// recorded versions, what blocks it now, the `[failover]` settings and
    /// the pause states the asset sync recorded. Chat and the drill schedule
    /// both plan with it.
    pub(super) async fn runbook_now(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        mode: Mode,
        correlation_id: &str,
    ) -> Result<runbook::Runbook, TurnError> {
        if let (Some(group), Mode::Planned | Mode::Forced | Mode::Failback) = (&pair.failover_group, mode) {
            return self.managed_runbook_now(tokens, pair, group, mode).await;
        }
        let store = &self.services.store;
        let versions = store.table_versions(&pair.name).await?;
        let blockers = self.runbook_blockers(tokens, pair, mode, correlation_id).await;
        let settings = runbook::RunbookSettings::of_pair(&self.services.config.failover, &pair.name);
        let recorded = store.job_pause_states(&pair.name).await?;
        let recorded = (!recorded.is_empty()).then(|| PriorStates::from_recorded(&recorded));
        Ok(runbook::plan(pair, mode, &settings, &versions, &blockers, now_ms())?.with_recorded_jobs(recorded))
    }

    /// What stops the runbook at preflight: the pair's readiness blockers
    /// and the paths its copy could not use, as the person reads the pair in
    /// the direction the runbook replicates (a failback copies back: the
    /// primary must read the secondary's storage). A forced failover
    /// presumes the side it leaves is down: only the side it promotes must
    /// be reachable.
    async fn runbook_blockers(
        &self,
        tokens: &DatabricksTokens,
        pair: &Pair,
        mode: Mode,
        correlation_id: &str,
    ) -> Vec<String> {
        let Some(direction) = mode.direction(pair.active) else { return Vec::new() };
        let turned = oriented(pair, direction.from);
        let versions = self.services.store.table_versions(&turned.name).await.unwrap_or_default();
        let readiness = match self.readiness_of(tokens, &turned, versions, [None, None], correlation_id).await {
            Ok(readiness) => readiness,
            Err(problem) => return vec![format!("readiness not read: {problem}")],
        };
        // Read as the turned pair: its "secondary" is the side promoted.
        if mode == Mode::Forced {
            return match &readiness.secondary {
                Reachability::Unreachable { error } => {
                    vec![format!("the {} side is unreachable: {error}", direction.to.as_str())]
                }
                Reachability::Reachable { .. } => Vec::new(),
            };
        }
        let structural = readiness.blockers.iter().map(|b| format!("{}: {} (fix: {})", b.kind, b.problem, b.fix));
        let storage = readiness.storage_blockers.iter().map(|b| {
            format!(
                "storage on the {} side: {} ({} paths, e.g. {})",
                direction.to.as_str(),
                b.problem,
                b.paths,
                b.example
            )
        });
        structural.chain(storage).collect()
    }

    /// The refresh of a runbook card: Approve for who holds the failover
    /// role and has not approved it; for everyone else the runbook and why.
    pub(crate) async fn runbook_view(
        self: &Arc<Self>,
        activity: &Activity,
        data: &Value,
        anonymous: bool,
        correlation_id: &str,
    ) -> Answer {
        let (plan_id, stored, pair) = match self.stored_runbook(activity, data, correlation_id).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let approvals = match self.services.store.runbook_approvals(&plan_id).await {
            Ok(approvals) => approvals,
            Err(error) => {
                tracing::error!(correlation_id, %error, "approvals unread");
                return Answer::Card(cards::error("The approvals could not be read.", correlation_id));
            }
        };
        let note = match self.approver(activity, anonymous, Role::Failover, NOT_AN_APPROVER, correlation_id).await {
            Ok(None) => None,
            Ok(Some(actor)) => {
                approvals.iter().any(|a| a.approver_oid == actor.key()).then(|| YOU_APPROVED.to_string())
            }
            Err(note) => Some(note),
        };
        let needed = self.approvals_needed(stored.runbook.mode);
        let card = failover_cards::runbook(&plan_id, &stored, &pair, &approvals, needed, note, false);
        own_view(card, activity, VIEW_VERB, &plan_id)
    }

    /// Approve: the role again, this person's approval recorded once, and
    /// the run started by the approval that makes the count.
    pub(crate) async fn approve_runbook(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        data: &Value,
        correlation_id: &str,
    ) -> Answer {
        let Some(id) = plan_id_of(data) else { return bad_plan_button() };
        if let Err(refusal) = self.require(actor, Role::Failover, "approve a runbook", Some(id), correlation_id).await {
            return Answer::Card(refusal);
        }
        let (plan_id, stored, pair) = match self.stored_runbook(activity, data, correlation_id).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let label = format!("{} {}", stored.runbook.mode.as_str(), stored.runbook.pair);
        let store = &self.services.store;
        let approvals = match store.approve_runbook(&plan_id, actor.key(), Some(approver_name(actor)), now_ms()).await {
            Ok(approvals) => approvals,
            Err(error) => {
                tracing::error!(correlation_id, %error, "approval not recorded");
                return Answer::Card(cards::error("The approval could not be recorded.", correlation_id));
            }
        };
        let needed = self.approvals_needed(stored.runbook.mode);
        if approvals.len() < needed {
            self.audit(actor, "approve a runbook", Some(&label), "approval recorded", correlation_id).await;
            let note = YOU_APPROVED.to_string();
            let mut card = failover_cards::runbook(&plan_id, &stored, &pair, &approvals, needed, Some(note), false);
            if let Some(audience) = Audience::of(activity) {
                self.refresh_for_members(&mut card, &audience, VIEW_VERB, &plan_id, correlation_id).await;
            }
            return Answer::Card(card);
        }
        let job = RunbookJob {
            plan_id: plan_id.clone(),
            runbook: stored.runbook.clone(),
            options: RunOptions { override_checks: stored.override_checks },
            acting_as: stored.acting_as.clone(),
            service_url: activity.service_url.clone().unwrap_or_default(),
            approved_by: approvals.iter().map(|a| a.approver_upn.clone().unwrap_or(a.approver_oid.clone())).collect(),
            progress: Progress::new(now_ms()),
            scheduled: false,
        };
        let start = Start {
            kind: Kind::Failover,
            key: format!("runbook:{plan_id}"),
            job: &job,
            pair: Some(stored.runbook.pair.clone()),
            audit: "run a runbook",
            target: Some(&label),
            already: |op| {
                cards::notice(
                    "Already running",
                    &format!("This runbook runs as {}. Its card shows the progress.", op.id),
                )
            },
        };
        let op = match self.start_operation(start, actor, activity, correlation_id).await {
            Ok(op) => op,
            Err(answer) => return answer,
        };
        self.observe(vec![condition::approval(&pair.name, &plan_id, None)]);
        Answer::Card(failover_cards::run_card(&op, &job, None, None, Some(&pair)))
    }

    /// Discard on a runbook card (nothing ran), or Cancel on a running one
    /// (honoured between steps: a step is never left half done).
    pub(crate) async fn cancel_runbook_from_card(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        data: &Value,
        correlation_id: &str,
    ) -> Answer {
        match data["operation_id"].as_str() {
            Some(id) if id.len() <= 64 => Answer::Card(self.cancel_operation(actor, id, correlation_id).await),
            Some(_) => bad_plan_button(),
            None => self.discard_runbook(activity, actor, data, correlation_id).await,
        }
    }

    /// Discard: the runbook can no longer be approved (from any copy of its
    /// card) and is no longer what asking again shows. Only who may approve
    /// it may discard it; one already running is cancelled from its run card.
    async fn discard_runbook(
        self: &Arc<Self>,
        activity: &Activity,
        actor: &Actor,
        data: &Value,
        correlation_id: &str,
    ) -> Answer {
        let Some(id) = plan_id_of(data) else { return bad_plan_button() };
        if let Err(refusal) = self.require(actor, Role::Failover, "discard a runbook", Some(id), correlation_id).await {
            return Answer::Card(refusal);
        }
        let row = match self.plan_here(activity, id, PlanKind::Runbook, correlation_id).await {
            Ok(row) => row,
            Err(answer) => return answer,
        };
        match self.services.store.discard_plan(&row.id, now_ms()).await {
            Ok(true) => {
                self.audit(actor, "discard a runbook", Some(&row.id), "discarded", correlation_id).await;
                if let Ok(stored) = serde_json::from_value::<StoredRunbook>(row.payload) {
                    self.observe(vec![condition::approval(&stored.runbook.pair, &row.id, None)]);
                }
                Answer::Card(cards::notice(
                    "Runbook discarded",
                    "Nothing was changed, and it can no longer be approved. Ask again with failover, failback or drill.",
                ))
            }
            Ok(false) => Answer::Card(cards::notice(
                "This runbook is running",
                "Its approvals were complete: its card shows the progress, and Cancel there stops it between steps.",
            )),
            Err(error) => {
                tracing::error!(correlation_id, %error, "runbook not discarded");
                Answer::Card(cards::error("The runbook could not be discarded.", correlation_id))
            }
        }
    }

    /// `cancel ID` of a runbook: recorded for the runner (wherever it runs),
    /// which stops before its next step.
    pub(crate) async fn cancel_runbook(&self, actor: &Actor, id: &str, correlation_id: &str) -> Value {
        let stopping = format!("Runbook {id} stops before its next step; the step running ends first.");
        self.request_cancel(actor, id, Role::Failover, "cancel a runbook", &stopping, correlation_id).await
    }

    /// `subscribe drill PAIR weekly|monthly|off`: the pair's drills on a
    /// schedule, approved by the person setting it (`None`: stop them).
    pub(crate) async fn schedule_drills(
        &self,
        activity: &Activity,
        actor: &Actor,
        pair: &str,
        schedule: Option<Schedule>,
        correlation_id: &str,
    ) -> Value {
        let store = &self.services.store;
        let Some(conversation_id) = activity.conversation.as_ref().map(|c| c.id.clone()) else {
            return cards::error("This activity has no conversation.", correlation_id);
        };
        match store.pair(pair).await {
            Ok(Some(_)) => {}
            Ok(None) => return cards::notice("No such pair", &format!("There is no pair named {pair}.")),
            Err(error) => {
                tracing::error!(correlation_id, %error, "pair unread");
                return cards::error("The pair could not be read.", correlation_id);
            }
        }
        let Some(schedule) = schedule else {
            return match store.remove_drill_schedule(pair).await {
                Ok(removed) => {
                    self.audit(actor, "schedule drills", Some(pair), "stopped", correlation_id).await;
                    let text = if removed { "No more scheduled drills." } else { "It had no scheduled drills." };
                    cards::notice(&format!("Drills of pair {pair}"), text)
                }
                Err(error) => {
                    tracing::error!(correlation_id, %error, "drill schedule not removed");
                    cards::error("The drill schedule could not be removed.", correlation_id)
                }
            };
        };
        self.remember_conversation(activity, correlation_id).await;
        let approver = (Some(actor.key().to_string()), Some(approver_name(actor).to_string()));
        let set = store
            .set_drill_schedule(
                pair,
                &schedule,
                &conversation_id,
                (approver.0.as_deref(), approver.1.as_deref()),
                now_ms(),
            )
            .await;
        match set {
            Ok(set) => {
                self.audit(actor, "schedule drills", Some(pair), "scheduled", correlation_id).await;
                cards::notice(
                    &format!("Drills of pair {pair}: {}", super::subscriptions::schedule_label(&schedule)),
                    &format!(
                        "The first runs at {}, as drbot, approved by you. A drill that does not succeed is posted \
                         here; every one is listed by drills {pair}. Stop them with subscribe drill {pair} off.",
                        super::runs::worded_time(set.next_fire_ms)
                    ),
                )
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, "drill schedule not set");
                cards::error("The drill schedule could not be set.", correlation_id)
            }
        }
    }

    /// `drills [PAIR]`: past drills, newest first.
    pub(crate) async fn list_drills(&self, pair: Option<&str>, correlation_id: &str) -> Value {
        match self.services.store.drills(pair, 20).await {
            Ok(drills) => failover_cards::drills(pair, &drills),
            Err(error) => {
                tracing::error!(correlation_id, %error, "drills unread");
                cards::error("The drills could not be read.", correlation_id)
            }
        }
    }

    /// The stored runbook a button names, made in this conversation, and its pair now.
    async fn stored_runbook(
        &self,
        activity: &Activity,
        data: &Value,
        correlation_id: &str,
    ) -> Result<(String, StoredRunbook, Pair), Answer> {
        let Some(plan_id) = plan_id_of(data) else { return Err(bad_plan_button()) };
        let row = self.plan_here(activity, plan_id, PlanKind::Runbook, correlation_id).await?;
        let Ok(stored) = serde_json::from_value::<StoredRunbook>(row.payload) else {
            return Err(Answer::Card(cards::error("The runbook could not be read.", correlation_id)));
        };
        let pair = match self.services.store.pair(&stored.runbook.pair).await {
            Ok(Some(pair)) => pair,
            Ok(None) => {
                let text = format!("Pair {} is no longer registered.", stored.runbook.pair);
                return Err(Answer::Card(cards::notice("Nothing to approve", &text)));
            }
            Err(error) => {
                tracing::error!(correlation_id, %error, "pair unread");
                return Err(Answer::Card(cards::error("The pair could not be read.", correlation_id)));
            }
        };
        if pair.active != stored.runbook.direction.from {
            let text = format!(
                "Pair {} is active on the {} side now: this runbook was planned before that changed. Ask again.",
                pair.name,
                pair.active.as_str()
            );
            return Err(Answer::Card(cards::notice("The runbook is out of date", &text)));
        }
        Ok((plan_id.to_string(), stored, pair))
    }
}

/// How an approver is named on the runbook's cards and in its result: a
/// signed-in person's UPN, a Playground user's name (it sends no UPN).
fn approver_name(actor: &Actor) -> &str {
    match actor {
        Actor::Person(_) => actor.upn(),
        Actor::Local(_) => actor.display_name(),
    }
}
