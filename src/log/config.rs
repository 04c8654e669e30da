//! Topic-level log configs with Kafka's names, defaults and validation.

/// The configs one partition's log runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes` (default 1 GiB).
    pub segment_bytes: u64,
    /// `segment.ms` (default 7 days).
    pub segment_ms: i64,
    /// `retention.ms` (default 7 days, -1 infinite).
    pub retention_ms: i64,
    /// `retention.bytes` (default -1 infinite).
    pub retention_bytes: i64,
    /// `cleanup.policy` includes `delete`.
    pub delete: bool,
    /// `cleanup.policy` includes `compact`.
    pub compact: bool,
    /// `delete.retention.ms` (default 1 day).
    pub delete_retention_ms: i64,
    /// `max.message.bytes` (default 1048588).
    pub max_message_bytes: usize,
    /// `index.interval.bytes` (default 4096).
    pub index_interval_bytes: usize,
    /// `segment.index.bytes` (default 10 MiB).
    pub segment_index_bytes: usize,
    /// `message.timestamp.type` is LogAppendTime.
    pub log_append_time: bool,
    /// `min.cleanable.dirty.ratio` (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms` (default 0).
    pub min_compaction_lag_ms: i64,
}
