//! The managed-DR failover step: record what the side left runs, ask
//! managed DR to fail the group over (once, whatever crashes when), follow
//! it to its end. The decisions are `src/failover/group.rs`'s; this drives them
//! over the runner's services and checkpoints.

use super::{Failure, Journal, Services};
use crate::failover::group::{self, GroupAnswer, GroupRead, Next};
use crate::failover::jobs::{JobControl, PriorStates};
use crate::failover::progress::{Progress, StepOutcome};
use crate::failover::runbook::Runbook;
use crate::failover::warehouses::{self, WarehouseControl};
use crate::pairs::Side;

/// How long a group may stay FAILING_OVER before the runbook stops waiting
/// (managed DR documents no bound; the group goes on without drbot).
const FOLLOW_MS: i64 = 2 * 3600 * 1000;
/// Between two reads of a group failing over.
const POLL_MS: i64 = 2_000;

pub(super) async fn fail_over(
    services: &impl Services,
    journal: &mut impl Journal,
    runbook: &Runbook,
    progress: &mut Progress,
    findings: &mut Vec<String>,
) -> Result<StepOutcome, Failure> {
    let Some(plan) = &runbook.managed else {
        return Err(Failure::Step("the runbook names no managed-DR failover group".into()));
    };
    let mut state = progress.managed.clone().unwrap_or_default();
    if !state.recorded {
        record(services, runbook.direction.from, plan.record_timeout_ms, progress, findings).await;
        state.recorded = true;
        progress.managed = Some(state.clone());
        journal.save(progress).await?;
    }
    let now = services.group().await?;
    match group::next(plan, state.requested_etag.as_deref(), &now) {
        Next::Arrived if state.requested_etag.is_none() => return Ok(StepOutcome::AlreadyDone),
        Next::Arrived => return Ok(StepOutcome::Done),
        Next::Refuse(why) => return Err(Failure::Step(why)),
        Next::Follow => {}
        Next::Request(etag) => {
            // Saved before it is sent: a run resumed after this point never
            // sends a second request that could land (`group::next`).
            state.requested_etag = Some(etag.clone());
            progress.managed = Some(state);
            journal.save(progress).await?;
            match services.fail_group_over(&plan.target_region, &etag).await? {
                GroupAnswer::Started(_) => {}
                // A request whose answer was lost is sent again by the
                // client, and its first attempt may have landed: a group
                // failing over (or there) by then is followed, not refused.
                GroupAnswer::Stale(now) => match group::next(plan, Some(&etag), &now) {
                    Next::Follow | Next::Arrived => findings
                        .push(format!("group {} was failing over when drbot's request was answered: followed", now.id)),
                    _ => return Err(Failure::Step(group::stale(plan, &now))),
                },
            }
        }
    }
    let last = follow(services).await?;
    group::ended(plan, &last).map_err(Failure::Step)?;
    Ok(StepOutcome::Done)
}

/// What the side left runs, read before anything changes (what promotion
/// restores on the other side). Best effort within `timeout_ms`: the side
/// is presumed down; then the asset sync's record stands in, as in a forced
/// failover of drbot's own.
async fn record(
    services: &impl Services,
    side: Side,
    timeout_ms: i64,
    progress: &mut Progress,
    findings: &mut Vec<String>,
) {
    if progress.prior_jobs.is_some() {
        return;
    }
    let read = async {
        let jobs = services.jobs(side).jobs().await?;
        let running = warehouses::running_names(&services.warehouses(side).warehouses().await?);
        Ok::<_, crate::failover::jobs::ControlError>((jobs, running))
    };
    let budget = std::time::Duration::from_millis(timeout_ms.max(0) as u64);
    match tokio::time::timeout(budget, read).await {
        Ok(Ok((jobs, running))) => {
            progress.prior_jobs = Some(PriorStates::record(&jobs));
            progress.running_warehouses = Some(running);
        }
        Ok(Err(error)) => findings.push(format!(
            "the {} side's jobs and warehouses could not be read before the failover: {}",
            side.as_str(),
            error.message
        )),
        Err(_) => findings.push(format!(
            "the {} side's jobs and warehouses could not be read before the failover within {} ms",
            side.as_str(),
            timeout_ms
        )),
    }
}

