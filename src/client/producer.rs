//! The producer: partitioning as Java's default partitioner does (murmur2
//! of the key, sticky partition for unkeyed records), per-partition batches
//! with linger and compression, Produce requests per leader broker with
//! several in flight, retries of retriable errors, acks 0/1/all.
//!
//! Ordering: one sender task writes each broker's requests to its
//! connection in order, and a request carries at most one batch per
//! partition, so without retries a partition's records land in the order
//! they were sent, even with several requests in flight (Kafka's guarantee).
//! A retried batch goes back ahead of its partition's newer batches, but
//! with `max_in_flight > 1` those may already be in flight and land before
//! it, as with Kafka's non-idempotent producer; `max_in_flight = 1` keeps
//! the order through retries too.
//!
//! Idempotence and transactions (KIP-98): with `enable_idempotence` or a
//! `transactional_id`, a [`TransactionManager`] gives every batch the
//! producer id, epoch and its partition's next sequence as it is encoded,
//! so a retry is a duplicate the broker recognises (and a batch that
//! overtook a retried one is answered OUT_OF_ORDER_SEQUENCE_NUMBER and
//! retried after it). A transactional producer sends records between
//! [`Producer::begin_transaction`] and [`Producer::commit_transaction`] /
//! [`Producer::abort_transaction`]; its sender adds each partition to the
//! transaction (AddPartitionsToTxn) before the partition's first batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};

use crate::record::murmur2::partition_for_key;
use crate::record::{Compression, Header};

use super::accumulator::{Accumulator, BatchOutcome, ReadyBatch, Sendable, record_size};
use super::cluster::Cluster;
use super::error::ClientError;
use super::transaction::{TransactionManager, TransactionState, codes};

/// How many brokers must have a record before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// acks=0: no response; offsets are unknown (-1).
    None,
    /// acks=1: the leader has appended it.
    Leader,
    /// acks=all (-1): every in-sync replica has it.
    #[default]
    All,
}

impl Acks {
    /// The `acks` field of a Produce request.
    pub fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// Parses `0`, `1`, `all` or `-1`.
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        match s {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            other => Err(ClientError::Invalid(format!(
                "invalid acks {other:?}: expected 0, 1 or all"
            ))),
        }
    }
}

/// Producer settings (Kafka's names in parentheses).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Acknowledgement level (`acks`).
    pub acks: Acks,
    /// How long a batch waits for more records (`linger.ms`).
    pub linger: Duration,
    /// Largest batch in bytes before compression (`batch.size`).
    pub batch_size: usize,
    /// Batch compression (`compression.type`).
    pub compression: Compression,
    /// Produce requests in flight per broker
    /// (`max.in.flight.requests.per.connection`).
    pub max_in_flight: usize,
    /// Retries of a batch after retriable errors (`retries`).
    pub retries: u32,
    /// First pause before a retry, doubled each time up to 1 s (`retry.backoff.ms`).
    pub retry_backoff: Duration,
    /// Time the broker and we wait for a Produce response (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// Bytes of records buffered before `send` waits (`buffer.memory`).
    pub buffer_memory: usize,
    /// Largest Produce request, at least one batch (`max.request.size`).
    pub max_request_size: usize,
    /// Stamp batches with a producer id and sequences so the broker drops
    /// retried duplicates (`enable.idempotence`); at most 5 requests are
    /// then in flight per broker, as Kafka requires.
    pub enable_idempotence: bool,
    /// Makes the producer transactional, with idempotence
    /// (`transactional.id`).
    pub transactional_id: Option<String>,
    /// How long the coordinator lets a transaction stay open before it
    /// aborts it (`transaction.timeout.ms`).
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            compression: Compression::None,
            max_in_flight: 5,
            retries: 10,
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: 1024 * 1024,
            enable_idempotence: false,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }
}

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key; routes the record when no partition is given.
    pub key: Option<Bytes>,
    /// Value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Timestamp in ms; `None` is now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// The record borrowed, for [`Producer::send_ref`] and [`Producer::try_queue`].
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            topic: &self.topic,
            partition: self.partition,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers,
            timestamp: self.timestamp,
        }
    }
}

/// A record to produce, borrowed from the caller: nothing is copied
/// before its bytes are encoded into a record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key; routes the record when no partition is given.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: &'a [Header],
    /// Timestamp in ms; `None` is now.
    pub timestamp: Option<i64>,
}

