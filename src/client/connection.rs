//! One TCP connection to one broker: request framing (i32 length prefix),
//! request/response headers by API version, correlation ids, pipelining
//! (many requests in flight, responses matched by correlation id), the
//! ApiVersions handshake and per-API version negotiation, timeouts.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;

use super::error::{ClientError, io_reason};
use super::versions::{BrokerVersions, Negotiated, implemented};

/// Largest response frame accepted (Kafka's fetch.max.bytes is far below).
const MAX_RESPONSE_SIZE: usize = 512 * 1024 * 1024;
/// UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;

/// Settings of broker connections.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `client.id` sent in every request header.
    pub client_id: String,
    /// Time allowed to establish the TCP connection and finish ApiVersions.
    pub connect_timeout: Duration,
    /// Time allowed for a response (fetches add their `max_wait_ms`).
    pub request_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "runnel".to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

type Waiter = oneshot::Sender<Result<Bytes, ClientError>>;

/// Requests waiting for their response, or why the connection is closed.
#[derive(Default)]
struct Pending {
    waiters: HashMap<i32, Waiter>,
    closed: Option<String>,
}

/// A connection to one broker, shared by all tasks talking to it.
pub struct Connection {
    addr: String,
    config: ConnectionConfig,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Arc<Mutex<Pending>>,
    next_correlation_id: AtomicI32,
    versions: BrokerVersions,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`) and performs the ApiVersions handshake
    /// (v3, falling back to what the broker offers if it answers
    /// UNSUPPORTED_VERSION).
    pub async fn connect(addr: &str, config: &ConnectionConfig) -> Result<Self, ClientError> {
        let connect_error = |reason: String| ClientError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                connect_error(format!(
                    "timed out after {} ms",
                    config.connect_timeout.as_millis()
                ))
            })?
            .map_err(|e| connect_error(io_reason(&e)))?;
        stream.set_nodelay(true).ok();
        let (read, write) = stream.into_split();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let reader = tokio::spawn(read_responses(read, addr.to_string(), pending.clone()));
        let mut conn = Connection {
            addr: addr.to_string(),
            config: config.clone(),
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_correlation_id: AtomicI32::new(0),
            versions: BrokerVersions::default(),
            reader,
        };
        let handshake = tokio::time::timeout(config.connect_timeout, conn.api_versions());
        conn.versions = match handshake.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(connect_error("no answer to ApiVersions".to_string())),
        };
        Ok(conn)
    }

    /// The broker address this connection was made to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The API versions the broker advertised.
    pub fn broker_versions(&self) -> &BrokerVersions {
        &self.versions
    }

    /// Whether the connection has failed (a new one is needed).
    pub fn is_closed(&self) -> bool {
        self.pending
            .lock()
            .map(|p| p.closed.is_some())
            .unwrap_or(true)
    }

    /// The version to use for `api`: the highest both sides support.
    pub fn version(&self, api: ApiKey) -> Result<i16, ClientError> {
        match self.versions.negotiate(api) {
            Negotiated::Version(v) => Ok(v),
            Negotiated::Unsupported { broker, ours } => Err(ClientError::UnsupportedApi {
                addr: self.addr.clone(),
                api,
                broker_min: broker.0,
                broker_max: broker.1,
                ours_min: ours.0,
                ours_max: ours.1,
            }),
        }
    }

    /// Whether the broker supports `api` in a version we implement.
    pub fn supports(&self, api: ApiKey) -> bool {
        matches!(self.versions.negotiate(api), Negotiated::Version(_))
    }

    /// Sends `request` at `version` and waits for its response (within the
    /// request timeout).
    pub async fn request<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        self.request_with_timeout(request, version, self.config.request_timeout)
            .await
    }

    /// Like [`Connection::request`] with an explicit timeout (long polls).
    pub async fn request_with_timeout<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        self.send(request, version, timeout).await?.response().await
    }

    /// Writes `request` to the socket and returns the response to come.
    /// Requests sent one after another (each `send` awaited before the
    /// next) reach the broker in that order, which answers them in order;
    /// the responses can be awaited concurrently.
    pub async fn send<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<PendingResponse<R>, ClientError> {
        let (correlation_id, frame) = self.encode(request, version)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.lock_pending();
            if let Some(reason) = &pending.closed {
                return Err(self.disconnected(reason.clone()));
            }
            pending.waiters.insert(correlation_id, tx);
        }
        if let Err(e) = self.write_frame(&frame).await {
            self.lock_pending().waiters.remove(&correlation_id);
            return Err(e);
        }
        Ok(PendingResponse {
            addr: self.addr.clone(),
            pending: self.pending.clone(),
            correlation_id,
            version,
            timeout,
            response: rx,
            request: PhantomData,
        })
    }

    /// Sends `request` without expecting a response (Produce with acks=0).
    pub async fn send_only<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<(), ClientError> {
        let (_, frame) = self.encode(request, version)?;
        self.write_frame(&frame).await
    }

    fn protocol_error(&self, api: ApiKey, version: i16, e: impl std::fmt::Display) -> ClientError {
        decode_error(&self.addr, api, version, e)
    }

    fn encode<R: Request>(&self, request: &R, version: i16) -> Result<(i32, Bytes), ClientError> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.config.client_id.clone())));
        let size = request.compute_size(version).unwrap_or(0) + 64;
        let mut frame = BytesMut::with_capacity(size + 4);
        frame.put_i32(0);
        let encoded = header
            .encode(&mut frame, R::header_version(version))
            .and_then(|_| request.encode(&mut frame, version));
        encoded.map_err(|e| ClientError::Protocol {
            addr: self.addr.clone(),
            message: format!("cannot encode {:?} v{version} request: {e}", api_key::<R>()),
        })?;
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        Ok((correlation_id, frame.freeze()))
    }

    async fn write_frame(&self, frame: &[u8]) -> Result<(), ClientError> {
        let mut writer = self.writer.lock().await;
        if let Err(e) = writer.write_all(frame).await {
            let reason = io_reason(&e);
            fail_all(&self.pending, &self.addr, &reason);
            return Err(self.disconnected(reason));
        }
        Ok(())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn disconnected(&self, reason: String) -> ClientError {
        ClientError::Disconnected {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// ApiVersions at our highest version; on UNSUPPORTED_VERSION the broker
    /// answers in v0 format with its own range, and we retry within it.
    async fn api_versions(&self) -> Result<BrokerVersions, ClientError> {
        let (_, ours_max) = implemented(ApiKey::ApiVersions).unwrap_or((0, 0));
        let mut version = ours_max;
        for _ in 0..2 {
            let mut request = ApiVersionsRequest::default();
            if version >= 3 {
                request = request
                    .with_client_software_name(StrBytes::from_static_str("runnel"))
                    .with_client_software_version(StrBytes::from_static_str(env!(
                        "CARGO_PKG_VERSION"
                    )));
            }
            let mut body = self
                .send(&request, version, self.config.request_timeout)
                .await?
                .frame()
                .await?;
            body.advance(4); // correlation id; ApiVersions responses use header v0
            let error_code = body.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
            if error_code == Some(UNSUPPORTED_VERSION) && version > 0 {
                let v0 = ApiVersionsResponse::decode(&mut body, 0).ok();
                let broker_max = v0
                    .as_ref()
                    .and_then(|r| BrokerVersions::from_response(r).range(ApiKey::ApiVersions))
                    .map(|(_, max)| max)
                    .unwrap_or(0);
                version = broker_max.clamp(0, version - 1);
                continue;
            }
            let response = ApiVersionsResponse::decode(&mut body, version)
                .map_err(|e| self.protocol_error(ApiKey::ApiVersions, version, e))?;
            if let Some(e) = ClientError::kafka(
                format!("ApiVersions handshake with {}", self.addr),
                response.error_code,
                None,
            ) {
                return Err(e);
            }
            return Ok(BrokerVersions::from_response(&response));
        }
        Err(ClientError::Protocol {
            addr: self.addr.clone(),
            message: "ApiVersions negotiation failed".to_string(),
        })
    }
}

/// A request written to a broker, its response still to come.
pub struct PendingResponse<R: Request> {
    addr: String,
    pending: Arc<Mutex<Pending>>,
    correlation_id: i32,
    version: i16,
    timeout: Duration,
    response: oneshot::Receiver<Result<Bytes, ClientError>>,
    request: PhantomData<fn() -> R>,
}

impl<R: Request> std::fmt::Debug for PendingResponse<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingResponse")
            .field("addr", &self.addr)
            .field("api", &api_key::<R>())
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl<R: Request> PendingResponse<R> {
    /// Waits for the response (within the timeout given to
    /// [`Connection::send`]) and decodes it.
    pub async fn response(self) -> Result<R::Response, ClientError> {
        let (api, version) = (api_key::<R>(), self.version);
        let addr = self.addr.clone();
        let mut body = self.frame().await?;
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        if header_version >= 1 {
            kafka_protocol::messages::ResponseHeader::decode(&mut body, header_version)
                .map_err(|e| decode_error(&addr, api, version, e))?;
        } else {
            body.advance(4);
        }
        R::Response::decode(&mut body, version).map_err(|e| decode_error(&addr, api, version, e))
    }

    /// Waits for the response frame (correlation id and header included).
    async fn frame(self) -> Result<Bytes, ClientError> {
        match tokio::time::timeout(self.timeout, self.response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Disconnected {
                addr: self.addr,
                reason: "connection closed".to_string(),
            }),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .waiters
                    .remove(&self.correlation_id);
                Err(ClientError::Timeout {
                    addr: self.addr,
                    api: api_key::<R>(),
                    timeout_ms: self.timeout.as_millis() as u64,
                })
            }
        }
    }
}

fn decode_error(addr: &str, api: ApiKey, version: i16, e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol {
        addr: addr.to_string(),
        message: format!("cannot decode {api:?} v{version} response: {e}"),
    }
}

/// The [`ApiKey`] of a request type.
fn api_key<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

/// Fails every waiting request and marks the connection closed.
fn fail_all(pending: &Mutex<Pending>, addr: &str, reason: &str) {
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    if p.closed.is_none() {
        p.closed = Some(reason.to_string());
    }
    for (_, waiter) in p.waiters.drain() {
        let _ = waiter.send(Err(ClientError::Disconnected {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }));
    }
}

/// Reads response frames and hands each to the request with its correlation id.
async fn read_responses(mut read: OwnedReadHalf, addr: String, pending: Arc<Mutex<Pending>>) {
    let reason = loop {
        let len = match read.read_i32().await {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break "broker closed the connection".to_string();
            }
            Err(e) => break io_reason(&e),
        };
        if len < 4 || len as usize > MAX_RESPONSE_SIZE {
            break format!("invalid response frame length {len}");
        }
        let mut frame = BytesMut::zeroed(len as usize);
        if let Err(e) = read.read_exact(&mut frame).await {
            break io_reason(&e);
        }
        let frame = frame.freeze();
        let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let waiter = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiters
            .remove(&correlation_id);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(Ok(frame));
            }
            // A request that timed out: its late response is dropped.
            None => tracing::debug!(%addr, correlation_id, "response without a waiting request"),
        }
    };
    fail_all(&pending, &addr, &reason);
}
