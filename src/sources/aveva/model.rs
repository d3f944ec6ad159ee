//! Serde types of the CONNECT data services usage API, lenient where real tenants differ from
//! the documentation (API-NOTES §5): nullable GUIDs, `ClusterRegion` as a string or a number,
//! numbers as strings, missing fields, camelCase keys from older gateways.
//!
//! Keys are folded to lower case before decoding ([`decode`]), so `IngressEvents` and
//! `ingressEvents` are one field. Field policies (`crate::base::lenient`):
//! - usage numbers of a record are summed into the `aveva_cds_*_total` counters: `or_fail`, a
//!   silently dropped value would make a cycle-to-date total lie;
//! - record and cycle dates decide which day and cycle a value belongs to: unreadable dates fail
//!   too (AVEVA's date forms are parsed here, [`parse_date`]);
//! - resource counts are current gauges, ids and error texts are informational: `or_absent`.

use crate::base::lenient::{self, fold_keys, number};
use crate::base::PollError;
use crate::upstream::decode_json;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Decodes a body into `T` after folding its keys to lower case; the error names the JSON path
/// (in folded spelling) and the problem.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, PollError> {
    let mut value: Value = decode_json(body)?;
    fold_keys(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            PollError::decode(format!("invalid JSON: {}", e.inner()))
        } else {
            PollError::decode(format!("invalid JSON at {path}: {}", e.inner()))
        }
    })
}

/// One daily (or summary) usage record of a tenant or a community.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsageRecord {
    /// The day the record covers (00:00 UTC); absent records are ignored.
    #[serde(rename = "date", deserialize_with = "date_or_fail")]
    pub date: Option<DateTime<Utc>>,
    /// Tenant of the record.
    #[serde(rename = "tenantid", deserialize_with = "lenient::trimmed_text")]
    pub tenant_id: Option<String>,
    /// Tenant that was called (community usage).
    #[serde(rename = "calleetenantid", deserialize_with = "lenient::trimmed_text")]
    pub callee_tenant_id: Option<String>,
    /// Tenant that called (community usage).
    #[serde(rename = "callertenantid", deserialize_with = "lenient::trimmed_text")]
    pub caller_tenant_id: Option<String>,
    /// Community of the record (community grouping).
    #[serde(rename = "communityid", deserialize_with = "lenient::trimmed_text")]
    pub community_id: Option<String>,
    /// Namespace of the record (namespace grouping).
    #[serde(rename = "namespaceid", deserialize_with = "lenient::trimmed_text")]
    pub namespace_id: Option<String>,
    /// Cluster region: a name, or the region's number in older tenants.
    #[serde(rename = "clusterregion", deserialize_with = "lenient::trimmed_text")]
    pub cluster_region: Option<String>,
    /// Events written.
    #[serde(rename = "ingressevents", deserialize_with = "number::or_fail")]
    pub ingress_events: Option<f64>,
    /// Streams written to.
    #[serde(
        rename = "ingressstreamsaccessed",
        deserialize_with = "number::or_fail"
    )]
    pub ingress_streams_accessed: Option<f64>,
    /// Events read.
    #[serde(rename = "egressevents", deserialize_with = "number::or_fail")]
    pub egress_events: Option<f64>,
    /// Streams read from.
    #[serde(rename = "egressstreamsaccessed", deserialize_with = "number::or_fail")]
    pub egress_streams_accessed: Option<f64>,
}

/// `GET .../resources/usage`: current resources and entitlements (gauges of the moment: one
/// unreadable count is absent and costs the others nothing).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResourceUsage {
    /// Streams allocated across all namespaces.
    #[serde(rename = "streamcount", deserialize_with = "number::or_absent")]
    pub stream_count: Option<f64>,
    /// Streams the subscription allows.
    #[serde(rename = "entitledstreamcount", deserialize_with = "number::or_absent")]
    pub entitled_stream_count: Option<f64>,
    /// Namespaces allocated.
    #[serde(rename = "namespacecount", deserialize_with = "number::or_absent")]
    pub namespace_count: Option<f64>,
    /// Namespaces the subscription allows.
    #[serde(
        rename = "entitlednamespacecount",
        deserialize_with = "number::or_absent"
    )]
    pub entitled_namespace_count: Option<f64>,
    /// Average streams entitled to be accessed per day.
    #[serde(
        rename = "entitledstreamaccesscount",
        deserialize_with = "number::or_absent"
    )]
    pub entitled_stream_access_count: Option<f64>,
}

