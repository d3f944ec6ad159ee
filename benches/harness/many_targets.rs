//! Many targets: N SCC targets plus two of each other kind at their default intervals, each
//! target on its own host:port. Measures the exporter's idle CPU, RSS per target, its upstream
//! connections and how many requests each one carries, and how long a config reload takes.
//!
//! Every target gets a TCP forwarder of its own in front of the simulators: a real deployment
//! polls N different hosts, and the simulators count requests but not connections, so the
//! forwarders are what counts the connections the exporter opens. The exporter builds one HTTP
//! client (and so one connection pool) per target whatever the URL, so the N SCC forwarders can
//! share one SCC simulator without hiding any connection. The SCC simulator speaks HTTPS, as
//! every Cloud Connector does: the handshakes are part of what the exporter's CPU pays.

use crate::process::Exporter;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use usage_exporter_sim::demo::DemoSims;

/// SCC target counts of the rows.
pub const COUNTS: [usize; 3] = [50, 250, 500];

/// Targets of each other kind (TR50, AVEVA, Tencent, Akana) beside the SCC ones.
const OTHERS_PER_KIND: usize = 2;

/// The other kinds' start-up polls and the SCC rounds every 30 s take a few seconds after the
/// exporter starts; the idle window starts this long after a round's due time, when nothing
/// is in flight.
const QUIET_OFFSET: Duration = Duration::from_secs(15);

/// The most frequent SCC endpoints poll every 30 s, most others every 60 s: the idle window
/// is a whole number of minutes so every row sees the same rounds, whatever its length.
const CYCLE: Duration = Duration::from_secs(60);

/// One row of the table.
pub struct Row {
    /// SCC targets.
    pub scc: usize,
    /// All targets (SCC and the others).
    pub targets: usize,
    /// Source series exposed.
    pub series: usize,
    /// Start until `/-/ready` answered 200 (every first poll done).
    pub ready_after: Duration,
    /// Length of the idle window.
    pub window: Duration,
    /// Exporter CPU over the window, percent of one core.
    pub cpu_percent: f64,
    /// Exporter RSS at the end of the window.
    pub rss: u64,
    /// Upstream connections open, median of the samples taken every second of the window
    /// (the connections kept between polls).
    pub open_median: usize,
    /// Upstream connections open, largest sample.
    pub open_max: usize,
    /// Upstream requests in the window, (SCC, others), counted by the simulators.
    pub requests: (u64, u64),
    /// TCP connections opened in the window, (SCC, others), counted by the forwarders.
    pub connections: (u64, u64),
    /// Upstream requests since start counted by the simulators and by the exporter
    /// (`usage_exporter_upstream_requests_total`), which must agree.
    pub requests_cross_check: (u64, u64),
    /// Upstream answers since start that were not 2xx (or no answer at all), by status code or
    /// failure class.
    pub failed_requests: std::collections::BTreeMap<String, u64>,
    /// `POST /-/reload` with one target's interval changed, until its answer: median of three.
    pub reload_one: Duration,
    /// The same reloads' own time in the exporter (the answer's "applied in"): median of three.
    pub reload_one_applied: Duration,
    /// `POST /-/reload` with every SCC target changed (all restarted), until its answer: median
    /// of three.
    pub reload_all: Duration,
    /// The same reloads' own time in the exporter: median of three.
    pub reload_all_applied: Duration,
}

impl Row {
    fn requests_per_connection(requests: u64, connections: u64) -> f64 {
        requests as f64 / connections.max(1) as f64
    }
}

