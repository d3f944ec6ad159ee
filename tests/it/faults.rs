//! Fault injection through the simulators, for every source (scc, akana, tr50, tencent, aveva): hangs, slow answers, 5xx bursts,
//! 429/503 with Retry-After, HTML with 200, truncated and wrongly typed JSON, a 100 MB body,
//! connection refused at start, auth expiry mid-run and (Tencent) clock skew. Each fault must be
//! an error of that endpoint only, visible in the self-metrics, and the endpoint must recover on
//! its own once the fault ends.
//!
//! Every scenario runs for all sources at once (`for_every_source`), each against its own
//! simulator and daemon, with short intervals and timeouts so the file stays fast.

use crate::support::{self, memory_heavy, rss_bytes, sample, TestDaemon};
use serde_json::json;
use std::future::Future;
use std::time::{Duration, Instant};
use usage_exporter_sim::akana::{self, AkanaSim};
use usage_exporter_sim::aveva::{self, AvevaSim};
use usage_exporter_sim::scc::{SccSim, SccState};
use usage_exporter_sim::tencent::{self, TencentSim, TencentSimState};
use usage_exporter_sim::tr50::{self, Tr50Sim};
use usage_exporter_sim::Fault;

/// Upper bound of every wait (a loaded 2-core machine; normally each takes well under 2 s).
const WAIT: Duration = Duration::from_secs(20);

/// How a timeout is explained: by the poll deadline or by the request timeout, whichever fires
/// first (they are equal here).
const TIMED_OUT: &[&str] = &["poll did not finish within", "no answer in time"];

const TENCENT_ID: &str = "AKIDfaults0000000000000000000000";
const TENCENT_KEY: &str = "faults-secret-key-0123456789abcd";

/// The sources under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scc,
    Akana,
    Tr50,
    Tencent,
    Aveva,
}

const KINDS: [Kind; 5] = [
    Kind::Scc,
    Kind::Akana,
    Kind::Tr50,
    Kind::Tencent,
    Kind::Aveva,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Scc => "scc",
            Kind::Akana => "akana",
            Kind::Tr50 => "tr50",
            Kind::Tencent => "tencent",
            Kind::Aveva => "aveva",
        }
    }

    /// The endpoint polled fast in these tests (the others are off).
    fn endpoint(self) -> &'static str {
        match self {
            Kind::Scc => "memory",
            Kind::Akana => "metrics",
            Kind::Tr50 => "api_history",
            Kind::Tencent => "metric_data",
            Kind::Aveva => "tenant_usage",
        }
    }

    /// The reason an HTML page with 200 is reported as. SCC and Akana serve their login page
    /// when the credentials or the session are not accepted, so it is `auth` there (Akana logs
    /// in again once first).
    fn html_reason(self) -> &'static str {
        match self {
            Kind::Scc | Kind::Akana => "auth",
            _ => "decode",
        }
    }

    /// Whether the source holds a session or token that can expire upstream (SCC sends basic
    /// auth, Tencent signs every request).
    fn has_session(self) -> bool {
        !matches!(self, Kind::Scc | Kind::Tencent)
    }
}

/// A running simulator of one kind.
enum Sim {
    Scc(SccSim),
    Akana(AkanaSim),
    Tr50(Tr50Sim),
    Tencent(TencentSim),
    Aveva(AvevaSim),
}

impl Sim {
    async fn start(kind: Kind) -> Sim {
        match kind {
            Kind::Scc => Sim::Scc(SccSim::start(SccState::generated(2), None).await.unwrap()),
            Kind::Akana => Sim::Akana(AkanaSim::start(akana::State::default()).await.unwrap()),
            Kind::Tr50 => Sim::Tr50(Tr50Sim::start(tr50::SimState::new()).await.unwrap()),
            Kind::Tencent => Sim::Tencent(
                TencentSim::start(TencentSimState::new(TENCENT_ID, TENCENT_KEY, 2))
                    .await
                    .unwrap(),
            ),
            Kind::Aveva => Sim::Aveva(AvevaSim::start(aveva::SimConfig::default()).await.unwrap()),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Sim::Scc(_) => Kind::Scc,
            Sim::Akana(_) => Kind::Akana,
            Sim::Tr50(_) => Kind::Tr50,
            Sim::Tencent(_) => Kind::Tencent,
            Sim::Aveva(_) => Kind::Aveva,
        }
    }

