//! Topic administration and cluster APIs at the socket (CreateTopics with
//! configs and validate_only, DescribeConfigs, AlterConfigs,
//! IncrementalAlterConfigs, CreatePartitions, Metadata by id and
//! auto-creation, DeleteTopics by id, DescribeCluster, InitProducerId), and
//! the background retention and compaction.

mod broker_support;

use broker_support::{TestBroker, round_trip};
use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request as inc;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::record::{BatchBuilder, Compression};
use std::time::Duration;
use tokio::net::TcpStream;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create_req(
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> CreateTopicsRequest {
    let mut t = CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = partitions;
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
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.validate_only = validate_only;
    req
}

async fn describe(stream: &mut TcpStream, topic: &str, keys: &[&str]) -> Vec<(String, String, i8)> {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = 2;
    r.resource_name = s(topic);
    r.configuration_keys = Some(keys.iter().map(|k| s(k)).collect());
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = true;
    let resp: DescribeConfigsResponse =
        round_trip(stream, ApiKey::DescribeConfigs, 4, 3, &req).await;
    assert_eq!(resp.results[0].error_code, 0);
    resp.results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.as_str().to_string(),
                c.value
                    .as_ref()
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
                c.config_source,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_admin_configs_and_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path().to_path_buf(),
        &[("num.partitions", "2"), ("log.retention.hours", "1")],
    )
    .await;
    let mut c = TcpStream::connect(broker.addr).await.unwrap();

    // validate_only creates nothing; bad configs are INVALID_CONFIG.
    let r: CreateTopicsResponse = round_trip(
        &mut c,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req("cfg", -1, &[("retention.ms", "1000")], true),
    )
    .await;
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 2));
    assert!(broker.broker.topic("cfg").is_none());
    let r: CreateTopicsResponse = round_trip(
        &mut c,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req("cfg", 1, &[("retention.ms", "soon")], false),
    )
    .await;
    assert_eq!(r.topics[0].error_code, 40);
    let r: CreateTopicsResponse = round_trip(
        &mut c,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req("cfg", 1, &[("no.such.config", "1")], false),
    )
    .await;
    assert_eq!(r.topics[0].error_code, 40);

    // Created with num.partitions (-1) and a topic config; v5+ lists configs.
    let r: CreateTopicsResponse = round_trip(
        &mut c,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req("cfg", -1, &[("retention.ms", "1000")], false),
    )
    .await;
    let t = &r.topics[0];
    assert_eq!(
        (t.error_code, t.num_partitions, t.replication_factor),
        (0, 2, 1)
    );
    assert!(!t.topic_id.is_nil());
    let listed = t.configs.as_ref().unwrap();
    let retention = listed
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(
        (
            retention.value.as_ref().unwrap().as_str(),
            retention.config_source
        ),
        ("1000", 1)
    );

    // DescribeConfigs: topic value (source 1), broker-derived (4), default (5).
    let d = describe(
        &mut c,
        "cfg",
        &["retention.ms", "segment.bytes", "cleanup.policy"],
    )
    .await;
    assert!(d.contains(&("retention.ms".into(), "1000".into(), 1)));
    assert!(d.contains(&("segment.bytes".into(), "1073741824".into(), 5)));
    assert!(d.contains(&("cleanup.policy".into(), "delete".into(), 5)));

    // IncrementalAlterConfigs: DELETE retention.ms (back to the broker's
    // log.retention.hours=1), APPEND compact to cleanup.policy.
    let mut res = inc::AlterConfigsResource::default();
    res.resource_type = 2;
    res.resource_name = s("cfg");
    let mut del = inc::AlterableConfig::default();
    del.name = s("retention.ms");
    del.config_operation = 1;
    let mut app = inc::AlterableConfig::default();
    app.name = s("cleanup.policy");
    app.config_operation = 2;
    app.value = Some(s("compact"));
    res.configs = vec![del, app];
    let mut req = IncrementalAlterConfigsRequest::default();
    req.resources = vec![res];
    let r: IncrementalAlterConfigsResponse =
        round_trip(&mut c, ApiKey::IncrementalAlterConfigs, 1, 4, &req).await;
    assert_eq!(r.responses[0].error_code, 0);
    let d = describe(&mut c, "cfg", &["retention.ms", "cleanup.policy"]).await;
    assert!(
        d.contains(&("retention.ms".into(), "3600000".into(), 4)),
        "{d:?}"
    );
    assert!(
        d.contains(&("cleanup.policy".into(), "delete,compact".into(), 1)),
        "{d:?}"
    );
    assert!(
        broker
            .broker
            .partition("cfg", 1)
            .unwrap()
            .log()
            .unwrap()
            .config()
            .compact
    );

    // AlterConfigs replaces the whole set.
    let mut res = alter_configs_request::AlterConfigsResource::default();
    res.resource_type = 2;
    res.resource_name = s("cfg");
    let mut one = alter_configs_request::AlterableConfig::default();
    one.name = s("max.message.bytes");
    one.value = Some(s("2000"));
    res.configs = vec![one];
    let mut req = AlterConfigsRequest::default();
    req.resources = vec![res];
    let r: AlterConfigsResponse = round_trip(&mut c, ApiKey::AlterConfigs, 2, 5, &req).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(broker.broker.topic("cfg").unwrap().meta.configs.len(), 1);
    // And now a batch over 2000 bytes is MESSAGE_TOO_LARGE.
    let mut b = BatchBuilder::new(Compression::None, 0);
    b.push(0, Some(b"k"), Some(&[7u8; 3000]), &[]);
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(Bytes::from(b.finish()));
    let mut td = TopicProduceData::default();
    td.name = TopicName(s("cfg"));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.topic_data = vec![td];
    let r: ProduceResponse = round_trip(&mut c, ApiKey::Produce, 9, 6, &req).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 10);

    // CreatePartitions: grow to 4; shrinking is INVALID_PARTITIONS.
    for (count, code) in [(4, 0), (3, 37)] {
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(s("cfg"));
        t.count = count;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![t];
        let r: CreatePartitionsResponse =
            round_trip(&mut c, ApiKey::CreatePartitions, 3, 7, &req).await;
        assert_eq!(r.results[0].error_code, code);
    }

    // Metadata by id (v12) sees 4 partitions; unknown id is UNKNOWN_TOPIC_ID;
    // a new name is auto-created with num.partitions.
    let id = broker.broker.topic("cfg").unwrap().meta.id;
    let mut by_id = MetadataRequestTopic::default();
    by_id.topic_id = id;
    by_id.name = None;
    let mut unknown = MetadataRequestTopic::default();
    unknown.topic_id = uuid::Uuid::from_u128(5);
    unknown.name = None;
    let mut auto = MetadataRequestTopic::default();
    auto.name = Some(TopicName(s("auto.made")));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![by_id, unknown, auto]);
    req.allow_auto_topic_creation = true;
    let m: MetadataResponse = round_trip(&mut c, ApiKey::Metadata, 12, 8, &req).await;
    assert_eq!(m.cluster_id.as_ref().unwrap().len(), 22);
    assert_eq!(m.controller_id.0, 1);
    assert_eq!(
        (m.topics[0].error_code, m.topics[0].partitions.len()),
        (0, 4)
    );
    assert_eq!(m.topics[0].name.as_ref().unwrap().0.as_str(), "cfg");
    assert_eq!(m.topics[1].error_code, 100);
    assert_eq!(
        (m.topics[2].error_code, m.topics[2].partitions.len()),
        (0, 2)
    );

    // DescribeCluster and InitProducerId.
    let dc: DescribeClusterResponse = round_trip(
        &mut c,
        ApiKey::DescribeCluster,
        1,
        9,
        &DescribeClusterRequest::default(),
    )
    .await;
    assert_eq!(
        (dc.error_code, dc.brokers.len(), dc.brokers[0].port),
        (0, 1, broker.addr.port() as i32)
    );
    assert_eq!(dc.cluster_id, m.cluster_id.unwrap());
    let p1: InitProducerIdResponse = round_trip(
        &mut c,
        ApiKey::InitProducerId,
        4,
        10,
        &InitProducerIdRequest::default().with_transactional_id(None),
    )
    .await;
    let p2: InitProducerIdResponse = round_trip(
        &mut c,
        ApiKey::InitProducerId,
        4,
        11,
        &InitProducerIdRequest::default().with_transactional_id(None),
    )
    .await;
    assert_eq!((p1.error_code, p1.producer_epoch), (0, 0));
    assert_ne!(p1.producer_id, p2.producer_id);
    // An empty transactional id is not "none" (Kafka: INVALID_REQUEST).
    let empty: InitProducerIdResponse = round_trip(
        &mut c,
        ApiKey::InitProducerId,
        4,
        12,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(""))))
            .with_transaction_timeout_ms(60_000),
    )
    .await;
    assert_eq!(empty.error_code, 42);

    // DeleteTopics by id (v6) and by name; unknown ones get their error.
    let mut by_id = DeleteTopicState::default();
    by_id.topic_id = id;
    let mut missing = DeleteTopicState::default();
    missing.name = Some(TopicName(s("missing")));
    let mut req = DeleteTopicsRequest::default();
    req.topics = vec![by_id, missing];
    let r: DeleteTopicsResponse = round_trip(&mut c, ApiKey::DeleteTopics, 6, 12, &req).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "cfg");
    assert_eq!(r.responses[1].error_code, 3);
    assert!(broker.broker.topic("cfg").is_none());
    broker.stop().await.unwrap();
}

