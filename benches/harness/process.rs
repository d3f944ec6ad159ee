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
        cpu_seconds_of(self.child.id())
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
