//! Direct mode: the client subcommands working on a data directory through
//! the log engine, with no broker.

use super::backend::{NewTopic, PartitionState, TopicDescription, TopicListing, TopicStore};
use super::connect::Access;
use crate::log::partition_log::ReadSlice;
use crate::log::producer_state::{decode_snapshot, list_snapshots, snapshot_file};
use crate::log::{DataDir, Log, LogError};
use crate::record::{BatchHeader, batch};
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Appended bytes after which a long produce starts writeback of a log (the
/// fdatasync that makes the records durable happens at the end).
const WRITEBACK_EVERY_BYTES: u64 = 32 * 1024 * 1024;

/// What a fetch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Whole batches were put in the buffer, the first one holding the offset asked for.
    Batches,
    /// Nothing at that offset yet (the log end).
    AtEnd,
    /// The offset is outside the log; `start` and `end` are its bounds.
    OutOfRange {
        /// Log start offset.
        start: i64,
        /// Log end offset.
        end: i64,
    },
}

/// A data directory opened for the client subcommands.
pub struct DirectBackend {
    dir: DataDir,
    logs: BTreeMap<(String, i32), Log>,
    unwritten_bytes: u64,
    /// Open transactions of read-only logs, by partition.
    open_txns: BTreeMap<(String, i32), OpenTransactions>,
}

/// The open transactions of a partition read without a lock: a read-only
/// [`Log`] keeps no producer state, so its last stable offset is found as
/// the log loader finds it: the newest producer snapshot, then the batch
/// headers after it (kept up to date as the writer appends).
#[derive(Debug, Default)]
struct OpenTransactions {
    /// Producer id → first offset of its open transaction.
    first_offsets: HashMap<i64, i64>,
    /// Offset up to which the log was looked at.
    scanned_to: Option<i64>,
}

impl OpenTransactions {
    /// Starts from the newest readable snapshot within `[start, end]`, read
    /// only (a reader deletes no stray snapshot, unlike the loader).
    fn load(dir: &Path, start: i64, end: i64) -> Self {
        let snapshots = list_snapshots(dir).unwrap_or_default();
        for &offset in snapshots.iter().rev() {
            if offset > end || offset < start {
                continue;
            }
            let entries = std::fs::read(snapshot_file(dir, offset))
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode_snapshot(&bytes));
            if let Ok(entries) = entries {
                return OpenTransactions {
                    first_offsets: entries
                        .iter()
                        .filter_map(|e| e.current_txn_first_offset.map(|o| (e.producer_id, o)))
                        .collect(),
                    scanned_to: Some(offset),
                };
            }
        }
        OpenTransactions {
            first_offsets: HashMap::new(),
            scanned_to: Some(start),
        }
    }

    /// Follows one batch: a transactional batch opens its producer's
    /// transaction, a control batch (marker) closes it.
    fn replay(&mut self, header: &BatchHeader) {
        if header.producer_id >= 0 && header.is_transactional() {
            if header.is_control() {
                self.first_offsets.remove(&header.producer_id);
            } else {
                self.first_offsets
                    .entry(header.producer_id)
                    .or_insert(header.base_offset);
            }
        }
        self.scanned_to = Some(header.last_offset() + 1);
    }
}

impl DirectBackend {
    /// Opens the data directory: for writing (locked; created if missing)
    /// or for reading (no lock, so it works next to a running writer).
    pub fn open(path: &Path, access: Access) -> anyhow::Result<Self> {
        let dir = match access {
            Access::Create => DataDir::open(path, true)?,
            Access::Write => DataDir::open(path, false)?,
            Access::Read => DataDir::open_read_only(path)?,
        };
        Ok(DirectBackend {
            dir,
            logs: BTreeMap::new(),
            unwritten_bytes: 0,
            open_txns: BTreeMap::new(),
        })
    }

    /// The data directory (e.g. for the consumer groups it keeps).
    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    /// The open log of a partition, opened on first use (read-only unless
    /// writing); `None` for a partition never written to, when reading.
    fn log(&mut self, topic: &str, partition: i32) -> anyhow::Result<Option<&mut Log>> {
        let key = (topic.to_string(), partition);
        if !self.logs.contains_key(&key) {
            if self.dir.is_read_only() {
                // A reader sees a partition without segments as empty (a writer
                // creates the first segment when it opens the log).
                let meta = self.dir.topic(topic)?;
                if partition < 0 || partition >= meta.partitions {
                    return Err(LogError::UnknownPartition {
                        topic: topic.to_string(),
                        partition,
                    }
                    .into());
                }
                if !has_segments(&self.dir.partition_dir(topic, partition)) {
                    return Ok(None);
                }
            }
            let log = self.dir.open_log(topic, partition)?;
            self.logs.insert(key.clone(), log);
        }
        Ok(self.logs.get_mut(&key))
    }

