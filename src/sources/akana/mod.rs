//! Akana API Platform source: the usage report of one subscription
//! (`GET {path_prefix}/{SubscriptionID}/metrics`) behind a cookie login with CSRF and renewal.

mod client;
pub mod config;
mod model;
mod translate;

pub use client::{parse_set_cookie, token_lifetime_from_value, METRICS_ACCEPT};
pub use config::{FileConfig, Settings};
pub use model::{decode_login, decode_usage, LoginAnswer, PlatformUsage};
pub use translate::{report, translate, with_limits, with_subscription, Options};

use super::{BuildContext, Endpoint, EndpointInfo, ParseFn, PollContext, PollOutcome, Source};
use crate::base::PollError;

/// One configured Akana subscription.
pub struct Akana {
    client: client::Client,
    /// Value of the `subscription` label.
    subscription: String,
    /// Export `akana_metric_item_info`.
    item_info: bool,
    /// Configured limits by MetricID (`akana_metric_limit`).
    limits: std::collections::BTreeMap<String, f64>,
}

impl Source for Akana {
    const KIND: &'static str = "akana";
    type FileConfig = FileConfig;
    type Settings = Settings;

    const ENDPOINTS: &'static [Endpoint<Akana>] = &[EndpointInfo::every(
        "metrics",
        300,
        "subscription usage report of the current month (aggregates, per-day API usage, item lists)",
    )
    .parse(parse::metrics)
    .poll(|akana: &Akana, ctx| Box::pin(akana.metrics(ctx)))];

    fn validate(file: &FileConfig) -> Result<Settings, Vec<(String, String)>> {
        config::validate(file)
    }

    fn build(settings: &Settings, ctx: BuildContext) -> Akana {
        Akana {
            client: client::Client::new(settings, ctx.upstream),
            subscription: settings.subscription_id.clone(),
            item_info: settings.item_info,
            limits: settings.limits.clone(),
        }
    }
}

/// The body parsers of `metrics`: decode → model → translation, without HTTP and without the
/// target's `subscription` label (the poll adds it, [`with_subscription`]).
pub mod parse {
    use super::*;
    use crate::snapshot::Snapshot;

    /// Parses the body of `metrics` (with `akana_metric_item_info`, the table's parser).
    pub fn metrics(body: &[u8], _ctx: &PollContext) -> Result<Snapshot, PollError> {
        Ok(report(&decode_usage(body)?, true))
    }

    /// Parses the body of `metrics` for a target with `item_info: false`.
    pub fn metrics_without_item_info(
        body: &[u8],
        _ctx: &PollContext,
    ) -> Result<Snapshot, PollError> {
        Ok(report(&decode_usage(body)?, false))
    }
}

impl Akana {
    /// `metrics`: the report (logging in or renewing as needed), parsed, with the configured
    /// limits and the subscription.
    async fn metrics(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let response = self.client.fetch_report().await?;
        let parse: ParseFn = if self.item_info {
            parse::metrics
        } else {
            parse::metrics_without_item_info
        };
        let snapshot =
            parse(&response.body, ctx).map_err(|e| e.context(self.client.metrics_what()))?;
        Ok(PollOutcome::Data(with_subscription(
            with_limits(snapshot, &self.limits),
            &self.subscription,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_golden;
    use std::time::SystemTime;

    const SAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/akana/vendor-sample.json");

    #[test]
    fn the_table_parses_what_the_poll_parses() {
        let [endpoint] = Akana::ENDPOINTS else {
            panic!("one endpoint");
        };
        let ctx = PollContext {
            now: SystemTime::now(),
        };
        let parse = endpoint.info.parse.expect("metrics reads one body");
        let snapshot = with_subscription(parse(SAMPLE, &ctx).unwrap(), "acmepaymentscorp");
        assert_golden(
            "tests/fixtures/akana/golden/vendor-sample.txt",
            &snapshot.to_golden_text(),
        );
        let without = parse::metrics_without_item_info(SAMPLE, &ctx).unwrap();
        assert!(without.family("akana_metric_item_info").is_none());
        assert_eq!(
            without.series_count() + 7,
            parse(SAMPLE, &ctx).unwrap().series_count()
        );
    }
}
