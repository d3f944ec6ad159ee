//! Serde types of the Cloud Connector monitoring API, lenient on purpose.
//!
//! Deployed SCC versions differ (API-NOTES §1): the tunnel is an object or an array,
//! `connectedSince` is a string while `connectedSinceTimeStamp` is epoch milliseconds (0 = not
//! connected), bucket and SSO field names have two spellings, usage names subaccounts by
//! `subaccount/regionHost` or `subaccountName/subaccountRegion`, `sinceTime` is a string or
//! milliseconds and ports are strings or numbers. Every field is optional, every list may be
//! missing or `null`, unknown fields are ignored. Spelling variants are separate fields (not
//! serde aliases) so a payload carrying both never fails as a "duplicate field".

use serde::{Deserialize, Deserializer};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Field policies: the shared lenient rules (`crate::base::lenient`), all "absent on garbage",
// because SCC versions differ and one odd field must never cost a whole endpoint. Only the
// time rule is SCC's own (epoch milliseconds or SCC's date strings).

pub use crate::base::lenient::bool_text as parse_bool_text;
pub use crate::base::lenient::number::or_absent as num;
pub use crate::base::lenient::{flag, list, one_or_first, text};

/// A point in time as Unix seconds, given either as epoch milliseconds (number or digits) or
/// as a date string (`2021-02-17T12:44:10.546 +0100`, RFC 3339, ...). Zero and unparseable
/// values are absent: SCC sends 0 for "never" and we never export epoch 0.
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64().and_then(millis_to_secs),
        Some(Value::String(s)) => parse_time_text(&s),
        _ => None,
    })
}

fn millis_to_secs(ms: f64) -> Option<f64> {
    (ms.is_finite() && ms > 0.0).then_some(ms / 1000.0)
}

/// Parses SCC's date strings into Unix seconds. Digits alone are epoch milliseconds.
pub fn parse_time_text(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<f64>().ok().and_then(millis_to_secs);
    }
    let to_secs = |dt: chrono::DateTime<chrono::FixedOffset>| {
        let secs = dt.timestamp() as f64 + f64::from(dt.timestamp_subsec_millis()) / 1000.0;
        (secs > 0.0).then_some(secs)
    };
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(s, format) {
            return to_secs(dt);
        }
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return to_secs(dt);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Subaccount identity shared by most payloads

/// The identifying fields of a subaccount entry, in all known spellings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Ids {
    /// `subaccount` (documented).
    #[serde(deserialize_with = "text")]
    pub subaccount: Option<String>,
    /// `subaccountName` (vendor usage example, certificates).
    #[serde(deserialize_with = "text")]
    pub subaccount_name: Option<String>,
    /// `regionHost` (documented).
    #[serde(deserialize_with = "text")]
    pub region_host: Option<String>,
    /// `subaccountRegion` (vendor usage example, certificates).
    #[serde(deserialize_with = "text")]
    pub subaccount_region: Option<String>,
    /// `locationID`.
    #[serde(rename = "locationID", deserialize_with = "text")]
    pub location_id: Option<String>,
    /// `locationId`, seen in some tools' captures.
    #[serde(rename = "locationId", deserialize_with = "text")]
    pub location_id_lower: Option<String>,
}

/// A subaccount's label values: empty strings where upstream has nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubaccountKey {
    /// Subaccount name (id).
    pub subaccount: String,
    /// Region host.
    pub region_host: String,
    /// Location ID (empty for the default location).
    pub location_id: String,
}

impl Ids {
    /// The label values, whichever spelling was used.
    pub fn key(&self) -> SubaccountKey {
        let pick = |a: &Option<String>, b: &Option<String>| {
            a.as_deref()
                .filter(|s| !s.is_empty())
                .or(b.as_deref())
                .unwrap_or("")
                .to_string()
        };
        SubaccountKey {
            subaccount: pick(&self.subaccount, &self.subaccount_name),
            region_host: pick(&self.region_host, &self.subaccount_region),
            location_id: pick(&self.location_id, &self.location_id_lower),
        }
    }
}

