//! `runnel produce`: one record per input line, batched into large record batches.
//!
//! Reading lines, splitting keys, choosing partitions ([`Partitioner`]) and
//! the size limits are shared; a [`Sink`] takes the records: a data
//! directory ([`DirectSink`], through the log engine) or a Kafka cluster
//! ([`BrokerSink`], through the library's producer).

mod broker;
mod direct;

use super::backend::Backend;
use super::connect::{Access, ConnectArgs};
use super::lines::LineReader;
use super::output::{progress_bar, throughput};
use crate::record::{Header, batch, murmur2};
use anyhow::Context;
use broker::BrokerSink;
use bytes::Bytes;
use direct::DirectSink;
use indicatif::ProgressBar;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Write records to a topic, one per input line, from stdin or --file.

Lines end with '\\n' (a '\\r' before it is kept as part of the record). With -K SEP, each
line is split at the first SEP into key and value; a line without SEP is sent whole as the
value with a null key. Without -K, every record has a null key.

Partitioning: -p sends everything to one partition. Otherwise keyed records go to the
partition Kafka's Java client would choose (murmur2 hash of the key modulo the partition
count), so the same key always lands on the same partition; unkeyed records are spread
over the partitions in runs of about --batch-size bytes (sticky partitioning), starting
at a partition picked by hashing the first unkeyed record. The same input lands on the
same partitions with -d and with -b.

Records are collected into large record batches (--batch-size, capped by the topic's
max.message.bytes) and compressed with --compression. In a data directory (-d) every
write is made durable (fdatasync) before runnel exits; against a broker, batches wait up
to --linger-ms for more records, several are in flight at once, retriable errors are
retried, --acks says what the broker must confirm, and runnel exits once every record
is acknowledged (or with the first error).

With --transactional-id ID (broker mode), the whole input is one Kafka transaction: an
all-or-nothing load. runnel initializes the transactional producer (fencing an older one
with the same ID), sends every line inside the transaction, and commits once every record
is acknowledged. On any error (a record over max.message.bytes, a broker error) or Ctrl-C
the transaction is aborted instead: read_committed consumers (runnel consume's default)
see none of its records, the summary says 'aborted' and the exit code is 1. Transactions
need a broker; with -d, --transactional-id is refused as a usage error.

A summary (records, bytes, elapsed time, records/s, MB/s) goes to stderr; a progress bar
too when reading a --file and stderr is a terminal.";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    Send each line of a file as a record's value:

        runnel produce events -f lines.txt

    Keyed records ('user-1:clicked' has key 'user-1'), with a header:

        printf 'user-1:clicked\\nuser-2:paid\\n' | runnel produce events -K : -H source=web

    Delete key 'user-1' in a compacted topic (an empty value sent as null, a tombstone):

        echo 'user-1:' | runnel produce users -K : -Z

    Load a file all-or-nothing, in one transaction:

        runnel produce orders -f orders.txt --transactional-id orders-load";

/// Compression codec of produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// snappy (xerial framing, as Kafka's Java client).
    Snappy,
    /// lz4 frame format.
    Lz4,
    /// zstd.
    Zstd,
}

