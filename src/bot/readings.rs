//! What drbot learns about a pair as it works, kept and acted on: after
//! each replication run and each scheduled check, a reading of the pair's
//! readiness goes into its history (the dashboard's chart, `history PAIR`),
//! and the conditions it shows go to the alerter (a failed or blocked run,
//! an RPO over the pair's threshold).

use serde_json::Value;

use super::{now_ms, Bot};
use crate::alerts::condition;
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
        self.observe(condition::replication_ended(pair, run_id, counts).into_iter().collect());
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
