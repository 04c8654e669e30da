//! Control records: the transaction markers a transaction coordinator
//! writes into each partition of a transaction (Kafka's
//! `ControlRecordType` and `EndTransactionMarker`).
//!
//! A marker is a v2 batch of one record with the transactional and control
//! attribute bits set, the producer's id and epoch, base sequence -1, and
//! (big endian):
//! ```text
//! key:   version int16 (0)   type int16 (0 ABORT, 1 COMMIT)
//! value: version int16 (0)   coordinator_epoch int32
//! ```
//! Readers accept newer key and value versions (Kafka reads the fields it
//! knows and ignores the rest) but refuse negative ones and short buffers.

use super::BatchBuilder;
use super::Compression;
use super::batch::{self, ATTR_CONTROL, ATTRIBUTES_OFFSET, BatchError};
use super::decode::BatchRecords;

/// Version of the control record key written.
pub const CONTROL_KEY_VERSION: i16 = 0;
/// Version of the end transaction marker value written.
pub const END_TXN_MARKER_VERSION: i16 = 0;

/// What a control record says (Kafka's `ControlRecordType`; only the two
/// transaction markers are defined for data partitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The transaction was aborted: its records are skipped by read_committed consumers.
    Abort = 0,
    /// The transaction was committed.
    Commit = 1,
}

impl ControlRecordType {
    /// The type id in the key.
    pub fn id(self) -> i16 {
        self as i16
    }

    /// The type of a key's type id, `None` for ids Kafka does not define
    /// for transaction markers.
    pub fn from_id(id: i16) -> Option<Self> {
        match id {
            0 => Some(ControlRecordType::Abort),
            1 => Some(ControlRecordType::Commit),
            _ => None,
        }
    }

    /// Kafka's name, `ABORT` or `COMMIT`.
    pub fn name(self) -> &'static str {
        match self {
            ControlRecordType::Abort => "ABORT",
            ControlRecordType::Commit => "COMMIT",
        }
    }
}

/// A transaction marker (Kafka's `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub control: ControlRecordType,
    /// Epoch of the transaction coordinator writing it.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The record key: version 0, type id.
    pub fn key_bytes(&self) -> [u8; 4] {
        let mut k = [0u8; 4];
        k[..2].copy_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
        k[2..].copy_from_slice(&self.control.id().to_be_bytes());
        k
    }

    /// The record value: version 0, coordinator epoch.
    pub fn value_bytes(&self) -> [u8; 6] {
        let mut v = [0u8; 6];
        v[..2].copy_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
        v[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        v
    }
}

/// Builds a marker's control batch: v2, transactional|control attributes,
/// the producer's id and epoch, base sequence -1, one record, a valid CRC,
/// base offset 0 (the log patches it).
pub fn build_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: &EndTxnMarker,
    timestamp_ms: i64,
) -> Vec<u8> {
    let mut b = BatchBuilder::with_capacity(Compression::None, timestamp_ms, 128)
        .producer(producer_id, producer_epoch, -1)
        .transactional(true);
    b.push(
        timestamp_ms,
        Some(&marker.key_bytes()),
        Some(&marker.value_bytes()),
        &[],
    );
    let mut out = b.finish();
    let attrs =
        i16::from_be_bytes([out[ATTRIBUTES_OFFSET], out[ATTRIBUTES_OFFSET + 1]]) | ATTR_CONTROL;
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    batch::update_crc(&mut out);
    out
}

/// The control record type of a control record's key (Kafka's
/// `ControlRecordType.parse`); `Ok(None)` for a type id that is no
/// transaction marker.
///
/// # Errors
/// A key shorter than 4 bytes or with a negative version.
pub fn parse_control_type(key: &[u8]) -> Result<Option<ControlRecordType>, BatchError> {
    if key.len() < 4 {
        return Err(BatchError::Corrupt(format!(
            "control record key of {} bytes, need 4",
            key.len()
        )));
    }
    let version = i16::from_be_bytes([key[0], key[1]]);
    if version < 0 {
        return Err(BatchError::Corrupt(format!(
            "control record key version {version}"
        )));
    }
    Ok(ControlRecordType::from_id(i16::from_be_bytes([
        key[2], key[3],
    ])))
}

