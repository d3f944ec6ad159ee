//! Simulator of the TR50 (Telit deviceWISE) API: `POST /api` with the TR50 envelope.
//!
//! - Auth: `api.authenticate` with username/password or appId/appToken/thingKey in the `auth`
//!   block (batched with commands or alone); sessions expire after `session_ttl` seconds of
//!   idleness on the simulator clock; 8 failed logins of one account within 30 minutes lock it for
//!   30 minutes; users flagged MFA get -90041.
//! - `usage.api.history` (per service, or per org with `dimension: org`, `includeSubOrgs`),
//!   `usage.thing.history`, `usage.connection.history` with `last` or `start`/`end` and `series`
//!   `hour`|`day`; buckets aligned to the server's time-zone offset, `ts` with that offset, the
//!   newest bucket filling as the clock runs.
//! - Reply shapes as the vendor's command pages document them: `usage.api.history` answers
//!   `counters` (name → array), a scalar `total` and `ts`; `usage.thing.history` answers parallel
//!   arrays `billable`, `connected`, `total` beside `ts`; `usage.connection.history` parallel
//!   arrays `hasRatePlan`, `activated`, `inSession`, `total` beside `ts` (one entry per bucket
//!   in every array).
//! - The clock is the state's [`SimClock`]: frozen by default (tests), real time in the demo;
//!   [`Tr50Sim::advance`] moves it, [`Tr50Sim::freeze_at`] stops it at an instant.
//! - Session failures come back per command or at the top level ([`ErrorShape`]); one-shot
//!   injected errors of either shape; the shared [`Faults`] modes; request/login counters.

use super::{serve, Faults, SimClock, SimHandler, SimRequest, SimResponse, SimServer};
use chrono::{FixedOffset, TimeZone};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

/// Error code for an invalid or expired session (the simulator's choice; TR50 documents none).
pub const SESSION_INVALID: i64 = -90008;
/// Error code for rejected credentials.
pub const LOGIN_FAILED: i64 = -90002;
/// Error code for a locked account.
pub const ACCOUNT_LOCKED: i64 = -90040;
/// Error code for a user with multi-factor authentication.
pub const MFA_REQUIRED: i64 = -90041;
/// Error code for a bad parameter.
pub const INVALID_PARAM: i64 = -22;
/// Error code for an unknown command.
pub const UNKNOWN_COMMAND: i64 = -90100;

/// Where session errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorShape {
    /// `{"1": {"success": false, "errorCodes": [...], ...}}` (and a failed `auth` entry for logins).
    #[default]
    PerCommand,
    /// `{"success": false, "errorCodes": [...], "errorMessages": [...]}` for the whole request.
    TopLevel,
}

/// A one-shot error for the next request that carries a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Injected {
    /// Every command of the request fails with this code and text.
    PerCommand(i64, String),
    /// The request fails as a whole with this code and text.
    TopLevel(i64, String),
}

/// A user account.
#[derive(Debug, Clone)]
pub struct SimUser {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Login needs a second factor (the API answers -90041).
    pub mfa: bool,
}

/// An application login.
#[derive(Debug, Clone)]
pub struct SimApp {
    /// Application id.
    pub app_id: String,
    /// Application token.
    pub app_token: String,
    /// Thing key.
    pub thing_key: String,
}

/// An organisation with its usage profile. `orgs[0]` is the one logins belong to; the others
/// are its sub-organisations.
#[derive(Debug, Clone)]
pub struct SimOrg {
    /// Org key (the `dimension: org` series name).
    pub key: String,
    /// Service name → generated API calls per hour (0 for none; explicit calls come on top).
    pub services: BTreeMap<String, f64>,
    /// Registered things (`usage.thing.history` `total`).
    pub things: u64,
    /// Connected things (`connected`).
    pub connected: u64,
    /// Billable things (`billable`).
    pub billable: u64,
    /// Connections (`usage.connection.history`).
    pub connections: SimConnections,
}

/// An organisation's connections as `usage.connection.history` counts them per bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimConnections {
    /// All connections (`total`).
    pub total: u64,
    /// Connections with a rate plan (`hasRatePlan`).
    pub has_rate_plan: u64,
    /// Activated connections (`activated`).
    pub activated: u64,
    /// Connections in a session (`inSession`); the simulator varies it per bucket between 80 %
    /// and 100 % of this, never above `activated`.
    pub in_session: u64,
}

/// Counters a test can assert on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimCounters {
    /// HTTP requests handled (faults included).
    pub requests: u64,
    /// `api.authenticate` attempts (locked and rejected included).
    pub login_attempts: u64,
    /// Rejected logins (wrong credentials, locked, MFA).
    pub login_failures: u64,
    /// Successful logins.
    pub logins: u64,
    /// Requests rejected because of an invalid or expired session.
    pub session_rejections: u64,
    /// Commands run, by name.
    pub commands: BTreeMap<String, u64>,
}

