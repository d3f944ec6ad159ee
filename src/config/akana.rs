//! Config of an Akana API Platform target.

use super::common::{check_url, require, TargetConfig};
use super::duration::ConfigDuration;
use super::secret::{Secret, SecretSlot};
use std::path::PathBuf;
use std::time::Duration;

fn default_path_prefix() -> String {
    "/platform/subscriptions".into()
}

fn default_true() -> bool {
    true
}

/// Default lifetime of the `AtmoAuthToken` cookie (the platform default, site-configurable).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Default wait after a rejected login before trying again.
pub const DEFAULT_LOGIN_BACKOFF: Duration = Duration::from_secs(15 * 60);

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
        /// Lifetime of the login cookie as configured on the site (default 30m); the token is
        /// renewed after half of it and replaced by a new login once it has run out.
        pub token_lifetime: Option<ConfigDuration>,
        /// Wait after a rejected login (bad password, pending tasks) before the next attempt
        /// (default 15m), so a wrong password never hammers the login or locks the account.
        pub login_backoff: Option<ConfigDuration>,
        /// Export `akana_metric_item_info` for the names in `MetricItemList` (default true).
        #[serde(default = "default_true")]
        pub item_info: bool,
    }
}

impl AkanaTarget {
    /// The token lifetime in effect.
    pub fn token_lifetime(&self) -> Duration {
        self.token_lifetime
            .map(|d| d.get())
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
    }

    /// The login back-off in effect.
    pub fn login_backoff(&self) -> Duration {
        self.login_backoff
            .map(|d| d.get())
            .unwrap_or(DEFAULT_LOGIN_BACKOFF)
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
        let mut problems: Vec<(String, String)> = [
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
        .collect();
        if matches!(&self.subscription_id, Some(s) if s.trim().is_empty() || s.contains('/')) {
            problems.push((
                "subscription_id".into(),
                "must be a non-empty id without `/`".into(),
            ));
        }
        if matches!(&self.fedmemberid, Some(s) if s.trim().is_empty()) {
            problems.push((
                "fedmemberid".into(),
                "must not be empty; remove it to learn the tenant id from the login cookie".into(),
            ));
        }
        if !self.path_prefix.is_empty() && !self.path_prefix.starts_with('/') {
            problems.push((
                "path_prefix".into(),
                format!("must start with `/` (got {:?})", self.path_prefix),
            ));
        }
        for (i, id) in self.metric_ids.iter().enumerate() {
            if id.trim().is_empty() {
                problems.push((format!("metric_ids[{i}]"), "must not be empty".into()));
            }
        }
        if matches!(self.token_lifetime, Some(d) if d.get() < Duration::from_secs(1)) {
            problems.push((
                "token_lifetime".into(),
                "must be at least 1s (the site's login token lifetime, default 30m)".into(),
            ));
        }
        problems
    }
}