impl From<CompressionArg> for crate::record::Compression {
    fn from(arg: CompressionArg) -> Self {
        use crate::record::Compression;
        match arg {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// Acknowledgements a broker must give before a produce counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcksArg {
    /// None: fire and forget.
    #[value(name = "0")]
    None,
    /// The leader wrote the records to its log.
    #[value(name = "1")]
    Leader,
    /// All in-sync replicas have them (runnel serve: fsynced).
    All,
}

impl From<AcksArg> for crate::client::Acks {
    fn from(arg: AcksArg) -> Self {
        use crate::client::Acks;
        match arg {
            AcksArg::None => Acks::None,
            AcksArg::Leader => Acks::Leader,
            AcksArg::All => Acks::All,
        }
    }
}

/// Arguments of `runnel produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Topic to write to.
    pub topic: String,

    /// Where the topic is.
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Read lines from this file instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Split each line into key and value at the first SEP.
    ///
    /// A line without SEP is sent whole as the value, with a null key.
    #[arg(short = 'K', long, value_name = "SEP")]
    pub key_separator: Option<String>,

    /// Send every record to this partition.
    #[arg(short, long, value_name = "N")]
    pub partition: Option<i32>,

    /// Add a header to every record, e.g. -H source=web (repeatable, order kept).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = super::topics::parse_key_value)]
    pub headers: Vec<(String, String)>,

    /// Send an empty value as null (a tombstone, which deletes the key in a compacted topic).
    #[arg(short = 'Z', long)]
    pub null_empty: bool,

    /// Compression codec of the record batches.
    #[arg(long, value_enum, default_value = "none", value_name = "CODEC")]
    pub compression: CompressionArg,

    /// Acknowledgements to wait for (broker mode; a data directory is always fsynced).
    #[arg(long, value_enum, default_value = "all", value_name = "ACKS")]
    pub acks: AcksArg,

    /// How long a batch waits for more records before it is sent anyway (broker mode).
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub linger_ms: u64,

    /// Target size of a record batch in bytes (capped by the topic's max.message.bytes).
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub batch_size: usize,

    /// Load the whole input in one transaction with this transactional.id: committed at the
    /// end, aborted on any error or Ctrl-C (broker mode only; refused with -d).
    #[arg(long, value_name = "ID", conflicts_with = "data_dir")]
    pub transactional_id: Option<String>,

    /// How long the broker lets the transaction stay open before aborting it
    /// (transaction.timeout.ms) [default: 60000].
    #[arg(long, value_name = "MS", requires = "transactional_id")]
    pub transaction_timeout_ms: Option<u64>,
}

/// Read buffer for the input: large enough for few syscalls, small enough to
/// stay in the CPU cache while its lines are copied into batches.
const READ_BUFFER: usize = 256 * 1024;

/// Upper bound of a record's encoding overhead beyond its key, value and
/// header bytes (length, attributes, timestamp and offset deltas, lengths).
const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;

/// Upper bound of one header's encoding overhead (two varint lengths).
const HEADER_OVERHEAD: usize = 10;

/// Runs `runnel produce`.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let input: Box<dyn Read> = match &args.file {
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("cannot open {}", path.display()))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };
    let input_size = match &args.file {
        Some(path) => std::fs::metadata(path).map(|m| m.len()).ok(),
        None => None,
    };
    if args.key_separator.as_deref() == Some("") {
        anyhow::bail!("the key separator (-K) must not be empty");
    }

    let mut backend = args.connect.open(Access::Write)?;
    let result = produce(&args, &mut backend, input, input_size);
    let throttled = match &backend {
        Backend::Broker(b) => b.throttle_note(),
        Backend::Direct(_) => String::new(),
    };
    // Close even after an error: what was written stays, and the data
    // directory is left clean.
    let closed = backend.close();
    let summary = result?;
    closed?;
    eprintln!("runnel: produced {summary}{throttled}");
    Ok(())
}

/// How the records are written: what both sinks need.
pub(super) struct SinkConfig {
    /// Topic.
    topic: String,
    /// Batch compression.
    compression: crate::record::Compression,
    /// Size at which a batch is sent (--batch-size within the topic's limit).
    batch_bytes: usize,
    /// Headers of every record.
    headers: Vec<Header>,
}

/// Where `produce` writes records.
trait Sink {
    /// Adds a record of at most `size` encoded bytes to `partition`.
    fn push(
        &mut self,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        size: usize,
    ) -> anyhow::Result<()>;

    /// Sends what is pending and waits until everything is durable (data
    /// directory) or acknowledged (broker); commits the transaction if any.
    fn finish(&mut self) -> anyhow::Result<()>;

