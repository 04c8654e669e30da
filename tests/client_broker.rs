//! The client against a real `runnel serve` on a free loopback port: topic
//! administration, produce with every codec and acks level, consume from
//! every kind of start position, keyed routing as murmur2 predicts.

use std::time::{Duration, Instant};

use bytes::Bytes;
use runnel::client::{
    Acks, Client, ClientError, ConsumerConfig, ConsumerRecord, OffsetSpec, ProducerConfig,
    ProducerRecord,
};
use runnel::record::murmur2::partition_for_key;
use runnel::record::{Compression, Header};

mod support;
use support::TempBroker as Broker;

/// Reads until every assigned partition is at its high watermark.
async fn consume_to_end(consumer: &mut runnel::client::Consumer) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut records = Vec::new();
    while !consumer.at_end() {
        assert!(Instant::now() < deadline, "consumer did not reach the end");
        records.extend(consumer.poll().await.expect("poll"));
    }
    records
}

fn fast_consumer() -> ConsumerConfig {
    ConsumerConfig {
        max_wait: Duration::from_millis(100),
        ..ConsumerConfig::default()
    }
}

fn record(topic: &str, i: usize) -> ProducerRecord {
    ProducerRecord {
        topic: topic.to_string(),
        partition: None,
        key: Some(Bytes::from(format!("key-{i}"))),
        value: Some(Bytes::from(format!("value-{i}-{}", "x".repeat(i % 50)))),
        headers: vec![
            Header {
                key: "h".to_string(),
                value: Some(Bytes::from(format!("{i}"))),
            },
            Header {
                key: "null".to_string(),
                value: None,
            },
        ],
        timestamp: Some(1_700_000_000_000 + i as i64),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_administration() {
    let broker = Broker::start();
    let client = Client::connect(&broker.addr).await.expect("connect");
    let admin = client.admin();
    let configs = [("retention.ms".to_string(), "3600000".to_string())];
    admin
        .create_topic("orders", 3, 1, &configs)
        .await
        .expect("create");
    let err = admin
        .create_topic("orders", 3, 1, &[])
        .await
        .expect_err("exists");
    assert!(
        err.to_string()
            .starts_with("create topic orders: TOPIC_ALREADY_EXISTS"),
        "{err}"
    );

    let topics = admin.list_topics().await.expect("list");
    let orders = topics.iter().find(|t| t.name == "orders").expect("listed");
    assert_eq!((orders.partitions, orders.internal), (3, false));

    let described = admin.describe_topic("orders").await.expect("describe");
    assert_eq!(described.partitions.len(), 3);
    for (i, p) in described.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert!(p.leader >= 0);
        assert!(p.replicas.contains(&p.leader) && p.isr.contains(&p.leader));
        assert_eq!((p.log_start_offset, p.log_end_offset), (0, 0));
    }
    let config = |d: &runnel::client::TopicDescription, name: &str| {
        d.configs
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .expect(name)
    };
    let retention = config(&described, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert!(!retention.is_default);
    assert!(config(&described, "cleanup.policy").is_default);

    admin
        .alter_topic_configs(
            "orders",
            &[("cleanup.policy".to_string(), "compact".to_string())],
            &["retention.ms".to_string()],
        )
        .await
        .expect("alter");
    let described = admin.describe_topic("orders").await.expect("describe");
    let policy = config(&described, "cleanup.policy");
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert!(!policy.is_default);
    assert!(config(&described, "retention.ms").is_default);

    admin.create_partitions("orders", 5).await.expect("grow");
    let described = admin.describe_topic("orders").await.expect("describe");
    assert_eq!(described.partitions.len(), 5);
    let err = admin
        .create_partitions("orders", 2)
        .await
        .expect_err("shrink");
    assert!(err.to_string().contains("INVALID_PARTITIONS"), "{err}");

    admin
        .delete_topics(&["orders".to_string()])
        .await
        .expect("delete");
    let topics = admin.list_topics().await.expect("list");
    assert!(topics.iter().all(|t| t.name != "orders"));
    let err = admin.describe_topic("orders").await.expect_err("gone");
    assert!(matches!(err, ClientError::UnknownTopic(_)), "{err}");
    let err = client
        .consumer(fast_consumer())
        .assign("orders", None, OffsetSpec::Earliest)
        .await
        .expect_err("gone");
    assert_eq!(err.to_string(), "topic orders does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_with_every_codec_and_acks_level() {
    let broker = Broker::start();
    let client = Client::connect(&broker.addr).await.expect("connect");
    let cases = [
        (Compression::None, Acks::All),
        (Compression::Gzip, Acks::All),
        (Compression::Snappy, Acks::Leader),
        (Compression::Lz4, Acks::All),
        (Compression::Zstd, Acks::Leader),
        (Compression::None, Acks::None),
        (Compression::Zstd, Acks::None),
    ];
    for (compression, acks) in cases {
        let topic = format!("codec-{}-{}", compression.name(), acks.code());
        client
            .admin()
            .create_topic(&topic, 2, 1, &[])
            .await
            .expect("create");
        let producer = client.producer(ProducerConfig {
            compression,
            acks,
            batch_size: 4096,
            linger: Duration::from_millis(2),
            ..ProducerConfig::default()
        });
        let mut handles = Vec::new();
        for i in 0..300 {
            handles.push(producer.send(record(&topic, i)).await.expect("send"));
        }
        producer.flush().await.expect("flush");
        let mut offsets = std::collections::HashSet::new();
        for h in handles {
            let partition = h.partition();
            let written = h.wait().await.expect("acknowledged");
            assert_eq!(written.partition, partition);
            if acks == Acks::None {
                assert_eq!(written.offset, -1);
            } else {
                assert!(
                    offsets.insert((written.partition, written.offset)),
                    "duplicate offset"
                );
            }
        }

        let mut consumer = client.consumer(fast_consumer());
        consumer
            .assign(&topic, None, OffsetSpec::Earliest)
            .await
            .expect("assign");
        let records = consumer_records_sorted(consume_to_end(&mut consumer).await);
        assert_eq!(records.len(), 300, "{topic}");
        for (i, r) in records.iter().enumerate() {
            let expected = record(&topic, i);
            assert_eq!(r.record.key, expected.key, "{topic}");
            assert_eq!(r.record.value, expected.value, "{topic}");
            assert_eq!(r.record.headers, expected.headers, "{topic}");
            assert_eq!(Some(r.record.timestamp), expected.timestamp, "{topic}");
            assert_eq!(
                r.partition,
                partition_for_key(expected.key.as_deref().expect("key"), 2)
            );
            if acks != Acks::None {
                assert!(offsets.contains(&(r.partition, r.record.offset)));
            }
        }
    }
}

/// Sorts by the record number in the key (`key-N`).
fn consumer_records_sorted(mut records: Vec<ConsumerRecord>) -> Vec<ConsumerRecord> {
    let n = |r: &ConsumerRecord| -> usize {
        let key = r.record.key.as_deref().expect("key");
        std::str::from_utf8(&key[4..])
            .expect("utf8")
            .parse()
            .expect("number")
    };
    records.sort_by_key(n);
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_where_murmur2_says() {
    let broker = Broker::start();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic("keyed", 4, 1, &[])
        .await
        .expect("create");
    let producer = client.producer(ProducerConfig::default());
    let mut expected = Vec::new();
    for i in 0..200 {
        let key = format!("user-{}", i % 37);
        let handle = producer
            .send(ProducerRecord {
                topic: "keyed".into(),
                key: Some(Bytes::from(key.clone())),
                value: Some(Bytes::from(format!("{i}"))),
                ..ProducerRecord::default()
            })
            .await
            .expect("send");
        assert_eq!(handle.partition(), partition_for_key(key.as_bytes(), 4));
        expected.push((key, handle));
    }
    producer.flush().await.expect("flush");
    let mut written = Vec::new();
    for (key, handle) in expected {
        written.push((key, handle.wait().await.expect("acknowledged")));
    }

    // Unkeyed records and explicit partitions.
    let unkeyed = producer
        .send(ProducerRecord {
            topic: "keyed".into(),
            value: Some(Bytes::from_static(b"no key")),
            ..ProducerRecord::default()
        })
        .await
        .expect("send");
    let explicit = producer
        .send(ProducerRecord {
            topic: "keyed".into(),
            partition: Some(3),
            key: Some(Bytes::from_static(b"user-0")),
            value: Some(Bytes::from_static(b"explicit")),
            ..ProducerRecord::default()
        })
        .await
        .expect("send");
    assert_eq!(explicit.partition(), 3);
    assert!((0..4).contains(&unkeyed.partition()));
    producer.flush().await.expect("flush");
    let bad = producer
        .send(ProducerRecord {
            topic: "keyed".into(),
            partition: Some(9),
            ..ProducerRecord::default()
        })
        .await
        .expect_err("no partition 9");
    assert_eq!(
        bad.to_string(),
        "partition 9 does not exist in topic keyed (4 partitions)"
    );

    let mut consumer = client.consumer(fast_consumer());
    consumer
        .assign("keyed", None, OffsetSpec::Earliest)
        .await
        .expect("assign");
    let records = consume_to_end(&mut consumer).await;
    assert_eq!(records.len(), 202);
    for (key, meta) in written {
        let r = records
            .iter()
            .find(|r| r.partition == meta.partition && r.record.offset == meta.offset)
            .expect("record at its acknowledged offset");
        assert_eq!(r.record.key.as_deref(), Some(key.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_from_every_start_position() {
    let broker = Broker::start();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic("positions", 1, 1, &[])
        .await
        .expect("create");
    let producer = client.producer(ProducerConfig {
        acks: Acks::Leader,
        ..ProducerConfig::default()
    });
    for i in 0..10 {
        producer
            .send(ProducerRecord {
                topic: "positions".into(),
                value: Some(Bytes::from(format!("{i}"))),
                timestamp: Some(1_000 * (i + 1)),
                ..ProducerRecord::default()
            })
            .await
            .expect("send");
    }
    producer.flush().await.expect("flush");

    let offsets = |records: &[ConsumerRecord]| -> Vec<i64> {
        records.iter().map(|r| r.record.offset).collect()
    };
    let cases = [
        (OffsetSpec::Earliest, (0..10).collect::<Vec<i64>>()),
        (OffsetSpec::Latest, vec![]),
        (OffsetSpec::Offset(4), (4..10).collect()),
        (OffsetSpec::FromEnd(3), vec![7, 8, 9]),
        (OffsetSpec::FromEnd(100), (0..10).collect()),
        (OffsetSpec::Timestamp(5_500), (5..10).collect()),
        (OffsetSpec::Timestamp(99_000), vec![]),
    ];
    for (spec, expected) in cases {
        let mut consumer = client.consumer(fast_consumer());
        consumer
            .assign("positions", None, spec)
            .await
            .expect("assign");
        let records = consume_to_end(&mut consumer).await;
        assert_eq!(offsets(&records), expected, "{spec:?}");
        let position = &consumer.positions()[0];
        assert_eq!(
            (position.position, position.high_watermark),
            (10, 10),
            "{spec:?}"
        );
    }

    // A record produced after the consumer reached the end arrives on the next poll.
    let mut consumer = client.consumer(fast_consumer());
    consumer
        .assign("positions", None, OffsetSpec::Latest)
        .await
        .expect("assign");
    assert!(consumer.at_end());
    let handle = producer
        .send(ProducerRecord {
            topic: "positions".into(),
            value: Some(Bytes::from_static(b"late")),
            ..ProducerRecord::default()
        })
        .await
        .expect("send");
    producer.flush().await.expect("flush");
    assert_eq!(handle.wait().await.expect("written").offset, 10);
    // The high watermark known so far is stale: poll until the record shows.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut records = Vec::new();
    while records.is_empty() {
        assert!(Instant::now() < deadline, "the late record never arrived");
        records = consumer.poll().await.expect("poll");
    }
    assert_eq!(offsets(&records), vec![10]);
    assert!(consumer.at_end());

    let mut consumer = client.consumer(fast_consumer());
    consumer
        .assign("positions", None, OffsetSpec::Offset(50))
        .await
        .expect("assign");
    let err = consumer.poll().await.expect_err("past the end");
    assert_eq!(
        err.to_string(),
        "offset 50 is out of range for positions-0 (log start 0, end 11)"
    );
}

/// With several Produce requests in flight and no retries, a partition's
/// records land in the order they were sent (Kafka's guarantee).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_a_partition_keep_send_order_with_requests_in_flight() {
    const RECORDS: usize = 50_000;
    let broker = Broker::start();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic("ordered", 1, 1, &[])
        .await
        .expect("create");
    let producer = client.producer(ProducerConfig {
        acks: Acks::Leader,
        max_in_flight: 5,
        batch_size: 256,
        linger: Duration::ZERO,
        retries: 0,
        ..ProducerConfig::default()
    });
    let mut last = None;
    for i in 0..RECORDS {
        let record = ProducerRecord {
            topic: "ordered".to_string(),
            partition: Some(0),
            value: Some(Bytes::from(i.to_string())),
            ..ProducerRecord::default()
        };
        last = Some(producer.send(record).await.expect("send"));
    }
    producer.flush().await.expect("flush");
    let last = last.expect("sent").wait().await.expect("acknowledged");
    assert_eq!(
        last.offset,
        RECORDS as i64 - 1,
        "the last record sent was not written last"
    );

    let mut consumer = client.consumer(fast_consumer());
    consumer
        .assign("ordered", None, OffsetSpec::Earliest)
        .await
        .expect("assign");
    let records = consume_to_end(&mut consumer).await;
    assert_eq!(records.len(), RECORDS);
    for r in &records {
        let value = r.record.value.as_deref().expect("value");
        let value: i64 = std::str::from_utf8(value)
            .expect("utf8")
            .parse()
            .expect("number");
        assert_eq!(
            value, r.record.offset,
            "record {value} landed at offset {}",
            r.record.offset
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_borrowed_records_arrive_like_sent_ones() {
    let broker = Broker::start();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic("queued", 3, 1, &[])
        .await
        .expect("create");
    // A small buffer, so the fast path finds it full now and then.
    let producer = client.producer(ProducerConfig {
        buffer_memory: 4096,
        linger: Duration::from_millis(1),
        ..ProducerConfig::default()
    });
    let expected: Vec<ProducerRecord> = (0..500).map(|i| record("queued", i)).collect();
    // Metadata is not known before the first send: the fast path declines.
    let first = expected[0].borrowed();
    assert!(!producer.try_queue(&first).expect("no error"));
    let (mut queued, mut waited) = (0, 0);
    for r in &expected {
        let borrowed = r.borrowed();
        if producer.try_queue(&borrowed).expect("queue") {
            queued += 1;
        } else {
            producer.send_ref(borrowed).await.expect("send");
            waited += 1;
        }
    }
    assert!(queued > 0 && waited > 0, "{queued} queued, {waited} waited");
    producer.flush().await.expect("flush");
    let bad = ProducerRecord {
        partition: Some(3),
        ..record("queued", 0)
    };
    let error = producer
        .try_queue(&bad.borrowed())
        .expect_err("no partition 3");
    assert!(
        matches!(error, ClientError::UnknownPartition { .. }),
        "{error}"
    );

    let mut consumer = client.consumer(fast_consumer());
    consumer
        .assign("queued", None, OffsetSpec::Earliest)
        .await
        .expect("assign");
    let records = consume_to_end(&mut consumer).await;
    assert_eq!(records.len(), expected.len());
    for r in &records {
        let i: usize = std::str::from_utf8(&r.record.headers[0].value.clone().expect("h"))
            .expect("utf-8")
            .parse()
            .expect("index");
        let sent = &expected[i];
        assert_eq!(
            r.partition,
            partition_for_key(sent.key.as_deref().expect("key"), 3)
        );
        assert_eq!(r.record.key, sent.key);
        assert_eq!(r.record.value, sent.value);
        assert_eq!(r.record.headers, sent.headers);
        assert_eq!(r.record.timestamp, sent.timestamp.expect("timestamp"));
    }
    // Every partition keeps the order the records were handed over in.
    for p in 0..3 {
        let order: Vec<i64> = records
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.record.timestamp)
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "partition {p}");
    }
}
