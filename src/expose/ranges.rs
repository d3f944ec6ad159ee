//! Encoding the merged families in ranges, and reusing the ranges whose data did not change.
//!
//! A poll replaces one endpoint's snapshot; every family the other snapshots contribute still
//! encodes to the same bytes. So the merged families are cut into ranges of about
//! [`RANGE_SERIES`] series, each encoded (and compressed as a gzip segment of its own) apart,
//! and a range is encoded again only when one of its parts is not the (snapshot, family) its
//! cached bytes were made from. The cuts fall where the series counts put them, which a change
//! of values alone never moves. At a million series a poll then costs the encode of the ranges
//! it touched, not of the whole body.

use super::encode::Part;
use super::gzip::{GzipPrefix, GzipPrefixWriter};
use super::negotiate::Encoding;
use super::{proto, text, Variants};
use crate::snapshot::Frozen;
use bytes::Bytes;
use flate2::Compression;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A range closes after the family that brings it to this many series. Large enough that a
/// range's own deflate window costs nothing measurable, small enough that one endpoint's
/// change leaves most of a large body's ranges alone.
pub(super) const RANGE_SERIES: usize = 25_000;

/// Below this many series to encode one thread encodes (a split gains nothing).
pub(super) const SPLIT_ABOVE: usize = 50_000;

/// Which contribution a range encoded: the snapshot (held weakly, so its address cannot be
/// reused while the cache remembers it), the family's index in it and the target label.
#[derive(Debug, Clone)]
struct PartId {
    snapshot: Weak<Frozen>,
    family: usize,
    target: Option<Arc<str>>,
}

impl PartId {
    fn of(part: &Part) -> PartId {
        PartId {
            snapshot: Arc::downgrade(&part.snapshot),
            family: part.family,
            target: part.target.clone(),
        }
    }
}

impl PartialEq for PartId {
    fn eq(&self, other: &Self) -> bool {
        Weak::ptr_eq(&self.snapshot, &other.snapshot)
            && self.family == other.family
            && self.target == other.target
    }
}

impl Eq for PartId {}

impl Hash for PartId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.snapshot.as_ptr() as *const () as usize).hash(state);
        self.family.hash(state);
        self.target.hash(state);
    }
}

/// The encoded bytes of one range.
#[derive(Debug, Clone)]
struct EncodedRange {
    plain: Option<Bytes>,
    gzip: Option<GzipPrefix>,
    len: usize,
}

/// The ranges of the last encode of one format, by the parts they were made from.
#[derive(Debug, Default)]
pub struct RangeCache {
    ranges: Mutex<HashMap<Vec<PartId>, EncodedRange>>,
}

/// A whole body encoded from ranges.
pub(super) struct EncodedRanges {
    /// Plain pieces in order, when plain was asked for.
    pub plain: Option<Vec<Bytes>>,
    /// The gzip prefix, when gzip was asked for.
    pub gzip: Option<GzipPrefix>,
    /// Plain length in bytes.
    pub len: usize,
    /// Ranges encoded this time, and in all.
    pub encoded: (usize, usize),
}

/// Encodes `groups` into `variants`, reusing from `cache` every range whose parts are
/// unchanged, and leaves this encode's ranges in `cache` for the next.
pub(super) fn encode(
    groups: &[Vec<Part>],
    encoding: Encoding,
    variants: Variants,
    openmetrics_created: bool,
    cache: &RangeCache,
) -> EncodedRanges {
    let ranges = cut(groups, RANGE_SERIES);
    let ids: Vec<Vec<PartId>> = ranges
        .iter()
        .map(|range| range.iter().flatten().map(PartId::of).collect())
        .collect();
    let mut previous = std::mem::take(&mut *cache.ranges.lock().expect("range cache"));
    let mut done: Vec<Option<EncodedRange>> = Vec::with_capacity(ranges.len());
    // Ranges to build, with the cached plain text when compressing it is all that is missing.
    let mut todo: Vec<(usize, Option<Bytes>)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match previous
            .remove(id)
            .map_or(Reuse::No, |r| reuse(r, variants))
        {
            Reuse::AsItIs(range) => {
                done.push(Some(range));
                continue;
            }
            Reuse::Compress(plain) => todo.push((i, Some(plain))),
            Reuse::No => todo.push((i, None)),
        }
        done.push(None);
    }
    drop(previous);
    let series_todo: usize = todo.iter().map(|(i, _)| series(ranges[*i])).sum();
    let threads = encode_threads(series_todo).min(todo.len()).max(1);
    let alone = todo.len() == 1;
    let next = AtomicUsize::new(0);
    let fresh: Vec<(usize, EncodedRange)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let Some((i, plain)) = todo.get(next.fetch_add(1, Ordering::Relaxed))
                        else {
                            return out;
                        };
                        let range = match plain {
                            Some(plain) => compress(plain, variants, alone),
                            None => encode_range(
                                ranges[*i],
                                encoding,
                                variants,
                                openmetrics_created,
                                alone,
                            ),
                        };
                        out.push((*i, range));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (i, range) in fresh {
        done[i] = Some(range);
    }
    let done: Vec<EncodedRange> = done
        .into_iter()
        .map(|r| r.expect("every range is reused or encoded"))
        .collect();
    let body = EncodedRanges {
        plain: variants
            .plain
            .then(|| done.iter().filter_map(|r| r.plain.clone()).collect()),
        gzip: variants
            .gzip
            .then(|| GzipPrefix::concat(done.iter().filter_map(|r| r.gzip.clone()))),
        len: done.iter().map(|r| r.len).sum(),
        encoded: (todo.len(), done.len()),
    };
    *cache.ranges.lock().expect("range cache") = ids.into_iter().zip(done).collect();
    body
}