/// Reads a transaction marker from a control record's key and value
/// (Kafka's `EndTransactionMarker.deserialize`).
///
/// # Errors
/// A short or negative-version key or value, or a key whose type is
/// neither ABORT nor COMMIT.
pub fn parse_end_txn_marker(key: &[u8], value: &[u8]) -> Result<EndTxnMarker, BatchError> {
    let control = parse_control_type(key)?.ok_or_else(|| {
        BatchError::Corrupt(format!(
            "control record type {} is no transaction marker",
            i16::from_be_bytes([key[2], key[3]])
        ))
    })?;
    if value.len() < 6 {
        return Err(BatchError::Corrupt(format!(
            "end transaction marker value of {} bytes, need 6",
            value.len()
        )));
    }
    let version = i16::from_be_bytes([value[0], value[1]]);
    if version < 0 {
        return Err(BatchError::Corrupt(format!(
            "end transaction marker version {version}"
        )));
    }
    let coordinator_epoch = i32::from_be_bytes(value[2..6].try_into().expect("4 bytes"));
    Ok(EndTxnMarker {
        control,
        coordinator_epoch,
    })
}

/// The marker held by a complete control batch (its first record), `None`
/// if the batch is not a control batch or its record is no transaction
/// marker.
///
/// # Errors
/// A corrupt batch, or a control record that does not parse.
pub fn marker_of_batch(batch: &[u8]) -> Result<Option<EndTxnMarker>, BatchError> {
    let records = BatchRecords::new(batch)?;
    if !records.header().is_control() {
        return Ok(None);
    }
    let Some(record) = records.iter().next() else {
        return Ok(None);
    };
    let record = record?;
    let (Some(key), Some(value)) = (record.key, record.value) else {
        return Err(BatchError::Corrupt(
            "control record without key or value".into(),
        ));
    };
    match parse_control_type(key)? {
        None => Ok(None),
        Some(_) => parse_end_txn_marker(key, value).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BatchHeader;

    #[test]
    fn control_batch_matches_kafkas_layout() {
        let m = EndTxnMarker {
            control: ControlRecordType::Commit,
            coordinator_epoch: 7,
        };
        let b = build_control_batch(42, 3, &m, 1_700_000_000_000);
        let h = batch::validate(&b).unwrap();
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.attributes, 0x30, "transactional | control, no codec");
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (42, 3, -1)
        );
        assert_eq!((h.records_count, h.last_offset_delta), (1, 0));
        let recs = BatchRecords::new(&b).unwrap();
        let r = recs.iter().next().unwrap().unwrap();
        assert_eq!(r.key.unwrap(), &[0, 0, 0, 1]);
        assert_eq!(r.value.unwrap(), &[0, 0, 0, 0, 0, 7]);
        assert_eq!(marker_of_batch(&b).unwrap(), Some(m));
        let abort = EndTxnMarker {
            control: ControlRecordType::Abort,
            coordinator_epoch: -1,
        };
        let b = build_control_batch(1, 0, &abort, 5);
        assert_eq!(marker_of_batch(&b).unwrap(), Some(abort));
        assert!(BatchHeader::parse(&b).unwrap().is_control());
    }

    #[test]
    fn markers_parse_by_kafkas_rules() {
        // Newer versions are read for the fields known (Kafka logs and goes on).
        let m = parse_end_txn_marker(&[0, 1, 0, 0], &[0, 3, 0, 0, 0, 9, 0xff]).unwrap();
        assert_eq!(m.control, ControlRecordType::Abort);
        assert_eq!(m.coordinator_epoch, 9);
        assert!(parse_end_txn_marker(&[0xff, 0xff, 0, 0], &[0, 0, 0, 0, 0, 1]).is_err());
        assert!(parse_end_txn_marker(&[0, 0, 0, 1], &[0, 0, 0, 0]).is_err());
        assert!(parse_end_txn_marker(&[0, 0], &[0, 0, 0, 0, 0, 1]).is_err());
        assert!(parse_end_txn_marker(&[0, 0, 0, 5], &[0, 0, 0, 0, 0, 1]).is_err());
        assert_eq!(parse_control_type(&[0, 0, 0, 5]).unwrap(), None);
        // Not a control batch.
        let mut b = BatchBuilder::new(Compression::None, 0);
        b.push(0, None, Some(b"v"), &[]);
        assert_eq!(marker_of_batch(&b.finish()).unwrap(), None);
    }
}
