//! DescribeGroups v0–v5. An unknown group is described as Dead with no
//! error (Kafka's answer up to v5; v6 would need GROUP_ID_NOT_FOUND and is
//! not offered). v4+ answer members' `group.instance.id`. There are no ACLs,
//! so asked-for `authorized_operations` (v3+) are every group operation.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse, GroupState};
use crate::kafka::authorized_operations::{self as ops, if_requested};
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

pub async fn handle(
    broker: &Broker,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let group_ids: Vec<String> = request.groups.iter().map(|g| g.0.to_string()).collect();
    let described = match broker
        .group_call(GroupRequest::DescribeGroups {
            group_ids: group_ids.clone(),
        })
        .await
    {
        Ok(GroupResponse::DescribeGroups(groups)) => groups,
        Ok(other) => failed(
            &group_ids,
            unexpected_group_response("DescribeGroups", &other),
        ),
        Err(error) => failed(&group_ids, error),
    };
    let group_ops = if_requested(
        version >= 3 && request.include_authorized_operations,
        ops::GROUP,
    );
    let groups = described
        .into_iter()
        .map(|g| {
            let members = g
                .members
                .into_iter()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_client_id(str_bytes(&m.client_id))
                        .with_client_host(str_bytes(&m.client_host))
                        .with_member_metadata(m.member_metadata.into())
                        .with_member_assignment(m.member_assignment.into());
                    if version >= 4 {
                        member.with_group_instance_id(m.group_instance_id.map(|s| str_bytes(&s)))
                    } else {
                        member
                    }
                })
                .collect();
            DescribedGroup::default()
                .with_error_code(GroupError::code_of(g.error))
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_group_state(str_bytes(g.state.as_str()))
                .with_protocol_type(str_bytes(&g.protocol_type))
                .with_protocol_data(str_bytes(&g.protocol_data))
                .with_members(members)
                .with_authorized_operations(group_ops)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// Every group answered with `error` (the coordinator was not reached).
fn failed(group_ids: &[String], error: GroupError) -> Vec<group::DescribedGroup> {
    group_ids
        .iter()
        .map(|group_id| group::DescribedGroup {
            error: Some(error),
            group_id: group_id.clone(),
            state: GroupState::Dead,
            protocol_type: String::new(),
            protocol_data: String::new(),
            members: Vec::new(),
        })
        .collect()
}
