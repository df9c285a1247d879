//! Databricks managed disaster recovery's failover groups, as the account
//! API serves them: read a group, and fail it over to another region.
//!
//! As documented (docs.databricks.com/api/disaster-recovery/v1/, the
//! databricks-sdk `DisasterRecoveryAPI`, and "Managed disaster recovery";
//! `shared/reference/dr.md`, FIDELITY.md):
//! - everything lives under `/api/disaster-recovery/v1/accounts/{account_id}`
//!   and is for account admins, as the rest of the account API;
//! - `GET /failover-groups/{id}` → the group: `name`
//!   (`accounts/{account_id}/failover-groups/{id}`), `regions`,
//!   `effective_primary_region`, `workspace_sets`, `state` (ACTIVE,
//!   FAILING_OVER, FAILOVER_FAILED, …), `replication_point` (an RFC 3339
//!   time), `etag`;
//! - `POST /failover-groups/{id}/failover` `{target_primary_region,
//!   failover_type, etag?}`: the target must be one of the group's regions
//!   and differ from the effective primary; `FORCED` is the only type; an
//!   etag, when given, must be the current one. It answers the group, now
//!   `FAILING_OVER`; the failover ends `ACTIVE` in the target region, or
//!   `FAILOVER_FAILED` with the primary unchanged.
//!
//! - `GET /stable-urls/{id}` and `GET /stable-urls` (`stable_urls`,
//!   `next_page_token`; `page_size` ≥ 0, a negative one is invalid): a
//!   stable URL (`name`: `accounts/{account_id}/stable-urls/{id}`, `url`,
//!   `stable_workspace_id` (in the `url` as `w=`), `effective_workspace_id`
//!   (where it routes: advanced to the group's primary while linked, across
//!   a failover, and kept when unlinked), `failover_group_name`, empty when
//!   linked to no group). A group lists the ones linked to it in its
//!   workspace set's `stable_url_names`
//!   (docs.databricks.com/api/disaster-recovery/v1/stable-url, the
//!   databricks-sdk `StableUrl`, `WorkspaceSet`). `initial_workspace_id` is
//!   for create requests only and never answered.
//!
//! Each change is also a row of `system.replication.states`
//! (`replication_states.rs`).
//!
//! What no document states and the sandbox chooses: a stale etag is
//! `409 RESOURCE_CONFLICT`; a failover while one runs (or while the group is
//! being created or deleted) is `400 FAILED_PRECONDITION`. Creating, listing,
//! updating and deleting groups and stable URLs are not modelled (the tests
//! seed them with [`FailoverGroups::add`] and [`FailoverGroups::add_stable_url`])
//! and answer `ENDPOINT_NOT_FOUND`. A stable URL's `url` is
//! `https://spog.sandbox.invalid/?c=<connection>`, an address nobody dials.
//! The list's server page size is 100.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::account_api::{AccountApi, SANDBOX_ACCOUNT_ID};
use super::databricks_error;
use super::replication_states::{errors_value, BlockingError, StateEvent};

/// A failover under way: when it ends and how.
struct Pending {
    target: String,
    ends: Instant,
    failure: Option<String>,
}

struct Group {
    id: String,
    regions: Vec<String>,
    effective_primary_region: String,
    /// Its workspace sets: each a workspace a region and the stable URLs
    /// linked to it.
    sets: Vec<WorkspaceSet>,
    state: &'static str,
    replication_point: DateTime<Utc>,
    etag: u64,
    pending: Option<Pending>,
    /// Why the last failover failed (the sandbox's own note, not an API field).
    failure: Option<String>,
    /// `unity_catalog_assets.catalogs`: the catalogs it replicates.
    catalogs: Vec<String>,
    /// Its rows of `system.replication.states`, oldest first.
    events: Vec<StateEvent>,
}

/// One workspace set of a group.
struct WorkspaceSet {
    /// One a region, by position in the group's `regions`.
    workspace_ids: Vec<u64>,
    /// The ids of the stable URLs linked to it, in the order linked.
    stable_urls: Vec<String>,
}

