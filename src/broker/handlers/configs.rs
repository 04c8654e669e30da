//! DescribeConfigs (topics and the broker), AlterConfigs and
//! IncrementalAlterConfigs (topics; SET, DELETE, APPEND, SUBTRACT).

use super::str_bytes;
use super::topics::{SOURCE_DEFAULT, SOURCE_STATIC_BROKER, SOURCE_TOPIC};
use crate::broker::config::DefaultSource;
use crate::broker::state::Broker;
use crate::broker::topic_config::{ConfigType, topic_config};
use crate::log::LogConfig;
use crate::log::config::ConfigSource;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};
use std::collections::BTreeMap;

/// Resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// Resource type of a broker.
const RESOURCE_BROKER: i8 = 4;

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    let mut s = DescribeConfigsSynonym::default();
    s.name = str_bytes(name);
    s.value = Some(str_bytes(value));
    s.source = source;
    s
}

fn describe_topic(
    broker: &Broker,
    name: &str,
    keys: Option<&[String]>,
    synonyms: bool,
    docs: bool,
    version: i16,
) -> Result<Vec<DescribeConfigsResourceResult>, (i16, String)> {
    let unknown = || {
        (
            ResponseError::UnknownTopicOrPartition.code(),
            format!("unknown topic '{name}'"),
        )
    };
    let topic = broker.topic(name).ok_or_else(unknown)?;
    let config = broker
        .log_config(&topic.meta)
        .map_err(|e| (super::log_error_code(&e), e.to_string()))?;
    let defaults = broker.default_log_config();
    let mut out = Vec::new();
    for entry in config.describe() {
        if keys.is_some_and(|k| !k.iter().any(|k| k == entry.name)) {
            continue;
        }
        let def = topic_config(entry.name);
        let mut r = DescribeConfigsResourceResult::default();
        r.name = str_bytes(entry.name);
        r.value = Some(str_bytes(entry.value.clone()));
        r.config_source = entry.source.kafka_code();
        r.read_only = false;
        if synonyms {
            // Most specific first: the topic's own value, the broker's
            // setting it inherits, Kafka's default.
            let mut syn = Vec::new();
            if entry.source == ConfigSource::Topic {
                syn.push(synonym(entry.name, &entry.value, SOURCE_TOPIC));
            }
            let broker_name = def
                .and_then(|d| d.synonyms.first())
                .map(|(s, _)| *s)
                .unwrap_or(entry.name);
            if let Some(d) = def
                && let (value, DefaultSource::Broker(b)) = broker.config.topic_default(d)
            {
                let raw = broker.config.props.get(&b).cloned().unwrap_or(value);
                syn.push(synonym(&b, &raw, SOURCE_STATIC_BROKER));
            } else if defaults
                .describe()
                .iter()
                .any(|e| e.name == entry.name && e.source == ConfigSource::Broker)
            {
                let v = defaults.get(entry.name).unwrap_or_default();
                syn.push(synonym(broker_name, &v, SOURCE_STATIC_BROKER));
            }
            let default = def.map_or_else(
                || LogConfig::default().get(entry.name).unwrap_or_default(),
                |d| d.default.to_string(),
            );
            syn.push(synonym(broker_name, &default, SOURCE_DEFAULT));
            r.synonyms = syn;
        }
        if version >= 3 {
            r.config_type = def.map_or(ConfigType::String.code(), |d| d.kind.code());
            if docs {
                r.documentation = def.map(|d| str_bytes(d.doc));
            }
        }
        out.push(r);
    }
    Ok(out)
}

fn describe_broker(
    broker: &Broker,
    name: &str,
    keys: Option<&[String]>,
    synonyms: bool,
) -> Result<Vec<DescribeConfigsResourceResult>, (i16, String)> {
    if !name.is_empty() && name != broker.config.node_id.to_string() {
        return Err((
            ResponseError::InvalidRequest.code(),
            format!("this is broker {}, not {name}", broker.config.node_id),
        ));
    }
    let mut out = Vec::new();
    for (k, v, set) in broker.config.broker_configs() {
        if keys.is_some_and(|keys| !keys.contains(&k)) {
            continue;
        }
        let mut r = DescribeConfigsResourceResult::default();
        r.name = str_bytes(k.clone());
        r.value = Some(str_bytes(v.clone()));
        r.read_only = true;
        r.config_source = if set {
            SOURCE_STATIC_BROKER
        } else {
            SOURCE_DEFAULT
        };
        r.config_type = ConfigType::String.code();
        if synonyms {
            r.synonyms = vec![synonym(&k, &v, r.config_source)];
        }
        out.push(r);
    }
    Ok(out)
}

/// Handles DescribeConfigs v1–v4.
pub fn describe_configs(
    broker: &Broker,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let mut resp = DescribeConfigsResponse::default();
    for res in req.resources {
        let name = res.resource_name.as_str().to_string();
        let keys: Option<Vec<String>> = res
            .configuration_keys
            .as_ref()
            .map(|k| k.iter().map(|s| s.as_str().to_string()).collect());
        let mut result = DescribeConfigsResult::default();
        result.resource_type = res.resource_type;
        result.resource_name = res.resource_name.clone();
        let described = match res.resource_type {
            RESOURCE_TOPIC => describe_topic(
                broker,
                &name,
                keys.as_deref(),
                req.include_synonyms,
                req.include_documentation,
                version,
            ),
            RESOURCE_BROKER => {
                describe_broker(broker, &name, keys.as_deref(), req.include_synonyms)
            }
            other => Err((
                ResponseError::InvalidRequest.code(),
                format!("resource type {other} is not supported"),
            )),
        };
        match described {
            Ok(configs) => result.configs = configs,
            Err((code, msg)) => {
                result.error_code = code;
                result.error_message = Some(str_bytes(msg));
            }
        }
        resp.results.push(result);
    }
    resp
}

