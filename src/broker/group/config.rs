//! The group coordinator's configs, with Kafka's broker config names and defaults.

/// Configs of the group coordinator (Kafka broker config names in the field docs).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an
    /// empty group waits for more members (extended by each joining member
    /// up to the rebalance timeout). Kafka's default is 3000; runnel's is 300
    /// so a single consumer starts quickly.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` (default 6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (default 1800000).
    pub max_session_timeout_ms: i32,
    /// `group.max.size` (default unlimited).
    pub max_size: usize,
    /// `offsets.retention.minutes` (default 7 days).
    pub offsets_retention_minutes: u64,
    /// `offsets.retention.check.interval.ms` (default 600000).
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions` (default 50).
    pub offsets_topic_num_partitions: i32,
    /// `offset.metadata.max.bytes` (default 4096).
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 300,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: usize::MAX,
            offsets_retention_minutes: 7 * 24 * 60,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_num_partitions: 50,
            offset_metadata_max_bytes: 4096,
        }
    }
}

impl GroupConfig {
    /// Sets the field named by a Kafka broker config key from its string
    /// value; `Ok(false)` if the key is not a group coordinator config.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("invalid {key}={value}: not a valid number"))
        }
        match key {
            "group.initial.rebalance.delay.ms" => {
                self.initial_rebalance_delay_ms = num(key, value)?
            }
            "group.min.session.timeout.ms" => self.min_session_timeout_ms = num(key, value)?,
            "group.max.session.timeout.ms" => self.max_session_timeout_ms = num(key, value)?,
            "group.max.size" => self.max_size = num(key, value)?,
            "offsets.retention.minutes" => self.offsets_retention_minutes = num(key, value)?,
            "offsets.retention.check.interval.ms" => {
                self.offsets_retention_check_interval_ms = num(key, value)?
            }
            "offsets.topic.num.partitions" => {
                let n: i32 = num(key, value)?;
                if n < 1 {
                    return Err(format!("invalid {key}={value}: must be at least 1"));
                }
                self.offsets_topic_num_partitions = n;
            }
            "offset.metadata.max.bytes" => self.offset_metadata_max_bytes = num(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `offsets.retention.minutes` in milliseconds.
    pub fn offsets_retention_ms(&self) -> i64 {
        (self.offsets_retention_minutes as i64).saturating_mul(60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_known_keys_and_rejects_bad_values() {
        let mut c = GroupConfig::default();
        assert_eq!(c.set("group.initial.rebalance.delay.ms", "0"), Ok(true));
        assert_eq!(c.initial_rebalance_delay_ms, 0);
        assert_eq!(c.set("offsets.retention.minutes", "1"), Ok(true));
        assert_eq!(c.offsets_retention_ms(), 60_000);
        assert!(c.set("offsets.topic.num.partitions", "0").is_err());
        assert!(c.set("group.max.size", "many").is_err());
        assert_eq!(c.set("num.partitions", "3"), Ok(false));
    }
}
