//! Scheduled posts: on each tick, claim the subscriptions that are due (each
//! firing is claimed by exactly one instance, see `store::subscriptions`)
//! and hand them to a [`Poster`], paced per tenant.
//!
//! "Now" comes from the injected [`Clock`], so tests move time by hand; the
//! pacing sleeps on tokio's clock, so tests pause it instead of waiting. A
//! firing is claimed before it is posted: if posting fails it is not retried
//! (the next occurrence will post), which keeps a flaky chat from getting
//! the same status twice.
//!
//! Posts share Teams' per-tenant budget with every other instance on the
//! store ([`budget`]): [`Scheduler::shared_as`] makes the loop heartbeat and
//! pace each tenant at its share.
//!
//! Scheduled replications (`replicate PAIR every 15m`) are claimed the same
//! way, each firing by one instance, and handed to a [`Replicator`]
//! ([`Scheduler::with_replications`]), which starts the cycle on the
//! operation engine or records the firing as skipped.
//!
//! Scheduled drills (`subscribe drill PAIR monthly`) are claimed the same
//! way and handed to a [`Driller`] ([`Scheduler::with_drills`]).
//!
//! Periodic checks ([`Scheduler::with_checks`]) read the pairs a [`Checker`]
//! names (those with an RPO threshold that no scheduled post reads) once per
//! interval across the whole fleet: each pair's check is claimed in the
//! store for the interval (`store::dedupe`), and the instance whose claim
//! wins runs it in the background, so a slow read never holds up the posts.

pub mod budget;
pub mod schedule;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use futures::future::BoxFuture;

use crate::clock::Clock;
use crate::store::drill_schedules::DueDrill;
use crate::store::replication_schedules::DueReplication;
use crate::store::subscriptions::Due;
use crate::store::{Store, StoreError};
use budget::TenantBudget;

/// Teams' limit for one app in one tenant.
pub const TENANT_SENDS_PER_SECOND: u32 = 50;

/// How many firings one claim takes at a time.
const CLAIM_BATCH: i64 = 100;

/// Why a post did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The bot is no longer in the conversation (removed or blocked): stop
    /// posting there for good.
    #[error("the bot is not in the conversation")]
    BotRemoved,
    /// Anything else; the next occurrence will try again.
    #[error("{0}")]
    Failed(String),
}

/// Posts a due subscription's status into its conversation.
pub trait Poster: Send + Sync {
    fn post(&self, due: &Due) -> impl Future<Output = Result<(), PostError>> + Send;
}

/// A poster shared with the rest of the bot.
impl<P: Poster> Poster for Arc<P> {
    fn post(&self, due: &Due) -> impl Future<Output = Result<(), PostError>> + Send {
        (**self).post(due)
    }
}

/// What became of a claimed replication firing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fired {
    /// The cycle runs as operation `.0`.
    Started(String),
    /// The pair's replication `busy` was in flight: recorded as skipped (`.0`).
    Skipped { run: String, busy: String },
    /// The pair cannot replicate now (it has failed over: its primary is
    /// stale until a failback); nothing started, and the schedule waits.
    Paused(String),
    /// It could not start (the pair is gone, the store failed); said in the log.
    Failed(String),
}

/// Starts a claimed replication firing.
pub trait Replicator: Send + Sync {
    fn fire<'a>(&'a self, due: &'a DueReplication) -> BoxFuture<'a, Fired>;
}

/// Starts a claimed drill firing (as the bot, approved by who set the schedule).
pub trait Driller: Send + Sync {
    fn fire<'a>(&'a self, due: &'a DueDrill) -> BoxFuture<'a, Fired>;
}

/// Reads pairs periodically as the bot (the readiness, its history, the
/// alerts on what it shows); the scheduler decides when and who.
pub trait Checker: Send + Sync {
    /// The pairs that want a periodic check now.
    fn due(&self) -> BoxFuture<'_, Vec<String>>;

