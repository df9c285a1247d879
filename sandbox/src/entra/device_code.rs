//! The device authorization grant for public clients, as Entra ID serves it
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>,
//! RFC 8628), and the refresh tokens that come with `offline_access`.
//!
//! `POST /{tenant}/oauth2/v2.0/devicecode` (`client_id`, `scope`) answers
//! `device_code`, `user_code`, `verification_uri`, `expires_in` (900),
//! `interval` (5) and `message`. The client then polls the token endpoint
//! with `grant_type=urn:ietf:params:oauth:grant-type:device_code`:
//! `authorization_pending` (AADSTS70016) until the user signed in,
//! `expired_token` (AADSTS70019) once the code is older than `expires_in`,
//! `bad_verification_code` (AADSTS70018) for a code it never issued (or
//! issued to another client), and `slow_down` to a client that polls sooner
//! than the interval (RFC 8628 §3.5; the code's interval then grows by five
//! seconds). The user's side, typing the code at `verification_uri`, is
//! [`Entra::approve_device_code`] here.
//!
//! Only public clients (the Azure CLI's id, or one registered with
//! [`Entra::register_public_client`]) may start it; they send no secret. A
//! refresh token (`grant_type=refresh_token`) is good for any resource, as
//! Entra's are for first-party public clients, and is rotated on each use.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::json;
use std::sync::Arc;

use super::{
    aad_error, audience_of_scope, grant_revoked, missing_parameter, not_a_form, unsupported_grant_type, Entra,
    TOKEN_LIFETIME_SECS,
};
use crate::directory::User;

/// The Azure CLI's application id: a public client in every tenant.
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// Where Entra sends the user to type the code.
pub const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";
/// The `aud` of the sandbox's refresh tokens (Entra's are opaque; these are
/// signed so that nothing but this tenant can mint one).
const REFRESH_AUDIENCE: &str = "urn:sandbox:entra:refresh-token";
const REFRESH_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// The device codes issued and not yet redeemed, and the timing they get.
pub struct DeviceCodes {
    pending: Mutex<HashMap<String, Pending>>,
    /// (`interval`, `expires_in`) of new codes: Entra's are 5 s and 900 s.
    timing: Mutex<(Duration, Duration)>,
}

impl Default for DeviceCodes {
    fn default() -> Self {
        DeviceCodes {
            pending: Mutex::new(HashMap::new()),
            timing: Mutex::new((Duration::from_secs(5), Duration::from_secs(900))),
        }
    }
}

struct Pending {
    client_id: String,
    user_code: String,
    audience: String,
    offline_access: bool,
    expires_at: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    /// The user who typed the code and signed in.
    approved_by: Option<User>,
}

impl Entra {
    /// The `interval` and `expires_in` of the device codes issued from now on
    /// (tests shorten Entra's 5 s and 15 minutes).
    pub fn set_device_code_timing(&self, interval: Duration, expires_in: Duration) {
        *self.device_codes.timing.lock() = (interval, expires_in);
    }

    /// `user` opens the verification page, types `user_code` and signs in.
    /// False when no live code has that user code.
    pub fn approve_device_code(&self, user_code: &str, user: &User) -> bool {
        let mut pending = self.device_codes.pending.lock();
        let now = Instant::now();
        match pending.values_mut().find(|p| p.user_code == user_code && p.expires_at > now) {
            Some(code) => {
                code.approved_by = Some(user.clone());
                true
            }
            None => false,
        }
    }

    /// How many device codes wait for their user.
    pub fn pending_device_codes(&self) -> usize {
        self.device_codes.pending.lock().len()
    }

    fn refresh_token(&self, user: &User, client_id: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.keys.sign(&json!({
            "iss": self.issuer(),
            "aud": REFRESH_AUDIENCE,
            "oid": user.oid,
            "azp": client_id,
            "jti": uuid::Uuid::new_v4(),
            "iat": now,
            "nbf": now,
            "exp": now + REFRESH_LIFETIME_SECS,
        }))
    }
}

