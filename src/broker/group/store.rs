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

    /// Every record of `partition` from its start, in offset order.
    fn load(&self, partition: i32) -> Result<Vec<StoredRecord>, StoreError>;

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
