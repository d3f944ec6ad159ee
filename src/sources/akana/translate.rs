//! Translation of a subscription usage report into metric families (pure: model in, families out).
//!
//! - `Aggregate` → `akana_metric{metric_id, units}`.
//! - `PerDayWithAggregate` → month-to-date counters from `AggregateUsage` (`_created` = report
//!   period start, so the reset at the month rollover is visible as a new start time) and
//!   `akana_daily_*` gauges from `DayUsage` of the report's own month.
//! - `ListWithAggregate` → the aggregate as `akana_metric` and one `akana_metric_item_info` per name.
//! - Anything else (new MetricTypes, new item names, units we cannot convert) →
//!   `akana_usage_item{metric_id, item, units}` (with `date` for per-day items).
//! - The newest `DayUsage` date of the report's month → `akana_usage_latest_day_timestamp_seconds`
//!   (00:00 of that day in the platform's offset), for alerts on data that stops arriving.
//!
//! - The configured `limits` → `akana_metric_limit{metric_id}` ([`with_limits`]).
//!
//! [`report`] is a function of the payload (and `item_info`) alone; the target's constant
//! `subscription` label goes first on every series afterwards ([`with_subscription`]), so the
//! endpoint table's parse functions need no target.

use super::model::{DayItem, MetricItem, PlatformUsage, Timestamp, UsageMetric};
use crate::snapshot::{Family, Labels, Snapshot};
use std::collections::BTreeMap;

/// Options of a translation for one target.
#[derive(Debug, Clone)]
pub struct Options {
    /// Value of the `subscription` label.
    pub subscription: String,
    /// Export `akana_metric_item_info`.
    pub item_info: bool,
}

/// The item names with a dedicated family, and how their units convert to base units.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Calls,
    ResponseTime,
    RequestBytes,
    ResponseBytes,
}

impl Known {
    const ALL: [Known; 4] = [
        Known::Calls,
        Known::ResponseTime,
        Known::RequestBytes,
        Known::ResponseBytes,
    ];

    fn from_name(name: &str) -> Option<Known> {
        match name {
            "TotalUsageCount" => Some(Known::Calls),
            "TotalResponseTime" => Some(Known::ResponseTime),
            "TotalRequestMessageSize" => Some(Known::RequestBytes),
            "TotalResponseMessageSize" => Some(Known::ResponseBytes),
            _ => None,
        }
    }

    /// Divisor to base units for the given upstream units, `None` when they do not fit
    /// (a division keeps `279868 ms` exactly `279.868 s`).
    fn divisor(self, units: Option<&str>) -> Option<f64> {
        let units = units.map(|u| u.trim().to_ascii_lowercase());
        match (self, units.as_deref()) {
            (Known::Calls, None | Some("number" | "count" | "")) => Some(1.0),
            (Known::ResponseTime, None | Some("millisecond" | "milliseconds" | "ms")) => Some(1e3),
            (Known::ResponseTime, Some("second" | "seconds" | "s")) => Some(1.0),
            (Known::ResponseTime, Some("microsecond" | "microseconds" | "us")) => Some(1e6),
            (Known::RequestBytes | Known::ResponseBytes, None | Some("byte" | "bytes")) => {
                Some(1.0)
            }
            _ => None,
        }
    }

    fn counter(self) -> (&'static str, &'static str) {
        match self {
            Known::Calls => ("akana_api_calls_total", "API calls in the current report month so far (PerDayWithAggregate TotalUsageCount); resets at the start of each month, which _created marks."),
            Known::ResponseTime => ("akana_api_response_time_seconds_total", "Summed response time of the API calls in the current report month so far, in seconds (TotalResponseTime); resets monthly."),
            Known::RequestBytes => ("akana_api_request_bytes_total", "Summed request message size of the API calls in the current report month so far, in bytes (TotalRequestMessageSize); resets monthly."),
            Known::ResponseBytes => ("akana_api_response_bytes_total", "Summed response message size of the API calls in the current report month so far, in bytes (TotalResponseMessageSize); resets monthly."),
        }
    }

