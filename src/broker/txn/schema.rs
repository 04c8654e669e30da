//! Kafka's record schemas of the `__transaction_state` topic, byte for byte
//! (Kafka's `TransactionLog`, `TransactionLogKey.json`,
//! `TransactionLogValue.json`). Each key and value starts with an int16
//! schema version.
//!
//! Key version 0 (`TransactionLogKey`):
//!
//! | field            | type   |
//! |------------------|--------|
//! | version          | int16 (0) |
//! | transactional_id | string (int16 length + UTF-8) |
//!
//! Value version 0 (`TransactionLogValue`, what Kafka writes below
//! `transaction.version` 2, and what runnel writes):
//!
//! | field                             | type  |
//! |-----------------------------------|-------|
//! | version                           | int16 (0) |
//! | producer_id                       | int64 |
//! | producer_epoch                    | int16 |
//! | transaction_timeout_ms            | int32 |
//! | transaction_status                | int8 ([`TransactionState`] id) |
//! | transaction_partitions            | nullable array (int32 count, -1 = null) of {topic string, partition_ids [int32]} |
//! | transaction_last_update_timestamp_ms | int64 |
//! | transaction_start_timestamp_ms    | int64 |
//!
//! Value version 1 is the first flexible version: compact strings and
//! arrays (unsigned varint length + 1), a tagged-field section after each
//! partition entry and at the end of the value, with tags 0
//! (previous_producer_id int64), 1 (next_producer_id int64) and 2
//! (client_transaction_version int16). It is decoded, so a data directory
//! written by Kafka with transactions v2 loads. A null value (tombstone)
//! removes the transactional id. Empty transactions are written with null
//! partitions, as Kafka does.

use super::state::TransactionState;
use crate::broker::schema_reader::{FieldError, Reader, put_string};
use bytes::BufMut;

/// Why a `__transaction_state` record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The bytes end before a field does.
    #[error("record truncated while reading {0}")]
    Truncated(&'static str),
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
    /// A null where the schema does not allow one, or a negative length.
    #[error("invalid length in {0}")]
    InvalidLength(&'static str),
    /// A value version this coordinator does not know.
    #[error("unsupported transaction log value version {0}")]
    UnsupportedVersion(i16),
    /// A transaction status id outside Kafka's states.
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
}

impl From<FieldError> for SchemaError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Truncated(what) => SchemaError::Truncated(what),
            FieldError::Utf8(what) => SchemaError::Utf8(what),
            FieldError::InvalidLength(what) => SchemaError::InvalidLength(what),
        }
    }
}

/// Version of `TransactionLogKey` written (the only one).
pub const KEY_VERSION: i16 = 0;
/// Version of `TransactionLogValue` written (Kafka's below transactions v2).
pub const VALUE_VERSION: i16 = 0;

/// A decoded record key of `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnKey {
    /// The state of one transactional id.
    Txn(String),
    /// A key of a version this coordinator does not know (skipped with a
    /// warning, as Kafka's loader does).
    Unknown(i16),
}

impl TxnKey {
    /// Encodes the key of `transactional_id` (version 0).
    pub fn encode(transactional_id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + transactional_id.len());
        out.put_i16(KEY_VERSION);
        put_string(&mut out, transactional_id);
        out
    }

    /// Decodes a key.
    pub fn decode(bytes: &[u8]) -> Result<TxnKey, SchemaError> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16("key version")?;
        if version != KEY_VERSION {
            return Ok(TxnKey::Unknown(version));
        }
        Ok(TxnKey::Txn(r.string("transactional_id")?))
    }
}

/// `TransactionLogValue`: the state of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnValue {
    /// Producer id in use by the transactional id.
    pub producer_id: i64,
    /// Producer id of the last committed transaction (v1 tag 0), -1 if none.
    pub previous_producer_id: i64,
    /// Latest producer id sent to the producer (v1 tag 1), -1 if none.
    pub next_producer_id: i64,
    /// Epoch of the producer id.
    pub producer_epoch: i16,
    /// Transaction timeout (ms).
    pub transaction_timeout_ms: i32,
    /// State of the transaction.
    pub state: TransactionState,
    /// Partitions of the transaction, by topic (`None` = null, written for
    /// Empty).
    pub partitions: Option<Vec<(String, Vec<i32>)>>,
    /// When the transaction was last updated (ms since the epoch).
    pub last_update_timestamp_ms: i64,
    /// When the transaction started (ms since the epoch), -1 if none.
    pub start_timestamp_ms: i64,
    /// Transaction version used by the client (v1 tag 2), 0 if not given.
    pub client_transaction_version: i16,
}

