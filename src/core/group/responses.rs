//! Responses from the group coordinator, released as
//! `GroupAction::Respond { request_id, response }`. `error: None` is
//! Kafka's NONE.

use crate::core::group::error::GroupError;
use crate::core::group::state::GroupState;

/// One member in the leader's JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    pub error: Option<GroupError>,
    /// -1 on errors.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty when there is none.
    pub leader_id: String,
    pub skip_assignment: bool,
    /// The member's id (the generated one with MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// Only the leader gets the members.
    pub members: Vec<JoinedMember>,
}

impl JoinGroupResponse {
    pub(crate) fn error(error: GroupError, member_id: &str) -> JoinGroupResponse {
        JoinGroupResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

impl SyncGroupResponse {
    pub(crate) fn error(error: GroupError) -> SyncGroupResponse {
        SyncGroupResponse {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    pub error: Option<GroupError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: Option<GroupError>,
}

/// For v0–v2 the Kafka layer reports the single member's error at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    pub error: Option<GroupError>,
    pub members: Vec<LeftMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartitionResponse {
    pub partition_index: i32,
    pub error: Option<GroupError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitTopicResponse {
    pub name: String,
    pub partitions: Vec<OffsetCommitPartitionResponse>,
}

/// Request-level failures (unknown member, stale generation) are reported
/// on every partition, as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    pub topics: Vec<OffsetCommitTopicResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchPartitionResponse {
    pub partition_index: i32,
    /// -1 when nothing is committed.
    pub committed_offset: i64,
    /// -1 when unknown.
    pub committed_leader_epoch: i32,
    pub metadata: Option<String>,
    pub error: Option<GroupError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchTopicResponse {
    pub name: String,
    pub partitions: Vec<OffsetFetchPartitionResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    pub error: Option<GroupError>,
    pub topics: Vec<OffsetFetchTopicResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeletePartitionResponse {
    pub partition_index: i32,
    pub error: Option<GroupError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteTopicResponse {
    pub name: String,
    pub partitions: Vec<OffsetDeletePartitionResponse>,
}

/// With a group-level `error` the topics are empty (as Kafka answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResponse {
    pub error: Option<GroupError>,
    pub topics: Vec<OffsetDeleteTopicResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Empty unless the group is Stable (as Kafka).
    pub member_metadata: Vec<u8>,
    /// Empty unless the group is Stable (as Kafka).
    pub member_assignment: Vec<u8>,
}

/// An unknown group is described as Dead with no error (as Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error: Option<GroupError>,
    pub group_id: String,
    pub state: GroupState,
    /// Empty when the group has none.
    pub protocol_type: String,
    /// The selected protocol when Stable, else empty.
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// Empty for simple (commit-only) groups.
    pub protocol_type: String,
    pub state: GroupState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResponse {
    pub error: Option<GroupError>,
    pub groups: Vec<ListedGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedGroup {
    pub group_id: String,
    pub error: Option<GroupError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupResponse {
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    OffsetDelete(OffsetDeleteResponse),
    DescribeGroups(Vec<DescribedGroup>),
    ListGroups(ListGroupsResponse),
    DeleteGroups(Vec<DeletedGroup>),
}
