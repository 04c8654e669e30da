//! The broker's configuration: Kafka's broker config names read from a
//! `key=value` file and `-c` overrides, with Kafka's defaults, and the
//! topic-level defaults derived from them as Kafka derives them.

use super::topic_config::{
    ConfigType, TOPIC_CONFIGS, TopicConfigDef, is_topic_synonym, scale_value,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors in the broker configuration (fatal at startup).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A line that is not `key=value`.
    #[error("{origin}: line {line}: expected key=value, got '{text}'")]
    Syntax {
        /// File name or `-c`.
        origin: String,
        /// Line number (1-based).
        line: usize,
        /// The offending text.
        text: String,
    },
    /// A value that does not fit its config.
    #[error("invalid value for {key}: '{value}' ({reason})")]
    Invalid {
        /// Config name.
        key: String,
        /// Value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// Where a topic config's effective default comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultSource {
    /// Kafka's built-in default.
    Builtin,
    /// A broker config set in the config file or with `-c` (its name).
    Broker(String),
}

/// Broker-level configs runnel reads, with their Kafka defaults.
const BROKER_CONFIGS: &[(&str, &str, ConfigType)] = &[
    ("node.id", "1", ConfigType::Int(0)),
    ("broker.id", "1", ConfigType::Int(-1)),
    ("cluster.id", "", ConfigType::String),
    ("auto.create.topics.enable", "true", ConfigType::Boolean),
    ("delete.topic.enable", "true", ConfigType::Boolean),
    ("num.partitions", "1", ConfigType::Int(1)),
    ("default.replication.factor", "1", ConfigType::Int(1)),
    ("offsets.topic.replication.factor", "1", ConfigType::Int(1)),
    (
        "transaction.state.log.replication.factor",
        "1",
        ConfigType::Int(1),
    ),
    ("transaction.state.log.min.isr", "1", ConfigType::Int(1)),
    // The transaction coordinator's (read by broker::txn::TxnConfig).
    (
        "transaction.state.log.num.partitions",
        "50",
        ConfigType::Int(1),
    ),
    (
        "transaction.state.log.segment.bytes",
        "104857600",
        ConfigType::Int(1),
    ),
    ("transaction.max.timeout.ms", "900000", ConfigType::Int(1)),
    (
        "transactional.id.expiration.ms",
        "604800000",
        ConfigType::Int(1),
    ),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "10000",
        ConfigType::Int(1),
    ),
    (
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        "3600000",
        ConfigType::Int(1),
    ),
    ("socket.request.max.bytes", "104857600", ConfigType::Int(1)),
    // runnel's own (KIP-578's name; Kafka has no such limit).
    ("max.broker.partitions", "10000", ConfigType::Int(1)),
    // Kafka's default is -1 (unbounded); runnel bounds it by default.
    (
        "queued.max.request.bytes",
        "104857600",
        ConfigType::Long(-1),
    ),
    ("connections.max.idle.ms", "600000", ConfigType::Long(1)),
    ("producer.id.expiration.ms", "86400000", ConfigType::Int(1)),
    ("socket.send.buffer.bytes", "102400", ConfigType::Int(-1)),
    ("socket.receive.buffer.bytes", "102400", ConfigType::Int(-1)),
    (
        "log.retention.check.interval.ms",
        "300000",
        ConfigType::Long(1),
    ),
    ("log.cleaner.enable", "true", ConfigType::Boolean),
    ("log.cleaner.backoff.ms", "15000", ConfigType::Long(0)),
    ("log.cleaner.threads", "1", ConfigType::Int(0)),
    (
        "log.flush.scheduler.interval.ms",
        "9223372036854775807",
        ConfigType::Long(0),
    ),
    (
        "log.flush.offset.checkpoint.interval.ms",
        "60000",
        ConfigType::Int(0),
    ),
    (
        "group.initial.rebalance.delay.ms",
        "3000",
        ConfigType::Int(0),
    ),
    ("offsets.retention.minutes", "10080", ConfigType::Int(1)),
    ("num.network.threads", "3", ConfigType::Int(1)),
    ("num.io.threads", "8", ConfigType::Int(1)),
    ("num.recovery.threads.per.data.dir", "2", ConfigType::Int(1)),
    ("listeners", "", ConfigType::String),
    ("advertised.listeners", "", ConfigType::String),
    ("listener.security.protocol.map", "", ConfigType::String),
    ("inter.broker.listener.name", "", ConfigType::String),
    ("controller.listener.names", "", ConfigType::String),
    ("controller.quorum.voters", "", ConfigType::String),
    (
        "controller.quorum.bootstrap.servers",
        "",
        ConfigType::String,
    ),
    ("process.roles", "", ConfigType::String),
    ("log.dirs", "", ConfigType::String),
    ("log.dir", "", ConfigType::String),
    ("zookeeper.connect", "", ConfigType::String),
    ("quota.window.num", "11", ConfigType::Int(1)),
    ("quota.window.size.seconds", "1", ConfigType::Int(1)),
    ("controller.quota.window.num", "11", ConfigType::Int(1)),
    (
        "controller.quota.window.size.seconds",
        "1",
        ConfigType::Int(1),
    ),
];

