//! HTTP access to CONNECT data services: OAuth2 client-credentials tokens (cached, refreshed
//! before expiry, renewed once on 401), bearer requests, and the vendor's error bodies turned
//! into messages an operator can act on. Tokens and the client secret never reach a message.

use super::config::ClientCredentials;
use super::model::ErrorBody;
use crate::base::{lenient, ErrorReason, PollError};
use crate::upstream::{Response, Upstream};
use reqwest::header::ACCEPT;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::time::Instant;

/// Path of the token endpoint below the base URL.
pub const TOKEN_PATH: &str = "/identity/connect/token";

/// Lifetime assumed when the token response has no usable `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Longest lifetime believed from `expires_in`: a day (CONNECT tokens live an hour). Larger
/// values would overflow `Instant` arithmetic.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// A token is renewed when less than this is left …
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// … or less than this share of its life, whichever margin is smaller (so short-lived tokens of
/// 60 s are not renewed on every request).
const REFRESH_SHARE: f64 = 0.2;

/// After the identity server rejected the credentials, no new token is requested for this long
/// (every endpoint reports the rejection meanwhile): a wrong secret must not hammer the server.
pub const CREDENTIALS_BACKOFF: Duration = Duration::from_secs(300);

struct Token {
    value: String,
    refresh_at: Instant,
    generation: u64,
}

#[derive(Default)]
struct AuthState {
    token: Option<Token>,
    generation: u64,
    rejected: Option<(Instant, PollError)>,
}

/// A target's API client.
pub struct Client {
    upstream: Upstream,
    base: String,
    credentials: ClientCredentials,
    auth: tokio::sync::Mutex<AuthState>,
}

impl Client {
    /// A client for `base` (the region URL, without the `/api/v1` part).
    pub fn new(upstream: Upstream, base: &url::Url, credentials: ClientCredentials) -> Self {
        Client {
            upstream,
            base: base.as_str().trim_end_matches('/').to_string(),
            credentials,
            auth: tokio::sync::Mutex::new(AuthState::default()),
        }
    }

    /// The target's name (for logs).
    pub fn target(&self) -> &str {
        self.upstream.target()
    }

    /// A valid token and its generation: the cached one while it is fresh, otherwise a new one.
    /// Concurrent endpoints wait for one token request instead of sending their own.
    async fn token(&self) -> Result<(String, u64), PollError> {
        let mut state = self.auth.lock().await;
        let now = Instant::now();
        if let Some((until, error)) = &state.rejected {
            if now < *until {
                return Err(error.clone().retry_after(*until - now));
            }
            state.rejected = None;
        }
        if let Some(token) = &state.token {
            if now < token.refresh_at {
                return Ok((token.value.clone(), token.generation));
            }
        }
        state.token = None;
        match self.request_token().await {
            Ok((value, lifetime)) => {
                state.generation += 1;
                let margin = REFRESH_MARGIN.min(lifetime.mul_f64(REFRESH_SHARE));
                let token = Token {
                    value: value.clone(),
                    refresh_at: now + lifetime.saturating_sub(margin),
                    generation: state.generation,
                };
                state.token = Some(token);
                Ok((value, state.generation))
            }
            Err(error) => {
                if error.reason == ErrorReason::Auth {
                    let until = Instant::now() + CREDENTIALS_BACKOFF;
                    state.rejected = Some((until, error.clone()));
                    return Err(error.retry_after(CREDENTIALS_BACKOFF));
                }
                Err(error)
            }
        }
    }

    /// Drops the cached token if it is still the one of `generation` (a 401 proved it dead);
    /// a newer token fetched meanwhile by another endpoint is kept.
    async fn invalidate(&self, generation: u64) {
        let mut state = self.auth.lock().await;
        if state.token.as_ref().map(|t| t.generation) == Some(generation) {
            state.token = None;
        }
    }