/// Checks a resource of an alter request; returns the topic name.
fn alter_target(broker: &Broker, resource_type: i8, name: &str) -> Result<String, (i16, String)> {
    match resource_type {
        RESOURCE_TOPIC => match broker.topic(name) {
            Some(_) => Ok(name.to_string()),
            None => Err((
                ResponseError::UnknownTopicOrPartition.code(),
                format!("unknown topic '{name}'"),
            )),
        },
        RESOURCE_BROKER => Err((
            ResponseError::InvalidRequest.code(),
            "broker configs are static in runnel: set them in the config file or with -c".into(),
        )),
        other => Err((
            ResponseError::InvalidRequest.code(),
            format!("resource type {other} is not supported"),
        )),
    }
}

fn apply(
    broker: &Broker,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    broker
        .set_topic_configs(topic, configs, validate_only)
        .map_err(|e| (e.code(), e.to_string()))
}

/// Handles AlterConfigs v0–v2: the given configs replace all of the topic's.
pub fn alter_configs(
    broker: &Broker,
    req: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for res in req.resources {
        let name = res.resource_name.as_str().to_string();
        let outcome = alter_target(broker, res.resource_type, &name).and_then(|topic| {
            let configs = res
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
                })
                .collect();
            apply(broker, &topic, configs, req.validate_only)
        });
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        if let Err((code, msg)) = outcome {
            r.error_code = code;
            r.error_message = Some(str_bytes(msg));
        }
        resp.responses.push(r);
    }
    resp
}

/// Applies one incremental operation to a topic's configs.
fn incremental_op(
    configs: &mut BTreeMap<String, String>,
    effective: &BTreeMap<String, String>,
    op: i8,
    key: &str,
    value: Option<&str>,
) -> Result<(), (i16, String)> {
    let invalid = |msg: String| (ResponseError::InvalidConfig.code(), msg);
    let is_list = topic_config(key).is_some_and(|d| matches!(d.kind, ConfigType::List(_)));
    match op {
        0 => {
            let v = value.ok_or_else(|| invalid(format!("SET {key} needs a value")))?;
            configs.insert(key.to_string(), v.to_string());
        }
        1 => {
            configs.remove(key);
        }
        2 | 3 => {
            if !is_list {
                return Err(invalid(format!("{key} is not a list config")));
            }
            let v = value.ok_or_else(|| invalid(format!("APPEND/SUBTRACT {key} needs a value")))?;
            let current = configs
                .get(key)
                .or_else(|| effective.get(key))
                .cloned()
                .unwrap_or_default();
            let mut items: Vec<String> = current
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if op == 2 {
                    if !items.iter().any(|i| i == item) {
                        items.push(item.to_string());
                    }
                } else {
                    items.retain(|i| i != item);
                }
            }
            configs.insert(key.to_string(), items.join(","));
        }
        other => return Err(invalid(format!("unknown config operation {other}"))),
    }
    Ok(())
}

/// Handles IncrementalAlterConfigs v0–v1.
pub fn incremental_alter_configs(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let name = res.resource_name.as_str().to_string();
        let outcome = alter_target(broker, res.resource_type, &name).and_then(|topic| {
            let t = broker.topic(&topic).ok_or((
                ResponseError::UnknownTopicOrPartition.code(),
                format!("unknown topic '{topic}'"),
            ))?;
            let effective: BTreeMap<String, String> = broker
                .log_config(&t.meta)
                .map_err(|e| (super::log_error_code(&e), e.to_string()))?
                .describe()
                .into_iter()
                .map(|e| (e.name.to_string(), e.value))
                .collect();
            let mut configs = t.meta.configs.clone();
            for c in &res.configs {
                incremental_op(
                    &mut configs,
                    &effective,
                    c.config_operation,
                    c.name.as_str(),
                    c.value.as_ref().map(|v| v.as_str()),
                )?;
            }
            apply(broker, &topic, configs, req.validate_only)
        });
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        if let Err((code, msg)) = outcome {
            r.error_code = code;
            r.error_message = Some(str_bytes(msg));
        }
        resp.responses.push(r);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_ops() {
        let mut c = BTreeMap::new();
        let eff: BTreeMap<String, String> =
            [("cleanup.policy".to_string(), "delete".to_string())].into();
        incremental_op(&mut c, &eff, 2, "cleanup.policy", Some("compact")).unwrap();
        assert_eq!(c["cleanup.policy"], "delete,compact");
        incremental_op(&mut c, &eff, 3, "cleanup.policy", Some("delete")).unwrap();
        assert_eq!(c["cleanup.policy"], "compact");
        incremental_op(&mut c, &eff, 0, "retention.ms", Some("5")).unwrap();
        incremental_op(&mut c, &eff, 1, "retention.ms", None).unwrap();
        assert!(!c.contains_key("retention.ms"));
        assert!(incremental_op(&mut c, &eff, 2, "retention.ms", Some("5")).is_err());
        assert!(incremental_op(&mut c, &eff, 9, "retention.ms", Some("5")).is_err());
    }
}
