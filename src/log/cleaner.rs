//! Kafka's log cleaner for `cleanup.policy=compact`, and the record-level
//! check the log needs (keys present).
//!
//! Transactions, as in the doc of Kafka's `LogCleaner`: nothing at or past
//! the first unstable offset is cleaned (a segment is cleanable only if it
//! ends below it); the batches of aborted transactions (found through the
//! `.txnindex` files) are dropped and their keys do not count as the latest
//! of their key; control batches (COMMIT/ABORT markers) are never dropped
//! and their keys are no record keys. runnel keeps every marker (Kafka
//! removes one once its transaction's data is gone and
//! `delete.retention.ms` has passed; keeping them costs one small batch per
//! transaction and partition and never lets a read_committed consumer see
//! aborted data). The `.txnindex` entries of the cleaned segments move to
//! the cleaned one, which is swapped in with its other files.
//!
//! Legacy v0/v1 messages (segments Apache Kafka wrote before 0.11) are kept
//! as stored: their keys count when finding each key's latest offset, so
//! newer v2 records can supersede them, but they are never rewritten, since
//! runnel writes v2 only and a tool must not destroy what it merely reads.

use super::config::LogConfig;
use super::entry::EntryHeader;
use super::error::{LogError, Result};
use super::partition_log::Log;
use super::segment::{
    BatchInfo, BatchReader, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, ReadOutcome, TIME_INDEX_SUFFIX,
    io_err, segment_file,
};
use super::txn_index::{TXN_INDEX_SUFFIX, TxnIndexEntry};
use crate::record::BatchHeader;
use crate::record::batch::{self, ATTR_TIMESTAMP_TYPE};
use crate::record::{BatchBuilder, BatchRecords, Compression, Header, legacy};
use bytes::Bytes;
use std::collections::HashMap;
use std::path::Path;

/// Suffix of segment files being written by the cleaner.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of cleaned segment files ready to replace the old ones.
pub const SWAP_SUFFIX: &str = ".swap";

/// What a cleaning pass did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Segments looked at (the cleanable ones, never the active segment).
    pub segments_before: usize,
    /// Segments they became.
    pub segments_after: usize,
    /// Records in them before.
    pub records_before: u64,
    /// Records kept.
    pub records_after: u64,
    /// Bytes before.
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
    /// Tombstones dropped (older than `delete.retention.ms`).
    pub tombstones_dropped: u64,
    /// Records without a key dropped (as Kafka's cleaner does).
    pub keyless_dropped: u64,
    /// Records of aborted transactions dropped.
    pub aborted_dropped: u64,
    /// Why nothing was done, if nothing was (not compacted, nothing
    /// cleanable, dirty ratio below `min.cleanable.dirty.ratio`).
    pub skipped: Option<String>,
}

/// How to clean.
#[derive(Debug, Clone, Copy)]
pub struct CleanOptions {
    /// Current time, for `delete.retention.ms` and `min.compaction.lag.ms`.
    pub now_ms: i64,
    /// Compute the stats, change nothing.
    pub dry_run: bool,
    /// Clean even below `min.cleanable.dirty.ratio` (the `compact` command).
    pub force: bool,
}

/// Kafka's log cleaner: keeps only the latest record per key in the
/// cleanable segments (all but the active one, and none younger than
/// `min.compaction.lag.ms`), offsets unchanged.
pub struct LogCleaner;

type KeyMap = HashMap<Vec<u8>, i64>;

impl LogCleaner {
    /// The share of the cleanable bytes not cleaned since the log was opened.
    pub fn dirty_ratio(log: &Log) -> f64 {
        let (mut dirty, mut total) = (0u64, 0u64);
        let active = log.active_base();
        for seg in log.segments().filter(|s| s.base_offset() < active) {
            total += seg.size();
            if seg.base_offset() >= log.cleaned_up_to() {
                dirty += seg.size();
            }
        }
        if total == 0 {
            0.0
        } else {
            dirty as f64 / total as f64
        }
    }

