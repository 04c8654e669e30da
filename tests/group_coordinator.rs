//! The group coordinator driven directly with kafka-protocol requests from
//! concurrent tokio tasks: rebalances, session expiry, static membership,
//! offsets, restarts, deletes, and the error codes Kafka gives.

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use runnel::broker::group::{
    ClientInfo, CoordinatorNode, GroupConfig, GroupCoordinator, OffsetsStore,
};
use runnel::log::cleaner::{CleanOptions, LogCleaner};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

mod group_support;
use group_support::open_store;

const UNKNOWN_MEMBER_ID: i16 = ResponseError::UnknownMemberId.code();
const ILLEGAL_GENERATION: i16 = ResponseError::IllegalGeneration.code();
const REBALANCE_IN_PROGRESS: i16 = ResponseError::RebalanceInProgress.code();
const MEMBER_ID_REQUIRED: i16 = ResponseError::MemberIdRequired.code();

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn tname(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Encodes a response at `version`, proving every field set is valid there.
fn encodes<T: Encodable>(resp: &T, version: i16) {
    let mut buf = BytesMut::new();
    resp.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("response does not encode at v{version}: {e}"));
}

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 50,
        min_session_timeout_ms: 100,
        ..GroupConfig::default()
    }
}

/// Topics t1 (6 partitions) and t2 (3 partitions) exist.
fn open(store: Arc<impl OffsetsStore + 'static>, config: GroupConfig) -> GroupCoordinator {
    let topics = |topic: &str, partition: i32| match topic {
        "t1" => (0..6).contains(&partition),
        "t2" => (0..3).contains(&partition),
        _ => false,
    };
    let node = CoordinatorNode {
        node_id: 7,
        host: "127.0.0.1".into(),
        port: 9092,
    };
    let c = GroupCoordinator::open(node, config, store, Arc::new(topics)).expect("opens");
    c.start();
    c
}

fn client(id: &str) -> ClientInfo {
    ClientInfo::new(id, std::net::Ipv4Addr::LOCALHOST.into())
}

/// A consumer protocol subscription (v1) to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let sub =
        ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| s(t)).collect());
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&1i16.to_be_bytes());
    sub.encode(&mut buf, 1).expect("encodes");
    buf.freeze()
}

fn join_req(
    group: &str,
    member: &str,
    instance: Option<&str>,
    session_ms: i32,
    topics: &[&str],
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(2_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(topics)),
        ])
}

/// What one member holds after a completed rebalance.
#[derive(Debug, Clone)]
struct Joined {
    member_id: String,
    generation: i32,
    leader: String,
    members: Vec<String>,
    assignment: Bytes,
}

/// Joins (handling MEMBER_ID_REQUIRED), syncs (the leader assigns each
/// member its own id as assignment bytes) and returns what the member holds.
async fn join_and_sync(
    c: &GroupCoordinator,
    group: &str,
    member_id: &str,
    instance: Option<&str>,
    session_ms: i32,
) -> Joined {
    let mut member_id = member_id.to_string();
    let resp = loop {
        let resp = c
            .join_group(
                join_req(group, &member_id, instance, session_ms, &["t1"]),
                9,
                &client("c"),
            )
            .await;
        encodes(&resp, 9);
        if resp.error_code == MEMBER_ID_REQUIRED {
            member_id = resp.member_id.to_string();
            continue;
        }
        if resp.error_code == REBALANCE_IN_PROGRESS {
            continue;
        }
        assert_eq!(resp.error_code, 0, "join of {member_id}");
        break resp;
    };
    let member_id = resp.member_id.to_string();
    let members: Vec<String> = resp
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    let assignments = members
        .iter()
        .map(|m| {
            SyncGroupRequestAssignment::default()
                .with_member_id(s(m))
                .with_assignment(Bytes::from(m.clone().into_bytes()))
        })
        .collect();
    let sync = c
        .sync_group(
            SyncGroupRequest::default()
                .with_group_id(gid(group))
                .with_generation_id(resp.generation_id)
                .with_member_id(s(&member_id))
                .with_group_instance_id(instance.map(s))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")))
                .with_assignments(assignments),
            5,
        )
        .await;
    encodes(&sync, 5);
    assert_eq!(sync.error_code, 0, "sync of {member_id}");
    assert_eq!(sync.protocol_name.as_deref(), Some("range"));
    Joined {
        member_id,
        generation: resp.generation_id,
        leader: resp.leader.to_string(),
        members,
        assignment: sync.assignment,
    }
}

