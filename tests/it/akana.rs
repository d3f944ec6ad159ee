//! The Akana source against its simulator over HTTP: login, session reuse, renewal, expiry,
//! CSRF, rejected logins with back-off, the month rollover and faults.

use crate::support::{self, assert_valid_openmetrics, sample, samples};
use chrono::{TimeZone, Utc};
use std::time::{Duration, Instant};
use usage_exporter_sim::akana::{AkanaSim, Data, State};
use usage_exporter_sim::Fault;

const WAIT: Duration = Duration::from_secs(15);
const FEB_1_2026: f64 = 1769904000.0;
const MAR_1_2026: f64 = 1772323200.0;

/// Daemon config with one akana target for `sim`; `extra` lines go into the target item.
fn config(sim: &AkanaSim, extra: &str) -> String {
    let mut item = sim.config_yaml("portal");
    item.push_str("\nendpoints: {metrics: 200ms}");
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        item.push('\n');
        item.push_str(line);
    }
    let mut out = String::from("sources:\n  akana:\n");
    for (i, line) in item.lines().enumerate() {
        out.push_str(if i == 0 { "    - " } else { "      " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The default simulator state changed by `f`.
fn state(f: impl FnOnce(&mut State)) -> State {
    let mut s = State::default();
    f(&mut s);
    s
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn metrics_path() -> &'static str {
    "GET /platform/subscriptions/acmepaymentscorp/metrics"
}

fn auth_errors(body: &str) -> f64 {
    sample(
        body,
        "usage_exporter_poll_errors_total",
        &[("source", "akana"), ("reason", "auth")],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn login_and_vendor_sample_over_http() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let d = support::start_created(&config(&sim, "")).await;
    let calls = |b: &str| {
        sample(
            b,
            "akana_api_calls_total",
            &[("metric_id", "PlatformApiUsage")],
        )
    };
    let body = d.wait_for(WAIT, |b| calls(b).is_some()).await;
    assert_valid_openmetrics(&body);
    let l = |m: &'static str| {
        [
            ("target", "portal"),
            ("subscription", "acmepaymentscorp"),
            ("metric_id", m),
        ]
    };
    assert_eq!(
        sample(&body, "akana_api_calls_total", &l("PlatformApiUsage")),
        Some(3423.0)
    );
    assert_eq!(
        sample(&body, "akana_api_calls_created", &l("PlatformApiUsage")),
        Some(1454284800.0)
    );
    assert_eq!(
        sample(
            &body,
            "akana_api_response_time_seconds_total",
            &l("PlatformApiUsage")
        ),
        Some(385.141)
    );
    assert_eq!(
        sample(
            &body,
            "akana_api_response_bytes_total",
            &l("CustomerApiUsage")
        ),
        Some(1716.0)
    );
    assert_eq!(
        sample(
            &body,
            "akana_daily_api_calls",
            &[("metric_id", "PlatformApiUsage"), ("date", "2016-02-23")]
        ),
        Some(1588.0)
    );
    assert_eq!(
        sample(
            &body,
            "akana_metric",
            &[("metric_id", "UserAccountsCount"), ("units", "Number")]
        ),
        Some(2.0)
    );
    assert_eq!(
        samples(&body, "akana_metric_item_info", &[("target", "portal")]).len(),
        7
    );
    assert_eq!(
        sample(
            &body,
            "akana_report_generated_timestamp_seconds",
            &[("target", "portal")]
        ),
        Some(1456255785.018)
    );
    // The session is reused across polls: one login for many metric calls.
    wait_until("three metric calls", || sim.metrics_calls() >= 3).await;
    assert_eq!(sim.logins(), 1);
    assert_eq!(sim.count(&format!("{} 401", metrics_path())), 0);
    let (query, accept) = sim.with(|s| (s.metrics_queries[0].clone(), s.last_accept.clone()));
    assert!(query.contains("IncludePerDayUsage=true"), "{query}");
    assert!(query.contains("IncludeMetricItemList=true"), "{query}");
    assert!(
        !query.contains("MetricID") && !query.contains("ReportMonth"),
        "{query}"
    );
    assert_eq!(accept.as_deref(), Some("application/vnd.soa.v80+json"));
    let body = d.metrics().await;
    assert!(!body.contains("AtmoAuthToken") && !body.contains("s3cret-Pa55"));
    d.stop().await;
}

#[tokio::test]
async fn metric_ids_filter_is_sent() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let d = support::start(&config(
        &sim,
        "metric_ids: [ApiCount, PlatformApiUsage]\nitem_info: false",
    ))
    .await;
    let body = d
        .wait_for(WAIT, |b| {
            sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
        })
        .await;
    assert!(sample(&body, "akana_metric", &[("metric_id", "AppCount")]).is_none());
    assert_eq!(
        sample(
            &body,
            "akana_api_calls_total",
            &[("metric_id", "PlatformApiUsage")]
        ),
        Some(3423.0)
    );
    assert!(samples(&body, "akana_metric_item_info", &[]).is_empty());
    let query = sim.with(|s| s.metrics_queries[0].clone());
    assert!(
        query.contains("MetricID=ApiCount&MetricID=PlatformApiUsage"),
        "{query}"
    );
    d.stop().await;
}

#[tokio::test]
async fn expired_token_leads_to_exactly_one_relogin() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let d = support::start(&config(&sim, "")).await;
    d.wait_for(WAIT, |b| {
        sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
    })
    .await;
    assert_eq!(sim.logins(), 1);
    sim.expire_tokens();
    let before = sim.metrics_calls();
    wait_until("four more metric calls", || {
        sim.metrics_calls() >= before + 4
    })
    .await;
    assert_eq!(sim.logins(), 2, "one new login after the 401");
    assert_eq!(
        sim.count(&format!("{} 401", metrics_path())),
        1,
        "one refused call"
    );
    assert_eq!(sim.count("POST /api/login 200"), 2);
    let body = d.metrics().await;
    assert_eq!(
        auth_errors(&body),
        0.0,
        "the retry hid the expiry from the poll result"
    );
    assert_eq!(
        sample(&body, "usage_exporter_poll_success", &[("source", "akana")]),
        Some(1.0)
    );
    d.stop().await;
}

#[tokio::test]
async fn token_is_renewed_before_it_expires() {
    // The lifetime is learnt from the token itself (issueTime/expirationTime): 3s here.
    let sim = AkanaSim::start(state(|s| {
        s.token_lifetime = Duration::from_secs(3);
    }))
    .await
    .unwrap();
    let d = support::start(&config(&sim, "")).await;
    wait_until("two renewals", || sim.renewals() >= 2).await;
    assert_eq!(sim.logins(), 1, "renewal, not new logins");
    assert_eq!(
        sim.count("POST /api/login/renewToken 401"),
        0,
        "CSRF header sent on renewal"
    );
    assert_eq!(sim.count(&format!("{} 401", metrics_path())), 0);
    let body = d.metrics().await;
    assert_eq!(auth_errors(&body), 0.0);
    d.stop().await;
}

#[tokio::test]
async fn configured_token_lifetime_caps_the_renewal_interval() {
    let sim = AkanaSim::start(State::default()).await.unwrap(); // tokens live 30 min
    let d = support::start(&config(&sim, "token_lifetime: 4s")).await;
    wait_until("a renewal", || sim.renewals() >= 1).await;
    assert_eq!(sim.logins(), 1);
    d.stop().await;
}

#[tokio::test]
async fn csrf_required_mode_sends_the_header() {
    let sim = AkanaSim::start(state(|s| {
        s.csrf_required = true;
    }))
    .await
    .unwrap();
    let d = support::start(&config(&sim, "")).await;
    d.wait_for(WAIT, |b| {
        sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
    })
    .await;
    wait_until("three metric calls", || sim.metrics_calls() >= 3).await;
    assert_eq!(sim.count(&format!("{} 401", metrics_path())), 0);
    assert_eq!(sim.logins(), 1);
    d.stop().await;
}

#[tokio::test]
async fn csrf_required_without_cookie_is_a_clear_auth_error_without_login_storm() {
    let sim = AkanaSim::start(state(|s| {
        s.csrf_required = true;
        s.issue_csrf_cookie = false;
    }))
    .await
    .unwrap();
    let d = support::start(&config(&sim, "")).await;
    d.wait_for(WAIT, |b| auth_errors(b) >= 1.0).await;
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("right after a fresh login"), "{landing}");
    assert!(landing.contains("Csrf-Token"), "{landing}");
    let body = d.metrics().await;
    let errors = auth_errors(&body);
    let logins = sim.logins() as f64;
    // One login per failed poll (plus one in flight), never a second one inside the same poll.
    assert!(
        logins <= errors + 1.0,
        "{logins} logins for {errors} failed polls"
    );
    d.stop().await;
}

