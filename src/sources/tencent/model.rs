//! Serde models of the Tencent Cloud Monitor answers (v2 and API 3.0), lenient about the
//! shapes seen in the wild: numbers as strings, `null` arrays, `uint` (sic) for `unit`,
//! periods as numbers or strings, keys in more than one case (`Name`/`name`), missing optional
//! fields.
//!
//! Every answer is decoded through [`decode`]: its keys are folded to lower case first
//! ([`lenient::fold_keys`]), so the models declare lower-case names and a payload carrying two
//! spellings of a key still decodes. Field policies come from [`crate::base::lenient`]; only
//! the list-of-numbers and period shapes peculiar to this API are read here, on top of
//! [`lenient::number_from`]. Every value here is a gauge reading, a period or a label: nothing
//! is summed into a counter, so an unreadable number is absent (`number::or_absent`) and never
//! costs the rest of the answer — except the v2 status `code`, which decides whether the answer
//! is data at all.

use crate::base::lenient::{self, number_from};
use crate::base::PollError;
use crate::upstream::decode_json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Decodes an answer body into `T` after folding its keys to lower case; a decode error names
/// the JSON path of the failing field.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, PollError> {
    from_tree(tree(body)?)
}

/// An answer body as a JSON tree with its keys folded to lower case.
pub fn tree(body: &[u8]) -> Result<Value, PollError> {
    let mut tree: Value = decode_json(body)?;
    lenient::fold_keys(&mut tree);
    Ok(tree)
}

/// Decodes a (folded) tree, or a reference to one, into `T`.
pub fn from_tree<'de, T, D>(tree: D) -> Result<T, PollError>
where
    T: Deserialize<'de>,
    D: Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            PollError::decode(format!("invalid JSON: {inner}"))
        } else {
            PollError::decode(format!("invalid JSON at {path}: {inner}"))
        }
    })
}

/// The `number::or_absent` rule on one list item.
fn number_or_absent(value: &Value) -> Option<f64> {
    number_from(value).unwrap_or(None)
}

/// A list of optional numbers (`Values`, `Timestamps`, `dataPoints`): each item a number or
/// absent; `null` or a non-array is an empty list (one odd list costs only its own instance).
fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<f64>>, D::Error> {
    Ok(opt_numbers(d)?.unwrap_or_default())
}

/// Like [`numbers`], but a missing, `null` or non-array list stays `None` (to tell "not
/// requested" from "empty").
fn opt_numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Option<f64>>>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Array(items)) => Some(items.iter().map(number_or_absent).collect()),
        _ => None,
    })
}

/// A period in whole seconds: a number (or numeric string) that is whole and not negative.
fn whole_seconds(value: &Value) -> Option<u64> {
    number_or_absent(value)
        .filter(|v| *v >= 0.0 && v.fract() == 0.0)
        .map(|v| v as u64)
}

/// Periods as `[60, "300"]`, `"60,300"`, `60` or `null`: whole seconds, ascending, each once;
/// items that are no whole number of seconds are skipped.
fn periods<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let mut out: Vec<u64> = match Option::<Value>::deserialize(d)?.unwrap_or(Value::Null) {
        Value::Array(items) => items.iter().filter_map(whole_seconds).collect(),
        Value::String(s) => s
            .split(',')
            .filter_map(|p| whole_seconds(&Value::String(p.into())))
            .collect(),
        other => whole_seconds(&other).into_iter().collect(),
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A list of texts (`StatType`): a missing or `null` list is empty, items that are no text
/// ([`lenient::text_from`]) are skipped.
fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Vec<Value> = lenient::list(d)?;
    Ok(items.iter().filter_map(lenient::text_from).collect())
}

// ---------------------------------------------------------------------------------------------
// API 3.0

/// The `{"Response": {...}}` envelope of every API 3.0 answer.
#[derive(Debug, Deserialize)]
pub struct V3Envelope<T> {
    /// The payload, or the error.
    #[serde(rename = "response")]
    pub response: T,
}

