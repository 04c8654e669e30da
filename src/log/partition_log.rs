//! One partition's log (Kafka's `UnifiedLog`): an ordered set of segments,
//! appends with offset assignment, reads by offset and time, roll,
//! retention, recovery and flushing.
//!
//! Transactions: data batches open their producer's transaction in the
//! producer state; [`Log::append_control`] writes the coordinator's
//! COMMIT/ABORT marker, closes it, and for an abort appends an entry to the
//! active segment's `.txnindex` (with the last stable offset at that
//! moment). [`Log::last_stable_offset`] is the first offset of the oldest
//! open transaction (never below the log start offset), else the log end
//! offset (a single broker's high watermark). A read_committed fetch reads
//! with [`Log::read_bounded`] up to it and asks
//! [`Log::aborted_transactions`] for the ranges to skip.

use super::config::LogConfig;
use super::data_dir::CheckpointHandle;
use super::dir_failure::LogDirFailureChannel;
use super::error::{LogError, Result};
use super::leader_epoch::LeaderEpochFileCache;
use super::producer_state::{CompletedTxn, PendingBatch, Prepared, ProducerStateManager};
use super::segment::{
    self, BatchInfo, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, TIME_INDEX_SUFFIX, io_err, now_ms,
};
use super::txn_index::{AbortedTxn, TXN_INDEX_SUFFIX, TxnIndexEntry};
use super::validator;
use crate::record::batch::{
    self, ATTR_TIMESTAMP_TYPE, ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_SIZE, MAX_TIMESTAMP_OFFSET,
};
use crate::record::control::{self, EndTxnMarker};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::IoSlice;
use std::os::unix::io::AsRawFd;
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
    /// The batch was a retry of one of its producer's last five batches:
    /// nothing was appended and the offsets are the original ones.
    pub duplicate: bool,
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

impl ReadSlice {
    /// Copies the bytes into memory (for callers that cannot use the file range).
    pub fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
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

/// How to open a log: whether to recover, and the checkpointed offsets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOpenOptions {
    /// Check every batch after `recovery_point` (after an unclean stop).
    pub recover: bool,
    /// Offset below which data is known to be on disk.
    pub recovery_point: i64,
    /// Log start offset checkpointed by an earlier DeleteRecords.
    pub log_start_offset: i64,
}

/// One partition's log.
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    recovery_point: i64,
    read_only: bool,
    closed: bool,
    checkpoint: Option<CheckpointHandle>,
    cleaned_up_to: i64,
    /// The data directory's offline state: checked before every append and
    /// read, set by an I/O error other than a full disk.
    failures: Option<Arc<LogDirFailureChannel>>,
    /// Idempotent producers' state, checked and updated by every append and
    /// snapshotted at roll and clean close (owns the `.snapshot` files).
    producer_state: ProducerStateManager,
    /// Leader epochs (owns `leader-epoch-checkpoint`): epoch 0 from the log
    /// start offset for a single broker.
    leader_epochs: LeaderEpochFileCache,
    /// A read-only log's producer state was loaded
    /// ([`Log::refresh_producer_state`]).
    producer_state_loaded: bool,
}

/// `producer.id.expiration.ms` of a log config.
fn config_expiration(config: &LogConfig) -> i64 {
    config.producer_id_expiration_ms
}

/// Leader epoch of a single broker, assigned at the log start offset when
/// a log has none.
const FIRST_LEADER_EPOCH: i32 = 0;

/// The leader epoch cache of a log directory; one that does not parse is
/// replaced (a single broker's epochs are derived from its log start offset).
fn load_leader_epochs(dir: &Path) -> LeaderEpochFileCache {
    LeaderEpochFileCache::load(dir, true).unwrap_or_else(|e| {
        tracing::warn!("{e}; rewriting it");
        LeaderEpochFileCache::empty(dir)
    })
}

fn parse_segment_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Base offsets of the `.log` files in `dir`, sorted.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(base) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_segment_name(n, LOG_SUFFIX))
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// fsyncs a directory so that created, renamed and deleted entries persist.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    super::fail_points::inject("dir::fsync")
        .and_then(|()| File::open(dir))
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The transaction marker of the control batch `header` at byte `position` of `seg`.
fn read_marker(
    seg: &LogSegment,
    position: u64,
    header: &crate::record::BatchHeader,
) -> Result<Option<EndTxnMarker>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; header.total_size()];
    seg.file()?
        .read_exact_at(&mut buf, position)
        .map_err(io_err(seg.log_path()))?;
    Ok(control::marker_of_batch(&buf)?)
}

