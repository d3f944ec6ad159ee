//! Akana API Platform source: the usage report of one subscription
//! (`GET {path_prefix}/{SubscriptionID}/metrics`) behind a cookie login with CSRF and renewal.

mod client;
pub mod config;
mod model;
mod translate;

pub use client::{parse_set_cookie, token_lifetime_from_value, METRICS_ACCEPT};
pub use model::{decode_usage, LoginAnswer, PlatformUsage};
pub use translate::{translate, Options};

use super::{BuildContext, Endpoint, EndpointInfo, PollContext, PollOutcome, Source};
use crate::base::{ErrorReason, PollError};
pub use config::AkanaTarget;

/// One configured Akana subscription.
pub struct Akana {
    client: client::Client,
    options: Options,
}

/// Builds a target from its config.
fn build_target(config: &AkanaTarget, ctx: BuildContext) -> Result<Akana, String> {
    let client = client::Client::new(config, ctx.upstream)?;
    Ok(Akana {
        client,
        options: Options {
            subscription: config.subscription_id.clone().unwrap_or_default(),
            item_info: config.item_info,
        },
    })
}

impl Source for Akana {
    const KIND: &'static str = "akana";
    type FileConfig = AkanaTarget;
    type Settings = AkanaTarget;

    const ENDPOINTS: &'static [Endpoint<Akana>] = &[
        EndpointInfo::every(
    "metrics",
    300,
    "subscription usage report of the current month (aggregates, per-day API usage, item lists)",
)
            .poll(|t: &Akana, ctx| Box::pin(t.poll_endpoint("metrics", ctx))),
    ];

    fn validate(file: &AkanaTarget) -> Result<AkanaTarget, Vec<(String, String)>> {
        let problems = file.validate();
        if problems.is_empty() {
            Ok(file.clone())
        } else {
            Err(problems)
        }
    }

    fn build(settings: &AkanaTarget, ctx: BuildContext) -> Akana {
        build_target(settings, ctx).expect("validated settings build")
    }
}

impl Akana {
    async fn poll_endpoint(
        &self,
        endpoint: &str,
        _ctx: &PollContext,
    ) -> Result<PollOutcome, PollError> {
        match endpoint {
            "metrics" => {
                let usage = self.client.fetch_usage().await?;
                Ok(PollOutcome::Data(translate(&usage, &self.options)))
            }
            other => Err(PollError::new(
                ErrorReason::Unsupported,
                format!("the akana source has no endpoint {other:?}"),
            )),
        }
    }
}
