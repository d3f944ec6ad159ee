//! Config of an AVEVA CONNECT data services target.

use crate::config::{check_url, require, TargetConfig};
use crate::config::{Secret, SecretSlot};
use std::path::PathBuf;

fn default_group_by() -> String {
    "Namespace".into()
}

/// The `groupBy` names the tenant usage API documents (`UsageGroupBy`), in their canonical case.
pub const GROUP_BY_NAMES: [&str; 4] = ["Namespace", "Community", "All", "None"];

crate::target_config! {
    /// One CONNECT data services tenant (`sources.aveva[]`).
    pub struct AvevaTarget {
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
        /// Tenant usage grouping: Namespace (default), Community, All or None.
        #[serde(default = "default_group_by")]
        pub group_by: String,
    }
}

impl AvevaTarget {
    /// The configured `group_by` in the API's canonical spelling (`Namespace`, `Community`,
    /// `All`, `None`); matching is case-insensitive and the enum's integers 0–3 are accepted.
    pub fn group_by_name(&self) -> Option<&'static str> {
        let g = self.group_by.trim();
        if let Ok(n) = g.parse::<usize>() {
            return GROUP_BY_NAMES.get(n).copied();
        }
        GROUP_BY_NAMES
            .iter()
            .find(|name| name.eq_ignore_ascii_case(g))
            .copied()
    }
}

impl TargetConfig for AvevaTarget {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![SecretSlot {
            key: "client_secret",
            value: &mut self.client_secret,
            file: &mut self.client_secret_file,
        }]
    }
}

impl AvevaTarget {
    /// Kind-specific checks after secrets are resolved: (key relative to the target, reason).
    pub fn validate(&self) -> Vec<(String, String)> {
        let blank = |key: &str, value: Option<&str>, hint: &str| {
            value
                .filter(|v| v.trim().is_empty())
                .map(|_| (key.to_string(), format!("empty; {hint}")))
        };
        let mut problems: Vec<(String, String)> = [
            check_url(&self.url),
            require(&self.tenant_id, "tenant_id", "set the tenant GUID"),
            blank(
                "tenant_id",
                self.tenant_id.as_deref(),
                "set the tenant GUID",
            ),
            require(&self.client_id, "client_id", "set the OAuth2 client id"),
            blank(
                "client_id",
                self.client_id.as_deref(),
                "set the OAuth2 client id",
            ),
            require(
                &self.client_secret,
                "client_secret",
                "set client_secret or client_secret_file",
            ),
            blank(
                "client_secret",
                self.client_secret.as_ref().map(|s| s.expose()),
                "set client_secret or client_secret_file",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.group_by_name().is_none() {
            problems.push((
                "group_by".into(),
                format!(
                    "unknown value {:?}; use one of {}",
                    self.group_by,
                    GROUP_BY_NAMES.join(", ")
                ),
            ));
        }
        for (i, id) in self.community_ids.iter().enumerate() {
            if id.trim().is_empty() || id.contains('/') {
                problems.push((
                    format!("community_ids[{i}]"),
                    "must be a community GUID (not empty, no `/`)".into(),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(yaml: &str) -> AvevaTarget {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn group_by_accepts_names_any_case_and_integers() {
        let base = "name: a\nurl: http://x\ntenant_id: t\nclient_id: c\nclient_secret: s\n";
        assert_eq!(target(base).group_by_name(), Some("Namespace"));
        let t = target(&format!("{base}group_by: community\n"));
        assert_eq!(t.group_by_name(), Some("Community"));
        assert!(t.validate().is_empty(), "{:?}", t.validate());
        assert_eq!(
            target(&format!("{base}group_by: \"2\"\n")).group_by_name(),
            Some("All")
        );
        let bad = target(&format!("{base}group_by: tenant\n"));
        assert_eq!(bad.group_by_name(), None);
        assert_eq!(bad.validate()[0].0, "group_by");
    }

    #[test]
    fn empty_values_are_named() {
        let t = target(
            "name: a\nurl: http://x\ntenant_id: ''\nclient_id: c\nclient_secret: ''\ncommunity_ids: ['', a/b]\n",
        );
        let keys: Vec<String> = t.validate().into_iter().map(|(k, _)| k).collect();
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
}
