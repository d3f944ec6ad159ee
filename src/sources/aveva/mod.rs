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
mod model;
mod translate;

pub use client::{CREDENTIALS_BACKOFF, TOKEN_PATH};

use super::PollOutcome;
use super::{BuildContext, Endpoint, EndpointInfo, PollContext, Source};
use crate::base::{ErrorReason, PollError};
use chrono::{DateTime, Utc};
use client::Client;
pub use config::AvevaTarget;
use cycle::{current_cycle, Cycle};
use futures::{StreamExt, TryStreamExt};
use model::{BillingCycles, ResourceUsage, UsageRecords};
use std::time::Duration;
use translate::{CommunitySource, CommunityUsage};

/// A cycle remembered from an earlier billing cycles request is reused at most this long
/// (and never once it is over).
const CYCLE_MAX_AGE: Duration = Duration::from_secs(3600);

/// Community requests in flight at once.
const COMMUNITY_CONCURRENCY: usize = 4;

/// Builds a target from its config.
fn build_target(config: &AvevaTarget, ctx: BuildContext) -> Result<Aveva, String> {
    let url = config.url.as_deref().ok_or("url is missing")?;
    let tenant_id = config.tenant_id.clone().ok_or("tenant_id is missing")?;
    let client_id = config.client_id.as_deref().ok_or("client_id is missing")?;
    let secret = config
        .client_secret
        .clone()
        .ok_or("client_secret is missing")?;
    let group_by = config
        .group_by_name()
        .ok_or_else(|| format!("group_by {:?} is not a UsageGroupBy name", config.group_by))?;
    Ok(Aveva {
        client: Client::new(ctx.upstream, url, client_id, secret),
        tenant_id: tenant_id.trim().to_string(),
        community_ids: config
            .community_ids
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
        group_by,
        cycle: tokio::sync::Mutex::new(None),
    })
}

/// One configured tenant.
pub struct Aveva {
    client: Client,
    tenant_id: String,
    community_ids: Vec<String>,
    group_by: &'static str,
    /// The current cycle and when it was learned (shared by the endpoints; held while
    /// fetching so that endpoints starting together send one billing cycles request).
    cycle: tokio::sync::Mutex<Option<(Cycle, DateTime<Utc>)>>,
}

impl Source for Aveva {
    const KIND: &'static str = "aveva";
    type FileConfig = AvevaTarget;
    type Settings = AvevaTarget;

