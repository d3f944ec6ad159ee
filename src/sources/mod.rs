//! The sources: one folder per vendor API, one line per source in [`registry`].
//!
//! Every endpoint poll has one signature (`poll(target, context) -> Result<PollOutcome,
//! PollError>`), declared in the source's endpoint table. The scheduler, not the source, times
//! polls and records their results, so a source never counts its own polls (node_exporter's
//! collector/framework split).

mod endpoint;
pub mod registry;
mod source;

/// Declares each source's folder as a module and lists its target type in [`KINDS`].
macro_rules! registry {
    ($($module:ident :: $target:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every source kind, in the order the docs, the landing page and `check-config` list
        /// them.
        pub static KINDS: &[&dyn Kind] = &[$(&KindOf::<$module::$target>::NEW),*];
    };
}

// The registry: one line per source (its folder and its target type).
registry! {
    scc::Scc,
    akana::Akana,
    tr50::Tr50,
    tencent::Tencent,
    aveva::Aveva,
}

#[cfg(test)]
mod config_tests;

pub use crate::base::FailedUnit;
pub use endpoint::{
    Endpoint, EndpointInfo, Gates, ParseFn, PollContext, PollFn, PollFuture, PollOutcome,
};
pub use source::{BuildContext, Kind, KindOf, Source, Target};

use crate::base::duration::format_duration;
use crate::base::Redactor;
use crate::config::{Config, ConfigError, EndpointSetting, Global, Problem, TargetEntry};
use crate::state::StateStore;
use crate::store::EndpointSchedule;
use crate::upstream::{RequestCounter, Upstream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    /// The target's `max_calls_per_day`/`max_calls_per_month`: the scheduler stretches its
    /// intervals when the projected calls exceed it.
    pub call_budget: Option<crate::base::budget::CallBudget>,
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
            call_budget: None,
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

/// Parses and validates config text against the registry's source kinds.
pub fn parse_config(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    crate::config::parse(text, path, lookup, &registry::schemas())
}

/// Reads and validates a config file against the registry's source kinds.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    crate::config::load(path, &registry::schemas())
}

/// Builds every configured target. A problem names the config key of the failing target.
pub fn build_all(
    config: &Config,
    requests: &RequestCounter,
    state: &Arc<StateStore>,
) -> Result<Vec<TargetInstance>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for entry in &config.targets {
        match instance(config, requests, state, entry) {
            Ok(i) => out.push(i),
            Err(reason) => problems.push(Problem {
                key: entry.key(),
                reason,
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn instance(
    config: &Config,
    requests: &RequestCounter,
    state: &Arc<StateStore>,
    entry: &TargetEntry,
) -> Result<TargetInstance, String> {
    let kind = registry::kind(entry.kind).expect("the loader only accepts registered kinds");
    let timeout = entry.timeout.unwrap_or(config.global.timeout.get());
    let upstream = Upstream::build(
        entry.kind,
        entry.name.clone(),
        &entry.tls,
        timeout,
        config.global.body_limit_bytes,
        requests.clone(),
    )
    .map_err(|e| e.to_string())?;
    let endpoints = resolve_schedule(&kind.endpoints(), entry);
    let target = kind.build(
        entry.settings.as_ref(),
        BuildContext {
            global: &config.global,
            upstream,
            endpoints: &endpoints,
            state,
        },
    );
    let max_interval = endpoints
        .iter()
        .map(|e| e.interval)
        .max()
        .unwrap_or(timeout);
    let secrets: Vec<&str> = entry.secrets.iter().map(|s| s.expose()).collect();
    Ok(TargetInstance {
        source: entry.kind,
        name: entry.name.clone(),
        target,
        endpoints,
        redactor: Redactor::new(&secrets),
        fingerprint: entry.fingerprint,
        // A poll may make several requests; it must end before it would overlap the next one.
        poll_timeout: timeout.max(max_interval.min(timeout * 6)),
        limits: PollLimits {
            call_budget: entry.call_budget,
            ..PollLimits::from_global(&config.global)
        },
    })
}

/// Combines a kind's endpoint defaults with a target's overrides.
pub fn resolve_schedule(specs: &[&EndpointInfo], entry: &TargetEntry) -> Vec<EndpointSchedule> {
    specs
        .iter()
        .enumerate()
        .filter_map(|(index, spec)| {
            let interval = match entry.endpoints.get(spec.name) {
                Some(EndpointSetting::Off) => None,
                Some(EndpointSetting::Every(d)) => Some(d.get()),
                None => spec.default_interval,
            }?;
            let stale_after = entry.stale_after.unwrap_or(interval * 3).max(interval);
            Some(EndpointSchedule {
                name: spec.name,
                index,
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
    for kind in KINDS {
        out.push_str(&format!(
            "\n### `{}`\n\n| endpoint | default interval | reads | polled when |\n|---|---|---|---|\n",
            kind.kind()
        ));
        for e in kind.endpoints() {
            let interval = e
                .default_interval
                .map(format_duration)
                .unwrap_or_else(|| "off".into());
            let mut gates = Vec::new();
            if e.gates.master_only {
                gates.push("master instance only".to_string());
            }
            if let Some((major, minor)) = e.gates.since_version {
                gates.push(format!("version {major}.{minor}+"));
            }
            let gates = if gates.is_empty() {
                "always".to_string()
            } else {
                gates.join(", ")
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {gates} |\n",
                e.name, interval, e.description
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- BEGIN GENERATED ENDPOINTS: edit a source's endpoint table, then UPDATE_GOLDEN=1 cargo test docs_endpoint -->\n";
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
}