fn produce_batches(
    topic: &str,
    key_of: impl Fn(usize) -> String,
    n: usize,
    ts: i64,
) -> ProduceRequest {
    let mut td = TopicProduceData::default();
    td.name = TopicName(s(topic));
    for _ in 0..1 {
        let mut b = BatchBuilder::new(Compression::None, ts);
        for i in 0..n {
            b.push(ts, Some(key_of(i).as_bytes()), Some(&[b'x'; 200]), &[]);
        }
        let mut pd = PartitionProduceData::default();
        pd.index = 0;
        pd.records = Some(Bytes::from(b.finish()));
        td.partition_data.push(pd);
    }
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.topic_data = vec![td];
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_compaction_run_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path().to_path_buf(),
        &[
            ("log.retention.check.interval.ms", "100"),
            ("log.cleaner.backoff.ms", "100"),
        ],
    )
    .await;
    let mut c = TcpStream::connect(broker.addr).await.unwrap();
    let small = [("segment.bytes", "2048"), ("retention.ms", "60000")];
    let r: CreateTopicsResponse = round_trip(
        &mut c,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req("old", 1, &small, false),
    )
    .await;
    assert_eq!(r.topics[0].error_code, 0);
    let compact = [
        ("segment.bytes", "2048"),
        ("cleanup.policy", "compact"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    let r: CreateTopicsResponse = round_trip(
        &mut c,
        ApiKey::CreateTopics,
        7,
        1,
        &create_req("keys", 1, &compact, false),
    )
    .await;
    assert_eq!(r.topics[0].error_code, 0);

    // Records from the year 2001 in many small segments: all but the
    // active segment go.
    for i in 0..10 {
        let req = produce_batches("old", |j| format!("k{j}"), 5, 1_000_000_000_000 + i);
        let r: ProduceResponse = round_trip(&mut c, ApiKey::Produce, 9, 2, &req).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    // The same three keys over and over: compaction keeps the latest of each.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // What was appended, counted from the requests: the cleaner may already
    // run while they are being sent, so the log's size afterwards is no
    // reference.
    let mut keys_size_before = 0;
    for i in 0..10 {
        let req = produce_batches("keys", |j| format!("key{}", j % 3), 6, now + i);
        keys_size_before += req.topic_data[0].partition_data[0]
            .records
            .as_ref()
            .map_or(0, |r| r.len() as u64);
        let r: ProduceResponse = round_trip(&mut c, ApiKey::Produce, 9, 3, &req).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let old = broker.broker.partition("old", 0).unwrap();
    let keys = broker.broker.partition("keys", 0).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let retained =
            old.log().unwrap().log_start_offset() > 0 && old.log().unwrap().segment_count() == 1;
        let compacted = keys.log().unwrap().size_bytes() < keys_size_before;
        if retained && compacted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention {retained}, compaction {compacted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(old.log().unwrap().log_end_offset(), 50);
    assert_eq!(keys.log().unwrap().log_end_offset(), 60);
    broker.stop().await.unwrap();
}
