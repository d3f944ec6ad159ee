//! `/metrics` formats: content negotiation from the `Accept` headers Prometheus 2.x and 3.x,
//! curl and others send; text 0.0.4 checked by `promtool check metrics`; protobuf decoded by an
//! independent implementation (Google's Python protobuf runtime) and compared with the text
//! body; the demo's data in every format.

use crate::e2e_support::{find_tool, skip};
use crate::support::{self, parse_lines, Line, PROMETHEUS_ACCEPT, PROMETHEUS_PROTO_ACCEPT};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores";
const OM_UTF8: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8";
const OM_001: &str =
    "application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=underscores";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";
const PROTO: &str = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores";

/// (what sends it, Accept header or None for no header, expected Content-Type)
const CASES: &[(&str, Option<&str>, &str)] = &[
    ("Prometheus 2.42 (scrapeAcceptHeader)", Some(PROMETHEUS_ACCEPT), OM),
    ("Prometheus 2.42 --enable-feature=native-histograms", Some(PROMETHEUS_PROTO_ACCEPT), PROTO),
    (
        "Prometheus 2.55 DefaultScrapeProtocols",
        Some("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
        OM,
    ),
    (
        "Prometheus 2.55 DefaultProtoFirstScrapeProtocols",
        Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
        PROTO,
    ),
    (
        "Prometheus 3.0 DefaultScrapeProtocols (UTF-8 names)",
        Some("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2"),
        OM_UTF8,
    ),
    (
        "Prometheus 3.x DefaultProtoFirstScrapeProtocols",
        Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
        PROTO,
    ),
    (
        "Prometheus 3.x scrape_protocols: [PrometheusText1.0.0, PrometheusText0.0.4]",
        Some("text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
        "text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8",
    ),
    ("OpenMetrics without version", Some("application/openmetrics-text"), OM_001),
    ("curl", Some("*/*"), TEXT),
    ("no Accept header", None, TEXT),
    ("promtool / plain text", Some("text/plain"), TEXT),
    ("a browser", Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), TEXT),
    ("garbage", Some("garbage;;=,/x/y/,q=abc,ü"), TEXT),
    ("nonsense q", Some("application/openmetrics-text;version=1.0.0;q=zero"), TEXT),
    ("JSON", Some("application/json"), TEXT),
];

async fn get(url: &str, accept: Option<&str>, gzip: bool) -> (String, Vec<u8>) {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut req = client.get(url);
    // reqwest adds `Accept: */*` when none is set; an empty value is what "no header" means
    // to the negotiation (Go's Header.Get returns "" for both).
    req = req.header("accept", accept.unwrap_or(""));
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    let gzipped = resp.headers().get("content-encoding").is_some();
    assert_eq!(gzipped, gzip);
    let body = resp.bytes().await.unwrap().to_vec();
    if !gzip {
        return (content_type, body);
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut plain)
        .unwrap();
    (content_type, plain)
}

/// Decodes delimited MetricFamily messages with Google's protobuf runtime, from a schema built
/// here from client_model's metrics.proto field table; prints one JSON line per sample as
/// the text format would name it.
const DECODE_PY: &str = r#"
import sys, json, math
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
F = descriptor_pb2.FieldDescriptorProto
fd = descriptor_pb2.FileDescriptorProto(name="io/prometheus/client/metrics.proto",
    package="io.prometheus.client", syntax="proto2", dependency=["google/protobuf/timestamp.proto"])
def msg(name, fields):
    m = fd.message_type.add(name=name)
    for (n, num, t, label, tn) in fields:
        f = m.field.add(name=n, number=num, type=t, label=label)
        if tn: f.type_name = tn
O, R = F.LABEL_OPTIONAL, F.LABEL_REPEATED
e = fd.enum_type.add(name="MetricType")
for i, n in enumerate(["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"]):
    e.value.add(name=n, number=i)
TS = ".google.protobuf.Timestamp"
msg("LabelPair", [("name", 1, F.TYPE_STRING, O, None), ("value", 2, F.TYPE_STRING, O, None)])
msg("Gauge", [("value", 1, F.TYPE_DOUBLE, O, None)])
msg("Exemplar", [("label", 1, F.TYPE_MESSAGE, R, ".io.prometheus.client.LabelPair"), ("value", 2, F.TYPE_DOUBLE, O, None), ("timestamp", 3, F.TYPE_MESSAGE, O, TS)])
msg("Counter", [("value", 1, F.TYPE_DOUBLE, O, None), ("exemplar", 2, F.TYPE_MESSAGE, O, ".io.prometheus.client.Exemplar"), ("created_timestamp", 3, F.TYPE_MESSAGE, O, TS)])
msg("Untyped", [("value", 1, F.TYPE_DOUBLE, O, None)])
msg("Bucket", [("cumulative_count", 1, F.TYPE_UINT64, O, None), ("upper_bound", 2, F.TYPE_DOUBLE, O, None)])
msg("Histogram", [("sample_count", 1, F.TYPE_UINT64, O, None), ("sample_sum", 2, F.TYPE_DOUBLE, O, None), ("bucket", 3, F.TYPE_MESSAGE, R, ".io.prometheus.client.Bucket"), ("created_timestamp", 15, F.TYPE_MESSAGE, O, TS)])
msg("Metric", [("label", 1, F.TYPE_MESSAGE, R, ".io.prometheus.client.LabelPair"), ("gauge", 2, F.TYPE_MESSAGE, O, ".io.prometheus.client.Gauge"), ("counter", 3, F.TYPE_MESSAGE, O, ".io.prometheus.client.Counter"), ("untyped", 5, F.TYPE_MESSAGE, O, ".io.prometheus.client.Untyped"), ("timestamp_ms", 6, F.TYPE_INT64, O, None), ("histogram", 7, F.TYPE_MESSAGE, O, ".io.prometheus.client.Histogram")])
msg("MetricFamily", [("name", 1, F.TYPE_STRING, O, None), ("help", 2, F.TYPE_STRING, O, None), ("type", 3, F.TYPE_ENUM, O, ".io.prometheus.client.MetricType"), ("metric", 4, F.TYPE_MESSAGE, R, ".io.prometheus.client.Metric"), ("unit", 5, F.TYPE_STRING, O, None)])
pool = descriptor_pool.Default()
pool.Add(fd)
MetricFamily = message_factory.GetMessageClass(pool.FindMessageTypeByName("io.prometheus.client.MetricFamily"))
data = sys.stdin.buffer.read()
pos = 0
def varint():
    global pos
    shift = result = 0
    while True:
        b = data[pos]; pos += 1
        result |= (b & 0x7f) << shift
        if not b & 0x80: return result
        shift += 7
def fmt(v):
    if math.isinf(v): return "+Inf" if v > 0 else "-Inf"
    return repr(v)
while pos < len(data):
    n = varint()
    mf = MetricFamily(); mf.ParseFromString(data[pos:pos + n]); pos += n
    kind = ["counter", "gauge", "summary", "untyped", "histogram", "gaugehistogram"][mf.type]
    for m in mf.metric:
        labels = [[l.name, l.value] for l in m.label]
        def out(name, value, extra=None, created=None):
            print(json.dumps({"family": mf.name, "type": kind, "help": mf.help, "name": name,
                              "labels": labels + ([extra] if extra else []), "value": value, "created": created}))
        if kind == "counter":
            c = m.counter
            created = c.created_timestamp.seconds + c.created_timestamp.nanos / 1e9 if c.HasField("created_timestamp") else None
            out(mf.name, c.value, created=created)
        elif kind == "gauge":
            out(mf.name, m.gauge.value)
        elif kind == "histogram":
            h = m.histogram
            base = mf.name
            for b in h.bucket:
                out(base + "_bucket", float(b.cumulative_count), ["le", fmt(b.upper_bound)])
            out(base + "_sum", h.sample_sum)
            out(base + "_count", float(h.sample_count))
"#;

#[derive(Debug, serde::Deserialize)]
struct Decoded {
    family: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    created: Option<f64>,
}

fn decode_protobuf(body: &[u8]) -> Vec<Decoded> {
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(DECODE_PY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test installs the protobuf package)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "protobuf decoding failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Text `le="0.5"` vs protobuf's float: compare the number.
fn key(name: &str, labels: &[(String, String)]) -> (String, Vec<(String, String)>) {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| match (k.as_str(), v.parse::<f64>()) {
            ("le", Ok(le)) => (k.clone(), format!("{le}")),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    labels.sort();
    (name.to_string(), labels)
}

fn no_created(body: &str) -> bool {
    parse_lines(body)
        .iter()
        .all(|l| !l.name.ends_with("_created"))
}

fn is_source(name: &str) -> bool {
    !name.starts_with("usage_exporter_") && !name.starts_with("process_")
}

/// The help and TYPE lines of a text body, by family.
fn text_types(body: &str) -> BTreeMap<String, String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[tokio::test]
async fn every_client_gets_its_format_and_the_formats_agree_on_the_demo() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-06-16T12:00:00Z")
        .unwrap()
        .to_utc();
    let sims = usage_exporter_sim::demo::start(1).await.unwrap();
    sims.run_clocks_from(at);
    let d = support::start_at(&sims.config_yaml(), at).await;
    d.wait_ready(Duration::from_secs(60)).await;
    let url = format!("{}/metrics", d.url());

    for (who, accept, expected) in CASES {
        for gzip in [false, true] {
            let (content_type, body) = get(&url, *accept, gzip).await;
            assert_eq!(&content_type, expected, "{who} (gzip {gzip})");
            if expected.starts_with("application/openmetrics-text") {
                let text = String::from_utf8(body).unwrap();
                assert!(text.ends_with("# EOF\n"), "{who}");
                assert!(no_created(&text), "{who}: _created is opt-in");
            } else if expected.starts_with("text/plain") {
                let text = String::from_utf8(body).unwrap();
                assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{who}");
                assert!(
                    text.contains("# TYPE scc_backend_requests_total counter\n"),
                    "{who}"
                );
            } else {
                assert!(!decode_protobuf(&body).is_empty(), "{who}");
            }
        }
    }

    // The three formats of one data generation. Polls keep landing, so retry until two text
    // scrapes around the other two show the same source series.
    let mut attempts = 0;
    let (text, om, proto) = loop {
        attempts += 1;
        let before = String::from_utf8(get(&url, Some("text/plain"), false).await.1).unwrap();
        let om = String::from_utf8(get(&url, Some(PROMETHEUS_ACCEPT), false).await.1).unwrap();
        let proto = get(&url, Some(PROMETHEUS_PROTO_ACCEPT), true).await.1;
        let after = String::from_utf8(get(&url, Some("text/plain"), false).await.1).unwrap();
        let source = |b: &str| -> Vec<Line> {
            parse_lines(b)
                .into_iter()
                .filter(|l| is_source(&l.name))
                .collect()
        };
        if source(&before) == source(&after) || attempts > 50 {
            assert!(attempts <= 50, "the data never held still for four scrapes");
            break (after, om, proto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // promtool parses and lints the text 0.0.4 body. One finding is known and left to its
    // metric's owners (renaming it breaks dashboards and alerts): the SCC performance buckets
    // are a counter with an `le` label. Anything else fails.
    if !skip() {
        const KNOWN: [&str; 1] =
            ["scc_backend_calls_total non-histogram metrics should not have \"le\" label"];
        let mut child = std::process::Command::new(find_tool("promtool"))
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Exit 0: clean; exit 3: lint findings only (1 would be a parse error).
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "promtool check metrics failed: {report}"
        );
        let unknown: Vec<&str> = report
            .lines()
            .filter(|l| !l.trim().is_empty() && !KNOWN.contains(&l.trim()))
            .collect();
        assert!(unknown.is_empty(), "promtool check metrics: {unknown:?}");
    }

    // The protobuf body: the same families, types, label sets and values as the text body.
    let decoded = decode_protobuf(&proto);
    let text_lines = parse_lines(&text);
    let types = text_types(&text);
    let from_text: BTreeMap<_, f64> = text_lines
        .iter()
        .filter(|l| is_source(&l.name))
        .map(|l| (key(&l.name, &l.labels), l.value))
        .collect();
    let from_proto: BTreeMap<_, f64> = decoded
        .iter()
        .filter(|s| is_source(&s.name))
        .map(|s| (key(&s.name, &s.labels), s.value))
        .collect();
    assert!(from_text.len() > 500, "the demo exposes its series");
    let only_text: Vec<_> = from_text
        .keys()
        .filter(|k| !from_proto.contains_key(*k))
        .collect();
    let only_proto: Vec<_> = from_proto
        .keys()
        .filter(|k| !from_text.contains_key(*k))
        .collect();
    assert!(
        only_text.is_empty() && only_proto.is_empty(),
        "series differ: only in text {only_text:?}, only in protobuf {only_proto:?}"
    );
    for (k, v) in &from_text {
        let p = from_proto[k];
        assert!(
            p == *v || (p.is_nan() && v.is_nan()),
            "{k:?}: text {v}, protobuf {p}"
        );
    }
    for s in &decoded {
        assert_eq!(
            types.get(&s.family),
            Some(&s.kind),
            "family {} typed alike",
            s.family
        );
    }
    // Self-metrics are per scrape: same names and label sets (values move).
    let names = |it: Vec<(String, Vec<(String, String)>)>| {
        let mut v: Vec<_> = it
            .into_iter()
            .filter(|(n, _)| !is_source(n) && !n.starts_with("process_"))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        names(text_lines.iter().map(|l| key(&l.name, &l.labels)).collect()),
        names(decoded.iter().map(|s| key(&s.name, &s.labels)).collect())
    );
    // Counters' start times: in protobuf always, one per counter sample OpenMetrics would have
    // written a `_created` line for.
    let with_created = decoded.iter().filter(|s| s.created.is_some()).count();
    assert!(
        with_created > 50,
        "{with_created} counters with a start time"
    );
    assert!(decoded
        .iter()
        .filter(|s| s.created.is_some())
        .all(|s| s.kind == "counter"));
    // OpenMetrics (the same generation) has the same source samples as text.
    let from_om: BTreeMap<_, f64> = parse_lines(&om)
        .iter()
        .filter(|l| is_source(&l.name))
        .map(|l| (key(&l.name, &l.labels), l.value))
        .collect();
    assert_eq!(from_om.len(), from_text.len());
    d.stop().await;
}

#[tokio::test]
async fn created_lines_when_enabled_match_protobuf_start_times() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-06-16T12:00:00Z")
        .unwrap()
        .to_utc();
    let sims = usage_exporter_sim::demo::start(1).await.unwrap();
    sims.run_clocks_from(at);
    let d = support::start_at_created(&sims.config_yaml(), at).await;
    d.wait_ready(Duration::from_secs(60)).await;
    let url = format!("{}/metrics", d.url());
    let (_, om) = get(&url, Some(PROMETHEUS_ACCEPT), false).await;
    let om = String::from_utf8(om).unwrap();
    support::assert_valid_openmetrics(&om);
    let created: Vec<_> = parse_lines(&om)
        .into_iter()
        .filter(|l| l.name.ends_with("_created"))
        .collect();
    assert!(created.len() > 50);
    let (_, text) = get(&url, None, false).await;
    assert!(
        no_created(&String::from_utf8(text).unwrap()),
        "never in text 0.0.4"
    );
    let (_, proto) = get(&url, Some(PROMETHEUS_PROTO_ACCEPT), false).await;
    let starts: BTreeMap<_, f64> = decode_protobuf(&proto)
        .into_iter()
        .filter_map(|s| {
            Some((
                key(&s.name.replace("_total", "_created"), &s.labels),
                s.created?,
            ))
        })
        .collect();
    // Protobuf carries seconds and nanoseconds, the text a decimal of an f64: at 1.8e9 s an f64
    // resolves about 0.24 µs, so the two agree to within a microsecond, not to the last bit.
    for l in &created {
        let k = key(&l.name, &l.labels);
        let start = starts
            .get(&k)
            .unwrap_or_else(|| panic!("{k:?}: no start time in protobuf"));
        assert!(
            (start - l.value).abs() < 1e-6,
            "{k:?}: protobuf {start} vs text {}",
            l.value
        );
    }
    d.stop().await;
}
