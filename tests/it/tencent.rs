//! The exporter against the Tencent Cloud Monitor simulator, over real HTTP on 127.0.0.1.

use crate::support::{self, assert_valid_openmetrics, sample, samples};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use usage_exporter::base::clock::{Clock, TestClock};
use usage_exporter_sim::tencent::{instance_id, value_at, TencentSim, TencentSimState};
use usage_exporter_sim::SimClock;

const ID: &str = "AKIDtest000000000000000000000000";
const KEY: &str = "test-secret-key-0123456789abcdef";

async fn sim(instances: usize) -> TencentSim {
    TencentSim::start(TencentSimState::new(ID, KEY, instances))
        .await
        .expect("simulator starts")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn instances_yaml(ids: impl Iterator<Item = String>, dimension: &str) -> String {
    ids.map(|id| format!("{{{dimension}: {id}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn v3_values_catalog_and_lag() {
    let sim = sim(5).await;
    sim.with(|s| {
        s.overrides
            .insert((instance_id(0), "CPUUsage".into()), 12.5);
        s.overrides
            .insert((instance_id(0), "MemUsage".into()), 41.25);
        s.overrides
            .insert((instance_id(1), "TcpCurrEstab".into()), 7.0);
    });
    let yaml = format!(
        "sources:\n  tencent:\n    - name: gz\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 300ms, metric_catalog: 1h}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage, MemUsage, TcpCurrEstab]\n          period: 60s\n          instances: [{{InstanceId: {}}}, {{InstanceId: {}}}, {{InstanceId: ins-unknown}}]\n",
        sim.url(),
        instance_id(0),
        instance_id(1)
    );
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            b.contains("qce_cvm_tcpcurrestab_max{") && b.contains("qce_metric_info{")
        })
        .await;
    let i0 = [
        ("target", "gz"),
        ("region", "ap-guangzhou"),
        ("instance_id", "ins-00000000"),
    ];
    let i1 = [
        ("target", "gz"),
        ("region", "ap-guangzhou"),
        ("instance_id", "ins-00000001"),
    ];
    assert_eq!(sample(&body, "qce_cvm_cpuusage_avg", &i0), Some(12.5));
    assert_eq!(sample(&body, "qce_cvm_memusage_avg", &i0), Some(41.25));
    // TcpCurrEstab only offers `max` in the catalog: the suffix follows it.
    assert_eq!(sample(&body, "qce_cvm_tcpcurrestab_max", &i1), Some(7.0));
    assert_eq!(sample(&body, "qce_cvm_tcpcurrestab_avg", &i1), None);
    // Unknown instances have no data: no series, never a fake 0.
    assert!(samples(
        &body,
        "qce_cvm_cpuusage_avg",
        &[("instance_id", "ins-unknown")]
    )
    .is_empty());
    // The served point lags (the newest period is still empty upstream).
    let ts = sample(
        &body,
        "qce_datapoint_timestamp_seconds",
        &[
            ("instance_id", "ins-00000001"),
            ("metric", "CPUUsage"),
            ("namespace", "QCE/CVM"),
        ],
    )
    .expect("timestamp of the served point");
    let lag = now() - ts;
    assert!((60.0..240.0).contains(&lag), "lag {lag}");
    assert_eq!(ts % 60.0, 0.0);
    // A value without override is the simulator's value at that very timestamp.
    assert_eq!(
        sample(&body, "qce_cvm_cpuusage_avg", &i1),
        Some(value_at("ins-00000001", "CPUUsage", "avg", ts as i64))
    );
    assert_eq!(
        sample(
            &body,
            "qce_metric_info",
            &[
                ("namespace", "QCE/CVM"),
                ("metric", "CPUUsage"),
                ("unit", "%"),
                ("periods", "10,60,300,3600,86400")
            ]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &body,
            "usage_exporter_upstream_requests_total",
            &[
                ("source", "tencent"),
                ("target", "gz"),
                ("status_code", "200")
            ]
        )
        .unwrap()
            >= 4.0
    );
    assert!(!body.contains(KEY));
    assert_valid_openmetrics(&body);
    d.stop().await;
}

#[tokio::test]
async fn v2_get_monitor_data_values() {
    let sim = sim(3).await;
    sim.with(|s| {
        s.overrides
            .insert((instance_id(2), "cpu_usage".into()), 3.5);
        s.overrides
            .insert((instance_id(2), "mem_usage".into()), 2048.0);
    });
    let yaml = format!(
        "sources:\n  tencent:\n    - name: legacy\n      api: v2\n      url: {}\n      region: gz\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 300ms, metric_catalog: 1h}}\n      metrics:\n        - namespace: qce/cvm\n          names: [cpu_usage, mem_usage, lan_outtraffic]\n          period: 60s\n          instances: [{{unInstanceId: {}}}]\n",
        sim.url(),
        instance_id(2)
    );
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            b.contains("qce_cvm_mem_usage_max{") && b.contains("qce_metric_info{")
        })
        .await;
    let l = [
        ("target", "legacy"),
        ("region", "gz"),
        ("un_instance_id", "ins-00000002"),
    ];
    assert_eq!(sample(&body, "qce_cvm_cpu_usage_avg", &l), Some(3.5));
    // DescribeMetrics says mem_usage is a `max` statistic.
    assert_eq!(sample(&body, "qce_cvm_mem_usage_max", &l), Some(2048.0));
    // Timestamps were reconstructed from startTime (UTC+8) + i × period; the newest is null.
    let ts = sample(
        &body,
        "qce_datapoint_timestamp_seconds",
        &[
            ("metric", "lan_outtraffic"),
            ("un_instance_id", "ins-00000002"),
        ],
    )
    .unwrap();
    let lag = now() - ts;
    assert!((60.0..240.0).contains(&lag), "lag {lag}");
    assert_eq!(
        sample(&body, "qce_cvm_lan_outtraffic_avg", &l),
        Some(value_at("ins-00000002", "lan_outtraffic", "avg", ts as i64))
    );
    assert_eq!(
        sample(
            &body,
            "qce_metric_info",
            &[
                ("metric", "mem_usage"),
                ("unit", "MB"),
                ("periods", "60,300")
            ]
        ),
        Some(1.0)
    );
    assert!(sim.with(|s| s.calls_of("GetMonitorData")) >= 3);
    assert_valid_openmetrics(&body);
    d.stop().await;
}

