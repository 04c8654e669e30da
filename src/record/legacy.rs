//! Legacy message sets (magic 0 and 1), read only, CRC32 (IEEE) checked with crc32fast.
//!
//! Each entry of a legacy message set is:
//! ```text
//! offset: int64        0
//! messageSize: int32   8   (bytes after this field)
//! crc: uint32          12  (CRC32 of magic..end)
//! magic: int8          16  (0 or 1)
//! attributes: int8     17  (codec in bits 0-2; v1: bit 3 = log-append time)
//! timestamp: int64     18  (v1 only)
//! keyLength: int32, key bytes (-1 = null)
//! valueLength: int32, value bytes (-1 = null)
//! ```
//! A compressed entry (a "wrapper") carries a whole compressed message set as
//! its value. Inner offsets are absolute in v0 wrappers; in v1 wrappers they
//! are relative (0, 1, ...) and the wrapper's offset is that of the last inner
//! message. LZ4 wrappers of magic 0 were written by old Kafka versions with a
//! wrong frame header checksum; it is ignored for magic 0, as Kafka does.

use std::borrow::Cow;

use bytes::Bytes;

use super::batch::{BatchError, LOG_OVERHEAD, MAGIC_OFFSET};
use super::decode::BatchSummary;
use super::{Compression, Record};

/// Smallest `messageSize` of a v0 message (crc, magic, attributes, key and value lengths).
pub const MIN_MESSAGE_SIZE_V0: usize = 14;
/// Smallest `messageSize` of a v1 message (v0 plus the timestamp).
pub const MIN_MESSAGE_SIZE_V1: usize = 22;
/// Attribute bit of v1 messages: the timestamp is log-append time.
pub const ATTR_LOG_APPEND_TIME: i8 = 0x08;
/// Timestamp reported for v0 messages, which have none (Kafka's `NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

/// One parsed legacy message (a single record or a compressed wrapper).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyMessage<'a> {
    /// The entry's offset (a wrapper's: its last inner message's).
    pub offset: i64,
    /// Stored CRC32.
    pub crc: u32,
    /// Magic byte: 0 or 1.
    pub magic: i8,
    /// Attribute byte.
    pub attributes: i8,
    /// Timestamp (v1), or [`NO_TIMESTAMP`] for v0.
    pub timestamp: i64,
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null. For a wrapper: the compressed message set.
    pub value: Option<&'a [u8]>,
    /// Bytes of the whole entry, including offset and size fields.
    pub size: usize,
    /// Whether the stored CRC matches the bytes.
    pub crc_valid: bool,
}

impl<'a> LegacyMessage<'a> {
    /// Parses the legacy entry at the start of `buf` (which may hold more
    /// bytes), checking lengths but not the CRC (see `crc_valid`).
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        let truncated = |needed| BatchError::Truncated {
            needed,
            available: buf.len(),
        };
        if buf.len() <= MAGIC_OFFSET {
            return Err(truncated(MAGIC_OFFSET + 1));
        }
        let length = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let magic = buf[MAGIC_OFFSET] as i8;
        let min = match magic {
            0 => MIN_MESSAGE_SIZE_V0,
            1 => MIN_MESSAGE_SIZE_V1,
            other => return Err(BatchError::UnsupportedMagic(other)),
        };
        if length < min as i32 {
            return Err(BatchError::InvalidLength(length));
        }
        let size = length as usize + LOG_OVERHEAD;
        if buf.len() < size {
            return Err(truncated(size));
        }
        let entry = &buf[..size];
        let crc = u32::from_be_bytes([entry[12], entry[13], entry[14], entry[15]]);
        let attributes = entry[17] as i8;
        let mut pos = 18;
        let timestamp = if magic == 1 {
            pos += 8;
            i64::from_be_bytes(entry[18..26].try_into().expect("8 bytes"))
        } else {
            NO_TIMESTAMP
        };
        let key = bytes_field(entry, &mut pos)?;
        let value = bytes_field(entry, &mut pos)?;
        if pos != size {
            return Err(BatchError::Corrupt(format!(
                "legacy message declares {length} bytes but holds {}",
                pos - LOG_OVERHEAD
            )));
        }
        Ok(LegacyMessage {
            offset: i64::from_be_bytes(entry[..8].try_into().expect("8 bytes")),
            crc,
            magic,
            attributes,
            timestamp,
            key,
            value,
            size,
            crc_valid: compute_crc(entry) == crc,
        })
    }

    /// The compression codec of the attributes.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        match Compression::from_id((self.attributes & 0x07) as i16)? {
            Compression::Zstd => Err(BatchError::Corrupt(
                "zstd is not allowed in legacy messages".into(),
            )),
            codec => Ok(codec),
        }
    }

    /// Whether the timestamp is log-append time (v1 only).
    pub fn is_log_append_time(&self) -> bool {
        self.magic == 1 && self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
}

