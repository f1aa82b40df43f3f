//! InitProducerId for idempotent producers: a fresh producer id at epoch 0.
//! Transactions are not implemented: a transactional id is refused.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::kafka::error_code::code;
use crate::server::broker::Broker;

pub async fn handle(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(code(ResponseError::TransactionalIdAuthorizationFailed));
    }
    // Kafka gives an idempotent producer that re-initialises (KIP-360) a new
    // id too: its old sequence state stays with the old id.
    match broker.allocate_producer_id().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::warn!(%e, "cannot allocate a producer id");
            response.with_error_code(code(ResponseError::CoordinatorNotAvailable))
        }
    }
}
