//! The AVEVA CONNECT data services source against its simulator, over real HTTP: translation of
//! every endpoint, token refresh and renewal, Retry-After back-off, a wrong client secret and
//! billing-cycle rollover.

use crate::support::{self, sample, samples};
use chrono::{DateTime, Duration as Days, NaiveDate, TimeZone, Utc};
use std::time::{Duration, Instant};
use usage_exporter::base::clock::TestClock;
use usage_exporter_sim::aveva::{AvevaSim, SimConfig, CLIENT_ID, CLIENT_SECRET, TENANT_ID};
use usage_exporter_sim::SimClock;

const WAIT: Duration = Duration::from_secs(20);

fn config(sim: &AvevaSim, secret: &str, endpoints: &str) -> String {
    let communities: Vec<String> = sim.communities().into_iter().map(|c| c.id).collect();
    format!(
        "sources:\n  aveva:\n    - name: cds\n      url: {}\n      tenant_id: {TENANT_ID}\n      client_id: {CLIENT_ID}\n      client_secret: {secret}\n      community_ids: [{}]\n      endpoints: {endpoints}\n",
        sim.url(),
        communities.join(", ")
    )
}

const ALL_FAST: &str =
    "{tenant_usage: 200ms, community_usage: 200ms, resource_usage: 200ms, billing_cycles: 200ms}";

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

