//! Serde models of the Tencent Cloud Monitor answers (v2 and API 3.0), lenient about the
//! shapes seen in the wild: numbers as strings, `null` arrays, `uint` (sic) for `unit`,
//! periods as numbers or strings, missing optional fields.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A number that may arrive as a JSON number, a numeric string, or `null`/empty.
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(value_f64(&v))
}

/// The numeric value of a JSON value, if it has one.
pub fn value_f64(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A list of optional numbers; `null` or a non-array means empty.
fn lenient_f64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<f64>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(items) => items.iter().map(value_f64).collect(),
        _ => Vec::new(),
    })
}

/// An optional list of optional numbers (absent stays `None`, to tell it from empty).
fn lenient_opt_f64_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Option<f64>>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(items) => Some(items.iter().map(value_f64).collect()),
        _ => None,
    })
}

/// Periods as `[60, "300"]`, `"60,300"` or `null`, as whole seconds.
fn lenient_periods<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let mut out: Vec<u64> = match v {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(value_f64)
            .map(|f| f as u64)
            .collect(),
        serde_json::Value::String(s) => s
            .split(',')
            .filter_map(|p| p.trim().parse::<u64>().ok())
            .collect(),
        serde_json::Value::Number(n) => n.as_u64().into_iter().collect(),
        _ => Vec::new(),
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// API 3.0

/// The `{"Response": {...}}` envelope of every API 3.0 answer.
#[derive(Debug, Deserialize)]
pub struct V3Envelope<T> {
    /// The payload, or the error.
    #[serde(rename = "Response")]
    pub response: T,
}

/// The error part of an API 3.0 answer (present only on failure).
#[derive(Debug, Default, Deserialize)]
pub struct V3ErrorPart {
    /// The error, if the call failed.
    #[serde(rename = "Error", default)]
    pub error: Option<V3Error>,
    /// Request id for support tickets.
    #[serde(rename = "RequestId", default, deserialize_with = "lenient_string")]
    pub request_id: String,
}

/// `{"Code": "...", "Message": "..."}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V3Error {
    /// Error code, e.g. `AuthFailure.SignatureFailure`.
    #[serde(rename = "Code", default, deserialize_with = "lenient_string")]
    pub code: String,
    /// Vendor text.
    #[serde(rename = "Message", default, deserialize_with = "lenient_string")]
    pub message: String,
}

/// One `{Name, Value}` dimension.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct V3Dimension {
    /// Dimension name, e.g. `InstanceId`.
    #[serde(
        rename = "Name",
        alias = "name",
        default,
        deserialize_with = "lenient_string"
    )]
    pub name: String,
    /// Dimension value.
    #[serde(
        rename = "Value",
        alias = "value",
        default,
        deserialize_with = "lenient_string"
    )]
    pub value: String,
}

/// `GetMonitorData` answer.
#[derive(Debug, Default, Deserialize)]
pub struct V3MonitorData {
    /// Statistic period in seconds.
    #[serde(rename = "Period", default, deserialize_with = "lenient_f64")]
    pub period: Option<f64>,
    /// Metric name.
    #[serde(rename = "MetricName", default, deserialize_with = "lenient_string")]
    pub metric_name: String,
    /// One entry per instance.
    #[serde(rename = "DataPoints", default, deserialize_with = "null_as_empty")]
    pub data_points: Vec<V3DataPoint>,
}