/// The error part of an API 3.0 answer (present only on failure).
#[derive(Debug, Default, Deserialize)]
pub struct V3ErrorPart {
    /// The error, if the call failed.
    #[serde(rename = "error", default)]
    pub error: Option<V3Error>,
    /// Request id for support tickets.
    #[serde(rename = "requestid", default, deserialize_with = "lenient::text")]
    pub request_id: Option<String>,
}

/// `{"Code": "...", "Message": "..."}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V3Error {
    /// Error code, e.g. `AuthFailure.SignatureFailure`.
    #[serde(rename = "code", default, deserialize_with = "lenient::text")]
    pub code: Option<String>,
    /// Vendor text.
    #[serde(rename = "message", default, deserialize_with = "lenient::text")]
    pub message: Option<String>,
}

/// One `{Name, Value}` dimension (also spelled `{name, value}`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct V3Dimension {
    /// Dimension name, e.g. `InstanceId`.
    #[serde(rename = "name", default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    /// Dimension value.
    #[serde(rename = "value", default, deserialize_with = "lenient::text")]
    pub value: Option<String>,
}

/// `GetMonitorData` answer.
#[derive(Debug, Default, Deserialize)]
pub struct V3MonitorData {
    /// Statistic period in seconds.
    #[serde(
        rename = "period",
        default,
        deserialize_with = "lenient::number::or_absent"
    )]
    pub period: Option<f64>,
    /// Metric name.
    #[serde(rename = "metricname", default, deserialize_with = "lenient::text")]
    pub metric_name: Option<String>,
    /// One entry per instance.
    #[serde(rename = "datapoints", default, deserialize_with = "lenient::list")]
    pub data_points: Vec<V3DataPoint>,
}

/// The points of one instance. Missing points are omitted; `Timestamps` and `Values` align.
#[derive(Debug, Default, Deserialize)]
pub struct V3DataPoint {
    /// The instance's dimensions (order not guaranteed).
    #[serde(rename = "dimensions", default, deserialize_with = "lenient::list")]
    pub dimensions: Vec<V3Dimension>,
    /// Unix seconds of each point.
    #[serde(rename = "timestamps", default, deserialize_with = "numbers")]
    pub timestamps: Vec<Option<f64>>,
    /// Values (the default statistic).
    #[serde(rename = "values", default, deserialize_with = "numbers")]
    pub values: Vec<Option<f64>>,
    /// Averages, when `SpecifyStatistics` asked for them.
    #[serde(rename = "avgvalues", default, deserialize_with = "opt_numbers")]
    pub avg_values: Option<Vec<Option<f64>>>,
    /// Maxima, when asked for.
    #[serde(rename = "maxvalues", default, deserialize_with = "opt_numbers")]
    pub max_values: Option<Vec<Option<f64>>>,
    /// Minima, when asked for.
    #[serde(rename = "minvalues", default, deserialize_with = "opt_numbers")]
    pub min_values: Option<Vec<Option<f64>>>,
}

impl V3DataPoint {
    /// The values of statistic `stat` (`avg`/`max`/`min` when requested, else `Values`).
    pub fn values_for(&self, stat: &str) -> &[Option<f64>] {
        let specific = match stat {
            "avg" => self.avg_values.as_deref(),
            "max" => self.max_values.as_deref(),
            "min" => self.min_values.as_deref(),
            _ => None,
        };
        match specific {
            Some(v) if !v.is_empty() => v,
            _ => &self.values,
        }
    }

    /// The newest point with a value: (Unix seconds, value).
    pub fn newest(&self, stat: &str) -> Option<(f64, f64)> {
        newest_pair(
            self.timestamps.iter().copied(),
            self.values_for(stat).iter().copied(),
        )
    }
}

