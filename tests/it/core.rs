//! Black-box tests of the daemon core over real HTTP on 127.0.0.1: exposition validity,
//! self-metrics, merging, escaping, gzip, staleness, readiness, reload, web config, CLI.

use crate::support::{self, fake_instance, sample, Behaviour, FakeTarget};
use std::io::Read;
use std::time::Duration;
use usage_exporter::base::{ErrorReason, PollError};
use usage_exporter::snapshot::{Family, Labels};

const EMPTY: &str = "global:\n  timeout: 5s\nsources: {}\n";

fn gauge(name: &'static str, labels: Labels, value: f64) -> Family {
    let mut f = Family::gauge(name, "A test gauge.");
    f.push_gauge(labels, value);
    f
}

#[tokio::test]
async fn empty_config_serves_valid_openmetrics_with_self_and_process_metrics() {
    let d = support::start(EMPTY).await;
    let resp = d
        .client
        .get(format!("{}/metrics", d.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
    );
    let body = resp.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(body.matches("# EOF").count(), 1);
    for family in [
        "usage_exporter_build_info{",
        "usage_exporter_config_last_reload_successful 1",
        "usage_exporter_config_last_reload_success_timestamp_seconds ",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
        "process_threads ",
    ] {
        assert!(body.contains(family), "missing {family} in\n{body}");
    }
    assert!(sample(&body, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    support::assert_valid_openmetrics(&body);
    assert_eq!(d.get("/-/healthy").await.0, 200);
    assert_eq!(
        d.get("/-/ready").await.0,
        200,
        "nothing to poll: ready at once"
    );
    let (status, landing) = d.get("/").await;
    assert_eq!(status, 200);
    assert!(landing.contains("usage_exporter") && landing.contains("/metrics"));
    assert_eq!(d.get("/nope").await.0, 404);
    d.stop().await;
}

#[tokio::test]
async fn families_merge_across_targets_and_hostile_labels_stay_valid() {
    let hostile = "quote\" backslash\\ newline\n unicode ü 🚀 }{=,";
    let a = FakeTarget::new(Behaviour::Data(vec![gauge(
        "scc_memory_physical_bytes",
        Labels::new().with("usage", hostile),
        1.0,
    )]));
    let b = FakeTarget::new(Behaviour::Data(vec![gauge(
        "scc_memory_physical_bytes",
        Labels::new().with("usage", "free"),
        2.0,
    )]));
    let every = Duration::from_millis(200);
    let d = support::start_with(
        EMPTY,
        vec![
            fake_instance("a", a, every, every * 3),
            fake_instance("b", b, every, every * 3),
        ],
    )
    .await;
    d.wait_ready(Duration::from_secs(10)).await;
    let body = d.metrics().await;
    assert_eq!(
        body.matches("# TYPE scc_memory_physical_bytes gauge")
            .count(),
        1,
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "scc_memory_physical_bytes",
            &[("target", "a"), ("usage", hostile)]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "scc_memory_physical_bytes",
            &[("target", "b"), ("usage", "free")]
        ),
        Some(2.0)
    );
    support::assert_valid_openmetrics(&body);
    assert_eq!(
        sample(
            &body,
            "usage_exporter_poll_success",
            &[("source", "test"), ("target", "a"), ("endpoint", "ep")]
        ),
        Some(1.0)
    );
    assert!(sample(&body, "usage_exporter_polls_total", &[("target", "a")]).unwrap() >= 1.0);
    for phase in ["fetch", "decode", "process"] {
        let v = sample(
            &body,
            "usage_exporter_poll_phase_duration_seconds",
            &[("target", "a"), ("phase", phase)],
        );
        assert!(v.is_some_and(|v| v >= 0.0), "{phase}: {body}");
    }
    d.stop().await;
}

#[tokio::test]
async fn gzip_is_negotiated_and_decodes_to_the_plain_body() {
    let t = FakeTarget::new(Behaviour::Data(vec![gauge(
        "g",
        Labels::new().with("k", "v"),
        7.0,
    )]));
    let every = Duration::from_secs(3600);
    let d = support::start_with(EMPTY, vec![fake_instance("t", t, every, every * 3)]).await;
    d.wait_ready(Duration::from_secs(10)).await;
    let resp = d
        .client
        .get(format!("{}/metrics", d.url()))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(resp.headers()["vary"], "Accept, Accept-Encoding");
    let compressed = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("g{target=\"t\",k=\"v\"} 7"), "{text}");
    assert!(text.ends_with("# EOF\n"));
    support::assert_valid_openmetrics(&text);
    let plain = d
        .client
        .get(format!("{}/metrics", d.url()))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let refused = d
        .client
        .get(format!("{}/metrics", d.url()))
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
    d.stop().await;
}

#[tokio::test]
async fn failing_endpoint_keeps_data_until_stale_after_then_drops_it() {
    let t = FakeTarget::new(Behaviour::Data(vec![gauge("g", Labels::new(), 1.0)]));
    let d = support::start_with(
        EMPTY,
        vec![fake_instance(
            "t",
            t.clone(),
            Duration::from_millis(200),
            Duration::from_millis(1500),
        )],
    )
    .await;
    d.wait_for(Duration::from_secs(10), |b| b.contains("g{target=\"t\"} 1"))
        .await;
    t.set(Behaviour::Fail(PollError::new(
        ErrorReason::Http5xx,
        "HTTP 500 from fake",
    )));
    // Still served while failing (within stale_after) ...
    let body = d
        .wait_for(Duration::from_secs(5), |b| {
            sample(b, "usage_exporter_poll_success", &[("target", "t")]) == Some(0.0)
        })
        .await;
    assert!(
        body.contains("g{target=\"t\"} 1"),
        "data kept while fresh:\n{body}"
    );
    assert_eq!(
        sample(&body, "usage_exporter_endpoint_stale", &[("target", "t")]),
        Some(0.0)
    );
    // ... and dropped and flagged once older than stale_after.
    let body = d
        .wait_for(Duration::from_secs(10), |b| {
            sample(b, "usage_exporter_endpoint_stale", &[("target", "t")]) == Some(1.0)
        })
        .await;
    assert!(!body.contains("g{target=\"t\"}"), "{body}");
    assert!(
        sample(
            &body,
            "usage_exporter_poll_errors_total",
            &[("target", "t"), ("reason", "http_5xx")]
        )
        .unwrap()
            >= 1.0
    );
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("HTTP 500 from fake") && landing.contains("stale"),
        "{landing}"
    );
    // Recovery brings the data back and clears the flag.
    t.set(Behaviour::Data(vec![gauge("g", Labels::new(), 2.0)]));
    let body = d
        .wait_for(Duration::from_secs(10), |b| b.contains("g{target=\"t\"} 2"))
        .await;
    assert_eq!(
        sample(&body, "usage_exporter_endpoint_stale", &[("target", "t")]),
        Some(0.0)
    );
    d.stop().await;
}

