//! The exporter's own metrics (`usage_exporter_*`, `process_*`) and logging setup.
//!
//! Poll metrics are derived from the store at scrape time (single source of truth with the
//! landing page); process metrics are read with sysinfo at scrape time; upstream request
//! counts and reload state are prometheus-client metrics updated as things happen.

use crate::shard::Shard;
use crate::snapshot::{Family, Labels};
use crate::state::StateStore;
use crate::store::{EndpointKey, EndpointState, PollResult, TargetCalls};
use crate::upstream::RequestCounter;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family as ClientFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Git revision of this build (set by build.rs, `unknown` outside a checkout).
pub const REVISION: &str = env!("USAGE_EXPORTER_REVISION");

/// rustc version used for this build (set by build.rs).
pub const RUSTC_VERSION: &str = env!("USAGE_EXPORTER_RUSTC_VERSION");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    revision: String,
    rustc_version: String,
}

/// Self-metrics that are updated as events happen.
#[derive(Debug)]
pub struct Telemetry {
    /// Every upstream HTTP call by source, target and status.
    pub requests: RequestCounter,
    reload_successful: Gauge,
    reload_timestamp: Gauge<f64, AtomicU64>,
    registry: Registry,
    process: Mutex<ProcessProbe>,
    state: Arc<StateStore>,
    /// This replica's shard and its targets.
    shard: Mutex<Option<ShardView>>,
    /// Whether the process and exposition metrics are exported (`--web.disable-exporter-metrics`).
    exporter_metrics: bool,
}

