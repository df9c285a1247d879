//! The scheduler loop: a manual clock decides what is due, a recording
//! poster stands in for the chat, and tokio's paused clock measures pacing.

use std::sync::Arc;
use std::time::Duration;

use drbot::assets::coverage::Coverage;
use drbot::clock::{Clock, ManualClock};
use drbot::commands::Schedule;
use drbot::scheduler::{PostError, Poster, Scheduler, TickReport};
use drbot::store::subscriptions::{Due, NewSubscription};
use drbot::store::Store;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const HOUR: u64 = 3_600_000;
/// 2026-01-15T07:00:00Z
const MORNING: i64 = 1_768_460_400_000;

/// Remembers every post and when (tokio's clock); some conversations have
/// removed the bot, some fail.
#[derive(Clone, Default)]
struct Recording {
    posts: Arc<Mutex<Vec<(Due, Instant)>>>,
    removed: Arc<Vec<String>>,
    failing: Arc<Vec<String>>,
}

impl Recording {
    fn posted(&self) -> Vec<String> {
        self.posts.lock().iter().map(|(due, _)| due.conversation_id.clone()).collect()
    }
}

impl Poster for Recording {
    async fn post(&self, due: &Due) -> Result<(), PostError> {
        if self.removed.contains(&due.conversation_id) {
            return Err(PostError::BotRemoved);
        }
        if self.failing.contains(&due.conversation_id) {
            return Err(PostError::Failed("502 from the connector".into()));
        }
        self.posts.lock().push((due.clone(), Instant::now()));
        Ok(())
    }
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display())).await.unwrap();
    (store, dir)
}

fn subscription(conversation: &str, tenant: &str, schedule: Schedule) -> NewSubscription {
    NewSubscription {
        conversation_id: conversation.into(),
        tenant_id: Some(tenant.into()),
        schedule,
        pair: None,
        created_by_oid: None,
        created_by_upn: None,
    }
}

fn eight_utc() -> Schedule {
    Schedule::Daily { hour: 8, minute: 0, timezone: "UTC".into() }
}

#[tokio::test]
async fn a_subscription_posts_once_at_its_time_and_not_before() {
    let (store, _dir) = store().await;
    let clock = ManualClock::at_unix_ms(MORNING);
    store.subscribe(&subscription("conv", "t", eight_utc()), clock.unix_ms()).await.unwrap();
    let poster = Recording::default();
    let scheduler = Scheduler::new(store.clone(), poster.clone(), clock.clone());

    clock.advance(Duration::from_millis(HOUR - 1));
    assert_eq!(scheduler.tick().await.unwrap(), TickReport::default());
    assert!(poster.posted().is_empty(), "not before 08:00");

    clock.advance(Duration::from_millis(1));
    assert_eq!(scheduler.tick().await.unwrap(), TickReport { posted: 1, ..TickReport::default() });
    assert_eq!(poster.posted(), ["conv"]);
    assert_eq!(poster.posts.lock()[0].0.fire_ms, MORNING + HOUR as i64);

    clock.advance(Duration::from_secs(3600));
    assert_eq!(scheduler.tick().await.unwrap().posted, 0, "once a day");
    clock.advance(Duration::from_millis(23 * HOUR));
    assert_eq!(scheduler.tick().await.unwrap().posted, 1, "the next morning");
    assert_eq!(poster.posted().len(), 2);
    store.close().await;
}

/// Collects what the scheduler logs on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_chat_that_removed_the_bot_loses_its_subscriptions() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish(),
    );
    let (store, _dir) = store().await;
    let clock = ManualClock::at_unix_ms(MORNING);
    let gone = "19:secret-team-chat@thread.v2";
    for (conversation, schedule) in
        [(gone, eight_utc()), (gone, Schedule::Every { minutes: 60 }), ("stays", eight_utc()), ("flaky", eight_utc())]
    {
        let mut new = subscription(conversation, "t", schedule);
        new.created_by_upn = Some("alice@contoso.example".into());
        store.subscribe(&new, clock.unix_ms()).await.unwrap();
    }
    // Shared behind an Arc, as the bot shares its connector.
    let poster = Arc::new(Recording {
        removed: Arc::new(vec![gone.into()]),
        failing: Arc::new(vec!["flaky".into()]),
        ..Recording::default()
    });
    let scheduler = Scheduler::new(store.clone(), poster.clone(), clock.clone());
    clock.advance(Duration::from_millis(HOUR));
    let report = scheduler.tick().await.unwrap();
    assert_eq!(report, TickReport { posted: 1, failed: 1, removed: 1, ..TickReport::default() });
    assert_eq!(poster.posted(), ["stays"]);
    assert!(store.subscriptions(gone).await.unwrap().is_empty(), "both of its subscriptions are gone");
    assert_eq!(store.subscriptions("stays").await.unwrap().len(), 1);
    let flaky = store.subscriptions("flaky").await.unwrap();
    assert_eq!(flaky.len(), 1, "a failed post keeps the subscription");
    assert_eq!(flaky[0].next_fire_ms, MORNING + 25 * HOUR as i64, "and is not retried until its next time");
    assert_eq!(scheduler.tick().await.unwrap(), TickReport::default());

    let logged = String::from_utf8(logs.0.lock().clone()).unwrap();
    assert!(logged.contains("no longer in the conversation; its scheduled posts are removed"), "{logged}");
    assert!(!logged.contains("secret-team-chat") && !logged.contains("alice"), "no personal data: {logged}");
    store.close().await;
}

