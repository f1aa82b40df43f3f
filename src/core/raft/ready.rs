//! What one `ready()` hands the caller, and the order rules for carrying
//! it out.

use crate::core::raft::message::Message;
use crate::core::raft::types::{Entry, HardState, LogIndex, RoleState, Snapshot};

/// One batch of effects. Carry it out like this:
///
/// 1. `install_snapshot`, if any, replaces the state machine; then apply
///    `committed_entries` in order. (They come only from durable log, so
///    applying never gets ahead of this node's disk.)
/// 2. If `take_snapshot` is `Some(index)`, serialize the state machine as
///    it is after step 1 (it has applied exactly `index`) and hand it back
///    with `on_snapshot_taken`, now or later.
/// 3. Write `persist` durably (in `id` order relative to earlier persists),
///    then call `on_persisted(id)`. It may run in the background.
/// 4. Send `messages` now. The core withholds every message that depends
///    on state not yet durable (a vote, an append acknowledgement, a
///    candidate's request in a new term, anything sent after a change not
///    yet persisted) until `on_persisted` covers it; those come out in a
///    later `Ready`. The caller never has to order sends after writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    pub persist: Option<Persist>,
    pub messages: Vec<Message>,
    pub install_snapshot: Option<Snapshot>,
    pub committed_entries: Vec<Entry>,
    pub take_snapshot: Option<LogIndex>,
    /// Set when role, term or known leader changed since the last `Ready`.
    pub role_change: Option<RoleState>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.messages.is_empty()
            && self.install_snapshot.is_none()
            && self.committed_entries.is_empty()
            && self.take_snapshot.is_none()
            && self.role_change.is_none()
    }
}

/// State to make durable, applied in this order: `snapshot`, `log`,
/// `hard_state`. Persists are numbered from 1 and must become durable in
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persist {
    pub id: u64,
    /// Replaces the durable snapshot; durable entries at or below its last
    /// index are dropped.
    pub snapshot: Option<Snapshot>,
    pub log: Option<LogWrite>,
    pub hard_state: Option<HardState>,
}

/// Drop every durable entry at `first_index` and after, then append
/// `entries` (which start at `first_index`; empty for a pure truncation).
/// `first_index` is at most one past the durable log's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWrite {
    pub first_index: LogIndex,
    pub entries: Vec<Entry>,
}
