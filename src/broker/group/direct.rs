//! Consumer group offsets kept in a data directory with no broker running
//! (the CLI's `--data-dir` mode): the same `__consumer_offsets` topic, the
//! same record schemas and the same partitioning by group as the
//! coordinator, so `runnel serve` on that directory later sees the
//! committed offsets (and offsets committed through the broker are read
//! here).
//!
//! Commits are made as Kafka's standalone consumers make them (no member,
//! generation -1): one offset record per partition, durable before
//! [`DirectGroupOffsets::commit`] returns.

use super::coordinator::{load_partition, now_ms, offset_record};
use super::log_store::LogStore;
use super::schema::OffsetValue;
use super::state::{Group, GroupState};
use super::store::{OFFSETS_TOPIC, OffsetsStore, StoreError, partition_for};
use crate::log::{DataDir, GroupCommit, LogError};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::GroupConfig;

/// A group as stored in a data directory's `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type of its last members (`consumer`), "" for groups that
    /// only committed offsets.
    pub protocol_type: String,
    /// State as the coordinator would restore it: `Stable` if the last
    /// generation written had members (a broker that stopped while they
    /// were connected), else `Empty`.
    pub state: String,
    /// The assignor of the last generation, "" if none.
    pub protocol: String,
    /// Member ids of the last generation written, sorted.
    pub members: Vec<String>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), i64>,
}

/// The committed offsets of consumer groups in a data directory, read and
/// written through the log engine without a broker.
pub struct DirectGroupOffsets {
    /// `None` when the directory is read-only and has no `__consumer_offsets`.
    store: Option<LogStore>,
    /// Groups of the partitions loaded so far.
    groups: HashMap<String, Group>,
    /// Which partitions of `__consumer_offsets` are loaded.
    loaded: Vec<bool>,
    /// Keeps the syncer thread the store's appends wait on.
    _group_commit: Arc<GroupCommit>,
}

impl DirectGroupOffsets {
    /// Opens `__consumer_offsets` in `data_dir`. A writable directory gets
    /// the topic created if missing, with the coordinator's settings
    /// (Kafka's default of 50 partitions for `offsets.topic.num.partitions`,
    /// `cleanup.policy=compact`); an existing topic keeps its partition
    /// count. A read-only directory without the topic has no groups.
    ///
    /// Nothing is read yet: each group's partition is loaded on first use.
    pub fn open(data_dir: &DataDir) -> Result<DirectGroupOffsets, StoreError> {
        let group_commit = GroupCommit::start();
        let store = match data_dir.topic(OFFSETS_TOPIC) {
            Err(LogError::UnknownTopic(_)) if data_dir.is_read_only() => None,
            _ => Some(LogStore::open(
                data_dir,
                GroupConfig::default().offsets_topic_num_partitions,
                group_commit.clone(),
            )?),
        };
        let partitions = store.as_ref().map_or(0, |s| s.partitions().max(0) as usize);
        Ok(DirectGroupOffsets {
            store,
            groups: HashMap::new(),
            loaded: vec![false; partitions],
            _group_commit: group_commit,
        })
    }

