//! Config of a TR50 (Telit deviceWISE) target.

use crate::config::{check_url, EndpointSetting, TargetConfig};
use crate::config::{Secret, SecretSlot};
use std::path::PathBuf;

fn default_last() -> String {
    "24h".into()
}

fn default_series() -> String {
    "hour".into()
}

crate::target_config! {
    /// One TR50 account (`sources.tr50[]`): user login or application credentials.
    pub struct Tr50Target {
        /// Login user (with `password`).
        pub username: Option<String>,
        /// Login password.
        pub password: Option<Secret>,
        /// File holding the password.
        pub password_file: Option<PathBuf>,
        /// Application id (with `app_token` and `thing_key`).
        pub app_id: Option<String>,
        /// Application token.
        pub app_token: Option<Secret>,
        /// File holding the application token.
        pub app_token_file: Option<PathBuf>,
        /// Thing key of the application login.
        pub thing_key: Option<String>,
        /// History window per poll (`last` parameter), e.g. `24h`.
        #[serde(default = "default_last")]
        pub last: String,
        /// Bucket size: `hour` or `day`.
        #[serde(default = "default_series")]
        pub series: String,
        /// `org` to count per organisation instead of per service.
        pub dimension: Option<String>,
        /// Include sub-organisations.
        #[serde(default)]
        pub include_sub_orgs: bool,
    }
}

impl TargetConfig for Tr50Target {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![
            SecretSlot {
                key: "password",
                value: &mut self.password,
                file: &mut self.password_file,
            },
            SecretSlot {
                key: "app_token",
                value: &mut self.app_token,
                file: &mut self.app_token_file,
            },
        ]
    }
}

impl Tr50Target {
    /// Kind-specific checks after secrets are resolved: (key relative to the target, reason).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors: Vec<_> = check_url(&self.url).into_iter().collect();
        let user = self.username.is_some() || self.password.is_some();
        let app = self.app_id.is_some() || self.app_token.is_some() || self.thing_key.is_some();
        match (user, app) {
            (true, true) => errors.push((
                "username".into(),
                "set either username/password or app_id/app_token/thing_key, not both".into(),
            )),
            (false, false) => errors.push((
                "username".into(),
                "missing; set username + password (or app_id + app_token + thing_key)".into(),
            )),
            (true, false) if self.username.is_none() || self.password.is_none() => errors.push((
                "password".into(),
                "username and password (or password_file) go together".into(),
            )),
            (false, true)
                if self.app_id.is_none()
                    || self.app_token.is_none()
                    || self.thing_key.is_none() =>
            {
                errors.push((
                    "app_id".into(),
                    "app_id, app_token (or app_token_file) and thing_key go together".into(),
                ))
            }
            _ => {}
        }
        let bucket = match self.series.as_str() {
            "hour" => Some(3600),
            "day" => Some(86_400),
            _ => {
                errors.push((
                    "series".into(),
                    format!("{:?} is not a TR50 series; use hour or day", self.series),
                ));
                None
            }
        };
        match (check_last(&self.last), bucket) {
            (Err(reason), _) => errors.push(("last".into(), reason)),
            (Ok(last), Some(bucket)) => {
                if last < 2 * bucket {
                    errors.push((
                        "last".into(),
                        format!(
                            "{:?} covers less than two {} buckets; the last increments of each bucket would be missed once it leaves the window; use at least {}",
                            self.last,
                            self.series,
                            if bucket == 3600 { "2h" } else { "2d" }
                        ),
                    ));
                } else if let Some(EndpointSetting::Every(every)) =
                    self.endpoints.get("api_history")
                {
                    let interval = every.get().as_secs();
                    if interval > last - bucket {
                        errors.push((
                            "endpoints.api_history".into(),
                            format!(
                                "polling every {}s with last {:?} can miss the final calls of a bucket; poll at least every {}s or widen last",
                                interval,
                                self.last,
                                last - bucket
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
        if let Some(d) = &self.dimension {
            if d != "org" {
                errors.push((
                    "dimension".into(),
                    format!("{d:?} is not supported; leave it out (per service) or set org"),
                ));
            }
        }
        errors
    }
}

/// Checks a TR50 `last` period (a positive integer and one of the units s, m, h, d) and
/// returns it in seconds.
fn check_last(last: &str) -> Result<u64, String> {
    let bad = || format!("{last:?} is not a TR50 period; use a number and s, m, h or d, e.g. 24h");
    let unit = last.chars().last().ok_or_else(bad)?;
    if !matches!(unit, 's' | 'm' | 'h' | 'd') {
        return Err(bad());
    }
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => 86_400,
    };
    match last[..last.len() - 1].parse::<u64>() {
        Ok(n) if n > 0 => n.checked_mul(factor).ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_last;

    fn problems(extra: &str) -> String {
        let yaml = format!(
            "sources:\n  tr50:\n    - name: t\n      url: http://127.0.0.1:1/api\n      username: u\n      password: p\n{extra}"
        );
        match crate::sources::parse_config(&yaml, std::path::Path::new("t.yml"), &|_| None) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn window_settings_are_validated() {
        assert_eq!(problems(""), "");
        assert_eq!(
            problems("      dimension: org\n      series: day\n      last: 7d\n"),
            ""
        );
        assert!(problems("      series: week\n").contains("series"));
        assert!(problems("      dimension: service\n").contains("dimension"));
        assert!(problems("      last: 1h\n").contains("less than two hour buckets"));
        let e = problems("      last: \"24\"\n");
        assert!(e.contains("not a TR50 period"), "{e}");
        let e = problems("      last: 3h\n      endpoints: {api_history: 3h}\n");
        assert!(e.contains("endpoints.api_history"), "{e}");
        assert_eq!(
            problems("      last: 3h\n      endpoints: {api_history: 1h}\n"),
            ""
        );
        let e = problems("      app_id: a\n");
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn last_periods() {
        assert_eq!(check_last("24h"), Ok(86_400));
        assert_eq!(check_last("90m"), Ok(5400));
        assert_eq!(check_last("2d"), Ok(172_800));
        assert_eq!(check_last("3600s"), Ok(3600));
        assert!(check_last("").is_err());
        assert!(check_last("h").is_err());
        assert!(check_last("0h").is_err());
        assert!(check_last("24").is_err());
        assert!(check_last("1w").is_err());
    }
}
