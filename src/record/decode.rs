//! Decoding the records of a batch (v2, or legacy v0/v1 message sets), and
//! scanning a log file buffer entry by entry.
//!
//! Three levels, from convenient to fast:
//! - [`decode_batch`] / [`decode_batch_bytes`]: one complete batch of any
//!   magic into owned [`Record`]s (decompressed as needed). The records share
//!   one buffer (`Bytes` slices), so this costs one copy per batch, not one
//!   allocation per record.
//! - [`BatchRecords`] + [`RecordIter`]: the hot path. `BatchRecords::new`
//!   checks a v2 batch's CRC and decompresses it if needed (borrowing the
//!   input when it is uncompressed); `iter()` then yields [`RecordRef`]s whose
//!   key, value and headers borrow from that buffer: no allocation per record.
//! - [`scan`]: walks a log segment's bytes (any magic) yielding a
//!   [`BatchSummary`] per entry without decoding records, and ends with a
//!   [`ScanError`] naming the byte position when the tail is not a whole entry.

use std::borrow::Cow;

use bytes::Bytes;

use super::batch::{self, ATTR_TIMESTAMP_TYPE, BatchError, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use super::varint::{get_varint, get_varlong};
use super::{Compression, Header, Record, legacy};

/// Decodes every record of one complete batch at the start of `batch`
/// (v2 batch or legacy v0/v1 message, compressed or not), checking its CRC.
pub fn decode_batch(batch: &[u8]) -> Result<Vec<Record>, BatchError> {
    match magic_of(batch)? {
        2 => {
            let records = BatchRecords::new(batch)?;
            let shared = match records.records {
                Cow::Borrowed(b) => Bytes::copy_from_slice(b),
                Cow::Owned(v) => Bytes::from(v),
            };
            collect_records(&records.header, shared)
        }
        _ => legacy::decode_entry(batch),
    }
}

/// Like [`decode_batch`] for a batch already held in `Bytes`: keys and values
/// of uncompressed batches are slices of `batch`, without any copy.
pub fn decode_batch_bytes(batch: &Bytes) -> Result<Vec<Record>, BatchError> {
    match magic_of(batch)? {
        2 => {
            let records = BatchRecords::new(batch)?;
            let shared = match records.records {
                Cow::Borrowed(b) => batch.slice_ref(b),
                Cow::Owned(v) => Bytes::from(v),
            };
            collect_records(&records.header, shared)
        }
        _ => legacy::decode_entry(batch),
    }
}

/// Decodes every record of every complete entry in `buf` (a fetch response's
/// records, or a log slice), of any magic. A trailing incomplete entry is
/// ignored, since Kafka fetch responses may end with a partial batch; any
/// other damage (bad length or magic, CRC mismatch) is an error.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Record>, BatchError> {
    let mut out = Vec::new();
    for entry in scan(buf) {
        match entry {
            Ok((_, _, bytes)) => out.extend(decode_batch(bytes)?),
            Err(ScanError {
                error: BatchError::Truncated { .. },
                ..
            }) => break,
            Err(e) => return Err(e.error),
        }
    }
    Ok(out)
}

fn magic_of(batch: &[u8]) -> Result<i8, BatchError> {
    let magic = *batch
        .get(batch::MAGIC_OFFSET)
        .ok_or(BatchError::Truncated {
            needed: batch::MAGIC_OFFSET + 1,
            available: batch.len(),
        })? as i8;
    if !(0..=2).contains(&magic) {
        return Err(BatchError::UnsupportedMagic(magic));
    }
    Ok(magic)
}

