//! The storage under Kafka's sparse index files (`.index`, `.timeindex`):
//! fixed-size big-endian entries in a file that is preallocated (sparse,
//! `set_len`) to `segment.index.bytes` while its segment is active, and
//! trimmed to the entries it holds when the segment rolls or the log closes.
//!
//! Kafka's AbstractIndex maps the file. runnel keeps the entries in memory
//! instead and writes each new one with `pwrite`: a store through a mapping
//! of a sparse file faults (SIGBUS, the process dies without a word) when
//! the disk is full, and on tmpfs even a *read* of a hole through a mapping
//! allocates a page, so no page of a preallocated index is ever touched
//! through a mapping. A `pwrite` that finds the disk full fails with ENOSPC:
//! the entry is skipped (the index is sparse; lookups scan from an earlier
//! entry), nothing else is lost. Opening reads only the file's data
//! regions (`SEEK_DATA`/`SEEK_HOLE`), so a preallocated 10 MiB index left
//! by an unclean stop costs what its entries cost, and cutting entries
//! (`truncate_entries`) shortens the file, which never needs free space.
//!
//! A read-only index (for a reader while another process writes) is a copy
//! of the file that is never written back.

use super::error::Result;
use super::segment::io_err;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A file of fixed-size index entries.
pub(crate) struct IndexFile {
    path: PathBuf,
    /// The file, for a writable index while its segment is active; `None`
    /// for a read-only copy and once released ([`Self::release_file`]).
    file: Option<File>,
    /// A copy for a read-only user: never written back.
    read_only: bool,
    /// The entries' bytes (`entries * entry_size`): every lookup reads here.
    data: Vec<u8>,
    entry_size: usize,
    entries: usize,
    max_entries: usize,
    /// The file's length: `max_entries * entry_size` while preallocated.
    file_len: usize,
    /// Entries written since the last [`IndexFile::flush`].
    dirty: AtomicBool,
    /// Whether a skipped entry was logged already (once per file, not
    /// once per entry while the disk stays full).
    warned: bool,
}

