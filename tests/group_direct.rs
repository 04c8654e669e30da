//! Group offsets committed in a data directory without a broker
//! ([`DirectGroupOffsets`]) and by the group coordinator on the same
//! directory are the same records: each side reads what the other wrote.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::broker::group::{
    CoordinatorNode, DirectGroupOffsets, GroupConfig, GroupCoordinator, LogStore,
};
use runnel::log::{DataDir, GroupCommit};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The coordinator over `data_dir`'s `__consumer_offsets`; topic `t` has 4 partitions.
fn coordinator(data_dir: &DataDir) -> GroupCoordinator {
    let store = LogStore::open(data_dir, 50, GroupCommit::start()).expect("store opens");
    let node = CoordinatorNode {
        node_id: 0,
        host: "127.0.0.1".into(),
        port: 9092,
    };
    let topics = |topic: &str, partition: i32| topic == "t" && (0..4).contains(&partition);
    GroupCoordinator::open(
        node,
        GroupConfig::default(),
        Arc::new(store),
        Arc::new(topics),
    )
    .expect("coordinator opens")
}

/// Every committed offset of `group` by (topic, partition), via OffsetFetch v8.
async fn fetch_all(c: &GroupCoordinator, group: &str) -> HashMap<(String, i32), i64> {
    let resp = c
        .offset_fetch(
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(group)))
                    .with_topics(None),
            ]),
            8,
        )
        .await;
    let mut out = HashMap::new();
    for t in &resp.groups[0].topics {
        for p in &t.partitions {
            assert_eq!(p.error_code, 0);
            out.insert((t.name.to_string(), p.partition_index), p.committed_offset);
        }
    }
    out
}

fn committed_directly(dir: &Path, group: &str) -> BTreeMap<i32, i64> {
    let data = DataDir::open(dir, false).expect("opens");
    let mut offsets = DirectGroupOffsets::open(&data).expect("offsets open");
    let c = offsets.committed(group, "t").expect("reads");
    offsets.close().expect("closes");
    data.close().expect("dir closes");
    c
}

#[tokio::test]
async fn direct_commits_are_fetched_by_the_coordinator_and_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let data = DataDir::open(tmp.path(), true).expect("opens");
        let mut offsets = DirectGroupOffsets::open(&data).expect("offsets open");
        offsets
            .commit("cli", &[("t", 0, 10), ("t", 3, 4)])
            .expect("commits");
        offsets.commit("cli", &[("t", 0, 12)]).expect("commits");
        offsets.close().expect("closes");
        data.close().expect("dir closes");
    }

    // The coordinator loads them, and a standalone commit through it lands
    // in the same records.
    {
        let data = DataDir::open(tmp.path(), false).expect("opens");
        let c = coordinator(&data);
        assert_eq!(
            fetch_all(&c, "cli").await,
            HashMap::from([(("t".to_string(), 0), 12), (("t".to_string(), 3), 4)])
        );
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("cli")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(99),
                    ]),
            ]);
        let resp = c.offset_commit(req, 8).await;
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
        c.shutdown().expect("coordinator stops");
        drop(c);
        data.close().expect("dir closes");
    }

    assert_eq!(
        committed_directly(tmp.path(), "cli"),
        BTreeMap::from([(0, 12), (1, 99), (3, 4)])
    );
    assert!(committed_directly(tmp.path(), "other").is_empty());
}