    /// `POST {base}/identity/connect/token` with the client credentials.
    async fn request_token(&self) -> Result<(String, Duration), PollError> {
        let what = format!("POST {TOKEN_PATH}");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credentials.id.as_str()),
            ("client_secret", self.credentials.secret.expose()),
        ];
        let request = self
            .upstream
            .client()
            .post(format!("{}{TOKEN_PATH}", self.base))
            .header(ACCEPT, "application/json")
            .form(&form);
        let response = self.upstream.send(request, &what).await?;
        if !response.status.is_success() {
            return Err(self.token_error(&response).context(&what));
        }
        parse_token(&response.body).map_err(|e| e.context(&what))
    }

    /// The error for a failed token request: OAuth2 error codes (`invalid_client`, …) and the
    /// documented error body are named; credential rejections are `auth`.
    fn token_error(&self, response: &Response) -> PollError {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct OAuthError {
            #[serde(deserialize_with = "lenient::trimmed_text")]
            error: Option<String>,
            #[serde(deserialize_with = "lenient::trimmed_text")]
            error_description: Option<String>,
        }
        let base = response.status_error();
        // OAuth2 (RFC 6749 §5.2) spells these keys in snake case: no folding.
        let oauth: OAuthError = serde_json::from_slice(&response.body).unwrap_or_default();
        let code = response.status.as_u16();
        let credential_problem = matches!(code, 401 | 403)
            || (code == 400
                && matches!(
                    oauth.error.as_deref(),
                    Some(
                        "invalid_client"
                            | "unauthorized_client"
                            | "invalid_grant"
                            | "invalid_scope"
                            | "unsupported_grant_type"
                    )
                ));
        if credential_problem {
            let mut message = format!("identity server rejected client {:?}", self.credentials.id);
            match (&oauth.error, &oauth.error_description) {
                (Some(e), Some(d)) => message.push_str(&format!(" ({e}: {d})")),
                (Some(e), None) => message.push_str(&format!(" ({e})")),
                _ => message.push_str(&format!(" (HTTP {})", response.status)),
            }
            message.push_str(
                "; check client_id and client_secret (a client secret expires; create a new one in the CONNECT portal under Clients)",
            );
            message.push_str(&format!(
                "; no new token is requested for {} s",
                CREDENTIALS_BACKOFF.as_secs()
            ));
            return PollError::new(ErrorReason::Auth, message);
        }
        vendor_error(response, base)
    }

    /// `GET {base}{path}` with the bearer token, its JSON body read by `parse`. A 401 renews
    /// the token once and repeats the request.
    pub async fn get_parsed<T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        parse: impl FnOnce(&[u8]) -> Result<T, PollError>,
    ) -> Result<T, PollError> {
        let what = format!("GET {path}");
        let (token, generation) = self.token().await?;
        let mut response = self.get(path, query, &token, &what).await?;
        if response.status == StatusCode::UNAUTHORIZED {
            self.invalidate(generation).await;
            let (token, _) = self.token().await?;
            response = self.get(path, query, &token, &what).await?;
            if response.status == StatusCode::UNAUTHORIZED {
                let error = vendor_error(&response, response.status_error());
                return Err(PollError::new(
                    ErrorReason::Auth,
                    format!(
                        "{}; a freshly issued token was rejected too: check that client {:?} has a role with access to this tenant",
                        error.message, self.credentials.id
                    ),
                )
                .context(&what));
            }
        }
        if !response.status.is_success() {
            let mut error = vendor_error(&response, response.status_error());
            if response.status == StatusCode::FORBIDDEN {
                error.message.push_str(&format!(
                    "; client {:?} lacks permission: give it a role that may read usage (e.g. Account Administrator)",
                    self.credentials.id
                ));
            }
            return Err(error.context(&what));
        }
        if response.is_html() {
            return Err(PollError::decode(format!(
                "got an HTML page instead of JSON ({}); check that url is the data services base URL, e.g. https://uswe.datahub.connect.aveva.com",
                response.excerpt(80)
            ))
            .context(&what));
        }
        parse(&response.body).map_err(|e| e.context(&what))
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        token: &str,
        what: &str,
    ) -> Result<Response, PollError> {
        let request = self
            .upstream
            .client()
            .get(format!("{}{path}", self.base))
            .query(query)
            .header(ACCEPT, "application/json")
            .bearer_auth(token);
        self.upstream.send(request, what).await
    }
}

