//! Simulator of Tencent Cloud Monitor: API 3.0 (`POST /`, TC3-HMAC-SHA256) and v2
//! (`/v2/index.php`, HmacSHA1/HmacSHA256) on 127.0.0.1.
//!
//! Like the real service it verifies every signature (wrong key → `AuthFailure.SignatureFailure`
//! / code 4100), enforces the timestamp window (5 minutes: `AuthFailure.SignatureExpire` /
//! 4200) and v2 nonce reuse (4500), enforces a request rate limit (`RequestLimitExceeded` /
//! 4400), serves lagging data (the newest point missing: omitted in v3, `null` in v2
//! GetMonitorData, cut off in v2 GetMetricStatistics), can stop publishing altogether after a
//! time (`data_until`, for all or some instances), returns dimensions in shuffled order and
//! data points in shuffled order, limits batches to 50 instances and v3 requests to 1,440
//! points (instances × points), lists the v2 `DescribeMetrics` catalog of `qce/cvm` only (as
//! documented), can withdraw an action (`unoffered_actions`), and scales to thousands of
//! instances. Products differ in supported periods (COS nothing below 300 s) and lag (CDN about
//! 6 minutes late, `namespace_lag_secs`); single metrics can fail (`failing_metrics`,
//! `InternalError` / 6000) or stay rate-limited (`rate_limited_metrics`), catalogs too (`failing_catalogs`); answers can echo dimensions
//! beyond the requested ones (`extra_dimensions`); v2 times are Beijing time (UTC+8) in every
//! region (`v2_offset`). Values are a slow deterministic wave per (instance, metric), or fixed overrides.
//!
//! Signatures are checked with the simulator's own implementation of both algorithms
//! ([`sign`]); "now" (signature timestamps, nonce ages, which points are ready) is the state's
//! [`SimClock`].

pub mod describe;
pub mod sign;

use crate::{serve, Faults, SimClock, SimHandler, SimRequest, SimResponse, SimServer};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use rand::seq::SliceRandom;
use serde_json::{json, Value};
use sign::{Tc3Header, V2Algorithm};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One metric the simulator serves.
#[derive(Debug, Clone)]
pub struct SimMetric {
    /// Namespace, e.g. `QCE/CVM` (v3) or `qce/cvm` (v2).
    pub namespace: String,
    /// Metric name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Supported periods in seconds.
    pub periods: Vec<u64>,
    /// Statistic types (v3 `StatType`; v2 `statType` for every period).
    pub stats: Vec<String>,
}

