//! The cluster view: bootstrap from `host:port[,host:port...]`, Metadata
//! requests, a cache of brokers, topics and partition leaders, and one
//! shared connection per broker.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::connection::{Connection, ConnectionConfig};
use super::error::ClientError;

/// UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// How often a topic whose leaders are being elected (or which is being
/// auto-created) is asked for again before giving up.
const METADATA_ATTEMPTS: u32 = 10;
/// Pause between those attempts.
const METADATA_BACKOFF: Duration = Duration::from_millis(100);

/// A broker of the cluster as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Broker (node) id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition of a topic as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, -1 while none.
    pub leader: i32,
    /// Leader epoch, -1 if the broker did not say.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Offline replica broker ids.
    pub offline_replicas: Vec<i32>,
    /// Partition-level error code from Metadata (0 if none).
    pub error_code: i16,
}

impl PartitionInfo {
    /// Whether the partition is offline: no leader, and a replica listed
    /// as offline (its log could not be opened), as Kafka reports it.
    pub fn is_offline(&self) -> bool {
        self.leader < 0 && !self.offline_replicas.is_empty()
    }
}

/// A topic as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Whether the topic is internal (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Partitions sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// The number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }

    /// The partition with index `partition`.
    pub fn partition(&self, partition: i32) -> Option<&PartitionInfo> {
        self.partitions
            .get(usize::try_from(partition).ok()?)
            .filter(|p| p.partition == partition)
            .or_else(|| self.partitions.iter().find(|p| p.partition == partition))
    }

    /// The partitions in `wanted`, each checked to exist, or all of them
    /// when `None`.
    pub fn select_partitions(&self, wanted: Option<&[i32]>) -> Result<Vec<i32>, ClientError> {
        let Some(list) = wanted else {
            return Ok(self.partitions.iter().map(|p| p.partition).collect());
        };
        if let Some(&p) = list.iter().find(|&&p| self.partition(p).is_none()) {
            return Err(ClientError::UnknownPartition {
                topic: self.name.clone(),
                partition: p,
                count: self.partition_count(),
            });
        }
        Ok(list.to_vec())
    }
}

#[derive(Default)]
struct State {
    brokers: HashMap<i32, BrokerInfo>,
    controller_id: i32,
    cluster_id: Option<String>,
    topics: HashMap<String, Arc<TopicInfo>>,
}

/// A Kafka cluster: metadata cache plus connections, shared by the admin
/// client, producers and consumers (wrap in `Arc`).
pub struct Cluster {
    bootstrap: Vec<String>,
    config: ConnectionConfig,
    state: RwLock<State>,
    connections: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
    /// Throttle times in the responses of this cluster's brokers.
    throttle: super::throttle::ThrottleStats,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

/// Splits `host:port[,host:port...]`, ignoring blanks.
pub fn parse_bootstrap(brokers: &str) -> Result<Vec<String>, ClientError> {
    let list: Vec<String> = brokers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        return Err(ClientError::Invalid("no broker address given".to_string()));
    }
    for addr in &list {
        let port = addr.rsplit_once(':').map(|(_, p)| p);
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(ClientError::Invalid(format!(
                "invalid broker address {addr:?}: expected host:port"
            )));
        }
    }
    Ok(list)
}

impl Cluster {
    /// Connects to the first reachable bootstrap broker and loads the list
    /// of brokers.
    pub async fn connect(
        brokers: &str,
        config: ConnectionConfig,
    ) -> Result<Arc<Self>, ClientError> {
        let cluster = Arc::new(Cluster {
            bootstrap: parse_bootstrap(brokers)?,
            config,
            state: RwLock::new(State {
                controller_id: -1,
                ..State::default()
            }),
            connections: tokio::sync::Mutex::new(HashMap::new()),
            throttle: Default::default(),
        });
        cluster.fetch_metadata(Some(&[]), false).await?;
        Ok(cluster)
    }

    /// Throttle times the brokers sent back (quotas).
    pub fn throttle(&self) -> &super::throttle::ThrottleStats {
        &self.throttle
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The cluster id, if the broker reported one.
    pub fn cluster_id(&self) -> Option<String> {
        self.read().cluster_id.clone()
    }

    /// The known brokers, sorted by id.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        let mut brokers: Vec<BrokerInfo> = self.read().brokers.values().cloned().collect();
        brokers.sort_by_key(|b| b.node_id);
        brokers
    }

