//! The current billing cycle: picked from the billing cycles list, shared by the endpoints that
//! query "the current cycle so far".

use super::model::BillingCycle;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// A billing cycle as the exporter uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// First instant of the cycle.
    pub start: DateTime<Utc>,
    /// End of the cycle, when known (absent for a cycle the API does not list yet).
    pub end: Option<DateTime<Utc>>,
}

impl Cycle {
    /// True when `date` (a UTC day) belongs to the cycle.
    pub fn contains_day(&self, date: NaiveDate) -> bool {
        let midnight = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        date >= self.start.date_naive() && self.end.is_none_or(|end| midnight < end)
    }

    /// True when the cycle is over at `now` (its end known and passed).
    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.end.is_some_and(|end| now >= end)
    }
}

/// The current cycle: the latest listed one (by start). When that one has already ended at
/// `now` (the API lists only elapsed cycles, or the next one is not listed yet), the current
/// cycle is the one that follows it: it starts at the next 00:00 UTC at or after the listed
/// end, and its end is unknown. `None` when no cycle has a start date.
pub fn current_cycle(cycles: &[BillingCycle], now: DateTime<Utc>) -> Option<Cycle> {
    let latest = cycles
        .iter()
        .filter_map(|c| c.start.map(|start| (start, c.end)))
        .max_by_key(|(start, _)| *start)?;
    let cycle = Cycle {
        start: latest.0,
        end: latest.1.filter(|end| *end > latest.0),
    };
    match cycle.end {
        Some(end) if now >= end => Some(Cycle {
            start: ceil_to_midnight(end),
            end: None,
        }),
        _ => Some(cycle),
    }
}

/// The next 00:00 UTC at or after `t` (an end given as `23:59:59.999` becomes the next day).
fn ceil_to_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = t
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    if midnight == t {
        t
    } else {
        midnight + Duration::days(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::aveva::model::parse_date;

    fn cycle(start: &str, end: Option<&str>) -> BillingCycle {
        BillingCycle {
            start: parse_date(start),
            end: end.and_then(parse_date),
        }
    }

    #[test]
    fn latest_listed_cycle_is_current() {
        let cycles = [
            cycle("2026-11-01T00:00:00Z", Some("2026-12-01T00:00:00Z")),
            cycle("2026-09-01T00:00:00Z", Some("2026-10-01T00:00:00Z")),
            cycle("2026-10-01T00:00:00Z", Some("2026-11-01T00:00:00Z")),
            BillingCycle::default(),
        ];
        let now = parse_date("2026-11-21T22:00:00Z").unwrap();
        let c = current_cycle(&cycles, now).unwrap();
        assert_eq!(c.start, parse_date("2026-11-01").unwrap());
        assert_eq!(c.end, parse_date("2026-12-01"));
        assert!(c.contains_day(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()));
        assert!(!c.contains_day(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()));
        assert!(!c.contains_day(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()));
        assert!(!c.is_over(now));
    }

    #[test]
    fn only_elapsed_cycles_listed_gives_the_following_one() {
        let cycles = [cycle(
            "2026-10-01T00:00:00Z",
            Some("2026-10-31T23:59:59.999Z"),
        )];
        let now = parse_date("2026-11-03T10:00:00Z").unwrap();
        let c = current_cycle(&cycles, now).unwrap();
        assert_eq!(c.start, parse_date("2026-11-01").unwrap());
        assert_eq!(c.end, None);
        assert!(!c.is_over(now));
    }

    #[test]
    fn nothing_usable() {
        let now = parse_date("2026-11-03").unwrap();
        assert_eq!(current_cycle(&[], now), None);
        assert_eq!(current_cycle(&[BillingCycle::default()], now), None);
    }
}
