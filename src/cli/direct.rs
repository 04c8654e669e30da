//! Direct mode: the client subcommands working on a data directory through
//! the log engine, with no broker.

use super::backend::{Fetched, NewTopic, PartitionState, TopicDescription, TopicListing};
use super::connect::Access;
use crate::log::{DataDir, Log, LogError};
use anyhow::Context;
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Appended bytes after which a long produce fdatasyncs, so dirty pages never
/// pile up (the last sync happens at the end anyway).
const SYNC_EVERY_BYTES: u64 = 256 * 1024 * 1024;

/// A data directory opened for the client subcommands.
pub struct DirectBackend {
    dir: DataDir,
    access: Access,
    logs: BTreeMap<(String, i32), Log>,
    unsynced_bytes: u64,
}

impl DirectBackend {
    /// Opens the data directory: for writing (locked; created if missing)
    /// or for reading (no lock, so it works next to a running writer).
    pub fn open(path: &Path, access: Access) -> anyhow::Result<Self> {
        let dir = match access {
            Access::Write => DataDir::open(path)?,
            Access::Read => {
                if !path.is_dir() {
                    anyhow::bail!("data directory {} does not exist", path.display());
                }
                DataDir::open_read_only(path)?
            }
        };
        Ok(DirectBackend {
            dir,
            access,
            logs: BTreeMap::new(),
            unsynced_bytes: 0,
        })
    }

    /// The open log of a partition, opened on first use (read-only unless writing).
    fn log(&mut self, topic: &str, partition: i32) -> anyhow::Result<&mut Log> {
        let key = (topic.to_string(), partition);
        if !self.logs.contains_key(&key) {
            let meta = self.dir.topic(topic)?;
            if partition < 0 || partition >= meta.partitions {
                return Err(LogError::UnknownPartition {
                    topic: topic.to_string(),
                    partition,
                }
                .into());
            }
            let config = self.dir.log_config(topic)?;
            let path = self.dir.partition_dir(topic, partition);
            let log = match self.access {
                Access::Write => {
                    let (log, report) = Log::open(&path, config, true)?;
                    if let Some(file) = &report.truncated_file {
                        eprintln!(
                            "runnel: recovered {}: cut {} bytes at byte {}",
                            file.display(),
                            report.bytes_removed,
                            report.position
                        );
                    }
                    log
                }
                Access::Read => Log::open_read_only(&path, config)?,
            };
            self.logs.insert(key.clone(), log);
        }
        Ok(self.logs.get_mut(&key).expect("inserted above"))
    }

    /// Creates a topic (one replica: a data directory has no others).
    pub fn create_topic(&mut self, topic: &NewTopic) -> anyhow::Result<()> {
        if let Some(rf) = topic.replication_factor
            && rf != 1
        {
            anyhow::bail!(
                "replication factor {rf} is impossible in a data directory (it has one replica)"
            );
        }
        self.dir.create_topic(
            &topic.name,
            topic.partitions.unwrap_or(1),
            topic.configs.clone(),
        )?;
        Ok(())
    }

