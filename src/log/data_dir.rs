//! A data directory: its lock, its topics' metadata files and their partition logs.
//!
//! Layout, as Kafka's log directory: `<topic>-<partition>/` folders of
//! segments, `recovery-point-offset-checkpoint` and
//! `log-start-offset-checkpoint` (Kafka's checkpoint format), the
//! `.kafka_cleanshutdown` marker after a clean stop, producer state
//! snapshots `<offset>.snapshot` beside the segments
//! ([`super::producer_state`]), a `<base offset>.txnindex` beside each
//! segment that holds an abort marker ([`super::txn_index`]), each
//! partition's `leader-epoch-checkpoint` ([`super::leader_epoch`]), the broker's `producer-id-block`
//! ([`crate::broker::producer_id_manager`]), the client quotas in
//! `client-quotas.json` (JSON, written atomically: `.tmp`, fsync, rename;
//! [`crate::broker::quota`]), plus runnel's
//! `<topic>-0/topic.properties` (partitions, topic.id, then the topic's
//! configs) and the `.lock` file naming the process that writes to the
//! directory.
//!
//! The topic's metadata lives inside its partition 0 folder under a fixed
//! name, so every legal topic name (up to 249 characters) fits the 255-byte
//! file name limit: the only name a topic adds to the data directory is its
//! `<topic>-<partition>` folders (at most 249 + 1 + 5 bytes, partition
//! counts being checked against that). None of runnel's own files ends in
//! `-<digits>`, so no topic name can collide with them. Data directories
//! written before kept the metadata in `<data-dir>/<topic>.properties`; that
//! file is still read, and moved into `<topic>-0/` when the directory is
//! opened for writing.
//!
//! Creating a topic is atomic for its users: the partition folders are
//! created first and the metadata file last (the commit point); a failure
//! removes the folders again, and folders without metadata are not a topic.

use super::config::LogConfig;
use super::dir_failure::LogDirFailureChannel;
use super::error::{LogError, Result};
use super::partition_log::{Log, LogOpenOptions, RecoveryReport, sync_dir};
use super::segment::io_err;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Name of the clean-shutdown marker.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Name of the recovery point checkpoint.
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
/// Name of the log start offset checkpoint.
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
/// Name of the lock file.
pub const LOCK_FILE: &str = ".lock";
/// Suffix of the metadata files of data directories written before
/// [`TOPIC_META_FILE`]: `<data-dir>/<topic>.properties`.
const LEGACY_PROPERTIES_SUFFIX: &str = ".properties";
/// Name of a topic's metadata file, in its partition 0 folder.
pub const TOPIC_META_FILE: &str = "topic.properties";
/// Longest file name the file systems runnel runs on take (Linux's NAME_MAX).
const MAX_FILE_NAME: usize = 255;

/// One topic's metadata, kept in `<data-dir>/<topic>-0/topic.properties`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMeta {
    /// Topic name.
    pub name: String,
    /// Topic id (a UUID, as Kafka's).
    pub id: uuid::Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Configs set on the topic (only those set; defaults are not listed).
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct PartitionState {
    recovery_point: i64,
    log_start_offset: i64,
    open: bool,
    clean: bool,
}

type Key = (String, i32);

#[derive(Default)]
struct Checkpoints {
    partitions: BTreeMap<Key, PartitionState>,
    recovered: BTreeSet<Key>,
}

/// A log's link to its data directory's checkpoints.
pub(crate) struct CheckpointHandle {
    shared: Arc<Mutex<Checkpoints>>,
    key: Key,
}

impl CheckpointHandle {
    /// Publishes the log's recovery point and log start offset.
    pub(crate) fn update(&self, recovery_point: i64, log_start_offset: i64) {
        if let Ok(mut c) = self.shared.lock()
            && let Some(p) = c.partitions.get_mut(&self.key)
        {
            p.recovery_point = recovery_point;
            p.log_start_offset = log_start_offset;
        }
    }

    /// The log was closed (`clean`: everything flushed) or dropped.
    pub(crate) fn release(&self, clean: bool) {
        if let Ok(mut c) = self.shared.lock()
            && let Some(p) = c.partitions.get_mut(&self.key)
        {
            p.open = false;
            p.clean = clean;
        }
    }
}

