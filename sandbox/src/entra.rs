//! The Entra ID stand-in: OpenID metadata, signing keys, and the token
//! endpoint (client credentials, on-behalf-of, and for public clients the
//! device authorization grant with its refresh tokens, see [`device_code`]).
//!
//! Tokens are v2.0-shaped JWTs signed RS256 with this tenant's [`KeySet`]:
//! `aud` is the resource the scope names, `azp`/`appid` the client, and the
//! identity claims (`oid`, `tid`, `upn`, `name`, `groups`) those of the user or
//! service principal. Errors use Entra's JSON error shape with AADSTS codes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::RwLock;
use serde_json::{json, Value};

use crate::caller::{AccessTokenVerifier, Caller, KeySetVerifier};
use crate::directory::{Directory, User};
use crate::keys::KeySet;

pub mod device_code;

/// How long issued access tokens live, as Entra's do.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// A confidential client application registered in the tenant.
#[derive(Clone, Debug)]
pub struct AppRegistration {
    pub client_id: String,
    pub secret: String,
    pub name: String,
}

/// Groups a JWT carries at most; beyond, the overage claim.
pub const GROUPS_IN_A_JWT: usize = 200;

/// The tenant: its keys, registered apps and directory.
pub struct Entra {
    pub tenant_id: String,
    pub keys: Arc<KeySet>,
    pub directory: Directory,
    group_claim_limit: RwLock<usize>,
    base_url: RwLock<String>,
    apps: RwLock<HashMap<String, AppRegistration>>,
    /// (user oid, resource) pairs whose delegated permission nobody consented to.
    consent_missing: RwLock<std::collections::HashSet<(String, String)>>,
    /// Users whose grants were revoked (sign-out everywhere, password reset).
    revoked: RwLock<std::collections::HashSet<String>>,
    /// How many on-behalf-of tokens were issued, per (user oid, resource).
    obo_issued: RwLock<HashMap<(String, String), u64>>,
    /// The workload-identity issuer (a Kubernetes cluster's service account tokens).
    pub federation_keys: Arc<KeySet>,
    /// client id → the federated subject it trusts (`system:serviceaccount:ns:name`).
    federated: RwLock<HashMap<String, String>>,
    /// Public clients (no secret): they may use the device code grant.
    public_clients: RwLock<std::collections::HashSet<String>>,
    /// Device codes handed out and not yet redeemed.
    pub(crate) device_codes: device_code::DeviceCodes,
}

/// The audience of federated (workload identity) tokens.
pub const FEDERATED_TOKEN_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The resource ids the sandbox knows for the on-behalf-of grant.
pub const DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
pub const ARM_RESOURCE: &str = "https://management.azure.com";
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Teams' desktop/mobile client, which requests the SSO token for the bot's API.
pub const TEAMS_CLIENT_ID: &str = "1fec8e78-bce4-4aaf-ab1b-5451cc387264";

impl Entra {
    pub fn new(tenant_id: &str, directory: Directory) -> Arc<Entra> {
        Arc::new(Entra {
            tenant_id: tenant_id.to_string(),
            keys: Arc::new(KeySet::new("entra", Vec::new())),
            directory,
            group_claim_limit: RwLock::new(GROUPS_IN_A_JWT),
            base_url: RwLock::new(String::new()),
            apps: RwLock::new(HashMap::new()),
            consent_missing: RwLock::new(Default::default()),
            revoked: RwLock::new(Default::default()),
            obo_issued: RwLock::new(HashMap::new()),
            federation_keys: Arc::new(KeySet::new("federation", Vec::new())),
            federated: RwLock::new(HashMap::new()),
            public_clients: RwLock::new([device_code::AZURE_CLI_CLIENT_ID.to_string()].into()),
            device_codes: device_code::DeviceCodes::default(),
        })
    }

    /// Called once the listener is bound: the issuer depends on the address.
    pub fn set_base_url(&self, base: &str) {
        *self.base_url.write() = base.trim_end_matches('/').to_string();
    }

    pub fn base_url(&self) -> String {
        self.base_url.read().clone()
    }

