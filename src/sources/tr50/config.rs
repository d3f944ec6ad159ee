//! Config of a TR50 (Telit deviceWISE) target: as written in the file, and validated.

use crate::config::{http_url, EndpointSetting, Secret, SecretSlot, TargetConfig, TargetProblem};
use std::fmt;
use std::path::PathBuf;
use url::Url;

fn default_last() -> String {
    "24h".into()
}

fn default_series() -> String {
    "hour".into()
}

crate::target_config! {
    /// One TR50 account (`sources.tr50[]`) as written in the file: user login or application
    /// credentials.
    pub struct FileConfig {
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

impl TargetConfig for FileConfig {
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

/// How the exporter logs in: one of the two TR50 login forms.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// A user login (`username` + `password`).
    User {
        /// Login name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An application login (`app_id` + `app_token` + `thing_key`).
    App {
        /// Application id.
        app_id: String,
        /// Application token.
        app_token: Secret,
        /// Thing key the application logs in as.
        thing_key: String,
    },
}

/// Bucket size of the usage histories (`series` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Hourly buckets (`hour`).
    Hour,
    /// Daily buckets (`day`).
    Day,
}

impl Series {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Series::Hour => "hour",
            Series::Day => "day",
        }
    }

    /// Length of one bucket in seconds.
    pub fn bucket_secs(self) -> u64 {
        match self {
            Series::Hour => 3600,
            Series::Day => 86_400,
        }
    }

    /// The smallest `last` that covers two buckets.
    fn two_buckets(self) -> &'static str {
        match self {
            Series::Hour => "2h",
            Series::Day => "2d",
        }
    }
}

/// What `usage.api.history` counts per series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Per service (no `dimension` parameter; the default).
    Service,
    /// Per organisation (`dimension: "org"`).
    Org,
}

impl Dimension {
    /// The label of the series key.
    pub fn label(self) -> &'static str {
        match self {
            Dimension::Service => "service",
            Dimension::Org => "org",
        }
    }

    /// The `dimension` parameter, if one is sent.
    pub fn param(self) -> Option<&'static str> {
        match self {
            Dimension::Service => None,
            Dimension::Org => Some("org"),
        }
    }
}

/// Unit of a TR50 period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    /// `s`
    Seconds,
    /// `m`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
}

impl PeriodUnit {
    fn from_char(c: char) -> Option<PeriodUnit> {
        Some(match c {
            's' => PeriodUnit::Seconds,
            'm' => PeriodUnit::Minutes,
            'h' => PeriodUnit::Hours,
            'd' => PeriodUnit::Days,
            _ => return None,
        })
    }

    fn suffix(self) -> char {
        match self {
            PeriodUnit::Seconds => 's',
            PeriodUnit::Minutes => 'm',
            PeriodUnit::Hours => 'h',
            PeriodUnit::Days => 'd',
        }
    }

    fn secs(self) -> u64 {
        match self {
            PeriodUnit::Seconds => 1,
            PeriodUnit::Minutes => 60,
            PeriodUnit::Hours => 3600,
            PeriodUnit::Days => 86_400,
        }
    }
}

/// A TR50 period (`last` parameter): a positive count of one unit. Displays as the parameter
/// value, e.g. `24h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// How many units (positive).
    pub count: u64,
    /// The unit.
    pub unit: PeriodUnit,
}

impl Period {
    /// Parses a period: a positive integer and one of the units s, m, h, d.
    pub fn parse(text: &str) -> Result<Period, String> {
        let bad =
            || format!("{text:?} is not a TR50 period; use a number and s, m, h or d, e.g. 24h");
        let last = text.chars().last().ok_or_else(bad)?;
        let unit = PeriodUnit::from_char(last).ok_or_else(bad)?;
        let period = match text[..text.len() - 1].parse::<u64>() {
            Ok(count) if count > 0 => Period { count, unit },
            _ => return Err(bad()),
        };
        period.checked_secs().map(|_| period).ok_or_else(bad)
    }

    fn checked_secs(self) -> Option<u64> {
        self.count.checked_mul(self.unit.secs())
    }

