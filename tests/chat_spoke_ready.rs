//! A spoke that replicates the moment its bootstrap ends (issue #19's "Done
//! when"): against the sandbox, `deploy hub` then `deploy spoke crm` from
//! chat with the repository's own infra/, then, with no configuration edit,
//! `replicate crm` and Run copy the spoke's catalog to zero drift, and
//! `status crm` reports Ready. The bootstrap made everything that needs:
//! the storage, the recipient under the pair's name, the engine's warehouse
//! (recorded on the pair), the catalog's administrators and the DR group's
//! SELECT; replication hands the new share to the DR group.

mod support;

use sandbox::connector::Verb;
use serde_json::{json, Value};
use support::chat::{button, card_text, wait_for, Chat};
use support::deploy::real_infra_world;
use support::World;

/// The DR group of the sandbox: the operators (alice) and the metastore admins.
const DR_GROUP: &str = "dr-operators";

/// Types `command` and waits for the card that replaces its first answer.
async fn answer(world: &World, chat: &Chat<'_>, command: &str) -> (String, Value) {
    let first = chat.say(command).await;
    let id = first.activity_id.clone();
    let card = wait_for(world, command, |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, card.adaptive_card().cloned().expect("a card"))
}

/// Plans `command`, approves it, and returns its result card's text.
async fn deploy(world: &World, chat: &Chat<'_>, command: &str, title: &str) -> String {
    let (card_id, plan) = answer(world, chat, command).await;
    let clicked = chat.click(&card_id, "deploy.approve", button(&plan, "deploy.approve")).await;
    assert_eq!(clicked.status, 200);
    let result = wait_for(world, title, |r| {
        r.activity_id == card_id && (card_text(r).contains(title) || card_text(r).contains(" failed"))
    })
    .await;
    card_text(&result)
}

/// The real infra templates, their workspaces pointed at the sandbox's two.
async fn start() -> World {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut drbot::config::Config)) -> World {
    real_infra_world("crm", adjust).await
}