impl TxnValue {
    /// Encodes the value in version 0 (the tagged v1 fields are dropped, as
    /// Kafka does below transactions v2).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.put_i16(VALUE_VERSION);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.transaction_timeout_ms);
        out.put_i8(self.state.id());
        match &self.partitions {
            None => out.put_i32(-1),
            Some(topics) => {
                out.put_i32(topics.len() as i32);
                for (topic, partitions) in topics {
                    put_string(&mut out, topic);
                    out.put_i32(partitions.len() as i32);
                    for p in partitions {
                        out.put_i32(*p);
                    }
                }
            }
        }
        out.put_i64(self.last_update_timestamp_ms);
        out.put_i64(self.start_timestamp_ms);
        out
    }

    /// Decodes a value of version 0 or 1.
    pub fn decode(bytes: &[u8]) -> Result<TxnValue, SchemaError> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16("value version")?;
        if !(0..=1).contains(&version) {
            return Err(SchemaError::UnsupportedVersion(version));
        }
        r.set_flexible(version >= 1);
        let producer_id = r.i64("producer_id")?;
        let producer_epoch = r.i16("producer_epoch")?;
        let transaction_timeout_ms = r.i32("transaction_timeout_ms")?;
        let status = r.i8("transaction_status")?;
        let state = TransactionState::from_id(status).ok_or(SchemaError::UnknownStatus(status))?;
        let partitions = match r.len("transaction_partitions", true)? {
            None => None,
            Some(n) => {
                let mut topics = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let topic = r.string("topic")?;
                    let count = r
                        .len("partition_ids", true)?
                        .ok_or(SchemaError::InvalidLength("partition_ids"))?;
                    let mut ids = Vec::with_capacity(count.min(1024));
                    for _ in 0..count {
                        ids.push(r.i32("partition_id")?);
                    }
                    r.skip_tagged_fields()?;
                    topics.push((topic, ids));
                }
                Some(topics)
            }
        };
        let last_update_timestamp_ms = r.i64("transaction_last_update_timestamp_ms")?;
        let start_timestamp_ms = r.i64("transaction_start_timestamp_ms")?;
        let mut value = TxnValue {
            producer_id,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch,
            transaction_timeout_ms,
            state,
            partitions,
            last_update_timestamp_ms,
            start_timestamp_ms,
            client_transaction_version: 0,
        };
        r.tagged_fields(|tag, data| {
            let mut t = Reader::new(data, false);
            match tag {
                0 => value.previous_producer_id = t.i64("previous_producer_id")?,
                1 => value.next_producer_id = t.i64("next_producer_id")?,
                2 => value.client_transaction_version = t.i16("client_transaction_version")?,
                _ => {}
            }
            Ok::<(), SchemaError>(())
        })?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of `TransactionLog.keyToBytes("txn-1")` in Kafka.
    #[test]
    fn key_matches_kafkas_bytes() {
        let kafka = [0, 0, 0, 5, b't', b'x', b'n', b'-', b'1'];
        assert_eq!(TxnKey::encode("txn-1"), kafka);
        assert_eq!(TxnKey::decode(&kafka), Ok(TxnKey::Txn("txn-1".into())));
        assert_eq!(TxnKey::decode(&[0, 1, 0, 0]), Ok(TxnKey::Unknown(1)));
        assert!(TxnKey::decode(&[0, 0, 0, 9, b'a']).is_err());
    }

    fn ongoing() -> TxnValue {
        TxnValue {
            producer_id: 0x0102,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 3,
            transaction_timeout_ms: 60_000,
            state: TransactionState::Ongoing,
            partitions: Some(vec![("t".into(), vec![0, 2])]),
            last_update_timestamp_ms: 1000,
            start_timestamp_ms: 900,
            client_transaction_version: 0,
        }
    }

    /// Value v0 written by hand from `TransactionLogValue.json`.
    #[test]
    fn value_v0_matches_kafkas_bytes() {
        #[rustfmt::skip]
        let kafka: Vec<u8> = vec![
            0, 0,                               // version 0
            0, 0, 0, 0, 0, 0, 1, 2,             // producer_id
            0, 3,                               // producer_epoch
            0, 0, 0xea, 0x60,                   // timeout 60000
            1,                                  // Ongoing
            0, 0, 0, 1,                         // 1 topic
            0, 1, b't',                         // "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // [0, 2]
            0, 0, 0, 0, 0, 0, 0x03, 0xe8,       // last update 1000
            0, 0, 0, 0, 0, 0, 0x03, 0x84,       // start 900
        ];
        assert_eq!(ongoing().encode(), kafka);
        assert_eq!(TxnValue::decode(&kafka), Ok(ongoing()));
    }

    #[test]
    fn empty_is_written_with_null_partitions() {
        let mut v = ongoing();
        v.state = TransactionState::Empty;
        v.partitions = None;
        v.start_timestamp_ms = -1;
        let bytes = v.encode();
        assert_eq!(&bytes[17..21], &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(TxnValue::decode(&bytes), Ok(v));
    }

    /// Value v1 (flexible) as Kafka writes it with transactions v2: compact
    /// arrays and strings, tagged fields 0, 1 and 2.
    #[test]
    fn value_v1_with_tagged_fields_decodes() {
        #[rustfmt::skip]
        let kafka: Vec<u8> = vec![
            0, 1,                               // version 1
            0, 0, 0, 0, 0, 0, 1, 2,             // producer_id
            0, 3,                               // producer_epoch
            0, 0, 0xea, 0x60,                   // timeout
            4,                                  // CompleteCommit
            2,                                  // compact array: 1 topic
            2, b't',                            // compact string "t"
            2, 0, 0, 0, 7,                      // compact [7]
            0,                                  // topic tagged fields
            0, 0, 0, 0, 0, 0, 0x03, 0xe8,       // last update
            0, 0, 0, 0, 0, 0, 0x03, 0x84,       // start
            3,                                  // 3 tagged fields
            0, 8, 0, 0, 0, 0, 0, 0, 0, 9,       // previous producer id 9
            1, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // next -1
            2, 2, 0, 2,                         // client transaction version 2
        ];
        let v = TxnValue::decode(&kafka).unwrap();
        assert_eq!(v.state, TransactionState::CompleteCommit);
        assert_eq!(v.partitions, Some(vec![("t".into(), vec![7])]));
        assert_eq!(v.previous_producer_id, 9);
        assert_eq!(v.next_producer_id, -1);
        assert_eq!(v.client_transaction_version, 2);
        assert_eq!(v.start_timestamp_ms, 900);
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(
            TxnValue::decode(&[0, 2]),
            Err(SchemaError::UnsupportedVersion(2))
        );
        let mut bytes = ongoing().encode();
        bytes[16] = 9;
        assert_eq!(TxnValue::decode(&bytes), Err(SchemaError::UnknownStatus(9)));
        let bytes = ongoing().encode();
        assert!(TxnValue::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
