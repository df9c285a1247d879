//! A runbook as a pure plan: the ordered steps a mode takes over a pair,
//! what each touches, the expected loss per table, the current RPO and what
//! blocks it. The card shows exactly this before anything changes, and the
//! engine runs exactly these steps.

use serde::{Deserialize, Serialize};

use super::aliases::DnsAlias;
use super::freeze::FreezeOptions;
use super::group::ManagedPlan;
use super::jobs::PriorStates;
use super::loss::{self, TableLoss};
use super::mode::{Direction, Mode};
use crate::pairs::{Pair, Side};
use crate::store::table_versions::TableVersion;

/// One step of a runbook. Each is idempotent and checks, before acting,
/// whether its effect is already there (a resumed run skips it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Both workspaces reachable; the target's readiness.
    Preflight,
    /// A managed-DR pair only: Databricks fails its failover group over
    /// (`src/failover/group.rs`), followed to ACTIVE or FAILOVER_FAILED.
    ManagedFailover,
    /// Failback only: replicate what changed while failed over back to the
    /// original side, before freezing anything.
    CatchUp,
    /// Pause every job trigger on the `from` side (recording the prior
    /// states first); wait for or cancel active runs.
    Freeze,
    /// An incremental replication, then proof by version.
    FinalSync,
    /// The geo-redundant external storage account's failover through ARM.
    Storage,
    /// Start warehouses, unpause exactly the jobs that were unpaused, move
    /// the active side (compare-and-set).
    Promote,
    /// Point the configured aliases (private DNS records) at the promoted side.
    Repoint,
    /// Smoke counts on the configured tables; the configured job run once.
    Validate,
    /// Drill only: the rehearsed side back to passive (warehouses stopped,
    /// jobs paused as before).
    ReturnToPassive,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Preflight => "preflight",
            StepKind::ManagedFailover => "managed_failover",
            StepKind::CatchUp => "catch_up",
            StepKind::Freeze => "freeze",
            StepKind::FinalSync => "final_sync",
            StepKind::Storage => "storage",
            StepKind::Promote => "promote",
            StepKind::Repoint => "repoint",
            StepKind::Validate => "validate",
            StepKind::ReturnToPassive => "return_to_passive",
        }
    }
}

/// One planned step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub kind: StepKind,
    /// What it changes or reads, in words for the card.
    pub touches: Vec<String>,
    /// A failure is recorded and the runbook goes on (a forced failover's
    /// freeze and final sync against a primary presumed down).
    pub best_effort: bool,
    /// How long the step may take before it is cut short (best effort) or
    /// stops the runbook; `None`: as long as the services take.
    pub timeout_ms: Option<i64>,
}

/// The knobs a runbook is planned with (from `[failover]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookSettings {
    /// How long a planned freeze waits for active runs before cancelling them.
    pub run_wait_ms: i64,
    /// A forced failover's short timeout for each best-effort step.
    pub forced_timeout_ms: i64,
    /// The geo-redundant storage account that fails over with the pair
    /// (its ARM id); `None`: the pair has none, the step is left out.
    pub storage_account_id: Option<String>,
    /// Tables whose row count is checked after promotion.
    pub smoke_tables: Vec<String>,
    /// The private DNS records the repoint step moves; empty: the step is left out.
    pub aliases: Vec<DnsAlias>,
    /// The job (by name) validation runs once on the promoted side.
    pub validate_job: Option<String>,
    /// How long that run may take.
    pub validate_job_timeout_ms: i64,
    /// What the freeze does beyond pausing jobs.
    pub freeze: FreezeOptions,
}

impl RunbookSettings {
    /// The settings `pair`'s runbooks are planned with, from `[failover]`.
    pub fn of_pair(config: &crate::config::FailoverConfig, pair: &str) -> RunbookSettings {
        RunbookSettings {
            run_wait_ms: (config.run_wait_secs as i64).saturating_mul(1000),
            forced_timeout_ms: (config.forced_timeout_secs as i64).saturating_mul(1000),
            storage_account_id: config.storage_accounts.get(pair).cloned(),
            smoke_tables: config.smoke_tables.get(pair).cloned().unwrap_or_default(),
            aliases: config.aliases.get(pair).cloned().unwrap_or_default(),
            validate_job: config.validate_jobs.get(pair).cloned(),
            validate_job_timeout_ms: (config.validate_job_timeout_secs as i64).saturating_mul(1000),
            freeze: config.freeze.get(pair).cloned().unwrap_or_default(),
        }
    }
}