/// Reads the group until it is no longer FAILING_OVER. A read that fails
/// transiently is tried again at the next poll (the group fails over
/// whether drbot watches or not); the deadline ends the wait.
async fn follow(services: &impl Services) -> Result<GroupRead, Failure> {
    let started = services.now_ms();
    loop {
        match services.group().await {
            Ok(now) if now.state != group::FAILING_OVER => return Ok(now),
            Ok(_) => {}
            Err(error) if error.transient => {
                tracing::warn!(error = %error.message, "the failover group could not be read; trying again");
            }
            Err(error) => return Err(error.into()),
        }
        if services.now_ms() - started > FOLLOW_MS {
            return Err(Failure::Step(format!(
                "the failover group was still FAILING_OVER after {} min: managed DR goes on without drbot; ask again \
                 once it has ended",
                FOLLOW_MS / 60_000
            )));
        }
        services.pause(POLL_MS).await;
    }
}

#[cfg(test)]
mod tests {
    //! The whole runner over a managed runbook, with a failover group kept
    //! in memory: killed at every checkpoint, a failover is asked for once;
    //! one that fails leaves every job as it was; a stale etag asks nothing.
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::super::{run, Ended, Halt, RunOptions};
    use super::*;
    use crate::failover::group::{ACTIVE, FAILING_OVER, FAILOVER_FAILED};
    use crate::failover::jobs::double::FakeJobs;
    use crate::failover::jobs::{ControlError, JobTriggers, Trigger};
    use crate::failover::managed;
    use crate::failover::mode::Mode;
    use crate::failover::runbook::{RunbookSettings, StepKind};
    use crate::failover::warehouses::{WarehouseInfo, WarehouseState};
    use crate::pairs::{Pair, PairWorkspace};

    #[derive(Default)]
    struct Warehouses {
        list: Mutex<Vec<WarehouseInfo>>,
        starts: AtomicUsize,
    }

    impl WarehouseControl for Warehouses {
        async fn warehouses(&self) -> Result<Vec<WarehouseInfo>, ControlError> {
            Ok(self.list.lock().unwrap().clone())
        }

        async fn start(&self, id: &str) -> Result<(), ControlError> {
            self.starts.fetch_add(1, Ordering::SeqCst);
            self.list.lock().unwrap().iter_mut().filter(|w| w.id == id).for_each(|w| w.state = WarehouseState::Running);
            Ok(())
        }

        async fn stop(&self, id: &str) -> Result<(), ControlError> {
            self.list.lock().unwrap().iter_mut().filter(|w| w.id == id).for_each(|w| w.state = WarehouseState::Stopped);
            Ok(())
        }
    }

    /// Two workspaces and a failover group that fails over in `reads_to_end` reads.
    struct World {
        jobs: [FakeJobs; 2],
        warehouses: [Warehouses; 2],
        group: Mutex<GroupRead>,
        /// The target and how many more reads it stays FAILING_OVER.
        pending: Mutex<Option<(String, usize)>>,
        fail: AtomicBool,
        requests: AtomicUsize,
        active: Mutex<Side>,
        clock: AtomicI64,
    }

    fn job(job_id: i64, source: Option<i64>, paused: bool) -> JobTriggers {
        JobTriggers {
            job_id,
            name: format!("job{job_id}"),
            source_job_id: source,
            paused: BTreeMap::from([(Trigger::Schedule, paused)]),
        }
    }

    fn warehouse(id: &str, name: &str, state: WarehouseState) -> WarehouseInfo {
        WarehouseInfo { id: id.into(), name: name.into(), state }
    }

    impl World {
        fn new() -> World {
            World {
                jobs: [
                    FakeJobs::with(vec![job(1, None, false), job(2, None, true), job(3, None, false)]),
                    // Managed DR keeps job ids across regions; paused on the secondary.
                    FakeJobs::with(vec![job(1, None, true), job(2, None, true), job(3, None, true)]),
                ],
                warehouses: [
                    Warehouses {
                        list: Mutex::new(vec![warehouse("p1", "bi", WarehouseState::Running)]),
                        ..Default::default()
                    },
                    Warehouses {
                        list: Mutex::new(vec![warehouse("s1", "bi", WarehouseState::Stopped)]),
                        ..Default::default()
                    },
                ],
                group: Mutex::new(GroupRead {
                    id: "sales-dr".into(),
                    state: ACTIVE.into(),
                    primary_region: "westeurope".into(),
                    regions: vec!["westeurope".into(), "northeurope".into()],
                    replication_point_ms: Some(900_000),
                    etag: "1".into(),
                }),
                pending: Mutex::new(None),
                fail: AtomicBool::new(false),
                requests: AtomicUsize::new(0),
                active: Mutex::new(Side::Primary),
                clock: AtomicI64::new(1_000_000),
            }
        }

