//! Client quota administration (KIP-546): DescribeClientQuotas and
//! AlterClientQuotas against any Kafka cluster, as Kafka's
//! `Admin.describeClientQuotas` / `alterClientQuotas`.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, alter_client_quotas_request, describe_client_quotas_request,
};
use kafka_protocol::protocol::StrBytes;

use super::cluster::Cluster;
use super::error::ClientError;

/// A quota entity: (entity type, name), a `None` name being `<default>`.
pub type Entity = Vec<(String, Option<String>)>;

/// How a filter component matches entities of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The entity with this name.
    Exact(String),
    /// The `<default>` entity.
    Default,
    /// Any entity of the type.
    Any,
}

/// One quota entity and its quotas, as described.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaEntry {
    /// The entity.
    pub entity: Entity,
    /// Quota key → value.
    pub values: BTreeMap<String, f64>,
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The quotas of the entities matching every `(type, match)` component
/// (`strict`: entities with no other component).
pub async fn describe_client_quotas(
    cluster: &Cluster,
    components: &[(String, Match)],
    strict: bool,
) -> Result<Vec<QuotaEntry>, ClientError> {
    let conn = cluster.any_connection().await?;
    let version = conn.version(ApiKey::DescribeClientQuotas)?;
    let response = conn
        .request(&describe_request(components, strict), version)
        .await?;
    describe_entries(response)
}

/// The DescribeClientQuotas request for a filter.
pub fn describe_request(
    components: &[(String, Match)],
    strict: bool,
) -> DescribeClientQuotasRequest {
    DescribeClientQuotasRequest::default()
        .with_components(
            components
                .iter()
                .map(|(t, m)| {
                    let (match_type, name) = match m {
                        Match::Exact(n) => (0, Some(str_bytes(n))),
                        Match::Default => (1, None),
                        Match::Any => (2, None),
                    };
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(str_bytes(t))
                        .with_match_type(match_type)
                        .with_match(name)
                })
                .collect(),
        )
        .with_strict(strict)
}

/// The entries of a DescribeClientQuotas response, or its error.
pub fn describe_entries(
    response: DescribeClientQuotasResponse,
) -> Result<Vec<QuotaEntry>, ClientError> {
    if let Some(e) = ClientError::kafka(
        "describe client quotas",
        response.error_code,
        response.error_message.as_deref(),
    ) {
        return Err(e);
    }
    Ok(response
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| QuotaEntry {
            entity: e
                .entity
                .iter()
                .map(|c| {
                    (
                        c.entity_type.to_string(),
                        c.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect(),
            values: e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect(),
        })
        .collect())
}

/// Sets (`Some`) and removes (`None`) quotas of one entity.
pub async fn alter_client_quotas(
    cluster: &Cluster,
    entity: &Entity,
    ops: &[(String, Option<f64>)],
    validate_only: bool,
) -> Result<(), ClientError> {
    let conn = cluster.any_connection().await?;
    let version = conn.version(ApiKey::AlterClientQuotas)?;
    let response = conn
        .request(&alter_request(entity, ops, validate_only), version)
        .await?;
    alter_result(&response)
}

/// The AlterClientQuotas request for one entity.
pub fn alter_request(
    entity: &Entity,
    ops: &[(String, Option<f64>)],
    validate_only: bool,
) -> AlterClientQuotasRequest {
    let entry = alter_client_quotas_request::EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    alter_client_quotas_request::EntityData::default()
                        .with_entity_type(str_bytes(t))
                        .with_entity_name(n.as_deref().map(str_bytes))
                })
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v)| {
                    alter_client_quotas_request::OpData::default()
                        .with_key(str_bytes(k))
                        .with_value(v.unwrap_or(0.0))
                        .with_remove(v.is_none())
                })
                .collect(),
        );
    AlterClientQuotasRequest::default()
        .with_entries(vec![entry])
        .with_validate_only(validate_only)
}

/// The first error of an AlterClientQuotas response.
pub fn alter_result(response: &AlterClientQuotasResponse) -> Result<(), ClientError> {
    for e in &response.entries {
        if let Some(err) = ClientError::kafka(
            "alter client quotas",
            e.error_code,
            e.error_message.as_deref(),
        ) {
            return Err(err);
        }
    }
    Ok(())
}
