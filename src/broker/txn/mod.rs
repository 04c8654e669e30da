//! The transaction coordinator (KIP-98, KIP-360, server side of KIP-890
//! part 1): transactional ids, their producer ids and epochs, and their
//! transactions, kept in the internal compacted topic `__transaction_state`
//! in Kafka's record schemas; commit/abort markers written through a
//! [`TxnMarkerWriter`] the broker provides.
//!
//! Parts: [`coordinator`] (the requests, loading, timeouts and expiry),
//! [`state`] (one transactional id's state and its transitions),
//! [`schema`] (record formats), [`markers`] (the marker writer interface),
//! [`config`]. Storage is the group coordinator's
//! [`crate::broker::group::OffsetsStore`] / [`crate::broker::group::LogStore`]
//! opened on `__transaction_state`.
//!
//! Wiring (the broker's side): read a [`TxnConfig`] from the broker props
//! with [`TxnConfig::set`] (set `offsets_topic_num_partitions` to the
//! existing `__consumer_offsets` count); create `__transaction_state` if
//! missing with `state_log_num_partitions` partitions and
//! [`TxnConfig::topic_configs`]; build a
//! [`crate::broker::group::LogStore`] over its partitions; then
//! [`TransactionCoordinator::new`] with the marker writer, the durable
//! producer id allocator and a partition lookup,
//! [`TransactionCoordinator::load`] (answers COORDINATOR_LOAD_IN_PROGRESS
//! until done) and [`TransactionCoordinator::start`] inside the runtime.
//! [`TransactionCoordinator::versions`] lists the API versions to advertise.

pub mod config;
pub mod coordinator;
pub mod markers;
pub mod schema;
pub mod state;

pub use config::TxnConfig;
pub use coordinator::{ProducerIdSource, TRANSACTION_STATE_TOPIC, TransactionCoordinator};
pub use markers::{BoxFuture, MarkerResult, TxnMarkerWriter};
pub use state::{TransactionMetadata, TransactionState};
