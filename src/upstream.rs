//! The shared upstream HTTP client: TLS options, timeouts, a body size cap, request counting
//! (`usage_exporter_upstream_requests_total`, because vendor calls cost money) and the mapping of
//! transport and HTTP failures onto the [`ErrorReason`] taxonomy.

use crate::base::{ErrorReason, PollError};
use crate::config::UpstreamTls;
use bytes::{Bytes, BytesMut};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the time of one poll went: waiting for the upstream and decoding its answers. The
/// scheduler scopes a [`PhaseTimes`] around each poll; [`Upstream::send`] and [`decode_json`] add
/// to it, so sources get the split (shown on the landing page and in the benchmarks) for free.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PhaseTimes {
    /// Sum of the durations of upstream requests (sending until the whole body arrived).
    pub fetch: Duration,
    /// Sum of the durations of JSON decoding.
    pub decode: Duration,
}

tokio::task_local! {
    static PHASES: std::cell::Cell<PhaseTimes>;
    static CALLS: Arc<AtomicU64>;
}

/// Counts one upstream call in the current [`count_calls`] scope, as [`Upstream::send`] does
/// (scheduler tests use it for targets without HTTP).
#[cfg(test)]
pub(crate) fn count_test_call() {
    let _ = CALLS.try_with(|calls| calls.fetch_add(1, Ordering::Relaxed));
}

/// Runs `poll` while counting its upstream requests into `calls`: every request
/// [`Upstream::send`] counts in `usage_exporter_upstream_requests_total` also adds one here. The
/// counter lives outside the poll, so a poll abandoned by a timeout still reports what it sent
/// (the scheduler's call budget measures calls per poll with it).
pub async fn count_calls<F: std::future::Future>(calls: Arc<AtomicU64>, poll: F) -> F::Output {
    CALLS.scope(calls, poll).await
}

/// Runs `poll` while collecting its [`PhaseTimes`].
pub async fn measure_phases<F: std::future::Future>(poll: F) -> (F::Output, PhaseTimes) {
    PHASES
        .scope(std::cell::Cell::new(PhaseTimes::default()), async move {
            let output = poll.await;
            (output, PHASES.with(|p| p.get()))
        })
        .await
}

fn add_phase(update: impl FnOnce(&mut PhaseTimes)) {
    let _ = PHASES.try_with(|cell| {
        let mut times = cell.get();
        update(&mut times);
        cell.set(times);
    });
}

/// Labels of `usage_exporter_upstream_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Source kind.
    pub source: String,
    /// Target name.
    pub target: String,
    /// HTTP status, or the failure class (`timeout`, `connect`, `tls`) when there was none.
    pub status_code: String,
}

/// Counter of every upstream HTTP call, logins included.
pub type RequestCounter = Family<RequestLabels, Counter>;

/// Why building a client failed (bad TLS files).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// reqwest refused the settings (TLS files were already read and parsed by validation).
    #[error("cannot build HTTP client: {0}")]
    Client(String),
}

/// A target's upstream client.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: reqwest::Client,
    source: &'static str,
    target: Arc<str>,
    requests: RequestCounter,
    body_limit: u64,
    timeout: Duration,
}

/// A fully read upstream response.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body (at most the configured limit).
    pub body: Bytes,
}

impl Upstream {
    /// Builds the client of one target.
    pub fn build(
        source: &'static str,
        target: Arc<str>,
        tls: &UpstreamTls,
        timeout: Duration,
        body_limit: u64,
        requests: RequestCounter,
    ) -> Result<Upstream, BuildError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(same_origin_redirects())
            .user_agent(concat!("usage_exporter/", env!("CARGO_PKG_VERSION")));
        for cert in &tls.roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        if tls.insecure_skip_verify {
            tracing::warn!(source, target = %target, "TLS certificate verification is disabled for this target (insecure_skip_verify)");
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(identity) = &tls.identity {
            builder = builder.identity(identity.clone());
        }
        let client = builder
            .build()
            .map_err(|e| BuildError::Client(e.to_string()))?;
        Ok(Upstream {
            client,
            source,
            target,
            requests,
            body_limit,
            timeout,
        })
    }

    /// The underlying client, to start building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The configured per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Target name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Sends a request, counts it, and reads the body up to the limit. Any HTTP status is `Ok`;
    /// use [`Response::error_for_status`] to classify non-2xx answers. `what` names the call in
    /// error messages (e.g. `GET /api/monitoring/memory`).
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Response, PollError> {
        let started = std::time::Instant::now();
        let result = self.send_inner(request, what).await;
        let elapsed = started.elapsed();
        add_phase(|p| p.fetch += elapsed);
        result
    }

