//! Requests to the group coordinator, as plain Rust values. The Kafka layer
//! decodes the wire requests (any version) into these.

use serde::{Deserialize, Serialize};

use crate::core::group::state::GroupState;

/// One protocol a member offers in a JoinGroup, in its preference order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinProtocol {
    pub name: String,
    pub metadata: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id`: set for static members.
    pub group_instance_id: Option<String>,
    /// From the request header; the prefix of generated member ids.
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v0 has none: the Kafka layer passes the session timeout.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<JoinProtocol>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a replaced static leader may skip the assignment.
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+; `None` skips the check.
    pub protocol_type: Option<String>,
    /// v5+; `None` skips the check.
    pub protocol_name: Option<String>,
    /// The leader's assignment (member id, assignment); empty from followers.
    pub assignments: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member leaving; v0–v2 requests carry exactly one, with no instance id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// Empty when an admin removes a static member by instance id.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    pub members: Vec<LeavingMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    pub partition_index: i32,
    pub committed_offset: i64,
    /// -1 when unknown.
    pub committed_leader_epoch: i32,
    pub committed_metadata: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitTopic {
    pub name: String,
    pub partitions: Vec<OffsetCommitPartition>,
}

/// The coordinator does not know topics: the broker answers partitions of
/// unknown topics (UNKNOWN_TOPIC_OR_PARTITION) itself, passes only the rest
/// here, and merges the two responses. Any offset is accepted, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    /// -1 (with an empty member id) for a "simple" commit outside group
    /// management, accepted only while the group is Empty.
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<OffsetCommitTopic>,
    /// OffsetCommit v9+: an unknown group with generation ≥ 0 gets
    /// GROUP_ID_NOT_FOUND; older versions get ILLEGAL_GENERATION.
    pub group_id_not_found_supported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    pub name: String,
    pub partition_indexes: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    pub group_id: String,
    /// `None`: every committed partition of the group.
    pub topics: Option<Vec<OffsetFetchTopic>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteTopic {
    pub name: String,
    pub partition_indexes: Vec<i32>,
}

/// As for OffsetCommit, the broker answers partitions of unknown topics
/// itself and passes only the rest (possibly none: the group is still
/// checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteRequest {
    pub group_id: String,
    pub topics: Vec<OffsetDeleteTopic>,
}

/// Every request the coordinator answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRequest {
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    OffsetDelete(OffsetDeleteRequest),
    DescribeGroups {
        group_ids: Vec<String>,
    },
    /// An empty filter lists groups in every state.
    ListGroups {
        states_filter: Vec<GroupState>,
    },
    DeleteGroups {
        group_ids: Vec<String>,
    },
}
