//! DeleteGroups v0–v2: only Empty groups can be deleted (NON_EMPTY_GROUP
//! otherwise, GROUP_ID_NOT_FOUND for unknown ones); their committed offsets
//! go with them. The versions differ only in encoding.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use crate::core::group::{DeletedGroup, GroupError, GroupRequest, GroupResponse};
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

pub async fn handle(
    broker: &Broker,
    request: DeleteGroupsRequest,
    _version: i16,
) -> DeleteGroupsResponse {
    let group_ids: Vec<String> = request
        .groups_names
        .iter()
        .map(|g| g.0.to_string())
        .collect();
    let failed = |error: GroupError| -> Vec<DeletedGroup> {
        group_ids
            .iter()
            .map(|group_id| DeletedGroup {
                group_id: group_id.clone(),
                error: Some(error),
            })
            .collect()
    };
    let deleted = match broker
        .group_call(GroupRequest::DeleteGroups {
            group_ids: group_ids.clone(),
        })
        .await
    {
        Ok(GroupResponse::DeleteGroups(results)) => results,
        Ok(other) => failed(unexpected_group_response("DeleteGroups", &other)),
        Err(error) => failed(error),
    };
    let results = deleted
        .into_iter()
        .map(|d| {
            DeletableGroupResult::default()
                .with_group_id(GroupId(str_bytes(&d.group_id)))
                .with_error_code(GroupError::code_of(d.error))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
