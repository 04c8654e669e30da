//! The storage under Kafka's sparse index files (`.index`, `.timeindex`):
//! fixed-size big-endian entries in a file that is mmap'd and preallocated
//! to `segment.index.bytes` while its segment is active, and trimmed to the
//! entries it holds when the segment rolls or the log closes.
//!
//! A read-only index (for a reader while another process writes) is copied
//! into memory instead of mapped, so that a writer trimming the file cannot
//! fault the reader.

use super::error::Result;
use super::segment::io_err;
use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

enum Storage {
    /// Writable mapping of the whole (preallocated) file.
    Mapped(MmapMut),
    /// Nothing mapped (zero-length file).
    Empty,
    /// A read-only copy.
    Memory(Vec<u8>),
}

/// A file of fixed-size index entries.
pub(crate) struct IndexFile {
    path: PathBuf,
    file: Option<File>,
    storage: Storage,
    entry_size: usize,
    entries: usize,
    max_entries: usize,
    mapped_len: usize,
    /// Bytes of the file known to have disk blocks: a write through the map
    /// beyond them could fault on a full disk, so they are reserved first.
    allocated: usize,
}

/// A page of zeros to compare index bytes with.
static ZERO_PAGE: [u8; 4096] = [0; 4096];

/// How much of a preallocated index is reserved on disk at a time.
const ALLOCATE_STEP: usize = 64 * 1024;

