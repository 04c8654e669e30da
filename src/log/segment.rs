//! One log segment (Kafka's `LogSegment`): a `.log` file of record batches
//! named by its 20-digit base offset, with its sparse offset and time indexes.
//! Appends are one positional write; reads return byte ranges of the file.
//!
//! Entries are read through [`EntryHeader`]: v2 record batches and the legacy
//! v0/v1 message sets Apache Kafka wrote before 0.11 are loaded, recovered and
//! read alike, and kept as stored. Recovery ([`LogSegment::recover`]) cuts
//! bytes that do not parse only when told to, which the log does for its
//! active segment alone.
//!
//! Descriptors and memory: an active segment keeps its three files open and
//! its index entries in memory. Once inactive ([`LogSegment::finish`]) it
//! keeps neither: its indexes are mapped read-only at their first lookup
//! (Kafka's LazyIndex, see [`super::index_file`]) and the `.log` file is
//! opened on demand through the process-wide [`super::fd_cache`], so a
//! broker's open files and resident memory grow with its partitions, not
//! with its segments. Opening a log reads no index of an inactive segment
//! ([`LogSegment::load_inactive`] only checks the files' lengths), and its
//! largest timestamp is read from the time index's last entry when first
//! asked for, as Kafka does.

use super::config::LogConfig;
use super::entry::{self, EntryHeader, MAX_HEADER_SIZE, PREFIX_SIZE};
use super::error::{LogError, Result};
use super::fd_cache;
use super::offset_index::OffsetIndex;
use super::time_index::TimeIndex;
use super::txn_index::{TXN_INDEX_SUFFIX, TransactionIndex};
use crate::record::BatchError;
use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Extension of segment data files.
pub const LOG_SUFFIX: &str = "log";
/// Extension of offset index files.
pub const INDEX_SUFFIX: &str = "index";
/// Extension of time index files.
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `<dir>/<20-digit base offset>.<ext>`, Kafka's segment file name.
pub fn segment_file(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Most buffers one `pwritev` takes (Linux's `IOV_MAX`).
const MAX_IOVECS: usize = 1024;

/// Writes all of `parts` at `offset` of `file` with `pwritev`, so a batch's
/// patched header and the rest of its bytes, as received, reach the page
/// cache without first being copied into one buffer.
fn write_all_vectored_at(
    file: &File,
    mut parts: &mut [IoSlice<'_>],
    mut offset: u64,
) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        let count = parts.len().min(MAX_IOVECS);
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix, and the
        // `count` slices it points at stay borrowed for the call.
        let written = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                parts.as_ptr().cast::<libc::iovec>(),
                count as libc::c_int,
                offset as libc::off_t,
            )
        };
        if written < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, written as usize);
        offset += written as u64;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Maps an I/O error to [`LogError::Io`] naming `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where one batch of an append lies in the buffer and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct BatchInfo {
    /// Byte position in the appended buffer.
    pub position: usize,
    /// Total bytes.
    pub size: usize,
    /// Offset of its last record.
    pub last_offset: i64,
    /// Its max timestamp.
    pub max_timestamp: i64,
}

/// What a full check of a segment's batches found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCheck {
    /// Bytes of valid batches from the start.
    pub valid_bytes: u64,
    /// Bytes cut off after them.
    pub cut_bytes: u64,
    /// Why the check stopped before the end, if it did.
    pub error: Option<String>,
}

/// A log segment.
pub struct LogSegment {
    base_offset: i64,
    log_path: PathBuf,
    /// Key of the `.log` file in the [`fd_cache`] while inactive.
    id: u64,
    /// The `.log` file while the segment is active (or read-only); `None`
    /// once inactive, when reads go through the [`fd_cache`].
    file: Option<Arc<File>>,
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// The `.txnindex` (created at the first abort marker, owned here so
    /// that it is deleted and renamed with the segment).
    txn_index: TransactionIndex,
    bytes_since_last_index_entry: usize,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    first_batch_timestamp: Option<i64>,
    created_ms: i64,
    next_offset: i64,
    writable: bool,
    indexes_missing: bool,
    /// Loaded by [`Self::load_inactive`]: the largest timestamp is the time
    /// index's last entry, read when asked for (`max_timestamp` unused).
    max_timestamp_in_index: bool,
}

impl LogSegment {
    /// Creates a new, empty active segment at `base_offset` in `dir`.
    pub fn create(dir: &Path, base_offset: i64, config: &LogConfig) -> Result<LogSegment> {
        LogSegment::create_with_suffix(dir, base_offset, config, "")
    }

    /// Creates a new, empty segment whose file names end in `suffix` after
    /// the usual extension (the cleaner's `.cleaned` files).
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        suffix: &str,
    ) -> Result<LogSegment> {
        let name = |ext: &str| {
            let mut p = segment_file(dir, base_offset, ext).into_os_string();
            p.push(suffix);
            PathBuf::from(p)
        };
        let log_path = name(LOG_SUFFIX);
        let index_path = name(INDEX_SUFFIX);
        let time_path = name(TIME_INDEX_SUFFIX);
        // A leftover index of an earlier segment at this offset is no entry of this one.
        let txn_index = TransactionIndex::new(name(TXN_INDEX_SUFFIX), base_offset);
        txn_index.delete()?;
        let ibytes = config.segment_index_bytes;
        let opened = (|| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&log_path)
                .map_err(io_err(&log_path))?;
            for p in [&index_path, &time_path] {
                std::fs::write(p, b"").map_err(io_err(p))?;
            }
            let offset_index = OffsetIndex::open(&index_path, base_offset, ibytes, true)?;
            let time_index = TimeIndex::open(&time_path, base_offset, ibytes, true)?;
            Ok((file, offset_index, time_index))
        })();
        let (file, offset_index, time_index) = match opened {
            Ok(parts) => parts,
            Err(e) => {
                // No half-created segment is left behind (a full disk).
                for p in [&log_path, &index_path, &time_path] {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
        };
        Ok(LogSegment {
            base_offset,
            log_path,
            id: fd_cache::next_id(),
            file: Some(Arc::new(file)),
            size: 0,
            offset_index,
            time_index,
            txn_index,
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_batch_timestamp: None,
            created_ms: now_ms(),
            next_offset: base_offset,
            writable: true,
            indexes_missing: false,
            max_timestamp_in_index: false,
        })
    }

    /// Opens an existing segment for writing: indexes read and preallocated
    /// when `active`, else only stat'ed (mapped at the first lookup). Its
    /// batches are not looked at: call [`Self::load`],
    /// [`Self::load_inactive`] or [`Self::recover`] next.
    pub fn open(dir: &Path, base_offset: i64, config: &LogConfig, active: bool) -> Result<Self> {
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let meta = file.metadata().map_err(io_err(&log_path))?;
        let ibytes = config.segment_index_bytes;
        let index_path = segment_file(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_file(dir, base_offset, TIME_INDEX_SUFFIX);
        let indexes_missing = !index_path.exists() || !time_path.exists();
        Ok(LogSegment {
            indexes_missing,
            base_offset,
            id: fd_cache::next_id(),
            file: Some(Arc::new(file)),
            size: meta.len(),
            offset_index: OffsetIndex::open(&index_path, base_offset, ibytes, active)?,
            time_index: TimeIndex::open(&time_path, base_offset, ibytes, active)?,
            txn_index: TransactionIndex::new(
                segment_file(dir, base_offset, TXN_INDEX_SUFFIX),
                base_offset,
            ),
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_batch_timestamp: None,
            created_ms: modified_ms(&meta),
            next_offset: base_offset,
            writable: true,
            max_timestamp_in_index: false,
            log_path,
        })
    }

    /// Opens a segment for reading only: the indexes are copied into memory
    /// (missing ones are empty), nothing is written.
    pub fn open_read_only(dir: &Path, base_offset: i64) -> Result<Self> {
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let file = File::open(&log_path).map_err(io_err(&log_path))?;
        let meta = file.metadata().map_err(io_err(&log_path))?;
        let index_path = segment_file(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_file(dir, base_offset, TIME_INDEX_SUFFIX);
        let offset_index = OffsetIndex::open_read_only(&index_path, base_offset)?;
        let time_index = TimeIndex::open_read_only(&time_path, base_offset)?;
        Ok(LogSegment {
            base_offset,
            id: fd_cache::next_id(),
            file: Some(Arc::new(file)),
            size: meta.len(),
            offset_index,
            time_index,
            txn_index: TransactionIndex::read_only(
                segment_file(dir, base_offset, TXN_INDEX_SUFFIX),
                base_offset,
            ),
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_batch_timestamp: None,
            created_ms: modified_ms(&meta),
            next_offset: base_offset,
            writable: false,
            indexes_missing: false,
            max_timestamp_in_index: false,
            log_path,
        })
    }

    /// Base offset (the first offset the segment may hold).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Offset after the last batch (the base offset when empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Bytes of batches in the `.log` file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The `.log` file, for reads and zero-copy sends: the segment's own
    /// descriptor while active, else one from the [`fd_cache`] (opened
    /// read-only if needed).
    pub fn file(&self) -> Result<Arc<File>> {
        match &self.file {
            Some(f) => Ok(f.clone()),
            None => fd_cache::get(self.id, &self.log_path).map_err(io_err(&self.log_path)),
        }
    }

    /// The `.log` file's own descriptor, held while the segment is active.
    pub fn active_file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The offset index.
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    /// The time index.
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// The transaction index.
    pub fn txn_index(&self) -> &TransactionIndex {
        &self.txn_index
    }

    /// The transaction index, for appending.
    pub fn txn_index_mut(&mut self) -> &mut TransactionIndex {
        &mut self.txn_index
    }

    /// Largest record timestamp, or -1 if none (or unknown). For a segment
    /// loaded by [`Self::load_inactive`], the time index's last entry (which
    /// [`Self::finish`] wrote), mapping the index.
    pub fn max_timestamp(&self) -> i64 {
        if self.max_timestamp_in_index {
            return self.time_index.last_entry().map_or(-1, |(ts, _)| ts);
        }
        self.max_timestamp
    }

    /// The timestamp retention goes by: the largest record timestamp, or the
    /// file's modification time when no record has one (as Kafka).
    pub fn largest_timestamp(&self) -> i64 {
        let max_timestamp = self.max_timestamp();
        if max_timestamp >= 0 {
            max_timestamp
        } else {
            std::fs::metadata(&self.log_path).map_or(self.created_ms, |m| modified_ms(&m))
        }
    }

    /// Whether an append of `bytes` ending at `last_offset` whose largest
    /// timestamp is `max_timestamp` must go to a new segment (Kafka's
    /// `shouldRoll`): size, age (`segment.ms` from the first batch's
    /// timestamp), full indexes, or offsets no longer fitting 32 bits.
    pub fn should_roll(
        &self,
        config: &LogConfig,
        bytes: usize,
        max_timestamp: i64,
        last_offset: i64,
        now: i64,
    ) -> bool {
        if self.size == 0 {
            return false;
        }
        let waited = match self.first_batch_timestamp {
            Some(t) if t >= 0 => max_timestamp - t,
            _ => now - self.created_ms,
        };
        self.size + bytes as u64 > config.segment_bytes
            || waited > config.segment_ms
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || last_offset - self.base_offset > i32::MAX as i64
    }

    /// Writes `parts` (whole batches, offsets assigned, possibly each split
    /// into a patched header and the bytes as received) at the end of the
    /// file with positional vectored writes, and indexes its batches, whose
    /// positions are relative to the start of `parts`. On a write error (a
    /// full disk) the file is cut back to its previous size.
    pub fn append(
        &mut self,
        parts: &mut [IoSlice<'_>],
        batches: &[BatchInfo],
        config: &LogConfig,
    ) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let file = self.file()?;
        let written = super::fail_points::inject("segment::write")
            .and_then(|()| write_all_vectored_at(&file, parts, self.size));
        if let Err(e) = written {
            if let Err(cut) = file.set_len(self.size) {
                tracing::error!(
                    "{}: could not cut back a failed append: {cut}",
                    self.log_path.display()
                );
            }
            return Err(io_err(&self.log_path)(e));
        }
        let start = self.size;
        for b in batches {
            self.index_batch(
                start + b.position as u64,
                b.size,
                b.last_offset,
                b.max_timestamp,
                config.index_interval_bytes,
            );
        }
        self.size += len as u64;
        Ok(())
    }

    /// Kafka's per-batch index maintenance: an offset index entry (and a
    /// time index entry if the largest timestamp grew) once more than
    /// `index.interval.bytes` were appended since the last entry.
    fn index_batch(
        &mut self,
        position: u64,
        size: usize,
        last_offset: i64,
        max_timestamp: i64,
        interval: usize,
    ) {
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(max_timestamp);
        }
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_last_index_entry > interval {
            self.offset_index.append(last_offset, position as u32);
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += size;
        self.next_offset = last_offset + 1;
    }

    /// Reads the entry header (any magic) at `position`, if a whole header is there.
    pub fn header_at(&self, position: u64) -> Result<Option<EntryHeader>> {
        if position + PREFIX_SIZE as u64 > self.size {
            return Ok(None);
        }
        let len = MAX_HEADER_SIZE.min((self.size - position) as usize);
        let mut buf = [0u8; MAX_HEADER_SIZE];
        self.file()?
            .read_exact_at(&mut buf[..len], position)
            .map_err(io_err(&self.log_path))?;
        Ok(EntryHeader::parse(&buf[..len]).ok())
    }

    /// Position and header of the first batch whose last offset is >=
    /// `offset`: index lookup, then a scan of batch headers.
    pub fn find(&self, offset: i64) -> Result<Option<(u64, EntryHeader)>> {
        let (entry, start) = self.offset_index.lookup(offset);
        let mut scan = HeaderScanner::new(self, start as u64);
        let mut first = true;
        while let Some((pos, h)) = scan.next_header()? {
            if first && start > 0 && h.last_offset() != entry {
                break;
            }
            first = false;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
        }
        if start > 0 && (first || scan.pos < self.size) {
            // A wrong index entry: fall back to a scan from the start.
            tracing::warn!(
                "{}: index entry for offset {entry} does not match the log",
                self.log_path.display()
            );
            let mut scan = HeaderScanner::new(self, 0);
            while let Some((pos, h)) = scan.next_header()? {
                if h.last_offset() >= offset {
                    return Ok(Some((pos, h)));
                }
            }
        }
        Ok(None)
    }

    /// The byte range of whole batches from the one holding `offset`: at
    /// most `max_bytes`, or the first batch whole if `min_one`. `None` if no
    /// batch here reaches `offset`; a zero length if the first batch does
    /// not fit.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Option<(u64, usize)>> {
        let Some((pos, first)) = self.find(offset)? else {
            return Ok(None);
        };
        let first_size = first.total_size();
        if first_size > max_bytes {
            return Ok(Some((pos, if min_one { first_size } else { 0 })));
        }
        let limit = pos + max_bytes as u64;
        if limit >= self.size {
            return Ok(Some((pos, (self.size - pos) as usize)));
        }
        let (_, indexed) = self.offset_index.lookup_position(limit);
        let mut end = pos + first_size as u64;
        let mut scan = HeaderScanner::new(self, end.max(indexed as u64));
        while let Some((p, h)) = scan.next_header()? {
            let batch_end = p + h.total_size() as u64;
            if batch_end > limit {
                break;
            }
            end = batch_end;
        }
        Ok(Some((pos, (end - pos) as usize)))
    }

    /// The first record at or after `min_offset` whose timestamp is >=
    /// `timestamp`, as (offset, timestamp): time index lookup, offset index
    /// lookup, then a scan (Kafka's `findOffsetByTimestamp`).
    pub fn find_by_timestamp(&self, timestamp: i64, min_offset: i64) -> Result<Option<(i64, i64)>> {
        let from = self
            .time_index
            .lookup_before(timestamp)
            .map_or(self.base_offset, |(_, off)| off + 1)
            .max(min_offset);
        let (_, start) = self.offset_index.lookup(from);
        let file = self.file()?;
        let mut reader = BatchReader::new(&file, start as u64, self.size);
        loop {
            let bytes = match reader.next_batch().map_err(io_err(&self.log_path))? {
                ReadOutcome::Batch(_, bytes) => bytes,
                ReadOutcome::End | ReadOutcome::Invalid(_) => return Ok(None),
            };
            let Ok(h) = EntryHeader::parse(bytes) else {
                return Ok(None);
            };
            if h.last_offset() < from || h.max_timestamp < timestamp {
                continue;
            }
            if let Some(found) = entry::first_record_at_or_after(bytes, timestamp, from)? {
                return Ok(Some(found));
            }
        }
    }

    /// Loads the segment's state from its indexes and a scan of the batch
    /// headers after the last index entry (Kafka's clean start). Returns
    /// false if the indexes look stale or corrupt, or the batches do not
    /// end exactly at the end of the file: then [`Self::recover`] is needed.
    /// Harmless zero padding of a preallocated index is dropped.
    pub fn load(&mut self) -> Result<bool> {
        self.offset_index.load()?;
        self.time_index.load()?;
        self.max_timestamp_in_index = false;
        if self.indexes_missing && self.size > 0 {
            return Ok(false);
        }
        let (valid, padding) = self.offset_index.valid_prefix(self.size);
        if !padding {
            return Ok(false);
        }
        self.offset_index.keep(valid);
        if valid > 0 {
            let (off, pos) = self.offset_index.entry(0);
            if !matches!(self.header_at(pos as u64)?, Some(h) if h.last_offset() == off) {
                return Ok(false);
            }
        }
        let last = if valid > 0 {
            let (off, pos) = self.offset_index.entry(valid - 1);
            match self.header_at(pos as u64)? {
                Some(h) if h.last_offset() == off => Some((pos as u64, h)),
                _ => return Ok(false),
            }
        } else {
            None
        };
        let scan_from = last.map_or(0, |(p, _)| p);
        let mut scan = HeaderScanner::new(self, scan_from);
        let mut next_offset = self.base_offset;
        let mut max_ts = -1;
        let mut max_ts_offset = self.base_offset;
        let mut end = scan_from;
        while let Some((p, h)) = scan.next_header()? {
            if h.base_offset < next_offset {
                return Ok(false);
            }
            if h.max_timestamp > max_ts {
                max_ts = h.max_timestamp;
                max_ts_offset = h.last_offset();
            }
            next_offset = h.last_offset() + 1;
            end = p + h.total_size() as u64;
        }
        if end != self.size {
            return Ok(false);
        }
        let (tvalid, tpadding) = self.time_index.valid_prefix(next_offset);
        if !tpadding {
            return Ok(false);
        }
        self.time_index.keep(tvalid);
        if let Some((ts, off)) = self.time_index.last_entry()
            && ts > max_ts
        {
            max_ts = ts;
            max_ts_offset = off;
        }
        self.max_timestamp = max_ts;
        self.offset_of_max_timestamp = max_ts_offset;
        self.next_offset = next_offset;
        self.bytes_since_last_index_entry = (self.size - scan_from) as usize;
        self.first_batch_timestamp = self.header_at(0)?.map(|h| h.max_timestamp);
        Ok(true)
    }

    /// Loads an inactive segment (below the recovery point, so its bytes
    /// are trusted, as Kafka trusts them) without reading its indexes or its
    /// batches: the indexes are only checked to exist and hold whole entries
    /// (Kafka's sanity check), and are mapped at the first lookup. Its next
    /// offset is `next_base`, the next segment's base offset. Returns false
    /// if an index is missing or of a wrong length: then
    /// [`Self::recover`] rebuilds them.
    pub fn load_inactive(&mut self, next_base: i64) -> bool {
        let sane = !self.indexes_missing
            && self.offset_index.has_whole_entries()
            && self.time_index.has_whole_entries();
        if !sane && self.size > 0 {
            return false;
        }
        self.next_offset = next_base;
        self.max_timestamp_in_index = true;
        true
    }

    /// For a read-only view: loads what it can without writing. Stops at the
    /// last complete batch (a writer may be in the middle of an append);
    /// index entries beyond it are ignored.
    pub fn load_read_only(&mut self) -> Result<()> {
        let (valid, _) = self.offset_index.valid_prefix(self.size);
        let mut start = 0u64;
        if valid > 0 {
            let (off, pos) = self.offset_index.entry(valid - 1);
            if matches!(self.header_at(pos as u64)?, Some(h) if h.last_offset() == off) {
                start = pos as u64;
            }
        }
        let mut scan = HeaderScanner::new(self, start);
        let (mut end, mut next, mut max_ts) = (start, self.base_offset, -1);
        while let Some((p, h)) = scan.next_header()? {
            end = p + h.total_size() as u64;
            next = h.last_offset() + 1;
            max_ts = max_ts.max(h.max_timestamp);
        }
        self.size = end;
        let (tvalid, _) = self.time_index.valid_prefix(next);
        if tvalid > 0 {
            max_ts = max_ts.max(self.time_index.entry(tvalid - 1).0);
        }
        self.offset_index.keep(valid);
        self.time_index.keep(tvalid);
        self.max_timestamp = max_ts;
        self.next_offset = next;
        self.first_batch_timestamp = self.header_at(0)?.map(|h| h.max_timestamp);
        Ok(())
    }

    /// For a read-only view: takes in the complete batches a writer appended
    /// since the view was loaded.
    pub fn extend_read_only(&mut self) -> Result<()> {
        let len = self
            .file()?
            .metadata()
            .map_err(io_err(&self.log_path))?
            .len();
        if len <= self.size {
            return Ok(());
        }
        let old = self.size;
        self.size = len;
        let mut scan = HeaderScanner::new(self, old);
        let (mut end, mut next, mut max_ts) = (old, self.next_offset, self.max_timestamp);
        while let Some((p, h)) = scan.next_header()? {
            end = p + h.total_size() as u64;
            next = h.last_offset() + 1;
            max_ts = max_ts.max(h.max_timestamp);
        }
        self.size = end;
        self.next_offset = next;
        self.max_timestamp = max_ts;
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = self.header_at(0)?.map(|h| h.max_timestamp);
        }
        Ok(())
    }

    /// Checks every entry from the start (length, magic, CRC, offsets
    /// increasing within the segment; legacy v0/v1 messages as well as v2
    /// batches), then rebuilds both indexes from the valid ones. Returns
    /// where they end and why the check stopped there.
    ///
    /// With `cut_tail` (the active segment, Kafka's torn tail), the bytes
    /// after the valid entries are cut. Without it, a segment whose bytes do
    /// not all parse is left exactly as it was, indexes included: the caller
    /// reports the check's error instead.
    pub fn recover(&mut self, config: &LogConfig, cut_tail: bool) -> Result<SegmentCheck> {
        let file = self.file()?;
        let mut reader = BatchReader::new(&file, 0, self.size);
        let mut found = Vec::new();
        let error = loop {
            match reader.next_batch().map_err(io_err(&self.log_path))? {
                ReadOutcome::End => break None,
                ReadOutcome::Invalid(e) => break Some(e.to_string()),
                ReadOutcome::Batch(pos, bytes) => match entry::validate(bytes) {
                    Err(e) => break Some(e.to_string()),
                    Ok(h) => {
                        let expected = found
                            .last()
                            .map_or(self.base_offset, |(_, h): &(u64, EntryHeader)| {
                                h.last_offset() + 1
                            });
                        if h.base_offset < expected
                            || h.last_offset() - self.base_offset > i32::MAX as i64
                        {
                            break Some(format!(
                                "batch offset {} out of order (expected >= {expected})",
                                h.base_offset
                            ));
                        }
                        found.push((pos, h));
                    }
                },
            }
        };
        let valid_bytes = found.last().map_or(0, |(p, h)| p + h.total_size() as u64);
        let cut_bytes = self.size - valid_bytes;
        let check = SegmentCheck {
            valid_bytes,
            cut_bytes,
            error,
        };
        if check.error.is_some() && !cut_tail {
            return Ok(check);
        }
        self.offset_index.load()?;
        self.time_index.load()?;
        self.max_timestamp_in_index = false;
        self.offset_index.clear();
        self.time_index.clear();
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.first_batch_timestamp = None;
        self.next_offset = self.base_offset;
        for (pos, h) in found {
            self.index_batch(
                pos,
                h.total_size(),
                h.last_offset(),
                h.max_timestamp,
                config.index_interval_bytes,
            );
        }
        if valid_bytes < self.size {
            file.set_len(valid_bytes).map_err(io_err(&self.log_path))?;
            self.size = valid_bytes;
        }
        Ok(check)
    }

    /// Marks the segment inactive (Kafka's `onBecomeInactiveSegment`): a
    /// final time index entry, indexes trimmed to their entries; then its
    /// descriptors are closed and the index entries dropped from memory
    /// (the indexes are mapped at their next lookup, the `.log` file is
    /// reopened through the [`fd_cache`] when read).
    pub fn finish(&mut self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        if self.max_timestamp >= 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
        self.offset_index.trim()?;
        self.time_index.trim()?;
        self.offset_index.release_file();
        self.time_index.release_file();
        self.txn_index.release_file()?;
        self.file = None;
        Ok(())
    }

    /// fdatasyncs the `.log` file and writes the index pages.
    pub fn flush(&self) -> Result<()> {
        let file = self.file()?;
        super::fail_points::inject("segment::fdatasync")
            .and_then(|()| file.sync_data())
            .map_err(io_err(&self.log_path))?;
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()
    }

    /// Deletes the segment's files.
    pub fn delete(self) -> Result<()> {
        for p in [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
        Ok(())
    }
}

impl Drop for LogSegment {
    fn drop(&mut self) {
        fd_cache::forget(self.id);
    }
}

fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(now_ms, |d| d.as_millis() as i64)
}

/// Scans entry headers (any magic) from a position, reading the file in small chunks.
pub struct HeaderScanner<'a> {
    segment: &'a LogSegment,
    /// The `.log` file, fetched at the first read.
    file: Option<Arc<File>>,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    /// The v2 header of the entry last returned (producer fields included).
    batch: Option<crate::record::BatchHeader>,
}

const SCAN_CHUNK: usize = 16 * 1024;

impl<'a> HeaderScanner<'a> {
    /// Starts at byte `pos` of `segment`.
    pub fn new(segment: &'a LogSegment, pos: u64) -> Self {
        HeaderScanner {
            segment,
            file: None,
            pos,
            buf: Vec::new(),
            buf_start: 0,
            batch: None,
        }
    }

    /// The full v2 header of the entry [`Self::next_header`] last returned
    /// (`None` for a legacy message): what producer state replay needs.
    pub fn batch_header(&self) -> Option<crate::record::BatchHeader> {
        self.batch
    }

    /// The next complete entry's position and header; `None` at the end of
    /// the segment or at a torn or malformed entry.
    pub fn next_header(&mut self) -> Result<Option<(u64, EntryHeader)>> {
        let size = self.segment.size;
        if self.pos + PREFIX_SIZE as u64 > size {
            return Ok(None);
        }
        let want = MAX_HEADER_SIZE.min((size - self.pos) as usize) as u64;
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos + want > buf_end {
            let len = SCAN_CHUNK.min((size - self.pos) as usize);
            self.buf.resize(len, 0);
            if self.file.is_none() {
                self.file = Some(self.segment.file()?);
            }
            self.file
                .as_ref()
                .expect("fetched above")
                .read_exact_at(&mut self.buf, self.pos)
                .map_err(io_err(&self.segment.log_path))?;
            self.buf_start = self.pos;
        }
        let at = (self.pos - self.buf_start) as usize;
        let Ok(h) = EntryHeader::parse(&self.buf[at..]) else {
            return Ok(None);
        };
        // A batch whose offsets cannot be in this segment (below its base
        // offset, or beyond what the indexes' 4-byte relative offsets reach)
        // ends the valid batches, as it fails `recover`; reading on would
        // compute offsets past i64::MAX.
        let base = self.segment.base_offset;
        if h.base_offset < base {
            return Ok(None);
        }
        // (`last_offset` wraps for a v2 header near i64::MAX: a last offset
        // below the base offset is refused with the rest.)
        let relative_last = h
            .last_offset
            .checked_sub(base)
            .filter(|_| h.last_offset >= h.base_offset);
        if !relative_last.is_some_and(|r| (0..=i32::MAX as i64).contains(&r)) {
            return Ok(None);
        }
        let pos = self.pos;
        if pos + h.total_size() as u64 > size {
            return Ok(None);
        }
        self.batch = (h.magic == 2)
            .then(|| crate::record::BatchHeader::parse(&self.buf[at..]).ok())
            .flatten();
        self.pos += h.total_size() as u64;
        Ok(Some((pos, h)))
    }
}

/// What [`BatchReader::next_batch`] found.
pub enum ReadOutcome<'b> {
    /// A complete batch (CRC not checked) at a file position.
    Batch(u64, &'b [u8]),
    /// The clean end of the range.
    End,
    /// A torn or malformed batch at [`BatchReader::position`].
    Invalid(BatchError),
}

/// Reads whole batches of a file sequentially through a large buffer.
pub struct BatchReader<'a> {
    file: &'a File,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    consumed: usize,
}

const READ_CHUNK: usize = 1 << 20;

impl<'a> BatchReader<'a> {
    /// Reads batches of `file` in `[start, end)`.
    pub fn new(file: &'a File, start: u64, end: u64) -> Self {
        BatchReader {
            file,
            end,
            buf: Vec::new(),
            buf_start: start,
            consumed: 0,
        }
    }

    /// File position of the next batch.
    pub fn position(&self) -> u64 {
        self.buf_start + self.consumed as u64
    }

    fn fill(&mut self, need: usize) -> std::io::Result<()> {
        let have = self.buf.len() - self.consumed;
        if have >= need {
            return Ok(());
        }
        self.buf.drain(..self.consumed);
        self.buf_start += self.consumed as u64;
        self.consumed = 0;
        let file_pos = self.buf_start + self.buf.len() as u64;
        let want = (need - have)
            .max(READ_CHUNK)
            .min((self.end - file_pos) as usize);
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        self.file.read_exact_at(&mut self.buf[old..], file_pos)
    }

    /// The next batch, the end, or why the bytes there are not a batch.
    pub fn next_batch(&mut self) -> std::io::Result<ReadOutcome<'_>> {
        let pos = self.position();
        if pos >= self.end {
            return Ok(ReadOutcome::End);
        }
        let left = (self.end - pos) as usize;
        self.fill(MAX_HEADER_SIZE.min(left))?;
        let avail = &self.buf[self.consumed..];
        let header = match EntryHeader::parse(avail) {
            Ok(h) => h,
            Err(e) => return Ok(ReadOutcome::Invalid(e)),
        };
        let size = header.total_size();
        if size > left {
            return Ok(ReadOutcome::Invalid(BatchError::Truncated {
                needed: size,
                available: left,
            }));
        }
        self.fill(size)?;
        let at = self.consumed;
        self.consumed += size;
        Ok(ReadOutcome::Batch(pos, &self.buf[at..at + size]))
    }
}
