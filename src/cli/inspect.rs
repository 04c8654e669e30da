//! `runnel inspect`: show and verify segment files.

use std::path::PathBuf;

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Show the record batches of segment files and check them. Works on files written by runnel
and by Apache Kafka (record batches v2, compressed or not, and legacy v0/v1 message sets).

Each PATH is a .log, .index or .timeindex file, a partition directory (topic-N) or a whole
data directory. For every batch of a .log file, one line: position, base and last offset,
record count, first and max timestamp, size, magic, compression codec, CRC and whether it
is valid. --records adds every record (offset, timestamp, key, value, headers). For .index
and .timeindex files, one line per entry. At the end, a summary table per partition:
segments, batches, records, bytes, first and last offset, corrupt batches.

--verify checks every batch's CRC and every index and time index entry against the log
(each offset index entry must point at the start of a batch that holds that offset; each
time index entry must name an offset whose batch has that timestamp) and prints only the
problems and the summary. Any problem makes the exit code 1; the message names the file
and the byte position.

--json prints NDJSON instead: one object per batch ({\"type\": \"batch\", \"file\", \"position\",
\"base_offset\", \"last_offset\", \"count\", \"first_timestamp\", \"max_timestamp\", \"size\",
\"magic\", \"compression\", \"crc\", \"crc_valid\"}), per record ({\"type\": \"record\", \"file\",
\"offset\", \"timestamp\", \"key\", \"value\", \"headers\"}, same encoding as consume --json),
per index entry ({\"type\": \"index_entry\", ...}), per problem ({\"type\": \"error\", \"file\",
\"position\", \"message\"}) and per partition summary ({\"type\": \"summary\", ...}).";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    runnel inspect ./data/events-0/00000000000000000000.log
    runnel inspect --records ./data/events-0
    runnel inspect --verify ./data && echo all good
    runnel inspect --json ./data/events-0 | jq 'select(.type == \"batch\") | .size'

EXIT STATUS:
    0 no problem found, 1 corruption found (or an error), 2 usage error.";

/// Arguments of `runnel inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Segment files (.log, .index, .timeindex), partition directories or data directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print every record of every batch.
    #[arg(long)]
    pub records: bool,

    /// Check CRCs and index entries; print only problems and the summary; exit 1 on any problem.
    #[arg(long)]
    pub verify: bool,

    /// Print NDJSON (one JSON object per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `runnel inspect`; returns the exit code.
pub fn run(args: InspectArgs) -> anyhow::Result<i32> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
