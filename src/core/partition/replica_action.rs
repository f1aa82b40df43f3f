//! What the replica state machine asks its driver to do (the server runs
//! them; the tests' harness and the model checker interpret them).

use std::collections::BTreeMap;

use crate::core::partition::fetch_messages::{FetchRequest, FetchResponse, ProduceError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaAction<R> {
    /// The leader appended a client batch at `base_offset..end_offset` in
    /// `epoch` (done through the log trait; reported for the driver's
    /// indexes and traces).
    Appended {
        base_offset: i64,
        end_offset: i64,
        epoch: i32,
    },
    /// The follower appended the leader's batch verbatim (its offsets and
    /// epoch kept).
    AppendedVerbatim { base_offset: i64, end_offset: i64 },
    /// The log was truncated to `offset` (everything at or after removed).
    Truncated { offset: i64 },
    /// The follower's log was emptied and starts at `offset` now (it was
    /// below the leader's log start). Make the new log start durable before
    /// the next fetch is sent, with the emptied leader-epoch cache and
    /// producer state: nothing may be appended at `offset` while a crash
    /// could still bring back the old log start.
    StartedAt { offset: i64 },
    /// Make the log durable up to `end_offset`; answer with `sync_done`.
    Sync { end_offset: i64 },
    /// The high watermark moved: checkpoint it (any checkpointed value at or
    /// below the true one is safe) and serve consumers below it.
    HighWatermark { offset: i64 },
    /// Answer a produce request: the batch's base offset, or why not.
    RespondProduce {
        request_id: u64,
        result: Result<i64, ProduceError>,
    },
    /// Answer a follower's fetch.
    RespondFetch { to: i32, response: FetchResponse<R> },
    /// The log end or the high watermark moved: parked fetches may return.
    WakeFetchers,
    /// Ask the controller to set the ISR (Kafka's AlterPartition); applied
    /// only when the controller commits it and answers `isr_committed`.
    ProposeIsr(IsrProposal),
    /// The follower fetches from its leader.
    SendFetch { to: i32, request: FetchRequest },
}

/// An ISR a leader asks the controller for (Kafka's AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IsrProposal {
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// Each other member's broker epoch as its last fetch in this
    /// leadership carried it (KIP-903's `NewIsrWithEpochs`; a member not yet
    /// heard from has none). The controller refuses the proposal if a
    /// member registered again since: a restarted process may have lost
    /// the records that made it eligible, and a proposal sent again after
    /// an unknown outcome must not add it back without a catch-up.
    pub broker_epochs: BTreeMap<i32, i64>,
}
