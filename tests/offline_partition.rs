//! A partition whose inactive segment holds bytes that do not parse does
//! not stop the broker (Kafka takes the log directory offline; runnel, with
//! one data directory, that partition): `runnel serve` starts, logs the
//! error once with the file and byte position, the partition answers
//! KAFKA_STORAGE_ERROR to produce, fetch and list-offsets and shows as
//! offline in Metadata (no leader, LEADER_NOT_AVAILABLE, its replica
//! offline) and in `topics describe`, the other topics serve a real client
//! (kcat) as usual, and the corrupt file is left byte for byte as it was.

mod broker_support;
mod support;

use broker_support::round_trip;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::record::{BatchBuilder, Compression};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;

const KAFKA_STORAGE_ERROR: i16 = 56;
const LEADER_NOT_AVAILABLE: i16 = 5;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn lines(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("line {i:05}\n")).collect()
}

/// The `.log` files of a partition, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Runs kcat with `args` (and `stdin`), bounded in time; returns stdout.
fn kcat(args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is installed (bin/setup-test-deps)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("kcat {args:?} did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn produce_code(s: &mut TcpStream, topic: &str) -> i16 {
    let mut b = BatchBuilder::new(Compression::None, 1_000);
    b.push(1_000, None, Some(b"refused"), &[]);
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(b.finish().into());
    let mut td = TopicProduceData::default();
    td.name = name(topic);
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![td];
    let resp: ProduceResponse = round_trip(s, ApiKey::Produce, 9, 1, &req).await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.base_offset, -1);
    p.error_code
}

async fn fetch_code(s: &mut TcpStream, topic: &str) -> i16 {
    let mut fp = FetchPartition::default();
    fp.partition = 0;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = FetchTopic::default();
    ft.topic = name(topic);
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.max_wait_ms = 0;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.session_epoch = -1;
    req.topics = vec![ft];
    let resp: FetchResponse = round_trip(s, ApiKey::Fetch, 11, 2, &req).await;
    resp.responses[0].partitions[0].error_code
}

async fn list_offsets_code(s: &mut TcpStream, topic: &str, timestamp: i64) -> i16 {
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = timestamp;
    let mut t = ListOffsetsTopic::default();
    t.name = name(topic);
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.topics = vec![t];
    let resp: ListOffsetsResponse = round_trip(s, ApiKey::ListOffsets, 7, 3, &req).await;
    resp.topics[0].partitions[0].error_code
}

async fn metadata(s: &mut TcpStream, topic: &str) -> MetadataResponse {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(name(topic));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    round_trip(s, ApiKey::Metadata, 12, 4, &req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_inactive_segment_takes_only_its_partition_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve_log = tmp.path().join("serve.log");
    let broker = support::Broker::start(&data, &serve_log);
    broker.ok(&["topics", "create", "good"], "");
    broker.ok(&["topics", "create", "bad", "-c", "segment.bytes=2048"], "");
    broker.ok(&["produce", "good"], &lines(0, 50));
    for i in 0..12 {
        broker.ok(&["produce", "bad"], &lines(i * 40, 40));
    }
    broker.stop();

    // One byte flipped in the middle of the first (inactive) segment of
    // bad-0: a record's bytes, so its batch's CRC no longer matches.
    let bad = data.join("bad-0");
    let logs = segments(&bad);
    assert!(logs.len() >= 3, "{} segments", logs.len());
    let mut bytes = std::fs::read(&logs[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&logs[0], &bytes).unwrap();
    let before: Vec<Vec<u8>> = logs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // As after a crash before any checkpoint: every segment is checked.
    std::fs::remove_file(data.join(".kafka_cleanshutdown")).unwrap();
    std::fs::remove_file(data.join("recovery-point-offset-checkpoint")).unwrap();

    let mut broker = support::Broker::start(&data, &serve_log);
    // The port is bound before the logs are opened: a first answer means
    // they are, and the broker kept running.
    let mut s = TcpStream::connect(broker.addr.as_str()).await.unwrap();
    let meta = metadata(&mut s, "bad").await;
    assert!(
        broker.child.try_wait().unwrap().is_none(),
        "runnel serve exited"
    );
    // Logged once, naming the file and the byte position.
    let log = std::fs::read_to_string(&serve_log).unwrap();
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("bad-0 is offline"))
        .collect();
    assert_eq!(reports.len(), 1, "{log}");
    assert!(
        reports[0].contains(logs[0].to_str().unwrap()) && reports[0].contains("at byte"),
        "{}",
        reports[0]
    );

    // The other topic serves a real client as usual.
    let bootstrap = broker.addr.as_str();
    kcat(
        &["-b", bootstrap, "-P", "-t", "good", "-p", "0"],
        &lines(50, 10),
    );
    let consumed = kcat(
        &[
            "-b",
            bootstrap,
            "-C",
            "-t",
            "good",
            "-o",
            "beginning",
            "-e",
            "-q",
        ],
        "",
    );
    assert_eq!(consumed, lines(0, 60));

    // The corrupt partition answers KAFKA_STORAGE_ERROR...
    assert_eq!(produce_code(&mut s, "bad").await, KAFKA_STORAGE_ERROR);
    assert_eq!(fetch_code(&mut s, "bad").await, KAFKA_STORAGE_ERROR);
    for ts in [-1, -2, 0] {
        assert_eq!(
            list_offsets_code(&mut s, "bad", ts).await,
            KAFKA_STORAGE_ERROR
        );
    }
    assert_eq!(fetch_code(&mut s, "good").await, 0);
    assert_eq!(list_offsets_code(&mut s, "good", -1).await, 0);
    // ...and is offline in Metadata as Kafka shows an offline replica.
    let p = &meta.topics[0].partitions[0];
    assert_eq!(meta.topics[0].error_code, 0);
    assert_eq!(p.error_code, LEADER_NOT_AVAILABLE);
    assert_eq!(p.leader_id.0, -1);
    assert_eq!(p.offline_replicas, p.replica_nodes);
    let meta = metadata(&mut s, "good").await;
    assert_eq!(meta.topics[0].partitions[0].error_code, 0);
    assert!(meta.topics[0].partitions[0].offline_replicas.is_empty());

    // `topics describe` shows it offline.
    let described = broker.ok(&["topics", "describe", "bad"], "");
    assert!(described.contains("offline"), "{described}");
    let json = support::json(&broker.ok(&["topics", "describe", "bad", "--json"], ""));
    assert_eq!(json["partitions"][0]["offline"], true, "{json}");
    let json = support::json(&broker.ok(&["topics", "describe", "good", "--json"], ""));
    assert!(json["partitions"][0].get("offline").is_none(), "{json}");

    // A stop and another start change nothing: still offline, files as they were.
    broker.stop();
    let after: Vec<Vec<u8>> = logs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(
        before == after,
        "the corrupt partition's segments were modified"
    );
    let broker = support::Broker::start(&data, &serve_log);
    let mut s = TcpStream::connect(broker.addr.as_str()).await.unwrap();
    assert_eq!(produce_code(&mut s, "bad").await, KAFKA_STORAGE_ERROR);
    broker.stop();
    let after: Vec<Vec<u8>> = logs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(
        before == after,
        "the corrupt partition's segments were modified"
    );
}
