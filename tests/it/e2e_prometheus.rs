//! End to end: the shipped dashboards and rules against a real Prometheus scraping the demo.
//!
//! Starts `usage_exporter demo` and a real Prometheus (Debian's `prometheus` package: it provides
//! `prometheus` and `promtool`) on 127.0.0.1 with a temporary data dir, scraping the demo every
//! second and loading deploy/prometheus/{alerts,recordings}.yml; waits for two scrapes; then
//! asserts through the Prometheus HTTP API that the scrape is healthy, that every PromQL
//! expression of every dashboard panel (and every label_values variable) returns data, and that
//! every rule evaluates without error. Also runs `promtool check rules` / `promtool test rules`,
//! checks the dashboards' structure and that the Kubernetes PrometheusRule carries the same
//! groups as the rule files.
//!
//! Run: `cargo test --test it e2e_prometheus:: -- --nocapture`. Set `USAGE_EXPORTER_SKIP_E2E=1` to
//! skip (only for machines that cannot run Prometheus); without it, missing tools fail the test.

use crate::e2e_support::{
    find_tool, free_port, get_json, panels, repo, skip, wait_for, wait_ok, Procs,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const DASHBOARDS: &[&str] = &[
    "overview.json",
    "scc.json",
    "akana.json",
    "tr50.json",
    "tencent.json",
    "aveva.json",
];
const RULE_FILES: &[&str] = &["alerts.yml", "recordings.yml"];

/// Dashboard expressions that may legitimately return nothing against a freshly started demo,
/// as (dashboard file, panel title). Each entry needs a comment saying why no data can exist
/// within the first minute; everything else must return data. Empty on purpose: the demo's
/// simulators produce every family the dashboards use (including a failing tunnel, an expiring
/// and an expired certificate), rates have ≥ 2 samples at a 1 s scrape interval, and recording
/// rules are evaluated every second.
const NO_DATA_EXPECTED: &[(&str, &str)] = &[];

/// One PromQL expression taken from a dashboard.
#[derive(Debug, Clone)]
struct DashboardQuery {
    dashboard: String,
    panel: String,
    expr: String,
}

fn load_dashboard(name: &str) -> Value {
    let path = repo().join("dashboards").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Replaces Grafana variables the way the brief for this test says: `$__rate_interval`,
/// `$__interval` → 1m, `$__range` → 1h, any other variable (`$x`, `${x}`, `${x:fmt}`, `[[x]]`) → `.*`.
fn substitute(expr: &str) -> String {
    let mut out = expr
        .replace("${__rate_interval}", "1m")
        .replace("$__rate_interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__interval", "1m")
        .replace("${__range}", "1h")
        .replace("$__range", "1h");
    // ${name} and ${name:format}
    while let Some(start) = out.find("${") {
        let end = out[start..]
            .find('}')
            .map(|e| start + e)
            .expect("closing brace");
        out.replace_range(start..=end, ".*");
    }
    // [[name]]
    while let Some(start) = out.find("[[") {
        let end = out[start..]
            .find("]]")
            .map(|e| start + e)
            .expect("closing ]]");
        out.replace_range(start..end + 2, ".*");
    }
    // $name
    let mut result = String::with_capacity(out.len());
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
        {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
            {
                chars.next();
            }
            result.push_str(".*");
        } else {
            result.push(c);
        }
    }
    result
}

/// Panel target expressions, plus label_values() variable queries turned into PromQL.
fn dashboard_queries() -> Vec<DashboardQuery> {
    let mut out = Vec::new();
    for name in DASHBOARDS {
        let d = load_dashboard(name);
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(DashboardQuery {
                        dashboard: name.to_string(),
                        panel: p["title"].as_str().unwrap_or("").to_string(),
                        expr: substitute(expr),
                    });
                }
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] != "query" {
                continue;
            }
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or("");
            // label_values(selector, label): the selector must match series carrying the label.
            if let Some(inner) = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
            {
                let (selector, label) = inner
                    .rsplit_once(',')
                    .expect("label_values(selector, label)");
                out.push(DashboardQuery {
                    dashboard: name.to_string(),
                    panel: format!("variable {}", v["name"].as_str().unwrap_or("")),
                    expr: format!(
                        "count by ({}) ({})",
                        label.trim(),
                        substitute(selector.trim())
                    ),
                });
            }
        }
    }
    out
}