/// What a cached range is worth to an encode asking for `variants`.
enum Reuse {
    /// Everything asked for, trimmed to it (so an idle variant is let go).
    AsItIs(EncodedRange),
    /// Only gzip is missing: compressing this plain text is enough.
    Compress(Bytes),
    /// Nothing cached, or the plain text is asked for and was not kept: encode again.
    No,
}

fn reuse(range: EncodedRange, variants: Variants) -> Reuse {
    match (&range.plain, &range.gzip) {
        (None, _) if variants.plain => Reuse::No,
        (Some(plain), None) if variants.gzip => Reuse::Compress(plain.clone()),
        (None, None) if variants.gzip => Reuse::No,
        _ => Reuse::AsItIs(EncodedRange {
            plain: range.plain.filter(|_| variants.plain),
            gzip: range.gzip.filter(|_| variants.gzip),
            len: range.len,
        }),
    }
}

/// A range whose plain text is current, compressed (gzip was asked for it the first time).
fn compress(plain: &Bytes, variants: Variants, alone: bool) -> EncodedRange {
    let mut gzip = gzip_writer(alone);
    gzip.write(plain);
    EncodedRange {
        plain: variants.plain.then(|| plain.clone()),
        gzip: Some(gzip.finish()),
        len: plain.len(),
    }
}

/// A gzip writer for one range: all the workers for a lone range, one when several encode.
fn gzip_writer(alone: bool) -> GzipPrefixWriter {
    if alone {
        GzipPrefixWriter::new(Compression::fast())
    } else {
        GzipPrefixWriter::with_workers(Compression::fast(), 1)
    }
}

fn series(groups: &[Vec<Part>]) -> usize {
    groups
        .iter()
        .flat_map(|g| g.iter().map(|p| p.family().len()))
        .sum()
}

/// Threads to encode `series` series on: one per core (at most 4) for large bodies.
fn encode_threads(series: usize) -> usize {
    if series < SPLIT_ABOVE {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Cuts the merged families into contiguous ranges, each closing after the family that brings
/// it to `size` series (the last may be smaller). A family is never split.
pub(super) fn cut(groups: &[Vec<Part>], size: usize) -> Vec<&[Vec<Part>]> {
    let mut ranges = Vec::new();
    let (mut start, mut in_range) = (0, 0);
    for (i, group) in groups.iter().enumerate() {
        in_range += group.iter().map(|p| p.family().len()).sum::<usize>();
        if in_range >= size {
            ranges.push(&groups[start..=i]);
            (start, in_range) = (i + 1, 0);
        }
    }
    if start < groups.len() || ranges.is_empty() {
        ranges.push(&groups[start..]);
    }
    ranges
}

/// Where a range's encode writes: pieces go to the plain body and/or the gzip writer.
struct Sink {
    plain: Option<Vec<u8>>,
    gzip: Option<GzipPrefixWriter>,
    len: usize,
}

impl Sink {
    /// Pieces are handed on at about this size, so neither side sees a whole range at once.
    const PIECE: usize = 256 * 1024;

    fn write(&mut self, piece: &[u8]) {
        self.len += piece.len();
        if let Some(plain) = &mut self.plain {
            plain.extend_from_slice(piece);
        }
        if let Some(gzip) = &mut self.gzip {
            gzip.write(piece);
        }
    }
}

/// Encodes a contiguous range of merged families into the asked variants. With several ranges
/// encoding at once each compresses on one worker of its own; a lone range uses them all.
fn encode_range(
    groups: &[Vec<Part>],
    encoding: Encoding,
    variants: Variants,
    openmetrics_created: bool,
    alone: bool,
) -> EncodedRange {
    let mut sink = Sink {
        // Series with long label sets take ~250 bytes; spare capacity is trimmed at the end.
        plain: variants
            .plain
            .then(|| Vec::with_capacity(series(groups) * 250 + 4096)),
        gzip: variants.gzip.then(|| gzip_writer(alone)),
        len: 0,
    };
    let mut text = String::with_capacity(Sink::PIECE * 2);
    let mut bytes = Vec::with_capacity(Sink::PIECE * 2);
    let mut scratch = Vec::new();
    for group in groups {
        match encoding {
            Encoding::OpenMetrics => text::encode_group(
                &mut text,
                group,
                text::Dialect::OpenMetrics {
                    created: openmetrics_created,
                },
            ),
            Encoding::Text => text::encode_group(&mut text, group, text::Dialect::Text),
            Encoding::Protobuf => proto::encode_group(&mut bytes, group, &mut scratch),
        }
        // The piece buffers are reused: a fresh allocation per piece cost a page fault per 4 KiB.
        if text.len() >= Sink::PIECE {
            sink.write(text.as_bytes());
            text.clear();
        }
        if bytes.len() >= Sink::PIECE {
            sink.write(&bytes);
            bytes.clear();
        }
    }
    sink.write(text.as_bytes());
    sink.write(&bytes);
    EncodedRange {
        plain: sink.plain.map(|mut plain| {
            plain.shrink_to_fit();
            Bytes::from(plain)
        }),
        gzip: sink.gzip.map(GzipPrefixWriter::finish),
        len: sink.len,
    }
}
