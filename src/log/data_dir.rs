//! A data directory: its lock, its topics' metadata files and their partition logs.

use std::collections::BTreeMap;

/// One topic's metadata, kept in `<data-dir>/<topic>.properties`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMeta {
    /// Topic name.
    pub name: String,
    /// Topic id (a UUID, as Kafka's).
    pub id: uuid::Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Configs set on the topic (only those set; defaults are not listed).
    pub configs: BTreeMap<String, String>,
}

/// An open data directory.
pub struct DataDir {}
