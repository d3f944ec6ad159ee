//! Akana API Platform source: the usage report of one subscription
//! (`GET {path_prefix}/{SubscriptionID}/metrics`) behind a cookie login with CSRF and renewal.

mod client;
mod model;
mod translate;

pub use client::{parse_set_cookie, token_lifetime_from_value, METRICS_ACCEPT};
pub use model::{decode_usage, LoginAnswer, PlatformUsage};
pub use translate::{translate, Options};

use super::{
    BuildContext, EndpointSpec, ErrorReason, PollContext, PollError, PollFuture, PollOutcome,
    Target,
};
use crate::config::AkanaTarget;
use std::sync::Arc;

/// Endpoints of this source with their default intervals.
///
/// The platform rolls usage up as it goes; five minutes keeps month-to-date counters fresh
/// without making the session renewals the dominant traffic.
pub const ENDPOINTS: &[EndpointSpec] = &[EndpointSpec::every(
    "metrics",
    300,
    "subscription usage report of the current month (aggregates, per-day API usage, item lists)",
)];

/// One configured Akana subscription.
struct Akana {
    client: client::Client,
    options: Options,
}

/// Builds a target from its config.
pub fn build(config: &AkanaTarget, ctx: BuildContext) -> Result<Arc<dyn Target>, String> {
    let client = client::Client::new(config, ctx.upstream)?;
    Ok(Arc::new(Akana {
        client,
        options: Options {
            subscription: config.subscription_id.clone().unwrap_or_default(),
            item_info: config.item_info,
        },
    }))
}

impl Target for Akana {
    fn poll<'a>(&'a self, endpoint: &'a str, ctx: &'a PollContext) -> PollFuture<'a> {
        Box::pin(self.poll_endpoint(endpoint, ctx))
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
