//! Tencent Cloud Monitor source: API 3.0 (`GetMonitorData`, `DescribeBaseMetrics`, signed with
//! TC3-HMAC-SHA256) and the legacy v2 API (`GetMonitorData`, `GetMetricStatistics`,
//! `DescribeMetrics`, signed with HmacSHA1/HmacSHA256), batched and rate-limited because every
//! call counts towards the account's monthly bill.

pub mod client;
pub mod config;
pub mod discovery;
pub mod keep;
pub mod model;
pub mod products;
pub mod sign;
pub mod timing;
pub mod translate;
pub mod window;

pub use config::{
    FileConfig, Instance, MetricBlock, ReadApi, Settings, TencentApi, TencentMetrics,
};

use super::PollOutcome;
use super::{BuildContext, Endpoint, EndpointInfo, PollContext, Source};
use crate::base::{ErrorReason, PollError};
use crate::snapshot::Snapshot;
use client::{CallClock, Client};
use keep::{Asked, LastPoints, SeriesKey};
use model::V3Dimension;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use translate::{CatalogEntry, Reading};

/// The only namespace whose catalog v2 `DescribeMetrics` lists ("Currently, this parameter can
/// only be specified with "qce/cvm"").
pub const V2_CATALOG_NAMESPACE: &str = "qce/cvm";

/// `stale_after` of `metric_data` when the target does not schedule it (3 × the default 60 s).
const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(180);

/// Shortest time a stalled series keeps its last point after answers stopped carrying it. The
/// point has left the 3-period window by then, so it is at least 3 periods + 1 h old when
/// dropped: long enough for `TencentDatapointLagging` (lag > 3 periods + 10 min, for 15 min) to
/// fire with the default `stale_after`, which is only 3 × the poll interval.
const MIN_KEEP_STALLED: Duration = Duration::from_secs(3600);

/// Default API 3.0 endpoint.
pub const DEFAULT_URL_V3: &str = "https://monitor.tencentcloudapi.com";
/// Default v2 endpoint.
pub const DEFAULT_URL_V2: &str = "https://monitor.api.qcloud.com";

/// Parses a configured `utc_offset` (`+08:00`) into seconds east of UTC.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    window::parse_offset(text)
}

/// One metric of one block as a `metric_data` poll asks for it: with the period and the
/// statistic worked out from the config and the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Namespace as configured, e.g. `QCE/CVM`.
    pub namespace: String,
    /// Metric name as configured.
    pub metric: String,
    /// Period in seconds.
    pub period: u64,
    /// Statistic suffix, e.g. `avg`.
    pub stat: String,
    /// Ingestion delay in seconds: the window ends at `now − delay`.
    pub delay: u64,
}

/// A configured Tencent target.
pub struct Tencent {
    client: Client,
    /// The regions read (`region` alone: that one).
    regions: Vec<String>,
    /// Instance discovery: settings and the last listing (shared by the endpoints).
    discovery: discovery::Discovery,
    offset_secs: i32,
    read_api: ReadApi,
    batch_size: usize,
    blocks: Vec<MetricBlock>,
    /// Catalog per namespace (lower-case key), refreshed by `metric_catalog`, loaded on demand.
    catalog: tokio::sync::Mutex<HashMap<String, CatalogSlot>>,
    /// Instances per request per namespace (lower-case key) where a batch was refused.
    batches: std::sync::Mutex<HashMap<String, usize>>,
    /// How long `metric_data` keeps serving a series' last point after the answers stopped
    /// carrying it: the endpoint's `stale_after`, at least [`MIN_KEEP_STALLED`].
    keep_for: Duration,
    /// The last point of every series (keep-last), per region.
    last: std::sync::Mutex<HashMap<String, LastPoints>>,
}

/// What is known of a namespace's catalog.
#[derive(Debug, Clone)]
enum CatalogSlot {
    /// Read: the catalog.
    Offered(Arc<Vec<CatalogEntry>>),
    /// The upstream does not offer it (until `metric_catalog` reads it again).
    NotOffered,
    /// The last `failures` calls failed: `metric_data` does not ask before `retry_at`
    /// (poll time) and uses the catalog read before, if any.
    Failing {
        failures: u32,
        retry_at: SystemTime,
        kept: Option<Arc<Vec<CatalogEntry>>>,
    },
}

/// What reading a namespace's catalog came to, short of an error.
enum CatalogRead {
    /// The catalog.
    Offered(Arc<Vec<CatalogEntry>>),
    /// The upstream does not offer it; the text says why.
    NotOffered(String),
}

impl Source for Tencent {
    const KIND: &'static str = "tencent";
    type FileConfig = FileConfig;
    type Settings = Settings;

