//! Recovery point objective, per Delta table: how much of the primary's
//! history a failover now would lose.
//!
//! A deep clone holds every primary commit made before it, and Unity Catalog
//! gives both tables' newest commit time (`DeltaState`). So a table's RPO is
//! zero when the primary has not committed after the clone did, and
//! otherwise the span of primary commits the clone lacks: the primary's last
//! commit minus the clone's. A table the secondary lacks was never
//! replicated: its RPO has no bound. Which tables are missing or stale comes
//! from `replication::diff`, so the RPO and the drift counts always agree.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::replication::diff::is_replicated_schema;
use crate::replication::snapshot::{Snapshot, TableInfo, TableKind};
use crate::replication::{Change, Drift, ReplicationConfig};

/// One table's lag behind the primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Rpo {
    /// The clone holds every primary commit.
    UpToDate,
    /// The primary committed `ms` after the clone's own last commit.
    Behind { ms: i64 },
    /// One side carries no commit time (a clone without one is treated as
    /// stale by the planner): the lag cannot be measured.
    Unknown,
    /// The secondary has no such table.
    NeverReplicated,
}

impl Rpo {
    /// The lag in milliseconds where there is one to measure.
    pub fn ms(self) -> Option<i64> {
        match self {
            Rpo::UpToDate => Some(0),
            Rpo::Behind { ms } => Some(ms),
            Rpo::Unknown | Rpo::NeverReplicated => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableRpo {
    /// `catalog.schema.table`.
    pub table: String,
    pub rpo: Rpo,
    /// The source's newest Delta version as measured (the last cycle's
    /// history reading when there is one), and the source version the
    /// secondary holds (the version its last clone recorded, when drbot
    /// recorded one): the versions the lag is measured between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_version: Option<i64>,
}

/// Red, amber, green: the colour the RPO gets on a card or in a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rag {
    Green,
    Amber,
    Red,
}

/// The worst measured lag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorstRpo {
    pub table: String,
    pub ms: i64,
}

/// The RPO of every replicated Delta table, in a few numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RpoSummary {
    /// The lag people accept (configuration), in ms.
    pub target_ms: i64,
    /// Delta tables in scope.
    pub tables: usize,
    pub up_to_date: usize,
    /// Behind at all (any lag > 0).
    pub behind: usize,
    /// Behind by more than the target.
    pub over_target: usize,
    pub unknown: usize,
    pub never_replicated: usize,
    /// The largest measured lag (never-replicated tables are counted apart).
    pub worst: Option<WorstRpo>,
    /// Nearest-rank percentiles over the measured lags (up-to-date tables count as 0).
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    /// Red: something was never replicated; amber: something is over the
    /// target or cannot be measured; green otherwise.
    pub status: Rag,
}

/// The RPO of each replicated Delta table of the primary, by name.
///
/// `drift` must be `diff(primary, secondary, config)`: a table it reports
/// missing was never replicated, one it reports stale is behind by the
/// commit times it carries. A table defined differently gets no staleness
/// from the diff (it will be recreated); its lag is measured here from the
/// two commit times.
pub fn table_rpos(
    primary: &Snapshot,
    secondary: &Snapshot,
    config: &ReplicationConfig,
    drift: &[Drift],
) -> Vec<TableRpo> {
    let mut missing = BTreeSet::new();
    let mut different = BTreeSet::new();
    let mut stale = BTreeMap::new();
    for entry in drift {
        match &entry.change {
            Change::Missing => {
                missing.insert(entry.object.full_name());
            }
            Change::Different(_) => {
                different.insert(entry.object.full_name());
            }
            Change::Stale { primary_commit_ms, secondary_commit_ms } => {
                stale.insert(entry.object.full_name(), (*primary_commit_ms, *secondary_commit_ms));
            }
            _ => {}
        }
    }
    primary
        .tables
        .values()
        .filter(|t| is_measured(t) && is_replicated_schema(primary, secondary, config, &t.catalog, &t.schema))
        .map(|table| {
            let name = table.full_name();
            let rpo = if missing.contains(&name) {
                Rpo::NeverReplicated
            } else if let Some(&(primary_ms, secondary_ms)) = stale.get(&name) {
                match secondary_ms {
                    Some(secondary_ms) => behind(primary_ms, secondary_ms),
                    None => Rpo::Unknown,
                }
            } else if different.contains(&name) {
                let other = secondary.tables.get(&name).and_then(|t| t.delta);
                match (table.delta, other) {
                    (Some(p), Some(s)) => behind(p.last_commit_ms, s.last_commit_ms),
                    _ => Rpo::Unknown,
                }
            } else if table.delta.is_none() {
                Rpo::Unknown
            } else {
                // In both, same definition, not stale: the clone has it all.
                Rpo::UpToDate
            };
            let held = secondary.tables.get(&name).and_then(|t| t.delta).map(|d| d.version);
            TableRpo { source_version: table.delta.map(|d| d.version), held_version: held, table: name, rpo }
        })
        .collect()
}

