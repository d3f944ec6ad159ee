//! High-water marks of the daily tenant usage records of the current billing cycle: what the
//! cycle-to-date counters count.
//!
//! CDS revises daily records after the fact, and an answer may lack a day it held before (a
//! pipeline catching up, a partial answer). A counter re-summed from each answer would go down
//! then, and Prometheus would read the drop as a reset and count the whole cycle-to-date total
//! again. So the counters are sums of **high-water marks**: per (series, day, measure) the
//! largest value seen in this cycle. A day revised up adds the difference; a day revised down or
//! missing keeps its counted value, and the drop is counted once (per state change) in
//! [`HighWater::revisions`], reported by [`HighWater::update`] for the log. Today's partial
//! record only grows through the day, so its mark follows it and the complete day is never
//! counted twice.
//!
//! The accumulator is a plain value: fed the records of one answer, it returns what changed and
//! computes the totals, without I/O. The source keeps one per target and saves it (it is
//! serde-serializable, counts and dates only) after every poll that changed it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The measures of a usage record, in the order of the value arrays.
pub const MEASURE_NAMES: [&str; 4] = [
    "ingress_events",
    "ingress_streams_accessed",
    "egress_events",
    "egress_streams_accessed",
];

/// At most this many days have marks. A cycle is at most a month long; should one be longer,
/// its oldest days are folded into a settled sum per series (they keep counting but are no
/// longer compared), so the state stays small.
pub const MAX_MARKED_DAYS: usize = 62;

/// The series dimensions of a tenant usage record: namespace, community, cluster region.
pub type SeriesKey = (Option<String>, Option<String>, Option<String>);

/// One value per measure ([`MEASURE_NAMES`]); `None` = not reported.
pub type Values = [Option<f64>; 4];

/// One day's marks of one series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Day {
    /// The largest value seen per measure.
    marks: Values,
    /// Per measure: the latest answer held a lower value (or none) than the mark.
    #[serde(default, skip_serializing_if = "none_lower")]
    lower: [bool; 4],
}

fn none_lower(lower: &[bool; 4]) -> bool {
    !lower.iter().any(|l| *l)
}

/// The marks of one series.
#[derive(Debug, Clone, Default, PartialEq)]
struct Series {
    /// Sum of the marks of days folded away (see [`MAX_MARKED_DAYS`]).
    settled: Values,
    days: BTreeMap<NaiveDate, Day>,
}

/// A value seen lower than its mark, or missing, for the first time since it was at its mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    /// The series.
    pub key: SeriesKey,
    /// The day.
    pub day: NaiveDate,
    /// Index into [`MEASURE_NAMES`].
    pub measure: usize,
    /// What is counted (the mark).
    pub counted: f64,
    /// What the answer held (`None`: the record or the measure was missing).
    pub seen: Option<f64>,
}

/// What one answer changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Something to save: a mark, a revision state, the cycle or the start of counting.
    pub changed: bool,
    /// The previous cycle's start, when this answer began a new cycle (its marks are dropped).
    pub previous_cycle: Option<DateTime<Utc>>,
    /// Values newly seen lower than counted (each also counted in [`HighWater::revisions`]).
    pub lowered: Vec<Lowered>,
    /// Values that were lower and are back at (or above) their mark.
    pub recovered: usize,
}

/// The high-water marks of one target's tenant usage in the current cycle, and the count of
/// downward revisions since counting began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Saved", into = "Saved")]
pub struct HighWater {
    cycle_start: Option<DateTime<Utc>>,
    /// Days up to and including this one were folded into the settled sums.
    settled_through: Option<NaiveDate>,
    series: BTreeMap<SeriesKey, Series>,
    revisions: [u64; 4],
    counting_since: Option<DateTime<Utc>>,
}

