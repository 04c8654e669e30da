//! OffsetForLeaderEpoch (API 23, KIP-101/KIP-320): the end offset of a
//! leader epoch from the partition's leader epoch cache
//! (`leader-epoch-checkpoint`), which consumers use to validate their
//! position after a seek, a restart or a leader change.

use crate::broker::state::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

/// Handles OffsetForLeaderEpoch v2–v4 as Kafka's
/// `Partition.lastOffsetForLeaderEpoch`: a `current_leader_epoch` older
/// than the partition's is FENCED_LEADER_EPOCH, a newer one
/// UNKNOWN_LEADER_EPOCH (-1 skips the check); otherwise the requested
/// epoch's (epoch, end offset), (-1, -1) when the log knows no such epoch.
pub fn handle(
    broker: &Broker,
    req: OffsetForLeaderEpochRequest,
    _version: i16,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(part) = broker.partition(t.topic.0.as_str(), p.partition) else {
                        r.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return r;
                    };
                    let log = match part.log() {
                        Ok(log) => log,
                        Err(offline) => {
                            r.error_code = super::log_error_code(&offline);
                            return r;
                        }
                    };
                    let current = log.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch < current {
                        r.error_code = ResponseError::FencedLeaderEpoch.code();
                    } else if p.current_leader_epoch > current {
                        r.error_code = ResponseError::UnknownLeaderEpoch.code();
                    } else {
                        let (epoch, end) = log.end_offset_for_epoch(p.leader_epoch);
                        r.leader_epoch = epoch;
                        r.end_offset = end;
                    }
                    r
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
