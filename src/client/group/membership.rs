//! Membership of a consumer group on the classic protocol: JoinGroup (with
//! the MEMBER_ID_REQUIRED round trip), SyncGroup (the leader runs the
//! assignor), a background heartbeat that notices rebalances, LeaveGroup.
//! Knows nothing about fetching; [`super::GroupConsumer`] builds on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::assignor::{Assignor, MemberSubscription};
use super::coordinator::{
    codes, find_coordinator_addr, is_coordinator_error, needs_new_coordinator,
};
use super::offsets::Committer;
use super::protocol::{Assignment, CONSUMER_PROTOCOL_TYPE, Subscription, TopicPartitions};
use super::versions::group_version;
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::error::ClientError;

/// Join/sync rounds before giving up (each is a full round trip; the
/// coordinator keeps the member waiting while a rebalance settles).
const MAX_JOIN_ROUNDS: u32 = 50;
/// Pause before retrying after a coordinator error.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// What identifies the member and how it behaves in the group.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// The group (`group.id`).
    pub group_id: String,
    /// `group.instance.id` for static membership.
    pub instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`: how long the coordinator waits for members to rejoin.
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// Assignors offered, in order of preference (`partition.assignment.strategy`).
    pub assignors: Vec<Assignor>,
}

/// The member's place in the current generation.
#[derive(Debug, Clone, Default)]
struct MemberState {
    member_id: String,
    generation_id: i32,
    protocol: Option<String>,
    leader_id: String,
    /// A join is under way: the heartbeat pauses.
    joining: bool,
}

/// State shared with the heartbeat task.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<MemberState>,
    coordinator: Mutex<Option<Arc<Connection>>>,
    rejoin: AtomicBool,
    fatal: Mutex<Option<ClientError>>,
    wake: Notify,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, MemberState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn coordinator_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Connection>>> {
        self.coordinator.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request_rejoin(&self) {
        self.rejoin.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    fn set_fatal(&self, e: ClientError) {
        *self.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        self.wake.notify_waiters();
    }

    /// The member's own connection to the coordinator, found again if
    /// unknown or broken. It is not shared with other clients: the broker
    /// answers a connection's requests in order, and a JoinGroup waiting for
    /// the rebalance must not hold back another member's heartbeats (Kafka's
    /// clients keep a separate coordinator connection for the same reason).
    async fn coordinator(
        &self,
        cluster: &Cluster,
        group: &str,
    ) -> Result<Arc<Connection>, ClientError> {
        if let Some(conn) = self.coordinator_slot().as_ref()
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        let addr = find_coordinator_addr(cluster, group).await?;
        let conn = Arc::new(Connection::connect(&addr, cluster.config()).await?);
        *self.coordinator_slot() = Some(conn.clone());
        Ok(conn)
    }

    fn forget_coordinator(&self) {
        *self.coordinator_slot() = None;
    }
}

/// A member of a consumer group.
#[derive(Debug)]
pub struct Membership {
    cluster: Arc<Cluster>,
    config: MembershipConfig,
    shared: Arc<Shared>,
    heartbeat: JoinHandle<()>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Membership {
    /// A member that has not joined yet; its heartbeat task starts now (on
    /// the current tokio runtime) and idles until the first join.
    pub fn new(cluster: Arc<Cluster>, config: MembershipConfig) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(MemberState {
                generation_id: -1,
                ..MemberState::default()
            }),
            ..Shared::default()
        });
        let heartbeat = tokio::spawn(heartbeat_loop(
            cluster.clone(),
            config.clone(),
            shared.clone(),
        ));
        Membership {
            cluster,
            config,
            shared,
            heartbeat,
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    /// The member id the coordinator gave ("" before the first join).
    pub fn member_id(&self) -> String {
        self.shared.state().member_id.clone()
    }

    /// The current generation (-1 before the first join or after losing it).
    pub fn generation_id(&self) -> i32 {
        self.shared.state().generation_id
    }

    /// The assignor the group chose in the current generation.
    pub fn protocol(&self) -> Option<String> {
        self.shared.state().protocol.clone()
    }

    /// Whether this member leads the current generation.
    pub fn is_leader(&self) -> bool {
        let state = self.shared.state();
        !state.member_id.is_empty() && state.member_id == state.leader_id
    }

    /// Whether the member must (re)join: never joined, or the heartbeat
    /// learned of a rebalance.
    pub fn needs_rejoin(&self) -> bool {
        self.shared.rejoin.load(Ordering::SeqCst) || self.generation_id() < 0
    }

    /// An error that ends membership (e.g. FENCED_INSTANCE_ID), if one came.
    pub fn take_fatal(&self) -> Option<ClientError> {
        self.shared
            .fatal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Who commits offsets now: the current generation and member, or
    /// `None` between generations.
    pub fn committer(&self) -> Option<Committer> {
        let state = self.shared.state();
        (state.generation_id >= 0 && !state.joining).then(|| Committer {
            generation_id: state.generation_id,
            member_id: state.member_id.clone(),
            instance_id: self.config.instance_id.clone(),
        })
    }

    /// The coordinator connection.
    pub async fn coordinator(&self) -> Result<Arc<Connection>, ClientError> {
        self.shared
            .coordinator(&self.cluster, &self.config.group_id)
            .await
    }

    /// Reacts to an error from a group request made outside this module
    /// (an OffsetCommit): a moved coordinator is found again, a lost
    /// generation leads to a rejoin.
    pub fn observe_error(&self, e: &ClientError) {
        if needs_new_coordinator(e) {
            self.shared.forget_coordinator();
        }
        if let ClientError::Kafka { code, .. } = e {
            match code.0 {
                codes::UNKNOWN_MEMBER_ID => {
                    let mut state = self.shared.state();
                    state.member_id.clear();
                    state.generation_id = -1;
                    drop(state);
                    self.shared.request_rejoin();
                }
                codes::ILLEGAL_GENERATION => {
                    self.shared.state().generation_id = -1;
                    self.shared.request_rejoin();
                }
                codes::REBALANCE_IN_PROGRESS => self.shared.request_rejoin(),
                _ => {}
            }
        }
    }

    /// Waits up to `timeout`, returning early when a rebalance is noticed.
    pub async fn wait_for_rebalance(&self, timeout: Duration) {
        let notified = self.shared.wake.notified();
        if self.needs_rejoin() {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }

    /// Joins (or rejoins) the group subscribed to `topics`, owning `owned`
    /// so far, and returns this member's assignment for the new generation.
    pub async fn join(
        &self,
        topics: &[String],
        owned: &TopicPartitions,
    ) -> Result<TopicPartitions, ClientError> {
        self.shared.rejoin.store(false, Ordering::SeqCst);
        self.shared.state().joining = true;
        let result = self.join_rounds(topics, owned).await;
        let mut state = self.shared.state();
        state.joining = false;
        if result.is_err() {
            state.generation_id = -1;
        }
        result
    }

    async fn join_rounds(
        &self,
        topics: &[String],
        owned: &TopicPartitions,
    ) -> Result<TopicPartitions, ClientError> {
        let group = &self.config.group_id;
        let mut last_error = None;
        for _ in 0..MAX_JOIN_ROUNDS {
            let conn = match self.coordinator().await {
                Ok(conn) => conn,
                Err(e) if e.is_retriable() => {
                    last_error = Some(e);
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let joined = match self.join_group(&conn, topics, owned).await {
                Ok(joined) => joined,
                Err(Round::Retry(e)) => {
                    last_error = Some(e);
                    continue;
                }
                Err(Round::Fatal(e)) => return Err(e),
            };
            match self.sync_group(&conn, joined).await {
                Ok(assignment) => {
                    self.shared.rejoin.store(false, Ordering::SeqCst);
                    return Ok(assignment);
                }
                Err(Round::Retry(e)) => last_error = Some(e),
                Err(Round::Fatal(e)) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| ClientError::Invalid(format!("could not join group {group}"))))
    }

    /// Maps a group error code: `Retry` after fixing the state, or `Fatal`.
    fn classify(&self, context: &str, code: i16, message: Option<&str>) -> Option<Round> {
        let e = ClientError::kafka(context, code, message)?;
        Some(match code {
            codes::UNKNOWN_MEMBER_ID => {
                self.shared.state().member_id.clear();
                Round::Retry(e)
            }
            codes::ILLEGAL_GENERATION | codes::REBALANCE_IN_PROGRESS => Round::Retry(e),
            c if is_coordinator_error(c) => {
                self.shared.forget_coordinator();
                Round::Retry(e)
            }
            _ => Round::Fatal(e),
        })
    }

    async fn join_group(
        &self,
        conn: &Connection,
        topics: &[String],
        owned: &TopicPartitions,
    ) -> Result<JoinGroupResponse, Round> {
        let group = &self.config.group_id;
        let context = format!("join group {group}");
        let version = group_version(conn, ApiKey::JoinGroup).map_err(Round::Fatal)?;
        if self.config.instance_id.is_some() && version < 5 {
            return Err(Round::Fatal(ClientError::Invalid(format!(
                "broker {} does not support static membership (group.instance.id needs JoinGroup v5, it offers v{version})",
                conn.addr()
            ))));
        }
        let mut subscription = Subscription::new(topics);
        subscription.owned_partitions = owned.clone();
        subscription.generation_id = self.generation_id();
        let metadata = subscription.encode().map_err(Round::Fatal)?;
        let protocols: Vec<JoinGroupRequestProtocol> = self
            .config
            .assignors
            .iter()
            .map(|a| {
                JoinGroupRequestProtocol::default()
                    .with_name(str_bytes(a.name()))
                    .with_metadata(metadata.clone())
            })
            .collect();
        // Two attempts: the first may only bring MEMBER_ID_REQUIRED.
        for _ in 0..2 {
            let mut request = JoinGroupRequest::default()
                .with_group_id(GroupId(str_bytes(group)))
                .with_session_timeout_ms(millis(self.config.session_timeout))
                .with_member_id(str_bytes(&self.member_id()))
                .with_protocol_type(str_bytes(CONSUMER_PROTOCOL_TYPE))
                .with_protocols(protocols.clone());
            if version >= 1 {
                request.rebalance_timeout_ms = millis(self.config.rebalance_timeout);
            }
            if version >= 5 {
                request.group_instance_id = self.config.instance_id.as_deref().map(str_bytes);
            }
            let timeout = self.config.rebalance_timeout + self.cluster.config().request_timeout;
            let response = match conn.request_with_timeout(&request, version, timeout).await {
                Ok(r) => r,
                Err(e) => {
                    if needs_new_coordinator(&e) {
                        self.shared.forget_coordinator();
                        tokio::time::sleep(RETRY_BACKOFF).await;
                        return Err(Round::Retry(e));
                    }
                    return Err(Round::Fatal(e));
                }
            };
            if response.error_code == codes::MEMBER_ID_REQUIRED {
                self.shared.state().member_id = response.member_id.to_string();
                continue;
            }
            if let Some(round) = self.classify(&context, response.error_code, None) {
                if let Round::Retry(_) = round {
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
                return Err(round);
            }
            let mut state = self.shared.state();
            state.member_id = response.member_id.to_string();
            state.generation_id = response.generation_id;
            state.protocol = response.protocol_name.as_ref().map(|p| p.to_string());
            state.leader_id = response.leader.to_string();
            return Ok(response);
        }
        Err(Round::Retry(
            ClientError::kafka(context, codes::MEMBER_ID_REQUIRED, None)
                .unwrap_or_else(|| ClientError::Invalid(format!("could not join group {group}"))),
        ))
    }

    async fn sync_group(
        &self,
        conn: &Connection,
        joined: JoinGroupResponse,
    ) -> Result<TopicPartitions, Round> {
        let group = &self.config.group_id;
        let version = group_version(conn, ApiKey::SyncGroup).map_err(Round::Fatal)?;
        let member_id = joined.member_id.to_string();
        let protocol = joined.protocol_name.as_ref().map(|p| p.to_string());
        let assignments = if joined.leader.as_str() == member_id && !joined.skip_assignment {
            self.lead(&joined, protocol.as_deref())
                .await
                .map_err(Round::Fatal)?
        } else {
            Vec::new()
        };
        let mut request = SyncGroupRequest::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(str_bytes(&member_id))
            .with_assignments(assignments);
        if version >= 3 {
            request.group_instance_id = self.config.instance_id.as_deref().map(str_bytes);
        }
        if version >= 5 {
            request.protocol_type = Some(str_bytes(CONSUMER_PROTOCOL_TYPE));
            request.protocol_name = protocol.as_deref().map(str_bytes);
        }
        let timeout = self.config.rebalance_timeout + self.cluster.config().request_timeout;
        let response = match conn.request_with_timeout(&request, version, timeout).await {
            Ok(r) => r,
            Err(e) if needs_new_coordinator(&e) => {
                self.shared.forget_coordinator();
                tokio::time::sleep(RETRY_BACKOFF).await;
                return Err(Round::Retry(e));
            }
            Err(e) => return Err(Round::Fatal(e)),
        };
        let context = format!("sync group {group}");
        if let Some(round) = self.classify(&context, response.error_code, None) {
            return Err(round);
        }
        let assignment = Assignment::decode(&response.assignment).map_err(Round::Fatal)?;
        Ok(assignment.partitions)
    }

    /// As the leader: runs the chosen assignor over every member's
    /// subscription with the partition counts of the subscribed topics.
    async fn lead(
        &self,
        joined: &JoinGroupResponse,
        protocol: Option<&str>,
    ) -> Result<Vec<SyncGroupRequestAssignment>, ClientError> {
        let name = protocol.unwrap_or_default();
        let assignor = Assignor::from_name(name).ok_or_else(|| {
            ClientError::Invalid(format!(
                "group {} chose assignor {name:?}, which runnel does not implement",
                self.config.group_id
            ))
        })?;
        let members: Vec<MemberSubscription> = joined
            .members
            .iter()
            .map(|m| MemberSubscription {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                subscription: Subscription::decode(&m.metadata).unwrap_or_else(|e| {
                    tracing::warn!(member = %m.member_id, error = %e, "unreadable subscription; assigning nothing to it");
                    Subscription::default()
                }),
            })
            .collect();
        let mut counts = BTreeMap::new();
        for topic in members.iter().flat_map(|m| &m.subscription.topics) {
            if counts.contains_key(topic) {
                continue;
            }
            match self.cluster.refresh_topic(topic, false).await {
                Ok(info) => {
                    counts.insert(topic.clone(), info.partition_count());
                }
                Err(ClientError::UnknownTopic(_)) => {
                    tracing::warn!(%topic, "subscribed topic does not exist; not assigned");
                }
                Err(e) => return Err(e),
            }
        }
        let plan = assignor.assign(&members, &counts);
        plan.into_iter()
            .map(|(member_id, partitions)| {
                let bytes: Bytes = Assignment {
                    partitions,
                    user_data: None,
                }
                .encode()?;
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(str_bytes(&member_id))
                    .with_assignment(bytes))
            })
            .collect()
    }

    /// Leaves the group (LeaveGroup) so it rebalances at once. Static members
    /// (with `group.instance.id`) do not send it, as Kafka's clients: their
    /// partitions wait for them until the session times out.
    pub async fn leave(&self) -> Result<(), ClientError> {
        self.heartbeat.abort();
        let member_id = self.member_id();
        let static_member = self.config.instance_id.is_some();
        {
            let mut state = self.shared.state();
            state.generation_id = -1;
        }
        if member_id.is_empty() || static_member {
            return Ok(());
        }
        let group = &self.config.group_id;
        let conn = self.coordinator().await?;
        let version = group_version(&conn, ApiKey::LeaveGroup)?;
        let mut request = LeaveGroupRequest::default().with_group_id(GroupId(str_bytes(group)));
        if version >= 3 {
            let mut member = MemberIdentity::default().with_member_id(str_bytes(&member_id));
            if version >= 5 {
                member.reason = Some(StrBytes::from_static_str("the consumer is closing"));
            }
            request.members = vec![member];
        } else {
            request.member_id = str_bytes(&member_id);
        }
        let response = conn.request(&request, version).await?;
        let context = format!("leave group {group}");
        let codes = std::iter::once(response.error_code)
            .chain(response.members.iter().map(|m| m.error_code));
        for code in codes {
            // Already gone (session expired): nothing to leave.
            if code == codes::UNKNOWN_MEMBER_ID {
                continue;
            }
            if let Some(e) = ClientError::kafka(&context, code, None) {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The outcome of a failed join or sync round.
enum Round {
    /// Try another round.
    Retry(ClientError),
    /// Give up.
    Fatal(ClientError),
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// Sends a Heartbeat every `heartbeat_interval` while the member is in a
/// generation, and flags a rejoin when the coordinator says the group is
/// rebalancing or the generation is gone.
async fn heartbeat_loop(cluster: Arc<Cluster>, config: MembershipConfig, shared: Arc<Shared>) {
    let group = config.group_id.clone();
    loop {
        tokio::time::sleep(config.heartbeat_interval).await;
        let (member_id, generation_id) = {
            let state = shared.state();
            if state.joining || state.generation_id < 0 || shared.rejoin.load(Ordering::SeqCst) {
                continue;
            }
            (state.member_id.clone(), state.generation_id)
        };
        let conn = match shared.coordinator(&cluster, &group).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(%group, error = %e, "heartbeat: no coordinator");
                continue;
            }
        };
        let Ok(version) = group_version(&conn, ApiKey::Heartbeat) else {
            continue;
        };
        let mut request = HeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes(&group)))
            .with_generation_id(generation_id)
            .with_member_id(str_bytes(&member_id));
        if version >= 3 {
            request.group_instance_id = config.instance_id.as_deref().map(str_bytes);
        }
        let code = match conn.request(&request, version).await {
            Ok(response) => response.error_code,
            Err(e) => {
                tracing::debug!(%group, error = %e, "heartbeat failed");
                if needs_new_coordinator(&e) {
                    shared.forget_coordinator();
                }
                continue;
            }
        };
        // A late answer about a generation we already left means nothing.
        if shared.state().generation_id != generation_id {
            continue;
        }
        match code {
            0 => {}
            codes::REBALANCE_IN_PROGRESS => shared.request_rejoin(),
            codes::ILLEGAL_GENERATION => {
                shared.state().generation_id = -1;
                shared.request_rejoin();
            }
            codes::UNKNOWN_MEMBER_ID => {
                let mut state = shared.state();
                state.generation_id = -1;
                state.member_id.clear();
                drop(state);
                shared.request_rejoin();
            }
            c if is_coordinator_error(c) => shared.forget_coordinator(),
            c => {
                if let Some(e) = ClientError::kafka(format!("heartbeat in group {group}"), c, None)
                {
                    tracing::warn!(error = %e, "heartbeat failed");
                    if c == codes::FENCED_INSTANCE_ID {
                        shared.set_fatal(e);
                    } else {
                        shared.request_rejoin();
                    }
                }
            }
        }
    }
}
