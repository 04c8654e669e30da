//! Kafka's topic-level configs as the broker reports and validates them:
//! each name with its type, Kafka's default and the broker configs it
//! inherits its default from (`retention.ms` ← `log.retention.ms`,
//! `log.retention.minutes`, `log.retention.hours`).

/// The value type of a config, for validation and DescribeConfigs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigType {
    /// A boolean (`true`/`false`).
    Boolean,
    /// A 32-bit integer with a lower bound.
    Int(i32),
    /// A 64-bit integer with a lower bound.
    Long(i64),
    /// A floating-point number in `[min, max]`.
    Double(f64, f64),
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// A comma-separated list of values from a fixed set.
    List(&'static [&'static str]),
    /// Any string.
    String,
}

impl ConfigType {
    /// The DescribeConfigs `config_type` code (v3+): BOOLEAN 1, STRING 2,
    /// INT 3, SHORT 4, LONG 5, DOUBLE 6, LIST 7.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String | ConfigType::Enum(_) => 2,
            ConfigType::Int(_) => 3,
            ConfigType::Long(_) => 5,
            ConfigType::Double(..) => 6,
            ConfigType::List(_) => 7,
        }
    }

    /// Checks a value; the error says why it is rejected.
    pub fn validate(self, value: &str) -> Result<(), String> {
        match self {
            ConfigType::Boolean => match value {
                "true" | "false" => Ok(()),
                _ => Err("expected true or false".into()),
            },
            ConfigType::Int(min) => match value.trim().parse::<i32>() {
                Ok(v) if v >= min => Ok(()),
                Ok(_) => Err(format!("must be at least {min}")),
                Err(_) => Err("expected an integer".into()),
            },
            ConfigType::Long(min) => match value.trim().parse::<i64>() {
                Ok(v) if v >= min => Ok(()),
                Ok(_) => Err(format!("must be at least {min}")),
                Err(_) => Err("expected an integer".into()),
            },
            ConfigType::Double(min, max) => match value.trim().parse::<f64>() {
                Ok(v) if v >= min && v <= max => Ok(()),
                Ok(_) => Err(format!("must be between {min} and {max}")),
                Err(_) => Err("expected a number".into()),
            },
            ConfigType::Enum(allowed) => {
                if allowed.contains(&value) {
                    Ok(())
                } else {
                    Err(format!("expected one of {}", allowed.join(", ")))
                }
            }
            ConfigType::List(allowed) => {
                for item in value.split(',').map(str::trim) {
                    if !allowed.contains(&item) {
                        return Err(format!("expected a list of {}", allowed.join(", ")));
                    }
                }
                Ok(())
            }
            ConfigType::String => Ok(()),
        }
    }
}

/// How a broker config synonym turns into the topic config's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Same value.
    Same,
    /// Minutes to milliseconds.
    MinutesToMs,
    /// Hours to milliseconds.
    HoursToMs,
}

/// One topic-level config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// Topic config name.
    pub name: &'static str,
    /// Value type.
    pub kind: ConfigType,
    /// Kafka's default when no broker config sets it.
    pub default: &'static str,
    /// Broker configs it takes its default from, highest precedence first.
    pub synonyms: &'static [(&'static str, Scale)],
    /// One-line documentation.
    pub doc: &'static str,
}

