//! The transaction APIs, answered by the transaction coordinator (opened on
//! first use, creating `__transaction_state` as Kafka does), and the
//! transaction checks of the other paths: InitProducerId without a
//! transactional id needs no coordinator (a fresh producer id, as Kafka's
//! coordinator gives), and ListTransactions/DescribeTransactions do not
//! create the topic.

use crate::broker::coordinators::Coordinators;
use crate::broker::state::Broker;
use crate::broker::txn::TRANSACTION_STATE_TOPIC;
use kafka_protocol::messages::*;

/// InitProducerId: with a transactional id, through the transaction
/// coordinator; without, a fresh producer id.
pub async fn init_producer_id(
    c: &Coordinators,
    broker: &Broker,
    req: InitProducerIdRequest,
    version: i16,
) -> anyhow::Result<InitProducerIdResponse> {
    if req.transactional_id.is_none() {
        return Ok(super::cluster::init_producer_id(broker, req, version));
    }
    Ok(c.txn().await?.init_producer_id(req, version).await)
}

/// AddPartitionsToTxn.
pub async fn add_partitions_to_txn(
    c: &Coordinators,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> anyhow::Result<AddPartitionsToTxnResponse> {
    Ok(c.txn().await?.add_partitions_to_txn(req, version).await)
}

/// AddOffsetsToTxn.
pub async fn add_offsets_to_txn(
    c: &Coordinators,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> anyhow::Result<AddOffsetsToTxnResponse> {
    Ok(c.txn().await?.add_offsets_to_txn(req, version).await)
}

/// EndTxn.
pub async fn end_txn(
    c: &Coordinators,
    req: EndTxnRequest,
    version: i16,
) -> anyhow::Result<EndTxnResponse> {
    Ok(c.txn().await?.end_txn(req, version).await)
}

/// DescribeTransactions: unknown ids are TRANSACTIONAL_ID_NOT_FOUND; the
/// coordinator is opened only if `__transaction_state` exists.
pub async fn describe_transactions(
    c: &Coordinators,
    broker: &Broker,
    req: DescribeTransactionsRequest,
    version: i16,
) -> anyhow::Result<DescribeTransactionsResponse> {
    if broker.topic(TRANSACTION_STATE_TOPIC).is_none() {
        let states = req
            .transactional_ids
            .into_iter()
            .map(|id| {
                describe_transactions_response::TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(kafka_protocol::ResponseError::TransactionalIdNotFound.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
            })
            .collect();
        return Ok(DescribeTransactionsResponse::default().with_transaction_states(states));
    }
    Ok(c.txn().await?.describe_transactions(req, version))
}

/// ListTransactions: none while `__transaction_state` does not exist.
pub async fn list_transactions(
    c: &Coordinators,
    broker: &Broker,
    req: ListTransactionsRequest,
    version: i16,
) -> anyhow::Result<ListTransactionsResponse> {
    if broker.topic(TRANSACTION_STATE_TOPIC).is_none() {
        return Ok(ListTransactionsResponse::default());
    }
    Ok(c.txn().await?.list_transactions(req, version))
}