    /// `host:port` of the simulator.
    fn authority(&self) -> String {
        match self {
            Sim::Scc(s) => s.server.addr.to_string(),
            Sim::Akana(s) => s.server.addr.to_string(),
            Sim::Tr50(s) => s.server.addr.to_string(),
            Sim::Tencent(s) => s.server.addr.to_string(),
            Sim::Aveva(s) => s.url().trim_start_matches("http://").to_string(),
        }
    }

    /// One config list item (first line `name: f`) polling one endpoint every 200 ms.
    fn item(&self) -> String {
        match self {
            Sim::Scc(s) => {
                let endpoints: Vec<String> = usage_exporter::sources::registry::endpoints("scc")
                    .iter()
                    .map(|e| {
                        let every = if e.name == "memory" { "200ms" } else { "off" };
                        format!("{}: {every}", e.name)
                    })
                    .collect();
                format!(
                    "{}\nendpoints: {{{}}}",
                    s.config_yaml("f"),
                    endpoints.join(", ")
                )
            }
            Sim::Akana(s) => format!("{}\nendpoints: {{metrics: 200ms}}", s.config_yaml("f")),
            Sim::Tr50(s) => format!(
                "name: f\nurl: {}\nusername: monitor@example.com\npassword: secret-pw\nendpoints: {{api_history: 200ms}}",
                s.url()
            ),
            Sim::Tencent(s) => format!(
                "name: f\nurl: {}\nregion: ap-guangzhou\nsecret_id: {TENCENT_ID}\nsecret_key: {TENCENT_KEY}\nendpoints: {{metric_data: 200ms, metric_catalog: off}}\nmetrics:\n  - namespace: QCE/CVM\n    names: [CPUUsage]\n    period: 60s\n    instances: [{{InstanceId: {}}}]",
                s.url(),
                tencent::instance_id(0)
            ),
            Sim::Aveva(s) => format!(
                "name: f\nurl: {}\ntenant_id: {}\nclient_id: {}\nclient_secret: {}\ncommunity_ids: []\nendpoints: {{tenant_usage: 200ms, community_usage: off, resource_usage: off, billing_cycles: off}}",
                s.url(),
                aveva::TENANT_ID,
                aveva::CLIENT_ID,
                aveva::CLIENT_SECRET
            ),
        }
    }

    /// Switches the fault mode of the data endpoints.
    fn set_fault(&self, fault: Fault) {
        match self {
            Sim::Scc(s) => s.set_fault(None, fault),
            Sim::Akana(s) => s.faults.set(fault),
            Sim::Tr50(s) => s.faults.set(fault),
            Sim::Tencent(s) => s.faults.set(fault),
            Sim::Aveva(s) => s.faults().set(fault),
        }
    }

    /// HTTP requests that reached the simulator (counted on arrival).
    fn requests(&self) -> u64 {
        match self {
            Sim::Scc(s) => s.server.request_count(),
            Sim::Akana(s) => s.server.request_count(),
            Sim::Tr50(s) => s.server.request_count(),
            Sim::Tencent(s) => s.request_count(),
            Sim::Aveva(s) => s.request_count(),
        }
    }

    /// Serve syntactically valid JSON of the wrong shape (`true`) or normal data (`false`).
    fn wrong_types(&self, on: bool) {
        match self {
            Sim::Scc(s) => {
                s.state().reply_override =
                    on.then(|| json!({"physicalKB": "plenty", "virtualKB": [1, 2]}))
            }
            Sim::Akana(s) => s.with(|st| {
                st.data = if on {
                    // A month-to-date total that is no number (number::or_fail); a numeric
                    // MetricID is read as text now.
                    akana::Data::Custom(json!({"UsageMetric": {"MetricID": "PlatformApiUsage",
                        "MetricType": "PerDayWithAggregate",
                        "AggregateUsage": {"MetricItem": {"Name": "TotalUsageCount", "MetricValue": "plenty"}}}}))
                } else {
                    akana::Data::Sample
                }
            }),
            Sim::Tr50(s) => {
                s.state().reply_override =
                    on.then(|| json!({"1": {"success": true, "params": "not an object"}}))
            }
            Sim::Tencent(s) => s.with(|st| {
                st.reply_override = on
                    .then(|| json!({"Response": {"DataPoints": "not a list", "RequestId": "r-1"}}))
            }),
            Sim::Aveva(s) => s.serve_json(on.then(|| json!({"Records": "not a list"}))),
        }
    }

