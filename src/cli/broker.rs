//! Broker mode: the client subcommands talking to a Kafka broker through
//! [`crate::client`]. Batches are the ones the direct mode writes (built by
//! the same code) and fetched bytes are decoded by the same code, so both
//! modes print the same output for the same data.

use super::backend::{Fetched, NewTopic, PartitionState, TopicDescription, TopicListing};
use crate::client::offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, list_offsets};
use crate::client::{Client, ClientError};
use anyhow::Context;
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Config sources that mean "set on the topic" in DescribeConfigs.
const TOPIC_CONFIG_SOURCES: [&str; 2] = ["TOPIC_CONFIG", "DYNAMIC_TOPIC_CONFIG"];

/// Kafka's OFFSET_OUT_OF_RANGE error code.
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// How long a produce may wait for its acknowledgement.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a fetch at the log end waits for new records (long poll).
const FETCH_MAX_WAIT_MS: i32 = 100;

/// A connection to a Kafka cluster, driven from the synchronous CLI.
pub struct BrokerBackend {
    runtime: tokio::runtime::Runtime,
    client: Client,
    acks: i16,
}

impl BrokerBackend {
    /// Bootstraps from `HOST:PORT[,...]`.
    pub fn connect(brokers: &str, acks: i16) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the network runtime")?;
        let client = runtime.block_on(Client::connect(brokers))?;
        Ok(BrokerBackend {
            runtime,
            client,
            acks,
        })
    }

    /// Sets the acknowledgements produce waits for (0, 1 or -1 for all).
    pub fn set_acks(&mut self, acks: i16) {
        self.acks = acks;
    }

    /// Creates a topic (-1 lets the broker choose partitions / replication).
    pub fn create_topic(&mut self, topic: &NewTopic) -> anyhow::Result<()> {
        let configs: Vec<(String, String)> = topic.configs.clone().into_iter().collect();
        let admin = self.client.admin();
        self.runtime.block_on(admin.create_topic(
            &topic.name,
            topic.partitions.unwrap_or(-1),
            topic.replication_factor.unwrap_or(-1),
            &configs,
        ))?;
        Ok(())
    }

    /// Lists topics (internal ones left out), sorted by name.
    pub fn list_topics(&mut self) -> anyhow::Result<Vec<TopicListing>> {
        let admin = self.client.admin();
        let mut topics: Vec<TopicListing> = self
            .runtime
            .block_on(admin.list_topics())?
            .into_iter()
            .filter(|t| !t.internal)
            .map(|t| TopicListing {
                name: t.name,
                partitions: t.partitions,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Describes a topic: offsets per partition and the configs set on it
    /// (a broker does not tell sizes or segment counts).
    pub fn describe_topic(&mut self, name: &str) -> anyhow::Result<TopicDescription> {
        let admin = self.client.admin();
        let desc = self.runtime.block_on(admin.describe_topic(name))?;
        let mut partitions: Vec<PartitionState> = desc
            .partitions
            .iter()
            .map(|p| PartitionState {
                partition: p.partition,
                log_start_offset: p.log_start_offset,
                log_end_offset: p.log_end_offset,
                size_bytes: None,
                segments: None,
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
    pub fn alter_topic(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> anyhow::Result<()> {
        let set: Vec<(String, String)> = set.clone().into_iter().collect();
        let admin = self.client.admin();
        self.runtime
            .block_on(admin.alter_topic_configs(name, &set, delete))?;
        Ok(())
    }

    /// Deletes a topic.
    pub fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        let admin = self.client.admin();
        self.runtime
            .block_on(admin.delete_topics(&[name.to_string()]))?;
        Ok(())
    }

    /// Number of partitions of a topic.
    pub fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32> {
        let cluster = self.client.cluster().clone();
        let info = self.runtime.block_on(cluster.topic(topic))?;
        Ok(info.partition_count())
    }

    /// Sends one batch to the partition's leader and waits for the acknowledgement.
    pub fn append(&mut self, topic: &str, partition: i32, batch: Vec<u8>) -> anyhow::Result<()> {
        let request = ProduceRequest::default()
            .with_acks(self.acks)
            .with_timeout_ms(PRODUCE_TIMEOUT.as_millis() as i32)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(Bytes::from(batch))),
                    ]),
            ]);
        let cluster = self.client.cluster().clone();
        let acks = self.acks;
        self.runtime.block_on(async {
            let leader = cluster.leader(topic, partition).await?;
            let conn = cluster.connection(leader).await?;
            let version = conn.version(ApiKey::Produce)?;
            if acks == 0 {
                conn.send_only(&request, version).await?;
                return Ok::<_, anyhow::Error>(());
            }
            let response = conn
                .request_with_timeout(&request, version, PRODUCE_TIMEOUT + Duration::from_secs(5))
                .await?;
            for t in response.responses {
                for p in t.partition_responses {
                    let context = format!("produce to partition {} of topic '{topic}'", p.index);
                    if let Some(e) =
                        ClientError::kafka(context, p.error_code, p.error_message.as_deref())
                    {
                        return Err(e.into());
                    }
                }
            }
            Ok(())
        })
    }

    /// Log start and end offsets of a partition.
    pub fn offsets(&mut self, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
        let cluster = self.client.cluster().clone();
        let listed = self.runtime.block_on(list_offsets(
            &cluster,
            topic,
            &[
                (partition, EARLIEST_TIMESTAMP),
                (partition, LATEST_TIMESTAMP),
            ],
        ))?;
        let start = listed.first().map_or(0, |o| o.offset);
        let end = listed.get(1).map_or(start, |o| o.offset);
        Ok((start, end))
    }

    /// The first offset at or after `timestamp`.
    pub fn offset_for_timestamp(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> anyhow::Result<Option<i64>> {
        let cluster = self.client.cluster().clone();
        let listed =
            self.runtime
                .block_on(list_offsets(&cluster, topic, &[(partition, timestamp)]))?;
        Ok(listed.first().map(|o| o.offset).filter(|&o| o >= 0))
    }

    /// Fetches whole batches from `offset` into `buf` (the broker may end
    /// with a partial batch, which the caller leaves for the next fetch).
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        buf: &mut Vec<u8>,
    ) -> anyhow::Result<Fetched> {
        buf.clear();
        let max_bytes = max_bytes.min(i32::MAX as usize) as i32;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(FETCH_MAX_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(max_bytes),
                    ]),
            ]);
        let cluster = self.client.cluster().clone();
        let response = self.runtime.block_on(async {
            let leader = cluster.leader(topic, partition).await?;
            let conn = cluster.connection(leader).await?;
            let version = conn.version(ApiKey::Fetch)?;
            Ok::<_, anyhow::Error>(conn.request(&request, version).await?)
        })?;
        if let Some(e) = ClientError::kafka("fetch", response.error_code, None) {
            return Err(e.into());
        }
        for t in response.responses {
            for p in t.partitions {
                if p.partition_index != partition {
                    continue;
                }
                if p.error_code == OFFSET_OUT_OF_RANGE {
                    return Ok(Fetched::OutOfRange {
                        start: p.log_start_offset,
                        end: p.high_watermark,
                    });
                }
                let context = format!("fetch from partition {partition} of topic '{topic}'");
                if let Some(e) = ClientError::kafka(context, p.error_code, None) {
                    return Err(e.into());
                }
                if let Some(records) = p.records
                    && !records.is_empty()
                {
                    buf.extend_from_slice(&records);
                    return Ok(Fetched::Batches);
                }
            }
        }
        Ok(Fetched::AtEnd)
    }
}
