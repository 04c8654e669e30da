//! The producer's transaction manager, as Kafka's client
//! `org.apache.kafka.clients.producer.internals.TransactionManager`
//! (KIP-98): the producer id and epoch from InitProducerId, the next
//! sequence number of every partition, and for a transactional producer the
//! transaction's state and the partitions added to it.
//!
//! - An idempotent producer asks any broker for a producer id
//!   (InitProducerId without a transactional id). A transactional producer
//!   finds its transaction coordinator (FindCoordinator key type 1) and asks
//!   it, which also fences older producers of the same transactional id.
//! - Every batch gets the producer id, the epoch and the partition's next
//!   sequence when it is encoded ([`TransactionManager::stamp`]); sequences
//!   of a partition start at 0 and count records, wrapping after
//!   `i32::MAX` as Kafka's `DefaultRecordBatch.incrementSequence`. A retried
//!   batch is resent as encoded, with its sequence, so the broker can
//!   answer a duplicate with its first offsets.
//! - Before a partition's first batch in a transaction, AddPartitionsToTxn
//!   tells the coordinator (the producer's sender does it,
//!   [`TransactionManager::add_partitions`]); EndTxn commits or aborts once
//!   every batch is acknowledged ([`TransactionManager::end`]).
//! - Coordinator requests are retried on COORDINATOR_NOT_AVAILABLE,
//!   COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR (coordinator found again),
//!   CONCURRENT_TRANSACTIONS and lost connections. PRODUCER_FENCED,
//!   INVALID_PRODUCER_EPOCH and the other errors of [`is_fatal`] stop the
//!   producer for good; any other failure inside a transaction only allows
//!   an abort.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, InitProducerIdRequest, ProducerId, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::cluster::Cluster;
use super::connection::Connection;
use super::error::ClientError;
use super::group::coordinator::coordinator_addr;

/// Kafka error codes the transaction manager reacts to.
pub mod codes {
    /// COORDINATOR_LOAD_IN_PROGRESS: the coordinator is loading its log.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// COORDINATOR_NOT_AVAILABLE: no coordinator yet.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// NOT_COORDINATOR: the broker asked does not coordinate the id.
    pub const NOT_COORDINATOR: i16 = 16;
    /// UNSUPPORTED_VERSION.
    pub const UNSUPPORTED_VERSION: i16 = 35;
    /// CLUSTER_AUTHORIZATION_FAILED.
    pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
    /// OUT_OF_ORDER_SEQUENCE_NUMBER: a batch of the partition is missing
    /// before this one (an earlier one is being retried).
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    /// DUPLICATE_SEQUENCE_NUMBER: the broker has the batch already.
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    /// INVALID_PRODUCER_EPOCH: a newer epoch of the producer id exists.
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    /// INVALID_TXN_STATE: the request does not fit the transaction's state.
    pub const INVALID_TXN_STATE: i16 = 48;
    /// INVALID_PRODUCER_ID_MAPPING: the producer id is not the one of the
    /// transactional id.
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    /// CONCURRENT_TRANSACTIONS: the previous transaction is still completing.
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    /// TRANSACTION_COORDINATOR_FENCED.
    pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    /// OPERATION_NOT_ATTEMPTED: another partition of the request failed.
    pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
    /// PRODUCER_FENCED: a newer producer with the same transactional id.
    pub const PRODUCER_FENCED: i16 = 90;
}

/// Whether `code` stops the producer for good (Kafka's fatal errors of the
/// transactional producer): it was fenced, or can never succeed.
pub fn is_fatal(code: i16) -> bool {
    matches!(
        code,
        codes::PRODUCER_FENCED
            | codes::INVALID_PRODUCER_EPOCH
            | codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            | codes::TRANSACTION_COORDINATOR_FENCED
            | codes::CLUSTER_AUTHORIZATION_FAILED
            | codes::UNSUPPORTED_VERSION
            | codes::INVALID_TXN_STATE
    )
}