    /// Neither row has a `parse` fn: each poll reads one body per namespace (catalog) or per
    /// batch / instance (data), and each body needs its request's context (namespace, asked
    /// instances, window). The byte-level parsers the polls run on every body are in [`parse`].
    const ENDPOINTS: &'static [Endpoint<Tencent>] = &[
        EndpointInfo::every(
            "metric_data",
            60,
            "GetMonitorData (v3 batched, or v2 GetMonitorData / GetMetricStatistics): newest non-empty datapoint of every configured metric and instance",
        )
        .poll(|t: &Tencent, ctx| Box::pin(t.metric_data(ctx))),
        EndpointInfo::every(
            "metric_catalog",
            3600,
            "DescribeBaseMetrics (v3) / DescribeMetrics (v2): metrics, units and periods of the configured namespaces",
        )
        .poll(|t: &Tencent, ctx| Box::pin(t.metric_catalog(ctx))),
        EndpointInfo::every(
            "instance_discovery",
            600,
            "Describe APIs of the discovering blocks' products (cvm DescribeInstances, cdb DescribeDBInstances, …), paginated, per region: the instances metric_data reads, and qce_instance_info",
        )
        .poll(|t: &Tencent, ctx| Box::pin(t.instance_discovery(ctx))),
    ];

    fn validate(file: &FileConfig) -> Result<Settings, Vec<(String, String)>> {
        config::validate(file)
    }

    fn build(settings: &Settings, ctx: BuildContext) -> Tencent {
        Tencent {
            client: Client::new(ctx.upstream, settings),
            regions: settings.regions.clone(),
            discovery: discovery::Discovery::new(
                settings.discovery.clone(),
                settings.tag_labels.clone(),
                settings.regions.clone(),
            ),
            offset_secs: settings.utc_offset_secs,
            read_api: settings.read_api,
            batch_size: settings.batch_size,
            blocks: settings.metrics.clone(),
            catalog: tokio::sync::Mutex::new(HashMap::new()),
            batches: std::sync::Mutex::new(HashMap::new()),
            keep_for: ctx
                .endpoints
                .iter()
                .find(|e| e.name == "metric_data")
                .map_or(DEFAULT_STALE_AFTER, |e| e.stale_after)
                .max(MIN_KEEP_STALLED),
            last: std::sync::Mutex::new(HashMap::new()),
        }
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

impl Tencent {
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

    /// `metric_catalog`: the catalog of every configured namespace, each on its own: a
    /// namespace whose catalog the upstream does not offer is left out, one whose call fails
    /// keeps the catalog read before (if any) and is listed as failed, and neither costs
    /// another namespace its catalog. When none is offered the endpoint is unsupported (no
    /// failure: there is nothing to fix but the expectation); when every call failed, the poll
    /// fails.
    async fn metric_catalog(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let clock = CallClock::starting_at(ctx.now);
        let mut all = Vec::new();
        let mut worked = false;
        let mut not_offered = Vec::new();
        let mut failed: Vec<FailedUnit> = Vec::new();
        let namespaces = self.namespaces().len();
        for namespace in self.namespaces() {
            match self.fetch_catalog(&namespace, &clock, ctx.now).await {
                Ok(CatalogRead::Offered(entries)) => {
                    worked = true;
                    all.extend(entries.iter().cloned());
                }
                Ok(CatalogRead::NotOffered(why)) => {
                    tracing::debug!(target = self.client.target(), namespace, reason = %why, "metric catalog not offered");
                    not_offered.push(why);
                }
                Err(e) => {
                    if let Some(kept) = self.cached_catalog(&namespace).await {
                        worked = true;
                        all.extend(kept.iter().cloned());
                    }
                    failed.push((format!("catalog of {namespace}"), e));
                }
            }
        }
        if !worked && failed.is_empty() && !not_offered.is_empty() {
            return Ok(PollOutcome::Unsupported(not_offered.join("; ")));
        }
        settle(translate::catalog(&all), (namespaces, worked), failed)
    }

    /// Reads a namespace's catalog from the API and caches what came of it: the catalog, that
    /// it is not offered, or a failure (with a back-off before `metric_data` asks again, keeping
    /// the catalog read before). An answer classed `unsupported` (v2 code 6100, `InvalidAction`,
    /// `UnsupportedOperation*`, `FailedOperation.ErrNotOpen`) means the upstream does not offer
    /// it; v2 `DescribeMetrics` is not asked for namespaces other than `qce/cvm`, which it does
    /// not list.
    async fn fetch_catalog(
        &self,
        namespace: &str,
        clock: &CallClock,
        now: SystemTime,
    ) -> Result<CatalogRead, PollError> {
        let api = self.client.api();
        let read = |body: &[u8]| parse::catalog_entries(api, namespace, body);
        let action = parse::catalog_action(api);
        let answer = match api {
            TencentApi::V3 => {
                self.client
                    .v3(action, &json!({ "Namespace": namespace }), clock, read)
                    .await
            }
            TencentApi::V2 if !namespace.eq_ignore_ascii_case(V2_CATALOG_NAMESPACE) => {
                Err(PollError::new(
                    ErrorReason::Unsupported,
                    format!(
                        "{action}: {namespace}: API v2 lists the metrics of {V2_CATALOG_NAMESPACE} only; this namespace is read without a catalog (statistic avg, periods from the v2 reference)"
                    ),
                ))
            }
            TencentApi::V2 => {
                self.client
                    .v2(
                        action,
                        &[("namespace".to_string(), namespace.to_string())],
                        clock,
                        read,
                    )
                    .await
            }
        };
        let mut cache = self.catalog.lock().await;
        let key = namespace.to_ascii_lowercase();
        match answer {
            Ok(entries) => {
                let entries = Arc::new(entries);
                cache.insert(key, CatalogSlot::Offered(entries.clone()));
                Ok(CatalogRead::Offered(entries))
            }
            Err(e) if e.reason == ErrorReason::Unsupported => {
                cache.insert(key, CatalogSlot::NotOffered);
                Ok(CatalogRead::NotOffered(e.message))
            }
            // Auth and rate limits concern the whole target: the scheduler backs off from the
            // failed poll, and the catalog is asked again with the next one.
            Err(e) if matches!(e.reason, ErrorReason::Auth | ErrorReason::RateLimited) => {
                Err(e.context(format!("{namespace} catalog")))
            }
            Err(e) => {
                let (failures, kept) = match cache.get(&key) {
                    Some(CatalogSlot::Offered(kept)) => (1, Some(kept.clone())),
                    Some(CatalogSlot::Failing { failures, kept, .. }) => {
                        (failures.saturating_add(1), kept.clone())
                    }
                    _ => (1, None),
                };
                let retry_at = now + timing::catalog_backoff(failures);
                cache.insert(
                    key,
                    CatalogSlot::Failing {
                        failures,
                        retry_at,
                        kept,
                    },
                );
                Err(e.context(format!("{namespace} catalog")))
            }
        }
    }

    /// The catalog cached for a namespace, if one was read (also while its calls fail).
    async fn cached_catalog(&self, namespace: &str) -> Option<Arc<Vec<CatalogEntry>>> {
        match self
            .catalog
            .lock()
            .await
            .get(&namespace.to_ascii_lowercase())
        {
            Some(CatalogSlot::Offered(c)) => Some(c.clone()),
            Some(CatalogSlot::Failing { kept, .. }) => kept.clone(),
            _ => None,
        }
    }

    /// The catalog of a namespace for `metric_data`: the cached one; read once if missing, or
    /// again once the back-off after a failure has passed. `None`: not offered, or not readable
    /// (data is then read without the catalog's help). Only auth and rate-limit failures stop
    /// the data poll: every other call of the target would meet them too.
    async fn catalog_for(
        &self,
        namespace: &str,
        clock: &CallClock,
        now: SystemTime,
    ) -> Result<Option<Arc<Vec<CatalogEntry>>>, PollError> {
        let slot = self
            .catalog
            .lock()
            .await
            .get(&namespace.to_ascii_lowercase())
            .cloned();
        match slot {
            Some(CatalogSlot::Offered(c)) => return Ok(Some(c)),
            Some(CatalogSlot::NotOffered) => return Ok(None),
            Some(CatalogSlot::Failing { retry_at, kept, .. }) if now < retry_at => return Ok(kept),
            _ => {}
        }
        match self.fetch_catalog(namespace, clock, now).await {
            Ok(CatalogRead::Offered(c)) => Ok(Some(c)),
            Ok(CatalogRead::NotOffered(_)) => Ok(None),
            Err(e) if matches!(e.reason, ErrorReason::Auth | ErrorReason::RateLimited) => Err(e),
            Err(e) => {
                tracing::debug!(target = self.client.target(), namespace, error = %e, "metric catalog unavailable; reading without it until the back-off has passed");
                Ok(self.cached_catalog(namespace).await)
            }
        }
    }

    /// Works out period, statistic and delay of every configured metric. A metric none of
    /// whose supported periods is long enough is a failed unit; the others are read.
    async fn plans(
        &self,
        clock: &CallClock,
        now: SystemTime,
    ) -> Result<(Vec<(usize, Plan)>, Vec<FailedUnit>), PollError> {
        let mut plans = Vec::new();
        let mut failed = Vec::new();
        let api = self.client.api();
        for (index, block) in self.blocks.iter().enumerate() {
            let catalog = self.catalog_for(&block.namespace, clock, now).await?;
            let wanted = block
                .period
                .map_or(timing::default_period(self.read_api), |p| p.as_secs());
            let delay = block
                .delay
                .map_or(timing::default_delay(&block.namespace), |d| d.as_secs());
            for name in &block.names {
                let entry = catalog.as_ref().and_then(|c| {
                    c.iter()
                        .find(|e| e.metric.eq_ignore_ascii_case(name))
                        .cloned()
                });
                let supported = match &entry {
                    // GetMetricStatistics reads 300 s whatever the catalog lists.
                    Some(e)
                        if !e.periods.is_empty() && self.read_api == ReadApi::GetMonitorData =>
                    {
                        timing::Supported::Listed(e.periods.clone(), parse::catalog_action(api))
                    }
                    _ => timing::documented_periods(api, self.read_api, &block.namespace),
                };
                let period = match timing::pick_period(wanted, &supported) {
                    Ok(period) => period,
                    Err(why) => {
                        failed.push((
                            format!("metrics[{index}] {} {name}", block.namespace),
                            PollError::new(
                                ErrorReason::Unsupported,
                                format!(
                                    "metrics[{index}]: {} {name} {why}; change metrics[{index}].period",
                                    block.namespace
                                ),
                            ),
                        ));
                        continue;
                    }
                };
                if period != wanted {
                    tracing::debug!(target = self.client.target(), namespace = %block.namespace, metric = %name, wanted, period, "reading the smallest supported period at least the configured one");
                }
                let stat = if self.read_api == ReadApi::GetMetricStatistics {
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
                        delay,
                    },
                ));
            }
        }
        Ok((plans, failed))
    }

    /// Instances per request for a namespace: v2 one; v3 `batch_size`, or less where the
    /// namespace refused a batch before.
    fn batch_for(&self, namespace: &str) -> usize {
        match self.client.api() {
            TencentApi::V2 => 1,
            TencentApi::V3 => self
                .batches
                .lock()
                .expect("batch lock")
                .get(&namespace.to_ascii_lowercase())
                .map_or(self.batch_size, |b| (*b).min(self.batch_size)),
        }
    }

    /// Remembers that `namespace` takes at most `batch` instances per request.
    fn learn_batch(&self, namespace: &str, batch: usize) {
        let mut batches = self.batches.lock().expect("batch lock");
        let slot = batches
            .entry(namespace.to_ascii_lowercase())
            .or_insert(batch);
        *slot = (*slot).min(batch);
    }

    /// `metric_data`: the newest point of every configured series, with keep-last ([`keep`]):
    /// a series the answers stop carrying keeps its last point (and its time) until
    /// `stale_after`; a series with no memory yet is read with a longer window.
    ///
    /// Failures are per unit (a metric's period, one request: metric × batch × namespace):
    /// what worked is served, what failed is listed (see [`settle`]).
    async fn metric_data(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let clock = CallClock::starting_at(ctx.now);
        let inventory = if self.discovery.is_used() {
            Some(self.discovery.current(&self.client, &clock).await?)
        } else {
            None
        };
        let mut families = Vec::new();
        let (mut units, mut worked, mut failed) = (0, false, Vec::new());
        for region in &self.regions {
            let blocks = self
                .discovery
                .blocks_in(region, &self.blocks, inventory.as_deref());
            let read = self.metric_data_in(ctx, region, &blocks).await?;
            families.extend(read.data.families);
            units += read.units;
            worked |= read.worked;
            // With several regions a failed unit names its region.
            failed.extend(read.failed.into_iter().map(|(unit, e)| {
                if self.regions.len() > 1 {
                    (format!("{region} {unit}"), e)
                } else {
                    (unit, e)
                }
            }));
        }
        settle(
            crate::snapshot::Snapshot::from_families(families),
            (units, worked),
            failed,
        )
    }

    /// `instance_discovery`: lists the discovering blocks' products in every region (the
    /// instances `metric_data` reads from now on) and exports `qce_instance_info`.
    async fn instance_discovery(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        if !self.discovery.is_used() {
            return Ok(PollOutcome::Skipped(
                "no metrics block discovers instances (instances: all or filters)".into(),
            ));
        }
        let clock = CallClock::starting_at(ctx.now);
        let listing = self.discovery.refresh(&self.client, &clock).await;
        let units = (listing.units, listing.worked());
        settle(
            self.discovery.info(&listing.inventory),
            units,
            listing.failed,
        )
    }

    /// `metric_data` in one region over `blocks` (the configured ones with the discovered
    /// instances of that region).
    async fn metric_data_in(
        &self,
        ctx: &PollContext,
        region: &str,
        blocks: &[MetricBlock],
    ) -> Result<RegionRead, PollError> {
        let now = ctx
            .now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs() as i64;
        let clock = CallClock::starting_at(ctx.now);
        let (plans, mut failed) = self.plans(&clock, ctx.now).await?;
        let batches: Vec<usize> = plans
            .iter()
            .map(|(_, p)| self.batch_for(&p.namespace))
            .collect();
        let (requests, mut asked) = {
            let mut last = self.last.lock().expect("keep-last lock");
            let last = last.entry(region.to_string()).or_default();
            requests(&plans, blocks, &batches, last, now)
        };
        let jobs = requests.iter().map(|request| {
            let (index, plan) = &plans[request.position];
            let instances = &blocks[*index].instances;
            let read = ReadRequest {
                region,
                plan,
                window: request.window,
                clock: &clock,
            };
            async move {
                let answers = match self.client.api() {
                    TencentApi::V3 => {
                        self.read_v3_adaptive(&read, instances, request.instances.clone())
                            .await
                    }
                    TencentApi::V2 => {
                        let range = request.instances.clone();
                        vec![(
                            range.clone(),
                            self.read_v2(&read, &instances[range.start]).await,
                        )]
                    }
                };
                (request, answers)
            }
        });
        let results = futures::future::join_all(jobs).await;
        let mut answered: HashMap<SeriesKey, (f64, f64)> = HashMap::new();
        let mut worked = false;
        // Units tried: the metrics refused at planning, and every request answered last.
        let mut units = failed.len();
        for (request, answers) in results {
            units += answers.len();
            let (index, plan) = &plans[request.position];
            let instances = &blocks[*index].instances;
            for (range, answer) in answers {
                match answer {
                    Ok(readings) => {
                        worked = true;
                        for r in readings {
                            let point = (r.timestamp, r.value);
                            answered
                                .entry(SeriesKey::of(plan, &r.dimensions))
                                .and_modify(|p| {
                                    if point.0 > p.0 {
                                        *p = point;
                                    }
                                })
                                .or_insert(point);
                        }
                    }
                    Err(e) => {
                        for i in range.clone() {
                            if let Some(a) = asked.get_mut(request.asked_from + i) {
                                a.failed = true;
                            }
                        }
                        failed.push((unit_name(*index, plan, instances, &range), e));
                    }
                }
            }
        }
        let readings = {
            let mut last = self.last.lock().expect("keep-last lock");
            let last = last.entry(region.to_string()).or_default();
            last.update(ctx.now, self.keep_for, &asked, &answered)
        };
        let periods: Vec<(String, String, u64)> = plans
            .iter()
            .map(|(_, p)| (p.namespace.clone(), p.metric.clone(), p.period))
            .collect();
        let data = translate::metric_data_with_periods(region, &readings, &periods);
        Ok(RegionRead {
            data,
            units,
            worked,
            failed,
        })
    }

    /// v3 reads of `range` of a block's instances: one `GetMonitorData`, split into smaller
    /// batches while the namespace refuses the batch's size ([`timing::is_batch_refusal`]);
    /// the smaller size is remembered for the namespace. One result per request sent last.
    async fn read_v3_adaptive(
        &self,
        read: &ReadRequest<'_>,
        instances: &[Instance],
        range: Range<usize>,
    ) -> Vec<(Range<usize>, Result<Vec<Reading>, PollError>)> {
        let mut queue = vec![range];
        let mut out = Vec::new();
        while let Some(range) = queue.pop() {
            let answer = self.read_v3(read, &instances[range.clone()]).await;
            match answer {
                Err(e) if range.len() > 1 && timing::is_batch_refusal(&e) => {
                    let smaller = timing::smaller_batch(range.len());
                    tracing::info!(target = self.client.target(), namespace = %read.plan.namespace, refused = range.len(), batch = smaller, error = %e, "batch refused; halving it for this namespace");
                    self.learn_batch(&read.plan.namespace, smaller);
                    let parts: Vec<Range<usize>> = range
                        .clone()
                        .step_by(smaller)
                        .map(|start| start..(start + smaller).min(range.end))
                        .collect();
                    // Popped from the end: push in reverse to read them in order.
                    queue.extend(parts.into_iter().rev());
                }
                answer => out.push((range, answer)),
            }
        }
        out
    }

    /// One v3 `GetMonitorData` call for a batch of instances.
    async fn read_v3(
        &self,
        read: &ReadRequest<'_>,
        chunk: &[Instance],
    ) -> Result<Vec<Reading>, PollError> {
        let plan = read.plan;
        let (start, end) = read.window;
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
        let service = client::V3Service {
            name: client::V3_SERVICE,
            version: client::V3_VERSION,
        };
        self.client
            .v3_at(
                service,
                read.region,
                "GetMonitorData",
                &body,
                read.clock,
                |body| parse::readings_v3(plan, chunk, body),
            )
            .await
            .map_err(|e| e.context(format!("{} {}", plan.namespace, plan.metric)))
    }

    /// One v2 read of one instance (GetMonitorData, or GetMetricStatistics per calendar day).
    async fn read_v2(
        &self,
        read: &ReadRequest<'_>,
        instance: &Instance,
    ) -> Result<Vec<Reading>, PollError> {
        let plan = read.plan;
        let (start, end) = read.window;
        let parts = match self.read_api {
            ReadApi::GetMonitorData => vec![(start, end)],
            ReadApi::GetMetricStatistics => window::same_day_parts(start, end, self.offset_secs),
        };
        let action = self.read_api.action();
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
            let reading = self
                .client
                .v2(action, &params, read.clock, |body| {
                    parse::reading_v2(
                        self.read_api,
                        plan,
                        instance,
                        (part_start, self.offset_secs),
                        body,
                    )
                })
                .await
                .map_err(|e| e.context(format!("{} {}", plan.namespace, plan.metric)))?;
            if let Some(reading) = reading {
                return Ok(vec![reading]);
            }
        }
        Ok(Vec::new())
    }
}