    /// Checks `pair` (run in the background: it reads both workspaces).
    fn check(self: Arc<Self>, pair: String) -> BoxFuture<'static, ()>;
}

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub posted: usize,
    pub failed: usize,
    /// Conversations whose subscriptions were dropped because the bot left.
    pub removed: usize,
    /// Expired plans dropped from the store.
    pub plans_purged: u64,
    /// Scheduled replications started, skipped (their pair was busy), and
    /// those that could not start.
    pub replications_started: usize,
    pub replications_skipped: usize,
    pub replications_failed: usize,
    /// Scheduled replications of failed-over pairs, passed over until their failback.
    pub replications_paused: usize,
    /// Periodic checks this instance claimed and started.
    pub checks_started: usize,
    /// Scheduled drills started, and those that could not start (a pair
    /// busy with a replication or another runbook counts here: said in the log).
    pub drills_started: usize,
    pub drills_failed: usize,
}

impl TickReport {
    fn add(&mut self, other: TickReport) {
        self.posted += other.posted;
        self.failed += other.failed;
        self.removed += other.removed;
        self.plans_purged += other.plans_purged;
        self.replications_started += other.replications_started;
        self.replications_skipped += other.replications_skipped;
        self.replications_failed += other.replications_failed;
        self.replications_paused += other.replications_paused;
        self.checks_started += other.checks_started;
        self.drills_started += other.drills_started;
        self.drills_failed += other.drills_failed;
    }
}

pub struct Scheduler<P> {
    store: Store,
    poster: P,
    clock: Arc<dyn Clock>,
    budget: Arc<TenantBudget>,
    /// This instance's id and heartbeat, when the budget is shared.
    shared: Option<(String, Duration)>,
    /// Starts scheduled replications; without one they are not claimed.
    replicator: Option<Arc<dyn Replicator>>,
    /// Starts scheduled drills; without one they are not claimed.
    driller: Option<Arc<dyn Driller>>,
    /// Periodic checks and their interval; without them none run.
    checks: Option<(Arc<dyn Checker>, Duration)>,
    /// When this instance next asks the store for each pair's check: a claim
    /// (won or lost) holds for the interval, so asking every tick would only
    /// write to the store for nothing.
    next_check_ms: parking_lot::Mutex<BTreeMap<String, i64>>,
}

