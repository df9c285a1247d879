//! The data a runbook loses, per table, known before anyone approves it.
//!
//! A planned failover, a failback and a drill lose nothing: their final sync
//! proves every table at the frozen version or the runbook stops. A forced
//! failover loses, per table, whatever the primary committed after the
//! table's replication point: the recorded moment up to which the secondary
//! is known to hold every primary commit (`src/store/table_versions.rs`).
//! That point is the last reading of the source when the reading found the
//! source at the replicated version (nothing newer existed then), and
//! otherwise the commit time of the replicated version itself. A table
//! never cloned has no point: its loss has no bound.

use serde::{Deserialize, Serialize};

use super::mode::Mode;
use crate::store::table_versions::TableVersion;

/// One table's expected loss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLoss {
    /// `catalog.schema.table`.
    pub table: String,
    pub loss: Loss,
}

/// How much of a table's history the runbook gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Loss {
    /// Nothing (proven by version at the final sync).
    None,
    /// Every primary commit after `since_ms`: `ms` = now − `since_ms`.
    Window { since_ms: i64, ms: i64 },
    /// The secondary never held a clone of the table.
    Unbounded,
}

impl Loss {
    /// The window in ms where it has a bound.
    pub fn ms(self) -> Option<i64> {
        match self {
            Loss::None => Some(0),
            Loss::Window { ms, .. } => Some(ms),
            Loss::Unbounded => None,
        }
    }
}

/// The moment up to which the secondary is known to hold every commit of
/// the table's source; `None` for a table never cloned.
pub fn replication_point_ms(row: &TableVersion) -> Option<i64> {
    let replicated = row.replicated?;
    let confirmed_at = match (row.source, row.read_ms) {
        (Some(source), Some(read_ms)) if source.version <= replicated.version => Some(read_ms),
        _ => None,
    };
    Some(confirmed_at.map_or(replicated.commit_ms, |read_ms| read_ms.max(replicated.commit_ms)))
}

/// The expected loss of each recorded table, by name, for `mode` run at `now_ms`.
pub fn expected(mode: Mode, rows: &[TableVersion], now_ms: i64) -> Vec<TableLoss> {
    let mut out: Vec<TableLoss> = rows
        .iter()
        .map(|row| TableLoss {
            table: row.table_name.clone(),
            loss: match mode {
                Mode::Planned | Mode::Failback | Mode::Drill => Loss::None,
                Mode::Forced => match replication_point_ms(row) {
                    Some(since_ms) => Loss::Window { since_ms, ms: now_ms.saturating_sub(since_ms).max(0) },
                    None => Loss::Unbounded,
                },
            },
        })
        .collect();
    out.sort_by(|a, b| a.table.cmp(&b.table));
    out
}

/// The current RPO from the recorded versions: the largest span of source
/// commits a secondary table lacks as of the last reading (0 when every
/// table is at its source's version). `None` with nothing recorded.
pub fn current_rpo_ms(rows: &[TableVersion]) -> Option<i64> {
    rows.iter()
        .filter_map(|row| match (row.replicated, row.source) {
            (Some(held), Some(source)) if source.version > held.version => {
                Some(source.commit_ms.saturating_sub(held.commit_ms).max(0))
            }
            (Some(_), _) => Some(0),
            (None, _) => None,
        })
        .max()
}

/// The largest bounded window and whether any table's loss is unbounded:
/// the one line a card leads with.
pub fn worst(losses: &[TableLoss]) -> (Option<&TableLoss>, bool) {
    let worst = losses.iter().filter(|l| l.loss.ms().is_some_and(|ms| ms > 0)).max_by_key(|l| l.loss.ms());
    (worst, losses.iter().any(|l| l.loss == Loss::Unbounded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::table_versions::Commit;

    fn row(
        name: &str,
        replicated: Option<(i64, i64)>,
        source: Option<(i64, i64)>,
        read_ms: Option<i64>,
    ) -> TableVersion {
        let commit = |(version, commit_ms): (i64, i64)| Commit { version, commit_ms };
        TableVersion {
            table_name: name.into(),
            replicated: replicated.map(commit),
            replicated_ms: replicated.map(|(_, ms)| ms + 5),
            source: source.map(commit),
            read_ms,
        }
    }

    #[test]
    fn a_planned_failover_a_failback_and_a_drill_lose_nothing() {
        let rows = [row("c.s.b", Some((3, 1_000)), Some((9, 5_000)), Some(6_000)), row("c.s.a", None, None, None)];
        for mode in [Mode::Planned, Mode::Failback, Mode::Drill] {
            let losses = expected(mode, &rows, 10_000);
            assert_eq!(losses.iter().map(|l| l.table.as_str()).collect::<Vec<_>>(), ["c.s.a", "c.s.b"]);
            assert!(losses.iter().all(|l| l.loss == Loss::None), "{mode:?}");
        }
    }

    #[test]
    fn a_forced_failover_loses_each_table_s_window_since_its_replication_point() {
        let rows = [
            // Behind: the source moved on after the clone; the point is the clone's commit.
            row("c.s.behind", Some((3, 1_000)), Some((9, 5_000)), Some(6_000)),
            // Caught up when read at 7,000: the secondary held everything until then.
            row("c.s.current", Some((4, 2_000)), Some((4, 2_000)), Some(7_000)),
            // Cloned, never read since.
            row("c.s.unread", Some((2, 3_000)), None, None),
            row("c.s.never", None, Some((1, 500)), Some(7_000)),
        ];
        let losses = expected(Mode::Forced, &rows, 10_000);
        let by_name = |name: &str| losses.iter().find(|l| l.table == name).unwrap().loss;
        assert_eq!(by_name("c.s.behind"), Loss::Window { since_ms: 1_000, ms: 9_000 });
        assert_eq!(by_name("c.s.current"), Loss::Window { since_ms: 7_000, ms: 3_000 });
        assert_eq!(by_name("c.s.unread"), Loss::Window { since_ms: 3_000, ms: 7_000 });
        assert_eq!(by_name("c.s.never"), Loss::Unbounded);
        let (worst_table, unbounded) = worst(&losses);
        assert_eq!(worst_table.unwrap().table, "c.s.behind");
        assert!(unbounded);
    }

    #[test]
    fn a_clock_behind_a_recorded_point_never_reports_a_negative_loss() {
        let losses = expected(Mode::Forced, &[row("c.s.t", Some((1, 9_000)), None, None)], 8_000);
        assert_eq!(losses[0].loss, Loss::Window { since_ms: 9_000, ms: 0 });
    }

    #[test]
    fn the_current_rpo_is_the_largest_span_a_secondary_table_lacks() {
        assert_eq!(current_rpo_ms(&[]), None);
        let rows = [
            row("a", Some((3, 1_000)), Some((9, 5_000)), Some(6_000)),
            row("b", Some((4, 2_000)), Some((4, 2_000)), Some(7_000)),
            row("c", None, Some((1, 500)), Some(7_000)),
        ];
        assert_eq!(current_rpo_ms(&rows), Some(4_000));
        assert_eq!(current_rpo_ms(&rows[1..]), Some(0));
    }
}
