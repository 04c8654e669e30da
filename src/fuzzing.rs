//! Fuzz target bodies: one function per decoder that reads bytes from a
//! peer or from disk, each calling exactly what the broker and the tools
//! call. The `fuzz/` crate (cargo-afl) runs them under the fuzzer and
//! `tests/fuzz_regressions.rs` replays every seed and every input the
//! fuzzer found (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`)
//! through them in `cargo test`. A target passes an input when it returns;
//! a panic (or an abort, a hang) is a finding.
//!
//! Targets and their inputs:
//! - [`frame`]: bytes as received on a connection: [`FrameReader`] splits
//!   them into frames, and each frame goes on to [`request`].
//! - [`request`]: one frame's body: the preamble is routed against the
//!   broker's API table and [`dispatch::decode_request`] decodes the header
//!   and body; Produce records go on to what the produce handler does
//!   before the log (legacy up-conversion) and to [`record_batch`].
//! - [`record_batch`]: a producer's or a log's record batches: the batch
//!   check the log runs on every appended batch ([`batch::validate`]), the
//!   record decoders of fetch, consume and inspect, and [`decode::scan`].
//! - [`legacy_message_set`]: a magic 0/1 message set: Produce v0–v2's
//!   up-conversion and the legacy entry decoders.
//! - [`segment`]: a segment's `.log`, `.index` and `.timeindex` written to
//!   a temporary directory, opened and loaded (or recovered) as the log
//!   does at startup, read as fetch and ListOffsets do, and opened as the
//!   read-only view the command line uses.
//! - [`offset_index`] / [`time_index`]: one index file opened writable and
//!   read-only, sanity-checked and looked up.
//! - [`txn_index`]: a transaction index file (`.txnindex`) decoded,
//!   sanity-checked, searched for aborted transactions as a read_committed
//!   fetch does, then appended to and truncated as the log does.
//! - [`batch_validator`]: a produce request's records for one partition
//!   through [`validator::validate_records`], what `Log::append` runs; what
//!   it accepts must then decode cleanly with every record decoder.

use crate::broker::dispatch::{self, Request, Route, broker_apis};
use crate::broker::group::GroupCoordinator;
use crate::broker::legacy_produce;
use crate::log::LogConfig;
use crate::log::offset_index::OffsetIndex;
use crate::log::segment::{
    BatchReader, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, ReadOutcome, TIME_INDEX_SUFFIX, segment_file,
};
use crate::log::time_index::TimeIndex;
use crate::log::txn_index::{self, TransactionIndex, TxnIndexEntry};
use crate::log::validator;
use crate::protocol::{FrameReader, RequestPreamble, SupportedApis};
use crate::record::legacy::{self, LegacyMessage};
use crate::record::{batch, decode};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

/// Every target, by the name its fuzz binary and corpus folders carry.
pub const TARGETS: &[&str] = &[
    "frame",
    "request",
    "record_batch",
    "legacy_message_set",
    "segment",
    "offset_index",
    "time_index",
    "batch_validator",
    "txn_index",
];

/// Runs the target named `target` on `data`; false if there is no such target.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "frame" => frame(data),
        "request" => request(data),
        "record_batch" => record_batch(data),
        "legacy_message_set" => legacy_message_set(data),
        "segment" => {
            segment(data);
        }
        "offset_index" => {
            offset_index(data);
        }
        "time_index" => {
            time_index(data);
        }
        "batch_validator" => batch_validator(data),
        "txn_index" => {
            txn_index(data);
        }
        _ => return false,
    }
    true
}

/// `socket.request.max.bytes`'s default, the limit a connection reads with.
const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// Frames as a connection reads them, each then decoded as a request.
pub fn frame(data: &[u8]) {
    let mut frames = FrameReader::new(data, MAX_REQUEST_BYTES);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        let next = std::pin::pin!(frames.next());
        // A slice never makes a read wait, so the future is ready at once.
        let Poll::Ready(result) = next.poll(&mut cx) else {
            panic!("FrameReader over a slice returned Pending");
        };
        match result {
            Ok(Some(body)) => request(&body),
            Ok(None) | Err(_) => return,
        }
    }
}

