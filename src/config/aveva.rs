//! Config of an AVEVA CONNECT data services target.

use super::common::{check_url, require, TargetConfig};
use super::secret::{Secret, SecretSlot};
use std::path::PathBuf;

fn default_group_by() -> String {
    "Namespace".into()
}

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

impl TargetConfig for AvevaTarget {
    crate::target_config_accessors!();

    fn secret_slots(&mut self) -> Vec<SecretSlot<'_>> {
        vec![SecretSlot {
            key: "client_secret",
            value: &mut self.client_secret,
            file: &mut self.client_secret_file,
        }]
    }

    fn validate(&self) -> Vec<(String, String)> {
        [
            check_url(&self.url),
            require(&self.tenant_id, "tenant_id", "set the tenant GUID"),
            require(&self.client_id, "client_id", "set the OAuth2 client id"),
            require(
                &self.client_secret,
                "client_secret",
                "set client_secret or client_secret_file",
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
