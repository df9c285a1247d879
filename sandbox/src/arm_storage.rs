//! The storage resource provider's customer-initiated account failover, as
//! a DR runbook uses it on the geo-redundant external storage account
//! (Storage Accounts - Failover, learn.microsoft.com/rest/api/storagerp/storageaccounts/failover):
//!
//! - `POST …/storageAccounts/{name}/failover[?failoverType=Planned]` answers
//!   202 with a `Location` to poll; polling answers 202 while it runs, 200
//!   once it is over. While it runs the account shows `failoverInProgress`.
//! - An unplanned failover makes the secondary region the primary and
//!   converts the account to locally redundant (no secondary any more); a
//!   planned one swaps the regions and the account stays geo-redundant.
//! - Only geo-redundant accounts (GRS, RA-GRS, GZRS, RA-GZRS) fail over; a
//!   second request while one runs is refused. The error codes of those two
//!   refusals are not documented: the sandbox's are its own (see FIDELITY.md).
//!
//! Accounts are seeded by tests ([`Arm::add_storage_account`]); a failover
//! takes [`Arm::set_storage_failover_duration`] (real ones take up to about
//! an hour; the sandbox's default is seconds).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::arm::{arm_error, Arm};

/// The api-versions the sandbox's storage provider speaks.
pub const API_VERSIONS: &[&str] = &["2023-01-01", "2023-05-01", "2024-01-01", "2025-01-01"];

const GEO_REDUNDANT: &[&str] = &["Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"];

/// One storage account.
#[derive(Clone, Debug)]
struct Account {
    name: String,
    primary: String,
    secondary: Option<String>,
    sku: String,
    /// A failover that runs (or ran, until a read applies it): when it ends, planned or not.
    failover: Option<(Instant, bool)>,
}

impl Account {
    /// Applies a failover whose time has come.
    fn settle(&mut self, now: Instant) {
        if let Some((ends, planned)) = self.failover {
            if now >= ends {
                let old_primary = std::mem::take(&mut self.primary);
                self.primary = self.secondary.take().unwrap_or_else(|| old_primary.clone());
                if planned {
                    self.secondary = Some(old_primary);
                } else {
                    self.sku = "Standard_LRS".into();
                }
                self.failover = None;
            }
        }
    }

    fn body(&self, id: &str) -> Value {
        let mut properties = json!({
            "primaryLocation": self.primary,
            "statusOfPrimary": "available",
            "isHnsEnabled": true,
            "provisioningState": "Succeeded",
        });
        if let Some(secondary) = &self.secondary {
            properties["secondaryLocation"] = json!(secondary);
            properties["statusOfSecondary"] = json!("available");
        }
        if self.failover.is_some() {
            properties["failoverInProgress"] = json!(true);
        }
        json!({
            "id": id, "name": self.name, "type": "Microsoft.Storage/storageAccounts",
            "location": self.primary, "kind": "StorageV2", "sku": {"name": self.sku},
            "properties": properties,
        })
    }
}

/// The accounts and the failover operations, by lowercase account id / operation id.
#[derive(Default)]
pub struct Accounts {
    accounts: HashMap<String, Account>,
    operations: HashMap<String, String>,
    duration: Option<Duration>,
    requests: Vec<String>,
}

impl Arm {
    /// Seeds an account of `sku` in `primary`, paired with `secondary`.
    pub fn add_storage_account(&self, resource_group: &str, name: &str, primary: &str, secondary: &str, sku: &str) {
        let id = account_id(self, resource_group, name).to_ascii_lowercase();
        let secondary = GEO_REDUNDANT.contains(&sku).then(|| secondary.to_string());
        let account =
            Account { name: name.into(), primary: primary.into(), secondary, sku: sku.into(), failover: None };
        self.storage.lock().accounts.insert(id, account);
    }

    /// How long a failover takes from now on (default 1.5 s).
    pub fn set_storage_failover_duration(&self, duration: Duration) {
        self.storage.lock().duration = Some(duration);
    }

    /// The account's primary region now (for tests).
    pub fn storage_account_location(&self, resource_group: &str, name: &str) -> Option<String> {
        let id = account_id(self, resource_group, name).to_ascii_lowercase();
        self.storage.lock().accounts.get(&id).map(|a| a.primary.clone())
    }

