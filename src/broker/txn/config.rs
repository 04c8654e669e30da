//! The transaction coordinator's configs, with Kafka's broker config names
//! and defaults (Kafka's `TransactionStateManagerConfig` and
//! `TransactionLogConfig`).

/// Configs of the transaction coordinator (Kafka broker config names in the field docs).
#[derive(Debug, Clone, PartialEq)]
pub struct TxnConfig {
    /// `transactional.id.expiration.ms` (default 604800000, 7 days): a
    /// transactional id with no transaction in progress and no update for
    /// this long is removed (a tombstone is written).
    pub transactional_id_expiration_ms: i64,
    /// `transaction.max.timeout.ms` (default 900000): the largest
    /// `transaction.timeout.ms` a producer may ask for in InitProducerId
    /// (above it: INVALID_TRANSACTION_TIMEOUT).
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    /// (default 10000): how often ongoing transactions past their timeout
    /// are looked for and aborted.
    pub abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`
    /// (default 3600000): how often expired transactional ids are removed.
    pub remove_expired_transaction_cleanup_interval_ms: u64,
    /// `transaction.state.log.num.partitions` (default 50): partitions of
    /// `__transaction_state` when it is created.
    pub state_log_num_partitions: i32,
    /// `transaction.state.log.segment.bytes` (default 104857600):
    /// `segment.bytes` of `__transaction_state` when it is created.
    pub state_log_segment_bytes: i32,
    /// `offsets.topic.num.partitions` (default 50): the partition count of
    /// `__consumer_offsets`, for the partition AddOffsetsToTxn adds. The
    /// broker sets the count of the existing topic when it differs.
    pub offsets_topic_num_partitions: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            transactional_id_expiration_ms: 604_800_000,
            max_timeout_ms: 900_000,
            abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            remove_expired_transaction_cleanup_interval_ms: 3_600_000,
            state_log_num_partitions: 50,
            state_log_segment_bytes: 104_857_600,
            offsets_topic_num_partitions: 50,
        }
    }
}

impl TxnConfig {
    /// Sets the field named by a Kafka broker config key from its string
    /// value; `Ok(false)` if the key is not a transaction coordinator config.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        fn num<T: std::str::FromStr + PartialOrd + Default + Copy>(
            key: &str,
            value: &str,
            min: T,
        ) -> Result<T, String> {
            let v: T = value
                .trim()
                .parse()
                .map_err(|_| format!("invalid {key}={value}: not a valid number"))?;
            if v < min {
                return Err(format!("invalid {key}={value}: below the minimum"));
            }
            Ok(v)
        }
        match key {
            "transactional.id.expiration.ms" => {
                self.transactional_id_expiration_ms = num(key, value, 1)?
            }
            "transaction.max.timeout.ms" => self.max_timeout_ms = num(key, value, 1)?,
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.abort_timed_out_transaction_cleanup_interval_ms = num(key, value, 1)?
            }
            "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                self.remove_expired_transaction_cleanup_interval_ms = num(key, value, 1)?
            }
            "transaction.state.log.num.partitions" => {
                self.state_log_num_partitions = num(key, value, 1)?
            }
            "transaction.state.log.segment.bytes" => {
                self.state_log_segment_bytes = num(key, value, 1)?
            }
            "offsets.topic.num.partitions" => {
                self.offsets_topic_num_partitions = num(key, value, 1)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The topic configs `__transaction_state` is created with, as Kafka's
    /// `TransactionStateManager.transactionTopicConfigs`.
    pub fn topic_configs(&self) -> Vec<(String, String)> {
        vec![
            ("cleanup.policy".into(), "compact".into()),
            ("compression.type".into(), "uncompressed".into()),
            (
                "segment.bytes".into(),
                self.state_log_segment_bytes.to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_known_keys_and_rejects_bad_values() {
        let mut c = TxnConfig::default();
        assert_eq!(c.max_timeout_ms, 900_000);
        assert_eq!(c.set("transaction.max.timeout.ms", "60000"), Ok(true));
        assert_eq!(c.max_timeout_ms, 60_000);
        assert_eq!(c.set("transaction.state.log.num.partitions", "3"), Ok(true));
        assert_eq!(c.state_log_num_partitions, 3);
        assert!(c.set("transaction.state.log.num.partitions", "0").is_err());
        assert!(c.set("transactional.id.expiration.ms", "soon").is_err());
        assert_eq!(c.set("num.partitions", "3"), Ok(false));
    }
}
