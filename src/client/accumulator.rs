//! The producer's record accumulator: per-partition record batches that
//! fill up to `batch_size` bytes and close when full. A partition is ready
//! to send when it has a closed batch, when its open batch has lingered
//! long enough, on flush, or when a batch to retry has waited out its
//! backoff. The sender takes one batch per partition at a time, so while
//! every request slot to a broker is busy the open batches keep filling
//! (with `linger = 0` too). Also the sticky partition of unkeyed records
//! (KIP-480): one partition per topic until its batch closes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::watch;

use crate::record::{BatchBuilder, Compression, Header};

use super::error::ClientError;
use super::transaction::ProducerStamp;

/// Where a batch's outcome is published: the base offset (-1 with acks=0)
/// or the error.
pub type BatchOutcome = Option<Result<i64, ClientError>>;

/// A batch of records not yet encoded (open, or closed when full).
struct PendingBatch {
    builder: BatchBuilder,
    created: Instant,
    sequence: u64,
    outcome: watch::Sender<BatchOutcome>,
    reserved: usize,
}

/// A batch encoded and taken for sending (or waiting to be re-sent).
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
    /// Creation order within the producer: batches of a partition are sent
    /// (and re-sent) in this order.
    pub sequence: u64,
    /// Where to publish the outcome.
    pub outcome: watch::Sender<BatchOutcome>,
}

impl ReadyBatch {
    /// Publishes the outcome to every record's handle.
    pub fn complete(&self, result: Result<i64, ClientError>) {
        self.outcome.send_replace(Some(result));
    }
}

#[derive(Default)]
struct PartitionQueue {
    /// Batches to send again, in sequence order, each with the time its
    /// backoff ends. They go before any newer batch of the partition.
    retries: VecDeque<(Instant, ReadyBatch)>,
    closed: VecDeque<PendingBatch>,
    open: Option<PendingBatch>,
}

impl PartitionQueue {
    fn is_empty(&self) -> bool {
        self.retries.is_empty() && self.closed.is_empty() && self.open.is_none()
    }
}

/// Where an appended record went.
pub struct Appended {
    /// The batch outcome to watch, if asked for.
    pub outcome: Option<watch::Receiver<BatchOutcome>>,
    /// The record's index in its batch (its offset delta).
    pub index: i32,
    /// Whether a batch was closed (became ready to send) by this append.
    pub closed_batch: bool,
}

/// A partition holding batches, and when it is ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sendable {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The partition is ready from this instant on (its first batch is
    /// full, has lingered, is flushed, or has waited out its retry backoff).
    pub ready_at: Instant,
}

/// A batch taken for sending whose encoding may still need finishing
/// (its CRC and, if asked, compression), which [`TakenBatch::finish`] does
/// outside the accumulator's lock.
pub struct TakenBatch {
    topic: String,
    partition: i32,
    state: Taken,
}

enum Taken {
    /// Records still in their builder.
    Open(PendingBatch),
    /// A batch encoded before (a retry).
    Encoded(ReadyBatch),
}

impl TakenBatch {
    /// Topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Records not yet encoded: how many, `None` for a batch encoded
    /// before (a retry, which keeps its producer id and sequence).
    pub fn records_to_encode(&self) -> Option<usize> {
        match &self.state {
            Taken::Open(batch) => Some(batch.builder.len()),
            Taken::Encoded(_) => None,
        }
    }

    /// The encoded batch, ready to send.
    pub fn finish(self) -> ReadyBatch {
        self.finish_stamped(None)
    }

    /// The encoded batch with an idempotent producer's id, epoch and base
    /// sequence (and the transactional bit) in its header, if `stamp`; a
    /// batch encoded before keeps the header it has.
    pub fn finish_stamped(self, stamp: Option<ProducerStamp>) -> ReadyBatch {
        match self.state {
            Taken::Encoded(batch) => batch,
            Taken::Open(batch) => ReadyBatch {
                topic: self.topic,
                partition: self.partition,
                records: batch.builder.len(),
                data: Bytes::from(match stamp {
                    Some(s) => batch
                        .builder
                        .producer(s.producer_id, s.producer_epoch, s.base_sequence)
                        .transactional(s.transactional)
                        .finish(),
                    None => batch.builder.finish(),
                }),
                reserved: batch.reserved,
                attempts: 0,
                sequence: batch.sequence,
                outcome: batch.outcome,
            },
        }
    }
}

/// Largest buffer reserved up front for a new batch: batches up to this
/// size get all their room at once (no regrowing copy while they fill).
const MAX_PREALLOCATED: usize = 16 * 1024 * 1024;

