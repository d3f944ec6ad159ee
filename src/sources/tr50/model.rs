//! TR50 reply shapes, parsed leniently with the field policies of [`crate::base::lenient`].
//!
//! The envelope is a JSON object keyed by command id (`"auth"`, `"1"`, ...), each value a
//! [`CommandReply`]; failures carry `errorCodes`/`errorMessages`, either per command or at the top
//! level of the reply. `usage.api.history` answers `counters` (name → array aligned with `ts`), a
//! scalar `total` and `ts` (timestamps with offsets): [`History`]. `usage.thing.history` and
//! `usage.connection.history` answer parallel arrays instead, one per field (`total` among them,
//! an array there) beside `ts`: [`BucketHistory`]. Numbers may come as strings, array slots as
//! `null`, fields may be missing; none of that fails a poll.

use crate::base::lenient::{self, number_from};
use crate::base::PollError;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One command's (or the auth block's, or a top-level) result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandReply {
    /// `true` on success; absent counts as success only when there are no error codes.
    pub success: Option<bool>,
    /// The command's result.
    pub params: Option<Value>,
    /// Vendor error codes (negative integers), e.g. `-90041`.
    pub error_codes: Vec<i64>,
    /// Vendor error texts aligned with the codes.
    pub error_messages: Vec<String>,
}

/// A reply object without its `params`, keys folded to lower case ([`lenient::fold_keys`]), so
/// `errorCodes`, `ErrorCodes` and `errorcodes` are one field. The singular spellings
/// (`errorCode`, `errorMessage`) are other keys: they count when the plural is empty.
#[derive(Deserialize)]
struct RawReply {
    #[serde(default, deserialize_with = "success")]
    success: Option<bool>,
    #[serde(
        rename = "errorcodes",
        default,
        deserialize_with = "lenient::one_or_many"
    )]
    codes: Vec<Code>,
    #[serde(
        rename = "errorcode",
        default,
        deserialize_with = "lenient::one_or_many"
    )]
    code: Vec<Code>,
    #[serde(
        rename = "errormessages",
        default,
        deserialize_with = "lenient::one_or_many"
    )]
    messages: Vec<Message>,
    #[serde(
        rename = "errormessage",
        default,
        deserialize_with = "lenient::one_or_many"
    )]
    message: Vec<Message>,
}

