//! Shared helpers for integration tests: start the daemon in-process on 127.0.0.1 with a YAML
//! config, read `/metrics`, look up samples, validate the exposition with an independent parser.

use std::path::Path;
use std::time::{Duration, Instant};
use usage_exporter::daemon::{self, ConfigSource, Options, Running};
use usage_exporter::sources::TargetInstance;

/// A daemon started for a test.
pub struct TestDaemon {
    /// The running daemon.
    pub running: Running,
    /// A client for talking to it.
    pub client: reqwest::Client,
}

/// The `Accept` header Prometheus 2.42 (Debian's, which the end-to-end tests run) sends: the
/// test client asks for OpenMetrics 1.0 the way Prometheus does.
pub const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Prometheus 2.42 with `--enable-feature=native-histograms`: protobuf first.
pub const PROMETHEUS_PROTO_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A client that sends Prometheus' `Accept` header (and no gzip unless asked).
pub fn openmetrics_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(PROMETHEUS_ACCEPT),
    );
    reqwest::Client::builder()
        .no_gzip()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Starts the daemon with a config given as YAML text (parsed by the real config code).
pub async fn start(yaml: &str) -> TestDaemon {
    start_with(yaml, Vec::new()).await
}

/// Like [`start`], with the daemon's clock reading `at` now and running on from there (the
/// simulators get the same time through their own clock).
pub async fn start_at(yaml: &str, at: chrono::DateTime<chrono::Utc>) -> TestDaemon {
    let clock = usage_exporter::base::clock::TestClock::running_from(at.into());
    start_with_clock(yaml, clock).await
}

/// Like [`start`], with the daemon reading "now" from `clock` (which the test may move).
pub async fn start_with_clock(
    yaml: &str,
    clock: usage_exporter::base::clock::TestClock,
) -> TestDaemon {
    start_with_options(yaml, Vec::new(), std::sync::Arc::new(clock), None, false).await
}

/// Like [`start_with_clock`], with the state directory `state_dir` (`--storage.path`): a daemon
/// started again on the same directory continues where the previous one stopped. `_created`
/// lines are on, since what continues is what the state tests look at.
pub async fn start_with_state(
    yaml: &str,
    clock: usage_exporter::base::clock::TestClock,
    state_dir: &Path,
) -> TestDaemon {
    let clock = std::sync::Arc::new(clock);
    start_with_options(yaml, Vec::new(), clock, Some(state_dir.to_path_buf()), true).await
}

/// Like [`start`], with OpenMetrics `_created` lines on
/// (`--web.enable-openmetrics-created-samples`).
pub async fn start_created(yaml: &str) -> TestDaemon {
    let clock = std::sync::Arc::new(usage_exporter::base::clock::SystemClock);
    start_with_options(yaml, Vec::new(), clock, None, true).await
}

/// [`start_at`] with OpenMetrics `_created` lines on.
pub async fn start_at_created(yaml: &str, at: chrono::DateTime<chrono::Utc>) -> TestDaemon {
    let clock = usage_exporter::base::clock::TestClock::running_from(at.into());
    start_with_options(yaml, Vec::new(), std::sync::Arc::new(clock), None, true).await
}

/// [`start_with_clock`] with OpenMetrics `_created` lines on.
pub async fn start_with_clock_created(
    yaml: &str,
    clock: usage_exporter::base::clock::TestClock,
) -> TestDaemon {
    start_with_options(yaml, Vec::new(), std::sync::Arc::new(clock), None, true).await
}

/// Like [`start`], with extra programmatic targets.
pub async fn start_with(yaml: &str, extra: Vec<TargetInstance>) -> TestDaemon {
    let clock = std::sync::Arc::new(usage_exporter::base::clock::SystemClock);
    start_with_options(yaml, extra, clock, None, false).await
}

async fn start_with_options(
    yaml: &str,
    extra: Vec<TargetInstance>,
    clock: usage_exporter::base::clock::SharedClock,
    state_dir: Option<std::path::PathBuf>,
    openmetrics_created: bool,
) -> TestDaemon {
    let config = usage_exporter::sources::parse_config(yaml, Path::new("test.yml"), &|n| {
        std::env::var(n).ok()
    })
    .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    let running = daemon::start(Options {
        extra_targets: extra,
        clock,
        state_dir,
        openmetrics_created,
        ..Options::new(ConfigSource::Fixed(config), "127.0.0.1:0")
    })
    .await
    .expect("daemon starts");
    TestDaemon {
        running,
        client: openmetrics_client(),
    }
}

