//! The YAML config file: schema, defaults, `${ENV}` expansion, `*_file` secrets, validation.
//!
//! Loading never half-succeeds: any problem yields a [`ConfigError`] that names the file, the
//! key path (`sources.scc[0].password_file`) and the reason, and the caller keeps what it had.

mod akana;
mod aveva;
mod common;
mod duration;
mod env;
mod scc;
mod secret;
mod tencent;
mod tr50;

pub use akana::AkanaTarget;
pub use aveva::AvevaTarget;
pub use common::{check_url, require, EndpointOverrides, EndpointSetting, TargetConfig, TlsConfig};
pub use duration::{format_duration, parse_duration, ConfigDuration};
pub use scc::SccTarget;
pub use secret::{Secret, SecretSlot};
pub use tencent::{TencentApi, TencentMetrics, TencentTarget};
pub use tr50::Tr50Target;

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings for all targets.
    #[serde(default)]
    pub global: Global,
    /// Targets per source kind.
    #[serde(default)]
    pub sources: Sources,
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

/// `sources:` — a list of targets per kind.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// SAP BTP Cloud Connector instances.
    #[serde(default)]
    pub scc: Vec<SccTarget>,
    /// Akana API Platform subscriptions.
    #[serde(default)]
    pub akana: Vec<AkanaTarget>,
    /// TR50 accounts.
    #[serde(default)]
    pub tr50: Vec<Tr50Target>,
    /// Tencent Cloud Monitor accounts.
    #[serde(default)]
    pub tencent: Vec<TencentTarget>,
    /// AVEVA CONNECT data services tenants.
    #[serde(default)]
    pub aveva: Vec<AvevaTarget>,
}

impl Sources {
    /// Every target as (kind, index, config), in file order.
    pub fn all(&self) -> Vec<(&'static str, usize, &dyn TargetConfig)> {
        fn list<'a, T: TargetConfig>(
            kind: &'static str,
            items: &'a [T],
        ) -> impl Iterator<Item = (&'static str, usize, &'a dyn TargetConfig)> + 'a {
            items
                .iter()
                .enumerate()
                .map(move |(i, t)| (kind, i, t as &dyn TargetConfig))
        }
        list("scc", &self.scc)
            .chain(list("akana", &self.akana))
            .chain(list("tr50", &self.tr50))
            .chain(list("tencent", &self.tencent))
            .chain(list("aveva", &self.aveva))
            .collect()
    }

    fn all_mut(&mut self) -> Vec<(&'static str, usize, &mut dyn TargetConfig)> {
        fn list<'a, T: TargetConfig>(
            kind: &'static str,
            items: &'a mut [T],
        ) -> impl Iterator<Item = (&'static str, usize, &'a mut dyn TargetConfig)> + 'a {
            items
                .iter_mut()
                .enumerate()
                .map(move |(i, t)| (kind, i, t as &mut dyn TargetConfig))
        }
        list("scc", &mut self.scc)
            .chain(list("akana", &mut self.akana))
            .chain(list("tr50", &mut self.tr50))
            .chain(list("tencent", &mut self.tencent))
            .chain(list("aveva", &mut self.aveva))
            .collect()
    }

    /// Number of targets over all kinds.
    pub fn target_count(&self) -> usize {
        self.scc.len() + self.akana.len() + self.tr50.len() + self.tencent.len() + self.aveva.len()
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
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(path, "", format!("cannot read config file: {e}")))?;
    parse(&text, path, &|name| std::env::var(name).ok())
}

/// Parses and validates config text; `path` is only used in messages and `lookup` resolves
/// `${ENV}` references.
pub fn parse(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::one(path, "", format!("not valid YAML: {e}")))?;
    if tree.is_null() {
        tree = serde_yaml_ng::Value::Mapping(Default::default());
    }
    env::expand_tree(&mut tree, "", lookup)
        .map_err(|(key, reason)| ConfigError::one(path, key, reason))?;
    let mut config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        ConfigError::one(path, key, e.inner().to_string())
    })?;
    let problems = validate(&mut config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            file: path.to_path_buf(),
            problems,
        })
    }
}