/// One request of a `metric_data` poll: which plan, which of its block's instances (a v3 batch
/// or one v2 instance), the window, and where the plan's series start in the asked list.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    position: usize,
    instances: Range<usize>,
    window: (i64, i64),
    asked_from: usize,
}

/// One failed unit of a poll: what it was (metric × batch × namespace, or a catalog) and why.
/// The list of them is what the core's partial outcome takes.
pub type FailedUnit = (String, PollError);

/// The name of the unit a request of `plan` for `range` of block `index`'s instances is.
fn unit_name(index: usize, plan: &Plan, instances: &[Instance], range: &Range<usize>) -> String {
    let what = if range.len() == 1 {
        let dims: Vec<String> = instances[range.start]
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("instance {}", dims.join(","))
    } else {
        format!(
            "instances {}-{} of {}",
            range.start + 1,
            range.end,
            instances.len()
        )
    };
    format!(
        "metrics[{index}] {} {} {}s, {what}",
        plan.namespace, plan.metric, plan.period
    )
}

/// What a poll of `units` units comes to: `data` when nothing failed; a partial outcome (what
/// worked, and the failed units) when something worked; the most telling error (auth first)
/// when nothing worked.
fn settle(
    data: Snapshot,
    (units, worked): (usize, bool),
    failed: Vec<FailedUnit>,
) -> Result<PollOutcome, PollError> {
    if failed.is_empty() {
        return Ok(PollOutcome::Data(data));
    }
    if !worked {
        let count = failed.len();
        let (unit, error) = failed
            .into_iter()
            .reduce(|best, next| {
                if best.1.reason != ErrorReason::Auth && next.1.reason == ErrorReason::Auth {
                    next
                } else {
                    best
                }
            })
            .expect("not empty");
        return Err(if count == 1 {
            error
        } else {
            error.context(format!("{unit} (and {} more failing)", count - 1))
        });
    }
    // Logged and counted by the scheduler, once per change of the endpoint's state.
    Ok(PollOutcome::partial(
        data,
        units,
        failed
            .into_iter()
            .map(|(unit, error)| crate::base::FailedUnit::new(unit, error))
            .collect(),
    ))
}

