//! The compact form the store keeps a snapshot in until the next poll replaces it.
//!
//! A translated [`Snapshot`] is convenient to build (a `String` per label value, a `Vec` per
//! sample) but costs ~1 KB a series once allocator overhead is counted, and the store holds every
//! snapshot for a whole poll interval. Freezing interns each distinct label name and value once
//! per snapshot (a subaccount or virtual host name recurs in every family of its endpoint) and
//! lays a family's samples out in flat arrays: a series then costs its label ids (8 bytes a
//! label) and its value, ~60 bytes for a typical five-label gauge. Frozen snapshots are never
//! modified; the exposition reads them through borrowed views.

use super::{Family, Labels, MetricKind, Snapshot, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// An immutable, compact snapshot (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frozen {
    strings: Strings,
    families: Vec<FrozenFamily>,
    series: usize,
}

/// The distinct label names and values of one snapshot, concatenated; id `i` is
/// `text[ends[i - 1]..ends[i]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Strings {
    text: Box<str>,
    ends: Box<[u32]>,
}

impl Strings {
    fn get(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 {
            0
        } else {
            self.ends[id - 1] as usize
        };
        &self.text[start..self.ends[id] as usize]
    }
}

/// One family of a [`Frozen`] snapshot.
#[derive(Debug, Clone)]
pub struct FrozenFamily {
    /// Exposition name; for counters without the `_total` suffix.
    pub name: Cow<'static, str>,
    /// HELP text.
    pub help: Cow<'static, str>,
    /// OpenMetrics type.
    pub kind: MetricKind,
    /// Per sample, its (name id, value id) pairs, all samples back to back.
    labels: Box<[[u32; 2]]>,
    /// Where each sample's pairs end in `labels`.
    ends: Box<[u32]>,
    values: Values,
}

/// Sample values by family type, one entry per sample.
#[derive(Debug, Clone)]
enum Values {
    Gauge(Box<[f64]>),
    /// Totals, and start times (NaN for none; empty when no sample has one).
    Counter {
        totals: Box<[f64]>,
        created: Box<[f64]>,
    },
    Histogram(Box<[Histogram]>),
}

#[derive(Debug, Clone, PartialEq)]
struct Histogram {
    buckets: Box<[(f64, u64)]>,
    sum: f64,
    count: u64,
}

/// Bitwise equality, so a NaN gauge compares equal to itself and an unchanged poll keeps the
/// store's generation (and the cached bodies).
fn same_floats(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl PartialEq for Values {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Values::Gauge(a), Values::Gauge(b)) => same_floats(a, b),
            (
                Values::Counter { totals, created },
                Values::Counter {
                    totals: t2,
                    created: c2,
                },
            ) => same_floats(totals, t2) && same_floats(created, c2),
            (Values::Histogram(a), Values::Histogram(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for FrozenFamily {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.help == other.help
            && self.ends == other.ends
            && self.labels == other.labels
            && self.values == other.values
    }
}

/// A borrowed view of one sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// Gauge value.
    Gauge(f64),
    /// Counter total and optional start time (Unix seconds).
    Counter { total: f64, created: Option<f64> },
    /// Non-cumulative buckets ending with `+Inf`, sum and count.
    Histogram {
        buckets: &'a [(f64, u64)],
        sum: f64,
        count: u64,
    },
}

/// A borrowed view of one sample's labels (`target` excluded).
#[derive(Debug, Clone, Copy)]
pub struct LabelsRef<'a> {
    strings: &'a Strings,
    pairs: &'a [[u32; 2]],
}

impl<'a> LabelsRef<'a> {
    /// The label pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let strings = self.strings;
        self.pairs
            .iter()
            .map(move |[n, v]| (strings.get(*n), strings.get(*v)))
    }

    /// True when the sample has no labels.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of a label, if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Equal when the label pairs read the same, whichever snapshot they come from.
impl PartialEq for LabelsRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.pairs.len() == other.pairs.len() && self.iter().eq(other.iter())
    }
}

impl Eq for LabelsRef<'_> {}

impl Hash for LabelsRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for (n, v) in self.iter() {
            n.hash(state);
            v.hash(state);
        }
    }
}

/// A borrowed view of one sample.
#[derive(Debug, Clone, Copy)]
pub struct SampleRef<'a> {
    /// Its labels.
    pub labels: LabelsRef<'a>,
    /// Its value.
    pub value: ValueRef<'a>,
}