impl IndexFile {
    /// Opens (creating if missing) a writable index. Entries already in the
    /// file (its data up to the last non-hole byte, in whole entries) are
    /// read; the file is then preallocated to `max_bytes` when `active`.
    pub(crate) fn open(
        path: &Path,
        entry_size: usize,
        max_bytes: usize,
        active: bool,
    ) -> Result<IndexFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len() as usize;
        let upto = data_end(&file, len)
            .next_multiple_of(entry_size)
            .min(len - len % entry_size);
        let mut data = vec![0u8; upto];
        file.read_exact_at(&mut data, 0).map_err(io_err(path))?;
        let entries = upto / entry_size;
        let max_entries = (max_bytes / entry_size).max(1);
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            read_only: false,
            data,
            entry_size,
            entries,
            max_entries,
            file_len: len,
            dirty: AtomicBool::new(false),
            warned: false,
        };
        let target = if active {
            index.max_entries.max(entries) * entry_size
        } else {
            entries * entry_size
        };
        index.set_file_len(target)?;
        Ok(index)
    }

    /// Reads an index into memory for a read-only user (empty if missing).
    pub(crate) fn open_read_only(path: &Path, entry_size: usize) -> Result<IndexFile> {
        let mut buf = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut buf).map_err(io_err(path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let entries = buf.len() / entry_size;
        buf.truncate(entries * entry_size);
        Ok(IndexFile {
            path: path.to_path_buf(),
            file: None,
            read_only: true,
            data: buf,
            entry_size,
            entries,
            max_entries: entries,
            file_len: 0,
            dirty: AtomicBool::new(false),
            warned: false,
        })
    }

    /// Sets the file's length (growing leaves a hole: no disk space used).
    fn set_file_len(&mut self, len: usize) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if len != self.file_len {
            file.set_len(len as u64).map_err(io_err(&self.path))?;
            self.file_len = len;
        }
        Ok(())
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Number of entries.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Whether no more entries fit.
    pub(crate) fn is_full(&self) -> bool {
        self.file.is_some() && self.entries >= self.max_entries
    }

    /// The bytes of entry `i` (`i < entries`).
    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        &self.data[i * self.entry_size..(i + 1) * self.entry_size]
    }

    /// Appends one entry; false if the index is full or read-only, or if
    /// the entry could not be written (a full disk: it is skipped, the
    /// index being sparse).
    pub(crate) fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_size);
        let Some(file) = &self.file else {
            return false;
        };
        if self.entries >= self.max_entries {
            return false;
        }
        let at = self.entries * self.entry_size;
        let written = super::fail_points::inject("index::write")
            .and_then(|()| file.write_all_at(entry, at as u64));
        if let Err(e) = written {
            if !self.warned {
                self.warned = true;
                tracing::warn!(
                    "{}: cannot write an index entry ({e}); entries are skipped until it can",
                    self.path.display()
                );
            }
            return false;
        }
        self.data.truncate(at);
        self.data.extend_from_slice(entry);
        self.entries += 1;
        self.file_len = self.file_len.max(at + self.entry_size);
        self.dirty.store(true, Ordering::Relaxed);
        true
    }

    /// Keeps the first `n` entries. The file is cut at them and grown back
    /// to its length, so the dropped entries become a hole: this frees
    /// space instead of needing any.
    pub(crate) fn truncate_entries(&mut self, n: usize) {
        if n >= self.entries {
            return;
        }
        let keep = n * self.entry_size;
        self.data.truncate(keep);
        self.data.shrink_to_fit();
        self.entries = n;
        if let Some(file) = &self.file {
            let cut = file
                .set_len(keep as u64)
                .and_then(|()| file.set_len(self.file_len as u64));
            if let Err(e) = cut {
                // The stale entries stay in the file; the next open finds
                // them inconsistent and rebuilds the index.
                tracing::warn!("{}: cannot cut index entries: {e}", self.path.display());
            }
        }
    }

    /// How many leading entries are valid, and whether everything after
    /// them is zero padding. Entry `i` is `decode(i)`; it is valid when
    /// `valid(entry, previous)` holds, `previous` being the valid entry
    /// before it. An all-zero entry ends the scan as the start of padding.
    pub(crate) fn valid_prefix<E: Copy>(
        &self,
        decode: impl Fn(usize) -> E,
        valid: impl Fn(E, Option<E>) -> bool,
    ) -> (usize, bool) {
        let mut prev = None;
        for i in 0..self.entries() {
            if self.is_zero_entry(i) {
                return (i, true);
            }
            let entry = decode(i);
            if !valid(entry, prev) {
                return (i, self.trailing_zero(i));
            }
            prev = Some(entry);
        }
        (self.entries(), true)
    }

    /// Whether entry `i` is all zero bytes: in a preallocated file (left by
    /// an unclean stop, or a log dropped without closing) that is where the
    /// padding starts. No real entry is all zero: offset index entries point
    /// past the first batch, and a time index entry at timestamp 0 is only
    /// lost as a sparse hint (lookups then scan from an earlier entry).
    fn is_zero_entry(&self, i: usize) -> bool {
        self.entry(i).iter().all(|&b| b == 0)
    }

    /// Whether the bytes after the entries are all zero, as a preallocated
    /// file's tail is (the bytes past `data` are holes of the file).
    fn trailing_zero(&self, from_entry: usize) -> bool {
        let from = (from_entry * self.entry_size).min(self.data.len());
        self.data[from..].iter().all(|&b| b == 0)
    }

    /// Shrinks the file to its entries (segment no longer active).
    pub(crate) fn trim(&mut self) -> Result<()> {
        self.flush()?;
        self.max_entries = self.entries.max(1).min(self.max_entries);
        self.set_file_len(self.entries * self.entry_size)
    }

    /// Closes the descriptor of an index that no longer grows (its segment
    /// is inactive): lookups read the entries in memory, and
    /// [`Self::preallocate`] opens the file again.
    pub(crate) fn release_file(&mut self) {
        self.file = None;
    }

    /// Grows the file back to `max_bytes` (segment active again).
    pub(crate) fn preallocate(&mut self, max_bytes: usize) -> Result<()> {
        if self.file.is_none() && !self.read_only {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(io_err(&self.path))?;
            self.file_len = file.metadata().map_err(io_err(&self.path))?.len() as usize;
            self.file = Some(file);
        }
        self.max_entries = (max_bytes / self.entry_size).max(1).max(self.entries);
        self.set_file_len(self.max_entries * self.entry_size)
    }

    /// fdatasyncs the file if entries were written since the last flush.
    pub(crate) fn flush(&self) -> Result<()> {
        if let Some(file) = &self.file
            && self.dirty.swap(false, Ordering::Relaxed)
            && let Err(e) = file.sync_data()
        {
            self.dirty.store(true, Ordering::Relaxed);
            return Err(io_err(&self.path)(e));
        }
        Ok(())
    }

    /// Renames the file (its open descriptor stays valid).
    pub(crate) fn rename(&mut self, to: &Path) -> Result<()> {
        std::fs::rename(&self.path, to).map_err(io_err(&self.path))?;
        self.path = to.to_path_buf();
        Ok(())
    }

    /// Binary search: the index of the last entry for which `le(entry)` holds,
    /// given that `le` holds for a prefix of the entries.
    pub(crate) fn last_where(&self, le: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le(self.entry(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }
}

/// The end of the file's last data region: past it the file is a hole
/// (reads as zeros) and is not read. `len` where the filesystem cannot tell.
fn data_end(file: &File, len: usize) -> usize {
    let fd = file.as_raw_fd();
    let mut end = 0usize;
    let mut pos = 0usize;
    while pos < len {
        let Ok(at) = libc::off_t::try_from(pos) else {
            return len;
        };
        // SAFETY: lseek on a valid descriptor; it only moves the file
        // offset, which nothing here uses (all I/O is positional).
        let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
        if data < 0 {
            let no_more = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
            return if no_more { end } else { len };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let Ok(hole) = usize::try_from(hole) else {
            return len;
        };
        if hole <= pos {
            return len;
        }
        end = hole;
        pos = hole;
    }
    end.min(len)
}

/// Reads a big-endian i32 at `at`.
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a big-endian i64 at `at`.
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn reopened_preallocated_index_stays_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let max = 10 << 20;
        drop(IndexFile::open(&path, 8, max, true).unwrap());
        // Left preallocated (as after an unclean stop): the hole is padding,
        // neither read nor written.
        let mut index = IndexFile::open(&path, 8, max, true).unwrap();
        assert_eq!(
            index.valid_prefix(|i| index.entry(i)[0], |_, _| true),
            (0, true)
        );
        assert!(index.trailing_zero(0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), max as u64);
        // Entries written, cut, and the cut ones gone from the file too.
        assert!(index.push(&[1; 8]) && index.push(&[2; 8]) && index.push(&[3; 8]));
        assert!(!index.trailing_zero(1));
        index.truncate_entries(1);
        index.flush().unwrap();
        assert!(index.trailing_zero(1));
        assert_eq!(index.entry(0), &[1; 8]);
        let blocks = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(blocks < 1 << 20, "{blocks} bytes allocated");
        drop(index);
        // Read back: the data block (not the 10 MiB) and the entry in it.
        let index = IndexFile::open(&path, 8, max, true).unwrap();
        assert!(
            index.entries() <= 4096 / 8,
            "{} entries read",
            index.entries()
        );
        assert_eq!(index.entry(0), &[1; 8]);
        assert_eq!(
            index.valid_prefix(|i| index.entry(i)[0], |_, _| true),
            (1, true)
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), max as u64);
        let mut tail = [0u8; 16];
        File::open(&path)
            .unwrap()
            .read_exact_at(&mut tail, 8)
            .unwrap();
        assert_eq!(tail, [0; 16], "cut entries are not left in the file");
    }
}
