//! Time that tests can move: key refreshes, token expiry and schedules read
//! the clock through this trait instead of calling `Instant::now` directly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock { start: Instant::now(), offset: Mutex::new(Duration::ZERO) })
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock()
    }
}
