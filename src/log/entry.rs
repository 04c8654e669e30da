//! One header view over the entries of a `.log` file (Kafka's `RecordBatch`
//! interface, which `DefaultRecordBatch` and `AbstractLegacyRecordBatch`
//! implement): a v2 record batch, or a legacy v0/v1 message, a single record
//! or a compressed wrapper, as Apache Kafka wrote them before 0.11.
//!
//! Segment scanning, loading, recovery, reads, timestamp lookups and the
//! cleaner go through [`EntryHeader`], so a segment holding legacy message
//! sets (alone or followed by v2 batches, as after a message format upgrade)
//! is read, recovered and served as stored instead of looking corrupt.
//!
//! What a header alone tells, by magic:
//! ```text
//!                 v2 batch            legacy message         legacy wrapper
//! base offset     baseOffset          offset                 offset (= last; see below)
//! last offset     base + delta        offset                 offset
//! max timestamp   maxTimestamp        timestamp (v0: -1)     timestamp (v0: -1)
//! bytes needed    61                  18 (v0) / 26 (v1)      18 (v0) / 26 (v1)
//! ```
//! A compressed legacy wrapper carries only the offset of its last inner
//! message (Kafka's recovery and index use only that); its first offset needs
//! decompression ([`crate::record::legacy::summarize`]).

use crate::record::batch::{
    self, BatchHeader, HEADER_SIZE, LENGTH_OFFSET, LOG_OVERHEAD, MAGIC_OFFSET,
};
use crate::record::legacy::{self, LegacyMessage, MIN_MESSAGE_SIZE_V0, MIN_MESSAGE_SIZE_V1};
use crate::record::{BatchError, BatchRecords};

/// Bytes every entry starts with before its header differs by magic:
/// offset, length, and the magic byte at position 16.
pub const PREFIX_SIZE: usize = MAGIC_OFFSET + 1;
/// Most bytes [`EntryHeader::parse`] needs (a v2 header; legacy ones are shorter).
pub const MAX_HEADER_SIZE: usize = HEADER_SIZE;

/// The header fields of one log entry, whatever its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    /// Magic byte: 2 for a record batch, 0 or 1 for a legacy message.
    pub magic: i8,
    /// Offset of the first record (a legacy wrapper's: its last offset).
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Total bytes, including the offset and length fields.
    pub size: usize,
    /// Largest timestamp (-1 for v0, which has none).
    pub max_timestamp: i64,
}