async fn heartbeat(c: &GroupCoordinator, group: &str, j: &Joined) -> i16 {
    let resp = c
        .heartbeat(
            HeartbeatRequest::default()
                .with_group_id(gid(group))
                .with_generation_id(j.generation)
                .with_member_id(s(&j.member_id)),
            4,
        )
        .await;
    encodes(&resp, 4);
    resp.error_code
}

/// Three members join concurrently; returns them in any order.
async fn three_members(c: &GroupCoordinator, group: &str, session_ms: i32) -> Vec<Joined> {
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let c = c.clone();
            let group = group.to_string();
            tokio::spawn(async move { join_and_sync(&c, &group, "", None, session_ms).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("member task"));
    }
    out
}

fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(tname(topic))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(3)
                        .with_committed_metadata(Some(s("meta"))),
                ]),
        ])
}

async fn commit(c: &GroupCoordinator, req: OffsetCommitRequest) -> i16 {
    let resp = c.offset_commit(req, 9).await;
    encodes(&resp, 9);
    resp.topics[0].partitions[0].error_code
}

/// Committed offsets of `group` (v8 batched fetch, all topics), by (topic, partition).
async fn fetch_all(
    c: &GroupCoordinator,
    group: &str,
) -> HashMap<(String, i32), (i64, i32, String)> {
    let resp = c
        .offset_fetch(
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(gid(group))
                    .with_topics(None),
            ]),
            8,
        )
        .await;
    encodes(&resp, 8);
    let mut out = HashMap::new();
    for t in &resp.groups[0].topics {
        for p in &t.partitions {
            out.insert(
                (t.name.to_string(), p.partition_index),
                (
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref().unwrap_or("").to_string(),
                ),
            );
        }
    }
    out
}

