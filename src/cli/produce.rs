//! `runnel produce`: one record per input line, batched into large record batches.

use super::connect::ConnectArgs;
use std::path::PathBuf;

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

    /// How long to wait for more records before sending a partial batch (broker mode).
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub linger_ms: u64,

    /// Target size of a record batch in bytes (capped by the topic's max.message.bytes).
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub batch_size: usize,
}

/// Runs `runnel produce`.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
