//! Fetch: long polls until `min_bytes` are available or `max_wait_ms`
//! passes, honours `max_bytes` and `partition_max_bytes` with Kafka's
//! "at least one batch" rule, and sends the record bytes from the segment
//! files with sendfile. A read_committed fetch (isolation_level 1) stops at
//! the last stable offset and lists the aborted transactions in its range
//! (from the `.txnindex` files), for the client to drop their records. Sessionless: every response has session id 0,
//! which tells clients to keep sending full fetches.

use super::log_error_code;
use crate::broker::quota::{QuotaType, RequestQuota};
use crate::broker::state::{Broker, Partition};
use crate::log::txn_index::AbortedTxn;
use crate::log::{LogError, ReadSlice};
use crate::protocol::response::records_placeholder;
use crate::protocol::{ResponseBody, encode_response_with_files};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ProducerId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// One requested partition, resolved.
struct Wanted {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    handle: Result<Arc<Partition>, i16>,
    /// isolation_level=1: read up to the last stable offset only, and
    /// report the aborted transactions in the range.
    read_committed: bool,
}

/// What one read produced for a partition.
struct ReadResult {
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    slice: Option<ReadSlice>,
    /// Aborted transactions overlapping what is returned (read_committed).
    aborted: Option<Vec<AbortedTxn>>,
}

fn read_partition(w: &Wanted, budget: usize, min_one: bool) -> ReadResult {
    let p = match &w.handle {
        Ok(p) => p,
        Err(code) => {
            return ReadResult {
                error_code: *code,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                slice: None,
                aborted: None,
            };
        }
    };
    let log = match p.log() {
        Ok(log) => log,
        Err(offline) => {
            return ReadResult {
                error_code: super::log_error_code(&offline),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                slice: None,
                aborted: None,
            };
        }
    };
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let stable = log.last_stable_offset();
    let mut result = ReadResult {
        error_code: 0,
        high_watermark: end,
        last_stable_offset: stable,
        log_start_offset: start,
        slice: None,
        aborted: w.read_committed.then(Vec::new),
    };
    if p.is_deleted() {
        result.error_code = ResponseError::UnknownTopicOrPartition.code();
        return result;
    }
    if let Err(e) = log.check_online() {
        // Offline data directory: nothing of it is served.
        result.error_code = log_error_code(&e);
        return result;
    }
    if w.fetch_offset < start || w.fetch_offset > end {
        result.error_code = ResponseError::OffsetOutOfRange.code();
        return result;
    }
    let limit = w.max_bytes.min(budget);
    let visible_end = if w.read_committed { stable } else { end };
    if w.fetch_offset >= visible_end || (limit == 0 && !min_one) {
        return result;
    }
    let read = if w.read_committed {
        log.read_bounded(w.fetch_offset, limit, min_one, stable)
    } else {
        log.read(w.fetch_offset, limit, min_one)
    };
    match read {
        Ok(slice) => {
            result.slice = slice.filter(|s| s.len > 0);
            if w.read_committed && result.slice.is_some() {
                match log.aborted_transactions(w.fetch_offset, stable) {
                    Ok(aborted) => result.aborted = Some(aborted),
                    Err(e) => {
                        tracing::warn!("fetch from {}-{}: {e}", p.topic, p.index);
                        result.slice = None;
                        result.error_code = log_error_code(&e);
                    }
                }
            }
        }
        Err(e @ LogError::OffsetOutOfRange { .. }) => result.error_code = log_error_code(&e),
        Err(e) => {
            tracing::warn!("fetch from {}-{}: {e}", p.topic, p.index);
            result.error_code = log_error_code(&e);
        }
    }
    result
}

