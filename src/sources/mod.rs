//! The source abstraction: a kind declares its endpoints; a configured target polls them.
//!
//! Every endpoint poll has one signature: `poll(endpoint, context) -> Result<PollOutcome,
//! PollError>`. The scheduler, not the source, times polls and records their results, so a
//! source never counts its own polls (node_exporter's collector/framework split).

pub mod akana;
pub mod aveva;
mod error;
pub mod scc;
pub mod tencent;
pub mod tr50;

pub use error::{ErrorReason, PollError};

use crate::config::{Config, Global, Problem, TargetConfig};
use crate::snapshot::Snapshot;
use crate::upstream::{RequestCounter, Upstream};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One endpoint of a source kind, as declared by the kind.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSpec {
    /// Config name, e.g. `subaccounts`.
    pub name: &'static str,
    /// Default interval; `None` means off unless the config enables it.
    pub default_interval: Option<Duration>,
    /// What it reads, for docs and the landing page.
    pub description: &'static str,
}

impl EndpointSpec {
    /// An endpoint on by default.
    pub const fn every(name: &'static str, secs: u64, description: &'static str) -> Self {
        EndpointSpec {
            name,
            default_interval: Some(Duration::from_secs(secs)),
            description,
        }
    }

    /// An endpoint off by default.
    pub const fn off(name: &'static str, description: &'static str) -> Self {
        EndpointSpec {
            name,
            default_interval: None,
            description,
        }
    }
}

/// Interval used when a config enables an endpoint that is off by default without saying how
/// often (never happens through YAML, where enabling means giving an interval).
pub const FALLBACK_INTERVAL: Duration = Duration::from_secs(300);

/// What a successful poll produced.
#[derive(Debug)]
pub enum PollOutcome {
    /// Fresh data replacing the previous snapshot.
    Data(Snapshot),
    /// Deliberately not polled this time (e.g. SCC shadow instance): previous series disappear,
    /// and the poll counts neither as success nor as failure. The text says why.
    Skipped(String),
}

/// What a poll gets besides the endpoint name.
#[derive(Debug, Clone)]
pub struct PollContext {
    /// Wall-clock time the poll started (translations use it, never `SystemTime::now()`).
    pub now: SystemTime,
}

/// The boxed future of one poll.
pub type PollFuture<'a> = Pin<Box<dyn Future<Output = Result<PollOutcome, PollError>> + Send + 'a>>;

/// A configured target of some source kind; owns its upstream client and any session state
/// (cookies, tokens, counters) shared by its endpoints.
pub trait Target: Send + Sync + 'static {
    /// Polls one endpoint (one of the kind's [`EndpointSpec`] names).
    fn poll<'a>(&'a self, endpoint: &'a str, ctx: &'a PollContext) -> PollFuture<'a>;
}

/// Per-endpoint schedule of one target, resolved from the kind defaults and the config.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSchedule {
    /// Endpoint name.
    pub name: &'static str,
    /// Poll interval.
    pub interval: Duration,
    /// Data older than this is dropped (default 3 × interval).
    pub stale_after: Duration,
}

/// A target ready to be scheduled.
#[derive(Clone)]
pub struct TargetInstance {
    /// Source kind, e.g. `scc`.
    pub source: &'static str,
    /// Target name (label `target`).
    pub name: Arc<str>,
    /// The poller.
    pub target: Arc<dyn Target>,
    /// Enabled endpoints with their schedules.
    pub endpoints: Vec<EndpointSchedule>,
    /// Secret values of this target, removed from every error message before it is shown.
    pub redactor: Redactor,
    /// Hash of the target's full config (secrets included) to detect changes on reload.
    pub fingerprint: [u8; 32],
    /// Largest time a single poll may take before it is abandoned as a timeout.
    pub poll_timeout: Duration,
    /// Back-off, cardinality and concurrency limits.
    pub limits: PollLimits,
}

/// Limits the scheduler applies to a target's polls.
#[derive(Debug, Clone)]
pub struct PollLimits {
    /// Back-off cap as a multiple of the interval.
    pub max_backoff_factor: u32,
    /// A poll producing more series fails (protection against cardinality explosions).
    pub max_series: usize,
    /// Shared by the target's endpoints: how many of them may poll at once.
    pub concurrency: Arc<tokio::sync::Semaphore>,
}

