//! The sandbox's Databricks workspaces: the seeded world and the Unity
//! Catalog wire behaviour drbot relies on.

use sandbox::databricks::seed::{generate, map_location, Seed};
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

const NOW: i64 = 1_795_000_000_000;

#[test]
fn same_seed_same_world_and_another_seed_another() {
    let seed = Seed { seed: 42, tables: 500, now_ms: NOW };
    assert_eq!(generate(&seed), generate(&seed));
    assert_ne!(generate(&seed).0, generate(&Seed { seed: 43, ..seed }).0);
}

#[test]
fn ten_thousand_tables_with_every_kind_of_object() {
    let (primary, _) = generate(&Seed { seed: 1, tables: 10_000, now_ms: NOW });
    assert_eq!(primary.tables.len(), 10_000);
    let count = |kind: &str, format: Option<&str>| {
        primary.tables.values().filter(|t| t.table_type == kind && t.data_source_format.as_deref() == format).count()
    };
    assert!(count("MANAGED", Some("DELTA")) > 4000);
    assert!(count("EXTERNAL", Some("DELTA")) > 1000);
    assert!(count("EXTERNAL", Some("PARQUET")) + count("EXTERNAL", Some("CSV")) > 500);
    assert!(count("VIEW", None) > 1000);
    // Views on views, several deep.
    let depth = |name: &str| {
        let mut depth = 0;
        let mut frontier = vec![name.to_string()];
        while !frontier.is_empty() && depth < 10 {
            frontier = frontier
                .iter()
                .filter_map(|n| primary.tables.get(n))
                .flat_map(|t| t.view_dependencies.clone())
                .filter(|d| primary.tables.get(d).is_some_and(|t| t.table_type == "VIEW"))
                .collect();
            depth += 1;
        }
        depth
    };
    assert!(primary.tables.keys().map(|k| depth(k)).max().unwrap() >= 3, "chains of views");
    assert!(!primary.volumes.is_empty());
    assert!(primary.tables.values().any(|t| !t.common.grants.is_empty()));
    assert!(primary.tables.values().any(|t| t.common.owner != "dr-operators"), "varied owners");
}

#[test]
fn the_secondary_shows_drift_by_construction() {
    let (primary, secondary) = generate(&Seed { seed: 9, tables: 2_000, now_ms: NOW });
    let missing_tables = primary.tables.keys().filter(|k| !secondary.tables.contains_key(*k)).count();
    let extra_tables = secondary.tables.keys().filter(|k| !primary.tables.contains_key(*k)).count();
    let missing_catalogs = primary.catalogs.keys().filter(|k| !secondary.catalogs.contains_key(*k)).count();
    let stale_clones = secondary
        .tables
        .values()
        .filter_map(|t| {
            t.cloned_from.as_ref().map(|(source, version)| (primary.tables[source].delta_version, *version))
        })
        .filter(|(primary_version, copied)| copied < primary_version)
        .count();
    let different_grants = secondary
        .tables
        .iter()
        .filter(|(k, t)| primary.tables.get(*k).is_some_and(|p| p.common.grants != t.common.grants))
        .count();
    assert!(
        missing_tables > 0 && extra_tables > 0 && missing_catalogs == 1,
        "{missing_tables} {extra_tables} {missing_catalogs}"
    );
    assert!(stale_clones > 0 && different_grants > 0, "{stale_clones} {different_grants}");
    // Locations are mapped to the secondary's storage.
    let external = secondary.tables.values().find(|t| t.table_type == "EXTERNAL").unwrap();
    assert!(external.storage_location.as_deref().unwrap().contains("secondary"));
    assert_eq!(
        map_location("abfss://uc@stucprimary.dfs.core.windows.net/x"),
        "abfss://uc@stucsecondary.dfs.core.windows.net/x"
    );
    assert_ne!(primary.global_id, secondary.global_id);
    assert!(secondary.global_id.starts_with("azure:northeurope:"));
}

async fn get(sandbox: &Sandbox, user: &str, path: &str) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let response =
        reqwest::Client::new().get(format!("{}{path}", sandbox.primary_url())).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pages_can_be_empty_and_still_carry_a_token() {
    let sandbox = Sandbox::start(SandboxConfig { tables: 400, ..Default::default() }).await.unwrap();
    sandbox.primary.set_page_size(2);
    let schema = sandbox.primary.metastore.read().schemas.values().find(|s| s.catalog == "main").unwrap().name.clone();
    let mut token: Option<String> = None;
    let (mut pages, mut empty_pages_with_token, mut seen) = (0, 0, 0);
    loop {
        let mut path = format!("/api/2.1/unity-catalog/tables?catalog_name=main&schema_name={schema}&max_results=0");
        if let Some(token) = &token {
            path.push_str(&format!("&page_token={token}"));
        }
        let (status, body) = get(&sandbox, "bob", &path).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let tables = body["tables"].as_array().map(Vec::len).unwrap_or(0);
        seen += tables;
        token = body["next_page_token"].as_str().map(str::to_string);
        if tables == 0 && token.is_some() {
            empty_pages_with_token += 1;
        }
        if token.is_none() {
            break;
        }
    }
    let expected = {
        let metastore = sandbox.primary.metastore.read();
        metastore
            .tables
            .values()
            .filter(|t| t.catalog == "main" && t.schema == schema && t.common.grants.contains_key("dr-readers"))
            .count()
    };
    assert!(pages > 2);
    assert!(empty_pages_with_token > 0, "the reader meets empty pages that carry a token");
    assert!(seen >= expected, "reading on past empty pages finds everything granted ({seen} < {expected})");
}