/// One billing cycle of the subscription.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BillingCycle {
    /// Start of the cycle.
    #[serde(rename = "startdate", deserialize_with = "date_or_fail")]
    pub start: Option<DateTime<Utc>>,
    /// End of the cycle.
    #[serde(rename = "enddate", deserialize_with = "date_or_fail")]
    pub end: Option<DateTime<Utc>>,
}

/// The documented error body (`ErrorResponse`); every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// Operation id, to quote to AVEVA support.
    #[serde(rename = "operationid", deserialize_with = "lenient::trimmed_text")]
    pub operation_id: Option<String>,
    /// What went wrong.
    #[serde(rename = "error", deserialize_with = "lenient::trimmed_text")]
    pub error: Option<String>,
    /// Why.
    #[serde(rename = "reason", deserialize_with = "lenient::trimmed_text")]
    pub reason: Option<String>,
    /// What to do.
    #[serde(rename = "resolution", deserialize_with = "lenient::trimmed_text")]
    pub resolution: Option<String>,
}

impl ErrorBody {
    /// The error body of a response; anything unreadable is an empty body.
    pub fn from_body(body: &[u8]) -> ErrorBody {
        serde_json::from_slice(body)
            .ok()
            .and_then(|v| lenient::from_folded(v).ok())
            .unwrap_or_default()
    }

    /// True when at least one field carries text.
    pub fn is_meaningful(&self) -> bool {
        self.error.is_some() || self.reason.is_some() || self.resolution.is_some()
    }
}

/// A usage response: the documented array (or `null`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct UsageRecords(#[serde(deserialize_with = "lenient::list")] pub Vec<UsageRecord>);

/// A billing cycles response: the documented array (or `null`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct BillingCycles(#[serde(deserialize_with = "lenient::list")] pub Vec<BillingCycle>);

/// A date ([`parse_date`]); `null`, a missing field and blank text are absent, anything else
/// fails the decode: the date decides the day or cycle a record's usage is counted in.
fn date_or_fail<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    match &value {
        Value::Null => Ok(None),
        Value::String(t) if t.trim().is_empty() => Ok(None),
        Value::String(t) => parse_date(t).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("expected an ISO 8601 date, got {t:?}"))
        }),
        other => Err(serde::de::Error::custom(format!(
            "expected an ISO 8601 date, got {}",
            lenient::text_from(other).unwrap_or_else(|| "a list or an object".into())
        ))),
    }
}

