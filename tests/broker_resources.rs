//! Bounded resources: every legal topic name works end to end, reserved
//! and colliding names get Kafka's error codes, the partition cap
//! (`max.broker.partitions`), descriptors that grow with partitions and not
//! with segments, and the shared `queued.max.request.bytes` budget.

mod broker_support;
mod support;

use broker_support::{TestBroker, is_closed_by_broker, request_frame, round_trip};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use support::{Broker, TempBroker, ok_direct};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create_req(topics: &[(&str, i32)], configs: &[(&str, &str)]) -> CreateTopicsRequest {
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 30_000;
    req.topics = topics
        .iter()
        .map(|(name, partitions)| {
            let mut t = CreatableTopic::default();
            t.name = TopicName(s(name));
            t.num_partitions = *partitions;
            t.replication_factor = -1;
            t.configs = configs
                .iter()
                .map(|(k, v)| {
                    let mut c = CreatableTopicConfig::default();
                    c.name = s(k);
                    c.value = Some(s(v));
                    c
                })
                .collect();
            t
        })
        .collect();
    req
}

/// Creates each topic in its own request; returns (error code, message).
async fn create(stream: &mut TcpStream, name: &str, partitions: i32) -> (i16, String) {
    let resp: CreateTopicsResponse = round_trip(
        stream,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req(&[(name, partitions)], &[]),
    )
    .await;
    let t = &resp.topics[0];
    let msg = t
        .error_message
        .as_ref()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    (t.error_code, msg)
}

const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_REQUEST: i16 = 42;
const POLICY_VIOLATION: i16 = 44;