/// The broker's configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    pub listen: String,
    /// Host advertised to clients in Metadata.
    pub advertised_host: String,
    /// Port advertised to clients; `None` means the port actually bound.
    pub advertised_port: Option<u16>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// `node.id` (also reported as the controller).
    pub node_id: i32,
    /// `cluster.id`, if set; otherwise one is generated and kept in the data directory.
    pub cluster_id: Option<String>,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor` (accepted; always 1 in effect).
    pub default_replication_factor: i16,
    /// `socket.request.max.bytes`: largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// `max.broker.partitions` (runnel's; the name KIP-578 proposed): most
    /// partitions this broker holds, counting internal topics. Each active
    /// segment keeps its three files open, so the cap in force is also
    /// bounded by the open file limit (see `Broker::partition_cap`).
    pub max_broker_partitions: usize,
    /// `queued.max.request.bytes`: request bytes all connections together
    /// may hold in memory (frames above 64 KiB are charged before their body
    /// is read); `None` (a value <= 0, Kafka's -1) for unbounded. Default
    /// 100 MiB, where Kafka's is unbounded.
    pub queued_max_request_bytes: Option<usize>,
    /// `connections.max.idle.ms`: connections without requests for this
    /// long are closed.
    pub connections_max_idle_ms: u64,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.cleaner.enable`.
    pub cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`.
    pub cleaner_backoff_ms: u64,
    /// Every config given (file, then overrides), by name.
    pub props: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_properties(BTreeMap::new())
            .expect("built-in defaults are valid")
            .0
    }
}

/// Parses `key=value` lines (`#` and `!` comments, blank lines ignored),
/// as Kafka's `.properties` files.
pub fn parse_properties(text: &str, origin: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(ConfigError::Syntax {
                origin: origin.to_string(),
                line: i + 1,
                text: line.to_string(),
            });
        };
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// Reads a config file with [`parse_properties`].
pub fn read_properties_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_properties(&text, &path.display().to_string())
}

fn get<'a>(props: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    if let Some(v) = props.get(key) {
        return v;
    }
    BROKER_CONFIGS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, d, _)| *d)
        .unwrap_or("")
}

fn parse_num<T: std::str::FromStr>(
    props: &BTreeMap<String, String>,
    key: &str,
) -> Result<T, ConfigError> {
    let v = get(props, key);
    v.trim().parse().map_err(|_| ConfigError::Invalid {
        key: key.into(),
        value: v.into(),
        reason: "expected a number".into(),
    })
}

/// The host:port of the first listener in a Kafka `listeners` value
/// (`PLAINTEXT://host:port,...`); an empty host means all interfaces.
fn first_listener(value: &str) -> Option<(String, u16)> {
    let first = value.split(',').next()?.trim();
    let addr = first.split_once("://").map(|(_, a)| a).unwrap_or(first);
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

fn machine_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end])
            && !s.is_empty()
        {
            return s.to_string();
        }
    }
    "localhost".to_string()
}

