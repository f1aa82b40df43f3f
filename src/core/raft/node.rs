//! [`RaftNode`]: one node's Raft state machine and its driver surface: a
//! voter, or an observer (its id is not among the voters) that follows the
//! leader's log without voting (`observer.rs`).
//!
//! Driving it (raft-rs style; every input takes `now_ms`, a monotonic
//! clock reading, and nothing here reads a clock, a disk or a socket):
//!
//! 1. `RaftNode::restart(config, id, rng, durable, now_ms)` with what the
//!    disk holds (`DurableState::default()` on first start).
//! 2. Feed inputs: `step(now_ms, message)` for each peer message,
//!    `propose(now_ms, payload)` for a metadata record, `tick(now_ms)` when
//!    `poll_timeout_ms()` passes (more often is harmless),
//!    `on_persisted(id)` when a persist is durable, `on_snapshot_taken`.
//! 3. After inputs, while `has_ready()`, take `ready()` and carry it out as
//!    [`Ready`] describes.
//!
//! The election rules live in `election.rs`, replication in
//! `replication.rs`, snapshots in `snapshot_transfer.rs`; this file holds
//! the state and the surface.

use std::collections::BTreeMap;

use crate::core::raft::config::RaftConfig;
use crate::core::raft::durability::Durability;
use crate::core::raft::election_timer::ElectionRng;
use crate::core::raft::error::{ProposeError, RecoveryError, StepError};
use crate::core::raft::log::RaftLog;
use crate::core::raft::message::{Message, MessageBody};
use crate::core::raft::progress::Progress;
use crate::core::raft::ready::{LogWrite, Persist, Ready};
use crate::core::raft::snapshot_transfer::IncomingSnapshot;
use crate::core::raft::types::{
    DurableState, Entry, EntryKind, HardState, LogIndex, NodeId, Role, RoleState, Snapshot,
    SnapshotMeta, Term, RAFT_TERM_MAX,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaftNode {
    pub(super) id: NodeId,
    pub(super) config: RaftConfig,
    pub(super) rng: ElectionRng,
    pub(super) term: Term,
    pub(super) voted_for: Option<NodeId>,
    pub(super) role: Role,
    pub(super) leader: Option<NodeId>,
    pub(super) log: RaftLog,
    /// The latest snapshot (index 0 and no data before the first), kept to
    /// send to followers whose entries are compacted.
    pub(super) snapshot: Snapshot,
    pub(super) commit_index: LogIndex,
    /// The last entry handed out to apply (or installed as a snapshot).
    pub(super) applied_index: LogIndex,
    pub(super) durability: Durability,
    /// The latest `now_ms` seen (inputs never move it back).
    pub(super) now_ms: u64,
    pub(super) election_deadline_ms: u64,
    pub(super) heartbeat_due_ms: u64,
    /// When the current leader was last heard from (followers).
    pub(super) leader_contact_ms: Option<u64>,
    /// Answers to this (pre-)candidacy, own vote included.
    pub(super) votes: BTreeMap<NodeId, bool>,
    /// Leader only: every voter peer's progress, and each observer's that
    /// announced itself (at most `observers_max`; never counted).
    pub(super) progress: BTreeMap<NodeId, Progress>,
    /// Follower only: the snapshot being received in chunks.
    pub(super) incoming_snapshot: Option<IncomingSnapshot>,
    /// Messages that may be sent now.
    pub(super) outbox: Vec<Message>,
    /// A snapshot the application must install before applying more.
    pub(super) install_pending: Option<Snapshot>,
    /// A snapshot was asked for and not yet handed back.
    pub(super) snapshot_requested: bool,
    pub(super) reported_role: Option<RoleState>,
}

impl RaftNode {
    /// A voter (or an observer, if `id` is not a voter) starting from what
    /// its disk holds.
    pub fn restart(
        config: RaftConfig,
        id: NodeId,
        rng: ElectionRng,
        durable: DurableState,
        now_ms: u64,
    ) -> Result<RaftNode, RecoveryError> {
        config.assert_valid(id);
        validate_durable(&config, &durable)?;
        let snapshot = durable.snapshot.unwrap_or_default();
        let log = RaftLog::new(snapshot.meta, durable.entries);
        let stable_index = log.last_index();
        let role = if config.is_voter(id) {
            Role::Follower
        } else {
            Role::Observer
        };
        let mut node = RaftNode {
            id,
            config,
            rng,
            term: durable.hard_state.term,
            voted_for: durable.hard_state.voted_for,
            role,
            leader: None,
            log,
            commit_index: snapshot.meta.last_index,
            applied_index: snapshot.meta.last_index,
            install_pending: (snapshot.meta.last_index > 0).then(|| snapshot.clone()),
            snapshot,
            durability: Durability::new(stable_index),
            now_ms,
            election_deadline_ms: now_ms,
            heartbeat_due_ms: now_ms,
            leader_contact_ms: None,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            incoming_snapshot: None,
            outbox: Vec::new(),
            snapshot_requested: false,
            reported_role: None,
        };
        node.reset_election_deadline();
        node.assert_invariants();
        Ok(node)
    }

    // ----- What the caller may read ------------------------------------

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }
    pub fn term(&self) -> Term {
        self.term
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
    /// Not a voter: follows the log, never votes or counts.
    pub fn is_observer(&self) -> bool {
        !self.config.is_voter(self.id)
    }
    pub fn log(&self) -> &RaftLog {
        &self.log
    }
    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }
    pub fn applied_index(&self) -> LogIndex {
        self.applied_index
    }
    /// The end of the log prefix known durable.
    pub fn stable_index(&self) -> LogIndex {
        self.durability.stable_index()
    }
    pub fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot.meta
    }
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }
    pub fn role_state(&self) -> RoleState {
        RoleState {
            role: self.role,
            term: self.term,
            leader: self.leader,
        }
    }
    /// Messages waiting for a persist.
    pub fn deferred_message_count(&self) -> usize {
        self.durability.deferred_count()
    }

    /// When this node next needs a `tick`.
    pub fn poll_timeout_ms(&self) -> u64 {
        match self.role {
            Role::Leader => self.heartbeat_due_ms,
            _ => self.election_deadline_ms,
        }
    }

    // ----- Inputs -------------------------------------------------------

    /// Appends a client proposal (one metadata record) if this node leads.
    /// Returns its term and index: it is committed once an applied entry
    /// at that index has that term (another term there means it was lost
    /// with a leader change, and may be proposed again).
    pub fn propose(
        &mut self,
        now_ms: u64,
        payload: Vec<u8>,
    ) -> Result<(Term, LogIndex), ProposeError> {
        self.observe_time(now_ms);
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if payload.len() > self.config.entry_max_bytes {
            return Err(ProposeError::TooLarge {
                size_bytes: payload.len(),
                limit_bytes: self.config.entry_max_bytes,
            });
        }
        let uncommitted = (self.log.last_index() - self.commit_index) as usize;
        if uncommitted >= self.config.uncommitted_entries_max
            || self.durability.deferred_count() >= self.config.deferred_messages_max
        {
            return Err(ProposeError::Busy { uncommitted });
        }
        let index = self.append_own(EntryKind::Command(payload));
        self.replicate_to_keeping_up();
        self.assert_invariants();
        Ok((self.term, index))
    }

    /// Advances time: heartbeats and check-quorum for a leader, announcing
    /// itself for an observer, elections for everyone else.
    pub fn tick(&mut self, now_ms: u64) {
        self.observe_time(now_ms);
        if self.role == Role::Leader {
            self.leader_tick();
        } else if self.role == Role::Observer {
            self.observer_tick();
        } else if self.now_ms >= self.election_deadline_ms {
            self.campaign();
        }
        self.assert_invariants();
    }

    /// Feeds one message from a peer. A malformed one is refused whole.
    pub fn step(&mut self, now_ms: u64, message: Message) -> Result<(), StepError> {
        self.validate(&message)?;
        self.observe_time(now_ms);
        if self.step_term(&message) {
            self.dispatch(message);
        }
        self.assert_invariants();
        Ok(())
    }

    /// Every persist up to `id` is durable.
    pub fn on_persisted(&mut self, id: u64) {
        let released = self.durability.on_persisted(id);
        self.outbox.extend(released);
        if self.role == Role::Leader {
            self.maybe_commit();
        }
        self.assert_invariants();
    }

    pub fn has_ready(&self) -> bool {
        !self.outbox.is_empty()
            || self.durability.has_batch()
            || self.install_pending.is_some()
            || self.commit_index.min(self.stable_index()) > self.applied_index
            || self.snapshot_due()
            || self.reported_role != Some(self.role_state())
    }

    /// Hands out the effects gathered since the last call.
    pub fn ready(&mut self) -> Ready {
        let persist = self
            .durability
            .take_batch(self.log.last_index())
            .map(|batch| Persist {
                id: batch.id,
                snapshot: batch.snapshot.then(|| self.snapshot.clone()),
                log: batch.log_from.map(|from| {
                    let first_index = from.max(self.log.first_index());
                    LogWrite {
                        first_index,
                        entries: self.log.slice(first_index - 1, self.log.last_index()),
                    }
                }),
                hard_state: batch.hard_state.then(|| self.hard_state()),
            });
        let install_snapshot = self.install_pending.take();
        let apply_through = self
            .commit_index
            .min(self.stable_index())
            .min(self.applied_index + self.config.apply_entries_max as u64);
        let mut committed_entries = Vec::new();
        if apply_through > self.applied_index {
            committed_entries = self.log.slice(self.applied_index, apply_through);
            self.applied_index = apply_through;
        }
        let take_snapshot = self.snapshot_due().then(|| {
            self.snapshot_requested = true;
            self.applied_index
        });
        let role_now = self.role_state();
        let role_change = (self.reported_role != Some(role_now)).then_some(role_now);
        self.reported_role = Some(role_now);
        self.assert_invariants();
        Ready {
            persist,
            messages: std::mem::take(&mut self.outbox),
            install_snapshot,
            committed_entries,
            take_snapshot,
            role_change,
        }
    }

    // ----- Shared helpers -----------------------------------------------

    fn observe_time(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    fn snapshot_due(&self) -> bool {
        !self.snapshot_requested
            && self.applied_index
                >= self.snapshot.meta.last_index + self.config.snapshot_interval_entries
    }

    pub(super) fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let id = self.id;
        self.config.voters.iter().copied().filter(move |&v| v != id)
    }

    /// Queues `body` for `to`, held back until everything changed so far
    /// is durable.
    pub(super) fn send(&mut self, to: NodeId, term: Term, body: MessageBody) {
        let message = Message {
            from: self.id,
            to,
            term,
            body,
        };
        if let Some(message) = self.durability.gate(message) {
            self.outbox.push(message);
        }
    }

    pub(super) fn reset_election_deadline(&mut self) {
        if self.role == Role::Observer {
            // Not an election: when to announce itself again. No jitter
            // (observers do not compete), so no draw from the RNG.
            self.election_deadline_ms = self.now_ms + self.config.observe_interval_ms();
            return;
        }
        let timeout_ms = self.rng.timeout_ms(
            self.config.election_timeout_min_ms,
            self.config.election_timeout_max_ms,
        );
        self.election_deadline_ms = self.now_ms + timeout_ms;
    }

    /// Appends an entry of this leader's term.
    pub(super) fn append_own(&mut self, kind: EntryKind) -> LogIndex {
        assert_eq!(
            self.role,
            Role::Leader,
            "only a leader appends its own entries"
        );
        let index = self.log.last_index() + 1;
        self.log.append(Entry {
            term: self.term,
            index,
            kind,
        });
        self.durability.log_changed_from(index);
        index
    }

    /// Becomes a follower at `term` (a new term clears the vote).
    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never go backwards");
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.durability.hard_state_changed();
        }
        self.role = if self.is_observer() {
            Role::Observer
        } else {
            Role::Follower
        };
        self.leader = leader;
        self.leader_contact_ms = leader.map(|_| self.now_ms);
        self.votes.clear();
        self.progress.clear();
        self.reset_election_deadline();
    }

    /// Structural checks on a peer's message; nothing in it may make the
    /// core panic.
    fn validate(&self, message: &Message) -> Result<(), StepError> {
        if message.to != self.id {
            return Err(StepError::WrongRecipient { to: message.to });
        }
        // A non-voter may only announce itself to a leader and answer its
        // appends and snapshot chunks.
        let from_observer_kind = matches!(
            message.body,
            MessageBody::Observe
                | MessageBody::AppendEntriesResponse { .. }
                | MessageBody::InstallSnapshotResponse { .. }
        );
        if message.from == self.id || (!self.config.is_voter(message.from) && !from_observer_kind) {
            return Err(StepError::UnknownPeer { from: message.from });
        }
        let malformed = |reason| StepError::Malformed {
            from: message.from,
            reason,
        };
        if message.term > RAFT_TERM_MAX {
            return Err(malformed("term above RAFT_TERM_MAX"));
        }
        if self.is_observer() && !message.body.is_from_leader() {
            // Nobody asks an observer for a vote or sends it answers.
            return Err(malformed("an observer only takes a leader's messages"));
        }
        match &message.body {
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                ..
            } => {
                if *prev_log_term > message.term {
                    return Err(malformed("previous entry's term above the leader's"));
                }
                if entries.len() > self.config.append_entries_max {
                    return Err(malformed("more entries than append_entries_max"));
                }
                let mut term = *prev_log_term;
                for (k, entry) in entries.iter().enumerate() {
                    if Some(entry.index) != prev_log_index.checked_add(k as u64 + 1) {
                        return Err(malformed("entries not contiguous after prev_log_index"));
                    }
                    if entry.term < term || entry.term > message.term {
                        return Err(malformed("entry terms out of order"));
                    }
                    if entry.size_bytes()
                        > self.config.entry_max_bytes
                            + crate::core::raft::types::ENTRY_OVERHEAD_BYTES
                    {
                        return Err(malformed("entry above entry_max_bytes"));
                    }
                    term = entry.term;
                }
            }
            MessageBody::InstallSnapshot {
                meta,
                total_bytes,
                offset,
                data,
            } => {
                if meta.last_index == 0 || meta.last_term > message.term {
                    return Err(malformed("snapshot meta out of range"));
                }
                if *total_bytes > self.config.snapshot_max_bytes as u64 {
                    return Err(malformed("snapshot above snapshot_max_bytes"));
                }
                let end = offset.checked_add(data.len() as u64);
                if end.is_none_or(|end| end > *total_bytes)
                    || data.len() > self.config.message_max_bytes
                {
                    return Err(malformed("snapshot chunk out of range"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Asserted after every input: a violation is a bug in this core.
    pub(super) fn assert_invariants(&self) {
        assert!(
            self.applied_index <= self.commit_index,
            "applied ≤ committed"
        );
        assert!(
            self.commit_index <= self.log.last_index(),
            "committed ≤ log end"
        );
        assert_eq!(self.snapshot.meta, self.log.snapshot_meta(), "one snapshot");
        assert!(
            self.snapshot.meta.last_index <= self.applied_index,
            "snapshot ≤ applied"
        );
        assert!(
            self.stable_index() <= self.log.last_index(),
            "stable ≤ log end"
        );
        assert!(
            self.term >= self.log.last_term(),
            "no entry from the future"
        );
        assert_eq!(
            self.role == Role::Observer,
            self.is_observer(),
            "observers, and only they, have the observer role"
        );
        match self.role {
            Role::Leader => {
                assert_eq!(self.leader, Some(self.id), "a leader knows itself");
                assert_eq!(self.voted_for, Some(self.id), "a leader voted for itself");
                assert!(
                    self.peers().all(|peer| self.progress.contains_key(&peer)),
                    "progress per voter peer"
                );
                assert!(
                    self.observer_count() <= self.config.observers_max,
                    "observers tracked within observers_max"
                );
            }
            Role::Candidate => {
                assert_eq!(
                    self.voted_for,
                    Some(self.id),
                    "a candidate voted for itself"
                )
            }
            Role::Follower | Role::PreCandidate | Role::Observer => {
                assert!(self.progress.is_empty(), "only leaders track progress")
            }
        }
    }
}

fn validate_durable(config: &RaftConfig, durable: &DurableState) -> Result<(), RecoveryError> {
    let hard_state = durable.hard_state;
    if let Some(voted_for) = hard_state.voted_for {
        if !config.voters.contains(&voted_for) {
            return Err(RecoveryError::UnknownVote { voted_for });
        }
    }
    let meta = durable
        .snapshot
        .as_ref()
        .map(|s| s.meta)
        .unwrap_or_default();
    if meta.last_term > hard_state.term {
        return Err(RecoveryError::TermAboveHardState);
    }
    let mut term = meta.last_term;
    for (expected, entry) in (meta.last_index + 1..).zip(&durable.entries) {
        if entry.index != expected {
            return Err(RecoveryError::NotContiguous {
                expected,
                found: entry.index,
            });
        }
        if entry.term < term {
            return Err(RecoveryError::TermsDecrease { index: entry.index });
        }
        if entry.term > hard_state.term {
            return Err(RecoveryError::TermAboveHardState);
        }
        term = entry.term;
    }
    Ok(())
}