impl EntryHeader {
    /// Parses the header at the start of `buf` (which may hold more bytes):
    /// checks the length and magic, not the CRC nor that the whole entry is
    /// there. A v2 header needs 61 bytes, a legacy one 18 (v0) or 26 (v1).
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < PREFIX_SIZE {
            return Err(BatchError::Truncated {
                needed: PREFIX_SIZE,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        let (min, header) = match magic {
            2 => return BatchHeader::parse(buf).map(EntryHeader::from),
            0 => (MIN_MESSAGE_SIZE_V0, PREFIX_SIZE + 1),
            1 => (MIN_MESSAGE_SIZE_V1, PREFIX_SIZE + 1 + 8),
            other => return Err(BatchError::UnsupportedMagic(other)),
        };
        if buf.len() < header {
            return Err(BatchError::Truncated {
                needed: header,
                available: buf.len(),
            });
        }
        let length = i32::from_be_bytes(
            buf[LENGTH_OFFSET..LENGTH_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        if length < min as i32 {
            return Err(BatchError::InvalidLength(length));
        }
        let offset = i64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
        let max_timestamp = if magic == 1 {
            i64::from_be_bytes(buf[18..26].try_into().expect("8 bytes"))
        } else {
            legacy::NO_TIMESTAMP
        };
        Ok(EntryHeader {
            magic,
            base_offset: offset,
            last_offset: offset,
            size: length as usize + LOG_OVERHEAD,
            max_timestamp,
        })
    }

    /// Total bytes of the entry.
    pub fn total_size(&self) -> usize {
        self.size
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Whether this is a legacy (v0/v1) message rather than a v2 batch.
    pub fn is_legacy(&self) -> bool {
        self.magic < 2
    }
}

impl From<BatchHeader> for EntryHeader {
    fn from(h: BatchHeader) -> Self {
        EntryHeader {
            magic: h.magic,
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            size: h.total_size(),
            max_timestamp: h.max_timestamp,
        }
    }
}

/// Checks one complete entry as recovery does (Kafka's `ensureValid`):
/// length, magic and CRC (CRC32C for v2, CRC32 for legacy), the fields of a
/// legacy message in bounds. A legacy wrapper is not decompressed.
pub fn validate(entry: &[u8]) -> Result<EntryHeader, BatchError> {
    let h = EntryHeader::parse(entry)?;
    if !h.is_legacy() {
        return batch::validate(entry).map(EntryHeader::from);
    }
    let m = LegacyMessage::parse(entry)?;
    if !m.crc_valid {
        return Err(BatchError::CrcMismatch {
            stored: m.crc,
            computed: legacy::compute_crc(&entry[..m.size]),
        });
    }
    Ok(h)
}

/// The first record of a complete entry (any magic) with offset >=
/// `min_offset` and timestamp >= `timestamp`, as (offset, timestamp).
pub fn first_record_at_or_after(
    entry: &[u8],
    timestamp: i64,
    min_offset: i64,
) -> Result<Option<(i64, i64)>, BatchError> {
    if EntryHeader::parse(entry)?.is_legacy() {
        return Ok(legacy::decode_entry(entry)?
            .into_iter()
            .find(|r| r.offset >= min_offset && r.timestamp >= timestamp)
            .map(|r| (r.offset, r.timestamp)));
    }
    let records = BatchRecords::new(entry)?;
    for r in records.iter() {
        let r = r?;
        if r.offset >= min_offset && r.timestamp >= timestamp {
            return Ok(Some((r.offset, r.timestamp)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::legacy::encode_message;
    use crate::record::{BatchBuilder, Compression};

    #[test]
    fn parses_v2_v0_v1_and_wrapper_headers_from_their_prefix() {
        let mut b = BatchBuilder::new(Compression::None, 1000);
        b.push(1000, Some(b"k"), Some(b"v"), &[]);
        b.push(1005, Some(b"k"), Some(b"w"), &[]);
        let mut v2 = b.finish();
        batch::set_base_offset(&mut v2, 40);
        let h = validate(&v2).unwrap();
        assert_eq!((h.magic, h.base_offset, h.last_offset), (2, 40, 41));
        assert_eq!((h.size, h.max_timestamp), (v2.len(), 1005));

        let v0 = encode_message(7, 0, 0, 0, None, None);
        let h = EntryHeader::parse(&v0[..18]).unwrap();
        assert_eq!(
            (h.magic, h.last_offset, h.size, h.max_timestamp),
            (0, 7, v0.len(), -1)
        );
        assert_eq!(validate(&v0).unwrap(), h);

        let v1 = encode_message(9, 1, 0, 1234, Some(b"k"), Some(b"v"));
        let h = EntryHeader::parse(&v1[..26]).unwrap();
        assert_eq!(
            (h.magic, h.last_offset, h.size, h.max_timestamp),
            (1, 9, v1.len(), 1234)
        );
        assert!(EntryHeader::parse(&v1[..25]).is_err());
        assert_eq!(validate(&v1).unwrap(), h);

        let inner = [
            encode_message(0, 1, 0, 10, Some(b"a"), Some(b"1")),
            encode_message(1, 1, 0, 12, Some(b"b"), Some(b"2")),
        ]
        .concat();
        let wrapper = encode_message(
            21,
            1,
            Compression::Gzip.id() as i8,
            12,
            None,
            Some(&Compression::Gzip.compress(&inner)),
        );
        let h = validate(&wrapper).unwrap();
        assert_eq!(
            (h.base_offset, h.last_offset, h.max_timestamp),
            (21, 21, 12)
        );
        assert_eq!(
            first_record_at_or_after(&wrapper, 11, 0).unwrap(),
            Some((21, 12))
        );
        assert_eq!(
            first_record_at_or_after(&wrapper, 0, 0).unwrap(),
            Some((20, 10))
        );
    }

    #[test]
    fn bad_crc_length_or_magic_is_an_error() {
        let mut v1 = encode_message(9, 1, 0, 1234, Some(b"k"), Some(b"v"));
        let last = v1.len() - 1;
        v1[last] ^= 1;
        assert!(matches!(validate(&v1), Err(BatchError::CrcMismatch { .. })));
        let mut short = encode_message(9, 0, 0, 0, None, None);
        short[11] = 3;
        assert!(matches!(
            EntryHeader::parse(&short),
            Err(BatchError::InvalidLength(3))
        ));
        let mut magic = short.clone();
        magic[MAGIC_OFFSET] = 3;
        assert!(matches!(
            EntryHeader::parse(&magic),
            Err(BatchError::UnsupportedMagic(3))
        ));
        assert!(EntryHeader::parse(&[0u8; 16]).is_err());
    }
}