/// Databricks' permissions GET: max_results 0 pages with the server's
/// length, 1..=149 is refused, unset returns everything (FIDELITY.md).
#[tokio::test]
async fn grants_page_with_a_token_and_refuse_short_pages() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let name = sandbox.primary.metastore.read().tables.values().next().unwrap().full_name();
    let path = format!("/api/2.1/unity-catalog/permissions/table/{name}");
    // Groups of the account: Unity Catalog grants only to principals it knows.
    for i in 0..5 {
        sandbox.primary.account.add_principal(&format!("paging-group-{i}"));
    }
    let changes: Vec<Value> =
        (0..5).map(|i| serde_json::json!({"principal": format!("paging-group-{i}"), "add": ["SELECT"]})).collect();
    let (status, _) =
        send(&sandbox, "alice", reqwest::Method::PATCH, &path, serde_json::json!({ "changes": changes })).await;
    assert_eq!(status, 200);
    let expected = sandbox.primary.metastore.read().tables[&name].common.grants.len();
    assert!(expected >= 5);
    let (status, all) = get(&sandbox, "alice", &path).await;
    assert_eq!(status, 200);
    assert_eq!(all["privilege_assignments"].as_array().unwrap().len(), expected);
    assert!(all.get("next_page_token").is_none());
    let (status, body) = get(&sandbox, "alice", &format!("{path}?max_results=10")).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (mut seen, mut token, mut pages) = (0, None::<String>, 0);
    loop {
        let query = match &token {
            Some(t) => format!("{path}?max_results=0&page_token={t}"),
            None => format!("{path}?max_results=0"),
        };
        let (status, page) = get(&sandbox, "alice", &query).await;
        assert_eq!(status, 200, "{page}");
        seen += page["privilege_assignments"].as_array().map_or(0, Vec::len);
        pages += 1;
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert!(pages > 1, "more than one page");
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn privileges_and_errors_as_databricks_writes_them() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, body) = get(&sandbox, "carol", "/api/2.1/unity-catalog/schemas?catalog_name=main").await;
    assert_eq!((status, body["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    assert!(body["message"].as_str().unwrap().contains("USE CATALOG"));
    // Unity Catalog names the missing object in its code (FIDELITY.md).
    let (status, body) = get(&sandbox, "alice", "/api/2.1/unity-catalog/catalogs/nope").await;
    assert_eq!((status, body["error_code"].as_str()), (404, Some("CATALOG_DOES_NOT_EXIST")));
    let (status, body) = get(&sandbox, "alice", "/api/2.1/unity-catalog/schemas/main.nope").await;
    assert_eq!((status, body["error_code"].as_str()), (404, Some("SCHEMA_DOES_NOT_EXIST")));
    let (status, body) = get(&sandbox, "alice", "/api/2.1/unity-catalog/catalogs?max_results=-1").await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, body) = get(&sandbox, "alice", "/api/2.1/unity-catalog/schemas").await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, body) = get(&sandbox, "alice", "/api/2.1/unity-catalog/no-such-api").await;
    assert_eq!((status, body["error_code"].as_str()), (404, Some("ENDPOINT_NOT_FOUND")));
    let unauthenticated =
        reqwest::get(format!("{}/api/2.1/unity-catalog/catalogs", sandbox.primary_url())).await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    // An ARM token is not a Databricks token.
    let alice = sandbox.teams.user("alice").unwrap();
    let arm = sandbox.entra.user_token(&alice, "tests", "https://management.azure.com", "user_impersonation");
    let wrong_audience = reqwest::Client::new()
        .get(format!("{}/api/2.1/unity-catalog/catalogs", sandbox.primary_url()))
        .bearer_auth(arm)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_audience.status(), 401);
}