/// An i32 length (-1 = null) followed by that many bytes.
fn bytes_field<'a>(entry: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, BatchError> {
    let len_bytes = entry
        .get(*pos..*pos + 4)
        .ok_or_else(|| BatchError::Corrupt("legacy message field runs past its end".into()))?;
    let len = i32::from_be_bytes(len_bytes.try_into().expect("4 bytes"));
    *pos += 4;
    match len {
        -1 => Ok(None),
        n if n < -1 => Err(BatchError::Corrupt(format!("invalid field length {n}"))),
        n => {
            let end = *pos + n as usize;
            let bytes = entry.get(*pos..end).ok_or_else(|| {
                BatchError::Corrupt("legacy message field runs past its end".into())
            })?;
            *pos = end;
            Ok(Some(bytes))
        }
    }
}

/// CRC32 (IEEE) over `magic..end` of a complete legacy entry.
pub fn compute_crc(entry: &[u8]) -> u32 {
    crc32fast::hash(&entry[MAGIC_OFFSET..])
}

/// Inner messages of a wrapper: (absolute offset, effective timestamp, message).
type Inner<'a> = Vec<(i64, i64, LegacyMessage<'a>)>;

/// Decompresses a wrapper's value (bounded like every batch).
fn decompress(wrapper: &LegacyMessage<'_>, codec: Compression) -> Result<Vec<u8>, BatchError> {
    let value = wrapper
        .value
        .ok_or_else(|| BatchError::Corrupt("compressed legacy message has a null value".into()))?;
    let value: Cow<'_, [u8]> = if codec == Compression::Lz4 && wrapper.magic == 0 {
        fix_lz4_header_checksum(value)
    } else {
        Cow::Borrowed(value)
    };
    codec.decompress(&value)
}

/// Expands a decompressed wrapper payload into its inner messages, with
/// absolute offsets and effective timestamps.
fn expand<'a>(wrapper: &LegacyMessage<'_>, payload: &'a [u8]) -> Result<Inner<'a>, BatchError> {
    let mut messages = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let m = LegacyMessage::parse(rest)?;
        if !m.crc_valid {
            return Err(BatchError::CrcMismatch {
                stored: m.crc,
                computed: compute_crc(&rest[..m.size]),
            });
        }
        if m.attributes & 0x07 != 0 {
            return Err(BatchError::Corrupt(
                "compressed legacy message nested in a compressed message".into(),
            ));
        }
        rest = &rest[m.size..];
        let timestamp = if wrapper.is_log_append_time() {
            wrapper.timestamp
        } else if m.magic == 0 {
            NO_TIMESTAMP
        } else {
            m.timestamp
        };
        messages.push((m.offset, timestamp, m));
    }
    if let (true, Some(&(last_relative, _, _))) = (wrapper.magic > 0, messages.last()) {
        let base = wrapper.offset.wrapping_sub(last_relative);
        for (offset, _, _) in &mut messages {
            *offset = offset.wrapping_add(base);
        }
    }
    Ok(messages)
}

/// Decodes the legacy entry at the start of `entry` into records, checking its
/// CRC and expanding a compressed wrapper.
pub fn decode_entry(entry: &[u8]) -> Result<Vec<Record>, BatchError> {
    let m = LegacyMessage::parse(entry)?;
    if !m.crc_valid {
        return Err(BatchError::CrcMismatch {
            stored: m.crc,
            computed: compute_crc(&entry[..m.size]),
        });
    }
    match m.compression()? {
        Compression::None => {
            let owned = |s: Option<&[u8]>| s.map(Bytes::copy_from_slice);
            Ok(vec![Record {
                offset: m.offset,
                timestamp: m.timestamp,
                key: owned(m.key),
                value: owned(m.value),
                headers: Vec::new(),
            }])
        }
        codec => {
            let payload = Bytes::from(decompress(&m, codec)?);
            let inner = expand(&m, &payload)?;
            let slice = |s: Option<&[u8]>| s.map(|s| payload.slice_ref(s));
            Ok(inner
                .iter()
                .map(|(offset, timestamp, im)| Record {
                    offset: *offset,
                    timestamp: *timestamp,
                    key: slice(im.key),
                    value: slice(im.value),
                    headers: Vec::new(),
                })
                .collect())
        }
    }
}

