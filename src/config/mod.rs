//! The YAML config file: schema, defaults, `${ENV}` expansion, `*_file` secrets, validation.
//!
//! Loading never half-succeeds: any problem yields a [`ConfigError`] that names the file, the
//! key path (`sources.scc[0].password_file`) and the reason, and the caller keeps what it had.

//! This layer knows no source kind: each kind reads and validates its own part of `sources:`
//! through [`SourceSchema`], which the registry of sources implements.

mod common;
mod env;
mod secret;
mod tls;

pub use common::{
    http_url, required, EndpointOverrides, EndpointSetting, TargetConfig, TargetProblem, TlsConfig,
};
pub use secret::{Secret, SecretSlot};
pub use tls::UpstreamTls;

use crate::base::budget::{BudgetPeriod, CallBudget};
use crate::base::duration::ConfigDuration;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The whole config file, validated: global settings and every target in file order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Settings for all targets.
    pub global: Global,
    /// Every configured target, in file order per kind (kinds in registry order).
    pub targets: Vec<TargetEntry>,
}

/// The file as read, before the source kinds parse their parts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    global: Global,
    #[serde(default)]
    sources: serde_yaml_ng::Mapping,
}

/// One validated target: the settings every target has plus its kind's typed settings.
#[derive(Clone)]
pub struct TargetEntry {
    /// Source kind, e.g. `scc`.
    pub kind: &'static str,
    /// Position within `sources.<kind>` (for messages: `sources.scc[2]`).
    pub index: usize,
    /// Unique name within the kind (label `target`).
    pub name: Arc<str>,
    /// Per-request timeout override.
    pub timeout: Option<Duration>,
    /// Data-retention override after failures.
    pub stale_after: Option<Duration>,
    /// `max_calls_per_day` or `max_calls_per_month`, validated.
    pub call_budget: Option<CallBudget>,
    /// Endpoint overrides.
    pub endpoints: EndpointOverrides,
    /// TLS material, already read and parsed.
    pub tls: UpstreamTls,
    /// The kind's validated settings (downcast by the kind's builder).
    pub settings: Arc<dyn Any + Send + Sync>,
    /// Secret values of this target, for redaction.
    pub secrets: Vec<Secret>,
    /// Hash of the target's full config (secrets included): a changed config restarts it.
    pub fingerprint: [u8; 32],
}

impl fmt::Debug for TargetEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetEntry")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl TargetEntry {
    /// The key path of this target in the file, e.g. `sources.scc[0]`.
    pub fn key(&self) -> String {
        format!("sources.{}[{}]", self.kind, self.index)
    }

    /// The kind's settings, if they are of type `T`.
    pub fn settings<T: Any>(&self) -> Option<&T> {
        self.settings.downcast_ref::<T>()
    }
}

impl Config {
    /// The settings of every target whose kind's settings type is `T`, in file order.
    pub fn targets_of<T: Any>(&self) -> Vec<&T> {
        self.targets
            .iter()
            .filter_map(|t| t.settings::<T>())
            .collect()
    }
}

/// What the loader needs from a source kind: its name, endpoint names, and how to read and
/// validate its part of `sources:`. The registry of source kinds implements it, so this layer
/// knows no kind by name.
pub trait SourceSchema: Sync {
    /// Kind name, the key under `sources:`.
    fn kind(&self) -> &'static str;
    /// Names of the kind's endpoints (for `endpoints:` overrides).
    fn endpoint_names(&self) -> Vec<&'static str>;
    /// Deserializes the list under `sources.<kind>`; the error carries the key path inside it.
    fn deserialize(
        &self,
        value: serde_yaml_ng::Value,
    ) -> Result<Vec<Box<dyn TargetConfig>>, (String, String)>;
    /// Checks one target (its secrets already resolved) and returns its typed settings;
    /// problems are (key relative to the target, reason).
    fn validate(
        &self,
        target: &dyn TargetConfig,
    ) -> Result<Arc<dyn Any + Send + Sync>, Vec<(String, String)>>;
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(10))
}

fn default_body_limit() -> u64 {
    64 * 1024 * 1024
}

fn default_max_backoff_factor() -> u32 {
    4
}

fn default_max_series() -> usize {
    250_000
}