#[tokio::test]
async fn three_members_join_sync_and_heartbeat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    let joined = three_members(&c, "g", 10_000).await;
    let generation = joined[0].generation;
    let leader = joined[0].leader.clone();
    assert!(
        joined
            .iter()
            .all(|j| j.generation == generation && j.leader == leader)
    );
    let ids: BTreeSet<String> = joined.iter().map(|j| j.member_id.clone()).collect();
    assert_eq!(ids.len(), 3);
    for j in &joined {
        // The leader got the member list; everyone got its own assignment.
        if j.member_id == leader {
            assert_eq!(j.members.iter().cloned().collect::<BTreeSet<_>>(), ids);
        } else {
            assert!(j.members.is_empty());
        }
        assert_eq!(j.assignment, Bytes::from(j.member_id.clone().into_bytes()));
        assert_eq!(heartbeat(&c, "g", j).await, 0);
    }
    let d = c
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![gid("g")]),
            5,
        )
        .await;
    encodes(&d, 5);
    let g = &d.groups[0];
    assert_eq!(
        (
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(g.members.len(), 3);
    for m in &g.members {
        assert_eq!(
            (m.client_id.as_str(), m.client_host.as_str()),
            ("c", "/127.0.0.1")
        );
        assert_eq!(
            m.member_assignment,
            Bytes::from(m.member_id.to_string().into_bytes())
        );
        assert_eq!(m.member_metadata, subscription(&["t1"]));
    }
    let l = c.list_groups(ListGroupsRequest::default(), 5).await;
    encodes(&l, 5);
    assert_eq!(l.groups.len(), 1);
    assert_eq!(
        (
            l.groups[0].group_state.as_str(),
            l.groups[0].group_type.as_str()
        ),
        ("Stable", "classic")
    );
    let filtered = c
        .list_groups(
            ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
            4,
        )
        .await;
    assert!(filtered.groups.is_empty());
}

#[tokio::test]
async fn member_that_stops_heartbeating_is_removed_and_others_rebalance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    let session = 400;
    let joined = three_members(&c, "g", session).await;
    let (dead, alive) = (joined[2].clone(), joined[..2].to_vec());
    let started = std::time::Instant::now();
    // The two live members heartbeat until told to rebalance, then rejoin.
    let tasks: Vec<_> = alive
        .into_iter()
        .map(|j| {
            let c = c.clone();
            tokio::spawn(async move {
                loop {
                    let e = heartbeat(&c, "g", &j).await;
                    if e == REBALANCE_IN_PROGRESS {
                        return join_and_sync(&c, "g", &j.member_id, None, session).await;
                    }
                    assert_eq!(e, 0);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    let mut rejoined = Vec::new();
    for t in tasks {
        rejoined.push(t.await.expect("member task"));
    }
    assert!(started.elapsed() >= Duration::from_millis(session as u64 - 50));
    assert!(started.elapsed() < Duration::from_secs(5));
    let generation = rejoined[0].generation;
    assert!(generation > dead.generation);
    assert!(rejoined.iter().all(|j| j.generation == generation));
    let leader = rejoined
        .iter()
        .find(|j| j.member_id == j.leader)
        .expect("a leader");
    assert_eq!(leader.members.len(), 2);
    assert!(!leader.members.contains(&dead.member_id));
    // The expired member is unknown now; the others keep working.
    assert_eq!(heartbeat(&c, "g", &dead).await, UNKNOWN_MEMBER_ID);
    for j in &rejoined {
        assert_eq!(heartbeat(&c, "g", j).await, 0);
    }
}

#[tokio::test]
async fn static_member_rejoins_without_rebalance_and_old_id_is_fenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    let (a, b) = tokio::join!(
        join_and_sync(&c, "g", "", Some("inst-a"), 10_000),
        join_and_sync(&c, "g", "", Some("inst-b"), 10_000)
    );
    assert_eq!(a.generation, b.generation);
    // inst-b restarts: joins again with no member id, same protocols.
    let resp = c
        .join_group(
            join_req("g", "", Some("inst-b"), 10_000, &["t1"]),
            9,
            &client("c"),
        )
        .await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.generation_id, b.generation, "no new generation");
    assert_ne!(resp.member_id.as_str(), b.member_id);
    assert!(resp.member_id.starts_with("inst-b-"));
    let new_b = Joined {
        member_id: resp.member_id.to_string(),
        ..b.clone()
    };
    // No rebalance: both heartbeat fine; the old member id is fenced.
    assert_eq!(heartbeat(&c, "g", &a).await, 0);
    assert_eq!(heartbeat(&c, "g", &new_b).await, 0);
    let fenced = c
        .heartbeat(
            HeartbeatRequest::default()
                .with_group_id(gid("g"))
                .with_generation_id(b.generation)
                .with_member_id(s(&b.member_id))
                .with_group_instance_id(Some(s("inst-b"))),
            4,
        )
        .await;
    assert_eq!(fenced.error_code, ResponseError::FencedInstanceId.code());
    // Its SyncGroup gets the assignment it had.
    let sync = c
        .sync_group(
            SyncGroupRequest::default()
                .with_group_id(gid("g"))
                .with_generation_id(b.generation)
                .with_member_id(s(&new_b.member_id))
                .with_group_instance_id(Some(s("inst-b"))),
            3,
        )
        .await;
    assert_eq!(
        (sync.error_code, sync.assignment.clone()),
        (0, b.assignment.clone())
    );
}

#[tokio::test]
async fn commits_fetches_and_kafka_error_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    let joined = three_members(&c, "g", 10_000).await;
    let j = &joined[0];
    assert_eq!(
        commit(&c, commit_req("g", j.generation, &j.member_id, "t1", 0, 42)).await,
        0
    );
    assert_eq!(
        commit(&c, commit_req("g", j.generation, &j.member_id, "t1", 1, 7)).await,
        0
    );
    // Bad input: each gets Kafka's error, nothing is committed.
    assert_eq!(
        commit(
            &c,
            commit_req("g", j.generation + 5, &j.member_id, "t1", 2, 1)
        )
        .await,
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(&c, commit_req("g", j.generation, "stranger", "t1", 2, 1)).await,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        commit(
            &c,
            commit_req("g", j.generation, &j.member_id, "nope", 0, 1)
        )
        .await,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        commit(&c, commit_req("g", j.generation, &j.member_id, "t1", 99, 1)).await,
        ResponseError::UnknownTopicOrPartition.code()
    );
    let mut big = commit_req("g", j.generation, &j.member_id, "t1", 3, 1);
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    assert_eq!(
        commit(&c, big).await,
        ResponseError::OffsetMetadataTooLarge.code()
    );
    assert_eq!(
        commit(&c, commit_req("g", -1, "", "t1", 2, 1)).await,
        UNKNOWN_MEMBER_ID
    );
    let mut stray = join_req("g", "", None, 10_000, &["t1"]);
    stray.protocol_type = s("connect");
    let resp = c.join_group(stray, 3, &client("x")).await;
    encodes(&resp, 3);
    assert_eq!(
        resp.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
    let bad_sync = c
        .sync_group(
            SyncGroupRequest::default()
                .with_group_id(gid("g"))
                .with_generation_id(j.generation - 1)
                .with_member_id(s(&j.member_id)),
            0,
        )
        .await;
    encodes(&bad_sync, 0);
    assert_eq!(bad_sync.error_code, ILLEGAL_GENERATION);
    // The group keeps working for everyone.
    for m in &joined {
        assert_eq!(heartbeat(&c, "g", m).await, 0);
    }
    let all = fetch_all(&c, "g").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[&("t1".to_string(), 0)], (42, 3, "meta".to_string()));
    assert_eq!(all[&("t1".to_string(), 1)].0, 7);
    // v1 fetch of named partitions: -1 where nothing is committed.
    let resp = c
        .offset_fetch(
            OffsetFetchRequest::default()
                .with_group_id(gid("g"))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(tname("t1"))
                        .with_partition_indexes(vec![0, 5]),
                ])),
            1,
        )
        .await;
    encodes(&resp, 1);
    let offsets: Vec<i64> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![42, -1]);
    // A v8 fetch of several groups at once, one unknown.
    let resp = c
        .offset_fetch(
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(gid("g"))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(tname("t1"))
                            .with_partition_indexes(vec![1]),
                    ])),
                OffsetFetchRequestGroup::default()
                    .with_group_id(gid("other"))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(tname("t1"))
                            .with_partition_indexes(vec![1]),
                    ])),
            ]),
            9,
        )
        .await;
    encodes(&resp, 9);
    assert_eq!(resp.groups[0].topics[0].partitions[0].committed_offset, 7);
    assert_eq!(resp.groups[1].topics[0].partitions[0].committed_offset, -1);
}