impl FrozenFamily {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the family has no samples.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The full exposition name of the family's primary sample (`_total` added for counters).
    pub fn sample_name(&self) -> String {
        match self.kind {
            MetricKind::Counter => format!("{}_total", self.name),
            _ => self.name.to_string(),
        }
    }

    fn value(&self, i: usize) -> ValueRef<'_> {
        match &self.values {
            Values::Gauge(v) => ValueRef::Gauge(v[i]),
            Values::Counter { totals, created } => ValueRef::Counter {
                total: totals[i],
                created: created.get(i).copied().filter(|c| !c.is_nan()),
            },
            Values::Histogram(h) => ValueRef::Histogram {
                buckets: &h[i].buckets,
                sum: h[i].sum,
                count: h[i].count,
            },
        }
    }
}

impl Frozen {
    /// Freezes a built snapshot (see [`Snapshot::build`]: names unique, no duplicate series).
    pub fn new(snapshot: &Snapshot) -> Frozen {
        let mut interner = Interner::default();
        let families = snapshot
            .families
            .iter()
            .map(|f| freeze_family(f, &mut interner))
            .collect();
        Frozen {
            strings: interner.finish(),
            families,
            series: snapshot.series_count(),
        }
    }

    /// Number of samples (series).
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// The families in translation order.
    pub fn families(&self) -> &[FrozenFamily] {
        &self.families
    }

    /// The samples of family `index`, in order.
    pub fn samples(&self, index: usize) -> impl Iterator<Item = SampleRef<'_>> + '_ {
        let family = &self.families[index];
        let strings = &self.strings;
        (0..family.len()).map(move |i| {
            let start = if i == 0 {
                0
            } else {
                family.ends[i - 1] as usize
            };
            SampleRef {
                labels: LabelsRef {
                    strings,
                    pairs: &family.labels[start..family.ends[i] as usize],
                },
                value: family.value(i),
            }
        })
    }

    /// The snapshot back in its building form (tests and the few readers that want owned data).
    pub fn thaw(&self) -> Snapshot {
        let families = (0..self.families.len())
            .map(|index| {
                let f = &self.families[index];
                let mut family = Family {
                    name: f.name.clone(),
                    help: f.help.clone(),
                    kind: f.kind,
                    samples: Vec::with_capacity(f.len()),
                };
                for sample in self.samples(index) {
                    let labels = Labels(
                        sample
                            .labels
                            .iter()
                            .map(|(n, v)| (Cow::Owned(n.to_string()), v.to_string()))
                            .collect(),
                    );
                    let value = match sample.value {
                        ValueRef::Gauge(v) => Value::Gauge(v),
                        ValueRef::Counter { total, created } => Value::Counter { total, created },
                        ValueRef::Histogram {
                            buckets,
                            sum,
                            count,
                        } => Value::Histogram {
                            buckets: buckets.to_vec(),
                            sum,
                            count,
                        },
                    };
                    family.samples.push(super::Sample { labels, value });
                }
                family
            })
            .collect();
        Snapshot { families }
    }
}

impl From<&Snapshot> for Frozen {
    fn from(snapshot: &Snapshot) -> Frozen {
        Frozen::new(snapshot)
    }
}

#[derive(Default)]
struct Interner<'a> {
    ids: HashMap<&'a str, u32, rustc_hash::FxBuildHasher>,
    text: String,
    ends: Vec<u32>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.ends.len() as u32;
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        self.ids.insert(s, id);
        id
    }

    fn finish(self) -> Strings {
        Strings {
            text: self.text.into_boxed_str(),
            ends: self.ends.into_boxed_slice(),
        }
    }
}

