//! Seeded latency and fault injection shared by every simulated service.
//!
//! Each service (a Databricks workspace, ARM, ...) owns one [`Faults`] per
//! endpoint class and asks it, before handling a request, whether to delay
//! and whether to fail. The decision is drawn from a seeded generator so a
//! run with the same seed and the same request order fails the same way.
//! The service renders the failure in its own error format.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The knobs. All default to "no faults, no latency".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Added latency, drawn uniformly from `[min, max]` milliseconds.
    pub latency_ms: Option<(u64, u64)>,
    /// Share of requests answered with a transient 5xx (0.0 ..= 1.0).
    pub error_5xx_ratio: f64,
    /// Share of requests answered 429 regardless of rate (0.0 ..= 1.0).
    pub throttle_ratio: f64,
    /// Requests per second above which every request is answered 429.
    pub max_requests_per_second: Option<u32>,
    /// The `Retry-After` seconds sent with a 429 or 503.
    pub retry_after_secs: u64,
}

/// What the service should do with the request it is about to handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer 429 with `Retry-After`.
    Throttle { retry_after_secs: u64 },
    /// Answer with this 5xx status (500, 502, 503 or 504).
    ServerError { status: u16, retry_after_secs: u64 },
}

/// Fault state for one endpoint class.
pub struct Faults {
    config: Mutex<FaultConfig>,
    rng: Mutex<StdRng>,
    window: Mutex<(Instant, u32)>,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            config: Mutex::new(FaultConfig::default()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    pub fn set(&self, config: FaultConfig) {
        *self.config.lock() = config;
    }

    pub fn config(&self) -> FaultConfig {
        self.config.lock().clone()
    }

    /// Applies the latency, then decides whether this request fails.
    pub async fn before_request(&self) -> Option<Fault> {
        let (delay, fault) = self.draw();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        fault
    }

    /// The decision without the wait: the delay to apply and the fault, if any.
    pub fn draw(&self) -> (Option<Duration>, Option<Fault>) {
        let config = self.config.lock().clone();
        let mut rng = self.rng.lock();
        let delay = config.latency_ms.map(|(lo, hi)| Duration::from_millis(rng.gen_range(lo..=hi.max(lo))));
        let retry_after_secs = config.retry_after_secs;
        if let Some(limit) = config.max_requests_per_second {
            let mut window = self.window.lock();
            if window.0.elapsed() >= Duration::from_secs(1) {
                *window = (Instant::now(), 0);
            }
            window.1 += 1;
            if window.1 > limit {
                return (delay, Some(Fault::Throttle { retry_after_secs }));
            }
        }
        if config.throttle_ratio > 0.0 && rng.gen_bool(config.throttle_ratio.min(1.0)) {
            return (delay, Some(Fault::Throttle { retry_after_secs }));
        }
        if config.error_5xx_ratio > 0.0 && rng.gen_bool(config.error_5xx_ratio.min(1.0)) {
            let status = [500, 502, 503, 504][rng.gen_range(0..4)];
            return (delay, Some(Fault::ServerError { status, retry_after_secs }));
        }
        (delay, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default_and_ratios_take_effect() {
        let faults = Faults::new(7);
        assert_eq!(faults.draw(), (None, None));
        faults.set(FaultConfig { error_5xx_ratio: 1.0, ..Default::default() });
        assert!(matches!(faults.draw().1, Some(Fault::ServerError { .. })));
        faults.set(FaultConfig { max_requests_per_second: Some(2), retry_after_secs: 3, ..Default::default() });
        assert_eq!(faults.draw().1, None);
        assert_eq!(faults.draw().1, None);
        assert_eq!(faults.draw().1, Some(Fault::Throttle { retry_after_secs: 3 }));
    }

    #[test]
    fn same_seed_same_faults() {
        let config = FaultConfig { error_5xx_ratio: 0.3, latency_ms: Some((1, 50)), ..Default::default() };
        let (a, b) = (Faults::new(42), Faults::new(42));
        a.set(config.clone());
        b.set(config);
        let draws_a: Vec<_> = (0..50).map(|_| a.draw()).collect();
        let draws_b: Vec<_> = (0..50).map(|_| b.draw()).collect();
        assert_eq!(draws_a, draws_b);
    }
}
