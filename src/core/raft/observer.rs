//! Observers (KRaft's broker-only nodes): a node whose id is not among the
//! voters follows the leader's log, installs its snapshots and applies
//! what is committed, but never votes, campaigns, or counts toward a
//! commit or a leader's quorum.
//!
//! Voters do not know the observers in advance (`--voters` lists only
//! voters), so an observer that has not heard from a leader for
//! `observe_interval_ms` sends `Observe` to every voter, and again at that
//! interval while it hears nothing. A leader that gets it tracks the
//! observer (at most `observers_max`) and replicates to it like to a
//! follower, outside every count; it forgets an observer silent for
//! `observer_timeout_ms`. A new leader learns of its observers from their
//! next `Observe`. An observer's match counts toward nothing, so a leader
//! starts one over (match 0) when it re-announces itself or rejects what it
//! once acknowledged (`replication.rs`): one that lost its disk catches up.

use crate::core::raft::message::MessageBody;
use crate::core::raft::node::RaftNode;
use crate::core::raft::progress::Progress;
use crate::core::raft::types::{NodeId, Role};

impl RaftNode {
    /// Observers this leader replicates to.
    pub fn observer_count(&self) -> usize {
        self.progress
            .keys()
            .filter(|peer| !self.config.is_voter(**peer))
            .count()
    }

    /// Every node a leader sends appends to: the voter peers, then its
    /// observers.
    pub(super) fn replication_targets(&self) -> Vec<NodeId> {
        self.progress.keys().copied().collect()
    }

    /// A leader takes on an observer that announced itself. One it already
    /// tracks starts over from an unknown match: it announces itself only
    /// after hearing nothing for a while, so it may have restarted, even
    /// on an empty disk (an observer's match counts toward nothing, so
    /// forgetting it costs one probe round and risks no commit).
    pub(super) fn handle_observe(&mut self, from: NodeId) {
        if self.role != Role::Leader || self.config.is_voter(from) {
            return;
        }
        let tracked = self.progress.contains_key(&from);
        if !tracked && self.observer_count() >= self.config.observers_max {
            return; // full: it asks again, and a silent one expires
        }
        let progress = Progress::new(self.log.last_index(), self.now_ms);
        self.progress.insert(from, progress);
        self.send_append(from);
    }

    /// A leader forgets observers it has not heard from for
    /// `observer_timeout_ms` (they announce themselves again).
    pub(super) fn forget_silent_observers(&mut self) {
        let now_ms = self.now_ms;
        let timeout_ms = self.config.observer_timeout_ms;
        let voters = &self.config.voters;
        self.progress.retain(|peer, progress| {
            voters.contains(peer) || now_ms.saturating_sub(progress.last_heard_ms) < timeout_ms
        });
    }

    /// An observer's tick: with no word from a leader for
    /// `observe_interval_ms`, announce itself to every voter; after a whole
    /// lease without one, stop naming a leader.
    pub(super) fn observer_tick(&mut self) {
        assert_eq!(
            self.role,
            Role::Observer,
            "only observers announce themselves"
        );
        if self.now_ms < self.election_deadline_ms {
            return;
        }
        let silent_for_ms = self
            .leader_contact_ms
            .map_or(u64::MAX, |heard_ms| self.now_ms.saturating_sub(heard_ms));
        if silent_for_ms >= self.config.election_timeout_min_ms {
            self.leader = None;
        }
        let voters: Vec<NodeId> = self.config.voters.iter().copied().collect();
        for voter in voters {
            self.send(voter, self.term, MessageBody::Observe);
        }
        self.reset_election_deadline();
    }
}
