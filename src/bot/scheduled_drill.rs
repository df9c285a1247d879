//! A scheduled drill firing, started: the scheduler claimed it (once across
//! every instance); here it becomes a drill on the same operation kind as
//! one asked for in chat (`src/bot/failover_run.rs`), planned and run as
//! the bot, approved by the person who set the schedule. They must still
//! hold the failover role when it fires, or the drill is not started and
//! the schedule says why. Only a drill that did not succeed is posted, where
//! the schedule was set; every one is listed by `drills PAIR`.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::actor::{ActingAs, DatabricksTokens};
use super::failover_job::RunbookJob;
use super::{now_ms, Bot};
use crate::access::{Person, Role};
use crate::failover::mode::Mode;
use crate::failover::progress::Progress;
use crate::failover::run::RunOptions;
use crate::scheduler::{Driller, Fired};
use crate::store::audit::AuditEntry;
use crate::store::drill_schedules::DueDrill;
use crate::store::operations::{Kind, NewOperation};
use crate::store::StoreError;

/// The bot, as the scheduler's [`Driller`].
pub struct ScheduledDrills {
    bot: Arc<Bot>,
}

impl ScheduledDrills {
    pub fn new(bot: Arc<Bot>) -> ScheduledDrills {
        ScheduledDrills { bot }
    }
}

impl Driller for ScheduledDrills {
    fn fire<'a>(&'a self, due: &'a DueDrill) -> BoxFuture<'a, Fired> {
        Box::pin(async move {
            let fired = self.bot.fire_drill(due).await;
            let result = match &fired {
                Fired::Started(id) => format!("started {id}"),
                Fired::Skipped { busy, .. } => format!("skipped: {busy} of the pair was in flight"),
                Fired::Paused(why) | Fired::Failed(why) => format!("failed: {why}"),
            };
            self.bot.audit_drill_schedule(due, &result).await;
            fired
        })
    }
}

impl Bot {
    async fn fire_drill(self: &Arc<Self>, due: &DueDrill) -> Fired {
        let store = &self.services.store;
        let schedule = &due.schedule;
        let pair = match store.pair(&schedule.pair).await {
            Ok(Some(pair)) => pair,
            Ok(None) => {
                let _ = store.remove_drill_schedule(&schedule.pair).await;
                return Fired::Failed(format!(
                    "pair {} is no longer registered; its drills are unscheduled",
                    schedule.pair
                ));
            }
            Err(error) => return Fired::Failed(error.to_string()),
        };
        // The approver's role as given directly (groups need their sign-in).
        let approver = schedule.approver_oid.clone().unwrap_or_default();
        if !self.services.config.access.allows(&Person { oid: &approver, groups: &[] }, Role::Failover) {
            return Fired::Failed(format!(
                "{} who scheduled it no longer holds the failover role directly: schedule it again",
                schedule.approver_upn.as_deref().unwrap_or("the person")
            ));
        }
        let Some(app) = self.services.app.clone() else {
            return Fired::Failed("the bot has no identity of its own to drill with".into());
        };
        let id = due.key();
        let planned = match self.runbook_now(&DatabricksTokens::App(app), &pair, Mode::Drill, &id).await {
            Ok(planned) => planned,
            Err(error) => return Fired::Failed(error.to_string()),
        };
        let approved = store.approve_runbook(&id, &approver, schedule.approver_upn.as_deref(), now_ms()).await;
        if let Err(error) = approved {
            return Fired::Failed(error.to_string());
        }
        let service_url = match store.conversation(&schedule.conversation_id).await {
            Ok(reference) => reference.map(|r| r.service_url).unwrap_or_default(),
            Err(error) => return Fired::Failed(error.to_string()),
        };
        let job = RunbookJob {
            plan_id: id.clone(),
            runbook: planned,
            options: RunOptions::default(),
            acting_as: ActingAs::App,
            service_url,
            approved_by: vec![schedule.approver_upn.clone().unwrap_or(approver)],
            progress: Progress::new(now_ms()),
            scheduled: true,
        };
        let new = NewOperation {
            idempotency_key: id,
            kind: Kind::Failover,
            conversation_id: schedule.conversation_id.clone(),
            card_activity_id: None,
            started_by_oid: None,
            started_by_upn: None,
            pair: Some(pair.name.clone()),
            payload: serde_json::to_value(&job).unwrap_or(Value::Null),
        };
        match self.operations.start(&new).await {
            Ok((op, _)) => Fired::Started(op.id),
            Err(StoreError::PairBusy { operation, .. }) => {
                Fired::Failed(format!("{operation} of the pair was in flight; the next drill tries again"))
            }
            Err(error) => Fired::Failed(error.to_string()),
        }
    }

    /// The audit entry of a firing: drbot's own action, on the pair.
    async fn audit_drill_schedule(&self, due: &DueDrill, result: &str) {
        let entry = AuditEntry {
            id: uuid::Uuid::new_v4().to_string(),
            at_ms: now_ms(),
            actor_oid: None,
            actor_upn: None,
            action: "scheduled drill".into(),
            target: Some(due.schedule.pair.clone()),
            result: result.to_string(),
            correlation_id: None,
        };
        if let Err(error) = self.services.store.append_audit(&entry).await {
            tracing::error!(pair = %due.schedule.pair, %error, "audit entry not written");
        }
    }
}