fn collect_records(header: &BatchHeader, records: Bytes) -> Result<Vec<Record>, BatchError> {
    let mut out = Vec::with_capacity(header.records_count.clamp(0, 1 << 16) as usize);
    for r in RecordIter::over_records(header, &records) {
        let r = r?;
        let slice = |s: Option<&[u8]>| s.map(|s| records.slice_ref(s));
        out.push(Record {
            offset: r.offset,
            timestamp: r.timestamp,
            key: slice(r.key),
            value: slice(r.value),
            headers: r
                .headers()
                .map(|h| Header {
                    key: String::from_utf8_lossy(h.key).into_owned(),
                    value: slice(h.value),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// The records section of one v2 batch, CRC-checked and decompressed,
/// ready to iterate without allocating per record.
pub struct BatchRecords<'a> {
    header: BatchHeader,
    records: Cow<'a, [u8]>,
}

impl<'a> BatchRecords<'a> {
    /// Validates the complete v2 batch at the start of `batch` (length, magic,
    /// CRC) and decompresses its records if needed; an uncompressed batch is
    /// borrowed, not copied.
    pub fn new(batch: &'a [u8]) -> Result<Self, BatchError> {
        let header = batch::validate(batch)?;
        let body = &batch[HEADER_SIZE..header.total_size()];
        let records = match Compression::from_id(header.compression_id())? {
            Compression::None => Cow::Borrowed(body),
            codec => Cow::Owned(codec.decompress(body)?),
        };
        Ok(BatchRecords { header, records })
    }

    /// The batch header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The (decompressed) records section.
    pub fn records_bytes(&self) -> &[u8] {
        &self.records
    }

    /// Iterates the records, borrowing from this buffer.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter::over_records(&self.header, &self.records)
    }
}

/// A record borrowed from a batch's (decompressed) bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Absolute offset (base offset + offset delta).
    pub offset: i64,
    /// Timestamp: base timestamp + delta, or the batch's max timestamp when
    /// the batch uses log-append time.
    pub timestamp: i64,
    /// Key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    header_count: usize,
    headers: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// Iterates the headers in order (already validated by [`RecordIter`]).
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter {
            buf: self.headers,
            remaining: self.header_count,
        }
    }

    /// An owned copy of this record.
    pub fn to_record(&self) -> Record {
        let owned = |s: Option<&[u8]>| s.map(Bytes::copy_from_slice);
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: owned(self.key),
            value: owned(self.value),
            headers: self
                .headers()
                .map(|h| Header {
                    key: String::from_utf8_lossy(h.key).into_owned(),
                    value: owned(h.value),
                })
                .collect(),
        }
    }
}

/// A record header borrowed from a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// Header key bytes (UTF-8 in Kafka; not checked).
    pub key: &'a [u8],
    /// Header value; `None` is a null value.
    pub value: Option<&'a [u8]>,
}