        fn unpaused(&self, side: Side) -> Vec<i64> {
            let jobs = self.jobs[side as usize].jobs.lock().unwrap();
            jobs.iter().filter(|j| !j.unpaused().is_empty()).map(|j| j.job_id).collect()
        }

        fn bump(group: &mut GroupRead) {
            group.etag = (group.etag.parse::<u64>().unwrap() + 1).to_string();
        }
    }

    impl Services for World {
        type Jobs = FakeJobs;
        type Warehouses = Warehouses;

        fn jobs(&self, side: Side) -> &FakeJobs {
            &self.jobs[side as usize]
        }

        fn warehouses(&self, side: Side) -> &Warehouses {
            &self.warehouses[side as usize]
        }

        async fn reach(&self, _side: Side) -> Result<(), ControlError> {
            Ok(())
        }

        async fn sync(&self, _from: Side, _to: Side) -> Result<super::super::SyncProof, ControlError> {
            panic!("managed DR replicates: drbot never syncs a managed pair's failover");
        }

        async fn fail_storage_over(&self, _account_id: &str) -> Result<bool, ControlError> {
            Ok(false)
        }

        fn kept_warehouse(&self, _side: Side) -> Option<&str> {
            None
        }

        async fn catalog_grants(
            &self,
            _side: Side,
        ) -> Result<Vec<crate::failover::freeze::CatalogGrant>, ControlError> {
            panic!("a managed runbook's freeze revokes nothing");
        }

        async fn set_modify(&self, _: Side, _: &str, _: &[String], _: bool) -> Result<(), ControlError> {
            panic!("a managed runbook's freeze revokes nothing");
        }

        async fn point_alias(&self, _: &crate::failover::aliases::DnsAlias, _: Side) -> Result<bool, ControlError> {
            panic!("these runbooks have no aliases");
        }

        async fn set_active(&self, from: Side, to: Side) -> Result<(bool, Side), ControlError> {
            let mut active = self.active.lock().unwrap();
            let moved = *active == from;
            if moved {
                *active = to;
            }
            Ok((moved, *active))
        }

        async fn count(&self, _side: Side, _table: &str) -> Result<i64, ControlError> {
            Ok(1)
        }

        fn now_ms(&self) -> i64 {
            self.clock.load(Ordering::SeqCst)
        }

        async fn pause(&self, ms: i64) {
            self.clock.fetch_add(ms, Ordering::SeqCst);
        }

        async fn group(&self) -> Result<GroupRead, ControlError> {
            let mut group = self.group.lock().unwrap();
            let mut pending = self.pending.lock().unwrap();
            if let Some((target, left)) = pending.as_mut() {
                if *left == 0 {
                    if self.fail.load(Ordering::SeqCst) {
                        group.state = FAILOVER_FAILED.into();
                    } else {
                        group.state = ACTIVE.into();
                        group.primary_region = target.clone();
                    }
                    World::bump(&mut group);
                    *pending = None;
                } else {
                    *left -= 1;
                }
            }
            Ok(group.clone())
        }

        async fn fail_group_over(&self, target: &str, etag: &str) -> Result<GroupAnswer, ControlError> {
            let mut group = self.group.lock().unwrap();
            if group.etag != etag {
                return Ok(GroupAnswer::Stale(group.clone()));
            }
            self.requests.fetch_add(1, Ordering::SeqCst);
            group.state = FAILING_OVER.into();
            World::bump(&mut group);
            *self.pending.lock().unwrap() = Some((target.to_string(), 2));
            Ok(GroupAnswer::Started(group.clone()))
        }
    }

    #[derive(Default)]
    struct Memory {
        saved: Option<Progress>,
        saves: usize,
        kill_at: Option<usize>,
    }

    impl Journal for Memory {
        async fn save(&mut self, progress: &Progress) -> Result<(), Halt> {
            let n = self.saves;
            self.saves += 1;
            if self.kill_at == Some(n) {
                return Err(Halt);
            }
            self.saved = Some(progress.clone());
            Ok(())
        }

        async fn cancel_requested(&mut self) -> bool {
            false
        }
    }

    fn runbook(world: &World) -> Runbook {
        let mut pair =
            Pair::new("fin", PairWorkspace::at("https://adb-1.example"), PairWorkspace::at("https://adb-2.example"));
        pair.failover_group = Some("sales-dr".into());
        let group = world.group.lock().unwrap().clone();
        managed::plan(&pair, Mode::Forced, &RunbookSettings::default(), group, Vec::new(), 1_000_000).unwrap()
    }

