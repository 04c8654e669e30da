//! Produce requests encoded in pieces: the small fields around each record
//! batch go into one buffer, and the batches are sent as they are (shared
//! [`Bytes`], written with one vectored write), so the records of a request
//! are never copied into a frame. The layout is kafka-protocol's
//! `ProduceRequest` byte for byte, from version 3 (record batches v2) to 12
//! (the last one naming topics; 13 uses topic ids).

use bytes::{BufMut, Bytes, BytesMut};

use super::accumulator::ReadyBatch;

/// Oldest Produce version encoded here.
pub const MIN_VERSION: i16 = 3;
/// Newest Produce version encoded here.
pub const MAX_VERSION: i16 = 12;

/// The body of a Produce request (after the request header) carrying
/// `batches`, grouped by topic in the order their topics first appear, as
/// pieces to write in order. `None` for a version outside
/// [`MIN_VERSION`]..=[`MAX_VERSION`].
pub fn encode(
    version: i16,
    acks: i16,
    timeout_ms: i32,
    batches: &[ReadyBatch],
) -> Option<Vec<Bytes>> {
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return None;
    }
    let mut topics: Vec<(&str, Vec<&ReadyBatch>)> = Vec::new();
    for batch in batches {
        match topics.iter_mut().find(|(name, _)| *name == batch.topic) {
            Some((_, partitions)) => partitions.push(batch),
            None => topics.push((&batch.topic, vec![batch])),
        }
    }
    let mut out = Fields {
        flexible: version >= 9,
        buf: BytesMut::with_capacity(64 + topics.len() * 64 + batches.len() * 16),
        pieces: Vec::with_capacity(2 * batches.len() + 1),
    };
    out.null_string(); // transactional id
    out.buf.put_i16(acks);
    out.buf.put_i32(timeout_ms);
    out.array_len(topics.len());
    for (name, partitions) in &topics {
        out.string(name.as_bytes());
        out.array_len(partitions.len());
        for batch in partitions {
            out.buf.put_i32(batch.partition);
            out.bytes_len(batch.data.len());
            out.piece(batch.data.clone());
            out.tagged_fields();
        }
        out.tagged_fields();
    }
    out.tagged_fields();
    Some(out.finish())
}

/// Encoding state: fields written so far, and the pieces before them.
struct Fields {
    /// Flexible version (compact lengths, tagged fields).
    flexible: bool,
    buf: BytesMut,
    pieces: Vec<Bytes>,
}

impl Fields {
    fn unsigned_varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.buf.put_u8((n as u8) | 0x80);
            n >>= 7;
        }
        self.buf.put_u8(n as u8);
    }

    /// A length (of an array or byte string): compact (n + 1) when flexible.
    fn compact_or(&mut self, n: usize, fixed: impl FnOnce(&mut BytesMut)) {
        if self.flexible {
            self.unsigned_varint(n as u64 + 1);
        } else {
            fixed(&mut self.buf);
        }
    }

    fn null_string(&mut self) {
        if self.flexible {
            self.unsigned_varint(0);
        } else {
            self.buf.put_i16(-1);
        }
    }

    fn string(&mut self, s: &[u8]) {
        self.compact_or(s.len(), |buf| buf.put_i16(s.len() as i16));
        self.buf.put_slice(s);
    }

    fn array_len(&mut self, n: usize) {
        self.compact_or(n, |buf| buf.put_i32(n as i32));
    }

    fn bytes_len(&mut self, n: usize) {
        self.compact_or(n, |buf| buf.put_i32(n as i32));
    }

    /// No tagged fields (flexible versions only).
    fn tagged_fields(&mut self) {
        if self.flexible {
            self.unsigned_varint(0);
        }
    }

    /// Ends the current run of fields and adds `bytes` as they are.
    fn piece(&mut self, bytes: Bytes) {
        if !self.buf.is_empty() {
            self.pieces.push(self.buf.split().freeze());
        }
        self.pieces.push(bytes);
    }

    fn finish(mut self) -> Vec<Bytes> {
        if !self.buf.is_empty() {
            self.pieces.push(self.buf.split().freeze());
        }
        self.pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use tokio::sync::watch;

    fn batch(topic: &str, partition: i32, values: &[&[u8]]) -> ReadyBatch {
        let mut builder = BatchBuilder::new(Compression::None, 1_000);
        for v in values {
            builder.push(1_000, None, Some(v), &[]);
        }
        ReadyBatch {
            topic: topic.to_string(),
            partition,
            data: Bytes::from(builder.finish()),
            records: values.len(),
            reserved: 0,
            attempts: 0,
            sequence: 0,
            outcome: watch::channel(None).0,
        }
    }

    /// The request as kafka-protocol builds it.
    fn reference(acks: i16, timeout_ms: i32, batches: &[ReadyBatch]) -> ProduceRequest {
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for b in batches {
            let data = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(Some(b.data.clone()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == b.topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.topic.clone())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topics)
    }

    fn concat(pieces: &[Bytes]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn pieces_are_kafka_protocols_encoding_in_every_version() {
        let long_topic = "t".repeat(200);
        let batches = [
            batch("a", 0, &[b"x", b"yy"]),
            batch(&long_topic, 2, &[&[7u8; 300]]),
            batch("a", 1, &[b""]),
        ];
        let cases: [&[ReadyBatch]; 3] = [&batches, &batches[1..2], &[]];
        for version in MIN_VERSION..=MAX_VERSION {
            for batches in cases {
                let pieces = encode(version, -1, 30_000, batches).expect("a supported version");
                let mut expected = BytesMut::new();
                reference(-1, 30_000, batches)
                    .encode(&mut expected, version)
                    .expect("kafka-protocol encodes it");
                assert_eq!(concat(&pieces), expected.to_vec(), "v{version}");
                // The batches are pieces of their own, shared, not copied.
                for b in batches {
                    assert!(
                        pieces.iter().any(|p| p.as_ptr() == b.data.as_ptr()),
                        "v{version}: batch of {}-{} was copied",
                        b.topic,
                        b.partition
                    );
                }
            }
        }
    }

    #[test]
    fn decodes_grouped_by_topic_in_first_appearance_order() {
        let batches = [
            batch("a", 0, &[b"1"]),
            batch("b", 2, &[b"2"]),
            batch("a", 1, &[b"3"]),
        ];
        let pieces = encode(9, 1, 5_000, &batches).expect("v9");
        let request =
            ProduceRequest::decode(&mut Bytes::from(concat(&pieces)), 9).expect("a valid request");
        assert_eq!((request.acks, request.timeout_ms), (1, 5_000));
        let shape: Vec<(String, Vec<i32>)> = request
            .topic_data
            .iter()
            .map(|t| {
                (
                    t.name.0.to_string(),
                    t.partition_data.iter().map(|p| p.index).collect(),
                )
            })
            .collect();
        assert_eq!(shape, vec![("a".into(), vec![0, 1]), ("b".into(), vec![2])]);
        let records = &request.topic_data[0].partition_data[1].records;
        assert_eq!(records.as_ref(), Some(&batches[2].data));
    }

    #[test]
    fn every_negotiable_version_has_an_encoding() {
        use crate::client::versions::implemented;
        use kafka_protocol::messages::ApiKey;
        assert_eq!(
            implemented(ApiKey::Produce),
            Some((MIN_VERSION, MAX_VERSION))
        );
    }

    #[test]
    fn versions_without_an_encoding_are_refused() {
        assert!(encode(2, -1, 1, &[]).is_none());
        assert!(encode(13, -1, 1, &[]).is_none());
    }
}
