//! [`OffsetsStore`] on the log engine: the partitions of `__consumer_offsets`
//! are ordinary [`Log`]s (the broker's own handles, so Fetch, retention and
//! the log cleaner see the same topic); appends are made durable through
//! the shared [`GroupCommit`].

use super::store::{Durable, LoadedEntry, OFFSETS_TOPIC, OffsetsStore, StoreError, StoredRecord};
use crate::log::{DataDir, GroupCommit, Log, LogError};
use crate::record::{BatchBuilder, Compression, decode::decode_batch_bytes};
use bytes::Bytes;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes read per step while loading a partition.
const LOAD_CHUNK_BYTES: usize = 1 << 20;

/// Access to one partition's [`Log`] behind whatever lock its owner keeps
/// it in (a `Mutex<Log>`, or the broker's partition handle).
pub trait LogHandle: Send + Sync {
    /// Locks the log.
    fn lock_log(&self) -> MutexGuard<'_, Log>;
}

impl LogHandle for Mutex<Log> {
    fn lock_log(&self) -> MutexGuard<'_, Log> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The partitions of `__consumer_offsets` on the log engine.
pub struct LogStore {
    partitions: Vec<Arc<dyn LogHandle>>,
    group_commit: Arc<GroupCommit>,
}

impl LogStore {
    /// A store over the logs of partitions `0..logs.len()` of
    /// `__consumer_offsets` (opened by the caller, topic created with
    /// `cleanup.policy=compact`), syncing through `group_commit`.
    pub fn new(partitions: Vec<Arc<dyn LogHandle>>, group_commit: Arc<GroupCommit>) -> Self {
        LogStore {
            partitions,
            group_commit,
        }
    }

    /// Opens `__consumer_offsets` in `data_dir`, creating it first if
    /// missing with `partitions` partitions (`offsets.topic.num.partitions`)
    /// and Kafka's configs for it (`cleanup.policy=compact`,
    /// `segment.bytes=104857600`). An existing topic keeps its partition count.
    pub fn open(
        data_dir: &DataDir,
        partitions: i32,
        group_commit: Arc<GroupCommit>,
    ) -> Result<LogStore, StoreError> {
        let configs = [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "104857600"),
        ];
        Self::open_topic(data_dir, OFFSETS_TOPIC, partitions, &configs, group_commit)
    }

    /// Opens the internal compacted topic `topic` in `data_dir` (also
    /// `__transaction_state`), creating it first if missing with
    /// `partitions` partitions and the topic `configs`. An existing topic
    /// keeps its partition count and configs.
    pub fn open_topic(
        data_dir: &DataDir,
        topic: &str,
        partitions: i32,
        configs: &[(&str, &str)],
        group_commit: Arc<GroupCommit>,
    ) -> Result<LogStore, StoreError> {
        let meta = match data_dir.topic(topic) {
            Ok(meta) => meta,
            Err(LogError::UnknownTopic(_)) => {
                let configs = configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                data_dir
                    .create_topic(topic, partitions, &configs)
                    .map_err(|e| StoreError(e.to_string()))?
            }
            Err(e) => return Err(StoreError(e.to_string())),
        };
        let logs = (0..meta.partitions)
            .map(|p| {
                data_dir
                    .open_log(topic, p)
                    .map(|log| Arc::new(Mutex::new(log)) as Arc<dyn LogHandle>)
                    .map_err(|e| err(p, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LogStore::new(logs, group_commit))
    }

    /// The partition logs (for the broker's Fetch, retention and cleaner).
    pub fn logs(&self) -> &[Arc<dyn LogHandle>] {
        &self.partitions
    }

    fn log(&self, partition: i32) -> Result<MutexGuard<'_, Log>, StoreError> {
        let log = usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
            .ok_or_else(|| StoreError(format!("no partition {partition}")))?;
        Ok(log.lock_log())
    }
}

impl LogStore {
    /// Appends `batch` under the held lock; the future completes once it is
    /// fsynced (through the group commit).
    fn append_durably(
        &self,
        partition: i32,
        mut log: MutexGuard<'_, Log>,
        batch: &[u8],
    ) -> Result<Durable, StoreError> {
        log.append(batch).map_err(|e| err(partition, e))?;
        let (file, durable_offset) = log.sync_target();
        drop(log);
        let synced = self.group_commit.sync(vec![file]);
        let log = Arc::clone(&self.partitions[partition as usize]);
        Ok(Box::pin(async move {
            match synced.await {
                Ok(Ok(())) => {
                    log.lock_log().mark_flushed(durable_offset);
                    Ok(())
                }
                Ok(Err(e)) => Err(err(partition, e)),
                Err(_) => Err(err(partition, "group commit stopped")),
            }
        }))
    }
}

fn err(partition: i32, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("partition {partition}: {e}"))
}

impl OffsetsStore for LogStore {
    fn partitions(&self) -> i32 {
        self.partitions.len() as i32
    }

