//! Consumer-group interop tests (issue 4): real clients in groups against `runnel serve` —
//! confluent-kafka consumers sharing a topic with each assignor, a killed member's partitions
//! moving to the others, committed offsets surviving broker restarts, kcat's balanced consumer
//! and kafkajs groups.
//!
//! Needs `bin/setup-test-deps` once; without it these tests fail and say so.

// Shared with interop.rs; each test crate uses a part of it.
#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use harness::{
    Broker, Member, api_versions, create_topic, kcat, node_script, parse_kcat_json, python_script,
    run_ok,
};
use serde_json::Value;

/// The members' session timeout; Kafka's smallest allowed by default
/// (`group.min.session.timeout.ms`).
const SESSION_TIMEOUT_MS: u64 = 6000;

/// The members' heartbeat interval (set in group_member.py).
const HEARTBEAT_MS: u64 = 1000;

/// The classic group protocol's APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
/// LeaveGroup, OffsetCommit, OffsetFetch.
const GROUP_APIS: [(i16, &str); 7] = [
    (10, "FindCoordinator"),
    (11, "JoinGroup"),
    (14, "SyncGroup"),
    (12, "Heartbeat"),
    (13, "LeaveGroup"),
    (8, "OffsetCommit"),
    (9, "OffsetFetch"),
];

/// Starts a broker and fails at once, naming what is missing, unless it advertises the group
/// APIs (rather than letting every client time out).
fn group_broker() -> Broker {
    let broker = Broker::start();
    let advertised = api_versions(&broker.bootstrap());
    let missing: Vec<&str> = GROUP_APIS
        .iter()
        .filter(|(key, _)| !advertised.contains_key(key))
        .map(|(_, name)| *name)
        .collect();
    assert!(
        missing.is_empty(),
        "runnel serve does not advertise the consumer-group APIs {missing:?} in ApiVersions"
    );
    broker
}

/// Produces `per_partition` records to each of `partitions` partitions of `topic` with kcat;
/// values are `LABEL-P-I`.
fn produce(bootstrap: &str, topic: &str, partitions: u32, per_partition: usize, label: &str) {
    for p in 0..partitions {
        let input: String = (0..per_partition)
            .map(|i| format!("k{i}:{label}-{p}-{i}\n"))
            .collect();
        run_ok(
            kcat(bootstrap)
                .args(["-P", "-K", ":", "-t", topic, "-p"])
                .arg(p.to_string()),
            input.as_bytes(),
            "kcat -P",
        );
    }
}

/// Starts a confluent-kafka group member (tests/interop/py/group_member.py).
fn member(bootstrap: &str, topic: &str, group: &str, name: &str, extra: &[&str]) -> Member {
    let mut cmd = python_script("group_member.py");
    cmd.args([bootstrap, topic, group, name])
        .arg("--session-timeout-ms")
        .arg(SESSION_TIMEOUT_MS.to_string())
        .args(extra);
    Member::spawn(cmd, name)
}

/// What the test has seen of a set of group members.
#[derive(Default)]
struct GroupView {
    /// Latest assignment per member.
    assignment: BTreeMap<String, BTreeSet<u32>>,
    /// (partition, offset) → the members that consumed it, in order.
    records: BTreeMap<(u32, i64), Vec<String>>,
    /// Members that stopped by themselves after `--stop-after`.
    stopped: BTreeSet<String>,
}

impl GroupView {
    fn apply(&mut self, event: &Value) {
        let member = event["member"].as_str().expect("member").to_string();
        match event["event"].as_str() {
            Some("assignment") => {
                let parts = event["partitions"]
                    .as_array()
                    .expect("partitions")
                    .iter()
                    .map(|p| p.as_u64().expect("partition") as u32)
                    .collect();
                self.assignment.insert(member, parts);
            }
            Some("record") => {
                let key = (
                    event["partition"].as_u64().expect("partition") as u32,
                    event["offset"].as_i64().expect("offset"),
                );
                self.records.entry(key).or_default().push(member);
            }
            Some("stopped") => {
                self.stopped.insert(member);
            }
            other => panic!("unknown event {other:?}: {event}"),
        }
    }

    /// Drains every pending event of `members` (waiting at most `wait` on each).
    fn pump(&mut self, members: &[&Member], wait: Duration) {
        for m in members {
            while let Some(event) = m.next_event(wait) {
                self.apply(&event);
            }
        }
    }

