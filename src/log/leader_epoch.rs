//! The leader epochs of one partition (Kafka's `LeaderEpochFileCache` with
//! `LeaderEpochCheckpointFile`): which epoch the leader was in from which
//! offset on. Owned by the partition's [`super::Log`]; owns the partition
//! directory's `leader-epoch-checkpoint` file.
//!
//! File format (Kafka's checkpoint text format, version 0):
//! ```text
//! 0                      version
//! <count>                number of entries
//! <epoch> <start_offset> one line per entry, epochs and offsets increasing
//! ```
//! Changes are kept in memory until [`LeaderEpochFileCache::flush`], which
//! writes the file atomically: `leader-epoch-checkpoint.tmp`, fsynced,
//! renamed over the file, directory fsynced (the log flushes after a
//! truncation and before its first append, so that creating a partition
//! costs no extra fsync). A file that does not parse is a
//! [`LogError::Corrupt`] naming the line.
//!
//! A single broker is leader at epoch 0 from the log start offset on: the
//! log assigns that entry at its first open. The cache is cut at the log
//! start offset (retention, DeleteRecords: the first entry starts there)
//! and at the log end (a recovery cut), as Kafka's `truncateFromStart` and
//! `truncateFromEnd` do. [`LeaderEpochFileCache::end_offset_for`] answers
//! OffsetForLeaderEpoch.

use super::error::{LogError, Result};
use super::segment::io_err;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the checkpoint file in a partition directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// Version of the checkpoint format.
pub const CHECKPOINT_VERSION: i32 = 0;
/// Kafka's `UNDEFINED_EPOCH`.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One entry: the leader epoch in force from `start_offset` on (Kafka's `EpochEntry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// Leader epoch.
    pub epoch: i32,
    /// First offset written in that epoch.
    pub start_offset: i64,
}

/// A partition's leader epoch cache and its checkpoint file.
#[derive(Debug)]
pub struct LeaderEpochFileCache {
    path: PathBuf,
    epochs: BTreeMap<i32, EpochEntry>,
    /// Whether changes are written (not for a read-only view).
    writable: bool,
    /// Changed since the file was last written.
    dirty: bool,
}

/// Encodes entries in the checkpoint text format.
pub fn encode(entries: &[EpochEntry]) -> String {
    let mut out = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for e in entries {
        out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
    }
    out
}

