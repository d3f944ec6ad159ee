//! Requests and the login session: cookie login, CSRF header, token renewal, one re-login on 401,
//! and a long back-off after a rejected login.
//!
//! The session cookie (`AtmoAuthToken_{fedmemberid}`) is a bearer credential: it is kept only in
//! memory and never logged or put into an error message.

use super::config::Settings;
use super::model::{decode_login, LoginAnswer};
use crate::base::{ErrorReason, PollError};
use crate::config::Secret;
use crate::upstream::{Response, Upstream};
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Media type the metrics call asks for.
pub const METRICS_ACCEPT: &str = "application/vnd.soa.v80+json";

/// Name prefix of the platform's login token cookie.
const TOKEN_COOKIE: &str = "AtmoAuthToken";

/// Name prefix of the platform's CSRF cookie.
const CSRF_COOKIE: &str = "Csrf-Token";

/// A logged-in session.
#[derive(Clone)]
struct Session {
    /// Every cookie the platform set (token, CSRF, load-balancer stickiness, ...).
    cookies: Vec<(String, String)>,
    /// Name of the token cookie, e.g. `AtmoAuthToken_acmepaymentscorp`.
    token_name: String,
    /// Tenant id from the cookie name (`None` for a plain `AtmoAuthToken`).
    fedmemberid: Option<String>,
    /// When the token was issued or last renewed.
    since: Instant,
    /// How long it is valid from `since`.
    lifetime: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token_name", &self.token_name)
            .field("cookies", &self.cookies.len())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `X-Csrf-Token_{fedmemberid}` and its value, when the platform set a CSRF cookie.
    fn csrf_header(&self) -> Option<(String, String)> {
        let (cookie, header) = match &self.fedmemberid {
            Some(id) => (
                format!("{CSRF_COOKIE}_{id}"),
                format!("X-{CSRF_COOKIE}_{id}"),
            ),
            None => (CSRF_COOKIE.to_string(), format!("X-{CSRF_COOKIE}")),
        };
        self.cookie(&cookie).map(|v| (header, v.to_string()))
    }

    /// Adds the session's cookies and CSRF header to a request.
    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = request.header(COOKIE, self.cookie_header());
        if let Some((name, value)) = self.csrf_header() {
            request = request.header(name, value);
        }
        request
    }

    fn merge_cookies(&mut self, response: &Response) {
        for (name, value) in set_cookies(response) {
            self.cookies.retain(|(n, _)| *n != name);
            if let Some(value) = value {
                self.cookies.push((name, value));
            }
        }
    }
}

/// The cookies of a response's `Set-Cookie` headers; `None` values are deletions
/// (`Max-Age=0` or an empty value).
fn set_cookies(response: &Response) -> Vec<(String, Option<String>)> {
    response
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_set_cookie)
        .collect()
}

/// Parses one `Set-Cookie` header value into (name, value or `None` for a deletion).
pub fn parse_set_cookie(header: &str) -> Option<(String, Option<String>)> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let value = value.trim();
    let deleted = value.is_empty()
        || value == "\"\""
        || parts.any(|attr| {
            let attr = attr.trim().to_ascii_lowercase();
            attr.strip_prefix("max-age=")
                .and_then(|n| n.trim().parse::<i64>().ok())
                .is_some_and(|n| n <= 0)
        });
    Some((name.to_string(), (!deleted).then(|| value.to_string())))
}

/// The lifetime written into a token value (`...issueTime=<ms>,expirationTime=<ms>...`,
/// percent-encoded), if present.
pub fn token_lifetime_from_value(value: &str) -> Option<Duration> {
    let decoded: String = url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    let field = |key: &str| {
        decoded
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    };
    let issued = field("issueTime")?;
    let expires = field("expirationTime")?;
    (expires > issued).then(|| Duration::from_millis(expires - issued))
}

/// The metrics answer, or why a protected call was refused in a way a new login may fix.
enum Fetch {
    Data(Response),
    Unauthorized(String),
}

