//! The broker at the socket, with raw kafka-protocol messages: ApiVersions
//! (exact list, fallback for unknown versions), bad input (garbage,
//! truncated and oversized frames, unknown APIs, corrupt batches, invalid
//! topic names) while another client keeps producing, acks=0, long-poll
//! fetch and zero-copy sends.

mod broker_support;

use broker_support::{TestBroker, is_closed_by_broker, read_response, request_frame, round_trip};
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use runnel::record::{BatchBuilder, Compression};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn batch(n: usize, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, ts);
    for i in 0..n {
        let key = format!("k{i}");
        let value = format!("value {i}");
        b.push(
            ts + i as i64,
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &[],
        );
    }
    b.finish()
}

fn produce_request(topic: &str, partition: i32, records: Vec<u8>, acks: i16) -> ProduceRequest {
    let mut pd = PartitionProduceData::default();
    pd.index = partition;
    pd.records = Some(Bytes::from(records));
    let mut td = TopicProduceData::default();
    td.name = TopicName(StrBytes::from_string(topic.to_string()));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = 5000;
    req.topic_data = vec![td];
    req
}

async fn create_topic(stream: &mut TcpStream, name: &str, partitions: i32) -> CreateTopicsResponse {
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.to_string()));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    round_trip(stream, ApiKey::CreateTopics, 7, 1, &req).await
}

async fn latest_offset(stream: &mut TcpStream, topic: &str, partition: i32) -> i64 {
    list_offset(stream, topic, partition, -1).await.0
}

