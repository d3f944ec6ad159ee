//! Config of an AVEVA CONNECT data services target: as written in the file, and validated.

use crate::config::{http_url, Secret, SecretSlot, TargetConfig, TargetProblem};
use std::path::PathBuf;
use url::Url;

fn default_group_by() -> String {
    GroupBy::Namespace.api_name().into()
}

crate::target_config! {
    /// One CONNECT data services tenant (`sources.aveva[]`), as written in the file.
    pub struct FileConfig {
        /// Tenant id (GUID).
        pub tenant_id: Option<String>,
        /// OAuth2 client id.
        pub client_id: Option<String>,
        /// OAuth2 client secret.
        pub client_secret: Option<Secret>,
        /// File holding the client secret.
        pub client_secret_file: Option<PathBuf>,
        /// Communities whose usage is read.
        #[serde(default)]
        pub community_ids: Vec<String>,
        /// Tenant usage grouping: Namespace (default), Community, All or None, in any case, or
        /// the enum's integer 0–3 (quoted).
        #[serde(default = "default_group_by")]
        pub group_by: String,
    }
}

impl TargetConfig for FileConfig {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![SecretSlot {
            key: "client_secret",
            value: &mut self.client_secret,
            file: &mut self.client_secret_file,
        }]
    }
}

/// How tenant usage is grouped: the API's `UsageGroupBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Per namespace (the default).
    Namespace,
    /// Per community.
    Community,
    /// Per namespace and community.
    All,
    /// One record per day for the whole tenant.
    None,
}

impl GroupBy {
    /// Every value, in the order of the API enum's integers.
    pub const ALL: [GroupBy; 4] = [
        GroupBy::Namespace,
        GroupBy::Community,
        GroupBy::All,
        GroupBy::None,
    ];

    /// The enum name the API documents (sent as `groupBy=`).
    pub fn api_name(self) -> &'static str {
        match self {
            GroupBy::Namespace => "Namespace",
            GroupBy::Community => "Community",
            GroupBy::All => "All",
            GroupBy::None => "None",
        }
    }

    /// A name in any case (blanks around it ignored) or the enum's integer 0–3.
    pub fn from_config(text: &str) -> Option<GroupBy> {
        let t = text.trim();
        if let Ok(n) = t.parse::<usize>() {
            return Self::ALL.get(n).copied();
        }
        Self::ALL
            .into_iter()
            .find(|g| g.api_name().eq_ignore_ascii_case(t))
    }
}

/// The OAuth2 client the exporter logs in as (client-credentials grant).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: Secret,
}

/// A validated AVEVA target.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data services base URL (the region URL, e.g. `https://uswe.datahub.connect.aveva.com`).
    pub url: Url,
    /// Tenant id, trimmed and not empty.
    pub tenant_id: String,
    /// The OAuth2 client.
    pub client: ClientCredentials,
    /// Communities whose usage is read, trimmed, each a path segment (not empty, no `/`).
    pub community_ids: Vec<String>,
    /// Tenant usage grouping.
    pub group_by: GroupBy,
}

/// A required value whose text must not be blank; the value is kept as written.
fn required_text<T: Clone>(
    value: &Option<T>,
    text: impl Fn(&T) -> &str,
    key: &str,
    hint: &str,
) -> Result<T, TargetProblem> {
    match value {
        None => Err((key.to_string(), format!("missing; {hint}"))),
        Some(v) if text(v).trim().is_empty() => Err((key.to_string(), format!("empty; {hint}"))),
        Some(v) => Ok(v.clone()),
    }
}

/// The value of `result`, or its problem added to `problems`.
fn collect<T>(result: Result<T, TargetProblem>, problems: &mut Vec<TargetProblem>) -> Option<T> {
    result.map_err(|p| problems.push(p)).ok()
}

