//! `history PAIR`: what the pair's runs (and, once they exist, failovers
//! and drills) achieved, newest first, from its recorded readings. A run's
//! RPO is the worst lag the next check measured after it (a run records how
//! it ended, not the lag, which only a read of both metastores tells); its
//! time is how long it took. Pure: the chat card and the CLI both word it.

use crate::store::readiness_history::{Reading, ReadingSource};

/// One entry of a pair's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    /// What it was: `replication`, `failover` or `drill`.
    pub kind: &'static str,
    pub id: String,
    pub at_ms: i64,
    pub outcome: String,
    /// A run's: the worst RPO measured after it (before the next entry), when
    /// any was; a failover's or drill's: the data loss it measured.
    pub rpo_ms: Option<i64>,
    /// How long it took (a failover's: its RTO).
    pub duration_ms: Option<i64>,
}

/// The entries of `readings` (any order), newest first, at most `limit`.
pub fn items(readings: &[Reading], limit: usize) -> Vec<HistoryItem> {
    let mut sorted: Vec<&Reading> = readings.iter().collect();
    sorted.sort_by_key(|r| r.at_ms);
    let mut items: Vec<HistoryItem> = Vec::new();
    for (i, reading) in sorted.iter().enumerate() {
        let (kind, rpo_ms) = match reading.source {
            ReadingSource::Check => continue,
            // The first measurement after this run and before the next entry.
            ReadingSource::Run => (
                "replication",
                sorted[i + 1..]
                    .iter()
                    .take_while(|later| later.source == ReadingSource::Check)
                    .find_map(|later| later.worst_rpo_ms),
            ),
            // A failover measures its own data loss.
            ReadingSource::Failover => ("failover", reading.worst_rpo_ms),
            ReadingSource::Drill => ("drill", reading.worst_rpo_ms),
        };
        items.push(HistoryItem {
            kind,
            id: reading.run_id.clone().unwrap_or_default(),
            at_ms: reading.at_ms,
            outcome: reading.outcome.clone().unwrap_or_else(|| "unknown".into()),
            rpo_ms,
            duration_ms: reading.duration_ms,
        });
    }
    items.reverse();
    items.truncate(limit);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at_ms: i64, source: ReadingSource, rpo: Option<i64>, outcome: Option<&str>) -> Reading {
        Reading {
            pair: "p".into(),
            at_ms,
            source,
            worst_rpo_ms: rpo,
            drift: None,
            run_id: (source == ReadingSource::Run).then(|| format!("run-{at_ms}")),
            outcome: outcome.map(str::to_string),
            duration_ms: (source == ReadingSource::Run).then_some(60_000),
        }
    }

    #[test]
    fn runs_newest_first_with_the_rpo_measured_after_each() {
        let readings = [
            reading(40, ReadingSource::Check, Some(7), None),
            reading(10, ReadingSource::Run, None, Some("failed")),
            reading(20, ReadingSource::Check, None, None),
            reading(25, ReadingSource::Check, Some(90), None),
            reading(30, ReadingSource::Run, None, Some("succeeded")),
            reading(50, ReadingSource::Run, None, Some("succeeded")),
            reading(5, ReadingSource::Check, Some(1), None),
        ];
        let items = items(&readings, 10);
        let seen: Vec<(&str, Option<i64>, &str)> =
            items.iter().map(|i| (i.id.as_str(), i.rpo_ms, i.outcome.as_str())).collect();
        assert_eq!(
            seen,
            [("run-50", None, "succeeded"), ("run-30", Some(7), "succeeded"), ("run-10", Some(90), "failed")],
            "checks are not entries; a run's RPO is the next measurement before the next run"
        );
        assert_eq!(items[0].duration_ms, Some(60_000));
        assert_eq!(super::items(&readings, 1).len(), 1);
    }

    #[test]
    fn a_drill_is_an_entry_with_its_own_data_loss_and_rto() {
        let mut drill = reading(60, ReadingSource::Drill, Some(120_000), Some("succeeded"));
        drill.run_id = Some("drill-1".into());
        let items = items(
            &[
                reading(50, ReadingSource::Run, None, Some("succeeded")),
                drill,
                reading(70, ReadingSource::Check, Some(5), None),
            ],
            10,
        );
        assert_eq!((items[0].kind, items[0].rpo_ms, items[0].duration_ms), ("drill", Some(120_000), None));
        assert_eq!(
            (items[1].kind, items[1].rpo_ms),
            ("replication", None),
            "a drill ends what a run's RPO may be read from"
        );
    }
}
