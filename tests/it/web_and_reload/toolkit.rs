//! A port of exporter-toolkit's web-config tests (web/tls_config_test.go, web/handler_test.go,
//! web/testdata/*): bad files and keys, TLS versions, cipher suites, curves, every
//! client_auth_type with and without client certificates, allowed SANs, inline PEM, headers,
//! basic auth with the CVE-2022-46146 cache regression, the rate limit, and reload. Real TLS
//! handshakes against the daemon on 127.0.0.1 with rustls clients.

use super::GOOD;
use crate::support;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::crypto::ring::{cipher_suite as cs, kx_group};
use rustls::crypto::SupportedKxGroup;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CipherSuite, ProtocolVersion, SupportedCipherSuite, SupportedProtocolVersion};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use usage_exporter::daemon::{self, ConfigSource, Options};
use usage_exporter::http::WebConfig;

/// A test CA with the server's and clients' certificates, written into a folder.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &ca.pem());
        let leaf = |file: &str, sans: Vec<SanType>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.subject_alt_names = sans;
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&format!("{file}.pem"), &cert.pem());
            write(&format!("{file}.key"), &key.serialize_pem());
        };
        let dns = |s: &str| SanType::DnsName(s.try_into().unwrap());
        leaf(
            "server",
            vec![dns("localhost"), SanType::IpAddress([127, 0, 0, 1].into())],
        );
        leaf("client", vec![dns("prometheus")]);
        leaf("client_other", vec![dns("somebody-else")]);
        leaf(
            "client_email",
            vec![SanType::Rfc822Name("ops@example.com".try_into().unwrap())],
        );
        leaf(
            "client_uri",
            vec![SanType::URI(
                "spiffe://example.org/prometheus".try_into().unwrap(),
            )],
        );
        // Self-signed: no CA vouches for it.
        let selfsigned = rcgen::generate_simple_self_signed(vec!["prometheus".into()]).unwrap();
        write("selfsigned.pem", &selfsigned.cert.pem());
        write("selfsigned.key", &selfsigned.signing_key.serialize_pem());
        std::fs::write(dir.path().join("ue.yml"), GOOD).unwrap();
        Pki {
            dir,
            ca_pem: ca.pem(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn web_file(&self, yaml: &str) -> PathBuf {
        let path = self.path("web.yml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn load(&self, yaml: &str) -> Result<WebConfig, String> {
        WebConfig::load(&self.web_file(yaml)).map_err(|e| e.to_string())
    }

    async fn start(&self, yaml: &str) -> daemon::Running {
        let web = self.load(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
        daemon::start(Options {
            web,
            ..Options::new(ConfigSource::File(self.path("ue.yml")), "127.0.0.1:0")
        })
        .await
        .expect("daemon starts")
    }
}

const SERVER: &str = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";

/// What a rustls client offers.
#[derive(Default)]
struct Client {
    versions: Option<Vec<&'static SupportedProtocolVersion>>,
    suites: Option<Vec<SupportedCipherSuite>>,
    groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    /// Certificate and key file stem in the PKI folder.
    identity: Option<&'static str>,
}

#[derive(Debug)]
struct Negotiated {
    version: ProtocolVersion,
    suite: CipherSuite,
    group: String,
}

impl Client {
    fn config(&self, pki: &Pki) -> Arc<rustls::ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(s) = &self.suites {
            provider.cipher_suites = s.clone();
        }
        if let Some(g) = &self.groups {
            provider.kx_groups = g.clone();
        }
        let versions = self
            .versions
            .clone()
            .unwrap_or_else(|| vec![&rustls::version::TLS13, &rustls::version::TLS12]);
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match self.identity {
            None => builder.with_no_client_auth(),
            Some(stem) => {
                let certs: Vec<CertificateDer<'static>> =
                    rustls_pemfile::certs(&mut pki.read(&format!("{stem}.pem")).as_bytes())
                        .map(Result::unwrap)
                        .collect();
                let key =
                    rustls_pemfile::private_key(&mut pki.read(&format!("{stem}.key")).as_bytes())
                        .unwrap()
                        .unwrap();
                builder.with_client_auth_cert(certs, key).unwrap()
            }
        };
        Arc::new(config)
    }

    /// Handshakes, asks for /metrics and wants 200: the negotiated parameters, or why not.
    async fn get(&self, pki: &Pki, addr: SocketAddr) -> Result<Negotiated, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(self.config(pki));
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (_, conn) = tls.get_ref();
        let negotiated = Negotiated {
            version: conn.protocol_version().unwrap(),
            suite: conn.negotiated_cipher_suite().unwrap().suite(),
            group: conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()))
                .unwrap_or_default(),
        };
        tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        // With TLS 1.3 a refused client certificate shows only here, on the first read.
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("closed before a response".into());
            }
            head.extend_from_slice(&buf[..n]);
        }
        if !head.starts_with(b"HTTP/1.1 200") {
            return Err(String::from_utf8_lossy(&head).into_owned());
        }
        Ok(negotiated)
    }
}

