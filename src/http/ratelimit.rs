//! `rate_limit` of the web config: one token bucket over all requests, checked before anything
//! else (authentication included), as the exporter-toolkit does with `golang.org/x/time/rate`.

use super::{text, Body, WebConfig};
use hyper::{Response, StatusCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `Some(429)` when `web` has a rate limit whose bucket is empty (with the configured headers).
pub fn check(web: &WebConfig) -> Option<Response<Body>> {
    let limiter = web.rate_limit.as_ref()?;
    if limiter.allow() {
        return None;
    }
    let mut resp = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n");
    web.headers.apply(&mut resp);
    Some(resp)
}

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimiter {
    /// A full bucket. `interval` must be non-zero and `burst` at least 1 (the loader checks).
    pub fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst,
            state: Mutex::new(Bucket {
                tokens: f64::from(burst),
                last: None,
            }),
        }
    }

    /// The configured refill interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The configured burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes a token now.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    /// Takes a token at `now` (injected for tests); false when the bucket is empty.
    pub fn allow_at(&self, now: Instant) -> bool {
        let mut b = self.state.lock().expect("rate limiter");
        if let Some(last) = b.last {
            let elapsed = now.saturating_duration_since(last);
            let refill = elapsed.as_secs_f64() / self.interval.as_secs_f64();
            b.tokens = (b.tokens + refill).min(f64::from(self.burst));
        }
        // Time never runs backwards for the bucket.
        if b.last.is_none_or(|last| now > last) {
            b.last = Some(now);
        }
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at(t0)), "the burst");
        assert!(!limiter.allow_at(t0), "empty");
        assert!(!limiter.allow_at(t0 + Duration::from_millis(999)));
        assert!(
            limiter.allow_at(t0 + Duration::from_secs(1)),
            "one refilled"
        );
        assert!(!limiter.allow_at(t0 + Duration::from_secs(1)));
        // A long pause refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| limiter.allow_at(later)).count(), 3);
    }

    #[test]
    fn an_earlier_instant_does_not_refill() {
        let limiter = RateLimiter::new(Duration::from_secs(10), 1);
        let t0 = Instant::now() + Duration::from_secs(100);
        assert!(limiter.allow_at(t0));
        assert!(!limiter.allow_at(t0 - Duration::from_secs(50)));
        assert!(!limiter.allow_at(t0 + Duration::from_secs(5)));
        assert!(limiter.allow_at(t0 + Duration::from_secs(10)));
    }
}