/// An open data directory.
pub struct DataDir {
    path: PathBuf,
    lock: Option<File>,
    clean_start: bool,
    defaults: LogConfig,
    checkpoints: Arc<Mutex<Checkpoints>>,
    meta_lock: Mutex<()>,
    /// Offline state shared with the logs opened here.
    failures: Arc<LogDirFailureChannel>,
}

/// Checks a topic name by Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(LogError::InvalidTopicName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return bad("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Reads a Kafka checkpoint file (`0`, count, then `topic partition offset` lines).
fn read_checkpoint(path: &Path) -> Result<BTreeMap<Key, i64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let corrupt = |position: usize, reason: &str| LogError::Corrupt {
        path: path.to_path_buf(),
        position: position as u64,
        reason: reason.to_string(),
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(corrupt(0, "unknown checkpoint version"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| corrupt(0, "bad entry count"))?;
    let mut map = BTreeMap::new();
    for (i, line) in lines.enumerate().take(count) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            [t, p, o] => match (p.parse(), o.parse()) {
                (Ok(p), Ok(o)) => {
                    map.insert((t.to_string(), p), o);
                }
                _ => return Err(corrupt(i + 2, "bad entry")),
            },
            _ => return Err(corrupt(i + 2, "bad entry")),
        }
    }
    if map.len() != count {
        return Err(corrupt(0, "fewer entries than announced"));
    }
    Ok(map)
}

/// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync dir.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension(match path.extension() {
        Some(e) => format!("{}.tmp", e.to_string_lossy()),
        None => "tmp".to_string(),
    });
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        })
        .and_then(|()| super::fail_points::inject("checkpoint::rename"))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // No `.tmp` left behind (a full disk fails here).
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn write_checkpoint(path: &Path, entries: &BTreeMap<Key, i64>) -> Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for ((t, p), o) in entries {
        text.push_str(&format!("{t} {p} {o}\n"));
    }
    write_atomic(path, text.as_bytes())
}

/// Whether an error means "no such file": missing, or a name too long to
/// exist (a long topic name has no legacy `<topic>.properties`).
fn is_absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENAMETOOLONG)
}

/// Removes `path`; false if it was not there.
fn remove_if_present(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if is_absent(&e) => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads topic `name`'s metadata file at `path`; `None` if it is missing
/// or not a runnel topic file (e.g. Kafka's `meta.properties`).
fn read_meta_file(path: &Path, name: &str) -> Result<Option<TopicMeta>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let corrupt = |line: usize, reason: &str| LogError::Corrupt {
        path: path.to_path_buf(),
        position: line as u64,
        reason: reason.to_string(),
    };
    let (mut partitions, mut id, mut configs) = (None, None, BTreeMap::new());
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| corrupt(i + 1, "expected key=value"))?;
        match k.trim() {
            "partitions" => partitions = v.trim().parse().ok(),
            "topic.id" => id = uuid::Uuid::parse_str(v.trim()).ok(),
            k => {
                configs.insert(k.to_string(), v.trim().to_string());
            }
        }
    }
    let (Some(partitions), Some(id)) = (partitions, id) else {
        return Ok(None);
    };
    Ok(Some(TopicMeta {
        name: name.to_string(),
        id,
        partitions,
        configs,
    }))
}

/// Checks that the folder of the topic's last partition fits a file name
/// (a 249-character topic takes up to 100,000 partitions).
fn check_partition_dir_names(name: &str, partitions: i32) -> Result<()> {
    let last = format!("{name}-{}", partitions.saturating_sub(1));
    if last.len() > MAX_FILE_NAME {
        return Err(LogError::InvalidPartitions(partitions));
    }
    Ok(())
}

fn holder_description() -> String {
    let cmdline = std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "));
    format!("pid {} ({cmdline})", std::process::id())
}