/// An error code: a number or numeric string; anything else is left out (the others still
/// count).
#[derive(Deserialize)]
struct Code(#[serde(deserialize_with = "lenient::number::or_absent")] Option<f64>);

/// An error text: a string, number or boolean; anything else is left out.
#[derive(Deserialize)]
struct Message(#[serde(deserialize_with = "lenient::text")] Option<String>);

/// `success`: the [`lenient::flag`] rule, plus the numeric strings `"1"`/`"0"` some platforms send.
fn success<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let value = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(lenient::flag_from(&value).or_else(|| match value {
        Value::String(_) => number_from(&value).ok().flatten().map(|n| n != 0.0),
        _ => None,
    }))
}

fn plural_or_singular<T>(plural: Vec<T>, singular: Vec<T>) -> Vec<T> {
    if plural.is_empty() {
        singular
    } else {
        plural
    }
}

impl CommandReply {
    /// Parses a reply object leniently; anything that is not an object is a failure without
    /// codes.
    pub fn from_value(value: &Value) -> CommandReply {
        let failure = CommandReply {
            success: Some(false),
            ..Default::default()
        };
        let Value::Object(map) = value else {
            return failure;
        };
        let mut map = map.clone();
        // `params` is kept as sent: its keys are the platform's (session ids, series names).
        let params = map.remove("params").filter(|p| !p.is_null());
        let Ok(raw) = lenient::from_folded::<RawReply>(Value::Object(map)) else {
            return failure;
        };
        CommandReply {
            success: raw.success,
            params,
            error_codes: plural_or_singular(raw.codes, raw.code)
                .into_iter()
                .filter_map(|Code(c)| c.map(|c| c as i64))
                .collect(),
            error_messages: plural_or_singular(raw.messages, raw.message)
                .into_iter()
                .filter_map(|Message(m)| m)
                .collect(),
        }
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

/// The reply params of `usage.api.history` (`usage.thing.history` and
/// `usage.connection.history` answer another shape: [`BucketHistory`]).
///
/// Not decoded with [`lenient::fold_keys`]: the keys of `counters` (and the other top-level
/// arrays) are the platform's series names, which end up as label values as sent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct History {
    /// Series name (service, org key, counter kind) → raw values aligned with `ts`.
    #[serde(deserialize_with = "counters")]
    pub counters: BTreeMap<String, Vec<Option<f64>>>,
    /// Sum of all counters, as the platform computed it (a gauge of its own: an odd value is
    /// absent, never a failed poll).
    #[serde(deserialize_with = "lenient::number::or_absent")]
    pub total: Option<f64>,
    /// Bucket starts (Unix seconds), `None` where unparseable.
    #[serde(deserialize_with = "timestamps")]
    pub ts: Vec<Option<i64>>,
    /// Other fields: arrays aligned with `ts` are used as series when `counters` is absent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl History {
    /// Decodes the `params` of a history command's reply (`Null`: no params, an empty history).
    pub fn from_params(command: &str, params: Value) -> Result<History, PollError> {
        if params.is_null() {
            return Ok(History::default());
        }
        serde_json::from_value(params).map_err(|e| {
            PollError::decode(format!("{command}: unexpected params in the reply: {e}"))
        })
    }

    /// Each series as `(bucket start, value)` pairs, skipping `null` values and buckets whose
    /// timestamp is missing or unparseable. When `counters` is empty, top-level number arrays
    /// of the same length as `ts` are taken as series.
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
                // Only arrays of numbers (and nulls) are series; `""` makes an array text.
                if !arr
                    .iter()
                    .all(|x| x.is_null() || matches!(number_from(x), Ok(Some(_))))
                {
                    return None;
                }
                let values: Vec<Option<f64>> = arr.iter().map(slot).collect();
                Some((k.clone(), align(&values)))
            })
            .collect()
    }

    /// Start of the newest bucket with a parseable timestamp.
    pub fn latest_bucket(&self) -> Option<i64> {
        self.ts.iter().flatten().copied().max()
    }
}

/// The reply params of `usage.thing.history` and `usage.connection.history`, as the vendor
/// documents them: parallel arrays, one per field, entry *i* of each belonging to the bucket that
/// starts at `ts[i]`, e.g. `{"connected": [0, 1], "total": [1, 1], "ts": ["2019-01-26T00:00:00-05:00",
/// "2019-01-27T00:00:00-05:00"]}`. Documented fields: `billable`, `connected`, `total` (thing
/// history); `hasRatePlan`, `activated`, `inSession`, `total` (connection history). Other arrays
/// of the same shape are kept under their names.
///
/// Nothing is made up where the reply does not say it: a field whose array is not as long as
/// `ts` (no way to tell which entry is which bucket) is left out whole, an entry that does not
/// read as a number ([`lenient::number::or_absent`]) leaves that field without that bucket, a
/// bucket whose `ts` does not parse has no values, and an array with no readable entry is no
/// field. Keys are kept as sent (they become label values).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketHistory {
    /// Bucket starts (Unix seconds), `None` where unparseable.
    pub ts: Vec<Option<i64>>,
    /// Field name → value per bucket (as long as `ts`), `None` where unreadable.
    pub fields: BTreeMap<String, Vec<Option<f64>>>,
}

