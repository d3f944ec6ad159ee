//! `docs/metrics.md` is generated from what the demo actually exposes (every endpoint of every
//! simulated source enabled) and checked here: a family added, renamed or re-labelled without
//! regenerating the doc fails this test. The upstream field of each family comes from the
//! metric tables in `docs/sources/<kind>.md`; a family without one fails too.
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test it metrics_doc::`.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Default)]
struct FamilyDoc {
    kind: String,
    unit: String,
    help: String,
    labels: BTreeSet<String>,
}

/// Enables every endpoint of every target at a short interval.
fn all_endpoints(yaml: &str) -> String {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let sources = doc
        .get_mut("sources")
        .and_then(|s| s.as_mapping_mut())
        .unwrap();
    for (kind, targets) in sources.iter_mut() {
        let kind = kind.as_str().unwrap().to_string();
        for target in targets.as_sequence_mut().unwrap() {
            let mut endpoints = serde_yaml_ng::Mapping::new();
            for spec in usage_exporter::sources::registry::endpoints(&kind) {
                endpoints.insert(spec.name.into(), "1s".into());
            }
            target
                .as_mapping_mut()
                .unwrap()
                .insert("endpoints".into(), endpoints.into());
        }
    }
    serde_yaml_ng::to_string(&doc).unwrap()
}

fn families(body: &str) -> BTreeMap<String, FamilyDoc> {
    let mut out: BTreeMap<String, FamilyDoc> = BTreeMap::new();
    for line in body.lines() {
        let mut parts = line.splitn(4, ' ');
        if parts.next() != Some("#") {
            continue;
        }
        let (Some(what), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let rest = parts.next().unwrap_or("").to_string();
        let family = out.entry(name.to_string()).or_default();
        match what {
            "HELP" => family.help = rest,
            "TYPE" => family.kind = rest,
            "UNIT" => family.unit = rest,
            _ => {}
        }
    }
    for line in support::parse_lines(body) {
        let family = ["_total", "_created", "_bucket", "_count", "_sum", ""]
            .iter()
            .filter_map(|suffix| line.name.strip_suffix(suffix))
            .find(|base| out.contains_key(*base))
            .unwrap_or_else(|| panic!("sample {} has no family", line.name))
            .to_string();
        let entry = out.get_mut(&family).unwrap();
        for (k, _) in line.labels {
            if k != "le" || entry.kind != "histogram" {
                entry.labels.insert(k);
            }
        }
    }
    out
}

/// Upstream field per family name (or name pattern ending in `*`) from the source docs' tables.
fn origins() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/sources");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for row in text.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            if cells.len() < 3 {
                continue;
            }
            let origin = cells.last().unwrap().trim().to_string();
            let names: Vec<String> = cells[0]
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, n)| n.to_string())
                .collect();
            for name in names {
                let name = match name.find('<') {
                    Some(at) => format!("{}*", &name[..at]),
                    None => name.strip_suffix("_total").unwrap_or(&name).to_string(),
                };
                if name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*')
                {
                    out.push((name, origin.clone()));
                }
            }
        }
    }
    out
}

fn origin_of(name: &str, origins: &[(String, String)]) -> Option<String> {
    if name.starts_with("usage_exporter_") {
        return Some("the exporter itself (polls, store, HTTP; see README)".into());
    }
    if name.starts_with("process_") {
        return Some("this process, read with sysinfo at scrape time".into());
    }
    origins
        .iter()
        .find(|(n, _)| n == name)
        .or_else(|| {
            origins
                .iter()
                .find(|(n, _)| n.ends_with('*') && name.starts_with(n.trim_end_matches('*')))
        })
        .map(|(_, o)| o.clone())
}

fn render(families: &BTreeMap<String, FamilyDoc>, origins: &[(String, String)]) -> String {
    let mut out = String::from(
        "# Metrics\n\n\
         Generated from what `usage_exporter demo` exposes with every endpoint enabled; the upstream \
         field comes from the tables in [docs/sources/](sources/). Do not edit by hand: run \
         `UPDATE_GOLDEN=1 cargo test --test it metrics_doc::`. Counters \
         carry their start time where it is known: in the protobuf format always (`created_timestamp`), \
         in OpenMetrics text as a `_created` sample only with `--web.enable-openmetrics-created-samples`. \
         Tencent families are named after the configured metrics (`qce_<product>_<metric>_<statistic>`); \
         the ones below are the demo's.\n\n\
         Additions to the catalogue in `METRICS.md`, and why:\n\n\
         - `usage_exporter_endpoint_skipped`: SCC shadow instances skip master-only APIs on purpose; \
         that is neither success nor failure, so `poll_success` is absent and this says why.\n\
         - `usage_exporter_poll_phase_duration_seconds{phase}`: splits a poll into upstream wait, \
         decoding and the rest, to answer \"is it the vendor or us?\".\n\
         - `usage_exporter_exposed_series`, `usage_exporter_exposition_encode_duration_seconds`, \
         `usage_exporter_exposition_ranges{format,state}`: the size of the exposition, the cost of \
         re-encoding it after a data change, and how much of it that encoding reused unchanged.\n\
         - `scc_resource_last_access_timestamp_seconds`: SCC reports `mostRecentAccess` per resource; it \
         is the only way to see which resource went quiet.\n\
         - `tr50_things`, `tr50_things_connected`, `tr50_things_billable`, `tr50_thing_history_latest`, \
         `tr50_connections_latest` and their `*_latest_bucket_timestamp_seconds`: the optional \
         `thing_history` and `connection_history` endpoints, one family (or `counter` label) per \
         field the vendor documents for those replies (see `docs/sources/tr50.md`).\n\
         - `usage_exporter_endpoint_unsupported`, `scc_master_role_changes_total`, \
         `scc_ha_group_info`: an endpoint the upstream's version does not offer is neither success \
         nor failure; HA role changes and HA groups are what the SCC HA alerts read.\n\
         - `qce_metric_period_seconds`, `tr50_usage_bucket_period_seconds`, \
         `aveva_cds_usage_latest_day_timestamp_seconds`, `akana_usage_latest_day_timestamp_seconds`: \
         freshness that can be alerted on — the lag of data that arrives late by design is compared \
         with its period (docs/runbooks.md).\n\
         - `akana_metric_limit`: Akana reports usage but no limits; the target's `limits:` config \
         gives them, for `AkanaUsageNearLimit`.\n\
         - `aveva_cds_usage_downward_revisions_total{measure}`: the vendor revises daily records; \
         the cycle-to-date counters keep their high-water marks (they never go down), and this \
         counts the downward revisions they absorbed, so a revision is visible instead of silent.\n\
         - `tr50_things_billable`: the `billable` array the vendor documents for \
         `usage.thing.history`, named like `tr50_things_connected`.\n\
         - `usage_exporter_poll_failed_units`, `usage_exporter_poll_unit_errors_total{reason}`: a poll \
         may succeed partly (one Tencent metric or AVEVA community failing); what failed is counted \
         instead of discarding what worked.\n\
         - `usage_exporter_target_projected_calls`, `usage_exporter_target_call_budget`, \
         `usage_exporter_target_interval_stretch_factor`: vendors bill API calls; the optional \
         per-target budget and its effect are visible.\n\
         - `usage_exporter_shard_info`, `usage_exporter_shards`, `usage_exporter_targets{owner}`: \
         which targets a sharded replica polls, for `UsageExporterShardCountMismatch` and \
         `UsageExporterShardsMissing`.\n\
         - `usage_exporter_state_persistent` (and, with `--storage.path`, \
         `usage_exporter_state_writes_total`, `..._write_errors_total`, `..._load_errors_total{reason}`): \
         whether counters and back-off survive a restart, and whether the state files are healthy.\n\
         - `usage_exporter_exposition_scrapes_total{format}` and the `format` label of the encode \
         duration: which exposition format scrapers negotiate. `qce_instance_info` (not in the demo, \
         which lists its instances): names, zones and tags of discovered Tencent instances to join \
         onto `qce_*` series.\n\n\
         How each counter counts (`increase()` over any window is the real usage in it; \
         `docs/operations.md` \"State across restarts\" has the restart table):\n\n\
         | counter | counts | `_created` | restart without `--storage.path` | with it |\n\
         |---|---|---|---|---|\n\
         | `scc_backend_*_total`, `scc_resource_*_total`, `scc_backend_calls_total` | the Cloud Connector's own running totals | the vendor's `sinceTime` / reset time | unaffected | unaffected |\n\
         | `akana_*_total` | month-to-date totals read from the platform | start of the report month | unaffected | unaffected |\n\
         | `qce_*` | gauges (Tencent publishes per-period values, no counters) | | | |\n\
         | `tr50_api_calls_total` | window-derived: each bucket once, from a baseline (the first poll's window is not new usage) | the baseline poll | clean reset to 0, new `_created`; at most one bucket's calls uncounted | continues; the downtime's calls count while in the window |\n\
         | `aveva_cds_*_total` | cycle-to-date sum of per-day high-water marks (a day revised down keeps its counted value) | start of the billing cycle | re-read: continues unless a day was revised down during the downtime | never goes down within a cycle |\n\
         | `scc_master_role_changes_total` | role changes the exporter saw | first role answer | reset to 0, new `_created` | continues |\n\
         | `usage_exporter_*_total` | the process's own events | (none) | per process | per process |\n",
    );
    let sections = [
        ("usage_exporter_", "Exporter"),
        ("process_", "Process"),
        ("scc_", "SAP Cloud Connector"),
        ("akana_", "Akana API Platform"),
        ("tr50_", "TR50"),
        ("qce_", "Tencent Cloud Monitor"),
        ("aveva_cds_", "AVEVA CONNECT data services"),
    ];
    for (prefix, title) in sections {
        out.push_str(&format!(
            "\n## {title}\n\n| name | type | unit | labels | help | upstream |\n|---|---|---|---|---|---|\n"
        ));
        for (name, f) in families.iter().filter(|(n, _)| n.starts_with(prefix)) {
            let labels: Vec<String> = f.labels.iter().map(|l| format!("`{l}`")).collect();
            let shown = if f.kind == "counter" {
                format!("{name}_total")
            } else {
                name.clone()
            };
            out.push_str(&format!(
                "| `{shown}` | {} | {} | {} | {} | {} |\n",
                f.kind,
                f.unit,
                labels.join(", "),
                f.help.replace('|', "\\|"),
                origin_of(name, origins)
                    .unwrap_or_default()
                    .replace('|', "\\|"),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_metrics_md_matches_what_the_demo_exposes() {
    // Mid-month and mid-cycle: on a month's first minutes the per-day families do not exist yet,
    // so the demo runs on a date of the test's choosing, not today.
    let at = chrono::DateTime::parse_from_rfc3339("2026-06-16T12:00:00Z")
        .unwrap()
        .to_utc();
    let sims = usage_exporter_sim::demo::start(1).await.unwrap();
    sims.run_clocks_from(at);
    let d = support::start_at(&all_endpoints(&sims.config_yaml()), at).await;
    d.wait_ready(Duration::from_secs(60)).await;
    // Some families need a second poll (counters that start from the first window, caches).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let body = d.metrics().await;
    support::assert_valid_openmetrics(&body);
    let families = families(&body);
    let failing: Vec<_> = support::samples(&body, "usage_exporter_poll_success", &[])
        .into_iter()
        .filter(|l| l.value != 1.0)
        .map(|l| l.labels)
        .collect();
    assert!(failing.is_empty(), "demo endpoints failing: {failing:?}");

    let origins = origins();
    let mut problems = Vec::new();
    for (name, f) in &families {
        let source = !name.starts_with("usage_exporter_") && !name.starts_with("process_");
        if source && !f.labels.contains("target") {
            problems.push(format!("{name}: no `target` label"));
        }
        if origin_of(name, &origins).is_none() {
            problems.push(format!("{name}: no upstream field in docs/sources/*.md"));
        }
        if name.contains("timestamp") && !name.ends_with("_timestamp_seconds") {
            problems.push(format!("{name}: timestamps end in _timestamp_seconds"));
        }
        if f.help.is_empty() || !f.help.ends_with('.') {
            problems.push(format!("{name}: HELP should be a sentence: {:?}", f.help));
        }
        if f.labels
            .iter()
            .any(|l| l.chars().any(|c| c.is_ascii_uppercase()))
        {
            problems.push(format!(
                "{name}: label names are snake_case: {:?}",
                f.labels
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "metric catalogue problems:\n{}",
        problems.join("\n")
    );

    let rendered = render(&families, &origins);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    } else {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == rendered,
            "docs/metrics.md is out of date; run UPDATE_GOLDEN=1 cargo test --test it metrics_doc:: and review the diff"
        );
    }
    d.stop().await;
    drop(sims);
}
