//! The two text formats, written by one line writer: OpenMetrics 1.0 (what prometheus-client's
//! encoder writes, byte for byte, plus opt-in `_created` lines) and the classic text format
//! 0.0.4 (what client_golang's `expfmt.MetricFamilyToText` writes).
//!
//! The bulk of the body is written here rather than through prometheus-client's registry: a
//! million series went through its collector and label-set encoder machinery in about twice
//! the time a direct writer takes. The exporter's own self-metrics registry still goes through
//! prometheus-client (see [`super::encode`]).
//!
//! | | OpenMetrics 1.0 | text 0.0.4 |
//! |---|---|---|
//! | HELP/TYPE name of a counter | without `_total` | with `_total` |
//! | `# UNIT` | from the name's suffix | never |
//! | HELP escapes | `\` newline `"` | `\` newline |
//! | floats | `5.0` (dtoa) | `5` (shortest) |
//! | histogram lines | sum, count, buckets | buckets, sum, count |
//! | `_created` lines | opt-in | never |

use super::encode::{samples_in_order, Part};
use crate::snapshot::{MetricKind, ValueRef};

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenMetrics 1.0; `created` adds `_created` lines for counters with a start time.
    OpenMetrics { created: bool },
    /// The classic text format 0.0.4.
    Text,
}

/// Encodes merged families in `dialect` into `out` (no `# EOF`).
pub fn encode_groups(out: &mut String, groups: &[Vec<Part>], dialect: Dialect) {
    for group in groups {
        encode_group(out, group, dialect);
    }
}

/// Encodes one merged family in `dialect` into `out`.
pub(super) fn encode_group(out: &mut String, group: &[Part], dialect: Dialect) {
    let Some(first) = group.first() else { return };
    let family = first.family();
    let om = matches!(dialect, Dialect::OpenMetrics { .. });
    let created_lines = dialect == Dialect::OpenMetrics { created: true };
    let base = family.name.as_ref();
    let sample_name = family.sample_name();
    let described = if om { base } else { sample_name.as_str() };
    let kind = match family.kind {
        MetricKind::Gauge => "gauge",
        MetricKind::Counter => "counter",
        MetricKind::Histogram => "histogram",
    };
    out.push_str("# HELP ");
    out.push_str(described);
    out.push(' ');
    write_help(out, &family.help, om);
    out.push_str("\n# TYPE ");
    out.push_str(described);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
    if om {
        if let Some(unit) = unit_of(base) {
            out.push_str("# UNIT ");
            out.push_str(base);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
    }
    let (bucket, sum, count, created) = (
        format!("{base}_bucket"),
        format!("{base}_sum"),
        format!("{base}_count"),
        format!("{base}_created"),
    );
    let number = |out: &mut String, v: f64| {
        if om {
            write_om_float(out, v)
        } else {
            write_text_float(out, v)
        }
    };
    for (target, sample) in samples_in_order(group) {
        let labels = || {
            target
                .map(|t| ("target", t))
                .into_iter()
                .chain(sample.labels.iter())
        };
        match sample.value {
            ValueRef::Gauge(v) => {
                series(out, &sample_name, labels(), None);
                number(out, v);
                out.push('\n');
            }
            ValueRef::Counter { total, created: at } => {
                series(out, &sample_name, labels(), None);
                number(out, total);
                out.push('\n');
                if let (true, Some(at)) = (created_lines, at) {
                    series(out, &created, labels(), None);
                    number(out, at);
                    out.push('\n');
                }
            }
            ValueRef::Histogram {
                buckets,
                sum: total,
                count: n,
            } => {
                let sum_and_count = |out: &mut String| {
                    series(out, &sum, labels(), None);
                    number(out, total);
                    out.push('\n');
                    series(out, &count, labels(), None);
                    out.push_str(itoa::Buffer::new().format(n));
                    out.push('\n');
                };
                if om {
                    sum_and_count(out);
                }
                let mut cumulative = 0u64;
                for (upper, k) in buckets {
                    cumulative += k;
                    let mut le = String::new();
                    number(&mut le, *upper);
                    series(out, &bucket, labels(), Some(&le));
                    out.push_str(itoa::Buffer::new().format(cumulative));
                    out.push('\n');
                }
                if !om {
                    sum_and_count(out);
                }
            }
        }
    }
}

/// `name{labels[,le="…"]} ` (braces only when there are labels), up to the value.
fn series<'a>(
    out: &mut String,
    name: &str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    le: Option<&str>,
) {
    out.push_str(name);
    let mut open = false;
    for (n, v) in labels {
        label(out, &mut open, n, v);
    }
    if let Some(le) = le {
        label(out, &mut open, "le", le);
    }
    if open {
        out.push('}');
    }
    out.push(' ');
}

