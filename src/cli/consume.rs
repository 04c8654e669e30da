//! `runnel consume`: read records and print them, kcat-style.

use super::connect::ConnectArgs;
use std::str::FromStr;

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
A header with a null value prints as just its key.

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
        conflicts_with = "json"
    )]
    pub format: String,

    /// Print one JSON object per record and line (see --help for the keys).
    #[arg(long)]
    pub json: bool,
}

/// Runs `runnel consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