    /// Length in seconds (never overflows: [`Period::parse`] rejects what would).
    pub fn as_secs(self) -> u64 {
        self.checked_secs().unwrap_or(u64::MAX)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

/// A validated TR50 target.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The full TR50 API URL the envelope is POSTed to.
    pub url: Url,
    /// The login.
    pub credentials: Credentials,
    /// History window per poll.
    pub last: Period,
    /// Bucket size.
    pub series: Series,
    /// Per service or per organisation.
    pub dimension: Dimension,
    /// Include sub-organisations.
    pub include_sub_orgs: bool,
}

/// Checks a file config (secrets resolved) and turns it into [`Settings`].
pub fn validate(file: &FileConfig) -> Result<Settings, Vec<TargetProblem>> {
    let mut problems = Vec::new();
    let url = http_url(&file.url).map_err(|p| problems.push(p)).ok();
    let credentials = credentials(file).map_err(|p| problems.push(p)).ok();
    let series = match file.series.as_str() {
        "hour" => Some(Series::Hour),
        "day" => Some(Series::Day),
        other => {
            problems.push((
                "series".into(),
                format!("{other:?} is not a TR50 series; use hour or day"),
            ));
            None
        }
    };
    let last = Period::parse(&file.last)
        .map_err(|reason| problems.push(("last".into(), reason)))
        .ok();
    if let (Some(last), Some(series)) = (last, series) {
        problems.extend(window_problem(file, last, series));
    }
    let dimension = match file.dimension.as_deref() {
        None => Some(Dimension::Service),
        Some("org") => Some(Dimension::Org),
        Some(d) => {
            problems.push((
                "dimension".into(),
                format!("{d:?} is not supported; leave it out (per service) or set org"),
            ));
            None
        }
    };
    match (url, credentials, last, series, dimension) {
        (Some(url), Some(credentials), Some(last), Some(series), Some(dimension))
            if problems.is_empty() =>
        {
            Ok(Settings {
                url,
                credentials,
                last,
                series,
                dimension,
                include_sub_orgs: file.include_sub_orgs,
            })
        }
        _ => Err(problems),
    }
}

/// The login form the file sets: all keys of exactly one form.
fn credentials(file: &FileConfig) -> Result<Credentials, TargetProblem> {
    let problem = |key: &str, reason: &str| Err((key.to_string(), reason.to_string()));
    match (
        &file.username,
        &file.password,
        &file.app_id,
        &file.app_token,
        &file.thing_key,
    ) {
        (Some(username), Some(password), None, None, None) => Ok(Credentials::User {
            username: username.clone(),
            password: password.clone(),
        }),
        (None, None, Some(app_id), Some(app_token), Some(thing_key)) => Ok(Credentials::App {
            app_id: app_id.clone(),
            app_token: app_token.clone(),
            thing_key: thing_key.clone(),
        }),
        (None, None, None, None, None) => problem(
            "username",
            "missing; set username + password (or app_id + app_token + thing_key)",
        ),
        (_, _, None, None, None) => problem(
            "password",
            "username and password (or password_file) go together",
        ),
        (None, None, _, _, _) => problem(
            "app_id",
            "app_id, app_token (or app_token_file) and thing_key go together",
        ),
        _ => problem(
            "username",
            "set either username/password or app_id/app_token/thing_key, not both",
        ),
    }
}

/// What the counting needs of the window: `last` covers two buckets, and an explicit
/// `api_history` interval leaves no bucket's final calls unseen.
fn window_problem(file: &FileConfig, last: Period, series: Series) -> Option<TargetProblem> {
    let (last_secs, bucket) = (last.as_secs(), series.bucket_secs());
    if last_secs < 2 * bucket {
        return Some((
            "last".into(),
            format!(
                "{:?} covers less than two {} buckets; the last increments of each bucket would be missed once it leaves the window; use at least {}",
                file.last,
                series.as_str(),
                series.two_buckets()
            ),
        ));
    }
    let Some(EndpointSetting::Every(every)) = file.endpoints.get("api_history") else {
        return None;
    };
    let interval = every.get().as_secs();
    (interval > last_secs - bucket).then(|| {
        (
            "endpoints.api_history".into(),
            format!(
                "polling every {}s with last {:?} can miss the final calls of a bucket; poll at least every {}s or widen last",
                interval,
                file.last,
                last_secs - bucket
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(extra: &str) -> FileConfig {
        let yaml = format!("name: t\nurl: http://127.0.0.1:1/api\n{extra}");
        serde_yaml_ng::from_str(&yaml).unwrap()
    }

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
    fn settings_are_typed() {
        let s = validate(&file(
            "username: u\npassword: p\nlast: 7d\nseries: day\ndimension: org\ninclude_sub_orgs: true\n",
        ))
        .unwrap();
        assert_eq!(s.url.as_str(), "http://127.0.0.1:1/api");
        assert_eq!(
            s.credentials,
            Credentials::User {
                username: "u".into(),
                password: Secret::new("p"),
            }
        );
        assert_eq!(
            (s.last.to_string(), s.last.as_secs()),
            ("7d".into(), 604_800)
        );
        assert_eq!((s.series, s.dimension), (Series::Day, Dimension::Org));
        assert!(s.include_sub_orgs);
        let s = validate(&file("app_id: a\napp_token: t\nthing_key: k\n")).unwrap();
        assert!(matches!(s.credentials, Credentials::App { .. }));
        assert_eq!(
            (s.last.to_string(), s.series, s.dimension),
            ("24h".into(), Series::Hour, Dimension::Service)
        );
    }

    #[test]
    fn login_forms_are_complete_and_exclusive() {
        let key = |extra: &str| -> Vec<String> {
            validate(&file(extra))
                .unwrap_err()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(key(""), ["username"]);
        assert_eq!(key("username: u\n"), ["password"]);
        assert_eq!(key("password: p\n"), ["password"]);
        assert_eq!(key("app_id: a\napp_token: t\n"), ["app_id"]);
        assert_eq!(key("thing_key: k\n"), ["app_id"]);
        assert_eq!(
            key("username: u\npassword: p\nthing_key: k\n"),
            ["username"]
        );
        // Every problem of a target at once.
        assert_eq!(
            key("series: week\nlast: x\ndimension: service\n"),
            ["username", "series", "last", "dimension"]
        );
    }

    #[test]
    fn last_periods() {
        let secs = |t: &str| Period::parse(t).map(Period::as_secs);
        assert_eq!(secs("24h"), Ok(86_400));
        assert_eq!(secs("90m"), Ok(5400));
        assert_eq!(secs("2d"), Ok(172_800));
        assert_eq!(secs("3600s"), Ok(3600));
        for bad in ["", "h", "0h", "24", "1w", "-1h", "99999999999999999d"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Period::parse("90m").unwrap().to_string(), "90m");
    }
}
