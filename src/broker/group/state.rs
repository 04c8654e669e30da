//! One classic consumer group's in-memory state: members, generation,
//! selected protocol, committed offsets, and the requests waiting on a
//! rebalance.

use super::schema::{GroupValue, MemberValue, OffsetValue};
use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;
use std::collections::{BTreeSet, HashMap, HashSet};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The protocol type of Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A classic group's state, named as Kafka names them in ListGroups/DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment distributed.
    Stable,
    /// Removed.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a member waiting in JoinGroup receives when the join phase ends.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    /// Error code (0 on success).
    pub error: i16,
    /// Generation formed.
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// For the leader: every member's id, instance id and metadata.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// Whether the leader must skip the assignment (static leader rejoin, v9).
    pub skip_assignment: bool,
}

impl JoinOutcome {
    /// An outcome carrying only an error for `member_id`.
    pub fn error(error: i16, member_id: &str) -> Self {
        JoinOutcome {
            error,
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinOutcome::default()
        }
    }
}

/// What a member waiting in SyncGroup receives: an error or its assignment.
pub type SyncOutcome = Result<Bytes, i16>;

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    /// Member id given by the coordinator.
    pub id: String,
    /// Static membership instance id.
    pub instance_id: Option<String>,
    /// Client id of its connection.
    pub client_id: String,
    /// Client host of its connection ("/ip" as Kafka shows it).
    pub client_host: String,
    /// session.timeout.ms.
    pub session_timeout_ms: i32,
    /// rebalance.timeout.ms.
    pub rebalance_timeout_ms: i32,
    /// Supported protocols (name, metadata) in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Assignment of the current generation.
    pub assignment: Bytes,
    /// JoinGroup waiting for the join phase to end.
    pub join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    /// SyncGroup waiting for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    /// When the session expires unless a heartbeat arrives.
    pub session_deadline: Instant,
    /// Unique number of this member incarnation (for its session timer).
    pub uid: u64,
}

impl Member {
    /// The metadata of protocol `name`, if the member supports it.
    pub fn metadata(&self, name: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
    }

    /// Moves the session deadline to now + session timeout.
    pub fn touch(&mut self) {
        self.session_deadline = Instant::now()
            + std::time::Duration::from_millis(self.session_timeout_ms.max(0) as u64);
    }
}

/// One group.
#[derive(Debug)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Current state.
    pub state: GroupState,
    /// When the state last changed (ms since the epoch).
    pub state_timestamp: i64,
    /// Generation id.
    pub generation: i32,
    /// Protocol type of the members (None for offsets-only groups).
    pub protocol_type: Option<String>,
    /// Protocol selected for the current generation.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members in join order (the first is the leader of a new group).
    pub members: IndexMap<String, Member>,
    /// Static members: instance id to member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pub pending_members: HashSet<String>,
    /// Members of the generation that have not sent SyncGroup yet.
    pub pending_sync: HashSet<String>,
    /// Counts rebalances; timers of an older rebalance do nothing.
    pub rebalance_id: u64,
    /// Deadline of the current join phase.
    pub join_deadline: Instant,
    /// While the initial rebalance delay runs: (remaining extension budget in ms).
    pub initial_delay_remaining: Option<u64>,
    /// A member was added during the initial delay.
    pub new_member_added: bool,
    /// Committed offsets by (topic, partition).
    pub offsets: HashMap<(String, i32), OffsetValue>,
    /// Offsets committed by transactions still open (TxnOffsetCommit), per
    /// producer id: they become committed offsets when the transaction's
    /// COMMIT marker reaches the group's `__consumer_offsets` partition and
    /// are dropped at an ABORT.
    pub pending_txn_offsets: HashMap<i64, HashMap<(String, i32), OffsetValue>>,
}