#[tokio::test]
async fn offsets_and_groups_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (member, generation) = {
        let c = open(open_store(dir.path()), config());
        let j = join_and_sync(&c, "g", "", None, 10_000).await;
        assert_eq!(
            commit(
                &c,
                commit_req("g", j.generation, &j.member_id, "t1", 4, 1234)
            )
            .await,
            0
        );
        // A standalone consumer's commit in another group.
        assert_eq!(commit(&c, commit_req("solo", -1, "", "t2", 1, 99)).await, 0);
        (j.member_id, j.generation)
    };
    let c = open(open_store(dir.path()), config());
    assert_eq!(
        fetch_all(&c, "g").await[&("t1".to_string(), 4)],
        (1234, 3, "meta".to_string())
    );
    assert_eq!(fetch_all(&c, "solo").await[&("t2".to_string(), 1)].0, 99);
    // The group's generation and member came back too.
    let d = c
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![gid("g")]),
            0,
        )
        .await;
    encodes(&d, 0);
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].members[0].member_id.as_str(), member);
    let hb = c
        .heartbeat(
            HeartbeatRequest::default()
                .with_group_id(gid("g"))
                .with_generation_id(generation)
                .with_member_id(s(&member)),
            0,
        )
        .await;
    assert_eq!(hb.error_code, 0);
}

