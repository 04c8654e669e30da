//! Produce: client batches are appended as received (the log validates
//! them with `log::validator`, Kafka's LogValidator, and patches offsets,
//! never re-encodes; a refused batch gets its error code, message and, for
//! per-record rules, `record_errors`). acks=0 gets no response,
//! acks=1 is answered once appended, acks=all once the appended bytes are
//! fdatasynced through the shared group commit.

use super::{log_error_code, now_ms, str_bytes};
use crate::broker::coordinators::Coordinators;
use crate::broker::dispatch::{PendingReply, reply};
use crate::broker::legacy_produce::{self, LegacyProduceResponse};
use crate::broker::quota::{ThrottleSlot, slot_value};
use crate::broker::state::{Broker, Partition};
use crate::log::validator::{RecordError, record_errors};
use crate::record::BatchHeader;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use std::fs::File;
use std::sync::Arc;

/// A partition appended to with acks=all, waiting for its sync.
struct Durable {
    partition: Arc<Partition>,
    file: Arc<File>,
    end: i64,
    /// (topic index, partition index) in the response.
    slot: (usize, usize),
}

/// What one partition's append gave: offsets, the log start offset, and
/// (for acks=all) the file to sync and the offset it makes durable.
type Appended = (crate::log::AppendInfo, i64, Option<(Arc<File>, i64)>);

/// Why one partition's records were refused: Kafka error code, message, and
/// the records at fault by index in their batch (ProduceResponse v8+).
type Refused = (i16, String, Vec<RecordError>);

/// A transactional batch must belong to an ongoing transaction of its
/// producer that holds this partition (KIP-890's verification, asked of the
/// local transaction coordinator): INVALID_TXN_STATE otherwise, and
/// INVALID_PRODUCER_EPOCH for another epoch.
fn verify_transaction(
    coordinators: &Coordinators,
    partition: &Partition,
    records: &[u8],
) -> Result<(), Refused> {
    let Ok(header) = BatchHeader::parse(records) else {
        return Ok(()); // the validator explains what is wrong with it
    };
    // As Kafka's ReplicaManager: only batches with a producer id are
    // verified (the validator refuses the transactional bit without one).
    if !header.is_transactional() || header.is_control() || header.producer_id < 0 {
        return Ok(());
    }
    let verified = match coordinators.txn_if_open() {
        Some(txn) => txn.verify_partition(
            header.producer_id,
            header.producer_epoch,
            &partition.topic,
            partition.index,
        ),
        None => Err(ResponseError::InvalidTxnState.code()),
    };
    verified.map_err(|code| {
        (
            code,
            format!(
                "transactional batch of producer {} (epoch {}) for a partition not in its ongoing transaction",
                header.producer_id, header.producer_epoch
            ),
            Vec::new(),
        )
    })
}

fn append(
    coordinators: &Coordinators,
    partition: &Partition,
    records: Option<bytes::Bytes>,
    durable: bool,
    version: i16,
) -> Result<Appended, Refused> {
    let Some(mut records) = records else {
        return Err((
            ResponseError::CorruptMessage.code(),
            "no records".into(),
            Vec::new(),
        ));
    };
    if version < legacy_produce::FIRST_MODELLED_VERSION && legacy_produce::is_legacy(&records) {
        records = legacy_produce::up_convert(&records, now_ms()).map_err(|e| {
            (
                ResponseError::CorruptMessage.code(),
                format!("legacy message set: {e}"),
                Vec::new(),
            )
        })?;
    }
    // An offline partition (its log could not be opened) takes nothing.
    let mut log = partition
        .log()
        .map_err(|e| (log_error_code(&e), e.to_string(), Vec::new()))?;
    // Checked under the log's lock, which markers are written under too: a
    // batch verified here cannot land after its transaction's marker.
    verify_transaction(coordinators, partition, &records)?;
    if partition.is_deleted() {
        return Err((
            ResponseError::UnknownTopicOrPartition.code(),
            "topic was deleted".into(),
            Vec::new(),
        ));
    }
    // An offline data directory acknowledges nothing, a retried batch included.
    log.check_online()
        .map_err(|e| (log_error_code(&e), e.to_string(), Vec::new()))?;
    let info = log
        .append(&records)
        .map_err(|e| (log_error_code(&e), e.to_string(), record_errors(&e)))?;
    if info.duplicate {
        // A retry of one of the producer's last five batches (Kafka's
        // DuplicateSequence): answered with its original offsets.
        tracing::debug!(
            "duplicate batch on {}-{} (offsets {}..={})",
            partition.topic,
            partition.index,
            info.base_offset,
            info.last_offset
        );
    }
    Ok((
        info,
        log.log_start_offset(),
        durable.then(|| log.sync_target()),
    ))
}

