//! The transaction coordinator (Kafka's `TransactionCoordinator` with the
//! cache and log handling of its `TransactionStateManager`):
//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! DescribeTransactions and ListTransactions, the produce path's check
//! that a transactional batch belongs to an ongoing transaction, the
//! abort of timed-out transactions and the expiry of idle transactional ids.
//!
//! State lives in memory (one [`TransactionMetadata`] per transactional id)
//! and in the compacted topic `__transaction_state`, partition
//! [`partition_for`]`(transactional_id, n)`, in Kafka's record schemas
//! ([`super::schema`]). Every change is a two-step transition (see
//! [`super::state`]): prepared under the cache lock (the pending state
//! makes concurrent requests for the same id answer CONCURRENT_TRANSACTIONS),
//! written to the log, and applied once the write is durable.
//!
//! Ending a transaction: PrepareCommit/PrepareAbort is written durably,
//! then the markers go into every partition of the transaction through the
//! [`TxnMarkerWriter`] (failed partitions retried with backoff), then
//! CompleteCommit/CompleteAbort is written; EndTxn answers once that is
//! durable (Kafka answers after the Prepare record; waiting means a
//! read_committed consumer sees a committed transaction as soon as the
//! producer's commit returns). The marker and completion work runs in its
//! own task, so a closed connection does not stop it. Loading replays every
//! partition of `__transaction_state`; a transaction found in
//! PrepareCommit/PrepareAbort is completed (markers written again, which
//! is idempotent for the log, then CompleteX); an Ongoing one stays and is
//! aborted by the timeout sweep.
//!
//! Lock rule: the cache lock is a `std::sync::Mutex`, held only to read or
//! change metadata, never across an await (log appends are awaited with it
//! released).

use super::config::TxnConfig;
use super::markers::{MAX_RETRY_BACKOFF, RETRY_BACKOFF, TxnMarkerWriter, marker_done};
use super::schema::{TxnKey, TxnValue};
use super::state::{
    IllegalTransition, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TransactionMetadata, TransactionState,
    TxnTransit,
};
use crate::broker::group::store::partition_for;
use crate::broker::group::{OFFSETS_TOPIC, OffsetsStore, StoreError, StoredRecord, TopicLookup};
use crate::log::LogError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedState,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedState;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Name of the internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The coordinator epoch written into markers. A single broker leads every
/// `__transaction_state` partition forever, so the epoch stays 0 (in
/// cluster mode it will be the partition's leader epoch).
pub const COORDINATOR_EPOCH: i32 = 0;

/// Kafka error codes the coordinator answers with (`Errors.java`).
pub mod codes {
    /// NONE.
    pub const NONE: i16 = 0;
    /// UNKNOWN_SERVER_ERROR.
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// COORDINATOR_LOAD_IN_PROGRESS.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// COORDINATOR_NOT_AVAILABLE.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// NOT_COORDINATOR.
    pub const NOT_COORDINATOR: i16 = 16;
    /// NOT_ENOUGH_REPLICAS (what Kafka's produce path answers when the
    /// coordinator could not verify a transaction yet; retriable).
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    /// INVALID_REQUEST.
    pub const INVALID_REQUEST: i16 = 42;
    /// INVALID_PRODUCER_EPOCH.
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    /// INVALID_TXN_STATE.
    pub const INVALID_TXN_STATE: i16 = 48;
    /// INVALID_PRODUCER_ID_MAPPING.
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    /// INVALID_TRANSACTION_TIMEOUT.
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
    /// CONCURRENT_TRANSACTIONS.
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    /// OPERATION_NOT_ATTEMPTED.
    pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
    /// PRODUCER_FENCED.
    pub const PRODUCER_FENCED: i16 = 90;
    /// TRANSACTIONAL_ID_NOT_FOUND.
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
    /// TRANSACTION_ABORTABLE.
    pub const TRANSACTION_ABORTABLE: i16 = 120;
}
use codes::*;

