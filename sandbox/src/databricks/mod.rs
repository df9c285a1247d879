//! A Databricks workspace stand-in: the start of it.
//!
//! Today it serves who-am-I (`GET /api/2.0/preview/scim/v2/Me`) and the Unity
//! Catalog catalog list (`GET /api/2.1/unity-catalog/catalogs`, paginated
//! with `max_results`/`page_token`, filtered by what the caller may see),
//! with Databricks' authentication and error shapes. Every request needs an
//! Entra token for the Azure Databricks resource; the caller is that token's
//! user, and the workspace records who called what, so tests can prove a call
//! ran with a person's identity. The rest of the workspace (schemas, tables,
//! sharing, statements, jobs) grows here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use crate::caller::{AccessTokenVerifier, Caller};
use crate::directory::Directory;
use crate::faults::{Fault, Faults};
use metastore::{Metastore, Principal};

pub mod account;
pub mod account_api;
pub mod account_failover_groups;
pub mod account_metastores;
pub mod alerts;
pub mod assignment;
pub mod clusters;
pub mod datasets;
pub mod files;
pub mod identities;
pub mod instance_pools;
pub mod job_definitions;
pub mod jobs;
pub mod lakeview;
pub mod locations;
pub mod metastore;
pub mod model_registry;
pub mod models;
pub mod object_permissions;
pub mod policies;
pub mod queries;
pub mod rate_limits;
pub mod replication_states;
pub mod secrets;
pub mod seed;
pub mod sharing;
pub mod sql;
pub mod sql_objects;
pub mod statements;
pub mod unity_catalog;
pub mod warehouses;
pub mod workspace_tree;
pub mod writer;

/// The Azure Databricks resource (application) id: the `aud` of its tokens.
pub const DATABRICKS_AUDIENCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// A call the workspace answered, and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub caller_upn: String,
    pub caller_oid: String,
    pub path: String,
}

/// Requests a workspace answered, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Unity Catalog, Delta Sharing, Jobs and other REST calls (statement
    /// submissions and polls apart).
    pub rest_calls: usize,
    /// Statement submissions, polls and cancels.
    pub statement_requests: usize,
    /// Statements submitted.
    pub statements: usize,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, other: Counts) -> Counts {
        Counts {
            rest_calls: self.rest_calls + other.rest_calls,
            statement_requests: self.statement_requests + other.statement_requests,
            statements: self.statements + other.statements,
        }
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            rest_calls: self.rest_calls - earlier.rest_calls,
            statement_requests: self.statement_requests - earlier.statement_requests,
            statements: self.statements - earlier.statements,
        }
    }
}

pub struct Workspace {
    pub name: String,
    /// The metastore's global id (`azure:<region>:<uuid>`), fixed for its life.
    pub global_id: String,
    pub metastore: RwLock<Metastore>,
    verifier: Arc<dyn AccessTokenVerifier>,
    directory: Directory,
    /// The server's page length for lists (`max_results=0`).
    page_size: AtomicUsize,
    calls: Mutex<Vec<Call>>,
    /// Requests being answered now, and the most at once since the last
    /// `reset_peak_in_flight` (for tests of a client's bound).
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    /// How many more calls to answer 401 whatever the token (a token revoked early).
    reject_tokens: Mutex<u32>,
    /// The region is down (`set_unreachable`): every call fails.
    unreachable: std::sync::atomic::AtomicBool,
    /// Latency, throttling and transient failures of the REST API.
    pub faults: Faults,
    /// The REST API's documented per-endpoint rate limits.
    pub rate_limits: rate_limits::RateLimits,
    /// The SQL warehouse's statements.
    pub statements: statements::Statements,
    /// The workspace's SQL warehouses (all run on `statements`).
    pub warehouses: warehouses::Warehouses,
    /// Whether its metastore exists and is assigned (`account_metastores`).
    presence: Mutex<account_metastores::Presence>,
    /// Job runs.
    pub jobs: jobs::Jobs,
    /// Job definitions and their permissions.
    pub job_definitions: job_definitions::JobDefinitions,
    /// Volumes' files (the Files API), seeded for the metastore's managed volumes.
    pub files: files::VolumeFiles,
    /// Notebooks, files, folders and git folders (Workspace and Repos APIs).
    pub tree: workspace_tree::Tree,
    /// Cluster policies.
    pub policies: policies::Policies,
    /// All-purpose clusters' definitions.
    pub clusters: clusters::Clusters,
    /// Instance pools.
    pub instance_pools: instance_pools::InstancePools,
    /// Permissions on cluster policies and clusters.
    pub object_acls: object_permissions::ObjectAcls,
    /// Secret scopes, their keys and ACLs.
    pub secrets: secrets::Secrets,
    /// Databricks SQL queries.
    pub queries: queries::Queries,
    /// Databricks SQL alerts.
    pub alerts: alerts::Alerts,
    /// AI/BI (Lakeview) dashboards.
    pub dashboards: lakeview::Dashboards,
    /// What the workspace shares with the account's other workspace.
    pub account: Arc<account::Account>,
    /// Delta Sharing: recipients and shares of this metastore.
    pub sharing: Mutex<sharing::SharingState>,
    /// Workspace group memberships of service principals (by application
    /// id): Databricks keeps these in its own identity store, not in the
    /// token, as an admin adds an app to a group in the account console.
    service_principal_groups: Mutex<std::collections::HashMap<String, Vec<String>>>,
    /// Principals this workspace's metastore does not know, though the
    /// account may (`identities.rs`).
    forgotten_principals: Mutex<std::collections::BTreeSet<String>>,
}

