//! Validation of produced record batches before anything is appended
//! (Kafka's `LogValidator`). [`validate_records`] is what [`Log::append`]
//! runs on the bytes of a produce request's partition; a fuzz target calls
//! it (or [`validate_batch`]) on the same bytes.
//!
//! Every batch is checked in this order (for an uncompressed batch the CRC of
//! check 1 is taken during check 10's pass, and any failure there is
//! reported as a CRC mismatch when the CRC is wrong); the first failure
//! refuses the whole append (no batch of it is written):
//!
//! | # | check | error (Kafka code) |
//! | --- | --- | --- |
//! | 1 | complete batch, `batchLength` ≥ 49, magic 2, CRC32C matches | `CorruptBatch` (CORRUPT_MESSAGE, 2) |
//! | 2 | batch size ≤ `max.message.bytes` | `RecordTooLarge` (MESSAGE_TOO_LARGE, 10) |
//! | 3 | codec (attributes & 7) is 0..=4; 5, 6, 7 refused | `CorruptBatch` (2) |
//! | 4 | `recordsCount` ≥ 1 (no empty batch) | `InvalidRecord` (INVALID_RECORD, 87) |
//! | 5 | `lastOffsetDelta` == `recordsCount` − 1 | `InvalidRecord` (87) |
//! | 6 | control bit (0x20) not set: clients do not write control batches | `InvalidRecord` (87) |
//! | 7 | transactional bit (0x10) only with a producer id (≥ 0) | `InvalidRecord` (87) |
//! | 8 | a producer id comes with a base sequence ≥ 0 | `InvalidRecord` (87) |
//! | 9 | compressed records decompress (as a stream, output capped at [`decompressed_limit`]); the gzip flag on bytes that are not gzip fails here | `CorruptBatch` (2) |
//! | 10 | each record's framing: length varint ≥ 0 and inside the batch, attributes byte, timestamp delta varlong, offset delta varint, key and value lengths ≥ −1 and inside the record, header count ≥ 0, header key length ≥ 0 and value length ≥ −1 and inside the record, the declared length consumed exactly | `CorruptBatch` (2) |
//! | 11 | offset delta of record *i* == *i* | `InvalidRecord` (87), with record index |
//! | 12 | a compacted topic's records have keys | `MissingKey` (87), with record index |
//! | 13 | exactly `recordsCount` records: none missing, no bytes after the last | `InvalidRecord` (87) |
//!
//! The batch's `maxTimestamp` is recomputed from the records (CreateTime) and
//! returned in [`ValidBatch::max_timestamp`]; [`Log::append`] rewrites the
//! header (and CRC) when the client's value differs, as Kafka does.
//!
//! Cost: the uncompressed path is one pass over the batch without
//! allocating: the CRC runs 16 KiB at a time just ahead of the record
//! parser, which then finds each record's fields (keys and values are
//! skipped) in L1 instead of taking a cache miss per record.
//! Any failure on that path is reported as a CRC mismatch if the CRC does
//! not match, so that damage in transit is named as such. A
//! compressed batch is decompressed through [`Compression::decoder`] into a
//! 32 KiB window that the records are parsed from as it fills, so memory
//! does not grow with the declared or the decompressed size.
//!
//! [`Log::append`]: super::Log::append

use super::config::LogConfig;
use super::error::{LogError, Result};
use crate::record::Compression;
use crate::record::batch::{self, ATTRIBUTES_OFFSET, BatchError, BatchHeader, HEADER_SIZE};
use crate::record::varint::{get_varint, get_varlong};
use std::io::Read;

/// Decompressed records may be at most this many times `max.message.bytes`
/// (about 32 MiB with the default): a bound on the work a small hostile
/// batch can cause, far above what producers' batch sizes produce.
pub const MAX_EXPANSION: usize = 32;

/// The CRC of an uncompressed batch is taken in runs of this many bytes
/// (long enough for its 3-way parallel loop, short enough to stay in L1)...
const CRC_RUN: usize = 16 * 1024;

/// ...kept at least this far ahead of the record parser.
const CRC_LEAD: usize = 256;

/// Bytes of decompressed output the stream parser holds at once.
const WINDOW: usize = 32 * 1024;

/// One record refused by a per-record rule, as ProduceResponse v8+ reports
/// it (`record_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record within its batch.
    pub batch_index: i32,
    /// What is wrong with it.
    pub message: String,
}

/// A batch that passed every check, with what the append needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidBatch {
    /// Byte position of the batch in the validated buffer.
    pub position: usize,
    /// Its header, as sent.
    pub header: BatchHeader,
    /// The largest record timestamp (for a batch the client marked
    /// LogAppendTime, its `maxTimestamp` as sent).
    pub max_timestamp: i64,
}

