//! Config of an Akana API Platform target.

use super::common::{check_url, require, TargetConfig};
use super::secret::{Secret, SecretSlot};
use std::path::PathBuf;

fn default_path_prefix() -> String {
    "/platform/subscriptions".into()
}

crate::target_config! {
    /// One Akana subscription (`sources.akana[]`).
    pub struct AkanaTarget {
        /// Subscription whose metrics are read.
        pub subscription_id: Option<String>,
        /// Login e-mail.
        pub email: Option<String>,
        /// Login password.
        pub password: Option<Secret>,
        /// File holding the password.
        pub password_file: Option<PathBuf>,
        /// Tenant id in cookie names (`AtmoAuthToken_{fedmemberid}`); learnt from the login if unset.
        pub fedmemberid: Option<String>,
        /// Path before `/{SubscriptionID}/metrics` (the vendor doc has no `/api` prefix).
        #[serde(default = "default_path_prefix")]
        pub path_prefix: String,
        /// Only these MetricIDs (all when empty).
        #[serde(default)]
        pub metric_ids: Vec<String>,
    }
}

impl TargetConfig for AkanaTarget {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![SecretSlot {
            key: "password",
            value: &mut self.password,
            file: &mut self.password_file,
        }]
    }

    fn validate(&self) -> Vec<(String, String)> {
        [
            check_url(&self.url),
            require(
                &self.subscription_id,
                "subscription_id",
                "set the subscription to read",
            ),
            require(&self.email, "email", "set the login e-mail"),
            require(&self.password, "password", "set password or password_file"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
