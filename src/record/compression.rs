//! Compression codecs of record batches: gzip, snappy (xerial framing as
//! Kafka's Java client writes it, raw accepted too), lz4 (frame format) and zstd.
//!
//! Decompression is bounded by [`MAX_DECOMPRESSED_SIZE`] so a small hostile
//! batch (a "zip bomb") cannot make the broker allocate without limit.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use super::BatchError;

/// Largest decompressed size accepted for one batch (1 GiB).
pub const MAX_DECOMPRESSED_SIZE: usize = 1 << 30;

/// Magic header of snappy-java's framing (`SnappyOutputStream`).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Length of the xerial header: magic, version (i32), compatible version (i32).
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed block size of snappy-java's default output stream.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Start of the standard snappy framing format (stream identifier chunk).
const SNAPPY_FRAME_MAGIC: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];

/// A record batch compression codec (attributes & 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2).
    Snappy,
    /// lz4 frame (3).
    Lz4,
    /// zstd (4).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with Kafka's attribute id (0..=4).
    pub fn from_id(id: i16) -> Result<Self, BatchError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(BatchError::Corrupt(format!(
                "unknown compression codec id {other}"
            ))),
        }
    }

    /// Kafka's attribute id of this codec.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name of this codec (`compression.type` value).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `data` as a Kafka producer of this codec would.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.compress_into(data, &mut out);
        out
    }

    /// Compresses `data`, appending the result to `out`.
    pub fn compress_into(self, data: &[u8], out: &mut Vec<u8>) {
        match self {
            Compression::None => out.extend_from_slice(data),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
                write_all_to_vec(&mut enc, data);
                finish_to_vec(enc.finish());
            }
            Compression::Snappy => xerial_compress(data, out),
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
                write_all_to_vec(&mut enc, data);
                finish_to_vec(enc.finish().map_err(io::Error::from));
            }
            Compression::Zstd => {
                // Level 3 is Kafka's default zstd level.
                let mut enc = zstd::stream::write::Encoder::new(out, 3)
                    .expect("zstd encoder creation only fails on allocation failure");
                write_all_to_vec(&mut enc, data);
                finish_to_vec(enc.finish());
            }
        }
    }

    /// Decompresses `data`, refusing output larger than [`MAX_DECOMPRESSED_SIZE`].
    pub fn decompress(self, data: &[u8]) -> Result<Vec<u8>, BatchError> {
        self.decompress_with_limit(data, MAX_DECOMPRESSED_SIZE)
    }

    /// Decompresses `data`, refusing output larger than `limit` bytes.
    pub fn decompress_with_limit(self, data: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
        let err = |e: io::Error| {
            BatchError::Corrupt(format!("{} decompression failed: {e}", self.name()))
        };
        match self {
            Compression::None => {
                if data.len() > limit {
                    return Err(too_large(limit));
                }
                Ok(data.to_vec())
            }
            Compression::Gzip => {
                read_limited(flate2::read::MultiGzDecoder::new(data), limit, data.len())
                    .map_err(|e| limit_or(e, limit, err))
            }
            Compression::Snappy => snappy_decompress(data, limit),
            Compression::Lz4 => {
                read_limited(lz4_flex::frame::FrameDecoder::new(data), limit, data.len())
                    .map_err(|e| limit_or(e, limit, err))
            }
            Compression::Zstd => {
                let dec = zstd::stream::read::Decoder::with_buffer(data).map_err(err)?;
                read_limited(dec, limit, data.len()).map_err(|e| limit_or(e, limit, err))
            }
        }
    }
}

impl Compression {
    /// A streaming reader of `data` decompressed: output comes out block by
    /// block, so memory stays bounded whatever sizes the compressed bytes
    /// declare (gzip's 32 KiB window, lz4's block buffer of at most 4 MiB,
    /// zstd's window capped at 2^[`ZSTD_WINDOW_LOG_MAX`], one snappy block
    /// at a time and never more than [`SNAPPY_MAX_EXPANSION`] times its
    /// compressed bytes). Errors in the data surface as read errors.
    pub fn decoder<'a>(self, data: &'a [u8]) -> Result<Box<dyn Read + 'a>, BatchError> {
        Ok(match self {
            Compression::None => Box::new(data),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
            Compression::Snappy => {
                if data.starts_with(&SNAPPY_FRAME_MAGIC) {
                    Box::new(snap::read::FrameDecoder::new(data))
                } else {
                    Box::new(SnappyBlocks::new(data)?)
                }
            }
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
            Compression::Zstd => {
                let err =
                    |e: io::Error| BatchError::Corrupt(format!("zstd decompression failed: {e}"));
                let mut dec = zstd::stream::read::Decoder::with_buffer(data).map_err(err)?;
                dec.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(err)?;
                Box::new(dec)
            }
        })
    }
}

/// Largest zstd window accepted when streaming (2^25 = 32 MiB): Kafka's
/// producers use 2^21 to 2^23 at their levels; the window is the decoder's
/// memory, and a frame may declare any size.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 25;

