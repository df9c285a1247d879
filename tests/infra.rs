//! infra/: the ARM templates of the secure DR pair, checked without Azure. Each template is
//! well formed; its parameters, variables, dependencies, scopes and resource ids all resolve;
//! its API versions come from the kept list (infra/api-versions.json); the parameter files fit
//! their templates; both regions deploy on the sandbox's ARM (What-If, then the deployment,
//! polled to Succeeded); and checkov, with drbot's own checks (infra/checks), finds nothing,
//! while each of those checks fails the deliberately broken fixture.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox::arm::ARM_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};
use serde_json::{json, Map, Value};

const TEMPLATES: [&str; 4] = ["hub", "webauth", "spoke", "bot"];

/// Each parameter file, its template and the resource group it deploys into (the one its
/// template's cross-group references are written for).
const PARAMETER_FILES: [(&str, &str, &str); 7] = [
    ("hub.primary", "hub", "rg-dr-hub-weu"),
    ("hub.secondary", "hub", "rg-dr-hub-neu"),
    ("webauth.primary", "webauth", "rg-dr-transit-weu"),
    ("webauth.secondary", "webauth", "rg-dr-transit-neu"),
    ("spoke.primary", "spoke", "rg-dr-sales-weu"),
    ("spoke.secondary", "spoke", "rg-dr-sales-neu"),
    ("bot", "bot", "rg-dr-hub-neu"),
];

/// Resources a template refers to but does not deploy: (template, type, why it exists).
const EXTERNAL: [(&str, &str, &str); 7] = [
    ("webauth", "Microsoft.Network/virtualNetworks", "the hub's VNet (hub.json), which the transit spoke peers with"),
    (
        "webauth",
        "Microsoft.Network/privateDnsZones",
        "the hub's private DNS zones (hub.json), where the browser_authentication endpoint registers",
    ),
    (
        "webauth",
        "Microsoft.Storage/storageAccounts",
        "the web-auth workspace's DBFS root account, which Databricks creates in its managed resource group",
    ),
    ("spoke", "Microsoft.Network/virtualNetworks", "the hub's VNet (hub.json), which the spoke peers with"),
    (
        "spoke",
        "Microsoft.Network/privateDnsZones",
        "the hub's private DNS zones (hub.json), where the endpoints register",
    ),
    (
        "spoke",
        "Microsoft.Storage/storageAccounts",
        "the DBFS root account Databricks creates in the workspace's managed resource group",
    ),
    ("bot", "Microsoft.KeyVault/vaults", "the secondary hub's vault (hub.json), in the bot's resource group"),
];

/// The checkov release .ci/setup.d/40-checkov.sh installs.
const CHECKOV_VERSION: &str = "3.3.30";

/// drbot's own checks in infra/checks.
const CUSTOM_CHECKS: [&str; 10] = [
    "CKV_DRBOT_1",
    "CKV_DRBOT_2",
    "CKV_DRBOT_3",
    "CKV_DRBOT_4",
    "CKV_DRBOT_5",
    "CKV_DRBOT_6",
    "CKV_DRBOT_7",
    "CKV_DRBOT_8",
    "CKV_DRBOT_9",
    "CKV_DRBOT_10",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn template(name: &str) -> Value {
    read(&root().join("infra").join(format!("{name}.json")))
}

fn parameter_file(name: &str) -> Value {
    read(&root().join("infra/parameters").join(format!("{name}.json")))
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn resources(template: &Value) -> Vec<Value> {
    template["resources"].as_array().cloned().unwrap_or_default()
}

fn is_nested_deployment(resource: &Value) -> bool {
    resource["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Resources/deployments"))
}

/// The template without its nested deployments' own templates (they have their own scope).
fn own_scope(template: &Value) -> Value {
    let mut own = template.clone();
    for resource in own["resources"].as_array_mut().into_iter().flatten() {
        if is_nested_deployment(resource) {
            if let Some(properties) = resource["properties"].as_object_mut() {
                properties.remove("template");
            }
        }
    }
    own
}

/// The template and every nested deployment's template in it, each with a label.
fn scopes(label: &str, template: &Value) -> Vec<(String, Value)> {
    let mut all = vec![(label.to_string(), template.clone())];
    for resource in resources(template).iter().filter(|r| is_nested_deployment(r)) {
        let inner = &resource["properties"]["template"];
        let name = resource["name"].as_str().unwrap_or("?");
        all.extend(scopes(&format!("{label} > {name}"), inner));
    }
    all
}

/// Every string in `value`, object keys included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(fields) => {
            for (key, field) in fields {
                out.push(key.clone());
                strings(field, out);
            }
        }
        _ => {}
    }
}

fn expressions(template: &Value) -> Vec<String> {
    let mut all = Vec::new();
    strings(&own_scope(template), &mut all);
    all.retain(|s| s.starts_with('[') && !s.starts_with("[["));
    all
}

