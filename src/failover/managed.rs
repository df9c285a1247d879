//! The runbook of a pair whose replication Databricks' managed DR runs:
//! managed DR's failover of the group, then drbot's own steps that managed
//! DR does not take. Pure, like every runbook plan (`runbook.rs`).
//!
//! Managed DR fails over `FORCED` only: there is no zero-data-loss mode, so
//! the loss is one window for the whole group (managed DR keeps no
//! per-table record), from its replication point to now. The steps:
//!
//! 1. Preflight: the side promoted answers (the side left may not).
//! 2. Managed DR failover: what the side left runs is read first (its jobs'
//!    pause states, its running warehouses; best effort, it may be down),
//!    then the group is failed over and followed to ACTIVE or
//!    FAILOVER_FAILED. A failure stops the runbook here, before anything of
//!    drbot's has changed: jobs and warehouses stay as they were.
//! 3. Freeze (best effort): the side left's triggers paused, so it never
//!    writes beside the side that now serves.
//! 4. Storage (when configured): managed DR copies managed tables; the
//!    external storage account is the customer's.
//! 5. Promote: the warehouses that ran are started, exactly the jobs that
//!    were unpaused are unpaused, the pair's active side moves.
//! 6. Repoint (when aliases are configured or the group has stable URLs):
//!    the clients' private DNS records are pointed; managed DR's stable URLs
//!    follow the group by themselves, and are checked and named.
//! 7. Validate.
//!
//! A failback is the same runbook the other way (managed DR's failback is
//! a failover to the original region). A drill of a managed pair stays
//! drbot's own (`runbook.rs`): managed DR has no rehearsal.

use super::freeze::FreezeOptions;
use super::group::{GroupRead, ManagedPlan, StableUrl};
use super::loss::{Loss, TableLoss};
use super::mode::Mode;
use super::runbook::{self, Refusal, Runbook, RunbookSettings, Step, StepKind};
use crate::pairs::{Pair, Side};
use crate::readiness::text::instant;