/// No valid snappy block decompresses to more than 22 times its bytes (a
/// 3-byte copy yields at most 64 bytes), so a larger declared length is a
/// lie and is refused before anything is allocated for it.
pub const SNAPPY_MAX_EXPANSION: usize = 22;

/// Streams xerial-framed snappy (snappy-java's blocks) or one raw snappy
/// block, decompressing one block at a time into a reused buffer.
struct SnappyBlocks<'a> {
    /// Compressed bytes not yet decompressed.
    rest: &'a [u8],
    /// Whether `rest` is xerial blocks (else one raw block).
    xerial: bool,
    /// The current block, decompressed.
    block: Vec<u8>,
    /// Bytes of `block` already read.
    pos: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappyBlocks<'a> {
    fn new(data: &'a [u8]) -> Result<Self, BatchError> {
        let xerial = data.starts_with(&XERIAL_MAGIC);
        let rest = if xerial {
            data.get(XERIAL_HEADER_LEN..)
                .ok_or_else(|| BatchError::Corrupt("truncated snappy-java header".into()))?
        } else {
            data
        };
        Ok(SnappyBlocks {
            rest,
            xerial,
            block: Vec::new(),
            pos: 0,
            decoder: snap::raw::Decoder::new(),
        })
    }

    /// Decompresses the next block into `self.block`; false at the end.
    fn next_block(&mut self) -> io::Result<bool> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        if self.rest.is_empty() {
            return Ok(false);
        }
        let block = if self.xerial {
            let Some(len) = self.rest.get(..4) else {
                return Err(bad("truncated snappy-java block length".into()));
            };
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
            let block = self
                .rest
                .get(4..)
                .and_then(|r| r.get(..len))
                .ok_or_else(|| bad("truncated snappy-java block".into()))?;
            self.rest = &self.rest[4 + len..];
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let snappy = |e: snap::Error| bad(format!("snappy: {e}"));
        let size = snap::raw::decompress_len(block).map_err(snappy)?;
        if size > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
            return Err(bad(format!(
                "snappy block of {} bytes declares {size} bytes of output",
                block.len()
            )));
        }
        self.block.resize(size, 0);
        let n = self
            .decoder
            .decompress(block, &mut self.block)
            .map_err(snappy)?;
        self.block.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyBlocks<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compression name that is not one of Kafka's codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression '{0}' (expected none, gzip, snappy, lz4 or zstd)")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    /// Parses Kafka's `compression.type` names (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCompression(s.to_string()))
    }
}

/// Writes into an encoder whose sink is a `Vec`; such writes cannot fail.
fn write_all_to_vec(w: &mut impl Write, data: &[u8]) {
    w.write_all(data)
        .expect("compressing into a Vec cannot fail");
}

/// Finishes an encoder whose sink is a `Vec`; that cannot fail.
fn finish_to_vec<T>(r: io::Result<T>) {
    r.expect("compressing into a Vec cannot fail");
}

fn too_large(limit: usize) -> BatchError {
    BatchError::Corrupt(format!("decompressed batch exceeds {limit} bytes"))
}

/// Marker error for [`read_limited`] exceeding its limit.
#[derive(Debug)]
struct LimitExceeded;

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

fn limit_or(e: io::Error, limit: usize, other: impl Fn(io::Error) -> BatchError) -> BatchError {
    if e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>()) {
        too_large(limit)
    } else {
        other(e)
    }
}

/// Reads `r` to the end, failing once more than `limit` bytes come out.
fn read_limited(r: impl Read, limit: usize, input_len: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(limit).min(64 << 20));
    let read = r.take(limit as u64 + 1).read_to_end(&mut out)?;
    if read > limit {
        return Err(io::Error::other(LimitExceeded));
    }
    Ok(out)
}

/// snappy-java's framing: the xerial header, then blocks of
/// `[u32 BE compressed length][raw snappy block]`.
fn xerial_compress(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // compatible version
    let mut encoder = snap::raw::Encoder::new();
    for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
        let written = encoder
            .compress(chunk, &mut out[start..])
            .expect("output buffer sized by max_compress_len");
        out.truncate(start + written);
        out[len_at..start].copy_from_slice(&(written as u32).to_be_bytes());
    }
}