    /// `{base}/{tenant}/v2.0`, the `iss` of every token this tenant signs.
    pub fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.base_url(), self.tenant_id)
    }

    /// `{base}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url(), self.tenant_id)
    }

    pub fn openid_metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// A public client application (a CLI): no secret, device code sign-in.
    /// The Azure CLI's is registered from the start, as in every tenant.
    pub fn register_public_client(&self, client_id: &str) {
        self.public_clients.write().insert(client_id.to_string());
    }

    pub(crate) fn is_public_client(&self, client_id: &str) -> bool {
        self.public_clients.read().contains(client_id)
    }

    pub fn register_app(&self, app: AppRegistration) {
        self.apps.write().insert(app.client_id.clone(), app);
    }

    /// The token Teams obtains for a user by SSO: audience the bot's API.
    pub fn teams_sso_token(&self, user: &User, bot_app_id: &str) -> String {
        self.user_token(user, TEAMS_CLIENT_ID, &format!("api://botid-{bot_app_id}"), "access_as_user")
    }

    /// The issuer of federated (workload identity) tokens.
    pub fn federation_issuer(&self) -> String {
        format!("{}/federation", self.base_url())
    }

    /// Lets `client_id` authenticate with federated tokens for `subject`.
    pub fn trust_federated_subject(&self, client_id: &str, subject: &str) {
        self.federated.write().insert(client_id.to_string(), subject.to_string());
    }

    /// A service account token, as a Kubernetes cluster projects it into a pod.
    pub fn federated_token(&self, subject: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.federation_keys.sign(&json!({
            "iss": self.federation_issuer(),
            "sub": subject,
            "aud": [FEDERATED_TOKEN_AUDIENCE],
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }))
    }

    /// Whether the client proved who it is: its secret, or a federated token it is trusted for.
    fn client_authenticated(&self, app: &AppRegistration, form: &HashMap<String, String>) -> bool {
        const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
        match (form.get("client_assertion_type").map(String::as_str), form.get("client_assertion")) {
            (Some(JWT_BEARER), Some(assertion)) => {
                let Some(subject) = self.federated.read().get(&app.client_id).cloned() else { return false };
                self.federation_keys
                    .verify(assertion, &[&self.federation_issuer()], &[FEDERATED_TOKEN_AUDIENCE])
                    .is_ok_and(|claims| claims["sub"] == subject.as_str())
            }
            _ => form.get("client_secret").is_some_and(|secret| *secret == app.secret),
        }
    }

    /// Nobody consented to `resource` for this user: on-behalf-of answers AADSTS65001.
    pub fn require_consent(&self, user_oid: &str, resource: &str) {
        self.consent_missing.write().insert((user_oid.to_string(), resource.trim_end_matches('/').to_string()));
    }

    pub fn grant_consent(&self, user_oid: &str, resource: &str) {
        self.consent_missing.write().remove(&(user_oid.to_string(), resource.trim_end_matches('/').to_string()));
    }

    /// Revokes every grant of the user: on-behalf-of answers invalid_grant.
    pub fn revoke(&self, user_oid: &str) {
        self.revoked.write().insert(user_oid.to_string());
    }

    /// How many on-behalf-of tokens were issued for this user and resource.
    pub fn obo_count(&self, user_oid: &str, resource: &str) -> u64 {
        self.obo_issued.read().get(&(user_oid.to_string(), resource.to_string())).copied().unwrap_or(0)
    }

    /// A verifier for the resource servers that trust this tenant.
    pub fn verifier(&self) -> Arc<dyn AccessTokenVerifier> {
        Arc::new(KeySetVerifier { keys: self.keys.clone(), issuers: vec![self.issuer()] })
    }

    /// Verifies a token this tenant issued for `audience`.
    pub fn verify(&self, token: &str, audience: &str) -> Option<Caller> {
        self.verifier().verify(token, audience)
    }

    /// An app-only token, as the client-credentials grant issues it. `idtyp`
    /// is `app` for app-only tokens (Microsoft identity platform, "Optional
    /// claims reference": idtyp; the app's manifest asks for it).
    pub fn app_token(&self, client_id: &str, audience: &str) -> String {
        let principal = service_principal_oid(client_id);
        let identity = json!({"azpacr": "1", "oid": principal, "sub": principal, "roles": [], "idtyp": "app"});
        self.sign_token(client_id, audience, identity)
    }

    /// A delegated token for `user`, issued to `client_id` for `audience`.
    ///
    /// A user in more groups than a token may carry gets the overage claim
    /// instead of `groups` ("Groups overage claim", Microsoft identity
    /// platform access token reference: over 200 groups in a JWT, the token
    /// carries `_claim_names.groups` pointing at `_claim_sources`, and the app
    /// asks Microsoft Graph).
    pub fn user_token(&self, user: &User, client_id: &str, audience: &str, scopes: &str) -> String {
        let mut identity = json!({
            "oid": user.oid,
            "sub": user.oid,
            "upn": user.upn,
            "preferred_username": user.upn,
            "name": user.name,
            "scp": scopes,
        });
        if user.groups.len() > *self.group_claim_limit.read() {
            identity["_claim_names"] = json!({"groups": "src1"});
            identity["_claim_sources"] = json!({"src1": {
                "endpoint": format!("https://graph.windows.net/{}/users/{}/getMemberObjects", self.tenant_id, user.oid)
            }});
        } else {
            identity["groups"] = json!(user.groups);
        }
        self.sign_token(client_id, audience, identity)
    }

    /// How many groups a token carries before the overage claim replaces
    /// them (Entra's limit for JWTs is 200; a test lowers it rather than
    /// seeding hundreds of groups).
    pub fn set_group_claim_limit(&self, limit: usize) {
        *self.group_claim_limit.write() = limit;
    }

    /// A v2.0 access token: the claims every token has, plus who it names.
    fn sign_token(&self, client_id: &str, audience: &str, identity: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "aud": audience,
            "iss": self.issuer(),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECS,
            "azp": client_id,
            "appid": client_id,
            "tid": self.tenant_id,
            "ver": "2.0",
        });
        if let (Some(claims), Value::Object(identity)) = (claims.as_object_mut(), identity) {
            claims.extend(identity);
        }
        self.keys.sign(&claims)
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid_configuration))
            .route("/{tenant}/discovery/v2.0/keys", get(jwks))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code::start))
            .route("/msi/token", get(managed_identity_token))
            .with_state(self.clone())
    }
}

