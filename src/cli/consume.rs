//! `runnel consume`: read records and print them, kcat-style.

use super::backend::Fetched;
use super::connect::{Access, ConnectArgs};
use super::format::{Format, RecordView, write_json_record};
use super::output::throughput;
use crate::record::BatchError;
use crate::record::decode::{self, BatchRecords};
use anyhow::Context;
use std::io::{BufWriter, Write};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Read records from a topic and print them to stdout, by default each value on its own line.

Without --follow, runnel stops at the end of each partition as it was when it started (like
kcat -e); with --follow it keeps waiting for new records until Ctrl-C. Ctrl-C stops cleanly:
a summary (records, bytes, elapsed) goes to stderr and the exit code is 0. A closed pipe
(runnel consume ... | head) ends quietly with exit code 0.

In a data directory (-d) consume takes no lock, so it can follow a topic while another
runnel process writes to it.

--format STR prints each record with kcat's format tokens:

    %t  topic             %p  partition         %o  offset
    %k  key               %s  value             %T  timestamp (ms since the epoch)
    %K  key size          %S  value size        %h  headers, as k1=v1,k2=v2
    %%  a percent sign    \\n \\t \\r \\\\  newline, tab, carriage return, backslash

A null key or value prints as nothing for %k and %s, and as size -1 for %K and %S.
A header with a null value prints as 'key='.

--json prints one JSON object per line:

    {\"topic\": \"t\", \"partition\": 0, \"offset\": 42, \"timestamp\": 1700000000000,
     \"key\": \"k\", \"value\": \"v\", \"headers\": [{\"key\": \"h\", \"value\": \"x\"}]}

Headers are an array, in order, duplicates kept. A null key, value or header value is
null. A key or value that is not valid UTF-8 is given base64-encoded (standard alphabet,
padded) under \"key_b64\" / \"value_b64\" instead of \"key\" / \"value\" (and \"value_b64\"
inside a header).";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    Everything in the topic, then exit:

        runnel consume events

    The last 10 records of each partition, with partition, offset and key:

        runnel consume events -o -10 --format '%p:%o %k=%s\\n'

    Everything written since a point in time, then keep following:

        runnel consume events -o @1700000000000 -f

    Partition 2 from offset 1000, at most 5 records, as JSON:

        runnel consume events -p 2 -o 1000 -n 5 --json";

/// Where to start reading in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// The log start offset.
    Beginning,
    /// The log end offset (only new records).
    End,
    /// This absolute offset (clamped to the log's range).
    Absolute(i64),
    /// This many records before the end (clamped to the log start).
    FromEnd(i64),
    /// The first record with a timestamp >= this (ms since the epoch).
    Timestamp(i64),
}

impl FromStr for StartOffset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid offset '{s}': expected beginning, end, N, -N or @TIMESTAMP_MS");
        match s {
            "beginning" | "earliest" | "start" => Ok(StartOffset::Beginning),
            "end" | "latest" => Ok(StartOffset::End),
            _ => {
                if let Some(ts) = s.strip_prefix('@') {
                    ts.parse().map(StartOffset::Timestamp).map_err(|_| bad())
                } else if let Some(n) = s.strip_prefix('-') {
                    n.parse().map(StartOffset::FromEnd).map_err(|_| bad())
                } else {
                    s.parse().map(StartOffset::Absolute).map_err(|_| bad())
                }
            }
        }
    }
}

/// Arguments of `runnel consume`.
#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Topic to read from.
    pub topic: String,

    /// Where the topic is.
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Where to start in each partition: beginning, end, N (absolute offset),
    /// -N (N records before the end) or @TIMESTAMP_MS (first record at or after
    /// that time).
    #[arg(
        short,
        long,
        default_value = "beginning",
        value_name = "OFFSET",
        allow_hyphen_values = true
    )]
    pub offset: StartOffset,

    /// Read only this partition [default: all partitions].
    #[arg(short, long, value_name = "N")]
    pub partition: Option<i32>,

    /// Stop after this many records.
    #[arg(short = 'n', long, value_name = "N")]
    pub max_messages: Option<u64>,

    /// Keep waiting for new records at the end of the log, until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,

    /// Output format with kcat's tokens (%t %p %o %k %s %K %S %T %h %%, \n \t \r \\).
    #[arg(
        long,
        default_value = "%s\\n",
        value_name = "STR",
        conflicts_with = "json",
        value_parser = Format::parse
    )]
    pub format: Format,

    /// Print one JSON object per record and line (see --help for the keys).
    #[arg(long)]
    pub json: bool,
}

/// Bytes asked for per fetch.
const FETCH_BYTES: usize = 4 * 1024 * 1024;

