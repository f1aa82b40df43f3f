//! Elections: terms, pre-votes and votes (Raft §5.2, §5.4.1; KIP-996's
//! pre-vote and check-quorum), and which messages a term admits.

use crate::core::raft::message::{Message, MessageBody};
use crate::core::raft::node::RaftNode;
use crate::core::raft::progress::Progress;
use crate::core::raft::quorum::{vote_outcome, VoteOutcome};
use crate::core::raft::types::{EntryKind, NodeId, Role, Term, RAFT_TERM_MAX};

impl RaftNode {
    /// Whether this node believes a leader is alive: then it ignores
    /// (pre-)votes for a later term, so a node that was cut off and comes
    /// back cannot depose a healthy leader (KIP-996). A leader is in lease
    /// until check-quorum makes it step down.
    pub(super) fn in_lease(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        match self.role {
            Role::Leader => true,
            _ => {
                self.leader.is_some()
                    && self.leader_contact_ms.is_some_and(|heard_ms| {
                        self.now_ms.saturating_sub(heard_ms) < self.config.election_timeout_min_ms
                    })
            }
        }
    }

    /// Applies the term rules to `message`; false if it is done with.
    pub(super) fn step_term(&mut self, message: &Message) -> bool {
        if message.body == MessageBody::Observe {
            // An observer's announcement changes nobody's term: only a
            // leader acts on it (`observer.rs`).
            return true;
        }
        if message.term > self.term {
            match &message.body {
                body if body.is_vote_request() && self.in_lease() => return false,
                // Neither asking for nor granting a pre-vote changes a term.
                MessageBody::PreVote { .. } | MessageBody::PreVoteResponse { granted: true } => {}
                body => {
                    let leader = body.is_from_leader().then_some(message.from);
                    self.become_follower(message.term, leader);
                }
            }
            return true;
        }
        if message.term < self.term {
            // A stale leader or candidate learns our term from the answer.
            match &message.body {
                MessageBody::AppendEntries { .. } | MessageBody::InstallSnapshot { .. } => {
                    self.send(
                        message.from,
                        self.term,
                        MessageBody::AppendEntriesResponse {
                            result: crate::core::raft::message::AppendResult::Reject {
                                rejected_prev_index: 0,
                                conflict_index: 0,
                                conflict_term: None,
                            },
                        },
                    );
                }
                MessageBody::PreVote { .. } => self.send(
                    message.from,
                    self.term,
                    MessageBody::PreVoteResponse { granted: false },
                ),
                MessageBody::Vote { .. } => self.send(
                    message.from,
                    self.term,
                    MessageBody::VoteResponse { granted: false },
                ),
                _ => {}
            }
            return false;
        }
        true
    }

