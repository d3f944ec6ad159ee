//! Config of an SAP Cloud Connector target.

use super::common::{check_url, require, TargetConfig};
use super::secret::{Secret, SecretSlot};
use std::path::PathBuf;

crate::target_config! {
    /// One SAP Cloud Connector instance (`sources.scc[]`).
    pub struct SccTarget {
        /// User with the Monitoring role (HTTP basic auth on every request).
        pub username: Option<String>,
        /// Its password.
        pub password: Option<Secret>,
        /// File holding the password.
        pub password_file: Option<PathBuf>,
        /// Keep the personal `user` label on top-time-consumer series (off by default).
        #[serde(default)]
        pub include_user: bool,
    }
}

impl TargetConfig for SccTarget {
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
                &self.username,
                "username",
                "set a user with the Monitoring role",
            ),
            require(&self.password, "password", "set password or password_file"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