#[derive(Debug, Clone)]
struct Session {
    last_used: i64,
}

/// The simulator's state; tests change it through [`Tr50Sim::state`].
#[derive(Debug)]
pub struct SimState {
    /// The platform's clock (sessions, lock-outs, buckets, `ts`).
    pub clock: SimClock,
    /// Server time-zone offset in seconds east of UTC (bucket alignment and `ts`).
    pub tz_offset: i32,
    /// Idle seconds after which a session expires.
    pub session_ttl: i64,
    /// Failed logins of one account that lock it.
    pub lockout_failures: usize,
    /// Window in which failed logins count (s).
    pub lockout_window: i64,
    /// How long a lock lasts (s).
    pub lockout_duration: i64,
    /// User logins.
    pub users: Vec<SimUser>,
    /// Application logins.
    pub apps: Vec<SimApp>,
    /// Organisations (first: own; others: sub-orgs).
    pub orgs: Vec<SimOrg>,
    /// Shape of session and login errors.
    pub error_shape: ErrorShape,
    /// Commands answered as unknown (an older platform).
    pub unsupported: Vec<String>,
    /// One-shot errors for the next command requests.
    pub inject: VecDeque<Injected>,
    /// Answer every request with this JSON (HTTP 200) instead of the envelope (wrong-shape tests).
    pub reply_override: Option<Value>,
    /// Counters.
    pub counters: SimCounters,
    sessions: HashMap<String, Session>,
    failed_logins: HashMap<String, Vec<i64>>,
    locked_until: HashMap<String, i64>,
    /// Explicit API calls: (time, org, service, count).
    events: Vec<(i64, String, String, u64)>,
    next_session: u64,
}

impl SimState {
    /// A state with one user `monitor@example.com` / `secret-pw`, one app login, org `ACME` with
    /// no generated traffic, UTC, a frozen clock at 2024-03-10T10:20:00Z.
    pub fn new() -> Self {
        SimState {
            clock: SimClock::fixed_unix(1_710_066_000),
            tz_offset: 0,
            session_ttl: 86_400,
            lockout_failures: 8,
            lockout_window: 1800,
            lockout_duration: 1800,
            users: vec![SimUser {
                username: "monitor@example.com".into(),
                password: "secret-pw".into(),
                mfa: false,
            }],
            apps: vec![SimApp {
                app_id: "usage-app".into(),
                app_token: "app-token-1".into(),
                thing_key: "exporter".into(),
            }],
            orgs: vec![SimOrg {
                key: "ACME".into(),
                services: BTreeMap::new(),
                things: 0,
                connected: 0,
                billable: 0,
                connections: SimConnections::default(),
            }],
            error_shape: ErrorShape::PerCommand,
            unsupported: Vec::new(),
            inject: VecDeque::new(),
            reply_override: None,
            counters: SimCounters::default(),
            sessions: HashMap::new(),
            failed_logins: HashMap::new(),
            locked_until: HashMap::new(),
            events: Vec::new(),
            next_session: 0,
        }
    }

    /// The simulator clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// Records `n` API calls to `service` of org `org` at the current clock.
    pub fn add_calls(&mut self, org: &str, service: &str, n: u64) {
        let now = self.now();
        self.events.push((now, org.into(), service.into(), n));
    }

    /// Drops every session (as a platform restart would).
    pub fn expire_sessions(&mut self) {
        self.sessions.clear();
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        let now = self.now();
        self.sessions
            .values()
            .filter(|s| now - s.last_used <= self.session_ttl)
            .count()
    }

    /// True while the account (username or app id) is locked.
    pub fn is_locked(&self, account: &str) -> bool {
        self.locked_until
            .get(account)
            .is_some_and(|until| self.now() < *until)
    }

    /// Start of the bucket of `size` seconds containing `t`, aligned to the server's offset.
    pub fn bucket_start(&self, t: i64, size: i64) -> i64 {
        t - (t + self.tz_offset as i64).rem_euclid(size)
    }

    /// Calls of `service` in `org` during the hourly bucket starting at `start`, up to now.
    fn hour_calls(&self, org: &SimOrg, service: &str, start: i64, now: i64) -> u64 {
        if now < start {
            return 0;
        }
        let end = (start + 3600).min(now);
        let rate = org.services.get(service).copied().unwrap_or(0.0);
        let generated = if rate > 0.0 {
            let w = 0.75 + 0.5 * unit_hash(&format!("{}/{service}/{start}", org.key));
            (rate * w * (end - start) as f64 / 3600.0).floor() as u64
        } else {
            0
        };
        let explicit: u64 = self
            .events
            .iter()
            .filter(|(t, o, s, _)| {
                *t >= start && *t < start + 3600 && *t <= now && *o == org.key && s == service
            })
            .map(|(_, _, _, n)| n)
            .sum();
        generated + explicit
    }

