//! Serde types of `GET {prefix}/{SubscriptionID}/metrics` and of the login answer.
//!
//! Lenient on purpose, with the field policies of [`crate::base::lenient`]: unknown fields are
//! ignored, every field is optional, numbers may come as strings, lists may arrive as a single
//! object (the JAXB/Jettison habit of collapsing one-element arrays), and keys may come in
//! PascalCase or camelCase (`MetricID`, `metricId`, …): the tree is folded to lower-case keys
//! first ([`lenient::fold_keys`]), so the models name one spelling and a payload carrying two
//! spellings still decodes. The answer may also be wrapped in `{"PlatformUsage": {...}}`, as
//! the response-body table of the vendor doc suggests.
//!
//! Number policies, per field:
//! - `AggregateUsage.MetricItem[].MetricValue` (the month-to-date totals that become the
//!   `akana_api_*_total` counters): [`number::or_fail`]. An unreadable total fails the poll,
//!   so the target keeps its last good counters (until `stale_after`) and the error shows up in
//!   the poll-error metrics, instead of the counter silently disappearing for a while.
//! - `MetricValue` of a metric (the `Aggregate` counts of APIs, apps, users, …),
//!   `AggregateUsage.MetricValue` (the number of names of a `ListWithAggregate` list) and
//!   `DayUsage[].MetricItem[].MetricValue` (one day's gauge): [`number::or_absent`]. They are
//!   informational gauges, each independent of the others: one odd value costs only its own
//!   series.
//! - Timestamps: text (RFC 3339 and variants) or epoch milliseconds; anything else is absent.

use crate::base::lenient::{self, number, one_or_many, text};
use crate::base::PollError;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The usage report of one subscription for one calendar month.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PlatformUsage {
    /// When the platform produced the report (RFC 3339).
    #[serde(rename = "reportgeneratedtimestamp", deserialize_with = "timestamp")]
    pub generated: Option<Timestamp>,
    /// The calendar month the report covers (start) up to its generation time (end).
    #[serde(rename = "reportperiod")]
    pub period: Option<ReportPeriod>,
    /// One entry per MetricID.
    #[serde(rename = "usagemetric", deserialize_with = "one_or_many")]
    pub metrics: Vec<UsageMetric>,
}

/// `ReportPeriod`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReportPeriod {
    /// First instant of the month.
    #[serde(rename = "startdate", deserialize_with = "timestamp")]
    pub start: Option<Timestamp>,
    /// Report generation time (for a past month: its end).
    #[serde(rename = "enddate", deserialize_with = "timestamp")]
    pub end: Option<Timestamp>,
}

/// A timestamp as sent: RFC 3339 text, or (defensively) epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Timestamp {
    /// Text such as `2016-02-23T19:29:45.018Z`.
    Text(String),
    /// Epoch milliseconds.
    Millis(f64),
}

/// A [`Timestamp`] from text or a number (the lenient number rule); anything else is absent.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    Ok(
        match Option::<Value>::deserialize(d)?.unwrap_or(Value::Null) {
            Value::String(t) => Some(Timestamp::Text(t)),
            n @ Value::Number(_) => lenient::number_from(&n)
                .ok()
                .flatten()
                .map(Timestamp::Millis),
            _ => None,
        },
    )
}

impl Timestamp {
    /// Unix seconds, if the value can be read.
    pub fn unix_seconds(&self) -> Option<f64> {
        match self {
            Timestamp::Millis(ms) => Some(ms / 1000.0),
            Timestamp::Text(t) => parse_time(t),
        }
    }

    /// The instant in the offset it is written in (UTC for epoch milliseconds, zone-less text
    /// and bare dates), if readable.
    pub fn zoned(&self) -> Option<DateTime<FixedOffset>> {
        match self {
            Timestamp::Millis(ms) => {
                DateTime::from_timestamp_millis(*ms as i64).map(|d| d.fixed_offset())
            }
            Timestamp::Text(t) => zoned_text(t).map(|(d, _)| d),
        }
    }