/// Data in the new spoke's catalog on the primary: a schema alice creates,
/// and a managed Delta table in it that a job of hers has written.
async fn some_data(world: &World) {
    let user = world.alice();
    let audience = sandbox::databricks::DATABRICKS_AUDIENCE;
    let token = world.sandbox.entra.user_token(&user, "drbot", audience, "user_impersonation");
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/2.0/sql/statements", world.sandbox.primary_url()))
        .bearer_auth(&token)
        .json(&json!({
            "statement": "CREATE SCHEMA IF NOT EXISTS `crm`.`accounts`",
            "warehouse_id": sandbox::databricks::statements::PRIMARY_WAREHOUSE_ID,
            "wait_timeout": "30s",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"]["state"], "SUCCEEDED", "{answer}");
    let mut metastore = world.sandbox.primary.metastore.write();
    let root = metastore.catalogs["crm"].storage_root.clone().expect("the spoke's catalog has its storage");
    let now = chrono::Utc::now().timestamp_millis();
    let table = sandbox::databricks::metastore::Table {
        catalog: "crm".into(),
        schema: "accounts".into(),
        name: "customers".into(),
        table_type: "MANAGED".into(),
        data_source_format: Some("DELTA".into()),
        storage_location: Some(format!("{}/__managed/accounts/customers", root.trim_end_matches('/'))),
        view_definition: None,
        view_dependencies: Vec::new(),
        view_functions: Vec::new(),
        columns: Vec::new(),
        options: Default::default(),
        delta_version: 3,
        last_commit_ms: now - 60_000,
        cloned_from: None,
        protection: Default::default(),
        constraints: Vec::new(),
        properties_commit: None,
        pipeline_id: None,
        column_metadata: Default::default(),
        common: sandbox::databricks::metastore::Common {
            owner: user.upn.clone(),
            created_at: now,
            updated_at: now,
            ..Default::default()
        },
    };
    metastore.tables.insert(table.full_name(), table);
}

#[tokio::test]
async fn a_spoke_deployed_from_chat_replicates_to_zero_drift_and_is_ready() {
    let world = start().await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    let hub = deploy(&world, &chat, "deploy hub", "Deployed the hub").await;
    assert!(hub.contains("Deployed the hub"), "{hub}");
    let spoke = deploy(&world, &chat, "deploy spoke crm", "Deployed spoke crm").await;
    assert!(spoke.contains("Deployed spoke crm"), "{spoke}");

    // The pair the bootstrap registered: its own catalog, its warehouse.
    let store = &world.bot.app.store;
    let pair = store.pair("crm").await.unwrap().expect("the spoke's pair");
    assert_eq!(pair.catalogs, ["crm"]);
    let warehouse_id = pair.warehouse_id.clone().expect("the engine's warehouse on the pair");
    let made = world.sandbox.secondary.warehouses.by_name("drbot-crm").expect("made in the secondary");
    assert_eq!(made.id, warehouse_id);
    assert!(made.serverless, "the region offers serverless SQL");
    assert_eq!(pair.sharing.recipient, "crm_secondary");
    // The catalog's administrators, and what the DR shares' owner needs.
    let grants = world.sandbox.primary.metastore.read().catalogs["crm"].common.grants.clone();
    let group = grants.get(DR_GROUP).cloned().unwrap_or_default();
    for privilege in ["ALL_PRIVILEGES", "USE_CATALOG", "USE_SCHEMA", "SELECT"] {
        assert!(group.contains(privilege), "{DR_GROUP} holds {privilege}: {grants:?}");
    }
    assert!(grants.get(&world.config.bot.app_id).is_some_and(|p| p.contains("ALL_PRIVILEGES")), "{grants:?}");

    some_data(&world).await;

    // No configuration edit: replicate the pair by name (its data and the
    // workspace's jobs: a pair is ready only with both), and Run.
    let (card_id, plan) = answer(&world, &chat, "replicate crm --assets").await;
    let text = plan.to_string();
    assert!(text.contains("Deep clone table"), "{text}");
    let clicked = chat.click(&card_id, "replicate.run", button(&plan, "replicate.run")).await;
    assert_eq!(clicked.status, 200);
    let result =
        wait_for(&world, "the run's result", |r| r.activity_id == card_id && card_text(r).contains("Run details"))
            .await;
    let result = card_text(&result);
    assert!(result.contains("succeeded"), "{result}");

    // The share belongs to the DR group, and the copy is there.
    let shares = world.sandbox.primary.sharing.lock().shares.clone();
    assert_eq!(shares.get("crm_crm").map(|s| s.owner.as_str()), Some(DR_GROUP), "{shares:?}");
    assert!(world.sandbox.secondary.metastore.read().tables.contains_key("crm.accounts.customers"));

    // Zero drift: a dry run finds nothing to do, and the pair is Ready.
    let (_, again) = answer(&world, &chat, "replicate crm --dry-run").await;
    let again = again.to_string();
    assert!(!again.contains("Deep clone table") && !again.contains("Create schema"), "{again}");
    let (_, status) = answer(&world, &chat, "status crm").await;
    let status = status.to_string();
    assert!(status.contains("\"Ready\""), "{status}");
}

/// A region without a metastore: creating one needs a Databricks account
/// admin, so a deployment by someone else says exactly that (the rest goes
/// on, the deployment does not fail), `status PAIR` shows it as a blocker
/// with its fix, and the same deployment by an account admin creates the
/// region's metastore and assigns it.
#[tokio::test]
async fn a_region_without_a_metastore_needs_an_account_admin_and_says_so() {
    let world = start_with(|config| {
        config.deploy.databricks_account_id = Some(sandbox::databricks::account_api::SANDBOX_ACCOUNT_ID.into());
    })
    .await;
    world.sandbox.secondary.remove_metastore();
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    deploy(&world, &chat, "deploy hub", "Deployed the hub").await;

    let result = deploy(&world, &chat, "deploy spoke crm", "Deployed spoke crm").await;
    assert!(result.contains("Deployed spoke crm"), "not a failed deployment: {result}");
    assert!(result.contains("metastore of northeurope not done"), "{result}");
    assert!(
        result.contains(
            "not a Databricks account admin; an account admin must create a Unity Catalog metastore in northeurope"
        ),
        "{result}"
    );
    let pair = world.bot.app.store.pair("crm").await.unwrap();
    assert!(pair.is_some(), "the pair is registered, to show what it still needs");

    let (_, status) = answer(&world, &chat, "status crm").await;
    let status = status.to_string();
    assert!(status.contains("the secondary workspace has no Unity Catalog metastore"), "{status}");
    assert!(status.contains("a Databricks account admin must create a metastore"), "{status}");

    // As an account admin, the same deployment creates and assigns it.
    world.sandbox.accounts.add_account_admin(&world.alice().upn);
    let result = deploy(&world, &chat, "deploy spoke crm", "Deployed spoke crm").await;
    assert!(result.contains("Deployed spoke crm") && !result.contains("metastore of northeurope"), "{result}");
    assert_eq!(
        world.sandbox.secondary.metastore_presence(),
        sandbox::databricks::account_metastores::Presence::Assigned
    );
    let (_, status) = answer(&world, &chat, "status crm").await;
    assert!(!status.to_string().contains("no Unity Catalog metastore"), "{status}");
}
