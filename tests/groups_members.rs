//! Group members against a real `runnel serve`: partitions split with none
//! read twice and none missed, a member leaving hands its partitions over,
//! committed offsets are where a new member resumes.

mod groups_support;

use std::time::Duration;

use groups_support::*;
use runnel::client::Client;
use runnel::client::group::{Assignor, GroupConsumer};

const TOPIC: &str = "events";
const PARTITIONS: i32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_split_six_partitions_and_take_over_on_leave() {
    let broker = start_broker();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic(TOPIC, PARTITIONS, 1, &[])
        .await
        .expect("create topic");
    produce(&client, TOPIC, PARTITIONS, 10).await;

    let mut running = Vec::new();
    for _ in 0..3 {
        let member = GroupConsumer::join(&client, config("split", TOPIC))
            .await
            .expect("join");
        running.push(Running::start(member));
    }
    let refs: Vec<&Running> = running.iter().collect();
    let split = wait_for_split(&refs, TOPIC, PARTITIONS).await;
    // Range over 6 partitions and 3 members: two each.
    assert!(split.iter().all(|p| p.len() == 2), "{split:?}");
    let records = wait_for_records(&refs, 60, |_| true).await;
    assert_eq!(
        records,
        every_record(PARTITIONS, 10),
        "read twice or missed"
    );

    // One member leaves: the other two take its partitions.
    let leaving = running.remove(0).stop().await;
    leaving.close().await.expect("close");
    let refs: Vec<&Running> = running.iter().collect();
    let split = wait_for_split(&refs, TOPIC, PARTITIONS).await;
    assert!(split.iter().all(|p| p.len() == 3), "{split:?}");

    // New records are read once, by whoever owns their partition now.
    produce(&client, TOPIC, PARTITIONS, 2).await;
    let after = wait_for_records(&refs, 12, |&(_, o)| o >= 10).await;
    let expected: Vec<(i32, i64)> = every_record(PARTITIONS, 12)
        .into_iter()
        .filter(|&(_, o)| o >= 10)
        .collect();
    assert_eq!(after, expected, "read twice or missed");
    for r in running {
        r.stop().await.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundrobin_leader_and_committed_offsets_resume() {
    let broker = start_broker();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic(TOPIC, PARTITIONS, 1, &[])
        .await
        .expect("create topic");
    produce(&client, TOPIC, PARTITIONS, 5).await;

    let mut rr = config("resume", TOPIC);
    rr.assignors = vec![Assignor::RoundRobin];
    let first = GroupConsumer::join(&client, rr.clone())
        .await
        .expect("join");
    assert_eq!(first.protocol().as_deref(), Some("roundrobin"));
    assert!(first.is_leader());
    assert_eq!(first.assignment().get(TOPIC), Some(&(0..6).collect()));
    let first = Running::start(first);
    wait_for_records(&[&first], 30, |_| true).await;
    first.stop().await.close().await.expect("close");

    // A new member of the group starts after the committed offsets.
    produce(&client, TOPIC, PARTITIONS, 1).await;
    let read = consume_n(&client, rr, 6).await;
    let expected: std::collections::BTreeMap<i32, Vec<i64>> =
        (0..PARTITIONS).map(|p| (p, vec![5])).collect();
    assert_eq!(read, expected);

    // Another group (latest) sees nothing of what is there.
    let mut latest = config("other", TOPIC);
    latest.auto_offset_reset = runnel::client::group::AutoOffsetReset::Latest;
    let mut member = GroupConsumer::join(&client, latest).await.expect("join");
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        assert!(member.poll().await.expect("poll").is_empty());
    }
    member.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_is_replaced_after_its_session() {
    let broker = start_broker();
    let client = Client::connect(&broker.addr).await.expect("connect");
    client
        .admin()
        .create_topic(TOPIC, PARTITIONS, 1, &[])
        .await
        .expect("create topic");
    let mut short = config("crash", TOPIC);
    short.session_timeout = Duration::from_secs(6);
    let mut running = Vec::new();
    for _ in 0..2 {
        let member = GroupConsumer::join(&client, short.clone())
            .await
            .expect("join");
        running.push(Running::start(member));
    }
    wait_for_split(&running.iter().collect::<Vec<_>>(), TOPIC, PARTITIONS).await;
    // Dropped without LeaveGroup: it just goes silent, like a killed process.
    let crashed = running.remove(0).stop().await;
    let started = std::time::Instant::now();
    drop(crashed);
    let split = wait_for_split(&[&running[0]], TOPIC, PARTITIONS).await;
    assert_eq!(split, [(0..PARTITIONS).collect::<Vec<i32>>()]);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(6) + Duration::from_secs(5),
        "took {waited:?}"
    );
    running.remove(0).stop().await.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_errors_are_clear() {
    let broker = start_broker();
    let client = Client::connect(&broker.addr).await.expect("connect");
    let err = GroupConsumer::join(&client, config("", TOPIC))
        .await
        .expect_err("empty group id");
    assert_eq!(err.to_string(), "the group id is empty");
    let mut bad = config("g", TOPIC);
    bad.session_timeout = Duration::from_millis(1);
    let err = GroupConsumer::join(&client, bad)
        .await
        .expect_err("session timeout below the broker's minimum");
    assert!(
        err.to_string()
            .starts_with("join group g: INVALID_SESSION_TIMEOUT"),
        "{err}"
    );
}
