//! Property tests over hostile input (issue 10, fuzzing part), bounded to a few seconds:
//!
//! - every model parser of every source survives arbitrary bytes, arbitrary JSON and mutations
//!   of the realistic payloads under `tests/fixtures/` (a decode error is fine, a panic is not);
//! - every translation of a parsed model yields finite, non-negative counters, gauges that are
//!   not NaN, valid names and no duplicate series or label names;
//! - the config loader survives arbitrary and mutated YAML, and names the key of what it rejects;
//! - the Tencent signature code survives arbitrary input and is deterministic;
//! - arbitrary unicode label values from every source encode to an exposition the independent
//!   Python `prometheus_client` OpenMetrics parser accepts (many cases per parser call).
//!
//! The same entry points are driven by the cargo-fuzz targets under `fuzz/` (docs/fuzzing.md).
//! Case counts are set for a loaded 2-core machine; raise them with `PROPTEST_CASES=n`.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, FileFailurePersistence};
use serde_json::Value as J;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use usage_exporter::snapshot::{MetricKind, Snapshot, Value};
use usage_exporter::sources::tencent::TencentApi;
use usage_exporter::sources::{akana, aveva, scc, tencent, tr50, ParseFn, PollContext, Source};
use usage_exporter::upstream::decode_json;

// ---------------------------------------------------------------------------------------------
// Inputs

fn fixture(kind: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/{kind}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every realistic payload of every source, with the parser it belongs to.
fn payloads() -> Vec<(Parser, Vec<u8>)> {
    use Parser::*;
    let mut out = vec![(Akana, fixture("akana", "vendor-sample.json"))];
    for name in [
        "api_history_documented.json",
        "api_history_org_odd.json",
        "api_history_poll1.json",
        "api_history_poll2.json",
        "connection_history.json",
        "thing_history.json",
    ] {
        out.push((Tr50, fixture("tr50", name)));
    }
    out.push((
        TencentCatalogV3,
        fixture("tencent", "v3_describe_base_metrics.json"),
    ));
    out.push((
        TencentCatalogV2,
        fixture("tencent", "v2_describe_metrics.json"),
    ));
    out.push((
        TencentDataV3,
        fixture("tencent", "v3_get_monitor_data.json"),
    ));
    out.push((
        TencentDataV2,
        fixture("tencent", "v2_get_monitor_data.json"),
    ));
    out.push((
        TencentDataV2,
        fixture("tencent", "v2_get_metric_statistics_short.json"),
    ));
    out.push((AvevaCycles, fixture("aveva", "billing_cycles.json")));
    for name in [
        "tenant_usage_all.json",
        "tenant_usage_namespace.json",
        "tenant_usage_odd.json",
    ] {
        out.push((AvevaTenant, fixture("aveva", name)));
    }
    for name in [
        "community_usage_internal.json",
        "community_usage_external.json",
    ] {
        out.push((AvevaCommunity, fixture("aveva", name)));
    }
    out.push((AvevaResources, fixture("aveva", "resource_usage.json")));
    for (endpoint, file) in SCC_PAYLOADS {
        out.push((Scc(endpoint), fixture("scc", file)));
    }
    out
}

/// SCC endpoints with their realistic payloads.
const SCC_PAYLOADS: [(&str, &str); 15] = [
    ("subaccounts", "subaccounts_new.json"),
    ("subaccounts", "subaccounts_old.json"),
    ("backend_connections", "backend_connections.json"),
    (
        "service_channel_connections",
        "service_channel_connections.json",
    ),
    ("backend_performance", "backend_performance.json"),
    ("top_time_consumers", "top_time_consumers.json"),
    ("memory", "memory.json"),
    ("certificates", "certificates.json"),
    ("certificates_expiring", "certificates_expiring.json"),
    ("usage", "usage.json"),
    ("usage", "usage_vendor.json"),
    ("disk", "disk.json"),
    ("cpu", "cpu.json"),
    ("alerts", "alerts.json"),
    ("version", "version.json"),
];

/// Field names of the vendor models, so arbitrary JSON hits the deserializers' real paths.
const KEYS: &[&str] = &[
    "Response",
    "Error",
    "Code",
    "Message",
    "RequestId",
    "DataPoints",
    "Dimensions",
    "Name",
    "Value",
    "Timestamps",
    "Values",
    "AvgValues",
    "MaxValues",
    "MinValues",
    "MetricSet",
    "Namespace",
    "MetricName",
    "Unit",
    "Period",
    "Periods",
    "StatType",
    "code",
    "message",
    "metricSet",
    "namespace",
    "metricName",
    "unit",
    "uint",
    "period",
    "statType",
    "dataPoints",
    "startTime",
    "endTime",
    "InstanceId",
    "PlatformUsage",
    "UsageMetric",
    "MetricID",
    "MetricType",
    "MetricValue",
    "MetricUnits",
    "DayUsage",
    "Date",
    "MetricItem",
    "AggregateUsage",
    "MetricItemList",
    "Type",
    "ReportPeriod",
    "StartDate",
    "EndDate",
    "ReportGeneratedTimestamp",
    "loginStatus",
    "pendingTasks",
    "fedmemberID",
    "1",
    "auth",
    "success",
    "params",
    "counters",
    "total",
    "ts",
    "errorCodes",
    "errorMessages",
    "things",
    "connected",
    "billable",
    "hasRatePlan",
    "activated",
    "inSession",
    "TenantId",
    "NamespaceId",
    "CommunityId",
    "ClusterRegion",
    "IngressEvents",
    "EgressEvents",
    "IngressStreamsAccessed",
    "EgressStreamsAccessed",
    "CallerTenantId",
    "CalleeTenantId",
    "StreamCount",
    "EntitledStreamCount",
    "NamespaceCount",
    "access_token",
    "expires_in",
    "OperationId",
    "Reason",
];

/// Scalars that have broken lenient parsers elsewhere: special floats as text, huge numbers,
/// dates at the edges, empty and whitespace strings.
const TRICKY: &[&str] = &[
    "NaN",
    "inf",
    "-inf",
    "infinity",
    "1e400",
    "-1e400",
    "1e308",
    "-5",
    "0",
    "",
    " ",
    "12",
    "2026-11-01T00:00:00Z",
    "2026-11-01",
    "2016-02-21T00:00:00.000+0000",
    "+262142-12-31",
    "9999-12-31T23:59:59.999Z",
    "0000-01-01T00:00:00Z",
    "2023-11-15 06:11:00",
    "ins-5e6f7a8b",
    "Aggregate",
    "PerDayWithAggregate",
    "ListWithAggregate",
    "TotalUsageCount",
    "TotalResponseTime",
    "Millisecond",
    "avg",
    "max",
    "60,300",
    "target",
    "le",
    "__name__",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(TRICKY).prop_map(str::to_string),
        2 => "\\PC{0,16}",
        1 => any::<String>(),
    ]
}

