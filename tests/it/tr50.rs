//! TR50 source against the simulator over HTTP: counters as buckets fill, session expiry,
//! login back-off, error shapes and faults.

use crate::support::{self, sample, TestDaemon};
use std::time::Duration;
use usage_exporter_sim::tr50::{ErrorShape, Injected, SimConnections, SimState, Tr50Sim};
use usage_exporter_sim::Fault;

const WAIT: Duration = Duration::from_secs(10);
/// The simulator's default frozen clock: 2024-03-10T10:20:00Z.
const T0: i64 = 1_710_066_000;

fn config(sim: &Tr50Sim, extra: &str) -> String {
    format!(
        "sources:\n  tr50:\n    - name: t\n      url: {}\n{extra}",
        sim.url()
    )
}

fn user(password: &str, endpoints: &str) -> String {
    format!(
        "      username: monitor@example.com\n      password: {password}\n      endpoints: {{{endpoints}}}\n"
    )
}

fn has(
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    value: f64,
) -> impl Fn(&str) -> bool {
    move |body: &str| sample(body, name, labels) == Some(value)
}

fn tr50(endpoint: &'static str) -> [(&'static str, &'static str); 2] {
    [("source", "tr50"), ("endpoint", endpoint)]
}

async fn errors(d: &TestDaemon, endpoint: &'static str, reason: &'static str) -> f64 {
    let body = d.metrics().await;
    sample(
        &body,
        "usage_exporter_poll_errors_total",
        &[
            ("source", "tr50"),
            ("endpoint", endpoint),
            ("reason", reason),
        ],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn counters_follow_the_buckets_as_they_fill_and_the_window_slides() {
    let mut state = SimState::new();
    state.tz_offset = -5 * 3600;
    state.add_calls("ACME", "thing", 10);
    let sim = Tr50Sim::start(state).await.unwrap();
    sim.advance(3600);
    {
        let mut s = sim.state();
        s.add_calls("ACME", "thing", 5);
        s.add_calls("ACME", "alarm", 2);
    }
    let d = support::start_created(&config(&sim, &user("secret-pw", "api_history: 200ms"))).await;
    let started = now_unix();
    let thing = &[("target", "t"), ("service", "thing")];
    let body = d
        .wait_for(WAIT, has("tr50_api_calls_window", thing, 15.0))
        .await;
    // Buckets are whole local hours (-05:00 = whole UTC hours); 24h window, newest at 11:00Z.
    let newest = T0 + 3600 - 20 * 60;
    // The first window is the baseline: what it holds is not new, the counters start at 0,
    // created at that poll (the exporter's clock is the real one here).
    assert_eq!(sample(&body, "tr50_api_calls_total", thing), Some(0.0));
    let created = sample(&body, "tr50_api_calls_created", thing).unwrap();
    assert!(
        created >= started - 1.0 && created <= now_unix() + 1.0,
        "{created}"
    );
    assert_eq!(
        sample(&body, "tr50_api_calls_total", &[("service", "alarm")]),
        Some(0.0)
    );
    assert_eq!(sample(&body, "tr50_api_calls_window", thing), Some(15.0));
    assert_eq!(
        sample(
            &body,
            "tr50_api_calls_window_all_services",
            &[("target", "t")]
        ),
        Some(17.0)
    );
    assert_eq!(
        sample(
            &body,
            "tr50_usage_latest_bucket_timestamp_seconds",
            &[("target", "t")]
        ),
        Some(newest as f64)
    );
    support::assert_valid_openmetrics(&body);

    // The newest bucket keeps filling: only the increment is added, however often it is polled.
    sim.state().add_calls("ACME", "thing", 3);
    d.wait_for(WAIT, has("tr50_api_calls_total", thing, 3.0))
        .await;
    let polls_before = sim.counters().commands["usage.api.history"];
    while sim.counters().commands["usage.api.history"] < polls_before + 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = d.metrics().await;
    assert_eq!(sample(&body, "tr50_api_calls_total", thing), Some(3.0));

    // A new hour starts.
    sim.advance(3600);
    sim.state().add_calls("ACME", "thing", 4);
    let body = d
        .wait_for(
            WAIT,
            has(
                "tr50_usage_latest_bucket_timestamp_seconds",
                &[("target", "t")],
                (newest + 3600) as f64,
            ),
        )
        .await;
    let body = if sample(&body, "tr50_api_calls_total", thing) == Some(7.0) {
        body
    } else {
        d.wait_for(WAIT, has("tr50_api_calls_total", thing, 7.0))
            .await
    };
    assert_eq!(sample(&body, "tr50_api_calls_window", thing), Some(22.0));

    // A day later the old buckets left the window: the window gauge drops, the counter does not.
    sim.advance(24 * 3600);
    sim.state().add_calls("ACME", "thing", 1);
    let body = d
        .wait_for(WAIT, has("tr50_api_calls_total", thing, 8.0))
        .await;
    assert_eq!(sample(&body, "tr50_api_calls_window", thing), Some(1.0));
    assert_eq!(
        sample(&body, "tr50_api_calls_total", &[("service", "alarm")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&body, "tr50_api_calls_created", thing),
        Some(created),
        "counting began once"
    );
    assert_eq!(sim.counters().logins, 1, "one login for the whole run");
    d.stop().await;
}

#[tokio::test]
async fn dimension_org_with_sub_orgs_and_an_offset_of_half_an_hour() {
    let mut state = SimState::new();
    state.tz_offset = 5 * 3600 + 1800;
    state.orgs.push(usage_exporter_sim::tr50::SimOrg {
        key: "ACME_EU".into(),
        services: Default::default(),
        things: 0,
        connected: 0,
        billable: 0,
        connections: Default::default(),
    });
    state.add_calls("ACME", "thing", 7);
    state.add_calls("ACME_EU", "property", 4);
    let sim = Tr50Sim::start(state).await.unwrap();
    let yaml = config(
        &sim,
        &format!(
            "{}      dimension: org\n      include_sub_orgs: true\n      last: 6h\n",
            user("secret-pw", "api_history: 200ms")
        ),
    );
    let d = support::start_created(&yaml).await;
    let started = now_unix();
    let body = d
        .wait_for(
            WAIT,
            has("tr50_api_calls_window", &[("org", "ACME_EU")], 4.0),
        )
        .await;
    // The first window is the baseline: counters start at 0.
    assert_eq!(
        sample(&body, "tr50_api_calls_total", &[("org", "ACME")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&body, "tr50_api_calls_window", &[("org", "ACME")]),
        Some(7.0)
    );
    assert_eq!(
        sample(&body, "tr50_api_calls_window_all_services", &[]),
        Some(11.0)
    );
    // 10:20Z is 15:50+05:30: the newest bucket began at 15:00+05:30 = 09:30Z.
    assert_eq!(
        sample(&body, "tr50_usage_latest_bucket_timestamp_seconds", &[]),
        Some((T0 - 50 * 60) as f64)
    );
    // Created when counting began: the baseline poll (the exporter's clock is the real one).
    let created = sample(&body, "tr50_api_calls_created", &[("org", "ACME")]).unwrap();
    assert!(
        created >= started - 1.0 && created <= now_unix() + 1.0,
        "{created}"
    );
    d.stop().await;
}

async fn session_expiry_reauthenticates_once(shape: ErrorShape) {
    let sim = Tr50Sim::start(SimState::new()).await.unwrap();
    sim.state().error_shape = shape;
    sim.state().orgs[0].things = 12;
    sim.state().add_calls("ACME", "thing", 1);
    let yaml = config(
        &sim,
        &user("secret-pw", "api_history: 150ms, thing_history: 150ms"),
    );
    let d = support::start(&yaml).await;
    d.wait_for(WAIT, has("tr50_things", &[("target", "t")], 12.0))
        .await;
    d.wait_for(
        WAIT,
        has("tr50_api_calls_window", &[("service", "thing")], 1.0),
    )
    .await;
    assert_eq!(sim.counters().logins, 1);

    // A day and a second of idleness on the platform's clock: the session is gone.
    sim.advance(86_401);
    sim.state().orgs[0].things = 13;
    d.wait_for(WAIT, has("tr50_things", &[("target", "t")], 13.0))
        .await;
    let seen = sim.counters().commands["usage.api.history"];
    while sim.counters().commands["usage.api.history"] < seen + 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = sim.counters();
    assert!(c.session_rejections >= 1, "{c:?}");
    assert_eq!(c.logins, 2, "exactly one re-authentication: {c:?}");
    assert_eq!(c.login_attempts, 2, "{c:?}");
    // The re-login happened inside the poll: no poll failed.
    let body = d.metrics().await;
    for endpoint in ["api_history", "thing_history"] {
        assert_eq!(errors(&d, endpoint, "auth").await, 0.0, "{endpoint}");
        assert_eq!(
            sample(&body, "usage_exporter_poll_success", &tr50(endpoint)),
            Some(1.0)
        );
    }
    d.stop().await;
}

#[tokio::test]
async fn session_expiry_reported_per_command_reauthenticates_once() {
    session_expiry_reauthenticates_once(ErrorShape::PerCommand).await;
}

#[tokio::test]
async fn session_expiry_reported_at_top_level_reauthenticates_once() {
    session_expiry_reauthenticates_once(ErrorShape::TopLevel).await;
}

#[tokio::test]
async fn wrong_password_backs_off_without_locking_the_account() {
    let sim = Tr50Sim::start(SimState::new()).await.unwrap();
    let yaml = config(
        &sim,
        &user(
            "not-the-password",
            "api_history: 100ms, thing_history: 100ms, connection_history: 100ms",
        ),
    );
    let d = support::start(&yaml).await;
    for endpoint in ["api_history", "thing_history", "connection_history"] {
        d.wait_for(WAIT, |body| {
            sample(
                body,
                "usage_exporter_poll_errors_total",
                &[("endpoint", endpoint), ("reason", "auth")],
            )
            .is_some_and(|v| v >= 1.0)
        })
        .await;
    }
    // Three endpoints at 100 ms for well over a second: without the back-off that would be
    // dozens of logins and a locked account.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c = sim.counters();
    assert_eq!(c.login_attempts, 1, "{c:?}");
    assert!(c.login_attempts < 8);
    assert!(!sim.state().is_locked("monitor@example.com"));
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("lock-out"), "{landing}");
    assert!(landing.contains("waits 300s"), "{landing}");
    assert!(!landing.contains("not-the-password"));
    let body = d.metrics().await;
    assert!(!body.contains("not-the-password"));
    assert_eq!(
        sample(&body, "usage_exporter_poll_success", &tr50("api_history")),
        Some(0.0)
    );
    d.stop().await;
}

#[tokio::test]
async fn locked_account_and_mfa_are_reported_clearly() {
    let mut state = SimState::new();
    state.users.push(usage_exporter_sim::tr50::SimUser {
        username: "mfa@example.com".into(),
        password: "pw-mfa".into(),
        mfa: true,
    });
    state.users[0].password = "right".into();
    let sim = Tr50Sim::start(state).await.unwrap();
    let yaml = format!(
        "sources:\n  tr50:\n    - name: mfa\n      url: {url}\n      username: mfa@example.com\n      password: pw-mfa\n      endpoints: {{api_history: 100ms}}\n    - name: locked\n      url: {url}\n      username: monitor@example.com\n      password: right\n      endpoints: {{api_history: 100ms}}\n",
        url = sim.url()
    );
    // Someone else locked the account before the exporter starts.
    {
        let mut s = sim.state();
        s.lockout_failures = 1;
    }
    let probe = reqwest::Client::new()
        .post(sim.url())
        .header("content-type", "application/json")
        .body(r#"{"auth":{"command":"api.authenticate","params":{"username":"monitor@example.com","password":"typo"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    assert!(sim.state().is_locked("monitor@example.com"));
    let d = support::start(&yaml).await;
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("target", "mfa"), ("reason", "unsupported")],
        ) == Some(1.0)
            && sample(
                b,
                "usage_exporter_poll_errors_total",
                &[("target", "locked"), ("reason", "auth")],
            ) == Some(1.0)
    })
    .await;
    let (_, landing) = d.get("/").await;
    assert!(landing.contains("multi-factor"), "{landing}");
    assert!(landing.contains("locked"), "{landing}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sim.counters().login_attempts,
        3,
        "one probe and one attempt per target"
    );
    d.stop().await;
}