/// The requests of a `metric_data` poll at `now` over `plans` (position in `plans` → block
/// index and plan), `batches[position]` instances at a time, and every series they ask for. A
/// plan's window ends at `now − delay`. A request asking for a series `last` does not know yet
/// reaches back ([`window::read_window`]); the others read three periods, so the look-back
/// costs only where it is needed.
fn requests(
    plans: &[(usize, Plan)],
    blocks: &[MetricBlock],
    batches: &[usize],
    last: &LastPoints,
    now: i64,
) -> (Vec<Request>, Vec<Asked>) {
    let mut requests = Vec::new();
    let mut asked = Vec::new();
    for (position, (index, plan)) in plans.iter().enumerate() {
        let batch = batches.get(position).copied().unwrap_or(1).max(1);
        let instances = &blocks[*index].instances;
        let at = window::delayed(now, plan.delay);
        let (window_start, _) = window::window(at, plan.period);
        let keys: Vec<SeriesKey> = instances.iter().map(|i| SeriesKey::of(plan, i)).collect();
        let asked_from = asked.len();
        for (n, chunk) in keys.chunks(batch).enumerate() {
            let first = n * batch;
            let look_back = chunk.iter().any(|k| !last.knows(k));
            requests.push(Request {
                position,
                instances: first..first + chunk.len(),
                window: window::read_window(at, plan.period, chunk.len(), look_back),
                asked_from,
            });
        }
        asked.extend(keys.into_iter().map(|key| Asked {
            key,
            window_start,
            failed: false,
        }));
    }
    (requests, asked)
}