#[tokio::test]
async fn bad_password_is_a_clear_error_and_backs_off() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let yaml = config(&sim, "").replace("s3cret-Pa55", "wrong-password");
    let d = support::start(&yaml).await;
    d.wait_for(WAIT, |b| auth_errors(b) >= 1.0).await;
    // Polls are due every 200ms; the rejected login holds them off for login_backoff (15m).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sim.logins(),
        1,
        "no second login attempt within the back-off"
    );
    let body = d.metrics().await;
    assert_eq!(auth_errors(&body), 1.0);
    assert_eq!(
        sample(&body, "usage_exporter_poll_success", &[("source", "akana")]),
        Some(0.0)
    );
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("rejected the credentials"), "{landing}");
    assert!(
        landing.contains("monitor@acmepaymentscorp.com"),
        "{landing}"
    );
    assert!(!landing.contains("wrong-password") && !body.contains("wrong-password"));
    d.stop().await;
}

#[tokio::test]
async fn login_is_retried_after_a_short_backoff_and_recovers() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let yaml = config(&sim, "login_backoff: 1s").replace("s3cret-Pa55", "new-password");
    let d = support::start(&yaml).await;
    d.wait_for(WAIT, |b| auth_errors(b) >= 1.0).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attempts = sim.logins();
    // Every 200ms without back-off would be ~13 attempts; with 1s back-off at most 4.
    assert!(
        (2..=4).contains(&attempts),
        "{attempts} login attempts in 2.5s"
    );
    // The admin changes the password to what the exporter has: it recovers by itself.
    sim.with(|s| s.password = "new-password".into());
    d.wait_for(WAIT, |b| {
        sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn pending_tasks_are_a_configuration_error() {
    let sim = AkanaSim::start(state(|s| {
        s.pending_tasks = vec!["ChangePassword".into()];
    }))
    .await
    .unwrap();
    let d = support::start(&config(&sim, "")).await;
    d.wait_for(WAIT, |b| auth_errors(b) >= 1.0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.logins(), 1);
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("pending tasks (ChangePassword)"),
        "{landing}"
    );
    d.stop().await;
}

#[tokio::test]
async fn month_rollover_resets_counters_and_moves_created() {
    let sim = AkanaSim::start(state(|s| {
        s.data = Data::Generated { scale: 1 };
        s.clock
            .set(Utc.with_ymd_and_hms(2026, 2, 27, 12, 0, 0).unwrap());
    }))
    .await
    .unwrap();
    let d = support::start_created(&config(&sim, "")).await;
    let platform = [("metric_id", "PlatformApiUsage")];
    let created = |b: &str| sample(b, "akana_api_calls_created", &platform);
    let body = d.wait_for(WAIT, |b| created(b) == Some(FEB_1_2026)).await;
    let feb_total = sample(&body, "akana_api_calls_total", &platform).unwrap();
    let feb_days = samples(&body, "akana_daily_api_calls", &platform);
    assert_eq!(feb_days.len(), 27, "1st to 27th (partial)");
    let day_sum: f64 = feb_days.iter().map(|l| l.value).sum();
    assert_eq!(
        day_sum, feb_total,
        "the month-to-date counter is the sum of the days"
    );

    sim.set_clock(Some(Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap()));
    let body = d.wait_for(WAIT, |b| created(b) == Some(MAR_1_2026)).await;
    assert_valid_openmetrics(&body);
    let mar_total = sample(&body, "akana_api_calls_total", &platform).unwrap();
    assert!(
        mar_total > 0.0 && mar_total < feb_total,
        "{mar_total} vs {feb_total}: a reset"
    );
    let mar_days = samples(&body, "akana_daily_api_calls", &platform);
    assert_eq!(mar_days.len(), 1, "February's days are gone");
    assert_eq!(mar_days[0].value, mar_total);
    assert!(mar_days[0]
        .labels
        .contains(&("date".to_string(), "2026-03-01".to_string())));
    assert_eq!(
        sample(
            &body,
            "akana_report_period_start_timestamp_seconds",
            &[("target", "portal")]
        ),
        Some(MAR_1_2026)
    );
    assert_eq!(
        sample(&body, "akana_api_response_time_seconds_created", &platform),
        Some(MAR_1_2026)
    );
    // Decision: the previous month is never fetched (no ReportMonth/ReportYear ever sent).
    let queries = sim.with(|s| s.metrics_queries.clone());
    assert!(queries
        .iter()
        .all(|q| !q.contains("ReportMonth") && !q.contains("ReportYear")));
    d.stop().await;
}

#[tokio::test]
async fn faults_map_to_reasons_and_keep_the_session() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let d = support::start(&config(&sim, "")).await;
    d.wait_for(WAIT, |b| {
        sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
    })
    .await;
    let errors = |b: &str, reason: &str| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("source", "akana"), ("reason", reason)],
        )
        .unwrap_or(0.0)
    };
    sim.faults.set(Fault::TruncatedJson);
    d.wait_for(WAIT, |b| errors(b, "decode") >= 1.0).await;
    sim.faults.set(Fault::Status(500));
    d.wait_for(WAIT, |b| errors(b, "http_5xx") >= 1.0).await;
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("/platform/subscriptions/acmepaymentscorp/metrics"),
        "{landing}"
    );
    assert_eq!(
        sim.logins(),
        1,
        "server errors do not throw the session away"
    );
    // An HTML page instead of JSON: treated like an expired session — one re-login, then auth.
    sim.faults.set(Fault::Html200);
    d.wait_for(WAIT, |b| errors(b, "auth") >= 1.0).await;
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("HTML page"), "{landing}");
    sim.faults.set(Fault::None);
    d.wait_for(WAIT, |b| {
        sample(b, "usage_exporter_poll_success", &[("source", "akana")]) == Some(1.0)
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn fedmemberid_from_config_must_match_the_cookie() {
    let sim = AkanaSim::start(state(|s| s.csrf_required = true))
        .await
        .unwrap();
    let d = support::start(&config(&sim, "fedmemberid: acmepaymentscorp")).await;
    d.wait_for(WAIT, |b| {
        sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
    })
    .await;
    d.stop().await;

    let sim = AkanaSim::start(State::default()).await.unwrap();
    let d = support::start(&config(&sim, "fedmemberid: othercorp")).await;
    d.wait_for(WAIT, |b| auth_errors(b) >= 1.0).await;
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("set fedmemberid to") && landing.contains("acmepaymentscorp"),
        "{landing}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        sim.logins(),
        1,
        "a wrong fedmemberid backs off like a rejected login"
    );
    assert_eq!(sim.metrics_calls(), 0);
    d.stop().await;
}

#[tokio::test]
async fn demo_simulator_and_its_config_item() {
    let (sim, item) = usage_exporter_sim::akana::start_demo(2).await.unwrap();
    assert!(item.starts_with("name: demo\n"), "{item}");
    let mut yaml = String::from("sources:\n  akana:\n");
    for (i, line) in item.lines().enumerate() {
        yaml.push_str(if i == 0 { "    - " } else { "      " });
        yaml.push_str(line);
        yaml.push('\n');
    }
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            sample(b, "akana_metric", &[("metric_id", "DeploymentZonesUsage")]).is_some()
        })
        .await;
    assert_valid_openmetrics(&body);
    assert_eq!(
        sample(
            &body,
            "akana_metric",
            &[("target", "demo"), ("metric_id", "DeploymentZonesUsage")]
        ),
        Some(4.0),
        "scale 2 doubles the zones"
    );
    assert!(
        sample(
            &body,
            "akana_api_calls_total",
            &[("metric_id", "PlatformApiUsage")]
        )
        .is_some(),
        "month-to-date calls (0 only in the first minutes of a month)"
    );
    // The demo's licence: 15 APIs per scale for 12 per scale in use.
    let limit = sample(&body, "akana_metric_limit", &[("metric_id", "ApiCount")]);
    assert_eq!(limit, Some(30.0));
    let used = sample(&body, "akana_metric", &[("metric_id", "ApiCount")]).unwrap();
    assert_eq!(used / limit.unwrap(), 0.8);
    assert_eq!(samples(&body, "akana_metric_limit", &[]).len(), 1);
    assert_eq!(sim.logins(), 1);
    d.stop().await;
}