/// Where `function(` is called in `text` (not as the tail of a longer function name).
fn calls<'t>(text: &'t str, function: &str) -> Vec<&'t str> {
    let mut found = Vec::new();
    let needle = format!("{function}(");
    let mut from = 0;
    while let Some(at) = text[from..].find(&needle).map(|i| i + from) {
        from = at + needle.len();
        if text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let (mut depth, mut quoted) = (0, false);
        for (i, c) in text[at..].char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        found.push(&text[at..=at + i]);
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// The names a template passes to `parameters('…')` or `variables('…')`.
fn referenced(template: &Value, function: &str) -> BTreeSet<String> {
    let prefix = format!("{function}('");
    expressions(template)
        .iter()
        .flat_map(|e| calls(e, function).into_iter().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|call| call.strip_prefix(&prefix)?.split('\'').next().map(str::to_string))
        .collect()
}

fn declared(template: &Value, section: &str) -> BTreeSet<String> {
    object(&template[section]).keys().cloned().collect()
}

/// The values a deployment with this parameter file sees: the file's, else the defaults.
/// Key Vault references stay unresolved, as they do until ARM deploys.
fn parameter_values(template: &Value, file: &Value, rg: &str) -> Map<String, Value> {
    let variables = object(&template["variables"]);
    let mut values = Map::new();
    for (name, declaration) in object(&template["parameters"]) {
        let value = match file["parameters"].get(&name) {
            Some(given) if given.get("reference").is_some() => continue,
            Some(given) => given["value"].clone(),
            None => {
                sandbox::arm::evaluate(SANDBOX_SUBSCRIPTION_ID, rg, &values, &variables, &declaration["defaultValue"])
            }
        };
        values.insert(name, value);
    }
    values
}

/// (type, name) of the resource an id or a relative `Namespace/type/name` path names.
fn type_and_name(id: &str) -> Option<(String, String)> {
    let path = match id.to_ascii_lowercase().rfind("/providers/") {
        Some(at) => &id[at + "/providers/".len()..],
        None if !id.starts_with('/') => id,
        None => return None,
    };
    let segments: Vec<&str> = path.split('/').collect();
    let (namespace, rest) = segments.split_first()?;
    if rest.is_empty() || rest.len() % 2 != 0 {
        return None;
    }
    let types: Vec<&str> = rest.iter().step_by(2).copied().collect();
    let names: Vec<&str> = rest.iter().skip(1).step_by(2).copied().collect();
    Some((format!("{namespace}/{}", types.join("/")), names.join("/")))
}

fn group_of(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.split('/').collect();
    let at = segments.iter().position(|s| s.eq_ignore_ascii_case("resourceGroups"))?;
    segments.get(at + 1).map(|s| s.to_string())
}

#[test]
fn every_file_is_a_template_or_a_parameter_file_with_schema_and_content_version() {
    let version = |v: &Value| {
        v.as_str().is_some_and(|s| s.split('.').count() == 4 && s.split('.').all(|p| p.parse::<u32>().is_ok()))
    };
    for name in TEMPLATES {
        for (label, t) in scopes(name, &template(name)) {
            assert_eq!(
                t["$schema"], "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "{label}"
            );
            assert!(version(&t["contentVersion"]), "{label}: contentVersion");
            assert!(!resources(&t).is_empty(), "{label}: no resources");
            for resource in resources(&t) {
                for field in ["type", "apiVersion", "name"] {
                    assert!(resource[field].is_string(), "{label}: a resource without {field}: {resource}");
                }
            }
        }
    }
    for (file, _, _) in PARAMETER_FILES {
        let doc = parameter_file(file);
        assert_eq!(
            doc["$schema"], "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "{file}"
        );
        assert!(version(&doc["contentVersion"]), "{file}: contentVersion");
    }
    let listed = read(&root().join("infra/api-versions.json"));
    assert!(listed["types"].is_object(), "infra/api-versions.json lists types");
}

#[test]
fn every_parameter_and_variable_is_declared_and_used() {
    for name in TEMPLATES {
        for (label, t) in scopes(name, &template(name)) {
            for (function, section) in [("parameters", "parameters"), ("variables", "variables")] {
                let used = referenced(&t, function);
                let declared = declared(&t, section);
                let undeclared: Vec<_> = used.difference(&declared).collect();
                let unused: Vec<_> = declared.difference(&used).collect();
                assert!(undeclared.is_empty(), "{label}: {section} used but not declared: {undeclared:?}");
                assert!(unused.is_empty(), "{label}: {section} declared but never used: {unused:?}");
            }
        }
    }
    // The scan itself finds what it should.
    let sample = json!({"resources": [{"name": "[concat(parameters('a'), variables('b'), subscriptionResourceId('x', parameters('c')))]"}]});
    assert_eq!(referenced(&sample, "parameters"), BTreeSet::from(["a".to_string(), "c".to_string()]));
    assert_eq!(calls("[subscriptionResourceId('T', 'n')]", "resourceId"), Vec::<&str>::new());
}

#[test]
fn dependencies_scopes_and_resource_ids_resolve_in_the_template_or_to_a_listed_external_resource() {
    let mut externals_used: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut resolved = 0;
    for (file, name, rg) in PARAMETER_FILES {
        let t = template(name);
        let values = parameter_values(&t, &parameter_file(file), rg);
        let variables = object(&t["variables"]);
        let eval = |text: &str| -> Option<String> {
            let value = sandbox::arm::evaluate(SANDBOX_SUBSCRIPTION_ID, rg, &values, &variables, &json!(text));
            value.as_str().filter(|s| !s.starts_with('[')).map(str::to_string)
        };
        let deployed: Vec<(String, String)> = resources(&t)
            .iter()
            .map(|r| {
                let kind = r["type"].as_str().unwrap_or_default().to_string();
                let raw = r["name"].as_str().unwrap_or_default();
                let evaluated = eval(raw).unwrap_or_else(|| panic!("{file}: the name {raw} does not evaluate"));
                (kind, evaluated)
            })
            .collect();
        let declared_here =
            |kind: &str, resource: &str| deployed.iter().any(|(k, n)| k.eq_ignore_ascii_case(kind) && n == resource);
        // A child declared inline in its parent (a VNet's subnets) counts as in the template.
        let in_template = |kind: &str, resource: &str| {
            if declared_here(kind, resource) {
                return true;
            }
            let (Some((parent_kind, child_kind)), Some((parent, child))) =
                (kind.rsplit_once('/'), resource.rsplit_once('/'))
            else {
                return false;
            };
            let parent_resource = resources(&t).into_iter().find(|r| {
                r["type"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(parent_kind))
                    && r["name"].as_str().and_then(&eval).as_deref() == Some(parent)
            });
            parent_resource.is_some_and(|r| {
                r["properties"][child_kind]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["name"].as_str().and_then(&eval).as_deref() == Some(child))
            })
        };
        let mut external = |kind: &str| {
            let listed = EXTERNAL.iter().find(|(t, k, _)| *t == name && k.eq_ignore_ascii_case(kind));
            listed.map(|(t, k, _)| externals_used.insert((t, k))).is_some()
        };
        for resource in resources(&t) {
            for dependency in resource["dependsOn"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let id = eval(dependency).unwrap_or_else(|| panic!("{file}: dependsOn {dependency} does not evaluate"));
                let (kind, target) = type_and_name(&id).unwrap_or_else(|| panic!("{file}: {id} is not an id"));
                assert!(in_template(&kind, &target), "{file}: dependsOn {dependency} ({id}) is not in the template");
                resolved += 1;
            }
            if let Some(scope) = resource["scope"].as_str() {
                let target = eval(scope).unwrap_or_else(|| panic!("{file}: scope {scope} does not evaluate"));
                let (kind, target_name) = type_and_name(&target).unwrap_or_else(|| panic!("{file}: scope {target}"));
                assert!(
                    in_template(&kind, &target_name) || external(&kind),
                    "{file}: the scope {target} is neither in the template nor a listed external resource"
                );
                resolved += 1;
            }
        }
        for expression in expressions(&t) {
            for call in calls(&expression, "resourceId") {
                // Ids built from what only the deployment knows (reference()) are checked on
                // the sandbox's ARM instead.
                let Some(id) = eval(&format!("[{call}]")) else { continue };
                let (kind, target) = type_and_name(&id).unwrap_or_else(|| panic!("{file}: {call} gave {id}"));
                let group = group_of(&id);
                let here = group.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(rg));
                // A nested deployment this template sends into another group (its `resourceGroup`).
                let sent_there = resources(&t).iter().any(|r| {
                    r["type"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(&kind))
                        && r["name"].as_str().and_then(&eval).as_deref() == Some(target.as_str())
                        && r["resourceGroup"].as_str().and_then(&eval).as_deref() == group.as_deref()
                });
                assert!(
                    (here && in_template(&kind, &target)) || (!here && (external(&kind) || sent_there)),
                    "{file}: {call} ({id}) is neither in the template nor a listed external resource"
                );
                resolved += 1;
            }
        }
    }
    assert!(resolved > 100, "only {resolved} references resolved: the scan is broken");
    let unused: Vec<_> = EXTERNAL.iter().filter(|(t, k, _)| !externals_used.contains(&(*t, *k))).collect();
    assert!(unused.is_empty(), "listed external resources nothing refers to: {unused:?}");
}

