//! `--web.config.file` in the Prometheus exporter-toolkit format: TLS and basic auth.

use super::tls;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
}

/// The parsed web config.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for the listener, if configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic auth, if any users are configured.
    pub auth: Option<Arc<BasicAuth>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .finish()
    }
}

impl WebConfig {
    /// Loads and checks a web config file; errors name the file and key.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let at = |key: &str, reason: String| format!("{}: {key}: {reason}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read web config: {e}", path.display()))?;
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig {
                tls_server_config: None,
                basic_auth_users: BTreeMap::new(),
            }
        } else {
            let de = serde_yaml_ng::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(de)
                .map_err(|e| at(&e.path().to_string(), e.inner().to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        let read = |key: &str, p: &PathBuf| {
            std::fs::read(resolve(p))
                .map_err(|e| at(key, format!("cannot read {}: {e}", p.display())))
        };
        let tls = match raw.tls_server_config {
            None => None,
            Some(t) => {
                let cert = read("tls_server_config.cert_file", &t.cert_file)?;
                let key = read("tls_server_config.key_file", &t.key_file)?;
                let client_ca = match t.client_auth_type.as_deref() {
                    None | Some("NoClientCert") => None,
                    Some("RequireAndVerifyClientCert") => {
                        let ca = t.client_ca_file.as_ref().ok_or_else(|| {
                            at("tls_server_config.client_ca_file", "required by RequireAndVerifyClientCert".into())
                        })?;
                        Some(read("tls_server_config.client_ca_file", ca)?)
                    }
                    Some(other) => {
                        return Err(at(
                            "tls_server_config.client_auth_type",
                            format!("{other:?} not supported; use NoClientCert or RequireAndVerifyClientCert"),
                        ))
                    }
                };
                Some(
                    tls::server_config(&cert, &key, client_ca.as_deref())
                        .map_err(|e| at("tls_server_config", e))?,
                )
            }
        };
        let auth = if raw.basic_auth_users.is_empty() {
            None
        } else {
            for (user, hash) in &raw.basic_auth_users {
                hash.parse::<bcrypt::HashParts>().map_err(|e| {
                    at(
                        &format!("basic_auth_users.{user}"),
                        format!("not a bcrypt hash: {e}"),
                    )
                })?;
            }
            Some(Arc::new(BasicAuth::new(raw.basic_auth_users)))
        };
        Ok(WebConfig { tls, auth })
    }
}

/// Basic auth against bcrypt hashes, with a cache of verified credentials (bcrypt is slow by
/// design) and equal work for unknown users (no timing oracle for user existence).
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    dummy_hash: String,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> Self {
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy_hash =
            bcrypt::hash("usage_exporter unknown user", cost).expect("bcrypt with a valid cost");
        BasicAuth {
            users,
            dummy_hash,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Checks an `Authorization` header value; blocking (bcrypt), call off the async threads.
    pub fn check(&self, header: Option<&str>) -> bool {
        use base64::Engine;
        let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let cache_key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if self
            .verified
            .lock()
            .expect("auth cache")
            .contains(&cache_key)
        {
            return true;
        }
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (self.dummy_hash.as_str(), false),
        };
        let ok = bcrypt::verify(password, hash).unwrap_or(false) && known;
        if ok {
            let mut cache = self.verified.lock().expect("auth cache");
            if cache.len() > 1024 {
                cache.clear();
            }
            cache.insert(cache_key);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn header(user: &str, password: &str) -> String {
        let pair = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    #[test]
    fn unknown_users_cost_the_same_bcrypt_work_as_known_ones() {
        let users = BTreeMap::from([
            ("alice".to_string(), bcrypt::hash("pw", 4).unwrap()),
            ("bob".to_string(), bcrypt::hash("pw", 8).unwrap()),
        ]);
        let auth = BasicAuth::new(users);
        // The decoy hash an unknown user is checked against has the highest configured cost.
        let decoy: bcrypt::HashParts = auth.dummy_hash.parse().unwrap();
        assert_eq!(decoy.get_cost(), 8);

        // And it is really verified: an unknown user takes bcrypt time, not a map lookup.
        let time = |h: &str| {
            (0..3)
                .map(|_| {
                    let started = std::time::Instant::now();
                    assert!(!auth.check(Some(h)));
                    started.elapsed()
                })
                .min()
                .unwrap()
        };
        let wrong_password = time(&header("bob", "nope"));
        let unknown_user = time(&header("mallory", "nope"));
        assert!(
            unknown_user * 2 > wrong_password,
            "unknown user {unknown_user:?} vs wrong password {wrong_password:?}"
        );
        assert!(auth.check(Some(&header("bob", "pw"))));
        assert!(auth.check(Some(&header("bob", "pw"))), "cached");
        assert!(!auth.check(Some("Bearer x")));
        assert!(!auth.check(None));
    }
}
