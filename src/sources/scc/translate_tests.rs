//! Golden tests of every translation (update with `UPDATE_GOLDEN=1`, review the diff).

use super::*;
use crate::snapshot::assert_golden;

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/scc/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    crate::upstream::decode_json(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn golden(case: &str, snapshot: &Snapshot) {
    assert_golden(
        &format!("tests/fixtures/scc/golden/{case}.txt"),
        &snapshot.to_golden_text(),
    );
}

#[test]
fn golden_health_and_master_role() {
    golden("health_up", &health(true, None));
    golden("health_down", &health(false, None));
    golden("health_up_ha_group", &health(true, Some("prod-eu")));
    golden(
        "master_role_master",
        &master_role(true, 0, Some(1_764_547_200.0)),
    );
    golden(
        "master_role_shadow",
        &master_role(false, 2, Some(1_764_547_200.0)),
    );
}

#[test]
fn golden_subaccounts_new_format() {
    golden(
        "subaccounts_new",
        &subaccounts(&fixture("subaccounts_new.json")),
    );
}

#[test]
fn golden_subaccounts_old_format() {
    golden(
        "subaccounts_old",
        &subaccounts(&fixture("subaccounts_old.json")),
    );
}

#[test]
fn golden_backend_connections() {
    golden(
        "backend_connections",
        &backend_connections(&fixture("backend_connections.json")),
    );
}

#[test]
fn golden_service_channel_connections() {
    golden(
        "service_channel_connections",
        &service_channel_connections(&fixture("service_channel_connections.json")),
    );
}

#[test]
fn golden_backend_performance() {
    golden(
        "backend_performance",
        &backend_performance(&fixture("backend_performance.json")),
    );
}

#[test]
fn golden_top_time_consumers_without_and_with_user() {
    let p = fixture("top_time_consumers.json");
    golden("top_time_consumers", &top_time_consumers(&p, false));
    golden(
        "top_time_consumers_with_user",
        &top_time_consumers(&p, true),
    );
}

#[test]
fn golden_memory() {
    golden("memory", &memory(&fixture("memory.json")));
}

#[test]
fn golden_certificates_full_and_selection() {
    golden("certificates", &certificates(&fixture("certificates.json")));
    golden(
        "certificates_expiring",
        &certificate_selection("expiring", &fixture("certificates_expiring.json")),
    );
}

#[test]
fn golden_usage_both_key_variants() {
    golden("usage", &usage(&fixture("usage.json")));
    golden("usage_vendor", &usage(&fixture("usage_vendor.json")));
}

#[test]
fn golden_disk_cpu_alerts_version() {
    let v: serde_json::Value = fixture("disk.json");
    golden("disk", &disk(disk_block(&v).as_ref()));
    let v: serde_json::Value = fixture("cpu.json");
    golden("cpu", &cpu(cpu_block(&v).as_ref()));
    golden("alerts", &alerts(&fixture("alerts.json")));
    golden("version", &version(&fixture("version.json")));
}

#[test]
fn tunnel_state_has_one_series_per_known_state_plus_unknown() {
    let snap = subaccounts(&fixture("subaccounts_new.json"));
    let f = snap.family("scc_tunnel_state").unwrap();
    let neo: Vec<_> = f
        .samples
        .iter()
        .filter(|s| s.labels.get("subaccount") == Some("neo123"))
        .map(|s| (s.labels.get("state").unwrap().to_string(), s.value.clone()))
        .collect();
    assert_eq!(neo.len(), 4);
    assert!(neo.contains(&("Reconnecting".into(), Value::Gauge(1.0))));
    assert!(neo.contains(&("Connected".into(), Value::Gauge(0.0))));
    // connected-since only while connected
    let since = snap
        .family("scc_tunnel_connected_since_timestamp_seconds")
        .unwrap();
    assert_eq!(since.samples.len(), 1);
    assert_eq!(since.samples[0].value, Value::Gauge(1_613_562_250.546));
}

#[test]
fn buckets_become_cumulative_with_next_lower_bound_as_le() {
    let b = |min: f64, n: f64| Bucket {
        number_of_calls: Some(n),
        minimum_call_duration_ms: Some(min),
        minimum_call_durations_ms: None,
    };
    let buckets = vec![
        b(10.0, 2.0),
        b(0.0, 5.0),
        b(75.0, 1.0),
        b(5000.0, 1.0),
        b(1250.0, 0.0),
    ];
    assert_eq!(
        cumulative_buckets(&buckets).unwrap(),
        vec![
            ("0.01".to_string(), 5.0),
            ("0.075".to_string(), 7.0),
            ("1.25".to_string(), 8.0),
            ("5".to_string(), 8.0),
            ("+Inf".to_string(), 9.0),
        ]
    );
    assert_eq!(cumulative_buckets(&[]), Some(vec![]));
    // An absent count makes every count above it unknown: no series at all, never a 0.
    let mut absent = buckets.clone();
    absent[2].number_of_calls = None;
    assert_eq!(cumulative_buckets(&absent), None);
    let mut no_bound = buckets.clone();
    no_bound[1].minimum_call_duration_ms = None;
    assert_eq!(cumulative_buckets(&no_bound), None);
    // the full typical SCC ladder formats cleanly
    let ladder = [
        0, 10, 20, 30, 40, 50, 75, 100, 125, 150, 200, 300, 400, 500, 750, 1000, 1250, 1500, 2000,
        2500, 3000, 4000, 5000,
    ];
    let buckets: Vec<_> = ladder.iter().map(|m| b(f64::from(*m), 1.0)).collect();
    let les: Vec<String> = cumulative_buckets(&buckets)
        .unwrap()
        .into_iter()
        .map(|(le, _)| le)
        .collect();
    assert_eq!(les.join(","), "0.01,0.02,0.03,0.04,0.05,0.075,0.1,0.125,0.15,0.2,0.3,0.4,0.5,0.75,1,1.25,1.5,2,2.5,3,4,5,+Inf");
}

#[test]
fn top_time_consumers_never_duplicate_series() {
    let snap = top_time_consumers(&fixture("top_time_consumers.json"), false);
    let (_, dropped) = Snapshot::build(snap.families.clone());
    assert_eq!(dropped, 0);
    let requests = snap.family("scc_top_time_consumer_requests").unwrap();
    let odata = requests
        .samples
        .iter()
        .find(|s| s.labels.get("protocol") == Some("HTTPS"))
        .unwrap();
    assert_eq!(odata.value, Value::Gauge(2.0));
    assert!(odata.labels.get("user").is_none());
}