/// Whether a coordinator request answered `code` should be tried again
/// (after finding the coordinator again for NOT_COORDINATOR).
fn is_coordinator_retriable(code: i16) -> bool {
    matches!(
        code,
        codes::COORDINATOR_LOAD_IN_PROGRESS
            | codes::COORDINATOR_NOT_AVAILABLE
            | codes::NOT_COORDINATOR
            | codes::CONCURRENT_TRANSACTIONS
    )
}

/// FindCoordinator key type of transactional ids.
pub const KEY_TYPE_TRANSACTION: i8 = 1;
/// Attempts of a coordinator request before its last error is returned.
const ATTEMPTS: u32 = 40;
/// First pause between attempts (doubled up to [`MAX_BACKOFF`]).
const BACKOFF: Duration = Duration::from_millis(20);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The state of a producer's transactions, as Kafka's
/// `TransactionManager.State`. Allowed transitions (anything may go to
/// `FatalError`):
///
/// | to                    | from                                                 |
/// |-----------------------|------------------------------------------------------|
/// | Initializing          | Uninitialized                                        |
/// | Ready                 | Initializing, CommittingTransaction, AbortingTransaction |
/// | InTransaction         | Ready                                                |
/// | CommittingTransaction | InTransaction                                        |
/// | AbortingTransaction   | InTransaction, AbortableError                        |
/// | AbortableError        | InTransaction, CommittingTransaction, AbortingTransaction, AbortableError |
/// | FatalError            | any                                                  |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// No producer id yet.
    Uninitialized,
    /// InitProducerId is under way.
    Initializing,
    /// A producer id; no transaction open.
    Ready,
    /// A transaction is open: records may be sent.
    InTransaction,
    /// EndTxn(commit) is under way.
    CommittingTransaction,
    /// EndTxn(abort) is under way.
    AbortingTransaction,
    /// Something in the transaction failed: it can only be aborted.
    AbortableError,
    /// Fenced or otherwise unusable: the producer must be closed.
    FatalError,
}

impl TransactionState {
    /// Whether the table above allows going from `self` to `to`.
    pub fn can_become(self, to: TransactionState) -> bool {
        use TransactionState::*;
        match to {
            Uninitialized => false,
            Initializing => self == Uninitialized,
            Ready => matches!(
                self,
                Initializing | CommittingTransaction | AbortingTransaction
            ),
            InTransaction => self == Ready,
            CommittingTransaction => self == InTransaction,
            AbortingTransaction => matches!(self, InTransaction | AbortableError),
            AbortableError => matches!(
                self,
                InTransaction | CommittingTransaction | AbortingTransaction | AbortableError
            ),
            FatalError => true,
        }
    }
}

/// What is written into a batch's header by an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction (attributes bit 4).
    pub transactional: bool,
}

/// The sequence `increment` records after `sequence`, wrapping after
/// `i32::MAX` to 0 (Kafka's `DefaultRecordBatch.incrementSequence`).
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// A topic partition.
type TopicPartition = (String, i32);

#[derive(Debug)]
struct Inner {
    state: TransactionState,
    producer_id: i64,
    producer_epoch: i16,
    /// Next sequence of each partition written to with this id and epoch.
    sequences: HashMap<TopicPartition, i32>,
    /// Partitions added to the open transaction.
    partitions: BTreeSet<TopicPartition>,
    /// Why the state is `AbortableError` or `FatalError`.
    error: Option<ClientError>,
    /// The transaction coordinator's address, once found.
    coordinator: Option<String>,
}

/// The producer id, epoch, sequences and transaction state of one producer;
/// shared by the producer's callers and its sender task. The lock is held
/// briefly and never across an await.
#[derive(Debug)]
pub struct TransactionManager {
    transactional_id: Option<String>,
    transaction_timeout: Duration,
    inner: Mutex<Inner>,
}

