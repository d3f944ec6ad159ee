//! The Prometheus protobuf exposition: length-delimited `io.prometheus.client.MetricFamily`
//! messages (prometheus/client_model `io/prometheus/client/metrics.proto`, proto2), the format
//! client_golang writes for `encoding=delimited`. Counters carry their start time in
//! `Counter.created_timestamp`, which costs no series (unlike OpenMetrics `_created` lines).
//!
//! The messages are written by hand with `prost` derives (no protoc at build time); only the
//! fields this exporter fills are declared, with metrics.proto's field numbers and types.

use super::encode::{samples_in_order, Part};
use crate::snapshot::{MetricKind, ValueRef};

/// `io.prometheus.client.LabelPair`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    /// `optional string name = 1;`
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `optional string value = 2;`
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    /// `int64 seconds = 1;`
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// `int32 nanos = 2;`
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `io.prometheus.client.Gauge`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    /// `optional double value = 1;`
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// `io.prometheus.client.Counter` (exemplar, field 2, not used).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    /// `optional double value = 1;`
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
    /// `optional google.protobuf.Timestamp created_timestamp = 3;`
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// `io.prometheus.client.Bucket` (classic histogram bucket).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    /// `optional uint64 cumulative_count = 1;`
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    /// `optional double upper_bound = 2;`
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
}

/// `io.prometheus.client.Histogram`, classic fields only (native histogram fields 5-14 and 16
/// unset, so Prometheus reads it as a classic histogram).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// `optional uint64 sample_count = 1;`
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// `optional double sample_sum = 2;`
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// `repeated Bucket bucket = 3;`
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// `optional google.protobuf.Timestamp created_timestamp = 15;`
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
}

/// `io.prometheus.client.Metric` (summary = 4, untyped = 5 and timestamp_ms = 6 not used).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// `repeated LabelPair label = 1;`
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// `optional Gauge gauge = 2;`
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// `optional Counter counter = 3;`
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// `optional Histogram histogram = 7;`
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
}

/// `io.prometheus.client.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// `COUNTER = 0;`
    Counter = 0,
    /// `GAUGE = 1;`
    Gauge = 1,
    /// `SUMMARY = 2;`
    Summary = 2,
    /// `UNTYPED = 3;`
    Untyped = 3,
    /// `HISTOGRAM = 4;`
    Histogram = 4,
    /// `GAUGE_HISTOGRAM = 5;`
    GaugeHistogram = 5,
}

/// `io.prometheus.client.MetricFamily` (unit = 5 not used, as client_golang leaves it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricFamily {
    /// `optional string name = 1;`
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `optional string help = 2;`
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    /// `optional MetricType type = 3;`
    #[prost(enumeration = "MetricType", optional, tag = "3")]
    pub r#type: Option<i32>,
    /// `repeated Metric metric = 4;`
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
}

/// Unix seconds as a protobuf Timestamp.
fn timestamp(unix: f64) -> Timestamp {
    let seconds = unix.floor();
    let nanos = ((unix - seconds) * 1e9).round().min(999_999_999.0);
    Timestamp {
        seconds: seconds as i64,
        nanos: nanos as i32,
    }
}

/// Encodes merged families as length-delimited MetricFamily messages into `out`.
pub fn encode_groups(out: &mut Vec<u8>, groups: &[Vec<Part>]) {
    let mut metrics = Vec::new();
    for group in groups {
        encode_group(out, group, &mut metrics);
    }
}

