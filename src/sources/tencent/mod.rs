//! Tencent Cloud Monitor source: API 3.0 (`GetMonitorData`, `DescribeBaseMetrics`, signed with
//! TC3-HMAC-SHA256) and the legacy v2 API (`GetMonitorData`, `GetMetricStatistics`,
//! `DescribeMetrics`, signed with HmacSHA1/HmacSHA256), batched and rate-limited because every
//! call counts towards the account's monthly bill.

pub mod client;
pub mod model;
pub mod sign;
pub mod translate;
pub mod window;

use super::{BuildContext, EndpointSpec, ErrorReason, PollContext, PollError, PollFuture};
use super::{PollOutcome, Target};
use crate::config::{TencentApi, TencentTarget};
use client::{Client, ClientSettings};
use model::{V2Metrics, V2MonitorData, V3BaseMetrics, V3Dimension, V3MonitorData};
use serde_json::json;
use sign::V2Method;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use translate::{CatalogEntry, Reading};

/// Endpoints of this source with their default intervals.
pub const ENDPOINTS: &[EndpointSpec] = &[
    EndpointSpec::every(
        "metric_data",
        60,
        "GetMonitorData (v3 batched, or v2 GetMonitorData / GetMetricStatistics): newest non-empty datapoint of every configured metric and instance",
    ),
    EndpointSpec::every(
        "metric_catalog",
        3600,
        "DescribeBaseMetrics (v3) / DescribeMetrics (v2): metrics, units and periods of the configured namespaces",
    ),
];

/// Default API 3.0 endpoint.
pub const DEFAULT_URL_V3: &str = "https://monitor.tencentcloudapi.com";
/// Default v2 endpoint.
pub const DEFAULT_URL_V2: &str = "https://monitor.api.qcloud.com";

/// Parses a configured `utc_offset` (`+08:00`) into seconds east of UTC.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    window::parse_offset(text)
}

/// Which v2 read API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadApi {
    GetMonitorData,
    GetMetricStatistics,
}

/// One metric of one block, with what the catalog says about it.
#[derive(Debug, Clone)]
struct Plan {
    namespace: String,
    metric: String,
    period: u64,
    stat: String,
}

/// A configured instance: its dimensions as configured.
type Instance = Vec<(String, String)>;

struct Block {
    namespace: String,
    names: Vec<String>,
    period: Option<u64>,
    instances: Vec<Instance>,
}

/// A configured Tencent target.
pub struct TencentSource {
    client: Client,
    region: String,
    offset_secs: i32,
    read_api: ReadApi,
    batch_size: usize,
    blocks: Vec<Block>,
    /// Catalog per namespace (lower-case key), refreshed by `metric_catalog`, loaded on demand.
    catalog: tokio::sync::Mutex<HashMap<String, Arc<Vec<CatalogEntry>>>>,
}

/// Builds a target from its config.
pub fn build(config: &TencentTarget, ctx: BuildContext) -> Result<Arc<dyn Target>, String> {
    let default_url = match config.api {
        TencentApi::V3 => DEFAULT_URL_V3,
        TencentApi::V2 => DEFAULT_URL_V2,
    };
    let url_text = config
        .url
        .clone()
        .unwrap_or_else(|| default_url.to_string());
    let url = url::Url::parse(&url_text).map_err(|e| format!("url: invalid URL: {e}"))?;
    let region = config.region.clone().ok_or("region: missing")?;
    let secret_id = config.secret_id.clone().ok_or("secret_id: missing")?;
    let secret_key = config.secret_key.clone().ok_or("secret_key: missing")?;
    let v2_method = match &config.signature_method {
        None => V2Method::default(),
        Some(m) => V2Method::parse(m).ok_or_else(|| {
            format!("signature_method: unknown {m:?}; use HmacSHA1 or HmacSHA256")
        })?,
    };
    let offset_secs = match &config.utc_offset {
        Some(o) => parse_utc_offset(o).ok_or_else(|| format!("utc_offset: invalid {o:?}"))?,
        None => window::region_offset_secs(&region),
    };
    let read_api = match config.read_api.as_deref() {
        Some("GetMetricStatistics") => ReadApi::GetMetricStatistics,
        _ => ReadApi::GetMonitorData,
    };
    let blocks = config
        .metrics
        .iter()
        .map(|b| Block {
            namespace: b.namespace.trim().to_string(),
            names: b.names.iter().map(|n| n.trim().to_string()).collect(),
            period: b.period.map(|p| p.get().as_secs().max(1)),
            instances: b
                .instances
                .iter()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .collect(),
        })
        .collect();
    let client = Client::new(
        ctx.upstream,
        ClientSettings {
            url,
            api: config.api,
            region: region.clone(),
            secret_id,
            secret_key,
            v2_method,
            rate_limit: config.rate_limit,
            max_concurrency: config.max_concurrency,
        },
    );
    Ok(Arc::new(TencentSource {
        client,
        region,
        offset_secs,
        read_api,
        batch_size: config.batch_size.max(1),
        blocks,
        catalog: tokio::sync::Mutex::new(HashMap::new()),
    }))
}