struct State {
    session: Option<Session>,
    /// The last rejected login and its error, to refuse new attempts during the back-off.
    rejected: Option<(Instant, PollError)>,
}

/// The client of one Akana target.
pub struct Client {
    upstream: Upstream,
    email: String,
    password: Secret,
    fedmemberid: Option<String>,
    subscription: String,
    token_lifetime: Duration,
    login_backoff: Duration,
    login_url: url::Url,
    renew_url: url::Url,
    metrics_url: url::Url,
    metrics_path: String,
    metric_ids: Vec<String>,
    state: Mutex<State>,
}

fn join(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments
            .iter()
            .flat_map(|s| s.split('/'))
            .filter(|s| !s.is_empty())
        {
            path.push(s);
        }
    }
    url
}

impl Client {
    /// A client for a validated target.
    pub fn new(settings: &Settings, upstream: Upstream) -> Client {
        let base = &settings.url;
        let metrics_url = join(
            base,
            &[&settings.path_prefix, &settings.subscription_id, "metrics"],
        );
        Client {
            upstream,
            email: settings.email.clone(),
            password: settings.password.clone(),
            fedmemberid: settings.fedmemberid.clone(),
            token_lifetime: settings.token_lifetime,
            login_backoff: settings.login_backoff,
            login_url: join(base, &["api", "login"]),
            renew_url: join(base, &["api", "login", "renewToken"]),
            metrics_path: metrics_url.path().to_string(),
            metrics_url,
            subscription: settings.subscription_id.clone(),
            metric_ids: settings.metric_ids.clone(),
            state: Mutex::new(State {
                session: None,
                rejected: None,
            }),
        }
    }

    /// What the metrics call is, for error contexts: `GET {path}`.
    pub fn metrics_what(&self) -> String {
        format!("GET {}", self.metrics_path)
    }

    /// Reads the current month's usage report (the JSON body, not yet decoded), logging in or
    /// renewing the token as needed.
    pub async fn fetch_report(&self) -> Result<Response, PollError> {
        let mut state = self.state.lock().await;
        let fresh = self.ensure_session(&mut state).await?;
        let session = state.session.clone().expect("ensure_session logs in");
        match self.get_metrics(&session).await? {
            Fetch::Data(report) => Ok(report),
            // Refused with a token from this very poll: another login would not help.
            Fetch::Unauthorized(why) if fresh => {
                state.session = None;
                Err(PollError::auth(self.refused_after_login(&session, &why)))
            }
            Fetch::Unauthorized(why) => {
                tracing::debug!(target = self.upstream.target(), why = %why, "akana session refused; logging in again");
                state.session = None;
                self.login(&mut state).await?;
                let session = state.session.clone().expect("login sets a session");
                match self.get_metrics(&session).await? {
                    Fetch::Data(report) => Ok(report),
                    Fetch::Unauthorized(why) => {
                        state.session = None;
                        Err(PollError::auth(self.refused_after_login(&session, &why)))
                    }
                }
            }
        }
    }

    fn refused_after_login(&self, session: &Session, why: &str) -> String {
        let csrf = if session.csrf_header().is_some() {
            "the CSRF header was sent".to_string()
        } else {
            format!(
                "the login set no {CSRF_COOKIE} cookie, so no X-{CSRF_COOKIE} header could be sent — if the site requires CSRF headers for GET, check fedmemberid"
            )
        };
        format!(
            "GET {} answered {why} right after a fresh login: check that {} may read the metrics of subscription {:?} and path_prefix ({csrf})",
            self.metrics_path, self.email, self.subscription
        )
    }

