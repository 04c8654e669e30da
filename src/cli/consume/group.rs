//! `consume --group`: reading as a member of a consumer group.
//!
//! Against a broker the group coordinator assigns the partitions
//! ([`GroupConsumer`]); offsets are committed after the records are
//! written out (at-least-once) or, with `--commit-before-print`, before
//! (at-most-once), and on exit the member commits and leaves the group. In a
//! data directory the group's offsets are kept in its `__consumer_offsets`
//! ([`DirectGroupOffsets`]), where `runnel serve` finds them later.

use super::direct::DirectSource;
use super::{Isolation, Printer, Round, Source, StartOffset, print_records};
use crate::broker::group::DirectGroupOffsets;
use crate::cli::broker::{BrokerBackend, topic_error};
use crate::cli::direct::DirectBackend;
use crate::cli::format::RecordView;
use crate::client::group::{AutoOffsetReset, CommitOutcome, GroupConfig, GroupConsumer};
use crate::client::{ConsumerConfig, ConsumerRecord};
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Bytes fetched per partition and request.
const PARTITION_FETCH_BYTES: i32 = 4 * 1024 * 1024;

/// How long a fetch waits at the end of the log (so Ctrl-C is noticed
/// within about this time).
const FETCH_MAX_WAIT: Duration = Duration::from_millis(250);

/// How the group's offsets are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CommitMode {
    /// After the records are written out: none is lost, some may be printed
    /// again after a crash (at-least-once).
    AfterPrint,
    /// Before they are written out: none is printed twice, some may be lost
    /// (at-most-once).
    BeforePrint,
}

/// Where a member starts partitions the group has no committed offset for.
fn auto_offset_reset(start: StartOffset) -> anyhow::Result<AutoOffsetReset> {
    match start {
        StartOffset::Beginning => Ok(AutoOffsetReset::Earliest),
        StartOffset::End => Ok(AutoOffsetReset::Latest),
        _ => anyhow::bail!(
            "with --group, --offset must be beginning or end (where partitions without a committed offset start)"
        ),
    }
}

/// Joins `group` on the broker, prints its share of `topic` until Ctrl-C,
/// the record limit, or (without `follow`) the end of every assigned
/// partition, then commits and leaves the group.
#[allow(clippy::too_many_arguments)]
pub(super) fn consume_broker<W: Write>(
    broker: &BrokerBackend,
    topic: &str,
    group: &str,
    start: StartOffset,
    follow: bool,
    mode: CommitMode,
    isolation: Isolation,
    printer: &mut Printer<'_, W>,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    let mut config = GroupConfig::new(group, &[topic]);
    config.auto_offset_reset = auto_offset_reset(start)?;
    config.consumer = ConsumerConfig {
        max_wait: FETCH_MAX_WAIT,
        partition_max_bytes: PARTITION_FETCH_BYTES,
        isolation_level: isolation.level(),
        ..ConsumerConfig::default()
    };
    let mut member = broker
        .block_on(GroupConsumer::join(broker.client(), config))
        .map_err(|e| topic_error(topic, e))
        .with_context(|| format!("cannot join group '{group}'"))?;
    let result = member_loop(
        broker,
        &mut member,
        topic,
        follow,
        mode,
        printer,
        interrupted,
    );
    let left = broker.block_on(member.close());
    result?;
    left.with_context(|| format!("cannot leave group '{group}' cleanly"))?;
    Ok(())
}

fn member_loop<W: Write>(
    broker: &BrokerBackend,
    member: &mut GroupConsumer,
    topic: &str,
    follow: bool,
    mode: CommitMode,
    printer: &mut Printer<'_, W>,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    while !interrupted.load(Ordering::Relaxed) && !printer.full() {
        if !follow && member.at_end() {
            break;
        }
        let mut records = broker
            .block_on(member.poll())
            .map_err(|e| topic_error(topic, e))?;
        if records.is_empty() {
            printer.out.flush()?;
            continue;
        }
        // Records past the limit are not delivered: read them again next time.
        let room = usize::try_from(printer.max - printer.records).unwrap_or(usize::MAX);
        if records.len() > room {
            let rest = records.split_off(room);
            for (partition, offset) in first_offsets(&rest) {
                broker.block_on(member.seek(topic, partition, offset))?;
            }
        }
        if mode == CommitMode::BeforePrint {
            commit(broker, member)?;
        }
        let printed = records
            .iter()
            .try_for_each(|r| printer.print(&RecordView::of_record(topic, r.partition, &r.record)))
            .and_then(|()| Ok(printer.out.flush()?));
        if let Err(e) = printed {
            if mode == CommitMode::AfterPrint {
                // Not known to be written: the member's exit commits the offsets before them.
                for (partition, offset) in first_offsets(&records) {
                    broker.block_on(member.seek(topic, partition, offset))?;
                }
            }
            return Err(e);
        }
        if mode == CommitMode::AfterPrint {
            commit(broker, member)?;
        }
    }
    Ok(())
}

