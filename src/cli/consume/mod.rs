//! `runnel consume`: read records and print them, kcat-style.
//!
//! The records come from a [`Source`]: a data directory ([`DirectSource`])
//! or a Kafka cluster ([`BrokerSource`]). Sources only read; which
//! partitions are read when ([`Cursors`]), where each stops, the record
//! limit and the printing are shared, so every source prints the same.

mod broker;
mod direct;
mod group;

use super::backend::Backend;
use super::connect::{Access, ConnectArgs};
use super::format::{Format, RecordView, write_json_record};
use super::output::throughput;
use anyhow::Context;
use broker::BrokerSource;
use direct::DirectSource;
use group::CommitMode;
use std::io::{BufWriter, Write};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Read records from a topic and print them to stdout, by default each value on its own line.

Without --follow, runnel stops at the end of each partition as it was when it started (like
kcat -e); with --follow it keeps waiting for new records until Ctrl-C. Ctrl-C stops cleanly:
a summary (records, bytes, elapsed) goes to stderr and the exit code is 0. A closed pipe
(runnel consume ... | head) ends quietly with exit code 0.

In a data directory (-d) consume takes no lock, so it can follow a topic while another
runnel process writes to it.

--isolation read_committed (the default, as librdkafka and kcat) shows only records of
committed transactions and non-transactional records, and reads each partition up to its
last stable offset (the first offset of a transaction still open), so it stops or waits
there. read_uncommitted shows aborted and still-open transactions' records too. Commit and
abort markers are never shown.

With --group G, consume joins consumer group G (like kcat -G): the group's members share the
topic's partitions, each partition starts at the group's committed offset, or where -o says
(beginning or end) if it has none, and offsets are committed once the records are printed
(at-least-once; --commit-before-print commits first: at-most-once). Without --follow a member
stops when its partitions are read to their end. On exit (Ctrl-C, -n reached, the end) it
commits and leaves the group, so the others take over its partitions at once. In a data
directory (-d) the group's offsets are kept in the directory's __consumer_offsets, as runnel
serve keeps them (it sees them later, and they see its); the directory is locked meanwhile.

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

        runnel consume events -p 2 -o 1000 -n 5 --json

    As a member of group 'billing', resuming where the group left off:

        runnel consume events -g billing -f";

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

/// Which records of transactions are read (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Committed records only, up to the last stable offset.
    #[value(name = "read_committed")]
    ReadCommitted,
    /// Every record, aborted and open transactions included.
    #[value(name = "read_uncommitted")]
    ReadUncommitted,
}

impl Isolation {
    /// The `isolation_level` of Fetch and ListOffsets requests.
    pub fn level(self) -> i8 {
        match self {
            Isolation::ReadCommitted => 1,
            Isolation::ReadUncommitted => 0,
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

    /// Consume as a member of this consumer group: read the partitions the
    /// group assigns, from its committed offsets (-o only where it has none),
    /// and commit what was printed (see --help).
    #[arg(short, long, value_name = "GROUP", conflicts_with = "partition")]
    pub group: Option<String>,

    /// With --group: commit offsets before printing the records (at-most-once)
    /// instead of after (at-least-once).
    #[arg(long, requires = "group")]
    pub commit_before_print: bool,

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

    /// Whether records of aborted and open transactions are shown (see --help).
    #[arg(
        long,
        value_enum,
        default_value = "read_committed",
        value_name = "LEVEL"
    )]
    pub isolation: Isolation,
}

