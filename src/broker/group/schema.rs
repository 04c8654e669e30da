//! Kafka's record schemas of the `__consumer_offsets` topic, byte for byte:
//! each record key and value starts with an int16 schema version.
//!
//! - key version 0/1: `OffsetCommitKey` (group, topic, partition);
//! - key version 2: `GroupMetadataKey` (group);
//! - `OffsetCommitValue` v0–v4 (we write v3: offset, leader epoch, metadata,
//!   commit timestamp);
//! - `GroupMetadataValue` v0–v4 (we write v3: protocol type, generation,
//!   protocol, leader, current state timestamp, members).
//!
//! Versions 4 are Kafka's first flexible versions (compact strings, tagged
//! fields); they are decoded so a data directory written by Kafka loads.
//! Keys of later record types (KIP-848 consumer groups, versions 3+) are
//! recognised and skipped.

use crate::broker::schema_reader::{FieldError, Reader, put_string};
use bytes::{BufMut, Bytes};

/// Why a `__consumer_offsets` record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The bytes end before a field does.
    #[error("record truncated while reading {0}")]
    Truncated(&'static str),
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
    /// A null where the schema does not allow one, or a negative length.
    #[error("invalid length in {0}")]
    InvalidLength(&'static str),
    /// A value version this coordinator does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// Which schema.
        what: &'static str,
        /// The version found.
        version: i16,
    },
}

impl From<FieldError> for SchemaError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Truncated(what) => SchemaError::Truncated(what),
            FieldError::Utf8(what) => SchemaError::Utf8(what),
            FieldError::InvalidLength(what) => SchemaError::InvalidLength(what),
        }
    }
}

/// A decoded record key of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKey {
    /// A committed offset of one partition for a group.
    Offset {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A group's metadata (members, generation, assignment).
    Group {
        /// Group id.
        group: String,
    },
    /// A record of another type (KIP-848 and later), ignored by the classic coordinator.
    Other(i16),
}

/// `OffsetCommitValue`: one committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Metadata string the client committed with the offset.
    pub metadata: String,
    /// When the commit happened (ms since the epoch).
    pub commit_timestamp: i64,
    /// Explicit expiry (v1 only, for pre-2.1 clients' retention time), -1 if none.
    pub expire_timestamp: i64,
}

/// One member in a `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    /// Member id given by the coordinator.
    pub member_id: String,
    /// Static membership instance id.
    pub group_instance_id: Option<String>,
    /// Client id of the member's connection.
    pub client_id: String,
    /// Client host of the member's connection.
    pub client_host: String,
    /// rebalance.timeout.ms of the member.
    pub rebalance_timeout: i32,
    /// session.timeout.ms of the member.
    pub session_timeout: i32,
    /// The metadata of the member's protocol chosen for the group.
    pub subscription: Bytes,
    /// The member's assignment in the current generation.
    pub assignment: Bytes,
}

/// `GroupMetadataValue`: a group's state as of its last completed rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Protocol type (e.g. "consumer"); empty for offsets-only groups.
    pub protocol_type: String,
    /// Generation id.
    pub generation: i32,
    /// Selected protocol (assignor name), if any.
    pub protocol: Option<String>,
    /// Leader member id, if any.
    pub leader: Option<String>,
    /// When the group last changed state (ms), -1 if unknown.
    pub current_state_timestamp: i64,
    /// Members of the generation.
    pub members: Vec<MemberValue>,
}

/// Version of `OffsetCommitKey` written.
const OFFSET_KEY_VERSION: i16 = 1;
/// Version of `GroupMetadataKey` written.
const GROUP_KEY_VERSION: i16 = 2;
/// Version of `OffsetCommitValue` written.
const OFFSET_VALUE_VERSION: i16 = 3;
/// Version of `GroupMetadataValue` written.
const GROUP_VALUE_VERSION: i16 = 3;

impl RecordKey {
    /// Encodes the key with its version prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => {
                out.put_i16(OFFSET_KEY_VERSION);
                put_string(&mut out, group);
                put_string(&mut out, topic);
                out.put_i32(*partition);
            }
            RecordKey::Group { group } => {
                out.put_i16(GROUP_KEY_VERSION);
                put_string(&mut out, group);
            }
            RecordKey::Other(version) => out.put_i16(*version),
        }
        out
    }

    /// Decodes a key.
    pub fn decode(bytes: &[u8]) -> Result<RecordKey, SchemaError> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16("key version")?;
        Ok(match version {
            0 | 1 => RecordKey::Offset {
                group: r.string("group")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
            },
            2 => RecordKey::Group {
                group: r.string("group")?,
            },
            other => RecordKey::Other(other),
        })
    }
}

impl OffsetValue {
    /// Encodes the value with its version prefix: version 3, or version 1
    /// when an explicit expire timestamp is set (as Kafka writes them).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.expire_timestamp >= 0 {
            out.put_i16(1);
            out.put_i64(self.offset);
            put_string(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp);
            out.put_i64(self.expire_timestamp);
            return out;
        }
        out.put_i16(OFFSET_VALUE_VERSION);
        out.put_i64(self.offset);
        out.put_i32(self.leader_epoch);
        put_string(&mut out, &self.metadata);
        out.put_i64(self.commit_timestamp);
        out
    }

    /// Decodes a value of any version 0–4.
    pub fn decode(bytes: &[u8]) -> Result<OffsetValue, SchemaError> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16("offset value version")?;
        if !(0..=4).contains(&version) {
            return Err(SchemaError::UnsupportedVersion {
                what: "OffsetCommitValue",
                version,
            });
        }
        r.set_flexible(version >= 4);
        let offset = r.i64("offset")?;
        let leader_epoch = if version >= 3 {
            r.i32("leader epoch")?
        } else {
            -1
        };
        let metadata = r.string("metadata")?;
        let commit_timestamp = r.i64("commit timestamp")?;
        let expire_timestamp = if version == 1 {
            r.i64("expire timestamp")?
        } else {
            -1
        };
        Ok(OffsetValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}

