//! Snapshots: compacting the log behind the application's snapshot, a
//! leader sending its snapshot in chunks of at most `message_max_bytes`
//! to a follower whose entries are compacted, and the follower assembling
//! and installing it (Raft §7).

use crate::core::raft::error::SnapshotError;
use crate::core::raft::message::MessageBody;
use crate::core::raft::node::RaftNode;
use crate::core::raft::progress::ProgressState;
use crate::core::raft::types::{LogIndex, NodeId, Snapshot, SnapshotMeta};

/// A snapshot a follower is receiving.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IncomingSnapshot {
    pub meta: SnapshotMeta,
    pub total_bytes: u64,
    pub data: Vec<u8>,
}

impl RaftNode {
    /// The application serialized its state after applying `index`
    /// (normally the index a `Ready::take_snapshot` named). The log up to
    /// it is compacted; the snapshot is persisted with the next `Ready`.
    pub fn on_snapshot_taken(
        &mut self,
        index: LogIndex,
        data: Vec<u8>,
    ) -> Result<(), SnapshotError> {
        self.snapshot_requested = false;
        if index <= self.snapshot.meta.last_index || index > self.applied_index {
            return Err(SnapshotError::OutOfRange {
                index,
                snapshot_index: self.snapshot.meta.last_index,
                applied_index: self.applied_index,
            });
        }
        if data.len() > self.config.snapshot_max_bytes {
            return Err(SnapshotError::TooLarge {
                size_bytes: data.len(),
                limit_bytes: self.config.snapshot_max_bytes,
            });
        }
        let meta = SnapshotMeta {
            last_index: index,
            last_term: self.log.term_at(index).expect("applied entries are held"),
        };
        self.log.compact_to(meta);
        self.snapshot = Snapshot { meta, data };
        self.durability.snapshot_changed();
        self.assert_invariants();
        Ok(())
    }

    // ----- Leader -------------------------------------------------------

    /// Sends `peer` the next chunk of the current snapshot (restarting the
    /// transfer if the snapshot changed since it began).
    pub(super) fn send_snapshot_chunk(&mut self, peer: NodeId) {
        let current = self.snapshot.meta;
        assert!(
            current.last_index > 0,
            "a snapshot exists when entries are compacted"
        );
        let progress = self.progress.get_mut(&peer).expect("progress per peer");
        let offset = match progress.state {
            ProgressState::Snapshot { meta, offset } if meta == current => offset,
            _ => {
                progress.state = ProgressState::Snapshot {
                    meta: current,
                    offset: 0,
                };
                progress.inflight = 0;
                0
            }
        };
        let total_bytes = self.snapshot.data.len() as u64;
        let start = offset.min(total_bytes) as usize;
        let end = (start + self.config.message_max_bytes).min(self.snapshot.data.len());
        let body = MessageBody::InstallSnapshot {
            meta: current,
            total_bytes,
            offset: start as u64,
            data: self.snapshot.data[start..end].to_vec(),
        };
        self.send(peer, self.term, body);
    }

    pub(super) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        next_offset: u64,
        installed: bool,
    ) {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return; // an observer this leader does not (or no longer) track
        };
        progress.last_heard_ms = self.now_ms;
        if installed {
            if meta.last_index > last_index {
                return; // not a snapshot of ours
            }
            // Any snapshot it holds (this one or an older transfer's) is a
            // prefix of our log: it matches us that far, durably.
            let this_transfer = matches!(progress.state, ProgressState::Snapshot { meta: sending, .. } if sending == meta);
            if this_transfer || meta.last_index > progress.match_index {
                progress.state = ProgressState::Probe;
                progress.on_success(meta.last_index);
                self.maybe_commit();
                self.send_append(from);
            }
            return;
        }
        if let ProgressState::Snapshot {
            meta: sending,
            offset,
        } = progress.state
        {
            if sending == meta && next_offset != offset {
                progress.state = ProgressState::Snapshot {
                    meta,
                    offset: next_offset,
                };
                self.send_snapshot_chunk(from);
            }
        }
    }

    // ----- Follower -----------------------------------------------------

    pub(super) fn handle_snapshot_chunk(
        &mut self,
        leader: NodeId,
        meta: SnapshotMeta,
        total_bytes: u64,
        offset: u64,
        data: Vec<u8>,
    ) {
        if meta.last_index <= self.commit_index {
            // Committed here already, so our log holds it: nothing to do.
            self.incoming_snapshot = None;
            self.reply_snapshot(leader, meta, total_bytes, true);
            return;
        }
        let continues = self
            .incoming_snapshot
            .as_ref()
            .is_some_and(|s| s.meta == meta && s.total_bytes == total_bytes);
        if !continues {
            if offset != 0 {
                self.reply_snapshot(leader, meta, 0, false);
                return;
            }
            self.incoming_snapshot = Some(IncomingSnapshot {
                meta,
                total_bytes,
                data: Vec::new(),
            });
        }
        let incoming = self
            .incoming_snapshot
            .as_mut()
            .expect("receiving a snapshot");
        if offset != incoming.data.len() as u64 {
            let have = incoming.data.len() as u64;
            self.reply_snapshot(leader, meta, have, false);
            return;
        }
        incoming.data.extend_from_slice(&data);
        if (incoming.data.len() as u64) < total_bytes {
            let have = incoming.data.len() as u64;
            self.reply_snapshot(leader, meta, have, false);
            return;
        }
        let incoming = self.incoming_snapshot.take().expect("receiving a snapshot");
        self.install_snapshot(Snapshot {
            meta,
            data: incoming.data,
        });
        // Held back until the snapshot is durable.
        self.reply_snapshot(leader, meta, total_bytes, true);
    }

    /// Replaces the state by a leader's snapshot past our commit index,
    /// keeping the log after it if it matches (Raft §7).
    fn install_snapshot(&mut self, snapshot: Snapshot) {
        let meta = snapshot.meta;
        assert!(
            meta.last_index > self.commit_index,
            "only news is installed"
        );
        if self.log.term_at(meta.last_index) == Some(meta.last_term) {
            self.log.compact_to(meta);
        } else {
            // Everything after our commit index may differ from the leader.
            self.durability.log_changed_from(self.commit_index + 1);
            self.log.reset_to(meta);
        }
        self.snapshot = snapshot.clone();
        self.durability.snapshot_changed();
        self.commit_index = meta.last_index;
        self.applied_index = meta.last_index;
        self.install_pending = Some(snapshot);
        self.snapshot_requested = false;
    }

    fn reply_snapshot(
        &mut self,
        leader: NodeId,
        meta: SnapshotMeta,
        next_offset: u64,
        installed: bool,
    ) {
        self.send(
            leader,
            self.term,
            MessageBody::InstallSnapshotResponse {
                meta,
                next_offset,
                installed,
            },
        );
    }
}