/// The largest decompressed size of one batch's records under `config`.
pub fn decompressed_limit(config: &LogConfig) -> usize {
    config.max_message_bytes.saturating_mul(MAX_EXPANSION)
}

/// Validates every batch of `batches` (a produce request's records for one
/// partition), in order.
///
/// # Errors
/// The first batch's failure, as listed in the module doc.
pub fn validate_records(batches: &[u8], config: &LogConfig) -> Result<Vec<ValidBatch>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < batches.len() {
        let mut valid = validate_batch(&batches[pos..], config)?;
        valid.position = pos;
        pos += valid.header.total_size();
        out.push(valid);
    }
    Ok(out)
}

/// Validates the one batch at the start of `buf` (later bytes are ignored);
/// its size is `header.total_size()`. `position` is 0.
///
/// # Errors
/// As listed in the module doc.
pub fn validate_batch(buf: &[u8], config: &LogConfig) -> Result<ValidBatch> {
    // batch::validate would also refuse a negative count, but as corrupt;
    // check 4 makes that INVALID_RECORD as in Kafka.
    let header = BatchHeader::parse(buf)?;
    let size = header.total_size();
    if buf.len() < size {
        return Err(BatchError::Truncated {
            needed: size,
            available: buf.len(),
        }
        .into());
    }
    let batch = &buf[..size];
    if size > config.max_message_bytes {
        return Err(LogError::RecordTooLarge {
            size,
            max: config.max_message_bytes,
        });
    }
    let walk = Walk {
        header: &header,
        compact: config.compact,
    };
    let max_timestamp = if header.compression_id() == 0 {
        // One pass: each record is parsed, then added to the CRC while its
        // bytes are in cache. Any failure defers to a CRC mismatch, so that
        // damage in transit is reported as such.
        let mut src = SliceSource::new(batch);
        match check_header(&header).and_then(|()| walk.records(&mut src)) {
            Ok(max) => {
                check_crc(&header, src.crc())?;
                max
            }
            Err(e) => {
                check_crc(&header, batch::compute_crc(batch))?;
                return Err(e);
            }
        }
    } else {
        check_crc(&header, batch::compute_crc(batch))?;
        let codec = Compression::from_id(header.compression_id())?;
        check_header(&header)?;
        let reader = codec.decoder(&batch[HEADER_SIZE..])?;
        walk.records(&mut StreamSource::new(
            reader,
            codec,
            decompressed_limit(config),
        ))?
    };
    Ok(ValidBatch {
        position: 0,
        header,
        max_timestamp: if header.is_log_append_time() {
            header.max_timestamp
        } else {
            max_timestamp
        },
    })
}

/// Check 1's CRC part: `computed` against the header's.
fn check_crc(header: &BatchHeader, computed: u32) -> Result<()> {
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        }
        .into());
    }
    Ok(())
}

fn invalid(message: String) -> LogError {
    LogError::InvalidRecord {
        message,
        record_errors: Vec::new(),
    }
}

/// Checks 4–8: the header's own rules.
fn check_header(h: &BatchHeader) -> Result<()> {
    if h.records_count < 1 {
        return Err(invalid(format!(
            "invalid record count {} (a batch holds at least one record)",
            h.records_count
        )));
    }
    if h.last_offset_delta as i64 != h.records_count as i64 - 1 {
        return Err(invalid(format!(
            "inconsistent batch: {} records but last offset delta {}",
            h.records_count, h.last_offset_delta
        )));
    }
    if h.is_control() {
        return Err(invalid(
            "clients are not allowed to write control batches".into(),
        ));
    }
    if h.is_transactional() && h.producer_id < 0 {
        return Err(invalid(format!(
            "transactional batch without a producer id (producer id {})",
            h.producer_id
        )));
    }
    if h.producer_id >= 0 && h.base_sequence < 0 {
        return Err(invalid(format!(
            "invalid sequence number {} in a batch of producer id {}",
            h.base_sequence, h.producer_id
        )));
    }
    Ok(())
}

/// Where record bytes come from: a slice (uncompressed) or a decompressing
/// stream. Positions count bytes of the records section; reads past the
/// limit set for the current record fail.
trait Source {
    /// Bytes consumed so far.
    fn pos(&self) -> u64;
    /// Reads may not go beyond this position (the current record's end).
    fn set_limit(&mut self, limit: u64);
    /// Whether every byte has been consumed.
    fn at_end(&mut self) -> std::result::Result<bool, BatchError>;
    /// A zigzag varint.
    fn varint(&mut self) -> std::result::Result<i32, BatchError>;
    /// A zigzag varlong.
    fn varlong(&mut self) -> std::result::Result<i64, BatchError>;
    /// Skips `n` bytes.
    fn skip(&mut self, n: u64) -> std::result::Result<(), BatchError>;
    /// Called after each complete record.
    fn record_done(&mut self) {}
}

