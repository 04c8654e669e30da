//! Kafka's transaction index (`TransactionIndex`, a `.txnindex` beside each
//! segment): the transactions aborted by a marker in that segment, so that
//! a read_committed fetch can tell its consumer which ranges to skip.
//!
//! Entries of 34 bytes, big endian, appended in the order the abort
//! markers were written (so `last_offset` increases):
//! ```text
//! version             int16   0
//! producer_id         int64
//! first_offset        int64   first offset of the aborted transaction
//! last_offset         int64   offset of its ABORT marker
//! last_stable_offset  int64   the last stable offset once the marker was written
//! ```
//! The file holds no header and no checksum. It is created at the first
//! abort (a segment with no aborted transaction has no `.txnindex`, as in
//! Kafka), written with the segment and fsynced with its flush, deleted and
//! renamed with it. It is rebuilt from the markers in the log when its
//! segment is recovered or the file does not read back
//! ([`TransactionIndex::sanity_check`]).
//!
//! A fetch collects the entries that overlap `[start, upper)` from the
//! segment holding `start` onwards, and stops at the first entry whose
//! last stable offset reaches `upper` (Kafka's `collectAbortedTxns`): any
//! later abort's transaction began at or after that offset.

use super::error::{LogError, Result};
use super::segment::io_err;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Extension of transaction index files.
pub const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Size of one entry.
pub const ENTRY_SIZE: usize = 34;
/// Entry version written and read.
pub const ENTRY_VERSION: i16 = 0;

/// One entry: an aborted transaction (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnIndexEntry {
    /// Producer id of the transaction.
    pub producer_id: i64,
    /// First offset of the transaction.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
    /// The last stable offset once the marker was written.
    pub last_stable_offset: i64,
}

impl TxnIndexEntry {
    /// The 34 bytes of the entry.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// What a Fetch response returns of it.
    pub fn aborted_txn(&self) -> AbortedTxn {
        AbortedTxn {
            producer_id: self.producer_id,
            first_offset: self.first_offset,
        }
    }
}

/// An aborted transaction as a Fetch response lists it (Kafka's
/// `FetchResponseData.AbortedTransaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AbortedTxn {
    /// Producer id of the transaction.
    pub producer_id: i64,
    /// First offset of the transaction.
    pub first_offset: i64,
}

