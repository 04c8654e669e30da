//! API version negotiation: the versions this client implements per API and
//! the choice of the highest version both sides support.

use std::collections::HashMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// The version range of each API this client implements (inclusive).
///
/// Upper bounds stop before versions that address topics by id only
/// (Produce 13, Fetch 13, DeleteTopics 6) or need features we do not use.
pub const IMPLEMENTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::FindCoordinator, 0, 6),
    // Transactions (KIP-98); AddPartitionsToTxn 4+ and EndTxn 5 are the
    // broker-to-broker and KIP-890 part 2 versions.
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
];

/// The range this client implements for `api`, if any.
pub fn implemented(api: ApiKey) -> Option<(i16, i16)> {
    IMPLEMENTED
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|&(_, min, max)| (min, max))
}

/// What a broker advertised in ApiVersions: api key → (min, max).
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions {
    ranges: HashMap<i16, (i16, i16)>,
}

/// The outcome of negotiating one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// Use this version.
    Version(i16),
    /// No overlap: the broker's range (or -1, -1 if absent) and ours.
    Unsupported {
        /// Broker's (min, max), (-1, -1) if it does not offer the API.
        broker: (i16, i16),
        /// Our (min, max), (-1, -1) if we do not implement it.
        ours: (i16, i16),
    },
}

impl BrokerVersions {
    /// Reads the advertised ranges from an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        BrokerVersions {
            ranges: response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
        }
    }

    /// The broker's range for `api`, if advertised.
    pub fn range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// The highest version of `api` both the broker and this client support.
    pub fn negotiate(&self, api: ApiKey) -> Negotiated {
        let ours = implemented(api).unwrap_or((-1, -1));
        let broker = self.range(api).unwrap_or((-1, -1));
        let low = ours.0.max(broker.0);
        let high = ours.1.min(broker.1);
        if ours.0 < 0 || broker.0 < 0 || low > high {
            Negotiated::Unsupported { broker, ours }
        } else {
            Negotiated::Version(high)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    fn response(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        let mut r = ApiVersionsResponse::default();
        r.api_keys = ranges
            .iter()
            .map(|&(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect();
        r
    }

    #[test]
    fn picks_highest_common_version() {
        let v = BrokerVersions::from_response(&response(&[
            (ApiKey::Produce, 0, 9),
            (ApiKey::Fetch, 0, 17),
            (ApiKey::Metadata, 0, 12),
        ]));
        assert_eq!(v.negotiate(ApiKey::Produce), Negotiated::Version(9));
        assert_eq!(v.negotiate(ApiKey::Fetch), Negotiated::Version(12));
        assert_eq!(v.negotiate(ApiKey::Metadata), Negotiated::Version(12));
    }

    #[test]
    fn no_overlap_or_missing_api_is_unsupported() {
        let v = BrokerVersions::from_response(&response(&[(ApiKey::Produce, 0, 2)]));
        assert_eq!(
            v.negotiate(ApiKey::Produce),
            Negotiated::Unsupported {
                broker: (0, 2),
                ours: (3, 12)
            }
        );
        assert_eq!(
            v.negotiate(ApiKey::Fetch),
            Negotiated::Unsupported {
                broker: (-1, -1),
                ours: (4, 12)
            }
        );
        // An API we do not implement at all.
        let v = BrokerVersions::from_response(&response(&[(ApiKey::JoinGroup, 0, 9)]));
        assert!(matches!(
            v.negotiate(ApiKey::JoinGroup),
            Negotiated::Unsupported { ours: (-1, -1), .. }
        ));
    }

    #[test]
    fn implemented_ranges_are_within_the_crate() {
        for &(api, min, max) in IMPLEMENTED {
            let valid = api.valid_versions();
            assert!(min <= max, "{api:?}");
            assert!(
                valid.min <= min && max <= valid.max,
                "{api:?} {min}..{max} vs {valid}"
            );
        }
    }
}