impl SimMetric {
    fn new(namespace: &str, name: &str, unit: &str, periods: &[u64], stats: &[&str]) -> Self {
        SimMetric {
            namespace: namespace.into(),
            name: name.into(),
            unit: unit.into(),
            periods: periods.to_vec(),
            stats: stats.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The simulator's state, changeable by tests at run time.
#[derive(Debug)]
pub struct TencentSimState {
    /// Accepted key id.
    pub secret_id: String,
    /// Accepted key secret.
    pub secret_key: String,
    /// Known instance ids (dimension values); others get empty data.
    pub instances: HashSet<String>,
    /// Served metrics.
    pub metrics: Vec<SimMetric>,
    /// The newest this many periods have no data yet (ingest lag).
    pub lag_periods: i64,
    /// No datapoint with a timestamp after this (Unix seconds) is served, for any instance:
    /// publishing has stopped (an agent down, a stalled ingest). Missing points are omitted
    /// in v3 and `null` in v2, as when they lag.
    pub data_until: Option<i64>,
    /// Like `data_until`, for single instances (by id); the earlier of the two applies.
    pub data_until_by_instance: HashMap<String, i64>,
    /// Most datapoints one v3 GetMonitorData request may cover, instances × points per
    /// instance (documented: 1,440).
    pub point_limit: usize,
    /// Actions this endpoint no longer offers: v3 answers `InvalidAction`, v2 code 6100
    /// ("not supported by the version").
    pub unoffered_actions: HashSet<String>,
    /// Fixed values per (instance id, metric name), regardless of time and statistic.
    pub overrides: HashMap<(String, String), f64>,
    /// Requests per second accepted (None = unlimited).
    pub rate_limit: Option<u32>,
    /// The server's clock (real time by default; `clock.set_offset(..)` simulates skew).
    pub clock: SimClock,
    /// Most instances per v3 GetMonitorData.
    pub batch_limit: usize,
    /// Namespaces (lower-case) whose monitoring is not enabled (`FailedOperation.ErrNotOpen`).
    pub not_open: HashSet<String>,
    /// Extra ingestion lag per namespace (lower-case), seconds, on top of `lag_periods`: CDN
    /// publishes its points about 6 minutes late (tencentyun/tencentcloud-exporter issue #93).
    pub namespace_lag_secs: HashMap<String, i64>,
    /// Metric names (lower-case) whose reads fail with `InternalError` (one of the codes the
    /// SDK lists for GetMonitorData).
    pub failing_metrics: HashSet<String>,
    /// Metric names (lower-case) whose reads are always refused with `RequestLimitExceeded`
    /// (a read that stays rate-limited whatever the retries).
    pub rate_limited_metrics: HashSet<String>,
    /// Namespaces (lower-case) whose `DescribeBaseMetrics` fails with `InternalError`.
    pub failing_catalogs: HashSet<String>,
    /// Dimensions a v3 answer echoes for every point of a namespace (lower-case) besides the
    /// requested ones.
    pub extra_dimensions: HashMap<String, Vec<(String, String)>>,
    /// Accepted calls per (action, namespace as sent).
    pub namespace_calls: BTreeMap<(String, String), u64>,
    /// (metric, StartTime, EndTime) in Unix seconds of every accepted v3/v2 read, in order.
    pub requested_windows: Vec<(String, i64, i64)>,
    /// UTC offset of v2 times, seconds east.
    pub v2_offset: i32,
    /// Calls per action (accepted after auth and rate limit).
    pub calls: BTreeMap<String, u64>,
    /// Instances per accepted v3/v2 GetMonitorData call, in order.
    pub batch_sizes: Vec<usize>,
    /// Points asked per instance (period-aligned points in [StartTime, EndTime]) of every
    /// accepted v3/v2 GetMonitorData / GetMetricStatistics call, in order.
    pub requested_points: Vec<usize>,
    /// Requests rejected by the rate limit.
    pub rate_limited: u64,
    /// Requests rejected for bad credentials or signatures.
    pub auth_failures: u64,
    /// Answer every request with this JSON (HTTP 200) instead (wrong-shape tests).
    pub reply_override: Option<Value>,
    /// The products' Describe APIs: their instances per region, and the calls.
    pub describe: describe::DescribeState,
    window: Option<(Instant, u32)>,
    nonces: HashMap<String, i64>,
}

impl TencentSimState {
    /// A state with `instances` CVM instances (`ins-00000000`, …), both APIs' CVM metrics,
    /// one period of lag and no rate limit.
    pub fn new(secret_id: &str, secret_key: &str, instances: usize) -> Self {
        TencentSimState {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            instances: (0..instances).map(instance_id).collect(),
            metrics: vec![
                SimMetric::new(
                    "QCE/CVM",
                    "CPUUsage",
                    "%",
                    &[10, 60, 300, 3600, 86400],
                    &["max", "min", "avg"],
                ),
                SimMetric::new(
                    "QCE/CVM",
                    "MemUsage",
                    "%",
                    &[10, 60, 300, 3600, 86400],
                    &["max", "min", "avg"],
                ),
                SimMetric::new("QCE/CVM", "TcpCurrEstab", "Count", &[60, 300], &["max"]),
                SimMetric::new(
                    "QCE/CVM",
                    "LanOuttraffic",
                    "Mbps",
                    &[10, 60, 300],
                    &["max", "min", "avg"],
                ),
                // CDN: per-minute and longer periods, published late (see namespace_lag_secs).
                SimMetric::new(
                    "QCE/CDN",
                    "Bandwidth",
                    "Mbps",
                    &[60, 300, 3600, 86400],
                    &["max"],
                ),
                // COS: nothing below 300 s.
                SimMetric::new("QCE/COS", "StdStorage", "MB", &[300, 3600, 86400], &["avg"]),
                SimMetric::new("qce/cvm", "cpu_usage", "%", &[60, 300], &["avg"]),
                SimMetric::new("qce/cvm", "mem_usage", "MB", &[60, 300], &["max"]),
                SimMetric::new("qce/cvm", "lan_outtraffic", "Mbps", &[60, 300], &["avg"]),
            ],
            lag_periods: 1,
            data_until: None,
            data_until_by_instance: HashMap::new(),
            point_limit: 1440,
            unoffered_actions: HashSet::new(),
            overrides: HashMap::new(),
            rate_limit: None,
            clock: SimClock::real(),
            batch_limit: 50,
            not_open: HashSet::new(),
            namespace_lag_secs: HashMap::from([("qce/cdn".to_string(), 360)]),
            failing_metrics: HashSet::new(),
            rate_limited_metrics: HashSet::new(),
            failing_catalogs: HashSet::new(),
            extra_dimensions: HashMap::new(),
            namespace_calls: BTreeMap::new(),
            requested_windows: Vec::new(),
            // v2 answers in Beijing time in every region.
            v2_offset: 8 * 3600,
            calls: BTreeMap::new(),
            batch_sizes: Vec::new(),
            requested_points: Vec::new(),
            rate_limited: 0,
            auth_failures: 0,
            reply_override: None,
            describe: describe::DescribeState::default(),
            window: None,
            nonces: HashMap::new(),
        }
    }

    /// Accepted calls of one action.
    pub fn calls_of(&self, action: &str) -> u64 {
        self.calls.get(action).copied().unwrap_or(0)
    }

    /// Accepted calls of one action for one namespace (any case).
    pub fn calls_for(&self, action: &str, namespace: &str) -> u64 {
        self.namespace_calls
            .iter()
            .filter(|((a, n), _)| a == action && n.eq_ignore_ascii_case(namespace))
            .map(|(_, c)| *c)
            .sum()
    }

    fn count_namespace_call(&mut self, action: &str, namespace: &str) {
        *self
            .namespace_calls
            .entry((action.to_string(), namespace.to_string()))
            .or_default() += 1;
    }

    /// True when the instance has published its point at `ts` (see `data_until`).
    pub fn published(&self, instance: &str, ts: i64) -> bool {
        self.data_until.is_none_or(|until| ts <= until)
            && self
                .data_until_by_instance
                .get(instance)
                .is_none_or(|until| ts <= *until)
    }
}

/// The id of the n-th simulated instance.
pub fn instance_id(n: usize) -> String {
    format!("ins-{n:08}")
}

/// The simulated value of a metric for an instance at a time (before overrides): a slow wave
/// around a per-instance base, rounded to 2 decimals; `max` is one above `avg`, `min` one below.
pub fn value_at(instance: &str, metric: &str, stat: &str, ts: i64) -> f64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in instance
        .bytes()
        .chain([0])
        .chain(metric.to_ascii_lowercase().bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let base = 10.0 + (h % 6000) as f64 / 100.0;
    let phase = (h % 17) as f64;
    let v = base + 5.0 * ((ts as f64) / 900.0 + phase).sin();
    let v = match stat {
        "max" => v + 1.0,
        "min" => v - 1.0,
        _ => v,
    };
    (v.max(0.0) * 100.0).round() / 100.0
}

/// A running Tencent simulator; keeps the server alive.
pub struct TencentSim {
    /// The HTTP server.
    pub server: SimServer,
    /// Shared state.
    pub state: Arc<Mutex<TencentSimState>>,
    /// Switchable faults.
    pub faults: Arc<Faults>,
}

impl TencentSim {
    /// Starts a simulator with this state on 127.0.0.1.
    pub async fn start(state: TencentSimState) -> std::io::Result<TencentSim> {
        let state = Arc::new(Mutex::new(state));
        let faults = Arc::new(Faults::default());
        let handler = Arc::new(Handler {
            state: state.clone(),
            faults: faults.clone(),
        });
        let server = serve(handler, None).await?;
        Ok(TencentSim {
            server,
            state,
            faults,
        })
    }

    /// Base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Requests served (all, including rejected ones).
    pub fn request_count(&self) -> u64 {
        self.server.request_count()
    }

    /// Runs `f` on the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut TencentSimState) -> R) -> R {
        f(&mut self.state.lock().expect("sim state"))
    }
}

/// Starts a simulator for the demo: `20 × scale` CVM instances over API 3.0 with ingest lag,
/// and the YAML of one config list item for it.
pub async fn start_demo(scale: u32) -> std::io::Result<(TencentSim, String)> {
    let count = 20 * scale.max(1) as usize;
    let sim = TencentSim::start(TencentSimState::new(
        "AKIDdemo0000000000000000000000000000",
        "demo-secret-key-0000000000000000",
        count,
    ))
    .await?;
    let instances = (0..count)
        .map(|i| format!("{{InstanceId: {}}}", instance_id(i)))
        .collect::<Vec<_>>()
        .join(", ");
    let yaml = format!(
        "name: demo-tencent\napi: v3\nurl: {}\nregion: ap-guangzhou\nsecret_id: AKIDdemo0000000000000000000000000000\nsecret_key: demo-secret-key-0000000000000000\nendpoints: {{metric_data: 30s, metric_catalog: 10m}}\nmetrics:\n  - namespace: QCE/CVM\n    names: [CPUUsage, MemUsage, TcpCurrEstab]\n    period: 60s\n    instances: [{instances}]",
        sim.url()
    );
    Ok((sim, yaml))
}

struct Handler {
    state: Arc<Mutex<TencentSimState>>,
    faults: Arc<Faults>,
}

impl SimHandler for Handler {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        Box::pin(async move {
            self.faults
                .apply(|| async {
                    let mut state = self.state.lock().expect("sim state");
                    if let Some(reply) = &state.reply_override {
                        return SimResponse::json(200, reply);
                    }
                    if request.path == "/v2/index.php" {
                        handle_v2(&mut state, &request)
                    } else if request.path == "/" && request.method == hyper::Method::POST {
                        handle_v3(&mut state, &request)
                    } else {
                        SimResponse::raw(404, "text/plain", "not found")
                    }
                })
                .await
        })
    }
}

/// Counts a request against the per-second limit; false when over it. The window is real
/// elapsed time (not the simulator clock, which may stand still in tests).
fn within_rate_limit(state: &mut TencentSimState) -> bool {
    let Some(limit) = state.rate_limit else {
        return true;
    };
    let now = Instant::now();
    let window = match state.window {
        Some((start, n)) if now.duration_since(start) < Duration::from_secs(1) => (start, n + 1),
        _ => (now, 1),
    };
    state.window = Some(window);
    if window.1 > limit {
        state.rate_limited += 1;
        return false;
    }
    true
}

fn offset(secs_east: i32) -> FixedOffset {
    FixedOffset::east_opt(secs_east).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// RFC 3339 (API 3.0 `StartTime`/`EndTime`) as Unix seconds.
fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// A v2 time, `YYYY-MM-DD HH:MM:SS` (a `T` is accepted too) in the given UTC offset, as Unix
/// seconds.
fn parse_v2_time(text: &str, secs_east: i32) -> Option<i64> {
    let text = text.trim();
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())?;
    offset(secs_east)
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp())
}

