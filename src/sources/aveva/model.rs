//! Serde types of the CONNECT data services usage API, lenient where real tenants differ from
//! the documentation (API-NOTES §5): nullable GUIDs, `ClusterRegion` as a string or a number,
//! numbers as strings, missing fields, camelCase keys from older gateways.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// One daily (or summary) usage record of a tenant or a community.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsageRecord {
    /// The day the record covers (00:00 UTC); absent records are ignored.
    #[serde(rename = "Date", alias = "date", deserialize_with = "date_opt")]
    pub date: Option<DateTime<Utc>>,
    /// Tenant of the record.
    #[serde(rename = "TenantId", alias = "tenantId", deserialize_with = "text_opt")]
    pub tenant_id: Option<String>,
    /// Tenant that was called (community usage).
    #[serde(
        rename = "CalleeTenantId",
        alias = "calleeTenantId",
        deserialize_with = "text_opt"
    )]
    pub callee_tenant_id: Option<String>,
    /// Tenant that called (community usage).
    #[serde(
        rename = "CallerTenantId",
        alias = "callerTenantId",
        deserialize_with = "text_opt"
    )]
    pub caller_tenant_id: Option<String>,
    /// Community of the record (community grouping).
    #[serde(
        rename = "CommunityId",
        alias = "communityId",
        deserialize_with = "text_opt"
    )]
    pub community_id: Option<String>,
    /// Namespace of the record (namespace grouping).
    #[serde(
        rename = "NamespaceId",
        alias = "namespaceId",
        deserialize_with = "text_opt"
    )]
    pub namespace_id: Option<String>,
    /// Cluster region: a name, or the region's number in older tenants.
    #[serde(
        rename = "ClusterRegion",
        alias = "clusterRegion",
        deserialize_with = "text_opt"
    )]
    pub cluster_region: Option<String>,
    /// Events written.
    #[serde(
        rename = "IngressEvents",
        alias = "ingressEvents",
        deserialize_with = "number_opt"
    )]
    pub ingress_events: Option<f64>,
    /// Streams written to.
    #[serde(
        rename = "IngressStreamsAccessed",
        alias = "ingressStreamsAccessed",
        deserialize_with = "number_opt"
    )]
    pub ingress_streams_accessed: Option<f64>,
    /// Events read.
    #[serde(
        rename = "EgressEvents",
        alias = "egressEvents",
        deserialize_with = "number_opt"
    )]
    pub egress_events: Option<f64>,
    /// Streams read from.
    #[serde(
        rename = "EgressStreamsAccessed",
        alias = "egressStreamsAccessed",
        deserialize_with = "number_opt"
    )]
    pub egress_streams_accessed: Option<f64>,
}

/// `GET .../resources/usage`: current resources and entitlements.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResourceUsage {
    /// Streams allocated across all namespaces.
    #[serde(
        rename = "StreamCount",
        alias = "streamCount",
        deserialize_with = "number_opt"
    )]
    pub stream_count: Option<f64>,
    /// Streams the subscription allows.
    #[serde(
        rename = "EntitledStreamCount",
        alias = "entitledStreamCount",
        deserialize_with = "number_opt"
    )]
    pub entitled_stream_count: Option<f64>,
    /// Namespaces allocated.
    #[serde(
        rename = "NamespaceCount",
        alias = "namespaceCount",
        deserialize_with = "number_opt"
    )]
    pub namespace_count: Option<f64>,
    /// Namespaces the subscription allows.
    #[serde(
        rename = "EntitledNamespaceCount",
        alias = "entitledNamespaceCount",
        deserialize_with = "number_opt"
    )]
    pub entitled_namespace_count: Option<f64>,
    /// Average streams entitled to be accessed per day.
    #[serde(
        rename = "EntitledStreamAccessCount",
        alias = "entitledStreamAccessCount",
        deserialize_with = "number_opt"
    )]
    pub entitled_stream_access_count: Option<f64>,
}

/// One billing cycle of the subscription.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BillingCycle {
    /// Start of the cycle.
    #[serde(
        rename = "StartDate",
        alias = "startDate",
        deserialize_with = "date_opt"
    )]
    pub start: Option<DateTime<Utc>>,
    /// End of the cycle.
    #[serde(rename = "EndDate", alias = "endDate", deserialize_with = "date_opt")]
    pub end: Option<DateTime<Utc>>,
}

/// The documented error body (`ErrorResponse`); every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// Operation id, to quote to AVEVA support.
    #[serde(
        rename = "OperationId",
        alias = "operationId",
        deserialize_with = "text_opt"
    )]
    pub operation_id: Option<String>,
    /// What went wrong.
    #[serde(rename = "Error", alias = "error", deserialize_with = "text_opt")]
    pub error: Option<String>,
    /// Why.
    #[serde(rename = "Reason", alias = "reason", deserialize_with = "text_opt")]
    pub reason: Option<String>,
    /// What to do.
    #[serde(
        rename = "Resolution",
        alias = "resolution",
        deserialize_with = "text_opt"
    )]
    pub resolution: Option<String>,
}