    /// Connections of `org` in session during the bucket starting at `start`.
    fn in_session(&self, org: &SimOrg, start: i64) -> u64 {
        let c = org.connections;
        let w = 0.8 + 0.2 * unit_hash(&format!("session/{}/{start}", org.key));
        ((c.in_session as f64 * w).round() as u64).min(c.activated)
    }

    fn format_ts(&self, t: i64) -> String {
        let tz = FixedOffset::east_opt(self.tz_offset).unwrap_or(FixedOffset::east_opt(0).unwrap());
        tz.timestamp_opt(t, 0)
            .single()
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
            .unwrap_or_default()
    }

    /// The bucket starts and bucket size the params ask for.
    fn window(&self, params: &Value) -> Result<(Vec<i64>, i64), (i64, String)> {
        let size = match params
            .get("series")
            .and_then(Value::as_str)
            .unwrap_or("hour")
        {
            "hour" => 3600,
            "day" => 86_400,
            other => {
                return Err((
                    INVALID_PARAM,
                    format!("Invalid parameter: series {other:?} (hour or day)"),
                ))
            }
        };
        let now = self.now();
        let (first, last) = if let Some(last) = params.get("last") {
            let text = last.as_str().unwrap_or("");
            let secs = parse_period(text)
                .ok_or((INVALID_PARAM, format!("Invalid parameter: last {text:?}")))?;
            let cur = self.bucket_start(now, size);
            let n = ((secs + size - 1) / size).max(1);
            (cur - (n - 1) * size, cur)
        } else {
            let parse = |k: &str| {
                params
                    .get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.timestamp())
            };
            let start = parse("start").ok_or((
                INVALID_PARAM,
                "Invalid parameter: give last, or start and end".to_string(),
            ))?;
            let end = parse("end").unwrap_or(now).min(now);
            (self.bucket_start(start, size), self.bucket_start(end, size))
        };
        let buckets: Vec<i64> = (0..)
            .map(|i| first + i * size)
            .take_while(|b| *b <= last)
            .take(5000)
            .collect();
        Ok((buckets, size))
    }

    fn orgs_in_scope(&self, params: &Value) -> Vec<&SimOrg> {
        let subs = params
            .get("includeSubOrgs")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.orgs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || subs)
            .map(|(_, o)| o)
            .collect()
    }

    fn api_history(&self, params: &Value) -> Result<Value, (i64, String)> {
        Self::check_show_all(params)?;
        let (buckets, size) = self.window(params)?;
        let by_org = match params.get("dimension").and_then(Value::as_str) {
            None => false,
            Some("org") => true,
            Some(other) => {
                return Err((
                    INVALID_PARAM,
                    format!("Invalid parameter: dimension {other:?}"),
                ))
            }
        };
        let now = self.now();
        let mut counters: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for org in self.orgs_in_scope(params) {
            let mut services: Vec<&str> = org.services.keys().map(String::as_str).collect();
            for (_, o, s, _) in &self.events {
                if *o == org.key && !services.contains(&s.as_str()) {
                    services.push(s);
                }
            }
            if by_org {
                counters
                    .entry(org.key.clone())
                    .or_insert(vec![0; buckets.len()]);
            }
            for service in services {
                let key = if by_org { &org.key } else { service };
                let row = counters
                    .entry(key.to_string())
                    .or_insert(vec![0; buckets.len()]);
                for (i, b) in buckets.iter().enumerate() {
                    row[i] += (0..size / 3600)
                        .map(|h| self.hour_calls(org, service, b + h * 3600, now))
                        .sum::<u64>();
                }
            }
        }
        let total: u64 = counters.values().flatten().sum();
        let ts: Vec<String> = buckets.iter().map(|b| self.format_ts(*b)).collect();
        Ok(json!({"counters": counters, "total": total, "ts": ts}))
    }

    /// `showAll` needs Super-Ops, which the simulated logins never have.
    fn check_show_all(params: &Value) -> Result<(), (i64, String)> {
        if params.get("showAll").and_then(Value::as_bool) == Some(true) {
            return Err((
                -90003,
                "Permission denied: showAll requires Super-Ops".into(),
            ));
        }
        Ok(())
    }

    /// `usage.thing.history`: `billable`, `connected` and `total` things per bucket, parallel to
    /// `ts` (the levels of the orgs in scope; things are not history the simulator keeps, so
    /// every bucket has today's numbers).
    fn thing_history(&self, params: &Value) -> Result<Value, (i64, String)> {
        Self::check_show_all(params)?;
        let (buckets, _) = self.window(params)?;
        let orgs = self.orgs_in_scope(params);
        let level = |f: fn(&SimOrg) -> u64| -> Vec<u64> {
            vec![orgs.iter().map(|o| f(o)).sum(); buckets.len()]
        };
        let ts: Vec<String> = buckets.iter().map(|b| self.format_ts(*b)).collect();
        Ok(json!({
            "billable": level(|o| o.billable),
            "connected": level(|o| o.connected),
            "total": level(|o| o.things),
            "ts": ts,
        }))
    }

    /// `usage.connection.history`: `hasRatePlan`, `activated`, `inSession` and `total`
    /// connections per bucket, parallel to `ts`. The page documents `dimension: "org"` for it
    /// without showing that reply's shape, so the simulator refuses it rather than invent one.
    fn connection_history(&self, params: &Value) -> Result<Value, (i64, String)> {
        Self::check_show_all(params)?;
        if let Some(dimension) = params.get("dimension") {
            return Err((
                INVALID_PARAM,
                format!("Invalid parameter: dimension {dimension} (not simulated)"),
            ));
        }
        let (buckets, _) = self.window(params)?;
        let orgs = self.orgs_in_scope(params);
        let level = |f: fn(&SimOrg) -> u64| -> Vec<u64> {
            vec![orgs.iter().map(|o| f(o)).sum(); buckets.len()]
        };
        let in_session: Vec<u64> = buckets
            .iter()
            .map(|b| orgs.iter().map(|o| self.in_session(o, *b)).sum())
            .collect();
        let ts: Vec<String> = buckets.iter().map(|b| self.format_ts(*b)).collect();
        Ok(json!({
            "hasRatePlan": level(|o| o.connections.has_rate_plan),
            "activated": level(|o| o.connections.activated),
            "inSession": in_session,
            "total": level(|o| o.connections.total),
            "ts": ts,
        }))
    }

    /// Handles an `api.authenticate` block: the session id, or the error.
    fn authenticate(&mut self, params: &Value) -> Result<String, (i64, String)> {
        self.counters.login_attempts += 1;
        let now = self.now();
        let text = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (account, valid, mfa) = if params.get("username").is_some() {
            let (u, p) = (text("username"), text("password"));
            let user = self.users.iter().find(|x| x.username == u);
            (
                u,
                user.is_some_and(|x| x.password == p),
                user.is_some_and(|x| x.mfa),
            )
        } else {
            let (a, t, k) = (text("appId"), text("appToken"), text("thingKey"));
            let ok = self
                .apps
                .iter()
                .any(|x| x.app_id == a && x.app_token == t && x.thing_key == k);
            (a, ok, false)
        };
        if self.is_locked(&account) {
            self.counters.login_failures += 1;
            return Err((
                ACCOUNT_LOCKED,
                "Account is locked due to too many failed login attempts; try again later".into(),
            ));
        }
        if !valid {
            self.counters.login_failures += 1;
            let window = self.lockout_window;
            let failures = self.failed_logins.entry(account.clone()).or_default();
            failures.push(now);
            failures.retain(|t| now - t < window);
            if failures.len() >= self.lockout_failures {
                failures.clear();
                self.locked_until
                    .insert(account, now + self.lockout_duration);
            }
            return Err((
                LOGIN_FAILED,
                "Authentication failed: invalid credentials".into(),
            ));
        }
        if mfa {
            self.counters.login_failures += 1;
            return Err((
                MFA_REQUIRED,
                "Multi-factor authentication is enabled for this user".into(),
            ));
        }
        self.counters.logins += 1;
        self.next_session += 1;
        let id = format!(
            "{:016x}{:04x}",
            (unit_hash(&format!("{now}/{}", self.next_session)) * 1e15) as u64,
            self.next_session
        );
        self.sessions.insert(id.clone(), Session { last_used: now });
        Ok(id)
    }

    /// True (and refreshed) when the session is live.
    fn touch(&mut self, id: &str) -> bool {
        let now = self.now();
        let ttl = self.session_ttl;
        match self.sessions.get_mut(id) {
            Some(s) if now - s.last_used <= ttl => {
                s.last_used = now;
                true
            }
            Some(_) => {
                self.sessions.remove(id);
                false
            }
            None => false,
        }
    }

    /// What a command would answer now, without counting it (tests compare with it).
    pub fn query(&self, command: &str, params: &Value) -> Result<Value, (i64, String)> {
        match command {
            "usage.api.history" => self.api_history(params),
            "usage.thing.history" => self.thing_history(params),
            "usage.connection.history" => self.connection_history(params),
            other => Err((UNKNOWN_COMMAND, format!("Unknown command: {other}"))),
        }
    }

    fn run(&mut self, command: &str, params: &Value) -> Result<Value, (i64, String)> {
        *self
            .counters
            .commands
            .entry(command.to_string())
            .or_default() += 1;
        if self.unsupported.iter().any(|c| c == command) {
            return Err((UNKNOWN_COMMAND, format!("Unknown command: {command}")));
        }
        self.query(command, params)
    }

    /// Answers one envelope.
    fn envelope(&mut self, body: &Map<String, Value>, header_session: Option<&str>) -> Value {
        let commands: Vec<(&String, &Value)> =
            body.iter().filter(|(k, _)| k.as_str() != "auth").collect();
        if !commands.is_empty() {
            match self.inject.pop_front() {
                Some(Injected::TopLevel(code, text)) => return top_level(code, &text),
                Some(Injected::PerCommand(code, text)) => {
                    let mut out = Map::new();
                    for (id, _) in &commands {
                        out.insert(id.to_string(), failure(code, &text));
                    }
                    return Value::Object(out);
                }
                None => {}
            }
        }
        let mut out = Map::new();
        let auth = body.get("auth");
        let authenticated: Result<(), (i64, String)> = match auth {
            Some(a) if a.get("command").and_then(Value::as_str) == Some("api.authenticate") => {
                let params = a.get("params").cloned().unwrap_or(Value::Null);
                match self.authenticate(&params) {
                    Ok(id) => {
                        out.insert(
                            "auth".into(),
                            json!({"success": true, "params": {"sessionId": id, "orgKey": self.orgs[0].key}}),
                        );
                        Ok(())
                    }
                    Err((code, text)) => {
                        if self.error_shape == ErrorShape::TopLevel {
                            return top_level(code, &text);
                        }
                        out.insert("auth".into(), failure(code, &text));
                        Err((SESSION_INVALID, "Not authenticated".into()))
                    }
                }
            }
            Some(a) if a.get("sessionId").is_some() => {
                let id = a.get("sessionId").and_then(Value::as_str).unwrap_or("");
                if self.touch(id) {
                    Ok(())
                } else {
                    self.counters.session_rejections += 1;
                    Err((SESSION_INVALID, "Session is invalid or has expired".into()))
                }
            }
            Some(_) => return top_level(-1, "Invalid auth block"),
            None => match header_session {
                Some(id) if self.touch(id) => Ok(()),
                _ => {
                    self.counters.session_rejections += 1;
                    Err((SESSION_INVALID, "Not authenticated".into()))
                }
            },
        };
        if let Err((code, text)) = &authenticated {
            if *code == SESSION_INVALID && self.error_shape == ErrorShape::TopLevel {
                return top_level(*code, text);
            }
        }
        for (id, cmd) in commands {
            let reply = match &authenticated {
                Err((code, text)) => failure(*code, text),
                Ok(()) => {
                    let name = cmd.get("command").and_then(Value::as_str).unwrap_or("");
                    let params = cmd.get("params").cloned().unwrap_or(json!({}));
                    match self.run(name, &params) {
                        Ok(p) => json!({"success": true, "params": p}),
                        Err((code, text)) => failure(code, &text),
                    }
                }
            };
            out.insert(id.clone(), reply);
        }
        Value::Object(out)
    }
}