impl IndexFile {
    /// Opens (creating if missing) a writable index. Entries already in the
    /// file (its length rounded down to whole entries) are kept; the file is
    /// then preallocated to `max_bytes` when `active`.
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
        let entries = len / entry_size;
        let max_entries = (max_bytes / entry_size).max(1);
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            storage: Storage::Empty,
            entry_size,
            entries,
            max_entries,
            mapped_len: len,
            allocated: 0,
        };
        let target = if active {
            index.max_entries.max(entries) * entry_size
        } else {
            entries * entry_size
        };
        index.remap(target)?;
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
            storage: Storage::Memory(buf),
            entry_size,
            entries,
            max_entries: entries,
            mapped_len: 0,
            allocated: 0,
        })
    }

    fn remap(&mut self, len: usize) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if len == self.mapped_len && !matches!(self.storage, Storage::Empty) {
            return Ok(());
        }
        // Unmap before changing the file size.
        self.storage = Storage::Empty;
        file.set_len(len as u64).map_err(io_err(&self.path))?;
        self.mapped_len = len;
        // Pages holding entries were written, so they have blocks.
        self.allocated = (self.entries * self.entry_size)
            .next_multiple_of(4096)
            .min(len);
        if len > 0 {
            // SAFETY: the file is private to this process's writer (the data
            // directory is locked); it is only resized through `remap`, which
            // drops the mapping first.
            let map =
                unsafe { MmapOptions::new().len(len).map_mut(file) }.map_err(io_err(&self.path))?;
            self.storage = Storage::Mapped(map);
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Mapped(m) => &m[..],
            Storage::Memory(v) => &v[..],
            Storage::Empty => &[],
        }
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
        &self.bytes()[i * self.entry_size..(i + 1) * self.entry_size]
    }

    /// Appends one entry; false if the index is full or read-only.
    pub(crate) fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_size);
        if self.file.is_none() || self.entries >= self.max_entries {
            return false;
        }
        let at = self.entries * self.entry_size;
        if at + self.entry_size > self.allocated && !self.reserve(at + self.entry_size) {
            return false;
        }
        if let Storage::Mapped(m) = &mut self.storage
            && m.len() >= at + self.entry_size
        {
            m[at..at + self.entry_size].copy_from_slice(entry);
            self.entries += 1;
            return true;
        }
        false
    }

    /// Reserves disk blocks up to at least `end` (posix_fallocate), so that
    /// a full disk makes an entry be skipped instead of faulting the process.
    fn reserve(&mut self, end: usize) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let to = (self.allocated + ALLOCATE_STEP)
            .max(end)
            .min(self.mapped_len);
        if to < end {
            return false;
        }
        // SAFETY: posix_fallocate on a valid descriptor and an in-file range.
        let rc = unsafe {
            libc::posix_fallocate(
                file.as_raw_fd(),
                self.allocated as libc::off_t,
                (to - self.allocated) as libc::off_t,
            )
        };
        if rc != 0 {
            tracing::warn!(
                "{}: cannot reserve index space ({}); entry skipped",
                self.path.display(),
                std::io::Error::from_raw_os_error(rc)
            );
            return false;
        }
        self.allocated = to;
        true
    }

    /// Keeps the first `n` entries.
    pub(crate) fn truncate_entries(&mut self, n: usize) {
        if n < self.entries {
            // Only pages holding data are cleared: a preallocated tail is a
            // hole and stays one (writing zeros there would fill the page
            // cache and the disk with megabytes of zeros per index).
            let (start, end) = (n * self.entry_size, self.entries * self.entry_size);
            let data = self.next_data(start).min(end);
            if let Storage::Mapped(m) = &mut self.storage {
                for chunk in m[data..end].chunks_mut(ZERO_PAGE.len()) {
                    if chunk != &ZERO_PAGE[..chunk.len()] {
                        chunk.fill(0);
                    }
                }
            }
            // Holes past the kept entries have no blocks: reserve them again
            // before writing there.
            self.allocated = self.allocated.min(start - start % ZERO_PAGE.len());
            if let Storage::Memory(v) = &mut self.storage {
                v.truncate(n * self.entry_size);
            }
            self.entries = n;
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

    /// Whether the bytes after the entries (up to the file's end) are all zero,
    /// as a preallocated file's tail is. Holes of the sparse file are
    /// skipped without being read (a fresh 10 MiB index is all hole), and
    /// the rest is compared a page at a time.
    fn trailing_zero(&self, from_entry: usize) -> bool {
        let bytes = self.bytes();
        let from = (from_entry * self.entry_size).min(bytes.len());
        let data = self.next_data(from).min(bytes.len());
        // Bytes in `from..data` are holes: zero without reading them.
        bytes[data..]
            .chunks(ZERO_PAGE.len())
            .all(|c| c == &ZERO_PAGE[..c.len()])
    }

    /// The first position at or after `from` that may hold data (the end
    /// of the file if only holes follow); `from` when that is unknown.
    fn next_data(&self, from: usize) -> usize {
        let (Some(file), Storage::Mapped(m)) = (&self.file, &self.storage) else {
            return from;
        };
        let Ok(offset) = libc::off_t::try_from(from) else {
            return from;
        };
        // SAFETY: lseek on a valid descriptor; it only moves the file offset,
        // which nothing else here uses (all I/O is positional or mapped).
        let at = unsafe { libc::lseek(file.as_raw_fd(), offset, libc::SEEK_DATA) };
        if at >= 0 {
            usize::try_from(at).unwrap_or(from).max(from)
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
            m.len()
        } else {
            from
        }
    }

    /// Shrinks the file to its entries (segment no longer active).
    pub(crate) fn trim(&mut self) -> Result<()> {
        self.flush()?;
        self.max_entries = self.entries.max(1).min(self.max_entries);
        self.remap(self.entries * self.entry_size)
    }

    /// Closes the descriptor of an index that no longer grows (its segment
    /// is inactive): the mapping stays readable without it.
    /// [`Self::preallocate`] opens the file again.
    pub(crate) fn release_file(&mut self) {
        if matches!(self.storage, Storage::Mapped(_) | Storage::Empty) {
            self.file = None;
        }
    }

    /// Grows the file back to `max_bytes` (segment active again).
    pub(crate) fn preallocate(&mut self, max_bytes: usize) -> Result<()> {
        if self.file.is_none() && !matches!(self.storage, Storage::Memory(_)) {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(io_err(&self.path))?;
            self.file = Some(file);
            // Remapped below through the reopened file.
            self.storage = Storage::Empty;
        }
        self.max_entries = (max_bytes / self.entry_size).max(1).max(self.entries);
        self.remap(self.max_entries * self.entry_size)
    }

    /// Writes the mapped pages to disk.
    pub(crate) fn flush(&self) -> Result<()> {
        // Only the pages that can hold entries: msync of a whole preallocated
        // (10 MiB) mapping costs milliseconds even when nothing is dirty.
        let used = self
            .allocated
            .max(self.entries * self.entry_size)
            .min(self.mapped_len);
        if let Storage::Mapped(m) = &self.storage
            && used > 0
        {
            m.flush_range(0, used).map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    /// Renames the file (its mapping stays valid).
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
        // Left preallocated (as after an unclean stop): every "entry" reads as
        // zero padding, and dropping them must not write 10 MiB of zeros.
        let mut index = IndexFile::open(&path, 8, max, true).unwrap();
        assert_eq!(index.entries(), max / 8);
        assert!(index.trailing_zero(0));
        index.truncate_entries(0);
        index.flush().unwrap();
        let blocks = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(blocks < 1 << 20, "{blocks} bytes allocated");
        // Real entries are still cleared when cut.
        assert!(index.push(&[1; 8]) && index.push(&[2; 8]));
        assert!(!index.trailing_zero(1));
        index.truncate_entries(1);
        assert!(index.trailing_zero(1));
        assert_eq!(index.entry(0), &[1; 8]);
    }
}