    async fn run_from(
        world: &World,
        runbook: &Runbook,
        progress: &mut Progress,
        kill_at: Option<usize>,
    ) -> (Result<Ended, Halt>, Memory) {
        let mut journal = Memory { kill_at, ..Memory::default() };
        let ended = run(world, &mut journal, runbook, RunOptions::default(), progress).await;
        (ended, journal)
    }

    #[tokio::test]
    async fn a_managed_failover_unpauses_exactly_the_jobs_that_ran_and_starts_what_was_up() {
        let world = World::new();
        let runbook = runbook(&world);
        let (ended, _) = run_from(&world, &runbook, &mut Progress::new(1_000_000), None).await;
        let Ended::Completed { .. } = ended.unwrap() else { panic!("not completed") };
        assert_eq!(world.requests.load(Ordering::SeqCst), 1);
        assert_eq!(world.group.lock().unwrap().primary_region, "northeurope");
        assert_eq!(world.unpaused(Side::Secondary), [1, 3], "job 2 was paused on purpose");
        assert!(world.unpaused(Side::Primary).is_empty(), "the side left writes no more");
        assert_eq!(world.warehouses[1].list.lock().unwrap()[0].state, WarehouseState::Running);
        assert_eq!(*world.active.lock().unwrap(), Side::Secondary);
    }

    #[tokio::test]
    async fn a_failover_that_fails_stops_before_anything_of_drbot_s_changed() {
        let world = World::new();
        world.fail.store(true, Ordering::SeqCst);
        let runbook = runbook(&world);
        let (ended, _) = run_from(&world, &runbook, &mut Progress::new(1_000_000), None).await;
        let Ended::Stopped { step, why, .. } = ended.unwrap() else { panic!("not stopped") };
        assert_eq!(step, StepKind::ManagedFailover);
        assert!(why.contains("FAILOVER_FAILED"), "{why}");
        assert_eq!(world.unpaused(Side::Primary), [1, 3], "the primary's jobs as they were");
        assert!(world.unpaused(Side::Secondary).is_empty(), "the secondary's jobs as they were");
        assert_eq!(world.warehouses[1].starts.load(Ordering::SeqCst), 0);
        assert_eq!(*world.active.lock().unwrap(), Side::Primary);
    }

    #[tokio::test]
    async fn a_stale_etag_fails_nothing_over_and_says_what_changed() {
        let world = World::new();
        let runbook = runbook(&world);
        {
            let mut group = world.group.lock().unwrap();
            group.replication_point_ms = Some(960_000);
            World::bump(&mut group);
        }
        let (ended, _) = run_from(&world, &runbook, &mut Progress::new(1_000_000), None).await;
        let Ended::Stopped { step, why, .. } = ended.unwrap() else { panic!("not stopped") };
        assert_eq!(step, StepKind::ManagedFailover);
        assert!(why.starts_with("refused") && why.contains("replication point"), "{why}");
        assert_eq!(world.requests.load(Ordering::SeqCst), 0);
        assert_eq!(world.unpaused(Side::Primary), [1, 3]);
    }

    /// Killed at every checkpoint and resumed from the last one stored: the
    /// failover is asked for once, and the end state is an unbroken run's.
    #[tokio::test]
    async fn a_run_killed_at_any_checkpoint_asks_for_the_failover_once() {
        let reference = World::new();
        let (_, journal) = run_from(&reference, &runbook(&reference), &mut Progress::new(1_000_000), None).await;
        for kill_at in 0..journal.saves {
            let world = World::new();
            let runbook = runbook(&world);
            let mut progress = Progress::new(1_000_000);
            let (halted, first) = run_from(&world, &runbook, &mut progress, Some(kill_at)).await;
            assert_eq!(halted, Err(Halt), "killed at {kill_at}");
            let mut resumed = first.saved.unwrap_or_else(|| Progress::new(1_000_000));
            let (ended, _) = run_from(&world, &runbook, &mut resumed, None).await;
            assert!(matches!(ended, Ok(Ended::Completed { .. })), "killed at {kill_at}: {ended:?}");
            assert_eq!(world.requests.load(Ordering::SeqCst), 1, "killed at {kill_at}: one request");
            assert_eq!(world.unpaused(Side::Secondary), reference.unpaused(Side::Secondary), "killed at {kill_at}");
            assert_eq!(*world.active.lock().unwrap(), Side::Secondary);
        }
    }
}
