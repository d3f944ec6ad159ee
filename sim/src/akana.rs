//! Simulator of the Akana API Platform: cookie login (`POST /api/login`) with the
//! `AtmoAuthToken_{fedmemberid}` and `Csrf-Token_{fedmemberid}` cookies, token expiry and
//! renewal (`POST /api/login/renewToken`), pending login tasks, and the subscription usage report
//! (`GET /platform/subscriptions/{SubscriptionID}/metrics`) serving the vendor's sample response
//! or a generated month that follows the simulator's [`SimClock`] (for month-rollover tests).
//!
//! Tests drive it through [`AkanaSim`]: change [`State`] with [`AkanaSim::with`], switch
//! [`Faults`], read per-path request counts ([`AkanaSim::count`]).

use super::{serve, Faults, SimClock, SimHandler, SimRequest, SimResponse, SimServer};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, FixedOffset, NaiveDate, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The vendor's sample response from the API documentation.
pub const VENDOR_SAMPLE: &str = include_str!("../../tests/fixtures/akana/vendor-sample.json");

/// What the metrics endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// The vendor's documented sample (February 2016), whatever month is asked for.
    Sample,
    /// A generated month following the simulator clock; `scale` multiplies traffic and list sizes.
    Generated {
        /// Multiplier of object counts and traffic.
        scale: u32,
    },
    /// This exact JSON document.
    Custom(Value),
}

/// The simulated platform: accounts, settings, data, and what it has seen.
#[derive(Debug)]
pub struct State {
    /// Login e-mail.
    pub email: String,
    /// Login password.
    pub password: String,
    /// Tenant id in cookie and header names.
    pub fedmemberid: String,
    /// The one subscription served.
    pub subscription_id: String,
    /// Path prefix of the metrics endpoint.
    pub path_prefix: String,
    /// Lifetime of a login token (written into the token like the platform does).
    pub token_lifetime: Duration,
    /// Require `X-Csrf-Token_{fedmemberid}` on GET too (renewal always needs it when CSRF is on).
    pub csrf_required: bool,
    /// Set the `Csrf-Token_{fedmemberid}` cookie at login (CSRF prevention enabled on the site).
    pub issue_csrf_cookie: bool,
    /// Tasks a login reports instead of logging in (e.g. `ChangePassword`).
    pub pending_tasks: Vec<String>,
    /// What the metrics endpoint serves.
    pub data: Data,
    /// The platform's clock: the default report month, generated data, token times (real time
    /// by default).
    pub clock: SimClock,
    /// The platform's time zone (a fixed offset, UTC by default): generated months and days
    /// begin at 00:00 there, and the report's timestamps are written in it.
    pub utc_offset: FixedOffset,
    /// Raw query strings of the metrics calls, newest last (bounded).
    pub metrics_queries: Vec<String>,
    /// `Accept` header of the last metrics call.
    pub last_accept: Option<String>,
    tokens: HashMap<String, Token>,
    counts: BTreeMap<String, u64>,
    serial: u64,
}

#[derive(Debug, Clone)]
struct Token {
    expires: Instant,
    csrf: String,
}

impl Default for State {
    fn default() -> Self {
        State {
            email: "monitor@acmepaymentscorp.com".into(),
            password: "s3cret-Pa55".into(),
            fedmemberid: "acmepaymentscorp".into(),
            subscription_id: "acmepaymentscorp".into(),
            path_prefix: "/platform/subscriptions".into(),
            token_lifetime: Duration::from_secs(30 * 60),
            csrf_required: false,
            issue_csrf_cookie: true,
            pending_tasks: Vec::new(),
            data: Data::Sample,
            clock: SimClock::real(),
            utc_offset: FixedOffset::east_opt(0).expect("UTC"),
            metrics_queries: Vec::new(),
            last_accept: None,
            tokens: HashMap::new(),
            counts: BTreeMap::new(),
            serial: 0,
        }
    }
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn token_cookie(&self) -> String {
        format!("AtmoAuthToken_{}", self.fedmemberid)
    }

    fn metrics_path(&self) -> String {
        format!(
            "{}/{}/metrics",
            self.path_prefix.trim_end_matches('/'),
            self.subscription_id
        )
    }