/// `typeDesc` of a service channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TypeDesc {
    /// Key, e.g. `ABAPCloud`.
    #[serde(deserialize_with = "text")]
    pub type_key: Option<String>,
    /// Human readable name.
    #[serde(deserialize_with = "text")]
    pub type_name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/subaccounts

/// `/api/monitoring/subaccounts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SubaccountsPayload {
    /// Subaccount entries.
    #[serde(deserialize_with = "list")]
    pub subaccounts: Vec<Subaccount>,
}

/// One subaccount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Subaccount {
    /// Identity.
    #[serde(flatten)]
    pub ids: Ids,
    /// Display name (may be absent or empty).
    #[serde(deserialize_with = "text")]
    pub display_name: Option<String>,
    /// Description.
    #[serde(deserialize_with = "text")]
    pub description: Option<String>,
    /// The tunnel: an object in practice, an array in the doc.
    #[serde(deserialize_with = "one_or_first")]
    pub tunnel: Option<Tunnel>,
    /// Subaccount certificate when given beside the tunnel rather than inside it.
    pub subaccount_certificate: Option<SubaccountCertificate>,
}

/// The tunnel of a subaccount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Tunnel {
    /// `Connected`, `ConnectFailure`, `Disconnected` or anything newer.
    #[serde(deserialize_with = "text")]
    pub state: Option<String>,
    /// Old format: `"2021-02-17T12:44:10.546 +0100"`; absent when not connected.
    #[serde(deserialize_with = "time")]
    pub connected_since: Option<f64>,
    /// New format: epoch ms, 0 when not connected.
    #[serde(deserialize_with = "time")]
    pub connected_since_time_stamp: Option<f64>,
    /// Number of subaccount connections.
    #[serde(deserialize_with = "num")]
    pub connections: Option<f64>,
    /// Connections to application instances.
    #[serde(deserialize_with = "list")]
    pub application_connections: Vec<ApplicationConnection>,
    /// Service channels, loosely typed (`{type, state, details, comment}` probably).
    #[serde(deserialize_with = "list")]
    pub service_channels: Vec<Value>,
    /// Subaccount certificate (new format).
    pub subaccount_certificate: Option<SubaccountCertificate>,
    /// Tunnel user (not exported).
    #[serde(deserialize_with = "text")]
    pub user: Option<String>,
}

impl Tunnel {
    /// Connection start in Unix seconds, whichever field carries it.
    pub fn connected_since_secs(&self) -> Option<f64> {
        self.connected_since_time_stamp.or(self.connected_since)
    }
}

/// An item of `applicationConnections`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ApplicationConnection {
    /// Open connections.
    #[serde(deserialize_with = "num")]
    pub connection_count: Option<f64>,
    /// Application name.
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    /// Application type, e.g. `JAVA`.
    #[serde(rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
}

/// `subaccountCertificate` (times in epoch ms).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubaccountCertificate {
    /// End of validity.
    #[serde(deserialize_with = "time")]
    pub not_after_time_stamp: Option<f64>,
    /// Start of validity.
    #[serde(deserialize_with = "time")]
    pub not_before_time_stamp: Option<f64>,
    /// Subject.
    #[serde(rename = "subjectDN", deserialize_with = "text")]
    pub subject_dn: Option<String>,
    /// Issuer.
    #[serde(deserialize_with = "text")]
    pub issuer: Option<String>,
    /// Serial number.
    #[serde(deserialize_with = "text")]
    pub serial_number: Option<String>,
}

