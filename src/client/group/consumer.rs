//! A consumer-group member that reads: joins the group, consumes the
//! partitions the group assigns it (starting from the committed offsets, or
//! `auto.offset.reset` where none), commits, follows rebalances, and leaves
//! the group on close.
//!
//! Delivery: records returned by [`GroupConsumer::poll`] are committed by
//! [`GroupConsumer::commit_positions`]. Calling it after processing the
//! records gives at-least-once delivery; calling it before gives
//! at-most-once. On a rebalance, `poll` first commits the positions of the
//! records it returned before (the caller is done with them when it polls
//! again), so a clean handover reads nothing twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::assignor::Assignor;
use super::coordinator::{codes, needs_new_coordinator};
use super::membership::{Membership, MembershipConfig};
use super::offsets::{CommittedOffsets, OffsetToCommit, commit, fetch_committed};
use super::protocol::TopicPartitions;
use crate::client::Client;
use crate::client::cluster::Cluster;
use crate::client::consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, OffsetSpec, PartitionPosition,
};
use crate::client::error::ClientError;

/// Where to start a partition the group has no committed offset for
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The first offset in the log.
    Earliest,
    /// The end of the log: only new records (Kafka's default).
    #[default]
    Latest,
}

impl AutoOffsetReset {
    fn spec(self) -> OffsetSpec {
        match self {
            AutoOffsetReset::Earliest => OffsetSpec::Earliest,
            AutoOffsetReset::Latest => OffsetSpec::Latest,
        }
    }
}

impl std::str::FromStr for AutoOffsetReset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" | "smallest" | "beginning" => Ok(AutoOffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(AutoOffsetReset::Latest),
            _ => Err(format!("expected earliest or latest, got '{s}'")),
        }
    }
}

/// Settings of a group member (Kafka's names in parentheses).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// The group to join (`group.id`).
    pub group_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Time without heartbeat after which the coordinator drops the member
    /// (`session.timeout.ms`, default 45 s).
    pub session_timeout: Duration,
    /// Time the coordinator gives members to rejoin in a rebalance
    /// (`max.poll.interval.ms`, default 5 min).
    pub rebalance_timeout: Duration,
    /// Heartbeat period (`heartbeat.interval.ms`, default 3 s).
    pub heartbeat_interval: Duration,
    /// Start of partitions without a committed offset (`auto.offset.reset`).
    pub auto_offset_reset: AutoOffsetReset,
    /// Static membership (`group.instance.id`).
    pub instance_id: Option<String>,
    /// Assignors offered, in order of preference
    /// (`partition.assignment.strategy`, default range then roundrobin).
    pub assignors: Vec<Assignor>,
    /// Fetch settings.
    pub consumer: ConsumerConfig,
}

impl GroupConfig {
    /// Kafka's defaults for `group_id` consuming `topics`.
    pub fn new(group_id: impl Into<String>, topics: &[&str]) -> Self {
        GroupConfig {
            group_id: group_id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            auto_offset_reset: AutoOffsetReset::default(),
            instance_id: None,
            assignors: Assignor::ALL.to_vec(),
            consumer: ConsumerConfig::default(),
        }
    }
}

/// What became of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The coordinator stored the offsets (or there was nothing new).
    Committed,
    /// The group is rebalancing or this member lost its generation: nothing
    /// was stored, the next poll rejoins, and the records since the last
    /// commit may be delivered again (to this or another member).
    Rebalancing,
}

/// Per topic: partitions to start at `auto.offset.reset`, and partitions
/// to start at a committed offset.
type StartPlan = (Vec<i32>, Vec<(i32, i64)>);

/// A member of a consumer group reading its assigned partitions.
#[derive(Debug)]
pub struct GroupConsumer {
    cluster: Arc<Cluster>,
    config: GroupConfig,
    membership: Membership,
    consumer: Consumer,
    assignment: TopicPartitions,
    committed: HashMap<(String, i32), i64>,
}