impl GroupValue {
    /// Encodes the value (version 3) with its version prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_i16(GROUP_VALUE_VERSION);
        put_string(&mut out, &self.protocol_type);
        out.put_i32(self.generation);
        put_nullable_string(&mut out, self.protocol.as_deref());
        put_nullable_string(&mut out, self.leader.as_deref());
        out.put_i64(self.current_state_timestamp);
        out.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_string(&mut out, &m.member_id);
            put_nullable_string(&mut out, m.group_instance_id.as_deref());
            put_string(&mut out, &m.client_id);
            put_string(&mut out, &m.client_host);
            out.put_i32(m.rebalance_timeout);
            out.put_i32(m.session_timeout);
            put_bytes(&mut out, &m.subscription);
            put_bytes(&mut out, &m.assignment);
        }
        out
    }

    /// Decodes a value of any version 0–4.
    pub fn decode(bytes: &[u8]) -> Result<GroupValue, SchemaError> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16("group value version")?;
        if !(0..=4).contains(&version) {
            return Err(SchemaError::UnsupportedVersion {
                what: "GroupMetadataValue",
                version,
            });
        }
        r.set_flexible(version >= 4);
        let protocol_type = r.string("protocol type")?;
        let generation = r.i32("generation")?;
        let protocol = r.nullable_string("protocol")?;
        let leader = r.nullable_string("leader")?;
        let current_state_timestamp = if version >= 2 {
            r.i64("current state timestamp")?
        } else {
            -1
        };
        let count = r.array_len("members")?;
        let mut members = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let member_id = r.string("member id")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string("group instance id")?
            } else {
                None
            };
            let client_id = r.string("client id")?;
            let client_host = r.string("client host")?;
            let session_timeout_v0;
            let rebalance_timeout = if version >= 1 {
                session_timeout_v0 = None;
                r.i32("rebalance timeout")?
            } else {
                let s = r.i32("session timeout")?;
                session_timeout_v0 = Some(s);
                s
            };
            let session_timeout = match session_timeout_v0 {
                Some(s) => s,
                None => r.i32("session timeout")?,
            };
            let subscription = r.bytes("subscription")?;
            let assignment = r.bytes("assignment")?;
            r.skip_tagged_fields()?;
            members.push(MemberValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                subscription,
                assignment,
            });
        }
        Ok(GroupValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

fn put_nullable_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => out.put_i16(-1),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_i32(b.len() as i32);
    out.put_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_key_matches_kafka_bytes() {
        let key = RecordKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let bytes = key.encode();
        assert_eq!(bytes, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(RecordKey::decode(&bytes), Ok(key));
    }

    #[test]
    fn group_key_and_unknown_keys() {
        let key = RecordKey::Group {
            group: "grp".into(),
        };
        assert_eq!(key.encode(), [0, 2, 0, 3, b'g', b'r', b'p']);
        assert_eq!(RecordKey::decode(&key.encode()), Ok(key));
        assert_eq!(RecordKey::decode(&[0, 3, 1, 2]), Ok(RecordKey::Other(3)));
        assert!(RecordKey::decode(&[0, 1, 0, 5, b'a']).is_err());
    }

    #[test]
    fn offset_value_round_trips_and_reads_old_versions() {
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: -1,
        };
        let bytes = v.encode();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(OffsetValue::decode(&bytes), Ok(v));

        // Version 1: offset, metadata, commit timestamp, expire timestamp.
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&5i64.to_be_bytes());
        v1.extend_from_slice(&[0, 0]);
        v1.extend_from_slice(&10i64.to_be_bytes());
        v1.extend_from_slice(&20i64.to_be_bytes());
        let d = OffsetValue::decode(&v1).expect("v1 decodes");
        assert_eq!((d.offset, d.leader_epoch, d.expire_timestamp), (5, -1, 20));
        assert_eq!(d.encode(), v1);

        // Version 4 (flexible): compact string and empty tagged fields.
        let mut v4 = vec![0, 4];
        v4.extend_from_slice(&9i64.to_be_bytes());
        v4.extend_from_slice(&3i32.to_be_bytes());
        v4.extend_from_slice(&[3, b'h', b'i']);
        v4.extend_from_slice(&11i64.to_be_bytes());
        v4.push(0);
        let d = OffsetValue::decode(&v4).expect("v4 decodes");
        assert_eq!(
            (d.offset, d.leader_epoch, d.metadata.as_str()),
            (9, 3, "hi")
        );
    }

    #[test]
    fn group_value_round_trips() {
        let v = GroupValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 123,
            members: vec![MemberValue {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let bytes = v.encode();
        assert_eq!(GroupValue::decode(&bytes), Ok(v));
        assert!(GroupValue::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(GroupValue::decode(&[0, 9]).is_err());
    }
}
