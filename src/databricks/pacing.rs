//! Pacing requests below each endpoint's documented rate limit, per
//! workspace, so a bulk sync (thousands of notebooks, hundreds of jobs)
//! runs at the rate Databricks allows instead of bouncing off it: a 429
//! costs a whole `Retry-After` second, and callers that ignore limits get
//! their IPs blocked for minutes (databricks/terraform-provider-databricks
//! issue 156). A 429 that slips through (another client of the same workspace,
//! network jitter) holds that endpoint of that workspace for its
//! `Retry-After` ([`hold`]), and the retry loop ([`super::retry`]) waits it
//! out for the refused request.
//!
//! The limits ("Resource limits", section "API rate limits",
//! learn.microsoft.com/azure/databricks/resources/limits; scope: workspace):
//! Jobs `create` and `run-now` 20/s, `runs/get` 100/s, `runs/submit` 35/s;
//! Permissions `GET` 100/s, `PATCH`/`PUT` 30/s; Workspace `export` 60/s,
//! `import` 30/s; Secrets 1,100/min; Workspace SCIM `GET` 255/min. Endpoints
//! the page does not limit are not paced. Each limit is held over a window
//! 10 % longer than documented, and a per-second one is spread evenly over
//! it ([`paced_windows`]), so requests that leave in the limit's time still
//! arrive inside it when the network or the server delays some more than
//! others.
//!
//! One limiter per endpoint for the whole process, keyed by workspace host:
//! every client of a workspace (the bot's, each person's) shares its budget,
//! as Databricks counts it.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::Method;
use tokio::time::Instant;

use crate::rate_limit::RateLimiter;

/// One documented limit: at most `limit` requests in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointLimit {
    pub name: &'static str,
    pub limit: usize,
    pub window: Duration,
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// The documented per-workspace limits drbot paces to.
pub const LIMITS: &[EndpointLimit] = &[
    EndpointLimit { name: "jobs/create", limit: 20, window: SECOND },
    EndpointLimit { name: "jobs/run-now", limit: 20, window: SECOND },
    EndpointLimit { name: "jobs/runs/get", limit: 100, window: SECOND },
    EndpointLimit { name: "jobs/runs/submit", limit: 35, window: SECOND },
    EndpointLimit { name: "permissions GET", limit: 100, window: SECOND },
    EndpointLimit { name: "permissions PATCH/PUT", limit: 30, window: SECOND },
    EndpointLimit { name: "workspace/export", limit: 60, window: SECOND },
    EndpointLimit { name: "workspace/import", limit: 30, window: SECOND },
    EndpointLimit { name: "secrets", limit: 1100, window: MINUTE },
    EndpointLimit { name: "SCIM GET", limit: 255, window: MINUTE },
];

/// The limit a request counts against, if any.
pub fn limit_of(method: &Method, path: &str) -> Option<&'static EndpointLimit> {
    let jobs = ["/api/2.0/jobs/", "/api/2.1/jobs/", "/api/2.2/jobs/"].iter().find_map(|p| path.strip_prefix(p));
    let name = match (method, jobs) {
        (&Method::POST, Some("create")) => "jobs/create",
        (&Method::POST, Some("run-now")) => "jobs/run-now",
        (&Method::GET, Some("runs/get")) => "jobs/runs/get",
        (&Method::POST, Some("runs/submit")) => "jobs/runs/submit",
        _ if path.starts_with("/api/2.0/permissions/") => match *method {
            Method::GET => "permissions GET",
            Method::PATCH | Method::PUT => "permissions PATCH/PUT",
            _ => return None,
        },
        (&Method::GET, _) if path == "/api/2.0/workspace/export" => "workspace/export",
        (&Method::POST, _) if path == "/api/2.0/workspace/import" => "workspace/import",
        _ if path.starts_with("/api/2.0/secrets/") => "secrets",
        (&Method::GET, _) if path.starts_with("/api/2.0/preview/scim/v2/") => "SCIM GET",
        _ => return None,
    };
    LIMITS.iter().find(|l| l.name == name)
}

/// The window drbot holds a limit over: 10 % longer than documented.
pub fn paced_window(limit: &EndpointLimit) -> Duration {
    limit.window + limit.window / 10
}

