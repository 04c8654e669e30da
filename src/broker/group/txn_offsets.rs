//! Offsets committed inside transactions (KIP-98, KIP-447): TxnOffsetCommit
//! writes them to the group's `__consumer_offsets` partition as a
//! transactional batch of the producer and keeps them pending in the group;
//! the transaction's COMMIT marker on that partition makes them the
//! committed offsets, its ABORT marker drops them
//! ([`GroupCoordinator::complete_transaction`], called by whoever writes the
//! markers). While pending, OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for those partitions.

use super::coordinator::{GroupCoordinator, now_ms, offset_record};
use super::schema::OffsetValue;
use super::state::{Group, GroupState};
use super::store::{StoredRecord, partition_for};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use std::collections::HashMap;

impl GroupCoordinator {
    /// TxnOffsetCommit v0–v4. A standalone producer (no member id,
    /// generation -1) may commit for any group, creating it if needed; a
    /// group member's generation and member id are checked as for
    /// OffsetCommit (KIP-447). The response comes once the records are
    /// durable; the offsets count when the transaction commits.
    ///
    /// `verify` checks that the group's partition is in the producer's
    /// ongoing transaction (the transaction coordinator's answer); it runs
    /// with that partition locked, just before the write.
    pub async fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
        verify: impl Fn() -> Result<(), i16>,
    ) -> TxnOffsetCommitResponse {
        let _ = version;
        let group_id = req.group_id.as_str().to_string();
        let producer_id = req.producer_id.0;
        let now = now_ms();
        let mut errors: HashMap<(String, i32), i16> = HashMap::new();
        let mut valid: Vec<((String, i32), OffsetValue)> = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                let key = (t.name.to_string(), p.partition_index);
                let metadata = p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let error = if !self.inner.topics.partition_exists(&key.0, key.1) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if metadata.len() > self.inner.config.offset_metadata_max_bytes {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    valid.push((
                        key.clone(),
                        OffsetValue {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata,
                            commit_timestamp: now,
                            expire_timestamp: -1,
                        },
                    ));
                    0
                };
                errors.insert(key, error);
            }
        }
        let mut result = self
            .check_txn_member(&req)
            .map_or(Ok(()), |e| Err(e.code()));
        if result.is_ok() && !valid.is_empty() {
            let records: Vec<StoredRecord> = valid
                .iter()
                .map(|((t, p), v)| offset_record(&group_id, t, *p, Some(v)))
                .collect();
            let partition = self.offsets_partition_for(&group_id);
            // With the partition locked: the transaction is checked and the
            // offsets become pending before the records are written, so a
            // marker (written under the same lock) always comes after both
            // and completes them.
            let mut guard = || {
                verify()?;
                let mut groups = self.inner.lock();
                groups
                    .entry(group_id.clone())
                    .or_insert_with(|| Group::new(&group_id, now))
                    .pending_txn_offsets
                    .entry(producer_id)
                    .or_default()
                    .extend(valid.iter().cloned());
                Ok(())
            };
            let appended = self.inner.store.append_transactional(
                partition,
                &records,
                producer_id,
                req.producer_epoch,
                now,
                &mut guard,
            );
            let unavailable = ResponseError::CoordinatorNotAvailable.code();
            result = match appended {
                Ok(Ok(durable)) => durable.await.map_err(|e| {
                    tracing::error!("group {group_id}: transactional offsets not persisted: {e}");
                    unavailable
                }),
                Ok(Err(code)) => Err(code),
                Err(e) => {
                    tracing::error!("group {group_id}: transactional offsets not written: {e}");
                    Err(unavailable)
                }
            };
            if result == Err(unavailable) {
                // Not written or not durable: not pending either (Kafka's
                // failPendingTxnOffsetCommit).
                let mut groups = self.inner.lock();
                if let Some(pending) = groups
                    .get_mut(&group_id)
                    .and_then(|g| g.pending_txn_offsets.get_mut(&producer_id))
                {
                    for (key, _) in &valid {
                        pending.remove(key);
                    }
                }
            }
        }
        if let Err(code) = result {
            for e in errors.values_mut() {
                if *e == 0 {
                    *e = code;
                }
            }
        }
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let error = errors
                            .get(&(t.name.to_string(), p.partition_index))
                            .copied()
                            .unwrap_or(0);
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error)
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    }

    /// The partition of `__consumer_offsets` holding `group`'s offsets.
    pub fn offsets_partition_for(&self, group: &str) -> i32 {
        partition_for(group, self.inner.store.partitions())
    }

    /// Ends `producer_id`'s transaction for every group of `__consumer_offsets`
    /// partition `partition`, once its marker is in that partition: on commit
    /// the pending offsets become committed, on abort they are dropped.
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, commit: bool) {
        let partitions = self.inner.store.partitions();
        let mut groups = self.inner.lock();
        for group in groups.values_mut() {
            if partition_for(&group.id, partitions) == partition
                && group.complete_txn(producer_id, commit)
            {
                tracing::debug!(
                    "group {}: transaction of producer {producer_id} {}",
                    group.id,
                    if commit { "committed" } else { "aborted" }
                );
            }
        }
    }

    /// Kafka's checks of a transactional commit's group membership, in order.
    fn check_txn_member(&self, req: &TxnOffsetCommitRequest) -> Option<ResponseError> {
        let groups = self.inner.lock();
        let group = groups.get(req.group_id.as_str())?;
        let member_id = req.member_id.as_str();
        if group.is(GroupState::Dead) {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if group.is_fenced(req.group_instance_id.as_deref(), member_id) {
            return Some(ResponseError::FencedInstanceId);
        }
        if !member_id.is_empty() && !group.members.contains_key(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        if req.generation_id >= 0 && req.generation_id != group.generation {
            return Some(ResponseError::IllegalGeneration);
        }
        None
    }
}