    fn load(&self, partition: i32) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(self
            .load_entries(partition)?
            .into_iter()
            .filter_map(|e| match e {
                LoadedEntry::Record { record, .. } => Some(record),
                LoadedEntry::Marker { .. } => None,
            })
            .collect())
    }

    fn load_entries(&self, partition: i32) -> Result<Vec<LoadedEntry>, StoreError> {
        let log = self.log(partition)?;
        let mut entries = Vec::new();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let Some(slice) = log
                .read(offset, LOAD_CHUNK_BYTES, true)
                .map_err(|e| err(partition, e))?
            else {
                break;
            };
            let mut buf = vec![0u8; slice.len];
            slice
                .file
                .read_exact_at(&mut buf, slice.position)
                .map_err(|e| err(partition, e))?;
            let buf = Bytes::from(buf);
            let mut pos = 0;
            let mut next = offset;
            for (header, batch) in crate::record::batch::BatchIter::new(&buf) {
                pos += batch.len();
                next = header.last_offset() + 1;
                let batch = buf.slice(pos - batch.len()..pos);
                let records = decode_batch_bytes(&batch).map_err(|e| err(partition, e))?;
                if header.is_control() {
                    // A control record's key: version (int16), type (int16: 0 abort, 1 commit).
                    if let Some(key) = records.first().and_then(|r| r.key.as_ref())
                        && key.len() >= 4
                        && header.last_offset() >= offset
                    {
                        entries.push(LoadedEntry::Marker {
                            producer_id: header.producer_id,
                            commit: i16::from_be_bytes([key[2], key[3]]) == 1,
                        });
                    }
                    continue;
                }
                let txn_producer = header.is_transactional().then_some(header.producer_id);
                for r in records {
                    if r.offset < offset {
                        continue;
                    }
                    if let Some(key) = r.key {
                        entries.push(LoadedEntry::Record {
                            record: StoredRecord {
                                key,
                                value: r.value,
                            },
                            txn_producer,
                        });
                    }
                }
            }
            if next <= offset {
                return Err(err(
                    partition,
                    format!("no progress reading at offset {offset}"),
                ));
            }
            offset = next;
        }
        Ok(entries)
    }

    fn append(
        &self,
        partition: i32,
        records: &[StoredRecord],
        timestamp_ms: i64,
    ) -> Result<Durable, StoreError> {
        let mut builder = BatchBuilder::new(Compression::None, timestamp_ms);
        for r in records {
            builder.push(timestamp_ms, Some(&r.key), r.value.as_deref(), &[]);
        }
        let batch = builder.finish();
        let log = self.log(partition)?;
        self.append_durably(partition, log, &batch)
    }

    fn append_transactional(
        &self,
        partition: i32,
        records: &[StoredRecord],
        producer_id: i64,
        producer_epoch: i16,
        timestamp_ms: i64,
        guard: &mut dyn FnMut() -> Result<(), i16>,
    ) -> Result<Result<Durable, i16>, StoreError> {
        let log = self.log(partition)?;
        if let Err(code) = guard() {
            return Ok(Err(code));
        }
        // The batch continues the producer's sequence in this partition (as
        // a producer would), so the log's producer state checks pass; a new
        // epoch starts at 0.
        let base_sequence = match log.producer_state().last_entry(producer_id) {
            Some(e) if e.producer_epoch == producer_epoch && e.last_seq() >= 0 => {
                crate::log::producer_state::increment_sequence(e.last_seq(), 1)
            }
            _ => 0,
        };
        let mut builder = BatchBuilder::new(Compression::None, timestamp_ms)
            .producer(producer_id, producer_epoch, base_sequence)
            .transactional(true);
        for r in records {
            builder.push(timestamp_ms, Some(&r.key), r.value.as_deref(), &[]);
        }
        let batch = builder.finish();
        self.append_durably(partition, log, &batch).map(Ok)
    }

    fn close(&self) -> Result<(), StoreError> {
        for p in 0..self.partitions() {
            self.log(p)?.flush().map_err(|e| err(p, e))?;
        }
        Ok(())
    }
}
