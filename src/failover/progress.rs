//! A runbook run's checkpoint: which steps are over and how, and what the
//! steps recorded that later ones need (the prior job states, the warehouses
//! that were up, what a drill started). The engine stores it after every
//! step, so a run taken over after a crash resumes at the first step not
//! over, and a step that already had its effect is not repeated.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::freeze::Revoked;
use super::group::GroupProgress;
use super::jobs::PriorStates;
use super::mode::Direction;
use super::runbook::{Runbook, Step, StepKind};
use crate::pairs::Side;

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    Done,
    /// Its check found the effect already there.
    AlreadyDone,
    /// A best-effort step that failed or timed out; the runbook went on.
    Failed {
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub kind: StepKind,
    #[serde(flatten)]
    pub outcome: StepOutcome,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// The checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// When the runbook was approved: where its RTO starts.
    pub approved_ms: i64,
    pub steps: Vec<StepRecord>,
    /// Recorded by the freeze before its first pause.
    #[serde(default)]
    pub prior_jobs: Option<PriorStates>,
    /// Names of the warehouses up on the side left, recorded by the freeze.
    #[serde(default)]
    pub running_warehouses: Option<BTreeSet<String>>,
    /// Ids a drill started (stopped again when it returns to passive).
    #[serde(default)]
    pub started_warehouses: BTreeSet<String>,
    /// Each table's version on the frozen side, as the final sync read it.
    #[serde(default)]
    pub frozen_versions: BTreeMap<String, i64>,
    /// MODIFY revoked by the freeze (recorded before the first revoke):
    /// what promotion grants back on the other side.
    #[serde(default)]
    pub revoked_modify: Option<Vec<Revoked>>,
    /// The validation job's run, once started: a resumed validation follows
    /// it rather than starting another.
    #[serde(default)]
    pub validate_run: Option<i64>,
    /// What the steps over so far found (each step's, added when it ends),
    /// for the result card whichever process ends the run.
    #[serde(default)]
    pub findings: Vec<String>,
    /// How far a managed-DR failover got (`src/failover/group.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<GroupProgress>,
}

impl Progress {
    pub fn new(approved_ms: i64) -> Progress {
        Progress { approved_ms, ..Progress::default() }
    }

    pub fn is_over(&self, kind: StepKind) -> bool {
        self.steps.iter().any(|s| s.kind == kind)
    }

    /// The first step of `runbook` not over yet; `None` when all are.
    pub fn next<'r>(&self, runbook: &'r Runbook) -> Option<&'r Step> {
        runbook.steps.iter().find(|step| !self.is_over(step.kind))
    }

    /// Records a step's end (a second record of the same step is ignored:
    /// a checkpoint written twice does not make it happen twice).
    pub fn finish(&mut self, kind: StepKind, outcome: StepOutcome, started_ms: i64, finished_ms: i64) {
        if !self.is_over(kind) {
            self.steps.push(StepRecord { kind, outcome, started_ms, finished_ms });
        }
    }

    /// Approval to the end of validation (or `now_ms` while it runs).
    pub fn rto_ms(&self, now_ms: i64) -> i64 {
        let end = self.steps.iter().find(|s| s.kind == StepKind::Validate).map_or(now_ms, |s| s.finished_ms);
        end.saturating_sub(self.approved_ms).max(0)
    }
}

/// A table whose target copy is not at the frozen version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lagging {
    pub table: String,
    pub frozen: i64,
    /// `None`: never replicated.
    pub held: Option<i64>,
}

/// The proof by version after a final sync: every frozen table's held
/// version equals its frozen one. What does not, by name.
pub fn prove(frozen: &BTreeMap<String, i64>, held: &BTreeMap<String, i64>) -> Vec<Lagging> {
    frozen
        .iter()
        .filter(|(table, version)| held.get(*table) != Some(version))
        .map(|(table, version)| Lagging { table: table.clone(), frozen: *version, held: held.get(table).copied() })
        .collect()
}

/// What a promotion's compare-and-set of the active side found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flip {
    /// This run moved it.
    Moved,
    /// It was already moved (by this run before a crash): nothing to do.
    AlreadyThere,
    /// Something else holds it on a side this run did not expect.
    Conflict { active: Side },
}

/// Reads a compare-and-set's result: `moved` as the store answered, and the
/// side the store holds afterwards.
pub fn flip(direction: Direction, moved: bool, active_now: Side) -> Flip {
    if moved {
        Flip::Moved
    } else if active_now == direction.ends_active {
        Flip::AlreadyThere
    } else {
        Flip::Conflict { active: active_now }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::mode::Mode;
    use crate::failover::runbook::{plan, RunbookSettings};
    use crate::pairs::{Pair, PairWorkspace};

    fn runbook() -> Runbook {
        let pair = Pair::new("p", PairWorkspace::at("https://a.example"), PairWorkspace::at("https://b.example"));
        plan(&pair, Mode::Planned, &RunbookSettings::default(), &[], &[], 0).unwrap()
    }

    #[test]
    fn a_resumed_run_starts_at_the_first_step_not_over_and_never_records_one_twice() {
        let runbook = runbook();
        let mut progress = Progress::new(1_000);
        assert_eq!(progress.next(&runbook).unwrap().kind, StepKind::Preflight);
        progress.finish(StepKind::Preflight, StepOutcome::Done, 1_000, 2_000);
        progress.finish(StepKind::Freeze, StepOutcome::Failed { why: "timeout".into() }, 2_000, 3_000);
        progress.finish(StepKind::Freeze, StepOutcome::Done, 3_000, 4_000);
        assert_eq!(progress.steps.len(), 2);
        let stored = serde_json::to_value(&progress).unwrap();
        let resumed: Progress = serde_json::from_value(stored).unwrap();
        assert_eq!(resumed.next(&runbook).unwrap().kind, StepKind::FinalSync);
        assert_eq!(resumed.rto_ms(10_000), 9_000);
    }

    #[test]
    fn the_rto_ends_when_validation_ends() {
        let mut progress = Progress::new(1_000);
        progress.finish(StepKind::Validate, StepOutcome::Done, 5_000, 6_500);
        assert_eq!(progress.rto_ms(99_000), 5_500);
    }

    #[test]
    fn the_proof_names_every_table_not_at_its_frozen_version() {
        let frozen: BTreeMap<String, i64> = [("a".into(), 3), ("b".into(), 5), ("c".into(), 1)].into();
        let held: BTreeMap<String, i64> = [("a".into(), 3), ("b".into(), 4)].into();
        assert_eq!(
            prove(&frozen, &held),
            [
                Lagging { table: "b".into(), frozen: 5, held: Some(4) },
                Lagging { table: "c".into(), frozen: 1, held: None }
            ]
        );
        assert!(prove(&frozen, &frozen).is_empty());
    }

    #[test]
    fn a_compare_and_set_that_lost_is_told_apart_from_one_already_done() {
        let d = Mode::Planned.direction(Side::Primary).unwrap();
        assert_eq!(flip(d, true, Side::Secondary), Flip::Moved);
        assert_eq!(flip(d, false, Side::Secondary), Flip::AlreadyThere);
        let back = Mode::Failback.direction(Side::Secondary).unwrap();
        assert_eq!(flip(back, false, Side::Secondary), Flip::Conflict { active: Side::Secondary });
    }
}
