//! The Prometheus protobuf exposition: length-delimited `io.prometheus.client.MetricFamily`
//! messages (prometheus/client_model `io/prometheus/client/metrics.proto`, proto2), the format
//! client_golang writes for `encoding=delimited`. Counters carry their start time in
//! `Counter.created_timestamp`, which costs no series (unlike OpenMetrics `_created` lines).
//!
//! The messages are written by hand with `prost` derives (no protoc at build time); only the
//! fields this exporter fills are declared, with metrics.proto's field numbers and types.

use super::encode::{samples_in_order, Part};
use crate::snapshot::{MetricKind, ValueRef};
use prost::Message;

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

/// The MetricFamily message of one merged group.
pub fn family_message(group: &[Part]) -> Option<MetricFamily> {
    let family = group.first()?.family();
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
    Some(MetricFamily {
        name: Some(family.sample_name()),
        help: Some(family.help.to_string()),
        r#type: Some(kind as i32),
        metric,
    })
}

/// Encodes merged families as length-delimited MetricFamily messages into `out`.
pub fn encode_groups(out: &mut Vec<u8>, groups: &[Vec<Part>]) {
    for group in groups {
        encode_group(out, group);
    }
}

/// Encodes one merged family as a length-delimited MetricFamily message into `out`.
pub(super) fn encode_group(out: &mut Vec<u8>, group: &[Part]) {
    if let Some(message) = family_message(group) {
        message
            .encode_length_delimited(out)
            .expect("encoding into a Vec cannot run out of room");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expose::encode::merge;
    use crate::snapshot::{Family, Frozen, Labels, Snapshot};
    use std::sync::Arc;

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
