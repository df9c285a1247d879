//! Retrying transient failures, within a budget.
//!
//! Databricks throttles with 429 and `Retry-After` and has transient 5xx
//! moments; a replication of thousands of objects meets both. Every retry
//! loop here is bounded twice: by an overall time budget (the official SDK
//! uses 300 s) and by an attempt count, so nothing is retried forever. The
//! server's `Retry-After` is honoured; otherwise the wait doubles from
//! `base_delay` up to `max_delay`, with jitter so that many concurrent
//! callers throttled together do not come back together. A wait that would
//! end after the budget is not started: the last error is returned at once.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::error::DatabricksError;

/// How hard to try. `RetryPolicy::none()` makes every call a single attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total time from the first attempt after which no new attempt starts.
    pub budget: Duration,
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff when the server gives no `Retry-After`.
    pub base_delay: Duration,
    /// The longest single backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(300),
            max_attempts: 12,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The backoff before attempt `retry + 1` (retry counts from 0) when the
    /// server did not say: `base · 2^retry`, capped, then jittered into its
    /// upper half so waits still grow.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(2u32.saturating_pow(retry.min(30)));
        let capped = exponential.min(self.max_delay);
        let factor = rand::thread_rng().gen_range(0.5..=1.0);
        capped.mul_f64(factor)
    }

    /// The wait before the next attempt after `error`: the server's word, else backoff.
    fn wait_after(&self, error: &DatabricksError, retry: u32) -> Duration {
        error.retry_after().unwrap_or_else(|| self.backoff(retry))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts or
    /// the budget run out; then returns the last error.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, DatabricksError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DatabricksError>>,
    {
        let started = Instant::now();
        let mut retry = 0u32;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_transient() || retry + 1 >= self.max_attempts.max(1) {
                return Err(error);
            }
            let wait = self.wait_after(&error, retry);
            if started.elapsed() + wait > self.budget {
                return Err(error);
            }
            tracing::debug!(retry, wait_ms = wait.as_millis() as u64, %error, "retrying a transient Databricks error");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn throttled(secs: u64) -> DatabricksError {
        DatabricksError::Throttled { retry_after: Some(Duration::from_secs(secs)), message: "slow down".into() }
    }

    fn unavailable() -> DatabricksError {
        DatabricksError::Unavailable {
            status: 500,
            code: "INTERNAL_ERROR".into(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_then_success() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let answer = RetryPolicy::default()
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(throttled(7)),
                    _ => Ok("done"),
                }
            })
            .await;
        assert_eq!(answer, Ok("done"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(14), "exactly the two Retry-After waits");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_with_jitter_when_the_server_does_not_say() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let policy = RetryPolicy { base_delay: Duration::from_secs(1), ..RetryPolicy::default() };
        let answer = policy
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err(unavailable()),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(answer, Ok(()));
        // Waits of 1, 2 and 4 s, each jittered into [half, full].
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(3500) && elapsed <= Duration::from_secs(7), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_persistent_fault_ends_within_the_budget() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let policy = RetryPolicy { budget: Duration::from_secs(20), max_attempts: 1000, ..RetryPolicy::default() };
        let answer: Result<(), _> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(throttled(3))
            })
            .await;
        assert!(matches!(answer, Err(DatabricksError::Throttled { .. })));
        assert!(started.elapsed() <= Duration::from_secs(20));
        // 0, 3, 6, …, 18 s: seven attempts; the eighth would start after 21 s.
        assert_eq!(calls.load(Ordering::SeqCst), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_too() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy { max_attempts: 4, ..RetryPolicy::default() };
        let answer: Result<(), _> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(throttled(0))
            })
            .await;
        assert!(answer.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let answer: Result<(), _> = RetryPolicy::default()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(DatabricksError::NotFound("gone".into()))
            })
            .await;
        assert_eq!(answer, Err(DatabricksError::NotFound("gone".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let once: Result<(), _> = RetryPolicy::none().run(|| async { Err(throttled(1)) }).await;
        assert!(once.is_err());
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy::default();
        for retry in [0, 5, 31, u32::MAX] {
            assert!(policy.backoff(retry) <= policy.max_delay);
        }
        assert!(policy.backoff(0) >= policy.base_delay / 2);
    }
}
