//! `runnel compact`: run Kafka's log cleaner over a data directory.

use super::output::{print_json, print_table, progress_bar, table};
use crate::log::DataDir;
use crate::log::cleaner::{CleanOptions, LogCleaner};
use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Long help of the subcommand.
pub(crate) const LONG_ABOUT: &str = "\
Compact the partitions of a data directory the way Kafka's log cleaner does: in every
partition of a topic whose cleanup.policy includes compact (or of the topic named with
--topic), only the latest record of each key is kept; offsets keep their values; a
tombstone (null value) removes its key and is itself dropped once older than
delete.retention.ms. The active (last) segment is never cleaned.

Prints a table per partition: records and bytes before and after, tombstones dropped;
--json prints an array of objects with the keys topic, partition, records_before,
records_after, bytes_before, bytes_after, tombstones_dropped, keyless_dropped and skipped
(why a partition was left alone, or null). Records without a key cannot be compacted and
are dropped, as Kafka's cleaner does.

--topic names a topic to compact even if its cleanup.policy does not include compact (its
older records with a repeated key are then removed for good). --dry-run reports what
would be removed and writes nothing at all: the directory is opened read-only (no lock,
no recovery, no index rebuilt, no file touched), so it also works beside a running broker.

Legacy v0/v1 message sets (segments Apache Kafka wrote before 0.11) are kept as stored:
their keys count, so newer records can supersede them, but they are never rewritten.

The data directory is locked while compacting; stop a broker using it first.";

/// Examples shown after the long help.
pub(crate) const AFTER_HELP: &str = "\
EXAMPLES:
    runnel compact -d ./data
    runnel compact -d ./data --topic users --dry-run";

/// Arguments of `runnel compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// Data directory to compact.
    #[arg(short = 'd', long, env = "RUNNEL_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Compact only this topic (whatever its cleanup.policy).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,

    /// Show what would be removed without changing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON (an array of per-partition results) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What compacting one partition did.
#[derive(Debug, Serialize)]
struct PartitionResult {
    topic: String,
    partition: i32,
    records_before: u64,
    records_after: u64,
    bytes_before: u64,
    bytes_after: u64,
    tombstones_dropped: u64,
    keyless_dropped: u64,
    /// Why the partition was left as it was, if it was.
    skipped: Option<String>,
}

/// Runs `runnel compact`.
pub fn run(args: CompactArgs) -> anyhow::Result<()> {
    // A dry run must not write: no lock file, no clean-shutdown marker, no
    // recovery or index rebuild, which opening for writing would all do.
    let dir = if args.dry_run {
        DataDir::open_read_only(&args.data_dir)?
    } else {
        DataDir::open(&args.data_dir, false)?
    };
    let result = compact(&dir, &args);
    let closed = dir.close();
    let results = result?;
    closed?;
    if args.json {
        return print_json(&results);
    }
    let mut t = table(
        &[
            "TOPIC",
            "PARTITION",
            "RECORDS-BEFORE",
            "RECORDS-AFTER",
            "BYTES-BEFORE",
            "BYTES-AFTER",
            "TOMBSTONES-DROPPED",
            "NOTE",
        ],
        &[1, 2, 3, 4, 5, 6],
    );
    for r in &results {
        t.add_row(vec![
            r.topic.clone(),
            r.partition.to_string(),
            r.records_before.to_string(),
            r.records_after.to_string(),
            r.bytes_before.to_string(),
            r.bytes_after.to_string(),
            r.tombstones_dropped.to_string(),
            r.skipped.clone().unwrap_or_default(),
        ]);
    }
    print_table(&t)?;
    if args.dry_run {
        eprintln!("runnel: dry run: nothing was changed");
    }
    Ok(())
}

/// Compacts the selected partitions, one after the other.
fn compact(dir: &DataDir, args: &CompactArgs) -> anyhow::Result<Vec<PartitionResult>> {
    let topics = match &args.topic {
        Some(name) => vec![dir.topic(name)?],
        None => dir
            .topics()?
            .into_iter()
            .filter(|t| {
                t.configs
                    .get("cleanup.policy")
                    .is_some_and(|p| p.split(',').any(|p| p.trim() == "compact"))
            })
            .collect(),
    };
    let opts = CleanOptions {
        now_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        dry_run: args.dry_run,
        force: true,
    };
    let bar = progress_bar(0, "compacting");
    let mut results = Vec::new();
    for topic in topics {
        for partition in 0..topic.partitions {
            let mut log = dir.open_log(&topic.name, partition)?;
            if !log.config().compact {
                // Named with --topic: compact it whatever its cleanup.policy.
                let mut config = log.config().clone();
                config.compact = true;
                log.set_config(config);
            }
            bar.set_message(format!("{}-{partition}", topic.name));
            let stats = LogCleaner::clean(&mut log, &opts, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .with_context(|| {
                format!(
                    "cannot compact partition {partition} of topic '{}'",
                    topic.name
                )
            })?;
            log.close()?;
            results.push(PartitionResult {
                topic: topic.name.clone(),
                partition,
                records_before: stats.records_before,
                records_after: stats.records_after,
                bytes_before: stats.bytes_before,
                bytes_after: stats.bytes_after,
                tombstones_dropped: stats.tombstones_dropped,
                keyless_dropped: stats.keyless_dropped,
                skipped: stats.skipped,
            });
        }
    }
    bar.finish_and_clear();
    Ok(results)
}
