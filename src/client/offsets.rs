//! ListOffsets: earliest, latest and by-timestamp offsets of partitions,
//! each asked of its partition's leader.

use std::collections::BTreeMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::cluster::Cluster;
use super::error::ClientError;

/// ListOffsets timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp asking for the log end offset (high watermark).
pub const LATEST_TIMESTAMP: i64 = -1;

/// The answer for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// Partition index.
    pub partition: i32,
    /// The offset; -1 when no record has a timestamp at or after the one asked.
    pub offset: i64,
    /// The timestamp of that record (-1 for earliest/latest).
    pub timestamp: i64,
}

/// Asks the leaders of `topic`'s partitions for the offsets of `queries`
/// (partition, timestamp or [`EARLIEST_TIMESTAMP`]/[`LATEST_TIMESTAMP`]).
/// Retries after a metadata refresh when leadership moved.
pub async fn list_offsets(
    cluster: &Cluster,
    topic: &str,
    queries: &[(i32, i64)],
) -> Result<Vec<ListedOffset>, ClientError> {
    list_offsets_isolated(cluster, topic, queries, 0).await
}

/// [`list_offsets`] with an isolation level: under read_committed (1) the
/// latest offset is the last stable offset.
pub async fn list_offsets_isolated(
    cluster: &Cluster,
    topic: &str,
    queries: &[(i32, i64)],
    isolation_level: i8,
) -> Result<Vec<ListedOffset>, ClientError> {
    let mut answers = Vec::with_capacity(queries.len());
    let mut todo: Vec<(i32, i64)> = queries.to_vec();
    for attempt in 0..5 {
        if todo.is_empty() {
            break;
        }
        if attempt > 0 {
            cluster.invalidate(topic);
            tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
        }
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for &(partition, timestamp) in &todo {
            let leader = cluster.leader(topic, partition).await?;
            by_leader
                .entry(leader)
                .or_default()
                .push((partition, timestamp));
        }
        let mut retry = Vec::new();
        let mut last_error = None;
        for (leader, parts) in by_leader {
            match list_from_leader(cluster, leader, topic, &parts, isolation_level).await {
                Ok(results) => {
                    for result in results {
                        match result {
                            Ok(answer) => answers.push(answer),
                            Err((query, e)) if e.is_retriable() => {
                                retry.push(query);
                                last_error = Some(e);
                            }
                            Err((_, e)) => return Err(e),
                        }
                    }
                }
                Err(e) if e.is_retriable() => {
                    retry.extend(parts);
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        todo = retry;
        if attempt == 4
            && let Some(e) = last_error
        {
            return Err(e);
        }
    }
    answers.sort_by_key(|a| a.partition);
    Ok(answers)
}

/// [`list_offsets`] for partitions whose leaders are given, in one try
/// without the metadata cache (which waits for every partition of a topic
/// to have a leader): partitions that answer an error are left out.
pub async fn list_offsets_once(
    cluster: &Cluster,
    topic: &str,
    queries: &[(i32, i32, i64)],
) -> Result<Vec<ListedOffset>, ClientError> {
    let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
    for &(leader, partition, timestamp) in queries {
        by_leader
            .entry(leader)
            .or_default()
            .push((partition, timestamp));
    }
    let mut answers = Vec::new();
    for (leader, parts) in by_leader {
        let results = list_from_leader(cluster, leader, topic, &parts, 0).await?;
        answers.extend(results.into_iter().filter_map(Result::ok));
    }
    answers.sort_by_key(|a| a.partition);
    Ok(answers)
}

type PartitionResult = Result<ListedOffset, ((i32, i64), ClientError)>;

async fn list_from_leader(
    cluster: &Cluster,
    leader: i32,
    topic: &str,
    parts: &[(i32, i64)],
    isolation_level: i8,
) -> Result<Vec<PartitionResult>, ClientError> {
    let conn = cluster.connection(leader).await?;
    let version = conn.version(ApiKey::ListOffsets)?;
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    parts
                        .iter()
                        .map(|&(partition, timestamp)| {
                            ListOffsetsPartition::default()
                                .with_partition_index(partition)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                ),
        ]);
    let response = conn.request(&request, version).await?;
    let mut results = Vec::with_capacity(parts.len());
    for t in response
        .topics
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
    {
        for p in &t.partitions {
            let Some(&query) = parts.iter().find(|q| q.0 == p.partition_index) else {
                continue;
            };
            let context = format!("list offsets of {topic}-{}", p.partition_index);
            results.push(match ClientError::kafka(context, p.error_code, None) {
                Some(e) => Err((query, e)),
                None => Ok(ListedOffset {
                    partition: p.partition_index,
                    offset: p.offset,
                    timestamp: p.timestamp,
                }),
            });
        }
    }
    if results.len() != parts.len() {
        return Err(ClientError::Protocol {
            addr: conn.addr().to_string(),
            message: format!("ListOffsets response is missing partitions of {topic}"),
        });
    }
    Ok(results)
}
