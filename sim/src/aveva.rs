//! Simulator of the AVEVA CONNECT data services usage API: an OAuth2 token endpoint issuing
//! short-lived bearer tokens, tenant usage (all `groupBy` modes), community usage (Internal and
//! External, grouped by tenant), resource usage and billing cycles, with the vendor's error
//! bodies and `Operation-Id` headers. Data is generated for a tenant with several namespaces and
//! communities, deterministic per day and growing through the (partial) current day.
//!
//! The [`AvevaSim`] handle controls it at run time: token lifetime and revocation, its
//! [`SimClock`] ("today", the calendar billing cycles) and explicit billing cycles (for cycle
//! rollover), a usage pipeline running days behind, days revised after the fact, one-shot
//! 429/503 with `Retry-After`, vendor error answers, the generic [`Faults`], and counters of
//! token requests, rejected tokens and API requests.
//!
//! **Usage ranges.** The vendor documents ("List Tenant Usage"): without `start`, the current
//! billing cycle's summary; with `start` and no `end`, "a single day of usage data"; with both,
//! "daily usage data is returned for the range provided"; "400 — Missing or invalid inputs". It
//! does not say whether `end` is inclusive, nor what `start == end` is. The simulator reads a
//! range as the half-open interval `[start, end)` of instants (a date alone is 00:00 UTC), the
//! reading under which consecutive ranges never overlap: a day is served when its 24 UTC hours
//! overlap the range, so `end = tomorrow 00:00` includes today (partial) and `end = today 00:00`
//! does not. A range with `end <= start` holds no day and is rejected like any invalid input,
//! 400 with the vendor's error body. So a client that needs an inclusive `end` misses today, and
//! one that sends an empty range fails: the mistakes a test against the simulator must catch.

use super::{serve, Faults, SimClock, SimHandler, SimRequest, SimResponse, SimServer};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tenant of the simulated account.
pub const TENANT_ID: &str = "6c1ad4ba-6a49-4b33-a4a1-7e0f2d0b5c11";
/// Client id the simulator accepts.
pub const CLIENT_ID: &str = "usage-exporter-sim";
/// Client secret the simulator accepts.
pub const CLIENT_SECRET: &str = "sim-client-secret-0123456789";

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of namespaces (each with its own daily usage).
    pub namespaces: usize,
    /// Number of communities the tenant belongs to.
    pub communities: usize,
    /// Lifetime of issued tokens (`expires_in`, rounded up to whole seconds on the wire).
    pub token_lifetime: Duration,
    /// The simulator's clock: "today" and the calendar billing cycles (real time by default).
    pub clock: SimClock,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            namespaces: 3,
            communities: 2,
            token_lifetime: Duration::from_secs(3600),
            clock: SimClock::real(),
        }
    }
}

/// Usage of one day, as served.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayUsage {
    /// IngressEvents.
    pub ingress_events: u64,
    /// IngressStreamsAccessed.
    pub ingress_streams_accessed: u64,
    /// EgressEvents.
    pub egress_events: u64,
    /// EgressStreamsAccessed.
    pub egress_streams_accessed: u64,
}

impl DayUsage {
    fn add(&mut self, o: DayUsage) {
        self.ingress_events += o.ingress_events;
        self.ingress_streams_accessed += o.ingress_streams_accessed;
        self.egress_events += o.egress_events;
        self.egress_streams_accessed += o.egress_streams_accessed;
    }
}

/// A simulated namespace.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// NamespaceId.
    pub id: String,
    /// ClusterRegion as served: a name, or a number like older tenants send.
    pub region: Value,
    /// Streams in the namespace.
    pub streams: u64,
    scale: f64,
}

/// A simulated community with its other member tenants.
#[derive(Debug, Clone)]
pub struct Community {
    /// CommunityId.
    pub id: String,
    /// Other tenants in the community.
    pub partners: Vec<String>,
}

struct RateLimit {
    status: u16,
    retry_after: u64,
    remaining: u32,
    path_contains: String,
}

struct VendorError {
    status: u16,
    path_contains: String,
    error: String,
    reason: String,
    resolution: String,
}

struct Inner {
    client_secret: String,
    token_lifetime: Duration,
    tokens: HashMap<String, Instant>,
    clock: SimClock,
    cycles: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
    namespaces: Vec<Namespace>,
    communities: Vec<Community>,
    rate_limit: Option<RateLimit>,
    vendor_error: Option<VendorError>,
    body_override: Option<Value>,
    usage_lag_days: u32,
    entitled_stream_accesses: Option<u64>,
    /// Per (namespace, day): the factor its record is served with (a revision).
    revised: HashMap<(String, NaiveDate), f64>,
    /// Arrival, path and query of every API request.
    requests: Vec<(Instant, String, String)>,
}

struct State {
    inner: Mutex<Inner>,
    faults: Faults,
    token_requests: AtomicU64,
    rejected_tokens: AtomicU64,
    operations: AtomicU64,
}

/// A running simulator and its control handle; the server lives as long as this value.
pub struct AvevaSim {
    server: SimServer,
    state: Arc<State>,
}

const NAMESPACE_NAMES: [&str; 6] = [
    "production",
    "staging",
    "development",
    "historian-archive",
    "edge-gateways",
    "analytics",
];

fn hash(parts: &[&str]) -> f64 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    h.finalize() as f64 / u32::MAX as f64
}

fn guid(kind: &str, i: usize) -> String {
    let h = crc32fast::hash(format!("{kind}{i}").as_bytes());
    format!(
        "{h:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        i,
        i % 4096,
        h % 4096,
        i
    )
}

