//! The producer's record accumulator: per-partition record batches that
//! fill up to `batch_size` bytes, close when full, and become ready to send
//! when full, when their linger time has passed, or on flush. Also the
//! sticky partition of unkeyed records (KIP-480): one partition per topic
//! until its batch closes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::record::{BatchBuilder, Compression, Header};

use super::error::ClientError;

/// Where a batch's outcome is published: the base offset (-1 with acks=0)
/// or the error.
pub type BatchOutcome = Option<Result<i64, ClientError>>;

/// A batch still taking records.
struct OpenBatch {
    builder: BatchBuilder,
    created: Instant,
    outcome: watch::Sender<BatchOutcome>,
    reserved: usize,
}

/// A closed batch, encoded, waiting to be sent (or re-sent).
pub struct ReadyBatch {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The encoded record batch.
    pub data: Bytes,
    /// Number of records.
    pub records: usize,
    /// Bytes of buffer memory held until the batch completes.
    pub reserved: usize,
    /// Sends tried so far.
    pub attempts: u32,
    /// Where to publish the outcome.
    pub outcome: watch::Sender<BatchOutcome>,
}

impl ReadyBatch {
    /// Publishes the outcome to every record's handle.
    pub fn complete(&self, result: Result<i64, ClientError>) {
        self.outcome.send_replace(Some(result));
    }
}

/// Batches closed but not yet encoded.
struct ClosedBatch {
    builder: BatchBuilder,
    outcome: watch::Sender<BatchOutcome>,
    reserved: usize,
}

#[derive(Default)]
struct PartitionQueue {
    open: Option<OpenBatch>,
    closed: VecDeque<ClosedBatch>,
}

/// Where an appended record went.
pub struct Appended {
    /// The batch outcome to watch.
    pub outcome: watch::Receiver<BatchOutcome>,
    /// The record's index in its batch (its offset delta).
    pub index: i32,
}

/// Per-partition batches of a producer.
pub struct Accumulator {
    compression: Compression,
    batch_size: usize,
    linger: Duration,
    topics: HashMap<String, Vec<PartitionQueue>>,
    sticky: HashMap<String, i32>,
    /// Number of closed batches not yet drained.
    closed_count: usize,
}

