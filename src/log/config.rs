//! Topic-level log configs with Kafka's names, defaults and validation.
//!
//! A [`LogConfig`] starts from Kafka's defaults, may take broker-level
//! overrides under Kafka's broker names (`log.retention.ms`,
//! `log.segment.bytes`, ...) and then a topic's own configs. Every config
//! remembers where its value came from, for DescribeConfigs.

use super::error::{LogError, Result};
use std::collections::BTreeMap;

/// Where a config's value comes from (Kafka's DescribeConfigs sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigSource {
    /// Kafka's default.
    Default,
    /// Set in the broker's configuration.
    Broker,
    /// Set on the topic.
    Topic,
}

impl ConfigSource {
    /// Kafka's `ConfigSource` code in DescribeConfigs responses.
    pub fn kafka_code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::Broker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// One config as DescribeConfigs / `topics describe` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka topic config name.
    pub name: &'static str,
    /// Value in force.
    pub value: String,
    /// Where it comes from.
    pub source: ConfigSource,
}

impl ConfigEntry {
    /// Whether the value is Kafka's default.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// The configs one partition's log runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes` (default 1 GiB).
    pub segment_bytes: u64,
    /// `segment.ms` (default 7 days).
    pub segment_ms: i64,
    /// `retention.ms` (default 7 days, -1 infinite).
    pub retention_ms: i64,
    /// `retention.bytes` (default -1 infinite).
    pub retention_bytes: i64,
    /// `cleanup.policy` includes `delete`.
    pub delete: bool,
    /// `cleanup.policy` includes `compact`.
    pub compact: bool,
    /// `delete.retention.ms` (default 1 day).
    pub delete_retention_ms: i64,
    /// `max.message.bytes` (default 1048588).
    pub max_message_bytes: usize,
    /// `index.interval.bytes` (default 4096).
    pub index_interval_bytes: usize,
    /// `segment.index.bytes` (default 10 MiB).
    pub segment_index_bytes: usize,
    /// `message.timestamp.type` is LogAppendTime.
    pub log_append_time: bool,
    /// `min.cleanable.dirty.ratio` (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms` (default 0).
    pub min_compaction_lag_ms: i64,
    /// `producer.id.expiration.ms` (default 1 day): a broker config in
    /// Kafka, not a topic one; idle producer ids are forgotten after it.
    pub producer_id_expiration_ms: i64,
    /// Values set explicitly, with their source.
    values: BTreeMap<&'static str, (String, ConfigSource)>,
}

#[derive(Clone, Copy)]
enum Kind {
    Long(i64),
    Int(i64),
    Ratio,
    Bool,
    Policy,
    TimestampType,
    Compression,
    Text,
}

struct Def {
    name: &'static str,
    default: &'static str,
    broker: &'static str,
    kind: Kind,
}

const fn def(name: &'static str, default: &'static str, broker: &'static str, kind: Kind) -> Def {
    Def {
        name,
        default,
        broker,
        kind,
    }
}

const MAX: &str = "9223372036854775807";

