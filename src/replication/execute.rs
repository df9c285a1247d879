//! Running a plan: a dependency graph executed with bounded concurrency.
//!
//! The engine knows nothing of Databricks: it gets steps with dependencies,
//! a lane per step (the SQL warehouse and the REST API are separate
//! bottlenecks, each with its own bound) and an estimate of each step's
//! duration, and it calls `run` for each step once everything it depends on
//! has succeeded. A failed step skips exactly what depends on it, with the
//! reason; everything else goes on.
//!
//! Order matters for how long a run takes. Ready steps start longest
//! remaining chain first (the classic critical-path list schedule): a long
//! chain of views started last would otherwise finish long after the clones
//! that could have run beside it. With many short steps this stays close to
//! the lower bound max(total work ÷ concurrency, longest chain).
//!
//! Progress is a stream of [`StepEvent`]s; the caller keeps results in the
//! store and turns events into cards. Cancelling stops starting new steps,
//! lets running ones see the token, and reports the rest as canceled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which bounded resource a step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// A statement on the SQL warehouse (bounded by its concurrency).
    Warehouse,
    /// A REST call (bounded to spare the workspace's rate limits).
    Api,
}

/// One step of the graph, as the engine sees it.
#[derive(Clone, Debug)]
pub struct Step {
    /// Index of the step in the graph; `depends_on` refers to these.
    pub index: usize,
    pub depends_on: Vec<usize>,
    pub lane: Lane,
    /// Expected duration, for ordering only (a guess is fine).
    pub estimate: Duration,
    /// Steps that are already done (a resumed run) succeed without running.
    pub already_done: bool,
    /// A step the planner could not make runnable (a view cycle, an
    /// unmapped location): reported blocked with this reason, never run.
    pub blocked: Option<String>,
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Succeeded {
        detail: Option<String>,
    },
    Failed {
        error: String,
    },
    /// Never run: the planner could not make it runnable (the reason says
    /// what a person must do).
    Blocked {
        reason: String,
    },
    /// Not run because a step it depends on did not succeed.
    Skipped {
        reason: String,
    },
    Canceled,
}

impl StepOutcome {
    pub fn succeeded(&self) -> bool {
        matches!(self, StepOutcome::Succeeded { .. })
    }
}

/// What the engine reports while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEvent {
    Started { index: usize },
    Finished { index: usize, outcome: StepOutcome, duration: Duration },
}

/// Concurrency per lane.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub warehouse: usize,
    pub api: usize,
}

impl Limits {
    fn of(&self, lane: Lane) -> usize {
        match lane {
            Lane::Warehouse => self.warehouse.max(1),
            Lane::Api => self.api.max(1),
        }
    }
}

/// Why a graph cannot run at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("step {step} depends on step {missing}, which is not in the plan")]
    UnknownDependency { step: usize, missing: usize },
    #[error("step {0} is not numbered by its position")]
    BadIndex(usize),
    #[error("the plan's dependencies form a cycle through step {0}")]
    Cycle(usize),
}

