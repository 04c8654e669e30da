//! Where the coordinator's records live: the partitions of the internal
//! compacted topic `__consumer_offsets`.

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// Name of the internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// One record of `__consumer_offsets`: a key and a value (`None` is a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Encoded record key ([`super::schema::RecordKey`]).
    pub key: Bytes,
    /// Encoded record value, or `None` for a tombstone.
    pub value: Option<Bytes>,
}

/// One entry of a `__consumer_offsets` partition as loaded: a record, with
/// the producer id of its transaction if it came from a TxnOffsetCommit, or
/// a transaction marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadedEntry {
    /// A record; `txn_producer` is the producer id of its transactional
    /// batch (its offsets count only once a COMMIT marker of that producer
    /// follows).
    Record {
        /// The record.
        record: StoredRecord,
        /// Producer id of the transaction that wrote it, if any.
        txn_producer: Option<i64>,
    },
    /// A COMMIT (`commit`) or ABORT marker of `producer_id`'s transaction.
    Marker {
        /// The producer whose transaction ended.
        producer_id: i64,
        /// Whether the transaction committed.
        commit: bool,
    },
}

/// A failure of the offsets store (append, sync or load).
#[derive(Debug, Clone, thiserror::Error)]
#[error("__consumer_offsets: {0}")]
pub struct StoreError(pub String);

/// Completes once an append is durable (fsynced).
pub type Durable = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Storage of `__consumer_offsets` partitions for the coordinator.
///
/// [`super::LogStore`] implements it on the log engine; the broker hands the
/// coordinator one at construction.
pub trait OffsetsStore: Send + Sync {
    /// Number of partitions of the topic.
    fn partitions(&self) -> i32;

    /// Every record of `partition` from its start, in offset order
    /// (transactional ones included as they are, markers left out).
    fn load(&self, partition: i32) -> Result<Vec<StoredRecord>, StoreError>;

    /// Every record and transaction marker of `partition` from its start, in
    /// offset order. The default is [`Self::load`] with no transactions.
    fn load_entries(&self, partition: i32) -> Result<Vec<LoadedEntry>, StoreError> {
        Ok(self
            .load(partition)?
            .into_iter()
            .map(|record| LoadedEntry::Record {
                record,
                txn_producer: None,
            })
            .collect())
    }

    /// Appends `records` as one batch with `timestamp_ms` to `partition`.
    /// When this returns, the records are in the log (their order against
    /// other appends to the partition is fixed); the returned future
    /// completes once they are durable.
    fn append(
        &self,
        partition: i32,
        records: &[StoredRecord],
        timestamp_ms: i64,
    ) -> Result<Durable, StoreError>;

    /// Appends `records` to `partition` as one transactional batch of
    /// `producer_id` at `producer_epoch` (a TxnOffsetCommit). `guard` runs
    /// with the partition locked just before the write (transaction markers
    /// are written under the same lock, so what it checks cannot change
    /// before the records land); its error code refuses the append.
    /// Durability as [`Self::append`].
    fn append_transactional(
        &self,
        partition: i32,
        records: &[StoredRecord],
        producer_id: i64,
        producer_epoch: i16,
        timestamp_ms: i64,
        guard: &mut dyn FnMut() -> Result<(), i16>,
    ) -> Result<Result<Durable, i16>, StoreError>;

    /// Flushes and closes the partitions (clean shutdown).
    fn close(&self) -> Result<(), StoreError>;
}

/// The partition of `__consumer_offsets` that holds `group`, as Kafka
/// computes it: `Utils.abs(groupId.hashCode) % partitions` with Java's
/// `String.hashCode` over UTF-16 code units.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_hash_code() {
        // Java: "console-consumer-1".hashCode() == 35782224.
        assert_eq!(partition_for("console-consumer-1", 50), 35782224 % 50);
        // "".hashCode() == 0, "a".hashCode() == 97, and
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE (abs gives 0).
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("a", 50), 97 % 50);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }
}
