//! TR50 reply shapes, parsed leniently.
//!
//! The envelope is a JSON object keyed by command id (`"auth"`, `"1"`, ...), each value a
//! [`CommandReply`]; failures carry `errorCodes`/`errorMessages`, either per command or at the top
//! level of the reply. The `usage.*.history` commands answer `counters` (name → array aligned with
//! `ts`), a scalar `total` and `ts` (timestamps with offsets). Numbers may come as strings,
//! array slots as `null`, fields may be missing; none of that fails a poll.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One command's (or the auth block's, or a top-level) result.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CommandReply {
    /// `true` on success; absent counts as success only when there are no error codes.
    #[serde(deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
    /// The command's result.
    pub params: Option<Value>,
    /// Vendor error codes (negative integers), e.g. `-90041`.
    #[serde(rename = "errorCodes", alias = "errorCode", deserialize_with = "codes")]
    pub error_codes: Vec<i64>,
    /// Vendor error texts aligned with the codes.
    #[serde(
        rename = "errorMessages",
        alias = "errorMessage",
        deserialize_with = "messages"
    )]
    pub error_messages: Vec<String>,
}

impl CommandReply {
    /// Parses a reply object leniently; anything that is not an object is a failure without
    /// codes.
    pub fn from_value(value: &Value) -> CommandReply {
        serde_json::from_value(value.clone()).unwrap_or(CommandReply {
            success: Some(false),
            ..Default::default()
        })
    }

    /// True when the command succeeded.
    pub fn ok(&self) -> bool {
        match self.success {
            Some(s) => s,
            None => self.error_codes.is_empty() && self.error_messages.is_empty(),
        }
    }

    /// `code: message` pairs for error texts, e.g. `-22: Invalid parameter`.
    pub fn describe(&self) -> String {
        let n = self.error_codes.len().max(self.error_messages.len());
        if n == 0 {
            return "no error code or message given".into();
        }
        (0..n)
            .map(
                |i| match (self.error_codes.get(i), self.error_messages.get(i)) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => format!("{c}"),
                    (None, Some(m)) => m.clone(),
                    (None, None) => String::new(),
                },
            )
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A whole reply: either a top-level failure or per-command results by id.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// The platform rejected the request as a whole (e.g. a bad auth block).
    TopLevelFailure(CommandReply),
    /// Results keyed by command id (including `auth` when an auth block was sent).
    Replies(BTreeMap<String, CommandReply>),
}

impl Envelope {
    /// Interprets a decoded reply body.
    pub fn from_map(map: &Map<String, Value>) -> Envelope {
        let top_level = map.contains_key("success")
            || map.contains_key("errorCodes")
            || map.contains_key("errorMessages");
        if top_level {
            let reply = CommandReply::from_value(&Value::Object(map.clone()));
            if !reply.ok() {
                return Envelope::TopLevelFailure(reply);
            }
        }
        Envelope::Replies(
            map.iter()
                .filter(|(_, v)| v.is_object())
                .map(|(k, v)| (k.clone(), CommandReply::from_value(v)))
                .collect(),
        )
    }
}

