//! Reading both workspaces for a readiness report: the I/O around `assess`.
//!
//! Both sides are read at once (`tokio::join!`), each with the read's own
//! bound on requests in flight, so `status` takes about as long as the
//! slower metastore. Beside the read, each side is asked one cheap question
//! (who am I) with a short retry budget: its round trip is the latency shown,
//! and a workspace that is down or refuses the token is reported as
//! unreachable within seconds, its read dropped, instead of after the read's
//! five-minute retry budget. A read that fails is reported the same way. Nothing here returns an error: a broken
//! workspace is what readiness is there to show.

use std::time::Duration;

use tokio::time::Instant;

use super::blockers::WarehouseCheck;
use super::report::{assess_observed, AssessOptions, Observed, Readiness, Side};
use crate::databricks::{DatabricksError, RetryPolicy, WorkspaceClient};
use crate::identity::AccessToken;
use crate::replication::read::{read_snapshot, ReadOptions, SharedPermits};
use crate::replication::snapshot::{Skipped, SkippedPart, Snapshot};
use crate::replication::volume_survey::{survey_with, Lister, Manifest};
use crate::replication::ReplicationConfig;

/// One workspace and the token to read it with.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub client: &'a WorkspaceClient,
    pub token: &'a AccessToken,
}

/// What `check_with` reports while it works (for a progress line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The workspace answered; its metastore is being read.
    Reading { side: Side, latency_ms: u64 },
    /// The metastore was read.
    Read { side: Side, objects: usize, elapsed_ms: u64 },
    /// The workspace could not be reached or read.
    Unreachable { side: Side, error: String },
}

/// How long `status` lists managed volumes' files (both sides at once)
/// before it leaves them uncompared and says so: a large volume must not
/// hold the whole report.
pub const FILES_BUDGET: Duration = Duration::from_secs(5);

/// The probe's patience: a few quick tries, then the workspace counts as unreachable.
fn probe_policy() -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(10),
        max_attempts: 3,
        base_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(2),
    }
}

/// Reads both workspaces and assesses them with the default options.
pub async fn check(
    primary: &WorkspaceClient,
    secondary: &WorkspaceClient,
    primary_token: &AccessToken,
    secondary_token: &AccessToken,
    reads: &[ReadOptions; 2],
    config: &ReplicationConfig,
    now_ms: i64,
) -> Readiness {
    check_with(
        Target { client: primary, token: primary_token },
        Target { client: secondary, token: secondary_token },
        reads,
        config,
        now_ms,
        &AssessOptions::default(),
        &|_| {},
    )
    .await
}