/// The newest (largest timestamp) pair where both timestamp and value are present.
pub fn newest_pair(
    timestamps: impl Iterator<Item = Option<f64>>,
    values: impl Iterator<Item = Option<f64>>,
) -> Option<(f64, f64)> {
    timestamps
        .zip(values)
        .filter_map(|(t, v)| Some((t?, v?)))
        .fold(None, |best: Option<(f64, f64)>, (t, v)| match best {
            Some((bt, _)) if bt >= t => best,
            _ => Some((t, v)),
        })
}

/// `DescribeBaseMetrics` answer.
#[derive(Debug, Default, Deserialize)]
pub struct V3BaseMetrics {
    /// The metrics of the namespace.
    #[serde(rename = "metricset", default, deserialize_with = "lenient::list")]
    pub metric_set: Vec<V3BaseMetric>,
}

/// One metric of `DescribeBaseMetrics`.
#[derive(Debug, Default, Deserialize)]
pub struct V3BaseMetric {
    /// Namespace.
    #[serde(rename = "namespace", default, deserialize_with = "lenient::text")]
    pub namespace: Option<String>,
    /// Metric name.
    #[serde(rename = "metricname", default, deserialize_with = "lenient::text")]
    pub metric_name: Option<String>,
    /// Unit, e.g. `%`.
    #[serde(rename = "unit", default, deserialize_with = "lenient::text")]
    pub unit: Option<String>,
    /// Supported periods (seconds).
    #[serde(rename = "period", default, deserialize_with = "periods")]
    pub period: Vec<u64>,
    /// Per period: the statistic types.
    #[serde(rename = "periods", default, deserialize_with = "lenient::list")]
    pub periods: Vec<V3PeriodStats>,
}

/// `{"Period": "60", "StatType": ["max", "avg"]}`.
#[derive(Debug, Default, Deserialize)]
pub struct V3PeriodStats {
    /// Period in seconds.
    #[serde(
        rename = "period",
        default,
        deserialize_with = "lenient::number::or_absent"
    )]
    pub period: Option<f64>,
    /// Statistic types available at this period.
    #[serde(rename = "stattype", default, deserialize_with = "texts")]
    pub stat_type: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// v2

/// The common `{code, message}` of v2 answers.
#[derive(Debug, Default, Deserialize)]
pub struct V2Status {
    /// 0 = success; missing counts as 0. A code that is no number fails the decode
    /// (`number::or_fail`): it would otherwise pass an error answer off as an empty success.
    #[serde(
        rename = "code",
        default,
        deserialize_with = "lenient::number::or_fail"
    )]
    pub code: Option<f64>,
    /// Vendor text, e.g. `(-503) ...`.
    #[serde(rename = "message", default, deserialize_with = "lenient::text")]
    pub message: Option<String>,
}

/// v2 `GetMonitorData` / `GetMetricStatistics` answer. No timestamps: point i is at
/// `startTime + i × period`.
#[derive(Debug, Default, Deserialize)]
pub struct V2MonitorData {
    /// Metric name.
    #[serde(rename = "metricname", default, deserialize_with = "lenient::text")]
    pub metric_name: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS` in the region's time zone.
    #[serde(rename = "starttime", default, deserialize_with = "lenient::text")]
    pub start_time: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`.
    #[serde(rename = "endtime", default, deserialize_with = "lenient::text")]
    pub end_time: Option<String>,
    /// Seconds.
    #[serde(
        rename = "period",
        default,
        deserialize_with = "lenient::number::or_absent"
    )]
    pub period: Option<f64>,
    /// Values, `null` where missing; may be shorter than the window or `null` entirely.
    #[serde(rename = "datapoints", default, deserialize_with = "numbers")]
    pub data_points: Vec<Option<f64>>,
}

/// v2 `DescribeMetrics` answer.
#[derive(Debug, Default, Deserialize)]
pub struct V2Metrics {
    /// Metrics of the namespace.
    #[serde(rename = "metricset", default, deserialize_with = "lenient::list")]
    pub metric_set: Vec<V2Metric>,
}

