//! FindCoordinator, ListGroups, DescribeGroups and DeleteGroups.

use super::coordinator::{GroupCoordinator, group_tombstone, offset_record};
use super::offsets::group_id;
use super::state::GroupState;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, ListGroupsRequest,
    ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;

/// FindCoordinator key type of consumer groups.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator key type of transactional ids.
const KEY_TYPE_TRANSACTION: i8 = 1;
/// Operations allowed on a group without ACLs: READ (3), DELETE (6) and
/// DESCRIBE (8), as the bit field DescribeGroups v3+ reports.
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
/// The only group type this coordinator runs (ListGroups v5).
const GROUP_TYPE_CLASSIC: &str = "classic";

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl GroupCoordinator {
    /// FindCoordinator (v0–v6): this broker coordinates every group and
    /// transactional id. v4+ answers each of the batched `coordinator_keys`.
    pub async fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let node = &self.inner.node;
        let key_type = if version >= 1 {
            req.key_type
        } else {
            KEY_TYPE_GROUP
        };
        let error = match key_type {
            KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION => None,
            other => Some(format!("unsupported coordinator key type {other}")),
        };
        let mut resp = FindCoordinatorResponse::default();
        if version >= 4 {
            resp.coordinators = req
                .coordinator_keys
                .iter()
                .map(|key| {
                    let c = Coordinator::default().with_key(key.clone());
                    match (&error, key.is_empty()) {
                        (Some(msg), _) => c
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(str_bytes(msg))),
                        (None, true) => c
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(str_bytes("empty coordinator key"))),
                        (None, false) => c
                            .with_node_id(BrokerId(node.node_id))
                            .with_host(str_bytes(&node.host))
                            .with_port(node.port),
                    }
                })
                .collect();
            return resp;
        }
        let error = error.or_else(|| {
            req.key
                .is_empty()
                .then(|| "empty coordinator key".to_string())
        });
        match error {
            Some(msg) => {
                resp.error_code = ResponseError::InvalidRequest.code();
                resp.node_id = BrokerId(-1);
                resp.port = -1;
                if version >= 1 {
                    resp.error_message = Some(str_bytes(&msg));
                }
            }
            None => {
                resp.node_id = BrokerId(node.node_id);
                resp.host = str_bytes(&node.host);
                resp.port = node.port;
            }
        }
        resp
    }

    /// ListGroups (v0–v5): every group, filtered by state (v4+,
    /// case-insensitive) and type (v5: only "classic" groups exist here).
    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let states: Vec<String> = if version >= 4 {
            req.states_filter.iter().map(|s| s.to_lowercase()).collect()
        } else {
            Vec::new()
        };
        let types_ok = version < 5
            || req.types_filter.is_empty()
            || req
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(GROUP_TYPE_CLASSIC));
        let groups = self.inner.lock();
        let mut listed: Vec<ListedGroup> = groups
            .values()
            .filter(|g| !g.is(GroupState::Dead))
            .filter(|_| types_ok)
            .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
            .map(|g| {
                let mut l = ListedGroup::default()
                    .with_group_id(group_id(&g.id))
                    .with_protocol_type(str_bytes(g.protocol_type.as_deref().unwrap_or("")));
                if version >= 4 {
                    l.group_state = str_bytes(g.state.name());
                }
                if version >= 5 {
                    l.group_type = str_bytes(GROUP_TYPE_CLASSIC);
                }
                l
            })
            .collect();
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResponse::default().with_groups(listed)
    }

    /// DescribeGroups (v0–v6): state, protocol type, protocol and members
    /// (with metadata and assignment only when Stable, as Kafka). An unknown
    /// group is reported Dead (v6: GROUP_ID_NOT_FOUND).
    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let groups = self.inner.lock();
        let described = req
            .groups
            .iter()
            .map(|id| {
                let mut d = DescribedGroup::default().with_group_id(id.clone());
                if version >= 3 && req.include_authorized_operations {
                    d.authorized_operations = GROUP_AUTHORIZED_OPERATIONS;
                }
                let Some(g) = groups.get(id.as_str()).filter(|g| !g.is(GroupState::Dead)) else {
                    d.group_state = str_bytes(GroupState::Dead.name());
                    if version >= 6 {
                        d.error_code = ResponseError::GroupIdNotFound.code();
                        d.error_message =
                            Some(str_bytes(&format!("group {} not found", id.as_str())));
                    }
                    return d;
                };
                let stable = g.is(GroupState::Stable);
                let protocol = g.protocol.clone().unwrap_or_default();
                d.group_state = str_bytes(g.state.name());
                d.protocol_type = str_bytes(g.protocol_type.as_deref().unwrap_or(""));
                d.protocol_data = str_bytes(if stable { &protocol } else { "" });
                d.members = g
                    .members
                    .values()
                    .map(|m| {
                        let mut dm = DescribedGroupMember::default()
                            .with_member_id(str_bytes(&m.id))
                            .with_client_id(str_bytes(&m.client_id))
                            .with_client_host(str_bytes(&m.client_host));
                        if version >= 4 {
                            dm.group_instance_id = m.instance_id.as_deref().map(str_bytes);
                        }
                        if stable {
                            dm.member_metadata = m.metadata(&protocol).cloned().unwrap_or_default();
                            dm.member_assignment = m.assignment.clone();
                        }
                        dm
                    })
                    .collect();
                d
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(described)
    }

    /// DeleteGroups (v0–v2): deletes empty groups with their offsets
    /// (tombstones in `__consumer_offsets`); NON_EMPTY_GROUP if members
    /// remain, GROUP_ID_NOT_FOUND if there is no such group.
    pub async fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        version: i16,
    ) -> DeleteGroupsResponse {
        let _ = version;
        let mut results = Vec::new();
        let mut pending = Vec::new();
        {
            let mut groups = self.inner.lock();
            for id in &req.groups_names {
                let name = id.as_str();
                let code = match groups.get(name) {
                    _ if name.is_empty() => ResponseError::InvalidGroupId.code(),
                    None => ResponseError::GroupIdNotFound.code(),
                    Some(g) if g.is(GroupState::Dead) => ResponseError::GroupIdNotFound.code(),
                    Some(g) if !g.is(GroupState::Empty) => ResponseError::NonEmptyGroup.code(),
                    Some(g) => {
                        let mut records: Vec<_> = g
                            .offsets
                            .keys()
                            .map(|(t, p)| offset_record(name, t, *p, None))
                            .collect();
                        records.push(group_tombstone(name));
                        match self.inner.write(name, &records) {
                            Ok(durable) => {
                                groups.remove(name);
                                pending.push((results.len(), durable));
                                0
                            }
                            Err(e) => {
                                tracing::error!("group {name}: {e}");
                                ResponseError::CoordinatorNotAvailable.code()
                            }
                        }
                    }
                };
                results.push(
                    DeletableGroupResult::default()
                        .with_group_id(id.clone())
                        .with_error_code(code),
                );
            }
        }
        for (i, durable) in pending {
            if let Err(e) = durable.await {
                tracing::error!("{e}");
                results[i].error_code = ResponseError::CoordinatorNotAvailable.code();
            }
        }
        DeleteGroupsResponse::default().with_results(results)
    }
}
