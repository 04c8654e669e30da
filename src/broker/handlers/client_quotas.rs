//! DescribeClientQuotas (48) and AlterClientQuotas (49), KIP-546, with the
//! filter rules and validation of Kafka's `ClientQuotaControlManager`
//! (same error codes and messages). Quotas are kept by
//! [`crate::broker::quota::ClientQuotas`] in the data directory and take
//! effect as soon as AlterClientQuotas answers.

use super::{log_error_code, str_bytes};
use crate::broker::quota::{
    CLIENT_ID, CONNECTION_CREATION_RATE, ClientQuotas, EntityComponent, IP, QuotaEntity, QuotaType,
    USER,
};
use crate::broker::state::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, alter_client_quotas_response, describe_client_quotas_response,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// `match_type` of a filter component: the name given in `match`.
pub const MATCH_TYPE_EXACT: i8 = 0;
/// `match_type`: the `<default>` entity.
pub const MATCH_TYPE_DEFAULT: i8 = 1;
/// `match_type`: any entity of the type (Kafka's MATCH_TYPE_SPECIFIED).
pub const MATCH_TYPE_SPECIFIED: i8 = 2;

/// A refusal: Kafka error code and message.
type Refusal = (i16, String);

fn invalid(msg: impl Into<String>) -> Refusal {
    (ResponseError::InvalidRequest.code(), msg.into())
}

/// A filter: exact names (`None`: the default entity) and types matched by
/// any entity.
type Filter = (HashMap<String, Option<String>>, HashSet<String>);

/// Kafka's `DescribeClientQuotasRequest.filter` + `ClientQuotaControlManager`
/// validation.
fn parse_filter(req: &DescribeClientQuotasRequest) -> Result<Filter, Refusal> {
    let mut exact: HashMap<String, Option<String>> = HashMap::new();
    let mut any = HashSet::new();
    for c in &req.components {
        let t = c.entity_type.as_str().to_string();
        let name = c._match.as_ref().map(|m| m.as_str().to_string());
        match c.match_type {
            MATCH_TYPE_EXACT if name.is_none() => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null",
                ));
            }
            MATCH_TYPE_DEFAULT | MATCH_TYPE_SPECIFIED if name.is_some() => {
                let which = if c.match_type == MATCH_TYPE_DEFAULT {
                    "MATCH_TYPE_DEFAULT"
                } else {
                    "MATCH_TYPE_SPECIFIED"
                };
                return Err(invalid(format!(
                    "Request specified {which}, but also specified a match string"
                )));
            }
            MATCH_TYPE_EXACT | MATCH_TYPE_DEFAULT | MATCH_TYPE_SPECIFIED => {}
            other => return Err(invalid(format!("Unexpected match type: {other}"))),
        }
        if t.is_empty() {
            return Err(invalid("Invalid empty entity type."));
        }
        if exact.contains_key(&t) || any.contains(&t) {
            return Err(invalid(format!(
                "Entity type {t} cannot appear more than once in the filter."
            )));
        }
        if ![IP, USER, CLIENT_ID].contains(&t.as_str()) {
            return Err((
                ResponseError::UnsupportedVersion.code(),
                format!("Unsupported entity type {t}"),
            ));
        }
        if c.match_type == MATCH_TYPE_SPECIFIED {
            any.insert(t);
        } else {
            exact.insert(t, name);
        }
    }
    let has = |t: &str| exact.contains_key(t) || any.contains(t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
        ));
    }
    Ok((exact, any))
}

/// Kafka's `ClientQuotaControlManager.matches`.
pub fn matches(e: &QuotaEntity, filter: &Filter, strict: bool) -> bool {
    let (exact, any) = filter;
    if strict && e.len() != exact.len() + any.len() {
        return false;
    }
    let get = |t: &str| e.iter().find(|c| c.entity_type == t);
    exact
        .iter()
        .all(|(t, name)| get(t).is_some_and(|c| &c.name == name))
        && any.iter().all(|t| get(t).is_some())
}

/// DescribeClientQuotas: every entity matching the filter, with its quotas.
pub fn describe_client_quotas(
    broker: &Broker,
    req: DescribeClientQuotasRequest,
    _version: i16,
) -> DescribeClientQuotasResponse {
    describe(&broker.quotas, &req)
}

