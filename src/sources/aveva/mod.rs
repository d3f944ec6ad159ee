//! AVEVA CONNECT data services (CDS, formerly OSIsoft Cloud Services): tenant and community
//! usage of the current billing cycle, resource usage and billing cycles, read with OAuth2
//! client credentials.
//!
//! The endpoints are independent: `tenant_usage` and `community_usage` need the current
//! billing cycle's start; they take it from the target's shared state, which `billing_cycles`
//! keeps fresh, and fetch the cycles themselves when it is unknown or over.

mod client;
pub mod config;
mod cycle;
pub mod highwater;
mod model;
mod translate;

pub use client::{CREDENTIALS_BACKOFF, TOKEN_PATH};
pub use config::{FileConfig, GroupBy, Settings};
pub use cycle::Cycle;
pub use translate::CommunitySource;

use super::{BuildContext, Endpoint, EndpointInfo, PollContext, PollOutcome, Source};
use crate::base::{ErrorReason, FailedUnit, PollError};
use crate::snapshot::Snapshot;
use crate::state::StateSlot;
use chrono::{DateTime, Utc};
use client::Client;
use futures::StreamExt;
use highwater::{HighWater, Update, MEASURE_NAMES};
use model::UsageRecords;
use std::time::Duration;
use translate::{for_tenant, CommunityUsage};

/// A cycle remembered from an earlier billing cycles request is reused at most this long
/// (and never once it is over).
const CYCLE_MAX_AGE: Duration = Duration::from_secs(3600);

/// Community requests in flight at once.
const COMMUNITY_CONCURRENCY: usize = 4;

/// One configured tenant.
pub struct Aveva {
    client: Client,
    tenant_id: String,
    community_ids: Vec<String>,
    group_by: GroupBy,
    /// The current cycle and when it was learned (shared by the endpoints; held while
    /// fetching so that endpoints starting together send one billing cycles request).
    cycle: tokio::sync::Mutex<Option<(Cycle, DateTime<Utc>)>>,
    /// What the tenant usage counters count (only the `tenant_usage` endpoint uses it, one poll
    /// at a time), and where it is saved.
    usage: std::sync::Mutex<HighWater>,
    usage_slot: StateSlot,
}

impl Source for Aveva {
    const KIND: &'static str = "aveva";
    type FileConfig = FileConfig;
    type Settings = Settings;

    const ENDPOINTS: &'static [Endpoint<Aveva>] = &[
        // One body, but its translation also needs the current billing cycle, which the target
        // holds and a `ParseFn` cannot be given: no parse fn here, `parse::tenant_usage` takes
        // the cycle.
        EndpointInfo::every(
            "tenant_usage",
            900,
            "GET /api/v1/tenants/{t}/usage: daily usage of the current billing cycle",
        )
        .poll(|t: &Aveva, ctx| Box::pin(t.poll_tenant_usage(ctx))),
        // Two bodies per community, translated together: no parse fn here, see
        // `parse::community_usage` for one body's path.
        EndpointInfo::every(
            "community_usage",
            900,
            "GET /api/v1/communities/{c}/tenants/{t}/usage: daily community usage, Internal and External",
        )
        .poll(|t: &Aveva, ctx| Box::pin(t.poll_community_usage(ctx))),
        EndpointInfo::every(
            "resource_usage",
            900,
            "GET /api/v1/tenants/{t}/resources/usage: streams and namespaces used and entitled",
        )
        .parse(parse::resource_usage)
        .poll(|t: &Aveva, ctx| Box::pin(t.poll_resource_usage(ctx))),
        EndpointInfo::every(
            "billing_cycles",
            3600,
            "GET /api/v1/tenants/{t}/subscriptionterm/billingcycles: the current billing cycle",
        )
        .parse(parse::billing_cycles)
        .poll(|t: &Aveva, ctx| Box::pin(t.poll_billing_cycles(ctx))),
    ];

    fn validate(file: &FileConfig) -> Result<Settings, Vec<(String, String)>> {
        config::validate(file)
    }

    fn build(settings: &Settings, ctx: BuildContext) -> Aveva {
        // The marks count this tenant's usage in this grouping: another tenant or grouping
        // counts other series and starts afresh.
        let usage_slot = ctx.state.slot(format!(
            "aveva/{}/usage/{}/{}",
            ctx.upstream.target(),
            settings.tenant_id,
            settings.group_by.api_name()
        ));
        let usage = usage_slot.load::<HighWater>().unwrap_or_default();
        Aveva {
            client: Client::new(ctx.upstream, &settings.url, settings.client.clone()),
            tenant_id: settings.tenant_id.clone(),
            community_ids: settings.community_ids.clone(),
            group_by: settings.group_by,
            cycle: tokio::sync::Mutex::new(None),
            usage: std::sync::Mutex::new(usage),
            usage_slot,
        }
    }
}