/// The windows a limit is paced with. A per-second limit is also spread
/// evenly (one request per `window / limit`): a burst of a whole second's
/// budget reaches the server queued, and its stragglers arrive inside the
/// next second's budget, where the server counts them. A per-minute limit
/// (a few lookups a run) may be spent at once.
pub fn paced_windows(limit: &EndpointLimit) -> Vec<(usize, Duration)> {
    let window = paced_window(limit);
    match limit.window <= SECOND {
        true => vec![(1, window / limit.limit as u32), (limit.limit, window)],
        false => vec![(limit.limit, window)],
    }
}

/// Until when an endpoint of a workspace is held after a 429: its budget was
/// spent by someone else (another client of the workspace), so every
/// request to it waits out the `Retry-After` rather than each bouncing once.
fn holds() -> &'static Mutex<HashMap<(usize, String), Instant>> {
    static HOLDS: OnceLock<Mutex<HashMap<(usize, String), Instant>>> = OnceLock::new();
    HOLDS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Notes a 429 answered for `path` of the workspace at `host`: its endpoint
/// takes no request for `retry_after`.
pub fn hold(host: &str, method: &Method, path: &str, retry_after: Duration) {
    let Some(index) = limit_of(method, path).and_then(|limit| LIMITS.iter().position(|l| l == limit)) else { return };
    let until = Instant::now() + retry_after;
    let mut holds = holds().lock();
    let held = holds.entry((index, host.to_string())).or_insert(until);
    *held = (*held).max(until);
}

fn limiters() -> &'static [RateLimiter] {
    static LIMITERS: OnceLock<Vec<RateLimiter>> = OnceLock::new();
    LIMITERS.get_or_init(|| LIMITS.iter().map(|l| RateLimiter::new(&paced_windows(l))).collect())
}

/// Waits until a request to `path` of the workspace at `host` is within
/// its endpoint's limit, and counts it.
pub async fn pace(host: &str, method: &Method, path: &str) {
    let Some(limit) = limit_of(method, path) else { return };
    let Some(index) = LIMITS.iter().position(|l| l == limit) else { return };
    let held = holds().lock().get(&(index, host.to_string())).copied();
    if let Some(until) = held.filter(|until| *until > Instant::now()) {
        tokio::time::sleep_until(until).await;
    }
    limiters()[index].acquire(host).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_their_documented_limit() {
        let name = |method: Method, path: &str| limit_of(&method, path).map(|l| l.name);
        assert_eq!(name(Method::POST, "/api/2.2/jobs/create"), Some("jobs/create"));
        assert_eq!(name(Method::POST, "/api/2.2/jobs/reset"), None, "no documented limit");
        assert_eq!(name(Method::PUT, "/api/2.0/permissions/jobs/7"), Some("permissions PATCH/PUT"));
        assert_eq!(name(Method::GET, "/api/2.0/permissions/directories/7"), Some("permissions GET"));
        assert_eq!(name(Method::GET, "/api/2.0/workspace/export"), Some("workspace/export"));
        assert_eq!(name(Method::GET, "/api/2.0/workspace/list"), None);
        assert_eq!(name(Method::GET, "/api/2.0/secrets/list"), Some("secrets"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spread_below_the_limit_per_workspace() {
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..31 {
            pace("https://paced.example", &Method::POST, "/api/2.0/workspace/import").await;
            at.push(tokio::time::Instant::now() - start);
        }
        // Evenly, 36.7 ms apart (1.1 s ÷ 30): the 31st a whole window after the first.
        assert!(at[1] >= Duration::from_millis(36) && at[1] <= Duration::from_millis(38), "{:?}", at[1]);
        assert!(at[30] >= Duration::from_millis(1_099) && at[30] <= Duration::from_millis(1_100), "{:?}", at[30]);
        let other = tokio::time::Instant::now();
        pace("https://other.example", &Method::POST, "/api/2.0/workspace/import").await;
        assert_eq!(tokio::time::Instant::now(), other, "another workspace has its own budget");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_the_endpoint_for_its_retry_after() {
        let (host, export) = ("https://held.example", "/api/2.0/workspace/export");
        hold(host, &Method::GET, export, Duration::from_secs(2));
        let start = Instant::now();
        pace(host, &Method::GET, "/api/2.0/workspace/list").await;
        assert_eq!(Instant::now(), start, "other endpoints go on");
        pace(host, &Method::GET, export).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }
}