#[test]
fn every_api_version_is_a_listed_real_one() {
    let listed = read(&root().join("infra/api-versions.json"));
    let types = listed["types"].as_object().expect("types");
    for (kind, entry) in types {
        assert!(entry["source"].as_str().is_some_and(|s| s.starts_with("https://")), "{kind}: where it came from");
        assert!(entry["versions"].as_array().is_some_and(|v| !v.is_empty()), "{kind}: versions");
    }
    let mut used_types = BTreeSet::new();
    for name in TEMPLATES {
        for (label, t) in scopes(name, &template(name)) {
            for resource in resources(&t) {
                let kind = resource["type"].as_str().unwrap_or_default();
                let version = resource["apiVersion"].as_str().unwrap_or_default();
                let known = types.get(kind).and_then(|e| e["versions"].as_array());
                assert!(
                    known.is_some_and(|versions| versions.iter().any(|v| v == version)),
                    "{label}: {kind}@{version} is not in infra/api-versions.json"
                );
                used_types.insert(kind.to_string());
            }
            // reference() names its API version too.
            for expression in expressions(&t) {
                for call in calls(&expression, "reference") {
                    let quoted: Vec<&str> = call.split('\'').skip(1).step_by(2).collect();
                    let kind = quoted.iter().find(|q| q.contains('/')).copied().unwrap_or_default();
                    let is_version = |q: &&&str| q.len() >= 10 && q[..4].chars().all(|c| c.is_ascii_digit());
                    let version = quoted.iter().find(is_version).copied().unwrap_or_default();
                    let known = types.get(kind).and_then(|e| e["versions"].as_array());
                    assert!(
                        known.is_some_and(|versions| versions.iter().any(|v| v == version)),
                        "{label}: {call} uses an API version not listed for {kind}"
                    );
                }
            }
        }
    }
    let stale: Vec<_> = types.keys().filter(|k| !used_types.contains(*k)).collect();
    assert!(stale.is_empty(), "infra/api-versions.json lists types no template uses: {stale:?}");
}