/// Path segments are GUIDs from the config; escape anything else.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Query date format: `2026-11-01T00:00:00Z`.
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Aveva {
    /// The snapshot of one poll: every series labelled with the tenant.
    fn data(&self, snapshot: Snapshot) -> PollOutcome {
        PollOutcome::Data(for_tenant(snapshot, &self.tenant_id))
    }

    async fn poll_billing_cycles(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let (cycle, snapshot) = self.fetch_cycles(ctx).await?;
        if let Some(c) = cycle {
            *self.cycle.lock().await = Some((c, ctx.now.into()));
        }
        Ok(self.data(snapshot))
    }

    async fn poll_tenant_usage(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let now: DateTime<Utc> = ctx.now.into();
        let cycle = self.cycle(ctx).await?;
        let (start, end) = range(&cycle, now);
        let path = format!("/api/v1/tenants/{}/usage", segment(&self.tenant_id));
        let query = [
            ("start", start),
            ("end", end),
            ("groupBy", self.group_by.api_name().to_string()),
        ];
        let records = self
            .client
            .get_parsed(&path, &query, model::decode::<UsageRecords>)
            .await?;
        let snapshot = {
            let mut marks = self.usage.lock().expect("usage marks lock");
            let (snapshot, update) = translate::tenant_usage(&records.0, &cycle, now, &mut marks);
            if update.changed {
                // Saved before the snapshot is published: what a scrape saw is in the state.
                self.usage_slot.save(&*marks);
            }
            self.log_update(&update, &cycle);
            snapshot
        };
        Ok(self.data(snapshot))
    }

    /// Logs what an answer changed in the marks: once per change of state, never per poll.
    fn log_update(&self, update: &Update, cycle: &Cycle) {
        let target = self.client.target();
        if let Some(previous) = update.previous_cycle {
            tracing::info!(
                target,
                tenant_id = %self.tenant_id,
                previous_cycle_start = %iso(previous),
                cycle_start = %iso(cycle.start),
                "new billing cycle: the tenant usage counters start again"
            );
        }
        if !update.lowered.is_empty() {
            const SHOWN: usize = 8;
            let mut lines: Vec<String> = update
                .lowered
                .iter()
                .take(SHOWN)
                .map(|l| {
                    let series = [&l.key.0, &l.key.1, &l.key.2]
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join("/");
                    let seen = l.seen.map_or("missing".to_string(), |v| v.to_string());
                    format!(
                        "{} {} {}: counted {}, now {seen}",
                        if series.is_empty() { "tenant" } else { &series },
                        l.day,
                        MEASURE_NAMES[l.measure],
                        l.counted
                    )
                })
                .collect();
            if update.lowered.len() > SHOWN {
                lines.push(format!("and {} more", update.lowered.len() - SHOWN));
            }
            tracing::warn!(
                target,
                tenant_id = %self.tenant_id,
                values = update.lowered.len(),
                revised = %lines.join("; "),
                "tenant usage revised down or missing for days already counted; the counters keep the counted values (aveva_cds_usage_downward_revisions_total)"
            );
        }
        if update.recovered > 0 {
            tracing::debug!(
                target,
                tenant_id = %self.tenant_id,
                values = update.recovered,
                "tenant usage values back at their counted values"
            );
        }
    }

    async fn poll_community_usage(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        if self.community_ids.is_empty() {
            return Ok(PollOutcome::Skipped(
                "no community_ids configured for this target".into(),
            ));
        }
        let now: DateTime<Utc> = ctx.now.into();
        let cycle = self.cycle(ctx).await?;
        let (usage, failed) = self.community_usage(&cycle, now).await;
        let units = usage.len() + failed.len();
        if usage.is_empty() {
            // Nothing answered: the poll fails with the first unit's error.
            let count = failed.len();
            let first = failed.into_iter().next().expect("at least one community");
            return Err(if count == 1 {
                first.error
            } else {
                first.error.context(format!(
                    "all {count} community usage requests failed; first"
                ))
            });
        }
        let data = translate::community_usage(&usage, &cycle, now);
        Ok(PollOutcome::partial(
            for_tenant(data, &self.tenant_id),
            units,
            failed,
        ))
    }

    async fn poll_resource_usage(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let path = format!(
            "/api/v1/tenants/{}/resources/usage",
            segment(&self.tenant_id)
        );
        let snapshot = self
            .client
            .get_parsed(&path, &[], |body| parse::resource_usage(body, ctx))
            .await?;
        Ok(self.data(snapshot))
    }

    /// Reads the billing cycles: the current one, and the `billing_cycles` snapshot.
    async fn fetch_cycles(
        &self,
        ctx: &PollContext,
    ) -> Result<(Option<Cycle>, Snapshot), PollError> {
        let path = format!(
            "/api/v1/tenants/{}/subscriptionterm/billingcycles",
            segment(&self.tenant_id)
        );
        self.client
            .get_parsed(&path, &[], |body| parse::cycles(body, ctx))
            .await
    }

    /// The current cycle: remembered if still valid, otherwise fetched.
    async fn cycle(&self, ctx: &PollContext) -> Result<Cycle, PollError> {
        let now: DateTime<Utc> = ctx.now.into();
        let mut known = self.cycle.lock().await;
        if let Some((cycle, learned)) = *known {
            let age = (now - learned).to_std().unwrap_or_default();
            if !cycle.is_over(now) && age < CYCLE_MAX_AGE {
                return Ok(cycle);
            }
        }
        let cycle = self.fetch_cycles(ctx).await?.0.ok_or_else(|| {
            PollError::new(
                ErrorReason::UpstreamError,
                "GET .../subscriptionterm/billingcycles listed no billing cycle with a start date, so the current cycle is unknown; check the tenant's subscription",
            )
        })?;
        *known = Some((cycle, now));
        Ok(cycle)
    }

    /// Both sources of every configured community, a few requests at a time.
    /// Each community × source is a unit: the usage of those that answered, and the units that
    /// failed (one community the client lost access to costs only its own series).
    async fn community_usage(
        &self,
        cycle: &Cycle,
        now: DateTime<Utc>,
    ) -> (Vec<CommunityUsage>, Vec<FailedUnit>) {
        let (start, end) = range(cycle, now);
        let jobs: Vec<(String, CommunitySource)> = self
            .community_ids
            .iter()
            .flat_map(|c| CommunitySource::ALL.map(|s| (c.clone(), s)))
            .collect();
        futures::stream::iter(jobs)
            .map(|(community_id, source)| {
                let (start, end) = (start.clone(), end.clone());
                async move {
                    let path = format!(
                        "/api/v1/communities/{}/tenants/{}/usage",
                        segment(&community_id),
                        segment(&self.tenant_id)
                    );
                    let query = [
                        ("start", start),
                        ("end", end),
                        ("groupBy", "Tenant".to_string()),
                        ("source", source.api_name().to_string()),
                    ];
                    let unit = format!("community {community_id} ({} usage)", source.api_name());
                    match self
                        .client
                        .get_parsed(&path, &query, model::decode::<UsageRecords>)
                        .await
                    {
                        Ok(records) => Ok(CommunityUsage {
                            community_id,
                            source,
                            records: records.0,
                        }),
                        Err(e) => Err(FailedUnit::new(unit.clone(), e.context(unit))),
                    }
                }
            })
            .buffered(COMMUNITY_CONCURRENCY)
            .fold(
                (Vec::new(), Vec::new()),
                |(mut ok, mut failed), result| async move {
                    match result {
                        Ok(usage) => ok.push(usage),
                        Err(unit) => failed.push(unit),
                    }
                    (ok, failed)
                },
            )
            .await
    }
}