impl Workspace {
    pub fn new(
        name: &str,
        metastore: Metastore,
        account: Arc<account::Account>,
        verifier: Arc<dyn AccessTokenVerifier>,
        directory: Directory,
    ) -> Arc<Workspace> {
        account.storage.register(&metastore);
        let files = files::VolumeFiles::seeded(&metastore);
        let workspace = Arc::new(Workspace {
            name: name.to_string(),
            global_id: metastore.global_id.clone(),
            metastore: RwLock::new(metastore),
            verifier,
            directory,
            page_size: AtomicUsize::new(50),
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            reject_tokens: Mutex::new(0),
            unreachable: std::sync::atomic::AtomicBool::new(false),
            faults: Faults::new(0x0da7_ab71c5),
            rate_limits: rate_limits::RateLimits::default(),
            statements: statements::Statements::default(),
            warehouses: warehouses::Warehouses::seeded(statements::seeded_warehouse_id(name)),
            presence: Mutex::new(account_metastores::Presence::Assigned),
            jobs: jobs::Jobs::default(),
            job_definitions: job_definitions::JobDefinitions::default(),
            files,
            tree: workspace_tree::Tree::default(),
            policies: policies::Policies::default(),
            clusters: clusters::Clusters::default(),
            instance_pools: instance_pools::InstancePools::default(),
            object_acls: object_permissions::ObjectAcls::default(),
            secrets: secrets::Secrets::default(),
            queries: queries::Queries::default(),
            alerts: alerts::Alerts::default(),
            dashboards: lakeview::Dashboards::default(),
            account: account.clone(),
            sharing: Mutex::new(sharing::SharingState::default()),
            service_principal_groups: Mutex::new(std::collections::HashMap::new()),
            forgotten_principals: Mutex::new(Default::default()),
        });
        account.register(&workspace);
        workspace
    }

    /// Workspace assets a data team keeps (notebooks in folders, files, a
    /// git folder, cluster policies, clusters, warehouses, secret scopes): the
    /// primary's all, the secondary's an older part of them.
    pub fn seed_assets(&self, primary: bool, notebooks: usize) {
        self.tree.seed(primary, notebooks);
        self.policies.seed(primary);
        let jobs_policy = self.policies.all().into_iter().find(|p| p.name == "Jobs compute").map(|p| p.policy_id);
        self.instance_pools.seed(primary);
        let pool = |name: &str| self.instance_pools.by_name(name).into_iter().next().map(|p| p.instance_pool_id);
        let (warm, spot) = (pool("Warm D4 nodes"), pool("Spot E8 nodes"));
        self.clusters.seed(primary, jobs_policy.as_deref(), (warm.as_deref(), spot.as_deref()));
        // Engineers may use the jobs policy and restart the ETL cluster.
        if primary {
            if let Some(policy) = &jobs_policy {
                self.object_acls.grant("cluster-policies", policy, "data-engineers", "CAN_USE");
            }
            // The sales team edits its folder; analysts run one report.
            for (object_type, path, who, level) in [
                ("directories", "/Shared/sales", "data-engineers", "CAN_EDIT"),
                ("notebooks", "/Shared/sales/reports/report_0000", "analysts", "CAN_RUN"),
            ] {
                if let Some(node) = self.tree.get(path) {
                    self.object_acls.grant(object_type, &node.object_id.to_string(), who, level);
                }
            }
            for pool in self.instance_pools.by_name("Warm D4 nodes") {
                self.object_acls.grant("instance-pools", &pool.instance_pool_id, "data-engineers", "CAN_ATTACH_TO");
            }
            for cluster in self.clusters.by_name("ETL interactive") {
                self.object_acls.grant("clusters", &cluster.cluster_id, "data-engineers", "CAN_RESTART");
            }
        }
        self.warehouses.seed(primary);
        self.secrets.seed(primary);
        self.seed_sql_objects(primary);
    }

