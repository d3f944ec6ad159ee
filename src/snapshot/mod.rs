//! The immutable result of one successful poll: metric families with labelled samples.
//!
//! Sources translate vendor payloads into a [`Snapshot`]; the store keeps the latest one per
//! (source, target, endpoint); the exposition merges them family by family. The `target` label
//! is added by the exposition from the store key, so every series of a source carries it and
//! translations stay pure functions of the payload.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

mod frozen;

pub use frozen::{Frozen, FrozenFamily, LabelsRef, SampleRef, ValueRef};

/// A label name, mostly static.
pub type LabelName = Cow<'static, str>;

/// Ordered label pairs of one sample (without the `target` label).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels(pub Vec<(LabelName, String)>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Adds a label and returns self, for building label sets inline.
    pub fn with(mut self, name: impl Into<LabelName>, value: impl Into<String>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// Adds a label in place.
    pub fn push(&mut self, name: impl Into<LabelName>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The value of a label, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Iterates the label pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }
}

/// The OpenMetrics type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that can go up and down (also used for info-style `_info` gauges with value 1).
    Gauge,
    /// A monotonically increasing value; the family name carries no `_total` suffix.
    Counter,
    /// Buckets, sum and count.
    Histogram,
}

/// The value of one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Gauge value.
    Gauge(f64),
    /// Counter total with the optional start time of the count (OpenMetrics `_created`, Unix s).
    Counter { total: f64, created: Option<f64> },
    /// Histogram: non-cumulative `(upper bound, count)` buckets ending with `+Inf`, sum and count.
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

/// One series: labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels of the series, `target` excluded.
    pub labels: Labels,
    /// Its value.
    pub value: Value,
}

/// A metric family: name, help, type and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Exposition name; for counters without the `_total` suffix.
    pub name: Cow<'static, str>,
    /// HELP text: one real sentence.
    pub help: Cow<'static, str>,
    /// OpenMetrics type.
    pub kind: MetricKind,
    /// Samples, one per label set.
    pub samples: Vec<Sample>,
}

impl Family {
    /// A gauge family.
    pub fn gauge(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name.into(), help.into(), MetricKind::Gauge)
    }

    /// A counter family; `name` may be given with or without the `_total` suffix.
    pub fn counter(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        let name = match name {
            Cow::Borrowed(s) => Cow::Borrowed(s.strip_suffix("_total").unwrap_or(s)),
            Cow::Owned(s) => Cow::Owned(s.strip_suffix("_total").unwrap_or(&s).to_string()),
        };
        Self::new(name, help.into(), MetricKind::Counter)
    }

    /// A histogram family.
    pub fn histogram(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(name.into(), help.into(), MetricKind::Histogram)
    }

    fn new(name: Cow<'static, str>, help: Cow<'static, str>, kind: MetricKind) -> Self {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// Adds a gauge sample.
    pub fn push_gauge(&mut self, labels: Labels, value: f64) {
        debug_assert_eq!(self.kind, MetricKind::Gauge, "{}", self.name);
        self.samples.push(Sample {
            labels,
            value: Value::Gauge(value),
        });
    }

    /// Adds a counter sample with an optional `_created` time (Unix seconds).
    pub fn push_counter(&mut self, labels: Labels, total: f64, created: Option<f64>) {
        debug_assert_eq!(self.kind, MetricKind::Counter, "{}", self.name);
        self.samples.push(Sample {
            labels,
            value: Value::Counter { total, created },
        });
    }

    /// Adds a histogram sample from non-cumulative buckets.
    pub fn push_histogram(&mut self, labels: Labels, buckets: Vec<(f64, u64)>, sum: f64) {
        debug_assert_eq!(self.kind, MetricKind::Histogram, "{}", self.name);
        let count = buckets.iter().map(|(_, c)| c).sum();
        self.samples.push(Sample {
            labels,
            value: Value::Histogram {
                buckets,
                sum,
                count,
            },
        });
    }

    /// The full exposition name of the family's primary sample (`_total` added for counters).
    pub fn sample_name(&self) -> String {
        match self.kind {
            MetricKind::Counter => format!("{}_total", self.name),
            _ => self.name.to_string(),
        }
    }
}

/// The translated result of one poll. Immutable once built; shared by reference count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Families in the order the translation produced them; each name at most once.
    pub families: Vec<Family>,
}

/// A snapshot as the store keeps and shares it: frozen (see [`Frozen`]).
pub type SharedSnapshot = Arc<Frozen>;