    /// Lists topics, sorted by name.
    pub fn list_topics(&mut self) -> anyhow::Result<Vec<TopicListing>> {
        let mut topics: Vec<TopicListing> = self
            .dir
            .topics()?
            .into_iter()
            .map(|meta| TopicListing {
                name: meta.name,
                partitions: meta.partitions,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Describes a topic: every partition's offsets, size and segment count.
    pub fn describe_topic(&mut self, name: &str) -> anyhow::Result<TopicDescription> {
        let meta = self.dir.topic(name)?;
        let mut partitions = Vec::with_capacity(meta.partitions as usize);
        for partition in 0..meta.partitions {
            let log = self.log(name, partition)?;
            partitions.push(PartitionState {
                partition,
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
                size_bytes: Some(log.size_bytes()),
                segments: Some(log.segment_count() as u64),
            });
        }
        Ok(TopicDescription {
            name: meta.name,
            id: Some(meta.id.to_string()),
            partitions,
            configs: meta.configs,
        })
    }

    /// Sets and removes topic configs.
    pub fn alter_topic(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> anyhow::Result<()> {
        self.dir.alter_topic_configs(name, set, delete)?;
        Ok(())
    }

    /// Deletes a topic and its partition directories.
    pub fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        self.logs.retain(|(topic, _), _| topic != name);
        self.dir.delete_topic(name)?;
        Ok(())
    }

    /// Number of partitions of a topic.
    pub fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32> {
        Ok(self.dir.topic(topic)?.partitions)
    }

    /// The topic's `max.message.bytes`.
    pub fn max_batch_bytes(&mut self, topic: &str) -> anyhow::Result<Option<usize>> {
        Ok(Some(self.dir.log_config(topic)?.max_message_bytes))
    }

    /// Appends one batch (the log assigns its offsets).
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        mut batch: Vec<u8>,
    ) -> anyhow::Result<()> {
        let log = self.log(topic, partition)?;
        log.append(&mut batch).with_context(|| {
            format!("cannot append to partition {partition} of topic '{topic}'")
        })?;
        self.unsynced_bytes += batch.len() as u64;
        if self.unsynced_bytes >= SYNC_EVERY_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// fdatasyncs every log written to.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if self.access == Access::Write {
            for ((topic, partition), log) in &mut self.logs {
                log.flush().with_context(|| {
                    format!("cannot sync partition {partition} of topic '{topic}'")
                })?;
            }
        }
        self.unsynced_bytes = 0;
        Ok(())
    }

    /// Log start and end offsets (a reader sees what was written since it opened).
    pub fn offsets(&mut self, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
        let access = self.access;
        let log = self.log(topic, partition)?;
        if access == Access::Read {
            log.refresh()?;
        }
        Ok((log.log_start_offset(), log.log_end_offset()))
    }

    /// The first offset at or after `timestamp`.
    pub fn offset_for_timestamp(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> anyhow::Result<Option<i64>> {
        let log = self.log(topic, partition)?;
        Ok(log
            .offset_for_timestamp(timestamp)?
            .map(|(offset, _)| offset))
    }

    /// Reads whole batches from the one holding `offset` into `buf`; at the
    /// log end, looks once for what a concurrent writer appended since.
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        buf: &mut Vec<u8>,
    ) -> anyhow::Result<Fetched> {
        let access = self.access;
        let log = self.log(topic, partition)?;
        buf.clear();
        let mut slice = read_slice(log, offset, max_bytes)?;
        if matches!(slice, Ok(None)) && access == Access::Read {
            log.refresh()?;
            slice = read_slice(log, offset, max_bytes)?;
        }
        match slice {
            Ok(Some(slice)) => {
                buf.resize(slice.len, 0);
                slice
                    .file
                    .read_exact_at(buf, slice.position)
                    .with_context(|| {
                        format!(
                            "cannot read {} bytes at byte {} of partition {partition} of topic '{topic}'",
                            slice.len, slice.position
                        )
                    })?;
                Ok(Fetched::Batches)
            }
            Ok(None) => Ok(Fetched::AtEnd),
            Err((start, end)) => Ok(Fetched::OutOfRange { start, end }),
        }
    }
}

/// `Log::read`, with an out-of-range offset as `Err((start, end))`.
#[allow(clippy::type_complexity)]
fn read_slice(
    log: &Log,
    offset: i64,
    max_bytes: usize,
) -> anyhow::Result<Result<Option<crate::log::ReadSlice>, (i64, i64)>> {
    match log.read(offset, max_bytes, true) {
        Ok(slice) => Ok(Ok(slice)),
        Err(LogError::OffsetOutOfRange { start, end, .. }) => Ok(Err((start, end))),
        Err(e) => Err(e.into()),
    }
}
