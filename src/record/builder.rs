//! Encoding records into a v2 record batch.
//!
//! Records are appended straight into one growing buffer that already holds
//! room for the 61-byte batch header: each record's size is computed first,
//! so its length prefix is written before its body and nothing is copied or
//! allocated per record. [`BatchBuilder::finish`] fills in the header and
//! returns that same buffer for uncompressed batches (no copy at all); for
//! compressed batches the records section is compressed once behind a fresh
//! header.

use super::batch::{
    self, ATTR_TIMESTAMP_TYPE, ATTR_TRANSACTIONAL, ATTRIBUTES_OFFSET, BASE_SEQUENCE_OFFSET,
    BASE_TIMESTAMP_OFFSET, CRC_OFFSET, HEADER_SIZE, LAST_OFFSET_DELTA_OFFSET, LENGTH_OFFSET,
    LOG_OVERHEAD, MAGIC_OFFSET, MAX_TIMESTAMP_OFFSET, PARTITION_LEADER_EPOCH_OFFSET,
    PRODUCER_EPOCH_OFFSET, PRODUCER_ID_OFFSET, RECORDS_COUNT_OFFSET,
};
use super::varint::{put_varint, put_varlong, varint_size, varlong_size};
use super::{Compression, Header};

/// Initial buffer capacity when none is given (records are appended into it).
const DEFAULT_CAPACITY: usize = 16 * 1024;

/// Accumulates records and encodes them as one v2 record batch
/// (base offset 0 until the log assigns one).
pub struct BatchBuilder {
    compression: Compression,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    last_offset_delta: Option<i32>,
    last_offset_override: Option<i32>,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    attributes: i16,
    /// Header space (zeroed until `finish`) followed by the encoded records.
    buf: Vec<u8>,
}

impl BatchBuilder {
    /// A new, empty batch whose first record has `base_timestamp`.
    pub fn new(compression: Compression, base_timestamp: i64) -> Self {
        Self::with_capacity(compression, base_timestamp, DEFAULT_CAPACITY)
    }

    /// Like [`BatchBuilder::new`], reserving `capacity` bytes up front (use
    /// the expected batch size to avoid regrowing the buffer).
    pub fn with_capacity(compression: Compression, base_timestamp: i64, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(HEADER_SIZE));
        buf.resize(HEADER_SIZE, 0);
        BatchBuilder {
            compression,
            base_timestamp,
            max_timestamp: base_timestamp,
            count: 0,
            last_offset_delta: None,
            last_offset_override: None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            attributes: compression.id(),
            buf,
        }
    }

    /// Marks the batch as written by an idempotent producer: its producer id,
    /// epoch and the sequence number of the first record.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets or clears the transactional attribute bit.
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.set_attribute(ATTR_TRANSACTIONAL, transactional);
        self
    }

    /// Sets or clears the log-append-time attribute bit (then every record's
    /// timestamp reads as the batch's max timestamp).
    pub fn log_append_time(mut self, log_append_time: bool) -> Self {
        self.set_attribute(ATTR_TIMESTAMP_TYPE, log_append_time);
        self
    }

    /// Sets the partition leader epoch written in the header (default -1).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    fn set_attribute(&mut self, bit: i16, on: bool) {
        if on {
            self.attributes |= bit;
        } else {
            self.attributes &= !bit;
        }
    }

    /// Appends one record; its offset delta is the count of records so far.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        let offset_delta = self.last_offset_delta.map_or(0, |d| d + 1);
        self.push_with_offset_delta(offset_delta, timestamp, key, value, headers);
    }

    /// Appends one record with an explicit offset delta (compaction keeps the
    /// original offsets, leaving gaps). Deltas must increase from record to
    /// record.
    pub fn push_with_offset_delta(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        debug_assert!(
            self.last_offset_delta.is_none_or(|d| offset_delta > d),
            "offset deltas increase"
        );
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let body_size = record_body_size(timestamp_delta, offset_delta, key, value, headers);
        let body_len = i32::try_from(body_size).expect("a record is smaller than 2 GiB");
        self.buf.reserve(body_size + 5);
        put_varint(&mut self.buf, body_len);
        let body_start = self.buf.len();
        self.buf.push(0); // record attributes (unused)
        put_varlong(&mut self.buf, timestamp_delta);
        put_varint(&mut self.buf, offset_delta);
        put_nullable(&mut self.buf, key);
        put_nullable(&mut self.buf, value);
        put_varint(&mut self.buf, headers.len() as i32);
        for h in headers {
            put_nullable(&mut self.buf, Some(h.key.as_bytes()));
            put_nullable(&mut self.buf, h.value.as_deref());
        }
        debug_assert_eq!(self.buf.len() - body_start, body_size);
        self.max_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        self.count += 1;
        self.last_offset_delta = Some(offset_delta);
    }

    /// Makes `lastOffsetDelta` at least `delta`, as Kafka's cleaner does to
    /// keep a batch's last offset when its last records were removed.
    pub fn override_last_offset_delta(&mut self, delta: i32) {
        self.last_offset_override = Some(delta);
    }

    /// Number of records pushed.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Uncompressed bytes of the records pushed so far (for size limits).
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// Encodes the batch (compressed if asked) with a valid CRC32C.
    ///
    /// An empty builder yields a valid batch with zero records, which a log
    /// should refuse to append.
    pub fn finish(self) -> Vec<u8> {
        let mut out = if self.compression == Compression::None {
            self.buf
        } else {
            let records = &self.buf[HEADER_SIZE..];
            let mut out = Vec::with_capacity(HEADER_SIZE + records.len() / 2 + 64);
            out.resize(HEADER_SIZE, 0);
            self.compression.compress_into(records, &mut out);
            out
        };
        let batch_length =
            i32::try_from(out.len() - LOG_OVERHEAD).expect("a batch is smaller than 2 GiB");
        let last_offset_delta = self
            .last_offset_delta
            .unwrap_or(0)
            .max(self.last_offset_override.unwrap_or(0));
        put_at(&mut out, 0, &0i64.to_be_bytes());
        put_at(&mut out, LENGTH_OFFSET, &batch_length.to_be_bytes());
        put_at(
            &mut out,
            PARTITION_LEADER_EPOCH_OFFSET,
            &self.partition_leader_epoch.to_be_bytes(),
        );
        out[MAGIC_OFFSET] = 2;
        put_at(&mut out, ATTRIBUTES_OFFSET, &self.attributes.to_be_bytes());
        put_at(
            &mut out,
            LAST_OFFSET_DELTA_OFFSET,
            &last_offset_delta.to_be_bytes(),
        );
        put_at(
            &mut out,
            BASE_TIMESTAMP_OFFSET,
            &self.base_timestamp.to_be_bytes(),
        );
        put_at(
            &mut out,
            MAX_TIMESTAMP_OFFSET,
            &self.max_timestamp.to_be_bytes(),
        );
        put_at(
            &mut out,
            PRODUCER_ID_OFFSET,
            &self.producer_id.to_be_bytes(),
        );
        put_at(
            &mut out,
            PRODUCER_EPOCH_OFFSET,
            &self.producer_epoch.to_be_bytes(),
        );
        put_at(
            &mut out,
            BASE_SEQUENCE_OFFSET,
            &self.base_sequence.to_be_bytes(),
        );
        put_at(&mut out, RECORDS_COUNT_OFFSET, &self.count.to_be_bytes());
        let crc = batch::compute_crc(&out);
        put_at(&mut out, CRC_OFFSET, &crc.to_be_bytes());
        out
    }
}