/// Encodes one merged family as a length-delimited MetricFamily message into `out`; `metrics`
/// is scratch space for the family's Metric fields, reused across families.
///
/// The wire format is written directly rather than through prost's message structs: building a
/// struct with two `String`s per label pair for a million series took ~4× the time of the text
/// formats. The field numbers are metrics.proto's (see the structs above, which the tests decode
/// with and compare against).
pub(super) fn encode_group(out: &mut Vec<u8>, group: &[Part], metrics: &mut Vec<u8>) {
    let Some(first) = group.first() else { return };
    let family = first.family();
    let kind = match family.kind {
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Histogram => MetricType::Histogram,
    };
    metrics.clear();
    for (target, sample) in samples_in_order(group) {
        let labels = || {
            target
                .map(|t| ("target", t))
                .into_iter()
                .chain(sample.labels.iter())
        };
        let labels_len: usize = labels()
            .map(|(n, v)| delimited_len(label_pair_len(n, v)))
            .sum();
        let value_len = match sample.value {
            ValueRef::Gauge(_) => delimited_len(DOUBLE_FIELD),
            ValueRef::Counter { created, .. } => delimited_len(counter_len(created)),
            ValueRef::Histogram { buckets, count, .. } => {
                delimited_len(histogram_len(buckets, count))
            }
        };
        // Metric field 4 of MetricFamily.
        key(metrics, 4, LEN);
        varint(metrics, (labels_len + value_len) as u64);
        for (n, v) in labels() {
            key(metrics, 1, LEN);
            varint(metrics, label_pair_len(n, v) as u64);
            string_field(metrics, 1, n);
            string_field(metrics, 2, v);
        }
        match sample.value {
            ValueRef::Gauge(v) => {
                key(metrics, 2, LEN);
                varint(metrics, DOUBLE_FIELD as u64);
                double_field(metrics, 1, v);
            }
            ValueRef::Counter { total, created } => {
                key(metrics, 3, LEN);
                varint(metrics, counter_len(created) as u64);
                double_field(metrics, 1, total);
                if let Some(created) = created {
                    let at = timestamp(created);
                    key(metrics, 3, LEN);
                    varint(metrics, timestamp_len(&at) as u64);
                    timestamp_fields(metrics, &at);
                }
            }
            ValueRef::Histogram {
                buckets,
                sum,
                count,
            } => {
                key(metrics, 7, LEN);
                varint(metrics, histogram_len(buckets, count) as u64);
                key(metrics, 1, VARINT);
                varint(metrics, count);
                double_field(metrics, 2, sum);
                let mut cumulative = 0;
                for (upper, n) in buckets {
                    cumulative += n;
                    key(metrics, 3, LEN);
                    varint(metrics, bucket_len(cumulative) as u64);
                    key(metrics, 1, VARINT);
                    varint(metrics, cumulative);
                    double_field(metrics, 2, *upper);
                }
            }
        }
    }
    let name = family.sample_name();
    let header_len = delimited_len(name.len()) + delimited_len(family.help.len()) + 2;
    varint(out, (header_len + metrics.len()) as u64);
    string_field(out, 1, &name);
    string_field(out, 2, &family.help);
    key(out, 3, VARINT);
    varint(out, kind as u64);
    out.extend_from_slice(metrics);
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
/// A double field: one key byte and eight bytes.
const DOUBLE_FIELD: usize = 9;

/// A field key; every field number used here is below 16, so one byte.
fn key(out: &mut Vec<u8>, field: u8, wire_type: u8) {
    out.push(field << 3 | wire_type);
}

fn varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

/// Length of a length-delimited field (key, length, payload) with a payload of `len` bytes.
fn delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn string_field(out: &mut Vec<u8>, field: u8, s: &str) {
    key(out, field, LEN);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn double_field(out: &mut Vec<u8>, field: u8, v: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn label_pair_len(name: &str, value: &str) -> usize {
    delimited_len(name.len()) + delimited_len(value.len())
}

/// Length of a Timestamp message (proto3: zero fields are left out); nanos are never negative.
fn timestamp_len(at: &Timestamp) -> usize {
    let seconds = if at.seconds != 0 {
        1 + varint_len(at.seconds as u64)
    } else {
        0
    };
    let nanos = if at.nanos != 0 {
        1 + varint_len(at.nanos as u64)
    } else {
        0
    };
    seconds + nanos
}

fn timestamp_fields(out: &mut Vec<u8>, at: &Timestamp) {
    if at.seconds != 0 {
        key(out, 1, VARINT);
        // int64: negative values as their two's complement, ten bytes.
        varint(out, at.seconds as u64);
    }
    if at.nanos != 0 {
        key(out, 2, VARINT);
        varint(out, at.nanos as u64);
    }
}

fn counter_len(created: Option<f64>) -> usize {
    DOUBLE_FIELD + created.map_or(0, |c| delimited_len(timestamp_len(&timestamp(c))))
}

fn bucket_len(cumulative: u64) -> usize {
    1 + varint_len(cumulative) + DOUBLE_FIELD
}

fn histogram_len(buckets: &[(f64, u64)], count: u64) -> usize {
    let mut cumulative = 0;
    let buckets: usize = buckets
        .iter()
        .map(|(_, n)| {
            cumulative += n;
            delimited_len(bucket_len(cumulative))
        })
        .sum();
    1 + varint_len(count) + DOUBLE_FIELD + buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expose::encode::merge;
    use crate::snapshot::{Family, Frozen, Labels, Snapshot};
    use prost::Message;
    use std::sync::Arc;

    /// The MetricFamily message of one merged group, built with prost's structs: the reference
    /// the hand-written wire encoder is compared with.
    fn family_message(group: &[Part]) -> MetricFamily {
        let family = group[0].family();
        let kind = match family.kind {
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Histogram => MetricType::Histogram,
        };
        let metric = samples_in_order(group)
            .map(|(target, sample)| {
                let label = target
                    .map(|t| ("target", t))
                    .into_iter()
                    .chain(sample.labels.iter())
                    .map(|(n, v)| LabelPair {
                        name: Some(n.to_string()),
                        value: Some(v.to_string()),
                    })
                    .collect();
                let mut m = Metric {
                    label,
                    ..Metric::default()
                };
                match sample.value {
                    ValueRef::Gauge(v) => m.gauge = Some(Gauge { value: Some(v) }),
                    ValueRef::Counter { total, created } => {
                        m.counter = Some(Counter {
                            value: Some(total),
                            created_timestamp: created.map(timestamp),
                        })
                    }
                    ValueRef::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        let mut cumulative = 0;
                        m.histogram = Some(Histogram {
                            sample_count: Some(count),
                            sample_sum: Some(sum),
                            bucket: buckets
                                .iter()
                                .map(|(upper, n)| {
                                    cumulative += n;
                                    Bucket {
                                        cumulative_count: Some(cumulative),
                                        upper_bound: Some(*upper),
                                    }
                                })
                                .collect(),
                            created_timestamp: None,
                        })
                    }
                }
                m
            })
            .collect();
        MetricFamily {
            name: Some(family.sample_name()),
            help: Some(family.help.to_string()),
            r#type: Some(kind as i32),
            metric,
        }
    }

    #[test]
    fn wire_bytes_equal_prosts_encoding_of_the_same_messages() {
        let mut c = Family::counter("a_total", "Counts \"x\".");
        c.push_counter(Labels::new().with("vh", "a"), 5.0, Some(1_700_000_000.25));
        c.push_counter(Labels::new().with("vh", "b"), 0.0, None);
        c.push_counter(Labels::new().with("vh", "c"), 1e300, Some(-86_400.5));
        c.push_counter(Labels::new().with("vh", "d"), 2.0, Some(0.0));
        let mut g = Family::gauge("b_bytes", "");
        g.push_gauge(Labels::new(), f64::NAN);
        g.push_gauge(Labels::new().with("k", "long ".repeat(40)), -1.5);
        let mut h = Family::histogram("c_seconds", "H.");
        h.push_histogram(
            Labels::new().with("le_not", "x"),
            vec![(0.1, 300), (1.0, 0), (f64::INFINITY, 2)],
            12.5,
        );
        let snapshot = Arc::new(Frozen::new(&Snapshot::from_families(vec![c, g, h])));
        let groups = merge([
            (Some(Arc::from("t1")), snapshot.clone()),
            (Some(Arc::from("t2")), snapshot),
        ]);
        let mut ours = Vec::new();
        encode_groups(&mut ours, &groups);
        let mut reference = Vec::new();
        for group in &groups {
            family_message(group)
                .encode_length_delimited(&mut reference)
                .unwrap();
        }
        assert_eq!(ours, reference);
    }

    #[test]
    fn counters_carry_created_timestamps_and_field_numbers_match_metrics_proto() {
        let mut c = Family::counter("x_requests_total", "Requests.");
        c.push_counter(Labels::new().with("vh", "a"), 5.0, Some(1_700_000_000.25));
        let groups = merge([(
            Some(Arc::from("t")),
            Arc::new(Frozen::new(&Snapshot::from_families(vec![c]))),
        )]);
        let mut out = Vec::new();
        encode_groups(&mut out, &groups);
        let mut buf = &out[..];
        let family = MetricFamily::decode_length_delimited(&mut buf).unwrap();
        assert!(buf.is_empty());
        assert_eq!(family.name.as_deref(), Some("x_requests_total"));
        assert_eq!(family.r#type, Some(MetricType::Counter as i32));
        let counter = family.metric[0].counter.clone().unwrap();
        assert_eq!(counter.value, Some(5.0));
        assert_eq!(
            counter.created_timestamp,
            Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 250_000_000
            })
        );
        // Hand-checked wire bytes of the first fields: length prefix, then field 1 (name,
        // wire type 2) = 0x0a, field 2 (help) = 0x12, field 3 (type, varint) = 0x18 0x00.
        assert_eq!(out[1], 0x0a);
        assert_eq!(out[2] as usize, "x_requests_total".len());
        let help_at = 3 + "x_requests_total".len();
        assert_eq!(out[help_at], 0x12);
        let type_at = help_at + 2 + "Requests.".len();
        assert_eq!(&out[type_at..type_at + 2], &[0x18, 0x00]);
    }
}
