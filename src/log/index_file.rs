//! The storage under Kafka's sparse index files (`.index`, `.timeindex`):
//! fixed-size big-endian entries in a file that is preallocated (sparse,
//! `set_len`) to `segment.index.bytes` while its segment is active, and
//! trimmed to the entries it holds when the segment rolls or the log closes.
//!
//! **Active segment: entries in memory, written with `pwrite`.** Kafka's
//! AbstractIndex maps the file. For the index that grows, runnel keeps the
//! entries in memory instead and writes each new one with `pwrite`: a store
//! through a mapping of a sparse file faults (SIGBUS, the process dies
//! without a word) when the disk is full, and on tmpfs even a *read* of a
//! hole through a mapping allocates a page, so no page of a preallocated
//! index is ever touched through a mapping. A `pwrite` that finds the disk
//! full fails with ENOSPC: the entry is skipped (the index is sparse;
//! lookups scan from an earlier entry), nothing else is lost. Opening reads
//! only the file's data regions (`SEEK_DATA`/`SEEK_HOLE`), so a
//! preallocated 10 MiB index left by an unclean stop costs what its entries
//! cost, and cutting entries (`truncate_entries`) shortens the file, which
//! never needs free space.
//!
//! **Inactive segment: mapped lazily, read-only (Kafka's LazyIndex).** An
//! index that no longer grows holds no memory and no descriptor: opening it
//! only stats the file, and the first lookup maps it read-only
//! (`MAP_SHARED`, `PROT_READ`) and closes the descriptor at once; the
//! mapping goes when the index is dropped (its segment deleted or the log
//! closed). So a log's resident memory and start-up reads do not grow with
//! its inactive segments. Mapping is safe because of two invariants:
//! - *the mapped bytes are allocated*: an inactive index is trimmed to its
//!   entries ([`IndexFile::trim`] at `LogSegment::finish`, and recovery
//!   rebuilds then finishes), and the map checks with `SEEK_HOLE` that the
//!   file has no hole; one that has (a roll cut short by a crash) is read
//!   into memory instead (its data regions only), so a read through the
//!   mapping never allocates a page and cannot fault on a full disk;
//! - *the file never shrinks under the mapping*: runnel writes to and cuts
//!   an inactive index only after [`IndexFile::load`] has dropped the
//!   mapping and read the entries back into memory (recovery, the cleaner's
//!   swap). Another process cutting the file is outside the contract, as in
//!   Kafka; read-only users (the CLI while a broker writes) take copies.
//!
//! Each mapped index is one of the process's memory maps
//! (`vm.max_map_count`, 65530 by default, as for Kafka); a map that fails
//! is logged and the index used empty, so lookups in that segment scan it
//! from its start instead of failing.
//!
//! Entries of an inactive index are trusted as Kafka trusts them (below the
//! recovery point): opening checks only that the file holds whole entries,
//! and a lookup whose entry does not match the log falls back to a scan
//! (`LogSegment::find`).
//!
//! A read-only index (for a reader while another process writes) is a copy
//! of the file that is never written back.

