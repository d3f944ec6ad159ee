//! Config of a Tencent Cloud Monitor target: as written in the file, and validated.

use super::discovery::{self, BlockDiscovery, FiltersFile, InstancesFile};
use super::sign::V2Method;
use super::window::BEIJING_OFFSET_SECS;
use super::{parse_utc_offset, DEFAULT_URL_V2, DEFAULT_URL_V3};
use crate::base::duration::ConfigDuration;
use crate::config::{http_url, required, TargetConfig, TargetProblem};
use crate::config::{Secret, SecretSlot};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

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

/// One block of metrics to read, as written in the file: a namespace, metric names, a period
/// and instances.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentMetrics {
    /// Namespace, e.g. `QCE/CVM` (v3) or `qce/cvm` (v2).
    pub namespace: String,
    /// Metric names, e.g. `CPUUsage`.
    pub names: Vec<String>,
    /// Statistic period (e.g. `60s`, `300s`): the smallest supported period at least this long
    /// is read.
    pub period: Option<ConfigDuration>,
    /// Ingestion delay: the read window ends this long before the poll time (default per
    /// product, e.g. 6 minutes for `QCE/CDN`, else none).
    pub delay: Option<ConfigDuration>,
    /// Instances, each a map of dimension name → value (numbers and booleans are taken as
    /// text, so `loadBalancerPort: 443` works), or `all` to discover them.
    #[serde(default)]
    pub instances: InstancesFile,
    /// Which discovered instances to read (implies discovery).
    pub filters: Option<FiltersFile>,
}

/// Most instances one v3 `GetMonitorData` request is configured to carry.
pub const MAX_BATCH_SIZE: usize = 50;

fn default_batch_size() -> usize {
    MAX_BATCH_SIZE
}

fn default_rate_limit() -> f64 {
    15.0
}

fn default_max_concurrency() -> usize {
    4
}

crate::target_config! {
    /// One Tencent Cloud account and region (`sources.tencent[]`), as written in the file.
    pub struct FileConfig {
        /// `v3` (default) or `v2`.
        #[serde(default)]
        pub api: TencentApi,
        /// Region, e.g. `ap-guangzhou`.
        pub region: Option<String>,
        /// Several regions read with the one credential (instead of `region`).
        pub regions: Option<Vec<String>>,
        /// Tags of discovered instances exported as `tag_<key>` labels of `qce_instance_info`.
        #[serde(default)]
        pub tag_labels: Vec<String>,
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
        /// Instances per GetMonitorData request, 1–50 (halved per namespace when refused).
        #[serde(default = "default_batch_size")]
        pub batch_size: usize,
        /// Requests per second allowed to this target (token bucket).
        #[serde(default = "default_rate_limit")]
        pub rate_limit: f64,
        /// v2 only: `GetMonitorData` (default) or `GetMetricStatistics`. Text here and parsed
        /// by [`validate`], so that a wrong value is reported together with every other problem.
        pub read_api: Option<String>,
        /// v2 only: `HmacSHA1` (default) or `HmacSHA256`, any case.
        pub signature_method: Option<String>,
        /// Requests in flight at once for this target (default 4).
        #[serde(default = "default_max_concurrency")]
        pub max_concurrency: usize,
        /// v2 only: UTC offset of the `YYYY-MM-DD HH:MM:SS` times (e.g. `+08:00`); default
        /// Beijing time (UTC+8) in every region, as the v2 service uses.
        pub utc_offset: Option<String>,
    }
}

impl TargetConfig for FileConfig {
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

/// Which v2 read API `metric_data` calls (API 3.0 always reads with `GetMonitorData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadApi {
    /// `GetMonitorData`, the default.
    #[default]
    GetMonitorData,
    /// `GetMetricStatistics` (v2 only): windows never span two days, statistic always `avg`.
    GetMetricStatistics,
}

