//! The record batch v2 header: field positions, parsing, CRC32C checks and
//! base-offset patching.
//!
//! Layout (big endian), as in Kafka's `DefaultRecordBatch`:
//! ```text
//! baseOffset: int64            0
//! batchLength: int32           8   (bytes after this field)
//! partitionLeaderEpoch: int32  12
//! magic: int8                  16  (2)
//! crc: uint32                  17  (CRC32C of attributes..end)
//! attributes: int16            21
//! lastOffsetDelta: int32       23
//! baseTimestamp: int64         27
//! maxTimestamp: int64          35
//! producerId: int64            43
//! producerEpoch: int16         51
//! baseSequence: int32          53
//! recordsCount: int32          57
//! records                      61
//! ```

/// Offset of `batchLength`.
pub const LENGTH_OFFSET: usize = 8;
/// Bytes before the batch length is counted (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// Offset of `partitionLeaderEpoch`.
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Offset of `magic`.
pub const MAGIC_OFFSET: usize = 16;
/// Offset of `crc`.
pub const CRC_OFFSET: usize = 17;
/// Offset of `attributes`; the CRC covers from here to the end.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of `lastOffsetDelta`.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of `baseTimestamp`.
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Offset of `maxTimestamp`.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Offset of `producerId`.
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Offset of `producerEpoch`.
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Offset of `baseSequence`.
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Offset of `recordsCount`.
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the v2 batch header; records start here.
pub const HEADER_SIZE: usize = 61;

/// Attribute bits: compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit: timestamps are log-append time.
pub const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
/// Attribute bit: part of a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: a control batch (transaction markers).
pub const ATTR_CONTROL: i16 = 0x20;

/// Why a batch could not be accepted.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header or the declared length need.
    #[error("truncated batch: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The declared batch length is impossible.
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    /// A magic byte other than 2 where v2 was required.
    #[error("unsupported magic byte {0}")]
    UnsupportedMagic(i8),
    /// The stored CRC does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the batch header.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// Anything else malformed inside the batch.
    #[error("corrupt batch: {0}")]
    Corrupt(String),
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The parsed fixed header of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// `batchLength`: bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch of the partition when the batch was appended.
    pub partition_leader_epoch: i32,
    /// Magic byte (2).
    pub magic: i8,
    /// Stored CRC32C.
    pub crc: u32,
    /// Attribute bits.
    pub attributes: i16,
    /// `lastOffset - baseOffset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf` (which may hold more bytes).
    /// Checks the length and magic, not the CRC.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_SIZE {
            return Err(BatchError::Truncated {
                needed: HEADER_SIZE,
                available: buf.len(),
            });
        }
        let batch_length = be_i32(buf, LENGTH_OFFSET);
        if batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length,
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
            records_count: be_i32(buf, RECORDS_COUNT_OFFSET),
        })
    }

    /// Total size of the batch in bytes, including baseOffset and batchLength.
    pub fn total_size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// Compression codec id (attributes & 7).
    pub fn compression_id(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    /// Whether this is a control batch.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Whether record timestamps are log-append time (then every record's
    /// timestamp is `max_timestamp`).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }

    /// Whether this batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
}

/// CRC32C over `attributes..end` of a complete batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// CRC32C of a batch held as its (patched) header and the rest of its bytes.
pub fn compute_crc_split(header: &[u8; HEADER_SIZE], rest: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_OFFSET..]), rest)
}

/// Parses the header of the complete batch at the start of `buf` and checks
/// that all its bytes are present and its CRC matches.
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    let size = header.total_size();
    if buf.len() < size {
        return Err(BatchError::Truncated {
            needed: size,
            available: buf.len(),
        });
    }
    let computed = compute_crc(&buf[..size]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    if header.last_offset_delta < 0 || header.records_count < 0 {
        return Err(BatchError::Corrupt(
            "negative record count or offset delta".into(),
        ));
    }
    Ok(header)
}

/// Rewrites `baseOffset` in place (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites `partitionLeaderEpoch` in place (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}

/// Recomputes and stores the CRC32C of a complete batch after its covered
/// bytes (attributes..end) were changed.
pub fn update_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Marks a complete batch as log-append time with `timestamp` (sets the
/// timestamp-type attribute and `maxTimestamp`, then the CRC), as a broker
/// does for topics with `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET) | ATTR_TIMESTAMP_TYPE;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&timestamp.to_be_bytes());
    update_crc(batch);
}

/// Iterates over the complete, valid-looking batches at the start of `buf`
/// (header parsed, length in range; CRC not checked). Stops at the first
/// incomplete or malformed batch; [`BatchIter::remaining`] tells where.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    /// Starts iterating at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, pos: 0 }
    }

    /// Byte position after the last batch yielded.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet yielded.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

impl<'a> Iterator for BatchIter<'a> {
    /// The header and the batch's complete bytes.
    type Item = (BatchHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        let header = BatchHeader::parse(rest).ok()?;
        let size = header.total_size();
        if rest.len() < size {
            return None;
        }
        self.pos += size;
        Some((header, &rest[..size]))
    }
}