/// The partition a record goes to when it is fixed (given, or by its key),
/// `None` for the sticky partition; an error for a partition out of range.
fn route(record: &RecordRef<'_>, count: i32) -> Result<Option<i32>, ClientError> {
    if count == 0 {
        return Err(ClientError::UnknownTopic(record.topic.to_string()));
    }
    match (record.partition, record.key) {
        (Some(p), _) if p < 0 || p >= count => Err(ClientError::UnknownPartition {
            topic: record.topic.to_string(),
            partition: p,
            count,
        }),
        (Some(p), _) => Ok(Some(p)),
        (None, Some(key)) => Ok(Some(partition_for_key(key, count))),
        (None, None) => Ok(None),
    }
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Partition.
    pub partition: i32,
    /// Offset; -1 with acks=0.
    pub offset: i64,
}

/// The pending outcome of one sent record.
#[derive(Debug)]
pub struct DeliveryHandle {
    outcome: watch::Receiver<BatchOutcome>,
    index: i32,
    partition: i32,
}

impl DeliveryHandle {
    /// The partition the record was routed to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Waits until the record is acknowledged (or failed for good).
    pub async fn wait(mut self) -> Result<RecordMetadata, ClientError> {
        let outcome = self
            .outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ClientError::ProducerClosed)?;
        match outcome.as_ref() {
            Some(Ok(base)) => Ok(RecordMetadata {
                partition: self.partition,
                offset: if *base < 0 {
                    -1
                } else {
                    base + self.index as i64
                },
            }),
            Some(Err(e)) => Err(e.clone()),
            None => Err(ClientError::ProducerClosed),
        }
    }
}

