//! Consumer group administration, as `kafka-consumer-groups.sh` does it:
//! list groups, describe a group (members, assignments, committed offsets,
//! log end offsets, lag), reset a group's offsets (a dry-run plan unless
//! executed), delete a group.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::coordinator::{codes, with_coordinator};
use super::offsets::{CommittedOffsets, Committer, OffsetToCommit, commit, fetch_committed};
use super::protocol::{Assignment, CONSUMER_PROTOCOL_TYPE, TopicPartitions};
use super::versions::group_version;
use crate::client::cluster::Cluster;
use crate::client::error::ClientError;
use crate::client::offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListedOffset, list_offsets};

/// A group in the group list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type, `consumer` for consumer groups ("" for groups that
    /// only commit offsets).
    pub protocol_type: String,
    /// State (Stable, Empty, PreparingRebalance...), if the broker tells (ListGroups v4+).
    pub state: Option<String>,
    /// The broker coordinating the group.
    pub coordinator: i32,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub host: String,
    /// Assigned partitions (decoded for consumer groups).
    pub assignment: TopicPartitions,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State: Stable, Empty, PreparingRebalance, CompletingRebalance, Dead.
    pub state: String,
    /// Protocol type (`consumer`).
    pub protocol_type: String,
    /// The assignor in use (`range`, `roundrobin`, ...), "" when none.
    pub protocol: String,
    /// Members, sorted by member id.
    pub members: Vec<MemberDescription>,
}

impl GroupDescription {
    /// Whether the group has no active member, so its offsets may be reset
    /// or it may be deleted (Kafka's Empty and Dead states).
    pub fn is_inactive(&self) -> bool {
        matches!(self.state.as_str(), "Empty" | "Dead")
    }

    /// The member that owns `topic`-`partition`, if any.
    pub fn owner(&self, topic: &str, partition: i32) -> Option<&MemberDescription> {
        self.members.iter().find(|m| {
            m.assignment
                .get(topic)
                .is_some_and(|parts| parts.contains(&partition))
        })
    }
}

/// One partition of a group's offsets, as `kafka-consumer-groups.sh
/// --describe` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The group's committed offset (`None`: none committed).
    pub current_offset: Option<i64>,
    /// The partition's log end offset (`None`: the topic is gone).
    pub log_end_offset: Option<i64>,
    /// Log end offset minus committed offset, when both are known.
    pub lag: Option<i64>,
    /// The member consuming the partition, if any.
    pub member_id: Option<String>,
    /// That member's client id.
    pub client_id: Option<String>,
    /// That member's host.
    pub host: Option<String>,
}

/// A group with the offsets and lag of every partition it consumes or has
/// committed offsets for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupOffsets {
    /// The group's state and members.
    pub group: GroupDescription,
    /// Partitions sorted by topic and partition.
    pub partitions: Vec<PartitionLag>,
}

/// Where `reset_offsets` moves a group (kafka-consumer-groups.sh's
/// `--to-earliest`, `--to-latest`, `--to-offset`, `--to-datetime`, `--shift-by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// This offset, moved into the log's range if outside it.
    Offset(i64),
    /// The first offset with a timestamp at or after this (ms since the
    /// epoch); the log end where there is none.
    Datetime(i64),
    /// The committed offset plus this (may be negative), moved into the log's range.
    ShiftBy(i64),
}

/// The new offset planned for a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset now (`None`: none).
    pub current_offset: Option<i64>,
    /// The offset the group is (or would be) moved to.
    pub new_offset: i64,
}

/// Consumer group administration against a cluster.
#[derive(Debug, Clone)]
pub struct GroupAdmin {
    cluster: Arc<Cluster>,
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn offset_of(list: &[ListedOffset], partition: i32) -> Option<i64> {
    list.iter()
        .find(|o| o.partition == partition)
        .map(|o| o.offset)
}

impl GroupAdmin {
    /// Group administration on `cluster`.
    pub fn new(cluster: Arc<Cluster>) -> Self {
        GroupAdmin { cluster }
    }