impl AvevaSim {
    /// Starts a simulator on 127.0.0.1.
    pub async fn start(config: SimConfig) -> std::io::Result<AvevaSim> {
        let namespaces = (0..config.namespaces)
            .map(|i| {
                let base = NAMESPACE_NAMES[i % NAMESPACE_NAMES.len()];
                let id = if i < NAMESPACE_NAMES.len() {
                    base.to_string()
                } else {
                    format!("{base}-{}", i / NAMESPACE_NAMES.len() + 1)
                };
                // Every third namespace lives in an older cluster that reports its region as a number.
                let region = if i % 3 == 2 {
                    json!(2)
                } else {
                    json!("West US")
                };
                Namespace {
                    streams: 200 + (hash(&[&id, "streams"]) * 3000.0) as u64,
                    scale: 0.05 + hash(&[&id, "scale"]) * 2.0,
                    id,
                    region,
                }
            })
            .collect();
        let communities = (0..config.communities)
            .map(|i| Community {
                id: guid("community", i),
                partners: (0..2 + i % 2)
                    .map(|p| guid("partner", i * 10 + p))
                    .collect(),
            })
            .collect();
        let state = Arc::new(State {
            inner: Mutex::new(Inner {
                client_secret: CLIENT_SECRET.into(),
                token_lifetime: config.token_lifetime,
                tokens: HashMap::new(),
                clock: config.clock.clone(),
                cycles: None,
                namespaces,
                communities,
                rate_limit: None,
                vendor_error: None,
                body_override: None,
                usage_lag_days: 0,
                entitled_stream_accesses: None,
                revised: HashMap::new(),
                requests: Vec::new(),
            }),
            faults: Faults::default(),
            token_requests: AtomicU64::new(0),
            rejected_tokens: AtomicU64::new(0),
            operations: AtomicU64::new(0),
        });
        let server = serve(
            Arc::new(Handler {
                state: state.clone(),
            }),
            None,
        )
        .await?;
        Ok(AvevaSim { server, state })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.inner.lock().expect("sim lock")
    }

    /// Base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// All HTTP requests served.
    pub fn request_count(&self) -> u64 {
        self.server.request_count()
    }

    /// Token requests received (accepted or not).
    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// API requests answered 401 because the token was unknown, revoked or expired.
    pub fn rejected_tokens(&self) -> u64 {
        self.state.rejected_tokens.load(Ordering::SeqCst)
    }

    /// Arrival times of API requests whose path contains `path_contains`.
    pub fn api_requests(&self, path_contains: &str) -> Vec<Instant> {
        self.inner()
            .requests
            .iter()
            .filter(|(_, p, _)| p.contains(path_contains))
            .map(|(t, _, _)| *t)
            .collect()
    }

    /// Query strings (decoded `name=value` pairs) of the API requests whose path contains
    /// `path_contains`, in arrival order.
    pub fn api_queries(&self, path_contains: &str) -> Vec<Vec<(String, String)>> {
        self.inner()
            .requests
            .iter()
            .filter(|(_, p, _)| p.contains(path_contains))
            .map(|(_, _, q)| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .collect()
    }

    /// The generic fault switch (applies to the API endpoints, not the token endpoint).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.inner().token_lifetime = lifetime;
    }

    /// Invalidates every issued token (the next API call with one gets 401).
    pub fn revoke_tokens(&self) {
        self.inner().tokens.clear();
    }

    /// Changes the accepted client secret (e.g. a rotated secret).
    pub fn set_client_secret(&self, secret: &str) {
        self.inner().client_secret = secret.to_string();
    }

