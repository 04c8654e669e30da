//! A Kafka client on the `kafka-protocol` crate's messages, async on tokio.
//! It works against `runnel serve` and any Kafka-protocol cluster: requests
//! go to each partition's leader, versions are negotiated per broker.
//!
//! Start with [`Client::connect`]; from it come an [`Admin`] for topics, a
//! [`Producer`] (idempotent with `enable_idempotence`, transactional with a
//! `transactional_id`: [`Producer::init_transactions`],
//! [`Producer::begin_transaction`], [`Producer::commit_transaction`]) and a
//! [`Consumer`] (`isolation_level` 1 reads committed records only):
//!
//! ```no_run
//! # async fn demo() -> Result<(), runnel::client::ClientError> {
//! use runnel::client::*;
//! let client = Client::connect("127.0.0.1:9092").await?;
//! client.admin().create_topic("events", 3, 1, &[]).await?;
//! let producer = client.producer(ProducerConfig::default());
//! let handle = producer
//!     .send(ProducerRecord {
//!         topic: "events".into(),
//!         key: Some("k".into()),
//!         value: Some("v".into()),
//!         ..Default::default()
//!     })
//!     .await?;
//! producer.flush().await?;
//! let written = handle.wait().await?;
//! let mut consumer = client.consumer(ConsumerConfig::default());
//! consumer.assign("events", None, OffsetSpec::Earliest).await?;
//! while !consumer.at_end() {
//!     for r in consumer.poll().await? {
//!         println!("{}-{}@{}", r.topic, r.partition, r.record.offset);
//!     }
//! }
//! # let _ = written; Ok(()) }
//! ```

pub mod accumulator;
pub mod admin;
pub mod cluster;
pub mod completed_fetch;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod group;
pub mod offsets;
pub mod producer;
pub mod quotas;
pub mod throttle;
pub mod transaction;
pub mod versions;

use std::sync::Arc;

pub use admin::{Admin, ConfigEntry, PartitionDescription, TopicDescription, TopicSummary};
pub use cluster::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
pub use connection::{Connection, ConnectionConfig, PendingResponse};
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetSpec, PartitionPosition};
pub use error::{ClientError, KafkaCode};
pub use producer::{
    Acks, DeliveryHandle, Producer, ProducerConfig, ProducerRecord, RecordMetadata, RecordRef,
};
pub use transaction::{TransactionManager, TransactionState};

/// A connection to a Kafka cluster; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    cluster: Arc<Cluster>,
}

impl Client {
    /// Bootstraps from `host:port[,host:port...]` with default settings.
    pub async fn connect(brokers: &str) -> Result<Self, ClientError> {
        Self::connect_with(brokers, ConnectionConfig::default()).await
    }

    /// Bootstraps with explicit connection settings (client id, timeouts).
    pub async fn connect_with(
        brokers: &str,
        config: ConnectionConfig,
    ) -> Result<Self, ClientError> {
        Ok(Client {
            cluster: Cluster::connect(brokers, config).await?,
        })
    }

    /// The shared cluster view (metadata cache and connections).
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Topic administration.
    pub fn admin(&self) -> Admin {
        Admin::new(self.cluster.clone())
    }

    /// A producer (starts its sender task on the current runtime).
    pub fn producer(&self, config: ProducerConfig) -> Producer {
        Producer::new(self.cluster.clone(), config)
    }

    /// A consumer with nothing assigned yet.
    pub fn consumer(&self, config: ConsumerConfig) -> Consumer {
        Consumer::new(self.cluster.clone(), config)
    }
}