impl TransactionManager {
    /// A manager for an idempotent producer (`transactional_id` `None`) or a
    /// transactional one, whose transactions the coordinator aborts after
    /// `transaction_timeout` (`transaction.timeout.ms`).
    pub fn new(transactional_id: Option<String>, transaction_timeout: Duration) -> Self {
        TransactionManager {
            transactional_id,
            transaction_timeout,
            inner: Mutex::new(Inner {
                state: TransactionState::Uninitialized,
                producer_id: -1,
                producer_epoch: -1,
                sequences: HashMap::new(),
                partitions: BTreeSet::new(),
                error: None,
                coordinator: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The transactional id, if the producer is transactional.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// Whether the producer is transactional.
    pub fn is_transactional(&self) -> bool {
        self.transactional_id.is_some()
    }

    /// The current state.
    pub fn state(&self) -> TransactionState {
        self.lock().state
    }

    /// The producer id and epoch (-1, -1 before initialization).
    pub fn producer_id_and_epoch(&self) -> (i64, i16) {
        let inner = self.lock();
        (inner.producer_id, inner.producer_epoch)
    }

    /// The partitions added to the open transaction.
    pub fn partitions_in_transaction(&self) -> Vec<(String, i32)> {
        self.lock().partitions.iter().cloned().collect()
    }

    fn transition(&self, inner: &mut Inner, to: TransactionState) -> Result<(), ClientError> {
        if let Some(e) = self.failed(inner, to) {
            return Err(e);
        }
        if !inner.state.can_become(to) {
            return Err(ClientError::Invalid(format!(
                "transaction: invalid transition from {:?} to {to:?}",
                inner.state
            )));
        }
        inner.state = to;
        Ok(())
    }

    /// The error that forbids going to `to`, if the manager failed.
    fn failed(&self, inner: &Inner, to: TransactionState) -> Option<ClientError> {
        let cause = || {
            inner
                .error
                .as_ref()
                .map_or_else(|| "unknown error".to_string(), ToString::to_string)
        };
        match inner.state {
            TransactionState::FatalError => Some(ClientError::Invalid(format!(
                "the producer cannot continue: {}",
                cause()
            ))),
            TransactionState::AbortableError if to != TransactionState::AbortingTransaction => {
                Some(ClientError::Invalid(format!(
                    "the transaction must be aborted: {}",
                    cause()
                )))
            }
            _ => None,
        }
    }

    /// Whether records may be sent now: an idempotent producer always (until
    /// a fatal error), a transactional one inside a transaction.
    pub fn check_can_send(&self) -> Result<(), ClientError> {
        let inner = self.lock();
        if let Some(e) = self.failed(&inner, TransactionState::InTransaction) {
            return Err(e);
        }
        if self.is_transactional() && inner.state != TransactionState::InTransaction {
            return Err(ClientError::Invalid(format!(
                "cannot send outside a transaction (transaction state {:?}): call begin_transaction first",
                inner.state
            )));
        }
        Ok(())
    }

    /// Records `error` from the produce path: fatal codes stop the producer,
    /// anything else inside a transaction makes it abortable. An idempotent
    /// producer without transactions only stops on fatal codes.
    pub fn record_error(&self, error: &ClientError) {
        let mut inner = self.lock();
        let fatal = matches!(error, ClientError::Kafka { code, .. } if is_fatal(code.0));
        if fatal {
            inner.state = TransactionState::FatalError;
            inner.error = Some(error.clone());
        } else if self.is_transactional()
            && inner.state.can_become(TransactionState::AbortableError)
        {
            if inner.state != TransactionState::AbortableError {
                inner.error = Some(error.clone());
            }
            inner.state = TransactionState::AbortableError;
        }
    }

    /// Stops the producer for good with `error`.
    pub fn record_fatal(&self, error: ClientError) {
        let mut inner = self.lock();
        inner.state = TransactionState::FatalError;
        inner.error = Some(error);
    }

    /// The error that stopped the producer, if it is in `FatalError`.
    pub fn fatal_error(&self) -> Option<ClientError> {
        let inner = self.lock();
        (inner.state == TransactionState::FatalError).then(|| {
            inner
                .error
                .clone()
                .unwrap_or_else(|| ClientError::Invalid("the producer failed".into()))
        })
    }

    /// The stamp of a new batch of `records` records for `topic`-`partition`:
    /// the producer id, epoch and the partition's next sequence, which moves
    /// on by `records`. `None` before initialization.
    pub fn stamp(&self, topic: &str, partition: i32, records: usize) -> Option<ProducerStamp> {
        let mut inner = self.lock();
        if inner.producer_id < 0 {
            return None;
        }
        let records = i32::try_from(records).unwrap_or(i32::MAX);
        let next = match inner.sequences.get_mut(&(topic.to_string(), partition)) {
            Some(next) => next,
            None => inner
                .sequences
                .entry((topic.to_string(), partition))
                .or_insert(0),
        };
        let base_sequence = *next;
        *next = increment_sequence(base_sequence, records);
        Some(ProducerStamp {
            producer_id: inner.producer_id,
            producer_epoch: inner.producer_epoch,
            base_sequence,
            transactional: self.is_transactional(),
        })
    }

    /// Of `partitions`, those not yet added to the open transaction (none
    /// for an idempotent producer).
    pub fn partitions_to_add(&self, partitions: &[(String, i32)]) -> Vec<(String, i32)> {
        if !self.is_transactional() {
            return Vec::new();
        }
        let inner = self.lock();
        let mut todo: Vec<(String, i32)> = partitions
            .iter()
            .filter(|p| !inner.partitions.contains(*p))
            .cloned()
            .collect();
        todo.sort();
        todo.dedup();
        todo
    }

    /// Begins a transaction (Ready → InTransaction).
    pub fn begin(&self) -> Result<(), ClientError> {
        if !self.is_transactional() {
            return Err(ClientError::Invalid(
                "begin_transaction needs a transactional id".into(),
            ));
        }
        let mut inner = self.lock();
        self.transition(&mut inner, TransactionState::InTransaction)
    }

    /// Gets a producer id and epoch: from the transaction coordinator for a
    /// transactional producer (fencing older ones of the same id), from any
    /// broker otherwise. Sequences restart at 0.
    pub async fn init(&self, cluster: &Cluster) -> Result<(), ClientError> {
        {
            let mut inner = self.lock();
            self.transition(&mut inner, TransactionState::Initializing)?;
        }
        let timeout_ms = self.transaction_timeout.as_millis().min(i32::MAX as u128) as i32;
        let result = self
            .with_coordinator(cluster, "initialize the producer id", |conn| async move {
                let version = conn.version(ApiKey::InitProducerId)?;
                let request = InitProducerIdRequest::default()
                    .with_transactional_id(
                        self.transactional_id
                            .as_ref()
                            .map(|id| TransactionalId(StrBytes::from_string(id.clone()))),
                    )
                    .with_transaction_timeout_ms(timeout_ms)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
                let response = conn.request(&request, version).await?;
                Ok((
                    response.error_code,
                    (response.producer_id.0, response.producer_epoch),
                ))
            })
            .await;
        let mut inner = self.lock();
        match result {
            Ok((producer_id, producer_epoch)) => {
                inner.producer_id = producer_id;
                inner.producer_epoch = producer_epoch;
                inner.sequences.clear();
                inner.partitions.clear();
                self.transition(&mut inner, TransactionState::Ready)
            }
            Err(e) => {
                // Initialization may be tried again unless the error is fatal.
                if matches!(&e, ClientError::Kafka { code, .. } if is_fatal(code.0)) {
                    inner.state = TransactionState::FatalError;
                    inner.error = Some(e.clone());
                } else {
                    inner.state = TransactionState::Uninitialized;
                }
                Err(e)
            }
        }
    }

    /// Adds `partitions` to the open transaction (AddPartitionsToTxn); the
    /// producer's sender calls it before a partition's first batch.
    pub async fn add_partitions(
        &self,
        cluster: &Cluster,
        partitions: &[(String, i32)],
    ) -> Result<(), ClientError> {
        let Some(id) = self.transactional_id.clone() else {
            return Ok(());
        };
        if partitions.is_empty() {
            return Ok(());
        }
        let (producer_id, producer_epoch) = {
            let inner = self.lock();
            if let Some(e) = self.failed(&inner, TransactionState::InTransaction) {
                return Err(e);
            }
            (inner.producer_id, inner.producer_epoch)
        };
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (topic, partition) in partitions {
            match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                Some(t) => t.partitions.push(*partition),
                None => topics.push(
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.clone())))
                        .with_partitions(vec![*partition]),
                ),
            }
        }
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(id)))
            .with_v3_and_below_producer_id(ProducerId(producer_id))
            .with_v3_and_below_producer_epoch(producer_epoch)
            .with_v3_and_below_topics(topics);
        let request = &request;
        let result = self
            .with_coordinator(
                cluster,
                "add partitions to the transaction",
                |conn| async move {
                    let version = conn.version(ApiKey::AddPartitionsToTxn)?;
                    let response = conn.request(request, version).await?;
                    // The first error that is not "not attempted" speaks for all.
                    let mut code = 0;
                    for t in &response.results_by_topic_v3_and_below {
                        for p in &t.results_by_partition {
                            if p.partition_error_code != 0
                                && (code == 0 || code == codes::OPERATION_NOT_ATTEMPTED)
                            {
                                code = p.partition_error_code;
                            }
                        }
                    }
                    Ok((code, ()))
                },
            )
            .await;
        match result {
            Ok(()) => {
                let mut inner = self.lock();
                inner.partitions.extend(partitions.iter().cloned());
                Ok(())
            }
            Err(e) => {
                self.record_error(&e);
                Err(e)
            }
        }
    }

    /// Ends the open transaction: EndTxn commit or abort once every batch is
    /// acknowledged (the producer flushes first). A transaction that added
    /// no partition ends without a request. Back to Ready on success.
    pub async fn end(&self, cluster: &Cluster, commit: bool) -> Result<(), ClientError> {
        let (empty, producer_id, producer_epoch) = {
            let mut inner = self.lock();
            let to = if commit {
                TransactionState::CommittingTransaction
            } else {
                TransactionState::AbortingTransaction
            };
            self.transition(&mut inner, to)?;
            (
                inner.partitions.is_empty(),
                inner.producer_id,
                inner.producer_epoch,
            )
        };
        let result = if empty {
            Ok(())
        } else {
            let id = self.transactional_id.clone().unwrap_or_default();
            let request = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_committed(commit);
            let request = &request;
            let what = if commit {
                "commit the transaction"
            } else {
                "abort the transaction"
            };
            self.with_coordinator(cluster, what, |conn| async move {
                let version = conn.version(ApiKey::EndTxn)?;
                let response = conn.request(request, version).await?;
                Ok((response.error_code, ()))
            })
            .await
        };
        let mut inner = self.lock();
        match result {
            Ok(()) => {
                inner.partitions.clear();
                self.transition(&mut inner, TransactionState::Ready)
            }
            Err(e) => {
                let fatal = matches!(&e, ClientError::Kafka { code, .. } if is_fatal(code.0));
                // Not fenced: the outcome of a commit is unknown, so only an
                // abort may follow; an abort may be tried again.
                inner.state = if fatal {
                    TransactionState::FatalError
                } else {
                    TransactionState::AbortableError
                };
                inner.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Runs `op` on the coordinator (the transaction coordinator, or any
    /// broker for an idempotent producer's InitProducerId), finding it
    /// again and retrying on the errors of [`is_coordinator_retriable`] and
    /// lost connections. `op` returns the response's error code and value.
    async fn with_coordinator<T, F, Fut>(
        &self,
        cluster: &Cluster,
        what: &str,
        op: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<(i16, T), ClientError>>,
    {
        let context = match &self.transactional_id {
            Some(id) => format!("{what} (transactional id {id})"),
            None => what.to_string(),
        };
        let mut backoff = BACKOFF;
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let conn = match &self.transactional_id {
                Some(id) => self.coordinator(cluster, id, &context).await,
                None => cluster.any_connection().await,
            };
            let conn = match conn {
                Ok(conn) => conn,
                Err(e) if e.is_retriable() || is_coordinator_error(&e) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match op(conn).await {
                Ok((0, value)) => return Ok(value),
                Ok((code, _)) => {
                    if code == codes::NOT_COORDINATOR || code == codes::COORDINATOR_NOT_AVAILABLE {
                        self.lock().coordinator = None;
                    }
                    let e = ClientError::kafka(&context, code, None).expect("a non-zero code");
                    if is_coordinator_retriable(code) || (!is_fatal(code) && e.is_retriable()) {
                        tracing::debug!(%e, attempt, "retrying");
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
                Err(e) if e.is_retriable() => {
                    self.lock().coordinator = None;
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ClientError::Invalid(context)))
    }

    /// The connection to the transaction coordinator, found once and kept
    /// until it fails or moves.
    async fn coordinator(
        &self,
        cluster: &Cluster,
        transactional_id: &str,
        context: &str,
    ) -> Result<Arc<Connection>, ClientError> {
        let known = self.lock().coordinator.clone();
        if let Some(addr) = known {
            return cluster.connection_to_addr(&addr).await;
        }
        let conn = find_transaction_coordinator(cluster, transactional_id, context).await?;
        self.lock().coordinator = Some(conn.addr().to_string());
        Ok(conn)
    }
}

/// Whether `e` is a coordinator error answered by FindCoordinator.
fn is_coordinator_error(e: &ClientError) -> bool {
    matches!(e, ClientError::Kafka { code, .. } if is_coordinator_retriable(code.0))
}

/// The connection to the transaction coordinator of `transactional_id`
/// (FindCoordinator with key type 1), one attempt.
pub async fn find_transaction_coordinator(
    cluster: &Cluster,
    transactional_id: &str,
    context: &str,
) -> Result<Arc<Connection>, ClientError> {
    let conn = cluster.any_connection().await?;
    let version = conn.version(ApiKey::FindCoordinator)?;
    if version < 1 {
        // Key types came with v1: a v0 broker has no transactions.
        return Err(ClientError::Invalid(format!(
            "{context}: the broker's FindCoordinator v0 cannot look up a transactional id"
        )));
    }
    let addr = coordinator_addr(
        &conn,
        version,
        KEY_TYPE_TRANSACTION,
        transactional_id,
        &format!("{context}: find the transaction coordinator"),
    )
    .await?;
    cluster.connection_to_addr(&addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionState::*;

    const ALL: [TransactionState; 8] = [
        Uninitialized,
        Initializing,
        Ready,
        InTransaction,
        CommittingTransaction,
        AbortingTransaction,
        AbortableError,
        FatalError,
    ];

    #[test]
    fn state_transitions_follow_kafkas_table() {
        let allowed: Vec<(TransactionState, TransactionState)> = ALL
            .iter()
            .flat_map(|&from| ALL.iter().map(move |&to| (from, to)))
            .filter(|&(from, to)| from.can_become(to) && to != FatalError)
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Uninitialized, Initializing),
                (Initializing, Ready),
                (Ready, InTransaction),
                (InTransaction, CommittingTransaction),
                (InTransaction, AbortingTransaction),
                (InTransaction, AbortableError),
                (CommittingTransaction, Ready),
                (CommittingTransaction, AbortableError),
                (AbortingTransaction, Ready),
                (AbortingTransaction, AbortableError),
                (AbortableError, AbortingTransaction),
                (AbortableError, AbortableError),
            ]
        );
        assert!(ALL.iter().all(|s| s.can_become(FatalError)));
    }

    fn initialized(transactional: bool) -> TransactionManager {
        let id = transactional.then(|| "tx".to_string());
        let m = TransactionManager::new(id, Duration::from_secs(60));
        {
            let mut inner = m.lock();
            inner.state = Ready;
            inner.producer_id = 7;
            inner.producer_epoch = 3;
        }
        m
    }

    #[test]
    fn sequences_count_records_per_partition_from_zero() {
        let m = initialized(false);
        let s = |t: &str, p: i32, n: usize| m.stamp(t, p, n).expect("initialized");
        assert_eq!(s("a", 0, 5).base_sequence, 0);
        assert_eq!(s("a", 0, 3).base_sequence, 5);
        assert_eq!(s("a", 1, 2).base_sequence, 0);
        assert_eq!(s("b", 0, 1).base_sequence, 0);
        let stamp = s("a", 0, 1);
        assert_eq!(
            stamp,
            ProducerStamp {
                producer_id: 7,
                producer_epoch: 3,
                base_sequence: 8,
                transactional: false,
            }
        );
        assert!(
            initialized(true)
                .stamp("a", 0, 1)
                .expect("stamp")
                .transactional
        );
        let fresh = TransactionManager::new(None, Duration::from_secs(1));
        assert_eq!(fresh.stamp("a", 0, 1), None, "no producer id yet");
    }

    #[test]
    fn sequences_wrap_after_i32_max_as_kafka() {
        assert_eq!(increment_sequence(0, 5), 5);
        assert_eq!(increment_sequence(i32::MAX - 5, 5), i32::MAX);
        assert_eq!(increment_sequence(i32::MAX - 5, 6), 0);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 10), 8);
    }

    #[test]
    fn sending_needs_an_open_transaction() {
        let m = initialized(true);
        let err = m.check_can_send().expect_err("ready, not in a transaction");
        assert!(err.to_string().contains("begin_transaction"), "{err}");
        m.begin().expect("begin");
        m.check_can_send().expect("in a transaction");
        assert!(m.begin().is_err(), "no nested transactions");
        // An idempotent producer sends whenever it is not fenced.
        initialized(false).check_can_send().expect("idempotent");
        assert!(initialized(false).begin().is_err());
    }

    #[test]
    fn a_failed_batch_leaves_only_abort() {
        let m = initialized(true);
        m.begin().expect("begin");
        let e = ClientError::kafka("produce to t-0", 10, None).expect("MESSAGE_TOO_LARGE");
        m.record_error(&e);
        assert_eq!(m.state(), AbortableError);
        let err = m.check_can_send().expect_err("abortable");
        assert!(err.to_string().contains("MESSAGE_TOO_LARGE"), "{err}");
        let mut inner = m.lock();
        assert!(m.transition(&mut inner, CommittingTransaction).is_err());
        m.transition(&mut inner, AbortingTransaction)
            .expect("abort allowed");
    }

    #[test]
    fn fencing_is_fatal() {
        let m = initialized(true);
        m.begin().expect("begin");
        let e = ClientError::kafka("produce to t-0", codes::PRODUCER_FENCED, None).expect("e");
        m.record_error(&e);
        assert_eq!(m.state(), FatalError);
        let err = m.check_can_send().expect_err("fatal");
        assert!(err.to_string().contains("PRODUCER_FENCED"), "{err}");
        let mut inner = m.lock();
        assert!(m.transition(&mut inner, AbortingTransaction).is_err());
        // An idempotent producer is stopped by a fence too, not by other errors.
        let idem = initialized(false);
        idem.record_error(&ClientError::kafka("p", 10, None).expect("e"));
        assert_eq!(idem.state(), Ready);
        idem.record_error(
            &ClientError::kafka("p", codes::INVALID_PRODUCER_EPOCH, None).expect("e"),
        );
        assert_eq!(idem.state(), FatalError);
    }

    #[test]
    fn only_new_partitions_are_added() {
        let m = initialized(true);
        m.begin().expect("begin");
        m.lock().partitions.insert(("t".into(), 0));
        let parts = [("t".to_string(), 1), ("t".into(), 0), ("t".into(), 1)];
        assert_eq!(m.partitions_to_add(&parts), vec![("t".to_string(), 1)]);
        assert!(initialized(false).partitions_to_add(&parts).is_empty());
    }
}
