//! The coordinator itself: shared state, loading from `__consumer_offsets`,
//! persistence, and the rebalance machinery (join phase, timers) the
//! request handlers drive.

use super::config::GroupConfig;
use super::schema::{GroupValue, OffsetValue, RecordKey};
use super::state::{Group, GroupState, JoinOutcome, Member};
use super::store::{Durable, LoadedEntry, OffsetsStore, StoreError, StoredRecord, partition_for};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// This broker as clients should reach it for group and transaction coordination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorNode {
    /// Broker (node) id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// Who sent a request: from the request header and the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `client_id` of the request header.
    pub client_id: String,
    /// Peer address as Kafka shows it (`"/127.0.0.1"`).
    pub client_host: String,
}

impl ClientInfo {
    /// The client info of a request with `client_id` from peer `peer`
    /// (host shown as Kafka shows it, `/ip`).
    pub fn new(client_id: &str, peer: std::net::IpAddr) -> Self {
        ClientInfo {
            client_id: client_id.to_string(),
            client_host: format!("/{peer}"),
        }
    }
}

/// Tells the coordinator whether a topic partition exists (for
/// UNKNOWN_TOPIC_OR_PARTITION on commits). Any `Fn(&str, i32) -> bool` is one.
pub trait TopicLookup: Send + Sync {
    /// Whether partition `partition` of `topic` exists.
    fn partition_exists(&self, topic: &str, partition: i32) -> bool;
}

impl<F: Fn(&str, i32) -> bool + Send + Sync> TopicLookup for F {
    fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        self(topic, partition)
    }
}

/// Kafka's classic group coordinator for one broker. Cheap to clone (shared
/// state); every handler takes the kafka-protocol request and its API
/// version and returns the response for that version.
#[derive(Clone)]
pub struct GroupCoordinator {
    pub(super) inner: Arc<Inner>,
}

/// Shared state of a coordinator.
pub(super) struct Inner {
    pub(super) node: CoordinatorNode,
    pub(super) config: GroupConfig,
    pub(super) store: Arc<dyn OffsetsStore>,
    pub(super) topics: Arc<dyn TopicLookup>,
    groups: Mutex<HashMap<String, Group>>,
    next_uid: AtomicU64,
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl GroupCoordinator {
    /// Opens the coordinator on `store` (the partitions of
    /// `__consumer_offsets`), loading every committed offset and group from
    /// it: the latest record per key wins, tombstones delete. Records that do
    /// not decode are skipped with a warning.
    ///
    /// Call [`GroupCoordinator::start`] afterwards, inside the tokio runtime.
    pub fn open(
        node: CoordinatorNode,
        config: GroupConfig,
        store: Arc<dyn OffsetsStore>,
        topics: Arc<dyn TopicLookup>,
    ) -> Result<GroupCoordinator, StoreError> {
        let mut groups = HashMap::new();
        for partition in 0..store.partitions() {
            load_partition(&mut groups, store.load_entries(partition)?, partition);
        }
        let coordinator = GroupCoordinator {
            inner: Arc::new(Inner {
                node,
                config,
                store,
                topics,
                groups: Mutex::new(groups),
                next_uid: AtomicU64::new(1),
            }),
        };
        Ok(coordinator)
    }

    /// Starts the background work: session timers of members loaded from
    /// the log, and the periodic expiry of offsets past
    /// `offsets.retention.minutes` (every
    /// `offsets.retention.check.interval.ms`). The returned task runs until
    /// aborted or the coordinator is dropped.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        {
            let mut groups = self.inner.lock();
            for group in groups.values_mut() {
                let ids: Vec<(String, u64)> = group
                    .members
                    .values_mut()
                    .map(|m| {
                        m.uid = self.inner.next_uid.fetch_add(1, Ordering::Relaxed);
                        m.touch();
                        (m.id.clone(), m.uid)
                    })
                    .collect();
                for (id, uid) in ids {
                    self.inner.schedule_session(&group.id, &id, uid);
                }
            }
        }
        let weak = Arc::downgrade(&self.inner);
        let interval =
            Duration::from_millis(self.inner.config.offsets_retention_check_interval_ms.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                inner.expire_offsets(now_ms());
            }
        })
    }

    /// The group APIs and versions this coordinator implements, to advertise
    /// in ApiVersions: (API key, min version, max version).
    pub fn api_versions() -> Vec<(ApiKey, i16, i16)> {
        vec![
            (ApiKey::FindCoordinator, 0, 4),
            (ApiKey::JoinGroup, 0, 9),
            (ApiKey::SyncGroup, 0, 5),
            (ApiKey::Heartbeat, 0, 4),
            (ApiKey::LeaveGroup, 0, 5),
            (ApiKey::OffsetCommit, 2, 9),
            (ApiKey::OffsetFetch, 1, 9),
            (ApiKey::ListGroups, 0, 5),
            (ApiKey::DescribeGroups, 0, 5),
            (ApiKey::DeleteGroups, 0, 2),
            (ApiKey::OffsetDelete, 0, 0),
        ]
    }

    /// Expires offsets past retention now (what the background task does
    /// periodically); returns how many offsets were removed.
    pub fn expire_offsets_now(&self) -> usize {
        self.inner.expire_offsets(now_ms())
    }

    /// Clean shutdown: answers every request waiting on a rebalance with
    /// COORDINATOR_NOT_AVAILABLE (clients retry elsewhere or later) and
    /// flushes and closes `__consumer_offsets`.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        let mut groups = self.inner.lock();
        let code = ResponseError::CoordinatorNotAvailable.code();
        for group in groups.values_mut() {
            for m in group.members.values_mut() {
                if let Some(w) = m.join_waiter.take() {
                    let _ = w.send(JoinOutcome::error(code, &m.id));
                }
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(Err(code));
                }
            }
        }
        drop(groups);
        self.inner.store.close()
    }
}