    /// Aborts the transaction after an error (nothing to do without one).
    fn abort(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Sends every input line; returns the summary line.
fn produce(
    args: &ProduceArgs,
    backend: &mut Backend,
    input: Box<dyn Read>,
    input_size: Option<u64>,
) -> anyhow::Result<String> {
    let topics = backend.topics();
    let partitions = topics.partition_count(&args.topic)?;
    if partitions < 1 {
        anyhow::bail!("topic '{}' has no partitions", args.topic);
    }
    if let Some(p) = args.partition
        && (p < 0 || p >= partitions)
    {
        anyhow::bail!(
            "partition {p} does not exist: topic '{}' has {partitions} partition{}",
            args.topic,
            if partitions == 1 { "" } else { "s" }
        );
    }
    let max_batch = topics.max_batch_bytes(&args.topic)?;
    let headers: Vec<Header> = args
        .headers
        .iter()
        .map(|(key, value)| Header {
            key: key.clone(),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
        })
        .collect();
    let headers_size: usize = headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()) + HEADER_OVERHEAD)
        .sum();
    let config = SinkConfig {
        topic: args.topic.clone(),
        compression: args.compression.into(),
        batch_bytes: args.batch_size.clamp(
            batch::HEADER_SIZE + RECORD_OVERHEAD,
            max_batch.unwrap_or(usize::MAX),
        ),
        headers,
    };
    let mut sink: Box<dyn Sink + '_> = match backend {
        Backend::Direct(dir) => Box::new(DirectSink::new(dir, config, partitions)),
        Backend::Broker(broker) => Box::new(BrokerSink::new(
            broker,
            config,
            args.acks.into(),
            Duration::from_millis(args.linger_ms),
            args.transactional_id
                .as_ref()
                .map(|id| broker::Transaction {
                    id: id.clone(),
                    timeout: Duration::from_millis(args.transaction_timeout_ms.unwrap_or(60_000)),
                }),
        )?),
    };
    let transactional = args.transactional_id.is_some();
    let mut partitioner = Partitioner {
        fixed: args.partition,
        count: partitions,
        run_bytes: args.batch_size,
        sticky: None,
        run: 0,
    };
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let finder = separator.map(memchr::memmem::Finder::new);

    let started = Instant::now();
    let bar = match input_size {
        Some(total) => progress_bar(total, "producing"),
        None => ProgressBar::hidden(),
    };
    let mut lines = LineReader::with_capacity(READ_BUFFER, input);
    let (mut records, mut bytes): (u64, u64) = (0, 0);
    let mut last_tick: u64 = 0;
    let mut load = || -> anyhow::Result<()> {
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    let source = args
                        .file
                        .as_ref()
                        .map_or("stdin".to_string(), |p| p.display().to_string());
                    return Err(anyhow::Error::new(e).context(format!("cannot read {source}")));
                }
            };
            let (key, value) = match &finder {
                Some(finder) => match finder.find(line) {
                    Some(at) => (Some(&line[..at]), &line[at + finder.needle().len()..]),
                    None => (None, line),
                },
                None => (None, line),
            };
            let value = if args.null_empty && value.is_empty() {
                None
            } else {
                Some(value)
            };
            let payload = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
            let size = RECORD_OVERHEAD + payload + headers_size;
            if let Some(max) = max_batch
                && batch::HEADER_SIZE + size > max
            {
                // Keep what came before: send it, sync it, then fail (in a
                // transaction, what came before is aborted instead).
                if !transactional {
                    sink.finish()?;
                }
                anyhow::bail!(
                    "line {}: record of {} bytes exceeds max.message.bytes={max} of topic '{}'{}",
                    records + 1,
                    batch::HEADER_SIZE + size,
                    args.topic,
                    if records > 0 && !transactional {
                        " (the lines before it were written)"
                    } else if !transactional {
                        " (nothing was written)"
                    } else {
                        ""
                    }
                );
            }
            let partition = partitioner.choose(key, value, size);
            sink.push(partition, key, value, size)?;
            records += 1;
            bytes += payload as u64;
            if lines.consumed() - last_tick >= 1 << 20 {
                last_tick = lines.consumed();
                bar.set_position(last_tick);
            }
        }
        sink.finish()
    };
    let loaded = load();
    bar.finish_and_clear();
    if let Err(e) = loaded {
        if !transactional {
            return Err(e);
        }
        let done = throughput(records, bytes, started.elapsed());
        return Err(match sink.abort() {
            Ok(()) => e.context(format!(
                "transaction aborted after {done}; none of its records is visible to read_committed consumers"
            )),
            // Fenced or timed out (the broker aborted it already), or the
            // coordinator is unreachable: the original error says which.
            Err(_) => e.context(format!(
                "transaction not committed after {done}; the broker aborts it (at once if the producer was fenced or the transaction timed out, else after --transaction-timeout-ms)"
            )),
        });
    }
    let summary = throughput(records, bytes, started.elapsed());
    Ok(if transactional {
        format!("{summary} in one transaction, committed")
    } else {
        summary
    })
}

