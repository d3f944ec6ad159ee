//! Serde types of `GET {prefix}/{SubscriptionID}/metrics` and of the login answer.
//!
//! Lenient on purpose: unknown fields are ignored, every field is optional, numbers may come as
//! strings, and lists may arrive as a single object (the JAXB/Jettison habit of collapsing
//! one-element arrays). The answer may also be wrapped in `{"PlatformUsage": {...}}`, as the
//! response-body table of the vendor doc suggests.

use serde::{Deserialize, Deserializer};

/// The usage report of one subscription for one calendar month.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PlatformUsage {
    /// When the platform produced the report (RFC 3339).
    #[serde(
        rename = "ReportGeneratedTimestamp",
        alias = "reportGeneratedTimestamp"
    )]
    pub generated: Option<Timestamp>,
    /// The calendar month the report covers (start) up to its generation time (end).
    #[serde(rename = "ReportPeriod", alias = "reportPeriod")]
    pub period: Option<ReportPeriod>,
    /// One entry per MetricID.
    #[serde(
        rename = "UsageMetric",
        alias = "usageMetric",
        deserialize_with = "one_or_many"
    )]
    pub metrics: Vec<UsageMetric>,
}

/// `ReportPeriod`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReportPeriod {
    /// First instant of the month.
    #[serde(rename = "StartDate", alias = "startDate")]
    pub start: Option<Timestamp>,
    /// Report generation time (for a past month: its end).
    #[serde(rename = "EndDate", alias = "endDate")]
    pub end: Option<Timestamp>,
}

/// A timestamp as sent: RFC 3339 text, or (defensively) epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    /// Text such as `2016-02-23T19:29:45.018Z`.
    Text(String),
    /// Epoch milliseconds.
    Millis(f64),
}

impl Timestamp {
    /// Unix seconds, if the value can be read.
    pub fn unix_seconds(&self) -> Option<f64> {
        match self {
            Timestamp::Millis(ms) => Some(ms / 1000.0),
            Timestamp::Text(t) => parse_time(t),
        }
    }
}

/// Parses RFC 3339 and the common variants (`+0000` offsets, no zone = UTC, date only).
pub fn parse_time(text: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_millis() as f64 / 1000.0);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(d) = DateTime::parse_from_str(t, f) {
            return Some(d.timestamp_millis() as f64 / 1000.0);
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Some(d.and_utc().timestamp_millis() as f64 / 1000.0);
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp() as f64
    })
}

/// One `UsageMetric` entry; which fields are set depends on `MetricType`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsageMetric {
    /// E.g. `ApiCount`, `PlatformApiUsage`; an open set.
    #[serde(
        rename = "MetricID",
        alias = "MetricId",
        alias = "metricID",
        alias = "metricId"
    )]
    pub id: Option<String>,
    /// `Aggregate`, `PerDayWithAggregate`, `ListWithAggregate`, or something new.
    #[serde(rename = "MetricType", alias = "metricType")]
    pub kind: Option<String>,
    /// The value of an `Aggregate` metric.
    #[serde(
        rename = "MetricValue",
        alias = "metricValue",
        deserialize_with = "lenient_number"
    )]
    pub value: Option<f64>,
    /// Units of `value` (`Number`, `Millisecond`, `Byte`).
    #[serde(rename = "MetricUnits", alias = "metricUnits")]
    pub units: Option<String>,
    /// Per-day items of a `PerDayWithAggregate` metric.
    #[serde(
        rename = "DayUsage",
        alias = "dayUsage",
        deserialize_with = "one_or_many"
    )]
    pub days: Vec<DayUsage>,
    /// Totals of the period.
    #[serde(rename = "AggregateUsage", alias = "aggregateUsage")]
    pub aggregate: Option<AggregateUsage>,
    /// Names counted by a `ListWithAggregate` metric.
    #[serde(rename = "MetricItemList", alias = "metricItemList")]
    pub item_list: Option<MetricItemList>,
}

/// One day of a `PerDayWithAggregate` metric.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DayUsage {
    /// `YYYY-MM-DD` (a full timestamp is accepted and cut to its date).
    #[serde(rename = "Date", alias = "date")]
    pub date: Option<Timestamp>,
    /// The day's items.
    #[serde(
        rename = "MetricItem",
        alias = "metricItem",
        deserialize_with = "one_or_many"
    )]
    pub items: Vec<MetricItem>,
}

impl DayUsage {
    /// The day as `YYYY-MM-DD`, if readable.
    pub fn date_label(&self) -> Option<String> {
        match self.date.as_ref()? {
            Timestamp::Text(t) => {
                let t = t.trim();
                let day = t.get(..10)?;
                chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .ok()
                    .map(|d| d.format("%Y-%m-%d").to_string())
            }
            Timestamp::Millis(ms) => chrono::DateTime::from_timestamp_millis(*ms as i64)
                .map(|d| d.format("%Y-%m-%d").to_string()),
        }
    }
}

/// `AggregateUsage`: items (PerDayWithAggregate) or a single value (ListWithAggregate).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AggregateUsage {
    /// Totals per item name.
    #[serde(
        rename = "MetricItem",
        alias = "metricItem",
        deserialize_with = "one_or_many"
    )]
    pub items: Vec<MetricItem>,
    /// A single total.
    #[serde(
        rename = "MetricValue",
        alias = "metricValue",
        deserialize_with = "lenient_number"
    )]
    pub value: Option<f64>,
    /// Units of `value`.
    #[serde(rename = "MetricUnits", alias = "metricUnits")]
    pub units: Option<String>,
}

