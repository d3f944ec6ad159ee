//! Config of an Akana API Platform target.

use crate::base::duration::ConfigDuration;
use crate::config::{check_url, require, TargetConfig};
use crate::config::{Secret, SecretSlot};
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
}

impl AkanaTarget {
    /// Kind-specific checks after secrets are resolved: (key relative to the target, reason).
    pub fn validate(&self) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use crate::config::ConfigError;
    use crate::sources::parse_config as parse;
    use std::path::Path;
    use std::time::Duration;

    fn load(item: &str) -> Result<crate::config::Config, ConfigError> {
        let mut yaml = String::from("sources:\n  akana:\n");
        for (i, line) in item.lines().enumerate() {
            yaml.push_str(if i == 0 { "    - " } else { "      " });
            yaml.push_str(line);
            yaml.push('\n');
        }
        parse(&yaml, Path::new("t.yml"), &|_| None)
    }

    const MINIMAL: &str = "name: p\nurl: https://akana.example.com\nsubscription_id: acme\nemail: m@example.com\npassword: pw";

    #[test]
    fn defaults() {
        let config = load(MINIMAL).unwrap();
        let t = &config.targets_of::<crate::sources::akana::AkanaTarget>()[0];
        assert_eq!(t.path_prefix, "/platform/subscriptions");
        assert_eq!(t.token_lifetime(), Duration::from_secs(1800));
        assert_eq!(t.login_backoff(), Duration::from_secs(900));
        assert!(t.item_info);
        assert!(t.metric_ids.is_empty() && t.fedmemberid.is_none());
        assert_eq!(format!("{:?}", t.password), "Some(<secret>)");
    }

    #[test]
    fn overrides() {
        let item = format!("{MINIMAL}\ntoken_lifetime: 10m\nlogin_backoff: 1h\nitem_info: false\npath_prefix: /api/platform/subscriptions\nmetric_ids: [ApiCount]\nfedmemberid: acme");
        let config = load(&item).unwrap();
        let t = &config.targets_of::<crate::sources::akana::AkanaTarget>()[0];
        assert_eq!(t.token_lifetime(), Duration::from_secs(600));
        assert_eq!(t.login_backoff(), Duration::from_secs(3600));
        assert!(!t.item_info);
        assert_eq!(t.path_prefix, "/api/platform/subscriptions");
        assert_eq!(t.metric_ids, vec!["ApiCount"]);
    }

    #[test]
    fn problems_name_the_key() {
        let item = "name: p\nurl: https://akana.example.com\nsubscription_id: a/b\npath_prefix: platform\nmetric_ids: ['']\nfedmemberid: ''\ntoken_lifetime: 500ms";
        let text = load(item).unwrap_err().to_string();
        for key in [
            "sources.akana[0].email: missing",
            "sources.akana[0].password: missing",
            "sources.akana[0].subscription_id: must be",
            "sources.akana[0].path_prefix: must start with `/`",
            "sources.akana[0].metric_ids[0]: must not be empty",
            "sources.akana[0].fedmemberid: must not be empty",
            "sources.akana[0].token_lifetime: must be at least 1s",
        ] {
            assert!(text.contains(key), "{key} not in:\n{text}");
        }
        let text = load(&format!("{MINIMAL}\ncookie: x"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("unknown field `cookie`"), "{text}");
        let text = load(&format!("{MINIMAL}\nendpoints: {{usage: 1m}}"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("known endpoints: metrics"), "{text}");
    }

    #[test]
    fn password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let item = MINIMAL.replace(
            "password: pw",
            &format!("password_file: {}", file.display()),
        );
        let config = load(&item).unwrap();
        assert_eq!(
            config.targets_of::<crate::sources::akana::AkanaTarget>()[0]
                .password
                .as_ref()
                .unwrap()
                .expose(),
            "from-file"
        );
    }
}