#[tokio::test]
async fn v2_get_metric_statistics_with_hmac_sha256() {
    let sim = sim(2).await;
    sim.with(|s| {
        s.overrides
            .insert((instance_id(1), "cpu_usage".into()), 55.5);
    });
    let yaml = format!(
        "sources:\n  tencent:\n    - name: stats\n      api: v2\n      url: {}\n      region: gz\n      secret_id: {ID}\n      secret_key: {KEY}\n      read_api: GetMetricStatistics\n      signature_method: HmacSHA256\n      endpoints: {{metric_data: 300ms, metric_catalog: off}}\n      metrics:\n        - namespace: qce/cvm\n          names: [cpu_usage]\n          instances: [{{unInstanceId: {}}}]\n",
        sim.url(),
        instance_id(1)
    );
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| b.contains("qce_cvm_cpu_usage_avg{"))
        .await;
    assert_eq!(
        sample(
            &body,
            "qce_cvm_cpu_usage_avg",
            &[("un_instance_id", "ins-00000001")]
        ),
        Some(55.5)
    );
    // Period 300 by default for GetMetricStatistics; the short array loses the newest point.
    let ts = sample(
        &body,
        "qce_datapoint_timestamp_seconds",
        &[("metric", "cpu_usage")],
    )
    .unwrap();
    assert_eq!(ts % 300.0, 0.0);
    assert!((300.0..1200.0).contains(&(now() - ts)), "{}", now() - ts);
    assert!(sim.with(|s| s.calls_of("GetMetricStatistics")) >= 1);
    assert_eq!(sim.with(|s| s.auth_failures), 0);
    d.stop().await;
}

#[tokio::test]
async fn batching_120_instances_takes_three_requests() {
    let sim = sim(120).await;
    let yaml = format!(
        "sources:\n  tencent:\n    - name: batch\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 1h, metric_catalog: off}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          period: 60s\n          instances: [{}]\n",
        sim.url(),
        instances_yaml((0..120).map(instance_id), "InstanceId")
    );
    let d = support::start(&yaml).await;
    d.wait_ready(WAIT).await;
    let body = d.metrics().await;
    assert_eq!(
        samples(&body, "qce_cvm_cpuusage_avg", &[("target", "batch")]).len(),
        120
    );
    assert_eq!(sim.with(|s| s.calls_of("GetMonitorData")), 3);
    let mut sizes = sim.with(|s| s.batch_sizes.clone());
    sizes.sort_unstable();
    assert_eq!(sizes, vec![20, 50, 50]);
    // One DescribeBaseMetrics (the catalog, read on demand) + three reads, all counted.
    assert_eq!(sim.with(|s| s.calls_of("DescribeBaseMetrics")), 1);
    assert_eq!(sim.request_count(), 4);
    assert_eq!(
        sample(
            &body,
            "usage_exporter_upstream_requests_total",
            &[("target", "batch"), ("status_code", "200")]
        ),
        Some(4.0)
    );
    d.stop().await;
}

#[tokio::test]
async fn scales_to_1000_instances() {
    let sim = sim(1000).await;
    let yaml = format!(
        "sources:\n  tencent:\n    - name: big\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      rate_limit: 50\n      endpoints: {{metric_data: 1h, metric_catalog: off}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage, MemUsage]\n          period: 60s\n          instances: [{}]\n",
        sim.url(),
        instances_yaml((0..1000).map(instance_id), "InstanceId")
    );
    let d = support::start(&yaml).await;
    d.wait_ready(WAIT).await;
    let body = d.metrics().await;
    assert_eq!(
        samples(&body, "qce_cvm_cpuusage_avg", &[("target", "big")]).len(),
        1000
    );
    assert_eq!(
        samples(&body, "qce_cvm_memusage_avg", &[("target", "big")]).len(),
        1000
    );
    assert_eq!(sim.with(|s| s.calls_of("GetMonitorData")), 40);
    d.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_slow_the_target_down() {
    let sim = sim(60).await;
    sim.with(|s| s.rate_limit = Some(4));
    let yaml = format!(
        "sources:\n  tencent:\n    - name: limited\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      rate_limit: 100\n      batch_size: 5\n      endpoints: {{metric_data: 1h, metric_catalog: off}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          period: 60s\n          instances: [{}]\n",
        sim.url(),
        instances_yaml((0..60).map(instance_id), "InstanceId")
    );
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(Duration::from_secs(90), |b| {
            samples(b, "qce_cvm_cpuusage_avg", &[("target", "limited")]).len() == 60
        })
        .await;
    // The simulator refused some calls, the exporter paused and slowed down, and every batch
    // was read in the end.
    assert!(sim.with(|s| s.rate_limited) > 0);
    assert!(sim.with(|s| s.calls_of("GetMonitorData")) >= 12);
    assert!(sim.request_count() > 13);
    let counted = sample(
        &body,
        "usage_exporter_upstream_requests_total",
        &[("target", "limited"), ("status_code", "200")],
    )
    .unwrap();
    assert_eq!(counted, sim.request_count() as f64);
    d.stop().await;
}

#[tokio::test]
async fn persistent_rate_limit_is_a_rate_limited_error() {
    let sim = sim(2).await;
    sim.with(|s| s.rate_limit = Some(0));
    let yaml = format!(
        "sources:\n  tencent:\n    - name: blocked\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: off}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          instances: [{{InstanceId: {}}}]\n",
        sim.url(),
        instance_id(0)
    );
    let d = support::start(&yaml).await;
    let labels = [
        ("target", "blocked"),
        ("endpoint", "metric_data"),
        ("reason", "rate_limited"),
    ];
    let body = d
        .wait_for(WAIT, |b| {
            sample(b, "usage_exporter_poll_errors_total", &labels).is_some_and(|v| v >= 1.0)
        })
        .await;
    // One call plus three retries for the poll; the scheduler then waits (retry_after 10s),
    // so there is no retry storm.
    assert_eq!(
        sample(&body, "usage_exporter_poll_errors_total", &labels),
        Some(1.0)
    );
    assert!(sim.request_count() <= 5, "{}", sim.request_count());
    let (_, page) = d.get("/").await;
    assert!(page.contains("RequestLimitExceeded"), "{page}");
    d.stop().await;
}

async fn auth_error_case(api: &str, namespace: &str, metric: &str, dimension: &str, expect: &str) {
    let sim = sim(1).await;
    let yaml = format!(
        "sources:\n  tencent:\n    - name: wrong\n      api: {api}\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: not-the-right-key-at-all\n      endpoints: {{metric_data: 200ms, metric_catalog: off}}\n      metrics:\n        - namespace: {namespace}\n          names: [{metric}]\n          instances: [{{{dimension}: {}}}]\n",
        sim.url(),
        instance_id(0)
    );
    let d = support::start(&yaml).await;
    let labels = [
        ("source", "tencent"),
        ("target", "wrong"),
        ("endpoint", "metric_data"),
        ("reason", "auth"),
    ];
    let body = d
        .wait_for(WAIT, |b| {
            sample(b, "usage_exporter_poll_errors_total", &labels).is_some_and(|v| v >= 1.0)
        })
        .await;
    assert_eq!(
        sample(
            &body,
            "usage_exporter_poll_success",
            &[("target", "wrong"), ("endpoint", "metric_data")]
        ),
        Some(0.0)
    );
    assert!(!body.contains("not-the-right-key-at-all"));
    let (status, page) = d.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(expect),
        "landing page lacks {expect:?}: {page}"
    );
    assert!(page.contains("secret_key"), "{page}");
    assert!(!page.contains("not-the-right-key-at-all"));
    assert!(sim.with(|s| s.auth_failures) >= 1);
    d.stop().await;
}