/// Runs `runnel consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    // A group in a data directory commits there: the directory is locked.
    let access = match (&args.group, &args.connect.data_dir) {
        (Some(_), Some(_)) => Access::Write,
        _ => Access::Read,
    };
    let mut backend = args.connect.open(access)?;
    let topic = args.topic.as_str();
    let count = backend.topics().partition_count(topic)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if p < 0 || p >= count => anyhow::bail!(
            "partition {p} does not exist: topic '{topic}' has {count} partition{}",
            if count == 1 { "" } else { "s" }
        ),
        Some(p) => vec![p],
        None => (0..count).collect(),
    };

    let started = Instant::now();
    let mut printer = Printer {
        format: (!args.json).then_some(&args.format),
        out: BufWriter::with_capacity(256 * 1024, std::io::stdout().lock()),
        records: 0,
        bytes: 0,
        max: args.max_messages.unwrap_or(u64::MAX),
    };
    let (start, follow) = (args.offset, args.follow);
    let mode = if args.commit_before_print {
        CommitMode::BeforePrint
    } else {
        CommitMode::AfterPrint
    };
    let result = match (&mut backend, &args.group) {
        (Backend::Direct(dir), Some(group)) => group::consume_direct(
            dir,
            topic,
            &partitions,
            group,
            start,
            follow,
            mode,
            args.isolation,
            &mut printer,
            &interrupted,
        ),
        (Backend::Broker(broker), Some(group)) => group::consume_broker(
            broker,
            topic,
            group,
            start,
            follow,
            mode,
            args.isolation,
            &mut printer,
            &interrupted,
        ),
        (Backend::Direct(dir), None) => {
            let mut source =
                DirectSource::new(dir, topic, &partitions, start, follow, args.isolation)?;
            print_records(&mut source, &mut printer, follow, &interrupted)
        }
        (Backend::Broker(broker), None) => {
            let mut source =
                BrokerSource::new(broker, topic, &partitions, start, follow, args.isolation)?;
            print_records(&mut source, &mut printer, follow, &interrupted)
        }
    };
    // What was printed before an error is still shown.
    let flushed = printer.out.flush();
    let throttled = match &backend {
        Backend::Broker(b) => b.throttle_note(),
        Backend::Direct(_) => String::new(),
    };
    if access == Access::Write {
        backend.close()?;
    }
    result?;
    flushed?;
    let (records, bytes) = (printer.records, printer.bytes);
    drop(printer);
    eprintln!(
        "runnel: consumed {}{throttled}{}",
        throughput(records, bytes, started.elapsed()),
        if interrupted.load(Ordering::Relaxed) {
            " (interrupted)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Reads `source` round after round, printing, until every partition is
/// finished, the record limit is reached or Ctrl-C.
fn print_records<W: Write>(
    source: &mut impl Source,
    printer: &mut Printer<'_, W>,
    follow: bool,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    while !interrupted.load(Ordering::Relaxed) && !printer.full() {
        match source.read(printer)? {
            Round::Finished => break,
            Round::Moved => {}
            Round::Nothing => {
                printer.out.flush()?;
                source.wait();
            }
        }
        if follow {
            // Records trickling in are shown as they come.
            printer.out.flush()?;
        }
    }
    Ok(())
}

/// Where `consume` gets records from.
trait Source {
    /// Reads what is next in the partitions [`Cursors::active`] names and
    /// offers each record to `printer`, in offset order per partition.
    fn read<W: Write>(&mut self, printer: &mut Printer<'_, W>) -> anyhow::Result<Round>;

    /// Pauses after a round that found nothing (a source whose reads wait
    /// for new records by themselves returns at once).
    fn wait(&mut self);
}

/// What one [`Source::read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Records were read, or a partition moved on or finished.
    Moved,
    /// Nothing new.
    Nothing,
    /// Every partition is finished.
    Finished,
}

/// Where one partition is being read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    partition: i32,
    /// Next offset to print.
    next: i64,
    /// Offset to stop at (the log end when consume started), unless following.
    stop: Option<i64>,
    done: bool,
}

impl Cursor {
    /// A partition whose log spans `log_start..log_end`, starting at `next`
    /// (clamped to the log) and, without `follow`, stopping at `log_end`.
    fn new(partition: i32, next: i64, log_start: i64, log_end: i64, follow: bool) -> Cursor {
        Cursor {
            partition,
            next: next.clamp(log_start, log_end.max(log_start)),
            stop: (!follow).then_some(log_end),
            done: false,
        }
    }
}

/// The partitions being read, and which of them to read now.
struct Cursors {
    list: Vec<Cursor>,
    follow: bool,
}

impl Cursors {
    /// The partitions to read now, `None` once all are finished. Without
    /// `--follow` that is the first unfinished one: partitions are printed
    /// one after the other, so the output does not depend on fetch sizes
    /// and is the same from every source. With `--follow` it is all of
    /// them, their records interleaved as they arrive.
    fn active(&mut self) -> Option<&mut [Cursor]> {
        for cursor in &mut self.list {
            if cursor.stop.is_some_and(|stop| cursor.next >= stop) {
                cursor.done = true;
            }
        }
        let first = self.list.iter().position(|c| !c.done)?;
        if self.follow {
            Some(&mut self.list[first..])
        } else {
            Some(&mut self.list[first..=first])
        }
    }
}

/// Writes records in the chosen format and counts them.
struct Printer<'a, W: Write> {
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

    /// Prints `record` if it is at or after `cursor.next` and moves the
    /// cursor past it. Returns `false` when reading this partition should
    /// stop: the record is at the cursor's stop offset (the cursor is then
    /// done) or the record limit is reached.
    fn offer(&mut self, cursor: &mut Cursor, record: &RecordView<'_>) -> anyhow::Result<bool> {
        if record.offset < cursor.next {
            return Ok(true);
        }
        if cursor.stop.is_some_and(|stop| record.offset >= stop) {
            cursor.done = true;
            return Ok(false);
        }
        if self.full() {
            return Ok(false);
        }
        self.print(record)?;
        cursor.next = record.offset + 1;
        Ok(true)
    }

    /// Prints `record` and counts it.
    fn print(&mut self, record: &RecordView<'_>) -> anyhow::Result<()> {
        match self.format {
            Some(format) => format.write(&mut self.out, record)?,
            None => write_json_record(&mut self.out, record)?,
        }
        self.records += 1;
        self.bytes += record.payload_len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursors(follow: bool, positions: &[(i64, i64)]) -> Cursors {
        Cursors {
            list: positions
                .iter()
                .enumerate()
                .map(|(p, &(next, end))| Cursor::new(p as i32, next, 0, end, follow))
                .collect(),
            follow,
        }
    }

    fn partitions(active: Option<&mut [Cursor]>) -> Vec<i32> {
        active.map_or(Vec::new(), |a| a.iter().map(|c| c.partition).collect())
    }

    #[test]
    fn without_follow_partitions_are_read_one_after_the_other() {
        let mut c = cursors(false, &[(0, 2), (5, 5), (0, 1)]);
        assert_eq!(partitions(c.active()), vec![0]);
        c.list[0].next = 2;
        // Partition 1 starts at its end: skipped.
        assert_eq!(partitions(c.active()), vec![2]);
        c.list[2].next = 1;
        assert_eq!(partitions(c.active()), Vec::<i32>::new());
    }

    #[test]
    fn with_follow_every_partition_is_read() {
        let mut c = cursors(true, &[(0, 2), (5, 5)]);
        c.list[0].next = 9;
        assert_eq!(partitions(c.active()), vec![0, 1]);
    }

    #[test]
    fn start_offsets_are_clamped_to_the_log() {
        assert_eq!(Cursor::new(0, 99, 3, 10, false).next, 10);
        assert_eq!(Cursor::new(0, 1, 3, 10, false).next, 3);
        assert_eq!(Cursor::new(0, 1, 3, 10, true).stop, None);
    }

    #[test]
    fn offer_prints_from_next_until_the_stop_or_the_limit() {
        let mut printer = Printer {
            format: None,
            out: Vec::new(),
            records: 0,
            bytes: 0,
            max: 2,
        };
        let mut cursor = Cursor::new(0, 1, 0, 3, false);
        let record = |offset| crate::record::Record {
            offset,
            timestamp: 0,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Vec::new(),
        };
        let offer = |p: &mut Printer<'_, Vec<u8>>, c: &mut Cursor, offset| {
            p.offer(c, &RecordView::of_record("t", 0, &record(offset)))
                .expect("written to a Vec")
        };
        assert!(offer(&mut printer, &mut cursor, 0), "before next: skipped");
        assert_eq!(printer.records, 0);
        assert!(offer(&mut printer, &mut cursor, 1));
        assert_eq!(cursor.next, 2);
        assert!(!offer(&mut printer, &mut cursor, 3), "at the stop");
        assert!(cursor.done);
        let mut other = Cursor::new(1, 0, 0, 9, false);
        assert!(offer(&mut printer, &mut other, 0));
        assert!(printer.full());
        assert!(!offer(&mut printer, &mut other, 1), "limit reached");
        assert_eq!(printer.records, 2);
        assert_eq!(printer.bytes, 2);
    }
}
