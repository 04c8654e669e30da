//! Finding a group's coordinator (FindCoordinator, key type group) and the
//! Kafka error codes of the group APIs.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest};
use kafka_protocol::protocol::StrBytes;

use super::versions::group_version;
use crate::client::cluster::{BrokerInfo, Cluster};
use crate::client::connection::Connection;
use crate::client::error::ClientError;

/// Kafka error codes the group client reacts to.
pub mod codes {
    /// COORDINATOR_LOAD_IN_PROGRESS: the coordinator is loading offsets.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// COORDINATOR_NOT_AVAILABLE: no coordinator yet (e.g. offsets topic being created).
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// NOT_COORDINATOR: the broker asked no longer coordinates the group.
    pub const NOT_COORDINATOR: i16 = 16;
    /// ILLEGAL_GENERATION: the generation is not the group's current one.
    pub const ILLEGAL_GENERATION: i16 = 22;
    /// UNKNOWN_MEMBER_ID: the coordinator does not know the member.
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    /// REBALANCE_IN_PROGRESS: the member must rejoin.
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    /// NON_EMPTY_GROUP: the group still has members.
    pub const NON_EMPTY_GROUP: i16 = 68;
    /// GROUP_ID_NOT_FOUND: no such group.
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    /// MEMBER_ID_REQUIRED: rejoin with the member id the coordinator gave.
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    /// FENCED_INSTANCE_ID: another member took this group.instance.id.
    pub const FENCED_INSTANCE_ID: i16 = 82;
}

/// Whether `code` means "find the coordinator again and retry".
pub fn is_coordinator_error(code: i16) -> bool {
    matches!(
        code,
        codes::COORDINATOR_LOAD_IN_PROGRESS
            | codes::COORDINATOR_NOT_AVAILABLE
            | codes::NOT_COORDINATOR
    )
}

/// FindCoordinator key type of consumer groups.
const KEY_TYPE_GROUP: i8 = 0;
/// Attempts while the coordinator is not available (the broker may be
/// creating `__consumer_offsets`).
const FIND_ATTEMPTS: u32 = 30;
/// Pause between those attempts.
const FIND_BACKOFF: Duration = Duration::from_millis(200);

/// The connection to the coordinator of `group` (shared with the other
/// users of `cluster`), retrying while the cluster has none available.
pub async fn find_coordinator(
    cluster: &Cluster,
    group: &str,
) -> Result<Arc<Connection>, ClientError> {
    let addr = find_coordinator_addr(cluster, group).await?;
    cluster.connection_to_addr(&addr).await
}

/// The address (`host:port`) of the coordinator of `group`, retrying while
/// the cluster has none available.
pub async fn find_coordinator_addr(cluster: &Cluster, group: &str) -> Result<String, ClientError> {
    let context = format!("find the coordinator of group {group}");
    let mut last = None;
    for attempt in 0..FIND_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(FIND_BACKOFF).await;
        }
        match find_once(cluster, group, &context).await {
            Ok(addr) => return Ok(addr),
            Err(e) if e.is_retriable() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ClientError::Invalid(context)))
}

async fn find_once(cluster: &Cluster, group: &str, context: &str) -> Result<String, ClientError> {
    let conn = cluster.any_connection().await?;
    let version = group_version(&conn, ApiKey::FindCoordinator)?;
    coordinator_addr(&conn, version, KEY_TYPE_GROUP, group, context).await
}

/// One FindCoordinator on `conn` at `version` for `key` of `key_type`
/// (0 group, 1 transactional id; v4+ in the batched form): the
/// coordinator's address, or its error with `context`.
pub(crate) async fn coordinator_addr(
    conn: &Connection,
    version: i16,
    key_type: i8,
    key: &str,
    context: &str,
) -> Result<String, ClientError> {
    let key = StrBytes::from_string(key.to_string());
    let mut request = FindCoordinatorRequest::default();
    if version >= 4 {
        request.coordinator_keys = vec![key];
    } else {
        request.key = key;
    }
    if version >= 1 {
        request.key_type = key_type;
    }
    let response = conn.request(&request, version).await?;
    let (code, message, node_id, host, port) = if version >= 4 {
        let Some(c) = response.coordinators.into_iter().next() else {
            return Err(ClientError::Protocol {
                addr: conn.addr().to_string(),
                message: format!("{context}: the FindCoordinator response has no coordinator"),
            });
        };
        (c.error_code, c.error_message, c.node_id.0, c.host, c.port)
    } else {
        (
            response.error_code,
            response.error_message,
            response.node_id.0,
            response.host,
            response.port,
        )
    };
    if let Some(e) = ClientError::kafka(context, code, message.as_deref()) {
        return Err(e);
    }
    let broker = BrokerInfo {
        node_id,
        host: host.to_string(),
        port,
        rack: None,
    };
    Ok(broker.addr())
}

/// Attempts of an operation on the coordinator when it moved or is loading.
const COORDINATOR_ATTEMPTS: u32 = 5;

/// Runs `op` against the coordinator of `group`, finding it again and
/// retrying when it moved, is loading, or the connection broke.
pub async fn with_coordinator<T, F, Fut>(
    cluster: &Cluster,
    group: &str,
    op: F,
) -> Result<T, ClientError>
where
    F: Fn(Arc<Connection>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let conn = find_coordinator(cluster, group).await?;
        match op(conn).await {
            Err(e) if attempt < COORDINATOR_ATTEMPTS && needs_new_coordinator(&e) => {
                tokio::time::sleep(FIND_BACKOFF * attempt).await;
            }
            result => return result,
        }
    }
}

/// Whether the error means the coordinator must be found again.
pub fn needs_new_coordinator(e: &ClientError) -> bool {
    match e {
        ClientError::Kafka { code, .. } => is_coordinator_error(code.0),
        ClientError::Disconnected { .. } | ClientError::Timeout { .. } => true,
        _ => false,
    }
}