impl Target for TencentSource {
    fn poll<'a>(&'a self, endpoint: &'a str, ctx: &'a PollContext) -> PollFuture<'a> {
        Box::pin(self.poll_endpoint(endpoint, ctx))
    }
}

/// The statistic a series is named after: from the catalog's list for the period (avg, then
/// max, then min, then whatever comes first), `avg` when the catalog says nothing.
fn pick_stat(available: &[String]) -> String {
    let lower: Vec<String> = available.iter().map(|s| s.to_ascii_lowercase()).collect();
    for preferred in ["avg", "max", "min"] {
        if lower.iter().any(|s| s == preferred) {
            return preferred.to_string();
        }
    }
    lower.into_iter().next().unwrap_or_else(|| "avg".into())
}

/// Bit of `SpecifyStatistics` for a statistic (1 avg, 2 max, 4 min).
fn stat_bit(stat: &str) -> Option<u32> {
    match stat {
        "avg" => Some(1),
        "max" => Some(2),
        "min" => Some(4),
        _ => None,
    }
}

/// Dimension set as a comparable key: lower-cased pairs, sorted.
fn dimension_key<'a>(dims: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut key: Vec<(String, String)> = dims
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_lowercase()))
        .collect();
    key.sort();
    key
}

fn format_periods(periods: &[u64]) -> String {
    periods
        .iter()
        .map(|p| format!("{p}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TencentSource {
    async fn poll_endpoint(
        &self,
        endpoint: &str,
        ctx: &PollContext,
    ) -> Result<PollOutcome, PollError> {
        match endpoint {
            "metric_data" => self.metric_data(ctx).await,
            "metric_catalog" => self.metric_catalog().await,
            other => Err(PollError::new(
                ErrorReason::Unsupported,
                format!("unknown endpoint {other:?} for source tencent"),
            )),
        }
    }

    /// The distinct namespaces of the config, in config order.
    fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in &self.blocks {
            if !out.iter().any(|n| n.eq_ignore_ascii_case(&b.namespace)) {
                out.push(b.namespace.clone());
            }
        }
        out
    }

    async fn metric_catalog(&self) -> Result<PollOutcome, PollError> {
        let mut all = Vec::new();
        for namespace in self.namespaces() {
            let entries = self.fetch_catalog(&namespace).await?;
            all.extend(entries.iter().cloned());
        }
        Ok(PollOutcome::Data(translate::catalog(&all)))
    }

    /// Reads a namespace's catalog from the API and caches it.
    async fn fetch_catalog(&self, namespace: &str) -> Result<Arc<Vec<CatalogEntry>>, PollError> {
        let entries = match self.client.api() {
            TencentApi::V3 => {
                let answer: V3BaseMetrics = self
                    .client
                    .v3("DescribeBaseMetrics", &json!({ "Namespace": namespace }))
                    .await?;
                catalog_from_v3(namespace, answer)
            }
            TencentApi::V2 => {
                let answer: V2Metrics = self
                    .client
                    .v2(
                        "DescribeMetrics",
                        &[("namespace".to_string(), namespace.to_string())],
                    )
                    .await?;
                catalog_from_v2(namespace, answer)
            }
        };
        let entries = Arc::new(entries);
        self.catalog
            .lock()
            .await
            .insert(namespace.to_ascii_lowercase(), entries.clone());
        Ok(entries)
    }

    /// The cached catalog of a namespace, read once if missing. Only auth and rate-limit
    /// failures stop the data poll; otherwise data is read without the catalog's help.
    async fn catalog_for(
        &self,
        namespace: &str,
    ) -> Result<Option<Arc<Vec<CatalogEntry>>>, PollError> {
        if let Some(c) = self
            .catalog
            .lock()
            .await
            .get(&namespace.to_ascii_lowercase())
        {
            return Ok(Some(c.clone()));
        }
        match self.fetch_catalog(namespace).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if matches!(e.reason, ErrorReason::Auth | ErrorReason::RateLimited) => Err(e),
            Err(e) => {
                tracing::debug!(target = self.client.target(), namespace, error = %e, "metric catalog unavailable; reading without it");
                Ok(None)
            }
        }
    }

    /// Works out period and statistic of every configured metric; rejects unsupported periods.
    async fn plans(&self) -> Result<Vec<(usize, Plan)>, PollError> {
        let mut plans = Vec::new();
        for (index, block) in self.blocks.iter().enumerate() {
            let catalog = self.catalog_for(&block.namespace).await?;
            let default_period = match (self.client.api(), self.read_api) {
                (TencentApi::V2, ReadApi::GetMetricStatistics) => 300,
                _ => 60,
            };
            let period = block.period.unwrap_or(default_period);
            for name in &block.names {
                let entry = catalog.as_ref().and_then(|c| {
                    c.iter()
                        .find(|e| e.metric.eq_ignore_ascii_case(name))
                        .cloned()
                });
                if let Some(entry) = &entry {
                    if !entry.periods.is_empty() && !entry.periods.contains(&period) {
                        let api = match self.client.api() {
                            TencentApi::V3 => "DescribeBaseMetrics",
                            TencentApi::V2 => "DescribeMetrics",
                        };
                        return Err(PollError::new(
                            ErrorReason::Unsupported,
                            format!(
                                "metrics[{index}]: {} {name} does not support period {period}s; supported periods: {} (from {api}); change metrics[{index}].period",
                                block.namespace,
                                format_periods(&entry.periods)
                            ),
                        ));
                    }
                }
                let stat = if self.client.api() == TencentApi::V2
                    && self.read_api == ReadApi::GetMetricStatistics
                {
                    "avg".to_string()
                } else {
                    entry
                        .as_ref()
                        .and_then(|e| e.stats.get(&period))
                        .map(|s| pick_stat(s))
                        .unwrap_or_else(|| "avg".into())
                };
                plans.push((
                    index,
                    Plan {
                        namespace: block.namespace.clone(),
                        metric: name.clone(),
                        period,
                        stat,
                    },
                ));
            }
        }
        Ok(plans)
    }

    async fn metric_data(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let now = ctx
            .now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs() as i64;
        let plans = self.plans().await?;
        let mut jobs = Vec::new();
        for (index, plan) in &plans {
            let block = &self.blocks[*index];
            match self.client.api() {
                TencentApi::V3 => {
                    for chunk in block.instances.chunks(self.batch_size) {
                        jobs.push(futures::future::Either::Left(
                            self.read_v3(plan, chunk, now),
                        ));
                    }
                }
                TencentApi::V2 => {
                    for instance in &block.instances {
                        jobs.push(futures::future::Either::Right(
                            self.read_v2(plan, instance, now),
                        ));
                    }
                }
            }
        }
        let results = futures::future::join_all(jobs).await;
        let mut readings = Vec::new();
        let mut first_error: Option<PollError> = None;
        for result in results {
            match result {
                Ok(r) => readings.extend(r),
                Err(e) => {
                    // Auth problems matter most to the operator; otherwise the first error.
                    let replace = match &first_error {
                        None => true,
                        Some(f) => f.reason != ErrorReason::Auth && e.reason == ErrorReason::Auth,
                    };
                    if replace {
                        first_error = Some(e);
                    }
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(PollOutcome::Data(translate::metric_data(
            &self.region,
            &readings,
        )))
    }

    /// One v3 `GetMonitorData` call for a batch of instances.
    async fn read_v3(
        &self,
        plan: &Plan,
        chunk: &[Instance],
        now: i64,
    ) -> Result<Vec<Reading>, PollError> {
        let (start, end) = window::window(now, plan.period);
        let instances: Vec<serde_json::Value> = chunk
            .iter()
            .map(|dims| {
                json!({"Dimensions": dims.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>()})
            })
            .collect();
        let mut body = json!({
            "Namespace": plan.namespace,
            "MetricName": plan.metric,
            "Period": plan.period,
            "StartTime": window::rfc3339(start, self.offset_secs),
            "EndTime": window::rfc3339(end, self.offset_secs),
            "Instances": instances,
        });
        if let Some(bit) = stat_bit(&plan.stat) {
            body["SpecifyStatistics"] = json!(bit);
        }
        let answer: V3MonitorData = self
            .client
            .v3("GetMonitorData", &body)
            .await
            .map_err(|e| e.context(format!("{} {}", plan.namespace, plan.metric)))?;
        Ok(match_points(plan, chunk, &answer))
    }

    /// One v2 read of one instance (GetMonitorData, or GetMetricStatistics per calendar day).
    async fn read_v2(
        &self,
        plan: &Plan,
        instance: &Instance,
        now: i64,
    ) -> Result<Vec<Reading>, PollError> {
        let (start, end) = window::window(now, plan.period);
        let parts = match self.read_api {
            ReadApi::GetMonitorData => vec![(start, end)],
            ReadApi::GetMetricStatistics => window::same_day_parts(start, end, self.offset_secs),
        };
        let action = match self.read_api {
            ReadApi::GetMonitorData => "GetMonitorData",
            ReadApi::GetMetricStatistics => "GetMetricStatistics",
        };
        for (part_start, part_end) in parts {
            let mut params: Vec<(String, String)> = vec![
                ("namespace".into(), plan.namespace.clone()),
                ("metricName".into(), plan.metric.clone()),
                ("period".into(), plan.period.to_string()),
                (
                    "startTime".into(),
                    window::v2_time(part_start, self.offset_secs),
                ),
                (
                    "endTime".into(),
                    window::v2_time(part_end, self.offset_secs),
                ),
            ];
            for (i, (k, v)) in instance.iter().enumerate() {
                params.push((format!("dimensions.{i}.name"), k.clone()));
                params.push((format!("dimensions.{i}.value"), v.clone()));
            }
            let answer: V2MonitorData = self
                .client
                .v2(action, &params)
                .await
                .map_err(|e| e.context(format!("{} {}", plan.namespace, plan.metric)))?;
            if let Some((ts, value)) =
                window::v2_newest(&answer, part_start, plan.period, self.offset_secs)
            {
                return Ok(vec![Reading {
                    namespace: plan.namespace.clone(),
                    metric: plan.metric.clone(),
                    stat: plan.stat.clone(),
                    dimensions: instance.clone(),
                    timestamp: ts,
                    value,
                }]);
            }
        }
        Ok(Vec::new())
    }
}

/// Catalog entries from a v3 `DescribeBaseMetrics` answer.
fn catalog_from_v3(namespace: &str, answer: V3BaseMetrics) -> Vec<CatalogEntry> {
    answer
        .metric_set
        .into_iter()
        .map(|m| {
            let mut stats = BTreeMap::new();
            let mut periods = m.period.clone();
            for p in &m.periods {
                if let Some(period) = p.period.filter(|p| *p >= 1.0) {
                    let period = period as u64;
                    stats.insert(period, p.stat_type.clone());
                    if !periods.contains(&period) {
                        periods.push(period);
                    }
                }
            }
            periods.sort_unstable();
            CatalogEntry {
                namespace: if m.namespace.is_empty() {
                    namespace.to_string()
                } else {
                    m.namespace
                },
                metric: m.metric_name,
                unit: m.unit,
                periods,
                stats,
            }
        })
        .collect()
}

/// Catalog entries from a v2 `DescribeMetrics` answer.
fn catalog_from_v2(namespace: &str, answer: V2Metrics) -> Vec<CatalogEntry> {
    answer
        .metric_set
        .into_iter()
        .map(|m| {
            let stats = match &m.stat_type {
                Some(st) => m
                    .period
                    .iter()
                    .map(|p| (*p, st.for_period(*p)))
                    .filter(|(_, s)| !s.is_empty())
                    .collect(),
                None => BTreeMap::new(),
            };
            CatalogEntry {
                namespace: if m.namespace.is_empty() {
                    namespace.to_string()
                } else {
                    m.namespace
                },
                metric: m.metric_name,
                unit: m.unit,
                periods: m.period,
                stats,
            }
        })
        .collect()
}

/// Matches the answer's points to the requested instances by dimension set (order- and
/// case-insensitive) and keeps the newest non-empty point of each.
fn match_points(plan: &Plan, chunk: &[Instance], answer: &V3MonitorData) -> Vec<Reading> {
    let keys: Vec<Vec<(String, String)>> = chunk
        .iter()
        .map(|dims| dimension_key(dims.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .collect();
    let mut newest: Vec<Option<(f64, f64)>> = vec![None; chunk.len()];
    for point in &answer.data_points {
        let key = dimension_key(
            point
                .dimensions
                .iter()
                .map(|V3Dimension { name, value }| (name.as_str(), value.as_str())),
        );
        let Some(index) = keys.iter().position(|k| *k == key) else {
            continue;
        };
        if let Some((ts, v)) = point.newest(&plan.stat) {
            if newest[index].is_none_or(|(t, _)| ts > t) {
                newest[index] = Some((ts, v));
            }
        }
    }
    chunk
        .iter()
        .zip(newest)
        .filter_map(|(dims, n)| {
            n.map(|(timestamp, value)| Reading {
                namespace: plan.namespace.clone(),
                metric: plan.metric.clone(),
                stat: plan.stat.clone(),
                dimensions: dims.clone(),
                timestamp,
                value,
            })
        })
        .collect()
}

/// Byte-level entry points of the endpoint parsers, for property tests and fuzzing: each runs the
/// decode → model → translation path of one endpoint on a response body, without HTTP (the
/// `Response` envelope and error part are read as the client reads them).
pub mod parse {
    use super::model::{V2Metrics, V2MonitorData, V2Status, V3BaseMetrics, V3Envelope};
    use super::model::{V3ErrorPart, V3MonitorData};
    use super::{catalog_from_v2, catalog_from_v3, match_points, translate, window, Plan};
    use super::{Instance, Reading};
    use crate::config::TencentApi;
    use crate::snapshot::Snapshot;
    use crate::sources::PollError;
    use crate::upstream::decode_json;
    use serde::de::DeserializeOwned;

    /// The payload of an answer, or a decode error / the vendor error (as text).
    pub fn payload<T: DeserializeOwned>(api: TencentApi, body: &[u8]) -> Result<T, PollError> {
        match api {
            TencentApi::V3 => {
                let part: V3Envelope<V3ErrorPart> = decode_json(body)?;
                if let Some(error) = part.response.error {
                    return Err(PollError::decode(format!(
                        "{}: {}",
                        error.code, error.message
                    )));
                }
                Ok(decode_json::<V3Envelope<T>>(body)?.response)
            }
            TencentApi::V2 => {
                let status: V2Status = decode_json(body)?;
                if status.code.unwrap_or(0.0) as i64 != 0 {
                    return Err(PollError::decode(status.message));
                }
                decode_json(body)
            }
        }
    }

    /// `metric_catalog`: a `DescribeBaseMetrics` (v3) or `DescribeMetrics` (v2) answer.
    pub fn metric_catalog(
        api: TencentApi,
        namespace: &str,
        body: &[u8],
    ) -> Result<Snapshot, PollError> {
        let entries = match api {
            TencentApi::V3 => catalog_from_v3(namespace, payload::<V3BaseMetrics>(api, body)?),
            TencentApi::V2 => catalog_from_v2(namespace, payload::<V2Metrics>(api, body)?),
        };
        Ok(translate::catalog(&entries))
    }

    /// `metric_data` over API 3.0: a `GetMonitorData` answer for `instances`.
    pub fn metric_data_v3(
        region: &str,
        (namespace, metric, period, stat): (&str, &str, u64, &str),
        instances: &[Instance],
        body: &[u8],
    ) -> Result<Snapshot, PollError> {
        let plan = Plan {
            namespace: namespace.into(),
            metric: metric.into(),
            period,
            stat: stat.into(),
        };
        let answer: V3MonitorData = payload(TencentApi::V3, body)?;
        Ok(translate::metric_data(
            region,
            &match_points(&plan, instances, &answer),
        ))
    }

    /// `metric_data` over v2: a `GetMonitorData` answer for one instance, asked for the window
    /// ending at `now` in a region `offset_secs` east of UTC.
    pub fn metric_data_v2(
        region: &str,
        (namespace, metric, period, stat): (&str, &str, u64, &str),
        instance: &Instance,
        (now, offset_secs): (i64, i32),
        body: &[u8],
    ) -> Result<Snapshot, PollError> {
        let answer: V2MonitorData = payload(TencentApi::V2, body)?;
        let (start, _) = window::window(now, period);
        let readings: Vec<Reading> = window::v2_newest(&answer, start, period, offset_secs)
            .map(|(timestamp, value)| Reading {
                namespace: namespace.into(),
                metric: metric.into(),
                stat: stat.into(),
                dimensions: instance.clone(),
                timestamp,
                value,
            })
            .into_iter()
            .collect();
        Ok(translate::metric_data(region, &readings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_golden;
    use crate::upstream::decode_json;

    fn testdata(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/tencent/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn plan(namespace: &str, metric: &str, period: u64, stat: &str) -> Plan {
        Plan {
            namespace: namespace.into(),
            metric: metric.into(),
            period,
            stat: stat.into(),
        }
    }

    #[test]
    fn golden_v3_payload() {
        let answer: model::V3Envelope<V3MonitorData> =
            decode_json(&testdata("v3_get_monitor_data.json")).unwrap();
        let chunk: Vec<Instance> = [
            "ins-1a2b3c4d",
            "ins-5e6f7a8b",
            "ins-9c0d1e2f",
            "ins-deleted1",
            "ins-notreturned",
        ]
        .iter()
        .map(|id| vec![("InstanceId".to_string(), id.to_string())])
        .collect();
        let readings = match_points(
            &plan("QCE/CVM", "CPUUsage", 60, "avg"),
            &chunk,
            &answer.response,
        );
        let snap = translate::metric_data("ap-guangzhou", &readings);
        assert_golden(
            "tests/fixtures/tencent/golden/payload_v3.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn golden_v2_payloads() {
        let gz = window::region_offset_secs("gz");
        let dims = vec![("unInstanceId".to_string(), "ins-09dx96dg".to_string())];
        let mut readings = Vec::new();
        for (file, metric, period) in [
            ("v2_get_monitor_data.json", "cpu_usage", 60),
            ("v2_get_metric_statistics_short.json", "mem_usage", 300),
        ] {
            let data: V2MonitorData = decode_json(&testdata(file)).unwrap();
            let (timestamp, value) = window::v2_newest(&data, 0, period, gz).unwrap();
            readings.push(Reading {
                namespace: "qce/cvm".into(),
                metric: metric.into(),
                stat: "avg".into(),
                dimensions: dims.clone(),
                timestamp,
                value,
            });
        }
        let snap = translate::metric_data("gz", &readings);
        assert_golden(
            "tests/fixtures/tencent/golden/payload_v2.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn golden_catalog_payloads() {
        let v3: model::V3Envelope<V3BaseMetrics> =
            decode_json(&testdata("v3_describe_base_metrics.json")).unwrap();
        let v2: V2Metrics = decode_json(&testdata("v2_describe_metrics.json")).unwrap();
        let mut entries = catalog_from_v3("QCE/CVM", v3.response);
        let v2_entries = catalog_from_v2("qce/cvm", v2);
        let stat = |e: &CatalogEntry, p: u64| e.stats.get(&p).map(|s| pick_stat(s));
        assert_eq!(stat(&entries[0], 60).as_deref(), Some("avg"));
        assert_eq!(stat(&entries[0], 10).as_deref(), Some("max"));
        assert_eq!(stat(&entries[1], 60).as_deref(), Some("max"));
        assert_eq!(stat(&entries[2], 60), None);
        assert_eq!(stat(&v2_entries[0], 60).as_deref(), Some("max"));
        assert_eq!(stat(&v2_entries[0], 300).as_deref(), Some("avg"));
        assert_eq!(stat(&v2_entries[1], 300), None);
        entries.extend(v2_entries);
        assert_golden(
            "tests/fixtures/tencent/golden/payload_catalog.txt",
            &translate::catalog(&entries).to_golden_text(),
        );
    }

    #[test]
    fn statistic_choice() {
        let s = |l: &[&str]| pick_stat(&l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["max", "min", "avg"]), "avg");
        assert_eq!(s(&["MAX", "min"]), "max");
        assert_eq!(s(&["sum"]), "sum");
        assert_eq!(s(&[]), "avg");
    }

    #[test]
    fn points_match_by_dimension_set_in_any_order_and_case() {
        let plan = Plan {
            namespace: "QCE/LB_PUBLIC".into(),
            metric: "ClientConnum".into(),
            period: 60,
            stat: "avg".into(),
        };
        let inst = |vip: &str, port: &str| -> Instance {
            vec![
                ("loadBalancerPort".into(), port.into()),
                ("protocol".into(), "TCP".into()),
                ("vip".into(), vip.into()),
            ]
        };
        let chunk = vec![
            inst("1.1.1.1", "80"),
            inst("1.1.1.1", "443"),
            inst("2.2.2.2", "80"),
        ];
        let answer: model::V3Envelope<V3MonitorData> = decode_json(
            br#"{"Response": {"Period": 60, "DataPoints": [
              {"Dimensions": [{"Name": "VIP", "Value": "1.1.1.1"}, {"Name": "protocol", "Value": "tcp"}, {"Name": "loadBalancerPort", "Value": "443"}],
               "Timestamps": [100, 160], "Values": [5, 6]},
              {"Dimensions": [{"Name": "protocol", "Value": "TCP"}, {"Name": "loadBalancerPort", "Value": "80"}, {"Name": "vip", "Value": "1.1.1.1"}],
               "Timestamps": [100], "Values": [1]},
              {"Dimensions": [{"Name": "vip", "Value": "9.9.9.9"}, {"Name": "protocol", "Value": "TCP"}, {"Name": "loadBalancerPort", "Value": "80"}],
               "Timestamps": [100], "Values": [99]}
            ], "RequestId": "r"}}"#,
        )
        .unwrap();
        let readings = match_points(&plan, &chunk, &answer.response);
        assert_eq!(readings.len(), 2);
        assert_eq!(readings[0].dimensions, chunk[0]);
        assert_eq!((readings[0].timestamp, readings[0].value), (100.0, 1.0));
        assert_eq!(readings[1].dimensions, chunk[1]);
        assert_eq!((readings[1].timestamp, readings[1].value), (160.0, 6.0));
    }
}
