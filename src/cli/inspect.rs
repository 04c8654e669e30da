//! `runnel inspect`: show and verify segment files.

use super::format::{RecordView, write_int, write_json_bytes, write_json_headers, write_json_str};
use super::output::{or_dash, table};
use super::{EXIT_FAILURE, EXIT_OK};
use crate::log::data_dir::LOCK_FILE;
use crate::record::BatchError;
use crate::record::control::{ControlRecordType, EndTxnMarker, marker_of_batch};
use crate::record::decode::{self, BatchSummary};
use anyhow::Context;
use base64::Engine;
use serde::Serialize;
use serde_json::json;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Show the record batches of segment files and check them. Works on files written by runnel
and by Apache Kafka (record batches v2, compressed or not, and legacy v0/v1 message sets).

Each PATH is a .log, .index, .timeindex, .txnindex or .snapshot file, a partition directory
(topic-N) or a whole data directory. For every batch of a .log file, one line: position, base and
last offset, record count, first and max timestamp, size, magic, compression codec, CRC and whether
it is valid; a control batch (a transaction marker) also shows the marker (COMMIT or ABORT), its
producer id and epoch and the coordinator epoch. --records adds every record (offset, timestamp,
key, value, headers). For .index and .timeindex files, one line per entry; for .txnindex files
(aborted transactions), one line per entry (producer id, first and last offset, last stable
offset); for .snapshot files (producer state), one line per producer (id, epoch, last sequence
and offset). At the end, a summary table per partition: segments, batches, records, bytes, first
and last offset, corrupt batches.

--verify checks every batch's CRC, every producer snapshot's CRC, every index and time
index entry against the log (each offset index entry must point at the start of a batch that
holds that offset; each time index entry must name an offset whose batch has that timestamp)
and every transaction index entry (its last offset must be an ABORT marker of its producer in
the segment, its first offset not after it, entries in marker order), and prints only the
problems and the summary. Any problem (a bad CRC, a torn or unreadable batch, offsets going
backwards, a wrong index entry) makes the exit code 1, with or without --verify; the
message names the file and the byte position.

Index files of an active segment are preallocated (by runnel and Kafka alike): from the
first all-zero entry on, the file is unused space, not corruption. Nothing is written to
the files inspected, so a running broker's data directory can be inspected too: runnel
then names the broker holding its .lock, and data that broker is still writing at the end
of a partition (a batch not yet complete, index entries for batches appended after the
.log was read) is not reported as a problem.

