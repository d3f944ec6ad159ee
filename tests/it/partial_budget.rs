//! The two core features other sources build on (issue 17), black-box over real HTTP:
//!
//! - partial polls: a target whose poll returns `PollOutcome::Partial` has its data served,
//!   `usage_exporter_poll_success` 1, its failed units counted, listed on the landing page
//!   (bounded, secrets removed) and reset by the next full success;
//! - call budgets: a simulated SCC polled every 100 ms with a `max_calls_per_day` a quarter of
//!   its natural rate has its interval stretched 4× and makes no more calls over a fixed span
//!   than the budget's pro-rata share.
//!
//! Run: `cargo test --test it partial_budget::`.

use crate::support::{self, fake_instance, sample, Behaviour, FakeTarget};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use usage_exporter::base::{ErrorReason, FailedUnit, PollError};
use usage_exporter::snapshot::{Family, Labels, Snapshot};
use usage_exporter::sources::{PollContext, PollFuture, PollOutcome, Target};
use usage_exporter_sim::scc::{SccSim, SccState};

const EMPTY: &str = "global:\n  timeout: 5s\nsources: {}\n";

/// A target with 30 units: while `failing` is set, units 0..25 fail (unit 3's text and error
/// quote the fake secret), the other 5 answer.
struct Batches {
    failing: Mutex<bool>,
}

fn batch_data(answering: u32) -> Snapshot {
    let mut f = Family::gauge("test_batch_value", "A value per answering batch.");
    for i in 0..answering {
        f.push_gauge(Labels::new().with("batch", i.to_string()), f64::from(i));
    }
    Snapshot::from_families(vec![f])
}

impl Target for Batches {
    fn poll<'a>(&'a self, _endpoint: usize, _ctx: &'a PollContext) -> PollFuture<'a> {
        let failing = *self.failing.lock().unwrap();
        Box::pin(async move {
            if !failing {
                return Ok(PollOutcome::Data(batch_data(30)));
            }
            let failed = (0..25)
                .map(|i| {
                    let (unit, message) = if i == 3 {
                        (
                            "batch fake-secret-value".to_string(),
                            "HTTP 500: token fake-secret-value expired".to_string(),
                        )
                    } else {
                        (
                            format!(
                                "QCE/CVM CPUUsage instances {}-{}",
                                i * 100 + 1,
                                i * 100 + 100
                            ),
                            "HTTP 500".to_string(),
                        )
                    };
                    let reason = if i == 24 {
                        ErrorReason::Timeout
                    } else {
                        ErrorReason::Http5xx
                    };
                    FailedUnit::new(unit, PollError::new(reason, message))
                })
                .collect();
            Ok(PollOutcome::partial(batch_data(5), 30, failed))
        })
    }
}

fn ep() -> Vec<(&'static str, &'static str)> {
    vec![
        ("source", "test"),
        ("target", "batches"),
        ("endpoint", "ep"),
    ]
}

fn unit_errors(body: &str, reason: &str) -> Option<f64> {
    let mut labels = ep();
    labels.push(("reason", reason));
    sample(body, "usage_exporter_poll_unit_errors_total", &labels)
}