/// One metric of v2 `DescribeMetrics`.
#[derive(Debug, Default, Deserialize)]
pub struct V2Metric {
    /// Namespace, e.g. `qce/cvm`.
    #[serde(rename = "namespace", default, deserialize_with = "lenient::text")]
    pub namespace: Option<String>,
    /// Metric name, e.g. `cpu_usage`.
    #[serde(rename = "metricname", default, deserialize_with = "lenient::text")]
    pub metric_name: Option<String>,
    /// Unit.
    #[serde(rename = "unit", default, deserialize_with = "lenient::text")]
    pub unit: Option<String>,
    /// The unit as the API spells it in places (`uint`); [`V2Metric::unit`] wins when both
    /// are sent (a separate field, not an alias, so that both never fail the decode).
    #[serde(rename = "uint", default, deserialize_with = "lenient::text")]
    pub uint: Option<String>,
    /// Supported periods (seconds).
    #[serde(rename = "period", default, deserialize_with = "periods")]
    pub period: Vec<u64>,
    /// Statistic per period (`{"60": "max"}`) or a list of statistics, where given.
    #[serde(rename = "stattype", default)]
    pub stat_type: Option<V2StatType>,
}

impl V2Metric {
    /// The unit under either spelling, empty when not given.
    pub fn unit(&self) -> String {
        self.unit
            .clone()
            .or_else(|| self.uint.clone())
            .unwrap_or_default()
    }
}

/// The shapes `statType` takes.
#[derive(Debug, Clone, PartialEq)]
pub enum V2StatType {
    /// Period → statistic.
    PerPeriod(BTreeMap<String, String>),
    /// Statistics valid for every period.
    List(Vec<String>),
    /// A single statistic.
    One(String),
}

/// Any shape decodes: statistics that are no text ([`lenient::text_from`]) are left out, and a
/// `statType` that is neither object, list nor text is a list of none.
impl<'de> Deserialize<'de> for V2StatType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Object(map) => V2StatType::PerPeriod(
                map.iter()
                    .filter_map(|(period, stat)| Some((period.clone(), lenient::text_from(stat)?)))
                    .collect(),
            ),
            Value::Array(items) => {
                V2StatType::List(items.iter().filter_map(lenient::text_from).collect())
            }
            other => match lenient::text_from(&other) {
                Some(one) => V2StatType::One(one),
                None => V2StatType::List(Vec::new()),
            },
        })
    }
}