    /// The UTC offset the text names (`Z`, `+02:00`, `+0200`); `None` for epoch milliseconds,
    /// zone-less text, bare dates and unreadable text.
    pub fn explicit_offset(&self) -> Option<FixedOffset> {
        match self {
            Timestamp::Millis(_) => None,
            Timestamp::Text(t) => match zoned_text(t)? {
                (d, true) => Some(*d.offset()),
                (_, false) => None,
            },
        }
    }
}

/// Parses RFC 3339 and the common variants (`+0000` offsets, no zone = UTC, date only).
pub fn parse_time(text: &str) -> Option<f64> {
    zoned_text(text).map(|(d, _)| d.timestamp_millis() as f64 / 1000.0)
}

/// [`parse_time`] keeping the offset the text is written in, and whether it names one (text
/// without a zone and bare dates are UTC, not named).
fn zoned_text(text: &str) -> Option<(DateTime<FixedOffset>, bool)> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some((d, true));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(d) = DateTime::parse_from_str(t, f) {
            return Some((d, true));
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Some((d.and_utc().fixed_offset(), false));
        }
    }
    let day = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
    Some((day.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset(), false))
}

/// One `UsageMetric` entry; which fields are set depends on `MetricType`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsageMetric {
    /// E.g. `ApiCount`, `PlatformApiUsage`; an open set.
    #[serde(rename = "metricid", deserialize_with = "text")]
    pub id: Option<String>,
    /// `Aggregate`, `PerDayWithAggregate`, `ListWithAggregate`, or something new.
    #[serde(rename = "metrictype", deserialize_with = "text")]
    pub kind: Option<String>,
    /// The value of an `Aggregate` metric (informational gauge: absent when unreadable).
    #[serde(rename = "metricvalue", deserialize_with = "number::or_absent")]
    pub value: Option<f64>,
    /// Units of `value` (`Number`, `Millisecond`, `Byte`).
    #[serde(rename = "metricunits", deserialize_with = "text")]
    pub units: Option<String>,
    /// Per-day items of a `PerDayWithAggregate` metric.
    #[serde(rename = "dayusage", deserialize_with = "one_or_many")]
    pub days: Vec<DayUsage>,
    /// Totals of the period.
    #[serde(rename = "aggregateusage")]
    pub aggregate: Option<AggregateUsage>,
    /// Names counted by a `ListWithAggregate` metric.
    #[serde(rename = "metricitemlist")]
    pub item_list: Option<MetricItemList>,
}

/// One day of a `PerDayWithAggregate` metric.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DayUsage {
    /// `YYYY-MM-DD` (a full timestamp is accepted and cut to its date).
    #[serde(rename = "date", deserialize_with = "timestamp")]
    pub date: Option<Timestamp>,
    /// The day's items.
    #[serde(rename = "metricitem", deserialize_with = "one_or_many")]
    pub items: Vec<DayItem>,
}

impl DayUsage {
    /// The day as `YYYY-MM-DD`, if readable.
    pub fn date_label(&self) -> Option<String> {
        self.day().map(|d| d.format("%Y-%m-%d").to_string())
    }

    /// The day: the date a text begins with (a full timestamp is cut to its date as written,
    /// in its own offset), or the UTC date of epoch milliseconds.
    pub fn day(&self) -> Option<NaiveDate> {
        match self.date.as_ref()? {
            Timestamp::Text(t) => NaiveDate::parse_from_str(t.trim().get(..10)?, "%Y-%m-%d").ok(),
            Timestamp::Millis(ms) => {
                DateTime::from_timestamp_millis(*ms as i64).map(|d| d.date_naive())
            }
        }
    }