impl TestDaemon {
    /// Base URL.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// GET a path, returning status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .expect("request to the daemon");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// The `/metrics` body.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls `/metrics` until `ready(body)` holds, or panics after `timeout` with the last body.
    pub async fn wait_for(&self, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let body = self.metrics().await;
            if ready(&body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!("condition not met within {timeout:?}; last /metrics:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every endpoint finished its first poll (`/-/ready` is 200).
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.get("/-/ready").await.0 != 200 {
            assert!(Instant::now() < deadline, "not ready within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the daemon.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Sample name (with `_total`, `_created`, ... suffix).
    pub name: String,
    /// Labels in order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// Parses the sample lines of an OpenMetrics body (comments skipped, escapes decoded).
pub fn parse_lines(body: &str) -> Vec<Line> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("unparseable line: {l}")))
        .collect()
}

fn parse_line(line: &str) -> Option<Line> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        rest = &rest[1..];
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].to_string();
            rest = rest[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value_text = rest.trim().split(' ').next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Line {
        name,
        labels,
        value,
    })
}

/// The value of the sample `name` whose labels include all of `labels`, if exactly one matches.
pub fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matches = samples(body, name, labels);
    match matches.len() {
        0 => None,
        1 => Some(matches[0].value),
        n => panic!("{n} samples of {name} match {labels:?}; be more specific"),
    }
}

/// All samples named `name` whose labels include all of `labels`.
pub fn samples(body: &str, name: &str, labels: &[(&str, &str)]) -> Vec<Line> {
    parse_lines(body)
        .into_iter()
        .filter(|l| l.name == name)
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .collect()
}

/// Validates an exposition with Python prometheus_client's OpenMetrics parser (installed by
/// the test command); panics with the parser's message if it is rejected.
pub fn assert_valid_openmetrics(body: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys\n\
             from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
             n = sum(len(f.samples) for f in text_string_to_metric_families(sys.stdin.read()))\n\
             print(n)\n",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the test command installs prometheus_client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "OpenMetrics parser rejected the exposition: {}\n--- body ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        body.chars().take(4000).collect::<String>()
    );
}

/// What a [`FakeTarget`] answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Fresh data.
    Data(Vec<usage_exporter::snapshot::Family>),
    /// A failure.
    Fail(usage_exporter::base::PollError),
    /// Skipped on purpose.
    Skip(String),
    /// Never answers (the poll times out).
    Hang,
}

/// A programmable target for core tests (never part of the user-facing config).
#[derive(Debug)]
pub struct FakeTarget {
    /// The current behaviour; tests change it at run time.
    pub behaviour: std::sync::Mutex<Behaviour>,
}

impl FakeTarget {
    /// A fake answering `behaviour`.
    pub fn new(behaviour: Behaviour) -> std::sync::Arc<Self> {
        std::sync::Arc::new(FakeTarget {
            behaviour: std::sync::Mutex::new(behaviour),
        })
    }

    /// Changes the behaviour.
    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

impl usage_exporter::sources::Target for FakeTarget {
    fn poll<'a>(
        &'a self,
        _endpoint: usize,
        _ctx: &'a usage_exporter::sources::PollContext,
    ) -> usage_exporter::sources::PollFuture<'a> {
        use usage_exporter::sources::PollOutcome;
        let behaviour = self.behaviour.lock().unwrap().clone();
        Box::pin(async move {
            match behaviour {
                Behaviour::Data(f) => Ok(PollOutcome::Data(
                    usage_exporter::snapshot::Snapshot::from_families(f),
                )),
                Behaviour::Fail(e) => Err(e),
                Behaviour::Skip(why) => Ok(PollOutcome::Skipped(why)),
                Behaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(PollOutcome::Skipped("hang ended".into()))
                }
            }
        })
    }
}

/// Wraps a fake target as a schedulable instance of source `test` with one endpoint `ep`.
pub fn fake_instance(
    name: &str,
    target: std::sync::Arc<FakeTarget>,
    interval: Duration,
    stale_after: Duration,
) -> TargetInstance {
    TargetInstance {
        source: "test",
        name: std::sync::Arc::from(name),
        target,
        endpoints: vec![usage_exporter::store::EndpointSchedule {
            name: "ep",
            index: 0,
            interval,
            stale_after,
        }],
        redactor: usage_exporter::base::Redactor::new(&["fake-secret-value"]),
        fingerprint: [0; 32],
        poll_timeout: Duration::from_secs(2),
        limits: usage_exporter::sources::PollLimits {
            max_backoff_factor: 1,
            ..Default::default()
        },
    }
}

/// The process's resident set size in bytes (0 where `/proc` is unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// All integration tests share one process, so a test that measures [`rss_bytes`] would also
/// see what concurrent tests allocate. Tests that measure RSS or allocate hundreds of MB hold
/// this guard for their whole run, so they never overlap one another.
pub async fn memory_heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
