//! Signed calls to Tencent Cloud Monitor (API 3.0 and v2) behind a per-target token bucket and
//! a concurrency bound, with the vendor's error codes mapped onto the poll error taxonomy.

use super::config::{Settings, TencentApi};
use super::model::V3Error;
use super::sign::{signing_host, v2_signature, Tc3Request, V2Method};
use crate::base::{ErrorReason, PollError};
use crate::config::Secret;
use crate::upstream::{Response, Upstream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// API 3.0 version of the monitor service.
pub const V3_VERSION: &str = "2018-07-24";
/// API 3.0 service name (part of the credential scope).
pub const V3_SERVICE: &str = "monitor";
/// Content type of API 3.0 requests (signed as written).
pub const V3_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Path of the v2 API.
pub const V2_PATH: &str = "/v2/index.php";

/// How often one rate-limited request is retried within a poll before the poll gives up.
const RATE_LIMIT_RETRIES: u32 = 3;
/// First pause after a rate-limit answer; doubles with each retry.
const RATE_LIMIT_PAUSE: Duration = Duration::from_millis(500);
/// When a poll gives up on rate limits, the scheduler waits at least this long.
const RATE_LIMIT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A token bucket: `rate` requests per second, bursts up to one second's worth. A rate-limit
/// answer pauses it for every request of the target and halves its rate (at least 1/s); each
/// accepted call brings the rate back up by 5 % until the configured rate (AIMD).
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: tokio::sync::Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
    paused_until: Instant,
    /// Current rate: halved by every rate-limit answer, back up by 5 % per accepted call.
    rate: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let burst = rate.max(1.0);
        let now = Instant::now();
        TokenBucket {
            rate,
            burst,
            state: tokio::sync::Mutex::new(BucketState {
                tokens: burst,
                last: now,
                paused_until: now,
                rate,
            }),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
                s.tokens = (s.tokens + elapsed * s.rate).min(self.burst.min(s.rate.max(1.0)));
                s.last = now;
                if now < s.paused_until {
                    s.paused_until - now
                } else if s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    return;
                } else {
                    Duration::from_secs_f64((1.0 - s.tokens) / s.rate)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Stops handing out tokens for `pause` (after the vendor said "too many requests").
    pub async fn pause(&self, pause: Duration) {
        let mut s = self.state.lock().await;
        let until = Instant::now() + pause;
        if until > s.paused_until {
            s.paused_until = until;
        }
        s.tokens = 0.0;
        s.rate = (s.rate / 2.0).max(1.0_f64.min(self.rate));
    }

    /// Notes an accepted call: the rate recovers towards the configured one.
    pub async fn accepted(&self) {
        let mut s = self.state.lock().await;
        s.rate = (s.rate * 1.05).min(self.rate);
    }

    /// The current rate in requests per second.
    pub async fn current_rate(&self) -> f64 {
        self.state.lock().await.rate
    }
}

/// "Now" for request timestamps (signatures, v2 `Timestamp`): the poll's injected wall-clock
/// time, moved on by the time the poll has run since (rate-limit pauses, slow answers), so a
/// signature is as fresh as the request and still follows the injected clock.
#[derive(Debug, Clone, Copy)]
pub struct CallClock {
    wall: SystemTime,
    started: Instant,
}

impl CallClock {
    /// A clock reading `now` (the poll's `PollContext.now`) at this instant.
    pub fn starting_at(now: SystemTime) -> Self {
        CallClock {
            wall: now,
            started: Instant::now(),
        }
    }

    /// The current time in Unix seconds.
    pub fn unix(&self) -> i64 {
        (self.wall + self.started.elapsed())
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64
    }
}

/// An API 3.0 service as a call names it: the name in the credential scope (`monitor`, `cvm`)
/// and the API version (`X-TC-Version`).
#[derive(Debug, Clone, Copy)]
pub struct V3Service<'a> {
    /// Service name, e.g. `cvm`.
    pub name: &'a str,
    /// API version, e.g. `2017-03-12`.
    pub version: &'a str,
}