--json prints NDJSON instead: one object per batch ({\"type\": \"batch\", \"file\", \"position\",
\"base_offset\", \"last_offset\", \"count\", \"first_timestamp\", \"max_timestamp\", \"size\",
\"magic\", \"compression\", \"crc\", \"crc_valid\"}), per record ({\"type\": \"record\", \"file\",
\"offset\", \"timestamp\", \"key\", \"value\", \"headers\"}, same encoding as consume --json),
per index entry ({\"type\": \"index_entry\", ...}), per transaction index entry
({\"type\": \"txnindex_entry\", \"producer_id\", \"first_offset\", \"last_offset\",
\"last_stable_offset\"}), per producer snapshot entry
({\"type\": \"producer_snapshot_entry\", \"producer_id\", \"epoch\", \"last_sequence\", ...}), per problem ({\"type\": \"error\", \"file\",
\"position\", \"message\"}) and per partition summary ({\"type\": \"summary\", ...}).";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    runnel inspect ./data/events-0/00000000000000000000.log
    runnel inspect --records ./data/events-0
    runnel inspect --verify ./data && echo all good
    runnel inspect --json ./data/events-0 | jq 'select(.type == \"batch\") | .size'

EXIT STATUS:
    0 no problem found, 1 corruption found, 2 usage error or a path that cannot be read.";

/// Arguments of `runnel inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Segment files (.log, .index, .timeindex, .txnindex, .snapshot), partition directories or data directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print every record of every batch.
    #[arg(long)]
    pub records: bool,

    /// Print only problems and the summary, not every batch (checks are the same; exit 1 on any problem).
    #[arg(long)]
    pub verify: bool,

    /// Print NDJSON (one JSON object per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Bytes read from a `.log` file at a time.
const READ_CHUNK: usize = 16 * 1024 * 1024;

/// Runs `runnel inspect`; returns the exit code.
pub fn run(args: InspectArgs) -> anyhow::Result<i32> {
    let mut inspector = Inspector {
        out: BufWriter::with_capacity(256 * 1024, std::io::stdout().lock()),
        records: args.records,
        verify: args.verify,
        json: args.json,
        problems: 0,
        first_problem: None,
        summaries: Vec::new(),
    };
    for path in &args.paths {
        inspector.inspect_path(path)?;
    }
    inspector.print_summaries()?;
    inspector.out.flush()?;
    match inspector.first_problem {
        Some(first) => {
            eprintln!(
                "runnel: {} problem{} found; the first: {first}",
                inspector.problems,
                if inspector.problems == 1 { "" } else { "s" }
            );
            Ok(EXIT_FAILURE)
        }
        None => Ok(EXIT_OK),
    }
}

/// One batch of a `.log` file, as index checks need it.
#[derive(Debug, Clone, Copy)]
struct BatchSpan {
    position: u64,
    base_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
    /// For a control batch: its producer id and marker, if it parses.
    marker: Option<(i64, EndTxnMarker)>,
}

/// Totals of one partition directory (or of loose files).
#[derive(Debug, Default, Clone, Serialize)]
struct PartitionSummary {
    partition: String,
    segments: u64,
    batches: u64,
    records: u64,
    bytes: u64,
    first_offset: Option<i64>,
    last_offset: Option<i64>,
    corrupt: u64,
}

/// Walks paths and prints what it finds.
struct Inspector<W: Write> {
    out: W,
    records: bool,
    verify: bool,
    json: bool,
    problems: u64,
    first_problem: Option<String>,
    summaries: Vec<PartitionSummary>,
}

/// What kind of segment file a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Log,
    Index,
    TimeIndex,
    /// A transaction index (`<offset>.txnindex`).
    TxnIndex,
    /// A producer state snapshot (`<offset>.snapshot`).
    Snapshot,
}

fn file_kind(path: &Path) -> Option<FileKind> {
    match path.extension()?.to_str()? {
        "log" => Some(FileKind::Log),
        "index" => Some(FileKind::Index),
        "timeindex" => Some(FileKind::TimeIndex),
        "txnindex" => Some(FileKind::TxnIndex),
        "snapshot" => Some(FileKind::Snapshot),
        _ => None,
    }
}

/// The base offset a segment file's name gives (`00000000000000000042.log` → 42).
fn base_offset_of(path: &Path) -> Option<i64> {
    let stem = path.file_stem()?.to_str()?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Segment files of a directory, sorted by base offset then kind (.log first).
fn segment_files(dir: &Path) -> anyhow::Result<Vec<(i64, FileKind, PathBuf)>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        if let (Some(kind), Some(base)) = (file_kind(&path), base_offset_of(&path)) {
            files.push((base, kind, path));
        }
    }
    files.sort_by_key(|(base, kind, _)| (*base, *kind as u8));
    Ok(files)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl<W: Write> Inspector<W> {
    fn inspect_path(&mut self, path: &Path) -> anyhow::Result<()> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let live = data_dir_of(path, meta.is_dir()).and_then(|dir| {
            let holder = lock_holder(&dir)?;
            eprintln!(
                "runnel: note: {} is in use by a running broker ({holder}); data it is still \
                 writing at the end of a partition is not checked",
                dir.display()
            );
            Some(holder)
        });
        let live = live.is_some();
        if meta.is_dir() {
            let segments = segment_files(path)?;
            if segments.is_empty() {
                // A data directory: every partition directory in it, in name order.
                let mut dirs = Vec::new();
                for entry in std::fs::read_dir(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                {
                    let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        dirs.push(entry.path());
                    }
                }
                dirs.sort();
                for dir in dirs {
                    let segments = segment_files(&dir)?;
                    if !segments.is_empty() {
                        self.inspect_partition(&dir, &segments, live)?;
                    }
                }
            } else {
                self.inspect_partition(path, &segments, live)?;
            }
            return Ok(());
        }
        let Some(kind) = file_kind(path) else {
            anyhow::bail!(
                "{}: not a segment file (.log, .index, .timeindex, .txnindex or .snapshot) or directory",
                path.display()
            );
        };
        let mut summary = PartitionSummary {
            partition: path.display().to_string(),
            ..Default::default()
        };
        match kind {
            FileKind::Log => {
                self.inspect_log(path, &mut summary, true, live)?;
            }
            FileKind::Index | FileKind::TimeIndex => {
                // Check the entries against the segment's .log next to it, if there is one.
                let log = path.with_extension("log");
                let batches = if log.is_file() {
                    Some(self.inspect_log(&log, &mut PartitionSummary::default(), false, live)?)
                } else {
                    None
                };
                self.inspect_index(path, kind, batches.as_deref(), live)?;
            }
            FileKind::TxnIndex => {
                let log = path.with_extension("log");
                let batches = if log.is_file() {
                    Some(self.inspect_log(&log, &mut PartitionSummary::default(), false, live)?)
                } else {
                    None
                };
                self.inspect_txn_index(path, batches.as_deref(), live)?;
            }
            FileKind::Snapshot => self.inspect_snapshot(path)?,
        }
        if kind == FileKind::Log {
            self.summaries.push(summary);
        }
        Ok(())
    }

    /// Inspects one partition directory's segments; with `live`, a broker
    /// holds the data directory and may be appending to the last segment.
    fn inspect_partition(
        &mut self,
        dir: &Path,
        segments: &[(i64, FileKind, PathBuf)],
        live: bool,
    ) -> anyhow::Result<()> {
        let mut summary = PartitionSummary {
            partition: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            ..Default::default()
        };
        let mut batches: Option<(i64, Vec<BatchSpan>)> = None;
        let active = segments
            .iter()
            .filter(|(_, kind, _)| *kind == FileKind::Log)
            .map(|(base, _, _)| *base)
            .max();
        for (base, kind, path) in segments {
            let writing = live && Some(*base) == active;
            match kind {
                FileKind::Log => {
                    summary.segments += 1;
                    let spans = self.inspect_log(path, &mut summary, true, writing)?;
                    batches = Some((*base, spans));
                }
                FileKind::Index | FileKind::TimeIndex => {
                    let spans = batches
                        .as_ref()
                        .filter(|(b, _)| b == base)
                        .map(|(_, spans)| spans.as_slice());
                    if spans.is_none() {
                        self.problem(path, 0, "no .log segment for this index")?;
                    }
                    self.inspect_index(path, *kind, spans, writing)?;
                }
                FileKind::TxnIndex => {
                    let spans = batches
                        .as_ref()
                        .filter(|(b, _)| b == base)
                        .map(|(_, spans)| spans.as_slice());
                    if spans.is_none() {
                        self.problem(path, 0, "no .log segment for this transaction index")?;
                    }
                    self.inspect_txn_index(path, spans, writing)?;
                }
                FileKind::Snapshot => self.inspect_snapshot(path)?,
            }
        }
        self.summaries.push(summary);
        Ok(())
    }

    /// Records a problem: printed (text or JSON) and counted for the exit code.
    fn problem(&mut self, path: &Path, position: u64, message: &str) -> anyhow::Result<()> {
        let line = format!("{} at byte {position}: {message}", path.display());
        if self.json {
            let value = json!({"type": "error", "file": path.display().to_string(),
                "position": position, "message": message});
            writeln!(self.out, "{value}")?;
        } else {
            writeln!(self.out, "ERROR {line}")?;
        }
        self.problems += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(line);
        }
        Ok(())
    }

    /// Reads a `.log` file in large chunks, prints (or checks) every batch and
    /// returns where the batches are, for the index checks. With `writing`
    /// (a running broker's active segment), an incomplete batch at the end
    /// is an append in progress, not a problem.
    fn inspect_log(
        &mut self,
        path: &Path,
        summary: &mut PartitionSummary,
        show: bool,
        writing: bool,
    ) -> anyhow::Result<Vec<BatchSpan>> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let segment_base = base_offset_of(path);
        if show && !self.json && !self.verify {
            writeln!(self.out, "{}", path.display())?;
        }
        let mut spans = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut file_pos: u64 = 0; // file position of buf[0]
        let mut filled = 0usize;
        let mut last_offset: Option<i64> = None;
        loop {
            // Refill: keep the unscanned tail, read more behind it.
            let want = READ_CHUNK.max(filled * 2).min((len - file_pos) as usize);
            if buf.len() < want {
                buf.resize(want, 0);
            }
            let to_read = (want - filled).min((len - file_pos) as usize - filled);
            if to_read > 0 {
                file.read_exact_at(&mut buf[filled..filled + to_read], file_pos + filled as u64)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                filled += to_read;
            }
            let at_eof = file_pos + filled as u64 == len;
            let mut consumed = 0usize;
            let mut stop = false;
            for entry in decode::scan(&buf[..filled]) {
                match entry {
                    Ok((pos, summary_b, bytes)) => {
                        consumed = pos + bytes.len();
                        let position = file_pos + pos as u64;
                        self.batch(
                            path,
                            position,
                            &summary_b,
                            bytes,
                            summary,
                            show,
                            segment_base,
                            last_offset,
                        )?;
                        last_offset = Some(summary_b.last_offset);
                        let marker = if summary_b.is_control {
                            marker_of_batch(bytes)
                                .ok()
                                .flatten()
                                .map(|m| (summary_b.producer_id, m))
                        } else {
                            None
                        };
                        spans.push(BatchSpan {
                            position,
                            base_offset: summary_b.base_offset,
                            last_offset: summary_b.last_offset,
                            max_timestamp: summary_b.max_timestamp,
                            marker,
                        });
                    }
                    Err(e) => {
                        let incomplete = matches!(e.error, BatchError::Truncated { .. });
                        if incomplete && !at_eof {
                            break; // the rest comes with the next chunk
                        }
                        let position = file_pos + e.position as u64;
                        if incomplete && writing {
                            eprintln!(
                                "runnel: note: {} at byte {position}: a batch is being appended",
                                path.display()
                            );
                            stop = true;
                            break;
                        }
                        summary.corrupt += 1;
                        self.problem(
                            path,
                            position,
                            &format!(
                                "{} ({} bytes not readable as batches)",
                                e.error,
                                len - position
                            ),
                        )?;
                        stop = true;
                        break;
                    }
                }
            }
            if stop || (at_eof && consumed == filled) {
                break;
            }
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
            file_pos += consumed as u64;
        }
        Ok(spans)
    }

    /// Handles one batch: counts it, checks it, prints it (and its records).
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &mut self,
        path: &Path,
        position: u64,
        b: &BatchSummary,
        bytes: &[u8],
        summary: &mut PartitionSummary,
        show: bool,
        segment_base: Option<i64>,
        previous_last: Option<i64>,
    ) -> anyhow::Result<()> {
        summary.batches += 1;
        summary.records += b.records_count.max(0) as u64;
        summary.bytes += b.size as u64;
        summary.first_offset.get_or_insert(b.base_offset);
        summary.last_offset = Some(b.last_offset);
        if !b.crc_valid {
            summary.corrupt += 1;
            let computed = if b.magic == 2 {
                crate::record::batch::compute_crc(bytes)
            } else {
                crc32fast::hash(&bytes[16..])
            };
            self.problem(
                path,
                position,
                &format!(
                    "CRC mismatch in batch at offset {}: stored {:#010x}, computed {computed:#010x}",
                    b.base_offset, b.crc
                ),
            )?;
        }
        if let Some(prev) = previous_last
            && b.base_offset <= prev
        {
            self.problem(
                path,
                position,
                &format!(
                    "offsets go backwards: batch starts at {} after offset {prev}",
                    b.base_offset
                ),
            )?;
        } else if previous_last.is_none()
            && let Some(base) = segment_base
            && b.base_offset < base
        {
            self.problem(
                path,
                position,
                &format!(
                    "first batch starts at offset {} below the segment's base offset {base}",
                    b.base_offset
                ),
            )?;
        }
        if !show || self.verify {
            return Ok(());
        }
        let compression = b.compression.map_or("unknown", |c| c.name());
        let marker = if b.is_control {
            marker_of_batch(bytes).ok().flatten()
        } else {
            None
        };
        if self.json {
            let mut value = json!({"type": "batch", "file": path.display().to_string(),
                "position": position, "base_offset": b.base_offset, "last_offset": b.last_offset,
                "count": b.records_count, "first_timestamp": b.base_timestamp,
                "max_timestamp": b.max_timestamp, "size": b.size, "magic": b.magic,
                "compression": compression, "crc": b.crc, "crc_valid": b.crc_valid,
                "is_control": b.is_control, "is_transactional": b.is_transactional,
                "producer_id": b.producer_id, "producer_epoch": b.producer_epoch,
                "base_sequence": b.base_sequence,
                "partition_leader_epoch": b.partition_leader_epoch});
            if let Some(m) = marker {
                value["control_type"] = m.control.name().into();
                value["coordinator_epoch"] = m.coordinator_epoch.into();
            }
            writeln!(self.out, "{value}")?;
        } else {
            writeln!(
                self.out,
                "baseOffset: {} lastOffset: {} count: {} position: {position} firstTimestamp: {} \
                 maxTimestamp: {} size: {} magic: {} compression: {compression} crc: {:#010x} \
                 crcValid: {}{}",
                b.base_offset,
                b.last_offset,
                b.records_count,
                b.base_timestamp,
                b.max_timestamp,
                b.size,
                b.magic,
                b.crc,
                b.crc_valid,
                match (b.is_control, marker) {
                    (true, Some(m)) => format!(
                        " control: true marker: {} producerId: {} producerEpoch: {} \
                         coordinatorEpoch: {}",
                        m.control.name(),
                        b.producer_id,
                        b.producer_epoch,
                        m.coordinator_epoch
                    ),
                    (true, None) => " control: true".to_string(),
                    (false, _) => String::new(),
                }
            )?;
        }
        if self.records && b.crc_valid {
            self.print_records(path, position, b, bytes)?;
        }
        Ok(())
    }

    fn print_records(
        &mut self,
        path: &Path,
        position: u64,
        b: &BatchSummary,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let file = path.display().to_string();
        let records = match decode::decode_batch(bytes) {
            Ok(records) => records,
            Err(e) => {
                return self.problem(path, position, &format!("cannot decode records: {e}"));
            }
        };
        if b.is_control {
            return Ok(());
        }
        for record in &records {
            let view = RecordView::of_record("", -1, record);
            if self.json {
                self.out.write_all(b"{\"type\":\"record\",\"file\":")?;
                write_json_str(&mut self.out, &file)?;
                self.out.write_all(b",\"offset\":")?;
                write_int(&mut self.out, view.offset)?;
                self.out.write_all(b",\"timestamp\":")?;
                write_int(&mut self.out, view.timestamp)?;
                write_json_bytes(&mut self.out, "key", view.key)?;
                write_json_bytes(&mut self.out, "value", view.value)?;
                write_json_headers(&mut self.out, &view.headers)?;
                self.out.write_all(b"}\n")?;
            } else {
                write!(
                    self.out,
                    "| offset: {} timestamp: {} key: ",
                    view.offset, view.timestamp
                )?;
                write_text_bytes(&mut self.out, view.key)?;
                self.out.write_all(b" value: ")?;
                write_text_bytes(&mut self.out, view.value)?;
                if !record.headers.is_empty() {
                    self.out.write_all(b" headers:")?;
                    for (key, value) in view.headers.iter() {
                        self.out.write_all(b" ")?;
                        write_json_str(&mut self.out, &String::from_utf8_lossy(key))?;
                        self.out.write_all(b"=")?;
                        write_text_bytes(&mut self.out, value)?;
                    }
                }
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Prints or checks an offset index or time index file against the batches
    /// of its segment (when known). With `writing` (a running broker's active
    /// segment), entries beyond the batches read are for appends made since
    /// the `.log` was read, and are not checked.
    fn inspect_index(
        &mut self,
        path: &Path,
        kind: FileKind,
        batches: Option<&[BatchSpan]>,
        writing: bool,
    ) -> anyhow::Result<()> {
        let data = read_file(path)?;
        let Some(base) = base_offset_of(path) else {
            anyhow::bail!(
                "{}: not named by a 20-digit base offset, cannot read its relative offsets",
                path.display()
            );
        };
        let entry_size = if kind == FileKind::Index { 8 } else { 12 };
        if data.len() % entry_size != 0 {
            self.problem(
                path,
                (data.len() - data.len() % entry_size) as u64,
                &format!("file size {} is not a multiple of {entry_size}", data.len()),
            )?;
        }
        let show = !self.verify;
        if show && !self.json {
            writeln!(self.out, "{}", path.display())?;
        }
        let mut previous: Option<(i64, i64)> = None;
        for (i, entry) in data.chunks_exact(entry_size).enumerate() {
            let at = (i * entry_size) as u64;
            let be32 = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let (first, second) = if kind == FileKind::Index {
                (be32(&entry[0..4]) as i64, be32(&entry[4..8]) as i64)
            } else {
                (
                    i64::from_be_bytes(entry[0..8].try_into().expect("8 bytes")),
                    be32(&entry[8..12]) as i64,
                )
            };
            // Kafka and runnel preallocate the active segment's index files:
            // the first all-zero entry starts the unused tail (no real entry
            // is all zero: the first offset index entry points past the first
            // batch). Anything but zeros after it is a problem.
            if entry.iter().all(|&b| b == 0) {
                let tail = &data[i * entry_size..];
                if let Some(nonzero) = tail.iter().position(|&b| b != 0) {
                    self.problem(
                        path,
                        at + nonzero as u64,
                        &format!("data after the unused (zero) tail that starts at entry {i}"),
                    )?;
                }
                break;
            }
            let (offset, position, timestamp) = match kind {
                FileKind::Index => (base + first, second, None),
                _ => (base + second, -1, Some(first)),
            };
            if show {
                if self.json {
                    let value = match timestamp {
                        None => json!({"type": "index_entry", "file": path.display().to_string(),
                            "offset": offset, "position": position}),
                        Some(ts) => json!({"type": "timeindex_entry",
                            "file": path.display().to_string(), "timestamp": ts, "offset": offset}),
                    };
                    writeln!(self.out, "{value}")?;
                } else {
                    match timestamp {
                        None => writeln!(self.out, "offset: {offset} position: {position}")?,
                        Some(ts) => writeln!(self.out, "timestamp: {ts} offset: {offset}")?,
                    }
                }
            }
            let key = timestamp.unwrap_or(position);
            if let Some((prev_offset, prev_key)) = previous
                && (offset < prev_offset || key < prev_key)
            {
                self.problem(
                    path,
                    at,
                    &format!("entry {i} (offset {offset}) goes backwards from the previous one"),
                )?;
            }
            previous = Some((offset, key));
            let Some(batches) = batches else { continue };
            if writing && batches.last().is_none_or(|b| offset > b.last_offset) {
                continue;
            }
            if let Some(problem) = check_entry(batches, offset, position, timestamp) {
                self.problem(path, at, &format!("entry {i}: {problem}"))?;
            }
        }
        Ok(())
    }

    /// Prints or checks a transaction index (`.txnindex`) against the
    /// batches of its segment (when known): each entry's last offset must be
    /// an ABORT marker of its producer, its first offset not after it, and
    /// entries in marker order. With `writing`, entries past the batches read
    /// are for markers appended since, and are not checked.
    fn inspect_txn_index(
        &mut self,
        path: &Path,
        batches: Option<&[BatchSpan]>,
        writing: bool,
    ) -> anyhow::Result<()> {
        use crate::log::txn_index::{ENTRY_SIZE, decode_entries};
        let data = read_file(path)?;
        let whole = data.len() - data.len() % ENTRY_SIZE;
        if whole != data.len() {
            self.problem(
                path,
                whole as u64,
                &format!("file size {} is not a multiple of {ENTRY_SIZE}", data.len()),
            )?;
        }
        let entries = match decode_entries(&data[..whole]) {
            Ok(entries) => entries,
            Err((position, why)) => return self.problem(path, position, &why),
        };
        let show = !self.verify;
        if show && !self.json {
            writeln!(self.out, "{}", path.display())?;
        }
        let mut previous: Option<i64> = None;
        for (i, e) in entries.iter().enumerate() {
            let at = (i * ENTRY_SIZE) as u64;
            if show {
                if self.json {
                    let value = json!({"type": "txnindex_entry", "file": path.display().to_string(),
                        "producer_id": e.producer_id, "first_offset": e.first_offset,
                        "last_offset": e.last_offset, "last_stable_offset": e.last_stable_offset});
                    writeln!(self.out, "{value}")?;
                } else {
                    writeln!(
                        self.out,
                        "producer_id: {} first_offset: {} last_offset: {} last_stable_offset: {}",
                        e.producer_id, e.first_offset, e.last_offset, e.last_stable_offset
                    )?;
                }
            }
            if e.first_offset > e.last_offset {
                self.problem(
                    path,
                    at,
                    &format!(
                        "entry {i}: first offset {} after the marker at {}",
                        e.first_offset, e.last_offset
                    ),
                )?;
            }
            if let Some(prev) = previous
                && e.last_offset <= prev
            {
                self.problem(
                    path,
                    at,
                    &format!(
                        "entry {i} (marker at {}) goes backwards from the previous one",
                        e.last_offset
                    ),
                )?;
            }
            previous = Some(e.last_offset);
            let Some(batches) = batches else { continue };
            if writing && batches.last().is_none_or(|b| e.last_offset > b.last_offset) {
                continue;
            }
            let i_batch = batches.partition_point(|b| b.last_offset < e.last_offset);
            let problem = match batches.get(i_batch) {
                Some(b) if b.base_offset <= e.last_offset => match b.marker {
                    Some((pid, m))
                        if pid == e.producer_id && m.control == ControlRecordType::Abort =>
                    {
                        None
                    }
                    Some((pid, m)) => Some(format!(
                        "offset {} holds a {} marker of producer {pid}, not an ABORT of producer {}",
                        e.last_offset,
                        m.control.name(),
                        e.producer_id
                    )),
                    None => Some(format!(
                        "offset {} is no transaction marker (producer {})",
                        e.last_offset, e.producer_id
                    )),
                },
                _ => Some(format!(
                    "offset {} is in no batch of the segment",
                    e.last_offset
                )),
            };
            if let Some(problem) = problem {
                self.problem(path, at, &format!("entry {i}: {problem}"))?;
            }
        }
        Ok(())
    }

    /// Prints (or with --verify only checks: version, CRC, length) a
    /// producer state snapshot, one line per producer.
    fn inspect_snapshot(&mut self, path: &Path) -> anyhow::Result<()> {
        let data = read_file(path)?;
        let entries = match crate::log::producer_state::decode_snapshot(&data) {
            Ok(entries) => entries,
            Err(why) => return self.problem(path, 0, &format!("producer snapshot: {why}")),
        };
        if self.verify {
            return Ok(());
        }
        if !self.json {
            writeln!(self.out, "{}", path.display())?;
        }
        for e in entries {
            let last = e.batches.back();
            let (last_sequence, last_offset, offset_delta, timestamp) = last
                .map_or((-1, -1, 0, e.last_timestamp), |b| {
                    (b.last_seq, b.last_offset, b.offset_delta, b.timestamp)
                });
            let txn = e.current_txn_first_offset.unwrap_or(-1);
            if self.json {
                let value = json!({"type": "producer_snapshot_entry",
                    "file": path.display().to_string(), "producer_id": e.producer_id,
                    "epoch": e.producer_epoch, "last_sequence": last_sequence,
                    "last_offset": last_offset, "offset_delta": offset_delta,
                    "timestamp": timestamp, "coordinator_epoch": e.coordinator_epoch,
                    "current_txn_first_offset": txn});
                writeln!(self.out, "{value}")?;
            } else {
                writeln!(
                    self.out,
                    "producer_id: {} epoch: {} last_sequence: {last_sequence} last_offset: \
                     {last_offset} offset_delta: {offset_delta} timestamp: {timestamp} \
                     coordinator_epoch: {} current_txn_first_offset: {txn}",
                    e.producer_id, e.producer_epoch, e.coordinator_epoch
                )?;
            }
        }
        Ok(())
    }

    fn print_summaries(&mut self) -> anyhow::Result<()> {
        if self.summaries.is_empty() {
            return Ok(());
        }
        if self.json {
            for s in &self.summaries {
                let mut value = serde_json::to_value(s)?;
                value["type"] = "summary".into();
                writeln!(self.out, "{value}")?;
            }
            return Ok(());
        }
        let mut t = table(
            &[
                "PARTITION",
                "SEGMENTS",
                "BATCHES",
                "RECORDS",
                "BYTES",
                "FIRST",
                "LAST",
                "CORRUPT",
            ],
            &[1, 2, 3, 4, 5, 6, 7],
        );
        for s in &self.summaries {
            t.add_row(vec![
                s.partition.clone(),
                s.segments.to_string(),
                s.batches.to_string(),
                s.records.to_string(),
                s.bytes.to_string(),
                or_dash(s.first_offset),
                or_dash(s.last_offset),
                s.corrupt.to_string(),
            ]);
        }
        if !self.verify {
            writeln!(self.out)?;
        }
        for line in t.lines() {
            writeln!(self.out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// What is wrong with one index entry, if anything: an offset index entry
/// must point at the start of a batch holding its offset; a time index entry
/// must name an offset whose batch has that max timestamp.
fn check_entry(
    batches: &[BatchSpan],
    offset: i64,
    position: i64,
    timestamp: Option<i64>,
) -> Option<String> {
    match timestamp {
        None => {
            let Ok(i) = batches.binary_search_by_key(&position, |b| b.position as i64) else {
                return Some(format!(
                    "offset {offset} points at byte {position}, which is not the start of a batch"
                ));
            };
            let b = &batches[i];
            (offset < b.base_offset || offset > b.last_offset).then(|| {
                format!(
                    "offset {offset} points at byte {position}, whose batch holds offsets {}..={}",
                    b.base_offset, b.last_offset
                )
            })
        }
        Some(ts) => {
            let i = batches.partition_point(|b| b.last_offset < offset);
            match batches.get(i) {
                Some(b) if b.base_offset <= offset => (b.max_timestamp != ts).then(|| {
                    format!(
                        "timestamp {ts} for offset {offset}, but its batch's max timestamp is {}",
                        b.max_timestamp
                    )
                }),
                _ => Some(format!(
                    "timestamp {ts} names offset {offset}, which is in no batch"
                )),
            }
        }
    }
}

/// The data directory a path given to inspect lies in, if it has a `.lock`:
/// the directory itself, or the parent of a partition directory, or the
/// grandparent of a segment file.
fn data_dir_of(path: &Path, is_dir: bool) -> Option<PathBuf> {
    let path = std::fs::canonicalize(path).ok()?;
    let mut candidates = Vec::new();
    if is_dir {
        candidates.push(path.clone());
        candidates.extend(path.parent().map(Path::to_path_buf));
    } else {
        candidates.extend(path.parent().and_then(Path::parent).map(Path::to_path_buf));
    }
    candidates.into_iter().find(|d| d.join(LOCK_FILE).is_file())
}

/// Who holds the `.lock` of a data directory, if a process does: the text the
/// holder wrote into it (pid and command line). Looked up in `/proc/locks`
/// by the file's device and inode, so nothing is locked or written; where
/// `/proc/locks` cannot be read, a shared lock is tried and let go at once.
fn lock_holder(data_dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let lock = data_dir.join(LOCK_FILE);
    let meta = std::fs::metadata(&lock).ok()?;
    let described = || {
        std::fs::read_to_string(&lock)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match std::fs::read_to_string("/proc/locks") {
        Ok(locks) => {
            let dev = meta.dev();
            let (major, minor) = (libc::major(dev), libc::minor(dev));
            let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
            let pid = locks.lines().find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.contains(&"->") {
                    return None; // a process waiting for the lock, not holding it
                }
                let at = fields.iter().position(|f| *f == id)?;
                fields.get(at.checked_sub(1)?)?.parse::<u32>().ok()
            })?;
            Some(described().unwrap_or_else(|| format!("pid {pid}")))
        }
        Err(_) => {
            let file = File::open(&lock).ok()?;
            // SAFETY: flock on a valid, open descriptor; a shared lock taken
            // here is released when `file` is closed below.
            let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
            drop(file);
            (!free).then(|| described().unwrap_or_else(|| "another process".to_string()))
        }
    }
}

/// Writes bytes for the text output: a JSON string if UTF-8, `b64:...` otherwise, `null` if absent.
fn write_text_bytes(out: &mut impl Write, bytes: Option<&[u8]>) -> std::io::Result<()> {
    match bytes {
        None => out.write_all(b"null"),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => write_json_str(out, s),
            Err(_) => write!(
                out,
                "b64:{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            ),
        },
    }
}