/// The delegated scopes the Azure CLI holds on each resource (the `scp` claim).
fn delegated_scopes(audience: &str) -> &'static str {
    if audience == super::GRAPH_RESOURCE {
        "Application.ReadWrite.All AppRoleAssignment.ReadWrite.All Directory.AccessAsUser.All"
    } else {
        "user_impersonation"
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn start(State(entra): State<Arc<Entra>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    if tenant != entra.tenant_id && tenant != "organizations" {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return not_a_form();
    };
    let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
    if client_id.is_empty() {
        return missing_parameter("client_id");
    }
    if !entra.is_public_client(client_id) {
        // Entra refuses a confidential client its secretless token request;
        // the sandbox says so one step earlier.
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let scope = form.get("scope").map(String::as_str).unwrap_or("");
    let Some(audience) = audience_of_scope(scope) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter naming a resource (…/.default).",
        );
    };
    let (interval, expires_in) = *entra.device_codes.timing.lock();
    let device_code: String =
        rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(64).map(char::from).collect();
    let user_code: String = {
        let mut rng = rand::thread_rng();
        (0..9).map(|_| char::from(b'A' + rng.gen_range(0..26u8))).collect()
    };
    entra.device_codes.pending.lock().insert(
        device_code.clone(),
        Pending {
            client_id: client_id.to_string(),
            user_code: user_code.clone(),
            audience,
            offline_access: scope.split_whitespace().any(|s| s == "offline_access"),
            expires_at: Instant::now() + expires_in,
            interval,
            last_poll: None,
            approved_by: None,
        },
    );
    Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": VERIFICATION_URI,
        "expires_in": expires_in.as_secs(),
        "interval": interval.as_secs(),
        "message": format!("To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

/// The token endpoint for a public client: the device code and refresh token grants.
pub fn public_client_token(entra: &Entra, client_id: &str, form: &HashMap<String, String>) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if form.contains_key("client_secret") || form.contains_key("client_assertion") {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        );
    }
    match field("grant_type") {
        "urn:ietf:params:oauth:grant-type:device_code" => redeem_device_code(entra, client_id, field("device_code")),
        "refresh_token" => redeem_refresh_token(entra, client_id, field("refresh_token"), field("scope")),
        "" => missing_parameter("grant_type"),
        other => unsupported_grant_type(other),
    }
}

fn redeem_device_code(entra: &Entra, client_id: &str, device_code: &str) -> Response {
    let mut pending = entra.device_codes.pending.lock();
    let Some(code) = pending.get_mut(device_code).filter(|code| code.client_id == client_id) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "bad_verification_code",
            70018,
            "The provided value for the input parameter 'device_code' is not valid.",
        );
    };
    let now = Instant::now();
    if now >= code.expires_at {
        pending.remove(device_code);
        return aad_error(StatusCode::BAD_REQUEST, "expired_token", 70019, "Verification code expired.");
    }
    let too_soon = code.last_poll.is_some_and(|last| now.duration_since(last) < code.interval);
    code.last_poll = Some(now);
    if too_soon {
        code.interval += Duration::from_secs(5);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "slow_down",
                "error_description": "The client is polling too quickly and should back off (RFC 8628 §3.5).",
            })),
        )
            .into_response();
    }
    let Some(user) = code.approved_by.clone() else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "The provided request has not yet been authorized by the user. The user must input their code.",
        );
    };
    let (audience, offline_access) = (code.audience.clone(), code.offline_access);
    pending.remove(device_code);
    drop(pending);
    issue(entra, &user, client_id, &audience, offline_access)
}

fn redeem_refresh_token(entra: &Entra, client_id: &str, refresh_token: &str, scope: &str) -> Response {
    let invalid = |message: &str| aad_error(StatusCode::BAD_REQUEST, "invalid_grant", 9002313, message);
    let Ok(claims) = entra.keys.verify(refresh_token, &[&entra.issuer()], &[REFRESH_AUDIENCE]) else {
        return invalid("Invalid request. The refresh token is malformed or expired.");
    };
    if claims["azp"] != client_id {
        return invalid("The refresh token was issued to a different client.");
    }
    let Some(user) = claims["oid"].as_str().and_then(|oid| entra.directory.user(oid)).cloned() else {
        return invalid("The user account does not exist in this directory.");
    };
    if entra.revoked.read().contains(&user.oid) {
        return grant_revoked();
    }
    let Some(audience) = audience_of_scope(scope) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for scope is not valid.",
        );
    };
    issue(entra, &user, client_id, &audience, true)
}

fn issue(entra: &Entra, user: &User, client_id: &str, audience: &str, offline_access: bool) -> Response {
    let scopes = delegated_scopes(audience);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.split_whitespace().map(|s| format!("{audience}/{s}")).collect::<Vec<_>>().join(" "),
        "expires_in": TOKEN_LIFETIME_SECS,
        "ext_expires_in": TOKEN_LIFETIME_SECS,
        "access_token": entra.user_token(user, client_id, audience, scopes),
    });
    if offline_access {
        body["refresh_token"] = json!(entra.refresh_token(user, client_id));
    }
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_azure_cli_gets_graph_scopes_and_everything_else_impersonation() {
        assert!(delegated_scopes(super::super::GRAPH_RESOURCE).contains("Application.ReadWrite.All"));
        assert_eq!(delegated_scopes(super::super::ARM_RESOURCE), "user_impersonation");
    }
}
