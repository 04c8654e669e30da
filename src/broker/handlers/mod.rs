//! One module per API (or family of APIs): each turns a decoded request
//! into its response against the broker state.

pub mod client_quotas;
pub mod cluster;
pub mod configs;
pub mod controller_mutation;
pub mod delete_records;
pub mod fetch;
pub mod group;
pub mod leader_epoch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
pub mod producers;
pub mod topics;
pub mod txn;

use crate::log::LogError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// A `StrBytes` from a string.
pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A `TopicName` from a string.
pub fn topic_name(s: impl Into<String>) -> TopicName {
    TopicName(str_bytes(s))
}

/// The Kafka error code for a log engine error met while serving a partition.
pub fn log_error_code(e: &LogError) -> i16 {
    match e {
        LogError::CorruptBatch(_) => ResponseError::CorruptMessage.code(),
        LogError::RecordTooLarge { .. } => ResponseError::MessageTooLarge.code(),
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
        LogError::UnknownTopic(_) | LogError::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition.code()
        }
        LogError::InvalidTopicName { .. } => ResponseError::InvalidTopicException.code(),
        LogError::InvalidConfig { .. } => ResponseError::InvalidConfig.code(),
        LogError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
        LogError::TopicExists(_) => ResponseError::TopicAlreadyExists.code(),
        LogError::MissingKey { .. } | LogError::InvalidRecord { .. } => {
            ResponseError::InvalidRecord.code()
        }
        LogError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber.code(),
        LogError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch.code(),
        LogError::TransactionCoordinatorFenced(_) => {
            ResponseError::TransactionCoordinatorFenced.code()
        }
        LogError::InvalidTxnState(_) => ResponseError::InvalidTxnState.code(),
        LogError::Io { .. }
        | LogError::Corrupt { .. }
        | LogError::Locked { .. }
        | LogError::ReadOnly(_)
        | LogError::AlreadyOpen { .. }
        | LogError::Offline { .. } => ResponseError::KafkaStorageError.code(),
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
