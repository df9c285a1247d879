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
//!
//! A pair that has failed over does not replicate from its primary (the
//! primary is stale: copying it would overwrite what now serves). Its
//! firings are passed over until a failback brings it home, and the
//! conversation where the schedule was set is told once, when the first is
//! passed over (a claim in the store, released by the failback or by the
//! first firing that finds the pair home again, so a later failover tells
//! again); then the schedule goes on by itself.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::actor::ActingAs;
use super::replication_run::ReplicationJob;
use super::runs::SCHEDULED_BY;
use super::{now_ms, Bot};
use crate::botframework::activity::{Activity, ActivityType, Attachment};
use crate::cards;
use crate::scheduler::{Fired, Replicator};
use crate::store::audit::AuditEntry;
use crate::store::operations::{Kind, NewOperation};
use crate::store::replication_schedules::DueReplication;
use crate::store::StoreError;

/// The store's claim standing for "the schedule's conversation was told
/// this pair's replication is paused" (one a pair: a pair has one schedule).
pub(crate) fn paused_note_key(pair: &str) -> String {
    format!("replication-paused:{pair}")
}

/// How long that claim holds at most (a failover is not expected to last a year).
const PAUSED_NOTE_TTL_MS: i64 = 365 * 24 * 3600 * 1000;

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
            Ok(Some(pair)) => match pair.replicates_from_primary() {
                Err(failed_over) => return self.pass_over(due, &failed_over).await,
                Ok(()) => {
                    if let Err(error) = store.release_claim(&paused_note_key(&due.pair)).await {
                        tracing::warn!(pair = %due.pair, %error, "the paused schedule's note not released");
                    }
                }
            },
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

    /// A firing of a failed-over pair: nothing starts; the schedule's
    /// conversation hears it once per failover.
    async fn pass_over(&self, due: &DueReplication, failed_over: &crate::pairs::FailedOver) -> Fired {
        self.audit_schedule(due, "passed over: the pair has failed over").await;
        let store = &self.services.store;
        let first = store.claim_once(&paused_note_key(&due.pair), now_ms(), PAUSED_NOTE_TTL_MS).await;
        match first {
            Ok(true) => {
                let note = cards::notice(
                    &format!("Scheduled replication of pair {} paused", due.pair),
                    &format!(
                        "{failed_over}. Its scheduled cycles are passed over until then and resume by \
                         themselves after the failback; stop them with replicate {} every off.",
                        due.pair
                    ),
                );
                if let Err(why) = self.post_note(&due.conversation_id, note).await {
                    // Not told: the next firing tries to tell again.
                    let _ = store.release_claim(&paused_note_key(&due.pair)).await;
                    tracing::warn!(pair = %due.pair, %why, "the paused schedule's note was not posted");
                }
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(pair = %due.pair, %error, "the paused schedule's note not claimed"),
        }
        Fired::Paused(failed_over.to_string())
    }

    /// Posts `card` as a new message where a schedule was set.
    async fn post_note(&self, conversation_id: &str, card: Value) -> Result<(), String> {
        let reference = self.services.store.conversation(conversation_id).await.map_err(|e| e.to_string())?;
        let reference = reference.ok_or("drbot is no longer in the conversation")?;
        let mut message = Activity::new(ActivityType::Message);
        message.attachments.push(Attachment::adaptive_card(card));
        self.services
            .connector
            .send(&reference.service_url, &reference.conversation_id, &message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
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
