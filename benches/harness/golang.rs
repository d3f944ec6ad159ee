//! A Go exporter built with the official Prometheus client (client_golang) serving the series it
//! is given, as its own process: the harness runs the same loads against it as against ours.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::process;

/// The client_golang exporter (benches/golang/main.go) serving a text exposition.
pub struct GoExporter {
    pub child: Child,
    pub url: String,
    /// Go and client_golang versions, as scripts/ensure-go-client.sh reports them.
    pub versions: String,
    _dir: tempfile::TempDir,
}

impl GoExporter {
    /// Builds the Go exporter if needed, starts it on a free port serving `text_exposition`
    /// (text format 0.0.4) and waits until /metrics answers 200. Err says why it could not.
    pub fn start(text_exposition: &str) -> Result<GoExporter, String> {
        let (binary, versions) = built()?;
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let input = dir.path().join("series.txt");
        std::fs::write(&input, text_exposition)
            .map_err(|e| format!("cannot write {}: {e}", input.display()))?;
        let stderr_path = dir.path().join("stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| format!("cannot create {}: {e}", stderr_path.display()))?;
        let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?;
        let child = Command::new(&binary)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--input")
            .arg(&input)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        // From here on an early return drops `exporter`, which kills the child.
        let mut exporter = GoExporter {
            child,
            url: format!("http://{addr}"),
            versions,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = exporter.child.try_wait() {
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!("the Go exporter exited ({status}): {}", err.trim()));
            }
            if metrics_status(addr) == Some(200) {
                return Ok(exporter);
            }
            if Instant::now() > deadline {
                return Err("the Go exporter's /metrics did not answer 200 within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Resident set size now.
    pub fn rss_bytes(&self) -> u64 {
        process::rss_of(self.child.id())
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        process::cpu_seconds_of(self.child.id())
    }
}

impl process::Measured for GoExporter {
    fn url(&self) -> &str {
        &self.url
    }
    fn cpu_seconds(&self) -> f64 {
        GoExporter::cpu_seconds(self)
    }
}

impl Drop for GoExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Go exporter's binary and versions, built by scripts/ensure-go-client.sh once per run.
fn built() -> Result<(PathBuf, String), String> {
    static BUILT: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // Beside cargo's own output (<target>/release/deps/harness-… → <target>), so that a
            // CARGO_TARGET_DIR elsewhere keeps the work tree clean too.
            let target = std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
            let binary = target.join("go-client-golang/exporter");
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-go-client.sh");
            let out = Command::new("bash")
                .arg(script)
                .arg(&binary)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {script}: {e}"))?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                let last = stderr.lines().last().unwrap_or("no message");
                return Err(format!("{script} failed ({}): {last}", out.status));
            }
            eprint!("{stderr}");
            let versions = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Ok((binary, versions))
        })
        .clone()
}

/// HTTP status of GET /metrics, or None when nothing answers yet (plain std, no runtime needed).
fn metrics_status(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
