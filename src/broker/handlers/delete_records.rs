//! DeleteRecords: moves a partition's log start offset forward (deleting
//! the whole segments below it), as `kafka-delete-records.sh` does.

use crate::broker::state::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

/// Handles DeleteRecords v0–v2; offset -1 means the high watermark.
pub fn handle(broker: &Broker, req: DeleteRecordsRequest, _version: i16) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            r.low_watermark = -1;
            match broker.partition(t.name.0.as_str(), p.partition_index) {
                None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(part) => match part.log() {
                    Err(offline) => r.error_code = super::log_error_code(&offline),
                    Ok(mut log) => {
                        let target = if p.offset == -1 {
                            log.log_end_offset()
                        } else {
                            p.offset
                        };
                        if target < 0 {
                            r.error_code = ResponseError::OffsetOutOfRange.code();
                        } else {
                            match log.advance_log_start_offset(target) {
                                Ok(()) => r.low_watermark = log.log_start_offset(),
                                Err(e) => r.error_code = super::log_error_code(&e),
                            }
                        }
                    }
                },
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