impl Group {
    /// A new empty group.
    pub fn new(id: &str, now_ms: i64) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashSet::new(),
            pending_sync: HashSet::new(),
            rebalance_id: 0,
            join_deadline: Instant::now(),
            initial_delay_remaining: None,
            new_member_added: false,
            offsets: HashMap::new(),
            pending_txn_offsets: HashMap::new(),
        }
    }

    /// Changes state and records when.
    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp = now_ms;
    }

    /// Whether an open transaction holds an offset for `key` (topic, partition).
    pub fn has_pending_txn_offset(&self, key: &(String, i32)) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|m| m.contains_key(key))
    }

    /// Ends `producer_id`'s transaction for this group: on commit its
    /// pending offsets become the committed ones, on abort they are dropped.
    /// Returns whether the group had any.
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool) -> bool {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return false;
        };
        if commit {
            self.offsets.extend(pending);
        }
        true
    }

    /// Whether the group is in one of `states`.
    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    /// Protocols every member supports (empty set if no member).
    fn candidate_protocols(&self) -> BTreeSet<&str> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return BTreeSet::new();
        };
        let mut set: BTreeSet<&str> = first.protocols.iter().map(|(n, _)| n.as_str()).collect();
        for m in members {
            set.retain(|p| m.metadata(p).is_some());
        }
        set
    }

    /// Whether a joining member with `protocol_type` and `protocols` fits the
    /// group: same protocol type and at least one protocol all members share.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols
            .iter()
            .any(|(n, _)| candidates.contains(n.as_str()))
    }

    /// Kafka's protocol selection: among protocols all members support, each
    /// member votes for the first in its preference order; most votes wins
    /// (ties go to the earlier choice of the first member).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: IndexMap<&str, usize> = IndexMap::new();
        if let Some(first) = self.members.values().next() {
            for (n, _) in &first.protocols {
                if candidates.contains(n.as_str()) {
                    votes.insert(n.as_str(), 0);
                }
            }
        }
        for m in self.members.values() {
            if let Some((n, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(n.as_str()))
                && let Some(v) = votes.get_mut(n.as_str())
            {
                *v += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((name, count));
            }
        }
        best.map(|(n, _)| n.to_string())
    }

    /// Whether every member has a JoinGroup waiting and no pending member is outstanding.
    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// The largest rebalance timeout among members (the join phase's bound).
    pub fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    /// Whether `instance_id` belongs to a different member than `member_id`.
    pub fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(owner) => owner != member_id,
            None => false,
        }
    }

    /// Removes a member, fixing the leader and static mapping; returns it.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.shift_remove(member_id)?;
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// Topics the members subscribe to, parsed from their consumer protocol
    /// metadata; `None` if the group is not a consumer group or a
    /// subscription cannot be parsed.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            let metadata = m.metadata(protocol)?;
            for t in parse_subscription(metadata)? {
                topics.insert(t);
            }
        }
        Some(topics)
    }

    /// The metadata record of the current generation, with each member's assignment.
    pub fn to_value(&self) -> GroupValue {
        let protocol = self.protocol.clone();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: protocol
                        .as_deref()
                        .and_then(|p| m.metadata(p).cloned())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// The topics of a serialized `ConsumerProtocolSubscription` (int16 version
/// then the struct; versions above 3 are read as 3, as Kafka reads newer
/// versions), or `None` if it does not parse.
pub fn parse_subscription(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = Bytes::copy_from_slice(metadata);
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    if version < 0 {
        return None;
    }
    let _ = bytes::Buf::get_i16(&mut buf);
    let sub = ConsumerProtocolSubscription::decode(&mut buf, version.min(3)).ok()?;
    Some(sub.topics.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            session_deadline: Instant::now(),
            uid: 0,
        }
    }

    #[test]
    fn selects_the_most_preferred_common_protocol() {
        let mut g = Group::new("g", 0);
        g.protocol_type = Some("consumer".into());
        g.members
            .insert("a".into(), member("a", &["range", "roundrobin"]));
        g.members
            .insert("b".into(), member("b", &["roundrobin", "range"]));
        g.members
            .insert("c".into(), member("c", &["roundrobin", "sticky"]));
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
        assert!(g.supports("consumer", &[("roundrobin".into(), Bytes::new())]));
        assert!(!g.supports("consumer", &[("range".into(), Bytes::new())]));
        assert!(!g.supports("connect", &[("roundrobin".into(), Bytes::new())]));
    }

    #[test]
    fn parses_consumer_subscriptions() {
        let sub = ConsumerProtocolSubscription::default().with_topics(vec![
            StrBytes::from_static_str("t1"),
            StrBytes::from_static_str("t2"),
        ]);
        for version in [0i16, 1, 3] {
            let mut buf = bytes::BytesMut::new();
            buf.extend_from_slice(&version.to_be_bytes());
            sub.encode(&mut buf, version).expect("encodes");
            assert_eq!(
                parse_subscription(&buf),
                Some(vec!["t1".to_string(), "t2".to_string()])
            );
        }
        assert_eq!(parse_subscription(&[0, 0, 0xff]), None);
    }

    #[test]
    fn removing_the_leader_elects_the_next_member() {
        let mut g = Group::new("g", 0);
        g.members.insert("a".into(), member("a", &["range"]));
        g.members.insert("b".into(), member("b", &["range"]));
        g.leader = Some("a".into());
        g.remove_member("a");
        assert_eq!(g.leader.as_deref(), Some("b"));
    }
}