impl ErrorBody {
    /// True when at least one field carries text.
    pub fn is_meaningful(&self) -> bool {
        self.error.is_some() || self.reason.is_some() || self.resolution.is_some()
    }
}

/// A list body that may also be `null`.
pub fn list_or_null<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A usage response: the documented array (or `null`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct UsageRecords(#[serde(deserialize_with = "list_or_null")] pub Vec<UsageRecord>);

/// A billing cycles response: the documented array (or `null`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct BillingCycles(#[serde(deserialize_with = "list_or_null")] pub Vec<BillingCycle>);

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

/// Text, a number (rendered as text) or null; empty text counts as absent.
fn text_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(deserializer)? {
        None => None,
        Some(Scalar::Text(t)) => Some(t.trim().to_string()).filter(|t| !t.is_empty()),
        Some(Scalar::Int(i)) => Some(i.to_string()),
        Some(Scalar::UInt(u)) => Some(u.to_string()),
        Some(Scalar::Float(f)) => Some(f.to_string()),
        Some(Scalar::Bool(b)) => Some(b.to_string()),
    })
}

/// A number, a numeric string or null.
fn number_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    match Option::<Scalar>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Scalar::Int(i)) => Ok(Some(i as f64)),
        Some(Scalar::UInt(u)) => Ok(Some(u as f64)),
        Some(Scalar::Float(f)) => Ok(Some(f)),
        Some(Scalar::Text(t)) if t.trim().is_empty() => Ok(None),
        // `"NaN"`, `"inf"` and `"1e400"` parse as floats but are no usage numbers.
        Some(Scalar::Text(t)) => t
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {t:?}"))),
        Some(Scalar::Bool(_)) => Err(serde::de::Error::custom("expected a number, got a boolean")),
    }
}

/// An ISO 8601 date-time (with or without zone, fraction, or time) or null.
fn date_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(None),
        Some(t) => parse_date(&t).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("expected an ISO 8601 date, got {t:?}"))
        }),
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
    use crate::upstream::decode_json;

    #[test]
    fn usage_records_survive_the_real_world_shapes() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/aveva/tenant_usage_odd.json"
        ))
        .unwrap();
        let records: UsageRecords = decode_json(&body).unwrap();
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
        assert_eq!(decode_json::<UsageRecords>(b"null").unwrap().0.len(), 0);
        assert_eq!(decode_json::<BillingCycles>(b"[]").unwrap().0.len(), 0);
    }

    #[test]
    fn bad_numbers_and_dates_name_the_path() {
        let e = decode_json::<UsageRecords>(
            br#"[{"Date":"2026-11-01T00:00:00Z","IngressEvents":"lots"}]"#,
        )
        .unwrap_err();
        assert!(e.message.contains("[0].IngressEvents"), "{}", e.message);
        let e = decode_json::<BillingCycles>(br#"[{"StartDate":"yesterday"}]"#).unwrap_err();
        assert!(e.message.contains("[0].StartDate"), "{}", e.message);
    }

    #[test]
    fn resource_usage_and_cycles() {
        let r: ResourceUsage = decode_json(
            br#"{"StreamCount":12,"EntitledStreamCount":"1000","NamespaceCount":3,"Extra":1}"#,
        )
        .unwrap();
        assert_eq!(r.stream_count, Some(12.0));
        assert_eq!(r.entitled_stream_count, Some(1000.0));
        assert_eq!(r.entitled_namespace_count, None);
        let c: BillingCycles = decode_json(
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
        let e: ErrorBody = decode_json(
            br#"{"OperationId":"0a1b","Error":"Invalid date","Reason":"start after end","Resolution":null}"#,
        )
        .unwrap();
        assert_eq!(e.operation_id.as_deref(), Some("0a1b"));
        assert!(e.is_meaningful());
        assert!(!decode_json::<ErrorBody>(b"{}").unwrap().is_meaningful());
    }

    #[test]
    fn non_finite_number_texts_are_rejected() {
        // Found by tests/fuzz_props.rs: "NaN" became a NaN counter.
        for text in ["NaN", "inf", "-infinity", "1e400"] {
            let body = format!(r#"[{{"Date": "2026-11-02", "IngressEvents": "{text}"}}]"#);
            assert!(
                serde_json::from_str::<UsageRecords>(&body).is_err(),
                "{text}"
            );
        }
        let r: ResourceUsage = serde_json::from_str(r#"{"StreamCount": " 12 "}"#).unwrap();
        assert_eq!(r.stream_count, Some(12.0));
    }
}
