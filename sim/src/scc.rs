//! Simulator of the SAP BTP Cloud Connector monitoring API.
//!
//! Serves every endpoint the `scc` source reads, over HTTP or HTTPS on 127.0.0.1, with HTTP
//! basic auth on the `/api/*` paths (the `/exposed` ping and master-role checks need none).
//! The data is a list of subaccounts in different tunnel states with backends, performance
//! buckets, usage counters, certificates (expired, expiring, ok), memory/disk/CPU and alerts.
//! Tests and the demo steer it at run time through [`SccSim::state`]: switch master/shadow,
//! old/new payload formats, per-endpoint or global faults, endpoints unsupported by "this SCC
//! version" (HTTP 400), add/remove subaccounts or change tunnel states.
//!
//! # Fidelity to the real product
//!
//! * **Release.** [`SccState::version`] is the string the version API answers; the release it
//!   parses to ([`SccState::scc_version`], an [`SccVersion`]) decides which endpoints exist.
//!   An endpoint the release lacks answers as that release would (see the table on
//!   [`endpoint_since`]); [`SccSim::set_version`] switches the release at run time.
//! * **High availability.** On a shadow (`master == false`) every `/api/monitoring/*` API
//!   answers per [`SccState::shadow_answer`] (default: 400 `ILLEGAL_STATE`), the master-role
//!   check answers `false`, and the ping and version APIs keep answering.
//!   [`SccSim::set_master`] takes effect with the next request; [`SccSim::flip_role_after`]
//!   flips the role in the middle of a poll.
//! * **Master-role check faults** of their own: [`SccState::master_role_answer`].
//! * **Request accounting**: [`SccSim::calls`] counts requests per endpoint name and per path.

use super::{serve, Fault, Faults, SimClock, SimHandler, SimRequest, SimResponse, SimServer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

/// Typical SCC performance bucket lower bounds in ms.
pub const BUCKET_BOUNDS_MS: [u64; 23] = [
    0, 10, 20, 30, 40, 50, 75, 100, 125, 150, 200, 300, 400, 500, 750, 1000, 1250, 1500, 2000,
    2500, 3000, 4000, 5000,
];

/// Share of calls per bucket (per mille), a realistic long-tailed latency profile.
const BUCKET_WEIGHTS: [u64; 23] = [
    260, 180, 120, 80, 60, 50, 60, 40, 30, 20, 25, 20, 12, 10, 10, 6, 4, 4, 3, 2, 2, 1, 1,
];

/// Payload shapes of different SCC releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// 2.13+ as observed: tunnel object, `connectedSinceTimeStamp` ms (0 when not connected),
    /// `subaccountCertificate`, `minimumCallDurationMs`, `validateSsoTime`, string ports,
    /// usage keyed by `subaccount`/`regionHost`.
    New,
    /// Older releases and the documented spellings: tunnel array, `connectedSince` string
    /// (absent unless connected), no certificate, `minimumCallDurationsMs`,
    /// `validationSsoTime`, numeric ports, usage keyed by `subaccountName`/`subaccountRegion`.
    Old,
}

/// A Cloud Connector release, `major.minor.patch` (a fourth, build component of a version
/// string such as `2.17.1.3` does not change which APIs exist and is not kept here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SccVersion {
    /// Major release (2).
    pub major: u32,
    /// Minor release (e.g. 17).
    pub minor: u32,
    /// Patch level (e.g. 1).
    pub patch: u32,
}

impl SccVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> SccVersion {
        SccVersion {
            major,
            minor,
            patch,
        }
    }

    /// 2.12.0: no version API, no master-role check, no memory/certificate/usage APIs... see
    /// [`endpoint_since`] for the full table.
    pub const V2_12: SccVersion = SccVersion::new(2, 12, 0);
    /// 2.14.0: the first release with the version API.
    pub const V2_14: SccVersion = SccVersion::new(2, 14, 0);
    /// 2.15.0: master-role check and service-channel connections.
    pub const V2_15: SccVersion = SccVersion::new(2, 15, 0);
    /// 2.16.0.
    pub const V2_16: SccVersion = SccVersion::new(2, 16, 0);
    /// 2.17.0: disk and CPU.
    pub const V2_17: SccVersion = SccVersion::new(2, 17, 0);
    /// 2.18.0 (`ensureMasterRole` arrives only with 2.18.1).
    pub const V2_18: SccVersion = SccVersion::new(2, 18, 0);
    /// 2.19.0, the current release: alerts.
    pub const CURRENT: SccVersion = SccVersion::new(2, 19, 0);
    /// The releases the simulator is tested with, oldest first.
    pub const SIMULATED: [SccVersion; 7] = [
        SccVersion::V2_12,
        SccVersion::V2_14,
        SccVersion::V2_15,
        SccVersion::V2_16,
        SccVersion::V2_17,
        SccVersion::V2_18,
        SccVersion::CURRENT,
    ];

    /// Parses `2.17`, `2.17.1` or `2.17.1.3` (anything after the third component is ignored);
    /// `None` for anything else.
    pub fn parse(text: &str) -> Option<SccVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        Some(SccVersion::new(major, minor, patch))
    }

    /// Whether this release offers `endpoint` (a config name such as `memory`, see
    /// [`ENDPOINTS`]) per the built-in table of [`endpoint_since`]. Unknown names: `false`.
    pub fn offers(self, endpoint: &str) -> bool {
        endpoint_since(endpoint).is_some_and(|since| self >= since)
    }

    /// The endpoints of [`ENDPOINTS`] this release lacks, per the built-in table.
    pub fn missing_endpoints(self) -> Vec<&'static str> {
        ENDPOINTS
            .iter()
            .copied()
            .filter(|e| !self.offers(e))
            .collect()
    }
}

impl std::fmt::Display for SccVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Every endpoint (config name) the simulator serves.
pub const ENDPOINTS: [&str; 18] = [
    "health",
    "version",
    "master_role",
    "ensure_master_role",
    "subaccounts",
    "backend_connections",
    "service_channel_connections",
    "backend_performance",
    "top_time_consumers",
    "memory",
    "certificates",
    "certificates_expired",
    "certificates_expiring",
    "certificates_ok",
    "usage",
    "disk",
    "cpu",
    "alerts",
];

/// The first release offering `endpoint` (config name), or `None` for a name the simulator
/// does not serve. [`SccState::since_overrides`] can change an entry for one simulator.
///
/// | endpoint (path) | since | source |
/// |---|---|---|
/// | `health` (`/exposed?action=ping`) | 2.6.0 | (M) heading "Health Check (available as of version 2.6.0)"; (M) copies before 2024-05 (and our `api-docs/` copy) said 2.16.0 — SAP corrected the heading in SAP-docs/btp-connectivity commit 47058c5 (2024-05-02), so every simulated release answers the ping. To model the old reading set `since_overrides["health"] = 2.16.0`. |
/// | `subaccounts` (`/api/monitoring/subaccounts`) | 2.10.0 | (M) |
/// | `backend_connections` (`/api/monitoring/connections/backends`) | 2.10.0 | (M) |
/// | `backend_performance` (`/api/monitoring/performance/backends`) | 2.10.0 | (M) |
/// | `top_time_consumers` (`/api/monitoring/performance/topTimeConsumers`) | 2.11.0 | (M) |
/// | `memory` (`/api/monitoring/memory`) | 2.13.0 | (M) |
/// | `certificates` (`/api/monitoring/certificates`) | 2.13.0 | (M) "Certificate Status" |
/// | `certificates_{expired,expiring,ok}` (`/api/monitoring/certificates/{selection}`) | 2.13.0 | (M) "Certificate Selection List (… 2.13.0, extended in 2.17.0)"; the extension is not described, the simulator serves one shape |
/// | `usage` (`/api/monitoring/usage`) | 2.13.0 | (M) |
/// | `version` (`/api/v1/connector/version`) | 2.14.0 | (C) "Get Version — Available as of version 2.14.0", roles include Monitoring |
/// | `service_channel_connections` (`/api/monitoring/connections/serviceChannels`) | 2.15.0 | (M) |
/// | `master_role` (`/exposed?action=hasMasterRole`) | 2.15.0 | (M) "Master Role Check (… 2.15.0, extended in 2.18.1)" |
/// | `disk` (`/api/monitoring/disk`) | 2.17.0 | (M), API-NOTES §1 |
/// | `cpu` (`/api/monitoring/cpu`) | 2.17.0 | (M), API-NOTES §1 |
/// | `ensure_master_role` (`/exposed?action=ensureMasterRole`) | 2.18.1 | (M) "Available as of version 2.18.1": 200 `true` on the master, 409 otherwise |
/// | `alerts` (`/api/monitoring/alerts`) | 2.19.0 | (M), API-NOTES §1 |
///
/// Sources: (M) SAP's "Monitoring APIs" page (SAP-docs/btp-connectivity
/// `docs/1-connectivity-documentation/monitoring-apis-f6e7a7b.md`, as of 2026-03; our copy
/// `api-docs/sap-cloud-connector-monitoring.md` is older and lacks disk, CPU, alerts and
/// `ensureMasterRole`); (C) SAP's "Common Properties" page (`common-properties-8aed644.md`).
///
/// How a missing API answers:
/// * an `/api/*` API the release lacks: **400** `{"type":"INVALID_REQUEST","message":…}`
///   (after authentication). API-NOTES §1: "an older version answers 400 for an API it lacks";
///   SAP's "REST APIs" page (`rest-apis-ede0776.md`, Return Codes): "400 – Invalid request. For
///   example, if parameters are invalid or the API is not supported anymore"; error bodies are
///   `{type, message}` with `INVALID_REQUEST` the rule-of-thumb type.
/// * an `/exposed` action the release lacks (`hasMasterRole` before 2.15.0,
///   `ensureMasterRole` before 2.18.1, any unknown action): **400** with the same body. Why
///   400 and not 404: the `/exposed` resource itself exists in every simulated release (the
///   ping is 2.6.0+), so an action it does not know is an invalid *parameter* of an existing
///   resource, which the Return Codes list answers with 400; 404 is "the specified entity does
///   not exist". No source shows a real pre-2.15 answer; the issue lists 404, 400 and an
///   empty or HTML 200 as possible, so tests of the other shapes set a fault on
///   `master_role` (`Fault::Status(404)`, `Fault::Html200`) or use
///   [`MasterRoleAnswer::Garbage`].
pub fn endpoint_since(endpoint: &str) -> Option<SccVersion> {
    Some(match endpoint {
        "health" => SccVersion::new(2, 6, 0),
        "subaccounts" | "backend_connections" | "backend_performance" => SccVersion::new(2, 10, 0),
        "top_time_consumers" => SccVersion::new(2, 11, 0),
        "memory"
        | "certificates"
        | "certificates_expired"
        | "certificates_expiring"
        | "certificates_ok"
        | "usage" => SccVersion::new(2, 13, 0),
        "version" => SccVersion::new(2, 14, 0),
        "service_channel_connections" | "master_role" => SccVersion::new(2, 15, 0),
        "disk" | "cpu" => SccVersion::new(2, 17, 0),
        "ensure_master_role" => SccVersion::new(2, 18, 1),
        "alerts" => SccVersion::new(2, 19, 0),
        _ => return None,
    })
}