    /// Start of the day (Unix seconds): 00:00 of [`Self::day`] in the offset the date names
    /// (`2026-03-01T00:00:00+02:00`), else in `zone` (the report's offset; the vendor writes
    /// bare `YYYY-MM-DD` dates), else UTC. Epoch milliseconds are UTC days.
    pub fn day_start(&self, zone: Option<FixedOffset>) -> Option<f64> {
        let date = self.date.as_ref()?;
        let offset = match date {
            Timestamp::Millis(_) => None,
            Timestamp::Text(_) => date.explicit_offset().or(zone),
        }
        .unwrap_or(FixedOffset::east_opt(0)?);
        let midnight = self.day()?.and_hms_opt(0, 0, 0)?;
        let start = midnight.and_local_timezone(offset).single()?;
        Some(start.timestamp() as f64)
    }
}

/// `AggregateUsage`: items (PerDayWithAggregate) or a single value (ListWithAggregate).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AggregateUsage {
    /// Totals per item name.
    #[serde(rename = "metricitem", deserialize_with = "one_or_many")]
    pub items: Vec<MetricItem>,
    /// A single total (the number of names of a list: informational, absent when unreadable).
    #[serde(rename = "metricvalue", deserialize_with = "number::or_absent")]
    pub value: Option<f64>,
    /// Units of `value`.
    #[serde(rename = "metricunits", deserialize_with = "text")]
    pub units: Option<String>,
}

/// `{Name, MetricValue, MetricUnits}` of `AggregateUsage`: a month-to-date total.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricItem {
    /// E.g. `TotalUsageCount`, `TotalResponseTime`.
    #[serde(rename = "name", deserialize_with = "text")]
    pub name: Option<String>,
    /// The value; a counter is built from it, so an unreadable one fails the decode (module doc).
    #[serde(rename = "metricvalue", deserialize_with = "number::or_fail")]
    pub value: Option<f64>,
    /// Its units.
    #[serde(rename = "metricunits", deserialize_with = "text")]
    pub units: Option<String>,
}

/// `{Name, MetricValue, MetricUnits}` of one `DayUsage`: one day's gauge.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DayItem {
    /// E.g. `TotalUsageCount`, `TotalResponseTime`.
    #[serde(rename = "name", deserialize_with = "text")]
    pub name: Option<String>,
    /// The value; absent when unreadable (the other days and the totals stay).
    #[serde(rename = "metricvalue", deserialize_with = "number::or_absent")]
    pub value: Option<f64>,
    /// Its units.
    #[serde(rename = "metricunits", deserialize_with = "text")]
    pub units: Option<String>,
}

/// `MetricItemList {Name[], Type}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricItemList {
    /// The names (deployment zones, vanity URLs, ...) as sent; read with [`Self::names`].
    #[serde(rename = "name", deserialize_with = "one_or_many")]
    pub names: Vec<Value>,
    /// What the names are, e.g. `DeploymentZone`.
    #[serde(rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
}

impl MetricItemList {
    /// The names by the [`lenient::text_from`] rule: a `null`, list or object is skipped.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.names.iter().filter_map(lenient::text_from)
    }
}

/// Decodes a metrics answer, bare or wrapped in `{"PlatformUsage": ...}`; errors name the
/// JSON path in the spelling the payload used.
pub fn decode_usage(body: &[u8]) -> Result<PlatformUsage, PollError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| PollError::decode(format!("invalid JSON: {e}")))?;
    lenient::fold_keys(&mut value);
    let mut wrapped = false;
    if let Some(map) = value.as_object_mut() {
        if map.get(WRAPPER).is_some_and(Value::is_object) {
            wrapped = true;
            value = map.remove(WRAPPER).unwrap_or_default();
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut folded: Vec<Step> = Vec::new();
        if wrapped {
            folded.push(Step::Key(WRAPPER.into()));
        }
        folded.extend(e.path().iter().map(Step::of));
        let path = original_path(body, &folded);
        PollError::decode(format!("invalid JSON at {path}: {}", e.into_inner()))
    })
}

/// The folded key of the `{"PlatformUsage": ...}` wrapper.
const WRAPPER: &str = "platformusage";

