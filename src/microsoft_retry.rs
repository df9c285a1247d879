//! One retry loop for the Microsoft services drbot calls as itself: the Bot
//! Framework connector (replies, cards, proactive posts) and Microsoft Graph
//! (activity-feed notifications). Both throttle and fail transiently the
//! same way (Teams' documentation: retry 429, 412, 502 and 504 with jittered
//! back-off; 503 alike), so the rules live here once: `Retry-After` is
//! honoured (`crate::retry_after`), a wait longer than the policy allows is
//! given up on rather than slept through, otherwise the back-off doubles
//! from `base_backoff` with jitter, and a call that got no answer at all is
//! retried the same way, a bounded number of attempts in all.
//!
//! Each client keeps what is its own (the URL, the token, what an error
//! status means for it) in the closure it hands to [`RetryPolicy::run`],
//! which says what one attempt came to ([`Attempt`]). The loop is generic,
//! so the connector's hot path (one attempt that succeeds) costs no
//! allocation and no dynamic call.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How hard to try before giving up on one call.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Backoff before the first retry when the server gives no `Retry-After`.
    pub base_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: we give up instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What one attempt came to.
pub enum Attempt<T, E> {
    /// Finished: the answer, or a failure that trying again would not change.
    Done(Result<T, E>),
    /// Throttled or transiently failed with HTTP `status` ([`retryable`]);
    /// `retry_after` is what the service asked for, if it did.
    Busy { status: u16, retry_after: Option<Duration> },
    /// No answer at all (connection refused, timed out): `.0` is the error
    /// returned if this was the last attempt.
    Unreachable(E),
    /// Try again at once (the client fixed something, e.g. fetched a new token).
    Again,
}

/// The statuses Microsoft's services ask callers to retry.
pub fn retryable(status: u16) -> bool {
    matches!(status, 429 | 412 | 502 | 503 | 504)
}

impl RetryPolicy {
    /// Runs `attempt` (given the attempt's number, from 1) until it is done,
    /// waiting between attempts as the module doc says; `gave_up(attempts,
    /// last_status)` is the error when the service stayed busy. `service`
    /// names the caller in the debug log.
    pub async fn run<T, E, F, Fut>(
        &self,
        service: &'static str,
        mut attempt: F,
        gave_up: impl Fn(u32, u16) -> E,
    ) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        let mut count = 0;
        loop {
            count += 1;
            let wait = match attempt(count).await {
                Attempt::Done(result) => return result,
                Attempt::Again => continue,
                Attempt::Unreachable(error) if count >= self.max_attempts => return Err(error),
                Attempt::Unreachable(_) => {
                    tracing::debug!(service, attempt = count, "call got no answer, retrying");
                    self.backoff(count)
                }
                Attempt::Busy { status, .. } if count >= self.max_attempts => return Err(gave_up(count, status)),
                Attempt::Busy { status, retry_after } => {
                    let wait = match retry_after {
                        Some(wait) if wait > self.max_retry_after => return Err(gave_up(count, status)),
                        Some(wait) => wait,
                        None => self.backoff(count),
                    };
                    tracing::debug!(
                        service,
                        status,
                        attempt = count,
                        wait_ms = wait.as_millis() as u64,
                        "throttled or busy, retrying"
                    );
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential back-off with jitter (half to all of the ceiling).
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base_backoff * 2u32.saturating_pow(attempt.saturating_sub(1).min(6));
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Plays `script` (one verdict per attempt) and records the attempts' numbers and tokio times.
    async fn play(
        policy: &RetryPolicy,
        script: Vec<Attempt<&'static str, String>>,
    ) -> (Result<&'static str, String>, Vec<(u32, Duration)>) {
        let start = tokio::time::Instant::now();
        let script = Mutex::new(script.into_iter());
        let seen = Mutex::new(Vec::new());
        let result = policy
            .run(
                "test",
                |n| {
                    seen.lock().unwrap().push((n, start.elapsed()));
                    let next = script.lock().unwrap().next().expect("the script has an answer for every attempt");
                    async move { next }
                },
                |attempts, status| format!("gave up after {attempts} (HTTP {status})"),
            )
            .await;
        (result, seen.into_inner().unwrap())
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(10),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_backoff_doubles_with_jitter() {
        let (result, seen) = play(
            &policy(),
            vec![
                Attempt::Busy { status: 429, retry_after: Some(Duration::from_secs(7)) },
                Attempt::Busy { status: 503, retry_after: None },
                Attempt::Done(Ok("sent")),
            ],
        )
        .await;
        assert_eq!(result, Ok("sent"));
        assert_eq!(seen[1], (2, Duration::from_secs(7)), "the service's own wait");
        let backoff = seen[2].1 - seen[1].1;
        assert!(backoff >= Duration::from_millis(100) && backoff <= Duration::from_millis(200), "{backoff:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn it_gives_up_when_busy_too_long_or_too_often_and_stops_at_a_final_answer() {
        let too_long = vec![Attempt::Busy { status: 429, retry_after: Some(Duration::from_secs(11)) }];
        let (result, seen) = play(&policy(), too_long).await;
        assert_eq!(result, Err("gave up after 1 (HTTP 429)".into()));
        assert_eq!(seen.len(), 1, "a wait beyond the policy is not slept through");
        let busy = (0..3).map(|_| Attempt::Busy { status: 502, retry_after: Some(Duration::ZERO) }).collect();
        assert_eq!(play(&policy(), busy).await.0, Err("gave up after 3 (HTTP 502)".into()));
        let unreachable = (0..3).map(|i| Attempt::Unreachable(format!("refused {i}"))).collect();
        assert_eq!(play(&policy(), unreachable).await.0, Err("refused 2".into()), "the last error");
        let refused = vec![Attempt::Done(Err("HTTP 400".to_string()))];
        assert_eq!(play(&policy(), refused).await.1.len(), 1, "a final answer is not retried");
        let again = vec![Attempt::Again, Attempt::Done(Ok("sent"))];
        let (result, seen) = play(&policy(), again).await;
        assert_eq!((result, seen[1].1), (Ok("sent"), Duration::ZERO), "again at once");
        assert!(retryable(412) && retryable(504) && !retryable(500) && !retryable(403));
    }
}