impl Default for SimState {
    fn default() -> Self {
        Self::new()
    }
}

fn failure(code: i64, text: &str) -> Value {
    json!({"success": false, "errorCodes": [code], "errorMessages": [text]})
}

fn top_level(code: i64, text: &str) -> Value {
    failure(code, text)
}

/// A TR50 period (`24h`, `90m`, `2d`, `3600s`) in seconds.
pub fn parse_period(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    (n > 0).then_some(n * mult)
}

/// A deterministic number in [0, 1) from a text.
fn unit_hash(text: &str) -> f64 {
    let h = crc32fast::hash(text.as_bytes());
    h as f64 / (u32::MAX as f64 + 1.0)
}

struct Handler {
    state: Arc<Mutex<SimState>>,
    faults: Arc<Faults>,
}

impl SimHandler for Handler {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        Box::pin(async move {
            self.state.lock().expect("tr50 sim lock").counters.requests += 1;
            self.faults.apply(|| async { self.answer(&request) }).await
        })
    }
}

impl Handler {
    fn answer(&self, request: &SimRequest) -> SimResponse {
        if !request.path.ends_with("/api") {
            return SimResponse::raw(404, "text/plain", "not found");
        }
        if request.method != hyper::Method::POST {
            return SimResponse::raw(405, "text/plain", "use POST");
        }
        let json_type = request
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
        if !json_type {
            return SimResponse::json(200, &top_level(-1, "Content-Type must be application/json"));
        }
        let Some(Value::Object(body)) = request.json() else {
            return SimResponse::json(200, &top_level(-1, "Invalid JSON request"));
        };
        let mut state = self.state.lock().expect("tr50 sim lock");
        if let Some(reply) = &state.reply_override {
            return SimResponse::json(200, reply);
        }
        let reply = state.envelope(&body, request.header("sessionid"));
        SimResponse::json(200, &reply)
    }
}

