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
        /// The HA group (master and shadow of one Cloud Connector pair) this instance belongs
        /// to; exported as `scc_ha_group_info` so the shipped alerts can reason per group.
        pub ha_group: Option<String>,
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
    /// HA group name.
    pub ha_group: Option<String>,
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
    let ha_group = match file.ha_group.as_deref().map(str::trim) {
        Some("") => Err((
            "ha_group".to_string(),
            "must not be empty; name the HA pair (the same name on both instances) or leave it out"
                .to_string(),
        )),
        other => Ok(other.map(str::to_string)),
    };
    match (url, username, password, ha_group) {
        (Ok(url), Ok(username), Ok(password), Ok(ha_group)) => Ok(Settings {
            url,
            username,
            password,
            include_user: file.include_user,
            ha_group,
        }),
        (url, username, password, ha_group) => {
            Err([url.err(), username.err(), password.err(), ha_group.err()]
                .into_iter()
                .flatten()
                .collect())
        }
    }
}