/// How a shadow instance answers the master-only APIs (every `/api/monitoring/*`).
///
/// SAP documents "This API is relevant for the master instance only" on the monitoring APIs
/// (not on disk, CPU and alerts, which API-NOTES §1 and this simulator still treat as
/// master-only) but not what a shadow answers. For master-only *configuration* APIs SAP's
/// "Master Instance Configuration" page says "The shadow instance rejects the requests with
/// error code 400 – Invalid Request"; another monitoring project saw shadows not answering at
/// all (API-NOTES §1, correction 2026-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShadowAnswer {
    /// 400 `{"type":"ILLEGAL_STATE","message":"This API is only available on the master
    /// instance; this instance has the shadow role"}` — the documented configuration-API
    /// behaviour (`ILLEGAL_STATE` is one of the documented error types).
    #[default]
    BadRequest,
    /// 409 with the same body (409: "Current state of the Cloud Connector does not allow a
    /// particular request", the status SAP documents for `ILLEGAL_STATE` elsewhere).
    Conflict,
    /// No answer at all: the request hangs until the client gives up (the timeouts another
    /// monitoring project saw).
    Hang,
    /// 503 `{"type":"SERVICE_UNAVAILABLE",…}`: what this simulator answered before shadow
    /// answers became configurable. Not observed on a real Cloud Connector.
    ServiceUnavailable,
}

/// How `/exposed?action=hasMasterRole` answers, independently of every other endpoint's
/// faults (applies only where the release has the API, 2.15.0+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MasterRoleAnswer {
    /// 200 `text/plain` `true` or `false` per [`SccState::master`].
    #[default]
    Normal,
    /// No answer at all.
    Hang,
    /// 200 `text/plain` `maybe`: neither true nor false. (For an HTML page set
    /// `Fault::Html200` on `master_role`.)
    Garbage,
}

/// A pending role flip, see [`SccSim::flip_role_after`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleFlip {
    /// Requests still answered in the current role.
    pub remaining: u64,
    /// Count only requests to this endpoint (config name); `None` counts every request.
    pub endpoint: Option<String>,
}

/// A backend resource (URL path or RFC function).
#[derive(Debug, Clone)]
pub struct SimResource {
    /// Name.
    pub name: String,
    /// Active or suspended.
    pub enabled: bool,
    /// Share of the backend's calls (percent).
    pub share: u64,
}

/// A backend system exposed to the cloud.
#[derive(Debug, Clone)]
pub struct SimBackend {
    /// Virtual host.
    pub virtual_host: String,
    /// Virtual port (may be a name like `sapgw42` for RFC).
    pub virtual_port: String,
    /// Internal `host:port`.
    pub internal_backend: String,
    /// Protocol.
    pub protocol: String,
    /// Idle connections.
    pub idle: u32,
    /// Active connections.
    pub active: u32,
    /// Calls counted at simulator start.
    pub base_calls: u64,
    /// Calls per second while the data moves.
    pub calls_per_sec: f64,
    /// Bytes received per call.
    pub bytes_in_per_call: u64,
    /// Bytes sent per call.
    pub bytes_out_per_call: u64,
    /// Resources.
    pub resources: Vec<SimResource>,
}

impl SimBackend {
    /// `virtualHost:virtualPort`.
    pub fn virtual_backend(&self) -> String {
        format!("{}:{}", self.virtual_host, self.virtual_port)
    }
}

/// A service channel.
#[derive(Debug, Clone)]
pub struct SimServiceChannel {
    /// Type key, e.g. `HANA`.
    pub type_key: String,
    /// Type name.
    pub type_name: String,
    /// Local port.
    pub port: u32,
    /// `Connected`, `Disconnected`, ...
    pub state: String,
    /// Open connections.
    pub connections: u32,
    /// Bytes received so far.
    pub bytes_received: u64,
    /// Bytes sent so far.
    pub bytes_sent: u64,
}

/// A subaccount and its tunnel.
#[derive(Debug, Clone)]
pub struct SimSubaccount {
    /// Subaccount id.
    pub subaccount: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Region host.
    pub region_host: String,
    /// Location ID (empty = default).
    pub location_id: String,
    /// Tunnel state.
    pub state: String,
    /// Connected since (epoch ms).
    pub connected_since_ms: u64,
    /// Tunnel connections.
    pub connections: u32,
    /// `(name, type, connections)` of application connections.
    pub applications: Vec<(String, String, u32)>,
    /// Service channels.
    pub service_channels: Vec<SimServiceChannel>,
    /// Certificate validity (epoch ms).
    pub cert_not_before_ms: u64,
    /// Certificate end of validity (epoch ms).
    pub cert_not_after_ms: u64,
    /// Backends.
    pub backends: Vec<SimBackend>,
}

/// A non-subaccount certificate (UI, System, CA).
#[derive(Debug, Clone)]
pub struct SimCertificate {
    /// `UI`, `System`, `CA`.
    pub kind: String,
    /// Subject DN.
    pub subject_dn: String,
    /// Issuer DN.
    pub issuer_dn: String,
    /// Serial number.
    pub serial_number: String,
    /// End of validity (epoch ms).
    pub valid_to_ms: u64,
}

/// Everything the simulator serves; change it at run time through [`SccSim::state`].
#[derive(Debug)]
pub struct SccState {
    /// Accepted user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Answer 403 "initial password must be changed" to authenticated APIs.
    pub password_change_required: bool,
    /// Master (true) or shadow (false).
    pub master: bool,
    /// Payload shapes.
    pub format: PayloadFormat,
    /// The version string the version API answers, e.g. `2.19.0.2` (the default) or
    /// `2.17.1.3`. It also decides which endpoints exist: see [`SccState::scc_version`].
    pub version: String,
    /// Subaccounts.
    pub subaccounts: Vec<SimSubaccount>,
    /// UI/System/CA certificates.
    pub certificates: Vec<SimCertificate>,
    /// Days before expiry a certificate counts as "expiring".
    pub expiring_days: u64,
    /// Let counters, memory and CPU move with time (demo) or keep them fixed (tests).
    pub moving: bool,
    /// Faults per endpoint (config names such as `memory`, `health`).
    pub faults: BTreeMap<String, Fault>,
    /// Fault applied to every endpoint without its own.
    pub global_fault: Fault,
    /// Endpoints this "SCC version" does not offer (answered with HTTP 400).
    pub unsupported: BTreeSet<String>,
    /// Unix ms at which the statistics started (performance/usage `sinceTime`).
    pub since_ms: u64,
    /// Memory of the host in KB.
    pub physical_total_kb: u64,
    /// Answer every request with this JSON (HTTP 200) instead (wrong-shape tests).
    pub reply_override: Option<Value>,
    /// The connector's clock: certificate status, `mostRecentAccess`, alert times and, in
    /// moving mode, how far counters, memory and CPU have moved.
    pub clock: SimClock,
    /// How a shadow answers the master-only APIs; default [`ShadowAnswer::BadRequest`].
    pub shadow_answer: ShadowAnswer,
    /// How the master-role check answers; default [`MasterRoleAnswer::Normal`].
    pub master_role_answer: MasterRoleAnswer,
    /// A role flip due after some requests ([`SccSim::flip_role_after`]); default `None`.
    pub role_flip: Option<RoleFlip>,
    /// First release of an endpoint (config name), replacing [`endpoint_since`]'s entry;
    /// default empty.
    pub since_overrides: BTreeMap<String, SccVersion>,
    /// Clock time (Unix ms) at which moving data starts to move.
    started_ms: i64,
}