/// A stable URL of the account.
struct StableUrl {
    /// Generated on creation, immutable, embedded in the `url`.
    stable_workspace_id: String,
    /// Where it routes while linked to no group (its workspace at creation,
    /// or its group's primary when it was unlinked).
    effective_workspace_id: u64,
    /// The group it is linked to (its id), if any.
    group: Option<String>,
}

impl StableUrl {
    fn url(&self) -> String {
        format!("https://spog.sandbox.invalid/?w={}", self.stable_workspace_id)
    }
}

fn stable_url_name(id: &str) -> String {
    format!("accounts/{SANDBOX_ACCOUNT_ID}/stable-urls/{id}")
}

impl Group {
    /// Ends a failover whose time has come (read lazily, so no timer runs).
    fn settle(&mut self) {
        let due = self.pending.as_ref().is_some_and(|p| Instant::now() >= p.ends);
        if !due {
            return;
        }
        let pending = self.pending.take().expect("due");
        match pending.failure {
            None => {
                self.effective_primary_region = pending.target;
                self.state = "ACTIVE";
                self.emit("FAILOVER_FINISHED", Value::Array(Vec::new()));
            }
            Some(reason) => {
                self.state = "FAILOVER_FAILED";
                let errors = errors_value(&[BlockingError::new("FAILOVER_FAILED", &reason, &[])]);
                self.failure = Some(reason);
                self.emit("FAILOVER_ABORTED", errors);
            }
        }
        self.etag += 1;
    }

    /// The workspace of set `set` that serves now: the one in the effective
    /// primary region (the sandbox pairs `workspace_ids` with `regions` by
    /// position; Databricks derives each workspace's region).
    fn primary_workspace(&self, set: usize) -> Option<u64> {
        let at = self.regions.iter().position(|r| *r == self.effective_primary_region)?;
        self.sets.get(set)?.workspace_ids.get(at).copied()
    }

    /// The set a stable URL is linked to.
    fn set_linking(&self, stable_url: &str) -> Option<usize> {
        self.sets.iter().position(|set| set.stable_urls.iter().any(|id| id == stable_url))
    }

    /// The group's full name, as the API and the system table give it.
    fn full_name(&self) -> String {
        format!("accounts/{SANDBOX_ACCOUNT_ID}/failover-groups/{}", self.id)
    }

