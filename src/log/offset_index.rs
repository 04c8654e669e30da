//! Kafka's sparse offset index (`.index`): 8-byte entries of a 4-byte offset
//! relative to the segment's base offset and the 4-byte byte position of the
//! batch in the `.log` file, big endian, in increasing order.

use super::error::Result;
use super::index_file::{IndexFile, be_i32};
use std::path::Path;

/// Size of one entry.
pub const ENTRY_SIZE: usize = 8;

/// A segment's offset index.
pub struct OffsetIndex {
    file: IndexFile,
    base_offset: i64,
}

impl OffsetIndex {
    /// Opens the index of the segment at `base_offset`: for an `active`
    /// segment read into memory (created if missing) and preallocated to
    /// `max_bytes`; for an inactive one only stat'ed, mapped at the first
    /// lookup.
    pub fn open(path: &Path, base_offset: i64, max_bytes: usize, active: bool) -> Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::open(path, ENTRY_SIZE, max_bytes, active)?,
            base_offset,
        })
    }

    /// Loads the index for reading only (empty if the file is missing).
    pub fn open_read_only(path: &Path, base_offset: i64) -> Result<Self> {
        Ok(OffsetIndex {
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

    /// Entry `i` as (absolute offset, position).
    pub fn entry(&self, i: usize) -> (i64, u32) {
        let e = self.file.entry(i);
        (self.base_offset + be_i32(e, 0) as i64, be_i32(e, 4) as u32)
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<(i64, u32)> {
        self.entries().checked_sub(1).map(|i| self.entry(i))
    }

    /// The largest entry whose offset is <= `offset`, or (base offset, 0).
    pub fn lookup(&self, offset: i64) -> (i64, u32) {
        let rel = offset - self.base_offset;
        match self.file.last_where(|e| be_i32(e, 0) as i64 <= rel) {
            Some(i) => self.entry(i),
            None => (self.base_offset, 0),
        }
    }

    /// The largest entry whose position is <= `position`, or (base offset, 0).
    pub fn lookup_position(&self, position: u64) -> (i64, u32) {
        match self
            .file
            .last_where(|e| be_i32(e, 4) as u32 as u64 <= position)
        {
            Some(i) => self.entry(i),
            None => (self.base_offset, 0),
        }
    }

    /// Appends an entry; false if full. Offsets must increase.
    pub fn append(&mut self, offset: i64, position: u32) -> bool {
        debug_assert!(self.last_entry().is_none_or(|(o, _)| o < offset));
        let mut e = [0u8; ENTRY_SIZE];
        e[..4].copy_from_slice(&((offset - self.base_offset) as i32).to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&e)
    }

    /// Removes every entry at or after `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let rel = offset - self.base_offset;
        let keep = self
            .file
            .last_where(|e| (be_i32(e, 0) as i64) < rel)
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

    /// Checks the entries as Kafka's sanity check does and more: offsets
    /// strictly increasing and not below the base, positions increasing and
    /// inside a log of `log_size` bytes. Returns how many entries form a
    /// valid prefix and whether everything after it is zero padding.
    pub fn valid_prefix(&self, log_size: u64) -> (usize, bool) {
        self.file.valid_prefix(
            |i| self.entry(i),
            |(off, pos), prev| {
                off >= self.base_offset
                    && (pos as u64) < log_size
                    && prev.is_none_or(|(po, pp)| off > po && pos > pp)
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
    fn lookup_finds_largest_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::open(&path, 100, 80, true).unwrap();
        assert_eq!(idx.lookup(150), (100, 0));
        for (o, p) in [(110, 1000), (120, 2000), (130, 3000)] {
            assert!(idx.append(o, p));
        }
        assert_eq!(idx.lookup(99), (100, 0));
        assert_eq!(idx.lookup(109), (100, 0));
        assert_eq!(idx.lookup(110), (110, 1000));
        assert_eq!(idx.lookup(125), (120, 2000));
        assert_eq!(idx.lookup(10_000), (130, 3000));
        assert_eq!(idx.lookup_position(2500), (120, 2000));
        assert_eq!(idx.lookup_position(999), (100, 0));
        idx.truncate_to(120);
        assert_eq!(idx.entries(), 1);
        assert_eq!(idx.lookup(125), (110, 1000));
        // 80 bytes preallocated = 10 entries.
        for i in 0..9 {
            assert_eq!(idx.append(200 + i, 5000 + i as u32), i < 9);
        }
        assert!(idx.is_full());
        assert!(!idx.append(300, 9000));
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 80);
        drop(idx);
        // Kafka's byte layout: relative offset then position, big endian.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], &[0, 0, 0, 10, 0, 0, 0x03, 0xe8]);
        let ro = OffsetIndex::open_read_only(&path, 100).unwrap();
        assert_eq!(ro.entries(), 10);
        assert_eq!(ro.lookup(205), (205, 5005));
        assert_eq!(ro.valid_prefix(1 << 20), (10, true));
        assert_eq!(ro.valid_prefix(5003).0, 4);
    }

    #[test]
    fn preallocated_tail_is_padding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        let mut idx = OffsetIndex::open(&path, 0, 1024, true).unwrap();
        idx.append(5, 100);
        idx.append(9, 200);
        idx.flush().unwrap();
        drop(idx);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1024);
        let idx = OffsetIndex::open(&path, 0, 1024, true).unwrap();
        // Only the data is read: the preallocated hole after it is padding.
        assert!(idx.entries() >= 2);
        assert_eq!(idx.valid_prefix(1000), (2, true));
    }
}
