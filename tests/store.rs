//! One behaviour suite for the store, run on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `DRBOT_TEST_POSTGRES_URL` (default the local
//! server, trust auth); each test gets a database of its own and drops it.

use drbot::scheduler::schedule::Schedule;
use drbot::store::audit::AuditEntry;
use drbot::store::conversations::ConversationReference;
use drbot::store::subscriptions::NewSubscription;
use drbot::store::Store;
#[macro_use]
mod support;

use support::fresh::Fresh;

on_both_backends!(claim_once_has_one_winner_until_the_key_expires, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.claim_once("msteams/a:1/exchange-1", 1_000, 60_000).await.unwrap());
    assert!(!store.claim_once("msteams/a:1/exchange-1", 2_000, 60_000).await.unwrap());
    assert!(store.claim_once("msteams/a:1/exchange-2", 2_000, 60_000).await.unwrap());
    assert!(store.claim_once("msteams/a:1/exchange-1", 61_001, 60_000).await.unwrap(), "expired keys are free again");
    assert_eq!(store.purge_expired_claims(1_000_000).await.unwrap(), 2);
    store.close().await;
    fresh
});

on_both_backends!(a_claim_given_up_before_it_expires_is_won_again, |fresh: Fresh| async move {
    let store = fresh.open().await;
    assert!(store.claim_once("replication-paused:finance", 1_000, 60_000).await.unwrap());
    assert!(store.release_claim("replication-paused:finance").await.unwrap());
    assert!(!store.release_claim("replication-paused:finance").await.unwrap(), "nothing left to give up");
    assert!(store.claim_once("replication-paused:finance", 2_000, 60_000).await.unwrap(), "won again");
    store.close().await;
    fresh
});

on_both_backends!(racing_instances_claim_a_key_exactly_once, |fresh: Fresh| async move {
    // Two stores: two bot instances with their own pools on one database.
    let (first, second) = (fresh.open().await, fresh.open().await);
    let attempts = (0..40).map(|i| {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        async move { store.claim_once("msteams/conv/exchange-42", 5_000, 60_000).await.unwrap() }
    });
    let winners = futures::future::join_all(attempts).await.into_iter().filter(|won| *won).count();
    assert_eq!(winners, 1);
    first.close().await;
    second.close().await;
    fresh
});

on_both_backends!(instances_starting_together_migrate_once, |fresh: Fresh| async move {
    let opened = futures::future::join_all((0..3).map(|_| Store::open(fresh.url()))).await;
    for (i, store) in opened.into_iter().enumerate() {
        let store = store.unwrap();
        assert!(store.claim_once(&format!("instance-{i}"), 0, 10).await.unwrap());
        store.close().await;
    }
    let store = fresh.open().await;
    assert!(store.claim_once("after-migration", 0, 10).await.unwrap());
    store.close().await;
    fresh
});

on_both_backends!(conversation_references_round_trip, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let mut reference = ConversationReference {
        conversation_id: "19:abc@thread.tacv2;messageid=1".into(),
        service_url: "https://smba.trafficmanager.net/emea/".into(),
        channel_id: "msteams".into(),
        bot_id: "28:app".into(),
        tenant_id: Some("tenant".into()),
        conversation_type: Some("channel".into()),
        teams_channel_id: Some("19:abc@thread.tacv2".into()),
        team_id: Some("19:team@thread.tacv2".into()),
        installed_by_oid: Some("oid-1".into()),
    };
    store.save_conversation(&reference, 1).await.unwrap();
    assert_eq!(store.conversation(&reference.conversation_id).await.unwrap().as_ref(), Some(&reference));
    reference.service_url = "https://smba.trafficmanager.net/amer/".into();
    reference.installed_by_oid = None;
    store.save_conversation(&reference, 2).await.unwrap();
    let saved = store.conversation(&reference.conversation_id).await.unwrap().unwrap();
    assert_eq!(saved.service_url, "https://smba.trafficmanager.net/amer/");
    assert_eq!(saved.installed_by_oid.as_deref(), Some("oid-1"), "who installed is kept");
    assert!(store.forget_conversation(&reference.conversation_id).await.unwrap());
    assert_eq!(store.conversation(&reference.conversation_id).await.unwrap(), None);
    assert!(!store.forget_conversation(&reference.conversation_id).await.unwrap());
    store.close().await;
    fresh
});

