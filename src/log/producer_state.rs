//! Producer state of one partition (Kafka's `ProducerStateManager`, with
//! `ProducerAppendInfo`, `ProducerStateEntry` and `SnapshotFile`): per
//! producer id its epoch, the sequence and offset ranges of its last five
//! batches, its coordinator epoch, the first offset of its ongoing
//! transaction and the timestamp of its last batch. Owned by the partition's
//! [`super::Log`]; owns the `<20-digit offset>.snapshot` files beside the
//! segments.
//!
//! Appends are staged then committed, as in Kafka's `UnifiedLog.append`:
//! [`ProducerStateManager::prepare`] checks each batch of a produce request
//! (a duplicate of one of the last five batches is answered with its
//! original offsets and nothing is appended; an older epoch is
//! INVALID_PRODUCER_EPOCH; a new epoch not starting at sequence 0 and a
//! sequence gap are OUT_OF_ORDER_SEQUENCE_NUMBER; an unknown producer id is
//! accepted at any sequence, as Kafka 2.5+ does since KIP-360) and returns
//! the updated entries, which [`ProducerStateManager::commit`] applies once
//! the bytes are in the log. Sequences wrap from `i32::MAX` to 0.
//!
//! Transactions (Kafka's `ongoingTxns`, kept here as each entry's
//! `current_txn_first_offset`): a transactional data batch opens its
//! producer's transaction at its first offset if none is open (a
//! non-transactional batch while one is open is INVALID_TXN_STATE); a
//! marker ([`ProducerStateManager::prepare_marker`]) closes it and returns
//! the [`CompletedTxn`]. A marker with an epoch older than the producer's is
//! INVALID_PRODUCER_EPOCH, one with a coordinator epoch older than the last
//! marker's TRANSACTION_COORDINATOR_FENCED; a marker for a producer with no
//! open transaction is accepted and completes nothing. The first unstable
//! offset is the smallest first offset of the open transactions.
//!
//! Snapshot file (Kafka's version 1 schema, big endian):
//! ```text
//! version                   int16   1
//! crc                       uint32  CRC32C of every byte after this field
//! producer_entries          int32 count, then per entry:
//!   producer_id             int64
//!   epoch                   int16
//!   last_sequence           int32   of the last batch (-1: none)
//!   last_offset             int64   of the last batch (-1: none)
//!   offset_delta            int32   last sequence - first sequence of the last batch
//!   timestamp               int64   max timestamp of the last batch
//!   coordinator_epoch       int32
//!   current_txn_first_offset int64  -1 when no transaction is ongoing
//! ```
//! A snapshot named after offset N holds the state of every batch below N.
//! It is written (to a `.tmp`, fsynced, renamed, directory fsynced) at
//! segment roll, after the old segment is fsynced, and at clean shutdown.
//! As in Kafka only each producer's last batch is kept in a snapshot; the
//! others are rebuilt by replaying the log after it. On open the newest
//! snapshot at or below the log end offset that reads back with a good CRC
//! is loaded (a corrupt one is deleted and an older one tried, then a full
//! replay) and the batch headers after it are replayed; nothing there
//! fails the open.

use super::error::{LogError, Result};
use super::segment::io_err;
use crate::record::BatchHeader;
use crate::record::control::{ControlRecordType, EndTxnMarker};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Batches remembered per producer (Kafka's `NUM_BATCHES_TO_RETAIN`, the
/// most in-flight requests an idempotent producer may have).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;
/// Extension of producer snapshot files.
pub const SNAPSHOT_SUFFIX: &str = "snapshot";
/// Snapshot format version written and read.
pub const SNAPSHOT_VERSION: i16 = 1;
/// Bytes of one snapshot entry.
pub const SNAPSHOT_ENTRY_SIZE: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: i32 = -1;

/// `DefaultRecordBatch.incrementSequence`: `seq + delta`, wrapping past
/// `i32::MAX` to 0.
pub fn increment_sequence(seq: i32, delta: i32) -> i32 {
    if seq > i32::MAX - delta {
        delta - (i32::MAX - seq) - 1
    } else {
        seq + delta
    }
}

/// `DefaultRecordBatch.decrementSequence`.
fn decrement_sequence(seq: i32, delta: i32) -> i32 {
    if seq < delta {
        i32::MAX - (delta - seq) + 1
    } else {
        seq - delta
    }
}

/// Kafka's `inSequence`: `next` directly follows `last`.
fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

/// One appended batch of a producer (Kafka's `BatchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the batch's last record.
    pub last_seq: i32,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// Last offset minus first offset (and last minus first sequence).
    pub offset_delta: i32,
    /// Max timestamp of the batch.
    pub timestamp: i64,
}

impl BatchMetadata {
    /// Sequence of the batch's first record.
    pub fn first_seq(&self) -> i32 {
        decrement_sequence(self.last_seq, self.offset_delta)
    }

    /// Offset of the batch's first record.
    pub fn first_offset(&self) -> i64 {
        self.last_offset - self.offset_delta as i64
    }
}