    /// Issues a token (and keeps the CSRF value of a renewed session).
    fn issue(&mut self, csrf: Option<String>) -> (String, String) {
        self.serial += 1;
        let now_ms = self.clock.unix_ms();
        let expires_ms = now_ms + self.token_lifetime.as_millis() as i64;
        let id = format!(
            "{:08x}-5371-40c6-9ff8-{:012x}",
            self.serial * 7919,
            self.serial
        );
        let raw = format!(
            "TokenID={id},claimed_id=urn:atmosphere:user:{fid}:8697a0a0,issueTime={now_ms},expirationTime={expires_ms},UserName=monitor,UserFDN=8697a0a0.{fid},AttributesIncluded=false,sig=EqIom326Db{:x}",
            self.serial * 104729,
            fid = self.fedmemberid
        );
        let value: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
        let csrf = csrf.unwrap_or_else(|| {
            let raw = format!("TokenID={id}-csrf,expirationTime={expires_ms}");
            url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
        });
        let now = Instant::now();
        self.tokens.retain(|_, t| t.expires > now);
        self.tokens.insert(
            value.clone(),
            Token {
                expires: now + self.token_lifetime,
                csrf: csrf.clone(),
            },
        );
        (value, csrf)
    }

    /// The valid token of a request, or the 401 to answer.
    fn check(&self, req: &SimRequest, need_csrf: bool) -> Result<(String, Token), SimResponse> {
        let unauthorized =
            |message: &str| SimResponse::json(401, &json!({"code": 401, "message": message}));
        let value = req
            .cookie(&self.token_cookie())
            .ok_or_else(|| unauthorized("Login required: no platform cookie."))?;
        let token = self
            .tokens
            .get(&value)
            .filter(|t| t.expires > Instant::now())
            .cloned()
            .ok_or_else(|| unauthorized("The login token has expired."))?;
        if need_csrf {
            let header = format!("x-csrf-token_{}", self.fedmemberid.to_ascii_lowercase());
            if req.header(&header) != Some(token.csrf.as_str()) {
                return Err(unauthorized("CSRF token missing or invalid."));
            }
        }
        Ok((value, token))
    }
}

/// The running simulator and its controls. Dropping it stops the server.
pub struct AkanaSim {
    /// The HTTP server.
    pub server: SimServer,
    /// Platform state (settings, data, counters).
    pub state: Arc<Mutex<State>>,
    /// Faults of the metrics endpoint.
    pub faults: Arc<Faults>,
    /// Faults of the login endpoint.
    pub login_faults: Arc<Faults>,
}

impl AkanaSim {
    /// Starts a simulator with this state.
    pub async fn start(state: State) -> std::io::Result<AkanaSim> {
        let handler = Arc::new(Handler {
            state: Arc::new(Mutex::new(state)),
            faults: Arc::new(Faults::default()),
            login_faults: Arc::new(Faults::default()),
        });
        let server = serve(handler.clone(), None).await?;
        Ok(AkanaSim {
            server,
            state: handler.state.clone(),
            faults: handler.faults.clone(),
            login_faults: handler.login_faults.clone(),
        })
    }

    /// Base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Changes or reads the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("akana sim lock"))
    }

    /// Requests seen for `"METHOD /path"`, or with a status suffix `"METHOD /path 401"`.
    pub fn count(&self, what: &str) -> u64 {
        self.with(|s| s.counts.get(what).copied().unwrap_or(0))
    }

    /// Login attempts so far.
    pub fn logins(&self) -> u64 {
        self.count("POST /api/login")
    }

    /// Renewal calls so far.
    pub fn renewals(&self) -> u64 {
        self.count("POST /api/login/renewToken")
    }

    /// Metrics calls so far (any outcome).
    pub fn metrics_calls(&self) -> u64 {
        let path = self.with(|s| s.metrics_path());
        self.count(&format!("GET {path}"))
    }

    /// Invalidates every issued token (as a platform restart or a shorter site policy would).
    pub fn expire_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// Stops the platform's clock at `now`, or (`None`) lets it follow real time again
    /// (shorthand for `clock().set(..)` / `clock().set_offset(zero)`).
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        let clock = self.clock();
        match now {
            Some(t) => clock.set(t),
            None => clock.set_offset(ChronoDuration::zero()),
        }
    }

    /// The platform's clock (shared: setting or advancing it moves the running simulator).
    pub fn clock(&self) -> SimClock {
        self.with(|s| s.clock.clone())
    }

    /// One `sources.akana` list item for this simulator (first line `name: ...`).
    pub fn config_yaml(&self, name: &str) -> String {
        self.with(|s| {
            format!(
                "name: {name}\nurl: {}\nsubscription_id: {}\nemail: {}\npassword: {}",
                self.server.url(),
                s.subscription_id,
                s.email,
                s.password
            )
        })
    }
}

