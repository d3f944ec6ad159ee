//! Config of an Akana API Platform target: as written in the file, and validated.

use crate::base::duration::ConfigDuration;
use crate::config::{http_url, required, Secret, SecretSlot, TargetConfig, TargetProblem};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

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
    /// One Akana subscription (`sources.akana[]`), as written in the file.
    pub struct FileConfig {
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
        /// Licence or contract limits by MetricID (`ApiCount: 200`), exported as
        /// `akana_metric_limit`; read as written here and checked by [`validate`].
        #[serde(default)]
        pub limits: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    }
}

impl TargetConfig for FileConfig {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![SecretSlot {
            key: "password",
            value: &mut self.password,
            file: &mut self.password_file,
        }]
    }
}

/// A validated Akana target.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the platform; a path (`https://host/portal`) is kept.
    pub url: Url,
    /// `{SubscriptionID}` of the metrics path and the `subscription` label (non-blank, no `/`).
    pub subscription_id: String,
    /// Login e-mail.
    pub email: String,
    /// Login password.
    pub password: Secret,
    /// Tenant id in cookie names (non-blank); `None`: learnt from the login cookie.
    pub fedmemberid: Option<String>,
    /// Path before `/{SubscriptionID}/metrics` (empty or starting with `/`).
    pub path_prefix: String,
    /// Only these MetricIDs (all when empty; none blank).
    pub metric_ids: Vec<String>,
    /// Lifetime assumed for the login token (at least 1 s).
    pub token_lifetime: Duration,
    /// Wait after a rejected login.
    pub login_backoff: Duration,
    /// Export `akana_metric_item_info`.
    pub item_info: bool,
    /// Limits by MetricID (each finite and greater than 0; none blank).
    pub limits: BTreeMap<String, f64>,
}

/// A limit as written: a YAML number, or text holding one (what `${ENV}` expands to); finite
/// and greater than 0.
fn limit(value: &serde_yaml_ng::Value) -> Result<f64, String> {
    use serde_yaml_ng::Value as Y;
    let number = match value {
        Y::Number(n) => n.as_f64(),
        Y::String(t) => t.trim().parse::<f64>().ok(),
        _ => None,
    };
    let got = match (number, value) {
        (Some(n), _) if n.is_finite() && n > 0.0 => return Ok(n),
        (Some(n), _) => n.to_string(),
        (None, Y::String(t)) => format!("{t:?}"),
        (None, Y::Null) => "nothing".into(),
        (None, Y::Bool(b)) => b.to_string(),
        (None, Y::Sequence(_)) => "a list".into(),
        (None, Y::Mapping(_)) => "a map".into(),
        (None, _) => "a tagged value".into(),
    };
    Err(format!(
        "must be a number greater than 0 (the licensed or contracted amount, e.g. 200), got {got}"
    ))
}

/// The value of a check, its problem recorded.
fn keep<T>(checked: Result<T, TargetProblem>, problems: &mut Vec<TargetProblem>) -> Option<T> {
    checked.map_err(|p| problems.push(p)).ok()
}