    /// Every group of the cluster (ListGroups to every broker), sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        self.cluster.fetch_metadata(Some(&[]), false).await?;
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        for broker in self.cluster.brokers() {
            let conn = self.cluster.connection(broker.node_id).await?;
            let version = group_version(&conn, ApiKey::ListGroups)?;
            let response = conn.request(&ListGroupsRequest::default(), version).await?;
            let context = format!("list groups on broker {}", broker.node_id);
            if let Some(e) = ClientError::kafka(context, response.error_code, None) {
                return Err(e);
            }
            for g in response.groups {
                groups.insert(
                    g.group_id.0.to_string(),
                    GroupListing {
                        group_id: g.group_id.0.to_string(),
                        protocol_type: g.protocol_type.to_string(),
                        state: (version >= 4).then(|| g.group_state.to_string()),
                        coordinator: broker.node_id,
                    },
                );
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Describes `group`: state, assignor, members with their assignments.
    /// A group the coordinator does not know is reported in state `Dead`
    /// (as Kafka does) with no members.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, ClientError> {
        let context = format!("describe group {group}");
        let described = with_coordinator(&self.cluster, group, |conn| async move {
            let version = group_version(&conn, ApiKey::DescribeGroups)?;
            let request =
                DescribeGroupsRequest::default().with_groups(vec![GroupId(str_bytes(group))]);
            let response = conn.request(&request, version).await?;
            response
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::Protocol {
                    addr: conn.addr().to_string(),
                    message: format!("describe group {group}: the response has no group"),
                })
        })
        .await?;
        if described.error_code == codes::GROUP_ID_NOT_FOUND {
            return Ok(GroupDescription {
                group_id: group.to_string(),
                state: "Dead".to_string(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        }
        let message = described.error_message.as_deref();
        if let Some(e) = ClientError::kafka(&context, described.error_code, message) {
            return Err(e);
        }
        let consumer_group = described.protocol_type.is_empty()
            || described.protocol_type.as_str() == CONSUMER_PROTOCOL_TYPE;
        let mut members: Vec<MemberDescription> = described
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: if consumer_group {
                    Assignment::decode(&m.member_assignment)
                        .map(|a| a.partitions)
                        .unwrap_or_default()
                } else {
                    TopicPartitions::new()
                },
            })
            .collect();
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Ok(GroupDescription {
            group_id: described.group_id.0.to_string(),
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members,
        })
    }

    /// Every offset `group` has committed.
    pub async fn committed_offsets(&self, group: &str) -> Result<CommittedOffsets, ClientError> {
        with_coordinator(&self.cluster, group, |conn| async move {
            fetch_committed(&conn, group, None).await
        })
        .await
    }

    /// Describes `group` with the committed offset, log end offset and lag
    /// of every partition it is assigned or has committed offsets for.
    /// An unknown group (no members, no offsets) is GROUP_ID_NOT_FOUND.
    pub async fn describe_offsets(&self, group: &str) -> Result<GroupOffsets, ClientError> {
        let description = self.describe_group(group).await?;
        let committed = self.committed_offsets(group).await?;
        if description.state == "Dead" && committed.is_empty() {
            return Err(not_found(group, "describe group"));
        }
        let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for m in &description.members {
            for (topic, parts) in &m.assignment {
                partitions.entry(topic.clone()).or_default().extend(parts);
            }
        }
        for (topic, partition) in committed.keys() {
            partitions
                .entry(topic.clone())
                .or_default()
                .push(*partition);
        }
        let mut rows = Vec::new();
        for (topic, mut parts) in partitions {
            parts.sort_unstable();
            parts.dedup();
            let queries: Vec<(i32, i64)> = parts.iter().map(|&p| (p, LATEST_TIMESTAMP)).collect();
            let ends = match list_offsets(&self.cluster, &topic, &queries).await {
                Ok(ends) => ends,
                Err(ClientError::UnknownTopic(_) | ClientError::UnknownPartition { .. }) => {
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            for partition in parts {
                let current = committed.get(&(topic.clone(), partition)).map(|c| c.offset);
                let end = offset_of(&ends, partition);
                let owner = description.owner(&topic, partition);
                rows.push(PartitionLag {
                    topic: topic.clone(),
                    partition,
                    current_offset: current,
                    log_end_offset: end,
                    lag: current.zip(end).map(|(c, e)| (e - c).max(0)),
                    member_id: owner.map(|m| m.member_id.clone()),
                    client_id: owner.map(|m| m.client_id.clone()),
                    host: owner.map(|m| m.host.clone()),
                });
            }
        }
        Ok(GroupOffsets {
            group: description,
            partitions: rows,
        })
    }

    /// Plans new committed offsets of `group` for `topic` (its `partitions`,
    /// or all of them) and, if `execute`, commits them. Executing needs the
    /// group inactive (no members), as Kafka does; the dry run changes nothing.
    pub async fn reset_offsets(
        &self,
        group: &str,
        topic: &str,
        partitions: Option<&[i32]>,
        spec: ResetSpec,
        execute: bool,
    ) -> Result<Vec<PlannedOffset>, ClientError> {
        if execute {
            let description = self.describe_group(group).await?;
            if !description.is_inactive() {
                return Err(ClientError::Invalid(format!(
                    "cannot reset offsets of group {group}: it has active members (state {}); stop its consumers first",
                    description.state
                )));
            }
        }
        let info = self.cluster.refresh_topic(topic, false).await?;
        let mut parts = info.select_partitions(partitions)?;
        if partitions.is_some() {
            parts.sort_unstable();
            parts.dedup();
        }
        let query = |ts: i64| parts.iter().map(|&p| (p, ts)).collect::<Vec<_>>();
        let starts = list_offsets(&self.cluster, topic, &query(EARLIEST_TIMESTAMP)).await?;
        let ends = list_offsets(&self.cluster, topic, &query(LATEST_TIMESTAMP)).await?;
        let by_time = match spec {
            ResetSpec::Datetime(ts) => list_offsets(&self.cluster, topic, &query(ts)).await?,
            _ => Vec::new(),
        };
        let committed = self.committed_offsets(group).await?;
        let mut plan = Vec::with_capacity(parts.len());
        for &partition in &parts {
            let start = offset_of(&starts, partition).unwrap_or(0);
            let end = offset_of(&ends, partition).unwrap_or(start);
            let current = committed
                .get(&(topic.to_string(), partition))
                .map(|c| c.offset);
            let clamp = |o: i64| o.clamp(start, end.max(start));
            let new_offset = match spec {
                ResetSpec::Earliest => start,
                ResetSpec::Latest => end,
                ResetSpec::Offset(n) => clamp(n),
                ResetSpec::Datetime(_) => match offset_of(&by_time, partition) {
                    Some(o) if o >= 0 => o,
                    _ => end,
                },
                ResetSpec::ShiftBy(n) => {
                    let Some(c) = current else {
                        return Err(ClientError::Invalid(format!(
                            "cannot shift the offset of {topic}-{partition} in group {group}: it has no committed offset"
                        )));
                    };
                    clamp(c.saturating_add(n))
                }
            };
            plan.push(PlannedOffset {
                topic: topic.to_string(),
                partition,
                current_offset: current,
                new_offset,
            });
        }
        if execute {
            let offsets: Vec<OffsetToCommit> = plan
                .iter()
                .map(|p| OffsetToCommit {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    offset: p.new_offset,
                })
                .collect();
            let offsets = &offsets;
            with_coordinator(&self.cluster, group, |conn| async move {
                commit(&conn, group, &Committer::simple(), offsets).await
            })
            .await?;
        }
        Ok(plan)
    }

    /// Deletes `group` and its committed offsets. Fails with NON_EMPTY_GROUP
    /// while it has members and GROUP_ID_NOT_FOUND if it does not exist.
    pub async fn delete_group(&self, group: &str) -> Result<(), ClientError> {
        let result = with_coordinator(&self.cluster, group, |conn| async move {
            let version = group_version(&conn, ApiKey::DeleteGroups)?;
            let request =
                DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes(group))]);
            let response = conn.request(&request, version).await?;
            let code = response
                .results
                .iter()
                .find(|r| r.group_id.0.as_str() == group)
                .map(|r| r.error_code)
                .ok_or_else(|| ClientError::Protocol {
                    addr: conn.addr().to_string(),
                    message: format!("delete group {group}: the response has no result"),
                })?;
            // Coordinator errors come back as errors so the lookup is retried.
            match ClientError::kafka(format!("delete group {group}"), code, None) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
        .await;
        match result {
            Err(ClientError::Kafka { code, .. }) if code.0 == codes::NON_EMPTY_GROUP => {
                Err(ClientError::Kafka {
                    context: format!("delete group {group}"),
                    code,
                    message: Some("the group has active members; stop its consumers first".into()),
                })
            }
            Err(ClientError::Kafka { code, .. }) if code.0 == codes::GROUP_ID_NOT_FOUND => {
                Err(not_found(group, "delete group"))
            }
            other => other,
        }
    }
}

/// GROUP_ID_NOT_FOUND for `group`.
fn not_found(group: &str, action: &str) -> ClientError {
    ClientError::Kafka {
        context: format!("{action} {group}"),
        code: crate::client::error::KafkaCode(codes::GROUP_ID_NOT_FOUND),
        message: Some(format!("consumer group {group} does not exist")),
    }
}