/// What `metric_data` read in one region: the data, the units tried, whether any worked, and
/// the failed ones.
struct RegionRead {
    data: crate::snapshot::Snapshot,
    units: usize,
    worked: bool,
    failed: Vec<FailedUnit>,
}

/// One read of one plan: its window (3 periods, or the look-back) and the request clock.
struct ReadRequest<'a> {
    region: &'a str,
    plan: &'a Plan,
    window: (i64, i64),
    clock: &'a CallClock,
}

/// The namespace an entry names, else the one asked for.
fn entry_namespace(given: Option<String>, asked: &str) -> String {
    given
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| asked.to_string())
}

/// Catalog entries from a v3 `DescribeBaseMetrics` answer.
fn catalog_from_v3(namespace: &str, answer: model::V3BaseMetrics) -> Vec<CatalogEntry> {
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
                namespace: entry_namespace(m.namespace, namespace),
                metric: m.metric_name.unwrap_or_default(),
                unit: m.unit.unwrap_or_default(),
                periods,
                stats,
            }
        })
        .collect()
}

/// Catalog entries from a v2 `DescribeMetrics` answer.
fn catalog_from_v2(namespace: &str, answer: model::V2Metrics) -> Vec<CatalogEntry> {
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
                unit: m.unit(),
                namespace: entry_namespace(m.namespace, namespace),
                metric: m.metric_name.unwrap_or_default(),
                periods: m.period,
                stats,
            }
        })
        .collect()
}