#[tokio::test]
async fn skipped_endpoint_hides_series_without_counting_a_failure() {
    let t = FakeTarget::new(Behaviour::Data(vec![gauge("g", Labels::new(), 1.0)]));
    let every = Duration::from_millis(200);
    let d = support::start_with(EMPTY, vec![fake_instance("t", t.clone(), every, every * 3)]).await;
    d.wait_for(Duration::from_secs(10), |b| b.contains("g{target=\"t\"} 1"))
        .await;
    t.set(Behaviour::Skip("instance is not master".into()));
    let body = d
        .wait_for(Duration::from_secs(10), |b| {
            sample(b, "usage_exporter_endpoint_skipped", &[("target", "t")]) == Some(1.0)
        })
        .await;
    assert!(!body.contains("g{target=\"t\"}"));
    let errors: f64 = support::samples(
        &body,
        "usage_exporter_poll_errors_total",
        &[("target", "t")],
    )
    .iter()
    .map(|l| l.value)
    .sum();
    assert_eq!(errors, 0.0);
    d.stop().await;
}

#[tokio::test]
async fn ready_only_after_every_first_poll_and_secrets_redacted() {
    let slow = FakeTarget::new(Behaviour::Fail(PollError::auth(
        "login rejected for fake-secret-value",
    )));
    let d = support::start_with(
        EMPTY,
        vec![fake_instance(
            "t",
            slow,
            Duration::from_secs(3600),
            Duration::from_secs(7200),
        )],
    )
    .await;
    d.wait_ready(Duration::from_secs(10)).await;
    let body = d.metrics().await;
    assert_eq!(
        sample(
            &body,
            "usage_exporter_poll_errors_total",
            &[("target", "t"), ("reason", "auth")]
        ),
        Some(1.0)
    );
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("login rejected for &lt;secret&gt;"),
        "{landing}"
    );
    assert!(!landing.contains("fake-secret-value") && !body.contains("fake-secret-value"));
    d.stop().await;
}

#[tokio::test]
async fn not_ready_while_a_first_poll_hangs_and_metrics_still_answer() {
    let hanging = FakeTarget::new(Behaviour::Hang);
    let d = support::start_with(
        EMPTY,
        vec![fake_instance(
            "t",
            hanging,
            Duration::from_secs(3600),
            Duration::from_secs(7200),
        )],
    )
    .await;
    assert_eq!(d.get("/-/ready").await.0, 503);
    let started = std::time::Instant::now();
    let body = d.metrics().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "/metrics never waits for a poll"
    );
    assert!(body.ends_with("# EOF\n"));
    d.wait_ready(Duration::from_secs(10)).await;
    let body = d.metrics().await;
    assert_eq!(
        sample(
            &body,
            "usage_exporter_poll_errors_total",
            &[("target", "t"), ("reason", "timeout")]
        ),
        Some(1.0)
    );
    d.stop().await;
}
