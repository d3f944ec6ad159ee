//! Reload (HTTP and SIGHUP), web config (basic auth, TLS, client certificates) and the CLI.

use crate::support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use usage_exporter::daemon::{self, ConfigSource, Options};
use usage_exporter::http::WebConfig;

const GOOD: &str = "global:\n  timeout: 5s\nsources: {}\n";
const BAD: &str = "global:\n  timeout: soon\n";

fn no_web() -> WebConfig {
    WebConfig::default()
}

async fn start_file(path: &Path, web: WebConfig) -> daemon::Running {
    daemon::start(Options {
        web,
        ..Options::new(ConfigSource::File(path.to_path_buf()), "127.0.0.1:0")
    })
    .await
    .expect("daemon starts")
}

#[tokio::test]
async fn reload_rejects_bad_config_keeps_old_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ue.yml");
    std::fs::write(&path, GOOD).unwrap();
    let running = start_file(&path, no_web()).await;
    let client = reqwest::Client::new();
    let url = running.url();

    std::fs::write(&path, BAD).unwrap();
    let resp = client.post(format!("{url}/-/reload")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap();
    assert!(text.contains("previous config kept"), "{text}");
    assert!(
        text.contains("global.timeout: invalid duration \"soon\""),
        "{text}"
    );
    let body = client
        .get(format!("{url}/metrics"))
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
    assert_eq!(
        running.daemon.config().global.timeout.get(),
        Duration::from_secs(5),
        "old config kept"
    );

    std::fs::write(&path, "global:\n  timeout: 7s\n").unwrap();
    let resp = client.post(format!("{url}/-/reload")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        running.daemon.config().global.timeout.get(),
        Duration::from_secs(7)
    );
    let body = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        support::sample(&body, "usage_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );

    let get = client.get(format!("{url}/-/reload")).send().await.unwrap();
    assert_eq!(get.status(), 405, "reload refuses GET");
    assert_eq!(get.headers()["allow"], "POST, PUT");
    running.stop().await;
}

fn write_web_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(&path, body).unwrap();
    path
}

