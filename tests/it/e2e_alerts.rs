//! End to end: the shipped alert rules through the real chain — the exporter (its release
//! binary, as a process) polling the simulators, a real Prometheus evaluating a copy of
//! deploy/prometheus/{alerts,recordings}.yml with only the `for:` durations shortened, and a
//! real Alertmanager (Debian's `prometheus-alertmanager`) delivering to a webhook in this test.
//!
//! First a healthy landscape must deliver no alert over several evaluation rounds. Then each
//! scenario injects one real-world fault into a simulator at run time (a tunnel failing, a tunnel
//! disconnected by an administrator, a certificate about to expire, an HA group losing its master,
//! an endpoint hanging, a rotated TR50 password, Tencent data stopping) and checks that exactly
//! the expected alert reaches the webhook once — name, severity, labels, the real state or value
//! in the description and a `runbook_url` whose anchor exists in docs/runbooks.md — and that it
//! resolves after the fault is cleared.
//!
//! Run: `cargo test --test it e2e_alerts:: -- --nocapture` (`E2E_PRINT_LOGS=1` shows the logs
//! of the exporter, Prometheus and Alertmanager). `USAGE_EXPORTER_SKIP_E2E=1` skips it.

use crate::e2e_support::{
    find_tool, free_port, get_json, repo, skip, tail, wait_for, wait_ok, Procs,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use usage_exporter_sim::scc::{SccSim, SccState};
use usage_exporter_sim::Fault;

/// Every `for:` of the shipped rules becomes this in the test copy.
const SHORT_FOR: &str = "2s";
/// How long a healthy landscape is watched for (Prometheus evaluates every second).
const QUIET_ROUNDS: Duration = Duration::from_secs(10);
/// Longest wait for an alert to fire or resolve after a fault is injected or cleared.
const DELIVERY: Duration = Duration::from_secs(60);
const DAY_MS: u64 = 86_400_000;

/// One alert as Alertmanager's webhook delivered it.
#[derive(Debug, Clone)]
struct Delivered {
    status: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Delivered {
    fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// The webhook receiver: a tiny HTTP/1.1 server on 127.0.0.1 that records every alert of
/// every notification Alertmanager posts.
struct Webhook {
    url: String,
    received: Arc<Mutex<Vec<Delivered>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("webhook port");
        let url = format!("http://{}/alerts", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || serve_webhook(stream, &sink));
            }
        });
        Webhook { url, received }
    }

    fn len(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn since(&self, mark: usize) -> Vec<Delivered> {
        self.received.lock().unwrap()[mark..].to_vec()
    }
}

/// Reads requests off one connection (Alertmanager keeps it alive) and answers 200 to each.
fn serve_webhook(mut stream: std::net::TcpStream, sink: &Mutex<Vec<Delivered>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null);
        buffer.drain(..head_end + length);
        let strings = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        };
        for alert in body["alerts"].as_array().into_iter().flatten() {
            sink.lock().unwrap().push(Delivered {
                status: alert["status"].as_str().unwrap_or("").to_string(),
                labels: strings(&alert["labels"]),
                annotations: strings(&alert["annotations"]),
            });
        }
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// The shipped rule files with every `for:` shortened, written into `dir`.
fn shortened_rules(dir: &Path) -> Vec<PathBuf> {
    ["alerts.yml", "recordings.yml"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(repo().join("deploy/prometheus").join(name))
                .expect("rule file");
            let short: String = text
                .lines()
                .map(|line| match line.trim_start().strip_prefix("for: ") {
                    Some(_) => {
                        let indent = &line[..line.len() - line.trim_start().len()];
                        format!("{indent}for: {SHORT_FOR}\n")
                    }
                    None => format!("{line}\n"),
                })
                .collect();
            let path = dir.join(name);
            std::fs::write(&path, short).expect("write rule copy");
            path
        })
        .collect()
}