#[test]
fn parameter_files_fit_their_templates() {
    for (file, name, _) in PARAMETER_FILES {
        let t = template(name);
        let declared = object(&t["parameters"]);
        let given = object(&parameter_file(file)["parameters"]);
        for key in given.keys() {
            assert!(declared.contains_key(key), "{file}: {key} is not a parameter of {name}.json");
        }
        for (key, declaration) in &declared {
            let kind = declaration["type"].as_str().unwrap_or_default().to_ascii_lowercase();
            let Some(entry) = given.get(key) else {
                assert!(declaration.get("defaultValue").is_some(), "{file}: the required {key} is missing");
                continue;
            };
            if let Some(reference) = entry.get("reference") {
                assert!(
                    reference["keyVault"]["id"]
                        .as_str()
                        .is_some_and(|id| id.contains("/providers/Microsoft.KeyVault/vaults/"))
                        && reference["secretName"].is_string(),
                    "{file}: {key} is a malformed Key Vault reference"
                );
                continue;
            }
            assert!(!kind.starts_with("secure"), "{file}: the secret {key} must be a Key Vault reference, not a value");
            let value = &entry["value"];
            let fits = match kind.as_str() {
                "string" => value.is_string(),
                "int" => value.is_i64(),
                "bool" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                other => panic!("{name}.json: {key} has the unknown type {other}"),
            };
            assert!(fits, "{file}: {key} is not a {kind}: {value}");
            if let Some(allowed) = declaration["allowedValues"].as_array() {
                assert!(allowed.contains(value), "{file}: {key} = {value} is not allowed");
            }
            if let Some(text) = value.as_str() {
                let length = text.chars().count() as u64;
                assert!(declaration["minLength"].as_u64().is_none_or(|min| length >= min), "{file}: {key} too short");
                assert!(declaration["maxLength"].as_u64().is_none_or(|max| length <= max), "{file}: {key} too long");
            }
            // Storage account names: 3-24 lowercase letters and digits (checkov cannot see them).
            if key.ends_with("StorageAccountName") {
                let text = value.as_str().unwrap_or_default();
                assert!(
                    (3..=24).contains(&text.len())
                        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                    "{file}: {key} = {text} breaks the storage account naming rules"
                );
            }
        }
    }
}

/// One authenticated call to the sandbox's ARM as alice (a dr-operators member).
async fn arm(sandbox: &Sandbox, method: reqwest::Method, url: &str, body: Option<&Value>) -> reqwest::Response {
    let alice = sandbox.teams.user("alice").expect("alice");
    let token = sandbox.entra.user_token(&alice, "drbot", ARM_AUDIENCE, "user_impersonation");
    let url = if url.starts_with("http") { url.to_string() } else { format!("{}{url}", sandbox.arm_url()) };
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("ARM answers")
}