/// The signed client of one target.
pub struct Client {
    upstream: Upstream,
    url: url::Url,
    host: String,
    api: TencentApi,
    region: String,
    secret_id: Secret,
    secret_key: Secret,
    v2_method: V2Method,
    bucket: TokenBucket,
    permits: tokio::sync::Semaphore,
    nonce: AtomicU64,
}

impl Client {
    /// A client for one validated target.
    pub fn new(upstream: Upstream, s: &Settings) -> Client {
        let host = signing_host(&s.url);
        let mut url = s.url.clone();
        if s.api == TencentApi::V3 {
            // TC3 signs the canonical URI `/`: API 3.0 requests always go there.
            url.set_path("/");
            url.set_query(None);
        }
        Client {
            upstream,
            host,
            url,
            api: s.api,
            region: s.region.clone(),
            secret_id: s.secret_id.clone(),
            secret_key: s.secret_key.clone(),
            v2_method: s.signature_method,
            bucket: TokenBucket::new(s.rate_limit),
            permits: tokio::sync::Semaphore::new(s.max_concurrency),
            // Nonces count up from a random start: never reused by this process.
            nonce: AtomicU64::new(rand::random_range(1..(1u64 << 31))),
        }
    }

    /// The target name (for logs).
    pub fn target(&self) -> &str {
        self.upstream.target()
    }

    /// The API generation.
    pub fn api(&self) -> TencentApi {
        self.api
    }