#[tokio::test]
async fn fault_knobs_throttle_fail_and_delay_the_rest_api() {
    use sandbox::faults::FaultConfig;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = sandbox.teams.user("alice").unwrap();
    let token = sandbox.entra.user_token(&alice, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let http = reqwest::Client::new();
    let url = format!("{}/api/2.1/unity-catalog/catalogs", sandbox.primary_url());
    let call = || http.get(&url).bearer_auth(&token).send();

    sandbox.primary.faults.set(FaultConfig { throttle_ratio: 1.0, retry_after_secs: 7, ..Default::default() });
    let throttled = call().await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "7");
    assert_eq!(throttled.json::<Value>().await.unwrap()["error_code"], "REQUEST_LIMIT_EXCEEDED");

    sandbox.primary.faults.set(FaultConfig {
        max_requests_per_second: Some(3),
        retry_after_secs: 1,
        ..Default::default()
    });
    let statuses: Vec<u16> = futures::future::join_all((0..10).map(|_| call()))
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert!(statuses.iter().filter(|s| **s == 200).count() <= 3 && statuses.contains(&429), "{statuses:?}");

    sandbox.primary.faults.set(FaultConfig { error_5xx_ratio: 1.0, ..Default::default() });
    let failed = call().await.unwrap();
    assert!(failed.status().is_server_error());
    let body: Value = failed.json().await.unwrap();
    assert!(matches!(body["error_code"].as_str(), Some("TEMPORARILY_UNAVAILABLE" | "INTERNAL_ERROR")), "{body}");

    sandbox.primary.faults.set(FaultConfig { error_5xx_ratio: 0.5, ..Default::default() });
    let mixed: Vec<u16> = futures::future::join_all((0..40).map(|_| call()))
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert!(mixed.contains(&200) && mixed.iter().any(|s| *s >= 500), "about half fail: {mixed:?}");

    sandbox.primary.faults.set(FaultConfig { latency_ms: Some((150, 150)), ..Default::default() });
    let started = std::time::Instant::now();
    assert_eq!(call().await.unwrap().status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150), "the latency is applied");

    sandbox.primary.faults.set(FaultConfig::default());
    assert_eq!(call().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_primary_keeps_committing_until_the_writer_stops() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let versions =
        |sandbox: &Sandbox| -> i64 { sandbox.primary.metastore.read().tables.values().map(|t| t.delta_version).sum() };
    let before = versions(&sandbox);
    let writer = sandbox.primary.keep_committing(std::time::Duration::from_millis(10), 3, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while versions(&sandbox) < before + 9 {
        assert!(std::time::Instant::now() < deadline, "no commits");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    writer.stop().await;
    let stopped = versions(&sandbox);
    // The writer's task has ended: no tick can land any more.
    tokio::task::yield_now().await;
    assert_eq!(versions(&sandbox), stopped, "the writer stopped");
}

async fn send(sandbox: &Sandbox, user: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let user = sandbox.teams.user(user).unwrap();
    let token = sandbox.entra.user_token(&user, "tests", DATABRICKS_AUDIENCE, "user_impersonation");
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", sandbox.primary_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_securable_is_created_read_patched_and_deleted() {
    use reqwest::Method;
    use serde_json::json;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let uc = "/api/2.1/unity-catalog";

    let (status, schema) = send(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{uc}/schemas"),
        json!({"name": "crud", "catalog_name": "main", "comment": "made by a test"}),
    )
    .await;
    assert_eq!((status, schema["full_name"].as_str()), (200, Some("main.crud")));
    assert_eq!(
        send(
            &sandbox,
            "alice",
            Method::POST,
            &format!("{uc}/schemas"),
            json!({"name": "crud", "catalog_name": "main"})
        )
        .await
        .1["error_code"],
        "SCHEMA_ALREADY_EXISTS"
    );
    let (_, patched) =
        send(&sandbox, "alice", Method::PATCH, &format!("{uc}/schemas/main.crud"), json!({"owner": "data-engineers"}))
            .await;
    assert_eq!(patched["owner"], "data-engineers");
    let (status, volume) = send(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{uc}/volumes"),
        json!({
        "catalog_name": "main", "schema_name": "crud", "name": "files", "volume_type": "EXTERNAL",
        "storage_location": "abfss://geo@stgeo.dfs.core.windows.net/crud/files"}),
    )
    .await;
    assert_eq!((status, volume["full_name"].as_str()), (200, Some("main.crud.files")));
    assert_eq!(
        send(&sandbox, "alice", Method::GET, &format!("{uc}/volumes/main.crud.files"), Value::Null).await.1
            ["volume_type"],
        "EXTERNAL"
    );
    assert_eq!(
        send(&sandbox, "alice", Method::DELETE, &format!("{uc}/schemas/main.crud"), Value::Null).await.1["error_code"],
        "INVALID_PARAMETER_VALUE",
        "not empty"
    );
    assert_eq!(
        send(&sandbox, "alice", Method::DELETE, &format!("{uc}/volumes/main.crud.files"), Value::Null).await.0,
        200
    );
    assert_eq!(send(&sandbox, "alice", Method::DELETE, &format!("{uc}/schemas/main.crud"), Value::Null).await.0, 200);
    assert_eq!(send(&sandbox, "alice", Method::GET, &format!("{uc}/schemas/main.crud"), Value::Null).await.0, 404);

    let table =
        sandbox.primary.metastore.read().tables.values().find(|t| t.table_type == "MANAGED").unwrap().full_name();
    let (_, patched) = send(
        &sandbox,
        "alice",
        Method::PATCH,
        &format!("{uc}/tables/{table}"),
        json!({"owner": "bob@contoso.example"}),
    )
    .await;
    assert_eq!(patched["owner"], "bob@contoso.example");
    assert_eq!(send(&sandbox, "carol", Method::DELETE, &format!("{uc}/tables/{table}"), Value::Null).await.0, 403);
    assert_eq!(send(&sandbox, "alice", Method::DELETE, &format!("{uc}/tables/{table}"), Value::Null).await.0, 200);

    let (_, credentials) =
        send(&sandbox, "alice", Method::GET, &format!("{uc}/storage-credentials"), Value::Null).await;
    let credential = credentials["storage_credentials"][0]["name"].as_str().unwrap().to_string();
    let connector = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/accessConnectors/ac-2";
    let (status, _) = send(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{uc}/storage-credentials"),
        json!({"name": "second", "azure_managed_identity": {"access_connector_id": connector}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(
            &sandbox,
            "bob",
            Method::POST,
            &format!("{uc}/storage-credentials"),
            json!({"name": "bobs", "azure_managed_identity": {"access_connector_id": connector}})
        )
        .await
        .0,
        403
    );
    let (status, location) = send(
        &sandbox,
        "alice",
        Method::POST,
        &format!("{uc}/external-locations"),
        json!({"name": "landing", "url": "abfss://landing@stnew.dfs.core.windows.net/", "credential_name": "second"}),
    )
    .await;
    assert_eq!((status, location["credential_name"].as_str()), (200, Some("second")));
    let (_, overlap) = send(&sandbox, "alice", Method::POST, &format!("{uc}/external-locations"), json!({"name": "inner", "url": "abfss://landing@stnew.dfs.core.windows.net/inner", "credential_name": credential})).await;
    assert_eq!(overlap["error_code"], "INVALID_PARAMETER_VALUE", "overlapping locations are refused");
    assert_eq!(
        send(&sandbox, "alice", Method::DELETE, &format!("{uc}/storage-credentials/second"), Value::Null).await.1
            ["error_code"],
        "INVALID_PARAMETER_VALUE",
        "in use"
    );
    let (_, patched) = send(
        &sandbox,
        "alice",
        Method::PATCH,
        &format!("{uc}/external-locations/landing"),
        json!({"owner": "data-engineers", "read_only": true}),
    )
    .await;
    assert_eq!((patched["owner"].as_str(), patched["read_only"].as_bool()), (Some("data-engineers"), Some(true)));
    assert_eq!(
        send(&sandbox, "alice", Method::DELETE, &format!("{uc}/external-locations/landing"), Value::Null).await.0,
        200
    );
    assert_eq!(
        send(&sandbox, "alice", Method::DELETE, &format!("{uc}/storage-credentials/second"), Value::Null).await.0,
        200
    );
    sandbox.primary.set_page_size(1);
    let (_, first_page) =
        send(&sandbox, "alice", Method::GET, &format!("{uc}/external-locations?max_results=0"), Value::Null).await;
    assert_eq!(first_page["external_locations"].as_array().unwrap().len(), 1);
    assert!(first_page["next_page_token"].is_string());
}

#[tokio::test]
async fn delta_tables_show_their_newest_commit_among_their_properties() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (delta, view) = {
        let metastore = sandbox.primary.metastore.read();
        let delta = metastore.tables.values().find(|t| t.data_source_format.as_deref() == Some("DELTA")).unwrap();
        let view = metastore.tables.values().find(|t| t.table_type == "VIEW").unwrap();
        (delta.clone(), view.full_name())
    };
    let (status, table) = get(&sandbox, "alice", &format!("/api/2.1/unity-catalog/tables/{}", delta.full_name())).await;
    assert_eq!(status, 200);
    assert_eq!(table["properties"]["delta.lastUpdateVersion"], delta.delta_version.to_string());
    assert_eq!(table["properties"]["delta.lastCommitTimestamp"], delta.last_commit_ms.to_string());
    let (_, view) = get(&sandbox, "alice", &format!("/api/2.1/unity-catalog/tables/{view}")).await;
    assert!(view["properties"].get("delta.lastUpdateVersion").is_none(), "views have no Delta log");
}