/// A running TR50 simulator with its control handles.
pub struct Tr50Sim {
    /// The server (stops when dropped).
    pub server: SimServer,
    /// Shared state.
    pub state: Arc<Mutex<SimState>>,
    /// Fault modes.
    pub faults: Arc<Faults>,
}

impl Tr50Sim {
    /// Starts a simulator with this state.
    pub async fn start(state: SimState) -> std::io::Result<Tr50Sim> {
        let state = Arc::new(Mutex::new(state));
        let faults = Arc::new(Faults::default());
        let server = serve(
            Arc::new(Handler {
                state: state.clone(),
                faults: faults.clone(),
            }),
            None,
        )
        .await?;
        Ok(Tr50Sim {
            server,
            state,
            faults,
        })
    }

    /// The API URL (`http://127.0.0.1:port/api`).
    pub fn url(&self) -> String {
        format!("{}/api", self.server.url())
    }

    /// Locks the state for inspection or changes.
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().expect("tr50 sim lock")
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.state().clock.advance_secs(secs);
    }

    /// Freezes the clock at `t` (Unix s).
    pub fn freeze_at(&self, t: i64) {
        self.state().clock.set(crate::clock::from_unix(t));
    }

    /// The platform's clock (shared: setting or advancing it moves the running simulator).
    pub fn clock(&self) -> SimClock {
        self.state().clock.clone()
    }

    /// The counters so far.
    pub fn counters(&self) -> SimCounters {
        self.state().counters.clone()
    }
}