#[tokio::test]
async fn login_server_errors_are_not_treated_as_rejected_credentials() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    sim.login_faults.set(Fault::Status(500));
    let d = support::start(&config(&sim, "")).await;
    let body = d
        .wait_for(WAIT, |b| {
            sample(
                b,
                "usage_exporter_poll_errors_total",
                &[("source", "akana"), ("reason", "http_5xx")],
            )
            .unwrap_or(0.0)
                >= 1.0
        })
        .await;
    assert_eq!(auth_errors(&body), 0.0);
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("POST /api/login"), "{landing}");
    // No login back-off: once the platform is healthy again the next poll logs in.
    sim.login_faults.set(Fault::None);
    d.wait_for(WAIT, |b| {
        sample(b, "akana_metric", &[("metric_id", "ApiCount")]).is_some()
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn wrong_path_prefix_says_what_to_check() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let d = support::start(&config(&sim, "path_prefix: /api/platform/subscriptions")).await;
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("source", "akana"), ("reason", "http_4xx")],
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("/api/platform/subscriptions/acmepaymentscorp/metrics"),
        "{landing}"
    );
    assert!(landing.contains("path_prefix"), "{landing}");
    assert!(sim.count("GET /api/platform/subscriptions/acmepaymentscorp/metrics 404") >= 1);
    d.stop().await;
}