    /// Runs the simulator's clock at real time plus `offset` (shorthand for
    /// `clock().set_offset(offset)`).
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.inner().clock.set_offset(offset);
    }

    /// The simulator's clock (shared: setting or advancing it moves the running simulator).
    pub fn clock(&self) -> SimClock {
        self.inner().clock.clone()
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner().now()
    }

    /// Serves these billing cycles instead of calendar months (`None` goes back to months).
    pub fn set_cycles(&self, cycles: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>>) {
        self.inner().cycles = cycles;
    }

    /// The billing cycles as served, oldest first.
    pub fn cycles(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.inner().cycles()
    }

    /// The current (latest) cycle as served.
    pub fn current_cycle(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        *self.cycles().last().expect("at least one cycle")
    }

    /// Answers the next `times` API requests whose path contains `path_contains` with `status`
    /// (429 or 503), a vendor error body and `Retry-After: retry_after_secs`.
    pub fn rate_limit(&self, status: u16, retry_after_secs: u64, times: u32, path_contains: &str) {
        self.inner().rate_limit = Some(RateLimit {
            status,
            retry_after: retry_after_secs,
            remaining: times,
            path_contains: path_contains.to_string(),
        });
    }

    /// Answers API requests whose path contains `path_contains` with `status` and a vendor error
    /// body until [`AvevaSim::clear_error`].
    pub fn fail_with(
        &self,
        status: u16,
        path_contains: &str,
        error: &str,
        reason: &str,
        resolution: &str,
    ) {
        self.inner().vendor_error = Some(VendorError {
            status,
            path_contains: path_contains.to_string(),
            error: error.into(),
            reason: reason.into(),
            resolution: resolution.into(),
        });
    }

    /// Answers every authorised API request with this JSON (HTTP 200) until called with `None`
    /// (wrong-shape tests).
    pub fn serve_json(&self, body: Option<Value>) {
        self.inner().body_override = body;
    }

    /// Answers usage requests like a usage pipeline `days` days behind: no record for the
    /// latest `days` days (0, the default: records up to today, today partial).
    pub fn set_usage_lag(&self, days: u32) {
        self.inner().usage_lag_days = days;
    }

    /// Revises the record of `namespace` on `day`: from now on every measure is served as
    /// `factor` times its original value (rounded; `0.5` halves the day, `1.0` restores it),
    /// in the namespace's records and in the tenant's `groupBy=None` sum. A revision after the
    /// fact, as the vendor's billing pipeline makes them.
    pub fn revise_day(&self, namespace: &str, day: NaiveDate, factor: f64) {
        let mut inner = self.inner();
        assert!(
            inner.namespaces.iter().any(|n| n.id == namespace),
            "unknown namespace {namespace}"
        );
        inner.revised.insert((namespace.to_string(), day), factor);
    }

    /// Sets the subscription's `EntitledStreamAccessCount` (average streams accessed per day);
    /// `None` restores the default, about the tenant's stream count.
    pub fn set_entitled_stream_accesses(&self, per_day: Option<u64>) {
        self.inner().entitled_stream_accesses = per_day;
    }

    /// Ends [`AvevaSim::fail_with`].
    pub fn clear_error(&self) {
        self.inner().vendor_error = None;
    }

    /// The namespaces.
    pub fn namespaces(&self) -> Vec<Namespace> {
        self.inner().namespaces.clone()
    }

    /// The communities.
    pub fn communities(&self) -> Vec<Community> {
        self.inner().communities.clone()
    }

    /// Usage of a namespace on a day, as served now (today is partial).
    pub fn namespace_day(&self, namespace: &str, day: NaiveDate) -> DayUsage {
        let inner = self.inner();
        let ns = inner
            .namespaces
            .iter()
            .find(|n| n.id == namespace)
            .expect("known namespace");
        inner.namespace_day(ns, day)
    }

    /// Community usage of one partner on a day (`internal`: this tenant reading the partner's
    /// data; otherwise the partner reading this tenant's data).
    pub fn community_day(
        &self,
        community: &str,
        partner: &str,
        internal: bool,
        day: NaiveDate,
    ) -> DayUsage {
        self.inner()
            .community_day(community, partner, internal, day)
    }
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn cycles(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if let Some(c) = &self.cycles {
            return c.clone();
        }
        let now = self.now();
        let month_start = |y: i32, m: u32| {
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                .single()
                .expect("valid month")
        };
        let (mut y, mut m) = (now.year(), now.month());
        let mut out = Vec::new();
        for _ in 0..12 {
            let start = month_start(y, m);
            let end = if m == 12 {
                month_start(y + 1, 1)
            } else {
                month_start(y, m + 1)
            };
            out.push((start, end));
            if m == 1 {
                y -= 1;
                m = 12;
            } else {
                m -= 1;
            }
        }
        out.reverse();
        out
    }

    /// Share of a day that has passed: 1 for past days, partial for today, 0 for the future.
    fn day_fraction(&self, day: NaiveDate) -> f64 {
        let now = self.now();
        let today = now.date_naive();
        if day < today {
            1.0
        } else if day > today {
            0.0
        } else {
            let secs = now.timestamp() - midnight(today).timestamp();
            (secs as f64 / 86400.0).clamp(0.0, 1.0)
        }
    }

    fn namespace_day(&self, ns: &Namespace, day: NaiveDate) -> DayUsage {
        let d = day.to_string();
        let f = self.day_fraction(day);
        let weekday = if day.weekday().number_from_monday() > 5 {
            0.6
        } else {
            1.0
        };
        let noise = |what: &str| 0.8 + 0.4 * hash(&[&ns.id, &d, what]);
        let events = |base: f64, what: &str| (base * ns.scale * weekday * noise(what) * f) as u64;
        let streams = |share: f64, what: &str| {
            ((ns.streams as f64 * share * noise(what)) * f.sqrt()).round() as u64
        };
        let factor = self
            .revised
            .get(&(ns.id.clone(), day))
            .copied()
            .unwrap_or(1.0);
        let revised = |v: u64| (v as f64 * factor).round().max(0.0) as u64;
        DayUsage {
            ingress_events: revised(events(2_000_000.0, "ie")),
            ingress_streams_accessed: revised(streams(0.9, "is")),
            egress_events: revised(events(400_000.0, "ee")),
            egress_streams_accessed: revised(streams(0.3, "es")),
        }
    }

    fn community_day(
        &self,
        community: &str,
        partner: &str,
        internal: bool,
        day: NaiveDate,
    ) -> DayUsage {
        let d = day.to_string();
        let dir = if internal { "in" } else { "ex" };
        let f = self.day_fraction(day);
        let h = |what: &str| hash(&[community, partner, dir, &d, what]);
        DayUsage {
            ingress_events: 0,
            ingress_streams_accessed: 0,
            egress_events: ((20_000.0 + 80_000.0 * h("ee")) * f) as u64,
            egress_streams_accessed: ((10.0 + 90.0 * h("es")) * f.sqrt()).round() as u64,
        }
    }

    /// The days in `[start, end]` that have begun, lie within the cycles served and are not
    /// held back by the usage lag.
    fn days(&self, start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
        let today = self.now().date_naive() - chrono::Duration::days(self.usage_lag_days.into());
        let first = self
            .cycles()
            .first()
            .map(|c| c.0.date_naive())
            .unwrap_or(start);
        let mut out = Vec::new();
        let mut d = start.max(first);
        while d <= end.min(today) && out.len() < 400 {
            out.push(d);
            d = d.succ_opt().expect("valid date");
        }
        out
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn record(
    day: NaiveDate,
    usage: DayUsage,
    namespace: Option<&Namespace>,
    community: Option<&str>,
    caller: Option<&str>,
    callee: Option<&str>,
) -> Value {
    json!({
        "Date": iso(midnight(day)),
        "TenantId": TENANT_ID,
        "CalleeTenantId": callee,
        "CallerTenantId": caller,
        "CommunityId": community,
        "NamespaceId": namespace.map(|n| n.id.clone()),
        "ClusterRegion": namespace.map(|n| n.region.clone()).unwrap_or(json!("West US")),
        "IngressEvents": usage.ingress_events,
        "IngressStreamsAccessed": usage.ingress_streams_accessed,
        "EgressEvents": usage.egress_events,
        "EgressStreamsAccessed": usage.egress_streams_accessed,
    })
}

struct Handler {
    state: Arc<State>,
}

impl SimHandler for Handler {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        Box::pin(async move {
            let operation = format!(
                "sim-op-{:06}",
                self.state.operations.fetch_add(1, Ordering::SeqCst)
            );
            let response = self.route(&request, &operation).await;
            response.with_header("operation-id", operation)
        })
    }
}

fn error_body(
    status: u16,
    operation: &str,
    error: &str,
    reason: &str,
    resolution: &str,
) -> SimResponse {
    SimResponse::json(
        status,
        &json!({
            "OperationId": operation,
            "Error": error,
            "Reason": reason,
            "Resolution": resolution,
        }),
    )
}