fn tls12() -> Option<Vec<&'static SupportedProtocolVersion>> {
    Some(vec![&rustls::version::TLS12])
}

fn tls13() -> Option<Vec<&'static SupportedProtocolVersion>> {
    Some(vec![&rustls::version::TLS13])
}

#[test]
fn bad_web_configs_name_the_file_key_and_reason() {
    let pki = Pki::new();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let cases: Vec<(String, &str)> = vec![
        // tls_config_test.go's bad rows.
        ("tls_server_config: [1, 2\n".into(), "web.yml: "),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  colour: red\n".into(), "unknown field `colour`"),
        ("tls_server_config:\n  cert_file: \"\"\n  key_file: server.key\n".into(), "tls_server_config.cert_file: missing one of cert or cert_file"),
        ("tls_server_config:\n  cert: \"\"\n  key_file: server.key\n".into(), "tls_server_config.cert_file: missing one of cert or cert_file"),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: \"\"\n".into(), "tls_server_config.key_file: missing one of key or key_file"),
        ("tls_server_config:\n  cert_file: server.pem\n  key: \"\"\n".into(), "tls_server_config.key_file: missing one of key or key_file"),
        ("tls_server_config:\n  cert_file: \"\"\n  key_file: \"\"\n  client_auth_type: RequireAnyClientCert\n".into(), "tls_server_config.cert_file: missing one of cert or cert_file"),
        ("tls_server_config:\n  cert_file: nope.pem\n  key_file: server.key\n".into(), "tls_server_config.cert_file: cannot read nope.pem"),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: nope.key\n".into(), "tls_server_config.key_file: cannot read nope.key"),
        (format!("{SERVER}  client_ca_file: ca.pem\n"), "tls_server_config.client_auth_type: client CAs have been configured without a client auth policy"),
        (format!("{SERVER}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.pem\n"), "tls_server_config.client_ca_file: cannot read nope.pem"),
        (format!("{SERVER}  client_auth_type: RequireAndVerifyClientCert\n"), "tls_server_config.client_ca_file: required by client_auth_type RequireAndVerifyClientCert"),
        (format!("{SERVER}  client_auth_type: VerifyClientCertIfGiven\n"), "tls_server_config.client_ca_file: required by client_auth_type VerifyClientCertIfGiven"),
        (format!("{SERVER}  client_auth_type: Sometimes\n"), "tls_server_config.client_auth_type: invalid ClientAuth \"Sometimes\""),
        (format!("{SERVER}  client_allowed_sans: [prometheus]\n"), "tls_server_config.client_allowed_sans: client_allowed_sans needs a client_auth_type"),
        ("basic_auth_users:\n  alice: $2y$10$invalid\n".into(), "basic_auth_users.alice: not a bcrypt hash"),
        (format!("{SERVER}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_INVENTED_CIPHER]\n"), "tls_server_config.cipher_suites[1]: unknown cipher \"TLS_INVENTED_CIPHER\""),
        (format!("{SERVER}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"), "tls_server_config.cipher_suites[0]: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not supported: rustls implements only"),
        (format!("{SERVER}  curve_preferences: [CurveP257]\n"), "tls_server_config.curve_preferences[0]: unknown curve \"CurveP257\""),
        (format!("{SERVER}  curve_preferences: [X25519, CurveP521]\n"), "tls_server_config.curve_preferences[1]: CurveP521 is not supported"),
        (format!("{SERVER}  min_version: TLS111\n"), "tls_server_config.min_version: unknown TLS version \"TLS111\""),
        (format!("{SERVER}  min_version: TLS10\n"), "tls_server_config.min_version: TLS10 is not supported: the TLS library (rustls) speaks only TLS 1.2 and 1.3"),
        (format!("{SERVER}  max_version: TLS11\n"), "tls_server_config.max_version: TLS11 is not supported"),
        (format!("{SERVER}  min_version: TLS13\n  max_version: TLS12\n"), "tls_server_config.min_version: min_version is above max_version"),
        (format!("{SERVER}  cert: inline\n"), "tls_server_config.cert: set cert or cert_file, not both"),
        ("tls_server_config:\n  cert_file: ca.pem\n  key_file: server.key\n".into(), "tls_server_config.key_file: certificate and key do not match"),
        ("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n".into(), "tls_server_config.cert_file: no certificate found in PEM"),
        ("tls_server_config:\n  min_version: TLS13\n".into(), "tls_server_config: TLS options are set but no certificate"),
        ("tls_server_config:\n  cert: not a pem\n  key_file: server.key\n".into(), "tls_server_config.cert: no certificate found in PEM"),
        ("tls_server_config:\n  cert_file: server.pem\n  key: not a pem\n".into(), "tls_server_config.key: no private key found in PEM"),
        // Headers (web_config_headers_*.bad.yml).
        ("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n".into(), "http_server_config.headers.X-Content-Type-Options: invalid value \"sniff\""),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(), "http_server_config.headers.X-Frame-Options: invalid value \"allow\""),
        ("http_server_config:\n  headers:\n    Server: Prometheus\n".into(), "http_server_config.headers.Server: HTTP header \"Server\" can not be configured"),
        ("http_server_config:\n  http2: true\n".into(), "http_server_config.http2: HTTP/2 is not served"),
        // Rate limit.
        ("rate_limit:\n  interval: 1s\n".into(), "rate_limit.burst: must be at least 1"),
        ("rate_limit:\n  interval: soon\n  burst: 2\n".into(), "rate_limit.interval: invalid duration \"soon\""),
        ("rate_limit:\n  interval: 1s\n  burst: -1\n".into(), "rate_limit.burst"),
    ];
    for (yaml, wanted) in &cases {
        match pki.load(yaml) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => {
                assert!(
                    e.starts_with(&pki.path("web.yml").display().to_string()),
                    "{e}"
                );
                assert!(e.contains(wanted), "{yaml}\nwanted {wanted:?} in\n{e}");
            }
        }
    }
    let missing = WebConfig::load(&pki.path("somefile")).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("somefile: cannot read web config"),
        "{missing}"
    );

    // The good ones.
    for yaml in [
        String::new(),
        "http_server_config:\n  http2: false\n".into(),
        format!("{SERVER}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256]\n"),
        format!("{SERVER}  curve_preferences: [CurveP256, CurveP384, X25519]\n"),
        format!("{SERVER}  client_auth_type: RequireClientCert\n"),
        format!("basic_auth_users:\n  alice: {hash}\nrate_limit:\n  interval: 0\n  burst: 0\n"),
    ] {
        pki.load(&yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    }
}