/// Iterator over the headers of a [`RecordRef`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    buf: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = HeaderRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        // The bytes were validated when the record was read; a failure here
        // cannot happen and simply ends the iteration.
        let mut c = Cursor::new(self.buf);
        let key = c.nullable().ok()??;
        let value = c.nullable().ok()?;
        self.buf = &self.buf[c.pos..];
        self.remaining -= 1;
        Some(HeaderRef { key, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// Iterates the records of an uncompressed v2 records section, yielding
/// borrowed [`RecordRef`]s. Each record is checked against its declared
/// length; a malformed record yields an error and ends the iteration, as
/// does a record count that does not match the bytes.
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates the records of the complete, uncompressed v2 batch at the
    /// start of `batch` after validating its CRC. For compressed batches use
    /// [`BatchRecords`].
    pub fn new(batch: &'a [u8]) -> Result<Self, BatchError> {
        let header = batch::validate(batch)?;
        if header.compression_id() != 0 {
            return Err(BatchError::Corrupt(
                "RecordIter::new needs an uncompressed batch; use BatchRecords".into(),
            ));
        }
        Ok(Self::over_records(
            &header,
            &batch[HEADER_SIZE..header.total_size()],
        ))
    }

    /// Iterates an already decompressed records section belonging to `header`.
    pub fn over_records(header: &BatchHeader, records: &'a [u8]) -> Self {
        RecordIter {
            buf: records,
            pos: 0,
            remaining: header.records_count,
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: (header.attributes & ATTR_TIMESTAMP_TYPE != 0)
                .then_some(header.max_timestamp),
            failed: false,
        }
    }

    fn read_record(&mut self) -> Result<RecordRef<'a>, BatchError> {
        let mut c = Cursor::new(&self.buf[self.pos..]);
        let length = c.varint()?;
        let body_start = c.pos;
        let body_end = usize::try_from(length)
            .ok()
            .and_then(|l| body_start.checked_add(l))
            .filter(|&end| end <= c.buf.len())
            .ok_or_else(|| {
                BatchError::Corrupt(format!("record length {length} exceeds the batch"))
            })?;
        let mut c = Cursor::new(&c.buf[..body_end]);
        c.pos = body_start;
        c.take(1)?; // record attributes, unused
        let timestamp_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        let key = c.nullable()?;
        let value = c.nullable()?;
        let header_count = c.varint()?;
        let header_count = usize::try_from(header_count)
            .map_err(|_| BatchError::Corrupt(format!("negative header count {header_count}")))?;
        let headers_start = c.pos;
        for _ in 0..header_count {
            if c.nullable()?.is_none() {
                return Err(BatchError::Corrupt("null header key".into()));
            }
            c.nullable()?;
        }
        if c.pos != body_end {
            return Err(BatchError::Corrupt(format!(
                "record declares {length} bytes but holds {}",
                c.pos - body_start
            )));
        }
        let headers = &c.buf[headers_start..body_end];
        self.pos += body_end;
        Ok(RecordRef {
            offset: self.base_offset.wrapping_add(offset_delta as i64),
            timestamp: self
                .log_append_time
                .unwrap_or(self.base_timestamp.wrapping_add(timestamp_delta)),
            key,
            value,
            header_count,
            headers,
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordRef<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining <= 0 {
            if self.pos != self.buf.len() {
                self.failed = true;
                return Some(Err(BatchError::Corrupt(format!(
                    "{} bytes after the last declared record",
                    self.buf.len() - self.pos
                ))));
            }
            return None;
        }
        if self.pos == self.buf.len() {
            self.failed = true;
            return Some(Err(BatchError::Corrupt(format!(
                "batch ends with {} of its declared records missing",
                self.remaining
            ))));
        }
        self.remaining -= 1;
        let r = self.read_record();
        self.failed = r.is_err();
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining.max(0) as usize;
        (0, Some(n + 1))
    }
}

/// A bounds-checked reader over record bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<i32, BatchError> {
        let (v, n) = get_varint(&self.buf[self.pos..])
            .map_err(|e| BatchError::Corrupt(format!("{e} in record")))?;
        self.pos += n;
        Ok(v)
    }

    fn varlong(&mut self) -> Result<i64, BatchError> {
        let (v, n) = get_varlong(&self.buf[self.pos..])
            .map_err(|e| BatchError::Corrupt(format!("{e} in record")))?;
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BatchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| BatchError::Corrupt("record field runs past the record".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A varint length (-1 = null) followed by that many bytes.
    fn nullable(&mut self) -> Result<Option<&'a [u8]>, BatchError> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < -1 => Err(BatchError::Corrupt(format!("invalid field length {n}"))),
            n => self.take(n as usize).map(Some),
        }
    }
}