/// Polls `url` while it answers 202 (What-If's Location) or a running deployment.
async fn poll(sandbox: &Sandbox, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = arm(sandbox, reqwest::Method::GET, url, None).await;
        if response.status() == 200 {
            let body: Value = response.json().await.expect("JSON");
            let state = body["properties"]["provisioningState"].as_str().or(body["status"].as_str());
            if matches!(state, Some("Succeeded" | "Failed" | "Canceled")) {
                return body;
            }
        } else {
            assert_eq!(response.status(), 202, "{url}");
        }
        assert!(Instant::now() < deadline, "{url} never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn both_regions_deploy_on_the_sandbox_arm_after_what_if() {
    use reqwest::Method;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    sandbox.arm.set_resource_duration(Duration::from_millis(2));
    for (file, name, rg) in PARAMETER_FILES {
        let t = template(name);
        let body = json!({"properties": {"mode": "Incremental", "template": t, "parameters": parameter_file(file)["parameters"]}});
        let deployment = format!(
            "/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/drbot-{}",
            file.replace('.', "-")
        );
        let version = "api-version=2025-04-01";

        let what_if = arm(&sandbox, Method::POST, &format!("{deployment}/whatIf?{version}"), Some(&body)).await;
        assert_eq!(what_if.status(), 202, "{file}: {}", what_if.text().await.unwrap_or_default());
        let location = what_if.headers()["location"].to_str().expect("a Location").to_string();
        let preview = poll(&sandbox, &location).await;
        let changes = preview["properties"]["changes"].as_array().expect("changes").clone();
        // One change per resource whose condition holds in this region (the pair's
        // geo-redundant account is the primary's; the endpoints to the peer are the secondary's).
        let values = parameter_values(&t, &parameter_file(file), rg);
        let variables = object(&t["variables"]);
        let deployed = resources(&t)
            .iter()
            .filter(|r| {
                let condition = r
                    .get("condition")
                    .map(|c| sandbox::arm::evaluate(SANDBOX_SUBSCRIPTION_ID, rg, &values, &variables, c));
                condition != Some(Value::Bool(false))
            })
            .count();
        assert_eq!(changes.len(), deployed, "{file}: one change per deployed resource");
        assert!(changes.iter().all(|c| c["changeType"] == "Create"), "{file}: {preview}");

        let created = arm(&sandbox, Method::PUT, &format!("{deployment}?{version}"), Some(&body)).await;
        assert_eq!(created.status(), 201, "{file}");
        let done = poll(&sandbox, &format!("{deployment}?{version}")).await;
        assert_eq!(done["properties"]["provisioningState"], "Succeeded", "{file}: {done}");
    }
    let ids = sandbox.arm.resource_ids();
    let has = |suffix: &str| ids.iter().any(|id| id.ends_with(suffix));
    for (region, hub) in [("weu", "rg-dr-hub-weu"), ("neu", "rg-dr-hub-neu")] {
        assert!(has(&format!(
            "/resourceGroups/rg-dr-sales-{region}/providers/Microsoft.Databricks/workspaces/sales-{region}-dbw"
        )));
        assert!(has(&format!("/resourceGroups/{hub}/providers/Microsoft.Network/azureFirewalls/hub-{region}-fw")));
        assert!(has(&format!(
            "/resourceGroups/{hub}/providers/Microsoft.KeyVault/vaults/kv-drbot-hub-{region}/keys/cmk-managed-disks"
        )));
        assert!(has(&format!(
            "/resourceGroups/{hub}/providers/Microsoft.Resources/deployments/sales-{region}-hub-peering"
        )));
        // The region's one browser_authentication endpoint sits in the transit spoke, on the
        // web-auth workspace; no workload spoke carries one.
        assert!(has(&format!(
            "/resourceGroups/rg-dr-transit-{region}/providers/Microsoft.Network/privateEndpoints/transit-{region}-dbw-browser-auth-pe"
        )));
        assert!(has(&format!(
            "/resourceGroups/rg-dr-transit-{region}/providers/Microsoft.Databricks/workspaces/transit-{region}-dbw"
        )));
        assert!(has(&format!(
            "/resourceGroups/{hub}/providers/Microsoft.Resources/deployments/transit-{region}-hub-peering"
        )));
        assert!(!ids.iter().any(|id| id.contains("/resourceGroups/rg-dr-sales-") && id.contains("browser-auth")));
    }
    assert!(has(
        "/resourceGroups/rg-dr-hub-neu/providers/Microsoft.BotService/botServices/drbot/connections/drbot-sso"
    ));
    let role_assignments =
        ids.iter().filter(|id| id.contains("/providers/Microsoft.Storage/storageAccounts/stucsalesweu/providers/Microsoft.Authorization/roleAssignments/")).count();
    assert_eq!(role_assignments, 1, "the access connector's grant sits on the UC account");

    // Deploying hub, transit spoke and spoke again, in both regions, changes nothing: What-If shows no
    // change and the deployment succeeds, past the network intent policy the workspaces'
    // subnets now carry.
    for (file, name, rg) in &PARAMETER_FILES[..6] {
        let body = json!({"properties": {"mode": "Incremental", "template": template(name), "parameters": parameter_file(file)["parameters"]}});
        let deployment = format!(
            "/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/again-{}",
            file.replace('.', "-")
        );
        let what_if =
            arm(&sandbox, Method::POST, &format!("{deployment}/whatIf?api-version=2025-04-01"), Some(&body)).await;
        let location = what_if.headers()["location"].to_str().expect("a Location").to_string();
        let again = poll(&sandbox, &location).await;
        assert!(
            again["properties"]["changes"].as_array().expect("changes").iter().all(|c| c["changeType"] == "NoChange"),
            "{file}: {again}"
        );
        let created = arm(&sandbox, Method::PUT, &format!("{deployment}?api-version=2025-04-01"), Some(&body)).await;
        assert_eq!(created.status(), 201, "{file}");
        let done = poll(&sandbox, &format!("{deployment}?api-version=2025-04-01")).await;
        assert_eq!(done["properties"]["provisioningState"], "Succeeded", "{file}: the second deployment: {done}");
    }

    // A spoke whose NSG lacks the policy's rules (as the templates had it before) fails on
    // redeploy, at the NSG, with the policy's conflict.
    let (file, name, rg) = PARAMETER_FILES[5];
    let mut stripped = template(name);
    for resource in stripped["resources"].as_array_mut().expect("resources") {
        if resource["type"] == "Microsoft.Network/networkSecurityGroups" {
            resource["properties"]["securityRules"] = json!([]);
        }
    }
    let body = json!({"properties": {"mode": "Incremental", "template": stripped, "parameters": parameter_file(file)["parameters"]}});
    let deployment = format!(
        "/subscriptions/{SANDBOX_SUBSCRIPTION_ID}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/without-intent-rules?api-version=2025-04-01"
    );
    let created = arm(&sandbox, Method::PUT, &deployment, Some(&body)).await;
    assert_eq!(created.status(), 201);
    let failed = poll(&sandbox, &deployment).await;
    assert_eq!(failed["properties"]["provisioningState"], "Failed", "{failed}");
    let details = failed["properties"]["error"]["details"].as_array().expect("details").clone();
    assert!(
        details.iter().any(|d| d["code"] == "ConflictWithNetworkIntentPolicy"
            && d["target"].as_str().is_some_and(|t| t.ends_with("/networkSecurityGroups/sales-neu-nsg"))),
        "{failed}"
    );
}

/// The DBFS root key is set by a nested deployment that PUTs the workspace again; its body is
/// the outer workspace's, word for word, so the second PUT changes nothing but the key. The
/// same holds for the workload spokes' workspaces and the transit spoke's web-auth one.
#[test]
fn the_dbfs_root_key_redeploys_the_workspace_exactly_as_declared() {
    for (name, prefix) in [("spoke", "spokeName"), ("webauth", "transitName")] {
        let t = template(name);
        let outer =
            resources(&t).into_iter().find(|r| r["type"] == "Microsoft.Databricks/workspaces").expect("the workspace");
        let nested = resources(&t)
            .into_iter()
            .find(|r| r["name"] == format!("[format('{{0}}-dbfs-root-cmk', parameters('{prefix}'))]"))
            .unwrap_or_else(|| panic!("{name}.json: the DBFS root key's nested deployment"));
        let given = &nested["properties"]["parameters"];
        assert_eq!(
            given["workspaceProperties"]["value"], outer["properties"],
            "{name}.json: the re-PUT drifted from the workspace"
        );
        assert_eq!(given["workspaceName"]["value"], outer["name"]);
        assert_eq!(given["encryption"]["value"]["keySource"], "Microsoft.Keyvault");
        assert!(
            given["encryption"]["value"].get("keyversion").is_none(),
            "{name}.json: unpinned, the storage account follows rotations"
        );
        assert_eq!(outer["properties"]["parameters"]["prepareEncryption"]["value"], true);
    }
    let hub = template("hub");
    assert!(resources(&hub).iter().any(|r| r["type"] == "Microsoft.KeyVault/vaults/keys"
        && r["name"].as_str().is_some_and(|n| n.contains("dbfsRootKeyName"))));
}

/// One row of infra/README.md's table of the copy's data paths.
struct DataPath {
    path: String,
    endpoints: Vec<String>,
    zones: Vec<String>,
    route: String,
    rule: String,
}

/// The backticked names in a table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn data_paths() -> Vec<DataPath> {
    let readme = std::fs::read_to_string(root().join("infra/README.md")).expect("infra/README.md");
    let section = readme.split("## The copy's data paths").nth(1).expect("infra/README.md has the data-path table");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 5, "a data-path row has five cells: {line}");
            DataPath {
                path: cells[0].to_string(),
                endpoints: ticked(cells[1]),
                zones: ticked(cells[2]),
                route: cells[3].to_string(),
                rule: ticked(cells[4]).into_iter().next().unwrap_or_default(),
            }
        })
        .collect()
}