impl V2StatType {
    /// The statistics valid at `period` seconds.
    pub fn for_period(&self, period: u64) -> Vec<String> {
        match self {
            V2StatType::PerPeriod(map) => map
                .get(&period.to_string())
                .map(|s| vec![s.clone()])
                .unwrap_or_default(),
            V2StatType::List(l) => l.clone(),
            V2StatType::One(s) => vec![s.clone()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_monitor_data_with_lag_and_odd_shapes() {
        let body = br#"{"Response": {"Period": 60, "MetricName": "CPUUsage", "StartTime": "x",
          "DataPoints": [
            {"Dimensions": [{"Name": "InstanceId", "Value": "ins-1"}],
             "Timestamps": [1700000040, 1700000100], "Values": [12.5, "13.5"]},
            {"Dimensions": [{"Name": "InstanceId", "Value": "ins-2"}], "Timestamps": [], "Values": []},
            {"Dimensions": null, "Timestamps": null, "Values": null},
            {"Dimensions": [{"Name": "InstanceId", "Value": "ins-3"}],
             "Timestamps": [1700000040, 1700000100, 1700000160], "Values": [1, null],
             "AvgValues": [2, 3], "Unknown": true}
          ], "RequestId": "r"}}"#;
        let env: V3Envelope<V3MonitorData> = decode(body).unwrap();
        let d = env.response;
        assert_eq!(d.period, Some(60.0));
        assert_eq!(d.data_points.len(), 4);
        assert_eq!(d.data_points[0].newest("avg"), Some((1700000100.0, 13.5)));
        assert_eq!(d.data_points[1].newest("avg"), None);
        assert_eq!(d.data_points[2].newest("avg"), None);
        // AvgValues requested: used; the third timestamp has no value at all.
        assert_eq!(d.data_points[3].newest("avg"), Some((1700000100.0, 3.0)));
        assert_eq!(d.data_points[3].newest("max"), Some((1700000040.0, 1.0)));
    }

    #[test]
    fn v3_error_envelope() {
        let body = br#"{"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "The provided credentials could not be validated."}, "RequestId": "abc"}}"#;
        let env: V3Envelope<V3ErrorPart> = decode(body).unwrap();
        let e = env.response.error.unwrap();
        assert_eq!(e.code.as_deref(), Some("AuthFailure.SignatureFailure"));
        assert_eq!(env.response.request_id.as_deref(), Some("abc"));
        let ok: V3Envelope<V3ErrorPart> = decode(br#"{"Response": {"RequestId": "x"}}"#).unwrap();
        assert!(ok.response.error.is_none());
    }

    #[test]
    fn v3_base_metrics_periods_as_strings() {
        let body = br#"{"Response": {"MetricSet": [
            {"Namespace": "QCE/CVM", "MetricName": "CPUUsage", "Unit": "%", "Period": [60, 300],
             "Periods": [{"Period": "60", "StatType": ["max", "avg"]}, {"Period": "300", "StatType": null}],
             "Meaning": {"En": "CPU utilization", "Zh": "CPU\\u4f7f\\u7528\\u7387"}, "Dimensions": [{"Dimensions": ["InstanceId"]}]},
            {"Namespace": "QCE/CVM", "MetricName": "Odd", "Period": ["300", "60"]}
        ], "RequestId": "r"}}"#;
        let env: V3Envelope<V3BaseMetrics> = decode(body).unwrap();
        let m = &env.response.metric_set;
        assert_eq!(m[0].period, vec![60, 300]);
        assert_eq!(m[0].periods[0].period, Some(60.0));
        assert_eq!(m[0].periods[0].stat_type, vec!["max", "avg"]);
        assert!(m[0].periods[1].stat_type.is_empty());
        assert_eq!(m[1].period, vec![60, 300]);
        assert_eq!(m[1].unit, None);
    }

    #[test]
    fn v2_monitor_data_null_and_short_arrays() {
        let d: V2MonitorData = decode(
            br#"{"code": 0, "message": "", "metricName": "cpu_usage", "startTime": "2024-01-02 10:00:00",
                "endTime": "2024-01-02 10:02:00", "period": "60", "dataPoints": [1.5, null]}"#,
        )
        .unwrap();
        assert_eq!(d.data_points, vec![Some(1.5), None]);
        assert_eq!(d.period, Some(60.0));
        let d: V2MonitorData = decode(br#"{"code": 0, "dataPoints": null}"#).unwrap();
        assert!(d.data_points.is_empty());
        let s: V2Status = decode(br#"{"code": "4100", "message": "auth"}"#).unwrap();
        assert_eq!(s.code, Some(4100.0));
    }

    #[test]
    fn v2_metrics_uint_typo_and_stat_shapes() {
        let d: V2Metrics = decode(
            br#"{"code": 0, "metricSet": [
              {"namespace": "qce/cvm", "metricName": "cpu_usage", "uint": "%", "period": [60, 300],
               "statType": {"60": "max", "300": "avg"}},
              {"namespace": "qce/cvm", "metricName": "mem_usage", "unit": "MB", "period": [300], "statType": ["avg"]},
              {"namespace": "qce/cvm", "metricName": "lan_outtraffic", "period": null, "dimensions": ["unInstanceId"]}
            ]}"#,
        )
        .unwrap();
        let m = &d.metric_set;
        assert_eq!(m[0].unit(), "%");
        assert_eq!(m[0].stat_type.as_ref().unwrap().for_period(60), vec!["max"]);
        assert_eq!(m[1].unit(), "MB");
        assert_eq!(m[1].stat_type.as_ref().unwrap().for_period(60), vec!["avg"]);
        assert!(m[2].period.is_empty());
        assert!(m[2].stat_type.is_none());
    }

    #[test]
    fn both_spellings_of_a_key_decode() {
        // `Name`/`name` were serde aliases: a dimension carrying both failed the whole answer
        // as a "duplicate field"; so did `unit` next to `uint`.
        let d: V3Envelope<V3MonitorData> = decode(
            br#"{"Response": {"DataPoints": [{"Dimensions": [{"Name": "InstanceId", "name": "x", "value": "ins-1"}],
              "Timestamps": [1], "values": [2]}]}}"#,
        )
        .unwrap();
        let dim = &d.response.data_points[0].dimensions[0];
        assert_eq!(
            dim.name.as_deref(),
            Some("InstanceId"),
            "documented spelling first"
        );
        assert_eq!(dim.value.as_deref(), Some("ins-1"));
        assert_eq!(d.response.data_points[0].newest("avg"), Some((1.0, 2.0)));
        let m: V2Metrics = decode(
            br#"{"metricSet": [{"metricName": "a", "unit": "MB", "uint": "KB"}, {"metricName": "b", "uint": "KB"}]}"#,
        )
        .unwrap();
        assert_eq!(m.metric_set[0].unit(), "MB");
        assert_eq!(m.metric_set[1].unit(), "KB");
    }

    #[test]
    fn odd_values_are_absent_but_an_odd_status_code_fails() {
        let d: V2MonitorData =
            decode(br#"{"dataPoints": [1, "x", true, "NaN", " 2 "], "period": "soon"}"#).unwrap();
        assert_eq!(d.data_points, vec![Some(1.0), None, None, None, Some(2.0)]);
        assert_eq!(d.period, None);
        let d: V2MonitorData = decode(br#"{"dataPoints": 7}"#).unwrap();
        assert!(d.data_points.is_empty(), "a non-array is no points");
        let e = decode::<V2Status>(br#"{"code": "oops", "message": "m"}"#).unwrap_err();
        assert!(e.message.contains("code"), "{}", e.message);
        assert_eq!(
            decode::<V2Status>(br#"{"message": "m"}"#).unwrap().code,
            None
        );
        let m: V2Metrics = decode(
            br#"{"metricSet": [
              {"period": "60, 300,x", "statType": {"60": "max", "300": null}},
              {"period": [60.5, -60, "10", 10], "statType": 5},
              {"period": 300, "statType": ["avg", {"x": 1}]}
            ]}"#,
        )
        .unwrap();
        let m = &m.metric_set;
        assert_eq!(m[0].period, vec![60, 300]);
        assert_eq!(
            m[0].stat_type.as_ref().unwrap().for_period(300),
            Vec::<String>::new()
        );
        assert_eq!(m[1].period, vec![10]);
        assert_eq!(m[1].stat_type.as_ref().unwrap().for_period(60), vec!["5"]);
        assert_eq!(m[2].period, vec![300]);
        assert_eq!(m[2].stat_type.as_ref().unwrap().for_period(60), vec!["avg"]);
        let b: V3Envelope<V3BaseMetrics> = decode(
            br#"{"Response": {"MetricSet": [{"Periods": [{"Period": "60", "StatType": ["max", 3, null]}]}]}}"#,
        )
        .unwrap();
        assert_eq!(
            b.response.metric_set[0].periods[0].stat_type,
            vec!["max", "3"]
        );
    }

    #[test]
    fn decode_errors_name_the_field() {
        let e = decode::<V3Envelope<V3MonitorData>>(
            br#"{"Response": {"DataPoints": [{"Dimensions": 3}]}}"#,
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("invalid JSON at response.datapoints[0].dimensions"),
            "{}",
            e.message
        );
        assert!(decode::<V2Status>(b"<html>")
            .unwrap_err()
            .message
            .starts_with("invalid JSON: "));
    }
}
