//! The table of APIs and version ranges a server implements, and the
//! ApiVersions responses built from it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

/// APIs and the exact version ranges implemented for them.
#[derive(Debug, Clone, Default)]
pub struct SupportedApis {
    entries: Vec<(ApiKey, VersionRange)>,
}

impl SupportedApis {
    /// An empty table.
    pub fn new() -> Self {
        SupportedApis::default()
    }

    /// Adds (or replaces) an API with its supported versions `min..=max`,
    /// clamped to what `kafka-protocol` can decode.
    pub fn with(mut self, api: ApiKey, min: i16, max: i16) -> Self {
        let range = VersionRange { min, max }.intersect(&api.valid_versions());
        self.entries.retain(|(k, _)| *k != api);
        self.entries.push((api, range));
        self.entries.sort_by_key(|(k, _)| *k as i16);
        self
    }

    /// Adds (or replaces) an API with versions `min..=max` as given, for
    /// APIs whose versions older than `kafka-protocol` models the server
    /// decodes itself.
    pub fn with_unclamped(mut self, api: ApiKey, min: i16, max: i16) -> Self {
        self.entries.retain(|(k, _)| *k != api);
        self.entries.push((api, VersionRange { min, max }));
        self.entries.sort_by_key(|(k, _)| *k as i16);
        self
    }

    /// The supported range of `api`, if it is implemented.
    pub fn range(&self, api: ApiKey) -> Option<VersionRange> {
        self.entries
            .iter()
            .find(|(k, _)| *k == api)
            .map(|(_, r)| *r)
    }

    /// Whether `version` of `api` is implemented.
    pub fn supports(&self, api: ApiKey, version: i16) -> bool {
        self.range(api)
            .is_some_and(|r| version >= r.min && version <= r.max)
    }

    /// The APIs in the table, in key order.
    pub fn apis(&self) -> impl Iterator<Item = (ApiKey, VersionRange)> + '_ {
        self.entries.iter().copied()
    }

    /// A successful ApiVersions response listing every API in the table.
    pub fn response(&self) -> ApiVersionsResponse {
        let mut resp = ApiVersionsResponse::default();
        resp.api_keys = self
            .entries
            .iter()
            .map(|(k, r)| {
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(r.min)
                    .with_max_version(r.max)
            })
            .collect();
        resp
    }

    /// The response to an ApiVersions request of a version not implemented:
    /// UNSUPPORTED_VERSION with only ApiVersions' own range, to be encoded
    /// as version 0 (what Kafka does, so the client can retry lower).
    pub fn unsupported_version_response(&self) -> ApiVersionsResponse {
        let mut resp = ApiVersionsResponse::default();
        resp.error_code = ResponseError::UnsupportedVersion.code();
        if let Some(r) = self.range(ApiKey::ApiVersions) {
            resp.api_keys = vec![
                ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_min_version(r.min)
                    .with_max_version(r.max),
            ];
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_clamps_sorts_and_answers() {
        let t = SupportedApis::new()
            .with(ApiKey::Metadata, 0, 12)
            .with(ApiKey::Produce, 0, 99)
            .with(ApiKey::ApiVersions, 0, 4);
        assert_eq!(
            t.range(ApiKey::Produce),
            Some(VersionRange { min: 3, max: 13 })
        );
        assert!(t.supports(ApiKey::Metadata, 12));
        assert!(!t.supports(ApiKey::Metadata, 13));
        assert!(!t.supports(ApiKey::Fetch, 4));
        let keys: Vec<i16> = t.response().api_keys.iter().map(|a| a.api_key).collect();
        assert_eq!(keys, vec![0, 3, 18]);
        let bad = t.unsupported_version_response();
        assert_eq!(bad.error_code, 35);
        assert_eq!(bad.api_keys.len(), 1);
        assert_eq!(bad.api_keys[0].max_version, 4);
    }
}