fn put_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn nullable_size(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(b) => varint_size(b.len() as i32) + b.len(),
    }
}

fn put_nullable(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

/// Size of a record after its length prefix (Kafka `DefaultRecord.sizeOfBodyInBytes`).
fn record_body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let mut size = 1
        + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + nullable_size(key)
        + nullable_size(value)
        + varint_size(headers.len() as i32);
    for h in headers {
        size += nullable_size(Some(h.key.as_bytes())) + nullable_size(h.value.as_deref());
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{BatchError, BatchHeader, validate};
    use crate::record::{Record, decode_batch};
    use bytes::Bytes;

    fn header(key: &str, value: Option<&[u8]>) -> Header {
        Header {
            key: key.to_string(),
            value: value.map(Bytes::copy_from_slice),
        }
    }

    fn sample_records() -> Vec<Record> {
        let mut records = Vec::new();
        for i in 0..50i64 {
            let key = (i % 3 != 0).then(|| Bytes::from(format!("key-{i}")));
            let value =
                (i % 7 != 3).then(|| Bytes::from(format!("value {i} ").repeat(i as usize % 5 + 1)));
            let headers = match i % 4 {
                0 => vec![],
                1 => vec![header("trace", Some(b"abc"))],
                2 => vec![header("a", None), header("b", Some(b""))],
                _ => vec![header("é", Some(&[0, 1, 2]))],
            };
            records.push(Record {
                offset: i,
                timestamp: 1_700_000_000_000 + i * 13 - (i % 5) * 40,
                key,
                value,
                headers,
            });
        }
        records
    }

    fn build(compression: Compression, records: &[Record]) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression, records[0].timestamp);
        for r in records {
            b.push(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            );
        }
        assert_eq!(b.len(), records.len());
        b.finish()
    }

    #[test]
    fn round_trip_every_codec() {
        let records = sample_records();
        for codec in Compression::ALL {
            let batch = build(codec, &records);
            let h = validate(&batch).unwrap();
            assert_eq!(h.total_size(), batch.len());
            assert_eq!(h.compression_id(), codec.id(), "{codec} in attributes");
            assert_eq!(h.base_offset, 0);
            assert_eq!(h.magic, 2);
            assert_eq!(h.records_count, 50);
            assert_eq!(h.last_offset_delta, 49);
            assert_eq!(h.base_timestamp, records[0].timestamp);
            assert_eq!(
                h.max_timestamp,
                records.iter().map(|r| r.timestamp).max().unwrap()
            );
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (-1, -1, -1)
            );
            assert_eq!(h.partition_leader_epoch, -1);
            assert_eq!(decode_batch(&batch).unwrap(), records, "{codec}");
        }
    }

    #[test]
    fn base_offset_patch_shifts_decoded_offsets() {
        let records = sample_records();
        let mut batch = build(Compression::Lz4, &records);
        crate::record::batch::set_base_offset(&mut batch, 1000);
        let decoded = decode_batch(&batch).unwrap();
        assert_eq!(decoded[0].offset, 1000);
        assert_eq!(decoded[49].offset, 1049);
    }

    #[test]
    fn uncompressed_layout_is_kafkas() {
        let mut b = BatchBuilder::new(Compression::None, 1000);
        b.push(1005, Some(b"k"), None, &[header("h", None)]);
        let batch = b.finish();
        // length varint, attributes, ts delta 5, offset delta 0, key len 1 "k",
        // value null, 1 header: key len 1 "h", value null.
        let record = [0x00, 0x0a, 0x00, 0x02, b'k', 0x01, 0x02, 0x02, b'h', 0x01];
        assert_eq!(&batch[HEADER_SIZE + 1..], &record);
        assert_eq!(batch[HEADER_SIZE], (record.len() as u8) << 1);
    }

    #[test]
    fn idempotent_producer_fields_and_flags() {
        let mut b = BatchBuilder::new(Compression::None, 5)
            .producer(42, 3, 100)
            .transactional(true)
            .partition_leader_epoch(7)
            .log_append_time(true);
        b.push(5, None, Some(b"x"), &[]);
        b.push(9, None, Some(b"y"), &[]);
        let batch = b.finish();
        let h = validate(&batch).unwrap();
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (42, 3, 100)
        );
        assert!(h.is_transactional());
        assert!(h.is_log_append_time());
        assert_eq!(h.partition_leader_epoch, 7);
        let decoded = decode_batch(&batch).unwrap();
        assert!(
            decoded.iter().all(|r| r.timestamp == 9),
            "log append time = max timestamp"
        );
    }

    #[test]
    fn explicit_offset_deltas_keep_gaps() {
        let mut b = BatchBuilder::new(Compression::None, 0);
        b.push_with_offset_delta(2, 0, Some(b"a"), Some(b"1"), &[]);
        b.push_with_offset_delta(7, 1, Some(b"b"), None, &[]);
        b.push(2, Some(b"c"), Some(b"3"), &[]);
        b.override_last_offset_delta(12);
        let mut batch = b.finish();
        crate::record::batch::set_base_offset(&mut batch, 100);
        let h = validate(&batch).unwrap();
        assert_eq!((h.records_count, h.last_offset_delta), (3, 12));
        let offsets: Vec<i64> = decode_batch(&batch)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, [102, 107, 108]);
    }

    #[test]
    fn empty_builder_gives_valid_empty_batch() {
        let b = BatchBuilder::new(Compression::Gzip, 77);
        assert!(b.is_empty());
        assert_eq!(b.estimated_size(), HEADER_SIZE);
        let batch = b.finish();
        let h = validate(&batch).unwrap();
        assert_eq!((h.records_count, h.last_offset_delta), (0, 0));
        assert!(decode_batch(&batch).unwrap().is_empty());
    }

    #[test]
    fn estimated_size_is_uncompressed_batch_size() {
        let records = sample_records();
        let mut b = BatchBuilder::new(Compression::None, 0);
        for r in &records {
            b.push(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            );
        }
        let estimate = b.estimated_size();
        assert_eq!(estimate, b.finish().len());
    }

    #[test]
    fn flipping_any_byte_is_detected() {
        let records = sample_records();
        for codec in [Compression::None, Compression::Zstd] {
            let batch = build(codec, &records[..5]);
            for i in 0..batch.len() {
                let mut bad = batch.clone();
                bad[i] ^= 0x40;
                let result = validate(&bad);
                if i < crate::record::batch::MAGIC_OFFSET {
                    // baseOffset, length and leader epoch are outside the CRC;
                    // a changed length shows as truncation or bad length.
                    if (8..12).contains(&i) {
                        assert!(result.is_err(), "length byte {i}");
                    } else {
                        assert!(result.is_ok(), "byte {i} is not covered by the CRC");
                    }
                } else if i == crate::record::batch::MAGIC_OFFSET {
                    assert!(matches!(result, Err(BatchError::UnsupportedMagic(_))));
                } else {
                    assert!(
                        matches!(result, Err(BatchError::CrcMismatch { .. })),
                        "{codec} byte {i}: {result:?}"
                    );
                    assert!(decode_batch(&bad).is_err());
                }
            }
            let h = BatchHeader::parse(&batch).unwrap();
            assert_eq!(h.crc, crate::record::batch::compute_crc(&batch));
        }
    }
}
