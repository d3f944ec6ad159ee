//! Time windows and time formats: the 3-period window aligned to the period (reaching back
//! further for series without a remembered point), RFC 3339 for API
//! 3.0, `YYYY-MM-DD HH:MM:SS` in the region's time zone for v2, timestamps reconstructed from
//! `startTime + i × period`, and GetMetricStatistics windows that never span two days.

use super::model::V2MonitorData;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

/// Periods fetched per read: the newest is often still empty (ingest lag).
pub const WINDOW_PERIODS: i64 = 3;

/// How far back a read reaches for a series without a remembered point (first poll after
/// start, a new instance): far enough to find a point published before a stall.
pub const LOOK_BACK_SECS: i64 = 3600;

/// Most datapoints one `GetMonitorData` request may cover, instances × points per instance
/// ("A single request can get the data of up to 10 instances for up to 1,440 data points").
pub const MAX_POINTS_PER_REQUEST: i64 = 1440;

/// The read window for `period` seconds at `now` (Unix seconds): `end` is `now` rounded down to
/// the period, `start` is two periods earlier, so the window holds three points.
pub fn window(now: i64, period: u64) -> (i64, i64) {
    let p = period.max(1) as i64;
    let end = now.div_euclid(p) * p;
    (end - (WINDOW_PERIODS - 1) * p, end)
}

/// The window of one request for `instances` instances. Without `look_back` (every series of
/// the request has a remembered point) it is [`window`]: three periods. With it, the window
/// ends at the same point but reaches back `max(3 × period, 3600 s)`, as far as keeps the
/// request within [`MAX_POINTS_PER_REQUEST`] (instances × points); never fewer than three
/// points.
pub fn read_window(now: i64, period: u64, instances: usize, look_back: bool) -> (i64, i64) {
    let (start, end) = window(now, period);
    if !look_back {
        return (start, end);
    }
    let p = period.max(1) as i64;
    let wanted = (LOOK_BACK_SECS + p - 1).div_euclid(p).max(WINDOW_PERIODS);
    let allowed = (MAX_POINTS_PER_REQUEST / instances.max(1) as i64).max(WINDOW_PERIODS);
    let points = wanted.min(allowed);
    (end - (points - 1) * p, end)
}

/// The poll time a read is aligned to: `now` moved back by the block's ingestion delay
/// (the window ends at `now − delay`, rounded down to the period).
pub fn delayed(now: i64, delay: u64) -> i64 {
    now.saturating_sub(delay.min(i64::MAX as u64) as i64)
}

/// How many period-aligned points `[start, end]` holds.
pub fn points_in(start: i64, end: i64, period: u64) -> i64 {
    let p = period.max(1) as i64;
    if end < start {
        return 0;
    }
    end.div_euclid(p) - (start + p - 1).div_euclid(p) + 1
}

/// Seconds east of UTC of v2's naive `YYYY-MM-DD HH:MM:SS` times when `utc_offset` is not
/// set: Beijing time (UTC+8, no DST) in every region. The v2 service answers in Beijing time
/// whatever the region, and the vendor's own exporter writes v2 times in Beijing time
/// (`pkg/util/time.go`; /work/shared/API-NOTES.md, Tencent section).
pub const BEIJING_OFFSET_SECS: i32 = 8 * 3600;

/// Parses a configured offset like `+08:00`, `-05:30` or `+8` into seconds east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => (1, text),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None => (rest.parse::<i32>().ok()?, 0),
    };
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

fn offset(secs: i32) -> FixedOffset {
    FixedOffset::east_opt(secs).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

fn at(ts: i64, offset_secs: i32) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&offset(offset_secs))
}

/// RFC 3339 with the given offset, e.g. `2023-11-14T22:13:00+08:00`.
pub fn rfc3339(ts: i64, offset_secs: i32) -> String {
    at(ts, offset_secs)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `YYYY-MM-DD HH:MM:SS` in the given offset.
pub fn v2_time(ts: i64, offset_secs: i32) -> String {
    at(ts, offset_secs).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Parses `YYYY-MM-DD HH:MM:SS` (or with a `T`) in the given offset into Unix seconds.
pub fn parse_v2_time(text: &str, offset_secs: i32) -> Option<i64> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    offset(offset_secs)
        .from_local_datetime(&naive)
        .single()
        .map(|d| d.timestamp())
}

/// Parses RFC 3339 into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.timestamp())
}

