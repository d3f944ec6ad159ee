//! The poll error taxonomy shared by all sources.

use std::fmt;
use std::time::Duration;

/// Why a poll failed: the bounded `reason` label of `usage_exporter_poll_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorReason {
    /// No answer within the timeout.
    Timeout,
    /// Could not connect (refused, DNS, reset).
    Connect,
    /// TLS handshake or certificate problem.
    Tls,
    /// HTTP 4xx other than auth and rate limits.
    Http4xx,
    /// HTTP 5xx.
    Http5xx,
    /// Credentials rejected, session expired, login page instead of data.
    Auth,
    /// The body was not what the API documents (bad JSON, wrong types, too large).
    Decode,
    /// The vendor asked us to slow down (429, 503 + Retry-After, quota codes).
    RateLimited,
    /// The vendor answered with an application-level error.
    UpstreamError,
    /// This upstream version does not offer the endpoint.
    Unsupported,
}

impl ErrorReason {
    /// Every reason, for pre-initialising counters.
    pub const ALL: [ErrorReason; 10] = [
        ErrorReason::Timeout,
        ErrorReason::Connect,
        ErrorReason::Tls,
        ErrorReason::Http4xx,
        ErrorReason::Http5xx,
        ErrorReason::Auth,
        ErrorReason::Decode,
        ErrorReason::RateLimited,
        ErrorReason::UpstreamError,
        ErrorReason::Unsupported,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Timeout => "timeout",
            ErrorReason::Connect => "connect",
            ErrorReason::Tls => "tls",
            ErrorReason::Http4xx => "http_4xx",
            ErrorReason::Http5xx => "http_5xx",
            ErrorReason::Auth => "auth",
            ErrorReason::Decode => "decode",
            ErrorReason::RateLimited => "rate_limited",
            ErrorReason::UpstreamError => "upstream_error",
            ErrorReason::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed poll: the reason class, a message an operator can act on, and an optional hint
/// for when to try again (Retry-After, lock-out windows, unsupported endpoints).
#[derive(Debug, Clone, PartialEq)]
pub struct PollError {
    /// Class of the failure.
    pub reason: ErrorReason,
    /// What happened and what to check; never contains secrets.
    pub message: String,
    /// Do not poll again before this much time has passed.
    pub retry_after: Option<Duration>,
    /// The HTTP status of the answer that failed, when there was one.
    pub http_status: Option<u16>,
}

impl PollError {
    /// A new error.
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        PollError {
            reason,
            message: message.into(),
            retry_after: None,
            http_status: None,
        }
    }

    /// Sets the earliest retry time.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Records the HTTP status of the answer that failed.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Prefixes the message with context (e.g. the endpoint path).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// A decode error.
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorReason::Decode, message)
    }

    /// An auth error.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorReason::Auth, message)
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}

impl std::error::Error for PollError {}

/// One unit of a poll that failed while the poll's other units delivered data (see
/// `sources::PollOutcome::Partial`): a batch, a namespace, a page, a community.
///
/// The unit text is bounded and says which part of the endpoint is missing, in the source's
/// words, e.g. `QCE/CVM CPUUsage instances 51-100`; it is shown on the landing page and logged,
/// never used as a label. The scheduler removes secrets from it and from the error message.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedUnit {
    /// Which part of the endpoint failed.
    pub unit: String,
    /// Why it failed (its reason is counted in `usage_exporter_poll_unit_errors_total`).
    pub error: PollError,
}

impl FailedUnit {
    /// A failed unit.
    pub fn new(unit: impl Into<String>, error: PollError) -> Self {
        FailedUnit {
            unit: unit.into(),
            error,
        }
    }
}

impl fmt::Display for FailedUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.unit, self.error)
    }
}