/// Size of a record inside a batch, roughly (varint overheads included).
pub fn record_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let headers: usize = headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()) + 10)
        .sum();
    key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + headers + 21
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new(compression: Compression, batch_size: usize, linger: Duration) -> Self {
        Accumulator {
            compression,
            batch_size: batch_size.max(1),
            linger,
            topics: HashMap::new(),
            sticky: HashMap::new(),
            closed_count: 0,
        }
    }

    /// The sticky partition for unkeyed records of `topic`, chosen at random
    /// among `count` partitions when none is current.
    pub fn sticky_partition(&mut self, topic: &str, count: i32) -> i32 {
        if let Some(&p) = self.sticky.get(topic)
            && p < count
        {
            return p;
        }
        let p = rand::random_range(0..count.max(1));
        self.sticky.insert(topic.to_string(), p);
        p
    }

    /// Moves on from `partition` if it is `topic`'s sticky partition.
    fn unstick(&mut self, topic: &str, partition: i32, count: usize) {
        if self.sticky.get(topic) == Some(&partition) {
            let next = if count > 1 {
                let r = rand::random_range(0..count as i32 - 1);
                if r >= partition { r + 1 } else { r }
            } else {
                0
            };
            self.sticky.insert(topic.to_string(), next);
        }
    }

    /// Appends a record to `topic`-`partition` (of `count` partitions),
    /// closing the open batch first if the record would overflow it.
    /// `reserved` is the buffer memory taken for the record.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        count: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        reserved: usize,
        now: Instant,
    ) -> Appended {
        let size = record_size(key, value, headers);
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_string(), Vec::new());
        }
        let queues = self.topics.get_mut(topic).expect("inserted above");
        if queues.len() < count as usize {
            queues.resize_with(count as usize, PartitionQueue::default);
        }
        let queue = &mut queues[partition as usize];
        let mut closed = false;
        if let Some(open) = &queue.open
            && !open.builder.is_empty()
            && open.builder.estimated_size() + size > self.batch_size
        {
            let open = queue.open.take().expect("checked above");
            queue.closed.push_back(ClosedBatch {
                builder: open.builder,
                outcome: open.outcome,
                reserved: open.reserved,
            });
            closed = true;
        }
        let open = queue.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(self.compression, timestamp),
            created: now,
            outcome: watch::channel(None).0,
            reserved: 0,
        });
        let index = open.builder.len() as i32;
        open.builder.push(timestamp, key, value, headers);
        open.reserved += reserved;
        let appended = Appended {
            outcome: open.outcome.subscribe(),
            index,
        };
        // A batch that is already full is closed now rather than on the next record.
        let full = open.builder.estimated_size() >= self.batch_size;
        if full {
            let open = queue.open.take().expect("just used");
            queue.closed.push_back(ClosedBatch {
                builder: open.builder,
                outcome: open.outcome,
                reserved: open.reserved,
            });
        }
        let queues_len = queues.len();
        if closed || full {
            self.closed_count += usize::from(closed) + usize::from(full);
            self.unstick(topic, partition, queues_len);
        }
        appended
    }

    /// Whether some batch is closed and waiting to be drained.
    pub fn has_closed(&self) -> bool {
        self.closed_count > 0
    }

    /// Takes the batches ready to send: every closed batch, and open ones
    /// older than the linger time (or all, when `flush`). Returns them
    /// encoded, and when the next open batch will be ready.
    pub fn drain(&mut self, now: Instant, flush: bool) -> (Vec<ReadyBatch>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        let mut unstuck = Vec::new();
        for (topic, queues) in &mut self.topics {
            let count = queues.len();
            for (partition, queue) in queues.iter_mut().enumerate() {
                let mut batches: Vec<ClosedBatch> = queue.closed.drain(..).collect();
                if let Some(open) = &queue.open {
                    let deadline = open.created + self.linger;
                    if flush || deadline <= now {
                        let open = queue.open.take().expect("checked above");
                        batches.push(ClosedBatch {
                            builder: open.builder,
                            outcome: open.outcome,
                            reserved: open.reserved,
                        });
                        unstuck.push((topic.clone(), partition as i32, count));
                    } else {
                        next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
                    }
                }
                for batch in batches {
                    let records = batch.builder.len();
                    ready.push(ReadyBatch {
                        topic: topic.clone(),
                        partition: partition as i32,
                        data: Bytes::from(batch.builder.finish()),
                        records,
                        reserved: batch.reserved,
                        attempts: 0,
                        outcome: batch.outcome,
                    });
                }
            }
        }
        self.closed_count = 0;
        for (topic, partition, count) in unstuck {
            self.unstick(&topic, partition, count);
        }
        (ready, next_deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::BatchHeader;

    fn push(acc: &mut Accumulator, partition: i32, value: &[u8], now: Instant) -> Appended {
        acc.append("t", partition, 3, 1_000, None, Some(value), &[], 0, now)
    }

    #[test]
    fn batches_close_at_batch_size() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1000, Duration::from_secs(60));
        for _ in 0..25 {
            push(&mut acc, 0, &[7u8; 100], now);
        }
        assert!(acc.has_closed());
        // Nothing lingered long enough: only the closed (full) batches come out.
        let (ready, deadline) = acc.drain(now, false);
        assert!(ready.len() >= 2, "{} batches", ready.len());
        assert_eq!(deadline, Some(now + Duration::from_secs(60)));
        for b in &ready {
            assert!(b.data.len() <= 1000, "batch of {} bytes", b.data.len());
            let header = BatchHeader::parse(&b.data).expect("a v2 batch");
            assert_eq!(header.records_count as usize, b.records);
        }
        let drained: usize = ready.iter().map(|b| b.records).sum();
        // The rest is in the open batch, which flush drains.
        let (rest, deadline) = acc.drain(now, true);
        assert_eq!(deadline, None);
        assert_eq!(drained + rest.iter().map(|b| b.records).sum::<usize>(), 25);
        assert!(acc.drain(now, true).0.is_empty());
    }

    #[test]
    fn linger_makes_open_batches_ready() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1 << 20, Duration::from_millis(5));
        let first = push(&mut acc, 1, b"a", now);
        let second = push(&mut acc, 1, b"b", now);
        push(&mut acc, 2, b"c", now);
        assert_eq!((first.index, second.index), (0, 1));
        assert!(acc.drain(now, false).0.is_empty());
        let (ready, _) = acc.drain(now + Duration::from_millis(5), false);
        let mut parts: Vec<(i32, usize)> = ready.iter().map(|b| (b.partition, b.records)).collect();
        parts.sort();
        assert_eq!(parts, vec![(1, 2), (2, 1)]);
    }

    #[test]
    fn oversized_record_gets_its_own_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 100, Duration::from_secs(1));
        push(&mut acc, 0, b"small", now);
        push(&mut acc, 0, &[1u8; 500], now);
        let (ready, _) = acc.drain(now, true);
        let counts: Vec<usize> = ready.iter().map(|b| b.records).collect();
        assert_eq!(counts, vec![1, 1]);
    }

    #[test]
    fn outcome_reaches_every_record_of_the_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1 << 20, Duration::ZERO);
        let a = push(&mut acc, 0, b"a", now);
        let b = push(&mut acc, 0, b"b", now);
        let (ready, _) = acc.drain(now, false);
        assert_eq!(ready.len(), 1);
        ready[0].complete(Ok(42));
        assert_eq!(*a.outcome.borrow(), Some(Ok(42)));
        assert_eq!(*b.outcome.borrow(), Some(Ok(42)));
        assert_eq!((a.index, b.index), (0, 1));
    }

    #[test]
    fn sticky_partition_moves_when_its_batch_closes() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 300, Duration::from_secs(60));
        let first = acc.sticky_partition("t", 3);
        assert_eq!(acc.sticky_partition("t", 3), first);
        let mut p = first;
        let mut seen = vec![p];
        for _ in 0..20 {
            p = acc.sticky_partition("t", 3);
            acc.append("t", p, 3, 0, None, Some(&[0u8; 100]), &[], 0, now);
            seen.push(p);
        }
        // Each partition keeps records until its batch is full (2-3 records).
        let switches = seen.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(switches >= 5, "{seen:?}");
        let mut run = 1;
        for w in seen[1..].windows(2) {
            run = if w[0] == w[1] { run + 1 } else { 1 };
            assert!(
                run <= 3,
                "partition {} kept too many records: {seen:?}",
                w[1]
            );
        }
        assert!(seen.iter().all(|&p| (0..3).contains(&p)));
    }
}