/// What one entry of a log file holds, read from its header alone (legacy
/// compressed wrappers are decompressed to count their records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Number of records (for a legacy wrapper that cannot be decompressed, 0).
    pub records_count: i32,
    /// Timestamp of the first record (v2 base timestamp; v1 message
    /// timestamp; -1 for v0).
    pub base_timestamp: i64,
    /// Largest timestamp (v2 max timestamp; v1 message timestamp; -1 for v0).
    pub max_timestamp: i64,
    /// Whether timestamps are log-append time.
    pub log_append_time: bool,
    /// Bytes of the whole entry, including offset and length fields.
    pub size: usize,
    /// Magic byte: 0, 1 or 2.
    pub magic: i8,
    /// Raw attributes (v0/v1: the message's attribute byte).
    pub attributes: i16,
    /// Compression codec; `None` when the attributes name an unknown codec.
    pub compression: Option<Compression>,
    /// CRC stored in the entry (CRC32C for v2, CRC32 for v0/v1).
    pub crc: u32,
    /// Whether the stored CRC matches the bytes.
    pub crc_valid: bool,
    /// Whether this is a control batch (v2 only).
    pub is_control: bool,
    /// Whether the batch is transactional (v2 only).
    pub is_transactional: bool,
    /// Producer id (-1 if none or legacy).
    pub producer_id: i64,
    /// Producer epoch (-1 if none or legacy).
    pub producer_epoch: i16,
    /// Sequence of the first record (-1 if none or legacy).
    pub base_sequence: i32,
    /// Partition leader epoch (-1 for legacy).
    pub partition_leader_epoch: i32,
}

impl BatchSummary {
    /// Summarizes a v2 batch header whose complete bytes are `batch` (if
    /// `batch` is shorter than the header says, `crc_valid` is false).
    pub fn from_v2(header: &BatchHeader, batch: &[u8]) -> Self {
        BatchSummary {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            records_count: header.records_count,
            base_timestamp: header.base_timestamp,
            max_timestamp: header.max_timestamp,
            log_append_time: header.attributes & ATTR_TIMESTAMP_TYPE != 0,
            size: header.total_size(),
            magic: header.magic,
            attributes: header.attributes,
            compression: Compression::from_id(header.compression_id()).ok(),
            crc: header.crc,
            crc_valid: batch
                .get(..header.total_size())
                .is_some_and(|b| batch::compute_crc(b) == header.crc),
            is_control: header.is_control(),
            is_transactional: header.is_transactional(),
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            partition_leader_epoch: header.partition_leader_epoch,
        }
    }
}

/// Why [`scan`] stopped before the end of its buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {error}")]
pub struct ScanError {
    /// Byte position of the entry that could not be read.
    pub position: usize,
    /// What is wrong there: [`BatchError::Truncated`],
    /// [`BatchError::InvalidLength`] or [`BatchError::UnsupportedMagic`].
    pub error: BatchError,
}

/// Iterates the entries of a log file buffer of any magic; see [`scan`].
pub struct ScanIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Walks the entries of a log segment's bytes (v2 batches and legacy v0/v1
/// messages, freely mixed), yielding `(byte position, summary, entry bytes)`.
/// A CRC mismatch does not stop the scan (it shows in
/// [`BatchSummary::crc_valid`]); an entry that is cut short, has an
/// impossible length or an unknown magic ends it with a [`ScanError`].
pub fn scan(buf: &[u8]) -> ScanIter<'_> {
    ScanIter {
        buf,
        pos: 0,
        done: false,
    }
}

impl<'a> ScanIter<'a> {
    /// Byte position after the last entry yielded.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn entry(&self) -> Result<(BatchSummary, &'a [u8]), BatchError> {
        let rest = &self.buf[self.pos..];
        let size = entry_size(rest)?;
        let entry = &rest[..size];
        match entry[batch::MAGIC_OFFSET] {
            2 => {
                let header = BatchHeader::parse(entry)?;
                Ok((BatchSummary::from_v2(&header, entry), entry))
            }
            _ => Ok((legacy::summarize(entry)?, entry)),
        }
    }
}

