//! Client-side partition assignors run by the group leader, computing the
//! same assignments as Kafka's Java `RangeAssignor` and `RoundRobinAssignor`
//! so that runnel can lead a group with Java, librdkafka or kafka-python
//! members (and follow one led by them).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::protocol::{Subscription, TopicPartitions};

/// A member of the group as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its `group.instance.id` (static membership), if any.
    pub instance_id: Option<String>,
    /// What it subscribed to.
    pub subscription: Subscription,
}

/// Kafka's member order (`AbstractPartitionAssignor.MemberInfo`): static
/// members first by instance id, then dynamic members by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The assignment strategies runnel offers, by Kafka's protocol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// `range`: per topic, consecutive partition ranges to the sorted members.
    Range,
    /// `roundrobin`: all topic-partitions dealt in turn to the sorted members.
    RoundRobin,
}

/// Member id → its assigned partitions.
pub type GroupAssignment = BTreeMap<String, TopicPartitions>;

impl Assignor {
    /// All assignors, in the default order of preference.
    pub const ALL: [Assignor; 2] = [Assignor::Range, Assignor::RoundRobin];

    /// The protocol name sent in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }

    /// The assignor with this protocol name.
    pub fn from_name(name: &str) -> Option<Assignor> {
        Assignor::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Assigns the partitions of the subscribed topics (`partition_counts`:
    /// topic → number of partitions; topics missing from it are skipped) to
    /// `members`. Every member has an entry, possibly empty.
    pub fn assign(
        self,
        members: &[MemberSubscription],
        partition_counts: &BTreeMap<String, i32>,
    ) -> GroupAssignment {
        let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
        sorted.sort_by(|a, b| member_order(a, b));
        let mut out: GroupAssignment = members
            .iter()
            .map(|m| (m.member_id.clone(), TopicPartitions::new()))
            .collect();
        match self {
            Assignor::Range => range(&sorted, partition_counts, &mut out),
            Assignor::RoundRobin => round_robin(&sorted, partition_counts, &mut out),
        }
        out.values_mut()
            .for_each(|topics| topics.retain(|_, p| !p.is_empty()));
        out
    }
}

fn subscribes(member: &MemberSubscription, topic: &str) -> bool {
    member.subscription.topics.iter().any(|t| t == topic)
}

fn give(out: &mut GroupAssignment, member: &str, topic: &str, partitions: &[i32]) {
    if let Some(topics) = out.get_mut(member) {
        topics
            .entry(topic.to_string())
            .or_default()
            .extend_from_slice(partitions);
    }
}

/// Kafka's RangeAssignor: for each topic, its sorted subscribers get
/// consecutive ranges; the first `count % subscribers` get one extra.
fn range(
    sorted: &[&MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
    out: &mut GroupAssignment,
) {
    for (topic, &count) in partition_counts {
        let subscribers: Vec<&&MemberSubscription> =
            sorted.iter().filter(|m| subscribes(m, topic)).collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (per_member, with_extra) = (count / n, count % n);
        for (i, member) in subscribers.iter().enumerate() {
            let i = i as i32;
            let start = per_member * i + i.min(with_extra);
            let len = per_member + i32::from(i < with_extra);
            let partitions: Vec<i32> = (start..start + len).collect();
            give(out, &member.member_id, topic, &partitions);
        }
    }
}

/// Kafka's RoundRobinAssignor: every partition of every subscribed topic
/// (topics sorted, partitions in order) goes to the next sorted member, in a
/// circle, skipping members not subscribed to its topic.
fn round_robin(
    sorted: &[&MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
    out: &mut GroupAssignment,
) {
    if sorted.is_empty() {
        return;
    }
    let mut next = 0usize;
    for (topic, &count) in partition_counts {
        if !sorted.iter().any(|m| subscribes(m, topic)) {
            continue;
        }
        for partition in 0..count.max(0) {
            while !subscribes(sorted[next % sorted.len()], topic) {
                next += 1;
            }
            give(
                out,
                &sorted[next % sorted.len()].member_id,
                topic,
                &[partition],
            );
            next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        MemberSubscription {
            member_id: id.to_string(),
            instance_id: None,
            subscription: Subscription::new(&topics),
        }
    }

    fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|&(t, n)| (t.to_string(), n)).collect()
    }

    fn parts(list: &[(&str, &[i32])]) -> TopicPartitions {
        list.iter()
            .map(|&(t, p)| (t.to_string(), p.to_vec()))
            .collect()
    }

    // Expected outputs below are those of Kafka's RangeAssignorTest and
    // RoundRobinAssignorTest.

    #[test]
    fn range_two_consumers_two_topics_six_partitions() {
        let members = [
            member("consumer1", &["t1", "t2"]),
            member("consumer2", &["t1", "t2"]),
        ];
        let a = Assignor::Range.assign(&members, &counts(&[("t1", 3), ("t2", 3)]));
        assert_eq!(a["consumer1"], parts(&[("t1", &[0, 1]), ("t2", &[0, 1])]));
        assert_eq!(a["consumer2"], parts(&[("t1", &[2]), ("t2", &[2])]));
    }

    #[test]
    fn range_only_assigns_to_subscribers_and_handles_more_members_than_partitions() {
        let members = [
            member("c1", &["t1"]),
            member("c2", &["t1", "t2"]),
            member("c3", &["t1"]),
        ];
        let a = Assignor::Range.assign(&members, &counts(&[("t1", 2), ("t2", 3)]));
        assert_eq!(a["c1"], parts(&[("t1", &[0])]));
        assert_eq!(a["c2"], parts(&[("t1", &[1]), ("t2", &[0, 1, 2])]));
        assert_eq!(a["c3"], TopicPartitions::new());
    }

    #[test]
    fn range_six_partitions_three_members() {
        let members = [
            member("b", &["t"]),
            member("c", &["t"]),
            member("a", &["t"]),
        ];
        let a = Assignor::Range.assign(&members, &counts(&[("t", 7)]));
        assert_eq!(a["a"], parts(&[("t", &[0, 1, 2])]));
        assert_eq!(a["b"], parts(&[("t", &[3, 4])]));
        assert_eq!(a["c"], parts(&[("t", &[5, 6])]));
    }

    #[test]
    fn round_robin_two_consumers_two_topics_six_partitions() {
        let members = [
            member("consumer1", &["t1", "t2"]),
            member("consumer2", &["t1", "t2"]),
        ];
        let a = Assignor::RoundRobin.assign(&members, &counts(&[("t1", 3), ("t2", 3)]));
        assert_eq!(a["consumer1"], parts(&[("t1", &[0, 2]), ("t2", &[1])]));
        assert_eq!(a["consumer2"], parts(&[("t1", &[1]), ("t2", &[0, 2])]));
    }

    #[test]
    fn round_robin_multiple_consumers_mixed_topics() {
        // Kafka's testMultipleConsumersMixedTopics: t1 (3) to all three,
        // t2 (2) only to consumer2.
        let members = [
            member("consumer1", &["t1"]),
            member("consumer2", &["t1", "t2"]),
            member("consumer3", &["t1"]),
        ];
        let a = Assignor::RoundRobin.assign(&members, &counts(&[("t1", 3), ("t2", 2)]));
        assert_eq!(a["consumer1"], parts(&[("t1", &[0])]));
        assert_eq!(a["consumer2"], parts(&[("t1", &[1]), ("t2", &[0, 1])]));
        assert_eq!(a["consumer3"], parts(&[("t1", &[2])]));
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut z = member("a-dynamic", &["t"]);
        z.instance_id = None;
        let mut s1 = member("z-member", &["t"]);
        s1.instance_id = Some("instance-1".into());
        let mut s2 = member("y-member", &["t"]);
        s2.instance_id = Some("instance-2".into());
        let a = Assignor::RoundRobin.assign(&[z, s2, s1], &counts(&[("t", 3)]));
        assert_eq!(a["z-member"], parts(&[("t", &[0])]));
        assert_eq!(a["y-member"], parts(&[("t", &[1])]));
        assert_eq!(a["a-dynamic"], parts(&[("t", &[2])]));
    }

    #[test]
    fn every_partition_exactly_once() {
        let members: Vec<MemberSubscription> = (0..4)
            .map(|i| member(&format!("m{i}"), &["a", "b", "c"]))
            .collect();
        let topics = counts(&[("a", 6), ("b", 1), ("c", 13), ("unsubscribed", 4)]);
        for assignor in Assignor::ALL {
            let a = assignor.assign(&members, &topics);
            let mut seen: Vec<(String, i32)> = a
                .values()
                .flat_map(|t| {
                    t.iter()
                        .flat_map(|(n, p)| p.iter().map(|&p| (n.clone(), p)))
                })
                .collect();
            seen.sort();
            let mut expected: Vec<(String, i32)> = ["a", "b", "c"]
                .iter()
                .flat_map(|&t| (0..topics[t]).map(move |p| (t.to_string(), p)))
                .collect();
            expected.sort();
            assert_eq!(seen, expected, "{assignor:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(Assignor::from_name("range"), Some(Assignor::Range));
        assert_eq!(
            Assignor::from_name("roundrobin"),
            Some(Assignor::RoundRobin)
        );
        assert_eq!(Assignor::from_name("cooperative-sticky"), None);
    }
}
