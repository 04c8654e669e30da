//! A consumer of explicitly assigned partitions (no group): start positions
//! resolved with ListOffsets (earliest, latest, an offset, N before the end,
//! a timestamp), long-poll Fetch requests to each partition's leader,
//! decoded records (compressed and legacy batches included, control batches
//! skipped), and the high watermark of each partition so a caller can stop
//! at the end like `kcat -e`.
//!
//! Under read_committed (`isolation_level` 1) the broker answers up to the
//! last stable offset, which is then the end (ListOffsets latest and each
//! Fetch), and the records of aborted transactions are skipped with the
//! Fetch response's aborted transactions ([`AbortedFilter`], as Kafka's
//! `CompletedFetch`).
//!
//! Group membership (issue 4) builds on this: a group consumer assigns the
//! partitions the coordinator gives it, seeks them to committed offsets and
//! reads [`Consumer::positions`] to commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinSet;

use crate::record::Record;
use crate::record::decode::{decode_batch_bytes, scan};

use super::cluster::Cluster;
use super::completed_fetch::{AbortedFilter, AbortedTxn};
use super::error::ClientError;
use super::offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, list_offsets, list_offsets_isolated};

/// OFFSET_OUT_OF_RANGE.
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// Consecutive failed polls (retriable errors) before the error is returned.
const MAX_POLL_FAILURES: u32 = 10;

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The first offset still in the log.
    Earliest,
    /// The end: only records produced from now on.
    Latest,
    /// An absolute offset.
    Offset(i64),
    /// `n` records before the end (kcat's `-o -N`), not before the start.
    FromEnd(i64),
    /// The first record with a timestamp at or after this (ms); the end if none.
    Timestamp(i64),
}

/// Fetch settings (Kafka's names in parentheses).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Longest time a fetch waits for `min_bytes` (`fetch.max.wait.ms`).
    pub max_wait: Duration,
    /// Bytes the broker waits for before answering (`fetch.min.bytes`).
    pub min_bytes: i32,
    /// Largest fetch response (`fetch.max.bytes`).
    pub max_bytes: i32,
    /// Largest amount of data per partition (`max.partition.fetch.bytes`).
    pub partition_max_bytes: i32,
    /// 0: read uncommitted, 1: read committed (`isolation.level`).
    pub isolation_level: i8,
    /// Time allowed for a fetch response beyond `max_wait`.
    pub request_timeout: Duration,
    /// Pause after a failed fetch before the next (`retry.backoff.ms`).
    pub retry_backoff: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            partition_max_bytes: 1024 * 1024,
            isolation_level: 0,
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset, timestamp, key, value and headers.
    pub record: Record,
}

/// The state of an assigned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPosition {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset of the next record to return.
    pub position: i64,
    /// High watermark as last seen (-1 if unknown); under read_committed
    /// the last stable offset, where such a consumer's reading ends.
    pub high_watermark: i64,
    /// Log start offset as last seen (-1 if unknown).
    pub log_start_offset: i64,
}

impl PartitionPosition {
    /// Whether everything up to the last known high watermark was read.
    pub fn at_end(&self) -> bool {
        self.high_watermark >= 0 && self.position >= self.high_watermark
    }
}

/// Reads assigned partitions.
#[derive(Debug)]
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    assigned: Vec<PartitionPosition>,
    failures: u32,
}

impl Consumer {
    /// A consumer with nothing assigned.
    pub fn new(cluster: Arc<Cluster>, config: ConsumerConfig) -> Self {
        Consumer {
            cluster,
            config,
            assigned: Vec::new(),
            failures: 0,
        }
    }

    /// Assigns `partitions` of `topic` (`None`: all of them), starting at
    /// `start`. Partitions already assigned are moved to `start`.
    pub async fn assign(
        &mut self,
        topic: &str,
        partitions: Option<&[i32]>,
        start: OffsetSpec,
    ) -> Result<(), ClientError> {
        let info = self.cluster.refresh_topic(topic, false).await?;
        let partitions = info.select_partitions(partitions)?;
        let resolved = self.resolve(topic, &partitions, start).await?;
        let topic: Arc<str> = Arc::from(topic);
        for state in resolved {
            match self
                .assigned
                .iter_mut()
                .find(|a| a.topic == topic && a.partition == state.partition)
            {
                Some(existing) => *existing = state,
                None => self.assigned.push(state),
            }
        }
        Ok(())
    }

