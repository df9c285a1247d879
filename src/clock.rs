//! Time that tests can move: key refreshes, token expiry and schedules read
//! the clock through this trait instead of calling `Instant::now` directly.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;

    /// Wall-clock time in epoch milliseconds, for what is stored and scheduled.
    fn unix_ms(&self) -> i64 {
        system_unix_ms()
    }
}

fn system_unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
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
    start_unix_ms: i64,
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        ManualClock::at_unix_ms(system_unix_ms())
    }

    /// A clock whose wall time starts at `unix_ms` (a fixed date for schedule tests).
    pub fn at_unix_ms(unix_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock { start: Instant::now(), start_unix_ms: unix_ms, offset: Mutex::new(Duration::ZERO) })
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock()
    }

    fn unix_ms(&self) -> i64 {
        self.start_unix_ms + self.offset.lock().as_millis() as i64
    }
}