/// DescribeClientQuotas over a set of quotas (the broker's, or a data
/// directory's offline).
pub fn describe(
    quotas: &ClientQuotas,
    req: &DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut resp = DescribeClientQuotasResponse::default();
    let filter = match parse_filter(req) {
        Ok(f) => f,
        Err((code, message)) => {
            resp.error_code = code;
            resp.error_message = Some(str_bytes(message));
            resp.entries = None;
            return resp;
        }
    };
    let mut entries = Vec::new();
    for (e, values) in quotas.all() {
        if !matches(&e, &filter, req.strict) {
            continue;
        }
        let mut entry = describe_client_quotas_response::EntryData::default();
        entry.entity = e
            .iter()
            .map(|c| {
                let mut d = describe_client_quotas_response::EntityData::default();
                d.entity_type = str_bytes(c.entity_type.clone());
                d.entity_name = c.name.clone().map(str_bytes);
                d
            })
            .collect();
        entry.values = values
            .iter()
            .map(|(k, v)| {
                let mut d = describe_client_quotas_response::ValueData::default();
                d.key = str_bytes(k.clone());
                d.value = *v;
                d
            })
            .collect();
        entries.push(entry);
    }
    resp.entries = Some(entries);
    resp
}

/// Kafka's `ClientQuotaEntity.toString`.
fn entity_display(e: &[(String, Option<String>)]) -> String {
    let inner: Vec<String> = e
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", inner.join(", "))
}

/// The type a quota key's value must have (Kafka's `QuotaConfig` types).
#[derive(Clone, Copy)]
enum ValueType {
    Long,
    Int,
    Double,
}