    async fn send_inner(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Response, PollError> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let err = classify_transport(&e).context(what);
                self.count(err.reason.as_str());
                return Err(err);
            }
        };
        self.count(response.status().as_str());
        let status = response.status();
        let headers = response.headers().clone();
        let body = self
            .read_body(response)
            .await
            .map_err(|e| e.context(what))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn count(&self, status: &str) {
        let _ = CALLS.try_with(|calls| calls.fetch_add(1, Ordering::Relaxed));
        self.requests
            .get_or_create(&RequestLabels {
                source: self.source.to_string(),
                target: self.target.to_string(),
                status_code: status.to_string(),
            })
            .inc();
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, PollError> {
        let too_large = |n: u64| {
            PollError::decode(format!(
                "response body larger than the limit of {} bytes ({} bytes); raise global.body_limit_bytes if this is expected",
                self.body_limit, n
            ))
        };
        if let Some(len) = response.content_length() {
            if len > self.body_limit {
                return Err(too_large(len));
            }
        }
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.body_limit {
                        return Err(too_large((body.len() + chunk.len()) as u64));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body.freeze()),
                Err(e) => return Err(classify_transport(&e).context("reading response body")),
            }
        }
    }
}

/// Redirects are followed only within the configured origin (scheme, host and port), at most
/// five: credentials (basic auth, cookies, bearer tokens, signatures, login bodies) never travel
/// to another host, scheme or port. A redirect elsewhere stops with the 3xx answer, which the
/// poll reports.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &url::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let first = attempt.previous().first().map(origin);
        if attempt.previous().len() > 5 || first != Some(origin(attempt.url())) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// A URL without its query and fragment (they may carry tokens), for messages.
fn without_query(location: &str) -> String {
    location
        .split(['?', '#'])
        .next()
        .unwrap_or(location)
        .to_string()
}

/// Maps a reqwest error onto the taxonomy, without the URL (which may carry signatures).
pub fn classify_transport(error: &reqwest::Error) -> PollError {
    let reason = if error.is_timeout() {
        ErrorReason::Timeout
    } else if is_tls(error) {
        ErrorReason::Tls
    } else if error.is_connect() {
        ErrorReason::Connect
    } else if error.is_decode() || error.is_body() {
        ErrorReason::Decode
    } else {
        ErrorReason::Connect
    };
    let mut text = error_chain(error);
    if reason == ErrorReason::Timeout {
        text = format!("no answer in time ({text}); check the upstream and the timeout setting");
    }
    PollError::new(reason, text)
}

fn is_tls(error: &reqwest::Error) -> bool {
    let chain = error_chain(error).to_ascii_lowercase();
    chain.contains("certificate")
        || chain.contains("tls")
        || chain.contains("handshake")
        || chain.contains("invalidcontenttype")
}

/// The error and its sources joined, the URL removed.
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "<url>");
    }
    parts.push(text);
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Parses a `Retry-After` header given in seconds or as an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(delta.max(0) as u64))
}

impl Response {
    /// A response built by hand (tests of error handling); panics on an invalid status or header.
    #[cfg(test)]
    pub(crate) fn from_parts(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        Response {
            status: StatusCode::from_u16(status).expect("HTTP status"),
            headers: map,
            body: Bytes::from(body.to_string()),
        }
    }

    /// `Ok(self)` for 2xx; otherwise an error classified by status: 401/403 → auth,
    /// 429 and 503 → rate_limited (honouring Retry-After), other 4xx/5xx → http_4xx/http_5xx.
    /// The message holds the status and a short, single-line excerpt of the body.
    pub fn error_for_status(self) -> Result<Response, PollError> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(self.status_error())
    }

    /// The classified error for a non-2xx status (see [`Response::error_for_status`]).
    pub fn status_error(&self) -> PollError {
        let code = self.status.as_u16();
        if self.status.is_redirection() {
            let to = self
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(without_query)
                .unwrap_or_else(|| "(no Location)".into());
            return PollError::new(
                ErrorReason::UpstreamError,
                format!(
                    "HTTP {} redirecting to {to}: not followed, because usage_exporter sends credentials \
                     only to the configured host (same scheme, host and port); set the target's url \
                     to the address the redirect names if it is legitimate",
                    self.status
                ),
            )
            .with_status(code);
        }
        let reason = match code {
            401 | 403 => ErrorReason::Auth,
            429 => ErrorReason::RateLimited,
            503 if self.headers.contains_key(RETRY_AFTER) => ErrorReason::RateLimited,
            400..=499 => ErrorReason::Http4xx,
            _ => ErrorReason::Http5xx,
        };
        let mut message = format!("HTTP {}", self.status);
        let excerpt = self.excerpt(200);
        if !excerpt.is_empty() {
            message.push_str(": ");
            message.push_str(&excerpt);
        }
        let mut error = PollError::new(reason, message).with_status(code);
        if let Some(after) = parse_retry_after(&self.headers) {
            error = error.retry_after(after);
        }
        error
    }

    /// The content type, lower-cased, without parameters.
    pub fn content_type(&self) -> String {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }

    /// True when the body looks like HTML (a login or error page) rather than data.
    pub fn is_html(&self) -> bool {
        let ct = self.content_type();
        if ct.contains("html") {
            return true;
        }
        let start = self
            .body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|i| &self.body[i..(i + 15).min(self.body.len())])
            .unwrap_or(&[]);
        let start = String::from_utf8_lossy(start).to_ascii_lowercase();
        start.starts_with("<!doctype html") || start.starts_with("<html")
    }

    /// Decodes the body as JSON into `T`; the error names the JSON path and problem.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PollError> {
        decode_json(&self.body)
    }

    /// A single-line excerpt of the body for error messages.
    pub fn excerpt(&self, max_chars: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut one_line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(max_chars)
            .collect();
        if text.chars().count() > max_chars {
            one_line.push('…');
        }
        one_line.trim().to_string()
    }
}