#[tokio::test]
async fn a_busy_tenant_is_paced_to_fifty_a_second() {
    let (store, _dir) = store().await;
    let clock = ManualClock::at_unix_ms(MORNING);
    for i in 0..120 {
        store.subscribe(&subscription(&format!("busy-{i}"), "busy", eight_utc()), MORNING).await.unwrap();
    }
    for i in 0..3 {
        store.subscribe(&subscription(&format!("quiet-{i}"), "quiet", eight_utc()), MORNING).await.unwrap();
    }
    let due = store.claim_due(MORNING + HOUR as i64, 1_000).await.unwrap();
    assert_eq!(due.len(), 123);

    // From here on nothing touches the database, so tokio's clock can be paused.
    tokio::time::pause();
    let poster = Recording::default();
    let scheduler = Scheduler::new(store.clone(), poster.clone(), clock);
    let start = Instant::now();
    let report = scheduler.deliver(due).await;
    assert_eq!(report.posted, 123);

    let posts = poster.posts.lock().clone();
    let at = |tenant: &str| -> Vec<Duration> {
        posts.iter().filter(|(d, _)| d.tenant_id.as_deref() == Some(tenant)).map(|(_, t)| *t - start).collect()
    };
    let busy = at("busy");
    assert_eq!(busy.len(), 120);
    assert!(busy.windows(2).all(|w| w[1] >= w[0] + Duration::from_millis(20)), "{busy:?}");
    assert!(*busy.last().unwrap() - busy[0] >= Duration::from_secs(2), "{:?}", busy.last());
    for first in &busy {
        let in_second = busy.iter().filter(|t| **t >= *first && **t < *first + Duration::from_secs(1)).count();
        assert!(in_second <= 50, "{in_second} sends in one second");
    }
    let quiet = at("quiet");
    assert!(quiet.iter().all(|t| *t < Duration::from_millis(100)), "another tenant is not held back: {quiet:?}");
    store.close().await;
}

#[tokio::test]
async fn the_loop_ticks_until_shut_down() {
    let (store, _dir) = store().await;
    let clock = ManualClock::at_unix_ms(MORNING);
    store.subscribe(&subscription("conv", "t", eight_utc()), MORNING).await.unwrap();
    let poster = Recording::default();
    let shutdown = CancellationToken::new();
    let scheduler = Scheduler::new(store.clone(), poster.clone(), clock.clone());
    let running = tokio::spawn(scheduler.run(Duration::from_millis(5), shutdown.clone()));

    clock.advance(Duration::from_millis(HOUR));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while poster.posted().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the loop never posted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), running).await.expect("stops when told").unwrap();
    assert_eq!(poster.posted(), ["conv"], "posted exactly once");
    store.close().await;
}

/// Plans expire after their time to live; the tick drops them, but keeps a
/// plan that a replication still in progress runs (a takeover reads it).
#[tokio::test]
async fn the_tick_purges_expired_plans_but_not_one_a_run_still_needs() {
    use drbot::store::operations::NewOperation;
    use drbot::store::plans::StoredPlan;
    let (store, _dir) = store().await;
    let clock = ManualClock::at_unix_ms(MORNING);
    let plan = |id: &str| StoredPlan {
        id: id.into(),
        kind: drbot::store::plans::PlanKind::Replication,
        conversation_id: "conv".into(),
        created_by_oid: None,
        created_ms: MORNING,
        expires_ms: MORNING + HOUR as i64,
        payload: serde_json::json!({}),
    };
    for id in ["idle", "running"] {
        store.save_plan(&plan(id)).await.unwrap();
    }
    let running = NewOperation {
        idempotency_key: "replicate:running".into(),
        kind: drbot::store::operations::Kind::Replication,
        conversation_id: "conv".into(),
        card_activity_id: None,
        started_by_oid: None,
        started_by_upn: None,
        pair: None,
        payload: serde_json::json!({}),
    };
    store.create_operation(&running, "instance-1", MORNING, HOUR as i64 * 24).await.unwrap();
    let scheduler = Scheduler::new(store.clone(), Recording::default(), clock.clone());

    assert_eq!(scheduler.tick().await.unwrap().plans_purged, 0, "nothing expired yet");
    clock.advance(Duration::from_millis(HOUR));
    assert_eq!(scheduler.tick().await.unwrap().plans_purged, 1);
    assert!(store.plan("idle", 0).await.unwrap().is_none(), "the expired plan is gone");
    assert!(store.plan("running", 0).await.unwrap().is_some(), "the running one's plan stays");
    store.close().await;
}