impl BrokerConfig {
    /// Builds the config from properties (names as Kafka's). Returns the
    /// config and the keys runnel does not know (to warn about; not fatal).
    pub fn from_properties(
        props: BTreeMap<String, String>,
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut unknown = Vec::new();
        for (key, value) in &props {
            let known = BROKER_CONFIGS.iter().find(|(k, _, _)| k == key);
            if let Some((_, _, kind)) = known {
                kind.validate(value)
                    .map_err(|reason| ConfigError::Invalid {
                        key: key.clone(),
                        value: value.clone(),
                        reason,
                    })?;
            } else if is_topic_synonym(key) {
                let def = TOPIC_CONFIGS
                    .iter()
                    .find(|d| d.synonyms.iter().any(|(s, _)| s == key))
                    .expect("synonym has a definition");
                let kind = match def.kind {
                    ConfigType::List(_) | ConfigType::Enum(_) => def.kind,
                    // Minutes/hours synonyms are checked after scaling below.
                    _ => ConfigType::String,
                };
                kind.validate(value)
                    .map_err(|reason| ConfigError::Invalid {
                        key: key.clone(),
                        value: value.clone(),
                        reason,
                    })?;
            } else {
                unknown.push(key.clone());
            }
        }
        let listen = match first_listener(get(&props, "listeners")) {
            Some((host, port)) => {
                let host = if host.is_empty() {
                    "0.0.0.0".to_string()
                } else {
                    host
                };
                format!("{host}:{port}")
            }
            None => "127.0.0.1:9092".to_string(),
        };
        let data_dir = [get(&props, "log.dirs"), get(&props, "log.dir")]
            .into_iter()
            .find_map(|d| d.split(',').next().filter(|s| !s.trim().is_empty()))
            .map(|d| PathBuf::from(d.trim()))
            .unwrap_or_else(|| PathBuf::from("./runnel-data"));
        let node_id = match props.get("node.id") {
            Some(_) => parse_num(&props, "node.id")?,
            None if props.contains_key("broker.id") => {
                let id: i32 = parse_num(&props, "broker.id")?;
                id.max(0)
            }
            None => 1,
        };
        let cluster_id = props.get("cluster.id").filter(|s| !s.is_empty()).cloned();
        let mut config = BrokerConfig {
            listen,
            advertised_host: String::new(),
            advertised_port: None,
            data_dir,
            node_id,
            cluster_id,
            auto_create_topics: get(&props, "auto.create.topics.enable") == "true",
            delete_topic_enable: get(&props, "delete.topic.enable") == "true",
            num_partitions: parse_num(&props, "num.partitions")?,
            default_replication_factor: parse_num::<i32>(&props, "default.replication.factor")?
                .clamp(1, i16::MAX as i32) as i16,
            socket_request_max_bytes: parse_num::<i32>(&props, "socket.request.max.bytes")?
                as usize,
            max_broker_partitions: parse_num::<i32>(&props, "max.broker.partitions")? as usize,
            queued_max_request_bytes: Some(parse_num::<i64>(&props, "queued.max.request.bytes")?)
                .filter(|b| *b > 0)
                .map(|b| b as usize),
            connections_max_idle_ms: parse_num(&props, "connections.max.idle.ms")?,
            retention_check_interval_ms: parse_num(&props, "log.retention.check.interval.ms")?,
            cleaner_enable: get(&props, "log.cleaner.enable") == "true",
            cleaner_backoff_ms: parse_num(&props, "log.cleaner.backoff.ms")?,
            props,
        };
        match first_listener(get(&config.props, "advertised.listeners")) {
            Some((host, port)) if !host.is_empty() => config.set_advertised(&host, Some(port)),
            _ => config.set_advertised("", None),
        }
        for def in TOPIC_CONFIGS {
            let (value, _) = config.topic_default(def);
            def.kind
                .validate(&value)
                .map_err(|reason| ConfigError::Invalid {
                    key: def
                        .synonyms
                        .first()
                        .map_or(def.name, |(s, _)| s)
                        .to_string(),
                    value: value.clone(),
                    reason,
                })?;
        }
        Ok((config, unknown))
    }

    /// The client quota windows (`quota.window.num`,
    /// `quota.window.size.seconds`).
    pub fn quota_window(&self) -> super::quota::QuotaWindow {
        let num = |k: &str, d: u32| {
            self.props
                .get(k)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(d)
        };
        super::quota::QuotaWindow {
            samples: num("quota.window.num", super::quota::DEFAULT_WINDOW_NUM),
            size_ms: u64::from(num(
                "quota.window.size.seconds",
                super::quota::DEFAULT_WINDOW_SIZE_SECONDS,
            )) * 1000,
        }
    }

    /// Sets the advertised listener; an empty host means "derived from the
    /// listen address" (the machine's host name when listening on all interfaces).
    pub fn set_advertised(&mut self, host: &str, port: Option<u16>) {
        let (listen_host, listen_port) = self
            .listen
            .rsplit_once(':')
            .map(|(h, p)| {
                (
                    h.trim_matches(|c| c == '[' || c == ']').to_string(),
                    p.parse().ok(),
                )
            })
            .unwrap_or_else(|| (self.listen.clone(), None));
        self.advertised_host = if !host.is_empty() {
            host.to_string()
        } else if listen_host.is_empty() || listen_host == "0.0.0.0" || listen_host == "::" {
            machine_hostname()
        } else {
            listen_host
        };
        self.advertised_port = port.or(listen_port.filter(|p| *p != 0));
    }