/// What the partition knows of one producer id (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    /// The producer id.
    pub producer_id: i64,
    /// Its current epoch ([`NO_PRODUCER_EPOCH`] before its first batch).
    pub producer_epoch: i16,
    /// Its last batches of the current epoch, oldest first, at most
    /// [`NUM_BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
    /// Epoch of the transaction coordinator that last wrote a marker (-1: none).
    pub coordinator_epoch: i32,
    /// Max timestamp of its last batch (for `producer.id.expiration.ms`).
    pub last_timestamp: i64,
    /// First offset of its ongoing transaction, if any.
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerStateEntry {
    fn empty(producer_id: i64) -> Self {
        ProducerStateEntry {
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            last_timestamp: -1,
            current_txn_first_offset: None,
        }
    }

    /// Sequence of the last record appended ([`NO_SEQUENCE`] if none).
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Offset of the last record appended (-1 if none).
    pub fn last_data_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    /// The batch of this epoch with exactly this sequence range, if one of
    /// the last five (Kafka's `findDuplicateBatch`).
    pub fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMetadata> {
        if header.producer_epoch != self.producer_epoch {
            return None;
        }
        let last_seq = increment_sequence(header.base_sequence, header.last_offset_delta);
        self.batches
            .iter()
            .find(|b| b.first_seq() == header.base_sequence && b.last_seq == last_seq)
            .copied()
    }

    fn add_batch(&mut self, epoch: i16, meta: BatchMetadata) {
        if epoch != self.producer_epoch {
            self.batches.clear();
            self.producer_epoch = epoch;
        }
        self.batches.push_back(meta);
        if self.batches.len() > NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.last_timestamp = meta.timestamp;
    }
}

/// Why a batch's producer state check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerStateError {
    /// OUT_OF_ORDER_SEQUENCE_NUMBER: a gap, or a new epoch not starting at 0.
    #[error("{0}")]
    OutOfOrderSequence(String),
    /// INVALID_PRODUCER_EPOCH: an epoch older than the one last seen.
    #[error("{0}")]
    InvalidProducerEpoch(String),
    /// TRANSACTION_COORDINATOR_FENCED: a marker from a coordinator epoch
    /// older than the last marker's.
    #[error("{0}")]
    TransactionCoordinatorFenced(String),
    /// INVALID_TXN_STATE: a non-transactional batch from a producer whose
    /// transaction is open.
    #[error("{0}")]
    InvalidTxnState(String),
}

/// A transaction ended by a marker (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// Producer id.
    pub producer_id: i64,
    /// First offset of the transaction.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// Ended by an ABORT marker.
    pub is_aborted: bool,
}

/// One batch of a produce request as [`ProducerStateManager::prepare`] sees
/// it: its header and the offsets it is about to get.
#[derive(Debug, Clone, Copy)]
pub struct PendingBatch<'a> {
    /// The batch header as sent.
    pub header: &'a BatchHeader,
    /// Offset its first record gets.
    pub first_offset: i64,
    /// Offset its last record gets.
    pub last_offset: i64,
    /// Its max timestamp as appended.
    pub max_timestamp: i64,
}

/// The outcome of [`ProducerStateManager::prepare`].
#[derive(Debug)]
pub enum Prepared {
    /// A retried batch: answer with these (first, last) offsets, append nothing.
    Duplicate(i64, i64),
    /// Entries to apply with [`ProducerStateManager::commit`] after the write.
    Append(Vec<ProducerStateEntry>),
}

/// The producer state of one partition.
#[derive(Debug)]
pub struct ProducerStateManager {
    dir: PathBuf,
    producers: HashMap<i64, ProducerStateEntry>,
    /// The open transactions as (first offset, producer id), oldest first
    /// (Kafka's `ongoingTxns`): kept in step with the entries'
    /// `current_txn_first_offset` by every change of an entry.
    ongoing: BTreeSet<(i64, i64)>,
    /// Offset after the last batch applied (the offset a snapshot taken now
    /// is named after).
    map_end_offset: i64,
    /// `producer.id.expiration.ms`.
    producer_id_expiration_ms: i64,
}

impl ProducerStateManager {
    /// An empty state for the partition directory `dir`.
    pub fn new(dir: &Path, producer_id_expiration_ms: i64) -> Self {
        ProducerStateManager {
            dir: dir.to_path_buf(),
            producers: HashMap::new(),
            ongoing: BTreeSet::new(),
            map_end_offset: 0,
            producer_id_expiration_ms,
        }
    }

    /// Sets `producer.id.expiration.ms`.
    pub fn set_producer_id_expiration_ms(&mut self, ms: i64) {
        self.producer_id_expiration_ms = ms;
    }

    /// The entry of a producer id.
    pub fn last_entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer's entry.
    pub fn producers(&self) -> impl Iterator<Item = &ProducerStateEntry> {
        self.producers.values()
    }