#[test]
fn dashboards_have_grafana_structure() {
    for name in DASHBOARDS {
        let d = load_dashboard(name);
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{name}: no schemaVersion"
        );
        assert!(
            d.get("__inputs").is_none(),
            "{name}: has __inputs (use a datasource variable)"
        );
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        assert!(
            vars.iter()
                .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
            "{name}: no datasource-type template variable for Prometheus"
        );
        assert!(
            vars.iter()
                .any(|v| v["name"] == "target" && v["type"] == "query"),
            "{name}: no `target` query variable"
        );
        let all = panels(&d);
        let data_panels: Vec<_> = all.iter().filter(|p| p["type"] != "row").collect();
        assert!(!data_panels.is_empty(), "{name}: no panels");
        let mut ids = BTreeSet::new();
        for p in &all {
            let title = p["title"].as_str().unwrap_or("?");
            assert!(
                ids.insert(p["id"].as_u64()),
                "{name}: duplicate panel id at {title}"
            );
            assert!(
                p["gridPos"]["w"].as_u64().is_some(),
                "{name}/{title}: no gridPos"
            );
        }
        for p in data_panels {
            let title = p["title"].as_str().unwrap_or("?");
            let targets = p["targets"].as_array().filter(|t| !t.is_empty());
            let targets =
                targets.unwrap_or_else(|| panic!("{name}/{title}: panel without targets"));
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or("");
                assert!(!expr.is_empty(), "{name}/{title}: target without expr");
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name}/{title}: datasource"
                );
            }
            assert!(
                p["fieldConfig"]["defaults"]["unit"].as_str().is_some(),
                "{name}/{title}: no unit"
            );
            assert!(
                p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                    .as_array()
                    .is_some(),
                "{name}/{title}: no thresholds"
            );
        }
    }
}

#[test]
fn prometheus_rule_matches_rule_files() {
    let mut groups = Vec::new();
    for file in RULE_FILES {
        let path = repo().join("deploy/prometheus").join(file);
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("rule file"))
                .expect("YAML");
        groups.extend(v["groups"].as_sequence().expect("groups").iter().cloned());
    }
    let path = repo().join("deploy/kubernetes/prometheusrule.yaml");
    let rule: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("prometheusrule.yaml"))
            .expect("YAML");
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    let k8s = rule["spec"]["groups"].as_sequence().expect("spec.groups");
    assert!(
        k8s == &groups,
        "deploy/kubernetes/prometheusrule.yaml differs from deploy/prometheus/{{alerts,recordings}}.yml: \
         run python3 scripts/gen-prometheusrule.py"
    );
}