/// Handles Fetch v4–v17 and returns the response frame. With a consumer
/// quota (`quota`), `max_bytes` is capped to what the quota allows in its
/// window and a throttled fetch is answered empty with `throttle_time_ms`
/// (Kafka's `KafkaApis.handleFetchRequest`).
pub async fn handle(
    broker: &Broker,
    req: FetchRequest,
    version: i16,
    correlation_id: i32,
    mut shutdown: watch::Receiver<bool>,
    quota: Option<RequestQuota>,
) -> anyhow::Result<ResponseBody> {
    let started = quota.as_ref().map(|_| std::time::Instant::now());
    let by_id = version >= 13;
    let mut resp = FetchResponse::default();
    if req.session_id != 0 {
        resp.error_code = ResponseError::FetchSessionIdNotFound.code();
        return encode_response_with_files(
            ApiKey::Fetch,
            version,
            correlation_id,
            &resp,
            vec![],
            version >= 12,
        );
    }
    let mut wanted = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let topic = if by_id {
            broker.topic_by_id(t.topic_id)
        } else {
            broker.topic(t.topic.0.as_str())
        };
        let mut tr = FetchableTopicResponse::default();
        tr.topic = match &topic {
            Some(found) if by_id => super::topic_name(found.meta.name.clone()),
            _ => t.topic.clone(),
        };
        tr.topic_id = t.topic_id;
        resp.responses.push(tr);
        for p in &t.partitions {
            let handle = match &topic {
                None if by_id => Err(ResponseError::UnknownTopicId.code()),
                None => Err(ResponseError::UnknownTopicOrPartition.code()),
                Some(found) => usize::try_from(p.partition)
                    .ok()
                    .and_then(|i| found.partitions.get(i).cloned())
                    .ok_or(ResponseError::UnknownTopicOrPartition.code()),
            };
            wanted.push(Wanted {
                topic_index: ti,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                handle,
                read_committed: req.isolation_level == 1,
            });
        }
    }
    let mut max_bytes = usize::try_from(req.max_bytes).unwrap_or(0);
    if let Some(cap) = quota.as_ref().and_then(|q| {
        q.quotas
            .max_value_in_window(QuotaType::Fetch, &q.user, &q.client_id)
    }) {
        max_bytes = max_bytes.min(cap);
    }
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let notify = Arc::new(Notify::new());
    // Handler time charged to the request quota: the reads, not the waits.
    let mut spent = started.map_or(Duration::ZERO, |s| s.elapsed());
    let results = loop {
        let pass = quota.as_ref().map(|_| std::time::Instant::now());
        for w in &wanted {
            if let Ok(p) = &w.handle {
                p.wake_on_append(&notify);
            }
        }
        let mut total = 0usize;
        let mut any_error = false;
        let results: Vec<ReadResult> = wanted
            .iter()
            .map(|w| {
                let r = read_partition(w, max_bytes.saturating_sub(total), total == 0);
                total += r.slice.as_ref().map_or(0, |s| s.len);
                any_error |= r.error_code != 0;
                r
            })
            .collect();
        if let Some(pass) = pass {
            spent += pass.elapsed();
        }
        if total >= min_bytes || any_error || *shutdown.borrow() || Instant::now() >= deadline {
            break results;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
        }
    };
    let mut results = results;
    if let Some(q) = &quota {
        let size: usize = results
            .iter()
            .filter_map(|r| r.slice.as_ref().map(|s| s.len))
            .sum();
        let request = q.record_request_time(spent);
        let bytes = q.record(QuotaType::Fetch, size as f64);
        let throttle = bytes.max(request);
        if throttle > 0 {
            // Answered empty: the bytes are not sent, so not charged.
            q.quotas
                .unrecord(QuotaType::Fetch, &q.user, &q.client_id, size as f64);
            for r in &mut results {
                r.slice = None;
            }
            resp.throttle_time_ms = q.throttle(throttle);
        }
    }
    let mut files = Vec::new();
    for (w, r) in wanted.iter().zip(results) {
        let mut pd = PartitionData::default();
        pd.partition_index = w.partition;
        pd.error_code = r.error_code;
        pd.high_watermark = r.high_watermark;
        pd.last_stable_offset = r.last_stable_offset;
        pd.log_start_offset = r.log_start_offset;
        pd.aborted_transactions = r.aborted.map(|txns| {
            txns.into_iter()
                .map(|t| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_first_offset(t.first_offset)
                })
                .collect()
        });
        pd.records = match r.slice {
            Some(slice) => {
                files.push(slice);
                Some(records_placeholder())
            }
            None => Some(Bytes::new()),
        };
        resp.responses[w.topic_index].partitions.push(pd);
    }
    encode_response_with_files(
        ApiKey::Fetch,
        version,
        correlation_id,
        &resp,
        files,
        version >= 12,
    )
}
