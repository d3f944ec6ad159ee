//! `--web.config.file` in the Prometheus exporter-toolkit format: TLS (with client
//! certificates), HTTP response headers, basic auth and a rate limit. See docs/web-config.md.

use super::headers::ExtraHeaders;
use super::ratelimit::RateLimiter;
use super::tls::{self, ClientAuth, TlsOptions, TlsVersion};
use crate::base::duration::parse_duration;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

impl RawTls {
    /// The toolkit's `IsEnabled`: any of these turns TLS on (and then cert and key are needed).
    fn enabled(&self) -> bool {
        let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        let set_path = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| !p.as_os_str().is_empty());
        set(&self.cert)
            || set(&self.key)
            || set(&self.client_ca)
            || set(&self.client_auth_type)
            || set_path(&self.cert_file)
            || set_path(&self.key_file)
            || set_path(&self.client_ca_file)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<String>,
    #[serde(default)]
    burst: u32,
}

/// Why a web config file was refused: the file, the key (dotted path, empty for the whole
/// file) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.line())]
pub struct WebConfigError {
    /// The web config file.
    pub file: PathBuf,
    /// E.g. `tls_server_config.min_version`.
    pub key: String,
    /// What is wrong and what to write instead.
    pub reason: String,
}

impl WebConfigError {
    fn line(&self) -> String {
        if self.key.is_empty() {
            format!("{}: {}", self.file.display(), self.reason)
        } else {
            format!("{}: {}: {}", self.file.display(), self.key, self.reason)
        }
    }
}

/// The parsed web config.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for the listener, if configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic auth, if any users are configured.
    pub auth: Option<Arc<BasicAuth>>,
    /// Headers added to every response (`http_server_config.headers`).
    pub headers: ExtraHeaders,
    /// The request rate limit (`rate_limit`), if set.
    pub rate_limit: Option<Arc<RateLimiter>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// The web config in force, swapped on reload; each new connection takes the current one.
pub type WebHandle = Arc<arc_swap::ArcSwap<WebConfig>>;

/// A handle holding `web`.
pub fn web_handle(web: WebConfig) -> WebHandle {
    Arc::new(arc_swap::ArcSwap::from_pointee(web))
}

const TLS: &str = "tls_server_config";