/// Starts the demo simulator: a generated month of usage growing in real time. Its config item
/// carries a licence of 15 APIs per `scale` (the generated `ApiCount` is 12 per `scale`, 80 %
/// of it), so dashboards and rules have an `akana_metric_limit` to divide by.
pub async fn start_demo(scale: u32) -> std::io::Result<(AkanaSim, String)> {
    let scale = scale.max(1);
    let sim = AkanaSim::start(State {
        data: Data::Generated { scale },
        ..State::default()
    })
    .await?;
    let yaml = format!(
        "{}\nendpoints: {{metrics: 30s}}\nlimits: {{ApiCount: {}}}",
        sim.config_yaml("demo"),
        15 * scale
    );
    Ok((sim, yaml))
}

struct Handler {
    state: Arc<Mutex<State>>,
    faults: Arc<Faults>,
    login_faults: Arc<Faults>,
}

impl SimHandler for Handler {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        Box::pin(async move {
            let key = format!("{} {}", request.method, request.path);
            let metrics_path = self.lock().metrics_path();
            let response = match (request.method.as_str(), request.path.as_str()) {
                ("POST", "/api/login") => {
                    self.login_faults
                        .apply(|| async { self.login(&request) })
                        .await
                }
                ("POST", "/api/login/renewToken") => self.renew(&request),
                ("GET", p) if p == metrics_path => {
                    self.faults.apply(|| async { self.metrics(&request) }).await
                }
                _ => SimResponse::json(
                    404,
                    &json!({"code": 404, "message": format!("no resource at {}", request.path)}),
                ),
            };
            let mut state = self.lock();
            *state.counts.entry(key.clone()).or_default() += 1;
            *state
                .counts
                .entry(format!("{key} {}", response.status))
                .or_default() += 1;
            response
        })
    }
}