#[tokio::test]
async fn app_login_thing_and_connection_history() {
    let mut state = SimState::new();
    state.orgs[0].things = 120;
    state.orgs[0].connected = 95;
    state.orgs[0].billable = 110;
    state.orgs[0].connections = SimConnections {
        total: 60,
        has_rate_plan: 52,
        activated: 41,
        in_session: 30,
    };
    let sim = Tr50Sim::start(state).await.unwrap();
    let yaml = config(
        &sim,
        "      app_id: usage-app\n      app_token: app-token-1\n      thing_key: exporter\n      endpoints: {api_history: off, thing_history: 200ms, connection_history: 200ms}\n",
    );
    // What the simulator answers (the documented parallel arrays), newest bucket last.
    let newest = |command: &str, field: &str| {
        let reply = sim
            .state()
            .query(command, &serde_json::json!({"last": "24h"}))
            .unwrap();
        let values = reply[field].as_array().unwrap().clone();
        assert_eq!(
            values.len(),
            reply["ts"].as_array().unwrap().len(),
            "{field}"
        );
        values.last().unwrap().as_f64().unwrap()
    };
    let in_session = newest("usage.connection.history", "inSession");
    assert!(in_session > 0.0);
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            sample(b, "tr50_things", &[]).is_some()
                && sample(b, "tr50_connections_latest", &[("counter", "total")]).is_some()
        })
        .await;
    // `total` is an array in these replies: it is the things and the connections.
    assert_eq!(
        sample(&body, "tr50_things", &[("target", "t")]),
        Some(newest("usage.thing.history", "total"))
    );
    assert_eq!(sample(&body, "tr50_things", &[]), Some(120.0));
    assert_eq!(sample(&body, "tr50_things_connected", &[]), Some(95.0));
    assert_eq!(sample(&body, "tr50_things_billable", &[]), Some(110.0));
    for (counter, value) in [
        ("total", 60.0),
        ("hasRatePlan", 52.0),
        ("activated", 41.0),
        ("inSession", in_session),
    ] {
        assert_eq!(
            sample(
                &body,
                "tr50_connections_latest",
                &[("target", "t"), ("counter", counter)]
            ),
            Some(value),
            "{counter}"
        );
    }
    assert_eq!(
        support::samples(&body, "tr50_connections_latest", &[]).len(),
        4,
        "one series per documented field"
    );
    assert!(support::samples(&body, "tr50_thing_history_latest", &[]).is_empty());
    // Whole UTC hours: the newest bucket started at 10:00Z.
    for family in [
        "tr50_connections_latest_bucket_timestamp_seconds",
        "tr50_things_latest_bucket_timestamp_seconds",
    ] {
        assert_eq!(
            sample(&body, family, &[]),
            Some((T0 - 20 * 60) as f64),
            "{family}"
        );
    }
    assert_eq!(sim.counters().logins, 1);
    support::assert_valid_openmetrics(&body);
    d.stop().await;
}

