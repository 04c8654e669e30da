//! The seam for the consumer-group coordinator (`broker::group`): the
//! dispatcher hands every group API request to an object implementing
//! [`GroupApis`], and advertises exactly the versions it reports.

use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

/// A boxed, sendable future (what [`GroupApis`] methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who sent a request: what JoinGroup/DescribeGroups report as client id
/// and host.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `client.id` from the request header (empty if none).
    pub client_id: String,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Correlation id of the request.
    pub correlation_id: i32,
}

/// The group APIs. Each method gets the decoded request and its version and
/// returns the response to encode in that version (an error closes the
/// connection, as for a request the broker cannot answer). Calls from one
/// connection are made one at a time, in order (a JoinGroup that waits for
/// the rebalance holds back that connection's later requests, as in Kafka).
pub trait GroupApis: Send + Sync + 'static {
    /// The group APIs implemented, with their version ranges, to advertise.
    fn versions(&self) -> Vec<(ApiKey, i16, i16)>;
    /// FindCoordinator (group and transaction key types).
    fn find_coordinator(
        &self,
        ctx: RequestContext,
        req: FindCoordinatorRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<FindCoordinatorResponse>>;
    /// JoinGroup.
    fn join_group(
        &self,
        ctx: RequestContext,
        req: JoinGroupRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<JoinGroupResponse>>;
    /// SyncGroup.
    fn sync_group(
        &self,
        ctx: RequestContext,
        req: SyncGroupRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<SyncGroupResponse>>;
    /// Heartbeat.
    fn heartbeat(
        &self,
        ctx: RequestContext,
        req: HeartbeatRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<HeartbeatResponse>>;
    /// LeaveGroup.
    fn leave_group(
        &self,
        ctx: RequestContext,
        req: LeaveGroupRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<LeaveGroupResponse>>;
    /// OffsetCommit.
    fn offset_commit(
        &self,
        ctx: RequestContext,
        req: OffsetCommitRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<OffsetCommitResponse>>;
    /// OffsetFetch.
    fn offset_fetch(
        &self,
        ctx: RequestContext,
        req: OffsetFetchRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<OffsetFetchResponse>>;
    /// ListGroups.
    fn list_groups(
        &self,
        ctx: RequestContext,
        req: ListGroupsRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<ListGroupsResponse>>;
    /// DescribeGroups.
    fn describe_groups(
        &self,
        ctx: RequestContext,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<DescribeGroupsResponse>>;
    /// DeleteGroups.
    fn delete_groups(
        &self,
        ctx: RequestContext,
        req: DeleteGroupsRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<DeleteGroupsResponse>>;
    /// OffsetDelete.
    fn offset_delete(
        &self,
        ctx: RequestContext,
        req: OffsetDeleteRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<OffsetDeleteResponse>>;
}
