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

pub mod config;
pub mod coordinator;
pub mod markers;
pub mod schema;
pub mod state;

pub use config::TxnConfig;
pub use coordinator::{ProducerIdSource, TRANSACTION_STATE_TOPIC, TransactionCoordinator};
pub use markers::{BoxFuture, MarkerResult, TxnMarkerWriter};
pub use state::{TransactionMetadata, TransactionState};