impl ReadApi {
    /// Parses the config name (exact spelling, as the API names the action).
    pub fn parse(name: &str) -> Option<ReadApi> {
        match name {
            "GetMonitorData" => Some(ReadApi::GetMonitorData),
            "GetMetricStatistics" => Some(ReadApi::GetMetricStatistics),
            _ => None,
        }
    }

    /// The action called.
    pub fn action(self) -> &'static str {
        match self {
            ReadApi::GetMonitorData => "GetMonitorData",
            ReadApi::GetMetricStatistics => "GetMetricStatistics",
        }
    }
}

/// A configured instance: its dimensions (name, value) as configured, in name order.
pub type Instance = Vec<(String, String)>;

/// A validated block of metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricBlock {
    /// Namespace, trimmed, e.g. `QCE/CVM`.
    pub namespace: String,
    /// Metric names, trimmed, none empty.
    pub names: Vec<String>,
    /// Statistic period, whole seconds (at least 1 s); `None` for the read API's default.
    pub period: Option<Duration>,
    /// Ingestion delay, whole seconds; `None` for the product's default.
    pub delay: Option<Duration>,
    /// Instances, each with at least one dimension.
    pub instances: Vec<Instance>,
}

/// A validated Tencent target.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API generation.
    pub api: TencentApi,
    /// URL called: the configured one, else the default of the API generation.
    pub url: Url,
    /// Region sent with every call: the first of `regions`.
    pub region: String,
    /// Every region read (`region` alone: that one), none twice.
    pub regions: Vec<String>,
    /// Per metrics block (same order): how it discovers its instances, `None` when listed.
    pub discovery: Vec<Option<BlockDiscovery>>,
    /// (tag key, label name) of `tag_labels`.
    pub tag_labels: Vec<(String, String)>,
    /// API key id.
    pub secret_id: Secret,
    /// API key secret.
    pub secret_key: Secret,
    /// v2 read API (`GetMonitorData` with API 3.0).
    pub read_api: ReadApi,
    /// v2 signature method (unused by API 3.0).
    pub signature_method: V2Method,
    /// Seconds east of UTC of the v2 times: `utc_offset`, else Beijing time (UTC+8).
    pub utc_offset_secs: i32,
    /// Instances per v3 `GetMonitorData` request, 1–[`MAX_BATCH_SIZE`].
    pub batch_size: usize,
    /// Requests per second, > 0.
    pub rate_limit: f64,
    /// Requests in flight at once, 1–64.
    pub max_concurrency: usize,
    /// What to read: at least one block.
    pub metrics: Vec<MetricBlock>,
}

/// Keeps a checked value, or records why it is wrong.
fn keep<T>(checked: Result<T, TargetProblem>, problems: &mut Vec<TargetProblem>) -> Option<T> {
    checked.map_err(|p| problems.push(p)).ok()
}

fn problem(key: impl Into<String>, reason: impl Into<String>) -> TargetProblem {
    (key.into(), reason.into())
}