/// Applies one partition's records to `groups`. Offsets written by a
/// transaction (TxnOffsetCommit) count once its COMMIT marker follows, are
/// dropped at its ABORT, and stay pending in their group while the
/// transaction has no marker yet.
pub(super) fn load_partition(
    groups: &mut HashMap<String, Group>,
    entries: Vec<LoadedEntry>,
    partition: i32,
) {
    type OffsetKey = (String, String, i32);
    let mut metadata: HashMap<String, Option<GroupValue>> = HashMap::new();
    let mut offsets: HashMap<OffsetKey, Option<OffsetValue>> = HashMap::new();
    let mut pending: HashMap<i64, Vec<(OffsetKey, OffsetValue)>> = HashMap::new();
    for entry in entries {
        let (record, txn_producer) = match entry {
            LoadedEntry::Record {
                record,
                txn_producer,
            } => (record, txn_producer),
            LoadedEntry::Marker {
                producer_id,
                commit,
            } => {
                let ended = pending.remove(&producer_id).unwrap_or_default();
                if commit {
                    for (key, value) in ended {
                        offsets.insert(key, Some(value));
                    }
                }
                continue;
            }
        };
        let key = match RecordKey::decode(&record.key) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!("__consumer_offsets-{partition}: skipping record with bad key: {e}");
                continue;
            }
        };
        match key {
            RecordKey::Offset {
                group,
                topic,
                partition: p,
            } => {
                let value = match record.value.as_deref().map(OffsetValue::decode) {
                    None => None,
                    Some(Ok(v)) => Some(v),
                    Some(Err(e)) => {
                        tracing::warn!(
                            "__consumer_offsets-{partition}: skipping offset of {group}: {e}"
                        );
                        continue;
                    }
                };
                match (txn_producer, value) {
                    (Some(pid), Some(v)) => {
                        pending.entry(pid).or_default().push(((group, topic, p), v))
                    }
                    (Some(_), None) => {}
                    (None, value) => {
                        offsets.insert((group, topic, p), value);
                    }
                }
            }
            RecordKey::Group { group } => {
                let value = match record.value.as_deref().map(GroupValue::decode) {
                    None => None,
                    Some(Ok(v)) => Some(v),
                    Some(Err(e)) => {
                        tracing::warn!(
                            "__consumer_offsets-{partition}: skipping metadata of {group}: {e}"
                        );
                        continue;
                    }
                };
                metadata.insert(group, value);
            }
            RecordKey::Other(_) => {}
        }
    }
    let now = now_ms();
    for (id, value) in metadata {
        let Some(value) = value else { continue };
        groups.insert(id.clone(), restore_group(&id, value, now));
    }
    for ((group, topic, p), value) in offsets {
        let Some(value) = value else { continue };
        groups
            .entry(group.clone())
            .or_insert_with(|| Group::new(&group, now))
            .offsets
            .insert((topic, p), value);
    }
    for (pid, open) in pending {
        for ((group, topic, p), value) in open {
            groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group, now))
                .pending_txn_offsets
                .entry(pid)
                .or_default()
                .insert((topic, p), value);
        }
    }
}