/// Size of the complete entry at the start of `rest`, checking its length
/// field and magic byte against what the buffer holds.
pub fn entry_size(rest: &[u8]) -> Result<usize, BatchError> {
    if rest.len() < LOG_OVERHEAD {
        return Err(BatchError::Truncated {
            needed: LOG_OVERHEAD,
            available: rest.len(),
        });
    }
    let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
    if length < legacy::MIN_MESSAGE_SIZE_V0 as i32 {
        return Err(BatchError::InvalidLength(length));
    }
    if rest.len() <= batch::MAGIC_OFFSET {
        return Err(BatchError::Truncated {
            needed: batch::MAGIC_OFFSET + 1,
            available: rest.len(),
        });
    }
    let magic = rest[batch::MAGIC_OFFSET] as i8;
    let min = match magic {
        0 => legacy::MIN_MESSAGE_SIZE_V0,
        1 => legacy::MIN_MESSAGE_SIZE_V1,
        2 => HEADER_SIZE - LOG_OVERHEAD,
        other => return Err(BatchError::UnsupportedMagic(other)),
    };
    if (length as usize) < min {
        return Err(BatchError::InvalidLength(length));
    }
    let size = length as usize + LOG_OVERHEAD;
    if rest.len() < size {
        return Err(BatchError::Truncated {
            needed: size,
            available: rest.len(),
        });
    }
    Ok(size)
}

impl<'a> Iterator for ScanIter<'a> {
    type Item = Result<(usize, BatchSummary, &'a [u8]), ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos == self.buf.len() {
            return None;
        }
        let position = self.pos;
        match self.entry() {
            Ok((summary, entry)) => {
                self.pos += entry.len();
                Some(Ok((position, summary, entry)))
            }
            Err(error) => {
                self.done = true;
                Some(Err(ScanError { position, error }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BatchBuilder;
    use crate::record::batch::set_base_offset;
    use crate::record::legacy::encode_message;

    fn v2(codec: Compression, base_offset: i64, n: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(codec, 1000);
        for i in 0..n {
            let key = format!("k{i}");
            let h = [Header {
                key: "h".into(),
                value: (i % 2 == 0).then(|| Bytes::from_static(b"hv")),
            }];
            b.push(
                1000 + i as i64,
                Some(key.as_bytes()),
                (i != 1).then_some(b"value".as_slice()),
                &h,
            );
        }
        let mut batch = b.finish();
        set_base_offset(&mut batch, base_offset);
        batch
    }

    use crate::record::batch::update_crc as reseal;

    #[test]
    fn record_iter_borrows_without_copy() {
        let batch = v2(Compression::None, 10, 3);
        let recs: Vec<_> = RecordIter::new(&batch)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].offset, 11);
        assert_eq!(recs[1].timestamp, 1001);
        assert_eq!(recs[1].key, Some(b"k1".as_slice()));
        assert_eq!(recs[1].value, None);
        let range = batch.as_ptr_range();
        assert!(
            range.contains(&recs[2].key.unwrap().as_ptr()),
            "key borrowed from the batch"
        );
        let hs: Vec<_> = recs[0].headers().collect();
        assert_eq!(
            hs,
            vec![HeaderRef {
                key: b"h",
                value: Some(b"hv")
            }]
        );
        assert_eq!(recs[1].headers().next().unwrap().value, None);
        assert_eq!(recs[2].to_record(), decode_batch(&batch).unwrap()[2]);
        assert!(
            RecordIter::new(&v2(Compression::Gzip, 0, 1)).is_err(),
            "compressed needs BatchRecords"
        );
    }

    #[test]
    fn batch_records_handles_every_codec() {
        for codec in Compression::ALL {
            let batch = v2(codec, 5, 4);
            let br = BatchRecords::new(&batch).unwrap();
            let offsets: Vec<i64> = br.iter().map(|r| r.unwrap().offset).collect();
            assert_eq!(offsets, [5, 6, 7, 8], "{codec}");
            assert_eq!(br.header().records_count, 4);
        }
    }

    #[test]
    fn decode_batch_bytes_slices_the_input() {
        let batch = Bytes::from(v2(Compression::None, 0, 2));
        let recs = decode_batch_bytes(&batch).unwrap();
        assert!(
            batch
                .as_ptr_range()
                .contains(&recs[0].value.as_ref().unwrap().as_ptr())
        );
        assert_eq!(recs, decode_batch(&batch).unwrap());
    }

    #[test]
    fn log_append_time_overrides_record_timestamps() {
        let mut batch = v2(Compression::Snappy, 0, 3);
        batch::set_log_append_time(&mut batch, 5555);
        assert!(batch::validate(&batch).unwrap().is_log_append_time());
        let recs = decode_batch(&batch).unwrap();
        assert!(recs.iter().all(|r| r.timestamp == 5555));
        let (_, s, _) = scan(&batch).next().unwrap().unwrap();
        assert!(s.log_append_time);
    }

    #[test]
    fn malformed_records_under_a_valid_crc_are_errors() {
        let good = v2(Compression::None, 0, 3);
        // Wrong record count, both ways.
        for count in [2i32, 4, -1] {
            let mut b = good.clone();
            b[batch::RECORDS_COUNT_OFFSET..batch::RECORDS_COUNT_OFFSET + 4]
                .copy_from_slice(&count.to_be_bytes());
            reseal(&mut b);
            assert!(decode_batch(&b).is_err(), "count {count}");
        }
        // Every single-byte change inside the records, resealed: an error or a
        // different decode, never a panic.
        // (Record attribute bytes are unused, so changing them changes nothing.)
        let expected = decode_batch(&good).unwrap();
        let mut attribute_bytes = Vec::new();
        let mut pos = HEADER_SIZE;
        while pos < good.len() {
            let (len, n) = get_varint(&good[pos..]).unwrap();
            attribute_bytes.push(pos + n);
            pos += n + len as usize;
        }
        for i in (HEADER_SIZE..good.len()).filter(|i| !attribute_bytes.contains(i)) {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] ^= x;
                reseal(&mut b);
                if let Ok(recs) = decode_batch(&b) {
                    assert_ne!(recs, expected, "byte {i} ^ {x:#x}");
                }
            }
        }
    }

