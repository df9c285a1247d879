//! `runs` and `run ID`: replication history from the store.

use serde_json::Value;

use super::Bot;
use crate::cards::views::{self, Tone};
use crate::cards::{self};
use crate::store::runs::{ResultStatus, Run};

/// Runs the history card lists (it shows the first 10).
const RECENT_RUNS: i64 = 20;
/// Results the run card reads (failures first; it shows the first 10).
const RUN_RESULTS: i64 = 200;

impl Bot {
    pub(crate) async fn runs_card(&self, correlation_id: &str) -> Value {
        let runs = match self.services.store.recent_runs(RECENT_RUNS).await {
            Ok(runs) => runs,
            Err(error) => {
                tracing::error!(correlation_id, %error, "run history unavailable");
                return cards::error("The run history could not be read.", correlation_id);
            }
        };
        let view = views::RunsView {
            subtitle: if runs.is_empty() {
                "No replication has run yet. Plan one with replicate.".into()
            } else {
                format!("The last {} runs, newest first", runs.len())
            },
            runs: runs
                .iter()
                .map(|run| {
                    let (label, color) = outcome(run);
                    views::RunSummary {
                        run_id: run.id.clone(),
                        catalog_label: catalog_label(run.catalog_filter.as_deref()),
                        started_at: worded_time(run.started_ms),
                        started_by: run.started_by_upn.clone().unwrap_or_else(|| "drbot".into()),
                        duration: run.finished_ms.map(|f| worded_duration(f - run.started_ms)).unwrap_or_default(),
                        counts_label: counts_label(run),
                        outcome_label: label,
                        outcome_color: color,
                    }
                })
                .collect(),
        };
        views::render_runs(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
    }

    pub(crate) async fn run_card(&self, id: &str, correlation_id: &str) -> Value {
        let (run, results) = match self.services.store.run_with_results(id, RUN_RESULTS).await {
            Ok(Some(found)) => found,
            Ok(None) => return cards::notice("No such run", &format!("drbot has no run with the id {id}.")),
            Err(error) => {
                tracing::error!(correlation_id, %error, "run unavailable");
                return cards::error("The run could not be read.", correlation_id);
            }
        };
        let counts = self.services.store.run_result_counts(id).await.unwrap_or_default();
        let mut kinds: std::collections::BTreeMap<String, views::KindResult> = Default::default();
        for result in &results {
            let kind = kinds.entry(result.action.clone()).or_insert_with(|| views::KindResult {
                kind: result.action.clone(),
                succeeded: 0,
                failed: 0,
                skipped: 0,
            });
            match result.status {
                ResultStatus::Succeeded => kind.succeeded += 1,
                ResultStatus::Failed => kind.failed += 1,
                ResultStatus::Skipped => kind.skipped += 1,
            }
        }
        let (label, color) = outcome(&run);
        let view = views::RunView {
            run_id: run.id.clone(),
            plan_id: run.counts.as_ref().and_then(|c| c["plan_id"].as_str()).unwrap_or_default().to_string(),
            catalog_label: catalog_label(run.catalog_filter.as_deref()),
            outcome_label: label,
            outcome_color: color,
            started_at: worded_time(run.started_ms),
            started_by: run.started_by_upn.clone().unwrap_or_else(|| "drbot".into()),
            finished_at: run.finished_ms.map(worded_time).unwrap_or_else(|| "still running".into()),
            duration: run.finished_ms.map(|f| worded_duration(f - run.started_ms)).unwrap_or_default(),
            succeeded: counts.succeeded as u64,
            failed: counts.failed as u64,
            skipped: counts.skipped as u64,
            kinds: kinds.into_values().collect(),
            failures: results
                .iter()
                .filter(|r| r.status == ResultStatus::Failed)
                .map(|r| views::Failure {
                    object: r.object_name.clone(),
                    action: r.action.clone(),
                    error: r.error.clone().unwrap_or_default(),
                })
                .collect(),
        };
        views::render_run(&view).unwrap_or_else(|error| cards::error(&error.to_string(), correlation_id))
    }
}

/// The outcome a finished run recorded in its counts, or "Running".
fn outcome(run: &Run) -> (String, Tone) {
    match run.counts.as_ref().and_then(|c| c["outcome"].as_str()) {
        None if run.finished_ms.is_none() => ("Running".into(), Tone::Accent),
        Some("succeeded") => ("Succeeded".into(), Tone::Good),
        Some("canceled") => ("Cancelled".into(), Tone::Warning),
        Some(_) | None => ("Finished with failures".into(), Tone::Attention),
    }
}

fn counts_label(run: &Run) -> String {
    let Some(counts) = &run.counts else { return "in progress".into() };
    let number = |key: &str| counts[key].as_u64().unwrap_or(0);
    let mut label = format!("{} ok", number("succeeded"));
    if number("failed") > 0 {
        label.push_str(&format!(" · {} failed", number("failed")));
    }
    if number("skipped") > 0 {
        label.push_str(&format!(" · {} skipped", number("skipped")));
    }
    label
}

pub(crate) fn catalog_label(catalog: Option<&str>) -> String {
    match catalog {
        Some(catalog) => format!("catalog {catalog}"),
        None => "all catalogs".into(),
    }
}

/// "24 Nov 2026 08:02 UTC".
pub(crate) fn worded_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%d %b %Y %H:%M UTC").to_string()).unwrap_or_default()
}

/// "4 min 12 s", "2 h 5 min", "850 ms".
pub(crate) fn worded_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let seconds = ms / 1000;
    match seconds {
        0 => format!("{ms} ms"),
        1..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_as_people_say_them() {
        assert_eq!(worded_duration(850), "850 ms");
        assert_eq!(worded_duration(12_000), "12 s");
        assert_eq!(worded_duration(252_000), "4 min 12 s");
        assert_eq!(worded_duration(7_500_000), "2 h 5 min");
        assert_eq!(worded_time(0), "01 Jan 1970 00:00 UTC");
    }
}