fn bad_request(operation: &str, reason: &str) -> SimResponse {
    error_body(
        400,
        operation,
        "The request is not valid.",
        reason,
        "Correct the request and try again.",
    )
}

impl Handler {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.inner.lock().expect("sim lock")
    }

    async fn route(&self, request: &SimRequest, operation: &str) -> SimResponse {
        let path = request.path.trim_end_matches('/').to_string();
        if path == "/identity/connect/token" {
            return self.token(request);
        }
        if path == "/identity/.well-known/openid-configuration" {
            return SimResponse::json(
                200,
                &json!({"issuer": "sim", "token_endpoint": "/identity/connect/token",
                        "grant_types_supported": ["client_credentials"]}),
            );
        }
        if !path.starts_with("/api/v1/") {
            return SimResponse::empty(404);
        }
        let query = request.query.clone().unwrap_or_default();
        self.inner()
            .requests
            .push((Instant::now(), path.clone(), query));
        if !self.authorized(request) {
            self.state.rejected_tokens.fetch_add(1, Ordering::SeqCst);
            return SimResponse::empty(401)
                .with_header("www-authenticate", "Bearer error=\"invalid_token\"");
        }
        {
            let mut inner = self.inner();
            if let Some(limit) = inner.rate_limit.as_mut() {
                if limit.remaining > 0 && path.contains(&limit.path_contains) {
                    limit.remaining -= 1;
                    let (status, secs) = (limit.status, limit.retry_after);
                    return error_body(
                        status,
                        operation,
                        "Too many requests.",
                        "The request rate limit for this tenant has been exceeded.",
                        "Retry after the time given in the Retry-After header.",
                    )
                    .with_header("retry-after", secs.to_string());
                }
            }
            if let Some(body) = &inner.body_override {
                return SimResponse::json(200, body);
            }
            if let Some(e) = &inner.vendor_error {
                if path.contains(&e.path_contains) {
                    return error_body(e.status, operation, &e.error, &e.reason, &e.resolution);
                }
            }
        }
        let normal = || async { self.api(request, &path, operation) };
        self.state.faults.apply(normal).await
    }

    fn token(&self, request: &SimRequest) -> SimResponse {
        self.state.token_requests.fetch_add(1, Ordering::SeqCst);
        if request.method != hyper::Method::POST {
            return SimResponse::json(405, &json!({"error": "invalid_request"}));
        }
        let form: HashMap<String, String> = request.form().into_iter().collect();
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return SimResponse::json(400, &json!({"error": "unsupported_grant_type"}));
        }
        let mut inner = self.inner();
        let id_ok = form.get("client_id").map(String::as_str) == Some(CLIENT_ID);
        let secret_ok = form.get("client_secret") == Some(&inner.client_secret);
        if !(id_ok && secret_ok) {
            return SimResponse::json(400, &json!({"error": "invalid_client"}));
        }
        let n = self.state.token_requests.load(Ordering::SeqCst);
        let token = format!(
            "eyJsim.{n}.{:08x}",
            crc32fast::hash(format!("{n}{:?}", Instant::now()).as_bytes())
        );
        let lifetime = inner.token_lifetime;
        inner.tokens.retain(|_, exp| *exp > Instant::now());
        inner
            .tokens
            .insert(token.clone(), Instant::now() + lifetime);
        SimResponse::json(
            200,
            &json!({
                "access_token": token,
                "expires_in": lifetime.as_secs_f64().ceil() as u64,
                "token_type": "Bearer",
                "scope": "ocsapi",
            }),
        )
    }

    fn authorized(&self, request: &SimRequest) -> bool {
        let Some(token) = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return false;
        };
        let inner = self.inner();
        inner
            .tokens
            .get(token.trim())
            .is_some_and(|exp| *exp > Instant::now())
    }

    fn api(&self, request: &SimRequest, path: &str, operation: &str) -> SimResponse {
        let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
        match parts.as_slice() {
            ["tenants", t, "usage"] => {
                self.checked(t, operation, || self.tenant_usage(request, operation))
            }
            ["tenants", t, "resources", "usage"] => {
                self.checked(t, operation, || self.resource_usage())
            }
            ["tenants", t, "subscriptionterm", "billingcycles"] => {
                self.checked(t, operation, || self.billing_cycles())
            }
            ["communities", c, "tenants", t, "usage"] => {
                self.checked(t, operation, || self.community_usage(c, request, operation))
            }
            _ => error_body(
                404,
                operation,
                "Not found.",
                "The requested resource does not exist.",
                "Check the request path.",
            ),
        }
    }

    fn checked(
        &self,
        tenant: &str,
        operation: &str,
        f: impl FnOnce() -> SimResponse,
    ) -> SimResponse {
        if !tenant.eq_ignore_ascii_case(TENANT_ID) {
            return error_body(
                403,
                operation,
                "Forbidden.",
                &format!("The client has no access to tenant {tenant}."),
                "Use the tenant id the client was created in.",
            );
        }
        f()
    }

    /// `start`/`end` → the first and last day served (see the module docs: `[start, end)`, a
    /// day when its hours overlap it; no `end`: the day of `start`); `None` start means the
    /// current cycle as a summary.
    fn range(
        &self,
        request: &SimRequest,
        operation: &str,
    ) -> Result<Option<(NaiveDate, NaiveDate)>, SimResponse> {
        let parse = |name: &str| -> Result<Option<DateTime<Utc>>, SimResponse> {
            match request.query_param(name) {
                None => Ok(None),
                Some(v) => DateTime::parse_from_rfc3339(&v)
                    .map(|d| Some(d.with_timezone(&Utc)))
                    .or_else(|_| {
                        NaiveDate::parse_from_str(&v, "%Y-%m-%d").map(|d| Some(midnight(d)))
                    })
                    .map_err(|_| {
                        bad_request(operation, &format!("{name} is not a valid date: {v}"))
                    }),
            }
        };
        let Some(start) = parse("start")? else {
            return Ok(None);
        };
        let first = start.date_naive();
        let Some(end) = parse("end")? else {
            return Ok(Some((first, first)));
        };
        if end <= start {
            return Err(bad_request(
                operation,
                "The end date must be later than the start date.",
            ));
        }
        // The day holding the range's last instant (`end` itself is not in the range).
        let last = (end - chrono::Duration::nanoseconds(1)).date_naive();
        Ok(Some((first, last)))
    }

    fn tenant_usage(&self, request: &SimRequest, operation: &str) -> SimResponse {
        let group = match request.query_param("groupBy") {
            Some(g) => match g.to_ascii_lowercase().as_str() {
                "namespace" | "0" => "namespace",
                "community" | "1" => "community",
                "all" | "2" => "all",
                "none" | "3" => "none",
                _ => return bad_request(operation, &format!("Unknown groupBy value {g}.")),
            },
            None if request.query_param("groupByNamespace").as_deref() == Some("true") => {
                "namespace"
            }
            None => "none",
        };
        let range = match self.range(request, operation) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let inner = self.inner();
        let (days, summary_day) = match range {
            Some((s, e)) => (inner.days(s, e), None),
            None => {
                let start = inner.cycles().last().expect("cycle").0.date_naive();
                (inner.days(start, inner.now().date_naive()), Some(start))
            }
        };
        let mut out = Vec::new();
        let mut emit = |day: NaiveDate, usage, ns: Option<&Namespace>, community: Option<&str>| {
            out.push(record(
                day,
                usage,
                ns,
                community,
                Some(TENANT_ID),
                Some(TENANT_ID),
            ));
        };
        let per_day = |f: &mut dyn FnMut(NaiveDate, Vec<NaiveDate>)| match summary_day {
            Some(first) => f(first, days.clone()),
            None => days.iter().for_each(|d| f(*d, vec![*d])),
        };
        let sum = |ds: &[NaiveDate], one: &dyn Fn(NaiveDate) -> DayUsage| {
            let mut total = DayUsage::default();
            ds.iter().for_each(|d| total.add(one(*d)));
            total
        };
        let community_total = |c: &Community, d: NaiveDate| {
            let mut total = DayUsage::default();
            for p in &c.partners {
                total.add(inner.community_day(&c.id, p, true, d));
            }
            total
        };
        per_day(&mut |day, ds| {
            if matches!(group, "namespace" | "all") {
                for ns in &inner.namespaces {
                    emit(
                        day,
                        sum(&ds, &|d| inner.namespace_day(ns, d)),
                        Some(ns),
                        None,
                    );
                }
            }
            if matches!(group, "community" | "all") {
                for c in &inner.communities {
                    emit(day, sum(&ds, &|d| community_total(c, d)), None, Some(&c.id));
                }
            }
            if group == "none" {
                let all = sum(&ds, &|d| {
                    let mut t = DayUsage::default();
                    inner
                        .namespaces
                        .iter()
                        .for_each(|ns| t.add(inner.namespace_day(ns, d)));
                    t
                });
                emit(day, all, None, None);
            }
        });
        SimResponse::json(200, &out)
    }

    fn community_usage(
        &self,
        community: &str,
        request: &SimRequest,
        operation: &str,
    ) -> SimResponse {
        let internal = match request.query_param("source").as_deref() {
            Some("Internal") | Some("1") => true,
            Some("External") | Some("2") => false,
            other => {
                return bad_request(
                    operation,
                    &format!("source must be Internal or External, got {other:?}."),
                )
            }
        };
        let by_tenant = match request.query_param("groupBy").as_deref() {
            None | Some("None") | Some("0") => false,
            Some("Tenant") | Some("1") => true,
            Some(g) => return bad_request(operation, &format!("Unknown groupBy value {g}.")),
        };
        let range = match self.range(request, operation) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let inner = self.inner();
        let Some(c) = inner
            .communities
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(community))
        else {
            return error_body(
                404,
                operation,
                "Community not found.",
                &format!("The tenant is not a member of community {community}."),
                "Check the community id.",
            );
        };
        let days = match range {
            Some((s, e)) => inner.days(s, e),
            None => {
                let start = inner.cycles().last().expect("cycle").0.date_naive();
                inner.days(start, inner.now().date_naive())
            }
        };
        let mut out = Vec::new();
        for day in days {
            let mut all = DayUsage::default();
            for p in &c.partners {
                let usage = inner.community_day(&c.id, p, internal, day);
                all.add(usage);
                if by_tenant {
                    let (caller, callee) = if internal {
                        (TENANT_ID, p.as_str())
                    } else {
                        (p.as_str(), TENANT_ID)
                    };
                    out.push(record(
                        day,
                        usage,
                        None,
                        Some(&c.id),
                        Some(caller),
                        Some(callee),
                    ));
                }
            }
            if !by_tenant {
                let (caller, callee) = if internal {
                    (Some(TENANT_ID), None)
                } else {
                    (None, Some(TENANT_ID))
                };
                out.push(record(day, all, None, Some(&c.id), caller, callee));
            }
        }
        SimResponse::json(200, &out)
    }

    fn resource_usage(&self) -> SimResponse {
        let inner = self.inner();
        let streams: u64 = inner.namespaces.iter().map(|n| n.streams).sum();
        let n = inner.namespaces.len() as u64;
        SimResponse::json(
            200,
            &json!({
                "StreamCount": streams,
                "EntitledStreamCount": (streams / 1000 + 1) * 2000,
                "NamespaceCount": n,
                "EntitledNamespaceCount": n + 2,
                "EntitledStreamAccessCount": inner
                    .entitled_stream_accesses
                    .unwrap_or((streams / 1000 + 1) * 1000),
            }),
        )
    }

    fn billing_cycles(&self) -> SimResponse {
        let cycles: Vec<Value> = self
            .inner()
            .cycles()
            .into_iter()
            .map(|(s, e)| json!({"StartDate": iso(s), "EndDate": iso(e)}))
            .collect();
        SimResponse::json(200, &cycles)
    }
}

