//! The alerter between the DR domain and the people: an observation that is
//! news becomes one alert (however often the same failure is seen), a
//! recovery one more, an alert that reached nobody is tried again, and a
//! burst of a hundred pairs failing at once stays within Teams' pacing
//! limits, per conversation and per tenant. A recording sink stands in for
//! Teams; tokio's paused clock measures the pacing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use drbot::alerts::condition::{self, Condition};
use drbot::alerts::deliver::{AlertSink, Alerter, Delivered, DeliveryError, Destination, Recipient};
use drbot::alerts::{Alert, Change, Observation, State};
use drbot::botframework::pacing::TEAMS_CONVERSATION_LIMITS;
use drbot::scheduler::budget::TenantBudget;
use drbot::scheduler::TENANT_SENDS_PER_SECOND;
use drbot::store::Store;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::json;
use tokio::time::Instant;

/// 2026-01-15T07:00:00Z
const MORNING: i64 = 1_768_460_400_000;

/// A notification as sent: to whom, what, the link it carried, when.
type Notified = (String, Alert, Option<String>, Instant);

/// Every pair is followed by the team's ops channel and its own chat, and
/// notifies the on-call engineer; everything is one tenant.
#[derive(Default)]
struct Recording {
    posts: Mutex<Vec<(String, Alert, Instant)>>,
    notifications: Mutex<Vec<Notified>>,
    failing: bool,
}

impl AlertSink for Recording {
    fn destinations<'a>(&'a self, pair: &'a str) -> BoxFuture<'a, Result<Vec<Destination>, DeliveryError>> {
        Box::pin(async move {
            Ok(["ops".to_string(), format!("chat-{pair}")]
                .into_iter()
                .map(|id| Destination { id, tenant: Some("contoso".into()) })
                .collect())
        })
    }

    fn recipients<'a>(&'a self, _pair: &'a str) -> BoxFuture<'a, Vec<Recipient>> {
        Box::pin(async { vec![Recipient { id: "oncall@contoso.example".into(), tenant: None }] })
    }

    fn post<'a>(
        &'a self,
        destination: &'a Destination,
        alert: &'a Alert,
    ) -> BoxFuture<'a, Result<Option<String>, DeliveryError>> {
        Box::pin(async move {
            if self.failing {
                return Err(DeliveryError::Failed("502 after every retry".into()));
            }
            let mut posts = self.posts.lock();
            posts.push((destination.id.clone(), alert.clone(), Instant::now()));
            Ok(Some(format!("https://teams.microsoft.com/l/message/{}/{}", destination.id, posts.len())))
        })
    }

    fn notify<'a>(
        &'a self,
        recipient: &'a Recipient,
        alert: &'a Alert,
        link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            if self.failing {
                return Err(DeliveryError::Failed("Graph 429 after every retry".into()));
            }
            self.notifications.lock().push((
                recipient.id.clone(),
                alert.clone(),
                link.map(str::to_string),
                Instant::now(),
            ));
            Ok(())
        })
    }
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display())).await.unwrap();
    (store, dir)
}

fn alerter(store: &Store, sink: Recording) -> Alerter<Recording> {
    Alerter::new(store.clone(), sink, Arc::new(TenantBudget::new(TENANT_SENDS_PER_SECOND)), &TEAMS_CONVERSATION_LIMITS)
}

fn failed_run(pair: &str, run: &str) -> Observation {
    condition::replication_ended(pair, run, &json!({"outcome": "failed", "failed": 2})).unwrap()
}

#[tokio::test]
async fn a_failure_alerts_once_until_it_clears_and_recovery_once() {
    let (store, _dir) = store().await;
    let alerts = alerter(&store, Recording::default());
    let first = alerts.handle(&[failed_run("sales", "r1")], MORNING).await.unwrap();
    assert_eq!(first, Delivered { posted: 2, notified: 1, failed: 0 }, "both chats and the on-call person");
    // The same failure again (a retried run, another instance, the next firing): quiet.
    let again = alerts.handle(&[failed_run("sales", "r1"), failed_run("sales", "r2")], MORNING + 1).await.unwrap();
    assert_eq!(again, Delivered::default());
    let posts = alerts.sink().posts.lock().clone();
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|(_, alert, _)| alert.change == Change::Raised && alert.summary.contains("r1")));
    let notified = alerts.sink().notifications.lock().clone();
    assert_eq!(notified[0].2.as_deref(), Some("https://teams.microsoft.com/l/message/ops/1"), "links to the card");

    // It clears: one "recovered", and no more while it stays clear.
    let fine = condition::replication_ended("sales", "r3", &json!({"outcome": "succeeded"})).unwrap();
    assert_eq!(alerts.handle(std::slice::from_ref(&fine), MORNING + 2).await.unwrap().posted, 2);
    assert_eq!(alerts.handle(&[fine], MORNING + 3).await.unwrap(), Delivered::default());
    let posts = alerts.sink().posts.lock().clone();
    assert_eq!(posts.len(), 4);
    assert!(posts[2..].iter().all(|(_, alert, _)| alert.change == Change::Recovered
        && alert.summary.contains("r1")
        && alert.headline() == "Pair sales: replication recovered"));
    // And fails again: a new alert.
    assert_eq!(alerts.handle(&[failed_run("sales", "r4")], MORNING + 4).await.unwrap().posted, 2);
    store.close().await;
}

