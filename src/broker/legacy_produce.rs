//! Produce v0–v2, which `kafka-protocol` no longer models: the request is
//! v3 without its leading `transactional_id`, the response v3 without
//! `log_append_time_ms` (v0, v1) and `throttle_time_ms` (v0). Their record
//! sets are legacy message sets (magic 0 or 1, possibly compressed
//! wrappers), up-converted here to one v2 record batch per partition that
//! keeps keys, values, timestamps and the compression codec.
//!
//! librdkafka ≤ 2.11 only compresses for a broker that advertises Produce
//! v0, so the broker must advertise (and serve) these versions.

use crate::record::batch::{LOG_OVERHEAD, MAGIC_OFFSET};
use crate::record::legacy::{self, LegacyMessage, NO_TIMESTAMP};
use crate::record::{BatchBuilder, BatchError, Compression, Record, decode::entry_size};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::{Decodable, Encodable};

/// The oldest Produce version `kafka-protocol` decodes itself.
pub const FIRST_MODELLED_VERSION: i16 = 3;

/// Decodes a Produce v0–v2 body as the v3 body it is, minus the
/// `transactional_id` (read as null).
pub fn decode_request(body: &[u8]) -> anyhow::Result<ProduceRequest> {
    let mut buf = BytesMut::with_capacity(body.len() + 2);
    buf.put_i16(-1);
    buf.put_slice(body);
    let mut bytes = buf.freeze();
    ProduceRequest::decode(&mut bytes, FIRST_MODELLED_VERSION)
}

/// A Produce response encoded in version 0, 1 or 2.
pub struct LegacyProduceResponse<'a>(pub &'a ProduceResponse);

impl LegacyProduceResponse<'_> {
    fn write<B: BufMut>(&self, buf: &mut B, version: i16) -> anyhow::Result<()> {
        let r = self.0;
        buf.put_i32(i32::try_from(r.responses.len())?);
        for t in &r.responses {
            let name = t.name.0.as_bytes();
            buf.put_i16(i16::try_from(name.len())?);
            buf.put_slice(name);
            buf.put_i32(i32::try_from(t.partition_responses.len())?);
            for p in &t.partition_responses {
                buf.put_i32(p.index);
                buf.put_i16(p.error_code);
                buf.put_i64(p.base_offset);
                if version >= 2 {
                    buf.put_i64(p.log_append_time_ms);
                }
            }
        }
        if version >= 1 {
            buf.put_i32(r.throttle_time_ms);
        }
        Ok(())
    }
}

impl Encodable for LegacyProduceResponse<'_> {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0..FIRST_MODELLED_VERSION).contains(&version),
            "not a legacy Produce version: {version}"
        );
        self.write(buf, version)
    }

    fn compute_size(&self, version: i16) -> anyhow::Result<usize> {
        let mut counter = Vec::new();
        self.write(&mut counter, version)?;
        Ok(counter.len())
    }
}

/// Whether `records` starts with a legacy (magic 0 or 1) entry.
pub fn is_legacy(records: &[u8]) -> bool {
    records.len() > MAGIC_OFFSET && matches!(records[MAGIC_OFFSET], 0 | 1)
}

