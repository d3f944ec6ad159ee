//! Turns the sliding windows of `usage.api.history` into monotonic counters.
//!
//! Every poll returns the per-bucket call counts of the last `last` period (e.g. 24 hourly
//! buckets), the newest bucket still filling. Windows overlap from poll to poll, so summing them
//! would count a bucket many times. This state machine remembers, per series (service or org) and
//! per bucket start time, the largest count seen so far; the counter grows by the increments only:
//!
//! - the first window is the **baseline**: what it already holds happened before counting began
//!   and is not new, so every counter starts at 0 with `_created` = the time of that first poll
//!   (a restart without persistent state is a clean counter reset, never a window of calls
//!   counted as if it happened in one scrape interval);
//! - a known bucket that grew (the still-filling newest one) adds the difference;
//! - a bucket seen for the first time adds its count when it starts at or after the baseline's
//!   newest bucket (a new hour, or a new series' current bucket: at most one bucket of calls
//!   from before counting began); an older one appearing late (a filled gap, a series listed
//!   for the first time) is recorded as baseline, because its calls predate counting;
//! - a known bucket that shrank is ignored (the upstream re-aggregated or reset; a counter never
//!   goes down);
//! - a bucket older than the retention horizon is ignored, because it may already have been
//!   counted and forgotten.
//!
//! Buckets older than the oldest bucket of the latest window minus one window span are pruned,
//! so memory stays at about two windows per series; series absent from replies for that long are
//! dropped.
//!
//! With a state directory the accumulator is saved after every poll and restored at start-up: the
//! counter then continues (same value, same `_created`), and what the buckets gained while the
//! exporter was down counts at the first poll after the restart, as long as those buckets are
//! still in the window (a downtime longer than the window loses the calls of what fell out).
//!
//! Pure: no clock, no I/O. Fed with the poll time and `(series, [(bucket_start_unix_s, count)])`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The accumulated value of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterValue {
    /// Series key (service name, or org key with `dimension: org`).
    pub key: String,
    /// Calls counted since `created`.
    pub total: f64,
    /// When counting began: the time of the baseline poll (Unix seconds).
    pub created: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Series {
    /// Bucket start → largest count seen.
    buckets: BTreeMap<i64, f64>,
    /// Sum of all increments.
    total: f64,
    /// Newest bucket start of the last window this series appeared in.
    last_seen: i64,
}

/// The accumulator of one target (all its series); serializable, so that it can continue in a
/// state slot after a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallCounter {
    series: BTreeMap<String, Series>,
    /// Time of the baseline poll: when counting began.
    created: Option<i64>,
    /// Start of the newest bucket of the baseline window: buckets first seen later that start
    /// before it are baseline too.
    baseline_newest: i64,
    /// Buckets starting before this are ignored (pruned or before counting began).
    horizon: i64,
}

impl CallCounter {
    /// An empty accumulator (the first observed window becomes the baseline).
    pub fn new() -> Self {
        Self::default()
    }

    /// When counting began (the time of the baseline poll), if ever.
    pub fn created(&self) -> Option<i64> {
        self.created
    }

    /// Number of buckets remembered over all series (for tests of the memory bound).
    pub fn remembered_buckets(&self) -> usize {
        self.series.values().map(|s| s.buckets.len()).sum()
    }