/// `2021-02-17T12:44:10.546 +0000`, SCC's date string.
pub fn scc_date(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3f %z").to_string())
        .unwrap_or_default()
}

/// A GUID-like subaccount id derived from an index.
fn guid(i: usize) -> String {
    let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        h.rotate_left(17) & 0xffff_ffff_ffff
    )
}

const REGIONS: [&str; 4] = [
    "cf.eu10.hana.ondemand.com",
    "cf.us10.hana.ondemand.com",
    "cf.eu20.hana.ondemand.com",
    "hana.ondemand.com",
];

const STATES: [&str; 5] = [
    "Connected",
    "Connected",
    "ConnectFailure",
    "Connected",
    "Disconnected",
];

const DAY_MS: u64 = 86_400_000;

impl SccState {
    /// `n` subaccounts with fixed values (tests): subaccount *i* is in state
    /// `Connected, Connected, ConnectFailure, Connected, Disconnected` cyclically. Times
    /// (connections, certificates, statistics) are relative to the real time now.
    pub fn generated(n: usize) -> Self {
        Self::generated_at(n, SimClock::real())
    }

    /// Like [`SccState::generated`], with times relative to `clock`, which the state keeps.
    pub fn generated_at(n: usize, clock: SimClock) -> Self {
        let started_ms = clock.unix_ms();
        let now = started_ms.max(0) as u64;
        let subaccounts = (0..n).map(|i| Self::make_subaccount(i, now)).collect();
        SccState {
            username: "monitor".into(),
            password: "Scc-Monit0r!".into(),
            password_change_required: false,
            master: true,
            format: PayloadFormat::New,
            version: "2.19.0.2".into(),
            subaccounts,
            certificates: vec![
                SimCertificate {
                    kind: "UI".into(),
                    subject_dn: "CN=scc.corp.local, O=ACME".into(),
                    issuer_dn: "CN=scc.corp.local, O=ACME".into(),
                    serial_number: "01".into(),
                    valid_to_ms: now + 12 * DAY_MS,
                },
                SimCertificate {
                    kind: "System".into(),
                    subject_dn: "CN=SCC System, O=ACME".into(),
                    issuer_dn: "CN=ACME Issuing CA, O=ACME".into(),
                    serial_number: "7d:2a:11".into(),
                    valid_to_ms: now + 400 * DAY_MS,
                },
                SimCertificate {
                    kind: "CA".into(),
                    subject_dn: "CN=ACME Principal Propagation CA, O=ACME".into(),
                    issuer_dn: "CN=ACME Root CA, O=ACME".into(),
                    serial_number: "3f".into(),
                    valid_to_ms: now.saturating_sub(3 * DAY_MS),
                },
            ],
            expiring_days: 30,
            moving: false,
            faults: BTreeMap::new(),
            global_fault: Fault::None,
            unsupported: BTreeSet::new(),
            since_ms: now.saturating_sub(7 * DAY_MS) / 1000 * 1000,
            physical_total_kb: 16 * 1024 * 1024,
            reply_override: None,
            clock,
            shadow_answer: ShadowAnswer::default(),
            master_role_answer: MasterRoleAnswer::default(),
            role_flip: None,
            since_overrides: BTreeMap::new(),
            started_ms,
        }
    }

    fn make_subaccount(i: usize, now: u64) -> SimSubaccount {
        let state = STATES[i % STATES.len()].to_string();
        let connected = state == "Connected";
        let mut backends = vec![
            SimBackend {
                virtual_host: format!("erp{i}-virtual"),
                virtual_port: "443".into(),
                internal_backend: format!("erp{i}.corp.local:44300"),
                protocol: "HTTPS".into(),
                idle: 2 + (i % 3) as u32,
                active: if connected { 1 + (i % 2) as u32 } else { 0 },
                base_calls: 10_000 + 37 * i as u64,
                calls_per_sec: 2.0,
                bytes_in_per_call: 800,
                bytes_out_per_call: 24_000,
                resources: vec![
                    SimResource {
                        name: "/sap/opu/odata/sap/API_SALES_ORDER_SRV".into(),
                        enabled: true,
                        share: 70,
                    },
                    SimResource {
                        name: "/sap/bc/ping".into(),
                        enabled: i % 2 == 0,
                        share: 30,
                    },
                ],
            },
            SimBackend {
                virtual_host: format!("ecc{i}"),
                virtual_port: "sapgw42".into(),
                internal_backend: format!("ecc{i}.corp.local:sapgw00"),
                protocol: "RFC".into(),
                idle: 1,
                active: 0,
                base_calls: 2_000 + 11 * i as u64,
                calls_per_sec: 0.5,
                bytes_in_per_call: 300,
                bytes_out_per_call: 4_000,
                resources: vec![SimResource {
                    name: "BAPI_USER_GET_DETAIL".into(),
                    enabled: true,
                    share: 100,
                }],
            },
        ];
        if i % 3 == 0 {
            backends.push(SimBackend {
                virtual_host: format!("files{i}"),
                virtual_port: "8080".into(),
                internal_backend: format!("files{i}.corp.local:8080"),
                protocol: "HTTP".into(),
                idle: 0,
                active: 0,
                base_calls: 0,
                calls_per_sec: 0.0,
                bytes_in_per_call: 0,
                bytes_out_per_call: 0,
                resources: vec![SimResource {
                    name: "/share".into(),
                    enabled: true,
                    share: 100,
                }],
            });
        }
        let service_channels = if i % 2 == 0 {
            vec![SimServiceChannel {
                type_key: "HANA".into(),
                type_name: "HANA Database".into(),
                port: 30015 + i as u32,
                state: if connected {
                    "Connected"
                } else {
                    "Disconnected"
                }
                .into(),
                connections: if connected { 3 } else { 0 },
                bytes_received: 5_000 + i as u64,
                bytes_sent: 90_000 + i as u64,
            }]
        } else {
            Vec::new()
        };
        SimSubaccount {
            subaccount: guid(i),
            display_name: format!("Subaccount {i}"),
            description: if i % 2 == 0 {
                "ERP integration".into()
            } else {
                String::new()
            },
            region_host: REGIONS[i % REGIONS.len()].into(),
            location_id: if i % 3 == 2 {
                format!("plant{i}")
            } else {
                String::new()
            },
            state,
            connected_since_ms: (now - (i as u64 % 10 + 1) * DAY_MS) / 1000 * 1000,
            connections: if connected { 2 + (i % 4) as u32 } else { 0 },
            applications: if connected {
                vec![
                    ("sales:web".into(), "JAVA".into(), 2),
                    ("reporting".into(), "NODEJS".into(), 1),
                ]
            } else {
                Vec::new()
            },
            service_channels,
            cert_not_before_ms: now.saturating_sub(300 * DAY_MS) / 1000 * 1000,
            cert_not_after_ms: if i % 7 == 5 {
                now.saturating_sub(DAY_MS) / 1000 * 1000
            } else if i % 7 == 6 {
                (now + 20 * DAY_MS) / 1000 * 1000
            } else {
                (now + 65 * DAY_MS) / 1000 * 1000
            },
            backends,
        }
    }

    /// The release [`SccState::version`] names; [`SccVersion::CURRENT`] when it does not
    /// parse (so a garbage version string can be served without hiding any endpoint).
    pub fn scc_version(&self) -> SccVersion {
        SccVersion::parse(&self.version).unwrap_or(SccVersion::CURRENT)
    }

    /// Switches to release `version`: the version API answers `version` as `x.y.z`, endpoints
    /// follow [`endpoint_since`], and the payload format becomes that release's
    /// ([`PayloadFormat::Old`] before 2.13.0, API-NOTES §1; [`PayloadFormat::New`] from
    /// 2.13.0). Set [`SccState::format`] afterwards to override the format, or
    /// [`SccState::version`] directly for a string with a build number.
    pub fn set_version(&mut self, version: SccVersion) {
        self.version = version.to_string();
        self.format = if version < SccVersion::new(2, 13, 0) {
            PayloadFormat::Old
        } else {
            PayloadFormat::New
        };
    }

    /// Whether this simulator offers `endpoint` (config name) now: its release has it
    /// ([`endpoint_since`] or [`SccState::since_overrides`]) and it is not in
    /// [`SccState::unsupported`].
    pub fn offers(&self, endpoint: &str) -> bool {
        if self.unsupported.contains(endpoint) {
            return false;
        }
        let since = self
            .since_overrides
            .get(endpoint)
            .copied()
            .or_else(|| endpoint_since(endpoint));
        since.is_some_and(|since| self.scc_version() >= since)
    }

    fn now_ms(&self) -> u64 {
        self.clock.unix_ms().max(0) as u64
    }

    /// Seconds since start while moving, else 0.
    fn elapsed(&self) -> f64 {
        if self.moving {
            (self.clock.unix_ms() - self.started_ms).max(0) as f64 / 1000.0
        } else {
            0.0
        }
    }

