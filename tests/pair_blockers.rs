//! Readiness blockers (issue #19): a pair whose secondary is unreachable,
//! whose warehouse is missing or whose recipient was deleted shows a
//! blocker naming the fix, on `status PAIR` in chat and in
//! `drbot status --json`, instead of failing the next replication.

mod support;

use sandbox::connector::Verb;
use sandbox::databricks::sharing::Share;
use sandbox::databricks::statements::SANDBOX_WAREHOUSE_ID;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use support::chat::{card_text, wait_for, Chat};
use support::World;

/// `status default` in chat, once the dashboard replaced "Checking readiness".
async fn status(world: &World, chat: &Chat<'_>) -> String {
    let checking = chat.say("status default").await;
    let id = checking.activity_id.clone();
    card_text(&wait_for(world, "the dashboard", |r| r.verb == Verb::Update && r.activity_id == id).await)
}

/// The pair's sharing in place (a share of the pair on the primary), and
/// its recipient gone.
fn delete_the_recipient(sandbox: &Sandbox) {
    let mut sharing = sandbox.primary.sharing.lock();
    sharing.recipients.clear();
    sharing.shares.insert(
        "drbot_main".into(),
        Share { name: "drbot_main".into(), owner: sandbox::databricks::seed::ADMIN_GROUP.into(), ..Default::default() },
    );
}

#[tokio::test]
async fn status_in_chat_names_each_blocker_and_its_fix() {
    let world = World::start().await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;

    delete_the_recipient(&world.sandbox);
    let card = status(&world, &chat).await;
    assert!(card.contains("Not ready"), "{card}");
    assert!(card.contains("recipient drbot_secondary is missing on the primary"), "{card}");
    assert!(card.contains("fix: run replicate for this pair"), "{card}");

    assert!(world.sandbox.secondary.warehouses.delete(SANDBOX_WAREHOUSE_ID));
    let card = status(&world, &chat).await;
    assert!(card.contains(&format!("SQL warehouse {SANDBOX_WAREHOUSE_ID} does not exist in the secondary")), "{card}");
    assert!(card.contains("warehouse=ID"), "{card}");

    // The secondary refuses every token: unreachable, with what to check.
    world.sandbox.secondary.reject_next_tokens(10_000);
    let card = status(&world, &chat).await;
    assert!(card.contains("the secondary workspace is unreachable"), "{card}");
    assert!(card.contains("its URL on the pair is right"), "{card}");
}

async fn status_json(sandbox: &Sandbox, warehouse: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("drbot.toml");
    let config = format!(
        "{}\n[store]\ndata_dir = {:?}\n",
        sandbox.bot_config_toml("127.0.0.1:0", false),
        dir.path().join("data").display().to_string()
    );
    std::fs::write(&config_path, config).unwrap();
    let user = sandbox.teams.user("alice").unwrap();
    let token =
        sandbox.entra.user_token(&user, "drbot", sandbox::databricks::DATABRICKS_AUDIENCE, "user_impersonation");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["--log-format", "text", "status", "--json", "--token-from-env", "--warehouse-id", warehouse])
        .arg("--config")
        .arg(&config_path)
        .env("DRBOT_DATABRICKS_TOKEN", token)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is JSON alone")
}

fn blocker<'a>(json: &'a Value, kind: &str) -> Option<&'a Value> {
    json["blockers"].as_array()?.iter().find(|b| b["kind"] == kind)
}

#[tokio::test]
async fn drbot_status_json_lists_the_blockers_with_their_fix() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 4, ..Default::default() }).await.unwrap();

    let json = status_json(&sandbox, SANDBOX_WAREHOUSE_ID).await;
    assert_eq!(json["blockers"], serde_json::json!([]), "{json}");

    delete_the_recipient(&sandbox);
    let json = status_json(&sandbox, "0000000000000000").await;
    let warehouse = blocker(&json, "warehouse").expect("the missing warehouse");
    assert!(warehouse["problem"].as_str().unwrap().contains("0000000000000000"), "{warehouse}");
    assert!(warehouse["fix"].as_str().unwrap().contains("creates a warehouse"), "{warehouse}");
    let recipient = blocker(&json, "recipient").expect("the deleted recipient");
    assert!(recipient["fix"].as_str().unwrap().contains("run replicate"), "{recipient}");
    assert_eq!(json["verdict"]["status"], "not_ready");

    sandbox.secondary.reject_next_tokens(10_000);
    let json = status_json(&sandbox, SANDBOX_WAREHOUSE_ID).await;
    let unreachable = blocker(&json, "workspace").expect("the unreachable secondary");
    assert!(unreachable["problem"].as_str().unwrap().contains("secondary workspace is unreachable"), "{unreachable}");
    assert!(unreachable["fix"].as_str().unwrap().contains("URL on the pair"), "{unreachable}");
}

/// A share of the pair whose owner lost SELECT on a table it shares (a
/// recipient reads a shared table only while the share's owner may): status
/// names the share, the owner and the table, and the grant that fixes it.
#[tokio::test]
async fn status_names_a_share_whose_owner_cannot_read_what_it_shares() {
    let world = World::start().await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let schema = {
        let primary = world.sandbox.primary.metastore.read();
        let table = primary
            .tables
            .values()
            .find(|t| {
                t.catalog == "main" && t.table_type == "MANAGED" && t.data_source_format.as_deref() == Some("DELTA")
            })
            .expect("a managed Delta table in main");
        format!("{}.{}", table.catalog, table.schema)
    };
    let owner = "departed-team";
    world.sandbox.primary.sharing.lock().shares.insert(
        "drbot_main".into(),
        Share {
            name: "drbot_main".into(),
            owner: owner.into(),
            objects: [(schema.clone(), "SCHEMA".to_string())].into_iter().collect(),
            ..Default::default()
        },
    );
    let card = status(&world, &chat).await;
    assert!(card.contains("Not ready"), "{card}");
    assert!(card.contains(&format!("the owner of share drbot_main, {owner}, cannot read {schema}.")), "{card}");
    assert!(card.contains(&format!("GRANT USE CATALOG, USE SCHEMA, SELECT ON CATALOG main TO `{owner}`")), "{card}");
}

/// An object the next replication cannot copy (here an external table on a
/// path no location mapping covers) is listed on the dashboard under
/// "Cannot be replicated", by reason, with the reason's fix.
#[tokio::test]
async fn the_dashboard_lists_what_cannot_be_replicated_by_reason() {
    let world = World::start().await;
    let chat = Chat::personal(&world, "alice");
    chat.sign_in().await;
    let name = {
        let mut primary = world.sandbox.primary.metastore.write();
        let mut table = primary
            .tables
            .values()
            .find(|t| {
                t.catalog == "main" && t.table_type == "EXTERNAL" && t.data_source_format.as_deref() == Some("DELTA")
            })
            .expect("an external Delta table in main")
            .clone();
        table.name = "on_unmapped_storage".into();
        table.storage_location = Some("abfss://elsewhere@stunmapped.dfs.core.windows.net/t".into());
        let name = format!("{}.{}.{}", table.catalog, table.schema, table.name);
        primary.tables.insert(name.clone(), table);
        name
    };
    let card = status(&world, &chat).await;
    assert!(card.contains("Cannot be replicated"), "{card}");
    assert!(card.contains(&format!("1 × no location mapping: {name}")), "{card}");
    assert!(
        card.contains("no location mapping rule covers abfss://elsewhere@stunmapped.dfs.core.windows.net/t"),
        "{card}"
    );
}