on_both_backends!(a_channel_or_team_that_is_gone_takes_its_conversations_and_posts_along, |fresh: Fresh| async move {
    let store = fresh.open().await;
    let reference = |id: &str, channel: Option<&str>, team: Option<&str>| ConversationReference {
        conversation_id: id.into(),
        service_url: "https://smba.trafficmanager.net/emea/".into(),
        channel_id: "msteams".into(),
        bot_id: "28:app".into(),
        tenant_id: Some("tenant".into()),
        conversation_type: Some(if team.is_some() { "channel" } else { "personal" }.into()),
        teams_channel_id: channel.map(String::from),
        team_id: team.map(String::from),
        installed_by_oid: None,
    };
    let conversations = [
        reference("19:ops@thread.tacv2;messageid=1", Some("19:ops@thread.tacv2"), Some("19:team@thread.tacv2")),
        reference("19:ops@thread.tacv2;messageid=2", Some("19:ops@thread.tacv2"), Some("19:team@thread.tacv2")),
        reference("19:dr@thread.tacv2;messageid=3", Some("19:dr@thread.tacv2"), Some("19:team@thread.tacv2")),
        reference(
            "19:other@thread.tacv2;messageid=4",
            Some("19:other@thread.tacv2"),
            Some("19:other-team@thread.tacv2"),
        ),
        reference("a:personal", None, None),
    ];
    for conversation in &conversations {
        store.save_conversation(conversation, 1).await.unwrap();
        let new = NewSubscription {
            conversation_id: conversation.conversation_id.clone(),
            tenant_id: Some("tenant".into()),
            schedule: Schedule::Every { minutes: 60 },
            pair: None,
            created_by_oid: None,
            created_by_upn: None,
        };
        store.subscribe(&new, 1).await.unwrap();
    }
    let known = |i: usize| {
        let (store, id) = (store.clone(), conversations[i].conversation_id.clone());
        async move {
            let reference = store.conversation(&id).await.unwrap();
            let posts = store.subscriptions(&id).await.unwrap();
            assert_eq!(reference.is_some(), !posts.is_empty(), "{id}: a reference and its posts go together");
            reference.is_some()
        }
    };
    assert_eq!(store.forget_channel("19:ops@thread.tacv2").await.unwrap(), 2, "both threads of the channel");
    assert!(!known(0).await && !known(1).await && known(2).await);
    assert_eq!(store.forget_team("19:team@thread.tacv2").await.unwrap(), 1, "the team's other channel");
    assert!(!known(2).await && known(3).await && known(4).await, "other teams and chats stay");
    assert!(store.forget_conversation("a:personal").await.unwrap());
    assert!(!known(4).await && known(3).await);
    store.close().await;
    fresh
});

on_both_backends!(audit_entries_come_back_newest_first, |fresh: Fresh| async move {
    let store = fresh.open().await;
    for (i, action) in ["replicate", "deploy spoke", "signin"].iter().enumerate() {
        store
            .append_audit(&AuditEntry {
                id: format!("entry-{i}"),
                at_ms: 1_000 + i as i64,
                actor_oid: Some("oid".into()),
                actor_upn: Some("alice@contoso.example".into()),
                action: action.to_string(),
                target: Some("main'; DROP TABLE audit; --".into()),
                result: "refused".into(),
                correlation_id: Some("c".into()),
            })
            .await
            .unwrap();
    }
    let recent = store.recent_audit(2).await.unwrap();
    assert_eq!(recent.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["signin", "deploy spoke"]);
    assert_eq!(recent[0].target.as_deref(), Some("main'; DROP TABLE audit; --"), "stored as data, never as SQL");
    assert_eq!(store.recent_audit(10).await.unwrap().len(), 3);
    store.close().await;
    fresh
});

