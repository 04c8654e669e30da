//! The broker's shared state: topics and their partitions' logs, each log
//! behind its own mutex (never held across an await), with a wake-up list
//! for fetches waiting on new data.
//!
//! A partition whose log cannot be opened at start because an inactive
//! segment holds bytes that do not parse ([`LogError::Corrupt`]: nothing is
//! cut) is *offline*: Kafka takes the whole log directory offline, and
//! runnel, with a single data directory, does it per partition. The broker
//! starts, logs the error once (file and byte position), and that partition
//! answers KAFKA_STORAGE_ERROR to produce, fetch and list-offsets and shows
//! in Metadata as Kafka shows an offline replica (no leader); every other
//! partition serves normally. Its files are left untouched for an operator.

use super::config::BrokerConfig;
use crate::log::{DataDir, GroupCommit, Log, LogConfig, LogError, TopicMeta};
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::sync::Notify;

/// Locks a mutex, ignoring poisoning (a panicked holder leaves the log as
/// the engine left it, which is always consistent on disk).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One partition: its log and the fetches waiting for it to grow.
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub index: i32,
    /// The log, or why it could not be opened (the partition is offline).
    log: Result<Mutex<Log>, OfflineLog>,
    waiters: Mutex<Vec<Arc<Notify>>>,
    deleted: AtomicBool,
}

/// Why an offline partition's log could not be opened.
#[derive(Debug, Clone)]
pub struct OfflineLog {
    /// The partition's directory.
    pub dir: std::path::PathBuf,
    /// The error, with the file and byte position at fault.
    pub reason: String,
}

impl Partition {
    fn new(topic: &str, index: i32, log: Log) -> Partition {
        Partition::with_log(topic, index, Ok(Mutex::new(log)))
    }

    /// A partition whose log could not be opened: every use of its log
    /// fails with [`LogError::Offline`] (KAFKA_STORAGE_ERROR).
    fn offline(topic: &str, index: i32, why: OfflineLog) -> Partition {
        Partition::with_log(topic, index, Err(why))
    }

    fn with_log(topic: &str, index: i32, log: Result<Mutex<Log>, OfflineLog>) -> Partition {
        Partition {
            topic: topic.to_string(),
            index,
            log,
            waiters: Mutex::new(Vec::new()),
            deleted: AtomicBool::new(false),
        }
    }

    /// Locks the log. Keep the guard short and never across an await.
    ///
    /// # Errors
    /// [`LogError::Offline`] (KAFKA_STORAGE_ERROR) if the partition is
    /// offline: its log could not be opened at start.
    pub fn log(&self) -> Result<MutexGuard<'_, Log>, LogError> {
        match &self.log {
            Ok(log) => Ok(lock(log)),
            Err(why) => Err(LogError::Offline {
                path: why.dir.clone(),
                reason: why.reason.clone(),
            }),
        }
    }

    /// Why the partition is offline, if it is.
    pub fn offline_reason(&self) -> Option<&OfflineLog> {
        self.log.as_ref().err()
    }

    /// Whether the topic was deleted (the handle outlived it).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Asks to be woken (once) at the next append.
    pub fn wake_on_append(&self, notify: &Arc<Notify>) {
        let mut waiters = lock(&self.waiters);
        // Drop the entries of fetches that have finished since.
        waiters.retain(|w| Arc::strong_count(w) > 1);
        if !waiters.iter().any(|w| Arc::ptr_eq(w, notify)) {
            waiters.push(notify.clone());
        }
    }

    /// Wakes every waiting fetch; called after each append.
    pub fn notify_appended(&self) {
        for w in lock(&self.waiters).drain(..) {
            w.notify_one();
        }
    }
}

/// A topic: its metadata and partitions.
pub struct Topic {
    /// Name, id, partition count and configs set on the topic.
    pub meta: TopicMeta,
    /// Partitions by index.
    pub partitions: Vec<Arc<Partition>>,
}

