//! CreateTopics, DeleteTopics and CreatePartitions.

use super::{str_bytes, topic_name};
use crate::broker::state::{Broker, INTERNAL_TOPICS, TopicError};
use crate::log::TopicMeta;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse,
};
use std::collections::{BTreeMap, HashSet};

/// DescribeConfigs/CreateTopics `config_source`: set on the topic.
pub const SOURCE_TOPIC: i8 = 1;
/// `config_source`: set in the broker's static configuration.
pub const SOURCE_STATIC_BROKER: i8 = 4;
/// `config_source`: Kafka's default.
pub const SOURCE_DEFAULT: i8 = 5;

/// Handles CreateTopics v2–v7.
pub fn create_topics(
    broker: &Broker,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    let mut seen = HashSet::new();
    for topic in req.topics {
        let name = topic.name.0.as_str().to_string();
        let mut result = CreatableTopicResult::default();
        result.name = topic.name.clone();
        if !seen.insert(name.clone()) {
            result.error_code = ResponseError::InvalidRequest.code();
            result.error_message = Some(str_bytes(format!(
                "topic '{name}' appears twice in the request"
            )));
            resp.topics.push(result);
            continue;
        }
        if INTERNAL_TOPICS.contains(&name.as_str()) {
            result.error_code = ResponseError::InvalidRequest.code();
            result.error_message = Some(str_bytes(format!(
                "Creation of internal topic {name} is prohibited."
            )));
            result.num_partitions = -1;
            result.replication_factor = -1;
            resp.topics.push(result);
            continue;
        }
        let mut configs = BTreeMap::new();
        for c in &topic.configs {
            if let Some(v) = &c.value {
                configs.insert(c.name.as_str().to_string(), v.as_str().to_string());
            }
        }
        let outcome = (|| {
            let mut partitions = topic.num_partitions;
            let mut rf = topic.replication_factor;
            if !topic.assignments.is_empty() {
                if partitions != -1 || rf != -1 {
                    return Err(TopicError::InvalidPartitions(
                        "give either assignments or partition count and replication factor".into(),
                    ));
                }
                for a in &topic.assignments {
                    if a.broker_ids.iter().any(|b| b.0 != broker.config.node_id) {
                        return Err(TopicError::InvalidReplicationFactor(format!(
                            "partition {} assigned to a broker other than {}",
                            a.partition_index, broker.config.node_id
                        )));
                    }
                }
                partitions = topic.assignments.len() as i32;
                rf = topic.assignments[0].broker_ids.len() as i16;
            }
            broker.create_topic(&name, partitions, rf, configs, req.validate_only)
        })();
        match outcome {
            Ok(meta) => {
                result.topic_id = if req.validate_only {
                    uuid::Uuid::nil()
                } else {
                    meta.id
                };
                result.num_partitions = meta.partitions;
                result.replication_factor = 1;
                if version >= 5 {
                    result.configs = Some(describe_created(broker, &meta));
                }
            }
            Err(e) => {
                result.error_code = e.code();
                result.error_message = Some(str_bytes(e.to_string()));
                result.num_partitions = -1;
                result.replication_factor = -1;
            }
        }
        resp.topics.push(result);
    }
    resp
}

fn describe_created(broker: &Broker, meta: &TopicMeta) -> Vec<CreatableTopicConfigs> {
    let Ok(config) = broker.log_config(meta) else {
        return Vec::new();
    };
    config
        .describe()
        .into_iter()
        .map(|entry| {
            let mut c = CreatableTopicConfigs::default();
            c.name = str_bytes(entry.name);
            c.value = Some(str_bytes(entry.value));
            c.config_source = entry.source.kafka_code();
            c
        })
        .collect()
}

/// Handles DeleteTopics v1–v6 (by name, and by id from v6).
pub fn delete_topics(
    broker: &Broker,
    req: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let mut resp = DeleteTopicsResponse::default();
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().map(|n| n.0.as_str().to_string()),
                    t.topic_id,
                )
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.0.as_str().to_string()), uuid::Uuid::nil()))
            .collect()
    };
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        let resolved = match &name {
            Some(n) => Some(n.clone()),
            None => broker.topic_by_id(id).map(|t| t.meta.name.clone()),
        };
        r.name = resolved.clone().or(name.clone()).map(topic_name);
        r.topic_id = id;
        match resolved {
            None => r.error_code = ResponseError::UnknownTopicId.code(),
            Some(n) => match broker.delete_topic(&n) {
                Ok(meta) => r.topic_id = meta.id,
                Err(e) => {
                    r.error_code = e.code();
                    r.error_message = Some(str_bytes(e.to_string()));
                }
            },
        }
        resp.responses.push(r);
    }
    resp
}

/// Handles CreatePartitions v0–v3.
pub fn create_partitions(
    broker: &Broker,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        let name = t.name.0.as_str();
        let bad_assignment = t.assignments.as_ref().is_some_and(|a| {
            a.iter()
                .any(|x| x.broker_ids.iter().any(|b| b.0 != broker.config.node_id))
        });
        let outcome = if bad_assignment {
            Err(TopicError::InvalidReplicationFactor(format!(
                "partitions can only be assigned to broker {}",
                broker.config.node_id
            )))
        } else {
            broker.create_partitions(name, t.count, req.validate_only)
        };
        if let Err(e) = outcome {
            r.error_code = e.code();
            r.error_message = Some(str_bytes(e.to_string()));
        }
        resp.results.push(r);
    }
    resp
}