/// Every topic config runnel knows, with Kafka's default and broker name.
/// Those not listed in [`LogConfig`]'s fields are accepted and stored only.
const DEFS: &[Def] = &[
    def(
        "cleanup.policy",
        "delete",
        "log.cleanup.policy",
        Kind::Policy,
    ),
    def(
        "compression.type",
        "producer",
        "compression.type",
        Kind::Compression,
    ),
    def(
        "compression.gzip.level",
        "-1",
        "compression.gzip.level",
        Kind::Int(-1),
    ),
    def(
        "compression.lz4.level",
        "9",
        "compression.lz4.level",
        Kind::Int(1),
    ),
    def(
        "compression.zstd.level",
        "3",
        "compression.zstd.level",
        Kind::Int(-131072),
    ),
    def(
        "delete.retention.ms",
        "86400000",
        "log.cleaner.delete.retention.ms",
        Kind::Long(0),
    ),
    def(
        "file.delete.delay.ms",
        "60000",
        "log.segment.delete.delay.ms",
        Kind::Long(0),
    ),
    def(
        "flush.messages",
        MAX,
        "log.flush.interval.messages",
        Kind::Long(1),
    ),
    def("flush.ms", MAX, "log.flush.interval.ms", Kind::Long(0)),
    def(
        "follower.replication.throttled.replicas",
        "",
        "",
        Kind::Text,
    ),
    def(
        "index.interval.bytes",
        "4096",
        "log.index.interval.bytes",
        Kind::Int(0),
    ),
    def("leader.replication.throttled.replicas", "", "", Kind::Text),
    def(
        "local.retention.bytes",
        "-2",
        "log.local.retention.bytes",
        Kind::Long(-2),
    ),
    def(
        "local.retention.ms",
        "-2",
        "log.local.retention.ms",
        Kind::Long(-2),
    ),
    def(
        "max.compaction.lag.ms",
        MAX,
        "log.cleaner.max.compaction.lag.ms",
        Kind::Long(1),
    ),
    def(
        "max.message.bytes",
        "1048588",
        "message.max.bytes",
        Kind::Int(0),
    ),
    def(
        "message.downconversion.enable",
        "true",
        "log.message.downconversion.enable",
        Kind::Bool,
    ),
    def(
        "message.format.version",
        "3.0-IV1",
        "log.message.format.version",
        Kind::Text,
    ),
    def(
        "message.timestamp.after.max.ms",
        MAX,
        "log.message.timestamp.after.max.ms",
        Kind::Long(0),
    ),
    def(
        "message.timestamp.before.max.ms",
        MAX,
        "log.message.timestamp.before.max.ms",
        Kind::Long(0),
    ),
    def(
        "message.timestamp.difference.max.ms",
        MAX,
        "log.message.timestamp.difference.max.ms",
        Kind::Long(0),
    ),
    def(
        "message.timestamp.type",
        "CreateTime",
        "log.message.timestamp.type",
        Kind::TimestampType,
    ),
    def(
        "min.cleanable.dirty.ratio",
        "0.5",
        "log.cleaner.min.cleanable.ratio",
        Kind::Ratio,
    ),
    def(
        "min.compaction.lag.ms",
        "0",
        "log.cleaner.min.compaction.lag.ms",
        Kind::Long(0),
    ),
    def(
        "min.insync.replicas",
        "1",
        "min.insync.replicas",
        Kind::Int(1),
    ),
    def("preallocate", "false", "log.preallocate", Kind::Bool),
    def("remote.storage.enable", "false", "", Kind::Bool),
    def(
        "retention.bytes",
        "-1",
        "log.retention.bytes",
        Kind::Long(i64::MIN),
    ),
    def(
        "retention.ms",
        "604800000",
        "log.retention.ms",
        Kind::Long(-1),
    ),
    def(
        "segment.bytes",
        "1073741824",
        "log.segment.bytes",
        Kind::Int(14),
    ),
    def(
        "segment.index.bytes",
        "10485760",
        "log.index.size.max.bytes",
        Kind::Int(4),
    ),
    def(
        "segment.jitter.ms",
        "0",
        "log.roll.jitter.ms",
        Kind::Long(0),
    ),
    def("segment.ms", "604800000", "log.roll.ms", Kind::Long(1)),
    def(
        "unclean.leader.election.enable",
        "false",
        "unclean.leader.election.enable",
        Kind::Bool,
    ),
];

/// Broker configs in coarser units, as (name, topic config, factor to ms);
/// used only when the `.ms` form is not set, as in Kafka.
const BROKER_UNITS: &[(&str, &str, i64)] = &[
    ("log.retention.minutes", "retention.ms", 60_000),
    ("log.retention.hours", "retention.ms", 3_600_000),
    ("log.roll.hours", "segment.ms", 3_600_000),
    ("log.roll.jitter.hours", "segment.jitter.ms", 3_600_000),
];

fn find(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> LogError {
    LogError::InvalidConfig {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses and checks one value; the reason string on error, as Kafka words it.
fn check(kind: Kind, value: &str) -> std::result::Result<(), String> {
    match kind {
        Kind::Long(min) | Kind::Int(min) => {
            let n: i64 = value.parse().map_err(|_| {
                let t = if matches!(kind, Kind::Int(_)) {
                    "INT"
                } else {
                    "LONG"
                };
                format!("not a number of type {t}")
            })?;
            if matches!(kind, Kind::Int(_)) && i32::try_from(n).is_err() {
                return Err("not a number of type INT".into());
            }
            if n < min {
                return Err(format!("value must be at least {min}"));
            }
        }
        Kind::Ratio => {
            let r: f64 = value
                .parse()
                .map_err(|_| "not a number of type DOUBLE".to_string())?;
            if !(0.0..=1.0).contains(&r) {
                return Err("value must be between 0 and 1".into());
            }
        }
        Kind::Bool => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err("expected value to be either true or false".into());
            }
        }
        Kind::Policy => {
            let parts: Vec<&str> = value.split(',').map(str::trim).collect();
            if parts.iter().any(|p| *p != "delete" && *p != "compact") {
                return Err("must be delete, compact or compact,delete".into());
            }
        }
        Kind::TimestampType => {
            if value != "CreateTime" && value != "LogAppendTime" {
                return Err("must be CreateTime or LogAppendTime".into());
            }
        }
        Kind::Compression => {
            const CODECS: [&str; 6] = ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
            if !CODECS.contains(&value) {
                return Err(format!("must be one of: {}", CODECS.join(", ")));
            }
        }
        Kind::Text => {
            if value.contains('\n') {
                return Err("must not contain a line break".into());
            }
        }
    }
    Ok(())
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 604_800_000,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            delete: true,
            compact: false,
            delete_retention_ms: 86_400_000,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            log_append_time: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            producer_id_expiration_ms: 86_400_000,
            values: BTreeMap::new(),
        }
    }
}