#[tokio::test]
async fn delete_groups_and_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    let j = join_and_sync(&c, "g", "", None, 10_000).await;
    assert_eq!(
        commit(&c, commit_req("g", j.generation, &j.member_id, "t1", 0, 10)).await,
        0
    );
    assert_eq!(
        commit(&c, commit_req("g", j.generation, &j.member_id, "t2", 0, 20)).await,
        0
    );

    // The member subscribes to t1 only.
    let del = |topic: &str| {
        OffsetDeleteRequest::default()
            .with_group_id(gid("g"))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(tname(topic))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ])
    };
    let resp = c.offset_delete(del("t1"), 0).await;
    encodes(&resp, 0);
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ResponseError::GroupSubscribedToTopic.code()
    );
    let resp = c.offset_delete(del("t2"), 0).await;
    assert_eq!(
        (resp.error_code, resp.topics[0].partitions[0].error_code),
        (0, 0)
    );
    let left = fetch_all(&c, "g").await;
    assert_eq!(
        left.keys().cloned().collect::<Vec<_>>(),
        vec![("t1".to_string(), 0)]
    );
    let resp = c
        .offset_delete(OffsetDeleteRequest::default().with_group_id(gid("nope")), 0)
        .await;
    assert_eq!(resp.error_code, ResponseError::GroupIdNotFound.code());

    let delete = |names: &[&str]| {
        DeleteGroupsRequest::default().with_groups_names(names.iter().map(|n| gid(n)).collect())
    };
    let resp = c.delete_groups(delete(&["g", "missing"]), 2).await;
    encodes(&resp, 2);
    let codes: Vec<i16> = resp.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            ResponseError::NonEmptyGroup.code(),
            ResponseError::GroupIdNotFound.code()
        ]
    );

    let leave = c
        .leave_group(
            LeaveGroupRequest::default()
                .with_group_id(gid("g"))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(s(&j.member_id)),
                ]),
            3,
        )
        .await;
    encodes(&leave, 3);
    assert_eq!((leave.error_code, leave.members[0].error_code), (0, 0));
    // Wait for the group to become empty (the join phase closes at once).
    for _ in 0..100 {
        let d = c
            .describe_groups(
                DescribeGroupsRequest::default().with_groups(vec![gid("g")]),
                0,
            )
            .await;
        if d.groups[0].group_state.as_str() == "Empty" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = c.delete_groups(delete(&["g"]), 0).await;
    assert_eq!(resp.results[0].error_code, 0);
    assert!(fetch_all(&c, "g").await.is_empty());
    assert!(
        c.list_groups(ListGroupsRequest::default(), 0)
            .await
            .groups
            .is_empty()
    );
    // Deleted for good: a restart does not bring it back.
    drop(c);
    let c = open(open_store(dir.path()), config());
    assert!(fetch_all(&c, "g").await.is_empty());
    let d = c
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![gid("g")]),
            6,
        )
        .await;
    encodes(&d, 6);
    assert_eq!(
        d.groups[0].error_code,
        ResponseError::GroupIdNotFound.code()
    );
}

