//! The broker's shared state: topics and their partitions' logs, each log
//! behind its own mutex (never held across an await), with a wake-up list
//! for fetches waiting on new data.

use super::catalog::{Catalog, log_config};
use super::config::BrokerConfig;
use super::topic_config::validate_topic_config;
use crate::log::{GroupCommit, Log, LogError, TopicMeta};
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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
    log: Mutex<Log>,
    waiters: Mutex<Vec<Arc<Notify>>>,
    deleted: AtomicBool,
}

impl Partition {
    fn new(topic: &str, index: i32, log: Log) -> Partition {
        Partition {
            topic: topic.to_string(),
            index,
            log: Mutex::new(log),
            waiters: Mutex::new(Vec::new()),
            deleted: AtomicBool::new(false),
        }
    }

    /// Locks the log. Keep the guard short and never across an await.
    pub fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
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
    /// INVALID_CONFIG.
    #[error("invalid config {0}={1}: {2}")]
    InvalidConfig(String, String, String),
    /// TOPIC_DELETION_DISABLED.
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    /// KAFKA_STORAGE_ERROR.
    #[error("{0}")]
    Storage(#[from] LogError),
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
            TopicError::DeletionDisabled => ResponseError::TopicDeletionDisabled.code(),
            TopicError::Storage(_) => ResponseError::KafkaStorageError.code(),
        }
    }
}

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let bad = |reason: &str| {
        Err(TopicError::InvalidName(
            name.to_string(),
            reason.to_string(),
        ))
    };
    if name.is_empty() {
        return bad("empty");
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
    catalog: Mutex<Catalog>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    next_producer_id: AtomicI64,
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
    /// Opens the data directory (locking it, recovering every log) and
    /// loads its topics.
    pub fn open(config: BrokerConfig, advertised_port: u16) -> Result<Broker, LogError> {
        let catalog = Catalog::open(&config.data_dir)?;
        let cluster_id = cluster_id_for(&config)?;
        let broker = Broker {
            cluster_id,
            advertised_port,
            group_commit: GroupCommit::start(),
            catalog: Mutex::new(catalog),
            topics: RwLock::new(BTreeMap::new()),
            next_producer_id: AtomicI64::new(initial_producer_id()),
            config,
        };
        let metas = lock(&broker.catalog).load_topics()?;
        for meta in metas {
            let topic = broker.open_topic(meta, 0)?;
            broker.insert(topic);
        }
        Ok(broker)
    }

    fn insert(&self, topic: Topic) -> Arc<Topic> {
        let topic = Arc::new(topic);
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.meta.name.clone(), topic.clone());
        topic
    }

    /// Opens the logs of partitions `from..meta.partitions` (recovering them).
    fn open_partitions(
        &self,
        meta: &TopicMeta,
        from: i32,
    ) -> Result<Vec<Arc<Partition>>, LogError> {
        let config = log_config(&self.effective_configs(meta));
        let catalog = lock(&self.catalog);
        (from..meta.partitions)
            .map(|p| {
                let dir = catalog.partition_dir(&meta.name, p);
                let (log, report) = Log::open(&dir, config.clone(), true)?;
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

    fn open_topic(&self, meta: TopicMeta, from: i32) -> Result<Topic, LogError> {
        let partitions = self.open_partitions(&meta, from)?;
        Ok(Topic { meta, partitions })
    }

    /// Topic configs in force: broker-derived defaults overlaid with the topic's own.
    pub fn effective_configs(&self, meta: &TopicMeta) -> BTreeMap<String, String> {
        let mut m = self.config.topic_defaults();
        m.extend(meta.configs.iter().map(|(k, v)| (k.clone(), v.clone())));
        m
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

    /// Validates topic configs (names and values), INVALID_CONFIG otherwise.
    pub fn validate_configs(configs: &BTreeMap<String, String>) -> Result<(), TopicError> {
        for (k, v) in configs {
            validate_topic_config(k, v)
                .map_err(|reason| TopicError::InvalidConfig(k.clone(), v.clone(), reason))?;
        }
        Ok(())
    }

    /// Creates a topic (`partitions` ≥ 1, `replication_factor` ≤ 1 or -1);
    /// with `validate_only`, only checks.
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
        Self::validate_configs(&configs)?;
        let catalog = lock(&self.catalog);
        if self.topic(name).is_some() {
            return Err(TopicError::Exists(name.to_string()));
        }
        let meta = TopicMeta {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(meta);
        }
        catalog.write_topic(&meta)?;
        drop(catalog);
        let topic = match self.open_topic(meta.clone(), 0) {
            Ok(t) => t,
            Err(e) => {
                let _ = lock(&self.catalog).delete_topic(&meta);
                return Err(e.into());
            }
        };
        self.insert(topic);
        tracing::info!("created topic {name} with {partitions} partitions");
        Ok(meta)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, TopicError> {
        if !self.config.delete_topic_enable {
            return Err(TopicError::DeletionDisabled);
        }
        let catalog = lock(&self.catalog);
        let topic = self
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        for p in &topic.partitions {
            p.deleted.store(true, Ordering::Release);
            p.notify_appended();
        }
        catalog.delete_topic(&topic.meta)?;
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
        let catalog = lock(&self.catalog);
        let topic = self
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.meta.partitions;
        if count <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count must be larger, got {count}"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let mut meta = topic.meta.clone();
        meta.partitions = count;
        catalog.write_topic(&meta)?;
        drop(catalog);
        let mut partitions = topic.partitions.clone();
        partitions.extend(self.open_partitions(&meta, current)?);
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
        Self::validate_configs(&configs)?;
        let catalog = lock(&self.catalog);
        let topic = self
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let mut meta = topic.meta.clone();
        meta.configs = configs;
        catalog.write_topic(&meta)?;
        drop(catalog);
        let log_cfg = log_config(&self.effective_configs(&meta));
        for p in &topic.partitions {
            p.log().set_config(log_cfg.clone());
        }
        self.insert(Topic {
            meta,
            partitions: topic.partitions.clone(),
        });
        Ok(())
    }

    /// A fresh producer id for InitProducerId.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Flushes every partition's log.
    pub fn flush_all(&self) -> Result<(), LogError> {
        for t in self.topics() {
            for p in &t.partitions {
                p.log().flush()?;
            }
        }
        Ok(())
    }

    /// Closes every log cleanly (flush, trim indexes) and releases the data
    /// directory. Partitions still referenced elsewhere are flushed instead.
    pub fn close(self) -> Result<(), LogError> {
        let topics =
            std::mem::take(&mut *self.topics.write().unwrap_or_else(PoisonError::into_inner));
        let mut first_err = None;
        for (_, topic) in topics {
            let Ok(topic) = Arc::try_unwrap(topic) else {
                continue;
            };
            for p in topic.partitions {
                let result = match Arc::try_unwrap(p) {
                    Ok(p) => p
                        .log
                        .into_inner()
                        .unwrap_or_else(PoisonError::into_inner)
                        .close(),
                    Err(p) => p.log().flush(),
                };
                if let Err(e) = result {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Producer ids start from the clock so ids handed out before a restart are
/// not handed out again.
fn initial_producer_id() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // Leave room below i64::MAX; one id per millisecond of uptime is plenty.
    ms & 0x0000_7fff_ffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

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