fn arb_number() -> impl Strategy<Value = J> {
    prop_oneof![
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        any::<f64>()
            .prop_filter("JSON has no NaN/inf", |f| f.is_finite())
            .prop_map(J::from),
        proptest::sample::select(&[0.0, -1.0, 1e308, -1e308, 1e19, 1.7e308, 5e-324][..])
            .prop_map(J::from),
        (0i64..4_102_444_800).prop_map(J::from),
    ]
}

/// Arbitrary nested JSON, keys mostly from the vendor models.
fn arb_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::from),
        arb_number(),
        arb_string().prop_map(J::from),
    ];
    let key = prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

/// Number of nodes of a JSON tree.
fn count(v: &J) -> usize {
    1 + match v {
        J::Array(a) => a.iter().map(count).sum(),
        J::Object(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

/// The `n`th node (pre-order) of a JSON tree.
fn node_mut(v: &mut J, n: usize) -> Option<&mut J> {
    fn walk<'a>(v: &'a mut J, n: &mut usize) -> Option<&'a mut J> {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
        match v {
            J::Array(a) => a.iter_mut().find_map(|c| walk(c, n)),
            J::Object(m) => m.values_mut().find_map(|c| walk(c, n)),
            _ => None,
        }
    }
    let mut n = n;
    walk(v, &mut n)
}

/// One structural mutation of a JSON tree.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the node with arbitrary JSON.
    Replace(usize, J),
    /// Remove a member or element of the node (when it is a container).
    Remove(usize, usize),
    /// Duplicate an array's element / wrap the node in an array / unwrap a one-element array.
    Reshape(usize, u8),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), arb_json()).prop_map(|(i, j)| Mutation::Replace(i, j)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(i, k)| Mutation::Remove(i, k)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, k)| Mutation::Reshape(i, k)),
    ]
}

fn mutate(v: &mut J, mutation: &Mutation) {
    let n = count(v);
    match mutation {
        Mutation::Replace(i, j) => {
            if let Some(node) = node_mut(v, i % n) {
                *node = j.clone();
            }
        }
        Mutation::Remove(i, k) => match node_mut(v, i % n) {
            Some(J::Array(a)) if !a.is_empty() => {
                let k = k % a.len();
                a.remove(k);
            }
            Some(J::Object(m)) if !m.is_empty() => {
                let key = m.keys().nth(k % m.len()).cloned().unwrap_or_default();
                m.remove(&key);
            }
            _ => {}
        },
        Mutation::Reshape(i, k) => {
            if let Some(node) = node_mut(v, i % n) {
                *node = match (node.take(), k % 3) {
                    (J::Array(mut a), 0) if !a.is_empty() => {
                        a.push(a[0].clone());
                        J::Array(a)
                    }
                    (J::Array(mut a), 1) if a.len() == 1 => a.remove(0),
                    (other, _) => J::Array(vec![other]),
                };
            }
        }
    }
}

