//! The HTTP server: `POST /api/messages`, `GET /healthz`, `GET /readyz`.
//!
//! The data path of one request, top to bottom: size limit (413) → JSON
//! (400) → authentication (401, no detail) → the turn → 200, or the invoke's
//! own status and body. SIGTERM stops accepting connections and lets the
//! requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bot::{Bot, Services, TurnOutcome};
use crate::botframework::activity::Activity;
use crate::botframework::auth::Authenticator;
use crate::botframework::bot_token::BotTokenProvider;
use crate::botframework::connector::{ConnectorClient, RetryPolicy};
use crate::botframework::service_hosts::ServiceHosts;
use crate::botframework::user_token::UserTokenClient;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::identity::app::AppIdentity;
use crate::identity::groups::GroupMembership;
use crate::identity::OnBehalfOf;
use crate::store::Store;

/// Everything a request needs.
pub struct App {
    pub auth: Authenticator,
    pub bot: Arc<Bot>,
    pub store: Store,
    /// Held here too for the periodic sweep of per-conversation and per-user state.
    connector: Arc<ConnectorClient>,
    obo: Arc<OnBehalfOf>,
    /// This process, as leases and the instance table name it (fresh on every start).
    instance_id: String,
}

impl App {
    /// Builds the app: HTTP client, authenticator, connector, and the store (opened and migrated).
    pub async fn open(config: &Config) -> anyhow::Result<App> {
        let http = crate::http_client::builder().build()?;
        let app_identity = match AppIdentity::with_client(config, http.clone()) {
            Ok(identity) => Some(Arc::new(identity)),
            Err(error) => {
                tracing::warn!(%error, "the bot's own identity is unavailable: scheduled posts cannot read the workspaces");
                None
            }
        };
        let mut config = config.clone();
        crate::identity::directory::resolve_names(
            &mut config.access,
            app_identity.as_deref(),
            &config.endpoints.graph,
            &http,
        )
        .await;
        for (setting, count) in config.access.keep_object_ids() {
            tracing::warn!(
                setting,
                count,
                "access entries that are neither object ids nor names Graph could resolve are ignored: \
                 list the user's or group's object id instead"
            );
        }
        let config = &config;
        let auth = Authenticator::new(
            &config.bot,
            &config.endpoints,
            config.server.local_anonymous,
            config.server.accept_emulator_tokens,
            http.clone(),
            Arc::new(SystemClock),
        );
        let token = Arc::new(BotTokenProvider::for_botframework(&config.bot, &config.endpoints, http.clone())?);
        let loopback = config.server.local_anonymous || config.server.accept_emulator_tokens;
        let hosts = ServiceHosts::new(&config.endpoints.service_hosts, loopback);
        let connector = Arc::new(ConnectorClient::new(http.clone(), token.clone(), RetryPolicy::default(), hosts));
        if config.store.uses_data_dir() {
            std::fs::create_dir_all(&config.store.data_dir)
                .map_err(|e| anyhow::anyhow!("store.data_dir {}: {e}", config.store.data_dir.display()))?;
        }
        let store = Store::open(&config.store.url()).await?;
        crate::bot::pairs::seed(&store, config).await?;
        let users = UserTokenClient::new(
            http.clone(),
            &config.endpoints.token_service,
            &config.sso.connection_name,
            &config.bot.app_id,
            token,
        );
        let obo = Arc::new(OnBehalfOf::new(config, http.clone()));
        let instance_id = uuid::Uuid::new_v4().to_string();
        let services = Services {
            connector: connector.clone(),
            store: store.clone(),
            users,
            obo: obo.clone(),
            groups: Arc::new(GroupMembership::new(&config.endpoints.graph, http.clone())),
            http: http.clone(),
            app: app_identity,
            config: Arc::new(config.clone()),
            instance_id: instance_id.clone(),
        };
        Ok(App { auth, bot: Bot::new(services), store, connector, obo, instance_id })
    }
}

pub fn router(app: Arc<App>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/api/messages", post(messages))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.auth.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "signing keys not loaded yet").into_response()
    }
}

async fn messages(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if app.auth.anonymous_allowed() {
        if let Err(status) = not_from_a_browser(&headers) {
            return status.into_response();
        }
    }
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let activity: Activity = match serde_json::from_slice(&body) {
        Ok(activity) => activity,
        Err(error) => {
            tracing::debug!(correlation_id, line = error.line(), column = error.column(), "malformed activity");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"code": "BadRequest", "message": "The body is not a valid activity.", "correlationId": correlation_id}})),
            )
                .into_response();
        }
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let caller = match app.auth.authenticate(authorization, &activity).await {
        Ok(caller) => caller,
        Err(reason) => {
            tracing::debug!(correlation_id, %reason, "request refused");
            return StatusCode::UNAUTHORIZED.into_response();
        }
    };
    tracing::info!(correlation_id, activity_type = ?activity.kind, "activity");
    match app.bot.on_activity(&activity, &caller, &correlation_id).await {
        TurnOutcome::Done => StatusCode::OK.into_response(),
        TurnOutcome::Invoke(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match answer.body {
                Some(body) => (status, Json(body)).into_response(),
                None => status.into_response(),
            }
        }
    }
}