#[tokio::test]
async fn latest_day_on_a_platform_east_of_utc_around_midnight() {
    // A platform at +02:00; both clocks at 22:10 UTC on 31 March 2026, 00:10 on 1 April there.
    let at = |d, h, m| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
    let start = at(31, 22, 10);
    let sim = AkanaSim::start(state(|s| {
        s.data = Data::Generated { scale: 1 };
        s.clock = usage_exporter_sim::SimClock::fixed(start);
        s.utc_offset = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
    }))
    .await
    .unwrap();
    let d = support::start_at(&config(&sim, ""), start).await;
    let labels = [("target", "portal"), ("subscription", "acmepaymentscorp")];
    let latest = |b: &str| sample(b, "akana_usage_latest_day_timestamp_seconds", &labels);
    let unix = |t: chrono::DateTime<Utc>| t.timestamp() as f64;
    let dates = |b: &str| -> Vec<String> {
        samples(
            b,
            "akana_daily_api_calls",
            &[("metric_id", "PlatformApiUsage")],
        )
        .into_iter()
        .flat_map(|l| l.labels.into_iter().filter(|(k, _)| k == "date"))
        .map(|(_, v)| v)
        .collect()
    };

    // April has begun there: its first (ten-minute) day is the newest, begun at 22:00 UTC.
    let april_1 = unix(at(31, 22, 0));
    let body = d.wait_for(WAIT, |b| latest(b) == Some(april_1)).await;
    assert_valid_openmetrics(&body);
    assert_eq!(
        sample(
            &body,
            "akana_report_period_start_timestamp_seconds",
            &labels
        ),
        Some(april_1)
    );
    assert_eq!(dates(&body), ["2026-04-01"], "April's days, not March's");

    // Just after 00:00 UTC on 2 April (02:05 there) the newest day is 2 April, begun at 22:00
    // UTC on 1 April.
    let april_2 = april_1 + 86_400.0;
    sim.set_clock(Some(Utc.with_ymd_and_hms(2026, 4, 2, 0, 5, 0).unwrap()));
    let body = d.wait_for(WAIT, |b| latest(b) == Some(april_2)).await;
    assert_eq!(dates(&body), ["2026-04-01", "2026-04-02"]);

    // 21:55 UTC is 23:55 there: still 2 April. Ten minutes later 3 April has begun there.
    let late = Utc.with_ymd_and_hms(2026, 4, 2, 21, 55, 0).unwrap();
    sim.set_clock(Some(late));
    let body = d
        .wait_for(WAIT, |b| {
            sample(b, "akana_report_generated_timestamp_seconds", &labels) == Some(unix(late))
        })
        .await;
    assert_eq!(latest(&body), Some(april_2));
    sim.set_clock(Some(late + chrono::Duration::minutes(10)));
    d.wait_for(WAIT, |b| latest(b) == Some(april_2 + 86_400.0))
        .await;
    d.stop().await;
}

