//! The seam between the client subcommands and where the data lives: a data
//! directory (direct mode) or a Kafka broker. Both implement the same few
//! operations, so option handling and output are shared and identical.

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

/// What a fetch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Whole batches were put in the buffer, the first one holding the offset asked for.
    Batches,
    /// Nothing at that offset yet (the log end).
    AtEnd,
    /// The offset is outside the log; `start` and `end` are its bounds.
    OutOfRange {
        /// Log start offset.
        start: i64,
        /// Log end offset.
        end: i64,
    },
}

/// Where the client subcommands read and write.
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
        Ok(Backend::Broker(BrokerBackend::connect(brokers, -1)?))
    }

    /// Sets the acknowledgements produce waits for (broker mode; a data
    /// directory is always synced).
    pub fn set_acks(&mut self, acks: i16) {
        if let Backend::Broker(b) = self {
            b.set_acks(acks);
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

    /// Creates a topic.
    pub fn create_topic(&mut self, topic: &NewTopic) -> anyhow::Result<()> {
        match self {
            Backend::Direct(d) => d.create_topic(topic),
            Backend::Broker(b) => b.create_topic(topic),
        }
    }

    /// Lists topics, sorted by name.
    pub fn list_topics(&mut self) -> anyhow::Result<Vec<TopicListing>> {
        match self {
            Backend::Direct(d) => d.list_topics(),
            Backend::Broker(b) => b.list_topics(),
        }
    }

    /// Describes one topic.
    pub fn describe_topic(&mut self, name: &str) -> anyhow::Result<TopicDescription> {
        match self {
            Backend::Direct(d) => d.describe_topic(name),
            Backend::Broker(b) => b.describe_topic(name),
        }
    }

    /// Sets and removes topic configs.
    pub fn alter_topic(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> anyhow::Result<()> {
        match self {
            Backend::Direct(d) => d.alter_topic(name, set, delete),
            Backend::Broker(b) => b.alter_topic(name, set, delete),
        }
    }

    /// Deletes a topic.
    pub fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct(d) => d.delete_topic(name),
            Backend::Broker(b) => b.delete_topic(name),
        }
    }

    /// Number of partitions of a topic (an error if it does not exist).
    pub fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32> {
        match self {
            Backend::Direct(d) => d.partition_count(topic),
            Backend::Broker(b) => b.partition_count(topic),
        }
    }

    /// The largest record batch the topic accepts (`max.message.bytes`), if known.
    pub fn max_batch_bytes(&mut self, topic: &str) -> anyhow::Result<Option<usize>> {
        match self {
            Backend::Direct(d) => d.max_batch_bytes(topic),
            Backend::Broker(_) => Ok(None),
        }
    }

    /// Appends one encoded record batch to a partition.
    pub fn append(&mut self, topic: &str, partition: i32, batch: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Backend::Direct(d) => d.append(topic, partition, batch),
            Backend::Broker(b) => b.append(topic, partition, batch),
        }
    }

    /// Waits until everything appended is durable (direct: fdatasync) or
    /// acknowledged (broker).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Backend::Direct(d) => d.flush(),
            Backend::Broker(_) => Ok(()),
        }
    }

    /// Log start and end offsets of a partition.
    pub fn offsets(&mut self, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
        match self {
            Backend::Direct(d) => d.offsets(topic, partition),
            Backend::Broker(b) => b.offsets(topic, partition),
        }
    }

    /// The first offset with a timestamp >= `timestamp`; `None` if none is that late.
    pub fn offset_for_timestamp(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> anyhow::Result<Option<i64>> {
        match self {
            Backend::Direct(d) => d.offset_for_timestamp(topic, partition, timestamp),
            Backend::Broker(b) => b.offset_for_timestamp(topic, partition, timestamp),
        }
    }

    /// Fills `buf` with whole batches from the one holding `offset`, about
    /// `max_bytes` (at least one batch).
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        buf: &mut Vec<u8>,
    ) -> anyhow::Result<Fetched> {
        match self {
            Backend::Direct(d) => d.fetch(topic, partition, offset, max_bytes, buf),
            Backend::Broker(b) => b.fetch(topic, partition, offset, max_bytes, buf),
        }
    }
}
