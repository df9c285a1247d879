//! Scheduled readiness posts through the running bot: a subscription made in
//! chat posts the dashboard when its time comes (the scheduler's clock is
//! moved by hand), once; a chat that removed the bot loses its subscription,
//! and so does a channel Teams says is deleted, or a tenant that blocks the bot.

mod support;

use std::time::{Duration, Instant};

use drbot::clock::ManualClock;
use sandbox::connector::Verb;
use support::chat::{card_text, Chat};
use support::World;

fn fast(config: &mut drbot::config::Config) {
    config.operations.scheduler_tick_ms = 50;
}

/// Polls `check` until it holds (deadline 30 s).
async fn eventually<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, check: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_subscription_posts_the_dashboard_at_its_time_once() {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    assert!(card_text(&chat.say("subscribe every 6h").await).contains("Subscribed"));
    let store = world.bot.app.store.clone();
    let first_fire = store.subscriptions(chat.conversation.id()).await.unwrap()[0].next_fire_ms;
    let dashboards = || {
        world
            .sandbox
            .connector
            .recorded()
            .into_iter()
            .filter(|r| r.verb == Verb::Send && card_text(r).contains("Plan a replication"))
            .count()
    };
    assert_eq!(dashboards(), 0, "nothing before its time");

    clock.advance(Duration::from_secs(6 * 3600 + 120));
    eventually("the scheduled dashboard", || async { dashboards() == 1 }).await;
    // The firing was claimed: the next one is six hours on, and no second post came for this one.
    let next = store.subscriptions(chat.conversation.id()).await.unwrap()[0].next_fire_ms;
    assert_eq!(next, first_fire + 6 * 3_600_000);
    let posted =
        world.sandbox.connector.recorded().into_iter().find(|r| card_text(r).contains("Plan a replication")).unwrap();
    assert!(card_text(&posted).contains("PRIMARY"), "the dashboard, read as the bot: {}", card_text(&posted));
    assert_eq!(dashboards(), 1);
}

/// Alice subscribes her chat to an hourly post; `refuse` makes Teams refuse
/// the bot's sends there; the firing an hour later must remove the subscription.
async fn a_refused_post_removes_the_subscription(refuse: impl FnOnce(&World, &str)) {
    let clock = ManualClock::new();
    let world = World::start_with_clock(fast, clock.clone()).await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    assert!(card_text(&chat.say("subscribe every 1h").await).contains("Subscribed"));
    refuse(&world, chat.conversation.id());
    clock.advance(Duration::from_secs(3600 + 120));
    let store = world.bot.app.store.clone();
    let id = chat.conversation.id().to_string();
    eventually("the subscription removed", || {
        let (store, id) = (store.clone(), id.clone());
        async move { store.subscriptions(&id).await.unwrap().is_empty() }
    })
    .await;
}

#[tokio::test]
async fn a_chat_that_removed_the_bot_loses_its_subscription() {
    a_refused_post_removes_the_subscription(|world, id| world.sandbox.connector.remove_bot_from(id)).await;
}

/// Teams says a channel was deleted (`conversationUpdate`, `eventType`
/// `channelDeleted`): its conversation and scheduled posts are forgotten at
/// once, before any firing meets a refusal.
#[tokio::test]
async fn a_deleted_channel_loses_its_subscription_at_once() {
    let world = World::start_with_clock(fast, ManualClock::new()).await;
    let user = world.sandbox.teams.user("alice").unwrap();
    let conversation = world.sandbox.teams.channel("dr-team", "dr-ops");
    let chat = Chat { world: &world, user: user.clone(), conversation: conversation.clone() };
    let added = world.sandbox.teams.bot_added(&user, &conversation);
    assert_eq!(world.sandbox.teams.send(&added).await.unwrap().status, 200);
    chat.sign_in().await;
    assert!(card_text(&chat.say("subscribe every 1h").await).contains("Subscribed"));
    let store = world.bot.app.store.clone();
    let id = conversation.id().to_string();
    assert_eq!(store.subscriptions(&id).await.unwrap().len(), 1);

    let mut deleted = world.sandbox.teams.base_activity("conversationUpdate", &user, &conversation);
    deleted["channelData"]["eventType"] = serde_json::json!("channelDeleted");
    assert_eq!(world.sandbox.teams.send(&deleted).await.unwrap().status, 200);
    assert!(store.subscriptions(&id).await.unwrap().is_empty(), "gone with the turn, no firing needed");
    assert_eq!(store.conversation(&id).await.unwrap(), None);
}

/// A tenant admin blocks the bot: Teams answers sends 403
/// `BotDisabledByAdmin`, handled like a bot removed from the chat.
#[tokio::test]
async fn a_bot_disabled_by_the_admin_stops_posting() {
    a_refused_post_removes_the_subscription(|world, _| world.sandbox.connector.disable_bot()).await;
}