/// Summarizes the complete legacy entry `entry` for [`super::decode::scan`].
/// A compressed wrapper is decompressed to find its first offset and count;
/// if that fails, it is reported with its own offset and 0 records.
pub fn summarize(entry: &[u8]) -> Result<BatchSummary, BatchError> {
    let m = LegacyMessage::parse(entry)?;
    let compression = m.compression().ok();
    let mut summary = BatchSummary {
        base_offset: m.offset,
        last_offset: m.offset,
        records_count: 1,
        base_timestamp: m.timestamp,
        max_timestamp: m.timestamp,
        log_append_time: m.is_log_append_time(),
        size: m.size,
        magic: m.magic,
        attributes: (m.attributes as u8) as i16,
        compression,
        crc: m.crc,
        crc_valid: m.crc_valid,
        is_control: false,
        is_transactional: false,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        partition_leader_epoch: -1,
    };
    if compression != Some(Compression::None) {
        summary.records_count = 0;
        let inner = compression
            .ok_or(())
            .and_then(|codec| decompress(&m, codec).map_err(|_| ()))
            .and_then(|payload| {
                let inner = expand(&m, &payload).map_err(|_| ())?;
                let first = inner.first().map(|&(o, t, _)| (o, t));
                Ok((inner.len(), first))
            });
        if let Ok((count, Some((first_offset, first_timestamp)))) = inner {
            summary.records_count = count as i32;
            summary.base_offset = first_offset;
            summary.base_timestamp = first_timestamp;
        }
    }
    Ok(summary)
}

/// Rewrites the header checksum byte of an LZ4 frame to the correct value
/// (old Kafka computed it over the magic number too).
fn fix_lz4_header_checksum(frame: &[u8]) -> Cow<'_, [u8]> {
    const FLG_CONTENT_SIZE: u8 = 0x08;
    const FLG_DICT_ID: u8 = 0x01;
    let Some(&flg) = frame.get(4) else {
        return Cow::Borrowed(frame);
    };
    let mut hc_pos = 6;
    if flg & FLG_CONTENT_SIZE != 0 {
        hc_pos += 8;
    }
    if flg & FLG_DICT_ID != 0 {
        hc_pos += 4;
    }
    if frame.len() <= hc_pos {
        return Cow::Borrowed(frame);
    }
    let hc = (xxh32_short(&frame[4..hc_pos]) >> 8) as u8;
    if frame[hc_pos] == hc {
        return Cow::Borrowed(frame);
    }
    let mut fixed = frame.to_vec();
    fixed[hc_pos] = hc;
    Cow::Owned(fixed)
}