    /// Databricks SQL objects the sales team keeps beside its notebooks:
    /// queries on two warehouses (one the secondary lacks until its
    /// warehouses are copied), a published AI/BI dashboard and an alert on
    /// one query, some granted to analysts; the secondary has an older copy
    /// of one query, owned by someone else.
    fn seed_sql_objects(&self, primary: bool) {
        let at = chrono::Utc::now().timestamp_millis();
        let _ = self.tree.mkdirs("/Shared/sales/queries", at);
        let warehouse = |name: &str| self.warehouses.by_name(name).map(|w| w.id).unwrap_or_default();
        let (bi, ad_hoc) = (warehouse("BI dashboards"), warehouse("Ad hoc analysts"));
        let (alice, bob) = ("alice@contoso.example", "bob@contoso.example");
        let query = |name: &str, text: &str, warehouse: &str| {
            serde_json::json!({"display_name": name, "query_text": text, "warehouse_id": warehouse,
                "parent_path": "/Shared/sales/queries", "run_as_mode": "OWNER", "catalog": "main", "schema": "sales"})
        };
        let late = "SELECT order_id FROM orders WHERE shipped_at > promised_at";
        if !primary {
            self.queries.add(alice, query("Late shipments", "SELECT 1", &bi));
            return;
        }
        let mut revenue = query("Daily revenue", "SELECT date, SUM(amount) AS revenue FROM orders GROUP BY date", &bi);
        revenue["parameters"] = serde_json::json!([{"name": "days", "title": "Days", "numeric_value": {"value": 7.0}}]);
        revenue["tags"] = serde_json::json!(["finance", "daily"]);
        let revenue = self.queries.add(alice, revenue);
        self.queries.add(alice, query("Open orders", "SELECT * FROM orders WHERE status = 'OPEN'", &ad_hoc));
        self.queries.add(bob, query("Late shipments", late, &bi));
        self.object_acls.grant(queries::OBJECT_TYPE, &revenue, "analysts", "CAN_RUN");
        self.alerts.add(
            alice,
            serde_json::json!({"display_name": "Revenue drop", "query_id": revenue, "parent_path": "/Shared/sales/queries",
                "condition": {"op": "LESS_THAN", "operand": {"column": {"name": "revenue"}},
                              "threshold": {"value": {"double_value": 1000.0}}},
                "seconds_to_retrigger": 3600, "notify_on_ok": true, "state": "OK"}),
        );
        let overview = lakeview::Dashboard {
            dashboard_id: String::new(),
            display_name: "Sales overview".into(),
            parent_path: "/Shared/sales".into(),
            warehouse_id: Some(bi),
            serialized_dashboard: serde_json::json!({"datasets": [{"name": "revenue", "displayName": "Revenue",
                "queryLines": ["SELECT date, revenue FROM main.sales.daily_revenue"]}],
                "pages": [{"name": "overview", "displayName": "Overview"}]})
            .to_string(),
            owner: String::new(),
            trashed: false,
            create_time: String::new(),
            update_time: String::new(),
            revision: 0,
            published: None,
        };
        if let Ok(id) = self.dashboards.add(self, alice, overview) {
            self.dashboards.publish(&id, false, None);
            self.object_acls.grant(lakeview::OBJECT_TYPE, &id, "analysts", "CAN_RUN");
        }
    }

