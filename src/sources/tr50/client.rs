//! TR50 transport and session handling.
//!
//! Every call is one `POST {url}` with the TR50 envelope. With a session id the envelope is
//! `{"auth": {"sessionId": ...}, "1": command}`; without one, the login and the command travel
//! together (`{"auth": {"command": "api.authenticate", ...}, "1": command}`), so a fresh login
//! costs no extra request. On an auth-looking failure with a reused session id the session is
//! dropped and the login is done once more, batched with the same command; if that fails too,
//! the poll fails. A rejected login blocks further logins of this target (every endpoint) for
//! [`login_backoff`], well clear of the platform's lock-out (8 failed logins in 30 minutes).
//!
//! The back-off is kept in a state slot (wall-clock times from the poll's injected clock), so a
//! restart with a state directory, or a crash loop, waits out the same block instead of logging
//! in again at once.

use super::config::Credentials;
use super::model::{CommandReply, Envelope};
use crate::base::{ErrorReason, PollError};
use crate::state::StateSlot;
use crate::upstream::Upstream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use url::Url;

/// The error code of a login refused because the user has multi-factor authentication.
pub const MFA_REQUIRED: i64 = -90041;

/// Wait after the first rejected login; doubles with every further rejection.
pub const LOGIN_BACKOFF_BASE: Duration = Duration::from_secs(300);

/// Largest wait between rejected logins (also the wait when the account is reported locked).
pub const LOGIN_BACKOFF_MAX: Duration = Duration::from_secs(1800);

/// Wait after an MFA refusal: it needs a config change, so retry rarely.
pub const MFA_BACKOFF: Duration = Duration::from_secs(3600);

/// Time to wait before the next login after `rejections` consecutive rejected logins:
/// 5 min, 10 min, 20 min, then 30 min. This exporter thus makes at most 3 failed logins in any
/// 30-minute window (at 0, 5 and 15 minutes), leaving room for a person's typos before the
/// platform's limit of 8.
pub fn login_backoff(rejections: u32) -> Duration {
    let factor = 1u32 << rejections.saturating_sub(1).min(8);
    LOGIN_BACKOFF_BASE
        .saturating_mul(factor)
        .min(LOGIN_BACKOFF_MAX)
}

impl Credentials {
    fn params(&self) -> Value {
        match self {
            Credentials::User { username, password } => {
                json!({"username": username, "password": password.expose()})
            }
            Credentials::App {
                app_id,
                app_token,
                thing_key,
            } => json!({"appId": app_id, "appToken": app_token.expose(), "thingKey": thing_key}),
        }
    }

    fn who(&self) -> String {
        match self {
            Credentials::User { username, .. } => format!("user {username:?}"),
            Credentials::App {
                app_id, thing_key, ..
            } => format!("application {app_id:?} (thing {thing_key:?})"),
        }
    }
}

#[derive(Default)]
struct SessionState {
    /// The current session id (never persisted).
    id: Option<String>,
    /// Logins are not attempted before this time (wall clock).
    blocked_until: Option<SystemTime>,
    /// Why logins are blocked (the error shown while blocked).
    blocked: Option<PollError>,
    /// Consecutive rejected logins.
    rejections: u32,
}

/// The login back-off as the state slot keeps it: counts, times and the vendor's refusal text,
/// never a credential or a session id.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedBackoff {
    rejections: u32,
    /// Unix seconds.
    blocked_until: Option<f64>,
    /// `auth`, `timeout` or `unsupported`.
    reason: Option<String>,
    message: Option<String>,
}

impl SessionState {
    fn restored(saved: SavedBackoff) -> Self {
        let reason = match saved.reason.as_deref() {
            Some("unsupported") => ErrorReason::Unsupported,
            Some("timeout") => ErrorReason::Timeout,
            _ => ErrorReason::Auth,
        };
        SessionState {
            id: None,
            blocked_until: saved
                .blocked_until
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| UNIX_EPOCH + Duration::from_secs_f64(t)),
            blocked: saved.message.map(|m| PollError::new(reason, m)),
            rejections: saved.rejections,
        }
    }

    fn saved(&self) -> SavedBackoff {
        SavedBackoff {
            rejections: self.rejections,
            blocked_until: self
                .blocked_until
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
            reason: self.blocked.as_ref().map(|e| e.reason.as_str().to_string()),
            message: self.blocked.as_ref().map(|e| e.message.clone()),
        }
    }
}

