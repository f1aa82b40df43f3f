//! The Raft core's configuration: the fixed voter set, timeouts, every
//! limit by name, and the bug switches that prove the checkers have teeth.

use std::collections::BTreeSet;

use crate::core::raft::types::NodeId;

/// Classic Raft bugs that can be switched back on (DESIGN.md, "Proving the
/// checkers have teeth"). Off in every real configuration; plain fields so
/// that the model checker and the simulator can set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RaftBugs {
    /// `vote-without-log-check`: grant votes (and pre-votes) without the
    /// log up-to-date check of Raft §5.4.1, so a voter missing committed
    /// entries can become leader.
    pub vote_without_log_check: bool,
    /// `commit-old-term`: a leader commits an entry of an earlier term by
    /// counting its replicas (Raft §5.4.2, Figure 8), which a later leader
    /// may overwrite.
    pub commit_old_term: bool,
}

impl RaftBugs {
    /// The `--bug` names these switches answer to.
    pub const NAMES: [&'static str; 2] = ["vote-without-log-check", "commit-old-term"];

    /// Switches on the bug called `name`; false if the name is not ours.
    pub fn enable(&mut self, name: &str) -> bool {
        match name {
            "vote-without-log-check" => self.vote_without_log_check = true,
            "commit-old-term" => self.commit_old_term = true,
            _ => return false,
        }
        true
    }

    pub fn any(&self) -> bool {
        self.vote_without_log_check || self.commit_old_term
    }
}

/// Every timeout and limit of one node. Times are in milliseconds of the
/// monotonic clock the caller passes as `now_ms`. A node whose id is not in
/// `voters` is an observer (KRaft's broker-only node): it follows the
/// leader's log without voting or counting toward a commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaftConfig {
    /// The fixed voter set (`--voters`); this node is one of them, or an
    /// observer.
    pub voters: BTreeSet<NodeId>,
    /// A follower that hears nothing from a leader for a random time in
    /// `[election_timeout_min_ms, election_timeout_max_ms)` starts an
    /// election (KRaft: `controller.quorum.election.timeout.ms` plus
    /// `controller.quorum.election.backoff.max.ms` of jitter). The minimum
    /// is also the lease: a voter that heard from its leader more recently
    /// ignores (pre-)votes, and a leader that has not heard from a majority
    /// within it steps down (check-quorum).
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// How often a leader sends AppendEntries (heartbeats and retransmits)
    /// to every follower.
    pub heartbeat_interval_ms: u64,
    /// Ask a majority whether we could win before raising the term
    /// (KIP-996). Off only in tests that show what it prevents.
    pub pre_vote: bool,
    /// Leaders step down without a majority, followers ignore votes while
    /// they hear from a leader (KIP-996). Off only in tests.
    pub check_quorum: bool,
    /// Entries in one AppendEntries.
    pub append_entries_max: usize,
    /// Bytes of entries in one AppendEntries (at least one entry is always
    /// sent) and of one InstallSnapshot chunk.
    pub message_max_bytes: usize,
    /// Largest proposal payload; a larger one is refused. At most
    /// `message_max_bytes`, so one entry always fits one message.
    pub entry_max_bytes: usize,
    /// Entries a leader holds above its commit index before it refuses
    /// proposals (KRaft bounds its accumulator the same way).
    pub uncommitted_entries_max: usize,
    /// AppendEntries a leader has in flight to one follower that is keeping
    /// up, before it waits for answers.
    pub inflight_appends_max: usize,
    /// Committed entries handed out for applying in one `Ready`.
    pub apply_entries_max: usize,
    /// A snapshot is requested when this many applied entries follow the
    /// last one (KRaft: `metadata.log.max.record.bytes.between.snapshots`,
    /// counted in entries here).
    pub snapshot_interval_entries: u64,
    /// Largest snapshot accepted from the application or assembled from a
    /// leader's chunks.
    pub snapshot_max_bytes: usize,
    /// Messages waiting for a persist before they may be sent; beyond it
    /// the oldest stay queued and new proposals are refused.
    pub deferred_messages_max: usize,
    /// Observers a leader replicates to at once; an `Observe` beyond it is
    /// ignored until one of them times out.
    pub observers_max: usize,
    /// A leader forgets an observer it has not heard from for this long
    /// (it announces itself again with `Observe` when it hears nothing).
    pub observer_timeout_ms: u64,
    pub bugs: RaftBugs,
}

impl RaftConfig {
    /// Defaults close to KRaft's (election timeout 1 s, jitter up to 1 s).
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> RaftConfig {
        RaftConfig {
            voters: voters.into_iter().collect(),
            election_timeout_min_ms: 1_000,
            election_timeout_max_ms: 2_000,
            heartbeat_interval_ms: 100,
            pre_vote: true,
            check_quorum: true,
            append_entries_max: 512,
            message_max_bytes: 1 << 20,
            entry_max_bytes: 1 << 20,
            uncommitted_entries_max: 4_096,
            inflight_appends_max: 8,
            apply_entries_max: 1_024,
            snapshot_interval_entries: 20_000,
            snapshot_max_bytes: 256 << 20,
            deferred_messages_max: 100_000,
            observers_max: 64,
            observer_timeout_ms: 10_000,
            bugs: RaftBugs::default(),
        }
    }

    /// Voters needed for a decision.
    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// How long an observer waits without hearing from a leader before it
    /// announces itself to the voters (again): half the lease, so that a
    /// new leader learns of it well within one election.
    pub fn observe_interval_ms(&self) -> u64 {
        (self.election_timeout_min_ms / 2).max(1)
    }

    /// Asserts the configuration is usable (a programming error if not).
    pub fn assert_valid(&self, _id: NodeId) {
        assert!(!self.voters.is_empty(), "a quorum has voters");
        assert!(
            self.election_timeout_min_ms > 0
                && self.election_timeout_min_ms < self.election_timeout_max_ms,
            "the election timeout range is non-empty"
        );
        assert!(
            self.heartbeat_interval_ms > 0
                && self.heartbeat_interval_ms < self.election_timeout_min_ms,
            "heartbeats come more often than elections"
        );
        assert!(self.append_entries_max > 0, "an append carries entries");
        assert!(
            self.entry_max_bytes > 0 && self.entry_max_bytes <= self.message_max_bytes,
            "one entry fits one message"
        );
        assert!(self.uncommitted_entries_max > 0, "a leader takes proposals");
        assert!(self.inflight_appends_max > 0, "appends can be in flight");
        assert!(self.apply_entries_max > 0, "committed entries get applied");
        assert!(
            self.snapshot_interval_entries > 0,
            "snapshots have an interval"
        );
        assert!(self.snapshot_max_bytes > 0, "snapshots can hold data");
        assert!(
            self.deferred_messages_max > 0,
            "messages can wait for a persist"
        );
        assert!(
            self.observer_timeout_ms > self.observe_interval_ms(),
            "an observer announces itself before a leader forgets it"
        );
    }
}