    /// Whether a user of this name can be given objects (a query's owner).
    pub fn knows_user(&self, name: &str) -> bool {
        self.directory.user(name).is_some_and(|u| u.upn.eq_ignore_ascii_case(name)) && self.knows_principal(name)
    }

    /// The page length for lists that ask for the server's (`max_results=0`).
    pub fn set_page_size(&self, size: usize) {
        self.page_size.store(size.max(1), Ordering::Relaxed);
    }

    pub fn page_size(&self) -> usize {
        self.page_size.load(Ordering::Relaxed)
    }

    /// A regional outage from now on (or its end): every call, calls in
    /// flight included, is answered 503 `TEMPORARILY_UNAVAILABLE` without a
    /// `Retry-After`, as the region's front end answers while the
    /// workspace's control plane behind it is down (FIDELITY.md).
    pub fn set_unreachable(&self, down: bool) {
        self.unreachable.store(down, Ordering::SeqCst);
    }

    /// The next `n` calls get 401 even with a valid token.
    pub fn reject_next_tokens(&self, n: u32) {
        *self.reject_tokens.lock() = n;
    }

    /// Every authenticated call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    /// What has been asked of the workspace so far, for a benchmark to print
    /// (take two readings and subtract for one run).
    pub fn counts(&self) -> Counts {
        let calls = self.calls.lock();
        let statement_requests = calls.iter().filter(|c| c.path.starts_with("sql.statements.")).count();
        Counts {
            rest_calls: calls.len() - statement_requests,
            statement_requests,
            statements: self.statements.history().len(),
        }
    }

    /// The most requests the workspace was answering at once (latency
    /// included) since the last reset.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }

    pub fn reset_peak_in_flight(&self) {
        self.peak_in_flight.store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The calls answered so far by endpoint (`tables.list`,
    /// `permissions.get`, `sql.statements.submit`…), for a benchmark to
    /// print where its requests went (take two readings and subtract).
    pub fn counts_by_endpoint(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for call in self.calls.lock().iter() {
            *out.entry(call.path.clone()).or_insert(0) += 1;
        }
        out
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/api/2.0/preview/scim/v2/Me", get(me))
            .merge(identities::router())
            .merge(unity_catalog::router())
            .merge(models::router())
            .merge(model_registry::router())
            .merge(statements::router())
            .merge(warehouses::router())
            .merge(jobs::router())
            .merge(job_definitions::router())
            .merge(locations::router())
            .merge(sharing::router())
            .merge(assignment::router())
            .merge(files::router())
            .merge(workspace_tree::router())
            .merge(policies::router())
            .merge(clusters::router())
            .merge(instance_pools::router())
            .merge(object_permissions::router())
            .merge(secrets::router())
            .merge(queries::router())
            .merge(alerts::router())
            .merge(lakeview::router())
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), account_metastores::require_metastore))
            .layer(axum::middleware::from_fn_with_state(self.clone(), inject_faults))
            .with_state(self.clone())
    }

    /// The caller, or Databricks' 401.
    fn caller(&self, headers: &HeaderMap, path: &str) -> Result<Caller, Response> {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let rejected = {
            let mut remaining = self.reject_tokens.lock();
            let reject = *remaining > 0;
            *remaining = remaining.saturating_sub(1);
            reject
        };
        let caller = token.and_then(|t| self.verifier.verify(t, DATABRICKS_AUDIENCE)).filter(|_| !rejected);
        let Some(caller) = caller else {
            return Err(databricks_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Invalid access token."));
        };
        self.calls.lock().push(Call {
            caller_upn: caller.upn.clone(),
            caller_oid: caller.oid.clone(),
            path: path.into(),
        });
        self.account.saw_identity(&caller.upn);
        Ok(caller)
    }

    /// The caller as Unity Catalog names principals: the user name (or the
    /// app id of a service principal) and the names of their groups.
    pub fn principal(&self, caller: &Caller) -> Principal {
        let mut groups: Vec<String> =
            caller.groups.iter().filter_map(|g| self.directory.group(g)).map(|g| g.name.clone()).collect();
        if caller.is_app {
            groups.extend(self.service_principal_groups.lock().get(&caller.app_id).cloned().unwrap_or_default());
        }
        groups.push("account users".into());
        Principal { name: caller.upn.clone(), groups }
    }

    /// A principal by the name Unity Catalog records (a share's owner): a
    /// user of the directory with their groups, a service principal (by
    /// application id) with the groups it was added to, or a group alone.
    pub fn principal_named(&self, name: &str) -> Principal {
        let mut groups: Vec<String> = match self.directory.user(name) {
            Some(user) if user.upn.eq_ignore_ascii_case(name) => {
                user.groups.iter().filter_map(|g| self.directory.group(g)).map(|g| g.name.clone()).collect()
            }
            _ => self.service_principal_groups.lock().get(name).cloned().unwrap_or_default(),
        };
        groups.push("account users".into());
        Principal { name: name.to_string(), groups }
    }

    /// Adds a service principal (by application id) to a workspace group,
    /// e.g. drbot's own identity to the metastore admins for scheduled posts.
    pub fn add_service_principal_to_group(&self, app_id: &str, group: &str) {
        // The account has it (an admin added it to the account, then the group).
        self.account.add_principal(app_id);
        self.service_principal_groups.lock().entry(app_id.to_string()).or_default().push(group.to_string());
    }
}