    /// Moves an assigned partition to `spec`.
    pub async fn seek(
        &mut self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<(), ClientError> {
        if !self
            .assigned
            .iter()
            .any(|a| &*a.topic == topic && a.partition == partition)
        {
            return Err(ClientError::Invalid(format!(
                "{topic}-{partition} is not assigned"
            )));
        }
        self.assign(topic, Some(&[partition]), spec).await
    }

    /// Stops reading `topic`-`partition`.
    pub fn unassign(&mut self, topic: &str, partition: i32) {
        self.assigned
            .retain(|a| !(&*a.topic == topic && a.partition == partition));
    }

    /// The assigned partitions with their positions.
    pub fn positions(&self) -> &[PartitionPosition] {
        &self.assigned
    }

    /// Whether every assigned partition was read up to its high watermark
    /// (as of the last fetch).
    pub fn at_end(&self) -> bool {
        self.assigned.iter().all(PartitionPosition::at_end)
    }

    async fn resolve(
        &self,
        topic: &str,
        partitions: &[i32],
        start: OffsetSpec,
    ) -> Result<Vec<PartitionPosition>, ClientError> {
        let query = |ts: i64| partitions.iter().map(|&p| (p, ts)).collect::<Vec<_>>();
        let earliest = list_offsets(&self.cluster, topic, &query(EARLIEST_TIMESTAMP)).await?;
        let latest = list_offsets_isolated(
            &self.cluster,
            topic,
            &query(LATEST_TIMESTAMP),
            self.config.isolation_level,
        )
        .await?;
        let by_time = match start {
            OffsetSpec::Timestamp(ts) => {
                Some(list_offsets(&self.cluster, topic, &query(ts)).await?)
            }
            _ => None,
        };
        let find = |list: &[super::offsets::ListedOffset], p: i32| {
            list.iter()
                .find(|o| o.partition == p)
                .map_or(-1, |o| o.offset)
        };
        let topic: Arc<str> = Arc::from(topic);
        Ok(partitions
            .iter()
            .map(|&p| {
                let (start_offset, end) = (find(&earliest, p), find(&latest, p));
                let position = match start {
                    OffsetSpec::Earliest => start_offset,
                    OffsetSpec::Latest => end,
                    OffsetSpec::Offset(n) => n,
                    OffsetSpec::FromEnd(n) => (end - n.max(0)).max(start_offset),
                    OffsetSpec::Timestamp(_) => match by_time.as_deref().map(|l| find(l, p)) {
                        Some(offset) if offset >= 0 => offset,
                        _ => end,
                    },
                };
                PartitionPosition {
                    topic: topic.clone(),
                    partition: p,
                    position,
                    high_watermark: end,
                    log_start_offset: start_offset,
                }
            })
            .collect())
    }

    /// Fetches from every assigned partition's leader (long polling up to
    /// `max_wait`) and returns the records read, in offset order per
    /// partition. Returns an empty list when nothing arrived in time.
    pub async fn poll(&mut self) -> Result<Vec<ConsumerRecord>, ClientError> {
        match self.poll_once().await {
            Ok(records) => {
                self.failures = 0;
                Ok(records)
            }
            Err(e) if e.is_retriable() && self.failures < MAX_POLL_FAILURES => {
                self.failures += 1;
                tracing::debug!(error = %e, attempt = self.failures, "fetch failed, retrying");
                for a in &self.assigned {
                    self.cluster.invalidate(&a.topic);
                }
                tokio::time::sleep(self.config.retry_backoff).await;
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    async fn poll_once(&mut self) -> Result<Vec<ConsumerRecord>, ClientError> {
        if self.assigned.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (i, a) in self.assigned.iter().enumerate() {
            let leader = self.cluster.leader(&a.topic, a.partition).await?;
            by_leader.entry(leader).or_default().push(i);
        }
        let mut fetches = JoinSet::new();
        for (leader, indexes) in by_leader {
            let request = self.fetch_request(&indexes);
            let cluster = self.cluster.clone();
            let timeout = self.config.request_timeout + self.config.max_wait;
            fetches.spawn(async move {
                let conn = cluster.connection(leader).await?;
                let version = conn.version(ApiKey::Fetch)?;
                let response = conn
                    .request_with_timeout(&request, version, timeout)
                    .await?;
                let throttle = response.throttle_time_ms;
                cluster.throttle().record(throttle, "fetch", conn.addr());
                Ok(response)
            });
        }
        let mut records = Vec::new();
        let mut first_error = None;
        while let Some(joined) = fetches.join_next().await {
            let result =
                joined.map_err(|e| ClientError::Invalid(format!("fetch task failed: {e}")))?;
            match result.and_then(|response| self.take_response(response, &mut records)) {
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            // Records already decoded are returned; the error comes back on the next poll.
            Some(e) if records.is_empty() => Err(e),
            _ => Ok(records),
        }
    }

    fn fetch_request(&self, indexes: &[usize]) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for &i in indexes {
            let a = &self.assigned[i];
            let partition = FetchPartition::default()
                .with_partition(a.partition)
                .with_fetch_offset(a.position)
                .with_partition_max_bytes(self.config.partition_max_bytes);
            match topics.iter_mut().find(|t| t.topic.0.as_str() == &*a.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(a.topic.to_string())))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(self.config.max_wait.as_millis().min(i32::MAX as u128) as i32)
            .with_min_bytes(self.config.min_bytes)
            .with_max_bytes(self.config.max_bytes)
            .with_isolation_level(self.config.isolation_level)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics)
    }

    fn take_response(
        &mut self,
        response: FetchResponse,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<(), ClientError> {
        if let Some(e) = ClientError::kafka("fetch", response.error_code, None) {
            return Err(e);
        }
        let mut first_error = None;
        let read_committed = self.config.isolation_level == 1;
        for t in response.responses {
            for p in t.partitions {
                let Some(state) = self
                    .assigned
                    .iter_mut()
                    .find(|a| &*a.topic == t.topic.0.as_str() && a.partition == p.partition_index)
                else {
                    continue;
                };
                if p.error_code == OFFSET_OUT_OF_RANGE {
                    first_error.get_or_insert(ClientError::OffsetOutOfRange {
                        topic: state.topic.to_string(),
                        partition: state.partition,
                        offset: state.position,
                        log_start: if p.log_start_offset >= 0 {
                            p.log_start_offset
                        } else {
                            state.log_start_offset
                        },
                        log_end: if p.high_watermark >= 0 {
                            p.high_watermark
                        } else {
                            state.high_watermark
                        },
                    });
                    continue;
                }
                let context = format!("fetch {}-{}", state.topic, state.partition);
                if let Some(e) = ClientError::kafka(context, p.error_code, None) {
                    first_error.get_or_insert(e);
                    continue;
                }
                state.high_watermark = if read_committed && p.last_stable_offset >= 0 {
                    p.last_stable_offset
                } else {
                    p.high_watermark
                };
                if p.log_start_offset >= 0 {
                    state.log_start_offset = p.log_start_offset;
                }
                if let Some(data) = p.records {
                    let aborted = if read_committed {
                        p.aborted_transactions
                            .iter()
                            .flatten()
                            .map(|a| AbortedTxn {
                                producer_id: a.producer_id.0,
                                first_offset: a.first_offset,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    decode_into(state, data, AbortedFilter::new(aborted), out)?;
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Decodes the batches of a fetch response's record set into `out`, skipping
/// records before the partition's position, control batches and (with the
/// aborted transactions of a read_committed fetch in `filter`) aborted
/// batches, and moves the position past every complete batch. A batch cut
/// off at the end of the set (the broker fills up to the byte limit) is
/// left for the next fetch.
fn decode_into(
    state: &mut PartitionPosition,
    data: Bytes,
    mut filter: AbortedFilter,
    out: &mut Vec<ConsumerRecord>,
) -> Result<(), ClientError> {
    let corrupt = |state: &PartitionPosition, message: String| ClientError::CorruptRecords {
        topic: state.topic.to_string(),
        partition: state.partition,
        offset: state.position,
        message,
    };
    for entry in scan(&data) {
        let (position, summary, bytes) = match entry {
            Ok(entry) => entry,
            Err(e) if matches!(e.error, crate::record::BatchError::Truncated { .. }) => break,
            Err(e) => return Err(corrupt(state, e.to_string())),
        };
        // The filter sees every batch, in order, to follow the markers.
        let aborted = filter.is_aborted(&summary, bytes);
        if summary.last_offset < state.position {
            continue;
        }
        if !summary.is_control && !aborted {
            let batch = data.slice(position..position + bytes.len());
            let records = decode_batch_bytes(&batch).map_err(|e| corrupt(state, e.to_string()))?;
            out.extend(
                records
                    .into_iter()
                    .filter(|r| r.offset >= state.position)
                    .map(|record| ConsumerRecord {
                        topic: state.topic.clone(),
                        partition: state.partition,
                        record,
                    }),
            );
        }
        state.position = summary.last_offset + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression, batch};

    fn batch_at(base_offset: i64, values: &[&str], compression: Compression) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression, 1_000);
        for (i, v) in values.iter().enumerate() {
            b.push(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.finish();
        batch::set_base_offset(&mut bytes, base_offset);
        bytes
    }

    fn state(position: i64) -> PartitionPosition {
        PartitionPosition {
            topic: Arc::from("t"),
            partition: 0,
            position,
            high_watermark: -1,
            log_start_offset: -1,
        }
    }

    fn values(records: &[ConsumerRecord]) -> Vec<(i64, String)> {
        records
            .iter()
            .map(|r| {
                let v = r.record.value.as_deref().unwrap_or_default();
                (r.record.offset, String::from_utf8_lossy(v).into_owned())
            })
            .collect()
    }

    #[test]
    fn skips_records_before_the_position_and_keeps_partial_tail_for_later() {
        let mut data = batch_at(10, &["a", "b", "c"], Compression::None);
        data.extend(batch_at(13, &["d", "e"], Compression::Gzip));
        let third = batch_at(15, &["f"], Compression::None);
        data.extend(&third[..third.len() - 3]);
        let mut s = state(11);
        let mut out = Vec::new();
        decode_into(
            &mut s,
            Bytes::from(data),
            AbortedFilter::default(),
            &mut out,
        )
        .expect("decodes");
        assert_eq!(
            values(&out),
            vec![
                (11, "b".into()),
                (12, "c".into()),
                (13, "d".into()),
                (14, "e".into())
            ]
        );
        assert_eq!(s.position, 15);
    }

    #[test]
    fn control_batches_are_skipped_but_advance_the_position() {
        let mut control = batch_at(5, &["marker"], Compression::None);
        let attrs = i16::from_be_bytes([control[21], control[22]]) | batch::ATTR_CONTROL;
        control[21..23].copy_from_slice(&attrs.to_be_bytes());
        let crc = batch::compute_crc(&control);
        control[17..21].copy_from_slice(&crc.to_be_bytes());
        let mut data = control;
        data.extend(batch_at(6, &["x"], Compression::None));
        let mut s = state(5);
        let mut out = Vec::new();
        decode_into(
            &mut s,
            Bytes::from(data),
            AbortedFilter::default(),
            &mut out,
        )
        .expect("decodes");
        assert_eq!(values(&out), vec![(6, "x".into())]);
        assert_eq!(s.position, 7);
    }

    #[test]
    fn read_committed_skips_aborted_transactions_and_markers() {
        use crate::client::completed_fetch::build::{marker, transactional};
        // Producer 5 aborts 0-1, producer 6 commits 2; the position starts at 1.
        let mut data = transactional(0, 5, &["a", "b"]);
        data.extend(transactional(2, 6, &["c"]));
        data.extend(marker(3, 5, false));
        data.extend(marker(4, 6, true));
        data.extend(batch_at(5, &["plain"], Compression::None));
        let aborted = vec![AbortedTxn {
            producer_id: 5,
            first_offset: 0,
        }];
        let mut s = state(1);
        let mut out = Vec::new();
        let data = Bytes::from(data);
        decode_into(&mut s, data.clone(), AbortedFilter::new(aborted), &mut out).expect("ok");
        assert_eq!(values(&out), vec![(2, "c".into()), (5, "plain".into())]);
        assert_eq!(s.position, 6);
        // read_uncommitted shows the aborted records too, never the markers.
        let (mut s, mut out) = (state(0), Vec::new());
        decode_into(&mut s, data, AbortedFilter::default(), &mut out).expect("ok");
        let offsets: Vec<i64> = out.iter().map(|r| r.record.offset).collect();
        assert_eq!(offsets, vec![0, 1, 2, 5]);
    }

    #[test]
    fn corrupt_batches_are_reported() {
        let mut data = batch_at(0, &["a"], Compression::None);
        let last = data.len() - 1;
        data[last] ^= 0xff;
        let mut s = state(0);
        let err = decode_into(
            &mut s,
            Bytes::from(data),
            AbortedFilter::default(),
            &mut Vec::new(),
        )
        .expect_err("corrupt");
        assert!(
            err.to_string()
                .starts_with("corrupt data in t-0 at offset 0"),
            "{err}"
        );
    }

    #[test]
    fn at_end_follows_the_high_watermark() {
        let mut s = state(3);
        assert!(!s.at_end());
        s.high_watermark = 3;
        assert!(s.at_end());
        s.high_watermark = 4;
        assert!(!s.at_end());
    }
}