/// The reply params of `usage.api.history`, `usage.thing.history`, `usage.connection.history`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct History {
    /// Series name (service, org key, counter kind) → raw values aligned with `ts`.
    #[serde(deserialize_with = "counters")]
    pub counters: BTreeMap<String, Vec<Option<f64>>>,
    /// Sum of all counters, as the platform computed it.
    #[serde(deserialize_with = "lenient_opt_f64")]
    pub total: Option<f64>,
    /// Bucket starts (Unix seconds), `None` where unparseable.
    #[serde(deserialize_with = "timestamps")]
    pub ts: Vec<Option<i64>>,
    /// Other fields: arrays aligned with `ts` are used as series when `counters` is absent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl History {
    /// Each series as `(bucket start, value)` pairs, skipping `null` values and buckets whose
    /// timestamp is missing or unparseable. When `counters` is empty, top-level number arrays
    /// of the same length as `ts` are taken as series (the shape of the thing/connection
    /// histories is undocumented).
    pub fn series(&self) -> Vec<(String, Vec<(i64, f64)>)> {
        let align = |values: &[Option<f64>]| -> Vec<(i64, f64)> {
            values
                .iter()
                .zip(self.ts.iter())
                .filter_map(|(v, t)| Some(((*t)?, (*v)?)))
                .collect()
        };
        if !self.counters.is_empty() {
            return self
                .counters
                .iter()
                .map(|(k, v)| (k.clone(), align(v)))
                .collect();
        }
        self.extra
            .iter()
            .filter_map(|(k, v)| {
                let arr = v.as_array()?;
                if arr.len() != self.ts.len() || arr.iter().all(|x| x.is_null()) {
                    return None;
                }
                if !arr.iter().all(|x| x.is_null() || number(x).is_some()) {
                    return None;
                }
                let values: Vec<Option<f64>> = arr.iter().map(number).collect();
                Some((k.clone(), align(&values)))
            })
            .collect()
    }

    /// Start of the newest bucket with a parseable timestamp.
    pub fn latest_bucket(&self) -> Option<i64> {
        self.ts.iter().flatten().copied().max()
    }
}

/// A number, or a string holding one.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

/// Parses a bucket timestamp: RFC 3339 with offset (`2014-01-20T08:00:00-05:00`, also with
/// fractions, `Z`, `-0500` or a space instead of `T`), a zone-less date-time (taken as UTC), or
/// epoch seconds/milliseconds as number or string.
pub fn parse_ts(value: &Value) -> Option<i64> {
    let from_epoch = |n: f64| -> Option<i64> {
        if !n.is_finite() || n <= 0.0 {
            return None;
        }
        Some(if n > 1e11 {
            (n / 1000.0) as i64
        } else {
            n as i64
        })
    };
    match value {
        Value::Number(n) => from_epoch(n.as_f64()?),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                return from_epoch(n);
            }
            let t = s.replacen(' ', "T", 1);
            if let Ok(d) = chrono::DateTime::parse_from_rfc3339(&t) {
                return Some(d.timestamp());
            }
            for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
                if let Ok(d) = chrono::DateTime::parse_from_str(&t, format) {
                    return Some(d.timestamp());
                }
            }
            for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
                if let Ok(d) = chrono::NaiveDateTime::parse_from_str(&t, format) {
                    return Some(d.and_utc().timestamp());
                }
            }
            None
        }
        _ => None,
    }
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_f64().map(|v| v != 0.0),
        _ => None,
    })
}

fn lenient_opt_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(number(&Value::deserialize(d)?))
}

fn one_or_many(value: Value) -> Vec<Value> {
    match value {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    Ok(one_or_many(Value::deserialize(d)?)
        .iter()
        .filter_map(number)
        .map(|n| n as i64)
        .collect())
}

fn messages<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(one_or_many(Value::deserialize(d)?)
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .collect())
}

fn counters<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<Option<f64>>>, D::Error> {
    let Value::Object(map) = Value::deserialize(d)? else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Array(a) => Some((k, a.iter().map(number).collect())),
            _ => None,
        })
        .collect())
}