/// Plans `mode` (a failover, forced whatever was asked, or a failback) of
/// `pair` over its failover group as read now, with the stable URLs linked
/// to it.
pub fn plan(
    pair: &Pair,
    mode: Mode,
    settings: &RunbookSettings,
    group: GroupRead,
    stable_urls: Vec<StableUrl>,
    now_ms: i64,
) -> Result<Runbook, Refusal> {
    // Managed DR has no planned mode: a failover is forced.
    let mode = if mode == Mode::Planned { Mode::Forced } else { mode };
    let direction = mode.direction(pair.active).filter(|_| mode != Mode::Drill).ok_or(Refusal::WrongSide {
        pair: pair.name.clone(),
        mode: mode.as_str(),
        active: pair.active.as_str(),
    })?;
    let region = |side: Side| match side {
        Side::Primary => pair.primary.region.clone(),
        Side::Secondary => pair.secondary.region.clone(),
    };
    let host = |side: Side| match side {
        Side::Primary => pair.primary.host(),
        Side::Secondary => pair.secondary.host(),
    };
    let (from, to) = (host(direction.from), host(direction.to));
    let target = region(direction.to).or_else(|| group.other_region().map(str::to_string));
    let mut blocked = Vec::new();
    if !matches!(group.state.as_str(), super::group::ACTIVE | super::group::FAILOVER_FAILED) {
        blocked.push(format!(
            "managed DR's failover group {} is {}: it fails over from ACTIVE only",
            group.id, group.state
        ));
    }
    if let Some(left) = region(direction.from).filter(|r| *r != group.primary_region) {
        blocked.push(format!(
            "managed DR serves group {} from {}, not from {left} where drbot has the pair active: it was failed \
             over outside drbot",
            group.id, group.primary_region
        ));
    }
    match &target {
        None => blocked.push(format!(
            "which region to fail group {} over to is unknown: set the {} workspace's region",
            group.id,
            direction.to.as_str()
        )),
        Some(target) if !group.regions.contains(target) => {
            blocked.push(format!("{target} is not a region of failover group {}", group.id))
        }
        Some(target) if *target == group.primary_region => {
            blocked.push(format!("managed DR serves group {} from {target} already", group.id))
        }
        Some(_) => {}
    }
    let target = target.unwrap_or_default();
    let short = settings.forced_timeout_ms;
    let step = |kind, touches: Vec<String>, best_effort, timeout_ms| Step { kind, touches, best_effort, timeout_ms };
    let mut steps = vec![
        step(StepKind::Preflight, vec![format!("reads {to}, and {from} if it answers")], false, None),
        step(
            StepKind::ManagedFailover,
            vec![
                format!("reads which jobs run and which warehouses are up on {from} (if it answers)"),
                format!(
                    "asks managed DR to fail group {} over to {target}, FORCED, only if the group is still as read \
                     (etag {})",
                    group.id, group.etag
                ),
                "follows it to ACTIVE, or stops at FAILOVER_FAILED with every job and warehouse as it was".into(),
            ],
            false,
            None,
        ),
        step(
            StepKind::Freeze,
            vec![format!("pauses every job trigger on {from}, so it never writes beside {to}")],
            true,
            Some(short),
        ),
    ];
    if let Some(account) = &settings.storage_account_id {
        steps.push(step(StepKind::Storage, vec![format!("fails over storage account {account}")], false, None));
    }
    steps.push(step(
        StepKind::Promote,
        vec![
            format!("starts the warehouses that were running on {from}, on {to}"),
            format!("unpauses on {to} exactly the jobs that were unpaused on {from}"),
            format!("makes {to} the active side of {}", pair.name),
        ],
        false,
        None,
    ));
    let mut repoint = runbook::repoint_step(settings, direction.to);
    if !stable_urls.is_empty() {
        let step = repoint.get_or_insert_with(|| step(StepKind::Repoint, Vec::new(), false, None));
        step.touches.extend(stable_urls.iter().map(|stable| {
            format!(
                "checks that managed DR's stable URL {} still follows group {}: clients that use it change nothing",
                stable.url, group.id
            )
        }));
    }
    steps.extend(repoint);
    steps.push(runbook::validate_step(settings, &to));
    let loss = TableLoss {
        table: format!("every table of failover group {}", group.id),
        loss: match group.replication_point_ms {
            Some(since_ms) => Loss::Window { since_ms, ms: now_ms.saturating_sub(since_ms).max(0) },
            None => Loss::Unbounded,
        },
    };
    Ok(Runbook {
        pair: pair.name.clone(),
        mode,
        direction,
        steps,
        loss: vec![loss],
        current_rpo_ms: group.replication_point_ms.map(|point| now_ms.saturating_sub(point).max(0)),
        blocked,
        storage_account_id: settings.storage_account_id.clone(),
        smoke_tables: settings.smoke_tables.clone(),
        aliases: settings.aliases.clone(),
        validate_job: settings.validate_job.clone(),
        validate_job_timeout_ms: settings.validate_job_timeout_ms,
        // The side left may be down: its freeze only pauses what it can, best effort.
        freeze: FreezeOptions::default(),
        run_wait_ms: short,
        recorded_jobs: None,
        managed: Some(ManagedPlan {
            group,
            target_region: target,
            record_timeout_ms: short,
            stable_urls,
            target_workspace_id: match direction.to {
                Side::Primary => pair.primary.workspace_id.clone(),
                Side::Secondary => pair.secondary.workspace_id.clone(),
            },
        }),
    })
}

impl Runbook {
    /// Whether the runbook gives up data: a forced failover, and any
    /// failover of managed DR (forced only).
    pub fn loses_data(&self) -> bool {
        self.mode == Mode::Forced || self.managed.is_some()
    }
}