    /// Feeds one poll's window, read at `now` (Unix seconds): for each series the
    /// `(bucket start, count)` pairs it holds. Counts that are not finite or negative are
    /// skipped. Returns the counters afterwards.
    pub fn observe<'a, I, B>(&mut self, now: i64, window: I) -> Vec<CounterValue>
    where
        I: IntoIterator<Item = (&'a str, B)>,
        B: IntoIterator<Item = (i64, f64)>,
    {
        let window: Vec<(&str, Vec<(i64, f64)>)> = window
            .into_iter()
            .map(|(k, b)| {
                let buckets = b
                    .into_iter()
                    .filter(|(_, c)| c.is_finite() && *c >= 0.0)
                    .collect();
                (k, buckets)
            })
            .collect();
        let starts = window.iter().flat_map(|(_, b)| b.iter().map(|(t, _)| *t));
        let (oldest, newest) =
            starts.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if oldest > newest {
            // An empty window changes nothing.
            return self.values();
        }
        let baseline = self.created.is_none();
        if baseline {
            self.created = Some(now);
            self.baseline_newest = newest;
            self.horizon = oldest;
        }
        for (key, buckets) in window {
            if buckets.is_empty() {
                // Listed without any value: no evidence of calls, no series (never a fake 0).
                continue;
            }
            let series = self.series.entry(key.to_string()).or_default();
            for (start, count) in buckets {
                if start < self.horizon {
                    continue;
                }
                match series.buckets.get_mut(&start) {
                    Some(max) if count > *max => {
                        series.total += count - *max;
                        *max = count;
                    }
                    Some(_) => {}
                    None => {
                        if !baseline && start >= self.baseline_newest {
                            series.total += count;
                        }
                        series.buckets.insert(start, count);
                    }
                }
                series.last_seen = series.last_seen.max(start);
            }
        }
        self.prune(oldest, newest);
        self.values()
    }

    /// Forgets buckets older than one window span before the window's oldest bucket, and series
    /// not seen for that long; raises the horizon accordingly so forgotten buckets never count
    /// twice.
    fn prune(&mut self, oldest: i64, newest: i64) {
        let span = (newest - oldest).max(3600);
        let cutoff = oldest - span;
        if cutoff <= self.horizon {
            return;
        }
        self.horizon = cutoff;
        self.series.retain(|_, s| {
            s.buckets = s.buckets.split_off(&cutoff);
            s.last_seen >= cutoff
        });
    }

    /// The current counters, sorted by key.
    pub fn values(&self) -> Vec<CounterValue> {
        let Some(created) = self.created else {
            return Vec::new();
        };
        // A total that overflowed to infinity (absurd bucket counts) is no counter: left out
        // (found by tests/fuzz_props.rs).
        self.series
            .iter()
            .filter(|(_, s)| s.total.is_finite())
            .map(|(key, s)| CounterValue {
                key: key.clone(),
                total: s.total,
                created,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const T0: i64 = 1_700_000_000 - 1_700_000_000 % H;
    /// When the polls happen (the counter only uses it as `_created` of the baseline).
    const POLL: i64 = T0 + 40 * 60;

    fn w(counts: &[(i64, f64)]) -> Vec<(i64, f64)> {
        counts.iter().map(|(h, c)| (T0 + h * H, *c)).collect()
    }

    fn total(c: &CallCounter, key: &str) -> f64 {
        c.values()
            .into_iter()
            .find(|v| v.key == key)
            .map(|v| v.total)
            .unwrap_or_else(|| panic!("no series {key}"))
    }

    #[test]
    fn first_poll_is_the_baseline_counters_start_at_zero_created_then() {
        let mut c = CallCounter::new();
        let v = c.observe(
            POLL,
            [
                ("thing", w(&[(0, 1.0), (1, 2.0), (2, 3.0)])),
                ("alarm", w(&[(0, 0.0), (1, 0.0), (2, 4.0)])),
            ],
        );
        assert_eq!(
            v,
            vec![
                CounterValue {
                    key: "alarm".into(),
                    total: 0.0,
                    created: POLL
                },
                CounterValue {
                    key: "thing".into(),
                    total: 0.0,
                    created: POLL
                },
            ]
        );
        assert_eq!(c.created(), Some(POLL));
        // The still-filling newest bucket counts its growth after the baseline.
        let v = c.observe(
            POLL,
            [
                ("thing", w(&[(0, 1.0), (1, 2.0), (2, 5.0)])),
                ("alarm", w(&[(0, 0.0), (1, 0.0), (2, 4.0)])),
            ],
        );
        assert_eq!((v[0].total, v[1].total), (0.0, 2.0));
    }

    #[test]
    fn a_counter_restored_from_its_saved_state_continues_and_counts_the_downtime() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(0, 5.0), (1, 7.0), (2, 1.0)]))]);
        c.observe(POLL, [("s", w(&[(0, 5.0), (1, 7.0), (2, 4.0)]))]);
        assert_eq!(total(&c, "s"), 3.0);
        let saved = serde_json::to_string(&c).unwrap();
        let mut restored: CallCounter = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored.created(), Some(POLL));
        // Down for two hours: bucket 2 grew by 6 and buckets 3 and 4 are new. All of it happened
        // after the last poll, so all of it counts; nothing already counted counts again.
        let v = restored.observe(
            POLL + 2 * H,
            [("s", w(&[(1, 7.0), (2, 10.0), (3, 8.0), (4, 2.0)]))],
        );
        assert_eq!(v[0].total, 3.0 + 6.0 + 8.0 + 2.0);
        assert_eq!(v[0].created, POLL);
    }

    #[test]
    fn overlapping_windows_count_each_bucket_once() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(0, 5.0), (1, 7.0), (2, 1.0)]))]);
        // Same window again: nothing new.
        c.observe(POLL, [("s", w(&[(0, 5.0), (1, 7.0), (2, 1.0)]))]);
        assert_eq!(total(&c, "s"), 0.0);
        // Window slid by one bucket: bucket 0 dropped out, bucket 3 is new.
        c.observe(POLL, [("s", w(&[(1, 7.0), (2, 1.0), (3, 2.0)]))]);
        assert_eq!(total(&c, "s"), 2.0);
    }

    #[test]
    fn partial_newest_bucket_adds_its_increments() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(0, 10.0), (1, 2.0)]))]);
        c.observe(POLL, [("s", w(&[(0, 10.0), (1, 5.0)]))]);
        assert_eq!(total(&c, "s"), 3.0);
        c.observe(POLL, [("s", w(&[(0, 10.0), (1, 9.0)]))]);
        assert_eq!(total(&c, "s"), 7.0);
        // The bucket closes and a new one starts filling.
        c.observe(POLL, [("s", w(&[(0, 10.0), (1, 11.0), (2, 1.0)]))]);
        assert_eq!(total(&c, "s"), 10.0);
    }

    #[test]
    fn decreases_are_ignored_and_later_growth_counts_above_the_max() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(0, 10.0), (1, 8.0)]))]);
        c.observe(POLL, [("s", w(&[(0, 4.0), (1, 3.0)]))]);
        assert_eq!(total(&c, "s"), 0.0);
        c.observe(POLL, [("s", w(&[(0, 4.0), (1, 9.0)]))]);
        assert_eq!(total(&c, "s"), 1.0);
    }

    #[test]
    fn gaps_count_when_they_fill_in_unless_they_predate_counting() {
        let mut c = CallCounter::new();
        // Bucket 1 missing (null upstream), bucket 2 present.
        c.observe(POLL, [("s", w(&[(0, 1.0), (2, 3.0)]))]);
        assert_eq!(total(&c, "s"), 0.0);
        // Bucket 1 fills in: its calls were made before the baseline poll, not new.
        c.observe(POLL, [("s", w(&[(0, 1.0), (1, 6.0), (2, 3.0)]))]);
        assert_eq!(total(&c, "s"), 0.0);
        // Bucket 4 missing after counting began, then filled in: counted.
        c.observe(POLL, [("s", w(&[(2, 3.0), (3, 2.0), (5, 1.0)]))]);
        assert_eq!(total(&c, "s"), 3.0);
        // Polls missed for a while (upstream down): the buckets in between still count once.
        c.observe(POLL, [("s", w(&[(3, 2.0), (4, 2.0), (5, 1.0), (6, 4.0)]))]);
        assert_eq!(total(&c, "s"), 9.0);
    }

    #[test]
    fn restart_takes_a_new_baseline_instead_of_counting_the_window_again() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(0, 1.0), (1, 2.0)]))]);
        c.observe(POLL, [("s", w(&[(1, 2.0), (2, 4.0)]))]);
        assert_eq!(total(&c, "s"), 4.0);
        // The exporter restarts: a fresh accumulator takes the current window as its baseline
        // and starts at 0, created at the restart (a clean reset: `increase()` counts nothing
        // of the window as new).
        let mut fresh = CallCounter::new();
        let v = fresh.observe(POLL + 2 * H, [("s", w(&[(1, 2.0), (2, 5.0)]))]);
        assert_eq!(v[0].total, 0.0);
        assert_eq!(v[0].created, POLL + 2 * H);
        let v = fresh.observe(POLL + 2 * H, [("s", w(&[(1, 2.0), (2, 6.0), (3, 1.0)]))]);
        assert_eq!(v[0].total, 2.0);
    }

    #[test]
    fn upstream_reset_to_zero_does_not_decrease() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(0, 3.0), (1, 4.0)]))]);
        c.observe(POLL, [("s", w(&[(0, 3.0), (1, 6.0)]))]);
        c.observe(POLL, [("s", w(&[(0, 0.0), (1, 0.0)]))]);
        assert_eq!(total(&c, "s"), 2.0);
    }

    #[test]
    fn new_series_later_counts_from_the_baseline_bucket_with_the_target_created_time() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("a", w(&[(0, 1.0), (1, 1.0)]))]);
        let v = c.observe(
            POLL,
            [
                ("a", w(&[(0, 1.0), (1, 1.0)])),
                ("b", w(&[(0, 2.0), (1, 3.0)])),
            ],
        );
        // Bucket 0 predates the baseline's newest bucket: baseline. Bucket 1 counts.
        assert_eq!(v[1].key, "b");
        assert_eq!(v[1].total, 3.0);
        assert_eq!(v[1].created, POLL);
    }

    #[test]
    fn buckets_before_counting_began_or_pruned_never_count() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("s", w(&[(5, 1.0), (6, 1.0)]))]);
        // An older bucket showing up later (a wider window) predates `_created`.
        c.observe(POLL, [("s", w(&[(4, 100.0), (5, 1.0), (6, 1.0)]))]);
        assert_eq!(total(&c, "s"), 0.0);
        // Slide far ahead: old buckets are pruned and the horizon moves with them.
        c.observe(POLL, [("s", w(&[(30, 1.0), (31, 1.0)]))]);
        assert_eq!(total(&c, "s"), 2.0);
        c.observe(POLL, [("s", w(&[(6, 50.0), (30, 1.0), (31, 1.0)]))]);
        assert_eq!(total(&c, "s"), 2.0);
    }

    #[test]
    fn an_overflowing_total_is_left_out() {
        let mut c = CallCounter::new();
        c.observe(POLL, [("a", w(&[(0, 1.0)])), ("b", w(&[(0, 1.0)]))]);
        c.observe(
            POLL,
            [
                ("a", w(&[(0, 1.0), (1, 1.7e308), (2, 1.7e308)])),
                ("b", w(&[(1, 2.0)])),
            ],
        );
        let keys: Vec<_> = c.values().into_iter().map(|v| v.key).collect();
        assert_eq!(keys, vec!["b"], "an infinite total is no counter");
        assert_eq!(total(&c, "b"), 2.0);
    }

    #[test]
    fn memory_stays_bounded_over_many_polls() {
        let mut c = CallCounter::new();
        for poll in 0..24 * 60 {
            let window: Vec<(i64, f64)> = (poll..poll + 24).map(|h| (T0 + h * H, 1.0)).collect();
            c.observe(POLL, [("a", window.clone()), ("b", window)]);
        }
        assert!(
            c.remembered_buckets() <= 2 * 2 * 25,
            "{}",
            c.remembered_buckets()
        );
        // Every bucket after the baseline counted exactly once: one per poll.
        assert_eq!(total(&c, "a"), (24 * 60 - 1) as f64);
    }

    #[test]
    fn series_absent_for_longer_than_retention_are_dropped() {
        let mut c = CallCounter::new();
        c.observe(
            POLL,
            [("gone", w(&[(0, 1.0), (1, 1.0)])), ("kept", w(&[(1, 1.0)]))],
        );
        c.observe(POLL, [("kept", w(&[(2, 1.0), (3, 1.0)]))]);
        assert_eq!(
            c.values().len(),
            2,
            "briefly absent series keep their total"
        );
        c.observe(POLL, [("kept", w(&[(20, 1.0), (21, 1.0)]))]);
        let keys: Vec<_> = c.values().into_iter().map(|v| v.key).collect();
        assert_eq!(keys, vec!["kept"]);
    }

    #[test]
    fn empty_and_invalid_counts_change_nothing() {
        let mut c = CallCounter::new();
        assert!(c
            .observe(POLL, Vec::<(&str, Vec<(i64, f64)>)>::new())
            .is_empty());
        assert_eq!(c.created(), None);
        c.observe(
            POLL,
            [
                ("s", w(&[(0, f64::NAN), (1, -3.0), (2, 2.0)])),
                ("nulls", Vec::new()),
            ],
        );
        assert_eq!(total(&c, "s"), 0.0);
        assert_eq!(
            c.values().len(),
            1,
            "a series without values is not exported"
        );
        assert_eq!(c.created(), Some(POLL));
        c.observe(
            POLL,
            [("s", w(&[(1, -3.0), (2, 2.0), (3, f64::NAN), (4, 1.0)]))],
        );
        assert_eq!(total(&c, "s"), 1.0);
    }
}
