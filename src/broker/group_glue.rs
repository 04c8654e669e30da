//! Wiring the group coordinator ([`crate::broker::group`]) into the
//! broker: `__consumer_offsets` as ordinary broker partitions (so Fetch,
//! retention and the cleaner see it), the coordinator's config from the
//! broker's, and [`GroupApis`] for the dispatcher.

use super::group::{
    ClientInfo, CoordinatorNode, GroupConfig, GroupCoordinator, LogHandle, LogStore, OFFSETS_TOPIC,
};
use super::group_seam::{BoxFuture, GroupApis, RequestContext};
use super::state::{Broker, Partition, TopicError};
use crate::log::Log;
use kafka_protocol::messages::*;
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

fn client(ctx: &RequestContext) -> ClientInfo {
    ClientInfo::new(&ctx.client_id, ctx.peer.ip())
}

/// The broker's group coordinator, opened on first use (creating
/// `__consumer_offsets` then, as Kafka does) or at startup when the topic
/// already exists.
pub struct BrokerGroups {
    broker: Arc<Broker>,
    coordinator: OnceCell<GroupCoordinator>,
    timers: Mutex<Option<JoinHandle<()>>>,
}

impl BrokerGroups {
    /// Group APIs over `broker`; nothing is opened yet.
    pub fn new(broker: Arc<Broker>) -> BrokerGroups {
        BrokerGroups {
            broker,
            coordinator: OnceCell::new(),
            timers: Mutex::new(None),
        }
    }

    /// Opens the coordinator now if `__consumer_offsets` exists (committed
    /// offsets and groups are loaded, sessions resume).
    pub async fn open_if_present(&self) -> anyhow::Result<()> {
        if self.broker.topic(OFFSETS_TOPIC).is_some() {
            self.coordinator().await?;
        }
        Ok(())
    }

    /// The coordinator, opening it (and its background timers) on first call.
    pub async fn coordinator(&self) -> anyhow::Result<&GroupCoordinator> {
        self.coordinator
            .get_or_try_init(|| async {
                let broker = self.broker.clone();
                let c = tokio::task::spawn_blocking(move || open_coordinator(&broker)).await??;
                let timers = c.start();
                *super::state::lock(&self.timers) = Some(timers);
                Ok(c)
            })
            .await
    }

    /// Stops the timers, answers waiting joins and flushes
    /// `__consumer_offsets` (if the coordinator was opened).
    pub fn shutdown(&self) {
        if let Some(t) = super::state::lock(&self.timers).take() {
            t.abort();
        }
        if let Some(c) = self.coordinator.get()
            && let Err(e) = c.shutdown()
        {
            tracing::error!("closing the group coordinator: {e}");
        }
    }
}

macro_rules! forward {
    ($method:ident, $req:ty, $resp:ty) => {
        fn $method(
            &self,
            _ctx: RequestContext,
            req: $req,
            version: i16,
        ) -> BoxFuture<'_, anyhow::Result<$resp>> {
            Box::pin(async move { Ok(self.coordinator().await?.$method(req, version).await) })
        }
    };
}

impl GroupApis for BrokerGroups {
    fn versions(&self) -> Vec<(ApiKey, i16, i16)> {
        GroupCoordinator::api_versions()
    }
    fn join_group(
        &self,
        ctx: RequestContext,
        req: JoinGroupRequest,
        version: i16,
    ) -> BoxFuture<'_, anyhow::Result<JoinGroupResponse>> {
        Box::pin(async move {
            let info = client(&ctx);
            Ok(self
                .coordinator()
                .await?
                .join_group(req, version, &info)
                .await)
        })
    }
    forward!(
        find_coordinator,
        FindCoordinatorRequest,
        FindCoordinatorResponse
    );
    forward!(sync_group, SyncGroupRequest, SyncGroupResponse);
    forward!(heartbeat, HeartbeatRequest, HeartbeatResponse);
    forward!(leave_group, LeaveGroupRequest, LeaveGroupResponse);
    forward!(offset_commit, OffsetCommitRequest, OffsetCommitResponse);
    forward!(offset_fetch, OffsetFetchRequest, OffsetFetchResponse);
    forward!(list_groups, ListGroupsRequest, ListGroupsResponse);
    forward!(
        describe_groups,
        DescribeGroupsRequest,
        DescribeGroupsResponse
    );
    forward!(delete_groups, DeleteGroupsRequest, DeleteGroupsResponse);
    forward!(offset_delete, OffsetDeleteRequest, OffsetDeleteResponse);
}
