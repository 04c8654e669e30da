//! Disk faults injected through the log's fail points (`--features
//! failpoints`, see `src/log/fail_points.rs`), as tikv/raft-engine's
//! `tests/failpoints`: EIO on fdatasync and on write take the data
//! directory offline (fail-stop: nothing more acknowledged, nothing of it
//! served, other requests still answered, a restart recovers); ENOSPC
//! fails only the append that met it. Each test checks what the clients
//! were told and what survived on disk.
//!
//! Run: `cargo test --features failpoints --test faults`.

mod broker_support;

use broker_support::{TestBroker, round_trip};
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::log::{DataDir, LogError};
use runnel::record::decode::decode_all;
use runnel::record::{BatchBuilder, Compression};
use tokio::net::TcpStream;

/// KAFKA_STORAGE_ERROR.
const STORAGE_ERROR: i16 = 56;

fn batch(n: usize, tag: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    for i in 0..n {
        let value = format!("{tag}-{i}");
        b.push(1_700_000_000_000, None, Some(value.as_bytes()), &[]);
    }
    b.finish()
}

/// Produce v9 of one batch to partition 0; (error code, base offset).
async fn produce(s: &mut TcpStream, topic: &str, records: Vec<u8>, acks: i16) -> (i16, i64) {
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(Bytes::from(records));
    let mut td = TopicProduceData::default();
    td.name = TopicName(StrBytes::from_string(topic.to_string()));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = 5000;
    req.topic_data = vec![td];
    let resp: ProduceResponse = round_trip(s, ApiKey::Produce, 9, 2, &req).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Fetch v12 of partition 0 from `offset`: (error code, record values).
async fn fetch(s: &mut TcpStream, topic: &str, offset: i64) -> (i16, Vec<String>) {
    let mut fp = FetchPartition::default();
    fp.fetch_offset = offset;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = FetchTopic::default();
    ft.topic = TopicName(StrBytes::from_string(topic.to_string()));
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.max_bytes = 1 << 20;
    req.session_epoch = -1;
    req.topics = vec![ft];
    let resp: FetchResponse = round_trip(s, ApiKey::Fetch, 12, 3, &req).await;
    let p = &resp.responses[0].partitions[0];
    let bytes = p.records.clone().unwrap_or_default();
    (p.error_code, values_of(&bytes))
}

/// The values of the records in concatenated batches.
fn values_of(bytes: &[u8]) -> Vec<String> {
    decode_all(bytes)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect()
}

async fn create_topic(s: &mut TcpStream, name: &str) {
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.to_string()));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let resp: CreateTopicsResponse = round_trip(s, ApiKey::CreateTopics, 7, 1, &req).await;
    assert_eq!(resp.topics[0].error_code, 0);
}

/// ApiVersions and Metadata still answered (the broker keeps serving).
async fn still_serving(s: &mut TcpStream) {
    let v: ApiVersionsResponse =
        round_trip(s, ApiKey::ApiVersions, 3, 4, &ApiVersionsRequest::default()).await;
    assert_eq!(v.error_code, 0);
    let mut req = MetadataRequest::default();
    req.topics = None;
    let m: MetadataResponse = round_trip(s, ApiKey::Metadata, 12, 5, &req).await;
    assert!(!m.topics.is_empty());
}