    /// Cleans `log` if `cleanup.policy` includes compact. `progress` gets
    /// (bytes processed, bytes to process) as the two passes go.
    pub fn clean(
        log: &mut Log,
        opts: &CleanOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<CleanStats> {
        // Nothing is rewritten in an offline data directory.
        log.check_online()?;
        let mut stats = CleanStats::default();
        if !log.config().compact {
            stats.skipped = Some("cleanup.policy does not include compact".into());
            return Ok(stats);
        }
        if !opts.force && LogCleaner::dirty_ratio(log) < log.config().min_cleanable_dirty_ratio {
            stats.skipped = Some("dirty ratio below min.cleanable.dirty.ratio".into());
            return Ok(stats);
        }
        let config = log.config().clone();
        let lag_horizon = opts.now_ms.saturating_sub(config.min_compaction_lag_ms);
        let active = log.active_base();
        // Nothing at or past the first unstable offset is cleaned: a
        // segment is cleanable only if the next one starts at or below it.
        let unstable = log.first_unstable_offset().unwrap_or(i64::MAX);
        let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
        let mut cleanable = Vec::new();
        for (i, seg) in log.segments().enumerate() {
            let next = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            if seg.base_offset() >= active || seg.max_timestamp() > lag_horizon || next > unstable {
                break;
            }
            cleanable.push(seg.base_offset());
        }
        let aborted = AbortedRanges::of(log)?;
        if cleanable.is_empty() {
            stats.skipped = Some("no cleanable segment".into());
            return Ok(stats);
        }
        let total: u64 = log
            .segments()
            .filter(|s| cleanable.contains(&s.base_offset()))
            .map(|s| s.size())
            .sum::<u64>()
            * 2;
        let mut done = 0u64;
        // Pass 1: the latest offset of every key.
        let mut map = KeyMap::new();
        for seg in log
            .segments()
            .filter(|s| cleanable.contains(&s.base_offset()))
        {
            for_each_batch(seg, |_, bytes| {
                if EntryHeader::parse(bytes)?.is_legacy() {
                    for r in legacy::decode_entry(bytes)? {
                        if let Some(k) = r.key {
                            map.insert(k.to_vec(), r.offset);
                        }
                    }
                    done += bytes.len() as u64;
                    progress(done, total);
                    return Ok(());
                }
                let records = BatchRecords::new(bytes)?;
                if !records.header().is_control() && !aborted.contains(records.header()) {
                    for r in records.iter() {
                        let r = r?;
                        if let Some(k) = r.key {
                            map.insert(k.to_vec(), r.offset);
                        }
                    }
                }
                done += bytes.len() as u64;
                progress(done, total);
                Ok(())
            })?;
        }
        // Pass 2: rewrite, group by group (at most segment.bytes of input each).
        let delete_horizon = opts.now_ms.saturating_sub(config.delete_retention_ms);
        let groups = group_segments(log, &cleanable, config.segment_bytes);
        stats.segments_before = cleanable.len();
        for group in groups {
            let records_before = stats.records_before;
            let records_after = stats.records_after;
            let mut cleaned = if opts.dry_run {
                None
            } else {
                Some(LogSegment::create_with_suffix(
                    log.dir(),
                    group[0],
                    &config,
                    CLEANED_SUFFIX,
                )?)
            };
            for base in &group {
                let seg = log
                    .segments()
                    .find(|s| s.base_offset() == *base)
                    .expect("grouped segments exist");
                stats.bytes_before += seg.size();
                let mut out = Vec::new();
                let mut infos = Vec::new();
                for_each_batch(seg, |_, bytes| {
                    let kept = filter_batch(bytes, &map, &aborted, delete_horizon, &mut stats)?;
                    let kept: &[u8] = match &kept {
                        Kept::All => bytes,
                        Kept::None => &[],
                        Kept::Rebuilt(b) => b,
                    };
                    if !kept.is_empty() {
                        let h = EntryHeader::parse(kept)?;
                        infos.push(BatchInfo {
                            position: out.len(),
                            size: kept.len(),
                            last_offset: h.last_offset(),
                            max_timestamp: h.max_timestamp,
                        });
                        out.extend_from_slice(kept);
                    }
                    done += bytes.len() as u64;
                    progress(done, total);
                    Ok(())
                })?;
                stats.bytes_after += out.len() as u64;
                if let Some(c) = &mut cleaned {
                    c.append(&mut [std::io::IoSlice::new(&out)], &infos, &config)?;
                    // Every marker is kept, so every entry still holds.
                    for e in seg.txn_index().entries()? {
                        c.txn_index_mut().append(e)?;
                    }
                }
            }
            stats.segments_after += 1;
            let unchanged = group.len() == 1
                && stats.records_before - records_before == stats.records_after - records_after;
            if let Some(c) = cleaned {
                if unchanged {
                    // Nothing to remove: the segment stays as it is.
                    c.delete()?;
                } else {
                    swap_in(log, &group, c, &config)?;
                }
            }
        }
        if !opts.dry_run {
            log.set_cleaned_up_to(active);
        }
        Ok(stats)
    }
}

/// The aborted transactions of a log, by producer id: (first offset,
/// marker offset) ranges from the `.txnindex` files.
struct AbortedRanges(HashMap<i64, Vec<(i64, i64)>>);

impl AbortedRanges {
    fn of(log: &Log) -> Result<Self> {
        let mut map: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for seg in log.segments() {
            for TxnIndexEntry {
                producer_id,
                first_offset,
                last_offset,
                ..
            } in seg.txn_index().entries()?
            {
                map.entry(producer_id)
                    .or_default()
                    .push((first_offset, last_offset));
            }
        }
        Ok(AbortedRanges(map))
    }