/// Hands out fresh producer ids: the broker's durable
/// [`crate::broker::producer_id_manager::ProducerIdManager`] (ids never
/// reused across restarts).
pub type ProducerIdSource = Arc<dyn Fn() -> Result<i64, LogError> + Send + Sync>;

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Kafka answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to clients
/// whose request version predates it (`min_version`: the first version
/// that knows PRODUCER_FENCED).
fn fenced_for_version(code: i16, version: i16, min_version: i16) -> i16 {
    if code == PRODUCER_FENCED && version < min_version {
        INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// The transactional ids, with an index by producer id for the produce
/// path's verification.
#[derive(Default)]
struct Cache {
    txns: HashMap<String, TransactionMetadata>,
    by_producer: HashMap<i64, String>,
}

impl Cache {
    fn insert(&mut self, m: TransactionMetadata) {
        if let Some(old) = self.txns.get(&m.transactional_id) {
            let old_pid = old.producer_id;
            self.unindex(old_pid, &m.transactional_id);
        }
        self.by_producer
            .insert(m.producer_id, m.transactional_id.clone());
        self.txns.insert(m.transactional_id.clone(), m);
    }

    fn remove(&mut self, id: &str) {
        if let Some(m) = self.txns.remove(id) {
            self.unindex(m.producer_id, id);
        }
    }

    fn unindex(&mut self, producer_id: i64, id: &str) {
        if self.by_producer.get(&producer_id).is_some_and(|t| t == id) {
            self.by_producer.remove(&producer_id);
        }
    }
}

/// Kafka's transaction coordinator for one broker. Cheap to clone (shared
/// state); the request methods take the kafka-protocol request and its API
/// version and return the response for that version.
#[derive(Clone)]
pub struct TransactionCoordinator {
    inner: Arc<Inner>,
}

struct Inner {
    config: TxnConfig,
    store: Arc<dyn OffsetsStore>,
    markers: Arc<dyn TxnMarkerWriter>,
    producer_ids: ProducerIdSource,
    topics: Arc<dyn TopicLookup>,
    /// Transactional ids; see the lock rule in the module doc.
    cache: Mutex<Cache>,
    /// Set once every partition of `__transaction_state` is loaded; before
    /// that, requests get COORDINATOR_LOAD_IN_PROGRESS.
    loaded: AtomicBool,
    /// Set by [`TransactionCoordinator::shutdown`]: retry loops give up.
    shutting_down: AtomicBool,
}

impl TransactionCoordinator {
    /// A coordinator over `store` (the partitions of `__transaction_state`),
    /// writing markers with `markers`, taking producer ids from
    /// `producer_ids` and checking partitions with `topics`. Nothing is
    /// loaded yet: transactional requests get COORDINATOR_LOAD_IN_PROGRESS
    /// until [`Self::load`] has run.
    pub fn new(
        config: TxnConfig,
        store: Arc<dyn OffsetsStore>,
        markers: Arc<dyn TxnMarkerWriter>,
        producer_ids: ProducerIdSource,
        topics: Arc<dyn TopicLookup>,
    ) -> Self {
        TransactionCoordinator {
            inner: Arc::new(Inner {
                config,
                store,
                markers,
                producer_ids,
                topics,
                cache: Mutex::new(Cache::default()),
                loaded: AtomicBool::new(false),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The transaction APIs and versions this coordinator serves, to
    /// advertise in ApiVersions: (API key, min version, max version).
    /// Kafka 4 serves the same, except EndTxn v5 (transactions v2: an epoch
    /// bump at every commit, KIP-890 part 2) and ListTransactions v2 (a
    /// transactional id regex), which runnel does not implement.
    pub fn versions() -> Vec<(ApiKey, i16, i16)> {
        vec![
            (ApiKey::InitProducerId, 0, 5),
            (ApiKey::AddPartitionsToTxn, 0, 5),
            (ApiKey::AddOffsetsToTxn, 0, 4),
            (ApiKey::EndTxn, 0, 4),
            (ApiKey::DescribeTransactions, 0, 0),
            (ApiKey::ListTransactions, 0, 1),
        ]
    }

    /// Whether loading has finished.
    pub fn is_loaded(&self) -> bool {
        self.inner.loaded.load(Ordering::Acquire)
    }

    /// Loads every partition of `__transaction_state` (the latest record
    /// per transactional id wins, tombstones remove; records that do not
    /// decode are skipped with a warning), then starts completing the
    /// transactions found in PrepareCommit/PrepareAbort (markers, then
    /// CompleteX) in background tasks whose handles are returned.
    ///
    /// # Errors
    /// A partition that cannot be read.
    pub async fn load(&self) -> Result<Vec<tokio::task::JoinHandle<Result<(), i16>>>, StoreError> {
        let store = Arc::clone(&self.inner.store);
        let loaded = tokio::task::spawn_blocking(move || load_all(store.as_ref()))
            .await
            .map_err(|e| StoreError(format!("loading {TRANSACTION_STATE_TOPIC}: {e}")))??;
        let mut pending = Vec::new();
        {
            let mut cache = self.inner.lock();
            for m in loaded {
                if matches!(
                    m.state,
                    TransactionState::PrepareCommit | TransactionState::PrepareAbort
                ) {
                    pending.push(Completion::of(&m));
                }
                cache.insert(m);
            }
            self.inner.loaded.store(true, Ordering::Release);
        }
        Ok(pending
            .into_iter()
            .map(|c| {
                tracing::info!(
                    "completing transaction {} ({}) found after loading",
                    c.transactional_id,
                    if c.commit { "commit" } else { "abort" }
                );
                tokio::spawn(Arc::clone(&self.inner).complete_transaction(c))
            })
            .collect())
    }

    /// Starts the background sweeps: ongoing transactions past their
    /// timeout are aborted every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, and
    /// idle transactional ids removed every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`. The
    /// task runs until aborted or the coordinator is dropped.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let abort_every = Duration::from_millis(
            self.inner
                .config
                .abort_timed_out_transaction_cleanup_interval_ms
                .max(1),
        );
        let expire_every = Duration::from_millis(
            self.inner
                .config
                .remove_expired_transaction_cleanup_interval_ms
                .max(1),
        );
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut next_abort = start + abort_every;
            let mut next_expire = start + expire_every;
            loop {
                tokio::time::sleep_until(next_abort.min(next_expire)).await;
                let Some(inner) = weak.upgrade() else { return };
                let coordinator = TransactionCoordinator { inner };
                let now = tokio::time::Instant::now();
                if now >= next_abort {
                    // Not awaited: an abort whose markers keep failing must
                    // not hold up the next sweeps (they skip transactions
                    // already being aborted).
                    let c = coordinator.clone();
                    tokio::spawn(async move { c.abort_timed_out_transactions().await });
                    next_abort = now + abort_every;
                }
                if now >= next_expire {
                    coordinator.remove_expired_transactional_ids().await;
                    next_expire = now + expire_every;
                }
            }
        })
    }

    /// Clean shutdown: retry loops stop, and `__transaction_state` is
    /// flushed and closed. Transactions left in PrepareX are completed by
    /// the next load.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.store.close()
    }

    /// InitProducerId (v0–v5). Without a transactional id: a fresh
    /// producer id with epoch 0 (an idempotent producer). With one: a new
    /// id gets a fresh producer id and epoch 0; an existing one gets its
    /// epoch bumped (a new producer id when the epoch is exhausted), which
    /// fences older producers; an ongoing transaction of the old epoch is
    /// aborted first with the bumped epoch and the caller is answered
    /// CONCURRENT_TRANSACTIONS to retry, as Kafka does. The producer id and
    /// epoch in the request (v3+, KIP-360) must be the current or previous
    /// ones (PRODUCER_FENCED otherwise, INVALID_PRODUCER_EPOCH below v4).
    pub async fn init_producer_id(
        &self,
        req: InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        let result = self.inner.init_producer_id(&req).await;
        let mut resp = InitProducerIdResponse::default();
        match result {
            Ok((id, epoch)) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = epoch;
            }
            Err(code) => {
                resp.error_code = fenced_for_version(code, version, 4);
                resp.producer_id = ProducerId(NO_PRODUCER_ID);
                resp.producer_epoch = NO_PRODUCER_EPOCH;
            }
        }
        resp
    }

    /// AddPartitionsToTxn. v0–v3 (from clients): adds the partitions to the
    /// transaction of the one transactional id (partitions that do not
    /// exist: UNKNOWN_TOPIC_OR_PARTITION, and the others
    /// OPERATION_NOT_ATTEMPTED). v4+ (from brokers, batched): per
    /// transaction, adds or, with `verify_only`, answers whether each
    /// partition is already in its ongoing transaction.
    pub async fn add_partitions_to_txn(
        &self,
        req: AddPartitionsToTxnRequest,
        version: i16,
    ) -> AddPartitionsToTxnResponse {
        let mut resp = AddPartitionsToTxnResponse::default();
        if version < 4 {
            let partitions = topic_partitions(&req.v3_and_below_topics);
            let codes = self
                .inner
                .add_partitions_checked(
                    &req.v3_and_below_transactional_id.0,
                    req.v3_and_below_producer_id.0,
                    req.v3_and_below_producer_epoch,
                    partitions,
                    version,
                )
                .await;
            resp.results_by_topic_v3_and_below = topic_results(codes);
            return resp;
        }
        for txn in req.transactions {
            let partitions = topic_partitions(&txn.topics);
            let codes = if txn.verify_only {
                self.inner.verify_partitions(
                    &txn.transactional_id.0,
                    txn.producer_id.0,
                    txn.producer_epoch,
                    partitions,
                    version,
                )
            } else {
                self.inner
                    .add_partitions_checked(
                        &txn.transactional_id.0,
                        txn.producer_id.0,
                        txn.producer_epoch,
                        partitions,
                        version,
                    )
                    .await
            };
            resp.results_by_transaction.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(txn.transactional_id)
                    .with_topic_results(topic_results(codes)),
            );
        }
        resp
    }

    /// AddOffsetsToTxn (v0–v4): adds the `__consumer_offsets` partition of
    /// the group to the transaction (so TxnOffsetCommit may follow and the
    /// markers complete the offsets).
    pub async fn add_offsets_to_txn(
        &self,
        req: AddOffsetsToTxnRequest,
        version: i16,
    ) -> AddOffsetsToTxnResponse {
        let partition = partition_for(
            &req.group_id.0,
            self.inner.config.offsets_topic_num_partitions,
        );
        let partitions = BTreeSet::from([(OFFSETS_TOPIC.to_string(), partition)]);
        let code = self
            .inner
            .add_partitions(
                &req.transactional_id.0,
                req.producer_id.0,
                req.producer_epoch,
                partitions,
            )
            .await;
        AddOffsetsToTxnResponse::default().with_error_code(fenced_for_version(code, version, 2))
    }

    /// EndTxn (v0–v4): commits or aborts the ongoing transaction and
    /// answers once it is complete (markers written, CompleteX durable). A
    /// retry of a completed EndTxn with the same result answers NONE; one
    /// still completing answers CONCURRENT_TRANSACTIONS; the opposite result
    /// or no transaction answers INVALID_TXN_STATE.
    pub async fn end_txn(&self, req: EndTxnRequest, version: i16) -> EndTxnResponse {
        let id = req.transactional_id.0.to_string();
        let result = if id.is_empty() {
            Err(INVALID_REQUEST)
        } else if !self.is_loaded() {
            Err(COORDINATOR_LOAD_IN_PROGRESS)
        } else {
            Arc::clone(&self.inner)
                .end_transaction(
                    &id,
                    req.producer_id.0,
                    req.producer_epoch,
                    req.committed,
                    true,
                )
                .await
        };
        let mut resp = EndTxnResponse::default();
        match result {
            Ok((pid, epoch)) => {
                resp.producer_id = ProducerId(pid);
                resp.producer_epoch = epoch;
            }
            Err(code) => {
                resp.error_code = fenced_for_version(code, version, 2);
                resp.producer_id = ProducerId(NO_PRODUCER_ID);
                resp.producer_epoch = NO_PRODUCER_EPOCH;
            }
        }
        resp
    }

    /// DescribeTransactions (v0): each id's state, producer, timeout, start
    /// time and partitions (TRANSACTIONAL_ID_NOT_FOUND for unknown ids).
    pub fn describe_transactions(
        &self,
        req: DescribeTransactionsRequest,
        _version: i16,
    ) -> DescribeTransactionsResponse {
        let loaded = self.is_loaded();
        let cache = self.inner.lock();
        let states = req
            .transactional_ids
            .into_iter()
            .map(|id| {
                let mut s = DescribedState::default().with_transactional_id(id.clone());
                let m = cache.txns.get(id.0.as_str());
                if !loaded {
                    s.error_code = COORDINATOR_LOAD_IN_PROGRESS;
                } else if id.0.is_empty() {
                    s.error_code = INVALID_REQUEST;
                } else if let Some(m) = m.filter(|m| m.state != TransactionState::Dead) {
                    s.producer_id = ProducerId(m.producer_id);
                    s.producer_epoch = m.producer_epoch;
                    s.transaction_state = str_bytes(m.state.name());
                    s.transaction_timeout_ms = m.txn_timeout_ms;
                    s.transaction_start_time_ms = m.txn_start_timestamp;
                    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for (t, p) in &m.partitions {
                        topics.entry(t).or_default().push(*p);
                    }
                    s.topics = topics
                        .into_iter()
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(TopicName(str_bytes(t)))
                                .with_partitions(ps)
                        })
                        .collect();
                } else {
                    s.error_code = TRANSACTIONAL_ID_NOT_FOUND;
                }
                s
            })
            .collect();
        DescribeTransactionsResponse::default().with_transaction_states(states)
    }

    /// ListTransactions (v0–v1): the transactional ids, filtered by state
    /// names (unknown names are listed in `unknown_state_filters`), by
    /// producer ids and (v1) by a minimum running time.
    pub fn list_transactions(
        &self,
        req: ListTransactionsRequest,
        _version: i16,
    ) -> ListTransactionsResponse {
        let mut resp = ListTransactionsResponse::default();
        if !self.is_loaded() {
            resp.error_code = COORDINATOR_LOAD_IN_PROGRESS;
            return resp;
        }
        let mut states = BTreeSet::new();
        for name in &req.state_filters {
            match TransactionState::from_name(name) {
                Some(s) => {
                    states.insert(s);
                }
                None => resp.unknown_state_filters.push(name.clone()),
            }
        }
        let producers: BTreeSet<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
        let now = now_ms();
        let cache = self.inner.lock();
        let mut listed: Vec<&TransactionMetadata> = cache
            .txns
            .values()
            .filter(|m| m.state != TransactionState::Dead)
            .filter(|m| producers.is_empty() || producers.contains(&m.producer_id))
            .filter(|m| req.state_filters.is_empty() || states.contains(&m.state))
            .filter(|m| {
                req.duration_filter < 0 || now - m.txn_start_timestamp > req.duration_filter
            })
            .collect();
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        resp.transaction_states = listed
            .into_iter()
            .map(|m| {
                ListedState::default()
                    .with_transactional_id(TransactionalId(str_bytes(&m.transactional_id)))
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_transaction_state(str_bytes(m.state.name()))
            })
            .collect();
        resp
    }

    /// The produce path's check that a transactional batch of
    /// `producer_id`/`producer_epoch` for `topic`-`partition` belongs to an
    /// ongoing transaction that contains the partition. Errors as Kafka's
    /// produce path answers them after its verification: another epoch →
    /// INVALID_PRODUCER_EPOCH; no ongoing transaction of this producer, or
    /// the partition not in it → INVALID_TXN_STATE; coordinator still
    /// loading → NOT_ENOUGH_REPLICAS (retriable).
    pub fn verify_partition(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), i16> {
        if !self.is_loaded() {
            return Err(NOT_ENOUGH_REPLICAS);
        }
        let cache = self.inner.lock();
        let m = cache
            .by_producer
            .get(&producer_id)
            .and_then(|id| cache.txns.get(id))
            .filter(|m| m.producer_id == producer_id)
            .ok_or(INVALID_TXN_STATE)?;
        if m.producer_epoch != producer_epoch {
            return Err(INVALID_PRODUCER_EPOCH);
        }
        if m.state != TransactionState::Ongoing
            || !m.partitions.contains(&(topic.to_string(), partition))
        {
            return Err(INVALID_TXN_STATE);
        }
        Ok(())
    }

    /// Aborts every ongoing transaction past its timeout, with an epoch
    /// bump that fences its producer (Kafka's `abortTimedOutTransactions`);
    /// returns how many were aborted. The background sweep calls this.
    pub async fn abort_timed_out_transactions(&self) -> usize {
        let now = now_ms();
        let fenced: Vec<(String, TxnTransit)> = {
            let mut cache = self.inner.lock();
            cache
                .txns
                .values_mut()
                .filter(|m| {
                    !m.pending_transition_in_progress()
                        && m.state == TransactionState::Ongoing
                        && m.txn_start_timestamp + i64::from(m.txn_timeout_ms) < now
                })
                .filter_map(|m| {
                    let id = m.transactional_id.clone();
                    m.prepare_fence_producer_epoch()
                        .inspect_err(|e| tracing::error!("{e}"))
                        .ok()
                        .map(|t| (id, t))
                })
                .collect()
        };
        let mut set = tokio::task::JoinSet::new();
        for (id, t) in fenced {
            tracing::info!(
                "aborting transaction {id} of producer {} past its timeout",
                t.producer_id
            );
            let inner = Arc::clone(&self.inner);
            set.spawn(async move {
                inner
                    .end_transaction(&id, t.producer_id, t.producer_epoch, false, false)
                    .await
                    .inspect_err(|code| {
                        tracing::warn!("aborting timed-out transaction {id} failed: error {code}")
                    })
            });
        }
        let mut aborted = 0;
        while let Some(r) = set.join_next().await {
            aborted += usize::from(matches!(r, Ok(Ok(_))));
        }
        aborted
    }

    /// Removes the transactional ids with no transaction in progress and no
    /// update for `transactional.id.expiration.ms` (a tombstone per id in
    /// `__transaction_state`); returns how many were removed.
    pub async fn remove_expired_transactional_ids(&self) -> usize {
        let now = now_ms();
        let expiry = self.inner.config.transactional_id_expiration_ms;
        let n = self.inner.store.partitions();
        let mut by_partition: BTreeMap<i32, Vec<(String, i16)>> = BTreeMap::new();
        {
            let mut cache = self.inner.lock();
            for m in cache.txns.values_mut() {
                if m.pending_transition_in_progress()
                    || !m.state.is_expiration_allowed()
                    || m.txn_last_update_timestamp > now - expiry
                {
                    continue;
                }
                if m.prepare_dead().is_ok() {
                    by_partition
                        .entry(partition_for(&m.transactional_id, n))
                        .or_default()
                        .push((m.transactional_id.clone(), m.producer_epoch));
                }
            }
        }
        let mut removed = 0;
        for (partition, ids) in by_partition {
            let records: Vec<StoredRecord> = ids
                .iter()
                .map(|(id, _)| StoredRecord {
                    key: TxnKey::encode(id).into(),
                    value: None,
                })
                .collect();
            let written = match self.inner.store.append(partition, &records, now) {
                Ok(durable) => durable.await,
                Err(e) => Err(e),
            };
            let mut cache = self.inner.lock();
            for (id, epoch) in ids {
                let dead = cache.txns.get(&id).is_some_and(|m| {
                    m.pending_state == Some(TransactionState::Dead) && m.producer_epoch == epoch
                });
                if written.is_ok() && dead {
                    tracing::info!("transactional id {id} expired");
                    cache.remove(&id);
                    removed += 1;
                } else if let Some(m) = cache.txns.get_mut(&id) {
                    m.pending_state = None;
                }
            }
            if let Err(e) = written {
                tracing::warn!("expiring transactional ids: {e}");
            }
        }
        removed
    }
}