/// Runs every step and returns each one's outcome, by index.
///
/// `run(index, cancel)` does the work of one step and returns
/// `Ok(detail)` or `Err(error text)`. Events go to `events` if given; a
/// closed receiver does not stop the run.
pub async fn run_graph<F, Fut>(
    steps: &[Step],
    limits: Limits,
    cancel: &CancellationToken,
    events: Option<&mpsc::UnboundedSender<StepEvent>>,
    run: F,
) -> Result<Vec<StepOutcome>, GraphError>
where
    F: Fn(usize, CancellationToken) -> Fut,
    Fut: Future<Output = Result<Option<String>, String>>,
{
    let order = validate(steps)?;
    let priority = critical_path(steps, &order);
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut waiting_on: Vec<usize> = vec![0; steps.len()];
    for step in steps {
        waiting_on[step.index] = step.depends_on.len();
        for &dependency in &step.depends_on {
            dependents[dependency].push(step.index);
        }
    }
    let mut outcomes: Vec<Option<StepOutcome>> = vec![None; steps.len()];
    // Ready steps per lane, longest remaining chain first (ties: plan order).
    let mut ready: HashMap<Lane, BinaryHeap<(Duration, Reverse<usize>)>> = HashMap::new();
    let mut running: HashMap<Lane, usize> = HashMap::new();
    let mut settled: Vec<(usize, StepOutcome)> = Vec::new();
    for step in steps.iter().filter(|s| s.depends_on.is_empty()) {
        ready.entry(step.lane).or_default().push((priority[step.index], Reverse(step.index)));
    }
    let emit = |event: StepEvent| {
        if let Some(events) = events {
            let _ = events.send(event);
        }
    };
    let mut in_flight = FuturesUnordered::new();
    let mut finished = 0;
    while finished < steps.len() {
        // Settle steps that need no running: already done, blocked, or canceled.
        for lane in [Lane::Warehouse, Lane::Api] {
            let Some(queue) = ready.get_mut(&lane) else { continue };
            let mut deferred = Vec::new();
            while let Some((p, Reverse(index))) = queue.pop() {
                let step = &steps[index];
                if let Some(reason) = &step.blocked {
                    settled.push((index, StepOutcome::Blocked { reason: reason.clone() }));
                } else if step.already_done {
                    settled.push((index, StepOutcome::Succeeded { detail: Some("done before".into()) }));
                } else if cancel.is_cancelled() {
                    settled.push((index, StepOutcome::Canceled));
                } else if running.get(&lane).copied().unwrap_or(0) < limits.of(lane) {
                    *running.entry(lane).or_default() += 1;
                    emit(StepEvent::Started { index });
                    let work = run(index, cancel.child_token());
                    in_flight.push(async move {
                        let started = tokio::time::Instant::now();
                        let result = work.await;
                        (index, lane, result, started.elapsed())
                    });
                } else {
                    deferred.push((p, Reverse(index)));
                    break;
                }
            }
            queue.extend(deferred);
        }
        if !settled.is_empty() {
            for (index, outcome) in std::mem::take(&mut settled) {
                finished += settle(
                    index,
                    outcome,
                    Duration::ZERO,
                    steps,
                    &mut outcomes,
                    &dependents,
                    &mut waiting_on,
                    &mut ready,
                    &priority,
                    &emit,
                );
            }
            continue;
        }
        let Some((index, lane, result, duration)) = in_flight.next().await else {
            // Nothing running and nothing ready: only possible if the graph
            // was inconsistent, which `validate` rules out.
            break;
        };
        *running.entry(lane).or_default() -= 1;
        let outcome = match result {
            Ok(detail) => StepOutcome::Succeeded { detail },
            Err(_) if cancel.is_cancelled() => StepOutcome::Canceled,
            Err(error) => StepOutcome::Failed { error },
        };
        finished += settle(
            index,
            outcome,
            duration,
            steps,
            &mut outcomes,
            &dependents,
            &mut waiting_on,
            &mut ready,
            &priority,
            &emit,
        );
    }
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(StepOutcome::Canceled)).collect())
}

/// Records one outcome, releases or skips its dependents; returns how many
/// steps it settled (itself and every step it skipped).
#[allow(clippy::too_many_arguments)]
fn settle(
    index: usize,
    outcome: StepOutcome,
    duration: Duration,
    steps: &[Step],
    outcomes: &mut [Option<StepOutcome>],
    dependents: &[Vec<usize>],
    waiting_on: &mut [usize],
    ready: &mut HashMap<Lane, BinaryHeap<(Duration, Reverse<usize>)>>,
    priority: &[Duration],
    emit: &impl Fn(StepEvent),
) -> usize {
    let mut count = 0;
    let mut pending = vec![(index, outcome, duration)];
    while let Some((index, outcome, duration)) = pending.pop() {
        if outcomes[index].is_some() {
            continue;
        }
        count += 1;
        let ok = outcome.succeeded();
        let canceled = outcome == StepOutcome::Canceled;
        emit(StepEvent::Finished { index, outcome: outcome.clone(), duration });
        outcomes[index] = Some(outcome);
        for &dependent in &dependents[index] {
            if ok {
                waiting_on[dependent] -= 1;
                if waiting_on[dependent] == 0 {
                    let lane = steps[dependent].lane;
                    ready.entry(lane).or_default().push((priority[dependent], Reverse(dependent)));
                }
            } else {
                // A step blocked on its own account stays blocked with its
                // reason, which is what a person must settle, whatever
                // became of what it depends on.
                let skipped = match (&steps[dependent].blocked, canceled) {
                    (Some(reason), _) => StepOutcome::Blocked { reason: reason.clone() },
                    (None, true) => StepOutcome::Canceled,
                    (None, false) => {
                        StepOutcome::Skipped { reason: format!("depends on step {index}, which did not succeed") }
                    }
                };
                pending.push((dependent, skipped, Duration::ZERO));
            }
        }
    }
    count
}