/// The secret App Service puts in `IDENTITY_HEADER`, and expects back in `X-IDENTITY-HEADER`.
pub const MANAGED_IDENTITY_HEADER_SECRET: &str = "sandbox-identity-header";

impl Entra {
    /// `IDENTITY_ENDPOINT` for an App Service managed identity credential (drbot's, src/identity/credential.rs).
    pub fn managed_identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.base_url())
    }
}

/// App Service's managed identity endpoint (api-version 2019-08-01): a token
/// for `resource` issued to the user-assigned identity `client_id`, which must
/// be an app registered in the tenant.
async fn managed_identity_token(
    State(entra): State<Arc<Entra>>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let refuse = |status: StatusCode, message: &str| {
        (status, Json(json!({"statusCode": status.as_u16(), "message": message}))).into_response()
    };
    if headers.get("x-identity-header").and_then(|v| v.to_str().ok()) != Some(MANAGED_IDENTITY_HEADER_SECRET) {
        return refuse(StatusCode::UNAUTHORIZED, "X-IDENTITY-HEADER is missing or wrong.");
    }
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    if params.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return refuse(StatusCode::BAD_REQUEST, "api-version 2019-08-01 is required.");
    }
    let Some(resource) = params.get("resource").filter(|r| !r.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "resource is required.");
    };
    let Some(client_id) = params.get("client_id").filter(|id| entra.apps.read().contains_key(*id)) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "No user-assigned identity with this client_id is assigned to this app.",
        );
    };
    let audience = resource.trim_end_matches('/');
    let expires_on = chrono::Utc::now().timestamp() + TOKEN_LIFETIME_SECS;
    Json(json!({
        "access_token": entra.app_token(client_id, audience),
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id,
    }))
    .into_response()
}

/// Service principals get a stable object id derived from their app id.
pub fn service_principal_oid(client_id: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(client_id.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The resource (`aud`) a `.default` scope names.
pub fn audience_of_scope(scope: &str) -> Option<String> {
    let first = scope.split_whitespace().find(|s| s.ends_with("/.default"))?;
    let resource = first.trim_end_matches("/.default").trim_end_matches('/');
    (!resource.is_empty()).then(|| resource.to_string())
}

async fn openid_configuration(State(entra): State<Arc<Entra>>, Path(tenant): Path<String>) -> Response {
    let issuer = if tenant == "common" {
        format!("{}/{{tenantid}}/v2.0", entra.base_url())
    } else if tenant == entra.tenant_id {
        entra.issuer()
    } else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_tenant", 90002, &format!("Tenant '{tenant}' not found."));
    };
    let base = entra.base_url();
    let t = &entra.tenant_id;
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
        "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "tenant_region_scope": "EU",
    }))
    .into_response()
}

async fn jwks(State(entra): State<Arc<Entra>>) -> Json<Value> {
    Json(entra.keys.jwks())
}