/// The APIs a running broker serves: its own and the group coordinator's,
/// as `Dispatcher::new` puts them together.
fn served_apis() -> &'static SupportedApis {
    static APIS: OnceLock<SupportedApis> = OnceLock::new();
    APIS.get_or_init(|| {
        GroupCoordinator::api_versions()
            .into_iter()
            .fold(broker_apis(), |apis, (key, min, max)| {
                apis.with(key, min, max)
            })
    })
}

/// One request frame's body: routed by its preamble, then decoded as the
/// dispatcher does; Produce records go on as the produce handler sends them.
pub fn request(data: &[u8]) {
    let Some(pre) = RequestPreamble::parse(data) else {
        return;
    };
    let Route::Supported(api) = dispatch::route(served_apis(), &pre) else {
        return;
    };
    let Ok((_, req)) = dispatch::decode_request(api, pre.api_version, Bytes::copy_from_slice(data))
    else {
        return;
    };
    if let Request::Produce(req) = req {
        for topic in &req.topic_data {
            for partition in &topic.partition_data {
                let Some(records) = &partition.records else {
                    continue;
                };
                if pre.api_version < legacy_produce::FIRST_MODELLED_VERSION
                    && legacy_produce::is_legacy(records)
                {
                    if let Ok(converted) = legacy_produce::up_convert(records, 0) {
                        record_batch(&converted);
                    }
                } else {
                    record_batch(records);
                }
            }
        }
    }
}

/// Record batches, through the log's append check and the record decoders.
pub fn record_batch(data: &[u8]) {
    // The log's check of each batch a producer sends, batch after batch.
    let mut rest = data;
    while let Ok(h) = batch::validate(rest) {
        rest = &rest[h.total_size()..];
    }
    for b in batch::BatchIter::new(data) {
        let _ = b;
    }
    // Fetch, consume and inspect: borrowed records, owned records, all.
    if let Ok(records) = decode::BatchRecords::new(data) {
        let _ = records.header();
        for r in records.iter() {
            let Ok(r) = r else { break };
            for h in r.headers() {
                let _ = h;
            }
            let _ = r.to_record();
        }
    }
    let _ = decode::decode_batch(data);
    let _ = decode::decode_batch_bytes(&Bytes::copy_from_slice(data));
    let _ = decode::decode_all(data);
    for entry in decode::scan(data) {
        if entry.is_err() {
            break;
        }
    }
}

/// A produce request's records for one partition, validated as the log
/// validates them before an append (plain and compacted topic, default and
/// small `max.message.bytes`). The oracle: every batch the validator lets
/// through is one that fetch, consume and inspect decode without an error,
/// record by record, so nothing it accepts can poison a consumer.
pub fn batch_validator(data: &[u8]) {
    let mut configs = [LogConfig::default(), LogConfig::default()];
    configs[1].compact = true;
    configs[1].max_message_bytes = 4096;
    for config in &configs {
        let Ok(valid) = validator::validate_records(data, config) else {
            continue;
        };
        let mut pos = 0;
        for v in &valid {
            assert_eq!(v.position, pos, "batches are contiguous");
            let size = v.header.total_size();
            let bytes = &data[pos..pos + size];
            let records = decode::BatchRecords::new(bytes).expect("a valid batch decodes");
            let mut count = 0;
            for r in records.iter() {
                let r = r.expect("a record of a valid batch decodes");
                assert!(!config.compact || r.key.is_some(), "compacted: keyed");
                count += 1;
            }
            assert_eq!(count, v.header.records_count, "records as declared");
            pos += size;
        }
        assert_eq!(pos, data.len(), "every byte belongs to a valid batch");
    }
}