/// Decodes xerial-framed, standard-framed or raw snappy.
fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
    let err = |e: snap::Error| BatchError::Corrupt(format!("snappy decompression failed: {e}"));
    if data.starts_with(&XERIAL_MAGIC) {
        if data.len() < XERIAL_HEADER_LEN {
            return Err(BatchError::Corrupt("truncated snappy-java header".into()));
        }
        let mut out = Vec::new();
        let mut decoder = snap::raw::Decoder::new();
        let mut rest = &data[XERIAL_HEADER_LEN..];
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(BatchError::Corrupt(
                    "truncated snappy-java block length".into(),
                ));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let block = rest
                .get(4..4 + len)
                .ok_or_else(|| BatchError::Corrupt("truncated snappy-java block".into()))?;
            let size = snap::raw::decompress_len(block).map_err(err)?;
            if out.len() + size > limit {
                return Err(too_large(limit));
            }
            let start = out.len();
            out.resize(start + size, 0);
            let n = decoder.decompress(block, &mut out[start..]).map_err(err)?;
            out.truncate(start + n);
            rest = &rest[4 + len..];
        }
        Ok(out)
    } else if data.starts_with(&SNAPPY_FRAME_MAGIC) {
        read_limited(snap::read::FrameDecoder::new(data), limit, data.len()).map_err(|e| {
            limit_or(e, limit, |e| {
                BatchError::Corrupt(format!("snappy decompression failed: {e}"))
            })
        })
    } else {
        let size = snap::raw::decompress_len(data).map_err(err)?;
        if size > limit {
            return Err(too_large(limit));
        }
        snap::raw::Decoder::new().decompress_vec(data).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..20_000u32 {
            data.extend_from_slice(format!("record {i} value {}\n", i % 97).as_bytes());
        }
        data
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        assert!(
            data.len() > 3 * XERIAL_BLOCK_SIZE,
            "exercises several snappy blocks"
        );
        for codec in Compression::ALL {
            let packed = codec.compress(&data);
            if codec != Compression::None {
                assert!(packed.len() < data.len() / 2, "{codec} compresses");
            }
            assert_eq!(codec.decompress(&packed).unwrap(), data, "{codec}");
            assert_eq!(
                codec.decompress(&codec.compress(b"")).unwrap(),
                b"",
                "{codec} empty"
            );
        }
    }

    #[test]
    fn ids_and_names() {
        for codec in Compression::ALL {
            assert_eq!(Compression::from_id(codec.id()).unwrap(), codec);
            assert_eq!(codec.to_string().parse::<Compression>().unwrap(), codec);
        }
        assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
        assert!("brotli".parse::<Compression>().is_err());
        assert!(Compression::from_id(5).is_err());
        assert_eq!(Compression::Lz4.id(), 3);
        assert_eq!(Compression::Snappy.name(), "snappy");
    }

    #[test]
    fn snappy_writes_xerial_framing_and_reads_raw_and_framed() {
        let data = sample();
        let packed = Compression::Snappy.compress(&data);
        assert_eq!(&packed[..8], &XERIAL_MAGIC);
        assert_eq!(&packed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let first_len = u32::from_be_bytes(packed[16..20].try_into().unwrap()) as usize;
        let first = snap::raw::Decoder::new()
            .decompress_vec(&packed[20..20 + first_len])
            .unwrap();
        assert_eq!(first, &data[..XERIAL_BLOCK_SIZE]);

        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(Compression::Snappy.decompress(&raw).unwrap(), data);

        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        framed.write_all(&data).unwrap();
        let framed = framed.into_inner().unwrap();
        assert_eq!(Compression::Snappy.decompress(&framed).unwrap(), data);
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let data = sample();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = codec.compress(&data);
            // (lz4_flex tolerates a missing end mark, so cut into the last block.)
            for cut in [1, packed.len() / 2, packed.len() - 5] {
                assert!(
                    codec.decompress(&packed[..cut]).is_err(),
                    "{codec} cut at {cut}"
                );
            }
            assert!(
                codec.decompress(b"definitely not compressed data").is_err(),
                "{codec}"
            );
        }
    }

    #[test]
    fn every_codec_streams_what_it_compressed() {
        let data = sample();
        for codec in Compression::ALL {
            let mut out = Vec::new();
            codec
                .decoder(&codec.compress(&data))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{codec}");
        }
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut out = Vec::new();
        Compression::Snappy
            .decoder(&raw)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data, "raw snappy");
    }

    #[test]
    fn streaming_refuses_what_is_not_its_codec() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut out = Vec::new();
            let read = codec
                .decoder(b"definitely not compressed data")
                .and_then(|mut r| {
                    r.read_to_end(&mut out)
                        .map_err(|e| BatchError::Corrupt(e.to_string()))
                });
            assert!(read.is_err(), "{codec}");
        }
        // A raw snappy block declaring 4 GiB of output in 6 bytes.
        let lie = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        let mut out = Vec::new();
        let e = Compression::Snappy
            .decoder(&lie)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(e.to_string().contains("declares"), "{e}");
    }

    #[test]
    fn decompression_is_bounded() {
        let zeros = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            let packed = codec.compress(&zeros);
            let e = codec.decompress_with_limit(&packed, 1000).unwrap_err();
            assert!(e.to_string().contains("exceeds 1000 bytes"), "{codec}: {e}");
            assert_eq!(
                codec.decompress_with_limit(&packed, 1 << 20).unwrap().len(),
                1 << 20
            );
        }
    }
}
