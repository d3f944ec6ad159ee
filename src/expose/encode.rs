//! Merging the families of many snapshots, and the OpenMetrics entry points.
//!
//! Families of the same name from several snapshots (targets) are merged so every family
//! appears exactly once, with each sample's `target` label first. The lines themselves are
//! written by [`super::text`]. The exporter's self-metrics registry is encoded by
//! prometheus-client; [`families_from_openmetrics`] reads that text back so the text 0.0.4 and
//! protobuf formats can carry the self-metrics too.

use super::text::{self, Dialect};
use crate::snapshot::{
    Family, FrozenFamily, Labels, LabelsRef, MetricKind, SampleRef, SharedSnapshot,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// One contribution to a merged family: a snapshot's family, with the target it belongs to.
#[derive(Debug, Clone)]
pub struct Part {
    /// `target` label value prepended to every sample (None for exporter self-metrics).
    pub target: Option<Arc<str>>,
    /// The snapshot holding the family.
    pub snapshot: SharedSnapshot,
    /// Index of the family in the snapshot.
    pub family: usize,
}

impl Part {
    pub(super) fn family(&self) -> &FrozenFamily {
        &self.snapshot.families()[self.family]
    }

    pub(super) fn samples(&self) -> impl Iterator<Item = SampleRef<'_>> {
        self.snapshot.samples(self.family)
    }
}

/// Groups the families of many snapshots by name (sorted), dropping contributions whose type
/// disagrees with the first one seen (a translation bug, logged).
pub fn merge(
    snapshots: impl IntoIterator<Item = (Option<Arc<str>>, SharedSnapshot)>,
) -> Vec<Vec<Part>> {
    let mut groups: BTreeMap<String, Vec<Part>> = BTreeMap::new();
    for (target, snapshot) in snapshots {
        for (index, family) in snapshot.families().iter().enumerate() {
            let group = groups.entry(family.name.to_string()).or_default();
            if let Some(first) = group.first() {
                if first.family().kind != family.kind {
                    tracing::error!(family = %family.name, "family exposed with two different types; dropping the second");
                    continue;
                }
            }
            group.push(Part {
                target: target.clone(),
                snapshot: snapshot.clone(),
                family: index,
            });
        }
    }
    groups.into_values().collect()
}

/// Encodes merged families as OpenMetrics text without `_created` lines (the default) and
/// without the trailing `# EOF` into `out`.
pub fn encode_groups(out: &mut String, groups: &[Vec<Part>]) {
    encode_groups_with(out, groups, false);
}

/// Like [`encode_groups`]; `created` adds a `_created` line after each counter sample that has
/// a start time (one more series per such counter for a scraper that does not fold them).
pub fn encode_groups_with(out: &mut String, groups: &[Vec<Part>], created: bool) {
    text::encode_groups(out, groups, Dialect::OpenMetrics { created });
}

/// Encodes plain families (no target label) into `out`; used for self-metrics.
pub fn encode_families(out: &mut String, families: Vec<Family>) {
    let snapshot = crate::snapshot::Snapshot::from_families(families);
    let groups = merge([(None, Arc::new(crate::snapshot::Frozen::new(&snapshot)))]);
    encode_groups(out, &groups);
}