impl Handler {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("akana sim lock")
    }

    fn login(&self, req: &SimRequest) -> SimResponse {
        let mut state = self.lock();
        let body = req.json().unwrap_or(Value::Null);
        let email = body.get("email").and_then(Value::as_str).unwrap_or("");
        let password = body.get("password").and_then(Value::as_str).unwrap_or("");
        if !email.eq_ignore_ascii_case(&state.email) || password != state.password {
            return SimResponse::json(
                401,
                &json!({"code": 401, "message": "The email address or password is incorrect."}),
            );
        }
        if !state.pending_tasks.is_empty() {
            return SimResponse::json(
                200,
                &json!({"loginStatus": false, "pendingTasks": state.pending_tasks}),
            );
        }
        let (token, csrf) = state.issue(None);
        let fid = state.fedmemberid.clone();
        let mut response = SimResponse::json(
            200,
            &json!({"loginStatus": true, "userName": state.email, "fedmemberID": fid}),
        )
        .with_header(
            "set-cookie",
            format!(
                "JSESSIONID_pm80=11t5ah9i68us{}; Path=/; HttpOnly",
                state.serial
            ),
        )
        .with_header(
            "set-cookie",
            format!("AtmoAuthToken_{fid}={token}; Path=/; HttpOnly"),
        );
        if state.issue_csrf_cookie {
            response =
                response.with_header("set-cookie", format!("Csrf-Token_{fid}={csrf}; Path=/"));
        }
        response
    }

    fn renew(&self, req: &SimRequest) -> SimResponse {
        let mut state = self.lock();
        let need_csrf = state.issue_csrf_cookie || state.csrf_required;
        let (old, token) = match state.check(req, need_csrf) {
            Ok(t) => t,
            Err(response) => return response,
        };
        state.tokens.remove(&old);
        let (value, _) = state.issue(Some(token.csrf));
        let fid = state.fedmemberid.clone();
        SimResponse::json(200, &json!({"loginStatus": true})).with_header(
            "set-cookie",
            format!("AtmoAuthToken_{fid}={value}; Path=/; HttpOnly"),
        )
    }

    fn metrics(&self, req: &SimRequest) -> SimResponse {
        let mut state = self.lock();
        let need_csrf = state.csrf_required;
        if let Err(response) = state.check(req, need_csrf) {
            return response;
        }
        state
            .metrics_queries
            .push(req.query.clone().unwrap_or_default());
        state.last_accept = req.header("accept").map(str::to_string);
        if state.metrics_queries.len() > 1000 {
            state.metrics_queries.remove(0);
        }
        let pairs = req.query_pairs();
        let flag = |name: &str| {
            pairs
                .iter()
                .any(|(k, v)| k == name && v.eq_ignore_ascii_case("true"))
        };
        let number = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u32>().ok())
        };
        let ids: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == "MetricID" || k == "MetricID[]")
            .map(|(_, v)| v.as_str())
            .collect();
        let now = state.now();
        let local = now.with_timezone(&state.utc_offset);
        let mut report = match &state.data {
            Data::Sample => serde_json::from_str(VENDOR_SAMPLE).expect("vendor sample is JSON"),
            Data::Custom(v) => v.clone(),
            Data::Generated { scale } => {
                let year = number("ReportYear")
                    .map(|y| y as i32)
                    .unwrap_or(local.year());
                let month = number("ReportMonth").unwrap_or(local.month());
                match generate_in(*scale, year, month, now, state.utc_offset) {
                    Some(report) => report,
                    None => {
                        return SimResponse::json(
                            400,
                            &json!({"code": 400, "message": "ReportMonth must be 01-12."}),
                        )
                    }
                }
            }
        };
        if let Some(metrics) = report.get_mut("UsageMetric").and_then(Value::as_array_mut) {
            if !ids.is_empty() {
                metrics.retain(|m| {
                    m.get("MetricID")
                        .and_then(Value::as_str)
                        .is_some_and(|id| ids.contains(&id))
                });
            }
            for m in metrics.iter_mut().filter_map(Value::as_object_mut) {
                if !flag("IncludePerDayUsage") {
                    m.remove("DayUsage");
                }
                if !flag("IncludeMetricItemList") {
                    m.remove("MetricItemList");
                }
            }
        }
        let mut response = SimResponse::json(200, &report);
        response.headers = vec![("content-type".into(), "application/vnd.soa.v80+json".into())];
        response
    }
}

/// Deterministic pseudo-random 0..1000 for a day and a salt.
fn noise(date: NaiveDate, salt: u64) -> u64 {
    let seed =
        (date.year() as u64) * 10_000 + u64::from(date.month()) * 100 + u64::from(date.day());
    (seed.wrapping_mul(2_654_435_761).wrapping_add(salt * 40_503) >> 7) % 1000
}

/// Full-day items of one API usage metric.
fn day_items(date: NaiveDate, scale: u64, customer: bool) -> [u64; 4] {
    let n = noise(date, u64::from(customer));
    let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    let base = if customer { 40 + n / 20 } else { 600 + n };
    let calls = scale * if weekend { base / 3 } else { base };
    [
        calls,
        calls * (35 + n % 60),
        calls * (5 + n % 9),
        calls * (800 + n % 400),
    ]
}

fn items_json(values: [u64; 4]) -> Value {
    let names = [
        ("TotalUsageCount", "Number"),
        ("TotalResponseTime", "Millisecond"),
        ("TotalRequestMessageSize", "Byte"),
        ("TotalResponseMessageSize", "Byte"),
    ];
    Value::Array(
        names
            .iter()
            .zip(values)
            .map(|((name, units), v)| json!({"MetricValue": v, "MetricUnits": units, "Name": name}))
            .collect(),
    )
}

/// A timestamp as the platform writes it: `Z` in UTC, else with the offset (`+02:00`).
fn iso(t: DateTime<Utc>, zone: FixedOffset) -> String {
    if zone.local_minus_utc() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    } else {
        t.with_timezone(&zone)
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    }
}