const CLEANUP: &[&str] = &["delete", "compact"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const LONG_MAX: &str = "9223372036854775807";

/// Every topic config runnel knows, in Kafka's names.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        kind: ConfigType::List(CLEANUP),
        default: "delete",
        synonyms: &[("log.cleanup.policy", Scale::Same)],
        doc: "delete old segments, compact by key, or both",
    },
    TopicConfigDef {
        name: "compression.type",
        kind: ConfigType::Enum(COMPRESSION),
        default: "producer",
        synonyms: &[("compression.type", Scale::Same)],
        doc: "compression of stored batches (producer keeps the client's)",
    },
    TopicConfigDef {
        name: "delete.retention.ms",
        kind: ConfigType::Long(0),
        default: "86400000",
        synonyms: &[("log.cleaner.delete.retention.ms", Scale::Same)],
        doc: "how long tombstones are kept in compacted topics",
    },
    TopicConfigDef {
        name: "file.delete.delay.ms",
        kind: ConfigType::Long(0),
        default: "60000",
        synonyms: &[("log.segment.delete.delay.ms", Scale::Same)],
        doc: "delay before a deleted segment's file is removed",
    },
    TopicConfigDef {
        name: "flush.messages",
        kind: ConfigType::Long(1),
        default: LONG_MAX,
        synonyms: &[("log.flush.interval.messages", Scale::Same)],
        doc: "records between forced flushes",
    },
    TopicConfigDef {
        name: "flush.ms",
        kind: ConfigType::Long(0),
        default: LONG_MAX,
        synonyms: &[("log.flush.interval.ms", Scale::Same)],
        doc: "milliseconds between forced flushes",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        kind: ConfigType::Int(0),
        default: "4096",
        synonyms: &[("log.index.interval.bytes", Scale::Same)],
        doc: "bytes between offset index entries",
    },
    TopicConfigDef {
        name: "max.compaction.lag.ms",
        kind: ConfigType::Long(1),
        default: LONG_MAX,
        synonyms: &[("log.cleaner.max.compaction.lag.ms", Scale::Same)],
        doc: "longest time a record stays uncompacted",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        kind: ConfigType::Int(0),
        default: "1048588",
        synonyms: &[("message.max.bytes", Scale::Same)],
        doc: "largest record batch accepted",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        kind: ConfigType::Enum(TIMESTAMP_TYPES),
        default: "CreateTime",
        synonyms: &[("log.message.timestamp.type", Scale::Same)],
        doc: "CreateTime (the producer's) or LogAppendTime (the broker's)",
    },
    TopicConfigDef {
        name: "min.cleanable.dirty.ratio",
        kind: ConfigType::Double(0.0, 1.0),
        default: "0.5",
        synonyms: &[("log.cleaner.min.cleanable.ratio", Scale::Same)],
        doc: "dirty share of the log that triggers compaction",
    },
    TopicConfigDef {
        name: "min.compaction.lag.ms",
        kind: ConfigType::Long(0),
        default: "0",
        synonyms: &[("log.cleaner.min.compaction.lag.ms", Scale::Same)],
        doc: "shortest time a record stays uncompacted",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        kind: ConfigType::Int(1),
        default: "1",
        synonyms: &[("min.insync.replicas", Scale::Same)],
        doc: "replicas that must acknowledge acks=all (always 1 here)",
    },
    TopicConfigDef {
        name: "preallocate",
        kind: ConfigType::Boolean,
        default: "false",
        synonyms: &[("log.preallocate", Scale::Same)],
        doc: "preallocate segment files",
    },
    TopicConfigDef {
        name: "retention.bytes",
        kind: ConfigType::Long(-1),
        default: "-1",
        synonyms: &[("log.retention.bytes", Scale::Same)],
        doc: "largest partition size before old segments are deleted (-1: no limit)",
    },
    TopicConfigDef {
        name: "retention.ms",
        kind: ConfigType::Long(-1),
        default: "604800000",
        synonyms: &[
            ("log.retention.ms", Scale::Same),
            ("log.retention.minutes", Scale::MinutesToMs),
            ("log.retention.hours", Scale::HoursToMs),
        ],
        doc: "how long records are kept (-1: forever)",
    },
    TopicConfigDef {
        name: "segment.bytes",
        kind: ConfigType::Int(14),
        default: "1073741824",
        synonyms: &[("log.segment.bytes", Scale::Same)],
        doc: "size at which a segment rolls",
    },
    TopicConfigDef {
        name: "segment.index.bytes",
        kind: ConfigType::Int(4),
        default: "10485760",
        synonyms: &[("log.index.size.max.bytes", Scale::Same)],
        doc: "maximum size of a segment's offset index",
    },
    TopicConfigDef {
        name: "segment.jitter.ms",
        kind: ConfigType::Long(0),
        default: "0",
        synonyms: &[
            ("log.roll.jitter.ms", Scale::Same),
            ("log.roll.jitter.hours", Scale::HoursToMs),
        ],
        doc: "random jitter subtracted from segment.ms",
    },
    TopicConfigDef {
        name: "segment.ms",
        kind: ConfigType::Long(1),
        default: "604800000",
        synonyms: &[
            ("log.roll.ms", Scale::Same),
            ("log.roll.hours", Scale::HoursToMs),
        ],
        doc: "age at which a segment rolls",
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        kind: ConfigType::Boolean,
        default: "false",
        synonyms: &[("unclean.leader.election.enable", Scale::Same)],
        doc: "accepted for compatibility (single node)",
    },
];

/// The definition of topic config `name`, if Kafka has one runnel knows.
pub fn topic_config(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Converts a broker synonym's value to the topic config's unit.
pub fn scale_value(value: &str, scale: Scale) -> Option<String> {
    let factor = match scale {
        Scale::Same => return Some(value.to_string()),
        Scale::MinutesToMs => 60_000i64,
        Scale::HoursToMs => 3_600_000i64,
    };
    let v: i64 = value.trim().parse().ok()?;
    if v < 0 {
        return Some("-1".into());
    }
    Some(v.saturating_mul(factor).to_string())
}

/// Whether `name` is the broker-level synonym of some topic config.
pub fn is_topic_synonym(name: &str) -> bool {
    TOPIC_CONFIGS
        .iter()
        .any(|d| d.synonyms.iter().any(|(s, _)| *s == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str) -> Result<(), String> {
        topic_config(name)
            .ok_or_else(|| format!("unknown topic config {name}"))?
            .kind
            .validate(value)
    }

    #[test]
    fn validates_types() {
        assert!(check("retention.ms", "-1").is_ok());
        assert!(check("retention.ms", "-2").is_err());
        assert!(check("retention.ms", "abc").is_err());
        assert!(check("cleanup.policy", "compact,delete").is_ok());
        assert!(check("cleanup.policy", "compact,nope").is_err());
        assert!(check("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(check("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(check("no.such.config", "1").is_err());
    }

    #[test]
    fn scales_hours() {
        assert_eq!(scale_value("168", Scale::HoursToMs).unwrap(), "604800000");
        assert_eq!(scale_value("-1", Scale::HoursToMs).unwrap(), "-1");
        assert!(is_topic_synonym("log.retention.hours"));
        assert!(!is_topic_synonym("retention.ms"));
    }
}