#[tokio::test]
async fn command_errors_in_both_shapes_and_faults_fail_only_that_poll() {
    let mut state = SimState::new();
    state.add_calls("ACME", "thing", 2);
    state.unsupported.push("usage.connection.history".into());
    let sim = Tr50Sim::start(state).await.unwrap();
    let yaml = config(
        &sim,
        &user("secret-pw", "api_history: 100ms, connection_history: 100ms"),
    );
    let d = support::start(&yaml).await;
    // The first poll is the counter's baseline: 0 counted, the window shows the 2 calls.
    d.wait_for(
        WAIT,
        has("tr50_api_calls_window", &[("service", "thing")], 2.0),
    )
    .await;
    assert_eq!(
        sample(
            &d.metrics().await,
            "tr50_api_calls_total",
            &[("service", "thing")]
        ),
        Some(0.0)
    );
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[
                ("endpoint", "connection_history"),
                ("reason", "unsupported"),
            ],
        ) == Some(1.0)
    })
    .await;

    sim.state()
        .inject
        .push_back(Injected::PerCommand(-22, "Invalid parameter: last".into()));
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("endpoint", "api_history"), ("reason", "upstream_error")],
        ) == Some(1.0)
    })
    .await;
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("-22: Invalid parameter: last"),
        "{landing}"
    );
    sim.state()
        .inject
        .push_back(Injected::TopLevel(-1, "Internal server error".into()));
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("endpoint", "api_history"), ("reason", "upstream_error")],
        ) == Some(2.0)
    })
    .await;
    sim.faults.set(Fault::Html200);
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("endpoint", "api_history"), ("reason", "decode")],
        )
        .is_some_and(|v| v >= 1.0)
    })
    .await;
    sim.faults.set(Fault::None);
    sim.state().add_calls("ACME", "thing", 1);
    // Recovers with the counter intact: the failures neither lost nor double-counted buckets
    // (the one call after the baseline).
    d.wait_for(
        WAIT,
        has("tr50_api_calls_total", &[("service", "thing")], 1.0),
    )
    .await;
    assert_eq!(sim.counters().logins, 1);
    d.stop().await;
}

