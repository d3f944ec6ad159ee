//! Model tests on the real-world shapes of API-NOTES §1.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/scc/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
    crate::upstream::decode_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn old_connected_since_string_with_space_before_offset() {
    // 2021-02-17T12:44:10.546 +0100 = 11:44:10.546 UTC
    assert_eq!(
        parse_time_text("2021-02-17T12:44:10.546 +0100"),
        Some(1_613_562_250.546)
    );
    assert_eq!(
        parse_time_text("2021-02-17T11:44:10Z"),
        Some(1_613_562_250.0)
    );
    assert_eq!(
        parse_time_text("2021-02-17T12:44:10.546+0100"),
        Some(1_613_562_250.546)
    );
    assert_eq!(parse_time_text("1613562250546"), Some(1_613_562_250.546));
    assert_eq!(parse_time_text("0"), None);
    assert_eq!(parse_time_text(""), None);
    assert_eq!(parse_time_text("yesterday"), None);
}

#[test]
fn new_subaccounts_tunnel_object_with_timestamps_and_certificate() {
    let p: SubaccountsPayload =
        crate::upstream::decode_json(&fixture("subaccounts_new.json")).unwrap();
    assert_eq!(p.subaccounts.len(), 3);
    let prod = &p.subaccounts[0];
    assert_eq!(
        prod.ids.key(),
        SubaccountKey {
            subaccount: "8a2b3c4d-prod".into(),
            region_host: "cf.eu10.hana.ondemand.com".into(),
            location_id: "".into()
        }
    );
    let t = prod.tunnel.as_ref().unwrap();
    assert_eq!(t.state.as_deref(), Some("Connected"));
    assert_eq!(t.connected_since_secs(), Some(1_613_562_250.546));
    assert_eq!(t.connections, Some(3.0));
    assert_eq!(t.application_connections.len(), 3);
    assert_eq!(t.application_connections[2].kind.as_deref(), Some("NODEJS"));
    assert_eq!(t.service_channels.len(), 3);
    assert_eq!(
        service_channel_type_state(&t.service_channels[2]),
        ("RFC".to_string(), "Disconnected".to_string())
    );
    let cert = t.subaccount_certificate.as_ref().unwrap();
    assert_eq!(cert.not_after_time_stamp, Some(1_735_689_600.0));
    assert_eq!(cert.not_before_time_stamp, Some(1_704_067_200.0));
    // connectedSinceTimeStamp 0 = not connected
    let dev = p.subaccounts[1].tunnel.as_ref().unwrap();
    assert_eq!(dev.connected_since_secs(), None);
    assert_eq!(p.subaccounts[1].ids.key().location_id, "plant2");
    // unknown state passes through; missing optional fields are fine
    let neo = &p.subaccounts[2];
    assert_eq!(
        neo.tunnel.as_ref().unwrap().state.as_deref(),
        Some("Reconnecting")
    );
    assert_eq!(neo.description, None);
    assert_eq!(neo.display_name.as_deref(), Some(""));
}

#[test]
fn old_subaccounts_tunnel_array_and_string_connected_since() {
    let p: SubaccountsPayload =
        crate::upstream::decode_json(&fixture("subaccounts_old.json")).unwrap();
    let t = p.subaccounts[0].tunnel.as_ref().unwrap();
    assert_eq!(t.connected_since_secs(), Some(1_613_562_250.546));
    assert!(t.subaccount_certificate.is_none());
    let failed = p.subaccounts[1].tunnel.as_ref().unwrap();
    assert_eq!(failed.state.as_deref(), Some("ConnectFailure"));
    assert_eq!(failed.connected_since_secs(), None);
    assert_eq!(
        p.subaccounts[2].tunnel.as_ref().unwrap().connections,
        Some(0.0)
    );
}