#[tokio::test]
async fn tls_versions() {
    let pki = Pki::new();
    let default = pki.start(SERVER).await;
    let got = Client {
        versions: tls12(),
        ..Client::default()
    }
    .get(&pki, default.addr)
    .await
    .unwrap();
    assert_eq!(got.version, ProtocolVersion::TLSv1_2);
    let got = Client::default().get(&pki, default.addr).await.unwrap();
    assert_eq!(got.version, ProtocolVersion::TLSv1_3);
    // Plain HTTP to the TLS listener gets no HTTP answer.
    let plain = reqwest::get(format!("http://{}/metrics", default.addr)).await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    default.stop().await;

    let only13 = pki.start(&format!("{SERVER}  min_version: TLS13\n")).await;
    let e = Client {
        versions: tls12(),
        ..Client::default()
    }
    .get(&pki, only13.addr)
    .await
    .unwrap_err();
    assert!(e.contains("handshake"), "{e}");
    assert!(Client {
        versions: tls13(),
        ..Client::default()
    }
    .get(&pki, only13.addr)
    .await
    .is_ok());
    only13.stop().await;

    let only12 = pki.start(&format!("{SERVER}  max_version: TLS12\n")).await;
    let e = Client {
        versions: tls13(),
        ..Client::default()
    }
    .get(&pki, only12.addr)
    .await
    .unwrap_err();
    assert!(e.contains("handshake"), "{e}");
    let got = Client::default().get(&pki, only12.addr).await.unwrap();
    assert_eq!(got.version, ProtocolVersion::TLSv1_2);
    only12.stop().await;
}

