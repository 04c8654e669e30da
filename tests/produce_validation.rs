//! Poison batches through a real Produce request to `runnel serve`: each
//! batch of issue 8's defect list (hand-built bytes with a valid CRC) is
//! refused with Kafka's error code, the log end offset does not move, the
//! broker keeps serving, and valid data produced afterwards fetches cleanly.

mod broker_support;
mod support;

use broker_support::round_trip;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::record::batch::{self, HEADER_SIZE};
use runnel::record::varint::{put_varint, put_varlong};
use runnel::record::{BatchBuilder, Compression, decode_all};
use support::TempBroker;
use tokio::net::TcpStream;

const TOPIC: &str = "poison";
const CORRUPT_MESSAGE: i16 = 2;
const INVALID_RECORD: i16 = 87;

/// One record: attributes 0, timestamp delta = offset delta = `index`, a
/// key, a value and no headers, framed by its length.
fn record(index: i32, value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    put_varlong(&mut body, index as i64);
    put_varint(&mut body, index);
    put_varint(&mut body, 1);
    body.push(b'k');
    put_varint(&mut body, value.len() as i32);
    body.extend_from_slice(value);
    put_varint(&mut body, 0);
    let mut framed = Vec::new();
    put_varint(&mut framed, body.len() as i32);
    framed.extend_from_slice(&body);
    framed
}

/// A v2 batch of `records` (framed, uncompressed) with the given attributes,
/// `recordsCount` and `lastOffsetDelta`, the records section compressed as
/// `codec` says; the CRC is always valid.
fn batch_bytes(
    records: &[u8],
    codec: Compression,
    attributes: i16,
    count: i32,
    last_offset_delta: i32,
) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_SIZE];
    b.extend_from_slice(&codec.compress(records));
    let length = (b.len() - batch::LOG_OVERHEAD) as i32;
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    put(batch::LENGTH_OFFSET, &length.to_be_bytes());
    put(batch::MAGIC_OFFSET, &[2]);
    put(batch::ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
    put(
        batch::LAST_OFFSET_DELTA_OFFSET,
        &last_offset_delta.to_be_bytes(),
    );
    put(batch::BASE_TIMESTAMP_OFFSET, &1_000i64.to_be_bytes());
    put(batch::MAX_TIMESTAMP_OFFSET, &1_000i64.to_be_bytes());
    put(batch::PRODUCER_ID_OFFSET, &(-1i64).to_be_bytes());
    put(batch::PRODUCER_EPOCH_OFFSET, &(-1i16).to_be_bytes());
    put(batch::BASE_SEQUENCE_OFFSET, &(-1i32).to_be_bytes());
    put(batch::RECORDS_COUNT_OFFSET, &count.to_be_bytes());
    batch::update_crc(&mut b);
    let stored = runnel::record::BatchHeader::parse(&b).unwrap().crc;
    assert_eq!(
        batch::compute_crc(&b),
        stored,
        "hand-built batch, valid CRC"
    );
    b
}

fn plain(records: &[u8], count: i32) -> Vec<u8> {
    batch_bytes(records, Compression::None, 0, count, count - 1)
}

fn records(n: i32) -> Vec<u8> {
    (0..n).flat_map(|i| record(i, b"v")).collect()
}

fn good(n: usize, first: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, 5_000);
    for i in first..first + n {
        let value = format!("good {i}");
        b.push(5_000 + i as i64, Some(b"k"), Some(value.as_bytes()), &[]);
    }
    b.finish()
}

