//! Config of a Tencent Cloud Monitor target.

use super::common::{require, TargetConfig};
use super::duration::ConfigDuration;
use super::secret::{Secret, SecretSlot};
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
    /// Instances, each a map of dimension name → value.
    #[serde(default)]
    pub instances: Vec<BTreeMap<String, String>>,
}

fn default_batch_size() -> usize {
    50
}

fn default_rate_limit() -> f64 {
    15.0
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

    fn validate(&self) -> Vec<(String, String)> {
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
            if let Some(e) = super::common::check_url(&Some(url.clone())) {
                errors.push(e);
            }
        }
        if self.batch_size == 0 || self.batch_size > 100 {
            errors.push(("batch_size".into(), "must be between 1 and 100".into()));
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