/// Removes index files without a `.log`, and leftovers of interrupted
/// writes (`.tmp`, `.deleted`).
fn remove_orphans(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let orphan_index = [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX]
            .iter()
            .any(|ext| {
                parse_segment_name(name, ext)
                    .is_some_and(|b| !segment::segment_file(dir, b, LOG_SUFFIX).exists())
            });
        if orphan_index || name.ends_with(".deleted") || name.ends_with(".tmp") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

impl Log {
    /// Opens (creating if missing) the log in `dir`. With `recover`, checks
    /// every entry (v2 batch or legacy v0/v1 message) after the recovery
    /// point and rebuilds indexes; a torn or corrupt tail of the active
    /// segment is cut (the report says what), while bytes that do not parse
    /// in an inactive segment fail the open with [`LogError::Corrupt`] naming
    /// the file and byte position, and nothing is cut.
    pub fn open(dir: &Path, config: LogConfig, recover: bool) -> Result<(Log, RecoveryReport)> {
        let opts = LogOpenOptions {
            recover,
            ..Default::default()
        };
        Log::open_with(dir, config, opts)
    }

    /// [`Log::open`] with a recovery point and log start offset (from the
    /// data directory's checkpoint files).
    pub fn open_with(
        dir: &Path,
        config: LogConfig,
        opts: LogOpenOptions,
    ) -> Result<(Log, RecoveryReport)> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        super::cleaner::finish_interrupted(dir)?;
        remove_orphans(dir)?;
        let bases = list_segments(dir)?;
        let mut report = RecoveryReport::default();
        if bases.is_empty() {
            // A new log: its empty segment is used as created, not reopened
            // and checked (loading scans the preallocated indexes, which
            // made creating thousands of partitions take minutes).
            let seg = LogSegment::create(dir, opts.log_start_offset.max(0), &config)?;
            sync_dir(dir)?;
            let start = seg.base_offset();
            let ttl = config_expiration(&config);
            let mut log = Log {
                dir: dir.to_path_buf(),
                config,
                segments: BTreeMap::from([(start, seg)]),
                log_start_offset: start,
                recovery_point: 0,
                read_only: false,
                closed: false,
                checkpoint: None,
                cleaned_up_to: 0,
                failures: None,
                producer_state: ProducerStateManager::new(dir, ttl),
                leader_epochs: load_leader_epochs(dir),
                producer_state_loaded: true,
            };
            log.recovery_point = log.log_end_offset();
            log.producer_state.set_map_end_offset(log.log_end_offset());
            // Written at the first append, so that creating a log costs no fsync more.
            log.leader_epochs.truncate_from_end(start);
            log.leader_epochs.assign(FIRST_LEADER_EPOCH, start);
            return Ok((log, report));
        }
        // The segment holding the recovery point and all later ones are checked.
        let recover_from = bases
            .iter()
            .rev()
            .find(|&&b| b <= opts.recovery_point)
            .copied()
            .unwrap_or(i64::MIN);
        let mut segments = BTreeMap::new();
        let mut recovered_any = false;
        // The first segment whose `.txnindex` is rebuilt from the markers
        // (recovered segments, and an active one whose index is corrupt).
        let mut txn_rebuild_from: Option<i64> = None;
        let count = bases.len();
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == count;
            let mut seg = LogSegment::open(dir, base, &config, active)?;
            let needs_check = opts.recover && base >= recover_from;
            // An inactive segment's indexes are not read (only stat'ed):
            // they are mapped at their first lookup.
            let loaded = !needs_check
                && if active {
                    seg.load()?
                } else {
                    seg.load_inactive(bases[i + 1])
                };
            let check = if !loaded {
                report.indexes_rebuilt += 2;
                recovered_any = true;
                Some(seg.recover(&config, active)?)
            } else {
                None
            };
            if check.as_ref().is_some_and(|c| c.error.is_none() || active) {
                // Kafka's recovery rebuilds the segment's transaction index.
                seg.txn_index_mut().reset()?;
                txn_rebuild_from.get_or_insert(base);
            } else if active && let Err(e) = seg.txn_index().sanity_check(seg.next_offset()) {
                tracing::warn!("{e}; rebuilding it from the log");
                seg.txn_index_mut().reset()?;
                txn_rebuild_from.get_or_insert(base);
            }
            if let Some(check) = check
                && let Some(why) = &check.error
            {
                if !active {
                    // Only the active segment can have a torn tail; bytes an
                    // inactive one holds that do not parse are left for an
                    // operator to look at, never cut.
                    return Err(LogError::Corrupt {
                        path: seg.log_path().to_path_buf(),
                        position: check.valid_bytes,
                        reason: format!(
                            "{why} (inactive segment: nothing cut, {} bytes left as they are)",
                            check.cut_bytes
                        ),
                    });
                }
                report.truncated_file = Some(seg.log_path().to_path_buf());
                report.position = check.valid_bytes;
                report.bytes_removed += check.cut_bytes;
                tracing::warn!(
                    "{}: {why} at byte {}; truncated {} bytes",
                    seg.log_path().display(),
                    check.valid_bytes,
                    check.cut_bytes
                );
                segments.insert(base, seg);
                break;
            }
            if !active {
                seg.finish()?;
            }
            segments.insert(base, seg);
        }
        if report.bytes_removed > 0 {
            sync_dir(dir)?;
        }
        if report.indexes_rebuilt > 0 && report.truncated_file.is_none() {
            tracing::info!(
                "{}: rebuilt {} index files",
                dir.display(),
                report.indexes_rebuilt
            );
        }
        let ttl = config_expiration(&config);
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: 0,
            recovery_point: 0,
            read_only: false,
            closed: false,
            checkpoint: None,
            cleaned_up_to: 0,
            failures: None,
            producer_state: ProducerStateManager::new(dir, ttl),
            leader_epochs: load_leader_epochs(dir),
            producer_state_loaded: true,
        };
        let first = log.first_segment().base_offset();
        log.log_start_offset = opts.log_start_offset.max(first).min(log.log_end_offset());
        // Kafka's LogLoader: the epoch cache is cut at the log end (a
        // recovery cut) and at the log start offset.
        let end = log.log_end_offset();
        log.leader_epochs.truncate_from_end(end);
        log.leader_epochs.truncate_from_start(log.log_start_offset);
        if log.leader_epochs.latest_epoch().is_none() {
            log.leader_epochs
                .assign(FIRST_LEADER_EPOCH, log.log_start_offset);
        }
        // Best effort (a full disk must not stop the open): what is not
        // written now is written before the next append.
        log.flush_leader_epochs();
        if recovered_any {
            // What was read back may still be only in the page cache.
            for seg in log.segments.values() {
                seg.flush()?;
            }
        }
        log.recovery_point = log.log_end_offset();
        log.rebuild_producer_state(txn_rebuild_from)?;
        Ok((log, report))
    }

    /// Loads the newest valid producer snapshot (at or below
    /// `txn_rebuild_from`, if given) and replays the batch headers after it
    /// (Kafka's `rebuildProducerState`); the markers replayed re-create the
    /// `.txnindex` entries of the aborts among them that are missing.
    fn rebuild_producer_state(&mut self, txn_rebuild_from: Option<i64>) -> Result<()> {
        let end = self.log_end_offset();
        let from = self.producer_state.load_at_or_below(
            self.log_start_offset,
            end,
            txn_rebuild_from.unwrap_or(end),
            now_ms(),
        )?;
        let aborted = self.replay_producer_state(from)?;
        for entry in aborted {
            if let Some((_, seg)) = self.segments.range_mut(..=entry.last_offset).next_back() {
                seg.txn_index_mut().append(entry)?;
            }
        }
        self.producer_state.set_map_end_offset(end);
        Ok(())
    }

    /// For a read-only log (a direct-mode reader): loads the producer state
    /// from the newest snapshot (deleting nothing) at the first call, then
    /// replays the batch headers the writer appended since, so that
    /// [`Log::last_stable_offset`] and [`Log::first_unstable_offset`] see
    /// the open transactions. Call [`Log::refresh`] first to pick up new
    /// segments. Without it a read-only log knows no transaction, and its
    /// last stable offset is its log end offset.
    ///
    /// # Errors
    /// An I/O error reading a snapshot or the log.
    pub fn refresh_producer_state(&mut self) -> Result<()> {
        let (start, end) = (self.log_start_offset, self.log_end_offset());
        if !self.read_only {
            return Ok(());
        }
        let from = if self.producer_state_loaded {
            self.producer_state.map_end_offset().max(start)
        } else {
            self.producer_state_loaded = true;
            self.producer_state.load_read_only(start, end, now_ms())?
        };
        if from < end {
            // The aborts among them are in the writer's `.txnindex` files.
            self.replay_producer_state(from)?;
        }
        self.producer_state.set_map_end_offset(end);
        Ok(())
    }

    /// Replays the batch headers (and markers) from offset `from` to the log
    /// end into the producer state; returns the aborted transactions met,
    /// as `.txnindex` entries.
    fn replay_producer_state(&mut self, from: i64) -> Result<Vec<TxnIndexEntry>> {
        let floor = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        let mut replayed = 0usize;
        let mut aborted: Vec<TxnIndexEntry> = Vec::new();
        for seg in self.segments.range(floor..).map(|(_, s)| s) {
            let pos = if seg.base_offset() < from {
                match seg.find(from)? {
                    Some((pos, _)) => pos,
                    None => continue,
                }
            } else {
                0
            };
            let mut scan = segment::HeaderScanner::new(seg, pos);
            while let Some((batch_pos, h)) = scan.next_header()? {
                if h.last_offset < from {
                    continue;
                }
                let Some(b) = scan.batch_header() else {
                    continue;
                };
                replayed += 1;
                if !b.is_control() {
                    self.producer_state.replay(&b);
                    continue;
                }
                match read_marker(seg, batch_pos, &b) {
                    Ok(Some(marker)) => {
                        if let Some(txn) = self.producer_state.replay_marker(&b, &marker)
                            && txn.is_aborted
                        {
                            aborted.push(TxnIndexEntry {
                                producer_id: txn.producer_id,
                                first_offset: txn.first_offset,
                                last_offset: txn.last_offset,
                                last_stable_offset: self
                                    .producer_state
                                    .last_stable_offset_after(&txn),
                            });
                        }
                    }
                    Ok(None) => self.producer_state.replay(&b),
                    Err(e) => {
                        tracing::warn!(
                            "{}: control batch at offset {} unreadable ({e}); skipped",
                            seg.log_path().display(),
                            b.base_offset
                        );
                        self.producer_state.replay(&b);
                    }
                }
            }
        }
        if replayed > 0 {
            tracing::debug!(
                "{}: producer state from offset {from}, {replayed} batches replayed",
                self.dir.display()
            );
        }
        Ok(aborted)
    }

    /// The partition's producer state.
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }

    /// Opens an existing log for reading only (no lock, no recovery, no
    /// writes); reads stop at the last complete batch.
    pub fn open_read_only(dir: &Path, config: LogConfig) -> Result<Log> {
        let ttl = config_expiration(&config);
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments: BTreeMap::new(),
            log_start_offset: 0,
            recovery_point: 0,
            read_only: true,
            closed: true,
            checkpoint: None,
            cleaned_up_to: 0,
            failures: None,
            producer_state: ProducerStateManager::new(dir, ttl),
            leader_epochs: LeaderEpochFileCache::load(dir, false)
                .unwrap_or_else(|_| LeaderEpochFileCache::empty(dir)),
            producer_state_loaded: false,
        };
        log.refresh()?;
        if log.segments.is_empty() {
            return Err(LogError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no log segments"),
            });
        }
        Ok(log)
    }

    /// For a read-only log: picks up what a writer appended, rolled or
    /// deleted since it was opened (for following the log's end).
    pub fn refresh(&mut self) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        let bases = list_segments(&self.dir)?;
        let last = bases.last().copied();
        // The segment that was last before may have been completed and rolled.
        if let Some(seg) = self.segments.values_mut().next_back() {
            seg.extend_read_only()?;
        }
        self.segments.retain(|b, _| bases.binary_search(b).is_ok());
        for base in bases {
            if let Some(seg) = self.segments.get_mut(&base) {
                if Some(base) == last || seg.size() == 0 {
                    seg.extend_read_only()?;
                }
                continue;
            }
            let mut seg = match LogSegment::open_read_only(&self.dir, base) {
                Ok(s) => s,
                // Deleted by the writer in the meantime.
                Err(LogError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            seg.load_read_only()?;
            self.segments.insert(base, seg);
        }
        if let Some(first) = self.segments.values().next() {
            self.log_start_offset = self.log_start_offset.max(first.base_offset());
        }
        self.recovery_point = self.log_end_offset();
        Ok(())
    }

    /// Raises the log start offset of a read-only view to a checkpointed one.
    pub(crate) fn raise_log_start_offset(&mut self, offset: i64) {
        self.log_start_offset = self.log_start_offset.max(offset.min(self.log_end_offset()));
    }

    /// Links the log to its data directory's checkpoints.
    pub(crate) fn attach_checkpoint(&mut self, handle: CheckpointHandle) {
        handle.update(self.recovery_point, self.log_start_offset);
        self.checkpoint = Some(handle);
    }

    /// Links the log to its data directory's offline state.
    pub(crate) fn attach_failure_channel(&mut self, failures: Arc<LogDirFailureChannel>) {
        self.failures = Some(failures);
    }

    /// `LogError::Offline` once the log's data directory went offline.
    ///
    /// # Errors
    /// [`LogError::Offline`] with the reason the directory went offline.
    pub fn check_online(&self) -> Result<()> {
        self.failures.as_ref().map_or(Ok(()), |f| f.check())
    }

    /// Passes `result` through, taking the data directory offline first if
    /// it is an I/O error other than a full disk.
    fn fail_stop<T>(&self, result: Result<T>) -> Result<T> {
        if let (Err(e), Some(f)) = (&result, &self.failures) {
            f.on_io_error(e);
        }
        result
    }

    /// [`Self::fail_stop`] for an fdatasync: any I/O error takes the
    /// directory offline.
    fn fail_stop_sync<T>(&self, result: Result<T>) -> Result<T> {
        if let (Err(e), Some(f)) = (&result, &self.failures) {
            f.on_sync_error(e);
        }
        result
    }

    fn publish_checkpoint(&self) {
        if let Some(c) = &self.checkpoint {
            c.update(self.recovery_point, self.log_start_offset);
        }
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn first_segment(&self) -> &LogSegment {
        self.segments.values().next().expect("a log has a segment")
    }

    fn active(&self) -> &LogSegment {
        self.segments
            .values()
            .next_back()
            .expect("a log has a segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log has a segment")
    }

    /// The segments, by base offset.
    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> {
        self.segments.values()
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(LogError::ReadOnly(self.dir.clone()));
        }
        self.check_online()
    }

    /// Appends one or more concatenated v2 batches as received from a client:
    /// validates each with [`validator::validate_records`] (Kafka's
    /// LogValidator: framing, CRC, codec, record rules, `max.message.bytes`),
    /// assigns offsets by patching base offsets into copies of the batch
    /// headers (the input is not modified or copied), applies LogAppendTime
    /// if configured (else corrects a `maxTimestamp` that disagrees with the
    /// records), rolls segments as needed. Nothing is written if any batch
    /// is invalid. Not durable until flushed.
    ///
    /// A write that finds the disk full fails with nothing of it left in
    /// the log; any other I/O error takes the data directory offline.
    pub fn append(&mut self, batches: &[u8]) -> Result<AppendInfo> {
        self.check_writable()?;
        let result = self.append_batches(batches);
        self.fail_stop(result)
    }

    fn append_batches(&mut self, batches: &[u8]) -> Result<AppendInfo> {
        let valid = validator::validate_records(batches, &self.config)?;
        self.leader_epochs.flush()?;
        let leader_epoch = self.leader_epoch();
        let mut records = 0usize;
        let mut infos: Vec<BatchInfo> = valid
            .iter()
            .map(|v| {
                records += v.header.records_count as usize;
                BatchInfo {
                    position: v.position,
                    size: v.header.total_size(),
                    last_offset: v.header.last_offset_delta as i64,
                    max_timestamp: v.max_timestamp,
                }
            })
            .collect();
        let base_offset = self.log_end_offset();
        if infos.is_empty() {
            return Ok(AppendInfo {
                base_offset,
                last_offset: base_offset - 1,
                log_append_time: -1,
                bytes: 0,
                records: 0,
                duplicate: false,
            });
        }
        let now = now_ms();
        let log_append_time = if self.config.log_append_time { now } else { -1 };
        let mut next = base_offset;
        let mut max_timestamp = -1;
        // Each batch goes to disk as its header with the offsets (and any
        // LogAppendTime) patched in, then the rest of its bytes untouched.
        let mut headers = Vec::with_capacity(infos.len());
        for info in &mut infos {
            let b = &batches[info.position..info.position + info.size];
            let mut h: [u8; HEADER_SIZE] = b[..HEADER_SIZE].try_into().expect("validated");
            batch::set_base_offset(&mut h, next);
            batch::set_partition_leader_epoch(&mut h, leader_epoch);
            if self.config.log_append_time {
                let attrs = i16::from_be_bytes([h[ATTRIBUTES_OFFSET], h[ATTRIBUTES_OFFSET + 1]])
                    | ATTR_TIMESTAMP_TYPE;
                h[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
                h[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
                    .copy_from_slice(&now.to_be_bytes());
                let crc = batch::compute_crc_split(&h, &b[HEADER_SIZE..]);
                h[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
                info.max_timestamp = now;
            } else if i64::from_be_bytes(
                h[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
                    .try_into()
                    .expect("8 bytes"),
            ) != info.max_timestamp
            {
                // Kafka's LogValidator sets maxTimestamp from the records.
                h[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
                    .copy_from_slice(&info.max_timestamp.to_be_bytes());
                let crc = batch::compute_crc_split(&h, &b[HEADER_SIZE..]);
                h[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
            }
            headers.push(h);
            info.last_offset += next;
            next = info.last_offset + 1;
            max_timestamp = max_timestamp.max(info.max_timestamp);
        }
        let mut parts = Vec::with_capacity(2 * infos.len());
        for (h, info) in headers.iter().zip(&infos) {
            parts.push(IoSlice::new(h));
            parts.push(IoSlice::new(
                &batches[info.position + HEADER_SIZE..info.position + info.size],
            ));
        }
        let last_offset = next - 1;
        // Producer state is checked before the write and applied after it.
        let parsed: Vec<_> = valid.iter().map(|v| v.header).collect();
        let pending: Vec<PendingBatch<'_>> = parsed
            .iter()
            .zip(&infos)
            .map(|(header, info)| PendingBatch {
                header,
                first_offset: info.last_offset - header.last_offset_delta as i64,
                last_offset: info.last_offset,
                max_timestamp: info.max_timestamp,
            })
            .collect();
        let staged = match self.producer_state.prepare(&pending)? {
            Prepared::Duplicate(first, last) => {
                return Ok(AppendInfo {
                    base_offset: first,
                    last_offset: last,
                    log_append_time: -1,
                    bytes: 0,
                    records: 0,
                    duplicate: true,
                });
            }
            Prepared::Append(staged) => staged,
        };
        if self
            .active()
            .should_roll(&self.config, batches.len(), max_timestamp, last_offset, now)
        {
            self.roll_segment()?;
        }
        let config = &self.config;
        let active = self
            .segments
            .values_mut()
            .next_back()
            .expect("a log has a segment");
        active.append(&mut parts, &infos, config)?;
        self.producer_state.commit(staged, next);
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time,
            bytes: batches.len(),
            records,
            duplicate: false,
        })
    }

    /// Writes a transaction marker for `producer_id` (the coordinator's
    /// WriteTxnMarkers, bypassing the validator's rule against control
    /// batches from clients) at the log end offset, checked as Kafka's
    /// `ProducerAppendInfo.appendEndTxnMarker` does. It ends the producer's
    /// open transaction, if any: an aborted one gets a `.txnindex` entry in
    /// the active segment, and the last stable offset moves. A marker for a
    /// producer with no open transaction is written all the same. Not
    /// durable until flushed.
    ///
    /// # Errors
    /// [`LogError::InvalidProducerEpoch`] for an epoch older than the
    /// producer's, [`LogError::TransactionCoordinatorFenced`] for a
    /// coordinator epoch older than its last marker's (nothing written);
    /// I/O errors as [`Log::append`].
    pub fn append_control(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
    ) -> Result<AppendInfo> {
        self.check_writable()?;
        let result = self.append_marker(producer_id, producer_epoch, marker);
        self.fail_stop(result)
    }

    fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
    ) -> Result<AppendInfo> {
        let now = now_ms();
        let offset = self.log_end_offset();
        let (entry, completed) = self.producer_state.prepare_marker(
            producer_id,
            producer_epoch,
            &marker,
            offset,
            now,
        )?;
        self.leader_epochs.flush()?;
        let mut bytes = control::build_control_batch(producer_id, producer_epoch, &marker, now);
        batch::set_base_offset(&mut bytes, offset);
        batch::set_partition_leader_epoch(&mut bytes, self.leader_epoch());
        if self.config.log_append_time {
            batch::set_log_append_time(&mut bytes, now);
        }
        if self
            .active()
            .should_roll(&self.config, bytes.len(), now, offset, now)
        {
            self.roll_segment()?;
        }
        let info = BatchInfo {
            position: 0,
            size: bytes.len(),
            last_offset: offset,
            max_timestamp: now,
        };
        let config = &self.config;
        let active = self
            .segments
            .values_mut()
            .next_back()
            .expect("a log has a segment");
        active.append(&mut [IoSlice::new(&bytes)], &[info], config)?;
        self.producer_state.commit(vec![entry], offset + 1);
        if let Some(txn) = completed {
            self.index_completed_txn(&txn)?;
        }
        Ok(AppendInfo {
            base_offset: offset,
            last_offset: offset,
            log_append_time: if self.config.log_append_time { now } else { -1 },
            bytes: bytes.len(),
            records: 1,
            duplicate: false,
        })
    }

    /// Kafka's `updateTxnIndex` for a transaction just completed (its
    /// producer's entry already updated): an aborted one is indexed in the
    /// segment holding its marker, with the last stable offset after it.
    fn index_completed_txn(&mut self, txn: &CompletedTxn) -> Result<()> {
        if !txn.is_aborted {
            return Ok(());
        }
        let lso = self.producer_state.last_stable_offset_after(txn);
        let Some((_, seg)) = self.segments.range_mut(..=txn.last_offset).next_back() else {
            return Ok(());
        };
        seg.txn_index_mut().append(TxnIndexEntry {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset: lso,
        })
    }

    /// Writes the leader epoch checkpoint if it changed, where a failure
    /// must not fail the operation (open, retention, close: retention frees
    /// a full disk): the cache stays dirty and is written before the next
    /// append, which fails on the error instead.
    fn flush_leader_epochs(&mut self) {
        if let Err(e) = self.leader_epochs.flush() {
            tracing::warn!(
                "{}: leader epoch checkpoint not written: {e}",
                self.dir.display()
            );
        }
    }

    /// The current leader epoch (the cache's latest; 0 for a single broker).
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epochs
            .latest_epoch()
            .unwrap_or(FIRST_LEADER_EPOCH)
    }

    /// The partition's leader epoch cache.
    pub fn leader_epoch_cache(&self) -> &LeaderEpochFileCache {
        &self.leader_epochs
    }

    /// OffsetForLeaderEpoch: (epoch, end offset) of `epoch`, with Kafka's
    /// `LeaderEpochFileCache.endOffsetFor` semantics (the latest epoch ends
    /// at the log end offset; (-1, -1) for an unknown epoch above all).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.leader_epochs
            .end_offset_for(epoch, self.log_end_offset())
    }

    /// First offset of the oldest open transaction (Kafka's
    /// `firstUnstableOffset`), never below the log start offset; `None`
    /// when no transaction is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producer_state
            .first_unstable_offset()
            .map(|o| o.max(self.log_start_offset))
    }

    /// The last stable offset: the first unstable offset, else the log end
    /// offset (the high watermark of a single broker). A read_committed
    /// consumer reads below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.first_unstable_offset()
            .unwrap_or_else(|| self.log_end_offset())
            .min(self.log_end_offset())
    }

    /// The aborted transactions whose range overlaps `[start, upper)`, from
    /// the `.txnindex` of the segment holding `start` onwards (Kafka's
    /// `collectAbortedTransactions`): what a read_committed Fetch returns.
    ///
    /// # Errors
    /// An I/O error, or [`LogError::Corrupt`] for a `.txnindex` that does
    /// not read back.
    pub fn aborted_transactions(&self, start: i64, upper: i64) -> Result<Vec<AbortedTxn>> {
        self.check_online()?;
        let floor = self
            .segments
            .range(..=start)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        let mut out = Vec::new();
        for seg in self.segments.range(floor..).map(|(_, s)| s) {
            let (found, complete) = seg.txn_index().collect_aborted_txns(start, upper)?;
            out.extend(found);
            if complete {
                break;
            }
        }
        Ok(out)
    }

    /// Starts a new active segment at the log end offset: the old one gets its
    /// final time index entry, trimmed indexes and an fdatasync.
    pub fn roll(&mut self) -> Result<()> {
        self.check_writable()?;
        let result = self.roll_segment();
        self.fail_stop(result)
    }

    fn roll_segment(&mut self) -> Result<()> {
        let next = self.log_end_offset();
        if self.active().base_offset() == next {
            return Ok(());
        }
        let old = self.active_mut();
        old.finish()?;
        let flushed = old.flush();
        self.fail_stop_sync(flushed)?;
        let seg = LogSegment::create(&self.dir, next, &self.config)?;
        self.segments.insert(next, seg);
        sync_dir(&self.dir)?;
        // The old segment is on disk: the state of everything below `next`
        // can be snapshotted.
        self.producer_state.set_map_end_offset(next);
        self.producer_state.take_snapshot()?;
        self.delete_old_snapshots()
    }

    /// Keeps the snapshots of the last two segments and of the segment
    /// holding the recovery point (Kafka's
    /// `deleteSnapshotsAfterRecoveryPointCheckpoint`), deletes older ones.
    fn delete_old_snapshots(&self) -> Result<()> {
        let second_last = self.segments.keys().rev().nth(1).copied();
        let holding_recovery = self
            .segments
            .range(..=self.recovery_point)
            .next_back()
            .map(|(b, _)| *b);
        let keep_from = match (second_last, holding_recovery) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Ok(()),
        };
        self.producer_state.delete_snapshots_before(keep_from)
    }

    fn check_range(&self, offset: i64) -> Result<()> {
        let (start, end) = (self.log_start_offset, self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange { offset, start, end });
        }
        Ok(())
    }

    /// Whole batches from the one containing `offset`, at most `max_bytes`
    /// (but at least one batch if `min_one`). Empty at the log end;
    /// `OffsetOutOfRange` outside `[log start, log end]`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Option<ReadSlice>> {
        self.check_online()?;
        let result = self.read_slice(offset, max_bytes, min_one);
        self.fail_stop(result)
    }

    /// [`Log::read`] limited to whole batches whose base offset is below
    /// `max_offset` (a read_committed fetch passes the last stable offset,
    /// always a batch boundary): `None` when the first batch starts at or
    /// past it, even with `min_one`.
    pub fn read_bounded(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Option<ReadSlice>> {
        self.check_online()?;
        let result = self.read_slice_bounded(offset, max_bytes, min_one, max_offset);
        self.fail_stop(result)
    }

    fn read_slice_bounded(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Option<ReadSlice>> {
        self.check_range(offset)?;
        if max_offset >= self.log_end_offset() {
            return self.read_slice(offset, max_bytes, min_one);
        }
        if offset >= max_offset {
            return Ok(None);
        }
        let Some((slice_base, slice)) = self.read_slice_in(offset, max_bytes, min_one)? else {
            return Ok(None);
        };
        // The segment `max_offset` falls in, and where its batches reach it.
        let Some((&max_base, seg)) = self.segments.range(..=max_offset).next_back() else {
            return Ok(Some(slice));
        };
        if max_base > slice_base {
            return Ok(Some(slice));
        }
        if max_base < slice_base {
            // No batch at or past `offset` below `max_offset`.
            return Ok(None);
        }
        // The first batch reaching `max_offset` is where the slice ends: a
        // batch holding it (possible when the last stable offset is clamped
        // to a log start offset inside a batch) is left out too, so only
        // batches wholly below `max_offset` are returned.
        let bound = match seg.find(max_offset)? {
            Some((pos, _)) => pos,
            None => return Ok(Some(slice)),
        };
        if bound <= slice.position {
            return Ok(None);
        }
        let len = slice.len.min((bound - slice.position) as usize);
        Ok(Some(ReadSlice { len, ..slice }))
    }

    fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Option<ReadSlice>> {
        Ok(self
            .read_slice_in(offset, max_bytes, min_one)?
            .map(|(_, slice)| slice))
    }

    /// [`Self::read_slice`] with the base offset of the segment read.
    fn read_slice_in(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Option<(i64, ReadSlice)>> {
        self.check_range(offset)?;
        let floor = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(floor..).map(|(_, s)| s) {
            if let Some((position, len)) = seg.read(offset, max_bytes, min_one)? {
                if len == 0 {
                    return Ok(None);
                }
                return Ok(Some((
                    seg.base_offset(),
                    ReadSlice {
                        file: seg.file()?,
                        position,
                        len,
                    },
                )));
            }
        }
        Ok(None)
    }

    /// The first offset whose timestamp is >= `timestamp`, with that
    /// timestamp; `None` if no record is that late.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp() < timestamp {
                continue;
            }
            if let Some(found) = seg.find_by_timestamp(timestamp, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// First offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset().max(self.active().base_offset())
    }

    /// Offset below which everything is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The config in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the config (after `topics alter`).
    pub fn set_config(&mut self, config: LogConfig) {
        self.producer_state
            .set_producer_id_expiration_ms(config.producer_id_expiration_ms);
        self.config = config;
    }

    /// The active segment's file and the log end offset it will be durable
    /// up to once synced; for [`super::GroupCommit`].
    pub fn sync_target(&self) -> (Arc<File>, i64) {
        let file = self
            .active()
            .active_file()
            .expect("the active segment keeps its file open")
            .clone();
        (file, self.log_end_offset())
    }

    /// Records that everything below `offset` is on disk (advances the recovery point).
    pub fn mark_flushed(&mut self, offset: i64) {
        let offset = offset.min(self.log_end_offset());
        if offset > self.recovery_point && self.check_online().is_ok() {
            self.recovery_point = offset;
            self.publish_checkpoint();
        }
    }

    /// fdatasyncs everything appended so far and advances the recovery point.
    pub fn flush(&mut self) -> Result<()> {
        self.check_writable()?;
        let end = self.log_end_offset();
        if end > self.recovery_point {
            let flushed = self.active().flush();
            self.fail_stop_sync(flushed)?;
        }
        self.mark_flushed(end);
        Ok(())
    }

    /// Starts writing the active segment's dirty pages to disk without
    /// waiting (sync_file_range), so that a later [`Log::flush`] finds little
    /// left to do and a long append run does not pile up dirty pages. Not a
    /// durability point.
    pub fn start_writeback(&self) -> Result<()> {
        self.check_writable()?;
        let seg = self.active();
        let (file, path) = (seg.file()?, seg.log_path());
        // SAFETY: sync_file_range on a valid descriptor; 0, 0 means the whole file.
        let rc =
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        if rc != 0 {
            return Err(io_err(path)(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn delete_oldest(&mut self) -> Result<()> {
        if let Some((_, seg)) = self.segments.pop_first() {
            tracing::debug!("deleting segment {}", seg.log_path().display());
            seg.delete()?;
        }
        Ok(())
    }

    fn second_base(&self) -> Option<i64> {
        self.segments.keys().nth(1).copied()
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes` (never
    /// the active one) and moves the log start offset; returns segments deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
        self.check_writable()?;
        let result = self.delete_expired(now_ms);
        self.fail_stop(result)
    }

    fn delete_expired(&mut self, now_ms: i64) -> Result<usize> {
        let expired = self.producer_state.remove_expired_producers(now_ms);
        if expired > 0 {
            tracing::debug!("{}: {expired} producer ids expired", self.dir.display());
        }
        let mut deleted = 0;
        while self
            .second_base()
            .is_some_and(|b| b <= self.log_start_offset)
        {
            self.delete_oldest()?;
            deleted += 1;
        }
        if self.config.delete && self.config.retention_ms >= 0 {
            while self.segments.len() > 1
                && now_ms - self.first_segment().largest_timestamp() > self.config.retention_ms
            {
                self.delete_oldest()?;
                deleted += 1;
            }
        }
        if self.config.delete && self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            while self.segments.len() > 1 && excess - self.first_segment().size() as i64 >= 0 {
                excess -= self.first_segment().size() as i64;
                self.delete_oldest()?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            let first = self.first_segment().base_offset();
            if first > self.log_start_offset {
                self.log_start_offset = first;
            }
            self.publish_checkpoint();
            self.producer_state
                .on_log_start_offset_incremented(self.log_start_offset)?;
            self.leader_epochs
                .truncate_from_start(self.log_start_offset);
            self.flush_leader_epochs();
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// Moves the log start offset forward (DeleteRecords), deleting segments below it.
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<()> {
        self.check_writable()?;
        if offset > self.log_end_offset() {
            return Err(LogError::OffsetOutOfRange {
                offset,
                start: self.log_start_offset,
                end: self.log_end_offset(),
            });
        }
        if offset <= self.log_start_offset {
            return Ok(());
        }
        self.log_start_offset = offset;
        self.apply_retention_below_start()?;
        self.producer_state
            .on_log_start_offset_incremented(offset)?;
        self.leader_epochs.truncate_from_start(offset);
        self.flush_leader_epochs();
        self.publish_checkpoint();
        Ok(())
    }

    fn apply_retention_below_start(&mut self) -> Result<()> {
        let mut deleted = false;
        while self
            .second_base()
            .is_some_and(|b| b <= self.log_start_offset)
        {
            self.delete_oldest()?;
            deleted = true;
        }
        if deleted {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Base offset of the active segment.
    pub fn active_base(&self) -> i64 {
        self.active().base_offset()
    }

    /// Offset up to which the cleaner has cleaned since the log was opened.
    pub fn cleaned_up_to(&self) -> i64 {
        self.cleaned_up_to
    }

    /// Records how far the cleaner got.
    pub(crate) fn set_cleaned_up_to(&mut self, offset: i64) {
        self.cleaned_up_to = offset;
    }

    /// Takes a segment out of the log (the cleaner's swap).
    pub(crate) fn remove_segment(&mut self, base: i64) -> Option<LogSegment> {
        self.segments.remove(&base)
    }

    /// Puts a segment into the log (the cleaner's swap).
    pub(crate) fn insert_segment(&mut self, seg: LogSegment) {
        self.segments.insert(seg.base_offset(), seg);
    }

    /// Flushes, trims indexes and closes cleanly.
    pub fn close(mut self) -> Result<()> {
        self.close_in_place()
    }

    /// [`Log::close`] for a log behind a lock: after it, the log must not be used.
    pub fn close_in_place(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        if let Err(offline) = self.check_online() {
            // Nothing more is written, and the next start recovers.
            self.closed = true;
            if let Some(c) = &self.checkpoint {
                c.release(false);
            }
            return Err(offline);
        }
        self.active_mut().finish()?;
        self.flush()?;
        self.flush_leader_epochs();
        // A clean close leaves the whole state in a snapshot at the log end,
        // so the next open replays nothing. Without it (a full disk) the
        // next open replays from an older one: slower, as correct.
        self.producer_state
            .set_map_end_offset(self.log_end_offset());
        if let Err(e) = self.producer_state.take_snapshot() {
            tracing::warn!("{}: producer snapshot not written: {e}", self.dir.display());
        }
        self.closed = true;
        if let Some(c) = &self.checkpoint {
            c.release(true);
        }
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Best effort: leave the indexes trimmed so the next open is fast
        // (not on an offline directory, where nothing more is written).
        if self.check_online().is_ok()
            && let Err(e) = self.active_mut().finish()
        {
            tracing::warn!("{}: {e}", self.dir.display());
        }
        let clean = self.recovery_point >= self.log_end_offset();
        if let Some(c) = &self.checkpoint {
            c.release(clean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_support::{batch, simple};
    use crate::record::batch::BatchIter;

    fn small_config() -> LogConfig {
        let mut c = LogConfig::default();
        c.segment_bytes = 2000;
        c.index_interval_bytes = 200;
        c.segment_index_bytes = 4096;
        c
    }

    fn slice_bytes(s: &ReadSlice) -> Vec<u8> {
        s.read_to_vec().unwrap()
    }

    /// Appends `n` batches of 1..=4 records, returns (base, last) per batch.
    fn fill(log: &mut Log, n: usize, ts0: i64) -> Vec<(i64, i64)> {
        (0..n)
            .map(|i| {
                let b = simple(
                    1 + i % 4,
                    ts0 + i as i64,
                    format!("value-{i:04}").as_bytes(),
                );
                let info = log.append(&b).unwrap();
                assert_eq!(info.records, 1 + i % 4);
                (info.base_offset, info.last_offset)
            })
            .collect()
    }

    fn check_reads(log: &Log, batches: &[(i64, i64)]) {
        for &(base, last) in batches {
            for off in base..=last {
                let s = log.read(off, 300, true).unwrap().unwrap();
                let bytes = slice_bytes(&s);
                let mut it = BatchIter::new(&bytes);
                let (h, _) = it.next().unwrap();
                assert_eq!(
                    (h.base_offset, h.last_offset()),
                    (base, last),
                    "offset {off}"
                );
                assert!(it.by_ref().count() < 10);
                assert_eq!(it.position(), bytes.len(), "whole batches only");
            }
        }
    }

    #[test]
    fn append_read_roll_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, report) = Log::open(dir.path(), small_config(), false).unwrap();
        assert_eq!(report, RecoveryReport::default());
        let batches = fill(&mut log, 60, 1000);
        assert_eq!(log.log_end_offset(), batches.last().unwrap().1 + 1);
        assert!(log.segment_count() > 3, "rolled by size");
        for seg in log.segments() {
            assert!(seg.size() <= 2000);
            assert!(seg.offset_index().entries() > 0 || seg.size() < 400);
        }
        check_reads(&log, &batches);
        let end = log.log_end_offset();
        assert!(log.read(end, 1000, true).unwrap().is_none());
        assert!(matches!(
            log.read(end + 1, 1000, true),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        // max_bytes smaller than the first batch.
        assert!(log.read(0, 10, false).unwrap().is_none());
        assert!(log.read(0, 10, true).unwrap().unwrap().len > 10);
        let (segments, size) = (log.segment_count(), log.size_bytes());
        log.close().unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.contains(&"00000000000000000000.log".to_string()));
        assert!(names.contains(&"00000000000000000000.timeindex".to_string()));
        let (log, report) = Log::open(dir.path(), small_config(), false).unwrap();
        assert_eq!(report.indexes_rebuilt, 0);
        assert_eq!((log.segment_count(), log.size_bytes()), (segments, size));
        assert_eq!(log.log_end_offset(), end);
        check_reads(&log, &batches);
    }

    /// Whether the segments before the active one hold no descriptors of
    /// their own, and the active one holds its `.log`.
    fn only_active_holds_its_file(log: &Log) -> bool {
        let n = log.segment_count();
        log.segments()
            .enumerate()
            .all(|(i, s)| s.active_file().is_some() == (i + 1 == n))
    }

    #[test]
    fn inactive_segments_hold_no_descriptors_and_still_serve_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let batches = fill(&mut log, 60, 1000);
        assert!(log.segment_count() > 3);
        assert!(only_active_holds_its_file(&log));
        check_reads(&log, &batches);
        assert_eq!(
            log.offset_for_timestamp(1030).unwrap().map(|(_, t)| t),
            Some(1030)
        );
        log.close().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        assert!(only_active_holds_its_file(&log));
        check_reads(&log, &batches);
        // Appends go on to roll new segments.
        let more = fill(&mut log, 20, 2000);
        assert!(only_active_holds_its_file(&log));
        check_reads(&log, &more);
    }

    #[test]
    fn roll_by_segment_ms_from_first_batch_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LogConfig::default();
        c.segment_ms = 1000;
        let (mut log, _) = Log::open(dir.path(), c, false).unwrap();
        for ts in [10_000, 10_500, 11_000] {
            log.append(&simple(1, ts, b"x")).unwrap();
        }
        assert_eq!(log.segment_count(), 1);
        log.append(&simple(1, 11_001, b"x")).unwrap();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(log.segments().nth(1).unwrap().base_offset(), 3);
    }

    #[test]
    fn stale_and_missing_indexes_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let batches = fill(&mut log, 80, 0);
        log.close().unwrap();
        let bases = list_segments(dir.path()).unwrap();
        assert!(bases.len() >= 4, "{} segments", bases.len());
        // A missing index is rebuilt (both of its segment's indexes).
        std::fs::remove_file(dir.path().join("00000000000000000000.index")).unwrap();
        // So is one whose length is not whole entries (Kafka's sanity check).
        let idx1 = segment::segment_file(dir.path(), bases[1], INDEX_SUFFIX);
        let mut torn = std::fs::read(&idx1).unwrap();
        torn.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&idx1, &torn).unwrap();
        // Garbage of the right length in an inactive index is not read at
        // open (as in Kafka, entries below the recovery point are trusted):
        // a lookup whose entry does not match the log scans instead.
        let idx2 = segment::segment_file(dir.path(), bases[2], INDEX_SUFFIX);
        let mut garbage = std::fs::read(&idx2).unwrap();
        assert!(garbage.len() >= 16);
        garbage[4..8].copy_from_slice(&7u32.to_be_bytes());
        std::fs::write(&idx2, &garbage).unwrap();
        let (log, report) = Log::open(dir.path(), small_config(), false).unwrap();
        assert_eq!(report.indexes_rebuilt, 4);
        assert_eq!(report.bytes_removed, 0);
        check_reads(&log, &batches);
    }

    /// Where `path` is mapped into this process (`/proc/self/maps`).
    fn mapped(path: &Path) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let name = path.to_str().unwrap();
        maps.lines().any(|l| l.contains(name))
    }

    #[test]
    fn inactive_indexes_are_mapped_only_at_first_lookup_and_unmapped_at_delete() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let batches = fill(&mut log, 120, 1_000);
        assert!(log.segment_count() >= 5);
        let times: Vec<_> = (990..1_130)
            .map(|t| log.offset_for_timestamp(t).unwrap())
            .collect();
        let entries: Vec<_> = log
            .segments()
            .map(|s| (s.offset_index().entries(), s.time_index().entries()))
            .collect();
        let lazy = |log: &Log| {
            let active = log.active_base();
            for s in log.segments().filter(|s| s.base_offset() != active) {
                for (mapped, in_memory) in [
                    (
                        s.offset_index().is_mapped(),
                        s.offset_index().is_in_memory(),
                    ),
                    (s.time_index().is_mapped(), s.time_index().is_in_memory()),
                ] {
                    assert!(!mapped && !in_memory, "segment {}", s.base_offset());
                }
            }
            assert!(log.active().offset_index().is_in_memory());
        };
        // Segments rolled in this process drop their entries from memory.
        drop(log);
        for reopen in 0..2 {
            use crate::log::index_file::BYTES_READ;
            BYTES_READ.with(|c| c.set(0));
            let (mut log, report) = Log::open(dir.path(), small_config(), false).unwrap();
            assert_eq!(report, RecoveryReport::default());
            // Opening read no inactive index, only the active segment's
            // (trimmed at close: its entries exactly); none is mapped or in
            // memory.
            let active = log.active();
            let active_bytes = active.offset_index().entries()
                * crate::log::offset_index::ENTRY_SIZE
                + active.time_index().entries() * crate::log::time_index::ENTRY_SIZE;
            assert_eq!(BYTES_READ.with(|c| c.get()), active_bytes);
            lazy(&log);
            // Lookups map them and find what they found before.
            check_reads(&log, &batches);
            let again: Vec<_> = (990..1_130)
                .map(|t| log.offset_for_timestamp(t).unwrap())
                .collect();
            assert_eq!(again, times);
            let active = log.active_base();
            for (s, &(e, t)) in log.segments().zip(&entries) {
                assert_eq!(
                    (s.offset_index().entries(), s.time_index().entries()),
                    (e, t)
                );
                if s.base_offset() != active && e > 0 {
                    assert!(s.offset_index().is_mapped(), "segment {}", s.base_offset());
                    assert!(mapped(s.offset_index().path()));
                }
            }
            if reopen == 0 {
                continue;
            }
            // A deleted segment's mappings go with it.
            let first = log.segments().next().unwrap();
            let (index, time_index) = (
                first.offset_index().path().to_path_buf(),
                first.time_index().path().to_path_buf(),
            );
            assert!(mapped(&index) && mapped(&time_index));
            let second = log.segments().nth(1).unwrap().base_offset();
            log.advance_log_start_offset(second).unwrap();
            assert!(!index.exists());
            assert!(!mapped(&index) && !mapped(&time_index));
        }
    }

    #[test]
    fn recovery_cuts_a_torn_last_batch_at_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let batches = fill(&mut log, 12, 0);
        let last = simple(3, 99, b"the last batch");
        let info = log.append(&last).unwrap();
        drop(log);
        let bases = list_segments(dir.path()).unwrap();
        let path = segment::segment_file(dir.path(), *bases.last().unwrap(), LOG_SUFFIX);
        let full = std::fs::read(&path).unwrap();
        let start = full.len() - last.len();
        for cut in start..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (log, report) = Log::open(dir.path(), small_config(), true).unwrap();
            assert_eq!(log.log_end_offset(), info.base_offset, "cut at {cut}");
            if cut > start {
                assert_eq!(report.truncated_file.as_deref(), Some(path.as_path()));
                assert_eq!(report.position, start as u64);
                assert_eq!(report.bytes_removed, (cut - start) as u64);
            } else {
                assert_eq!(report.truncated_file, None);
            }
            assert_eq!(std::fs::metadata(&path).unwrap().len(), start as u64);
            check_reads(&log, &batches);
            drop(log);
        }
        // The whole batch back: nothing to cut.
        std::fs::write(&path, &full).unwrap();
        let (log, report) = Log::open(dir.path(), small_config(), true).unwrap();
        assert_eq!(report.bytes_removed, 0);
        assert_eq!(log.log_end_offset(), info.last_offset + 1);
    }

    /// The legacy (v0/v1) segment Apache Kafka wrote in tests/fixtures.
    const KAFKA_LEGACY: &[u8] =
        include_bytes!("../../tests/fixtures/kafka/legacy-0/00000000000000000000.log");

    #[test]
    fn legacy_segments_are_loaded_recovered_and_read_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment::segment_file(dir.path(), 0, LOG_SUFFIX);
        std::fs::write(&path, KAFKA_LEGACY).unwrap();
        let (mut log, report) = Log::open(dir.path(), small_config(), true).unwrap();
        assert_eq!(report.truncated_file, None);
        assert_eq!(report.bytes_removed, 0);
        assert_eq!(log.log_end_offset(), 9);
        let all = log.read(0, 1 << 20, true).unwrap().unwrap();
        assert_eq!(slice_bytes(&all), KAFKA_LEGACY);
        // Offset 5 is inside the gzip v1 wrapper at byte 155 (offsets 4..=6).
        assert_eq!(log.read(5, 1 << 20, true).unwrap().unwrap().position, 155);
        assert_eq!(
            log.offset_for_timestamp(1_600_000_000_008).unwrap(),
            Some((4, 1_600_000_000_010))
        );
        // v2 batches appended after the legacy messages (a format upgrade).
        let info = log.append(&simple(2, 1_700_000_000_000, b"v2")).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (9, 10));
        drop(log);
        for recover in [true, false] {
            let (log, report) = Log::open(dir.path(), small_config(), recover).unwrap();
            assert_eq!(report.bytes_removed, 0, "recover={recover}");
            assert_eq!(log.log_end_offset(), 11);
            assert_eq!(
                &std::fs::read(&path).unwrap()[..KAFKA_LEGACY.len()],
                KAFKA_LEGACY
            );
        }
    }

    #[test]
    fn recovery_cuts_only_the_torn_tail_of_a_legacy_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment::segment_file(dir.path(), 0, LOG_SUFFIX);
        // The last entry (a v0 gzip wrapper at byte 280) is torn.
        std::fs::write(&path, &KAFKA_LEGACY[..300]).unwrap();
        let (log, report) = Log::open(dir.path(), small_config(), true).unwrap();
        assert_eq!(report.truncated_file.as_deref(), Some(path.as_path()));
        assert_eq!((report.position, report.bytes_removed), (280, 20));
        assert_eq!(log.log_end_offset(), 7);
        assert_eq!(std::fs::read(&path).unwrap(), &KAFKA_LEGACY[..280]);
    }

    #[test]
    fn corruption_in_an_inactive_segment_fails_the_open_and_cuts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        fill(&mut log, 40, 0);
        drop(log);
        let bases = list_segments(dir.path()).unwrap();
        assert!(bases.len() >= 3);
        let path = segment::segment_file(dir.path(), bases[1], LOG_SUFFIX);
        let mut bytes = std::fs::read(&path).unwrap();
        let mut it = BatchIter::new(&bytes);
        let (_, b0) = it.next().unwrap();
        let second = b0.len();
        bytes[second + 66] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let snapshot = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            let mut files: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e != "deleted"))
                .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
                .collect();
            files.sort();
            files
        };
        let before = snapshot(dir.path());
        match Log::open(dir.path(), small_config(), true) {
            Err(LogError::Corrupt {
                path: p, position, ..
            }) => {
                assert_eq!(p, path);
                assert_eq!(position, second as u64);
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a corrupt inactive segment opened"),
        }
        assert_eq!(
            snapshot(dir.path()),
            before,
            "no segment was cut or deleted"
        );
    }

    #[test]
    fn invalid_batches_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = small_config();
        c.max_message_bytes = 200;
        let (mut log, _) = Log::open(dir.path(), c, false).unwrap();
        let good = simple(2, 5, b"ok");
        let mut bad = simple(1, 5, b"bad");
        bad[70] ^= 1;
        let both = [good.clone(), bad].concat();
        assert!(matches!(log.append(&both), Err(LogError::CorruptBatch(_))));
        let big = simple(1, 5, &[7u8; 300]);
        assert!(matches!(
            log.append(&big),
            Err(LogError::RecordTooLarge { .. })
        ));
        assert!(log.append(&[0u8; 30]).is_err());
        assert_eq!(log.size_bytes(), 0);
        log.append(&good).unwrap();
        assert_eq!(log.log_end_offset(), 2);
    }

    #[test]
    fn append_corrects_a_max_timestamp_that_disagrees_with_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let mut lying = batch(&[(10, None, Some(b"a")), (30, None, Some(b"b"))]);
        lying[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&i64::MAX.to_be_bytes());
        batch::update_crc(&mut lying);
        log.append(&lying).unwrap();
        let bytes = slice_bytes(&log.read(0, 1000, true).unwrap().unwrap());
        let h = batch::validate(&bytes).unwrap();
        assert_eq!(h.max_timestamp, 30, "maxTimestamp recomputed, CRC valid");
        assert_eq!(log.offset_for_timestamp(31).unwrap(), None);
    }

    #[test]
    fn one_append_of_more_batches_than_one_pwritev_takes() {
        // 1,500 batches are 3,000 buffers: three pwritev calls.
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), LogConfig::default(), false).unwrap();
        let input: Vec<u8> = (0..1500)
            .flat_map(|i| simple(1 + i % 3, i as i64, format!("v{i}").as_bytes()))
            .collect();
        let before = input.clone();
        let info = log.append(&input).unwrap();
        assert_eq!(input, before, "the input is not modified");
        assert_eq!((info.base_offset, info.bytes), (0, input.len()));
        let bytes = slice_bytes(&log.read(0, usize::MAX, true).unwrap().unwrap());
        assert_eq!(bytes.len(), input.len());
        let mut next = 0;
        let mut it = BatchIter::new(&bytes);
        for (h, batch) in it.by_ref() {
            batch::validate(batch).unwrap();
            assert_eq!(h.base_offset, next);
            next = h.last_offset() + 1;
        }
        assert_eq!(next, info.last_offset + 1);
        assert_eq!(it.position(), bytes.len());
    }

    #[test]
    fn log_append_time_rewrites_max_timestamp_and_crc() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = small_config();
        c.log_append_time = true;
        let (mut log, _) = Log::open(dir.path(), c, false).unwrap();
        let info = log.append(&simple(2, 5, b"v")).unwrap();
        assert!(info.log_append_time > 1_600_000_000_000);
        let bytes = slice_bytes(&log.read(0, 1000, true).unwrap().unwrap());
        let h = batch::validate(&bytes).unwrap();
        assert_eq!(h.max_timestamp, info.log_append_time);
        assert_ne!(h.attributes & ATTR_TIMESTAMP_TYPE, 0);
        assert_eq!(h.base_timestamp, 5);
    }

    #[test]
    fn offset_for_timestamp_uses_the_time_index() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        for i in 0..100i64 {
            // Timestamps 0, 10, 20, ... with one late-arriving older record.
            let ts = if i == 50 { 5 } else { i * 10 };
            log.append(&simple(1, ts, b"record-value")).unwrap();
        }
        assert!(log.segment_count() > 2);
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
        assert_eq!(log.offset_for_timestamp(1).unwrap(), Some((1, 10)));
        assert_eq!(log.offset_for_timestamp(495).unwrap(), Some((51, 510)));
        assert_eq!(log.offset_for_timestamp(500).unwrap(), Some((51, 510)));
        assert_eq!(log.offset_for_timestamp(990).unwrap(), Some((99, 990)));
        assert_eq!(log.offset_for_timestamp(991).unwrap(), None);
        for t in (0..990).step_by(7) {
            let (off, ts) = log.offset_for_timestamp(t).unwrap().unwrap();
            assert!(ts >= t);
            let expect = (0..100).find(|&i| i != 50 && i * 10 >= t).unwrap();
            assert_eq!(off, expect, "timestamp {t}");
        }
    }

    #[test]
    fn retention_by_time_and_size_keeps_the_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = small_config();
        c.retention_ms = 1000;
        let (mut log, _) = Log::open(dir.path(), c.clone(), false).unwrap();
        fill(&mut log, 60, 10_000);
        let segs = log.segment_count();
        assert_eq!(log.apply_retention(10_500).unwrap(), 0);
        // Everything is old: all but the active segment go.
        assert_eq!(log.apply_retention(100_000).unwrap(), segs - 1);
        assert_eq!(log.segment_count(), 1);
        assert_eq!(
            log.log_start_offset(),
            log.segments().next().unwrap().base_offset()
        );
        assert!(log.read(0, 100, true).is_err());

        let dir = tempfile::tempdir().unwrap();
        c.retention_ms = -1;
        c.retention_bytes = 3000;
        let (mut log, _) = Log::open(dir.path(), c.clone(), false).unwrap();
        fill(&mut log, 60, 0);
        let deleted = log.apply_retention(i64::MAX).unwrap();
        assert!(deleted > 0);
        assert!(log.size_bytes() <= 3000 + 2000);
        let first = log.segments().next().unwrap().size();
        assert!(
            log.size_bytes() - first < 3000,
            "deleted only what was in excess"
        );
        let start = log.log_start_offset();
        assert!(start > 0);
        assert!(log.read(start, 100, true).unwrap().is_some());

        // compact-only topics are not subject to retention.
        c.delete = false;
        log.set_config(c);
        assert_eq!(log.apply_retention(i64::MAX).unwrap(), 0);
    }

    #[test]
    fn advance_log_start_offset_deletes_whole_segments_below() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        fill(&mut log, 60, 0);
        let second = log.segments().nth(1).unwrap().base_offset();
        let segs = log.segment_count();
        log.advance_log_start_offset(second + 1).unwrap();
        assert_eq!(log.segment_count(), segs - 1);
        assert_eq!(log.log_start_offset(), second + 1);
        assert!(log.read(second, 100, true).is_err());
        assert!(log.read(second + 1, 100, true).unwrap().is_some());
        assert!(
            log.advance_log_start_offset(log.log_end_offset() + 1)
                .is_err()
        );
    }

    #[test]
    fn read_only_view_stops_at_last_complete_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let batches = fill(&mut log, 30, 0);
        let end = log.log_end_offset();
        // A writer in the middle of an append: half a batch at the end.
        let (file, _) = log.sync_target();
        let half = simple(2, 1, b"half");
        use std::os::unix::fs::FileExt;
        let size = file.metadata().unwrap().len();
        file.write_all_at(&half[..40], size).unwrap();
        let mut ro = Log::open_read_only(dir.path(), small_config()).unwrap();
        assert_eq!(ro.log_end_offset(), end);
        check_reads(&ro, &batches);
        assert!(matches!(
            ro.append(&simple(1, 1, b"x")),
            Err(LogError::ReadOnly(_))
        ));
        file.set_len(size).unwrap();
        log.append(&simple(1, 1, b"more")).unwrap();
        ro.refresh().unwrap();
        assert_eq!(ro.log_end_offset(), end + 1);
        log.append(&simple(2, 1, b"before roll")).unwrap();
        log.roll().unwrap();
        log.append(&simple(1, 1, b"after roll")).unwrap();
        ro.refresh().unwrap();
        assert_eq!(ro.log_end_offset(), end + 4);
        assert_eq!(ro.segment_count(), log.segment_count());
        for off in end..end + 4 {
            let bytes = slice_bytes(&ro.read(off, 1000, true).unwrap().unwrap());
            assert!(batch::validate(&bytes).unwrap().last_offset() >= off);
        }
    }

    #[test]
    fn empty_batch_list_and_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        assert_eq!(log.append(&[]).unwrap().records, 0);
        log.append(&batch(&[(1, Some(b"k"), Some(b"v"))])).unwrap();
        assert_eq!(log.recovery_point(), 0);
        log.flush().unwrap();
        assert_eq!(log.recovery_point(), 1);
    }

    /// Unmounts a test filesystem when dropped.
    struct Unmount(std::ffi::CString);

    impl Drop for Unmount {
        fn drop(&mut self) {
            // SAFETY: umount2 on a path string we mounted.
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }

    /// Mounts a 256 KiB tmpfs; `None` where this process may not mount.
    fn small_filesystem(at: &Path) -> Option<Unmount> {
        use std::os::unix::ffi::OsStrExt;
        std::fs::create_dir_all(at).unwrap();
        let path = std::ffi::CString::new(at.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid NUL-terminated strings for mount(2).
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                path.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=256k".as_ptr().cast(),
            )
        };
        (rc == 0).then_some(Unmount(path))
    }

    #[test]
    fn full_disk_append_fails_cleanly_and_leaves_no_partial_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("small");
        let Some(_mounted) = small_filesystem(&mnt) else {
            eprintln!("skipped: cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)");
            return;
        };
        let log_dir = mnt.join("t-0");
        let mut c = small_config();
        c.segment_bytes = 1 << 20;
        c.max_message_bytes = 1 << 20;
        let (mut log, _) = Log::open(&log_dir, c.clone(), false).unwrap();
        let value = vec![b'x'; 10_000];
        let mut appended = Vec::new();
        let err = loop {
            let before = (log.log_end_offset(), log.size_bytes());
            match log.append(&simple(3, 1, &value)) {
                Ok(info) => appended.push((info.base_offset, info.last_offset)),
                Err(e) => {
                    assert_eq!((log.log_end_offset(), log.size_bytes()), before);
                    break e;
                }
            }
            assert!(appended.len() < 100, "the filesystem never filled");
        };
        match &err {
            LogError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(libc::ENOSPC)),
            other => panic!("expected ENOSPC, got {other}"),
        }
        let (file, _) = log.sync_target();
        assert_eq!(file.metadata().unwrap().len(), log.size_bytes());
        for &(base, last) in &appended {
            let bytes = slice_bytes(&log.read(base, 1, true).unwrap().unwrap());
            let h = batch::validate(&bytes).unwrap();
            assert_eq!((h.base_offset, h.last_offset()), (base, last));
        }
        drop(log);
        let (log, report) = Log::open(&log_dir, c, true).unwrap();
        assert_eq!(report.bytes_removed, 0);
        assert_eq!(log.log_end_offset(), appended.last().unwrap().1 + 1);
    }

    #[test]
    fn full_disk_with_preallocated_indexes_is_an_error_not_a_crash() {
        // Kafka's default 10 MiB indexes on a 256 KiB tmpfs: no index page
        // may be touched through a mapping (on tmpfs even reading a hole
        // through one allocates), or the process dies of SIGBUS.
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("small");
        let Some(_mounted) = small_filesystem(&mnt) else {
            eprintln!("skipped: cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)");
            return;
        };
        let log_dir = mnt.join("t-0");
        let mut c = LogConfig::default();
        c.index_interval_bytes = 100;
        let (mut log, _) = Log::open(&log_dir, c.clone(), false).unwrap();
        let value = vec![b'x'; 1_000];
        let mut appended = Vec::new();
        let err = loop {
            match log.append(&simple(3, 1, &value)) {
                Ok(info) => appended.push((info.base_offset, info.last_offset)),
                Err(e) => break e,
            }
            assert!(appended.len() < 1000, "the filesystem never filled");
        };
        assert!(
            matches!(&err, LogError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC)),
            "{err}"
        );
        check_reads(&log, &appended);
        // Restart on the full disk, after an unclean stop (indexes left
        // preallocated) and with recovery: it works and serves reads.
        drop(log);
        let (log, report) = Log::open(&log_dir, c.clone(), true).unwrap();
        assert_eq!(report.bytes_removed, 0);
        assert_eq!(log.log_end_offset(), appended.last().unwrap().1 + 1);
        check_reads(&log, &appended);
        log.close().unwrap();
        let (mut log, _) = Log::open(&log_dir, c, false).unwrap();
        check_reads(&log, &appended);
        // Still full: appends keep failing cleanly, reads keep working.
        let size = log.size_bytes();
        assert!(log.append(&simple(3, 1, &value)).is_err());
        assert_eq!(log.size_bytes(), size);
        check_reads(&log, &appended);
    }

    /// A batch of `n` records from producer `pid` at `epoch`, first sequence `seq`.
    fn idempotent(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
        let mut b = crate::record::BatchBuilder::new(crate::record::Compression::None, now_ms())
            .producer(pid, epoch, seq);
        for _ in 0..n {
            b.push(now_ms(), None, Some(b"v"), &[]);
        }
        b.finish()
    }

    /// Appends producer 7's batches of 2 records, sequences 0, 2, 4, ...
    fn produce(log: &mut Log, batches: i32) {
        for i in 0..batches {
            let info = log.append(&idempotent(7, 0, 2 * i, 2)).unwrap();
            assert!(!info.duplicate);
        }
    }

    fn snapshot_names(dir: &Path) -> Vec<i64> {
        crate::log::producer_state::list_snapshots(dir).unwrap()
    }

    #[test]
    fn duplicate_batch_is_answered_with_its_offsets_and_appends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        log.append(&simple(3, 0, b"plain")).unwrap();
        let first = log.append(&idempotent(7, 0, 0, 2)).unwrap();
        log.append(&idempotent(7, 0, 2, 1)).unwrap();
        let (end, size) = (log.log_end_offset(), log.size_bytes());
        let retry = log.append(&idempotent(7, 0, 0, 2)).unwrap();
        assert!(retry.duplicate);
        assert_eq!((retry.base_offset, retry.last_offset), (3, 4));
        assert_eq!((first.base_offset, first.last_offset), (3, 4));
        assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
        let gap = log.append(&idempotent(7, 0, 9, 1)).unwrap_err();
        assert!(matches!(gap, LogError::OutOfOrderSequence(_)), "{gap}");
        let fenced = log.append(&idempotent(7, -1, 3, 1));
        assert!(fenced.is_err());
        assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
    }

    #[test]
    fn producer_state_survives_clean_close_through_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        produce(&mut log, 100);
        assert!(
            log.segment_count() > 2,
            "rolled: {} segments, {} bytes",
            log.segment_count(),
            log.size_bytes()
        );
        let rolls = snapshot_names(dir.path());
        assert!(!rolls.is_empty(), "a snapshot at each roll");
        assert!(rolls.len() <= 3, "old snapshots deleted: {rolls:?}");
        let end = log.log_end_offset();
        log.close().unwrap();
        assert_eq!(snapshot_names(dir.path()).last(), Some(&end));
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        let e = log.producer_state().last_entry(7).unwrap();
        assert_eq!(e.last_seq(), 199);
        assert_eq!(
            e.batches.len(),
            1,
            "a snapshot keeps the last batch, as Kafka's"
        );
        let retry = log.append(&idempotent(7, 0, 198, 2)).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.last_offset, end - 1);
        log.append(&idempotent(7, 0, 200, 1)).unwrap();
    }

    #[test]
    fn producer_state_is_rebuilt_after_an_unclean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        produce(&mut log, 100);
        let end = log.log_end_offset();
        drop(log); // no close: only the roll snapshots exist
        let snaps = snapshot_names(dir.path());
        assert!(!snaps.is_empty() && snaps.last() < Some(&end), "{snaps:?}");
        let (mut log, _) = Log::open(dir.path(), small_config(), true).unwrap();
        // Replay after the last snapshot rebuilt the last five batches.
        for i in 95..100 {
            let retry = log.append(&idempotent(7, 0, 2 * i, 2)).unwrap();
            assert!(retry.duplicate, "batch {i}");
        }
        assert!(matches!(
            log.append(&idempotent(7, 0, 201, 1)),
            Err(LogError::OutOfOrderSequence(_))
        ));
        assert_eq!(log.log_end_offset(), end);
    }

    #[test]
    fn missing_or_corrupt_snapshots_fall_back_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        produce(&mut log, 100);
        let end = log.log_end_offset();
        log.close().unwrap();
        let snaps = snapshot_names(dir.path());
        let newest = crate::log::producer_state::snapshot_file(dir.path(), end);
        // Corrupt the newest: an older one plus replay is used.
        let mut bytes = std::fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&newest, &bytes).unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        assert!(log.append(&idempotent(7, 0, 198, 2)).unwrap().duplicate);
        assert!(!newest.exists(), "the corrupt snapshot is deleted");
        drop(log);
        // No snapshot at all: a full replay.
        for o in snaps {
            let _ = std::fs::remove_file(crate::log::producer_state::snapshot_file(dir.path(), o));
        }
        assert!(snapshot_names(dir.path()).is_empty());
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        assert!(log.append(&idempotent(7, 0, 196, 2)).unwrap().duplicate);
        assert!(matches!(
            log.append(&idempotent(7, 0, 0, 2)),
            Err(LogError::OutOfOrderSequence(_))
        ));
        assert_eq!(log.log_end_offset(), end);
    }

    #[test]
    fn producers_below_the_log_start_offset_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), small_config(), false).unwrap();
        log.append(&idempotent(8, 0, 0, 2)).unwrap();
        produce(&mut log, 100);
        let end = log.log_end_offset();
        log.advance_log_start_offset(end - 1).unwrap();
        assert!(log.producer_state().last_entry(8).is_none());
        assert!(log.producer_state().last_entry(7).is_some());
        assert!(snapshot_names(dir.path()).iter().all(|&o| o >= end - 1));
        // Its state is gone: a later sequence is accepted (KIP-360).
        assert!(!log.append(&idempotent(8, 0, 5, 1)).unwrap().duplicate);
    }

    #[test]
    fn retention_pass_expires_idle_producers() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = small_config();
        c.producer_id_expiration_ms = 60_000;
        let (mut log, _) = Log::open(dir.path(), c, false).unwrap();
        produce(&mut log, 1);
        log.apply_retention(now_ms()).unwrap();
        assert!(log.producer_state().last_entry(7).is_some());
        log.apply_retention(now_ms() + 61_000).unwrap();
        assert!(log.producer_state().last_entry(7).is_none());
    }

    /// Throughput of 1 MiB appends plus one final fdatasync, against a raw
    /// write + fdatasync of the same bytes (run with --ignored --nocapture).
    #[test]
    #[ignore]
    fn append_throughput() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let template = simple(9_000, 1, &[b'v'; 100]);
        let n = 256;
        let raw = dir.path().join("raw");
        let t = std::time::Instant::now();
        let mut f = File::create(&raw).unwrap();
        for _ in 0..n {
            f.write_all(&template).unwrap();
        }
        f.sync_data().unwrap();
        let raw_s = t.elapsed().as_secs_f64();
        let (mut log, _) = Log::open(&dir.path().join("t-0"), LogConfig::default(), false).unwrap();
        let buf = template.clone();
        let t = std::time::Instant::now();
        for _ in 0..n {
            log.append(&buf).unwrap();
        }
        log.flush().unwrap();
        let log_s = t.elapsed().as_secs_f64();
        let mb = (n * template.len()) as f64 / 1e6;
        eprintln!(
            "raw {:.0} MB/s, log {:.0} MB/s ({:.0} %), {:.2} M records/s",
            mb / raw_s,
            mb / log_s,
            100.0 * raw_s / log_s,
            (n * 9_000) as f64 / log_s / 1e6
        );
    }
}