    fn daily(self) -> (&'static str, &'static str) {
        match self {
            Known::Calls => ("akana_daily_api_calls", "API calls on one day (label date, UTC day as reported) of the current report month."),
            Known::ResponseTime => ("akana_daily_api_response_time_seconds", "Summed response time of the API calls on one day of the current report month, in seconds."),
            Known::RequestBytes => ("akana_daily_api_request_bytes", "Summed request message size of the API calls on one day of the current report month, in bytes."),
            Known::ResponseBytes => ("akana_daily_api_response_bytes", "Summed response message size of the API calls on one day of the current report month, in bytes."),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Translates a report for one target: [`report`], then [`with_subscription`].
pub fn translate(usage: &PlatformUsage, options: &Options) -> Snapshot {
    with_subscription(report(usage, options.item_info), &options.subscription)
}

/// `akana_metric_limit{metric_id}`: the limits configured for the target (`limits:`), the
/// licensed or contracted amounts the platform does not report, to divide usage by.
pub fn limits(limits: &BTreeMap<String, f64>) -> Family {
    let mut family = Family::gauge(
        "akana_metric_limit",
        "Limit of a MetricID as configured for the target (limits), e.g. licensed APIs or contracted calls per report month; the platform reports usage, not limits.",
    );
    for (id, limit) in limits {
        family.push_gauge(Labels::new().with("metric_id", id.as_str()), *limit);
    }
    family
}

/// A report's snapshot with the configured [`limits`] added (unchanged without limits).
pub fn with_limits(snapshot: Snapshot, configured: &BTreeMap<String, f64>) -> Snapshot {
    if configured.is_empty() {
        return snapshot;
    }
    let mut families = snapshot.families;
    families.push(limits(configured));
    Snapshot::from_families(families)
}

/// Puts `subscription` first on every series.
pub fn with_subscription(mut snapshot: Snapshot, subscription: &str) -> Snapshot {
    for family in &mut snapshot.families {
        for sample in &mut family.samples {
            sample
                .labels
                .0
                .insert(0, ("subscription".into(), subscription.to_string()));
        }
    }
    snapshot
}

/// Translates a report without the `subscription` label; with `item_info`, the names of
/// `MetricItemList`s become `akana_metric_item_info` series.
pub fn report(usage: &PlatformUsage, item_info: bool) -> Snapshot {
    let base = Labels::new;
    let period_start = usage
        .period
        .as_ref()
        .and_then(|p| p.start.as_ref())
        .and_then(|t| t.unix_seconds());
    let period_end = usage
        .period
        .as_ref()
        .and_then(|p| p.end.as_ref())
        .and_then(|t| t.unix_seconds());
    let generated = usage.generated.as_ref().and_then(|t| t.unix_seconds());
    let start = usage.period.as_ref().and_then(|p| p.start.as_ref());
    // Only days of the report's own month are exported (≤ 31 dates).
    let month_prefix = start.and_then(report_month);
    // The offset the platform writes its period in: the day of a bare `YYYY-MM-DD` date
    // starts at 00:00 there.
    let zone = start.and_then(Timestamp::explicit_offset);

    let mut metric = Family::gauge(
        "akana_metric",
        "Value of an Aggregate metric (counts of APIs, apps, users, identity providers, ...) or the aggregate of a ListWithAggregate metric in the current report month, in the units the platform names.",
    );
    let mut item_info_family = Family::gauge(
        "akana_metric_item_info",
        "One series per name listed by a ListWithAggregate metric (deployment zones, vanity URLs, ...); the value is always 1.",
    );
    let mut usage_item = Family::gauge(
        "akana_usage_item",
        "A usage value the exporter has no dedicated series for (a new MetricType, item name or unit), passed through as reported; per-day items carry a date label.",
    );
    let mut counters: Vec<Family> = Known::ALL
        .iter()
        .map(|k| {
            let (name, help) = k.counter();
            Family::counter(name, help)
        })
        .collect();
    let mut daily: Vec<Family> = Known::ALL
        .iter()
        .map(|k| {
            let (name, help) = k.daily();
            Family::gauge(name, help)
        })
        .collect();

    for m in &usage.metrics {
        let Some(id) = m.id.as_deref().filter(|id| !id.is_empty()) else {
            continue;
        };
        let with_id = || base().with("metric_id", id);
        let pass = |family: &mut Family, item: &str, units: Option<&str>, value: f64| {
            family.push_gauge(
                with_id()
                    .with("item", item)
                    .with("units", units.unwrap_or("")),
                value,
            );
        };
        match m.kind.as_deref() {
            Some("Aggregate") => {
                if let Some(v) = m.value {
                    metric.push_gauge(with_id().with("units", m.units.as_deref().unwrap_or("")), v);
                }
            }
            Some("ListWithAggregate") => {
                if let Some(agg) = &m.aggregate {
                    if let Some(v) = agg.value {
                        metric.push_gauge(
                            with_id().with("units", agg.units.as_deref().unwrap_or("")),
                            v,
                        );
                    }
                    for item in &agg.items {
                        push_item(item.parts(), |name, units, v| {
                            pass(&mut usage_item, name, units, v)
                        });
                    }
                }
                if let Some(v) = m.value {
                    pass(&mut usage_item, "MetricValue", m.units.as_deref(), v);
                }
            }
            Some("PerDayWithAggregate") => {
                if let Some(agg) = &m.aggregate {
                    for item in &agg.items {
                        let (Some(name), Some(v)) = (item.name.as_deref(), item.value) else {
                            continue;
                        };
                        match known_value(name, item.units.as_deref(), v) {
                            Some((k, value)) => {
                                counters[k.index()].push_counter(with_id(), value, period_start)
                            }
                            None => pass(&mut usage_item, name, item.units.as_deref(), v),
                        }
                    }
                    if let Some(v) = agg.value {
                        pass(&mut usage_item, "AggregateUsage", agg.units.as_deref(), v);
                    }
                }
                for day in &m.days {
                    let Some(date) = day.date_label() else {
                        continue;
                    };
                    if matches!(&month_prefix, Some(p) if !date.starts_with(p.as_str())) {
                        continue;
                    }
                    for item in &day.items {
                        let (Some(name), Some(v)) = (item.name.as_deref(), item.value) else {
                            continue;
                        };
                        match known_value(name, item.units.as_deref(), v) {
                            Some((k, value)) => daily[k.index()]
                                .push_gauge(with_id().with("date", date.as_str()), value),
                            None => usage_item.push_gauge(
                                with_id()
                                    .with("item", name)
                                    .with("units", item.units.as_deref().unwrap_or(""))
                                    .with("date", date.as_str()),
                                v,
                            ),
                        }
                    }
                }
            }
            _ => pass_through_unknown(m, &month_prefix, &mut usage_item, with_id),
        }
        if item_info {
            if let Some(list) = &m.item_list {
                for name in list.names() {
                    item_info_family.push_gauge(
                        with_id()
                            .with("type", list.kind.as_deref().unwrap_or(""))
                            .with("name", name.as_str()),
                        1.0,
                    );
                }
            }
        }
    }

    let mut families = vec![metric, item_info_family];
    families.extend(counters);
    families.extend(daily);
    families.push(usage_item);
    // The newest day of every DayUsage the report exports (of its own month).
    let latest_day = usage
        .metrics
        .iter()
        .filter(|m| m.id.as_deref().is_some_and(|id| !id.is_empty()))
        .filter(|m| !matches!(m.kind.as_deref(), Some("Aggregate" | "ListWithAggregate")))
        .flat_map(|m| &m.days)
        .filter(|d| {
            d.date_label().is_some_and(
                |date| !matches!(&month_prefix, Some(p) if !date.starts_with(p.as_str())),
            )
        })
        .filter_map(|d| d.day_start(zone))
        .reduce(f64::max);
    let mut push_ts = |name: &'static str, help: &'static str, value: Option<f64>| {
        if let Some(v) = value {
            let mut f = Family::gauge(name, help);
            f.push_gauge(base(), v);
            families.push(f);
        }
    };
    push_ts(
        "akana_report_period_start_timestamp_seconds",
        "Start of the report period (the first instant of the current calendar month) as Unix time.",
        period_start,
    );
    push_ts(
        "akana_report_period_end_timestamp_seconds",
        "End of the report period (for the current month: when the report was cut) as Unix time.",
        period_end,
    );
    push_ts(
        "akana_report_generated_timestamp_seconds",
        "When the platform generated the usage report, as Unix time.",
        generated,
    );
    push_ts(
        "akana_usage_latest_day_timestamp_seconds",
        "Start of the newest DayUsage date of the report (00:00 in the platform's offset) as Unix time; today's figures are partial.",
        latest_day,
    );
    Snapshot::from_families(families)
}

/// The calendar month (`YYYY-MM-`) of a report whose period starts at `start`: the month that
/// begins within 14 hours (the largest UTC offset) of `start` as written. So the first instant
/// of March on a platform at +02:00 is March whether it is written `2026-03-01T00:00:00+02:00`
/// or `2026-02-28T22:00:00Z`, and a start at -05:00 written in UTC (`2026-03-01T05:00:00Z`)
/// stays March.
fn report_month(start: &Timestamp) -> Option<String> {
    let written = start.zoned()?;
    let month = written + chrono::Duration::hours(14);
    Some(month.format("%Y-%m-").to_string())
}

/// A known item converted to base units, or `None` to pass it through.
fn known_value(name: &str, units: Option<&str>, value: f64) -> Option<(Known, f64)> {
    // A negative total cannot be a counter (nor a daily count): passed through as reported.
    if value < 0.0 {
        return None;
    }
    let known = Known::from_name(name)?;
    let divisor = known.divisor(units)?;
    Some((known, value / divisor))
}

/// Name, value and units of an item.
type Parts<'a> = (Option<&'a str>, Option<f64>, Option<&'a str>);

impl MetricItem {
    fn parts(&self) -> Parts<'_> {
        (self.name.as_deref(), self.value, self.units.as_deref())
    }
}

impl DayItem {
    fn parts(&self) -> Parts<'_> {
        (self.name.as_deref(), self.value, self.units.as_deref())
    }
}

fn push_item((name, value, units): Parts<'_>, mut push: impl FnMut(&str, Option<&str>, f64)) {
    if let (Some(name), Some(v)) = (name, value) {
        push(name, units, v);
    }
}

/// A MetricType the exporter does not know: every value lands in `akana_usage_item`.
fn pass_through_unknown(
    m: &UsageMetric,
    month_prefix: &Option<String>,
    usage_item: &mut Family,
    with_id: impl Fn() -> Labels,
) {
    let mut pass = |item: &str, units: Option<&str>, value: f64, date: Option<&str>| {
        let mut labels = with_id()
            .with("item", item)
            .with("units", units.unwrap_or(""));
        if let Some(d) = date {
            labels.push("date", d);
        }
        usage_item.push_gauge(labels, value);
    };
    if let Some(v) = m.value {
        pass("MetricValue", m.units.as_deref(), v, None);
    }
    if let Some(agg) = &m.aggregate {
        if let Some(v) = agg.value {
            pass("AggregateUsage", agg.units.as_deref(), v, None);
        }
        for item in &agg.items {
            push_item(item.parts(), |n, u, v| pass(n, u, v, None));
        }
    }
    for day in &m.days {
        let Some(date) = day.date_label() else {
            continue;
        };
        if matches!(month_prefix, Some(p) if !date.starts_with(p.as_str())) {
            continue;
        }
        for item in &day.items {
            push_item(item.parts(), |n, u, v| pass(n, u, v, Some(&date)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{assert_golden, Value};
    use crate::sources::akana::model::decode_usage;
    use serde_json::Value as J;

    const SAMPLE: &str = include_str!("../../../tests/fixtures/akana/vendor-sample.json");

    fn options() -> Options {
        Options {
            subscription: "acmepaymentscorp".into(),
            item_info: true,
        }
    }

    fn value(snap: &Snapshot, family: &str, labels: &[(&str, &str)]) -> Option<Value> {
        let f = snap.family(family)?;
        let found: Vec<_> = f
            .samples
            .iter()
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert!(found.len() <= 1, "{family} {labels:?} matches {found:?}");
        found.first().map(|s| s.value.clone())
    }

    fn gauge(snap: &Snapshot, family: &str, labels: &[(&str, &str)]) -> f64 {
        match value(snap, family, labels) {
            Some(Value::Gauge(v)) => v,
            other => panic!("{family} {labels:?}: {other:?}"),
        }
    }

    #[test]
    fn vendor_sample_golden() {
        let usage = decode_usage(SAMPLE.as_bytes()).unwrap();
        let snap = translate(&usage, &options());
        assert_golden(
            "tests/fixtures/akana/golden/vendor-sample.txt",
            &snap.to_golden_text(),
        );
    }

    /// Walks the raw vendor JSON independently of the model and checks that every number in it
    /// lands in the right series, converted to base units.
    #[test]
    fn every_number_of_the_vendor_sample_lands_in_its_series() {
        let usage = decode_usage(SAMPLE.as_bytes()).unwrap();
        let snap = translate(&usage, &options());
        let raw: J = serde_json::from_str(SAMPLE).unwrap();
        let start = 1454284800.0; // 2016-02-01T00:00:00Z
        let mut checked = 0;
        let family_of = |name: &str| match name {
            "TotalUsageCount" => ("akana_api_calls", "akana_daily_api_calls", 1.0),
            "TotalResponseTime" => (
                "akana_api_response_time_seconds",
                "akana_daily_api_response_time_seconds",
                1000.0,
            ),
            "TotalRequestMessageSize" => (
                "akana_api_request_bytes",
                "akana_daily_api_request_bytes",
                1.0,
            ),
            "TotalResponseMessageSize" => (
                "akana_api_response_bytes",
                "akana_daily_api_response_bytes",
                1.0,
            ),
            other => panic!("unexpected item {other}"),
        };
        for m in raw["UsageMetric"].as_array().unwrap() {
            let id = m["MetricID"].as_str().unwrap();
            match m["MetricType"].as_str().unwrap() {
                "Aggregate" => {
                    let units = m["MetricUnits"].as_str().unwrap();
                    let got = gauge(
                        &snap,
                        "akana_metric",
                        &[("metric_id", id), ("units", units)],
                    );
                    assert_eq!(got, m["MetricValue"].as_f64().unwrap(), "{id}");
                    checked += 1;
                }
                "PerDayWithAggregate" => {
                    for item in m["AggregateUsage"]["MetricItem"].as_array().unwrap() {
                        let (counter, _, divisor) = family_of(item["Name"].as_str().unwrap());
                        let expected = item["MetricValue"].as_f64().unwrap() / divisor;
                        match value(&snap, counter, &[("metric_id", id)]) {
                            Some(Value::Counter { total, created }) => {
                                assert_eq!(total, expected, "{counter} {id}");
                                assert_eq!(created, Some(start));
                            }
                            other => panic!("{counter} {id}: {other:?}"),
                        }
                        checked += 1;
                    }
                    for day in m["DayUsage"].as_array().unwrap() {
                        let date = day["Date"].as_str().unwrap();
                        for item in day["MetricItem"].as_array().unwrap() {
                            let (_, daily, divisor) = family_of(item["Name"].as_str().unwrap());
                            let got = gauge(&snap, daily, &[("metric_id", id), ("date", date)]);
                            assert_eq!(
                                got,
                                item["MetricValue"].as_f64().unwrap() / divisor,
                                "{daily} {id} {date}"
                            );
                            checked += 1;
                        }
                    }
                }
                "ListWithAggregate" => {
                    let agg = &m["AggregateUsage"];
                    let got = gauge(
                        &snap,
                        "akana_metric",
                        &[
                            ("metric_id", id),
                            ("units", agg["MetricUnits"].as_str().unwrap()),
                        ],
                    );
                    assert_eq!(got, agg["MetricValue"].as_f64().unwrap(), "{id}");
                    checked += 1;
                    let kind = m["MetricItemList"]["Type"].as_str().unwrap();
                    for name in m["MetricItemList"]["Name"].as_array().unwrap() {
                        let got = gauge(
                            &snap,
                            "akana_metric_item_info",
                            &[
                                ("metric_id", id),
                                ("type", kind),
                                ("name", name.as_str().unwrap()),
                            ],
                        );
                        assert_eq!(got, 1.0);
                        checked += 1;
                    }
                }
                other => panic!("unexpected type {other}"),
            }
        }
        // 12 aggregates + 3 list aggregates, 2×4 counters, (3+1)×4 daily values, 7 list names.
        assert_eq!(checked, 12 + 3 + 8 + 16 + 7);
        let ts = |name| gauge(&snap, name, &[("subscription", "acmepaymentscorp")]);
        assert_eq!(ts("akana_report_period_start_timestamp_seconds"), start);
        assert_eq!(
            ts("akana_report_period_end_timestamp_seconds"),
            1456255784.849
        );
        assert_eq!(
            ts("akana_report_generated_timestamp_seconds"),
            1456255785.018
        );
        // The newest DayUsage date, 2016-02-23 (a bare date; the period is written in UTC).
        assert_eq!(ts("akana_usage_latest_day_timestamp_seconds"), 1456185600.0);
        // Nothing unexplained: no pass-through series for the documented sample, and every
        // series carries the subscription label.
        assert!(snap.family("akana_usage_item").is_none());
        let series = snap.series_count();
        assert_eq!(series, checked + 4, "no series beyond the checked ones");
        for f in &snap.families {
            for s in &f.samples {
                assert_eq!(s.labels.get("subscription"), Some("acmepaymentscorp"));
                assert!(s.labels.get("target").is_none());
            }
        }
    }

    #[test]
    fn unknown_types_items_and_units_pass_through() {
        let body = r#"{
          "ReportPeriod": {"StartDate": "2026-11-01T00:00:00Z"},
          "UsageMetric": [
            {"MetricID": "Quota", "MetricType": "Threshold", "MetricValue": 90, "MetricUnits": "Percent",
             "AggregateUsage": {"MetricValue": 3, "MetricUnits": "Number",
                                "MetricItem": [{"Name": "Used", "MetricValue": 5, "MetricUnits": "Number"}]},
             "DayUsage": [{"Date": "2026-11-03", "MetricItem": [{"Name": "Used", "MetricValue": 2}]},
                          {"Date": "2026-10-31", "MetricItem": [{"Name": "Used", "MetricValue": 9}]}],
             "MetricItemList": {"Name": ["a"], "Type": "Thing"}},
            {"MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate",
             "AggregateUsage": {"MetricItem": [
                {"Name": "TotalUsageCount", "MetricValue": 10, "MetricUnits": "Number"},
                {"Name": "TotalErrorCount", "MetricValue": 2, "MetricUnits": "Number"},
                {"Name": "TotalResponseTime", "MetricValue": 7, "MetricUnits": "Fortnight"},
                {"Name": "TotalRequestMessageSize", "MetricValue": null}]},
             "DayUsage": [{"Date": "2026-11-03", "MetricItem": [
                {"Name": "TotalErrorCount", "MetricValue": 1, "MetricUnits": "Number"},
                {"Name": "TotalResponseTime", "MetricValue": 1500, "MetricUnits": "Millisecond"}]}]},
            {"MetricType": "Aggregate", "MetricValue": 1},
            {"MetricID": "NoValue", "MetricType": "Aggregate"}
          ]}"#;
        let usage = decode_usage(body.as_bytes()).unwrap();
        let snap = translate(&usage, &options());
        let item = |labels: &[(&str, &str)]| gauge(&snap, "akana_usage_item", labels);
        assert_eq!(
            item(&[
                ("metric_id", "Quota"),
                ("item", "MetricValue"),
                ("units", "Percent")
            ]),
            90.0
        );
        assert_eq!(
            item(&[("metric_id", "Quota"), ("item", "AggregateUsage")]),
            3.0
        );
        let quota_used = snap
            .family("akana_usage_item")
            .unwrap()
            .samples
            .iter()
            .filter(|s| {
                s.labels.get("metric_id") == Some("Quota") && s.labels.get("item") == Some("Used")
            })
            .count();
        assert_eq!(
            quota_used, 2,
            "aggregate and 2026-11-03; the October day is dropped"
        );
        assert_eq!(
            item(&[
                ("metric_id", "Quota"),
                ("item", "Used"),
                ("date", "2026-11-03")
            ]),
            2.0
        );
        assert_eq!(
            gauge(
                &snap,
                "akana_metric_item_info",
                &[("metric_id", "Quota"), ("type", "Thing"), ("name", "a")]
            ),
            1.0
        );
        assert_eq!(
            item(&[
                ("metric_id", "PlatformApiUsage"),
                ("item", "TotalResponseTime"),
                ("units", "Fortnight")
            ]),
            7.0,
            "unconvertible units pass through instead of being mis-scaled"
        );
        assert_eq!(
            item(&[
                ("metric_id", "PlatformApiUsage"),
                ("item", "TotalErrorCount"),
                ("date", "2026-11-03")
            ]),
            1.0
        );
        assert_eq!(
            gauge(
                &snap,
                "akana_daily_api_response_time_seconds",
                &[("date", "2026-11-03")]
            ),
            1.5
        );
        assert!(value(&snap, "akana_api_response_time_seconds", &[]).is_none());
        assert!(
            snap.family("akana_api_request_bytes").is_none(),
            "null value → no series"
        );
        assert!(value(&snap, "akana_metric", &[("metric_id", "NoValue")]).is_none());
        assert_eq!(snap.family("akana_metric").map(|f| f.samples.len()), None);
        assert!(snap
            .family("akana_report_generated_timestamp_seconds")
            .is_none());
        assert!(snap
            .family("akana_report_period_end_timestamp_seconds")
            .is_none());
    }

    #[test]
    fn configured_limits_join_the_usage_they_cap() {
        let usage = decode_usage(SAMPLE.as_bytes()).unwrap();
        let configured: BTreeMap<String, f64> = [
            ("ApiCount".to_string(), 200.0),
            ("PlatformApiUsage".to_string(), 5e6),
        ]
        .into();
        let snap = with_subscription(
            with_limits(report(&usage, true), &configured),
            "acmepaymentscorp",
        );
        assert_golden(
            "tests/fixtures/akana/golden/vendor-sample-limits.txt",
            &snap.to_golden_text(),
        );
        // The labels a rule matches on (`on (target, subscription, metric_id)`): the limit
        // carries exactly those, the usage the same plus `units` (aggregates) or `date`.
        let limit = snap.family("akana_metric_limit").unwrap();
        let keys = |s: &crate::snapshot::Sample| -> Vec<String> {
            s.labels.iter().map(|(k, _)| k.to_string()).collect()
        };
        assert!(limit
            .samples
            .iter()
            .all(|s| keys(s) == ["subscription", "metric_id"]));
        let api_count = snap
            .family("akana_metric")
            .unwrap()
            .samples
            .iter()
            .find(|s| s.labels.get("metric_id") == Some("ApiCount"))
            .unwrap();
        assert_eq!(keys(api_count), ["subscription", "metric_id", "units"]);
        let daily = &snap.family("akana_daily_api_calls").unwrap().samples[0];
        assert_eq!(keys(daily), ["subscription", "metric_id", "date"]);
        // Without limits nothing changes.
        let plain = report(&usage, true);
        assert_eq!(with_limits(plain.clone(), &BTreeMap::new()), plain);
    }

    #[test]
    fn item_info_can_be_switched_off() {
        let usage = decode_usage(SAMPLE.as_bytes()).unwrap();
        let snap = translate(
            &usage,
            &Options {
                item_info: false,
                ..options()
            },
        );
        assert!(snap.family("akana_metric_item_info").is_none());
        assert!(snap.family("akana_metric").is_some());
    }

    fn month(start: &str, end: &str, days: &[(&str, f64)]) -> PlatformUsage {
        let day_usage: Vec<J> = days
            .iter()
            .map(|(d, v)| serde_json::json!({"Date": d, "MetricItem": [{"Name": "TotalUsageCount", "MetricValue": v, "MetricUnits": "Number"}]}))
            .collect();
        let total: f64 = days.iter().map(|(_, v)| v).sum();
        let body = serde_json::json!({
            "ReportPeriod": {"StartDate": start, "EndDate": end},
            "UsageMetric": [{"MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate",
                "DayUsage": day_usage,
                "AggregateUsage": {"MetricItem": [{"Name": "TotalUsageCount", "MetricValue": total, "MetricUnits": "Number"}]}}]
        });
        decode_usage(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn month_rollover_resets_counters_with_a_new_created_and_drops_old_days() {
        let feb = month(
            "2026-02-01T00:00:00Z",
            "2026-02-28T23:55:00Z",
            &[("2026-02-27", 500.0), ("2026-02-28", 700.0)],
        );
        let mar = month(
            "2026-03-01T00:00:00Z",
            "2026-03-01T00:05:00Z",
            &[("2026-03-01", 4.0)],
        );
        let before = translate(&feb, &options());
        let after = translate(&mar, &options());
        assert_eq!(
            value(&before, "akana_api_calls", &[]),
            Some(Value::Counter {
                total: 1200.0,
                created: Some(1769904000.0)
            })
        );
        assert_eq!(
            value(&after, "akana_api_calls", &[]),
            Some(Value::Counter {
                total: 4.0,
                created: Some(1772323200.0)
            }),
            "the total drops and _created moves to the new month: a counter reset"
        );
        let dates: Vec<_> = after
            .family("akana_daily_api_calls")
            .unwrap()
            .samples
            .iter()
            .map(|s| s.labels.get("date").unwrap().to_string())
            .collect();
        assert_eq!(dates, vec!["2026-03-01"]);
        // A platform that (wrongly) still lists last month's days with the new period: dropped.
        let mixed = month(
            "2026-03-01T00:00:00Z",
            "2026-03-01T00:05:00Z",
            &[("2026-02-28", 700.0), ("2026-03-01", 4.0)],
        );
        let snap = translate(&mixed, &options());
        assert_eq!(
            snap.family("akana_daily_api_calls").unwrap().samples.len(),
            1
        );
    }

    /// The newest day's start, if the report has one.
    fn latest_day(snap: &Snapshot) -> Option<f64> {
        value(snap, "akana_usage_latest_day_timestamp_seconds", &[]).map(|v| match v {
            Value::Gauge(v) => v,
            other => panic!("{other:?}"),
        })
    }

    fn unix(text: &str) -> f64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp() as f64
    }

    #[test]
    fn positive_offset_report_just_after_midnight_utc_golden() {
        // A platform at +02:00 read at 00:05 UTC on 2 April (02:05 there): the month began at
        // 22:00 UTC on 31 March, and the newest (partial) day 2 April began at 22:00 UTC on
        // 1 April. A (wrongly listed) 31 March is not a day of the report's month.
        let body = include_str!("../../../tests/fixtures/akana/positive-offset.json");
        let snap = translate(&decode_usage(body.as_bytes()).unwrap(), &options());
        assert_golden(
            "tests/fixtures/akana/golden/positive-offset.txt",
            &snap.to_golden_text(),
        );
        assert_eq!(latest_day(&snap), Some(unix("2026-04-01T22:00:00Z")));
        let dates: Vec<_> = snap
            .family("akana_daily_api_calls")
            .unwrap()
            .samples
            .iter()
            .map(|s| s.labels.get("date").unwrap().to_string())
            .collect();
        assert_eq!(dates, ["2026-04-01", "2026-04-02"]);
    }

    #[test]
    fn the_report_month_is_the_platform_month_however_its_start_is_written() {
        for start in [
            "2026-04-01T00:00:00+02:00",
            "2026-03-31T22:00:00Z",
            "2026-04-01T05:00:00Z",
            "2026-04-01T00:00:00-05:00",
            "2026-04-01",
        ] {
            let u = month(start, "x", &[("2026-03-31", 1.0), ("2026-04-01", 2.0)]);
            let snap = translate(&u, &options());
            let daily = snap.family("akana_daily_api_calls").unwrap();
            assert_eq!(daily.samples.len(), 1, "{start}");
            assert_eq!(daily.samples[0].labels.get("date"), Some("2026-04-01"));
        }
    }

    #[test]
    fn latest_day_starts_at_midnight_in_the_dates_offset() {
        let day = |date: J, start: &str| {
            let body = serde_json::json!({
                "ReportPeriod": {"StartDate": start},
                "UsageMetric": [{"MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate",
                    "DayUsage": [{"Date": date, "MetricItem": []}, {"Date": "2026-04-01"}]}]
            });
            latest_day(&translate(
                &decode_usage(body.to_string().as_bytes()).unwrap(),
                &options(),
            ))
        };
        // A bare date is a day in the offset the report period is written in.
        assert_eq!(
            day(J::from("2026-04-03"), "2026-04-01T00:00:00+02:00"),
            Some(unix("2026-04-02T22:00:00Z"))
        );
        assert_eq!(
            day(J::from("2026-04-03"), "2026-04-01T00:00:00-05:00"),
            Some(unix("2026-04-03T05:00:00Z"))
        );
        assert_eq!(
            day(J::from("2026-04-03"), "2026-04-01T00:00:00Z"),
            Some(unix("2026-04-03T00:00:00Z"))
        );
        // A date that carries an offset starts at midnight there (cut to its date as written).
        assert_eq!(
            day(J::from("2026-04-03T00:00:00+0530"), "2026-04-01T00:00:00Z"),
            Some(unix("2026-04-02T18:30:00Z"))
        );
        assert_eq!(
            day(
                J::from("2026-04-03T13:45:00+02:00"),
                "2026-04-01T00:00:00+02:00"
            ),
            Some(unix("2026-04-02T22:00:00Z"))
        );
        // Epoch milliseconds are UTC days; a zone-less start means UTC.
        assert_eq!(
            day(J::from(1_775_217_600_000u64), "2026-04-01T00:00:00+02:00"),
            Some(unix("2026-04-03T00:00:00Z"))
        );
        assert_eq!(
            day(J::from("2026-04-03"), "2026-04-01T00:00:00"),
            Some(unix("2026-04-03T00:00:00Z"))
        );
        // An unreadable or out-of-month date does not count: the other day is the newest.
        assert_eq!(
            day(J::from("soon"), "2026-04-01T00:00:00Z"),
            Some(unix("2026-04-01T00:00:00Z"))
        );
        assert_eq!(
            day(J::from("2026-05-01"), "2026-04-01T00:00:00Z"),
            Some(unix("2026-04-01T00:00:00Z"))
        );
    }

    #[test]
    fn no_day_usage_no_latest_day() {
        for body in [
            r#"{"UsageMetric": [{"MetricID": "ApiCount", "MetricType": "Aggregate", "MetricValue": 3}]}"#,
            r#"{"UsageMetric": [{"MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate", "DayUsage": []}]}"#,
            r#"{"UsageMetric": [{"MetricType": "PerDayWithAggregate", "DayUsage": [{"Date": "2026-04-01"}]}]}"#,
            r#"{"ReportPeriod": {"StartDate": "2026-04-01T00:00:00Z"},
                "UsageMetric": [{"MetricID": "P", "MetricType": "PerDayWithAggregate", "DayUsage": [{"Date": "2026-03-31"}]}]}"#,
            r#"{"UsageMetric": [{"MetricID": "P", "MetricType": "PerDayWithAggregate", "DayUsage": [{"Date": null}]}]}"#,
        ] {
            let snap = translate(&decode_usage(body.as_bytes()).unwrap(), &options());
            assert_eq!(latest_day(&snap), None, "{body}");
        }
    }

    #[test]
    fn without_period_start_counters_have_no_created_and_all_days_stay() {
        let mut u = month(
            "2026-02-01T00:00:00Z",
            "x",
            &[("2026-01-31", 1.0), ("2026-02-01", 2.0)],
        );
        u.period = None;
        let snap = translate(&u, &options());
        assert_eq!(
            value(&snap, "akana_api_calls", &[]),
            Some(Value::Counter {
                total: 3.0,
                created: None
            })
        );
        assert_eq!(
            snap.family("akana_daily_api_calls").unwrap().samples.len(),
            2
        );
        assert!(snap
            .family("akana_report_period_start_timestamp_seconds")
            .is_none());
    }
}