    /// Offset after the last batch applied.
    pub fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }

    /// First offset of the oldest open transaction (Kafka's
    /// `firstUnstableOffset`), `None` when none is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first().map(|&(first, _)| first)
    }

    /// Records a change of `producer_id`'s open transaction in `ongoing`.
    fn track(&mut self, producer_id: i64, before: Option<i64>, after: Option<i64>) {
        if before != after {
            if let Some(first) = before {
                self.ongoing.remove(&(first, producer_id));
            }
            if let Some(first) = after {
                self.ongoing.insert((first, producer_id));
            }
        }
    }

    /// The last stable offset once `completed` is applied (Kafka's
    /// `lastStableOffset(CompletedTxn)`): the first offset of the oldest
    /// transaction of another producer still open, else the offset after
    /// the marker.
    pub fn last_stable_offset_after(&self, completed: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|&&(_, pid)| pid != completed.producer_id)
            .map_or(completed.last_offset + 1, |&(first, _)| first)
    }

    /// Checks a transaction marker the coordinator writes at `offset`
    /// (Kafka's `ProducerAppendInfo.appendEndTxnMarker`) and returns the
    /// updated entry, to apply with [`Self::commit`] once it is written,
    /// with the transaction it completes, if one was open.
    ///
    /// # Errors
    /// INVALID_PRODUCER_EPOCH for an epoch older than the producer's,
    /// TRANSACTION_COORDINATOR_FENCED for a coordinator epoch older than
    /// the producer's last marker's.
    pub fn prepare_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: &EndTxnMarker,
        offset: i64,
        timestamp: i64,
    ) -> std::result::Result<(ProducerStateEntry, Option<CompletedTxn>), ProducerStateError> {
        let mut entry = self
            .producers
            .get(&producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerStateEntry::empty(producer_id));
        if producer_epoch < entry.producer_epoch {
            return Err(ProducerStateError::InvalidProducerEpoch(format!(
                "epoch of transaction marker of producer {producer_id} at offset {offset} is {producer_epoch}, which is smaller than the last seen epoch {}",
                entry.producer_epoch
            )));
        }
        if entry.coordinator_epoch > marker.coordinator_epoch {
            return Err(ProducerStateError::TransactionCoordinatorFenced(format!(
                "{} marker of producer {producer_id} at offset {offset} has coordinator epoch {}, older than the last seen {}",
                marker.control.name(),
                marker.coordinator_epoch,
                entry.coordinator_epoch
            )));
        }
        let completed = apply_marker(&mut entry, producer_epoch, marker, offset, timestamp);
        Ok((entry, completed))
    }

    /// Replays a marker read back from the log (no epoch checks, as
    /// Kafka's replication origin); returns the transaction it completes.
    pub fn replay_marker(
        &mut self,
        header: &BatchHeader,
        marker: &EndTxnMarker,
    ) -> Option<CompletedTxn> {
        let end = header.base_offset + header.last_offset_delta as i64 + 1;
        self.map_end_offset = self.map_end_offset.max(end);
        if header.producer_id < 0 {
            return None;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerStateEntry::empty(header.producer_id));
        let before = entry.current_txn_first_offset;
        let completed = apply_marker(
            entry,
            header.producer_epoch,
            marker,
            header.base_offset,
            header.max_timestamp,
        );
        self.track(header.producer_id, before, None);
        completed
    }

    /// Checks the batches of one produce request against the state (Kafka's
    /// `analyzeAndValidateProducerState` with `ProducerAppendInfo`): a
    /// duplicate of one of a producer's last five batches answers the whole
    /// request with its offsets; otherwise each idempotent batch must carry
    /// the producer's epoch or a newer one and the next sequence.
    ///
    /// # Errors
    /// [`ProducerStateError`] for the first batch that breaks a rule.
    pub fn prepare(
        &self,
        batches: &[PendingBatch<'_>],
    ) -> std::result::Result<Prepared, ProducerStateError> {
        let mut updated: Vec<ProducerStateEntry> = Vec::new();
        for b in batches {
            let h = b.header;
            if h.producer_id < 0 {
                continue;
            }
            if let Some(dup) = self
                .producers
                .get(&h.producer_id)
                .and_then(|e| e.find_duplicate(h))
            {
                return Ok(Prepared::Duplicate(dup.first_offset(), dup.last_offset));
            }
            let i = match updated.iter().position(|e| e.producer_id == h.producer_id) {
                Some(i) => i,
                None => {
                    let current = self
                        .producers
                        .get(&h.producer_id)
                        .cloned()
                        .unwrap_or_else(|| ProducerStateEntry::empty(h.producer_id));
                    updated.push(current);
                    updated.len() - 1
                }
            };
            let entry = &mut updated[i];
            check_producer_epoch(entry, h, b.first_offset)?;
            check_sequence(entry, h, b.first_offset)?;
            if entry.current_txn_first_offset.is_some() && !h.is_transactional() {
                return Err(ProducerStateError::InvalidTxnState(format!(
                    "expected a transactional write from producer {} at offset {}: its transaction is open",
                    h.producer_id, b.first_offset
                )));
            }
            apply_batch(entry, b);
        }
        Ok(Prepared::Append(updated))
    }

    /// Applies what [`Self::prepare`] staged, once the batches are in the
    /// log up to `end_offset` (exclusive).
    pub fn commit(&mut self, updated: Vec<ProducerStateEntry>, end_offset: i64) {
        for e in updated {
            let (pid, after) = (e.producer_id, e.current_txn_first_offset);
            let before = self
                .producers
                .insert(pid, e)
                .and_then(|old| old.current_txn_first_offset);
            self.track(pid, before, after);
        }
        self.map_end_offset = self.map_end_offset.max(end_offset);
    }

    /// Replays one batch read back from the log (Kafka's REPLICATION origin:
    /// no sequence check, an older epoch only logged).
    pub fn replay(&mut self, header: &BatchHeader) {
        let end = header.base_offset + header.last_offset_delta as i64 + 1;
        if header.producer_id >= 0 && !header.is_control() {
            let entry = self
                .producers
                .entry(header.producer_id)
                .or_insert_with(|| ProducerStateEntry::empty(header.producer_id));
            if header.producer_epoch < entry.producer_epoch {
                tracing::warn!(
                    "{}: producer {} at offset {} has epoch {} below {}",
                    self.dir.display(),
                    header.producer_id,
                    header.base_offset,
                    header.producer_epoch,
                    entry.producer_epoch
                );
            }
            let before = entry.current_txn_first_offset;
            apply_batch(
                entry,
                &PendingBatch {
                    header,
                    first_offset: header.base_offset,
                    last_offset: end - 1,
                    max_timestamp: header.max_timestamp,
                },
            );
            let after = entry.current_txn_first_offset;
            self.track(header.producer_id, before, after);
        }
        self.map_end_offset = self.map_end_offset.max(end);
    }

    /// Moves the map end offset without a batch (a log with no state yet).
    pub fn set_map_end_offset(&mut self, offset: i64) {
        self.map_end_offset = offset;
    }

    /// Forgets producers whose last batch is below the new log start offset
    /// and deletes snapshots below it (Kafka's `onLogStartOffsetIncremented`).
    ///
    /// # Errors
    /// An I/O error deleting a snapshot.
    pub fn on_log_start_offset_incremented(&mut self, log_start_offset: i64) -> Result<()> {
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some() || e.last_data_offset() >= log_start_offset
        });
        self.delete_snapshots_before(log_start_offset)
    }

    /// Removes producers whose last batch is older than
    /// `producer.id.expiration.ms` and that have no ongoing transaction
    /// (Kafka's `removeExpiredProducers`); returns how many.
    pub fn remove_expired_producers(&mut self, now_ms: i64) -> usize {
        let before = self.producers.len();
        let ttl = self.producer_id_expiration_ms;
        self.producers.retain(|_, e| !is_expired(e, now_ms, ttl));
        before - self.producers.len()
    }

    /// Writes the state as `<map end offset>.snapshot` (tmp, fsync, rename,
    /// directory fsync), unless that file exists already.
    ///
    /// # Errors
    /// An I/O error writing it.
    pub fn take_snapshot(&self) -> Result<()> {
        let path = snapshot_file(&self.dir, self.map_end_offset);
        if path.exists() {
            return Ok(());
        }
        let mut entries: Vec<&ProducerStateEntry> = self.producers.values().collect();
        entries.sort_by_key(|e| e.producer_id);
        let bytes = encode_snapshot(entries.into_iter());
        let tmp = path.with_extension("snapshot.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(&path)(e));
        }
        super::partition_log::sync_dir(&self.dir)
    }

    /// Offsets of the snapshot files in the directory, sorted.
    ///
    /// # Errors
    /// An I/O error listing the directory.
    pub fn snapshot_offsets(&self) -> Result<Vec<i64>> {
        list_snapshots(&self.dir)
    }

    /// Deletes snapshots named below `offset`.
    ///
    /// # Errors
    /// An I/O error deleting one.
    pub fn delete_snapshots_before(&self, offset: i64) -> Result<()> {
        for o in list_snapshots(&self.dir)? {
            if o < offset {
                remove_snapshot(&self.dir, o)?;
            }
        }
        Ok(())
    }

    /// Loads the newest readable snapshot at or below `log_end_offset` (and
    /// not below `log_start_offset`, whose state is gone), deleting newer
    /// (stray) and unreadable ones; returns the offset replay must start
    /// from: the snapshot's, or `log_start_offset` when none loads.
    ///
    /// # Errors
    /// An I/O error listing or deleting files (a bad snapshot is not one).
    pub fn load(&mut self, log_start_offset: i64, log_end_offset: i64, now_ms: i64) -> Result<i64> {
        self.load_at_or_below(log_start_offset, log_end_offset, log_end_offset, now_ms)
    }

    /// [`Self::load`] from the newest readable snapshot at or below `limit`
    /// (newer ones are kept but not used): replay must cover what starts at
    /// `limit` (a segment whose transaction index is rebuilt).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_at_or_below(
        &mut self,
        log_start_offset: i64,
        log_end_offset: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<i64> {
        self.load_snapshot(log_start_offset, log_end_offset, limit, now_ms, true)
    }

    /// [`Self::load`] for a read-only view of a log another process writes:
    /// no file is deleted (newer or unreadable snapshots are skipped).
    ///
    /// # Errors
    /// An I/O error listing the directory.
    pub fn load_read_only(
        &mut self,
        log_start_offset: i64,
        log_end_offset: i64,
        now_ms: i64,
    ) -> Result<i64> {
        self.load_snapshot(
            log_start_offset,
            log_end_offset,
            log_end_offset,
            now_ms,
            false,
        )
    }

    fn load_snapshot(
        &mut self,
        log_start_offset: i64,
        log_end_offset: i64,
        limit: i64,
        now_ms: i64,
        delete: bool,
    ) -> Result<i64> {
        self.producers.clear();
        self.ongoing.clear();
        let offsets = list_snapshots(&self.dir)?;
        for &o in offsets.iter().rev() {
            if o > log_end_offset && !delete {
                continue;
            }
            if o > log_end_offset {
                tracing::info!(
                    "{}: deleting producer snapshot {o} past the log end offset {log_end_offset}",
                    self.dir.display()
                );
                remove_snapshot(&self.dir, o)?;
                continue;
            }
            if o > limit {
                continue;
            }
            if o < log_start_offset {
                break;
            }
            let path = snapshot_file(&self.dir, o);
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| decode_snapshot(&b));
            match read {
                Ok(entries) => {
                    for e in entries {
                        if !is_expired(&e, now_ms, self.producer_id_expiration_ms) {
                            if let Some(first) = e.current_txn_first_offset {
                                self.ongoing.insert((first, e.producer_id));
                            }
                            self.producers.insert(e.producer_id, e);
                        }
                    }
                    self.map_end_offset = o;
                    return Ok(o);
                }
                Err(_) if !delete => {}
                Err(why) => {
                    tracing::warn!(
                        "{}: producer snapshot unreadable ({why}); deleted, trying an older one",
                        path.display()
                    );
                    remove_snapshot(&self.dir, o)?;
                }
            }
        }
        self.map_end_offset = log_start_offset;
        Ok(log_start_offset)
    }
}

