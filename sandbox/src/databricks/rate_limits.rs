//! The workspace REST API's documented rate limits, per endpoint: a request
//! beyond one is answered `429 REQUEST_LIMIT_EXCEEDED` with `Retry-After`
//! (whole seconds until the window has room again), as Databricks throttles.
//!
//! Source: "Resource limits", section "API rate limits"
//! (learn.microsoft.com/azure/databricks/resources/limits; the same table at
//! docs.databricks.com/aws/en/resources/limits), scope: workspace. The
//! limits are counted per workspace over a sliding window (the page gives
//! rates, not the algorithm: a sliding window is the stricter reading, as it
//! lets no burst through at a window's edge). Endpoints the page gives no
//! limit for are not limited here (FIDELITY.md, "Rate limits").

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::Method;
use parking_lot::Mutex;

/// One documented limit: at most `limit` requests in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub limit: usize,
    pub window: Duration,
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// The documented limits this sandbox enforces.
pub const LIMITS: &[Limit] = &[
    Limit { name: "jobs/create", limit: 20, window: SECOND },
    Limit { name: "jobs/run-now", limit: 20, window: SECOND },
    Limit { name: "jobs/runs/get", limit: 100, window: SECOND },
    Limit { name: "jobs/runs/submit", limit: 35, window: SECOND },
    Limit { name: "permissions GET", limit: 100, window: SECOND },
    Limit { name: "permissions PATCH/PUT", limit: 30, window: SECOND },
    Limit { name: "workspace/export", limit: 60, window: SECOND },
    Limit { name: "workspace/import", limit: 30, window: SECOND },
    Limit { name: "secrets", limit: 1100, window: MINUTE },
    Limit { name: "SCIM GET", limit: 255, window: MINUTE },
    Limit { name: "DBFS", limit: 30, window: SECOND },
];

/// The limit a request counts against, if any.
pub fn limit_of(method: &Method, path: &str) -> Option<&'static Limit> {
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
        _ if path.starts_with("/api/2.0/dbfs/") => "DBFS",
        _ => return None,
    };
    LIMITS.iter().find(|l| l.name == name)
}

/// A workspace's request times per limit (always enforced: a sandbox
/// kinder than Databricks would hide a client that does not pace itself).
pub struct RateLimits {
    sent: Mutex<Vec<VecDeque<Instant>>>,
    admitted: Mutex<Vec<usize>>,
    refused: Mutex<Vec<usize>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            sent: Mutex::new(vec![VecDeque::new(); LIMITS.len()]),
            admitted: Mutex::new(vec![0; LIMITS.len()]),
            refused: Mutex::new(vec![0; LIMITS.len()]),
        }
    }
}

fn named(counts: &[usize]) -> std::collections::BTreeMap<&'static str, usize> {
    LIMITS.iter().zip(counts.iter()).filter(|(_, n)| **n > 0).map(|(l, n)| (l.name, *n)).collect()
}

impl RateLimits {
    /// How many requests each limit let through so far (a benchmark's
    /// lower bound is these over the limits).
    pub fn admitted(&self) -> std::collections::BTreeMap<&'static str, usize> {
        named(&self.admitted.lock())
    }

    /// How many requests each limit refused so far (those it did not are left out).
    pub fn refused(&self) -> std::collections::BTreeMap<&'static str, usize> {
        named(&self.refused.lock())
    }

    /// Counts a request arriving now; `Some(retry_after_secs)` when it is
    /// beyond its endpoint's limit (a refused request is not counted).
    pub fn admit(&self, method: &Method, path: &str) -> Option<u64> {
        self.admit_at(method, path, Instant::now())
    }

    pub fn admit_at(&self, method: &Method, path: &str, now: Instant) -> Option<u64> {
        let limit = limit_of(method, path)?;
        let index = LIMITS.iter().position(|l| l == limit)?;
        let mut sent = self.sent.lock();
        let times = &mut sent[index];
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= limit.window) {
            times.pop_front();
        }
        if times.len() < limit.limit {
            times.push_back(now);
            self.admitted.lock()[index] += 1;
            return None;
        }
        self.refused.lock()[index] += 1;
        let free_at = times.front().map_or(now, |t| *t + limit.window);
        Some(free_at.saturating_duration_since(now).as_secs_f64().ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_their_documented_limit() {
        let name = |method: Method, path: &str| limit_of(&method, path).map(|l| l.name);
        assert_eq!(name(Method::POST, "/api/2.2/jobs/create"), Some("jobs/create"));
        assert_eq!(name(Method::GET, "/api/2.2/jobs/list"), None, "no documented limit");
        assert_eq!(name(Method::PUT, "/api/2.0/permissions/jobs/7"), Some("permissions PATCH/PUT"));
        assert_eq!(name(Method::GET, "/api/2.0/permissions/notebooks/7"), Some("permissions GET"));
        assert_eq!(name(Method::POST, "/api/2.0/workspace/import"), Some("workspace/import"));
        assert_eq!(name(Method::GET, "/api/2.0/workspace/list"), None);
        assert_eq!(name(Method::GET, "/api/2.0/preview/scim/v2/Me"), Some("SCIM GET"));
    }

    #[test]
    fn a_window_admits_its_limit_then_answers_when_to_come_back() {
        let limits = RateLimits::default();
        let start = Instant::now();
        for i in 0..30 {
            let at = start + Duration::from_millis(i * 10);
            assert_eq!(limits.admit_at(&Method::POST, "/api/2.0/workspace/import", at), None, "request {i}");
        }
        let over = start + Duration::from_millis(400);
        assert_eq!(limits.admit_at(&Method::POST, "/api/2.0/workspace/import", over), Some(1));
        assert_eq!(limits.refused(), [("workspace/import", 1)].into());
        // Other endpoints have their own windows.
        assert_eq!(limits.admit_at(&Method::GET, "/api/2.0/workspace/export", over), None);
        // A second after the first, there is room again.
        let later = start + Duration::from_millis(1_005);
        assert_eq!(limits.admit_at(&Method::POST, "/api/2.0/workspace/import", later), None);
    }
}
