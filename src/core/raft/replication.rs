//! Log replication: the leader's AppendEntries and what it learns from the
//! answers, the follower's consistency check and fast backoff hint, and
//! the commit rule (Raft §5.3, §5.4.2).

use crate::core::raft::message::{AppendResult, MessageBody};
use crate::core::raft::node::RaftNode;
use crate::core::raft::progress::ProgressState;
use crate::core::raft::quorum::majority_index;
use crate::core::raft::types::{Entry, LogIndex, NodeId, Role, Term};

impl RaftNode {
    // ----- Leader -------------------------------------------------------

    pub(super) fn broadcast_append(&mut self) {
        let peers = self.replication_targets();
        for peer in peers {
            self.send_append(peer);
        }
    }

    /// Every heartbeat interval: each follower gets an append from its
    /// match (resending whatever was not acknowledged, since messages can
    /// be lost) or the next snapshot chunk. This also carries the commit
    /// index to followers.
    pub(super) fn heartbeat(&mut self) {
        let peers = self.replication_targets();
        for peer in peers {
            let progress = self.progress.get_mut(&peer).expect("progress per peer");
            if progress.state == ProgressState::Replicate {
                let match_index = progress.match_index;
                progress.probe_from(match_index + 1);
            }
            self.send_append(peer);
        }
    }

    /// After a proposal: pipeline to followers that keep up.
    pub(super) fn replicate_to_keeping_up(&mut self) {
        let peers = self.replication_targets();
        for peer in peers {
            let progress = &self.progress[&peer];
            if progress.state == ProgressState::Replicate
                && progress.inflight < self.config.inflight_appends_max
                && progress.next_index <= self.log.last_index()
            {
                self.send_append(peer);
            }
        }
    }

