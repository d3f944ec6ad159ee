//! Call budgets: how many upstream calls a target may make per day or per calendar month, the
//! projection of its calls over that period and the factor by which its intervals stretch to
//! stay within the budget. Pure arithmetic; "now" is passed in (from the injected clock).

use chrono::{Datelike, TimeZone, Utc};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The period a budget counts calls over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetPeriod {
    /// A UTC day (86 400 s).
    Day,
    /// The UTC calendar month containing "now" (28 to 31 days).
    Month,
}

impl BudgetPeriod {
    /// The `period` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Month => "month",
        }
    }

    /// The length of the period containing `now`: a day is always 24 h (UTC has no DST), a
    /// month is its number of days in the UTC calendar (February 2024 has 29).
    pub fn length_at(self, now: SystemTime) -> Duration {
        const DAY: u64 = 86_400;
        match self {
            BudgetPeriod::Day => Duration::from_secs(DAY),
            BudgetPeriod::Month => Duration::from_secs(DAY * u64::from(days_in_month(now))),
        }
    }
}

impl fmt::Display for BudgetPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Days of the UTC calendar month containing `now`.
fn days_in_month(now: SystemTime) -> u32 {
    let now: chrono::DateTime<Utc> = now.into();
    let (year, month) = (now.year(), now.month());
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single();
    let next = Utc
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .single();
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 31,
    }
}

/// A target's call budget: at most `calls` upstream calls (logins included) per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallBudget {
    /// Calls allowed per period (at least 1).
    pub calls: u64,
    /// The period.
    pub period: BudgetPeriod,
}

/// Calls a target makes over a period of length `period` when each endpoint, given as
/// (interval, calls per poll), polls at its interval.
pub fn projected_calls(
    period: Duration,
    endpoints: impl IntoIterator<Item = (Duration, f64)>,
) -> f64 {
    endpoints
        .into_iter()
        .filter(|(interval, _)| !interval.is_zero())
        .map(|(interval, calls)| calls.max(0.0) * period.as_secs_f64() / interval.as_secs_f64())
        .sum()
}

/// How much a target's intervals stretch so that `projected` calls fit into `budget`:
/// `projected / budget`, never below 1.
pub fn stretch_factor(projected: f64, budget: u64) -> f64 {
    if budget == 0 {
        return 1.0;
    }
    let factor = projected / budget as f64;
    if factor.is_finite() {
        factor.max(1.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> SystemTime {
        Utc.with_ymd_and_hms(y, m, d, 23, 59, 59)
            .single()
            .unwrap()
            .into()
    }

    #[test]
    fn month_length_follows_the_calendar_of_now() {
        let days = |t| BudgetPeriod::Month.length_at(t).as_secs() / 86_400;
        assert_eq!(days(at(2024, 2, 29)), 29);
        assert_eq!(days(at(2023, 2, 1)), 28);
        assert_eq!(days(at(2024, 4, 30)), 30);
        assert_eq!(days(at(2024, 12, 31)), 31);
        assert_eq!(
            BudgetPeriod::Day.length_at(at(2024, 3, 31)).as_secs(),
            86_400
        );
    }

    #[test]
    fn projection_sums_endpoints_and_the_stretch_never_shrinks() {
        let day = Duration::from_secs(86_400);
        // 1 call per minute and 3 calls every 5 minutes: 1440 + 864 per day.
        let p = projected_calls(
            day,
            [
                (Duration::from_secs(60), 1.0),
                (Duration::from_secs(300), 3.0),
                (Duration::ZERO, 5.0),
            ],
        );
        assert!((p - 2304.0).abs() < 1e-9, "{p}");
        assert!((stretch_factor(p, 1152) - 2.0).abs() < 1e-9);
        assert_eq!(stretch_factor(p, 10_000), 1.0);
        assert_eq!(stretch_factor(f64::NAN, 10), 1.0);
    }
}
