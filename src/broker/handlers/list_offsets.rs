//! ListOffsets: earliest (-2, and earliest-local -4), latest (-1),
//! max-timestamp (-3) and the first offset at or after a timestamp; under
//! isolation_level 1 (read_committed) up to the last stable offset.

use crate::broker::state::{Broker, Partition};
use crate::log::Log;
use crate::log::entry::{EntryHeader, MAX_HEADER_SIZE, PREFIX_SIZE};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use std::os::unix::fs::FileExt;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// The offset and timestamp of the record with the largest timestamp
/// (the last batch with that max timestamp, as the batch header records it;
/// legacy v0/v1 messages count by their own timestamp).
fn max_timestamp(log: &Log) -> Result<Option<(i64, i64)>, crate::log::LogError> {
    let mut best: Option<(i64, i64)> = None;
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let Some(slice) = log.read(offset, 8 << 20, true)? else {
            break;
        };
        let mut pos = 0usize;
        let mut header = [0u8; MAX_HEADER_SIZE];
        let mut next = offset;
        while pos + PREFIX_SIZE <= slice.len {
            let header = &mut header[..MAX_HEADER_SIZE.min(slice.len - pos)];
            slice
                .file
                .read_exact_at(header, slice.position + pos as u64)
                .map_err(|source| crate::log::LogError::Io {
                    path: log.dir().to_path_buf(),
                    source,
                })?;
            let Ok(h) = EntryHeader::parse(header) else {
                break;
            };
            if best.is_none_or(|(_, ts)| h.max_timestamp >= ts) {
                best = Some((h.last_offset(), h.max_timestamp));
            }
            next = h.last_offset() + 1;
            pos += h.total_size();
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(best)
}

/// The offset of `timestamp` in `p`. Under read_committed the last
/// fetchable offset is the last stable offset (Kafka's
/// `fetchOffsetForTimestamp`): latest answers it, and a timestamp found at
/// or past it is not answered.
fn lookup(
    p: &Partition,
    timestamp: i64,
    read_committed: bool,
    version: i16,
) -> ListOffsetsPartitionResponse {
    let mut r = ListOffsetsPartitionResponse::default();
    r.partition_index = p.index;
    r.timestamp = -1;
    r.offset = -1;
    if version >= 4 {
        r.leader_epoch = 0;
    }
    let log = match p.log() {
        Ok(log) => log,
        Err(offline) => {
            r.error_code = super::log_error_code(&offline);
            return r;
        }
    };
    if let Err(e) = log.check_online() {
        r.error_code = super::log_error_code(&e);
        return r;
    }
    let last_fetchable = if read_committed {
        log.last_stable_offset()
    } else {
        log.log_end_offset()
    };
    let outcome = match timestamp {
        LATEST => Ok(Some((last_fetchable, -1))),
        EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
        MAX_TIMESTAMP => max_timestamp(&log),
        t if t >= 0 => log
            .offset_for_timestamp(t)
            .map(|found| found.filter(|(offset, _)| *offset < last_fetchable)),
        _ => {
            r.error_code = ResponseError::InvalidRequest.code();
            return r;
        }
    };
    match outcome {
        Ok(Some((offset, ts))) => {
            r.offset = offset;
            r.timestamp = ts;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!("list offsets on {}-{}: {e}", p.topic, p.index);
            r.error_code = super::log_error_code(&e);
        }
    }
    r
}

/// Handles ListOffsets v1–v10.
pub fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    for t in req.topics {
        let topic = broker.topic(t.name.0.as_str());
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let partition = topic.as_ref().and_then(|topic| {
                usize::try_from(p.partition_index)
                    .ok()
                    .and_then(|i| topic.partitions.get(i).cloned())
            });
            let r = match partition {
                Some(part) => lookup(&part, p.timestamp, req.isolation_level == 1, version),
                None => {
                    let mut r = ListOffsetsPartitionResponse::default();
                    r.partition_index = p.partition_index;
                    r.error_code = ResponseError::UnknownTopicOrPartition.code();
                    r.offset = -1;
                    r.timestamp = -1;
                    r
                }
            };
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
