//! Upstream TLS material, read and parsed when the config is validated, so that building a
//! target's HTTP client cannot fail on a file the validation accepted.

use super::common::TlsConfig;
use std::path::Path;

/// The certificates and client identity of one target, ready for the HTTP client.
#[derive(Clone, Default)]
pub struct UpstreamTls {
    /// Extra trusted roots (`ca_file`).
    pub roots: Vec<reqwest::Certificate>,
    /// Client certificate and key for mutual TLS.
    pub identity: Option<reqwest::Identity>,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity.is_some())
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl UpstreamTls {
    /// Reads and parses the files named in `tls`; the error says which file and why.
    pub fn load(tls: &TlsConfig) -> Result<UpstreamTls, String> {
        let mut out = UpstreamTls {
            insecure_skip_verify: tls.insecure_skip_verify,
            ..Default::default()
        };
        if let Some(ca) = &tls.ca_file {
            let pem = read(ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", ca.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no certificate found", ca.display()));
            }
            out.roots = certs;
        }
        match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                out.identity = Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!(
                        "{}: client certificate and key unusable: {e}",
                        cert.display()
                    )
                })?);
            }
            (None, None) => {}
            _ => return Err("cert_file and key_file go together for client certificates".into()),
        }
        Ok(out)
    }
}