    /// Sends one request through the bucket and the concurrency bound and reads the answer
    /// with `parse` (one of the endpoint parsers of [`super::parse`]); retries rate-limited
    /// answers a few times (pausing the whole target) before giving up.
    async fn call<F, P, T>(
        &self,
        action: &str,
        clock: &CallClock,
        build: F,
        parse: P,
    ) -> Result<T, PollError>
    where
        F: Fn(i64) -> reqwest::RequestBuilder,
        P: Fn(&[u8]) -> Result<T, PollError>,
    {
        let mut attempt = 0;
        loop {
            self.bucket.acquire().await;
            let response = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .expect("semaphore never closed");
                self.upstream.send(build(clock.unix()), action).await?
            };
            match interpret(action, &response, &parse) {
                // Retried here only when the upstream did not ask for a longer wait than the
                // pause; otherwise the poll gives up and the scheduler honours `Retry-After`.
                Err(e)
                    if e.reason == ErrorReason::RateLimited
                        && attempt < RATE_LIMIT_RETRIES
                        && crate::upstream::parse_retry_after(&response.headers)
                            .is_none_or(|asked| asked <= RATE_LIMIT_PAUSE * (1 << attempt)) =>
                {
                    let pause = RATE_LIMIT_PAUSE * (1 << attempt);
                    tracing::debug!(
                        target = self.upstream.target(),
                        action,
                        ?pause,
                        "rate limited by Tencent; pausing"
                    );
                    self.bucket.pause(pause).await;
                    attempt += 1;
                }
                Err(e) if e.reason == ErrorReason::RateLimited => {
                    let after = e.retry_after.unwrap_or(RATE_LIMIT_RETRY_AFTER);
                    return Err(e.retry_after(after.max(RATE_LIMIT_RETRY_AFTER)));
                }
                other => {
                    if other.is_ok() {
                        self.bucket.accepted().await;
                    }
                    return other;
                }
            }
        }
    }

    /// An API 3.0 call (`POST /`, TC3-HMAC-SHA256) to the monitor service in the target's
    /// first region; the answer is read by `parse`.
    pub async fn v3<T>(
        &self,
        action: &str,
        body: &serde_json::Value,
        clock: &CallClock,
        parse: impl Fn(&[u8]) -> Result<T, PollError>,
    ) -> Result<T, PollError> {
        let service = V3Service {
            name: V3_SERVICE,
            version: V3_VERSION,
        };
        self.v3_at(service, &self.region, action, body, clock, parse)
            .await
    }

    /// The URL and signed host an API 3.0 call to `service` goes to: for a configured host
    /// `monitor.<rest>` (the default `monitor.tencentcloudapi.com`, or a regional
    /// `monitor.<region>.tencentcloudapi.com`) the service's own host `<service>.<rest>`, else
    /// the configured URL as it is (a proxy or a simulator answering every service).
    pub fn service_url(&self, service: &str) -> (url::Url, String) {
        let mut url = self.url.clone();
        if service != V3_SERVICE {
            if let Some(rest) = url
                .host_str()
                .and_then(|h| h.strip_prefix("monitor."))
                .map(str::to_string)
            {
                if url.set_host(Some(&format!("{service}.{rest}"))).is_ok() {
                    return (url.clone(), signing_host(&url));
                }
            }
        }
        (url, self.host.clone())
    }

    /// An API 3.0 call (`POST /`, TC3-HMAC-SHA256) to `service` (its name in the credential
    /// scope and its API version) in `region`, through the target's bucket and concurrency
    /// bound like every other call; the answer is read by `parse`.
    pub async fn v3_at<T>(
        &self,
        service: V3Service<'_>,
        region: &str,
        action: &str,
        body: &serde_json::Value,
        clock: &CallClock,
        parse: impl Fn(&[u8]) -> Result<T, PollError>,
    ) -> Result<T, PollError> {
        let payload = serde_json::to_vec(body).expect("JSON values serialise");
        let (url, host) = self.service_url(service.name);
        self.call(
            action,
            clock,
            |now| {
                let authorization = Tc3Request {
                    service: service.name,
                    host: &host,
                    content_type: V3_CONTENT_TYPE,
                    payload: &payload,
                    timestamp: now,
                }
                .authorization(self.secret_id.expose(), self.secret_key.expose());
                self.upstream
                    .client()
                    .post(url.clone())
                    .header("Content-Type", V3_CONTENT_TYPE)
                    .header("Authorization", authorization)
                    .header("X-TC-Action", action)
                    .header("X-TC-Version", service.version)
                    .header("X-TC-Timestamp", now.to_string())
                    .header("X-TC-Region", region)
                    .body(payload.clone())
            },
            parse,
        )
        .await
    }

    /// A v2 call (`GET /v2/index.php`, HmacSHA1/HmacSHA256 signature in the query); the answer
    /// is read by `parse`.
    pub async fn v2<T>(
        &self,
        action: &str,
        params: &[(String, String)],
        clock: &CallClock,
        parse: impl Fn(&[u8]) -> Result<T, PollError>,
    ) -> Result<T, PollError> {
        let path = match self.url.path() {
            "" | "/" => V2_PATH.to_string(),
            p => p.to_string(),
        };
        let mut url = self.url.clone();
        url.set_path(&path);
        self.call(
            action,
            clock,
            |now| {
                let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
                let mut all: Vec<(String, String)> = vec![
                    ("Action".into(), action.into()),
                    ("Region".into(), self.region.clone()),
                    ("Timestamp".into(), now.to_string()),
                    ("Nonce".into(), nonce.to_string()),
                    ("SecretId".into(), self.secret_id.expose().into()),
                    ("SignatureMethod".into(), self.v2_method.as_str().into()),
                ];
                all.extend(params.iter().cloned());
                let signature = v2_signature(
                    self.secret_key.expose(),
                    "GET",
                    &self.host,
                    &path,
                    &all,
                    self.v2_method,
                );
                all.push(("Signature".into(), signature));
                self.upstream.client().get(url.clone()).query(&all)
            },
            parse,
        )
        .await
    }
}

