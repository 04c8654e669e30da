//! DescribeCluster and InitProducerId.

use super::str_bytes;
use crate::broker::state::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId,
};

/// Handles DescribeCluster v0–v2: this node is the cluster and its controller.
pub fn describe_cluster(
    broker: &Broker,
    req: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    if version >= 1 {
        resp.endpoint_type = req.endpoint_type;
    }
    // endpoint_type 1 = brokers, 2 = controllers; this node is both.
    if version >= 1 && req.endpoint_type != 1 && req.endpoint_type != 2 {
        resp.error_code = ResponseError::UnsupportedEndpointType.code();
        return resp;
    }
    resp.cluster_id = str_bytes(broker.cluster_id.clone());
    resp.controller_id = BrokerId(broker.config.node_id);
    let mut b = DescribeClusterBroker::default();
    b.broker_id = BrokerId(broker.config.node_id);
    b.host = str_bytes(broker.config.advertised_host.clone());
    b.port = broker.advertised_port as i32;
    resp.brokers = vec![b];
    resp
}

/// InitProducerId v0–v5 without a transactional id (an idempotent
/// producer): always a fresh producer id with epoch 0, as Kafka's
/// coordinator answers (a producer id and epoch in the request are not
/// bumped). Transactional ids go to the transaction coordinator.
pub fn init_producer_id(
    broker: &Broker,
    _req: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    match broker.next_producer_id() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::error!("no producer id: {e}");
            resp.error_code = super::log_error_code(&e);
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
        }
    }
    resp
}
