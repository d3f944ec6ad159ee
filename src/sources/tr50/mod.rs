//! TR50 (Telit deviceWISE) source: `usage.api.history` as counters per service (or org), and
//! optionally `usage.thing.history` / `usage.connection.history` as gauges of the newest bucket.
//!
//! - `config.rs`: the file form and the validated [`Settings`] (login form, window, dimension).
//! - `client.rs`: the TR50 envelope over `POST {url}`, session reuse, one re-login on expiry,
//!   login back-off clear of the account lock-out.
//! - `model.rs`: lenient reply types.
//! - `counter.rs`: the sliding-window → counter accumulator.
//! - `translate.rs`: model → metric families.

pub mod client;
pub mod config;
pub mod counter;
pub mod model;
pub mod translate;

pub use config::{FileConfig, Settings};

use super::{BuildContext, Endpoint, EndpointInfo, PollContext, PollOutcome, Source};
use crate::base::PollError;
use crate::snapshot::Snapshot;
use crate::state::StateSlot;
use client::Client;
use config::{Dimension, Period, Series};
use counter::CallCounter;
use model::{BucketHistory, History};
use serde_json::{json, Value};
use std::sync::Mutex;

/// The command of `api_history`.
pub const API_HISTORY: &str = "usage.api.history";
/// The command of `thing_history`.
pub const THING_HISTORY: &str = "usage.thing.history";
/// The command of `connection_history`.
pub const CONNECTION_HISTORY: &str = "usage.connection.history";

/// A configured TR50 account.
pub struct Tr50 {
    client: Client,
    last: Period,
    series: Series,
    dimension: Dimension,
    include_sub_orgs: bool,
    /// API call counters; survive across polls (and endpoint failures), and through `calls_state`
    /// across reloads and restarts.
    calls: Mutex<CallCounter>,
    /// Where the counters are kept.
    calls_state: StateSlot,
}

impl Source for Tr50 {
    const KIND: &'static str = "tr50";
    type FileConfig = FileConfig;
    type Settings = Settings;

    const ENDPOINTS: &'static [Endpoint<Tr50>] = &[
        EndpointInfo::every(
            "api_history",
            300,
            "usage.api.history: API calls per service (or org) per hourly bucket",
        )
        .parse(parse::api_history)
        .poll(|t: &Tr50, ctx| Box::pin(t.api_history(ctx.now))),
        EndpointInfo::off(
            "thing_history",
            "usage.thing.history: things and connected things in the newest bucket",
        )
        .parse(parse::thing_history)
        .poll(|t: &Tr50, ctx| Box::pin(t.gauges(THING_HISTORY, translate::thing_history, ctx.now))),
        EndpointInfo::off(
            "connection_history",
            "usage.connection.history: connections in the newest bucket",
        )
        .parse(parse::connection_history)
        .poll(|t: &Tr50, ctx| {
            Box::pin(t.gauges(CONNECTION_HISTORY, translate::connection_history, ctx.now))
        }),
    ];

    fn validate(file: &FileConfig) -> Result<Settings, Vec<(String, String)>> {
        config::validate(file)
    }

    fn build(settings: &Settings, ctx: BuildContext) -> Tr50 {
        let target = ctx.upstream.target().to_string();
        let login_slot = ctx.state.slot(Client::backoff_slot_name(
            &target,
            &settings.url,
            &settings.credentials,
        ));
        // The counters depend on what is asked: another URL, dimension, bucket size or org scope
        // is another counter (a fresh baseline), never a continuation.
        let calls_state = ctx.state.slot(format!(
            "tr50/{target}/api_calls/{}/{}/{}/sub_orgs={}",
            settings.url,
            settings.dimension.label(),
            settings.series.as_str(),
            settings.include_sub_orgs
        ));
        let calls = calls_state.load::<CallCounter>().unwrap_or_default();
        Tr50 {
            client: Client::new(
                ctx.upstream,
                settings.url.clone(),
                settings.credentials.clone(),
                login_slot,
            ),
            last: settings.last,
            series: settings.series,
            dimension: settings.dimension,
            include_sub_orgs: settings.include_sub_orgs,
            calls: Mutex::new(calls),
            calls_state,
        }
    }
}

/// The `usage.api.history` path after the request: the history read at `now` into `counter`,
/// then the families labelled by `dimension`, with the bucket period the request asked for
/// (`series`).
fn api_snapshot(
    history: &History,
    counter: &mut CallCounter,
    now: std::time::SystemTime,
    dimension: Dimension,
    series: Series,
) -> Snapshot {
    let buckets = history.series();
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let values = counter.observe(
        now,
        buckets.iter().map(|(k, b)| (k.as_str(), b.iter().copied())),
    );
    translate::with_bucket_period(
        translate::api_history(history, &values, dimension.label()),
        series,
    )
}

/// The body parsers of the endpoints: a history command's `params` (what [`Client::call`]
/// returns once the envelope, session and vendor errors are dealt with) → model → translation,
/// without HTTP.
pub mod parse {
    use super::*;
    use crate::upstream::decode_json;