/// Decodes a token response without ever putting the token into an error message.
pub(super) fn parse_token(body: &[u8]) -> Result<(String, Duration), PollError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        PollError::decode(
            "the token response is not JSON; check that url is the data services base URL",
        )
    })?;
    let token = value
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| PollError::decode("the token response has no access_token"))?;
    // The lifetime only schedules the renewal: anything unreadable means the default.
    let lifetime =
        lenient::number_from(value.get("expires_in").unwrap_or(&serde_json::Value::Null))
            .ok()
            .flatten()
            .filter(|s| *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_TOKEN_LIFETIME.as_secs_f64())))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok((token.to_string(), lifetime))
}

/// Rewrites a status error with the vendor's `{OperationId, Error, Reason, Resolution}` body
/// and the `Operation-Id` header, keeping the reason class and the Retry-After hint.
pub fn vendor_error(response: &Response, base: PollError) -> PollError {
    let body = ErrorBody::from_body(&response.body);
    let operation_id = body.operation_id.clone().or_else(|| {
        response
            .headers
            .get("operation-id")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    });
    let mut message = if body.is_meaningful() {
        let mut parts = vec![format!("HTTP {}", response.status)];
        if let Some(e) = &body.error {
            parts.push(e.clone());
        }
        if let Some(r) = &body.reason {
            parts.push(format!("reason: {r}"));
        }
        if let Some(r) = &body.resolution {
            parts.push(format!("resolution: {r}"));
        }
        parts.join("; ")
    } else {
        base.message.clone()
    };
    if let Some(id) = operation_id {
        message.push_str(&format!(" (operation id {id})"));
    }
    if let Some(after) = base.retry_after {
        message.push_str(&format!("; retrying after {} s", after.as_secs()));
    }
    PollError { message, ..base }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::from_parts(status, headers, body)
    }

    #[test]
    fn vendor_error_body_becomes_a_readable_message() {
        let r = response(
            400,
            &[("operation-id", "header-id")],
            r#"{"OperationId":"5f2c","Error":"The request is not valid.","Reason":"Start date is after end date.","Resolution":"Correct the dates and try again."}"#,
        );
        let e = vendor_error(&r, r.status_error());
        assert_eq!(e.reason, ErrorReason::Http4xx);
        assert_eq!(
            e.message,
            "HTTP 400 Bad Request; The request is not valid.; reason: Start date is after end date.; resolution: Correct the dates and try again. (operation id 5f2c)"
        );
    }

    #[test]
    fn rate_limit_keeps_retry_after_and_uses_the_header_operation_id() {
        let r = response(
            429,
            &[("operation-id", "abc-123"), ("retry-after", "30")],
            r#"{"Error":"Too many requests.","Reason":null,"Resolution":"Retry later."}"#,
        );
        let e = vendor_error(&r, r.status_error());
        assert_eq!(e.reason, ErrorReason::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
        assert!(e.message.contains("Too many requests."), "{}", e.message);
        assert!(e.message.contains("operation id abc-123"), "{}", e.message);
        assert!(e.message.contains("retrying after 30 s"), "{}", e.message);
        let r = response(503, &[("retry-after", "5")], "busy");
        let e = vendor_error(&r, r.status_error());
        assert_eq!(e.reason, ErrorReason::RateLimited);
        assert!(e.message.starts_with("HTTP 503 Service Unavailable: busy"));
    }

    #[test]
    fn huge_token_lifetimes_are_capped() {
        // Found by tests/fuzz_props.rs: `expires_in: 1e308` panicked in Duration::from_secs_f64.
        for huge in ["1e308", "\"1.7e308\"", "9.3e18", "18446744073709551615"] {
            let body = format!(r#"{{"access_token":"t","expires_in":{huge}}}"#);
            let (_, life) = parse_token(body.as_bytes()).unwrap();
            assert_eq!(life, MAX_TOKEN_LIFETIME, "{huge}");
        }
    }

    #[test]
    fn token_parsing_never_shows_the_token() {
        let (t, life) = parse_token(
            br#"{"access_token":"eyJsecret","expires_in":"120","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(t, "eyJsecret");
        assert_eq!(life, Duration::from_secs(120));
        let (_, life) = parse_token(br#"{"access_token":"x"}"#).unwrap();
        assert_eq!(life, DEFAULT_TOKEN_LIFETIME);
        let e = parse_token(br#"{"access_token":42,"expires_in":"eyJsecret"}"#).unwrap_err();
        assert!(!e.message.contains("eyJ"), "{}", e.message);
        assert!(parse_token(b"<html>").is_err());
    }
}