impl LogConfig {
    /// Kafka's defaults with a topic's configs on top.
    pub fn from_topic_configs(configs: &BTreeMap<String, String>) -> Result<LogConfig> {
        LogConfig::default().with_topic_configs(configs)
    }

    /// Kafka's defaults with broker-level overrides under Kafka's broker
    /// names (`log.retention.ms`, `log.retention.hours`, `log.segment.bytes`,
    /// `message.max.bytes`, ...); other broker settings are ignored.
    pub fn from_broker_configs(broker: &BTreeMap<String, String>) -> Result<LogConfig> {
        let mut config = LogConfig::default();
        if let Some(v) = broker.get("producer.id.expiration.ms") {
            config.producer_id_expiration_ms = v
                .trim()
                .parse()
                .ok()
                .filter(|ms: &i64| *ms >= 1)
                .ok_or_else(|| {
                    invalid("producer.id.expiration.ms", v, "not a LONG of at least 1")
                })?;
        }
        for (name, topic_name, factor) in BROKER_UNITS.iter().rev() {
            let ms_name = find(topic_name).map_or("", |d| d.broker);
            if let Some(v) = broker.get(*name)
                && !broker.contains_key(ms_name)
            {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| invalid(name, v, "not a number of type LONG"))?;
                let ms = if n < 0 { -1 } else { n.saturating_mul(*factor) };
                config.set(topic_name, &ms.to_string(), ConfigSource::Broker)?;
            }
        }
        for d in DEFS.iter().filter(|d| !d.broker.is_empty()) {
            if let Some(v) = broker.get(d.broker) {
                config
                    .set(d.name, v, ConfigSource::Broker)
                    .map_err(|e| match e {
                        LogError::InvalidConfig { value, reason, .. } => {
                            invalid(d.broker, &value, reason)
                        }
                        other => other,
                    })?;
            }
        }
        Ok(config)
    }

    /// This config (broker defaults) with a topic's configs on top.
    pub fn with_topic_configs(&self, configs: &BTreeMap<String, String>) -> Result<LogConfig> {
        let mut config = self.clone();
        for (k, v) in configs {
            config.set(k, v, ConfigSource::Topic)?;
        }
        Ok(config)
    }

    /// Checks a map of topic configs (names and values) without using it.
    pub fn validate(configs: &BTreeMap<String, String>) -> Result<()> {
        LogConfig::from_topic_configs(configs).map(|_| ())
    }

    /// Whether `name` is a topic config runnel knows.
    pub fn is_known(name: &str) -> bool {
        find(name).is_some()
    }

    /// Sets one config by its Kafka topic config name.
    pub fn set(&mut self, name: &str, value: &str, source: ConfigSource) -> Result<()> {
        let def = find(name).ok_or_else(|| invalid(name, value, "unknown topic config"))?;
        let value = value.trim();
        check(def.kind, value).map_err(|reason| invalid(name, value, reason))?;
        self.apply(def.name, value);
        self.values.insert(def.name, (value.to_string(), source));
        Ok(())
    }

    /// Updates the typed field of a checked value.
    fn apply(&mut self, name: &str, value: &str) {
        let long = || value.parse::<i64>().unwrap_or_default();
        match name {
            "cleanup.policy" => {
                self.delete = value.split(',').any(|p| p.trim() == "delete");
                self.compact = value.split(',').any(|p| p.trim() == "compact");
            }
            "retention.ms" => self.retention_ms = long(),
            "retention.bytes" => self.retention_bytes = long(),
            "segment.bytes" => self.segment_bytes = long() as u64,
            "segment.ms" => self.segment_ms = long(),
            "delete.retention.ms" => self.delete_retention_ms = long(),
            "max.message.bytes" => self.max_message_bytes = long() as usize,
            "index.interval.bytes" => self.index_interval_bytes = long() as usize,
            "segment.index.bytes" => self.segment_index_bytes = long() as usize,
            "message.timestamp.type" => self.log_append_time = value == "LogAppendTime",
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = value.parse().unwrap_or(0.5)
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = long(),
            _ => {}
        }
    }

    /// The value in force of one config (set or default), if known.
    pub fn get(&self, name: &str) -> Option<String> {
        let def = find(name)?;
        Some(
            self.values
                .get(def.name)
                .map_or_else(|| def.default.to_string(), |(v, _)| v.clone()),
        )
    }

    /// Every config with its value in force and its source, by name.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        DEFS.iter()
            .map(|d| match self.values.get(d.name) {
                Some((v, source)) => ConfigEntry {
                    name: d.name,
                    value: v.clone(),
                    source: *source,
                },
                None => ConfigEntry {
                    name: d.name,
                    value: d.default.to_string(),
                    source: ConfigSource::Default,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn topic_configs_parse_and_describe() {
        let c = LogConfig::from_topic_configs(&map(&[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "-1"),
            ("segment.bytes", "1024"),
            ("message.timestamp.type", "LogAppendTime"),
            ("compression.type", "zstd"),
        ]))
        .unwrap();
        assert!(c.compact && c.delete && c.log_append_time);
        assert_eq!((c.retention_ms, c.segment_bytes), (-1, 1024));
        let d = c.describe();
        let seg = d.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(
            (seg.value.as_str(), seg.source),
            ("1024", ConfigSource::Topic)
        );
        let idx = d.iter().find(|e| e.name == "index.interval.bytes").unwrap();
        assert!(idx.is_default());
        assert_eq!(idx.value, "4096");
        assert_eq!(c.get("compression.type").as_deref(), Some("zstd"));
        assert_eq!(
            LogConfig::default().get("retention.ms").as_deref(),
            Some("604800000")
        );
    }

    #[test]
    fn invalid_configs_are_rejected_with_reason() {
        let cases = [
            ("no.such.config", "1", "unknown topic config"),
            ("segment.bytes", "13", "at least 14"),
            ("segment.bytes", "3000000000", "INT"),
            ("retention.ms", "-2", "at least -1"),
            ("retention.ms", "soon", "LONG"),
            ("cleanup.policy", "remove", "delete, compact"),
            ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
            ("message.timestamp.type", "Now", "CreateTime"),
            ("compression.type", "brotli", "must be one of"),
            ("preallocate", "yes", "true or false"),
        ];
        for (k, v, reason) in cases {
            match LogConfig::validate(&map(&[(k, v)])) {
                Err(LogError::InvalidConfig { key, reason: r, .. }) => {
                    assert_eq!(key, k);
                    assert!(r.contains(reason), "{k}={v}: {r}");
                }
                other => panic!("{k}={v}: {other:?}"),
            }
        }
    }

    #[test]
    fn broker_overrides_then_topic_configs() {
        let broker = LogConfig::from_broker_configs(&map(&[
            ("log.retention.hours", "1"),
            ("log.segment.bytes", "4096"),
            ("num.partitions", "3"),
        ]))
        .unwrap();
        assert_eq!(broker.retention_ms, 3_600_000);
        assert_eq!(broker.segment_bytes, 4096);
        let ms_wins = LogConfig::from_broker_configs(&map(&[
            ("log.retention.hours", "1"),
            ("log.retention.ms", "5"),
        ]))
        .unwrap();
        assert_eq!(ms_wins.retention_ms, 5);
        let topic = broker
            .with_topic_configs(&map(&[("retention.ms", "1000")]))
            .unwrap();
        assert_eq!(topic.retention_ms, 1000);
        let d = topic.describe();
        let src = |n: &str| d.iter().find(|e| e.name == n).unwrap().source;
        assert_eq!(src("retention.ms"), ConfigSource::Topic);
        assert_eq!(src("segment.bytes"), ConfigSource::Broker);
        assert_eq!(src("segment.ms"), ConfigSource::Default);
        assert!(LogConfig::from_broker_configs(&map(&[("log.segment.bytes", "1")])).is_err());
    }

    #[test]
    fn producer_id_expiration_is_a_broker_config_only() {
        assert_eq!(LogConfig::default().producer_id_expiration_ms, 86_400_000);
        let broker =
            LogConfig::from_broker_configs(&map(&[("producer.id.expiration.ms", "5000")])).unwrap();
        assert_eq!(broker.producer_id_expiration_ms, 5000);
        let topic = broker.with_topic_configs(&map(&[])).unwrap();
        assert_eq!(topic.producer_id_expiration_ms, 5000, "topics inherit it");
        assert!(
            !LogConfig::is_known("producer.id.expiration.ms"),
            "no topic config"
        );
        assert!(
            LogConfig::from_broker_configs(&map(&[("producer.id.expiration.ms", "0")])).is_err()
        );
    }
}
