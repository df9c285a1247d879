//! One rate limiter for everything drbot paces: sliding windows per key.
//!
//! The connector paces each conversation to Teams' per-conversation limits
//! (`src/botframework/pacing.rs`) and the scheduler paces each tenant to its
//! share of Teams' per-tenant limit (`src/scheduler/budget.rs`); both are a
//! [`RateLimiter`] with their own windows.
//!
//! Each key keeps the times of its recent sends, oldest first. A send
//! reserves the earliest slot at which every window `(limit, length)` holds
//! fewer than `limit` sends, so callers are served in arrival order and never
//! spin. Slots only grow, so the send that decides a window is always the
//! `limit`-th from the end: a reservation is a few comparisons, not a scan.
//!
//! The table is bounded by use, not by history: a key that has sent nothing
//! for `forget_after` is dropped (by [`RateLimiter::forget_idle`], which the
//! server calls periodically, and on the hot path at most once per
//! `forget_after / 2`). Windows up to `forget_after` stay exact; a longer
//! window (Teams' 1,800 an hour) is only enforced while the key keeps
//! sending. Forgetting there is the cheaper error: beyond it Teams answers
//! 429 with `Retry-After`, which the connector honours.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

pub struct RateLimiter {
    forget_after: Duration,
    state: Mutex<State>,
}

struct State {
    /// `(limit, window)`: at most `limit` sends in any `window`.
    limits: Vec<(usize, Duration)>,
    keys: HashMap<Box<str>, VecDeque<Instant>>,
    last_sweep: Option<Instant>,
}

impl RateLimiter {
    /// A limiter holding every key to every `(limit, window)`; idle keys are
    /// forgotten after the longest window (so every window is exact).
    pub fn new(limits: &[(usize, Duration)]) -> RateLimiter {
        let longest = limits.iter().map(|(_, window)| *window).max().unwrap_or_default();
        RateLimiter {
            forget_after: longest,
            state: Mutex::new(State { limits: normalized(limits), keys: HashMap::new(), last_sweep: None }),
        }
    }

    /// Forgets a key after `idle` without sends (see the module doc for what
    /// that costs a window longer than `idle`).
    pub fn forgetting_after(mut self, idle: Duration) -> RateLimiter {
        self.forget_after = idle;
        self
    }

    /// Replaces the limits (a budget shared by a changing number of
    /// instances); sends already made keep counting.
    pub fn set_limits(&self, limits: &[(usize, Duration)]) {
        self.state.lock().limits = normalized(limits);
    }

