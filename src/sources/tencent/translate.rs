//! Model → metric families: `qce_<product>_<metric lower>_<stat>`, `qce_datapoint_timestamp_seconds`,
//! `qce_metric_period_seconds` and `qce_metric_info`. Pure functions of their inputs.

use crate::snapshot::{Family, Labels, Snapshot};
use std::collections::BTreeMap;

/// Label names a dimension may not take (they are ours); such dimensions get a `dimension_` prefix.
const RESERVED: &[&str] = &["target", "region", "namespace", "metric", "instance", "job"];

/// The newest value of one metric for one configured instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Namespace as configured, e.g. `QCE/CVM`.
    pub namespace: String,
    /// Metric name as configured, e.g. `CPUUsage`.
    pub metric: String,
    /// Statistic suffix, e.g. `avg`.
    pub stat: String,
    /// The instance's dimensions as configured (name, value).
    pub dimensions: Vec<(String, String)>,
    /// Unix seconds of the point served.
    pub timestamp: f64,
    /// The value.
    pub value: f64,
}

/// One metric of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// Namespace, e.g. `QCE/CVM`.
    pub namespace: String,
    /// Metric name.
    pub metric: String,
    /// Unit as the vendor writes it (`%`, `MB`, `Mbps`), empty when not given.
    pub unit: String,
    /// Supported periods in seconds, ascending.
    pub periods: Vec<u64>,
    /// Statistic types per period, where the catalog lists them.
    pub stats: BTreeMap<u64, Vec<String>>,
}

/// Replaces every character that is not `[a-zA-Z0-9_]` with `_`, and prefixes `_` to a leading
/// digit, so the result is a valid metric or label name.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The product part of a namespace: `QCE/CVM` → `cvm`, `qce/lb_public` → `lb_public`.
pub fn product(namespace: &str) -> String {
    let last = namespace.rsplit('/').next().unwrap_or(namespace);
    sanitize(&last.to_ascii_lowercase())
}

/// The family name `qce_<product>_<metric lower-case>_<stat>` (the vendor exporter's naming).
pub fn family_name(namespace: &str, metric: &str, stat: &str) -> String {
    format!(
        "qce_{}_{}_{}",
        product(namespace),
        sanitize(&metric.to_ascii_lowercase()),
        sanitize(&stat.to_ascii_lowercase())
    )
}

/// A dimension name as a snake_case label: `InstanceId` → `instance_id`,
/// `unInstanceId` → `un_instance_id`, `vip` → `vip`, `VPNGwId` → `vpn_gw_id`.
pub fn label_name(dimension: &str) -> String {
    let chars: Vec<char> = dimension.chars().collect();
    let mut out = String::with_capacity(dimension.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = sanitize(out.trim_matches('_'));
    if RESERVED.contains(&out.as_str()) || out.starts_with("__") {
        format!("dimension_{}", out.trim_start_matches('_'))
    } else {
        out
    }
}

/// Adds the dimensions as labels. Two dimension names that map to the same label name
/// (`InstanceId` and `instanceId`, or two names without a letter or digit) would give a series
/// with a repeated label, which no parser accepts: the first one wins.
fn dimension_labels(mut labels: Labels, dimensions: &[(String, String)]) -> Labels {
    for (name, value) in dimensions {
        let name = label_name(name);
        if labels.get(&name).is_none() {
            labels.push(name, value.clone());
        }
    }
    labels
}

/// The `metric_data` snapshot: one gauge family per (namespace, metric, stat) plus the time of
/// every value served.
pub fn metric_data(region: &str, readings: &[Reading]) -> Snapshot {
    Snapshot::from_families(data_families(region, readings))
}

/// The `metric_data` snapshot of a poll: [`metric_data`] plus `qce_metric_period_seconds` for
/// every (namespace, metric, period) the poll read.
pub fn metric_data_with_periods(
    region: &str,
    readings: &[Reading],
    periods: &[(String, String, u64)],
) -> Snapshot {
    let mut families = data_families(region, readings);
    families.push(metric_periods(periods));
    Snapshot::from_families(families)
}

/// `qce_metric_period_seconds{namespace, metric}`: the statistic period a metric is read with,
/// with the `namespace`/`metric` values `qce_datapoint_timestamp_seconds` carries, so that an
/// alert can scale its freshness threshold with the period. A metric configured with more than
/// one period gets the largest (the lenient threshold: no false alarms for the slower one).
pub fn metric_periods(periods: &[(String, String, u64)]) -> Family {
    let mut family = Family::gauge(
        "qce_metric_period_seconds",
        "Statistic period in seconds metric_data reads a Tencent Cloud Monitor metric with (the largest when configured with several), to scale freshness alerts on qce_datapoint_timestamp_seconds.",
    );
    let mut largest: Vec<(&str, &str, u64)> = Vec::new();
    for (namespace, metric, period) in periods {
        match largest
            .iter_mut()
            .find(|(n, m, _)| *n == namespace.as_str() && *m == metric.as_str())
        {
            Some(entry) => entry.2 = entry.2.max(*period),
            None => largest.push((namespace, metric, *period)),
        }
    }
    for (namespace, metric, period) in largest {
        family.push_gauge(
            Labels::new()
                .with("namespace", namespace)
                .with("metric", metric),
            period as f64,
        );
    }
    family
}

fn data_families(region: &str, readings: &[Reading]) -> Vec<Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut timestamps = Family::gauge(
        "qce_datapoint_timestamp_seconds",
        "Time of the Tencent Cloud Monitor datapoint served as the value of a qce_ series (the newest non-empty one, kept until stale_after when Tencent stops publishing), to see ingest lag and stalls.",
    );
    for r in readings {
        let name = family_name(&r.namespace, &r.metric, &r.stat);
        let family = families.entry(name.clone()).or_insert_with(|| {
            Family::gauge(
                name,
                format!(
                    "Tencent Cloud Monitor metric {} of namespace {}, statistic {}: the newest non-empty datapoint, polled in the background.",
                    r.metric, r.namespace, r.stat
                ),
            )
        });
        let base = Labels::new().with("region", region);
        family.push_gauge(dimension_labels(base, &r.dimensions), r.value);
        let ts_labels = Labels::new()
            .with("region", region)
            .with("namespace", r.namespace.clone())
            .with("metric", r.metric.clone());
        timestamps.push_gauge(dimension_labels(ts_labels, &r.dimensions), r.timestamp);
    }
    let mut out: Vec<Family> = families.into_values().collect();
    out.push(timestamps);
    out
}