/// Resolves `*_file` secrets and checks names, endpoints and per-kind rules.
fn validate(config: &mut Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut push = |key: String, reason: String| problems.push(Problem { key, reason });
    if config.global.timeout.get().is_zero() {
        push("global.timeout".into(), "must be greater than 0".into());
    }
    if config.global.max_series_per_endpoint == 0 {
        push(
            "global.max_series_per_endpoint".into(),
            "must be at least 1".into(),
        );
    }
    if config.global.max_concurrent_polls_per_target == 0 {
        push(
            "global.max_concurrent_polls_per_target".into(),
            "must be at least 1".into(),
        );
    }
    if config.global.max_backoff_factor == 0 {
        push(
            "global.max_backoff_factor".into(),
            "must be at least 1".into(),
        );
    }
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    for (kind, index, target) in config.sources.all_mut() {
        let prefix = format!("sources.{kind}[{index}]");
        for slot in target.secret_slots() {
            if let Err((key, reason)) = slot.resolve() {
                push(format!("{prefix}.{key}"), reason);
            }
        }
        let name = target.name().to_string();
        if name.trim().is_empty() {
            push(format!("{prefix}.name"), "must not be empty".into());
        } else if !seen.insert((kind, name.clone())) {
            push(
                format!("{prefix}.name"),
                format!("duplicate target name {name:?} in sources.{kind}; names must be unique per source kind"),
            );
        }
        if target.timeout().is_some_and(|t| t.get().is_zero()) {
            push(format!("{prefix}.timeout"), "must be greater than 0".into());
        }
        let tls = target.tls();
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            push(
                format!("{prefix}.tls"),
                "cert_file and key_file go together for client certificates".into(),
            );
        }
        for file in [&tls.ca_file, &tls.cert_file, &tls.key_file]
            .into_iter()
            .flatten()
        {
            if let Err(e) = std::fs::metadata(file) {
                push(
                    format!("{prefix}.tls"),
                    format!("cannot read {}: {e}", file.display()),
                );
            }
        }
        let specs = crate::sources::endpoint_specs(kind);
        for (endpoint, setting) in target.endpoints() {
            if !specs.iter().any(|s| s.name == endpoint) {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                push(
                    format!("{prefix}.endpoints.{endpoint}"),
                    format!(
                        "unknown endpoint for source {kind}; known endpoints: {}",
                        known.join(", ")
                    ),
                );
            } else if matches!(setting, EndpointSetting::Every(d) if d.get().is_zero()) {
                push(
                    format!("{prefix}.endpoints.{endpoint}"),
                    "interval must be greater than 0 (or `off`)".into(),
                );
            }
        }
        for (key, reason) in target.validate() {
            push(format!("{prefix}.{key}"), reason);
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SCC_PASSWORD" => Some("from-env".into()),
            _ => None,
        }
    }

    fn parse_text(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/ue.yml"), &env)
    }

    fn error_of(text: &str) -> String {
        parse_text(text).unwrap_err().to_string()
    }

    const SCC: &str = "sources:\n  scc:\n    - name: prod\n      url: https://scc:8443\n      username: monitor\n";

    #[test]
    fn empty_file_is_valid_with_defaults() {
        let c = parse_text("").unwrap();
        assert_eq!(c.global.timeout.get(), Duration::from_secs(10));
        assert_eq!(c.sources.target_count(), 0);
        let c = parse_text("global: {timeout: 3s}\nsources: {}\n").unwrap();
        assert_eq!(c.global.timeout.get(), Duration::from_secs(3));
    }

    #[test]
    fn unknown_key_names_file_key_and_reason() {
        let e = error_of(&format!("{SCC}      password: x\n      pasword: y\n"));
        assert!(e.starts_with("/etc/ue.yml: sources.scc[0]"), "{e}");
        assert!(e.contains("unknown field `pasword`"), "{e}");
        let e = error_of("global:\n  timeout: 1s\n  colour: red\n");
        assert!(
            e.contains("global") && e.contains("unknown field `colour`"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_target_name_is_rejected() {
        let e = error_of(&format!(
            "{SCC}      password: x\n    - name: prod\n      url: https://other:8443\n      username: m\n      password: y\n"
        ));
        assert_eq!(
            e,
            "/etc/ue.yml: sources.scc[1].name: duplicate target name \"prod\" in sources.scc; names must be unique per source kind"
        );
    }

    #[test]
    fn bad_duration_names_the_key() {
        let e = error_of(&format!(
            "{SCC}      password: x\n      timeout: 10 seconds\n"
        ));
        assert!(
            e.starts_with("/etc/ue.yml: sources.scc[0].timeout: invalid duration \"10 seconds\""),
            "{e}"
        );
        let e = error_of(&format!(
            "{SCC}      password: x\n      endpoints: {{memory: fast}}\n"
        ));
        assert!(
            e.contains("sources.scc[0].endpoints.memory") && e.contains("or `off`"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_secret_file_is_named() {
        let e = error_of(&format!("{SCC}      password_file: /nonexistent/scc-pw\n"));
        assert!(
            e.starts_with("/etc/ue.yml: sources.scc[0].password_file: cannot read secret file /nonexistent/scc-pw"),
            "{e}"
        );
    }

    #[test]
    fn unknown_endpoint_lists_the_known_ones() {
        let e = error_of(&format!(
            "{SCC}      password: x\n      endpoints: {{memroy: 1m}}\n"
        ));
        assert!(e.starts_with("/etc/ue.yml: sources.scc[0].endpoints.memroy: unknown endpoint for source scc; known endpoints: health, "), "{e}");
    }

    #[test]
    fn missing_required_fields_and_both_secret_forms() {
        let e = error_of(
            "sources:\n  akana:\n    - name: a\n      password: x\n      password_file: /tmp/x\n",
        );
        assert!(
            e.contains("sources.akana[0].password: set either password or password_file, not both"),
            "{e}"
        );
        assert!(e.contains("sources.akana[0].url: missing"), "{e}");
        assert!(
            e.contains("sources.akana[0].subscription_id: missing"),
            "{e}"
        );
    }

    #[test]
    fn env_and_file_secrets_resolve() {
        let c = parse_text(&format!("{SCC}      password: ${{SCC_PASSWORD}}\n")).unwrap();
        assert_eq!(
            c.sources.scc[0].password.as_ref().unwrap().expose(),
            "from-env"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let c = parse_text(&format!("{SCC}      password_file: {}\n", file.display())).unwrap();
        assert_eq!(
            c.sources.scc[0].password.as_ref().unwrap().expose(),
            "from-file"
        );
        assert!(c.sources.scc[0].password_file.is_none());
        assert!(
            !format!("{c:?}").contains("from-file"),
            "Debug never shows secrets"
        );
        let e = error_of(&format!("{SCC}      password: ${{NOT_SET}}\n"));
        assert_eq!(
            e,
            "/etc/ue.yml: sources.scc[0].password: environment variable NOT_SET is not set"
        );
    }

    #[test]
    fn endpoint_off_and_intervals() {
        let c = parse_text(&format!(
            "{SCC}      password: x\n      endpoints: {{memory: 15s, top_time_consumers: off, usage: false}}\n"
        ))
        .unwrap();
        let e = &c.sources.scc[0].endpoints;
        assert_eq!(
            e["memory"],
            EndpointSetting::Every(ConfigDuration(Duration::from_secs(15)))
        );
        assert_eq!(e["top_time_consumers"], EndpointSetting::Off);
        assert_eq!(e["usage"], EndpointSetting::Off);
    }

    #[test]
    fn invalid_yaml_and_wrong_types() {
        let e = error_of("sources: [\n");
        assert!(e.starts_with("/etc/ue.yml: not valid YAML"), "{e}");
        let e = error_of("sources:\n  scc: {name: x}\n");
        assert!(
            e.contains("sources.scc") && e.contains("expected a sequence"),
            "{e}"
        );
    }
}
