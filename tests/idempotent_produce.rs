//! Idempotent produce over the wire against `runnel serve` (a child
//! process, so it can be killed with SIGKILL): Kafka's sequence and epoch
//! rules answered with Kafka's codes and nothing appended, and a retried
//! batch answered with its original offsets after a kill -9 and after a
//! clean restart (producer state lives in the log's snapshots, not in
//! memory); producer ids are never handed out twice across restarts.

mod broker_support;
mod support;

use broker_support::round_trip;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::record::{BatchBuilder, Compression};
use std::time::Duration;
use support::{Broker, free_port, signal, wait_exit};
use tokio::net::TcpStream;

const TOPIC: &str = "idem";
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// A batch of `n` records from producer `pid` at `epoch`, first sequence
/// `seq`, timestamped now (a producer whose last batch is older than
/// `producer.id.expiration.ms` is forgotten, as in Kafka).
fn batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut b = BatchBuilder::new(Compression::None, now).producer(pid, epoch, seq);
    for i in 0..n {
        b.push(now, None, Some(format!("{seq}+{i}").as_bytes()), &[]);
    }
    b.finish()
}

async fn produce(s: &mut TcpStream, records: Vec<u8>) -> PartitionProduceResponse {
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
    let mut resp: ProduceResponse = round_trip(s, ApiKey::Produce, 9, 7, &req).await;
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

async fn init_producer_id(s: &mut TcpStream) -> i64 {
    let mut req = InitProducerIdRequest::default().with_transactional_id(None);
    req.transaction_timeout_ms = 60_000;
    req.producer_id = ProducerId(-1);
    req.producer_epoch = -1;
    let resp: InitProducerIdResponse = round_trip(s, ApiKey::InitProducerId, 4, 3, &req).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.producer_epoch, 0);
    resp.producer_id.0
}

async fn connect(addr: &str) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_and_epoch_rules_and_retries_answered_after_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = format!("127.0.0.1:{}", free_port());
    let serve_log = |n: usize| dir.path().join(format!("serve-{n}.log"));
    let mut broker = Broker::start_at(&addr, &data, &serve_log(0), &[]);
    let mut s = connect(&addr).await;
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let created: CreateTopicsResponse = round_trip(&mut s, ApiKey::CreateTopics, 7, 1, &req).await;
    assert_eq!(created.topics[0].error_code, 0);

    let pid = init_producer_id(&mut s).await;
    let a = produce(&mut s, batch(pid, 0, 0, 3)).await;
    assert_eq!((a.error_code, a.base_offset), (0, 0));
    let b = produce(&mut s, batch(pid, 0, 3, 2)).await;
    assert_eq!((b.error_code, b.base_offset), (0, 3));

    // A retry of the first batch (still one of the last five).
    let retry = produce(&mut s, batch(pid, 0, 0, 3)).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 0));
    assert_eq!(
        log_end_offset(&mut s).await,
        5,
        "the retry appended nothing"
    );

    // A gap: sequence 9 where 5 is next.
    let gap = produce(&mut s, batch(pid, 0, 9, 1)).await;
    assert_eq!(
        gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER,
        "{:?}",
        gap.error_message
    );
    assert_eq!(gap.base_offset, -1);
    assert_eq!(log_end_offset(&mut s).await, 5, "the gap appended nothing");

    // A new epoch starts at 0; the old one is then fenced.
    let bumped = produce(&mut s, batch(pid, 1, 0, 1)).await;
    assert_eq!((bumped.error_code, bumped.base_offset), (0, 5));
    let old = produce(&mut s, batch(pid, 0, 5, 1)).await;
    assert_eq!(
        old.error_code, INVALID_PRODUCER_EPOCH,
        "{:?}",
        old.error_message
    );
    let not_zero = produce(&mut s, batch(pid, 2, 3, 1)).await;
    assert_eq!(not_zero.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(log_end_offset(&mut s).await, 6);
    drop(s);

    // kill -9, restart: the retry is still a duplicate, the rules still hold.
    signal(&broker.child, libc::SIGKILL);
    wait_exit(&mut broker.child, Duration::from_secs(10));
    broker = Broker::start_at(&addr, &data, &serve_log(1), &[]);
    let mut s = connect(&addr).await;
    let retry = produce(&mut s, batch(pid, 1, 0, 1)).await;
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 5),
        "after kill -9 a retried batch gets its original offset"
    );
    let retry = produce(&mut s, batch(pid, 0, 3, 2)).await;
    assert_eq!(
        retry.error_code, INVALID_PRODUCER_EPOCH,
        "the epoch survives the restart"
    );
    let gap = produce(&mut s, batch(pid, 1, 5, 1)).await;
    assert_eq!(gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(log_end_offset(&mut s).await, 6, "nothing appended twice");
    let second = init_producer_id(&mut s).await;
    assert_ne!(second, pid, "a producer id is never handed out twice");
    let next = produce(&mut s, batch(pid, 1, 1, 2)).await;
    assert_eq!((next.error_code, next.base_offset), (0, 6));
    drop(s);

    // A clean restart: the state comes back from the snapshot at the log end.
    broker.stop();
    assert!(
        data.join(format!("{TOPIC}-0/00000000000000000008.snapshot"))
            .exists(),
        "a clean stop writes a snapshot at the log end offset"
    );
    let broker = Broker::start_at(&addr, &data, &serve_log(2), &[]);
    let mut s = connect(&addr).await;
    let retry = produce(&mut s, batch(pid, 1, 1, 2)).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 6));
    assert_eq!(log_end_offset(&mut s).await, 8);
    let third = init_producer_id(&mut s).await;
    assert!(third != pid && third != second);

    // DescribeProducers (API 61) reports the state that came back.
    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_indexes(vec![0, 7]),
    ]);
    let described: DescribeProducersResponse =
        round_trip(&mut s, ApiKey::DescribeProducers, 0, 9, &req).await;
    let parts = &described.topics[0].partitions;
    assert_eq!(parts[0].error_code, 0);
    assert_eq!(parts[1].error_code, 3, "partition 7 does not exist");
    let p = &parts[0].active_producers;
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].producer_id.0, pid);
    assert_eq!(
        (
            p[0].producer_epoch,
            p[0].last_sequence,
            p[0].current_txn_start_offset
        ),
        (1, 2, -1)
    );
    drop(s);
    broker.stop();
}