    /// The committed offsets of `group` for `topic`: partition to offset.
    pub fn committed(
        &mut self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<i32, i64>, StoreError> {
        self.load_group(group)?;
        Ok(self
            .groups
            .get(group)
            .map(|g| {
                g.offsets
                    .iter()
                    .filter(|((t, _), _)| t == topic)
                    .map(|((_, p), v)| (*p, v.offset))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Commits `offsets` (topic, partition, next offset to consume) for
    /// `group` as one batch; returns once they are fsynced.
    pub fn commit(&mut self, group: &str, offsets: &[(&str, i32, i64)]) -> Result<(), StoreError> {
        if offsets.is_empty() {
            return Ok(());
        }
        if let Some((topic, partition, offset)) = offsets.iter().find(|(_, _, o)| *o < 0) {
            return Err(StoreError(format!(
                "cannot commit offset {offset} for partition {partition} of topic '{topic}'"
            )));
        }
        self.load_group(group)?;
        let store = self.store.as_ref().ok_or_else(|| {
            StoreError("the data directory is open read-only; cannot commit".into())
        })?;
        let now = now_ms();
        let values: Vec<(String, i32, OffsetValue)> = offsets
            .iter()
            .map(|(topic, partition, offset)| {
                let value = OffsetValue {
                    offset: *offset,
                    leader_epoch: -1,
                    metadata: String::new(),
                    commit_timestamp: now,
                    expire_timestamp: -1,
                };
                (topic.to_string(), *partition, value)
            })
            .collect();
        let records: Vec<_> = values
            .iter()
            .map(|(t, p, v)| offset_record(group, t, *p, Some(v)))
            .collect();
        let partition = partition_for(group, store.partitions());
        block_on(store.append(partition, &records, now)?)?;
        let entry = self
            .groups
            .entry(group.to_string())
            .or_insert_with(|| Group::new(group, now));
        for (t, p, v) in values {
            entry.offsets.insert((t, p), v);
        }
        Ok(())
    }

    /// Every group with committed offsets or stored metadata, sorted by id.
    pub fn list(&mut self) -> Result<Vec<StoredGroup>, StoreError> {
        for p in 0..self.loaded.len() {
            self.load_partition(p as i32)?;
        }
        let mut groups: Vec<StoredGroup> = self.groups.values().map(stored_group).collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// One group, or `None` if the directory knows nothing of it.
    pub fn describe(&mut self, group: &str) -> Result<Option<StoredGroup>, StoreError> {
        self.load_group(group)?;
        Ok(self.groups.get(group).map(stored_group))
    }

    /// Flushes `__consumer_offsets` (call before closing the data directory,
    /// so the directory is marked cleanly shut down).
    pub fn close(self) -> Result<(), StoreError> {
        match &self.store {
            Some(store) => store.close(),
            None => Ok(()),
        }
    }

    fn load_group(&mut self, group: &str) -> Result<(), StoreError> {
        if self.loaded.is_empty() {
            return Ok(());
        }
        self.load_partition(partition_for(group, self.loaded.len() as i32))
    }

    fn load_partition(&mut self, partition: i32) -> Result<(), StoreError> {
        let (Some(store), Some(loaded)) = (&self.store, self.loaded.get_mut(partition as usize))
        else {
            return Ok(());
        };
        if !*loaded {
            load_partition(&mut self.groups, store.load_entries(partition)?, partition);
            *loaded = true;
        }
        Ok(())
    }
}

fn stored_group(g: &Group) -> StoredGroup {
    let mut members: Vec<String> = g.members.keys().cloned().collect();
    members.sort();
    StoredGroup {
        group_id: g.id.clone(),
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        state: if g.is(GroupState::Empty) || members.is_empty() {
            GroupState::Empty.name().to_string()
        } else {
            g.state.name().to_string()
        },
        protocol: g.protocol.clone().unwrap_or_default(),
        members,
        offsets: g
            .offsets
            .iter()
            .map(|(k, v)| (k.clone(), v.offset))
            .collect(),
    }
}

/// Wakes a thread parked in [`block_on`].
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread (the store's durability
/// future only waits on the syncer thread, so no runtime is needed, and
/// this works inside one too).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(dir: &std::path::Path, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        let data = DataDir::open(dir, false).expect("opens");
        let mut offsets = DirectGroupOffsets::open(&data).expect("offsets open");
        let c = offsets.committed(group, topic).expect("reads");
        offsets.close().expect("closes");
        data.close().expect("dir closes");
        c
    }

    #[test]
    fn commits_survive_reopening() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path(), true).expect("opens");
        let mut offsets = DirectGroupOffsets::open(&data).expect("offsets open");
        assert!(offsets.committed("g", "t").expect("reads").is_empty());
        offsets
            .commit("g", &[("t", 0, 5), ("t", 1, 7), ("u", 0, 1)])
            .expect("commits");
        offsets.commit("g", &[("t", 0, 9)]).expect("commits");
        offsets.commit("other", &[("t", 0, 3)]).expect("commits");
        assert_eq!(
            offsets.committed("g", "t").expect("reads"),
            BTreeMap::from([(0, 9), (1, 7)])
        );
        offsets.close().expect("closes");
        data.close().expect("dir closes");
        assert!(tmp.path().join("__consumer_offsets-49").is_dir());

        assert_eq!(
            committed(tmp.path(), "g", "t"),
            BTreeMap::from([(0, 9), (1, 7)])
        );
        assert_eq!(committed(tmp.path(), "g", "u"), BTreeMap::from([(0, 1)]));
        assert_eq!(
            committed(tmp.path(), "other", "t"),
            BTreeMap::from([(0, 3)])
        );
        assert!(committed(tmp.path(), "nobody", "t").is_empty());

        let ro = DataDir::open_read_only(tmp.path()).expect("opens read-only");
        let mut offsets = DirectGroupOffsets::open(&ro).expect("offsets open");
        let groups = offsets.list().expect("lists");
        let ids: Vec<&str> = groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, ["g", "other"]);
        assert_eq!(groups[0].state, "Empty");
        assert_eq!(groups[0].offsets.get(&("u".to_string(), 0)), Some(&1));
        assert!(offsets.commit("g", &[("t", 0, 1)]).is_err());
    }

    #[test]
    fn read_only_without_the_topic_has_no_groups_and_rejects_bad_offsets() {
        let tmp = tempfile::tempdir().expect("tempdir");
        DataDir::open(tmp.path(), true)
            .expect("opens")
            .close()
            .expect("closes");
        let ro = DataDir::open_read_only(tmp.path()).expect("opens read-only");
        let mut offsets = DirectGroupOffsets::open(&ro).expect("offsets open");
        assert!(offsets.list().expect("lists").is_empty());
        assert_eq!(offsets.describe("g").expect("describes"), None);
        assert!(!tmp.path().join("__consumer_offsets-0").exists());

        let data = DataDir::open(tmp.path(), false).expect("opens");
        let mut offsets = DirectGroupOffsets::open(&data).expect("offsets open");
        let err = offsets.commit("g", &[("t", 0, -1)]).expect_err("refused");
        assert!(err.to_string().contains("offset -1"), "{err}");
    }
}