    /// Waits until a send for `key` is within every limit, and counts it.
    pub async fn acquire(&self, key: &str) {
        let now = Instant::now();
        let slot = self.reserve(key, now);
        // Only sleep when we must: a timer, even one already due, waits for the
        // next tick of tokio's millisecond wheel, a millisecond on every send.
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Reserves the earliest slot at or after `now` for `key` and returns it.
    pub fn reserve(&self, key: &str, now: Instant) -> Instant {
        let mut state = self.state.lock();
        if state.last_sweep.is_none_or(|at| now.saturating_duration_since(at) >= self.forget_after / 2) {
            state.sweep(now, self.forget_after);
        }
        let State { limits, keys, .. } = &mut *state;
        let sends = match keys.get_mut(key) {
            Some(sends) => sends,
            // Room for one send: most conversations are one-offs (a reply,
            // a notification), and a deque's first growth would make room
            // for four.
            None => keys.entry(key.into()).or_insert_with(|| VecDeque::with_capacity(1)),
        };
        let longest = limits.last().map(|(_, window)| *window).unwrap_or_default();
        while sends.front().is_some_and(|t| now.saturating_duration_since(*t) >= longest) {
            sends.pop_front();
        }
        let mut slot = now.max(sends.back().copied().unwrap_or(now));
        // Sends are in slot order, so the `limit`-th newest decides each
        // window; move the slot past it until no window is full.
        loop {
            let mut later = slot;
            for (limit, window) in limits.iter() {
                if let Some(decisive) = sends.len().checked_sub(*limit).map(|i| sends[i]) {
                    later = later.max(decisive + *window);
                }
            }
            if later == slot {
                break;
            }
            slot = later;
        }
        sends.push_back(slot);
        slot
    }

    /// Drops every key idle for `forget_after`; returns how many are left.
    pub fn forget_idle(&self, now: Instant) -> usize {
        let mut state = self.state.lock();
        state.sweep(now, self.forget_after);
        state.keys.len()
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.state.lock().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn sweep(&mut self, now: Instant, forget_after: Duration) {
        self.keys
            .retain(|_, sends| sends.back().is_some_and(|last| now.saturating_duration_since(*last) < forget_after));
        // A burst of one-off keys must not leave its peak allocation behind.
        if self.keys.capacity() > 64 && self.keys.len() < self.keys.capacity() / 4 {
            self.keys.shrink_to_fit();
        }
        self.last_sweep = Some(now);
    }
}

/// Limits with a zero limit dropped (it could never be met), shortest window first.
fn normalized(limits: &[(usize, Duration)]) -> Vec<(usize, Duration)> {
    let mut limits: Vec<_> = limits.iter().copied().filter(|(limit, _)| *limit > 0).collect();
    limits.sort_by_key(|(_, window)| *window);
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every window of `limits` holds at most its limit among `at`.
    fn assert_within(at: &[Duration], limits: &[(usize, Duration)]) {
        for start in at {
            for (limit, window) in limits {
                let inside = at.iter().filter(|t| **t >= *start && **t < *start + *window).count();
                assert!(inside <= *limit, "{inside} sends within {window:?} from {start:?}: {at:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_per_interval_spaces_sends_evenly() {
        let limiter = RateLimiter::new(&[(1, Duration::from_millis(20))]);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            limiter.acquire("tenant").await;
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 20, 40, 60, 80]);
    }

    #[tokio::test(start_paused = true)]
    async fn several_windows_hold_together() {
        let limits = [(3, Duration::from_secs(1)), (4, Duration::from_secs(2)), (6, Duration::from_secs(10))];
        let limiter = RateLimiter::new(&limits);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..12 {
            limiter.acquire("k").await;
            at.push(Instant::now() - start);
        }
        assert!(at[..3].iter().all(|d| d.is_zero()), "a burst up to the shortest limit goes at once: {at:?}");
        assert_eq!(at[3], Duration::from_secs(1));
        assert_eq!(at[4], Duration::from_secs(2));
        assert_within(&at, &limits);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_do_not_share_limits_and_idle_keys_are_forgotten() {
        let limiter = RateLimiter::new(&[(1, Duration::from_secs(1))]);
        let start = Instant::now();
        limiter.acquire("a").await;
        limiter.acquire("b").await;
        assert_eq!(Instant::now(), start, "another key does not wait");
        limiter.acquire("a").await;
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
        assert_eq!(limiter.len(), 2);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(limiter.forget_idle(Instant::now()), 0, "idle keys are forgotten");
        let rested = Instant::now();
        limiter.acquire("a").await;
        assert_eq!(Instant::now(), rested, "a forgotten key starts afresh");
    }

    #[tokio::test(start_paused = true)]
    async fn one_off_keys_do_not_pile_up() {
        let limiter = RateLimiter::new(&[(7, Duration::from_secs(1)), (1800, Duration::from_secs(3600))])
            .forgetting_after(Duration::from_secs(30));
        for i in 0..20_000 {
            limiter.acquire(&format!("conversation-{i}")).await;
            if i % 100 == 99 {
                tokio::time::advance(Duration::from_millis(500)).await;
            }
        }
        // 20,000 keys over 100 s, 200 a second: the hot path's own sweeps (every
        // 15 s, dropping what is 30 s idle) keep at most the last 45 s.
        assert!(limiter.len() <= 45 * 200, "{} keys remembered", limiter.len());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(limiter.forget_idle(Instant::now()), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_longer_than_forget_after_holds_while_the_key_is_busy() {
        let limits = [(2, Duration::from_secs(1)), (5, Duration::from_secs(60))];
        let limiter = RateLimiter::new(&limits).forgetting_after(Duration::from_secs(10));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..8 {
            limiter.acquire("busy").await;
            at.push(Instant::now() - start);
        }
        assert_eq!(at[5], Duration::from_secs(60), "the sixth waits for the long window: {at:?}");
        assert_within(&at, &limits);
    }

    #[tokio::test(start_paused = true)]
    async fn new_limits_apply_to_the_next_send() {
        let limiter = RateLimiter::new(&[(1, Duration::from_millis(20))]);
        let start = Instant::now();
        limiter.acquire("t").await;
        limiter.set_limits(&[(1, Duration::from_millis(40))]);
        limiter.acquire("t").await;
        assert_eq!((Instant::now() - start).as_millis(), 40);
    }
}