impl BucketHistory {
    /// Decodes the `params` of a `usage.thing.history` or `usage.connection.history` reply
    /// (`Null`: no params, an empty history). Anything but an object fails the poll.
    pub fn from_params(command: &str, params: Value) -> Result<BucketHistory, PollError> {
        let mut map = match params {
            Value::Null => return Ok(BucketHistory::default()),
            Value::Object(map) => map,
            other => {
                let got = match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    _ => "a boolean",
                };
                return Err(PollError::decode(format!(
                    "{command}: unexpected params in the reply: expected an object of arrays parallel to ts, got {got}"
                )));
            }
        };
        let ts = timestamps(map.remove("ts").unwrap_or(Value::Null)).unwrap_or_default();
        let fields = map
            .into_iter()
            .filter_map(|(name, value)| {
                let Value::Array(entries) = value else {
                    return None;
                };
                if entries.len() != ts.len() {
                    return None;
                }
                let values: Vec<Option<f64>> = entries.iter().map(slot).collect();
                values.iter().any(Option::is_some).then_some((name, values))
            })
            .collect();
        Ok(BucketHistory { ts, fields })
    }

    /// Each field as `(bucket start, value)` pairs, skipping unreadable entries and buckets
    /// whose timestamp is unparseable.
    pub fn series(&self) -> Vec<(String, Vec<(i64, f64)>)> {
        self.fields
            .iter()
            .map(|(name, values)| {
                let buckets = values
                    .iter()
                    .zip(&self.ts)
                    .filter_map(|(v, t)| Some(((*t)?, (*v)?)))
                    .collect();
                (name.clone(), buckets)
            })
            .collect()
    }

    /// Each field's value in the newest bucket where it has one (fields without any are left
    /// out).
    pub fn newest_values(&self) -> Vec<(String, f64)> {
        self.series()
            .into_iter()
            .filter_map(|(name, buckets)| {
                let (_, v) = buckets.into_iter().max_by_key(|(t, _)| *t)?;
                Some((name, v))
            })
            .collect()
    }

    /// Start of the newest bucket with a parseable timestamp.
    pub fn latest_bucket(&self) -> Option<i64> {
        self.ts.iter().flatten().copied().max()
    }
}

/// One bucket's count: the `number::or_absent` rule on one array slot. An unreadable slot is a
/// missing bucket, not a failed poll: the accumulator counts a bucket when it first reads, so
/// the calls are counted once the slot is readable, and one odd slot never costs the other
/// buckets and services.
fn slot(value: &Value) -> Option<f64> {
    number_from(value).unwrap_or(None)
}
/// Parses a bucket timestamp: RFC 3339 with offset (`2014-01-20T08:00:00-05:00`, also with
/// fractions, `Z`, `-0500` or a space instead of `T`), a zone-less date-time (taken as UTC), or
/// epoch seconds/milliseconds as number or numeric string ([`lenient::number_from`]).
pub fn parse_ts(value: &Value) -> Option<i64> {
    if let Ok(Some(n)) = number_from(value) {
        if n <= 0.0 {
            return None;
        }
        return Some(if n > 1e11 {
            (n / 1000.0) as i64
        } else {
            n as i64
        });
    }
    let Value::String(s) = value else {
        return None;
    };
    let t = s.trim().replacen(' ', "T", 1);
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

/// `counters`: an object of arrays; entries that are no arrays are left out, and so is the
/// whole field when it is no object.
fn counters<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<Option<f64>>>, D::Error> {
    let Value::Object(map) = Value::deserialize(d)? else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Array(a) => Some((k, a.iter().map(slot).collect())),
            _ => None,
        })
        .collect())
}