/// The query range of the usage endpoints: `start` = the cycle start, `end` = the next 00:00 UTC
/// after today, meant as exclusive: `[cycle start, tomorrow 00:00)` holds every day of the
/// cycle so far, today's partial one included, and is never empty (on a cycle's first day it is
/// that one day). The vendor documents neither whether `end` is inclusive nor what `start ==
/// end` means; with this range an inclusive `end` adds at most a record dated tomorrow, which
/// the translation ignores until tomorrow has begun. "Today" is never before the cycle's first
/// day (a clock a little behind the vendor's right after a cycle boundary).
fn range(cycle: &Cycle, now: DateTime<Utc>) -> (String, String) {
    let today = now.date_naive().max(cycle.start.date_naive());
    let tomorrow = today
        .succ_opt()
        .expect("a date after today exists")
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    (iso(cycle.start), iso(tomorrow))
}

/// The body parsers: decode → model → translation of one response body, without HTTP. The
/// polls call them after their requests; the property tests and fuzz targets call them too.
///
/// Their snapshots lack the `tenant_id` label, which the poll adds to every series of the target
/// (see `translate::for_tenant`).
pub mod parse {
    use super::client::parse_token;
    use super::model::{decode, BillingCycles, ErrorBody, ResourceUsage, UsageRecords};
    use super::translate::{self, CommunitySource, CommunityUsage};
    use super::{cycle, Cycle};
    use crate::base::PollError;
    use crate::snapshot::Snapshot;
    use crate::sources::PollContext;
    use std::time::Duration;

