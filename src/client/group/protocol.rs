//! The "consumer" embedded protocol: the subscription a member sends in
//! JoinGroup metadata and the assignment the leader hands out in SyncGroup,
//! each an `int16` version followed by Kafka's `ConsumerProtocolSubscription`
//! / `ConsumerProtocolAssignment` schema. Java, librdkafka and kafka-python
//! members read and write the same bytes.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
    consumer_protocol_assignment, consumer_protocol_subscription,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::client::error::ClientError;

/// The protocol type of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// The subscription version we write (v3: owned partitions, generation, rack).
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version we write.
pub const ASSIGNMENT_VERSION: i16 = 3;

/// Partitions by topic, topics and partitions sorted.
pub type TopicPartitions = BTreeMap<String, Vec<i32>>;

/// A member's subscription as carried in JoinGroup metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific user data.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns (cooperative protocols), v1+.
    pub owned_partitions: TopicPartitions,
    /// The generation the member last joined (-1: none), v2+.
    pub generation_id: i32,
    /// The member's rack, v3+.
    pub rack_id: Option<String>,
}

fn protocol_error(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol {
        addr: "group member".to_string(),
        message: format!("invalid consumer protocol {what}: {e}"),
    }
}

/// Reads the `int16` version prefix; a version newer than the schemas we know
/// is read with the newest schema, as Kafka's clients do (fields are only
/// ever appended).
fn read_version(buf: &mut Bytes, max: i16, what: &str) -> Result<i16, ClientError> {
    if buf.remaining() < 2 {
        return Err(protocol_error(what, "shorter than its version"));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(protocol_error(what, format!("version {version}")));
    }
    Ok(version.min(max))
}

fn encode_versioned(
    message: &impl Encodable,
    version: i16,
    what: &str,
) -> Result<Bytes, ClientError> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|e| protocol_error(what, e))?;
    Ok(buf.freeze())
}

impl Subscription {
    /// A plain subscription to `topics` (sorted and deduplicated).
    pub fn new(topics: &[String]) -> Self {
        let mut topics = topics.to_vec();
        topics.sort();
        topics.dedup();
        Subscription {
            topics,
            generation_id: -1,
            ..Subscription::default()
        }
    }

    /// Encodes as JoinGroup protocol metadata.
    pub fn encode(&self) -> Result<Bytes, ClientError> {
        let owned = self
            .owned_partitions
            .iter()
            .map(|(topic, partitions)| {
                consumer_protocol_subscription::TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(partitions.clone())
            })
            .collect();
        let message = ConsumerProtocolSubscription::default()
            .with_topics(
                self.topics
                    .iter()
                    .map(|t| StrBytes::from_string(t.clone()))
                    .collect(),
            )
            .with_user_data(self.user_data.clone())
            .with_owned_partitions(owned)
            .with_generation_id(self.generation_id)
            .with_rack_id(self.rack_id.clone().map(StrBytes::from_string));
        encode_versioned(&message, SUBSCRIPTION_VERSION, "subscription")
    }

    /// Decodes JoinGroup protocol metadata of any version.
    pub fn decode(metadata: &[u8]) -> Result<Self, ClientError> {
        let mut buf = Bytes::copy_from_slice(metadata);
        let version = read_version(&mut buf, SUBSCRIPTION_VERSION, "subscription")?;
        let m = ConsumerProtocolSubscription::decode(&mut buf, version)
            .map_err(|e| protocol_error("subscription", e))?;
        Ok(Subscription {
            topics: m.topics.iter().map(|t| t.to_string()).collect(),
            user_data: m.user_data,
            owned_partitions: collect_partitions(
                m.owned_partitions
                    .into_iter()
                    .map(|tp| (tp.topic.0.to_string(), tp.partitions)),
            ),
            generation_id: m.generation_id,
            rack_id: m.rack_id.map(|r| r.to_string()),
        })
    }
}

/// A member's assignment as carried in SyncGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Assigned partitions by topic.
    pub partitions: TopicPartitions,
    /// Assignor-specific user data.
    pub user_data: Option<Bytes>,
}