impl<P: Poster> Scheduler<P> {
    /// A scheduler pacing each tenant at Teams' 50 sends a second, alone.
    pub fn new(store: Store, poster: P, clock: Arc<dyn Clock>) -> Scheduler<P> {
        Scheduler {
            store,
            poster,
            clock,
            budget: Arc::new(TenantBudget::new(TENANT_SENDS_PER_SECOND)),
            shared: None,
            replicator: None,
            driller: None,
            checks: None,
            next_check_ms: parking_lot::Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs `checker`'s checks, each pair's once per `every` across every
    /// instance on the store.
    pub fn with_checks(mut self, checker: Arc<dyn Checker>, every: Duration) -> Scheduler<P> {
        self.checks = Some((checker, every));
        self
    }

    /// Claims scheduled replications too, and starts them with `replicator`.
    pub fn with_replications(mut self, replicator: Arc<dyn Replicator>) -> Scheduler<P> {
        self.replicator = Some(replicator);
        self
    }

    /// Claims scheduled drills too, and starts them with `driller`.
    pub fn with_drills(mut self, driller: Arc<dyn Driller>) -> Scheduler<P> {
        self.driller = Some(driller);
        self
    }

    /// Spends `budget`, shared with other senders (alerts), instead of its own.
    pub fn with_budget(mut self, budget: Arc<TenantBudget>) -> Scheduler<P> {
        self.budget = budget;
        self
    }

    pub fn with_rate(mut self, sends_per_second: u32) -> Scheduler<P> {
        self.budget = Arc::new(TenantBudget::new(sends_per_second));
        self
    }

    /// Shares the per-tenant budget with the other instances on the store:
    /// [`Scheduler::run`] heartbeats as `instance_id` every `heartbeat`.
    pub fn shared_as(mut self, instance_id: impl Into<String>, heartbeat: Duration) -> Scheduler<P> {
        self.shared = Some((instance_id.into(), heartbeat));
        self
    }

    /// The tenant budget (how many instances it is divided between).
    pub fn budget(&self) -> Arc<TenantBudget> {
        self.budget.clone()
    }

    /// Claims and posts everything due at the clock's current time, and
    /// drops the plans that expired (nobody can run them any more, and each
    /// holds a whole metastore diff).
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now_ms = self.clock.unix_ms();
        let mut report =
            TickReport { plans_purged: self.store.purge_expired_plans(now_ms).await?, ..Default::default() };
        if let Some(replicator) = &self.replicator {
            report.add(self.replicate(replicator.as_ref(), now_ms).await?);
        }
        if let Some(driller) = &self.driller {
            report.add(self.drill(driller.as_ref(), now_ms).await?);
        }
        if let Some((checker, every)) = &self.checks {
            report.checks_started += self.start_checks(checker, *every, now_ms).await?;
        }
        loop {
            let due = self.store.claim_due(now_ms, CLAIM_BATCH).await?;
            if due.is_empty() {
                return Ok(report);
            }
            report.add(self.deliver(due).await);
        }
    }

    /// Claims the replication firings due at `now_ms` and starts each (a
    /// start only creates the operation; the cycle runs in the background).
    async fn replicate(&self, replicator: &dyn Replicator, now_ms: i64) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        loop {
            let due = self.store.claim_due_replications(now_ms, CLAIM_BATCH).await?;
            if due.is_empty() {
                return Ok(report);
            }
            for firing in &due {
                match replicator.fire(firing).await {
                    Fired::Started(operation) => {
                        tracing::info!(pair = %firing.pair, %operation, "scheduled replication started");
                        report.replications_started += 1;
                    }
                    Fired::Skipped { run, busy } => {
                        tracing::info!(pair = %firing.pair, %run, %busy, "scheduled replication skipped: the pair is busy");
                        report.replications_skipped += 1;
                    }
                    Fired::Paused(why) => {
                        tracing::info!(pair = %firing.pair, %why, "scheduled replication passed over");
                        report.replications_paused += 1;
                    }
                    Fired::Failed(why) => {
                        tracing::warn!(pair = %firing.pair, %why, "scheduled replication could not start");
                        report.replications_failed += 1;
                    }
                }
            }
        }
    }