/// Local anonymous mode trusts any request on loopback, so a web page the
/// operator opens must not be able to post to it (CSRF): a browser can send
/// a cross-site `text/plain` form without a preflight, and always names its
/// page in `Origin` / `Sec-Fetch-Site`. The Agents Playground posts
/// `application/json` from its own process, with neither header.
fn not_from_a_browser(headers: &HeaderMap) -> Result<(), StatusCode> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    if headers.contains_key("origin") {
        return Err(StatusCode::FORBIDDEN);
    }
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        None | Some(b"none") | Some(b"same-origin") => Ok(()),
        Some(_) => Err(StatusCode::FORBIDDEN),
    }
}

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, waits for requests in flight, returns.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.stop.cancel();
        let served = self.task.await.unwrap_or(Ok(()));
        self.app.bot.finish_background_work().await;
        served
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds the configured address and serves until `stop` is cancelled.
pub async fn start(config: &Config, stop: CancellationToken) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.server.listen).await?;
    start_on(config, listener, stop).await
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn start_on(
    config: &Config,
    listener: TcpListener,
    stop: CancellationToken,
) -> anyhow::Result<RunningServer> {
    start_on_with_clock(config, listener, stop, Arc::new(SystemClock)).await
}

/// [`start_on`] with the clock scheduled posts go by (tests move it by hand).
pub async fn start_on_with_clock(
    config: &Config,
    listener: TcpListener,
    stop: CancellationToken,
    clock: Arc<dyn crate::clock::Clock>,
) -> anyhow::Result<RunningServer> {
    if config.server.local_anonymous {
        tracing::warn!(
            listen = %config.server.listen,
            "LOCAL ANONYMOUS MODE: requests without a token are accepted. For the Agents Playground on this machine only."
        );
    }
    let app = Arc::new(App::open(config).await?);
    let addr = listener.local_addr()?;
    tokio::spawn(load_keys_until_ready(app.clone(), stop.clone()));
    tokio::spawn(purge_expired_claims(app.store.clone(), stop.clone()));
    tokio::spawn(app.bot.operations().clone().supervise(stop.clone()));
    let scheduler = crate::scheduler::Scheduler::new(
        app.store.clone(),
        crate::bot::poster::DashboardPoster::new(app.bot.clone()),
        clock,
    )
    .with_budget(app.bot.send_budget())
    .shared_as(app.instance_id.clone(), INSTANCE_HEARTBEAT)
    .with_replications(Arc::new(crate::bot::scheduled_replication::ScheduledReplications::new(app.bot.clone())))
    .with_drills(Arc::new(crate::bot::scheduled_drill::ScheduledDrills::new(app.bot.clone())))
    .with_checks(
        Arc::new(crate::bot::rpo_checks::RpoChecks::new(app.bot.clone())),
        Duration::from_secs(config.operations.rpo_check_secs),
    );
    let connections = TaskTracker::new();
    tokio::spawn(forget_idle_state(app.clone(), connections.clone(), stop.clone()));
    tokio::spawn(scheduler.run(Duration::from_millis(config.operations.scheduler_tick_ms), stop.clone()));
    let router = router(app.clone(), config.server.max_body_bytes);
    let idle = Duration::from_millis(config.server.idle_connection_ms);
    let task = tokio::spawn(crate::connections::serve(listener, router, idle, connections, stop.clone()));
    tracing::info!(%addr, "drbot listening");
    Ok(RunningServer { addr, app, stop, task })
}

/// How often this instance tells the others it is alive (the tenant send
/// budget is divided between the live ones).
const INSTANCE_HEARTBEAT: Duration = Duration::from_secs(5);

/// How often per-conversation and per-user state in memory is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Per-conversation pacing and per-user tokens are kept only while they are
/// in use: a sweep drops the idle ones, and when it dropped anything (or
/// HTTP or store connections closed since the last sweep: each count is
/// compared with its own, so ten connections closing beside ten new
/// conversations still count) hands freed memory back to the system, off
/// the runtime's workers, so a burst of one-off conversations does not stay
/// resident.
async fn forget_idle_state(app: Arc<App>, connections: TaskTracker, stop: CancellationToken) {
    let mut remembered = [0; 4];
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let now = tokio::time::Instant::now();
        let left = [
            app.connector.pacer().forget_idle(now),
            app.obo.forget_expired(),
            connections.len(),
            app.store.open_connections(),
        ];
        if left.iter().zip(&remembered).any(|(now, before)| now < before) {
            let _ = tokio::task::spawn_blocking(crate::memory::release_free_memory).await;
        }
        remembered = left;
    }
}

/// Dedupe claims expire; every hour the expired ones are dropped so the table stays small.
async fn purge_expired_claims(store: Store, stop: CancellationToken) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = hourly.tick() => {}
        }
        match store.purge_expired_claims(chrono::Utc::now().timestamp_millis()).await {
            Ok(purged) if purged > 0 => tracing::debug!(purged, "expired dedupe claims dropped"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "expired dedupe claims not dropped"),
        }
    }
}

/// Signing keys are fetched before traffic arrives; /readyz turns green when they are.
async fn load_keys_until_ready(app: Arc<App>, stop: CancellationToken) {
    let mut wait = Duration::from_millis(200);
    loop {
        match app.auth.load_keys().await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "signing keys not loaded"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}