/// Checks an answer's HTTP status and shape, then reads its body with `parse` (which maps
/// the vendor's own error answers, see [`super::parse::payload`]).
fn interpret<T>(
    action: &str,
    response: &Response,
    parse: impl Fn(&[u8]) -> Result<T, PollError>,
) -> Result<T, PollError> {
    if response.is_html() {
        return Err(PollError::decode(format!(
            "{action}: got an HTML page instead of JSON (HTTP {}); check url points at the Tencent Cloud API",
            response.status
        )));
    }
    if !response.status.is_success() {
        return Err(response.status_error().context(action));
    }
    parse(&response.body)
}

/// Maps an API 3.0 error onto the taxonomy with a message an operator can act on.
pub fn classify_v3(action: &str, error: &V3Error, request_id: &str) -> PollError {
    let code = error.code.as_deref().unwrap_or_default();
    let (reason, hint) = if code == "AuthFailure.SignatureExpire" {
        (
            ErrorReason::Auth,
            "the request timestamp differs from Tencent's clock by more than 5 minutes: check this host's clock (NTP), clock skew makes every signature expire",
        )
    } else if code == "AuthFailure.SignatureFailure" {
        (
            ErrorReason::Auth,
            "the signature was rejected: check that secret_key belongs to secret_id",
        )
    } else if code.starts_with("AuthFailure.SecretIdNotFound")
        || code.starts_with("AuthFailure.InvalidSecretId")
    {
        (
            ErrorReason::Auth,
            "the key id is unknown or disabled: check secret_id in the Tencent Cloud API key console",
        )
    } else if code.starts_with("AuthFailure") || code.starts_with("UnauthorizedOperation") {
        (
            ErrorReason::Auth,
            "the key may not call this API: grant it read access to Cloud Monitor (e.g. the QcloudMonitorReadOnlyAccess policy)",
        )
    } else if code.starts_with("RequestLimitExceeded") {
        (
            ErrorReason::RateLimited,
            "Tencent's request rate limit was hit: lower rate_limit, raise the metric_data interval or batch more instances",
        )
    } else if code == "FailedOperation.ErrNotOpen" || code == "FailedOperation.ServiceNotEnabled" {
        (
            ErrorReason::Unsupported,
            "monitoring is not enabled for this product or namespace on the account",
        )
    } else if code == "InvalidAction" || code.starts_with("UnsupportedOperation") {
        (
            ErrorReason::Unsupported,
            "this API is not available at this endpoint or region",
        )
    } else {
        (
            ErrorReason::UpstreamError,
            "check the namespace, metric names, period and dimensions of the metrics blocks",
        )
    };
    let message_text = error.message.as_deref().unwrap_or_default().trim();
    let mut message = format!("{action}: {code}: {message_text}");
    if !request_id.is_empty() {
        message.push_str(&format!(" (RequestId {request_id})"));
    }
    message.push_str("; ");
    message.push_str(hint);
    PollError::new(reason, message)
}

