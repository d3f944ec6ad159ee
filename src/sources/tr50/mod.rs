//! TR50 (Telit deviceWISE) source: `usage.api.history` as counters per service (or org), and
//! optionally `usage.thing.history` / `usage.connection.history` as gauges of the newest bucket.
//!
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

use super::{BuildContext, Endpoint, EndpointInfo, PollContext, PollOutcome, Source};
use crate::base::PollError;
use client::{Client, Credentials};
pub use config::Tr50Target;
use counter::CallCounter;
use model::History;
use serde_json::{json, Value};
use std::sync::Mutex;

/// A configured TR50 account.
pub struct Tr50 {
    client: Client,
    last: String,
    series: String,
    dimension: Option<String>,
    include_sub_orgs: bool,
    /// API call counters; survive across polls (and endpoint failures) for the target's life.
    calls: Mutex<CallCounter>,
}

/// Builds a target from its config.
fn build_target(config: &Tr50Target, ctx: BuildContext) -> Result<Tr50, String> {
    let url = config
        .url
        .clone()
        .ok_or_else(|| "url: missing; set the TR50 API URL".to_string())?;
    let credentials = match (
        &config.username,
        &config.password,
        &config.app_id,
        &config.app_token,
        &config.thing_key,
    ) {
        (Some(username), Some(password), None, None, None) => Credentials::User {
            username: username.clone(),
            password: password.clone(),
        },
        (None, None, Some(app_id), Some(app_token), Some(thing_key)) => Credentials::App {
            app_id: app_id.clone(),
            app_token: app_token.clone(),
            thing_key: thing_key.clone(),
        },
        _ => {
            return Err(
                "username: set username + password, or app_id + app_token + thing_key".into(),
            )
        }
    };
    Ok(Tr50 {
        client: Client::new(ctx.upstream, url, credentials),
        last: config.last.clone(),
        series: config.series.clone(),
        dimension: config.dimension.clone(),
        include_sub_orgs: config.include_sub_orgs,
        calls: Mutex::new(CallCounter::new()),
    })
}

impl Source for Tr50 {
    const KIND: &'static str = "tr50";
    type FileConfig = Tr50Target;
    type Settings = Tr50Target;

    const ENDPOINTS: &'static [Endpoint<Tr50>] = &[
        EndpointInfo::every(
            "api_history",
            300,
            "usage.api.history: API calls per service (or org) per hourly bucket",
        )
        .poll(|t: &Tr50, ctx| Box::pin(t.poll_endpoint("api_history", ctx))),
        EndpointInfo::off(
            "thing_history",
            "usage.thing.history: things and connected things in the newest bucket",
        )
        .poll(|t: &Tr50, ctx| Box::pin(t.poll_endpoint("thing_history", ctx))),
        EndpointInfo::off(
            "connection_history",
            "usage.connection.history: connections in the newest bucket",
        )
        .poll(|t: &Tr50, ctx| Box::pin(t.poll_endpoint("connection_history", ctx))),
    ];

    fn validate(file: &Tr50Target) -> Result<Tr50Target, Vec<(String, String)>> {
        let problems = file.validate();
        if problems.is_empty() {
            Ok(file.clone())
        } else {
            Err(problems)
        }
    }

    fn build(settings: &Tr50Target, ctx: BuildContext) -> Tr50 {
        build_target(settings, ctx).expect("validated settings build")
    }
}

impl Tr50 {
    async fn poll_endpoint(
        &self,
        endpoint: &str,
        _ctx: &PollContext,
    ) -> Result<PollOutcome, PollError> {
        match endpoint {
            "api_history" => self.api_history().await,
            "thing_history" => {
                let h = self.history("usage.thing.history", self.window()).await?;
                Ok(PollOutcome::Data(translate::thing_history(&h)))
            }
            "connection_history" => {
                let h = self
                    .history("usage.connection.history", self.window())
                    .await?;
                Ok(PollOutcome::Data(translate::connection_history(&h)))
            }
            other => Err(PollError::new(
                crate::base::ErrorReason::Unsupported,
                format!("unknown tr50 endpoint {other:?}"),
            )),
        }
    }

    /// The common window parameters.
    fn window(&self) -> Value {
        json!({"last": self.last, "series": self.series, "includeSubOrgs": self.include_sub_orgs})
    }

    async fn history(&self, command: &str, params: Value) -> Result<History, PollError> {
        let value = self.client.call(command, params).await?;
        if value.is_null() {
            return Ok(History::default());
        }
        serde_json::from_value(value).map_err(|e| {
            PollError::decode(format!("{command}: unexpected params in the reply: {e}"))
        })
    }

    async fn api_history(&self) -> Result<PollOutcome, PollError> {
        let mut params = self.window();
        let label = match &self.dimension {
            Some(d) => {
                params["dimension"] = json!(d);
                if d == "org" {
                    "org"
                } else {
                    "service"
                }
            }
            None => "service",
        };
        let history = self.history("usage.api.history", params).await?;
        let series = history.series();
        let values = self
            .calls
            .lock()
            .expect("tr50 counter lock")
            .observe(series.iter().map(|(k, b)| (k.as_str(), b.iter().copied())));
        Ok(PollOutcome::Data(translate::api_history(
            &history, &values, label,
        )))
    }
}
