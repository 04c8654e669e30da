//! The log engine: Kafka's on-disk log format and its semantics.
//!
//! A data directory holds one folder per partition, `<topic>-<partition>/`,
//! with segments named by their 20-digit base offset
//! (`00000000000000000000.log`, `.index`, `.timeindex`) exactly as Apache
//! Kafka names them, and one human-readable `<topic>-0/topic.properties`
//! file per topic (partition count, topic id, configs).
//!
//! Parts, named after Kafka's log layer: [`segment::LogSegment`] (its entries read through
//! [`entry::EntryHeader`], v2 batches and legacy v0/v1 messages alike),
//! [`offset_index::OffsetIndex`], [`time_index::TimeIndex`],
//! [`partition_log::Log`], [`cleaner::LogCleaner`], [`config::LogConfig`],
//! [`data_dir::DataDir`], [`group_commit::GroupCommit`],
//! [`dir_failure::LogDirFailureChannel`], [`producer_state::ProducerStateManager`],
//! [`txn_index::TransactionIndex`], [`leader_epoch::LeaderEpochFileCache`],
//! [`validator`] (LogValidator), and
//! [`fd_cache`] for the descriptors of inactive segments.

pub mod cleaner;
pub mod config;
pub mod data_dir;
pub mod dir_failure;
pub mod entry;
pub mod error;
mod fail_points;
pub mod fd_cache;
pub mod group_commit;
mod index_file;
pub mod leader_epoch;
pub mod offset_index;
pub mod partition_log;
pub mod producer_state;
pub mod segment;
pub mod time_index;
pub mod txn_index;
pub mod validator;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod txn_tests;

pub use cleaner::{CleanOptions, CleanStats, LogCleaner};
pub use config::{ConfigEntry, ConfigSource, LogConfig};
pub use data_dir::{DataDir, TopicMeta};
pub use dir_failure::LogDirFailureChannel;
pub use error::LogError;
pub use group_commit::GroupCommit;
pub use partition_log::{AppendInfo, Log, LogOpenOptions, ReadSlice, RecoveryReport};