#[tokio::test]
async fn demo_simulator_config_produces_data() {
    let (sim, item) = usage_exporter_sim::tr50::start_demo(2).await.unwrap();
    assert!(item.starts_with("name: demo\n"), "{item}");
    let mut yaml = String::from("sources:\n  tr50:\n");
    for (i, line) in item.lines().enumerate() {
        yaml.push_str(if i == 0 { "    - " } else { "      " });
        yaml.push_str(line);
        yaml.push('\n');
    }
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            sample(
                b,
                "tr50_api_calls_window",
                &[("target", "demo"), ("service", "property")],
            )
            .is_some_and(|v| v > 0.0)
                && sample(
                    b,
                    "tr50_api_calls_total",
                    &[("target", "demo"), ("service", "property")],
                )
                .is_some()
                && sample(b, "tr50_things", &[("target", "demo")]).is_some()
                && sample(b, "tr50_connections_latest", &[("counter", "total")]).is_some()
        })
        .await;
    // Own org at scale 2 plus two sub-orgs at a quarter each.
    assert_eq!(sample(&body, "tr50_things", &[]), Some(1000.0));
    assert_eq!(sample(&body, "tr50_things_connected", &[]), Some(774.0));
    assert_eq!(sample(&body, "tr50_things_billable", &[]), Some(950.0));
    assert_eq!(
        sample(&body, "tr50_connections_latest", &[("counter", "total")]),
        Some(900.0)
    );
    let total = sample(&body, "tr50_api_calls_window_all_services", &[]).unwrap();
    let sum: f64 = support::samples(&body, "tr50_api_calls_window", &[])
        .iter()
        .map(|l| l.value)
        .sum();
    assert_eq!(total, sum);
    support::assert_valid_openmetrics(&body);
    assert!(!body.contains("demo-tr50-password"));
    assert_eq!(sim.counters().logins, 1);
    d.stop().await;
}

