//! The broker's coordinators, called directly by the handlers: the group
//! coordinator ([`crate::broker::group`]) over the broker's own
//! `__consumer_offsets` partitions and the transaction coordinator
//! ([`crate::broker::txn`]) over `__transaction_state` (broker partitions,
//! so Fetch, retention and the cleaner see them). Each opens on first use
//! (creating its topic then, as Kafka does) or at startup when its topic
//! already exists. [`BrokerMarkers`] writes transaction markers into the
//! broker's logs.

use super::group::{
    CoordinatorNode, GroupConfig, GroupCoordinator, LogHandle, LogStore, OFFSETS_TOPIC,
};
use super::handlers::log_error_code;
use super::state::{Broker, Partition, TopicError};
use super::txn::{
    MarkerResult, TRANSACTION_STATE_TOPIC, TransactionCoordinator, TxnConfig, TxnMarkerWriter,
};
use crate::log::Log;
use crate::record::control::{ControlRecordType, EndTxnMarker};
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

impl LogHandle for Partition {
    fn lock_log(&self) -> MutexGuard<'_, Log> {
        // A partition is offline only from the start, and
        // `open_coordinator` refuses offline offsets partitions.
        self.log()
            .expect("open_coordinator refuses offline __consumer_offsets partitions")
    }
}

/// Opens the group coordinator over the broker's `__consumer_offsets`
/// (created with Kafka's settings if missing: `offsets.topic.num.partitions`
/// partitions, `cleanup.policy=compact`, `segment.bytes=104857600`).
/// Call [`GroupCoordinator::start`] inside the runtime afterwards.
pub fn open_coordinator(broker: &Arc<Broker>) -> anyhow::Result<GroupCoordinator> {
    let mut config = GroupConfig::default();
    for (k, v) in &broker.config.props {
        config
            .set(k, v)
            .map_err(|reason| anyhow::anyhow!("invalid value for {k}: '{v}' ({reason})"))?;
    }
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "104857600"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let logs = internal_topic_logs(
        broker,
        OFFSETS_TOPIC,
        config.offsets_topic_num_partitions,
        configs,
    )?;
    let store = Arc::new(LogStore::new(logs, broker.group_commit.clone()));
    let lookup = partition_lookup(broker);
    let node = CoordinatorNode {
        node_id: broker.config.node_id,
        host: broker.config.advertised_host.clone(),
        port: broker.advertised_port as i32,
    };
    GroupCoordinator::open(node, config, store, Arc::new(lookup))
        .map_err(|e| anyhow::anyhow!("loading consumer groups: {e}"))
}

/// Creates the internal topic `name` if missing and returns its partitions
/// as store handles; an offline partition fails (the coordinator cannot
/// load it).
fn internal_topic_logs(
    broker: &Broker,
    name: &str,
    partitions: i32,
    configs: Vec<(String, String)>,
) -> anyhow::Result<Vec<Arc<dyn LogHandle>>> {
    if broker.topic(name).is_none() {
        let configs: BTreeMap<String, String> = configs.into_iter().collect();
        match broker.create_topic(name, partitions, 1, configs, false) {
            Ok(_) | Err(TopicError::Exists(_)) => {}
            Err(e) => anyhow::bail!("cannot create {name}: {e}"),
        }
    }
    let topic = broker
        .topic(name)
        .ok_or_else(|| anyhow::anyhow!("{name} is missing"))?;
    if let Some(why) = topic.partitions.iter().find_map(|p| p.offline_reason()) {
        anyhow::bail!("{name} cannot be loaded: {}", why.reason);
    }
    Ok(topic
        .partitions
        .iter()
        .map(|p| p.clone() as Arc<dyn LogHandle>)
        .collect())
}

/// The coordinators of one broker.
pub struct Coordinators {
    broker: Arc<Broker>,
    /// This, for the marker writer (which completes offsets in the group
    /// coordinator) without a reference cycle.
    this: Weak<Coordinators>,
    groups: OnceCell<GroupCoordinator>,
    txn: OnceCell<TransactionCoordinator>,
    timers: Mutex<Vec<JoinHandle<()>>>,
}