/// This replica's shard and which configured targets it owns.
#[derive(Debug, Clone)]
pub struct ShardView {
    /// The shard.
    pub shard: Shard,
    /// Targets this shard owns and polls.
    pub owned: usize,
    /// (kind, name) of the targets other shards own.
    pub others: Vec<(String, String)>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Registers the event-driven self-metrics.
    pub fn new() -> Self {
        // prometheus-client's registry ends every HELP text with a full stop itself.
        let mut registry = Registry::default();
        let build_info = ClientFamily::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: VERSION.into(),
                revision: REVISION.into(),
                rustc_version: RUSTC_VERSION.into(),
            })
            .set(1);
        registry.register(
            "usage_exporter_build_info",
            "A metric with a constant 1 labelled with the version, revision and rustc version of this build",
            build_info,
        );
        let requests = RequestCounter::default();
        registry.register(
            "usage_exporter_upstream_requests",
            "Upstream HTTP requests made, logins included, by status code (or failure class when no response arrived); vendor calls can be billed",
            requests.clone(),
        );
        let reload_successful = Gauge::default();
        registry.register(
            "usage_exporter_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded (1) or was rejected (0)",
            reload_successful.clone(),
        );
        let reload_timestamp = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "usage_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload",
            reload_timestamp.clone(),
        );
        Telemetry {
            requests,
            reload_successful,
            reload_timestamp,
            registry,
            process: Mutex::new(ProcessProbe::new()),
            state: StateStore::in_memory(),
            shard: Mutex::new(None),
            exporter_metrics: true,
        }
    }

    /// Records this replica's shard, how many of the configured targets it owns, and the
    /// (kind, name) of those other shards own.
    pub fn shard_assigned(&self, shard: Shard, owned: usize, others: Vec<(String, String)>) {
        *self.shard.lock().expect("shard lock") = Some(ShardView {
            shard,
            owned,
            others,
        });
    }

    /// This replica's shard and its targets, once the config is applied.
    pub fn shard_view(&self) -> Option<ShardView> {
        self.shard.lock().expect("shard lock").clone()
    }

    /// Records the outcome of a config load or reload.
    pub fn config_loaded(&self, ok: bool) {
        self.reload_successful.set(i64::from(ok));
        if ok {
            self.reload_timestamp.set(unix_now());
        }
    }

    /// Leaves out the metrics about the exporter process and its exposition (`process_*`,
    /// `usage_exporter_exposed_series`, `usage_exporter_exposition_*`), as node_exporter's
    /// `--web.disable-exporter-metrics` does. The poll, state and shard metrics the shipped alerts
    /// read stay.
    pub fn with_exporter_metrics(mut self, on: bool) -> Self {
        self.exporter_metrics = on;
        self
    }

    /// Reports the health of `state` among the self-metrics.
    pub fn with_state(mut self, state: Arc<StateStore>) -> Self {
        self.state = state;
        self
    }

    /// The registry of the exporter's own counters and gauges (prometheus-client types).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The self-metric families computed at scrape time: poll states, targets' projected
    /// upstream calls, the exposition's own facts and the process metrics. The exposition
    /// encodes them.
    pub fn families(
        &self,
        states: &[(EndpointKey, EndpointState)],
        targets: &[((&'static str, Arc<str>), TargetCalls)],
        exposition: ExpositionFacts,
    ) -> Vec<Family> {
        let mut families = poll_families(states);
        families.extend(call_families(targets));
        let mut series = Family::gauge(
            "usage_exporter_exposed_series",
            "Source series in the exposition (self-metrics not included).",
        );
        series.push_gauge(Labels::new(), exposition.series as f64);
        let mut encode = Family::gauge(
            "usage_exporter_exposition_encode_duration_seconds",
            "Time the last encoding of the source series took, by format (openmetrics, text, protobuf); each format asked for recently is encoded once per data change in the background, not per scrape.",
        );
        for (format, time) in &exposition.encode_times {
            encode.push_gauge(Labels::new().with("format", *format), time.as_secs_f64());
        }
        let mut ranges = Family::gauge(
            "usage_exporter_exposition_ranges",
            "Ranges of families in the last encoding of each format (openmetrics, text, protobuf), by state: encoded, or reused because none of their snapshots changed since the format's previous encoding.",
        );
        for (format, (encoded, all)) in &exposition.encode_ranges {
            for (state, n) in [("encoded", *encoded), ("reused", all - encoded)] {
                let labels = Labels::new().with("format", *format).with("state", state);
                ranges.push_gauge(labels, n as f64);
            }
        }
        let mut scrapes = Family::counter(
            "usage_exporter_exposition_scrapes_total",
            "Scrapes of /metrics by the format negotiated from Accept (openmetrics, text, protobuf).",
        );
        for (format, n) in &exposition.scrapes {
            scrapes.push_counter(Labels::new().with("format", *format), *n as f64, None);
        }
        families.extend(self.state.families());
        families.extend(self.shard_families());
        if self.exporter_metrics {
            families.push(series);
            families.push(encode);
            families.push(ranges);
            families.push(scrapes);
            families.extend(self.process.lock().expect("process probe").families());
        }
        families
    }
}

impl Telemetry {
    fn shard_families(&self) -> Vec<Family> {
        let Some(ShardView {
            shard,
            owned,
            others,
        }) = self.shard_view()
        else {
            return Vec::new();
        };
        let mut info = Family::gauge(
            "usage_exporter_shard_info",
            "This replica's shard (0-based) and the number of shards sharing the configured targets; value 1.",
        );
        info.push_gauge(
            Labels::new()
                .with("shard", shard.index.to_string())
                .with("total_shards", shard.total.to_string()),
            1.0,
        );
        let mut count = Family::gauge(
            "usage_exporter_shards",
            "Number of shards (replicas) sharing the configured targets, as this replica was told (--total-shards).",
        );
        count.push_gauge(Labels::new(), shard.total as f64);
        let mut targets = Family::gauge(
            "usage_exporter_targets",
            "Configured targets by whether this replica's shard owns (and polls) them.",
        );
        targets.push_gauge(Labels::new().with("owner", "this_shard"), owned as f64);
        targets.push_gauge(
            Labels::new().with("owner", "other_shards"),
            others.len() as f64,
        );
        vec![info, count, targets]
    }
}

/// What the exposition tells telemetry about the cached source part.
#[derive(Debug, Clone)]
pub struct ExpositionFacts {
    /// Source series in the cached body.
    pub series: usize,
    /// How long the last encode of each format that has a cached body took (`format` label
    /// value, duration).
    pub encode_times: Vec<(&'static str, std::time::Duration)>,
    /// Ranges the last encode of each such format encoded, and ranges in it (`format` label
    /// value, (encoded, all)).
    pub encode_ranges: Vec<(&'static str, (usize, usize))>,
    /// Scrapes served so far, by format (`format` label value, count).
    pub scrapes: Vec<(&'static str, u64)>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `usage_exporter_poll_*` and staleness families from the store's endpoint states.
fn poll_families(states: &[(EndpointKey, EndpointState)]) -> Vec<Family> {
    let mut success = Family::gauge(
        "usage_exporter_poll_success",
        "Whether the last poll of the endpoint succeeded (1) or failed (0); a partial poll, whose data is served, is 1 (see usage_exporter_poll_failed_units); absent before the first poll, while skipped and while unsupported.",
    );
    let mut failed_units = Family::gauge(
        "usage_exporter_poll_failed_units",
        "Units (batches, namespaces, pages) that failed in the last poll of the endpoint that delivered data, while the data of the others is served; 0 after a full success, unchanged by a failed poll, absent before the first poll with data.",
    );
    let mut unit_errors = Family::counter(
        "usage_exporter_poll_unit_errors_total",
        "Failed units of partial polls of the endpoint by reason (a failed poll counts in usage_exporter_poll_errors_total instead).",
    );
    let mut duration = Family::gauge(
        "usage_exporter_poll_duration_seconds",
        "Duration of the last poll of the endpoint, all its upstream requests included.",
    );
    let mut last_success = Family::gauge(
        "usage_exporter_last_poll_success_timestamp_seconds",
        "Unix time at which the endpoint was last polled successfully.",
    );
    let mut polls = Family::counter(
        "usage_exporter_polls_total",
        "Polls of the endpoint, successful or not; upstream calls happen only in these background polls, never during a scrape.",
    );
    let mut errors = Family::counter(
        "usage_exporter_poll_errors_total",
        "Failed polls of the endpoint by reason.",
    );
    let mut phase = Family::gauge(
        "usage_exporter_poll_phase_duration_seconds",
        "Time the last poll of the endpoint spent waiting for the upstream (fetch), decoding its answers (decode) and on everything else, mostly translation (process).",
    );
    let mut stale = Family::gauge(
        "usage_exporter_endpoint_stale",
        "Whether the endpoint's last good data was dropped because no poll succeeded within stale_after (1).",
    );
    let mut skipped = Family::gauge(
        "usage_exporter_endpoint_skipped",
        "Whether the endpoint's last poll was skipped on purpose, e.g. master-only SCC APIs on a shadow instance (1).",
    );
    let mut unsupported = Family::gauge(
        "usage_exporter_endpoint_unsupported",
        "Whether the upstream's version does not offer the endpoint (1); such an endpoint is neither failing nor polled upstream until the version changes.",
    );
    for (key, state) in states {
        let labels = Labels::new()
            .with("source", key.source)
            .with("target", key.target.to_string())
            .with("endpoint", key.endpoint);
        match &state.last_result {
            Some(PollResult::Success | PollResult::Partial(_)) => {
                success.push_gauge(labels.clone(), 1.0)
            }
            Some(PollResult::Failed(..)) => success.push_gauge(labels.clone(), 0.0),
            _ => {}
        }
        if let Some(d) = state.last_duration {
            duration.push_gauge(labels.clone(), d.as_secs_f64());
        }
        if let (Some(p), Some(total)) = (state.last_phases, state.last_duration) {
            let process = total.saturating_sub(p.fetch).saturating_sub(p.decode);
            for (name, d) in [
                ("fetch", p.fetch),
                ("decode", p.decode),
                ("process", process),
            ] {
                phase.push_gauge(labels.clone().with("phase", name), d.as_secs_f64());
            }
        }
        if let Some(t) = state.last_success {
            last_success.push_gauge(labels.clone(), unix(t));
        }
        polls.push_counter(labels.clone(), state.polls_total as f64, None);
        for reason in crate::base::ErrorReason::ALL {
            let count = state.errors_total.get(&reason).copied().unwrap_or(0);
            errors.push_counter(
                labels.clone().with("reason", reason.as_str()),
                count as f64,
                None,
            );
        }
        if let Some(units) = &state.failed_units {
            failed_units.push_gauge(labels.clone(), units.failed as f64);
        }
        for reason in crate::base::ErrorReason::ALL {
            let count = state.unit_errors_total.get(&reason).copied().unwrap_or(0);
            unit_errors.push_counter(
                labels.clone().with("reason", reason.as_str()),
                count as f64,
                None,
            );
        }
        stale.push_gauge(labels.clone(), if state.stale { 1.0 } else { 0.0 });
        skipped.push_gauge(labels.clone(), if state.skipped() { 1.0 } else { 0.0 });
        unsupported.push_gauge(labels, if state.unsupported() { 1.0 } else { 0.0 });
    }
    vec![
        success,
        duration,
        phase,
        last_success,
        polls,
        errors,
        failed_units,
        unit_errors,
        stale,
        skipped,
        unsupported,
    ]
}

/// `usage_exporter_target_*`: each target's projected upstream calls, its call budget and the
/// stretch of its intervals.
fn call_families(targets: &[((&'static str, Arc<str>), TargetCalls)]) -> Vec<Family> {
    let mut projected = Family::gauge(
        "usage_exporter_target_projected_calls",
        "Upstream calls the target would make per period (its budget's, or month without a budget) at the configured intervals and the measured calls per poll (estimated as 1 per poll until measured).",
    );
    let mut budget = Family::gauge(
        "usage_exporter_target_call_budget",
        "The target's upstream call budget per period (max_calls_per_day or max_calls_per_month); absent without a budget.",
    );
    let mut stretch = Family::gauge(
        "usage_exporter_target_interval_stretch_factor",
        "Factor the target's poll intervals are stretched by to keep its projected upstream calls within its call budget (projected / budget, never below 1; 1 without a budget).",
    );
    for ((source, target), calls) in targets {
        let labels = Labels::new()
            .with("source", *source)
            .with("target", target.to_string());
        let with_period = labels.clone().with("period", calls.period.as_str());
        projected.push_gauge(with_period.clone(), calls.projected.round());
        if let Some(b) = calls.budget {
            budget.push_gauge(with_period, b as f64);
        }
        stretch.push_gauge(labels, calls.stretch);
    }
    vec![projected, budget, stretch]
}

/// Reads this process's resource usage with sysinfo.
#[derive(Debug)]
struct ProcessProbe {
    system: Option<sysinfo::System>,
    pid: Option<sysinfo::Pid>,
}

impl ProcessProbe {
    fn new() -> Self {
        ProcessProbe {
            system: sysinfo::System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
        }
    }

    /// The Go-compatible `process_*` families; empty where the platform gives nothing.
    fn families(&mut self) -> Vec<Family> {
        let (Some(system), Some(pid)) = (self.system.as_mut(), self.pid) else {
            return Vec::new();
        };
        system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[pid]),
            false,
            sysinfo::ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_tasks(),
        );
        let Some(process) = system.process(pid) else {
            return Vec::new();
        };
        let gauge = |name: &'static str, help: &'static str, value: f64| {
            let mut f = Family::gauge(name, help);
            f.push_gauge(Labels::new(), value);
            f
        };
        let mut cpu = Family::counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        );
        cpu.push_counter(
            Labels::new(),
            process.accumulated_cpu_time() as f64 / 1000.0,
            None,
        );
        let mut out = vec![
            cpu,
            gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                process.memory() as f64,
            ),
            gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                process.virtual_memory() as f64,
            ),
            gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                process.start_time() as f64,
            ),
        ];
        if let Some(fds) = process.open_files() {
            out.push(gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                fds as f64,
            ));
        }
        if let Some(max) = process.open_files_limit() {
            out.push(gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max as f64,
            ));
        }
        if let Some(tasks) = process.tasks() {
            out.push(gauge(
                "process_threads",
                "Number of OS threads in the process.",
                tasks.len() as f64,
            ));
        }
        out
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber writing to stderr.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},hyper=warn,reqwest=warn,rustls=warn,h2=warn"
    ))
    .map_err(|e| format!("invalid --log.level {level:?}: {e}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| format!("cannot install logger: {e}"))
}