/// Unix seconds as a v2 time in the given UTC offset.
fn v2_time(ts: i64, secs_east: i32) -> String {
    crate::clock::from_unix(ts)
        .with_timezone(&offset(secs_east))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn find_metric<'a>(
    state: &'a TencentSimState,
    namespace: &str,
    name: &str,
) -> Option<&'a SimMetric> {
    state
        .metrics
        .iter()
        .find(|m| m.namespace.eq_ignore_ascii_case(namespace) && m.name.eq_ignore_ascii_case(name))
}

/// Timestamps with data in `[start, end]` for `period` at `now` in `namespace`, honouring the
/// lag (`lag_periods`, and the namespace's own lag).
fn point_times(
    state: &TencentSimState,
    namespace: &str,
    (start, end): (i64, i64),
    period: i64,
    now: i64,
) -> Vec<(i64, bool)> {
    let lag = state
        .namespace_lag_secs
        .get(&namespace.to_ascii_lowercase())
        .copied()
        .unwrap_or(0);
    let newest_ready = (now - lag).div_euclid(period) * period - state.lag_periods * period;
    let first = (start + period - 1).div_euclid(period) * period;
    let mut out = Vec::new();
    let mut ts = first;
    while ts <= end && out.len() < 7200 {
        out.push((ts, ts <= newest_ready));
        ts += period;
    }
    out
}

fn value_of(state: &TencentSimState, instance: &str, metric: &str, stat: &str, ts: i64) -> f64 {
    state
        .overrides
        .get(&(instance.to_string(), metric.to_string()))
        .copied()
        .unwrap_or_else(|| value_at(instance, metric, stat, ts))
}

// ---------------------------------------------------------------------------------------------
// API 3.0

fn v3_error(code: &str, message: &str) -> SimResponse {
    SimResponse::json(
        200,
        &json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id()}}),
    )
}

fn v3_ok(mut body: Value) -> SimResponse {
    body["RequestId"] = json!(request_id());
    SimResponse::json(200, &json!({ "Response": body }))
}