#[tokio::test]
async fn basic_auth_protects_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ue.yml");
    std::fs::write(&config, GOOD).unwrap();
    let hash = bcrypt::hash("right-password", 4).unwrap();
    let web = WebConfig::load(&write_web_config(
        dir.path(),
        &format!("basic_auth_users:\n  alice: {hash}\n"),
    ))
    .unwrap();
    let running = start_file(&config, web).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", running.url());
    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let wrong = client
        .get(&url)
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = client
        .get(&url)
        .basic_auth("mallory", Some("right-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    for _ in 0..3 {
        let ok = client
            .get(&url)
            .basic_auth("alice", Some("right-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
    let landing = client.get(running.url()).send().await.unwrap();
    assert_eq!(landing.status(), 401);
    running.stop().await;
}

#[test]
fn web_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let e = WebConfig::load(&write_web_config(
        dir.path(),
        "basic_auth_users:\n  bob: plaintext\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("basic_auth_users.bob: not a bcrypt hash"), "{e}");
    let e = WebConfig::load(&write_web_config(
        dir.path(),
        "tls_server_config:\n  cert_file: /nope.pem\n  key_file: /nope.key\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("tls_server_config.cert_file: cannot read /nope.pem"),
        "{e}"
    );
    let e = WebConfig::load(&write_web_config(dir.path(), "colour: red\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `colour`"), "{e}");
}

struct TestPki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    other_client_cert: String,
    other_client_key: String,
}

fn pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["prometheus".into()]);
    let other = rcgen::generate_simple_self_signed(vec!["intruder".into()]).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
        other_client_cert: other.cert.pem(),
        other_client_key: other.signing_key.serialize_pem(),
    }
}

#[tokio::test]
async fn tls_serves_with_a_test_ca_and_requires_client_certificates() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("ca.pem", &pki.ca_pem),
        ("server.pem", &pki.server_cert),
        ("server.key", &pki.server_key),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let config = dir.path().join("ue.yml");
    std::fs::write(&config, GOOD).unwrap();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();

    // Server TLS only.
    let web = WebConfig::load(&write_web_config(
        dir.path(),
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    ))
    .unwrap();
    let running = start_file(&config, web).await;
    assert!(running.url().starts_with("https://"));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca.clone())
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/metrics", running.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(untrusting
        .get(format!("{}/metrics", running.url()))
        .send()
        .await
        .is_err());
    running.stop().await;

    // Client certificates required.
    let web = WebConfig::load(&write_web_config(
        dir.path(),
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    ))
    .unwrap();
    let running = start_file(&config, web).await;
    let with_cert = |cert: &str, key: &str| {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca.clone())
            .identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    let good = with_cert(&pki.client_cert, &pki.client_key);
    assert_eq!(
        good.get(format!("{}/metrics", running.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        client
            .get(format!("{}/metrics", running.url()))
            .send()
            .await
            .is_err(),
        "no client cert"
    );
    let intruder = with_cert(&pki.other_client_cert, &pki.other_client_key);
    assert!(
        intruder
            .get(format!("{}/metrics", running.url()))
            .send()
            .await
            .is_err(),
        "wrong CA"
    );
    running.stop().await;
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_usage_exporter")
}

#[test]
fn check_config_exits_0_with_a_summary_or_1_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, GOOD).unwrap();
    let out = Command::new(binary())
        .args(["check-config", "--config.file"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid; 0 targets"));

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "sources:\n  scc:\n    - name: x\n      bogus: 1\n").unwrap();
    let out = Command::new(binary())
        .args(["check-config", "--config.file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml: sources.scc[0]") && err.contains("unknown field `bogus`"),
        "{err}"
    );
}

#[test]
fn daemon_refuses_to_start_on_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, BAD).unwrap();
    let out = Command::new(binary())
        .arg("--config.file")
        .arg(&bad)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("global.timeout: invalid duration"));
}

#[test]
fn sighup_reloads_and_sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ue.yml");
    std::fs::write(&config, GOOD).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary())
        .arg("--config.file")
        .arg(&config)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = || -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        use std::io::{Read, Write};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        stream.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metrics().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&config, BAD).unwrap();
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    signal("-HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = metrics().unwrap_or_default();
        if body.contains("usage_exporter_config_last_reload_successful 0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP reload not reported:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("configuration reload failed"), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn the_binary_reads_the_web_config_at_start_check_config_and_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ue.yml");
    std::fs::write(&config, GOOD).unwrap();
    let web = write_web_config(dir.path(), "http_server_config:\n  http2: true\n");
    // A bad web config stops the start and check-config, naming file, key and reason.
    for args in [
        &["check-config"][..],
        &["--web.listen-address", "127.0.0.1:0"][..],
    ] {
        let out = Command::new(binary())
            .args(args)
            .arg("--config.file")
            .arg(&config)
            .arg("--web.config.file")
            .arg(&web)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "{}: http_server_config.http2: HTTP/2 is not served",
                web.display()
            )),
            "{err}"
        );
    }

    std::fs::write(
        &web,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary())
        .arg("--config.file")
        .arg(&config)
        .arg("--web.config.file")
        .arg(&web)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let get = || -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        use std::io::{Read, Write};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        stream.read_to_string(&mut out).ok()?;
        Some(out.to_ascii_lowercase())
    };
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let response = get().unwrap_or_default();
            if response.contains(what) {
                return response;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {what:?} in:\n{response}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("x-frame-options: deny");
    std::fs::write(
        &web,
        "http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n",
    )
    .unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let response = wait_for("x-frame-options: sameorigin");
    assert!(response.contains("usage_exporter_config_last_reload_successful 1"));
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
}

mod toolkit;
