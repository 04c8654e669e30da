//! One partition's log (Kafka's `UnifiedLog`): an ordered set of segments,
//! appends with offset assignment, reads by offset and time, roll,
//! retention, recovery and flushing.

use super::config::LogConfig;
use super::error::Result;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset given to the last record.
    pub last_offset: i64,
    /// Log-append time used, if `message.timestamp.type=LogAppendTime`, else -1.
    pub log_append_time: i64,
    /// Bytes appended.
    pub bytes: usize,
    /// Records appended.
    pub records: usize,
}

/// A contiguous byte range of one segment file holding whole batches, ready
/// to be sent with sendfile or read with pread.
#[derive(Debug, Clone)]
pub struct ReadSlice {
    /// The segment's `.log` file.
    pub file: Arc<File>,
    /// Byte position in the file.
    pub position: u64,
    /// Number of bytes.
    pub len: usize,
}

/// What recovery found and cut in one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment file that was truncated, if any.
    pub truncated_file: Option<PathBuf>,
    /// Byte position where it was cut.
    pub position: u64,
    /// Bytes removed (from that file, plus any later segments deleted).
    pub bytes_removed: u64,
    /// Indexes that were rebuilt.
    pub indexes_rebuilt: usize,
}

/// One partition's log.
pub struct Log {
    _dir: PathBuf,
}

impl Log {
    /// Opens (creating if missing) the log in `dir`. With `recover`, checks
    /// every batch after the recovery point, truncates at the first torn or
    /// corrupt one and rebuilds indexes; the report says what was cut.
    pub fn open(dir: &Path, config: LogConfig, recover: bool) -> Result<(Log, RecoveryReport)> {
        let _ = (dir, config, recover);
        todo!("log helper")
    }

    /// Opens an existing log for reading only (no lock, no recovery, no
    /// writes); reads stop at the last complete batch.
    pub fn open_read_only(dir: &Path, config: LogConfig) -> Result<Log> {
        let _ = (dir, config);
        todo!()
    }

    /// Appends one or more concatenated v2 batches as received from a client:
    /// validates each (length, magic, CRC, `max.message.bytes`), assigns
    /// offsets by patching base offsets in place, applies LogAppendTime if
    /// configured, rolls segments as needed. Nothing is written if any batch
    /// is invalid. Not durable until flushed.
    pub fn append(&mut self, batches: &mut [u8]) -> Result<AppendInfo> {
        let _ = batches;
        todo!()
    }

    /// Whole batches from the one containing `offset`, at most `max_bytes`
    /// (but at least one batch if `min_one`). Empty at the log end;
    /// `OffsetOutOfRange` outside `[log start, log end]`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Option<ReadSlice>> {
        let _ = (offset, max_bytes, min_one);
        todo!()
    }

    /// The first offset whose timestamp is >= `timestamp`, with that
    /// timestamp; `None` if no record is that late.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let _ = timestamp;
        todo!()
    }

    /// First offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        todo!()
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        todo!()
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        todo!()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        todo!()
    }

    /// The config in force.
    pub fn config(&self) -> &LogConfig {
        todo!()
    }

    /// Replaces the config (after `topics alter`).
    pub fn set_config(&mut self, config: LogConfig) {
        let _ = config;
        todo!()
    }

    /// The active segment's file and the log end offset it will be durable
    /// up to once synced; for [`super::GroupCommit`].
    pub fn sync_target(&self) -> (Arc<File>, i64) {
        todo!()
    }

    /// Records that everything below `offset` is on disk (advances the recovery point).
    pub fn mark_flushed(&mut self, offset: i64) {
        let _ = offset;
        todo!()
    }

    /// fdatasyncs everything appended so far and advances the recovery point.
    pub fn flush(&mut self) -> Result<()> {
        todo!()
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes` (never
    /// the active one) and moves the log start offset; returns segments deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
        let _ = now_ms;
        todo!()
    }

    /// Moves the log start offset forward (DeleteRecords), deleting segments below it.
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<()> {
        let _ = offset;
        todo!()
    }

    /// Flushes, trims indexes and closes cleanly.
    pub fn close(self) -> Result<()> {
        todo!()
    }
}
