//! Config of a Tencent Cloud Monitor target.

use crate::base::duration::ConfigDuration;
use crate::config::{require, TargetConfig};
use crate::config::{Secret, SecretSlot};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which Tencent API generation to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TencentApi {
    /// API 3.0 (TC3-HMAC-SHA256), what current accounts use.
    #[default]
    V3,
    /// Legacy `index.php` API (HmacSHA1/HmacSHA256).
    V2,
}

/// One block of metrics to read: a namespace, metric names, a period and instances.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentMetrics {
    /// Namespace, e.g. `QCE/CVM` (v3) or `qce/cvm` (v2).
    pub namespace: String,
    /// Metric names, e.g. `CPUUsage`.
    pub names: Vec<String>,
    /// Statistic period (e.g. `60s`, `300s`).
    pub period: Option<ConfigDuration>,
    /// Instances, each a map of dimension name → value (numbers and booleans are taken as
    /// text, so `loadBalancerPort: 443` works).
    #[serde(default, deserialize_with = "scalar_maps")]
    pub instances: Vec<BTreeMap<String, String>>,
}

fn scalar_maps<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<BTreeMap<String, String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    let raw: Option<Vec<BTreeMap<String, Scalar>>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Scalar::Text(s) => s,
                        Scalar::Int(i) => i.to_string(),
                        Scalar::Float(f) => f.to_string(),
                        Scalar::Bool(b) => b.to_string(),
                    };
                    (k, v)
                })
                .collect()
        })
        .collect())
}

fn default_batch_size() -> usize {
    50
}

fn default_rate_limit() -> f64 {
    15.0
}

fn default_max_concurrency() -> usize {
    4
}

crate::target_config! {
    /// One Tencent Cloud account and region (`sources.tencent[]`).
    pub struct TencentTarget {
        /// `v3` (default) or `v2`.
        #[serde(default)]
        pub api: TencentApi,
        /// Region, e.g. `ap-guangzhou`.
        pub region: Option<String>,
        /// API key id.
        pub secret_id: Option<Secret>,
        /// File holding the key id.
        pub secret_id_file: Option<PathBuf>,
        /// API key secret.
        pub secret_key: Option<Secret>,
        /// File holding the key secret.
        pub secret_key_file: Option<PathBuf>,
        /// What to read.
        #[serde(default)]
        pub metrics: Vec<TencentMetrics>,
        /// Instances per GetMonitorData request (older accounts: 10).
        #[serde(default = "default_batch_size")]
        pub batch_size: usize,
        /// Requests per second allowed to this target (token bucket).
        #[serde(default = "default_rate_limit")]
        pub rate_limit: f64,
        /// v2 only: `GetMonitorData` (default) or `GetMetricStatistics`.
        pub read_api: Option<String>,
        /// v2 only: `HmacSHA1` (default) or `HmacSHA256`.
        pub signature_method: Option<String>,
        /// Requests in flight at once for this target (default 4).
        #[serde(default = "default_max_concurrency")]
        pub max_concurrency: usize,
        /// v2 only: UTC offset of the region's `YYYY-MM-DD HH:MM:SS` times (e.g. `+08:00`);
        /// default from the region (China regions UTC+8).
        pub utc_offset: Option<String>,
    }
}

impl TargetConfig for TencentTarget {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![
            SecretSlot {
                key: "secret_id",
                value: &mut self.secret_id,
                file: &mut self.secret_id_file,
            },
            SecretSlot {
                key: "secret_key",
                value: &mut self.secret_key,
                file: &mut self.secret_key_file,
            },
        ]
    }
}

