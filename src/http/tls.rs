//! Server-side TLS from PEM (the web endpoint and the simulators), and the exporter-toolkit
//! `tls_server_config` options mapped onto rustls: protocol versions, TLS 1.2 cipher suites,
//! key-exchange groups, server cipher order, and the five Go client-auth policies with an
//! optional allowed-SAN check on the client certificate.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use std::sync::Arc;

/// Parses PEM certificates.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    let certs = certs.map_err(|e| format!("invalid PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found in PEM".into());
    }
    Ok(certs)
}

/// Parses a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("invalid PEM private key: {e}"))?
        .ok_or_else(|| "no private key found in PEM".to_string())
}

/// Builds a rustls server config; with `client_ca` set, clients must present a certificate
/// signed by it.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let options = TlsOptions {
        client_auth: if client_ca_pem.is_some() {
            ClientAuth::RequireAndVerifyClientCert
        } else {
            ClientAuth::NoClientCert
        },
        client_ca_pem: client_ca_pem.map(<[u8]>::to_vec),
        ..TlsOptions::default()
    };
    build(cert_pem, key_pem, &options).map_err(|(_, reason)| reason)
}

/// Go's `tls.ClientAuthType`, as the toolkit names it in `client_auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate is asked for.
    #[default]
    NoClientCert,
    /// A certificate is asked for, not required, and not verified.
    RequestClientCert,
    /// A certificate is required but not verified against a CA.
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must verify against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A certificate is required and must verify against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Every policy with its toolkit name.
    pub const ALL: [(&'static str, ClientAuth); 5] = [
        ("NoClientCert", ClientAuth::NoClientCert),
        ("RequestClientCert", ClientAuth::RequestClientCert),
        ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
        (
            "VerifyClientCertIfGiven",
            ClientAuth::VerifyClientCertIfGiven,
        ),
        (
            "RequireAndVerifyClientCert",
            ClientAuth::RequireAndVerifyClientCert,
        ),
    ];

    /// Parses a toolkit name (`RequireClientCert` is the toolkit's old spelling of
    /// `RequireAnyClientCert`; empty means `NoClientCert`).
    pub fn parse(name: &str) -> Option<ClientAuth> {
        match name {
            "" => Some(ClientAuth::NoClientCert),
            "RequireClientCert" => Some(ClientAuth::RequireAnyClientCert),
            _ => Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, a)| *a),
        }
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// Parses the toolkit's `TLS12`/`TLS13`; `TLS10`/`TLS11` are refused with the reason.
    pub fn parse(name: &str) -> Result<TlsVersion, String> {
        match name {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{name} is not supported: the TLS library (rustls) speaks only TLS 1.2 and 1.3, \
                 and TLS 1.0/1.1 are deprecated (RFC 8996); use TLS12 or TLS13"
            )),
            other => Err(format!("unknown TLS version {other:?}; use TLS12 or TLS13")),
        }
    }
}

/// The TLS 1.3 suites, always on (Go does not let them be configured either).
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go's TLS 1.2 suite names (`tls.CipherSuites()` and `tls.InsecureCipherSuites()`) that rustls
/// does not implement: CBC, RSA key exchange, 3DES and RC4.
const GO_ONLY_SUITES: [&str; 14] = [
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
];

/// Maps a Go cipher suite name to a rustls TLS 1.2 suite; `Ok(None)` for a TLS 1.3 suite
/// (accepted and ignored, as Go does).
pub fn cipher_suite(name: &str) -> Result<Option<SupportedCipherSuite>, String> {
    use rustls::crypto::ring::cipher_suite as cs;
    let suite = match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        n if TLS13_SUITES.contains(&n) => return Ok(None),
        n if GO_ONLY_SUITES.contains(&n) => {
            return Err(format!(
                "{n} is not supported: rustls implements only the AEAD suites with ECDHE key \
                 exchange (AES-GCM, ChaCha20-Poly1305), no CBC, RSA key exchange, 3DES or RC4"
            ))
        }
        other => return Err(format!("unknown cipher {other:?}")),
    };
    Ok(Some(suite))
}

/// Maps a Go curve name to a rustls key-exchange group.
pub fn curve(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    use rustls::crypto::ring::kx_group;
    match name {
        "X25519" => Ok(kx_group::X25519),
        "CurveP256" => Ok(kx_group::SECP256R1),
        "CurveP384" => Ok(kx_group::SECP384R1),
        "CurveP521" => Err(
            "CurveP521 is not supported: the TLS library (rustls with ring) implements X25519, \
             CurveP256 and CurveP384 only"
                .into(),
        ),
        other => Err(format!(
            "unknown curve {other:?}; use X25519, CurveP256 or CurveP384"
        )),
    }
}

