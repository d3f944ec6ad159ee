//! A gzip stream whose large, rarely changing prefix is compressed once.
//!
//! The cached body ends with a deflate *sync flush* (byte-aligned, no final block), so a
//! per-scrape tail can be compressed by a fresh deflater and appended; CRC and length are
//! carried over. The result is one ordinary gzip member, which every client decodes (unlike
//! concatenated members, which some clients stop reading after the first).
//!
//! The prefix is compressed in chunks on worker threads, as pigz does: each chunk is a raw
//! deflate segment of its own ending in a sync flush, so the segments concatenated in order
//! are one valid deflate stream. A chunk starts without the previous one's window, which costs
//! well under 1% of the compressed size at [`CHUNK`]; in exchange compressing a million-series
//! body no longer waits on a single core.

use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, FlushCompress};
use std::io::Write;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Size of the chunks compressed independently.
pub const CHUNK: usize = 4 * 1024 * 1024;

/// Builds a [`GzipPrefix`] from data written in pieces, so the plain text never has to exist
/// whole (at a million series it is ~300 MB). Writing copies into the current chunk and hands
/// full chunks to the workers; it blocks only while every worker is busy and one chunk waits.
pub struct GzipPrefixWriter {
    chunk: Vec<u8>,
    chunks_sent: usize,
    to_workers: Option<SyncSender<(usize, Vec<u8>)>>,
    segments: Receiver<(usize, Vec<u8>)>,
    /// Chunk buffers the workers are done with, to fill again (fresh 4 MiB buffers would cost
    /// a page fault per 4 KiB each time).
    spent: Receiver<Vec<u8>>,
    workers: Vec<JoinHandle<()>>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl GzipPrefixWriter {
    /// A writer compressing at `level` on as many workers as there are cores (at most 4).
    pub fn new(level: Compression) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_workers(level, cores.min(4))
    }

    /// A writer compressing at `level` on `workers` threads (at least one).
    pub fn with_workers(level: Compression, workers: usize) -> Self {
        let (to_workers, chunks) = sync_channel::<(usize, Vec<u8>)>(1);
        let chunks = Arc::new(Mutex::new(chunks));
        let (segment_tx, segments) = channel();
        let (spent_tx, spent) = channel();
        let workers = (0..workers.max(1))
            .map(|_| {
                let chunks = chunks.clone();
                let segment_tx: Sender<(usize, Vec<u8>)> = segment_tx.clone();
                let spent_tx: Sender<Vec<u8>> = spent_tx.clone();
                std::thread::Builder::new()
                    .name("gzip".into())
                    .spawn(move || compress_chunks(level, &chunks, &segment_tx, &spent_tx))
                    .expect("cannot start a gzip worker thread")
            })
            .collect();
        GzipPrefixWriter {
            chunk: Vec::with_capacity(CHUNK),
            chunks_sent: 0,
            to_workers: Some(to_workers),
            segments,
            spent,
            workers,
            crc: crc32fast::Hasher::new(),
            len: 0,
        }
    }

    /// Compresses the next piece.
    pub fn write(&mut self, mut data: &[u8]) {
        self.crc.update(data);
        self.len += data.len() as u64;
        while !data.is_empty() {
            let room = CHUNK - self.chunk.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.chunk.extend_from_slice(now);
            data = later;
            if self.chunk.len() == CHUNK {
                self.send_chunk();
            }
        }
    }

    fn send_chunk(&mut self) {
        let next = match self.spent.try_recv() {
            Ok(mut spent) => {
                spent.clear();
                spent
            }
            Err(_) => Vec::with_capacity(CHUNK),
        };
        let chunk = std::mem::replace(&mut self.chunk, next);
        if let Some(to_workers) = &self.to_workers {
            // Workers only stop early if one panicked, which `finish` reports.
            let _ = to_workers.send((self.chunks_sent, chunk));
        }
        self.chunks_sent += 1;
    }

