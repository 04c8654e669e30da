//! Consumer groups on Kafka's classic group protocol: a group member
//! ([`GroupConsumer`]) and group administration ([`GroupAdmin`]).
//!
//! The member speaks the "consumer" embedded protocol ([`protocol`]) and
//! offers the `range` and `roundrobin` assignors ([`assignor`]), computed as
//! Kafka's Java client does, so it can share a group with Java, librdkafka
//! and kafka-python consumers.

pub mod admin;
pub mod assignor;
pub mod consumer;
pub mod coordinator;
pub mod membership;
pub mod offsets;
pub mod protocol;
pub mod versions;

pub use admin::{
    GroupAdmin, GroupDescription, GroupListing, GroupOffsets, MemberDescription, PartitionLag,
    PlannedOffset, ResetSpec,
};
pub use assignor::{Assignor, MemberSubscription};
pub use consumer::{AutoOffsetReset, CommitOutcome, GroupConfig, GroupConsumer};
pub use offsets::{CommittedOffset, Committer, OffsetToCommit};
pub use protocol::{Assignment, Subscription, TopicPartitions};
