//! The classic Prometheus text format 0.0.4, written the way client_golang's
//! `expfmt.MetricFamilyToText` writes it: counter families named with `_total`, no `# UNIT`,
//! no `_created` lines, no `# EOF`; HELP escapes `\` and newline, label values `\`, `"` and
//! newline. (prometheus-client writes only OpenMetrics, so this encoder is ours.)

use super::encode::{samples_in_order, Part};
use crate::snapshot::{MetricKind, ValueRef};
use std::fmt::Write as _;

/// Encodes merged families as text 0.0.4 into `out`.
pub fn encode_groups(out: &mut String, groups: &[Vec<Part>]) {
    for group in groups {
        encode_group(out, group);
    }
}

/// Encodes one merged family as text 0.0.4 into `out`.
pub(super) fn encode_group(out: &mut String, group: &[Part]) {
    let Some(first) = group.first() else { return };
    let family = first.family();
    let name = family.sample_name();
    let kind = match family.kind {
        MetricKind::Gauge => "gauge",
        MetricKind::Counter => "counter",
        MetricKind::Histogram => "histogram",
    };
    out.push_str("# HELP ");
    out.push_str(&name);
    out.push(' ');
    for c in family.help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "\n# TYPE {name} {kind}");
    for (target, sample) in samples_in_order(group) {
        let labels = || {
            target
                .map(|t| ("target", t))
                .into_iter()
                .chain(sample.labels.iter())
        };
        match sample.value {
            ValueRef::Gauge(v) | ValueRef::Counter { total: v, .. } => {
                line(out, &name, labels(), None, v);
            }
            ValueRef::Histogram {
                buckets,
                sum,
                count,
            } => {
                let base = family.name.as_ref();
                let bucket = format!("{base}_bucket");
                let mut cumulative = 0u64;
                for (upper, n) in buckets {
                    cumulative += n;
                    let le = format_float(*upper);
                    line(out, &bucket, labels(), Some(&le), cumulative as f64);
                }
                line(out, &format!("{base}_sum"), labels(), None, sum);
                line(out, &format!("{base}_count"), labels(), None, count as f64);
            }
        }
    }
}

fn line<'a>(
    out: &mut String,
    name: &str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    le: Option<&str>,
    value: f64,
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
    write_float(out, value);
    out.push('\n');
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

/// [`format_float`] written straight into `out` (no allocation per sample).
fn write_float(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_float(v));
    }
}

/// Shortest round-trip decimal; `+Inf`, `-Inf` and `NaN` as the format spells them.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expose::encode::merge;
    use crate::snapshot::{Family, Frozen, Labels, Snapshot};
    use std::sync::Arc;

    fn encode(families: Vec<Family>) -> String {
        let groups = merge([(
            Some(Arc::from("t")),
            Arc::new(Frozen::new(&Snapshot::from_families(families))),
        )]);
        let mut out = String::new();
        encode_groups(&mut out, &groups);
        out
    }

    #[test]
    fn counters_gauges_histograms_like_client_golang() {
        let mut c = Family::counter("x_requests_total", "Requests \"a\"\nb\\c.");
        c.push_counter(Labels::new().with("vh", "a\"b\\c\nd"), 5.0, Some(1.7e9));
        let mut g = Family::gauge("x_ratio", "R.");
        g.push_gauge(Labels::new(), f64::NAN);
        let mut h = Family::histogram("x_seconds", "H.");
        h.push_histogram(Labels::new(), vec![(0.5, 2), (f64::INFINITY, 1)], 1.25);
        let text = encode(vec![c, g, h]);
        assert_eq!(
            text,
            "# HELP x_ratio R.\n# TYPE x_ratio gauge\nx_ratio{target=\"t\"} NaN\n\
             # HELP x_requests_total Requests \"a\"\\nb\\\\c.\n# TYPE x_requests_total counter\n\
             x_requests_total{target=\"t\",vh=\"a\\\"b\\\\c\\nd\"} 5\n\
             # HELP x_seconds H.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{target=\"t\",le=\"0.5\"} 2\nx_seconds_bucket{target=\"t\",le=\"+Inf\"} 3\n\
             x_seconds_sum{target=\"t\"} 1.25\nx_seconds_count{target=\"t\"} 3\n"
        );
    }
}