#[path = "support/postgres.rs"]
mod postgres;

/// Two instances on one PostgreSQL store, one busy tenant: together they post
/// at Teams' 50 a second for the tenant, not 50 each.
#[tokio::test]
async fn two_instances_on_postgres_share_one_tenant_budget() {
    let database = postgres::TestDatabase::create().await;
    let first = Store::open(&database.url).await.unwrap();
    let second = Store::open(&database.url).await.unwrap();
    let clock = ManualClock::at_unix_ms(MORNING);
    for i in 0..150 {
        first.subscribe(&subscription(&format!("busy-{i}"), "busy", eight_utc()), MORNING).await.unwrap();
    }
    let (poster_a, poster_b) = (Recording::default(), Recording::default());
    let heartbeat = Duration::from_secs(5);
    let a = Scheduler::new(first.clone(), poster_a.clone(), clock.clone()).shared_as("instance-a", heartbeat);
    let b = Scheduler::new(second.clone(), poster_b.clone(), clock.clone()).shared_as("instance-b", heartbeat);
    assert_eq!(a.heartbeat().await, 1, "alone, the first instance has the whole budget");
    assert_eq!(b.heartbeat().await, 2, "the second counts both");
    assert_eq!(a.heartbeat().await, 2, "and the first, at its next heartbeat, too");

    // Each instance claims its own firings, as their ticks would.
    let due_a = first.claim_due(MORNING + HOUR as i64, 100).await.unwrap();
    let due_b = second.claim_due(MORNING + HOUR as i64, 100).await.unwrap();
    assert_eq!((due_a.len(), due_b.len()), (100, 50));

    // From here on nothing touches the database, so tokio's clock can be paused.
    tokio::time::pause();
    let start = Instant::now();
    let (report_a, report_b) = futures::join!(a.deliver(due_a), b.deliver(due_b));
    assert_eq!(report_a.posted + report_b.posted, 150);

    let mut at: Vec<Duration> =
        poster_a.posts.lock().iter().chain(poster_b.posts.lock().iter()).map(|(_, t)| *t - start).collect();
    at.sort();
    for first in &at {
        let in_second = at.iter().filter(|t| **t >= *first && **t < *first + Duration::from_secs(1)).count();
        assert!(in_second <= 50, "{in_second} posts to one tenant within one second");
    }
    assert!(*at.last().unwrap() >= Duration::from_millis(3960), "100 posts at 25 a second: {:?}", at.last());
    first.close().await;
    second.close().await;
    database.drop_database().await;
}

/// The scheduler loops heartbeat on their own, count each other, and leave
/// the instance table when they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_loops_count_each_other_and_leave_on_shutdown() {
    let database = postgres::TestDatabase::create().await;
    let store = Store::open(&database.url).await.unwrap();
    let clock = ManualClock::at_unix_ms(MORNING);
    let heartbeat = Duration::from_millis(100);
    let a = Scheduler::new(store.clone(), Recording::default(), clock.clone()).shared_as("instance-a", heartbeat);
    let b = Scheduler::new(store.clone(), Recording::default(), clock.clone()).shared_as("instance-b", heartbeat);
    let budgets = [a.budget(), b.budget()];
    let shutdown = CancellationToken::new();
    let running = [
        tokio::spawn(a.run(Duration::from_millis(20), shutdown.clone())),
        tokio::spawn(b.run(Duration::from_millis(20), shutdown.clone())),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while budgets.iter().any(|budget| budget.instances() != 2) {
        assert!(std::time::Instant::now() < deadline, "the instances never counted each other");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    for run in running {
        tokio::time::timeout(Duration::from_secs(15), run).await.expect("stops when told").unwrap();
    }
    let alive = store.instance_heartbeat("probe", chrono::Utc::now().timestamp_millis(), 60_000).await.unwrap();
    assert_eq!(alive, 1, "both instances left the table on shutdown");
    store.close().await;
    database.drop_database().await;
}

/// Remembers every replication firing handed to it; the pairs in `failing`
/// cannot start (as when the store or the pair is unavailable).
#[derive(Clone, Default)]
struct Replications {
    fired: Arc<Mutex<Vec<drbot::store::replication_schedules::DueReplication>>>,
    failing: Arc<Vec<String>>,
}

impl drbot::scheduler::Replicator for Replications {
    fn fire<'a>(
        &'a self,
        due: &'a drbot::store::replication_schedules::DueReplication,
    ) -> futures::future::BoxFuture<'a, drbot::scheduler::Fired> {
        Box::pin(async move {
            self.fired.lock().push(due.clone());
            match self.failing.contains(&due.pair) {
                true => drbot::scheduler::Fired::Failed("the pair's store row is unreadable".into()),
                false => drbot::scheduler::Fired::Started(format!("op-{}-{}", due.pair, due.fire_ms)),
            }
        })
    }
}