#[tokio::test]
async fn an_unknown_url_is_refused_without_leaking_credentials() {
    let error = Store::open("mysql://user:hunter2@db/drbot").await.err().unwrap().to_string();
    assert!(error.contains("sqlite:// or postgres://"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

on_both_backends!(a_pending_command_is_taken_once_and_only_while_fresh, |fresh: Fresh| async move {
    let store = fresh.open().await;
    store.save_pending_command("a:1", "29:alice", "whoami", 1_000).await.unwrap();
    store.save_pending_command("a:1", "29:alice", "replicate main", 2_000).await.unwrap();
    assert_eq!(
        store.take_pending_command("a:1", "29:alice", 3_000, 60_000).await.unwrap().as_deref(),
        Some("replicate main")
    );
    assert_eq!(store.take_pending_command("a:1", "29:alice", 3_000, 60_000).await.unwrap(), None, "taken once");
    store.save_pending_command("a:1", "29:bob", "status", 1_000).await.unwrap();
    assert_eq!(store.take_pending_command("a:1", "29:bob", 100_000, 60_000).await.unwrap(), None, "too old to run");
    store.close().await;
    fresh
});

on_both_backends!(table_versions_keep_the_newest_replicated_version_and_the_last_reading, |fresh: Fresh| async move {
    use drbot::store::table_versions::{Commit, TableVersion};
    let store = fresh.open().await;
    let c = |version, commit_ms| Commit { version, commit_ms };
    store.record_replicated("finance", "main.sales.orders", c(4, 40), 100).await.unwrap();
    store.record_replicated("finance", "main.sales.orders", c(3, 30), 110).await.unwrap(); // an older clone's late result
    store.record_source_reading("finance", "main.sales.orders", c(6, 60), 120).await.unwrap();
    store.record_source_reading("finance", "main.sales.events", c(2, 20), 120).await.unwrap();
    let rows = store.table_versions("finance").await.unwrap();
    assert_eq!(
        rows,
        vec![
            TableVersion {
                table_name: "main.sales.events".into(),
                replicated: None,
                replicated_ms: None,
                source: Some(c(2, 20)),
                read_ms: Some(120),
            },
            TableVersion {
                table_name: "main.sales.orders".into(),
                replicated: Some(c(4, 40)),
                replicated_ms: Some(100),
                source: Some(c(6, 60)),
                read_ms: Some(120),
            },
        ]
    );
    store.record_replicated("finance", "main.sales.orders", c(6, 60), 130).await.unwrap();
    let orders = store.table_versions("finance").await.unwrap().pop().unwrap();
    assert_eq!((orders.replicated, orders.replicated_ms), (Some(c(6, 60)), Some(130)));
    // Another pair's table of the same name is another table: its own versions.
    store.record_replicated("hr", "main.sales.orders", c(1, 10), 140).await.unwrap();
    let hr = store.table_versions("hr").await.unwrap();
    assert_eq!(hr.len(), 1);
    assert_eq!((hr[0].replicated, hr[0].source), (Some(c(1, 10)), None));
    let orders = store.table_versions("finance").await.unwrap().pop().unwrap();
    assert_eq!(orders.replicated, Some(c(6, 60)), "untouched by the other pair's clone");
    store.close().await;
    fresh
});

/// An in-memory SQLite database is one connection's own: the store keeps
/// that one connection (never reaped for idleness or age), so what was
/// written is there for every later call, concurrent ones included.
#[tokio::test]
async fn an_in_memory_store_keeps_its_data_across_calls() {
    let store = Store::open("sqlite::memory:").await.expect("an in-memory store");
    let claims = (0..8).map(|i| {
        let store = store.clone();
        async move { store.claim_once(&format!("key-{i}"), 1_000, 60_000).await.unwrap() }
    });
    assert!(
        futures::future::join_all(claims).await.into_iter().all(|won| won),
        "each key once, on the migrated tables"
    );
    for i in 0..8 {
        assert!(!store.claim_once(&format!("key-{i}"), 2_000, 60_000).await.unwrap(), "key-{i} is remembered");
    }
    store.close().await;
}