    /// Total calls of a backend now.
    pub fn calls(&self, b: &SimBackend) -> u64 {
        b.base_calls + (b.calls_per_sec * self.elapsed()) as u64
    }

    /// Non-cumulative calls per bucket now (monotonic per bucket as calls grow).
    pub fn bucket_counts(&self, b: &SimBackend) -> Vec<u64> {
        let total = self.calls(b);
        let weights: u64 = BUCKET_WEIGHTS.iter().sum();
        let mut counts: Vec<u64> = BUCKET_WEIGHTS.iter().map(|w| total * w / weights).collect();
        let assigned: u64 = counts.iter().sum();
        counts[0] += total - assigned;
        counts
    }

    /// The tunnel state served for a subaccount (flips slowly in moving mode).
    fn effective_state(&self, i: usize, s: &SimSubaccount) -> String {
        if self.moving && i % 11 == 10 {
            let phase = (self.elapsed() / 600.0) as u64;
            return if phase % 2 == 0 {
                "Connected"
            } else {
                "ConnectFailure"
            }
            .into();
        }
        s.state.clone()
    }

    fn ids(&self, s: &SimSubaccount) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("regionHost".into(), json!(s.region_host));
        m.insert("subaccount".into(), json!(s.subaccount));
        m.insert("locationID".into(), json!(s.location_id));
        m
    }

    fn port_value(&self, port: &str) -> Value {
        match (self.format, port.parse::<u64>()) {
            (PayloadFormat::Old, Ok(n)) => json!(n),
            _ => json!(port),
        }
    }

    /// The `/api/monitoring/subaccounts` payload of this state.
    pub fn subaccounts_json(&self) -> Value {
        let list: Vec<Value> = self
            .subaccounts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let state = self.effective_state(i, s);
                let connected = state == "Connected";
                let mut tunnel = serde_json::Map::new();
                tunnel.insert("state".into(), json!(state));
                tunnel.insert("connections".into(), json!(if connected { s.connections } else { 0 }));
                tunnel.insert(
                    "applicationConnections".into(),
                    json!(s
                        .applications
                        .iter()
                        .map(|(n, t, c)| json!({"connectionCount": c, "name": n, "type": t}))
                        .collect::<Vec<_>>()),
                );
                tunnel.insert(
                    "serviceChannels".into(),
                    json!(s
                        .service_channels
                        .iter()
                        .map(|c| json!({"type": c.type_key, "state": c.state, "details": format!("hana.corp.local:{}", c.port), "comment": ""}))
                        .collect::<Vec<_>>()),
                );
                tunnel.insert("user".into(), json!("P000042"));
                let tunnel = match self.format {
                    PayloadFormat::New => {
                        tunnel.insert(
                            "connectedSinceTimeStamp".into(),
                            json!(if connected { s.connected_since_ms } else { 0 }),
                        );
                        tunnel.insert(
                            "subaccountCertificate".into(),
                            json!({
                                "notAfterTimeStamp": s.cert_not_after_ms,
                                "notBeforeTimeStamp": s.cert_not_before_ms,
                                "subjectDN": format!("CN={},L={},OU=SAP Cloud Platform Clients,O=SAP SE,C=DE", s.subaccount, s.region_host),
                                "issuer": "CN=SAP Cloud Platform Client CA, OU=SAP Cloud Platform Clients, O=SAP SE, L=EU10, C=DE",
                                "serialNumber": format!("{:x}", 0x1000 + i),
                            }),
                        );
                        Value::Object(tunnel)
                    }
                    PayloadFormat::Old => {
                        if connected {
                            tunnel.insert("connectedSince".into(), json!(scc_date(s.connected_since_ms)));
                        }
                        json!([Value::Object(tunnel)])
                    }
                };
                let mut m = self.ids(s);
                m.insert("displayName".into(), json!(s.display_name));
                m.insert("description".into(), json!(s.description));
                m.insert("tunnel".into(), tunnel);
                Value::Object(m)
            })
            .collect();
        json!({"subaccounts": list, "version": 1})
    }

    fn backend_connections_json(&self) -> Value {
        let list: Vec<Value> = self
            .subaccounts
            .iter()
            .map(|s| {
                let mut m = self.ids(s);
                m.insert(
                    "backendConnections".into(),
                    json!(s
                        .backends
                        .iter()
                        .map(|b| json!({
                            "virtualBackend": b.virtual_backend(),
                            "internalBackend": b.internal_backend,
                            "protocol": b.protocol,
                            "idle": b.idle,
                            "active": b.active,
                        }))
                        .collect::<Vec<_>>()),
                );
                Value::Object(m)
            })
            .collect();
        json!({"subaccounts": list, "version": 1})
    }

    fn service_channel_connections_json(&self) -> Value {
        let list: Vec<Value> = self
            .subaccounts
            .iter()
            .map(|s| {
                let mut m = self.ids(s);
                m.insert(
                    "serviceChannelConnections".into(),
                    json!(s
                        .service_channels
                        .iter()
                        .map(|c| json!({
                            "port": self.port_value(&c.port.to_string()),
                            "typeDesc": {"typeKey": c.type_key, "typeName": c.type_name},
                            "connections": c.connections,
                        }))
                        .collect::<Vec<_>>()),
                );
                Value::Object(m)
            })
            .collect();
        json!({"subaccounts": list, "version": 1})
    }

    fn performance_json(&self) -> Value {
        let bound_key = match self.format {
            PayloadFormat::New => "minimumCallDurationMs",
            PayloadFormat::Old => "minimumCallDurationsMs",
        };
        let list: Vec<Value> = self
            .subaccounts
            .iter()
            .map(|s| {
                let mut m = self.ids(s);
                m.insert(
                    "backendPerformance".into(),
                    json!(s
                        .backends
                        .iter()
                        .map(|b| {
                            let buckets: Vec<Value> = self
                                .bucket_counts(b)
                                .iter()
                                .zip(BUCKET_BOUNDS_MS)
                                .map(|(n, min)| json!({"numberOfCalls": n, bound_key: min}))
                                .collect();
                            json!({
                                "virtualHost": b.virtual_host,
                                "virtualPort": self.port_value(&b.virtual_port),
                                "protocol": b.protocol,
                                "buckets": buckets,
                            })
                        })
                        .collect::<Vec<_>>()),
                );
                m.insert("sinceTime".into(), json!(scc_date(self.since_ms)));
                Value::Object(m)
            })
            .collect();
        json!({"subaccounts": list, "version": 1})
    }

    fn top_time_consumers_json(&self) -> Value {
        let sso_key = match self.format {
            PayloadFormat::New => "validateSsoTime",
            PayloadFormat::Old => "validationSsoTime",
        };
        let users = ["alice", "bob", "carol"];
        let list: Vec<Value> = self
            .subaccounts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut m = self.ids(s);
                let requests: Vec<Value> = s
                    .backends
                    .iter()
                    .filter(|b| b.base_calls > 0)
                    .flat_map(|b| (0..2u64).map(move |k| (b, k)))
                    .map(|(b, k)| {
                        let total = 1200 + 700 * k + 13 * i as u64;
                        let resource = &b.resources[(k as usize) % b.resources.len()].name;
                        json!({
                            "startTime": scc_date(self.since_ms + (k + 1) * 3_600_000),
                            "id": 1000 * i as u64 + k,
                            "protocol": b.protocol,
                            "virtualBackend": b.virtual_backend(),
                            "internalBackend": b.internal_backend,
                            "resource": resource,
                            "sentBytes": b.bytes_out_per_call + k * 100,
                            "receivedBytes": b.bytes_in_per_call + k * 10,
                            "user": users[(i + k as usize) % users.len()],
                            "totalTime": total,
                            "externalTime": total - 150,
                            "genSsoTime": 12,
                            "openRemoteTime": 40 + k,
                            sso_key: 3 + k,
                            "latencyTime": 95,
                        })
                    })
                    .collect();
                m.insert("requests".into(), json!(requests));
                m.insert("sinceTime".into(), json!(scc_date(self.since_ms)));
                Value::Object(m)
            })
            .collect();
        json!({"subaccounts": list, "version": 1})
    }

    /// Memory numbers in KB: (physical CC, heap used) move with time in moving mode.
    pub fn memory_json(&self) -> Value {
        let t = self.elapsed();
        let wave = (t / 60.0).sin();
        let total = self.physical_total_kb;
        let cc = (1_100_000.0 + 80_000.0 * wave) as u64;
        let others = total * 55 / 100;
        let heap_total = 1_048_576u64;
        let heap_used = (520_000.0 + 200_000.0 * (t / 45.0).sin().abs()) as u64;
        json!({
            "physicalKB": {"total": total, "CloudConnector": cc, "others": others, "free": total - cc - others},
            "virtualKB": {"total": total * 2, "CloudConnector": cc * 4, "others": others, "free": total * 2 - cc * 4 - others},
            "cloudConnectorHeapKB": {"total": heap_total, "used": heap_used, "free": heap_total - heap_used},
        })
    }

    /// Certificates with their status now: `(status, json)`.
    fn certificate_items(&self) -> Vec<(&'static str, Value)> {
        let now = self.now_ms();
        let status = |valid_to: u64| {
            if valid_to < now {
                "expired"
            } else if valid_to < now + self.expiring_days * DAY_MS {
                "expiring"
            } else {
                "ok"
            }
        };
        let mut out: Vec<(&'static str, Value)> = self
            .certificates
            .iter()
            .map(|c| {
                (
                    status(c.valid_to_ms),
                    json!({"type": c.kind, "validTo": c.valid_to_ms, "subjectDN": c.subject_dn, "issuerDN": c.issuer_dn, "serialNumber": c.serial_number}),
                )
            })
            .collect();
        for s in &self.subaccounts {
            out.push((
                status(s.cert_not_after_ms),
                json!({"type": "subaccount", "validTo": s.cert_not_after_ms, "subaccountName": s.subaccount, "subaccountRegion": s.region_host}),
            ));
        }
        out
    }

    fn certificates_json(&self, selection: Option<&str>) -> Value {
        let items = self.certificate_items();
        let pick = |st: &str| {
            items
                .iter()
                .filter(|(s, _)| *s == st)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        match selection {
            Some(st) => json!(pick(st)),
            None => {
                json!({"expired": pick("expired"), "expiring": pick("expiring"), "ok": pick("ok")})
            }
        }
    }

    fn usage_json(&self) -> Value {
        let now = self.now_ms();
        let list: Vec<Value> = self
            .subaccounts
            .iter()
            .map(|s| {
                let mut m = match self.format {
                    PayloadFormat::New => self.ids(s),
                    PayloadFormat::Old => {
                        let mut m = serde_json::Map::new();
                        m.insert("subaccountName".into(), json!(s.subaccount));
                        m.insert("subaccountRegion".into(), json!(s.region_host));
                        m.insert("locationID".into(), json!(s.location_id));
                        m
                    }
                };
                let stats: Vec<Value> = s
                    .backends
                    .iter()
                    .map(|b| {
                        let calls = self.calls(b);
                        let mut v = json!({
                            "virtualHost": b.virtual_host,
                            "virtualPort": self.port_value(&b.virtual_port),
                            "protocol": b.protocol,
                            "bytesReceived": calls * b.bytes_in_per_call,
                            "bytesSent": calls * b.bytes_out_per_call,
                            "calls": calls,
                            "resources": b.resources.iter().map(|r| {
                                let rc = calls * r.share / 100;
                                let mut rv = json!({
                                    "resourceName": r.name,
                                    "enabled": r.enabled,
                                    "bytesReceived": rc * b.bytes_in_per_call,
                                    "bytesSent": rc * b.bytes_out_per_call,
                                    "calls": rc,
                                });
                                if rc > 0 {
                                    rv["mostRecentAccess"] = json!(now / 1000 * 1000);
                                }
                                rv
                            }).collect::<Vec<_>>(),
                        });
                        if calls > 0 {
                            v["mostRecentAccess"] = json!(now / 1000 * 1000);
                        }
                        v
                    })
                    .collect();
                m.insert("usageStatistics".into(), json!(stats));
                m.insert(
                    "serviceChannelUsageStatistics".into(),
                    json!(s
                        .service_channels
                        .iter()
                        .map(|c| json!({
                            "port": self.port_value(&c.port.to_string()),
                            "typeDesc": {"typeKey": c.type_key, "typeName": c.type_name},
                            "bytesReceived": c.bytes_received,
                            "bytesSent": c.bytes_sent,
                        }))
                        .collect::<Vec<_>>()),
                );
                m.insert("sinceTime".into(), json!(self.since_ms));
                Value::Object(m)
            })
            .collect();
        json!({"subaccounts": list, "version": 1})
    }

    fn disk_json(&self) -> Value {
        json!({"total": 102_400, "CloudConnector": 2_048, "others": 40_000, "free": 60_352})
    }

    fn cpu_json(&self) -> Value {
        let t = self.elapsed();
        let cc = 12.5 + 5.0 * (t / 30.0).sin();
        json!({"total": cc + 25.0, "CloudConnector": cc})
    }

    fn alerts_json(&self) -> Value {
        let mut alerts: Vec<Value> = self
            .subaccounts
            .iter()
            .enumerate()
            .filter(|(i, s)| self.effective_state(*i, s) == "ConnectFailure")
            .map(|(_, s)| {
                json!({"timestamp": s.connected_since_ms, "status": "ERROR", "type": "TUNNEL_FAILURE",
                       "origin": s.subaccount, "message": format!("Tunnel of subaccount {} could not be opened", s.subaccount), "entity": "subaccount"})
            })
            .collect();
        for (status, cert) in self.certificate_items() {
            if status == "expiring" || status == "expired" {
                alerts.push(json!({"timestamp": self.now_ms() / 1000 * 1000, "status": if status == "expired" { "ERROR" } else { "WARNING" },
                    "type": "CERTIFICATE_EXPIRATION", "origin": cert["type"], "message": format!("Certificate is {status}"), "entity": "certificate"}));
            }
        }
        json!({"alerts": alerts, "version": 1})
    }

    /// The answer to a request, before faults.
    fn respond(&self, request: &SimRequest, endpoint: Option<&str>) -> Reply {
        let Some(endpoint) = endpoint else {
            if request.path == "/exposed" {
                return Reply::Answer(error(
                    400,
                    "INVALID_REQUEST",
                    format!("unknown action: {}", request.query.as_deref().unwrap_or("")),
                ));
            }
            return Reply::Answer(error(
                404,
                "NOT_FOUND",
                format!("no such resource: {}", request.path),
            ));
        };
        let not_offered = || {
            Reply::Answer(error(
                400,
                "INVALID_REQUEST",
                format!("API {} not supported", request.path),
            ))
        };
        if request.path == "/exposed" {
            if !self.offers(endpoint) {
                return not_offered();
            }
            let role = if self.master { "true" } else { "false" };
            return match (endpoint, self.master_role_answer) {
                ("master_role", MasterRoleAnswer::Normal) => {
                    Reply::Answer(SimResponse::raw(200, "text/plain", role))
                }
                ("master_role", MasterRoleAnswer::Hang) => Reply::Hang,
                ("master_role", MasterRoleAnswer::Garbage) => {
                    Reply::Answer(SimResponse::raw(200, "text/plain", "maybe"))
                }
                ("ensure_master_role", _) => Reply::Answer(SimResponse::raw(
                    if self.master { 200 } else { 409 },
                    "text/plain",
                    role,
                )),
                _ => Reply::Answer(SimResponse::raw(200, "text/plain", "")),
            };
        }
        match request.basic_auth() {
            Some((u, p)) if u == self.username && p == self.password => {}
            _ => {
                return Reply::Answer(
                    error(401, "UNAUTHORIZED", "Authentication required".into())
                        .with_header("www-authenticate", "Basic realm=\"SAP Cloud Connector\""),
                )
            }
        }
        if self.password_change_required {
            return Reply::Answer(error(
                403,
                "FORBIDDEN_REQUEST",
                "The initial password must be changed before the API can be used".into(),
            ));
        }
        if !self.offers(endpoint) {
            return not_offered();
        }
        if !self.master && request.path.starts_with("/api/monitoring/") {
            const MESSAGE: &str =
                "This API is only available on the master instance; this instance has the shadow role";
            return match self.shadow_answer {
                ShadowAnswer::BadRequest => {
                    Reply::Answer(error(400, "ILLEGAL_STATE", MESSAGE.into()))
                }
                ShadowAnswer::Conflict => {
                    Reply::Answer(error(409, "ILLEGAL_STATE", MESSAGE.into()))
                }
                ShadowAnswer::Hang => Reply::Hang,
                ShadowAnswer::ServiceUnavailable => Reply::Answer(error(
                    503,
                    "SERVICE_UNAVAILABLE",
                    "This API is only available on the master instance".into(),
                )),
            };
        }
        let body = match endpoint {
            "subaccounts" => self.subaccounts_json(),
            "backend_connections" => self.backend_connections_json(),
            "service_channel_connections" => self.service_channel_connections_json(),
            "backend_performance" => self.performance_json(),
            "top_time_consumers" => self.top_time_consumers_json(),
            "memory" => self.memory_json(),
            "certificates" => self.certificates_json(None),
            "certificates_expired" => self.certificates_json(Some("expired")),
            "certificates_expiring" => self.certificates_json(Some("expiring")),
            "certificates_ok" => self.certificates_json(Some("ok")),
            "usage" => self.usage_json(),
            "disk" => self.disk_json(),
            "cpu" => self.cpu_json(),
            "alerts" => self.alerts_json(),
            "version" => json!({"version": self.version}),
            _ => return Reply::Answer(SimResponse::empty(404)),
        };
        Reply::Answer(
            SimResponse::json(200, &body)
                .with_header("set-cookie", "JSESSIONID=sim; Path=/; Secure; HttpOnly"),
        )
    }

    /// Counts one request towards a pending [`RoleFlip`] and flips the role when it is due.
    fn count_towards_flip(&mut self, endpoint: Option<&str>) {
        let Some(flip) = &mut self.role_flip else {
            return;
        };
        if flip
            .endpoint
            .as_deref()
            .is_some_and(|e| Some(e) != endpoint)
        {
            return;
        }
        flip.remaining = flip.remaining.saturating_sub(1);
        if flip.remaining == 0 {
            self.role_flip = None;
            self.master = !self.master;
        }
    }
}

/// An answer, or none at all.
enum Reply {
    Answer(SimResponse),
    Hang,
}

/// SCC's JSON error body `{"type": …, "message": …}`.
fn error(status: u16, kind: &str, message: String) -> SimResponse {
    SimResponse::json(status, &json!({"type": kind, "message": message}))
}

/// The exporter's endpoint name for a request path, if the simulator serves it.
pub fn endpoint_of(request: &SimRequest) -> Option<&'static str> {
    Some(match request.path.as_str() {
        "/exposed" => match request.query_param("action").as_deref() {
            Some("ping") => "health",
            Some("hasMasterRole") => "master_role",
            Some("ensureMasterRole") => "ensure_master_role",
            _ => return None,
        },
        "/api/monitoring/subaccounts" => "subaccounts",
        "/api/monitoring/connections/backends" => "backend_connections",
        "/api/monitoring/connections/serviceChannels" => "service_channel_connections",
        "/api/monitoring/performance/backends" => "backend_performance",
        "/api/monitoring/performance/topTimeConsumers" => "top_time_consumers",
        "/api/monitoring/memory" => "memory",
        "/api/monitoring/certificates" => "certificates",
        "/api/monitoring/certificates/expired" => "certificates_expired",
        "/api/monitoring/certificates/expiring" => "certificates_expiring",
        "/api/monitoring/certificates/ok" => "certificates_ok",
        "/api/monitoring/usage" => "usage",
        "/api/monitoring/disk" => "disk",
        "/api/monitoring/cpu" => "cpu",
        "/api/monitoring/alerts" => "alerts",
        "/api/v1/connector/version" => "version",
        _ => return None,
    })
}

