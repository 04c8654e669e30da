//! Routing requests to their handlers, with the table of implemented API
//! versions that ApiVersions advertises.

use super::group_seam::{BoxFuture, GroupApis, RequestContext};
use super::handlers;
use super::legacy_produce;
use super::state::Broker;
use crate::protocol::{
    RequestPreamble, ResponseBody, SupportedApis, decode_request_header, encode_response,
};
use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use std::sync::Arc;
use tokio::sync::watch;

/// A response still being produced; resolves to the frame to send, or
/// `None` when the request gets no response (produce with acks=0).
pub type PendingReply = BoxFuture<'static, anyhow::Result<Option<ResponseBody>>>;

/// A dispatched request.
pub struct Dispatched {
    /// The response, to be awaited in request order.
    pub reply: PendingReply,
    /// Whether the request already took effect at dispatch (produce appends
    /// do, so that pipelined produces are not serialised on their fsync).
    pub eager: bool,
}

/// How a request's API key and version are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Implemented.
    Supported(ApiKey),
    /// An API key runnel does not implement (or that does not exist).
    UnknownApi,
    /// A version of a known API runnel does not implement.
    UnsupportedVersion(ApiKey),
    /// An ApiVersions version too new: answered with UNSUPPORTED_VERSION in v0.
    ApiVersionsFallback,
}

/// Encodes a response message as a frame.
pub fn reply<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    message: &M,
) -> anyhow::Result<Option<ResponseBody>> {
    let bytes = encode_response(api, version, correlation_id, message)?;
    Ok(Some(ResponseBody {
        chunks: vec![crate::protocol::Chunk::Bytes(bytes)],
    }))
}

/// The broker's APIs and their implemented versions, without group APIs.
pub fn broker_apis() -> SupportedApis {
    SupportedApis::new()
        // v0-v2 are decoded in `legacy_produce` (librdkafka only compresses
        // for a broker that advertises Produce v0).
        .with_unclamped(ApiKey::Produce, 0, 13)
        .with(ApiKey::Fetch, 4, 17)
        .with(ApiKey::ListOffsets, 1, 10)
        .with(ApiKey::Metadata, 0, 12)
        .with(ApiKey::ApiVersions, 0, 4)
        .with(ApiKey::CreateTopics, 2, 7)
        .with(ApiKey::DeleteTopics, 1, 6)
        .with(ApiKey::DeleteRecords, 0, 2)
        .with(ApiKey::InitProducerId, 0, 5)
        .with(ApiKey::DescribeConfigs, 1, 4)
        .with(ApiKey::AlterConfigs, 0, 2)
        .with(ApiKey::CreatePartitions, 0, 3)
        .with(ApiKey::IncrementalAlterConfigs, 0, 1)
        .with(ApiKey::DescribeCluster, 0, 2)
}

/// Routes decoded requests to the broker's handlers and to the group coordinator.
pub struct Dispatcher {
    broker: Arc<Broker>,
    groups: Option<Arc<dyn GroupApis>>,
    apis: SupportedApis,
    shutdown: watch::Receiver<bool>,
}

impl Dispatcher {
    /// A dispatcher over `broker`; `groups`, when given, serves the group
    /// APIs and they are advertised with the versions it reports.
    pub fn new(
        broker: Arc<Broker>,
        groups: Option<Arc<dyn GroupApis>>,
        shutdown: watch::Receiver<bool>,
    ) -> Dispatcher {
        let mut apis = broker_apis();
        if let Some(g) = &groups {
            for (key, min, max) in g.versions() {
                apis = apis.with(key, min, max);
            }
        }
        Dispatcher {
            broker,
            groups,
            apis,
            shutdown,
        }
    }

    /// The implemented APIs (what ApiVersions advertises).
    pub fn supported(&self) -> &SupportedApis {
        &self.apis
    }

    /// Decides how a request is handled from its preamble.
    pub fn route(&self, pre: &RequestPreamble) -> Route {
        let Ok(api) = ApiKey::try_from(pre.api_key) else {
            return Route::UnknownApi;
        };
        if self.apis.supports(api, pre.api_version) {
            Route::Supported(api)
        } else if api == ApiKey::ApiVersions && pre.api_version >= 0 {
            Route::ApiVersionsFallback
        } else if self.apis.range(api).is_none() {
            Route::UnknownApi
        } else {
            Route::UnsupportedVersion(api)
        }
    }

    /// The v0 UNSUPPORTED_VERSION answer to a too-new ApiVersions request.
    pub fn api_versions_fallback(&self, correlation_id: i32) -> anyhow::Result<PendingReply> {
        let resp = self.apis.unsupported_version_response();
        let body = reply(ApiKey::ApiVersions, 0, correlation_id, &resp);
        Ok(Box::pin(async move { body }))
    }