/// A service channel entry pulled out of its loose JSON: (type, state).
pub fn service_channel_type_state(channel: &Value) -> (String, String) {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| channel.get(*n))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Object(o) => o
                    .get("typeKey")
                    .or_else(|| o.get("typeName"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    (
        field(&["type", "typeKey", "typeDesc"]),
        field(&["state", "status"]),
    )
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/connections/backends and /serviceChannels

/// `/api/monitoring/connections/backends`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackendConnectionsPayload {
    /// Subaccount entries.
    #[serde(deserialize_with = "list")]
    pub subaccounts: Vec<BackendConnectionsSubaccount>,
}

/// A subaccount's backend connections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendConnectionsSubaccount {
    /// Identity.
    #[serde(flatten)]
    pub ids: Ids,
    /// Connections per backend.
    #[serde(deserialize_with = "list")]
    pub backend_connections: Vec<BackendConnection>,
}

/// Connections to one backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendConnection {
    /// Virtual `host:port`.
    #[serde(deserialize_with = "text")]
    pub virtual_backend: Option<String>,
    /// Internal `host:port`.
    #[serde(deserialize_with = "text")]
    pub internal_backend: Option<String>,
    /// Protocol.
    #[serde(deserialize_with = "text")]
    pub protocol: Option<String>,
    /// Idle connections.
    #[serde(deserialize_with = "num")]
    pub idle: Option<f64>,
    /// Active connections.
    #[serde(deserialize_with = "num")]
    pub active: Option<f64>,
}

/// `/api/monitoring/connections/serviceChannels`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServiceChannelConnectionsPayload {
    /// Subaccount entries.
    #[serde(deserialize_with = "list")]
    pub subaccounts: Vec<ServiceChannelConnectionsSubaccount>,
}

/// A subaccount's service channel connections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceChannelConnectionsSubaccount {
    /// Identity.
    #[serde(flatten)]
    pub ids: Ids,
    /// One entry per service channel.
    #[serde(deserialize_with = "list")]
    pub service_channel_connections: Vec<ServiceChannelConnection>,
}

/// Connections of one service channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceChannelConnection {
    /// Local port.
    #[serde(deserialize_with = "text")]
    pub port: Option<String>,
    /// Channel type.
    pub type_desc: Option<TypeDesc>,
    /// Open connections.
    #[serde(deserialize_with = "num")]
    pub connections: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/performance/backends

/// `/api/monitoring/performance/backends`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PerformancePayload {
    /// Subaccount entries.
    #[serde(deserialize_with = "list")]
    pub subaccounts: Vec<PerformanceSubaccount>,
    /// Start of measurement if given at the top.
    #[serde(deserialize_with = "time")]
    pub since_time: Option<f64>,
}

/// A subaccount's performance data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PerformanceSubaccount {
    /// Identity.
    #[serde(flatten)]
    pub ids: Ids,
    /// Per backend.
    #[serde(deserialize_with = "list")]
    pub backend_performance: Vec<BackendPerformance>,
    /// Start of measurement (string or ms).
    #[serde(deserialize_with = "time")]
    pub since_time: Option<f64>,
}

/// Performance buckets of one backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendPerformance {
    /// Virtual host.
    #[serde(deserialize_with = "text")]
    pub virtual_host: Option<String>,
    /// Virtual port (string or number; RFC ports may be names).
    #[serde(deserialize_with = "text")]
    pub virtual_port: Option<String>,
    /// Protocol.
    #[serde(deserialize_with = "text")]
    pub protocol: Option<String>,
    /// Duration buckets.
    #[serde(deserialize_with = "list")]
    pub buckets: Vec<Bucket>,
    /// Start of measurement if given per backend.
    #[serde(deserialize_with = "time")]
    pub since_time: Option<f64>,
}

/// One duration bucket: calls slower than its minimum and not slower than the next one's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Bucket {
    /// Calls counted in the bucket.
    #[serde(deserialize_with = "num")]
    pub number_of_calls: Option<f64>,
    /// Lower bound in ms (observed spelling).
    #[serde(deserialize_with = "num")]
    pub minimum_call_duration_ms: Option<f64>,
    /// Lower bound in ms (documented spelling).
    #[serde(deserialize_with = "num")]
    pub minimum_call_durations_ms: Option<f64>,
}