    /// Whether a data batch belongs to an aborted transaction (a producer
    /// has one transaction at a time, so its range decides).
    fn contains(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.0.get(&h.producer_id).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|&(first, last)| first <= h.base_offset && h.base_offset <= last)
            })
    }
}

/// Consecutive cleanable segments whose total size fits `max_bytes`.
fn group_segments(log: &Log, cleanable: &[i64], max_bytes: u64) -> Vec<Vec<i64>> {
    let mut groups: Vec<Vec<i64>> = Vec::new();
    let mut size = 0u64;
    for seg in log
        .segments()
        .filter(|s| cleanable.contains(&s.base_offset()))
    {
        match groups.last_mut() {
            Some(g) if size + seg.size() <= max_bytes => {
                g.push(seg.base_offset());
                size += seg.size();
            }
            _ => {
                groups.push(vec![seg.base_offset()]);
                size = seg.size();
            }
        }
    }
    groups
}

fn for_each_batch(seg: &LogSegment, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let file = seg.file()?;
    let mut reader = BatchReader::new(&file, 0, seg.size());
    loop {
        match reader.next_batch().map_err(io_err(seg.log_path()))? {
            ReadOutcome::Batch(pos, bytes) => f(pos, bytes)?,
            ReadOutcome::End => return Ok(()),
            ReadOutcome::Invalid(e) => {
                return Err(LogError::Corrupt {
                    path: seg.log_path().to_path_buf(),
                    position: reader.position(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

enum Kept {
    All,
    None,
    Rebuilt(Vec<u8>),
}

/// Keeps the records of one batch that are the latest for their key (and,
/// for tombstones, not older than the delete horizon). A legacy v0/v1
/// message is kept whole, as stored.
fn filter_batch(
    bytes: &[u8],
    map: &KeyMap,
    aborted: &AbortedRanges,
    delete_horizon: i64,
    stats: &mut CleanStats,
) -> Result<Kept> {
    if EntryHeader::parse(bytes)?.is_legacy() {
        let count = legacy::decode_entry(bytes)?.len() as u64;
        stats.records_before += count;
        stats.records_after += count;
        return Ok(Kept::All);
    }
    let records = BatchRecords::new(bytes)?;
    let h = *records.header();
    stats.records_before += h.records_count.max(0) as u64;
    if h.is_control() {
        stats.records_after += h.records_count.max(0) as u64;
        return Ok(Kept::All);
    }
    if aborted.contains(&h) {
        stats.aborted_dropped += h.records_count.max(0) as u64;
        return Ok(Kept::None);
    }
    let mut kept = Vec::new();
    for r in records.iter() {
        let r = r?;
        let keep = match r.key {
            None => {
                stats.keyless_dropped += 1;
                false
            }
            Some(k) => {
                let latest = map.get(k).is_none_or(|&o| r.offset >= o);
                if latest && r.value.is_none() && r.timestamp < delete_horizon {
                    stats.tombstones_dropped += 1;
                    false
                } else {
                    latest
                }
            }
        };
        if keep {
            kept.push(r);
        }
    }
    stats.records_after += kept.len() as u64;
    if kept.len() == h.records_count as usize {
        return Ok(Kept::All);
    }
    let Some(first) = kept.first() else {
        return Ok(Kept::None);
    };
    let codec = Compression::from_id(h.compression_id())?;
    let mut b = BatchBuilder::with_capacity(codec, first.timestamp, bytes.len())
        .producer(h.producer_id, h.producer_epoch, h.base_sequence)
        .transactional(h.is_transactional())
        .log_append_time(h.attributes & ATTR_TIMESTAMP_TYPE != 0)
        .partition_leader_epoch(h.partition_leader_epoch);
    for r in &kept {
        let headers: Vec<Header> = r
            .headers()
            .map(|hd| Header {
                key: String::from_utf8_lossy(hd.key).into_owned(),
                value: hd.value.map(Bytes::copy_from_slice),
            })
            .collect();
        b.push_with_offset_delta(
            (r.offset - first.offset) as i32,
            r.timestamp,
            r.key,
            r.value,
            &headers,
        );
    }
    let mut out = b.finish();
    batch::set_base_offset(&mut out, first.offset);
    Ok(Kept::Rebuilt(out))
}

fn rename_suffix(dir: &Path, base: i64, from: &str, to: &str) -> Result<()> {
    for ext in [
        TXN_INDEX_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        LOG_SUFFIX,
    ] {
        let name = |suffix: &str| dir.join(format!("{base:020}.{ext}{suffix}"));
        let (src, dst) = (name(from), name(to));
        if ext == TXN_INDEX_SUFFIX && !src.exists() {
            // Created only at the first abort.
            continue;
        }
        std::fs::rename(&src, &dst).map_err(io_err(&src))?;
    }
    Ok(())
}

/// Replaces the group's segments by the cleaned one, crash-safely:
/// `.cleaned` → `.swap` (the commit point), old files deleted, `.swap` →
/// final names.
fn swap_in(
    log: &mut Log,
    group: &[i64],
    mut cleaned: LogSegment,
    config: &LogConfig,
) -> Result<()> {
    let dir = log.dir().to_path_buf();
    let base = group[0];
    cleaned.finish()?;
    cleaned.flush()?;
    drop(cleaned);
    rename_suffix(&dir, base, CLEANED_SUFFIX, SWAP_SUFFIX)?;
    super::partition_log::sync_dir(&dir)?;
    for old in group {
        if let Some(seg) = log.remove_segment(*old) {
            seg.delete()?;
        }
    }
    rename_suffix(&dir, base, SWAP_SUFFIX, "")?;
    super::partition_log::sync_dir(&dir)?;
    let mut seg = LogSegment::open(&dir, base, config, false)?;
    if !seg.load()? {
        let check = seg.recover(config, false)?;
        if let Some(reason) = check.error {
            return Err(LogError::Corrupt {
                path: seg.log_path().to_path_buf(),
                position: check.valid_bytes,
                reason,
            });
        }
    }
    seg.finish()?;
    log.insert_segment(seg);
    Ok(())
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
            if let Ok(h) = EntryHeader::parse(bytes) {
                last = h.last_offset();
            }
        }
        for old in super::partition_log::list_segments(dir)? {
            if old >= base && (old <= last || old == base) {
                for ext in [
                    LOG_SUFFIX,
                    INDEX_SUFFIX,
                    TIME_INDEX_SUFFIX,
                    TXN_INDEX_SUFFIX,
                ] {
                    remove_if_exists(&segment_file(dir, old, ext))?;
                }
            }
        }
        for ext in [
            TXN_INDEX_SUFFIX,
            INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            LOG_SUFFIX,
        ] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_support::batch_with;
    use crate::record::batch::BatchIter;
    use crate::record::{Record, decode_batch};

    fn compact_config() -> LogConfig {
        let mut c = LogConfig::default();
        c.compact = true;
        c.delete = false;
        c.segment_bytes = 1500;
        c.index_interval_bytes = 100;
        c.segment_index_bytes = 4096;
        c.delete_retention_ms = 1000;
        c
    }

    /// Every record of the log, read through `Log::read` from the start.
    fn all_records(log: &Log) -> Vec<Record> {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        while let Some(slice) = log.read(offset, 700, true).unwrap() {
            let bytes = slice.read_to_vec().unwrap();
            let mut it = BatchIter::new(&bytes);
            for (h, b) in it.by_ref() {
                batch::validate(b).unwrap();
                out.extend(
                    decode_batch(b)
                        .unwrap()
                        .into_iter()
                        .filter(|r| r.offset >= offset),
                );
                offset = h.last_offset() + 1;
            }
            assert_eq!(it.position(), bytes.len());
        }
        assert_eq!(offset, log.log_end_offset());
        out
    }

    /// 3 rounds over keys k0..k9 (k3 deleted in the last round), in
    /// batches of 2 (gzip ones among them), then an active segment.
    fn build(dir: &Path) -> (Log, Vec<Record>) {
        let (mut log, _) = Log::open(dir, compact_config(), false).unwrap();
        let hdr = [Header {
            key: "h".into(),
            value: Some(Bytes::from_static(b"hv")),
        }];
        let mut ts = 10_000;
        for round in 0..3 {
            for pair in 0..5 {
                let mut recs = Vec::new();
                let vals: Vec<String> = (0..2)
                    .map(|i| format!("r{round}-{}", pair * 2 + i))
                    .collect();
                let keys: Vec<String> = (0..2).map(|i| format!("k{}", pair * 2 + i)).collect();
                for i in 0..2 {
                    let tomb = round == 2 && keys[i] == "k3";
                    ts += 1;
                    recs.push((
                        ts,
                        Some(keys[i].as_bytes()),
                        (!tomb).then(|| vals[i].as_bytes()),
                    ));
                }
                let codec = if pair % 2 == 0 {
                    Compression::Gzip
                } else {
                    Compression::None
                };
                log.append(&batch_with(codec, &recs, &hdr)).unwrap();
            }
        }
        log.roll().unwrap();
        log.append(&batch_with(
            Compression::None,
            &[(ts + 1, Some(b"k0"), Some(b"active"))],
            &[],
        ))
        .unwrap();
        let before = all_records(&log);
        (log, before)
    }

    #[test]
    fn legacy_messages_are_kept_as_stored_beside_cleaned_v2_batches() {
        let legacy_log =
            include_bytes!("../../tests/fixtures/kafka/legacy-0/00000000000000000000.log");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(segment_file(dir.path(), 0, LOG_SUFFIX), legacy_log).unwrap();
        let (mut log, _) = Log::open(dir.path(), compact_config(), true).unwrap();
        // v2 batches after the legacy messages (one segment holds both), the
        // first superseded by the second, then an active segment.
        for v in ["old", "new"] {
            let recs = [(1_000, Some(&b"k2"[..]), Some(v.as_bytes()))];
            log.append(&batch_with(Compression::None, &recs, &[]))
                .unwrap();
        }
        log.roll().unwrap();
        log.append(&batch_with(
            Compression::None,
            &[(1, Some(b"x"), Some(b"y"))],
            &[],
        ))
        .unwrap();
        let opts = CleanOptions {
            now_ms: 1 << 50,
            dry_run: false,
            force: true,
        };
        let stats = LogCleaner::clean(&mut log, &opts, &mut |_, _| {}).unwrap();
        // Legacy records are all kept, even k2 (offset 2) and the keyless ones.
        assert_eq!((stats.records_before, stats.records_after), (11, 10));
        let path = segment_file(dir.path(), 0, LOG_SUFFIX);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..legacy_log.len()], &legacy_log[..]);
        let offsets: Vec<i64> = crate::record::decode_all(&bytes)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 10]);
        drop(log);
        let (log, report) = Log::open(dir.path(), compact_config(), true).unwrap();
        assert_eq!(report.bytes_removed, 0);
        assert_eq!(log.log_end_offset(), 12);
    }

    #[test]
    fn keeps_latest_per_key_with_offsets_and_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, before) = build(dir.path());
        assert!(log.segment_count() >= 3);
        let opts = CleanOptions {
            now_ms: 10_031,
            dry_run: false,
            force: true,
        };
        let mut last_progress = (0, 0);
        let stats = LogCleaner::clean(&mut log, &opts, &mut |d, t| last_progress = (d, t)).unwrap();
        assert_eq!(last_progress.0, last_progress.1);
        assert_eq!(stats.records_before, 30);
        assert_eq!(stats.records_after, 10);
        assert_eq!(stats.tombstones_dropped, 0);
        assert!(stats.bytes_after < stats.bytes_before);
        let after = all_records(&log);
        // The 10 latest records (k3's tombstone among them) and the active one.
        let expect: Vec<&Record> = before.iter().filter(|r| r.offset >= 20).collect();
        assert_eq!(after.len(), 11);
        for (a, e) in after.iter().zip(expect) {
            assert_eq!(a, e, "offsets, keys, values, headers, timestamps kept");
        }
        // Every offset still readable; gaps lead to the next record.
        for off in log.log_start_offset()..log.log_end_offset() {
            let s = log.read(off, 100, true).unwrap().unwrap();
            let bytes = s.read_to_vec().unwrap();
            let h = batch::validate(&bytes).unwrap();
            assert!(h.last_offset() >= off);
        }
        // Compression kept on rebuilt batches.
        let codecs: Vec<i16> = log
            .segments()
            .flat_map(|s| {
                let bytes = ReadSliceBytes::of(s);
                BatchIter::new(&bytes)
                    .map(|(h, _)| h.compression_id())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(codecs.contains(&1) && codecs.contains(&0));
        // Later: the tombstone is older than delete.retention.ms and goes.
        let opts = CleanOptions {
            now_ms: 20_000,
            ..opts
        };
        let stats = LogCleaner::clean(&mut log, &opts, &mut |_, _| {}).unwrap();
        assert_eq!(stats.tombstones_dropped, 1);
        let after2 = all_records(&log);
        assert_eq!(after2.len(), 10);
        assert!(after2.iter().all(|r| r.key.as_deref() != Some(&b"k3"[..])));
        // Survives a reopen, indexes and all.
        let end = log.log_end_offset();
        log.close().unwrap();
        let (log, report) = Log::open(dir.path(), compact_config(), true).unwrap();
        assert_eq!(report.bytes_removed, 0);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(all_records(&log), after2);
    }

    struct ReadSliceBytes;
    impl ReadSliceBytes {
        fn of(seg: &LogSegment) -> Vec<u8> {
            std::fs::read(seg.log_path()).unwrap()
        }
    }

    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn dry_run_changes_nothing_and_reports_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = build(dir.path());
        let before = snapshot(dir.path());
        let opts = CleanOptions {
            now_ms: 10_031,
            dry_run: true,
            force: true,
        };
        let dry = LogCleaner::clean(&mut log, &opts, &mut |_, _| {}).unwrap();
        assert_eq!(snapshot(dir.path()), before);
        let real = LogCleaner::clean(
            &mut log,
            &CleanOptions {
                dry_run: false,
                ..opts
            },
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(dry, real);
    }

    #[test]
    fn keyless_records_are_refused_in_compacted_topics() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), compact_config(), false).unwrap();
        let b = batch_with(
            Compression::Lz4,
            &[(1, Some(b"k"), Some(b"v")), (2, None, Some(b"v"))],
            &[],
        );
        assert!(matches!(
            log.append(&b),
            Err(LogError::MissingKey { offset_delta: 1 })
        ));
        assert_eq!(log.size_bytes(), 0);
    }

    #[test]
    fn skipped_below_dirty_ratio_or_without_compact() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = build(dir.path());
        let opts = CleanOptions {
            now_ms: 10_031,
            dry_run: false,
            force: false,
        };
        assert_eq!(LogCleaner::dirty_ratio(&log), 1.0);
        assert!(
            LogCleaner::clean(&mut log, &opts, &mut |_, _| {})
                .unwrap()
                .skipped
                .is_none()
        );
        assert_eq!(LogCleaner::dirty_ratio(&log), 0.0);
        assert!(
            LogCleaner::clean(&mut log, &opts, &mut |_, _| {})
                .unwrap()
                .skipped
                .is_some()
        );
        let mut c = compact_config();
        c.compact = false;
        log.set_config(c);
        let s = LogCleaner::clean(
            &mut log,
            &CleanOptions {
                force: true,
                ..opts
            },
            &mut |_, _| {},
        );
        assert!(s.unwrap().skipped.is_some());
    }

    /// A crash at each step of the swap leaves every record readable.
    #[test]
    fn crash_mid_swap_is_finished_or_rolled_back() {
        // The cleaned result, computed in a scratch copy.
        let scratch = tempfile::tempdir().unwrap();
        let (mut log, before) = build(scratch.path());
        let opts = CleanOptions {
            now_ms: 10_031,
            dry_run: false,
            force: true,
        };
        let stats = LogCleaner::clean(&mut log, &opts, &mut |_, _| {}).unwrap();
        assert!(stats.segments_before > 1);
        let cleaned = all_records(&log);
        let cleaned_files = snapshot(scratch.path());
        drop(log);
        let first_cleaned = cleaned_files
            .iter()
            .find(|(n, _)| n.ends_with(".log"))
            .map(|(n, _)| n.clone())
            .unwrap();
        let base: i64 = first_cleaned[..20].parse().unwrap();
        for stage in ["cleaned", "swap", "swap-old-deleted"] {
            let dir = tempfile::tempdir().unwrap();
            let (log, _) = build(dir.path());
            let group: Vec<i64> = log
                .segments()
                .map(|s| s.base_offset())
                .filter(|&b| b < log.active_base())
                .collect();
            drop(log);
            let suffix = if stage == "cleaned" {
                CLEANED_SUFFIX
            } else {
                SWAP_SUFFIX
            };
            for ext in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                let name = format!("{base:020}.{ext}");
                let bytes = &cleaned_files.iter().find(|(n, _)| *n == name).unwrap().1;
                std::fs::write(dir.path().join(format!("{name}{suffix}")), bytes).unwrap();
            }
            if stage == "swap-old-deleted" {
                for old in &group[..group.len() / 2] {
                    std::fs::remove_file(segment_file(dir.path(), *old, LOG_SUFFIX)).unwrap();
                }
            }
            let (log, _) = Log::open(dir.path(), compact_config(), true).unwrap();
            let got = all_records(&log);
            if stage == "cleaned" {
                assert_eq!(got, before, "rolled back");
            } else {
                assert_eq!(got, cleaned, "{stage}: finished");
            }
            let leftovers: Vec<_> = snapshot(dir.path())
                .into_iter()
                .filter(|(n, _)| n.ends_with(CLEANED_SUFFIX) || n.ends_with(SWAP_SUFFIX))
                .collect();
            assert!(leftovers.is_empty());
        }
    }
}