    /// Makes sure a usable session exists: logs in when there is none or the token has run
    /// out, renews it once half of its lifetime has passed. True when it logged in.
    async fn ensure_session(&self, state: &mut State) -> Result<bool, PollError> {
        let Some(session) = &state.session else {
            return self.login(state).await.map(|()| true);
        };
        let age = session.since.elapsed();
        // A token this close to its end may expire while the request travels: start over.
        let margin = (session.lifetime / 10).min(Duration::from_secs(30));
        if age + margin >= session.lifetime {
            tracing::debug!(
                target = self.upstream.target(),
                "akana token expired; logging in again"
            );
            state.session = None;
            return self.login(state).await.map(|()| true);
        }
        if age >= session.lifetime / 2 {
            let session = session.clone();
            match self.renew(&session).await {
                Ok(Some(renewed)) => state.session = Some(renewed),
                Ok(None) => {
                    state.session = None;
                    return self.login(state).await.map(|()| true);
                }
                // Not fatal: the token is still valid; try again on the next poll.
                Err(e) => {
                    tracing::debug!(target = self.upstream.target(), error = %e, "akana token renewal failed; keeping the current token")
                }
            }
        }
        Ok(false)
    }

    /// `POST /api/login/renewToken`: `Some(session)` renewed, `None` when the platform refused
    /// (expired token: log in again).
    async fn renew(&self, session: &Session) -> Result<Option<Session>, PollError> {
        let request = session.authorize(
            self.upstream
                .client()
                .post(self.renew_url.clone())
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(""),
        );
        let response = self
            .upstream
            .send(request, "POST /api/login/renewToken")
            .await?;
        if matches!(
            response.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Ok(None);
        }
        let response = response
            .error_for_status()
            .map_err(|e| e.context("POST /api/login/renewToken"))?;
        let mut renewed = session.clone();
        renewed.merge_cookies(&response);
        let Some(token) = renewed.cookie(&renewed.token_name) else {
            return Ok(None);
        };
        if Some(token) == session.cookie(&session.token_name) {
            // No new token: nothing was extended; the old one keeps its end.
            return Err(PollError::new(
                ErrorReason::UpstreamError,
                "renewal answered without a new token cookie",
            ));
        }
        renewed.lifetime = self.lifetime_of(token);
        renewed.since = Instant::now();
        tracing::debug!(target = self.upstream.target(), lifetime = ?renewed.lifetime, "akana token renewed");
        Ok(Some(renewed))
    }

    fn lifetime_of(&self, token_value: &str) -> Duration {
        token_lifetime_from_value(token_value)
            .map(|l| l.min(self.token_lifetime))
            .unwrap_or(self.token_lifetime)
    }

    /// Records a rejected login: the error carries the back-off, and no new attempt is made
    /// before it has passed.
    fn reject(&self, state: &mut State, message: String) -> PollError {
        let error = PollError::auth(format!(
            "{message}; next login attempt in {}",
            crate::base::duration::format_duration(self.login_backoff)
        ))
        .retry_after(self.login_backoff);
        state.rejected = Some((Instant::now(), error.clone()));
        state.session = None;
        error
    }