/// `ts`: one timestamp or a list of them, each [`parse_ts`].
fn timestamps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<i64>>, D::Error> {
    Ok(lenient::one_or_many::<_, Value>(d)?
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

    fn buckets(v: Value) -> BucketHistory {
        BucketHistory::from_params("usage.thing.history", v).unwrap()
    }

    fn names(h: &BucketHistory) -> Vec<&str> {
        h.fields.keys().map(String::as_str).collect()
    }

    /// The reply params of the vendor's `usage.thing.history` page, verbatim.
    fn documented_thing_history() -> Value {
        json!({
            "connected": [0, 0, 0, 0, 1],
            "total": [1, 1, 1, 1, 1],
            "ts": [
                "2019-01-26T00:00:00-05:00",
                "2019-01-27T00:00:00-05:00",
                "2019-01-28T00:00:00-05:00",
                "2019-01-29T00:00:00-05:00",
                "2019-01-30T00:00:00-05:00"
            ]
        })
    }

    #[test]
    fn documented_thing_history_reply_verbatim() {
        let h = buckets(documented_thing_history());
        assert_eq!(names(&h), ["connected", "total"]);
        // Daily buckets at -05:00: 00:00-05:00 is 05:00 UTC.
        assert_eq!(h.ts[0], Some(1_548_478_800));
        assert_eq!(h.latest_bucket(), Some(1_548_824_400));
        let connected = &h.series()[0];
        assert_eq!(connected.1.len(), 5);
        assert_eq!(connected.1[3], (1_548_478_800 + 3 * 86_400, 0.0));
        assert_eq!(
            h.newest_values(),
            vec![("connected".to_string(), 1.0), ("total".to_string(), 1.0)]
        );
        // The example has no `billable` (its table lists one): absent, never 0.
        assert!(!h.fields.contains_key("billable"));
    }

    #[test]
    fn documented_connection_history_reply_verbatim() {
        // The reply params of the vendor's `usage.connection.history` page, verbatim.
        let h = BucketHistory::from_params(
            "usage.connection.history",
            json!({
                "hasRatePlan": [0, 0, 1, 1, 1],
                "activated": [0, 0, 0, 1, 1],
                "inSession": [0, 0, 0, 0, 1],
                "total": [1, 1, 1, 1, 1],
                "ts": [
                    "2014-01-26T00:00:00-05:00",
                    "2014-01-27T00:00:00-05:00",
                    "2014-01-28T00:00:00-05:00",
                    "2014-01-29T00:00:00-05:00",
                    "2014-01-30T00:00:00-05:00"
                ]
            }),
        )
        .unwrap();
        assert_eq!(
            names(&h),
            ["activated", "hasRatePlan", "inSession", "total"]
        );
        assert_eq!(h.latest_bucket(), Some(1_391_058_000));
        assert_eq!(
            h.fields["hasRatePlan"],
            vec![Some(0.0), Some(0.0), Some(1.0), Some(1.0), Some(1.0)]
        );
        let newest: BTreeMap<_, _> = h.newest_values().into_iter().collect();
        assert_eq!(newest["activated"], 1.0);
        assert_eq!(newest["inSession"], 1.0);
        assert_eq!(newest["total"], 1.0);
    }

    #[test]
    fn total_array_is_a_field_of_the_bucket_history() {
        let body = json!({
            "billable": [7, 8],
            "connected": [3, 4],
            "total": [10, "12"],
            "ts": ["2024-03-10T00:00:00-05:00", "2024-03-10T01:00:00-05:00"]
        });
        let h = buckets(body.clone());
        assert_eq!(h.fields["total"], vec![Some(10.0), Some(12.0)]);
        assert_eq!(
            h.newest_values(),
            vec![
                ("billable".to_string(), 8.0),
                ("connected".to_string(), 4.0),
                ("total".to_string(), 12.0)
            ]
        );
        // The usage.api.history model reads `total` as its scalar: the array is no total there
        // (and was, read that way, the bug that hid `tr50_things`).
        let api = History::from_params("usage.api.history", body).unwrap();
        assert_eq!(api.total, None);
    }

    #[test]
    fn arrays_of_another_length_than_ts_are_left_out_whole() {
        let h = buckets(json!({
            "connected": [0, 0, 0, 1],
            "total": [1, 1, 1, 1, 1],
            "billable": [1, 1, 1, 1, 1, 1],
            "ts": [
                "2019-01-26T00:00:00-05:00",
                "2019-01-27T00:00:00-05:00",
                "2019-01-28T00:00:00-05:00",
                "2019-01-29T00:00:00-05:00",
                "2019-01-30T00:00:00-05:00"
            ]
        }));
        // Which bucket a shorter or longer array's entries belong to is unknown: no field.
        assert_eq!(names(&h), ["total"]);
        // Without `ts` no array lines up with anything.
        let h = buckets(json!({"connected": [1], "total": [1]}));
        assert!(h.fields.is_empty());
        assert_eq!(h.latest_bucket(), None);
        assert!(h.newest_values().is_empty());
    }

    #[test]
    fn a_non_numeric_entry_drops_only_its_bucket() {
        let h = buckets(json!({
            "total": [1, "x", 3, {"a": 1}, " 5 "],
            "connected": [1, 2, true, null, "n/a"],
            "labels": ["a", "b", "c", "d", "e"],
            "empty": [null, null, null, null, null],
            "note": "not an array",
            "ts": [
                "2024-03-10T00:00:00Z",
                "2024-03-10T01:00:00Z",
                "yesterday",
                "2024-03-10T03:00:00Z",
                "2024-03-10T04:00:00Z"
            ]
        }));
        // Text arrays, all-null arrays and scalars are no fields.
        assert_eq!(names(&h), ["connected", "total"]);
        // Unreadable entries are absent, never 0.
        assert_eq!(
            h.fields["total"],
            vec![Some(1.0), None, Some(3.0), None, Some(5.0)]
        );
        let t0 = 1_710_028_800;
        let series: BTreeMap<_, _> = h.series().into_iter().collect();
        // The bucket whose `ts` does not parse has no values either.
        assert_eq!(series["total"], vec![(t0, 1.0), (t0 + 4 * 3600, 5.0)]);
        assert_eq!(series["connected"], vec![(t0, 1.0), (t0 + 3600, 2.0)]);
        // The newest bucket with a value counts: connected's newest entries are unreadable.
        let newest: BTreeMap<_, _> = h.newest_values().into_iter().collect();
        assert_eq!((newest["total"], newest["connected"]), (5.0, 2.0));
        assert_eq!(h.latest_bucket(), Some(t0 + 4 * 3600));
    }

    #[test]
    fn bucket_history_params_decode() {
        assert_eq!(
            BucketHistory::from_params("usage.thing.history", Value::Null).unwrap(),
            BucketHistory::default()
        );
        // One timestamp alone is a list of one, like `usage.api.history`'s `ts`.
        let h = buckets(json!({"total": [4], "ts": 1_704_067_200}));
        assert_eq!(
            h.series(),
            vec![("total".to_string(), vec![(1_704_067_200, 4.0)])]
        );
        for odd in [json!([1]), json!("x"), json!(3), json!(true)] {
            let e = BucketHistory::from_params("usage.connection.history", odd).unwrap_err();
            assert!(
                e.message
                    .starts_with("usage.connection.history: unexpected params in the reply"),
                "{e}"
            );
        }
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

    #[test]
    fn error_fields_in_every_spelling() {
        // Both spellings of a field decode (serde aliases failed on this as a duplicate field,
        // which hid the codes behind "no error code or message given").
        let reply = CommandReply::from_value(&json!({
            "success": false,
            "errorCodes": [-22],
            "ErrorCodes": null,
            "errorMessages": ["Invalid parameter"],
            "errorMessage": "ignored while the plural has texts"
        }));
        assert_eq!(reply.describe(), "-22: Invalid parameter");
        // The singular spellings alone, as single values.
        let reply =
            CommandReply::from_value(&json!({"errorCode": "-90041", "errorMessage": "MFA"}));
        assert!(!reply.ok());
        assert_eq!(
            (reply.error_codes, reply.error_messages),
            (vec![-90041], vec!["MFA".to_string()])
        );
        // One odd code or text costs only itself; numbers as texts are kept.
        let reply = CommandReply::from_value(&json!({
            "errorCodes": [-1, "x", {"a": 1}, null, " -2 "],
            "errorMessages": ["a", null, 7, {"b": 2}]
        }));
        assert_eq!(reply.error_codes, vec![-1, -2]);
        assert_eq!(reply.error_messages, vec!["a", "7"]);
        // `success` as a flag or a numeric string; params kept as sent, `null` params absent.
        for (success, ok) in [
            (json!("0"), false),
            (json!(" TRUE "), true),
            (json!(1), true),
        ] {
            let reply = CommandReply::from_value(
                &json!({"success": success, "params": {"sessionId": "S"}}),
            );
            assert_eq!(reply.ok(), ok, "{success}");
            assert_eq!(reply.params, Some(json!({"sessionId": "S"})));
        }
        let reply = CommandReply::from_value(&json!({"Success": true, "params": null}));
        assert_eq!((reply.success, reply.params), (Some(true), None));
    }

    #[test]
    fn history_params_decode() {
        let h = History::from_params(
            "c",
            json!({"counters": {"Svc A": [1]}, "ts": 1_704_067_200}),
        )
        .unwrap();
        assert_eq!(
            h.series(),
            vec![("Svc A".to_string(), vec![(1_704_067_200, 1.0)])]
        );
        assert_eq!(
            History::from_params("c", Value::Null).unwrap(),
            History::default()
        );
        let e = History::from_params("usage.api.history", json!([1])).unwrap_err();
        assert!(
            e.message
                .starts_with("usage.api.history: unexpected params in the reply"),
            "{e}"
        );
    }
}
