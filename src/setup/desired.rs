//! What Teams SSO needs of the bot's Entra app registration and of its Azure
//! Bot resource: the well-known ids and the desired values, as data. Ids come
//! from Microsoft's first-party app registrations (they are the same in
//! every tenant).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where Entra sends the user back after the Bot Framework token service's sign-in.
pub const REDIRECT_URI: &str = "https://token.botframework.com/.auth/web/redirect";
/// The delegated scope Teams asks for when it requests an SSO token.
pub const SCOPE_VALUE: &str = "access_as_user";

/// The Teams clients Teams SSO runs in; pre-authorised, users see no consent prompt for them.
pub const TEAMS_DESKTOP_MOBILE: &str = "1fec8e78-bce4-4aaf-ab1b-5451cc387264";
pub const TEAMS_WEB: &str = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346";

/// Microsoft Graph and the delegated permissions sign-in needs.
pub const GRAPH_APP: &str = "00000003-0000-0000-c000-000000000000";
pub const GRAPH_OPENID: &str = "37f7f235-527c-4136-accd-4a02d197296e";
pub const GRAPH_PROFILE: &str = "14dad69e-099b-42c9-810b-d002981feec1";
pub const GRAPH_EMAIL: &str = "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0";
pub const GRAPH_OFFLINE_ACCESS: &str = "7427e0e9-2fba-42fe-b0c0-848c9e6a8182";
pub const GRAPH_USER_READ: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";
/// Azure Databricks and its one delegated permission.
pub const DATABRICKS_APP: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
pub const DATABRICKS_USER_IMPERSONATION: &str = "739272be-e143-11e8-9f32-f2801f1b9fd1";
/// Azure Resource Manager and its one delegated permission (deployments run as the user).
pub const ARM_APP: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";
pub const ARM_USER_IMPERSONATION: &str = "41094075-9dad-400e-a0bd-54e686782033";

/// The Bot Service's identity provider "Azure Active Directory v2".
pub const AAD_V2_PROVIDER_ID: &str = "30dd229c-58e3-4a48-bdfd-91ec48eb906c";
pub const AAD_V2_PROVIDER_NAME: &str = "Azure Active Directory v2";

/// The application ID URI Teams requests SSO tokens for.
pub fn identifier_uri(app_id: &str) -> String {
    format!("api://botid-{app_id}")
}

/// The id of the `access_as_user` scope when drbot creates it: derived from
/// the app id, so a second run (or a run on another machine) names the same
/// scope instead of adding a twin.
pub fn scope_id(app_id: &str) -> String {
    let digest = Sha256::digest(format!("drbot/{SCOPE_VALUE}/{}", app_id.to_ascii_lowercase()).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // Marked as a version-4 (random-looking) UUID, as Entra's own scope ids are.
    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// The `access_as_user` scope: admins and users may consent.
pub fn scope(id: &str) -> Value {
    json!({
        "id": id,
        "value": SCOPE_VALUE,
        "type": "User",
        "isEnabled": true,
        "adminConsentDisplayName": "Use drbot as the signed-in user",
        "adminConsentDescription": "Lets drbot call Azure Databricks and Azure Resource Manager as the signed-in user, from Microsoft Teams.",
        "userConsentDisplayName": "Use drbot as you",
        "userConsentDescription": "Lets drbot act as you in Azure Databricks and Azure, from Microsoft Teams.",
    })
}

/// The delegated permissions drbot requests, by resource app id.
pub fn required_resource_access() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (GRAPH_APP, vec![GRAPH_OPENID, GRAPH_PROFILE, GRAPH_EMAIL, GRAPH_OFFLINE_ACCESS, GRAPH_USER_READ]),
        (DATABRICKS_APP, vec![DATABRICKS_USER_IMPERSONATION]),
        (ARM_APP, vec![ARM_USER_IMPERSONATION]),
    ]
}

/// A readable name for a permission id, for the list of changes.
pub fn permission_name(id: &str) -> &'static str {
    match id {
        GRAPH_OPENID => "Microsoft Graph openid",
        GRAPH_PROFILE => "Microsoft Graph profile",
        GRAPH_EMAIL => "Microsoft Graph email",
        GRAPH_OFFLINE_ACCESS => "Microsoft Graph offline_access",
        GRAPH_USER_READ => "Microsoft Graph User.Read",
        DATABRICKS_USER_IMPERSONATION => "Azure Databricks user_impersonation",
        ARM_USER_IMPERSONATION => "Azure Resource Manager user_impersonation",
        _ => "a permission",
    }
}

/// The OAuth connection's scopes: the bot's own API, so the token the
/// token service hands back is an assertion the bot can trade on-behalf-of
/// for Databricks and ARM tokens; plus sign-in's OpenID scopes.
pub fn connection_scopes(app_id: &str) -> String {
    format!("{}/{SCOPE_VALUE} openid profile offline_access", identifier_uri(app_id))
}

/// The OAuth connection setting's properties, without the client secret
/// (which is compared and sent apart, so it is never in a value that might be printed).
pub fn connection_properties(app_id: &str, tenant_id: &str) -> Value {
    json!({
        "clientId": app_id,
        "scopes": connection_scopes(app_id),
        "serviceProviderId": AAD_V2_PROVIDER_ID,
        "serviceProviderDisplayName": AAD_V2_PROVIDER_NAME,
        "parameters": [
            {"key": "tenantID", "value": tenant_id},
            {"key": "tokenExchangeUrl", "value": identifier_uri(app_id)},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_id_is_stable_per_app_and_a_uuid() {
        let a = scope_id("b0770000-0000-4000-8000-0000000000b0");
        assert_eq!(a, scope_id("B0770000-0000-4000-8000-0000000000B0"));
        assert_ne!(a, scope_id("b0770000-0000-4000-8000-0000000000b1"));
        let parsed = uuid::Uuid::parse_str(&a).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn every_requested_permission_has_a_name() {
        for (_, ids) in required_resource_access() {
            assert!(ids.iter().all(|id| permission_name(id) != "a permission"));
        }
    }
}