    /// Decodes a supported request (header and body) and starts handling
    /// it. Errors mean the frame could not be decoded: close the connection.
    pub fn dispatch(
        &self,
        api: ApiKey,
        version: i16,
        peer: std::net::SocketAddr,
        frame: Bytes,
    ) -> anyhow::Result<Dispatched> {
        let mut body = frame;
        let header = decode_request_header(api, version, &mut body)?;
        let ctx = RequestContext {
            client_id: header
                .client_id
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            peer,
            correlation_id: header.correlation_id,
        };
        let corr = header.correlation_id;
        let broker = self.broker.clone();
        let lazy = |reply: PendingReply| {
            Ok(Dispatched {
                reply,
                eager: false,
            })
        };

        macro_rules! simple {
            ($req:ty, $handler:path) => {{
                let req = <$req>::decode(&mut body, version)?;
                lazy(Box::pin(async move {
                    let resp = $handler(&broker, req, version);
                    reply(api, version, corr, &resp)
                }))
            }};
        }
        macro_rules! group {
            ($req:ty, $method:ident) => {{
                let req = <$req>::decode(&mut body, version)?;
                let groups = self
                    .groups
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("group APIs are not available"))?;
                lazy(Box::pin(async move {
                    let resp = groups.$method(ctx, req, version).await?;
                    reply(api, version, corr, &resp)
                }))
            }};
        }

        match api {
            ApiKey::ApiVersions => {
                let _req = ApiVersionsRequest::decode(&mut body, version)?;
                let resp = self.apis.response();
                lazy(Box::pin(async move { reply(api, version, corr, &resp) }))
            }
            ApiKey::Produce => {
                let req = if version < legacy_produce::FIRST_MODELLED_VERSION {
                    legacy_produce::decode_request(&body)?
                } else {
                    ProduceRequest::decode(&mut body, version)?
                };
                let reply = handlers::produce::handle(broker, req, version, corr);
                Ok(Dispatched { reply, eager: true })
            }
            ApiKey::Fetch => {
                let req = FetchRequest::decode(&mut body, version)?;
                let shutdown = self.shutdown.clone();
                lazy(Box::pin(async move {
                    handlers::fetch::handle(&broker, req, version, corr, shutdown)
                        .await
                        .map(Some)
                }))
            }
            ApiKey::Metadata => simple!(MetadataRequest, handlers::metadata::handle),
            ApiKey::ListOffsets => simple!(ListOffsetsRequest, handlers::list_offsets::handle),
            ApiKey::CreateTopics => simple!(CreateTopicsRequest, handlers::topics::create_topics),
            ApiKey::DeleteTopics => simple!(DeleteTopicsRequest, handlers::topics::delete_topics),
            ApiKey::DeleteRecords => {
                simple!(DeleteRecordsRequest, handlers::delete_records::handle)
            }
            ApiKey::CreatePartitions => {
                simple!(CreatePartitionsRequest, handlers::topics::create_partitions)
            }
            ApiKey::DescribeConfigs => {
                simple!(DescribeConfigsRequest, handlers::configs::describe_configs)
            }
            ApiKey::AlterConfigs => simple!(AlterConfigsRequest, handlers::configs::alter_configs),
            ApiKey::IncrementalAlterConfigs => simple!(
                IncrementalAlterConfigsRequest,
                handlers::configs::incremental_alter_configs
            ),
            ApiKey::DescribeCluster => {
                simple!(DescribeClusterRequest, handlers::cluster::describe_cluster)
            }
            ApiKey::InitProducerId => {
                simple!(InitProducerIdRequest, handlers::cluster::init_producer_id)
            }
            ApiKey::FindCoordinator => group!(FindCoordinatorRequest, find_coordinator),
            ApiKey::JoinGroup => group!(JoinGroupRequest, join_group),
            ApiKey::SyncGroup => group!(SyncGroupRequest, sync_group),
            ApiKey::Heartbeat => group!(HeartbeatRequest, heartbeat),
            ApiKey::LeaveGroup => group!(LeaveGroupRequest, leave_group),
            ApiKey::OffsetCommit => group!(OffsetCommitRequest, offset_commit),
            ApiKey::OffsetFetch => group!(OffsetFetchRequest, offset_fetch),
            ApiKey::ListGroups => group!(ListGroupsRequest, list_groups),
            ApiKey::DescribeGroups => group!(DescribeGroupsRequest, describe_groups),
            ApiKey::DeleteGroups => group!(DeleteGroupsRequest, delete_groups),
            ApiKey::OffsetDelete => group!(OffsetDeleteRequest, offset_delete),
            other => anyhow::bail!("no handler for {other:?}"),
        }
    }
}