/// Up-converts a legacy message set to one v2 record batch. Messages
/// without a timestamp (magic 0) get `now`; the codec is that of the
/// set's first compressed wrapper (as Kafka picks one source codec), none
/// if there is none. Every CRC is checked; a v2 batch in the set or an
/// empty set are errors.
pub fn up_convert(set: &[u8], now: i64) -> Result<Bytes, BatchError> {
    let mut records: Vec<Record> = Vec::new();
    let mut codec: Option<Compression> = None;
    let mut rest = set;
    while !rest.is_empty() {
        let size = entry_size(rest)?;
        let entry = &rest[..size];
        if entry[MAGIC_OFFSET] > 1 {
            return Err(BatchError::Corrupt(
                "a v2 record batch mixed into a legacy message set".into(),
            ));
        }
        let m = LegacyMessage::parse(entry)?;
        let entry_codec = m.compression()?;
        if entry_codec != Compression::None {
            codec.get_or_insert(entry_codec);
        }
        records.extend(legacy::decode_entry(entry)?);
        rest = &rest[size..];
    }
    let Some(first) = records.first() else {
        return Err(BatchError::Corrupt("empty legacy message set".into()));
    };
    let stamp = |ts: i64| if ts == NO_TIMESTAMP { now } else { ts };
    let capacity = set.len() + records.len() * 8 + LOG_OVERHEAD + 64;
    let mut builder = BatchBuilder::with_capacity(
        codec.unwrap_or(Compression::None),
        stamp(first.timestamp),
        capacity,
    );
    for r in &records {
        builder.push(
            stamp(r.timestamp),
            r.key.as_deref(),
            r.value.as_deref(),
            &[],
        );
    }
    Ok(Bytes::from(builder.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::decode_batch;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{ProduceResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    /// A legacy entry: offset, size, crc, magic, attributes, [timestamp], key, value.
    fn message(offset: i64, magic: i8, attrs: i8, ts: i64, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut body = vec![magic as u8, attrs as u8];
        if magic == 1 {
            body.extend_from_slice(&ts.to_be_bytes());
        }
        body.extend_from_slice(&(key.len() as i32).to_be_bytes());
        body.extend_from_slice(key);
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        let crc = crc32fast::hash(&body);
        let mut out = offset.to_be_bytes().to_vec();
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn uncompressed_v0_and_v1_sets_become_one_batch() {
        let mut set = message(0, 0, 0, 0, b"k0", b"v0");
        set.extend(message(1, 0, 0, 0, b"k1", b"v1"));
        let batch = up_convert(&set, 5000).unwrap();
        let recs = decode_batch(&batch).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(recs[1].value.as_deref(), Some(&b"v1"[..]));
        assert!(recs.iter().all(|r| r.timestamp == 5000));

        let set = message(0, 1, 0, 1234, b"k", b"v");
        let recs = decode_batch(&up_convert(&set, 5000).unwrap()).unwrap();
        assert_eq!(recs[0].timestamp, 1234);
    }

    #[test]
    fn compressed_wrapper_keeps_its_codec() {
        let mut inner = message(0, 1, 0, 10, b"a", b"x");
        inner.extend(message(1, 1, 0, 11, b"b", b"y"));
        let wrapped = Compression::Gzip.compress(&inner);
        let set = message(1, 1, Compression::Gzip.id() as i8, 11, b"", &wrapped);
        // The key of the wrapper is an empty (not null) key here; harmless.
        let batch = up_convert(&set, 0).unwrap();
        let header = crate::record::BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.compression_id(), Compression::Gzip.id());
        let recs = decode_batch(&batch).unwrap();
        assert_eq!(
            recs.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
            vec![10, 11]
        );
        assert_eq!(recs[1].value.as_deref(), Some(&b"y"[..]));
    }

    #[test]
    fn corrupt_sets_are_refused() {
        let mut set = message(0, 0, 0, 0, b"k", b"v");
        let last = set.len() - 1;
        set[last] ^= 1;
        assert!(matches!(
            up_convert(&set, 0),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(up_convert(&[], 0).is_err());
        assert!(up_convert(&set[..10], 0).is_err());
    }

    #[test]
    fn legacy_responses_drop_newer_fields() {
        let mut resp = ProduceResponse::default();
        let mut t = TopicProduceResponse::default();
        t.name = TopicName(StrBytes::from_static_str("t"));
        let mut p = PartitionProduceResponse::default();
        p.index = 3;
        p.base_offset = 7;
        p.log_append_time_ms = -1;
        t.partition_responses.push(p);
        resp.responses.push(t);
        let size = |v| LegacyProduceResponse(&resp).compute_size(v).unwrap();
        // array(4) name(2+1) array(4) index(4) error(2) offset(8)
        assert_eq!(size(0), 25);
        assert_eq!(size(1), 29);
        assert_eq!(size(2), 37);
        let mut buf = BytesMut::new();
        LegacyProduceResponse(&resp).encode(&mut buf, 0).unwrap();
        assert_eq!(buf.len(), 25);
        assert_eq!(&buf[17..25], &7i64.to_be_bytes());
        assert!(LegacyProduceResponse(&resp).encode(&mut buf, 3).is_err());
    }
}