fn is_expired(e: &ProducerStateEntry, now_ms: i64, ttl: i64) -> bool {
    e.current_txn_first_offset.is_none() && now_ms - e.last_timestamp >= ttl
}

/// Kafka's `checkProducerEpoch` for a client append.
fn check_producer_epoch(
    entry: &ProducerStateEntry,
    h: &BatchHeader,
    offset: i64,
) -> std::result::Result<(), ProducerStateError> {
    if h.producer_epoch < entry.producer_epoch {
        return Err(ProducerStateError::InvalidProducerEpoch(format!(
            "epoch of producer {} at offset {offset} is {}, which is smaller than the last seen epoch {}",
            h.producer_id, h.producer_epoch, entry.producer_epoch
        )));
    }
    Ok(())
}

/// Kafka's `checkSequence` for a client append (`entry` holds the
/// committed batches plus those staged earlier in the same request).
fn check_sequence(
    entry: &ProducerStateEntry,
    h: &BatchHeader,
    offset: i64,
) -> std::result::Result<(), ProducerStateError> {
    let seq = h.base_sequence;
    if h.producer_epoch != entry.producer_epoch {
        if seq != 0 && entry.producer_epoch != NO_PRODUCER_EPOCH {
            return Err(ProducerStateError::OutOfOrderSequence(format!(
                "invalid sequence number for new epoch of producer {} at offset {offset}: {} (request epoch), {seq} (seq. number), {} (current producer epoch)",
                h.producer_id, h.producer_epoch, entry.producer_epoch
            )));
        }
        return Ok(());
    }
    let last = entry.last_seq();
    // With no epoch known (its batches were removed with the log start
    // offset or expired), any sequence is accepted.
    if entry.producer_epoch != NO_PRODUCER_EPOCH && !in_sequence(last, seq) {
        return Err(ProducerStateError::OutOfOrderSequence(format!(
            "out of order sequence number for producer {} at offset {offset}: {seq} (incoming seq. number), {last} (current end sequence number)",
            h.producer_id
        )));
    }
    Ok(())
}