impl Default for RunbookSettings {
    fn default() -> Self {
        RunbookSettings::of_pair(&crate::config::FailoverConfig::default(), "")
    }
}

/// Why a runbook cannot be planned at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("pair {pair} is active on the {active} side: a {mode} does not apply")]
    WrongSide { pair: String, mode: &'static str, active: &'static str },
}

/// The plan a card shows and the engine runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runbook {
    pub pair: String,
    pub mode: Mode,
    pub direction: Direction,
    pub steps: Vec<Step>,
    /// Expected loss per recorded table, by name.
    pub loss: Vec<TableLoss>,
    /// From the recorded versions; `None` with nothing recorded.
    pub current_rpo_ms: Option<i64>,
    /// What stops the runbook at preflight unless overridden (readiness
    /// blockers, tables never replicated before a planned move).
    pub blocked: Vec<String>,
    /// The storage account the storage step fails over.
    #[serde(default)]
    pub storage_account_id: Option<String>,
    /// The tables validation counts.
    #[serde(default)]
    pub smoke_tables: Vec<String>,
    /// The aliases the repoint step moves (none in a drill).
    #[serde(default)]
    pub aliases: Vec<DnsAlias>,
    /// The job validation runs once on the promoted side, and for how long at most.
    #[serde(default)]
    pub validate_job: Option<String>,
    #[serde(default)]
    pub validate_job_timeout_ms: i64,
    /// What the freeze does beyond pausing jobs (nothing in a drill, which freezes nothing).
    #[serde(default)]
    pub freeze: FreezeOptions,
    /// How long the freeze waits for active runs before cancelling them.
    #[serde(default)]
    pub run_wait_ms: i64,
    /// The original side's pause states as last recorded (by the asset
    /// sync, keyed by primary job): what a failback restores, and what a
    /// promotion falls back to when its own freeze could not read them (a
    /// forced failover with the primary down). Set by whoever plans with the
    /// store at hand ([`with_recorded_jobs`](Runbook::with_recorded_jobs)).
    #[serde(default)]
    pub recorded_jobs: Option<PriorStates>,
    /// A managed-DR pair's failover group, as its approvers saw it
    /// (`src/failover/managed.rs` plans such a runbook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedPlan>,
}

impl Runbook {
    pub fn with_recorded_jobs(mut self, recorded: Option<PriorStates>) -> Runbook {
        self.recorded_jobs = recorded;
        self
    }
}

/// Plans `mode` over `pair` as it stands, from its recorded table versions
/// and the blockers readiness found (`blockers`: one line each).
pub fn plan(
    pair: &Pair,
    mode: Mode,
    settings: &RunbookSettings,
    versions: &[TableVersion],
    blockers: &[String],
    now_ms: i64,
) -> Result<Runbook, Refusal> {
    let direction = mode.direction(pair.active).ok_or(Refusal::WrongSide {
        pair: pair.name.clone(),
        mode: mode.as_str(),
        active: pair.active.as_str(),
    })?;
    let steps = steps(pair, mode, direction, settings);
    let mut blocked: Vec<String> = blockers.to_vec();
    if mode != Mode::Forced {
        // A zero-loss move needs every table cloned once; a forced one
        // goes anyway (its card shows the unbounded loss).
        let never: Vec<&str> =
            versions.iter().filter(|v| v.replicated.is_none()).map(|v| v.table_name.as_str()).collect();
        if !never.is_empty() {
            blocked.push(format!("never replicated: {}", never.join(", ")));
        }
    }
    Ok(Runbook {
        pair: pair.name.clone(),
        mode,
        direction,
        steps,
        loss: loss::expected(mode, versions, now_ms),
        current_rpo_ms: loss::current_rpo_ms(versions),
        blocked,
        storage_account_id: if mode == Mode::Drill { None } else { settings.storage_account_id.clone() },
        smoke_tables: settings.smoke_tables.clone(),
        aliases: if mode == Mode::Drill { Vec::new() } else { settings.aliases.clone() },
        validate_job: settings.validate_job.clone(),
        validate_job_timeout_ms: settings.validate_job_timeout_ms,
        freeze: if mode == Mode::Drill { FreezeOptions::default() } else { settings.freeze.clone() },
        run_wait_ms: if mode == Mode::Forced { settings.forced_timeout_ms } else { settings.run_wait_ms },
        recorded_jobs: None,
        managed: None,
    })
}