fn default_max_concurrent_polls() -> usize {
    4
}

/// `global:` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Per upstream request timeout (default 10s).
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    /// Largest upstream response body accepted, in bytes (default 64 MiB).
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: u64,
    /// After failures, back-off grows up to this many intervals (default 4).
    #[serde(default = "default_max_backoff_factor")]
    pub max_backoff_factor: u32,
    /// An endpoint producing more series than this fails with a clear error (cardinality guard).
    #[serde(default = "default_max_series")]
    pub max_series_per_endpoint: usize,
    /// Polls of one target's endpoints running at the same time (default 4).
    #[serde(default = "default_max_concurrent_polls")]
    pub max_concurrent_polls_per_target: usize,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            timeout: default_timeout(),
            body_limit_bytes: default_body_limit(),
            max_backoff_factor: default_max_backoff_factor(),
            max_series_per_endpoint: default_max_series(),
            max_concurrent_polls_per_target: default_max_concurrent_polls(),
        }
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `sources.scc[0].tls.ca_file` (empty for the whole file).
    pub key: String,
    /// Why it is wrong and what to do.
    pub reason: String,
}

/// Everything wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file that was read.
    pub file: PathBuf,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if p.key.is_empty() {
                write!(f, "{}: {}", self.file.display(), p.reason)?;
            } else {
                write!(f, "{}: {}: {}", self.file.display(), p.key, p.reason)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            problems: vec![Problem {
                key: key.into(),
                reason: reason.into(),
            }],
        }
    }
}

/// Reads, expands, parses and validates a config file using the process environment.
pub fn load(path: &Path, kinds: &[&dyn SourceSchema]) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(path, "", format!("cannot read config file: {e}")))?;
    parse(&text, path, &|name| std::env::var(name).ok(), kinds)
}

/// Parses and validates config text; `path` is only used in messages, `lookup` resolves
/// `${ENV}` references and `kinds` are the source kinds that may appear under `sources:`.
pub fn parse(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    kinds: &[&dyn SourceSchema],
) -> Result<Config, ConfigError> {
    let mut tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::one(path, "", format!("not valid YAML: {e}")))?;
    if tree.is_null() {
        tree = serde_yaml_ng::Value::Mapping(Default::default());
    }
    env::expand_tree(&mut tree, "", lookup)
        .map_err(|(key, reason)| ConfigError::one(path, key, reason))?;
    let document: Document = serde_path_to_error::deserialize(tree).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        ConfigError::one(path, key, e.inner().to_string())
    })?;
    let mut raw = Vec::new();
    let mut sources = document.sources;
    for kind in kinds {
        let Some(value) = sources.remove(kind.kind()) else {
            continue;
        };
        let value = if value.is_null() {
            serde_yaml_ng::Value::Sequence(Vec::new())
        } else {
            value
        };
        let targets = kind.deserialize(value).map_err(|(key, reason)| {
            let key = if key.is_empty() || key == "." {
                format!("sources.{}", kind.kind())
            } else if key.starts_with('[') {
                format!("sources.{}{key}", kind.kind())
            } else {
                format!("sources.{}.{key}", kind.kind())
            };
            ConfigError::one(path, key, reason)
        })?;
        raw.extend(targets.into_iter().enumerate().map(|(i, t)| (*kind, i, t)));
    }
    if let Some((unknown, _)) = sources.into_iter().next() {
        let name = unknown
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{unknown:?}"));
        let known: Vec<&str> = kinds.iter().map(|k| k.kind()).collect();
        return Err(ConfigError::one(
            path,
            format!("sources.{name}"),
            format!("unknown source kind; known kinds: {}", known.join(", ")),
        ));
    }
    let (targets, mut problems) = validate_targets(raw);
    problems.splice(0..0, validate_global(&document.global));
    if problems.is_empty() {
        Ok(Config {
            global: document.global,
            targets,
        })
    } else {
        Err(ConfigError {
            file: path.to_path_buf(),
            problems,
        })
    }
}