fn request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn handle_v3(state: &mut TencentSimState, request: &SimRequest) -> SimResponse {
    let now = state.clock.unix();
    let Some(auth) = request.header("authorization").and_then(Tc3Header::parse) else {
        state.auth_failures += 1;
        return v3_error(
            "AuthFailure.InvalidAuthorization",
            "Authorization header is missing or not TC3-HMAC-SHA256.",
        );
    };
    if auth.secret_id != state.secret_id {
        state.auth_failures += 1;
        return v3_error(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        );
    }
    let Some(timestamp) = request
        .header("x-tc-timestamp")
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return v3_error(
            "MissingParameter",
            "The request is missing a required parameter `X-TC-Timestamp`.",
        );
    };
    if (now - timestamp).abs() > 300 {
        state.auth_failures += 1;
        return v3_error(
            "AuthFailure.SignatureExpire",
            &format!("Signature expired. Timestamp {timestamp} differs from the server time {now} by more than 300 seconds."),
        );
    }
    let signed = [
        (
            "content-type",
            request.header("content-type").unwrap_or_default(),
        ),
        ("host", request.header("host").unwrap_or_default()),
    ];
    let canonical = sign::tc3_canonical_request("POST", "/", "", &signed, &request.body);
    let date = sign::tc3_date(timestamp);
    // The service of the credential scope: monitor, or one of the products' Describe APIs.
    let service = auth.service.as_str();
    let expected = sign::tc3_sign(
        &state.secret_key,
        &date,
        service,
        &sign::tc3_string_to_sign(timestamp, service, &canonical),
    );
    if !(service == "monitor" || describe::known_service(service))
        || auth.date != date
        || auth.signed_headers != sign::tc3_headers(&signed).1
        || !sign::signatures_match(&auth.signature, &expected)
    {
        state.auth_failures += 1;
        return v3_error(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    if !within_rate_limit(state) {
        return v3_error(
            "RequestLimitExceeded",
            "Your current request times equals to `20` in a second, which exceeds the frequency limit `20` for a second. Please reduce the frequency of calls.",
        );
    }
    let action = request
        .header("x-tc-action")
        .unwrap_or_default()
        .to_string();
    let Some(body) = request.json() else {
        return v3_error("InvalidParameter", "The request body is not valid JSON.");
    };
    if state.unoffered_actions.contains(&action) {
        return v3_error(
            "InvalidAction",
            &format!("The action `{action}` is not supported by monitor 2018-07-24."),
        );
    }
    *state.calls.entry(action.clone()).or_default() += 1;
    let region = request.header("x-tc-region").unwrap_or_default();
    if auth.service != "monitor" {
        let version = request.header("x-tc-version").unwrap_or_default();
        return describe::handle(state, &auth.service, version, region, &action, &body);
    }
    state.describe.region = region.to_string();
    let namespace = body["Namespace"].as_str().unwrap_or_default().to_string();
    state.count_namespace_call(&action, &namespace);
    match action.as_str() {
        "GetMonitorData" => v3_get_monitor_data(state, &body, now),
        "DescribeBaseMetrics" => v3_describe_base_metrics(state, &body),
        other => v3_error(
            "InvalidAction",
            &format!("The action `{other}` is not supported by monitor 2018-07-24."),
        ),
    }
}

fn v3_describe_base_metrics(state: &TencentSimState, body: &Value) -> SimResponse {
    let namespace = body["Namespace"].as_str().unwrap_or_default();
    if state
        .failing_catalogs
        .contains(&namespace.to_ascii_lowercase())
    {
        return v3_error(
            "InternalError",
            "An internal error has occurred. Retry your request.",
        );
    }
    let set: Vec<Value> = state
        .metrics
        .iter()
        .filter(|m| m.namespace.eq_ignore_ascii_case(namespace) && m.namespace.starts_with("QCE"))
        .map(|m| {
            json!({
                "Namespace": m.namespace,
                "MetricName": m.name,
                "Unit": m.unit,
                "UnitCname": m.unit,
                "Period": m.periods,
                "Periods": m.periods.iter().map(|p| json!({"Period": p.to_string(), "StatType": m.stats})).collect::<Vec<_>>(),
                "Meaning": {"En": format!("{} of the instance", m.name), "Zh": ""},
                "Dimensions": [{"Dimensions": ["InstanceId"]}],
            })
        })
        .collect();
    v3_ok(json!({ "MetricSet": set }))
}

fn v3_get_monitor_data(state: &mut TencentSimState, body: &Value, now: i64) -> SimResponse {
    let namespace = body["Namespace"].as_str().unwrap_or_default().to_string();
    let metric_name = body["MetricName"].as_str().unwrap_or_default().to_string();
    if state.not_open.contains(&namespace.to_ascii_lowercase()) {
        return v3_error(
            "FailedOperation.ErrNotOpen",
            "The monitoring of this product is not enabled.",
        );
    }
    let Some(metric) = find_metric(state, &namespace, &metric_name).cloned() else {
        return v3_error(
            "InvalidParameterValue",
            &format!("metric {metric_name} of namespace {namespace} does not exist"),
        );
    };
    if state
        .failing_metrics
        .contains(&metric_name.to_ascii_lowercase())
    {
        return v3_error(
            "InternalError",
            "An internal error has occurred. Retry your request.",
        );
    }
    if state
        .rate_limited_metrics
        .contains(&metric_name.to_ascii_lowercase())
    {
        state.rate_limited += 1;
        return v3_error(
            "RequestLimitExceeded",
            "Your current request times exceeds the frequency limit. Please reduce the frequency of calls.",
        );
    }
    let period = body["Period"].as_i64().unwrap_or(300);
    if !metric.periods.contains(&(period as u64)) {
        return v3_error(
            "InvalidParameterValue",
            &format!("period {period} is not supported by {metric_name}"),
        );
    }
    let (Some(start), Some(end)) = (
        body["StartTime"].as_str().and_then(parse_rfc3339),
        body["EndTime"].as_str().and_then(parse_rfc3339),
    ) else {
        return v3_error(
            "InvalidParameter",
            "StartTime and EndTime must be RFC 3339 times.",
        );
    };
    if end < start {
        return v3_error("InvalidParameter", "EndTime must not be before StartTime.");
    }
    let instances = body["Instances"].as_array().cloned().unwrap_or_default();
    if instances.is_empty() || instances.len() > state.batch_limit {
        return v3_error(
            "InvalidParameterValue.LimitExceeded",
            &format!(
                "Instances must hold 1 to {} entries, got {}.",
                state.batch_limit,
                instances.len()
            ),
        );
    }
    let times = point_times(state, &namespace, (start, end), period, now);
    if instances.len() * times.len() > state.point_limit {
        return v3_error(
            "InvalidParameterValue.LimitExceeded",
            &format!(
                "A request may cover at most {} data points; {} instances × {} points asked.",
                state.point_limit,
                instances.len(),
                times.len()
            ),
        );
    }
    state.batch_sizes.push(instances.len());
    state.requested_points.push(times.len());
    state
        .requested_windows
        .push((metric.name.clone(), start, end));
    let extra: Vec<Value> = state
        .extra_dimensions
        .get(&namespace.to_ascii_lowercase())
        .map(|dims| {
            dims.iter()
                .map(|(k, v)| json!({"Name": k, "Value": v}))
                .collect()
        })
        .unwrap_or_default();
    let spec = body["SpecifyStatistics"].as_u64().unwrap_or(0);
    let mut rng = rand::rng();
    let mut points: Vec<Value> = instances
        .iter()
        .map(|inst| {
            let mut dims = inst["Dimensions"].as_array().cloned().unwrap_or_default();
            dims.extend(extra.iter().cloned());
            let id = dims
                .iter()
                .filter_map(|d| d["Value"].as_str())
                .find(|v| state.instances.contains(*v) && state.describe.serves(v))
                .map(str::to_string);
            dims.shuffle(&mut rng);
            let ready: Vec<i64> = match &id {
                Some(id) => times
                    .iter()
                    .filter(|(t, ok)| *ok && state.published(id, *t))
                    .map(|(t, _)| *t)
                    .collect(),
                None => Vec::new(),
            };
            let series = |stat: &str| -> Vec<f64> {
                ready
                    .iter()
                    .map(|t| value_of(state, id.as_deref().unwrap_or(""), &metric.name, stat, *t))
                    .collect()
            };
            let default_stat = metric.stats.first().map(String::as_str).unwrap_or("avg");
            let mut point = json!({
                "Dimensions": dims,
                "Timestamps": ready,
                "Values": series(default_stat),
            });
            if spec & 1 != 0 {
                point["AvgValues"] = json!(series("avg"));
            }
            if spec & 2 != 0 {
                point["MaxValues"] = json!(series("max"));
            }
            if spec & 4 != 0 {
                point["MinValues"] = json!(series("min"));
            }
            point
        })
        .collect();
    points.shuffle(&mut rng);
    v3_ok(json!({
        "Period": period,
        "MetricName": metric.name,
        "DataPoints": points,
        "StartTime": body["StartTime"],
        "EndTime": body["EndTime"],
        "Msg": "",
    }))
}

// ---------------------------------------------------------------------------------------------
// v2

fn v2_error(code: i64, message: &str) -> SimResponse {
    SimResponse::json(
        200,
        &json!({"code": code, "message": message, "codeDesc": "Failure"}),
    )
}

fn v2_ok(mut body: Value) -> SimResponse {
    body["code"] = json!(0);
    body["message"] = json!("");
    SimResponse::json(200, &body)
}

fn handle_v2(state: &mut TencentSimState, request: &SimRequest) -> SimResponse {
    let now = state.clock.unix();
    let params: Vec<(String, String)> = if request.method == hyper::Method::POST {
        request.form()
    } else {
        request.query_pairs()
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(secret_id), Some(signature), Some(timestamp), Some(nonce)) = (
        get("SecretId"),
        get("Signature"),
        get("Timestamp").and_then(|t| t.parse::<i64>().ok()),
        get("Nonce"),
    ) else {
        return v2_error(
            4000,
            "(-505) SecretId, Signature, Timestamp and Nonce are required",
        );
    };
    if secret_id != state.secret_id {
        state.auth_failures += 1;
        return v2_error(4100, "(-100) secretId does not exist");
    }
    let Some(algorithm) = V2Algorithm::from_param(get("SignatureMethod").as_deref()) else {
        return v2_error(4000, "(-505) unknown SignatureMethod");
    };
    let source = sign::v2_source(
        request.method.as_str(),
        request.header("host").unwrap_or_default(),
        &request.path,
        &params,
    );
    let expected = sign::v2_sign(&state.secret_key, &source, algorithm);
    if !sign::signatures_match(&signature, &expected) {
        state.auth_failures += 1;
        return v2_error(4100, "(-100) signature verification failed");
    }
    if (now - timestamp).abs() > 300 {
        state.auth_failures += 1;
        return v2_error(
            4200,
            "(-101) request expired: Timestamp is too far from the server time",
        );
    }
    state.nonces.retain(|_, t| now - *t < 7200);
    if state
        .nonces
        .insert(format!("{secret_id}:{nonce}"), now)
        .is_some()
    {
        state.auth_failures += 1;
        return v2_error(4500, "(-102) replay attack: Nonce was used before");
    }
    if !within_rate_limit(state) {
        return v2_error(4400, "(-103) request quota exceeded");
    }
    let action = get("Action").unwrap_or_default();
    if state.unoffered_actions.contains(&action) {
        return v2_error(
            6100,
            &format!("(-503) {action} is not supported by this version or is under maintenance"),
        );
    }
    *state.calls.entry(action.clone()).or_default() += 1;
    state.count_namespace_call(&action, &get("namespace").unwrap_or_default());
    match action.as_str() {
        "DescribeMetrics" => v2_describe_metrics(state, &get("namespace").unwrap_or_default()),
        "GetMonitorData" | "GetMetricStatistics" => v2_read(state, &action, &params, now),
        other => v2_error(4000, &format!("(-503) unknown Action {other}")),
    }
}

fn v2_describe_metrics(state: &TencentSimState, namespace: &str) -> SimResponse {
    // "Currently, this parameter can only be specified with "qce/cvm"" (API Request
    // Parameters, DescribeMetrics).
    if !namespace.eq_ignore_ascii_case("qce/cvm") {
        return v2_error(
            4000,
            &format!("(-503) namespace {namespace:?} is not supported; only qce/cvm"),
        );
    }
    let set: Vec<Value> = state
        .metrics
        .iter()
        .filter(|m| m.namespace.eq_ignore_ascii_case(namespace) && m.namespace.starts_with("qce"))
        .map(|m| {
            let stat_type: serde_json::Map<String, Value> = m
                .periods
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        json!(m.stats.first().cloned().unwrap_or_default()),
                    )
                })
                .collect();
            json!({
                "namespace": m.namespace,
                "metricName": m.name,
                "metricCname": m.name,
                "dimensions": ["unInstanceId"],
                // The API really spells it like this.
                "uint": m.unit,
                "unitCname": m.unit,
                "period": m.periods,
                "statType": stat_type,
            })
        })
        .collect();
    v2_ok(json!({ "metricSet": set }))
}