/// A refused topic operation, with the Kafka error it maps to.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// TOPIC_ALREADY_EXISTS.
    #[error("topic '{0}' already exists")]
    Exists(String),
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("unknown topic '{0}'")]
    Unknown(String),
    /// INVALID_TOPIC_EXCEPTION.
    #[error("invalid topic name '{0}': {1}")]
    InvalidName(String, String),
    /// INVALID_PARTITIONS.
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_REPLICATION_FACTOR.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// POLICY_VIOLATION: the broker would hold more partitions than its cap.
    #[error("{0}")]
    PartitionCap(String),
    /// INVALID_CONFIG.
    #[error("invalid config {0}={1}: {2}")]
    InvalidConfig(String, String, String),
    /// TOPIC_DELETION_DISABLED.
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    /// KAFKA_STORAGE_ERROR.
    #[error("{0}")]
    Storage(LogError),
}

impl From<LogError> for TopicError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::TopicExists(name) => TopicError::Exists(name),
            LogError::UnknownTopic(name) => TopicError::Unknown(name),
            LogError::InvalidTopicName { name, reason } => TopicError::InvalidName(name, reason),
            LogError::InvalidPartitions(n) => {
                TopicError::InvalidPartitions(format!("invalid partition count {n}"))
            }
            LogError::InvalidConfig { key, value, reason } => {
                TopicError::InvalidConfig(key, value, reason)
            }
            other => TopicError::Storage(other),
        }
    }
}

impl TopicError {
    /// The Kafka error code.
    pub fn code(&self) -> i16 {
        match self {
            TopicError::Exists(_) => ResponseError::TopicAlreadyExists.code(),
            TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition.code(),
            TopicError::InvalidName(..) => ResponseError::InvalidTopicException.code(),
            TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
            TopicError::InvalidReplicationFactor(_) => {
                ResponseError::InvalidReplicationFactor.code()
            }
            TopicError::InvalidConfig(..) => ResponseError::InvalidConfig.code(),
            TopicError::PartitionCap(_) => ResponseError::PolicyViolation.code(),
            TopicError::DeletionDisabled => ResponseError::TopicDeletionDisabled.code(),
            TopicError::Storage(_) => ResponseError::KafkaStorageError.code(),
        }
    }
}

/// Topics only the broker itself creates (Kafka's internal topics and the
/// KRaft metadata log); CreateTopics refuses them with INVALID_REQUEST.
pub const INTERNAL_TOPICS: [&str; 3] = [
    "__consumer_offsets",
    "__transaction_state",
    "__cluster_metadata",
];

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    crate::log::data_dir::validate_topic_name(name).map_err(TopicError::from)
}

/// The broker: configuration, topics and the shared group-commit syncer.
pub struct Broker {
    /// Configuration.
    pub config: BrokerConfig,
    /// Cluster id reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// Port advertised to clients.
    pub advertised_port: u16,
    /// The group-commit syncer shared by every acks=all produce.
    pub group_commit: Arc<GroupCommit>,
    /// The data directory; `None` once closed. Its mutex also serialises
    /// topic administration (create, delete, alter).
    data_dir: Mutex<Option<DataDir>>,
    defaults: LogConfig,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    producer_ids: super::producer_id_manager::ProducerIdManager,
    partition_cap: PartitionCap,
    /// Client quotas (configs from the data directory, rates per client).
    pub quotas: Arc<super::quota::ClientQuotas>,
}

/// File descriptors each partition keeps open: its active segment's
/// `.log`, `.index` and `.timeindex` (inactive segments keep none open).
pub const FDS_PER_PARTITION: u64 = 3;

/// Descriptors left for connections, inactive segments being read and the
/// rest of the process.
const FDS_RESERVED: u64 = 1024;

/// The most partitions the broker takes, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCap {
    /// The cap in force.
    pub partitions: usize,
    /// `max.broker.partitions`.
    pub configured: usize,
    /// The open file limit (RLIMIT_NOFILE, raised to its hard limit).
    pub open_files: u64,
}

impl PartitionCap {
    /// `max.broker.partitions`, lowered to what the open file limit allows.
    pub fn new(configured: usize, open_files: u64) -> Self {
        let by_fds = open_files.saturating_sub(FDS_RESERVED) / FDS_PER_PARTITION;
        PartitionCap {
            partitions: configured.min(by_fds as usize),
            configured,
            open_files,
        }
    }

