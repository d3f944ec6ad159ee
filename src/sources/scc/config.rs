//! Config of an SAP Cloud Connector target: as written in the file, and validated.

use crate::config::{http_url, required, Secret, SecretSlot, TargetConfig, TargetProblem};
use std::path::PathBuf;
use url::Url;

crate::target_config! {
    /// One SAP Cloud Connector instance (`sources.scc[]`), as written in the file.
    pub struct FileConfig {
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

/// A validated SCC target.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the Cloud Connector (`https://host:8443`).
    pub url: Url,
    /// User with the Monitoring role.
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// Keep the personal `user` label on top-time-consumer series.
    pub include_user: bool,
}

/// Checks a file config and turns it into [`Settings`].
pub fn validate(file: &FileConfig) -> Result<Settings, Vec<TargetProblem>> {
    let url = http_url(&file.url);
    let username = required(
        &file.username,
        "username",
        "set a user with the Monitoring role",
    );
    let password = required(&file.password, "password", "set password or password_file");
    match (url, username, password) {
        (Ok(url), Ok(username), Ok(password)) => Ok(Settings {
            url,
            username,
            password,
            include_user: file.include_user,
        }),
        (url, username, password) => Err([url.err(), username.err(), password.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}
