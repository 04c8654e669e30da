//! Routing requests to their handlers, with the table of implemented API
//! versions that ApiVersions advertises. [`decode_request`] is the wire
//! half (header and body bytes to a [`Request`]), kept apart from the
//! handling so that the fuzz targets (`crate::fuzzing`) call exactly it.

use super::coordinators::Coordinators;
use super::group::GroupCoordinator;
use super::handlers;
use super::legacy_produce;
use super::quota::{ChannelThrottle, QuotaType, RequestQuota, ThrottleSlot, Timed};
use super::state::Broker;
use super::txn::TransactionCoordinator;
use crate::protocol::{
    RequestPreamble, ResponseBody, SupportedApis, decode_request_header, encode_response,
};
use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use std::sync::Arc;
use tokio::sync::watch;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Who sent a request: what JoinGroup/DescribeGroups report as client id
/// and host.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `client.id` from the request header (empty if none).
    pub client_id: String,
    /// The peer's address.
    pub peer: std::net::SocketAddr,
    /// Correlation id of the request.
    pub correlation_id: i32,
    /// The user quotas are resolved for: the authenticated principal's
    /// name, [`super::quota::ANONYMOUS`] until authentication exists
    /// (borrowed, so that unauthenticated requests allocate nothing for it).
    pub user: std::borrow::Cow<'static, str>,
}

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

/// The broker's APIs and their implemented versions (what ApiVersions
/// advertises).
pub fn broker_apis() -> SupportedApis {
    let mut apis = SupportedApis::new()
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
        .with(ApiKey::DescribeConfigs, 1, 4)
        .with(ApiKey::AlterConfigs, 0, 2)
        .with(ApiKey::CreatePartitions, 0, 3)
        .with(ApiKey::IncrementalAlterConfigs, 0, 1)
        .with(ApiKey::DescribeCluster, 0, 2)
        .with(ApiKey::TxnOffsetCommit, 0, 4)
        .with(ApiKey::DescribeProducers, 0, 0)
        .with(ApiKey::OffsetForLeaderEpoch, 2, 4)
        .with(ApiKey::DescribeClientQuotas, 0, 1)
        .with(ApiKey::AlterClientQuotas, 0, 1);
    for (key, min, max) in GroupCoordinator::api_versions()
        .into_iter()
        .chain(TransactionCoordinator::versions())
    {
        apis = apis.with(key, min, max);
    }
    apis
}

/// Routes decoded requests to the broker's handlers and coordinators.
pub struct Dispatcher {
    broker: Arc<Broker>,
    coordinators: Arc<Coordinators>,
    apis: SupportedApis,
    shutdown: watch::Receiver<bool>,
}

impl Dispatcher {
    /// A dispatcher over `broker` and its `coordinators`.
    pub fn new(
        broker: Arc<Broker>,
        coordinators: Arc<Coordinators>,
        shutdown: watch::Receiver<bool>,
    ) -> Dispatcher {
        Dispatcher {
            broker,
            coordinators,
            apis: broker_apis(),
            shutdown,
        }
    }

    /// The implemented APIs (what ApiVersions advertises).
    pub fn supported(&self) -> &SupportedApis {
        &self.apis
    }

