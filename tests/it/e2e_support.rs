//! Shared by the end-to-end tests: finding Debian's tools, free ports, child processes that are
//! killed (and whose logs are shown) when a test ends, and polling helpers.

use serde_json::Value;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True (after saying so) when `USAGE_EXPORTER_SKIP_E2E` asks to skip end-to-end tests.
pub fn skip() -> bool {
    if std::env::var_os("USAGE_EXPORTER_SKIP_E2E").is_some() {
        eprintln!("SKIPPED: USAGE_EXPORTER_SKIP_E2E is set; the end-to-end tests did not run");
        return true;
    }
    false
}

/// Finds a tool on PATH (or in /usr/bin, /usr/local/bin, where Debian puts them).
pub fn find_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/bin".into());
    dirs.push("/usr/local/bin".into());
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found on PATH. The end-to-end tests need Debian's prometheus and \
                 prometheus-alertmanager packages (`sh scripts/ensure-prometheus.sh` installs them); \
                 set USAGE_EXPORTER_SKIP_E2E=1 to skip them on machines that cannot run them"
            )
        })
}

/// A port on 127.0.0.1 that is free and that no `bind(port 0)` can be handed meanwhile.
///
/// Ports come from below the kernel's ephemeral range: the simulators, Prometheus' outgoing
/// connections and everything else bound to port 0 take ports inside it, so a port handed out
/// here cannot be taken by another test between this call and the child process binding it
/// (the race that once made an exporter fail with "Address already in use"). A counter keeps
/// the tests of this binary, which run in parallel threads, from being handed the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let low = 10_000u32;
    let span = ephemeral_low.saturating_sub(low).max(1000);
    // Start somewhere different per process so two test runs on one machine rarely meet.
    let offset = std::process::id() % span;
    for _ in 0..span {
        let port = low + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port on 127.0.0.1 between {low} and {}", low + span)
}

/// Child processes that are killed when the test ends, passed or failed.
pub struct Procs {
    children: Vec<(String, Child, PathBuf)>,
    print_logs: bool,
}

impl Procs {
    /// No children yet; logs are printed at the end when `E2E_PRINT_LOGS` is set or on failure.
    pub fn new() -> Procs {
        Procs {
            children: Vec::new(),
            print_logs: std::env::var_os("E2E_PRINT_LOGS").is_some(),
        }
    }

    /// Stops the child started under `name` (for restart scenarios) and forgets it.
    pub fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _, _)| n == name) {
            let (_, mut child, _) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Process id of the child started under `name`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, c, _)| c.id())
    }

    pub fn spawn(&mut self, name: &str, cmd: &mut Command, log_dir: &Path) {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.children.push((name.to_string(), child, log));
    }

    /// Fails if a child has exited (it should run until the end of the test).
    pub fn assert_running(&mut self) {
        for (name, child, log) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&*log).unwrap_or_default();
                panic!("{name} exited early with {status}:\n{}", tail(&text, 60));
            }
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (name, child, log) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
            if self.print_logs || std::thread::panicking() {
                let text = std::fs::read_to_string(&*log).unwrap_or_default();
                eprintln!(
                    "---- last lines of the {name} log ----\n{}",
                    tail(&text, 40)
                );
            }
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `f` every 250 ms until it returns Some, or panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, procs: &mut Procs, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        procs.assert_running();
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// GET `url` with `query` and parse JSON; None on any failure (for polling).
pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    query: &[(&str, &str)],
) -> Option<Value> {
    let resp = client.get(url).query(query).send().await.ok()?;
    resp.json::<Value>().await.ok()
}

/// Waits until GET `url` answers 2xx (a component's `/-/ready`), or panics after `limit`.
pub async fn wait_ok(
    procs: &mut Procs,
    client: &reqwest::Client,
    url: &str,
    limit: Duration,
    what: &str,
) {
    wait_for(limit, what, procs, || {
        let (client, url) = (client.clone(), url.to_string());
        async move {
            let r = client.get(&url).send().await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
}

/// Every panel of a Grafana dashboard, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for inner in p["panels"].as_array().into_iter().flatten() {
            out.push(inner);
        }
    }
    out
}
