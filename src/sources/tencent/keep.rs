//! Keep-last: the last point of every series, so that a series whose data stops ages instead of
//! vanishing.
//!
//! Tencent answers only points inside the asked window. When it stops publishing a series
//! (agent down, product paused, ingest stalled), the series used to disappear with the next poll
//! and `time() - qce_datapoint_timestamp_seconds` could never exceed a few periods. Now every
//! successful poll remembers, per series (plan + instance), the newest point it was served and
//! when an answer last carried it. A later poll without a point for the series in the series'
//! own 3-period window serves the remembered point with its **original** timestamp (so the lag
//! grows) until the keep time (the endpoint's `stale_after`, at least an hour) has passed since
//! an answer last carried it; then the series is dropped and is not looked back for again.
//!
//! A series with no memory at all (first poll after start, a new instance or metric) is read
//! with a longer window ([`super::window::read_window`]) to find a point published before a
//! stall; [`LastPoints::knows`] tells the poll which series need that.
//!
//! Memory is bounded by the configured series: after each successful poll only the series that
//! poll asked for are kept. A failed poll changes nothing (the store then keeps the previous
//! snapshot until `stale_after`, as for every endpoint).

use super::translate::Reading;
use super::{Instance, Plan};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// One series of one plan: what is asked for (namespace, metric, period, statistic) and the
/// instance's dimensions as configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// Namespace as configured.
    pub namespace: String,
    /// Metric name as configured.
    pub metric: String,
    /// Period in seconds.
    pub period: u64,
    /// Statistic suffix.
    pub stat: String,
    /// Dimensions as configured.
    pub dimensions: Instance,
}

impl SeriesKey {
    /// The series of `plan` for `instance`.
    pub fn of(plan: &Plan, instance: &Instance) -> SeriesKey {
        SeriesKey {
            namespace: plan.namespace.clone(),
            metric: plan.metric.clone(),
            period: plan.period,
            stat: plan.stat.clone(),
            dimensions: instance.clone(),
        }
    }

    fn reading(&self, timestamp: f64, value: f64) -> Reading {
        Reading {
            namespace: self.namespace.clone(),
            metric: self.metric.clone(),
            stat: self.stat.clone(),
            dimensions: self.dimensions.clone(),
            timestamp,
            value,
        }
    }
}

/// What is remembered of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Memory {
    /// A point being served: its time and value, and when an answer last carried it.
    Kept {
        timestamp: f64,
        value: f64,
        seen: SystemTime,
    },
    /// Nothing to serve (none found, or the kept point outlived `stale_after`): no look-back
    /// again; a point not newer than `after` (the dropped one) is not taken up again.
    Nothing { after: Option<f64> },
}

/// One series as a poll asked for it: its key and where its own 3-period window starts.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The series.
    pub key: SeriesKey,
    /// Unix seconds where the series' 3-period window starts at this poll.
    pub window_start: i64,
    /// The request asking for it failed: no answer, so neither a point nor its absence is
    /// learnt (a kept point ages on; a series never seen stays unknown and is looked back for).
    pub failed: bool,
}

/// The last points of one target.
#[derive(Debug, Default)]
pub struct LastPoints {
    series: HashMap<SeriesKey, Memory>,
}

impl LastPoints {
    /// An empty memory (a process start or a rebuilt target).
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the series has been asked for before: it needs no look-back.
    pub fn knows(&self, key: &SeriesKey) -> bool {
        self.series.contains_key(key)
    }

    /// Number of series remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Takes in a successful poll at `now`: `asked` lists every series the poll asked for (in
    /// the order they are to be exported), `answered` the newest point each answer held per
    /// series. Returns the readings to export: a fresh point, or the remembered one while it is
    /// younger than `stale_after` (counted from the last answer carrying it). Forgets every
    /// series not asked for.
    pub fn update(
        &mut self,
        now: SystemTime,
        stale_after: Duration,
        asked: &[Asked],
        answered: &HashMap<SeriesKey, (f64, f64)>,
    ) -> Vec<Reading> {
        let mut next: HashMap<SeriesKey, Memory> = HashMap::with_capacity(asked.len());
        let mut out = Vec::new();
        for a in asked {
            let memory = match next.get(&a.key) {
                // Asked twice (the same metric configured twice): decided once.
                Some(m) => *m,
                None => {
                    let before = self.series.get(&a.key).copied();
                    if a.failed && before.is_none() {
                        continue;
                    }
                    let point = if a.failed {
                        None
                    } else {
                        answered.get(&a.key).copied()
                    };
                    let m = step(before, point, a.window_start as f64, now, stale_after);
                    next.insert(a.key.clone(), m);
                    m
                }
            };
            if let Memory::Kept {
                timestamp, value, ..
            } = memory
            {
                out.push(a.key.reading(timestamp, value));
            }
        }
        self.series = next;
        out
    }
}