/// A generated report for `year`-`month` as seen at `now`: complete days of a past month, the
/// days so far (today partial) of the current one, nothing for a future one; in UTC.
pub fn generate(scale: u32, year: i32, month: u32, now: DateTime<Utc>) -> Option<Value> {
    generate_in(scale, year, month, now, FixedOffset::east_opt(0)?)
}

/// [`generate`] for a platform whose time zone is `zone`: the month and its days begin at 00:00
/// there, `Date`s are its calendar days and the timestamps carry its offset.
pub fn generate_in(
    scale: u32,
    year: i32,
    month: u32,
    now: DateTime<Utc>,
    zone: FixedOffset,
) -> Option<Value> {
    let scale = u64::from(scale.max(1));
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let midnight = |day: NaiveDate| -> Option<DateTime<Utc>> {
        let local = day
            .and_hms_opt(0, 0, 0)?
            .and_local_timezone(zone)
            .single()?;
        Some(local.with_timezone(&Utc))
    };
    let start = midnight(first)?;
    let end_of_month = midnight(next)?;
    let end = if now < end_of_month {
        now.max(start)
    } else {
        end_of_month - ChronoDuration::milliseconds(1)
    };
    // How far the month has run: the last day of a past month counts whole, not 1 ms short.
    let until = now.clamp(start, end_of_month);
    let mut metrics = vec![
        json!({"MetricValue": 12 * scale, "MetricUnits": "Number", "MetricID": "ApiCount", "MetricType": "Aggregate"}),
    ];
    for (id, customer) in [("PlatformApiUsage", false), ("CustomerApiUsage", true)] {
        let mut days = Vec::new();
        let mut total = [0u64; 4];
        let mut day = first;
        while day < next && midnight(day)? <= end {
            let day_start = midnight(day)?;
            let full = day_items(day, scale, customer);
            let elapsed = (until - day_start).num_seconds().clamp(0, 86_400) as u64;
            let part = full.map(|v| v * elapsed / 86_400);
            if part[0] > 0 {
                for (t, v) in total.iter_mut().zip(part) {
                    *t += v;
                }
                days.push(json!({"Date": day.format("%Y-%m-%d").to_string(), "MetricItem": items_json(part)}));
            }
            day = day.succ_opt()?;
        }
        metrics.push(json!({
            "MetricID": id, "MetricType": "PerDayWithAggregate", "DayUsage": days,
            "AggregateUsage": {"MetricItem": items_json(total)}
        }));
    }
    for (id, v) in [
        ("AppCount", 30 * scale),
        ("UserAccountsCount", 45 * scale + u64::from(month)),
        ("GoogleProviderCount", 1),
        ("OpenIDConnectRelyingPartyCount", 1),
        ("OAuthProviderCount", 1),
        ("FacebookProviderCount", 0),
        ("ExternalOAuthProviderCount", 1),
        ("LDAPProviderCount", 1),
        ("SiteMinderProviderCount", 0),
        ("SAMLWebSSOProviderCount", 0),
        ("PingFederateProviderCount", 0),
    ] {
        metrics.push(json!({"MetricValue": v, "MetricUnits": "Number", "MetricID": id, "MetricType": "Aggregate"}));
    }
    let zones: Vec<String> = (1..=2 * scale).map(|i| format!("DZ-{i:02}")).collect();
    let portals: Vec<String> = (1..=scale)
        .map(|i| format!("portal{i}.acmepaymentscorp.com"))
        .collect();
    let apis: Vec<String> = (1..=3 * scale)
        .map(|i| format!("api{i}.acmepaymentscorp.com"))
        .collect();
    for (id, kind, names) in [
        ("DeploymentZonesUsage", "DeploymentZone", zones),
        ("PortalVanityURLUsage", "VanityURL", portals),
        ("ApiVanityURLUsage", "VanityURL", apis),
    ] {
        metrics.push(json!({
            "MetricID": id, "MetricType": "ListWithAggregate",
            "MetricItemList": {"Name": names, "Type": kind},
            "AggregateUsage": {"MetricValue": names.len(), "MetricUnits": "Number"}
        }));
    }
    Some(json!({
        "ReportGeneratedTimestamp": iso(now, zone),
        "ReportPeriod": {"StartDate": iso(start, zone), "EndDate": iso(end, zone)},
        "UsageMetric": metrics
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn generated_month_sums_its_days_and_respects_the_clock() {
        let now = Utc.with_ymd_and_hms(2026, 3, 3, 12, 0, 0).unwrap();
        let report = generate(1, 2026, 3, now).unwrap();
        let platform = &report["UsageMetric"][1];
        let days = platform["DayUsage"].as_array().unwrap();
        assert_eq!(days.len(), 3, "1st, 2nd and half of the 3rd");
        let sum: u64 = days
            .iter()
            .map(|d| d["MetricItem"][0]["MetricValue"].as_u64().unwrap())
            .sum();
        assert_eq!(
            platform["AggregateUsage"]["MetricItem"][0]["MetricValue"].as_u64(),
            Some(sum)
        );
        assert_eq!(
            report["ReportPeriod"]["StartDate"],
            "2026-03-01T00:00:00.000Z"
        );
        assert_eq!(
            report["ReportPeriod"]["EndDate"],
            "2026-03-03T12:00:00.000Z"
        );
        // A past month is complete.
        let feb = generate(1, 2026, 2, now).unwrap();
        assert_eq!(
            feb["UsageMetric"][1]["DayUsage"].as_array().unwrap().len(),
            28
        );
        assert_eq!(feb["ReportPeriod"]["EndDate"], "2026-02-28T23:59:59.999Z");
        assert!(generate(1, 2026, 13, now).is_none());
    }

    fn platform_days(report: &Value) -> Vec<(String, u64)> {
        report["UsageMetric"][1]["DayUsage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["Date"].as_str().unwrap().to_string(),
                    d["MetricItem"][0]["MetricValue"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, sec).unwrap()
    }

    #[test]
    fn first_day_of_a_report_month() {
        // Midnight: the month has begun but nothing has been counted yet.
        let report = generate(1, 2026, 3, at(2026, 3, 1, 0, 0, 0)).unwrap();
        assert!(platform_days(&report).is_empty());
        assert_eq!(
            report["ReportPeriod"]["StartDate"],
            "2026-03-01T00:00:00.000Z"
        );
        assert_eq!(
            report["ReportPeriod"]["EndDate"],
            "2026-03-01T00:00:00.000Z"
        );
        let report = generate(1, 2026, 3, at(2026, 3, 1, 6, 0, 0)).unwrap();
        let days = platform_days(&report);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].0, "2026-03-01");
        // At that midnight the month before is complete.
        let feb = generate(1, 2026, 2, at(2026, 3, 1, 0, 0, 0)).unwrap();
        assert_eq!(platform_days(&feb).len(), 28);
    }

    #[test]
    fn last_day_of_a_report_month() {
        let now = at(2026, 12, 31, 23, 59, 59);
        let report = generate(1, 2026, 12, now).unwrap();
        let days = platform_days(&report);
        assert_eq!(days.len(), 31);
        assert_eq!(days[30].0, "2026-12-31");
        assert_eq!(
            report["ReportPeriod"]["EndDate"],
            "2026-12-31T23:59:59.000Z"
        );
        // Next second: January of the next year begins; December is complete.
        let later = now + ChronoDuration::seconds(1);
        let dec = generate(1, 2026, 12, later).unwrap();
        assert_eq!(dec["ReportPeriod"]["EndDate"], "2026-12-31T23:59:59.999Z");
        assert!(platform_days(&dec)[30].1 >= days[30].1);
        let jan = generate(1, 2027, 1, later).unwrap();
        assert!(platform_days(&jan).is_empty());
        assert_eq!(jan["ReportPeriod"]["StartDate"], "2027-01-01T00:00:00.000Z");
        // A future month has no days.
        assert!(platform_days(&generate(1, 2027, 2, later).unwrap()).is_empty());
    }

    #[test]
    fn leap_day_2028() {
        let report = generate(1, 2028, 2, at(2028, 2, 29, 12, 0, 0)).unwrap();
        let days = platform_days(&report);
        assert_eq!(days.len(), 29);
        assert_eq!(days[28].0, "2028-02-29");
        let complete = generate(1, 2028, 2, at(2028, 3, 1, 0, 0, 0)).unwrap();
        assert_eq!(platform_days(&complete).len(), 29);
        assert_eq!(
            complete["ReportPeriod"]["EndDate"],
            "2028-02-29T23:59:59.999Z"
        );
        // Half of the leap day had passed; a past month's last day counts whole.
        let full = day_items(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(), 1, false)[0];
        assert_eq!(platform_days(&complete)[28].1, full);
        assert_eq!(days[28].1, full * 43_200 / 86_400);
        let no_leap = generate(1, 2029, 2, at(2029, 3, 1, 0, 0, 0)).unwrap();
        assert_eq!(platform_days(&no_leap).len(), 28);
    }

    #[test]
    fn a_platform_east_of_utc_starts_its_month_and_days_at_its_own_midnight() {
        let zone = FixedOffset::east_opt(2 * 3600).unwrap();
        // 22:10 UTC on 31 March is 00:10 on 1 April at +02:00: April has begun there.
        let now = at(2026, 3, 31, 22, 10, 0);
        let report = generate_in(1, 2026, 4, now, zone).unwrap();
        assert_eq!(
            report["ReportPeriod"]["StartDate"],
            "2026-04-01T00:00:00.000+02:00"
        );
        assert_eq!(
            report["ReportGeneratedTimestamp"],
            "2026-04-01T00:10:00.000+02:00"
        );
        let days = platform_days(&report);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].0, "2026-04-01");
        let full = day_items(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(), 1, false)[0];
        assert_eq!(
            days[0].1,
            full * 600 / 86_400,
            "ten minutes of the local day"
        );
        // The same instant in UTC is still 31 March.
        assert_eq!(platform_days(&generate(1, 2026, 3, now).unwrap()).len(), 31);
    }

    #[test]
    fn dst_change_day_has_24_hours() {
        // 2026-03-29: Europe's clocks go forward at 01:00 UTC. The report is UTC: at 23:00 UTC,
        // 23 of the day's 24 hours have passed.
        let report = generate(1, 2026, 3, at(2026, 3, 29, 23, 0, 0)).unwrap();
        let days = platform_days(&report);
        assert_eq!(days.len(), 29);
        let complete = generate(1, 2026, 3, at(2026, 4, 1, 0, 0, 0)).unwrap();
        let full = platform_days(&complete);
        assert_eq!(full.len(), 31);
        assert_eq!(days[28].1, full[28].1 * 82_800 / 86_400);
        assert_eq!(days[..28], full[..28]);
    }

    #[tokio::test]
    async fn the_default_report_month_follows_the_clock() {
        let sim = AkanaSim::start(State {
            data: Data::Generated { scale: 1 },
            clock: SimClock::at(2028, 2, 29, 12, 0, 0),
            ..State::default()
        })
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let login = client
            .post(format!("{}/api/login", sim.url()))
            .json(&json!({"email": "monitor@acmepaymentscorp.com", "password": "s3cret-Pa55"}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        let cookie = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .find(|c| c.starts_with("AtmoAuthToken_acmepaymentscorp="))
            .unwrap();
        let report = |query: &'static str| {
            let (client, cookie, url) = (client.clone(), cookie.clone(), sim.url());
            async move {
                let r = client
                    .get(format!(
                        "{url}/platform/subscriptions/acmepaymentscorp/metrics{query}"
                    ))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()
            }
        };
        let feb = report("?IncludePerDayUsage=true").await;
        assert_eq!(feb["ReportPeriod"]["StartDate"], "2028-02-01T00:00:00.000Z");
        assert_eq!(feb["ReportGeneratedTimestamp"], "2028-02-29T12:00:00.000Z");
        assert_eq!(platform_days(&feb).len(), 29);
        // The token carries the platform's clock.
        assert!(cookie.contains(&format!(
            "issueTime%3D{}",
            at(2028, 2, 29, 12, 0, 0).timestamp_millis()
        )));
        sim.clock().advance(ChronoDuration::hours(12));
        let mar = report("?IncludePerDayUsage=true").await;
        assert_eq!(mar["ReportPeriod"]["StartDate"], "2028-03-01T00:00:00.000Z");
        assert!(platform_days(&mar).is_empty());
        let feb = report("?IncludePerDayUsage=true&ReportYear=2028&ReportMonth=2").await;
        assert_eq!(feb["ReportPeriod"]["EndDate"], "2028-02-29T23:59:59.999Z");
        sim.set_clock(None);
        assert!(!sim.clock().is_fixed());
    }
}