/// A legacy (magic 0/1) message set: Produce v0–v2's up-conversion and the
/// legacy entry decoders.
pub fn legacy_message_set(data: &[u8]) {
    if legacy_produce::is_legacy(data)
        && let Ok(converted) = legacy_produce::up_convert(data, 0)
    {
        // The produce handler appends what up-conversion made.
        batch::validate(&converted).expect("up-converted batch fails the log's check");
        let _ = decode::decode_batch(&converted);
    }
    if let Ok(m) = LegacyMessage::parse(data) {
        let _ = m.compression();
        let _ = m.is_log_append_time();
    }
    let _ = legacy::decode_entry(data);
    let _ = legacy::summarize(data);
    let _ = decode::decode_all(data);
}

/// The directory the file targets write their inputs under: the one
/// `RUNNEL_FUZZ_SCRATCH` names, else `runnel-fuzz-<pid>` in the temporary
/// directory. Created on first use; whoever runs the targets removes it.
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        // bin/fuzz names one per fuzzer (AFL++ forks a process per batch of
        // runs); elsewhere, one per process.
        let dir = std::env::var_os("RUNNEL_FUZZ_SCRATCH")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::temp_dir().join(format!("runnel-fuzz-{}", std::process::id()))
            });
        std::fs::create_dir_all(&dir).expect("create fuzz scratch directory");
        dir
    })
}

/// A scratch directory for one file target, emptied of what the previous
/// input left.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch_root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create fuzz scratch directory");
    dir
}

/// Reads a big-endian u16 at `at`, or `None` past the end.
fn be_u16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// Reads a big-endian u64 at `at`, or `None` past the end.
fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// Length meaning "no such file" in the segment target's input.
const ABSENT: u16 = u16::MAX;

/// A segment's three files, from `data` laid out as:
/// `flags: u8` (bit 0: open it as the active segment, bit 1: base offset
/// 1000 instead of 0), `index_len: u16`, `timeindex_len: u16` (big endian,
/// `0xFFFF` = file missing), the `.index` bytes, the `.timeindex` bytes,
/// then the `.log` bytes. Opened, loaded or recovered, and read as the log
/// does; then opened as the command line's read-only view. Returns whether
/// the input got as far as a loaded (or recovered) segment, so that tests
/// can check the seeds do.
pub fn segment(data: &[u8]) -> bool {
    let (Some(&flags), Some(ilen), Some(tlen)) = (data.first(), be_u16(data, 1), be_u16(data, 3))
    else {
        return false;
    };
    let active = flags & 1 != 0;
    let base = if flags & 2 != 0 { 1000 } else { 0 };
    let mut rest = &data[5..];
    let mut take = |len: u16| -> Option<Vec<u8>> {
        if len == ABSENT {
            return None;
        }
        let n = (len as usize).min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head.to_vec())
    };
    let index = take(ilen);
    let timeindex = take(tlen);
    let log = rest;

    let dir = scratch_dir("segment");
    let write = |ext: &str, bytes: Option<&[u8]>| {
        if let Some(bytes) = bytes {
            std::fs::write(segment_file(&dir, base, ext), bytes).expect("write fuzz segment file");
        }
    };
    write(LOG_SUFFIX, Some(log));
    write(INDEX_SUFFIX, index.as_deref());
    write(TIME_INDEX_SUFFIX, timeindex.as_deref());

    // The read-only view first: `open` below may create missing indexes.
    if let Ok(mut seg) = LogSegment::open_read_only(&dir, base)
        && seg.load_read_only().is_ok()
    {
        read_segment(&seg);
        let _ = seg.extend_read_only();
    }

    let mut config = LogConfig::default();
    // Small preallocated indexes keep each run cheap; a multiple of both
    // entry sizes, as Kafka rounds `segment.index.bytes`.
    config.segment_index_bytes = 2400;
    config.index_interval_bytes = 64;
    let Ok(mut seg) = LogSegment::open(&dir, base, &config, active) else {
        return false;
    };
    // As the log opens each segment: load, or recover when that fails.
    let loaded = matches!(seg.load(), Ok(true));
    if !loaded {
        let Ok(check) = seg.recover(&config, active) else {
            return false;
        };
        if check.error.is_some() && !active {
            // The log refuses to open an inactive segment that does not
            // parse, and nothing is cut: the bytes stay as they were.
            assert_eq!(check.valid_bytes + check.cut_bytes, seg.size());
            return true;
        }
        assert_eq!(
            check.valid_bytes,
            seg.size(),
            "recovery left bytes it did not check"
        );
    }
    read_segment(&seg);
    let _ = seg.finish();
    read_segment(&seg);
    true
}

