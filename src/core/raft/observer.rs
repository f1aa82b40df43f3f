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
//! next `Observe`.

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

    /// A leader takes on an observer that announced itself (or, already
    /// tracking it, probes it again: it may have restarted with less).
    pub(super) fn handle_observe(&mut self, from: NodeId) {
        if self.role != Role::Leader || self.config.is_voter(from) {
            return;
        }
        let now_ms = self.now_ms;
        let last_index = self.log.last_index();
        let room = self.observer_count() < self.config.observers_max;
        match self.progress.get_mut(&from) {
            Some(progress) => {
                progress.last_heard_ms = now_ms;
                let from_index = progress.match_index + 1;
                progress.probe_from(from_index);
            }
            None if room => {
                self.progress
                    .insert(from, Progress::new(last_index, now_ms));
            }
            None => return, // full: it asks again, and a silent one expires
        }
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