/// Parses `2026-11-01T00:00:00Z`, `...+01:00`, `...T00:00:00.1234567` (taken as UTC) or
/// `2026-11-01`.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_records_survive_the_real_world_shapes() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/aveva/tenant_usage_odd.json"
        ))
        .unwrap();
        let records: UsageRecords = decode(&body).unwrap();
        let r = &records.0;
        assert_eq!(r.len(), 5);
        // Documented shape.
        assert_eq!(r[0].namespace_id.as_deref(), Some("production"));
        assert_eq!(r[0].cluster_region.as_deref(), Some("West US"));
        assert_eq!(r[0].ingress_events, Some(1200.0));
        assert_eq!(r[0].date.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        // ClusterRegion as a number, null GUIDs, numbers as strings.
        assert_eq!(r[1].cluster_region.as_deref(), Some("2"));
        assert_eq!(r[1].tenant_id, None);
        assert_eq!(r[1].community_id, None);
        assert_eq!(r[1].egress_events, Some(77.0));
        // Missing fields, camelCase keys, fractional seconds without a zone.
        assert_eq!(r[2].ingress_events, None);
        assert_eq!(r[2].namespace_id.as_deref(), Some("lab"));
        assert_eq!(
            r[2].date.unwrap().to_rfc3339(),
            "2026-11-02T00:00:00.500+00:00"
        );
        // Empty GUID string is absent; unknown fields ignored.
        assert_eq!(r[3].namespace_id, None);
        // Null date survives (the record is dropped by the translation).
        assert_eq!(r[4].date, None);
    }

    #[test]
    fn null_and_empty_lists() {
        assert_eq!(decode::<UsageRecords>(b"null").unwrap().0.len(), 0);
        assert_eq!(decode::<BillingCycles>(b"[]").unwrap().0.len(), 0);
    }

    #[test]
    fn bad_numbers_and_dates_name_the_path() {
        let e =
            decode::<UsageRecords>(br#"[{"Date":"2026-11-01T00:00:00Z","IngressEvents":"lots"}]"#)
                .unwrap_err();
        // The path is named in folded spelling (keys are folded before decoding).
        assert!(e.message.contains("[0].ingressevents"), "{}", e.message);
        let e = decode::<BillingCycles>(br#"[{"StartDate":"yesterday"}]"#).unwrap_err();
        assert!(e.message.contains("[0].startdate"), "{}", e.message);
    }

    #[test]
    fn resource_usage_and_cycles() {
        let r: ResourceUsage = decode(
            br#"{"StreamCount":12,"EntitledStreamCount":"1000","NamespaceCount":3,"Extra":1}"#,
        )
        .unwrap();
        assert_eq!(r.stream_count, Some(12.0));
        assert_eq!(r.entitled_stream_count, Some(1000.0));
        assert_eq!(r.entitled_namespace_count, None);
        let c: BillingCycles = decode(
            br#"[{"StartDate":"2026-10-01T00:00:00Z","EndDate":"2026-10-31T23:59:59.999Z"},{"startDate":"2026-11-01"}]"#,
        )
        .unwrap();
        assert_eq!(
            c.0[1].start.unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(c.0[1].end, None);
    }

    #[test]
    fn error_body() {
        let e: ErrorBody = decode(
            br#"{"OperationId":"0a1b","Error":"Invalid date","Reason":"start after end","Resolution":null}"#,
        )
        .unwrap();
        assert_eq!(e.operation_id.as_deref(), Some("0a1b"));
        assert!(e.is_meaningful());
        assert!(!decode::<ErrorBody>(b"{}").unwrap().is_meaningful());
    }

    #[test]
    fn non_finite_number_texts_are_rejected() {
        // Found by tests/fuzz_props.rs: "NaN" became a NaN counter.
        for text in ["NaN", "inf", "-infinity", "1e400"] {
            let body = format!(r#"[{{"Date": "2026-11-02", "IngressEvents": "{text}"}}]"#);
            assert!(decode::<UsageRecords>(body.as_bytes()).is_err(), "{text}");
        }
        let r: ResourceUsage = decode(br#"{"StreamCount": " 12 "}"#).unwrap();
        assert_eq!(r.stream_count, Some(12.0));
    }

    #[test]
    fn both_spellings_of_a_field_decode() {
        // With serde aliases this was a "duplicate field" error.
        let r: UsageRecords = decode(
            br#"[{"Date":"2026-11-01","date":null,"IngressEvents":5,"ingressEvents":6,"namespaceId":"lab"}]"#,
        )
        .unwrap();
        assert_eq!(
            r.0[0].ingress_events,
            Some(5.0),
            "documented spelling first"
        );
        assert_eq!(r.0[0].date, parse_date("2026-11-01"));
        assert_eq!(r.0[0].namespace_id.as_deref(), Some("lab"));
        let e = ErrorBody::from_body(br#"{"Error":" ","error":"bad","OPERATIONID":7}"#);
        assert_eq!(
            e.error, None,
            "the first non-null spelling wins, blank is absent"
        );
        assert_eq!(e.operation_id.as_deref(), Some("7"));
        assert_eq!(ErrorBody::from_body(b"<html>"), ErrorBody::default());
    }

    #[test]
    fn resource_counts_are_absent_on_garbage_usage_numbers_fail() {
        let r: ResourceUsage =
            decode(br#"{"StreamCount":"lots","NamespaceCount":[1],"EntitledStreamCount":9}"#)
                .unwrap();
        assert_eq!(
            (r.stream_count, r.namespace_count, r.entitled_stream_count),
            (None, None, Some(9.0))
        );
        for garbage in [r#""lots""#, "true", "[1]", "{}"] {
            let body = format!(r#"[{{"Date":"2026-11-01","EgressEvents":{garbage}}}]"#);
            let e = decode::<UsageRecords>(body.as_bytes()).unwrap_err();
            assert!(e.message.contains("[0].egressevents"), "{}", e.message);
        }
        for garbage in ["20261101", "true", "[]"] {
            let body = format!(r#"[{{"Date":{garbage}}}]"#);
            let e = decode::<UsageRecords>(body.as_bytes()).unwrap_err();
            assert!(
                e.message.contains("expected an ISO 8601 date"),
                "{}",
                e.message
            );
        }
    }
}