#[tokio::test]
async fn find_coordinator_answers_this_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    for version in 0..=3 {
        let resp = c
            .find_coordinator(
                FindCoordinatorRequest::default()
                    .with_key(s("g"))
                    .with_key_type(0),
                version,
            )
            .await;
        encodes(&resp, version);
        assert_eq!(
            (
                resp.error_code,
                resp.node_id.0,
                resp.host.as_str(),
                resp.port
            ),
            (0, 7, "127.0.0.1", 9092)
        );
    }
    let resp = c
        .find_coordinator(
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("txn-a"), s("txn-b")]),
            4,
        )
        .await;
    encodes(&resp, 4);
    assert_eq!(resp.coordinators.len(), 2);
    assert!(
        resp.coordinators
            .iter()
            .all(|k| k.error_code == 0 && k.node_id.0 == 7 && k.port == 9092)
    );
    let resp = c
        .find_coordinator(
            FindCoordinatorRequest::default()
                .with_key(s("g"))
                .with_key_type(5),
            3,
        )
        .await;
    encodes(&resp, 3);
    assert_eq!(resp.error_code, ResponseError::InvalidRequest.code());
}

#[tokio::test]
async fn old_join_versions_and_member_id_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    // v4+: an unknown member must rejoin with the id it is given.
    let resp = c
        .join_group(join_req("g", "", None, 10_000, &["t1"]), 4, &client("c"))
        .await;
    encodes(&resp, 4);
    assert_eq!(resp.error_code, MEMBER_ID_REQUIRED);
    assert!(resp.member_id.starts_with("c-"));
    let resp = c
        .join_group(
            join_req("g", &resp.member_id, None, 10_000, &["t1"]),
            4,
            &client("c"),
        )
        .await;
    encodes(&resp, 4);
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.protocol_name.as_deref(), Some("range"));
    // v0 joins directly; a bad session timeout is refused.
    let resp = c
        .join_group(join_req("h", "", None, 10_000, &["t1"]), 0, &client("c"))
        .await;
    encodes(&resp, 0);
    assert_eq!(resp.error_code, 0);
    let resp = c
        .join_group(join_req("h", "", None, 10, &["t1"]), 0, &client("c"))
        .await;
    assert_eq!(resp.error_code, ResponseError::InvalidSessionTimeout.code());
    // A join with an unknown member id.
    let resp = c
        .join_group(
            join_req("h", "ghost", None, 10_000, &["t1"]),
            7,
            &client("c"),
        )
        .await;
    encodes(&resp, 7);
    assert_eq!(resp.error_code, UNKNOWN_MEMBER_ID);
}

#[tokio::test]
async fn offsets_expire_after_their_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = open(open_store(dir.path()), config());
    // v2–v4 carry an explicit retention time; a standalone group, commits at once.
    let mut req = commit_req("solo", -1, "", "t1", 0, 5);
    req.retention_time_ms = 1;
    let resp = c.offset_commit(req, 2).await;
    encodes(&resp, 2);
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(commit(&c, commit_req("kept", -1, "", "t1", 0, 6)).await, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(c.expire_offsets_now(), 1);
    assert!(fetch_all(&c, "solo").await.is_empty());
    assert_eq!(fetch_all(&c, "kept").await.len(), 1);
    drop(c);
    let c = open(open_store(dir.path()), config());
    assert!(fetch_all(&c, "solo").await.is_empty());
    assert_eq!(fetch_all(&c, "kept").await.len(), 1);
}

