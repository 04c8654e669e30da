//! OffsetCommit, OffsetFetch and OffsetDelete, and the expiry of offsets
//! past `offsets.retention.minutes`.

use super::coordinator::{GroupCoordinator, Inner, group_tombstone, now_ms, offset_record};
use super::schema::OffsetValue;
use super::state::{CONSUMER_PROTOCOL_TYPE, Group, GroupState};
use super::store::StoredRecord;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One partition's committed offset as OffsetFetch returns it.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: i16,
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl GroupCoordinator {
    /// OffsetCommit (the versions kafka-protocol decodes, v2–v9). Members
    /// commit with their generation and member id; standalone consumers
    /// (generation -1, no member id) may commit while the group is empty.
    /// The response comes once the offsets are durable.
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        let (mut errors, durable) = self.inner.commit(&req, version);
        if let Some(durable) = durable
            && let Err(e) = durable.await
        {
            tracing::error!(
                "group {}: offsets not persisted: {e}",
                req.group_id.as_str()
            );
            let c = ResponseError::CoordinatorNotAvailable.code();
            for e in errors.values_mut() {
                if *e == 0 {
                    *e = c;
                }
            }
        }
        let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
        for t in &req.topics {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = errors
                        .get(&(t.name.to_string(), p.partition_index))
                        .copied()
                        .unwrap_or(0);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error)
                })
                .collect();
            topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions),
            );
        }
        OffsetCommitResponse::default().with_topics(topics)
    }

    /// OffsetFetch (v1–v9; several groups from v8). A null topic list means
    /// every partition with a committed offset; a partition without one
    /// gets offset -1.
    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        if version >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                            .collect::<Vec<_>>()
                    });
                    let (error, fetched) =
                        self.inner
                            .fetch(g.group_id.as_str(), topics, req.require_stable);
                    let topics = fetched
                        .into_iter()
                        .map(|(name, parts)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(str_bytes(&name)))
                                .with_partitions(
                                    parts
                                        .into_iter()
                                        .map(|f| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(f.partition)
                                                .with_committed_offset(f.offset)
                                                .with_committed_leader_epoch(f.leader_epoch)
                                                .with_metadata(Some(str_bytes(&f.metadata)))
                                                .with_error_code(f.error)
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_topics(topics)
                        .with_error_code(error)
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let topics = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        let (error, fetched) = self.inner.fetch(
            req.group_id.as_str(),
            topics,
            version >= 7 && req.require_stable,
        );
        let mut resp = OffsetFetchResponse::default();
        if version >= 2 {
            resp.error_code = error;
        }
        resp.topics = fetched
            .into_iter()
            .map(|(name, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(&name)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|f| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(f.partition)
                                    .with_committed_offset(f.offset)
                                    .with_committed_leader_epoch(if version >= 5 {
                                        f.leader_epoch
                                    } else {
                                        -1
                                    })
                                    .with_metadata(Some(str_bytes(&f.metadata)))
                                    .with_error_code(f.error)
                            })
                            .collect(),
                    )
            })
            .collect();
        resp
    }

    /// OffsetDelete (v0): deletes committed offsets of an empty group, or of
    /// topics a consumer group's members do not subscribe to
    /// (GROUP_SUBSCRIBED_TO_TOPIC otherwise).
    pub async fn offset_delete(
        &self,
        req: OffsetDeleteRequest,
        version: i16,
    ) -> OffsetDeleteResponse {
        let _ = version;
        let wanted: Vec<(String, Vec<i32>)> = req
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect();
        let (error, mut results, durable) =
            self.inner.delete_offsets(req.group_id.as_str(), &wanted);
        if let Some(durable) = durable
            && let Err(e) = durable.await
        {
            tracing::error!(
                "group {}: offset deletion not persisted: {e}",
                req.group_id.as_str()
            );
            let c = ResponseError::CoordinatorNotAvailable.code();
            for e in results.values_mut() {
                if *e == 0 {
                    *e = c;
                }
            }
        }
        let mut resp = OffsetDeleteResponse::default().with_error_code(error);
        if error == 0 {
            resp.topics = wanted
                .iter()
                .map(|(name, parts)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|p| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(*p)
                                        .with_error_code(
                                            results.get(&(name.clone(), *p)).copied().unwrap_or(0),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect();
        }
        resp
    }
}

impl Inner {
    /// Validates and applies a commit; returns the error per partition and
    /// the durability of the appended records, if any were appended.
    fn commit(
        self: &Arc<Self>,
        req: &OffsetCommitRequest,
        version: i16,
    ) -> (HashMap<(String, i32), i16>, Option<super::store::Durable>) {
        let mut errors: HashMap<(String, i32), i16> = HashMap::new();
        let mut valid: Vec<(String, i32, OffsetValue)> = Vec::new();
        let now = now_ms();
        let retention_ms = if (2..=4).contains(&version) {
            req.retention_time_ms
        } else {
            -1
        };
        for t in &req.topics {
            for p in &t.partitions {
                let key = (t.name.to_string(), p.partition_index);
                let metadata = p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let error = if !self.topics.partition_exists(&key.0, key.1) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if metadata.len() > self.config.offset_metadata_max_bytes {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    valid.push((
                        key.0.clone(),
                        key.1,
                        OffsetValue {
                            offset: p.committed_offset,
                            leader_epoch: if version >= 6 {
                                p.committed_leader_epoch
                            } else {
                                -1
                            },
                            metadata,
                            commit_timestamp: now,
                            expire_timestamp: if retention_ms >= 0 {
                                now.saturating_add(retention_ms)
                            } else {
                                -1
                            },
                        },
                    ));
                    0
                };
                errors.insert(key, error);
            }
        }
        let group_id = req.group_id.as_str();
        let generation = req.generation_id_or_member_epoch;
        let member_id = req.member_id.as_str();
        let mut groups = self.lock();
        let group_error = match groups.get_mut(group_id) {
            None if generation < 0 => {
                groups.insert(group_id.to_string(), Group::new(group_id, now));
                None
            }
            None => Some(ResponseError::IllegalGeneration),
            Some(g) => {
                member_commit_error(g, generation, member_id, req.group_instance_id.as_deref())
            }
        };
        if let Some(e) = group_error {
            for (t, p, _) in valid {
                errors.insert((t, p), e.code());
            }
            return (errors, None);
        }
        let Some(group) = groups.get_mut(group_id) else {
            return (errors, None);
        };
        if valid.is_empty() {
            return (errors, None);
        }
        let records: Vec<StoredRecord> = valid
            .iter()
            .map(|(t, p, v)| offset_record(group_id, t, *p, Some(v)))
            .collect();
        match self.write(group_id, &records) {
            Ok(durable) => {
                for (t, p, v) in valid {
                    group.offsets.insert((t, p), v);
                }
                (errors, Some(durable))
            }
            Err(e) => {
                tracing::error!("group {group_id}: {e}");
                for (t, p, _) in valid {
                    errors.insert((t, p), ResponseError::CoordinatorNotAvailable.code());
                }
                (errors, None)
            }
        }
    }

    /// Committed offsets of `group_id`: the listed partitions, or all when `topics` is None.
    fn fetch(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> (i16, Vec<(String, Vec<Fetched>)>) {
        let groups = self.lock();
        let group = groups.get(group_id);
        let lookup = |topic: &str, partition: i32| -> Fetched {
            let key = (topic.to_string(), partition);
            if require_stable && group.is_some_and(|g| g.has_pending_txn_offset(&key)) {
                // KIP-447: a transaction holding an offset for this
                // partition is still open; the client retries.
                return Fetched {
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: String::new(),
                    error: ResponseError::UnstableOffsetCommit.code(),
                };
            }
            match group.and_then(|g| g.offsets.get(&key)) {
                Some(v) => Fetched {
                    partition,
                    offset: v.offset,
                    leader_epoch: v.leader_epoch,
                    metadata: v.metadata.clone(),
                    error: 0,
                },
                None => Fetched {
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: String::new(),
                    error: 0,
                },
            }
        };
        let result = match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(name, parts)| {
                    let fetched = parts.iter().map(|p| lookup(&name, *p)).collect();
                    (name, fetched)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                if let Some(g) = group {
                    for (t, p) in g.offsets.keys() {
                        by_topic.entry(t.clone()).or_default().push(*p);
                    }
                }
                by_topic
                    .into_iter()
                    .map(|(name, mut parts)| {
                        parts.sort_unstable();
                        let fetched = parts.iter().map(|p| lookup(&name, *p)).collect();
                        (name, fetched)
                    })
                    .collect()
            }
        };
        (0, result)
    }

    /// Deletes offsets of `group_id`; returns the group-level error, the
    /// error per partition and the durability of the tombstones.
    fn delete_offsets(
        &self,
        group_id: &str,
        wanted: &[(String, Vec<i32>)],
    ) -> (
        i16,
        HashMap<(String, i32), i16>,
        Option<super::store::Durable>,
    ) {
        let mut results = HashMap::new();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id).filter(|g| !g.is(GroupState::Dead)) else {
            return (ResponseError::GroupIdNotFound.code(), results, None);
        };
        let consumer = group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
        if !group.is(GroupState::Empty) && !consumer {
            return (ResponseError::NonEmptyGroup.code(), results, None);
        }
        let subscribed = (!group.is(GroupState::Empty)).then(|| group.subscribed_topics());
        let mut records = Vec::new();
        let mut deleted = Vec::new();
        for (topic, parts) in wanted {
            let is_subscribed = match &subscribed {
                None => false,
                Some(None) => true,
                Some(Some(topics)) => topics.contains(topic),
            };
            for p in parts {
                let error = if !self.topics.partition_exists(topic, *p) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if is_subscribed {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    if group.offsets.contains_key(&(topic.clone(), *p)) {
                        records.push(offset_record(group_id, topic, *p, None));
                        deleted.push((topic.clone(), *p));
                    }
                    0
                };
                results.insert((topic.clone(), *p), error);
            }
        }
        if records.is_empty() {
            return (0, results, None);
        }
        match self.write(group_id, &records) {
            Ok(durable) => {
                for key in deleted {
                    group.offsets.remove(&key);
                }
                (0, results, Some(durable))
            }
            Err(e) => {
                tracing::error!("group {group_id}: {e}");
                for key in deleted {
                    results.insert(key, ResponseError::CoordinatorNotAvailable.code());
                }
                (0, results, None)
            }
        }
    }

    /// Removes offsets past retention (Kafka 2.1+ rules): for an empty group
    /// counted from when it became empty, for a stable consumer group only
    /// those of topics no member subscribes to, for an offsets-only group
    /// from their commit. A group left empty with no offsets is removed.
    /// Returns how many offsets were removed.
    pub(super) fn expire_offsets(&self, now: i64) -> usize {
        let retention = self.config.offsets_retention_ms();
        let mut groups = self.lock();
        let mut removed = 0;
        let mut dead = Vec::new();
        for group in groups.values_mut() {
            let expired: Vec<(String, i32)> = {
                let subscribed = group.subscribed_topics();
                // What retention counts from: when the group became empty, or each commit.
                let since_empty: Option<Option<i64>> = match (&group.protocol_type, group.state) {
                    (Some(_), GroupState::Empty) => Some(Some(group.state_timestamp)),
                    (Some(t), GroupState::Stable)
                        if t == CONSUMER_PROTOCOL_TYPE && subscribed.is_some() =>
                    {
                        Some(None)
                    }
                    (None, _) => Some(None),
                    _ => None,
                };
                match since_empty {
                    None => Vec::new(),
                    Some(since_empty) => group
                        .offsets
                        .iter()
                        .filter(|((topic, _), v)| {
                            let still_subscribed = subscribed
                                .as_ref()
                                .is_some_and(|s| group.is(GroupState::Stable) && s.contains(topic));
                            let base = since_empty.unwrap_or(v.commit_timestamp);
                            !still_subscribed
                                && if v.expire_timestamp >= 0 {
                                    now >= v.expire_timestamp
                                } else {
                                    now - base >= retention
                                }
                        })
                        .map(|(k, _)| k.clone())
                        .collect(),
                }
            };
            let mut records: Vec<StoredRecord> = expired
                .iter()
                .map(|(t, p)| offset_record(&group.id, t, *p, None))
                .collect();
            let now_dead = group.is(GroupState::Empty)
                && group.pending_members.is_empty()
                && group.offsets.len() == expired.len()
                && group.pending_txn_offsets.is_empty();
            if now_dead {
                records.push(group_tombstone(&group.id));
            }
            if records.is_empty() {
                continue;
            }
            match self.write(&group.id, &records) {
                Ok(durable) => {
                    removed += expired.len();
                    for key in &expired {
                        group.offsets.remove(key);
                    }
                    if now_dead {
                        group.state = GroupState::Dead;
                        dead.push(group.id.clone());
                    }
                    let id = group.id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = durable.await {
                            tracing::error!("group {id}: expired offsets not persisted: {e}");
                        }
                    });
                }
                Err(e) => tracing::error!("group {}: {e}", group.id),
            }
        }
        for id in dead {
            tracing::info!("group {id}: empty with no offsets; removed");
            groups.remove(&id);
        }
        removed
    }
}

/// Why a member's commit is refused (Kafka's checks in order), or None.
fn member_commit_error(
    group: &mut Group,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<ResponseError> {
    if group.is(GroupState::Dead) {
        return Some(ResponseError::CoordinatorNotAvailable);
    }
    if generation < 0 && group.is(GroupState::Empty) {
        return None;
    }
    if group.is_fenced(instance_id, member_id) {
        return Some(ResponseError::FencedInstanceId);
    }
    let state = group.state;
    let current = group.generation;
    let Some(member) = group.members.get_mut(member_id) else {
        return Some(ResponseError::UnknownMemberId);
    };
    if generation != current {
        return Some(ResponseError::IllegalGeneration);
    }
    match state {
        GroupState::Stable | GroupState::PreparingRebalance => {
            member.touch();
            None
        }
        GroupState::CompletingRebalance => Some(ResponseError::RebalanceInProgress),
        GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
    }
}

/// Builds a `GroupId` from a string (for responses).
pub(super) fn group_id(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}