fn steps(pair: &Pair, mode: Mode, d: Direction, settings: &RunbookSettings) -> Vec<Step> {
    let host = |side: Side| match side {
        Side::Primary => pair.primary.host(),
        Side::Secondary => pair.secondary.host(),
    };
    let (from, to) = (host(d.from), host(d.to));
    let forced = mode == Mode::Forced;
    let short = forced.then_some(settings.forced_timeout_ms);
    let step = |kind, touches: Vec<String>, best_effort, timeout_ms| Step { kind, touches, best_effort, timeout_ms };
    let mut out = vec![step(
        StepKind::Preflight,
        vec![format!("reads {from} and {to}: reachability, drift, RPO, warehouse")],
        false,
        None,
    )];
    if mode == Mode::Failback {
        out.push(step(
            StepKind::CatchUp,
            vec![format!("replicates what changed on {from} while failed over to {to}")],
            false,
            None,
        ));
    }
    if mode != Mode::Drill {
        let mut freeze = vec![
            format!("pauses every job trigger on {from} (prior states recorded first)"),
            format!(
                "waits {} for active runs on {from}, then cancels them",
                crate::readiness::report::duration(short.unwrap_or(settings.run_wait_ms))
            ),
        ];
        if settings.freeze.stop_warehouses {
            freeze.push(format!(
                "stops the warehouses running on {from} (drbot's own is kept for the final sync); {to} starts them"
            ));
        }
        if let Some(group) = &settings.freeze.revoke_modify_except {
            freeze.push(format!(
                "revokes MODIFY granted on the replicated catalogs of {from} from everyone but {group}, \
                 granted again on {to} at promotion (grants on schemas and tables, ALL PRIVILEGES and owners are left)"
            ));
        }
        out.push(step(StepKind::Freeze, freeze, forced, short));
    }
    out.push(step(
        StepKind::FinalSync,
        vec![format!("replicates {from} to {to} incrementally; every table's version checked")],
        forced,
        short,
    ));
    if mode != Mode::Drill {
        if let Some(account) = &settings.storage_account_id {
            out.push(step(StepKind::Storage, vec![format!("fails over storage account {account}")], false, None));
        }
    }
    let promote = if mode == Mode::Drill {
        vec![format!("starts the warehouses on {to} (no job unpaused)")]
    } else {
        let mut promote = vec![format!("starts the warehouses that were running on {from}, on {to}")];
        if settings.freeze.revoke_modify_except.is_some() {
            promote.push(format!("grants MODIFY on {to}'s catalogs to those it was revoked from on {from}"));
        }
        promote.push(format!("unpauses on {to} exactly the jobs that were unpaused on {from}"));
        promote.push(format!("makes {to} the active side of {}", pair.name));
        promote
    };
    out.push(step(StepKind::Promote, promote, false, None));
    if mode != Mode::Drill {
        out.extend(repoint_step(settings, d.to));
    }
    out.push(validate_step(settings, &to));
    if mode == Mode::Drill {
        out.push(step(
            StepKind::ReturnToPassive,
            vec![format!("stops the warehouses the drill started on {to}; {from} stays active")],
            false,
            None,
        ));
    }
    out
}