async fn token(State(entra): State<Arc<Entra>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    if tenant != entra.tenant_id {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return not_a_form();
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let client_id = field("client_id");
    if entra.is_public_client(client_id) {
        return device_code::public_client_token(&entra, client_id, &form);
    }
    let app = entra.apps.read().get(client_id).cloned();
    let Some(app) = app else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    if !entra.client_authenticated(&app, &form) {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.",
        );
    }
    let Some(audience) = audience_of_scope(field("scope")) else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.");
    };
    match field("grant_type") {
        "client_credentials" => token_response(entra.app_token(client_id, &audience)),
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => on_behalf_of(&entra, &app, &form, &audience),
        "" => missing_parameter("grant_type"),
        other => unsupported_grant_type(other),
    }
}

/// The on-behalf-of grant: a user's token for `app` in, a token for `audience` out.
fn on_behalf_of(entra: &Entra, app: &AppRegistration, form: &HashMap<String, String>, audience: &str) -> Response {
    if form.get("requested_token_use").map(String::as_str) != Some("on_behalf_of") {
        return missing_parameter("requested_token_use");
    }
    let assertion = form.get("assertion").map(String::as_str).unwrap_or("");
    let own_audiences =
        [app.client_id.clone(), format!("api://botid-{}", app.client_id), format!("api://{}", app.client_id)];
    let own: Vec<&str> = own_audiences.iter().map(String::as_str).collect();
    let claims = match entra.keys.verify(assertion, &[&entra.issuer()], &own) {
        Ok(claims) => claims,
        Err(problem) if problem.contains("ExpiredSignature") => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                500133,
                "Assertion is not within its valid time range.",
            )
        }
        Err(_) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50013,
                "Assertion failed signature validation or is not for this application.",
            )
        }
    };
    let Some(user) = claims["oid"].as_str().and_then(|oid| entra.directory.user(oid)).cloned() else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            "The user account does not exist in this directory.",
        );
    };
    if entra.revoked.read().contains(&user.oid) {
        return grant_revoked();
    }
    if entra.consent_missing.read().contains(&(user.oid.clone(), audience.to_string())) {
        return aad_error_with(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            65001,
            &format!("The user or administrator has not consented to use the application with ID '{}'. Send an interactive authorization request for this user and resource.", app.client_id),
            Some("consent_required"),
        );
    }
    *entra.obo_issued.write().entry((user.oid.clone(), audience.to_string())).or_default() += 1;
    let scopes = claims["scp"].as_str().unwrap_or("user_impersonation");
    token_response(entra.user_token(&user, &app.client_id, audience, scopes))
}

pub(crate) fn token_response(access_token: String) -> Response {
    Json(json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "ext_expires_in": TOKEN_LIFETIME_SECS,
        "access_token": access_token,
    }))
    .into_response()
}

/// AADSTS900144: a required parameter is missing from the form.
pub(crate) fn missing_parameter(name: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// AADSTS900144 as well: the body is not a form.
pub(crate) fn not_a_form() -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        "The request body must be application/x-www-form-urlencoded.",
    )
}

/// AADSTS70003: a grant this client may not use.
pub(crate) fn unsupported_grant_type(grant: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
        &format!("The app requested an unsupported grant type '{grant}'."),
    )
}

/// AADSTS50173: the user's grants were revoked.
pub(crate) fn grant_revoked() -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
    )
}

/// Entra's error body: `{error, error_description: "AADSTSnnn: …", error_codes, …}`.
pub fn aad_error(status: StatusCode, error: &str, code: u32, message: &str) -> Response {
    aad_error_with(status, error, code, message, None)
}

/// Entra's error body with a `suberror` (`consent_required`, `bad_token`, …).
pub fn aad_error_with(status: StatusCode, error: &str, code: u32, message: &str, suberror: Option<&str>) -> Response {
    let trace_id = uuid::Uuid::new_v4();
    let correlation_id = uuid::Uuid::new_v4();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    let mut body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp.to_string(),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    });
    if let Some(suberror) = suberror {
        body["suberror"] = json!(suberror);
    }
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_their_resource() {
        assert_eq!(
            audience_of_scope("https://api.botframework.com/.default").as_deref(),
            Some("https://api.botframework.com")
        );
        assert_eq!(
            audience_of_scope("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default").as_deref(),
            Some("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")
        );
        assert_eq!(audience_of_scope("openid profile"), None);
    }
}