/// Everything needed to complete a transaction after its Prepare record.
struct Completion {
    transactional_id: String,
    commit: bool,
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<(String, i32)>,
}

impl Completion {
    fn of(m: &TransactionMetadata) -> Self {
        Completion {
            transactional_id: m.transactional_id.clone(),
            commit: m.state == TransactionState::PrepareCommit,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            partitions: m.partitions.iter().cloned().collect(),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn illegal(e: IllegalTransition) -> i16 {
        tracing::error!("{e}");
        UNKNOWN_SERVER_ERROR
    }

    fn new_producer_id(&self) -> Result<i64, i16> {
        (self.producer_ids)().map_err(|e| {
            tracing::error!("no producer id: {e}");
            crate::broker::handlers::log_error_code(&e)
        })
    }

    /// Writes `t` (the pending transition of `id`) to `__transaction_state`
    /// and applies it once durable; a failed write clears the pending
    /// state and answers NOT_COORDINATOR (Kafka's answer to a storage
    /// error: the client looks the coordinator up again and retries).
    async fn write_transit(&self, id: &str, t: &TxnTransit) -> Result<(), i16> {
        let record = StoredRecord {
            key: TxnKey::encode(id).into(),
            value: Some(t.to_value().encode().into()),
        };
        let partition = partition_for(id, self.store.partitions());
        let written = match self
            .store
            .append(partition, &[record], t.txn_last_update_timestamp)
        {
            Ok(durable) => durable.await,
            Err(e) => Err(e),
        };
        let mut cache = self.lock();
        let Some(m) = cache.txns.get_mut(id) else {
            return Err(NOT_COORDINATOR);
        };
        if let Err(e) = written {
            tracing::error!("writing transaction {id} to {TRANSACTION_STATE_TOPIC}: {e}");
            m.pending_state = None;
            return Err(NOT_COORDINATOR);
        }
        let old_pid = m.producer_id;
        if let Err(e) = m.complete_transition(t) {
            m.pending_state = None;
            return Err(Self::illegal(e));
        }
        let new_pid = m.producer_id;
        if new_pid != old_pid {
            cache.unindex(old_pid, id);
            cache.by_producer.insert(new_pid, id.to_string());
        }
        Ok(())
    }

    async fn init_producer_id(
        self: &Arc<Self>,
        req: &InitProducerIdRequest,
    ) -> Result<(i64, i16), i16> {
        let Some(id) = req.transactional_id.as_ref().map(|t| t.0.to_string()) else {
            return Ok((self.new_producer_id()?, 0));
        };
        if id.is_empty() {
            return Err(INVALID_REQUEST);
        }
        let expected = match (req.producer_id.0, req.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return Err(INVALID_REQUEST),
            (pid, epoch) => Some((pid, epoch)),
        };
        let timeout = req.transaction_timeout_ms;
        if timeout <= 0 || timeout > self.config.max_timeout_ms {
            return Err(INVALID_TRANSACTION_TIMEOUT);
        }
        if !self.loaded.load(Ordering::Acquire) {
            return Err(COORDINATOR_LOAD_IN_PROGRESS);
        }
        let now = now_ms();
        // A new id's producer id is taken before the lock (taking one may
        // persist a new block); a concurrent request may insert first, and
        // the id taken here is then skipped.
        let fresh = if self.lock().txns.contains_key(&id) {
            None
        } else {
            Some(self.new_producer_id()?)
        };
        let transit = {
            let mut cache = self.lock();
            if let Some(pid) = fresh
                && !cache.txns.contains_key(&id)
            {
                cache.insert(TransactionMetadata::new(&id, pid, timeout, now));
            }
            let Some(m) = cache.txns.get_mut(&id) else {
                // Expired between the two locks: the producer retries.
                return Err(CONCURRENT_TRANSACTIONS);
            };
            self.prepare_init_transit(m, timeout, expected, now)?
        };
        if transit.state == TransactionState::PrepareEpochFence {
            // Abort the ongoing transaction with the bumped epoch, then let
            // the producer retry (it gets the epoch after that).
            Arc::clone(self)
                .end_transaction(
                    &id,
                    transit.producer_id,
                    transit.producer_epoch,
                    false,
                    false,
                )
                .await?;
            return Err(CONCURRENT_TRANSACTIONS);
        }
        self.write_transit(&id, &transit).await?;
        Ok((transit.producer_id, transit.producer_epoch))
    }

    /// Kafka's `prepareInitProducerIdTransit`.
    fn prepare_init_transit(
        &self,
        m: &mut TransactionMetadata,
        timeout: i32,
        expected: Option<(i64, i16)>,
        now: i64,
    ) -> Result<TxnTransit, i16> {
        use TransactionState::*;
        if m.pending_transition_in_progress() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        let valid = |(pid, epoch): (i64, i16)| {
            m.producer_epoch == NO_PRODUCER_EPOCH
                || pid == m.producer_id
                || (pid == m.previous_producer_id && TransactionMetadata::is_epoch_exhausted(epoch))
        };
        if expected.is_some_and(|e| !valid(e)) {
            return Err(PRODUCER_FENCED);
        }
        match m.state {
            PrepareAbort | PrepareCommit => Err(CONCURRENT_TRANSACTIONS),
            CompleteAbort | CompleteCommit | Empty => {
                if TransactionMetadata::is_epoch_exhausted(m.producer_epoch)
                    && expected.is_none_or(|(_, e)| e == m.producer_epoch)
                {
                    let pid = self.new_producer_id()?;
                    m.prepare_producer_id_rotation(pid, timeout, now, expected.is_some())
                        .map_err(Self::illegal)
                } else {
                    m.prepare_increment_producer_epoch(timeout, expected.map(|e| e.1), now)
                        .map_err(Self::illegal)?
                }
            }
            Ongoing => m.prepare_fence_producer_epoch().map_err(Self::illegal),
            Dead | PrepareEpochFence => Err(Self::illegal(IllegalTransition {
                transactional_id: m.transactional_id.clone(),
                reason: format!("found in state {}", m.state.name()),
            })),
        }
    }

    /// AddPartitionsToTxn of one transaction with the broker's partition
    /// check first; the code of each partition.
    async fn add_partitions_checked(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: BTreeSet<(String, i32)>,
        version: i16,
    ) -> Vec<((String, i32), i16)> {
        let unknown: BTreeSet<(String, i32)> = partitions
            .iter()
            .filter(|(t, p)| !self.topics.partition_exists(t, *p))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return partitions
                .into_iter()
                .map(|tp| {
                    let code = if unknown.contains(&tp) {
                        UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        OPERATION_NOT_ATTEMPTED
                    };
                    (tp, code)
                })
                .collect();
        }
        let code = self
            .add_partitions(id, producer_id, producer_epoch, partitions.clone())
            .await;
        let code = fenced_for_version(code, version, 2);
        partitions.into_iter().map(|tp| (tp, code)).collect()
    }

    /// Kafka's `handleAddPartitionsToTransaction`: one error code.
    async fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: BTreeSet<(String, i32)>,
    ) -> i16 {
        use TransactionState::*;
        if id.is_empty() {
            return INVALID_REQUEST;
        }
        if !self.loaded.load(Ordering::Acquire) {
            return COORDINATOR_LOAD_IN_PROGRESS;
        }
        let transit = {
            let mut cache = self.lock();
            let Some(m) = cache.txns.get_mut(id) else {
                return INVALID_PRODUCER_ID_MAPPING;
            };
            if m.producer_id != producer_id {
                return INVALID_PRODUCER_ID_MAPPING;
            }
            if m.producer_epoch != producer_epoch {
                return PRODUCER_FENCED;
            }
            if m.pending_transition_in_progress() || matches!(m.state, PrepareCommit | PrepareAbort)
            {
                return CONCURRENT_TRANSACTIONS;
            }
            if m.state == Ongoing && partitions.is_subset(&m.partitions) {
                return NONE;
            }
            match m.prepare_add_partitions(&partitions, now_ms()) {
                Ok(t) => t,
                Err(e) => return Self::illegal(e),
            }
        };
        match self.write_transit(id, &transit).await {
            Ok(()) => NONE,
            Err(code) => code,
        }
    }