/// A TR50 API client with its session; shared by the endpoints of one target.
pub struct Client {
    upstream: Upstream,
    url: Url,
    credentials: Credentials,
    session: Mutex<SessionState>,
    /// Where the login back-off survives reloads and restarts.
    backoff: StateSlot,
}

/// Why a call with a reused session failed.
enum Failure {
    /// Looks like an invalid or expired session: log in again.
    Auth(PollError),
    /// Anything else: give up for this poll.
    Other(PollError),
}

impl Client {
    /// A client for `url` (the full API URL, e.g. `https://api.devicewise.com/api`), resuming
    /// the login back-off kept in `backoff`.
    pub fn new(upstream: Upstream, url: Url, credentials: Credentials, backoff: StateSlot) -> Self {
        // Restored at start-up only: a reload that rebuilds the target (its credentials may have
        // been corrected) logs in afresh.
        let session = backoff
            .load_at_start::<SavedBackoff>()
            .map(SessionState::restored)
            .unwrap_or_default();
        Client {
            upstream,
            url,
            credentials,
            session: Mutex::new(session),
            backoff,
        }
    }

    /// The state slot name of the login back-off of `credentials` at `url` for target `target`
    /// (the user or application name, never a secret).
    pub fn backoff_slot_name(target: &str, url: &Url, credentials: &Credentials) -> String {
        format!("tr50/{target}/login/{url}/{}", credentials.who())
    }

    /// Runs one command at `now` (the poll's wall-clock time) and returns its `params` (`Null`
    /// when the reply has none).
    pub async fn call(
        &self,
        command: &str,
        params: Value,
        now: SystemTime,
    ) -> Result<Value, PollError> {
        let current = self.session.lock().await.id.clone();
        if let Some(id) = current {
            match self.call_with_session(&id, command, &params).await {
                Ok(v) => return Ok(v),
                Err(Failure::Other(e)) => return Err(e),
                Err(Failure::Auth(e)) => {
                    tracing::debug!(target = self.upstream.target(), command, error = %e.message, "TR50 session rejected; logging in again");
                    let mut state = self.session.lock().await;
                    if state.id.as_deref() == Some(id.as_str()) {
                        state.id = None;
                    }
                }
            }
        }
        self.login_and_call(command, &params, now).await
    }