/// A group as its last metadata record describes it: Stable with its
/// members and their assignments, or Empty.
fn restore_group(id: &str, value: GroupValue, now: i64) -> Group {
    let mut group = Group::new(id, now);
    group.generation = value.generation;
    group.protocol_type = (!value.protocol_type.is_empty()).then_some(value.protocol_type);
    group.protocol = value.protocol;
    group.leader = value.leader;
    group.state_timestamp = if value.current_state_timestamp >= 0 {
        value.current_state_timestamp
    } else {
        now
    };
    for m in value.members {
        if let Some(instance) = &m.group_instance_id {
            group
                .static_members
                .insert(instance.clone(), m.member_id.clone());
        }
        let protocols = group
            .protocol
            .clone()
            .map(|p| vec![(p, m.subscription.clone())])
            .unwrap_or_default();
        group.members.insert(
            m.member_id.clone(),
            Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout,
                rebalance_timeout_ms: m.rebalance_timeout,
                protocols,
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                session_deadline: Instant::now(),
                uid: 0,
            },
        );
    }
    group.state = if group.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    group
}

impl Inner {
    /// Locks the group table (never held across an await).
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh member incarnation number.
    pub(super) fn next_uid(&self) -> u64 {
        self.next_uid.fetch_add(1, Ordering::Relaxed)
    }

    /// Appends records of `group` to its `__consumer_offsets` partition.
    pub(super) fn write(
        &self,
        group: &str,
        records: &[StoredRecord],
    ) -> Result<Durable, StoreError> {
        let partition = partition_for(group, self.store.partitions());
        self.store.append(partition, records, now_ms())
    }