/// Decodes a whole `.txnindex` file.
///
/// # Errors
/// A length that is no multiple of 34 bytes or an unknown version, with the
/// byte position.
pub fn decode_entries(bytes: &[u8]) -> std::result::Result<Vec<TxnIndexEntry>, (u64, String)> {
    if !bytes.len().is_multiple_of(ENTRY_SIZE) {
        let at = (bytes.len() - bytes.len() % ENTRY_SIZE) as u64;
        return Err((
            at,
            format!(
                "{} bytes is no multiple of the {ENTRY_SIZE}-byte entry",
                bytes.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
    for (i, e) in bytes.chunks_exact(ENTRY_SIZE).enumerate() {
        let version = i16::from_be_bytes([e[0], e[1]]);
        if version != ENTRY_VERSION {
            return Err((
                (i * ENTRY_SIZE) as u64,
                format!("unknown entry version {version}"),
            ));
        }
        let at = |p: usize| i64::from_be_bytes(e[p..p + 8].try_into().expect("8 bytes"));
        out.push(TxnIndexEntry {
            producer_id: at(2),
            first_offset: at(10),
            last_offset: at(18),
            last_stable_offset: at(26),
        });
    }
    Ok(out)
}

/// Path of the transaction index of the segment at `base_offset`.
pub fn txn_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    super::segment::segment_file(dir, base_offset, TXN_INDEX_SUFFIX)
}

/// The entries of a `.txnindex` file, empty when there is none. As Kafka's
/// reader, a partial entry at the end (a torn append) is not read; with
/// `whole`, it is an error instead.
fn read_file(path: &Path, whole: bool) -> Result<Vec<TxnIndexEntry>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let complete = if whole {
                bytes.len()
            } else {
                bytes.len() - bytes.len() % ENTRY_SIZE
            };
            decode_entries(&bytes[..complete]).map_err(|(position, reason)| LogError::Corrupt {
                path: path.to_path_buf(),
                position,
                reason,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// A segment's transaction index.
pub struct TransactionIndex {
    path: PathBuf,
    start_offset: i64,
    /// Entries, read from the file at their first use and kept (aborts are
    /// rare); a read-only index rereads the file, which a writer may extend.
    entries: Mutex<Option<Vec<TxnIndexEntry>>>,
    /// The file, opened for appending at the first write.
    file: Option<File>,
    /// Whether entries are cached (not for read-only views).
    cache: bool,
}

impl std::fmt::Debug for TransactionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TransactionIndex {
    /// The index at `path` of the segment starting at `start_offset`; the
    /// file is neither created nor read here.
    pub fn new(path: PathBuf, start_offset: i64) -> Self {
        TransactionIndex {
            path,
            start_offset,
            entries: Mutex::new(None),
            file: None,
            cache: true,
        }
    }

    /// An index that rereads its file at every use (a read-only log's view).
    pub fn read_only(path: PathBuf, start_offset: i64) -> Self {
        TransactionIndex {
            cache: false,
            ..TransactionIndex::new(path, start_offset)
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, oldest first.
    ///
    /// # Errors
    /// An I/O error, or [`LogError::Corrupt`] for a file that does not decode.
    pub fn entries(&self) -> Result<Vec<TxnIndexEntry>> {
        if !self.cache {
            return read_file(&self.path, false);
        }
        let mut guard = self.entries.lock().expect("txn index lock");
        if guard.is_none() {
            *guard = Some(read_file(&self.path, false)?);
        }
        Ok(guard.as_ref().expect("loaded").clone())
    }

    /// Offset of the last marker indexed, if any.
    ///
    /// # Errors
    /// As [`Self::entries`].
    pub fn last_offset(&self) -> Result<Option<i64>> {
        Ok(self.entries()?.last().map(|e| e.last_offset))
    }

    /// Appends an entry (creating the file at the first). Its marker must
    /// come after the last one indexed; one at or before it is ignored
    /// (already indexed: a replay after recovery).
    ///
    /// # Errors
    /// An I/O error writing it.
    pub fn append(&mut self, entry: TxnIndexEntry) -> Result<()> {
        let mut entries = self.entries()?;
        if entries
            .last()
            .is_some_and(|l| l.last_offset >= entry.last_offset)
        {
            return Ok(());
        }
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io_err(&self.path))?;
            // A partial entry left by a torn append is cut, so that entries
            // stay aligned.
            let len = f.metadata().map_err(io_err(&self.path))?.len();
            let whole = len - len % ENTRY_SIZE as u64;
            if whole != len {
                f.set_len(whole).map_err(io_err(&self.path))?;
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened");
        f.write_all(&entry.encode()).map_err(io_err(&self.path))?;
        entries.push(entry);
        if self.cache {
            *self.entries.lock().expect("txn index lock") = Some(entries);
        }
        Ok(())
    }

    /// The aborted transactions overlapping `[start, upper)`, and whether
    /// the search is complete (an entry's last stable offset reached
    /// `upper`, so no later segment can add one).
    ///
    /// # Errors
    /// As [`Self::entries`].
    pub fn collect_aborted_txns(&self, start: i64, upper: i64) -> Result<(Vec<AbortedTxn>, bool)> {
        let mut out = Vec::new();
        for e in self.entries()? {
            if e.last_offset >= start && e.first_offset < upper {
                out.push(e.aborted_txn());
            }
            if e.last_stable_offset >= upper {
                return Ok((out, true));
            }
        }
        Ok((out, false))
    }

    /// Checks the file (Kafka's `sanityCheck`, stricter): it decodes
    /// whole, with no partial entry at its end, and no marker lies before
    /// the segment's start or at or past `end_offset`.
    ///
    /// # Errors
    /// [`LogError::Corrupt`] naming what is wrong, or an I/O error.
    pub fn sanity_check(&self, end_offset: i64) -> Result<()> {
        let entries = read_file(&self.path, true)?;
        for (i, e) in entries.iter().enumerate() {
            if e.last_offset < self.start_offset || e.last_offset >= end_offset {
                return Err(LogError::Corrupt {
                    path: self.path.clone(),
                    position: (i * ENTRY_SIZE) as u64,
                    reason: format!(
                        "aborted transaction marker at offset {} outside the segment [{}, {end_offset})",
                        e.last_offset, self.start_offset
                    ),
                });
            }
        }
        Ok(())
    }

    /// Removes every entry and the file (before a rebuild).
    ///
    /// # Errors
    /// An I/O error deleting the file.
    pub fn reset(&mut self) -> Result<()> {
        self.file = None;
        *self.entries.lock().expect("txn index lock") = Some(Vec::new());
        remove_if_exists(&self.path)
    }

    /// Drops the entries whose marker is at or after `offset` (Kafka's
    /// `truncateTo`), rewriting the file.
    ///
    /// # Errors
    /// An I/O error rewriting it.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let entries = self.entries().unwrap_or_default();
        let keep: Vec<_> = entries
            .into_iter()
            .filter(|e| e.last_offset < offset)
            .collect();
        self.reset()?;
        for e in keep {
            self.append(e)?;
        }
        Ok(())
    }

    /// fdatasyncs the file if it was written.
    ///
    /// # Errors
    /// An I/O error syncing it.
    pub fn flush(&self) -> Result<()> {
        if let Some(f) = &self.file {
            f.sync_data().map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    /// fdatasyncs and closes the descriptor (the segment became inactive,
    /// and its later flush no longer sees the file); entries stay.
    ///
    /// # Errors
    /// An I/O error syncing it.
    pub fn release_file(&mut self) -> Result<()> {
        self.flush()?;
        self.file = None;
        Ok(())
    }

    /// Deletes the file, if there is one.
    ///
    /// # Errors
    /// An I/O error deleting it.
    pub fn delete(&self) -> Result<()> {
        remove_if_exists(&self.path)
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's bytes for AbortedTxn(producerId 5, firstOffset 100,
    /// lastOffset 110, lastStableOffset 101), written out by hand.
    fn kafka_entry() -> Vec<u8> {
        let mut b = vec![0, 0]; // version 0
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 100]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 110]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 101]);
        b
    }

    #[test]
    fn entries_round_trip_in_kafkas_format() {
        let e = TxnIndexEntry {
            producer_id: 5,
            first_offset: 100,
            last_offset: 110,
            last_stable_offset: 101,
        };
        assert_eq!(e.encode().to_vec(), kafka_entry());
        assert_eq!(decode_entries(&kafka_entry()).unwrap(), vec![e]);
        let dir = tempfile::tempdir().unwrap();
        let path = txn_index_file(dir.path(), 90);
        let mut idx = TransactionIndex::new(path.clone(), 90);
        assert_eq!(idx.entries().unwrap(), vec![]);
        assert!(!path.exists(), "no file until the first abort");
        idx.append(e).unwrap();
        idx.append(e).unwrap(); // already indexed: ignored
        idx.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), kafka_entry());
        let reread = TransactionIndex::read_only(path.clone(), 90);
        assert_eq!(reread.entries().unwrap(), vec![e]);
        reread.sanity_check(111).unwrap();
        assert!(
            reread.sanity_check(110).is_err(),
            "marker past the segment end"
        );
        assert!(
            TransactionIndex::new(path.clone(), 111)
                .sanity_check(200)
                .is_err(),
            "marker before the segment start"
        );
    }

    #[test]
    fn corrupt_files_are_refused_with_their_position() {
        let mut b = kafka_entry();
        b.extend_from_slice(&kafka_entry()[..10]);
        assert_eq!(decode_entries(&b).unwrap_err().0, 34);
        // A torn append: not read (as Kafka), but the sanity check fails.
        let dir = tempfile::tempdir().unwrap();
        let path = txn_index_file(dir.path(), 0);
        std::fs::write(&path, &b).unwrap();
        let idx = TransactionIndex::read_only(path, 0);
        assert_eq!(idx.entries().unwrap().len(), 1);
        assert!(idx.sanity_check(1000).is_err());
        let mut idx = TransactionIndex::new(idx.path().to_path_buf(), 0);
        let next = TxnIndexEntry {
            producer_id: 6,
            first_offset: 111,
            last_offset: 120,
            last_stable_offset: 121,
        };
        idx.append(next).unwrap();
        let mut want = kafka_entry();
        want.extend_from_slice(&next.encode());
        assert_eq!(
            std::fs::read(idx.path()).unwrap(),
            want,
            "the partial entry was cut"
        );
        let mut b = kafka_entry();
        b[1] = 1;
        assert!(decode_entries(&b).unwrap_err().1.contains("version 1"));
    }

    #[test]
    fn collect_stops_at_an_entry_whose_lso_reaches_the_upper_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TransactionIndex::new(txn_index_file(dir.path(), 0), 0);
        let entry = |pid, first, last, lso| TxnIndexEntry {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        };
        idx.append(entry(1, 0, 10, 11)).unwrap();
        idx.append(entry(2, 5, 20, 12)).unwrap();
        idx.append(entry(3, 30, 40, 41)).unwrap();
        fn pids(idx: &TransactionIndex, start: i64, upper: i64) -> (Vec<i64>, bool) {
            let (v, complete) = idx.collect_aborted_txns(start, upper).unwrap();
            (v.iter().map(|a| a.producer_id).collect(), complete)
        }
        assert_eq!(pids(&idx, 0, 100), (vec![1, 2, 3], false));
        assert_eq!(pids(&idx, 11, 30), (vec![2], true));
        assert_eq!(pids(&idx, 0, 5), (vec![1], true));
        assert_eq!(pids(&idx, 41, 50), (vec![], false));
        idx.truncate_to(20).unwrap();
        assert_eq!(pids(&idx, 0, 100), (vec![1], false));
        assert_eq!(
            decode_entries(&std::fs::read(idx.path()).unwrap())
                .unwrap()
                .len(),
            1
        );
        idx.reset().unwrap();
        assert!(!idx.path().exists());
    }
}