impl Bucket {
    /// The lower bound in ms, whichever spelling carries it.
    pub fn minimum_ms(&self) -> Option<f64> {
        self.minimum_call_duration_ms
            .or(self.minimum_call_durations_ms)
    }
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/performance/topTimeConsumers

/// `/api/monitoring/performance/topTimeConsumers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TopTimeConsumersPayload {
    /// Subaccount entries.
    #[serde(deserialize_with = "list")]
    pub subaccounts: Vec<TopTimeConsumersSubaccount>,
}

/// A subaccount's slowest requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopTimeConsumersSubaccount {
    /// Identity.
    #[serde(flatten)]
    pub ids: Ids,
    /// The requests.
    #[serde(deserialize_with = "list")]
    pub requests: Vec<TopRequest>,
    /// Start of measurement (not exported).
    #[serde(deserialize_with = "time")]
    pub since_time: Option<f64>,
}

/// One slow request (times in ms).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopRequest {
    /// Request start (not exported: a timestamp is no label).
    #[serde(deserialize_with = "text")]
    pub start_time: Option<String>,
    /// Request id (not exported: unbounded).
    #[serde(deserialize_with = "text")]
    pub id: Option<String>,
    /// Protocol.
    #[serde(deserialize_with = "text")]
    pub protocol: Option<String>,
    /// Virtual backend.
    #[serde(deserialize_with = "text")]
    pub virtual_backend: Option<String>,
    /// Internal backend.
    #[serde(deserialize_with = "text")]
    pub internal_backend: Option<String>,
    /// Resource path or function.
    #[serde(deserialize_with = "text")]
    pub resource: Option<String>,
    /// Bytes sent.
    #[serde(deserialize_with = "num")]
    pub sent_bytes: Option<f64>,
    /// Bytes received.
    #[serde(deserialize_with = "num")]
    pub received_bytes: Option<f64>,
    /// User (personal data; exported only with `include_user`).
    #[serde(deserialize_with = "text")]
    pub user: Option<String>,
    /// Total time.
    #[serde(deserialize_with = "num")]
    pub total_time: Option<f64>,
    /// External time.
    #[serde(deserialize_with = "num")]
    pub external_time: Option<f64>,
    /// SSO generation time.
    #[serde(deserialize_with = "num")]
    pub gen_sso_time: Option<f64>,
    /// Time to open the remote connection.
    #[serde(deserialize_with = "num")]
    pub open_remote_time: Option<f64>,
    /// SSO validation time (observed spelling).
    #[serde(deserialize_with = "num")]
    pub validate_sso_time: Option<f64>,
    /// SSO validation time (documented spelling).
    #[serde(deserialize_with = "num")]
    pub validation_sso_time: Option<f64>,
    /// Latency.
    #[serde(deserialize_with = "num")]
    pub latency_time: Option<f64>,
}

impl TopRequest {
    /// Phase label and duration in ms, for the phases present.
    pub fn phases(&self) -> [(&'static str, Option<f64>); 6] {
        [
            ("total", self.total_time),
            ("external", self.external_time),
            ("gen_sso", self.gen_sso_time),
            ("open_remote", self.open_remote_time),
            (
                "validate_sso",
                self.validate_sso_time.or(self.validation_sso_time),
            ),
            ("latency", self.latency_time),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/memory

/// `/api/monitoring/memory` (KB).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MemoryPayload {
    /// Physical memory.
    #[serde(rename = "physicalKB")]
    pub physical: Option<MemoryBlock>,
    /// Virtual memory.
    #[serde(rename = "virtualKB")]
    pub virtual_: Option<MemoryBlock>,
    /// Java heap.
    #[serde(rename = "cloudConnectorHeapKB")]
    pub heap: Option<HeapBlock>,
}

/// A memory split.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MemoryBlock {
    /// Total.
    #[serde(deserialize_with = "num")]
    pub total: Option<f64>,
    /// Used by the Cloud Connector (capital `C` upstream).
    #[serde(rename = "CloudConnector", deserialize_with = "num")]
    pub cloud_connector: Option<f64>,
    /// Same, lower-case spelling.
    #[serde(rename = "cloudConnector", deserialize_with = "num")]
    pub cloud_connector_lower: Option<f64>,
    /// Used by other processes.
    #[serde(deserialize_with = "num")]
    pub others: Option<f64>,
    /// Free.
    #[serde(deserialize_with = "num")]
    pub free: Option<f64>,
}

impl MemoryBlock {
    /// `(usage label, value)` pairs in the block's unit.
    pub fn usages(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("total", self.total),
            (
                "cloud_connector",
                self.cloud_connector.or(self.cloud_connector_lower),
            ),
            ("others", self.others),
            ("free", self.free),
        ]
    }
}

/// The Java heap split.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HeapBlock {
    /// Total.
    #[serde(deserialize_with = "num")]
    pub total: Option<f64>,
    /// Used.
    #[serde(deserialize_with = "num")]
    pub used: Option<f64>,
    /// Free.
    #[serde(deserialize_with = "num")]
    pub free: Option<f64>,
}

