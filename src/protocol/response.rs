//! Encoding responses as frames: the response header (v0, or v1 with tagged
//! fields for flexible versions) and the `kafka-protocol` body, optionally
//! with record sets left out of the encoded bytes and sent straight from
//! segment files instead.
//!
//! Zero-copy works by encoding the message with [`records_placeholder`] as
//! the `records` of every partition that gets file bytes. The placeholder is
//! an empty slice at a unique static address; a buffer that watches
//! `put_slice` notes where each one lands, and the frame is then cut there:
//! the length prefix written for the empty placeholder is replaced by the
//! real length and the file range follows it.

use crate::log::ReadSlice;
use bytes::{BufMut, Bytes, BytesMut, buf::UninitSlice};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;
use std::ops::Range;

/// One piece of a response frame on the wire.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A byte range of a segment file.
    File(ReadSlice),
}

impl Chunk {
    /// Number of bytes this chunk puts on the wire.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(s) => s.len,
        }
    }

    /// Whether the chunk is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A complete response frame (length prefix included) as a list of chunks.
#[derive(Debug, Clone, Default)]
pub struct ResponseBody {
    /// The chunks, in wire order.
    pub chunks: Vec<Chunk>,
}

impl ResponseBody {
    /// Total bytes on the wire, length prefix included.
    pub fn wire_len(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }
}

/// Backing byte of the placeholder; only its address is used.
static PLACEHOLDER_ANCHOR: [u8; 1] = [0];

/// The `records` value that marks "file bytes go here" for
/// [`encode_response_with_files`].
pub fn records_placeholder() -> Bytes {
    Bytes::from_static(&PLACEHOLDER_ANCHOR[..0])
}

/// A `BytesMut` that records where each placeholder slice is written.
struct SpliceBuf {
    inner: BytesMut,
    marks: Vec<usize>,
}

// SAFETY: every method delegates to the inner `BytesMut`, whose `BufMut`
// implementation upholds the trait's contract; `put_slice` only adds
// bookkeeping before delegating.
unsafe impl BufMut for SpliceBuf {
    fn remaining_mut(&self) -> usize {
        self.inner.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: forwarded with the caller's guarantee unchanged.
        unsafe { self.inner.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.inner.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.is_empty() && std::ptr::eq(src.as_ptr(), PLACEHOLDER_ANCHOR.as_ptr()) {
            self.marks.push(self.inner.len());
        }
        self.inner.put_slice(src);
    }
}

impl ByteBufMut for SpliceBuf {
    fn offset(&self) -> usize {
        self.inner.len()
    }
    fn seek(&mut self, offset: usize) {
        self.inner.resize(offset, 0);
    }
    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        &mut self.inner[r]
    }
}

/// Kafka's unsigned varint (compact length prefixes).
fn put_unsigned_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn encode_header_and_body<M: Encodable, B: ByteBufMut>(
    buf: &mut B,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    message: &M,
) -> anyhow::Result<()> {
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header.encode(buf, api_key.response_header_version(version))?;
    message.encode(buf, version)
}

/// Encodes a whole response frame (length prefix, header, body) in memory.
pub fn encode_response<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    message: &M,
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    encode_header_and_body(&mut buf, api_key, version, correlation_id, message)?;
    let size = i32::try_from(buf.len() - 4)?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Encodes a response frame whose partitions carry [`records_placeholder`]
