//! What a leader knows about one follower's log.

use crate::core::raft::types::{LogIndex, SnapshotMeta};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressState {
    /// The follower's log end is unknown: one append at a time, backing off
    /// on rejections.
    Probe,
    /// The follower is keeping up: appends are pipelined.
    Replicate,
    /// The entries it needs are compacted: sending this snapshot, the bytes
    /// before `offset` acknowledged.
    Snapshot { meta: SnapshotMeta, offset: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Progress {
    /// The highest index known (durably) to match the leader's log.
    pub match_index: LogIndex,
    /// The next index to send.
    pub next_index: LogIndex,
    pub state: ProgressState,
    /// Appends sent in Replicate state and not yet answered.
    pub inflight: usize,
    /// Last time the follower answered anything in this term (check-quorum).
    pub last_heard_ms: u64,
}

impl Progress {
    pub fn new(leader_last_index: LogIndex, now_ms: u64) -> Progress {
        Progress {
            match_index: 0,
            next_index: leader_last_index + 1,
            state: ProgressState::Probe,
            inflight: 0,
            last_heard_ms: now_ms,
        }
    }

    /// Records a successful append up to `match_index`.
    pub fn on_success(&mut self, match_index: LogIndex) {
        if match_index > self.match_index {
            self.match_index = match_index;
        }
        self.next_index = self.next_index.max(self.match_index + 1);
        // A snapshot transfer goes on unless the log already reaches past it.
        match self.state {
            ProgressState::Snapshot { meta, .. } if self.match_index < meta.last_index => {}
            _ => self.state = ProgressState::Replicate,
        }
        self.inflight = self.inflight.saturating_sub(1);
        self.assert_valid();
    }

    /// Moves back to `next_index` (clamped above the match) and probes.
    pub fn probe_from(&mut self, next_index: LogIndex) {
        self.next_index = next_index.max(self.match_index + 1);
        self.state = ProgressState::Probe;
        self.inflight = 0;
        self.assert_valid();
    }

    pub fn assert_valid(&self) {
        assert!(
            self.next_index > self.match_index,
            "next index is past the match"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_never_moves_the_match_back_and_probing_stays_above_it() {
        let mut progress = Progress::new(10, 0);
        progress.on_success(7);
        assert_eq!((progress.match_index, progress.next_index), (7, 11));
        assert_eq!(progress.state, ProgressState::Replicate);
        progress.on_success(5);
        assert_eq!(
            progress.match_index, 7,
            "a late answer does not lower the match"
        );
        progress.state = ProgressState::Snapshot {
            meta: SnapshotMeta {
                last_index: 9,
                last_term: 1,
            },
            offset: 0,
        };
        progress.on_success(8);
        assert!(
            matches!(progress.state, ProgressState::Snapshot { .. }),
            "still needed"
        );
        progress.on_success(9);
        assert_eq!(
            progress.state,
            ProgressState::Replicate,
            "caught up past it"
        );
        progress.probe_from(3);
        assert_eq!(progress.next_index, 10, "never probe below the match");
        assert_eq!(progress.state, ProgressState::Probe);
    }
}