/// Applies a marker to an entry (Kafka's `appendEndTxnMarker` after its checks).
fn apply_marker(
    entry: &mut ProducerStateEntry,
    producer_epoch: i16,
    marker: &EndTxnMarker,
    offset: i64,
    timestamp: i64,
) -> Option<CompletedTxn> {
    let completed = entry.current_txn_first_offset.map(|first| CompletedTxn {
        producer_id: entry.producer_id,
        first_offset: first,
        last_offset: offset,
        is_aborted: marker.control == ControlRecordType::Abort,
    });
    if producer_epoch != entry.producer_epoch {
        entry.batches.clear();
        entry.producer_epoch = producer_epoch;
    }
    entry.current_txn_first_offset = None;
    entry.coordinator_epoch = marker.coordinator_epoch;
    entry.last_timestamp = timestamp;
    completed
}

fn apply_batch(entry: &mut ProducerStateEntry, b: &PendingBatch<'_>) {
    let h = b.header;
    entry.add_batch(
        h.producer_epoch,
        BatchMetadata {
            last_seq: increment_sequence(h.base_sequence, h.last_offset_delta),
            last_offset: b.last_offset,
            offset_delta: (b.last_offset - b.first_offset) as i32,
            timestamp: b.max_timestamp,
        },
    );
    if h.is_transactional() && entry.current_txn_first_offset.is_none() {
        entry.current_txn_first_offset = Some(b.first_offset);
    }
}

/// Path of the snapshot named after `offset`.
pub fn snapshot_file(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_SUFFIX}"))
}