/// Delta tables with data of their own (views have none to lose).
fn is_measured(table: &TableInfo) -> bool {
    table.is_delta() && matches!(table.kind, TableKind::Managed | TableKind::External)
}

fn behind(primary_ms: i64, secondary_ms: i64) -> Rpo {
    match primary_ms.saturating_sub(secondary_ms) {
        ms if ms > 0 => Rpo::Behind { ms },
        _ => Rpo::UpToDate,
    }
}

/// Sums `rpos` up against `target_ms`.
pub fn summarise(rpos: &[TableRpo], target_ms: i64) -> RpoSummary {
    let mut summary = RpoSummary {
        target_ms,
        tables: rpos.len(),
        up_to_date: 0,
        behind: 0,
        over_target: 0,
        unknown: 0,
        never_replicated: 0,
        worst: None,
        p50_ms: None,
        p95_ms: None,
        status: Rag::Green,
    };
    let mut measured = Vec::with_capacity(rpos.len());
    for entry in rpos {
        match entry.rpo {
            Rpo::UpToDate => summary.up_to_date += 1,
            Rpo::Behind { ms } => {
                summary.behind += 1;
                if ms > target_ms {
                    summary.over_target += 1;
                }
                // Ties go to the first by name, so the report is stable.
                if summary.worst.as_ref().is_none_or(|w| ms > w.ms) {
                    summary.worst = Some(WorstRpo { table: entry.table.clone(), ms });
                }
            }
            Rpo::Unknown => summary.unknown += 1,
            Rpo::NeverReplicated => summary.never_replicated += 1,
        }
        if let Some(ms) = entry.rpo.ms() {
            measured.push(ms);
        }
    }
    measured.sort_unstable();
    summary.p50_ms = percentile(&measured, 50);
    summary.p95_ms = percentile(&measured, 95);
    summary.status = if summary.never_replicated > 0 {
        Rag::Red
    } else if summary.over_target > 0 || summary.unknown > 0 {
        Rag::Amber
    } else {
        Rag::Green
    };
    summary
}