struct Shared {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    accumulator: Mutex<Accumulator>,
    /// Wakes the sender: a batch closed, a batch started, a request ended.
    wake: Notify,
    memory: Semaphore,
    /// Records sent but not yet completed.
    outstanding: AtomicUsize,
    /// Signalled whenever records complete.
    done: Notify,
    flushing: AtomicUsize,
    closed: AtomicBool,
    first_error: Mutex<Option<ClientError>>,
    /// Producer id, sequences and transactions, if idempotent.
    txn: Option<Arc<TransactionManager>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A Kafka producer. Share it with `Arc` between tasks; call
/// [`Producer::flush`] before dropping it (dropping it sends what is
/// buffered in the background while the runtime lives).
pub struct Producer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.shared.config)
            .finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Producer {
    /// A producer on `cluster`; starts its sender task.
    pub fn new(cluster: Arc<Cluster>, config: ProducerConfig) -> Self {
        let memory = config.buffer_memory.clamp(1, u32::MAX as usize);
        let idempotent = config.enable_idempotence || config.transactional_id.is_some();
        let txn = idempotent.then(|| {
            Arc::new(TransactionManager::new(
                config.transactional_id.clone(),
                config.transaction_timeout,
            ))
        });
        // The broker remembers the last five batches of a producer.
        let max_in_flight = if idempotent {
            config.max_in_flight.clamp(1, 5)
        } else {
            config.max_in_flight.max(1)
        };
        let shared = Arc::new(Shared {
            accumulator: Mutex::new(Accumulator::new(
                config.compression,
                config.batch_size,
                config.linger,
            )),
            cluster,
            wake: Notify::new(),
            memory: Semaphore::new(memory),
            outstanding: AtomicUsize::new(0),
            done: Notify::new(),
            flushing: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            first_error: Mutex::new(None),
            txn,
            config: ProducerConfig {
                max_in_flight,
                buffer_memory: memory,
                ..config
            },
        });
        tokio::spawn(run_sender(shared.clone()));
        Producer { shared }
    }

    /// Queues a record; returns once it is in a batch (waiting if
    /// `buffer_memory` is full). The handle resolves when it is written.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryHandle, ClientError> {
        self.send_ref(record.borrowed()).await
    }

    /// Like [`Producer::send`] with the record borrowed: its key, value and
    /// headers are copied once, straight into the record batch.
    pub async fn send_ref(&self, record: RecordRef<'_>) -> Result<DeliveryHandle, ClientError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(ClientError::ProducerClosed);
        }
        if let Some(txn) = &shared.txn {
            txn.check_can_send()?;
        }
        let count = match shared.cluster.cached_partition_count(record.topic) {
            Some(count) => count,
            None => shared
                .cluster
                .refresh_topic(record.topic, true)
                .await?
                .partition_count(),
        };
        let explicit = route(&record, count)?;
        let reserve = self.reserve_for(&record);
        shared
            .memory
            .acquire_many(reserve as u32)
            .await
            .map_err(|_| ClientError::ProducerClosed)?
            .forget();
        let (handle, _) = self.queue(&record, explicit, count, reserve, true);
        handle.ok_or(ClientError::ProducerClosed)
    }

    /// Queues a record without waiting and without a delivery handle (its
    /// outcome still counts for [`Producer::flush`], which returns the
    /// first error); the fast path for producing many records. Returns
    /// `false`, queuing nothing, when it would have to wait: `buffer_memory`
    /// is full or the topic's metadata is not known yet; then call
    /// [`Producer::send_ref`].
    pub fn try_queue(&self, record: &RecordRef<'_>) -> Result<bool, ClientError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(ClientError::ProducerClosed);
        }
        if let Some(txn) = &shared.txn {
            txn.check_can_send()?;
        }
        let Some(count) = shared.cluster.cached_partition_count(record.topic) else {
            return Ok(false);
        };
        let explicit = route(record, count)?;
        let reserve = self.reserve_for(record);
        match shared.memory.try_acquire_many(reserve as u32) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Ok(false),
            Err(TryAcquireError::Closed) => return Err(ClientError::ProducerClosed),
        }
        self.queue(record, explicit, count, reserve, false);
        Ok(true)
    }

    /// Buffer memory a record takes while it is pending.
    fn reserve_for(&self, record: &RecordRef<'_>) -> usize {
        record_size(record.key, record.value, record.headers).min(self.shared.config.buffer_memory)
    }

    /// Appends a record whose memory is reserved to its batch; the handle
    /// if `subscribe`, and the partition.
    fn queue(
        &self,
        record: &RecordRef<'_>,
        explicit: Option<i32>,
        count: i32,
        reserve: usize,
        subscribe: bool,
    ) -> (Option<DeliveryHandle>, i32) {
        let shared = &self.shared;
        shared.outstanding.fetch_add(1, Ordering::AcqRel);
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let (appended, partition, wake) = {
            let mut acc = lock(&shared.accumulator);
            let partition = explicit.unwrap_or_else(|| acc.sticky_partition(record.topic, count));
            let appended = acc.append(
                record.topic,
                partition,
                count,
                timestamp,
                record.key,
                record.value,
                record.headers,
                reserve,
                subscribe,
                Instant::now,
            );
            let wake = appended.index == 0 || appended.closed_batch;
            (appended, partition, wake)
        };
        if wake {
            shared.wake.notify_one();
        }
        let index = appended.index;
        let handle = appended.outcome.map(|outcome| DeliveryHandle {
            outcome,
            index,
            partition,
        });
        (handle, partition)
    }

    /// Sends everything buffered and waits until every record sent so far
    /// is acknowledged or failed. Returns the first error since the last
    /// flush, if any record failed.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let shared = &self.shared;
        shared.flushing.fetch_add(1, Ordering::AcqRel);
        shared.wake.notify_one();
        loop {
            let notified = shared.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.outstanding.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
        shared.flushing.fetch_sub(1, Ordering::AcqRel);
        match lock(&shared.first_error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records sent but not yet acknowledged or failed.
    pub fn pending(&self) -> usize {
        self.shared.outstanding.load(Ordering::Acquire)
    }

    /// The producer id, sequences and transaction state, if the producer
    /// is idempotent or transactional.
    pub fn transaction_manager(&self) -> Option<&Arc<TransactionManager>> {
        self.shared.txn.as_ref()
    }

    fn transactional(&self) -> Result<&Arc<TransactionManager>, ClientError> {
        self.shared
            .txn
            .as_ref()
            .filter(|t| t.is_transactional())
            .ok_or_else(|| ClientError::Invalid("the producer has no transactional id".to_string()))
    }

    /// Gets the producer id and epoch from the transaction coordinator
    /// (InitProducerId), fencing older producers of the same transactional
    /// id and letting the coordinator abort their open transaction
    /// (Kafka's `initTransactions`). Call once, before the first transaction.
    pub async fn init_transactions(&self) -> Result<(), ClientError> {
        self.transactional()?.init(&self.shared.cluster).await
    }

    /// Opens a transaction: records sent from now on commit or abort together.
    pub fn begin_transaction(&self) -> Result<(), ClientError> {
        self.transactional()?.begin()
    }

    /// Sends everything buffered, waits until every record is
    /// acknowledged, then commits (EndTxn). If a record failed, nothing is
    /// committed: the error is returned and only
    /// [`Producer::abort_transaction`] may follow.
    pub async fn commit_transaction(&self) -> Result<(), ClientError> {
        let txn = self.transactional()?;
        if txn.state() == TransactionState::InTransaction {
            // A failed record made the transaction abortable already.
            self.flush().await?;
        }
        txn.end(&self.shared.cluster, true).await
    }

    /// Waits for the records sent (their outcome does not matter), then
    /// aborts the transaction (EndTxn): none of its records will be seen
    /// by read_committed consumers.
    pub async fn abort_transaction(&self) -> Result<(), ClientError> {
        let txn = self.transactional()?;
        if txn.state() == TransactionState::FatalError {
            // Fenced: the new producer (or the coordinator's timeout) aborts it.
            return txn.end(&self.shared.cluster, false).await;
        }
        let _ = self.flush().await;
        txn.end(&self.shared.cluster, false).await
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// The background task. Each round it looks at the partitions holding
/// batches; for every leader with a ready partition and a free request slot
/// (of `max_in_flight`) it takes one batch per partition of that leader
/// (open batches too, like Kafka's sender) and writes one Produce request.
/// While a leader's slots are all busy its partitions' open batches keep
/// filling, so records coalesce into large batches even with no linger.
async fn run_sender(shared: Arc<Shared>) {
    let mut in_flight: HashMap<i32, Arc<Semaphore>> = HashMap::new();
    let mut rotation = 0usize;
    if let Some(txn) = &shared.txn
        && !txn.is_transactional()
        && let Err(e) = txn.init(&shared.cluster).await
    {
        // Every batch fails with it (below).
        txn.record_fatal(e);
    }
    loop {
        let closed = shared.closed.load(Ordering::Acquire);
        let flush = closed || shared.flushing.load(Ordering::Acquire) > 0;
        let now = Instant::now();
        let sendable = lock(&shared.accumulator).sendable(now, flush);
        if let Some(txn) = &shared.txn {
            let failed = match txn.fatal_error() {
                // No batch can be written any more.
                Some(e) => Some((sendable.clone(), e)),
                None => add_partitions(&shared, txn, &sendable).await,
            };
            if let Some((parts, e)) = failed
                && !parts.is_empty()
            {
                for part in &parts {
                    fail_partition(&shared, part, &e);
                }
                // Partitions may have come meanwhile: they are added first.
                continue;
            }
        }
        let mut progress = false;
        let mut deadline: Option<Instant> = None;
        // Per leader: whether a partition is ready, and its partitions.
        let mut leaders: BTreeMap<i32, (bool, Vec<Sendable>)> = BTreeMap::new();
        for part in sendable {
            let ready = part.ready_at <= now;
            if !ready {
                deadline = Some(deadline.map_or(part.ready_at, |d| d.min(part.ready_at)));
            }
            match shared.cluster.leader(&part.topic, part.partition).await {
                Ok(leader) => {
                    let entry = leaders.entry(leader).or_default();
                    entry.0 |= ready;
                    entry.1.push(part);
                }
                Err(e) if ready => {
                    let batch = lock(&shared.accumulator).take(
                        &part.topic,
                        part.partition,
                        now,
                        usize::MAX,
                    );
                    if let Some(batch) = batch {
                        fail_or_retry(&shared, batch.finish(), e);
                        progress = true;
                    }
                }
                Err(_) => {}
            }
        }
        for (leader, (ready, parts)) in leaders {
            if !ready {
                continue;
            }
            let limit = in_flight
                .entry(leader)
                .or_insert_with(|| Arc::new(Semaphore::new(shared.config.max_in_flight)));
            // No free slot: the end of a request wakes the sender.
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                continue;
            };
            rotation = rotation.wrapping_add(1);
            let batches = take_request(&shared, &parts, rotation, now);
            if !batches.is_empty() {
                send_request(&shared, leader, batches, permit).await;
                progress = true;
            }
        }
        if closed && shared.outstanding.load(Ordering::Acquire) == 0 {
            break;
        }
        if progress {
            // A leader may have more ready batches and free slots.
            continue;
        }
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}

/// Adds the partitions holding batches that are not yet in the open
/// transaction to it (AddPartitionsToTxn) before any batch of theirs is
/// sent: a request to a leader takes open batches of its partitions that
/// are not ready too. On failure, the partitions and the error to fail
/// their batches with.
async fn add_partitions(
    shared: &Shared,
    txn: &TransactionManager,
    sendable: &[Sendable],
) -> Option<(Vec<Sendable>, ClientError)> {
    if !txn.is_transactional() {
        return None;
    }
    let holding: Vec<(String, i32)> = sendable
        .iter()
        .map(|s| (s.topic.clone(), s.partition))
        .collect();
    let todo = txn.partitions_to_add(&holding);
    if todo.is_empty() {
        return None;
    }
    match txn.add_partitions(&shared.cluster, &todo).await {
        Ok(()) => None,
        Err(e) => Some((
            sendable
                .iter()
                .filter(|s| todo.iter().any(|(t, p)| *t == s.topic && *p == s.partition))
                .cloned()
                .collect(),
            e,
        )),
    }
}

/// Fails every batch of `part` with `error`.
fn fail_partition(shared: &Shared, part: &Sendable, error: &ClientError) {
    loop {
        let taken = lock(&shared.accumulator).take(
            &part.topic,
            part.partition,
            Instant::now() + Duration::from_secs(3600),
            usize::MAX,
        );
        let Some(batch) = taken else { break };
        complete(shared, batch.finish(), Err(error.clone()));
    }
}

/// Takes the batches of one request to a leader: at most one per partition
/// of `parts`, at least one, up to `max_request_size` bytes. The first
/// partition looked at turns with `rotation`, so no partition starves when
/// requests fill up. Batches are finished (CRC, compression) outside the
/// accumulator's lock, so producing threads can go on appending meanwhile.
fn take_request(
    shared: &Shared,
    parts: &[Sendable],
    rotation: usize,
    now: Instant,
) -> Vec<ReadyBatch> {
    let max_size = shared.config.max_request_size;
    let mut taken: Vec<ReadyBatch> = Vec::new();
    let mut size = 0;
    for i in 0..parts.len() {
        let part = &parts[(rotation + i) % parts.len()];
        let room = if taken.is_empty() {
            usize::MAX
        } else {
            max_size.saturating_sub(size)
        };
        let batch = lock(&shared.accumulator).take(&part.topic, part.partition, now, room);
        if let Some(batch) = batch {
            let stamp = match (&shared.txn, batch.records_to_encode()) {
                (Some(txn), Some(records)) => txn.stamp(&part.topic, part.partition, records),
                _ => None,
            };
            let batch = batch.finish_stamped(stamp);
            size += batch.data.len();
            taken.push(batch);
        }
    }
    taken
}

/// The Produce request carrying `batches`, grouped by topic.
fn build_request(acks: i16, timeout_ms: i32, batches: &[ReadyBatch]) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for batch in batches {
        let data = PartitionProduceData::default()
            .with_index(batch.partition)
            .with_records(Some(batch.data.clone()));
        match topics.iter_mut().find(|t| t.name.0.as_str() == batch.topic) {
            Some(t) => t.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(batch.topic.clone())))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(topics)
}

/// Writes one Produce request to `leader` and leaves a task waiting for its
/// response. The write is awaited here, so the requests the sender makes
/// reach each broker in the order it makes them.
async fn send_request(
    shared: &Arc<Shared>,
    leader: i32,
    batches: Vec<ReadyBatch>,
    permit: OwnedSemaphorePermit,
) {
    let config = &shared.config;
    let timeout_ms = config.request_timeout.as_millis().min(i32::MAX as u128) as i32;
    let written = async {
        let conn = shared.cluster.connection(leader).await?;
        let version = conn.version(ApiKey::Produce)?;
        let request = build_request(config.acks.code(), timeout_ms, &batches);
        if config.acks == Acks::None {
            conn.send_only(&request, version).await?;
            return Ok(None);
        }
        let timeout = config.request_timeout + Duration::from_secs(5);
        let pending = conn.send(&request, version, timeout).await?;
        Ok::<_, ClientError>(Some((pending, conn.addr().to_string())))
    }
    .await;
    match written {
        Ok(None) => {
            for batch in batches {
                complete(shared, batch, Ok(-1));
            }
        }
        Ok(Some((pending, addr))) => {
            let shared = shared.clone();
            tokio::spawn(async move {
                match pending.response().await {
                    Ok(response) => handle_response(&shared, batches, &response, &addr),
                    Err(e) => {
                        for batch in batches {
                            fail_or_retry(&shared, batch, e.clone());
                        }
                    }
                }
                drop(permit);
                shared.wake.notify_one();
            });
            return;
        }
        Err(e) => {
            for batch in batches {
                fail_or_retry(shared, batch, e.clone());
            }
        }
    }
    drop(permit);
    shared.wake.notify_one();
}

fn handle_response(
    shared: &Arc<Shared>,
    batches: Vec<ReadyBatch>,
    response: &ProduceResponse,
    addr: &str,
) {
    shared
        .cluster
        .throttle()
        .record(response.throttle_time_ms, "produce", addr);
    for batch in batches {
        let answer = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == batch.topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == batch.partition);
        let Some(p) = answer else {
            let e = ClientError::Protocol {
                addr: addr.to_string(),
                message: format!(
                    "Produce response has no result for {}-{}",
                    batch.topic, batch.partition
                ),
            };
            complete(shared, batch, Err(e));
            continue;
        };
        let context = format!("produce to {}-{}", batch.topic, batch.partition);
        let message = p.error_message.as_deref().map(str::to_string).or_else(|| {
            p.record_errors
                .first()
                .and_then(|r| r.batch_index_error_message.as_deref().map(str::to_string))
        });
        // The broker had the batch already (older brokers say so instead of
        // answering with its first offsets).
        if p.error_code == codes::DUPLICATE_SEQUENCE_NUMBER && shared.txn.is_some() {
            complete(shared, batch, Ok(p.base_offset));
            continue;
        }
        match ClientError::kafka(context, p.error_code, message.as_deref()) {
            None => complete(shared, batch, Ok(p.base_offset)),
            Some(e) => fail_or_retry(shared, batch, e),
        }
    }
}

/// Retries a batch after a backoff if the error is retriable and retries
/// remain; fails it otherwise.
fn fail_or_retry(shared: &Arc<Shared>, mut batch: ReadyBatch, error: ClientError) {
    // With sequences, a batch that overtook a retried one of its partition
    // is refused until that one is in: it is retried after it.
    let retriable = error.is_retriable()
        || (shared.txn.is_some()
            && matches!(&error, ClientError::Kafka { code, .. }
                if code.0 == codes::OUT_OF_ORDER_SEQUENCE_NUMBER));
    // A transaction that can only be aborted gains nothing from retries
    // (Kafka's producer fails its pending batches then).
    let doomed = shared.txn.as_ref().is_some_and(|t| {
        t.is_transactional()
            && matches!(
                t.state(),
                TransactionState::AbortableError | TransactionState::FatalError
            )
    });
    if doomed || !retriable || batch.attempts >= shared.config.retries {
        complete(shared, batch, Err(error));
        return;
    }
    shared.cluster.invalidate(&batch.topic);
    batch.attempts += 1;
    let backoff = shared
        .config
        .retry_backoff
        .saturating_mul(1 << (batch.attempts - 1).min(10))
        .min(Duration::from_secs(1));
    tracing::debug!(topic = %batch.topic, partition = batch.partition, attempt = batch.attempts, %error, "retrying produce");
    lock(&shared.accumulator).requeue(batch, Instant::now() + backoff);
    shared.wake.notify_one();
}

fn complete(shared: &Shared, batch: ReadyBatch, result: Result<i64, ClientError>) {
    if let Err(e) = &result {
        lock(&shared.first_error).get_or_insert_with(|| e.clone());
        if let Some(txn) = &shared.txn {
            txn.record_error(e);
        }
    }
    batch.complete(result);
    shared.memory.add_permits(batch.reserved);
    shared
        .outstanding
        .fetch_sub(batch.records, Ordering::AcqRel);
    shared.done.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_parse() {
        assert_eq!(Acks::parse("all").map(Acks::code), Ok(-1));
        assert_eq!(Acks::parse("-1").map(Acks::code), Ok(-1));
        assert_eq!(Acks::parse("1").map(Acks::code), Ok(1));
        assert_eq!(Acks::parse("0").map(Acks::code), Ok(0));
        assert!(Acks::parse("2").is_err());
    }
}