/// What `tls_server_config` asks for beyond the certificate (already parsed and checked).
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Highest version offered.
    pub max_version: TlsVersion,
    /// TLS 1.2 suites in preference order; empty: rustls' defaults.
    pub cipher_suites: Vec<SupportedCipherSuite>,
    /// Key-exchange groups in preference order; empty: rustls' defaults.
    pub curves: Vec<&'static dyn SupportedKxGroup>,
    /// Pick by the server's order (`prefer_server_cipher_suites`).
    pub prefer_server_cipher_suites: bool,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// CA certificates for verifying clients (PEM).
    pub client_ca_pem: Option<Vec<u8>>,
    /// When set, the client certificate must carry one of these SANs (DNS, IP, e-mail or URI).
    pub client_allowed_sans: Option<Vec<String>>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
            curves: Vec::new(),
            prefer_server_cipher_suites: true,
            client_auth: ClientAuth::NoClientCert,
            client_ca_pem: None,
            client_allowed_sans: None,
        }
    }
}

/// A failure of [`build`]: the `tls_server_config` key it concerns (empty for the whole
/// section) and the reason.
pub type BuildError = (&'static str, String);

/// Builds the server config for `options`.
pub fn build(
    cert_pem: &[u8],
    key_pem: &[u8],
    options: &TlsOptions,
) -> Result<Arc<rustls::ServerConfig>, BuildError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !options.cipher_suites.is_empty() {
        let mut suites: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.tls13().is_some())
            .collect();
        suites.extend(options.cipher_suites.iter().copied());
        provider.cipher_suites = suites;
    }
    if !options.curves.is_empty() {
        provider.kx_groups = options.curves.clone();
    }
    let provider = Arc::new(provider);
    if options.min_version > options.max_version {
        return Err(("min_version", "min_version is above max_version".into()));
    }
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (options.min_version..=options.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ("", e.to_string()))?;
    let builder = match client_verifier(options, &provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let certs = certs_from_pem(cert_pem).map_err(|e| ("cert_file", e))?;
    let key = key_from_pem(key_pem).map_err(|e| ("key_file", e))?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("key_file", format!("certificate and key do not match: {e}")))?;
    config.ignore_client_order = options.prefer_server_cipher_suites;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    options: &TlsOptions,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, BuildError> {
    let auth = options.client_auth;
    if auth == ClientAuth::NoClientCert {
        if options.client_ca_pem.is_some() {
            return Err((
                "client_auth_type",
                "client CAs have been configured without a client auth policy: set \
                 client_auth_type (RequireAndVerifyClientCert to check client certificates \
                 against client_ca_file)"
                    .into(),
            ));
        }
        if options.client_allowed_sans.is_some() {
            return Err((
                "client_allowed_sans",
                "client_allowed_sans needs a client_auth_type that asks for a client \
                 certificate (RequireAndVerifyClientCert)"
                    .into(),
            ));
        }
        return Ok(None);
    }
    let inner: Arc<dyn ClientCertVerifier> = if auth.verifies() {
        let Some(ca) = &options.client_ca_pem else {
            return Err((
                "client_ca_file",
                format!(
                    "required by client_auth_type {auth:?} (the client certificate is verified \
                     against it; the system roots are not used for clients)"
                ),
            ));
        };
        let mut roots = RootCertStore::empty();
        for cert in certs_from_pem(ca).map_err(|e| ("client_ca_file", e))? {
            roots
                .add(cert)
                .map_err(|e| ("client_ca_file", format!("client CA: {e}")))?;
        }
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let builder = if auth == ClientAuth::VerifyClientCertIfGiven {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| ("client_ca_file", format!("client CA: {e}")))?
    } else {
        Arc::new(AnyClientCert {
            mandatory: auth == ClientAuth::RequireAnyClientCert,
            provider: provider.clone(),
        })
    };
    Ok(Some(match &options.client_allowed_sans {
        Some(allowed) => Arc::new(AllowedSans {
            inner,
            allowed: allowed.clone(),
        }),
        None => inner,
    }))
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for but not verified
/// against a CA (the handshake signature still proves the client holds its key).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: after the policy's own check, the client certificate must carry one
/// of the allowed SANs. A certificate is then required, whatever the policy: without one there
/// is nothing to match.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

/// The SANs of a certificate as the toolkit compares them: DNS names, e-mail addresses, IP
/// addresses (textual) and URIs.
pub fn subject_alt_names(cert: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("cannot parse the client certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    names.push((*s).to_string())
                }
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))
                            .to_string(),
                    ),
                    16 => names.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes"))
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(names)
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = subject_alt_names(end_entity).map_err(rustls::Error::General)?;
        if names.iter().any(|n| self.allowed.contains(n)) {
            Ok(verified)
        } else {
            tracing::debug!(found = ?names, allowed = ?self.allowed, "client certificate SAN not allowed");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