/// The `metric_catalog` snapshot: `qce_metric_info` per metric.
pub fn catalog(entries: &[CatalogEntry]) -> Snapshot {
    let mut info = Family::gauge(
        "qce_metric_info",
        "A metric Tencent Cloud Monitor offers in a namespace, with its unit and supported periods in seconds (DescribeMetrics / DescribeBaseMetrics); value 1.",
    );
    for e in entries {
        let periods = e
            .periods
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        info.push_gauge(
            Labels::new()
                .with("namespace", e.namespace.clone())
                .with("metric", e.metric.clone())
                .with("unit", e.unit.clone())
                .with("periods", periods),
            1.0,
        );
    }
    Snapshot::from_families(vec![info])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_golden;

    #[test]
    fn names_follow_the_vendor_exporter() {
        assert_eq!(
            family_name("QCE/CVM", "CPUUsage", "avg"),
            "qce_cvm_cpuusage_avg"
        );
        assert_eq!(
            family_name("qce/cvm", "cpu_usage", "avg"),
            "qce_cvm_cpu_usage_avg"
        );
        assert_eq!(
            family_name("QCE/LB_PUBLIC", "ClientConnum", "max"),
            "qce_lb_public_clientconnum_max"
        );
        assert_eq!(family_name("QCE/X-Y", "a.b c", "Avg"), "qce_x_y_a_b_c_avg");
        assert_eq!(family_name("QCE/CVM", "5xx", "avg"), "qce_cvm__5xx_avg");
    }

    #[test]
    fn dimension_labels_are_snake_case() {
        assert_eq!(label_name("InstanceId"), "instance_id");
        assert_eq!(label_name("unInstanceId"), "un_instance_id");
        assert_eq!(label_name("vip"), "vip");
        assert_eq!(label_name("VPNGwId"), "vpn_gw_id");
        assert_eq!(label_name("loadBalancerPort"), "load_balancer_port");
        assert_eq!(label_name("instance_id"), "instance_id");
        assert_eq!(label_name("app-id"), "app_id");
        assert_eq!(label_name("Region"), "dimension_region");
        assert_eq!(label_name("4xx"), "_4xx");
        assert_eq!(label_name("__x"), "x");
    }

    #[test]
    fn colliding_dimension_names_give_one_label() {
        // Found by tests/fuzz_props.rs: two dimensions with the same label name made a series
        // with a repeated label.
        let dims = [
            ("InstanceId".to_string(), "a".to_string()),
            ("instanceId".to_string(), "b".to_string()),
            ("".to_string(), "c".to_string()),
            ("-".to_string(), "d".to_string()),
        ];
        let labels = dimension_labels(Labels::new(), &dims);
        assert_eq!(
            labels,
            Labels::new().with("instance_id", "a").with("_", "c")
        );
    }

    fn reading(ns: &str, metric: &str, dims: &[(&str, &str)], ts: f64, value: f64) -> Reading {
        Reading {
            namespace: ns.into(),
            metric: metric.into(),
            stat: "avg".into(),
            dimensions: dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamp: ts,
            value,
        }
    }

    #[test]
    fn golden_metric_data_v3() {
        let readings = vec![
            reading(
                "QCE/CVM",
                "CPUUsage",
                &[("InstanceId", "ins-1a2b3c4d")],
                1700000040.0,
                12.5,
            ),
            reading(
                "QCE/CVM",
                "CPUUsage",
                &[("InstanceId", "ins-5e6f7a8b")],
                1700000100.0,
                0.0,
            ),
            reading(
                "QCE/CVM",
                "MemUsage",
                &[("InstanceId", "ins-1a2b3c4d")],
                1700000040.0,
                41.25,
            ),
            reading(
                "QCE/LB_PUBLIC",
                "ClientConnum",
                &[
                    ("vip", "1.2.3.4"),
                    ("loadBalancerPort", "443"),
                    ("protocol", "TCP"),
                ],
                1700000040.0,
                17.0,
            ),
        ];
        let snap = metric_data("ap-guangzhou", &readings);
        assert_golden(
            "tests/fixtures/tencent/golden/metric_data_v3.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn golden_metric_data_v2() {
        let readings = vec![
            reading(
                "qce/cvm",
                "cpu_usage",
                &[("unInstanceId", "ins-09dx96dg")],
                1704160800.0,
                3.5,
            ),
            reading(
                "qce/cvm",
                "mem_usage",
                &[("unInstanceId", "ins-09dx96dg")],
                1704160500.0,
                2048.0,
            ),
        ];
        let snap = metric_data("gz", &readings);
        assert_golden(
            "tests/fixtures/tencent/golden/metric_data_v2.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn golden_catalog() {
        let entries = vec![
            CatalogEntry {
                namespace: "QCE/CVM".into(),
                metric: "CPUUsage".into(),
                unit: "%".into(),
                periods: vec![60, 300],
                stats: BTreeMap::new(),
            },
            CatalogEntry {
                namespace: "QCE/CVM".into(),
                metric: "LanOuttraffic".into(),
                unit: "Mbps".into(),
                periods: vec![10, 60, 300, 3600, 86400],
                stats: BTreeMap::new(),
            },
            CatalogEntry {
                namespace: "qce/cvm".into(),
                metric: "cpu_usage".into(),
                unit: "".into(),
                periods: vec![],
                stats: BTreeMap::new(),
            },
        ];
        assert_golden(
            "tests/fixtures/tencent/golden/catalog.txt",
            &catalog(&entries).to_golden_text(),
        );
    }

    #[test]
    fn golden_metric_periods() {
        let p = |ns: &str, metric: &str, period| (ns.to_string(), metric.to_string(), period);
        let periods = [
            p("QCE/CVM", "CPUUsage", 60),
            p("QCE/CVM", "MemUsage", 300),
            // The same metric in two blocks with two periods: the larger one.
            p("QCE/CVM", "CPUUsage", 10),
            p("QCE/CVM", "CPUUsage", 3600),
            p("QCE/LB_PUBLIC", "ClientConnum", 60),
            p("qce/cvm", "cpu_usage", 300),
        ];
        let family = metric_periods(&periods);
        let value = |ns: &str, metric: &str| {
            family
                .samples
                .iter()
                .find(|s| {
                    s.labels.get("namespace") == Some(ns) && s.labels.get("metric") == Some(metric)
                })
                .map(|s| s.value.clone())
        };
        assert_eq!(
            value("QCE/CVM", "CPUUsage"),
            Some(crate::snapshot::Value::Gauge(3600.0))
        );
        assert_eq!(family.samples.len(), 4);
        let snap = metric_data_with_periods(
            "ap-guangzhou",
            &[reading(
                "QCE/CVM",
                "CPUUsage",
                &[("InstanceId", "ins-1a2b3c4d")],
                1700000040.0,
                12.5,
            )],
            &periods,
        );
        assert_golden(
            "tests/fixtures/tencent/golden/metric_periods.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn empty_readings_give_an_empty_snapshot() {
        assert_eq!(metric_data("gz", &[]).series_count(), 0);
    }
}