    /// Every failover request accepted, as the account id: a runbook resumed must not ask twice.
    pub fn storage_failover_requests(&self) -> Vec<String> {
        self.storage.lock().requests.clone()
    }
}

pub(crate) fn routes() -> Router<Arc<Arm>> {
    let mut router = Router::new();
    for rg in ["resourcegroups", "resourceGroups"] {
        let account =
            format!("/subscriptions/{{sub}}/{rg}/{{rg}}/providers/Microsoft.Storage/storageAccounts/{{account}}");
        router = router.route(&account, get(get_account)).route(&format!("{account}/failover"), post(failover));
    }
    router.route(
        "/subscriptions/{sub}/providers/Microsoft.Storage/locations/{location}/asyncoperations/{operation}",
        get(operation),
    )
}

fn account_id(arm: &Arm, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}",
        arm.subscription_id
    )
}

fn not_found(name: &str, rg: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.Storage/storageAccounts/{name}' under resource group '{rg}' was not found."),
    )
}

async fn get_account(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller_for(&headers, &query, API_VERSIONS) {
        return refusal;
    }
    let id = account_id(&arm, &rg, &name);
    let mut storage = arm.storage.lock();
    match storage.accounts.get_mut(&id.to_ascii_lowercase()) {
        Some(account) => {
            account.settle(Instant::now());
            Json(account.body(&id)).into_response()
        }
        None => not_found(&name, &rg),
    }
}

async fn failover(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((sub, rg, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = account_id(&arm, &rg, &name);
    if let Err(refusal) =
        arm.writer_for(&headers, &query, API_VERSIONS, "Microsoft.Storage/storageAccounts/failover/action", &id)
    {
        return refusal;
    }
    let params: HashMap<String, String> =
        query.as_deref().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let planned = match params.get("failoverType").map(String::as_str) {
        None => false,
        Some("Planned") => true,
        Some(other) => {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                &format!("The value '{other}' of parameter 'failoverType' is invalid; the allowed value is 'Planned'."),
            )
        }
    };
    let mut storage = arm.storage.lock();
    let duration = storage.duration.unwrap_or(Duration::from_millis(1_500));
    let Some(account) = storage.accounts.get_mut(&id.to_ascii_lowercase()) else { return not_found(&name, &rg) };
    account.settle(Instant::now());
    if account.failover.is_some() {
        return arm_error(
            StatusCode::CONFLICT,
            "FailoverInProgress",
            "A failover of this storage account is in progress.",
        );
    }
    if account.secondary.is_none() {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "FailoverNotSupported",
            &format!("Storage account {name} of SKU {} is not geo-redundant: it cannot fail over.", account.sku),
        );
    }
    account.failover = Some((Instant::now() + duration, planned));
    let location = account.primary.clone();
    let operation = uuid::Uuid::new_v4().to_string();
    storage.operations.insert(operation.clone(), id.to_ascii_lowercase());
    storage.requests.push(id);
    drop(storage);
    let version = params.get("api-version").cloned().unwrap_or_default();
    let poll = format!(
        "{}/subscriptions/{sub}/providers/Microsoft.Storage/locations/{location}/asyncoperations/{operation}?monitor=true&api-version={version}",
        arm.base_url()
    );
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(value) = HeaderValue::from_str(&poll) {
        response.headers_mut().insert("location", value);
    }
    response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    response
}

async fn operation(
    State(arm): State<Arc<Arm>>,
    headers: HeaderMap,
    Path((_sub, _location, operation)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = arm.caller_for(&headers, &query, API_VERSIONS) {
        return refusal;
    }
    let mut storage = arm.storage.lock();
    let Some(id) = storage.operations.get(&operation).cloned() else {
        return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("Operation {operation} was not found."));
    };
    let running = storage.accounts.get_mut(&id).is_some_and(|account| {
        account.settle(Instant::now());
        account.failover.is_some()
    });
    if running {
        let mut response = StatusCode::ACCEPTED.into_response();
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return response;
    }
    StatusCode::OK.into_response()
}