#[tokio::test]
async fn wrong_secret_v3_is_an_auth_error_on_the_landing_page() {
    auth_error_case(
        "v3",
        "QCE/CVM",
        "CPUUsage",
        "InstanceId",
        "AuthFailure.SignatureFailure",
    )
    .await;
}

#[tokio::test]
async fn wrong_secret_v2_is_an_auth_error_on_the_landing_page() {
    auth_error_case("v2", "qce/cvm", "cpu_usage", "unInstanceId", "code 4100").await;
}

#[tokio::test]
async fn clock_skew_is_explained() {
    let sim = sim(1).await;
    sim.with(|s| s.clock.set_offset(chrono::Duration::seconds(900)));
    let yaml = format!(
        "sources:\n  tencent:\n    - name: skew\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: off}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          instances: [{{InstanceId: {}}}]\n",
        sim.url(),
        instance_id(0)
    );
    let d = support::start(&yaml).await;
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[
                ("target", "skew"),
                ("endpoint", "metric_data"),
                ("reason", "auth"),
            ],
        )
        .is_some_and(|v| v >= 1.0)
    })
    .await;
    let (_, page) = d.get("/").await;
    assert!(page.contains("AuthFailure.SignatureExpire"), "{page}");
    assert!(page.contains("clock skew"), "{page}");
    d.stop().await;
}

#[tokio::test]
async fn unsupported_period_and_product_not_open_are_explained() {
    let sim = sim(1).await;
    sim.with(|s| {
        s.not_open.insert("qce/cvm".into());
    });
    let yaml = format!(
        "sources:\n  tencent:\n    - name: badperiod\n      url: {url}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: 1h}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          period: 172800s\n          instances: [{{InstanceId: {id}}}]\n    - name: notopen\n      url: {url}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: 1h}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          instances: [{{InstanceId: {id}}}]\n",
        url = sim.url(),
        id = instance_id(0)
    );
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            sample(
                b,
                "usage_exporter_poll_errors_total",
                &[
                    ("target", "badperiod"),
                    ("endpoint", "metric_data"),
                    ("reason", "unsupported"),
                ],
            )
            .is_some()
                && sample(
                    b,
                    "usage_exporter_poll_errors_total",
                    &[
                        ("target", "notopen"),
                        ("endpoint", "metric_data"),
                        ("reason", "unsupported"),
                    ],
                )
                .is_some()
                && b.contains("qce_metric_info{target=\"badperiod\"")
        })
        .await;
    // The catalog still works for both.
    assert_eq!(
        sample(
            &body,
            "qce_metric_info",
            &[("target", "badperiod"), ("metric", "CPUUsage")]
        ),
        Some(1.0)
    );
    let (_, page) = d.get("/").await;
    assert!(
        page.contains("CPUUsage does not support period 172800s or longer; supported periods: 10s, 60s, 300s, 3600s, 86400s (from DescribeBaseMetrics); change metrics[0].period"),
        "{page}"
    );
    assert!(page.contains("FailedOperation.ErrNotOpen"), "{page}");
    d.stop().await;
}

#[tokio::test]
async fn simulator_rejects_replayed_nonces_and_old_timestamps() {
    use usage_exporter::sources::tencent::sign::{v2_signature, V2Method};
    let sim = sim(1).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v2/index.php", sim.url());
    let host = sim.url().trim_start_matches("http://").to_string();
    let call = |timestamp: i64, nonce: u64, key: &'static str| {
        let mut params: Vec<(String, String)> = [
            ("Action", "DescribeMetrics".to_string()),
            ("Region", "gz".to_string()),
            ("Timestamp", timestamp.to_string()),
            ("Nonce", nonce.to_string()),
            ("SecretId", ID.to_string()),
            ("namespace", "qce/cvm".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let signature = v2_signature(
            key,
            "GET",
            &host,
            "/v2/index.php",
            &params,
            V2Method::HmacSha1,
        );
        params.push(("Signature".into(), signature));
        let request = client.get(&url).query(&params);
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["code"].as_i64().unwrap()
        }
    };
    let t = now() as i64;
    assert_eq!(call(t, 77, KEY).await, 0);
    assert_eq!(call(t, 77, KEY).await, 4500);
    assert_eq!(call(t - 1000, 78, KEY).await, 4200);
    assert_eq!(call(t, 79, "wrong-key").await, 4100);
    assert_eq!(sim.with(|s| s.calls_of("DescribeMetrics")), 1);
}

