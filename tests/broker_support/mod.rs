//! Starting an in-process broker on a free loopback port for tests, and
//! raw request helpers built from kafka-protocol messages.
#![allow(dead_code)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel::broker::{Broker, BrokerConfig, Server};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A broker running in this process.
pub struct TestBroker {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    pub data_dir: PathBuf,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl TestBroker {
    /// Starts a broker on 127.0.0.1:0 over `data_dir` with extra configs.
    pub async fn start(data_dir: PathBuf, extra: &[(&str, &str)]) -> TestBroker {
        let props: BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (mut config, _) = BrokerConfig::from_properties(props).unwrap();
        config.listen = "127.0.0.1:0".into();
        config.set_advertised("", None);
        config.data_dir = data_dir.clone();
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr();
        let broker = server.broker().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestBroker {
            addr,
            broker,
            data_dir,
            stop,
            handle,
        }
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Shuts the broker down as SIGTERM would and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("broker stops within 20 s")?
    }
}

/// Encodes a request frame (length, header in the API's header version, body).
pub fn request_frame<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Bytes {
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("runnel-test"));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Reads one response frame; `None` if the connection closed (or reset).
pub async fn read_response(stream: &mut TcpStream) -> Option<Bytes> {
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).await.is_err() {
        return None;
    }
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

/// Sends a request and decodes its response (header version per API).
pub async fn round_trip<Req: Encodable, Resp: Decodable>(
    stream: &mut TcpStream,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    req: &Req,
) -> Resp {
    stream
        .write_all(&request_frame(api, version, correlation_id, req))
        .await
        .unwrap();
    let mut frame = tokio::time::timeout(Duration::from_secs(10), read_response(stream))
        .await
        .expect("response within 10 s")
        .expect("a response, not a closed connection");
    let header = ResponseHeader::decode(&mut frame, api.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, correlation_id);
    let resp = Resp::decode(&mut frame, version).unwrap();
    assert_eq!(frame.remaining(), 0, "whole response decoded");
    resp
}

/// Whether the broker closes `stream` within 5 s (reads hit EOF or reset).
pub async fn is_closed_by_broker(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Installs a tracing subscriber honouring RUST_LOG (once per test binary).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