/// Checks a file config (secrets resolved) and turns it into [`Settings`].
pub fn validate(file: &FileConfig) -> Result<Settings, Vec<TargetProblem>> {
    let mut problems = Vec::new();
    let url = keep(http_url(&file.url), &mut problems);
    let subscription_id = keep(
        required(
            &file.subscription_id,
            "subscription_id",
            "set the subscription to read",
        ),
        &mut problems,
    );
    let email = keep(
        required(&file.email, "email", "set the login e-mail"),
        &mut problems,
    );
    let password = keep(
        required(&file.password, "password", "set password or password_file"),
        &mut problems,
    );
    if matches!(&subscription_id, Some(s) if s.trim().is_empty() || s.contains('/')) {
        problems.push((
            "subscription_id".into(),
            "must be a non-empty id without `/`".into(),
        ));
    }
    if matches!(&file.fedmemberid, Some(s) if s.trim().is_empty()) {
        problems.push((
            "fedmemberid".into(),
            "must not be empty; remove it to learn the tenant id from the login cookie".into(),
        ));
    }
    if !file.path_prefix.is_empty() && !file.path_prefix.starts_with('/') {
        problems.push((
            "path_prefix".into(),
            format!("must start with `/` (got {:?})", file.path_prefix),
        ));
    }
    for (i, id) in file.metric_ids.iter().enumerate() {
        if id.trim().is_empty() {
            problems.push((format!("metric_ids[{i}]"), "must not be empty".into()));
        }
    }
    let token_lifetime = file
        .token_lifetime
        .map_or(DEFAULT_TOKEN_LIFETIME, |d| d.get());
    if token_lifetime < Duration::from_secs(1) {
        problems.push((
            "token_lifetime".into(),
            "must be at least 1s (the site's login token lifetime, default 30m)".into(),
        ));
    }
    let mut limits = BTreeMap::new();
    for (id, value) in file.limits.iter().flatten() {
        let key = format!("limits.{id}");
        if id.trim().is_empty() {
            problems.push((key, "a MetricID must not be empty".into()));
            continue;
        }
        match limit(value) {
            Ok(v) => {
                limits.insert(id.clone(), v);
            }
            Err(reason) => problems.push((key.clone(), reason)),
        }
        if !file.metric_ids.is_empty() && !file.metric_ids.contains(id) {
            problems.push((
                key,
                format!("{id} is not in metric_ids, so its usage is never read; add it there or remove the limit"),
            ));
        }
    }
    match (url, subscription_id, email, password) {
        (Some(url), Some(subscription_id), Some(email), Some(password)) if problems.is_empty() => {
            Ok(Settings {
                url,
                subscription_id,
                email,
                password,
                fedmemberid: file.fedmemberid.clone(),
                path_prefix: file.path_prefix.clone(),
                metric_ids: file.metric_ids.clone(),
                token_lifetime,
                login_backoff: file
                    .login_backoff
                    .map_or(DEFAULT_LOGIN_BACKOFF, |d| d.get()),
                item_info: file.item_info,
                limits,
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;
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
        let t = config.targets_of::<Settings>()[0];
        assert_eq!(t.path_prefix, "/platform/subscriptions");
        assert_eq!(t.token_lifetime, Duration::from_secs(1800));
        assert_eq!(t.login_backoff, Duration::from_secs(900));
        assert!(t.item_info);
        assert!(t.metric_ids.is_empty() && t.fedmemberid.is_none());
        assert_eq!(format!("{:?}", t.password), "<secret>");
        assert_eq!(t.url.as_str(), "https://akana.example.com/");
        assert_eq!(
            (t.subscription_id.as_str(), t.email.as_str()),
            ("acme", "m@example.com")
        );
    }

    #[test]
    fn overrides() {
        let item = format!("{MINIMAL}\ntoken_lifetime: 10m\nlogin_backoff: 1h\nitem_info: false\npath_prefix: /api/platform/subscriptions\nmetric_ids: [ApiCount]\nfedmemberid: acme");
        let config = load(&item).unwrap();
        let t = config.targets_of::<Settings>()[0];
        assert_eq!(t.token_lifetime, Duration::from_secs(600));
        assert_eq!(t.login_backoff, Duration::from_secs(3600));
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
    fn limits_are_read_once_into_numbers() {
        let config = load(MINIMAL).unwrap();
        assert!(config.targets_of::<Settings>()[0].limits.is_empty());
        let item = format!(
            "{MINIMAL}\nlimits:\n  ApiCount: 200\n  PlatformApiUsage: 5000000   # calls per month\n  AppCount: 2.5e1\n  UserAccountsCount: ' 40 '"
        );
        let config = load(&item).unwrap();
        let limits = &config.targets_of::<Settings>()[0].limits;
        let expected = [
            ("ApiCount", 200.0),
            ("AppCount", 25.0),
            ("PlatformApiUsage", 5e6),
            ("UserAccountsCount", 40.0),
        ];
        assert_eq!(
            limits
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            expected
        );
        // `${ENV}` expands to text, which reads as a number too; an empty map is no limit.
        let yaml = format!(
            "sources:\n  akana:\n    - {}\n      limits: {{ApiCount: '${{LIMIT}}'}}\n",
            MINIMAL.replace('\n', "\n      ")
        );
        let config = parse(&yaml, Path::new("t.yml"), &|n| {
            (n == "LIMIT").then(|| "300".into())
        })
        .unwrap();
        assert_eq!(config.targets_of::<Settings>()[0].limits["ApiCount"], 300.0);
        for empty in ["limits: {}", "limits:", "limits: null"] {
            let config = load(&format!("{MINIMAL}\n{empty}")).unwrap();
            assert!(
                config.targets_of::<Settings>()[0].limits.is_empty(),
                "{empty}"
            );
        }
        // With a metric_ids filter, a limit's metric must be read.
        let item = format!("{MINIMAL}\nmetric_ids: [ApiCount]\nlimits: {{ApiCount: 200}}");
        assert_eq!(
            load(&item).unwrap().targets_of::<Settings>()[0]
                .limits
                .len(),
            1
        );
    }

    #[test]
    fn bad_limits_name_the_file_the_key_and_the_reason() {
        let reason =
            "must be a number greater than 0 (the licensed or contracted amount, e.g. 200), got";
        for (value, got) in [
            ("lots", "\"lots\""),
            ("'200 apis'", "\"200 apis\""),
            ("true", "true"),
            ("[1, 2]", "a list"),
            ("{max: 1}", "a map"),
            ("!limit 200", "a tagged value"),
            ("~", "nothing"),
            ("0", "0"),
            ("-5", "-5"),
            ("-0.5", "-0.5"),
            (".nan", "NaN"),
            ("NaN", "NaN"),
            ("'nan'", "NaN"),
            (".inf", "inf"),
            ("1e400", "inf"),
        ] {
            let text = load(&format!("{MINIMAL}\nlimits:\n  ApiCount: {value}"))
                .unwrap_err()
                .to_string();
            assert_eq!(
                text,
                format!("t.yml: sources.akana[0].limits.ApiCount: {reason} {got}"),
                "{value}"
            );
        }
        // Every bad entry is reported, each under its own key; the good one is no problem.
        let item = format!("{MINIMAL}\nmetric_ids: [ApiCount]\nlimits: {{ApiCount: 0, AppCount: 3, '': 1, ' ': 2}}");
        let text = load(&item).unwrap_err().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines.contains(&"t.yml: sources.akana[0].limits.: a MetricID must not be empty"),
            "{text}"
        );
        assert!(
            lines.contains(&"t.yml: sources.akana[0].limits. : a MetricID must not be empty"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "t.yml: sources.akana[0].limits.ApiCount: {reason} 0"
            )),
            "{text}"
        );
        assert!(text.contains("t.yml: sources.akana[0].limits.AppCount: AppCount is not in metric_ids, so its usage is never read"), "{text}");
        // Not a map at all: the YAML reader names the key.
        let text = load(&format!("{MINIMAL}\nlimits: [ApiCount]"))
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("t.yml: sources.akana[0].limits: "),
            "{text}"
        );
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
            config.targets_of::<Settings>()[0].password.expose(),
            "from-file"
        );
    }
}