/// Encodes the response in `version`, v0–v2 included.
fn encode(
    version: i16,
    corr: i32,
    resp: &mut ProduceResponse,
    throttle: &ThrottleSlot,
) -> anyhow::Result<Option<crate::protocol::ResponseBody>> {
    resp.throttle_time_ms = slot_value(throttle);
    if version < legacy_produce::FIRST_MODELLED_VERSION {
        reply(ApiKey::Produce, version, corr, &LegacyProduceResponse(resp))
    } else {
        reply(ApiKey::Produce, version, corr, resp)
    }
}

/// Appends the request's batches now and returns the pending response
/// (whose `throttle_time_ms` is read from `throttle` when it is encoded).
pub fn handle(
    broker: Arc<Broker>,
    coordinators: &Coordinators,
    req: ProduceRequest,
    version: i16,
    corr: i32,
    throttle: ThrottleSlot,
) -> PendingReply {
    let acks = req.acks;
    let mut resp = ProduceResponse::default();
    let mut durable = Vec::new();
    for (ti, topic) in req.topic_data.into_iter().enumerate() {
        let resolved = if version >= 13 {
            broker.topic_by_id(topic.topic_id)
        } else {
            broker.topic(topic.name.0.as_str())
        };
        let unknown_code = if version >= 13 {
            ResponseError::UnknownTopicId.code()
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        };
        let mut tr = TopicProduceResponse::default();
        tr.name = topic.name.clone();
        tr.topic_id = topic.topic_id;
        for (pi, pd) in topic.partition_data.into_iter().enumerate() {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let partition = resolved
                .as_ref()
                .and_then(|t| {
                    usize::try_from(pd.index)
                        .ok()
                        .and_then(|i| t.partitions.get(i))
                })
                .cloned();
            match partition {
                None => {
                    pr.error_code = if resolved.is_some() {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        unknown_code
                    };
                }
                Some(p) => match append(coordinators, &p, pd.records, acks == -1, version) {
                    Ok((info, start, sync)) => {
                        pr.base_offset = info.base_offset;
                        pr.log_append_time_ms = info.log_append_time;
                        pr.log_start_offset = start;
                        p.notify_appended();
                        if let Some((file, end)) = sync {
                            durable.push(Durable {
                                partition: p.clone(),
                                file,
                                end,
                                slot: (ti, pi),
                            });
                        }
                    }
                    Err((code, message, errors)) => {
                        tracing::warn!("produce to {}-{} rejected: {message}", p.topic, p.index);
                        pr.error_code = code;
                        pr.record_errors = errors
                            .into_iter()
                            .map(|r| {
                                let mut e = BatchIndexAndErrorMessage::default();
                                e.batch_index = r.batch_index;
                                e.batch_index_error_message = Some(str_bytes(r.message));
                                e
                            })
                            .collect();
                        pr.error_message = Some(str_bytes(message));
                    }
                },
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if acks == 0 {
        return Box::pin(async { Ok(None) });
    }
    if durable.is_empty() {
        return Box::pin(async move { encode(version, corr, &mut resp, &throttle) });
    }
    let mut files: Vec<Arc<File>> = Vec::new();
    for d in &durable {
        if !files.iter().any(|f| Arc::ptr_eq(f, &d.file)) {
            files.push(d.file.clone());
        }
    }
    let synced = broker.group_commit.sync(files);
    Box::pin(async move {
        let outcome = match synced.await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the syncer stopped".to_string()),
        };
        match outcome {
            Ok(()) => {
                for d in &durable {
                    if let Ok(mut log) = d.partition.log() {
                        log.mark_flushed(d.end);
                    }
                }
            }
            Err(e) => {
                tracing::error!("fdatasync for acks=all failed: {e}");
                for d in &durable {
                    let pr = &mut resp.responses[d.slot.0].partition_responses[d.slot.1];
                    pr.error_code = ResponseError::KafkaStorageError.code();
                    pr.error_message = Some(str_bytes(format!("sync failed: {e}")));
                }
            }
        }
        encode(version, corr, &mut resp, &throttle)
    })
}