/// Checks numbering and references, and returns a topological order.
fn validate(steps: &[Step]) -> Result<Vec<usize>, GraphError> {
    for (position, step) in steps.iter().enumerate() {
        if step.index != position {
            return Err(GraphError::BadIndex(step.index));
        }
        if let Some(&missing) = step.depends_on.iter().find(|&&d| d >= steps.len()) {
            return Err(GraphError::UnknownDependency { step: step.index, missing });
        }
    }
    // Kahn's algorithm.
    let mut indegree: Vec<usize> = steps.iter().map(|s| s.depends_on.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for step in steps {
        for &d in &step.depends_on {
            dependents[d].push(step.index);
        }
    }
    let mut queue: Vec<usize> = (0..steps.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = queue.pop() {
        order.push(i);
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                queue.push(d);
            }
        }
    }
    if order.len() != steps.len() {
        let stuck = (0..steps.len()).find(|&i| indegree[i] > 0).unwrap_or(0);
        return Err(GraphError::Cycle(stuck));
    }
    Ok(order)
}

/// For each step, the longest chain of estimates from it to the end of the
/// graph (itself included): the priority of the list schedule.
fn critical_path(steps: &[Step], order: &[usize]) -> Vec<Duration> {
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for step in steps {
        for &d in &step.depends_on {
            dependents[d].push(step.index);
        }
    }
    let mut longest = vec![Duration::ZERO; steps.len()];
    for &i in order.iter().rev() {
        let tail = dependents[i].iter().map(|&d| longest[d]).max().unwrap_or_default();
        longest[i] = steps[i].estimate + tail;
    }
    longest
}

