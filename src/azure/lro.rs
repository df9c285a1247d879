//! Long-running operations: ask again until done, waiting as ARM says.
//!
//! ARM answers a long operation at once and tells the client where to ask
//! (`Azure-AsyncOperation` or `Location`) and when (`Retry-After`). Polling
//! faster than `Retry-After` only earns throttling, so the wait honours it;
//! without one the wait starts at `default_interval` and grows to
//! `max_interval`. A deadline bounds the whole wait and a cancel token lets
//! the caller stop waiting (the operation itself goes on in Azure; cancelling
//! it is a separate ARM call).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ArmError;

#[derive(Clone, Debug)]
pub struct PollOptions {
    /// The wait before asking again when ARM gave no `Retry-After`.
    pub default_interval: Duration,
    /// The longest wait between two polls without `Retry-After`.
    pub max_interval: Duration,
    /// When to give up (tokio time, so tests can pause the clock).
    pub deadline: Instant,
    pub cancel: CancellationToken,
}

impl PollOptions {
    /// Polls every `interval` (doubling up to ten times it) for at most `within`.
    pub fn new(interval: Duration, within: Duration, cancel: CancellationToken) -> PollOptions {
        PollOptions {
            default_interval: interval,
            max_interval: interval.saturating_mul(10),
            deadline: Instant::now() + within,
            cancel,
        }
    }
}

/// What one poll found.
#[derive(Debug)]
pub enum Poll<T> {
    Done(T),
    /// Still running; ARM's `Retry-After`, if it sent one.
    Pending(Option<Duration>),
}

/// Calls `step` until it is done, the deadline passes or `options.cancel`
/// fires, waiting between calls as described in the module docs. `first`
/// is the `Retry-After` of the answer that started the operation.
pub async fn poll_until<T, F, Fut>(options: &PollOptions, first: Option<Duration>, mut step: F) -> Result<T, ArmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ArmError>>,
{
    let mut fallback = options.default_interval;
    let mut wait = first.unwrap_or(Duration::ZERO);
    loop {
        if !wait.is_zero() {
            if Instant::now() + wait > options.deadline {
                // Waiting would overshoot: one last look right at the deadline.
                sleep_or_cancel(options, options.deadline.saturating_duration_since(Instant::now())).await?;
                return match step().await? {
                    Poll::Done(value) => Ok(value),
                    Poll::Pending(_) => Err(ArmError::DeadlineExceeded),
                };
            }
            sleep_or_cancel(options, wait).await?;
        } else if options.cancel.is_cancelled() {
            return Err(ArmError::Canceled);
        }
        match step().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Pending(retry_after) => {
                wait = match retry_after {
                    Some(after) => after,
                    None => {
                        let this = fallback;
                        fallback = (fallback * 2).min(options.max_interval);
                        this
                    }
                };
                if wait.is_zero() {
                    // `Retry-After: 0` means "now", but a tight loop helps nobody.
                    wait = options.default_interval.min(Duration::from_millis(50)).max(Duration::from_millis(1));
                }
            }
        }
    }
}

async fn sleep_or_cancel(options: &PollOptions, wait: Duration) -> Result<(), ArmError> {
    tokio::select! {
        _ = options.cancel.cancelled() => Err(ArmError::Canceled),
        _ = tokio::time::sleep(wait) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn options(within: Duration) -> PollOptions {
        PollOptions::new(Duration::from_secs(1), within, CancellationToken::new())
    }

    #[tokio::test(start_paused = true)]
    async fn waits_what_retry_after_says_then_backs_off_without_it() {
        let started = Instant::now();
        let calls = AtomicU32::new(0);
        let times = parking_lot::Mutex::new(Vec::new());
        let result = poll_until(&options(Duration::from_secs(600)), Some(Duration::from_secs(3)), || async {
            times.lock().push(started.elapsed().as_secs());
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Poll::Pending(Some(Duration::from_secs(7)))),
                1 | 2 => Ok(Poll::Pending(None)),
                _ => Ok(Poll::Done("finished")),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "finished");
        // 3 (first Retry-After), +7 (Retry-After), +1 and +2 (doubling back-off).
        assert_eq!(*times.lock(), vec![3, 10, 11, 13]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_after_a_last_look() {
        let started = Instant::now();
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = poll_until(&options(Duration::from_secs(30)), None, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Poll::Pending(Some(Duration::from_secs(20))))
        })
        .await;
        assert!(matches!(result, Err(ArmError::DeadlineExceeded)));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "at 0, 20 and the deadline");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_stops_the_wait() {
        let opts = options(Duration::from_secs(600));
        let cancel = opts.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            cancel.cancel();
        });
        let started = Instant::now();
        let result: Result<(), _> =
            poll_until(&opts, None, || async { Ok(Poll::Pending(Some(Duration::from_secs(60)))) }).await;
        assert!(matches!(result, Err(ArmError::Canceled)));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_end_the_polling() {
        let result: Result<(), _> = poll_until(&options(Duration::from_secs(60)), None, || async {
            Err(ArmError::BadResponse("broken".into()))
        })
        .await;
        assert!(matches!(result, Err(ArmError::BadResponse(_))));
    }
}
