//! JoinGroup v0–v9 ⇄ the group coordinator's [`JoinGroupRequest`].
//!
//! Version differences handled here: v0 has no rebalance timeout (the
//! session timeout stands in, as in Kafka); v4+ makes a new dynamic member
//! rejoin with the id it is given (MEMBER_ID_REQUIRED); v5+ carries
//! `group.instance.id`; v7+ answers the protocol type and a nullable
//! protocol name; v9 may tell a replaced static leader to skip the
//! assignment. Only the leader gets the member list (the coordinator
//! decides that).

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse, JoinProtocol};
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

/// `client_id` comes from the request header and `client_host` from the
/// connection (Kafka's "/ip" form); both are shown by DescribeGroups and the
/// client id prefixes generated member ids.
pub async fn handle(
    broker: &Broker,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    let member_id = request.member_id.to_string();
    let join = group::JoinGroupRequest {
        group_id: request.group_id.0.to_string(),
        member_id: member_id.clone(),
        group_instance_id: request
            .group_instance_id
            .filter(|_| version >= 5)
            .map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| JoinProtocol {
                name: p.name.to_string(),
                metadata: p.metadata.to_vec(),
            })
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let joined = match broker.group_call(GroupRequest::JoinGroup(join)).await {
        Ok(GroupResponse::JoinGroup(r)) => r,
        Ok(other) => group::JoinGroupResponse::error(
            unexpected_group_response("JoinGroup", &other),
            &member_id,
        ),
        Err(error) => group::JoinGroupResponse::error(error, &member_id),
    };
    to_wire(joined, version)
}

fn to_wire(joined: group::JoinGroupResponse, version: i16) -> JoinGroupResponse {
    // Before v7 the protocol name is not nullable: Kafka sends "" for none.
    // From v7 on, "" is sent as null (as Kafka's JoinGroupResponse does).
    let protocol_name = match joined.protocol_name.filter(|n| !n.is_empty()) {
        Some(name) => Some(str_bytes(&name)),
        None if version < 7 => Some(str_bytes("")),
        None => None,
    };
    let members = joined
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_metadata(m.metadata.into());
            if version >= 5 {
                member.with_group_instance_id(m.group_instance_id.map(|s| str_bytes(&s)))
            } else {
                member
            }
        })
        .collect();
    let mut response = JoinGroupResponse::default()
        .with_error_code(GroupError::code_of(joined.error))
        .with_generation_id(joined.generation_id)
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(&joined.leader_id))
        .with_member_id(str_bytes(&joined.member_id))
        .with_members(members);
    if version >= 7 {
        response = response.with_protocol_type(joined.protocol_type.map(|s| str_bytes(&s)));
    }
    if version >= 9 {
        response = response.with_skip_assignment(joined.skip_assignment);
    }
    response
}

#[cfg(test)]
mod tests {
    use kafka_protocol::protocol::Encodable;

    use super::*;

    fn error_response() -> group::JoinGroupResponse {
        group::JoinGroupResponse::error(GroupError::MemberIdRequired, "m-1")
    }

    #[test]
    fn protocol_name_is_empty_before_v7_and_null_after() {
        assert_eq!(
            to_wire(error_response(), 6).protocol_name,
            Some(str_bytes(""))
        );
        assert_eq!(to_wire(error_response(), 7).protocol_name, None);
    }

    #[test]
    fn every_version_encodes() {
        let mut joined = error_response();
        joined.skip_assignment = true;
        joined.members.push(group::JoinedMember {
            member_id: "m-1".to_string(),
            group_instance_id: Some("i-1".to_string()),
            metadata: vec![1, 2],
        });
        for version in 0..=9 {
            let mut buf = bytes::BytesMut::new();
            let mut joined = joined.clone();
            // The coordinator sets skip_assignment only for v9 requests.
            joined.skip_assignment = version >= 9;
            to_wire(joined, version)
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
