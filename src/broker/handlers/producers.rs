//! DescribeProducers (API 61, KIP-664): the active producers of partitions
//! as their logs' producer state knows them, for `kafka-transactions.sh
//! describe-producers` and finding hanging transactions.

use crate::broker::state::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

/// Handles DescribeProducers v0: per partition, every producer id with its
/// epoch, last sequence and timestamp, coordinator epoch and the start
/// offset of its ongoing transaction (-1 if none).
pub fn handle(
    broker: &Broker,
    req: DescribeProducersRequest,
    _version: i16,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let mut r = PartitionResponse::default().with_partition_index(index);
                    match broker.partition(t.name.0.as_str(), index) {
                        None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                        Some(part) => match part.log() {
                            Err(offline) => r.error_code = super::log_error_code(&offline),
                            Ok(log) => {
                                let mut producers: Vec<ProducerState> = log
                                    .producer_state()
                                    .producers()
                                    .map(|e| {
                                        ProducerState::default()
                                            .with_producer_id(ProducerId(e.producer_id))
                                            .with_producer_epoch(i32::from(e.producer_epoch))
                                            .with_last_sequence(e.last_seq())
                                            .with_last_timestamp(e.last_timestamp)
                                            .with_coordinator_epoch(e.coordinator_epoch)
                                            .with_current_txn_start_offset(
                                                e.current_txn_first_offset.unwrap_or(-1),
                                            )
                                    })
                                    .collect();
                                producers.sort_by_key(|p| p.producer_id.0);
                                r.active_producers = producers;
                            }
                        },
                    }
                    r
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
