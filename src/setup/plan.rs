//! Desired state against current state, and nothing else: what `drbot setup`
//! reads goes in, the list of changes comes out. No I/O, so every case
//! (fresh registration, half-configured, done, hand-edited) is a unit test.
//!
//! Changes only add or correct what drbot needs and keep everything else an
//! administrator put there (other redirect URIs, other scopes, other API
//! permissions, other pre-authorised clients).

use std::fmt;

use serde_json::{json, Value};

use super::desired;

/// Who the set-up is for.
#[derive(Clone, Debug)]
pub struct Desired {
    /// The bot's Entra app id (Azure Bot's Microsoft App ID).
    pub app_id: String,
    pub tenant_id: String,
    pub connection_name: String,
}

/// What Graph and ARM hold now.
#[derive(Clone, Debug)]
pub struct Current {
    /// The application object, as `GET /applications/{id}` returns it.
    pub application: Value,
    pub has_service_principal: bool,
    pub connection: Option<CurrentConnection>,
}

#[derive(Clone, Debug)]
pub struct CurrentConnection {
    /// The connection setting's properties (the secret left out).
    pub properties: Value,
    /// Whether its client secret is the one configured for the bot (`None`:
    /// the caller may not read it).
    pub secret_matches: Option<bool>,
}

/// One change, with the sentence the operator reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// `PATCH /applications/{id}` with this body.
    Application { what: String, patch: Value },
    /// `POST /servicePrincipals` for the app, so the tenant can consent to it.
    ServicePrincipal,
    /// `PUT` of the Azure Bot's OAuth connection setting.
    Connection { what: String, create: bool },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Application { what, .. } | Change::Connection { what, .. } => f.write_str(what),
            Change::ServicePrincipal => f.write_str("create the app's service principal in the tenant"),
        }
    }
}

pub fn plan(desired: &Desired, current: &Current) -> Vec<Change> {
    let app = &current.application;
    let app_id = desired.app_id.as_str();
    let mut changes = Vec::new();

    let uri = desired::identifier_uri(app_id);
    if let Some(uris) = missing(&app["identifierUris"], &[uri.as_str()]) {
        changes.push(Change::Application {
            what: format!("set the application ID URI {uri}"),
            patch: json!({"identifierUris": uris}),
        });
    }

    if let Some(uris) = missing(&app["web"]["redirectUris"], &[desired::REDIRECT_URI]) {
        changes.push(Change::Application {
            what: format!("add the web redirect URI {}", desired::REDIRECT_URI),
            patch: json!({"web": {"redirectUris": uris}}),
        });
    }

    changes.extend(api_changes(app_id, &app["api"]));

    if let Some((access, added)) = resource_access(&app["requiredResourceAccess"]) {
        changes.push(Change::Application {
            what: format!("request the API permissions {}", added.join(", ")),
            patch: json!({"requiredResourceAccess": access}),
        });
    }

    // Roles match security group ids (src/access.rs): the token must carry them.
    if !matches!(app["groupMembershipClaims"].as_str(), Some("SecurityGroup" | "All")) {
        changes.push(Change::Application {
            what: "put security group ids in tokens (groupMembershipClaims = SecurityGroup)".to_string(),
            patch: json!({"groupMembershipClaims": "SecurityGroup"}),
        });
    }

    if !current.has_service_principal {
        changes.push(Change::ServicePrincipal);
    }

    match &current.connection {
        None => changes.push(Change::Connection {
            what: format!(
                "create the Azure Bot OAuth connection {} (Azure Active Directory v2, token exchange URL {uri})",
                desired.connection_name
            ),
            create: true,
        }),
        Some(connection) => {
            let differences = connection_differences(desired, connection);
            if !differences.is_empty() {
                changes.push(Change::Connection {
                    what: format!(
                        "update the Azure Bot OAuth connection {}: {}",
                        desired.connection_name,
                        differences.join(", ")
                    ),
                    create: false,
                });
            }
        }
    }
    changes
}

/// The list with `wanted` added, if any of it is missing.
fn missing(current: &Value, wanted: &[&str]) -> Option<Vec<String>> {
    let mut list: Vec<String> =
        current.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    let before = list.len();
    for item in wanted {
        if !list.iter().any(|l| l == item) {
            list.push(item.to_string());
        }
    }
    (list.len() != before).then_some(list)
}

