//! Topic administration: create, delete, list, describe (with offsets and
//! configs), alter configs, add partitions.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, TopicName, alter_configs_request,
    incremental_alter_configs_request,
};
use kafka_protocol::protocol::{Request, StrBytes};

use super::cluster::{BrokerInfo, Cluster};
use super::error::ClientError;
use super::offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, list_offsets, list_offsets_once};

/// Config resource type of topics.
const TOPIC_RESOURCE: i8 = 2;
/// NOT_CONTROLLER: the admin request went to a broker that is no longer the controller.
const NOT_CONTROLLER: i16 = 41;
/// Times a topic admin request is sent while the controller keeps moving.
const CONTROLLER_ATTEMPTS: usize = 3;
/// Broker-side timeout for topic creation and deletion.
const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// DescribeConfigs `config_source` values, in Kafka's order.
const CONFIG_SOURCES: [&str; 9] = [
    "UNKNOWN",
    "DYNAMIC_TOPIC_CONFIG",
    "DYNAMIC_BROKER_CONFIG",
    "DYNAMIC_DEFAULT_BROKER_CONFIG",
    "STATIC_BROKER_CONFIG",
    "DEFAULT_CONFIG",
    "DYNAMIC_BROKER_LOGGER_CONFIG",
    "CLIENT_METRICS_CONFIG",
    "GROUP_CONFIG",
];
/// `config_source` of a topic-level override.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
/// `config_source` of a value nobody set.
const DEFAULT_CONFIG: i8 = 5;

/// A topic in the topic list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSummary {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Whether Kafka marks it internal.
    pub internal: bool,
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id (-1: none).
    pub leader: i32,
    /// Whether the partition is offline (no leader, its replica offline:
    /// its log could not be opened); its offsets are then -1.
    pub offline: bool,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// First offset in the log.
    pub log_start_offset: i64,
    /// Offset the next record gets (high watermark).
    pub log_end_offset: i64,
}

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name, e.g. `retention.ms`.
    pub name: String,
    /// Value (`None` for sensitive or unset values).
    pub value: Option<String>,
    /// Whether the value is Kafka's default (nobody set it).
    pub is_default: bool,
    /// Whether the config cannot be altered.
    pub read_only: bool,
    /// Whether the value is hidden as sensitive.
    pub sensitive: bool,
    /// Where the value comes from, e.g. `DYNAMIC_TOPIC_CONFIG`.
    pub source: &'static str,
}

/// A topic with its partitions (leaders, replicas, offsets) and configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Whether Kafka marks it internal.
    pub internal: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionDescription>,
    /// Configs sorted by name.
    pub configs: Vec<ConfigEntry>,
}

