//! What drbot learns about a pair as it works, kept and acted on: after
//! each replication run and each scheduled check, a reading of the pair's
//! readiness goes into its history (the dashboard's chart, `history PAIR`),
//! and the conditions it shows go to the alerter (a failed run, one that
//! could not run, objects a run left blocked, an RPO over the pair's threshold).

use serde_json::Value;

use super::{now_ms, Bot};
use crate::alerts::{condition, Condition};
use crate::pairs::Pair;
use crate::readiness::report::Readiness;
use crate::store::readiness_history::{Reading, ReadingSource};

impl Bot {
    /// A replication run of `pair` ended with `counts` (its recorded result).
    pub(crate) async fn run_ended(&self, pair: &str, run_id: &str, started_ms: i64, counts: &Value) {
        let at_ms = now_ms();
        let reading = Reading {
            pair: pair.to_string(),
            at_ms,
            source: ReadingSource::Run,
            worst_rpo_ms: None,
            drift: None,
            run_id: Some(run_id.to_string()),
            outcome: counts["outcome"].as_str().map(str::to_string),
            duration_ms: Some(at_ms.saturating_sub(started_ms)),
        };
        if let Err(error) = self.services.store.record_reading(&reading).await {
            tracing::warn!(pair, run = run_id, %error, "the run's reading was not recorded");
        }
        let mut observations = condition::replication_blocked(pair, run_id, counts);
        observations.extend(condition::replication_ended(pair, run_id, counts));
        self.observe(observations);
    }

    /// The result hook of a drill or a failover (the failover helper calls
    /// it when one ends): its reading in the pair's history (the data loss it
    /// measured as its RPO, how long it took as its RTO), and its condition
    /// to the alerter (a failure alerts, a success clears an earlier one).
    pub async fn failover_ended(&self, ended: &FailoverEnded) {
        let source = match ended.kind {
            Condition::Drill => ReadingSource::Drill,
            _ => ReadingSource::Failover,
        };
        let reading = Reading {
            pair: ended.pair.clone(),
            at_ms: now_ms(),
            source,
            worst_rpo_ms: ended.data_loss_ms,
            drift: None,
            run_id: Some(ended.operation_id.clone()),
            outcome: Some(if ended.succeeded { "succeeded" } else { "failed" }.to_string()),
            duration_ms: Some(ended.rto_ms),
        };
        if let Err(error) = self.services.store.record_reading(&reading).await {
            tracing::warn!(pair = %ended.pair, operation = %ended.operation_id, %error, "the {}'s reading was not recorded", ended.kind);
        }
        self.observe(vec![condition::operation_result(
            &ended.pair,
            ended.kind,
            &ended.operation_id,
            ended.succeeded,
            &ended.summary,
        )]);
    }

    /// A scheduled check read `pair`'s readiness as the bot.
    pub(crate) async fn checked(&self, pair: &Pair, readiness: &Readiness) {
        let worst_rpo_ms = readiness.rpo.as_ref().and_then(|rpo| rpo.worst.as_ref()).map(|worst| worst.ms);
        let reading = Reading {
            pair: pair.name.clone(),
            at_ms: readiness.assessed_ms,
            source: ReadingSource::Check,
            worst_rpo_ms,
            drift: readiness.drift.as_ref().map(|drift| drift.objects.total().total() as i64),
            run_id: None,
            outcome: None,
            duration_ms: None,
        };
        if let Err(error) = self.services.store.record_reading(&reading).await {
            tracing::warn!(pair = %pair.name, %error, "the check's reading was not recorded");
        }
        self.observe(condition::rpo_measured(&pair.name, worst_rpo_ms, pair.rpo_alert_minutes).into_iter().collect());
    }
}

/// How a drill or a failover of a pair ended, for [`Bot::failover_ended`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverEnded {
    pub pair: String,
    /// [`Condition::Drill`] or [`Condition::Failover`] (a failback is a failover).
    pub kind: Condition,
    pub operation_id: String,
    pub succeeded: bool,
    /// The data loss it measured (the RPO at the switch), when it could.
    pub data_loss_ms: Option<i64>,
    /// How long it took: its RTO.
    pub rto_ms: i64,
    /// What the alert says when it failed.
    pub summary: String,
}