    /// Logs in (once) and runs the command in the same request, unless another endpoint
    /// logged in meanwhile, whose session is then used.
    async fn login_and_call(
        &self,
        command: &str,
        params: &Value,
        now: SystemTime,
    ) -> Result<Value, PollError> {
        let mut state = self.session.lock().await;
        if let Some(id) = state.id.clone() {
            drop(state);
            return self
                .call_with_session(&id, command, params)
                .await
                .map_err(|f| match f {
                    Failure::Auth(e) | Failure::Other(e) => e,
                });
        }
        if let (Some(until), Some(error)) = (state.blocked_until, &state.blocked) {
            let left = until.duration_since(now).unwrap_or_default();
            if !left.is_zero() {
                let mut e = error.clone();
                e.message = format!(
                    "{} (no login attempt for another {}s)",
                    e.message,
                    left.as_secs()
                );
                return Err(e.retry_after(left));
            }
        }
        let body = json!({
            "auth": {"command": "api.authenticate", "params": self.credentials.params()},
            "1": {"command": command, "params": params},
        });
        let what = format!("POST api.authenticate + {command}");
        let response = match self.upstream.send(self.request(&body), &what).await {
            Ok(r) => r,
            Err(e) if e.reason == ErrorReason::Timeout => {
                // The platform may have received (and failed) the login: wait as after a
                // rejection, without counting it as one.
                let mut e = e.context(format!("logging in to TR50 at {}", self.url));
                e.message.push_str(&format!(
                    "; the login may have reached TR50, so to stay clear of the account lock-out the next login waits {}s",
                    LOGIN_BACKOFF_BASE.as_secs()
                ));
                state.blocked_until = Some(now + LOGIN_BACKOFF_BASE);
                state.blocked = Some(e.clone());
                self.backoff.save(&state.saved());
                return Err(e.retry_after(LOGIN_BACKOFF_BASE));
            }
            Err(e) => return Err(e.context(format!("logging in to TR50 at {}", self.url))),
        };
        let map = match self.decode(&response, &what) {
            Ok(map) => map,
            Err(e) if e.reason == ErrorReason::Auth => {
                return Err(self.login_rejected(&mut state, &e.message, &[], now));
            }
            Err(e) => return Err(e),
        };
        let replies = match Envelope::from_map(&map) {
            Envelope::TopLevelFailure(f) => {
                return Err(self.login_rejected(&mut state, &f.describe(), &f.error_codes, now));
            }
            Envelope::Replies(r) => r,
        };
        match replies.get("auth") {
            Some(auth) if !auth.ok() => {
                return Err(self.login_rejected(
                    &mut state,
                    &auth.describe(),
                    &auth.error_codes,
                    now,
                ));
            }
            Some(auth) => {
                if state.rejections > 0 || state.blocked_until.is_some() {
                    state.rejections = 0;
                    state.blocked = None;
                    state.blocked_until = None;
                    self.backoff.save(&state.saved());
                }
                state.id = session_id(auth);
                if state.id.is_none() {
                    tracing::warn!(
                        target = self.upstream.target(),
                        "TR50 login succeeded without a sessionId in the reply; logging in again next time"
                    );
                }
            }
            None => {
                tracing::warn!(
                    target = self.upstream.target(),
                    "TR50 reply has no auth result; logging in again next time"
                );
            }
        }
        drop(state);
        command_result(command, replies.get("1"))
    }

    /// Records a rejected login, blocks further logins for a while and returns the error.
    fn login_rejected(
        &self,
        state: &mut SessionState,
        vendor: &str,
        codes: &[i64],
        now: SystemTime,
    ) -> PollError {
        state.id = None;
        let lower = vendor.to_ascii_lowercase();
        let (wait, error) = if codes.contains(&MFA_REQUIRED) {
            let e = PollError::new(
                ErrorReason::Unsupported,
                format!(
                    "TR50 refused the login of {} because the account uses multi-factor authentication, \
                     which an API login cannot complete ({vendor}); use a user without MFA or an \
                     application login (app_id, app_token, thing_key)",
                    self.credentials.who()
                ),
            );
            (MFA_BACKOFF, e)
        } else if lower.contains("lock") {
            let e = PollError::auth(format!(
                "TR50 reports the account of {} as locked ({vendor}); the platform locks an account \
                 for 30 minutes after 8 failed logins in 30 minutes; not logging in for {}s",
                self.credentials.who(),
                LOGIN_BACKOFF_MAX.as_secs()
            ));
            (LOGIN_BACKOFF_MAX, e)
        } else {
            state.rejections = state.rejections.saturating_add(1);
            let wait = login_backoff(state.rejections);
            let e = PollError::auth(format!(
                "TR50 rejected the login of {} ({vendor}); check the credentials; to stay clear of the \
                 platform lock-out (8 failed logins in 30 minutes) the next login waits {}s \
                 (rejected {} time(s) in a row)",
                self.credentials.who(),
                wait.as_secs(),
                state.rejections
            ));
            (wait, e)
        };
        state.blocked_until = Some(now + wait);
        state.blocked = Some(error.clone());
        self.backoff.save(&state.saved());
        error.retry_after(wait)
    }