/// Room beyond `batch_size` for the last record's varint overheads, which
/// [`record_size`] only estimates.
const BATCH_SLACK: usize = 64;

/// Per-partition batches of a producer.
pub struct Accumulator {
    compression: Compression,
    batch_size: usize,
    linger: Duration,
    topics: IndexMap<String, Vec<PartitionQueue>>,
    /// Index in `topics` of the topic appended to last: producers mostly
    /// write one topic, whose name is then compared rather than hashed.
    last_topic: usize,
    sticky: HashMap<String, i32>,
    next_sequence: u64,
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
            topics: IndexMap::new(),
            last_topic: 0,
            sticky: HashMap::new(),
            next_sequence: 0,
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
    /// `reserved` is the buffer memory taken for the record; `subscribe`
    /// asks for the batch outcome to watch; `now` is read only when a new
    /// batch starts (its linger counts from then).
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
        subscribe: bool,
        now: impl FnOnce() -> Instant,
    ) -> Appended {
        let size = record_size(key, value, headers);
        let index = match self.topics.get_index(self.last_topic) {
            Some((name, _)) if name == topic => self.last_topic,
            _ => match self.topics.get_index_of(topic) {
                Some(index) => index,
                None => self.topics.insert_full(topic.to_string(), Vec::new()).0,
            },
        };
        self.last_topic = index;
        let (_, queues) = self
            .topics
            .get_index_mut(index)
            .expect("an index of topics");
        if queues.len() < count as usize {
            queues.resize_with(count as usize, PartitionQueue::default);
        }
        let queues_len = queues.len();
        let queue = &mut queues[partition as usize];
        let mut closed_batch = false;
        if let Some(open) = &queue.open
            && !open.builder.is_empty()
            && open.builder.estimated_size() + size > self.batch_size
        {
            queue.closed.extend(queue.open.take());
            closed_batch = true;
        }
        let next_sequence = &mut self.next_sequence;
        let capacity = self
            .batch_size
            .saturating_add(BATCH_SLACK)
            .min(MAX_PREALLOCATED);
        let open = queue.open.get_or_insert_with(|| {
            *next_sequence += 1;
            PendingBatch {
                builder: BatchBuilder::with_capacity(self.compression, timestamp, capacity),
                created: now(),
                sequence: *next_sequence,
                outcome: watch::channel(None).0,
                reserved: 0,
            }
        });
        let index = open.builder.len() as i32;
        open.builder.push(timestamp, key, value, headers);
        open.reserved += reserved;
        let outcome = subscribe.then(|| open.outcome.subscribe());
        // A batch that is already full is closed now rather than on the next record.
        if open.builder.estimated_size() >= self.batch_size {
            queue.closed.extend(queue.open.take());
            closed_batch = true;
        }
        if closed_batch {
            self.unstick(topic, partition, queues_len);
        }
        Appended {
            outcome,
            index,
            closed_batch,
        }
    }

    /// The partitions holding batches, each with when it is ready to send
    /// (every open batch at once when `flush`).
    pub fn sendable(&self, now: Instant, flush: bool) -> Vec<Sendable> {
        let mut sendable = Vec::new();
        for (topic, queues) in &self.topics {
            for (partition, queue) in queues.iter().enumerate() {
                let ready_at = if let Some((retry_at, _)) = queue.retries.front() {
                    *retry_at
                } else if !queue.closed.is_empty() || (flush && queue.open.is_some()) {
                    now
                } else if let Some(open) = &queue.open {
                    open.created + self.linger
                } else {
                    continue;
                };
                sendable.push(Sendable {
                    topic: topic.clone(),
                    partition: partition as i32,
                    ready_at,
                });
            }
        }
        sendable
    }

    /// Takes the first batch of `topic`-`partition` if it can go now and
    /// is at most `max_bytes` long (uncompressed, unless a retry): a retry
    /// whose backoff is over, else the oldest closed batch, else the open
    /// batch (closed by this).
    pub fn take(
        &mut self,
        topic: &str,
        partition: i32,
        now: Instant,
        max_bytes: usize,
    ) -> Option<TakenBatch> {
        let queues = self.topics.get_mut(topic)?;
        let count = queues.len();
        let queue = queues.get_mut(usize::try_from(partition).ok()?)?;
        if let Some((retry_at, batch)) = queue.retries.front() {
            if *retry_at > now || batch.data.len() > max_bytes {
                return None;
            }
            return queue.retries.pop_front().map(|(_, batch)| TakenBatch {
                topic: topic.to_string(),
                partition,
                state: Taken::Encoded(batch),
            });
        }
        let (batch, was_open) = match queue.closed.front() {
            Some(b) if b.builder.estimated_size() > max_bytes => return None,
            Some(_) => (queue.closed.pop_front()?, false),
            None => match &queue.open {
                Some(b) if b.builder.estimated_size() > max_bytes => return None,
                Some(_) => (queue.open.take()?, true),
                None => return None,
            },
        };
        if was_open {
            self.unstick(topic, partition, count);
        }
        Some(TakenBatch {
            topic: topic.to_string(),
            partition,
            state: Taken::Open(batch),
        })
    }

    /// Puts a batch back to be sent again from `retry_at` on, ahead of the
    /// newer batches of its partition and in sequence order among retries.
    pub fn requeue(&mut self, batch: ReadyBatch, retry_at: Instant) {
        let queues = self.topics.entry(batch.topic.clone()).or_default();
        let index = usize::try_from(batch.partition).unwrap_or(0);
        if queues.len() <= index {
            queues.resize_with(index + 1, PartitionQueue::default);
        }
        let retries = &mut queues[index].retries;
        let at = retries.partition_point(|(_, b)| b.sequence < batch.sequence);
        retries.insert(at, (retry_at, batch));
    }

    /// Whether no batch is held.
    pub fn is_empty(&self) -> bool {
        self.topics.values().flatten().all(PartitionQueue::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::BatchHeader;

    fn push(acc: &mut Accumulator, partition: i32, value: &[u8], now: Instant) -> Appended {
        acc.append(
            "t",
            partition,
            3,
            1_000,
            None,
            Some(value),
            &[],
            0,
            true,
            || now,
        )
    }

    /// Takes every batch that can go now, partition by partition.
    fn take_all(acc: &mut Accumulator, now: Instant, flush: bool) -> Vec<ReadyBatch> {
        let mut taken = Vec::new();
        for s in acc.sendable(now, flush) {
            if s.ready_at <= now {
                while let Some(b) = acc.take(&s.topic, s.partition, now, usize::MAX) {
                    taken.push(b.finish());
                }
            }
        }
        taken
    }

    #[test]
    fn batches_close_at_batch_size() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1000, Duration::from_secs(60));
        let closed = (0..25)
            .filter(|_| push(&mut acc, 0, &[7u8; 100], now).closed_batch)
            .count();
        assert!(closed >= 2, "{closed} batches closed");
        // The partition is ready: it has full batches.
        let sendable = acc.sendable(now, false);
        assert_eq!(sendable.len(), 1);
        assert_eq!(sendable[0].ready_at, now);
        let mut records = 0;
        for _ in 0..closed {
            let b = acc
                .take("t", 0, now, usize::MAX)
                .expect("a closed batch")
                .finish();
            assert!(b.data.len() <= 1000, "batch of {} bytes", b.data.len());
            let header = BatchHeader::parse(&b.data).expect("a v2 batch");
            assert_eq!(header.records_count as usize, b.records);
            records += b.records;
        }
        // The rest is in the open batch, not ready before its linger (or a flush).
        let sendable = acc.sendable(now, false);
        assert_eq!(sendable[0].ready_at, now + Duration::from_secs(60));
        assert_eq!(acc.sendable(now, true)[0].ready_at, now);
        let rest = acc
            .take("t", 0, now, usize::MAX)
            .expect("the open batch")
            .finish();
        assert_eq!(records + rest.records, 25);
        assert!(acc.sendable(now, true).is_empty());
        assert!(acc.is_empty());
    }

    #[test]
    fn batches_of_a_partition_come_out_in_order_and_within_the_size_asked() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 300, Duration::ZERO);
        for i in 0..6u8 {
            push(&mut acc, 0, &[i; 100], now);
        }
        assert!(acc.take("t", 0, now, 10).is_none(), "too big for 10 bytes");
        let mut sequences = Vec::new();
        while let Some(b) = acc.take("t", 0, now, usize::MAX) {
            sequences.push(b.finish().sequence);
        }
        assert!(sequences.len() >= 3, "{sequences:?}");
        assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    }

    #[test]
    fn linger_makes_open_batches_ready() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1 << 20, Duration::from_millis(5));
        let first = push(&mut acc, 1, b"a", now);
        let second = push(&mut acc, 1, b"b", now);
        push(&mut acc, 2, b"c", now);
        assert_eq!((first.index, second.index), (0, 1));
        assert!(take_all(&mut acc, now, false).is_empty());
        let later = now + Duration::from_millis(5);
        let mut parts: Vec<(i32, usize)> = take_all(&mut acc, later, false)
            .iter()
            .map(|b| (b.partition, b.records))
            .collect();
        parts.sort();
        assert_eq!(parts, vec![(1, 2), (2, 1)]);
    }

    #[test]
    fn oversized_record_gets_its_own_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 100, Duration::from_secs(1));
        push(&mut acc, 0, b"small", now);
        push(&mut acc, 0, &[1u8; 500], now);
        let counts: Vec<usize> = take_all(&mut acc, now, true)
            .iter()
            .map(|b| b.records)
            .collect();
        assert_eq!(counts, vec![1, 1]);
    }

    #[test]
    fn outcome_reaches_every_record_of_the_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1 << 20, Duration::ZERO);
        let a = push(&mut acc, 0, b"a", now);
        let b = push(&mut acc, 0, b"b", now);
        let ready = take_all(&mut acc, now, false);
        assert_eq!(ready.len(), 1);
        ready[0].complete(Ok(42));
        let outcome = |a: &Appended| a.outcome.as_ref().map(|o| o.borrow().clone());
        assert_eq!(outcome(&a), Some(Some(Ok(42))));
        assert_eq!(outcome(&b), Some(Some(Ok(42))));
        assert_eq!((a.index, b.index), (0, 1));
    }

    #[test]
    fn retries_go_first_in_sequence_order_after_their_backoff() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 150, Duration::ZERO);
        for i in 0..4u8 {
            push(&mut acc, 0, &[i; 100], now);
        }
        let first = acc.take("t", 0, now, usize::MAX).expect("batch").finish();
        let second = acc.take("t", 0, now, usize::MAX).expect("batch").finish();
        let (s1, s2) = (first.sequence, second.sequence);
        let backoff = now + Duration::from_millis(100);
        // Failed responses may be handled in either order.
        acc.requeue(second, backoff);
        acc.requeue(first, backoff);
        // Nothing of the partition goes during the backoff.
        assert_eq!(acc.sendable(now, true)[0].ready_at, backoff);
        assert!(acc.take("t", 0, now, usize::MAX).is_none());
        let order: Vec<u64> = std::iter::from_fn(|| acc.take("t", 0, backoff, usize::MAX))
            .map(|b| b.finish().sequence)
            .collect();
        assert_eq!(&order[..2], &[s1, s2]);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(acc.is_empty());
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
            acc.append("t", p, 3, 0, None, Some(&[0u8; 100]), &[], 0, false, || now);
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

    #[test]
    fn stamped_batches_carry_producer_id_epoch_and_sequence() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1 << 20, Duration::ZERO);
        push(&mut acc, 0, b"a", now);
        push(&mut acc, 0, b"b", now);
        let taken = acc.take("t", 0, now, usize::MAX).expect("batch");
        assert_eq!(taken.records_to_encode(), Some(2));
        let stamp = ProducerStamp {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 17,
            transactional: true,
        };
        let ready = taken.finish_stamped(Some(stamp));
        let header = crate::record::batch::validate(&ready.data).expect("valid CRC");
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (42, 3, 17)
        );
        assert!(header.is_transactional());
        // A retry goes out as it was encoded: same producer id and sequence.
        acc.requeue(ready, now);
        let again = acc.take("t", 0, now, usize::MAX).expect("the retry");
        assert_eq!(again.records_to_encode(), None);
        let other = ProducerStamp {
            base_sequence: 99,
            ..stamp
        };
        let header = BatchHeader::parse(&again.finish_stamped(Some(other)).data).expect("v2");
        assert_eq!(header.base_sequence, 17);
    }

    #[test]
    fn records_of_several_topics_stay_apart() {
        let now = Instant::now();
        let mut acc = Accumulator::new(Compression::None, 1 << 20, Duration::ZERO);
        for (i, topic) in ["a", "b", "a", "a", "c", "b"].iter().enumerate() {
            let value = [i as u8];
            acc.append(topic, 1, 2, 0, None, Some(&value), &[], 0, false, || now);
        }
        let mut counts: Vec<(String, i32, usize)> = take_all(&mut acc, now, true)
            .iter()
            .map(|b| (b.topic.clone(), b.partition, b.records))
            .collect();
        counts.sort();
        let expected = [("a", 3), ("b", 2), ("c", 1)].map(|(t, n)| (t.to_string(), 1, n));
        assert_eq!(counts, expected);
    }
}