impl DataDir {
    /// Opens a data directory for writing (creating it if `create`), taking
    /// its exclusive lock: a second writer gets [`LogError::Locked`] naming
    /// the holder. Removes the clean-shutdown marker; without one, logs are
    /// recovered from their checkpointed recovery points as they are opened.
    pub fn open(path: &Path, create: bool) -> Result<DataDir> {
        if create {
            std::fs::create_dir_all(path).map_err(io_err(path))?;
        } else if !path.is_dir() {
            return Err(io_err(path)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such data directory",
            )));
        }
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on a valid, open descriptor.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let holder = std::fs::read_to_string(&lock_path)
                    .map(|s| s.trim().to_string())
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "another process".to_string());
                return Err(LogError::Locked {
                    path: path.to_path_buf(),
                    holder,
                });
            }
            return Err(io_err(&lock_path)(err));
        }
        let me = format!("{}\n", holder_description());
        let written = lock
            .set_len(0)
            .and_then(|_| lock.write_all_at(me.as_bytes(), 0));
        match written {
            Ok(()) => {}
            // The holder's name is only for a second writer's error message:
            // a full disk must not stop the broker from starting.
            Err(e) if super::dir_failure::is_out_of_space(&e) => {
                tracing::warn!("{}: cannot write the holder: {e}", lock_path.display());
            }
            Err(e) => return Err(io_err(&lock_path)(e)),
        }
        let marker = path.join(CLEAN_SHUTDOWN_FILE);
        let clean_start = marker.exists();
        if clean_start {
            std::fs::remove_file(&marker).map_err(io_err(&marker))?;
            sync_dir(path)?;
        }
        let dir = DataDir::new(path, Some(lock), clean_start)?;
        dir.migrate_legacy_meta()?;
        if !clean_start && !dir.topics()?.is_empty() {
            tracing::warn!(
                "{}: no clean shutdown marker; logs will be recovered",
                path.display()
            );
        }
        Ok(dir)
    }

    /// Opens a data directory for reading only: no lock, nothing written;
    /// logs are opened read-only.
    pub fn open_read_only(path: &Path) -> Result<DataDir> {
        if !path.is_dir() {
            return Err(io_err(path)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such data directory",
            )));
        }
        DataDir::new(path, None, true)
    }

    fn new(path: &Path, lock: Option<File>, clean_start: bool) -> Result<DataDir> {
        let rps = read_checkpoint(&path.join(RECOVERY_POINT_FILE))?;
        let starts = read_checkpoint(&path.join(LOG_START_FILE))?;
        let mut cps = Checkpoints::default();
        for (k, rp) in rps {
            cps.partitions.entry(k).or_default().recovery_point = rp;
        }
        for (k, s) in starts {
            cps.partitions.entry(k).or_default().log_start_offset = s;
        }
        for p in cps.partitions.values_mut() {
            p.clean = true;
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            lock,
            clean_start,
            defaults: LogConfig::default(),
            checkpoints: Arc::new(Mutex::new(cps)),
            meta_lock: Mutex::new(()),
            failures: LogDirFailureChannel::new(path),
        })
    }

    /// The directory's offline state, shared by its logs (and by the group
    /// commit that syncs them).
    pub fn failure_channel(&self) -> Arc<LogDirFailureChannel> {
        self.failures.clone()
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory was opened without its lock.
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Whether the last writer stopped cleanly (no recovery needed).
    pub fn was_clean_shutdown(&self) -> bool {
        self.clean_start
    }

    /// Sets the broker-level defaults under Kafka's broker config names
    /// (`log.retention.ms`, `log.segment.bytes`, ...; others are ignored).
    pub fn set_broker_config(&mut self, broker: &BTreeMap<String, String>) -> Result<()> {
        self.defaults = LogConfig::from_broker_configs(broker)?;
        Ok(())
    }

    /// The broker-level default config.
    pub fn default_config(&self) -> &LogConfig {
        &self.defaults
    }

    fn check_writable(&self) -> Result<()> {
        if self.lock.is_none() {
            return Err(LogError::ReadOnly(self.path.clone()));
        }
        Ok(())
    }

    /// `<data-dir>/<topic>-0/topic.properties`.
    fn meta_path(&self, topic: &str) -> PathBuf {
        self.partition_dir(topic, 0).join(TOPIC_META_FILE)
    }

    /// `<data-dir>/<topic>.properties`, where data directories written
    /// before kept the metadata.
    fn legacy_meta_path(&self, topic: &str) -> PathBuf {
        self.path.join(format!("{topic}{LEGACY_PROPERTIES_SUFFIX}"))
    }

    /// `<data-dir>/<topic>-<partition>`.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.path.join(format!("{topic}-{partition}"))
    }

    /// Writes the metadata file (atomically), removing a legacy one.
    fn write_meta(&self, meta: &TopicMeta) -> Result<()> {
        let mut text = format!(
            "# runnel topic {}\npartitions={}\ntopic.id={}\n",
            meta.name, meta.partitions, meta.id
        );
        for (k, v) in &meta.configs {
            text.push_str(&format!("{k}={v}\n"));
        }
        write_atomic(&self.meta_path(&meta.name), text.as_bytes())?;
        let legacy = self.legacy_meta_path(&meta.name);
        if remove_if_present(&legacy)? {
            sync_dir(&self.path)?;
        }
        Ok(())
    }

    /// The metadata of topic `name`, from its metadata file or else the
    /// legacy one; `None` if neither is a runnel topic file.
    fn read_meta(&self, name: &str) -> Result<Option<TopicMeta>> {
        if let Some(meta) = read_meta_file(&self.meta_path(name), name)? {
            return Ok(Some(meta));
        }
        read_meta_file(&self.legacy_meta_path(name), name)
    }

    /// Moves legacy `<topic>.properties` files into their topic's
    /// partition 0 folder (a directory written by an older runnel).
    fn migrate_legacy_meta(&self) -> Result<()> {
        for name in self.legacy_topic_names()? {
            if !self.partition_dir(&name, 0).is_dir() {
                continue;
            }
            if let Some(meta) = read_meta_file(&self.legacy_meta_path(&name), &name)? {
                self.write_meta(&meta)?;
                tracing::info!(
                    "{}: moved the metadata of topic {name} into {name}-0/",
                    self.path.display()
                );
            }
        }
        Ok(())
    }

    /// Names of the topics that have a legacy metadata file.
    fn legacy_topic_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(io_err(&self.path))? {
            let entry = entry.map_err(io_err(&self.path))?;
            if let Some(topic) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(LEGACY_PROPERTIES_SUFFIX))
                .filter(|t| validate_topic_name(t).is_ok())
            {
                names.push(topic.to_string());
            }
        }
        Ok(names)
    }

    /// All topics, by name: the `<topic>-0` folders holding a metadata
    /// file, and topics still described by a legacy file.
    pub fn topics(&self) -> Result<Vec<TopicMeta>> {
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(&self.path).map_err(io_err(&self.path))? {
            let entry = entry.map_err(io_err(&self.path))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(topic) = name.strip_suffix("-0")
                && validate_topic_name(topic).is_ok()
                && entry.path().join(TOPIC_META_FILE).exists()
            {
                names.insert(topic.to_string());
            } else if let Some(topic) = name.strip_suffix(LEGACY_PROPERTIES_SUFFIX)
                && validate_topic_name(topic).is_ok()
            {
                names.insert(topic.to_string());
            }
        }
        let mut topics = Vec::new();
        for name in names {
            if let Some(meta) = self.read_meta(&name)? {
                topics.push(meta);
            }
        }
        Ok(topics)
    }

    /// One topic's metadata.
    pub fn topic(&self, name: &str) -> Result<TopicMeta> {
        validate_topic_name(name).map_err(|_| LogError::UnknownTopic(name.to_string()))?;
        self.read_meta(name)?
            .ok_or_else(|| LogError::UnknownTopic(name.to_string()))
    }

    /// The effective config of a topic: broker defaults plus its configs.
    pub fn log_config(&self, name: &str) -> Result<LogConfig> {
        self.defaults.with_topic_configs(&self.topic(name)?.configs)
    }

    fn lock_meta(&self) -> std::sync::MutexGuard<'_, ()> {
        self.meta_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a topic with `partitions` partitions and topic configs.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<TopicMeta> {
        self.check_writable()?;
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(LogError::InvalidPartitions(partitions));
        }
        check_partition_dir_names(name, partitions)?;
        let mut configs = configs.clone();
        for v in configs.values_mut() {
            *v = v.trim().to_string();
        }
        self.defaults.with_topic_configs(&configs)?;
        let _guard = self.lock_meta();
        let existing = self.topics()?;
        if existing.iter().any(|t| t.name == name) {
            return Err(LogError::TopicExists(name.to_string()));
        }
        let collides = |n: &str| n.replace('.', "_");
        if let Some(other) = existing
            .iter()
            .find(|t| collides(&t.name) == collides(name))
        {
            return Err(LogError::InvalidTopicName {
                name: name.to_string(),
                reason: format!(
                    "collides with existing topic '{}' ('.' and '_' are equivalent in metric names)",
                    other.name
                ),
            });
        }
        let meta = TopicMeta {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs,
        };
        self.create_partition_dirs(&meta, 0)?;
        if let Err(e) = self.write_meta(&meta) {
            self.remove_partition_dirs(&meta.name, 0..meta.partitions);
            return Err(e);
        }
        Ok(meta)
    }

    /// Creates empty partition folders `from..meta.partitions` (leftovers of
    /// a deletion interrupted earlier are removed first). On an error, the
    /// folders created so far are removed again.
    fn create_partition_dirs(&self, meta: &TopicMeta, from: i32) -> Result<()> {
        for p in from..meta.partitions {
            let dir = self.partition_dir(&meta.name, p);
            let created = (|| {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                std::fs::create_dir(&dir)
            })();
            if let Err(e) = created {
                self.remove_partition_dirs(&meta.name, from..p);
                return Err(io_err(&dir)(e));
            }
            if let Ok(mut c) = self.checkpoints.lock() {
                c.partitions.remove(&(meta.name.clone(), p));
                c.recovered.insert((meta.name.clone(), p));
            }
        }
        sync_dir(&self.path).inspect_err(|_| {
            self.remove_partition_dirs(&meta.name, from..meta.partitions);
        })
    }

    /// Removes the folders of partitions `range` (undoing a failed
    /// creation; errors are logged, the folders hold no data).
    fn remove_partition_dirs(&self, topic: &str, range: std::ops::Range<i32>) {
        for p in range {
            let dir = self.partition_dir(topic, p);
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(
                    "{}: cannot remove after a failed creation: {e}",
                    dir.display()
                );
            }
        }
    }

    /// Deletes a topic and all its data. Its logs must be closed first.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let _guard = self.lock_meta();
        let meta = self.topic(name)?;
        // The metadata file goes first: without it the folders are no topic.
        let removed = remove_if_present(&self.meta_path(name))?;
        if removed {
            sync_dir(&self.partition_dir(name, 0))?;
        }
        if remove_if_present(&self.legacy_meta_path(name))? || removed {
            sync_dir(&self.path)?;
        }
        for p in 0..meta.partitions {
            let dir = self.partition_dir(name, p);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&dir)(e)),
            }
            if let Ok(mut c) = self.checkpoints.lock() {
                c.partitions.remove(&(name.to_string(), p));
            }
        }
        Ok(())
    }

    /// Sets and removes topic configs (validated together); returns the new metadata.
    pub fn alter_topic_config(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<TopicMeta> {
        self.check_writable()?;
        let _guard = self.lock_meta();
        let mut meta = self.topic(name)?;
        for k in delete {
            if !LogConfig::is_known(k) {
                return Err(LogError::InvalidConfig {
                    key: k.clone(),
                    value: String::new(),
                    reason: "unknown topic config".into(),
                });
            }
            meta.configs.remove(k);
        }
        for (k, v) in set {
            meta.configs.insert(k.clone(), v.trim().to_string());
        }
        self.defaults.with_topic_configs(&meta.configs)?;
        self.write_meta(&meta)?;
        Ok(meta)
    }

    /// Grows a topic to `new_total` partitions (never shrinks).
    pub fn create_partitions(&self, name: &str, new_total: i32) -> Result<TopicMeta> {
        self.check_writable()?;
        let _guard = self.lock_meta();
        let mut meta = self.topic(name)?;
        if new_total <= meta.partitions {
            return Err(LogError::InvalidPartitions(new_total));
        }
        check_partition_dir_names(name, new_total)?;
        let from = meta.partitions;
        meta.partitions = new_total;
        self.create_partition_dirs(&meta, from)?;
        if let Err(e) = self.write_meta(&meta) {
            self.remove_partition_dirs(name, from..new_total);
            return Err(e);
        }
        Ok(meta)
    }

    /// Opens one partition's log (read-only if the directory is), recovering
    /// it if the last writer did not stop cleanly; recovery is logged.
    pub fn open_log(&self, topic: &str, partition: i32) -> Result<Log> {
        self.open_log_with_report(topic, partition)
            .map(|(log, _)| log)
    }

    /// [`DataDir::open_log`] that also returns what recovery did.
    pub fn open_log_with_report(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(Log, RecoveryReport)> {
        let meta = self.topic(topic)?;
        if partition < 0 || partition >= meta.partitions {
            return Err(LogError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            });
        }
        let config = self.defaults.with_topic_configs(&meta.configs)?;
        let dir = self.partition_dir(topic, partition);
        let key = (topic.to_string(), partition);
        if self.lock.is_none() {
            let mut log = Log::open_read_only(&dir, config)?;
            let start = self
                .checkpoints
                .lock()
                .ok()
                .and_then(|c| c.partitions.get(&key).map(|p| p.log_start_offset));
            if let Some(start) = start {
                log.raise_log_start_offset(start);
            }
            return Ok((log, RecoveryReport::default()));
        }
        let opts = {
            let mut c = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
            let recover = !self.clean_start && !c.recovered.contains(&key);
            let state = c.partitions.entry(key.clone()).or_default();
            if state.open {
                return Err(LogError::AlreadyOpen {
                    topic: topic.to_string(),
                    partition,
                });
            }
            state.open = true;
            state.clean = false;
            LogOpenOptions {
                recover,
                recovery_point: state.recovery_point,
                log_start_offset: state.log_start_offset,
            }
        };
        let result = Log::open_with(&dir, config, opts);
        let mut c = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok((mut log, report)) => {
                c.recovered.insert(key.clone());
                drop(c);
                log.attach_checkpoint(CheckpointHandle {
                    shared: self.checkpoints.clone(),
                    key,
                });
                log.attach_failure_channel(self.failures.clone());
                Ok((log, report))
            }
            Err(e) => {
                if let Some(s) = c.partitions.get_mut(&key) {
                    s.open = false;
                }
                Err(e)
            }
        }
    }

    /// Writes the recovery point and log start offset checkpoint files.
    pub fn write_checkpoints(&self) -> Result<()> {
        self.check_writable()?;
        self.failures.check()?;
        let (rps, starts) = {
            let c = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
            let rps = c
                .partitions
                .iter()
                .map(|(k, s)| (k.clone(), s.recovery_point))
                .collect();
            let starts = c
                .partitions
                .iter()
                .map(|(k, s)| (k.clone(), s.log_start_offset))
                .collect();
            (rps, starts)
        };
        write_checkpoint(&self.path.join(RECOVERY_POINT_FILE), &rps)?;
        write_checkpoint(&self.path.join(LOG_START_FILE), &starts)
    }

    /// Writes the checkpoints and, if every log opened was closed (or
    /// flushed) and every partition needing recovery was recovered, the
    /// clean-shutdown marker; then releases the lock.
    pub fn close(self) -> Result<()> {
        if self.lock.is_none() {
            return Ok(());
        }
        // Offline: no checkpoint and no marker; the next start recovers.
        self.failures.check()?;
        self.write_checkpoints()?;
        let clean = {
            let c = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
            let logs_clean = c.partitions.values().all(|p| !p.open && p.clean);
            let all_recovered = self.clean_start
                || self
                    .topics()?
                    .iter()
                    .all(|t| (0..t.partitions).all(|p| c.recovered.contains(&(t.name.clone(), p))));
            logs_clean && all_recovered
        };
        if clean {
            let marker = self.path.join(CLEAN_SHUTDOWN_FILE);
            File::create(&marker)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&marker))?;
            sync_dir(&self.path)?;
        } else {
            tracing::info!(
                "{}: not every log was closed cleanly; the next start will recover",
                self.path.display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_support::{batch, simple};

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn second_writer_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path(), true).unwrap();
        match DataDir::open(dir.path(), false) {
            Err(LogError::Locked { holder, .. }) => {
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
            }
            other => panic!("expected Locked, got {:?}", other.err()),
        }
        // Readers need no lock.
        assert!(DataDir::open_read_only(dir.path()).unwrap().is_read_only());
        first.close().unwrap();
        DataDir::open(dir.path(), false).unwrap();
        assert!(DataDir::open(&dir.path().join("missing"), false).is_err());
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "orders.v1", "A_b-9", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "has space",
            "slash/",
            "ünï",
            &"x".repeat(250),
        ] {
            assert!(
                matches!(
                    validate_topic_name(bad),
                    Err(LogError::InvalidTopicName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn topic_lifecycle_and_metadata_file() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::open(dir.path(), true).unwrap();
        let meta = dd
            .create_topic("orders", 2, &cfg(&[("retention.ms", "1000")]))
            .unwrap();
        assert!(matches!(
            dd.create_topic("orders", 1, &BTreeMap::new()),
            Err(LogError::TopicExists(_))
        ));
        assert!(matches!(
            dd.create_topic("bad", 1, &cfg(&[("segment.bytes", "1")])),
            Err(LogError::InvalidConfig { .. })
        ));
        assert!(matches!(
            dd.create_topic("zero", 0, &BTreeMap::new()),
            Err(LogError::InvalidPartitions(0))
        ));
        dd.create_topic("a.b", 1, &BTreeMap::new()).unwrap();
        assert!(matches!(
            dd.create_topic("a_b", 1, &BTreeMap::new()),
            Err(LogError::InvalidTopicName { .. })
        ));
        let text =
            std::fs::read_to_string(dir.path().join("orders-0").join(TOPIC_META_FILE)).unwrap();
        assert!(text.contains("partitions=2\n"));
        assert!(text.contains(&format!("topic.id={}\n", meta.id)));
        assert!(text.contains("retention.ms=1000\n"));
        assert!(dir.path().join("orders-1").is_dir());
        let altered = dd
            .alter_topic_config(
                "orders",
                &cfg(&[("cleanup.policy", "compact")]),
                &["retention.ms".to_string()],
            )
            .unwrap();
        assert_eq!(altered.configs, cfg(&[("cleanup.policy", "compact")]));
        assert!(dd.log_config("orders").unwrap().compact);
        assert!(
            dd.alter_topic_config("orders", &cfg(&[("retention.ms", "x")]), &[])
                .is_err()
        );
        assert!(dd.create_partitions("orders", 2).is_err());
        assert_eq!(dd.create_partitions("orders", 4).unwrap().partitions, 4);
        let mut log = dd.open_log("orders", 3).unwrap();
        assert!(matches!(
            dd.open_log("orders", 3),
            Err(LogError::AlreadyOpen { .. })
        ));
        assert!(matches!(
            dd.open_log("orders", 4),
            Err(LogError::UnknownPartition { .. })
        ));
        assert!(matches!(
            log.append(&simple(1, 1, b"x")),
            Err(LogError::MissingKey { .. })
        ));
        log.append(&batch(&[(1, Some(b"k"), Some(b"v"))])).unwrap();
        log.close().unwrap();
        let names: Vec<_> = dd.topics().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["a.b", "orders"]);
        dd.delete_topic("orders").unwrap();
        assert!(matches!(dd.topic("orders"), Err(LogError::UnknownTopic(_))));
        assert!(!dir.path().join("orders-3").exists());
        // A new topic of the same name starts empty.
        dd.create_topic("orders", 1, &BTreeMap::new()).unwrap();
        assert_eq!(dd.open_log("orders", 0).unwrap().log_end_offset(), 0);
    }

    #[test]
    fn every_legal_topic_name_fits_the_file_name_limit() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::open(dir.path(), true).unwrap();
        for len in [244, 245, 249] {
            let name = "n".repeat(len - 1) + &len.to_string()[..1];
            let meta = dd.create_topic(&name, 3, &BTreeMap::new()).unwrap();
            let mut log = dd.open_log(&name, 2).unwrap();
            log.append(&simple(2, 1, b"x")).unwrap();
            log.close().unwrap();
            assert_eq!(dd.topic(&name).unwrap(), meta);
            dd.alter_topic_config(&name, &cfg(&[("retention.ms", "5")]), &[])
                .unwrap();
            assert_eq!(dd.create_partitions(&name, 4).unwrap().partitions, 4);
        }
        // A folder name past 255 bytes is refused before anything is created.
        let long = "z".repeat(249);
        assert!(matches!(
            dd.create_topic(&long, 100_001, &BTreeMap::new()),
            Err(LogError::InvalidPartitions(100_001))
        ));
        assert!(!dir.path().join(format!("{long}-0")).exists());
        dd.close().unwrap();
        let dd = DataDir::open(dir.path(), false).unwrap();
        let names: Vec<usize> = dd.topics().unwrap().iter().map(|t| t.name.len()).collect();
        assert_eq!(names, [244, 245, 249]);
        let name = "n".repeat(248) + "2";
        assert_eq!(dd.open_log(&name, 2).unwrap().log_end_offset(), 2);
        assert_eq!(dd.topic(&name).unwrap().partitions, 4);
        dd.delete_topic(&name).unwrap();
        assert!(!dir.path().join(format!("{name}-0")).exists());
        // Only the data directory's own files and the topics' folders remain.
        let mut entries: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('n'))
            .collect();
        entries.sort();
        assert_eq!(entries, [LOCK_FILE, LOG_START_FILE, RECOVERY_POINT_FILE]);
    }

    #[test]
    fn legacy_metadata_files_are_read_and_moved() {
        let dir = tempfile::tempdir().unwrap();
        // The layout main wrote before: <data-dir>/<topic>.properties.
        let id = uuid::Uuid::new_v4();
        std::fs::create_dir(dir.path().join("old-0")).unwrap();
        std::fs::create_dir(dir.path().join("old-1")).unwrap();
        let legacy = dir.path().join("old.properties");
        std::fs::write(
            &legacy,
            format!("# runnel topic old\npartitions=2\ntopic.id={id}\nretention.ms=7\n"),
        )
        .unwrap();
        let ro = DataDir::open_read_only(dir.path()).unwrap();
        assert_eq!(ro.topic("old").unwrap().id, id);
        assert!(legacy.exists(), "a reader writes nothing");
        let dd = DataDir::open(dir.path(), false).unwrap();
        let topics = dd.topics().unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].configs, cfg(&[("retention.ms", "7")]));
        assert_eq!(topics[0].partitions, 2);
        assert!(!legacy.exists());
        assert!(dir.path().join("old-0").join(TOPIC_META_FILE).exists());
        dd.open_log("old", 1).unwrap().close().unwrap();
        dd.delete_topic("old").unwrap();
        assert!(dd.topics().unwrap().is_empty());
    }

    #[test]
    fn clean_stop_marker_and_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let dd = DataDir::open(dir.path(), true).unwrap();
        dd.create_topic("t", 1, &BTreeMap::new()).unwrap();
        let mut log = dd.open_log("t", 0).unwrap();
        log.append(&simple(3, 1, b"x")).unwrap();
        log.close().unwrap();
        dd.close().unwrap();
        assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        let cp = std::fs::read_to_string(dir.path().join(RECOVERY_POINT_FILE)).unwrap();
        assert_eq!(cp, "0\n1\nt 0 3\n");
        let dd = DataDir::open(dir.path(), false).unwrap();
        assert!(dd.was_clean_shutdown());
        assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        // A log left open (not flushed): no marker at close.
        let mut log = dd.open_log("t", 0).unwrap();
        log.append(&simple(1, 1, b"y")).unwrap();
        dd.close().unwrap();
        drop(log);
        assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    }

    #[test]
    fn unclean_stop_recovers_from_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        {
            let dd = DataDir::open(dir.path(), true).unwrap();
            dd.create_topic("t", 1, &BTreeMap::new()).unwrap();
            let mut log = dd.open_log("t", 0).unwrap();
            log.append(&simple(2, 1, b"kept")).unwrap();
            log.flush().unwrap();
            dd.write_checkpoints().unwrap();
            log.append(&simple(2, 1, b"torn")).unwrap();
            // Crash: no close, and the last batch half written.
            let (file, _) = log.sync_target();
            let len = file.metadata().unwrap().len();
            file.set_len(len - 5).unwrap();
            std::mem::forget(log);
            // The process dies: its lock goes, no marker is written.
            drop(dd);
        }
        let dd = DataDir::open(dir.path(), false).unwrap();
        assert!(!dd.was_clean_shutdown());
        let (log, report) = dd.open_log_with_report("t", 0).unwrap();
        assert_eq!(log.log_end_offset(), 2);
        assert!(report.truncated_file.is_some());
        assert!(report.bytes_removed > 0);
        drop(log);
        let ro = DataDir::open_read_only(dir.path()).unwrap();
        assert_eq!(ro.open_log("t", 0).unwrap().log_end_offset(), 2);
    }
}
