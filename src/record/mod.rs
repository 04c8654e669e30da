//! Kafka's record format: record batches v2 (magic 2) byte for byte as on the
//! wire and on disk, the legacy v0/v1 message sets (read only), compression
//! codecs, the control records of transactions and the default
//! partitioner's murmur2 hash.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod decode;
pub mod legacy;
pub mod murmur2;
pub mod varint;

pub use batch::{BatchError, BatchHeader};
pub use builder::BatchBuilder;
pub use compression::Compression;
pub use decode::{
    BatchRecords, BatchSummary, RecordIter, RecordRef, ScanError, ScanIter, decode_all,
    decode_batch, decode_batch_bytes, scan,
};
pub use murmur2::{murmur2, partition_for_key};

use bytes::Bytes;

/// One record header: a string key and a nullable byte value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key (UTF-8 in Kafka).
    pub key: String,
    /// Header value; `None` is a null value.
    pub value: Option<Bytes>,
}

/// A decoded record with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset in the partition.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// Record key; `None` is a null key.
    pub key: Option<Bytes>,
    /// Record value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Record headers in order.
    pub headers: Vec<Header>,
}
