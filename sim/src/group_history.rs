//! The group workload's events (carried in the history as
//! `EventKind::Group`). Group consumers' fetches are ordinary `Polled`
//! events under a reader id of [`GROUP_READER_BASE`] or more, fresh for
//! every assignment a member gets, so the per-consumer checkers
//! (`nonmonotonic-poll`, `poll-skip`) judge each assignment's reads alone
//! while `lost-write`, `inconsistent-offsets` and `corrupt-read` see them all.

use serde::Serialize;

use crate::history::{ClientId, Offset, Partition};

/// Reader ids of group consumers start here (producers are 100.., plain
/// consumers 1.., the final reader 999).
pub const GROUP_READER_BASE: ClientId = 10_000;

/// Whether `client` is a group consumer's reader id.
pub fn is_group_reader(client: ClientId) -> bool {
    client >= GROUP_READER_BASE
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum GroupEvent {
    /// JoinGroup answered: `member` (workload slot `client`) is in
    /// `generation`; `leader` if it computes the assignment.
    Joined {
        client: ClientId,
        member_id: String,
        generation: i32,
        leader: bool,
        members: usize,
    },
    /// SyncGroup answered `partitions` for `member_id` in `generation`; the
    /// member reads them under the fresh reader id `reader`.
    Synced {
        client: ClientId,
        member_id: String,
        generation: i32,
        partitions: Vec<Partition>,
        reader: ClientId,
    },
    /// OffsetFetch (sent when the history was at `invoked_seq`) answered
    /// `offset` for `partition` (-1: nothing committed).
    OffsetFetched {
        client: ClientId,
        partition: Partition,
        invoked_seq: u64,
        offset: Offset,
    },
    /// An OffsetCommit of `offset` (sent at `invoked_seq`) was acknowledged
    /// (`error: None`) or refused or timed out. `probe`: the workload sent
    /// an offset far past anything produced, which the broker must refuse.
    Committed {
        client: ClientId,
        member_id: String,
        generation: i32,
        partition: Partition,
        invoked_seq: u64,
        offset: Offset,
        probe: bool,
        error: Option<String>,
    },
    /// The committed position was out of range (past the log end); the
    /// member resets `partition` to the earliest offset, so a lower commit
    /// may follow (auto.offset.reset=earliest).
    Reset {
        client: ClientId,
        partition: Partition,
        from: Offset,
    },
    /// The member left with LeaveGroup (`error` if the leave failed).
    Left {
        client: ClientId,
        member_id: String,
        error: Option<String>,
    },
    /// The member stopped without LeaveGroup: its heartbeats stop and its
    /// session must expire.
    Crashed { client: ClientId, member_id: String },
    /// After faults stopped, the group's drain consumed `partition` up to
    /// `high_watermark` and committed it.
    DrainDone {
        partition: Partition,
        committed: Offset,
        high_watermark: Offset,
    },
}
