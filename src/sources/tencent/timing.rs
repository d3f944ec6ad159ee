//! Per-product timing and request sizes, as pure functions: which period a metric is read with
//! (the smallest supported one at least as long as the configured one), how far a product's
//! read window lags behind the poll (ingestion delay), how a refused batch shrinks, and how
//! long a failing catalog is left alone.
//!
//! Sources of the defaults (see docs/sources/tencent.md, *Per-product timing*):
//! - period selection: the vendor exporter's `TcmMeta.GetPeriod` (`pkg/metric/meta.go`) takes
//!   the smallest catalogued period `>=` the configured one;
//! - v2 without a catalog: the v2 `GetMonitorData` reference (cloud.tencent.com/document/api/248/4667):
//!   "period: default 300 s; CVM, load balancers and containers support 60 s and 300 s, other
//!   products 300 s only";
//! - COS: the vendor exporter raises every COS period below 300 s to 300 s
//!   (`pkg/collector/handler_cos.go`: most COS metrics have no shorter period);
//! - CDN delay: the vendor exporter's issue #93 (CDN points are found only with a
//!   `delay_seconds` of about 6 minutes); the exporter's `delay_seconds` moves the window end to
//!   `now − delay` (`pkg/metric/metric.go`), as `delay` does here.

use super::config::{ReadApi, TencentApi};
use crate::base::{ErrorReason, PollError};
use std::time::Duration;