async fn connect(b: &TestBroker) -> TcpStream {
    TcpStream::connect(b.addr).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fdatasync_is_fail_stop_nothing_more_acked_or_served() {
    let scenario = fail::FailScenario::setup();
    broker_support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = connect(&broker).await;
    create_topic(&mut s, "t").await;
    assert_eq!(produce(&mut s, "t", batch(3, "acked"), -1).await, (0, 0));
    let mut idempotent = BatchBuilder::new(Compression::None, 1).producer(7, 0, 0);
    idempotent.push(1, None, Some(b"idempotent"), &[]);
    let idempotent = idempotent.finish();
    assert_eq!(produce(&mut s, "t", idempotent.clone(), 1).await, (0, 3));

    // One fdatasync fails; every later one "succeeds" (as after fsyncgate).
    fail::cfg("group_commit::fdatasync", "1*return(EIO)").unwrap();
    let (code, _) = produce(&mut s, "t", batch(2, "failed"), -1).await;
    assert_eq!(code, STORAGE_ERROR, "the request whose sync failed");
    // Nothing more is acknowledged, with acks=all or acks=1.
    for acks in [-1, 1, -1] {
        let (code, _) = produce(&mut s, "t", batch(1, "later"), acks).await;
        assert_eq!(code, STORAGE_ERROR, "acks={acks} after the failed sync");
    }
    // Not even a retry of a batch appended before (acks=1 would answer a
    // duplicate without writing).
    assert_eq!(produce(&mut s, "t", idempotent, 1).await.0, STORAGE_ERROR);
    // The failed request's records are not served (nor anything else of
    // the offline directory).
    for offset in [0, 4, 6] {
        let (code, values) = fetch(&mut s, "t", offset).await;
        assert_eq!(code, STORAGE_ERROR, "fetch at {offset}");
        assert!(values.is_empty(), "served {values:?}");
    }
    still_serving(&mut s).await;
    let syncs = broker.broker.group_commit.fdatasyncs();
    assert!(produce(&mut s, "t", batch(1, "x"), -1).await.0 == STORAGE_ERROR);
    assert_eq!(
        broker.broker.group_commit.fdatasyncs(),
        syncs,
        "no sync attempted"
    );
    fail::remove("group_commit::fdatasync");
    drop(s);
    // The offline directory is not closed cleanly.
    assert!(broker.stop().await.is_err());
    assert!(!dir.path().join(".kafka_cleanshutdown").exists());

    // A restart recovers from what is on disk; the acknowledged records are there.
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = connect(&broker).await;
    let (code, values) = fetch(&mut s, "t", 0).await;
    assert_eq!(code, 0);
    assert_eq!(
        &values[..4],
        ["acked-0", "acked-1", "acked-2", "idempotent"]
    );
    let (code, base) = produce(&mut s, "t", batch(1, "after restart"), -1).await;
    assert_eq!(code, 0);
    assert!(base >= 4);
    broker.stop().await.unwrap();
    scenario.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_a_segment_write_takes_the_directory_offline() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = connect(&broker).await;
    create_topic(&mut s, "t").await;
    assert_eq!(produce(&mut s, "t", batch(2, "before"), 1).await, (0, 0));
    fail::cfg("segment::write", "1*return(EIO)").unwrap();
    assert_eq!(
        produce(&mut s, "t", batch(2, "eio"), 1).await.0,
        STORAGE_ERROR
    );
    fail::remove("segment::write");
    assert_eq!(
        produce(&mut s, "t", batch(1, "next"), 1).await.0,
        STORAGE_ERROR
    );
    assert_eq!(fetch(&mut s, "t", 0).await, (STORAGE_ERROR, vec![]));
    still_serving(&mut s).await;
    drop(s);
    assert!(broker.stop().await.is_err());

    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = connect(&broker).await;
    let (code, values) = fetch(&mut s, "t", 0).await;
    assert_eq!(
        (code, values),
        (0, vec!["before-0".into(), "before-1".into()])
    );
    assert_eq!(produce(&mut s, "t", batch(1, "again"), -1).await, (0, 2));
    broker.stop().await.unwrap();
    scenario.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_fails_only_that_append_and_writes_resume() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = connect(&broker).await;
    create_topic(&mut s, "t").await;
    assert_eq!(produce(&mut s, "t", batch(2, "a"), -1).await, (0, 0));
    fail::cfg("segment::write", "2*return(ENOSPC)").unwrap();
    assert_eq!(
        produce(&mut s, "t", batch(3, "full"), -1).await.0,
        STORAGE_ERROR
    );
    assert_eq!(
        produce(&mut s, "t", batch(3, "full"), 1).await.0,
        STORAGE_ERROR
    );
    // Reads keep working while the disk is full.
    assert_eq!(
        fetch(&mut s, "t", 0).await,
        (0, vec!["a-0".into(), "a-1".into()])
    );
    // Space is back: writes resume by themselves, offsets contiguous.
    assert_eq!(produce(&mut s, "t", batch(1, "b"), -1).await, (0, 2));
    let (code, values) = fetch(&mut s, "t", 0).await;
    assert_eq!(
        (code, values),
        (0, vec!["a-0".into(), "a-1".into(), "b-0".into()])
    );
    drop(s);
    broker.stop().await.unwrap();
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
    scenario.teardown();
}

/// The log layer alone: opens one partition of a fresh data directory.
fn open_log(dir: &std::path::Path, configs: &[(&str, &str)]) -> (DataDir, runnel::log::Log) {
    let dd = DataDir::open(dir, true).unwrap();
    if dd.topics().unwrap().is_empty() {
        let configs = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dd.create_topic("t", 1, &configs).unwrap();
    }
    let log = dd.open_log("t", 0).unwrap();
    (dd, log)
}

fn values_from(log: &runnel::log::Log, offset: i64) -> Vec<String> {
    let Some(slice) = log.read(offset, 1 << 20, true).unwrap() else {
        return vec![];
    };
    values_of(&slice.read_to_vec().unwrap())
}

#[test]
fn index_writes_failing_skip_entries_and_reads_stay_right() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let (dd, mut log) = open_log(dir.path(), &[("index.interval.bytes", "0")]);
    fail::cfg("index::write", "return(ENOSPC)").unwrap();
    for i in 0..20 {
        log.append(&batch(1, &format!("v{i}"))).unwrap();
    }
    fail::remove("index::write");
    for i in 20..40 {
        log.append(&batch(1, &format!("v{i}"))).unwrap();
    }
    for off in [0, 7, 19, 20, 39] {
        assert_eq!(values_from(&log, off)[0], format!("v{off}-0"));
    }
    log.close().unwrap();
    dd.close().unwrap();
    let (_dd, log) = open_log(dir.path(), &[]);
    assert_eq!(log.log_end_offset(), 40);
    for off in [0, 19, 20, 39] {
        assert_eq!(values_from(&log, off)[0], format!("v{off}-0"));
    }
    scenario.teardown();
}