/// The request path (with query for `/exposed`) of an endpoint (config name of
/// [`ENDPOINTS`]), the inverse of [`endpoint_of`].
pub fn endpoint_path(endpoint: &str) -> Option<&'static str> {
    Some(match endpoint {
        "health" => "/exposed?action=ping",
        "master_role" => "/exposed?action=hasMasterRole",
        "ensure_master_role" => "/exposed?action=ensureMasterRole",
        "subaccounts" => "/api/monitoring/subaccounts",
        "backend_connections" => "/api/monitoring/connections/backends",
        "service_channel_connections" => "/api/monitoring/connections/serviceChannels",
        "backend_performance" => "/api/monitoring/performance/backends",
        "top_time_consumers" => "/api/monitoring/performance/topTimeConsumers",
        "memory" => "/api/monitoring/memory",
        "certificates" => "/api/monitoring/certificates",
        "certificates_expired" => "/api/monitoring/certificates/expired",
        "certificates_expiring" => "/api/monitoring/certificates/expiring",
        "certificates_ok" => "/api/monitoring/certificates/ok",
        "usage" => "/api/monitoring/usage",
        "disk" => "/api/monitoring/disk",
        "cpu" => "/api/monitoring/cpu",
        "alerts" => "/api/monitoring/alerts",
        "version" => "/api/v1/connector/version",
        _ => return None,
    })
}