/// Matches the answer's points to the requested instances: a point belongs to the instance
/// whose requested dimensions it all carries (names and values in any order and case); extra
/// dimensions the answer echoes are ignored. Where several requested instances fit one point,
/// the most specific (most dimensions) wins. Keeps the newest non-empty point of each.
fn match_points(plan: &Plan, chunk: &[Instance], answer: &model::V3MonitorData) -> Vec<Reading> {
    let keys: Vec<Vec<(String, String)>> = chunk
        .iter()
        .map(|dims| dimension_key(dims.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .collect();
    let mut newest: Vec<Option<(f64, f64)>> = vec![None; chunk.len()];
    for point in &answer.data_points {
        let key = dimension_key(point.dimensions.iter().map(|V3Dimension { name, value }| {
            (
                name.as_deref().unwrap_or_default(),
                value.as_deref().unwrap_or_default(),
            )
        }));
        let Some(index) = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.iter().all(|pair| key.binary_search(pair).is_ok()))
            .max_by_key(|(i, k)| (k.len(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
        else {
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

/// Byte-level parsers of the answers, without HTTP: what the polls run on every body they
/// receive (through the client, after its HTTP status checks), and what the property tests and
/// fuzz targets drive. Each reads the envelope and the vendor's error answers
/// ([`payload`]), decodes the model and, for the `metric_*` functions, translates.
pub mod parse {
    use super::client::{classify_v2, classify_v3};
    use super::model::{self, V2Metrics, V2MonitorData, V2Status, V3BaseMetrics, V3Envelope};
    use super::model::{V3ErrorPart, V3MonitorData};
    use super::{catalog_from_v2, catalog_from_v3, match_points, translate, window};
    use super::{CatalogEntry, Instance, Plan, ReadApi, Reading, TencentApi};
    use crate::base::PollError;
    use crate::snapshot::Snapshot;
    use serde::de::DeserializeOwned;

    /// The action that reads a namespace's catalog.
    pub fn catalog_action(api: TencentApi) -> &'static str {
        match api {
            TencentApi::V3 => "DescribeBaseMetrics",
            TencentApi::V2 => "DescribeMetrics",
        }
    }

    /// The payload of an answer to `action`. A vendor error answer (API 3.0 `Error`, v2
    /// non-zero `code`) is mapped onto the error taxonomy ([`classify_v3`], [`classify_v2`]);
    /// a decode error names the action and the JSON path.
    pub fn payload<T: DeserializeOwned>(
        api: TencentApi,
        action: &str,
        body: &[u8],
    ) -> Result<T, PollError> {
        let in_action = |e: PollError| e.context(action);
        let tree = model::tree(body).map_err(in_action)?;
        match api {
            TencentApi::V3 => {
                let part: V3Envelope<V3ErrorPart> = model::from_tree(&tree).map_err(in_action)?;
                if let Some(error) = part.response.error {
                    let request_id = part.response.request_id.unwrap_or_default();
                    return Err(classify_v3(action, &error, &request_id));
                }
                model::from_tree::<V3Envelope<T>, _>(tree)
                    .map(|envelope| envelope.response)
                    .map_err(in_action)
            }
            TencentApi::V2 => {
                let status: V2Status = model::from_tree(&tree).map_err(in_action)?;
                let code = status.code.unwrap_or(0.0) as i64;
                if code != 0 {
                    let message = status.message.unwrap_or_default();
                    return Err(classify_v2(action, code, &message));
                }
                model::from_tree(tree).map_err(in_action)
            }
        }
    }

    /// The catalog entries of a `DescribeBaseMetrics` (v3) or `DescribeMetrics` (v2) answer
    /// for `namespace` (what `metric_catalog` caches and `metric_data` plans with).
    pub fn catalog_entries(
        api: TencentApi,
        namespace: &str,
        body: &[u8],
    ) -> Result<Vec<CatalogEntry>, PollError> {
        let action = catalog_action(api);
        Ok(match api {
            TencentApi::V3 => {
                catalog_from_v3(namespace, payload::<V3BaseMetrics>(api, action, body)?)
            }
            TencentApi::V2 => catalog_from_v2(namespace, payload::<V2Metrics>(api, action, body)?),
        })
    }

    /// `metric_catalog` of one namespace.
    pub fn metric_catalog(
        api: TencentApi,
        namespace: &str,
        body: &[u8],
    ) -> Result<Snapshot, PollError> {
        Ok(translate::catalog(&catalog_entries(api, namespace, body)?))
    }

    /// The readings of a v3 `GetMonitorData` answer for `plan` and the asked `instances`.
    pub fn readings_v3(
        plan: &Plan,
        instances: &[Instance],
        body: &[u8],
    ) -> Result<Vec<Reading>, PollError> {
        let answer: V3MonitorData = payload(TencentApi::V3, "GetMonitorData", body)?;
        Ok(match_points(plan, instances, &answer))
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
            delay: 0,
        };
        Ok(translate::metric_data(
            region,
            &readings_v3(&plan, instances, body)?,
        ))
    }

    /// The reading of a v2 `read_api` answer for `plan` and one instance, asked for the window
    /// starting at `requested_start` in a region `offset_secs` east of UTC.
    pub fn reading_v2(
        read_api: ReadApi,
        plan: &Plan,
        instance: &Instance,
        (requested_start, offset_secs): (i64, i32),
        body: &[u8],
    ) -> Result<Option<Reading>, PollError> {
        let answer: V2MonitorData = payload(TencentApi::V2, read_api.action(), body)?;
        Ok(
            window::v2_newest(&answer, requested_start, plan.period, offset_secs).map(
                |(timestamp, value)| Reading {
                    namespace: plan.namespace.clone(),
                    metric: plan.metric.clone(),
                    stat: plan.stat.clone(),
                    dimensions: instance.clone(),
                    timestamp,
                    value,
                },
            ),
        )
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
        let plan = Plan {
            namespace: namespace.into(),
            metric: metric.into(),
            period,
            stat: stat.into(),
            delay: 0,
        };
        let (start, _) = window::window(now, period);
        let reading = reading_v2(
            ReadApi::GetMonitorData,
            &plan,
            instance,
            (start, offset_secs),
            body,
        )?;
        Ok(translate::metric_data(
            region,
            &reading.into_iter().collect::<Vec<_>>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_golden;
    use model::{decode as decode_json, V2Metrics, V2MonitorData, V3BaseMetrics, V3MonitorData};

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
            delay: 0,
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
        let gz = window::BEIJING_OFFSET_SECS;
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
            delay: 0,
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

    #[test]
    fn points_match_on_the_requested_dimensions_and_ignore_echoed_extras() {
        let plan = plan("QCE/CDN", "Bandwidth", 60, "avg");
        let domain = |d: &str| -> Instance {
            vec![
                ("domain".into(), d.into()),
                ("projectId".into(), "0".into()),
            ]
        };
        // `b.example` is asked twice: with and without its project; the most specific wins.
        let chunk = vec![
            domain("a.example"),
            domain("b.example"),
            vec![("domain".into(), "b.example".into())],
        ];
        let answer: model::V3Envelope<V3MonitorData> = decode_json(
            br#"{"Response": {"Period": 60, "DataPoints": [
              {"Dimensions": [{"Name": "domain", "Value": "a.example"}, {"Name": "projectId", "Value": "0"}, {"Name": "area", "Value": "mainland"}],
               "Timestamps": [100], "Values": [1]},
              {"Dimensions": [{"Name": "PROJECTID", "Value": "0"}, {"Name": "domain", "Value": "B.example"}],
               "Timestamps": [100], "Values": [2]},
              {"Dimensions": [{"Name": "domain", "Value": "c.example"}, {"Name": "projectId", "Value": "0"}],
               "Timestamps": [100], "Values": [3]},
              {"Dimensions": [{"Name": "domain", "Value": "a.example"}],
               "Timestamps": [160], "Values": [4]}
            ], "RequestId": "r"}}"#,
        )
        .unwrap();
        let readings = match_points(&plan, &chunk, &answer.response);
        let got: Vec<(Instance, f64, f64)> = readings
            .into_iter()
            .map(|r| (r.dimensions, r.timestamp, r.value))
            .collect();
        // The extra `area` is ignored; a point lacking a requested dimension (`projectId`)
        // is not the instance's; `c.example` was not asked for.
        assert_eq!(
            got,
            vec![
                (chunk[0].clone(), 100.0, 1.0),
                (chunk[1].clone(), 100.0, 2.0)
            ]
        );
    }

    #[test]
    fn a_poll_serves_what_worked_and_fails_only_when_nothing_did() {
        let data = || translate::metric_data("gz", &[]);
        let unit = |name: &str, reason| {
            (
                name.to_string(),
                PollError::new(reason, format!("{name} broke")),
            )
        };
        assert!(matches!(
            settle(data(), (1, true), vec![]),
            Ok(PollOutcome::Data(_))
        ));
        // Some units failed, some worked: the data is served with the failed units.
        let failed = vec![unit("metrics[0] QCE/CVM Nope", ErrorReason::UpstreamError)];
        match settle(data(), (2, true), failed) {
            Ok(PollOutcome::Partial { failed, units, .. }) => {
                assert_eq!(units, 2);
                assert_eq!(failed[0].unit, "metrics[0] QCE/CVM Nope");
                assert_eq!(failed[0].error.reason, ErrorReason::UpstreamError);
            }
            other => panic!("{other:?}"),
        }
        // Nothing worked: the auth error is reported, naming how many more failed.
        let failed = vec![
            unit("a", ErrorReason::UpstreamError),
            unit("b", ErrorReason::Auth),
            unit("c", ErrorReason::Unsupported),
        ];
        let e = settle(data(), (3, false), failed).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth);
        assert_eq!(e.message, "b (and 2 more failing): b broke");
        let e = settle(
            data(),
            (1, false),
            vec![unit("a", ErrorReason::Unsupported)],
        )
        .unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            (ErrorReason::Unsupported, "a broke")
        );
    }

    #[test]
    fn a_delayed_product_reads_a_window_ending_delay_earlier() {
        let now = 1_700_000_000;
        let mut cdn = plan("QCE/CDN", "Bandwidth", 60, "avg");
        cdn.delay = 360;
        let cvm = plan("QCE/CVM", "CPUUsage", 60, "avg");
        let block = |ns: &str| MetricBlock {
            namespace: ns.into(),
            names: vec!["x".into()],
            period: None,
            delay: None,
            instances: vec![vec![("k".to_string(), "v".to_string())]; 3],
        };
        let plans = vec![(0, cdn), (1, cvm)];
        let blocks = vec![block("QCE/CDN"), block("QCE/CVM")];
        let (reqs, asked) = requests(&plans, &blocks, &[2, 50], &LastPoints::new(), now);
        let windows: Vec<(i64, i64)> = reqs.iter().map(|r| r.window).collect();
        let cdn_end = window::window(now - 360, 60).1;
        let cvm_end = window::window(now, 60).1;
        assert_eq!(
            windows.iter().map(|w| w.1).collect::<Vec<_>>(),
            [cdn_end, cdn_end, cvm_end]
        );
        assert_eq!(
            reqs.iter()
                .map(|r| (r.instances.clone(), r.asked_from))
                .collect::<Vec<_>>(),
            [(0..2, 0), (2..3, 0), (0..3, 3)]
        );
        assert_eq!(asked[0].window_start, cdn_end - 120);
        assert_eq!(asked[3].window_start, cvm_end - 120);
    }

    #[test]
    fn only_requests_asking_for_a_series_without_memory_look_back() {
        let now = 1_700_000_000;
        let ids = |n: usize| -> Vec<Instance> {
            (0..n)
                .map(|i| vec![("InstanceId".to_string(), format!("ins-{i}"))])
                .collect()
        };
        let block = |instances| MetricBlock {
            namespace: "QCE/CVM".into(),
            names: vec!["CPUUsage".into()],
            period: Some(Duration::from_secs(60)),
            delay: None,
            instances,
        };
        let cpu = plan("QCE/CVM", "CPUUsage", 60, "avg");
        let plans = vec![(0, cpu.clone())];
        let standard = window::window(now, 60);
        let mut last = LastPoints::new();
        // First poll: nothing remembered, every batch reaches back (50 per batch: 28 points).
        let blocks = vec![block(ids(120))];
        let (first, asked) = requests(&plans, &blocks, &[50], &last, now);
        assert_eq!(asked.len(), 120);
        let ranges: Vec<_> = first.iter().map(|r| r.instances.clone()).collect();
        assert_eq!(ranges, [0..50, 50..100, 100..120]);
        assert_eq!(first[0].window, window::read_window(now, 60, 50, true));
        assert_eq!(
            window::points_in(first[0].window.0, first[0].window.1, 60),
            28
        );
        // 20 instances: 1440 / 20 = 72 ≥ 60 points, the full hour.
        assert_eq!(
            window::points_in(first[2].window.0, first[2].window.1, 60),
            60
        );
        last.update(
            std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(now as u64),
            Duration::from_secs(180),
            &asked,
            &HashMap::new(),
        );
        // Next poll: all remembered, three periods everywhere.
        let (steady, _) = requests(&plans, &blocks, &[50], &last, now + 60);
        assert!(steady
            .iter()
            .all(|r| r.window == window::window(now + 60, 60)));
        // An instance added to the config: only its batch reaches back.
        let mut grown = ids(120);
        grown.insert(10, vec![("InstanceId".to_string(), "ins-new".to_string())]);
        let blocks = vec![block(grown)];
        let (after, asked) = requests(&plans, &blocks, &[50], &last, now);
        assert_eq!(asked.len(), 121);
        let look_back: Vec<bool> = after.iter().map(|r| r.window != standard).collect();
        assert_eq!(look_back, [true, false, false]);
        // v2 (one instance per request): only the new instance reaches back, an hour.
        let (v2, _) = requests(&plans, &blocks, &[1], &last, now);
        assert_eq!(v2.len(), 121);
        let wide: Vec<usize> = v2
            .iter()
            .filter(|r| r.window != standard)
            .map(|r| r.instances.start)
            .collect();
        assert_eq!(wide, [10]);
        assert_eq!(window::points_in(v2[10].window.0, v2[10].window.1, 60), 60);
        // Another statistic or period of the same metric is another series: it reaches back.
        let max = vec![(0, plan("QCE/CVM", "CPUUsage", 60, "max"))];
        let (other, _) = requests(&max, &[block(ids(120))], &[50], &last, now);
        assert!(other.iter().all(|r| r.window != standard));
    }

    #[test]
    fn the_table_is_the_only_place_an_endpoint_exists() {
        let names: Vec<_> = Tencent::ENDPOINTS.iter().map(|e| e.info.name).collect();
        assert_eq!(
            names,
            ["metric_data", "metric_catalog", "instance_discovery"]
        );
        // Every body needs its request's context: the parsers are in `parse`, not the rows.
        assert!(Tencent::ENDPOINTS.iter().all(|e| e.info.parse.is_none()));
        let intervals: Vec<_> = Tencent::ENDPOINTS
            .iter()
            .map(|e| e.info.default_interval)
            .collect();
        assert_eq!(
            intervals,
            [
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(3600)),
                Some(Duration::from_secs(600))
            ]
        );
    }

    #[test]
    fn parsers_map_vendor_errors_as_the_poll_does() {
        let e = parse::metric_data_v3(
            "gz",
            ("QCE/CVM", "CPUUsage", 60, "avg"),
            &[],
            br#"{"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}, "RequestId": "r-1"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth);
        assert!(
            e.message
                .starts_with("GetMonitorData: AuthFailure.SignatureFailure: bad (RequestId r-1); "),
            "{}",
            e.message
        );
        let e = parse::metric_catalog(
            TencentApi::V2,
            "qce/cvm",
            br#"{"code": 4400, "message": "slow down"}"#,
        )
        .unwrap_err();
        assert_eq!(e.reason, ErrorReason::RateLimited);
        assert!(
            e.message
                .starts_with("DescribeMetrics: code 4400: slow down; "),
            "{}",
            e.message
        );
        let e = parse::metric_catalog(TencentApi::V3, "QCE/CVM", b"{}").unwrap_err();
        assert_eq!(e.reason, ErrorReason::Decode);
        assert!(
            e.message.starts_with("DescribeBaseMetrics: invalid JSON"),
            "{}",
            e.message
        );
        let plan = plan("qce/cvm", "cpu_usage", 60, "avg");
        let instance = vec![("unInstanceId".to_string(), "ins-1".to_string())];
        let e = parse::reading_v2(
            ReadApi::GetMetricStatistics,
            &plan,
            &instance,
            (0, 0),
            br#"{"code": "x"}"#,
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("GetMetricStatistics: invalid JSON at code"),
            "{}",
            e.message
        );
        let reading = parse::reading_v2(
            ReadApi::GetMonitorData,
            &plan,
            &instance,
            (600, 0),
            br#"{"code": 0, "dataPoints": [1, 2, null]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((reading.timestamp, reading.value), (660.0, 2.0));
    }

    #[test]
    fn catalog_entries_fall_back_to_the_asked_namespace_and_either_unit_spelling() {
        let entries = parse::catalog_entries(
            TencentApi::V2,
            "qce/cvm",
            br#"{"code": 0, "metricSet": [{"namespace": "", "metricName": "a", "uint": "%", "period": "60,300"}]}"#,
        )
        .unwrap();
        assert_eq!(entries[0].namespace, "qce/cvm");
        assert_eq!(entries[0].unit, "%");
        assert_eq!(entries[0].periods, vec![60, 300]);
    }
}
