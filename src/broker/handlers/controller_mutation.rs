//! The controller mutation quota around CreateTopics, CreatePartitions and
//! DeleteTopics (KIP-599, Kafka's `ControllerMutationQuotaManager`): the
//! partitions each request creates or deletes are charged to the client's
//! `controller_mutation_rate`. In the versions that know
//! THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+, CreatePartitions v3+,
//! DeleteTopics v5+; Kafka's "strict" quota) a client already over its
//! quota has every topic refused with it; older versions are served and
//! only throttled ("permissive"). The topic handlers themselves are those of
//! [`super::topics`].

use super::str_bytes;
use super::topics;
use crate::broker::quota::{QuotaType, RequestQuota};
use crate::broker::state::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse,
};
use std::collections::HashMap;

/// Kafka's message for THROTTLING_QUOTA_EXCEEDED.
const EXCEEDED: &str = "The throttling quota has been exceeded.";

/// Whether the client is already over its controller mutation quota and
/// the version is strict.
fn refused(quota: &Option<RequestQuota>, strict: bool) -> bool {
    strict
        && quota.as_ref().is_some_and(|q| {
            q.quotas
                .is_exceeded(QuotaType::ControllerMutation, &q.user, &q.client_id)
        })
}

/// Charges `partitions` and returns the throttle (0 without a quota).
fn charge(quota: &Option<RequestQuota>, partitions: i64) -> i32 {
    match quota {
        Some(q) if partitions > 0 => q.record(QuotaType::ControllerMutation, partitions as f64),
        Some(q) => q
            .quotas
            .throttle_now(QuotaType::ControllerMutation, &q.user, &q.client_id),
        None => 0,
    }
}

/// CreateTopics under the quota; returns the response and the throttle.
pub fn create_topics(
    broker: &Broker,
    quota: &Option<RequestQuota>,
    req: CreateTopicsRequest,
    version: i16,
) -> (CreateTopicsResponse, i32) {
    if refused(quota, version >= 6) {
        let mut resp = CreateTopicsResponse::default();
        for t in &req.topics {
            let mut r = CreatableTopicResult::default();
            r.name = t.name.clone();
            r.error_code = ResponseError::ThrottlingQuotaExceeded.code();
            r.error_message = Some(str_bytes(EXCEEDED));
            r.num_partitions = -1;
            r.replication_factor = -1;
            resp.topics.push(r);
        }
        return (resp, charge(quota, 0));
    }
    let validate_only = req.validate_only;
    let resp = topics::create_topics(broker, req, version);
    let created: i64 = resp
        .topics
        .iter()
        .filter(|t| t.error_code == 0 && !validate_only)
        .map(|t| i64::from(t.num_partitions.max(0)))
        .sum();
    let throttle = charge(quota, created);
    (resp, throttle)
}

/// CreatePartitions under the quota; returns the response and the throttle.
pub fn create_partitions(
    broker: &Broker,
    quota: &Option<RequestQuota>,
    req: CreatePartitionsRequest,
    version: i16,
) -> (CreatePartitionsResponse, i32) {
    if refused(quota, version >= 3) {
        let mut resp = CreatePartitionsResponse::default();
        for t in &req.topics {
            let mut r = CreatePartitionsTopicResult::default();
            r.name = t.name.clone();
            r.error_code = ResponseError::ThrottlingQuotaExceeded.code();
            r.error_message = Some(str_bytes(EXCEEDED));
            resp.results.push(r);
        }
        return (resp, charge(quota, 0));
    }
    let validate_only = req.validate_only;
    // Partitions before, to charge only the ones added.
    let before: HashMap<String, (i64, i64)> = if quota.is_some() {
        req.topics
            .iter()
            .filter_map(|t| {
                let name = t.name.0.as_str();
                broker.topic(name).map(|found| {
                    (
                        name.to_string(),
                        (found.partitions.len() as i64, i64::from(t.count)),
                    )
                })
            })
            .collect()
    } else {
        HashMap::new()
    };
    let resp = topics::create_partitions(broker, req, version);
    let added: i64 = resp
        .results
        .iter()
        .filter(|r| r.error_code == 0 && !validate_only)
        .filter_map(|r| before.get(r.name.0.as_str()))
        .map(|(old, new)| (new - old).max(0))
        .sum();
    let throttle = charge(quota, added);
    (resp, throttle)
}

/// DeleteTopics under the quota; returns the response and the throttle.
pub fn delete_topics(
    broker: &Broker,
    quota: &Option<RequestQuota>,
    req: DeleteTopicsRequest,
    version: i16,
) -> (DeleteTopicsResponse, i32) {
    if refused(quota, version >= 5) {
        let mut resp = DeleteTopicsResponse::default();
        let names: Vec<(Option<kafka_protocol::messages::TopicName>, uuid::Uuid)> = if version >= 6
        {
            req.topics
                .iter()
                .map(|t| (t.name.clone(), t.topic_id))
                .collect()
        } else {
            req.topic_names
                .iter()
                .map(|n| (Some(n.clone()), uuid::Uuid::nil()))
                .collect()
        };
        for (name, id) in names {
            let mut r = DeletableTopicResult::default();
            r.name = name;
            r.topic_id = id;
            r.error_code = ResponseError::ThrottlingQuotaExceeded.code();
            r.error_message = Some(str_bytes(EXCEEDED));
            resp.responses.push(r);
        }
        return (resp, charge(quota, 0));
    }
    // Partitions of each topic by id, taken before they are deleted.
    let sizes: HashMap<uuid::Uuid, i64> = if quota.is_some() {
        let mut named: Vec<String> = req
            .topic_names
            .iter()
            .map(|n| n.0.as_str().to_string())
            .collect();
        named.extend(
            req.topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str().to_string())),
        );
        let mut sizes: HashMap<uuid::Uuid, i64> = named
            .iter()
            .filter_map(|n| broker.topic(n))
            .map(|t| (t.meta.id, t.partitions.len() as i64))
            .collect();
        for t in &req.topics {
            if let Some(found) = broker.topic_by_id(t.topic_id) {
                sizes.insert(found.meta.id, found.partitions.len() as i64);
            }
        }
        sizes
    } else {
        HashMap::new()
    };
    let resp = topics::delete_topics(broker, req, version);
    let deleted: i64 = resp
        .responses
        .iter()
        .filter(|r| r.error_code == 0)
        .filter_map(|r| sizes.get(&r.topic_id))
        .sum();
    let throttle = charge(quota, deleted);
    (resp, throttle)
}