/// The newest non-null point of a v2 answer as (Unix seconds, value). Point i is at
/// `startTime + i × period`; the answer's own `startTime`/`period` win over what was asked,
/// `null` and short arrays simply have fewer points.
pub fn v2_newest(
    data: &V2MonitorData,
    requested_start: i64,
    requested_period: u64,
    offset_secs: i32,
) -> Option<(f64, f64)> {
    let start = data
        .start_time
        .as_deref()
        .and_then(|t| parse_v2_time(t, offset_secs))
        .unwrap_or(requested_start);
    let period = data
        .period
        .filter(|p| *p >= 1.0)
        .map(|p| p as i64)
        .unwrap_or(requested_period as i64);
    data.data_points
        .iter()
        .enumerate()
        .rev()
        // Checked: an absurd `period` in the answer (1e308) must not overflow (found by
        // tests/fuzz_props.rs); such points are skipped.
        .find_map(|(i, v)| {
            let t = (i as i64).checked_mul(period)?.checked_add(start)?;
            v.map(|v| (t as f64, v))
        })
}

/// Splits `[start, end]` at local midnight so that no part spans two days (GetMetricStatistics
/// refuses that). The part holding `end` comes first: it has the newest points.
pub fn same_day_parts(start: i64, end: i64, offset_secs: i32) -> Vec<(i64, i64)> {
    let local_end = end + offset_secs as i64;
    let midnight = local_end.div_euclid(86_400) * 86_400 - offset_secs as i64;
    if start >= midnight {
        vec![(start, end)]
    } else {
        vec![(midnight, end), (start, midnight - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_three_periods_aligned() {
        // 2023-11-14T22:13:20Z
        assert_eq!(window(1_700_000_000, 60), (1_699_999_860, 1_699_999_980));
        assert_eq!(window(1_700_000_000, 300), (1_699_999_200, 1_699_999_800));
        assert_eq!(window(1_699_999_980, 60), (1_699_999_860, 1_699_999_980));
    }

    #[test]
    fn look_back_reaches_an_hour_within_1440_points_per_request() {
        let now = 1_700_000_000; // 22:13:20 UTC
        let (_, end) = window(now, 60);
        // Every series remembered: three periods, as always.
        assert_eq!(read_window(now, 60, 50, false), window(now, 60));
        // One instance, period 60: an hour, 60 points.
        let (start, e) = read_window(now, 60, 1, true);
        assert_eq!((e, points_in(start, e, 60)), (end, 60));
        assert_eq!(end - start, 3600 - 60);
        // 10 instances × 60 points = 600: within the limit.
        assert_eq!(points_in(read_window(now, 60, 10, true).0, end, 60), 60);
        // 50 instances: 1440 / 50 = 28 points each (1400), not 60 (3000).
        let (start, _) = read_window(now, 60, 50, true);
        assert_eq!(points_in(start, end, 60), 28);
        assert!(50 * points_in(start, end, 60) <= MAX_POINTS_PER_REQUEST);
        // 100 instances: 14 points each.
        assert_eq!(points_in(read_window(now, 60, 100, true).0, end, 60), 14);
        // Period 10: 360 points wanted; one instance may have them, 10 instances get 144.
        let (_, end10) = window(now, 10);
        assert_eq!(points_in(read_window(now, 10, 1, true).0, end10, 10), 360);
        assert_eq!(points_in(read_window(now, 10, 10, true).0, end10, 10), 144);
        // Hourly and daily metrics: three periods already reach back further than an hour.
        assert_eq!(read_window(now, 3600, 50, true), window(now, 3600));
        assert_eq!(read_window(now, 86400, 1, true), window(now, 86400));
        // 300 s: 12 points (an hour).
        let (start, end300) = read_window(now, 300, 1, true);
        assert_eq!(points_in(start, end300, 300), 12);
        // Never fewer than three points, whatever the batch.
        assert_eq!(points_in(read_window(now, 60, 1000, true).0, end, 60), 3);
    }

    #[test]
    fn a_delay_moves_the_window_back() {
        let now = 1_700_000_000; // 22:13:20 UTC
                                 // CDN: six minutes of delay, window end 22:07 instead of 22:13.
        assert_eq!(
            window(delayed(now, 360), 60),
            (1_699_999_500, 1_699_999_620)
        );
        assert_eq!(window(delayed(now, 0), 60), window(now, 60));
        assert_eq!(delayed(5, u64::MAX), 5 - i64::MAX);
    }

    #[test]
    fn points_are_counted_on_period_boundaries() {
        assert_eq!(points_in(0, 120, 60), 3);
        assert_eq!(points_in(1, 120, 60), 2);
        assert_eq!(points_in(1, 59, 60), 0);
        assert_eq!(points_in(120, 0, 60), 0);
    }

    #[test]
    fn formats_in_region_time() {
        let gz = BEIJING_OFFSET_SECS;
        assert_eq!(gz, 8 * 3600);
        assert_eq!(v2_time(1_700_000_000, gz), "2023-11-15 06:13:20");
        assert_eq!(rfc3339(1_700_000_000, gz), "2023-11-15T06:13:20+08:00");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20+00:00");
        assert_eq!(
            parse_v2_time("2023-11-15 06:13:20", gz),
            Some(1_700_000_000)
        );
        assert_eq!(parse_v2_time("garbage", gz), None);
        assert_eq!(
            parse_rfc3339("2023-11-15T06:13:20+08:00"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+08:00"), Some(28_800));
        assert_eq!(parse_offset("-05:30"), Some(-19_800));
        assert_eq!(parse_offset("8"), Some(28_800));
        assert_eq!(parse_offset("+25:00"), None);
        assert_eq!(parse_offset("x"), None);
    }

    fn v2(start: &str, period: Option<f64>, points: Vec<Option<f64>>) -> V2MonitorData {
        V2MonitorData {
            start_time: Some(start.into()),
            period,
            data_points: points,
            ..Default::default()
        }
    }

    #[test]
    fn v2_timestamps_are_reconstructed() {
        let gz = 8 * 3600;
        let start = parse_v2_time("2023-11-15 06:10:00", gz).unwrap();
        // Newest null (lag): the one before it is served.
        let d = v2(
            "2023-11-15 06:10:00",
            Some(60.0),
            vec![Some(1.0), Some(2.0), None],
        );
        assert_eq!(v2_newest(&d, 0, 300, gz), Some(((start + 60) as f64, 2.0)));
        // Short array, no startTime / period in the answer: what was asked is used.
        let d = v2("", None, vec![Some(7.0)]);
        assert_eq!(v2_newest(&d, start, 300, gz), Some((start as f64, 7.0)));
        // All null or empty.
        assert_eq!(
            v2_newest(&v2("", None, vec![None, None]), start, 60, gz),
            None
        );
        assert_eq!(v2_newest(&v2("", None, vec![]), start, 60, gz), None);
    }

    #[test]
    fn statistics_windows_never_span_two_days() {
        let gz = 8 * 3600;
        let t = |s: &str| parse_v2_time(s, gz).unwrap();
        let (s, e) = (t("2023-11-15 06:00:00"), t("2023-11-15 06:10:00"));
        assert_eq!(same_day_parts(s, e, gz), vec![(s, e)]);
        let (s, e) = (t("2023-11-14 23:55:00"), t("2023-11-15 00:05:00"));
        assert_eq!(
            same_day_parts(s, e, gz),
            vec![(t("2023-11-15 00:00:00"), e), (s, t("2023-11-14 23:59:59"))]
        );
        let (s, e) = (t("2023-11-14 23:50:00"), t("2023-11-15 00:00:00"));
        assert_eq!(
            same_day_parts(s, e, gz),
            vec![(e, e), (s, t("2023-11-14 23:59:59"))]
        );
    }
}