    /// The controller's broker id (-1 if unknown).
    pub fn controller_id(&self) -> i32 {
        self.read().controller_id
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared connection to `addr`, made if missing or broken.
    pub async fn connection_to_addr(&self, addr: &str) -> Result<Arc<Connection>, ClientError> {
        if let Some(conn) = self.connections.lock().await.get(addr)
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        let conn = Arc::new(Connection::connect(addr, &self.config).await?);
        let mut conns = self.connections.lock().await;
        match conns.get(addr) {
            Some(existing) if !existing.is_closed() => Ok(existing.clone()),
            _ => {
                conns.insert(addr.to_string(), conn.clone());
                Ok(conn)
            }
        }
    }

    /// The connection to broker `node_id`.
    pub async fn connection(&self, node_id: i32) -> Result<Arc<Connection>, ClientError> {
        let addr = self.read().brokers.get(&node_id).map(BrokerInfo::addr);
        match addr {
            Some(addr) => self.connection_to_addr(&addr).await,
            None => {
                self.fetch_metadata(Some(&[]), false).await?;
                let addr = self.read().brokers.get(&node_id).map(BrokerInfo::addr);
                let addr = addr.ok_or_else(|| {
                    ClientError::Invalid(format!("broker {node_id} is not in the cluster metadata"))
                })?;
                self.connection_to_addr(&addr).await
            }
        }
    }

    /// A connection to any reachable broker: a live one if there is one,
    /// else the known brokers, else the bootstrap list.
    pub async fn any_connection(&self) -> Result<Arc<Connection>, ClientError> {
        if let Some(conn) = self
            .connections
            .lock()
            .await
            .values()
            .find(|c| !c.is_closed())
        {
            return Ok(conn.clone());
        }
        let mut candidates: Vec<String> = self.brokers().iter().map(BrokerInfo::addr).collect();
        candidates.extend(self.bootstrap.iter().cloned());
        candidates.dedup();
        let mut last = None;
        for addr in &candidates {
            match self.connection_to_addr(addr).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        let last = last.unwrap_or_else(|| ClientError::Invalid("no broker address".to_string()));
        if candidates.len() == 1 {
            return Err(last);
        }
        Err(ClientError::NoBrokers {
            brokers: self.bootstrap.join(","),
            last: Box::new(last),
        })
    }

    /// The connection to the controller (any broker if unknown, as KRaft
    /// brokers forward admin requests).
    pub async fn controller(&self) -> Result<Arc<Connection>, ClientError> {
        let id = self.controller_id();
        if id >= 0 && self.read().brokers.contains_key(&id) {
            return self.connection(id).await;
        }
        self.any_connection().await
    }

    /// Sends a Metadata request for `topics` (`None`: all topics, `Some(&[])`:
    /// brokers only) and updates the cache. Returns the topics answered
    /// (errored ones included, with their error code).
    pub async fn fetch_metadata(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<Vec<(String, i16, Option<Arc<TopicInfo>>)>, ClientError> {
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let result = async {
                let conn = self.any_connection().await?;
                let version = conn.version(ApiKey::Metadata)?;
                let request = MetadataRequest::default()
                    .with_topics(topics.map(|names| {
                        names
                            .iter()
                            .map(|n| {
                                MetadataRequestTopic::default()
                                    .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                            })
                            .collect()
                    }))
                    // Before v4 the field does not exist and brokers auto-create.
                    .with_allow_auto_topic_creation(allow_auto_create || version < 4);
                conn.request(&request, version).await
            }
            .await;
            match result {
                Ok(response) => break response,
                Err(e) if e.is_retriable() && attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        };
        Ok(self.update(response, topics.is_none()))
    }

    fn update(
        &self,
        response: MetadataResponse,
        all_topics: bool,
    ) -> Vec<(String, i16, Option<Arc<TopicInfo>>)> {
        let mut state = self.write();
        if !response.brokers.is_empty() {
            state.brokers = response
                .brokers
                .iter()
                .map(|b| {
                    (
                        b.node_id.0,
                        BrokerInfo {
                            node_id: b.node_id.0,
                            host: b.host.to_string(),
                            port: b.port,
                            rack: b.rack.as_ref().map(|r| r.to_string()),
                        },
                    )
                })
                .collect();
        }
        state.controller_id = response.controller_id.0;
        if let Some(id) = &response.cluster_id {
            state.cluster_id = Some(id.to_string());
        }
        if all_topics {
            state.topics.clear();
        }
        let mut answered = Vec::with_capacity(response.topics.len());
        for topic in response.topics {
            let name = topic.name.map(|n| n.0.to_string()).unwrap_or_default();
            if topic.error_code != 0 {
                state.topics.remove(&name);
                answered.push((name, topic.error_code, None));
                continue;
            }
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let info = Arc::new(TopicInfo {
                name: name.clone(),
                internal: topic.is_internal,
                partitions,
            });
            state.topics.insert(name.clone(), info.clone());
            answered.push((name, 0, Some(info)));
        }
        answered
    }

    /// All topics of the cluster (fresh from the broker), sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<Arc<TopicInfo>>, ClientError> {
        let mut topics: Vec<Arc<TopicInfo>> = self
            .fetch_metadata(None, false)
            .await?
            .into_iter()
            .filter_map(|(_, _, info)| info)
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// The topic from the cache, or from the broker if not cached.
    pub async fn topic(&self, name: &str) -> Result<Arc<TopicInfo>, ClientError> {
        if let Some(info) = self.cached_topic(name) {
            return Ok(info);
        }
        self.refresh_topic(name, false).await
    }

    /// The cached topic, if any.
    pub fn cached_topic(&self, name: &str) -> Option<Arc<TopicInfo>> {
        self.read().topics.get(name).cloned()
    }

    /// The partition count of the cached topic, if any (no clone of it).
    pub fn cached_partition_count(&self, name: &str) -> Option<i32> {
        self.read().topics.get(name).map(|t| t.partition_count())
    }

    /// Asks the broker for `name` again (auto-creating it if allowed and the
    /// broker does so), retrying while leaders are being elected.
    pub async fn refresh_topic(
        &self,
        name: &str,
        allow_auto_create: bool,
    ) -> Result<Arc<TopicInfo>, ClientError> {
        let names = [name.to_string()];
        let mut last_code = UNKNOWN_TOPIC_OR_PARTITION;
        for attempt in 0..METADATA_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(METADATA_BACKOFF).await;
            }
            let answered = self.fetch_metadata(Some(&names), allow_auto_create).await?;
            let Some((_, code, info)) = answered.into_iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            match info {
                Some(info) if info.partitions.iter().all(|p| p.leader >= 0) => return Ok(info),
                Some(_) => last_code = 5, // LEADER_NOT_AVAILABLE
                None if code == UNKNOWN_TOPIC_OR_PARTITION && !allow_auto_create => {
                    return Err(ClientError::UnknownTopic(name.to_string()));
                }
                None if !super::error::KafkaCode(code).is_retriable() => {
                    return Err(ClientError::kafka(
                        format!("metadata for topic {name}"),
                        code,
                        None,
                    )
                    .unwrap_or_else(|| ClientError::UnknownTopic(name.to_string())));
                }
                None => last_code = code,
            }
        }
        if last_code == UNKNOWN_TOPIC_OR_PARTITION {
            return Err(ClientError::UnknownTopic(name.to_string()));
        }
        Err(
            ClientError::kafka(format!("metadata for topic {name}"), last_code, None)
                .unwrap_or_else(|| ClientError::UnknownTopic(name.to_string())),
        )
    }

    /// Forgets the cached metadata of `topic` (after NOT_LEADER_OR_FOLLOWER,
    /// UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, ...).
    pub fn invalidate(&self, topic: &str) {
        self.write().topics.remove(topic);
    }

    /// The leader broker id of `topic`-`partition`, refreshing metadata if
    /// the cache has no leader for it.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        let mut info = self.topic(topic).await?;
        for refreshed in [false, true] {
            match info.partition(partition) {
                Some(p) if p.leader >= 0 => return Ok(p.leader),
                Some(_) if !refreshed => {}
                Some(_) => {
                    return Err(ClientError::kafka(
                        format!("leader of {topic}-{partition}"),
                        5,
                        None,
                    )
                    .unwrap_or(ClientError::UnknownTopic(topic.to_string())));
                }
                None if refreshed => {
                    return Err(ClientError::UnknownPartition {
                        topic: topic.to_string(),
                        partition,
                        count: info.partition_count(),
                    });
                }
                None => {}
            }
            info = self.refresh_topic(topic, false).await?;
        }
        Err(ClientError::UnknownTopic(topic.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists_are_parsed() {
        assert_eq!(
            parse_bootstrap("a:1, b:2,,").expect("valid"),
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        assert!(parse_bootstrap("").is_err());
        assert!(parse_bootstrap("localhost").is_err());
        assert!(parse_bootstrap("host:99999").is_err());
    }

    #[test]
    fn broker_addresses() {
        let b = BrokerInfo {
            node_id: 1,
            host: "::1".into(),
            port: 9092,
            rack: None,
        };
        assert_eq!(b.addr(), "[::1]:9092");
    }
}