impl GroupConsumer {
    /// Joins the group and takes up the first assignment (waits for the
    /// rebalance to complete).
    pub async fn join(client: &Client, config: GroupConfig) -> Result<Self, ClientError> {
        if config.group_id.is_empty() {
            return Err(ClientError::Invalid("the group id is empty".to_string()));
        }
        if config.topics.is_empty() {
            return Err(ClientError::Invalid(
                "a group member needs at least one topic".to_string(),
            ));
        }
        if config.assignors.is_empty() {
            return Err(ClientError::Invalid("no assignor offered".to_string()));
        }
        let cluster = client.cluster().clone();
        let membership = Membership::new(
            cluster.clone(),
            MembershipConfig {
                group_id: config.group_id.clone(),
                instance_id: config.instance_id.clone(),
                session_timeout: config.session_timeout,
                rebalance_timeout: config.rebalance_timeout,
                heartbeat_interval: config.heartbeat_interval,
                assignors: config.assignors.clone(),
            },
        );
        let mut member = GroupConsumer {
            consumer: Consumer::new(cluster.clone(), config.consumer.clone()),
            cluster,
            config,
            membership,
            assignment: TopicPartitions::new(),
            committed: HashMap::new(),
        };
        member.rebalance().await?;
        Ok(member)
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    /// The member id the coordinator gave this member.
    pub fn member_id(&self) -> String {
        self.membership.member_id()
    }

    /// The current generation (-1 while between generations).
    pub fn generation_id(&self) -> i32 {
        self.membership.generation_id()
    }

    /// Whether this member led the last rebalance (ran the assignor).
    pub fn is_leader(&self) -> bool {
        self.membership.is_leader()
    }

    /// The assignor the group uses in this generation.
    pub fn protocol(&self) -> Option<String> {
        self.membership.protocol()
    }

    /// The partitions assigned to this member, by topic.
    pub fn assignment(&self) -> &TopicPartitions {
        &self.assignment
    }

    /// The assigned partitions with their read positions.
    pub fn positions(&self) -> &[PartitionPosition] {
        self.consumer.positions()
    }

    /// Whether every assigned partition was read to its high watermark (as
    /// of the last fetch); true with no partitions.
    pub fn at_end(&self) -> bool {
        self.consumer.at_end()
    }

    /// Returns the next records of the assigned partitions (empty when none
    /// arrived within the fetch wait). Rejoins first when the group is
    /// rebalancing, committing the positions of the records returned so far.
    pub async fn poll(&mut self) -> Result<Vec<ConsumerRecord>, ClientError> {
        if let Some(e) = self.membership.take_fatal() {
            return Err(e);
        }
        if self.membership.needs_rejoin() {
            self.rebalance().await?;
        }
        if self.assignment.is_empty() {
            self.membership
                .wait_for_rebalance(self.config.consumer.max_wait)
                .await;
            return Ok(Vec::new());
        }
        match self.consumer.poll().await {
            Ok(records) => Ok(records),
            Err(ClientError::OffsetOutOfRange {
                topic,
                partition,
                offset,
                ..
            }) => {
                let spec = self.config.auto_offset_reset.spec();
                tracing::warn!(%topic, partition, offset, ?spec, "offset out of range; resetting");
                self.consumer.seek(&topic, partition, spec).await?;
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves the read position of an assigned partition to `offset` (the
    /// next record to return), like Kafka's `KafkaConsumer.seek`: records
    /// polled past it but not processed are read again, and the next
    /// [`GroupConsumer::commit_positions`] (or [`GroupConsumer::close`])
    /// commits `offset`.
    pub async fn seek(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), ClientError> {
        self.consumer
            .seek(topic, partition, OffsetSpec::Offset(offset))
            .await
    }

    /// Commits the read position of every assigned partition that moved
    /// since the last commit.
    pub async fn commit_positions(&mut self) -> Result<CommitOutcome, ClientError> {
        let offsets: Vec<OffsetToCommit> = self
            .consumer
            .positions()
            .iter()
            .filter(|p| p.position >= 0)
            .filter(|p| {
                self.committed.get(&(p.topic.to_string(), p.partition)) != Some(&p.position)
            })
            .map(|p| OffsetToCommit {
                topic: p.topic.to_string(),
                partition: p.partition,
                offset: p.position,
            })
            .collect();
        self.commit(&offsets).await
    }

    /// Commits explicit offsets (each the offset of the next record to read)
    /// in the current generation.
    pub async fn commit(
        &mut self,
        offsets: &[OffsetToCommit],
    ) -> Result<CommitOutcome, ClientError> {
        if offsets.is_empty() {
            return Ok(CommitOutcome::Committed);
        }
        let group = self.config.group_id.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(committer) = self.membership.committer() else {
                return Ok(CommitOutcome::Rebalancing);
            };
            let result = async {
                let conn = self.membership.coordinator().await?;
                commit(&conn, &group, &committer, offsets).await
            }
            .await;
            match result {
                Ok(()) => {
                    for o in offsets {
                        self.committed
                            .insert((o.topic.clone(), o.partition), o.offset);
                    }
                    return Ok(CommitOutcome::Committed);
                }
                Err(e) => {
                    self.membership.observe_error(&e);
                    let code = e.code().map(|c| c.code());
                    if matches!(
                        code,
                        Some(
                            codes::REBALANCE_IN_PROGRESS
                                | codes::ILLEGAL_GENERATION
                                | codes::UNKNOWN_MEMBER_ID
                        )
                    ) {
                        return Ok(CommitOutcome::Rebalancing);
                    }
                    if attempt < 3 && needs_new_coordinator(&e) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Commits the positions and leaves the group, which then rebalances
    /// the partitions to the other members at once.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let committed = self.commit_positions().await;
        let left = self.membership.leave().await;
        committed?;
        left
    }

    /// Commits what was read (while the generation holds), rejoins and
    /// takes up the new assignment.
    async fn rebalance(&mut self) -> Result<(), ClientError> {
        if self.membership.committer().is_some()
            && let Err(e) = self.commit_positions().await
        {
            tracing::warn!(group = %self.config.group_id, error = %e, "commit before rebalance failed");
        }
        let assignment = self
            .membership
            .join(&self.config.topics, &self.assignment)
            .await?;
        self.take_up(assignment).await
    }

    /// Moves the fetcher to `assignment`: drops revoked partitions, starts
    /// the others at their committed offsets (or `auto.offset.reset`), and
    /// keeps the position of a partition it already reads if nobody
    /// committed past it.
    async fn take_up(&mut self, assignment: TopicPartitions) -> Result<(), ClientError> {
        let previous: Vec<(String, i32, i64)> = self
            .consumer
            .positions()
            .iter()
            .map(|p| (p.topic.to_string(), p.partition, p.position))
            .collect();
        for (topic, partition, _) in &previous {
            let kept = assignment
                .get(topic)
                .is_some_and(|parts| parts.contains(partition));
            if !kept {
                self.consumer.unassign(topic, *partition);
            }
        }
        self.assignment = assignment;
        if self.assignment.is_empty() {
            self.committed.clear();
            return Ok(());
        }
        let committed: CommittedOffsets = {
            let conn = self.membership.coordinator().await?;
            fetch_committed(&conn, &self.config.group_id, Some(&self.assignment)).await?
        };
        self.committed = committed
            .iter()
            .map(|(key, c)| (key.clone(), c.offset))
            .collect();
        let reset = self.config.auto_offset_reset.spec();
        let mut plan: BTreeMap<String, StartPlan> = BTreeMap::new();
        for (topic, partitions) in &self.assignment {
            for &partition in partitions {
                let current = previous
                    .iter()
                    .find(|(t, p, _)| t == topic && *p == partition)
                    .map(|&(_, _, position)| position);
                let stored = committed.get(&(topic.clone(), partition)).map(|c| c.offset);
                let entry = plan.entry(topic.clone()).or_default();
                match (stored, current) {
                    (Some(offset), Some(position)) if offset == position => {}
                    (Some(offset), _) => entry.1.push((partition, offset)),
                    (None, Some(_)) => {}
                    (None, None) => entry.0.push(partition),
                }
            }
        }
        for (topic, (to_reset, to_offsets)) in plan {
            let result = async {
                if !to_reset.is_empty() {
                    self.consumer.assign(&topic, Some(&to_reset), reset).await?;
                }
                for (partition, offset) in to_offsets {
                    self.consumer
                        .assign(&topic, Some(&[partition]), OffsetSpec::Offset(offset))
                        .await?;
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => {}
                Err(ClientError::UnknownTopic(_)) => {
                    tracing::warn!(%topic, "assigned topic no longer exists; skipped");
                    self.cluster.invalidate(&topic);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