impl HighWater {
    /// Feeds one answer: `observed` holds, per series and day of `cycle_start`'s cycle (days
    /// not after today), the answer's values. A different `cycle_start` than the marks' drops
    /// them and starts the new cycle from this answer. `now` is when counting began, if it had
    /// not yet.
    pub fn update(
        &mut self,
        cycle_start: DateTime<Utc>,
        observed: &BTreeMap<(SeriesKey, NaiveDate), Values>,
        now: DateTime<Utc>,
    ) -> Update {
        let mut update = Update::default();
        if self.counting_since.is_none() {
            self.counting_since = Some(now);
            update.changed = true;
        }
        if self.cycle_start != Some(cycle_start) {
            update.previous_cycle = self.cycle_start;
            self.cycle_start = Some(cycle_start);
            self.settled_through = None;
            self.series.clear();
            update.changed = true;
        }
        for ((key, day), values) in observed {
            if self.settled_through.is_some_and(|s| *day <= s) {
                continue;
            }
            let entry = self
                .series
                .entry(key.clone())
                .or_default()
                .days
                .entry(*day)
                .or_default();
            for (i, value) in values.iter().enumerate() {
                let value = value.filter(|v| v.is_finite() && *v >= 0.0);
                match (entry.marks[i], value) {
                    (None, None) => {}
                    (None, Some(v)) => {
                        entry.marks[i] = Some(v);
                        update.changed = true;
                    }
                    (Some(mark), Some(v)) if v >= mark => {
                        if v > mark {
                            entry.marks[i] = Some(v);
                            update.changed = true;
                        }
                        if entry.lower[i] {
                            entry.lower[i] = false;
                            update.recovered += 1;
                            update.changed = true;
                        }
                    }
                    (Some(mark), seen) => {
                        if !entry.lower[i] {
                            entry.lower[i] = true;
                            self.revisions[i] += 1;
                            update.changed = true;
                            update.lowered.push(Lowered {
                                key: key.clone(),
                                day: *day,
                                measure: i,
                                counted: mark,
                                seen,
                            });
                        }
                    }
                }
            }
        }
        // Days counted before that this answer lacks.
        for (key, series) in &mut self.series {
            for (day, entry) in &mut series.days {
                if observed.contains_key(&(key.clone(), *day)) {
                    continue;
                }
                for i in 0..4 {
                    if let (Some(mark), false) = (entry.marks[i], entry.lower[i]) {
                        entry.lower[i] = true;
                        self.revisions[i] += 1;
                        update.changed = true;
                        update.lowered.push(Lowered {
                            key: key.clone(),
                            day: *day,
                            measure: i,
                            counted: mark,
                            seen: None,
                        });
                    }
                }
            }
        }
        if self.fold() {
            update.changed = true;
        }
        update
    }

    /// Folds the oldest days beyond [`MAX_MARKED_DAYS`] into the settled sums.
    fn fold(&mut self) -> bool {
        let mut days: BTreeSet<NaiveDate> = self
            .series
            .values()
            .flat_map(|s| s.days.keys().copied())
            .collect();
        let mut folded = false;
        while days.len() > MAX_MARKED_DAYS {
            let oldest = days.pop_first().expect("more days than the limit");
            for series in self.series.values_mut() {
                if let Some(day) = series.days.remove(&oldest) {
                    for (settled, mark) in series.settled.iter_mut().zip(day.marks) {
                        if let Some(v) = mark {
                            // Kept finite, so that it saves (JSON has no infinity).
                            *settled = Some((settled.unwrap_or(0.0) + v).min(f64::MAX));
                        }
                    }
                }
            }
            self.settled_through = Some(oldest);
            folded = true;
        }
        folded
    }

    /// The start of the cycle the marks belong to.
    pub fn cycle_start(&self) -> Option<DateTime<Utc>> {
        self.cycle_start
    }

    /// The cycle-to-date total per series: the sum of its marks (a measure never reported in
    /// the cycle stays `None`, and so does one whose sum overflows: absurd values are not
    /// exported as an infinite counter).
    pub fn totals(&self) -> BTreeMap<SeriesKey, Values> {
        self.series
            .iter()
            .map(|(key, series)| {
                let mut total = series.settled;
                for day in series.days.values() {
                    for (sum, mark) in total.iter_mut().zip(day.marks) {
                        if let Some(v) = mark {
                            *sum = Some(sum.unwrap_or(0.0) + v);
                        }
                    }
                }
                (key.clone(), total.map(|t| t.filter(|t| t.is_finite())))
            })
            .collect()
    }

    /// Downward revisions per measure since counting began (across cycles): each time a value
    /// is first seen lower than its mark, or missing, after being at its mark.
    pub fn revisions(&self) -> [u64; 4] {
        self.revisions
    }

    /// When counting (of the revisions) began: the first answer fed.
    pub fn counting_since(&self) -> Option<DateTime<Utc>> {
        self.counting_since
    }

    /// The days with marks, oldest first (for tests and the log).
    pub fn days(&self) -> BTreeSet<NaiveDate> {
        self.series
            .values()
            .flat_map(|s| s.days.keys().copied())
            .collect()
    }
}