    /// Refuses taking the broker from `current` partitions to `current + adding`.
    fn check(&self, current: usize, adding: usize) -> Result<(), TopicError> {
        if current + adding <= self.partitions {
            return Ok(());
        }
        let why = if self.partitions < self.configured {
            format!(
                "limited by the open file limit of {} (ulimit -n) at {FDS_PER_PARTITION} per partition; max.broker.partitions={}",
                self.open_files, self.configured
            )
        } else {
            format!("max.broker.partitions={}", self.configured)
        };
        Err(TopicError::PartitionCap(format!(
            "adding {adding} partitions would take this broker to {} partitions, over its cap of {} ({why}); raise max.broker.partitions (and the open file limit) to allow more",
            current + adding,
            self.partitions
        )))
    }
}

/// Raises the soft open file limit to the hard one (as servers do) and
/// returns it.
fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

fn cluster_id_for(config: &BrokerConfig) -> Result<String, LogError> {
    if let Some(id) = &config.cluster_id {
        return Ok(id.clone());
    }
    let path = config.data_dir.join("cluster.id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    // Kafka's cluster ids are a UUID in URL-safe base64 without padding.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut n = uuid::Uuid::new_v4().as_u128();
    let id: String = (0..22)
        .map(|_| {
            let c = ALPHABET[(n & 63) as usize] as char;
            n >>= 6;
            c
        })
        .collect();
    std::fs::write(&path, format!("{id}\n")).map_err(|source| LogError::Io { path, source })?;
    Ok(id)
}

impl Broker {
    /// Opens the data directory (locking it; logs are recovered if the last
    /// stop was not clean) and loads its topics.
    pub fn open(config: BrokerConfig, advertised_port: u16) -> Result<Broker, LogError> {
        let mut data_dir = DataDir::open(&config.data_dir, true)?;
        data_dir.set_broker_config(&config.props)?;
        let cluster_id = cluster_id_for(&config)?;
        let broker = Broker {
            cluster_id,
            advertised_port,
            group_commit: GroupCommit::start_for(data_dir.failure_channel()),
            defaults: data_dir.default_config().clone(),
            data_dir: Mutex::new(Some(data_dir)),
            topics: RwLock::new(BTreeMap::new()),
            producer_ids: super::producer_id_manager::ProducerIdManager::open(&config.data_dir)?,
            partition_cap: PartitionCap::new(config.max_broker_partitions, raise_open_file_limit()),
            quotas: Arc::new(super::quota::ClientQuotas::open(
                &config.data_dir,
                config.quota_window(),
            )?),
            config,
        };
        if broker.partition_cap.partitions < broker.partition_cap.configured {
            tracing::warn!(
                "at most {} partitions: the open file limit is {} ({FDS_PER_PARTITION} per partition), below what max.broker.partitions={} needs",
                broker.partition_cap.partitions,
                broker.partition_cap.open_files,
                broker.partition_cap.configured
            );
        }
        {
            let guard = lock(&broker.data_dir);
            let dir = Self::dir(&guard, &broker.config)?;
            for meta in dir.topics()? {
                let partitions = Self::open_partitions(dir, &meta, 0, true)?;
                broker.insert(Topic { meta, partitions });
            }
        }
        let (count, cap) = (broker.partition_count(), broker.partition_cap);
        if count > cap.partitions {
            tracing::warn!(
                "{count} partitions exceed the cap of {} (max.broker.partitions={}, open file limit {}); no more can be created",
                cap.partitions,
                cap.configured,
                cap.open_files
            );
        }
        Ok(broker)
    }

    /// The open data directory behind `guard`.
    fn dir<'a>(
        guard: &'a MutexGuard<'_, Option<DataDir>>,
        config: &BrokerConfig,
    ) -> Result<&'a DataDir, LogError> {
        guard
            .as_ref()
            .ok_or_else(|| LogError::ReadOnly(config.data_dir.clone()))
    }

    fn insert(&self, topic: Topic) -> Arc<Topic> {
        let topic = Arc::new(topic);
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.meta.name.clone(), topic.clone());
        topic
    }

    /// Opens the logs of partitions `from..meta.partitions`.
    /// Opens the logs of partitions `from..` of a topic. At start
    /// (`at_start`), a log that fails with [`LogError::Corrupt`] makes its
    /// partition offline instead of failing the broker (module doc).
    fn open_partitions(
        dir: &DataDir,
        meta: &TopicMeta,
        from: i32,
        at_start: bool,
    ) -> Result<Vec<Arc<Partition>>, LogError> {
        (from..meta.partitions)
            .map(|p| {
                let (log, report) = match dir.open_log_with_report(&meta.name, p) {
                    Ok(opened) => opened,
                    Err(e @ LogError::Corrupt { .. }) if at_start => {
                        tracing::error!(
                            "partition {}-{p} is offline: {e}; it answers KAFKA_STORAGE_ERROR \
                             until the file is repaired and the broker restarted",
                            meta.name
                        );
                        let why = OfflineLog {
                            dir: dir.partition_dir(&meta.name, p),
                            reason: e.to_string(),
                        };
                        return Ok(Arc::new(Partition::offline(&meta.name, p, why)));
                    }
                    Err(e) => return Err(e),
                };
                if let Some(file) = &report.truncated_file {
                    tracing::warn!(
                        "recovered {}-{p}: cut {} bytes at {}:{}",
                        meta.name,
                        report.bytes_removed,
                        file.display(),
                        report.position
                    );
                }
                Ok(Arc::new(Partition::new(&meta.name, p, log)))
            })
            .collect()
    }

    /// The log config in force for a topic (broker defaults plus its configs).
    pub fn log_config(&self, meta: &TopicMeta) -> Result<LogConfig, LogError> {
        self.defaults.with_topic_configs(&meta.configs)
    }

    /// The broker-level default log config.
    pub fn default_log_config(&self) -> &LogConfig {
        &self.defaults
    }

    /// The most partitions this broker takes.
    pub fn partition_cap(&self) -> PartitionCap {
        self.partition_cap
    }

    /// Partitions of every topic, internal ones included.
    pub fn partition_count(&self) -> usize {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|t| t.partitions.len())
            .sum()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: uuid::Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .find(|t| t.meta.id == id)
            .cloned()
    }

    /// Every topic, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// A partition by topic name and index.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let t = self.topic(topic)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned())
    }

    /// Creates a topic (`partitions` ≥ 1 or -1 for `num.partitions`,
    /// `replication_factor` 1 or -1); with `validate_only`, only checks.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        validate_topic_name(name)?;
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be at least 1, got {partitions}"
            )));
        }
        if replication_factor == 0 || replication_factor < -1 {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor must be at least 1, got {replication_factor}"
            )));
        }
        if replication_factor > 1 {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is larger than the 1 available broker"
            )));
        }
        LogConfig::validate(&configs)?;
        let guard = lock(&self.data_dir);
        let dir = Self::dir(&guard, &self.config)?;
        if self.topic(name).is_some() {
            return Err(TopicError::Exists(name.to_string()));
        }
        // Checked here too so that validate_only answers as creation would.
        let metric_name = |n: &str| n.replace('.', "_");
        if let Some(other) = self
            .topics()
            .into_iter()
            .find(|t| metric_name(&t.meta.name) == metric_name(name))
        {
            return Err(TopicError::InvalidName(
                name.to_string(),
                format!(
                    "collides with existing topic '{}' ('.' and '_' are equivalent in metric names)",
                    other.meta.name
                ),
            ));
        }
        self.partition_cap
            .check(self.partition_count(), partitions as usize)?;
        if validate_only {
            return Ok(TopicMeta {
                name: name.to_string(),
                id: uuid::Uuid::nil(),
                partitions,
                configs,
            });
        }
        let meta = dir.create_topic(name, partitions, &configs)?;
        let partitions_opened = match Self::open_partitions(dir, &meta, 0, false) {
            Ok(p) => p,
            Err(e) => {
                let _ = dir.delete_topic(name);
                return Err(e.into());
            }
        };
        self.insert(Topic {
            meta: meta.clone(),
            partitions: partitions_opened,
        });
        tracing::info!("created topic {name} with {partitions} partition(s)");
        Ok(meta)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, TopicError> {
        if !self.config.delete_topic_enable {
            return Err(TopicError::DeletionDisabled);
        }
        let guard = lock(&self.data_dir);
        let dir = Self::dir(&guard, &self.config)?;
        let topic = self
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        for p in &topic.partitions {
            // Marked deleted with the log locked (an offline one has none).
            let log = p.log();
            p.deleted.store(true, Ordering::Release);
            if let Ok(mut log) = log
                && let Err(e) = log.close_in_place()
            {
                tracing::warn!("closing {}-{} before deletion: {e}", p.topic, p.index);
            }
            p.notify_appended();
        }
        dir.delete_topic(name)?;
        tracing::info!("deleted topic {name}");
        Ok(topic.meta.clone())
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let guard = lock(&self.data_dir);
        let dir = Self::dir(&guard, &self.config)?;
        let topic = self
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.meta.partitions;
        if count <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count must be larger, got {count}"
            )));
        }
        self.partition_cap
            .check(self.partition_count(), (count - current) as usize)?;
        if validate_only {
            return Ok(());
        }
        let meta = dir.create_partitions(name, count)?;
        let mut partitions = topic.partitions.clone();
        partitions.extend(Self::open_partitions(dir, &meta, current, false)?);
        self.insert(Topic { meta, partitions });
        tracing::info!("topic {name} now has {count} partitions");
        Ok(())
    }

    /// Replaces the configs set on a topic (validated) and applies them to its logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        LogConfig::validate(&configs)?;
        let guard = lock(&self.data_dir);
        let dir = Self::dir(&guard, &self.config)?;
        let topic = self
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let removed: Vec<String> = topic
            .meta
            .configs
            .keys()
            .filter(|k| !configs.contains_key(*k))
            .cloned()
            .collect();
        let meta = dir.alter_topic_config(name, &configs, &removed)?;
        let log_cfg = self.log_config(&meta)?;
        for p in &topic.partitions {
            if let Ok(mut log) = p.log() {
                log.set_config(log_cfg.clone());
            }
        }
        self.insert(Topic {
            meta,
            partitions: topic.partitions.clone(),
        });
        Ok(())
    }

    /// A fresh producer id for InitProducerId, never handed out before in
    /// this data directory.
    ///
    /// # Errors
    /// An I/O error persisting a new block of ids.
    pub fn next_producer_id(&self) -> Result<i64, LogError> {
        self.producer_ids.generate()
    }

    /// Closes every log cleanly (flush, trim indexes), writes the
    /// checkpoints and the clean-shutdown marker, and releases the data
    /// directory. Later topic operations fail; call once, at shutdown.
    pub fn close(&self) -> Result<(), LogError> {
        let mut guard = lock(&self.data_dir);
        let mut first_err = None;
        for t in self.topics() {
            for p in &t.partitions {
                // An offline partition has no log to close (and its files
                // are left as they are).
                if p.is_deleted() || p.offline_reason().is_some() {
                    continue;
                }
                if let Ok(mut log) = p.log()
                    && let Err(e) = log.close_in_place()
                {
                    tracing::error!("closing {}-{}: {e}", p.topic, p.index);
                    first_err.get_or_insert(e);
                }
            }
        }
        let closed = match guard.take() {
            Some(dir) => dir.close(),
            None => Ok(()),
        };
        match first_err {
            Some(e) => Err(e),
            None => closed,
        }
    }
}

/// Producer ids start from the clock so ids handed out before a restart are
/// not handed out again.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_cap_fits_the_open_file_limit() {
        let cap = PartitionCap::new(10_000, 20_000);
        assert_eq!(cap.partitions, (20_000 - 1024) / 3);
        let msg = cap.check(6000, 1000).unwrap_err().to_string();
        assert!(msg.contains("open file limit of 20000"), "{msg}");
        assert!(cap.check(6000, 325).is_ok());
        let cap = PartitionCap::new(100, 1 << 20);
        assert_eq!(cap.partitions, 100);
        let err = cap.check(100, 1).unwrap_err();
        assert_eq!(err.code(), ResponseError::PolicyViolation.code());
        assert!(err.to_string().contains("max.broker.partitions=100"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ä", "a/b"] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
        assert_eq!(
            validate_topic_name("a b").unwrap_err().code(),
            ResponseError::InvalidTopicException.code()
        );
    }
}
