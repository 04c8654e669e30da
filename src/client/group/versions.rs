//! The versions of the consumer-group APIs this client implements, and their
//! negotiation against what a broker advertised in ApiVersions.
//!
//! Kept apart from [`crate::client::versions::IMPLEMENTED`] so the group
//! client is self-contained; the rule is the same: the highest version both
//! sides support.

use kafka_protocol::messages::ApiKey;

use crate::client::connection::Connection;
use crate::client::error::ClientError;

/// The version range of each group API this client implements (inclusive).
///
/// OffsetCommit stops at 9 and OffsetFetch at 9: later versions address
/// topics by id only.
pub const GROUP_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
];

/// The highest version of the group API `api` that both `conn`'s broker and
/// this client support.
pub fn group_version(conn: &Connection, api: ApiKey) -> Result<i16, ClientError> {
    let ours = GROUP_APIS
        .iter()
        .find(|(k, _, _)| *k == api)
        .map_or((-1, -1), |&(_, min, max)| (min, max));
    let broker = conn.broker_versions().range(api).unwrap_or((-1, -1));
    let (low, high) = (ours.0.max(broker.0), ours.1.min(broker.1));
    if ours.0 < 0 || broker.0 < 0 || low > high {
        return Err(ClientError::UnsupportedApi {
            addr: conn.addr().to_string(),
            api,
            broker_min: broker.0,
            broker_max: broker.1,
            ours_min: ours.0,
            ours_max: ours.1,
        });
    }
    Ok(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_within_the_crate() {
        for &(api, min, max) in GROUP_APIS {
            let valid = api.valid_versions();
            assert!(min <= max, "{api:?}");
            assert!(
                valid.min <= min && max <= valid.max,
                "{api:?} {min}..{max} vs {valid}"
            );
        }
    }
}