/// A TCP forwarder to one simulator, counting the connections accepted.
struct Forwarder {
    port: u16,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forwarder(to: SocketAddr) -> Forwarder {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        loop {
            let mut inbound = match listener.accept().await {
                Ok((s, _)) => s,
                Err(_) => {
                    // Out of descriptors or similar: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(to).await else {
                    return;
                };
                // Small requests and answers: no Nagle delay added to the exporter's fetch time.
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    Forwarder {
        port,
        accepted,
        task,
    }
}

/// Requests served so far by one simulator.
type RequestCount = Box<dyn Fn() -> u64 + Send + Sync>;

/// The simulators, one forwarder per target and the config items pointing at the forwarders.
struct Upstreams {
    scc: Arc<usage_exporter_sim::scc::SccSim>,
    others: Vec<RequestCount>,
    /// (is SCC, forwarder).
    forwarders: Vec<(bool, Forwarder)>,
    /// `sources:` items by kind, kinds adjacent (the order [`DemoSims::config_yaml`] groups by).
    items: Vec<(&'static str, String)>,
    /// Holds the SCC simulator's certificate, which every SCC target trusts (`tls.ca_file`).
    _certificate: tempfile::TempDir,
}

impl Upstreams {
    async fn start(scc_targets: usize) -> Upstreams {
        use usage_exporter_sim::{akana, aveva, scc, tencent, tr50};
        // Eight subaccounts per SCC target, like the demo at scale 1.
        let mut state = scc::SccState::generated(8);
        state.moving = true;
        let (cert, key) = usage_exporter_sim::self_signed_cert();
        let tls = usage_exporter::http::tls::server_config(cert.as_bytes(), key.as_bytes(), None)
            .expect("TLS settings of the SCC simulator");
        // One simulator stands in for N Cloud Connectors, each with a TLS session cache of its
        // own (the JVM's holds 20,480 sessions): rustls' default of 256 shared by all N would
        // evict every target's session before its next poll, and the exporter would pay a full
        // handshake where a real connector resumes the session.
        let mut tls = Arc::unwrap_or_clone(tls);
        tls.session_storage = rustls::server::ServerSessionMemoryCache::new(scc_targets * 256);
        let tls = Arc::new(tls);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca_file = dir.path().join("scc-ui.pem");
        std::fs::write(&ca_file, &cert).expect("write the certificate");
        let scc = Arc::new(
            scc::SccSim::start(state, Some(tls))
                .await
                .expect("SCC simulator"),
        );
        let mut up = Upstreams {
            scc: scc.clone(),
            others: Vec::new(),
            forwarders: Vec::new(),
            items: Vec::new(),
            _certificate: dir,
        };
        for i in 0..scc_targets {
            let yaml = format!(
                "{}\ntls: {{ca_file: {}}}",
                scc.config_yaml(&format!("scc-{i:03}")),
                ca_file.display()
            );
            up.add("scc", &yaml).await;
        }
        for j in 1..=OTHERS_PER_KIND {
            let (sim, yaml) = tr50::start_demo(1).await.expect("TR50 simulator");
            let sim = Arc::new(sim);
            up.others.push(Box::new(move || sim.server.request_count()));
            up.add("tr50", &other_item(&yaml, j)).await;
        }
        for j in 1..=OTHERS_PER_KIND {
            let (sim, yaml) = aveva::start_demo(1).await.expect("AVEVA simulator");
            let sim = Arc::new(sim);
            up.others.push(Box::new(move || sim.request_count()));
            up.add("aveva", &other_item(&yaml, j)).await;
        }
        for j in 1..=OTHERS_PER_KIND {
            let (sim, yaml) = tencent::start_demo(1).await.expect("Tencent simulator");
            let sim = Arc::new(sim);
            up.others.push(Box::new(move || sim.server.request_count()));
            up.add("tencent", &other_item(&yaml, j)).await;
        }
        for j in 1..=OTHERS_PER_KIND {
            let (sim, yaml) = akana::start_demo(1).await.expect("Akana simulator");
            let sim = Arc::new(sim);
            up.others.push(Box::new(move || sim.server.request_count()));
            up.add("akana", &other_item(&yaml, j)).await;
        }
        up
    }

    /// Puts a forwarder in front of the simulator the item's `url:` names and points the item
    /// at the forwarder.
    async fn add(&mut self, kind: &'static str, item: &str) {
        let url = item
            .lines()
            .find_map(|l| l.strip_prefix("url: "))
            .and_then(|u| url::Url::parse(u.trim()).ok())
            .expect("a simulator config item has a url");
        let authority = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port_or_known_default().expect("port")
        );
        let forwarder = forwarder(authority.parse().expect("a socket address")).await;
        let item = item.replace(&authority, &format!("127.0.0.1:{}", forwarder.port));
        self.forwarders.push((kind == "scc", forwarder));
        self.items.push((kind, item));
    }

    /// Requests served so far, (SCC, others).
    fn requests(&self) -> (u64, u64) {
        (
            self.scc.server.request_count(),
            self.others.iter().map(|count| count()).sum(),
        )
    }

    /// Connections accepted so far, (SCC, others).
    fn connections(&self) -> (u64, u64) {
        let mut out = (0, 0);
        for (scc, f) in &self.forwarders {
            let n = f.accepted.load(Ordering::Relaxed);
            if *scc {
                out.0 += n;
            } else {
                out.1 += n;
            }
        }
        out
    }

    /// The config file with `change` applied to each item (kind, position within its kind).
    fn config(&self, change: impl Fn(&str, usize, &str) -> String) -> String {
        let mut position = std::collections::HashMap::new();
        let sources = self
            .items
            .iter()
            .map(|(kind, item)| {
                let i = position.entry(*kind).or_insert(0usize);
                let changed = change(kind, *i, item);
                *i += 1;
                (*kind, changed)
            })
            .collect();
        DemoSims {
            servers: Vec::new(),
            handles: Vec::new(),
            sources,
        }
        .config_yaml()
    }
}

/// A demo config item as the `j`-th target of its kind at default intervals: the demo's
/// `endpoints:` overrides dropped, the name made unique.
fn other_item(yaml: &str, j: usize) -> String {
    yaml.lines()
        .filter(|l| !l.starts_with("endpoints:"))
        .enumerate()
        .map(|(i, l)| match l.strip_prefix("name: ") {
            Some(name) if i == 0 => format!("name: {name}-{j}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rewrites the exporter's config and reloads it: the time until the answer (which comes once
/// the new config is applied) and the time the exporter says applying took. `expect` is a part
/// of the answer's summary.
///
/// The request goes from a thread of its own over a plain socket: this process's runtime also
/// runs the simulators and forwarders, and the restarted targets' first polls keep it busy, so
/// a request made on it would also time how long the simulators keep it from being scheduled.
async fn reload(exporter: &Exporter, yaml: &str, expect: &str) -> (Duration, Duration) {
    std::fs::write(exporter.config_path(), yaml).expect("rewrite the config");
    let address = exporter
        .url
        .strip_prefix("http://")
        .expect("an http:// URL")
        .to_string();
    let (took, answer) = tokio::task::spawn_blocking(move || post_reload(&address))
        .await
        .expect("the reload thread");
    let (head, summary) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") && summary.contains(expect),
        "reload answered {head}: {summary} (expected {expect:?})"
    );
    let applied = summary
        .split_once("applied in ")
        .and_then(|(_, rest)| rest.split_once(" ms")?.0.parse::<f64>().ok())
        .map(|ms| Duration::from_secs_f64(ms / 1e3))
        .unwrap_or_else(|| panic!("no \"applied in … ms\" in the reload answer: {summary}"));
    (took, applied)
}

/// `POST /-/reload` to `address` (host:port) over a blocking socket: the time until the
/// answer's first byte and the whole answer (the exporter closes the connection after it).
fn post_reload(address: &str) -> (Duration, String) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(address).expect("connect for the reload");
    let _ = socket.set_nodelay(true);
    let request = format!(
        "POST /-/reload HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    socket
        .write_all(request.as_bytes())
        .expect("send the reload");
    let mut first = [0u8; 1];
    socket.read_exact(&mut first).expect("the reload's answer");
    let took = started.elapsed();
    let mut rest = Vec::new();
    socket.read_to_end(&mut rest).expect("the reload's answer");
    let mut answer = vec![first[0]];
    answer.extend(rest);
    (took, String::from_utf8_lossy(&answer).into_owned())
}

/// Medians of the answer and applied times of three reloads.
fn medians(mut reloads: Vec<(Duration, Duration)>) -> (Duration, Duration) {
    let mut applied: Vec<Duration> = reloads.iter().map(|r| r.1).collect();
    reloads.sort();
    applied.sort();
    (reloads[reloads.len() / 2].0, applied[applied.len() / 2])
}

async fn measure(client: &reqwest::Client, scc_targets: usize, seconds: u64) -> Row {
    let up = Upstreams::start(scc_targets).await;
    let targets = up.items.len();
    let spawned = Instant::now();
    let exporter = Exporter::start(&up.config(|_, _, item| item.to_string()));
    crate::wait_ready(client, &exporter.url, Duration::from_secs(600)).await;
    let ready_after = spawned.elapsed();

    // Start in the quiet middle between two 30 s rounds, end a whole number of minutes later.
    let mut start = spawned + QUIET_OFFSET;
    while start < Instant::now() {
        start += CYCLE / 2;
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let cycles = seconds.div_ceil(CYCLE.as_secs()).max(1) as u32;
    let window = CYCLE * cycles;
    let cpu_before = exporter.cpu_seconds();
    let requests_before = up.requests();
    let connections_before = up.connections();
    let started = Instant::now();
    let mut open = Vec::new();
    while started.elapsed() < window {
        open.push(exporter.outgoing_connections());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_percent = (exporter.cpu_seconds() - cpu_before) / elapsed * 100.0;
    let requests_after = up.requests();
    let connections_after = up.connections();
    let rss = exporter.rss_bytes();

    // Reloads before the scrape, so no background encoding (which a scrape starts) competes.
    // One target's health interval changed (a different value each time, so each reload
    // restarts exactly that target), then every SCC target changed, with a pause for the
    // restarted targets' first polls.
    let mut reload_one = Vec::new();
    for k in 0..3 {
        let yaml = up.config(|kind, i, item| match (kind, i) {
            ("scc", 0) => format!("{item}\nendpoints: {{health: {}s}}", 31 + k),
            _ => item.to_string(),
        });
        reload_one.push(reload(&exporter, &yaml, ": 1 targets started").await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let reload_one = medians(reload_one);
    let mut reload_all = Vec::new();
    for k in 0..3 {
        let yaml = up.config(|kind, _, item| match kind {
            "scc" => format!("{item}\ntimeout: {}s", 7 + k),
            _ => item.to_string(),
        });
        let expect = format!(": {scc_targets} targets started");
        reload_all.push(reload(&exporter, &yaml, &expect).await);
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let reload_all = medians(reload_all);

    // The one scrape.
    let body = crate::metrics_text(client, &exporter.url).await;
    let series = crate::samples(&body, "usage_exporter_exposed_series")
        .first()
        .map(|(_, v)| *v as usize)
        .unwrap_or(0);
    let counted = crate::samples(&body, "usage_exporter_upstream_requests_total");
    let exporter_requests: f64 = counted.iter().map(|(_, v)| v).sum();
    let mut failed_requests = std::collections::BTreeMap::new();
    for (labels, v) in &counted {
        let status = labels.get("status_code").cloned().unwrap_or_default();
        if !status.starts_with('2') && *v > 0.0 {
            *failed_requests.entry(status).or_default() += *v as u64;
        }
    }
    let now = up.requests();
    open.sort();

    Row {
        scc: scc_targets,
        targets,
        series,
        ready_after,
        window,
        cpu_percent,
        rss,
        open_median: open.get(open.len() / 2).copied().unwrap_or(0),
        open_max: open.iter().copied().max().unwrap_or(0),
        requests: (
            requests_after.0 - requests_before.0,
            requests_after.1 - requests_before.1,
        ),
        connections: (
            connections_after.0 - connections_before.0,
            connections_after.1 - connections_before.1,
        ),
        requests_cross_check: (now.0 + now.1, exporter_requests as u64),
        failed_requests,
        reload_one: reload_one.0,
        reload_one_applied: reload_one.1,
        reload_all: reload_all.0,
        reload_all_applied: reload_all.1,
    }
}

/// Measures a row per SCC target count (the table uses [`COUNTS`]); `seconds` of idle each, rounded up to whole minutes.
pub async fn run(seconds: u64, counts: &[usize]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in counts {
        eprintln!("many targets: {n} SCC targets …");
        // A connection per request and a deadline: a scrape once stayed pending for good on a
        // connection kept from an earlier request; a fresh one costs nothing here.
        let client = reqwest::Client::builder()
            .no_gzip()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        rows.push(measure(&client, n, seconds).await);
    }
    rows
}

fn kb(bytes: f64) -> String {
    format!("{:.0} kB", bytes / 1e3)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The table and the sentences under it, as markdown lines.
pub fn table(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let window = rows.first().map_or(0, |r| r.window.as_secs());
    out.push(format!(
        "Many targets: SCC targets (HTTPS, 8 subaccounts each) at their default intervals (plus \
         {OTHERS_PER_KIND} each of TR50, AVEVA, Tencent and Akana, also at defaults), each target on its own \
         port (a TCP forwarder per target, which counts the connections opened), an idle window of {window} s \
         starting between two 30 s rounds, no scrape but one at the end. Connections open: sampled every \
         second of the window. Reload: `POST /-/reload` until its answer (the reload is applied by then), \
         and in brackets the time the exporter spent applying it (from the answer), with one target's interval \
         changed and with every SCC target changed (all restarted), median of 3 each, before the scrape. \
         The answer's time includes the machine's state right after applying: restarted targets start their \
         first polls at about 250 a second, and the simulators serving those polls share the two cores with \
         the exporter.\n"
    ));
    out.push("| SCC targets (+2 of each other kind) | series | idle CPU % | RSS | RSS per target | upstream connections open | requests per connection in the window | reload time |".into());
    out.push("|---|---|---|---|---|---|---|---|".into());
    for r in rows {
        let (req, conn) = (
            r.requests.0 + r.requests.1,
            r.connections.0 + r.connections.1,
        );
        out.push(format!(
            "| {} | {} | {:.2} % | {:.1} MB | {} | {} median, {} max | {:.2} ({req} requests / {conn} connections; SCC {:.2}, others {:.2}) | {} ({} applying) one target changed, {} ({} applying) all SCC targets changed |",
            r.scc,
            r.series,
            r.cpu_percent,
            r.rss as f64 / 1e6,
            kb(r.rss as f64 / r.targets as f64),
            r.open_median,
            r.open_max,
            Row::requests_per_connection(req, conn),
            Row::requests_per_connection(r.requests.0, r.connections.0),
            Row::requests_per_connection(r.requests.1, r.connections.1),
            ms(r.reload_one),
            ms(r.reload_one_applied),
            ms(r.reload_all),
            ms(r.reload_all_applied),
        ));
    }
    if let (Some(a), Some(b)) = (rows.first(), rows.last()) {
        let per = |v: f64, r: &Row| v / r.targets as f64;
        let cpu = (per(a.cpu_percent, a), per(b.cpu_percent, b));
        let rss = (per(a.rss as f64, a), per(b.rss as f64, b));
        let marginal = (b.rss as f64 - a.rss as f64) / (b.targets - a.targets) as f64;
        let one = (
            per(a.reload_one.as_secs_f64(), a),
            per(b.reload_one.as_secs_f64(), b),
        );
        let all = (
            per(a.reload_all.as_secs_f64(), a),
            per(b.reload_all.as_secs_f64(), b),
        );
        let all_applied = (
            per(a.reload_all_applied.as_secs_f64(), a),
            per(b.reload_all_applied.as_secs_f64(), b),
        );
        let worse: Vec<&str> = [
            ("idle CPU", cpu),
            ("RSS", rss),
            ("reload (one changed)", one),
            ("reload answer (all changed)", all),
            ("reload applying (all changed)", all_applied),
        ]
        .iter()
        // Per-target cost at the largest count more than 1.5 × that at the smallest.
        .filter(|(_, (x, y))| *y > 1.5 * *x)
        .map(|(name, _)| *name)
        .collect();
        out.push(String::new());
        out.push(format!(
            "Per target, {} → {} SCC targets: idle CPU {:.4} → {:.4} % of a core, RSS {} → {} ({} per added \
             target), reload {:.0} → {:.0} µs with one target changed and {:.0} → {:.0} µs with all SCC targets \
             changed (applying alone {:.0} → {:.0} µs); {}. Requests per connection: SCC {:.2} (by design: the SCC client sends `Connection: close`, \
             SCC's documented stateless mode, so no server session is left behind; a TLS handshake per request is \
             part of the idle CPU above), the others {:.2}. Time to ready {:.1} s → {:.1} s.",
            a.scc,
            b.scc,
            cpu.0,
            cpu.1,
            kb(rss.0),
            kb(rss.1),
            kb(marginal),
            one.0 * 1e6,
            one.1 * 1e6,
            all.0 * 1e6,
            all.1 * 1e6,
            all_applied.0 * 1e6,
            all_applied.1 * 1e6,
            if worse.is_empty() {
                "nothing grows faster than linearly".to_string()
            } else {
                format!("grows faster than linearly: {}", worse.join(", "))
            },
            Row::requests_per_connection(b.requests.0, b.connections.0),
            Row::requests_per_connection(b.requests.1, b.connections.1),
            a.ready_after.as_secs_f64(),
            b.ready_after.as_secs_f64(),
        ));
    }
    for r in rows {
        let (sims, exporter) = r.requests_cross_check;
        let failed: Vec<String> = r
            .failed_requests
            .iter()
            .map(|(status, n)| format!("{n} × {status}"))
            .collect();
        if !failed.is_empty() || sims.abs_diff(exporter) > sims / 100 {
            out.push(format!(
                "\nNote ({} SCC targets): upstream answers that were not 2xx since start: {}; the simulators \
                 served {sims} requests, the exporter counted {exporter} (a request in flight when a reload \
                 restarts its target reaches the simulator but is never counted).",
                r.scc,
                if failed.is_empty() {
                    "none".to_string()
                } else {
                    failed.join(", ")
                }
            ));
        }
    }
    out
}