/// The staleness rule of issue 15 as Prometheus would evaluate it at `now`:
/// `time() - tr50_usage_latest_bucket_timestamp_seconds > 2 * tr50_usage_bucket_period_seconds + 900`.
fn no_data_rule_fires(now: i64, latest: f64, period: f64) -> bool {
    now as f64 - latest > 2.0 * period + 900.0
}

#[tokio::test]
async fn bucket_period_and_newest_bucket_at_a_day_boundary() {
    use chrono::TimeZone;
    // Just after 00:00 UTC on 11 March 2024, on both clocks.
    let at = chrono::Utc.with_ymd_and_hms(2024, 3, 11, 0, 5, 0).unwrap();
    let t = at.timestamp();
    for (series, tz_offset, newest) in [
        // 00:05Z is 05:35+05:30: the hourly bucket began at 05:00+05:30 = 23:30Z on 10 March.
        ("hour", 5 * 3600 + 1800, t - 35 * 60),
        // UTC: the new day's bucket began five minutes ago.
        ("day", 0, t - 5 * 60),
        // 00:05Z is 19:05-05:00 on 10 March: that local day began at 05:00Z on 10 March.
        ("day", -5 * 3600, t - 19 * 3600 - 5 * 60),
    ] {
        let mut state = SimState::new();
        state.tz_offset = tz_offset;
        state.clock.set(at);
        state.add_calls("ACME", "thing", 3);
        let sim = Tr50Sim::start(state).await.unwrap();
        let params = serde_json::json!({"last": "2d", "series": series});
        let reply = sim.state().query("usage.api.history", &params).unwrap();
        let newest_in_reply = reply["ts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ts| {
                chrono::DateTime::parse_from_rfc3339(ts.as_str().unwrap())
                    .unwrap()
                    .timestamp()
            })
            .max()
            .unwrap();
        assert_eq!(newest_in_reply, newest, "{series} {tz_offset}");
        let yaml = config(
            &sim,
            &format!(
                "{}      series: {series}\n      last: 2d\n",
                user("secret-pw", "api_history: 200ms")
            ),
        );
        let d = support::start_at(&yaml, at).await;
        let target = &[("target", "t")];
        let body = d
            .wait_for(WAIT, |b| {
                sample(b, "tr50_usage_latest_bucket_timestamp_seconds", target).is_some()
            })
            .await;
        let period = if series == "hour" { 3600.0 } else { 86_400.0 };
        assert_eq!(
            sample(&body, "tr50_usage_bucket_period_seconds", target),
            Some(period),
            "{series}"
        );
        let latest = sample(&body, "tr50_usage_latest_bucket_timestamp_seconds", target).unwrap();
        assert_eq!(latest, newest as f64, "{series} {tz_offset}");
        support::assert_valid_openmetrics(&body);
        // Data arriving: quiet. The platform's buckets stuck at this one: the rule fires once
        // two periods and 15 minutes have passed since it began, not before.
        assert!(!no_data_rule_fires(t, latest, period));
        let limit = newest + 2 * period as i64 + 900;
        assert!(!no_data_rule_fires(limit, latest, period));
        assert!(no_data_rule_fires(limit + 1, latest, period));

        // One period later the next bucket is the newest.
        sim.advance(period as i64);
        d.wait_for(
            WAIT,
            has(
                "tr50_usage_latest_bucket_timestamp_seconds",
                target,
                (newest + period as i64) as f64,
            ),
        )
        .await;
        d.stop().await;
    }
}

/// The real time in Unix seconds (the exporter in these tests runs on the system clock).
fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