    #[test]
    fn scan_walks_mixed_magic_buffers() {
        let mut buf = Vec::new();
        buf.extend(encode_message(0, 0, 0, 0, Some(b"a"), Some(b"v0")));
        buf.extend(encode_message(1, 1, 0, 77, None, Some(b"v1")));
        let inner = [
            encode_message(0, 1, 0, 80, None, Some(b"x")),
            encode_message(1, 1, 0, 81, None, Some(b"y")),
        ]
        .concat();
        buf.extend(encode_message(
            3,
            1,
            1,
            81,
            None,
            Some(&Compression::Gzip.compress(&inner)),
        ));
        let v2a = v2(Compression::Zstd, 4, 3);
        buf.extend(&v2a);
        buf.extend(v2(Compression::None, 7, 2));
        let entries: Vec<_> = scan(&buf).collect::<Result<_, _>>().unwrap();
        let summary: Vec<_> = entries
            .iter()
            .map(|(p, s, e)| {
                (
                    *p,
                    s.magic,
                    s.base_offset,
                    s.last_offset,
                    s.records_count,
                    e.len() == s.size,
                )
            })
            .collect();
        let p2 = entries[2].0;
        let p3 = entries[3].0;
        assert_eq!(summary[0], (0, 0, 0, 0, 1, true));
        assert_eq!(summary[1], (entries[1].0, 1, 1, 1, 1, true));
        assert_eq!(entries[1].1.max_timestamp, 77);
        assert_eq!(summary[2], (p2, 1, 2, 3, 2, true));
        assert_eq!(summary[3], (p3, 2, 4, 6, 3, true));
        assert_eq!(summary[4], (p3 + v2a.len(), 2, 7, 8, 2, true));
        assert!(entries.iter().all(|(_, s, _)| s.crc_valid));
        assert_eq!(entries[2].1.compression, Some(Compression::Gzip));
        assert_eq!(entries[3].1.compression, Some(Compression::Zstd));
        let all: Vec<i64> = entries
            .iter()
            .flat_map(|(_, _, e)| decode_batch(e).unwrap())
            .map(|r| r.offset)
            .collect();
        assert_eq!(all, (0..9).collect::<Vec<_>>());
    }