/// Chooses each record's partition, the same way whatever the sink, so the
/// same input lands on the same partitions in every mode: `-p`, else the
/// key's murmur2 partition (as Kafka's Java client), else the current run
/// of unkeyed records.
struct Partitioner {
    /// `-p`.
    fixed: Option<i32>,
    /// Partitions of the topic.
    count: i32,
    /// Bytes of unkeyed records sent to one partition before the next.
    run_bytes: usize,
    /// Partition of the current run; the first is picked by hashing the
    /// first unkeyed record, so different inputs start on different partitions.
    sticky: Option<i32>,
    /// Bytes in the current run.
    run: usize,
}

impl Partitioner {
    /// The partition of a record of `size` encoded bytes.
    fn choose(&mut self, key: Option<&[u8]>, value: Option<&[u8]>, size: usize) -> i32 {
        if let Some(p) = self.fixed {
            return p;
        }
        if let Some(key) = key {
            return murmur2::partition_for_key(key, self.count);
        }
        let partition = match self.sticky {
            Some(p) if self.run == 0 || self.run + size <= self.run_bytes => p,
            Some(p) => {
                self.run = 0;
                (p + 1) % self.count
            }
            None => murmur2::partition_for_key(value.unwrap_or_default(), self.count),
        };
        self.sticky = Some(partition);
        self.run += size;
        partition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitioner(fixed: Option<i32>) -> Partitioner {
        Partitioner {
            fixed,
            count: 3,
            run_bytes: 100,
            sticky: None,
            run: 0,
        }
    }

    #[test]
    fn explicit_then_keyed_then_runs_of_unkeyed() {
        assert_eq!(partitioner(Some(2)).choose(Some(b"k"), None, 10), 2);
        let mut p = partitioner(None);
        assert_eq!(
            p.choose(Some(b"key-0"), Some(b"v"), 10),
            murmur2::partition_for_key(b"key-0", 3)
        );
        let first = murmur2::partition_for_key(b"a", 3);
        let chosen: Vec<i32> = (0..6).map(|_| p.choose(None, Some(b"a"), 40)).collect();
        let next = (first + 1) % 3;
        let after = (first + 2) % 3;
        assert_eq!(chosen, vec![first, first, next, next, after, after]);
        // Keyed records do not end a run.
        p.choose(Some(b"x"), None, 90);
        assert_eq!(p.choose(None, None, 10), after);
    }

    #[test]
    fn the_same_input_gets_the_same_partitions() {
        let run = |values: &[&[u8]]| {
            let mut p = partitioner(None);
            values
                .iter()
                .map(|v| p.choose(None, Some(v), 60))
                .collect::<Vec<i32>>()
        };
        let input: [&[u8]; 4] = [b"x", b"y", b"z", b"w"];
        assert_eq!(run(&input), run(&input));
    }
}
