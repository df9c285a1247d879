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
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let runs = card_text(&chat.say("runs").await);
    assert!(runs.contains("No replication has run here yet"), "{runs}");
    let unknown = card_text(&chat.say("run r-404").await);
    assert!(unknown.contains("No such run"), "{unknown}");
}

/// A replication run started from `conversation` (a run from chat is an
/// operation of its conversation, under the same id).
async fn run_in(world: &World, conversation: &str, catalog: &str) -> String {
    let store = &world.bot.app.store;
    let new = drbot::store::operations::NewOperation {
        idempotency_key: format!("replicate:{conversation}-{catalog}"),
        kind: drbot::store::operations::Kind::Replication,
        conversation_id: conversation.into(),
        card_activity_id: None,
        started_by_oid: None,
        started_by_upn: Some(format!("someone@{catalog}.example")),
        pair: None,
        payload: serde_json::json!({}),
    };
    let (op, _) = store.create_operation(&new, "instance", 1_000, 60_000).await.unwrap();
    let run = drbot::store::runs::Run {
        id: op.id.clone(),
        started_by_oid: None,
        started_by_upn: Some(format!("someone@{catalog}.example")),
        catalog_filter: Some(catalog.into()),
        dry_run: false,
        started_ms: 1_000,
        finished_ms: None,
        counts: None,
        scheduled: false,
    };
    assert!(store.start_run(&run).await.unwrap());
    op.id
}

/// `runs` and `run ID` name catalogs, people and failures: they need
/// sign-in and one of drbot's roles, and show only this chat's runs (an
/// admin sees every chat's). Each refusal is a card and an audit entry.
#[tokio::test]
async fn runs_need_sign_in_and_a_role_and_show_only_this_chats_runs() {
    let world = World::start_with(|config| config.access.replicate.push("bob@contoso.example".into())).await;
    let (alice, bob, carol) =
        (Chat::personal(&world, "alice"), Chat::personal(&world, "bob"), Chat::personal(&world, "carol"));
    let alices = run_in(&world, alice.conversation.id(), "alices_catalog").await;
    let bobs = run_in(&world, bob.conversation.id(), "bobs_catalog").await;

    // Not signed in: a sign-in prompt, not the history.
    let prompt = carol.say("runs").await;
    assert!(prompt.adaptive_card().is_none(), "{:?}", prompt.body);
    assert!(prompt.body.to_string().contains("oauth"), "{}", prompt.body);
    assert!(!prompt.body.to_string().contains("catalog"), "{}", prompt.body);

    // Signed in without a role: refused, and the refusal is audited.
    carol.sign_in().await;
    for (text, action) in [("runs", "read the run history"), (&*format!("run {bobs}"), "read a run")] {
        let refused = card_text(&carol.say(text).await);
        assert!(refused.contains("Carol") && !refused.contains("bobs_catalog"), "{text}: {refused}");
        let audit = world.bot.app.store.recent_audit(20).await.unwrap();
        assert!(
            audit.iter().any(|e| e.actor_upn.as_deref() == Some("carol@contoso.example")
                && e.action == action
                && e.result == "refused"),
            "{text}: {audit:?}"
        );
    }

    // A role holder sees this chat's runs, and not another chat's.
    bob.sign_in().await;
    let listed = card_text(&bob.say("runs").await);
    assert!(listed.contains("bobs_catalog") && !listed.contains("alices_catalog"), "{listed}");
    let own = card_text(&bob.say(&format!("run {bobs}")).await);
    assert!(own.contains("bobs_catalog"), "{own}");
    let other = card_text(&bob.say(&format!("run {alices}")).await);
    assert!(other.contains("No such run") && !other.contains("alices_catalog"), "{other}");

    // An admin sees every chat's.
    alice.sign_in().await;
    let everything = card_text(&alice.say("runs").await);
    assert!(everything.contains("bobs_catalog") && everything.contains("alices_catalog"), "{everything}");
    let bobs_run = card_text(&alice.say(&format!("run {bobs}")).await);
    assert!(bobs_run.contains("bobs_catalog"), "{bobs_run}");
}

/// In local anonymous mode nobody signs in; the local user's roles stand
/// for it. Without any, `whoami` is refused like every other command (it
/// used to skip the gate), with the refusal in the audit log: under the
/// name and id the Playground gives the user, never as an Entra object id.
#[tokio::test]
async fn whoami_in_local_mode_needs_a_local_role() {
    let world = World::start_with(|config| {
        config.server.local_anonymous = true;
        config.access.local_roles.clear();
    })
    .await;
    let alice = world.alice();
    let chat = world.sandbox.teams.personal(&alice);
    let message = world.sandbox.teams.message(&alice, &chat, "whoami");
    let sent = world.sandbox.teams.send_raw(message.to_string().into_bytes(), None).await.unwrap();
    assert_eq!(sent.status, 200);
    world.sandbox.connector.wait_for(1, support::PATIENCE).await.unwrap();
    let refused = card_text(&world.sandbox.connector.recorded()[0]);
    assert!(refused.contains(&alice.name) && refused.contains("whoami"), "{refused}");
    let audit = world.bot.app.store.recent_audit(10).await.unwrap();
    let local = format!("local-playground-user:{}", alice.oid);
    assert!(
        audit.iter().any(|e| e.actor_upn.as_deref() == Some(local.as_str())
            && e.actor_oid.is_none()
            && e.action == "whoami"
            && e.result == "refused"),
        "{audit:?}"
    );
}
