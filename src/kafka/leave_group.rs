//! LeaveGroup v0–v5 ⇄ the group coordinator's [`LeaveGroupRequest`].
//!
//! v0–v2 name exactly one member (no instance id) and have no per-member
//! results: the member's error is reported as the top-level error, as Kafka
//! does. v3+ (KIP-345) batch members, each with an optional
//! `group.instance.id`, and answer each one.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse, LeavingMember};
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

pub async fn handle(
    broker: &Broker,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    let members = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let leave = group::LeaveGroupRequest {
        group_id: request.group_id.0.to_string(),
        members,
    };
    let left = match broker.group_call(GroupRequest::LeaveGroup(leave)).await {
        Ok(GroupResponse::LeaveGroup(r)) => r,
        Ok(other) => group::LeaveGroupResponse {
            error: Some(unexpected_group_response("LeaveGroup", &other)),
            members: Vec::new(),
        },
        Err(error) => group::LeaveGroupResponse {
            error: Some(error),
            members: Vec::new(),
        },
    };
    to_wire(left, version)
}

fn to_wire(left: group::LeaveGroupResponse, version: i16) -> LeaveGroupResponse {
    if version < 3 {
        let error = left
            .error
            .or_else(|| left.members.iter().find_map(|m| m.error));
        return LeaveGroupResponse::default().with_error_code(GroupError::code_of(error));
    }
    let members = left
        .members
        .into_iter()
        .map(|m| {
            MemberResponse::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_group_instance_id(m.group_instance_id.map(|s| str_bytes(&s)))
                .with_error_code(GroupError::code_of(m.error))
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(GroupError::code_of(left.error))
        .with_members(members)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::protocol::Encodable;

    use super::*;
    use crate::core::group::LeftMember;

    fn unknown_member() -> group::LeaveGroupResponse {
        group::LeaveGroupResponse {
            error: None,
            members: vec![LeftMember {
                member_id: "m-1".to_string(),
                group_instance_id: None,
                error: Some(GroupError::UnknownMemberId),
            }],
        }
    }

    #[test]
    fn old_versions_report_the_members_error_at_the_top() {
        let response = to_wire(unknown_member(), 1);
        assert_eq!(response.error_code, 25);
        assert!(response.members.is_empty());
        let response = to_wire(unknown_member(), 3);
        assert_eq!(response.error_code, 0);
        assert_eq!(response.members[0].error_code, 25);
    }

    #[test]
    fn every_version_encodes() {
        for version in 0..=5 {
            let mut buf = bytes::BytesMut::new();
            to_wire(unknown_member(), version)
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