/// What a source reports when a record's field runs past its declared
/// length: a record structure fault (INVALID_RECORD), unlike a failure to
/// decompress (CORRUPT_MESSAGE).
const PAST_RECORD: &str = "record field runs past the record's declared length";

fn past_record() -> BatchError {
    BatchError::Corrupt(PAST_RECORD.into())
}

/// The records section of an uncompressed batch, which also computes the
/// batch's CRC as the records are consumed.
struct SliceSource<'a> {
    /// The records section.
    buf: &'a [u8],
    pos: usize,
    limit: usize,
    /// CRC32C of the covered header bytes and `buf[..crc_pos]`.
    crc: u32,
    crc_pos: usize,
}

impl<'a> SliceSource<'a> {
    /// Over the records of the complete `batch`.
    fn new(batch: &'a [u8]) -> Self {
        let buf = &batch[HEADER_SIZE..];
        let mut src = SliceSource {
            buf,
            pos: 0,
            limit: buf.len(),
            crc: crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..HEADER_SIZE]),
            crc_pos: 0,
        };
        src.crc_ahead();
        src
    }

    /// Adds the next runs of [`CRC_RUN`] bytes to the CRC until it is
    /// [`CRC_LEAD`] bytes ahead of the parser (or at the end): the CRC
    /// streams the bytes in, and the parser then reads them from L1.
    #[cold]
    fn crc_ahead(&mut self) {
        while self.crc_pos < self.buf.len() && self.pos + CRC_LEAD > self.crc_pos {
            let end = (self.crc_pos + CRC_RUN).min(self.buf.len());
            self.crc = crc32c::crc32c_append(self.crc, &self.buf[self.crc_pos..end]);
            self.crc_pos = end;
        }
    }

    /// The batch's CRC32C (meaningful once every record was consumed).
    fn crc(&mut self) -> u32 {
        self.crc = crc32c::crc32c_append(self.crc, &self.buf[self.crc_pos..]);
        self.crc_pos = self.buf.len();
        self.crc
    }
}

impl Source for SliceSource<'_> {
    #[inline(always)]
    fn pos(&self) -> u64 {
        self.pos as u64
    }

    #[inline(always)]
    fn set_limit(&mut self, limit: u64) {
        self.limit = (limit.min(self.buf.len() as u64)) as usize;
    }

    #[inline(always)]
    fn at_end(&mut self) -> std::result::Result<bool, BatchError> {
        Ok(self.pos == self.buf.len())
    }

    #[inline(always)]
    fn varint(&mut self) -> std::result::Result<i32, BatchError> {
        let (v, n) = get_varint(&self.buf[self.pos..self.limit]).map_err(|_| past_record())?;
        self.pos += n;
        Ok(v)
    }

    #[inline(always)]
    fn varlong(&mut self) -> std::result::Result<i64, BatchError> {
        let (v, n) = get_varlong(&self.buf[self.pos..self.limit]).map_err(|_| past_record())?;
        self.pos += n;
        Ok(v)
    }

    #[inline(always)]
    fn skip(&mut self, n: u64) -> std::result::Result<(), BatchError> {
        if n > (self.limit - self.pos) as u64 {
            return Err(past_record());
        }
        self.pos += n as usize;
        Ok(())
    }

    #[inline(always)]
    fn record_done(&mut self) {
        if self.pos + CRC_LEAD > self.crc_pos {
            self.crc_ahead();
        }
    }
}

/// A decompressing reader seen through a fixed window: bytes are parsed as
/// they come out, and at most `cap` bytes may come out in all.
struct StreamSource<'a> {
    reader: Box<dyn Read + 'a>,
    codec: Compression,
    window: Box<[u8]>,
    /// Unconsumed bytes are `window[start..end]`.
    start: usize,
    end: usize,
    /// Records-section position of `window[start]`.
    pos: u64,
    limit: u64,
    /// Bytes read from `reader` so far.
    produced: u64,
    cap: u64,
    eof: bool,
}

impl<'a> StreamSource<'a> {
    fn new(reader: Box<dyn Read + 'a>, codec: Compression, cap: usize) -> Self {
        StreamSource {
            reader,
            codec,
            window: vec![0; WINDOW].into_boxed_slice(),
            start: 0,
            end: 0,
            pos: 0,
            limit: u64::MAX,
            produced: 0,
            cap: cap as u64,
            eof: false,
        }
    }

