//! The chat commands that need no workspace: subscriptions, run history and
//! the audit log, with drbot's roles and the audit trail of every attempt.

mod support;

use support::chat::{card_text, Chat};
use support::World;

#[tokio::test]
async fn subscribe_list_and_unsubscribe_in_one_chat() {
    let world = World::start().await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    let subscribed = card_text(&chat.say("subscribe daily 08:00 Europe/Amsterdam").await);
    assert!(subscribed.contains("Subscribed") && subscribed.contains("daily 08:00 europe/amsterdam"), "{subscribed}");
    let listed = card_text(&chat.say("subscriptions").await);
    assert!(listed.contains("Daily 08:00 Europe/Amsterdam"), "{listed}");
    let stored = world.bot.app.store.subscriptions(chat.conversation.id()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].created_by_upn.as_deref(), Some("alice@contoso.example"));

    let removed = card_text(&chat.say("unsubscribe").await);
    assert!(removed.contains("Unsubscribed"), "{removed}");
    assert!(world.bot.app.store.subscriptions(chat.conversation.id()).await.unwrap().is_empty());
    let none = card_text(&chat.say("unsubscribe").await);
    assert!(none.contains("No subscriptions"), "{none}");
}

#[tokio::test]
async fn the_audit_log_is_for_admins_and_records_the_refusal() {
    let world = World::start().await;
    let bob = Chat::personal(&world, "bob");
    bob.sign_in().await;
    let refused = card_text(&bob.say("audit").await);
    assert!(refused.contains("admin") && refused.contains("Bob"), "{refused}");

    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;
    let log = card_text(&alice.say("audit").await);
    assert!(log.contains("bob@contoso.example") && log.contains("refused"), "{log}");
    let entries = world.bot.app.store.recent_audit(10).await.unwrap();
    assert!(entries.iter().any(|e| e.actor_upn.as_deref() == Some("bob@contoso.example") && e.result == "refused"));
    assert!(entries.iter().any(|e| e.actor_upn.as_deref() == Some("alice@contoso.example") && e.result == "allowed"));
}

#[tokio::test]
async fn run_history_starts_empty_and_an_unknown_run_is_explained() {
    let world = World::start().await;
    let chat = Chat::personal(&world, "carol");
    let runs = card_text(&chat.say("runs").await);
    assert!(runs.contains("No replication has run yet"), "{runs}");
    let unknown = card_text(&chat.say("run r-404").await);
    assert!(unknown.contains("No such run"), "{unknown}");
}
