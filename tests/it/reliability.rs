//! Reliability of the core under load and hostile input: scrapes while endpoints fail and
//! recover, the upstream body cap, and arbitrary label values always giving a valid exposition.

use crate::support::{self, fake_instance, memory_heavy, rss_bytes, Behaviour, FakeTarget};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use usage_exporter::base::{ErrorReason, PollError};
use usage_exporter::snapshot::{Family, Frozen, Labels, Snapshot};

const EMPTY: &str = "global:\n  timeout: 5s\nsources: {}\n";

fn families(n: usize, value: f64) -> Vec<Family> {
    let mut g = Family::gauge("load_gauge", "A gauge for the load test.");
    let mut c = Family::counter("load_requests_total", "A counter for the load test.");
    for i in 0..n {
        g.push_gauge(Labels::new().with("i", i.to_string()), value);
        c.push_counter(Labels::new().with("i", i.to_string()), value, Some(1.7e9));
    }
    vec![g, c]
}

/// 8 scrapers for 15 s while endpoints flip between data, failures and skips: every scrape
/// answers 200 with a complete body, and memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_under_load_while_endpoints_fail_and_recover() {
    let _alone = memory_heavy().await;
    let every = Duration::from_millis(100);
    let targets: Vec<Arc<FakeTarget>> = (0..6)
        .map(|_| FakeTarget::new(Behaviour::Data(families(2000, 1.0))))
        .collect();
    let instances = targets
        .iter()
        .enumerate()
        .map(|(i, t)| fake_instance(&format!("t{i}"), t.clone(), every, every * 3))
        .collect();
    let d = support::start_with(EMPTY, instances).await;
    d.wait_ready(Duration::from_secs(10)).await;
    let flipper_targets = targets.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper_stop = stop.clone();
    let flipper = tokio::spawn(async move {
        let mut round = 0u64;
        while !flipper_stop.load(std::sync::atomic::Ordering::SeqCst) {
            for (i, t) in flipper_targets.iter().enumerate() {
                let behaviour = match (round + i as u64) % 4 {
                    0 => Behaviour::Fail(PollError::new(ErrorReason::Http5xx, "HTTP 503")),
                    1 => Behaviour::Skip("shadow".into()),
                    _ => Behaviour::Data(families(2000, round as f64)),
                };
                t.set(behaviour);
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let rss_before = rss_bytes();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut scrapers = Vec::new();
    for n in 0..8 {
        let url = format!("{}/metrics", d.url());
        scrapers.push(tokio::spawn(async move {
            let client = support::openmetrics_client();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let mut req = client.get(&url);
                if n % 2 == 0 {
                    req = req.header("accept-encoding", "gzip");
                }
                let resp = req.send().await.expect("scrape answers");
                assert_eq!(resp.status(), 200);
                let gzip = resp.headers().get("content-encoding").is_some();
                let body = resp.bytes().await.expect("complete body");
                let text = if gzip {
                    use std::io::Read;
                    let mut s = String::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut s)
                        .unwrap();
                    s
                } else {
                    String::from_utf8(body.to_vec()).unwrap()
                };
                assert!(text.ends_with("# EOF\n"), "truncated body");
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for s in scrapers {
        latencies.extend(s.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    flipper.await.unwrap();
    let rss_after = rss_bytes();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "load: {} scrapes by 8 scrapers in 15 s, p50 {:?}, p99 {:?}, max {:?}; RSS {} MB -> {} MB",
        latencies.len(),
        p(0.5),
        p(0.99),
        latencies.last().unwrap(),
        rss_before / 1_000_000,
        rss_after / 1_000_000
    );
    // Liveness, not speed (speed is the benchmark's job): every scraper kept getting answers.
    assert!(latencies.len() >= 16, "scrapes kept being served");
    assert!(
        rss_after < rss_before + 200_000_000,
        "memory grew from {rss_before} to {rss_after} bytes"
    );
    let body = d.metrics().await;
    support::assert_valid_openmetrics(&body);
    let errors: f64 = support::samples(
        &body,
        "usage_exporter_poll_errors_total",
        &[("reason", "http_5xx")],
    )
    .iter()
    .map(|l| l.value)
    .sum();
    assert!(errors > 0.0, "the failures were recorded");
    d.stop().await;
}

/// A 100 MB upstream body is cut off at the configured cap with a clear message.
#[tokio::test]
async fn upstream_body_cap_rejects_huge_bodies_without_reading_them() {
    let _alone = memory_heavy().await;
    use usage_exporter_sim::{self as sim, Fault, Faults, SimHandler, SimRequest, SimResponse};
    struct Huge(Faults);
    impl SimHandler for Huge {
        fn handle(
            &self,
            _request: SimRequest,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = SimResponse> + Send + '_>> {
            Box::pin(
                self.0
                    .apply(|| async { SimResponse::json(200, &serde_json::json!({})) }),
            )
        }
    }
    let faults = Faults::default();
    faults.set(Fault::HugeBody(100 * 1024 * 1024));
    let server = sim::serve(Arc::new(Huge(faults)), None).await.unwrap();
    let requests = usage_exporter::upstream::RequestCounter::default();
    let upstream = usage_exporter::upstream::Upstream::build(
        "test",
        Arc::from("huge"),
        &Default::default(),
        Duration::from_secs(10),
        8 * 1024 * 1024,
        requests,
    )
    .unwrap();
    let rss_before = rss_bytes();
    let err = upstream
        .send(upstream.client().get(server.url()), "GET /huge")
        .await
        .unwrap_err();
    assert_eq!(err.reason, ErrorReason::Decode);
    assert!(
        err.message
            .starts_with("GET /huge: response body larger than the limit of 8388608 bytes"),
        "{}",
        err.message
    );
    assert!(err.message.contains("global.body_limit_bytes"));
    // The simulator built its 100 MB body before `rss_before`; the client must not copy it.
    assert!(
        rss_bytes() < rss_before + 64 * 1024 * 1024,
        "client buffered far past the cap"
    );
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\n{}=, #]{0,12}".prop_map(|s| s),
        "\\PC{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever vendors send as label values, the exposition stays valid for an independent parser.
    #[test]
    fn arbitrary_label_values_give_a_valid_exposition(values in proptest::collection::vec(label_value(), 1..40)) {
        let mut g = Family::gauge("hostile_gauge", "Label values from a hostile upstream.");
        let mut c = Family::counter("hostile_total", "Counter with hostile labels.");
        for (i, v) in values.iter().enumerate() {
            g.push_gauge(Labels::new().with("value", v.clone()).with("i", i.to_string()), i as f64);
            c.push_counter(Labels::new().with("value", v.clone()).with("i", i.to_string()), 1.0, Some(1.7e9));
        }
        let snapshot = Arc::new(Frozen::new(&Snapshot::from_families(vec![g, c])));
        let groups = usage_exporter::expose::merge([(Some(Arc::from("t\"1\\\n")), snapshot)]);
        let mut text = String::new();
        usage_exporter::expose::encode_groups(&mut text, &groups);
        text.push_str("# EOF\n");
        support::assert_valid_openmetrics(&text);
        let lines = support::parse_lines(&text);
        for (i, v) in values.iter().enumerate() {
            let found = lines.iter().any(|l| l.name == "hostile_gauge"
                && l.labels.iter().any(|(k, lv)| k == "value" && lv == v)
                && l.value == i as f64);
            prop_assert!(found, "value {:?} did not round-trip", v);
        }
    }
}
