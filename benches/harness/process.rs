//! The exporter (or any exporter) under test as its own process: start, RSS, CPU seconds.

use std::process::{Child, Command, Stdio};

/// The exporter under test, in its own process so RSS and CPU are its own.
pub struct Exporter {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts the release usage_exporter on a free port with `yaml` as its configuration.
    pub fn start(yaml: &str) -> Exporter {
        Self::start_with(yaml, &[])
    }

    /// Like [`Exporter::start`] with extra command-line flags.
    pub fn start_with(yaml: &str, flags: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bench.yml");
        std::fs::write(&config, yaml).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg("--config.file")
            .arg(&config)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .args(flags)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the exporter binary");
        Exporter {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    /// Resident set size now.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.child.id())
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_file("stat");
        let after_comm = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let ticks: f64 = fields
            .get(11)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        ticks / clock_ticks()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident set size of any process (0 when it is gone).
pub fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
