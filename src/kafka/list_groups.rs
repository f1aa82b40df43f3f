//! ListGroups v0–v5. v4+ filter by state (case-insensitive, as Kafka; a
//! name that is no classic group state matches no group); v5+ filter by
//! type, and every odradek group is a "classic" one (Kafka lists
//! commit-only groups as classic too).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse, GroupState};
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

/// Kafka's group type name for classic-protocol groups.
const CLASSIC: &str = "classic";

pub async fn handle(
    broker: &Broker,
    request: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let states_filter: Vec<GroupState> = if version >= 4 {
        request
            .states_filter
            .iter()
            .filter_map(|s| GroupState::parse(s))
            .collect()
    } else {
        Vec::new()
    };
    let states_match_none =
        version >= 4 && !request.states_filter.is_empty() && states_filter.is_empty();
    let types_match_none = version >= 5
        && !request.types_filter.is_empty()
        && !request
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case(CLASSIC));
    if states_match_none || types_match_none {
        return ListGroupsResponse::default();
    }
    let listed = match broker
        .group_call(GroupRequest::ListGroups { states_filter })
        .await
    {
        Ok(GroupResponse::ListGroups(r)) => r,
        Ok(other) => group::ListGroupsResponse {
            error: Some(unexpected_group_response("ListGroups", &other)),
            groups: Vec::new(),
        },
        Err(error) => group::ListGroupsResponse {
            error: Some(error),
            groups: Vec::new(),
        },
    };
    let groups = listed
        .groups
        .into_iter()
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            if version >= 4 {
                listed = listed.with_group_state(str_bytes(g.state.as_str()));
            }
            if version >= 5 {
                listed = listed.with_group_type(str_bytes(CLASSIC));
            }
            listed
        })
        .collect();
    ListGroupsResponse::default()
        .with_error_code(GroupError::code_of(listed.error))
        .with_groups(groups)
}