#[tokio::test]
async fn the_log_cleaner_compacts_consumer_offsets_and_they_still_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let c = open(store.clone(), config());
    for offset in 0..50 {
        assert_eq!(
            commit(&c, commit_req("g", -1, "", "t1", 0, offset)).await,
            0
        );
    }
    assert_eq!(commit(&c, commit_req("gone", -1, "", "t2", 2, 1)).await, 0);
    let resp = c
        .delete_groups(
            DeleteGroupsRequest::default().with_groups_names(vec![gid("gone")]),
            2,
        )
        .await;
    assert_eq!(resp.results[0].error_code, 0);
    // Roll every partition so all records are in cleanable segments, then compact.
    let mut kept = 0;
    for log in store.store.logs() {
        let mut log = log.lock_log();
        log.roll().expect("rolls");
        let opts = CleanOptions {
            now_ms: i64::MAX / 2,
            dry_run: false,
            force: true,
        };
        let stats = LogCleaner::clean(&mut log, &opts, &mut |_, _| {}).expect("cleans");
        kept += stats.records_after;
    }
    // Latest offset of g/t1/0, and (tombstones past delete.retention.ms dropped) nothing of "gone".
    assert_eq!(kept, 1);
    drop(c);
    drop(store);
    let c = open(open_store(dir.path()), config());
    assert_eq!(fetch_all(&c, "g").await[&("t1".to_string(), 0)].0, 49);
    assert!(fetch_all(&c, "gone").await.is_empty());
}

fn txn_commit_req(
    group: &str,
    producer_id: i64,
    topic: &str,
    partition: i32,
    offset: i64,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(gid(group))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
        .with_generation_id(-1)
        .with_topics(vec![
            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                .with_name(tname(topic))
                .with_partitions(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1),
                ]),
        ])
}

/// OffsetFetch v8 of one partition with `require_stable`: (error, offset).
async fn fetch_stable(
    c: &GroupCoordinator,
    group: &str,
    topic: &str,
    partition: i32,
) -> (i16, i64) {
    let resp = c
        .offset_fetch(
            OffsetFetchRequest::default()
                .with_require_stable(true)
                .with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(gid(group))
                        .with_topics(Some(vec![
                            OffsetFetchRequestTopics::default()
                                .with_name(tname(topic))
                                .with_partition_indexes(vec![partition]),
                        ])),
                ]),
            8,
        )
        .await;
    let p = &resp.groups[0].topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

#[tokio::test]
async fn transactional_offsets_count_only_when_their_transaction_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = {
        let c = open(open_store(dir.path()), config());
        let resp = c
            .txn_offset_commit(txn_commit_req("tg", 1000, "t1", 0, 10), 3, || Ok(()))
            .await;
        encodes(&resp, 3);
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
        let resp = c
            .txn_offset_commit(txn_commit_req("tg", 1001, "t1", 1, 20), 3, || Ok(()))
            .await;
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
        // Unknown partitions are refused as for OffsetCommit.
        let resp = c
            .txn_offset_commit(txn_commit_req("tg", 1000, "nope", 0, 1), 3, || Ok(()))
            .await;
        assert_eq!(
            resp.topics[0].partitions[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        // A partition not in the producer's transaction (as the transaction
        // coordinator answers): refused, nothing written or pending.
        let resp = c
            .txn_offset_commit(txn_commit_req("tg", 1002, "t1", 2, 5), 3, || {
                Err(ResponseError::InvalidTxnState.code())
            })
            .await;
        assert_eq!(
            resp.topics[0].partitions[0].error_code,
            ResponseError::InvalidTxnState.code()
        );
        assert_eq!(fetch_stable(&c, "tg", "t1", 2).await, (0, -1));
        // Pending: invisible, and a stable fetch is told to retry.
        assert!(fetch_all(&c, "tg").await.is_empty());
        assert_eq!(
            fetch_stable(&c, "tg", "t1", 0).await.0,
            ResponseError::UnstableOffsetCommit.code()
        );
        c.offsets_partition_for("tg")
    };
    // Still pending after a restart (the records are in the log, no marker yet).
    let c = open(open_store(dir.path()), config());
    assert_eq!(
        fetch_stable(&c, "tg", "t1", 1).await.0,
        ResponseError::UnstableOffsetCommit.code()
    );
    c.complete_transaction(partition, 1000, true);
    c.complete_transaction(partition, 1001, false);
    assert_eq!(fetch_stable(&c, "tg", "t1", 0).await, (0, 10));
    assert_eq!(fetch_stable(&c, "tg", "t1", 1).await, (0, -1));
    assert_eq!(fetch_all(&c, "tg").await.len(), 1);
}