fn label(out: &mut String, open: &mut bool, name: &str, value: &str) {
    out.push(if *open { ',' } else { '{' });
    *open = true;
    out.push_str(name);
    out.push_str("=\"");
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
    } else {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// HELP text: both formats escape `\` and newline; OpenMetrics also `"` (and a carriage return,
/// which would end the line for some parsers, becomes a space).
fn write_help(out: &mut String, help: &str, om: bool) {
    if !help.contains(['\\', '\n', '\r', '"']) {
        out.push_str(help);
        return;
    }
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if om => out.push_str("\\\""),
            '\r' if om => out.push(' '),
            c => out.push(c),
        }
    }
}

/// The unit OpenMetrics declares for a family name, from its suffix.
fn unit_of(name: &str) -> Option<&'static str> {
    [
        ("_seconds", "seconds"),
        ("_bytes", "bytes"),
        ("_ratio", "ratio"),
    ]
    .into_iter()
    .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix))
    .map(|(_, unit)| unit)
}

/// OpenMetrics floats as prometheus-client writes them (`5.0`, `0.1`, `1e16`), and the
/// spec's `+Inf`, `-Inf`, `NaN` (dtoa alone would write `inf`).
fn write_om_float(out: &mut String, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        // Integers (most counters and byte gauges): itoa and `.0` write dtoa's digits faster.
        out.push_str(itoa::Buffer::new().format(v as i64));
        out.push_str(".0");
    } else if v.is_finite() {
        out.push_str(dtoa::Buffer::new().format_finite(v));
    } else {
        out.push_str(non_finite(v));
    }
}

/// Text 0.0.4 floats: shortest round-trip decimal (`5`, `0.1`), integers through itoa (the
/// same digits, without the float formatter's cost).
fn write_text_float(out: &mut String, v: f64) {
    if v.is_finite() {
        if v == 0.0 && v.is_sign_negative() {
            // Display writes `-0`; keep the digits identical to it.
            out.push_str("-0");
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            out.push_str(itoa::Buffer::new().format(v as i64));
        } else {
            use std::fmt::Write as _;
            let _ = write!(out, "{v}");
        }
    } else {
        out.push_str(non_finite(v));
    }
}

fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expose::encode::merge;
    use crate::snapshot::{Family, Frozen, Labels, Snapshot};
    use std::sync::Arc;

    fn encode(families: Vec<Family>, dialect: Dialect) -> String {
        let groups = merge([(
            Some(Arc::from("t")),
            Arc::new(Frozen::new(&Snapshot::from_families(families))),
        )]);
        let mut out = String::new();
        encode_groups(&mut out, &groups, dialect);
        out
    }

    fn mixed() -> Vec<Family> {
        let mut c = Family::counter("x_requests_total", "Requests \"a\"\nb\\c.");
        c.push_counter(Labels::new().with("vh", "a\"b\\c\nd"), 5.0, Some(1.7e9));
        let mut g = Family::gauge("x_ratio", "R.");
        g.push_gauge(Labels::new(), f64::NAN);
        let mut h = Family::histogram("x_seconds", "H.");
        h.push_histogram(Labels::new(), vec![(0.5, 2), (f64::INFINITY, 1)], 1.25);
        vec![c, g, h]
    }

    #[test]
    fn text_004_like_client_golang() {
        assert_eq!(
            encode(mixed(), Dialect::Text),
            "# HELP x_ratio R.\n# TYPE x_ratio gauge\nx_ratio{target=\"t\"} NaN\n\
             # HELP x_requests_total Requests \"a\"\\nb\\\\c.\n# TYPE x_requests_total counter\n\
             x_requests_total{target=\"t\",vh=\"a\\\"b\\\\c\\nd\"} 5\n\
             # HELP x_seconds H.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{target=\"t\",le=\"0.5\"} 2\nx_seconds_bucket{target=\"t\",le=\"+Inf\"} 3\n\
             x_seconds_sum{target=\"t\"} 1.25\nx_seconds_count{target=\"t\"} 3\n"
        );
    }

    #[test]
    fn openmetrics_like_prometheus_client() {
        assert_eq!(
            encode(mixed(), Dialect::OpenMetrics { created: true }),
            "# HELP x_ratio R.\n# TYPE x_ratio gauge\n# UNIT x_ratio ratio\nx_ratio{target=\"t\"} NaN\n\
             # HELP x_requests Requests \\\"a\\\"\\nb\\\\c.\n# TYPE x_requests counter\n\
             x_requests_total{target=\"t\",vh=\"a\\\"b\\\\c\\nd\"} 5.0\n\
             x_requests_created{target=\"t\",vh=\"a\\\"b\\\\c\\nd\"} 1700000000.0\n\
             # HELP x_seconds H.\n# TYPE x_seconds histogram\n# UNIT x_seconds seconds\n\
             x_seconds_sum{target=\"t\"} 1.25\nx_seconds_count{target=\"t\"} 3\n\
             x_seconds_bucket{target=\"t\",le=\"0.5\"} 2\nx_seconds_bucket{target=\"t\",le=\"+Inf\"} 3\n"
        );
    }

    /// The OpenMetrics writer against prometheus-client's own encoder. Left out of the
    /// comparison, on purpose: non-finite values (the spec's `+Inf`, where dtoa writes `inf`),
    /// histograms (`le` comes last, as client_golang and client_python write it, where
    /// prometheus-client puts it first) and HELP escaping (prometheus-client writes HELP
    /// verbatim; `help_texts_are_escaped` covers it).
    #[test]
    fn openmetrics_matches_prometheus_client_byte_for_byte() {
        use prometheus_client::encoding::EncodeLabelSet;
        use prometheus_client::metrics::gauge::Gauge;
        use prometheus_client::metrics::{counter::Counter, family::Family as PcFamily};
        use prometheus_client::registry::{Registry, Unit};

        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct L {
            target: String,
            vh: String,
        }
        let label = |vh: &str| L {
            target: "t".into(),
            vh: vh.into(),
        };
        let mut registry = Registry::default();
        let counters = PcFamily::<L, Counter<f64>>::default();
        counters.get_or_create(&label("a\"b")).inc_by(1.5e7);
        // `register` appends the period.
        registry.register("y_calls", "Calls made", counters);
        let gauges = PcFamily::<L, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        gauges.get_or_create(&label("x")).set(0.125);
        registry.register_with_unit("y_memory", "Memory", Unit::Bytes, gauges);
        let mut expected = String::new();
        prometheus_client::encoding::text::encode(&mut expected, &registry).unwrap();

        let mut c = Family::counter("y_calls_total", "Calls made.");
        c.push_counter(Labels::new().with("vh", "a\"b"), 1.5e7, None);
        let mut g = Family::gauge("y_memory_bytes", "Memory.");
        g.push_gauge(Labels::new().with("vh", "x"), 0.125);
        let mut ours = encode(vec![c, g], Dialect::OpenMetrics { created: false });
        ours.push_str("# EOF\n");
        assert_eq!(ours, expected);
    }

    #[test]
    fn openmetrics_floats_are_dtoas() {
        let values = [
            0.0,
            -0.0,
            5.0,
            -3.0,
            0.1,
            99999999999999.0,
            1e15,
            1e16,
            2.5e-9,
            1.7e9,
        ];
        for v in values
            .into_iter()
            .chain((0..2000i64).map(|i| (i * i * 7919) as f64))
        {
            let mut ours = String::new();
            write_om_float(&mut ours, v);
            assert_eq!(ours, dtoa::Buffer::new().format(v), "{v}");
        }
        let mut inf = String::new();
        write_om_float(&mut inf, f64::INFINITY);
        assert_eq!(inf, "+Inf");
    }

    fn format_float(v: f64) -> String {
        let mut out = String::new();
        write_text_float(&mut out, v);
        out
    }

    #[test]
    fn text_floats_are_the_shortest_decimal() {
        for v in [0.0, -0.0, 5.0, -3.0, 0.1, 1e15, 1e16, 123456789.25, 1e-7] {
            assert_eq!(format_float(v), format!("{v}"), "{v}");
        }
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
