//! Producing to a Kafka cluster with the library's [`Producer`]: records
//! are handed over as fast as it batches them (linger, compression, several
//! requests in flight, retries); delivery is checked on a sample of records
//! as it goes and on all of them at the end.

use super::{Sink, SinkConfig};
use crate::cli::broker::BrokerBackend;
use crate::client::{Acks, DeliveryHandle, Producer, ProducerConfig, RecordRef};
use std::collections::VecDeque;
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

/// Writes records to a Kafka cluster.
pub(super) struct BrokerSink<'a> {
    broker: &'a BrokerBackend,
    producer: Producer,
    config: SinkConfig,
    watched: VecDeque<DeliveryHandle>,
    sent: u64,
}

impl<'a> BrokerSink<'a> {
    /// A sink sending with these acks and linger.
    pub(super) fn new(
        broker: &'a BrokerBackend,
        config: SinkConfig,
        acks: Acks,
        linger: Duration,
    ) -> Self {
        let producer_config = ProducerConfig {
            acks,
            linger,
            batch_size: config.batch_bytes,
            compression: config.compression,
            buffer_memory: BUFFER_BYTES,
            max_request_size: config.batch_bytes.max(MIN_REQUEST_BYTES),
            ..ProducerConfig::default()
        };
        // The producer starts its sender task on the runtime.
        let producer = broker.block_on(async { broker.client().producer(producer_config) });
        BrokerSink {
            broker,
            producer,
            config,
            watched: VecDeque::with_capacity(WATCHED + 1),
            sent: 0,
        }
    }
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
        if !watch && self.producer.try_queue(&record)? {
            return Ok(());
        }
        let handle = self.broker.block_on(self.producer.send_ref(record))?;
        if watch {
            self.watched.push_back(handle);
            if self.watched.len() > WATCHED
                && let Some(oldest) = self.watched.pop_front()
            {
                self.broker.block_on(oldest.wait())?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered and waits for every acknowledgement; the
    /// first failed delivery is the error.
    fn finish(&mut self) -> anyhow::Result<()> {
        self.broker.block_on(self.producer.flush())?;
        for handle in self.watched.drain(..) {
            self.broker.block_on(handle.wait())?;
        }
        Ok(())
    }
}