    /// Runs a command with an existing session id.
    async fn call_with_session(
        &self,
        id: &str,
        command: &str,
        params: &Value,
    ) -> Result<Value, Failure> {
        let body = json!({
            "auth": {"sessionId": id},
            "1": {"command": command, "params": params},
        });
        let what = format!("POST {command}");
        let response = self
            .upstream
            .send(self.request(&body), &what)
            .await
            .map_err(Failure::Other)?;
        let map = match self.decode(&response, &what) {
            Ok(map) => map,
            Err(e) if e.reason == ErrorReason::Auth => return Err(Failure::Auth(e)),
            Err(e) => return Err(Failure::Other(e)),
        };
        let replies = match Envelope::from_map(&map) {
            Envelope::TopLevelFailure(f) => {
                let e = PollError::new(
                    ErrorReason::UpstreamError,
                    format!("{command}: TR50 rejected the request: {}", f.describe()),
                );
                return Err(if looks_like_auth(&f) {
                    Failure::Auth(PollError {
                        reason: ErrorReason::Auth,
                        ..e
                    })
                } else {
                    Failure::Other(classify(e, &f))
                });
            }
            Envelope::Replies(r) => r,
        };
        if let Some(auth) = replies.get("auth").filter(|a| !a.ok()) {
            return Err(Failure::Auth(PollError::auth(format!(
                "{command}: TR50 rejected the session: {}",
                auth.describe()
            ))));
        }
        match command_result(command, replies.get("1")) {
            Ok(v) => Ok(v),
            Err(e) if e.reason == ErrorReason::Auth => Err(Failure::Auth(e)),
            Err(e) => Err(Failure::Other(e)),
        }
    }

    fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        self.upstream
            .client()
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body.to_string())
    }

    /// HTTP status, HTML and JSON checks; the reply as a JSON object.
    fn decode(
        &self,
        response: &crate::upstream::Response,
        what: &str,
    ) -> Result<Map<String, Value>, PollError> {
        if !response.status.is_success() {
            return Err(response.status_error().context(what));
        }
        if response.is_html() {
            return Err(PollError::decode(format!(
                "{what}: got an HTML page instead of a TR50 JSON reply; check that url points at the \
                 TR50 API endpoint (usually ending in /api)"
            )));
        }
        match response.json::<Value>().map_err(|e| e.context(what))? {
            Value::Object(map) => Ok(map),
            other => Err(PollError::decode(format!(
                "{what}: expected a JSON object as TR50 reply, got {}",
                kind_of(&other)
            ))),
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The session id of a successful auth reply (`params.sessionId`).
fn session_id(auth: &CommandReply) -> Option<String> {
    let params = auth.params.as_ref()?;
    ["sessionId", "sessionid", "session_id"]
        .iter()
        .find_map(|k| params.get(*k))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// True for failures that look like a missing, invalid or expired session. TR50 documents no
/// "session expired" code, so the texts decide (besides the codes seen on real platforms).
pub fn looks_like_auth(reply: &CommandReply) -> bool {
    if reply.error_codes.contains(&MFA_REQUIRED) {
        return false;
    }
    const CODES: &[i64] = &[-90008];
    const WORDS: &[&str] = &[
        "authenticat",
        "session",
        "login",
        "log in",
        "credential",
        "not logged",
        "expired",
    ];
    reply.error_codes.iter().any(|c| CODES.contains(c))
        || reply.error_messages.iter().any(|m| {
            let m = m.to_ascii_lowercase();
            WORDS.iter().any(|w| m.contains(w))
        })
}

/// Refines an upstream error by the vendor's codes and texts.
fn classify(mut error: PollError, reply: &CommandReply) -> PollError {
    let text = reply.error_messages.join(" ").to_ascii_lowercase();
    if reply.error_codes.contains(&MFA_REQUIRED) {
        error.reason = ErrorReason::Unsupported;
    } else if text.contains("rate limit") || text.contains("too many") || text.contains("throttl") {
        error.reason = ErrorReason::RateLimited;
        error = error.retry_after(Duration::from_secs(60));
    } else if text.contains("unknown command")
        || text.contains("invalid command")
        || text.contains("command not found")
        || text.contains("not supported")
    {
        error.reason = ErrorReason::Unsupported;
        error
            .message
            .push_str("; this platform version does not offer the command, disable the endpoint");
    } else if text.contains("permission") || text.contains("not allowed") || text.contains("denied")
    {
        error
            .message
            .push_str("; check the role and permissions of the login");
    }
    error
}

/// The `params` of a command reply, or the classified error.
fn command_result(command: &str, reply: Option<&CommandReply>) -> Result<Value, PollError> {
    let Some(reply) = reply else {
        return Err(PollError::decode(format!(
            "{command}: the TR50 reply has no result for the command"
        )));
    };
    if reply.ok() {
        return Ok(reply.params.clone().unwrap_or(Value::Null));
    }
    let message = format!("{command} failed: {}", reply.describe());
    if looks_like_auth(reply) {
        return Err(PollError::auth(message));
    }
    Err(classify(
        PollError::new(ErrorReason::UpstreamError, message),
        reply,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn reply(codes: &[i64], messages: &[&str]) -> CommandReply {
        CommandReply {
            success: Some(false),
            params: None,
            error_codes: codes.to_vec(),
            error_messages: messages.iter().map(|s| s.to_string()).collect(),
        }
    }

    use std::sync::Arc;
    use usage_exporter_sim::tr50::{SimState, Tr50Sim};

    fn client(sim: &Tr50Sim, password: &str) -> Client {
        client_with_timeout(sim, password, Duration::from_secs(5))
    }

    fn client_with_timeout(sim: &Tr50Sim, password: &str, timeout: Duration) -> Client {
        let upstream = Upstream::build(
            "tr50",
            Arc::from("t"),
            &Default::default(),
            timeout,
            1 << 20,
            Default::default(),
        )
        .unwrap();
        Client::new(
            upstream,
            Url::parse(&sim.url()).unwrap(),
            Credentials::User {
                username: "monitor@example.com".into(),
                password: Secret::new(password),
            },
            StateSlot::detached("tr50/t/login"),
        )
    }

    /// The poll time of the calls.
    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn history() -> Value {
        json!({"last": "2h"})
    }

    #[tokio::test]
    async fn concurrent_first_calls_log_in_once_with_the_login_batched() {
        let sim = Tr50Sim::start(SimState::new()).await.unwrap();
        let c = Arc::new(client(&sim, "secret-pw"));
        let calls: Vec<_> = (0..5)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.call("usage.api.history", history(), t0()).await })
            })
            .collect();
        for call in calls {
            let params = call.await.unwrap().unwrap();
            assert!(params.get("ts").is_some(), "{params}");
        }
        let n = sim.counters();
        assert_eq!(n.logins, 1);
        // The login travelled with the first command: five calls, five requests.
        assert_eq!(n.requests, 5);
    }

    #[tokio::test]
    async fn expired_session_costs_one_extra_request_and_one_login() {
        let sim = Tr50Sim::start(SimState::new()).await.unwrap();
        let c = client(&sim, "secret-pw");
        c.call("usage.api.history", history(), t0()).await.unwrap();
        sim.state().expire_sessions();
        c.call("usage.api.history", history(), t0()).await.unwrap();
        let n = sim.counters();
        assert_eq!((n.requests, n.logins, n.session_rejections), (3, 2, 1));
        // A session that keeps failing after the re-login fails the call, without a loop.
        sim.state()
            .inject
            .push_back(usage_exporter_sim::tr50::Injected::PerCommand(
                -90008,
                "Session is invalid".into(),
            ));
        sim.state()
            .inject
            .push_back(usage_exporter_sim::tr50::Injected::TopLevel(
                -90008,
                "Session is invalid".into(),
            ));
        let e = c
            .call("usage.api.history", history(), t0())
            .await
            .unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth, "{e}");
        // Two requests: the reused session, then one login attempt (answered at the top level,
        // which counts as a rejected login, so further logins wait).
        let n = sim.counters();
        assert_eq!(n.requests, 5);
        assert_eq!(e.retry_after, Some(LOGIN_BACKOFF_BASE));
    }

    #[tokio::test]
    async fn rejected_logins_block_all_callers_and_back_off_longer_each_time() {
        let sim = Tr50Sim::start(SimState::new()).await.unwrap();
        let c = client(&sim, "wrong");
        let e = c
            .call("usage.api.history", history(), t0())
            .await
            .unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth);
        assert_eq!(e.retry_after, Some(Duration::from_secs(300)));
        assert!(e.message.contains("-90002: Authentication failed"), "{e}");
        assert!(e.message.contains("waits 300s"), "{e}");
        assert!(!e.message.contains("wrong\""), "{e}");
        // Blocked: no request reaches the platform.
        let e = c
            .call("usage.thing.history", history(), t0())
            .await
            .unwrap_err();
        assert!(e.message.contains("no login attempt for another"), "{e}");
        assert!(e.retry_after.unwrap() <= Duration::from_secs(300));
        assert_eq!(sim.counters().login_attempts, 1);
        // When the block has passed, the next rejection waits twice as long.
        let later = t0() + Duration::from_secs(300);
        let e = c
            .call("usage.api.history", history(), later)
            .await
            .unwrap_err();
        assert_eq!(e.retry_after, Some(Duration::from_secs(600)));
        assert!(e.message.contains("rejected 2 time(s) in a row"), "{e}");
        assert_eq!(sim.counters().login_attempts, 2);
        assert!(!sim.state().is_locked("monitor@example.com"));
    }

    #[tokio::test]
    async fn the_back_off_survives_a_restart_through_the_state_slot() {
        let sim = Tr50Sim::start(SimState::new()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let restarted = |at: SystemTime| {
            let mut c = client(&sim, "wrong");
            c.backoff = crate::state::StateStore::in_dir(dir.path()).slot("tr50/t/login");
            c.session = Mutex::new(
                c.backoff
                    .load_at_start::<SavedBackoff>()
                    .map(SessionState::restored)
                    .unwrap_or_default(),
            );
            (c, at)
        };
        // Ten restarts, 20 s apart: the first one's rejection blocks the next nine.
        let mut results = Vec::new();
        for minute in 0..10 {
            let (c, at) = restarted(t0() + Duration::from_secs(20 * minute));
            results.push(
                c.call("usage.api.history", history(), at)
                    .await
                    .unwrap_err(),
            );
        }
        assert_eq!(sim.counters().login_attempts, 1);
        assert!(
            results[9]
                .message
                .contains("no login attempt for another 120s"),
            "{}",
            results[9]
        );
        assert!(
            results[9].message.contains("check the credentials"),
            "{}",
            results[9]
        );
        assert_eq!(results[9].reason, ErrorReason::Auth);
        // After the block the next attempt is made and waits twice as long, across restarts too.
        let (c, at) = restarted(t0() + Duration::from_secs(300));
        let e = c
            .call("usage.api.history", history(), at)
            .await
            .unwrap_err();
        assert_eq!(e.retry_after, Some(Duration::from_secs(600)), "{e}");
        assert_eq!(sim.counters().login_attempts, 2);
        // A successful login clears the saved back-off.
        sim.state().users[0].password = "wrong".into();
        let (c, at) = restarted(t0() + Duration::from_secs(900));
        c.call("usage.api.history", history(), at).await.unwrap();
        let (c, _) = restarted(t0() + Duration::from_secs(901));
        assert_eq!(c.session.lock().await.rejections, 0);
        assert_eq!(c.session.lock().await.blocked_until, None);
        // No credential in the state.
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            assert!(!text.contains("\"wrong\""), "{text}");
            assert!(!text.to_lowercase().contains("session"), "{text}");
        }
    }

    #[tokio::test]
    async fn unanswered_login_blocks_logins_too() {
        let sim = Tr50Sim::start(SimState::new()).await.unwrap();
        sim.faults.set(usage_exporter_sim::Fault::Hang);
        let c = client_with_timeout(&sim, "secret-pw", Duration::from_millis(300));
        let e = c
            .call("usage.api.history", history(), t0())
            .await
            .unwrap_err();
        assert_eq!(e.reason, ErrorReason::Timeout, "{e}");
        assert_eq!(e.retry_after, Some(LOGIN_BACKOFF_BASE));
        sim.faults.set(usage_exporter_sim::Fault::None);
        let e = c
            .call("usage.api.history", history(), t0())
            .await
            .unwrap_err();
        assert!(e.message.contains("no login attempt for another"), "{e}");
        assert_eq!(sim.counters().requests, 1);
    }

    #[tokio::test]
    async fn top_level_login_rejection_and_mfa() {
        let mut state = SimState::new();
        state.error_shape = usage_exporter_sim::tr50::ErrorShape::TopLevel;
        state.users[0].mfa = true;
        let sim = Tr50Sim::start(state).await.unwrap();
        let e = client(&sim, "secret-pw")
            .call("usage.api.history", history(), t0())
            .await
            .unwrap_err();
        assert_eq!(e.reason, ErrorReason::Unsupported);
        assert!(e.message.contains("multi-factor"), "{e}");
        assert_eq!(e.retry_after, Some(MFA_BACKOFF));
        let e = client(&sim, "bad")
            .call("usage.api.history", history(), t0())
            .await
            .unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth);
        assert!(e.message.contains("waits 300s"), "{e}");
    }

    #[test]
    fn backoff_never_allows_eight_failures_in_thirty_minutes() {
        assert_eq!(login_backoff(1), Duration::from_secs(300));
        assert_eq!(login_backoff(2), Duration::from_secs(600));
        assert_eq!(login_backoff(3), Duration::from_secs(1200));
        assert_eq!(login_backoff(4), Duration::from_secs(1800));
        assert_eq!(login_backoff(100), Duration::from_secs(1800));
        // Simulate rejections back to back and count the worst 30-minute window.
        let mut t = 0u64;
        let mut times = Vec::new();
        for n in 1..=50 {
            times.push(t);
            t += login_backoff(n).as_secs();
        }
        let worst = times
            .iter()
            .map(|start| {
                times
                    .iter()
                    .filter(|x| **x >= *start && **x < start + 1800)
                    .count()
            })
            .max()
            .unwrap();
        assert!(worst <= 3, "{worst} failed logins in 30 minutes");
    }

    #[test]
    fn auth_looking_failures() {
        assert!(looks_like_auth(&reply(&[-90008], &[])));
        assert!(looks_like_auth(&reply(&[-1], &["Session has expired"])));
        assert!(looks_like_auth(&reply(&[], &["Not authenticated"])));
        assert!(!looks_like_auth(&reply(
            &[-22],
            &["Invalid parameter: last"]
        )));
        assert!(!looks_like_auth(&reply(
            &[MFA_REQUIRED],
            &["MFA login required"]
        )));
    }

    #[test]
    fn command_errors_are_classified() {
        let ok = CommandReply {
            success: Some(true),
            params: Some(json!({"x": 1})),
            ..Default::default()
        };
        assert_eq!(command_result("c", Some(&ok)).unwrap(), json!({"x": 1}));
        let e = command_result("c", None).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Decode);
        let e = command_result("c", Some(&reply(&[-22], &["Invalid parameter"]))).unwrap_err();
        assert_eq!(e.reason, ErrorReason::UpstreamError);
        assert_eq!(e.message, "c failed: -22: Invalid parameter");
        let e = command_result("c", Some(&reply(&[-1], &["Unknown command: c"]))).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Unsupported);
        let e = command_result("c", Some(&reply(&[-3], &["Rate limit exceeded"]))).unwrap_err();
        assert_eq!(e.reason, ErrorReason::RateLimited);
        let e = command_result("c", Some(&reply(&[-9], &["Session invalid"]))).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth);
    }
}