    /// `POST /api/login` with e-mail and password.
    async fn login(&self, state: &mut State) -> Result<(), PollError> {
        if let Some((at, error)) = &state.rejected {
            let waited = at.elapsed();
            if waited < self.login_backoff {
                return Err(error.clone().retry_after(self.login_backoff - waited));
            }
        }
        let request = self
            .upstream
            .client()
            .post(self.login_url.clone())
            .header(ACCEPT, "application/json")
            .json(&serde_json::json!({
                "email": self.email,
                "password": self.password.expose(),
            }));
        let response = self.upstream.send(request, "POST /api/login").await?;
        if matches!(
            response.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            let excerpt = response.excerpt(200);
            return Err(self.reject(
                state,
                format!(
                    "POST /api/login rejected the credentials of {} (HTTP {}{}{}): check email and password (or password_file)",
                    self.email,
                    response.status,
                    if excerpt.is_empty() { "" } else { ": " },
                    excerpt
                ),
            ));
        }
        let response = response
            .error_for_status()
            .map_err(|e| e.context("POST /api/login"))?;
        if response.is_html() {
            return Err(self.reject(
                state,
                "POST /api/login answered an HTML page instead of JSON: check that url points at the platform (not a portal page or an SSO proxy)".into(),
            ));
        }
        let answer: LoginAnswer = decode_login(&response.body);
        if !answer.pending_tasks.is_empty() {
            return Err(self.reject(
                state,
                format!(
                    "POST /api/login for {} reports pending tasks ({}): log in to the developer portal once as this user and complete them (password change, legal agreement, challenge questions, 2FA) — the exporter cannot",
                    self.email,
                    answer.pending_tasks.join(", ")
                ),
            ));
        }
        let cookies: Vec<(String, String)> = set_cookies(&response)
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v)))
            .collect();
        let token = self.pick_token(&cookies, &answer);
        let (token_name, fedmemberid) = match token {
            Ok(t) => t,
            Err(message) => return Err(self.reject(state, message)),
        };
        let lifetime = self.lifetime_of(
            cookies
                .iter()
                .find(|(n, _)| *n == token_name)
                .map(|(_, v)| v.as_str())
                .unwrap_or(""),
        );
        tracing::debug!(target = self.upstream.target(), fedmemberid = ?fedmemberid, lifetime = ?lifetime, "logged in to akana");
        state.session = Some(Session {
            cookies,
            token_name,
            fedmemberid,
            since: Instant::now(),
            lifetime,
        });
        state.rejected = None;
        Ok(())
    }

    /// Finds the token cookie: `AtmoAuthToken_{fedmemberid}` for the configured id, else the one
    /// the platform set (learning the id from its name).
    fn pick_token(
        &self,
        cookies: &[(String, String)],
        answer: &LoginAnswer,
    ) -> Result<(String, Option<String>), String> {
        let tokens: Vec<&str> = cookies
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| *n == TOKEN_COOKIE || n.starts_with(&format!("{TOKEN_COOKIE}_")))
            .collect();
        let id_of = |name: &str| {
            name.strip_prefix(&format!("{TOKEN_COOKIE}_"))
                .map(str::to_string)
        };
        if let Some(id) = &self.fedmemberid {
            let wanted = format!("{TOKEN_COOKIE}_{id}");
            if tokens.contains(&wanted.as_str()) {
                return Ok((wanted, Some(id.clone())));
            }
            if let Some(other) = tokens.first() {
                return Err(format!(
                    "POST /api/login set cookie {other}, not {wanted}: set fedmemberid to {:?} or remove it to learn it from the login",
                    id_of(other).unwrap_or_default()
                ));
            }
        } else if let Some(name) = tokens.first() {
            return Ok((name.to_string(), id_of(name)));
        }
        if answer.login_status == Some(false) {
            return Err(format!(
                "POST /api/login answered loginStatus false for {}: check the account in the developer portal",
                self.email
            ));
        }
        Err(format!(
            "POST /api/login answered HTTP 200 but set no {TOKEN_COOKIE} cookie: platforms before 8.0 return the token in the body, which this exporter does not support; check url"
        ))
    }

    /// `GET {prefix}/{SubscriptionID}/metrics` with per-day usage and item lists.
    async fn get_metrics(&self, session: &Session) -> Result<Fetch, PollError> {
        let mut query: Vec<(&str, &str)> = vec![
            ("IncludePerDayUsage", "true"),
            ("IncludeMetricItemList", "true"),
        ];
        for id in &self.metric_ids {
            query.push(("MetricID", id.as_str()));
        }
        let request = session.authorize(
            self.upstream
                .client()
                .get(self.metrics_url.clone())
                .query(&query)
                .header(ACCEPT, METRICS_ACCEPT),
        );
        let what = self.metrics_what();
        let response = self.upstream.send(request, &what).await?;
        if response.status == StatusCode::UNAUTHORIZED {
            return Ok(Fetch::Unauthorized(format!(
                "HTTP 401 ({})",
                response.excerpt(120)
            )));
        }
        if response.status == StatusCode::FORBIDDEN {
            return Err(PollError::new(
                ErrorReason::Auth,
                format!(
                    "{what}: HTTP 403 Forbidden ({}): {} lacks the permission to read the metrics of subscription {:?}",
                    response.excerpt(120),
                    self.email,
                    self.subscription
                ),
            ));
        }
        if response.status == StatusCode::NOT_FOUND {
            return Err(response.status_error().context(format!(
                "{what} (check subscription_id {:?} and path_prefix; some installations serve it under /api{})",
                self.subscription, "/platform/subscriptions"
            )));
        }
        let response = response.error_for_status().map_err(|e| e.context(&what))?;
        if response.is_html() {
            return Ok(Fetch::Unauthorized(
                "an HTML page (a login page?) instead of JSON".into(),
            ));
        }
        Ok(Fetch::Data(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_parsing() {
        assert_eq!(
            parse_set_cookie("AtmoAuthToken_acme=TokenID%3Dabc%2Cx; Path=/; HttpOnly; Secure"),
            Some((
                "AtmoAuthToken_acme".into(),
                Some("TokenID%3Dabc%2Cx".into())
            ))
        );
        assert_eq!(
            parse_set_cookie("Csrf-Token_acme=a=b; Path=/"),
            Some(("Csrf-Token_acme".into(), Some("a=b".into())))
        );
        assert_eq!(
            parse_set_cookie("AtmoAuthToken_acme=x; Max-Age=0; Path=/"),
            Some(("AtmoAuthToken_acme".into(), None))
        );
        assert_eq!(
            parse_set_cookie("AtmoAuthToken_acme=; Path=/"),
            Some(("AtmoAuthToken_acme".into(), None))
        );
        assert_eq!(parse_set_cookie("garbage"), None);
        assert_eq!(parse_set_cookie("=x"), None);
    }

    #[test]
    fn lifetime_from_the_token_value() {
        let value = "TokenID%3D588ed75a%2Cclaimed_id%3Durn%3Aatmosphere%3Auser%2CissueTime%3D1613688594281%2CexpirationTime%3D1613690454263%2CUserName%3D1115%2Csig%3DEqI";
        assert_eq!(
            token_lifetime_from_value(value),
            Some(Duration::from_millis(1613690454263 - 1613688594281))
        );
        assert_eq!(token_lifetime_from_value("opaque"), None);
        assert_eq!(
            token_lifetime_from_value("issueTime%3D5%2CexpirationTime%3D4"),
            None
        );
    }

    fn session(cookies: &[(&str, &str)], fedmemberid: Option<&str>) -> Session {
        Session {
            cookies: cookies
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            token_name: "AtmoAuthToken_acme".into(),
            fedmemberid: fedmemberid.map(str::to_string),
            since: Instant::now(),
            lifetime: Duration::from_secs(60),
        }
    }

    #[test]
    fn csrf_header_follows_the_cookie() {
        let s = session(
            &[("AtmoAuthToken_acme", "t"), ("Csrf-Token_acme", "c%3D1")],
            Some("acme"),
        );
        assert_eq!(
            s.csrf_header(),
            Some(("X-Csrf-Token_acme".into(), "c%3D1".into()))
        );
        assert_eq!(
            s.cookie_header(),
            "AtmoAuthToken_acme=t; Csrf-Token_acme=c%3D1"
        );
        let s = session(&[("AtmoAuthToken_acme", "t")], Some("acme"));
        assert_eq!(s.csrf_header(), None);
        let s = session(&[("AtmoAuthToken", "t"), ("Csrf-Token", "c")], None);
        assert_eq!(s.csrf_header(), Some(("X-Csrf-Token".into(), "c".into())));
        assert!(
            !format!("{s:?}").contains("=t"),
            "Debug never shows cookie values"
        );
    }

    #[test]
    fn urls_keep_a_base_path() {
        let base = url::Url::parse("https://akana.example.com/portal/").unwrap();
        assert_eq!(
            join(&base, &["/platform/subscriptions", "acme", "metrics"]).as_str(),
            "https://akana.example.com/portal/platform/subscriptions/acme/metrics"
        );
        let base = url::Url::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(
            join(&base, &["api", "login"]).as_str(),
            "http://127.0.0.1:9/api/login"
        );
    }
}
