//! Consuming from a data directory: batches read straight from the segment
//! files, records printed from the read buffer without copying them.
//!
//! Under read_committed each partition is read up to its last stable
//! offset, and the batches of aborted transactions (from the `.txnindex`
//! files) are skipped as a read_committed Fetch's consumer skips them
//! ([`AbortedFilter`]).

use super::{Cursor, Cursors, Isolation, Printer, Round, Source, StartOffset};
use crate::cli::direct::{DirectBackend, Fetched};
use crate::cli::format::RecordView;
use crate::client::completed_fetch::AbortedFilter;
use crate::record::BatchError;
use crate::record::decode::{self, BatchRecords};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// Bytes read per partition and round.
const FETCH_BYTES: usize = 4 * 1024 * 1024;

/// How long `--follow` waits before looking for new records again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Reads a topic of a data directory.
pub(super) struct DirectSource<'a> {
    dir: &'a mut DirectBackend,
    topic: &'a str,
    cursors: Cursors,
    buf: Vec<u8>,
    isolation: Isolation,
}

impl<'a> DirectSource<'a> {
    /// Starts each of `partitions` at `start`.
    pub(super) fn new(
        dir: &'a mut DirectBackend,
        topic: &'a str,
        partitions: &[i32],
        start: StartOffset,
        follow: bool,
        isolation: Isolation,
    ) -> anyhow::Result<Self> {
        Self::resuming(
            dir,
            topic,
            partitions,
            &BTreeMap::new(),
            start,
            follow,
            isolation,
        )
    }

    /// Starts each of `partitions` at its offset in `resume` (a group's
    /// committed offsets), the others at `start`. Without `follow` each
    /// stops at its end as of now: the log end offset, or under
    /// read_committed the last stable offset.
    pub(super) fn resuming(
        dir: &'a mut DirectBackend,
        topic: &'a str,
        partitions: &[i32],
        resume: &BTreeMap<i32, i64>,
        start: StartOffset,
        follow: bool,
        isolation: Isolation,
    ) -> anyhow::Result<Self> {
        let mut list = Vec::with_capacity(partitions.len());
        for &partition in partitions {
            let (log_start, mut log_end) = dir.offsets(topic, partition)?;
            if isolation == Isolation::ReadCommitted {
                log_end = dir.last_stable_offset(topic, partition)?;
            }
            let next = match (resume.get(&partition), start) {
                (Some(&offset), _) => offset,
                (None, start) => match start {
                    StartOffset::Beginning => log_start,
                    StartOffset::End => log_end,
                    StartOffset::Absolute(n) => n,
                    StartOffset::FromEnd(n) => log_end.saturating_sub(n),
                    StartOffset::Timestamp(ts) => dir
                        .offset_for_timestamp(topic, partition, ts)?
                        .unwrap_or(log_end),
                },
            };
            list.push(Cursor::new(partition, next, log_start, log_end, follow));
        }
        Ok(DirectSource {
            dir,
            topic,
            cursors: Cursors { list, follow },
            buf: Vec::new(),
            isolation,
        })
    }
}

impl DirectSource<'_> {
    /// Each partition with the offset of the next record to print.
    pub(super) fn positions(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.cursors.list.iter().map(|c| (c.partition, c.next))
    }
}

impl Source for DirectSource<'_> {
    fn read<W: Write>(&mut self, printer: &mut Printer<'_, W>) -> anyhow::Result<Round> {
        let Some(active) = self.cursors.active() else {
            return Ok(Round::Finished);
        };
        let mut round = Round::Nothing;
        for cursor in active {
            if printer.full() {
                break;
            }
            let before = cursor.clone();
            let (upper, filter) = match self.isolation {
                Isolation::ReadUncommitted => (i64::MAX, AbortedFilter::default()),
                Isolation::ReadCommitted => {
                    let lso = self.dir.last_stable_offset(self.topic, cursor.partition)?;
                    if cursor.next >= lso {
                        // Nothing stable to read yet (or the end).
                        if cursor.stop.is_some() {
                            cursor.done = true;
                        }
                        if *cursor != before {
                            round = Round::Moved;
                        }
                        continue;
                    }
                    let aborted = self.dir.aborted_transactions(
                        self.topic,
                        cursor.partition,
                        cursor.next,
                        lso,
                    )?;
                    (lso, AbortedFilter::new(aborted))
                }
            };
            match self.dir.fetch(
                self.topic,
                cursor.partition,
                cursor.next,
                FETCH_BYTES,
                &mut self.buf,
            )? {
                Fetched::Batches => {
                    print_batches(self.topic, &self.buf, cursor, upper, filter, printer)?
                }
                // Retention or compaction removed what we wanted; skip ahead as Kafka's
                // auto.offset.reset=earliest would.
                Fetched::OutOfRange { start, .. } if cursor.next < start => cursor.next = start,
                Fetched::AtEnd | Fetched::OutOfRange { .. } => cursor.done = cursor.stop.is_some(),
            }
            if *cursor != before {
                round = Round::Moved;
            }
        }
        Ok(round)
    }

    fn wait(&mut self) {
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Offers the records of the batches in `buf` below `upper` to `printer`
/// (not those of batches `filter` finds aborted, nor control batches) and
/// moves the cursor past every batch read whole.
fn print_batches<W: Write>(
    topic: &str,
    buf: &[u8],
    cursor: &mut Cursor,
    upper: i64,
    mut filter: AbortedFilter,
    printer: &mut Printer<'_, W>,
) -> anyhow::Result<()> {
    let partition = cursor.partition;
    for entry in decode::scan(buf) {
        let (_, summary, bytes) = match entry {
            Ok(entry) => entry,
            // A read may end in a partial batch; the next read starts there.
            Err(e) if e.position > 0 => break,
            Err(e) => anyhow::bail!(
                "corrupt record batch at offset {} of partition {partition}: {}",
                cursor.next,
                e.error
            ),
        };
        if summary.base_offset >= upper {
            break;
        }
        // The filter sees every batch, in order, to follow the markers.
        let aborted = filter.is_aborted(&summary, bytes);
        if summary.last_offset < cursor.next {
            continue;
        }
        let corrupt = |e: BatchError| {
            anyhow::anyhow!(
                "corrupt record batch at offset {} of partition {partition}: {e}",
                summary.base_offset
            )
        };
        if summary.is_control || aborted {
            // Transaction markers are not records; aborted records are
            // not shown under read_committed.
        } else if summary.magic == 2 {
            let batch = BatchRecords::new(bytes).map_err(corrupt)?;
            for record in batch.iter() {
                let record = record.map_err(corrupt)?;
                if !printer.offer(cursor, &RecordView::of_ref(topic, partition, &record))? {
                    return Ok(());
                }
            }
        } else {
            for record in &decode::decode_batch(bytes).map_err(corrupt)? {
                if !printer.offer(cursor, &RecordView::of_record(topic, partition, record))? {
                    return Ok(());
                }
            }
        }
        cursor.next = cursor.next.max(summary.last_offset + 1);
    }
    Ok(())
}