/// Two instances' schedulers on one PostgreSQL store tick at the same
/// moments: every replication firing is started by exactly one of them, and
/// a firing that could not start does not stop the next one.
#[tokio::test]
async fn two_instances_on_postgres_start_each_scheduled_replication_once() {
    let database = postgres::TestDatabase::create().await;
    let (first, second) = (Store::open(&database.url).await.unwrap(), Store::open(&database.url).await.unwrap());
    let clock = ManualClock::at_unix_ms(MORNING);
    for pair in ["finance", "hr", "broken"] {
        first
            .set_replication_schedule(
                pair,
                &Schedule::Every { minutes: 15 },
                Coverage::Data,
                "conv",
                (None, None),
                MORNING,
            )
            .await
            .unwrap();
    }
    let replications = |failing: &[&str]| Replications {
        failing: Arc::new(failing.iter().map(|p| p.to_string()).collect()),
        ..Replications::default()
    };
    let (on_a, on_b) = (replications(&["broken"]), replications(&["broken"]));
    let a =
        Scheduler::new(first.clone(), Recording::default(), clock.clone()).with_replications(Arc::new(on_a.clone()));
    let b =
        Scheduler::new(second.clone(), Recording::default(), clock.clone()).with_replications(Arc::new(on_b.clone()));

    let mut reports = Vec::new();
    for _ in 0..4 {
        clock.advance(Duration::from_secs(15 * 60));
        let (one, two) = tokio::join!(a.tick(), b.tick());
        reports.push((one.unwrap(), two.unwrap()));
    }
    let mut fired: Vec<(String, i64)> =
        on_a.fired.lock().iter().chain(on_b.fired.lock().iter()).map(|d| (d.pair.clone(), d.fire_ms)).collect();
    fired.sort();
    let expected: Vec<(String, i64)> = ["broken", "finance", "hr"]
        .iter()
        .flat_map(|pair| (1..=4).map(move |k| (pair.to_string(), MORNING + k * 15 * 60_000)))
        .collect();
    assert_eq!(fired, expected, "every firing of every pair once, the broken one's included");
    for (one, two) in &reports {
        assert_eq!(one.replications_started + two.replications_started, 2);
        assert_eq!(one.replications_failed + two.replications_failed, 1, "the broken pair's firing, each round");
    }
    first.close().await;
    second.close().await;
    database.drop_database().await;
}

/// Counts the checks it is asked to run, per pair; `due` names the pairs.
#[derive(Default)]
struct Checks {
    due: Mutex<Vec<String>>,
    ran: Mutex<Vec<String>>,
}

impl drbot::scheduler::Checker for Checks {
    fn due(&self) -> futures::future::BoxFuture<'_, Vec<String>> {
        Box::pin(async move { self.due.lock().clone() })
    }

    fn check(self: Arc<Self>, pair: String) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(async move { self.ran.lock().push(pair) })
    }
}

#[tokio::test]
async fn two_instances_check_each_pair_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("drbot.db").display());
    let clock = ManualClock::at_unix_ms(MORNING);
    let checks = Arc::new(Checks::default());
    *checks.due.lock() = vec!["sales".into(), "hr".into()];
    let every = Duration::from_secs(15 * 60);
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = Store::open(&url).await.unwrap();
        instances.push(Scheduler::new(store, Recording::default(), clock.clone()).with_checks(checks.clone(), every));
    }
    let ran = |checks: &Checks| {
        let mut ran = checks.ran.lock().clone();
        ran.sort();
        ran
    };
    let tick_all = || async {
        let mut started = 0;
        for instance in &instances {
            started += instance.tick().await.unwrap().checks_started;
        }
        // The checks run in the background; let them.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        started
    };

    assert_eq!(tick_all().await, 2, "each pair once, whichever instance claimed it");
    assert_eq!(ran(&checks), ["hr", "sales"]);
    clock.advance(every - Duration::from_millis(1));
    assert_eq!(tick_all().await, 0, "not again within the interval");
    clock.advance(Duration::from_millis(1));
    // A pair that no longer wants a check (its threshold removed) is left alone.
    *checks.due.lock() = vec!["sales".into()];
    assert_eq!(tick_all().await, 1);
    assert_eq!(ran(&checks), ["hr", "sales", "sales"]);
}