/// The quota keys an entity accepts and their value types.
type QuotaKeys = Vec<(&'static str, ValueType)>;

/// Kafka's `validateEntity` + `configKeysForEntityType`: the entity in
/// canonical form and the keys it accepts.
fn validate_entity(e: &[(String, Option<String>)]) -> Result<(QuotaEntity, QuotaKeys), Refusal> {
    if e.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    let mut seen = HashSet::new();
    for (t, name) in e {
        if !seen.insert(t.as_str()) {
            return Err(invalid(format!(
                "Invalid client quota entity, duplicate entity entry {t}"
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&t.as_str()) {
            return Err(invalid(format!("Unhandled client quota entity type: {t}")));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {t} not supported")));
        }
    }
    let mut entity: QuotaEntity = e
        .iter()
        .map(|(t, n)| EntityComponent {
            entity_type: t.clone(),
            name: n.clone(),
        })
        .collect();
    entity.sort();
    let ip = e.iter().find(|(t, _)| t == IP);
    let keys = if let Some((_, ip_name)) = ip {
        if seen.contains(USER) || seen.contains(CLIENT_ID) {
            // Kafka's message has no space between "should" and "not".
            return Err(invalid(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ));
        }
        if let Some(name) = ip_name {
            use std::net::ToSocketAddrs;
            if name.parse::<std::net::IpAddr>().is_err()
                && (name.as_str(), 0).to_socket_addrs().is_err()
            {
                return Err(invalid(format!(
                    "{name} is not a valid IP or resolvable host."
                )));
            }
        }
        vec![(CONNECTION_CREATION_RATE, ValueType::Int)]
    } else {
        QuotaType::ALL
            .iter()
            .map(|t| {
                (
                    t.key(),
                    if t.is_long() {
                        ValueType::Long
                    } else {
                        ValueType::Double
                    },
                )
            })
            .collect()
    };
    Ok((entity, keys))
}

/// Kafka's `validateQuotaKeyValue`.
fn validate_value(
    keys: &[(&'static str, ValueType)],
    key: &str,
    value: f64,
) -> Result<(), Refusal> {
    let Some((_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if !value.is_finite() {
        // NaN passes every comparison below, and neither it nor infinity
        // can be stored (JSON has no such numbers).
        return Err(invalid(format!("Quota {key} must be a finite number")));
    }
    if value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let integral = |max: f64, name: &str| {
        if value > max {
            return Err(invalid(format!(
                "Proposed value for {key} is too large for {name}."
            )));
        }
        if (value % 1.0).abs() > 1e-6 {
            return Err(invalid(format!("{key} cannot be a fractional value.")));
        }
        Ok(())
    };
    match kind {
        ValueType::Double => Ok(()),
        ValueType::Int => integral(i32::MAX as f64, "an INT"),
        ValueType::Long => integral(i64::MAX as f64, "a LONG"),
    }
}

/// AlterClientQuotas: each entry validated on its own; the valid ones are
/// applied together (unless `validate_only`), persisted before the answer.
pub fn alter_client_quotas(
    broker: &Broker,
    req: AlterClientQuotasRequest,
    _version: i16,
) -> AlterClientQuotasResponse {
    alter(&broker.quotas, req)
}

/// AlterClientQuotas over a set of quotas (the broker's, or a data
/// directory's offline).
pub fn alter(quotas: &ClientQuotas, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let current = quotas.all();
    let mut results: Vec<Option<Refusal>> = Vec::with_capacity(req.entries.len());
    let mut changes: Vec<(QuotaEntity, BTreeMap<String, f64>)> = Vec::new();
    let mut seen_entities: HashSet<Vec<(String, Option<String>)>> = HashSet::new();
    for entry in &req.entries {
        let raw: Vec<(String, Option<String>)> = entry
            .entity
            .iter()
            .map(|d| {
                (
                    d.entity_type.as_str().to_string(),
                    d.entity_name.as_ref().map(|n| n.as_str().to_string()),
                )
            })
            .collect();
        let mut canonical = raw.clone();
        canonical.sort();
        let outcome = (|| {
            let mut ops: BTreeMap<String, Option<f64>> = BTreeMap::new();
            for op in &entry.ops {
                let key = op.key.as_str().to_string();
                if ops.contains_key(&key) {
                    return Err(invalid(format!(
                        "Duplicate quota key {key} not updating quota for this entity {}",
                        entity_display(&raw)
                    )));
                }
                ops.insert(key, (!op.remove).then_some(op.value));
            }
            if !seen_entities.insert(canonical.clone()) {
                return Err(invalid(format!(
                    "Ignoring duplicate entity {}",
                    entity_display(&raw)
                )));
            }
            let (entity, keys) = validate_entity(&raw)?;
            let mut values = current.get(&entity).cloned().unwrap_or_default();
            for (key, value) in ops {
                match value {
                    None => {
                        values.remove(&key);
                    }
                    Some(v) => {
                        validate_value(&keys, &key, v)?;
                        values.insert(key, v);
                    }
                }
            }
            Ok((entity, values))
        })();
        match outcome {
            Ok(change) => {
                changes.push(change);
                results.push(None);
            }
            Err(refusal) => results.push(Some(refusal)),
        }
    }
    if !req.validate_only
        && !changes.is_empty()
        && let Err(e) = quotas.apply(changes)
    {
        tracing::error!("cannot persist client quotas: {e}");
        let failed = (log_error_code(&e), e.to_string());
        for r in &mut results {
            if r.is_none() {
                *r = Some(failed.clone());
            }
        }
    }
    let mut resp = AlterClientQuotasResponse::default();
    for (entry, result) in req.entries.into_iter().zip(results) {
        let mut out = alter_client_quotas_response::EntryData::default();
        out.entity = entry
            .entity
            .into_iter()
            .map(|d| {
                let mut e = alter_client_quotas_response::EntityData::default();
                e.entity_type = d.entity_type;
                e.entity_name = d.entity_name;
                e
            })
            .collect();
        if let Some((code, message)) = result {
            out.error_code = code;
            out.error_message = Some(str_bytes(message));
        }
        resp.entries.push(out);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(e: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        e.iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect()
    }

    #[test]
    fn entity_validation_messages_are_kafkas() {
        let msg = |e: &[(&str, Option<&str>)]| validate_entity(&raw(e)).err().map(|r| r.1);
        assert_eq!(msg(&[]).unwrap(), "Invalid empty client quota entity");
        assert_eq!(
            msg(&[("group", Some("g"))]).unwrap(),
            "Unhandled client quota entity type: group"
        );
        assert_eq!(
            msg(&[("user", Some(""))]).unwrap(),
            "Empty user not supported"
        );
        assert_eq!(
            msg(&[("user", Some("a")), ("user", Some("b"))]).unwrap(),
            "Invalid client quota entity, duplicate entity entry user"
        );
        assert_eq!(
            msg(&[("ip", Some("127.0.0.1")), ("user", Some("b"))]).unwrap(),
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
        );
        assert!(msg(&[("user", None), ("client-id", Some("c"))]).is_none());
    }

    #[test]
    fn value_validation_messages_are_kafkas() {
        let (_, keys) = validate_entity(&raw(&[("user", Some("u"))])).unwrap();
        let msg = |k: &str, v: f64| validate_value(&keys, k, v).err().map(|r| r.1);
        assert_eq!(
            msg("bogus", 1.0).unwrap(),
            "Invalid configuration key bogus"
        );
        assert_eq!(
            msg("producer_byte_rate", 0.0).unwrap(),
            "Quota producer_byte_rate must be greater than 0"
        );
        assert_eq!(
            msg("producer_byte_rate", 1.5).unwrap(),
            "producer_byte_rate cannot be a fractional value."
        );
        assert_eq!(
            msg("consumer_byte_rate", 1e30).unwrap(),
            "Proposed value for consumer_byte_rate is too large for a LONG."
        );
        assert!(msg("request_percentage", 12.5).is_none());
        // NaN passes every comparison and neither it nor infinity can be
        // stored in client-quotas.json: refused.
        for bad in [f64::NAN, f64::INFINITY] {
            for key in ["producer_byte_rate", "request_percentage"] {
                assert_eq!(
                    msg(key, bad).unwrap(),
                    format!("Quota {key} must be a finite number")
                );
            }
        }
        assert_eq!(
            msg("connection_creation_rate", 5.0).unwrap(),
            "Invalid configuration key connection_creation_rate"
        );
    }
}
