//! Sharded replicas, as real processes: `--total-shards=3` exporters share 48 Cloud Connector
//! targets (one simulator and one credential each). Each target is polled by exactly one
//! replica (the simulators count the calls), the replicas' series together are exactly an
//! unsharded exporter's, a real Prometheus scraping the three answers a dashboard query as it
//! does against the one, and going to four shards moves only what the new shard wins.

use crate::e2e_support::{find_tool, free_port, get_json, skip, wait_for, wait_ok, Procs};
use crate::support::parse_lines;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use usage_exporter::shard::owner;
use usage_exporter_sim::scc::{SccSim, SccState};

const TARGETS: usize = 48;

fn target_name(i: usize) -> String {
    format!("scc-{i:02}")
}

async fn simulators() -> Vec<SccSim> {
    let mut sims = Vec::new();
    for i in 0..TARGETS {
        let mut state = SccState::generated(2);
        state.username = format!("monitor-{i:02}");
        sims.push(SccSim::start(state, None).await.unwrap());
    }
    sims
}

fn write_config(dir: &Path, sims: &[SccSim]) -> std::path::PathBuf {
    let mut yaml = String::from("sources:\n  scc:\n");
    for (i, sim) in sims.iter().enumerate() {
        for (n, line) in sim.config_yaml(&target_name(i)).lines().enumerate() {
            yaml.push_str(if n == 0 { "    - " } else { "      " });
            yaml.push_str(line);
            yaml.push('\n');
        }
    }
    let path = dir.join("usage_exporter.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

struct Replica {
    name: String,
    url: String,
}

async fn start_replicas(
    procs: &mut Procs,
    client: &reqwest::Client,
    config: &Path,
    logs: &Path,
    total: Option<u32>,
) -> Vec<Replica> {
    let count = total.unwrap_or(1);
    let mut replicas = Vec::new();
    for shard in 0..count {
        let port = free_port();
        let name = match total {
            Some(t) => format!("shard-{shard}-of-{t}"),
            None => "unsharded".to_string(),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_usage_exporter"));
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        if let Some(t) = total {
            cmd.arg(format!("--shard={shard}"))
                .arg(format!("--total-shards={t}"));
        }
        procs.spawn(&name, &mut cmd, logs);
        replicas.push(Replica {
            name,
            url: format!("http://127.0.0.1:{port}"),
        });
    }
    for r in &replicas {
        let ready = format!("{}/-/ready", r.url);
        wait_ok(procs, client, &ready, Duration::from_secs(60), &r.name).await;
    }
    replicas
}

async fn scrape(client: &reqwest::Client, r: &Replica) -> String {
    client
        .get(format!("{}/metrics", r.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The source series (name and labels) of a body, self-metrics and `_created` left out.
fn source_series(body: &str) -> BTreeSet<String> {
    parse_lines(body)
        .into_iter()
        .filter(|l| l.name.starts_with("scc_") && !l.name.ends_with("_created"))
        .map(|l| format!("{}{:?}", l.name, l.labels))
        .collect()
}

/// The targets a body has source series of.
fn targets_in(body: &str) -> BTreeSet<String> {
    parse_lines(body)
        .into_iter()
        .filter(|l| l.name.starts_with("scc_"))
        .filter_map(|l| {
            l.labels
                .into_iter()
                .find(|(k, _)| k == "target")
                .map(|(_, v)| v)
        })
        .collect()
}

/// Upstream requests per target, as a body's self-metrics count them.
fn requests_by_target(body: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for l in parse_lines(body) {
        if l.name != "usage_exporter_upstream_requests_total" {
            continue;
        }
        if let Some((_, t)) = l.labels.iter().find(|(k, _)| k == "target") {
            *out.entry(t.clone()).or_default() += l.value;
        }
    }
    out
}

/// Waits until no simulator has served a request for a moment (every first poll, role check
/// and wake-up done), and returns the calls each served.
async fn settled_calls(sims: &[SccSim]) -> Vec<u64> {
    let mut last = Vec::new();
    for _ in 0..60 {
        let now: Vec<u64> = sims.iter().map(|s| s.calls.total()).collect();
        if now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the simulators never settled: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_poll_each_target_once_and_together_equal_one_exporter() {
    if skip() {
        return;
    }
    let prometheus = find_tool("prometheus");
    // 48 simulators in this process: not while RSS is measured.
    let _alone = crate::support::memory_heavy().await;
    let dir = tempfile::tempdir().unwrap();
    let sims = simulators().await;
    let config = write_config(dir.path(), &sims);
    let client = reqwest::Client::new();
    let mut procs = Procs::new();

    // Three shards: each target polled by exactly one process.
    let shards = start_replicas(&mut procs, &client, &config, dir.path(), Some(3)).await;
    let calls = settled_calls(&sims).await;
    let mut bodies = Vec::new();
    for r in &shards {
        bodies.push(scrape(&client, r).await);
    }
    let mut union = BTreeSet::new();
    for (i, sim_calls) in calls.iter().enumerate() {
        let name = target_name(i);
        let expected = owner("scc", &name, 3) as usize;
        let holders: Vec<usize> = (0..3)
            .filter(|s| targets_in(&bodies[*s]).contains(&name))
            .collect();
        assert_eq!(
            holders,
            vec![expected],
            "{name}: series in shards {holders:?}"
        );
        assert!(*sim_calls > 0, "{name} never polled");
        let counted: Vec<f64> = bodies
            .iter()
            .map(|b| requests_by_target(b).get(&name).copied().unwrap_or(0.0))
            .collect();
        assert_eq!(
            counted[expected], *sim_calls as f64,
            "{name}: the simulator served {sim_calls} calls, its owner made {counted:?}"
        );
        assert_eq!(
            counted.iter().filter(|c| **c > 0.0).count(),
            1,
            "{name}: {counted:?}"
        );
    }
    for (s, body) in bodies.iter().enumerate() {
        let series = source_series(body);
        assert!(
            union.is_disjoint(&series),
            "shard {s} repeats series of another"
        );
        union.extend(series);
        assert!(
            body.contains(&format!(
                "usage_exporter_shard_info{{shard=\"{s}\",total_shards=\"3\"}} 1"
            )),
            "shard {s}"
        );
    }

    // One unsharded exporter on the same simulators: the same series.
    let single = start_replicas(&mut procs, &client, &config, dir.path(), None).await;
    let single_body = scrape(&client, &single[0]).await;
    let single_series = source_series(&single_body);
    assert_eq!(
        union.symmetric_difference(&single_series).count(),
        0,
        "only in one side: {:?}",
        union
            .symmetric_difference(&single_series)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(targets_in(&single_body).len(), TARGETS);

    // A real Prometheus scraping the three and the one: a dashboard query agrees.
    let prom_port = free_port();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let shard_targets: Vec<String> = shards
        .iter()
        .map(|r| format!("\"{}\"", r.url.trim_start_matches("http://")))
        .collect();
    let prom_config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: sharded\n    static_configs:\n      - targets: [{}]\n\
         \x20 - job_name: single\n    static_configs:\n      - targets: [\"{}\"]\n",
        shard_targets.join(", "),
        single[0].url.trim_start_matches("http://")
    );
    let prom_config_path = dir.path().join("prometheus.yml");
    std::fs::write(&prom_config_path, prom_config).unwrap();
    procs.spawn(
        "prometheus",
        Command::new(&prometheus)
            .arg(format!("--config.file={}", prom_config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn"),
        dir.path(),
    );
    wait_ok(
        &mut procs,
        &client,
        &format!("{prom}/-/ready"),
        Duration::from_secs(60),
        "Prometheus",
    )
    .await;
    let query = format!("{prom}/api/v1/query");
    // Tunnels per state, as the SCC dashboard counts them.
    let per_state = |job: &'static str| {
        let (client, query) = (client.clone(), query.clone());
        async move {
            let expr = format!("count by (state) (scc_tunnel_state{{job=\"{job}\"}} == 1)");
            let v = get_json(&client, &query, &[("query", &expr)]).await?;
            let result = v["data"]["result"].as_array()?;
            let counts: BTreeMap<String, String> = result
                .iter()
                .map(|r| {
                    (
                        r["metric"]["state"].as_str().unwrap_or("").to_string(),
                        r["value"][1].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            Some(counts)
        }
    };
    let (sharded, single_counts) = wait_for(
        Duration::from_secs(60),
        "both jobs scraped",
        &mut procs,
        || async {
            let a = per_state("sharded").await?;
            let b = per_state("single").await?;
            let total = |m: &BTreeMap<String, String>| -> usize {
                m.values().filter_map(|v| v.parse::<usize>().ok()).sum()
            };
            // Every tunnel of every target, in both jobs (each sim has 2 subaccounts).
            (total(&a) == 2 * TARGETS && total(&b) == 2 * TARGETS).then_some((a, b))
        },
    )
    .await;
    assert_eq!(sharded, single_counts);
    procs.kill("prometheus");
    procs.kill("unsharded");

    // Four shards: only what the new shard wins moves.
    for s in 0..3 {
        procs.kill(&format!("shard-{s}-of-3"));
    }
    let four = start_replicas(&mut procs, &client, &config, dir.path(), Some(4)).await;
    let mut moved = 0;
    for (s, r) in four.iter().enumerate() {
        let body = scrape(&client, r).await;
        for name in targets_in(&body) {
            let before = (0..3)
                .find(|b| targets_in(&bodies[*b]).contains(&name))
                .unwrap();
            if before != s {
                assert_eq!(s, 3, "{name} moved from shard {before} to old shard {s}");
                moved += 1;
            }
        }
    }
    let fraction = moved as f64 / TARGETS as f64;
    eprintln!("resharding 3 -> 4 moved {moved} of {TARGETS} targets ({fraction:.2})");
    assert!(moved > 0 && fraction <= 1.0 / 3.0, "{moved} moved");
}

/// The sharded Kubernetes variant stays in step with the single-replica manifests it builds on,
/// and its shard flags agree with its replica count.
#[test]
fn sharded_kubernetes_manifests_are_consistent() {
    let dir = crate::e2e_support::repo().join("deploy/kubernetes");
    let yaml = |path: &str| -> serde_yaml_ng::Value {
        let text =
            std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let set = yaml("sharded/statefulset.yaml");
    let deployment = yaml("deployment.yaml");
    assert_eq!(set["kind"], "StatefulSet");
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--pod=$(POD_NAME)"), "{args:?}");
    assert!(
        args.contains(&format!("--total-shards={replicas}").as_str()),
        "--total-shards must equal replicas ({replicas}): {args:?}"
    );
    let pod_name = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .expect("POD_NAME env");
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    // Everything but the shard flags is the single replica's.
    let single = &deployment["spec"]["template"]["spec"]["containers"][0];
    let single_args: Vec<&str> = single["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let unsharded: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with("--pod=") && !a.starts_with("--total-shards="))
        .collect();
    assert_eq!(unsharded, single_args);
    for key in [
        "ports",
        "livenessProbe",
        "readinessProbe",
        "securityContext",
        "volumeMounts",
    ] {
        assert_eq!(container[key], single[key], "container {key}");
    }
    let volumes = |v: &serde_yaml_ng::Value| -> Vec<serde_yaml_ng::Value> {
        v["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|v| v["name"] != "state")
            .cloned()
            .collect()
    };
    assert_eq!(
        volumes(&set),
        volumes(&deployment),
        "config and secret volumes"
    );
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "state",
        "one state volume per shard"
    );
    // Pods are selected by the Service (headless here) and so scraped by the ServiceMonitor.
    let service = yaml("service.yaml");
    let monitor = yaml("servicemonitor.yaml");
    let labels = &set["spec"]["template"]["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&labels[k], v, "service selector {k:?}");
    }
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][k], v,
            "ServiceMonitor selector {k:?}"
        );
    }
    assert_eq!(set["spec"]["serviceName"], service["metadata"]["name"]);
    let kustomization = yaml("sharded/kustomization.yaml");
    let resources: Vec<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["../", "statefulset.yaml"]);
    let patches: Vec<serde_yaml_ng::Value> = kustomization["patches"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| serde_yaml_ng::from_str(p["patch"].as_str().unwrap()).unwrap())
        .collect();
    assert!(patches.iter().any(|p| p["$patch"] == "delete"
        && p["kind"] == "Deployment"
        && p["metadata"]["name"] == deployment["metadata"]["name"]));
    assert!(patches.iter().any(|p| p["kind"] == "Service"
        && p["metadata"]["name"] == service["metadata"]["name"]
        && p["spec"]["clusterIP"] == "None"));
}

/// `check-config --total-shards` prints where each target lands; wrong shard flags are refused
/// with a message that says what to pass.
#[tokio::test]
async fn check_config_prints_the_assignment_and_bad_shard_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sims = simulators().await;
    let config = write_config(dir.path(), &sims[..6]);
    let out = Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
        .arg(format!("--config.file={}", config.display()))
        .args(["check-config", "--total-shards=3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for i in 0..6 {
        let name = target_name(i);
        let line = format!("  scc {name} -> shard {}", owner("scc", &name, 3));
        assert!(text.contains(&line), "{line:?} missing in:\n{text}");
    }
    assert!(text.contains("targets per shard: shard 0: "), "{text}");
    for (flags, expected) in [
        (
            vec!["--shard=3", "--total-shards=3"],
            "not below --total-shards=3",
        ),
        (
            vec!["--pod=usage-exporter", "--total-shards=3"],
            "StatefulSet ordinal",
        ),
        (vec!["--total-shards=0"], "at least 1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg(format!("--config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .args(&flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{flags:?}: {err}");
    }
}