    /// Kafka's `handleVerifyPartitionsInTransaction` (AddPartitionsToTxn
    /// v4+ with `verify_only`): per partition, NONE when it is in the
    /// ongoing transaction, else TRANSACTION_ABORTABLE (INVALID_TXN_STATE
    /// for v4, which predates it).
    fn verify_partitions(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: BTreeSet<(String, i32)>,
        version: i16,
    ) -> Vec<((String, i32), i16)> {
        let all = |code: i16| partitions.iter().map(|tp| (tp.clone(), code)).collect();
        if id.is_empty() {
            return all(INVALID_REQUEST);
        }
        if !self.loaded.load(Ordering::Acquire) {
            return all(COORDINATOR_LOAD_IN_PROGRESS);
        }
        let cache = self.lock();
        let Some(m) = cache.txns.get(id).filter(|m| m.producer_id == producer_id) else {
            return all(INVALID_PRODUCER_ID_MAPPING);
        };
        if m.producer_epoch != producer_epoch {
            return all(PRODUCER_FENCED);
        }
        if matches!(
            m.state,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        ) {
            return all(CONCURRENT_TRANSACTIONS);
        }
        let missing = if version >= 5 {
            TRANSACTION_ABORTABLE
        } else {
            INVALID_TXN_STATE
        };
        partitions
            .iter()
            .map(|tp| {
                let code = if m.partitions.contains(tp) {
                    NONE
                } else {
                    missing
                };
                (tp.clone(), code)
            })
            .collect()
    }

    /// Kafka's `endTransaction`: `from_client` is false for the aborts the
    /// coordinator starts itself (fencing, timeouts), which carry the
    /// bumped epoch of a pending PrepareEpochFence. Answers the producer id
    /// and epoch once the transaction is complete.
    async fn end_transaction(
        self: Arc<Self>,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        from_client: bool,
    ) -> Result<(i64, i16), i16> {
        let result = self
            .prepare_end(id, producer_id, producer_epoch, commit, from_client)
            .await;
        if result.is_err() && !from_client {
            // Leave no fence pending behind a failed internal abort.
            let mut cache = self.lock();
            if let Some(m) = cache.txns.get_mut(id)
                && m.pending_state == Some(TransactionState::PrepareEpochFence)
            {
                m.pending_state = None;
            }
        }
        let completion = match result? {
            EndStep::Done(pid, epoch) => return Ok((pid, epoch)),
            EndStep::Complete(c) => c,
        };
        let pid_epoch = (completion.producer_id, completion.producer_epoch);
        // Markers and CompleteX in a task of their own: a closed connection
        // does not stop them.
        match tokio::spawn(Arc::clone(&self).complete_transaction(completion)).await {
            Ok(Ok(())) => Ok(pid_epoch),
            Ok(Err(code)) => Err(code),
            Err(_) => Err(UNKNOWN_SERVER_ERROR),
        }
    }

    /// Checks an EndTxn and writes PrepareCommit/PrepareAbort.
    async fn prepare_end(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        from_client: bool,
    ) -> Result<EndStep, i16> {
        use TransactionState::*;
        let mut is_fence = false;
        let transit = {
            let mut cache = self.lock();
            let Some(m) = cache.txns.get_mut(id) else {
                return Err(INVALID_PRODUCER_ID_MAPPING);
            };
            if m.producer_id != producer_id {
                return Err(INVALID_PRODUCER_ID_MAPPING);
            }
            let valid_epoch = (!from_client || producer_epoch == m.producer_epoch)
                && producer_epoch >= m.producer_epoch;
            if !valid_epoch {
                return Err(PRODUCER_FENCED);
            }
            let fence_pending = m.pending_state == Some(PrepareEpochFence);
            if m.pending_transition_in_progress() && (from_client || !fence_pending) {
                return Err(CONCURRENT_TRANSACTIONS);
            }
            let done = Ok(EndStep::Done(m.producer_id, m.producer_epoch));
            match (m.state, commit) {
                (Ongoing, _) => {
                    let target = if commit { PrepareCommit } else { PrepareAbort };
                    if fence_pending && !commit {
                        is_fence = true;
                        m.pending_state = None;
                        m.producer_epoch = producer_epoch;
                        m.last_producer_epoch = NO_PRODUCER_EPOCH;
                    }
                    m.prepare_abort_or_commit(target, now_ms())
                        .map_err(Self::illegal)?
                }
                (CompleteCommit, true) | (CompleteAbort, false) => return done,
                (PrepareCommit, true) | (PrepareAbort, false) => {
                    return Err(CONCURRENT_TRANSACTIONS);
                }
                (Dead | PrepareEpochFence, _) => {
                    return Err(Self::illegal(IllegalTransition {
                        transactional_id: id.to_string(),
                        reason: format!("found in state {}", m.state.name()),
                    }));
                }
                (state, _) => {
                    tracing::debug!(
                        "transaction {id}: {} in state {}",
                        if commit { "commit" } else { "abort" },
                        state.name()
                    );
                    return Err(INVALID_TXN_STATE);
                }
            }
        };
        if let Err(code) = self.write_transit(id, &transit).await {
            if is_fence && let Some(m) = self.lock().txns.get_mut(id) {
                m.has_failed_epoch_fence = true;
            }
            return Err(code);
        }
        Ok(EndStep::Complete(Completion {
            transactional_id: id.to_string(),
            commit,
            producer_id: transit.producer_id,
            producer_epoch: transit.producer_epoch,
            partitions: transit.partitions.into_iter().collect(),
        }))
    }

    /// Writes the markers of a prepared transaction (retrying failed
    /// partitions with backoff) and then CompleteCommit/CompleteAbort
    /// (retried the same way), unless the coordinator shuts down first.
    async fn complete_transaction(self: Arc<Self>, c: Completion) -> Result<(), i16> {
        let id = &c.transactional_id;
        let mut remaining = c.partitions.clone();
        let mut backoff = RETRY_BACKOFF;
        while !remaining.is_empty() {
            let results: HashMap<(String, i32), i16> = self
                .markers
                .write_markers(
                    c.producer_id,
                    c.producer_epoch,
                    COORDINATOR_EPOCH,
                    c.commit,
                    remaining.clone(),
                )
                .await
                .into_iter()
                .collect();
            remaining.retain(|tp| !results.get(tp).is_some_and(|code| marker_done(*code)));
            if remaining.is_empty() {
                break;
            }
            tracing::warn!(
                "transaction {id}: markers not written to {remaining:?} yet; retrying in {backoff:?}"
            );
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(COORDINATOR_NOT_AVAILABLE);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
        }
        let mut backoff = RETRY_BACKOFF;
        loop {
            let transit = {
                let mut cache = self.lock();
                let Some(m) = cache.txns.get_mut(id.as_str()) else {
                    return Err(NOT_COORDINATOR);
                };
                let expected = if c.commit {
                    TransactionState::PrepareCommit
                } else {
                    TransactionState::PrepareAbort
                };
                if m.producer_id != c.producer_id
                    || m.producer_epoch != c.producer_epoch
                    || m.state != expected
                    || m.pending_transition_in_progress()
                {
                    tracing::error!("transaction {id} changed while completing: {m:?}");
                    return Err(UNKNOWN_SERVER_ERROR);
                }
                m.prepare_complete(now_ms()).map_err(Self::illegal)?
            };
            match self.write_transit(id, &transit).await {
                Ok(()) => return Ok(()),
                Err(code) if self.shutting_down.load(Ordering::Acquire) => return Err(code),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
                }
            }
        }
    }
}