    /// The log of a partition for writing (opened on first use).
    fn writable_log(&mut self, topic: &str, partition: i32) -> anyhow::Result<&mut Log> {
        self.log(topic, partition)?.ok_or_else(|| {
            anyhow::anyhow!("partition {partition} of topic '{topic}' has no log to write to")
        })
    }

    /// Closes every log and then the data directory (a clean stop: the next
    /// writer needs no recovery).
    pub fn close(self) -> anyhow::Result<()> {
        for ((topic, partition), log) in self.logs {
            log.close().with_context(|| {
                format!("cannot close partition {partition} of topic '{topic}'")
            })?;
        }
        self.dir.close()?;
        Ok(())
    }

    /// Appends one batch (the log assigns its offsets).
    pub fn append(&mut self, topic: &str, partition: i32, batch: Vec<u8>) -> anyhow::Result<()> {
        let unwritten = self.unwritten_bytes + batch.len() as u64;
        let log = self.writable_log(topic, partition)?;
        log.append(&batch).with_context(|| {
            format!("cannot append to partition {partition} of topic '{topic}'")
        })?;
        if unwritten >= WRITEBACK_EVERY_BYTES {
            // Start writeback early so dirty pages do not pile up and the
            // final fdatasync (the durability point) has little left to do.
            log.start_writeback()?;
            self.unwritten_bytes = 0;
        } else {
            self.unwritten_bytes = unwritten;
        }
        Ok(())
    }

