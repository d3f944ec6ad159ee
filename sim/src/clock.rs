//! The one clock every simulator reads "now" from: for "today", billing cycles and report months,
//! history windows, signature timestamps and the timestamps in answers.
//!
//! A [`SimClock`] runs in real time (the demo's default), in real time shifted by an offset, or
//! stands still at a fixed instant that only moves when a test says so. It is a shared handle:
//! clones see and move the same time, so a test can keep one while a running simulator reads it.
//! Durations that are not calendar time (token lifetimes, per-second rate windows) use
//! [`std::time::Instant`] instead and are not affected.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Real time plus this offset.
    Real(Duration),
    /// This instant, until set or advanced.
    Fixed(DateTime<Utc>),
}

/// A simulator's clock (shared between clones); see the [module docs](self).
#[derive(Debug, Clone)]
pub struct SimClock(Arc<Mutex<Mode>>);

impl Default for SimClock {
    /// Real time.
    fn default() -> Self {
        SimClock::real()
    }
}

impl SimClock {
    /// Follows real time.
    pub fn real() -> SimClock {
        SimClock(Arc::new(Mutex::new(Mode::Real(Duration::zero()))))
    }

    /// Stands still at `at` until [`set`](Self::set) or [`advance`](Self::advance)d.
    pub fn fixed(at: DateTime<Utc>) -> SimClock {
        SimClock(Arc::new(Mutex::new(Mode::Fixed(at))))
    }

    /// Stands still at a UTC calendar time (tests: `SimClock::at(2028, 2, 29, 12, 0, 0)`).
    ///
    /// # Panics
    /// When the fields are not a valid UTC time.
    pub fn at(year: i32, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> SimClock {
        let at = Utc
            .with_ymd_and_hms(year, month, day, hour, min, sec)
            .single()
            .unwrap_or_else(|| {
                panic!("{year}-{month}-{day} {hour}:{min}:{sec} is not a valid UTC time")
            });
        SimClock::fixed(at)
    }

    /// Stands still at Unix second `secs`.
    pub fn fixed_unix(secs: i64) -> SimClock {
        SimClock::fixed(from_unix(secs))
    }

    fn mode(&self) -> std::sync::MutexGuard<'_, Mode> {
        // The mode is a plain value: a panic elsewhere cannot leave it half-written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match *self.mode() {
            Mode::Real(offset) => Utc::now() + offset,
            Mode::Fixed(at) => at,
        }
    }

    /// The current time in Unix seconds.
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// The current time in Unix milliseconds.
    pub fn unix_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Today's UTC date.
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// True while the clock stands still.
    pub fn is_fixed(&self) -> bool {
        matches!(*self.mode(), Mode::Fixed(_))
    }

    /// Stops the clock at `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.mode() = Mode::Fixed(at);
    }

    /// Runs the clock in real time shifted by `offset` (zero: real time).
    pub fn set_offset(&self, offset: Duration) {
        *self.mode() = Mode::Real(offset);
    }

    /// Moves the clock by `by` (negative: back), keeping its mode.
    pub fn advance(&self, by: Duration) {
        let mut mode = self.mode();
        *mode = match *mode {
            Mode::Real(offset) => Mode::Real(offset + by),
            Mode::Fixed(at) => Mode::Fixed(at + by),
        };
    }

    /// Moves the clock by `secs` seconds (negative: back), keeping its mode.
    pub fn advance_secs(&self, secs: i64) {
        self.advance(Duration::seconds(secs));
    }
}

/// Unix seconds as a UTC time (out-of-range values clamp to the epoch).
pub fn from_unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_stands_still_and_moves_when_told() {
        let clock = SimClock::at(2028, 2, 28, 23, 59, 30);
        assert!(clock.is_fixed());
        assert_eq!(clock.now(), clock.now());
        clock.advance_secs(30);
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2028, 2, 29).unwrap());
        clock.advance(Duration::days(1));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2028, 3, 1).unwrap());
        // The 366 days back from 1 March 2028 include 29 February: same date a year earlier.
        clock.advance_secs(-86_400 * 366);
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2027, 3, 1).unwrap());
        assert_eq!(clock.unix_ms(), clock.unix() * 1000);
    }

    #[test]
    fn clones_share_the_time() {
        let clock = SimClock::fixed_unix(1_710_066_000);
        let seen_by_a_sim = clock.clone();
        clock.advance_secs(3600);
        assert_eq!(seen_by_a_sim.unix(), 1_710_069_600);
        clock.set(from_unix(0));
        assert_eq!(seen_by_a_sim.unix(), 0);
    }

    #[test]
    fn offsets_shift_real_time_and_switch_back_from_fixed() {
        // Only differences of two readings are asserted: nothing here depends on the date.
        let real = SimClock::real();
        let shifted = SimClock::fixed_unix(0);
        shifted.set_offset(Duration::days(40));
        assert!(!shifted.is_fixed());
        let diff = |a: &SimClock, b: &SimClock| {
            let earlier = b.now();
            a.now() - earlier
        };
        let d = diff(&shifted, &real);
        assert!(d >= Duration::days(40) && d < Duration::days(40) + Duration::minutes(1));
        shifted.advance(Duration::days(-40));
        let d = diff(&shifted, &real);
        assert!(d >= Duration::zero() && d < Duration::minutes(1));
    }
}