fn v2_read(
    state: &mut TencentSimState,
    action: &str,
    params: &[(String, String)],
    now: i64,
) -> SimResponse {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let namespace = get("namespace");
    let metric_name = get("metricName");
    let Some(metric) = find_metric(state, &namespace, &metric_name).cloned() else {
        return v2_error(
            4000,
            &format!("(-503) metric {metric_name} of namespace {namespace} does not exist"),
        );
    };
    if state
        .failing_metrics
        .contains(&metric_name.to_ascii_lowercase())
    {
        return v2_error(6000, "(-513) internal error on the server");
    }
    let period: i64 = get("period").parse().unwrap_or(300);
    let statistics = action == "GetMetricStatistics";
    if statistics && period != 300 {
        return v2_error(4000, "(-503) GetMetricStatistics supports period 300 only");
    }
    if !metric.periods.contains(&(period as u64)) {
        return v2_error(4000, &format!("(-503) period {period} not supported"));
    }
    let offset = state.v2_offset;
    let (Some(start), Some(end)) = (
        parse_v2_time(&get("startTime"), offset),
        parse_v2_time(&get("endTime"), offset),
    ) else {
        return v2_error(
            4000,
            "(-503) startTime and endTime must be YYYY-MM-DD HH:MM:SS",
        );
    };
    if end < start {
        return v2_error(4000, "(-503) endTime is before startTime");
    }
    if statistics && get("startTime").get(..10) != get("endTime").get(..10) {
        return v2_error(4000, "(-503) startTime and endTime must be on the same day");
    }
    let values: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.starts_with("dimensions.") && k.ends_with(".value"))
        .map(|(_, v)| v.clone())
        .collect();
    if values.is_empty() {
        return v2_error(4000, "(-505) dimensions are required");
    }
    state.batch_sizes.push(1);
    let id = values
        .iter()
        .find(|v| state.instances.contains(*v))
        .cloned();
    let times = point_times(state, &namespace, (start, end), period, now);
    state.requested_points.push(times.len());
    state
        .requested_windows
        .push((metric.name.clone(), start, end));
    let stat = if statistics {
        "avg"
    } else {
        metric.stats.first().map(String::as_str).unwrap_or("avg")
    };
    let mut points: Vec<Value> = times
        .iter()
        .map(|(t, ready)| match (&id, ready) {
            (Some(id), true) if state.published(id, *t) => {
                json!(value_of(state, id, &metric.name, stat, *t))
            }
            _ => Value::Null,
        })
        .collect();
    if statistics {
        // The old API simply leaves out what it has not got yet: a short array.
        while points.last().is_some_and(Value::is_null) {
            points.pop();
        }
    } else if id.is_none() {
        points = Vec::new();
    }
    let first = times.first().map(|(t, _)| *t).unwrap_or(start);
    v2_ok(json!({
        "metricName": metric.name,
        "startTime": v2_time(first, offset),
        "endTime": v2_time(end, offset),
        "period": period,
        "dataPoints": if id.is_none() && !statistics { Value::Null } else { json!(points) },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_deterministic_and_plausible() {
        let a = value_at("ins-00000001", "CPUUsage", "avg", 1_700_000_000);
        assert_eq!(
            a,
            value_at("ins-00000001", "cpuusage", "avg", 1_700_000_000)
        );
        assert!((5.0..=75.0).contains(&a), "{a}");
        let max = value_at("ins-00000001", "CPUUsage", "max", 1_700_000_000);
        assert!((max - a - 1.0).abs() < 0.011);
    }

    #[test]
    fn lag_hides_the_newest_points() {
        let state = TencentSimState::new("id", "key", 1);
        let window = (1_000_080, 1_000_200);
        let times = point_times(&state, "QCE/CVM", window, 60, 1_000_230);
        assert_eq!(
            times,
            vec![(1_000_080, true), (1_000_140, true), (1_000_200, false)]
        );
        // CDN is six minutes later still: nothing of this window is ready yet.
        let times = point_times(&state, "QCE/CDN", window, 60, 1_000_230);
        assert!(times.iter().all(|(_, ready)| !ready), "{times:?}");
        assert!(point_times(&state, "QCE/CDN", window, 60, 1_000_230 + 360)[1].1);
    }

    const HOST: &str = "127.0.0.1:4443";

    fn request(
        method: hyper::Method,
        path: &str,
        query: Option<String>,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> SimRequest {
        let mut map = hyper::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        SimRequest {
            method,
            path: path.into(),
            query,
            headers: map,
            body: body.into(),
        }
    }

    fn json_of(response: &SimResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    /// A GetMonitorData call signed with TC3 at `timestamp` with the credential date `date`.
    fn v3_call(state: &mut TencentSimState, timestamp: i64, date: &str, body: &Value) -> Value {
        let body = serde_json::to_vec(body).unwrap();
        let headers = [("content-type", "application/json"), ("host", HOST)];
        let canonical = sign::tc3_canonical_request("POST", "/", "", &headers, &body);
        let to_sign = sign::tc3_string_to_sign(timestamp, "monitor", &canonical);
        let signature = sign::tc3_sign(&state.secret_key, date, "monitor", &to_sign);
        let authorization = format!(
            "TC3-HMAC-SHA256 Credential={}/{date}/monitor/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
            state.secret_id
        );
        let r = request(
            hyper::Method::POST,
            "/",
            None,
            &[
                ("authorization", authorization),
                ("content-type", "application/json".into()),
                ("host", HOST.into()),
                ("x-tc-action", "GetMonitorData".into()),
                ("x-tc-timestamp", timestamp.to_string()),
            ],
            body,
        );
        json_of(&handle_v3(state, &r))["Response"].clone()
    }

    #[test]
    fn v3_signatures_and_data_follow_the_simulator_clock() {
        // Two minutes before midnight UTC of 29 February 2028.
        let mut state = TencentSimState::new("AKIDsim", "sim-key", 2);
        state.clock = SimClock::at(2028, 2, 29, 23, 58, 0);
        let body = json!({
            "Namespace": "QCE/CVM", "MetricName": "CPUUsage", "Period": 60,
            "StartTime": "2028-03-01T07:50:00+08:00", "EndTime": "2028-03-01T07:58:00+08:00",
            "Instances": [{"Dimensions": [{"Name": "InstanceId", "Value": instance_id(0)}]}],
        });
        let now = state.clock.unix();
        assert_eq!(sign::tc3_date(now), "2028-02-29");
        let ok = v3_call(&mut state, now, "2028-02-29", &body);
        let ts = ok["DataPoints"][0]["Timestamps"].as_array().unwrap();
        // 23:50 … 23:58 asked; one period of lag: 23:50 … 23:57 ready.
        assert_eq!(ts.len(), 8, "{ok}");
        assert_eq!(ts[7], now - 60);
        // Five minutes and a second later the same signature has expired.
        state.clock.advance_secs(301);
        let expired = v3_call(&mut state, now, "2028-02-29", &body);
        assert_eq!(expired["Error"]["Code"], "AuthFailure.SignatureExpire");
        // After midnight the credential scope must carry the new UTC date, 1 March.
        let now = state.clock.unix();
        let wrong_date = v3_call(&mut state, now, "2028-02-29", &body);
        assert_eq!(wrong_date["Error"]["Code"], "AuthFailure.SignatureFailure");
        let ok = v3_call(&mut state, now, "2028-03-01", &body);
        assert!(ok.get("Error").is_none(), "{ok}");
        assert_eq!(state.calls_of("GetMonitorData"), 2);
        assert_eq!(state.auth_failures, 2);
    }

    /// A v2 call signed with HmacSHA256 at the simulator clock: a GetMetricStatistics of
    /// `cpu_usage` unless `extra` says otherwise (its parameters replace or add to these).
    fn v2_call(state: &mut TencentSimState, nonce: &str, extra: &[(&str, &str)]) -> Value {
        let mut params: Vec<(String, String)> = [
            ("Action", "GetMetricStatistics"),
            ("SecretId", state.secret_id.as_str()),
            ("Nonce", nonce),
            ("SignatureMethod", "HmacSHA256"),
            ("namespace", "qce/cvm"),
            ("metricName", "cpu_usage"),
            ("period", "300"),
            ("dimensions.0.name", "unInstanceId"),
            ("dimensions.0.value", "ins-00000000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            match params.iter_mut().find(|(name, _)| name == k) {
                Some(param) => param.1 = v.to_string(),
                None => params.push((k.to_string(), v.to_string())),
            }
        }
        params.push(("Timestamp".into(), state.clock.unix().to_string()));
        let source = sign::v2_source("GET", HOST, "/v2/index.php", &params);
        let signature = sign::v2_sign(&state.secret_key, &source, V2Algorithm::HmacSha256);
        params.push(("Signature".into(), signature));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let r = request(
            hyper::Method::GET,
            "/v2/index.php",
            Some(query),
            &[("host", HOST.into())],
            Vec::new(),
        );
        json_of(&handle_v2(state, &r))
    }

    #[test]
    fn requests_over_1440_points_and_withdrawn_actions_are_refused() {
        let mut state = TencentSimState::new("AKIDsim", "sim-key", 50);
        state.clock = SimClock::at(2028, 2, 29, 12, 0, 0);
        let now = state.clock.unix();
        let instances: Vec<Value> = (0..50)
            .map(|i| json!({"Dimensions": [{"Name": "InstanceId", "Value": instance_id(i)}]}))
            .collect();
        let body = |start: &str| {
            json!({
                "Namespace": "QCE/CVM", "MetricName": "CPUUsage", "Period": 60,
                "StartTime": start, "EndTime": "2028-02-29T20:00:00+08:00",
                "Instances": instances,
            })
        };
        // 50 instances × 28 points = 1400: fine. × 29 = 1450: refused.
        let ok = v3_call(
            &mut state,
            now,
            "2028-02-29",
            &body("2028-02-29T19:33:00+08:00"),
        );
        assert!(ok.get("Error").is_none(), "{ok}");
        assert_eq!(state.requested_points, vec![28]);
        let over = v3_call(
            &mut state,
            now,
            "2028-02-29",
            &body("2028-02-29T19:32:00+08:00"),
        );
        assert_eq!(
            over["Error"]["Code"], "InvalidParameterValue.LimitExceeded",
            "{over}"
        );
        state.unoffered_actions.insert("GetMonitorData".into());
        let gone = v3_call(
            &mut state,
            now,
            "2028-02-29",
            &body("2028-02-29T19:59:00+08:00"),
        );
        assert_eq!(gone["Error"]["Code"], "InvalidAction");
    }

    #[test]
    fn a_failing_metric_echoed_dimensions_and_calls_per_namespace() {
        let mut state = TencentSimState::new("AKIDsim", "sim-key", 2);
        state.clock = SimClock::at(2028, 2, 29, 12, 0, 0);
        let now = state.clock.unix();
        state.failing_metrics.insert("memusage".into());
        state.extra_dimensions.insert(
            "qce/cvm".into(),
            vec![("Region".into(), "ap-guangzhou".into())],
        );
        let body = |metric: &str| {
            json!({
                "Namespace": "QCE/CVM", "MetricName": metric, "Period": 60,
                "StartTime": "2028-02-29T19:55:00+08:00", "EndTime": "2028-02-29T20:00:00+08:00",
                "Instances": [{"Dimensions": [{"Name": "InstanceId", "Value": instance_id(0)}]}],
            })
        };
        let failed = v3_call(&mut state, now, "2028-02-29", &body("MemUsage"));
        assert_eq!(failed["Error"]["Code"], "InternalError", "{failed}");
        let ok = v3_call(&mut state, now, "2028-02-29", &body("CPUUsage"));
        let mut dims: Vec<String> = ok["DataPoints"][0]["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}={}",
                    d["Name"].as_str().unwrap(),
                    d["Value"].as_str().unwrap()
                )
            })
            .collect();
        dims.sort();
        assert_eq!(dims, ["InstanceId=ins-00000000", "Region=ap-guangzhou"]);
        assert_eq!(state.calls_for("GetMonitorData", "qce/cvm"), 2);
        assert_eq!(state.calls_for("GetMonitorData", "QCE/CDN"), 0);
        assert_eq!(state.requested_windows.len(), 1, "only accepted reads");
    }

    #[test]
    fn v2_describe_metrics_lists_qce_cvm_only_and_can_be_withdrawn() {
        let mut state = TencentSimState::new("AKIDsim", "sim-key", 1);
        state.clock = SimClock::at(2028, 2, 29, 12, 0, 0);
        let describe = |state: &mut TencentSimState, nonce: &str, namespace: &str| {
            v2_call(
                state,
                nonce,
                &[("Action", "DescribeMetrics"), ("namespace", namespace)],
            )
        };
        let cvm = describe(&mut state, "1", "qce/cvm");
        assert_eq!(cvm["code"], 0, "{cvm}");
        assert!(!cvm["metricSet"].as_array().unwrap().is_empty());
        let lb = describe(&mut state, "2", "qce/lb_public");
        assert_eq!(lb["code"], 4000, "{lb}");
        state.unoffered_actions.insert("DescribeMetrics".into());
        assert_eq!(describe(&mut state, "3", "qce/cvm")["code"], 6100);
    }

    /// A GetMonitorData call over HTTP, signed with TC3 at the simulator's clock.
    async fn v3_over_http(sim: &TencentSim, body: &Value) -> Value {
        let (id, key, now) =
            sim.with(|s| (s.secret_id.clone(), s.secret_key.clone(), s.clock.unix()));
        let host = sim.url().trim_start_matches("http://").to_string();
        let payload = serde_json::to_vec(body).unwrap();
        let content_type = "application/json; charset=utf-8";
        let headers = [("content-type", content_type), ("host", host.as_str())];
        let canonical = sign::tc3_canonical_request("POST", "/", "", &headers, &payload);
        let date = sign::tc3_date(now);
        let signature = sign::tc3_sign(
            &key,
            &date,
            "monitor",
            &sign::tc3_string_to_sign(now, "monitor", &canonical),
        );
        let authorization = format!(
            "TC3-HMAC-SHA256 Credential={id}/{date}/monitor/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
        );
        reqwest::Client::new()
            .post(format!("{}/", sim.url()))
            .header("Content-Type", content_type)
            .header("Authorization", authorization)
            .header("X-TC-Action", "GetMonitorData")
            .header("X-TC-Version", "2018-07-24")
            .header("X-TC-Timestamp", now.to_string())
            .header("X-TC-Region", "ap-guangzhou")
            .body(payload)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["Response"]
            .clone()
    }

    #[tokio::test]
    async fn data_until_stops_publishing_at_run_time_over_http() {
        let mut state = TencentSimState::new("AKIDsim", "sim-key", 2);
        // 12:10 UTC = 20:10 Beijing; one period of lag: 20:00 … 20:09 are ready.
        state.clock = SimClock::at(2028, 2, 29, 12, 10, 0);
        let sim = TencentSim::start(state).await.unwrap();
        let body = json!({
            "Namespace": "QCE/CVM", "MetricName": "CPUUsage", "Period": 60,
            "StartTime": "2028-02-29T20:00:00+08:00", "EndTime": "2028-02-29T20:10:00+08:00",
            "Instances": [
                {"Dimensions": [{"Name": "InstanceId", "Value": instance_id(0)}]},
                {"Dimensions": [{"Name": "InstanceId", "Value": instance_id(1)}]},
            ],
        });
        let times = |answer: &Value, id: &str| -> Vec<i64> {
            let point = answer["DataPoints"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["Dimensions"][0]["Value"] == id)
                .unwrap_or_else(|| panic!("{answer}"));
            assert_eq!(
                point["Timestamps"].as_array().unwrap().len(),
                point["Values"].as_array().unwrap().len(),
                "Timestamps and Values stay aligned"
            );
            point["Timestamps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap())
                .collect()
        };
        let t2000 = sim.with(|s| s.clock.unix()) - 600;
        let answer = v3_over_http(&sim, &body).await;
        assert_eq!(times(&answer, &instance_id(0)).len(), 10, "{answer}");
        // Instance 0 stops publishing after 20:03; instance 1 goes on.
        sim.with(|s| s.data_until_by_instance.insert(instance_id(0), t2000 + 180));
        let answer = v3_over_http(&sim, &body).await;
        assert_eq!(
            times(&answer, &instance_id(0)),
            (0..4).map(|i| t2000 + i * 60).collect::<Vec<_>>(),
            "points after data_until are omitted"
        );
        assert_eq!(times(&answer, &instance_id(1)).len(), 10);
        // Everything stops at 20:05: the earlier limit of the two applies.
        sim.with(|s| s.data_until = Some(t2000 + 300));
        let answer = v3_over_http(&sim, &body).await;
        assert_eq!(times(&answer, &instance_id(0)).len(), 4);
        assert_eq!(times(&answer, &instance_id(1)).len(), 6);
        // Time moves on, nothing new is published; lifting the fault brings the points back.
        sim.with(|s| s.clock.advance_secs(600));
        assert_eq!(
            times(&v3_over_http(&sim, &body).await, &instance_id(1)).len(),
            6
        );
        sim.with(|s| {
            s.data_until = None;
            s.data_until_by_instance.clear();
        });
        assert_eq!(
            times(&v3_over_http(&sim, &body).await, &instance_id(0)).len(),
            11
        );
        // v2 GetMonitorData: the stopped points are null.
        sim.with(|s| s.data_until = Some(t2000 + 300));
        let mut state = sim.state.lock().unwrap();
        let answer = v2_call(
            &mut state,
            "v2-1",
            &[
                ("Action", "GetMonitorData"),
                ("period", "60"),
                ("startTime", "2028-02-29 20:00:00"),
                ("endTime", "2028-02-29 20:10:00"),
            ],
        );
        let points = answer["dataPoints"].as_array().unwrap();
        assert_eq!(points.len(), 11, "{answer}");
        assert!(points[..6].iter().all(|p| p.is_number()), "{answer}");
        assert!(points[6..].iter().all(Value::is_null), "{answer}");
    }

    #[test]
    fn v2_times_are_beijing_time_across_the_leap_day() {
        // 16:10 UTC on 29 February 2028 is 00:10 on 1 March in Beijing (UTC+8, no DST).
        let mut state = TencentSimState::new("AKIDsim", "sim-key", 1);
        state.clock = SimClock::at(2028, 2, 29, 16, 10, 0);
        let answer = v2_call(
            &mut state,
            "1",
            &[
                ("startTime", "2028-03-01 00:00:00"),
                ("endTime", "2028-03-01 00:10:00"),
            ],
        );
        assert_eq!(answer["code"], 0, "{answer}");
        assert_eq!(answer["startTime"], "2028-03-01 00:00:00");
        // 00:00 and 00:05 are ready, 00:10 lags and is left out (GetMetricStatistics).
        assert_eq!(answer["dataPoints"].as_array().unwrap().len(), 2);
        // GetMetricStatistics refuses ranges over two Beijing days, here 29 Feb → 1 Mar.
        let answer = v2_call(
            &mut state,
            "2",
            &[
                ("startTime", "2028-02-29 23:55:00"),
                ("endTime", "2028-03-01 00:05:00"),
            ],
        );
        assert_eq!(answer["code"], 4000);
        assert!(answer["message"].as_str().unwrap().contains("same day"));
        // The leap day itself parses and converts: 29 Feb 23:55 Beijing is 15:55 UTC.
        assert_eq!(
            parse_v2_time("2028-02-29 23:55:00", 8 * 3600),
            Some(state.clock.unix() - 15 * 60)
        );
        assert_eq!(parse_v2_time("2029-02-29 00:00:00", 8 * 3600), None);
        // A nonce is good once; a timestamp five minutes off is refused.
        let replay = v2_call(&mut state, "1", &[]);
        assert_eq!(replay["code"], 4500);
        let mut late = TencentSimState::new("AKIDsim", "sim-key", 1);
        late.clock = SimClock::at(2028, 2, 29, 16, 10, 0);
        let signed_at = late.clock.unix();
        late.clock.advance_secs(301);
        let mut params = vec![
            ("Action".to_string(), "DescribeMetrics".to_string()),
            ("SecretId".into(), "AKIDsim".into()),
            ("Nonce".into(), "3".into()),
            ("Timestamp".into(), signed_at.to_string()),
            ("namespace".into(), "qce/cvm".into()),
        ];
        let source = sign::v2_source("GET", HOST, "/v2/index.php", &params);
        params.push((
            "Signature".into(),
            sign::v2_sign("sim-key", &source, V2Algorithm::HmacSha1),
        ));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let r = request(
            hyper::Method::GET,
            "/v2/index.php",
            Some(query),
            &[("host", HOST.into())],
            Vec::new(),
        );
        assert_eq!(json_of(&handle_v2(&mut late, &r))["code"], 4200);
    }
}