/// The samples of a group in encoding order, skipping duplicates when one target contributes
/// the same family from two endpoints.
pub(super) fn samples_in_order(
    group: &[Part],
) -> impl Iterator<Item = (Option<&str>, SampleRef<'_>)> {
    let mut targets: Vec<Option<&str>> = group.iter().map(|p| p.target.as_deref()).collect();
    targets.sort();
    let repeated = targets.windows(2).any(|w| w[0] == w[1]);
    let mut seen: HashSet<(Option<&str>, LabelsRef<'_>)> = HashSet::new();
    group
        .iter()
        .flat_map(|p| {
            let target = p.target.as_deref();
            p.samples().map(move |s| (target, s))
        })
        .filter(move |(t, s)| !repeated || seen.insert((*t, s.labels)))
}

/// Reads OpenMetrics text of gauges and counters (what prometheus-client writes for the
/// exporter's event-driven self-metrics registry) back into families, so the text 0.0.4 and
/// protobuf formats can carry them too. Lines it does not understand are skipped.
pub fn families_from_openmetrics(text: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    let mut help = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest
                .split_once(' ')
                .map(|(_, h)| unescape(h))
                .unwrap_or_default();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let Some((name, kind)) = rest.split_once(' ') else {
                continue;
            };
            let help = std::mem::take(&mut help);
            families.push(match kind {
                "counter" => Family::counter(name.to_string(), help),
                _ => Family::gauge(name.to_string(), help),
            });
        } else if !line.starts_with('#') && !line.is_empty() {
            let (Some(family), Some((series, value))) =
                (families.last_mut(), line.rsplit_once(' '))
            else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let labels = match series.split_once('{') {
                Some((_, rest)) => parse_labels(rest.strip_suffix('}').unwrap_or(rest)),
                None => Labels::new(),
            };
            match family.kind {
                MetricKind::Counter => family.push_counter(labels, value, None),
                _ => family.push_gauge(labels, value),
            }
        }
    }
    families
}

