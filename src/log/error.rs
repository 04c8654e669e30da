//! Errors of the log engine.

use std::path::PathBuf;

/// What can go wrong in the log engine. Each variant renders as one clear line.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O error, with the file it concerns.
    #[error("{path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error("data directory {path} is locked by {holder}")]
    Locked {
        /// Data directory.
        path: PathBuf,
        /// Who holds it (pid and command line, as written in the lock file).
        holder: String,
    },
    /// No such topic.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// No such partition.
    #[error("unknown partition {partition} of topic '{topic}'")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// Topic exists already.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// Topic name breaks Kafka's rules.
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A config key unknown or a value out of range.
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        /// Config name.
        key: String,
        /// Value given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A batch larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes={max}")]
    RecordTooLarge {
        /// Batch size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A corrupt or malformed batch (append rejected, nothing written).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(#[from] crate::record::BatchError),
    /// An offset outside `[log start, log end]`.
    #[error("offset {offset} out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// Offset asked for.
        offset: i64,
        /// Log start offset.
        start: i64,
        /// Log end offset.
        end: i64,
    },
    /// Invalid number of partitions.
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    /// A write to a log or data directory opened read-only.
    #[error("{0} is open read-only")]
    ReadOnly(PathBuf),
    /// A partition already opened for writing through this data directory.
    #[error("partition {topic}-{partition} is already open")]
    AlreadyOpen {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A batch that breaks one of Kafka's record rules (INVALID_RECORD), such
    /// as a control batch from a client or a record count that disagrees
    /// with `lastOffsetDelta`; nothing is appended.
    #[error("invalid record batch: {message}")]
    InvalidRecord {
        /// What is wrong.
        message: String,
        /// The records at fault, by index in the batch (may be empty).
        record_errors: Vec<super::validator::RecordError>,
    },
    /// A record without a key appended to a compacted topic.
    #[error("compacted topic requires keys (record at offset delta {offset_delta} has none)")]
    MissingKey {
        /// Offset delta of the first keyless record in its batch.
        offset_delta: i32,
    },
    /// The data directory went offline after an I/O error (a failed
    /// fdatasync or write): nothing in it is read or written until restart.
    #[error("data directory {path} is offline ({reason}); restart once the disk is fixed")]
    Offline {
        /// Data directory.
        path: PathBuf,
        /// The error that took it offline.
        reason: String,
    },
    /// An idempotent batch whose sequence does not follow its producer's
    /// last one (OUT_OF_ORDER_SEQUENCE_NUMBER); nothing is appended.
    #[error("{0}")]
    OutOfOrderSequence(String),
    /// An idempotent batch with an epoch older than its producer's last one
    /// (INVALID_PRODUCER_EPOCH); nothing is appended.
    #[error("{0}")]
    InvalidProducerEpoch(String),
    /// A transaction marker from a coordinator epoch older than the last
    /// marker's (TRANSACTION_COORDINATOR_FENCED, 52); nothing is appended.
    #[error("{0}")]
    TransactionCoordinatorFenced(String),
    /// A non-transactional batch from a producer whose transaction is open
    /// (INVALID_TXN_STATE, 48); nothing is appended.
    #[error("{0}")]
    InvalidTxnState(String),
    /// A corrupt file found by a check (file, byte position, what).
    #[error("{path} at byte {position}: {reason}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// Byte position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias of the log engine.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
