//! A gzip stream whose large, rarely changing prefix is compressed once.
//!
//! The cached body ends with a deflate *sync flush* (byte-aligned, no final block), so a
//! per-scrape tail can be compressed by a fresh deflater and appended; CRC and length are
//! carried over. The result is one ordinary gzip member, which every client decodes (unlike
//! concatenated members, which some clients stop reading after the first).

use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, FlushCompress};
use std::io::Write;

const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Builds a [`GzipPrefix`] from data written in pieces, so the plain text never has to exist
/// whole (at a million series it is ~250 MB).
pub struct GzipPrefixWriter {
    compress: Compress,
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl GzipPrefixWriter {
    const ROOM: usize = 64 * 1024;

    /// A writer compressing at `level`.
    pub fn new(level: Compression) -> Self {
        let mut out = Vec::with_capacity(Self::ROOM);
        out.extend_from_slice(&HEADER);
        GzipPrefixWriter {
            compress: Compress::new(level, false),
            out,
            crc: crc32fast::Hasher::new(),
            len: 0,
        }
    }

    /// Compresses the next piece.
    pub fn write(&mut self, data: &[u8]) {
        self.crc.update(data);
        self.len += data.len() as u64;
        let start = self.compress.total_in();
        while ((self.compress.total_in() - start) as usize) < data.len() {
            self.out.reserve(Self::ROOM);
            let consumed = (self.compress.total_in() - start) as usize;
            self.compress
                .compress_vec(&data[consumed..], &mut self.out, FlushCompress::None)
                .expect("deflate into a Vec cannot fail");
        }
    }

    /// Ends the prefix with a complete sync flush (byte-aligned, no final block).
    /// `write::DeflateEncoder::flush` is not used: when its 32 KiB buffer happens to be full it
    /// asks for the sync flush only once and continues without it, which can leave the stream
    /// mid-block (seen as "incomplete deflate stream" under load). zlib's contract is to repeat
    /// the same flush until it ends with output space to spare, which is what this does.
    pub fn finish(mut self) -> GzipPrefix {
        loop {
            self.out.reserve(Self::ROOM);
            let spare = self.out.capacity() - self.out.len();
            let before = self.out.len();
            self.compress
                .compress_vec(&[], &mut self.out, FlushCompress::Sync)
                .expect("deflate into a Vec cannot fail");
            if self.out.len() - before < spare {
                break;
            }
        }
        self.out.shrink_to_fit();
        GzipPrefix {
            bytes: Bytes::from(self.out),
            crc: self.crc,
            len: self.len,
        }
    }
}

/// The compressed prefix of a gzip stream, ready to be finished with any tail.
#[derive(Debug, Clone)]
pub struct GzipPrefix {
    bytes: Bytes,
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

    /// Size of the compressed prefix.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when nothing was compressed yet (never: the header is there).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The cached compressed bytes (send these first).
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The bytes that complete the stream after [`GzipPrefix::bytes`] with `tail` appended.
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
    fn empty_prefix_works() {
        let prefix = GzipPrefix::new(b"", Compression::fast());
        let mut stream = prefix.bytes().to_vec();
        stream.extend_from_slice(&prefix.finish(b"# EOF\n"));
        assert_eq!(gunzip(&stream), b"# EOF\n");
    }
}