impl WebConfig {
    /// Loads and checks a web config file; errors name the file, the key and the reason.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let at = |key: &str, reason: String| WebConfigError {
            file: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| at("", format!("cannot read web config: {e}")))?;
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            let de = serde_yaml_ng::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let key = e.path().to_string();
                let key = if key == "." { String::new() } else { key };
                at(&key, e.inner().to_string())
            })?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match raw.tls_server_config {
            Some(t) if t.enabled() => Some(load_tls(t, base, &at)?),
            Some(t) => {
                // Options without a certificate: the toolkit serves plain HTTP then and ignores
                // them; say so instead of ignoring silently.
                let unused = t.client_allowed_sans.is_some()
                    || t.min_version.is_some()
                    || t.max_version.is_some()
                    || t.cipher_suites.is_some()
                    || t.curve_preferences.is_some();
                if unused {
                    return Err(at(
                        TLS,
                        "TLS options are set but no certificate: set cert_file and key_file (or \
                         cert and key), or remove the section"
                            .into(),
                    ));
                }
                None
            }
            None => None,
        };
        let headers = match raw.http_server_config {
            None => ExtraHeaders::default(),
            Some(http) => {
                if http.http2 == Some(true) {
                    return Err(at(
                        "http_server_config.http2",
                        "HTTP/2 is not served: usage_exporter speaks HTTP/1.1 only (its header \
                         read timeout and request head limits guard the scrape against slow \
                         clients); remove the key or set it to false"
                            .into(),
                    ));
                }
                ExtraHeaders::parse(http.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(|(name, reason)| {
                        at(&format!("http_server_config.headers.{name}"), reason)
                    })?
            }
        };
        let rate_limit = match raw.rate_limit {
            None => None,
            Some(r) => {
                let interval = match r.interval.as_deref().map(str::trim) {
                    None | Some("0") | Some("") => Duration::ZERO,
                    Some(text) => parse_duration(text).map_err(|e| at("rate_limit.interval", e))?,
                };
                if interval.is_zero() {
                    None
                } else if r.burst == 0 {
                    return Err(at(
                        "rate_limit.burst",
                        "must be at least 1 when rate_limit.interval is set (0 would refuse \
                         every request); set interval: 0 to turn the limit off"
                            .into(),
                    ));
                } else {
                    Some(Arc::new(RateLimiter::new(interval, r.burst)))
                }
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
        Ok(WebConfig {
            tls,
            auth,
            headers,
            rate_limit,
        })
    }
}

/// The PEM of an inline value or a file (relative to the web config's folder), never both.
fn pem_source(
    inline: Option<String>,
    file: Option<PathBuf>,
    inline_key: &str,
    file_key: &str,
    base: &Path,
    at: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<Option<Vec<u8>>, WebConfigError> {
    let inline = inline.filter(|s| !s.is_empty());
    let file = file.filter(|p| !p.as_os_str().is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => Err(at(
            &format!("{TLS}.{inline_key}"),
            format!("set {inline_key} or {file_key}, not both"),
        )),
        (Some(text), None) => Ok(Some(text.into_bytes())),
        (None, Some(p)) => {
            let full = if p.is_absolute() {
                p.clone()
            } else {
                base.join(&p)
            };
            std::fs::read(&full).map(Some).map_err(|e| {
                at(
                    &format!("{TLS}.{file_key}"),
                    format!("cannot read {}: {e}", p.display()),
                )
            })
        }
        (None, None) => Ok(None),
    }
}

fn load_tls(
    t: RawTls,
    base: &Path,
    at: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<Arc<rustls::ServerConfig>, WebConfigError> {
    let key_at = |key: &str| format!("{TLS}.{key}");
    // Errors about PEM content name the key it came from: inline (`cert`) or a file.
    let inline = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    let named = [
        (
            "cert_file",
            if inline(&t.cert) { "cert" } else { "cert_file" },
        ),
        ("key_file", if inline(&t.key) { "key" } else { "key_file" }),
        (
            "client_ca_file",
            if inline(&t.client_ca) {
                "client_ca"
            } else {
                "client_ca_file"
            },
        ),
    ];
    let cert =
        pem_source(t.cert, t.cert_file, "cert", "cert_file", base, at)?.ok_or_else(|| {
            at(
                &key_at("cert_file"),
                "missing one of cert or cert_file".into(),
            )
        })?;
    let key = pem_source(t.key, t.key_file, "key", "key_file", base, at)?
        .ok_or_else(|| at(&key_at("key_file"), "missing one of key or key_file".into()))?;
    let client_ca_pem = pem_source(
        t.client_ca,
        t.client_ca_file,
        "client_ca",
        "client_ca_file",
        base,
        at,
    )?;
    let client_auth = match t.client_auth_type.as_deref() {
        None => ClientAuth::NoClientCert,
        Some(name) => ClientAuth::parse(name).ok_or_else(|| {
            let names: Vec<&str> = ClientAuth::ALL.iter().map(|(n, _)| *n).collect();
            at(
                &key_at("client_auth_type"),
                format!(
                    "invalid ClientAuth {name:?}; use one of {}",
                    names.join(", ")
                ),
            )
        })?,
    };
    let version = |key: &str, v: &Option<String>, default: TlsVersion| match v {
        None => Ok(default),
        Some(name) => TlsVersion::parse(name).map_err(|e| at(&key_at(key), e)),
    };
    let mut cipher_suites = Vec::new();
    for (i, name) in t.cipher_suites.iter().flatten().enumerate() {
        if let Some(suite) =
            tls::cipher_suite(name).map_err(|e| at(&key_at(&format!("cipher_suites[{i}]")), e))?
        {
            cipher_suites.push(suite);
        }
    }
    let mut curves = Vec::new();
    for (i, name) in t.curve_preferences.iter().flatten().enumerate() {
        curves.push(
            tls::curve(name).map_err(|e| at(&key_at(&format!("curve_preferences[{i}]")), e))?,
        );
    }
    let options = TlsOptions {
        min_version: version("min_version", &t.min_version, TlsVersion::Tls12)?,
        max_version: version("max_version", &t.max_version, TlsVersion::Tls13)?,
        cipher_suites,
        curves,
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
        client_auth,
        client_ca_pem,
        client_allowed_sans: t.client_allowed_sans,
    };
    tls::build(&cert, &key, &options).map_err(|(key, reason)| {
        if key.is_empty() {
            at(TLS, reason)
        } else {
            let key = named
                .iter()
                .find(|(file_key, _)| *file_key == key)
                .map_or(key, |(_, used)| used);
            at(&key_at(key), reason)
        }
    })
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
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (self.dummy_hash.as_str(), false),
        };
        // The key binds the user, the hash it is checked against and the password, each
        // length-prefixed: no other (user, password) pair maps onto a cached login's key
        // (CVE-2022-46146 was a cache key built by plain concatenation).
        let len = |s: &str| (s.len() as u64).to_be_bytes();
        let cache_key: [u8; 32] = Sha256::new()
            .chain_update(len(user))
            .chain_update(user.as_bytes())
            .chain_update(len(hash))
            .chain_update(hash.as_bytes())
            .chain_update(len(password))
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if known
            && self
                .verified
                .lock()
                .expect("auth cache")
                .contains(&cache_key)
        {
            return true;
        }
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

    /// exporter-toolkit's TestByPassBasicAuthVuln (CVE-2022-46146), on the checker itself.
    #[test]
    fn the_cache_cannot_be_poisoned() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_string(), hash.clone())]));
        assert!(!auth.check(Some(&header(&format!("alice{hash}"), "fakepassword"))));
        assert!(!auth.check(Some(&header("alice", &format!("{hash}fakepassword")))));
        assert!(auth.check(Some(&header("alice", "right"))));
        assert_eq!(
            auth.verified.lock().unwrap().len(),
            1,
            "the good login is cached"
        );
        assert!(!auth.check(Some(&header("alice", "wrong"))));
        assert!(!auth.check(Some(&header("alic", "eright"))));
        assert!(!auth.check(Some(&header("alice", "righ"))));
        assert!(auth.check(Some(&header("alice", "right"))));

        // Two users whose name and password run into each other: "ann" + "a-pw" and
        // "anna" + "-pw" are the same bytes; a cached login of one must not admit the other.
        let auth = BasicAuth::new(BTreeMap::from([
            ("ann".to_string(), bcrypt::hash("a-pw", 4).unwrap()),
            ("anna".to_string(), bcrypt::hash("anna-pw", 4).unwrap()),
        ]));
        assert!(auth.check(Some(&header("ann", "a-pw"))));
        assert!(!auth.check(Some(&header("anna", "-pw"))));
        assert!(auth.check(Some(&header("anna", "anna-pw"))));
        assert!(!auth.check(Some(&header("ann", "aanna-pw"))));
    }
}