/// Starts a simulator for the demo: `3 × scale` namespaces, `2 × scale` communities, tokens
/// living 5 minutes. Returns the handle and the YAML of one `sources.aveva` list item.
pub async fn start_demo(scale: u32) -> std::io::Result<(AvevaSim, String)> {
    let scale = scale.max(1) as usize;
    let sim = AvevaSim::start(SimConfig {
        namespaces: 3 * scale,
        communities: 2 * scale,
        token_lifetime: Duration::from_secs(300),
        clock: SimClock::real(),
    })
    .await?;
    let communities: Vec<String> = sim.communities().into_iter().map(|c| c.id).collect();
    let yaml = format!(
        "name: cds-demo\nurl: {}\ntenant_id: {TENANT_ID}\nclient_id: {CLIENT_ID}\nclient_secret: {CLIENT_SECRET}\ncommunity_ids: [{}]\nendpoints: {{tenant_usage: 1m, community_usage: 1m, resource_usage: 1m, billing_cycles: 5m}}",
        sim.url(),
        communities.join(", ")
    );
    Ok((sim, yaml))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Days;

    async fn token(client: &reqwest::Client, url: &str, secret: &str) -> reqwest::Response {
        client
            .post(format!("{url}/identity/connect/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap()
    }

    /// A simulator (default landscape: 3 namespaces, 2 communities) whose clock stands at `clock`.
    async fn sim_at(clock: SimClock) -> AvevaSim {
        AvevaSim::start(SimConfig {
            clock,
            ..SimConfig::default()
        })
        .await
        .unwrap()
    }

    /// GETs an API path (after `/api/v1/tenants/{TENANT_ID}`) with a fresh token.
    async fn get(sim: &AvevaSim, path_and_query: &str) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = sim.url();
        let t: Value = token(&client, &url, CLIENT_SECRET)
            .await
            .json()
            .await
            .unwrap();
        let r = client
            .get(format!("{url}/api/v1/tenants/{TENANT_ID}{path_and_query}"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn dates(records: &Value) -> Vec<String> {
        let mut out: Vec<String> = records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Date"].as_str().unwrap().to_string())
            .collect();
        out.dedup();
        out
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn serves_the_documented_shapes() {
        let (sim, yaml) = start_demo(1).await.unwrap();
        // Mid-cycle, so that the current cycle's first day and today differ (on a cycle's first
        // day the swapped range below would be one valid day).
        sim.clock().set(at(2026, 11, 17, 10));
        assert!(yaml.starts_with("name: cds-demo\n"));
        let client = reqwest::Client::new();
        let url = sim.url();
        let bad = token(&client, &url, "wrong").await;
        assert_eq!(bad.status(), 400);
        let ok: Value = token(&client, &url, CLIENT_SECRET)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ok["expires_in"], 300);
        let bearer = ok["access_token"].as_str().unwrap().to_string();
        assert_eq!(sim.token_requests(), 2);

        let get = |path: String| {
            let client = client.clone();
            let bearer = bearer.clone();
            async move { client.get(path).bearer_auth(bearer).send().await.unwrap() }
        };
        let today = sim.now().date_naive();
        assert_eq!(today, day(2026, 11, 17));
        let start = sim.current_cycle().0.format("%Y-%m-%dT%H:%M:%SZ");
        // `end` is exclusive: tomorrow 00:00 includes today.
        let end = midnight(today + Days::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
        let r = get(format!(
            "{url}/api/v1/tenants/{TENANT_ID}/usage?start={start}&end={end}&groupBy=Namespace"
        ))
        .await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("operation-id"));
        let records: Vec<Value> = r.json().await.unwrap();
        let days = (today - sim.current_cycle().0.date_naive()).num_days() as usize + 1;
        assert_eq!(days, 17);
        assert_eq!(records.len(), 3 * days);
        assert_eq!(records[2]["ClusterRegion"], 2);

        let c = &sim.communities()[0];
        let r = get(format!("{url}/api/v1/communities/{}/tenants/{TENANT_ID}/usage?start={start}&end={end}&groupBy=Tenant&source=External", c.id)).await;
        let records: Vec<Value> = r.json().await.unwrap();
        assert_eq!(records.len(), c.partners.len() * days);
        assert_eq!(records[0]["CalleeTenantId"], TENANT_ID);

        let r = get(format!(
            "{url}/api/v1/tenants/{TENANT_ID}/usage?start={end}&end={start}"
        ))
        .await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["Reason"],
            "The end date must be later than the start date."
        );
        assert!(body["OperationId"].as_str().unwrap().starts_with("sim-op-"));

        let r = get(format!("{url}/api/v1/tenants/other/resources/usage")).await;
        assert_eq!(r.status(), 403);
        sim.revoke_tokens();
        let r = get(format!("{url}/api/v1/tenants/{TENANT_ID}/resources/usage")).await;
        assert_eq!(r.status(), 401);
        assert_eq!(sim.rejected_tokens(), 1);
    }

    #[tokio::test]
    async fn calendar_cycles_follow_the_clock() {
        let sim = sim_at(SimClock::at(2026, 11, 17, 10, 30, 0)).await;
        let (start, end) = sim.current_cycle();
        assert_eq!(start.day(), 1);
        assert!(start <= sim.now() && sim.now() < end);
        assert_eq!(sim.cycles().len(), 12);
        sim.clock().set(end + Days::hours(1));
        assert_eq!(sim.current_cycle().0, end);
        // Past days are complete and stable; today grows.
        let ns = &sim.namespaces()[0].id;
        let past = sim.namespace_day(ns, start.date_naive());
        assert!(past.ingress_events > 0);
        assert_eq!(past, sim.namespace_day(ns, start.date_naive()));
        assert_eq!(
            sim.namespace_day(ns, sim.now().date_naive() + Days::days(1))
                .ingress_events,
            0
        );
    }

    #[tokio::test]
    async fn clock_offset_runs_ahead_of_real_time() {
        let sim = sim_at(SimClock::at(2026, 11, 17, 10, 30, 0)).await;
        let before = Utc::now();
        sim.set_clock_offset(Days::days(40));
        assert!(!sim.clock().is_fixed());
        let ahead = sim.now() - before;
        assert!(ahead >= Days::days(40) && ahead < Days::days(41), "{ahead}");
    }

    #[tokio::test]
    async fn first_day_of_a_cycle() {
        // 2026-12-01: the day the old serves_the_documented_shapes failed on the real clock.
        let sim = sim_at(SimClock::at(2026, 12, 1, 9, 0, 0)).await;
        assert_eq!(sim.current_cycle(), (at(2026, 12, 1, 0), at(2027, 1, 1, 0)));
        let cycles = sim.cycles();
        assert_eq!(cycles.len(), 12);
        assert_eq!(cycles[0], (at(2026, 1, 1, 0), at(2026, 2, 1, 0)));
        assert_eq!(cycles[10], (at(2026, 11, 1, 0), at(2026, 12, 1, 0)));
        assert!(cycles.windows(2).all(|w| w[0].1 == w[1].0), "contiguous");
        // The current cycle's summary is one record per namespace dated the cycle start.
        let (status, records) = get(&sim, "/usage?groupBy=Namespace").await;
        assert_eq!(status, 200);
        assert_eq!(dates(&records), vec!["2026-12-01T00:00:00Z"]);
        assert_eq!(records.as_array().unwrap().len(), 3);
        // `[start, end)`: up to today 00:00 is the old cycle's last day only; up to tomorrow
        // 00:00 holds today (partial). The day before belongs to the old cycle.
        let (status, records) = get(&sim, "/usage?start=2026-11-30&end=2026-12-01").await;
        assert_eq!(status, 200);
        assert_eq!(dates(&records), vec!["2026-11-30T00:00:00Z"]);
        let (status, records) = get(&sim, "/usage?start=2026-11-30&end=2026-12-02").await;
        assert_eq!(status, 200);
        assert_eq!(
            dates(&records),
            vec!["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"]
        );
        let (status, records) = get(
            &sim,
            "/usage?start=2026-12-01T00:00:00Z&end=2026-12-02T00:00:00Z&groupBy=Namespace",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(dates(&records), vec!["2026-12-01T00:00:00Z"]);
        // An empty range (start == end) and a backwards one are invalid inputs.
        for query in [
            "start=2026-12-01&end=2026-12-01",
            "start=2026-12-01T00:00:00Z&end=2026-12-01T00:00:00Z",
            "start=2026-12-02&end=2026-12-01",
        ] {
            let (status, body) = get(&sim, &format!("/usage?{query}")).await;
            assert_eq!(status, 400, "{query}");
            assert_eq!(
                body["Reason"], "The end date must be later than the start date.",
                "{query}"
            );
        }
        // A range ending within today holds today too (its hours overlap the range).
        let (_, records) = get(&sim, "/usage?start=2026-12-01&end=2026-12-01T09:00:00Z").await;
        assert_eq!(dates(&records), vec!["2026-12-01T00:00:00Z"]);
        // Today is partial: 9 of 24 hours.
        let ns = sim.namespaces()[0].clone();
        let partial = sim.namespace_day(&ns.id, day(2026, 12, 1));
        sim.clock().set(at(2026, 12, 2, 0));
        let full = sim.namespace_day(&ns.id, day(2026, 12, 1));
        assert!(partial.ingress_events < full.ingress_events);
        let expected = full.ingress_events as f64 * 9.0 / 24.0;
        assert!((partial.ingress_events as f64 - expected).abs() <= 1.0 + expected * 1e-9);
        // Midnight of a cycle's first day: the new cycle has begun, nothing counted yet.
        sim.clock().set(at(2027, 1, 1, 0));
        assert_eq!(sim.current_cycle().0, at(2027, 1, 1, 0));
        assert_eq!(sim.namespace_day(&ns.id, day(2027, 1, 1)).ingress_events, 0);
    }

    #[tokio::test]
    async fn revised_days_are_served_lower_or_higher_and_queries_are_recorded() {
        let sim = sim_at(SimClock::fixed(at(2026, 11, 17, 10))).await;
        let ns = sim.namespaces()[0].id.clone();
        let yesterday = day(2026, 11, 16);
        let original = sim.namespace_day(&ns, yesterday);
        let query = "/usage?start=2026-11-16&end=2026-11-18&groupBy=Namespace";
        let served = |records: &Value, date: &str| -> u64 {
            records
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["NamespaceId"] == ns.as_str() && r["Date"] == date)
                .unwrap()["IngressEvents"]
                .as_u64()
                .unwrap()
        };
        let (_, before) = get(&sim, query).await;
        assert_eq!(
            served(&before, "2026-11-16T00:00:00Z"),
            original.ingress_events
        );
        sim.revise_day(&ns, yesterday, 0.5);
        let revised = sim.namespace_day(&ns, yesterday);
        assert_eq!(
            revised.ingress_events,
            (original.ingress_events as f64 * 0.5).round() as u64
        );
        assert!(revised.egress_streams_accessed < original.egress_streams_accessed);
        let (_, after) = get(&sim, query).await;
        assert_eq!(
            served(&after, "2026-11-16T00:00:00Z"),
            revised.ingress_events
        );
        // Other days and namespaces are untouched; the tenant's sum follows the revision.
        assert_eq!(
            served(&after, "2026-11-17T00:00:00Z"),
            served(&before, "2026-11-17T00:00:00Z")
        );
        let (_, none) = get(&sim, "/usage?start=2026-11-16&groupBy=None").await;
        let total: u64 = sim
            .namespaces()
            .iter()
            .map(|n| sim.namespace_day(&n.id, yesterday).ingress_events)
            .sum();
        assert_eq!(none[0]["IngressEvents"], total);
        sim.revise_day(&ns, yesterday, 1.5);
        assert_eq!(
            sim.namespace_day(&ns, yesterday).ingress_events,
            (original.ingress_events as f64 * 1.5).round() as u64
        );
        sim.revise_day(&ns, yesterday, 1.0);
        assert_eq!(sim.namespace_day(&ns, yesterday), original);
        // Every query was recorded, decoded.
        let queries = sim.api_queries("/usage");
        assert_eq!(queries.len(), 3);
        assert!(queries[0].contains(&("end".to_string(), "2026-11-18".to_string())));
    }

    #[tokio::test]
    async fn last_day_of_a_cycle() {
        let sim = sim_at(SimClock::at(2026, 11, 30, 23, 59, 59)).await;
        assert_eq!(
            sim.current_cycle(),
            (at(2026, 11, 1, 0), at(2026, 12, 1, 0))
        );
        let (status, records) = get(&sim, "/usage?groupBy=None").await;
        assert_eq!(status, 200);
        assert_eq!(dates(&records), vec!["2026-11-01T00:00:00Z"]);
        let (status, records) = get(&sim, "/usage?start=2026-11-01&end=2026-12-31").await;
        assert_eq!(status, 200);
        let d = dates(&records);
        assert_eq!(d.len(), 30, "November has 30 days; December has not begun");
        assert_eq!(d[29], "2026-11-30T00:00:00Z");
        // One second later the cycle rolls over and the last day is complete and stable.
        let ns = sim.namespaces()[0].clone();
        let before = sim.namespace_day(&ns.id, day(2026, 11, 30));
        sim.clock().advance_secs(1);
        assert_eq!(sim.current_cycle(), (at(2026, 12, 1, 0), at(2027, 1, 1, 0)));
        let complete = sim.namespace_day(&ns.id, day(2026, 11, 30));
        assert!(complete.ingress_events >= before.ingress_events);
        sim.clock().advance(Days::days(3));
        assert_eq!(sim.namespace_day(&ns.id, day(2026, 11, 30)), complete);
        // December 31st → the cycles wrap into the next year.
        sim.clock().set(at(2026, 12, 31, 23));
        assert_eq!(sim.current_cycle(), (at(2026, 12, 1, 0), at(2027, 1, 1, 0)));
        assert_eq!(sim.cycles()[0], (at(2026, 1, 1, 0), at(2026, 2, 1, 0)));
    }

    #[tokio::test]
    async fn leap_day_2028() {
        let sim = sim_at(SimClock::at(2028, 2, 29, 12, 0, 0)).await;
        assert_eq!(sim.current_cycle(), (at(2028, 2, 1, 0), at(2028, 3, 1, 0)));
        assert_eq!(sim.cycles()[0], (at(2027, 3, 1, 0), at(2027, 4, 1, 0)));
        let (status, records) = get(&sim, "/usage?start=2028-02-01&end=2028-03-01").await;
        assert_eq!(status, 200);
        let d = dates(&records);
        assert_eq!(d.len(), 29);
        assert_eq!(d[28], "2028-02-29T00:00:00Z");
        let (status, records) = get(&sim, "/usage?start=2028-02-29T00:00:00Z").await;
        assert_eq!(status, 200);
        assert_eq!(dates(&records), vec!["2028-02-29T00:00:00Z"]);
        let ns = sim.namespaces()[0].clone();
        assert!(sim.namespace_day(&ns.id, day(2028, 2, 29)).ingress_events > 0);
        // The next day is March 1st, a new cycle; February had 29 complete days.
        sim.clock().advance(Days::days(1));
        assert_eq!(sim.now().date_naive(), day(2028, 3, 1));
        assert_eq!(sim.current_cycle(), (at(2028, 3, 1, 0), at(2028, 4, 1, 0)));
        let (_, records) = get(&sim, "/usage?start=2028-02-01&end=2028-03-01").await;
        assert_eq!(
            dates(&records).len(),
            29,
            "March 1st has begun but is not in the range"
        );
        let (_, records) = get(&sim, "/usage?start=2028-02-01&end=2028-02-29").await;
        assert_eq!(dates(&records).len(), 28);
        // A year later there is no 29 February: the day after the 28th is March 1st.
        sim.clock().set(at(2029, 3, 10, 0));
        let (status, records) = get(&sim, "/usage?start=2029-02-27&end=2029-03-01").await;
        assert_eq!(status, 200);
        assert_eq!(
            dates(&records),
            vec!["2029-02-27T00:00:00Z", "2029-02-28T00:00:00Z"]
        );
        let (_, records) = get(&sim, "/usage?start=2029-02-27&end=2029-03-02").await;
        assert_eq!(dates(&records).len(), 3);
        let (status, _) = get(&sim, "/usage?start=2029-02-29").await;
        assert_eq!(status, 400, "not a date");
    }

    #[tokio::test]
    async fn dst_change_days_are_plain_utc_days() {
        // 2026-03-29: Europe moves its clocks forward at 01:00 UTC; 2026-11-01 (a cycle's first
        // day): the USA moves them back at 06:00 UTC (02:00 EDT). The service counts in UTC, so
        // both days have 24 hours and consecutive midnights are 86,400 s apart.
        for (y, m, d) in [(2026, 3, 29), (2026, 11, 1)] {
            let dst = day(y, m, d);
            let clock = SimClock::fixed(midnight(dst) + Days::hours(23));
            let sim = sim_at(clock.clone()).await;
            let ns = sim.namespaces()[0].clone();
            let partial = sim.namespace_day(&ns.id, dst);
            clock.set(midnight(dst) + Days::hours(36));
            let full = sim.namespace_day(&ns.id, dst);
            let expected = full.ingress_events as f64 * 23.0 / 24.0;
            assert!(
                (partial.ingress_events as f64 - expected).abs() <= 1.0 + expected * 1e-9,
                "{dst}: 23 h of 24 → {} of {}",
                partial.ingress_events,
                full.ingress_events
            );
            let prev = dst.pred_opt().unwrap();
            let after_next = dst + Days::days(2);
            let (status, records) =
                get(&sim, &format!("/usage?start={prev}&end={after_next}")).await;
            assert_eq!(status, 200);
            let d = dates(&records);
            assert_eq!(d.len(), 3, "{dst}");
            let times: Vec<i64> = d
                .iter()
                .map(|t| DateTime::parse_from_rfc3339(t).unwrap().timestamp())
                .collect();
            assert!(times.windows(2).all(|w| w[1] - w[0] == 86_400), "{d:?}");
            let cycle = sim.current_cycle();
            assert_eq!(cycle.0.day(), 1);
            assert!(cycle.0 <= sim.now() && sim.now() < cycle.1);
        }
    }
}