/// as records; `files` are the file ranges for those placeholders in the
/// order the message encodes them. `compact` says whether the records field
/// uses the compact (varint) length, as in flexible versions.
pub fn encode_response_with_files<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    message: &M,
    files: Vec<ReadSlice>,
    compact: bool,
) -> anyhow::Result<ResponseBody> {
    let mut buf = SpliceBuf {
        inner: BytesMut::with_capacity(256),
        marks: Vec::new(),
    };
    buf.inner.put_i32(0);
    encode_header_and_body(&mut buf, api_key, version, correlation_id, message)?;
    anyhow::ensure!(
        buf.marks.len() == files.len(),
        "response has {} record placeholders for {} file ranges",
        buf.marks.len(),
        files.len()
    );
    let mut bytes = buf.inner;
    // The empty placeholder's prefix: int32 0 (4 bytes) or varint 1 (1 byte).
    let empty_prefix = if compact { 1 } else { 4 };
    let mut chunks = Vec::with_capacity(files.len() * 3 + 1);
    let mut total: usize = bytes.len();
    let mut start = 0;
    let mut pieces = Vec::with_capacity(files.len());
    for (&mark, file) in buf.marks.iter().zip(files) {
        let mut prefix = Vec::with_capacity(5);
        if compact {
            put_unsigned_varint(&mut prefix, u32::try_from(file.len + 1)?);
        } else {
            prefix.extend_from_slice(&i32::try_from(file.len)?.to_be_bytes());
        }
        total = total - empty_prefix + prefix.len() + file.len;
        pieces.push((start..mark - empty_prefix, prefix, file));
        start = mark;
    }
    let size = i32::try_from(total - 4)?;
    bytes[..4].copy_from_slice(&size.to_be_bytes());
    let bytes = bytes.freeze();
    for (range, prefix, file) in pieces {
        chunks.push(Chunk::Bytes(bytes.slice(range)));
        chunks.push(Chunk::Bytes(Bytes::from(prefix)));
        if file.len > 0 {
            chunks.push(Chunk::File(file));
        }
    }
    chunks.push(Chunk::Bytes(bytes.slice(start..)));
    Ok(ResponseBody { chunks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::fetch_response::{
        FetchResponse, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;

    fn fetch_response(records: Vec<Option<Bytes>>) -> FetchResponse {
        let mut topic = FetchableTopicResponse::default();
        topic.topic = TopicName(StrBytes::from_static_str("t"));
        topic.topic_id = uuid::Uuid::from_u128(7);
        for (i, r) in records.into_iter().enumerate() {
            let mut p = PartitionData::default();
            p.partition_index = i as i32;
            p.high_watermark = 10;
            p.records = r;
            topic.partitions.push(p);
        }
        let mut resp = FetchResponse::default();
        resp.responses.push(topic);
        resp
    }

    fn flatten(body: &ResponseBody) -> Vec<u8> {
        let mut out = Vec::new();
        for c in &body.chunks {
            match c {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(s) => {
                    let mut v = vec![0; s.len];
                    s.file.read_exact_at(&mut v, s.position).unwrap();
                    out.extend(v);
                }
            }
        }
        out
    }

    #[test]
    fn spliced_frame_equals_fully_encoded_frame() {
        let mut f = tempfile::tempfile().unwrap();
        let content: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        f.write_all(&content).unwrap();
        let file = Arc::new(f);
        let a = ReadSlice {
            file: file.clone(),
            position: 4,
            len: 10,
        };
        let b_len = 125;
        let b = ReadSlice {
            file: file.clone(),
            position: 16,
            len: b_len,
        };
        let mut a_bytes = vec![0; 10];
        file.read_exact_at(&mut a_bytes, 4).unwrap();
        let mut b_bytes = vec![0; b_len];
        file.read_exact_at(&mut b_bytes, 16).unwrap();
        for version in [4i16, 11, 12, 16] {
            let compact = version >= 12;
            let real = fetch_response(vec![
                Some(Bytes::from(a_bytes.clone())),
                None,
                Some(Bytes::from(b_bytes.clone())),
            ]);
            let expected = encode_response(ApiKey::Fetch, version, 9, &real).unwrap();
            let placeholder = fetch_response(vec![
                Some(records_placeholder()),
                None,
                Some(records_placeholder()),
            ]);
            let body = encode_response_with_files(
                ApiKey::Fetch,
                version,
                9,
                &placeholder,
                vec![a.clone(), b.clone()],
                compact,
            )
            .unwrap();
            assert!(body.chunks.iter().any(|c| matches!(c, Chunk::File(_))));
            assert_eq!(body.wire_len(), expected.len());
            let flat = flatten(&body);
            assert_eq!(flat, expected.to_vec(), "version {version}");
            // And it decodes.
            let mut frame = Bytes::from(flat).slice(4..);
            let _ =
                ResponseHeader::decode(&mut frame, ApiKey::Fetch.response_header_version(version))
                    .unwrap();
            let decoded = FetchResponse::decode(&mut frame, version).unwrap();
            let records: Vec<_> = decoded.responses[0]
                .partitions
                .iter()
                .map(|p| p.records.clone())
                .collect();
            assert_eq!(
                records,
                vec![
                    Some(Bytes::from(a_bytes.clone())),
                    None,
                    Some(Bytes::from(b_bytes.clone()))
                ]
            );
        }
    }

    #[test]
    fn placeholder_count_must_match() {
        let placeholder = fetch_response(vec![Some(records_placeholder())]);
        assert!(
            encode_response_with_files(ApiKey::Fetch, 4, 1, &placeholder, vec![], false).is_err()
        );
    }
}