#[test]
fn tunnel_edge_shapes() {
    let p: SubaccountsPayload = parse(
        r#"{"subaccounts":[{"subaccount":"a","tunnel":[]},{"subaccount":"b","tunnel":null},{"subaccount":"c"}]}"#,
    );
    assert!(p.subaccounts.iter().all(|s| s.tunnel.is_none()));
    let p: SubaccountsPayload = parse(r#"{"subaccounts":null,"version":1}"#);
    assert!(p.subaccounts.is_empty());
    let p: SubaccountsPayload = parse("{}");
    assert!(p.subaccounts.is_empty());
    // certificate beside the tunnel
    let p: SubaccountsPayload = parse(
        r#"{"subaccounts":[{"subaccount":"a","subaccountCertificate":{"notAfterTimeStamp":1000}}]}"#,
    );
    assert_eq!(
        p.subaccounts[0]
            .subaccount_certificate
            .as_ref()
            .unwrap()
            .not_after_time_stamp,
        Some(1.0)
    );
}

#[test]
fn backend_and_service_channel_connections() {
    let p: BackendConnectionsPayload =
        crate::upstream::decode_json(&fixture("backend_connections.json")).unwrap();
    let c = &p.subaccounts[0].backend_connections;
    assert_eq!(c.len(), 3);
    assert_eq!(c[1].virtual_backend.as_deref(), Some("ecc:sapgw42"));
    assert_eq!(c[2].idle, None);
    assert!(p.subaccounts[1].backend_connections.is_empty());
    let p: ServiceChannelConnectionsPayload =
        crate::upstream::decode_json(&fixture("service_channel_connections.json")).unwrap();
    let c = &p.subaccounts[0].service_channel_connections;
    assert_eq!(c[0].port.as_deref(), Some("30015"));
    assert_eq!(c[1].port.as_deref(), Some("3300"));
    assert_eq!(
        c[1].type_desc.as_ref().unwrap().type_key.as_deref(),
        Some("ABAPCloud")
    );
}

#[test]
fn performance_both_bucket_spellings_and_since_time_forms() {
    let p: PerformancePayload =
        crate::upstream::decode_json(&fixture("backend_performance.json")).unwrap();
    let prod = &p.subaccounts[0];
    assert_eq!(prod.since_time, Some(1_613_562_250.546));
    let erp = &prod.backend_performance[0];
    assert_eq!(erp.virtual_port.as_deref(), Some("443"));
    assert_eq!(erp.buckets[1].minimum_ms(), Some(10.0));
    assert_eq!(
        prod.backend_performance[1].virtual_port.as_deref(),
        Some("sapgw42")
    );
    let dev = &p.subaccounts[1];
    assert_eq!(dev.since_time, Some(1_613_562_250.546));
    let b = &dev.backend_performance[0];
    assert_eq!(b.virtual_port.as_deref(), Some("8080"));
    assert_eq!(b.buckets[0].minimum_ms(), Some(100.0));
    assert_eq!(b.buckets[0].number_of_calls, Some(2.0));
}

#[test]
fn top_time_consumers_both_sso_spellings_and_string_numbers() {
    let p: TopTimeConsumersPayload =
        crate::upstream::decode_json(&fixture("top_time_consumers.json")).unwrap();
    let r = &p.subaccounts[0].requests;
    assert_eq!(r[0].phases()[4], ("validate_sso", Some(3.0)));
    assert_eq!(r[1].phases()[4], ("validate_sso", Some(7.0)));
    assert_eq!(r[2].phases()[4], ("validate_sso", None));
    assert_eq!(r[2].sent_bytes, Some(300.0));
    assert_eq!(r[0].id.as_deref(), Some("881"));
}

#[test]
fn memory_exact_shape_and_lowercase_variant() {
    let p: MemoryPayload = crate::upstream::decode_json(&fixture("memory.json")).unwrap();
    assert_eq!(
        p.physical.as_ref().unwrap().usages()[1],
        ("cloud_connector", Some(1_048_576.0))
    );
    assert_eq!(p.heap.as_ref().unwrap().used, Some(524_288.0));
    let p: MemoryPayload = parse(r#"{"physicalKB":{"cloudConnector":5}}"#);
    assert_eq!(
        p.physical.unwrap().usages()[1],
        ("cloud_connector", Some(5.0))
    );
    assert!(p.virtual_.is_none());
}

#[test]
fn certificates_full_and_selection() {
    let p: CertificatesPayload =
        crate::upstream::decode_json(&fixture("certificates.json")).unwrap();
    assert_eq!(p.expired.as_ref().unwrap().len(), 1);
    let sub = &p.expired.as_ref().unwrap()[0];
    assert_eq!(sub.ids.key().subaccount, "9f8e-dev");
    assert_eq!(sub.ids.key().region_host, "cf.us10.hana.ondemand.com");
    assert_eq!(sub.valid_to, Some(1_700_000_000.0));
    assert_eq!(p.ok.as_ref().unwrap()[1].serial_number, None);
    let l: CertificateList =
        crate::upstream::decode_json(&fixture("certificates_expiring.json")).unwrap();
    assert_eq!(l.0.len(), 2);
    let l: CertificateList = parse("null");
    assert!(l.0.is_empty());
    let p: CertificatesPayload = parse(r#"{"ok":[]}"#);
    assert!(p.expired.is_none());
    assert_eq!(p.ok.map(|v| v.len()), Some(0));
}

#[test]
fn usage_documented_and_vendor_example_keys() {
    let p: UsagePayload = crate::upstream::decode_json(&fixture("usage.json")).unwrap();
    let s = &p.subaccounts[0];
    assert_eq!(s.ids.key().subaccount, "8a2b3c4d-prod");
    assert_eq!(s.since_time, Some(1_613_562_250.546));
    assert_eq!(
        s.usage_statistics[0].most_recent_access,
        Some(1_763_700_000.0)
    );
    assert_eq!(s.usage_statistics[1].most_recent_access, None);
    assert_eq!(s.usage_statistics[1].virtual_port.as_deref(), Some("8000"));
    assert_eq!(s.usage_statistics[0].resources[1].enabled, Some(false));
    let p: UsagePayload = crate::upstream::decode_json(&fixture("usage_vendor.json")).unwrap();
    let s = &p.subaccounts[0];
    assert_eq!(
        s.ids.key(),
        SubaccountKey {
            subaccount: "8a2b3c4d-prod".into(),
            region_host: "cf.eu10.hana.ondemand.com".into(),
            location_id: "".into()
        }
    );
    assert_eq!(s.since_time, Some(1_613_562_250.546));
    assert_eq!(s.usage_statistics[0].bytes_received, Some(10.0));
    assert_eq!(s.usage_statistics[0].resources[0].enabled, Some(true));
    // both spellings present at once: no duplicate-field error, documented one wins
    let p: UsagePayload = parse(
        r#"{"subaccounts":[{"subaccount":"a","subaccountName":"b","regionHost":"r","subaccountRegion":"q"}]}"#,
    );
    assert_eq!(p.subaccounts[0].ids.key().subaccount, "a");
    assert_eq!(p.subaccounts[0].ids.key().region_host, "r");
}

#[test]
fn disk_and_cpu_top_level_or_nested() {
    let v: serde_json::Value = crate::upstream::decode_json(&fixture("disk.json")).unwrap();
    let d = disk_block(&v).unwrap();
    assert_eq!(d.total, Some(102_400.0));
    assert_eq!(d.cloud_connector, Some(2048.0));
    let v: serde_json::Value = crate::upstream::decode_json(&fixture("cpu.json")).unwrap();
    let c = cpu_block(&v).unwrap();
    assert_eq!(c.total, Some(37.5));
    let v: serde_json::Value = parse(r#"{"cpuUsagePercent":{"CloudConnector":3}}"#);
    assert_eq!(cpu_block(&v).unwrap().cloud_connector, Some(3.0));
    let v: serde_json::Value = parse(r#"{"version":1}"#);
    assert!(disk_block(&v).is_none());
}

#[test]
fn alerts_and_version() {
    let p: AlertsPayload = crate::upstream::decode_json(&fixture("alerts.json")).unwrap();
    assert_eq!(p.alerts.len(), 3);
    assert_eq!(p.alerts[2].kind.as_deref(), Some("CERTIFICATE_EXPIRING"));
    let p: VersionPayload = crate::upstream::decode_json(&fixture("version.json")).unwrap();
    assert_eq!(p.version.as_deref(), Some("2.19.0.2"));
}

#[test]
fn master_role_bodies() {
    for (body, want) in [
        ("true", Some(true)),
        ("false", Some(false)),
        (" TRUE\n", Some(true)),
        ("False", Some(false)),
        ("\"true\"", Some(true)),
        (r#"{"hasMasterRole": false}"#, Some(false)),
        (r#"{"result": "TRUE"}"#, Some(true)),
        ("maybe", None),
        ("", None),
    ] {
        assert_eq!(parse_master_role(body), want, "{body:?}");
    }
}

#[test]
fn wrong_types_in_optional_fields_do_not_fail_the_payload() {
    let p: BackendConnectionsPayload = parse(
        r#"{"subaccounts":[{"subaccount":"a","backendConnections":[{"idle":"n/a","active":{"x":1},"protocol":7}]}]}"#,
    );
    let c = &p.subaccounts[0].backend_connections[0];
    assert_eq!(c.idle, None);
    assert_eq!(c.active, None);
    assert_eq!(c.protocol.as_deref(), Some("7"));
}