#[tokio::test]
async fn demo_config_polls_its_simulator() {
    let (sim, item) = usage_exporter_sim::tencent::start_demo(1).await.unwrap();
    assert!(item.starts_with("name: "));
    let mut yaml = String::from("sources:\n  tencent:\n");
    for (i, line) in item.lines().enumerate() {
        yaml.push_str(if i == 0 { "    - " } else { "      " });
        yaml.push_str(line);
        yaml.push('\n');
    }
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            samples(b, "qce_cvm_cpuusage_avg", &[]).len() == 20
                && samples(b, "qce_cvm_tcpcurrestab_max", &[]).len() == 20
        })
        .await;
    // The demo shows ingest lag: the served points are at least a period old.
    for line in samples(&body, "qce_datapoint_timestamp_seconds", &[]) {
        assert!(now() - line.value >= 60.0, "{line:?}");
    }
    assert_eq!(sim.with(|s| s.auth_failures), 0);
    assert_valid_openmetrics(&body);
    d.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Freshness (issue 15): keep-last, look-back, the period gauge — on clocks the test moves.

/// 2028-02-29 12:00:30 UTC: half a minute past a period boundary.
const T0: i64 = 1_835_438_430;

/// Moves the simulator's and the exporter's clocks forward together: the simulator first, in
/// steps of two minutes, so that a request signed in between is never more than the
/// signature window (five minutes) off.
fn advance(clock: &TestClock, sim: &TencentSim, secs: i64) {
    let mut left = secs;
    while left > 0 {
        let step = left.min(120);
        sim.with(|s| s.clock.advance_secs(step));
        clock.advance(Duration::from_secs(step as u64));
        left -= step;
    }
}

fn unix(clock: &TestClock) -> f64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A simulator and an exporter clock both standing at `T0`.
async fn frozen_sim(instances: usize) -> (TencentSim, TestClock) {
    let mut state = TencentSimState::new(ID, KEY, instances);
    state.clock = SimClock::fixed_unix(T0);
    let sim = TencentSim::start(state).await.expect("simulator starts");
    let clock = TestClock::frozen(UNIX_EPOCH + Duration::from_secs(T0 as u64));
    (sim, clock)
}

fn timestamp_of(body: &str, id_label: &str, id: &str) -> Option<f64> {
    sample(body, "qce_datapoint_timestamp_seconds", &[(id_label, id)])
}