/// The lower bound on a run's makespan: the larger of the work per unit of
/// concurrency (per lane) and the longest dependency chain. Benchmarks
/// compare the measured makespan against it.
pub fn lower_bound(steps: &[Step], limits: Limits) -> Duration {
    let Ok(order) = validate(steps) else { return Duration::ZERO };
    let chain = critical_path(steps, &order).into_iter().max().unwrap_or_default();
    let per_lane = [Lane::Warehouse, Lane::Api]
        .into_iter()
        .map(|lane| {
            let work: Duration = steps.iter().filter(|s| s.lane == lane && !s.already_done).map(|s| s.estimate).sum();
            work / limits.of(lane) as u32
        })
        .max()
        .unwrap_or_default();
    chain.max(per_lane)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    fn step(index: usize, depends_on: &[usize], lane: Lane, secs: u64) -> Step {
        Step {
            index,
            depends_on: depends_on.to_vec(),
            lane,
            estimate: Duration::from_secs(secs),
            already_done: false,
            blocked: None,
        }
    }

    const LIMITS: Limits = Limits { warehouse: 2, api: 4 };

    #[tokio::test(start_paused = true)]
    async fn dependencies_run_first_and_a_failure_skips_only_its_dependents() {
        // 0 → 1 → 2, and 3 alone; step 1 fails.
        let steps = vec![
            step(0, &[], Lane::Api, 1),
            step(1, &[0], Lane::Warehouse, 1),
            step(2, &[1], Lane::Warehouse, 1),
            step(3, &[], Lane::Warehouse, 1),
        ];
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let seen = order.clone();
        let outcomes = run_graph(&steps, LIMITS, &CancellationToken::new(), None, |i, _| {
            let seen = seen.clone();
            async move {
                seen.lock().push(i);
                tokio::time::sleep(Duration::from_secs(1)).await;
                if i == 1 {
                    Err("boom".to_string())
                } else {
                    Ok(None)
                }
            }
        })
        .await
        .unwrap();
        assert!(outcomes[0].succeeded() && outcomes[3].succeeded());
        assert_eq!(outcomes[1], StepOutcome::Failed { error: "boom".into() });
        assert!(matches!(&outcomes[2], StepOutcome::Skipped { reason } if reason.contains("step 1")));
        let order = order.lock().clone();
        assert!(order.iter().position(|&i| i == 0) < order.iter().position(|&i| i == 1));
        assert!(!order.contains(&2));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_per_lane_is_bounded() {
        let steps: Vec<Step> =
            (0..20).map(|i| step(i, &[], if i % 2 == 0 { Lane::Warehouse } else { Lane::Api }, 1)).collect();
        let now = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let peak = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (n, p) = (now.clone(), peak.clone());
        run_graph(&steps, LIMITS, &CancellationToken::new(), None, move |i, _| {
            let (n, p) = (n.clone(), p.clone());
            async move {
                let lane = i % 2;
                let current = n[lane].fetch_add(1, Ordering::SeqCst) + 1;
                p[lane].fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                n[lane].fetch_sub(1, Ordering::SeqCst);
                Ok(None)
            }
        })
        .await
        .unwrap();
        assert_eq!(peak[0].load(Ordering::SeqCst), 2);
        assert_eq!(peak[1].load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_chain_starts_first_and_the_makespan_meets_the_bound() {
        // A chain of four 5 s steps and eight independent 5 s steps, two at a time:
        // lower bound = max(60/2, 20) = 30 s, met only if the chain starts at once.
        let mut steps: Vec<Step> = (0..8).map(|i| step(i, &[], Lane::Warehouse, 5)).collect();
        for k in 0..4 {
            let index = 8 + k;
            let depends = if k == 0 { vec![] } else { vec![index - 1] };
            steps.push(step(index, &depends, Lane::Warehouse, 5));
        }
        let limits = Limits { warehouse: 2, api: 1 };
        let started = tokio::time::Instant::now();
        run_graph(&steps, limits, &CancellationToken::new(), None, |_, _| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(None)
        })
        .await
        .unwrap();
        assert_eq!(lower_bound(&steps, limits), Duration::from_secs(30));
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn done_and_blocked_steps_do_not_run_and_cancel_stops_the_rest() {
        let mut steps = vec![step(0, &[], Lane::Api, 1), step(1, &[0], Lane::Api, 1), step(2, &[], Lane::Api, 1)];
        steps[0].already_done = true;
        steps[2].blocked = Some("views form a cycle".into());
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let outcomes = run_graph(&steps, LIMITS, &CancellationToken::new(), None, move |_, _| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                Ok(Some("cloned".into()))
            }
        })
        .await
        .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1, "only step 1 runs");
        assert_eq!(outcomes[2], StepOutcome::Blocked { reason: "views form a cycle".into() });

        let cancel = CancellationToken::new();
        let steps: Vec<Step> = (0..10).map(|i| step(i, &[], Lane::Warehouse, 1)).collect();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = cancel.clone();
        let outcomes = run_graph(&steps, Limits { warehouse: 1, api: 1 }, &cancel, Some(&tx), move |i, token| {
            let c = c.clone();
            async move {
                if i == 0 {
                    c.cancel();
                }
                token.cancelled().await;
                Err("canceled".to_string())
            }
        })
        .await
        .unwrap();
        assert!(outcomes.iter().all(|o| *o == StepOutcome::Canceled));
        drop(tx);
        let mut started = 0;
        while let Some(event) = rx.recv().await {
            started += usize::from(matches!(event, StepEvent::Started { .. }));
        }
        assert_eq!(started, 1, "nothing starts after the cancel");
    }

    /// A blocked step whose parent fails or is blocked keeps its own reason
    /// (what a person must settle), not "skipped"; its plain dependents are
    /// skipped.
    #[tokio::test(start_paused = true)]
    async fn a_blocked_step_under_a_failed_parent_keeps_its_reason() {
        let mut steps = vec![
            step(0, &[], Lane::Api, 1),
            step(1, &[0], Lane::Api, 1),
            step(2, &[1], Lane::Api, 1),
            step(3, &[], Lane::Api, 1),
            step(4, &[3], Lane::Api, 1),
        ];
        steps[1].blocked = Some("no external location covers the new storage root".into());
        steps[3].blocked = Some("a pipeline publishes it".into());
        steps[4].blocked = Some("its owner has no SELECT".into());
        let outcomes = run_graph(&steps, LIMITS, &CancellationToken::new(), None, |_, _| async {
            Err::<Option<String>, _>("catalog create refused".to_string())
        })
        .await
        .unwrap();
        assert_eq!(outcomes[0], StepOutcome::Failed { error: "catalog create refused".into() });
        let reason = |outcome: &StepOutcome| match outcome {
            StepOutcome::Blocked { reason } => reason.clone(),
            other => format!("not blocked: {other:?}"),
        };
        assert_eq!(reason(&outcomes[1]), "no external location covers the new storage root");
        assert!(matches!(outcomes[2], StepOutcome::Skipped { .. }), "{:?}", outcomes[2]);
        assert_eq!(reason(&outcomes[4]), "its owner has no SELECT", "under a blocked parent too");
    }

    #[tokio::test]
    async fn bad_graphs_are_refused() {
        let cycle = vec![step(0, &[1], Lane::Api, 1), step(1, &[0], Lane::Api, 1)];
        let result = run_graph(&cycle, LIMITS, &CancellationToken::new(), None, |_, _| async { Ok(None) }).await;
        assert!(matches!(result, Err(GraphError::Cycle(_))));
        let dangling = vec![step(0, &[5], Lane::Api, 1)];
        let result = run_graph(&dangling, LIMITS, &CancellationToken::new(), None, |_, _| async { Ok(None) }).await;
        assert_eq!(result, Err(GraphError::UnknownDependency { step: 0, missing: 5 }));
    }
}