#[tokio::test]
async fn partial_polls_serve_their_data_and_list_count_and_reset_their_failed_units() {
    let batches = Arc::new(Batches {
        failing: Mutex::new(true),
    });
    let mut instance = fake_instance(
        "batches",
        FakeTarget::new(Behaviour::Skip("unused".into())),
        Duration::from_millis(150),
        Duration::from_secs(60),
    );
    instance.target = batches.clone();
    let d = support::start_with(EMPTY, vec![instance]).await;
    let body = d
        // The data as well as the poll state: a served body may lag the newest poll by one
        // background encode, while the self-metrics are read per scrape.
        .wait_for(Duration::from_secs(10), |b| {
            sample(b, "usage_exporter_poll_failed_units", &ep()) == Some(25.0)
                && !support::samples(b, "test_batch_value", &[("target", "batches")]).is_empty()
        })
        .await;
    support::assert_valid_openmetrics(&body);
    assert_eq!(
        sample(&body, "usage_exporter_poll_success", &ep()),
        Some(1.0)
    );
    assert_eq!(
        support::samples(&body, "test_batch_value", &[("target", "batches")]).len(),
        5,
        "the answering units' data is served"
    );
    let http_5xx = unit_errors(&body, "http_5xx").unwrap();
    let timeouts = unit_errors(&body, "timeout").unwrap();
    assert!(http_5xx >= 24.0 && http_5xx % 24.0 == 0.0, "{http_5xx}");
    assert_eq!(
        http_5xx / 24.0,
        timeouts,
        "24 http_5xx and 1 timeout per poll"
    );
    assert_eq!(
        unit_errors(&body, "auth"),
        Some(0.0),
        "every reason exported"
    );
    let failed_polls: f64 = support::samples(&body, "usage_exporter_poll_errors_total", &ep())
        .iter()
        .map(|l| l.value)
        .sum();
    assert_eq!(failed_polls, 0.0, "a partial poll is not a failed poll");

    let (status, landing) = d.get("/").await;
    assert_eq!(status, 200);
    assert!(
        landing.contains("partial: 25 of 30 units failed"),
        "{landing}"
    );
    assert!(
        landing.contains("QCE/CVM CPUUsage instances 1-100: HTTP 500 (http_5xx)"),
        "{landing}"
    );
    assert!(
        landing.contains("batch &lt;secret&gt;: HTTP 500: token &lt;secret&gt; expired (http_5xx)"),
        "{landing}"
    );
    assert!(
        !landing.contains("fake-secret-value"),
        "secrets never shown"
    );
    assert_eq!(
        landing.matches("QCE/CVM CPUUsage instances").count(),
        19,
        "20 units shown"
    );
    assert!(landing.contains("… and 5 more"), "{landing}");
    assert!(
        !landing.contains("instances 2001-2100"),
        "unit 21 is not listed"
    );

    // All units answer again: the gauge goes to 0, the counter keeps its count.
    *batches.failing.lock().unwrap() = false;
    let body = d
        .wait_for(Duration::from_secs(10), |b| {
            sample(b, "usage_exporter_poll_failed_units", &ep()) == Some(0.0)
                && support::samples(b, "test_batch_value", &[]).len() == 30
        })
        .await;
    assert!(unit_errors(&body, "http_5xx").unwrap() >= http_5xx);
    assert_eq!(support::samples(&body, "test_batch_value", &[]).len(), 30);
    let (_, landing) = d.get("/").await;
    assert!(!landing.contains("units failed"), "{landing}");
    d.stop().await;
}

#[tokio::test]
async fn a_call_budget_stretches_the_intervals_and_keeps_the_calls_within_its_share() {
    let sim = SccSim::start(SccState::generated(1), None).await.unwrap();
    let endpoints: Vec<String> = usage_exporter::sources::registry::endpoints("scc")
        .into_iter()
        .map(|e| {
            let interval = if e.name == "health" { "100ms" } else { "off" };
            format!("{}: {interval}", e.name)
        })
        .collect();
    // Every 100 ms with one call per poll is 864 000 calls a day; the budget is a quarter.
    let budget_per_day = 216_000.0;
    let mut yaml = String::from("sources:\n  scc:\n");
    for (i, line) in sim.config_yaml("budgeted").lines().enumerate() {
        yaml.push_str(if i == 0 { "    - " } else { "      " });
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml.push_str(&format!(
        "      max_calls_per_day: {budget_per_day}\n      stale_after: 10m\n      endpoints: {{{}}}\n",
        endpoints.join(", ")
    ));
    let d = support::start(&yaml).await;
    let t = [("source", "scc"), ("target", "budgeted")];
    let day = [("source", "scc"), ("target", "budgeted"), ("period", "day")];
    let body = d
        .wait_for(Duration::from_secs(10), |b| {
            sample(
                b,
                "usage_exporter_polls_total",
                &[("target", "budgeted"), ("endpoint", "health")],
            )
            .is_some_and(|n| n >= 1.0)
        })
        .await;
    assert_eq!(
        sample(&body, "usage_exporter_target_call_budget", &day),
        Some(budget_per_day)
    );
    assert_eq!(
        sample(&body, "usage_exporter_target_projected_calls", &day),
        Some(864_000.0)
    );
    assert_eq!(
        sample(&body, "usage_exporter_target_interval_stretch_factor", &t),
        Some(4.0)
    );

    // Count the calls the simulator receives over a fixed span.
    let span = Duration::from_secs(4);
    let before = sim.calls.total();
    let started = Instant::now();
    tokio::time::sleep(span).await;
    let calls = (sim.calls.total() - before) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    let share = budget_per_day / 86_400.0 * elapsed; // 2.5 calls a second
    eprintln!(
        "budgeted SCC: {calls} calls in {elapsed:.2} s; budget share {share:.1}, unstretched {:.0}",
        10.0 * elapsed
    );
    assert!(
        calls <= share + 1.0,
        "{calls} calls in {elapsed:.2} s, the budget's share is {share:.1}"
    );
    assert!(
        calls >= share * 0.6,
        "{calls} calls in {elapsed:.2} s: still polling at the stretched interval"
    );
    let unstretched = 10.0 * elapsed;
    assert!(
        calls < unstretched / 3.0,
        "{calls} calls, unstretched {unstretched:.0}"
    );

    let (_, landing) = d.get("/").await;
    assert!(landing.contains("216000 per day"), "{landing}");
    assert!(landing.contains("×4.00"), "{landing}");
    let body = d.metrics().await;
    support::assert_valid_openmetrics(&body);
    d.stop().await;
}
