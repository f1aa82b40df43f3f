//! What the coordinator asks its caller to do, and the bookkeeping of the
//! persists it waits for.

use std::collections::BTreeMap;

use crate::core::group::committed_offsets::CommittedOffset;
use crate::core::group::record::GroupRecord;
use crate::core::group::responses::{
    DeletedGroup, GroupResponse, OffsetCommitResponse, OffsetDeleteResponse,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// Answer the request the caller registered as `request_id`.
    Respond {
        request_id: u64,
        response: GroupResponse,
    },
    /// Append `records` (one batch, in order) to the offsets topic, then
    /// call `on_persisted(persist_id)` once they are durable (or
    /// `on_persist_failed`). Persist ids grow by one per action.
    Persist {
        persist_id: u64,
        records: Vec<GroupRecord>,
    },
}

/// What waits on one persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PendingPersist {
    /// Nothing waits (an Empty group's metadata).
    GroupMetadata,
    /// The leader's SyncGroup: the generation turns Stable once durable.
    SyncAssignment {
        group_id: String,
        group_incarnation: u64,
        generation_id: i32,
        assignment: BTreeMap<String, Vec<u8>>,
    },
    /// A static member replaced in a Stable group without a rebalance.
    StaticMemberJoin {
        group_id: String,
        group_incarnation: u64,
        member_id: String,
        request_id: u64,
        supports_skip_assignment: bool,
        leader_before: Option<String>,
    },
    OffsetCommit {
        group_id: String,
        group_incarnation: u64,
        request_id: u64,
        response: OffsetCommitResponse,
        offsets: Vec<(String, i32, CommittedOffset)>,
    },
    /// OffsetDelete's tombstones: the offsets leave the group once durable.
    OffsetsDeleted {
        group_id: String,
        group_incarnation: u64,
        request_id: u64,
        response: OffsetDeleteResponse,
        partitions: Vec<(String, i32)>,
    },
    GroupsDeleted {
        request_id: u64,
        results: Vec<DeletedGroup>,
    },
}

/// Collects the actions of one step and numbers the persists.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub actions: Vec<GroupAction>,
    pub persist_id_next: u64,
    pub pending: BTreeMap<u64, PendingPersist>,
}

impl Outbox {
    pub fn respond(&mut self, request_id: u64, response: GroupResponse) {
        self.actions.push(GroupAction::Respond {
            request_id,
            response,
        });
    }

    pub fn persist(&mut self, records: Vec<GroupRecord>, waiting: PendingPersist) -> u64 {
        assert!(!records.is_empty(), "a persist carries records");
        let persist_id = self.persist_id_next;
        self.persist_id_next += 1;
        self.actions.push(GroupAction::Persist {
            persist_id,
            records,
        });
        let previous = self.pending.insert(persist_id, waiting);
        assert!(previous.is_none(), "persist ids are unique");
        persist_id
    }
}