/// The points of one instance. Missing points are omitted; `Timestamps` and `Values` align.
#[derive(Debug, Default, Deserialize)]
pub struct V3DataPoint {
    /// The instance's dimensions (order not guaranteed).
    #[serde(rename = "Dimensions", default, deserialize_with = "null_as_empty")]
    pub dimensions: Vec<V3Dimension>,
    /// Unix seconds of each point.
    #[serde(rename = "Timestamps", default, deserialize_with = "lenient_f64_list")]
    pub timestamps: Vec<Option<f64>>,
    /// Values (the default statistic).
    #[serde(rename = "Values", default, deserialize_with = "lenient_f64_list")]
    pub values: Vec<Option<f64>>,
    /// Averages, when `SpecifyStatistics` asked for them.
    #[serde(
        rename = "AvgValues",
        default,
        deserialize_with = "lenient_opt_f64_list"
    )]
    pub avg_values: Option<Vec<Option<f64>>>,
    /// Maxima, when asked for.
    #[serde(
        rename = "MaxValues",
        default,
        deserialize_with = "lenient_opt_f64_list"
    )]
    pub max_values: Option<Vec<Option<f64>>>,
    /// Minima, when asked for.
    #[serde(
        rename = "MinValues",
        default,
        deserialize_with = "lenient_opt_f64_list"
    )]
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
    #[serde(rename = "MetricSet", default, deserialize_with = "null_as_empty")]
    pub metric_set: Vec<V3BaseMetric>,
}

/// One metric of `DescribeBaseMetrics`.
#[derive(Debug, Default, Deserialize)]
pub struct V3BaseMetric {
    /// Namespace.
    #[serde(rename = "Namespace", default, deserialize_with = "lenient_string")]
    pub namespace: String,
    /// Metric name.
    #[serde(rename = "MetricName", default, deserialize_with = "lenient_string")]
    pub metric_name: String,
    /// Unit, e.g. `%`.
    #[serde(rename = "Unit", default, deserialize_with = "lenient_string")]
    pub unit: String,
    /// Supported periods (seconds).
    #[serde(rename = "Period", default, deserialize_with = "lenient_periods")]
    pub period: Vec<u64>,
    /// Per period: the statistic types.
    #[serde(rename = "Periods", default, deserialize_with = "null_as_empty")]
    pub periods: Vec<V3PeriodStats>,
}

/// `{"Period": "60", "StatType": ["max", "avg"]}`.
#[derive(Debug, Default, Deserialize)]
pub struct V3PeriodStats {
    /// Period in seconds.
    #[serde(rename = "Period", default, deserialize_with = "lenient_f64")]
    pub period: Option<f64>,
    /// Statistic types available at this period.
    #[serde(rename = "StatType", default, deserialize_with = "null_as_empty")]
    pub stat_type: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// v2

/// The common `{code, message}` of v2 answers.
#[derive(Debug, Default, Deserialize)]
pub struct V2Status {
    /// 0 = success.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub code: Option<f64>,
    /// Vendor text, e.g. `(-503) ...`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: String,
}

/// v2 `GetMonitorData` / `GetMetricStatistics` answer. No timestamps: point i is at
/// `startTime + i × period`.
#[derive(Debug, Default, Deserialize)]
pub struct V2MonitorData {
    /// Metric name.
    #[serde(rename = "metricName", default, deserialize_with = "lenient_string")]
    pub metric_name: String,
    /// `YYYY-MM-DD HH:MM:SS` in the region's time zone.
    #[serde(rename = "startTime", default, deserialize_with = "lenient_string")]
    pub start_time: String,
    /// `YYYY-MM-DD HH:MM:SS`.
    #[serde(rename = "endTime", default, deserialize_with = "lenient_string")]
    pub end_time: String,
    /// Seconds.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub period: Option<f64>,
    /// Values, `null` where missing; may be shorter than the window or `null` entirely.
    #[serde(rename = "dataPoints", default, deserialize_with = "lenient_f64_list")]
    pub data_points: Vec<Option<f64>>,
}

/// v2 `DescribeMetrics` answer.
#[derive(Debug, Default, Deserialize)]
pub struct V2Metrics {
    /// Metrics of the namespace.
    #[serde(rename = "metricSet", default, deserialize_with = "null_as_empty")]
    pub metric_set: Vec<V2Metric>,
}

/// One metric of v2 `DescribeMetrics`.
#[derive(Debug, Default, Deserialize)]
pub struct V2Metric {
    /// Namespace, e.g. `qce/cvm`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub namespace: String,
    /// Metric name, e.g. `cpu_usage`.
    #[serde(rename = "metricName", default, deserialize_with = "lenient_string")]
    pub metric_name: String,
    /// Unit; the API spells it `uint` in places.
    #[serde(default, alias = "uint", deserialize_with = "lenient_string")]
    pub unit: String,
    /// Supported periods (seconds).
    #[serde(default, deserialize_with = "lenient_periods")]
    pub period: Vec<u64>,
    /// Statistic per period (`{"60": "max"}`) or a list of statistics, where given.
    #[serde(rename = "statType", default)]
    pub stat_type: Option<V2StatType>,
}

/// The shapes `statType` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum V2StatType {
    /// Period → statistic.
    PerPeriod(BTreeMap<String, String>),
    /// Statistics valid for every period.
    List(Vec<String>),
    /// A single statistic.
    One(String),
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
    use crate::upstream::decode_json;

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
        let env: V3Envelope<V3MonitorData> = decode_json(body).unwrap();
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
        let env: V3Envelope<V3ErrorPart> = decode_json(body).unwrap();
        let e = env.response.error.unwrap();
        assert_eq!(e.code, "AuthFailure.SignatureFailure");
        assert_eq!(env.response.request_id, "abc");
        let ok: V3Envelope<V3ErrorPart> =
            decode_json(br#"{"Response": {"RequestId": "x"}}"#).unwrap();
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
        let env: V3Envelope<V3BaseMetrics> = decode_json(body).unwrap();
        let m = &env.response.metric_set;
        assert_eq!(m[0].period, vec![60, 300]);
        assert_eq!(m[0].periods[0].period, Some(60.0));
        assert_eq!(m[0].periods[0].stat_type, vec!["max", "avg"]);
        assert!(m[0].periods[1].stat_type.is_empty());
        assert_eq!(m[1].period, vec![60, 300]);
        assert_eq!(m[1].unit, "");
    }

