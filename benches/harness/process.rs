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

    /// Resident set size now.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.child.id())
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.child.id())
    }
}

/// What the load phases need of an exporter under test, ours or another.
pub trait Measured {
    /// Base URL, e.g. `http://127.0.0.1:9300`.
    fn url(&self) -> &str;
    /// User + system CPU seconds of its process so far.
    fn cpu_seconds(&self) -> f64;
}

impl Measured for Exporter {
    fn url(&self) -> &str {
        &self.url
    }
    fn cpu_seconds(&self) -> f64 {
        Exporter::cpu_seconds(self)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second (the unit of the CPU times in /proc/PID/stat).
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
    status_kb(pid, "VmRSS:") * 1024
}

/// Highest resident set size a process reached (VmHWM; 0 when it is gone).
pub fn peak_rss_of(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:") * 1024
}

/// A kB field of /proc/PID/status.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of any process so far (0 when it is gone).
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, fields 14 and 15 of stat(5), counted here from the state field (3).
    (ticks(11) + ticks(12)) / clock_ticks()
}