/// Requests seen per endpoint and per path, for tests that check what was (not) called, and
/// requests that broke the stateless-client rules (no `Accept: application/json`, no
/// `Connection: close`, or credentials sent to an `/exposed` check that needs none).
///
/// Every request counts once, whatever it is answered (faults, shadow answers, 400 for an
/// API the release lacks, hangs — a hanging request counts when it arrives). Endpoint names
/// are the config names of [`ENDPOINTS`]; requests to anything else count as `other`. Paths
/// are counted with their query for `/exposed` (`/exposed?action=ping`) and without it
/// elsewhere. To assert "no call at all to an endpoint this release lacks":
/// `for e in version.missing_endpoints() { assert_eq!(sim.calls.get(e), 0) }`.
#[derive(Debug, Default)]
pub struct Calls {
    counts: Mutex<BTreeMap<String, u64>>,
    paths: Mutex<BTreeMap<String, u64>>,
    violations: Mutex<Vec<String>>,
}

impl Calls {
    /// Requests to `path` so far: `/api/monitoring/memory`, or `/exposed?action=ping`.
    pub fn path(&self, path: &str) -> u64 {
        self.paths
            .lock()
            .expect("calls lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests so far per endpoint name (only names requested at least once).
    pub fn by_endpoint(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("calls lock").clone()
    }

    /// Requests so far per path (see [`Calls::path`]).
    pub fn by_path(&self) -> BTreeMap<String, u64> {
        self.paths.lock().expect("calls lock").clone()
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.counts.lock().expect("calls lock").values().sum()
    }

    /// Forgets the counts (not the violations), e.g. once a test has seen the version.
    pub fn reset(&self) {
        self.counts.lock().expect("calls lock").clear();
        self.paths.lock().expect("calls lock").clear();
    }

    fn record(&self, request: &SimRequest, endpoint: Option<&str>) {
        *self
            .counts
            .lock()
            .expect("calls lock")
            .entry(endpoint.unwrap_or("other").to_string())
            .or_default() += 1;
        let path = match (request.path.as_str(), request.query.as_deref()) {
            ("/exposed", Some(q)) => format!("/exposed?{q}"),
            (p, _) => p.to_string(),
        };
        *self
            .paths
            .lock()
            .expect("calls lock")
            .entry(path)
            .or_default() += 1;
    }

    /// Descriptions of requests that broke the client rules.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().expect("calls lock").clone()
    }

    fn check(&self, request: &SimRequest) {
        let mut problems = Vec::new();
        if request.header("accept") != Some("application/json") {
            problems.push("no Accept: application/json");
        }
        if !request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            problems.push("no Connection: close");
        }
        let exposed = request.path == "/exposed";
        if exposed && request.header("authorization").is_some() {
            problems.push("credentials sent to /exposed");
        }
        if !exposed && request.basic_auth().is_none() {
            problems.push("no basic auth");
        }
        if !problems.is_empty() {
            self.violations.lock().expect("calls lock").push(format!(
                "{}: {}",
                request.path,
                problems.join(", ")
            ));
        }
    }

    /// Requests to `endpoint` so far.
    pub fn get(&self, endpoint: &str) -> u64 {
        self.counts
            .lock()
            .expect("calls lock")
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }
}

struct Handler {
    state: Arc<Mutex<SccState>>,
    calls: Arc<Calls>,
    /// Holds the body of a `HugeBody` fault, built once rather than per request.
    huge: Faults,
}

impl SimHandler for Handler {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        Box::pin(async move {
            let endpoint = endpoint_of(&request);
            self.calls.check(&request);
            self.calls.record(&request, endpoint);
            let (fault, reply) = {
                let mut state = self.state.lock().expect("scc sim lock");
                let fault = endpoint
                    .and_then(|e| state.faults.get(e).cloned())
                    .unwrap_or_else(|| state.global_fault.clone());
                let reply = match &state.reply_override {
                    Some(reply) => Reply::Answer(SimResponse::json(200, reply)),
                    None => state.respond(&request, endpoint),
                };
                // Answered in the role it had when it arrived; a due flip applies from the
                // next request on.
                state.count_towards_flip(endpoint);
                (fault, reply)
            };
            let normal = move || async move {
                match reply {
                    Reply::Answer(response) => response,
                    Reply::Hang => std::future::pending().await,
                }
            };
            if let Fault::HugeBody(_) = fault {
                if self.huge.get() != fault {
                    self.huge.set(fault);
                }
                return self.huge.apply(normal).await;
            }
            let faults = Faults::default();
            faults.set(fault);
            faults.apply(normal).await
        })
    }
}

/// A running Cloud Connector simulator.
pub struct SccSim {
    /// The server (stops when dropped).
    pub server: SimServer,
    /// The served data and modes; change at run time.
    pub state: Arc<Mutex<SccState>>,
    /// Requests per endpoint.
    pub calls: Arc<Calls>,
}

impl SccSim {
    /// Serves `state`, over TLS when `tls` is given.
    pub async fn start(
        state: SccState,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<SccSim> {
        let state = Arc::new(Mutex::new(state));
        let calls = Arc::new(Calls::default());
        let handler = Arc::new(Handler {
            state: state.clone(),
            calls: calls.clone(),
            huge: Faults::default(),
        });
        let server = serve(handler, tls).await?;
        Ok(SccSim {
            server,
            state,
            calls,
        })
    }

    /// Base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Locks the state for inspection or changes.
    pub fn state(&self) -> MutexGuard<'_, SccState> {
        self.state.lock().expect("scc sim lock")
    }

    /// Master (true) or shadow (false), from the next request on (requests already being
    /// answered keep the role they arrived in). Cancels a pending [`SccSim::flip_role_after`].
    pub fn set_master(&self, master: bool) {
        let mut state = self.state();
        state.master = master;
        state.role_flip = None;
    }

    /// Whether the instance has the master role now.
    pub fn is_master(&self) -> bool {
        self.state().master
    }

    /// Flips the role (master ⇄ shadow) once, after the next `n` requests to any path have
    /// arrived: those `n` are answered in the current role, the following ones in the other.
    /// `flip_role_after(1)` makes the first call of a poll answer as master and the next as
    /// shadow. `n == 0` flips at once. Replaces any pending flip.
    pub fn flip_role_after(&self, n: u64) {
        self.flip_role_after_calls_to(None, n);
    }