    /// Decides how a request is handled from its preamble.
    pub fn route(&self, pre: &RequestPreamble) -> Route {
        route(&self.apis, pre)
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
        channel: &Arc<ChannelThrottle>,
    ) -> anyhow::Result<Dispatched> {
        let request_size = frame.len();
        let (header, request) = decode_request(api, version, frame)?;
        let ctx = RequestContext {
            client_id: header
                .client_id
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            peer,
            correlation_id: header.correlation_id,
            user: std::borrow::Cow::Borrowed(super::quota::ANONYMOUS),
        };
        // Quotas cost nothing unless one is configured.
        let quota = self.broker.quotas.any_enabled().then(|| RequestQuota {
            quotas: self.broker.quotas.clone(),
            channel: channel.clone(),
            user: ctx.user.to_string(),
            client_id: ctx.client_id.clone(),
        });
        let corr = header.correlation_id;
        let broker = self.broker.clone();
        let lazy = |reply: PendingReply| {
            Ok(Dispatched {
                reply,
                eager: false,
            })
        };

        // Each handler's time is charged to the request quota and the
        // throttle put in its response (KIP-219).
        macro_rules! simple {
            ($req:expr, $handler:path) => {{
                let req = $req;
                let quota = quota.clone();
                lazy(Box::pin(async move {
                    let started = quota.as_ref().map(|_| std::time::Instant::now());
                    let mut resp = $handler(&broker, req, version);
                    resp.throttle_time_ms = request_throttle(&quota, started.map(|s| s.elapsed()));
                    reply(api, version, corr, &resp)
                }))
            }};
        }
        // Topic creation and deletion: also charged to the controller
        // mutation quota; the longer throttle applies.
        macro_rules! mutation {
            ($req:expr, $handler:path) => {{
                let req = $req;
                let quota = quota.clone();
                lazy(Box::pin(async move {
                    let started = quota.as_ref().map(|_| std::time::Instant::now());
                    let (mut resp, mutation) = $handler(&broker, &quota, req, version);
                    let request = request_throttle(&quota, started.map(|s| s.elapsed()));
                    resp.throttle_time_ms = match &quota {
                        Some(q) => q.throttle(mutation.max(request)),
                        None => 0,
                    };
                    reply(api, version, corr, &resp)
                }))
            }};
        }
        macro_rules! group {
            ($req:expr, $handler:path) => {{
                let req = $req;
                let coordinators = self.coordinators.clone();
                let quota = quota.clone();
                lazy(Box::pin(async move {
                    let (resp, spent) = Timed::new($handler(&coordinators, req, version)).await;
                    let mut resp = resp?;
                    resp.throttle_time_ms = request_throttle(&quota, Some(spent));
                    reply(api, version, corr, &resp)
                }))
            }};
        }

        macro_rules! with_broker {
            ($req:expr, $handler:path) => {{
                let req = $req;
                let coordinators = self.coordinators.clone();
                let quota = quota.clone();
                lazy(Box::pin(async move {
                    let (resp, spent) =
                        Timed::new($handler(&coordinators, &broker, req, version)).await;
                    let mut resp = resp?;
                    resp.throttle_time_ms = request_throttle(&quota, Some(spent));
                    reply(api, version, corr, &resp)
                }))
            }};
        }

        match request {
            Request::ApiVersions(_) => {
                let resp = self.apis.response();
                lazy(Box::pin(async move { reply(api, version, corr, &resp) }))
            }
            Request::Produce(req) => {
                let acks = req.acks;
                let started = quota.as_ref().map(|_| std::time::Instant::now());
                let slot: ThrottleSlot = quota.as_ref().map(|_| Default::default());
                let reply = handlers::produce::handle(
                    broker,
                    &self.coordinators,
                    req,
                    version,
                    corr,
                    slot.clone(),
                );
                if let (Some(q), Some(slot)) = (&quota, slot) {
                    // Kafka: the produce bytes always, the request time
                    // unless acks=0; the longer throttle applies.
                    let bytes = q.record(QuotaType::Produce, request_size as f64);
                    let time = match (acks, started) {
                        (0, _) | (_, None) => 0,
                        (_, Some(s)) => q.record_request_time(s.elapsed()),
                    };
                    slot.store(
                        q.throttle(bytes.max(time)),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                Ok(Dispatched { reply, eager: true })
            }
            Request::Fetch(req) => {
                let shutdown = self.shutdown.clone();
                lazy(Box::pin(async move {
                    handlers::fetch::handle(&broker, req, version, corr, shutdown, quota)
                        .await
                        .map(Some)
                }))
            }
            Request::DescribeClientQuotas(req) => {
                simple!(req, handlers::client_quotas::describe_client_quotas)
            }
            Request::AlterClientQuotas(req) => {
                simple!(req, handlers::client_quotas::alter_client_quotas)
            }
            Request::Metadata(req) => simple!(req, handlers::metadata::handle),
            Request::ListOffsets(req) => simple!(req, handlers::list_offsets::handle),
            Request::CreateTopics(req) => {
                mutation!(req, handlers::controller_mutation::create_topics)
            }
            Request::DeleteTopics(req) => {
                mutation!(req, handlers::controller_mutation::delete_topics)
            }
            Request::DeleteRecords(req) => simple!(req, handlers::delete_records::handle),
            Request::CreatePartitions(req) => {
                mutation!(req, handlers::controller_mutation::create_partitions)
            }
            Request::DescribeConfigs(req) => simple!(req, handlers::configs::describe_configs),
            Request::AlterConfigs(req) => simple!(req, handlers::configs::alter_configs),
            Request::IncrementalAlterConfigs(req) => {
                simple!(req, handlers::configs::incremental_alter_configs)
            }
            Request::DescribeCluster(req) => simple!(req, handlers::cluster::describe_cluster),
            Request::InitProducerId(req) => with_broker!(req, handlers::txn::init_producer_id),
            Request::AddPartitionsToTxn(req) => group!(req, handlers::txn::add_partitions_to_txn),
            Request::AddOffsetsToTxn(req) => group!(req, handlers::txn::add_offsets_to_txn),
            Request::EndTxn(req) => group!(req, handlers::txn::end_txn),
            Request::DescribeTransactions(req) => {
                with_broker!(req, handlers::txn::describe_transactions)
            }
            Request::ListTransactions(req) => with_broker!(req, handlers::txn::list_transactions),
            Request::DescribeProducers(req) => simple!(req, handlers::producers::handle),
            Request::OffsetForLeaderEpoch(req) => simple!(req, handlers::leader_epoch::handle),
            Request::FindCoordinator(req) => group!(req, handlers::group::find_coordinator),
            Request::JoinGroup(req) => {
                let coordinators = self.coordinators.clone();
                let quota = quota.clone();
                lazy(Box::pin(async move {
                    let (resp, spent) = Timed::new(handlers::group::join_group(
                        &coordinators,
                        &ctx,
                        req,
                        version,
                    ))
                    .await;
                    let mut resp = resp?;
                    resp.throttle_time_ms = request_throttle(&quota, Some(spent));
                    reply(api, version, corr, &resp)
                }))
            }
            Request::SyncGroup(req) => group!(req, handlers::group::sync_group),
            Request::Heartbeat(req) => group!(req, handlers::group::heartbeat),
            Request::LeaveGroup(req) => group!(req, handlers::group::leave_group),
            Request::OffsetCommit(req) => group!(req, handlers::group::offset_commit),
            Request::OffsetFetch(req) => group!(req, handlers::group::offset_fetch),
            Request::ListGroups(req) => group!(req, handlers::group::list_groups),
            Request::DescribeGroups(req) => group!(req, handlers::group::describe_groups),
            Request::DeleteGroups(req) => group!(req, handlers::group::delete_groups),
            Request::OffsetDelete(req) => group!(req, handlers::group::offset_delete),
            Request::TxnOffsetCommit(req) => group!(req, handlers::group::txn_offset_commit),
        }
    }
}

/// The request-quota throttle for a handler that ran for `spent`, the
/// connection muted for it; 0 without quotas.
fn request_throttle(quota: &Option<RequestQuota>, spent: Option<std::time::Duration>) -> i32 {
    match (quota, spent) {
        (Some(q), Some(spent)) => q.throttle(q.record_request_time(spent)),
        _ => 0,
    }
}

/// Decides how a request is handled from its preamble, given the
/// implemented APIs.
pub fn route(apis: &SupportedApis, pre: &RequestPreamble) -> Route {
    let Ok(api) = ApiKey::try_from(pre.api_key) else {
        return Route::UnknownApi;
    };
    if apis.supports(api, pre.api_version) {
        Route::Supported(api)
    } else if api == ApiKey::ApiVersions && pre.api_version >= 0 {
        Route::ApiVersionsFallback
    } else if apis.range(api).is_none() {
        Route::UnknownApi
    } else {
        Route::UnsupportedVersion(api)
    }
}

/// A request body decoded for one of the APIs the broker handles: one
/// variant per API, named after its [`ApiKey`], holding its request message.
#[derive(Debug)]
pub enum Request {
    ApiVersions(ApiVersionsRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    Metadata(MetadataRequest),
    ListOffsets(ListOffsetsRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    DeleteRecords(DeleteRecordsRequest),
    CreatePartitions(CreatePartitionsRequest),
    DescribeConfigs(DescribeConfigsRequest),
    AlterConfigs(AlterConfigsRequest),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
    InitProducerId(InitProducerIdRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    ListGroups(ListGroupsRequest),
    DescribeGroups(DescribeGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetDelete(OffsetDeleteRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    DescribeProducers(DescribeProducersRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    EndTxn(EndTxnRequest),
    DescribeTransactions(DescribeTransactionsRequest),
    ListTransactions(ListTransactionsRequest),
    DescribeClientQuotas(DescribeClientQuotasRequest),
    AlterClientQuotas(AlterClientQuotasRequest),
}

/// Decodes a routed request frame: the header in the version `api` and
/// `version` use, then the body (Produce v0–v2 through
/// [`legacy_produce::decode_request`]). The wire half of
/// [`Dispatcher::dispatch`], apart so that the fuzz targets call exactly it.
///
/// # Errors
/// The frame is not a valid request of that API and version, or `api` has
/// no handler.
pub fn decode_request(
    api: ApiKey,
    version: i16,
    frame: Bytes,
) -> anyhow::Result<(RequestHeader, Request)> {
    let mut body = frame;
    let header = decode_request_header(api, version, &mut body)?;
    macro_rules! decode {
        ($variant:ident, $req:ty) => {
            Request::$variant(<$req>::decode(&mut body, version)?)
        };
    }
    let request = match api {
        ApiKey::ApiVersions => decode!(ApiVersions, ApiVersionsRequest),
        ApiKey::Produce => Request::Produce(if version < legacy_produce::FIRST_MODELLED_VERSION {
            legacy_produce::decode_request(&body)?
        } else {
            ProduceRequest::decode(&mut body, version)?
        }),
        ApiKey::Fetch => decode!(Fetch, FetchRequest),
        ApiKey::Metadata => decode!(Metadata, MetadataRequest),
        ApiKey::ListOffsets => decode!(ListOffsets, ListOffsetsRequest),
        ApiKey::CreateTopics => decode!(CreateTopics, CreateTopicsRequest),
        ApiKey::DeleteTopics => decode!(DeleteTopics, DeleteTopicsRequest),
        ApiKey::DeleteRecords => decode!(DeleteRecords, DeleteRecordsRequest),
        ApiKey::CreatePartitions => decode!(CreatePartitions, CreatePartitionsRequest),
        ApiKey::DescribeConfigs => decode!(DescribeConfigs, DescribeConfigsRequest),
        ApiKey::AlterConfigs => decode!(AlterConfigs, AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => {
            decode!(IncrementalAlterConfigs, IncrementalAlterConfigsRequest)
        }
        ApiKey::DescribeCluster => decode!(DescribeCluster, DescribeClusterRequest),
        ApiKey::InitProducerId => decode!(InitProducerId, InitProducerIdRequest),
        ApiKey::FindCoordinator => decode!(FindCoordinator, FindCoordinatorRequest),
        ApiKey::JoinGroup => decode!(JoinGroup, JoinGroupRequest),
        ApiKey::SyncGroup => decode!(SyncGroup, SyncGroupRequest),
        ApiKey::Heartbeat => decode!(Heartbeat, HeartbeatRequest),
        ApiKey::LeaveGroup => decode!(LeaveGroup, LeaveGroupRequest),
        ApiKey::OffsetCommit => decode!(OffsetCommit, OffsetCommitRequest),
        ApiKey::OffsetFetch => decode!(OffsetFetch, OffsetFetchRequest),
        ApiKey::ListGroups => decode!(ListGroups, ListGroupsRequest),
        ApiKey::DescribeGroups => decode!(DescribeGroups, DescribeGroupsRequest),
        ApiKey::DeleteGroups => decode!(DeleteGroups, DeleteGroupsRequest),
        ApiKey::OffsetDelete => decode!(OffsetDelete, OffsetDeleteRequest),
        ApiKey::TxnOffsetCommit => decode!(TxnOffsetCommit, TxnOffsetCommitRequest),
        ApiKey::DescribeProducers => decode!(DescribeProducers, DescribeProducersRequest),
        ApiKey::OffsetForLeaderEpoch => {
            decode!(OffsetForLeaderEpoch, OffsetForLeaderEpochRequest)
        }
        ApiKey::AddPartitionsToTxn => decode!(AddPartitionsToTxn, AddPartitionsToTxnRequest),
        ApiKey::AddOffsetsToTxn => decode!(AddOffsetsToTxn, AddOffsetsToTxnRequest),
        ApiKey::EndTxn => decode!(EndTxn, EndTxnRequest),
        ApiKey::DescribeTransactions => {
            decode!(DescribeTransactions, DescribeTransactionsRequest)
        }
        ApiKey::ListTransactions => decode!(ListTransactions, ListTransactionsRequest),
        ApiKey::DescribeClientQuotas => decode!(DescribeClientQuotas, DescribeClientQuotasRequest),
        ApiKey::AlterClientQuotas => decode!(AlterClientQuotas, AlterClientQuotasRequest),
        other => anyhow::bail!("no handler for {other:?}"),
    };
    Ok((header, request))
}