/// One step of a JSON path, keys folded to lower case.
enum Step {
    Key(String),
    Index(usize),
    Other,
}

impl Step {
    fn of(segment: &serde_path_to_error::Segment) -> Step {
        use serde_path_to_error::Segment;
        match segment {
            Segment::Map { key } => Step::Key(key.clone()),
            Segment::Seq { index } => Step::Index(*index),
            Segment::Enum { variant } => Step::Key(variant.clone()),
            Segment::Unknown => Step::Other,
        }
    }
}

/// Renders a folded path with the keys as the payload spelled them (the spelling
/// [`lenient::fold_keys`] kept: the first one, in sorted order, with a non-null value).
fn original_path(body: &[u8], path: &[Step]) -> String {
    let raw: Value = serde_json::from_slice(body).unwrap_or_default();
    let mut at = Some(&raw);
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                let map = at.and_then(Value::as_object);
                let spelled = map.and_then(|m| {
                    let mut matching = m.iter().filter(|(k, _)| k.to_ascii_lowercase() == *key);
                    let first = matching.clone().next();
                    matching.find(|(_, v)| !v.is_null()).or(first)
                });
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(spelled.map_or(key.as_str(), |(k, _)| k.as_str()));
                at = spelled.map(|(_, v)| v);
            }
            Step::Index(i) => {
                out.push_str(&format!("[{i}]"));
                at = at.and_then(|v| v.get(*i));
            }
            Step::Other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
                at = None;
            }
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// The body of a `POST /api/login` answer (only what the exporter needs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LoginAnswer {
    /// Whether login completed.
    #[serde(rename = "loginstatus", deserialize_with = "lenient::flag")]
    pub login_status: Option<bool>,
    /// Tasks the user must complete in the portal first (password change, legal agreement, ...).
    #[serde(rename = "pendingtasks", deserialize_with = "loose_names")]
    pub pending_tasks: Vec<String>,
    /// Tenant id, when the platform reports it.
    #[serde(rename = "fedmemberid", deserialize_with = "lenient::trimmed_text")]
    pub fedmemberid: Option<String>,
}

/// Decodes a login answer; an empty or unreadable body is an answer without any of its fields
/// (the token cookie decides).
pub fn decode_login(body: &[u8]) -> LoginAnswer {
    serde_json::from_slice(body)
        .ok()
        .and_then(|v| lenient::from_folded(v).ok())
        .unwrap_or_default()
}