/// The scope, v2 access tokens, then the pre-authorised Teams clients. A new
/// scope goes in its own PATCH before the clients that reference it: Entra
/// checks `delegatedPermissionIds` against the scopes it already has. Every
/// `api` PATCH carries the whole of what drbot manages in `api`, so nothing
/// is lost whether the server merges or replaces the complex property.
fn api_changes(app_id: &str, api: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut scopes: Vec<Value> = api["oauth2PermissionScopes"].as_array().cloned().unwrap_or_default();
    let mut pre_authorized: Vec<Value> = api["preAuthorizedApplications"].as_array().cloned().unwrap_or_default();
    let version_ok = api["requestedAccessTokenVersion"].as_i64() == Some(2);

    let existing = scopes.iter().position(|s| s["value"] == desired::SCOPE_VALUE);
    let scope_id = match existing {
        Some(i) => scopes[i]["id"].as_str().unwrap_or_default().to_string(),
        None => desired::scope_id(app_id),
    };
    let mut scope_what = Vec::new();
    match existing {
        None => {
            scopes.push(desired::scope(&scope_id));
            scope_what.push(format!("add the delegated scope {} (admins and users may consent)", desired::SCOPE_VALUE));
        }
        Some(i) => {
            let scope = &mut scopes[i];
            if scope["type"] != "User" || scope["isEnabled"] != true {
                let wanted = desired::scope(&scope_id);
                scope["type"] = json!("User");
                scope["isEnabled"] = json!(true);
                for text in [
                    "adminConsentDisplayName",
                    "adminConsentDescription",
                    "userConsentDisplayName",
                    "userConsentDescription",
                ] {
                    if scope[text].as_str().is_none_or(str::is_empty) {
                        scope[text] = wanted[text].clone();
                    }
                }
                scope_what.push(format!("enable the scope {} for admins and users to consent", desired::SCOPE_VALUE));
            }
        }
    }
    if !version_ok {
        scope_what.push("issue v2 access tokens (Teams SSO needs them)".to_string());
    }
    if !scope_what.is_empty() {
        changes.push(Change::Application {
            what: scope_what.join("; "),
            patch: json!({"api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": scopes, "preAuthorizedApplications": pre_authorized}}),
        });
    }

    let mut clients_added = Vec::new();
    for (client, name) in [(desired::TEAMS_DESKTOP_MOBILE, "Teams desktop/mobile"), (desired::TEAMS_WEB, "Teams web")] {
        let entry =
            pre_authorized.iter_mut().find(|p| p["appId"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(client)));
        match entry {
            Some(entry) => {
                let ids = entry["delegatedPermissionIds"].as_array().cloned().unwrap_or_default();
                if !ids.iter().any(|id| id == scope_id.as_str()) {
                    let mut ids = ids;
                    ids.push(json!(scope_id));
                    entry["delegatedPermissionIds"] = json!(ids);
                    clients_added.push(name);
                }
            }
            None => {
                pre_authorized.push(json!({"appId": client, "delegatedPermissionIds": [scope_id]}));
                clients_added.push(name);
            }
        }
    }
    if !clients_added.is_empty() {
        changes.push(Change::Application {
            what: format!("pre-authorise {} for {}", clients_added.join(" and "), desired::SCOPE_VALUE),
            patch: json!({"api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": scopes, "preAuthorizedApplications": pre_authorized}}),
        });
    }
    changes
}

/// `requiredResourceAccess` with drbot's delegated permissions added, and their names.
fn resource_access(current: &Value) -> Option<(Vec<Value>, Vec<&'static str>)> {
    let mut access: Vec<Value> = current.as_array().cloned().unwrap_or_default();
    let mut added = Vec::new();
    for (resource, permissions) in desired::required_resource_access() {
        let index = match access
            .iter()
            .position(|a| a["resourceAppId"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(resource)))
        {
            Some(index) => index,
            None => {
                access.push(json!({"resourceAppId": resource, "resourceAccess": []}));
                access.len() - 1
            }
        };
        let entry = &mut access[index];
        let mut list = entry["resourceAccess"].as_array().cloned().unwrap_or_default();
        for permission in permissions {
            let present = list.iter().any(|p| p["id"] == permission && p["type"] == "Scope");
            if !present {
                list.push(json!({"id": permission, "type": "Scope"}));
                added.push(desired::permission_name(permission));
            }
        }
        entry["resourceAccess"] = json!(list);
    }
    (!added.is_empty()).then_some((access, added))
}