fn validate_global(global: &Global) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut push = |key: &str, reason: &str| {
        problems.push(Problem {
            key: key.into(),
            reason: reason.into(),
        })
    };
    if global.timeout.get().is_zero() {
        push("global.timeout", "must be greater than 0");
    }
    if global.max_series_per_endpoint == 0 {
        push("global.max_series_per_endpoint", "must be at least 1");
    }
    if global.max_concurrent_polls_per_target == 0 {
        push(
            "global.max_concurrent_polls_per_target",
            "must be at least 1",
        );
    }
    if global.max_backoff_factor == 0 {
        push("global.max_backoff_factor", "must be at least 1");
    }
    problems
}

/// Resolves `*_file` secrets, checks names, endpoints and TLS, then lets each kind validate
/// its own settings into their typed form.
fn validate_targets(
    raw: Vec<(&dyn SourceSchema, usize, Box<dyn TargetConfig>)>,
) -> (Vec<TargetEntry>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut targets = Vec::new();
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    for (schema, index, mut target) in raw {
        let kind = schema.kind();
        let prefix = format!("sources.{kind}[{index}]");
        let mut push = |key: &str, reason: String| {
            problems.push(Problem {
                key: format!("{prefix}.{key}"),
                reason,
            })
        };
        for slot in target.secret_slots() {
            if let Err((key, reason)) = slot.resolve() {
                push(&key, reason);
            }
        }
        let secrets: Vec<Secret> = target
            .secret_slots()
            .into_iter()
            .filter_map(|slot| slot.value.clone())
            .collect();
        let name = target.name().to_string();
        if name.trim().is_empty() {
            push("name", "must not be empty".into());
        } else if !seen.insert((kind, name.clone())) {
            push(
                "name",
                format!("duplicate target name {name:?} in sources.{kind}; names must be unique per source kind"),
            );
        }
        if target.timeout().is_some_and(|t| t.get().is_zero()) {
            push("timeout", "must be greater than 0".into());
        }
        let call_budget = match (target.max_calls_per_day(), target.max_calls_per_month()) {
            (Some(_), Some(_)) => {
                push(
                    "max_calls_per_day",
                    "set either max_calls_per_day or max_calls_per_month, not both".into(),
                );
                None
            }
            (Some(0), None) | (None, Some(0)) => {
                let key = if target.max_calls_per_day().is_some() {
                    "max_calls_per_day"
                } else {
                    "max_calls_per_month"
                };
                push(
                    key,
                    "must be at least 1 (leave it out for no call budget)".into(),
                );
                None
            }
            (Some(calls), None) => Some(CallBudget {
                calls,
                period: BudgetPeriod::Day,
            }),
            (None, Some(calls)) => Some(CallBudget {
                calls,
                period: BudgetPeriod::Month,
            }),
            (None, None) => None,
        };
        let tls = match UpstreamTls::load(target.tls()) {
            Ok(tls) => Some(tls),
            Err(reason) => {
                push("tls", reason);
                None
            }
        };
        let known = schema.endpoint_names();
        for (endpoint, setting) in target.endpoints() {
            if !known.contains(&endpoint.as_str()) {
                push(
                    &format!("endpoints.{endpoint}"),
                    format!(
                        "unknown endpoint for source {kind}; known endpoints: {}",
                        known.join(", ")
                    ),
                );
            } else if matches!(setting, EndpointSetting::Every(d) if d.get().is_zero()) {
                push(
                    &format!("endpoints.{endpoint}"),
                    "interval must be greater than 0 (or `off`)".into(),
                );
            }
        }
        let settings = match schema.validate(target.as_ref()) {
            Ok(settings) => Some(settings),
            Err(found) => {
                for (key, reason) in found {
                    push(&key, reason);
                }
                None
            }
        };
        if let (Some(tls), Some(settings)) = (tls, settings) {
            let mut text = format!("{kind}\0{target:?}");
            for secret in &secrets {
                text.push('\0');
                text.push_str(secret.expose());
            }
            targets.push(TargetEntry {
                kind,
                index,
                name: Arc::from(name.as_str()),
                timeout: target.timeout().map(ConfigDuration::get),
                stale_after: target.stale_after().map(ConfigDuration::get),
                call_budget,
                endpoints: target.endpoints().clone(),
                tls,
                settings,
                secrets,
                fingerprint: Sha256::digest(text.as_bytes()).into(),
            });
        }
    }
    (targets, problems)
}