/// What follows the checks of an EndTxn.
enum EndStep {
    /// Nothing to do (a retry of a completed EndTxn): answer NONE.
    Done(i64, i16),
    /// The Prepare record is durable: write markers and complete.
    Complete(Completion),
}

/// Replays every partition of `__transaction_state` (blocking I/O).
fn load_all(store: &dyn OffsetsStore) -> Result<Vec<TransactionMetadata>, StoreError> {
    let mut txns: HashMap<String, TransactionMetadata> = HashMap::new();
    for partition in 0..store.partitions() {
        for record in store.load(partition)? {
            let id = match TxnKey::decode(&record.key) {
                Ok(TxnKey::Txn(id)) => id,
                Ok(TxnKey::Unknown(version)) => {
                    tracing::warn!(
                        "{TRANSACTION_STATE_TOPIC}-{partition}: skipping a key of unknown version {version}"
                    );
                    continue;
                }
                Err(e) => {
                    tracing::warn!("{TRANSACTION_STATE_TOPIC}-{partition}: skipping a record: {e}");
                    continue;
                }
            };
            match record.value.as_deref().map(TxnValue::decode) {
                None => {
                    txns.remove(&id);
                }
                Some(Ok(v)) => {
                    txns.insert(id.clone(), TransactionMetadata::from_value(&id, &v));
                }
                Some(Err(e)) => tracing::warn!(
                    "{TRANSACTION_STATE_TOPIC}-{partition}: skipping the value of {id}: {e}"
                ),
            }
        }
    }
    Ok(txns.into_values().collect())
}

fn topic_partitions(
    topics: &[kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic],
) -> BTreeSet<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect()
}