/// Pending tasks as strings, objects with a name, or one bare value; anything else is kept as
/// its JSON text so it still shows up in the error message.
fn loose_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    fn name(v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::Object(map) => ["taskname", "name", "task"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str).map(str::to_string))
                .or_else(|| Some(v.to_string())),
            other => lenient::text_from(other).or_else(|| Some(other.to_string())),
        }
    }
    Ok(match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(name).collect(),
        Some(Value::Object(ref map)) if map.len() == 1 => {
            // {"PendingTask": [...]} (XML-style wrapper)
            match map.values().next() {
                Some(Value::Array(items)) => items.iter().filter_map(name).collect(),
                Some(inner) => name(inner).into_iter().collect(),
                None => Vec::new(),
            }
        }
        Some(other) => name(&other).into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../tests/fixtures/akana/vendor-sample.json");

    #[test]
    fn parses_the_vendor_sample() {
        let u = decode_usage(SAMPLE.as_bytes()).unwrap();
        assert_eq!(u.metrics.len(), 17);
        assert_eq!(
            u.generated.as_ref().unwrap().unix_seconds(),
            Some(1456255785.018)
        );
        let p = u.period.as_ref().unwrap();
        assert_eq!(p.start.as_ref().unwrap().unix_seconds(), Some(1454284800.0));
        let platform = &u.metrics[1];
        assert_eq!(platform.id.as_deref(), Some("PlatformApiUsage"));
        assert_eq!(platform.days.len(), 3);
        assert_eq!(platform.days[0].date_label().as_deref(), Some("2016-02-21"));
        assert_eq!(platform.days[0].items[1].value, Some(279868.0));
        assert_eq!(platform.aggregate.as_ref().unwrap().items.len(), 4);
        let dz = &u.metrics[14];
        assert_eq!(
            dz.item_list.as_ref().unwrap().names().collect::<Vec<_>>(),
            vec!["DZ-nd", "DZ-nd2"]
        );
        assert_eq!(dz.aggregate.as_ref().unwrap().value, Some(2.0));
    }

    #[test]
    fn survives_odd_shapes() {
        // Wrapped, single objects instead of arrays, numbers as strings, nulls, unknown fields,
        // a full timestamp as Date, an offset without colon.
        let body = r#"{"PlatformUsage": {
            "ReportPeriod": {"StartDate": "2026-11-01T00:00:00+0000", "Extra": 1},
            "UsageMetric": {
                "MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate",
                "DayUsage": {"Date": "2026-11-02T00:00:00Z",
                             "MetricItem": {"Name": "TotalUsageCount", "MetricValue": "12", "MetricUnits": "Number"}},
                "AggregateUsage": {"MetricItem": [{"Name": "TotalUsageCount", "MetricValue": null}]},
                "MetricItemList": {"Name": "only-one", "Type": null},
                "NewField": [1, 2]
            }
        }}"#;
        let u = decode_usage(body.as_bytes()).unwrap();
        assert_eq!(
            u.period.unwrap().start.unwrap().unix_seconds(),
            Some(1793491200.0)
        );
        let m = &u.metrics[0];
        assert_eq!(m.days[0].date_label().as_deref(), Some("2026-11-02"));
        assert_eq!(m.days[0].items[0].value, Some(12.0));
        assert_eq!(m.aggregate.as_ref().unwrap().items[0].value, None);
        assert_eq!(
            m.item_list.as_ref().unwrap().names().collect::<Vec<_>>(),
            vec!["only-one"]
        );
    }

    #[test]
    fn empty_and_missing_parts_are_fine() {
        let u = decode_usage(b"{}").unwrap();
        assert!(u.metrics.is_empty() && u.period.is_none() && u.generated.is_none());
        let u = decode_usage(br#"{"UsageMetric": [], "ReportPeriod": null}"#).unwrap();
        assert!(u.metrics.is_empty());
        let u = decode_usage(br#"{"UsageMetric": [{"MetricID": "X", "DayUsage": null}]}"#).unwrap();
        assert_eq!(u.metrics[0].id.as_deref(), Some("X"));
        assert!(u.metrics[0].days.is_empty());
    }

    #[test]
    fn wrong_types_name_the_path() {
        // A total a counter is built from (or_fail); the path keeps the payload's spelling.
        let e = decode_usage(
            br#"{"usageMetric": [{"AggregateUsage": {"MetricItem": [{"MetricValue": "lots"}]}}]}"#,
        )
        .unwrap_err();
        assert!(
            e.message.contains("at usageMetric[0].AggregateUsage.MetricItem[0].MetricValue: expected a number, got \"lots\""),
            "{}",
            e.message
        );
        let e = decode_usage(br#"{"platformUsage": {"ReportPeriod": 5}}"#).unwrap_err();
        assert!(
            e.message.contains("at platformUsage.ReportPeriod"),
            "{}",
            e.message
        );
        let e = decode_usage(br#"{"UsageMetric": [{"MetricI"#).unwrap_err();
        assert_eq!(e.reason, crate::base::ErrorReason::Decode);
    }

    #[test]
    fn timestamps_in_many_spellings() {
        assert_eq!(parse_time("2016-02-01T00:00:00Z"), Some(1454284800.0));
        assert_eq!(parse_time("2016-02-01T01:00:00+01:00"), Some(1454284800.0));
        assert_eq!(
            parse_time("2016-02-01T00:00:00.000+0000"),
            Some(1454284800.0)
        );
        assert_eq!(parse_time("2016-02-01T00:00:00"), Some(1454284800.0));
        assert_eq!(parse_time("2016-02-01"), Some(1454284800.0));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(
            Timestamp::Millis(1454284800000.0).unix_seconds(),
            Some(1454284800.0)
        );
    }

    #[test]
    fn login_answer_shapes() {
        let a = decode_login(r#"{"loginStatus": true}"#.as_bytes());
        assert!(a.pending_tasks.is_empty());
        let a = decode_login(r#"{"pendingTasks": ["2fa.required", "ChangePassword"]}"#.as_bytes());
        assert_eq!(a.pending_tasks, vec!["2fa.required", "ChangePassword"]);
        let a = decode_login(
            r#"{"PendingTasks": {"PendingTask": [{"TaskName": "AcceptLegal"}]}}"#.as_bytes(),
        );
        assert_eq!(a.pending_tasks, vec!["AcceptLegal"]);
        let a = decode_login(r#"{"pendingTasks": "ChangePassword"}"#.as_bytes());
        assert_eq!(a.pending_tasks, vec!["ChangePassword"]);
        let a = decode_login(r#"{"pendingTasks": null, "x": 1}"#.as_bytes());
        assert!(a.pending_tasks.is_empty());
        let a = decode_login(br#"{"LoginStatus": "false", "loginStatus": null}"#);
        assert_eq!(a.login_status, Some(false));
        assert!(decode_login(b"  ").login_status.is_none());
        assert!(decode_login(b"<html>").pending_tasks.is_empty());
    }

    #[test]
    fn non_finite_number_texts_are_no_numbers() {
        // Found by tests/fuzz_props.rs: "NaN" became a NaN gauge/counter. Now a total fails the
        // decode (or_fail), an informational value is absent (or_absent).
        for text in ["NaN", "inf", "-infinity", "1e400", "lots"] {
            let total = format!(
                r#"{{"UsageMetric": [{{"AggregateUsage": {{"MetricItem": {{"MetricValue": "{text}"}}}}}}]}}"#
            );
            assert!(decode_usage(total.as_bytes()).is_err(), "{text}");
            let body = format!(
                r#"{{"UsageMetric": [{{"MetricValue": "{text}", "AggregateUsage": {{"MetricValue": "{text}"}},
                    "DayUsage": {{"MetricItem": {{"MetricValue": "{text}"}}}}}}]}}"#
            );
            let m = &decode_usage(body.as_bytes()).unwrap().metrics[0];
            assert_eq!(m.value, None, "{text}");
            assert_eq!(m.aggregate.as_ref().unwrap().value, None, "{text}");
            assert_eq!(m.days[0].items[0].value, None, "{text}");
        }
    }

    #[test]
    fn both_spellings_of_a_field_decode() {
        // serde aliases rejected this as a duplicate field; the documented spelling wins.
        let body = br#"{"UsageMetric": [{"MetricID": "ApiCount", "metricId": "other",
            "MetricType": "Aggregate", "metricValue": 3, "MetricValue": null,
            "MetricItemList": {"Name": ["a", 7, null, {"x": 1}], "type": "Zone"}}],
            "reportPeriod": {"StartDate": 1454284800000}}"#;
        let u = decode_usage(body).unwrap();
        let m = &u.metrics[0];
        assert_eq!(m.id.as_deref(), Some("ApiCount"));
        assert_eq!(m.value, Some(3.0), "a null spelling never hides a value");
        let list = m.item_list.as_ref().unwrap();
        assert_eq!(list.names().collect::<Vec<_>>(), vec!["a", "7"]);
        assert_eq!(list.kind.as_deref(), Some("Zone"));
        assert_eq!(
            u.period.unwrap().start.unwrap().unix_seconds(),
            Some(1454284800.0)
        );
        // Timestamps that are neither text nor a number are absent, not a failed report.
        let u = decode_usage(br#"{"ReportGeneratedTimestamp": {"x": 1}}"#).unwrap();
        assert!(u.generated.is_none());
    }
}