impl Assignment {
    /// Encodes for a SyncGroup request.
    pub fn encode(&self) -> Result<Bytes, ClientError> {
        let partitions = self
            .partitions
            .iter()
            .map(|(topic, partitions)| {
                consumer_protocol_assignment::TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(partitions.clone())
            })
            .collect();
        let message = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(partitions)
            .with_user_data(self.user_data.clone());
        encode_versioned(&message, ASSIGNMENT_VERSION, "assignment")
    }

    /// Decodes a SyncGroup (or DescribeGroups) assignment of any version; an
    /// empty byte string is an empty assignment, as Kafka treats it.
    pub fn decode(bytes: &[u8]) -> Result<Self, ClientError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut buf = Bytes::copy_from_slice(bytes);
        let version = read_version(&mut buf, ASSIGNMENT_VERSION, "assignment")?;
        let m = ConsumerProtocolAssignment::decode(&mut buf, version)
            .map_err(|e| protocol_error("assignment", e))?;
        Ok(Assignment {
            partitions: collect_partitions(
                m.assigned_partitions
                    .into_iter()
                    .map(|tp| (tp.topic.0.to_string(), tp.partitions)),
            ),
            user_data: m.user_data,
        })
    }
}

/// Merges (topic, partitions) pairs into sorted, deduplicated lists.
fn collect_partitions(pairs: impl Iterator<Item = (String, Vec<i32>)>) -> TopicPartitions {
    let mut map = TopicPartitions::new();
    for (topic, partitions) in pairs {
        map.entry(topic).or_default().extend(partitions);
    }
    for partitions in map.values_mut() {
        partitions.sort_unstable();
        partitions.dedup();
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_and_matches_kafka_v0_bytes() {
        let sub = Subscription::new(&["b".to_string(), "a".to_string(), "a".to_string()]);
        assert_eq!(sub.topics, vec!["a", "b"]);
        let decoded = Subscription::decode(&sub.encode().expect("encodes")).expect("decodes");
        assert_eq!(decoded, sub);
        // What kafka-python (v0) writes for topics [a]: version 0, one topic
        // "a", null user data.
        let v0 = [0, 0, 0, 0, 0, 1, 0, 1, b'a', 0xff, 0xff, 0xff, 0xff];
        let decoded = Subscription::decode(&v0).expect("decodes v0");
        assert_eq!(decoded.topics, vec!["a"]);
        assert_eq!(decoded.user_data, None);
        assert_eq!(decoded.generation_id, -1);
    }

    #[test]
    fn newer_versions_are_read_with_the_newest_schema() {
        let mut bytes = Subscription::new(&["t".to_string()])
            .encode()
            .expect("encodes")
            .to_vec();
        bytes[..2].copy_from_slice(&7i16.to_be_bytes());
        bytes.extend_from_slice(b"future fields");
        let decoded = Subscription::decode(&bytes).expect("decodes");
        assert_eq!(decoded.topics, vec!["t"]);
    }

    #[test]
    fn assignment_round_trips_and_reads_kafka_v0_bytes() {
        let mut partitions = TopicPartitions::new();
        partitions.insert("t".into(), vec![0, 2]);
        let a = Assignment {
            partitions,
            user_data: None,
        };
        assert_eq!(
            Assignment::decode(&a.encode().expect("encodes")).expect("decodes"),
            a
        );
        // v0: one topic "t" with partitions [1, 0], null user data.
        let v0 = [
            0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff,
            0xff,
        ];
        let decoded = Assignment::decode(&v0).expect("decodes v0");
        assert_eq!(decoded.partitions.get("t"), Some(&vec![0, 1]));
        assert_eq!(
            Assignment::decode(&[]).expect("empty"),
            Assignment::default()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Subscription::decode(&[0]).is_err());
        assert!(Subscription::decode(&[0, 0, 0, 0, 0, 9]).is_err());
        assert!(Assignment::decode(&[0xff, 0xff]).is_err());
    }
}