impl Snapshot {
    /// Builds a snapshot, dropping empty families, merging families that share a name, and
    /// dropping duplicate label sets (first one wins) so the exposition can never carry a
    /// duplicate series. Returns the number of duplicate samples dropped alongside.
    pub fn build(families: Vec<Family>) -> (Snapshot, usize) {
        let mut merged: Vec<Family> = Vec::with_capacity(families.len());
        for family in families {
            if family.samples.is_empty() {
                continue;
            }
            match merged.iter_mut().find(|f| f.name == family.name) {
                Some(existing) => existing.samples.extend(family.samples),
                None => merged.push(family),
            }
        }
        let mut dropped = 0;
        for family in &mut merged {
            let mut seen: HashSet<&Labels> = HashSet::with_capacity(family.samples.len());
            let mut keep = Vec::with_capacity(family.samples.len());
            for (i, sample) in family.samples.iter().enumerate() {
                keep.push(seen.insert(&sample.labels));
                if !keep[i] {
                    dropped += 1;
                }
            }
            if dropped > 0 {
                let mut flags = keep.into_iter();
                family.samples.retain(|_| flags.next().unwrap_or(true));
            }
        }
        (Snapshot { families: merged }, dropped)
    }

    /// Builds a snapshot from families; duplicates are dropped silently (see [`Snapshot::build`]).
    pub fn from_families(families: Vec<Family>) -> Snapshot {
        Self::build(families).0
    }

    /// Number of samples (series) in the snapshot.
    pub fn series_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// Looks a family up by name (as given at construction, without `_total`).
    pub fn family(&self, name: &str) -> Option<&Family> {
        let name = name.strip_suffix("_total").unwrap_or(name);
        self.families.iter().find(|f| f.name == name)
    }

    /// Renders the snapshot as sorted, readable text lines for golden tests:
    /// `name{label="value",...} value [created]`.
    #[cfg(test)]
    pub(crate) fn to_golden_text(&self) -> String {
        let mut lines = Vec::new();
        for family in &self.families {
            for sample in &family.samples {
                let labels = sample
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(",");
                match &sample.value {
                    Value::Gauge(v) => lines.push(format!("{}{{{labels}}} {v}", family.name)),
                    Value::Counter { total, created } => {
                        let created = created.map(|c| format!(" created={c}")).unwrap_or_default();
                        lines.push(format!(
                            "{}_total{{{labels}}} {total}{created}",
                            family.name
                        ))
                    }
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                    } => lines.push(format!(
                        "{}{{{labels}}} buckets={buckets:?} sum={sum} count={count}",
                        family.name
                    )),
                }
            }
        }
        lines.sort();
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }
}

/// Compares `actual` with the golden file at `path` (relative to the crate root).
/// With `UPDATE_GOLDEN=1` the file is (re)written instead; review the diff before committing.
#[cfg(test)]
pub(crate) fn assert_golden(path: &str, actual: &str) {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(&full, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&full).unwrap_or_else(|e| {
        panic!(
            "golden file {} unreadable ({e}); run with UPDATE_GOLDEN=1 to create it",
            full.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "golden mismatch for {} ({} vs {} lines):\n{}\nrun with UPDATE_GOLDEN=1 to accept",
            full.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_name_loses_total_suffix() {
        let f = Family::counter("scc_backend_calls_total", "Calls.");
        assert_eq!(f.name, "scc_backend_calls");
        assert_eq!(f.sample_name(), "scc_backend_calls_total");
        let f = Family::counter(String::from("x_total"), "X.");
        assert_eq!(f.name, "x");
    }

    #[test]
    fn build_merges_same_name_and_drops_duplicates_and_empties() {
        let mut a = Family::gauge("g", "G.");
        a.push_gauge(Labels::new().with("k", "1"), 1.0);
        a.push_gauge(Labels::new().with("k", "1"), 2.0);
        let mut b = Family::gauge("g", "G.");
        b.push_gauge(Labels::new().with("k", "2"), 3.0);
        let empty = Family::gauge("e", "E.");
        let (snap, dropped) = Snapshot::build(vec![a, empty, b]);
        assert_eq!(dropped, 1);
        assert_eq!(snap.families.len(), 1);
        let values: Vec<_> = snap.families[0]
            .samples
            .iter()
            .map(|s| s.value.clone())
            .collect();
        assert_eq!(values, vec![Value::Gauge(1.0), Value::Gauge(3.0)]);
        assert_eq!(snap.series_count(), 2);
    }

    #[test]
    fn golden_text_is_sorted_and_readable() {
        let mut c = Family::counter("c_total", "C.");
        c.push_counter(Labels::new().with("a", "x\"y"), 5.0, Some(10.0));
        let mut g = Family::gauge("b", "B.");
        g.push_gauge(Labels::new(), 1.5);
        let snap = Snapshot::from_families(vec![c, g]);
        assert_eq!(
            snap.to_golden_text(),
            "b{} 1.5\nc_total{a=\"x\\\"y\"} 5 created=10\n"
        );
    }
}