impl PollLimits {
    /// Limits from the global config.
    pub fn from_global(global: &Global) -> Self {
        PollLimits {
            max_backoff_factor: global.max_backoff_factor,
            max_series: global.max_series_per_endpoint,
            concurrency: Arc::new(tokio::sync::Semaphore::new(
                global.max_concurrent_polls_per_target,
            )),
        }
    }
}

impl Default for PollLimits {
    fn default() -> Self {
        Self::from_global(&Global::default())
    }
}

impl std::fmt::Debug for TargetInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetInstance")
            .field("source", &self.source)
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Removes secret values (and their common encodings) from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these secret values (empty values are ignored).
    pub fn new(secrets: &[&str]) -> Self {
        use base64::Engine;
        let mut needles = Vec::new();
        for s in secrets.iter().filter(|s| s.len() >= 3) {
            needles.push(s.to_string());
            needles.push(base64::engine::general_purpose::STANDARD.encode(s));
            needles.push(url::form_urlencoded::byte_serialize(s.as_bytes()).collect());
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor {
            needles: Arc::new(needles),
        }
    }

    /// Adds more needles (e.g. a `user:password` pair whose base64 form is a Basic header).
    pub fn with(mut self, extra: &[&str]) -> Self {
        let mut all: Vec<String> = self.needles.iter().cloned().collect();
        let more = Redactor::new(extra);
        all.extend(more.needles.iter().cloned());
        all.sort_by_key(|n| std::cmp::Reverse(n.len()));
        all.dedup();
        self.needles = Arc::new(all);
        self
    }

    /// The text with every secret replaced by `<secret>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in self.needles.iter() {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), "<secret>");
            }
        }
        out
    }
}

/// A kind's constructor for one target.
type BuildFn<'a> = dyn Fn(BuildContext) -> Result<Arc<dyn Target>, String> + 'a;

/// What a kind's `build` function gets.
pub struct BuildContext<'a> {
    /// Global settings.
    pub global: &'a Global,
    /// The target's upstream HTTP client (TLS, timeouts, body cap, request counting).
    pub upstream: Upstream,
}

/// The registry of source kinds: name and endpoint table.
pub const KINDS: &[(&str, &[EndpointSpec])] = &[
    ("scc", scc::ENDPOINTS),
    ("akana", akana::ENDPOINTS),
    ("tr50", tr50::ENDPOINTS),
    ("tencent", tencent::ENDPOINTS),
    ("aveva", aveva::ENDPOINTS),
];

/// The endpoint table of a kind (empty for an unknown kind).
pub fn endpoint_specs(kind: &str) -> &'static [EndpointSpec] {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, e)| *e)
        .unwrap_or(&[])
}