    /// Compresses what is left and joins the segments behind the gzip header: a stream ending
    /// in a complete sync flush (byte-aligned, no final block).
    pub fn finish(mut self) -> GzipPrefix {
        if !self.chunk.is_empty() {
            self.send_chunk();
        }
        drop(self.to_workers.take());
        let mut segments: Vec<(usize, Vec<u8>)> = self.segments.iter().collect();
        for worker in self.workers.drain(..) {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        assert_eq!(
            segments.len(),
            self.chunks_sent,
            "a gzip segment went missing"
        );
        segments.sort_unstable_by_key(|(index, _)| *index);
        let mut out =
            Vec::with_capacity(HEADER.len() + segments.iter().map(|(_, s)| s.len()).sum::<usize>());
        out.extend_from_slice(&HEADER);
        for (_, segment) in &segments {
            out.extend_from_slice(segment);
        }
        GzipPrefix {
            segments: vec![Bytes::from(out)],
            crc: self.crc,
            len: self.len,
        }
    }
}

/// A worker: compresses chunks until the writer stops sending them.
fn compress_chunks(
    level: Compression,
    chunks: &Mutex<Receiver<(usize, Vec<u8>)>>,
    segments: &Sender<(usize, Vec<u8>)>,
    spent: &Sender<Vec<u8>>,
) {
    let mut compress = Compress::new(level, false);
    loop {
        // The lock is held only while waiting for the next chunk, not while compressing.
        let next = chunks.lock().map(|chunks| chunks.recv());
        let Ok(Ok((index, chunk))) = next else { return };
        compress.reset();
        let segment = deflate_segment(&mut compress, &chunk);
        if segments.send((index, segment)).is_err() {
            return;
        }
        // The writer may have finished already; then the buffer is simply freed.
        let _ = spent.send(chunk);
    }
}

/// `data` as a raw deflate segment ending in a complete sync flush.
/// `write::DeflateEncoder::flush` is not used: when its 32 KiB buffer happens to be full it
/// asks for the sync flush only once and continues without it, which can leave the stream
/// mid-block (seen as "incomplete deflate stream" under load). zlib's contract is to repeat
/// the same flush until it ends with output space to spare, which is what this does.
fn deflate_segment(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    const ROOM: usize = 64 * 1024;
    let mut out = Vec::with_capacity(data.len() / 8 + ROOM);
    let start = compress.total_in();
    while ((compress.total_in() - start) as usize) < data.len() {
        out.reserve(ROOM);
        let consumed = (compress.total_in() - start) as usize;
        compress
            .compress_vec(&data[consumed..], &mut out, FlushCompress::None)
            .expect("deflate into a Vec cannot fail");
    }
    loop {
        out.reserve(ROOM);
        let spare = out.capacity() - out.len();
        let before = out.len();
        compress
            .compress_vec(&[], &mut out, FlushCompress::Sync)
            .expect("deflate into a Vec cannot fail");
        if out.len() - before < spare {
            break;
        }
    }
    out
}

/// The compressed prefix of a gzip stream, ready to be finished with any tail.
#[derive(Debug, Clone)]
pub struct GzipPrefix {
    /// The compressed bytes in order, the gzip header at the start of the first: concatenated
    /// prefixes share their parts' buffers instead of copying them.
    segments: Vec<Bytes>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl GzipPrefix {
    /// Compresses `data` as the start of a gzip stream.
    pub fn new(data: &[u8], level: Compression) -> GzipPrefix {
        let mut writer = GzipPrefixWriter::new(level);
        writer.write(data);
        writer.finish()
    }

    /// The prefixes one after another, as one prefix: each ends in a sync flush without a
    /// final block, so their deflate data concatenated (headers but the first dropped) is one
    /// stream; CRCs and lengths combine. No compressed byte is copied.
    pub fn concat(parts: impl IntoIterator<Item = GzipPrefix>) -> GzipPrefix {
        let mut segments = vec![Bytes::from_static(&HEADER)];
        let mut crc = crc32fast::Hasher::new();
        let mut len = 0;
        for part in parts {
            let mut header = HEADER.len();
            for segment in part.segments {
                segments.push(segment.slice(header..));
                header = 0;
            }
            crc.combine(&part.crc);
            len += part.len;
        }
        segments.retain(|s| !s.is_empty());
        GzipPrefix { segments, crc, len }
    }

    /// Size of the compressed prefix.
    pub fn len(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum()
    }

    /// True when nothing was compressed yet (never: the header is there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached compressed bytes, to send first and in order.
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.segments.iter().cloned()
    }

