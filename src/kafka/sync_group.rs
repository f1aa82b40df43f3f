//! SyncGroup v0–v5 ⇄ the group coordinator's [`SyncGroupRequest`]: the
//! leader hands in every member's assignment, each member gets its own.
//! v3+ carry `group.instance.id`; v5 carries (and answers) the protocol type
//! and name, which the coordinator checks against the group's.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse};
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

pub async fn handle(broker: &Broker, request: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let sync = group::SyncGroupRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request
            .group_instance_id
            .filter(|_| version >= 3)
            .map(|s| s.to_string()),
        protocol_type: request
            .protocol_type
            .filter(|_| version >= 5)
            .map(|s| s.to_string()),
        protocol_name: request
            .protocol_name
            .filter(|_| version >= 5)
            .map(|s| s.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
            .collect(),
    };
    let synced = match broker.group_call(GroupRequest::SyncGroup(sync)).await {
        Ok(GroupResponse::SyncGroup(r)) => r,
        Ok(other) => {
            group::SyncGroupResponse::error(unexpected_group_response("SyncGroup", &other))
        }
        Err(error) => group::SyncGroupResponse::error(error),
    };
    let mut response = SyncGroupResponse::default()
        .with_error_code(GroupError::code_of(synced.error))
        .with_assignment(synced.assignment.into());
    if version >= 5 {
        response = response
            .with_protocol_type(synced.protocol_type.map(|s| str_bytes(&s)))
            .with_protocol_name(synced.protocol_name.map(|s| str_bytes(&s)));
    }
    response
}
