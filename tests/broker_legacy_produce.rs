//! Produce v0–v2 (legacy message sets, magic 0 and 1, compressed wrappers
//! included) at the socket: the broker stores them up-converted to v2
//! record batches, and a v4 fetch returns every key, value and timestamp.

mod broker_support;

use broker_support::{TestBroker, read_response, round_trip};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use runnel::record::{BatchHeader, Compression, decode_all};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn fixture_set() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kafka/legacy-0/00000000000000000000.log"
    );
    std::fs::read(path).unwrap()
}

/// A Produce v0–v2 frame: the v3 body without its null transactional id.
fn legacy_produce_frame(version: i16, corr: i32, topic: &str, records: Vec<u8>) -> Bytes {
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(Bytes::from(records));
    let mut td = TopicProduceData::default();
    td.name = TopicName(StrBytes::from_string(topic.to_string()));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![td];
    let mut v3 = BytesMut::new();
    req.encode(&mut v3, 3).unwrap();
    assert_eq!(&v3[..2], &[0xff, 0xff], "null transactional id");

    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::Produce as i16;
    header.request_api_version = version;
    header.correlation_id = corr;
    header.client_id = Some(StrBytes::from_static_str("legacy-test"));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, 1).unwrap();
    buf.put_slice(&v3[2..]);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Reads a Produce v0–v2 response of one partition: (error, base offset).
async fn legacy_produce_response(s: &mut TcpStream, version: i16, corr: i32) -> (i16, i64) {
    let mut frame = tokio::time::timeout(Duration::from_secs(10), read_response(s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.get_i32(), corr);
    assert_eq!(frame.get_i32(), 1, "one topic");
    let name_len = frame.get_i16() as usize;
    frame.advance(name_len);
    assert_eq!(frame.get_i32(), 1, "one partition");
    assert_eq!(frame.get_i32(), 0, "partition 0");
    let error = frame.get_i16();
    let base = frame.get_i64();
    let mut rest = 0;
    if version >= 2 {
        rest += 8;
    }
    if version >= 1 {
        rest += 4;
    }
    assert_eq!(frame.remaining(), rest, "v{version} response size");
    (error, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_message_sets_are_stored_as_v2_batches() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let mut s = TcpStream::connect(broker.addr).await.unwrap();
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_static_str("legacy"));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut create = CreateTopicsRequest::default();
    create.topics = vec![t];
    create.timeout_ms = 5000;
    let r: CreateTopicsResponse = round_trip(&mut s, ApiKey::CreateTopics, 7, 100, &create).await;
    assert_eq!(r.topics[0].error_code, 0);
    let set = fixture_set();
    let expected = decode_all(&set).unwrap();
    assert_eq!(expected.len(), 9);
    let started = runnel::broker::handlers::now_ms();

    let mut base_offsets = Vec::new();
    for (i, version) in [0i16, 1, 2].into_iter().enumerate() {
        s.write_all(&legacy_produce_frame(
            version,
            i as i32,
            "legacy",
            set.clone(),
        ))
        .await
        .unwrap();
        let (error, base) = legacy_produce_response(&mut s, version, i as i32).await;
        assert_eq!(error, 0, "v{version}");
        base_offsets.push(base);
    }
    assert_eq!(base_offsets, vec![0, 9, 18]);

    // A corrupt set is refused whole.
    let mut bad = set.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    s.write_all(&legacy_produce_frame(1, 7, "legacy", bad))
        .await
        .unwrap();
    let (error, _) = legacy_produce_response(&mut s, 1, 7).await;
    assert_eq!(error, 2, "CORRUPT_MESSAGE");

    let mut fp = FetchPartition::default();
    fp.partition = 0;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = FetchTopic::default();
    ft.topic = TopicName(StrBytes::from_static_str("legacy"));
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.max_bytes = 1 << 20;
    req.topics = vec![ft];
    let resp: FetchResponse = round_trip(&mut s, ApiKey::Fetch, 4, 8, &req).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 27));
    let bytes = p.records.clone().unwrap();

    // Three v2 batches, gzip (the set's codec), holding the fixture's records.
    let mut pos = 0;
    let mut batches = 0;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..]).unwrap();
        assert_eq!(h.compression_id(), Compression::Gzip.id());
        pos += h.total_size();
        batches += 1;
    }
    assert_eq!(batches, 3);
    let got = decode_all(&bytes).unwrap();
    assert_eq!(got.len(), 27);
    for (i, r) in got.iter().enumerate() {
        let want = &expected[i % 9];
        assert_eq!(r.offset, i as i64);
        assert_eq!((&r.key, &r.value), (&want.key, &want.value), "record {i}");
        if want.timestamp == -1 {
            assert!(
                r.timestamp >= started,
                "v0 message stamped with broker time"
            );
        } else {
            assert_eq!(r.timestamp, want.timestamp, "record {i}");
        }
    }
    broker.stop().await.unwrap();
}