/// Topic administration against a cluster.
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Admin {
    /// An admin client on `cluster`.
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Admin { cluster }
    }

    /// The cluster this client talks to.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The brokers of the cluster.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        self.cluster.brokers()
    }

    /// Creates a topic. `partitions` and `replication_factor` may be -1 for
    /// the broker's defaults; `configs` are topic config overrides.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let context = format!("create topic {name}");
        let (addr, response) = self
            .controller_request(ApiKey::CreateTopics, &request, |r| {
                r.topics.iter().any(|t| t.error_code == NOT_CONTROLLER)
            })
            .await?;
        let result = response.topics.iter().find(|t| t.name.0.as_str() == name);
        let Some(result) = result else {
            return Err(missing(&addr, &context));
        };
        let message = result.error_message.as_deref();
        if let Some(e) = ClientError::kafka(&context, result.error_code, message) {
            return Err(e);
        }
        self.cluster.invalidate(name);
        Ok(())
    }

    /// Deletes topics.
    pub async fn delete_topics(&self, names: &[String]) -> Result<(), ClientError> {
        let request = DeleteTopicsRequest::default()
            .with_topic_names(names.iter().map(|n| topic_name(n)).collect())
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let (_, response) = self
            .controller_request(ApiKey::DeleteTopics, &request, |r| {
                r.responses.iter().any(|t| t.error_code == NOT_CONTROLLER)
            })
            .await?;
        for r in &response.responses {
            let name = r.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            let context = format!("delete topic {name}");
            let message = r.error_message.as_deref();
            if let Some(e) = ClientError::kafka(context, r.error_code, message) {
                return Err(e);
            }
        }
        for name in names {
            self.cluster.invalidate(name);
        }
        Ok(())
    }

    /// All topics, sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicSummary>, ClientError> {
        Ok(self
            .cluster
            .list_topics()
            .await?
            .iter()
            .map(|t| TopicSummary {
                name: t.name.clone(),
                partitions: t.partition_count(),
                internal: t.internal,
            })
            .collect())
    }

    /// Describes a topic: partitions with leader, replicas, ISR, log start
    /// and end offsets; and its configs.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription, ClientError> {
        // A partition whose only replica is offline has no leader and lists
        // the replica as offline (Kafka's LEADER_NOT_AVAILABLE): it is
        // described without offsets, the others' offsets asked for directly.
        let names = [name.to_string()];
        let answered = self.cluster.fetch_metadata(Some(&names), false).await?;
        let with_offline = answered
            .into_iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, _, info)| info)
            .filter(|info| info.partitions.iter().any(|p| p.is_offline()));
        let (info, starts, ends) = match with_offline {
            Some(info) => {
                let online = |ts| -> Vec<(i32, i32, i64)> {
                    info.partitions
                        .iter()
                        .filter(|p| p.leader >= 0)
                        .map(|p| (p.leader, p.partition, ts))
                        .collect()
                };
                let (earliest, latest) = (online(EARLIEST_TIMESTAMP), online(LATEST_TIMESTAMP));
                let starts = list_offsets_once(&self.cluster, name, &earliest).await?;
                let ends = list_offsets_once(&self.cluster, name, &latest).await?;
                (info, starts, ends)
            }
            None => {
                let info = self.cluster.refresh_topic(name, false).await?;
                let partitions: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
                let earliest: Vec<(i32, i64)> = partitions
                    .iter()
                    .map(|&p| (p, EARLIEST_TIMESTAMP))
                    .collect();
                let latest: Vec<(i32, i64)> =
                    partitions.iter().map(|&p| (p, LATEST_TIMESTAMP)).collect();
                let starts = list_offsets(&self.cluster, name, &earliest).await?;
                let ends = list_offsets(&self.cluster, name, &latest).await?;
                (info, starts, ends)
            }
        };
        let offset_of = |list: &[super::offsets::ListedOffset], p: i32| {
            list.iter()
                .find(|o| o.partition == p)
                .map_or(-1, |o| o.offset)
        };
        let partitions = info
            .partitions
            .iter()
            .map(|p| PartitionDescription {
                partition: p.partition,
                leader: p.leader,
                offline: p.is_offline(),
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                log_start_offset: offset_of(&starts, p.partition),
                log_end_offset: offset_of(&ends, p.partition),
            })
            .collect();
        Ok(TopicDescription {
            name: info.name.clone(),
            internal: info.internal,
            partitions,
            configs: self.describe_topic_configs(name).await?,
        })
    }

    /// The configs of a topic, sorted by name.
    pub async fn describe_topic_configs(
        &self,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let conn = self.cluster.any_connection().await?;
        let version = conn.version(ApiKey::DescribeConfigs)?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(str_bytes(name))
                .with_configuration_keys(None),
        ]);
        let response = conn.request(&request, version).await?;
        let context = format!("describe configs of topic {name}");
        let Some(result) = response.results.first() else {
            return Err(missing(conn.addr(), &context));
        };
        let message = result.error_message.as_deref();
        if let Some(e) = ClientError::kafka(&context, result.error_code, message) {
            return Err(e);
        }
        let mut configs: Vec<ConfigEntry> = result
            .configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                is_default: c.config_source == DEFAULT_CONFIG,
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                source: CONFIG_SOURCES
                    .get(c.config_source.max(0) as usize)
                    .copied()
                    .unwrap_or("UNKNOWN"),
            })
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(configs)
    }

    /// Sets and removes topic config overrides (IncrementalAlterConfigs; on
    /// brokers without it, AlterConfigs with the merged full set).
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<(), ClientError> {
        let conn = self.cluster.any_connection().await?;
        let context = format!("alter configs of topic {name}");
        if conn.supports(ApiKey::IncrementalAlterConfigs) {
            use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
            let version = conn.version(ApiKey::IncrementalAlterConfigs)?;
            let configs = set
                .iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(str_bytes(k))
                        .with_config_operation(0)
                        .with_value(Some(str_bytes(v)))
                })
                .chain(delete.iter().map(|k| {
                    AlterableConfig::default()
                        .with_name(str_bytes(k))
                        .with_config_operation(1)
                        .with_value(None)
                }))
                .collect();
            let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(str_bytes(name))
                    .with_configs(configs),
            ]);
            let response = conn.request(&request, version).await?;
            for r in &response.responses {
                let message = r.error_message.as_deref();
                if let Some(e) = ClientError::kafka(&context, r.error_code, message) {
                    return Err(e);
                }
            }
            return Ok(());
        }
        use alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let version = conn.version(ApiKey::AlterConfigs)?;
        let mut merged: Vec<(String, String)> = self
            .describe_topic_configs(name)
            .await?
            .into_iter()
            .filter(|c| c.source == CONFIG_SOURCES[DYNAMIC_TOPIC_CONFIG as usize])
            .filter(|c| !delete.contains(&c.name) && !set.iter().any(|(k, _)| *k == c.name))
            .filter_map(|c| Some((c.name, c.value?)))
            .collect();
        merged.extend(set.iter().cloned());
        let request = AlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(str_bytes(name))
                .with_configs(
                    merged
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                        })
                        .collect(),
                ),
        ]);
        let response = conn.request(&request, version).await?;
        for r in &response.responses {
            let message = r.error_message.as_deref();
            if let Some(e) = ClientError::kafka(&context, r.error_code, message) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Grows a topic to `total_partitions` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        total_partitions: i32,
    ) -> Result<(), ClientError> {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name(name))
                    .with_count(total_partitions)
                    .with_assignments(None),
            ])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let context = format!("create partitions of topic {name}");
        let (addr, response) = self
            .controller_request(ApiKey::CreatePartitions, &request, |r| {
                r.results.iter().any(|t| t.error_code == NOT_CONTROLLER)
            })
            .await?;
        let Some(result) = response.results.first() else {
            return Err(missing(&addr, &context));
        };
        let message = result.error_message.as_deref();
        if let Some(e) = ClientError::kafka(&context, result.error_code, message) {
            return Err(e);
        }
        self.cluster.invalidate(name);
        Ok(())
    }

    /// Sends `request` to the controller and returns the answering broker's
    /// address and its response; while `moved` says the controller has moved
    /// (NOT_CONTROLLER), refreshes metadata and asks again, three attempts
    /// in all, the last response returned whatever it says.
    async fn controller_request<R: Request>(
        &self,
        api: ApiKey,
        request: &R,
        moved: impl Fn(&R::Response) -> bool,
    ) -> Result<(String, R::Response), ClientError> {
        let mut attempt = 1;
        loop {
            let conn = self.cluster.controller().await?;
            let version = conn.version(api)?;
            let response = conn.request(request, version).await?;
            if attempt == CONTROLLER_ATTEMPTS || !moved(&response) {
                return Ok((conn.addr().to_string(), response));
            }
            self.cluster.fetch_metadata(Some(&[]), false).await?;
            attempt += 1;
        }
    }
}

fn missing(addr: &str, context: &str) -> ClientError {
    ClientError::Protocol {
        addr: addr.to_string(),
        message: format!("{context}: the response has no result"),
    }
}