    /// Appends the group's metadata record; a background task reports if it
    /// fails to become durable (nobody waits on it).
    pub(super) fn write_group_in_background(&self, group: &Group) {
        let record = group_record(group);
        match self.write(&group.id, &[record]) {
            Ok(durable) => {
                let id = group.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = durable.await {
                        tracing::error!("group {id}: metadata not persisted: {e}");
                    }
                });
            }
            Err(e) => tracing::error!("group {}: metadata not persisted: {e}", group.id),
        }
    }

    /// Starts a rebalance if the group is not already in one.
    pub(super) fn maybe_prepare_rebalance(self: &Arc<Self>, group: &mut Group, reason: &str) {
        if matches!(
            group.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(group, reason);
        }
    }

    /// Moves the group to PreparingRebalance and arms the join-phase timer
    /// (the initial delay for an empty group, else the rebalance timeout).
    pub(super) fn prepare_rebalance(self: &Arc<Self>, group: &mut Group, reason: &str) {
        tracing::debug!("group {}: preparing rebalance: {reason}", group.id);
        if group.is(GroupState::CompletingRebalance) {
            let code = ResponseError::RebalanceInProgress.code();
            for m in group.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(Err(code));
                }
            }
        }
        group.pending_sync.clear();
        let now = Instant::now();
        let rebalance_timeout = group.rebalance_timeout_ms();
        if group.is(GroupState::Empty) {
            let delay = self.config.initial_rebalance_delay_ms;
            group.initial_delay_remaining = Some(rebalance_timeout.saturating_sub(delay));
            group.new_member_added = false;
            group.join_deadline = now + Duration::from_millis(delay);
        } else {
            group.initial_delay_remaining = None;
            group.join_deadline = now + Duration::from_millis(rebalance_timeout);
        }
        group.rebalance_id += 1;
        group.transition(GroupState::PreparingRebalance, now_ms());
        self.schedule_join(&group.id, group.rebalance_id, group.join_deadline);
    }

    /// Ends the join phase if every member has rejoined (and no initial delay runs).
    pub(super) fn try_complete_join(self: &Arc<Self>, group: &mut Group) {
        if group.is(GroupState::PreparingRebalance)
            && group.initial_delay_remaining.is_none()
            && group.all_members_joined()
        {
            self.complete_join(group);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, the
    /// next generation is formed, and every waiting JoinGroup is answered
    /// (the leader with the member list).
    pub(super) fn complete_join(self: &Arc<Self>, group: &mut Group) {
        let missing: Vec<String> = group
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in missing {
            tracing::info!(
                "group {}: member {id} did not rejoin in time; removed",
                group.id
            );
            group.remove_member(&id);
        }
        group.initial_delay_remaining = None;
        group.generation += 1;
        let now = now_ms();
        if group.members.is_empty() {
            group.protocol = None;
            group.leader = None;
            group.transition(GroupState::Empty, now);
            self.write_group_in_background(group);
            return;
        }
        group.protocol = group.select_protocol();
        if group
            .leader
            .as_ref()
            .is_none_or(|l| !group.members.contains_key(l))
        {
            group.leader = group.members.keys().next().cloned();
        }
        group.transition(GroupState::CompletingRebalance, now);
        group.pending_sync = group.members.keys().cloned().collect();
        let leader = group.leader.clone().unwrap_or_default();
        let protocol = group.protocol.clone().unwrap_or_default();
        let all: Vec<(String, Option<String>, Bytes)> = group
            .members
            .values()
            .map(|m| {
                let metadata = m.metadata(&protocol).cloned().unwrap_or_default();
                (m.id.clone(), m.instance_id.clone(), metadata)
            })
            .collect();
        for m in group.members.values_mut() {
            m.touch();
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome {
                    error: 0,
                    generation: group.generation,
                    protocol_type: group.protocol_type.clone(),
                    protocol: group.protocol.clone(),
                    leader: leader.clone(),
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                    skip_assignment: false,
                });
            }
        }
        let deadline = Instant::now() + Duration::from_millis(group.rebalance_timeout_ms());
        self.schedule_pending_sync(&group.id, group.generation, deadline);
    }

    /// Removes a member (left, expired or fenced), answers its waiting
    /// requests with `error`, and rebalances the others.
    pub(super) fn remove_member_and_rebalance(
        self: &Arc<Self>,
        group: &mut Group,
        member_id: &str,
        error: i16,
        reason: &str,
    ) {
        if let Some(mut m) = group.remove_member(member_id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome::error(error, member_id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(Err(error));
            }
        }
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group, reason)
            }
            GroupState::PreparingRebalance => self.try_complete_join(group),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Arms the join-phase timer of rebalance `rebalance_id`.
    fn schedule_join(self: &Arc<Self>, group_id: &str, rebalance_id: u64, deadline: Instant) {
        let weak = Arc::downgrade(self);
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            if let Some(inner) = weak.upgrade() {
                inner.on_join_deadline(&group_id, rebalance_id);
            }
        });
    }

    /// The join phase's deadline passed: extend the initial delay if members
    /// keep arriving, else form the generation with whoever rejoined.
    fn on_join_deadline(self: &Arc<Self>, group_id: &str, rebalance_id: u64) {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return;
        };
        if !group.is(GroupState::PreparingRebalance) || group.rebalance_id != rebalance_id {
            return;
        }
        if let Some(remaining) = group.initial_delay_remaining
            && group.new_member_added
            && remaining > 0
        {
            let delay = self.config.initial_rebalance_delay_ms.min(remaining);
            group.initial_delay_remaining = Some(remaining - delay);
            group.new_member_added = false;
            group.join_deadline = Instant::now() + Duration::from_millis(delay);
            self.schedule_join(group_id, rebalance_id, group.join_deadline);
            return;
        }
        self.complete_join(group);
    }

    /// Arms the session timer of one member incarnation.
    pub(super) fn schedule_session(self: &Arc<Self>, group_id: &str, member_id: &str, uid: u64) {
        let weak: Weak<Inner> = Arc::downgrade(self);
        let group_id = group_id.to_string();
        let member_id = member_id.to_string();
        tokio::spawn(async move {
            let mut deadline = Instant::now();
            loop {
                tokio::time::sleep_until(deadline).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut groups = inner.lock();
                let Some(group) = groups.get_mut(&group_id) else {
                    return;
                };
                let Some(member) = group.members.get(&member_id).filter(|m| m.uid == uid) else {
                    return;
                };
                let now = Instant::now();
                if member.join_waiter.is_some() || member.sync_waiter.is_some() {
                    // Kept alive while its JoinGroup/SyncGroup waits; the
                    // rebalance timers bound that wait.
                    deadline = now + Duration::from_millis(member.session_timeout_ms.max(1) as u64);
                    continue;
                }
                if member.session_deadline > now {
                    deadline = member.session_deadline;
                    continue;
                }
                tracing::info!("group {group_id}: member {member_id} session expired; removed");
                inner.remove_member_and_rebalance(
                    group,
                    &member_id,
                    ResponseError::UnknownMemberId.code(),
                    "member session expired",
                );
                return;
            }
        });
    }

    /// Arms the expiry of a member id handed out with MEMBER_ID_REQUIRED.
    pub(super) fn schedule_pending_member(
        self: &Arc<Self>,
        group_id: &str,
        member_id: &str,
        timeout_ms: i32,
    ) {
        let weak = Arc::downgrade(self);
        let group_id = group_id.to_string();
        let member_id = member_id.to_string();
        let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let Some(inner) = weak.upgrade() else { return };
            let mut groups = inner.lock();
            let Some(group) = groups.get_mut(&group_id) else {
                return;
            };
            if group.pending_members.remove(&member_id) {
                inner.try_complete_join(group);
            }
        });
    }

    /// Arms the check that every member of `generation` sent SyncGroup
    /// within the rebalance timeout; those that did not are removed.
    fn schedule_pending_sync(self: &Arc<Self>, group_id: &str, generation: i32, deadline: Instant) {
        let weak = Arc::downgrade(self);
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let Some(inner) = weak.upgrade() else { return };
            let mut groups = inner.lock();
            let Some(group) = groups.get_mut(&group_id) else {
                return;
            };
            if group.generation != generation
                || !matches!(
                    group.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                )
                || group.pending_sync.is_empty()
            {
                return;
            }
            let late: Vec<String> = group.pending_sync.drain().collect();
            for id in &late {
                tracing::info!("group {group_id}: member {id} did not sync in time; removed");
                if let Some(mut m) = group.remove_member(id)
                    && let Some(w) = m.sync_waiter.take()
                {
                    let _ = w.send(Err(ResponseError::UnknownMemberId.code()));
                }
            }
            inner.prepare_rebalance(group, "members did not sync in time");
        });
    }
}

/// The group metadata record of `group`.
pub(super) fn group_record(group: &Group) -> StoredRecord {
    StoredRecord {
        key: RecordKey::Group {
            group: group.id.clone(),
        }
        .encode()
        .into(),
        value: Some(group.to_value().encode().into()),
    }
}

/// The tombstone of `group`'s metadata record.
pub(super) fn group_tombstone(group: &str) -> StoredRecord {
    StoredRecord {
        key: RecordKey::Group {
            group: group.to_string(),
        }
        .encode()
        .into(),
        value: None,
    }
}

/// The record of one committed offset (`None`: its tombstone).
pub(super) fn offset_record(
    group: &str,
    topic: &str,
    partition: i32,
    value: Option<&OffsetValue>,
) -> StoredRecord {
    StoredRecord {
        key: RecordKey::Offset {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        }
        .encode()
        .into(),
        value: value.map(|v| v.encode().into()),
    }
}
