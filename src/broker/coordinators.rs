//! The broker's coordinators, called directly by the handlers: the group
//! coordinator ([`crate::broker::group`]) over the broker's own
//! `__consumer_offsets` partitions (so Fetch, retention and the cleaner see
//! them), opened on first use (creating the topic then, as Kafka does) or
//! at startup when the topic already exists.

use super::group::{
    CoordinatorNode, GroupConfig, GroupCoordinator, LogHandle, LogStore, OFFSETS_TOPIC,
};
use super::state::{Broker, Partition, TopicError};
use crate::log::Log;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
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
    if broker.topic(OFFSETS_TOPIC).is_none() {
        let configs: BTreeMap<String, String> = [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "104857600"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        match broker.create_topic(
            OFFSETS_TOPIC,
            config.offsets_topic_num_partitions,
            1,
            configs,
            false,
        ) {
            Ok(_) | Err(TopicError::Exists(_)) => {}
            Err(e) => anyhow::bail!("cannot create {OFFSETS_TOPIC}: {e}"),
        }
    }
    let topic = broker
        .topic(OFFSETS_TOPIC)
        .ok_or_else(|| anyhow::anyhow!("{OFFSETS_TOPIC} is missing"))?;
    if let Some(why) = topic.partitions.iter().find_map(|p| p.offline_reason()) {
        anyhow::bail!("{OFFSETS_TOPIC} cannot be loaded: {}", why.reason);
    }
    let logs: Vec<Arc<dyn LogHandle>> = topic
        .partitions
        .iter()
        .map(|p| p.clone() as Arc<dyn LogHandle>)
        .collect();
    let store = Arc::new(LogStore::new(logs, broker.group_commit.clone()));
    let weak = Arc::downgrade(broker);
    let lookup = move |topic: &str, partition: i32| {
        weak.upgrade()
            .is_some_and(|b| b.partition(topic, partition).is_some())
    };
    let node = CoordinatorNode {
        node_id: broker.config.node_id,
        host: broker.config.advertised_host.clone(),
        port: broker.advertised_port as i32,
    };
    GroupCoordinator::open(node, config, store, Arc::new(lookup))
        .map_err(|e| anyhow::anyhow!("loading consumer groups: {e}"))
}

/// The coordinators of one broker.
pub struct Coordinators {
    broker: Arc<Broker>,
    groups: OnceCell<GroupCoordinator>,
    timers: Mutex<Vec<JoinHandle<()>>>,
}

impl Coordinators {
    /// Coordinators over `broker`; nothing is opened yet.
    pub fn new(broker: Arc<Broker>) -> Coordinators {
        Coordinators {
            broker,
            groups: OnceCell::new(),
            timers: Mutex::new(Vec::new()),
        }
    }

    /// Opens the group coordinator now if `__consumer_offsets` exists
    /// (committed offsets and groups are loaded, sessions resume).
    pub async fn open_if_present(&self) -> anyhow::Result<()> {
        if self.broker.topic(OFFSETS_TOPIC).is_some() {
            self.groups().await?;
        }
        Ok(())
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
    /// `__consumer_offsets` (if the coordinator was opened).
    pub fn shutdown(&self) {
        for t in super::state::lock(&self.timers).drain(..) {
            t.abort();
        }
        if let Some(c) = self.groups.get()
            && let Err(e) = c.shutdown()
        {
            tracing::error!("closing the group coordinator: {e}");
        }
    }
}