/// `/api/monitoring/disk` (MB). The split may sit at the top or in one nested object.
pub fn disk_block(payload: &Value) -> Option<MemoryBlock> {
    find_block(payload, "total").and_then(|v| MemoryBlock::deserialize(v).ok())
}

/// `/api/monitoring/cpu` (percent): `total` and `CloudConnector`, at the top or nested.
pub fn cpu_block(payload: &Value) -> Option<MemoryBlock> {
    find_block(payload, "total")
        .or_else(|| find_block(payload, "CloudConnector"))
        .and_then(|v| MemoryBlock::deserialize(v).ok())
}

fn find_block<'a>(payload: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = payload.as_object()?;
    if obj.contains_key(key) {
        return Some(payload);
    }
    obj.values()
        .find(|v| v.as_object().is_some_and(|o| o.contains_key(key)))
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/certificates

/// `/api/monitoring/certificates`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CertificatesPayload {
    /// Expired certificates (absent list = unknown, not zero).
    pub expired: Option<Vec<Certificate>>,
    /// Certificates expiring within the alert window.
    pub expiring: Option<Vec<Certificate>>,
    /// Certificates valid beyond the alert window.
    pub ok: Option<Vec<Certificate>>,
}

/// `/api/monitoring/certificates/{selection}`: a bare array (tolerates `null`).
#[derive(Debug, Clone, Default)]
pub struct CertificateList(pub Vec<Certificate>);

impl<'de> Deserialize<'de> for CertificateList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        list(d).map(CertificateList)
    }
}

/// One certificate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Certificate {
    /// `UI`, `System`, `CA`, `subaccount`, ...
    #[serde(rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
    /// End of validity (epoch ms).
    #[serde(deserialize_with = "time")]
    pub valid_to: Option<f64>,
    /// Subject.
    #[serde(rename = "subjectDN", deserialize_with = "text")]
    pub subject_dn: Option<String>,
    /// Issuer.
    #[serde(rename = "issuerDN", deserialize_with = "text")]
    pub issuer_dn: Option<String>,
    /// Serial number.
    #[serde(deserialize_with = "text")]
    pub serial_number: Option<String>,
    /// Subaccount identity (subaccount certificates).
    #[serde(flatten)]
    pub ids: Ids,
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/usage

/// `/api/monitoring/usage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UsagePayload {
    /// Subaccount entries.
    #[serde(deserialize_with = "list")]
    pub subaccounts: Vec<UsageSubaccount>,
}

/// A subaccount's usage statistics.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UsageSubaccount {
    /// Identity.
    #[serde(flatten)]
    pub ids: Ids,
    /// Per backend.
    #[serde(deserialize_with = "list")]
    pub usage_statistics: Vec<BackendUsage>,
    /// Per service channel.
    #[serde(deserialize_with = "list")]
    pub service_channel_usage_statistics: Vec<ServiceChannelUsage>,
    /// Start of counting (ms here, string tolerated).
    #[serde(deserialize_with = "time")]
    pub since_time: Option<f64>,
}

