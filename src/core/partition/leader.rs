//! The leader's rules: appending client batches in its epoch, answering
//! followers' fetches (fenced by leader epoch, checked against its epochs),
//! the high watermark as the minimum over the ISR, min.insync.replicas, and
//! ISR changes proposed to the controller.

use crate::core::partition::acks::Acks;
use crate::core::partition::epoch_end_offsets::{diverging_epoch, leader_end_offset_for_epoch};
use crate::core::partition::fetch_messages::{
    FetchError, FetchRequest, FetchResponse, FetchResult, ProduceError, NO_BROKER_EPOCH,
};
use crate::core::partition::high_watermark::high_watermark;
use crate::core::partition::replica_action::{IsrProposal, ReplicaAction};
use crate::core::partition::replica_log::{ReplicaLog, StoredBatch};
use crate::core::partition::replica_machine::{LeaderState, PendingProduce, ReplicaMachine, Role};

impl ReplicaMachine {
    /// A client's produce of `record_count` records. acks=all is refused
    /// before the append when the ISR is below min.insync.replicas.
    pub fn client_append<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        request_id: u64,
        records: L::Records,
        record_count: i64,
        acks: Acks,
    ) -> Vec<ReplicaAction<L::Records>> {
        assert!(record_count > 0, "the edge refuses empty batches");
        let mut actions = Vec::new();
        let epoch = self.leader_epoch;
        let Role::Leader(leader) = &mut self.role else {
            actions.push(ReplicaAction::RespondProduce {
                request_id,
                result: Err(ProduceError::NotLeaderOrFollower),
            });
            return actions;
        };
        if log.latest_epoch().is_some_and(|e| e > epoch) {
            // Only reachable with a bug switch (a follower that took records
            // of a later leadership): this leader is stale, and appending
            // would make epochs go backwards along the log.
            actions.push(ReplicaAction::RespondProduce {
                request_id,
                result: Err(ProduceError::NotLeaderOrFollower),
            });
            return actions;
        }
        if acks == Acks::All && leader.isr.len() < self.config.min_insync_replicas {
            actions.push(ReplicaAction::RespondProduce {
                request_id,
                result: Err(ProduceError::NotEnoughReplicas),
            });
            return actions;
        }
        assert!(
            !leader.pending.contains_key(&request_id),
            "request ids are unique"
        );
        let base_offset = log.log_end_offset();
        log.append(StoredBatch {
            base_offset,
            epoch,
            record_count,
            records,
        });
        let end_offset = base_offset + record_count;
        assert_eq!(log.log_end_offset(), end_offset);
        leader.pending.insert(
            request_id,
            PendingProduce {
                base_offset,
                end_offset,
                acks,
            },
        );
        actions.push(ReplicaAction::Appended {
            base_offset,
            end_offset,
            epoch,
        });
        actions.push(ReplicaAction::Sync { end_offset });
        actions.push(ReplicaAction::WakeFetchers);
        self.advance_high_watermark(log, &mut actions);
        self.release_produces(log, &mut actions);
        self.assert_invariants(log);
        actions
    }

    /// A follower's fetch. Refused if this replica does not lead the epoch
    /// the follower follows (KIP-320); answered with a diverging epoch if
    /// the follower's log does not match below `fetch_offset`; otherwise
    /// records from `fetch_offset`, and the follower's progress counts.
    pub fn follower_fetch<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        request: FetchRequest,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        let result = self.fetch_result(log, &request, now_ms);
        if matches!(result, FetchResult::Records { .. }) {
            self.maybe_expand_isr(request.replica_id, &mut actions);
            self.advance_high_watermark(log, &mut actions);
            self.release_produces(log, &mut actions);
        }
        // The answer carries the high watermark after this fetch counted.
        let result = match result {
            FetchResult::Records {
                batches,
                log_start_offset,
                ..
            } => FetchResult::Records {
                batches,
                high_watermark: self.high_watermark,
                log_start_offset,
            },
            other => other,
        };
        actions.push(ReplicaAction::RespondFetch {
            to: request.replica_id,
            response: FetchResponse {
                correlation_id: request.correlation_id,
                leader_id: self.config.node_id,
                leader_epoch: self.leader_epoch,
                fetch_offset: request.fetch_offset,
                result,
            },
        });
        self.assert_invariants(log);
        actions
    }

    fn fetch_result<L: ReplicaLog>(
        &mut self,
        log: &L,
        request: &FetchRequest,
        now_ms: u64,
    ) -> FetchResult<L::Records> {
        let leader_epoch = self.leader_epoch;
        let fenced = !self.config.bugs.unfenced_fetch;
        let Role::Leader(leader) = &mut self.role else {
            return FetchResult::Error(FetchError::NotLeaderOrFollower);
        };
        if fenced && request.current_leader_epoch < leader_epoch {
            return FetchResult::Error(FetchError::FencedLeaderEpoch);
        }
        if fenced && request.current_leader_epoch > leader_epoch {
            return FetchResult::Error(FetchError::UnknownLeaderEpoch);
        }
        let Some(progress) = leader.progress.get_mut(&request.replica_id) else {
            return FetchResult::Error(FetchError::UnknownReplica);
        };
        if let Some(last_epoch) = request.last_fetched_epoch {
            if let Some((epoch, end_offset)) =
                diverging_epoch(log, leader_epoch, last_epoch, request.fetch_offset)
            {
                return FetchResult::Diverging { epoch, end_offset };
            }
        }
        let log_end_offset = log.log_end_offset();
        let log_start_offset = log.log_start_offset();
        if request.fetch_offset > log_end_offset || request.fetch_offset < log_start_offset {
            return FetchResult::Error(FetchError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            });
        }
        progress.on_fetch(request, log_end_offset, now_ms);
        FetchResult::Records {
            batches: log.read(request.fetch_offset, self.config.replica_fetch_max_records),
            high_watermark: self.high_watermark,
            log_start_offset: log.log_start_offset(),
        }
    }

    /// OffsetsForLeaderEpoch: where `epoch` ends in this leader's log.
    pub fn offsets_for_leader_epoch<L: ReplicaLog>(
        &self,
        log: &L,
        current_leader_epoch: i32,
        epoch: i32,
    ) -> Result<(i32, i64), FetchError> {
        if !self.is_leader() {
            return Err(FetchError::NotLeaderOrFollower);
        }
        if current_leader_epoch < self.leader_epoch {
            return Err(FetchError::FencedLeaderEpoch);
        }
        if current_leader_epoch > self.leader_epoch {
            return Err(FetchError::UnknownLeaderEpoch);
        }
        Ok(leader_end_offset_for_epoch(log, self.leader_epoch, epoch))
    }

    /// The controller committed the proposal `isr`.
    pub fn isr_committed<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        leader_epoch: i32,
        isr: Vec<i32>,
    ) -> Vec<ReplicaAction<L::Records>> {
        let settled = isr.clone();
        self.isr_settled(log, leader_epoch, isr, &settled)
    }

    /// The proposal `settled` came to an end (committed or refused) and the
    /// ISR is now `isr`. Only that proposal ends: a newer one made in the
    /// meantime stays pending, its members counted by the high watermark,
    /// until its own outcome is known (the controller may commit it and
    /// elect one of them).
    pub fn isr_settled<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        leader_epoch: i32,
        isr: Vec<i32>,
        settled: &[i32],
    ) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        let me = self.config.node_id;
        if leader_epoch != self.leader_epoch {
            return actions;
        }
        if let Role::Leader(leader) = &mut self.role {
            assert!(
                isr.contains(&me),
                "the controller keeps the leader in its ISR"
            );
            leader.isr = isr;
            if leader.proposed_isr.as_deref() == Some(settled) {
                leader.proposed_isr = None;
            }
            self.advance_high_watermark(log, &mut actions);
            self.release_produces(log, &mut actions);
        }
        self.assert_invariants(log);
        actions
    }

    /// Proposes to add `replica_id` once it has reached the high watermark
    /// and the start of this leader's epoch, fetching in this epoch.
    fn maybe_expand_isr<R>(&mut self, replica_id: i32, actions: &mut Vec<ReplicaAction<R>>) {
        let (epoch, hw) = (self.leader_epoch, self.high_watermark);
        let unfenced = self.config.bugs.unfenced_fetch;
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        if leader.proposed_isr.is_some() || leader.isr.contains(&replica_id) {
            return;
        }
        let Some(progress) = leader.progress.get(&replica_id) else {
            return;
        };
        let Some(end) = progress.log_end_offset else {
            return;
        };
        let caught_up = end >= hw
            && (unfenced
                || (end >= leader.epoch_start_offset && progress.fetch_epoch == Some(epoch)));
        if caught_up {
            let mut isr = leader.isr.clone();
            isr.push(replica_id);
            isr.sort_unstable();
            leader.proposed_isr = Some(isr.clone());
            actions.push(ReplicaAction::ProposeIsr(leader.proposal(epoch, isr)));
        }
    }

    /// Proposes to drop followers not caught up for
    /// `replica.lag.time.max.ms`.
    pub(crate) fn maybe_shrink_isr<R>(&mut self, now_ms: u64, actions: &mut Vec<ReplicaAction<R>>) {
        let me = self.config.node_id;
        let lag_max = self.config.replica_lag_time_max_ms;
        let epoch = self.leader_epoch;
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        if leader.proposed_isr.is_some() {
            return;
        }
        let LeaderState { isr, progress, .. } = &*leader;
        let keep: Vec<i32> = isr
            .iter()
            .copied()
            .filter(|r| {
                *r == me
                    || progress
                        .get(r)
                        .is_some_and(|p| !p.is_lagging(now_ms, lag_max))
            })
            .collect();
        if keep.len() < isr.len() {
            leader.proposed_isr = Some(keep.clone());
            actions.push(ReplicaAction::ProposeIsr(leader.proposal(epoch, keep)));
        }
    }

    /// The high watermark becomes the smallest end offset over the ISR
    /// (with a pending proposal, over both ISRs), and moves only forward. A
    /// follower counts only once it fetched in this leader's epoch (KIP-320):
    /// before that, its offset says nothing about this leader's log. It
    /// stands still while the committed ISR is below min.insync.replicas (at
    /// most the replica count; KIP-966): the replicas that left the ISR then
    /// are the controller's eligible leaders, and each must hold every
    /// record below the high watermark.
    pub(crate) fn advance_high_watermark<L: ReplicaLog>(
        &mut self,
        log: &L,
        actions: &mut Vec<ReplicaAction<L::Records>>,
    ) {
        let me = self.config.node_id;
        let own_end = self.own_end_offset(log);
        let unfenced = self.config.bugs.unfenced_fetch;
        let min_isr = self.config.min_insync_replicas;
        let Role::Leader(leader) = &self.role else {
            return;
        };
        if leader.isr.len() < min_isr.min(leader.replicas.len().max(1)) {
            return;
        }
        let mut members: Vec<i32> = leader.isr.clone();
        members.extend(leader.proposed_isr.iter().flatten().copied());
        members.sort_unstable();
        members.dedup();
        let mut ends = Vec::with_capacity(members.len());
        for member in members {
            if member == me {
                ends.push(own_end);
                continue;
            }
            let Some(progress) = leader.progress.get(&member) else {
                return;
            };
            let Some(end) = progress.log_end_offset else {
                return;
            };
            if !unfenced && progress.fetch_epoch != Some(self.leader_epoch) {
                return;
            }
            ends.push(end);
        }
        let Some(hw) = high_watermark(&ends) else {
            return;
        };
        if hw > self.high_watermark {
            assert!(
                hw <= log.log_end_offset(),
                "the high watermark stays within the log"
            );
            self.high_watermark = hw;
            actions.push(ReplicaAction::HighWatermark { offset: hw });
            actions.push(ReplicaAction::WakeFetchers);
        }
    }

    /// Answers the produces whose acknowledgement condition now holds.
    pub(crate) fn release_produces<L: ReplicaLog>(
        &mut self,
        log: &L,
        actions: &mut Vec<ReplicaAction<L::Records>>,
    ) {
        let own_end = self.own_end_offset(log);
        let hw = self.high_watermark;
        let min_isr = self.config.min_insync_replicas;
        let ack_before_isr = self.config.bugs.ack_before_isr;
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        let isr_len = leader.isr.len();
        let ready: Vec<(u64, Result<i64, ProduceError>)> = leader
            .pending
            .iter()
            .filter_map(|(id, wait)| {
                let result = match wait.acks {
                    Acks::None => Some(Ok(wait.base_offset)),
                    Acks::Leader => (own_end >= wait.end_offset).then_some(Ok(wait.base_offset)),
                    Acks::All => {
                        let committed = if ack_before_isr {
                            own_end >= wait.end_offset
                        } else {
                            hw >= wait.end_offset
                        };
                        committed.then_some(if isr_len < min_isr {
                            Err(ProduceError::NotEnoughReplicasAfterAppend)
                        } else {
                            Ok(wait.base_offset)
                        })
                    }
                };
                result.map(|r| (*id, r))
            })
            .collect();
        for (request_id, result) in ready {
            leader.pending.remove(&request_id);
            actions.push(ReplicaAction::RespondProduce { request_id, result });
        }
    }
}

impl LeaderState {
    /// The proposal of `isr` in `leader_epoch`, with the broker epoch each
    /// member fetched with (KIP-903).
    fn proposal(&self, leader_epoch: i32, isr: Vec<i32>) -> IsrProposal {
        let broker_epochs = isr
            .iter()
            .filter_map(|r| self.progress.get(r).map(|p| (*r, p.broker_epoch)))
            .filter(|(_, epoch)| *epoch != NO_BROKER_EPOCH)
            .collect();
        IsrProposal {
            leader_epoch,
            isr,
            broker_epochs,
        }
    }
}