impl Coordinators {
    /// Coordinators over `broker`; nothing is opened yet.
    pub fn new(broker: Arc<Broker>) -> Arc<Coordinators> {
        Arc::new_cyclic(|this| Coordinators {
            broker,
            this: this.clone(),
            groups: OnceCell::new(),
            txn: OnceCell::new(),
            timers: Mutex::new(Vec::new()),
        })
    }

    /// Opens the coordinators whose topics exist (committed offsets and
    /// groups are loaded, sessions resume; transactions are loaded and
    /// those found prepared are completed).
    pub async fn open_if_present(&self) -> anyhow::Result<()> {
        if self.broker.topic(OFFSETS_TOPIC).is_some() {
            self.groups().await?;
        }
        if self.broker.topic(TRANSACTION_STATE_TOPIC).is_some() {
            self.txn().await?;
        }
        Ok(())
    }

    /// The transaction coordinator, opening it on first call: the group
    /// coordinator first (transactions commit offsets), then
    /// `__transaction_state` (created with Kafka's settings if missing),
    /// loaded before this returns; its timeout sweeps start.
    pub async fn txn(&self) -> anyhow::Result<&TransactionCoordinator> {
        self.groups().await?;
        self.txn
            .get_or_try_init(|| async {
                let mut config = TxnConfig::default();
                for (k, v) in &self.broker.config.props {
                    config.set(k, v).map_err(|reason| {
                        anyhow::anyhow!("invalid value for {k}: '{v}' ({reason})")
                    })?;
                }
                if let Some(offsets) = self.broker.topic(OFFSETS_TOPIC) {
                    config.offsets_topic_num_partitions = offsets.partitions.len() as i32;
                }
                let broker = self.broker.clone();
                let (partitions, configs) =
                    (config.state_log_num_partitions, config.topic_configs());
                let logs = tokio::task::spawn_blocking(move || {
                    internal_topic_logs(&broker, TRANSACTION_STATE_TOPIC, partitions, configs)
                })
                .await??;
                let store = Arc::new(LogStore::new(logs, self.broker.group_commit.clone()));
                let markers = Arc::new(BrokerMarkers {
                    broker: Arc::downgrade(&self.broker),
                    coordinators: self.this.clone(),
                });
                let weak = Arc::downgrade(&self.broker);
                let producer_ids = Arc::new(move || {
                    weak.upgrade()
                        .ok_or_else(|| crate::log::LogError::Offline {
                            path: Default::default(),
                            reason: "the broker is shutting down".into(),
                        })
                        .and_then(|b| b.next_producer_id())
                });
                let c = TransactionCoordinator::new(
                    config,
                    store,
                    markers,
                    producer_ids,
                    Arc::new(partition_lookup(&self.broker)),
                );
                let completions = c
                    .load()
                    .await
                    .map_err(|e| anyhow::anyhow!("loading transactions: {e}"))?;
                let mut timers = super::state::lock(&self.timers);
                timers.push(c.start());
                timers.extend(completions.into_iter().map(|h| {
                    tokio::spawn(async move {
                        let _ = h.await;
                    })
                }));
                Ok(c)
            })
            .await
    }

    /// The transaction coordinator if it is open.
    pub fn txn_if_open(&self) -> Option<&TransactionCoordinator> {
        self.txn.get()
    }

    /// The group coordinator, opening it (and its background timers) on
    /// first call.
    pub async fn groups(&self) -> anyhow::Result<&GroupCoordinator> {
        self.groups
            .get_or_try_init(|| async {
                let broker = self.broker.clone();
                let c = tokio::task::spawn_blocking(move || open_coordinator(&broker)).await??;
                super::state::lock(&self.timers).push(c.start());
                Ok(c)
            })
            .await
    }

    /// The group coordinator if it is open.
    pub fn groups_if_open(&self) -> Option<&GroupCoordinator> {
        self.groups.get()
    }