/// The saved form: JSON object keys must be strings, so series are a list.
#[derive(Serialize, Deserialize)]
struct Saved {
    cycle_start: Option<DateTime<Utc>>,
    #[serde(default)]
    settled_through: Option<NaiveDate>,
    #[serde(default)]
    series: Vec<SavedSeries>,
    #[serde(default)]
    revisions: [u64; 4],
    #[serde(default)]
    counting_since: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct SavedSeries {
    namespace_id: Option<String>,
    community_id: Option<String>,
    cluster_region: Option<String>,
    #[serde(default, skip_serializing_if = "none_settled")]
    settled: Values,
    days: BTreeMap<NaiveDate, Day>,
}

fn none_settled(settled: &Values) -> bool {
    settled.iter().all(Option::is_none)
}

impl From<HighWater> for Saved {
    fn from(h: HighWater) -> Saved {
        Saved {
            cycle_start: h.cycle_start,
            settled_through: h.settled_through,
            series: h
                .series
                .into_iter()
                .map(
                    |((namespace_id, community_id, cluster_region), s)| SavedSeries {
                        namespace_id,
                        community_id,
                        cluster_region,
                        settled: s.settled,
                        days: s.days,
                    },
                )
                .collect(),
            revisions: h.revisions,
            counting_since: h.counting_since,
        }
    }
}

impl From<Saved> for HighWater {
    fn from(s: Saved) -> HighWater {
        HighWater {
            cycle_start: s.cycle_start,
            settled_through: s.settled_through,
            series: s
                .series
                .into_iter()
                .map(|s| {
                    (
                        (s.namespace_id, s.community_id, s.cluster_region),
                        Series {
                            settled: s.settled,
                            days: s.days,
                        },
                    )
                })
                .collect(),
            revisions: s.revisions,
            counting_since: s.counting_since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn ns(name: &str) -> SeriesKey {
        (Some(name.into()), None, Some("West US".into()))
    }

    /// An answer: per (namespace, day) the ingress events (the other measures absent).
    fn answer(days: &[(&str, u32, f64)]) -> BTreeMap<(SeriesKey, NaiveDate), Values> {
        days.iter()
            .map(|(n, d, v)| ((ns(n), day(*d)), [Some(*v), None, None, None]))
            .collect()
    }

    fn total(h: &HighWater, name: &str) -> Option<f64> {
        h.totals().get(&ns(name)).and_then(|t| t[0])
    }

    fn november() -> DateTime<Utc> {
        at(1, 0)
    }

    #[test]
    fn a_fresh_accumulator_counts_the_answer() {
        let mut h = HighWater::default();
        let u = h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 5.0), ("b", 2, 1.0)]),
            at(2, 9),
        );
        assert!(u.changed);
        assert_eq!(u.previous_cycle, None);
        assert!(u.lowered.is_empty());
        assert_eq!(total(&h, "a"), Some(15.0));
        assert_eq!(total(&h, "b"), Some(1.0));
        // Measures never reported stay absent.
        assert_eq!(h.totals()[&ns("a")][1], None);
        assert_eq!(h.counting_since(), Some(at(2, 9)));
        assert_eq!(h.revisions(), [0; 4]);
        // The same answer again changes nothing (nothing to save).
        let again = h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 5.0), ("b", 2, 1.0)]),
            at(2, 10),
        );
        assert_eq!(again, Update::default());
    }

    #[test]
    fn a_day_revised_down_keeps_its_counted_value_and_is_reported_once() {
        let mut h = HighWater::default();
        h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 5.0)]),
            at(2, 9),
        );
        let u = h.update(
            november(),
            &answer(&[("a", 1, 7.0), ("a", 2, 6.0)]),
            at(2, 10),
        );
        assert_eq!(total(&h, "a"), Some(16.0), "10 (kept) + 6 (grew)");
        assert_eq!(
            u.lowered,
            vec![Lowered {
                key: ns("a"),
                day: day(1),
                measure: 0,
                counted: 10.0,
                seen: Some(7.0),
            }]
        );
        assert_eq!(h.revisions(), [1, 0, 0, 0]);
        // Still lower, even lower: not reported or counted again.
        let u = h.update(
            november(),
            &answer(&[("a", 1, 6.0), ("a", 2, 6.0)]),
            at(2, 11),
        );
        assert!(u.lowered.is_empty());
        assert!(!u.changed);
        assert_eq!(h.revisions(), [1, 0, 0, 0]);
        assert_eq!(total(&h, "a"), Some(16.0));
        // Back at the mark: recovered; a later drop is a new revision.
        let u = h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 6.0)]),
            at(2, 12),
        );
        assert_eq!(u.recovered, 1);
        assert!(u.changed);
        let u = h.update(
            november(),
            &answer(&[("a", 1, 9.0), ("a", 2, 6.0)]),
            at(2, 13),
        );
        assert_eq!(u.lowered.len(), 1);
        assert_eq!(h.revisions(), [2, 0, 0, 0]);
        assert_eq!(total(&h, "a"), Some(16.0));
    }

    #[test]
    fn a_missing_day_keeps_its_counted_value() {
        let mut h = HighWater::default();
        h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 5.0), ("b", 1, 3.0)]),
            at(2, 9),
        );
        // Day 1 of namespace a missing, namespace b missing altogether.
        let u = h.update(november(), &answer(&[("a", 2, 5.0)]), at(2, 10));
        assert_eq!(total(&h, "a"), Some(15.0));
        assert_eq!(total(&h, "b"), Some(3.0));
        assert_eq!(u.lowered.len(), 2);
        assert!(u.lowered.iter().all(|l| l.seen.is_none()));
        assert_eq!(h.revisions(), [2, 0, 0, 0]);
        // Missing again: nothing new.
        let u = h.update(november(), &answer(&[("a", 2, 5.0)]), at(2, 11));
        assert!(u.lowered.is_empty() && !u.changed);
        // Back, lower than counted: still the same revision state.
        let u = h.update(
            november(),
            &answer(&[("a", 1, 8.0), ("a", 2, 5.0), ("b", 1, 3.0)]),
            at(2, 12),
        );
        assert!(u.lowered.is_empty());
        assert_eq!(u.recovered, 1, "b is back at its mark");
        assert_eq!(total(&h, "a"), Some(15.0));
    }

    #[test]
    fn an_upward_revision_and_a_growing_day_add() {
        let mut h = HighWater::default();
        h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 5.0)]),
            at(2, 9),
        );
        // Yesterday revised up by 2, today grew by 3: the counter grows by 5.
        let u = h.update(
            november(),
            &answer(&[("a", 1, 12.0), ("a", 2, 8.0)]),
            at(2, 18),
        );
        assert!(u.changed && u.lowered.is_empty());
        assert_eq!(total(&h, "a"), Some(20.0));
        // Today complete, the next day begins: each day counted once.
        h.update(
            november(),
            &answer(&[("a", 1, 12.0), ("a", 2, 9.0), ("a", 3, 1.0)]),
            at(3, 1),
        );
        assert_eq!(total(&h, "a"), Some(22.0));
    }

    #[test]
    fn a_new_cycle_drops_the_old_marks_and_starts_from_its_answer() {
        let mut h = HighWater::default();
        h.update(
            november(),
            &answer(&[("a", 29, 10.0), ("a", 30, 5.0)]),
            at(30, 9),
        );
        h.update(
            november(),
            &answer(&[("a", 29, 1.0), ("a", 30, 5.0)]),
            at(30, 10),
        );
        assert_eq!(h.revisions()[0], 1);
        let december = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let dec1 = december.date_naive();
        let first: BTreeMap<_, _> = [((ns("a"), dec1), [Some(2.0), None, None, None])].into();
        let u = h.update(december, &first, december + Duration::hours(1));
        assert_eq!(u.previous_cycle, Some(november()));
        assert!(u.changed);
        assert!(
            u.lowered.is_empty(),
            "the old cycle's days are not missing, they are gone"
        );
        assert_eq!(h.cycle_start(), Some(december));
        assert_eq!(h.days(), [dec1].into());
        assert_eq!(total(&h, "a"), Some(2.0));
        // Revisions count on across cycles; counting began with the first answer.
        assert_eq!(h.revisions()[0], 1);
        assert_eq!(h.counting_since(), Some(at(30, 9)));
    }

    #[test]
    fn every_measure_has_its_own_marks() {
        let mut h = HighWater::default();
        let key = (None, Some("c".to_string()), None);
        let one = |v: Values| -> BTreeMap<_, _> { [((key.clone(), day(1)), v)].into() };
        h.update(
            november(),
            &one([Some(10.0), Some(4.0), Some(2.0), None]),
            at(1, 9),
        );
        let u = h.update(
            november(),
            &one([Some(11.0), Some(3.0), None, Some(1.0)]),
            at(1, 10),
        );
        assert_eq!(
            h.totals()[&key],
            [Some(11.0), Some(4.0), Some(2.0), Some(1.0)]
        );
        let measures: Vec<usize> = u.lowered.iter().map(|l| l.measure).collect();
        assert_eq!(measures, [1, 2], "streams lower, egress events missing");
        assert_eq!(h.revisions(), [0, 1, 1, 0]);
    }

    #[test]
    fn negative_and_non_finite_values_are_no_usage() {
        let mut h = HighWater::default();
        let key = ns("a");
        let one = |v: Values| -> BTreeMap<_, _> { [((key.clone(), day(1)), v)].into() };
        h.update(
            november(),
            &one([Some(-5.0), Some(f64::INFINITY), Some(f64::NAN), Some(1.0)]),
            at(1, 9),
        );
        assert_eq!(h.totals()[&key], [None, None, None, Some(1.0)]);
        // Marks too large to sum: the total is not exported (never an infinite counter).
        let huge: BTreeMap<_, _> = [
            (
                (key.clone(), day(1)),
                [Some(1.7e308), None, None, Some(1.0)],
            ),
            (
                (key.clone(), day(2)),
                [Some(1.7e308), None, None, Some(1.0)],
            ),
        ]
        .into();
        h.update(november(), &huge, at(2, 9));
        assert_eq!(h.totals()[&key], [None, None, None, Some(2.0)]);
        // The marks themselves are finite and save.
        let back: HighWater = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn days_beyond_the_limit_are_folded_and_keep_counting() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut h = HighWater::default();
        let days = MAX_MARKED_DAYS as i64 + 5;
        let all: BTreeMap<_, _> = (0..days)
            .map(|i| {
                (
                    (ns("a"), (start + Duration::days(i)).date_naive()),
                    [Some(1.0), None, None, None],
                )
            })
            .collect();
        h.update(start, &all, start + Duration::days(days));
        assert_eq!(h.days().len(), MAX_MARKED_DAYS);
        assert_eq!(total(&h, "a"), Some(days as f64));
        // A folded day is no longer compared: missing or answered again, it is neither
        // reported nor counted twice.
        let recent: BTreeMap<_, _> = all.into_iter().skip(5).collect();
        let u = h.update(start, &recent, start + Duration::days(days));
        assert!(u.lowered.is_empty());
        let mut again = recent.clone();
        again.insert((ns("a"), start.date_naive()), [Some(9.0), None, None, None]);
        h.update(start, &again, start + Duration::days(days));
        assert_eq!(total(&h, "a"), Some(days as f64));
    }

    #[test]
    fn serde_round_trip_keeps_marks_revision_states_and_counts() {
        let mut h = HighWater::default();
        h.update(
            november(),
            &answer(&[("a", 1, 10.0), ("a", 2, 5.0), ("b", 1, 2.5)]),
            at(2, 9),
        );
        h.update(
            november(),
            &answer(&[("a", 1, 4.0), ("a", 2, 5.0), ("b", 1, 2.5)]),
            at(2, 10),
        );
        let key = (None, Some("community".to_string()), None);
        let mut odd: BTreeMap<_, _> = answer(&[("a", 1, 4.0), ("a", 2, 5.0), ("b", 1, 2.5)]);
        odd.insert((key, day(2)), [None, Some(7.0), None, Some(0.0)]);
        h.update(november(), &odd, at(2, 11));
        let json = serde_json::to_string(&h).unwrap();
        let back: HighWater = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert!(json.contains("\"2026-11-01\""), "{json}");
        // Nothing secret or derived: counts, dates and the record's own labels only.
        assert!(
            !json.contains("token") && !json.contains("secret"),
            "{json}"
        );
        // Restored, it reports nothing new for the state it saved.
        let mut restored = back;
        let u = restored.update(november(), &odd, at(2, 12));
        assert_eq!(u, Update::default());
        // The minimal saved form (an older or hand-written file) decodes too.
        let bare: HighWater =
            serde_json::from_str(r#"{"cycle_start":"2026-11-01T00:00:00Z"}"#).unwrap();
        assert_eq!(bare.cycle_start(), Some(november()));
        assert!(bare.totals().is_empty());
    }
}
