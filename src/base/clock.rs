//! The wall clock, injected: polls and translations read "now" from a [`Clock`], so tests can
//! put the exporter on any day (a month's last second, 29 February, a DST change).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's real clock (the daemon's default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that starts at a chosen instant and moves with real time (or not at all when
/// frozen); tests set and advance it.
#[derive(Debug, Clone)]
pub struct TestClock {
    state: Arc<Mutex<(SystemTime, Option<std::time::Instant>)>>,
}

impl TestClock {
    /// A clock standing still at `at`.
    pub fn frozen(at: SystemTime) -> Self {
        TestClock {
            state: Arc::new(Mutex::new((at, None))),
        }
    }

    /// A clock reading `at` now and then running at real speed.
    pub fn running_from(at: SystemTime) -> Self {
        TestClock {
            state: Arc::new(Mutex::new((at, Some(std::time::Instant::now())))),
        }
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: SystemTime) {
        let mut state = self.state.lock().expect("clock lock");
        state.0 = at;
        if state.1.is_some() {
            state.1 = Some(std::time::Instant::now());
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let now = self.now();
        self.set(now + by);
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        let state = self.state.lock().expect("clock lock");
        match state.1 {
            Some(since) => state.0 + since.elapsed(),
            None => state.0,
        }
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_164_800); // 2024-02-29
        let clock = TestClock::frozen(t0);
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(86_400));
        assert_eq!(clock.now(), t0 + Duration::from_secs(86_400));
        let running = TestClock::running_from(t0);
        assert!(running.now() >= t0);
    }
}
