//! A pair whose replication Databricks' managed DR runs (`failover_group`):
//! `status` reads the group through the account API and shows its RPO from
//! the replication point, managed DR's lag and errors from
//! `system.replication.states` (through the SQL statement API), and what is
//! in the group's catalogs that managed DR does not replicate, beside what
//! drbot reads of the pair itself; a group it cannot read is said, never
//! silently left out. drbot's own periodic check alerts on managed DR's
//! errors and on its lag over the pair's threshold, and clears both.

mod support;

use support::chat::{card_text, wait_for, Chat};
use support::World;

use sandbox::connector::Verb;
use sandbox::databricks::replication_states::BlockingError;
use sandbox::databricks::seed::ADMIN_GROUP;

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

#[tokio::test]
async fn status_shows_managed_dr_s_lag_its_errors_and_what_it_does_not_cover() {
    let world = World::start_with(|config| {
        config.deploy.databricks_account_id = Some(sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID.into());
    })
    .await;
    let store = &world.bot.app.store;
    let mut pair = store.pair("default").await.unwrap().expect("the sandbox's pair");
    pair.failover_group = Some(GROUP.into());
    store.seed_pair(&pair, 0).await.unwrap();
    let groups = &world.sandbox.accounts.failover_groups;
    let point = chrono::Utc::now() - chrono::Duration::minutes(7);
    groups.add(GROUP, &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    groups.set_catalogs(GROUP, &["main"]);
    // Tables with row filters hold managed DR back (an error with its counts).
    groups.report_errors(
        GROUP,
        &[BlockingError::new(
            "ROW_FILTER_NOT_SUPPORTED",
            "Tables with row filters or column masks cannot be replicated.",
            &[("TABLE", 3), ("VIEW", 1)],
        )],
    );
    // In the group's catalog: a materialized view, a streaming table and a
    // registered model (managed volumes are seeded), none of which managed DR copies.
    {
        let mut primary = world.sandbox.primary.metastore.write();
        let table = primary
            .tables
            .values()
            .find(|t| t.catalog == "main" && t.table_type == "MANAGED")
            .map(|t| format!("{}.{}.{}", t.catalog, t.schema, t.name))
            .expect("a managed table in main");
        let schema = table.rsplit_once('.').unwrap().0.to_string();
        for (name, kind) in [("daily_mv", "MATERIALIZED_VIEW"), ("events_st", "STREAMING_TABLE")] {
            let query = format!("SELECT * FROM {table}");
            let published = sandbox::databricks::datasets::publish(
                &mut primary,
                &format!("{schema}.{name}"),
                kind,
                &query,
                &[&table],
                "0f1e2d3c-pipeline",
                ADMIN_GROUP,
                1_800_000_000_000,
            );
            assert!(published, "{name}");
        }
        let model = format!("{schema}.churn_model");
        assert!(sandbox::databricks::models::seed(&mut primary, &model, "churn", 1, &[], ADMIN_GROUP, 0));
    }
    world.sandbox.accounts.add_account_admin(&world.alice().upn);
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    let status = status_card(&world, &chat).await;
    assert!(status.contains("Managed DR lag"), "{status}");
    assert!(status.contains("REPLICATING · 1 error, 4 assets"), "{status}");
    assert!(status.contains("managed DR: ROW_FILTER_NOT_SUPPORTED"), "{status}");
    assert!(status.contains("3 table, 1 view"), "{status}");
    assert!(status.contains("Managed DR cannot replicate 4 assets"), "{status}");
    for kind in ["materialized views", "streaming tables", "managed volume files", "registered models"] {
        assert!(status.contains(&format!("not covered by managed DR: {kind}")), "{kind}: {status}");
    }
    assert!(status.contains("daily_mv") && status.contains("churn_model"), "{status}");
    // Read through the active side's (the primary's) warehouse, as the system table is.
    let queried = world.sandbox.primary.statements.history();
    assert!(queried.iter().any(|s| s.statement.contains("FROM system.replication.states")), "{queried:?}");
}

#[tokio::test]
async fn managed_dr_errors_and_a_lag_over_the_threshold_alert_and_clear_when_managed_dr_catches_up() {
    let clock = drbot::clock::ManualClock::new();
    let world = World::start_with_clock(
        |config| {
            config.deploy.databricks_account_id = Some(sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID.into());
            config.operations.scheduler_tick_ms = 50;
            config.operations.rpo_check_secs = 600;
        },
        clock.clone(),
    )
    .await;
    let store = world.bot.app.store.clone();
    let groups = &world.sandbox.accounts.failover_groups;
    groups.add(
        GROUP,
        &["westeurope", "northeurope"],
        "westeurope",
        &[1, 2],
        chrono::Utc::now() - chrono::Duration::minutes(40),
    );
    groups.report_errors(
        GROUP,
        &[BlockingError::new(
            "ROW_FILTER_NOT_SUPPORTED",
            "Tables with row filters cannot be replicated.",
            &[("TABLE", 2)],
        )],
    );
    // drbot's own identity reads the account, as the periodic check acts as drbot.
    world.sandbox.accounts.add_account_admin(sandbox::SANDBOX_BOT_APP_ID);
    let mut pair = store.pair("default").await.unwrap().expect("the sandbox's pair");
    pair.failover_group = Some(GROUP.into());
    pair.rpo_alert_minutes = Some(30);
    store.seed_pair(&pair, 0).await.unwrap();

    let raised = |wanted: &'static [&'static str]| {
        let store = store.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let alerts = store.raised_alerts(Some("default")).await.unwrap();
                let now: Vec<&str> =
                    alerts.iter().map(|a| a.condition.as_str()).filter(|c| c.starts_with("managed_dr")).collect();
                if now == wanted {
                    return alerts;
                }
                assert!(std::time::Instant::now() < deadline, "raised {now:?}, not {wanted:?}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    let alerts = raised(&["managed_dr_errors", "managed_dr_lag"]).await;
    let errors = alerts.iter().find(|a| a.condition == "managed_dr_errors").unwrap();
    assert!(errors.summary.contains("ROW_FILTER_NOT_SUPPORTED (2 asset(s) affected)"), "{errors:?}");
    let lag = alerts.iter().find(|a| a.condition == "managed_dr_lag").unwrap();
    assert!(lag.summary.contains("over its threshold of 30 min"), "{lag:?}");

    // Managed DR catches up, its errors fixed: the next check clears both.
    groups.set_replication_point(GROUP, chrono::Utc::now());
    clock.advance(std::time::Duration::from_secs(11 * 60));
    raised(&[]).await;
}

#[tokio::test]
async fn the_all_pairs_overview_lists_managed_and_drbot_replicated_pairs_side_by_side() {
    let world = World::start_with(|config| {
        config.deploy.databricks_account_id = Some(sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID.into());
    })
    .await;
    let store = &world.bot.app.store;
    let mut managed = store.pair("default").await.unwrap().expect("the sandbox's pair");
    managed.failover_group = Some(GROUP.into());
    store.seed_pair(&managed, 0).await.unwrap();
    // A second pair drbot replicates itself (same workspaces, its own shares).
    let mut own = drbot::pairs::Pair::new(
        "finance",
        drbot::pairs::PairWorkspace::at(&world.sandbox.primary_url()),
        drbot::pairs::PairWorkspace::at(&world.sandbox.secondary_url()),
    );
    own.warehouse_id = managed.warehouse_id.clone();
    own.primary_warehouse_id = managed.primary_warehouse_id.clone();
    store.seed_pair(&own, 0).await.unwrap();
    let point = chrono::Utc::now() - chrono::Duration::minutes(7);
    world.sandbox.accounts.failover_groups.add(GROUP, &["westeurope", "northeurope"], "westeurope", &[1, 2], point);
    world.sandbox.accounts.add_account_admin(&world.alice().upn);
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    let overview = status_card(&world, &chat).await;
    assert!(overview.contains("DR readiness of every pair"), "{overview}");
    assert!(overview.contains("Replicated by · worst RPO · drift · last run"), "{overview}");
    let row_of = |name: &str| {
        let card: serde_json::Value = serde_json::from_str(&overview).unwrap();
        let rows = card["body"].as_array().unwrap().clone();
        let row = rows
            .into_iter()
            .find(|r| r["selectAction"]["data"]["text"] == format!("status {name}"))
            .unwrap_or_else(|| panic!("no row of {name}: {overview}"));
        row["columns"][2]["items"][0]["text"].as_str().unwrap().to_string()
    };
    let managed_cell = row_of("default");
    assert!(managed_cell.starts_with("managed DR (sales-dr) · 7 min"), "{managed_cell}");
    assert!(managed_cell.contains("ACTIVE, replicated 7 min ago"), "{managed_cell}");
    let own_cell = row_of("finance");
    assert!(own_cell.starts_with("drbot · "), "{own_cell}");
    assert_eq!(own_cell.matches(" · ").count(), managed_cell.matches(" · ").count(), "the same columns");
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
