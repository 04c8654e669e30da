//! Metadata: this node as the only broker and controller, every requested
//! topic with its id and partitions, auto-creating topics when allowed.

use super::{str_bytes, topic_name};
use crate::broker::state::{Broker, INTERNAL_TOPICS, Topic, TopicError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use std::collections::BTreeMap;

/// Whether a topic is one of Kafka's internal topics.
pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

fn topic_entry(broker: &Broker, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let mut t = MetadataResponseTopic::default();
    t.name = Some(topic_name(topic.meta.name.clone()));
    t.topic_id = topic.meta.id;
    t.is_internal = is_internal(&topic.meta.name);
    t.partitions = (0..topic.meta.partitions)
        .map(|i| {
            let mut p = MetadataResponsePartition::default();
            p.partition_index = i;
            p.leader_id = node;
            p.leader_epoch = 0;
            p.replica_nodes = vec![node];
            p.isr_nodes = vec![node];
            let offline = usize::try_from(i)
                .ok()
                .and_then(|i| topic.partitions.get(i))
                .is_some_and(|part| part.offline_reason().is_some());
            if offline {
                // As Kafka's metadata cache shows a partition whose only
                // replica is offline: no leader, LEADER_NOT_AVAILABLE, the
                // replica listed as offline.
                p.error_code = ResponseError::LeaderNotAvailable.code();
                p.leader_id = BrokerId(-1);
                p.offline_replicas = vec![node];
            }
            p
        })
        .collect();
    t
}

fn error_entry(name: Option<String>, id: uuid::Uuid, code: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = name.map(topic_name);
    t.topic_id = id;
    t.error_code = code;
    t
}

/// Handles Metadata v0–v12.
pub fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let mut resp = MetadataResponse::default();
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(broker.config.node_id);
    b.host = str_bytes(broker.config.advertised_host.clone());
    b.port = broker.advertised_port as i32;
    resp.brokers = vec![b];
    resp.cluster_id = Some(str_bytes(broker.cluster_id.clone()));
    resp.controller_id = BrokerId(broker.config.node_id);

    let all = match &req.topics {
        None => true,
        Some(list) => list.is_empty() && version == 0,
    };
    if all {
        resp.topics = broker
            .topics()
            .iter()
            .map(|t| topic_entry(broker, t))
            .collect();
        return resp;
    }
    let allow_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    for wanted in req.topics.unwrap_or_default() {
        // Asked by id: no name (some clients send an empty one).
        let name = wanted
            .name
            .as_ref()
            .filter(|n| !n.0.is_empty() || wanted.topic_id.is_nil());
        let entry = match name {
            Some(name) => {
                let name = name.0.as_str().to_string();
                match broker.topic(&name) {
                    Some(t) => topic_entry(broker, &t),
                    None if allow_create && !INTERNAL_TOPICS.contains(&name.as_str()) => {
                        match broker.create_topic(&name, -1, -1, BTreeMap::new(), false) {
                            Ok(_) => match broker.topic(&name) {
                                Some(t) => topic_entry(broker, &t),
                                None => error_entry(
                                    Some(name),
                                    uuid::Uuid::nil(),
                                    ResponseError::LeaderNotAvailable.code(),
                                ),
                            },
                            // Created concurrently by another request.
                            Err(TopicError::Exists(_)) => match broker.topic(&name) {
                                Some(t) => topic_entry(broker, &t),
                                None => error_entry(
                                    Some(name),
                                    uuid::Uuid::nil(),
                                    ResponseError::LeaderNotAvailable.code(),
                                ),
                            },
                            Err(e) => {
                                tracing::warn!("auto-creating topic '{name}': {e}");
                                error_entry(Some(name), uuid::Uuid::nil(), e.code())
                            }
                        }
                    }
                    None => error_entry(
                        Some(name),
                        uuid::Uuid::nil(),
                        ResponseError::UnknownTopicOrPartition.code(),
                    ),
                }
            }
            None => match broker.topic_by_id(wanted.topic_id) {
                Some(t) => topic_entry(broker, &t),
                None => error_entry(None, wanted.topic_id, ResponseError::UnknownTopicId.code()),
            },
        };
        resp.topics.push(entry);
    }
    resp
}