/// Byte-level damage of a payload: truncation, flipped bytes, inserted bytes.
fn damage(bytes: &mut Vec<u8>, ops: &[(usize, u8, u8)]) {
    for &(at, byte, op) in ops {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = at % bytes.len();
        match op % 4 {
            0 => bytes.truncate(at),
            1 => bytes[at] = byte,
            2 => bytes.insert(at, byte),
            _ => {
                bytes.remove(at);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers: byte → model → translation, per endpoint

#[derive(Debug, Clone, Copy, PartialEq)]
enum Parser {
    Akana,
    AkanaLogin,
    Tr50,
    TencentCatalogV3,
    TencentCatalogV2,
    TencentDataV3,
    TencentDataV2,
    AvevaCycles,
    AvevaTenant,
    AvevaCommunity,
    AvevaResources,
    AvevaToken,
    /// One SCC JSON endpoint.
    Scc(&'static str),
    /// SCC `hasMasterRole` text.
    SccRole,
    /// The body parser of a row of any source's endpoint table: (kind, endpoint).
    Table(&'static str, &'static str),
}

fn all_parsers() -> Vec<Parser> {
    let mut all = BASE_PARSERS.to_vec();
    // Every SCC endpoint whose table row has a body parser.
    all.extend(
        usage_exporter::sources::registry::endpoints("scc")
            .into_iter()
            .filter(|e| e.parse.is_some())
            .map(|e| Parser::Scc(e.name)),
    );
    all.push(Parser::SccRole);
    // And every row of every other source's table with a body parser.
    for kind in usage_exporter::sources::KINDS {
        let name = kind.kind();
        if name == "scc" {
            continue;
        }
        all.extend(
            kind.endpoints()
                .into_iter()
                .filter(|e| e.parse.is_some())
                .map(|e| Parser::Table(name, e.name)),
        );
    }
    all
}

const BASE_PARSERS: [Parser; 12] = [
    Parser::Akana,
    Parser::AkanaLogin,
    Parser::Tr50,
    Parser::TencentCatalogV3,
    Parser::TencentCatalogV2,
    Parser::TencentDataV3,
    Parser::TencentDataV2,
    Parser::AvevaCycles,
    Parser::AvevaTenant,
    Parser::AvevaCommunity,
    Parser::AvevaResources,
    Parser::AvevaToken,
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

/// The instances a Tencent `GetMonitorData` answer is matched against: the dimension sets it
/// names itself (so that realistic payloads produce readings) plus a fixed one.
fn tencent_instances(body: &[u8]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![vec![("InstanceId".to_string(), "ins-5e6f7a8b".to_string())]];
    let Ok(v) = serde_json::from_slice::<J>(body) else {
        return out;
    };
    let points = v.pointer("/Response/DataPoints").and_then(J::as_array);
    for p in points.into_iter().flatten().take(8) {
        let dims: Vec<(String, String)> = p
            .get("Dimensions")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some((
                    d.get("Name")?.as_str()?.into(),
                    d.get("Value")?.as_str()?.into(),
                ))
            })
            .collect();
        if !dims.is_empty() {
            out.push(dims);
        }
    }
    out
}

/// TR50 replies come as the bare `params` of a history command or as the whole envelope; the
/// endpoints' parse fns read the params.
fn tr50_params(body: &[u8]) -> Option<Vec<u8>> {
    let value: J = decode_json(body).ok()?;
    match &value {
        J::Object(map) if map.contains_key("1") => match tr50::model::Envelope::from_map(map) {
            tr50::model::Envelope::Replies(replies) => {
                serde_json::to_vec(&replies.get("1")?.params.clone()?).ok()
            }
            tr50::model::Envelope::TopLevelFailure(reply) => {
                let _ = (reply.ok(), reply.describe());
                None
            }
        },
        _ => Some(body.to_vec()),
    }
}

/// Runs one parser on a body; returns the snapshots it produced (none on a decode error).
fn run(parser: Parser, body: &[u8]) -> Vec<Snapshot> {
    let aveva_cycle = aveva::Cycle {
        start: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        end: None,
    };
    let aveva_ctx = PollContext { now: now().into() };
    let series = ("QCE/CVM", "CPUUsage", 60, "avg");
    let ok = |r: Result<Snapshot, _>| r.into_iter().collect::<Vec<_>>();
    match parser {
        Parser::Akana => {
            // The table's parser and its item_info-off twin: what the poll runs on the body.
            let ctx = usage_exporter::sources::PollContext {
                now: std::time::SystemTime::now(),
            };
            [
                akana::parse::metrics,
                akana::parse::metrics_without_item_info,
            ]
            .into_iter()
            .filter_map(|parse| parse(body, &ctx).ok())
            .map(|snapshot| akana::with_subscription(snapshot, "sub"))
            .collect()
        }
        Parser::AkanaLogin => {
            let _ = akana::decode_login(body);
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = akana::parse_set_cookie(text);
                let _ = akana::token_lifetime_from_value(text);
            }
            Vec::new()
        }
        Parser::Tr50 => {
            let Some(params) = tr50_params(body) else {
                return Vec::new();
            };
            let ctx = PollContext {
                now: std::time::SystemTime::UNIX_EPOCH,
            };
            // The table's parse fns (api_history first), the org variant of api_history, and a
            // window observed twice (counted once).
            let parsers = tr50::Tr50::ENDPOINTS
                .iter()
                .filter_map(|e| e.info.parse)
                .chain([tr50::parse::api_history_by_org as ParseFn]);
            let mut out: Vec<Snapshot> = parsers.filter_map(|p| p(&params, &ctx).ok()).collect();
            let history = serde_json::from_slice::<J>(&params)
                .ok()
                .and_then(|v| tr50::model::History::from_params(tr50::API_HISTORY, v).ok());
            if let Some(history) = history {
                let series = history.series();
                let _ = history.latest_bucket();
                let mut counter = tr50::counter::CallCounter::new();
                let mut values = Vec::new();
                for _ in 0..2 {
                    values = counter.observe(
                        1_700_000_000,
                        series.iter().map(|(k, b)| (k.as_str(), b.iter().copied())),
                    );
                }
                out.push(tr50::translate::api_history(&history, &values, "service"));
            }
            out
        }
        Parser::TencentCatalogV3 => ok(tencent::parse::metric_catalog(
            TencentApi::V3,
            "QCE/CVM",
            body,
        )),
        Parser::TencentCatalogV2 => ok(tencent::parse::metric_catalog(
            TencentApi::V2,
            "qce/cvm",
            body,
        )),
        Parser::TencentDataV3 => ok(tencent::parse::metric_data_v3(
            "ap-guangzhou",
            series,
            &tencent_instances(body),
            body,
        )),
        Parser::TencentDataV2 => ok(tencent::parse::metric_data_v2(
            "gz",
            series,
            &vec![("InstanceId".into(), "ins-1".into())],
            (1_700_000_000, 8 * 3600),
            body,
        )),
        Parser::AvevaCycles => aveva::parse::cycles(body, &aveva_ctx)
            .map(|(cycle, snapshot)| {
                // Feed the cycle read back into the usage translation, as the source does.
                let mut out = vec![snapshot];
                if let Some(cycle) = cycle {
                    out.extend(aveva::parse::tenant_usage(b"[]", cycle, &aveva_ctx));
                }
                out
            })
            .unwrap_or_default(),
        Parser::AvevaTenant => ok(aveva::parse::tenant_usage(body, aveva_cycle, &aveva_ctx)),
        Parser::AvevaCommunity => aveva::CommunitySource::ALL
            .into_iter()
            .filter_map(|source| {
                aveva::parse::community_usage(body, "c", source, aveva_cycle, &aveva_ctx).ok()
            })
            .collect(),
        Parser::AvevaResources => ok(aveva::parse::resource_usage(body, &aveva_ctx)),
        Parser::AvevaToken => {
            let _ = aveva::parse::token(body);
            let _ = aveva::parse::error_body(body);
            Vec::new()
        }
        Parser::Scc(endpoint) => {
            let ctx = PollContext {
                now: std::time::UNIX_EPOCH,
            };
            let row = usage_exporter::sources::registry::endpoints("scc")
                .into_iter()
                .find(|e| e.name == endpoint)
                .and_then(|e| e.parse)
                .expect("an SCC endpoint with a body parser");
            let mut parsers = vec![row];
            if endpoint == "top_time_consumers" {
                // The table's row keeps the personal label; the default drops it.
                parsers.push(scc::parse::top_time_consumers);
            }
            parsers
                .into_iter()
                .filter_map(|parse| parse(body, &ctx).ok())
                .collect()
        }
        Parser::Table(kind, endpoint) => {
            let ctx = PollContext {
                now: std::time::UNIX_EPOCH,
            };
            let parse = usage_exporter::sources::registry::endpoints(kind)
                .into_iter()
                .find(|e| e.name == endpoint)
                .and_then(|e| e.parse)
                .expect("a row with a body parser");
            ok(parse(body, &ctx))
        }
        Parser::SccRole => {
            let _ = scc::model::parse_master_role(&String::from_utf8_lossy(body));
            Vec::new()
        }
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// The invariants every translation keeps, as a description of the first violation.
fn check(snapshot: &Snapshot) -> Result<(), String> {
    let mut names = HashSet::new();
    for family in &snapshot.families {
        if !valid_metric_name(&family.name) {
            return Err(format!("invalid family name {:?}", family.name));
        }
        if !names.insert(family.sample_name()) {
            return Err(format!("family {} twice", family.name));
        }
        let mut series = HashSet::new();
        for sample in &family.samples {
            let mut label_names = HashSet::new();
            for (name, _) in sample.labels.iter() {
                if !valid_label_name(name) || name == "target" {
                    return Err(format!("{}: invalid label name {name:?}", family.name));
                }
                if !label_names.insert(name) {
                    return Err(format!("{}: label {name} twice in one series", family.name));
                }
            }
            if !series.insert(&sample.labels) {
                return Err(format!(
                    "{}: duplicate series {:?}",
                    family.name, sample.labels
                ));
            }
            match (&sample.value, family.kind) {
                // A gauge may be ±Inf (valid OpenMetrics, e.g. 1e308 MB in bytes), never NaN.
                (Value::Gauge(v), MetricKind::Gauge) if !v.is_nan() => {}
                (Value::Counter { total, created }, MetricKind::Counter)
                    if total.is_finite() && *total >= 0.0 && created.is_none_or(f64::is_finite) => {
                }
                (Value::Histogram { .. }, MetricKind::Histogram) => {}
                (value, kind) => {
                    return Err(format!(
                        "{} ({kind:?}) {:?}: bad value {value:?}",
                        family.name, sample.labels
                    ))
                }
            }
        }
    }
    Ok(())
}

fn run_all_checked(body: &[u8]) -> Result<(), TestCaseError> {
    for parser in all_parsers() {
        for snapshot in run(parser, body) {
            check(&snapshot).map_err(|e| TestCaseError::fail(format!("{parser:?}: {e}")))?;
        }
    }
    Ok(())
}

fn config(cases: u32) -> PropConfig {
    PropConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_shrink_iters: 2000,
        ..PropConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers and translations

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn parsers_survive_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        run_all_checked(&body)?;
    }

    #[test]
    fn parsers_survive_arbitrary_json(value in arb_json()) {
        run_all_checked(&serde_json::to_vec(&value).unwrap())?;
        // Wrapped the way the envelopes wrap payloads.
        run_all_checked(&serde_json::to_vec(&serde_json::json!({"Response": value})).unwrap())?;
        run_all_checked(&serde_json::to_vec(&serde_json::json!({"1": {"success": true, "params": value}})).unwrap())?;
    }

    #[test]
    fn parsers_survive_mutated_payloads(
        which in any::<usize>(),
        mutations in proptest::collection::vec(arb_mutation(), 1..4),
        damage_ops in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..3),
    ) {
        let all = payloads();
        let (parser, body) = &all[which % all.len()];
        let mut value: J = serde_json::from_slice(body).unwrap();
        for m in &mutations {
            mutate(&mut value, m);
        }
        let mut bytes = serde_json::to_vec(&value).unwrap();
        for snapshot in run(*parser, &bytes) {
            check(&snapshot).map_err(|e| TestCaseError::fail(format!("{parser:?}: {e}")))?;
        }
        damage(&mut bytes, &damage_ops);
        run_all_checked(&bytes)?;
    }
}

/// Numbers at the edges, as JSON numbers and as numeric text.
const TRICKY_NUMBERS: &[f64] = &[
    -1.0, -0.0, 0.0, 0.5, 1e308, 1.7e308, -1e308, 1e19, 9.3e18, 4e12, 1e-300, 5e-324,
];

/// Replaces numeric leaves (numbers and numeric strings) where `picks` says so.
fn replace_numbers(v: &mut J, picks: &[(bool, usize, bool)], i: &mut usize) {
    match v {
        J::Number(_) | J::String(_)
            if v.as_f64().is_some()
                || v.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok()) =>
        {
            let (replace, which, as_text) = picks[*i % picks.len()];
            *i += 1;
            if replace {
                let n = TRICKY_NUMBERS[which % TRICKY_NUMBERS.len()];
                *v = if as_text {
                    J::from(n.to_string())
                } else {
                    J::from(n)
                };
            }
        }
        J::Array(a) => a.iter_mut().for_each(|c| replace_numbers(c, picks, i)),
        J::Object(m) => m.values_mut().for_each(|c| replace_numbers(c, picks, i)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn parsers_survive_numbers_at_the_edges(
        which in any::<usize>(),
        picks in proptest::collection::vec((any::<bool>(), any::<usize>(), any::<bool>()), 1..16),
    ) {
        let mut all = payloads();
        all.push((Parser::AvevaToken, br#"{"access_token": "t", "expires_in": 3600}"#.to_vec()));
        let (parser, body) = &all[which % all.len()];
        let mut value: J = serde_json::from_slice(body).unwrap();
        replace_numbers(&mut value, &picks, &mut 0);
        for snapshot in run(*parser, &serde_json::to_vec(&value).unwrap()) {
            check(&snapshot).map_err(|e| TestCaseError::fail(format!("{parser:?}: {e}")))?;
        }
    }
}

#[test]
fn realistic_payloads_translate_cleanly() {
    for (parser, body) in payloads() {
        let snapshots = run(parser, &body);
        assert!(
            snapshots.iter().any(|s| s.series_count() > 0),
            "{parser:?}: no series from a realistic payload"
        );
        for s in &snapshots {
            check(s).unwrap_or_else(|e| panic!("{parser:?}: {e}"));
        }
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Tencent series names and labels come from the config (namespace, metric, statistic,
    /// dimension names); whatever they are, the snapshot stays valid.
    #[test]
    fn tencent_readings_translate_cleanly(
        readings in proptest::collection::vec(
            (arb_string(), arb_string(), arb_string(),
             proptest::collection::vec((arb_string(), arb_string()), 0..4),
             any::<f64>().prop_filter("finite", |f| f.is_finite()),
             any::<f64>().prop_filter("finite", |f| f.is_finite())),
            0..6),
        region in arb_string(),
    ) {
        let readings: Vec<_> = readings
            .into_iter()
            .map(|(namespace, metric, stat, dimensions, timestamp, value)| tencent::translate::Reading {
                namespace, metric, stat, dimensions, timestamp, value,
            })
            .collect();
        check(&tencent::translate::metric_data(&region, &readings)).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Config loader

const REALISTIC_CONFIG: &str = "\
global:
  timeout: 10s
  body_limit_bytes: 67108864
  max_backoff_factor: 4
sources:
  akana:
    - name: portal
      url: https://akana.example.com
      subscription_id: acmepaymentscorp
      email: monitor@example.com
      password: ${AKANA_PASSWORD}
      token_lifetime: 30m
      item_info: true
      endpoints: {metrics: 5m}
  tr50:
    - name: dw
      url: https://api.devicewise.com/api
      username: monitor@example.com
      password: secret
      endpoints: {api_history: 5m, thing_history: off}
  tencent:
    - name: gz
      api: v3
      region: ap-guangzhou
      secret_id: AKIDexample
      secret_key: key
      batch_size: 50
      rate_limit: 15
      endpoints: {metric_data: 60s, metric_catalog: 1h}
      metrics:
        - namespace: QCE/CVM
          names: [CPUUsage, MemUsage]
          period: 60s
          instances:
            - {InstanceId: ins-1a2b3c4d}
  aveva:
    - name: cds
      url: https://uswe.datahub.connect.aveva.com
      tenant_id: 00000000-0000-0000-0000-000000000000
      client_id: client
      client_secret: secret
      community_ids: []
      group_by: Namespace
      timeout: 30s
      stale_after: 1h
";

fn lookup(name: &str) -> Option<String> {
    (name == "AKANA_PASSWORD").then(|| "pw".to_string())
}

fn parse_config(text: &str) -> Result<(), usage_exporter::config::ConfigError> {
    usage_exporter::sources::parse_config(text, Path::new("fuzz.yml"), &lookup).map(|_| ())
}

#[test]
fn realistic_config_parses() {
    if let Err(e) = parse_config(REALISTIC_CONFIG) {
        panic!("{e}");
    }
}

/// Scalars and flow values that stress the typed fields (durations, counts, enums, secrets).
const CONFIG_VALUES: &[&str] = &[
    "-1",
    "0",
    "off",
    "on",
    "~",
    "[]",
    "{}",
    "1e400",
    ".nan",
    "-.inf",
    "99999999999999999999",
    "18446744073709551616",
    "99999999999999999999s",
    "1h1h",
    "0s",
    "1ms",
    "5000000000000000d",
    "${UNSET}",
    "${}",
    "$$",
    "${AKANA_PASSWORD",
    "\"\"",
    "'/'",
    "yes",
    "true",
    "\"a/b\"",
    "[a, b]",
    "{a: 1}",
    "!!binary aGk=",
    "&a x",
    "*a",
    "ap-guangzhou",
    "v2",
    "HmacSHA256",
    "GetMetricStatistics",
    "+14:00",
    "-25:00",
];

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn config_loader_survives_arbitrary_text(text in prop_oneof!["\\PC{0,200}", any::<String>()]) {
        if let Err(e) = parse_config(&text) {
            prop_assert!(e.problems.iter().all(|p| !p.reason.is_empty()), "{e}");
        }
    }

    /// One or more values of the realistic config replaced: the loader either accepts it or
    /// names the key it rejects (unless the text stopped being YAML altogether).
    #[test]
    fn config_loader_names_the_key_of_a_bad_value(
        edits in proptest::collection::vec(
            (any::<usize>(), prop_oneof![
                3 => proptest::sample::select(CONFIG_VALUES).prop_map(str::to_string),
                1 => "[a-zA-Z0-9 .:/_-]{0,12}",
            ]),
            1..3),
    ) {
        let mut lines: Vec<String> = REALISTIC_CONFIG.lines().map(str::to_string).collect();
        for (at, value) in &edits {
            let candidates: Vec<usize> = (0..lines.len())
                .filter(|i| lines[*i].trim_end().contains(": ") )
                .collect();
            let i = candidates[at % candidates.len()];
            let (key, _) = lines[i].split_once(": ").unwrap();
            lines[i] = format!("{key}: {value}");
        }
        let text = lines.join("\n");
        if let Err(e) = parse_config(&text) {
            for p in &e.problems {
                prop_assert!(!p.reason.is_empty(), "{e}");
                prop_assert!(
                    !p.key.is_empty() || p.reason.starts_with("not valid YAML"),
                    "no key named for {:?}\n{text}", p.reason
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tencent signatures

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn tencent_signatures_are_total_and_deterministic(
        params in proptest::collection::vec((arb_string(), arb_string()), 0..8),
        key in arb_string(),
        id in arb_string(),
        host in arb_string(),
        path in arb_string(),
        http_method in arb_string(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        timestamp in any::<i64>(),
        header in arb_string(),
    ) {
        use tencent::sign::*;
        for method in [V2Method::HmacSha1, V2Method::HmacSha256] {
            let a = v2_signature(&key, &http_method, &host, &path, &params, method);
            let b = v2_signature(&key, &http_method, &host, &path, &params, method);
            prop_assert_eq!(a, b);
        }
        let _ = V2Method::parse(&key);
        let request = Tc3Request {
            service: &path,
            host: &host,
            content_type: "application/json",
            payload: &payload,
            timestamp,
        };
        let auth = request.authorization(&id, &key);
        prop_assert_eq!(&auth, &request.clone().authorization(&id, &key));
        prop_assert_eq!(request.signature(&key).len(), 64);
        let _ = Tc3Authorization::parse(&auth);
        let _ = Tc3Authorization::parse(&header);
        if let Ok(url) = url::Url::parse(&header) {
            let _ = signing_host(&url);
        }
        let _ = same_signature(&key, &id);
        let _ = tencent::parse_utc_offset(&header);
        let _ = tencent::window::parse_offset(&header);
    }
}

// ---------------------------------------------------------------------------------------------
// Unicode label values → valid OpenMetrics

/// Replaces string leaves (where `mask` says so) with the given label texts, cycling.
fn inject(v: &mut J, texts: &[String], mask: &[bool], i: &mut usize) {
    match v {
        J::String(s) => {
            let n = *i;
            *i += 1;
            let looks_typed = s.is_empty()
                || s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
                || ["Aggregate", "PerDayWithAggregate", "ListWithAggregate"].contains(&s.as_str());
            if !looks_typed && mask[n % mask.len()] {
                *s = texts[n % texts.len()].clone();
            }
        }
        J::Array(a) => a.iter_mut().for_each(|c| inject(c, texts, mask, i)),
        J::Object(m) => {
            // TR50 series names are object keys.
            if let Some(J::Object(counters)) = m.get_mut("counters") {
                let old = std::mem::take(counters);
                for (k, value) in old {
                    let n = *i;
                    *i += 1;
                    let key = if mask[n % mask.len()] {
                        texts[n % texts.len()].clone()
                    } else {
                        k
                    };
                    counters.insert(key, value);
                }
            }
            m.values_mut().for_each(|c| inject(c, texts, mask, i));
        }
        _ => {}
    }
}

/// The snapshots of every source with `texts` injected as label values, each under a target
/// name from `texts` too, encoded as one exposition.
fn exposition(texts: &[String], mask: &[bool]) -> (String, usize) {
    let mut snapshots: Vec<(Option<Arc<str>>, Arc<Snapshot>)> = Vec::new();
    let mut k = 0;
    let mut target = || {
        k += 1;
        Some(Arc::<str>::from(texts[k % texts.len()].as_str()))
    };
    for (parser, body) in payloads() {
        let mut value: J = serde_json::from_slice(&body).unwrap();
        inject(&mut value, texts, mask, &mut 0);
        for snapshot in run(parser, &serde_json::to_vec(&value).unwrap()) {
            snapshots.push((target(), Arc::new(snapshot)));
        }
    }
    let readings: Vec<_> = texts
        .chunks(4)
        .map(|t| tencent::translate::Reading {
            namespace: t[0].clone(),
            metric: t.get(1).cloned().unwrap_or_default(),
            stat: "avg".into(),
            dimensions: vec![(
                t.get(2).cloned().unwrap_or_default(),
                t.last().cloned().unwrap(),
            )],
            timestamp: 1.7e9,
            value: 1.0,
        })
        .collect();
    snapshots.push((
        target(),
        Arc::new(tencent::translate::metric_data(&texts[0], &readings)),
    ));
    let subscription = akana::Options {
        subscription: texts[texts.len() / 2].clone(),
        item_info: true,
    };
    let usage = akana::decode_usage(&fixture("akana", "vendor-sample.json")).unwrap();
    snapshots.push((target(), Arc::new(akana::translate(&usage, &subscription))));
    let series = snapshots.iter().map(|(_, s)| s.series_count()).sum();
    let mut out = String::new();
    let frozen = snapshots
        .into_iter()
        .map(|(t, s)| (t, Arc::new(usage_exporter::snapshot::Frozen::new(&s))));
    usage_exporter::expose::encode_groups(&mut out, &usage_exporter::expose::merge(frozen));
    out.push_str("# EOF\n");
    (out, series)
}

/// Parses every body with the Python OpenMetrics parser in one process; returns the failures
/// as (index, error).
fn openmetrics_failures(bodies: &[String]) -> Vec<(usize, String)> {
    use std::io::Write;
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        bad = []\n\
        for i, body in enumerate(json.load(sys.stdin)):\n\
        \x20   try:\n\
        \x20       n = sum(len(f.samples) for f in text_string_to_metric_families(body))\n\
        \x20       assert n > 0, 'no samples'\n\
        \x20   except Exception as e:\n\
        \x20       bad.append([i, repr(e)])\n\
        print(json.dumps(bad))\n";
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the test command installs prometheus_client)");
    let input = serde_json::to_vec(bodies).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Label texts: arbitrary unicode plus the characters the exposition must escape.
fn arb_label_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        2 => "[\"\\\\\n\r\t{}=, #\u{0}\u{7f}\u{85}\u{2028}\u{feff}\u{fffd}a-zé😀]{1,12}",
        1 => proptest::sample::select(TRICKY).prop_map(str::to_string),
    ]
}

#[test]
fn unicode_label_values_give_valid_openmetrics() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24usize);
    let mut runner =
        TestRunner::new_with_rng(config(1), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (
        proptest::collection::vec(arb_label_text(), 4..24),
        proptest::collection::vec(any::<bool>(), 1..8),
    );
    let mut bodies = Vec::new();
    let mut inputs = Vec::new();
    for _ in 0..cases {
        let (texts, mask) = strategy.new_tree(&mut runner).unwrap().current();
        let (body, series) = exposition(&texts, &mask);
        assert!(series > 0);
        bodies.push(body);
        inputs.push(texts);
    }
    let failures = openmetrics_failures(&bodies);
    if let Some((i, error)) = failures.first() {
        panic!(
            "{} of {} expositions rejected; first: {error}\nlabel texts: {:?}\n--- body ---\n{}",
            failures.len(),
            bodies.len(),
            inputs[*i],
            bodies[*i].chars().take(6000).collect::<String>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs the properties above found (each fixed in the source named)

fn all_checked(parser: Parser, body: &[u8]) -> Vec<Snapshot> {
    let snapshots = run(parser, body);
    for s in &snapshots {
        check(s).unwrap_or_else(|e| panic!("{parser:?}: {e}"));
    }
    snapshots
}

/// aveva/model.rs: `"NaN"` as a number became a NaN counter.
#[test]
fn regression_aveva_nan_text() {
    let body = br#"[{"Date": "2026-11-02", "NamespaceId": "n", "IngressEvents": "NaN"}]"#;
    assert!(all_checked(Parser::AvevaTenant, body).is_empty());
    // Resource counts are gauges read `or_absent`: a NaN count is no series (it used to fail
    // the endpoint).
    for body in [&br#"["NaN"]"#[..], br#"{"StreamCount": "NaN"}"#] {
        let resources = all_checked(Parser::AvevaResources, body);
        assert!(resources.iter().all(|s| s.series_count() == 0));
    }
}

/// akana/model.rs: `"NaN"`/`"inf"` text became NaN/infinite series. An informational value is
/// absent now (`number::or_absent`), a month-to-date total fails the decode (`number::or_fail`).
#[test]
fn regression_akana_nan_text() {
    let body = br#"{"UsageMetric": {"MetricID": "ApiCount", "MetricType": "Aggregate", "MetricValue": "inf"}}"#;
    for snapshot in all_checked(Parser::Akana, body) {
        assert!(snapshot.family("akana_metric").is_none());
    }
    let body =
        br#"{"UsageMetric": {"MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate",
        "AggregateUsage": {"MetricItem": {"Name": "TotalUsageCount", "MetricValue": "NaN"}}}}"#;
    assert!(all_checked(Parser::Akana, body).is_empty());
}

/// aveva/translate.rs: a negative usage value made a negative counter; huge values summed to
/// infinity.
#[test]
fn regression_aveva_negative_and_overflowing_usage() {
    let body = br#"[{"Date": "2026-11-02", "NamespaceId": "n", "IngressEvents": -1, "EgressEvents": 1.7e308},
                    {"Date": "2026-11-03", "NamespaceId": "n", "IngressEvents": 5, "EgressEvents": 1.7e308}]"#;
    let snapshots = all_checked(Parser::AvevaTenant, body);
    let total = snapshots[0]
        .family("aveva_cds_ingress_events_total")
        .unwrap();
    assert_eq!(
        total.samples[0].value,
        Value::Counter {
            total: 5.0,
            created: Some(1793491200.0)
        }
    );
    assert!(snapshots[0]
        .family("aveva_cds_egress_events_total")
        .is_none());
}

/// akana/translate.rs: a negative TotalUsageCount made a negative counter; it is passed
/// through as `akana_usage_item` instead.
#[test]
fn regression_akana_negative_total() {
    let body = br#"{"ReportPeriod": {"StartDate": "2026-11-01T00:00:00Z"}, "UsageMetric": {
        "MetricID": "PlatformApiUsage", "MetricType": "PerDayWithAggregate",
        "AggregateUsage": {"MetricItem": {"Name": "TotalUsageCount", "MetricValue": -3, "MetricUnits": "Number"}}}}"#;
    let snapshots = all_checked(Parser::Akana, body);
    assert!(snapshots[0].family("akana_api_calls_total").is_none());
    assert!(snapshots[0].family("akana_usage_item").is_some());
}

/// aveva/client.rs: `expires_in: 1e308` panicked converting to a Duration.
#[test]
fn regression_aveva_huge_token_lifetime() {
    let (_, life) = aveva::parse::token(br#"{"access_token": "t", "expires_in": 1e308}"#).unwrap();
    assert_eq!(life.as_secs(), 86_400);
}

/// tencent/translate.rs: dimensions `InstanceId` and `instanceId` gave a repeated label.
#[test]
fn regression_tencent_colliding_dimensions() {
    let reading = tencent::translate::Reading {
        namespace: "QCE/CVM".into(),
        metric: "CPUUsage".into(),
        stat: "avg".into(),
        dimensions: vec![
            ("InstanceId".into(), "a".into()),
            ("instanceId".into(), "b".into()),
        ],
        timestamp: 1.7e9,
        value: 1.0,
    };
    check(&tencent::translate::metric_data("gz", &[reading])).unwrap();
}

/// expose/encode.rs: a newline in a HELP text (Tencent quotes the configured metric name)
/// broke the exposition.
#[test]
fn regression_help_text_with_newline() {
    let texts: Vec<String> = ["a\nb", "c\"d\\", "e", "f"].map(String::from).to_vec();
    let (body, _) = exposition(&texts, &[true]);
    assert_eq!(openmetrics_failures(&[body]), vec![]);
}

/// tencent/window.rs: `period: 1e308` in a v2 answer overflowed the point time arithmetic.
#[test]
fn regression_tencent_v2_huge_period() {
    let body = br#"{"code": 0, "startTime": "2023-11-15 06:11:00", "period": 1e308, "dataPoints": [1, 2]}"#;
    let snapshots = all_checked(Parser::TencentDataV2, body);
    assert_eq!(
        snapshots[0].series_count(),
        2,
        "the first point still counts"
    );
}

/// tr50/counter.rs: bucket counts of 1.7e308 summed to an infinite counter. A first window is
/// the baseline now (nothing summed), so both series are finite counters at 0 here; the
/// overflow of later increments is `counter::tests::an_overflowing_total_is_left_out`.
#[test]
fn regression_tr50_overflowing_counter() {
    let body =
        br#"{"counters": {"a": [1.7e308, 1.7e308], "b": [1, 2]}, "ts": [1700000000, 1700003600]}"#;
    let snapshots = all_checked(Parser::Tr50, body);
    let calls = snapshots[0].family("tr50_api_calls_total").unwrap();
    assert_eq!(calls.samples.len(), 2, "{calls:?}");
}

/// scc/translate.rs: a negative `numberOfCalls` made a negative cumulative counter; counts of
/// 1.7e308 summed to infinity. Both backends now get no bucket series; a third with readable
/// counts keeps them.
#[test]
fn regression_scc_negative_and_overflowing_buckets() {
    let body = br#"{"subaccounts": [{"subaccount": "s", "regionHost": "h", "backendPerformance": [
        {"virtualHost": "a", "virtualPort": "1", "protocol": "HTTP", "buckets": [
            {"numberOfCalls": -1, "minimumCallDurationMs": 0}, {"numberOfCalls": 2, "minimumCallDurationMs": 10}]},
        {"virtualHost": "b", "virtualPort": "1", "protocol": "HTTP", "buckets": [
            {"numberOfCalls": 1.7e308, "minimumCallDurationMs": 0}, {"numberOfCalls": 1.7e308, "minimumCallDurationMs": 10}]},
        {"virtualHost": "c", "virtualPort": "1", "protocol": "HTTP", "buckets": [
            {"numberOfCalls": 3, "minimumCallDurationMs": 0}, {"numberOfCalls": 2, "minimumCallDurationMs": 10}]}]}]}"#;
    let snapshots = all_checked(Parser::Scc("backend_performance"), body);
    let calls = snapshots[0].family("scc_backend_calls_total");
    let hosts: HashSet<&str> = calls
        .into_iter()
        .flat_map(|f| &f.samples)
        .filter_map(|s| s.labels.get("virtual_host"))
        .collect();
    assert_eq!(hosts, HashSet::from(["c"]), "{snapshots:?}");
}

/// scc/translate.rs: a negative usage value made a negative counter.
#[test]
fn regression_scc_negative_usage() {
    let mut value: J = serde_json::from_slice(&fixture("scc", "usage.json")).unwrap();
    replace_numbers(&mut value, &[(true, 0, false)], &mut 0);
    let body = serde_json::to_vec(&value).unwrap();
    for snapshot in all_checked(Parser::Scc("usage"), &body) {
        assert!(snapshot
            .families
            .iter()
            .all(|f| f.kind != MetricKind::Counter || f.samples.is_empty()));
    }
}