/// Starts a demo simulator: real-time clock, server offset -05:00, an org with `scale`
/// sub-orgs and services whose calls fill the hourly buckets as time passes. Returns the
/// simulator and the YAML of one `sources.tr50` item for it.
pub async fn start_demo(scale: u32) -> std::io::Result<(Tr50Sim, String)> {
    let scale = scale.max(1);
    let mut state = SimState::new();
    state.clock = SimClock::real();
    state.tz_offset = -5 * 3600;
    state.users[0].password = "demo-tr50-password".into();
    let services = [
        ("thing", 900.0),
        ("property", 2400.0),
        ("alarm", 120.0),
        ("location", 300.0),
        ("method", 60.0),
        ("event", 450.0),
        ("session", 40.0),
    ];
    let org = |key: String, factor: f64| SimOrg {
        key,
        services: services
            .iter()
            .map(|(s, r)| (s.to_string(), r * factor))
            .collect(),
        things: (400.0 * factor) as u64,
        connected: (310.0 * factor) as u64,
        billable: (380.0 * factor) as u64,
        connections: SimConnections {
            total: (360.0 * factor) as u64,
            has_rate_plan: (340.0 * factor) as u64,
            activated: (320.0 * factor) as u64,
            in_session: (250.0 * factor) as u64,
        },
    };
    state.orgs = vec![org("ACME".into(), scale as f64)];
    for i in 1..=scale {
        state.orgs.push(org(format!("ACME_SUB{i}"), 0.25));
    }
    let sim = Tr50Sim::start(state).await?;
    let yaml = format!(
        "name: demo\nurl: {}\nusername: monitor@example.com\npassword: demo-tr50-password\ninclude_sub_orgs: true\nendpoints: {{api_history: 30s, thing_history: 1m, connection_history: 1m}}",
        sim.url()
    );
    Ok((sim, yaml))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(s: &mut SimState, user: &str, pw: &str) -> Value {
        let body = json!({
            "auth": {"command": "api.authenticate", "params": {"username": user, "password": pw}},
            "1": {"command": "usage.api.history", "params": {"last": "3h"}}
        });
        s.envelope(body.as_object().unwrap(), None)
    }

    #[test]
    fn eight_failed_logins_lock_the_account() {
        let mut s = SimState::new();
        for _ in 0..7 {
            let r = login(&mut s, "monitor@example.com", "wrong");
            assert_eq!(r["auth"]["errorCodes"][0], LOGIN_FAILED);
        }
        assert!(!s.is_locked("monitor@example.com"));
        login(&mut s, "monitor@example.com", "wrong");
        assert!(s.is_locked("monitor@example.com"));
        let r = login(&mut s, "monitor@example.com", "secret-pw");
        assert_eq!(r["auth"]["errorCodes"][0], ACCOUNT_LOCKED);
        assert_eq!(r["1"]["errorCodes"][0], SESSION_INVALID);
        s.clock.advance_secs(1800);
        let r = login(&mut s, "monitor@example.com", "secret-pw");
        assert_eq!(r["auth"]["success"], true);
        assert_eq!(s.counters.login_attempts, 10);
        assert_eq!(s.counters.logins, 1);
    }

    #[test]
    fn failures_spread_over_more_than_thirty_minutes_do_not_lock() {
        let mut s = SimState::new();
        for _ in 0..20 {
            login(&mut s, "monitor@example.com", "wrong");
            s.clock.advance_secs(300);
        }
        assert!(!s.is_locked("monitor@example.com"));
    }

    #[test]
    fn sessions_expire_when_idle_and_errors_take_both_shapes() {
        let mut s = SimState::new();
        let r = login(&mut s, "monitor@example.com", "secret-pw");
        let id = r["auth"]["params"]["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        let body = json!({"auth": {"sessionId": id}, "1": {"command": "usage.api.history", "params": {"last": "1h"}}});
        let r = s.envelope(body.as_object().unwrap(), None);
        assert_eq!(r["1"]["success"], true);
        s.clock.advance_secs(86_401);
        let r = s.envelope(body.as_object().unwrap(), None);
        assert_eq!(r["1"]["errorCodes"][0], SESSION_INVALID);
        s.error_shape = ErrorShape::TopLevel;
        let r = s.envelope(body.as_object().unwrap(), None);
        assert_eq!(r["success"], false);
        assert_eq!(r["errorCodes"][0], SESSION_INVALID);
        assert_eq!(s.counters.session_rejections, 2);
    }

    #[test]
    fn buckets_fill_with_the_clock_and_align_to_the_offset() {
        let mut s = SimState::new();
        s.tz_offset = 5 * 3600 + 1800;
        s.orgs.push(SimOrg {
            key: "SUB".into(),
            services: BTreeMap::new(),
            things: 0,
            connected: 0,
            billable: 0,
            connections: SimConnections::default(),
        });
        s.add_calls("ACME", "thing", 3);
        s.add_calls("SUB", "thing", 5);
        s.clock.advance_secs(3600);
        s.add_calls("ACME", "thing", 2);
        s.add_calls("ACME", "alarm", 1);
        let p = s.api_history(&json!({"last": "3h"})).unwrap();
        assert_eq!(p["counters"]["thing"], json!([0, 3, 2]));
        assert_eq!(p["counters"]["alarm"], json!([0, 0, 1]));
        assert_eq!(p["total"], 6);
        // 11:20Z is 16:50+05:30: the current bucket started at 16:00+05:30 (10:30Z).
        assert_eq!(p["ts"][2], "2024-03-10T16:00:00+05:30");
        let p = s
            .api_history(&json!({"last": "2h", "dimension": "org", "includeSubOrgs": true}))
            .unwrap();
        assert_eq!(p["counters"]["ACME"], json!([3, 3]));
        assert_eq!(p["counters"]["SUB"], json!([5, 0]));
        let e = s.api_history(&json!({"last": "2x"})).unwrap_err();
        assert_eq!(e.0, INVALID_PARAM);
    }

    #[test]
    fn generated_traffic_grows_monotonically_within_a_bucket() {
        let mut s = SimState::new();
        s.orgs[0].services.insert("thing".into(), 3600.0);
        let mut last = 0;
        for _ in 0..6 {
            let p = s.api_history(&json!({"last": "1h"})).unwrap();
            let v = p["counters"]["thing"][0].as_u64().unwrap();
            assert!(v >= last);
            last = v;
            s.clock.advance_secs(300);
        }
        assert!(last > 0);
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn thing_and_connection_history_answer_the_documented_parallel_arrays() {
        let mut s = SimState::new();
        s.tz_offset = -5 * 3600;
        let acme = &mut s.orgs[0];
        (acme.things, acme.connected, acme.billable) = (12, 9, 10);
        acme.connections = SimConnections {
            total: 20,
            has_rate_plan: 18,
            activated: 15,
            in_session: 10,
        };
        s.orgs.push(SimOrg {
            key: "SUB".into(),
            services: BTreeMap::new(),
            things: 3,
            connected: 1,
            billable: 2,
            connections: SimConnections {
                total: 5,
                has_rate_plan: 4,
                activated: 4,
                in_session: 4,
            },
        });
        // 10:20Z is 05:20-05:00: the newest hourly bucket began at 05:00-05:00.
        let p = s
            .query("usage.thing.history", &json!({"last": "3h"}))
            .unwrap();
        assert_eq!(keys(&p), ["billable", "connected", "total", "ts"]);
        assert_eq!(
            p["ts"],
            json!([
                "2024-03-10T03:00:00-05:00",
                "2024-03-10T04:00:00-05:00",
                "2024-03-10T05:00:00-05:00"
            ])
        );
        assert_eq!(p["total"], json!([12, 12, 12]));
        assert_eq!(p["connected"], json!([9, 9, 9]));
        assert_eq!(p["billable"], json!([10, 10, 10]));
        let p = s
            .query(
                "usage.thing.history",
                &json!({"last": "2d", "series": "day", "includeSubOrgs": true}),
            )
            .unwrap();
        assert_eq!(
            p["ts"],
            json!(["2024-03-09T00:00:00-05:00", "2024-03-10T00:00:00-05:00"])
        );
        assert_eq!(p["total"], json!([15, 15]));
        assert_eq!(p["connected"], json!([10, 10]));

        let p = s
            .query("usage.connection.history", &json!({"last": "24h"}))
            .unwrap();
        assert_eq!(
            keys(&p),
            ["activated", "hasRatePlan", "inSession", "total", "ts"]
        );
        for field in ["activated", "hasRatePlan", "inSession", "total"] {
            assert_eq!(p[field].as_array().unwrap().len(), 24, "{field}");
        }
        assert_eq!(p["total"][23], 20);
        assert_eq!(p["hasRatePlan"][0], 18);
        assert_eq!(p["activated"][12], 15);
        let sessions: Vec<u64> = p["inSession"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(
            sessions.iter().all(|n| (8..=10).contains(n)),
            "{sessions:?}"
        );
        assert!(sessions.windows(2).any(|w| w[0] != w[1]), "{sessions:?}");
        // Deterministic: the same question gets the same answer.
        assert_eq!(
            s.query("usage.connection.history", &json!({"last": "24h"}))
                .unwrap(),
            p
        );
        let p = s
            .query(
                "usage.connection.history",
                &json!({"last": "1h", "includeSubOrgs": true}),
            )
            .unwrap();
        assert_eq!(p["total"], json!([25]));
        // No reply shape is documented for `dimension: "org"`; `showAll` needs Super-Ops.
        let e = s
            .query(
                "usage.connection.history",
                &json!({"last": "1h", "dimension": "org"}),
            )
            .unwrap_err();
        assert_eq!(e.0, INVALID_PARAM);
        let e = s
            .query(
                "usage.thing.history",
                &json!({"last": "1h", "showAll": true}),
            )
            .unwrap_err();
        assert_eq!(e.0, -90003);
    }

    fn utc(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn day_series_cross_month_ends_and_the_2028_leap_day() {
        let mut s = SimState::new();
        s.tz_offset = -5 * 3600;
        s.clock.set(utc(2028, 3, 1, 12));
        s.add_calls("ACME", "thing", 7);
        let p = s
            .api_history(&json!({"start": "2028-02-27T00:00:00-05:00", "series": "day"}))
            .unwrap();
        assert_eq!(
            p["ts"],
            json!([
                "2028-02-27T00:00:00-05:00",
                "2028-02-28T00:00:00-05:00",
                "2028-02-29T00:00:00-05:00",
                "2028-03-01T00:00:00-05:00"
            ])
        );
        assert_eq!(p["counters"]["thing"], json!([0, 0, 0, 7]));
        // 29 February, first and last hour of the day in the server's zone.
        s.clock.set(utc(2028, 2, 29, 5));
        s.add_calls("ACME", "thing", 1);
        s.clock.set(utc(2028, 3, 1, 4));
        s.add_calls("ACME", "thing", 2);
        let p = s
            .api_history(&json!({"last": "2d", "series": "day"}))
            .unwrap();
        assert_eq!(
            p["ts"],
            json!(["2028-02-28T00:00:00-05:00", "2028-02-29T00:00:00-05:00"])
        );
        assert_eq!(p["counters"]["thing"], json!([0, 3]));
        // No 29 February in 2029: 28 February is followed by 1 March.
        s.clock.set(utc(2029, 3, 1, 12));
        let p = s
            .api_history(&json!({"last": "2d", "series": "day"}))
            .unwrap();
        assert_eq!(
            p["ts"],
            json!(["2029-02-28T00:00:00-05:00", "2029-03-01T00:00:00-05:00"])
        );
        // Month and year ends in hourly buckets.
        s.clock
            .set(utc(2027, 1, 1, 5) + chrono::Duration::minutes(30));
        let p = s.api_history(&json!({"last": "2h"})).unwrap();
        assert_eq!(
            p["ts"],
            json!(["2026-12-31T23:00:00-05:00", "2027-01-01T00:00:00-05:00"])
        );
    }

    #[test]
    fn dst_change_day_keeps_the_fixed_server_offset() {
        // 2026-03-08: the USA moves its clocks forward at 07:00 UTC. The platform aligns buckets
        // to a fixed offset, so the day has 24 hourly buckets 3,600 s apart, all at -05:00.
        let mut s = SimState::new();
        s.tz_offset = -5 * 3600;
        s.orgs[0].services.insert("thing".into(), 3600.0);
        s.clock
            .set(utc(2026, 3, 9, 4) + chrono::Duration::minutes(59));
        let p = s
            .api_history(
                &json!({"start": "2026-03-08T00:00:00-05:00", "end": "2026-03-08T23:59:59-05:00"}),
            )
            .unwrap();
        let ts: Vec<&str> = p["ts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(ts.len(), 24);
        assert_eq!(ts[0], "2026-03-08T00:00:00-05:00");
        assert_eq!(ts[23], "2026-03-08T23:00:00-05:00");
        assert!(ts.iter().all(|t| t.ends_with("-05:00")));
        let secs: Vec<i64> = ts
            .iter()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp())
            .collect();
        assert!(secs.windows(2).all(|w| w[1] - w[0] == 3600));
        let hours = p["counters"]["thing"].as_array().unwrap();
        assert!(hours.iter().all(|h| h.as_u64().unwrap() > 0), "{hours:?}");
        let day = s
            .api_history(&json!({"start": "2026-03-08T00:00:00-05:00", "end": "2026-03-08T23:59:59-05:00", "series": "day"}))
            .unwrap();
        assert_eq!(day["ts"], json!(["2026-03-08T00:00:00-05:00"]));
        let sum: u64 = hours.iter().map(|h| h.as_u64().unwrap()).sum();
        assert_eq!(day["counters"]["thing"], json!([sum]));
    }
}
