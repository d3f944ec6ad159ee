//! Settings every target has: name, url, timeout, TLS, endpoint schedule overrides.

use super::secret::SecretSlot;
use crate::base::duration::ConfigDuration;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Upstream TLS options of one target.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the CA certificates that sign the upstream's server certificate.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for lab setups; logged as a warning at start.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Client certificate (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    pub key_file: Option<PathBuf>,
}

/// How often one endpoint is polled, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSetting {
    /// Poll at this interval.
    Every(ConfigDuration),
    /// Never poll.
    Off,
}

impl<'de> Deserialize<'de> for EndpointSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bool(false) => Ok(EndpointSetting::Off),
            Raw::Bool(true) => Err(serde::de::Error::custom(
                "expected an interval like 1m or `off`, got true",
            )),
            Raw::Text(t) if t.eq_ignore_ascii_case("off") => Ok(EndpointSetting::Off),
            Raw::Text(t) => crate::base::duration::parse_duration(&t)
                .map(|d| EndpointSetting::Every(ConfigDuration(d)))
                .map_err(|e| serde::de::Error::custom(format!("{e}, or `off`"))),
        }
    }
}

/// Endpoint name → interval or `off`.
pub type EndpointOverrides = BTreeMap<String, EndpointSetting>;

/// What the loader needs from every source kind's target config, as written in the file.
pub trait TargetConfig: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Unique name within the kind (label `target`).
    fn name(&self) -> &str;
    /// Per-request timeout override.
    fn timeout(&self) -> Option<ConfigDuration>;
    /// Upstream TLS options.
    fn tls(&self) -> &TlsConfig;
    /// Endpoint overrides.
    fn endpoints(&self) -> &EndpointOverrides;
    /// How long the last good data of an endpoint is kept after failures (default 3 × interval).
    fn stale_after(&self) -> Option<ConfigDuration>;
    /// `max_calls_per_day`: the target's upstream call budget per UTC day.
    fn max_calls_per_day(&self) -> Option<u64>;
    /// `max_calls_per_month`: the target's upstream call budget per UTC calendar month.
    fn max_calls_per_month(&self) -> Option<u64>;
    /// The secrets this kind carries, with their `*_file` forms.
    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>>;
    /// The config as `Any`, for the kind's validation to downcast.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Declares a target config struct with the common fields (`name`, `url`, `timeout`,
/// `stale_after`, `max_calls_per_day`, `max_calls_per_month`, `tls`, `endpoints`) followed by the kind's own fields, and implements the
/// accessors of [`TargetConfig`] for them.
#[macro_export]
macro_rules! target_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Unique name within this source kind; exported as label `target`.
            pub name: String,
            /// Base URL of the upstream API (`http://` allowed for simulators and proxies).
            pub url: Option<String>,
            /// Per-request timeout (default `global.timeout`).
            pub timeout: Option<$crate::base::duration::ConfigDuration>,
            /// How long good data survives failing polls (default 3 × the endpoint's interval).
            pub stale_after: Option<$crate::base::duration::ConfigDuration>,
            /// Upstream calls (logins included) allowed per UTC day; when the projected calls
            /// exceed it, the target's intervals are stretched to fit.
            pub max_calls_per_day: Option<u64>,
            /// Upstream calls (logins included) allowed per UTC calendar month; when the
            /// projected calls exceed it, the target's intervals are stretched to fit.
            pub max_calls_per_month: Option<u64>,
            /// Upstream TLS options.
            #[serde(default)]
            pub tls: $crate::config::TlsConfig,
            /// Endpoint name → interval or `off`; unlisted endpoints use their defaults.
            #[serde(default)]
            pub endpoints: $crate::config::EndpointOverrides,
            $( $(#[$fmeta])* pub $field : $ty, )*
        }
    };
}

/// Implements the common accessors of [`TargetConfig`] inside an `impl TargetConfig` block.
#[macro_export]
macro_rules! target_config_accessors {
    () => {
        fn name(&self) -> &str {
            &self.name
        }
        fn timeout(&self) -> Option<$crate::base::duration::ConfigDuration> {
            self.timeout
        }
        fn tls(&self) -> &$crate::config::TlsConfig {
            &self.tls
        }
        fn endpoints(&self) -> &$crate::config::EndpointOverrides {
            &self.endpoints
        }
        fn stale_after(&self) -> Option<$crate::base::duration::ConfigDuration> {
            self.stale_after
        }
        fn max_calls_per_day(&self) -> Option<u64> {
            self.max_calls_per_day
        }
        fn max_calls_per_month(&self) -> Option<u64> {
            self.max_calls_per_month
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    };
}

/// A (key, reason) problem of one target, relative to the target's key.
pub type TargetProblem = (String, String);

/// The `url` field as a parsed http(s) URL.
pub fn http_url(url: &Option<String>) -> Result<url::Url, TargetProblem> {
    match url {
        None => Err(("url".into(), "missing; set the upstream base URL".into())),
        Some(u) => match url::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(parsed),
            Ok(parsed) => Err((
                "url".into(),
                format!(
                    "scheme {:?} not supported; use http or https",
                    parsed.scheme()
                ),
            )),
            Err(e) => Err(("url".into(), format!("invalid URL {u:?}: {e}"))),
        },
    }
}

/// A required field's value.
pub fn required<T: Clone>(value: &Option<T>, key: &str, hint: &str) -> Result<T, TargetProblem> {
    value
        .clone()
        .ok_or_else(|| (key.to_string(), format!("missing; {hint}")))
}