#[tokio::test]
async fn an_alert_that_reached_nobody_is_tried_again() {
    let (store, _dir) = store().await;
    let broken = alerter(&store, Recording { failing: true, ..Recording::default() });
    assert_eq!(broken.handle(&[failed_run("sales", "r1")], MORNING).await.unwrap().failed, 3);
    assert!(store.raised_alerts(Some("sales")).await.unwrap().is_empty(), "un-raised");
    let working = alerter(&store, Recording::default());
    assert_eq!(working.handle(&[failed_run("sales", "r1")], MORNING + 1).await.unwrap().posted, 2);
    store.close().await;
}

#[tokio::test]
async fn rpo_and_drill_conditions_are_their_own() {
    let (store, _dir) = store().await;
    let alerts = alerter(&store, Recording::default());
    let over = condition::rpo_measured("sales", Some(45 * 60_000), Some(30)).unwrap();
    let drill = condition::operation_result("sales", Condition::Drill, "d1", false, "Drill of sales failed at step 3");
    let report = alerts.handle(&[over, drill, failed_run("sales", "r1")], MORNING).await.unwrap();
    assert_eq!(report.posted, 6, "three conditions, two chats each");
    let under = condition::rpo_measured("sales", Some(10 * 60_000), Some(30)).unwrap();
    assert_eq!(under.state, State::Clear);
    assert_eq!(alerts.handle(&[under], MORNING + 1).await.unwrap().posted, 2, "the RPO recovered, the rest stays");
    let raised = store.raised_alerts(Some("sales")).await.unwrap();
    assert_eq!(raised.iter().map(|r| r.condition.as_str()).collect::<Vec<_>>(), ["drill", "replication"]);
    store.close().await;
}

/// A run that succeeds with objects left blocked raises its own alert (the
/// replication condition stays clear): once while runs keep leaving them,
/// and "recovered" once a run leaves none.
#[tokio::test]
async fn objects_left_blocked_alert_apart_from_failures_and_recover_once() {
    let (store, _dir) = store().await;
    let alerts = alerter(&store, Recording::default());
    let ended = |run: &str, blocked: u64| {
        let counts = json!({"outcome": "succeeded", "failed": 0, "blocked": blocked, "blocked_data": blocked,
            "whole_metastore": true});
        let mut observations = condition::replication_blocked("sales", run, &counts);
        observations.extend(condition::replication_ended("sales", run, &counts));
        observations
    };
    assert_eq!(alerts.handle(&ended("r1", 2), MORNING).await.unwrap().posted, 2, "two chats");
    assert_eq!(alerts.handle(&ended("r2", 2), MORNING + 1).await.unwrap(), Delivered::default(), "still blocked");
    let raised = store.raised_alerts(Some("sales")).await.unwrap();
    assert_eq!(raised.iter().map(|r| r.condition.as_str()).collect::<Vec<_>>(), ["replication_blocked"]);
    assert!(raised[0].summary.contains("2 object(s) blocked") && raised[0].summary.contains("r1"), "{raised:?}");

    assert_eq!(alerts.handle(&ended("r3", 0), MORNING + 2).await.unwrap().posted, 2, "recovered, once");
    assert_eq!(alerts.handle(&ended("r4", 0), MORNING + 3).await.unwrap(), Delivered::default());
    let posts = alerts.sink().posts.lock().clone();
    let headlines: Vec<String> = posts.iter().map(|(_, alert, _)| alert.headline()).collect();
    assert_eq!(headlines[0], "Pair sales: objects are blocked from replication");
    assert_eq!(headlines[3], "Pair sales: no object is blocked from replication any more");
    assert!(store.raised_alerts(Some("sales")).await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_hundred_pairs_failing_at_once_stay_within_the_pacing_limits() {
    let (store, _dir) = store().await;
    let alerts = alerter(&store, Recording::default());
    let mut raised = Vec::new();
    for i in 0..100 {
        let alert = alerts.observe(&failed_run(&format!("pair-{i:03}"), "r1"), MORNING).await.unwrap();
        raised.push(alert.expect("news"));
    }

    // From here on nothing touches the database, so tokio's clock can be paused.
    tokio::time::pause();
    let start = Instant::now();
    let report = alerts.deliver(raised).await;
    assert_eq!(report, Delivered { posted: 200, notified: 100, failed: 0 });

    let posts = alerts.sink().posts.lock().clone();
    let notifications = alerts.sink().notifications.lock().clone();
    let mut by_conversation: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for (conversation, _, at) in &posts {
        by_conversation.entry(conversation).or_default().push(*at - start);
    }
    assert_eq!(by_conversation.len(), 101, "the ops channel and each pair's chat");
    for (conversation, at) in &by_conversation {
        for first in at {
            for (limit, window) in TEAMS_CONVERSATION_LIMITS {
                let inside = at.iter().filter(|t| **t >= *first && **t < *first + window).count();
                assert!(inside <= limit, "{inside} posts to {conversation} within {window:?} from {first:?}");
            }
        }
    }
    // The ops channel takes 100 alerts at 60 per 30 s: the burst is spread, not dropped.
    assert!(by_conversation["ops"].last().unwrap() >= &Duration::from_secs(30), "{:?}", by_conversation["ops"]);
    let tenant: Vec<Duration> = posts
        .iter()
        .map(|(_, _, at)| *at - start)
        .chain(notifications.iter().map(|(_, _, _, at)| *at - start))
        .collect();
    for first in &tenant {
        let inside = tenant.iter().filter(|t| **t >= *first && **t < *first + Duration::from_secs(1)).count();
        assert!(inside <= TENANT_SENDS_PER_SECOND as usize, "{inside} sends in the tenant within a second");
    }
    // Each notification follows its alert's first post and links to it.
    for (_, alert, link, at) in &notifications {
        let (_, _, posted_at) = posts.iter().find(|(_, a, _)| a == alert).unwrap();
        assert!(posted_at <= at && link.is_some(), "{alert:?}");
    }
}