    /// Stops the timers, answers waiting joins and flushes
    /// `__consumer_offsets` and `__transaction_state` (if opened).
    pub fn shutdown(&self) {
        for t in super::state::lock(&self.timers).drain(..) {
            t.abort();
        }
        if let Some(c) = self.txn.get()
            && let Err(e) = c.shutdown()
        {
            tracing::error!("closing the transaction coordinator: {e}");
        }
        if let Some(c) = self.groups.get()
            && let Err(e) = c.shutdown()
        {
            tracing::error!("closing the group coordinator: {e}");
        }
    }
}

/// Whether a partition exists in the broker (what the coordinators check
/// requests against).
fn partition_lookup(broker: &Arc<Broker>) -> impl Fn(&str, i32) -> bool + Send + Sync + 'static {
    let weak = Arc::downgrade(broker);
    move |topic: &str, partition: i32| {
        weak.upgrade()
            .is_some_and(|b| b.partition(topic, partition).is_some())
    }
}

/// Writes COMMIT/ABORT markers into the broker's own logs (a single broker
/// leads every partition): a control batch per partition, fsynced through
/// the group commit; a `__consumer_offsets` partition then completes the
/// transaction's pending offsets in the group coordinator.
pub struct BrokerMarkers {
    broker: Weak<Broker>,
    coordinators: Weak<Coordinators>,
}

impl BrokerMarkers {
    /// Appends one marker; returns what to sync.
    fn append(
        broker: &Broker,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
    ) -> Result<(Arc<Partition>, Arc<File>, i64), i16> {
        let p = broker
            .partition(topic, partition)
            .ok_or(ResponseError::UnknownTopicOrPartition.code())?;
        let sync = {
            let mut log = p.log().map_err(|e| log_error_code(&e))?;
            if p.is_deleted() {
                return Err(ResponseError::UnknownTopicOrPartition.code());
            }
            log.append_control(producer_id, producer_epoch, marker)
                .map_err(|e| {
                    tracing::warn!("marker for producer {producer_id} on {topic}-{partition}: {e}");
                    log_error_code(&e)
                })?;
            log.sync_target()
        };
        // The last stable offset moved: wake read_committed fetches.
        p.notify_appended();
        Ok((p, sync.0, sync.1))
    }
}

impl TxnMarkerWriter for BrokerMarkers {
    fn write_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        partitions: Vec<(String, i32)>,
    ) -> super::txn::BoxFuture<'_, Vec<MarkerResult>> {
        Box::pin(async move {
            let Some(broker) = self.broker.upgrade() else {
                let code = ResponseError::CoordinatorNotAvailable.code();
                return partitions.into_iter().map(|tp| (tp, code)).collect();
            };
            let marker = EndTxnMarker {
                control: if commit {
                    ControlRecordType::Commit
                } else {
                    ControlRecordType::Abort
                },
                coordinator_epoch,
            };
            let mut results = Vec::with_capacity(partitions.len());
            let mut written = Vec::new();
            for (topic, partition) in partitions {
                match Self::append(
                    &broker,
                    &topic,
                    partition,
                    producer_id,
                    producer_epoch,
                    marker,
                ) {
                    Ok(w) => written.push(((topic, partition), w)),
                    Err(code) => results.push(((topic, partition), code)),
                }
            }
            let mut files: Vec<Arc<File>> = Vec::new();
            for (_, (_, f, _)) in &written {
                if !files.iter().any(|g| Arc::ptr_eq(g, f)) {
                    files.push(f.clone());
                }
            }
            let synced = match broker.group_commit.sync(files).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("the syncer stopped".to_string()),
            };
            let groups = self.coordinators.upgrade();
            for (tp, (p, _, end)) in written {
                let code = match &synced {
                    Ok(()) => {
                        if let Ok(mut log) = p.log() {
                            log.mark_flushed(end);
                        }
                        if tp.0 == OFFSETS_TOPIC
                            && let Some(g) = groups.as_ref().and_then(|c| c.groups_if_open())
                        {
                            g.complete_transaction(tp.1, producer_id, commit);
                        }
                        0
                    }
                    Err(e) => {
                        tracing::error!("fdatasync of a transaction marker failed: {e}");
                        ResponseError::KafkaStorageError.code()
                    }
                };
                results.push((tp, code));
            }
            results
        })
    }
}