    /// Like [`SccSim::flip_role_after`], counting only requests to `endpoint` (config name,
    /// e.g. `subaccounts`) when given: the flip happens right after the `n`-th of them.
    pub fn flip_role_after_calls_to(&self, endpoint: Option<&str>, n: u64) {
        let mut state = self.state();
        if n == 0 {
            state.master = !state.master;
            state.role_flip = None;
        } else {
            state.role_flip = Some(RoleFlip {
                remaining: n,
                endpoint: endpoint.map(str::to_string),
            });
        }
    }

    /// Switches the release at run time, see [`SccState::set_version`] (also sets the payload
    /// format of that release). For a version string with a build number, such as
    /// `2.17.1.3`, use [`SccSim::set_version_string`].
    pub fn set_version(&self, version: SccVersion) {
        self.state().set_version(version);
    }

    /// Serves `version` as the version string (e.g. `2.17.1.3`); the release it parses to
    /// decides which endpoints exist (an unparsable string: every endpoint). Leaves the
    /// payload format alone.
    pub fn set_version_string(&self, version: &str) {
        self.state().version = version.to_string();
    }

    /// How a shadow answers the master-only APIs.
    pub fn set_shadow_answer(&self, answer: ShadowAnswer) {
        self.state().shadow_answer = answer;
    }

    /// How the master-role check answers.
    pub fn set_master_role_answer(&self, answer: MasterRoleAnswer) {
        self.state().master_role_answer = answer;
    }

    /// A fault for one endpoint (config name), or for all when `endpoint` is `None`.
    pub fn set_fault(&self, endpoint: Option<&str>, fault: Fault) {
        let mut state = self.state();
        match endpoint {
            Some(e) if fault == Fault::None => {
                state.faults.remove(e);
            }
            Some(e) => {
                state.faults.insert(e.to_string(), fault);
            }
            None => state.global_fault = fault,
        }
    }

    /// Marks an endpoint as not offered by this SCC version (HTTP 400) or offered again.
    pub fn set_unsupported(&self, endpoint: &str, unsupported: bool) {
        let mut state = self.state();
        if unsupported {
            state.unsupported.insert(endpoint.to_string());
        } else {
            state.unsupported.remove(endpoint);
        }
    }

    /// One `sources.scc` config list item pointing at this simulator (first line `name:`).
    pub fn config_yaml(&self, name: &str) -> String {
        let state = self.state();
        format!(
            "name: {name}\nurl: {}\nusername: {}\npassword: \"{}\"",
            self.url(),
            state.username,
            state.password
        )
    }
}