impl TencentTarget {
    /// Kind-specific checks after secrets are resolved: (key relative to the target, reason).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors: Vec<_> = [
            require(&self.region, "region", "set the region, e.g. ap-guangzhou"),
            require(
                &self.secret_id,
                "secret_id",
                "set secret_id or secret_id_file",
            ),
            require(
                &self.secret_key,
                "secret_key",
                "set secret_key or secret_key_file",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(url) = &self.url {
            if let Some(e) = crate::config::check_url(&Some(url.clone())) {
                errors.push(e);
            }
        }
        if self.batch_size == 0 || self.batch_size > 100 {
            errors.push(("batch_size".into(), "must be between 1 and 100".into()));
        }
        if self.max_concurrency == 0 || self.max_concurrency > 64 {
            errors.push(("max_concurrency".into(), "must be between 1 and 64".into()));
        }
        if let Some(api) = &self.read_api {
            if !matches!(api.as_str(), "GetMonitorData" | "GetMetricStatistics") {
                errors.push((
                    "read_api".into(),
                    format!("unknown read API {api:?}; use GetMonitorData or GetMetricStatistics"),
                ));
            } else if self.api == TencentApi::V3 && api == "GetMetricStatistics" {
                errors.push((
                    "read_api".into(),
                    "GetMetricStatistics exists only in the v2 API; set api: v2 or remove read_api"
                        .into(),
                ));
            }
        }
        if let Some(method) = &self.signature_method {
            if !matches!(
                method.to_ascii_lowercase().as_str(),
                "hmacsha1" | "hmacsha256"
            ) {
                errors.push((
                    "signature_method".into(),
                    format!("unknown signature method {method:?}; use HmacSHA1 or HmacSHA256"),
                ));
            } else if self.api == TencentApi::V3 {
                errors.push((
                    "signature_method".into(),
                    "only the v2 API takes a signature method (API 3.0 always signs with TC3-HMAC-SHA256)".into(),
                ));
            }
        }
        if let Some(offset) = &self.utc_offset {
            if crate::sources::tencent::parse_utc_offset(offset).is_none() {
                errors.push((
                    "utc_offset".into(),
                    format!("invalid UTC offset {offset:?}; write e.g. +08:00 or -05:00"),
                ));
            }
        }
        if self.metrics.is_empty() {
            errors.push((
                "metrics".into(),
                "missing; list at least one block of namespace, names and instances".into(),
            ));
        }
        for (i, block) in self.metrics.iter().enumerate() {
            let key = |k: &str| format!("metrics[{i}].{k}");
            if block.namespace.trim().is_empty() {
                errors.push((key("namespace"), "must not be empty, e.g. QCE/CVM".into()));
            }
            if block.names.is_empty() || block.names.iter().any(|n| n.trim().is_empty()) {
                errors.push((
                    key("names"),
                    "list at least one metric name, none empty".into(),
                ));
            }
            if let Some(p) = block.period {
                let d = p.get();
                if d.as_secs() == 0 || d.subsec_nanos() != 0 {
                    errors.push((
                        key("period"),
                        "must be a whole number of seconds, e.g. 60s or 5m".into(),
                    ));
                }
            }
            if block.instances.is_empty() {
                errors.push((
                    key("instances"),
                    "list at least one instance as a map of dimensions, e.g. {InstanceId: ins-1a2b3c4d}".into(),
                ));
            }
            for (j, inst) in block.instances.iter().enumerate() {
                if inst.is_empty() {
                    errors.push((
                        format!("metrics[{i}].instances[{j}]"),
                        "needs at least one dimension".into(),
                    ));
                }
            }
        }
        if self.rate_limit.is_nan() || self.rate_limit <= 0.0 {
            errors.push((
                "rate_limit".into(),
                "must be a positive number of requests per second".into(),
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ConfigError;
    use crate::sources::parse_config as parse;
    use crate::sources::tencent::TencentApi;
    use std::path::Path;

    const BASE: &str = "sources:\n  tencent:\n    - name: t\n      region: ap-guangzhou\n      secret_id: AKID\n      secret_key: key\n";
    const METRICS: &str = "      metrics:\n        - namespace: QCE/CVM\n          names: [CPUUsage]\n          instances: [{InstanceId: ins-1, loadBalancerPort: 443}]\n";

    fn load(extra: &str) -> Result<crate::config::Config, ConfigError> {
        parse(
            &format!("{BASE}{extra}{METRICS}"),
            Path::new("t.yml"),
            &|_| None,
        )
    }

    fn problems(extra: &str) -> Vec<(String, String)> {
        load(extra)
            .unwrap_err()
            .problems
            .into_iter()
            .map(|p| (p.key, p.reason))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = load("").unwrap();
        let t = &c.targets_of::<crate::sources::tencent::TencentTarget>()[0];
        assert_eq!(t.api, TencentApi::V3);
        assert_eq!(t.batch_size, 50);
        assert_eq!(t.rate_limit, 15.0);
        assert_eq!(t.max_concurrency, 4);
        assert!(t.url.is_none());
        // Numbers in dimension maps are taken as text.
        assert_eq!(
            t.metrics[0].instances[0]
                .get("loadBalancerPort")
                .map(String::as_str),
            Some("443")
        );
    }

    #[test]
    fn v2_options_need_v2() {
        let p =
            problems("      read_api: GetMetricStatistics\n      signature_method: HmacSHA256\n");
        assert!(
            p.iter()
                .any(|(k, r)| k == "sources.tencent[0].read_api" && r.contains("v2")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|(k, _)| k == "sources.tencent[0].signature_method"),
            "{p:?}"
        );
        assert!(load("      api: v2\n      read_api: GetMetricStatistics\n      signature_method: hmacsha256\n      utc_offset: \"+08:00\"\n").is_ok());
        let p = problems("      api: v2\n      read_api: GetStuff\n      signature_method: MD5\n      utc_offset: soon\n");
        assert_eq!(p.len(), 3, "{p:?}");
    }

    #[test]
    fn metrics_blocks_are_checked() {
        let text = format!(
            "{BASE}      batch_size: 0\n      metrics:\n        - namespace: \"\"\n          names: []\n          period: 1500ms\n          instances: [{{}}]\n"
        );
        let e = parse(&text, Path::new("t.yml"), &|_| None).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "sources.tencent[0].batch_size",
                "sources.tencent[0].metrics[0].namespace",
                "sources.tencent[0].metrics[0].names",
                "sources.tencent[0].metrics[0].period",
                "sources.tencent[0].metrics[0].instances[0]",
            ]
        );
        let e = parse(BASE, Path::new("t.yml"), &|_| None).unwrap_err();
        assert_eq!(e.problems[0].key, "sources.tencent[0].metrics");
    }
}
