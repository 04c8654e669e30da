//! `runnel produce`: one record per input line, batched into large record batches.

use super::backend::Backend;
use super::connect::{Access, ConnectArgs};
use super::lines::LineReader;
use super::output::{progress_bar, throughput};
use crate::record::{BatchBuilder, Compression, Header, batch, murmur2};
use anyhow::Context;
use bytes::Bytes;
use indicatif::ProgressBar;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Write records to a topic, one per input line, from stdin or --file.

Lines end with '\\n' (a '\\r' before it is kept as part of the record). With -K SEP, each
line is split at the first SEP into key and value; a line without SEP is sent whole as the
value with a null key. Without -K, every record has a null key.

Partitioning: -p sends everything to one partition. Otherwise keyed records go to the
partition Kafka's Java client would choose (murmur2 hash of the key modulo the partition
count), so the same key always lands on the same partition; unkeyed records are spread
over the partitions, one batch at a time (sticky partitioning).

Records are collected into large record batches (--batch-size, capped by the topic's
max.message.bytes) and compressed with --compression. In a data directory (-d) every
write is made durable (fdatasync) before runnel exits; against a broker, --acks says
what the broker must confirm.

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

        echo 'user-1:' | runnel produce users -K : -Z";

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

impl AcksArg {
    /// The `acks` field of a Produce request.
    pub fn as_i16(self) -> i16 {
        match self {
            AcksArg::None => 0,
            AcksArg::Leader => 1,
            AcksArg::All => -1,
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

    /// How long to wait for more records before sending a partial batch (broker mode;
    /// not applied yet: a batch is sent when it is full or the input ends).
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub linger_ms: u64,

    /// Target size of a record batch in bytes (capped by the topic's max.message.bytes).
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub batch_size: usize,
}

/// Read buffer for the input: large, so reading is a few big syscalls.
const READ_BUFFER: usize = 4 * 1024 * 1024;

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
    backend.set_acks(args.acks.as_i16());
    let result = produce(&args, &mut backend, input, input_size);
    // Close even after an error: what was written stays, and the data
    // directory is left clean.
    let closed = backend.close();
    let summary = result?;
    closed?;
    eprintln!("runnel: produced {summary}");
    Ok(())
}

/// Sends every input line; returns the summary line.
fn produce(
    args: &ProduceArgs,
    backend: &mut Backend,
    input: Box<dyn Read>,
    input_size: Option<u64>,
) -> anyhow::Result<String> {
    let partitions = backend.partition_count(&args.topic)?;
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
    let max_batch = backend.max_batch_bytes(&args.topic)?;
    let mut producer = Producer {
        topic: &args.topic,
        backend,
        compression: args.compression.into(),
        target: args.batch_size.clamp(
            batch::HEADER_SIZE + RECORD_OVERHEAD,
            max_batch.unwrap_or(usize::MAX),
        ),
        builders: (0..partitions).map(|_| None).collect(),
        sticky: rand::random_range(0..partitions),
        records: 0,
        bytes: 0,
    };
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
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let finder = separator.map(memchr::memmem::Finder::new);

    let started = Instant::now();
    let bar = match input_size {
        Some(total) => progress_bar(total, "producing"),
        None => ProgressBar::hidden(),
    };
    let mut lines = LineReader::with_capacity(READ_BUFFER, input);
    let mut line_number: u64 = 0;
    let mut last_tick: u64 = 0;
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
        line_number += 1;
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
        let size = RECORD_OVERHEAD
            + key.map_or(0, <[u8]>::len)
            + value.map_or(0, <[u8]>::len)
            + headers_size;
        let partition = match (args.partition, key) {
            (Some(p), _) => p,
            (None, Some(key)) => murmur2::partition_for_key(key, partitions),
            (None, None) => producer.sticky,
        };
        if let Some(max) = max_batch
            && batch::HEADER_SIZE + size > max
        {
            // Keep what came before: send it, sync it, then fail.
            producer.finish()?;
            producer.backend.flush()?;
            anyhow::bail!(
                "line {line_number}: record of {} bytes exceeds max.message.bytes={max} of topic '{}'{}",
                batch::HEADER_SIZE + size,
                args.topic,
                if producer.records > 0 {
                    " (the lines before it were written)"
                } else {
                    " (nothing was written)"
                }
            );
        }
        producer.push(partition, key, value, &headers, size)?;
        if lines.consumed() - last_tick >= 1 << 20 {
            last_tick = lines.consumed();
            bar.set_position(last_tick);
        }
    }
    producer.finish()?;
    bar.finish_and_clear();
    let (records, bytes) = (producer.records, producer.bytes);
    backend.flush()?;
    Ok(throughput(records, bytes, started.elapsed()))
}

/// Collects records into one batch per partition and hands full batches to the backend.
struct Producer<'a> {
    topic: &'a str,
    backend: &'a mut Backend,
    compression: Compression,
    /// Size at which a batch is sent.
    target: usize,
    builders: Vec<Option<BatchBuilder>>,
    /// Partition of unkeyed records until its batch is sent.
    sticky: i32,
    records: u64,
    bytes: u64,
}

impl Producer<'_> {
    /// Adds one record of at most `size` encoded bytes to `partition`'s batch,
    /// sending the batch first if the record would not fit.
    fn push(
        &mut self,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        size: usize,
    ) -> anyhow::Result<()> {
        let index = partition as usize;
        if let Some(builder) = &self.builders[index]
            && builder.estimated_size() + size > self.target
        {
            self.send(partition)?;
        }
        let now = now_ms();
        let (compression, capacity) = (self.compression, self.target + 64);
        let builder = self.builders[index]
            .get_or_insert_with(|| BatchBuilder::with_capacity(compression, now, capacity));
        builder.push(now, key, value, headers);
        self.records += 1;
        self.bytes += (key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)) as u64;
        Ok(())
    }

    /// Sends `partition`'s pending batch; moves the sticky partition on.
    fn send(&mut self, partition: i32) -> anyhow::Result<()> {
        if let Some(builder) = self.builders[partition as usize].take() {
            self.backend
                .append(self.topic, partition, builder.finish())?;
        }
        if partition == self.sticky {
            self.sticky = (self.sticky + 1) % self.builders.len() as i32;
        }
        Ok(())
    }

    /// Sends every pending batch.
    fn finish(&mut self) -> anyhow::Result<()> {
        for partition in 0..self.builders.len() as i32 {
            if self.builders[partition as usize].is_some() {
                self.send(partition)?;
            }
        }
        Ok(())
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