    /// `usage.api.history` per service, as a target's first poll with the default `series: hour`
    /// sees it (a fresh counter).
    pub fn api_history(body: &[u8], ctx: &PollContext) -> Result<Snapshot, PollError> {
        api_history_by(body, ctx, Dimension::Service)
    }

    /// `usage.api.history` with `dimension: org` (and `series: hour`), as a target's first poll
    /// sees it.
    pub fn api_history_by_org(body: &[u8], ctx: &PollContext) -> Result<Snapshot, PollError> {
        api_history_by(body, ctx, Dimension::Org)
    }

    fn api_history_by(
        body: &[u8],
        ctx: &PollContext,
        dimension: Dimension,
    ) -> Result<Snapshot, PollError> {
        let history = History::from_params(API_HISTORY, decode_json(body)?)?;
        Ok(api_snapshot(
            &history,
            &mut CallCounter::new(),
            ctx.now,
            dimension,
            Series::Hour,
        ))
    }

    /// `usage.thing.history`.
    pub fn thing_history(body: &[u8], _ctx: &PollContext) -> Result<Snapshot, PollError> {
        let history = BucketHistory::from_params(THING_HISTORY, decode_json(body)?)?;
        Ok(translate::thing_history(&history))
    }

    /// `usage.connection.history`.
    pub fn connection_history(body: &[u8], _ctx: &PollContext) -> Result<Snapshot, PollError> {
        let history = BucketHistory::from_params(CONNECTION_HISTORY, decode_json(body)?)?;
        Ok(translate::connection_history(&history))
    }
}

impl Tr50 {
    /// The common window parameters.
    fn window(&self) -> Value {
        json!({
            "last": self.last.to_string(),
            "series": self.series.as_str(),
            "includeSubOrgs": self.include_sub_orgs,
        })
    }

    /// Runs a history command with the window parameters and decodes its reply.
    async fn history(
        &self,
        command: &str,
        params: Value,
        now: std::time::SystemTime,
    ) -> Result<History, PollError> {
        History::from_params(command, self.client.call(command, params, now).await?)
    }

    async fn api_history(&self, now: std::time::SystemTime) -> Result<PollOutcome, PollError> {
        let mut params = self.window();
        if let Some(dimension) = self.dimension.param() {
            params["dimension"] = json!(dimension);
        }
        let history = self.history(API_HISTORY, params, now).await?;
        let mut calls = self.calls.lock().expect("tr50 counter lock");
        let snapshot = api_snapshot(&history, &mut calls, now, self.dimension, self.series);
        // Saved before the snapshot is published: what a scrape saw is never lost by a crash.
        self.calls_state.save(&*calls);
        Ok(PollOutcome::Data(snapshot))
    }

    /// A history read as gauges of its newest bucket.
    async fn gauges(
        &self,
        command: &'static str,
        translate: fn(&BucketHistory) -> Snapshot,
        now: std::time::SystemTime,
    ) -> Result<PollOutcome, PollError> {
        let params = self.client.call(command, self.window(), now).await?;
        let history = BucketHistory::from_params(command, params)?;
        Ok(PollOutcome::Data(translate(&history)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PollContext {
        PollContext {
            now: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn every_endpoint_parses_its_command_params() {
        let names: Vec<_> = Tr50::ENDPOINTS.iter().map(|e| e.info.name).collect();
        assert_eq!(
            names,
            ["api_history", "thing_history", "connection_history"]
        );
        let body = br#"{"counters": {"alarm": [1, 2]}, "total": 3,
            "ts": ["2024-03-10T00:00:00Z", "2024-03-10T01:00:00Z"]}"#;
        for endpoint in Tr50::ENDPOINTS {
            let parse = endpoint.info.parse.expect("every endpoint reads one body");
            let snapshot = parse(body, &ctx()).unwrap();
            assert!(snapshot.series_count() > 0, "{}", endpoint.info.name);
            let e = parse(b"[1]", &ctx()).unwrap_err();
            let command = endpoint.info.description.split(':').next().unwrap();
            assert!(e.message.starts_with(command), "{e}");
        }
        let text = parse::api_history(body, &ctx()).unwrap().to_golden_text();
        // A first poll is the counter's baseline: 0, created at the poll; the window is a gauge.
        assert!(
            text.contains("tr50_api_calls_total{service=\"alarm\"} 0 created=0\n"),
            "{text}"
        );
        assert!(
            text.contains("tr50_api_calls_window{service=\"alarm\"} 3\n"),
            "{text}"
        );
        // The table's parser reads like a target with the default `series: hour`.
        assert!(
            text.contains("tr50_usage_bucket_period_seconds{} 3600\n"),
            "{text}"
        );
        let text = parse::api_history_by_org(body, &ctx())
            .unwrap()
            .to_golden_text();
        assert!(
            text.contains("tr50_api_calls_total{org=\"alarm\"} 0 "),
            "{text}"
        );
    }
}
