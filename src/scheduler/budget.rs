//! The per-tenant send budget: Teams lets an app send 50 requests a second
//! per tenant, counted for the app, not per process. A morning full of
//! scheduled posts must not spend it all at once (and starve the replies
//! people are waiting for), and two instances must not spend it twice.
//!
//! Each tenant is a key of a [`RateLimiter`] allowing one send per interval
//! (a burst of one keeps every one-second window at the rate). With several
//! instances on one store, each paces at `rate / instances`: the count comes
//! from the store's heartbeat rows (`src/store/instances.rs`), refreshed in the
//! background, so a send costs no database round trip. An instance that
//! joins waits one heartbeat before its first send, by which time the others
//! have counted it and slowed down; one that dies without leaving is counted
//! until its row goes stale, which only errs on the slow side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::rate_limit::RateLimiter;

pub struct TenantBudget {
    per_second: u32,
    instances: AtomicUsize,
    limiter: RateLimiter,
}

impl TenantBudget {
    /// `per_second` sends a second per tenant for this instance alone.
    pub fn new(per_second: u32) -> TenantBudget {
        TenantBudget {
            per_second: per_second.max(1),
            instances: AtomicUsize::new(1),
            limiter: RateLimiter::new(&[(1, interval(per_second, 1))]),
        }
    }

    /// Divides the budget between `instances` (at least one).
    pub fn share_between(&self, instances: usize) {
        let instances = instances.max(1);
        if self.instances.swap(instances, Ordering::Relaxed) != instances {
            self.limiter.set_limits(&[(1, interval(self.per_second, instances))]);
        }
    }

    /// How many instances the budget is divided between.
    pub fn instances(&self) -> usize {
        self.instances.load(Ordering::Relaxed)
    }

    /// Waits for this instance's next send slot for `tenant`.
    pub async fn acquire(&self, tenant: &str) {
        self.limiter.acquire(tenant).await;
    }
}

/// The time between two sends of one instance for one tenant.
fn interval(per_second: u32, instances: usize) -> Duration {
    Duration::from_secs(1) * instances as u32 / per_second.max(1)
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    async fn send_times(budget: &TenantBudget, tenant: &str, count: usize) -> Vec<u128> {
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..count {
            budget.acquire(tenant).await;
            at.push((Instant::now() - start).as_millis());
        }
        at
    }

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_at_the_rate() {
        let budget = TenantBudget::new(50);
        assert_eq!(send_times(&budget, "tenant", 5).await, [0, 20, 40, 60, 80]);
    }

    #[tokio::test(start_paused = true)]
    async fn two_instances_each_take_half() {
        let budget = TenantBudget::new(50);
        budget.share_between(2);
        assert_eq!(budget.instances(), 2);
        assert_eq!(send_times(&budget, "tenant", 4).await, [0, 40, 80, 120]);
    }

    #[tokio::test(start_paused = true)]
    async fn tenants_have_their_own_budgets() {
        let budget = TenantBudget::new(1);
        let start = Instant::now();
        budget.acquire("a").await;
        budget.acquire("b").await;
        assert_eq!(Instant::now(), start, "another tenant does not wait");
        budget.acquire("a").await;
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }
}
