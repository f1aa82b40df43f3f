//! A partition replica's state machine.
//!
//! The server tells it what happened to the local log (`on_local_append`,
//! `on_local_sync`) and registers produce requests that wait for an
//! acknowledgement (`await_produce`); it answers with [`PartitionAction`]s:
//! the high watermark moved, a produce request may be answered. It never
//! touches the log itself. Followers (replication) plug in through
//! `isr` end offsets in a later wave; a single node is a leader whose ISR is
//! itself.

use std::collections::BTreeMap;

use crate::core::partition::high_watermark::high_watermark;
use crate::core::topic_config::FsyncPolicy;

pub use crate::core::partition::acks::Acks;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceWaitError {
    /// acks=all and the ISR is smaller than `min.insync.replicas`.
    NotEnoughReplicasAfterAppend,
    /// This replica stopped leading before the records were committed.
    NotLeader,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionAction {
    HighWatermarkAdvanced {
        high_watermark: i64,
    },
    AnswerProduce {
        request_id: u64,
        result: Result<(), ProduceWaitError>,
    },
}

#[derive(Debug, Clone, Copy)]
struct PendingProduce {
    end_offset: i64,
    acks: Acks,
}

#[derive(Debug, Clone)]
pub struct PartitionReplica {
    node_id: i32,
    leader_epoch: i32,
    is_leader: bool,
    isr: Vec<i32>,
    fsync_policy: FsyncPolicy,
    min_insync_replicas: usize,
    log_end_offset: i64,
    durable_end_offset: i64,
    high_watermark: i64,
    /// Waiting produce requests by request id.
    pending: BTreeMap<u64, PendingProduce>,
    /// Test-only: answer `fsync.policy=always` produces before the sync.
    ack_before_sync: bool,
}

impl PartitionReplica {
    /// A replica that leads in `leader_epoch` with `isr`, over a log whose
    /// recovered end is `log_end_offset`, opening with the high watermark
    /// `initial_high_watermark` (the checkpointed one, within the log).
    /// Data recovered from disk after a restart is treated as durable.
    ///
    /// As Kafka's `Partition.makeLeader` (`maybeIncrementLeaderHW`), the new
    /// leader then raises the high watermark to the smallest end offset of
    /// its ISR: with the ISR {self} that is its own end, so on one node a
    /// restarted leader serves what it recovered, exactly as Kafka does.
    pub fn new_leader(
        node_id: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
        fsync_policy: FsyncPolicy,
        min_insync_replicas: usize,
        log_end_offset: i64,
        initial_high_watermark: i64,
    ) -> PartitionReplica {
        assert!(
            (0..=log_end_offset).contains(&initial_high_watermark),
            "the initial high watermark {initial_high_watermark} lies within the log (end {log_end_offset})"
        );
        assert!(isr.contains(&node_id), "a leader is in its own ISR");
        let mut replica = PartitionReplica {
            node_id,
            leader_epoch,
            is_leader: true,
            isr,
            fsync_policy,
            min_insync_replicas: min_insync_replicas.max(1),
            log_end_offset,
            durable_end_offset: log_end_offset,
            high_watermark: initial_high_watermark,
            pending: BTreeMap::new(),
            ack_before_sync: false,
        };
        replica.high_watermark = replica.high_watermark.max(replica.compute_high_watermark());
        replica
    }

    pub fn set_ack_before_sync_bug(&mut self, on: bool) {
        self.ack_before_sync = on;
    }
    pub fn set_fsync_policy(&mut self, policy: FsyncPolicy) {
        self.fsync_policy = policy;
    }
    /// `min.insync.replicas` changed (AlterConfigs): later acks=all
    /// produces need this many in-sync replicas.
    pub fn set_min_insync_replicas(&mut self, count: usize) {
        self.min_insync_replicas = count.max(1);
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    pub fn is_leader(&self) -> bool {
        self.is_leader
    }
    pub fn isr(&self) -> &[i32] {
        &self.isr
    }
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The end offset this leader counts for itself: with `fsync=always`
    /// only synced records count, so consumers never see what a crash loses.
    fn own_end_offset(&self) -> i64 {
        match self.fsync_policy {
            FsyncPolicy::Always => self.durable_end_offset,
            FsyncPolicy::Interval | FsyncPolicy::Never => self.log_end_offset,
        }
    }

    fn compute_high_watermark(&self) -> i64 {
        // Followers join the ISR through replication (later wave); until
        // then the ISR is this node alone.
        let ends: Vec<i64> = self
            .isr
            .iter()
            .filter(|r| **r == self.node_id)
            .map(|_| self.own_end_offset())
            .collect();
        high_watermark(&ends).unwrap_or(self.high_watermark)
    }

    /// The log grew to `log_end_offset` (an append by this leader).
    pub fn on_local_append(&mut self, log_end_offset: i64) -> Vec<PartitionAction> {
        assert!(
            log_end_offset >= self.log_end_offset,
            "appends only grow the log"
        );
        self.log_end_offset = log_end_offset;
        self.progress()
    }

    /// Everything below `durable_end_offset` is synced.
    pub fn on_local_sync(&mut self, durable_end_offset: i64) -> Vec<PartitionAction> {
        let durable = durable_end_offset.min(self.log_end_offset);
        self.durable_end_offset = self.durable_end_offset.max(durable);
        self.progress()
    }

    /// The log start moved (retention); the high watermark never trails it.
    pub fn on_log_start_advanced(&mut self, log_start_offset: i64) -> Vec<PartitionAction> {
        if self.high_watermark < log_start_offset {
            self.high_watermark = log_start_offset;
            return vec![PartitionAction::HighWatermarkAdvanced {
                high_watermark: log_start_offset,
            }];
        }
        Vec::new()
    }

    /// Registers a produce request whose records end at `end_offset`
    /// (exclusive); it is answered by a later action, or at once.
    pub fn await_produce(
        &mut self,
        request_id: u64,
        end_offset: i64,
        acks: Acks,
    ) -> Vec<PartitionAction> {
        assert!(
            end_offset <= self.log_end_offset,
            "a produce waits for appended records"
        );
        assert!(
            !self.pending.contains_key(&request_id),
            "request ids are unique"
        );
        if !self.is_leader {
            return vec![PartitionAction::AnswerProduce {
                request_id,
                result: Err(ProduceWaitError::NotLeader),
            }];
        }
        self.pending
            .insert(request_id, PendingProduce { end_offset, acks });
        self.release_ready()
    }

    /// Leadership moved away: every waiting produce fails with NotLeader.
    pub fn resign(&mut self) -> Vec<PartitionAction> {
        self.is_leader = false;
        std::mem::take(&mut self.pending)
            .into_keys()
            .map(|request_id| PartitionAction::AnswerProduce {
                request_id,
                result: Err(ProduceWaitError::NotLeader),
            })
            .collect()
    }

    fn progress(&mut self) -> Vec<PartitionAction> {
        let mut actions = Vec::new();
        let hw = self.compute_high_watermark();
        assert!(
            hw <= self.log_end_offset,
            "high watermark {hw} past the log end"
        );
        if hw > self.high_watermark {
            self.high_watermark = hw;
            actions.push(PartitionAction::HighWatermarkAdvanced { high_watermark: hw });
        }
        actions.extend(self.release_ready());
        actions
    }

    fn is_ready(&self, wait: &PendingProduce) -> Option<Result<(), ProduceWaitError>> {
        let needs_sync = self.fsync_policy == FsyncPolicy::Always && !self.ack_before_sync;
        let durable_enough = !needs_sync || self.durable_end_offset >= wait.end_offset;
        match wait.acks {
            Acks::None => Some(Ok(())),
            Acks::Leader => durable_enough.then_some(Ok(())),
            Acks::All => {
                let committed = if self.ack_before_sync {
                    self.log_end_offset >= wait.end_offset
                } else {
                    self.high_watermark >= wait.end_offset
                };
                if !(committed && durable_enough) {
                    return None;
                }
                if self.isr.len() < self.min_insync_replicas {
                    return Some(Err(ProduceWaitError::NotEnoughReplicasAfterAppend));
                }
                Some(Ok(()))
            }
        }
    }

    fn release_ready(&mut self) -> Vec<PartitionAction> {
        let ready: Vec<(u64, Result<(), ProduceWaitError>)> = self
            .pending
            .iter()
            .filter_map(|(id, wait)| self.is_ready(wait).map(|r| (*id, r)))
            .collect();
        ready
            .into_iter()
            .map(|(request_id, result)| {
                self.pending.remove(&request_id);
                PartitionAction::AnswerProduce { request_id, result }
            })
            .collect()
    }

    /// Whether acks=all can be accepted at all (checked before appending).
    pub fn has_enough_insync_replicas(&self) -> bool {
        self.isr.len() >= self.min_insync_replicas
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(actions: &[PartitionAction]) -> Vec<u64> {
        actions
            .iter()
            .filter_map(|a| match a {
                PartitionAction::AnswerProduce {
                    request_id,
                    result: Ok(()),
                } => Some(*request_id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn fsync_always_holds_acks_and_high_watermark_until_the_sync() {
        let mut r = PartitionReplica::new_leader(1, 0, vec![1], FsyncPolicy::Always, 1, 0, 0);
        assert!(
            r.on_local_append(5).is_empty(),
            "nothing visible before the sync"
        );
        assert!(r.await_produce(7, 5, Acks::All).is_empty());
        assert!(r.await_produce(8, 5, Acks::Leader).is_empty());
        assert_eq!(r.high_watermark(), 0);
        let actions = r.on_local_sync(5);
        assert_eq!(r.high_watermark(), 5);
        assert_eq!(answered(&actions), vec![7, 8]);
    }

    /// Kafka's makeLeader: the checkpoint is where the high watermark
    /// starts, and a leader whose ISR is itself raises it to its own end at
    /// once (followers enter this tracker with replication).
    #[test]
    fn a_new_leader_starts_from_the_checkpoint_and_raises_it_to_its_own_end() {
        for policy in [FsyncPolicy::Always, FsyncPolicy::Never] {
            let r = PartitionReplica::new_leader(1, 3, vec![1], policy, 1, 10, 6);
            assert_eq!(r.high_watermark(), 10, "{policy:?}");
        }
    }

    #[test]
    fn the_ack_before_sync_bug_answers_early() {
        let mut r = PartitionReplica::new_leader(1, 0, vec![1], FsyncPolicy::Always, 1, 0, 0);
        r.set_ack_before_sync_bug(true);
        r.on_local_append(3);
        assert_eq!(answered(&r.await_produce(1, 3, Acks::All)), vec![1]);
    }

    #[test]
    fn without_fsync_always_the_high_watermark_follows_the_log_end() {
        let mut r = PartitionReplica::new_leader(1, 0, vec![1], FsyncPolicy::Never, 1, 10, 4);
        assert_eq!(r.high_watermark(), 10);
        let actions = r.on_local_append(12);
        assert_eq!(
            actions,
            vec![PartitionAction::HighWatermarkAdvanced { high_watermark: 12 }]
        );
        assert_eq!(answered(&r.await_produce(1, 12, Acks::All)), vec![1]);
        let resigned = r.resign();
        assert!(resigned.is_empty());
        assert!(matches!(
            r.await_produce(2, 12, Acks::Leader)[..],
            [PartitionAction::AnswerProduce {
                result: Err(ProduceWaitError::NotLeader),
                ..
            }]
        ));
    }
}
