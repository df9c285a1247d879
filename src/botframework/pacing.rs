//! Pacing outbound sends to Teams' per-conversation limits.
//!
//! Teams allows a bot 7 messages a second, 8 in two seconds, 60 in thirty
//! and 1800 an hour in one conversation, and answers 429 beyond that. Waiting
//! here first is cheaper and kinder than being throttled: each send reserves
//! the earliest slot that keeps every window within its limit, then sleeps
//! until that slot.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Teams' per-bot, per-conversation limits.
pub const TEAMS_CONVERSATION_LIMITS: [(usize, Duration); 4] = [
    (7, Duration::from_secs(1)),
    (8, Duration::from_secs(2)),
    (60, Duration::from_secs(30)),
    (1800, Duration::from_secs(3600)),
];

/// Sliding-window limits per key (a conversation id).
pub struct Pacer {
    limits: Vec<(usize, Duration)>,
    slots: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Pacer {
    pub fn new(limits: &[(usize, Duration)]) -> Pacer {
        Pacer { limits: limits.to_vec(), slots: Mutex::new(HashMap::new()) }
    }

    pub fn teams_conversations() -> Pacer {
        Pacer::new(&TEAMS_CONVERSATION_LIMITS)
    }

    /// Waits until a send to `key` is within every limit, and counts it.
    pub async fn acquire(&self, key: &str) {
        let now = Instant::now();
        let slot = self.reserve(key, now);
        // Only sleep when we must: a timer, even one already due, waits for the
        // next tick of tokio's millisecond wheel, a millisecond on every send.
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Reserves the earliest slot at or after `now` and returns it.
    fn reserve(&self, key: &str, now: Instant) -> Instant {
        let longest = self.limits.iter().map(|(_, w)| *w).max().unwrap_or_default();
        let mut all = self.slots.lock();
        let sends = all.entry(key.to_string()).or_default();
        while sends.front().is_some_and(|t| now.saturating_duration_since(*t) >= longest) {
            sends.pop_front();
        }
        let mut slot = now.max(sends.back().copied().unwrap_or(now));
        // Move the slot later until no window would hold more than its limit.
        loop {
            let conflict = self
                .limits
                .iter()
                .filter_map(|(limit, window)| {
                    let in_window: Vec<Instant> = sends.iter().copied().filter(|t| *t + *window > slot).collect();
                    (in_window.len() >= *limit).then(|| in_window[in_window.len() - limit] + *window)
                })
                .max();
            match conflict {
                Some(later) if later > slot => slot = later,
                _ => break,
            }
        }
        sends.push_back(slot);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spread_over_the_windows() {
        let pacer = Pacer::teams_conversations();
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..16 {
            pacer.acquire("conv").await;
            at.push(Instant::now() - start);
        }
        // The first 7 go at once; the 8th waits for the second window; then 8 per 2 s.
        assert!(at[..7].iter().all(|d| *d == Duration::ZERO), "{at:?}");
        assert_eq!(at[7], Duration::from_secs(1));
        for i in 0..at.len() {
            for limit_window in TEAMS_CONVERSATION_LIMITS {
                let (limit, window) = limit_window;
                let in_window = at.iter().filter(|t| **t >= at[i] && **t < at[i] + window).count();
                assert!(in_window <= limit, "{in_window} sends within {window:?} starting at {:?}", at[i]);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn conversations_do_not_share_limits() {
        let pacer = Pacer::teams_conversations();
        let start = Instant::now();
        for i in 0..7 {
            pacer.acquire(&format!("conv-{i}")).await;
            pacer.acquire(&format!("conv-{i}")).await;
        }
        assert_eq!(Instant::now(), start);
    }
}