#[tokio::test]
async fn a_stalled_series_keeps_its_last_point_and_ages_for_an_hour_with_the_default_stale_after() {
    let (sim, clock) = frozen_sim(2).await;
    let yaml = format!(
        "sources:\n  tencent:\n    - name: fresh\n      url: {}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: off}}\n      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          period: 60s\n          instances: [{{InstanceId: {}}}, {{InstanceId: {}}}]\n",
        sim.url(),
        instance_id(0),
        instance_id(1)
    );
    let d = support::start_with_clock(&yaml, clock.clone()).await;
    // One period of ingest lag: the newest point is a period before the current one.
    let newest = |now: i64| (now.div_euclid(60) * 60 - 60) as f64;
    let last = newest(T0);
    let (i0, i1) = (instance_id(0), instance_id(1));
    let body = d
        .wait_for(WAIT, |b| {
            timestamp_of(b, "instance_id", &i0) == Some(last)
                && timestamp_of(b, "instance_id", &i1) == Some(last)
        })
        .await;
    let value0 = sample(&body, "qce_cvm_cpuusage_avg", &[("instance_id", &i0)]);
    assert_eq!(value0, Some(value_at(&i0, "CPUUsage", "avg", last as i64)));
    // The period gauge, labelled like qce_datapoint_timestamp_seconds.
    assert_eq!(
        sample(
            &body,
            "qce_metric_period_seconds",
            &[
                ("target", "fresh"),
                ("namespace", "QCE/CVM"),
                ("metric", "CPUUsage")
            ]
        ),
        Some(60.0)
    );
    // The first request reached back an hour (2 instances × 60 points), the next ones three
    // periods.
    d.wait_for(WAIT, |_| sim.with(|s| s.requested_points.len() >= 2))
        .await;
    let asked = sim.with(|s| s.requested_points.clone());
    assert_eq!(asked[0], 60, "{asked:?}");
    assert!(asked[1..].iter().all(|n| *n == 3), "{asked:?}");

    // Instance 0 stops publishing after `last`. Five minutes later its point has left every
    // window, yet it is still served, with its original time: the lag grows. The default
    // stale_after (3 x 200 ms here) is far shorter: a stalled point is kept for at least an hour
    // since an answer last carried it, so TencentDatapointLagging (3 periods + 10 min) can fire.
    sim.with(|s| s.data_until_by_instance.insert(i0.clone(), last as i64));
    for minutes in [5, 59] {
        advance(&clock, &sim, if minutes == 5 { 300 } else { 54 * 60 });
        let now = T0 + minutes * 60;
        let body = d
            .wait_for(WAIT, |b| {
                timestamp_of(b, "instance_id", &i1) == Some(newest(now))
            })
            .await;
        assert_eq!(
            timestamp_of(&body, "instance_id", &i0),
            Some(last),
            "{minutes} min: kept with its original timestamp\n{body}"
        );
        assert_eq!(
            sample(&body, "qce_cvm_cpuusage_avg", &[("instance_id", &i0)]),
            value0
        );
        assert_eq!(unix(&clock), now as f64);
        assert!(unix(&clock) - last > 3.0 * 60.0, "older than any window");
        assert_eq!(
            sample(
                &body,
                "usage_exporter_poll_success",
                &[("target", "fresh"), ("endpoint", "metric_data")]
            ),
            Some(1.0)
        );
    }
    // An hour after an answer last carried the point: dropped.
    advance(&clock, &sim, 120);
    let now = T0 + 61 * 60;
    let body = d
        .wait_for(WAIT, |b| {
            timestamp_of(b, "instance_id", &i1) == Some(newest(now))
                && timestamp_of(b, "instance_id", &i0).is_none()
        })
        .await;
    assert!(samples(&body, "qce_cvm_cpuusage_avg", &[("instance_id", &i0)]).is_empty());
    // No look-back for it ever again: every request after the first asked three points.
    let asked = sim.with(|s| s.requested_points.clone());
    assert!(asked[1..].iter().all(|n| *n == 3), "{asked:?}");
    // Publishing resumes: the series is back with a fresh point.
    sim.with(|s| s.data_until_by_instance.clear());
    advance(&clock, &sim, 60);
    let now = T0 + 62 * 60;
    d.wait_for(WAIT, |b| {
        timestamp_of(b, "instance_id", &i0) == Some(newest(now))
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn v2_looks_back_for_new_series_and_keeps_a_stalled_one() {
    let (sim, clock) = frozen_sim(1).await;
    let yaml = format!(
        "sources:\n  tencent:\n    - name: legacy\n      api: v2\n      url: {}\n      region: gz\n      secret_id: {ID}\n      secret_key: {KEY}\n      stale_after: 1h\n      endpoints: {{metric_data: 200ms, metric_catalog: off}}\n      metrics:\n        - namespace: qce/cvm\n          names: [cpu_usage]\n          period: 60s\n          instances: [{{unInstanceId: {}}}]\n",
        sim.url(),
        instance_id(0)
    );
    let i0 = instance_id(0);
    // Publishing stopped 20 minutes before the exporter starts: only the look-back finds it.
    let stalled = (T0.div_euclid(60) * 60 - 20 * 60) as f64;
    sim.with(|s| s.data_until = Some(stalled as i64));
    let d = support::start_with_clock(&yaml, clock.clone()).await;
    let body = d
        .wait_for(WAIT, |b| timestamp_of(b, "un_instance_id", &i0).is_some())
        .await;
    assert_eq!(timestamp_of(&body, "un_instance_id", &i0), Some(stalled));
    assert_eq!(
        sample(&body, "qce_cvm_cpu_usage_avg", &[("un_instance_id", &i0)]),
        Some(value_at(&i0, "cpu_usage", "avg", stalled as i64))
    );
    assert_eq!(
        sample(
            &body,
            "qce_metric_period_seconds",
            &[("namespace", "qce/cvm"), ("metric", "cpu_usage")]
        ),
        Some(60.0)
    );
    d.wait_for(WAIT, |_| sim.with(|s| s.requested_points.len() >= 3))
        .await;
    let asked = sim.with(|s| s.requested_points.clone());
    assert_eq!(asked[0], 60, "one instance: a full hour, {asked:?}");
    assert!(asked[1..].iter().all(|n| *n == 3), "{asked:?}");
    // Time goes on: the point stays, and so does its time.
    advance(&clock, &sim, 600);
    let polls = sim.with(|s| s.requested_points.len());
    d.wait_for(WAIT, |_| sim.with(|s| s.requested_points.len()) > polls + 1)
        .await;
    let body = d.metrics().await;
    assert_eq!(timestamp_of(&body, "un_instance_id", &i0), Some(stalled));
    assert!(unix(&clock) - stalled >= 30.0 * 60.0);
    d.stop().await;
}

// ---------------------------------------------------------------------------------------------
// metric_catalog on API v2: a success or unsupported, never a failure.

fn catalog_state(body: &str, target: &str) -> (Option<f64>, Option<f64>, Vec<support::Line>) {
    let labels = [("target", target), ("endpoint", "metric_catalog")];
    (
        sample(body, "usage_exporter_poll_success", &labels),
        sample(body, "usage_exporter_endpoint_unsupported", &labels),
        samples(body, "usage_exporter_poll_errors_total", &labels),
    )
}

#[tokio::test]
async fn v2_metric_catalog_is_a_success_or_unsupported_never_a_failure() {
    let withdrawn = sim(1).await;
    let sim = sim(1).await;
    withdrawn.with(|s| {
        s.unoffered_actions.insert("DescribeMetrics".into());
    });
    let target = |name: &str, url: String, namespaces: &[&str]| {
        let blocks: String = namespaces
            .iter()
            .map(|ns| {
                format!(
                    "        - namespace: {ns}\n          names: [cpu_usage]\n          instances: [{{unInstanceId: {}}}]\n",
                    instance_id(0)
                )
            })
            .collect();
        format!(
            "    - name: {name}\n      api: v2\n      url: {url}\n      region: gz\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: off, metric_catalog: 200ms}}\n      metrics:\n{blocks}"
        )
    };
    let yaml = format!(
        "sources:\n  tencent:\n{}{}{}",
        // The documented example, v2 spelling: qce/cvm and a load balancer namespace, whose
        // catalog DescribeMetrics does not list (it refuses anything but qce/cvm).
        // The namespace without a catalog first: the qce/cvm catalog after it is still read.
        target("mixed", sim.url(), &["qce/lb_public", "qce/cvm"]),
        target("lbonly", sim.url(), &["qce/lb_public"]),
        target("withdrawn", withdrawn.url(), &["qce/cvm"]),
    );
    let d = support::start(&yaml).await;
    let body = d
        .wait_for(WAIT, |b| {
            sim.with(|s| s.calls_of("DescribeMetrics")) >= 3
                && catalog_state(b, "mixed").0 == Some(1.0)
                && catalog_state(b, "lbonly").1 == Some(1.0)
                && catalog_state(b, "withdrawn").1 == Some(1.0)
        })
        .await;
    for target in ["mixed", "lbonly", "withdrawn"] {
        let (_, _, errors) = catalog_state(&body, target);
        assert!(
            errors.iter().all(|e| e.value == 0.0),
            "{target}: no failure counted: {errors:?}"
        );
    }
    // mixed: the qce/cvm catalog, nothing of qce/lb_public.
    assert_eq!(
        sample(
            &body,
            "qce_metric_info",
            &[("target", "mixed"), ("metric", "cpu_usage")]
        ),
        Some(1.0)
    );
    // Unsupported: no poll_success at all, so UsageExporterEndpointFailing cannot fire.
    assert_eq!(catalog_state(&body, "lbonly").0, None);
    assert_eq!(catalog_state(&body, "withdrawn").0, None);
    let (_, page) = d.get("/").await;
    assert!(page.contains("qce/cvm only"), "{page}");
    assert!(page.contains("code 6100"), "{page}");
    d.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Issue 17: failures per unit, per-product timing, batch fallback, v2 time, catalog back-off.

/// A v3 target `name` on `url` with `blocks` (YAML list items under `metrics:`).
fn v3_target(name: &str, url: &str, endpoints: &str, blocks: &str) -> String {
    format!(
        "    - name: {name}\n      url: {url}\n      region: ap-guangzhou\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{{endpoints}}}\n      metrics:\n{blocks}"
    )
}

fn block(namespace: &str, names: &str, extra: &str, instances: &str) -> String {
    format!(
        "        - namespace: {namespace}\n          names: [{names}]\n{extra}          instances: [{instances}]\n"
    )
}

fn ok_polls(body: &str, target: &str, endpoint: &str) -> Option<f64> {
    sample(
        body,
        "usage_exporter_poll_success",
        &[("target", target), ("endpoint", endpoint)],
    )
}

#[tokio::test]
async fn one_bad_metric_a_failing_metric_and_a_closed_namespace_keep_the_good_metrics() {
    let (sim, clock) = frozen_sim(2).await;
    sim.with(|s| {
        s.not_open.insert("qce/cdb".into());
        s.failing_metrics.insert("tcpcurrestab".into());
    });
    let (i0, i1) = (instance_id(0), instance_id(1));
    let yaml = format!(
        "sources:\n  tencent:\n{}",
        v3_target(
            "part",
            &sim.url(),
            "metric_data: 200ms, metric_catalog: off",
            &format!(
                "{}{}",
                block(
                    "QCE/CVM",
                    "CPUUsage, NoSuchMetric, TcpCurrEstab, MemUsage",
                    "          period: 60s\n",
                    &format!("{{InstanceId: {i0}}}, {{InstanceId: {i1}}}")
                ),
                block("QCE/CDB", "CpuUseRate", "", "{InstanceId: cdb-1}")
            )
        )
    );
    let d = support::start_with_clock(&yaml, clock.clone()).await;
    let newest = (T0.div_euclid(60) * 60 - 60) as f64;
    // The poll state is current in every scrape, the data at most one background encode
    // behind it: wait for both.
    let body = d
        .wait_for(WAIT, |b| {
            ok_polls(b, "part", "metric_data") == Some(1.0)
                && samples(b, "qce_datapoint_timestamp_seconds", &[("target", "part")]).len() == 4
        })
        .await;
    // The good metrics of both instances survive the bad name, the failing metric and the
    // closed namespace, with their values at their times.
    for id in [&i0, &i1] {
        for (family, metric) in [
            ("qce_cvm_cpuusage_avg", "CPUUsage"),
            ("qce_cvm_memusage_avg", "MemUsage"),
        ] {
            assert_eq!(
                sample(&body, family, &[("target", "part"), ("instance_id", id)]),
                Some(value_at(id, metric, "avg", newest as i64)),
                "{family} {id}\n{body}"
            );
        }
    }
    assert_eq!(
        samples(
            &body,
            "qce_datapoint_timestamp_seconds",
            &[("target", "part")]
        )
        .iter()
        .map(|l| l.value)
        .collect::<Vec<_>>(),
        vec![newest; 4]
    );
    // What failed has no series, and no failure is counted for the poll.
    for gone in [
        "qce_cvm_nosuchmetric_avg",
        "qce_cvm_tcpcurrestab_max",
        "qce_cdb_cpuuserate_avg",
    ] {
        assert!(samples(&body, gone, &[]).is_empty(), "{gone}");
    }
    assert!(samples(
        &body,
        "usage_exporter_poll_errors_total",
        &[("target", "part"), ("endpoint", "metric_data")]
    )
    .iter()
    .all(|l| l.value == 0.0));
    // Every unit was asked: 2 good + 2 bad CVM reads (one batch each) and the CDB read.
    let (cvm, cdb) = sim.with(|s| {
        (
            s.calls_for("GetMonitorData", "QCE/CVM"),
            s.calls_for("GetMonitorData", "QCE/CDB"),
        )
    });
    assert!(cvm >= 4 && cdb >= 1, "{cvm} {cdb}");
    // A minute on, the good metrics move on with time, the failing ones still fail.
    advance(&clock, &sim, 60);
    let body = d
        .wait_for(WAIT, |b| {
            let ts = samples(b, "qce_datapoint_timestamp_seconds", &[]);
            ts.len() == 4 && ts.iter().all(|l| l.value == newest + 60.0)
        })
        .await;
    assert_eq!(samples(&body, "qce_cvm_memusage_avg", &[]).len(), 2);
    d.stop().await;
}

#[tokio::test]
async fn a_read_still_rate_limited_after_its_retries_keeps_the_other_metrics() {
    let (sim, clock) = frozen_sim(1).await;
    sim.with(|s| {
        s.rate_limited_metrics.insert("memusage".into());
    });
    let i0 = instance_id(0);
    let yaml = format!(
        "sources:\n  tencent:\n{}",
        v3_target(
            "limited",
            &sim.url(),
            "metric_data: 200ms, metric_catalog: off",
            &block(
                "QCE/CVM",
                "CPUUsage, MemUsage",
                "          period: 60s\n",
                &format!("{{InstanceId: {i0}}}")
            )
        )
    );
    let d = support::start_with_clock(&yaml, clock).await;
    // The poll state is current in every scrape, the data at most one background encode
    // behind it: wait for both.
    let body = d
        .wait_for(WAIT, |b| {
            ok_polls(b, "limited", "metric_data") == Some(1.0)
                && !samples(b, "qce_cvm_cpuusage_avg", &[]).is_empty()
        })
        .await;
    let newest = T0.div_euclid(60) * 60 - 60;
    assert_eq!(
        sample(&body, "qce_cvm_cpuusage_avg", &[("instance_id", &i0)]),
        Some(value_at(&i0, "CPUUsage", "avg", newest))
    );
    assert!(samples(&body, "qce_cvm_memusage_avg", &[]).is_empty());
    // The MemUsage read was tried four times (a call and three retries) before it gave up.
    assert!(sim.with(|s| s.rate_limited) >= 4);
    d.stop().await;
}

#[tokio::test]
async fn periods_round_up_to_a_supported_one_and_cdn_is_read_six_minutes_late() {
    let (sim, clock) = frozen_sim(3).await;
    // CDN echoes a dimension that was not asked for: the point is still the instance's.
    sim.with(|s| {
        s.extra_dimensions
            .insert("qce/cdn".into(), vec![("area".into(), "mainland".into())]);
    });
    let (i0, i1, i2) = (instance_id(0), instance_id(1), instance_id(2));
    let blocks = format!(
        "{}{}{}",
        // 30 s is not offered: the next longer catalogued period, 60 s.
        block(
            "QCE/CVM",
            "CPUUsage",
            "          period: 30s\n",
            &format!("{{InstanceId: {i0}}}")
        ),
        // COS has nothing below 300 s (catalog: 300, 3600, 86400).
        block(
            "QCE/COS",
            "StdStorage",
            "          period: 60s\n",
            &format!("{{bucket: {i1}, appid: 125}}")
        ),
        // CDN: no delay configured, the product's default of 6 minutes applies.
        block(
            "QCE/CDN",
            "Bandwidth",
            "",
            &format!("{{domain: {i2}, projectId: 0}}")
        ),
    );
    let yaml = format!(
        "sources:\n  tencent:\n{}",
        v3_target(
            "timing",
            &sim.url(),
            "metric_data: 200ms, metric_catalog: 1h",
            &blocks
        )
    );
    let d = support::start_with_clock(&yaml, clock.clone()).await;
    let period_of = |body: &str, metric: &str| {
        sample(
            body,
            "qce_metric_period_seconds",
            &[("target", "timing"), ("metric", metric)],
        )
    };
    // CDN at T0: the newest point ready is a period before the window end, which is
    // T0 - 6 min rounded down to the minute.
    let cdn_end = |now: i64| (now - 360).div_euclid(60) * 60;
    let body = d
        .wait_for(WAIT, |b| {
            ["instance_id", "bucket", "domain"]
                .iter()
                .zip([&i0, &i1, &i2])
                .all(|(label, id)| timestamp_of(b, label, id).is_some())
        })
        .await;
    assert_eq!(period_of(&body, "CPUUsage"), Some(60.0));
    assert_eq!(period_of(&body, "StdStorage"), Some(300.0));
    assert_eq!(period_of(&body, "Bandwidth"), Some(60.0));
    assert_eq!(
        timestamp_of(&body, "instance_id", &i0),
        Some((T0.div_euclid(60) * 60 - 60) as f64)
    );
    let cos_ts = (T0.div_euclid(300) * 300 - 300) as f64;
    assert_eq!(timestamp_of(&body, "bucket", &i1), Some(cos_ts));
    assert_eq!(
        sample(
            &body,
            "qce_cos_stdstorage_avg",
            &[("bucket", &i1), ("appid", "125")]
        ),
        Some(value_at(&i1, "StdStorage", "avg", cos_ts as i64))
    );
    let cdn_ts = (cdn_end(T0) - 60) as f64;
    assert_eq!(timestamp_of(&body, "domain", &i2), Some(cdn_ts));
    assert_eq!(
        sample(
            &body,
            "qce_cdn_bandwidth_max",
            &[("domain", &i2), ("project_id", "0")]
        ),
        Some(value_at(&i2, "Bandwidth", "max", cdn_ts as i64))
    );
    // Every CDN read ended six minutes before the poll; the others at the poll.
    let windows = sim.with(|s| s.requested_windows.clone());
    let ends = |metric: &str| -> Vec<i64> {
        windows
            .iter()
            .filter(|(m, _, _)| m == metric)
            .map(|(_, _, end)| *end)
            .collect()
    };
    assert!(
        ends("Bandwidth").iter().all(|e| *e == cdn_end(T0)),
        "{windows:?}"
    );
    assert!(ends("CPUUsage")
        .iter()
        .all(|e| *e == T0.div_euclid(60) * 60));
    // Ten minutes on, CDN is still fresh (read in its late window, not kept from before):
    // without the delay its three-minute window would hold no ready point at all.
    advance(&clock, &sim, 600);
    let now = T0 + 600;
    d.wait_for(WAIT, |b| {
        timestamp_of(b, "domain", &i2) == Some((cdn_end(now) - 60) as f64)
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn a_refused_batch_is_halved_for_its_namespace_and_remembered() {
    let (sim, clock) = frozen_sim(25).await;
    sim.with(|s| s.batch_limit = 10);
    let yaml = format!(
        "sources:\n  tencent:\n{}",
        v3_target(
            "halving",
            &sim.url(),
            "metric_data: 200ms, metric_catalog: off",
            &block(
                "QCE/CVM",
                "CPUUsage",
                "          period: 60s\n",
                &instances_yaml((0..25).map(instance_id), "InstanceId")
            )
        )
    );
    let d = support::start_with_clock(&yaml, clock).await;
    let body = d
        .wait_for(WAIT, |b| {
            samples(b, "qce_cvm_cpuusage_avg", &[("target", "halving")]).len() == 25
        })
        .await;
    assert_eq!(ok_polls(&body, "halving", "metric_data"), Some(1.0));
    d.wait_for(WAIT, |_| sim.with(|s| s.batch_sizes.len() >= 8))
        .await;
    let (sizes, calls) = sim.with(|s| (s.batch_sizes.clone(), s.calls_of("GetMonitorData")));
    // First poll: 25 refused → 12 (refused twice) → 10; what the 10 leaves over goes alone.
    assert_eq!(sizes[..5], [10, 2, 10, 2, 1], "{sizes:?}");
    // Next polls start at the remembered 10: three requests, none refused.
    let mut second = sizes[5..8].to_vec();
    second.sort_unstable();
    assert_eq!(second, [5, 10, 10], "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 10));
    // Refused requests: the 25 and the two 12s of the first poll, never again.
    assert_eq!(calls - sizes.len() as u64, 3, "{calls} calls, {sizes:?}");
    d.stop().await;
}

#[tokio::test]
async fn v2_outside_utc8_reads_beijing_time() {
    let (sim, clock) = frozen_sim(1).await;
    let i0 = instance_id(0);
    // Silicon Valley is UTC-8; the v2 service still speaks Beijing time (UTC+8).
    let yaml = format!(
        "sources:\n  tencent:\n    - name: usw\n      api: v2\n      url: {}\n      region: na-siliconvalley\n      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: off}}\n      metrics:\n        - namespace: qce/cvm\n          names: [cpu_usage]\n          period: 60s\n          instances: [{{unInstanceId: {i0}}}]\n",
        sim.url()
    );
    let d = support::start_with_clock(&yaml, clock).await;
    let newest = T0.div_euclid(60) * 60 - 60;
    let body = d
        .wait_for(WAIT, |b| timestamp_of(b, "un_instance_id", &i0).is_some())
        .await;
    assert_eq!(
        timestamp_of(&body, "un_instance_id", &i0),
        Some(newest as f64)
    );
    assert_eq!(
        sample(&body, "qce_cvm_cpu_usage_avg", &[("un_instance_id", &i0)]),
        Some(value_at(&i0, "cpu_usage", "avg", newest))
    );
    // The window asked is the last hour up to now, not 16 hours in the past.
    let (_, start, end) = sim.with(|s| s.requested_windows[0].clone());
    assert_eq!((start, end), (newest + 60 - 3540, newest + 60));
    d.stop().await;
}

#[tokio::test]
async fn catalog_failures_are_backed_off_per_namespace_and_lose_no_other_catalog() {
    let (sim, clock) = frozen_sim(2).await;
    let catalog_sim = sim_at_t0(2).await;
    for s in [&sim, &catalog_sim] {
        s.with(|s| {
            s.failing_catalogs.insert("qce/cdn".into());
        });
    }
    let (i0, i1) = (instance_id(0), instance_id(1));
    let blocks = format!(
        "{}{}",
        block("QCE/CDN", "Bandwidth", "", &format!("{{domain: {i0}}}")),
        block("QCE/CVM", "CPUUsage", "", &format!("{{InstanceId: {i1}}}")),
    );
    let yaml = format!(
        "sources:\n  tencent:\n{}{}",
        v3_target(
            "data",
            &sim.url(),
            "metric_data: 200ms, metric_catalog: off",
            &blocks
        ),
        v3_target(
            "catalog",
            &catalog_sim.url(),
            "metric_data: off, metric_catalog: 200ms",
            &blocks
        ),
    );
    let d = support::start_with_clock(&yaml, clock.clone()).await;
    let catalog_calls =
        |s: &TencentSim, ns: &str| s.with(|s| s.calls_for("DescribeBaseMetrics", ns));
    let reads = || sim.with(|s| s.calls_of("GetMonitorData"));
    // Many data polls: the failing CDN catalog was asked once, the CVM one once.
    d.wait_for(WAIT, |_| reads() >= 12).await;
    assert_eq!(catalog_calls(&sim, "QCE/CDN"), 1);
    assert_eq!(catalog_calls(&sim, "QCE/CVM"), 1);
    let body = d.metrics().await;
    // Both read: CDN without a catalog (avg), CVM with it.
    assert!(timestamp_of(&body, "domain", &i0).is_some(), "{body}");
    assert!(sample(&body, "qce_cdn_bandwidth_avg", &[("domain", &i0)]).is_some());
    assert!(sample(&body, "qce_cvm_cpuusage_avg", &[("instance_id", &i1)]).is_some());
    // metric_catalog: the CVM catalog is served though the CDN one fails, every poll.
    let body = d
        .wait_for(WAIT, |b| {
            ok_polls(b, "catalog", "metric_catalog") == Some(1.0)
                && catalog_calls(&catalog_sim, "QCE/CDN") >= 3
        })
        .await;
    assert_eq!(
        sample(
            &body,
            "qce_metric_info",
            &[("target", "catalog"), ("metric", "CPUUsage")]
        ),
        Some(1.0)
    );
    assert!(samples(
        &body,
        "qce_metric_info",
        &[("target", "catalog"), ("namespace", "QCE/CDN")]
    )
    .is_empty());
    // The CVM catalog call starts failing too: every unit fails, so the poll fails (and
    // UsageExporterEndpointFailing can tell), but the catalog read before is still served
    // until stale_after, like any failing endpoint's last good data.
    catalog_sim.with(|s| s.failing_catalogs.insert("qce/cvm".into()));
    let failing_from = catalog_calls(&catalog_sim, "QCE/CVM");
    let body = d
        .wait_for(WAIT, |_| {
            catalog_calls(&catalog_sim, "QCE/CVM") >= failing_from + 3
        })
        .await;
    assert_eq!(ok_polls(&body, "catalog", "metric_catalog"), Some(0.0));
    assert_eq!(
        sample(
            &body,
            "qce_metric_info",
            &[("target", "catalog"), ("metric", "CPUUsage")]
        ),
        Some(1.0)
    );
    // Five minutes later the back-off has passed: asked once more, then 10 minutes' rest.
    advance(&clock, &sim, 300);
    let before = reads();
    d.wait_for(WAIT, |_| reads() >= before + 10).await;
    assert_eq!(catalog_calls(&sim, "QCE/CDN"), 2);
    // It recovers: after the next back-off (10 min) the catalog is read and used (`max`).
    sim.with(|s| s.failing_catalogs.clear());
    advance(&clock, &sim, 599);
    let before = reads();
    d.wait_for(WAIT, |_| reads() >= before + 10).await;
    assert_eq!(catalog_calls(&sim, "QCE/CDN"), 2, "not before the back-off");
    advance(&clock, &sim, 1);
    d.wait_for(WAIT, |b| {
        sample(b, "qce_cdn_bandwidth_max", &[("domain", &i0)]).is_some()
    })
    .await;
    assert_eq!(catalog_calls(&sim, "QCE/CDN"), 3);
    assert_eq!(catalog_calls(&sim, "QCE/CVM"), 1);
    d.stop().await;
}

/// A simulator whose clock stands at `T0` (for a second simulator next to [`frozen_sim`]).
async fn sim_at_t0(instances: usize) -> TencentSim {
    let mut state = TencentSimState::new(ID, KEY, instances);
    state.clock = SimClock::fixed_unix(T0);
    TencentSim::start(state).await.expect("simulator starts")
}