/// Checks a file config (secrets resolved) and turns it into [`Settings`].
pub fn validate(file: &FileConfig) -> Result<Settings, Vec<TargetProblem>> {
    let mut problems = Vec::new();
    let url = collect(http_url(&file.url), &mut problems);
    let tenant_id = collect(
        required_text(
            &file.tenant_id,
            String::as_str,
            "tenant_id",
            "set the tenant GUID",
        ),
        &mut problems,
    );
    let client_id = collect(
        required_text(
            &file.client_id,
            String::as_str,
            "client_id",
            "set the OAuth2 client id",
        ),
        &mut problems,
    );
    let client_secret = collect(
        required_text(
            &file.client_secret,
            Secret::expose,
            "client_secret",
            "set client_secret or client_secret_file",
        ),
        &mut problems,
    );
    let group_by = collect(
        GroupBy::from_config(&file.group_by).ok_or_else(|| {
            let names: Vec<&str> = GroupBy::ALL.iter().map(|g| g.api_name()).collect();
            (
                "group_by".to_string(),
                format!(
                    "unknown value {:?}; use one of {}",
                    file.group_by,
                    names.join(", ")
                ),
            )
        }),
        &mut problems,
    );
    let mut community_ids = Vec::with_capacity(file.community_ids.len());
    for (i, id) in file.community_ids.iter().enumerate() {
        if id.trim().is_empty() || id.contains('/') {
            problems.push((
                format!("community_ids[{i}]"),
                "must be a community GUID (not empty, no `/`)".into(),
            ));
        } else {
            community_ids.push(id.trim().to_string());
        }
    }
    match (url, tenant_id, client_id, client_secret, group_by) {
        (Some(url), Some(tenant_id), Some(id), Some(secret), Some(group_by))
            if problems.is_empty() =>
        {
            Ok(Settings {
                url,
                tenant_id: tenant_id.trim().to_string(),
                // Client id and secret as written (neither was ever trimmed).
                client: ClientCredentials { id, secret },
                community_ids,
                group_by,
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(yaml: &str) -> FileConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    const BASE: &str = "name: a\nurl: http://x\ntenant_id: t\nclient_id: c\nclient_secret: s\n";

    #[test]
    fn group_by_accepts_names_any_case_and_integers() {
        assert_eq!(
            validate(&target(BASE)).unwrap().group_by,
            GroupBy::Namespace
        );
        let t = validate(&target(&format!("{BASE}group_by: community\n"))).unwrap();
        assert_eq!(t.group_by, GroupBy::Community);
        assert_eq!(t.group_by.api_name(), "Community");
        let t = validate(&target(&format!("{BASE}group_by: \"2\"\n"))).unwrap();
        assert_eq!(t.group_by, GroupBy::All);
        let bad = validate(&target(&format!("{BASE}group_by: tenant\n"))).unwrap_err();
        assert_eq!(
            bad,
            [(
                "group_by".to_string(),
                "unknown value \"tenant\"; use one of Namespace, Community, All, None".to_string()
            )]
        );
        assert_eq!(GroupBy::from_config("4"), None);
    }

    #[test]
    fn empty_values_are_named() {
        let t = target(
            "name: a\nurl: http://x\ntenant_id: ''\nclient_id: c\nclient_secret: ''\ncommunity_ids: ['', a/b]\n",
        );
        let keys: Vec<String> = validate(&t)
            .unwrap_err()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "tenant_id",
                "client_secret",
                "community_ids[0]",
                "community_ids[1]"
            ]
        );
    }

    #[test]
    fn missing_values_are_named_and_ids_trimmed() {
        let problems = validate(&target("name: a\n")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["url", "tenant_id", "client_id", "client_secret"]);
        assert_eq!(problems[1].1, "missing; set the tenant GUID");
        let mut file = target(BASE);
        file.tenant_id = Some(" t1 ".into());
        file.community_ids = vec![" c1 ".into(), "c2".into()];
        let s = validate(&file).unwrap();
        assert_eq!(s.tenant_id, "t1");
        assert_eq!(s.community_ids, ["c1", "c2"]);
        assert_eq!((s.client.id.as_str(), s.client.secret.expose()), ("c", "s"));
        assert_eq!(s.url.as_str(), "http://x/");
    }
}
