//! The partition replica as one sans-IO state machine (issue 12): its role
//! (leader with per-follower progress, or follower of a leader in an
//! epoch), its high watermark and what it knows to be durable. Inputs are
//! method calls with the current time as an argument; each returns the
//! [`ReplicaAction`]s its driver must run. It reads and writes the log only
//! through [`ReplicaLog`].
//!
//! The leader's rules live in `leader.rs`, the follower's in `follower.rs`;
//! this file holds the state, the role changes and the invariants asserted
//! after every step.

use std::collections::BTreeMap;

use crate::core::partition::acks::Acks;
use crate::core::partition::follower_progress::FollowerProgress;
use crate::core::partition::replica_action::ReplicaAction;
use crate::core::partition::replica_config::ReplicaConfig;
use crate::core::partition::replica_log::ReplicaLog;
use crate::core::partition::ProduceError;
use crate::core::topic_config::FsyncPolicy;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplicaMachine {
    pub(crate) config: ReplicaConfig,
    pub(crate) role: Role,
    /// The largest leader epoch this replica has been told of; -1 before
    /// the controller told it anything (after a start).
    pub(crate) leader_epoch: i32,
    pub(crate) high_watermark: i64,
    /// The log's durable end as the driver last reported it.
    pub(crate) durable_end_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Started, not yet told its role by the controller.
    Unassigned,
    Leader(LeaderState),
    Follower(FollowerState),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaderState {
    pub replicas: Vec<i32>,
    /// The ISR as the controller last committed it.
    pub isr: Vec<i32>,
    /// An ISR change proposed and not yet answered. While it is pending the
    /// high watermark counts the union of both sets (Kafka's maximal ISR,
    /// KIP-497), so neither a shrink nor an expand can over-commit.
    pub proposed_isr: Option<Vec<i32>>,
    /// The log end when this leadership began: this epoch's first offset.
    pub epoch_start_offset: i64,
    pub progress: BTreeMap<i32, FollowerProgress>,
    /// Produce requests waiting for acknowledgement, by request id.
    pub pending: BTreeMap<u64, PendingProduce>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingProduce {
    pub base_offset: i64,
    pub end_offset: i64,
    pub acks: Acks,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FollowerState {
    pub leader_id: i32,
    /// The fetch sent and not answered: its correlation id and when it was
    /// sent.
    pub fetch_in_flight: Option<(u64, u64)>,
    /// The correlation id of the last fetch sent.
    pub last_correlation_id: u64,
    /// No fetch before this time (backoff after an empty answer).
    pub next_fetch_ms: u64,
    /// The leader has checked this follower's log against its epochs since
    /// it began following (only consulted by the bug switches that check once).
    pub epoch_checked: bool,
}

impl ReplicaMachine {
    /// A replica starting over `log` (as recovered) with the high watermark
    /// from its checkpoint: never the log end, so a restarted replica never
    /// exposes records that were not committed.
    pub fn new<L: ReplicaLog>(
        config: ReplicaConfig,
        log: &L,
        high_watermark_checkpoint: i64,
    ) -> Self {
        assert!(config.min_insync_replicas >= 1);
        let log_end = log.log_end_offset();
        let machine = ReplicaMachine {
            config,
            role: Role::Unassigned,
            leader_epoch: -1,
            high_watermark: high_watermark_checkpoint.clamp(log.log_start_offset(), log_end),
            durable_end_offset: log_end,
        };
        machine.assert_invariants(log);
        machine
    }

    pub fn config(&self) -> &ReplicaConfig {
        &self.config
    }
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }
    pub fn role(&self) -> &Role {
        &self.role
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
    /// The log end when this replica became leader of its epoch, if it
    /// leads. Until the high watermark reaches it, the high watermark may
    /// be below offsets the previous leader acknowledged (it advances once
    /// the ISR fetches in this epoch): Kafka then answers a client's
    /// ListOffsets OFFSET_NOT_AVAILABLE.
    pub fn leader_epoch_start_offset(&self) -> Option<i64> {
        match &self.role {
            Role::Leader(leader) => Some(leader.epoch_start_offset),
            _ => None,
        }
    }
    /// The committed ISR if leading.
    pub fn isr(&self) -> Option<&[i32]> {
        match &self.role {
            Role::Leader(l) => Some(&l.isr),
            _ => None,
        }
    }
    pub fn leader_id(&self) -> Option<i32> {
        match &self.role {
            Role::Leader(_) => Some(self.config.node_id),
            Role::Follower(f) => Some(f.leader_id),
            Role::Unassigned => None,
        }
    }

    /// The end offset this replica counts for itself: with
    /// `fsync.policy=always` only synced records, so a crash cannot take back
    /// what the high watermark or an acknowledgement covered.
    pub(crate) fn own_end_offset<L: ReplicaLog>(&self, log: &L) -> i64 {
        match self.config.fsync_policy {
            FsyncPolicy::Always => self.durable_end_offset,
            FsyncPolicy::Interval | FsyncPolicy::Never => log.log_end_offset(),
        }
    }

    /// The controller made this replica the leader of `leader_epoch`. The
    /// same epoch again (while leading) is an ISR or replica-set update.
    pub fn become_leader<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        leader_epoch: i32,
        isr: Vec<i32>,
        replicas: Vec<i32>,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        let me = self.config.node_id;
        assert!(
            isr.contains(&me) && replicas.contains(&me),
            "a leader is in its own ISR"
        );
        assert!(
            isr.iter().all(|r| replicas.contains(r)),
            "the ISR is a subset of the replicas"
        );
        let mut actions = Vec::new();
        if leader_epoch < self.leader_epoch {
            return actions; // a stale decision, delivered late
        }
        if leader_epoch == self.leader_epoch {
            if let Role::Leader(leader) = &mut self.role {
                // A pending proposal ends only when the metadata shows it
                // (or the controller refuses it, `isr_committed`): an
                // update of this epoch that does not hold it may precede
                // its commit, and a high watermark over the old ISR alone
                // could pass a member the controller is about to count
                // (and elect). The sim's offsets prober found this.
                if leader.proposed_isr.as_ref() == Some(&isr) {
                    leader.proposed_isr = None;
                }
                leader.isr = isr;
                leader.replicas = replicas;
                self.advance_high_watermark(log, &mut actions);
                self.release_produces(log, &mut actions);
                self.assert_invariants(log);
            }
            return actions;
        }
        self.fail_pending(&mut actions);
        self.leader_epoch = leader_epoch;
        let progress = replicas
            .iter()
            .filter(|r| **r != me)
            .map(|r| (*r, FollowerProgress::new(now_ms)))
            .collect();
        self.role = Role::Leader(LeaderState {
            replicas,
            isr,
            proposed_isr: None,
            epoch_start_offset: log.log_end_offset(),
            progress,
            pending: BTreeMap::new(),
        });
        actions.push(ReplicaAction::WakeFetchers);
        self.advance_high_watermark(log, &mut actions);
        self.assert_invariants(log);
        actions
    }

    /// The controller made `leader_id` the leader of `leader_epoch` and this
    /// replica its follower. Truncation waits for the leader's answer to the
    /// first fetch (never to the high watermark: KIP-101).
    pub fn become_follower<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        leader_id: i32,
        leader_epoch: i32,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        assert_ne!(
            leader_id, self.config.node_id,
            "a follower follows another replica"
        );
        let mut actions = Vec::new();
        let same = matches!(&self.role, Role::Follower(f) if f.leader_id == leader_id);
        if leader_epoch < self.leader_epoch || (leader_epoch == self.leader_epoch && same) {
            return actions;
        }
        self.fail_pending(&mut actions);
        self.leader_epoch = leader_epoch;
        self.role = Role::Follower(FollowerState {
            leader_id,
            fetch_in_flight: None,
            last_correlation_id: 0,
            next_fetch_ms: now_ms,
            epoch_checked: false,
        });
        if self.config.bugs.truncate_to_hw {
            self.truncate(log, self.high_watermark, &mut actions);
        }
        self.maybe_send_fetch(log, now_ms, &mut actions);
        self.assert_invariants(log);
        actions
    }

    /// The log is durable up to `durable_end_offset` (the log's durable end
    /// when a requested sync finished).
    pub fn sync_done<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        durable_end_offset: i64,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        self.durable_end_offset = durable_end_offset.min(log.log_end_offset());
        match self.role {
            Role::Leader(_) => {
                self.advance_high_watermark(log, &mut actions);
                self.release_produces(log, &mut actions);
            }
            Role::Follower(_) => self.maybe_send_fetch(log, now_ms, &mut actions),
            Role::Unassigned => {}
        }
        self.assert_invariants(log);
        actions
    }

    /// Time passed: a leader proposes to drop lagging followers from the
    /// ISR; a follower fetches (again, if its fetch went unanswered).
    pub fn tick<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        match self.role {
            Role::Leader(_) => self.maybe_shrink_isr(now_ms, &mut actions),
            Role::Follower(_) => self.maybe_send_fetch(log, now_ms, &mut actions),
            Role::Unassigned => {}
        }
        self.assert_invariants(log);
        actions
    }

    /// The topic's `fsync.policy` or `min.insync.replicas` changed
    /// (AlterConfigs): later appends and acknowledgements follow them.
    pub fn update_settings(&mut self, fsync_policy: FsyncPolicy, min_insync_replicas: usize) {
        self.config.fsync_policy = fsync_policy;
        self.config.min_insync_replicas = min_insync_replicas.max(1);
    }

    /// The log start moved up (retention, DeleteRecords): the high
    /// watermark never trails it (Kafka's `updateHighWatermark` clamps it to
    /// the log start the same way).
    pub fn log_start_advanced<L: ReplicaLog>(&mut self, log: &L) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        let start = log.log_start_offset().min(log.log_end_offset());
        if self.high_watermark < start {
            self.high_watermark = start;
            actions.push(ReplicaAction::HighWatermark { offset: start });
            actions.push(ReplicaAction::WakeFetchers);
            // Produces whose records are now below the high watermark are
            // answered as committed ones are (retention may pass unsynced
            // records of a rolled segment).
            self.release_produces(log, &mut actions);
        }
        self.assert_invariants(log);
        actions
    }

    /// Renumbers this follower's fetches: the one in flight (if any) becomes
    /// 1 and the next one sent will be 2. Returns the old id of the fetch in
    /// flight. A correlation id only ever matters as "the fetch in flight" or
    /// "another one", so a driver that renumbers the requests and answers it
    /// still carries the same way (the in-flight id to 1, any other to 0)
    /// changes no behaviour. The model checker does this after every step so
    /// that a follower's state does not grow with every fetch it sends.
    pub fn renumber_fetches(&mut self) -> Option<u64> {
        let Role::Follower(follower) = &mut self.role else {
            return None;
        };
        let in_flight = follower.fetch_in_flight.map(|(id, _)| id);
        if let Some((id, _)) = &mut follower.fetch_in_flight {
            *id = 1;
        }
        follower.last_correlation_id = 1;
        in_flight
    }

    /// The log cut itself back to its durable end behind the machine (a
    /// failed sync takes back what it had not made durable: fsyncgate,
    /// `PartitionLog::sync_failed`) and is now offline; the node stops at
    /// the flusher's next pass. Until then the machine's view follows the
    /// log: the high watermark a follower took from its leader (which can
    /// pass its own unsynced end) and the durable end come down to the new
    /// end, a leader's epoch start too, and waiting produces fail (nothing
    /// more will be synced or acknowledged). Found by the cluster
    /// simulator (`--cluster 3 --seeds 0..300`: seeds 69 and 299 panicked
    /// on "high watermark past the log end").
    pub fn log_cut_back<L: ReplicaLog>(&mut self, log: &L) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        let end = log.log_end_offset();
        self.high_watermark = self.high_watermark.min(end);
        self.durable_end_offset = self.durable_end_offset.min(end);
        self.fail_pending(&mut actions);
        if let Role::Leader(leader) = &mut self.role {
            leader.epoch_start_offset = leader.epoch_start_offset.min(end);
        }
        self.assert_invariants(log);
        actions
    }

    pub(crate) fn truncate<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        offset: i64,
        actions: &mut Vec<ReplicaAction<L::Records>>,
    ) {
        if offset >= log.log_end_offset() {
            return;
        }
        log.truncate_to(offset);
        let end = log.log_end_offset();
        self.high_watermark = self.high_watermark.min(end);
        self.durable_end_offset = self.durable_end_offset.min(end);
        actions.push(ReplicaAction::Truncated { offset: end });
    }

    /// Empties the log and starts it at `offset`, the leader's log start,
    /// past this log's end. Every record below the leader's start is
    /// committed (its high watermark never trails its start), so the high
    /// watermark moves there too; the empty log is durable once the driver
    /// made the new start durable (`StartedAt`), before the next fetch.
    pub(crate) fn start_at<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        offset: i64,
        actions: &mut Vec<ReplicaAction<L::Records>>,
    ) {
        assert!(offset > log.log_end_offset(), "starting over past the end");
        log.truncate_fully_and_start_at(offset);
        if log.log_end_offset() != offset {
            return; // the log refused (a disk error the driver reports)
        }
        assert_eq!(log.log_start_offset(), offset);
        assert_eq!(log.latest_epoch(), None, "an empty log has no epoch");
        self.high_watermark = offset;
        self.durable_end_offset = offset;
        actions.push(ReplicaAction::StartedAt { offset });
        actions.push(ReplicaAction::HighWatermark { offset });
    }

    /// Leadership ended or moved to a new epoch: waiting produces fail.
    fn fail_pending<R>(&mut self, actions: &mut Vec<ReplicaAction<R>>) {
        if let Role::Leader(leader) = &mut self.role {
            for request_id in std::mem::take(&mut leader.pending).into_keys() {
                actions.push(ReplicaAction::RespondProduce {
                    request_id,
                    result: Err(ProduceError::NotLeaderOrFollower),
                });
            }
        }
    }

    pub(crate) fn assert_invariants<L: ReplicaLog>(&self, log: &L) {
        let log_end = log.log_end_offset();
        assert!(
            self.high_watermark <= log_end,
            "high watermark {} past the log end {log_end}",
            self.high_watermark
        );
        assert!(
            self.durable_end_offset <= log_end,
            "durable end past the log end"
        );
        if let Role::Leader(leader) = &self.role {
            assert!(
                leader.isr.contains(&self.config.node_id),
                "a leader is in its ISR"
            );
            assert!(leader.epoch_start_offset <= log_end);
            if !self.config.bugs.ack_before_isr {
                for wait in leader.pending.values() {
                    assert!(
                        wait.acks != Acks::All || wait.end_offset > self.high_watermark,
                        "a committed acks=all produce is still waiting"
                    );
                }
            }
        }
    }
}