fn errors(body: &str, endpoint: &str, reason: &str) -> f64 {
    sample(
        body,
        "usage_exporter_poll_errors_total",
        &[
            ("source", "aveva"),
            ("endpoint", endpoint),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

/// A simulator whose clock reads `at` now and runs on from there.
async fn sim_at(at: DateTime<Utc>) -> AvevaSim {
    sim_with(at, SimConfig::default()).await
}

/// Like [`sim_at`], started with `config` (its clock replaced).
async fn sim_with(at: DateTime<Utc>, config: SimConfig) -> AvevaSim {
    let clock = SimClock::real();
    clock.set_offset(at - Utc::now());
    AvevaSim::start(SimConfig { clock, ..config })
        .await
        .unwrap()
}

/// An ordinary instant, mid-cycle and mid-day, for the tests that are about something else than
/// dates: with both clocks running from here they never meet a cycle's first day or midnight,
/// whatever the real date.
fn ordinary() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 10, 30, 0).unwrap()
}

#[tokio::test]
async fn every_endpoint_translates_the_simulated_tenant() {
    // An ordinary day: a cycle that began five days ago, so past days are complete and exact.
    translates_the_tenant_at(ordinary(), 5).await;
}

/// The date-sensitive suite at the calendar's edges, with the exporter's and the simulator's
/// clocks both set: a cycle's first day (the day CI once failed on), a month's last day, 29
/// February, and the days the clocks change in Europe and the US (the API works in UTC; the
/// exporter must not care).
#[tokio::test]
async fn every_endpoint_translates_the_tenant_at_calendar_boundaries() {
    let at = |y, m, d, h, min| Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap();
    for (at, days_into_cycle) in [
        (at(2026, 12, 1, 0, 5), 0),
        (at(2026, 12, 1, 23, 50), 0),
        (at(2026, 11, 30, 23, 50), 29),
        (at(2028, 2, 29, 12, 0), 5),
        (at(2028, 3, 1, 6, 0), 1),
        (at(2026, 3, 29, 1, 30), 5),
        (at(2026, 11, 1, 6, 30), 5),
    ] {
        translates_the_tenant_at(at, days_into_cycle).await;
    }
}

/// Every endpoint against a simulated tenant, the clocks at `at`, in a cycle that began
/// `days_into_cycle` days before `at`'s day.
async fn translates_the_tenant_at(at: DateTime<Utc>, days_into_cycle: i64) {
    let sim = sim_at(at).await;
    let today = at.date_naive();
    let start = midnight(today) - Days::days(days_into_cycle);
    sim.set_cycles(Some(vec![
        (start - Days::days(30), start),
        (start, start + Days::days(30)),
    ]));
    let d = support::start_at_created(&config(&sim, CLIENT_SECRET, ALL_FAST), at).await;
    let body = d
        .wait_for(WAIT, |b| {
            b.contains("aveva_cds_ingress_events_total")
                && b.contains("aveva_cds_community_daily_egress_events")
                && b.contains("aveva_cds_streams{")
                && b.contains("aveva_cds_billing_cycle_end_timestamp_seconds")
        })
        .await;
    support::assert_valid_openmetrics(&body);

    let t = ("tenant_id", TENANT_ID);
    assert_eq!(
        sample(
            &body,
            "aveva_cds_billing_cycle_start_timestamp_seconds",
            &[t]
        ),
        Some(start.timestamp() as f64)
    );
    assert_eq!(
        sample(&body, "aveva_cds_billing_cycle_end_timestamp_seconds", &[t]),
        Some((start + Days::days(30)).timestamp() as f64)
    );

    // The newest record is today's (partial, and on a cycle's first day the only one).
    assert_eq!(
        sample(&body, "aveva_cds_usage_latest_day_timestamp_seconds", &[t]),
        Some(midnight(today).timestamp() as f64),
        "{at}"
    );

    // Tenant usage grouped by namespace: past days exact, counters = sum of the days.
    let namespaces = sim.namespaces();
    assert_eq!(namespaces.len(), 3);
    for ns in &namespaces {
        let region = if ns.region.is_number() {
            "2"
        } else {
            "West US"
        };
        let labels = [
            t,
            ("namespace_id", ns.id.as_str()),
            ("cluster_region", region),
        ];
        let mut past_sum = 0.0;
        for back in 1..=days_into_cycle {
            let day = today - Days::days(back);
            let expected = sim.namespace_day(&ns.id, day).ingress_events as f64;
            let date = day.to_string();
            let mut with_date = labels.to_vec();
            with_date.push(("date", date.as_str()));
            assert_eq!(
                sample(&body, "aveva_cds_daily_ingress_events", &with_date),
                Some(expected),
                "{} {date}",
                ns.id
            );
            past_sum += expected;
        }
        let today_text = today.to_string();
        let mut today_labels = labels.to_vec();
        today_labels.push(("date", today_text.as_str()));
        let today_value = sample(&body, "aveva_cds_daily_ingress_events", &today_labels).unwrap();
        let total = sample(&body, "aveva_cds_ingress_events_total", &labels).unwrap();
        assert_eq!(total, past_sum + today_value, "{}", ns.id);
        assert_eq!(
            sample(&body, "aveva_cds_ingress_events_created", &labels),
            Some(start.timestamp() as f64)
        );
        // Every date of this cycle so far, none of the previous one.
        assert_eq!(
            samples(&body, "aveva_cds_daily_egress_events", &labels).len(),
            days_into_cycle as usize + 1,
            "{at}"
        );
    }

    // Community usage: both sources, per partner tenant, for yesterday (when it is in the cycle).
    if days_into_cycle > 0 {
        let community = &sim.communities()[0];
        let partner = community.partners[0].as_str();
        let yesterday = (today - Days::days(1)).to_string();
        let internal = sample(
            &body,
            "aveva_cds_community_daily_egress_events",
            &[
                t,
                ("community_id", community.id.as_str()),
                ("source", "internal"),
                ("caller_tenant_id", TENANT_ID),
                ("callee_tenant_id", partner),
                ("date", yesterday.as_str()),
            ],
        );
        let day = today - Days::days(1);
        assert_eq!(
            internal,
            Some(
                sim.community_day(&community.id, partner, true, day)
                    .egress_events as f64
            )
        );
        let external = sample(
            &body,
            "aveva_cds_community_daily_egress_streams_accessed",
            &[
                ("community_id", community.id.as_str()),
                ("source", "external"),
                ("caller_tenant_id", partner),
                ("callee_tenant_id", TENANT_ID),
                ("date", yesterday.as_str()),
            ],
        );
        assert_eq!(
            external,
            Some(
                sim.community_day(&community.id, partner, false, day)
                    .egress_streams_accessed as f64
            )
        );
    }

    // Resources.
    let streams: u64 = namespaces.iter().map(|n| n.streams).sum();
    assert_eq!(
        sample(&body, "aveva_cds_streams", &[t]),
        Some(streams as f64)
    );
    assert_eq!(sample(&body, "aveva_cds_namespaces", &[t]), Some(3.0));
    assert_eq!(
        sample(&body, "aveva_cds_namespaces_entitled", &[t]),
        Some(5.0)
    );
    assert!(sample(&body, "aveva_cds_streams_entitled", &[t]).unwrap() > streams as f64);
    assert!(sample(&body, "aveva_cds_stream_accesses_entitled_per_day", &[t]).unwrap() > 0.0);

    // One token served every endpoint; the secret shows nowhere.
    assert_eq!(sim.token_requests(), 1);
    let (_, landing) = d.get("/").await;
    assert!(!body.contains(CLIENT_SECRET) && !landing.contains(CLIENT_SECRET));
    d.stop().await;
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let sim = sim_with(
        ordinary(),
        SimConfig {
            token_lifetime: Duration::from_secs(2),
            ..SimConfig::default()
        },
    )
    .await;
    let d = support::start_at(&config(&sim, CLIENT_SECRET, ALL_FAST), ordinary()).await;
    let started = Instant::now();
    while sim.token_requests() < 3 {
        assert!(started.elapsed() < WAIT, "no token refresh happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two refreshes of a 2 s token renewed at 80 % of its life need at least 3.2 s; tokens were
    // reused meanwhile, and no request ever went out with an expired token.
    assert!(
        started.elapsed() >= Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
    assert!(sim.api_requests("/api/v1/").len() > 12);
    assert_eq!(sim.rejected_tokens(), 0);
    let body = d.metrics().await;
    for endpoint in [
        "tenant_usage",
        "community_usage",
        "resource_usage",
        "billing_cycles",
    ] {
        assert_eq!(errors(&body, endpoint, "auth"), 0.0, "{endpoint}");
        assert_eq!(
            sample(
                &body,
                "usage_exporter_poll_success",
                &[("source", "aveva"), ("endpoint", endpoint)]
            ),
            Some(1.0)
        );
    }
    d.stop().await;
}

#[tokio::test]
async fn a_rejected_token_is_renewed_once_and_the_request_retried() {
    let sim = sim_at(ordinary()).await;
    let d = support::start_at(&config(&sim, CLIENT_SECRET, ALL_FAST), ordinary()).await;
    d.wait_for(WAIT, |b| b.contains("aveva_cds_ingress_events_total"))
        .await;
    assert_eq!(sim.token_requests(), 1);
    sim.revoke_tokens();
    let started = Instant::now();
    while sim.rejected_tokens() == 0 || sim.api_requests("/api/v1/").len() < 20 {
        assert!(started.elapsed() < WAIT, "no request after revocation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = sim.api_requests("/api/v1/").len();
    d.wait_for(WAIT, |_| sim.api_requests("/api/v1/").len() > before + 8)
        .await;
    // Endpoints that hit the 401 together share one new token; polls did not fail.
    assert_eq!(sim.token_requests(), 2);
    let body = d.metrics().await;
    for endpoint in [
        "tenant_usage",
        "community_usage",
        "resource_usage",
        "billing_cycles",
    ] {
        assert_eq!(errors(&body, endpoint, "auth"), 0.0, "{endpoint}");
    }
    d.stop().await;
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_and_shows_the_vendor_text() {
    let sim = sim_at(ordinary()).await;
    let d = support::start_at(
        &config(
            &sim,
            CLIENT_SECRET,
            "{tenant_usage: 200ms, community_usage: off, resource_usage: off, billing_cycles: off}",
        ),
        ordinary(),
    )
    .await;
    d.wait_for(WAIT, |b| b.contains("aveva_cds_ingress_events_total"))
        .await;
    let path = format!("/tenants/{TENANT_ID}/usage");
    let before = sim.api_requests(&path).len();
    sim.rate_limit(429, 2, 1, &path);
    let body = d
        .wait_for(WAIT, |b| errors(b, "tenant_usage", "rate_limited") >= 1.0)
        .await;
    // The last good data stays while backing off.
    assert!(sample(
        &body,
        "aveva_cds_ingress_events_total",
        &[("namespace_id", "production")]
    )
    .is_some());
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("Too many requests."), "{landing}");
    assert!(landing.contains("operation id sim-op-"), "{landing}");
    assert!(landing.contains("retrying after 2 s"), "{landing}");
    // The next request comes no earlier than Retry-After after the 429.
    d.wait_for(WAIT, |b| {
        b.contains("usage_exporter_poll_success{source=\"aveva\",target=\"cds\",endpoint=\"tenant_usage\"} 1")
            && sim.api_requests(&path).len() > before + 1
    })
    .await;
    let times = sim.api_requests(&path);
    let limited = times[before];
    let next = times[before + 1];
    assert!(
        next.duration_since(limited) >= Duration::from_millis(1990),
        "retried after {:?}",
        next.duration_since(limited)
    );
    assert_eq!(
        errors(&d.metrics().await, "tenant_usage", "rate_limited"),
        1.0
    );
    d.stop().await;
}

#[tokio::test]
async fn wrong_client_secret_is_an_auth_error_with_backoff() {
    let sim = sim_at(ordinary()).await;
    let wrong = "not-the-secret-42";
    let d = support::start_at(&config(&sim, wrong, ALL_FAST), ordinary()).await;
    let body = d
        .wait_for(WAIT, |b| {
            [
                "tenant_usage",
                "community_usage",
                "resource_usage",
                "billing_cycles",
            ]
            .iter()
            .all(|e| errors(b, e, "auth") >= 1.0)
        })
        .await;
    assert!(!body.contains("aveva_cds_"), "no data without a token");
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("failed: auth"), "{landing}");
    assert!(landing.contains("invalid_client"), "{landing}");
    assert!(
        landing.contains("check client_id and client_secret"),
        "{landing}"
    );
    assert!(!landing.contains(wrong) && !body.contains(wrong));
    // Four endpoints polling every 200 ms share one rejected token request and back off.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sim.token_requests(), 1);
    let body = d.metrics().await;
    for endpoint in [
        "tenant_usage",
        "community_usage",
        "resource_usage",
        "billing_cycles",
    ] {
        assert_eq!(errors(&body, endpoint, "auth"), 1.0, "{endpoint}");
    }
    assert!(sim.api_requests("/api/v1/").is_empty());
    d.stop().await;
}

#[tokio::test]
async fn billing_cycle_rollover_restarts_counters_and_drops_old_dates() {
    // Both clocks one hour before a month (and billing cycle, and year) begins.
    let next_month = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let sim = sim_at(next_month - Days::hours(1)).await;
    let old_start = sim.current_cycle().0;
    let clock = TestClock::running_from((next_month - Days::hours(1)).into());
    let d =
        support::start_with_clock_created(&config(&sim, CLIENT_SECRET, ALL_FAST), clock.clone())
            .await;
    let ns = [("namespace_id", "production")];
    let created = |b: &str| sample(b, "aveva_cds_ingress_events_created", &ns);
    let body = d
        .wait_for(WAIT, |b| created(b) == Some(old_start.timestamp() as f64))
        .await;
    let old_date = old_start.date_naive().to_string();
    assert!(
        samples(
            &body,
            "aveva_cds_daily_ingress_events",
            &[ns[0], ("date", &old_date)]
        )
        .len()
            == 1
    );
    let old_total = sample(&body, "aveva_cds_ingress_events_total", &ns).unwrap();

    // Two hours later on both clocks the new cycle has begun.
    sim.clock()
        .set_offset(next_month + Days::hours(1) - Utc::now());
    clock.set((next_month + Days::hours(1)).into());
    assert_eq!(sim.current_cycle().0, next_month);
    let body = d
        .wait_for(WAIT, |b| {
            created(b) == Some(next_month.timestamp() as f64)
                // The billing cycles endpoint polls on its own schedule: wait for it too.
                && sample(b, "aveva_cds_billing_cycle_start_timestamp_seconds", &[])
                    == Some(next_month.timestamp() as f64)
                && samples(
                    b,
                    "aveva_cds_community_daily_egress_events",
                    &[("date", &old_date)],
                )
                .is_empty()
                && !samples(b, "aveva_cds_community_daily_egress_events", &[]).is_empty()
        })
        .await;
    let new_date = next_month.date_naive().to_string();
    let dates: Vec<String> = samples(&body, "aveva_cds_daily_ingress_events", &[])
        .into_iter()
        .flat_map(|l| {
            l.labels
                .into_iter()
                .filter(|(k, _)| k == "date")
                .map(|(_, v)| v)
        })
        .collect();
    assert!(!dates.is_empty());
    assert!(dates.iter().all(|d| *d == new_date), "{dates:?}");
    // The new cycle's counter holds one hour of one day: far below a month of the old one.
    let new_total = sample(&body, "aveva_cds_ingress_events_total", &ns).unwrap();
    let expected = sim
        .namespace_day("production", next_month.date_naive())
        .ingress_events as f64;
    assert!(
        new_total <= expected && new_total < old_total,
        "{new_total} {expected} {old_total}"
    );
    assert_eq!(
        sample(
            &body,
            "aveva_cds_billing_cycle_start_timestamp_seconds",
            &[]
        ),
        Some(next_month.timestamp() as f64)
    );
    support::assert_valid_openmetrics(&body);
    d.stop().await;
}

#[tokio::test]
async fn vendor_errors_are_readable_and_name_the_operation() {
    let sim = sim_at(ordinary()).await;
    sim.fail_with(
        403,
        "/resources/usage",
        "Forbidden.",
        "The client does not have the required role.",
        "Assign the Account Administrator role to the client.",
    );
    let unknown = "deadbeef-0000-4000-8000-000000000000";
    let yaml = format!(
        "sources:\n  aveva:\n    - name: cds\n      url: {}\n      tenant_id: {TENANT_ID}\n      client_id: {CLIENT_ID}\n      client_secret: {CLIENT_SECRET}\n      community_ids: [{}, {unknown}]\n      endpoints: {ALL_FAST}\n",
        sim.url(),
        sim.communities()[0].id
    );
    let d = support::start_at(&yaml, ordinary()).await;
    const COMMUNITY: [(&str, &str); 2] = [("source", "aveva"), ("endpoint", "community_usage")];
    let failed_units = |b: &str| sample(b, "usage_exporter_poll_failed_units", &COMMUNITY);
    let unit_errors = |b: &str| {
        sample(
            b,
            "usage_exporter_poll_unit_errors_total",
            &[COMMUNITY[0], COMMUNITY[1], ("reason", "http_4xx")],
        )
    };
    let known = sim.communities()[0].id.clone();
    // The data may lag the poll states by one background encode: wait for both.
    let body = d
        .wait_for(WAIT, |b| {
            errors(b, "resource_usage", "auth") >= 1.0
                && unit_errors(b).is_some_and(|v| v >= 2.0)
                && b.contains("aveva_cds_ingress_events_total")
                && !samples(
                    b,
                    "aveva_cds_community_daily_ingress_events",
                    &[("community_id", &known)],
                )
                .is_empty()
        })
        .await;
    // The unknown community costs its own two units (internal and external usage) only: the
    // known community's series are served and the poll counts as a success.
    assert_eq!(failed_units(&body), Some(2.0));
    assert_eq!(errors(&body, "community_usage", "http_4xx"), 0.0);
    assert!(!samples(
        &body,
        "aveva_cds_community_daily_ingress_events",
        &[("community_id", &known)]
    )
    .is_empty());
    assert!(samples(
        &body,
        "aveva_cds_community_daily_ingress_events",
        &[("community_id", unknown)]
    )
    .is_empty());
    let (_, landing) = d.get("/").await;
    for text in [
        "GET /api/v1/tenants/6c1ad4ba-6a49-4b33-a4a1-7e0f2d0b5c11/resources/usage: HTTP 403 Forbidden; Forbidden.; reason: The client does not have the required role.; resolution: Assign the Account Administrator role to the client. (operation id sim-op-",
        &format!("community {unknown} (Internal usage): GET /api/v1/communities/{unknown}"),
        "Community not found.",
    ] {
        assert!(landing.contains(&text.replace('\'', "&#39;")), "missing {text:?} in {landing}");
    }
    // Once the vendor stops refusing, data arrives.
    sim.clear_error();
    d.wait_for(WAIT, |b| b.contains("aveva_cds_streams{")).await;
    d.stop().await;
}

#[tokio::test]
async fn latest_day_follows_the_newest_record_and_shows_a_lagging_pipeline() {
    // Just after 00:00 UTC, on both clocks, in a cycle that began five days ago.
    let at = Utc.with_ymd_and_hms(2026, 11, 18, 0, 5, 0).unwrap();
    let today = at.date_naive();
    let start = midnight(today) - Days::days(5);
    let sim = sim_at(at).await;
    sim.set_cycles(Some(vec![(start, start + Days::days(30))]));
    let endpoints =
        "{tenant_usage: 200ms, community_usage: off, resource_usage: off, billing_cycles: off}";
    let d = support::start_at(&config(&sim, CLIENT_SECRET, endpoints), at).await;
    let labels = [("target", "cds"), ("tenant_id", TENANT_ID)];
    let latest = |b: &str| sample(b, "aveva_cds_usage_latest_day_timestamp_seconds", &labels);
    // `time() - aveva_cds_usage_latest_day_timestamp_seconds > 2.5 * 86400`, at `at`.
    let fires = |latest: f64| at.timestamp() as f64 - latest > 2.5 * 86_400.0;

    // The new day's record (five minutes of usage) is the newest.
    let body = d
        .wait_for(WAIT, |b| {
            latest(b) == Some(midnight(today).timestamp() as f64)
        })
        .await;
    support::assert_valid_openmetrics(&body);
    assert!(!fires(latest(&body).unwrap()));

    // The usage pipeline falls two days behind: yesterday's and today's records are missing.
    sim.set_usage_lag(2);
    let two_back = midnight(today - Days::days(2)).timestamp() as f64;
    let body = d.wait_for(WAIT, |b| latest(b) == Some(two_back)).await;
    assert!(!fires(latest(&body).unwrap()), "2 days and 5 minutes old");
    sim.set_usage_lag(3);
    let three_back = midnight(today - Days::days(3)).timestamp() as f64;
    let body = d.wait_for(WAIT, |b| latest(b) == Some(three_back)).await;
    assert!(fires(latest(&body).unwrap()), "3 days and 5 minutes old");

    // No record of this cycle at all: no series (never a made-up value), the poll still works.
    sim.set_usage_lag(10);
    let body = d.wait_for(WAIT, |b| latest(b).is_none()).await;
    assert_eq!(
        sample(
            &body,
            "usage_exporter_poll_success",
            &[("source", "aveva"), ("endpoint", "tenant_usage")]
        ),
        Some(1.0)
    );
    assert!(samples(&body, "aveva_cds_daily_ingress_events", &[]).is_empty());
    d.stop().await;
}

/// Tenant usage only, polled fast.
const USAGE_ONLY: &str =
    "{tenant_usage: 200ms, community_usage: off, resource_usage: off, billing_cycles: off}";

/// `aveva_cds_ingress_events_total` of a namespace.
fn ingress_total(body: &str, namespace: &str) -> Option<f64> {
    sample(
        body,
        "aveva_cds_ingress_events_total",
        &[("namespace_id", namespace)],
    )
}

/// `aveva_cds_daily_ingress_events` of a namespace on a day.
fn ingress_on(body: &str, namespace: &str, day: NaiveDate) -> Option<f64> {
    let date = day.to_string();
    sample(
        body,
        "aveva_cds_daily_ingress_events",
        &[("namespace_id", namespace), ("date", &date)],
    )
}

/// `aveva_cds_usage_downward_revisions_total{measure}`.
fn revisions(body: &str, measure: &str) -> Option<f64> {
    sample(
        body,
        "aveva_cds_usage_downward_revisions_total",
        &[("tenant_id", TENANT_ID), ("measure", measure)],
    )
}

const MEASURES: [&str; 4] = [
    "ingress_events",
    "ingress_streams_accessed",
    "egress_events",
    "egress_streams_accessed",
];

/// What the ingress counter of `namespace` must be in `body`: the simulator's past days of the
/// cycle (with `yesterday_counted` for yesterday) plus today's record as the same answer holds it
/// (today only grows, so its mark is the answer's value).
fn expected_ingress(
    sim: &AvevaSim,
    body: &str,
    namespace: &str,
    today: NaiveDate,
    days_into_cycle: i64,
    yesterday_counted: f64,
) -> f64 {
    let mut sum = yesterday_counted;
    for back in 2..=days_into_cycle {
        sum += sim
            .namespace_day(namespace, today - Days::days(back))
            .ingress_events as f64;
    }
    sum + ingress_on(body, namespace, today).expect("today's record")
}

/// A simulated tenant at `at` in a 30-day cycle that began `days_into_cycle` days before.
async fn mid_cycle(at: DateTime<Utc>, days_into_cycle: i64) -> AvevaSim {
    let sim = sim_at(at).await;
    let start = midnight(at.date_naive()) - Days::days(days_into_cycle);
    sim.set_cycles(Some(vec![
        (start - Days::days(30), start),
        (start, start + Days::days(30)),
    ]));
    sim
}

#[tokio::test]
async fn a_day_revised_down_keeps_the_counter_and_is_counted_once() {
    let at = ordinary();
    let (today, yesterday) = (at.date_naive(), at.date_naive() - Days::days(1));
    let sim = mid_cycle(at, 5).await;
    let d = support::start_at(&config(&sim, CLIENT_SECRET, USAGE_ONLY), at).await;
    let ns = "production";
    let original = sim.namespace_day(ns, yesterday);
    let body = d
        .wait_for(WAIT, |b| {
            ingress_on(b, ns, yesterday) == Some(original.ingress_events as f64)
        })
        .await;
    let before = ingress_total(&body, ns).unwrap();
    let counted = original.ingress_events as f64;
    assert_eq!(before, expected_ingress(&sim, &body, ns, today, 5, counted));
    for measure in MEASURES {
        assert_eq!(revisions(&body, measure), Some(0.0), "{measure}");
    }

    // The vendor halves yesterday's record: the gauge shows it, the counter keeps what it counted.
    sim.revise_day(ns, yesterday, 0.5);
    let halved = sim.namespace_day(ns, yesterday).ingress_events as f64;
    assert!(halved < counted);
    let last = std::cell::Cell::new(before);
    let body = d
        .wait_for(WAIT, |b| {
            let total = ingress_total(b, ns).unwrap();
            assert!(
                total >= last.get(),
                "the counter went down: {} → {total}",
                last.get()
            );
            last.set(total);
            ingress_on(b, ns, yesterday) == Some(halved)
        })
        .await;
    let after = ingress_total(&body, ns).unwrap();
    assert!(after >= before, "{before} → {after}");
    assert_eq!(after, expected_ingress(&sim, &body, ns, today, 5, counted));
    // Every measure of that one record went down: one revision each.
    for measure in MEASURES {
        assert_eq!(revisions(&body, measure), Some(1.0), "{measure}");
    }
    support::assert_valid_openmetrics(&body);

    // Polls go on with the record still low: counted once, not once per poll.
    let path = format!("/tenants/{TENANT_ID}/usage");
    let polls = sim.api_requests(&path).len();
    d.wait_for(WAIT, |_| sim.api_requests(&path).len() >= polls + 4)
        .await;
    let body = d.metrics().await;
    assert_eq!(revisions(&body, "ingress_events"), Some(1.0));
    assert!(ingress_total(&body, ns).unwrap() >= after);

    // Revised up above what was counted: the counter adds the difference, no new revision.
    sim.revise_day(ns, yesterday, 1.5);
    let raised = sim.namespace_day(ns, yesterday).ingress_events as f64;
    let body = d
        .wait_for(WAIT, |b| ingress_on(b, ns, yesterday) == Some(raised))
        .await;
    assert_eq!(
        ingress_total(&body, ns).unwrap(),
        expected_ingress(&sim, &body, ns, today, 5, raised)
    );
    assert_eq!(revisions(&body, "ingress_events"), Some(1.0));
    d.stop().await;
}

#[tokio::test]
async fn day_one_of_a_cycle_asks_a_one_day_range_and_counts_todays_partial_usage() {
    // 09:00 UTC on a cycle's first day, on both clocks.
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    let today = at.date_naive();
    let sim = mid_cycle(at, 0).await;
    let endpoints =
        "{tenant_usage: 200ms, community_usage: 200ms, resource_usage: off, billing_cycles: off}";
    let d = support::start_at_created(&config(&sim, CLIENT_SECRET, endpoints), at).await;
    let ns = "production";
    let body = d
        .wait_for(WAIT, |b| {
            ingress_total(b, ns).is_some()
                && !samples(b, "aveva_cds_community_daily_egress_events", &[]).is_empty()
        })
        .await;
    // Every usage request asked for [cycle start, tomorrow 00:00): one day, today included.
    let queries = sim.api_queries("/usage");
    assert!(queries.len() >= 3, "{queries:?}");
    for query in &queries {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("start"), Some("2026-12-01T00:00:00Z"), "{query:?}");
        assert_eq!(get("end"), Some("2026-12-02T00:00:00Z"), "{query:?}");
    }
    // The counter holds today's nine partial hours, and nothing of the old cycle.
    let total = ingress_total(&body, ns).unwrap();
    assert!(total > 0.0);
    assert_eq!(Some(total), ingress_on(&body, ns, today));
    assert!(total <= sim.namespace_day(ns, today).ingress_events as f64);
    assert_eq!(
        sample(
            &body,
            "aveva_cds_ingress_events_created",
            &[("namespace_id", ns)]
        ),
        Some(midnight(today).timestamp() as f64)
    );
    assert_eq!(
        samples(
            &body,
            "aveva_cds_daily_ingress_events",
            &[("namespace_id", ns)]
        )
        .len(),
        1
    );
    for endpoint in ["tenant_usage", "community_usage"] {
        assert_eq!(errors(&body, endpoint, "http_4xx"), 0.0, "{endpoint}");
    }
    // Through the day the counter grows with today's record.
    let body = d
        .wait_for(WAIT, |b| ingress_total(b, ns).is_some_and(|t| t > total))
        .await;
    assert_eq!(ingress_total(&body, ns), ingress_on(&body, ns, today));
    d.stop().await;
}

/// The state file of the target's tenant usage marks in `dir`, decoded.
fn usage_state(dir: &std::path::Path) -> serde_json::Value {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("aveva_cds_usage_") && name.ends_with(".json")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(
        envelope["slot"],
        format!("aveva/cds/usage/{TENANT_ID}/Namespace")
    );
    envelope["data"].clone()
}

/// The dates with marks in a decoded state.
fn marked_dates(state: &serde_json::Value) -> std::collections::BTreeSet<String> {
    state["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["days"].as_object().unwrap().keys().cloned())
        .collect()
}

#[tokio::test]
async fn a_revision_during_a_restart_does_not_lower_the_counter() {
    let at = ordinary();
    let (today, yesterday) = (at.date_naive(), at.date_naive() - Days::days(1));
    let sim = mid_cycle(at, 5).await;
    let state = tempfile::tempdir().unwrap();
    let yaml = config(&sim, CLIENT_SECRET, USAGE_ONLY);
    let ns = "production";
    let counted = sim.namespace_day(ns, yesterday).ingress_events as f64;
    let clock = TestClock::running_from(at.into());
    let d = support::start_with_state(&yaml, clock.clone(), state.path()).await;
    let body = d
        .wait_for(WAIT, |b| ingress_on(b, ns, yesterday) == Some(counted))
        .await;
    let before = ingress_total(&body, ns).unwrap();
    let counting_since = sample(
        &body,
        "aveva_cds_usage_downward_revisions_created",
        &[("measure", "ingress_events")],
    )
    .unwrap();
    assert_eq!(
        sample(&body, "usage_exporter_state_persistent", &[]),
        Some(1.0)
    );
    d.stop().await;
    // What the scrape saw is on disk.
    let saved = usage_state(state.path());
    assert_eq!(saved["cycle_start"], "2026-11-12T00:00:00Z");
    assert_eq!(marked_dates(&saved).len(), 6);

    // While the exporter is down the vendor halves yesterday's record.
    sim.revise_day(ns, yesterday, 0.5);
    let halved = sim.namespace_day(ns, yesterday).ingress_events as f64;
    let d = support::start_with_state(&yaml, clock.clone(), state.path()).await;
    let body = d
        .wait_for(WAIT, |b| ingress_on(b, ns, yesterday) == Some(halved))
        .await;
    let after = ingress_total(&body, ns).unwrap();
    assert!(after >= before, "{before} → {after}");
    assert_eq!(after, expected_ingress(&sim, &body, ns, today, 5, counted));
    assert_eq!(revisions(&body, "ingress_events"), Some(1.0));
    assert_eq!(
        sample(
            &body,
            "aveva_cds_usage_downward_revisions_created",
            &[("measure", "ingress_events")],
        ),
        Some(counting_since),
        "counting continues from the first daemon's start"
    );
    d.stop().await;

    // Without the state the same restart would have lowered the counter (a reset to Prometheus).
    let d = support::start_with_clock(&yaml, clock.clone()).await;
    let body = d
        .wait_for(WAIT, |b| ingress_on(b, ns, yesterday) == Some(halved))
        .await;
    assert!(ingress_total(&body, ns).unwrap() < before);
    d.stop().await;
}

#[tokio::test]
async fn a_new_cycle_drops_the_old_cycles_marks_from_the_state() {
    let next_month = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let sim = sim_at(next_month - Days::hours(1)).await;
    let old_start = sim.current_cycle().0;
    let state = tempfile::tempdir().unwrap();
    let clock = TestClock::running_from((next_month - Days::hours(1)).into());
    let yaml = config(&sim, CLIENT_SECRET, USAGE_ONLY);
    let d = support::start_with_state(&yaml, clock.clone(), state.path()).await;
    let ns = "production";
    let created = |b: &str| {
        sample(
            b,
            "aveva_cds_ingress_events_created",
            &[("namespace_id", ns)],
        )
    };
    let body = d
        .wait_for(WAIT, |b| created(b) == Some(old_start.timestamp() as f64))
        .await;
    let old_total = ingress_total(&body, ns).unwrap();
    let saved = usage_state(state.path());
    assert_eq!(saved["cycle_start"], "2026-12-01T00:00:00Z");
    assert_eq!(marked_dates(&saved).len(), 31, "every day of December");

    sim.clock()
        .set_offset(next_month + Days::hours(1) - Utc::now());
    clock.set((next_month + Days::hours(1)).into());
    let body = d
        .wait_for(WAIT, |b| created(b) == Some(next_month.timestamp() as f64))
        .await;
    // The new cycle counts from its own first day; the old cycle's marks are gone.
    let new_total = ingress_total(&body, ns).unwrap();
    assert!(new_total < old_total, "{new_total} {old_total}");
    assert_eq!(
        Some(new_total),
        ingress_on(&body, ns, next_month.date_naive())
    );
    let saved = usage_state(state.path());
    assert_eq!(saved["cycle_start"], "2027-01-01T00:00:00Z");
    assert_eq!(
        marked_dates(&saved),
        ["2027-01-01".to_string()].into_iter().collect()
    );
    // A new cycle is not a revision.
    assert_eq!(revisions(&body, "ingress_events"), Some(0.0));
    d.stop().await;
}
