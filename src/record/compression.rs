//! Compression codecs of record batches: gzip, snappy (xerial framing as
//! Kafka's Java client writes it, raw accepted too), lz4 (frame format) and zstd.

/// A record batch compression codec (attributes & 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