/// The nearest-rank percentile of sorted values: the smallest value with at
/// least `p`% of the values at or below it.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::diff;
    use crate::replication::fixtures::*;
    use crate::replication::snapshot::{CatalogKind, DeltaState};

    const HOUR: i64 = 3_600_000;

    fn world() -> (Snapshot, Snapshot) {
        let primary = empty(PRIMARY_ID)
            .with_catalog(catalog("main", CatalogKind::Managed))
            .with_schema(schema("main", "sales"))
            .with_table(managed("main.sales.current", 100 * HOUR))
            .with_table(managed("main.sales.lagging", 100 * HOUR))
            .with_table(external_delta("main.sales.far", 100 * HOUR))
            .with_table(managed("main.sales.gone", 100 * HOUR))
            .with_table(managed("main.sales.blind", 100 * HOUR))
            .with_table(external("main.sales.csv", "CSV"))
            .with_table(view("main.sales.v", &["main.sales.current"]));
        let mut secondary = empty(SECONDARY_ID)
            .with_catalog(replica_of_catalog(&primary.catalogs["main"]))
            .with_schema(schema("main", "sales"));
        for name in ["current", "lagging", "far", "blind", "csv", "v"] {
            secondary = secondary.with_table(replica_of(&primary.tables[&format!("main.sales.{name}")]));
        }
        let set = |s: &mut Snapshot, name: &str, delta: Option<DeltaState>| {
            s.tables.get_mut(&format!("main.sales.{name}")).unwrap().delta = delta;
        };
        // Cloned after the primary's last commit: up to date.
        set(&mut secondary, "current", Some(DeltaState { version: 1, last_commit_ms: 101 * HOUR }));
        set(&mut secondary, "lagging", Some(DeltaState { version: 1, last_commit_ms: 97 * HOUR }));
        set(&mut secondary, "far", Some(DeltaState { version: 1, last_commit_ms: 70 * HOUR }));
        set(&mut secondary, "blind", None);
        (primary, secondary)
    }

    fn rpos(primary: &Snapshot, secondary: &Snapshot) -> BTreeMap<String, Rpo> {
        let config = config();
        let drift = diff(primary, secondary, &config);
        table_rpos(primary, secondary, &config, &drift).into_iter().map(|t| (t.table, t.rpo)).collect()
    }

    #[test]
    fn each_delta_table_gets_its_lag_and_views_and_csv_none() {
        let (primary, secondary) = world();
        let rpos = rpos(&primary, &secondary);
        let expected: BTreeMap<String, Rpo> = [
            ("blind", Rpo::Unknown),
            ("current", Rpo::UpToDate),
            ("far", Rpo::Behind { ms: 30 * HOUR }),
            ("gone", Rpo::NeverReplicated),
            ("lagging", Rpo::Behind { ms: 3 * HOUR }),
        ]
        .into_iter()
        .map(|(n, r)| (format!("main.sales.{n}"), r))
        .collect();
        assert_eq!(rpos, expected);
    }

    #[test]
    fn the_summary_counts_percentiles_worst_and_colour() {
        let (primary, secondary) = world();
        let config = config();
        let drift = diff(&primary, &secondary, &config);
        let summary = summarise(&table_rpos(&primary, &secondary, &config, &drift), 24 * HOUR);
        assert_eq!(summary.tables, 5);
        assert_eq!((summary.up_to_date, summary.behind, summary.over_target), (1, 2, 1));
        assert_eq!((summary.unknown, summary.never_replicated), (1, 1));
        assert_eq!(summary.worst, Some(WorstRpo { table: "main.sales.far".into(), ms: 30 * HOUR }));
        // Measured: 0, 3 h, 30 h.
        assert_eq!(summary.p50_ms, Some(3 * HOUR));
        assert_eq!(summary.p95_ms, Some(30 * HOUR));
        assert_eq!(summary.status, Rag::Red);
        // The stale count of the diff is the tables behind or unmeasurable on a present clone.
        let stale = drift.iter().filter(|d| matches!(d.change, Change::Stale { .. })).count();
        assert_eq!(stale, summary.behind + summary.unknown);
    }

    #[test]
    fn a_faithful_replica_is_green_with_zero_lag() {
        let (primary, mut secondary) = world();
        secondary.tables.insert("main.sales.gone".into(), replica_of(&primary.tables["main.sales.gone"]));
        for table in secondary.tables.values_mut().filter(|t| t.is_delta()) {
            table.delta = Some(DeltaState { version: 2, last_commit_ms: 100 * HOUR });
        }
        let config = config();
        let drift = diff(&primary, &secondary, &config);
        let summary = summarise(&table_rpos(&primary, &secondary, &config, &drift), 24 * HOUR);
        assert_eq!(summary.up_to_date, 5);
        assert_eq!((summary.behind, summary.unknown, summary.never_replicated), (0, 0, 0));
        assert_eq!((summary.p50_ms, summary.p95_ms, summary.worst), (Some(0), Some(0), None));
        assert_eq!(summary.status, Rag::Green);
    }

    #[test]
    fn amber_when_over_target_or_unmeasurable_and_empty_has_no_percentiles() {
        let entry = |table: &str, rpo| TableRpo { table: table.into(), rpo, source_version: None, held_version: None };
        let over = summarise(&[entry("a", Rpo::Behind { ms: 25 * HOUR }), entry("b", Rpo::UpToDate)], 24 * HOUR);
        assert_eq!((over.status, over.over_target), (Rag::Amber, 1));
        let within = summarise(&[entry("a", Rpo::Behind { ms: 23 * HOUR })], 24 * HOUR);
        assert_eq!((within.status, within.over_target, within.behind), (Rag::Green, 0, 1));
        assert_eq!(summarise(&[entry("a", Rpo::Unknown)], HOUR).status, Rag::Amber);
        let nothing = summarise(&[], HOUR);
        assert_eq!((nothing.p50_ms, nothing.p95_ms, nothing.status), (None, None, Rag::Green));
    }

    #[test]
    fn a_redefined_table_is_measured_from_the_commit_times() {
        let (primary, mut secondary) = world();
        let far = secondary.tables.get_mut("main.sales.far").unwrap();
        far.storage_location = Some("abfss://elsewhere@x.dfs.core.windows.net/far".into());
        let rpos = rpos(&primary, &secondary);
        assert_eq!(rpos["main.sales.far"], Rpo::Behind { ms: 30 * HOUR });
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