fn topic_results(codes: Vec<((String, i32), i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut by_topic: BTreeMap<String, Vec<AddPartitionsToTxnPartitionResult>> = BTreeMap::new();
    for ((topic, partition), code) in codes {
        by_topic.entry(topic).or_default().push(
            AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(partition)
                .with_partition_error_code(code),
        );
    }
    by_topic
        .into_iter()
        .map(|(topic, results)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_results_by_partition(results)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::group::LogStore;
    use crate::broker::producer_id_manager::ProducerIdManager;
    use crate::broker::txn::markers::{BoxFuture, MarkerResult};
    use crate::log::{DataDir, GroupCommit};
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::add_partitions_to_txn_request::{
        AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
    };
    use std::path::Path;

    /// One call of the marker writer.
    #[derive(Debug, Clone, PartialEq)]
    struct MarkerCall {
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        partitions: Vec<(String, i32)>,
    }

    /// A marker writer that records its calls; partitions in `failing`
    /// answer NOT_LEADER_OR_FOLLOWER (`failures` times each, or forever
    /// with `u32::MAX`), partitions of topic `deleted` answer
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[derive(Default)]
    struct Recording {
        calls: Mutex<Vec<MarkerCall>>,
        failing: Mutex<HashMap<(String, i32), u32>>,
    }

    impl Recording {
        fn calls(&self) -> Vec<MarkerCall> {
            self.calls.lock().unwrap().clone()
        }
        fn fail(&self, topic: &str, partition: i32, times: u32) {
            self.failing
                .lock()
                .unwrap()
                .insert((topic.to_string(), partition), times);
        }
    }

    impl TxnMarkerWriter for Recording {
        fn write_markers(
            &self,
            producer_id: i64,
            producer_epoch: i16,
            coordinator_epoch: i32,
            commit: bool,
            partitions: Vec<(String, i32)>,
        ) -> BoxFuture<'_, Vec<MarkerResult>> {
            assert_eq!(coordinator_epoch, COORDINATOR_EPOCH);
            self.calls.lock().unwrap().push(MarkerCall {
                producer_id,
                producer_epoch,
                commit,
                partitions: partitions.clone(),
            });
            let mut failing = self.failing.lock().unwrap();
            let results = partitions
                .into_iter()
                .map(|tp| {
                    let code = if tp.0 == "deleted" {
                        UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        match failing.get_mut(&tp) {
                            Some(n) if *n > 0 => {
                                *n = n.saturating_sub(u32::from(*n != u32::MAX));
                                ResponseError::NotLeaderOrFollower.code()
                            }
                            _ => NONE,
                        }
                    };
                    (tp, code)
                })
                .collect();
            Box::pin(async move { results })
        }
    }

    /// A coordinator on a real data directory (its `__transaction_state`
    /// with 3 partitions), plus what keeps it open.
    struct Node {
        coordinator: TransactionCoordinator,
        markers: Arc<Recording>,
        _data_dir: DataDir,
    }

    fn config() -> TxnConfig {
        TxnConfig {
            state_log_num_partitions: 3,
            ..TxnConfig::default()
        }
    }

    fn open_with(dir: &Path, config: TxnConfig, markers: Arc<Recording>) -> Node {
        let data_dir = DataDir::open(dir, true).unwrap();
        let topic_configs = config.topic_configs();
        let topic_configs: Vec<(&str, &str)> = topic_configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let store = LogStore::open_topic(
            &data_dir,
            TRANSACTION_STATE_TOPIC,
            config.state_log_num_partitions,
            &topic_configs,
            GroupCommit::start(),
        )
        .unwrap();
        let ids = Arc::new(ProducerIdManager::open(dir).unwrap());
        let coordinator = TransactionCoordinator::new(
            config,
            Arc::new(store),
            markers.clone(),
            Arc::new(move || ids.generate()),
            Arc::new(|topic: &str, _p: i32| topic != "missing"),
        );
        Node {
            coordinator,
            markers,
            _data_dir: data_dir,
        }
    }

    async fn open(dir: &Path) -> Node {
        let node = open_with(dir, config(), Arc::default());
        node.coordinator.load().await.unwrap();
        node
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn init_req(id: Option<&str>, timeout: i32) -> InitProducerIdRequest {
        InitProducerIdRequest::default()
            .with_transactional_id(id.map(|s| TransactionalId(str_bytes(s))))
            .with_transaction_timeout_ms(timeout)
    }

    impl Node {
        async fn init(&self, id: &str) -> InitProducerIdResponse {
            self.coordinator
                .init_producer_id(init_req(Some(id), 60_000), 5)
                .await
        }

        async fn add(
            &self,
            id: &str,
            pid: i64,
            epoch: i16,
            parts: &[(&str, i32)],
            version: i16,
        ) -> Vec<(String, i32, i16)> {
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in parts {
                topics.entry(t).or_default().push(*p);
            }
            let topics = topics
                .into_iter()
                .map(|(t, ps)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(str_bytes(t)))
                        .with_partitions(ps)
                })
                .collect();
            let req = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(str_bytes(id)))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(topics);
            let resp = self.coordinator.add_partitions_to_txn(req, version).await;
            flatten(&resp.results_by_topic_v3_and_below)
        }

        async fn end(&self, id: &str, pid: i64, epoch: i16, commit: bool, version: i16) -> i16 {
            let req = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(str_bytes(id)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit);
            self.coordinator.end_txn(req, version).await.error_code
        }

        fn describe(&self, id: &str) -> DescribedState {
            let req = DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(str_bytes(id))]);
            self.coordinator
                .describe_transactions(req, 0)
                .transaction_states
                .remove(0)
        }

        fn state(&self, id: &str) -> String {
            self.describe(id).transaction_state.to_string()
        }
    }

    fn flatten(results: &[AddPartitionsToTxnTopicResult]) -> Vec<(String, i32, i16)> {
        results
            .iter()
            .flat_map(|t| {
                t.results_by_partition.iter().map(|p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        p.partition_error_code,
                    )
                })
            })
            .collect()
    }

    fn ok(parts: &[(&str, i32)]) -> Vec<(String, i32, i16)> {
        parts
            .iter()
            .map(|(t, p)| (t.to_string(), *p, NONE))
            .collect()
    }

    /// The marker writer on real logs (what the broker's does): a control
    /// batch per partition with `Log::append_control`, then a flush.
    struct LogMarkers {
        logs: HashMap<(String, i32), Mutex<crate::log::Log>>,
    }

    impl TxnMarkerWriter for LogMarkers {
        fn write_markers(
            &self,
            producer_id: i64,
            producer_epoch: i16,
            coordinator_epoch: i32,
            commit: bool,
            partitions: Vec<(String, i32)>,
        ) -> BoxFuture<'_, Vec<MarkerResult>> {
            use crate::record::control::{ControlRecordType, EndTxnMarker};
            let marker = EndTxnMarker {
                control: if commit {
                    ControlRecordType::Commit
                } else {
                    ControlRecordType::Abort
                },
                coordinator_epoch,
            };
            let results = partitions
                .into_iter()
                .map(|tp| {
                    let code = match self.logs.get(&tp) {
                        None => UNKNOWN_TOPIC_OR_PARTITION,
                        Some(log) => {
                            let mut log = log.lock().unwrap();
                            match log
                                .append_control(producer_id, producer_epoch, marker)
                                .and_then(|_| log.flush())
                            {
                                Ok(()) => NONE,
                                Err(e) => crate::broker::handlers::log_error_code(&e),
                            }
                        }
                    };
                    (tp, code)
                })
                .collect();
            Box::pin(async move { results })
        }
    }

    fn txn_batch(pid: i64, epoch: i16, seq: i32) -> Vec<u8> {
        let mut b = crate::record::BatchBuilder::new(crate::record::Compression::None, now_ms())
            .producer(pid, epoch, seq)
            .transactional(true);
        b.push(now_ms(), None, Some(b"v"), &[]);
        b.finish()
    }

    /// The coordinator and the log side together: markers close the
    /// transaction in the log (last stable offset, aborted transactions),
    /// and the epoch bump of a fence makes the log refuse the zombie.
    #[test]
    fn markers_on_real_logs_complete_and_fence_transactions() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let data_dir = DataDir::open(dir.path(), true).unwrap();
            data_dir.create_topic("data", 2, &BTreeMap::new()).unwrap();
            let logs = (0..2)
                .map(|p| {
                    (
                        ("data".to_string(), p),
                        Mutex::new(data_dir.open_log("data", p).unwrap()),
                    )
                })
                .collect();
            let markers = Arc::new(LogMarkers { logs });
            let store = LogStore::open_topic(
                &data_dir,
                TRANSACTION_STATE_TOPIC,
                3,
                &[("cleanup.policy", "compact")],
                GroupCommit::start(),
            )
            .unwrap();
            let ids = Arc::new(ProducerIdManager::open(dir.path()).unwrap());
            let coordinator = TransactionCoordinator::new(
                config(),
                Arc::new(store),
                markers.clone(),
                Arc::new(move || ids.generate()),
                Arc::new(|_: &str, _: i32| true),
            );
            coordinator.load().await.unwrap();
            let node = Node {
                coordinator,
                markers: Arc::default(),
                _data_dir: data_dir,
            };
            let log = |p: i32| markers.logs[&("data".to_string(), p)].lock().unwrap();
            let pid = node.init("t").await.producer_id.0;
            node.add("t", pid, 0, &[("data", 0), ("data", 1)], 3).await;
            let first = log(0).append(&txn_batch(pid, 0, 0)).unwrap().base_offset;
            assert_eq!(log(0).last_stable_offset(), first, "open transaction");
            assert_eq!(node.end("t", pid, 0, true, 3).await, NONE);
            let end = log(0).log_end_offset();
            assert_eq!(log(0).last_stable_offset(), end);
            assert_eq!(
                log(1).log_end_offset(),
                1,
                "a marker in the untouched partition too"
            );

            node.add("t", pid, 0, &[("data", 0)], 3).await;
            let second = log(0).append(&txn_batch(pid, 0, 1)).unwrap().base_offset;
            assert_eq!(node.init("t").await.error_code, CONCURRENT_TRANSACTIONS);
            let end = log(0).log_end_offset();
            assert_eq!(log(0).last_stable_offset(), end, "aborted by the fence");
            let aborted = log(0).aborted_transactions(0, end).unwrap();
            assert_eq!(aborted.len(), 1);
            assert_eq!(
                (aborted[0].producer_id, aborted[0].first_offset),
                (pid, second)
            );
            // The zombie's next batch (epoch 0) is refused by the log.
            assert!(matches!(
                log(0).append(&txn_batch(pid, 0, 2)),
                Err(LogError::InvalidProducerEpoch(_))
            ));
            let r = node.init("t").await;
            assert_eq!((r.error_code, r.producer_epoch), (NONE, 2));
        });
    }

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(
            CONCURRENT_TRANSACTIONS,
            ResponseError::ConcurrentTransactions.code()
        );
        assert_eq!(INVALID_TXN_STATE, ResponseError::InvalidTxnState.code());
        assert_eq!(
            INVALID_PRODUCER_ID_MAPPING,
            ResponseError::InvalidProducerIdMapping.code()
        );
        assert_eq!(
            INVALID_TRANSACTION_TIMEOUT,
            ResponseError::InvalidTransactionTimeout.code()
        );
        assert_eq!(PRODUCER_FENCED, ResponseError::ProducerFenced.code());
        assert_eq!(
            INVALID_PRODUCER_EPOCH,
            ResponseError::InvalidProducerEpoch.code()
        );
        assert_eq!(
            TRANSACTIONAL_ID_NOT_FOUND,
            ResponseError::TransactionalIdNotFound.code()
        );
        assert_eq!(
            TRANSACTION_ABORTABLE,
            ResponseError::TransactionAbortable.code()
        );
        assert_eq!(
            COORDINATOR_LOAD_IN_PROGRESS,
            ResponseError::CoordinatorLoadInProgress.code()
        );
        assert_eq!(
            COORDINATOR_NOT_AVAILABLE,
            ResponseError::CoordinatorNotAvailable.code()
        );
        assert_eq!(NOT_COORDINATOR, ResponseError::NotCoordinator.code());
        assert_eq!(NOT_ENOUGH_REPLICAS, ResponseError::NotEnoughReplicas.code());
        assert_eq!(INVALID_REQUEST, ResponseError::InvalidRequest.code());
        assert_eq!(
            OPERATION_NOT_ATTEMPTED,
            ResponseError::OperationNotAttempted.code()
        );
        assert_eq!(
            UNKNOWN_TOPIC_OR_PARTITION,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            UNKNOWN_SERVER_ERROR,
            ResponseError::UnknownServerError.code()
        );
    }

    #[test]
    fn commit_writes_markers_then_complete_commit_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (pid, epoch) = rt().block_on(async {
            let node = open(dir.path()).await;
            let r = node.init("t1").await;
            assert_eq!(r.error_code, NONE);
            assert_eq!(r.producer_epoch, 0);
            let pid = r.producer_id.0;
            assert_eq!(node.state("t1"), "Empty");
            let parts = [("a", 0), ("a", 1), ("b", 0)];
            assert_eq!(node.add("t1", pid, 0, &parts, 3).await, ok(&parts));
            assert_eq!(node.state("t1"), "Ongoing");
            assert_eq!(node.coordinator.verify_partition(pid, 0, "a", 1), Ok(()));
            assert_eq!(
                node.coordinator.verify_partition(pid, 0, "c", 0),
                Err(INVALID_TXN_STATE),
                "a partition not in the transaction"
            );
            assert_eq!(node.end("t1", pid, 0, true, 3).await, NONE);
            assert_eq!(
                node.markers.calls(),
                vec![MarkerCall {
                    producer_id: pid,
                    producer_epoch: 0,
                    commit: true,
                    partitions: vec![("a".into(), 0), ("a".into(), 1), ("b".into(), 0)],
                }]
            );
            let d = node.describe("t1");
            assert_eq!(d.transaction_state.as_str(), "CompleteCommit");
            assert!(d.topics.is_empty());
            assert_eq!(
                node.coordinator.verify_partition(pid, 0, "a", 1),
                Err(INVALID_TXN_STATE),
                "no ongoing transaction after the commit"
            );
            (pid, 0)
            // Dropped without shutdown: nothing flushed beyond the group commit.
        });
        rt().block_on(async {
            let node = open(dir.path()).await;
            let d = node.describe("t1");
            assert_eq!(d.error_code, NONE);
            assert_eq!(d.transaction_state.as_str(), "CompleteCommit");
            assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch));
            assert!(node.markers.calls().is_empty(), "nothing left to complete");
            // The producer's next InitProducerId bumps the epoch.
            let r = node.init("t1").await;
            assert_eq!(
                (r.error_code, r.producer_id.0, r.producer_epoch),
                (NONE, pid, 1)
            );
        });
    }

    #[test]
    fn end_txn_retries_answer_as_kafka() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let pid = node.init("t").await.producer_id.0;
            // EndTxn with no transaction: INVALID_TXN_STATE.
            assert_eq!(node.end("t", pid, 0, true, 3).await, INVALID_TXN_STATE);
            node.add("t", pid, 0, &[("a", 0)], 3).await;
            assert_eq!(node.end("t", pid, 0, true, 3).await, NONE);
            // A retry of the completed commit: NONE, and no new markers.
            assert_eq!(node.end("t", pid, 0, true, 3).await, NONE);
            assert_eq!(node.markers.calls().len(), 1);
            // Aborting what was committed: INVALID_TXN_STATE.
            assert_eq!(node.end("t", pid, 0, false, 3).await, INVALID_TXN_STATE);
            // The same for an abort.
            node.add("t", pid, 0, &[("a", 0)], 3).await;
            assert_eq!(node.end("t", pid, 0, false, 3).await, NONE);
            assert_eq!(node.end("t", pid, 0, false, 3).await, NONE);
            assert_eq!(node.end("t", pid, 0, true, 3).await, INVALID_TXN_STATE);
            assert_eq!(node.state("t"), "CompleteAbort");
            assert!(!node.markers.calls()[1].commit);
            // Unknown id / wrong producer id.
            assert_eq!(
                node.end("nope", pid, 0, true, 3).await,
                INVALID_PRODUCER_ID_MAPPING
            );
            assert_eq!(
                node.end("t", pid + 1, 0, true, 3).await,
                INVALID_PRODUCER_ID_MAPPING
            );
            assert_eq!(node.end("", pid, 0, true, 3).await, INVALID_REQUEST);
        });
    }

    #[test]
    fn a_new_producer_fences_an_ongoing_transaction_by_epoch_bump() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let pid = node.init("t").await.producer_id.0;
            node.add("t", pid, 0, &[("a", 0), ("b", 2)], 3).await;
            // The second producer with the same transactional id: the
            // ongoing transaction is aborted with epoch 1 and it retries.
            let r = node.init("t").await;
            assert_eq!(r.error_code, CONCURRENT_TRANSACTIONS);
            assert_eq!(
                node.markers.calls(),
                vec![MarkerCall {
                    producer_id: pid,
                    producer_epoch: 1,
                    commit: false,
                    partitions: vec![("a".into(), 0), ("b".into(), 2)],
                }]
            );
            assert_eq!(node.state("t"), "CompleteAbort");
            let r = node.init("t").await;
            assert_eq!(
                (r.error_code, r.producer_id.0, r.producer_epoch),
                (NONE, pid, 2)
            );
            // The zombie (epoch 0) is fenced everywhere.
            assert_eq!(node.end("t", pid, 0, true, 3).await, PRODUCER_FENCED);
            assert_eq!(node.end("t", pid, 0, true, 1).await, INVALID_PRODUCER_EPOCH);
            assert_eq!(
                node.add("t", pid, 0, &[("a", 0)], 3).await,
                vec![("a".into(), 0, PRODUCER_FENCED)]
            );
            assert_eq!(
                node.add("t", pid, 0, &[("a", 0)], 1).await,
                vec![("a".into(), 0, INVALID_PRODUCER_EPOCH)]
            );
            node.add("t", pid, 2, &[("a", 0)], 3).await;
            assert_eq!(
                node.coordinator.verify_partition(pid, 0, "a", 0),
                Err(INVALID_PRODUCER_EPOCH)
            );
            assert_eq!(node.coordinator.verify_partition(pid, 2, "a", 0), Ok(()));
            // KIP-360: a producer giving an epoch that is neither the
            // current nor the last one is fenced (INVALID_PRODUCER_EPOCH
            // below v4).
            let req = init_req(Some("t"), 60_000)
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0);
            let r = node.coordinator.init_producer_id(req.clone(), 4).await;
            assert_eq!(
                r.error_code, CONCURRENT_TRANSACTIONS,
                "ongoing is aborted first"
            );
            let r = node.coordinator.init_producer_id(req.clone(), 4).await;
            assert_eq!(r.error_code, PRODUCER_FENCED);
            let r = node.coordinator.init_producer_id(req, 3).await;
            assert_eq!(r.error_code, INVALID_PRODUCER_EPOCH);
            // With its current epoch it gets the next one, and a retry with
            // the same epoch gets that again.
            let req = init_req(Some("t"), 60_000)
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(3);
            let r = node.coordinator.init_producer_id(req.clone(), 5).await;
            assert_eq!((r.error_code, r.producer_epoch), (NONE, 4));
            let r = node.coordinator.init_producer_id(req, 5).await;
            assert_eq!((r.error_code, r.producer_epoch), (NONE, 4));
        });
    }

    #[test]
    fn an_exhausted_epoch_gets_a_new_producer_id() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let pid = node.init("t").await.producer_id.0;
            node.coordinator
                .inner
                .lock()
                .txns
                .get_mut("t")
                .unwrap()
                .producer_epoch = i16::MAX - 1;
            let r = node.init("t").await;
            assert_eq!(r.error_code, NONE);
            assert_ne!(r.producer_id.0, pid);
            assert_eq!(r.producer_epoch, 0);
            let new_pid = r.producer_id.0;
            node.add("t", new_pid, 0, &[("a", 0)], 3).await;
            assert_eq!(
                node.coordinator.verify_partition(new_pid, 0, "a", 0),
                Ok(())
            );
            assert_eq!(
                node.coordinator.verify_partition(pid, i16::MAX - 1, "a", 0),
                Err(INVALID_TXN_STATE),
                "the old producer id no longer maps to the transaction"
            );
        });
    }

    #[test]
    fn requests_get_kafkas_errors() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open_with(dir.path(), config(), Arc::default());
            // Before loading.
            assert_eq!(
                node.init("t").await.error_code,
                COORDINATOR_LOAD_IN_PROGRESS
            );
            assert_eq!(
                node.end("t", 1, 0, true, 3).await,
                COORDINATOR_LOAD_IN_PROGRESS
            );
            assert_eq!(node.describe("t").error_code, COORDINATOR_LOAD_IN_PROGRESS);
            assert_eq!(
                node.coordinator.verify_partition(1, 0, "a", 0),
                Err(NOT_ENOUGH_REPLICAS)
            );
            // Idempotent producers need no loading: fresh ids, epoch 0.
            let a = node
                .coordinator
                .init_producer_id(init_req(None, 0), 4)
                .await;
            let b = node
                .coordinator
                .init_producer_id(init_req(None, 0), 4)
                .await;
            assert_eq!((a.error_code, a.producer_epoch), (NONE, 0));
            assert!(b.producer_id.0 > a.producer_id.0);
            node.coordinator.load().await.unwrap();
            let r = node
                .coordinator
                .init_producer_id(init_req(Some("t"), 900_001), 4)
                .await;
            assert_eq!(r.error_code, INVALID_TRANSACTION_TIMEOUT);
            let r = node
                .coordinator
                .init_producer_id(init_req(Some(""), 1000), 4)
                .await;
            assert_eq!(r.error_code, INVALID_REQUEST);
            let r = node
                .coordinator
                .init_producer_id(init_req(Some("t"), 1000).with_producer_id(ProducerId(5)), 4)
                .await;
            assert_eq!(
                r.error_code, INVALID_REQUEST,
                "producer id without an epoch"
            );
            let pid = node.init("t").await.producer_id.0;
            assert_eq!(
                node.add("u", pid, 0, &[("a", 0)], 3).await,
                vec![("a".into(), 0, INVALID_PRODUCER_ID_MAPPING)]
            );
            assert_eq!(
                node.add("t", pid, 0, &[("a", 0), ("missing", 1)], 3).await,
                vec![
                    ("a".into(), 0, OPERATION_NOT_ATTEMPTED),
                    ("missing".into(), 1, UNKNOWN_TOPIC_OR_PARTITION)
                ]
            );
            assert_eq!(node.state("t"), "Empty", "nothing added");
            assert_eq!(node.describe("nope").error_code, TRANSACTIONAL_ID_NOT_FOUND);
            assert_eq!(
                node.coordinator.verify_partition(12345, 0, "a", 0),
                Err(INVALID_TXN_STATE)
            );
        });
    }

    #[test]
    fn add_offsets_adds_the_groups_offsets_partition() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let pid = node.init("t").await.producer_id.0;
            let req = AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(str_bytes("t")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0)
                .with_group_id(GroupId(str_bytes("console-consumer-1")));
            assert_eq!(
                node.coordinator
                    .add_offsets_to_txn(req.clone(), 3)
                    .await
                    .error_code,
                NONE
            );
            let p = 35782224 % 50;
            assert_eq!(
                node.coordinator.verify_partition(pid, 0, OFFSETS_TOPIC, p),
                Ok(())
            );
            let stale = req.with_producer_epoch(7);
            assert_eq!(
                node.coordinator
                    .add_offsets_to_txn(stale.clone(), 2)
                    .await
                    .error_code,
                PRODUCER_FENCED
            );
            assert_eq!(
                node.coordinator
                    .add_offsets_to_txn(stale, 1)
                    .await
                    .error_code,
                INVALID_PRODUCER_EPOCH
            );
            assert_eq!(node.end("t", pid, 0, true, 3).await, NONE);
            assert_eq!(
                node.markers.calls()[0].partitions,
                vec![(OFFSETS_TOPIC.to_string(), p)]
            );
        });
    }

    #[test]
    fn batched_add_partitions_verifies_only() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let pid = node.init("t").await.producer_id.0;
            node.add("t", pid, 0, &[("a", 0)], 3).await;
            let txn = |id: &str, epoch: i16| {
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(str_bytes(id)))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_verify_only(true)
                    .with_topics(vec![
                        AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(str_bytes("a")))
                            .with_partitions(vec![0, 1]),
                    ])
            };
            let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
                txn("t", 0),
                txn("t", 1),
                txn("u", 0),
            ]);
            let resp = node.coordinator.add_partitions_to_txn(req.clone(), 5).await;
            let got: Vec<_> = resp
                .results_by_transaction
                .iter()
                .map(|r| flatten(&r.topic_results))
                .collect();
            assert_eq!(
                got,
                vec![
                    vec![
                        ("a".into(), 0, NONE),
                        ("a".into(), 1, TRANSACTION_ABORTABLE)
                    ],
                    vec![
                        ("a".into(), 0, PRODUCER_FENCED),
                        ("a".into(), 1, PRODUCER_FENCED)
                    ],
                    vec![
                        ("a".into(), 0, INVALID_PRODUCER_ID_MAPPING),
                        ("a".into(), 1, INVALID_PRODUCER_ID_MAPPING)
                    ],
                ]
            );
            let resp = node.coordinator.add_partitions_to_txn(req, 4).await;
            assert_eq!(
                flatten(&resp.results_by_transaction[0].topic_results)[1].2,
                INVALID_TXN_STATE
            );
            assert_eq!(
                node.describe("t").topics.len(),
                1,
                "verification adds nothing"
            );
        });
    }

    #[test]
    fn failed_markers_are_retried_and_deleted_partitions_count_as_done() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let pid = node.init("t").await.producer_id.0;
            node.add("t", pid, 0, &[("a", 0), ("a", 1), ("deleted", 0)], 3)
                .await;
            node.markers.fail("a", 1, 2);
            assert_eq!(node.end("t", pid, 0, true, 3).await, NONE);
            let calls: Vec<Vec<(String, i32)>> = node
                .markers
                .calls()
                .into_iter()
                .map(|c| c.partitions)
                .collect();
            assert_eq!(
                calls,
                vec![
                    vec![("a".into(), 0), ("a".into(), 1), ("deleted".into(), 0)],
                    vec![("a".into(), 1)],
                    vec![("a".into(), 1)],
                ]
            );
            assert_eq!(node.state("t"), "CompleteCommit");
        });
    }

    #[test]
    fn transactions_past_their_timeout_are_aborted_with_an_epoch_bump() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let config = TxnConfig {
                abort_timed_out_transaction_cleanup_interval_ms: 20,
                ..config()
            };
            let node = open_with(dir.path(), config, Arc::default());
            node.coordinator.load().await.unwrap();
            let sweep = node.coordinator.start();
            let pid = node
                .coordinator
                .init_producer_id(init_req(Some("slow"), 100), 4)
                .await
                .producer_id
                .0;
            let quick = node.init("quick").await.producer_id.0;
            node.add("slow", pid, 0, &[("a", 0)], 3).await;
            node.add("quick", quick, 0, &[("a", 1)], 3).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while node.state("slow") != "CompleteAbort" {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "not aborted in time"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sweep.abort();
            assert_eq!(
                node.markers.calls(),
                vec![MarkerCall {
                    producer_id: pid,
                    producer_epoch: 1,
                    commit: false,
                    partitions: vec![("a".into(), 0)],
                }]
            );
            assert_eq!(node.describe("slow").producer_epoch, 1);
            assert_eq!(node.state("quick"), "Ongoing", "within its 60 s timeout");
            // The producer of the aborted transaction is fenced.
            assert_eq!(node.end("slow", pid, 0, true, 3).await, PRODUCER_FENCED);
        });
    }

    #[test]
    fn an_abort_whose_markers_keep_failing_does_not_stop_the_sweeps() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let config = TxnConfig {
                abort_timed_out_transaction_cleanup_interval_ms: 20,
                ..config()
            };
            let node = open_with(dir.path(), config, Arc::default());
            node.coordinator.load().await.unwrap();
            node.markers.fail("stuck", 0, u32::MAX);
            let sweep = node.coordinator.start();
            let init = |id: &'static str, timeout: i32| {
                let c = node.coordinator.clone();
                async move {
                    c.init_producer_id(init_req(Some(id), timeout), 4)
                        .await
                        .producer_id
                        .0
                }
            };
            let first = init("first", 50).await;
            node.add("first", first, 0, &[("stuck", 0)], 3).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while node.state("first") != "PrepareAbort" {
                assert!(tokio::time::Instant::now() < deadline, "first not aborted");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Started after the sweep got stuck on "first"'s markers.
            let second = init("second", 50).await;
            node.add("second", second, 0, &[("a", 0)], 3).await;
            while node.state("second") != "CompleteAbort" {
                assert!(tokio::time::Instant::now() < deadline, "second not aborted");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                node.state("first"),
                "PrepareAbort",
                "still retrying its markers"
            );
            sweep.abort();
        });
    }

    #[test]
    fn idle_transactional_ids_expire_and_stay_removed_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let config = TxnConfig {
                transactional_id_expiration_ms: 50,
                ..config()
            };
            let node = open_with(dir.path(), config, Arc::default());
            node.coordinator.load().await.unwrap();
            let pid = node.init("idle").await.producer_id.0;
            let busy = node.init("busy").await.producer_id.0;
            node.add("busy", busy, 0, &[("a", 0)], 3).await;
            assert_eq!(node.coordinator.remove_expired_transactional_ids().await, 0);
            tokio::time::sleep(Duration::from_millis(80)).await;
            assert_eq!(node.coordinator.remove_expired_transactional_ids().await, 1);
            assert_eq!(node.describe("idle").error_code, TRANSACTIONAL_ID_NOT_FOUND);
            assert_eq!(
                node.state("busy"),
                "Ongoing",
                "an ongoing transaction does not expire"
            );
            assert_eq!(
                node.end("idle", pid, 0, true, 3).await,
                INVALID_PRODUCER_ID_MAPPING
            );
        });
        rt().block_on(async {
            let node = open(dir.path()).await;
            assert_eq!(node.describe("idle").error_code, TRANSACTIONAL_ID_NOT_FOUND);
            assert_eq!(node.state("busy"), "Ongoing");
            // A new producer with the id starts over with a new producer id.
            let r = node.init("idle").await;
            assert_eq!((r.error_code, r.producer_epoch), (NONE, 0));
        });
    }

    #[test]
    fn describe_and_list_transactions() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let node = open(dir.path()).await;
            let a = node.init("a").await.producer_id.0;
            let b = node.init("b").await.producer_id.0;
            node.add("a", a, 0, &[("x", 1), ("x", 0), ("y", 3)], 3)
                .await;
            let d = node.describe("a");
            assert_eq!(d.error_code, NONE);
            assert_eq!(d.transaction_state.as_str(), "Ongoing");
            assert_eq!(
                (d.producer_id.0, d.producer_epoch, d.transaction_timeout_ms),
                (a, 0, 60_000)
            );
            assert!(d.transaction_start_time_ms > 0);
            let topics: Vec<(String, Vec<i32>)> = d
                .topics
                .iter()
                .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
                .collect();
            assert_eq!(
                topics,
                vec![("x".into(), vec![0, 1]), ("y".into(), vec![3])]
            );
            let list = |states: &[&str], pids: &[i64], duration: i64| {
                let req = ListTransactionsRequest::default()
                    .with_state_filters(states.iter().map(|s| str_bytes(s)).collect())
                    .with_producer_id_filters(pids.iter().map(|p| ProducerId(*p)).collect())
                    .with_duration_filter(duration);
                let r = node.coordinator.list_transactions(req, 1);
                let ids: Vec<String> = r
                    .transaction_states
                    .iter()
                    .map(|s| {
                        format!(
                            "{}:{}:{}",
                            s.transactional_id.0,
                            s.producer_id.0 == a,
                            s.transaction_state
                        )
                    })
                    .collect();
                (r.error_code, ids, r.unknown_state_filters.len())
            };
            assert_eq!(
                list(&[], &[], -1),
                (
                    NONE,
                    vec!["a:true:Ongoing".into(), "b:false:Empty".into()],
                    0
                )
            );
            assert_eq!(
                list(&["Ongoing"], &[], -1).1,
                vec!["a:true:Ongoing".to_string()]
            );
            assert_eq!(list(&[], &[b], -1).1, vec!["b:false:Empty".to_string()]);
            assert_eq!(list(&["Nope"], &[], -1).2, 1);
            // Running for longer than an hour: none ("b" has no start and
            // counts as running since the epoch, as in Kafka).
            assert_eq!(list(&["Ongoing"], &[], 3_600_000).1, Vec::<String>::new());
        });
    }

    /// Brings "t" into `state` and returns its producer id and the marker
    /// calls made so far. PrepareCommit/PrepareAbort are reached with a
    /// marker writer that fails forever, and the runtime is then dropped
    /// (the "crash": the completion never happens).
    fn reach(dir: &Path, state: TransactionState) -> i64 {
        let runtime = rt();
        runtime.block_on(async {
            let node = open(dir).await;
            let pid = node.init("t").await.producer_id.0;
            if state == TransactionState::Empty {
                return pid;
            }
            node.add("t", pid, 0, &[("a", 0), ("b", 1)], 3).await;
            match state {
                TransactionState::Ongoing => {}
                TransactionState::CompleteAbort => {
                    assert_eq!(node.end("t", pid, 0, false, 3).await, NONE);
                }
                TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                    node.markers.fail("b", 1, u32::MAX);
                    let commit = state == TransactionState::PrepareCommit;
                    let c = node.coordinator.clone();
                    let end = tokio::spawn(async move {
                        let req = EndTxnRequest::default()
                            .with_transactional_id(TransactionalId(str_bytes("t")))
                            .with_producer_id(ProducerId(pid))
                            .with_producer_epoch(0)
                            .with_committed(commit);
                        c.end_txn(req, 3).await
                    });
                    while node.markers.calls().len() < 2 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    assert_eq!(node.state("t"), state.name());
                    assert!(!end.is_finished(), "EndTxn waits for its markers");
                }
                _ => unreachable!(),
            }
            pid
        })
        // The runtime, its tasks and the coordinator are dropped here
        // without a shutdown.
    }

    #[test]
    fn reload_after_a_crash_in_each_state() {
        use TransactionState::*;
        for state in [Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteAbort] {
            let dir = tempfile::tempdir().unwrap();
            let pid = reach(dir.path(), state);
            rt().block_on(async {
                let node = open_with(dir.path(), config(), Arc::default());
                let completions = node.coordinator.load().await.unwrap();
                for c in completions {
                    assert_eq!(c.await.unwrap(), Ok(()));
                }
                let d = node.describe("t");
                assert_eq!(
                    (d.error_code, d.producer_id.0, d.producer_epoch),
                    (NONE, pid, 0)
                );
                let expected = match state {
                    PrepareCommit => "CompleteCommit",
                    PrepareAbort => "CompleteAbort",
                    s => s.name(),
                };
                assert_eq!(d.transaction_state.as_str(), expected, "after {state:?}");
                let calls = node.markers.calls();
                if matches!(state, PrepareCommit | PrepareAbort) {
                    assert_eq!(
                        calls,
                        vec![MarkerCall {
                            producer_id: pid,
                            producer_epoch: 0,
                            commit: state == PrepareCommit,
                            partitions: vec![("a".into(), 0), ("b".into(), 1)],
                        }],
                        "markers written again after {state:?}"
                    );
                } else {
                    assert!(calls.is_empty());
                }
                if state == Ongoing {
                    assert_eq!(node.coordinator.verify_partition(pid, 0, "b", 1), Ok(()));
                    // It stays until it times out; then it is aborted.
                    node.coordinator
                        .inner
                        .lock()
                        .txns
                        .get_mut("t")
                        .unwrap()
                        .txn_start_timestamp -= 120_000;
                    assert_eq!(node.coordinator.abort_timed_out_transactions().await, 1);
                    assert_eq!(node.state("t"), "CompleteAbort");
                }
            });
            if matches!(state, PrepareCommit | PrepareAbort) {
                // CompleteX was appended: a third open has nothing to do.
                rt().block_on(async {
                    let node = open_with(dir.path(), config(), Arc::default());
                    assert!(node.coordinator.load().await.unwrap().is_empty());
                    assert!(node.state("t").starts_with("Complete"));
                });
            }
        }
    }
}