    /// Reads until at least `want` bytes are buffered or the stream ends.
    fn fill(&mut self, want: usize) -> std::result::Result<(), BatchError> {
        if self.end - self.start >= want || self.eof {
            return Ok(());
        }
        self.window.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < want && !self.eof {
            let n = loop {
                match self.reader.read(&mut self.window[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(BatchError::Corrupt(format!(
                            "{} decompression failed: {e}",
                            self.codec
                        )));
                    }
                }
            };
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
            self.produced += n as u64;
            if self.produced > self.cap {
                return Err(BatchError::Corrupt(format!(
                    "records decompress to more than {} bytes",
                    self.cap
                )));
            }
        }
        Ok(())
    }

    /// The buffered bytes a read may use (at most up to the limit).
    fn available(&self) -> &[u8] {
        let allowed = self.limit.saturating_sub(self.pos);
        let n = ((self.end - self.start) as u64).min(allowed) as usize;
        &self.window[self.start..self.start + n]
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }
}

impl Source for StreamSource<'_> {
    fn pos(&self) -> u64 {
        self.pos
    }

    fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    fn at_end(&mut self) -> std::result::Result<bool, BatchError> {
        self.fill(1)?;
        Ok(self.start == self.end)
    }

    fn varint(&mut self) -> std::result::Result<i32, BatchError> {
        self.fill(10)?;
        let (v, n) = get_varint(self.available()).map_err(|_| past_record())?;
        self.advance(n);
        Ok(v)
    }

    fn varlong(&mut self) -> std::result::Result<i64, BatchError> {
        self.fill(10)?;
        let (v, n) = get_varlong(self.available()).map_err(|_| past_record())?;
        self.advance(n);
        Ok(v)
    }

    fn skip(&mut self, mut n: u64) -> std::result::Result<(), BatchError> {
        if n > self.limit.saturating_sub(self.pos) {
            return Err(past_record());
        }
        while n > 0 {
            self.fill(1)?;
            let have = (self.end - self.start) as u64;
            if have == 0 {
                return Err(past_record());
            }
            let step = have.min(n) as usize;
            self.advance(step);
            n -= step as u64;
        }
        Ok(())
    }
}

/// Checks 10–13 over one batch's records.
struct Walk<'h> {
    header: &'h BatchHeader,
    compact: bool,
}

impl Walk<'_> {
    /// Walks every record; returns the largest record timestamp.
    #[inline]
    fn records<S: Source>(&self, src: &mut S) -> Result<i64> {
        let count = self.header.records_count;
        let mut max_timestamp = i64::MIN;
        for index in 0..count {
            if src.at_end()? {
                return Err(invalid(format!(
                    "batch ends after {index} of its {count} declared records"
                )));
            }
            let delta = self.record(src, index)?;
            max_timestamp = max_timestamp.max(self.header.base_timestamp.wrapping_add(delta));
        }
        if !src.at_end()? {
            return Err(invalid(format!(
                "bytes after the last of the {count} declared records"
            )));
        }
        Ok(max_timestamp)
    }

    /// One record at `index`; returns its timestamp delta.
    #[inline(always)]
    fn record<S: Source>(&self, src: &mut S, index: i32) -> Result<i64> {
        // Kafka's DefaultRecord.readFrom: a record that does not parse is
        // an InvalidRecordException (INVALID_RECORD), naming the record.
        let corrupt = |what: String| -> LogError {
            let message = format!("record {index}: {what}");
            LogError::InvalidRecord {
                message: message.clone(),
                record_errors: vec![RecordError {
                    batch_index: index,
                    message,
                }],
            }
        };
        let at = |e: BatchError| -> LogError {
            match e {
                BatchError::Corrupt(m) if m == PAST_RECORD => corrupt(m),
                other => other.into(),
            }
        };
        let length = src.varint().map_err(at)?;
        if length < 0 {
            return Err(corrupt(format!("negative record length {length}")));
        }
        let start = src.pos();
        let end = start + length as u64;
        src.set_limit(end);
        src.skip(1).map_err(at)?; // attributes
        let timestamp_delta = src.varlong().map_err(at)?;
        let offset_delta = src.varint().map_err(at)?;
        let key = src.varint().map_err(at)?;
        if key < -1 {
            return Err(corrupt(format!("invalid key length {key}")));
        }
        if key >= 0 {
            src.skip(key as u64).map_err(at)?;
        }
        let value = src.varint().map_err(at)?;
        if value < -1 {
            return Err(corrupt(format!("invalid value length {value}")));
        }
        if value >= 0 {
            src.skip(value as u64).map_err(at)?;
        }
        let headers = src.varint().map_err(at)?;
        if headers < 0 {
            return Err(corrupt(format!("negative header count {headers}")));
        }
        for _ in 0..headers {
            let key = src.varint().map_err(at)?;
            if key < 0 {
                return Err(corrupt(format!("invalid header key length {key}")));
            }
            src.skip(key as u64).map_err(at)?;
            let value = src.varint().map_err(at)?;
            if value < -1 {
                return Err(corrupt(format!("invalid header value length {value}")));
            }
            if value >= 0 {
                src.skip(value as u64).map_err(at)?;
            }
        }
        if src.pos() != end {
            return Err(corrupt(format!(
                "declares {length} bytes but holds {}",
                src.pos() - start
            )));
        }
        src.set_limit(u64::MAX);
        src.record_done();
        if offset_delta != index {
            let message = format!("record {index} has offset delta {offset_delta}");
            return Err(LogError::InvalidRecord {
                message: message.clone(),
                record_errors: vec![RecordError {
                    batch_index: index,
                    message,
                }],
            });
        }
        if self.compact && key < 0 {
            return Err(LogError::MissingKey {
                offset_delta: index,
            });
        }
        Ok(timestamp_delta)
    }
}

