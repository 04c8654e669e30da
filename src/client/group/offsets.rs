//! Committed offsets of a group: OffsetFetch and OffsetCommit against the
//! group's coordinator, used by both the group member and the admin tools.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::protocol::TopicPartitions;
use super::versions::group_version;
use crate::client::connection::Connection;
use crate::client::error::ClientError;

/// A committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset of the next record to consume.
    pub offset: i64,
    /// The metadata string committed with it.
    pub metadata: Option<String>,
}

/// (topic, partition) → committed offset.
pub type CommittedOffsets = BTreeMap<(String, i32), CommittedOffset>;

/// An offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The offset of the next record to consume.
    pub offset: i64,
}

/// Who commits: a member of the current generation, or nobody (the admin
/// tools and "simple" consumers: generation -1, empty member id, which the
/// coordinator accepts only while the group has no members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committer {
    /// Generation id (-1: none).
    pub generation_id: i32,
    /// Member id ("" when none).
    pub member_id: String,
    /// `group.instance.id`, if static.
    pub instance_id: Option<String>,
}

impl Committer {
    /// A commit outside any generation (generation -1, no member).
    pub fn simple() -> Self {
        Committer {
            generation_id: -1,
            member_id: String::new(),
            instance_id: None,
        }
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// The committed offsets of `group` for `partitions` (`None`: every
/// partition the group has an offset for). Partitions without a committed
/// offset are left out.
pub async fn fetch_committed(
    conn: &Connection,
    group: &str,
    partitions: Option<&TopicPartitions>,
) -> Result<CommittedOffsets, ClientError> {
    let version = group_version(conn, ApiKey::OffsetFetch)?;
    if partitions.is_none() && version < 2 {
        return Err(ClientError::Invalid(format!(
            "broker {} cannot list all committed offsets (OffsetFetch v{version})",
            conn.addr()
        )));
    }
    let context = format!("fetch committed offsets of group {group}");
    let mut request = OffsetFetchRequest::default();
    if version >= 8 {
        let topics = partitions.map(|map| {
            map.iter()
                .map(|(t, p)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(p.clone())
                })
                .collect()
        });
        request.groups = vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(str_bytes(group)))
                .with_topics(topics),
        ];
    } else {
        request.group_id = GroupId(str_bytes(group));
        request.topics = partitions.map(|map| {
            map.iter()
                .map(|(t, p)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(p.clone())
                })
                .collect()
        });
    }
    let response = conn.request(&request, version).await?;
    let mut out = CommittedOffsets::new();
    let mut record = |topic: &str,
                      partition: i32,
                      offset: i64,
                      metadata: Option<&StrBytes>,
                      code: i16|
     -> Result<(), ClientError> {
        let context = format!("{context} ({topic}-{partition})");
        if let Some(e) = ClientError::kafka(context, code, None) {
            return Err(e);
        }
        if offset >= 0 {
            out.insert(
                (topic.to_string(), partition),
                CommittedOffset {
                    offset,
                    metadata: metadata.map(|m| m.to_string()).filter(|m| !m.is_empty()),
                },
            );
        }
        Ok(())
    };
    if version >= 8 {
        let Some(g) = response.groups.into_iter().next() else {
            return Err(ClientError::Protocol {
                addr: conn.addr().to_string(),
                message: format!("{context}: the response has no group"),
            });
        };
        if let Some(e) = ClientError::kafka(&context, g.error_code, None) {
            return Err(e);
        }
        for t in &g.topics {
            for p in &t.partitions {
                let (offset, meta) = (p.committed_offset, p.metadata.as_ref());
                record(&t.name.0, p.partition_index, offset, meta, p.error_code)?;
            }
        }
    } else {
        if let Some(e) = ClientError::kafka(&context, response.error_code, None) {
            return Err(e);
        }
        for t in &response.topics {
            for p in &t.partitions {
                let (offset, meta) = (p.committed_offset, p.metadata.as_ref());
                record(&t.name.0, p.partition_index, offset, meta, p.error_code)?;
            }
        }
    }
    Ok(out)
}

/// Commits `offsets` for `group` as `committer`. The first partition-level
/// error is returned (Kafka's code for it, e.g. ILLEGAL_GENERATION).
pub async fn commit(
    conn: &Connection,
    group: &str,
    committer: &Committer,
    offsets: &[OffsetToCommit],
) -> Result<(), ClientError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let version = group_version(conn, ApiKey::OffsetCommit)?;
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for o in offsets {
        if o.offset < 0 {
            return Err(ClientError::Invalid(format!(
                "cannot commit offset {} for {}-{}: offsets are not negative",
                o.offset, o.topic, o.partition
            )));
        }
        by_topic.entry(&o.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset),
        );
    }
    let mut request = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(committer.generation_id)
        .with_member_id(str_bytes(&committer.member_id))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    if version >= 7 {
        request.group_instance_id = committer.instance_id.as_deref().map(str_bytes);
    }
    let response = conn.request(&request, version).await?;
    for t in &response.topics {
        for p in &t.partitions {
            let context = format!(
                "commit offsets of group {group} for {}-{}",
                t.name.0, p.partition_index
            );
            if let Some(e) = ClientError::kafka(context, p.error_code, None) {
                return Err(e);
            }
        }
    }
    Ok(())
}
