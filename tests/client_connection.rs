//! The connection layer over a real socket, with a scripted peer: the
//! ApiVersions fallback when the broker rejects v3, version negotiation,
//! and pipelined requests answered out of order.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use runnel::client::{Connection, ConnectionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one request frame: (api key, version, correlation id).
async fn read_request(stream: &mut TcpStream) -> (i16, i16, i32) {
    let len = stream.read_i32().await.expect("length");
    let mut frame = vec![0u8; len as usize];
    stream.read_exact(&mut frame).await.expect("frame");
    let mut b = Bytes::from(frame);
    (b.get_i16(), b.get_i16(), b.get_i32())
}

/// Writes a response frame with `body` encoded at `version`.
async fn respond<M: Encodable + HeaderVersion>(
    stream: &mut TcpStream,
    correlation_id: i32,
    body: &M,
    version: i16,
) {
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut frame, M::header_version(version))
        .expect("header");
    body.encode(&mut frame, version).expect("body");
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&frame).await.expect("write");
}

fn versions(ranges: &[(ApiKey, i16, i16)], error_code: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            ranges
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}

#[tokio::test]
async fn api_versions_fallback_negotiation_and_pipelining() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        // An older broker: rejects ApiVersions v3, answers in v0 with its range.
        let (key, version, id) = read_request(&mut s).await;
        assert_eq!((key, version), (ApiKey::ApiVersions as i16, 3));
        let old = [(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)];
        respond(&mut s, id, &versions(&old, 35), 0).await;
        let (key, version, id) = read_request(&mut s).await;
        assert_eq!((key, version), (ApiKey::ApiVersions as i16, 2));
        respond(&mut s, id, &versions(&old, 0), 2).await;
        // Two pipelined Metadata requests, answered in reverse order.
        let first = read_request(&mut s).await;
        let second = read_request(&mut s).await;
        assert_eq!((first.0, first.1), (ApiKey::Metadata as i16, 9));
        for (_, version, id) in [second, first] {
            let body = MetadataResponse::default().with_controller_id(BrokerId(id));
            respond(&mut s, id, &body, version).await;
        }
        // Then the broker goes away.
    });
    let conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .expect("handshake");
    assert_eq!(conn.version(ApiKey::Metadata).expect("negotiated"), 9);
    let err = conn.version(ApiKey::Produce).expect_err("not offered");
    assert!(
        err.to_string().contains("does not support Produce"),
        "{err}"
    );

    let request = MetadataRequest::default().with_topics(Some(vec![]));
    let (a, b) = tokio::join!(conn.request(&request, 9), conn.request(&request, 9));
    let (a, b) = (a.expect("first"), b.expect("second"));
    // Each response carries its own correlation id as controller id.
    assert_ne!(a.controller_id, b.controller_id);
    peer.await.expect("peer script");
    let err = conn.request(&request, 9).await.expect_err("closed");
    assert!(
        err.to_string()
            .starts_with(&format!("connection to {addr} lost")),
        "{err}"
    );
    assert!(conn.is_closed());
}