    /// Ends every session/token upstream (as a platform restart would); for SCC and Tencent,
    /// which have no session, changes the password/key upstream (`true`) or restores it.
    fn expire_auth(&self, on: bool) {
        match self {
            Sim::Scc(s) => {
                s.state().password = if on {
                    "rotated-password".into()
                } else {
                    SccState::generated(0).password
                }
            }
            Sim::Akana(s) => {
                if on {
                    s.expire_tokens()
                }
            }
            Sim::Tr50(s) => {
                if on {
                    s.state().expire_sessions()
                }
            }
            Sim::Tencent(s) => s.with(|st| {
                st.secret_key = if on {
                    "rotated-key".into()
                } else {
                    TENCENT_KEY.into()
                }
            }),
            Sim::Aveva(s) => {
                if on {
                    s.revoke_tokens()
                }
            }
        }
    }

    /// Logins (token requests, authentications) the simulator saw; 0 without sessions.
    fn logins(&self) -> u64 {
        match self {
            Sim::Scc(_) => 0,
            Sim::Akana(s) => s.logins(),
            Sim::Tr50(s) => s.counters().login_attempts,
            Sim::Tencent(_) => 0,
            Sim::Aveva(s) => s.token_requests(),
        }
    }
}

/// A config with one target of `sim`'s kind, 500 ms timeout, no back-off growth, plus `global`
/// lines (e.g. `body_limit_bytes: 1048576`).
fn config(sim: &Sim, global: &str) -> String {
    let mut out = String::from("global:\n  max_backoff_factor: 1\n");
    if !global.contains("timeout:") {
        out.push_str("  timeout: 500ms\n");
    }
    for line in global.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str("  ");
        out.push_str(line.trim());
        out.push('\n');
    }
    out.push_str(&format!("sources:\n  {}:\n", sim.kind().name()));
    for (i, line) in sim.item().lines().enumerate() {
        out.push_str(if i == 0 { "    - " } else { "      " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A simulator and a daemon polling it.
struct Case {
    kind: Kind,
    sim: Sim,
    d: TestDaemon,
}

impl Case {
    /// Starts both and waits for the first good poll.
    async fn start(kind: Kind, global: &str) -> Case {
        let sim = Sim::start(kind).await;
        let d = support::start(&config(&sim, global)).await;
        let case = Case { kind, sim, d };
        case.wait("the first good poll", |b| case.success(b) == Some(1.0))
            .await;
        case
    }

    /// Polls `/metrics` until `ready` holds; panics naming the source after [`WAIT`].
    async fn wait(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self.d.metrics().await;
            if ready(&body) {
                return body;
            }
            if Instant::now() > deadline {
                let self_metrics: Vec<&str> = body
                    .lines()
                    .filter(|l| l.starts_with("usage_exporter_") && l.contains("endpoint="))
                    .collect();
                panic!(
                    "[{}] {what}: not within {WAIT:?}; self-metrics:\n{}\nlanding page:\n{}",
                    self.kind.name(),
                    self_metrics.join("\n"),
                    self.d.get("/").await.1
                );
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    fn ep(&self) -> [(&'static str, &'static str); 3] {
        [
            ("source", self.kind.name()),
            ("target", "f"),
            ("endpoint", self.kind.endpoint()),
        ]
    }

    fn metric(&self, body: &str, name: &str) -> Option<f64> {
        sample(body, name, &self.ep())
    }

    fn success(&self, body: &str) -> Option<f64> {
        self.metric(body, "usage_exporter_poll_success")
    }

    fn stale(&self, body: &str) -> Option<f64> {
        self.metric(body, "usage_exporter_endpoint_stale")
    }

    fn errors(&self, body: &str, reason: &str) -> f64 {
        let [s, t, e] = self.ep();
        sample(
            body,
            "usage_exporter_poll_errors_total",
            &[s, t, e, ("reason", reason)],
        )
        .unwrap_or(0.0)
    }

    fn upstream_status(&self, body: &str, status: &str) -> f64 {
        sample(
            body,
            "usage_exporter_upstream_requests_total",
            &[
                ("source", self.kind.name()),
                ("target", "f"),
                ("status_code", status),
            ],
        )
        .unwrap_or(0.0)
    }

    /// Waits until `reason` was counted at least `n` more times than in `before` and the
    /// endpoint reports failure; returns the body.
    async fn wait_errors(&self, before: &str, reason: &str, n: f64) -> String {
        let start = self.errors(before, reason);
        self.wait(&format!("{n} more `{reason}` errors"), |b| {
            self.errors(b, reason) >= start + n && self.success(b) == Some(0.0)
        })
        .await
    }

    /// Waits until the endpoint succeeds again with fresh data.
    async fn wait_recovered(&self) -> String {
        self.wait("recovery (poll_success 1, not stale)", |b| {
            self.success(b) == Some(1.0) && self.stale(b) == Some(0.0)
        })
        .await
    }

    /// The landing page (its status must be 200).
    async fn landing(&self) -> String {
        let (status, page) = self.d.get("/").await;
        assert_eq!(status, 200, "[{}] landing page", self.kind.name());
        page
    }

    /// Switches `fault` on, waits for `n` errors of `reason` and checks that the landing page
    /// explains it (contains one of `explained`), switches it off, waits for recovery. Returns
    /// the body seen while failing.
    async fn fault_cycle(&self, fault: Fault, reason: &str, n: f64, explained: &[&str]) -> String {
        let before = self.d.metrics().await;
        self.sim.set_fault(fault);
        let failing = self.wait_errors(&before, reason, n).await;
        self.assert_explained(explained).await;
        self.sim.set_fault(Fault::None);
        let after = self.wait_recovered().await;
        assert!(
            self.errors(&after, reason) >= self.errors(&before, reason) + n,
            "[{}] the errors stay counted",
            self.kind.name()
        );
        failing
    }

    /// The landing page contains one of `explained`.
    async fn assert_explained(&self, explained: &[&str]) {
        let page = self.landing().await;
        assert!(
            explained.iter().any(|e| page.contains(e)),
            "[{}] the landing page lacks {explained:?}: {page}",
            self.kind.name()
        );
    }

    async fn stop(self) {
        self.d.stop().await;
    }
}

/// Runs `scenario` for every source concurrently (each with its own simulator and daemon).
async fn for_every_source<F, Fut>(scenario: F)
where
    F: Fn(Kind) -> Fut,
    Fut: Future<Output = ()>,
{
    futures::future::join_all(KINDS.map(&scenario)).await;
}

#[tokio::test]
async fn upstream_hang_times_out_while_metrics_keep_answering() {
    for_every_source(|kind| async move {
        // A longer timeout than elsewhere, so a scrape surely lands while the poll hangs.
        let c = Case::start(kind, "timeout: 3s").await;
        let before = c.d.metrics().await;
        c.sim.set_fault(Fault::Hang);
        let seen = c.sim.requests();
        c.wait("a request to the hanging simulator", |_| {
            c.sim.requests() > seen
        })
        .await;
        // The upstream is hanging now; a scrape still answers, and the poll has not ended yet.
        let during = tokio::time::timeout(Duration::from_secs(2), c.d.get("/metrics"))
            .await
            .unwrap_or_else(|_| panic!("[{}] /metrics blocked on the upstream", kind.name()));
        assert_eq!(during.0, 200);
        assert!(during.1.ends_with("# EOF\n"));
        assert_eq!(
            c.errors(&during.1, "timeout"),
            c.errors(&before, "timeout"),
            "[{}] the scrape answered while the poll was still hanging",
            kind.name()
        );
        let failing = c.wait_errors(&before, "timeout", 1.0).await;
        // Data older than stale_after (3 × 200 ms) is dropped, and says so.
        let failing = if c.stale(&failing) == Some(1.0) {
            failing
        } else {
            c.wait("endpoint_stale 1", |b| c.stale(b) == Some(1.0))
                .await
        };
        assert_eq!(c.success(&failing), Some(0.0));
        c.assert_explained(TIMED_OUT).await;
        c.sim.set_fault(Fault::None);
        c.wait_recovered().await;
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn slow_answers_succeed_below_the_timeout_and_time_out_above_it() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        c.sim.set_fault(Fault::Slow(Duration::from_millis(250)));
        let body = c
            .wait("a slow but successful poll", |b| {
                c.success(b) == Some(1.0)
                    && c.metric(b, "usage_exporter_poll_duration_seconds")
                        .is_some_and(|d| d >= 0.25)
            })
            .await;
        assert_eq!(c.stale(&body), Some(0.0));
        c.fault_cycle(
            Fault::Slow(Duration::from_secs(3)),
            "timeout",
            2.0,
            TIMED_OUT,
        )
        .await;
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bursts_of_5xx_fail_only_that_endpoint_and_recover() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        let failing = c
            .fault_cycle(Fault::Status(500), "http_5xx", 3.0, &["HTTP 500"])
            .await;
        assert!(
            c.upstream_status(&failing, "500") >= 3.0,
            "[{}]",
            kind.name()
        );
        c.fault_cycle(Fault::Status(502), "http_5xx", 2.0, &["HTTP 502"])
            .await;
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn rate_limits_with_retry_after_are_honoured() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        for status in [429u16, 503] {
            let before = c.d.metrics().await;
            c.sim.set_fault(Fault::RetryAfter(status, 2));
            let failing = c.wait_errors(&before, "rate_limited", 1.0).await;
            let polls = |b: &str| c.metric(b, "usage_exporter_polls_total").unwrap_or(0.0);
            let first = polls(&failing);
            // Without the hint the endpoint would be polled every 200 ms; with it, it waits 2 s.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let later = c.d.metrics().await;
            assert!(
                polls(&later) <= first + 1.0,
                "[{}] {status}: polled {} times within 1.2 s of a Retry-After: 2",
                kind.name(),
                polls(&later) - first
            );
            assert!(c.upstream_status(&later, &status.to_string()) >= 1.0);
            c.sim.set_fault(Fault::None);
            c.wait_recovered().await;
        }
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn html_login_page_with_200_is_an_error_and_recovers() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        c.fault_cycle(Fault::Html200, kind.html_reason(), 2.0, &["HTML page"])
            .await;
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn truncated_json_is_a_decode_error_and_recovers() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        c.fault_cycle(Fault::TruncatedJson, "decode", 2.0, &["JSON"])
            .await;
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn wrongly_typed_json_is_a_decode_error_and_recovers() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        let before = c.d.metrics().await;
        c.sim.wrong_types(true);
        c.wait_errors(&before, "decode", 2.0).await;
        c.assert_explained(&[
            "invalid type",
            "did not match any variant",
            "expected a number",
        ])
        .await;
        c.sim.wrong_types(false);
        c.wait_recovered().await;
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_100_mb_body_is_rejected_at_the_configured_cap() {
    let _alone = memory_heavy().await;
    // One source at a time: each simulator holds its own 100 MB body.
    for kind in KINDS {
        let c = Case::start(kind, "body_limit_bytes: 1048576").await;
        let before = c.d.metrics().await;
        c.sim.set_fault(Fault::HugeBody(100 * 1024 * 1024));
        // Measured from the first rejection on, once the simulator holds its body.
        let first = c.wait_errors(&before, "decode", 1.0).await;
        let rss_before = rss_bytes();
        c.wait_errors(&first, "decode", 2.0).await;
        assert!(
            rss_bytes() < rss_before + 48 * 1024 * 1024,
            "[{}] memory grew past the cap: {} -> {} bytes",
            kind.name(),
            rss_before,
            rss_bytes()
        );
        let page = c.landing().await;
        assert!(
            page.contains("response body larger than the limit of 1048576 bytes")
                && page.contains("global.body_limit_bytes"),
            "[{}] {page}",
            kind.name()
        );
        c.sim.set_fault(Fault::None);
        c.wait_recovered().await;
        c.stop().await;
    }
}

/// Forwards every connection accepted on `listener` to `to`.
fn forward(listener: tokio::net::TcpListener, to: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn connection_refused_at_start_then_the_upstream_comes_up() {
    for_every_source(|kind| async move {
        let sim = Sim::start(kind).await;
        // A port nobody listens on (yet).
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let yaml = config(&sim, "").replace(&sim.authority(), &format!("127.0.0.1:{port}"));
        let d = support::start(&yaml).await;
        let c = Case { kind, sim, d };
        // The daemon is up and answers at once; /-/ready turns 200 once the first polls failed.
        let (status, body) = c.d.get("/metrics").await;
        assert_eq!(status, 200);
        assert!(body.ends_with("# EOF\n"));
        c.d.wait_ready(WAIT).await;
        let failing = c
            .wait("`connect` errors", |b| {
                c.errors(b, "connect") >= 2.0 && c.success(b) == Some(0.0)
            })
            .await;
        assert_eq!(
            c.metric(
                &failing,
                "usage_exporter_last_poll_success_timestamp_seconds"
            ),
            None,
            "[{}] never succeeded, so no last-success time",
            kind.name()
        );
        assert_eq!(c.d.get("/-/ready").await.0, 200);
        let page = c.landing().await;
        assert!(page.contains(&format!("127.0.0.1:{port}")) || page.contains("connect"));
        // The upstream comes up on that port: the endpoint recovers without a restart.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the port is still free");
        let proxy = forward(listener, c.sim.authority());
        c.wait_recovered().await;
        proxy.abort();
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn auth_expiry_mid_run_reauthenticates_once_and_keeps_polling() {
    for_every_source(|kind| async move {
        let c = Case::start(kind, "").await;
        if !kind.has_session() {
            // No session to expire: a password/key changed upstream is an `auth` error until
            // the two match again, and then the endpoint recovers on its own.
            let before = c.d.metrics().await;
            c.sim.expire_auth(true);
            c.wait_errors(&before, "auth", 2.0).await;
            c.assert_explained(&["AuthFailure", "HTTP 401"]).await;
            c.sim.expire_auth(false);
            c.wait_recovered().await;
            c.stop().await;
            return;
        }
        let logins = c.sim.logins();
        assert!(logins >= 1, "[{}] logged in", kind.name());
        let polls_before = c
            .metric(&c.d.metrics().await, "usage_exporter_polls_total")
            .unwrap();
        c.sim.expire_auth(true);
        let body = c
            .wait("polls after the expiry", |b| {
                c.metric(b, "usage_exporter_polls_total")
                    .is_some_and(|p| p >= polls_before + 3.0)
            })
            .await;
        assert_eq!(c.success(&body), Some(1.0), "[{}]", kind.name());
        assert_eq!(
            c.sim.logins(),
            logins + 1,
            "[{}] exactly one new login after the expiry",
            kind.name()
        );
        assert_eq!(
            c.errors(&body, "auth"),
            0.0,
            "[{}] expiry is handled inside the poll",
            kind.name()
        );
        if kind != Kind::Tr50 {
            // TR50 reports an expired session inside a 200 reply.
            assert!(c.upstream_status(&body, "401") >= 1.0, "[{}]", kind.name());
        }
        c.stop().await;
    })
    .await;
}

#[tokio::test]
async fn tencent_clock_skew_is_an_auth_error_and_recovers() {
    let c = Case::start(Kind::Tencent, "").await;
    let Sim::Tencent(sim) = &c.sim else {
        unreachable!("a tencent case")
    };
    let before = c.d.metrics().await;
    sim.with(|s| s.clock.set_offset(chrono::Duration::seconds(900)));
    c.wait_errors(&before, "auth", 2.0).await;
    let page = c.landing().await;
    assert!(page.contains("AuthFailure.SignatureExpire"), "{page}");
    assert!(page.contains("clock skew"), "{page}");
    sim.with(|s| s.clock.set_offset(chrono::Duration::zero()));
    c.wait_recovered().await;
    c.stop().await;
}

/// Regression: Tencent's client retried rate-limited calls within the poll after 0.5 s and
/// 1 s even when the answer said `Retry-After: 5`, and with a short timeout the poll then ended
/// as `timeout`, losing the hint. Now it gives up at once and the scheduler waits.
#[tokio::test]
async fn tencent_never_retries_sooner_than_retry_after() {
    let c = Case::start(Kind::Tencent, "").await;
    let before = c.d.metrics().await;
    c.sim.set_fault(Fault::RetryAfter(429, 5));
    let seen = c.sim.requests();
    c.wait_errors(&before, "rate_limited", 1.0).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        c.sim.requests() <= seen + 1,
        "one rate-limited request, then quiet for Retry-After; saw {}",
        c.sim.requests() - seen
    );
    assert_eq!(c.errors(&c.d.metrics().await, "timeout"), 0.0);
    c.sim.set_fault(Fault::None);
    c.stop().await;
}