/// The names of the connection's settings that differ from what SSO needs.
fn connection_differences(desired: &Desired, current: &CurrentConnection) -> Vec<&'static str> {
    let wanted = desired::connection_properties(&desired.app_id, &desired.tenant_id);
    let have = &current.properties;
    let same_text =
        |key: &str| have[key].as_str().is_some_and(|h| wanted[key].as_str().is_some_and(|w| h.eq_ignore_ascii_case(w)));
    let parameter = |properties: &Value, key: &str| {
        properties["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["key"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .and_then(|p| p["value"].as_str())
            .map(str::to_string)
    };
    let scope_set = |properties: &Value| {
        let mut scopes: Vec<String> = properties["scopes"]
            .as_str()
            .unwrap_or_default()
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        scopes.sort();
        scopes
    };
    let mut differences = Vec::new();
    if !same_text("serviceProviderId") {
        differences.push("identity provider");
    }
    if !same_text("clientId") {
        differences.push("client id");
    }
    if scope_set(have) != scope_set(&wanted) {
        differences.push("scopes");
    }
    for (key, name) in [("tenantID", "tenant id"), ("tokenExchangeUrl", "token exchange URL")] {
        if parameter(have, key) != parameter(&wanted, key) {
            differences.push(name);
        }
    }
    match current.secret_matches {
        Some(true) => {}
        Some(false) => differences.push("client secret"),
        None => differences.push("client secret (not readable with these rights, so sent again)"),
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "b0770000-0000-4000-8000-0000000000b0";

    fn desired() -> Desired {
        Desired { app_id: APP.into(), tenant_id: "tenant".into(), connection_name: "drbot-sso".into() }
    }

    fn fresh_application() -> Value {
        json!({"id": "obj", "appId": APP, "identifierUris": [], "api": {"oauth2PermissionScopes": [], "preAuthorizedApplications": []},
            "requiredResourceAccess": [], "web": {"redirectUris": []}})
    }

    /// Applies the planned PATCHes the way Graph merges them.
    fn apply(mut app: Value, changes: &[Change]) -> Value {
        for change in changes {
            if let Change::Application { patch, .. } = change {
                for (key, value) in patch.as_object().expect("object") {
                    match (app.get_mut(key), value) {
                        (Some(Value::Object(have)), Value::Object(new)) => {
                            have.extend(new.clone());
                        }
                        _ => app[key.as_str()] = value.clone(),
                    }
                }
            }
        }
        app
    }

    fn done_connection() -> CurrentConnection {
        CurrentConnection { properties: desired::connection_properties(APP, "tenant"), secret_matches: Some(true) }
    }

    #[test]
    fn a_fresh_registration_gets_everything_in_order() {
        let current = Current { application: fresh_application(), has_service_principal: false, connection: None };
        let changes = plan(&desired(), &current);
        let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 8, "{said:#?}");
        assert!(said[0].contains("api://botid-b0770000"));
        assert!(said[1].contains("token.botframework.com/.auth/web/redirect"));
        assert!(said[2].contains("add the delegated scope access_as_user") && said[2].contains("v2 access tokens"));
        assert!(said[3].contains("Teams desktop/mobile and Teams web"));
        assert!(said[4].contains("Azure Databricks user_impersonation") && said[4].contains("User.Read"));
        assert!(said[5].contains("groupMembershipClaims = SecurityGroup"));
        assert_eq!(changes[6], Change::ServicePrincipal);
        assert!(matches!(&changes[7], Change::Connection { create: true, .. }));

        // The scope is added before any client references it.
        let Change::Application { patch: scope_patch, .. } = &changes[2] else { panic!() };
        assert_eq!(scope_patch["api"]["preAuthorizedApplications"], json!([]));
        let scope_id = desired::scope_id(APP);
        assert_eq!(scope_patch["api"]["oauth2PermissionScopes"][0]["id"], scope_id.as_str());

        let after = apply(fresh_application(), &changes);
        assert_eq!(after["api"]["preAuthorizedApplications"].as_array().map(Vec::len), Some(2));
        assert_eq!(after["api"]["preAuthorizedApplications"][1]["delegatedPermissionIds"], json!([scope_id]));
        assert_eq!(after["requiredResourceAccess"].as_array().map(Vec::len), Some(3));
        let again = Current { application: after, has_service_principal: true, connection: Some(done_connection()) };
        assert_eq!(plan(&desired(), &again), Vec::new(), "nothing left to do");
    }

    #[test]
    fn what_an_administrator_added_is_kept_and_an_existing_scope_id_reused() {
        let mut app = fresh_application();
        app["identifierUris"] = json!(["api://drbot.contoso.example"]);
        app["web"]["redirectUris"] = json!(["https://contoso.example/callback"]);
        app["api"]["oauth2PermissionScopes"] = json!([
            {"id": "11111111-1111-4111-8111-111111111111", "value": "access_as_user", "type": "Admin", "isEnabled": true, "adminConsentDisplayName": "Theirs"},
            {"id": "22222222-2222-4222-8222-222222222222", "value": "other", "type": "User", "isEnabled": true}]);
        app["api"]["preAuthorizedApplications"] = json!([{"appId": "5E3CE6C0-2B1F-4285-8D4B-75EE78787346", "delegatedPermissionIds": ["22222222-2222-4222-8222-222222222222"]}]);
        app["requiredResourceAccess"] = json!([{"resourceAppId": desired::GRAPH_APP, "resourceAccess": [
            {"id": desired::GRAPH_USER_READ, "type": "Scope"}, {"id": "aaaaaaaa-0000-4000-8000-000000000000", "type": "Role"}]}]);
        let current =
            Current { application: app.clone(), has_service_principal: true, connection: Some(done_connection()) };
        let changes = plan(&desired(), &current);
        let after = apply(app, &changes);

        assert_eq!(after["identifierUris"], json!(["api://drbot.contoso.example", format!("api://botid-{APP}")]));
        assert_eq!(after["web"]["redirectUris"].as_array().map(Vec::len), Some(2));
        let scopes = after["api"]["oauth2PermissionScopes"].as_array().expect("scopes");
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[0]["id"], "11111111-1111-4111-8111-111111111111", "the existing id is kept");
        assert_eq!(scopes[0]["type"], "User");
        assert_eq!(scopes[0]["adminConsentDisplayName"], "Theirs");
        let web = &after["api"]["preAuthorizedApplications"][0];
        assert_eq!(
            web["delegatedPermissionIds"],
            json!(["22222222-2222-4222-8222-222222222222", "11111111-1111-4111-8111-111111111111"])
        );
        let graph = &after["requiredResourceAccess"][0]["resourceAccess"];
        assert_eq!(graph.as_array().map(Vec::len), Some(6), "the Role stays, four scopes join User.Read");
        assert!(!changes.iter().any(|c| matches!(c, Change::Connection { .. } | Change::ServicePrincipal)));
    }

    #[test]
    fn connection_differences_are_named_and_case_and_order_do_not_count() {
        let mut properties = desired::connection_properties(APP, "tenant");
        properties["clientId"] = json!(APP.to_uppercase());
        properties["scopes"] = json!(format!("offline_access,openid profile API://BOTID-{APP}/access_as_user"));
        let same = CurrentConnection { properties: properties.clone(), secret_matches: Some(true) };
        let done = Current { application: Value::Null, has_service_principal: true, connection: Some(same) };
        assert!(!plan(&desired(), &done).iter().any(|c| matches!(c, Change::Connection { .. })));

        properties["parameters"] = json!([{"key": "tenantID", "value": "common"}]);
        let stale = CurrentConnection { properties, secret_matches: Some(false) };
        let current = Current { application: Value::Null, has_service_principal: true, connection: Some(stale) };
        let changes = plan(&desired(), &current);
        let connection = changes.iter().find(|c| matches!(c, Change::Connection { .. })).expect("a change").to_string();
        assert_eq!(
            connection,
            "update the Azure Bot OAuth connection drbot-sso: tenant id, token exchange URL, client secret"
        );
    }
}