/// Commits the member's positions; a rebalance in the way only means the
/// records since the last commit may be read again.
fn commit(broker: &BrokerBackend, member: &mut GroupConsumer) -> anyhow::Result<()> {
    let outcome = broker
        .block_on(member.commit_positions())
        .with_context(|| format!("cannot commit the offsets of group '{}'", member.group_id()))?;
    if outcome == CommitOutcome::Rebalancing {
        tracing::debug!(
            group = member.group_id(),
            "commit skipped: group rebalancing"
        );
    }
    Ok(())
}

/// The first offset of each partition among `records`.
fn first_offsets(records: &[ConsumerRecord]) -> BTreeMap<i32, i64> {
    let mut firsts = BTreeMap::new();
    for r in records {
        firsts.entry(r.partition).or_insert(r.record.offset);
    }
    firsts
}

/// Reads `partitions` of `topic` in a data directory from `group`'s
/// committed offsets (the others from `start`), committing in the
/// directory's `__consumer_offsets` after each round is written out.
#[allow(clippy::too_many_arguments)]
pub(super) fn consume_direct<W: Write>(
    dir: &mut DirectBackend,
    topic: &str,
    partitions: &[i32],
    group: &str,
    start: StartOffset,
    follow: bool,
    mode: CommitMode,
    isolation: Isolation,
    printer: &mut Printer<'_, W>,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    // Partitions without a committed offset start as a broker member's would.
    auto_offset_reset(start)?;
    let mut offsets = DirectGroupOffsets::open(dir.data_dir())
        .with_context(|| format!("cannot open the offsets of group '{group}'"))?;
    let result = (|| {
        let committed = offsets.committed(group, topic)?;
        let source =
            DirectSource::resuming(dir, topic, partitions, &committed, start, follow, isolation)?;
        let mut source = Committing {
            source,
            offsets: &mut offsets,
            group,
            topic,
            committed,
            mode,
        };
        print_records(&mut source, printer, follow, interrupted)?;
        printer.out.flush()?;
        source.commit()
    })();
    let closed = offsets.close();
    result?;
    closed?;
    Ok(())
}

/// A data directory source that commits what it printed after each round.
struct Committing<'s, 'a> {
    source: DirectSource<'a>,
    offsets: &'s mut DirectGroupOffsets,
    group: &'s str,
    topic: &'s str,
    /// The group's committed offsets of the partitions read.
    committed: BTreeMap<i32, i64>,
    /// Whether a round's records are committed before or after they are written out.
    mode: CommitMode,
}

impl Committing<'_, '_> {
    /// Commits the position of every partition that moved since the last commit.
    fn commit(&mut self) -> anyhow::Result<()> {
        let moved: Vec<(&str, i32, i64)> = self
            .source
            .positions()
            .filter(|(p, next)| self.committed.get(p) != Some(next))
            .map(|(p, next)| (self.topic, p, next))
            .collect();
        self.offsets
            .commit(self.group, &moved)
            .with_context(|| format!("cannot commit the offsets of group '{}'", self.group))?;
        for (_, p, next) in moved {
            self.committed.insert(p, next);
        }
        Ok(())
    }
}

impl Source for Committing<'_, '_> {
    fn read<W: Write>(&mut self, printer: &mut Printer<'_, W>) -> anyhow::Result<Round> {
        if self.mode == CommitMode::BeforePrint {
            // The round is formatted into memory, committed, then written out.
            let mut staged = Printer {
                format: printer.format,
                out: Vec::new(),
                records: printer.records,
                bytes: printer.bytes,
                max: printer.max,
            };
            let round = self.source.read(&mut staged)?;
            if round == Round::Moved {
                self.commit()?;
            }
            printer.records = staged.records;
            printer.bytes = staged.bytes;
            printer.out.write_all(&staged.out)?;
            return Ok(round);
        }
        let round = self.source.read(printer)?;
        if round == Round::Moved {
            printer.out.flush()?;
            self.commit()?;
        }
        Ok(round)
    }

    fn wait(&mut self) {
        self.source.wait();
    }
}