fn timestamps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Option<i64>>, D::Error> {
    Ok(one_or_many(Value::deserialize(d)?)
        .iter()
        .map(parse_ts)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn history(v: Value) -> History {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn documented_api_history_reply() {
        let h = history(json!({
            "counters": {"usage": [0, 0, 0, 0, 1], "thing": [3, 4, 5, 6, 7]},
            "total": 42,
            "ts": [
                "2014-01-20T08:00:00-05:00",
                "2014-01-20T09:00:00-05:00",
                "2014-01-20T10:00:00-05:00",
                "2014-01-20T11:00:00-05:00",
                "2014-01-20T12:00:00-05:00"
            ]
        }));
        assert_eq!(h.total, Some(42.0));
        // 08:00-05:00 is 13:00 UTC.
        assert_eq!(h.ts[0], Some(1_390_222_800));
        assert_eq!(h.latest_bucket(), Some(1_390_222_800 + 4 * 3600));
        let series = h.series();
        assert_eq!(series[0].0, "thing");
        assert_eq!(series[1].1.last(), Some(&(1_390_222_800 + 4 * 3600, 1.0)));
    }

    #[test]
    fn odd_shapes_survive() {
        let h = history(json!({
            "counters": {"a": ["5", null, 2.0, "x"], "weird": {"nested": 1}, "n": null},
            "total": "7",
            "ts": [
                "2024-03-10T10:00:00.000+05:30",
                "2024-03-10T11:00:00+0530",
                "2024-03-10 12:00:00Z",
                1710066600000u64
            ],
            "unknown": true
        }));
        assert_eq!(h.total, Some(7.0));
        let a = &h.series()[0];
        assert_eq!(a.0, "a");
        // 10:00+05:30 = 04:30 UTC; null and "x" slots skipped.
        assert_eq!(a.1, vec![(1_710_045_000, 5.0), (1_710_072_000, 2.0)]);
        assert_eq!(h.ts[1], Some(1_710_048_600));
        assert_eq!(h.ts[3], Some(1_710_066_600));
    }

    #[test]
    fn missing_and_empty_fields() {
        let h = history(json!({}));
        assert!(h.series().is_empty());
        assert_eq!(h.total, None);
        assert_eq!(h.latest_bucket(), None);
        let h = history(json!({"counters": {}, "ts": []}));
        assert!(h.series().is_empty());
        // ts shorter than a counter array: extra values have no bucket.
        let h = history(json!({"counters": {"a": [1, 2, 3]}, "ts": ["2024-01-01T00:00:00Z"]}));
        assert_eq!(h.series()[0].1, vec![(1_704_067_200, 1.0)]);
        // Zone-less timestamps are UTC; garbage is skipped.
        assert_eq!(parse_ts(&json!("2024-01-01T00:00:00")), Some(1_704_067_200));
        assert_eq!(parse_ts(&json!("yesterday")), None);
        assert_eq!(parse_ts(&json!(1_704_067_200)), Some(1_704_067_200));
    }

    #[test]
    fn top_level_arrays_are_series_when_counters_are_absent() {
        let h = history(json!({
            "ts": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],
            "things": [10, 12],
            "connected": ["4", null],
            "labels": ["x", "y"],
            "short": [1]
        }));
        let names: Vec<_> = h.series().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, vec!["connected", "things"]);
    }

    #[test]
    fn envelope_per_command_and_top_level() {
        let map = json!({
            "auth": {"success": true, "params": {"sessionId": "abc"}},
            "1": {"success": false, "errorCodes": [-22], "errorMessages": ["Invalid parameter"]}
        });
        let Envelope::Replies(r) = Envelope::from_map(map.as_object().unwrap()) else {
            panic!("not per command");
        };
        assert!(r["auth"].ok());
        assert!(!r["1"].ok());
        assert_eq!(r["1"].describe(), "-22: Invalid parameter");

        let map =
            json!({"success": false, "errorCodes": ["-90008"], "errorMessages": "Session invalid"});
        let Envelope::TopLevelFailure(f) = Envelope::from_map(map.as_object().unwrap()) else {
            panic!("not top level");
        };
        assert_eq!(f.error_codes, vec![-90008]);
        assert_eq!(f.describe(), "-90008: Session invalid");

        // A reply with "success": "true" as a string and no codes is fine.
        let reply = CommandReply::from_value(&json!({"success": "true", "params": {}}));
        assert!(reply.ok());
        let reply = CommandReply::from_value(&json!({"errorCodes": [-1]}));
        assert!(!reply.ok());
        let reply = CommandReply::from_value(&json!("nonsense"));
        assert!(!reply.ok());
        assert_eq!(reply.describe(), "no error code or message given");
    }
}
