//! A pair whose replication Databricks' managed DR runs (`failover_group`):
//! `status` reads the group through the account API and shows its RPO from
//! the replication point, beside what drbot reads of the pair itself; a
//! group it cannot read is said, never silently left out.

mod support;

use support::chat::{card_text, wait_for, Chat};
use support::World;

use sandbox::connector::Verb;

const GROUP: &str = "sales-dr";

#[tokio::test]
async fn status_shows_the_failover_groups_rpo_and_says_when_it_cannot_read_it() {
    let world = World::start_with(|config| {
        config.deploy.databricks_account_id = Some(sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID.into());
    })
    .await;
    // The sandbox's one pair, as `[[pairs]] failover_group` would seed it.
    let store = &world.bot.app.store;
    let mut pair = store.pairs().await.unwrap().into_iter().next().expect("the sandbox's pair");
    pair.failover_group = Some(GROUP.into());
    store.seed_pair(&pair, 0).await.unwrap();
    let point = chrono::Utc::now() - chrono::Duration::minutes(7);
    world.sandbox.accounts.failover_groups.add(GROUP, &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    // Alice is no account admin yet: the group is unread, and the card says so.
    let status = status_card(&world, &chat).await;
    assert!(status.contains("Managed DR's failover group sales-dr is unread"), "{status}");
    assert!(status.contains("permission denied"), "{status}");

    world.sandbox.accounts.add_account_admin(&world.alice().upn);
    let status = status_card(&world, &chat).await;
    assert!(status.contains("Managed DR RPO"), "{status}");
    assert!(status.contains("ACTIVE · primary westeurope"), "{status}");
    assert!(!status.contains("is unread"), "{status}");
}

async fn status_card(world: &World, chat: &Chat<'_>) -> String {
    let first = chat.say("status").await;
    if !card_text(&first).contains("Checking readiness") {
        return first.adaptive_card().cloned().expect("a card").to_string();
    }
    let id = first.activity_id.clone();
    let card = wait_for(world, "the dashboard", |r| r.verb == Verb::Update && r.activity_id == id).await;
    card.adaptive_card().cloned().expect("a card").to_string()
}