/// The memory of one series after a poll that answered `point` (its newest, if any).
fn step(
    before: Option<Memory>,
    point: Option<(f64, f64)>,
    window_start: f64,
    now: SystemTime,
    stale_after: Duration,
) -> Memory {
    let fresh = |(timestamp, value): (f64, f64)| Memory::Kept {
        timestamp,
        value,
        seen: now,
    };
    // On its first look a series takes whatever the (longer) window found; afterwards only
    // points in its own 3-period window count, so that a neighbour's look-back does not bring
    // an old point back.
    let point = point.filter(|(t, _)| before.is_none() || *t >= window_start);
    match before {
        None => point.map_or(Memory::Nothing { after: None }, fresh),
        Some(
            kept @ Memory::Kept {
                timestamp, seen, ..
            },
        ) => match point {
            Some(p) if p.0 >= timestamp => fresh(p),
            _ if now.duration_since(seen).unwrap_or(Duration::ZERO) <= stale_after => kept,
            _ => Memory::Nothing {
                after: Some(timestamp),
            },
        },
        Some(Memory::Nothing { after }) => match point {
            Some(p) if after.is_none_or(|a| p.0 > a) => fresh(p),
            _ => Memory::Nothing { after },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_040; // a period boundary (60 s)

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn key(id: &str) -> SeriesKey {
        SeriesKey::of(
            &Plan {
                namespace: "QCE/CVM".into(),
                metric: "CPUUsage".into(),
                period: 60,
                stat: "avg".into(),
                delay: 0,
            },
            &vec![("InstanceId".to_string(), id.to_string())],
        )
    }

    /// The 3-period window start of a poll at `now` (period 60).
    fn asked(ids: &[&str], now: u64) -> Vec<Asked> {
        let (window_start, _) = super::super::window::window(now as i64, 60);
        ids.iter()
            .map(|id| Asked {
                key: key(id),
                window_start,
                failed: false,
            })
            .collect()
    }

    fn answer(points: &[(&str, u64, f64)]) -> HashMap<SeriesKey, (f64, f64)> {
        points
            .iter()
            .map(|(id, t, v)| (key(id), (*t as f64, *v)))
            .collect()
    }

    fn served(readings: &[Reading]) -> Vec<(String, f64, f64)> {
        readings
            .iter()
            .map(|r| (r.dimensions[0].1.clone(), r.timestamp, r.value))
            .collect()
    }

    const STALE: Duration = Duration::from_secs(600);

    #[test]
    fn a_missing_point_is_served_with_its_original_time_until_stale_after_then_dropped() {
        let mut last = LastPoints::new();
        assert!(!last.knows(&key("a")));
        // Poll at T0 + 60: both instances have the point at T0.
        let now = T0 + 60;
        let out = last.update(
            at(now),
            STALE,
            &asked(&["a", "b"], now),
            &answer(&[("a", T0, 1.0), ("b", T0, 2.0)]),
        );
        assert_eq!(
            served(&out),
            [("a".into(), T0 as f64, 1.0), ("b".into(), T0 as f64, 2.0)]
        );
        assert!(last.knows(&key("a")) && last.knows(&key("b")));
        // Later polls: `a` stops publishing, `b` goes on. `a` keeps its value and time.
        for minutes in [2, 5, 10] {
            let now = T0 + 60 + minutes * 60;
            let b_point = now / 60 * 60 - 60;
            let out = last.update(
                at(now),
                STALE,
                &asked(&["a", "b"], now),
                &answer(&[("b", b_point, 3.0)]),
            );
            assert_eq!(
                served(&out),
                [
                    ("a".into(), T0 as f64, 1.0),
                    ("b".into(), b_point as f64, 3.0)
                ],
                "{minutes} min after the last answer carrying a's point"
            );
        }
        // Just past stale_after (600 s since the poll at T0 + 60 last saw it): dropped.
        let now = T0 + 60 + 601;
        let out = last.update(at(now), STALE, &asked(&["a", "b"], now), &answer(&[]));
        assert_eq!(served(&out), [("b".into(), (T0 + 600) as f64, 3.0)]);
        // Still remembered as "nothing": no look-back for it again, and no resurrection of
        // the old point by a neighbour's look-back window.
        assert!(last.knows(&key("a")));
        let now = T0 + 60 + 660;
        let out = last.update(
            at(now),
            STALE,
            &asked(&["a"], now),
            &answer(&[("a", T0, 1.0)]),
        );
        assert!(out.is_empty(), "{out:?}");
        // Data resumes: served again at once.
        let fresh = now / 60 * 60 - 60;
        let out = last.update(
            at(now),
            STALE,
            &asked(&["a"], now),
            &answer(&[("a", fresh, 4.0)]),
        );
        assert_eq!(served(&out), [("a".into(), fresh as f64, 4.0)]);
    }

    #[test]
    fn a_failed_request_keeps_what_was_known_and_learns_nothing() {
        let mut last = LastPoints::new();
        let now = T0 + 60;
        last.update(
            at(now),
            STALE,
            &asked(&["a"], now),
            &answer(&[("a", T0, 1.0)]),
        );
        // `a`'s request fails, `b` (never seen) too: `a` is served as kept, `b` stays unknown.
        let now = T0 + 120;
        let mut failed = asked(&["a", "b"], now);
        failed.iter_mut().for_each(|a| a.failed = true);
        // Even an answer for them (from another request) is not taken up.
        let out = last.update(at(now), STALE, &failed, &answer(&[("a", T0 + 60, 9.0)]));
        assert_eq!(served(&out), [("a".into(), T0 as f64, 1.0)]);
        assert!(!last.knows(&key("b")), "looked back for at the next poll");
        // Past stale_after with failing requests: dropped like an unanswered series.
        let now = T0 + 60 + 601;
        let mut failed = asked(&["a"], now);
        failed[0].failed = true;
        assert!(last
            .update(at(now), STALE, &failed, &answer(&[]))
            .is_empty());
    }

    #[test]
    fn a_point_still_in_the_window_refreshes_its_last_seen_time() {
        // Hourly metric, stale_after 5 minutes: the same point is answered for hours and never
        // dropped while it is.
        let mut last = LastPoints::new();
        let plan = Plan {
            namespace: "QCE/CVM".into(),
            metric: "CPUUsage".into(),
            period: 3600,
            stat: "avg".into(),
            delay: 0,
        };
        let instance = vec![("InstanceId".to_string(), "a".to_string())];
        let k = SeriesKey::of(&plan, &instance);
        let point = 1_699_995_600.0; // an hour boundary
        for minutes in (0..120).step_by(20) {
            let now = 1_700_000_000 + minutes * 60;
            let (window_start, _) = super::super::window::window(now, 3600);
            let out = last.update(
                at(now as u64),
                Duration::from_secs(300),
                &[Asked {
                    key: k.clone(),
                    window_start,
                    failed: false,
                }],
                &HashMap::from([(k.clone(), (point, 5.0))]),
            );
            assert_eq!(out.len(), 1, "{minutes} min");
            assert_eq!(out[0].timestamp, point);
        }
    }

    #[test]
    fn a_first_look_takes_an_old_point_found_by_the_look_back() {
        // Restart during a stall: the look-back window found a point 50 minutes old. It is
        // served (the lag shows), and dropped once stale_after has passed since that poll.
        let mut last = LastPoints::new();
        let now = T0 + 3000;
        let out = last.update(
            at(now),
            STALE,
            &asked(&["a"], now),
            &answer(&[("a", T0, 7.0)]),
        );
        assert_eq!(served(&out), [("a".into(), T0 as f64, 7.0)]);
        let later = now + 601;
        assert!(last
            .update(at(later), STALE, &asked(&["a"], later), &answer(&[]))
            .is_empty());
        // Nothing found at all on the first look: remembered as nothing (no second look-back).
        let mut last = LastPoints::new();
        assert!(last
            .update(at(now), STALE, &asked(&["gone"], now), &answer(&[]))
            .is_empty());
        assert!(last.knows(&key("gone")));
    }

    #[test]
    fn memory_holds_only_the_series_asked_for() {
        let mut last = LastPoints::new();
        let now = T0 + 60;
        last.update(
            at(now),
            STALE,
            &asked(&["a", "b", "c"], now),
            &answer(&[("a", T0, 1.0), ("b", T0, 2.0)]),
        );
        assert_eq!(last.len(), 3);
        // `b` and `c` are no longer configured: forgotten, and `b` is not served.
        let out = last.update(at(now + 60), STALE, &asked(&["a"], now + 60), &answer(&[]));
        assert_eq!(served(&out), [("a".into(), T0 as f64, 1.0)]);
        assert_eq!(last.len(), 1);
        assert!(!last.knows(&key("b")));
    }

    #[test]
    fn a_clock_going_back_keeps_the_point() {
        let mut last = LastPoints::new();
        let now = T0 + 60;
        last.update(
            at(now),
            STALE,
            &asked(&["a"], now),
            &answer(&[("a", T0, 1.0)]),
        );
        let out = last.update(
            at(T0 - 3600),
            STALE,
            &asked(&["a"], T0 - 3600),
            &answer(&[]),
        );
        assert_eq!(served(&out), [("a".into(), T0 as f64, 1.0)]);
    }
}
