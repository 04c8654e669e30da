//! The group APIs, answered by the group coordinator (opened on first use).

use crate::broker::coordinators::Coordinators;
use crate::broker::dispatch::RequestContext;
use crate::broker::group::ClientInfo;
use kafka_protocol::messages::*;

/// JoinGroup (the only group API that needs the client's id and host).
pub async fn join_group(
    c: &Coordinators,
    ctx: &RequestContext,
    req: JoinGroupRequest,
    version: i16,
) -> anyhow::Result<JoinGroupResponse> {
    let info = ClientInfo::new(&ctx.client_id, ctx.peer.ip());
    Ok(c.groups().await?.join_group(req, version, &info).await)
}

macro_rules! forward {
    ($($(#[$doc:meta])* $method:ident($req:ty) -> $resp:ty;)*) => {$(
        $(#[$doc])*
        pub async fn $method(c: &Coordinators, req: $req, version: i16) -> anyhow::Result<$resp> {
            Ok(c.groups().await?.$method(req, version).await)
        }
    )*};
}

forward! {
    /// SyncGroup.
    sync_group(SyncGroupRequest) -> SyncGroupResponse;
    /// Heartbeat.
    heartbeat(HeartbeatRequest) -> HeartbeatResponse;
    /// LeaveGroup.
    leave_group(LeaveGroupRequest) -> LeaveGroupResponse;
    /// OffsetCommit.
    offset_commit(OffsetCommitRequest) -> OffsetCommitResponse;
    /// OffsetFetch.
    offset_fetch(OffsetFetchRequest) -> OffsetFetchResponse;
    /// ListGroups.
    list_groups(ListGroupsRequest) -> ListGroupsResponse;
    /// DescribeGroups.
    describe_groups(DescribeGroupsRequest) -> DescribeGroupsResponse;
    /// DeleteGroups.
    delete_groups(DeleteGroupsRequest) -> DeleteGroupsResponse;
    /// OffsetDelete.
    offset_delete(OffsetDeleteRequest) -> OffsetDeleteResponse;
    /// FindCoordinator (group key type; the transaction key type goes to the
    /// transaction coordinator).
    find_coordinator(FindCoordinatorRequest) -> FindCoordinatorResponse;
    /// TxnOffsetCommit.
    txn_offset_commit(TxnOffsetCommitRequest) -> TxnOffsetCommitResponse;
}