    #[test]
    fn decode_all_tolerates_only_a_partial_tail() {
        let buf = [
            encode_message(0, 1, 0, 5, None, Some(b"legacy")),
            v2(Compression::Lz4, 1, 2),
            v2(Compression::None, 3, 2),
        ]
        .concat();
        let offsets =
            |b: &[u8]| -> Vec<i64> { decode_all(b).unwrap().iter().map(|r| r.offset).collect() };
        assert_eq!(offsets(&buf), [0, 1, 2, 3, 4]);
        assert_eq!(offsets(&buf[..buf.len() - 1]), [0, 1, 2]);
        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            decode_all(&bad),
            Err(BatchError::CrcMismatch { .. })
        ));
        let garbage = [buf.as_slice(), &[0u8; 20]].concat();
        assert_eq!(decode_all(&garbage), Err(BatchError::InvalidLength(0)));
    }

    #[test]
    fn random_damage_never_panics() {
        use rand::{Rng, SeedableRng};
        let inner = [
            encode_message(0, 1, 0, 1, Some(b"a"), Some(b"x")),
            encode_message(1, 1, 0, 2, None, None),
        ]
        .concat();
        let mut good = vec![
            encode_message(0, 0, 0, 0, Some(b"k"), Some(b"v")),
            encode_message(
                2,
                1,
                2,
                9,
                None,
                Some(&Compression::Snappy.compress(&inner)),
            ),
        ];
        for codec in Compression::ALL {
            good.push(v2(codec, 3, 4));
        }
        let good = good.concat();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..3000 {
            let mut buf = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..buf.len());
                buf[i] = rng.random();
            }
            let cut = rng.random_range(0..=buf.len());
            let buf = &buf[..cut];
            for entry in scan(buf).flatten() {
                let _ = decode_batch(entry.2);
                if let Ok(records) = BatchRecords::new(entry.2) {
                    records.iter().for_each(drop);
                }
            }
            let _ = decode_all(buf);
            let _ = decode_batch(buf);
        }
    }

    #[test]
    fn scan_reports_crc_mismatch_and_continues() {
        let a = v2(Compression::None, 0, 2);
        let b = v2(Compression::None, 2, 2);
        let mut buf = [a.clone(), b].concat();
        buf[a.len() - 1] ^= 0xff;
        let entries: Vec<_> = scan(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(!entries[0].1.crc_valid);
        assert!(entries[1].1.crc_valid);
        assert!(matches!(
            decode_batch(entries[0].2),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn scan_ends_with_positioned_errors_on_bad_tails() {
        let a = v2(Compression::None, 0, 2);
        let b = v2(Compression::Gzip, 2, 2);
        let good = [a.clone(), b.clone()].concat();
        // Every truncation of the second batch.
        for cut in a.len() + 1..good.len() {
            let items: Vec<_> = scan(&good[..cut]).collect();
            assert_eq!(items.len(), 2, "cut {cut}");
            let err = items[1].clone().unwrap_err();
            assert_eq!(err.position, a.len());
            assert!(
                matches!(err.error, BatchError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
        let with = |tail: &[u8]| {
            let buf = [good.as_slice(), tail].concat();
            let items: Vec<_> = scan(&buf).collect();
            assert_eq!(items.len(), 3);
            items[2].clone().unwrap_err()
        };
        let zeros = with(&[0u8; 40]);
        assert_eq!(zeros.position, good.len());
        assert_eq!(zeros.error, BatchError::InvalidLength(0));
        let mut bad_magic = a.clone();
        bad_magic[batch::MAGIC_OFFSET] = 7;
        assert_eq!(with(&bad_magic).error, BatchError::UnsupportedMagic(7));
        let mut short_v2 = a.clone();
        short_v2[8..12].copy_from_slice(&30i32.to_be_bytes());
        assert_eq!(with(&short_v2).error, BatchError::InvalidLength(30));
        let msg = with(&[1, 2, 3]).to_string();
        assert!(
            msg.starts_with(&format!("at byte {}: truncated", good.len())),
            "{msg}"
        );
        assert_eq!(scan(&[]).count(), 0);
    }
}
