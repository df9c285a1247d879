//! A token bucket per key (a tenant): Teams lets an app send 50 requests a
//! second per tenant, and a morning full of scheduled posts must not spend
//! that all at once and starve the replies people are waiting for.
//!
//! Written as the "theoretical arrival time" form of the token bucket
//! (GCRA): instead of counting tokens, each key remembers when its bucket
//! will be full again, which needs no floating point and reserves a slot
//! for each caller in arrival order. The burst is one by default: a bucket
//! that starts full lets `burst + rate` sends into a single second, over the
//! limit, while a burst of one keeps every one-second window at `rate`.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

pub struct TenantBucket {
    /// Time one token takes to refill.
    interval: Duration,
    /// How far ahead of the steady rate a key may run.
    tolerance: Duration,
    /// Per key: when the bucket is full again if nothing more is sent.
    full_at: Mutex<HashMap<String, Instant>>,
}

impl TenantBucket {
    /// `per_second` sends a second per key, `burst` of them at once (both at least one).
    pub fn new(per_second: u32, burst: u32) -> TenantBucket {
        let interval = Duration::from_secs(1) / per_second.max(1);
        TenantBucket { interval, tolerance: interval * (burst.max(1) - 1), full_at: Mutex::new(HashMap::new()) }
    }

    /// Waits for a token for `key`.
    pub async fn acquire(&self, key: &str) {
        let now = Instant::now();
        let slot = self.reserve(key, now);
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
    }

    fn reserve(&self, key: &str, now: Instant) -> Instant {
        let mut all = self.full_at.lock();
        // Full buckets need no memory; forgetting them keeps the map from
        // growing with every tenant ever seen.
        all.retain(|_, full_at| *full_at > now);
        let full_at = all.get(key).copied().unwrap_or(now).max(now);
        let slot = full_at.checked_sub(self.tolerance).map_or(now, |t| t.max(now));
        all.insert(key.to_string(), full_at + self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_at_the_rate() {
        let bucket = TenantBucket::new(50, 1);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            bucket.acquire("tenant").await;
            at.push(Instant::now() - start);
        }
        let ms: Vec<u128> = at.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 20, 40, 60, 80]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_the_rate_applies() {
        let bucket = TenantBucket::new(10, 3);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            bucket.acquire("tenant").await;
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 0, 0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn tenants_have_their_own_buckets_and_idle_ones_refill() {
        let bucket = TenantBucket::new(1, 1);
        let start = Instant::now();
        bucket.acquire("a").await;
        bucket.acquire("b").await;
        assert_eq!(Instant::now(), start, "another tenant does not wait");
        bucket.acquire("a").await;
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(10)).await;
        let rested = Instant::now();
        bucket.acquire("a").await;
        assert_eq!(Instant::now(), rested, "an idle tenant's bucket is full again");
        assert!(bucket.full_at.lock().len() <= 1, "idle tenants are forgotten");
    }
}