    const ENDPOINTS: &'static [Endpoint<Aveva>] = &[
        EndpointInfo::every(
        "tenant_usage",
        900,
        "GET /api/v1/tenants/{t}/usage: daily usage of the current billing cycle",
    )
            .poll(|t: &Aveva, ctx| Box::pin(t.poll_endpoint("tenant_usage", ctx))),
        EndpointInfo::every(
        "community_usage",
        900,
        "GET /api/v1/communities/{c}/tenants/{t}/usage: daily community usage, Internal and External",
    )
            .poll(|t: &Aveva, ctx| Box::pin(t.poll_endpoint("community_usage", ctx))),
        EndpointInfo::every(
        "resource_usage",
        900,
        "GET /api/v1/tenants/{t}/resources/usage: streams and namespaces used and entitled",
    )
            .poll(|t: &Aveva, ctx| Box::pin(t.poll_endpoint("resource_usage", ctx))),
        EndpointInfo::every(
        "billing_cycles",
        3600,
        "GET /api/v1/tenants/{t}/subscriptionterm/billingcycles: the current billing cycle",
    )
            .poll(|t: &Aveva, ctx| Box::pin(t.poll_endpoint("billing_cycles", ctx))),
    ];

    fn validate(file: &AvevaTarget) -> Result<AvevaTarget, Vec<(String, String)>> {
        let problems = file.validate();
        if problems.is_empty() {
            Ok(file.clone())
        } else {
            Err(problems)
        }
    }

    fn build(settings: &AvevaTarget, ctx: BuildContext) -> Aveva {
        build_target(settings, ctx).expect("validated settings build")
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
    async fn poll_endpoint(
        &self,
        endpoint: &str,
        ctx: &PollContext,
    ) -> Result<PollOutcome, PollError> {
        let now: DateTime<Utc> = ctx.now.into();
        let snapshot = match endpoint {
            "billing_cycles" => {
                let cycle = self.fetch_cycle(now).await?;
                if let Some(c) = cycle {
                    *self.cycle.lock().await = Some((c, now));
                }
                translate::billing_cycle(cycle.as_ref(), &self.tenant_id)
            }
            "tenant_usage" => {
                let cycle = self.cycle(now).await?;
                let (start, end) = range(&cycle, now);
                let path = format!("/api/v1/tenants/{}/usage", segment(&self.tenant_id));
                let query = [
                    ("start", start),
                    ("end", end),
                    ("groupBy", self.group_by.to_string()),
                ];
                let records: UsageRecords = self.client.get_json(&path, &query).await?;
                translate::tenant_usage(&records.0, &cycle, &self.tenant_id, now)
            }
            "community_usage" => {
                if self.community_ids.is_empty() {
                    return Ok(PollOutcome::Skipped(
                        "no community_ids configured for this target".into(),
                    ));
                }
                let cycle = self.cycle(now).await?;
                let usage = self.community_usage(&cycle, now).await?;
                translate::community_usage(&usage, &cycle, &self.tenant_id, now)
            }
            "resource_usage" => {
                let path = format!(
                    "/api/v1/tenants/{}/resources/usage",
                    segment(&self.tenant_id)
                );
                let usage: ResourceUsage = self.client.get_json(&path, &[]).await?;
                translate::resource_usage(&usage, &self.tenant_id)
            }
            other => {
                return Err(PollError::new(
                    ErrorReason::Unsupported,
                    format!("the aveva source has no endpoint {other:?}"),
                ))
            }
        };
        Ok(PollOutcome::Data(snapshot))
    }

    /// Reads the billing cycles and picks the current one.
    async fn fetch_cycle(&self, now: DateTime<Utc>) -> Result<Option<Cycle>, PollError> {
        let path = format!(
            "/api/v1/tenants/{}/subscriptionterm/billingcycles",
            segment(&self.tenant_id)
        );
        let cycles: BillingCycles = self.client.get_json(&path, &[]).await?;
        Ok(current_cycle(&cycles.0, now))
    }

    /// The current cycle: remembered if still valid, otherwise fetched.
    async fn cycle(&self, now: DateTime<Utc>) -> Result<Cycle, PollError> {
        let mut known = self.cycle.lock().await;
        if let Some((cycle, learned)) = *known {
            let age = (now - learned).to_std().unwrap_or_default();
            if !cycle.is_over(now) && age < CYCLE_MAX_AGE {
                return Ok(cycle);
            }
        }
        let cycle = self.fetch_cycle(now).await?.ok_or_else(|| {
            PollError::new(
                ErrorReason::UpstreamError,
                "GET .../subscriptionterm/billingcycles listed no billing cycle with a start date, so the current cycle is unknown; check the tenant's subscription",
            )
        })?;
        *known = Some((cycle, now));
        Ok(cycle)
    }

    /// Both sources of every configured community, a few requests at a time.
    async fn community_usage(
        &self,
        cycle: &Cycle,
        now: DateTime<Utc>,
    ) -> Result<Vec<CommunityUsage>, PollError> {
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
                    let records: UsageRecords =
                        self.client.get_json(&path, &query).await.map_err(|e| {
                            e.context(format!(
                                "community {community_id} ({} usage)",
                                source.api_name()
                            ))
                        })?;
                    Ok::<_, PollError>(CommunityUsage {
                        community_id,
                        source,
                        records: records.0,
                    })
                }
            })
            .buffered(COMMUNITY_CONCURRENCY)
            .try_collect()
            .await
    }
}