/// Decodes the checkpoint text format.
///
/// # Errors
/// The line number (1-based) and what is wrong.
pub fn decode(text: &str) -> std::result::Result<Vec<EpochEntry>, (usize, String)> {
    let mut lines = text.lines();
    let version = lines.next().ok_or((1, "empty file".to_string()))?;
    if version.trim() != CHECKPOINT_VERSION.to_string() {
        return Err((1, format!("unknown version '{version}'")));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or((2, "missing or bad entry count".to_string()))?;
    let mut out = Vec::with_capacity(count);
    for (i, line) in lines.enumerate() {
        let n = i + 3;
        let mut parts = line.split_whitespace();
        let (Some(epoch), Some(offset), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err((n, format!("expected '<epoch> <offset>', found '{line}'")));
        };
        let (Ok(epoch), Ok(start_offset)) = (epoch.parse(), offset.parse()) else {
            return Err((n, format!("bad numbers in '{line}'")));
        };
        out.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    if out.len() != count {
        return Err((2, format!("{count} entries announced, {} found", out.len())));
    }
    Ok(out)
}

impl LeaderEpochFileCache {
    /// Loads the cache of the partition directory `dir` (empty if the file
    /// is missing). A `writable` cache writes its changes.
    ///
    /// # Errors
    /// An I/O error reading it, [`LogError::Corrupt`] if it does not parse.
    pub fn load(dir: &Path, writable: bool) -> Result<Self> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => decode(&text).map_err(|(line, reason)| LogError::Corrupt {
                path: path.clone(),
                position: line as u64,
                reason: format!("line {line}: {reason}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(LeaderEpochFileCache {
            path,
            epochs: entries.into_iter().map(|e| (e.epoch, e)).collect(),
            writable,
            dirty: false,
        })
    }

    /// An empty cache for `dir` whose file is rewritten at the next flush
    /// (replacing one that did not parse).
    pub fn empty(dir: &Path) -> Self {
        LeaderEpochFileCache {
            path: dir.join(LEADER_EPOCH_CHECKPOINT),
            epochs: BTreeMap::new(),
            writable: true,
            dirty: true,
        }
    }

    /// The checkpoint file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> Vec<EpochEntry> {
        self.epochs.values().copied().collect()
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.keys().next_back().copied()
    }

    /// The latest entry, if any.
    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.epochs.values().next_back().copied()
    }

    /// Records that `epoch` starts at `start_offset` (Kafka's `assign`):
    /// ignored when it is the latest epoch already at that offset or
    /// earlier; entries it contradicts (an epoch as high or higher, or a
    /// start offset as late or later) are removed first.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) {
        if epoch < 0 || start_offset < 0 {
            return;
        }
        let needed = self
            .latest_entry()
            .is_none_or(|l| l.epoch != epoch || start_offset < l.start_offset);
        if !needed {
            return;
        }
        self.epochs
            .retain(|_, e| e.epoch < epoch && e.start_offset < start_offset);
        self.epochs.insert(
            epoch,
            EpochEntry {
                epoch,
                start_offset,
            },
        );
        self.dirty = true;
    }

    /// Removes the entries starting at or after `end_offset` (Kafka's
    /// `truncateFromEnd`, after the log was cut there).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        if end_offset >= 0
            && self
                .latest_entry()
                .is_some_and(|l| l.start_offset >= end_offset)
        {
            self.epochs.retain(|_, e| e.start_offset < end_offset);
            self.dirty = true;
        }
    }

    /// Drops the entries that start at or below the new log start offset,
    /// the last of them kept as starting there (Kafka's `truncateFromStart`).
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        if start_offset < 0 {
            return;
        }
        let removed: Vec<EpochEntry> = self
            .epochs
            .values()
            .take_while(|e| e.start_offset <= start_offset)
            .copied()
            .collect();
        let Some(last) = removed.last() else {
            return;
        };
        if removed.len() == 1 && last.start_offset == start_offset {
            return;
        }
        for e in &removed {
            self.epochs.remove(&e.epoch);
        }
        self.epochs.insert(
            last.epoch,
            EpochEntry {
                epoch: last.epoch,
                start_offset,
            },
        );
        self.dirty = true;
    }

    /// The end offset of `requested_epoch`, as (epoch, end offset), with
    /// Kafka's semantics for OffsetForLeaderEpoch (`endOffsetFor`): the
    /// latest epoch ends at the log end offset; an older known epoch ends
    /// where the next higher one starts (with the highest epoch at or
    /// below the requested one); one below the first known epoch answers
    /// the requested epoch with the first epoch's start offset; an unknown
    /// one above them all and [`UNDEFINED_EPOCH`] answer (-1, -1).
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        if requested_epoch == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return (requested_epoch, log_end_offset);
        }
        let Some((_, higher)) = self.epochs.range(requested_epoch + 1..).next() else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match self.epochs.range(..=requested_epoch).next_back() {
            None => (requested_epoch, higher.start_offset),
            Some((_, floor)) => (floor.epoch, higher.start_offset),
        }
    }

    /// Whether there are changes not yet written.
    pub fn is_dirty(&self) -> bool {
        self.dirty && self.writable
    }

    /// Writes the file if anything changed (tmp, fsync, rename, directory fsync).
    ///
    /// # Errors
    /// An I/O error writing it.
    pub fn flush(&mut self) -> Result<()> {
        if !self.is_dirty() {
            return Ok(());
        }
        let text = encode(&self.entries());
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(&self.path)(e));
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        super::partition_log::sync_dir(dir)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochFileCache) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochFileCache::load(dir.path(), true).unwrap();
        for &(e, o) in entries {
            c.assign(e, o);
        }
        c.flush().unwrap();
        (dir, c)
    }

    #[test]
    fn checkpoint_file_is_kafkas_text_format() {
        let (dir, c) = cache(&[(0, 0), (2, 100), (5, 250)]);
        let text = std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n3\n0 0\n2 100\n5 250\n");
        let again = LeaderEpochFileCache::load(dir.path(), true).unwrap();
        assert_eq!(again.entries(), c.entries());
        assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
        assert!(decode("1\n0\n").is_err());
        assert_eq!(decode("0\n2\n0 0\n").unwrap_err().0, 2);
        assert_eq!(decode("0\n1\n0 x\n").unwrap_err().0, 3);
        std::fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), "0\n1\n7\n").unwrap();
        assert!(matches!(
            LeaderEpochFileCache::load(dir.path(), true),
            Err(LogError::Corrupt { .. })
        ));
    }

    #[test]
    fn end_offset_for_follows_kafkas_leader_epoch_file_cache() {
        let (_d, c) = cache(&[(1, 10), (3, 20), (5, 30)]);
        assert_eq!(c.end_offset_for(5, 42), (5, 42), "latest: the log end");
        assert_eq!(c.end_offset_for(3, 42), (3, 30), "next epoch's start");
        assert_eq!(
            c.end_offset_for(4, 42),
            (3, 30),
            "unknown in between: floor epoch"
        );
        assert_eq!(
            c.end_offset_for(0, 42),
            (0, 10),
            "below the first: first start"
        );
        assert_eq!(c.end_offset_for(6, 42), (-1, -1), "above all");
        assert_eq!(c.end_offset_for(-1, 42), (-1, -1));
        let (_d, empty) = cache(&[]);
        assert_eq!(empty.end_offset_for(0, 42), (-1, -1));
    }

    #[test]
    fn assign_and_truncation_follow_kafka() {
        let (_d, mut c) = cache(&[(0, 0), (2, 100)]);
        c.assign(2, 150);
        assert_eq!(
            c.latest_entry().unwrap().start_offset,
            100,
            "same epoch later: ignored"
        );
        c.assign(2, 90);
        assert_eq!(c.entries().len(), 2);
        assert_eq!(c.latest_entry().unwrap().start_offset, 90);
        c.assign(4, 200);
        c.assign(3, 150);
        // Epoch 4 at 200 contradicts epoch 3 at 150 and goes.
        assert_eq!(c.latest_epoch(), Some(3));
        c.truncate_from_end(150);
        assert_eq!(c.latest_epoch(), Some(2));
        c.truncate_from_start(95);
        assert_eq!(
            c.entries(),
            vec![EpochEntry {
                epoch: 2,
                start_offset: 95
            }]
        );
        c.truncate_from_start(10);
        assert_eq!(c.entries()[0].start_offset, 95);
    }
}