/// The poison batches of the defect list, with the code Kafka answers:
/// INVALID_RECORD for records that break the format's rules or do not parse
/// (Kafka's InvalidRecordException), CORRUPT_MESSAGE for bytes no codec reads.
fn poisons() -> Vec<(&'static str, Vec<u8>, i16)> {
    // A record whose declared length is 3 bytes more than its fields.
    let mut unparsable = record(0, b"v");
    unparsable[0] += 6; // zigzag: +3
    unparsable.extend_from_slice(&[0, 0, 0]);
    let mut offset_delta_wrong = record(0, b"v");
    offset_delta_wrong.extend(record(7, b"v"));
    vec![
        (
            "record that does not parse",
            plain(&unparsable, 1),
            INVALID_RECORD,
        ),
        (
            "count 2^31-1 with one record",
            plain(&records(1), i32::MAX),
            INVALID_RECORD,
        ),
        (
            "count 1 with three records",
            plain(&records(3), 1),
            INVALID_RECORD,
        ),
        (
            "count 0 (empty batch)",
            batch_bytes(&[], Compression::None, 0, 0, -1),
            INVALID_RECORD,
        ),
        (
            "lastOffsetDelta disagrees with the count",
            batch_bytes(&records(2), Compression::None, 0, 2, 5),
            INVALID_RECORD,
        ),
        (
            "control bit set by a client",
            batch_bytes(&records(1), Compression::None, batch::ATTR_CONTROL, 1, 0),
            INVALID_RECORD,
        ),
        (
            "transactional bit without a producer id",
            batch_bytes(
                &records(1),
                Compression::None,
                batch::ATTR_TRANSACTIONAL,
                1,
                0,
            ),
            INVALID_RECORD,
        ),
        (
            "codec 7",
            batch_bytes(&records(1), Compression::None, 7, 1, 0),
            CORRUPT_MESSAGE,
        ),
        (
            "gzip flag on uncompressed bytes",
            batch_bytes(&records(2), Compression::None, 1, 2, 1),
            CORRUPT_MESSAGE,
        ),
        (
            "offset delta 7 for record 1 (lz4)",
            batch_bytes(&offset_delta_wrong, Compression::Lz4, 3, 2, 1),
            INVALID_RECORD,
        ),
        (
            "count 1 with three records (zstd)",
            batch_bytes(&records(3), Compression::Zstd, 4, 1, 0),
            INVALID_RECORD,
        ),
        (
            "a valid batch followed by a poison one",
            [good(2, 0), plain(&records(3), 1)].concat(),
            INVALID_RECORD,
        ),
    ]
}

async fn produce(s: &mut TcpStream, records: Vec<u8>, corr: i32) -> PartitionProduceResponse {
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(Bytes::from(records));
    let mut td = TopicProduceData::default();
    td.name = TopicName(StrBytes::from_static_str(TOPIC));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![td];
    let mut resp: ProduceResponse = round_trip(s, ApiKey::Produce, 9, corr, &req).await;
    resp.responses.remove(0).partition_responses.remove(0)
}

async fn log_end_offset(s: &mut TcpStream) -> i64 {
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -1;
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.topics = vec![t];
    let resp: ListOffsetsResponse = round_trip(s, ApiKey::ListOffsets, 7, 1, &req).await;
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

async fn fetch_all(s: &mut TcpStream) -> Bytes {
    let mut fp = FetchPartition::default();
    fp.partition = 0;
    fp.fetch_offset = 0;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = FetchTopic::default();
    ft.topic = TopicName(StrBytes::from_static_str(TOPIC));
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.max_wait_ms = 0;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.session_epoch = -1;
    req.topics = vec![ft];
    let resp: FetchResponse = round_trip(s, ApiKey::Fetch, 11, 2, &req).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.clone().expect("records")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_batches_are_refused_and_leave_the_log_untouched() {
    let broker = TempBroker::start();
    let mut s = TcpStream::connect(broker.addr.as_str()).await.unwrap();
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let created: CreateTopicsResponse = round_trip(&mut s, ApiKey::CreateTopics, 7, 1, &req).await;
    assert_eq!(created.topics[0].error_code, 0);

    let first = produce(&mut s, good(3, 0), 10).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    assert_eq!(log_end_offset(&mut s).await, 3);

    for (i, (name, bytes, code)) in poisons().into_iter().enumerate() {
        let r = produce(&mut s, bytes, 100 + i as i32).await;
        assert_eq!(
            r.error_code, code,
            "{name}: code (message {:?})",
            r.error_message
        );
        assert_eq!(r.base_offset, -1, "{name}");
        assert!(r.error_message.is_some(), "{name}: an error message");
        if name.starts_with("offset delta") || name.starts_with("record that") {
            assert_eq!(r.record_errors.len(), 1, "{name}");
            let bad = if name.starts_with("offset delta") {
                1
            } else {
                0
            };
            assert_eq!(r.record_errors[0].batch_index, bad, "{name}");
        }
        assert_eq!(
            log_end_offset(&mut s).await,
            3,
            "{name}: the log end offset did not move"
        );
    }

    // The broker keeps serving: valid data lands right after the first.
    let next = produce(&mut s, good(2, 3), 200).await;
    assert_eq!((next.error_code, next.base_offset), (0, 3));
    assert_eq!(log_end_offset(&mut s).await, 5);
    let fetched = decode_all(&fetch_all(&mut s).await).expect("fetched batches decode");
    let offsets: Vec<i64> = fetched.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    let values: Vec<String> = fetched
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
        .collect();
    assert_eq!(values, ["good 0", "good 1", "good 2", "good 3", "good 4"]);
}
