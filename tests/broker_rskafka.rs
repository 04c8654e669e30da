//! End to end with the pure-Rust Kafka client rskafka against an
//! in-process `runnel serve`: topics, keyed produce with headers (acks=all,
//! rskafka's only mode), fetch by partition and offset, list offsets,
//! restart, delete.

mod broker_support;

use broker_support::TestBroker;
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, OffsetAt, UnknownTopicHandling};
use rskafka::record::Record;
use std::collections::BTreeMap;

fn record(p: i32, i: i64) -> Record {
    let mut headers = BTreeMap::new();
    headers.insert("source".to_string(), format!("p{p}").into_bytes());
    headers.insert("seq".to_string(), i.to_string().into_bytes());
    Record {
        key: Some(format!("key-{p}-{i}").into_bytes()),
        value: Some(format!("value {i} of partition {p}").into_bytes()),
        headers,
        timestamp: Utc
            .timestamp_millis_opt(1_700_000_000_000 + i * 1000)
            .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_fetch_list_offsets_delete() {
    broker_support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path().to_path_buf(),
        &[("auto.create.topics.enable", "false")],
    )
    .await;
    let client = ClientBuilder::new(vec![broker.bootstrap()])
        .build()
        .await
        .unwrap();
    let controller = client.controller_client().unwrap();
    controller
        .create_topic("events", 3, 1, 5_000)
        .await
        .unwrap();
    // Creating it again is refused.
    assert!(
        controller
            .create_topic("events", 3, 1, 5_000)
            .await
            .is_err()
    );
    // Replication factor above 1 is refused on a single node.
    assert!(
        controller
            .create_topic("replicated", 1, 3, 5_000)
            .await
            .is_err()
    );

    let syncs_before = broker.broker.group_commit.fdatasyncs();
    for p in 0..3 {
        let pc = client
            .partition_client("events", p, UnknownTopicHandling::Error)
            .await
            .unwrap();
        let first: Vec<Record> = (0..4).map(|i| record(p, i)).collect();
        let offsets = pc.produce(first, Compression::NoCompression).await.unwrap();
        assert_eq!(offsets, vec![0, 1, 2, 3]);
        let second: Vec<Record> = (4..6).map(|i| record(p, i)).collect();
        let offsets = pc
            .produce(second, Compression::NoCompression)
            .await
            .unwrap();
        assert_eq!(offsets, vec![4, 5]);
    }
    // rskafka produces with acks=all: every request waited for an fdatasync.
    assert!(broker.broker.group_commit.fdatasyncs() > syncs_before);

    for p in 0..3 {
        let pc = client
            .partition_client("events", p, UnknownTopicHandling::Error)
            .await
            .unwrap();
        let (records, high_watermark) = pc.fetch_records(0, 1..1_000_000, 1_000).await.unwrap();
        assert_eq!(high_watermark, 6);
        assert_eq!(records.len(), 6);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.record, record(p, i as i64));
        }
        // From the middle of a batch: the batch comes whole, the client skips.
        let (records, _) = pc.fetch_records(2, 1..1_000_000, 1_000).await.unwrap();
        let offsets: Vec<i64> = records
            .iter()
            .map(|r| r.offset)
            .filter(|o| *o >= 2)
            .collect();
        assert_eq!(offsets, vec![2, 3, 4, 5]);
        // Past the end: OFFSET_OUT_OF_RANGE.
        assert!(pc.fetch_records(7, 1..1_000_000, 100).await.is_err());

        assert_eq!(pc.get_offset(OffsetAt::Earliest).await.unwrap(), 0);
        assert_eq!(pc.get_offset(OffsetAt::Latest).await.unwrap(), 6);
        let at = Utc.timestamp_millis_opt(1_700_000_000_000 + 2500).unwrap();
        assert_eq!(pc.get_offset(OffsetAt::Timestamp(at)).await.unwrap(), 3);
    }

    // DeleteRecords moves the log start offset; earlier offsets are gone.
    let pc = client
        .partition_client("events", 0, UnknownTopicHandling::Error)
        .await
        .unwrap();
    pc.delete_records(4, 5_000).await.unwrap();
    assert_eq!(pc.get_offset(OffsetAt::Earliest).await.unwrap(), 4);
    assert!(pc.fetch_records(2, 1..1_000_000, 100).await.is_err());
    let (records, _) = pc.fetch_records(4, 1..1_000_000, 100).await.unwrap();
    assert!(records.iter().any(|r| r.offset == 5));

    let topics = client.list_topics().await.unwrap();
    let events = topics.iter().find(|t| t.name == "events").unwrap();
    assert_eq!(events.partitions.len(), 3);

    controller.delete_topic("events", 5_000).await.unwrap();
    let topics = client.list_topics().await.unwrap();
    assert!(topics.iter().all(|t| t.name != "events"));
    assert!(!dir.path().join("events-0").exists());
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let client = ClientBuilder::new(vec![broker.bootstrap()])
        .build()
        .await
        .unwrap();
    client
        .controller_client()
        .unwrap()
        .create_topic("kept", 1, 1, 5_000)
        .await
        .unwrap();
    let pc = client
        .partition_client("kept", 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let recs: Vec<Record> = (0..10).map(|i| record(0, i)).collect();
    pc.produce(recs, Compression::NoCompression).await.unwrap();
    drop(pc);
    drop(client);
    broker.stop().await.unwrap();
    assert!(dir.path().join(".kafka_cleanshutdown").exists());

    let broker = TestBroker::start(dir.path().to_path_buf(), &[]).await;
    let client = ClientBuilder::new(vec![broker.bootstrap()])
        .build()
        .await
        .unwrap();
    let pc = client
        .partition_client("kept", 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let (records, hw) = pc.fetch_records(0, 1..1_000_000, 1_000).await.unwrap();
    assert_eq!(hw, 10);
    assert_eq!(records.len(), 10);
    assert_eq!(records[9].record, record(0, 9));
    broker.stop().await.unwrap();
}