/// ListOffsets v7 of one partition: (offset, timestamp).
async fn list_offset(
    stream: &mut TcpStream,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> (i64, i64) {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let mut p = ListOffsetsPartition::default();
    p.partition_index = partition;
    p.timestamp = timestamp;
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.topics = vec![t];
    let resp: ListOffsetsResponse = round_trip(stream, ApiKey::ListOffsets, 7, 9, &req).await;
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    (p.offset, p.timestamp)
}

fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    let mut fp = FetchPartition::default();
    fp.partition = partition;
    fp.fetch_offset = offset;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = FetchTopic::default();
    ft.topic = TopicName(StrBytes::from_string(topic.to_string()));
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = min_bytes;
    req.max_bytes = 50 << 20;
    req.session_epoch = -1;
    req.topics = vec![ft];
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_lists_exactly_the_implemented_apis() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path().to_path_buf(),
        &[("offsets.topic.num.partitions", "3")],
    )
    .await;
    let mut s = TcpStream::connect(broker.addr).await.unwrap();
    let mut expected: BTreeSet<(i16, i16, i16)> = runnel::broker::dispatch::broker_apis()
        .apis()
        .map(|(k, r)| (k as i16, r.min, r.max))
        .collect();
    // The group coordinator's APIs, as it reports them.
    expected.extend(
        runnel::broker::group::GroupCoordinator::api_versions()
            .into_iter()
            .map(|(k, min, max)| (k as i16, min, max)),
    );
    for version in 0..=4 {
        let mut req = ApiVersionsRequest::default();
        if version >= 3 {
            req.client_software_name = StrBytes::from_static_str("runnel-test");
            req.client_software_version = StrBytes::from_static_str("1");
        }
        let resp: ApiVersionsResponse =
            round_trip(&mut s, ApiKey::ApiVersions, version, version as i32, &req).await;
        assert_eq!(resp.error_code, 0);
        let got: BTreeSet<(i16, i16, i16)> = resp
            .api_keys
            .iter()
            .map(|a| (a.api_key, a.min_version, a.max_version))
            .collect();
        assert_eq!(got, expected, "ApiVersions v{version}");
    }
    assert!(expected.contains(&(ApiKey::Produce as i16, 0, 13)));
    assert!(expected.contains(&(ApiKey::Fetch as i16, 4, 17)));
    assert!(
        expected
            .iter()
            .any(|(k, _, _)| *k == ApiKey::JoinGroup as i16)
    );
    assert!(
        !expected
            .iter()
            .any(|(k, _, _)| *k == ApiKey::SaslHandshake as i16)
    );

    // FindCoordinator names this broker (and creates __consumer_offsets).
    let mut fc = FindCoordinatorRequest::default();
    fc.key = StrBytes::from_static_str("some-group");
    let resp: FindCoordinatorResponse =
        round_trip(&mut s, ApiKey::FindCoordinator, 2, 7, &fc).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!((resp.node_id.0, resp.port), (1, broker.addr.port() as i32));
    assert!(broker.broker.topic("__consumer_offsets").is_some());

    // A version from the future: UNSUPPORTED_VERSION in a v0 response with
    // ApiVersions' own range, and the connection stays usable.
    let mut frame =
        request_frame(ApiKey::ApiVersions, 4, 42, &ApiVersionsRequest::default()).to_vec();
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    s.write_all(&frame).await.unwrap();
    let mut resp = read_response(&mut s).await.unwrap();
    let header = ResponseHeader::decode(&mut resp, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let body = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, 35);
    assert_eq!(body.api_keys.len(), 1);
    assert_eq!(
        (body.api_keys[0].api_key, body.api_keys[0].max_version),
        (18, 4)
    );
    let again: ApiVersionsResponse = round_trip(
        &mut s,
        ApiKey::ApiVersions,
        0,
        43,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(again.error_code, 0);
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path().to_path_buf(),
        &[("socket.request.max.bytes", "1048576")],
    )
    .await;
    let mut good = TcpStream::connect(broker.addr).await.unwrap();
    let created = create_topic(&mut good, "steady", 1).await;
    assert_eq!(created.topics[0].error_code, 0);

    // A well-behaved producer keeps producing while the bad clients misbehave.
    let addr = broker.addr;
    let producer = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        for i in 0..20 {
            let req = produce_request("steady", 0, batch(3, 1_000 + i), -1);
            let resp: ProduceResponse =
                round_trip(&mut s, ApiKey::Produce, 9, i as i32, &req).await;
            assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    // Garbage: a huge declared length (over socket.request.max.bytes).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        is_closed_by_broker(&mut s).await,
        "garbage closes the connection"
    );

    // Oversized length.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&(2_000_000i32).to_be_bytes()).await.unwrap();
    assert!(is_closed_by_broker(&mut s).await, "oversized frame closes");

    // Negative length.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&(-1i32).to_be_bytes()).await.unwrap();
    assert!(is_closed_by_broker(&mut s).await, "negative length closes");

    // Truncated frame: announces 100 bytes, sends 10, then half-closes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&100i32.to_be_bytes()).await.unwrap();
    s.write_all(&[0u8; 10]).await.unwrap();
    s.shutdown().await.unwrap();
    assert!(is_closed_by_broker(&mut s).await, "truncated frame closes");

    // A frame too short for a header.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 3, 0, 0, 0]).await.unwrap();
    assert!(is_closed_by_broker(&mut s).await, "short header closes");

    // A forged array count: Metadata v1 claiming 2^31-1 topics in a 4-byte
    // body. Reserving that many elements up front would abort the process.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut frame = Vec::new();
    frame.extend_from_slice(&(ApiKey::Metadata as i16).to_be_bytes());
    frame.extend_from_slice(&1i16.to_be_bytes()); // version
    frame.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    frame.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    frame.extend_from_slice(&i32::MAX.to_be_bytes()); // topics count
    let mut framed = (frame.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&frame);
    s.write_all(&framed).await.unwrap();
    assert!(
        is_closed_by_broker(&mut s).await,
        "forged array count closes"
    );

    // Unknown API key (and a known but unimplemented one).
    for key in [999i16, ApiKey::SaslHandshake as i16] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut frame =
            request_frame(ApiKey::ApiVersions, 0, 1, &ApiVersionsRequest::default()).to_vec();
        frame[4..6].copy_from_slice(&key.to_be_bytes());
        s.write_all(&frame).await.unwrap();
        assert!(is_closed_by_broker(&mut s).await, "api key {key} closes");
    }

    // Unsupported version of a known API (Produce v14 does not exist yet).
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut frame = request_frame(
        ApiKey::Produce,
        3,
        1,
        &produce_request("steady", 0, batch(1, 0), 1),
    )
    .to_vec();
    frame[6..8].copy_from_slice(&14i16.to_be_bytes());
    s.write_all(&frame).await.unwrap();
    assert!(is_closed_by_broker(&mut s).await, "Produce v14 closes");

    // A body that does not decode.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut frame = request_frame(ApiKey::Metadata, 1, 1, &MetadataRequest::default()).to_vec();
    frame.extend_from_slice(&[0xff; 3]);
    let mut cut = frame[..frame.len() - 3].to_vec();
    let len = (cut.len() - 4 - 4) as i32;
    cut.truncate(cut.len() - 4);
    cut[..4].copy_from_slice(&len.to_be_bytes());
    s.write_all(&cut).await.unwrap();
    assert!(is_closed_by_broker(&mut s).await, "undecodable body closes");

    // Corrupt batch: CORRUPT_MESSAGE and nothing appended; the connection stays.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut bad = batch(5, 7);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let resp: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        5,
        &produce_request("steady", 0, bad, -1),
    )
    .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 2);
    // Truncated batch inside a valid frame: also CORRUPT_MESSAGE.
    let short = batch(5, 7)[..40].to_vec();
    let resp: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        6,
        &produce_request("steady", 0, short, 1),
    )
    .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 2);
    // Unknown topic and partition.
    let resp: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        7,
        &produce_request("nope", 0, batch(1, 0), 1),
    )
    .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 3);
    let resp: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        8,
        &produce_request("steady", 5, batch(1, 0), 1),
    )
    .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 3);

    // Invalid topic names.
    for name in ["bad name", "..", "ä"] {
        let r = create_topic(&mut s, name, 1).await;
        assert_eq!(r.topics[0].error_code, 17, "{name}");
    }
    // Partition count and replication factor.
    let r = create_topic(&mut s, "zero", 0).await;
    assert_eq!(r.topics[0].error_code, 37);
    let r = create_topic(&mut s, "steady", 1).await;
    assert_eq!(r.topics[0].error_code, 36);

    producer.await.unwrap();
    // Only the good producer's 20 batches of 3 records were appended.
    assert_eq!(latest_offset(&mut good, "steady", 0).await, 60);
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_long_poll_and_zero_copy_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = TcpStream::connect(broker.addr).await.unwrap();
    assert_eq!(
        create_topic(&mut s, "poll", 2).await.topics[0].error_code,
        0
    );

    // acks=0: no response at all; the next request's response comes first.
    s.write_all(&request_frame(
        ApiKey::Produce,
        9,
        100,
        &produce_request("poll", 0, batch(4, 1), 0),
    ))
    .await
    .unwrap();
    assert_eq!(latest_offset(&mut s, "poll", 0).await, 4);

    // Long poll on an empty partition wakes up when a record arrives.
    let addr = broker.addr;
    let started = Instant::now();
    let waiter = tokio::spawn(async move {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let resp: FetchResponse = round_trip(
            &mut c,
            ApiKey::Fetch,
            12,
            1,
            &fetch_request("poll", 1, 0, 10_000, 1),
        )
        .await;
        (resp, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        2,
        &produce_request("poll", 1, batch(2, 5), 1),
    )
    .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let (resp, elapsed) = waiter.await.unwrap();
    assert!(
        elapsed >= Duration::from_millis(250),
        "it waited: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "woken by the append: {elapsed:?}"
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 2));
    assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));

    // With nothing new, the poll returns empty after max_wait_ms.
    let t = Instant::now();
    let resp: FetchResponse = round_trip(
        &mut s,
        ApiKey::Fetch,
        12,
        3,
        &fetch_request("poll", 1, 2, 300, 1),
    )
    .await;
    assert!(t.elapsed() >= Duration::from_millis(280));
    assert_eq!(
        resp.responses[0].partitions[0]
            .records
            .as_ref()
            .map(|r| r.len()),
        Some(0)
    );

    // Out of range.
    let resp: FetchResponse = round_trip(
        &mut s,
        ApiKey::Fetch,
        12,
        4,
        &fetch_request("poll", 1, 3, 0, 0),
    )
    .await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 1);

    // The record bytes of a fetch go out with sendfile: the counter grows
    // by at least the records' size, and they decode as the batch appended.
    let big = batch(2000, 10);
    let r: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        5,
        &produce_request("poll", 0, big.clone(), -1),
    )
    .await;
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 4);
    let before = runnel::protocol::writer::sendfile_bytes();
    for version in [4, 11, 12, 16] {
        let mut req = fetch_request("poll", 0, 4, 0, 0);
        if version >= 13 {
            req.topics[0].topic_id = broker.broker.topic("poll").unwrap().meta.id;
        }
        let resp: FetchResponse = round_trip(&mut s, ApiKey::Fetch, version, 6, &req).await;
        assert_eq!(resp.responses[0].partitions[0].error_code, 0, "v{version}");
        let records = resp.responses[0].partitions[0].records.clone().unwrap();
        assert_eq!(records.len(), big.len(), "v{version}");
        // Identical from the magic byte on (the log patches base offset and leader epoch).
        assert!(records[16..] == big[16..], "same batch bytes (v{version})");
    }
    let sent = runnel::protocol::writer::sendfile_bytes() - before;
    // ListOffsets: max timestamp (-3), earliest (-2), by time.
    assert_eq!(list_offset(&mut s, "poll", 0, -3).await, (2003, 2009));
    assert_eq!(list_offset(&mut s, "poll", 0, -2).await.0, 0);
    assert_eq!(list_offset(&mut s, "poll", 0, 500).await, (494, 500));
    assert_eq!(list_offset(&mut s, "poll", 0, 99_999).await, (-1, -1));
    assert!(sent >= 4 * big.len() as u64, "sendfile sent {sent} bytes");
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_are_not_appended_twice() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = TcpStream::connect(broker.addr).await.unwrap();
    assert_eq!(
        create_topic(&mut s, "idem", 1).await.topics[0].error_code,
        0
    );
    let pid: InitProducerIdResponse = round_trip(
        &mut s,
        ApiKey::InitProducerId,
        4,
        1,
        &InitProducerIdRequest::default().with_transactional_id(None),
    )
    .await;
    assert_eq!(pid.error_code, 0);
    let make = |seq: i32| {
        let mut b = BatchBuilder::new(Compression::None, 5).producer(
            pid.producer_id.0,
            pid.producer_epoch,
            seq,
        );
        b.push(5, Some(b"k"), Some(b"v1"), &[]);
        b.push(6, Some(b"k"), Some(b"v2"), &[]);
        b.finish()
    };
    let first: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        2,
        &produce_request("idem", 0, make(0), -1),
    )
    .await;
    let retry: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        3,
        &produce_request("idem", 0, make(0), -1),
    )
    .await;
    let next: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        4,
        &produce_request("idem", 0, make(2), -1),
    )
    .await;
    let offsets: Vec<(i16, i64)> = [first, retry, next]
        .iter()
        .map(|r| {
            let p = &r.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        })
        .collect();
    assert_eq!(offsets, vec![(0, 0), (0, 0), (0, 2)]);
    assert_eq!(latest_offset(&mut s, "idem", 0).await, 4);
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path().to_path_buf(),
        &[("connections.max.idle.ms", "300")],
    )
    .await;
    let mut s = TcpStream::connect(broker.addr).await.unwrap();
    assert_eq!(
        create_topic(&mut s, "quiet", 1).await.topics[0].error_code,
        0
    );
    // A long poll longer than the idle limit is answered, not cut off.
    let t = Instant::now();
    let resp: FetchResponse = round_trip(
        &mut s,
        ApiKey::Fetch,
        12,
        2,
        &fetch_request("quiet", 0, 0, 800, 1),
    )
    .await;
    assert!(t.elapsed() >= Duration::from_millis(750));
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    // Then, with nothing asked, the broker closes the connection.
    let t = Instant::now();
    assert!(is_closed_by_broker(&mut s).await);
    assert!(t.elapsed() >= Duration::from_millis(250));
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_answers_from_the_epoch_cache() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = TcpStream::connect(broker.addr).await.unwrap();
    assert_eq!(
        create_topic(&mut s, "epochs", 1).await.topics[0].error_code,
        0
    );
    let produced: ProduceResponse = round_trip(
        &mut s,
        ApiKey::Produce,
        9,
        2,
        &produce_request("epochs", 0, batch(5, 1_000), -1),
    )
    .await;
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    // (partition, current leader epoch, wanted epoch)
    let ask = |parts: &[(i32, i32, i32)]| {
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("epochs")))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|&(p, current, epoch)| {
                                OffsetForLeaderPartition::default()
                                    .with_partition(p)
                                    .with_current_leader_epoch(current)
                                    .with_leader_epoch(epoch)
                            })
                            .collect(),
                    ),
            ])
    };
    for version in 2..=4 {
        let resp: OffsetForLeaderEpochResponse = round_trip(
            &mut s,
            ApiKey::OffsetForLeaderEpoch,
            version,
            3,
            &ask(&[(0, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, 7), (9, 0, 0)]),
        )
        .await;
        let got: Vec<(i16, i32, i64)> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 0, 5),    // the current epoch ends at the log end offset
                (0, 0, 5),    // no current epoch given: no check
                (75, -1, -1), // a newer current epoch: UNKNOWN_LEADER_EPOCH
                (0, -1, -1),  // an epoch above every known one: undefined
                (3, -1, -1),  // no such partition
            ],
            "v{version}"
        );
    }
    assert!(
        dir.path().join("epochs-0/leader-epoch-checkpoint").exists(),
        "the epoch cache is Kafka's checkpoint file"
    );
    broker.stop().await.unwrap();
}
