//! Kafka's sparse time index (`.timeindex`): 12-byte entries of an 8-byte
//! timestamp and the 4-byte offset (relative to the segment's base offset)
//! up to which it is the largest timestamp, big endian. An entry is added
//! only when the largest timestamp grows.

use super::error::Result;
use super::index_file::{IndexFile, be_i32, be_i64};
use std::path::Path;

/// Size of one entry.
pub const ENTRY_SIZE: usize = 12;

/// A segment's time index.
pub struct TimeIndex {
    file: IndexFile,
    base_offset: i64,
}

impl TimeIndex {
    /// Opens the time index of the segment at `base_offset`: for an
    /// `active` segment read into memory (created if missing) and
    /// preallocated to `max_bytes`; for an inactive one only stat'ed,
    /// mapped at the first lookup.
    pub fn open(path: &Path, base_offset: i64, max_bytes: usize, active: bool) -> Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::open(path, ENTRY_SIZE, max_bytes, active)?,
            base_offset,
        })
    }

    /// Loads the index for reading only (empty if the file is missing).
    pub fn open_read_only(path: &Path, base_offset: i64) -> Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::open_read_only(path, ENTRY_SIZE)?,
            base_offset,
        })
    }

    /// Makes the index lazy (its segment became inactive): descriptor
    /// closed, entries dropped from memory, the file mapped at the next lookup.
    pub fn release_file(&mut self) {
        self.file.release_file();
    }

    /// Reads a lazy index back into memory, its file open for writing (to
    /// rebuild or check it); the mapping, if any, is dropped first.
    pub fn load(&mut self) -> Result<()> {
        self.file.load()
    }

    /// Whether the file is mapped: a lazy (inactive) index that was looked up.
    pub fn is_mapped(&self) -> bool {
        self.file.is_mapped()
    }

    /// Whether the entries are in memory (active segment or read-only copy).
    pub fn is_in_memory(&self) -> bool {
        self.file.is_in_memory()
    }

    /// Kafka's sanity check on the length alone: whether the file (as
    /// stat'ed when opened lazily) holds whole entries.
    pub fn has_whole_entries(&self) -> bool {
        self.file.has_whole_entries()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Number of entries.
    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    /// Whether the index cannot take another entry.
    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub fn entry(&self, i: usize) -> (i64, i64) {
        let e = self.file.entry(i);
        (be_i64(e, 0), self.base_offset + be_i32(e, 8) as i64)
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries().checked_sub(1).map(|i| self.entry(i))
    }

    /// The largest entry whose timestamp is <= `timestamp` (Kafka's lookup),
    /// or (-1, base offset).
    pub fn lookup(&self, timestamp: i64) -> (i64, i64) {
        match self.file.last_where(|e| be_i64(e, 0) <= timestamp) {
            Some(i) => self.entry(i),
            None => (-1, self.base_offset),
        }
    }

    /// The largest entry whose timestamp is < `timestamp`: every record up to
    /// its offset is earlier than `timestamp`.
    pub fn lookup_before(&self, timestamp: i64) -> Option<(i64, i64)> {
        self.file
            .last_where(|e| be_i64(e, 0) < timestamp)
            .map(|i| self.entry(i))
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last
    /// entry's (Kafka's `maybeAppend`); false if not appended.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> bool {
        if let Some((ts, off)) = self.last_entry()
            && (timestamp <= ts || offset < off)
        {
            return false;
        }
        let mut e = [0u8; ENTRY_SIZE];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&((offset - self.base_offset) as i32).to_be_bytes());
        self.file.push(&e)
    }

    /// Removes every entry whose offset is at or after `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let rel = offset - self.base_offset;
        let keep = self
            .file
            .last_where(|e| (be_i32(e, 8) as i64) < rel)
            .map_or(0, |i| i + 1);
        self.file.truncate_entries(keep);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.file.truncate_entries(0);
    }

    /// Keeps only the first `n` entries.
    pub fn keep(&mut self, n: usize) {
        self.file.truncate_entries(n);
    }

    /// Checks the entries: timestamps strictly increasing, offsets
    /// non-decreasing within `[base, next_offset)`. Returns the valid prefix
    /// length and whether everything after it is zero padding.
    pub fn valid_prefix(&self, next_offset: i64) -> (usize, bool) {
        self.file.valid_prefix(
            |i| self.entry(i),
            |(ts, off), prev| {
                off >= self.base_offset
                    && off < next_offset.max(self.base_offset + 1)
                    && prev.is_none_or(|(pt, po)| ts > pt && off >= po)
            },
        )
    }

    /// Shrinks the file to its entries.
    pub fn trim(&mut self) -> Result<()> {
        self.file.trim()
    }

    /// Preallocates the file to `max_bytes` again.
    pub fn preallocate(&mut self, max_bytes: usize) -> Result<()> {
        self.file.preallocate(max_bytes)
    }

    /// fdatasyncs the entries written since the last flush.
    pub fn flush(&self) -> Result<()> {
        self.file.flush()
    }

    /// Renames the file.
    pub fn rename(&mut self, to: &Path) -> Result<()> {
        self.file.rename(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_only_when_timestamp_grows_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000050.timeindex");
        let mut idx = TimeIndex::open(&path, 50, 120, true).unwrap();
        assert_eq!(idx.lookup(1000), (-1, 50));
        assert!(idx.maybe_append(1000, 55));
        assert!(!idx.maybe_append(1000, 60));
        assert!(!idx.maybe_append(900, 61));
        assert!(idx.maybe_append(2000, 70));
        assert!(idx.maybe_append(3000, 80));
        assert_eq!(idx.entries(), 3);
        assert_eq!(idx.lookup(999), (-1, 50));
        assert_eq!(idx.lookup(1000), (1000, 55));
        assert_eq!(idx.lookup(2500), (2000, 70));
        assert_eq!(idx.lookup_before(2000), Some((1000, 55)));
        assert_eq!(idx.lookup_before(1000), None);
        assert_eq!(idx.valid_prefix(81), (3, true));
        assert_eq!(idx.valid_prefix(75).0, 2);
        idx.truncate_to(70);
        assert_eq!(idx.entries(), 1);
        idx.trim().unwrap();
        drop(idx);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 12);
        assert_eq!(&bytes[..], &[0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 5]);
    }
}