/// `start` = cycle start, `end` = today 00:00 UTC (never before the start, in case the clock
/// is a little behind the vendor's at a cycle boundary).
fn range(cycle: &Cycle, now: DateTime<Utc>) -> (String, String) {
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    (iso(cycle.start), iso(today.max(cycle.start)))
}

/// Byte-level entry points of the endpoint parsers, for property tests and fuzzing: each runs the
/// decode → model → translation path of one endpoint on a response body, without HTTP.
pub mod parse {
    use super::client::parse_token;
    use super::model::{BillingCycles, ErrorBody, ResourceUsage, UsageRecords};
    use super::translate::{self, CommunitySource, CommunityUsage};
    use super::{current_cycle, Cycle};
    use crate::base::PollError;
    use crate::snapshot::Snapshot;
    use crate::upstream::decode_json;
    use chrono::{DateTime, Utc};
    use std::time::Duration;

    /// `billing_cycles`: the current cycle's snapshot and its (start, end), if any.
    #[allow(clippy::type_complexity)]
    pub fn billing_cycles(
        body: &[u8],
        tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Snapshot, Option<(DateTime<Utc>, Option<DateTime<Utc>>)>), PollError> {
        let cycles: BillingCycles = decode_json(body)?;
        let cycle = current_cycle(&cycles.0, now);
        Ok((
            translate::billing_cycle(cycle.as_ref(), tenant_id),
            cycle.map(|c| (c.start, c.end)),
        ))
    }

    /// `tenant_usage` for the cycle `(start, end)`.
    pub fn tenant_usage(
        body: &[u8],
        cycle: (DateTime<Utc>, Option<DateTime<Utc>>),
        tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, PollError> {
        let records: UsageRecords = decode_json(body)?;
        let cycle = Cycle {
            start: cycle.0,
            end: cycle.1,
        };
        Ok(translate::tenant_usage(&records.0, &cycle, tenant_id, now))
    }

    /// `community_usage` of one community from its Internal and External answers.
    pub fn community_usage(
        (internal, external): (&[u8], &[u8]),
        community_id: &str,
        cycle: (DateTime<Utc>, Option<DateTime<Utc>>),
        tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, PollError> {
        let mut usage = Vec::new();
        for (body, source) in [
            (internal, CommunitySource::Internal),
            (external, CommunitySource::External),
        ] {
            let records: UsageRecords = decode_json(body)?;
            usage.push(CommunityUsage {
                community_id: community_id.to_string(),
                source,
                records: records.0,
            });
        }
        let cycle = Cycle {
            start: cycle.0,
            end: cycle.1,
        };
        Ok(translate::community_usage(&usage, &cycle, tenant_id, now))
    }

    /// `resource_usage`.
    pub fn resource_usage(body: &[u8], tenant_id: &str) -> Result<Snapshot, PollError> {
        let usage: ResourceUsage = decode_json(body)?;
        Ok(translate::resource_usage(&usage, tenant_id))
    }

    /// The token endpoint's answer: the token and its lifetime.
    pub fn token(body: &[u8]) -> Result<(String, Duration), PollError> {
        parse_token(body)
    }

    /// The vendor error body, as the client reads it (anything unreadable is an empty body).
    pub fn error_body(body: &[u8]) -> bool {
        serde_json::from_slice::<ErrorBody>(body)
            .unwrap_or_default()
            .is_meaningful()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::aveva::model::parse_date;

    #[test]
    fn range_is_cycle_start_to_today() {
        let cycle = Cycle {
            start: parse_date("2026-11-01").unwrap(),
            end: parse_date("2026-12-01"),
        };
        let now = parse_date("2026-11-21T22:29:10Z").unwrap();
        assert_eq!(
            range(&cycle, now),
            (
                "2026-11-01T00:00:00Z".to_string(),
                "2026-11-21T00:00:00Z".to_string()
            )
        );
        let early = parse_date("2026-10-31T23:59:58Z").unwrap();
        assert_eq!(range(&cycle, early).1, "2026-11-01T00:00:00Z");
    }
}
