//! Writing a transaction's COMMIT/ABORT markers (the role of Kafka's
//! `TransactionMarkerChannelManager`): the coordinator hands every
//! partition of a completing transaction to a [`TxnMarkerWriter`], retries
//! the partitions that failed with a growing backoff, and only then writes
//! CompleteCommit/CompleteAbort.
//!
//! The broker implements the writer on its own logs (a control batch per
//! partition, `Log::append_control`, fsynced; `__consumer_offsets`
//! partitions also complete the transaction's pending offsets); in cluster
//! mode it will send WriteTxnMarkers to the partition leaders.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future (what [`TxnMarkerWriter`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A topic partition and the error code writing its marker gave.
pub type MarkerResult = ((String, i32), i16);

/// Writes transaction markers into the partitions of a transaction.
pub trait TxnMarkerWriter: Send + Sync {
    /// Writes a COMMIT (`commit`) or ABORT marker for `producer_id` /
    /// `producer_epoch` with `coordinator_epoch` into each of `partitions`,
    /// durably, and returns each partition's error code (0 when written).
    /// UNKNOWN_TOPIC_OR_PARTITION (a deleted partition) counts as done;
    /// other errors are retried by the coordinator.
    fn write_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        partitions: Vec<(String, i32)>,
    ) -> BoxFuture<'_, Vec<MarkerResult>>;
}

/// First wait before retrying partitions whose marker failed
/// (Kafka's marker channel retries after `retry.backoff.ms`, 100 ms).
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between retries.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Whether a marker result means the partition is done: written, or the
/// partition no longer exists.
pub fn marker_done(code: i16) -> bool {
    code == 0 || code == kafka_protocol::ResponseError::UnknownTopicOrPartition.code()
}