#[tokio::test]
async fn cipher_suites_and_server_order() {
    let pki = Pki::new();
    // The test certificates have ECDSA keys.
    let some = "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n";
    let server_order = pki.start(&format!("{SERVER}{some}")).await;
    let client = |suites: Vec<SupportedCipherSuite>| Client {
        versions: tls12(),
        suites: Some(suites),
        ..Client::default()
    };
    // No common cipher.
    let e = client(vec![cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256])
        .get(&pki, server_order.addr)
        .await
        .unwrap_err();
    assert!(e.contains("handshake"), "{e}");
    // The client prefers AES-256, the server's order wins (prefer_server_cipher_suites default).
    let both = vec![
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    let got = client(both.clone())
        .get(&pki, server_order.addr)
        .await
        .unwrap();
    assert_eq!(
        got.suite,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
    // TLS 1.3 is not affected (its suites are not configurable, as in Go).
    let got = Client {
        versions: tls13(),
        ..Client::default()
    }
    .get(&pki, server_order.addr)
    .await
    .unwrap();
    assert_eq!(got.version, ProtocolVersion::TLSv1_3);
    server_order.stop().await;

    let client_order = pki
        .start(&format!(
            "{SERVER}{some}  prefer_server_cipher_suites: false\n"
        ))
        .await;
    let got = client(both).get(&pki, client_order.addr).await.unwrap();
    assert_eq!(
        got.suite,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
    client_order.stop().await;
}

#[tokio::test]
async fn curve_preferences() {
    let pki = Pki::new();
    let running = pki
        .start(&format!("{SERVER}  curve_preferences: [CurveP384]\n"))
        .await;
    for versions in [tls12(), tls13()] {
        let e = Client {
            versions: versions.clone(),
            groups: Some(vec![kx_group::X25519]),
            ..Client::default()
        }
        .get(&pki, running.addr)
        .await
        .unwrap_err();
        assert!(e.contains("handshake"), "no common curve: {e}");
        let got = Client {
            versions,
            groups: Some(vec![kx_group::X25519, kx_group::SECP384R1]),
            ..Client::default()
        }
        .get(&pki, running.addr)
        .await
        .unwrap();
        assert_eq!(got.group, "secp384r1", "{got:?}");
    }
    running.stop().await;
    let all = pki
        .start(&format!(
            "{SERVER}  curve_preferences: [CurveP256, CurveP384, X25519]\n"
        ))
        .await;
    let got = Client {
        groups: Some(vec![kx_group::SECP256R1]),
        ..Client::default()
    }
    .get(&pki, all.addr)
    .await
    .unwrap();
    assert_eq!(got.group, "secp256r1");
    all.stop().await;
}

#[tokio::test]
async fn every_client_auth_type_with_and_without_client_certificates() {
    let pki = Pki::new();
    // (client_auth_type, with client_ca_file, [no cert, CA-signed cert, self-signed cert]).
    let table: [(&str, bool, [bool; 3]); 6] = [
        ("NoClientCert", false, [true, true, true]),
        ("RequestClientCert", false, [true, true, true]),
        ("RequireAnyClientCert", false, [false, true, true]),
        ("RequireAnyClientCert", true, [false, true, true]),
        ("VerifyClientCertIfGiven", true, [true, true, false]),
        ("RequireAndVerifyClientCert", true, [false, true, false]),
    ];
    for (auth, with_ca, expected) in table {
        let ca = if with_ca {
            "  client_ca_file: ca.pem\n"
        } else {
            ""
        };
        let running = pki
            .start(&format!("{SERVER}  client_auth_type: {auth}\n{ca}"))
            .await;
        for (identity, want) in [None, Some("client"), Some("selfsigned")]
            .into_iter()
            .zip(expected)
        {
            for versions in [tls12(), tls13()] {
                let got = Client {
                    versions: versions.clone(),
                    identity,
                    ..Client::default()
                }
                .get(&pki, running.addr)
                .await;
                assert_eq!(
                    got.is_ok(),
                    want,
                    "{auth} with {identity:?} over {versions:?}: {got:?}"
                );
            }
        }
        running.stop().await;
    }
}

#[tokio::test]
async fn client_allowed_sans() {
    let pki = Pki::new();
    let verified = format!(
        "{SERVER}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus, ops@example.com, spiffe://example.org/prometheus]\n"
    );
    let running = pki.start(&verified).await;
    for (identity, want) in [
        (None, false),
        (Some("client"), true),
        (Some("client_email"), true),
        (Some("client_uri"), true),
        (Some("client_other"), false),
        (Some("selfsigned"), false),
    ] {
        for versions in [tls12(), tls13()] {
            let got = Client {
                versions: versions.clone(),
                identity,
                ..Client::default()
            }
            .get(&pki, running.addr)
            .await;
            assert_eq!(got.is_ok(), want, "{identity:?} over {versions:?}: {got:?}");
        }
    }
    running.stop().await;

    // With RequireAnyClientCert only the SAN is checked (the self-signed one has "prometheus"),
    // and an IP SAN matches in its textual form.
    let any = pki
        .start(&format!("{SERVER}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [prometheus, 127.0.0.1]\n"))
        .await;
    for (identity, want) in [
        (None, false),
        (Some("selfsigned"), true),
        (Some("client_other"), false),
        (Some("server"), true),
    ] {
        let got = Client {
            identity,
            ..Client::default()
        }
        .get(&pki, any.addr)
        .await;
        assert_eq!(got.is_ok(), want, "{identity:?}: {got:?}");
    }
    any.stop().await;
}

#[tokio::test]
async fn inline_certificate_key_and_client_ca() {
    let pki = Pki::new();
    let indent = |pem: String| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let yaml = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_auth_type: RequireAndVerifyClientCert\n  client_ca: |\n{}",
        indent(pki.read("server.pem")),
        indent(pki.read("server.key")),
        indent(pki.read("ca.pem")),
    );
    let running = pki.start(&yaml).await;
    assert!(Client {
        identity: Some("client"),
        ..Client::default()
    }
    .get(&pki, running.addr)
    .await
    .is_ok());
    assert!(Client::default().get(&pki, running.addr).await.is_err());
    running.stop().await;
    // Certificate from a file, key inline (the toolkit's keyinline testdata).
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key: |\n{}",
        indent(pki.read("server.key"))
    );
    let running = pki.start(&yaml).await;
    assert!(Client::default().get(&pki, running.addr).await.is_ok());
    running.stop().await;
}

const ALICE_HASH_COST: u32 = 4;

#[tokio::test]
async fn basic_auth_cache_cannot_be_poisoned_cve_2022_46146() {
    let pki = Pki::new();
    let hash = bcrypt::hash("right-password", ALICE_HASH_COST).unwrap();
    let running = pki
        .start(&format!("basic_auth_users:\n  alice: {hash}\n"))
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", running.url());
    let status = |user: String, password: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get(&url)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The toolkit's TestByPassBasicAuthVuln, with this user's hash: poison the cache with a
    // user name that ends in the hash, then log in with the hash prefix in the password.
    assert_eq!(
        status(format!("alice{hash}"), "fakepassword".into()).await,
        401
    );
    assert_eq!(
        status("alice".into(), format!("{hash}fakepassword")).await,
        401
    );
    // A correct login is cached; a wrong password after it is still refused, and so are
    // splits of the same bytes between user and password.
    assert_eq!(status("alice".into(), "right-password".into()).await, 200);
    assert_eq!(status("alice".into(), "right-password".into()).await, 200);
    assert_eq!(status("alice".into(), "wrong".into()).await, 401);
    assert_eq!(status("alice".into(), "right-passwor".into()).await, 401);
    assert_eq!(status("alic".into(), "eright-password".into()).await, 401);
    assert_eq!(status("alice".into(), "right-password\0".into()).await, 401);
    running.stop().await;

    // Two users whose name and password run into each other ("ann" + "a-pw" = "anna" + "-pw").
    let ann = bcrypt::hash("a-pw", ALICE_HASH_COST).unwrap();
    let anna = bcrypt::hash("anna-pw", ALICE_HASH_COST).unwrap();
    let running = pki
        .start(&format!(
            "basic_auth_users:\n  ann: {ann}\n  anna: {anna}\n"
        ))
        .await;
    let url = format!("{}/metrics", running.url());
    for (user, password, want) in [
        ("ann", "a-pw", 200),
        ("anna", "-pw", 401),
        ("anna", "anna-pw", 200),
        ("ann", "aanna-pw", 401),
    ] {
        let got = client
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(got, want, "{user}:{password}");
    }
    running.stop().await;
}

#[tokio::test]
async fn headers_on_every_response() {
    let pki = Pki::new();
    let hash = bcrypt::hash("pw", ALICE_HASH_COST).unwrap();
    let running = pki
        .start(&format!(
            "http_server_config:\n  http2: false\n  headers:\n    Content-Security-Policy: \"default-src 'self'\"\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: \"1; mode=block\"\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\nbasic_auth_users:\n  alice: {hash}\n"
        ))
        .await;
    let client = reqwest::Client::new();
    let url = running.url();
    for (path, auth, status) in [
        ("/metrics", true, 200),
        ("/", true, 200),
        ("/-/healthy", true, 200),
        ("/nowhere", true, 404),
        ("/metrics", false, 401),
    ] {
        let mut req = client.get(format!("{url}{path}"));
        if auth {
            req = req.basic_auth("alice", Some("pw"));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        let h = resp.headers();
        assert_eq!(h["content-security-policy"], "default-src 'self'", "{path}");
        assert_eq!(h["x-frame-options"], "deny");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-xss-protection"], "1; mode=block");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_before_authentication() {
    let pki = Pki::new();
    let hash = bcrypt::hash("pw", ALICE_HASH_COST).unwrap();
    // An hour per token: within the test no token comes back, so the counts are exact.
    let running = pki
        .start(&format!(
            "rate_limit:\n  interval: 1h\n  burst: 3\nbasic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        ))
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", running.url());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client
            .get(&url)
            .basic_auth("alice", Some("pw"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200]);
    // Over the limit: no credentials gets 429, not 401; good ones get 429 too.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-frame-options"], "deny", "headers on 429 too");
    assert!(!r.headers().contains_key("www-authenticate"));
    let r = client
        .get(&url)
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let r = client
        .get(format!("{}/-/healthy", running.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the bucket covers every path");
    running.stop().await;

    // Without auth, a short interval: 100 quick requests against a burst of 5 and a token
    // every 500 ms. The burst is served; all 100 could pass only if they took over 47 s.
    let running = pki
        .start("rate_limit:\n  interval: 500ms\n  burst: 5\n")
        .await;
    let url = format!("{}/-/healthy", running.url());
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..100 {
        match client.get(&url).send().await.unwrap().status().as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("status {other}"),
        }
    }
    assert!(ok >= 5, "the burst is served: {ok}");
    assert!(limited >= 1, "{ok} ok, {limited} limited");
    // A pause of at least two intervals brings tokens back (a lower bound, not a race).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        200,
        "refilled after a pause"
    );
    running.stop().await;
}

/// POST /-/reload (behind basic auth like every page).
async fn reload(url: &str, user: &str, password: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{url}/-/reload"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn reload_applies_a_good_web_config_and_refuses_a_bad_one() {
    let pki = Pki::new();
    let alice = bcrypt::hash("alice-pw", ALICE_HASH_COST).unwrap();
    let bob = bcrypt::hash("bob-pw", ALICE_HASH_COST).unwrap();
    let web = pki.web_file(&format!("basic_auth_users:\n  alice: {alice}\n"));
    let running = daemon::start(Options {
        web_file: Some(web.clone()),
        ..Options::new(ConfigSource::File(pki.path("ue.yml")), "127.0.0.1:0")
    })
    .await
    .expect("daemon starts");
    let url = running.url();
    let plain = |user: &'static str, pw: &'static str| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{url}/metrics"))
                .basic_auth(user, Some(pw))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(plain("alice", "alice-pw").await, 200);

    // Bad: refused, reason in the response, old kept, reload metric 0.
    std::fs::write(&web, "basic_auth_users:\n  alice: plaintext\n").unwrap();
    let (status, text) = reload(&url, "alice", "alice-pw").await;
    assert_eq!(status, 500);
    assert!(text.contains("previous config kept"), "{text}");
    assert!(
        text.contains("web.yml: basic_auth_users.alice: not a bcrypt hash"),
        "{text}"
    );
    assert_eq!(plain("alice", "alice-pw").await, 200, "old web config kept");
    let body = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        support::sample(&body, "usage_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );

    // Good, other: bob instead of alice, plus a header.
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  bob: {bob}\nhttp_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n"),
    )
    .unwrap();
    let (status, text) = reload(&url, "alice", "alice-pw").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("web config applied"), "{text}");
    assert_eq!(plain("alice", "alice-pw").await, 401);
    assert_eq!(plain("bob", "bob-pw").await, 200);
    let r = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .basic_auth("bob", Some("bob-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-frame-options"], "sameorigin");
    let body = r.text().await.unwrap();
    assert_eq!(
        support::sample(&body, "usage_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // Good → TLS with client certificates: new connections must handshake.
    std::fs::write(
        &web,
        format!(
            "{SERVER}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
        ),
    )
    .unwrap();
    let (status, text) = reload(&url, "bob", "bob-pw").await;
    assert_eq!(status, 200, "{text}");
    assert!(running.url().starts_with("https://"));
    assert!(Client {
        identity: Some("client"),
        ..Client::default()
    }
    .get(&pki, running.addr)
    .await
    .is_ok());
    assert!(Client::default().get(&pki, running.addr).await.is_err());
    running.stop().await;
}
