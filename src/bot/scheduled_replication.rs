//! A scheduled replication firing, started: the scheduler claimed it (once
//! across every instance); here it becomes a replication operation acting
//! as the bot, on the same engine and the same plan-then-run path as a
//! person's run (`src/bot/replication_run.rs`).
//!
//! A pair replicates once at a time: the operation's creation is refused
//! while another replication of the pair is in flight (the store's unique
//! index), and then the firing is recorded as a skipped run naming the one
//! that was running, visible in `runs`, never silently dropped. The next
//! firing tries again, whatever became of this one.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::actor::ActingAs;
use super::replication_run::ReplicationJob;
use super::runs::SCHEDULED_BY;
use super::{now_ms, Bot};
use crate::scheduler::{Fired, Replicator};
use crate::store::audit::AuditEntry;
use crate::store::operations::{Kind, NewOperation};
use crate::store::replication_schedules::DueReplication;
use crate::store::StoreError;

/// The bot, as the scheduler's [`Replicator`].
pub struct ScheduledReplications {
    bot: Arc<Bot>,
}

impl ScheduledReplications {
    pub fn new(bot: Arc<Bot>) -> ScheduledReplications {
        ScheduledReplications { bot }
    }
}

impl Replicator for ScheduledReplications {
    fn fire<'a>(&'a self, due: &'a DueReplication) -> BoxFuture<'a, Fired> {
        Box::pin(self.bot.fire_replication(due))
    }
}

impl Bot {
    async fn fire_replication(&self, due: &DueReplication) -> Fired {
        let store = &self.services.store;
        match store.pair(&due.pair).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                // The pair was removed: its schedule goes with it.
                let _ = store.remove_replication_schedule(&due.pair).await;
                self.audit_schedule(due, "failed: the pair is no longer registered; schedule removed").await;
                return Fired::Failed(format!("pair {} is no longer registered; its schedule is removed", due.pair));
            }
            Err(error) => return Fired::Failed(error.to_string()),
        }
        // A failed cycle is posted where the schedule was set (when drbot is still there).
        let service_url = match store.conversation(&due.conversation_id).await {
            Ok(reference) => reference.map(|r| r.service_url).unwrap_or_default(),
            Err(error) => return Fired::Failed(error.to_string()),
        };
        let job = ReplicationJob {
            plan_id: String::new(),
            catalog: None,
            acting_as: ActingAs::App,
            service_url,
            started_by: SCHEDULED_BY.into(),
            started_ms: now_ms(),
            pair: Some(due.pair.clone()),
            in_flight: Default::default(),
            scheduled: true,
            coverage: due.coverage,
        };
        let new = NewOperation {
            idempotency_key: due.key(),
            kind: Kind::Replication,
            conversation_id: due.conversation_id.clone(),
            card_activity_id: None,
            started_by_oid: None,
            started_by_upn: None,
            pair: Some(due.pair.clone()),
            payload: serde_json::to_value(&job).unwrap_or(Value::Null),
        };
        match self.operations.start(&new).await {
            Ok((op, _)) => {
                self.audit_schedule(due, &format!("started {}", op.id)).await;
                Fired::Started(op.id)
            }
            Err(StoreError::PairBusy { operation: busy, .. }) => {
                match store.record_skipped_firing(&new, &self.services.instance_id, &busy, now_ms()).await {
                    Ok(run) => {
                        self.audit_schedule(due, &format!("skipped: run {busy} of the pair was in flight")).await;
                        Fired::Skipped { run, busy }
                    }
                    Err(error) => Fired::Failed(format!("the skipped firing was not recorded: {error}")),
                }
            }
            Err(error) => Fired::Failed(error.to_string()),
        }
    }

    /// The audit entry of a firing: drbot's own action, on the pair.
    async fn audit_schedule(&self, due: &DueReplication, result: &str) {
        let entry = AuditEntry {
            id: uuid::Uuid::new_v4().to_string(),
            at_ms: now_ms(),
            actor_oid: None,
            actor_upn: None,
            action: "scheduled replication".into(),
            target: Some(due.pair.clone()),
            result: result.to_string(),
            correlation_id: None,
        };
        if let Err(error) = self.services.store.append_audit(&entry).await {
            tracing::error!(pair = %due.pair, %error, "audit entry not written");
        }
    }
}