    /// The cached compressed bytes as one buffer (a copy when the prefix was concatenated;
    /// scrapes send [`GzipPrefix::chunks`]).
    #[cfg(test)]
    pub fn bytes(&self) -> Bytes {
        match self.segments.as_slice() {
            [one] => one.clone(),
            many => Bytes::from(many.concat()),
        }
    }

    /// The bytes that complete the stream after [`GzipPrefix::chunks`] with `tail` appended.
    pub fn finish(&self, tail: &[u8]) -> Bytes {
        let mut deflater =
            DeflateEncoder::new(Vec::with_capacity(tail.len() / 3 + 32), Compression::fast());
        deflater
            .write_all(tail)
            .expect("writing to a Vec cannot fail");
        let mut out = deflater.finish().expect("writing to a Vec cannot fail");
        let mut crc = self.crc.clone();
        crc.update(tail);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(&((self.len + tail.len() as u64) as u32).to_le_bytes());
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn prefix_plus_tail_is_one_valid_gzip_member() {
        let prefix_text: String = (0..5000)
            .map(|i| format!("metric{{i=\"{i}\"}} {i}\n"))
            .collect();
        let prefix = GzipPrefix::new(prefix_text.as_bytes(), Compression::fast());
        for tail in ["self 1\n# EOF\n", "", "other tail\n"] {
            let mut stream = prefix.bytes().to_vec();
            stream.extend_from_slice(&prefix.finish(tail.as_bytes()));
            assert_eq!(gunzip(&stream), format!("{prefix_text}{tail}").into_bytes());
            // A decoder that reads exactly one member also sees everything.
            let mut single = flate2::read::GzDecoder::new(&stream[..]);
            let mut out = String::new();
            single.read_to_string(&mut out).unwrap();
            assert!(out.ends_with(tail));
        }
    }

    #[test]
    fn large_varied_prefix_is_fully_flushed() {
        // Exposition-like text with little repetition: the compressor holds a lot of pending
        // output when the prefix is flushed, which must all be written before the tail.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut text = String::new();
        while text.len() < 8_000_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!(
                "scc_backend_requests_total{{target=\"t{}\",virtual_host=\"h{:x}.example\"}} {}\n",
                state % 97,
                state,
                state % 100_003
            ));
        }
        for level in [Compression::fast(), Compression::default()] {
            let prefix = GzipPrefix::new(text.as_bytes(), level);
            let mut stream = prefix.bytes().to_vec();
            stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
            let out = gunzip(&stream);
            assert_eq!(out.len(), text.len() + 6);
            assert!(out.ends_with(b"# EOF\n"));
        }
    }