/// The repoint step, when the pair has aliases: each pointed at `to`'s value.
pub(super) fn repoint_step(settings: &RunbookSettings, to: Side) -> Option<Step> {
    (!settings.aliases.is_empty()).then(|| Step {
        kind: StepKind::Repoint,
        touches: settings.aliases.iter().map(|alias| alias.touches(to)).collect(),
        best_effort: false,
        timeout_ms: None,
    })
}

/// The validate step on the promoted side (`to_host`): the smoke counts,
/// and the configured job run once.
pub(super) fn validate_step(settings: &RunbookSettings, to_host: &str) -> Step {
    let mut touches = vec![if settings.smoke_tables.is_empty() {
        "no smoke tables configured".to_string()
    } else {
        format!("counts rows of {} on {to_host}", settings.smoke_tables.join(", "))
    }];
    if let Some(job) = &settings.validate_job {
        touches.push(format!(
            "runs job {job} once on {to_host} and waits up to {} for it to succeed",
            crate::readiness::report::duration(settings.validate_job_timeout_ms)
        ));
    }
    Step { kind: StepKind::Validate, touches, best_effort: false, timeout_ms: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::PairWorkspace;
    use crate::store::table_versions::Commit;

    fn pair(active: Side) -> Pair {
        let mut pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        pair.active = active;
        pair
    }

    fn kinds(runbook: &Runbook) -> Vec<StepKind> {
        runbook.steps.iter().map(|s| s.kind).collect()
    }

    fn versions() -> Vec<TableVersion> {
        vec![
            TableVersion {
                table_name: "c.s.t".into(),
                replicated: Some(Commit { version: 2, commit_ms: 1_000 }),
                replicated_ms: Some(1_100),
                source: Some(Commit { version: 3, commit_ms: 4_000 }),
                read_ms: Some(5_000),
            },
            TableVersion {
                table_name: "c.s.new".into(),
                replicated: None,
                replicated_ms: None,
                source: Some(Commit { version: 0, commit_ms: 4_500 }),
                read_ms: Some(5_000),
            },
        ]
    }

    #[test]
    fn a_planned_failover_freezes_syncs_fails_storage_over_promotes_and_validates() {
        let settings = RunbookSettings { storage_account_id: Some("/subs/x/sa".into()), ..RunbookSettings::default() };
        let runbook = plan(&pair(Side::Primary), Mode::Planned, &settings, &versions(), &[], 9_000).unwrap();
        use StepKind::*;
        assert_eq!(kinds(&runbook), [Preflight, Freeze, FinalSync, Storage, Promote, Validate]);
        assert!(runbook.steps.iter().all(|s| !s.best_effort));
        assert!(runbook.loss.iter().all(|l| l.loss == loss::Loss::None));
        assert_eq!(runbook.current_rpo_ms, Some(3_000));
        assert_eq!(runbook.blocked, ["never replicated: c.s.new"]);
        assert!(runbook.steps[4].touches.iter().any(|t| t.contains("exactly the jobs that were unpaused on adb-1")));
    }

    #[test]
    fn a_forced_failover_makes_freeze_and_sync_best_effort_and_shows_each_window() {
        let settings = RunbookSettings { forced_timeout_ms: 7_000, ..RunbookSettings::default() };
        let runbook = plan(&pair(Side::Primary), Mode::Forced, &settings, &versions(), &[], 9_000).unwrap();
        use StepKind::*;
        assert_eq!(kinds(&runbook), [Preflight, Freeze, FinalSync, Promote, Validate], "no storage account configured");
        for step in &runbook.steps {
            let short = matches!(step.kind, Freeze | FinalSync);
            assert_eq!(step.best_effort, short, "{:?}", step.kind);
            assert_eq!(step.timeout_ms, short.then_some(7_000), "{:?}", step.kind);
        }
        assert!(runbook.blocked.is_empty(), "a forced failover is not blocked by unreplicated tables");
        let t = runbook.loss.iter().find(|l| l.table == "c.s.t").unwrap();
        assert_eq!(t.loss, loss::Loss::Window { since_ms: 1_000, ms: 8_000 });
    }

    #[test]
    fn a_failback_catches_up_first_and_a_drill_touches_neither_writers_nor_storage() {
        let settings = RunbookSettings { storage_account_id: Some("/subs/x/sa".into()), ..RunbookSettings::default() };
        use StepKind::*;
        let back = plan(&pair(Side::Secondary), Mode::Failback, &settings, &[], &[], 0).unwrap();
        assert_eq!(kinds(&back), [Preflight, CatchUp, Freeze, FinalSync, Storage, Promote, Validate]);
        assert!(back.steps[2].touches[0].contains("on adb-2"), "a failback freezes the secondary");
        let drill = plan(&pair(Side::Primary), Mode::Drill, &settings, &[], &[], 0).unwrap();
        assert_eq!(kinds(&drill), [Preflight, FinalSync, Promote, Validate, ReturnToPassive]);
        assert_eq!(drill.direction.ends_active, Side::Primary);
    }

    #[test]
    fn configured_aliases_are_repointed_after_the_promotion_but_never_in_a_drill() {
        let alias = crate::failover::aliases::DnsAlias {
            zone: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/corp.example".into(),
            name: "databricks".into(),
            kind: crate::failover::aliases::RecordKind::Cname,
            primary: "adb-1.example".into(),
            secondary: "adb-2.example".into(),
            ttl: 60,
        };
        let settings = RunbookSettings { aliases: vec![alias], ..RunbookSettings::default() };
        use StepKind::*;
        let over = plan(&pair(Side::Primary), Mode::Planned, &settings, &[], &[], 0).unwrap();
        assert_eq!(kinds(&over), [Preflight, Freeze, FinalSync, Promote, Repoint, Validate]);
        assert_eq!(over.steps[4].touches, ["points databricks.corp.example (CNAME, TTL 60 s) at adb-2.example"]);
        let back = plan(&pair(Side::Secondary), Mode::Failback, &settings, &[], &[], 0).unwrap();
        assert!(back.steps.iter().any(|s| s.kind == Repoint && s.touches[0].ends_with("at adb-1.example")));
        let drill = plan(&pair(Side::Primary), Mode::Drill, &settings, &[], &[], 0).unwrap();
        assert!(!kinds(&drill).contains(&Repoint) && drill.aliases.is_empty());
    }

    #[test]
    fn the_freeze_s_options_are_on_the_card_undone_at_promotion_and_a_drill_has_none() {
        let freeze = FreezeOptions { stop_warehouses: true, revoke_modify_except: Some("dr-operators".into()) };
        let settings = RunbookSettings { freeze: freeze.clone(), ..RunbookSettings::default() };
        let over = plan(&pair(Side::Primary), Mode::Planned, &settings, &[], &[], 0).unwrap();
        let touches = |kind| over.steps.iter().find(|s| s.kind == kind).unwrap().touches.join(" | ");
        let frozen = touches(StepKind::Freeze);
        assert!(frozen.contains("stops the warehouses running on adb-1.example (drbot's own is kept"), "{frozen}");
        assert!(frozen.contains(
            "revokes MODIFY granted on the replicated catalogs of adb-1.example from everyone but dr-operators"
        ));
        assert!(frozen.contains("ALL PRIVILEGES and owners are left"), "{frozen}");
        assert!(touches(StepKind::Promote).contains("grants MODIFY on adb-2.example's catalogs"));
        assert_eq!(over.freeze, freeze);
        let drill = plan(&pair(Side::Primary), Mode::Drill, &settings, &[], &[], 0).unwrap();
        assert_eq!(drill.freeze, FreezeOptions::default(), "a drill freezes nothing");
    }

    #[test]
    fn a_runbook_for_the_wrong_side_is_refused_and_blockers_are_carried() {
        let refused = plan(&pair(Side::Secondary), Mode::Planned, &RunbookSettings::default(), &[], &[], 0);
        assert!(matches!(refused, Err(Refusal::WrongSide { .. })));
        let blockers = vec!["the secondary is unreachable".to_string()];
        let runbook = plan(&pair(Side::Primary), Mode::Forced, &RunbookSettings::default(), &[], &blockers, 0).unwrap();
        assert_eq!(runbook.blocked, blockers);
    }
}