/// The per-record errors of a refused append, for ProduceResponse's
/// `record_errors` (empty for errors about the whole batch).
pub fn record_errors(e: &LogError) -> Vec<RecordError> {
    match e {
        LogError::InvalidRecord { record_errors, .. } => record_errors.clone(),
        LogError::MissingKey { offset_delta } => vec![RecordError {
            batch_index: *offset_delta,
            message: e.to_string(),
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{
        ATTR_CONTROL, ATTR_TRANSACTIONAL, ATTRIBUTES_OFFSET, BASE_SEQUENCE_OFFSET,
        LAST_OFFSET_DELTA_OFFSET, LENGTH_OFFSET, MAX_TIMESTAMP_OFFSET, PRODUCER_ID_OFFSET,
        RECORDS_COUNT_OFFSET,
    };
    use crate::record::varint::{put_varint, put_varlong};

    /// One record's bytes, fields as given (so they can be wrong).
    struct Rec<'a> {
        ts_delta: i64,
        offset_delta: i32,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [(&'a [u8], Option<&'a [u8]>)],
    }

    fn rec(offset_delta: i32, key: Option<&'static [u8]>) -> Rec<'static> {
        Rec {
            ts_delta: offset_delta as i64,
            offset_delta,
            key,
            value: Some(b"value"),
            headers: &[(b"h", Some(b"hv"))],
        }
    }

    fn body(r: &Rec) -> Vec<u8> {
        let mut b = vec![0u8]; // attributes
        put_varlong(&mut b, r.ts_delta);
        put_varint(&mut b, r.offset_delta);
        for field in [r.key, r.value] {
            match field {
                Some(f) => {
                    put_varint(&mut b, f.len() as i32);
                    b.extend_from_slice(f);
                }
                None => put_varint(&mut b, -1),
            }
        }
        put_varint(&mut b, r.headers.len() as i32);
        for (k, v) in r.headers {
            put_varint(&mut b, k.len() as i32);
            b.extend_from_slice(k);
            match v {
                Some(v) => {
                    put_varint(&mut b, v.len() as i32);
                    b.extend_from_slice(v);
                }
                None => put_varint(&mut b, -1),
            }
        }
        b
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, body.len() as i32);
        b.extend_from_slice(body);
        b
    }

    /// A batch around `records` (already framed), header fields consistent
    /// with `count` unless changed afterwards; CRC valid.
    fn batch_of(codec: Compression, records: &[u8], count: i32) -> Vec<u8> {
        let payload = codec.compress(records);
        let mut b = vec![0u8; HEADER_SIZE];
        b.extend_from_slice(&payload);
        let len = (b.len() - 12) as i32;
        b[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
        b[batch::MAGIC_OFFSET] = 2;
        b[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&codec.id().to_be_bytes());
        b[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&(count - 1).to_be_bytes());
        b[batch::BASE_TIMESTAMP_OFFSET..batch::BASE_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&1000i64.to_be_bytes());
        b[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&(1000 + count as i64 - 1).to_be_bytes());
        b[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&(-1i64).to_be_bytes());
        b[batch::PRODUCER_EPOCH_OFFSET..batch::PRODUCER_EPOCH_OFFSET + 2]
            .copy_from_slice(&(-1i16).to_be_bytes());
        b[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4].copy_from_slice(&(-1i32).to_be_bytes());
        b[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
        batch::update_crc(&mut b);
        b
    }

    fn records(n: i32) -> Vec<u8> {
        (0..n)
            .flat_map(|i| framed(&body(&rec(i, Some(b"k")))))
            .collect()
    }

    fn good(codec: Compression, n: i32) -> Vec<u8> {
        batch_of(codec, &records(n), n)
    }

    /// Sets a header field (big endian bytes) and fixes the CRC.
    fn patch(mut b: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
        b[at..at + bytes.len()].copy_from_slice(bytes);
        batch::update_crc(&mut b);
        b
    }

    fn config() -> LogConfig {
        LogConfig::default()
    }

    fn check(b: &[u8]) -> Result<ValidBatch> {
        validate_batch(b, &config())
    }

    fn corrupt_msg(r: Result<ValidBatch>) -> String {
        match r {
            Err(LogError::CorruptBatch(e)) => e.to_string(),
            other => panic!("expected CorruptBatch, got {other:?}"),
        }
    }

    fn invalid_msg(r: Result<ValidBatch>) -> (String, Vec<RecordError>) {
        match r {
            Err(LogError::InvalidRecord {
                message,
                record_errors,
            }) => (message, record_errors),
            other => panic!("expected InvalidRecord, got {other:?}"),
        }
    }

    #[test]
    fn valid_batches_of_every_codec_pass() {
        for codec in Compression::ALL {
            let b = good(codec, 3);
            let v = check(&b).unwrap();
            assert_eq!(v.header.records_count, 3, "{codec}");
            assert_eq!(v.max_timestamp, 1002, "{codec}");
            let two = [b.clone(), good(codec, 1)].concat();
            let all = validate_records(&two, &config()).unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[1].position, b.len());
        }
    }

    #[test]
    fn builder_batches_pass() {
        for codec in Compression::ALL {
            // 300 KB: the CRC is taken in several runs of parsed records.
            let mut builder = crate::record::BatchBuilder::new(codec, 5);
            for i in 0..300 {
                builder.push(5 + i, Some(b"key"), Some(&[i as u8; 1000]), &[]);
            }
            let b = builder.finish();
            assert_eq!(check(&b).unwrap().max_timestamp, 304, "{codec}");
            let mut damaged = b.clone();
            let at = HEADER_SIZE + (damaged.len() - HEADER_SIZE) * 3 / 4;
            damaged[at] ^= 0x40;
            assert!(corrupt_msg(check(&damaged)).contains("CRC"), "{codec}");
        }
    }

    #[test]
    fn crc_length_and_magic_are_checked_first() {
        let mut b = good(Compression::None, 2);
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(corrupt_msg(check(&b)).contains("CRC"));
        // Damage that breaks the framing too is still named a CRC mismatch.
        let mut b = good(Compression::None, 2);
        b[HEADER_SIZE] = 0x7f;
        assert!(corrupt_msg(check(&b)).contains("CRC"));
        let mut b = good(Compression::None, 2);
        b[batch::RECORDS_COUNT_OFFSET + 3] = 9;
        assert!(corrupt_msg(check(&b)).contains("CRC"));
        let b = good(Compression::None, 2);
        assert!(matches!(
            check(&b[..b.len() - 1]),
            Err(LogError::CorruptBatch(BatchError::Truncated { .. }))
        ));
        let mut b = good(Compression::None, 2);
        b[batch::MAGIC_OFFSET] = 1;
        assert!(matches!(
            check(&b),
            Err(LogError::CorruptBatch(BatchError::UnsupportedMagic(1)))
        ));
    }

    #[test]
    fn batch_larger_than_max_message_bytes_is_refused() {
        let b = good(Compression::None, 3);
        let mut c = config();
        c.max_message_bytes = b.len() - 1;
        assert!(matches!(
            validate_batch(&b, &c),
            Err(LogError::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn codecs_five_to_seven_are_refused() {
        for id in 5..=7i16 {
            let b = patch(
                good(Compression::None, 1),
                ATTRIBUTES_OFFSET,
                &id.to_be_bytes(),
            );
            assert!(corrupt_msg(check(&b)).contains("codec"), "{id}");
        }
    }

    #[test]
    fn empty_batch_is_refused() {
        let b = batch_of(Compression::None, &[], 0);
        let (m, _) = invalid_msg(check(&b));
        assert!(m.contains("record count 0"), "{m}");
    }

    #[test]
    fn last_offset_delta_must_be_count_minus_one() {
        // count 2^31-1 with lastOffsetDelta 2^31-2 and one record: header
        // consistent, records not (check 13).
        let b = batch_of(Compression::None, &records(1), i32::MAX);
        assert!(
            invalid_msg(check(&b))
                .0
                .contains("after 1 of its 2147483647")
        );
        let b = patch(
            good(Compression::None, 3),
            LAST_OFFSET_DELTA_OFFSET,
            &5i32.to_be_bytes(),
        );
        let (m, _) = invalid_msg(check(&b));
        assert!(m.contains("3 records but last offset delta 5"), "{m}");
    }

    #[test]
    fn record_count_must_match_the_records() {
        // Count 1, three records.
        let b = batch_of(Compression::None, &records(3), 1);
        assert!(
            invalid_msg(check(&b))
                .0
                .contains("bytes after the last of the 1")
        );
        // Count 3, one record; and the same compressed.
        for codec in [Compression::None, Compression::Zstd] {
            let b = batch_of(codec, &records(1), 3);
            assert!(
                invalid_msg(check(&b)).0.contains("after 1 of its 3"),
                "{codec}"
            );
            let b = batch_of(codec, &records(3), 1);
            assert!(invalid_msg(check(&b)).0.contains("bytes after"), "{codec}");
        }
    }

    #[test]
    fn control_batches_from_clients_are_refused() {
        let b = patch(
            good(Compression::None, 1),
            ATTRIBUTES_OFFSET,
            &ATTR_CONTROL.to_be_bytes(),
        );
        let (m, _) = invalid_msg(check(&b));
        assert!(m.contains("control"), "{m}");
    }

    #[test]
    fn transactional_bit_needs_a_producer_id_and_a_sequence() {
        let b = patch(
            good(Compression::None, 1),
            ATTRIBUTES_OFFSET,
            &ATTR_TRANSACTIONAL.to_be_bytes(),
        );
        let (m, _) = invalid_msg(check(&b));
        assert!(m.contains("without a producer id"), "{m}");
        let with_pid = patch(b, PRODUCER_ID_OFFSET, &7i64.to_be_bytes());
        let (m, _) = invalid_msg(check(&with_pid));
        assert!(m.contains("invalid sequence number -1"), "{m}");
        let ok = patch(with_pid, BASE_SEQUENCE_OFFSET, &0i32.to_be_bytes());
        check(&ok).unwrap();
    }

    #[test]
    fn offset_delta_must_be_the_record_index() {
        let mut recs = records(1);
        recs.extend(framed(&body(&rec(5, Some(b"k")))));
        let b = batch_of(Compression::Lz4, &recs, 2);
        let (m, errors) = invalid_msg(check(&b));
        assert!(m.contains("record 1 has offset delta 5"), "{m}");
        assert_eq!(errors[0].batch_index, 1);
    }

    #[test]
    fn compacted_topics_need_keys() {
        let mut recs = records(2);
        recs.extend(framed(&body(&rec(2, None))));
        let b = batch_of(Compression::Snappy, &recs, 3);
        check(&b).unwrap();
        let mut c = config();
        c.compact = true;
        let e = validate_batch(&b, &c).unwrap_err();
        assert!(matches!(e, LogError::MissingKey { offset_delta: 2 }));
        assert_eq!(record_errors(&e)[0].batch_index, 2);
    }

    /// Every framing fault of one record, as (name, record bytes).
    fn framing_faults() -> Vec<(&'static str, Vec<u8>)> {
        let good_body = body(&rec(0, Some(b"k")));
        let mut faults = Vec::new();
        // Declared length one more / one less than the body.
        let mut longer = Vec::new();
        put_varint(&mut longer, good_body.len() as i32 + 1);
        longer.extend_from_slice(&good_body);
        longer.push(0);
        faults.push(("length longer than fields", longer));
        let mut shorter = Vec::new();
        put_varint(&mut shorter, good_body.len() as i32 - 1);
        shorter.extend_from_slice(&good_body);
        faults.push(("length shorter than fields", shorter));
        let mut negative = Vec::new();
        put_varint(&mut negative, -3);
        faults.push(("negative length", negative));
        faults.push(("unterminated varint", vec![0x80, 0x80, 0x80]));
        faults.push(("overlong varint", vec![0xff; 6]));
        let mut huge = Vec::new();
        put_varint(&mut huge, i32::MAX);
        huge.extend_from_slice(&good_body);
        faults.push(("length beyond the batch", huge));
        // Field faults inside a correctly framed record.
        let field = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = vec![0u8];
            put_varlong(&mut b, 0);
            put_varint(&mut b, 0);
            f(&mut b);
            framed(&b)
        };
        faults.push((
            "key length -2",
            field(&|b| {
                put_varint(b, -2);
            }),
        ));
        faults.push((
            "key longer than the record",
            field(&|b| {
                put_varint(b, 100);
                b.extend_from_slice(b"abc");
            }),
        ));
        faults.push((
            "value length -5",
            field(&|b| {
                put_varint(b, -1);
                put_varint(b, -5);
            }),
        ));
        faults.push((
            "negative header count",
            field(&|b| {
                put_varint(b, -1);
                put_varint(b, -1);
                put_varint(b, -1);
            }),
        ));
        faults.push((
            "header count beyond the record",
            field(&|b| {
                put_varint(b, -1);
                put_varint(b, -1);
                put_varint(b, 1000);
            }),
        ));
        faults.push((
            "null header key",
            field(&|b| {
                put_varint(b, -1);
                put_varint(b, -1);
                put_varint(b, 1);
                put_varint(b, -1);
                put_varint(b, -1);
            }),
        ));
        faults.push((
            "header value length -2",
            field(&|b| {
                put_varint(b, -1);
                put_varint(b, -1);
                put_varint(b, 1);
                put_varint(b, 1);
                b.push(b'h');
                put_varint(b, -2);
            }),
        ));
        faults.push(("no attributes byte", framed(&[])));
        faults.push(("missing timestamp delta", framed(&[0])));
        faults
    }

    #[test]
    fn record_framing_faults_are_invalid_records_in_every_codec() {
        for codec in Compression::ALL {
            for (name, fault) in framing_faults() {
                let mut recs = records(1);
                recs.extend_from_slice(&fault);
                let b = batch_of(codec, &recs, 2);
                let (m, errors) = invalid_msg(check(&b));
                assert!(m.contains("record 1"), "{codec} {name}: {m}");
                assert_eq!(errors.len(), 1, "{codec} {name}");
                assert_eq!(errors[0].batch_index, 1, "{codec} {name}");
            }
        }
    }

    #[test]
    fn compressed_garbage_and_wrong_codec_flag_are_corrupt() {
        let plain = records(2);
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            // The flag says `codec`, the bytes are uncompressed records.
            let mut b = batch_of(Compression::None, &plain, 2);
            b = patch(b, ATTRIBUTES_OFFSET, &codec.id().to_be_bytes());
            let m = corrupt_msg(check(&b));
            assert!(m.contains("decompression failed"), "{codec}: {m}");
            // A compressed stream cut short.
            let good = good(codec, 50);
            let cut = good.len() - 10;
            let mut cut_batch = good[..cut].to_vec();
            let len = (cut - 12) as i32;
            cut_batch[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
            batch::update_crc(&mut cut_batch);
            assert!(check(&cut_batch).is_err(), "{codec} cut");
        }
    }

    #[test]
    fn decompressed_size_is_capped() {
        // 40 records of 64 KiB of zeros: 2.6 MB out of a few KB in.
        let value = vec![0u8; 64 * 1024];
        let recs: Vec<u8> = (0..40)
            .flat_map(|i| {
                framed(&body(&Rec {
                    ts_delta: 0,
                    offset_delta: i,
                    key: None,
                    value: Some(&value),
                    headers: &[],
                }))
            })
            .collect();
        let mut c = config();
        // (Snappy is left out: it cannot expand more than 22 times, so a
        // batch under max.message.bytes never reaches the cap.)
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let b = batch_of(codec, &recs, 40);
            c.max_message_bytes = 1 << 20;
            validate_batch(&b, &c).unwrap();
            c.max_message_bytes = 64 * 1024;
            let m = corrupt_msg(validate_batch(&b, &c));
            assert!(m.contains("decompress to more than"), "{codec}: {m}");
        }
    }

    #[test]
    fn max_timestamp_is_recomputed_from_the_records() {
        let mut recs = Vec::new();
        for (i, delta) in [5i64, 90, -3].into_iter().enumerate() {
            let mut r = rec(i as i32, Some(b"k"));
            r.ts_delta = delta;
            recs.extend(framed(&body(&r)));
        }
        for codec in [Compression::None, Compression::Gzip] {
            let b = batch_of(codec, &recs, 3);
            assert_eq!(check(&b).unwrap().max_timestamp, 1090, "{codec}");
        }
    }

    #[test]
    fn random_damage_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for codec in Compression::ALL {
            let good = good(codec, 5);
            for _ in 0..500 {
                let mut b = good.clone();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(HEADER_SIZE..b.len());
                    b[i] = rng.random();
                }
                batch::update_crc(&mut b);
                let _ = check(&b);
            }
        }
    }
}