    /// `billing_cycles` (its table row's parse fn).
    pub fn billing_cycles(body: &[u8], ctx: &PollContext) -> Result<Snapshot, PollError> {
        cycles(body, ctx).map(|(_, snapshot)| snapshot)
    }

    /// A billing cycles body: the current cycle at `ctx.now` (what the target remembers for the
    /// usage endpoints) and the `billing_cycles` snapshot.
    pub fn cycles(body: &[u8], ctx: &PollContext) -> Result<(Option<Cycle>, Snapshot), PollError> {
        let cycles: BillingCycles = decode(body)?;
        let current = cycle::current_cycle(&cycles.0, ctx.now.into());
        Ok((current, translate::billing_cycle(current.as_ref())))
    }

    /// `resource_usage` (its table row's parse fn).
    pub fn resource_usage(body: &[u8], _ctx: &PollContext) -> Result<Snapshot, PollError> {
        let usage: ResourceUsage = decode(body)?;
        Ok(translate::resource_usage(&usage))
    }

    /// `tenant_usage` for the current `cycle`, as the first poll of a target without saved
    /// marks translates it (the poll feeds the target's [`HighWater`](super::HighWater)). Not a
    /// table row's parse fn: the cycle and the marks are the target's state, which a `ParseFn`
    /// cannot be given.
    pub fn tenant_usage(
        body: &[u8],
        cycle: Cycle,
        ctx: &PollContext,
    ) -> Result<Snapshot, PollError> {
        let records: UsageRecords = decode(body)?;
        let mut marks = super::HighWater::default();
        Ok(translate::tenant_usage(&records.0, &cycle, ctx.now.into(), &mut marks).0)
    }

    /// One body of `community_usage`: the records of one community and source. The endpoint
    /// reads two bodies per community and translates them all together, so its table row has
    /// no parse fn; this is the same decode and translation for one body, for property tests
    /// and fuzzing.
    pub fn community_usage(
        body: &[u8],
        community_id: &str,
        source: CommunitySource,
        cycle: Cycle,
        ctx: &PollContext,
    ) -> Result<Snapshot, PollError> {
        let records: UsageRecords = decode(body)?;
        let usage = [CommunityUsage {
            community_id: community_id.to_string(),
            source,
            records: records.0,
        }];
        Ok(translate::community_usage(&usage, &cycle, ctx.now.into()))
    }

    /// The token endpoint's answer: the token and its lifetime.
    pub fn token(body: &[u8]) -> Result<(String, Duration), PollError> {
        parse_token(body)
    }