use super::error::Result;
use super::segment::io_err;
use memmap2::{Mmap, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where an index's entries are.
enum Store {
    /// In memory (`entries * entry_size` bytes): the active segment's index,
    /// a read-only copy, or an inactive one read back to be rebuilt.
    Memory(Vec<u8>),
    /// An inactive index: nothing read until the first lookup maps it.
    Lazy(OnceLock<View>),
}

/// A lazily opened index's entries once looked at.
enum View {
    /// The file mapped read-only (whole entries only).
    Mapped(Mmap),
    /// A copy: the file had holes, was empty or missing, or could not be
    /// mapped (then empty: lookups scan the segment from its start).
    Copied(Vec<u8>),
}

impl View {
    fn bytes(&self, entry_size: usize) -> &[u8] {
        match self {
            View::Mapped(m) => &m[..m.len() - m.len() % entry_size],
            View::Copied(v) => v,
        }
    }
}

/// A file of fixed-size index entries.
pub(crate) struct IndexFile {
    path: PathBuf,
    /// The file, for a writable index while its segment is active; `None`
    /// for a read-only copy, a lazy index, and once released
    /// ([`Self::release_file`]).
    file: Option<File>,
    /// A copy for a read-only user: never written back.
    read_only: bool,
    /// The entries: every lookup reads here.
    store: Store,
    entry_size: usize,
    max_entries: usize,
    /// The file's length: `max_entries * entry_size` while preallocated;
    /// for a lazy index, its length when stat'ed (0 if missing).
    file_len: usize,
    /// Entries written since the last [`IndexFile::flush`].
    dirty: AtomicBool,
    /// Whether a skipped entry was logged already (once per file, not
    /// once per entry while the disk stays full).
    warned: bool,
}

impl IndexFile {
    /// Opens (creating if missing) a writable index. For an `active`
    /// segment, the entries already in the file (its data up to the last
    /// non-hole byte, in whole entries) are read and the file is
    /// preallocated to `max_bytes`. For an inactive one nothing is read nor
    /// created: the file is only stat'ed, and mapped at the first lookup.
    pub(crate) fn open(
        path: &Path,
        entry_size: usize,
        max_bytes: usize,
        active: bool,
    ) -> Result<IndexFile> {
        if active {
            return IndexFile::open_in_memory(path, entry_size, max_bytes, true);
        }
        let file_len = match std::fs::metadata(path) {
            Ok(m) => m.len() as usize,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(path)(e)),
        };
        Ok(IndexFile {
            path: path.to_path_buf(),
            file: None,
            read_only: false,
            store: Store::Lazy(OnceLock::new()),
            entry_size,
            max_entries: (max_bytes / entry_size).max(1),
            file_len,
            dirty: AtomicBool::new(false),
            warned: false,
        })
    }

    /// Opens (creating if missing) a writable index with its entries read
    /// into memory; the file is preallocated to `max_bytes` when `active`,
    /// else trimmed to its entries.
    fn open_in_memory(
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
        let data = read_data(&file, len, entry_size).map_err(io_err(path))?;
        let entries = data.len() / entry_size;
        let max_entries = (max_bytes / entry_size).max(1);
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            read_only: false,
            store: Store::Memory(data),
            entry_size,
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
                count_read(buf.len());
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
            store: Store::Memory(buf),
            entry_size,
            max_entries: entries,
            file_len: 0,
            dirty: AtomicBool::new(false),
            warned: false,
        })
    }

    /// Reads a lazily opened index back into memory with its file open for
    /// writing (and trimmed to its entries), to be rebuilt or checked: the
    /// mapping, if any, is dropped first, so the file is never cut while
    /// mapped. No-op for an index already in memory.
    pub(crate) fn load(&mut self) -> Result<()> {
        if matches!(self.store, Store::Memory(_)) {
            return Ok(());
        }
        self.store = Store::Memory(Vec::new());
        let max_bytes = self.max_entries * self.entry_size;
        *self = IndexFile::open_in_memory(&self.path, self.entry_size, max_bytes, false)?;
        Ok(())
    }

    /// Whether the file is mapped (a lazily opened index that was looked at).
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(&self.store, Store::Lazy(cell) if matches!(cell.get(), Some(View::Mapped(_))))
    }

    /// Whether the entries are held in memory (not lazy or mapped).
    pub(crate) fn is_in_memory(&self) -> bool {
        matches!(self.store, Store::Memory(_))
    }

    /// Kafka's cheap sanity check, from the length alone: whether the file
    /// (of a lazily opened index: as stat'ed) holds whole entries.
    pub(crate) fn has_whole_entries(&self) -> bool {
        self.file_len.is_multiple_of(self.entry_size)
    }

    /// The entries' bytes, mapping a lazy index at the first call.
    fn bytes(&self) -> &[u8] {
        match &self.store {
            Store::Memory(data) => data,
            Store::Lazy(cell) => cell.get_or_init(|| self.map()).bytes(self.entry_size),
        }
    }

    /// Maps a lazy index read-only (see the module doc for why it is safe)
    /// and closes the descriptor; a file with holes is copied instead, a
    /// missing one is empty, and one that cannot be opened or mapped is
    /// logged and treated as empty.
    fn map(&self) -> View {
        let file = match super::fail_points::inject("index::map")
            .and_then(|()| File::open(&self.path))
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return View::Copied(Vec::new()),
            Err(e) => return self.unmappable(e),
        };
        let len = match file.metadata() {
            Ok(m) => m.len() as usize,
            Err(e) => return self.unmappable(e),
        };
        let whole = len - len % self.entry_size;
        if whole == 0 {
            return View::Copied(Vec::new());
        }
        if first_hole(&file, len) < whole {
            // Preallocated and never trimmed (a crash in the middle of a
            // roll): a read of a hole through a mapping could allocate a
            // page, so only the data regions are copied, without the zero
            // padding of the preallocation.
            return match read_data(&file, len, self.entry_size) {
                Ok(mut data) => {
                    while data.len() >= self.entry_size
                        && data[data.len() - self.entry_size..].iter().all(|&b| b == 0)
                    {
                        data.truncate(data.len() - self.entry_size);
                    }
                    View::Copied(data)
                }
                Err(e) => self.unmappable(e),
            };
        }
        // SAFETY: a read-only shared mapping of `whole` bytes that are all
        // allocated (no hole, checked above) of a file runnel never shrinks
        // while it is mapped (module doc); the bytes are only read.
        match unsafe { MmapOptions::new().len(whole).map(&file) } {
            Ok(map) => View::Mapped(map),
            Err(e) => self.unmappable(e),
        }
    }

    /// An index that could not be mapped: logged, then used empty (lookups
    /// scan the segment from its start).
    fn unmappable(&self, e: std::io::Error) -> View {
        tracing::warn!(
            "{}: cannot map the index ({e}); lookups in its segment scan from the start",
            self.path.display()
        );
        View::Copied(Vec::new())
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
        self.bytes().len() / self.entry_size
    }

    /// Whether no more entries fit.
    pub(crate) fn is_full(&self) -> bool {
        self.file.is_some() && self.entries() >= self.max_entries
    }

    /// The bytes of entry `i` (`i < entries`).
    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        &self.bytes()[i * self.entry_size..(i + 1) * self.entry_size]
    }

    /// Appends one entry; false if the index is full, read-only or
    /// inactive, or if the entry could not be written (a full disk: it is
    /// skipped, the index being sparse).
    pub(crate) fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_size);
        let (Some(file), Store::Memory(data)) = (&self.file, &mut self.store) else {
            return false;
        };
        let at = data.len();
        if at / self.entry_size >= self.max_entries {
            return false;
        }
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
        data.extend_from_slice(entry);
        self.file_len = self.file_len.max(at + self.entry_size);
        self.dirty.store(true, Ordering::Relaxed);
        true
    }

    /// Keeps the first `n` entries. The file is cut at them and grown back
    /// to its length, so the dropped entries become a hole: this frees
    /// space instead of needing any. A lazy index is read back first.
    pub(crate) fn truncate_entries(&mut self, n: usize) {
        if n >= self.entries() {
            return;
        }
        if let Err(e) = self.load() {
            tracing::warn!("{}: cannot cut index entries: {e}", self.path.display());
            return;
        }
        let keep = n * self.entry_size;
        if let Store::Memory(data) = &mut self.store {
            data.truncate(keep);
            data.shrink_to_fit();
        }
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
        let data = self.bytes();
        let from = (from_entry * self.entry_size).min(data.len());
        data[from..].iter().all(|&b| b == 0)
    }

    /// Shrinks the file to its entries (segment no longer active); a lazy
    /// index is left as it is.
    pub(crate) fn trim(&mut self) -> Result<()> {
        if !self.is_in_memory() {
            return Ok(());
        }
        self.flush()?;
        let entries = self.entries();
        self.max_entries = entries.max(1).min(self.max_entries);
        self.set_file_len(entries * self.entry_size)
    }

    /// Turns the index of a segment that became inactive into a lazy one:
    /// the descriptor is closed and the entries in memory dropped, and the
    /// next lookup maps the (trimmed) file. A read-only copy keeps its
    /// entries. [`Self::preallocate`] or [`Self::load`] read them back.
    pub(crate) fn release_file(&mut self) {
        if self.read_only {
            return;
        }
        if let Some(file) = &self.file
            && let Ok(m) = file.metadata()
        {
            self.file_len = m.len() as usize;
        }
        self.file = None;
        self.store = Store::Lazy(OnceLock::new());
    }

    /// Grows the file back to `max_bytes` (segment active again).
    pub(crate) fn preallocate(&mut self, max_bytes: usize) -> Result<()> {
        self.load()?;
        if self.file.is_none() && !self.read_only {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(io_err(&self.path))?;
            self.file_len = file.metadata().map_err(io_err(&self.path))?.len() as usize;
            self.file = Some(file);
        }
        self.max_entries = (max_bytes / self.entry_size).max(1).max(self.entries());
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
        let data = self.bytes();
        let (mut lo, mut hi) = (0usize, data.len() / self.entry_size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le(&data[mid * self.entry_size..(mid + 1) * self.entry_size]) {
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

/// The file's data up to the end of its last data region, in whole
/// entries (a preallocated file's hole after its entries is not read).
fn read_data(file: &File, len: usize, entry_size: usize) -> std::io::Result<Vec<u8>> {
    let upto = data_end(file, len)
        .next_multiple_of(entry_size)
        .min(len - len % entry_size);
    let mut data = vec![0u8; upto];
    file.read_exact_at(&mut data, 0)?;
    count_read(upto);
    Ok(data)
}

#[cfg(test)]
thread_local! {
    /// Bytes of index files this thread read with `read` calls (tests).
    pub(crate) static BYTES_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts index bytes read, for tests asserting what an open reads.
fn count_read(_bytes: usize) {
    #[cfg(test)]
    BYTES_READ.with(|c| c.set(c.get() + _bytes));
}

/// Where the file's first hole starts (`len` if it has none, or where the
/// filesystem cannot tell: then it reports no holes).
fn first_hole(file: &File, len: usize) -> usize {
    // SAFETY: lseek on a valid descriptor; it only moves the file offset,
    // which nothing here uses (all I/O is positional).
    let hole = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_HOLE) };
    usize::try_from(hole).map_or(0, |h| h.min(len))
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