fn parse_labels(text: &str) -> Labels {
    let mut labels = Labels::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push(name.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    labels
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(c) => out.push(c),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Snapshot, Value};

    fn encode(snapshots: Vec<(Option<&str>, Snapshot)>) -> String {
        encode_created(snapshots, true)
    }

    fn encode_created(snapshots: Vec<(Option<&str>, Snapshot)>, created: bool) -> String {
        let mut out = String::new();
        let groups = merge(
            snapshots
                .into_iter()
                .map(|(t, s)| (t.map(Arc::from), Arc::new(crate::snapshot::Frozen::new(&s)))),
        );
        encode_groups_with(&mut out, &groups, created);
        out
    }

    #[test]
    fn created_lines_are_opt_in() {
        let mut c = Family::counter("c_total", "C.");
        c.push_counter(Labels::new(), 5.0, Some(1700000000.0));
        let snap = || vec![(None, Snapshot::from_families(vec![c.clone()]))];
        let off = encode_created(snap(), false);
        assert_eq!(off, "# HELP c C.\n# TYPE c counter\nc_total 5.0\n");
        let on = encode_created(snap(), true);
        assert_eq!(on, format!("{off}c_created 1700000000.0\n"));
    }

    #[test]
    fn registry_text_reads_back_as_families() {
        let text = "# HELP a_info Build.\n# TYPE a_info gauge\na_info{v=\"1\\\"x\"} 1\n\
                    # HELP r Requests.\n# TYPE r counter\nr_total{s=\"200\"} 3\nr_total{s=\"5\\nxx\"} 4\n\
                    # HELP t_seconds Time.\n# TYPE t_seconds gauge\n# UNIT t_seconds seconds\nt_seconds 1.5\n# EOF\n";
        let families = families_from_openmetrics(text);
        assert_eq!(families.len(), 3, "{families:?}");
        assert_eq!(families[0].name, "a_info");
        assert_eq!(families[0].samples[0].labels.get("v"), Some("1\"x"));
        assert_eq!(families[1].kind, MetricKind::Counter);
        assert_eq!(families[1].name, "r");
        assert_eq!(families[1].help, "Requests.");
        assert_eq!(families[1].samples[1].labels.get("s"), Some("5\nxx"));
        assert_eq!(
            families[1].samples[1].value,
            Value::Counter {
                total: 4.0,
                created: None
            }
        );
        assert_eq!(families[2].samples[0].value, Value::Gauge(1.5));
    }

    #[test]
    fn merges_targets_into_one_family_with_target_label() {
        let mut a = Family::gauge("scc_memory_physical_bytes", "Physical memory.");
        a.push_gauge(Labels::new().with("usage", "free"), 1024.0);
        let b = a.clone();
        let text = encode(vec![
            (Some("prod"), Snapshot::from_families(vec![a])),
            (Some("qa"), Snapshot::from_families(vec![b])),
        ]);
        assert_eq!(text.matches("# TYPE").count(), 1, "{text}");
        assert!(
            text.contains("# UNIT scc_memory_physical_bytes bytes"),
            "{text}"
        );
        assert!(
            text.contains("scc_memory_physical_bytes{target=\"prod\",usage=\"free\"} 1024"),
            "{text}"
        );
        assert!(
            text.contains("scc_memory_physical_bytes{target=\"qa\",usage=\"free\"} 1024"),
            "{text}"
        );
    }

    #[test]
    fn counters_get_total_and_created_twins() {
        let mut c = Family::counter("scc_backend_requests_total", "Requests.");
        c.push_counter(Labels::new().with("vh", "a b}\"c"), 5.0, Some(1700000000.5));
        c.push_counter(Labels::new().with("vh", "x"), 7.0, None);
        let text = encode(vec![(Some("t"), Snapshot::from_families(vec![c]))]);
        let expected = "# HELP scc_backend_requests Requests.\n\
                        # TYPE scc_backend_requests counter\n\
                        scc_backend_requests_total{target=\"t\",vh=\"a b}\\\"c\"} 5.0\n\
                        scc_backend_requests_created{target=\"t\",vh=\"a b}\\\"c\"} 1700000000.5\n\
                        scc_backend_requests_total{target=\"t\",vh=\"x\"} 7.0\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut g = Family::gauge("g", "G.");
        g.push_gauge(Labels::new().with("v", "q\"b\\n\nü"), 1.0);
        let text = encode(vec![(None, Snapshot::from_families(vec![g]))]);
        assert!(text.contains(r#"g{v="q\"b\\n\nü"} 1"#), "{text}");
    }

    #[test]
    fn same_target_twice_is_deduplicated() {
        let mut g = Family::gauge("g", "G.");
        g.push_gauge(Labels::new().with("k", "1"), 1.0);
        let snap = Snapshot::from_families(vec![g]);
        let text = encode(vec![(Some("t"), snap.clone()), (Some("t"), snap)]);
        assert_eq!(text.matches("g{").count(), 1, "{text}");
    }

    #[test]
    fn histograms_encode_buckets_sum_count() {
        let mut h = Family::histogram("h_seconds", "H.");
        h.push_histogram(Labels::new(), vec![(0.1, 2), (f64::INFINITY, 1)], 0.5);
        let text = encode(vec![(None, Snapshot::from_families(vec![h]))]);
        assert!(text.contains("h_seconds_bucket{le=\"0.1\"} 2"), "{text}");
        assert!(text.contains("h_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("h_seconds_count 3\n"), "{text}");
        assert!(text.contains("h_seconds_sum 0.5\n"), "{text}");
    }

    #[test]
    fn help_texts_are_escaped() {
        // Found by tests/it/fuzz_props.rs: a Tencent metric name with a newline in its HELP text
        // broke the exposition.
        let mut g = Family::gauge("g", "Metric a\nb \"c\" d\\e.".to_string());
        g.push_gauge(Labels::new(), 1.0);
        let text = encode(vec![(None, Snapshot::from_families(vec![g]))]);
        assert!(
            text.starts_with("# HELP g Metric a\\nb \\\"c\\\" d\\\\e.\n# TYPE g gauge\n"),
            "{text}"
        );
    }

    #[test]
    fn mismatched_types_keep_the_first() {
        let mut g = Family::gauge("x", "X.");
        g.push_gauge(Labels::new(), 1.0);
        let mut c = Family::counter("x", "X.");
        c.push_counter(Labels::new(), 1.0, None);
        let text = encode(vec![
            (Some("a"), Snapshot::from_families(vec![g])),
            (Some("b"), Snapshot::from_families(vec![c])),
        ]);
        assert!(text.contains("# TYPE x gauge"));
        assert!(!text.contains("x_total"));
    }
}
