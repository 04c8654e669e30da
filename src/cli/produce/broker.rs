//! Producing to a Kafka cluster with the library's [`Producer`]: records
//! are handed over as fast as it batches them (linger, compression, several
//! requests in flight, retries); delivery is checked on a sample of records
//! as it goes and on all of them at the end.
//!
//! With a transactional id the load is one transaction: the producer is
//! initialized and the transaction begun before the first record, committed
//! by [`Sink::finish`], aborted by [`Sink::abort`] after an error, or by
//! the Ctrl-C handler, which then ends the process (the input may be a
//! terminal or a pipe that never ends).

use super::{Sink, SinkConfig};
use crate::cli::broker::BrokerBackend;
use crate::client::{Acks, DeliveryHandle, Producer, ProducerConfig, RecordRef, TransactionState};
use anyhow::Context;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Every this many records, the delivery of one is watched.
const WATCH_EVERY: u64 = 1024;

/// Watched deliveries pending at most: beyond, `push` waits for the oldest,
/// so at most about `WATCH_EVERY * WATCHED` records are unacknowledged and
/// a failing broker stops the input soon.
const WATCHED: usize = 64;

/// Records buffered in the producer before `send` waits (`buffer.memory`).
const BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// Smallest Produce request size limit (`max.request.size`).
const MIN_REQUEST_BYTES: usize = 1024 * 1024;

/// The transaction a load runs in.
pub(super) struct Transaction {
    /// `transactional.id`.
    pub(super) id: String,
    /// `transaction.timeout.ms`.
    pub(super) timeout: Duration,
}

/// Writes records to a Kafka cluster.
pub(super) struct BrokerSink<'a> {
    broker: &'a BrokerBackend,
    producer: Arc<Producer>,
    config: SinkConfig,
    watched: VecDeque<DeliveryHandle>,
    sent: u64,
    /// Set by the Ctrl-C handler of a transactional load, which aborts the
    /// transaction and ends the process: errors seen meanwhile are its doing.
    interrupted: Arc<AtomicBool>,
}

impl<'a> BrokerSink<'a> {
    /// A sink sending with these acks and linger.
    pub(super) fn new(
        broker: &'a BrokerBackend,
        config: SinkConfig,
        acks: Acks,
        linger: Duration,
        transaction: Option<Transaction>,
    ) -> anyhow::Result<Self> {
        let transactional = transaction.is_some();
        if transactional && acks != Acks::All {
            anyhow::bail!(
                "--transactional-id needs --acks all (as Kafka's transactional producer)"
            );
        }
        let producer_config = ProducerConfig {
            acks,
            linger,
            batch_size: config.batch_bytes,
            compression: config.compression,
            buffer_memory: BUFFER_BYTES,
            max_request_size: config.batch_bytes.max(MIN_REQUEST_BYTES),
            transactional_id: transaction.as_ref().map(|t| t.id.clone()),
            transaction_timeout: transaction
                .as_ref()
                .map_or(Duration::from_secs(60), |t| t.timeout),
            ..ProducerConfig::default()
        };
        // The producer starts its sender task on the runtime.
        let producer =
            Arc::new(broker.block_on(async { broker.client().producer(producer_config) }));
        let interrupted = Arc::new(AtomicBool::new(false));
        if transactional {
            broker
                .block_on(producer.init_transactions())
                .context("cannot start the transaction")?;
            producer.begin_transaction()?;
            abort_on_ctrl_c(broker, &producer, &interrupted)?;
        }
        Ok(BrokerSink {
            broker,
            producer,
            config,
            watched: VecDeque::with_capacity(WATCHED + 1),
            sent: 0,
            interrupted,
        })
    }

    /// While the Ctrl-C handler aborts the transaction, this thread waits
    /// for it to end the process rather than report the errors it causes.
    fn park_if_interrupted(&self) {
        while self.interrupted.load(Ordering::SeqCst) {
            std::thread::park_timeout(Duration::from_secs(1));
        }
    }
}

/// Installs the Ctrl-C handler of a transactional load: it aborts the
/// transaction and exits with status 1, unless the commit has begun (then
/// the load ends as the commit does).
fn abort_on_ctrl_c(
    broker: &BrokerBackend,
    producer: &Arc<Producer>,
    interrupted: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let (handle, producer, interrupted) = (
        broker.handle(),
        Arc::clone(producer),
        Arc::clone(interrupted),
    );
    ctrlc::set_handler(move || {
        let state = producer.transaction_manager().map(|t| t.state());
        if matches!(
            state,
            Some(TransactionState::CommittingTransaction | TransactionState::Ready)
        ) {
            return;
        }
        interrupted.store(true, Ordering::SeqCst);
        match handle.block_on(producer.abort_transaction()) {
            Ok(()) => eprintln!(
                "runnel: interrupted: transaction aborted; none of its records is visible to read_committed consumers"
            ),
            Err(e) => {
                let state = producer.transaction_manager().map(|t| t.state());
                if matches!(
                    state,
                    Some(TransactionState::CommittingTransaction | TransactionState::Ready)
                ) {
                    // The commit won the race: let it finish.
                    interrupted.store(false, Ordering::SeqCst);
                    return;
                }
                eprintln!("runnel: interrupted: the transaction could not be aborted ({e}); the broker aborts it after --transaction-timeout-ms");
            }
        }
        std::process::exit(crate::cli::EXIT_FAILURE);
    })
    .context("cannot install the Ctrl-C handler")
}

impl Sink for BrokerSink<'_> {
    /// Hands the record to the producer (waiting only while its buffer is
    /// full, or for a watched delivery).
    fn push(
        &mut self,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        _size: usize,
    ) -> anyhow::Result<()> {
        let record = RecordRef {
            topic: &self.config.topic,
            partition: Some(partition),
            key,
            value,
            headers: &self.config.headers,
            timestamp: None,
        };
        self.sent += 1;
        let watch = self.sent.is_multiple_of(WATCH_EVERY);
        // The fast path: no handle, no waiting, nothing copied but into the batch.
        let queued = !watch
            && self
                .producer
                .try_queue(&record)
                .inspect_err(|_| self.park_if_interrupted())?;
        if queued {
            return Ok(());
        }
        let sent = self.broker.block_on(self.producer.send_ref(record));
        let handle = sent.inspect_err(|_| self.park_if_interrupted())?;
        if watch {
            self.watched.push_back(handle);
            if self.watched.len() > WATCHED
                && let Some(oldest) = self.watched.pop_front()
            {
                let delivered = self.broker.block_on(oldest.wait());
                delivered.inspect_err(|_| self.park_if_interrupted())?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered and waits for every acknowledgement; the
    /// first failed delivery is the error.
    fn finish(&mut self) -> anyhow::Result<()> {
        let flushed = self.broker.block_on(self.producer.flush());
        flushed.inspect_err(|_| self.park_if_interrupted())?;
        for handle in self.watched.drain(..) {
            self.broker.block_on(handle.wait())?;
        }
        if self.producer.transaction_manager().is_some() {
            let committed = self.broker.block_on(self.producer.commit_transaction());
            committed
                .inspect_err(|_| self.park_if_interrupted())
                .context("cannot commit the transaction")?;
        }
        Ok(())
    }

    /// Aborts the transaction (after an error of the load).
    fn abort(&mut self) -> anyhow::Result<()> {
        self.park_if_interrupted();
        if self.producer.transaction_manager().is_some() {
            self.broker
                .block_on(self.producer.abort_transaction())
                .context("cannot abort the transaction")?;
        }
        Ok(())
    }
}
