//! Pacing outbound sends to Teams' per-conversation limits.
//!
//! Teams allows a bot 7 messages a second, 8 in two seconds, 60 in thirty
//! and 1800 an hour in one conversation, and answers 429 beyond that. Waiting
//! here first is cheaper and kinder than being throttled: each send reserves
//! the earliest slot that keeps every window within its limit, then sleeps
//! until that slot (the limiter is [`crate::rate_limit::RateLimiter`]).

use std::time::Duration;

use crate::rate_limit::RateLimiter;

/// Teams' per-bot, per-conversation limits.
pub const TEAMS_CONVERSATION_LIMITS: [(usize, Duration); 4] = [
    (7, Duration::from_secs(1)),
    (8, Duration::from_secs(2)),
    (60, Duration::from_secs(30)),
    (1800, Duration::from_secs(3600)),
];

/// A conversation that sent nothing for this long is forgotten: every window
/// but the hourly one is exact, and a bot in thousands of one-off
/// conversations does not keep an hour of them in memory.
pub const FORGET_IDLE_CONVERSATION: Duration = Duration::from_secs(30);

/// The limiter the connector paces conversations with (keyed by conversation id).
pub fn teams_conversations() -> RateLimiter {
    RateLimiter::new(&TEAMS_CONVERSATION_LIMITS).forgetting_after(FORGET_IDLE_CONVERSATION)
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spread_over_the_windows() {
        let pacer = teams_conversations();
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
        let pacer = teams_conversations();
        let start = Instant::now();
        for i in 0..7 {
            pacer.acquire(&format!("conv-{i}")).await;
            pacer.acquire(&format!("conv-{i}")).await;
        }
        assert_eq!(Instant::now(), start);
    }
}