    /// Claims the drill firings due at `now_ms` and starts each (the drill
    /// runs in the background on the operation engine).
    async fn drill(&self, driller: &dyn Driller, now_ms: i64) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        loop {
            let due = self.store.claim_due_drills(now_ms, CLAIM_BATCH).await?;
            if due.is_empty() {
                return Ok(report);
            }
            for firing in &due {
                let pair = &firing.schedule.pair;
                match driller.fire(firing).await {
                    Fired::Started(operation) => {
                        tracing::info!(%pair, %operation, "scheduled drill started");
                        report.drills_started += 1;
                    }
                    Fired::Skipped { busy, .. } | Fired::Paused(busy) | Fired::Failed(busy) => {
                        tracing::warn!(%pair, why = %busy, "scheduled drill could not start");
                        report.drills_failed += 1;
                    }
                }
            }
        }
    }

    /// Claims each due pair's check for `every` (the first instance to ask
    /// after the last claim expired wins) and starts the ones it won.
    async fn start_checks(
        &self,
        checker: &Arc<dyn Checker>,
        every: Duration,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let every_ms = every.as_millis() as i64;
        let due = checker.due().await;
        let asking: Vec<String> = {
            let mut next = self.next_check_ms.lock();
            next.retain(|pair, _| due.contains(pair));
            due.into_iter().filter(|pair| next.get(pair).is_none_or(|at| *at <= now_ms)).collect()
        };
        let mut started = 0;
        for pair in asking {
            let won = self.store.claim_once(&format!("check/{pair}"), now_ms, every_ms).await?;
            // Whoever holds the claim took it at or before now: it is free again by now + every.
            self.next_check_ms.lock().insert(pair.clone(), now_ms.saturating_add(every_ms));
            if won {
                tracing::debug!(%pair, "periodic check started");
                tokio::spawn(checker.clone().check(pair));
                started += 1;
            }
        }
        Ok(started)
    }

    /// Posts claimed firings: tenants side by side, each tenant's in order
    /// and paced by its bucket.
    pub async fn deliver(&self, due: Vec<Due>) -> TickReport {
        let mut by_tenant: BTreeMap<String, Vec<Due>> = BTreeMap::new();
        for firing in due {
            by_tenant.entry(firing.tenant_id.clone().unwrap_or_default()).or_default().push(firing);
        }
        let reports = futures::future::join_all(
            by_tenant.into_iter().map(|(tenant, firings)| self.deliver_tenant(tenant, firings)),
        )
        .await;
        let mut report = TickReport::default();
        for tenant_report in reports {
            report.add(tenant_report);
        }
        report
    }

    async fn deliver_tenant(&self, tenant: String, firings: Vec<Due>) -> TickReport {
        let mut report = TickReport::default();
        let mut gone: Vec<String> = Vec::new();
        for firing in firings {
            if gone.contains(&firing.conversation_id) {
                continue;
            }
            self.budget.acquire(&tenant).await;
            match self.poster.post(&firing).await {
                Ok(()) => report.posted += 1,
                Err(PostError::BotRemoved) => {
                    // Ids only: the conversation and its people stay out of the log.
                    match self.store.remove_subscriptions_for_conversation(&firing.conversation_id).await {
                        Ok(removed) => tracing::info!(
                            subscription = %firing.subscription_id,
                            removed,
                            "the bot is no longer in the conversation; its scheduled posts are removed"
                        ),
                        // The next firing meets the same answer and tries again.
                        Err(error) => tracing::warn!(
                            subscription = %firing.subscription_id,
                            %error,
                            "the bot is no longer in the conversation; removing its scheduled posts failed"
                        ),
                    }
                    gone.push(firing.conversation_id);
                    report.removed += 1;
                }
                Err(PostError::Failed(error)) => {
                    tracing::warn!(subscription = %firing.subscription_id, %error, "scheduled post failed");
                    report.failed += 1;
                }
            }
        }
        report
    }

    /// Ticks every `interval` until `shutdown`. A store error is logged and
    /// the next tick tries again: a database blip must not end scheduling.
    /// A shared scheduler heartbeats beside the ticks and waits one heartbeat
    /// before its first tick, so the other instances have slowed down to
    /// make room for it.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let Some((instance_id, heartbeat)) = self.shared.clone() else {
            return self.tick_until(interval, &shutdown).await;
        };
        self.heartbeat().await;
        let ticks = async {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(heartbeat) => {}
            }
            self.tick_until(interval, &shutdown).await
        };
        let heartbeats = async {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(heartbeat) => {}
                }
                self.heartbeat().await;
            }
        };
        futures::future::join(ticks, heartbeats).await;
        if let Err(error) = self.store.instance_leave(&instance_id).await {
            tracing::warn!(%error, "leaving the instance table failed; the others notice when the row goes stale");
        }
    }

    /// Tells the store this instance is alive, counts the live ones and
    /// divides the budget ([`Scheduler::run`] does this every heartbeat); on
    /// a store error the last count stays and the next heartbeat tries again.
    /// Returns the count in use. Does nothing for a scheduler that is not shared.
    pub async fn heartbeat(&self) -> usize {
        if let Some((instance_id, every)) = &self.shared {
            // Three missed heartbeats and an instance is taken for dead.
            let ttl_ms = (*every * 3).as_millis() as i64;
            let now_ms = chrono::Utc::now().timestamp_millis();
            match self.store.instance_heartbeat(instance_id, now_ms, ttl_ms).await {
                Ok(instances) => self.budget.share_between(instances),
                Err(error) => tracing::warn!(%error, "instance heartbeat failed"),
            }
        }
        self.budget.instances()
    }

    async fn tick_until(&self, interval: Duration, shutdown: &CancellationToken) {
        loop {
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "scheduler tick failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}
