//! Request headers (v0–v2) and the fixed preamble every header version shares.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

/// The first eight bytes of every request header, whatever its version:
/// enough to route the request and to answer it even when the rest cannot
/// be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPreamble {
    /// API key as sent (may be unknown).
    pub api_key: i16,
    /// API version as sent.
    pub api_version: i16,
    /// Correlation id to echo in the response.
    pub correlation_id: i32,
}

impl RequestPreamble {
    /// Reads the preamble from the start of a frame; `None` if the frame is shorter than 8 bytes.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        let mut b = frame.get(..8)?;
        Some(RequestPreamble {
            api_key: b.get_i16(),
            api_version: b.get_i16(),
            correlation_id: b.get_i32(),
        })
    }
}

/// Decodes the request header of a frame in the header version that
/// `api_key`/`api_version` use, leaving `frame` at the start of the body.
pub fn decode_request_header(
    api_key: ApiKey,
    api_version: i16,
    frame: &mut Bytes,
) -> anyhow::Result<RequestHeader> {
    let header_version = api_key.request_header_version(api_version);
    RequestHeader::decode(frame, header_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn flexible_header_roundtrip_leaves_body() {
        let mut header = RequestHeader::default();
        header.request_api_key = ApiKey::ApiVersions as i16;
        header.request_api_version = 3;
        header.correlation_id = 77;
        header.client_id = Some(StrBytes::from_static_str("t"));
        let mut body = ApiVersionsRequest::default();
        body.client_software_name = StrBytes::from_static_str("sw");
        body.client_software_version = StrBytes::from_static_str("1");
        let mut buf = BytesMut::new();
        header.encode(&mut buf, 2).unwrap();
        body.encode(&mut buf, 3).unwrap();
        let mut frame = buf.freeze();
        let pre = RequestPreamble::parse(&frame).unwrap();
        assert_eq!(
            (pre.api_key, pre.api_version, pre.correlation_id),
            (18, 3, 77)
        );
        let got = decode_request_header(ApiKey::ApiVersions, 3, &mut frame).unwrap();
        assert_eq!(got, header);
        assert_eq!(ApiVersionsRequest::decode(&mut frame, 3).unwrap(), body);
        assert!(RequestPreamble::parse(&[0, 1, 2]).is_none());
    }
}