/// Delays and fails requests as the fault knobs say, in Databricks' words.
async fn inject_faults(
    State(workspace): State<Arc<Workspace>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    /// Counts a request in flight until it is answered (or dropped).
    struct InFlight<'a>(&'a Workspace);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let now = workspace.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    workspace.peak_in_flight.fetch_max(now, Ordering::SeqCst);
    let _counted = InFlight(&workspace);
    let down = || {
        databricks_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TEMPORARILY_UNAVAILABLE",
            "The service is temporarily unavailable.",
        )
    };
    if workspace.unreachable.load(Ordering::SeqCst) {
        return down();
    }
    // Counted as it arrives, answered after the latency like any other.
    let over_limit = workspace.rate_limits.admit(request.method(), request.uri().path());
    let fault = workspace.faults.before_request().await;
    let fault = match over_limit {
        Some(retry_after_secs) => Some(Fault::Throttle { retry_after_secs }),
        None => fault,
    };
    match fault {
        None => {
            let answer = next.run(request).await;
            // An outage that began while the call was answered loses it.
            if workspace.unreachable.load(Ordering::SeqCst) {
                return down();
            }
            answer
        }
        Some(Fault::Throttle { retry_after_secs }) => {
            let mut response = databricks_error(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "Too many requests. Please wait a moment and try again.",
            );
            response.headers_mut().insert("retry-after", retry_after_secs.into());
            response
        }
        Some(Fault::ServerError { status, retry_after_secs }) => {
            let (code, message) = match status {
                503 => ("TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable."),
                502 | 504 => ("TEMPORARILY_UNAVAILABLE", "Upstream request timed out."),
                _ => ("INTERNAL_ERROR", "An internal error occurred."),
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = databricks_error(status, code, message);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert("retry-after", retry_after_secs.into());
            }
            response
        }
    }
}

/// Databricks' error body: `{"error_code", "message"}`.
pub fn databricks_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error_code": code, "message": message}))).into_response()
}

async fn not_found() -> Response {
    databricks_error(
        StatusCode::NOT_FOUND,
        "ENDPOINT_NOT_FOUND",
        "No API found for this path in the sandbox workspace.",
    )
}

async fn me(State(workspace): State<Arc<Workspace>>, headers: HeaderMap) -> Response {
    let caller = match workspace.caller(&headers, "/api/2.0/preview/scim/v2/Me") {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let mut groups: Vec<Value> = caller
        .groups
        .iter()
        .filter_map(|g| workspace.directory.group(g))
        .map(|g| json!({"display": g.name, "value": g.oid}))
        .collect();
    // A service principal's workspace groups, as the identity store keeps them.
    if caller.is_app {
        let memberships = workspace.service_principal_groups.lock().get(&caller.app_id).cloned().unwrap_or_default();
        groups.extend(memberships.into_iter().map(|g| json!({"display": g, "value": g})));
    }
    Json(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": caller.oid,
        "userName": caller.upn,
        "displayName": caller.name,
        "active": true,
        "emails": [{"value": caller.upn, "type": "work", "primary": true}],
        "groups": groups,
    }))
    .into_response()
}