    /// The vendor error body, as the client reads it (anything unreadable is an empty body):
    /// true when it carries text.
    pub fn error_body(body: &[u8]) -> bool {
        ErrorBody::from_body(body).is_meaningful()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::aveva::model::parse_date;

    #[test]
    fn the_table_parses_the_endpoints_that_read_one_body_without_target_state() {
        let with_parse: Vec<_> = Aveva::ENDPOINTS
            .iter()
            .filter(|e| e.info.parse.is_some())
            .map(|e| e.info.name)
            .collect();
        assert_eq!(with_parse, ["resource_usage", "billing_cycles"]);
        let ctx = PollContext {
            now: parse_date("2026-11-03T15:30:00Z").unwrap().into(),
        };
        let parse = |name: &str| {
            let row = Aveva::ENDPOINTS.iter().find(|e| e.info.name == name);
            row.and_then(|e| e.info.parse).unwrap()
        };
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/aveva/billing_cycles.json"
        ))
        .unwrap();
        let snapshot = parse("billing_cycles")(&body, &ctx).unwrap();
        let (cycle, same) = parse::cycles(&body, &ctx).unwrap();
        assert_eq!(snapshot, same);
        let cycle = cycle.unwrap();
        assert_eq!(cycle.start, parse_date("2026-11-01").unwrap());
        let labelled = for_tenant(snapshot, "t");
        let start = labelled
            .family("aveva_cds_billing_cycle_start_timestamp_seconds")
            .unwrap();
        assert_eq!(start.samples[0].labels.get("tenant_id"), Some("t"));
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/aveva/resource_usage.json"
        ))
        .unwrap();
        assert!(parse("resource_usage")(&body, &ctx).unwrap().series_count() > 0);
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/aveva/tenant_usage_namespace.json"
        ))
        .unwrap();
        let usage = for_tenant(parse::tenant_usage(&body, cycle, &ctx).unwrap(), "t");
        let total = usage.family("aveva_cds_ingress_events_total").unwrap();
        assert_eq!(
            total.samples[0].labels.iter().next(),
            Some(("tenant_id", "t"))
        );
    }

    /// A target named `name` built from `extra` YAML lines with `state`.
    fn built(name: &str, extra: &str, state: &std::sync::Arc<crate::state::StateStore>) -> Aveva {
        let yaml = format!(
            "name: {name}\nurl: http://127.0.0.1:9\ntenant_id: t-1\nclient_id: c\nclient_secret: s\n{extra}"
        );
        let file: FileConfig = serde_yaml_ng::from_str(&yaml).unwrap();
        let settings = config::validate(&file).unwrap();
        let upstream = crate::upstream::Upstream::build(
            "aveva",
            std::sync::Arc::from(name),
            &Default::default(),
            Duration::from_secs(5),
            1 << 20,
            Default::default(),
        )
        .unwrap();
        Aveva::build(
            &settings,
            BuildContext {
                global: &Default::default(),
                upstream,
                endpoints: &[],
                state,
            },
        )
    }

    #[test]
    fn a_rebuilt_target_continues_from_its_saved_marks() {
        let state = crate::state::StateStore::in_memory();
        let target = built("cds", "", &state);
        assert_eq!(target.usage_slot.name(), "aveva/cds/usage/t-1/Namespace");
        assert_eq!(*target.usage.lock().unwrap(), HighWater::default());
        let mut marks = HighWater::default();
        let day = parse_date("2026-11-02").unwrap();
        let key = (Some("production".to_string()), None, None);
        let answer = [(
            (key.clone(), day.date_naive()),
            [Some(5.0), None, None, None],
        )]
        .into();
        marks.update(parse_date("2026-11-01").unwrap(), &answer, day);
        target.usage_slot.save(&marks);
        // A reload rebuilds the target with the same store: it continues from the marks.
        let again = built("cds", "", &state);
        assert_eq!(*again.usage.lock().unwrap(), marks);
        assert_eq!(again.usage.lock().unwrap().totals()[&key][0], Some(5.0));
        // Counting something else starts afresh: another grouping, tenant or target.
        let other = built("cds", "group_by: None\n", &state);
        assert_eq!(other.usage_slot.name(), "aveva/cds/usage/t-1/None");
        assert_eq!(*other.usage.lock().unwrap(), HighWater::default());
        let renamed = built("cds-2", "", &state);
        assert_eq!(*renamed.usage.lock().unwrap(), HighWater::default());
    }

    fn range_at(cycle: &Cycle, now: &str) -> (String, String) {
        range(cycle, parse_date(now).unwrap())
    }

    #[test]
    fn range_is_cycle_start_to_tomorrow_and_never_empty() {
        let cycle = Cycle {
            start: parse_date("2026-11-01").unwrap(),
            end: parse_date("2026-12-01"),
        };
        let range = |now| {
            let (start, end) = range_at(&cycle, now);
            assert!(start < end, "{now}: an empty range {start}..{end}");
            assert_eq!(start, "2026-11-01T00:00:00Z");
            end
        };
        assert_eq!(range("2026-11-21T22:29:10Z"), "2026-11-22T00:00:00Z");
        // Day one of the cycle, from its first second to its last: that one day.
        assert_eq!(range("2026-11-01T00:00:00Z"), "2026-11-02T00:00:00Z");
        assert_eq!(range("2026-11-01T23:59:59Z"), "2026-11-02T00:00:00Z");
        // The clock a little behind the vendor's at the boundary: still the cycle's first day.
        assert_eq!(range("2026-10-31T23:59:58Z"), "2026-11-02T00:00:00Z");
        // The cycle's last day: up to its end, not beyond.
        assert_eq!(range("2026-11-30T23:59:59Z"), "2026-12-01T00:00:00Z");
        // A cycle starting at another hour (never documented, but possible): still a range.
        let odd = Cycle {
            start: parse_date("2026-11-01T06:00:00Z").unwrap(),
            end: None,
        };
        assert_eq!(
            range_at(&odd, "2026-11-01T06:00:00Z"),
            (
                "2026-11-01T06:00:00Z".to_string(),
                "2026-11-02T00:00:00Z".to_string()
            )
        );
    }
}
