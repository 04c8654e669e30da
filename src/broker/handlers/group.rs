//! The group APIs, answered by the group coordinator (opened on first use).

use crate::broker::coordinators::Coordinators;
use crate::broker::dispatch::RequestContext;
use crate::broker::group::{ClientInfo, OFFSETS_TOPIC};
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
}

/// FindCoordinator: this broker coordinates every group and transactional
/// id; for the transaction key type the transaction coordinator (and
/// `__transaction_state`) is opened first, as Kafka creates the topic then.
pub async fn find_coordinator(
    c: &Coordinators,
    req: FindCoordinatorRequest,
    version: i16,
) -> anyhow::Result<FindCoordinatorResponse> {
    if version >= 1 && req.key_type == 1 {
        c.txn().await?;
    }
    Ok(c.groups().await?.find_coordinator(req, version).await)
}

/// TxnOffsetCommit: the group's `__consumer_offsets` partition must be in
/// the producer's ongoing transaction (AddOffsetsToTxn first; KIP-890's
/// verification, which the group coordinator runs with the partition
/// locked), then the group coordinator writes the offsets.
pub async fn txn_offset_commit(
    c: &Coordinators,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> anyhow::Result<TxnOffsetCommitResponse> {
    let groups = c.groups().await?;
    let txn = c.txn().await?;
    let partition = groups.offsets_partition_for(req.group_id.as_str());
    let (producer_id, producer_epoch) = (req.producer_id.0, req.producer_epoch);
    let verify = || txn.verify_partition(producer_id, producer_epoch, OFFSETS_TOPIC, partition);
    Ok(groups.txn_offset_commit(req, version, verify).await)
}
