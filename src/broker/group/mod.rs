//! The group coordinator: Kafka's classic consumer group protocol
//! (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, OffsetDelete, ListGroups, DescribeGroups,
//! DeleteGroups) with committed offsets and group metadata kept in the
//! internal compacted topic `__consumer_offsets`, in Kafka's record schemas.
//!
//! Parts: [`coordinator`] (state, loading, rebalance machinery and timers),
//! [`membership`] (join/sync/heartbeat/leave), [`offsets`] (commit, fetch,
//! delete, retention), [`admin`] (find coordinator, list/describe/delete
//! groups), [`state`] (one group's state), [`schema`] (record formats),
//! [`store`] (the storage interface), [`log_store`] (it on the log engine),
//! [`direct`] (a data directory's group offsets without a broker),
//! [`txn_offsets`] (offsets committed inside transactions),
//! [`config`].

pub mod admin;
pub mod config;
pub mod coordinator;
pub mod direct;
pub mod log_store;
pub mod membership;
pub mod offsets;
pub mod schema;
pub mod state;
pub mod store;
pub mod txn_offsets;

pub use config::GroupConfig;
pub use coordinator::{ClientInfo, CoordinatorNode, GroupCoordinator, TopicLookup};
pub use direct::{DirectGroupOffsets, StoredGroup};
pub use log_store::{LogHandle, LogStore};
pub use store::{OFFSETS_TOPIC, OffsetsStore, StoreError, StoredRecord};