/// Decodes JSON with the path of the failing field in the message.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, PollError> {
    let started = std::time::Instant::now();
    let result = decode_json_inner(body);
    let elapsed = started.elapsed();
    add_phase(|p| p.decode += elapsed);
    result
}

fn decode_json_inner<T: DeserializeOwned>(body: &[u8]) -> Result<T, PollError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            PollError::decode(format!("invalid JSON: {inner}"))
        } else {
            PollError::decode(format!("invalid JSON at {path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::from_parts(status, headers, body)
    }

    #[test]
    fn status_classification() {
        let r = |s| response(s, &[], "").error_for_status().unwrap_err().reason;
        assert_eq!(r(401), ErrorReason::Auth);
        assert_eq!(r(403), ErrorReason::Auth);
        assert_eq!(r(404), ErrorReason::Http4xx);
        assert_eq!(r(429), ErrorReason::RateLimited);
        assert_eq!(r(500), ErrorReason::Http5xx);
        assert_eq!(r(503), ErrorReason::Http5xx);
        let e = response(503, &[("retry-after", "7")], "busy")
            .error_for_status()
            .unwrap_err();
        assert_eq!(e.reason, ErrorReason::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(e.message, "HTTP 503 Service Unavailable: busy");
    }

    #[test]
    fn html_detection_by_type_or_body() {
        assert!(response(200, &[("content-type", "text/html;charset=UTF-8")], "x").is_html());
        assert!(response(200, &[], "\n <!DOCTYPE html><html>").is_html());
        assert!(!response(200, &[("content-type", "application/json")], "{}").is_html());
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            a: Vec<u32>,
        }
        let e = decode_json::<T>(br#"{"a":[1,"x"]}"#).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Decode);
        assert!(e.message.contains("a[1]"), "{}", e.message);
        let e = decode_json::<T>(br#"{"a":[1,"#).unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{}", e.message);
    }

    #[tokio::test]
    async fn phases_are_collected_inside_the_scope_only() {
        let ((), times) = measure_phases(async {
            let _ = decode_json::<Vec<u32>>(b"[1,2,3]");
        })
        .await;
        assert!(times.decode > Duration::ZERO);
        assert_eq!(times.fetch, Duration::ZERO);
        let _ = decode_json::<Vec<u32>>(b"[1]"); // outside a scope: no panic
    }

    #[tokio::test]
    async fn calls_are_counted_per_scope_even_when_the_poll_is_abandoned() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Answers every request at once, except those for /hang.
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut held = Vec::new();
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                if !buf[..n].starts_with(b"GET /hang") {
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                }
                held.push(s);
            }
        });
        let requests = RequestCounter::default();
        let up = Upstream::build(
            "test",
            Arc::from("t"),
            &UpstreamTls::default(),
            Duration::from_secs(5),
            1024,
            requests.clone(),
        )
        .unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let url = format!("http://{addr}/");
        let poll = count_calls(calls.clone(), async {
            up.send(up.client().get(&url), "GET /").await.unwrap();
            up.send(up.client().get(format!("{url}hang")), "GET /hang")
                .await
        });
        assert!(tokio::time::timeout(Duration::from_millis(300), poll)
            .await
            .is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1, "the answered call");
        up.send(up.client().get(&url), "outside").await.ok();
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "outside the scope: not counted"
        );
    }

    #[test]
    fn excerpt_is_single_line_and_bounded() {
        let r = response(500, &[], "line1\nline2\tend");
        assert_eq!(r.excerpt(100), "line1 line2 end");
        assert_eq!(r.excerpt(3), "lin…");
    }
}
