//! A `runnel serve` child process and consumer-group helpers shared by the
//! groups tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use runnel::client::group::{AutoOffsetReset, GroupConfig, GroupConsumer, TopicPartitions};
use runnel::client::{Client, ConsumerConfig, ProducerConfig, ProducerRecord};

#[path = "../support/mod.rs"]
mod support;

/// A `runnel serve` on a free port over its own data directory.
pub type Broker = support::TempBroker;

/// Starts a broker with no initial rebalance delay (groups form at once)
/// and a small `__consumer_offsets`.
pub fn start_broker() -> Broker {
    support::TempBroker::start_with(&[
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=3",
    ])
}

/// A group config for tests: fast heartbeats, short timeouts, earliest.
pub fn config(group: &str, topic: &str) -> GroupConfig {
    let mut c = GroupConfig::new(group, &[topic]);
    c.session_timeout = Duration::from_secs(10);
    c.rebalance_timeout = Duration::from_secs(10);
    c.heartbeat_interval = Duration::from_millis(100);
    c.auto_offset_reset = AutoOffsetReset::Earliest;
    c.consumer = ConsumerConfig {
        max_wait: Duration::from_millis(100),
        ..ConsumerConfig::default()
    };
    c
}

/// Writes `per_partition` records to each of `partitions` partitions of
/// `topic`, values `p-i`.
pub async fn produce(client: &Client, topic: &str, partitions: i32, per_partition: usize) {
    let producer = client.producer(ProducerConfig::default());
    let mut handles = Vec::new();
    for p in 0..partitions {
        for i in 0..per_partition {
            let record = ProducerRecord {
                topic: topic.to_string(),
                partition: Some(p),
                key: None,
                value: Some(Bytes::from(format!("{p}-{i}"))),
                ..Default::default()
            };
            handles.push(producer.send(record).await.expect("send"));
        }
    }
    producer.flush().await.expect("flush");
    for h in handles {
        h.wait().await.expect("written");
    }
}

/// What a running member has seen.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Generation at the last poll.
    pub generation: i32,
    /// Assignment at the last poll.
    pub assignment: TopicPartitions,
    /// (partition, offset) of every record returned.
    pub records: Vec<(i32, i64)>,
}

/// A member polling (and committing after each poll) on its own task.
pub struct Running {
    stop: Arc<AtomicBool>,
    /// What it has seen so far.
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<GroupConsumer>,
}

impl Running {
    /// Starts polling `member`.
    pub fn start(mut member: GroupConsumer) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while !stop2.load(Ordering::SeqCst) {
                let records = member.poll().await.expect("poll");
                member.commit_positions().await.expect("commit");
                let mut s = seen2.lock().expect("lock");
                s.generation = member.generation_id();
                s.assignment = member.assignment().clone();
                s.records
                    .extend(records.iter().map(|r| (r.partition, r.record.offset)));
            }
            member
        });
        Running { stop, seen, task }
    }

    /// Stops polling and gives the member back.
    pub async fn stop(self) -> GroupConsumer {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("member task")
    }

    /// A copy of what it has seen.
    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("lock").clone()
    }
}

/// Waits until the running members share one generation and their
/// assignments of `topic` cover partitions `0..partitions` exactly once;
/// returns the assignments.
pub async fn wait_for_split(members: &[&Running], topic: &str, partitions: i32) -> Vec<Vec<i32>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: Vec<Seen> = members.iter().map(|m| m.seen()).collect();
        let same_generation = seen.windows(2).all(|w| w[0].generation == w[1].generation);
        let split: Vec<Vec<i32>> = seen
            .iter()
            .map(|s| s.assignment.get(topic).cloned().unwrap_or_default())
            .collect();
        let mut all: Vec<i32> = split.iter().flatten().copied().collect();
        all.sort_unstable();
        if same_generation && all == (0..partitions).collect::<Vec<_>>() {
            return split;
        }
        assert!(
            Instant::now() < deadline,
            "no stable split of {topic}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the members together returned `expected` records that
/// `keep` selects; returns those, sorted.
pub async fn wait_for_records(
    members: &[&Running],
    expected: usize,
    keep: impl Fn(&(i32, i64)) -> bool,
) -> Vec<(i32, i64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all: Vec<(i32, i64)> = members
            .iter()
            .flat_map(|m| m.seen().records)
            .filter(|r| keep(r))
            .collect();
        if all.len() >= expected {
            all.sort_unstable();
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} records consumed",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every (partition, offset) of `partitions` × `per_partition`.
pub fn every_record(partitions: i32, per_partition: i64) -> Vec<(i32, i64)> {
    (0..partitions)
        .flat_map(|p| (0..per_partition).map(move |o| (p, o)))
        .collect()
}

/// Consumes with a fresh member until it has `n` records (or 10 s pass),
/// commits, closes, and returns what it read by partition.
pub async fn consume_n(client: &Client, config: GroupConfig, n: usize) -> BTreeMap<i32, Vec<i64>> {
    let mut member = GroupConsumer::join(client, config).await.expect("join");
    let mut read: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while count < n && Instant::now() < deadline {
        for r in member.poll().await.expect("poll") {
            read.entry(r.partition).or_default().push(r.record.offset);
            count += 1;
        }
        member.commit_positions().await.expect("commit");
    }
    member.close().await.expect("close");
    read
}