/// Builds every configured target. Problems name the config key of the failing target.
pub fn build_all(
    config: &Config,
    requests: &RequestCounter,
) -> Result<Vec<TargetInstance>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let sources = &config.sources;
    let mut build = |kind: &'static str,
                     index: usize,
                     cfg: &dyn TargetConfig,
                     fingerprint_text: String,
                     make: &BuildFn| {
        match instance(config, requests, kind, cfg, fingerprint_text, make) {
            Ok(i) => out.push(i),
            Err(reason) => problems.push(Problem {
                key: format!("sources.{kind}[{index}]"),
                reason,
            }),
        }
    };
    for (i, t) in sources.scc.iter().enumerate() {
        build("scc", i, t, fingerprint_of(t), &|ctx| scc::build(t, ctx));
    }
    for (i, t) in sources.akana.iter().enumerate() {
        build("akana", i, t, fingerprint_of(t), &|ctx| {
            akana::build(t, ctx)
        });
    }
    for (i, t) in sources.tr50.iter().enumerate() {
        build("tr50", i, t, fingerprint_of(t), &|ctx| tr50::build(t, ctx));
    }
    for (i, t) in sources.tencent.iter().enumerate() {
        build("tencent", i, t, fingerprint_of(t), &|ctx| {
            tencent::build(t, ctx)
        });
    }
    for (i, t) in sources.aveva.iter().enumerate() {
        build("aveva", i, t, fingerprint_of(t), &|ctx| {
            aveva::build(t, ctx)
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Debug text of a config with its secrets appended, hashed by [`instance`]; never shown.
fn fingerprint_of<T: TargetConfig + Clone + std::fmt::Debug>(cfg: &T) -> String {
    let mut copy = cfg.clone();
    let mut text = format!("{cfg:?}");
    for slot in copy.secret_slots() {
        if let Some(secret) = slot.value {
            text.push('\0');
            text.push_str(secret.expose());
        }
    }
    text
}

fn secrets_of(fingerprint_text: &str) -> Vec<&str> {
    fingerprint_text.split('\0').skip(1).collect()
}

fn instance(
    config: &Config,
    requests: &RequestCounter,
    kind: &'static str,
    cfg: &dyn TargetConfig,
    fingerprint_text: String,
    make: &BuildFn,
) -> Result<TargetInstance, String> {
    let name: Arc<str> = Arc::from(cfg.name());
    let timeout = cfg.timeout().unwrap_or(config.global.timeout).get();
    let upstream = Upstream::build(
        kind,
        name.clone(),
        cfg.tls(),
        timeout,
        config.global.body_limit_bytes,
        requests.clone(),
    )
    .map_err(|e| e.to_string())?;
    let target = make(BuildContext {
        global: &config.global,
        upstream,
    })?;
    let endpoints = resolve_schedule(endpoint_specs(kind), cfg);
    let max_interval = endpoints
        .iter()
        .map(|e| e.interval)
        .max()
        .unwrap_or(timeout);
    let redactor = Redactor::new(&secrets_of(&fingerprint_text));
    Ok(TargetInstance {
        source: kind,
        name,
        target,
        endpoints,
        redactor,
        fingerprint: Sha256::digest(fingerprint_text.as_bytes()).into(),
        // A poll may make several requests; it must end before it would overlap the next one.
        poll_timeout: timeout.max(max_interval.min(timeout * 6)),
        limits: PollLimits::from_global(&config.global),
    })
}

/// Combines a kind's endpoint defaults with a target's overrides.
pub fn resolve_schedule(specs: &[EndpointSpec], cfg: &dyn TargetConfig) -> Vec<EndpointSchedule> {
    use crate::config::EndpointSetting;
    specs
        .iter()
        .filter_map(|spec| {
            let interval = match cfg.endpoints().get(spec.name) {
                Some(EndpointSetting::Off) => None,
                Some(EndpointSetting::Every(d)) => Some(d.get()),
                None => spec.default_interval,
            }?;
            let stale_after = cfg
                .stale_after()
                .map(|d| d.get())
                .unwrap_or(interval * 3)
                .max(interval);
            Some(EndpointSchedule {
                name: spec.name,
                interval,
                stale_after,
            })
        })
        .collect()
}

/// The endpoint reference of `docs/configuration.md`: every kind's endpoints with their
/// default intervals, generated from the registry so the docs cannot drift from the code.
pub fn endpoint_reference_markdown() -> String {
    let mut out = String::new();
    for (kind, endpoints) in KINDS {
        out.push_str(&format!(
            "\n### `{kind}`\n\n| endpoint | default interval | reads |\n|---|---|---|\n"
        ));
        for e in *endpoints {
            let interval = e
                .default_interval
                .map(crate::config::format_duration)
                .unwrap_or_else(|| "off".into());
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                e.name, interval, e.description
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- BEGIN GENERATED ENDPOINTS: edit src/sources/*/mod.rs, then UPDATE_GOLDEN=1 cargo test docs_endpoint -->\n";
    const END: &str = "<!-- END GENERATED ENDPOINTS -->";

    #[test]
    fn docs_endpoint_reference_matches_the_registry() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let doc = std::fs::read_to_string(&path).expect("docs/configuration.md exists");
        let (start, end) = (
            doc.find(BEGIN).expect("begin marker") + BEGIN.len(),
            doc.find(END).expect("end marker"),
        );
        let generated = endpoint_reference_markdown();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            &doc[start..end],
            generated,
            "docs/configuration.md is out of date; run UPDATE_GOLDEN=1 cargo test docs_endpoint"
        );
    }

    #[test]
    fn redactor_removes_plain_base64_and_urlencoded_forms() {
        use base64::Engine;
        let r = Redactor::new(&["p@ss word", "ab"]).with(&["user:p@ss word"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("user:p@ss word");
        let text = format!("x p@ss word y {b64} z p%40ss+word ab");
        assert_eq!(r.redact(&text), "x <secret> y <secret> z <secret> ab");
    }
}