    /// Sends `peer` the entries from its next index, or the snapshot when
    /// they are compacted.
    pub(super) fn send_append(&mut self, peer: NodeId) {
        let snapshot_index = self.log.snapshot_meta().last_index;
        let progress = self.progress.get_mut(&peer).expect("progress per peer");
        if matches!(progress.state, ProgressState::Snapshot { .. })
            || progress.next_index - 1 < snapshot_index
        {
            self.send_snapshot_chunk(peer);
            return;
        }
        let prev_log_index = progress.next_index - 1;
        let prev_log_term = self
            .log
            .term_at(prev_log_index)
            .expect("the entry before next is held");
        let entries = if progress.next_index <= self.log.last_index() {
            self.log.entries_from(
                progress.next_index,
                self.config.append_entries_max,
                self.config.message_max_bytes,
            )
        } else {
            Vec::new()
        };
        if progress.state == ProgressState::Replicate {
            if let Some(last) = entries.last() {
                progress.next_index = last.index + 1;
                progress.inflight += 1;
            }
        }
        let body = MessageBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
        };
        self.send(peer, self.term, body);
    }

    pub(super) fn handle_append_response(&mut self, from: NodeId, result: AppendResult) {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return; // an observer this leader does not (or no longer) track
        };
        progress.last_heard_ms = self.now_ms;
        match result {
            AppendResult::Success { match_index } => {
                if match_index > last_index {
                    return; // we never sent that much: not an answer to us
                }
                progress.on_success(match_index);
                self.maybe_commit();
                self.replicate_to_keeping_up();
            }
            AppendResult::Reject {
                rejected_prev_index,
                conflict_index,
                conflict_term,
            } => {
                if rejected_prev_index > last_index {
                    // We never sent an append after an entry we do not
                    // hold: not an answer to us. Taken, it would make the
                    // next append start past our log (and its
                    // `rejected_prev_index + 1` overflow at u64::MAX).
                    return;
                }
                if !self.config.is_voter(from) && rejected_prev_index <= progress.match_index {
                    // An observer lacking what it once acknowledged lost its
                    // disk (or this is a late answer): it counts toward
                    // nothing, so start over from its hint (`observer.rs`).
                    progress.match_index = 0;
                    progress.state = ProgressState::Probe;
                }
                let stale = match progress.state {
                    ProgressState::Probe => rejected_prev_index + 1 != progress.next_index,
                    ProgressState::Replicate => rejected_prev_index <= progress.match_index,
                    ProgressState::Snapshot { .. } => true,
                };
                if stale || rejected_prev_index == 0 {
                    return;
                }
                // Skip the follower's whole conflicting term (thesis §5.3).
                let hint = match conflict_term.and_then(|t| self.log.last_index_of_term(t)) {
                    Some(last_of_term) => last_of_term + 1,
                    None => conflict_index,
                };
                let next_index = hint.clamp(1, rejected_prev_index);
                let progress = self.progress.get_mut(&from).expect("progress per peer");
                progress.probe_from(next_index);
                self.send_append(from);
            }
        }
    }

    /// Commits the highest index a majority holds durably, if it is of
    /// this leader's term (Raft §5.4.2). Earlier terms' entries commit with
    /// it, never by counting their own replicas — unless the
    /// `commit-old-term` bug is on.
    pub(super) fn maybe_commit(&mut self) {
        assert_eq!(self.role, Role::Leader, "only a leader counts replicas");
        let mut indexes: Vec<LogIndex> = vec![self.stable_index()];
        // Voters only: an observer's copy never makes an entry committed.
        indexes.extend(
            self.progress
                .iter()
                .filter(|(peer, _)| self.config.is_voter(**peer))
                .map(|(_, p)| p.match_index),
        );
        let majority = majority_index(&indexes, self.config.majority());
        if majority <= self.commit_index {
            return;
        }
        let of_this_term = self.log.term_at(majority) == Some(self.term);
        if of_this_term || self.config.bugs.commit_old_term {
            self.commit_index = majority;
        }
    }

    // ----- Follower -----------------------------------------------------

    pub(super) fn handle_append(
        &mut self,
        leader: NodeId,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        mut entries: Vec<Entry>,
        leader_commit: LogIndex,
    ) {
        let (mut prev_index, mut prev_term) = (prev_log_index, prev_log_term);
        // Our committed prefix equals every leader's (leader completeness):
        // skip what the message repeats of it.
        if prev_index < self.commit_index {
            let covered = (self.commit_index - prev_index) as usize;
            if covered >= entries.len() {
                let match_index = prev_index + entries.len() as u64;
                self.reply_append(leader, AppendResult::Success { match_index });
                return;
            }
            entries.drain(..covered);
            prev_index = self.commit_index;
            prev_term = self
                .log
                .term_at(prev_index)
                .expect("the commit index is held");
        }
        if self.log.term_at(prev_index) != Some(prev_term) {
            let (conflict_index, conflict_term) = match self.log.term_at(prev_index) {
                None => (self.log.last_index() + 1, None),
                Some(term) => (
                    self.log.first_index_of_term_run(prev_index, term),
                    Some(term),
                ),
            };
            self.reply_append(
                leader,
                AppendResult::Reject {
                    rejected_prev_index: prev_log_index,
                    conflict_index,
                    conflict_term,
                },
            );
            return;
        }
        let last_new = prev_index + entries.len() as u64;
        for entry in entries {
            match self.log.term_at(entry.index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    assert!(
                        entry.index > self.commit_index,
                        "node {} truncates committed entry {} (commit {})",
                        self.id,
                        entry.index,
                        self.commit_index
                    );
                    self.log.truncate_from(entry.index);
                }
                None => {}
            }
            self.durability.log_changed_from(entry.index);
            self.log.append(entry);
        }
        let commit = leader_commit.min(last_new);
        if commit > self.commit_index {
            self.commit_index = commit;
        }
        // Held back until the entries are durable.
        self.reply_append(
            leader,
            AppendResult::Success {
                match_index: last_new,
            },
        );
    }

    fn reply_append(&mut self, leader: NodeId, result: AppendResult) {
        self.send(
            leader,
            self.term,
            MessageBody::AppendEntriesResponse { result },
        );
    }
}
