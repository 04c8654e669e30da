//! The seam between the client subcommands and where the data lives: a data
//! directory (direct mode) or a Kafka broker. Option handling, partitioning
//! and output are shared, so both modes behave and print the same.

use super::broker::BrokerBackend;
use super::connect::Access;
use super::direct::DirectBackend;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A topic as `topics list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicListing {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
}

/// One partition as `topics describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionState {
    /// Partition index.
    pub partition: i32,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offset the next record will get.
    pub log_end_offset: i64,
    /// Bytes on disk, if known.
    pub size_bytes: Option<u64>,
    /// Number of segments, if known.
    pub segments: Option<u64>,
    /// Whether the partition is offline on the broker (its log could not
    /// be opened; offsets are then -1). Listed in JSON only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

/// A topic as `topics describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Topic id, if known.
    pub id: Option<String>,
    /// Partitions in order.
    pub partitions: Vec<PartitionState>,
    /// Configs set on the topic (defaults are not listed).
    pub configs: BTreeMap<String, String>,
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; `None` for the default.
    pub partitions: Option<i32>,
    /// Replication factor; `None` for the default.
    pub replication_factor: Option<i16>,
    /// Configs to set.
    pub configs: BTreeMap<String, String>,
}

/// The topic operations of `runnel topics`, which both modes implement;
/// `produce` and `consume` also ask it for partition counts and limits.
pub trait TopicStore {
    /// Creates a topic.
    fn create_topic(&mut self, topic: &NewTopic) -> anyhow::Result<()>;

    /// Lists topics, in any order.
    fn list_topics(&mut self) -> anyhow::Result<Vec<TopicListing>>;

    /// Describes one topic.
    fn describe_topic(&mut self, name: &str) -> anyhow::Result<TopicDescription>;

    /// Sets and removes topic configs.
    fn alter_topic(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> anyhow::Result<()>;

    /// Deletes a topic.
    fn delete_topic(&mut self, name: &str) -> anyhow::Result<()>;

    /// Number of partitions of a topic (an error if it does not exist).
    fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32>;

    /// The largest record batch the topic accepts (`max.message.bytes`), if known.
    fn max_batch_bytes(&mut self, topic: &str) -> anyhow::Result<Option<usize>>;
}

/// Where the client subcommands read and write. `topics` works on either
/// through [`TopicStore`]; `produce` and `consume` match on the mode, since a
/// data directory is written through the log engine and a broker through
/// the Kafka client.
pub enum Backend {
    /// A data directory.
    Direct(DirectBackend),
    /// A Kafka broker.
    Broker(BrokerBackend),
}

impl Backend {
    /// Opens a data directory; `Access::Write` locks it.
    pub fn direct(dir: &Path, access: Access) -> anyhow::Result<Backend> {
        Ok(Backend::Direct(DirectBackend::open(dir, access)?))
    }

    /// Connects to a broker (`HOST:PORT[,...]`).
    pub fn broker(brokers: &str) -> anyhow::Result<Backend> {
        Ok(Backend::Broker(BrokerBackend::connect(brokers)?))
    }

    /// The topic operations.
    pub fn topics(&mut self) -> &mut dyn TopicStore {
        match self {
            Backend::Direct(d) => d,
            Backend::Broker(b) => b,
        }
    }

    /// Finishes cleanly: closes what is open (a data directory gets its
    /// clean-shutdown marker).
    pub fn close(self) -> anyhow::Result<()> {
        match self {
            Backend::Direct(d) => d.close(),
            Backend::Broker(_) => Ok(()),
        }
    }
}