    /// Routes a message whose term is settled.
    pub(super) fn dispatch(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::PreVote {
                last_log_index,
                last_log_term,
            } => self.handle_pre_vote(from, message.term, last_log_index, last_log_term),
            MessageBody::Vote {
                last_log_index,
                last_log_term,
            } => self.handle_vote(from, last_log_index, last_log_term),
            MessageBody::PreVoteResponse { granted } => {
                // Granted answers carry the term we would stand in,
                // refusals our own (higher ones made us a follower).
                let expected = if granted { self.term + 1 } else { self.term };
                if self.role == Role::PreCandidate && message.term == expected {
                    self.record_vote(from, granted);
                }
            }
            MessageBody::VoteResponse { granted } => {
                if self.role == Role::Candidate {
                    self.record_vote(from, granted);
                }
            }
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                self.follow(from);
                self.handle_append(from, prev_log_index, prev_log_term, entries, leader_commit);
            }
            MessageBody::AppendEntriesResponse { result } => {
                if self.role == Role::Leader {
                    self.handle_append_response(from, result);
                }
            }
            MessageBody::InstallSnapshot {
                meta,
                total_bytes,
                offset,
                data,
            } => {
                self.follow(from);
                self.handle_snapshot_chunk(from, meta, total_bytes, offset, data);
            }
            MessageBody::InstallSnapshotResponse {
                meta,
                next_offset,
                installed,
            } => {
                if self.role == Role::Leader {
                    self.handle_snapshot_response(from, meta, next_offset, installed);
                }
            }
            MessageBody::Observe => self.handle_observe(from),
        }
    }

    /// A message from the leader of our term: follow it.
    fn follow(&mut self, leader: NodeId) {
        assert!(
            self.role != Role::Leader,
            "two leaders in term {} ({} and {leader})",
            self.term,
            self.id
        );
        let following =
            matches!(self.role, Role::Follower | Role::Observer) && self.leader == Some(leader);
        if !following {
            self.become_follower(self.term, Some(leader));
        }
        self.leader_contact_ms = Some(self.now_ms);
        self.reset_election_deadline();
    }

    /// The election timeout passed without a leader.
    pub(super) fn campaign(&mut self) {
        if self.term >= RAFT_TERM_MAX {
            // No peer takes a term past the ceiling (`validate`): standing
            // would only overflow, so wait for a leader instead.
            self.reset_election_deadline();
            return;
        }
        if self.config.pre_vote {
            self.start_pre_vote();
        } else {
            self.start_election();
        }
    }

    fn start_pre_vote(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.leader_contact_ms = None;
        self.votes.clear();
        self.votes.insert(self.id, true);
        self.reset_election_deadline();
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let peers: Vec<NodeId> = self.peers().collect();
        for peer in peers {
            self.send(
                peer,
                self.term + 1,
                MessageBody::PreVote {
                    last_log_index,
                    last_log_term,
                },
            );
        }
        self.tally();
    }

    fn start_election(&mut self) {
        self.term += 1;
        self.voted_for = Some(self.id);
        self.durability.hard_state_changed();
        self.role = Role::Candidate;
        self.leader = None;
        self.leader_contact_ms = None;
        self.votes.clear();
        self.votes.insert(self.id, true);
        self.reset_election_deadline();
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let peers: Vec<NodeId> = self.peers().collect();
        for peer in peers {
            // Held back until the new term and the own vote are durable.
            self.send(
                peer,
                self.term,
                MessageBody::Vote {
                    last_log_index,
                    last_log_term,
                },
            );
        }
        self.tally();
    }

    /// Whether a candidate's log ending at `(last_log_index,
    /// last_log_term)` may get our vote (the `vote-without-log-check` bug
    /// skips the check).
    fn log_allows_vote(&self, last_log_index: u64, last_log_term: Term) -> bool {
        self.config.bugs.vote_without_log_check
            || self.log.is_up_to_date(last_log_index, last_log_term)
    }

    fn handle_pre_vote(
        &mut self,
        from: NodeId,
        term: Term,
        last_log_index: u64,
        last_log_term: Term,
    ) {
        // A later term only (ours is current or older), nobody alive that
        // we follow (checked in `step_term`), and a log as good as ours.
        let granted = term > self.term && self.log_allows_vote(last_log_index, last_log_term);
        let answer_term = if granted { term } else { self.term };
        self.send(from, answer_term, MessageBody::PreVoteResponse { granted });
    }

    fn handle_vote(&mut self, from: NodeId, last_log_index: u64, last_log_term: Term) {
        let can_vote =
            self.voted_for == Some(from) || (self.voted_for.is_none() && self.leader.is_none());
        let granted = can_vote && self.log_allows_vote(last_log_index, last_log_term);
        if granted {
            self.voted_for = Some(from);
            self.durability.hard_state_changed();
            self.reset_election_deadline();
        }
        // Held back until the vote is durable.
        self.send(from, self.term, MessageBody::VoteResponse { granted });
    }

    fn record_vote(&mut self, from: NodeId, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        self.tally();
    }

    fn tally(&mut self) {
        let granted = self.votes.values().filter(|&&g| g).count();
        let rejected = self.votes.len() - granted;
        match (
            vote_outcome(granted, rejected, self.config.voters.len()),
            self.role,
        ) {
            (VoteOutcome::Won, Role::PreCandidate) => self.start_election(),
            (VoteOutcome::Won, Role::Candidate) => self.become_leader(),
            (VoteOutcome::Lost, _) => self.become_follower(self.term, None),
            _ => {}
        }
    }

    fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader"
        );
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.leader_contact_ms = None;
        self.votes.clear();
        let last_index = self.log.last_index();
        let now_ms = self.now_ms;
        let peers: Vec<NodeId> = self.peers().collect();
        self.progress = peers
            .into_iter()
            .map(|peer| (peer, Progress::new(last_index, now_ms)))
            .collect();
        // Raft §8: an entry of the new term, so that counting replicas can
        // commit it and everything before it.
        self.append_own(EntryKind::NoOp);
        self.heartbeat_due_ms = self.now_ms + self.config.heartbeat_interval_ms;
        self.broadcast_append();
        // A single voter commits on its own persist.
        self.maybe_commit();
    }

    /// Check-quorum: a leader that has not heard from a majority within
    /// the minimum election timeout steps down (KIP-996).
    pub(super) fn has_active_quorum(&self) -> bool {
        // Voters only: observers never keep a leader in office.
        let heard = self
            .progress
            .iter()
            .filter(|(peer, _)| self.config.is_voter(**peer))
            .map(|(_, p)| p)
            .filter(|p| {
                self.now_ms.saturating_sub(p.last_heard_ms) < self.config.election_timeout_min_ms
            })
            .count();
        heard + 1 >= self.config.majority()
    }

    pub(super) fn leader_tick(&mut self) {
        if self.config.check_quorum && !self.has_active_quorum() {
            self.become_follower(self.term, None);
            return;
        }
        self.forget_silent_observers();
        if self.now_ms >= self.heartbeat_due_ms {
            self.heartbeat_due_ms = self.now_ms + self.config.heartbeat_interval_ms;
            self.heartbeat();
        }
    }
}