/// Checks a file config (secrets resolved) and turns it into [`Settings`].
pub fn validate(file: &FileConfig) -> Result<Settings, Vec<TargetProblem>> {
    let mut problems = Vec::new();
    let p = &mut problems;
    let regions = keep(regions(file), p);
    let region = regions.as_ref().map(|r| r[0].clone());
    let secret_id = keep(
        required(
            &file.secret_id,
            "secret_id",
            "set secret_id or secret_id_file",
        ),
        p,
    );
    let secret_key = keep(
        required(
            &file.secret_key,
            "secret_key",
            "set secret_key or secret_key_file",
        ),
        p,
    );
    let url = keep(
        match file.url {
            Some(_) => http_url(&file.url),
            None => http_url(&Some(
                match file.api {
                    TencentApi::V3 => DEFAULT_URL_V3,
                    TencentApi::V2 => DEFAULT_URL_V2,
                }
                .to_string(),
            )),
        },
        p,
    );
    if file.batch_size == 0 || file.batch_size > MAX_BATCH_SIZE {
        p.push(problem(
            "batch_size",
            format!("must be between 1 and {MAX_BATCH_SIZE} (instances per GetMonitorData)"),
        ));
    }
    if file.max_concurrency == 0 || file.max_concurrency > 64 {
        p.push(problem("max_concurrency", "must be between 1 and 64"));
    }
    let read_api = keep(read_api(file), p);
    let signature_method = keep(signature_method(file), p);
    let utc_offset = keep(
        file.utc_offset
            .as_deref()
            .map(|offset| {
                parse_utc_offset(offset).ok_or_else(|| {
                    problem(
                        "utc_offset",
                        format!("invalid UTC offset {offset:?}; write e.g. +08:00 or -05:00"),
                    )
                })
            })
            .transpose(),
        p,
    );
    if file.metrics.is_empty() {
        p.push(problem(
            "metrics",
            "missing; list at least one block of namespace, names and instances",
        ));
    }
    let blocks: Vec<Option<(MetricBlock, Option<BlockDiscovery>)>> = file
        .metrics
        .iter()
        .enumerate()
        .map(|(i, block)| metric_block(i, file.api, block, p))
        .collect();
    let (metrics, discovery): (Vec<MetricBlock>, Vec<Option<BlockDiscovery>>) =
        blocks.into_iter().flatten().unzip();
    let tag_labels = discovery::tag_labels(&file.tag_labels, p);
    if !file.tag_labels.is_empty() && discovery.iter().all(Option::is_none) {
        p.push(problem(
            "tag_labels",
            "only discovered instances have tags; use instances: all (or filters) in a metrics block, or remove tag_labels",
        ));
    }
    // Infinity is refused too: the token bucket has no "unlimited" and would fall back to 1/s.
    if !(file.rate_limit.is_finite() && file.rate_limit > 0.0) {
        p.push(problem(
            "rate_limit",
            "must be a positive number of requests per second",
        ));
    }
    match (
        region,
        secret_id,
        secret_key,
        url,
        read_api,
        signature_method,
        utc_offset,
    ) {
        (
            Some(region),
            Some(secret_id),
            Some(secret_key),
            Some(url),
            Some(read_api),
            Some(signature_method),
            Some(utc_offset),
        ) if problems.is_empty() => Ok(Settings {
            api: file.api,
            url,
            utc_offset_secs: utc_offset.unwrap_or(BEIJING_OFFSET_SECS),
            region,
            regions: regions.unwrap_or_default(),
            discovery,
            tag_labels,
            secret_id,
            secret_key,
            read_api,
            signature_method,
            batch_size: file.batch_size,
            rate_limit: file.rate_limit,
            max_concurrency: file.max_concurrency,
            metrics,
        }),
        _ => Err(problems),
    }
}

