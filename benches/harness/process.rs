//! The exporter (or any exporter) under test as its own process: start, RSS, CPU seconds,
//! outgoing TCP connections.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The exporter under test, in its own process so RSS and CPU are its own.
pub struct Exporter {
    pub child: Child,
    pub url: String,
    port: u16,
    config: PathBuf,
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
            port,
            config,
            _dir: dir,
        }
    }

    /// The configuration file the exporter reads, to rewrite before a reload.
    pub fn config_path(&self) -> &Path {
        &self.config
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

    /// ESTABLISHED TCP connections the exporter opened itself (its upstream connections):
    /// its sockets from /proc/PID/fd matched in /proc/net/tcp{,6}, less those on its listening
    /// port (scrapers connecting to it).
    pub fn outgoing_connections(&self) -> usize {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())) else {
            return 0;
        };
        let inodes: std::collections::HashSet<String> = fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                Some(
                    target
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_string(),
                )
            })
            .collect();
        let listen = format!(":{:04X}", self.port);
        ["tcp", "tcp6"]
            .iter()
            .map(|table| self.proc_file(&format!("net/{table}")))
            .map(|text| {
                text.lines()
                    .skip(1)
                    .filter(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        // local address, remote address, state (01 = ESTABLISHED), …, inode.
                        f.len() > 9
                            && f[3] == "01"
                            && !f[1].ends_with(&listen)
                            && inodes.contains(f[9])
                    })
                    .count()
            })
            .sum()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second, the unit of the CPU times in /proc/PID/stat.
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