    #[test]
    fn many_sizes_of_varied_text_flush_completely() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut text = String::new();
        while text.len() < 3_000_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!(
                "load_gauge{{target=\"t{}\",i=\"{}\"}} {}\n",
                state % 6,
                state % 2000,
                state % 977
            ));
        }
        let mut len = 1000usize;
        while len < text.len() {
            let data = &text.as_bytes()[..len];
            let prefix = GzipPrefix::new(data, Compression::fast());
            let mut stream = prefix.bytes().to_vec();
            stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
            let mut out = Vec::new();
            let result = flate2::read::GzDecoder::new(&stream[..]).read_to_end(&mut out);
            assert!(
                result.is_ok() && out.len() == len + 6,
                "length {len}: {result:?}"
            );
            len = len * 21 / 20 + 777;
        }
    }

    #[test]
    fn repetitive_exposition_text_flushes_completely() {
        for round in 0..40u32 {
            let mut text = String::new();
            for t in 0..6 {
                for i in 0..(2000 - round as usize * 37) {
                    text.push_str(&format!(
                        "load_gauge{{target=\"t{t}\",i=\"{i}\"}} {round}.0\n"
                    ));
                }
                for i in 0..(2000 - round as usize * 37) {
                    text.push_str(&format!("load_requests_total{{target=\"t{t}\",i=\"{i}\"}} {round}.0\nload_requests_created{{target=\"t{t}\",i=\"{i}\"}} 1700000000.0\n"));
                }
            }
            let prefix = GzipPrefix::new(text.as_bytes(), Compression::fast());
            let mut stream = prefix.bytes().to_vec();
            stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
            let mut out = Vec::new();
            let result = flate2::read::GzDecoder::new(&stream[..]).read_to_end(&mut out);
            assert!(
                result.is_ok() && out.len() == text.len() + 6,
                "round {round}, {} bytes: {result:?}",
                text.len()
            );
        }
    }

    #[test]
    fn written_in_pieces_equals_written_at_once() {
        let text: String = (0..20000)
            .map(|i| format!("m{{i=\"{i}\"}} {}\n", i * 7))
            .collect();
        let whole = GzipPrefix::new(text.as_bytes(), Compression::fast());
        let mut writer = GzipPrefixWriter::new(Compression::fast());
        for piece in text.as_bytes().chunks(4093) {
            writer.write(piece);
        }
        let pieces = writer.finish();
        for prefix in [whole, pieces] {
            let mut stream = prefix.bytes().to_vec();
            stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
            assert_eq!(gunzip(&stream), format!("{text}# EOF\n").into_bytes());
        }
    }

    #[test]
    fn chunks_compressed_on_several_workers_join_into_one_stream() {
        let mut state = 0x51_7cc1_b727_220au64;
        let mut text = String::new();
        while text.len() < 3 * CHUNK + 12_345 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!(
                "g{{t=\"{}\",h=\"{state:x}\"}} {}\n",
                state % 31,
                state % 999
            ));
        }
        for workers in [1, 2, 3] {
            let mut writer = GzipPrefixWriter::with_workers(Compression::fast(), workers);
            for piece in text.as_bytes().chunks(256 * 1024 + 17) {
                writer.write(piece);
            }
            let prefix = writer.finish();
            let mut stream = prefix.bytes().to_vec();
            stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
            assert_eq!(gunzip(&stream), format!("{text}# EOF\n").into_bytes());
        }
        // Independent chunks cost little: within 1% of one stream over the same text.
        let one = GzipPrefix::new(text.as_bytes(), Compression::fast()).len();
        let mut single = GzipPrefixWriter::with_workers(Compression::fast(), 1);
        single.write(text.as_bytes());
        assert_eq!(
            single.finish().len(),
            one,
            "the worker count does not change the bytes"
        );
        let mut compress = Compress::new(Compression::fast(), false);
        let whole = deflate_segment(&mut compress, text.as_bytes()).len() + HEADER.len();
        assert!((one as f64) < whole as f64 * 1.01, "{one} vs {whole}");
    }

    #[test]
    fn prefixes_concatenate_into_one_stream() {
        let parts = [
            "first part\n".repeat(3000),
            String::new(),
            "b{x=\"1\"} 2\n".repeat(900),
        ];
        let prefix = GzipPrefix::concat(
            parts
                .iter()
                .map(|p| GzipPrefix::new(p.as_bytes(), Compression::fast())),
        );
        let mut stream = prefix.bytes().to_vec();
        stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
        assert_eq!(
            gunzip(&stream),
            format!("{}# EOF\n", parts.concat()).into_bytes()
        );
    }

    #[test]
    fn empty_prefix_works() {
        let prefix = GzipPrefix::new(b"", Compression::fast());
        let mut stream = prefix.bytes().to_vec();
        stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
        assert_eq!(gunzip(&stream), b"# EOF\n");
    }
}