/// Reads a loaded segment as fetch and ListOffsets do, at a few offsets
/// and timestamps around what it holds.
fn read_segment(seg: &LogSegment) {
    let base = seg.base_offset();
    let next = seg.next_offset();
    for offset in [base, base + 1, (base + next) / 2, next - 1, next] {
        let _ = seg.find(offset);
        for (max_bytes, min_one) in [(1, true), (100, false), (usize::MAX / 2, true)] {
            if let Ok(Some((pos, len))) = seg.read(offset, max_bytes, min_one) {
                assert!(
                    pos + len as u64 <= seg.size(),
                    "read past the segment's end"
                );
            }
        }
    }
    let max_ts = seg.max_timestamp();
    for ts in [-1, 0, max_ts, max_ts.saturating_add(1)] {
        let _ = seg.find_by_timestamp(ts, base);
    }
    // The cleaner's and recovery's walk over whole batches.
    let Ok(file) = seg.file() else {
        return;
    };
    let mut reader = BatchReader::new(&file, 0, seg.size());
    while let Ok(ReadOutcome::Batch(_, bytes)) = reader.next_batch() {
        let _ = batch::validate(bytes);
    }
}

/// Index input: `parameter: u64` (the log size for `.index`, the next
/// offset past the base for `.timeindex`), `base: u8` (base offset 0 or
/// 1000), then the file's bytes.
fn index_input(data: &[u8]) -> Option<(u64, i64, &[u8])> {
    let parameter = be_u64(data, 0)?;
    let base = if *data.get(8)? & 1 != 0 { 1000 } else { 0 };
    Some((parameter, base, &data[9..]))
}

/// An offset index file (`.index`): opened writable (active or not) and
/// read-only, sanity-checked against a log size and looked up. Returns
/// whether every open succeeded.
pub fn offset_index(data: &[u8]) -> bool {
    let Some((log_size, base, file)) = index_input(data) else {
        return false;
    };
    let mut opened = true;
    let dir = scratch_dir("offset_index");
    let path = segment_file(&dir, base, INDEX_SUFFIX);
    std::fs::write(&path, file).expect("write fuzz index file");
    match OffsetIndex::open_read_only(&path, base) {
        Ok(index) => look_up_offsets(&index, base, log_size),
        Err(_) => opened = false,
    }
    for active in [false, true] {
        match OffsetIndex::open(&path, base, 2400, active) {
            Ok(mut index) => {
                look_up_offsets(&index, base, log_size);
                let (valid, _) = index.valid_prefix(log_size);
                index.keep(valid);
                look_up_offsets(&index, base, log_size);
                let _ = index.trim();
            }
            Err(_) => opened = false,
        }
        std::fs::write(&path, file).expect("write fuzz index file");
    }
    opened
}

fn look_up_offsets(index: &OffsetIndex, base: i64, log_size: u64) {
    let _ = index.valid_prefix(log_size);
    let _ = index.last_entry();
    let mut keys = vec![base, base + 1, base + i32::MAX as i64];
    for i in 0..index.entries().min(4) {
        let (offset, position) = index.entry(i);
        keys.push(offset);
        let _ = index.lookup_position(position as u64);
    }
    for k in keys {
        let _ = index.lookup(k);
    }
    let _ = index.lookup_position(log_size);
}