#[test]
fn a_249_character_topic_is_created_produced_consumed_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let name = format!("{}-end", "t.x_".repeat(62).get(..245).unwrap());
    assert_eq!(name.len(), 249);
    let broker = Broker::start(&data, &log);
    broker.ok(&["topics", "create", &name, "--partitions", "3"], "");
    broker.ok(&["produce", &name, "-p", "2"], "one\ntwo\n");
    let consume = ["consume", &name, "-o", "beginning"];
    assert_eq!(broker.ok(&consume, ""), "one\ntwo\n");
    assert!(broker.ok(&["topics", "list"], "").contains(&name));
    broker.stop();
    let broker = Broker::start(&data, &log);
    assert_eq!(broker.ok(&consume, ""), "one\ntwo\n");
    broker.ok(&["produce", &name, "-p", "0"], "three\n");
    broker.ok(&["topics", "delete", &name], "");
    broker.stop();
    let left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("t.x_"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_reserved_and_internal_names_are_refused_with_kafkas_codes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().join("data"), &[]).await;
    let mut c = TcpStream::connect(broker.addr).await.unwrap();
    assert_eq!(create(&mut c, "a.b", 1).await.0, 0);
    let (code, msg) = create(&mut c, "a_b", 1).await;
    assert_eq!(code, INVALID_TOPIC_EXCEPTION, "{msg}");
    assert!(msg.contains("collides with existing topic 'a.b'"), "{msg}");
    assert_eq!(create(&mut c, "a.b", 1).await.0, TOPIC_ALREADY_EXISTS);
    let mut validate = create_req(&[("a_b", 1)], &[]);
    validate.validate_only = true;
    let resp: CreateTopicsResponse =
        round_trip(&mut c, ApiKey::CreateTopics, 7, 9, &validate).await;
    assert_eq!(resp.topics[0].error_code, INVALID_TOPIC_EXCEPTION);
    for bad in [".", "..", "a/b", "", &"x".repeat(250)] {
        assert_eq!(
            create(&mut c, bad, 1).await.0,
            INVALID_TOPIC_EXCEPTION,
            "{bad:?}"
        );
    }
    for internal in [
        "__consumer_offsets",
        "__transaction_state",
        "__cluster_metadata",
    ] {
        let (code, msg) = create(&mut c, internal, 1).await;
        assert_eq!(code, INVALID_REQUEST, "{internal}: {msg}");
        assert!(msg.contains("internal topic"), "{msg}");
    }
    // Names as long as Kafka allows, and names like runnel's own files.
    for ok in [
        "x".repeat(249),
        "y".repeat(244),
        "recovery-point-offset-checkpoint".to_string(),
        ".lock".to_string(),
        "cluster.id".to_string(),
        "z.properties".to_string(),
    ] {
        let (code, msg) = create(&mut c, &ok, 2).await;
        assert_eq!(code, 0, "{}: {msg}", ok.len());
    }
    let mut names: Vec<String> = broker
        .broker
        .topics()
        .iter()
        .map(|t| t.meta.name.clone())
        .collect();
    names.sort();
    broker.stop().await.unwrap();
    // Every topic comes back after a restart, and refused ones left nothing.
    let broker = TestBroker::start(dir.path().join("data"), &[]).await;
    let mut again: Vec<String> = broker
        .broker
        .topics()
        .iter()
        .map(|t| t.meta.name.clone())
        .collect();
    again.sort();
    assert_eq!(again, names);
    let dirs = std::fs::read_dir(dir.path().join("data")).unwrap().count();
    // 6 two-partition topics, a.b, and the data directory's own files.
    assert!(dirs <= 13 + 5, "{dirs} entries");
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_over_the_partition_cap_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let broker =
        TestBroker::start(dir.path().join("data"), &[("max.broker.partitions", "10")]).await;
    let mut c = TcpStream::connect(broker.addr).await.unwrap();
    assert_eq!(create(&mut c, "eight", 8).await.0, 0);
    let (code, msg) = create(&mut c, "three", 3).await;
    assert_eq!(code, POLICY_VIOLATION);
    assert!(msg.contains("over its cap of 10"), "{msg}");
    assert!(msg.contains("raise max.broker.partitions"), "{msg}");
    assert!(!dir.path().join("data/three-0").exists());
    let grow = |count: i32| {
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(s("eight"));
        t.count = count;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = 30_000;
        req
    };
    let resp: CreatePartitionsResponse =
        round_trip(&mut c, ApiKey::CreatePartitions, 3, 2, &grow(11)).await;
    assert_eq!(resp.results[0].error_code, POLICY_VIOLATION);
    let resp: CreatePartitionsResponse =
        round_trip(&mut c, ApiKey::CreatePartitions, 3, 3, &grow(10)).await;
    assert_eq!(resp.results[0].error_code, 0);
    assert_eq!(create(&mut c, "one", 1).await.0, POLICY_VIOLATION);
    broker.stop().await.unwrap();
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn inactive_segments_hold_no_file_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 400 one-record segments, written offline.
    ok_direct(
        &data,
        &["topics", "create", "many", "-c", "segment.bytes=1024"],
        "",
    );
    let line = "v".repeat(900);
    let input: String = (0..400).map(|_| format!("{line}\n")).collect();
    ok_direct(&data, &["produce", "many", "--batch-size", "1"], &input);
    let segments = std::fs::read_dir(data.join("many-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(segments >= 400, "{segments} segments");
    let broker = Broker::start(&data, &dir.path().join("serve.log"));
    let pid = broker.child.id();
    // Answered once the logs are open (the port accepts before that).
    assert!(broker.ok(&["topics", "list"], "").contains("many"));
    let at_start = open_fds(pid);
    // The active segment's three files and the process's own: far fewer
    // than three per segment.
    assert!(
        at_start < 60,
        "{at_start} descriptors open with {segments} segments"
    );
    // Reading every segment opens at most the cache's worth.
    let out = broker.ok(&["consume", "many", "-o", "beginning"], "");
    assert_eq!(out.lines().count(), 400);
    let after_reads = open_fds(pid);
    eprintln!(
        "{segments} segments: {at_start} descriptors at start, {after_reads} after reading all"
    );
    assert!(
        after_reads <= at_start + runnel::log::fd_cache::CAPACITY + 10,
        "{after_reads} descriptors after reading, {at_start} before"
    );
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_sending_large_frames_share_one_memory_budget() {
    let broker = TempBroker::start();
    let pid = broker.child.id();
    let addr = broker.addr.clone();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    let versions: ApiVersionsResponse = round_trip(
        &mut idle,
        ApiKey::ApiVersions,
        3,
        1,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(versions.error_code, 0);
    let before = rss_kb(pid);
    // 20 connections each announce a 100 MB frame and send 5 MB of it.
    let part = vec![7u8; 5 << 20];
    let mut senders = Vec::new();
    for _ in 0..20 {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        let part = part.clone();
        senders.push(tokio::spawn(async move {
            conn.write_all(&100_000_000i32.to_be_bytes()).await.unwrap();
            // Blocks once the broker stops reading this connection.
            let _ = conn.write_all(&part).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(conn);
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let grown_mb = rss_kb(pid).saturating_sub(before) / 1024;
    eprintln!("broker memory grew by {grown_mb} MB with 20 x 5 MB of 100 MB frames sent");
    // One connection holds the budget; the others are not read. Without a
    // budget all 100 MB sent are in the broker's memory.
    assert!(grown_mb < 40, "broker memory grew by {grown_mb} MB");
    // A small request from another connection is still served.
    let mut small = TcpStream::connect(&addr).await.unwrap();
    let versions: ApiVersionsResponse = round_trip(
        &mut small,
        ApiKey::ApiVersions,
        3,
        2,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(versions.error_code, 0);
    for s in senders {
        s.abort();
    }
    drop(broker);
    // A frame larger than the whole budget closes its connection.
    let broker = TempBroker::start_with(&["queued.max.request.bytes=1000000"]);
    let mut conn = TcpStream::connect(&broker.addr).await.unwrap();
    let frame = request_frame(ApiKey::ApiVersions, 3, 1, &ApiVersionsRequest::default());
    conn.write_all(&frame).await.unwrap();
    conn.write_all(&2_000_000i32.to_be_bytes()).await.unwrap();
    assert!(is_closed_by_broker(&mut conn).await);
}