/// The loss a managed runbook's card leads with, in managed DR's terms.
pub fn loss_words(plan: &ManagedPlan, summary: &str) -> String {
    match plan.group.replication_point_ms {
        Some(point) => format!(
            "{summary}: managed DR fails over FORCED only, so what was written after its replication point ({}) is \
             lost",
            instant(point)
        ),
        None => format!("{summary}: managed DR has replicated nothing yet, and fails over FORCED only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::group::ACTIVE;
    use crate::pairs::PairWorkspace;

    fn pair(active: Side) -> Pair {
        let mut pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        pair.active = active;
        pair.failover_group = Some("sales-dr".into());
        pair
    }

    fn group(primary: &str) -> GroupRead {
        GroupRead {
            id: "sales-dr".into(),
            state: ACTIVE.into(),
            primary_region: primary.into(),
            regions: vec!["westeurope".into(), "northeurope".into()],
            replication_point_ms: Some(60_000),
            etag: "3".into(),
        }
    }

    fn kinds(runbook: &Runbook) -> Vec<StepKind> {
        runbook.steps.iter().map(|s| s.kind).collect()
    }

    #[test]
    fn a_managed_failover_is_forced_fails_the_group_over_first_then_runs_drbot_s_steps() {
        let settings = RunbookSettings { forced_timeout_ms: 7_000, ..RunbookSettings::default() };
        let runbook =
            plan(&pair(Side::Primary), Mode::Planned, &settings, group("westeurope"), Vec::new(), 480_000).unwrap();
        use StepKind::*;
        assert_eq!(runbook.mode, Mode::Forced, "managed DR has no zero-loss mode");
        assert_eq!(kinds(&runbook), [Preflight, ManagedFailover, Freeze, Promote, Validate]);
        assert!(runbook.blocked.is_empty(), "{:?}", runbook.blocked);
        let freeze = &runbook.steps[2];
        assert!(freeze.best_effort && freeze.timeout_ms == Some(7_000));
        let managed = runbook.managed.as_ref().unwrap();
        assert_eq!((managed.target_region.as_str(), managed.group.etag.as_str()), ("northeurope", "3"));
        assert_eq!(runbook.loss[0].loss, Loss::Window { since_ms: 60_000, ms: 420_000 });
        assert_eq!(runbook.current_rpo_ms, Some(420_000));
        assert!(runbook.loses_data());
        assert!(runbook.steps[1].touches[1].contains("FORCED"), "{:?}", runbook.steps[1]);
    }

    #[test]
    fn the_group_s_stable_urls_are_a_repoint_step_even_without_aliases() {
        let stable = StableUrl {
            name: "accounts/acc/stable-urls/sales".into(),
            url: "https://spog.example/?w=1".into(),
            routes_to: "1".into(),
        };
        let runbook = plan(
            &pair(Side::Primary),
            Mode::Forced,
            &RunbookSettings::default(),
            group("westeurope"),
            vec![stable.clone()],
            0,
        )
        .unwrap();
        let repoint = runbook.steps.iter().find(|s| s.kind == StepKind::Repoint).expect("a repoint step");
        assert_eq!(repoint.touches.len(), 1);
        assert!(repoint.touches[0].contains("stable URL https://spog.example/?w=1 still follows group sales-dr"));
        assert_eq!(runbook.managed.unwrap().stable_urls, [stable]);
    }

    #[test]
    fn a_failback_goes_back_to_the_original_region() {
        let mut failed_over = pair(Side::Secondary);
        failed_over.primary.region = Some("westeurope".into());
        let runbook =
            plan(&failed_over, Mode::Failback, &RunbookSettings::default(), group("northeurope"), Vec::new(), 0)
                .unwrap();
        assert_eq!(runbook.managed.unwrap().target_region, "westeurope");
        assert_eq!(runbook.direction.to, Side::Primary);
        assert!(runbook.blocked.is_empty(), "{:?}", runbook.blocked);
    }

    #[test]
    fn a_group_not_where_drbot_has_the_pair_or_not_active_is_blocked() {
        let mut p = pair(Side::Primary);
        p.primary.region = Some("westeurope".into());
        let moved = plan(&p, Mode::Forced, &RunbookSettings::default(), group("northeurope"), Vec::new(), 0).unwrap();
        assert!(moved.blocked.iter().any(|b| b.contains("failed over outside drbot")), "{:?}", moved.blocked);
        let mut busy = group("westeurope");
        busy.state = "FAILING_OVER".into();
        let busy = plan(&p, Mode::Forced, &RunbookSettings::default(), busy, Vec::new(), 0).unwrap();
        assert!(busy.blocked.iter().any(|b| b.contains("is FAILING_OVER")), "{:?}", busy.blocked);
        assert!(plan(&p, Mode::Drill, &RunbookSettings::default(), group("westeurope"), Vec::new(), 0).is_err());
        assert!(
            plan(&pair(Side::Secondary), Mode::Forced, &RunbookSettings::default(), group("x"), Vec::new(), 0).is_err()
        );
    }
}