    #[test]
    fn v2_monitor_data_null_and_short_arrays() {
        let d: V2MonitorData = decode_json(
            br#"{"code": 0, "message": "", "metricName": "cpu_usage", "startTime": "2024-01-02 10:00:00",
                "endTime": "2024-01-02 10:02:00", "period": "60", "dataPoints": [1.5, null]}"#,
        )
        .unwrap();
        assert_eq!(d.data_points, vec![Some(1.5), None]);
        assert_eq!(d.period, Some(60.0));
        let d: V2MonitorData = decode_json(br#"{"code": 0, "dataPoints": null}"#).unwrap();
        assert!(d.data_points.is_empty());
        let s: V2Status = decode_json(br#"{"code": "4100", "message": "auth"}"#).unwrap();
        assert_eq!(s.code, Some(4100.0));
    }

    #[test]
    fn v2_metrics_uint_typo_and_stat_shapes() {
        let d: V2Metrics = decode_json(
            br#"{"code": 0, "metricSet": [
              {"namespace": "qce/cvm", "metricName": "cpu_usage", "uint": "%", "period": [60, 300],
               "statType": {"60": "max", "300": "avg"}},
              {"namespace": "qce/cvm", "metricName": "mem_usage", "unit": "MB", "period": [300], "statType": ["avg"]},
              {"namespace": "qce/cvm", "metricName": "lan_outtraffic", "period": null, "dimensions": ["unInstanceId"]}
            ]}"#,
        )
        .unwrap();
        let m = &d.metric_set;
        assert_eq!(m[0].unit, "%");
        assert_eq!(m[0].stat_type.as_ref().unwrap().for_period(60), vec!["max"]);
        assert_eq!(m[1].unit, "MB");
        assert_eq!(m[1].stat_type.as_ref().unwrap().for_period(60), vec!["avg"]);
        assert!(m[2].period.is_empty());
        assert!(m[2].stat_type.is_none());
    }
}