/// `{Name, MetricValue, MetricUnits}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricItem {
    /// E.g. `TotalUsageCount`, `TotalResponseTime`.
    #[serde(rename = "Name", alias = "name")]
    pub name: Option<String>,
    /// The value.
    #[serde(
        rename = "MetricValue",
        alias = "metricValue",
        deserialize_with = "lenient_number"
    )]
    pub value: Option<f64>,
    /// Its units.
    #[serde(rename = "MetricUnits", alias = "metricUnits")]
    pub units: Option<String>,
}

/// `MetricItemList {Name[], Type}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MetricItemList {
    /// The names (deployment zones, vanity URLs, ...).
    #[serde(rename = "Name", alias = "name", deserialize_with = "one_or_many")]
    pub names: Vec<String>,
    /// What the names are, e.g. `DeploymentZone`.
    #[serde(rename = "Type", alias = "type")]
    pub kind: Option<String>,
}

/// Decodes a metrics answer, bare or wrapped in `{"PlatformUsage": ...}`; errors name the
/// JSON path.
pub fn decode_usage(body: &[u8]) -> Result<PlatformUsage, crate::sources::PollError> {
    use crate::sources::PollError;
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| PollError::decode(format!("invalid JSON: {e}")))?;
    let mut prefix = "";
    if let Some(map) = value.as_object_mut() {
        let key = ["PlatformUsage", "platformUsage"]
            .into_iter()
            .find(|k| map.get(*k).is_some_and(|v| v.is_object()));
        if let Some(key) = key {
            prefix = "PlatformUsage.";
            value = map.remove(key).unwrap_or_default();
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        PollError::decode(format!(
            "invalid JSON at {prefix}{path}: {}",
            e.into_inner()
        ))
    })
}

/// The body of a `POST /api/login` answer (only what the exporter needs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LoginAnswer {
    /// Whether login completed.
    #[serde(rename = "loginStatus", alias = "LoginStatus")]
    pub login_status: Option<bool>,
    /// Tasks the user must complete in the portal first (password change, legal agreement, ...).
    #[serde(
        rename = "pendingTasks",
        alias = "PendingTasks",
        deserialize_with = "loose_names"
    )]
    pub pending_tasks: Vec<String>,
    /// Tenant id, when the platform reports it.
    #[serde(rename = "fedmemberID", alias = "FedMemberID", alias = "fedMemberID")]
    pub fedmemberid: Option<String>,
}

/// A list that may arrive as one bare item or `null`.
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(t)) => vec![t],
    })
}

/// A number, a numeric string, or null/empty (→ `None`).
fn lenient_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Text(String),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Num(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) if t.trim().is_empty() => Ok(None),
        // `"NaN"`, `"inf"` and `"1e400"` parse as floats but are no usage numbers.
        Some(Raw::Text(t)) => t
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {t:?}"))),
    }
}

/// Pending tasks as strings, objects with a name, or one bare value; anything else is kept as
/// its JSON text so it still shows up in the error message.
fn loose_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    fn name(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.trim().is_empty() => None,
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(map) => ["TaskName", "taskName", "name", "Name", "task"]
                .iter()
                .find_map(|k| map.get(*k).and_then(|v| v.as_str()).map(str::to_string))
                .or_else(|| Some(v.to_string())),
            other => Some(other.to_string()),
        }
    }
    Ok(match value {
        None => Vec::new(),
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(name).collect(),
        Some(serde_json::Value::Object(ref map)) if map.len() == 1 => {
            // {"PendingTask": [...]} (XML-style wrapper)
            match map.values().next() {
                Some(serde_json::Value::Array(items)) => items.iter().filter_map(name).collect(),
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
            dz.item_list.as_ref().unwrap().names,
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
        assert_eq!(m.item_list.as_ref().unwrap().names, vec!["only-one"]);
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
        let e = decode_usage(br#"{"UsageMetric": [{"MetricValue": "lots"}]}"#).unwrap_err();
        assert!(e.message.contains("UsageMetric"), "{}", e.message);
        let e = decode_usage(br#"{"UsageMetric": [{"MetricI"#).unwrap_err();
        assert_eq!(e.reason, crate::sources::ErrorReason::Decode);
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
        let a: LoginAnswer = serde_json::from_str(r#"{"loginStatus": true}"#).unwrap();
        assert!(a.pending_tasks.is_empty());
        let a: LoginAnswer =
            serde_json::from_str(r#"{"pendingTasks": ["2fa.required", "ChangePassword"]}"#)
                .unwrap();
        assert_eq!(a.pending_tasks, vec!["2fa.required", "ChangePassword"]);
        let a: LoginAnswer = serde_json::from_str(
            r#"{"PendingTasks": {"PendingTask": [{"TaskName": "AcceptLegal"}]}}"#,
        )
        .unwrap();
        assert_eq!(a.pending_tasks, vec!["AcceptLegal"]);
        let a: LoginAnswer = serde_json::from_str(r#"{"pendingTasks": "ChangePassword"}"#).unwrap();
        assert_eq!(a.pending_tasks, vec!["ChangePassword"]);
        let a: LoginAnswer = serde_json::from_str(r#"{"pendingTasks": null, "x": 1}"#).unwrap();
        assert!(a.pending_tasks.is_empty());
    }

    #[test]
    fn non_finite_number_texts_are_rejected() {
        // Found by tests/fuzz_props.rs: "NaN" became a NaN gauge/counter.
        for text in ["NaN", "inf", "-infinity", "1e400"] {
            let body = format!(r#"{{"UsageMetric": [{{"MetricValue": "{text}"}}]}}"#);
            assert!(decode_usage(body.as_bytes()).is_err(), "{text}");
        }
    }
}