fn remove_snapshot(dir: &Path, offset: i64) -> Result<()> {
    let path = snapshot_file(dir, offset);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Offsets of the `.snapshot` files in `dir`, sorted.
///
/// # Errors
/// An I/O error listing the directory.
pub fn list_snapshots(dir: &Path) -> Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(stem) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX))
            .and_then(|n| n.strip_suffix('.'))
        else {
            continue;
        };
        if stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(o) = stem.parse()
        {
            offsets.push(o);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Encodes entries in Kafka's snapshot format (version 1).
pub fn encode_snapshot<'a>(entries: impl Iterator<Item = &'a ProducerStateEntry>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut count = 0i32;
    for e in entries {
        count += 1;
        let (last_seq, last_offset, delta, ts) = match e.batches.back() {
            Some(b) => (b.last_seq, b.last_offset, b.offset_delta, b.timestamp),
            None => (NO_SEQUENCE, -1, 0, e.last_timestamp),
        };
        body.extend_from_slice(&e.producer_id.to_be_bytes());
        body.extend_from_slice(&e.producer_epoch.to_be_bytes());
        body.extend_from_slice(&last_seq.to_be_bytes());
        body.extend_from_slice(&last_offset.to_be_bytes());
        body.extend_from_slice(&delta.to_be_bytes());
        body.extend_from_slice(&ts.to_be_bytes());
        body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        body.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let mut rest = count.to_be_bytes().to_vec();
    rest.extend_from_slice(&body);
    let mut out = SNAPSHOT_VERSION.to_be_bytes().to_vec();
    out.extend_from_slice(&crc32c::crc32c(&rest).to_be_bytes());
    out.extend_from_slice(&rest);
    out
}

/// Decodes a snapshot file's bytes, checking version, CRC and length.
///
/// # Errors
/// Why the bytes are not a valid snapshot.
pub fn decode_snapshot(bytes: &[u8]) -> std::result::Result<Vec<ProducerStateEntry>, String> {
    if bytes.len() < 10 {
        return Err(format!("{} bytes, too short", bytes.len()));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != SNAPSHOT_VERSION {
        return Err(format!("unknown snapshot version {version}"));
    }
    let stored = u32::from_be_bytes(bytes[2..6].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[6..]);
    if stored != computed {
        return Err(format!(
            "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    let count = i32::from_be_bytes(bytes[6..10].try_into().expect("4 bytes"));
    let body = &bytes[10..];
    if count < 0 || body.len() != count as usize * SNAPSHOT_ENTRY_SIZE {
        return Err(format!("{count} entries do not fit {} bytes", body.len()));
    }
    let mut out = Vec::with_capacity(count as usize);
    for e in body.chunks_exact(SNAPSHOT_ENTRY_SIZE) {
        let i64_at = |at: usize| i64::from_be_bytes(e[at..at + 8].try_into().expect("8 bytes"));
        let i32_at = |at: usize| i32::from_be_bytes(e[at..at + 4].try_into().expect("4 bytes"));
        let producer_id = i64_at(0);
        let producer_epoch = i16::from_be_bytes([e[8], e[9]]);
        let last_seq = i32_at(10);
        let last_offset = i64_at(14);
        let offset_delta = i32_at(22);
        let timestamp = i64_at(26);
        let coordinator_epoch = i32_at(34);
        let txn = i64_at(38);
        let mut entry = ProducerStateEntry::empty(producer_id);
        entry.producer_epoch = producer_epoch;
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = timestamp;
        entry.current_txn_first_offset = (txn >= 0).then_some(txn);
        if last_offset >= 0 {
            entry.batches.push_back(BatchMetadata {
                last_seq,
                last_offset,
                offset_delta,
                timestamp,
            });
        }
        out.push(entry);
    }
    Ok(out)
}

impl From<ProducerStateError> for LogError {
    fn from(e: ProducerStateError) -> Self {
        match e {
            ProducerStateError::OutOfOrderSequence(m) => LogError::OutOfOrderSequence(m),
            ProducerStateError::InvalidProducerEpoch(m) => LogError::InvalidProducerEpoch(m),
            ProducerStateError::TransactionCoordinatorFenced(m) => {
                LogError::TransactionCoordinatorFenced(m)
            }
            ProducerStateError::InvalidTxnState(m) => LogError::InvalidTxnState(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};

    fn header(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let mut b = BatchBuilder::new(Compression::None, 0).producer(pid, epoch, seq);
        for _ in 0..n {
            b.push(1000, None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.finish()).unwrap()
    }

    /// Prepares and commits one batch at `offset`.
    fn append(
        s: &mut ProducerStateManager,
        h: &BatchHeader,
        offset: i64,
    ) -> std::result::Result<Prepared, ProducerStateError> {
        let last = offset + h.last_offset_delta as i64;
        let p = s.prepare(&[PendingBatch {
            header: h,
            first_offset: offset,
            last_offset: last,
            max_timestamp: h.max_timestamp,
        }])?;
        Ok(match p {
            Prepared::Append(u) => {
                s.commit(u, last + 1);
                Prepared::Append(Vec::new())
            }
            d => d,
        })
    }

    fn manager() -> (tempfile::TempDir, ProducerStateManager) {
        let dir = tempfile::tempdir().unwrap();
        let s = ProducerStateManager::new(dir.path(), 86_400_000);
        (dir, s)
    }

    fn is_dup(p: &Prepared) -> Option<(i64, i64)> {
        match p {
            Prepared::Duplicate(a, b) => Some((*a, *b)),
            Prepared::Append(_) => None,
        }
    }

    #[test]
    fn duplicate_of_one_of_the_last_five_batches_gets_its_offsets() {
        let (_d, mut s) = manager();
        append(&mut s, &header(7, 0, 0, 3), 100).unwrap();
        append(&mut s, &header(7, 0, 3, 2), 103).unwrap();
        assert_eq!(
            is_dup(&append(&mut s, &header(7, 0, 0, 3), 999).unwrap()),
            Some((100, 102))
        );
        assert_eq!(
            is_dup(&append(&mut s, &header(7, 0, 3, 2), 999).unwrap()),
            Some((103, 104))
        );
        for i in 0..4 {
            append(&mut s, &header(7, 0, 5 + i, 1), 105 + i as i64).unwrap();
        }
        assert_eq!(
            is_dup(&append(&mut s, &header(7, 0, 3, 2), 9).unwrap()),
            Some((103, 104))
        );
        append(&mut s, &header(7, 0, 9, 1), 109).unwrap();
        // The sixth-last batch is forgotten: a retry of it is now out of order.
        assert!(matches!(
            append(&mut s, &header(7, 0, 3, 2), 9),
            Err(ProducerStateError::OutOfOrderSequence(_))
        ));
    }

    #[test]
    fn sequence_gap_is_out_of_order_and_stages_nothing() {
        let (_d, mut s) = manager();
        append(&mut s, &header(7, 0, 0, 2), 0).unwrap();
        let err = append(&mut s, &header(7, 0, 3, 1), 2).unwrap_err();
        assert!(
            matches!(err, ProducerStateError::OutOfOrderSequence(_)),
            "{err}"
        );
        assert_eq!(s.last_entry(7).unwrap().last_seq(), 1);
        assert_eq!(s.map_end_offset(), 2);
        // A sequence going back (not a duplicate) is out of order too.
        assert!(append(&mut s, &header(7, 0, 1, 1), 2).is_err());
        append(&mut s, &header(7, 0, 2, 1), 2).unwrap();
    }

    #[test]
    fn older_epoch_is_invalid_producer_epoch() {
        let (_d, mut s) = manager();
        append(&mut s, &header(7, 3, 0, 1), 0).unwrap();
        let err = append(&mut s, &header(7, 2, 1, 1), 1).unwrap_err();
        assert!(
            matches!(err, ProducerStateError::InvalidProducerEpoch(_)),
            "{err}"
        );
        // Even a batch the old epoch might have sent first.
        assert!(matches!(
            append(&mut s, &header(7, 2, 0, 1), 1),
            Err(ProducerStateError::InvalidProducerEpoch(_))
        ));
    }

    #[test]
    fn new_epoch_must_start_at_sequence_zero_and_forgets_the_old() {
        let (_d, mut s) = manager();
        append(&mut s, &header(7, 0, 0, 5), 0).unwrap();
        assert!(matches!(
            append(&mut s, &header(7, 1, 5, 1), 5),
            Err(ProducerStateError::OutOfOrderSequence(_))
        ));
        append(&mut s, &header(7, 1, 0, 1), 5).unwrap();
        let e = s.last_entry(7).unwrap();
        assert_eq!((e.producer_epoch, e.batches.len()), (1, 1));
        // The old epoch's batch is no duplicate now; it is fenced.
        assert!(matches!(
            append(&mut s, &header(7, 0, 0, 5), 6),
            Err(ProducerStateError::InvalidProducerEpoch(_))
        ));
    }

    #[test]
    fn unknown_producer_is_accepted_at_any_sequence() {
        // Kafka 2.5+ (KIP-360): the broker accepts an unknown producer id's
        // first batch whatever its sequence (its state may have been removed
        // with the log start offset or expired); the client resets itself.
        let (_d, mut s) = manager();
        append(&mut s, &header(9, 4, 42, 2), 0).unwrap();
        assert_eq!(s.last_entry(9).unwrap().last_seq(), 43);
        append(&mut s, &header(9, 4, 44, 1), 2).unwrap();
        assert!(append(&mut s, &header(9, 4, 46, 1), 3).is_err());
    }

    #[test]
    fn removed_state_accepts_any_sequence_again() {
        let (_d, mut s) = manager();
        append(&mut s, &header(7, 0, 0, 2), 0).unwrap();
        append(&mut s, &header(8, 0, 0, 2), 2).unwrap();
        s.on_log_start_offset_incremented(2).unwrap();
        assert!(s.last_entry(7).is_none(), "below the log start offset");
        assert!(s.last_entry(8).is_some());
        append(&mut s, &header(7, 0, 17, 1), 4).unwrap();
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
        let (_d, mut s) = manager();
        append(&mut s, &header(7, 0, i32::MAX - 1, 2), 0).unwrap();
        assert_eq!(s.last_entry(7).unwrap().last_seq(), i32::MAX);
        append(&mut s, &header(7, 0, 0, 1), 2).unwrap();
        // A batch spanning the wrap is found as a duplicate.
        append(&mut s, &header(7, 0, 1, 1), 3).unwrap();
        let span = header(7, 0, i32::MAX, 3);
        assert_eq!(span.last_offset_delta, 2);
        assert!(append(&mut s, &span, 4).is_err(), "goes back: out of order");
        let (_d2, mut s2) = manager();
        append(&mut s2, &header(7, 0, i32::MAX - 1, 1), 0).unwrap();
        append(&mut s2, &span, 1).unwrap();
        assert_eq!(is_dup(&append(&mut s2, &span, 9).unwrap()), Some((1, 3)));
        append(&mut s2, &header(7, 0, 2, 1), 4).unwrap();
    }

    #[test]
    fn batches_of_one_request_are_checked_in_order_and_all_or_nothing() {
        let (_d, mut s) = manager();
        let (a, b, gap) = (header(7, 0, 0, 2), header(7, 0, 2, 2), header(7, 0, 9, 1));
        let pend = |h, o: i64| PendingBatch {
            header: h,
            first_offset: o,
            last_offset: o + 1,
            max_timestamp: 0,
        };
        assert!(
            s.prepare(&[pend(&a, 0), pend(&b, 2), pend(&gap, 4)])
                .is_err()
        );
        assert!(s.last_entry(7).is_none(), "nothing committed");
        let Prepared::Append(u) = s.prepare(&[pend(&a, 0), pend(&b, 2)]).unwrap() else {
            panic!("not a duplicate")
        };
        s.commit(u, 4);
        assert_eq!(s.last_entry(7).unwrap().batches.len(), 2);
    }

    #[test]
    fn non_idempotent_batches_are_ignored() {
        let (_d, mut s) = manager();
        append(&mut s, &header(-1, -1, -1, 3), 0).unwrap();
        assert_eq!(s.producers().count(), 0);
    }

    #[test]
    fn expired_producers_are_removed_unless_in_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path(), 1000);
        append(&mut s, &header(7, 0, 0, 1), 0).unwrap(); // timestamp 1000
        append(&mut s, &header(8, 0, 0, 1), 1).unwrap();
        s.producers.get_mut(&8).unwrap().current_txn_first_offset = Some(1);
        assert_eq!(s.remove_expired_producers(1999), 0);
        assert_eq!(s.remove_expired_producers(2000), 1);
        assert!(s.last_entry(7).is_none() && s.last_entry(8).is_some());
    }

    fn txn_header(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let mut b = BatchBuilder::new(Compression::None, 0)
            .producer(pid, epoch, seq)
            .transactional(true);
        for _ in 0..n {
            b.push(1000, None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.finish()).unwrap()
    }

    fn end_txn(control: ControlRecordType, coordinator_epoch: i32) -> EndTxnMarker {
        EndTxnMarker {
            control,
            coordinator_epoch,
        }
    }

    /// Prepares and commits a marker at `offset`.
    fn mark(
        s: &mut ProducerStateManager,
        pid: i64,
        epoch: i16,
        m: EndTxnMarker,
        offset: i64,
    ) -> std::result::Result<Option<CompletedTxn>, ProducerStateError> {
        let (entry, completed) = s.prepare_marker(pid, epoch, &m, offset, 5)?;
        s.commit(vec![entry], offset + 1);
        Ok(completed)
    }

    #[test]
    fn markers_complete_transactions_and_move_the_first_unstable_offset() {
        let (_d, mut s) = manager();
        append(&mut s, &txn_header(7, 0, 0, 2), 10).unwrap();
        append(&mut s, &txn_header(8, 0, 0, 1), 12).unwrap();
        append(&mut s, &txn_header(7, 0, 2, 1), 13).unwrap();
        assert_eq!(s.first_unstable_offset(), Some(10));
        let done = mark(&mut s, 7, 0, end_txn(ControlRecordType::Abort, 1), 14)
            .unwrap()
            .unwrap();
        assert_eq!(
            done,
            CompletedTxn {
                producer_id: 7,
                first_offset: 10,
                last_offset: 14,
                is_aborted: true
            }
        );
        assert_eq!(
            s.last_stable_offset_after(&done),
            12,
            "producer 8 still open"
        );
        assert_eq!(s.first_unstable_offset(), Some(12));
        // No transaction open: nothing completed, the marker is still taken.
        assert_eq!(
            mark(&mut s, 7, 0, end_txn(ControlRecordType::Commit, 1), 15).unwrap(),
            None
        );
        // Coordinator epoch older than the last marker's: fenced, nothing staged.
        assert!(matches!(
            mark(&mut s, 7, 0, end_txn(ControlRecordType::Commit, 0), 16),
            Err(ProducerStateError::TransactionCoordinatorFenced(_))
        ));
        assert!(matches!(
            mark(&mut s, 8, -1, end_txn(ControlRecordType::Commit, 0), 16),
            Err(ProducerStateError::InvalidProducerEpoch(_))
        ));
        assert_eq!(s.first_unstable_offset(), Some(12));
        let done = mark(&mut s, 8, 0, end_txn(ControlRecordType::Commit, 0), 16)
            .unwrap()
            .unwrap();
        assert!(!done.is_aborted);
        assert_eq!(s.last_stable_offset_after(&done), 17);
        assert_eq!(s.first_unstable_offset(), None);
        // A plain batch while a transaction is open is INVALID_TXN_STATE.
        append(&mut s, &txn_header(7, 0, 3, 1), 17).unwrap();
        assert!(matches!(
            append(&mut s, &header(7, 0, 4, 1), 18),
            Err(ProducerStateError::InvalidTxnState(_))
        ));
    }

    #[test]
    fn open_transactions_survive_a_snapshot_and_replay() {
        let (d, mut s) = manager();
        append(&mut s, &txn_header(7, 0, 0, 2), 0).unwrap();
        append(&mut s, &header(9, 0, 0, 1), 2).unwrap();
        s.take_snapshot().unwrap();
        let mut t = ProducerStateManager::new(d.path(), i64::MAX);
        assert_eq!(t.load(0, 3, 0).unwrap(), 3);
        assert_eq!(t.first_unstable_offset(), Some(0));
        let mut marker_header = txn_header(7, 0, -1, 1);
        marker_header.base_offset = 3;
        let done = t
            .replay_marker(&marker_header, &end_txn(ControlRecordType::Abort, 0))
            .unwrap();
        assert_eq!((done.first_offset, done.last_offset), (0, 3));
        assert_eq!(t.first_unstable_offset(), None);
        let mut again = txn_header(7, 0, 2, 1);
        again.base_offset = 4;
        t.replay(&again);
        assert_eq!(t.first_unstable_offset(), Some(4));
    }

    /// Hand-built bytes of Kafka's version 1 snapshot with one entry.
    fn kafka_bytes() -> Vec<u8> {
        let mut rest: Vec<u8> = Vec::new();
        rest.extend_from_slice(&[0, 0, 0, 1]); // one entry
        rest.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // producer_id 1000
        rest.extend_from_slice(&[0, 2]); // epoch 2
        rest.extend_from_slice(&[0, 0, 0, 9]); // last_sequence 9
        rest.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x2a]); // last_offset 42
        rest.extend_from_slice(&[0, 0, 0, 4]); // offset_delta 4
        rest.extend_from_slice(&[0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00]); // timestamp
        rest.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // coordinator_epoch -1
        rest.extend_from_slice(&[0xff; 8]); // current_txn_first_offset -1
        let mut out = vec![0, 1]; // version 1
        out.extend_from_slice(&crc32c::crc32c(&rest).to_be_bytes());
        out.extend_from_slice(&rest);
        out
    }

    #[test]
    fn snapshot_round_trip_matches_kafka_bytes() {
        let bytes = kafka_bytes();
        assert_eq!(bytes.len(), 2 + 4 + 4 + SNAPSHOT_ENTRY_SIZE);
        let entries = decode_snapshot(&bytes).unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!((e.producer_id, e.producer_epoch), (1000, 2));
        assert_eq!(e.coordinator_epoch, -1);
        assert_eq!(e.current_txn_first_offset, None);
        let b = e.batches[0];
        assert_eq!((b.first_seq(), b.last_seq), (5, 9));
        assert_eq!((b.first_offset(), b.last_offset), (38, 42));
        assert_eq!(b.timestamp, 0x0000_018b_cfe5_6800);
        assert_eq!(encode_snapshot(entries.iter()), bytes);
        // And from live state.
        let (_d, mut s) = manager();
        let mut h = header(1000, 2, 5, 5);
        h.max_timestamp = 0x0000_018b_cfe5_6800;
        append(&mut s, &h, 38).unwrap();
        s.take_snapshot().unwrap();
        assert_eq!(std::fs::read(snapshot_file(_d.path(), 43)).unwrap(), bytes);
    }

    #[test]
    fn corrupt_snapshot_is_refused_deleted_and_an_older_one_used() {
        let mut bad = kafka_bytes();
        bad[20] ^= 1;
        assert!(decode_snapshot(&bad).unwrap_err().contains("CRC"));
        assert!(decode_snapshot(&bad[..9]).is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(snapshot_file(dir.path(), 43), kafka_bytes()).unwrap();
        std::fs::write(snapshot_file(dir.path(), 50), &bad).unwrap();
        std::fs::write(snapshot_file(dir.path(), 90), kafka_bytes()).unwrap();
        let mut s = ProducerStateManager::new(dir.path(), i64::MAX);
        assert_eq!(s.load(0, 60, 0).unwrap(), 43);
        assert_eq!(s.last_entry(1000).unwrap().last_seq(), 9);
        assert_eq!(
            list_snapshots(dir.path()).unwrap(),
            vec![43],
            "stray and corrupt deleted"
        );
        std::fs::remove_file(snapshot_file(dir.path(), 43)).unwrap();
        assert_eq!(
            s.load(5, 60, 0).unwrap(),
            5,
            "none: replay from the log start"
        );
        assert_eq!(s.producers().count(), 0);
    }
}