#[tokio::test]
async fn limits_are_exported_with_the_labels_the_usage_carries() {
    let sim = AkanaSim::start(State::default()).await.unwrap();
    let at = Utc.with_ymd_and_hms(2016, 2, 23, 19, 30, 0).unwrap();
    let d = support::start_at(
        &config(
            &sim,
            "limits:\n  ApiCount: 200\n  PlatformApiUsage: 5000000   # calls per report month",
        ),
        at,
    )
    .await;
    let body = d
        .wait_for(WAIT, |b| !samples(b, "akana_metric_limit", &[]).is_empty())
        .await;
    assert_valid_openmetrics(&body);
    let key = |l: &support::Line, names: &[&str]| -> Vec<(String, String)> {
        l.labels
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    let on = ["target", "subscription", "metric_id"];
    // Only the configured ones, labelled with exactly the labels the rules match `on`.
    let limits = samples(&body, "akana_metric_limit", &[]);
    assert_eq!(limits.len(), 2);
    for l in &limits {
        let names: Vec<&str> = l.labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["target", "subscription", "metric_id"], "{l:?}");
    }
    let limit_of = |usage: &support::Line| -> Option<f64> {
        limits
            .iter()
            .find(|l| key(l, &on) == key(usage, &on))
            .map(|l| l.value)
    };
    // `akana_metric / on (job, instance, target, subscription, metric_id) group_left
    // akana_metric_limit`: ApiCount (1 API) against its limit, nothing for unlimited metrics.
    let ratios: Vec<(String, f64)> = samples(&body, "akana_metric", &[])
        .iter()
        .filter_map(|m| Some((key(m, &["metric_id"])[0].1.clone(), m.value / limit_of(m)?)))
        .collect();
    assert_eq!(ratios, [("ApiCount".to_string(), 1.0 / 200.0)]);
    // `sum by (job, instance, target, subscription, metric_id) (akana_daily_api_calls) / on
    // (...) akana_metric_limit`: the month's days of PlatformApiUsage against its limit.
    let daily = samples(
        &body,
        "akana_daily_api_calls",
        &[("metric_id", "PlatformApiUsage")],
    );
    assert_eq!(daily.len(), 3);
    let month: f64 = daily.iter().map(|l| l.value).sum();
    assert_eq!(month, 3423.0);
    assert_eq!(limit_of(&daily[0]), Some(5e6));
    assert_eq!(
        sample(
            &body,
            "akana_api_calls_total",
            &[("metric_id", "PlatformApiUsage")]
        ),
        Some(month),
        "the month-to-date counter says the same"
    );
    d.stop().await;
}
