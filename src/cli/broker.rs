//! Broker mode: the client subcommands talking to a Kafka cluster through
//! the library's client ([`crate::client`]): its admin for `topics`, its
//! producer for `produce` and its consumer for `consume`.

use super::backend::{NewTopic, PartitionState, TopicDescription, TopicListing, TopicStore};
use crate::client::{Client, ClientError};
use anyhow::Context;
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use std::future::Future;

/// Config sources that mean "set on the topic" in DescribeConfigs.
const TOPIC_CONFIG_SOURCES: [&str; 2] = ["TOPIC_CONFIG", "DYNAMIC_TOPIC_CONFIG"];

/// Worker threads of the network runtime: the producer's sender and the
/// connections run there while the command's own thread reads input or
/// prints records.
const NETWORK_THREADS: usize = 2;

/// A connection to a Kafka cluster, driven from the synchronous CLI.
pub struct BrokerBackend {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl BrokerBackend {
    /// Bootstraps from `HOST:PORT[,...]`.
    pub fn connect(brokers: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(NETWORK_THREADS)
            .enable_all()
            .build()
            .context("cannot start the network runtime")?;
        let client = runtime.block_on(Client::connect(brokers))?;
        Ok(BrokerBackend { runtime, client })
    }

    /// The Kafka client (for producers, consumers and admin requests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `, throttled N times (X ms in all, longest Y ms) by quotas` when a
    /// broker throttled this client (KIP-219 throttle_time_ms), else "".
    pub fn throttle_note(&self) -> String {
        let t = self.client.cluster().throttle().summary();
        if t.responses == 0 {
            return String::new();
        }
        format!(
            ", throttled {} times ({} ms in all, longest {} ms) by the broker's quotas",
            t.responses, t.total_ms, t.max_ms
        )
    }

    /// The network runtime, for threads other than the command's (a
    /// signal handler).
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Runs a future of the client to completion on the network runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// A client error about `topic`, worded as in direct mode when the topic
/// does not exist.
pub fn topic_error(topic: &str, error: ClientError) -> anyhow::Error {
    let unknown = matches!(error, ClientError::UnknownTopic(_))
        || error.code() == Some(ResponseError::UnknownTopicOrPartition);
    if unknown {
        anyhow::anyhow!("unknown topic '{topic}'")
    } else {
        error.into()
    }
}

impl TopicStore for BrokerBackend {
    /// Creates a topic (-1 lets the broker choose partitions / replication).
    fn create_topic(&mut self, topic: &NewTopic) -> anyhow::Result<()> {
        let configs: Vec<(String, String)> = topic.configs.clone().into_iter().collect();
        self.block_on(self.client.admin().create_topic(
            &topic.name,
            topic.partitions.unwrap_or(-1),
            topic.replication_factor.unwrap_or(-1),
            &configs,
        ))?;
        Ok(())
    }

    /// Lists topics (internal ones left out).
    fn list_topics(&mut self) -> anyhow::Result<Vec<TopicListing>> {
        Ok(self
            .block_on(self.client.admin().list_topics())?
            .into_iter()
            .filter(|t| !t.internal)
            .map(|t| TopicListing {
                name: t.name,
                partitions: t.partitions,
            })
            .collect())
    }

    /// Describes a topic: offsets per partition and the configs set on it
    /// (a broker does not tell sizes or segment counts).
    fn describe_topic(&mut self, name: &str) -> anyhow::Result<TopicDescription> {
        let desc = self
            .block_on(self.client.admin().describe_topic(name))
            .map_err(|e| topic_error(name, e))?;
        let mut partitions: Vec<PartitionState> = desc
            .partitions
            .iter()
            .map(|p| PartitionState {
                partition: p.partition,
                log_start_offset: p.log_start_offset,
                log_end_offset: p.log_end_offset,
                size_bytes: None,
                segments: None,
                offline: p.offline,
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        let configs = desc
            .configs
            .into_iter()
            .filter(|c| TOPIC_CONFIG_SOURCES.contains(&c.source))
            .filter_map(|c| c.value.map(|v| (c.name, v)))
            .collect();
        Ok(TopicDescription {
            name: desc.name,
            // The client's metadata does not carry topic ids.
            id: None,
            partitions,
            configs,
        })
    }

    /// Sets and removes topic configs.
    fn alter_topic(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> anyhow::Result<()> {
        let set: Vec<(String, String)> = set.clone().into_iter().collect();
        self.block_on(self.client.admin().alter_topic_configs(name, &set, delete))
            .map_err(|e| topic_error(name, e))?;
        Ok(())
    }

    /// Deletes a topic.
    fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        self.block_on(self.client.admin().delete_topics(&[name.to_string()]))
            .map_err(|e| topic_error(name, e))?;
        Ok(())
    }

    /// Number of partitions of a topic.
    fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32> {
        let info = self
            .block_on(self.client.cluster().topic(topic))
            .map_err(|e| topic_error(topic, e))?;
        Ok(info.partition_count())
    }

    /// The topic's `max.message.bytes` as the broker reports it; `None` if
    /// the broker does not describe configs to us (the broker still checks).
    fn max_batch_bytes(&mut self, topic: &str) -> anyhow::Result<Option<usize>> {
        let configs = match self.block_on(self.client.admin().describe_topic_configs(topic)) {
            Ok(configs) => configs,
            Err(e) => {
                tracing::debug!(%topic, error = %e, "cannot read max.message.bytes");
                return Ok(None);
            }
        };
        Ok(configs
            .into_iter()
            .find(|c| c.name == "max.message.bytes")
            .and_then(|c| c.value?.parse().ok()))
    }
}