/// Starts a simulator for the demo: `8 × scale` subaccounts with moving data,
/// plain HTTP, and the YAML of one config list item for it.
pub async fn start_demo(scale: u32) -> std::io::Result<(SccSim, String)> {
    let mut state = SccState::generated(8 * scale.max(1) as usize);
    state.moving = true;
    let sim = SccSim::start(state, None).await?;
    // An HA group of one, so the demo shows `scc_ha_group_info` (and the HA alerts stay quiet).
    let yaml = format!("{}\nha_group: scc-demo", sim.config_yaml("scc-demo"));
    Ok((sim, yaml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_monotonically_and_sum_to_calls() {
        let mut state = SccState::generated_at(3, SimClock::at(2026, 12, 1, 0, 0, 0));
        let b = state.subaccounts[0].backends[0].clone();
        let first = state.bucket_counts(&b);
        assert_eq!(first.iter().sum::<u64>(), state.calls(&b));
        state.moving = true;
        assert_eq!(state.bucket_counts(&b), first, "the clock stands still");
        state.clock.advance_secs(100);
        let later = state.bucket_counts(&b);
        assert!(later.iter().zip(&first).all(|(l, f)| l >= f));
        assert!(later.iter().sum::<u64>() > first.iter().sum::<u64>());
    }

    #[test]
    fn ids_are_distinct_and_states_varied() {
        let state = SccState::generated(2000);
        let ids: BTreeSet<_> = state
            .subaccounts
            .iter()
            .map(|s| s.subaccount.clone())
            .collect();
        assert_eq!(ids.len(), 2000);
        let states: BTreeSet<_> = state.subaccounts.iter().map(|s| s.state.clone()).collect();
        assert_eq!(states.len(), 3);
    }

    #[test]
    fn certificate_status_follows_the_clock() {
        // Generated on 29 February 2028: the UI certificate expires 12 days later, on 12 March.
        let clock = SimClock::at(2028, 2, 29, 12, 0, 0);
        let state = SccState::generated_at(1, clock.clone());
        let ui = |state: &SccState| {
            state
                .certificate_items()
                .into_iter()
                .find(|(_, c)| c["type"] == "UI")
                .unwrap()
        };
        let (status, cert) = ui(&state);
        assert_eq!(status, "expiring");
        assert_eq!(
            scc_date(cert["validTo"].as_u64().unwrap()),
            "2028-03-12T12:00:00.000 +0000"
        );
        clock.advance(chrono::Duration::days(12));
        assert_eq!(ui(&state).0, "expiring", "valid until the last millisecond");
        clock.advance_secs(1);
        assert_eq!(ui(&state).0, "expired");
        let alerts = state.alerts_json();
        assert!(alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "CERTIFICATE_EXPIRATION"
                && a["timestamp"] == clock.unix_ms() / 1000 * 1000));
    }

    #[test]
    fn certificates_cover_every_status() {
        let state = SccState::generated(7);
        let items = state.certificate_items();
        for st in ["expired", "expiring", "ok"] {
            assert!(items.iter().any(|(s, _)| *s == st), "{st}");
        }
    }

    #[test]
    fn scc_date_matches_the_observed_shape() {
        assert_eq!(scc_date(1_613_562_250_546), "2021-02-17T11:44:10.546 +0000");
    }
}

#[cfg(test)]
mod fidelity_tests {
    use super::*;
    use std::time::Duration;

    const FIXED: (i32, u32, u32) = (2026, 12, 1);

    async fn sim() -> SccSim {
        let (y, m, d) = FIXED;
        SccSim::start(
            SccState::generated_at(3, SimClock::at(y, m, d, 8, 0, 0)),
            None,
        )
        .await
        .unwrap()
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_millis(400))
            .build()
            .unwrap()
    }

    /// `GET path` the way a stateless client does; `Err` when there is no answer in time.
    async fn get(sim: &SccSim, path: &str) -> Result<(u16, String), reqwest::Error> {
        let mut request = client()
            .get(format!("{}{path}", sim.url()))
            .header("accept", "application/json")
            .header("connection", "close");
        if !path.starts_with("/exposed") {
            let (u, p) = {
                let state = sim.state();
                (state.username.clone(), state.password.clone())
            };
            request = request.basic_auth(u, Some(p));
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    async fn answer(sim: &SccSim, endpoint: &str) -> (u16, String) {
        get(sim, endpoint_path(endpoint).unwrap()).await.unwrap()
    }

    fn error_type(body: &str) -> String {
        serde_json::from_str::<Value>(body).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn versions_parse_order_and_gate() {
        assert_eq!(
            SccVersion::parse("2.17.1.3"),
            Some(SccVersion::new(2, 17, 1))
        );
        assert_eq!(SccVersion::parse("2.14"), Some(SccVersion::V2_14));
        assert_eq!(SccVersion::parse("maybe"), None);
        assert_eq!(SccVersion::parse("2.x.1"), None);
        assert!(SccVersion::V2_18 < SccVersion::new(2, 18, 1));
        assert!(SccVersion::SIMULATED.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(SccVersion::CURRENT.to_string(), "2.19.0");
        assert_eq!(
            SccVersion::V2_12.missing_endpoints(),
            vec![
                "version",
                "master_role",
                "ensure_master_role",
                "service_channel_connections",
                "memory",
                "certificates",
                "certificates_expired",
                "certificates_expiring",
                "certificates_ok",
                "usage",
                "disk",
                "cpu",
                "alerts"
            ]
        );
        assert_eq!(
            SccVersion::V2_16.missing_endpoints(),
            vec!["ensure_master_role", "disk", "cpu", "alerts"]
        );
        assert_eq!(SccVersion::CURRENT.missing_endpoints(), Vec::<&str>::new());
        for e in ENDPOINTS {
            let path = endpoint_path(e).unwrap();
            let (path, query) = match path.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (path.to_string(), None),
            };
            let request = SimRequest {
                method: hyper::Method::GET,
                path,
                query,
                headers: Default::default(),
                body: Default::default(),
            };
            assert_eq!(endpoint_of(&request), Some(e));
            assert!(endpoint_since(e).is_some(), "{e}");
        }
        let mut state = SccState::generated(0);
        assert_eq!(state.scc_version(), SccVersion::new(2, 19, 0));
        state.version = "garbage".into();
        assert_eq!(state.scc_version(), SccVersion::CURRENT);
    }

    #[tokio::test]
    async fn every_release_answers_every_endpoint_as_it_would() {
        let sim = sim().await;
        for version in SccVersion::SIMULATED {
            sim.set_version(version);
            for e in ENDPOINTS {
                let (status, body) = answer(&sim, e).await;
                if version.offers(e) {
                    assert_eq!(status, 200, "{version} {e}: {body}");
                } else {
                    assert_eq!(status, 400, "{version} {e}: {body}");
                    assert_eq!(error_type(&body), "INVALID_REQUEST", "{version} {e}");
                }
            }
            if version.offers("version") {
                let (_, body) = answer(&sim, "version").await;
                assert_eq!(body, format!("{{\"version\":\"{version}\"}}"));
            }
            let (_, body) = answer(&sim, "subaccounts").await;
            let tunnel = &serde_json::from_str::<Value>(&body).unwrap()["subaccounts"][0]["tunnel"];
            assert_eq!(
                tunnel.is_array(),
                version < SccVersion::new(2, 13, 0),
                "{version}: old format before 2.13"
            );
        }
        // A version string with a build number, as a real instance reports it.
        sim.set_version_string("2.17.1.3");
        assert_eq!(
            answer(&sim, "version").await,
            (200, "{\"version\":\"2.17.1.3\"}".to_string())
        );
        assert_eq!(answer(&sim, "cpu").await.0, 200);
        assert_eq!(answer(&sim, "alerts").await.0, 400);
        // The ping exists in every simulated release (SAP's corrected heading: 2.6.0) unless
        // a test models the older reading.
        sim.set_version(SccVersion::V2_12);
        assert_eq!(answer(&sim, "health").await.0, 200);
        sim.state()
            .since_overrides
            .insert("health".into(), SccVersion::V2_16);
        assert_eq!(answer(&sim, "health").await.0, 400);
        sim.set_version(SccVersion::V2_16);
        assert_eq!(answer(&sim, "health").await.0, 200);
        // Version gates come after authentication.
        let (status, _) = client()
            .get(format!("{}/api/monitoring/alerts", sim.url()))
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .unwrap();
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn exposed_actions_a_release_lacks_answer_400() {
        let sim = sim().await;
        sim.set_version(SccVersion::V2_14);
        let (status, body) = answer(&sim, "master_role").await;
        assert_eq!(status, 400);
        assert_eq!(error_type(&body), "INVALID_REQUEST");
        sim.set_version(SccVersion::V2_18);
        assert_eq!(answer(&sim, "master_role").await, (200, "true".into()));
        assert_eq!(answer(&sim, "ensure_master_role").await.0, 400);
        sim.set_version_string("2.18.1");
        assert_eq!(
            answer(&sim, "ensure_master_role").await,
            (200, "true".into())
        );
        let (status, body) = get(&sim, "/exposed?action=selfDestruct").await.unwrap();
        assert_eq!(status, 400);
        assert_eq!(error_type(&body), "INVALID_REQUEST");
        assert_eq!(get(&sim, "/api/monitoring/nothing").await.unwrap().0, 404);
    }

    #[tokio::test]
    async fn a_shadow_answers_master_only_apis_per_its_shadow_answer() {
        let sim = sim().await;
        sim.set_master(false);
        assert!(!sim.is_master());
        let master_only: Vec<&str> = ENDPOINTS
            .into_iter()
            .filter(|e| endpoint_path(e).unwrap().starts_with("/api/monitoring/"))
            .collect();
        assert_eq!(master_only.len(), 14);
        // Default: 400 ILLEGAL_STATE.
        assert_eq!(sim.state().shadow_answer, ShadowAnswer::BadRequest);
        for e in &master_only {
            let (status, body) = answer(&sim, e).await;
            assert_eq!(status, 400, "{e}");
            assert_eq!(error_type(&body), "ILLEGAL_STATE", "{e}");
        }
        // The non-master-only APIs keep answering.
        assert_eq!(answer(&sim, "health").await.0, 200);
        assert_eq!(
            answer(&sim, "version").await,
            (200, "{\"version\":\"2.19.0.2\"}".into())
        );
        assert_eq!(answer(&sim, "master_role").await, (200, "false".into()));
        assert_eq!(
            answer(&sim, "ensure_master_role").await,
            (409, "false".into())
        );

        sim.set_shadow_answer(ShadowAnswer::Conflict);
        let (status, body) = answer(&sim, "memory").await;
        assert_eq!((status, error_type(&body).as_str()), (409, "ILLEGAL_STATE"));

        sim.set_shadow_answer(ShadowAnswer::ServiceUnavailable);
        assert_eq!(answer(&sim, "memory").await.0, 503);

        sim.set_shadow_answer(ShadowAnswer::Hang);
        let hung = get(&sim, "/api/monitoring/memory").await.unwrap_err();
        assert!(hung.is_timeout(), "{hung}");
        assert_eq!(answer(&sim, "master_role").await, (200, "false".into()));
        assert_eq!(answer(&sim, "version").await.0, 200);

        // An API the release lacks answers "not supported" on a shadow too, at once.
        sim.set_version(SccVersion::V2_16);
        let (status, body) = answer(&sim, "alerts").await;
        assert_eq!(
            (status, error_type(&body).as_str()),
            (400, "INVALID_REQUEST")
        );

        // The role change takes effect with the very next request.
        sim.set_master(true);
        assert_eq!(answer(&sim, "memory").await.0, 200);
    }

    #[tokio::test]
    async fn the_role_flips_in_the_middle_of_a_poll() {
        let sim = sim().await;
        sim.flip_role_after(1);
        assert_eq!(answer(&sim, "subaccounts").await.0, 200, "still master");
        let (status, body) = answer(&sim, "memory").await;
        assert_eq!((status, error_type(&body).as_str()), (400, "ILLEGAL_STATE"));
        assert_eq!(answer(&sim, "master_role").await, (200, "false".into()));
        assert!(!sim.is_master());
        assert_eq!(sim.state().role_flip, None, "a flip happens once");

        // Back to master after the second call to `subaccounts`; other calls do not count.
        sim.flip_role_after_calls_to(Some("subaccounts"), 2);
        assert_eq!(answer(&sim, "health").await.0, 200);
        assert_eq!(answer(&sim, "subaccounts").await.0, 400);
        assert_eq!(answer(&sim, "master_role").await, (200, "false".into()));
        assert_eq!(
            answer(&sim, "subaccounts").await.0,
            400,
            "answered as shadow"
        );
        assert_eq!(answer(&sim, "subaccounts").await.0, 200, "master again");
        assert_eq!(answer(&sim, "master_role").await, (200, "true".into()));

        // n = 0 flips at once; set_master cancels a pending flip.
        sim.flip_role_after(0);
        assert!(!sim.is_master());
        sim.flip_role_after(1);
        sim.set_master(true);
        assert_eq!(answer(&sim, "memory").await.0, 200);
        assert_eq!(answer(&sim, "memory").await.0, 200);
        assert!(sim.is_master());
    }

    #[tokio::test]
    async fn the_master_role_check_fails_on_its_own() {
        let sim = sim().await;
        sim.set_master_role_answer(MasterRoleAnswer::Hang);
        let hung = get(&sim, "/exposed?action=hasMasterRole")
            .await
            .unwrap_err();
        assert!(hung.is_timeout(), "{hung}");
        assert_eq!(answer(&sim, "memory").await.0, 200, "data still arrives");
        assert_eq!(answer(&sim, "health").await.0, 200);
        assert_eq!(answer(&sim, "ensure_master_role").await.0, 200);

        sim.set_master_role_answer(MasterRoleAnswer::Garbage);
        assert_eq!(answer(&sim, "master_role").await, (200, "maybe".into()));
        assert_eq!(answer(&sim, "subaccounts").await.0, 200);

        // Where the release has no master-role check, its answer is that release's.
        sim.set_version(SccVersion::V2_14);
        assert_eq!(answer(&sim, "master_role").await.0, 400);
        sim.set_version(SccVersion::CURRENT);
        sim.set_master_role_answer(MasterRoleAnswer::Normal);
        assert_eq!(answer(&sim, "master_role").await, (200, "true".into()));
    }

    #[tokio::test]
    async fn requests_are_counted_per_endpoint_and_path() {
        let sim = sim().await;
        sim.set_version(SccVersion::V2_14);
        for e in ["health", "version", "memory", "memory", "alerts"] {
            answer(&sim, e).await;
        }
        get(&sim, "/api/monitoring/nothing").await.unwrap();
        assert_eq!(sim.calls.get("memory"), 2);
        assert_eq!(sim.calls.get("alerts"), 1, "answered 400, still counted");
        assert_eq!(sim.calls.get("other"), 1);
        assert_eq!(sim.calls.path("/api/monitoring/memory"), 2);
        assert_eq!(sim.calls.path("/exposed?action=ping"), 1);
        assert_eq!(sim.calls.path("/api/monitoring/nothing"), 1);
        assert_eq!(sim.calls.total(), 6);
        assert_eq!(sim.calls.by_endpoint().get("version"), Some(&1));
        assert_eq!(sim.calls.by_path().len(), 5);
        sim.calls.reset();
        assert_eq!(sim.calls.total(), 0);
        answer(&sim, "subaccounts").await;
        let lacking = SccVersion::V2_14.missing_endpoints();
        assert!(lacking.iter().all(|e| sim.calls.get(e) == 0));
        assert_eq!(sim.calls.violations(), Vec::<String>::new());
        assert_eq!(sim.server.request_count(), 7);
    }
}