/// How long `--follow` waits before looking for new records again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `runnel consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let mut backend = args.connect.open(Access::Read)?;
    let topic = args.topic.as_str();
    let count = backend.partition_count(topic)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if p < 0 || p >= count => anyhow::bail!(
            "partition {p} does not exist: topic '{topic}' has {count} partition{}",
            if count == 1 { "" } else { "s" }
        ),
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
    let mut cursors = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (start, end) = backend.offsets(topic, partition)?;
        let next = match args.offset {
            StartOffset::Beginning => start,
            StartOffset::End => end,
            StartOffset::Absolute(n) => n.clamp(start, end),
            StartOffset::FromEnd(n) => end.saturating_sub(n).max(start),
            StartOffset::Timestamp(ts) => backend
                .offset_for_timestamp(topic, partition, ts)?
                .unwrap_or(end),
        };
        cursors.push(Cursor {
            partition,
            next,
            stop: (!args.follow).then_some(end),
            done: false,
        });
    }

    let started = Instant::now();
    let mut printer = Printer {
        topic,
        format: (!args.json).then_some(&args.format),
        out: BufWriter::with_capacity(256 * 1024, std::io::stdout().lock()),
        records: 0,
        bytes: 0,
        max: args.max_messages.unwrap_or(u64::MAX),
    };
    let mut buf = Vec::new();
    'outer: while !interrupted.load(Ordering::Relaxed) {
        let mut progressed = false;
        // Without --follow, partitions are read one after the other, so the
        // output is the same whatever the fetch sizes (direct or broker).
        let active = if args.follow { usize::MAX } else { 1 };
        for cursor in cursors.iter_mut().filter(|c| !c.done).take(active) {
            if printer.full() || interrupted.load(Ordering::Relaxed) {
                break 'outer;
            }
            if cursor.stop.is_some_and(|stop| cursor.next >= stop) {
                cursor.done = true;
                continue;
            }
            match backend.fetch(topic, cursor.partition, cursor.next, FETCH_BYTES, &mut buf)? {
                Fetched::Batches => {
                    let before = cursor.next;
                    printer.print_batches(&buf, cursor)?;
                    progressed |= cursor.next > before;
                }
                Fetched::AtEnd => cursor.done = cursor.stop.is_some(),
                Fetched::OutOfRange { start, .. } if cursor.next < start => {
                    // Retention or compaction removed what we wanted; skip ahead as Kafka's
                    // auto.offset.reset=earliest would.
                    cursor.next = start;
                    progressed = true;
                }
                Fetched::OutOfRange { .. } => cursor.done = cursor.stop.is_some(),
            }
        }
        if cursors.iter().all(|c| c.done) || printer.full() {
            break;
        }
        if !progressed {
            printer.out.flush()?;
            std::thread::sleep(POLL_INTERVAL);
        }
    }
    printer.out.flush()?;
    let (records, bytes) = (printer.records, printer.bytes);
    drop(printer);
    eprintln!(
        "runnel: consumed {}{}",
        throughput(records, bytes, started.elapsed()),
        if interrupted.load(Ordering::Relaxed) {
            " (interrupted)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Where one partition is being read.
struct Cursor {
    partition: i32,
    /// Next offset to print.
    next: i64,
    /// Offset to stop at (the log end when consume started), unless following.
    stop: Option<i64>,
    done: bool,
}

/// Writes records in the chosen format and counts them.
struct Printer<'a, W: Write> {
    topic: &'a str,
    /// `None` for `--json`.
    format: Option<&'a Format>,
    out: W,
    records: u64,
    bytes: u64,
    max: u64,
}

impl<W: Write> Printer<'_, W> {
    /// Whether `--max-messages` records were printed.
    fn full(&self) -> bool {
        self.records >= self.max
    }

    /// Prints the records of the batches in `buf` from `cursor.next` on (up to
    /// its stop offset and the record limit) and moves the cursor past them.
    fn print_batches(&mut self, buf: &[u8], cursor: &mut Cursor) -> anyhow::Result<()> {
        let partition = cursor.partition;
        for entry in decode::scan(buf) {
            let (_, summary, bytes) = match entry {
                Ok(entry) => entry,
                // A fetch may end in a partial batch; the next fetch starts there.
                Err(e) if e.position > 0 => break,
                Err(e) => anyhow::bail!(
                    "corrupt record batch at offset {} of partition {partition}: {}",
                    cursor.next,
                    e.error
                ),
            };
            if summary.last_offset < cursor.next {
                continue;
            }
            let corrupt = |e: BatchError| {
                anyhow::anyhow!(
                    "corrupt record batch at offset {} of partition {partition}: {e}",
                    summary.base_offset
                )
            };
            if summary.is_control {
                // Transaction markers are not records.
            } else if summary.magic == 2 {
                let batch = BatchRecords::new(bytes).map_err(corrupt)?;
                // Allocated once per batch, and only if a record has headers.
                let mut headers: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
                for record in batch.iter() {
                    let record = record.map_err(corrupt)?;
                    if record.offset < cursor.next {
                        continue;
                    }
                    if self.stop_before(record.offset, cursor) {
                        return Ok(());
                    }
                    headers.clear();
                    headers.extend(record.headers().map(|h| (h.key, h.value)));
                    let view = RecordView {
                        topic: self.topic,
                        partition,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        key: record.key,
                        value: record.value,
                        headers: &headers,
                    };
                    self.write(&view)?;
                    cursor.next = record.offset + 1;
                }
            } else {
                for record in decode::decode_batch(bytes).map_err(corrupt)? {
                    if record.offset < cursor.next {
                        continue;
                    }
                    if self.stop_before(record.offset, cursor) {
                        return Ok(());
                    }
                    let view = RecordView {
                        topic: self.topic,
                        partition,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        key: record.key.as_deref(),
                        value: record.value.as_deref(),
                        headers: &[],
                    };
                    self.write(&view)?;
                    cursor.next = record.offset + 1;
                }
            }
            cursor.next = cursor.next.max(summary.last_offset + 1);
        }
        Ok(())
    }

    /// Whether printing stops before `offset` (stop offset or record limit reached).
    fn stop_before(&self, offset: i64, cursor: &mut Cursor) -> bool {
        if cursor.stop.is_some_and(|stop| offset >= stop) {
            cursor.done = true;
            cursor.next = offset;
            return true;
        }
        self.full()
    }

    fn write(&mut self, record: &RecordView<'_>) -> anyhow::Result<()> {
        match self.format {
            Some(format) => format.write(&mut self.out, record)?,
            None => write_json_record(&mut self.out, record)?,
        }
        self.records += 1;
        self.bytes +=
            (record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64;
        Ok(())
    }
}