fn freeze_family<'a>(family: &'a Family, interner: &mut Interner<'a>) -> FrozenFamily {
    let n = family.samples.len();
    let mut labels = Vec::with_capacity(n * family.samples.first().map_or(0, |s| s.labels.0.len()));
    let mut ends = Vec::with_capacity(n);
    for sample in &family.samples {
        for (name, value) in &sample.labels.0 {
            labels.push([interner.id(name), interner.id(value)]);
        }
        ends.push(labels.len() as u32);
    }
    let values = match family.kind {
        MetricKind::Gauge => Values::Gauge(
            family
                .samples
                .iter()
                .map(|s| match s.value {
                    Value::Gauge(v) => v,
                    _ => f64::NAN,
                })
                .collect(),
        ),
        MetricKind::Counter => {
            let mut totals = Vec::with_capacity(n);
            let mut created = Vec::with_capacity(n);
            for s in &family.samples {
                let (t, c) = match s.value {
                    Value::Counter { total, created } => (total, created),
                    _ => (f64::NAN, None),
                };
                totals.push(t);
                created.push(c.unwrap_or(f64::NAN));
            }
            if created.iter().all(|c| c.is_nan()) {
                created = Vec::new();
            }
            Values::Counter {
                totals: totals.into_boxed_slice(),
                created: created.into_boxed_slice(),
            }
        }
        MetricKind::Histogram => Values::Histogram(
            family
                .samples
                .iter()
                .map(|s| match &s.value {
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                    } => Histogram {
                        buckets: buckets.clone().into_boxed_slice(),
                        sum: *sum,
                        count: *count,
                    },
                    _ => Histogram {
                        buckets: Box::new([]),
                        sum: f64::NAN,
                        count: 0,
                    },
                })
                .collect(),
        ),
    };
    FrozenFamily {
        name: family.name.clone(),
        help: family.help.clone(),
        kind: family.kind,
        labels: labels.into_boxed_slice(),
        ends: ends.into_boxed_slice(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_snapshot() -> Snapshot {
        let mut g = Family::gauge("g", "G.");
        g.push_gauge(Labels::new().with("vh", "a").with("port", "1"), 1.5);
        g.push_gauge(Labels::new().with("vh", "b").with("port", "1"), f64::NAN);
        g.push_gauge(Labels::new(), 3.0);
        let mut c = Family::counter("c_total", "C.");
        c.push_counter(Labels::new().with("vh", "a"), 5.0, Some(10.0));
        c.push_counter(Labels::new().with("vh", "b"), 6.0, None);
        let mut h = Family::histogram("h_seconds", "H.");
        h.push_histogram(
            Labels::new().with("vh", "a"),
            vec![(0.1, 2), (f64::INFINITY, 1)],
            0.5,
        );
        Snapshot::from_families(vec![g, c, h])
    }

    #[test]
    fn freezing_keeps_every_family_label_and_value() {
        let snapshot = sample_snapshot();
        let frozen = Frozen::new(&snapshot);
        assert_eq!(frozen.series_count(), 6);
        let thawed = frozen.thaw();
        // NaN != NaN in the derived comparison; compare the readable rendering instead.
        assert_eq!(thawed.to_golden_text(), snapshot.to_golden_text());
        let c: Vec<_> = frozen.samples(1).map(|s| s.value).collect();
        assert_eq!(
            c,
            vec![
                ValueRef::Counter {
                    total: 5.0,
                    created: Some(10.0)
                },
                ValueRef::Counter {
                    total: 6.0,
                    created: None
                }
            ]
        );
        let first = frozen.samples(0).next().unwrap();
        assert_eq!(first.labels.get("port"), Some("1"));
        assert_eq!(first.labels.get("nope"), None);
        assert!(frozen.samples(0).nth(2).unwrap().labels.is_empty());
    }

    #[test]
    fn repeated_strings_are_stored_once() {
        let frozen = Frozen::new(&sample_snapshot());
        // vh, a, port, 1, b: each once however many samples carry it.
        assert_eq!(frozen.strings.ends.len(), 5);
        assert_eq!(&*frozen.strings.text, "vhaport1b");
    }

    #[test]
    fn equal_data_freezes_equal_even_with_nan() {
        assert_eq!(
            Frozen::new(&sample_snapshot()),
            Frozen::new(&sample_snapshot())
        );
        let mut other = sample_snapshot();
        other.families[0].samples[0].value = Value::Gauge(1.25);
        assert_ne!(Frozen::new(&sample_snapshot()), Frozen::new(&other));
    }

    #[test]
    fn labels_from_different_snapshots_compare_by_text() {
        let a = Frozen::new(&sample_snapshot());
        let mut g = Family::gauge("x", "X.");
        g.push_gauge(Labels::new().with("port", "1").with("vh", "b"), 0.0);
        g.push_gauge(Labels::new().with("vh", "b").with("port", "1"), 0.0);
        let b = Frozen::new(&Snapshot::from_families(vec![g]));
        let a1 = a.samples(0).nth(1).unwrap().labels;
        let mut b_samples = b.samples(0);
        let (b0, b1) = (
            b_samples.next().unwrap().labels,
            b_samples.next().unwrap().labels,
        );
        assert_ne!(a1, b0, "order matters");
        assert_eq!(a1, b1);
    }
}