    /// True when `names` hold disjoint, non-empty assignments covering `0..partitions`.
    fn balanced(&self, names: &[&str], partitions: u32) -> bool {
        let mut union = BTreeSet::new();
        for name in names {
            match self.assignment.get(*name) {
                Some(parts) if !parts.is_empty() => {
                    if parts.iter().any(|p| !union.insert(*p)) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        union == (0..partitions).collect()
    }

    fn describe(&self) -> String {
        format!(
            "assignments {:?}; {} records seen; stopped {:?}",
            self.assignment,
            self.records.len(),
            self.stopped
        )
    }
}

/// Pumps events until `done` holds, failing after `timeout`.
fn wait_until(
    view: &mut GroupView,
    members: &[&Member],
    timeout: Duration,
    what: &str,
    done: impl Fn(&GroupView) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        view.pump(members, Duration::from_millis(50));
        if done(view) {
            return start.elapsed();
        }
        if start.elapsed() >= timeout {
            let stderr: Vec<String> = members.iter().map(|m| m.stderr()).collect();
            panic!(
                "{what}: not reached within {timeout:?}; {}\n{}",
                view.describe(),
                stderr.join("\n")
            );
        }
    }
}

/// Every (partition, offset) in `0..partitions × 0..per_partition` consumed exactly once.
fn assert_each_once(view: &GroupView, partitions: u32, per_partition: i64) {
    let twice: Vec<_> = view
        .records
        .iter()
        .filter(|(_, who)| who.len() > 1)
        .collect();
    assert!(
        twice.is_empty(),
        "records consumed more than once: {twice:?}"
    );
    let missed: Vec<_> = (0..partitions)
        .flat_map(|p| (0..per_partition).map(move |o| (p, o)))
        .filter(|k| !view.records.contains_key(k))
        .collect();
    assert!(missed.is_empty(), "records never consumed: {missed:?}");
    assert_eq!(
        view.records.len() as i64,
        i64::from(partitions) * per_partition,
        "records outside the produced range: {}",
        view.describe()
    );
}

/// Three members with `strategy` share a 6-partition topic: each gets a disjoint share, and
/// every record is read once, by the member that owns its partition.
fn three_members_share_six_partitions(strategy: &str) {
    let broker = group_broker();
    let bootstrap = broker.bootstrap();
    let topic = format!("share-{strategy}");
    let group = format!("g-{strategy}");
    create_topic(&bootstrap, &topic, 6);
    let names = ["m1", "m2", "m3"];
    let members: Vec<Member> = names
        .iter()
        .map(|n| member(&bootstrap, &topic, &group, n, &["--strategy", strategy]))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    let mut view = GroupView::default();
    wait_until(
        &mut view,
        &refs,
        Duration::from_secs(45),
        "three members balanced",
        |v| v.balanced(&names, 6),
    );
    for name in names {
        assert_eq!(view.assignment[name].len(), 2, "{}", view.describe());
    }

    produce(&bootstrap, &topic, 6, 20, "share");
    wait_until(
        &mut view,
        &refs,
        Duration::from_secs(30),
        "all 120 records consumed",
        |v| v.records.len() >= 120,
    );
    view.pump(&refs, Duration::from_millis(500));
    assert_each_once(&view, 6, 20);
    for ((partition, offset), who) in &view.records {
        assert!(
            view.assignment[&who[0]].contains(partition),
            "{partition}@{offset} read by {} which does not own it: {}",
            who[0],
            view.describe()
        );
    }
}

#[test]
fn three_consumers_share_a_topic_with_range_assignor() {
    three_members_share_six_partitions("range");
}

#[test]
fn three_consumers_share_a_topic_with_roundrobin_assignor() {
    three_members_share_six_partitions("roundrobin");
}

#[test]
fn three_consumers_share_a_topic_with_cooperative_sticky_assignor() {
    three_members_share_six_partitions("cooperative-sticky");
}

#[test]
fn killed_member_partitions_move_to_the_others_within_session_timeout() {
    let broker = group_broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "failover", 6);
    let names = ["a", "b", "c"];
    let mut members: Vec<Member> = names
        .iter()
        .map(|n| member(&bootstrap, "failover", "g-failover", n, &[]))
        .collect();
    let mut view = GroupView::default();
    {
        let refs: Vec<&Member> = members.iter().collect();
        wait_until(
            &mut view,
            &refs,
            Duration::from_secs(45),
            "three members balanced",
            |v| v.balanced(&names, 6),
        );
        produce(&bootstrap, "failover", 6, 10, "before");
        wait_until(
            &mut view,
            &refs,
            Duration::from_secs(30),
            "first 60 records consumed",
            |v| v.records.len() >= 60,
        );
    }

    // SIGKILL: no LeaveGroup, the coordinator must notice the missing heartbeats.
    let mut victim = members.pop().expect("third member");
    let orphaned = view.assignment["c"].clone();
    victim.kill();
    let refs: Vec<&Member> = members.iter().collect();
    let took = wait_until(
        &mut view,
        &refs,
        Duration::from_secs(60),
        "survivors own all partitions",
        |v| v.balanced(&["a", "b"], 6),
    );
    // Detection within the session timeout, plus one heartbeat for the survivors to hear of the
    // rebalance and a little for the join/sync round trips.
    let bound = Duration::from_millis(SESSION_TIMEOUT_MS + HEARTBEAT_MS + 2000);
    assert!(
        took <= bound,
        "partitions {orphaned:?} of the killed member moved after {took:?} (bound {bound:?})"
    );

    // The moved partitions resume after what the killed member committed.
    produce(&bootstrap, "failover", 6, 10, "after");
    wait_until(
        &mut view,
        &refs,
        Duration::from_secs(30),
        "all 120 records consumed",
        |v| v.records.len() >= 120,
    );
    view.pump(&refs, Duration::from_millis(500));
    assert_each_once(&view, 6, 20);
    eprintln!("killed member's partitions {orphaned:?} moved in {took:?}");
}

/// Runs a member that commits every record it reports and leaves after `stop_after` records;
/// checks that on each partition it started right after what earlier members had committed.
fn consume_some(broker: &Broker, name: &str, stop_after: usize, view: &mut GroupView) {
    let before = view.records.clone();
    let m = member(
        &broker.bootstrap(),
        "resume",
        "g-resume",
        name,
        &["--stop-after", &stop_after.to_string()],
    );
    wait_until(
        view,
        &[&m],
        Duration::from_secs(45),
        &format!("{name} consumed {stop_after} and stopped"),
        |v| v.stopped.contains(name),
    );
    // Where this member started on each partition must be right after what the group had
    // committed before it (everything earlier members reported), or 0.
    let mut first: BTreeMap<u32, i64> = BTreeMap::new();
    for ((p, o), who) in &view.records {
        if who.iter().any(|w| w == name) {
            first
                .entry(*p)
                .and_modify(|f| *f = (*f).min(*o))
                .or_insert(*o);
        }
    }
    for (p, start) in first {
        let committed = before
            .keys()
            .filter(|(bp, _)| *bp == p)
            .map(|(_, o)| o + 1)
            .max()
            .unwrap_or(0);
        assert_eq!(
            start, committed,
            "{name} started partition {p} at {start}, the group had committed {committed}"
        );
    }
}

#[test]
fn committed_offsets_survive_broker_restarts() {
    let mut broker = group_broker();
    create_topic(&broker.bootstrap(), "resume", 6);
    produce(&broker.bootstrap(), "resume", 6, 20, "r");
    let mut view = GroupView::default();

    consume_some(&broker, "first", 50, &mut view);
    broker.kill(); // kill -9
    broker.restart();
    consume_some(&broker, "second", 40, &mut view);
    broker.stop(); // SIGTERM: clean shutdown
    broker.restart();
    consume_some(&broker, "third", 30, &mut view);
    assert_each_once(&view, 6, 20);
}

#[test]
fn kcat_balanced_consumer() {
    let broker = group_broker();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kcat-group", 3);
    produce(&bootstrap, "kcat-group", 3, 30, "kg");
    // Not `-o beginning`: in -G mode kcat applies -o to every assignment, overriding the
    // committed offsets; auto.offset.reset only applies where the group has none.
    let group_read = || {
        let out = run_ok(
            kcat(&bootstrap).args([
                "-G",
                "g-kcat",
                "-X",
                "topic.auto.offset.reset=earliest",
                "-e",
                "-J",
                "kcat-group",
            ]),
            b"",
            "kcat -G",
        );
        parse_kcat_json(&out.json_lines())
    };
    let got = group_read();
    let seen: BTreeSet<(u32, i64)> = got.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(got.len(), 90, "kcat -G read {} records", got.len());
    assert_eq!(seen.len(), 90, "duplicates in kcat -G output");
    for r in &got {
        let i = r.offset;
        assert_eq!(
            r.value.as_deref(),
            Some(format!("kg-{}-{i}", r.partition).as_str())
        );
    }

    // kcat committed on exit: the group resumes at the end, then sees only what is new.
    assert!(
        group_read().is_empty(),
        "second kcat -G run re-read records"
    );
    produce(&bootstrap, "kcat-group", 3, 2, "more");
    let more = group_read();
    let mut offsets: Vec<(u32, i64)> = more.iter().map(|r| (r.partition, r.offset)).collect();
    offsets.sort_unstable();
    assert_eq!(
        offsets,
        [(0, 30), (0, 31), (1, 30), (1, 31), (2, 30), (2, 31)]
    );
}

#[test]
fn kafkajs_consumer_group() {
    let broker = group_broker();
    let out = run_ok(
        node_script("group_consume.js")
            .arg(broker.bootstrap())
            .arg("kafkajs-group")
            .arg("g-kafkajs")
            .arg("3")
            .arg("60"),
        b"",
        "node group_consume.js",
    );
    let summary = out.summary();
    assert_eq!(summary["consumed"], 60, "{summary}");
    assert_eq!(summary["resumed"], 0, "{summary}");
}