/// A time index file (`.timeindex`): opened writable (active or not) and
/// read-only, sanity-checked against a next offset and looked up. Returns
/// whether every open succeeded.
pub fn time_index(data: &[u8]) -> bool {
    let Some((next, base, file)) = index_input(data) else {
        return false;
    };
    let mut opened = true;
    // The next offset lies within the segment's offsets.
    let next_offset = base + (next % (i32::MAX as u64 + 1)) as i64;
    let dir = scratch_dir("time_index");
    let path = segment_file(&dir, base, TIME_INDEX_SUFFIX);
    std::fs::write(&path, file).expect("write fuzz index file");
    match TimeIndex::open_read_only(&path, base) {
        Ok(index) => look_up_times(&index, next_offset),
        Err(_) => opened = false,
    }
    for active in [false, true] {
        match TimeIndex::open(&path, base, 2400, active) {
            Ok(mut index) => {
                look_up_times(&index, next_offset);
                let (valid, _) = index.valid_prefix(next_offset);
                index.keep(valid);
                look_up_times(&index, next_offset);
                let _ = index.trim();
            }
            Err(_) => opened = false,
        }
        std::fs::write(&path, file).expect("write fuzz index file");
    }
    opened
}

fn look_up_times(index: &TimeIndex, next_offset: i64) {
    let _ = index.valid_prefix(next_offset);
    let _ = index.last_entry();
    let mut keys = vec![i64::MIN, -1, 0, i64::MAX];
    for i in 0..index.entries().min(4) {
        let (ts, _) = index.entry(i);
        keys.extend([ts, ts.saturating_add(1)]);
    }
    for k in keys {
        let _ = index.lookup(k);
        let _ = index.lookup_before(k);
    }
}

/// A transaction index file (`.txnindex`, input as for the other indexes:
/// the parameter is the end offset past the base): decoded, read through a
/// read-only index (entries, last offset, sanity check, the aborted
/// transactions of a few ranges), then through a writable one (an entry
/// appended after the last, truncated at the end offset). Returns whether
/// the file decoded.
pub fn txn_index(data: &[u8]) -> bool {
    let Some((parameter, base, file)) = index_input(data) else {
        return false;
    };
    let end = base + (parameter % (i32::MAX as u64 + 1)) as i64;
    let decoded = txn_index::decode_entries(file).is_ok();
    let dir = scratch_dir("txn_index");
    let path = txn_index::txn_index_file(&dir, base);
    std::fs::write(&path, file).expect("write fuzz index file");
    let index = TransactionIndex::read_only(path.clone(), base);
    let _ = index.entries();
    let last = index.last_offset().ok().flatten();
    let _ = index.sanity_check(end);
    for (start, upper) in [
        (base, end),
        (i64::MIN, i64::MAX),
        (end, base),
        (base, base + 1),
    ] {
        let _ = index.collect_aborted_txns(start, upper);
    }
    let mut index = TransactionIndex::new(path, base);
    let next = last.map_or(base, |o| o.saturating_add(1)).max(base);
    let _ = index.append(TxnIndexEntry {
        producer_id: 1,
        first_offset: next,
        last_offset: next.saturating_add(1),
        last_stable_offset: next,
    });
    let _ = index.collect_aborted_txns(base, i64::MAX);
    let _ = index.truncate_to(end);
    let _ = index.entries();
    decoded
}

/// The corpus folders of `target` under the fuzz crate at `fuzz_dir`:
/// its seeds and the regressions kept from what the fuzzer found.
pub fn corpus_dirs(fuzz_dir: &Path, target: &str) -> [PathBuf; 2] {
    [
        fuzz_dir.join("seeds").join(target),
        fuzz_dir.join("regressions").join(target),
    ]
}