/// Maps a v2 error code onto the taxonomy with a message an operator can act on.
pub fn classify_v2(action: &str, code: i64, message: &str) -> PollError {
    let (reason, hint) = match code {
        4100 => (
            ErrorReason::Auth,
            "authentication failed: check secret_id, secret_key and signature_method",
        ),
        4200 => (
            ErrorReason::Auth,
            "request expired: the Timestamp is too far from Tencent's clock; check this host's clock (NTP) for clock skew",
        ),
        4300 => (
            ErrorReason::Auth,
            "access denied: the account is suspended or the key may not call this API",
        ),
        4400 => (
            ErrorReason::RateLimited,
            "request quota exceeded: lower rate_limit or raise the metric_data interval",
        ),
        4500 => (
            ErrorReason::Auth,
            "rejected as a replay: a Nonce was reused or this host's clock is more than 2 hours off (clock skew); check NTP",
        ),
        6100 => (
            ErrorReason::Unsupported,
            "this API is not supported at this endpoint: check url",
        ),
        _ => (
            ErrorReason::UpstreamError,
            "check the namespace, metric names, period and dimensions of the metrics blocks",
        ),
    };
    let mut error = PollError::new(
        reason,
        format!("{action}: code {code}: {}; {hint}", message.trim()),
    );
    if reason == ErrorReason::RateLimited {
        error = error.retry_after(RATE_LIMIT_RETRY_AFTER);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(code: &str) -> PollError {
        classify_v3(
            "GetMonitorData",
            &V3Error {
                code: Some(code.into()),
                message: Some("vendor text".into()),
            },
            "req-1",
        )
    }

    #[test]
    fn v3_codes() {
        let e = v3("AuthFailure.SignatureExpire");
        assert_eq!(e.reason, ErrorReason::Auth);
        assert!(e.message.contains("clock skew"), "{}", e.message);
        assert!(e.message.contains("RequestId req-1"));
        assert!(e
            .message
            .starts_with("GetMonitorData: AuthFailure.SignatureExpire: vendor text"));
        assert_eq!(v3("AuthFailure.SignatureFailure").reason, ErrorReason::Auth);
        assert_eq!(v3("AuthFailure.SecretIdNotFound").reason, ErrorReason::Auth);
        assert_eq!(v3("UnauthorizedOperation").reason, ErrorReason::Auth);
        assert_eq!(v3("RequestLimitExceeded").reason, ErrorReason::RateLimited);
        assert_eq!(
            v3("RequestLimitExceeded.UinLimitExceeded").reason,
            ErrorReason::RateLimited
        );
        assert_eq!(
            v3("FailedOperation.ErrNotOpen").reason,
            ErrorReason::Unsupported
        );
        assert_eq!(
            v3("FailedOperation.ServiceNotEnabled").reason,
            ErrorReason::Unsupported
        );
        assert_eq!(v3("ResourceNotFound").reason, ErrorReason::UpstreamError);
        assert_eq!(v3("InvalidParameter").reason, ErrorReason::UpstreamError);
    }

    #[test]
    fn v2_codes() {
        let e = classify_v2("GetMonitorData", 4100, "(-100) auth failed");
        assert_eq!(e.reason, ErrorReason::Auth);
        assert!(e.message.contains("code 4100: (-100) auth failed"));
        assert!(classify_v2("x", 4200, "").message.contains("clock skew"));
        assert!(classify_v2("x", 4500, "").message.contains("Nonce"));
        let e = classify_v2("x", 4400, "");
        assert_eq!(e.reason, ErrorReason::RateLimited);
        assert!(e.retry_after.is_some());
        assert_eq!(
            classify_v2("x", 4000, "").reason,
            ErrorReason::UpstreamError
        );
        assert_eq!(classify_v2("x", 6100, "").reason, ErrorReason::Unsupported);
    }

    #[tokio::test(start_paused = true)]
    async fn call_clock_follows_the_injected_time() {
        let at = UNIX_EPOCH + Duration::from_secs(1_835_000_000);
        let clock = CallClock::starting_at(at);
        assert_eq!(clock.unix(), 1_835_000_000);
        tokio::time::advance(Duration::from_secs(7)).await;
        assert_eq!(clock.unix(), 1_835_000_007);
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_limits_the_rate() {
        let bucket = TokenBucket::new(5.0);
        let start = Instant::now();
        for _ in 0..15 {
            bucket.acquire().await;
        }
        // 5 from the full bucket, 10 more at 5/s.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2100), "{elapsed:?}");
        bucket.pause(Duration::from_secs(3)).await;
        let t = Instant::now();
        bucket.acquire().await;
        assert!(t.elapsed() >= Duration::from_secs(3));
        assert_eq!(bucket.current_rate().await, 2.5);
        bucket.pause(Duration::ZERO).await;
        bucket.pause(Duration::ZERO).await;
        assert_eq!(bucket.current_rate().await, 1.0);
        for _ in 0..100 {
            bucket.accepted().await;
        }
        assert_eq!(bucket.current_rate().await, 5.0);
    }
}