/// What is known of the periods a metric can be read with.
#[derive(Debug, Clone, PartialEq)]
pub enum Supported {
    /// Exactly these periods (seconds, ascending), from `source`.
    Listed(Vec<u64>, &'static str),
    /// Any period of at least this many seconds, from `source`.
    AtLeast(u64, &'static str),
    /// Nothing is known: the wanted period is read as it is.
    Unknown,
}

/// The period read for a metric when `wanted` seconds are configured (or defaulted): the
/// smallest supported period `>= wanted`. `Err` says why none fits (every supported period is
/// shorter than the wanted one).
pub fn pick_period(wanted: u64, supported: &Supported) -> Result<u64, String> {
    match supported {
        Supported::Unknown => Ok(wanted),
        Supported::AtLeast(min, _) => Ok(wanted.max(*min)),
        Supported::Listed(periods, _) if periods.is_empty() => Ok(wanted),
        Supported::Listed(periods, source) => {
            let mut sorted = periods.clone();
            sorted.sort_unstable();
            sorted.into_iter().find(|p| *p >= wanted).ok_or_else(|| {
                format!(
                    "does not support period {wanted}s or longer; supported periods: {} (from {source})",
                    format_periods(periods)
                )
            })
        }
    }
}

/// `10s, 60s, 300s`.
pub fn format_periods(periods: &[u64]) -> String {
    periods
        .iter()
        .map(|p| format!("{p}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The period read when the block configures none: 60 s (`GetMonitorData`), 300 s
/// (`GetMetricStatistics`, which only has 300 s); then rounded up to a supported one.
pub fn default_period(read_api: ReadApi) -> u64 {
    match read_api {
        ReadApi::GetMonitorData => 60,
        ReadApi::GetMetricStatistics => 300,
    }
}

/// Periods known from the documentation, used where no catalog is at hand (v2 lists only
/// `qce/cvm`; a catalog call may fail).
pub fn documented_periods(api: TencentApi, read_api: ReadApi, namespace: &str) -> Supported {
    let ns = namespace.to_ascii_lowercase();
    match (api, read_api) {
        (TencentApi::V2, ReadApi::GetMetricStatistics) => {
            Supported::Listed(vec![300], "the v2 GetMetricStatistics reference: 300s only")
        }
        (TencentApi::V2, ReadApi::GetMonitorData)
            if ns == "qce/cvm" || ns.starts_with("qce/lb") =>
        {
            Supported::Listed(
                vec![60, 300],
                "the v2 GetMonitorData reference: CVM and load balancers 60s or 300s",
            )
        }
        (TencentApi::V2, ReadApi::GetMonitorData) => Supported::Listed(
            vec![300],
            "the v2 GetMonitorData reference: products other than CVM and load balancers 300s only",
        ),
        (TencentApi::V3, _) if ns == "qce/cos" => Supported::AtLeast(
            300,
            "COS metrics have no period below 300s (the vendor exporter raises them to 300s)",
        ),
        (TencentApi::V3, _) => Supported::Unknown,
    }
}

/// Ingestion delay of a product without `delay` configured, in seconds: CDN publishes its
/// points about 6 minutes late (vendor exporter issue #93); other products none (the three-period
/// window and the newest non-empty point already absorb a period or two of lag).
pub fn default_delay(namespace: &str) -> u64 {
    match namespace.to_ascii_lowercase().as_str() {
        "qce/cdn" => 360,
        _ => 0,
    }
}

/// The documented per-request instance limit of v3 `GetMonitorData` ("a single request can get
/// the data of up to 10 instances"); accounts commonly accept 50 (the vendor exporter's
/// default batch), so it is only a stop on the way down.
pub const DOCUMENTED_BATCH: usize = 10;

/// The next batch size after `refused` instances were refused: half, stopping at the
/// documented 10 on the way (50 → 25 → 12 → 10 → 5 → 2 → 1).
pub fn smaller_batch(refused: usize) -> usize {
    let half = (refused / 2).max(1);
    if refused > DOCUMENTED_BATCH && half < DOCUMENTED_BATCH {
        DOCUMENTED_BATCH
    } else {
        half
    }
}

/// True when a v3 `GetMonitorData` error refuses the request's size: a `*LimitExceeded` /
/// `*ExceedLimit` code that is neither a rate limit (`RequestLimitExceeded*`, reason
/// `rate_limited`) nor the metric quota (`LimitExceeded.MetricQuotaExceeded`). The instance
/// limit and the 1,440-point limit (instances × points) both shrink with the batch, so
/// halving answers either.
pub fn is_batch_refusal(e: &PollError) -> bool {
    if e.reason != ErrorReason::UpstreamError {
        return false;
    }
    // The message is `[<context>: ]<action>: <code>: <vendor text>…` (client::classify_v3):
    // the code is the segment after the action.
    let mut segments = e.message.split(": ");
    segments.any(|s| s == "GetMonitorData") && segments.next().is_some_and(is_size_code)
}

fn is_size_code(code: &str) -> bool {
    (code.contains("LimitExceeded") || code.contains("ExceedLimit"))
        && !code.starts_with("RequestLimitExceeded")
        && code != "LimitExceeded.MetricQuotaExceeded"
}

/// First wait after a catalog call failed; doubles with each further failure.
pub const CATALOG_BACKOFF: Duration = Duration::from_secs(300);
/// Longest wait between catalog attempts from `metric_data` (the hourly `metric_catalog`
/// refresh asks regardless).
pub const CATALOG_BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// How long `metric_data` leaves a namespace's catalog alone after its `failures`-th failure
/// in a row: 5 min, 10 min, 20 min, 40 min, then an hour.
pub fn catalog_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(8);
    (CATALOG_BACKOFF * (1u32 << doublings)).min(CATALOG_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "DescribeBaseMetrics";

    #[test]
    fn the_smallest_supported_period_at_least_the_configured_one_is_read() {
        let cvm = Supported::Listed(vec![10, 60, 300, 3600, 86400], CATALOG);
        assert_eq!(pick_period(60, &cvm), Ok(60));
        assert_eq!(pick_period(30, &cvm), Ok(60));
        assert_eq!(pick_period(1, &cvm), Ok(10));
        assert_eq!(pick_period(301, &cvm), Ok(3600));
        let e = pick_period(100_000, &cvm).unwrap_err();
        assert_eq!(
            e,
            "does not support period 100000s or longer; supported periods: 10s, 60s, 300s, 3600s, 86400s (from DescribeBaseMetrics)"
        );
        // Unsorted lists are fine; an empty one says nothing.
        assert_eq!(
            pick_period(60, &Supported::Listed(vec![300, 60], CATALOG)),
            Ok(60)
        );
        assert_eq!(pick_period(45, &Supported::Listed(vec![], CATALOG)), Ok(45));
        assert_eq!(pick_period(45, &Supported::Unknown), Ok(45));
        assert_eq!(pick_period(60, &Supported::AtLeast(300, "x")), Ok(300));
        assert_eq!(pick_period(3600, &Supported::AtLeast(300, "x")), Ok(3600));
    }

    #[test]
    fn documented_periods_without_a_catalog() {
        let v2 = |ns| documented_periods(TencentApi::V2, ReadApi::GetMonitorData, ns);
        let pick = |s: Supported| pick_period(default_period(ReadApi::GetMonitorData), &s);
        // v2: 300 s outside CVM and load balancers, whatever is asked below it.
        assert_eq!(pick(v2("qce/cvm")), Ok(60));
        assert_eq!(pick(v2("qce/lb_public")), Ok(60));
        assert_eq!(pick(v2("qce/cdb")), Ok(300));
        assert_eq!(pick(v2("QCE/REDIS")), Ok(300));
        let stats = documented_periods(TencentApi::V2, ReadApi::GetMetricStatistics, "qce/cvm");
        assert_eq!(
            pick_period(default_period(ReadApi::GetMetricStatistics), &stats),
            Ok(300)
        );
        // v3: COS at least 300 s, others as configured (the catalog decides).
        let v3 = |ns| documented_periods(TencentApi::V3, ReadApi::GetMonitorData, ns);
        assert_eq!(pick(v3("QCE/COS")), Ok(300));
        assert_eq!(pick(v3("QCE/CVM")), Ok(60));
    }

    #[test]
    fn cdn_is_read_six_minutes_late_by_default() {
        assert_eq!(default_delay("QCE/CDN"), 360);
        assert_eq!(default_delay("qce/cdn"), 360);
        assert_eq!(default_delay("QCE/CVM"), 0);
    }

    #[test]
    fn a_refused_batch_halves_and_stops_at_the_documented_ten() {
        let mut n = 50;
        let mut steps = vec![n];
        while n > 1 {
            n = smaller_batch(n);
            steps.push(n);
        }
        assert_eq!(steps, [50, 25, 12, 10, 5, 2, 1]);
        assert_eq!(smaller_batch(11), 10);
        assert_eq!(smaller_batch(1), 1);
    }

    #[test]
    fn batch_refusals_are_told_from_rate_limits_and_bad_names() {
        let e = |reason, code: &str| {
            PollError::new(
                reason,
                format!("GetMonitorData: {code}: text (RequestId r); hint"),
            )
        };
        let up = ErrorReason::UpstreamError;
        assert!(is_batch_refusal(&e(
            up,
            "InvalidParameterValue.LimitExceeded"
        )));
        assert!(is_batch_refusal(&e(up, "LimitExceeded")));
        assert!(is_batch_refusal(&e(up, "OperationDenied.ExceedLimit")));
        assert!(!is_batch_refusal(&e(up, "InvalidParameterValue")));
        assert!(!is_batch_refusal(&e(
            up,
            "LimitExceeded.MetricQuotaExceeded"
        )));
        assert!(!is_batch_refusal(&e(
            ErrorReason::RateLimited,
            "RequestLimitExceeded"
        )));
        assert!(!is_batch_refusal(&PollError::new(up, "no code here")));
        // With the poll's context in front.
        assert!(is_batch_refusal(
            &e(up, "InvalidParameterValue.LimitExceeded").context("QCE/CVM CPUUsage")
        ));
    }

    #[test]
    fn catalog_back_off_doubles_to_an_hour() {
        let mins: Vec<u64> = (1..=7).map(|n| catalog_backoff(n).as_secs() / 60).collect();
        assert_eq!(mins, [5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(catalog_backoff(u32::MAX), CATALOG_BACKOFF_MAX);
    }
}
