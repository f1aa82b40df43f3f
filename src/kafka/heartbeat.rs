//! Heartbeat v0–v4 ⇄ the group coordinator's [`HeartbeatRequest`]. v3+
//! carry `group.instance.id`. A member learns of a rebalance from
//! REBALANCE_IN_PROGRESS here.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse};
use crate::kafka::unexpected_group_response;
use crate::server::broker::Broker;

pub async fn handle(broker: &Broker, request: HeartbeatRequest, version: i16) -> HeartbeatResponse {
    let heartbeat = group::HeartbeatRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request
            .group_instance_id
            .filter(|_| version >= 3)
            .map(|s| s.to_string()),
    };
    let error = match broker.group_call(GroupRequest::Heartbeat(heartbeat)).await {
        Ok(GroupResponse::Heartbeat(r)) => r.error,
        Ok(other) => Some(unexpected_group_response("Heartbeat", &other)),
        Err(error) => Some(error),
    };
    HeartbeatResponse::default().with_error_code(GroupError::code_of(error))
}