    /// Appends a status event, the lag as of now since the replication point.
    fn emit(&mut self, replication_state: &'static str, errors: Value) {
        // Strictly after the last event: "the latest" is never a tie.
        let last = self.events.last().map(|e| e.event_time + chrono::Duration::milliseconds(1));
        let now = last.map_or_else(Utc::now, |last| last.max(Utc::now()));
        let event = StateEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            event_time: now,
            failover_group_name: self.full_name(),
            replication_state,
            errors,
            replication_lag_ms: Some((now - self.replication_point).num_milliseconds().max(0)),
            effective_primary_region: self.effective_primary_region.clone(),
        };
        self.events.push(event);
    }

    fn json(&self) -> Value {
        let mut body = json!({
            "name": self.full_name(),
            "regions": self.regions,
            "effective_primary_region": self.effective_primary_region,
            "workspace_sets": self.sets.iter().enumerate().map(|(at, set)| json!({
                "name": format!("workspaces-{at}"),
                "workspace_ids": set.workspace_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
                "replicate_workspace_assets": false,
                "stable_url_names": set.stable_urls.iter().map(|id| stable_url_name(id)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "state": self.state,
            "replication_point": self.replication_point.to_rfc3339_opts(SecondsFormat::Millis, true),
            "has_replication_point_blocking_errors": false,
            "etag": self.etag.to_string(),
        });
        if !self.catalogs.is_empty() {
            body["unity_catalog_assets"] = json!({
                "catalogs": self.catalogs.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
                "data_replication_workspace_set": "workspaces",
            });
        }
        body
    }
}

/// The account's failover groups, and the knobs tests turn.
#[derive(Default)]
pub struct FailoverGroups {
    groups: Mutex<BTreeMap<String, Group>>,
    /// How long a failover takes (zero: it ends at the next read).
    duration: Mutex<Duration>,
    /// The next failover fails, with this reason.
    fail_next: Mutex<Option<String>>,
    /// Failover requests accepted, by group (what a test counts).
    accepted: Mutex<BTreeMap<String, usize>>,
    /// The account's stable URLs, by id.
    stable_urls: Mutex<BTreeMap<String, StableUrl>>,
}

impl FailoverGroups {
    /// A group, `ACTIVE` with `primary` as its effective primary region.
    pub fn add(
        &self,
        id: &str,
        regions: &[&str],
        primary: &str,
        workspace_ids: &[u64],
        replication_point: DateTime<Utc>,
    ) {
        assert!(regions.contains(&primary), "the primary is one of the regions");
        let group = Group {
            id: id.to_string(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            effective_primary_region: primary.to_string(),
            sets: vec![WorkspaceSet { workspace_ids: workspace_ids.to_vec(), stable_urls: Vec::new() }],
            state: "ACTIVE",
            replication_point,
            etag: 1,
            pending: None,
            failure: None,
            catalogs: Vec::new(),
            events: Vec::new(),
        };
        let mut group = group;
        group.emit("REPLICATING", Value::Array(Vec::new()));
        self.groups.lock().insert(id.to_string(), group);
    }

    /// Another workspace set of group `group` (one workspace a region, by
    /// position): a new etag.
    pub fn add_workspace_set(&self, group: &str, workspace_ids: &[u64]) {
        let mut groups = self.groups.lock();
        let linked = groups.get_mut(group).expect("a sandbox failover group");
        linked.sets.push(WorkspaceSet { workspace_ids: workspace_ids.to_vec(), stable_urls: Vec::new() });
        linked.etag += 1;
    }

    /// A stable URL `id` bound to `workspace_id`, linked to group `group`
    /// when given (the set of the group that holds `workspace_id`, else its
    /// first, names it: a new etag). Answers its `url`.
    pub fn add_stable_url(&self, id: &str, workspace_id: u64, group: Option<&str>) -> String {
        if let Some(group) = group {
            let mut groups = self.groups.lock();
            let linked = groups.get_mut(group).expect("a sandbox failover group");
            let set = linked.sets.iter().position(|set| set.workspace_ids.contains(&workspace_id)).unwrap_or(0);
            linked.sets[set].stable_urls.push(id.to_string());
            linked.etag += 1;
        }
        let stable = StableUrl {
            stable_workspace_id: uuid::Uuid::new_v4().simple().to_string(),
            effective_workspace_id: workspace_id,
            group: group.map(str::to_string),
        };
        let url = stable.url();
        self.stable_urls.lock().insert(id.to_string(), stable);
        url
    }

    /// Unlinks a stable URL from its group (the group's update in
    /// Databricks): it keeps routing to the group's primary of the moment.
    pub fn unlink_stable_url(&self, id: &str) {
        let mut urls = self.stable_urls.lock();
        let stable = urls.get_mut(id).expect("a sandbox stable URL");
        if let Some(group) = stable.group.take() {
            let mut groups = self.groups.lock();
            let linked = groups.get_mut(&group).expect("a sandbox failover group");
            linked.settle();
            if let Some(primary) = linked.set_linking(id).and_then(|set| linked.primary_workspace(set)) {
                stable.effective_workspace_id = primary;
            }
            for set in linked.sets.iter_mut() {
                set.stable_urls.retain(|s| s != id);
            }
            linked.etag += 1;
        }
    }

    /// Deletes a stable URL the way a test needs it: gone from the account
    /// (a read is `404`) while its group still names it, as a group read
    /// before the delete does.
    pub fn remove_stable_url(&self, id: &str) {
        self.stable_urls.lock().remove(id);
    }

    /// A stable URL as the API shows it: while linked, it routes to its
    /// set's workspace in the group's primary region (across failovers).
    fn stable_url_json(&self, id: &str, stable: &StableUrl) -> Value {
        let mut effective = stable.effective_workspace_id;
        let mut group_name = String::new();
        if let Some(group) = &stable.group {
            let mut groups = self.groups.lock();
            let linked = groups.get_mut(group).expect("a linked group exists");
            linked.settle();
            effective = linked.set_linking(id).and_then(|set| linked.primary_workspace(set)).unwrap_or(effective);
            group_name = linked.full_name();
        }
        json!({
            "name": stable_url_name(id),
            "url": stable.url(),
            "stable_workspace_id": stable.stable_workspace_id,
            "effective_workspace_id": effective.to_string(),
            "failover_group_name": group_name,
        })
    }

    /// Replication caught up to this point (a new etag, as any change; a
    /// REPLICATING event with the lag since it).
    pub fn set_replication_point(&self, id: &str, point: DateTime<Utc>) {
        let mut groups = self.groups.lock();
        let group = groups.get_mut(id).expect("a sandbox failover group");
        group.replication_point = point;
        group.etag += 1;
        group.emit("REPLICATING", Value::Array(Vec::new()));
    }

    /// The catalogs the group replicates (`unity_catalog_assets.catalogs`).
    pub fn set_catalogs(&self, id: &str, catalogs: &[&str]) {
        let mut groups = self.groups.lock();
        let group = groups.get_mut(id).expect("a sandbox failover group");
        group.catalogs = catalogs.iter().map(|c| c.to_string()).collect();
        group.etag += 1;
    }

    /// Replication goes on with `errors` blocking some assets: a REPLICATING
    /// event with them and the lag since the replication point (which they
    /// hold back: the group says so in `has_replication_point_blocking_errors`
    /// only in Databricks, not modelled).
    pub fn report_errors(&self, id: &str, errors: &[BlockingError]) {
        let mut groups = self.groups.lock();
        let group = groups.get_mut(id).expect("a sandbox failover group");
        group.emit("REPLICATING", errors_value(errors));
    }

    /// Every group's `system.replication.states` rows.
    pub fn events(&self) -> Vec<StateEvent> {
        let mut groups = self.groups.lock();
        groups
            .values_mut()
            .flat_map(|g| {
                g.settle();
                g.events.clone()
            })
            .collect()
    }

    /// How long the next failovers stay `FAILING_OVER`.
    pub fn set_failover_duration(&self, duration: Duration) {
        *self.duration.lock() = duration;
    }

    /// The next failover ends `FAILOVER_FAILED`.
    pub fn fail_next_failover(&self, reason: &str) {
        *self.fail_next.lock() = Some(reason.to_string());
    }

    /// The group as the API shows it now.
    pub fn get(&self, id: &str) -> Option<Value> {
        let mut groups = self.groups.lock();
        let group = groups.get_mut(id)?;
        group.settle();
        Some(group.json())
    }

    /// Why the group's last failover failed, if it did.
    pub fn failure(&self, id: &str) -> Option<String> {
        self.groups.lock().get(id).and_then(|g| g.failure.clone())
    }

    /// How many failover requests of the group were accepted (a stale or
    /// invalid one is not).
    pub fn failover_requests(&self, id: &str) -> usize {
        self.accepted.lock().get(id).copied().unwrap_or(0)
    }
}

pub fn routes() -> Router<Arc<AccountApi>> {
    let base = "/api/disaster-recovery/v1/accounts/{account_id}/failover-groups/{id}";
    let stable = "/api/disaster-recovery/v1/accounts/{account_id}/stable-urls";
    Router::new()
        .route(base, get(read))
        .route(&format!("{base}/failover"), post(failover))
        .route(stable, get(list_stable_urls))
        .route(&format!("{stable}/{{id}}"), get(read_stable_url))
}

async fn read_stable_url(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, id)): Path<(String, String)>,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let groups = &api.failover_groups;
    match groups.stable_urls.lock().get(&id) {
        Some(stable) => Json(groups.stable_url_json(&id, stable)).into_response(),
        None => databricks_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Stable URL '{id}' does not exist."),
        ),
    }
}

/// The server's page length (what a `page_size` of 0 or above it gives).
const STABLE_URL_PAGE: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StableUrlPage {
    #[serde(default)]
    page_size: Option<i64>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn list_stable_urls(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path(account_id): Path<String>,
    query: Result<Query<StableUrlPage>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let Ok(Query(page)) = query else { return invalid("Invalid query parameters.") };
    let size = match page.page_size.unwrap_or(0) {
        n if n < 0 => return invalid("page_size must not be negative."),
        0 => STABLE_URL_PAGE,
        n => (n as usize).min(STABLE_URL_PAGE),
    };
    let groups = &api.failover_groups;
    let urls = groups.stable_urls.lock();
    // The token is the last id of the previous page.
    let after = page.page_token.unwrap_or_default();
    let rest: Vec<(&String, &StableUrl)> = urls.iter().filter(|(id, _)| after.is_empty() || **id > after).collect();
    let shown: Vec<Value> = rest.iter().take(size).map(|(id, stable)| groups.stable_url_json(id, stable)).collect();
    let mut body = json!({ "stable_urls": shown });
    if rest.len() > size {
        body["next_page_token"] = json!(rest[size - 1].0);
    }
    Json(body).into_response()
}

fn not_found(id: &str) -> Response {
    databricks_error(
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Failover group '{id}' does not exist."),
    )
}

fn invalid(message: &str) -> Response {
    databricks_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

async fn read(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, id)): Path<(String, String)>,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    match api.failover_groups.get(&id) {
        Some(group) => Json(group).into_response(),
        None => not_found(&id),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailoverRequest {
    target_primary_region: String,
    failover_type: String,
    #[serde(default)]
    etag: Option<String>,
}

async fn failover(
    State(api): State<Arc<AccountApi>>,
    headers: HeaderMap,
    Path((account_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = api.admit(&headers, &account_id) {
        return refusal;
    }
    let request: FailoverRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Invalid request body: {e}")),
    };
    let groups = &api.failover_groups;
    let mut all = groups.groups.lock();
    let Some(group) = all.get_mut(&id) else { return not_found(&id) };
    group.settle();
    if request.failover_type != "FORCED" {
        return invalid(&format!("Unsupported failover_type '{}': only FORCED.", request.failover_type));
    }
    if !group.regions.contains(&request.target_primary_region) {
        return invalid(&format!(
            "target_primary_region '{}' is not a region of the failover group.",
            request.target_primary_region
        ));
    }
    if request.target_primary_region == group.effective_primary_region {
        return invalid(&format!(
            "target_primary_region '{}' is already the effective primary region.",
            request.target_primary_region
        ));
    }
    if let Some(etag) = &request.etag {
        if *etag != group.etag.to_string() {
            return databricks_error(
                StatusCode::CONFLICT,
                "RESOURCE_CONFLICT",
                "The etag does not match the failover group's current etag.",
            );
        }
    }
    if !matches!(group.state, "ACTIVE" | "FAILOVER_FAILED") {
        return databricks_error(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            &format!("The failover group is {}.", group.state),
        );
    }
    *groups.accepted.lock().entry(id.clone()).or_default() += 1;
    group.state = "FAILING_OVER";
    group.failure = None;
    group.etag += 1;
    group.emit("FAILOVER_STARTED", Value::Array(Vec::new()));
    group.pending = Some(Pending {
        target: request.target_primary_region,
        ends: Instant::now() + *groups.duration.lock(),
        failure: groups.fail_next.lock().take(),
    });
    Json(group.json()).into_response()
}