    /// The effective default of a topic config and where it comes from:
    /// the first of its broker synonyms that is set, else Kafka's default.
    pub fn topic_default(&self, def: &TopicConfigDef) -> (String, DefaultSource) {
        for (synonym, scale) in def.synonyms {
            if let Some(v) = self.props.get(*synonym)
                && let Some(scaled) = scale_value(v, *scale)
            {
                return (scaled, DefaultSource::Broker(synonym.to_string()));
            }
        }
        (def.default.to_string(), DefaultSource::Builtin)
    }

    /// Every broker config with its effective value and whether it was set
    /// explicitly (for DescribeConfigs on the broker resource).
    pub fn broker_configs(&self) -> Vec<(String, String, bool)> {
        let mut out: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for (k, d, _) in BROKER_CONFIGS {
            out.insert(k.to_string(), (d.to_string(), false));
        }
        for def in TOPIC_CONFIGS {
            for (s, _) in def.synonyms {
                let default = match self.topic_default(def) {
                    (_, DefaultSource::Broker(_)) => String::new(),
                    (v, DefaultSource::Builtin) => v,
                };
                out.insert(s.to_string(), (default, false));
            }
        }
        for (k, v) in &self.props {
            out.insert(k.clone(), (v.clone(), true));
        }
        out.insert(
            "node.id".into(),
            (self.node_id.to_string(), self.props.contains_key("node.id")),
        );
        out.into_iter().map(|(k, (v, set))| (k, v, set)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(c: &BrokerConfig) -> BTreeMap<String, String> {
        TOPIC_CONFIGS
            .iter()
            .map(|d| (d.name.to_string(), c.topic_default(d).0))
            .collect()
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = BrokerConfig::default();
        assert_eq!(c.listen, "127.0.0.1:9092");
        assert_eq!(c.advertised_host, "127.0.0.1");
        assert_eq!(c.advertised_port, Some(9092));
        assert_eq!(c.node_id, 1);
        assert!(c.auto_create_topics);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.queued_max_request_bytes, Some(104_857_600));
        let (c, _) =
            BrokerConfig::from_properties(props(&[("queued.max.request.bytes", "-1")])).unwrap();
        assert_eq!(c.queued_max_request_bytes, None);
        assert_eq!(c.retention_check_interval_ms, 300_000);
        let d = defaults(&c);
        assert_eq!(d["retention.ms"], "604800000");
        assert_eq!(d["max.message.bytes"], "1048588");
        assert_eq!(d["cleanup.policy"], "delete");
    }

    #[test]
    fn broker_synonyms_become_topic_defaults() {
        let (c, unknown) = BrokerConfig::from_properties(props(&[
            ("log.retention.hours", "1"),
            ("log.segment.bytes", "1048576"),
            ("message.max.bytes", "2000000"),
            ("num.partitions", "3"),
            ("some.unknown.thing", "x"),
            ("listeners", "PLAINTEXT://:19092"),
            ("advertised.listeners", "PLAINTEXT://kafka.example:29092"),
            ("log.dirs", "/tmp/a,/tmp/b"),
        ]))
        .unwrap();
        assert_eq!(unknown, vec!["some.unknown.thing".to_string()]);
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.listen, "0.0.0.0:19092");
        assert_eq!(
            (c.advertised_host.as_str(), c.advertised_port),
            ("kafka.example", Some(29092))
        );
        assert_eq!(c.data_dir, PathBuf::from("/tmp/a"));
        let d = defaults(&c);
        assert_eq!(d["retention.ms"], "3600000");
        assert_eq!(d["segment.bytes"], "1048576");
        assert_eq!(d["max.message.bytes"], "2000000");
        // log.retention.ms beats hours.
        let (c, _) = BrokerConfig::from_properties(props(&[
            ("log.retention.hours", "1"),
            ("log.retention.ms", "5000"),
        ]))
        .unwrap();
        assert_eq!(
            c.topic_default(super::super::topic_config::topic_config("retention.ms").unwrap()),
            (
                "5000".to_string(),
                DefaultSource::Broker("log.retention.ms".into())
            )
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(BrokerConfig::from_properties(props(&[("num.partitions", "zero")])).is_err());
        assert!(BrokerConfig::from_properties(props(&[("log.retention.ms", "soon")])).is_err());
        assert!(BrokerConfig::from_properties(props(&[("log.cleanup.policy", "nope")])).is_err());
        assert!(parse_properties("a=1\n# c\n\nbad line\n", "f").is_err());
        assert_eq!(
            parse_properties(" a = 1 \n# c\n!x\nb=x=y\n", "f").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
    }
}