/// Replaces the `endpoints: {...}` line of a simulator's YAML item.
fn with_endpoints(item: &str, endpoints: &str) -> String {
    item.lines()
        .map(|l| {
            if l.starts_with("endpoints:") {
                format!("endpoints: {endpoints}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Indents a YAML item (`key: value` lines) as one entry of a `sources.<kind>` list.
fn list_item(item: &str) -> String {
    item.lines()
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { "    - " } else { "      " }))
        .collect()
}

/// A healthy SCC: every tunnel connected, every certificate valid for more than a year.
fn healthy_scc(master: bool) -> SccState {
    let mut state = SccState::generated(3);
    let now = state.clock.unix_ms().max(0) as u64;
    state.master = master;
    for s in &mut state.subaccounts {
        s.state = "Connected".into();
        s.connected_since_ms = now - DAY_MS;
        s.cert_not_after_ms = now + 400 * DAY_MS;
    }
    for c in &mut state.certificates {
        c.valid_to_ms = now + 400 * DAY_MS;
    }
    state
}

/// The running chain.
struct Chain {
    procs: Procs,
    client: reqwest::Client,
    prometheus: String,
    alertmanager: String,
    webhook: Webhook,
    exporter_listen: String,
    config_path: PathBuf,
    runbooks: String,
}

/// What a scenario expects to reach the webhook.
struct Expected {
    alertname: &'static str,
    severity: &'static str,
    labels: Vec<(&'static str, String)>,
    /// Texts the description must contain (the real state or value).
    description: Vec<String>,
}

impl Chain {
    fn start_exporter(&mut self) {
        self.procs.spawn(
            "usage_exporter",
            Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
                .arg(format!("--config.file={}", self.config_path.display()))
                .arg(format!("--web.listen-address={}", self.exporter_listen))
                .arg("--log.level=info"),
            self.config_path.parent().unwrap(),
        );
    }

    async fn wait_exporter_ready(&mut self) {
        let url = format!("http://{}/-/ready", self.exporter_listen);
        wait_ok(
            &mut self.procs,
            &self.client,
            &url,
            Duration::from_secs(60),
            "the exporter's /-/ready",
        )
        .await;
    }

    /// The `ALERTS` series (pending and firing) Prometheus holds now.
    async fn prometheus_alerts(&self) -> Vec<String> {
        let v = get_json(
            &self.client,
            &format!("{}/api/v1/query", self.prometheus),
            &[("query", "ALERTS")],
        )
        .await
        .unwrap_or(Value::Null);
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{} ({}) {}",
                    r["metric"]["alertname"].as_str().unwrap_or("?"),
                    r["metric"]["alertstate"].as_str().unwrap_or("?"),
                    r["metric"]
                )
            })
            .collect()
    }

    /// Alerts Alertmanager holds as active now.
    async fn alertmanager_active(&self) -> Vec<String> {
        let v = get_json(
            &self.client,
            &format!("{}/api/v2/alerts", self.alertmanager),
            &[("active", "true")],
        )
        .await
        .unwrap_or(Value::Null);
        v.as_array()
            .into_iter()
            .flatten()
            .map(|a| a["labels"].to_string())
            .collect()
    }

    /// Waits until Prometheus holds no pending or firing alert, then watches it (and the
    /// webhook) stay quiet for `rounds`.
    async fn assert_quiet(&mut self, what: &str, rounds: Duration) {
        let started = Instant::now();
        loop {
            let alerts = self.prometheus_alerts().await;
            if alerts.is_empty() && self.alertmanager_active().await.is_empty() {
                break;
            }
            self.procs.assert_running();
            assert!(
                started.elapsed() < DELIVERY,
                "{what}: alerts still pending or firing after {DELIVERY:?}: {alerts:#?}\n\
                 Alertmanager: {:#?}",
                self.alertmanager_active().await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mark = self.webhook.len();
        let watch = Instant::now();
        while watch.elapsed() < rounds {
            let alerts = self.prometheus_alerts().await;
            assert!(alerts.is_empty(), "{what}: alerts appeared: {alerts:#?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let delivered = self.webhook.since(mark);
        assert!(
            delivered.is_empty(),
            "{what}: Alertmanager delivered alerts: {delivered:#?}"
        );
    }

    /// Injects a fault, waits for exactly `expected` to fire, clears the fault and waits for
    /// the alert to resolve. Every notification in between must be about that alert only.
    async fn scenario<F, C>(&mut self, name: &str, inject: F, expected: Expected, clear: C)
    where
        F: FnOnce(&mut Chain),
        C: FnOnce(&mut Chain),
    {
        eprintln!("e2e_alerts: scenario {name}");
        let mark = self.webhook.len();
        let started = Instant::now();
        inject(self);
        let fired = loop {
            let delivered = self.webhook.since(mark);
            if let Some(a) = delivered
                .iter()
                .find(|a| a.name() == expected.alertname && a.status == "firing")
            {
                break a.clone();
            }
            self.procs.assert_running();
            assert!(
                started.elapsed() < DELIVERY,
                "{name}: {} was not delivered within {DELIVERY:?}; delivered: {delivered:#?}\n\
                 Prometheus: {:#?}",
                expected.alertname,
                self.prometheus_alerts().await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        eprintln!(
            "e2e_alerts: {name}: {} fired after {:.1?}",
            expected.alertname,
            started.elapsed()
        );
        // A few more evaluation rounds while the fault lasts: nothing else may arrive.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let cleared = Instant::now();
        clear(self);
        loop {
            let delivered = self.webhook.since(mark);
            if delivered
                .iter()
                .any(|a| a.labels == fired.labels && a.status == "resolved")
            {
                break;
            }
            self.procs.assert_running();
            assert!(
                cleared.elapsed() < DELIVERY,
                "{name}: {} did not resolve within {DELIVERY:?} after the fault was cleared; \
                 delivered: {delivered:#?}\nPrometheus: {:#?}",
                expected.alertname,
                self.prometheus_alerts().await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!(
            "e2e_alerts: {name}: resolved {:.1?} after the fault was cleared",
            cleared.elapsed()
        );

        let delivered = self.webhook.since(mark);
        let others: Vec<_> = delivered
            .iter()
            .filter(|a| a.labels != fired.labels)
            .collect();
        assert!(
            others.is_empty(),
            "{name}: alerts other than {} {:?} were delivered: {others:#?}",
            expected.alertname,
            fired.labels
        );
        let firing = delivered.iter().filter(|a| a.status == "firing").count();
        assert_eq!(firing, 1, "{name}: delivered as firing {firing} times");
        self.check_alert(name, &fired, &expected);
        self.assert_quiet(&format!("after {name}"), Duration::from_secs(2))
            .await;
    }

    fn check_alert(&self, name: &str, fired: &Delivered, expected: &Expected) {
        assert_eq!(
            fired.labels.get("severity").map(String::as_str),
            Some(expected.severity),
            "{name}: severity of {fired:#?}"
        );
        for (label, value) in &expected.labels {
            assert_eq!(
                fired.labels.get(*label),
                Some(value),
                "{name}: label {label} of {fired:#?}"
            );
        }
        let description = fired
            .annotations
            .get("description")
            .unwrap_or_else(|| panic!("{name}: no description: {fired:#?}"));
        assert!(
            !description.contains("<no value>"),
            "{name}: template gap in {description:?}"
        );
        for text in &expected.description {
            assert!(
                description.contains(text.as_str()),
                "{name}: description lacks {text:?}: {description:?}"
            );
        }
        assert!(
            fired.annotations.contains_key("summary"),
            "{name}: no summary"
        );
        let runbook = fired
            .annotations
            .get("runbook_url")
            .unwrap_or_else(|| panic!("{name}: no runbook_url: {fired:#?}"));
        let anchor = runbook
            .rsplit_once("docs/runbooks.md#")
            .map(|(_, a)| a)
            .unwrap_or_else(|| panic!("{name}: runbook_url {runbook} is not a runbooks.md anchor"));
        let heading = self
            .runbooks
            .lines()
            .filter_map(|l| l.strip_prefix("## "))
            .find(|h| h.trim().to_lowercase() == anchor);
        assert!(
            heading.is_some(),
            "{name}: docs/runbooks.md has no section for the anchor #{anchor}"
        );
    }

    fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config_path, yaml).expect("write exporter config");
    }

    /// Asks the exporter to reload its config file, as an operator would (SIGHUP).
    fn reload_exporter(&self) {
        let pid = self.procs.pid("usage_exporter").expect("exporter running");
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("run kill -HUP");
        assert!(status.success(), "kill -HUP {pid} failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_alerts_reach_alertmanager_once_per_fault_and_resolve() {
    if skip() {
        return;
    }
    let prometheus = find_tool("prometheus");
    let alertmanager = find_tool("prometheus-alertmanager");
    let tmp = tempfile::tempdir().expect("temp dir");

    // The landscape: an SCC HA pair (scc-a master, scc-b shadow), TR50, Tencent, Akana, AVEVA.
    let scc_a = SccSim::start(healthy_scc(true), None).await.expect("scc-a");
    let scc_b = SccSim::start(healthy_scc(false), None)
        .await
        .expect("scc-b");
    let (tr50, tr50_item) = usage_exporter_sim::tr50::start_demo(1).await.expect("tr50");
    let (tencent, _) = usage_exporter_sim::tencent::start_demo(1)
        .await
        .expect("tencent");
    let (akana, akana_item) = usage_exporter_sim::akana::start_demo(1)
        .await
        .expect("akana");
    let (aveva, aveva_item) = usage_exporter_sim::aveva::start_demo(1)
        .await
        .expect("aveva");
    let _keep = &akana;
    // The demo tenant reads and writes about as many streams a day as it is entitled to; a
    // healthy tenant has room.
    aveva.set_entitled_stream_accesses(Some(1_000_000));

    // Fast polls for what the scenarios change; generous stale_after so a slow poll is never
    // mistaken for stale data.
    let scc_endpoints =
        "{health: 1s, master_role: 1s, subaccounts: 1s, certificates: 1s, memory: 1s}";
    let scc_item = |sim: &SccSim, name: &str| {
        format!(
            "{}\nha_group: ha1\ntimeout: 2s\nstale_after: 60s\nendpoints: {scc_endpoints}",
            sim.config_yaml(name)
        )
    };
    let tencent_instances = ["ins-00000000", "ins-00000001", "ins-00000002"];
    let tencent_item = format!(
        "name: tencent\napi: v3\nurl: {}\nregion: ap-guangzhou\n\
         secret_id: AKIDdemo0000000000000000000000000000\n\
         secret_key: demo-secret-key-0000000000000000\nstale_after: 10m\n\
         endpoints: {{metric_data: 10s, metric_catalog: 1h}}\nmetrics:\n  - namespace: QCE/CVM\n    \
         names: [CPUUsage]\n    period: 60s\n    instances: [{}]",
        tencent.url(),
        tencent_instances
            .iter()
            .map(|i| format!("{{InstanceId: {i}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tr50_password = tr50.state().users[0].password.clone();
    let tr50_item = format!(
        "{}\nstale_after: 60s",
        with_endpoints(&tr50_item, "{api_history: 1s}")
    );
    let config = |tr50_item: &str| {
        format!(
            "global:\n  timeout: 5s\nsources:\n  scc:\n{}{}  tr50:\n{}  tencent:\n{}  akana:\n{}  aveva:\n{}",
            list_item(&scc_item(&scc_a, "scc-a")),
            list_item(&scc_item(&scc_b, "scc-b")),
            list_item(tr50_item),
            list_item(&tencent_item),
            list_item(&format!("{akana_item}\nstale_after: 10m")),
            list_item(&format!("{aveva_item}\nstale_after: 30m")),
        )
    };

    let webhook = Webhook::start();
    let exporter_listen = format!("127.0.0.1:{}", free_port());
    let mut chain = Chain {
        procs: Procs::new(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        prometheus: String::new(),
        alertmanager: String::new(),
        webhook,
        exporter_listen: exporter_listen.clone(),
        config_path: tmp.path().join("usage_exporter.yml"),
        runbooks: std::fs::read_to_string(repo().join("docs/runbooks.md"))
            .expect("docs/runbooks.md"),
    };
    chain.write_config(&config(&tr50_item));
    chain.start_exporter();
    chain.wait_exporter_ready().await;

    // Alertmanager: every alert its own group, delivered at once and on resolution.
    let am_port = free_port();
    chain.alertmanager = format!("http://127.0.0.1:{am_port}");
    let am_config = tmp.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: webhook\n  group_by: ['...']\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 24h\nreceivers:\n  - name: webhook\n    \
             webhook_configs:\n      - url: {}\n        send_resolved: true\n",
            chain.webhook.url
        ),
    )
    .expect("write alertmanager.yml");
    chain.procs.spawn(
        "alertmanager",
        Command::new(&alertmanager)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!(
                "--storage.path={}",
                tmp.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn"),
        tmp.path(),
    );

    // Prometheus: scrapes and evaluates every second, sends to that Alertmanager.
    let prom_port = free_port();
    chain.prometheus = format!("http://127.0.0.1:{prom_port}");
    let rules: Vec<String> = shortened_rules(tmp.path())
        .iter()
        .map(|p| format!("  - {:?}\n", p.display().to_string()))
        .collect();
    let prom_config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}alerting:\n  alertmanagers:\n    - static_configs:\n        \
             - targets: [\"127.0.0.1:{am_port}\"]\n\
             scrape_configs:\n  - job_name: usage_exporter\n    static_configs:\n      \
             - targets: [\"{exporter_listen}\"]\n",
            rules.concat()
        ),
    )
    .expect("write prometheus.yml");
    chain.procs.spawn(
        "prometheus",
        Command::new(&prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--rules.alert.resend-delay=1s")
            .arg("--log.level=warn"),
        tmp.path(),
    );
    for (what, url) in [
        (
            "Alertmanager /-/ready",
            format!("{}/-/ready", chain.alertmanager),
        ),
        (
            "Prometheus /-/ready",
            format!("{}/-/ready", chain.prometheus),
        ),
    ] {
        wait_ok(
            &mut chain.procs,
            &chain.client,
            &url,
            Duration::from_secs(60),
            what,
        )
        .await;
    }
    // Every source's data is in Prometheus before the quiet rounds start.
    let query = format!("{}/api/v1/query", chain.prometheus);
    let client = chain.client.clone();
    wait_for(
        Duration::from_secs(60),
        "data of every source in Prometheus",
        &mut chain.procs,
        || {
            let (client, query) = (client.clone(), query.clone());
            async move {
                let v = get_json(
                    &client,
                    &query,
                    &[(
                        "query",
                        "count by (source) (usage_exporter_poll_success == 1)",
                    )],
                )
                .await?;
                (v["data"]["result"].as_array()?.len() == 5).then_some(())
            }
        },
    )
    .await;

    // 1. Healthy: nothing is delivered over several evaluation rounds.
    chain.assert_quiet("healthy landscape", QUIET_ROUNDS).await;

    // 2. A tunnel fails to connect: critical, carrying the actual state.
    let subaccount = scc_a.state().subaccounts[0].subaccount.clone();
    chain
        .scenario(
            "tunnel failing",
            |_| scc_a.state().subaccounts[0].state = "ConnectFailure".into(),
            Expected {
                alertname: "SccTunnelNotConnected",
                severity: "critical",
                labels: vec![
                    ("target", "scc-a".into()),
                    ("subaccount", subaccount.clone()),
                    ("state", "ConnectFailure".into()),
                ],
                description: vec!["in state ConnectFailure".into(), subaccount.clone()],
            },
            |_| scc_a.state().subaccounts[0].state = "Connected".into(),
        )
        .await;

    // 3. An administrator disconnects a tunnel: info, not the critical alert.
    chain
        .scenario(
            "tunnel disconnected on purpose",
            |_| scc_a.state().subaccounts[1].state = "Disconnected".into(),
            Expected {
                alertname: "SccTunnelDisconnected",
                severity: "info",
                labels: vec![("target", "scc-a".into()), ("state", "Disconnected".into())],
                description: vec!["Disconnected".into()],
            },
            |_| scc_a.state().subaccounts[1].state = "Connected".into(),
        )
        .await;

    // 4. A subaccount certificate expires in three days: one critical alert, although the
    //    certificate is listed by /subaccounts and /certificates alike.
    let cert_subaccount = scc_a.state().subaccounts[2].subaccount.clone();
    chain
        .scenario(
            "subaccount certificate expiring",
            |_| {
                let mut state = scc_a.state();
                let now = state.clock.unix_ms().max(0) as u64;
                state.subaccounts[2].cert_not_after_ms = now + 3 * DAY_MS;
            },
            Expected {
                alertname: "SccCertificateExpiringCritical",
                severity: "critical",
                labels: vec![
                    ("target", "scc-a".into()),
                    ("subaccount", cert_subaccount.clone()),
                    ("type", "subaccount".into()),
                ],
                description: vec![cert_subaccount.clone(), "expires in 2d 23h".into()],
            },
            |_| {
                let mut state = scc_a.state();
                let now = state.clock.unix_ms().max(0) as u64;
                state.subaccounts[2].cert_not_after_ms = now + 400 * DAY_MS;
            },
        )
        .await;

    // 5. The master loses its role and the shadow does not take over: no master in the group.
    chain
        .scenario(
            "HA group without master",
            |_| scc_a.set_master(false),
            Expected {
                alertname: "SccNoMasterInstance",
                severity: "critical",
                labels: vec![("ha_group", "ha1".into())],
                description: vec!["all as shadow".into(), "scc-a, scc-b".into()],
            },
            |_| scc_a.set_master(true),
        )
        .await;

    // 6. An endpoint hangs: the generic failing-endpoint alert, naming the reason.
    chain
        .scenario(
            "endpoint hanging",
            |_| scc_a.set_fault(Some("memory"), Fault::Hang),
            Expected {
                alertname: "UsageExporterEndpointFailing",
                severity: "warning",
                labels: vec![
                    ("source", "scc".into()),
                    ("target", "scc-a".into()),
                    ("endpoint", "memory".into()),
                ],
                description: vec!["reason: timeout".into()],
            },
            |_| scc_a.set_fault(Some("memory"), Fault::None),
        )
        .await;

    // 7. Someone rotates the TR50 password: the login is rejected; the operator puts the new
    //    password into the config and reloads.
    let rotated = "rotated-Tr50-password";
    let fixed_item = tr50_item.replace(&tr50_password, rotated);
    let fixed_config = config(&fixed_item);
    chain
        .scenario(
            "TR50 login rejected",
            |_| {
                let mut state = tr50.state();
                state.users[0].password = rotated.into();
                state.expire_sessions();
            },
            Expected {
                alertname: "Tr50LoginRejected",
                severity: "warning",
                labels: vec![("target", "demo".into())],
                description: vec!["reason auth".into()],
            },
            |chain| {
                chain.write_config(&fixed_config);
                chain.reload_exporter();
            },
        )
        .await;

    // 8. Tencent stops publishing one instance's data, and the exporter restarts during the
    //    stall: the newest point found is twenty minutes old and ages from there.
    let stalled = tencent_instances[1];
    chain
        .scenario(
            "Tencent data stopped",
            |chain| {
                let stop = tencent.with(|s| s.clock.unix()) - 20 * 60;
                tencent.with(|s| s.data_until_by_instance.insert(stalled.to_string(), stop));
                chain.procs.kill("usage_exporter");
                chain.start_exporter();
            },
            Expected {
                alertname: "TencentDatapointLagging",
                severity: "warning",
                labels: vec![
                    ("target", "tencent".into()),
                    ("instance_id", stalled.into()),
                    ("metric", "CPUUsage".into()),
                ],
                // "instance ins-… is 21m 40s old": twenty-odd minutes (the newest point before
                // the stall is up to two periods older than the stall itself).
                description: vec![
                    format!("instance {stalled} is 2"),
                    "m ".into(),
                    " old".into(),
                ],
            },
            |_| {
                tencent.with(|s| s.data_until_by_instance.clear());
            },
        )
        .await;

    let log_dir = tmp.path();
    let exporter_log =
        std::fs::read_to_string(log_dir.join("usage_exporter.log")).unwrap_or_default();
    assert!(
        !exporter_log.contains("panicked"),
        "the exporter panicked:\n{}",
        tail(&exporter_log, 40)
    );
}
