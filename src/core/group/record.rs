//! The records the coordinator asks the caller to persist into the internal
//! compacted offsets topic (like `__consumer_offsets`), and replays after a
//! restart. Compaction keeps the latest record per [`GroupRecordKey`]; a
//! tombstone deletes its key.

use serde::{Deserialize, Serialize};

/// One member of a persisted group generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A group's generation: written when a generation becomes Stable (with
/// the assignment), when a group becomes Empty, and when a static member is
/// replaced without a rebalance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMetadataRecord {
    pub group_id: String,
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRecord {
    OffsetCommit {
        group_id: String,
        topic: String,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
        metadata: Option<String>,
        commit_timestamp_ms: i64,
    },
    OffsetTombstone {
        group_id: String,
        topic: String,
        partition: i32,
    },
    GroupMetadata(GroupMetadataRecord),
    GroupTombstone {
        group_id: String,
    },
}

/// The compaction key of a record in the offsets topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupRecordKey {
    Offset {
        group_id: String,
        topic: String,
        partition: i32,
    },
    Group {
        group_id: String,
    },
}

impl GroupRecord {
    pub fn key(&self) -> GroupRecordKey {
        match self {
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                ..
            }
            | GroupRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => GroupRecordKey::Offset {
                group_id: group_id.clone(),
                topic: topic.clone(),
                partition: *partition,
            },
            GroupRecord::GroupMetadata(m) => GroupRecordKey::Group {
                group_id: m.group_id.clone(),
            },
            GroupRecord::GroupTombstone { group_id } => GroupRecordKey::Group {
                group_id: group_id.clone(),
            },
        }
    }

    /// Whether compaction may drop the key (after `delete.retention.ms`).
    pub fn is_tombstone(&self) -> bool {
        matches!(
            self,
            GroupRecord::OffsetTombstone { .. } | GroupRecord::GroupTombstone { .. }
        )
    }

    pub fn group_id(&self) -> &str {
        match self {
            GroupRecord::OffsetCommit { group_id, .. }
            | GroupRecord::OffsetTombstone { group_id, .. }
            | GroupRecord::GroupTombstone { group_id } => group_id,
            GroupRecord::GroupMetadata(m) => &m.group_id,
        }
    }
}