/// Usage of one backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendUsage {
    /// Virtual host.
    #[serde(deserialize_with = "text")]
    pub virtual_host: Option<String>,
    /// Virtual port.
    #[serde(deserialize_with = "text")]
    pub virtual_port: Option<String>,
    /// Protocol.
    #[serde(deserialize_with = "text")]
    pub protocol: Option<String>,
    /// Bytes received.
    #[serde(deserialize_with = "num")]
    pub bytes_received: Option<f64>,
    /// Bytes sent.
    #[serde(deserialize_with = "num")]
    pub bytes_sent: Option<f64>,
    /// Calls.
    #[serde(deserialize_with = "num")]
    pub calls: Option<f64>,
    /// Last call (ms; only after a first call).
    #[serde(deserialize_with = "time")]
    pub most_recent_access: Option<f64>,
    /// Per resource.
    #[serde(deserialize_with = "list")]
    pub resources: Vec<ResourceUsage>,
}

/// Usage of one resource.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceUsage {
    /// URL path or function name.
    #[serde(deserialize_with = "text")]
    pub resource_name: Option<String>,
    /// Active (true) or suspended.
    #[serde(deserialize_with = "flag")]
    pub enabled: Option<bool>,
    /// Bytes received.
    #[serde(deserialize_with = "num")]
    pub bytes_received: Option<f64>,
    /// Bytes sent.
    #[serde(deserialize_with = "num")]
    pub bytes_sent: Option<f64>,
    /// Calls.
    #[serde(deserialize_with = "num")]
    pub calls: Option<f64>,
    /// Last call.
    #[serde(deserialize_with = "time")]
    pub most_recent_access: Option<f64>,
}

/// Usage of one service channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceChannelUsage {
    /// Local port.
    #[serde(deserialize_with = "text")]
    pub port: Option<String>,
    /// Channel type.
    pub type_desc: Option<TypeDesc>,
    /// Bytes received.
    #[serde(deserialize_with = "num")]
    pub bytes_received: Option<f64>,
    /// Bytes sent.
    #[serde(deserialize_with = "num")]
    pub bytes_sent: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// /api/monitoring/alerts and /api/v1/connector/version

/// `/api/monitoring/alerts` (2.19+).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AlertsPayload {
    /// Current alerts.
    #[serde(deserialize_with = "list")]
    pub alerts: Vec<Alert>,
}

/// One alert.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Alert {
    /// When it was raised.
    #[serde(deserialize_with = "time")]
    pub timestamp: Option<f64>,
    /// Status, e.g. `ERROR`, `WARNING`.
    #[serde(deserialize_with = "text")]
    pub status: Option<String>,
    /// Alert type.
    #[serde(rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
    /// Origin (not exported).
    #[serde(deserialize_with = "text")]
    pub origin: Option<String>,
    /// Message (not exported: free text).
    #[serde(deserialize_with = "text")]
    pub message: Option<String>,
}

/// `/api/v1/connector/version`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VersionPayload {
    /// E.g. `2.19.0.2`.
    #[serde(deserialize_with = "text")]
    pub version: Option<String>,
}

/// The body of `hasMasterRole`: `true`/`false` text in any case and whitespace, a JSON bool or
/// string, or a JSON object with one boolean field.
pub fn parse_master_role(body: &str) -> Option<bool> {
    if let Some(b) = parse_bool_text(body) {
        return Some(b);
    }
    match serde_json::from_str::<Value>(body).ok()? {
        Value::Bool(b) => Some(b),
        Value::String(s) => parse_bool_text(&s),
        Value::Object(o) => {
            let preferred = [
                "hasMasterRole",
                "masterRole",
                "isMaster",
                "master",
                "result",
            ];
            preferred
                .iter()
                .find_map(|k| o.get(*k))
                .or_else(|| o.values().find(|v| v.is_boolean()))
                .and_then(|v| match v {
                    Value::Bool(b) => Some(*b),
                    Value::String(s) => parse_bool_text(s),
                    _ => None,
                })
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