/// The committed dashboards and PrometheusRule are what their generators produce.
#[test]
fn generated_files_are_up_to_date() {
    for script in ["scripts/gen-dashboards.py", "scripts/gen-prometheusrule.py"] {
        let out = Command::new("python3")
            .arg(repo().join(script))
            .arg("--check")
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} --check: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The example configs of the systemd unit and the Kubernetes ConfigMap are valid, and every
/// secret they read is provided by the unit's LoadCredential= lines and the example Secret.
#[test]
fn deploy_example_configs_are_valid() {
    let secret: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("deploy/kubernetes/secret.yaml"))
            .expect("secret.yaml"),
    )
    .expect("YAML");
    let secret_keys: BTreeSet<String> = secret["stringData"]
        .as_mapping()
        .expect("stringData")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/usage_exporter.service"))
        .expect("unit file");
    let credentials: BTreeSet<String> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(
        credentials, secret_keys,
        "systemd credentials and Kubernetes Secret keys"
    );

    let configmap: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("deploy/kubernetes/configmap.yaml"))
            .expect("configmap.yaml"),
    )
    .expect("YAML");
    let configs = [
        (
            "deploy/systemd/usage_exporter.yml".to_string(),
            std::fs::read_to_string(repo().join("deploy/systemd/usage_exporter.yml")).unwrap(),
        ),
        (
            "deploy/kubernetes/configmap.yaml".to_string(),
            configmap["data"]["usage_exporter.yml"]
                .as_str()
                .expect("data.usage_exporter.yml")
                .to_string(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for key in &secret_keys {
        std::fs::write(dir.path().join(key), "not-a-real-secret\n").unwrap();
    }
    let credentials_dir = dir.path().display().to_string();
    for (name, text) in configs {
        let mut used = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if let Some(rest) = line.split("${CREDENTIALS_DIRECTORY}/").nth(1) {
                used.insert(rest.trim().to_string());
            }
        }
        assert!(
            used.is_subset(&secret_keys),
            "{name} reads credentials {used:?}, provided are {secret_keys:?}"
        );
        let lookup = |var: &str| (var == "CREDENTIALS_DIRECTORY").then(|| credentials_dir.clone());
        if let Err(e) = usage_exporter::sources::parse_config(&text, Path::new(&name), &lookup) {
            panic!("{name} is not a valid config:\n{e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_rules_work_against_real_prometheus() {
    if skip() {
        return;
    }
    let started = Instant::now();
    let prometheus = find_tool("prometheus");
    let promtool = find_tool("promtool");
    let rules_dir = repo().join("deploy/prometheus");
    let rule_paths: Vec<PathBuf> = RULE_FILES.iter().map(|f| rules_dir.join(f)).collect();

    // promtool: syntax and the unit tests of every alert.
    let check = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .args(&rule_paths)
        .output()
        .expect("run promtool check rules");
    assert!(
        check.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let config_check = Command::new(&promtool)
        .args(["check", "config", "prometheus.yml"])
        .current_dir(&rules_dir)
        .output()
        .expect("run promtool check config");
    assert!(
        config_check.status.success(),
        "promtool check config deploy/prometheus/prometheus.yml failed:\n{}{}",
        String::from_utf8_lossy(&config_check.stdout),
        String::from_utf8_lossy(&config_check.stderr)
    );
    let unit = Command::new(&promtool)
        .args(["test", "rules", "tests.yml"])
        .current_dir(&rules_dir)
        .output()
        .expect("run promtool test rules");
    assert!(
        unit.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&unit.stdout),
        String::from_utf8_lossy(&unit.stderr)
    );

    let tmp = tempfile::tempdir().expect("temp dir");
    let mut procs = Procs::new();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // The demo.
    let exporter_port = free_port();
    let exporter = format!("127.0.0.1:{exporter_port}");
    procs.spawn(
        "usage_exporter demo",
        // A fixed mid-month date: on a month's first minutes the per-day families (and so some
        // panels) have no data yet.
        Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg("demo")
            .arg("--demo.time=2026-06-16T12:00:00Z")
            .arg(format!("--web.listen-address={exporter}")),
        tmp.path(),
    );
    let ready_url = format!("http://{exporter}/-/ready");
    wait_ok(
        &mut procs,
        &client,
        &ready_url,
        Duration::from_secs(90),
        "the demo's /-/ready",
    )
    .await;

    // Prometheus.
    let prom_port = free_port();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let rule_list: Vec<String> = rule_paths
        .iter()
        .map(|p| format!("  - {:?}", p.display().to_string()))
        .collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n{}\n\
         scrape_configs:\n  - job_name: usage_exporter\n    static_configs:\n      - targets: [\"{exporter}\"]\n",
        rule_list.join("\n")
    );
    let config_path = tmp.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let data = tmp.path().join("data");
    procs.spawn(
        "prometheus",
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .arg("--log.level=warn"),
        tmp.path(),
    );
    let url = format!("{prom}/-/ready");
    wait_ok(
        &mut procs,
        &client,
        &url,
        Duration::from_secs(60),
        "Prometheus /-/ready",
    )
    .await;

    // Two scrapes.
    let query_url = format!("{prom}/api/v1/query");
    wait_for(
        Duration::from_secs(60),
        "two scrapes of the demo",
        &mut procs,
        || {
            let (client, url) = (client.clone(), query_url.clone());
            async move {
                let v = get_json(
                    &client,
                    &url,
                    &[("query", "count_over_time(up{job=\"usage_exporter\"}[1m])")],
                )
                .await?;
                let n: f64 = v["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
                (n >= 2.0).then_some(())
            }
        },
    )
    .await;

    // The scrape target is healthy.
    let targets = get_json(&client, &format!("{prom}/api/v1/targets"), &[])
        .await
        .expect("targets API");
    let active = targets["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets");
    assert_eq!(active.len(), 1, "one scrape target: {targets}");
    assert_eq!(active[0]["health"], "up", "target health: {}", active[0]);
    assert_eq!(active[0]["lastError"], "", "scrape error: {}", active[0]);
    for (query, what) in [
        ("up{job=\"usage_exporter\"}", "up"),
        (
            "scrape_samples_scraped{job=\"usage_exporter\"}",
            "samples scraped",
        ),
    ] {
        let v = get_json(&client, &query_url, &[("query", query)])
            .await
            .expect("query");
        let n: f64 = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no {what}: {v}"));
        assert!(n > 0.0, "{what} is {n}");
    }

    // With defaults Prometheus negotiates OpenMetrics and stores no `_created` series (they
    // are opt-in), and the scrapes are counted under that format.
    let created = get_json(
        &client,
        &query_url,
        &[(
            "query",
            "count({job=\"usage_exporter\",__name__=~\".+_created\"})",
        )],
    )
    .await
    .expect("query");
    assert_eq!(
        created["data"]["result"].as_array().map(Vec::len),
        Some(0),
        "no _created series by default: {created}"
    );
    let om = get_json(
        &client,
        &query_url,
        &[(
            "query",
            "usage_exporter_exposition_scrapes_total{format=\"openmetrics\"}",
        )],
    )
    .await
    .expect("query");
    let n: f64 = om["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    assert!(n >= 2.0, "Prometheus scraped OpenMetrics: {om}");

    // No sample was rejected (duplicates, out of order, out of bounds, limits).
    let prom_metrics = client
        .get(format!("{prom}/metrics"))
        .send()
        .await
        .expect("Prometheus /metrics")
        .text()
        .await
        .expect("Prometheus /metrics body");
    for counter in [
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total",
        "prometheus_target_scrapes_exemplar_out_of_order_total",
    ] {
        let value = prom_metrics
            .lines()
            .find_map(|l| l.strip_prefix(counter).and_then(|r| r.strip_prefix(' ')))
            .map(|v| v.trim().parse::<f64>().unwrap_or(f64::NAN));
        if let Some(v) = value {
            assert_eq!(v, 0.0, "Prometheus rejected samples: {counter} = {v}");
        }
    }

    // Every dashboard expression returns data. Rate-like expressions and recording rules need a
    // few more samples/evaluations, so empty results are retried for a bounded time.
    let queries = dashboard_queries();
    let mut pending: Vec<DashboardQuery> = queries.clone();
    let mut errors: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut still_empty = Vec::new();
        for q in pending {
            let v = get_json(&client, &query_url, &[("query", q.expr.as_str())]).await;
            let Some(v) = v else {
                errors.push(format!(
                    "{} / {}: no answer for `{}`",
                    q.dashboard, q.panel, q.expr
                ));
                continue;
            };
            if v["status"] != "success" {
                errors.push(format!(
                    "{} / {}: `{}` failed: {} {}",
                    q.dashboard, q.panel, q.expr, v["errorType"], v["error"]
                ));
                continue;
            }
            let data = &v["data"];
            let has_data = match data["resultType"].as_str() {
                Some("vector") | Some("matrix") => {
                    data["result"].as_array().is_some_and(|r| !r.is_empty())
                }
                _ => true,
            };
            if !has_data {
                still_empty.push(q);
            }
        }
        pending = still_empty;
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        procs.assert_running();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut empty: Vec<String> = Vec::new();
    for q in &pending {
        let excused = NO_DATA_EXPECTED
            .iter()
            .any(|(d, p)| *d == q.dashboard && *p == q.panel);
        if !excused {
            empty.push(format!(
                "{} / {}: `{}` returned no data",
                q.dashboard, q.panel, q.expr
            ));
        }
    }
    eprintln!(
        "checked {} dashboard expressions: {} errors, {} without data",
        queries.len(),
        errors.len(),
        empty.len()
    );

    // Every rule group is loaded and every rule evaluated without error.
    let mut expected_rules = 0;
    let mut expected_groups = BTreeSet::new();
    for path in &rule_paths {
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for g in v["groups"].as_sequence().unwrap() {
            expected_groups.insert(g["name"].as_str().unwrap().to_string());
            expected_rules += g["rules"].as_sequence().unwrap().len();
        }
    }
    let rules_url = format!("{prom}/api/v1/rules");
    let rules = wait_for(
        Duration::from_secs(30),
        "every rule to be evaluated once",
        &mut procs,
        || {
            let (client, url) = (client.clone(), rules_url.clone());
            async move {
                let v = get_json(&client, &url, &[]).await?;
                let all_evaluated = v["data"]["groups"]
                    .as_array()?
                    .iter()
                    .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                    .all(|r| r["health"] != "unknown");
                all_evaluated.then_some(v)
            }
        },
    )
    .await;
    let groups = rules["data"]["groups"].as_array().expect("rule groups");
    let loaded: BTreeSet<String> = groups
        .iter()
        .map(|g| g["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(loaded, expected_groups, "rule groups loaded by Prometheus");
    let mut rule_count = 0;
    for g in groups {
        for r in g["rules"].as_array().into_iter().flatten() {
            rule_count += 1;
            if r["health"] != "ok" {
                errors.push(format!(
                    "rule {} in {}: health {} {}",
                    r["name"], g["name"], r["health"], r["lastError"]
                ));
            }
        }
    }
    assert_eq!(rule_count, expected_rules, "rules loaded by Prometheus");

    procs.assert_running();
    eprintln!(
        "e2e: {rule_count} rules ok, {} dashboard expressions in {:?}",
        queries.len(),
        started.elapsed()
    );
    let problems: Vec<String> = errors.into_iter().chain(empty).collect();
    assert!(
        problems.is_empty(),
        "{} dashboard/rule problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Starts a Prometheus scraping `exporter` every second, with `extra` flags; returns its URL.
async fn start_prometheus(
    procs: &mut Procs,
    client: &reqwest::Client,
    dir: &Path,
    name: &str,
    exporter: &str,
    extra: &[&str],
) -> String {
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: usage_exporter\n    static_configs:\n      - targets: [\"{exporter}\"]\n"
    );
    let config_path = dir.join(format!("{name}.yml"));
    std::fs::write(&config_path, config).expect("write prometheus config");
    procs.spawn(
        name,
        Command::new(find_tool("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join(name).display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(extra),
        dir,
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ok(
        procs,
        client,
        &format!("{url}/-/ready"),
        Duration::from_secs(60),
        name,
    )
    .await;
    url
}

/// The source series of the job at `time` (self-metrics and Prometheus' own left out):
/// label set (with `__name__`) -> value.
async fn source_samples(
    client: &reqwest::Client,
    prom: &str,
    time: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let v = get_json(
        client,
        &format!("{prom}/api/v1/query"),
        &[
            (
                "query",
                "{job=\"usage_exporter\",__name__!~\"usage_exporter_.*|process_.*|up|scrape_.*\"}",
            ),
            ("time", time),
        ],
    )
    .await?;
    let result = v["data"]["result"].as_array()?;
    Some(
        result
            .iter()
            .map(|r| (r["metric"].to_string(), r["value"][1].to_string()))
            .collect(),
    )
}

#[tokio::test]
async fn prometheus_stores_the_same_samples_from_protobuf_as_from_text() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut procs = Procs::new();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let exporter = format!("127.0.0.1:{}", free_port());
    procs.spawn(
        "usage_exporter demo",
        Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg("demo")
            .arg("--demo.time=2026-06-16T12:00:00Z")
            .arg(format!("--web.listen-address={exporter}")),
        tmp.path(),
    );
    wait_ok(
        &mut procs,
        &client,
        &format!("http://{exporter}/-/ready"),
        Duration::from_secs(90),
        "the demo's /-/ready",
    )
    .await;
    let text = start_prometheus(&mut procs, &client, tmp.path(), "prom-text", &exporter, &[]).await;
    // 2.42 asks for protobuf first when native histograms are enabled.
    let proto = start_prometheus(
        &mut procs,
        &client,
        tmp.path(),
        "prom-proto",
        &exporter,
        &["--enable-feature=native-histograms"],
    )
    .await;
    // Both scraped, and the exporter served protobuf.
    let served = wait_for(
        Duration::from_secs(60),
        "protobuf scrapes counted",
        &mut procs,
        || {
            let (client, url) = (client.clone(), format!("{text}/api/v1/query"));
            async move {
                let v = get_json(
                    &client,
                    &url,
                    &[(
                        "query",
                        "usage_exporter_exposition_scrapes_total{format=\"protobuf\"}",
                    )],
                )
                .await?;
                let n: f64 = v["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
                (n >= 3.0).then_some(n)
            }
        },
    )
    .await;
    assert!(served >= 3.0);
    // The same series with the same values at one instant; polls land now and then, so retry
    // until both Prometheus servers have scraped the same data generation.
    let mut last = String::from("no answers");
    let mut agreed = false;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        procs.assert_running();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let at = format!("{:.3}", now - 1.5);
        let (Some(a), Some(b)) = (
            source_samples(&client, &text, &at).await,
            source_samples(&client, &proto, &at).await,
        ) else {
            continue;
        };
        if a.len() > 500 && a == b {
            agreed = true;
            break;
        }
        let only_a: Vec<_> = a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .take(5)
            .collect();
        let only_b: Vec<_> = b
            .iter()
            .filter(|(k, v)| a.get(*k) != Some(v))
            .take(5)
            .collect();
        last = format!(
            "{} vs {} series; text-only/different {only_a:?}; protobuf-only/different {only_b:?}",
            a.len(),
            b.len()
        );
    }
    assert!(agreed, "protobuf and text disagree: {last}");
    // Start times travel in protobuf without becoming series.
    for prom in [&text, &proto] {
        let created = get_json(
            &client,
            &format!("{prom}/api/v1/query"),
            &[("query", "count({__name__=~\".+_created\"})")],
        )
        .await
        .expect("query");
        assert_eq!(
            created["data"]["result"].as_array().map(Vec::len),
            Some(0),
            "{prom}: {created}"
        );
    }
    procs.assert_running();
}