/// xxHash32 with seed 0 of an input shorter than 16 bytes (an LZ4 frame
/// descriptor is at most 14).
fn xxh32_short(data: &[u8]) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    debug_assert!(data.len() < 16);
    let mut h = P5.wrapping_add(data.len() as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        h = h
            .wrapping_add(k.wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h
            .wrapping_add((b as u32).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

/// Encodes one legacy message entry (test helper; runnel never writes v0/v1).
#[cfg(test)]
pub(crate) fn encode_message(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(b);
            }
        }
    }
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh32_matches_reference_and_lz4_frames() {
        assert_eq!(xxh32_short(b""), 0x02CC_5D05);
        let frame = Compression::Lz4.compress(b"hello hello hello hello");
        // Magic, FLG, BD, then HC: our hash must agree with the encoder's.
        assert_eq!(frame[6], (xxh32_short(&frame[4..6]) >> 8) as u8);
        assert!(matches!(fix_lz4_header_checksum(&frame), Cow::Borrowed(_)));
    }

    fn rec(offset: i64, timestamp: i64, key: Option<&str>, value: Option<&str>) -> Record {
        Record {
            offset,
            timestamp,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Vec::new(),
        }
    }

    #[test]
    fn plain_v0_and_v1_messages() {
        let v0 = encode_message(7, 0, 0, 0, Some(b"k"), Some(b"v"));
        assert_eq!(v0.len(), LOG_OVERHEAD + MIN_MESSAGE_SIZE_V0 + 2);
        assert_eq!(
            decode_entry(&v0).unwrap(),
            vec![rec(7, NO_TIMESTAMP, Some("k"), Some("v"))]
        );
        let v1 = encode_message(8, 1, 0, 1234, None, None);
        assert_eq!(v1.len(), LOG_OVERHEAD + MIN_MESSAGE_SIZE_V1);
        assert_eq!(decode_entry(&v1).unwrap(), vec![rec(8, 1234, None, None)]);
        let m = LegacyMessage::parse(&v1).unwrap();
        assert!(m.crc_valid);
        assert_eq!(m.crc, compute_crc(&v1));
    }

    #[test]
    fn crc_mismatch_and_truncation_are_errors() {
        let v1 = encode_message(8, 1, 0, 1234, Some(b"key"), Some(b"value"));
        for i in 12..v1.len() {
            let mut bad = v1.clone();
            bad[i] ^= 0x01;
            assert!(decode_entry(&bad).is_err(), "byte {i}");
        }
        let mut bad = v1.clone();
        bad[v1.len() - 1] ^= 1;
        assert!(matches!(
            decode_entry(&bad),
            Err(BatchError::CrcMismatch { .. })
        ));
        for cut in 0..v1.len() {
            assert!(decode_entry(&v1[..cut]).is_err(), "cut at {cut}");
        }
    }

    fn wrapper(
        magic: i8,
        codec: Compression,
        wrapper_offset: i64,
        inner: &[Vec<u8>],
        ts: i64,
        lat: bool,
    ) -> Vec<u8> {
        let set: Vec<u8> = inner.concat();
        let attrs = codec.id() as i8 | if lat { ATTR_LOG_APPEND_TIME } else { 0 };
        encode_message(
            wrapper_offset,
            magic,
            attrs,
            ts,
            None,
            Some(&codec.compress(&set)),
        )
    }

    #[test]
    fn v1_wrappers_have_relative_inner_offsets() {
        let inner = vec![
            encode_message(0, 1, 0, 100, Some(b"a"), Some(b"1")),
            encode_message(1, 1, 0, 105, None, Some(b"2")),
            encode_message(2, 1, 0, 103, Some(b"c"), None),
        ];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let entry = wrapper(1, codec, 52, &inner, 105, false);
            assert_eq!(
                decode_entry(&entry).unwrap(),
                vec![
                    rec(50, 100, Some("a"), Some("1")),
                    rec(51, 105, None, Some("2")),
                    rec(52, 103, Some("c"), None)
                ],
                "{codec}"
            );
            let s = summarize(&entry).unwrap();
            assert_eq!((s.base_offset, s.last_offset, s.records_count), (50, 52, 3));
            assert_eq!((s.base_timestamp, s.max_timestamp), (100, 105));
            assert_eq!(s.compression, Some(codec));
            assert!(s.crc_valid);
        }
        let lat = wrapper(1, Compression::Gzip, 52, &inner, 999, true);
        assert!(
            decode_entry(&lat)
                .unwrap()
                .iter()
                .all(|r| r.timestamp == 999)
        );
    }

    #[test]
    fn v0_wrappers_have_absolute_inner_offsets() {
        let inner = vec![
            encode_message(10, 0, 0, 0, Some(b"a"), Some(b"1")),
            encode_message(11, 0, 0, 0, Some(b"b"), Some(b"2")),
        ];
        let entry = wrapper(0, Compression::Gzip, 11, &inner, 0, false);
        assert_eq!(
            decode_entry(&entry).unwrap(),
            vec![
                rec(10, -1, Some("a"), Some("1")),
                rec(11, -1, Some("b"), Some("2"))
            ]
        );
    }

    #[test]
    fn v0_lz4_with_kafkas_broken_header_checksum() {
        let inner = [encode_message(3, 0, 0, 0, None, Some(b"old lz4"))];
        let mut frame = Compression::Lz4.compress(&inner.concat());
        // Old Kafka hashed the magic number too.
        frame[6] = (xxh32_short(&frame[..6]) >> 8) as u8;
        assert!(Compression::Lz4.decompress(&frame).is_err());
        let entry = encode_message(3, 0, Compression::Lz4.id() as i8, 0, None, Some(&frame));
        assert_eq!(
            decode_entry(&entry).unwrap(),
            vec![rec(3, -1, None, Some("old lz4"))]
        );
    }

    #[test]
    fn bad_wrappers_are_errors() {
        let nested = wrapper(
            1,
            Compression::Gzip,
            0,
            &[encode_message(0, 1, 0, 1, None, Some(b"x"))],
            1,
            false,
        );
        let double = wrapper(1, Compression::Gzip, 0, &[nested], 1, false);
        assert!(decode_entry(&double).is_err());
        let null_value = encode_message(0, 1, Compression::Gzip.id() as i8, 0, None, None);
        assert!(decode_entry(&null_value).is_err());
        let zstd = encode_message(
            0,
            1,
            Compression::Zstd.id() as i8,
            0,
            None,
            Some(&Compression::Zstd.compress(b"")),
        );
        assert!(decode_entry(&zstd).is_err());
        let garbage = encode_message(
            0,
            1,
            Compression::Snappy.id() as i8,
            0,
            None,
            Some(b"\x82SNAPPY\x00junk"),
        );
        assert!(decode_entry(&garbage).is_err());
        assert_eq!(summarize(&garbage).unwrap().records_count, 0);
    }
}