/// Reads both workspaces at once and assesses them, telling `progress` as
/// each side is reached and read.
pub async fn check_with(
    primary: Target<'_>,
    secondary: Target<'_>,
    reads: &[ReadOptions; 2],
    config: &ReplicationConfig,
    now_ms: i64,
    options: &AssessOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Readiness {
    check_with_budgets(primary, secondary, reads, [None, None], config, now_ms, options, progress).await
}

/// As [`check_with`], each side's requests counted against a budget shared
/// with other checks of the same workspace (`[primary, secondary]`; `None`
/// is a budget of its own): the all-pairs overview, where pairs share hubs.
#[allow(clippy::too_many_arguments)]
pub async fn check_with_budgets(
    primary: Target<'_>,
    secondary: Target<'_>,
    reads: &[ReadOptions; 2],
    budgets: [Option<SharedPermits>; 2],
    config: &ReplicationConfig,
    now_ms: i64,
    options: &AssessOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Readiness {
    // Readiness compares definitions, never what a view reads: no view GETs.
    let [primary_budget, secondary_budget] = budgets;
    // The warehouse question counts against the secondary's budget too.
    let warehouse_budget = secondary_budget.clone();
    let [primary_read, secondary_read] = reads;
    let primary_read = ReadOptions { view_dependencies: false, shared_permits: primary_budget, ..primary_read.clone() };
    let secondary_read =
        ReadOptions { view_dependencies: false, shared_permits: secondary_budget, ..secondary_read.clone() };
    let (mut p, mut s) = tokio::join!(
        observe(Side::Primary, primary, &primary_read, progress),
        observe(Side::Secondary, secondary, &secondary_read, progress)
    );
    if let (Some(manifest), Observation::Read { snapshot: from, .. }, Observation::Read { snapshot: to, .. }) =
        (&options.volume_files, &mut p, &mut s)
    {
        let budgets = [primary_read.shared_permits.as_ref(), secondary_read.shared_permits.as_ref()];
        list_files(manifest, primary, secondary, primary_read.concurrency, budgets, from, to).await;
    }
    // The secondary's warehouse: the one a replication (and a failover) runs on.
    let warehouse = match (&s, secondary_read.warehouse_id.as_deref()) {
        _ if !options.judge_warehouse || options.warehouse != WarehouseCheck::Unknown => options.warehouse.clone(),
        (Observation::Unreachable { .. }, _) => WarehouseCheck::Unknown,
        (_, None) => WarehouseCheck::NotSet,
        // Asking for its state starts nothing.
        (_, Some(id)) => {
            let _permit = match &warehouse_budget {
                Some(budget) => budget.acquire().await,
                None => None,
            };
            match secondary.client.clone().with_retry(probe_policy()).warehouse_state(secondary.token, id).await {
                Ok(_) => WarehouseCheck::Present,
                Err(DatabricksError::NotFound(_)) => WarehouseCheck::Missing(id.to_string()),
                Err(_) => WarehouseCheck::Unknown,
            }
        }
    };
    let options = AssessOptions { warehouse, ..options.clone() };
    assess_observed(p.as_observed(), s.as_observed(), config, now_ms, &options)
}

/// Managed volumes' files on both sides, for the drift (`diff::files_field`),
/// within [`FILES_BUDGET`]; past it, nothing is compared and the secondary's
/// unread parts say why.
async fn list_files(
    manifest: &Manifest,
    primary: Target<'_>,
    secondary: Target<'_>,
    concurrency: usize,
    budgets: [Option<&SharedPermits>; 2],
    from: &mut Snapshot,
    to: &mut Snapshot,
) {
    // The listing keeps up to `concurrency` requests in flight on each side;
    // where the workspaces' budgets are shared (the all-pairs overview), it
    // holds that much of each, taken in one order so pairs never deadlock.
    let mut held: Vec<&SharedPermits> = budgets.into_iter().flatten().collect();
    held.sort_by_key(|budget| budget.order_key());
    held.dedup();
    // What the survey reads (catalogs, volumes), so a time-out leaves the
    // snapshots as they were.
    let volumes_of =
        |s: &Snapshot| Snapshot { catalogs: s.catalogs.clone(), volumes: s.volumes.clone(), ..Snapshot::default() };
    let (mut listed_from, mut listed_to) = (volumes_of(from), volumes_of(to));
    let listing = async {
        let mut permits = Vec::with_capacity(held.len());
        for budget in &held {
            permits.push(budget.acquire_many(concurrency).await);
        }
        survey_with(
            manifest,
            Lister { client: primary.client, token: primary.token },
            Lister { client: secondary.client, token: secondary.token },
            concurrency,
            &mut listed_from,
            &mut listed_to,
        )
        .await;
    };
    match tokio::time::timeout(FILES_BUDGET, listing).await {
        Ok(()) => {
            from.volume_files = listed_from.volume_files;
            to.volume_files = listed_to.volume_files;
        }
        Err(_) => to.skipped.push(Skipped {
            securable: "volume".into(),
            full_name: String::new(),
            part: SkippedPart::Contents,
            reason: format!(
                "managed volumes' files were not compared: listing them took longer than {} s",
                FILES_BUDGET.as_secs()
            ),
        }),
    }
}

/// One side's outcome, owned.
enum Observation {
    Read { snapshot: Box<Snapshot>, latency_ms: u64 },
    Unreachable { error: String },
}

impl Observation {
    fn as_observed(&self) -> Observed<'_> {
        match self {
            Observation::Read { snapshot, latency_ms } => Observed::Read { snapshot, latency_ms: Some(*latency_ms) },
            Observation::Unreachable { error } => Observed::Unreachable { error },
        }
    }
}

async fn observe(
    side: Side,
    target: Target<'_>,
    read: &ReadOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Observation {
    let unreachable = |error: String| {
        progress(Progress::Unreachable { side, error: error.clone() });
        Observation::Unreachable { error }
    };
    let probe_client = target.client.clone().with_retry(probe_policy());
    let started = Instant::now();
    let probe = async {
        // A budget shared with other reads of the workspace counts the probe
        // too; its latency is timed from when it may go.
        let _permit = match &read.shared_permits {
            Some(budget) => Some(budget.acquire().await),
            None => None,
        };
        let sent = Instant::now();
        probe_client.me(target.token).await?;
        Ok::<_, DatabricksError>(elapsed_ms(sent))
    };
    // The read starts with the probe rather than after it (a round trip
    // less); a failed probe drops the read and its long retry budget.
    let snapshot = read_snapshot(target.client, target.token, read);
    tokio::pin!(probe, snapshot);
    let mut latency_ms = None;
    let result = loop {
        tokio::select! {
            biased;
            probed = &mut probe, if latency_ms.is_none() => match probed {
                Ok(ms) => {
                    latency_ms = Some(ms);
                    progress(Progress::Reading { side, latency_ms: ms });
                }
                Err(error) => return unreachable(error.to_string()),
            },
            result = &mut snapshot => break result,
        }
    };
    let latency_ms = match latency_ms {
        Some(ms) => ms,
        // The read won the race; the probe still has its say.
        None => match probe.await {
            Ok(ms) => ms,
            Err(error) => return unreachable(error.to_string()),
        },
    };
    match result {
        Ok(snapshot) => {
            let objects =
                snapshot.catalogs.len() + snapshot.schemas.len() + snapshot.tables.len() + snapshot.volumes.len();
            progress(Progress::Read { side, objects, elapsed_ms: elapsed_ms(started) });
            Observation::Read { snapshot: Box::new(snapshot), latency_ms }
        }
        Err(error) => unreachable(error.to_string()),
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