/// The copy's data paths, followed on paper: for each path the README lists, the secondary
/// spoke holds the private endpoints (to the primary's storage), each registered in a hub
/// zone linked to the hub VNet whose firewall DNS proxy is the spoke's DNS server; the
/// spoke's routes keep the private-link subnet local; and the NSG rule (or, for serverless,
/// the NCC private endpoint rules) lets the traffic through.
#[test]
fn the_copys_data_paths_are_carried_by_endpoint_zone_route_and_rule() {
    let spoke = template("spoke");
    let hub = template("hub");
    let (file, _, rg) = PARAMETER_FILES[5];
    let values = parameter_values(&spoke, &parameter_file(file), rg);
    let variables = object(&spoke["variables"]);
    let eval = |v: &Value| sandbox::arm::evaluate(SANDBOX_SUBSCRIPTION_ID, rg, &values, &variables, v);
    let of_type = |t: &Value, kind: &str| -> Vec<Value> {
        resources(t).into_iter().filter(|r| r["type"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(kind))).collect()
    };
    let primary = parameter_file("spoke.primary")["parameters"].clone();
    let primary_uc = primary["ucStorageAccountName"]["value"].as_str().expect("the primary's UC account").to_string();
    let external = primary["externalStorageAccountName"]["value"].as_str().expect("the pair's account").to_string();

    // Name resolution: the spoke's DNS server is the hub firewall's DNS proxy, which resolves
    // the zones linked to the hub VNet.
    let vnet = &of_type(&spoke, "Microsoft.Network/virtualNetworks")[0];
    assert_eq!(eval(&vnet["properties"]["dhcpOptions"]["dnsServers"][0]), values["firewallPrivateIp"]);
    let policy = &of_type(&hub, "Microsoft.Network/firewallPolicies")[0];
    assert_eq!(policy["properties"]["dnsSettings"]["enableProxy"], true);
    let hub_links: Vec<String> = of_type(&hub, "Microsoft.Network/privateDnsZones/virtualNetworkLinks")
        .iter()
        .filter_map(|l| l["name"].as_str().map(|n| n.split(['\'', '/']).nth(1).unwrap_or_default().to_string()))
        .collect();

    let paths = data_paths();
    let names: Vec<&str> = paths.iter().map(|p| p.path.as_str()).collect();
    for expected in
        ["managed table clone via sharing", "external Delta clone by path", "external volume read", "serverless clone"]
    {
        assert!(names.contains(&expected), "infra/README.md's data paths lack {expected:?}: {names:?}");
    }
    let subnets = vnet["properties"]["subnets"].as_array().expect("subnets").clone();
    for path in &paths {
        let label = &path.path;
        if path.endpoints.iter().any(|e| e == "nccPrivateEndpointRules") {
            // Serverless compute leaves through the NCC's own private endpoints, one per rule.
            let rules = eval(&spoke["outputs"]["nccPrivateEndpointRules"]["value"]);
            let rules = rules.as_array().unwrap_or_else(|| panic!("{label}: nccPrivateEndpointRules: {rules}")).clone();
            for group in ["dfs", "blob"] {
                assert!(
                    rules.iter().any(|r| r["groupId"] == group
                        && r["resourceId"]
                            .as_str()
                            .is_some_and(|id| id.ends_with(&format!("/storageAccounts/{primary_uc}")))),
                    "{label}: the secondary's NCC needs a {group} rule to the primary's UC account: {rules:?}"
                );
            }
            continue;
        }
        assert!(!path.endpoints.is_empty() && !path.zones.is_empty(), "{label}: endpoints and zones");
        for (endpoint, zone) in path.endpoints.iter().zip(&path.zones) {
            let name = format!("[variables('{endpoint}')]");
            let pe = of_type(&spoke, "Microsoft.Network/privateEndpoints")
                .into_iter()
                .find(|r| r["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{label}: spoke.json has no private endpoint {endpoint}"));
            assert_ne!(
                pe.get("condition").map(&eval),
                Some(Value::Bool(false)),
                "{label}: {endpoint} is not deployed in the secondary"
            );
            let target =
                eval(&pe["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"]);
            let target = target.as_str().unwrap_or_default();
            assert!(
                target.ends_with(&format!("/storageAccounts/{primary_uc}"))
                    || target.ends_with(&format!("/storageAccounts/{external}")),
                "{label}: {endpoint} points at {target}, not at the primary's storage"
            );
            assert!(
                target.contains("/resourceGroups/rg-dr-sales-weu/"),
                "{label}: {endpoint} crosses to the primary's group: {target}"
            );
            let group = pe["properties"]["privateLinkServiceConnections"][0]["properties"]["groupIds"][0]
                .as_str()
                .unwrap_or_default();
            assert!(zone.contains(&format!(".{group}.")), "{label}: {endpoint} ({group}) registers in {zone}");
            let zone_group = format!("[format('{{0}}/default', variables('{endpoint}'))]");
            let registration = of_type(&spoke, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups")
                .into_iter()
                .find(|r| r["name"] == zone_group.as_str())
                .unwrap_or_else(|| panic!("{label}: {endpoint} registers in no zone"));
            let zone_id =
                eval(&registration["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]);
            assert!(
                zone_id.as_str().is_some_and(|id| id.contains("/resourceGroups/rg-dr-hub-neu/")
                    && id.ends_with(&format!("/privateDnsZones/{zone}"))),
                "{label}: {endpoint} registers in {zone_id}, not in the secondary hub's {zone}"
            );
            assert!(
                of_type(&hub, "Microsoft.Network/privateDnsZones").iter().any(|z| z["name"] == zone.as_str()),
                "{label}: hub.json has no zone {zone}"
            );
            assert!(hub_links.iter().any(|l| l == zone), "{label}: {zone} is not linked to the hub VNet");
        }
        // Route: the endpoints sit in the spoke's own address space, and the route table
        // holds nothing more specific than the default route, so the VNet's local route
        // carries the traffic (no firewall hop).
        assert!(path.route.contains("VnetLocal"), "{label}: route {}", path.route);
        let private_link =
            subnets.iter().find(|s| s["name"] == "[variables('privateLinkSubnetName')]").expect("privatelink subnet");
        let prefix = eval(&private_link["properties"]["addressPrefix"]);
        let space = values["spokeAddressPrefix"].as_str().expect("address space");
        assert!(within(prefix.as_str().unwrap_or_default(), space), "{label}: {prefix} outside {space}");
        let routes = &of_type(&spoke, "Microsoft.Network/routeTables")[0]["properties"]["routes"];
        for route in routes.as_array().into_iter().flatten() {
            assert_eq!(
                route["properties"]["addressPrefix"], "0.0.0.0/0",
                "{label}: a route more specific than the default"
            );
        }
        // Rule: the NSG on the workspace's subnets allows it.
        let nsg = &of_type(&spoke, "Microsoft.Network/networkSecurityGroups")[0];
        let rule = nsg["properties"]["securityRules"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == path.rule.as_str())
            .unwrap_or_else(|| panic!("{label}: the NSG has no rule {}", path.rule));
        let p = &rule["properties"];
        assert_eq!((p["access"].as_str(), p["direction"].as_str()), (Some("Allow"), Some("Outbound")), "{label}");
        assert_eq!(
            p["destinationAddressPrefix"], "VirtualNetwork",
            "{label}: the endpoints are in the VirtualNetwork tag"
        );
        for workspace_subnet in ["[variables('hostSubnetName')]", "[variables('containerSubnetName')]"] {
            let subnet = subnets.iter().find(|s| s["name"] == workspace_subnet).expect("workspace subnet");
            assert!(subnet["properties"]["networkSecurityGroup"]["id"]
                .as_str()
                .is_some_and(|id| id.contains("nsgName")));
        }
    }
}

/// Whether the IPv4 range `inner` lies within `outer`.
fn within(inner: &str, outer: &str) -> bool {
    let parse = |cidr: &str| -> Option<(u32, u32)> {
        let (address, bits) = cidr.split_once('/')?;
        let address: std::net::Ipv4Addr = address.parse().ok()?;
        Some((u32::from(address), bits.parse().ok()?))
    };
    let (Some((a, abits)), Some((b, bbits))) = (parse(inner), parse(outer)) else { return false };
    let mask = if bbits == 0 { 0 } else { u32::MAX << (32 - bbits) };
    abits >= bbits && a & mask == b & mask
}

/// checkov, from CHECKOV, the venv .ci/setup.d/40-checkov.sh makes, or PATH; the test fails
/// without it, on purpose: a scanner that does not run proves nothing.
fn checkov() -> PathBuf {
    if let Some(path) = std::env::var_os("CHECKOV") {
        return path.into();
    }
    let venv = root().join(".tools/checkov-venv/bin/checkov");
    if venv.exists() {
        return venv;
    }
    if Command::new("checkov").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return "checkov".into();
    }
    panic!(
        "checkov is not installed: run .ci/setup.d/40-checkov.sh (it installs checkov {CHECKOV_VERSION} into .tools/checkov-venv) or set CHECKOV to its path"
    );
}

/// checkov's ARM report for `directory` (relative to the repository), with drbot's checks.
fn scan(directory: &str) -> Value {
    let output = Command::new(checkov())
        .current_dir(root())
        .args(["-d", directory, "--framework", "arm", "--skip-download", "--external-checks-dir", "infra/checks"])
        .args(["-o", "json"])
        .output()
        .expect("checkov runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("checkov's output is not JSON ({e}); stderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    let reports = if report.is_array() { report.as_array().cloned().unwrap_or_default() } else { vec![report] };
    reports.into_iter().find(|r| r["check_type"] == "arm").unwrap_or_else(|| panic!("no ARM report for {directory}"))
}

fn check_ids(report: &Value, kind: &str) -> Vec<String> {
    report["results"][kind]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["check_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn checkov_finds_nothing_in_infra_and_every_skip_says_why() {
    let report = scan("infra");
    assert_eq!(report["summary"]["checkov_version"], CHECKOV_VERSION);
    let setup = std::fs::read_to_string(root().join(".ci/setup.d/40-checkov.sh")).expect("the setup script");
    assert!(setup.contains(&format!("checkov=={CHECKOV_VERSION}")), "the setup script pins {CHECKOV_VERSION}");
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
        .collect();
    assert!(failed.is_empty(), "checkov fails infra/:\n{}", failed.join("\n"));
    assert_eq!(report["summary"]["parsing_errors"], 0);
    let passed = check_ids(&report, "passed_checks");
    for id in CUSTOM_CHECKS {
        assert!(passed.iter().any(|p| p == id), "drbot's check {id} did not run on infra/");
    }
    for skipped in report["results"]["skipped_checks"].as_array().into_iter().flatten() {
        let why = skipped["check_result"]["suppress_comment"].as_str().unwrap_or_default();
        assert!(why.trim().len() > 20, "{} is skipped without a justification", skipped["check_id"]);
    }
}

#[test]
fn each_of_drbots_checks_fails_the_broken_fixture() {
    let report = scan("tests/infra-fixtures");
    let failed = check_ids(&report, "failed_checks");
    for id in CUSTOM_CHECKS {
        assert!(failed.iter().any(|f| f == id), "{id} did not fail tests/infra-fixtures/broken.json: {failed:?}");
    }
    // The storage account, the vault and the workspace all fail the public-access check.
    assert_eq!(failed.iter().filter(|f| *f == "CKV_DRBOT_5").count(), 3);
}