    /// fdatasyncs every log written to.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if !self.dir.is_read_only() {
            for ((topic, partition), log) in &mut self.logs {
                log.flush().with_context(|| {
                    format!("cannot sync partition {partition} of topic '{topic}'")
                })?;
            }
        }
        self.unwritten_bytes = 0;
        Ok(())
    }

    /// Log start and end offsets (a reader sees what was written since it opened).
    pub fn offsets(&mut self, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
        let read_only = self.dir.is_read_only();
        let Some(log) = self.log(topic, partition)? else {
            return Ok((0, 0));
        };
        if read_only {
            log.refresh()?;
        }
        Ok((log.log_start_offset(), log.log_end_offset()))
    }

    /// The last stable offset: the first offset of the oldest transaction
    /// still open, else the log end offset (where read_committed stops).
    pub fn last_stable_offset(&mut self, topic: &str, partition: i32) -> anyhow::Result<i64> {
        let read_only = self.dir.is_read_only();
        let dir = self.dir.partition_dir(topic, partition);
        let key = (topic.to_string(), partition);
        let cached = self.open_txns.remove(&key);
        let Some(log) = self.log(topic, partition)? else {
            return Ok(0);
        };
        if !read_only {
            return Ok(log.last_stable_offset());
        }
        log.refresh()?;
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        let mut txns = cached.unwrap_or_else(|| OpenTransactions::load(&dir, start, end));
        while let Some(from) = txns.scanned_to.filter(|&o| o < end) {
            let slice = match read_slice(log, from.max(start), SCAN_BYTES)? {
                Ok(Some(slice)) => slice,
                Ok(None) => break,
                Err((start, _)) => {
                    txns.scanned_to = Some(start);
                    continue;
                }
            };
            let before = txns.scanned_to;
            scan_headers(&slice, |header| {
                if header.last_offset() >= from {
                    txns.replay(header);
                }
            })
            .with_context(|| format!("cannot read partition {partition} of topic '{topic}'"))?;
            if txns.scanned_to == before {
                break;
            }
        }
        let lso = txns
            .first_offsets
            .values()
            .copied()
            .min()
            .map_or(end, |o| o.max(start).min(end));
        self.open_txns.insert(key, txns);
        Ok(lso)
    }

    /// The aborted transactions overlapping `[start, upper)`, from the
    /// `.txnindex` files, as a read_committed Fetch returns them.
    pub fn aborted_transactions(
        &mut self,
        topic: &str,
        partition: i32,
        start: i64,
        upper: i64,
    ) -> anyhow::Result<Vec<crate::client::completed_fetch::AbortedTxn>> {
        let Some(log) = self.log(topic, partition)? else {
            return Ok(Vec::new());
        };
        Ok(log
            .aborted_transactions(start, upper)?
            .into_iter()
            .map(|a| crate::client::completed_fetch::AbortedTxn {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
            })
            .collect())
    }

    /// The first offset at or after `timestamp`.
    pub fn offset_for_timestamp(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> anyhow::Result<Option<i64>> {
        match self.log(topic, partition)? {
            Some(log) => Ok(log
                .offset_for_timestamp(timestamp)?
                .map(|(offset, _)| offset)),
            None => Ok(None),
        }
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
        let read_only = self.dir.is_read_only();
        buf.clear();
        let Some(log) = self.log(topic, partition)? else {
            return Ok(Fetched::AtEnd);
        };
        let mut slice = read_slice(log, offset, max_bytes)?;
        if matches!(slice, Ok(None)) && read_only {
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

impl TopicStore for DirectBackend {
    /// Creates a topic (one replica: a data directory has no others).
    fn create_topic(&mut self, topic: &NewTopic) -> anyhow::Result<()> {
        if let Some(rf) = topic.replication_factor
            && rf != 1
        {
            anyhow::bail!(
                "replication factor {rf} is impossible in a data directory (it has one replica)"
            );
        }
        self.dir
            .create_topic(&topic.name, topic.partitions.unwrap_or(1), &topic.configs)?;
        Ok(())
    }

    /// Lists topics.
    fn list_topics(&mut self) -> anyhow::Result<Vec<TopicListing>> {
        Ok(self
            .dir
            .topics()?
            .into_iter()
            .map(|meta| TopicListing {
                name: meta.name,
                partitions: meta.partitions,
            })
            .collect())
    }

    /// Describes a topic: every partition's offsets, size and segment count.
    fn describe_topic(&mut self, name: &str) -> anyhow::Result<TopicDescription> {
        let meta = self.dir.topic(name)?;
        let mut partitions = Vec::with_capacity(meta.partitions as usize);
        for partition in 0..meta.partitions {
            partitions.push(match self.log(name, partition)? {
                Some(log) => PartitionState {
                    partition,
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    size_bytes: Some(log.size_bytes()),
                    segments: Some(log.segment_count() as u64),
                    offline: false,
                },
                None => PartitionState {
                    partition,
                    log_start_offset: 0,
                    log_end_offset: 0,
                    size_bytes: Some(0),
                    segments: Some(0),
                    offline: false,
                },
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
    fn alter_topic(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> anyhow::Result<()> {
        self.dir.alter_topic_config(name, set, delete)?;
        Ok(())
    }

    /// Deletes a topic and its partition directories.
    fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        let open: Vec<(String, i32)> = self
            .logs
            .keys()
            .filter(|(topic, _)| topic == name)
            .cloned()
            .collect();
        for key in open {
            if let Some(log) = self.logs.remove(&key) {
                log.close()?;
            }
        }
        self.dir.delete_topic(name)?;
        Ok(())
    }

    /// Number of partitions of a topic.
    fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32> {
        Ok(self.dir.topic(topic)?.partitions)
    }

    /// The topic's `max.message.bytes`.
    fn max_batch_bytes(&mut self, topic: &str) -> anyhow::Result<Option<usize>> {
        Ok(Some(self.dir.log_config(topic)?.max_message_bytes))
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

/// Bytes of whole batches looked at per step of the open transactions' scan.
const SCAN_BYTES: usize = 256 * 1024 * 1024;

/// Calls `f` with the header of every v2 batch in `slice`, reading only the
/// headers (a window of 64 KiB at a time), so following the open
/// transactions costs little next to reading the records.
fn scan_headers(slice: &ReadSlice, mut f: impl FnMut(&BatchHeader)) -> std::io::Result<()> {
    const WINDOW: usize = 64 * 1024;
    let end = slice.position + slice.len as u64;
    let mut window = vec![0u8; WINDOW];
    let (mut window_at, mut window_len) = (0u64, 0usize);
    let mut pos = slice.position;
    while pos + batch::HEADER_SIZE as u64 <= end {
        let inside =
            pos >= window_at && pos + batch::HEADER_SIZE as u64 <= window_at + window_len as u64;
        if !inside {
            window_len = WINDOW.min((end - pos) as usize);
            slice.file.read_exact_at(&mut window[..window_len], pos)?;
            window_at = pos;
        }
        let at = (pos - window_at) as usize;
        let bytes = &window[at..at + batch::HEADER_SIZE];
        let length = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if length <= 0 {
            break;
        }
        // Legacy message sets (magic 0/1) hold no transactions.
        if let Ok(header) = BatchHeader::parse(bytes) {
            f(&header);
        }
        pos += batch::LOG_OVERHEAD as u64 + length as u64;
    }
    Ok(())
}

/// Whether a partition directory holds any `.log` segment.
fn has_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|ext| ext == "log"))
    })
}