#[test]
fn a_failed_directory_fsync_at_roll_is_fail_stop() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let (dd, mut log) = open_log(dir.path(), &[]);
    log.append(&batch(2, "kept")).unwrap();
    fail::cfg("dir::fsync", "1*return(EIO)").unwrap();
    assert!(matches!(log.roll(), Err(LogError::Io { .. })));
    assert!(matches!(
        log.append(&batch(1, "refused")),
        Err(LogError::Offline { .. })
    ));
    assert!(matches!(
        log.read(0, 100, true),
        Err(LogError::Offline { .. })
    ));
    assert!(matches!(log.flush(), Err(LogError::Offline { .. })));
    assert!(log.close().is_err());
    assert!(matches!(dd.close(), Err(LogError::Offline { .. })));
    fail::remove("dir::fsync");
    let (_dd, log) = open_log(dir.path(), &[]);
    assert_eq!(values_from(&log, 0), ["kept-0", "kept-1"]);
    scenario.teardown();
}

#[test]
fn a_failed_checkpoint_rename_leaves_a_recoverable_directory() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let (dd, mut log) = open_log(dir.path(), &[]);
    log.append(&batch(3, "v")).unwrap();
    log.close().unwrap();
    fail::cfg("checkpoint::rename", "return(EIO)").unwrap();
    assert!(dd.close().is_err());
    fail::remove("checkpoint::rename");
    assert!(!dir.path().join(".kafka_cleanshutdown").exists());
    let (_dd, log) = open_log(dir.path(), &[]);
    assert_eq!(values_from(&log, 0), ["v-0", "v-1", "v-2"]);
    scenario.teardown();
}

#[test]
fn a_failed_segment_fdatasync_on_flush_is_fail_stop() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let (_dd, mut log) = open_log(dir.path(), &[]);
    log.append(&batch(1, "v")).unwrap();
    let before = log.recovery_point();
    fail::cfg("segment::fdatasync", "1*return(EIO)").unwrap();
    assert!(matches!(log.flush(), Err(LogError::Io { .. })));
    // A second flush would "succeed": it is refused instead, and the
    // recovery point never moves past what was not known to be synced.
    assert!(matches!(log.flush(), Err(LogError::Offline { .. })));
    log.mark_flushed(1);
    assert_eq!(log.recovery_point(), before);
    scenario.teardown();
}