/// `region`, or `regions` (not both): at least one, none empty, none twice; more than one only
/// with API 3.0 (v2 times are in the region's time zone, one per target).
fn regions(file: &FileConfig) -> Result<Vec<String>, TargetProblem> {
    let list = match (&file.region, &file.regions) {
        (Some(_), Some(_)) => {
            return Err(problem(
                "regions",
                "set region or regions, not both (region: x is regions: [x])",
            ))
        }
        (Some(one), None) => vec![one.clone()],
        (None, Some(list)) => list.clone(),
        (None, None) => {
            return Err(problem(
                "region",
                "set the region, e.g. ap-guangzhou (or regions: [ap-guangzhou, ap-shanghai])",
            ))
        }
    };
    let key = if file.regions.is_some() {
        "regions"
    } else {
        "region"
    };
    if list.is_empty() {
        return Err(problem(
            key,
            "list at least one region, e.g. [ap-guangzhou]",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let r = r.trim();
        let at = if file.regions.is_some() {
            format!("regions[{i}]")
        } else {
            "region".to_string()
        };
        if r.is_empty() {
            return Err(problem(at, "must not be empty, e.g. ap-guangzhou"));
        }
        if out.iter().any(|o| o == r) {
            return Err(problem(at, format!("region {r} is listed twice")));
        }
        out.push(r.to_string());
    }
    if out.len() > 1 && file.api == TencentApi::V2 {
        return Err(problem(
            "regions",
            "several regions need api: v3 (v2 times are in one region's time zone); use one target per region",
        ));
    }
    Ok(out)
}

fn read_api(file: &FileConfig) -> Result<ReadApi, TargetProblem> {
    let Some(name) = &file.read_api else {
        return Ok(ReadApi::default());
    };
    match ReadApi::parse(name) {
        None => Err(problem(
            "read_api",
            format!("unknown read API {name:?}; use GetMonitorData or GetMetricStatistics"),
        )),
        Some(ReadApi::GetMetricStatistics) if file.api == TencentApi::V3 => Err(problem(
            "read_api",
            "GetMetricStatistics exists only in the v2 API; set api: v2 or remove read_api",
        )),
        Some(read_api) => Ok(read_api),
    }
}

fn signature_method(file: &FileConfig) -> Result<V2Method, TargetProblem> {
    let Some(name) = &file.signature_method else {
        return Ok(V2Method::default());
    };
    match V2Method::parse(name) {
        None => Err(problem(
            "signature_method",
            format!("unknown signature method {name:?}; use HmacSHA1 or HmacSHA256"),
        )),
        Some(_) if file.api == TencentApi::V3 => Err(problem(
            "signature_method",
            "only the v2 API takes a signature method (API 3.0 always signs with TC3-HMAC-SHA256)",
        )),
        Some(method) => Ok(method),
    }
}

/// Checks block `i`; `None` (with the problems recorded) when it is wrong.
fn metric_block(
    i: usize,
    api: TencentApi,
    block: &TencentMetrics,
    problems: &mut Vec<TargetProblem>,
) -> Option<(MetricBlock, Option<BlockDiscovery>)> {
    let before = problems.len();
    let key = |k: &str| format!("metrics[{i}].{k}");
    let namespace = block.namespace.trim();
    if namespace.is_empty() {
        problems.push(problem(key("namespace"), "must not be empty, e.g. QCE/CVM"));
    }
    if block.names.is_empty() || block.names.iter().any(|n| n.trim().is_empty()) {
        problems.push(problem(
            key("names"),
            "list at least one metric name, none empty",
        ));
    }
    let period = block.period.map(|p| p.get());
    if period.is_some_and(|d| d.as_secs() == 0 || d.subsec_nanos() != 0) {
        problems.push(problem(
            key("period"),
            "must be a whole number of seconds, e.g. 60s or 5m",
        ));
    }
    let delay = block.delay.map(|d| d.get());
    if delay.is_some_and(|d| d.subsec_nanos() != 0 || d > Duration::from_secs(86_400)) {
        problems.push(problem(
            key("delay"),
            "must be a whole number of seconds up to a day, e.g. 0s or 6m",
        ));
    }
    let before_discovery = problems.len();
    let discovers = discovery::block(
        i,
        api,
        namespace,
        &block.instances,
        &block.filters,
        problems,
    );
    let listed = block.instances.list();
    if discovers.is_none() && listed.is_empty() && problems.len() == before_discovery {
        problems.push(problem(
            key("instances"),
            "list at least one instance as a map of dimensions, e.g. {InstanceId: ins-1a2b3c4d}, or write instances: all to discover them",
        ));
    }
    for (j, instance) in listed.iter().enumerate() {
        if instance.is_empty() {
            problems.push(problem(
                format!("metrics[{i}].instances[{j}]"),
                "needs at least one dimension",
            ));
        }
    }
    (problems.len() == before).then(|| {
        let block = MetricBlock {
            namespace: namespace.to_string(),
            names: block.names.iter().map(|n| n.trim().to_string()).collect(),
            period,
            delay,
            instances: listed
                .iter()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .collect(),
        };
        (block, discovers)
    })
}

#[cfg(test)]
mod tests {
    use super::{ReadApi, Settings, TencentApi};
    use crate::config::ConfigError;
    use crate::sources::parse_config as parse;
    use crate::sources::tencent::sign::V2Method;
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
        let t = &c.targets_of::<Settings>()[0];
        assert_eq!(t.api, TencentApi::V3);
        assert_eq!(t.batch_size, 50);
        assert_eq!(t.rate_limit, 15.0);
        assert_eq!(t.max_concurrency, 4);
        assert_eq!(t.url.as_str(), "https://monitor.tencentcloudapi.com/");
        assert_eq!(t.read_api, ReadApi::GetMonitorData);
        assert_eq!(t.signature_method, V2Method::HmacSha1);
        assert_eq!(t.utc_offset_secs, 8 * 3600, "Beijing time");
        assert_eq!(t.metrics[0].period, None);
        // Numbers in dimension maps are taken as text.
        assert_eq!(
            t.metrics[0].instances[0],
            vec![
                ("InstanceId".to_string(), "ins-1".to_string()),
                ("loadBalancerPort".to_string(), "443".to_string())
            ]
        );
    }

    #[test]
    fn v2_values_are_typed_once() {
        let text = format!(
            "sources:\n  tencent:\n    - name: t\n      api: v2\n      region: na-siliconvalley\n      secret_id: AKID\n      secret_key: key\n      read_api: GetMetricStatistics\n      signature_method: hmacsha256\n{METRICS}"
        );
        let c = parse(&text, Path::new("t.yml"), &|_| None).unwrap();
        let t = &c.targets_of::<Settings>()[0];
        assert_eq!(t.url.as_str(), "https://monitor.api.qcloud.com/");
        assert_eq!(t.read_api, ReadApi::GetMetricStatistics);
        assert_eq!(t.signature_method, V2Method::HmacSha256);
        assert_eq!(t.utc_offset_secs, 8 * 3600, "Beijing time in every region");
        let c = load(
            "      api: v2\n      url: http://127.0.0.1:9/v2/x.php\n      utc_offset: \"-05:30\"\n",
        )
        .unwrap();
        let t = &c.targets_of::<Settings>()[0];
        assert_eq!(t.url.as_str(), "http://127.0.0.1:9/v2/x.php");
        assert_eq!(t.utc_offset_secs, -(5 * 3600 + 30 * 60));
        let p = problems("      url: ftp://x\n");
        assert_eq!(
            p,
            vec![(
                "sources.tencent[0].url".to_string(),
                "scheme \"ftp\" not supported; use http or https".to_string()
            )]
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

    #[test]
    fn batch_size_is_1_to_50_and_delay_whole_seconds() {
        assert_eq!(
            problems("      batch_size: 51\n"),
            vec![(
                "sources.tencent[0].batch_size".to_string(),
                "must be between 1 and 50 (instances per GetMonitorData)".to_string()
            )]
        );
        let c = load("      batch_size: 1\n").unwrap();
        assert_eq!(c.targets_of::<Settings>()[0].batch_size, 1);
        let block = |delay: &str| {
            format!(
                "{BASE}      metrics:\n        - namespace: QCE/CDN\n          names: [Bandwidth]\n          delay: {delay}\n          instances: [{{domain: a.example}}]\n"
            )
        };
        let c = parse(&block("6m"), Path::new("t.yml"), &|_| None).unwrap();
        assert_eq!(
            c.targets_of::<Settings>()[0].metrics[0].delay,
            Some(std::time::Duration::from_secs(360))
        );
        let c = parse(&block("0s"), Path::new("t.yml"), &|_| None).unwrap();
        assert_eq!(
            c.targets_of::<Settings>()[0].metrics[0].delay,
            Some(std::time::Duration::ZERO)
        );
        let e = parse(&block("1500ms"), Path::new("t.yml"), &|_| None).unwrap_err();
        assert_eq!(e.problems[0].key, "sources.tencent[0].metrics[0].delay");
    }
}
