//! Consuming from a Kafka cluster with the library's [`Consumer`]: the
//! partitions [`Cursors::active`] names are the consumer's assignment, each
//! poll long-polls their leaders.

use super::{Cursor, Cursors, Isolation, Printer, Round, Source, StartOffset};
use crate::cli::broker::{BrokerBackend, topic_error};
use crate::cli::format::RecordView;
use crate::client::{ClientError, Consumer, ConsumerConfig, OffsetSpec};
use std::io::Write;
use std::time::Duration;

/// Bytes fetched per partition and request.
const PARTITION_FETCH_BYTES: i32 = 4 * 1024 * 1024;

/// How long a fetch waits at the end of the log for new records (so Ctrl-C
/// is noticed within about this time).
const FETCH_MAX_WAIT: Duration = Duration::from_millis(250);

/// Pause after a fetch found its offset outside the log, before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Reads a topic from a Kafka cluster.
pub(super) struct BrokerSource<'a> {
    broker: &'a BrokerBackend,
    topic: &'a str,
    consumer: Consumer,
    cursors: Cursors,
    /// The last round ended on an offset outside the log.
    out_of_range: bool,
}

impl<'a> BrokerSource<'a> {
    /// Starts each of `partitions` at `start` (resolved by the consumer with
    /// ListOffsets, all partitions at once); without `follow` each stops at
    /// its end as of now: the high watermark, or under read_committed the
    /// last stable offset.
    pub(super) fn new(
        broker: &'a BrokerBackend,
        topic: &'a str,
        partitions: &[i32],
        start: StartOffset,
        follow: bool,
        isolation: Isolation,
    ) -> anyhow::Result<Self> {
        let mut consumer = broker.client().consumer(ConsumerConfig {
            max_wait: FETCH_MAX_WAIT,
            partition_max_bytes: PARTITION_FETCH_BYTES,
            isolation_level: isolation.level(),
            ..ConsumerConfig::default()
        });
        let spec = match start {
            StartOffset::Beginning => OffsetSpec::Earliest,
            StartOffset::End => OffsetSpec::Latest,
            StartOffset::Absolute(n) => OffsetSpec::Offset(n),
            StartOffset::FromEnd(n) => OffsetSpec::FromEnd(n),
            StartOffset::Timestamp(ts) => OffsetSpec::Timestamp(ts),
        };
        broker
            .block_on(consumer.assign(topic, Some(partitions), spec))
            .map_err(|e| topic_error(topic, e))?;
        let list = consumer
            .positions()
            .iter()
            .map(|p| {
                Cursor::new(
                    p.partition,
                    p.position,
                    p.log_start_offset,
                    p.high_watermark,
                    follow,
                )
            })
            .collect();
        Ok(BrokerSource {
            broker,
            topic,
            consumer,
            cursors: Cursors { list, follow },
            out_of_range: false,
        })
    }
}

/// Makes the consumer's assignment the `active` partitions, each at its
/// cursor's next offset.
fn assign(
    broker: &BrokerBackend,
    consumer: &mut Consumer,
    topic: &str,
    active: &[Cursor],
) -> anyhow::Result<()> {
    let stale: Vec<i32> = consumer
        .positions()
        .iter()
        .filter(|p| !active.iter().any(|c| c.partition == p.partition))
        .map(|p| p.partition)
        .collect();
    for partition in stale {
        consumer.unassign(topic, partition);
    }
    for cursor in active {
        let position = consumer
            .positions()
            .iter()
            .find(|p| p.partition == cursor.partition)
            .map(|p| p.position);
        if position != Some(cursor.next) {
            let spec = OffsetSpec::Offset(cursor.next);
            broker.block_on(consumer.assign(topic, Some(&[cursor.partition]), spec))?;
        }
    }
    Ok(())
}

impl Source for BrokerSource<'_> {
    fn read<W: Write>(&mut self, printer: &mut Printer<'_, W>) -> anyhow::Result<Round> {
        let BrokerSource {
            broker,
            topic,
            consumer,
            cursors,
            out_of_range,
        } = self;
        *out_of_range = false;
        let Some(active) = cursors.active() else {
            return Ok(Round::Finished);
        };
        assign(broker, consumer, topic, active)?;
        let before = active.to_vec();
        match broker.block_on(consumer.poll()) {
            Ok(records) => {
                for r in &records {
                    let Some(cursor) = active.iter_mut().find(|c| c.partition == r.partition)
                    else {
                        continue;
                    };
                    let view = RecordView::of_record(topic, r.partition, &r.record);
                    if !printer.offer(cursor, &view)? && printer.full() {
                        return Ok(Round::Moved);
                    }
                }
                // Every record fetched was printed: move past what held none
                // (control batches, offsets compaction removed).
                for cursor in active.iter_mut().filter(|c| !c.done) {
                    if let Some(p) = consumer
                        .positions()
                        .iter()
                        .find(|p| p.partition == cursor.partition)
                    {
                        cursor.next = cursor.next.max(p.position);
                    }
                }
            }
            Err(ClientError::OffsetOutOfRange {
                partition,
                log_start,
                ..
            }) => {
                if let Some(cursor) = active.iter_mut().find(|c| c.partition == partition) {
                    if cursor.next < log_start {
                        // Retention or compaction removed what we wanted; skip ahead as
                        // Kafka's auto.offset.reset=earliest would.
                        cursor.next = log_start;
                    } else {
                        cursor.done = cursor.stop.is_some();
                        *out_of_range = true;
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(if *active != *before {
            Round::Moved
        } else {
            Round::Nothing
        })
    }

    fn wait(&mut self) {
        // An empty poll already waited for new records at the broker.
        if self.out_of_range {
            std::thread::sleep(RETRY_PAUSE);
        }
    }
}
