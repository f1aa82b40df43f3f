//! The partition's cluster-facing API: the controller's role decisions, the
//! leader's side of a follower's fetch (long-polled), the follower's fetch
//! loop hooks, and ISR proposals. Each call is one step of the partition's
//! [`ReplicaMachine`](crate::core::partition::ReplicaMachine); the transport
//! and the metadata quorum call these and carry the messages.

use std::time::Duration;

use crate::core::partition::{FetchError, FetchRequest, FetchResponse, FetchResult, IsrProposal};
use crate::io::disk::join;
use crate::log::verbatim_batches::REPLICA_APPEND_BYTES_MAX;
use crate::log::LogError;
use crate::server::partition_handle::{PartitionHandle, LEADER_EPOCH_FILE};

/// Longest a leader holds a follower's fetch that found nothing new.
pub const REPLICA_FETCH_WAIT_MS_MAX: u64 = 30_000;

/// Most record bytes one replica fetch answer carries (`max_bytes` is
/// capped to it); a follower refuses a larger answer unread. It leaves
/// room in a node-to-node frame for the answer's other fields.
pub const REPLICA_FETCH_BYTES_MAX: usize = 8 * 1024 * 1024;
const _: () = assert!(REPLICA_FETCH_BYTES_MAX <= crate::rpc::frame::RPC_FRAME_BYTES_MAX / 2);
const _: () = assert!(REPLICA_FETCH_BYTES_MAX <= REPLICA_APPEND_BYTES_MAX);

/// Most records one replica fetch answer carries: the byte budget is the
/// real bound; this only keeps the machine's count finite.
pub const REPLICA_FETCH_RECORDS_MAX: i64 = 1 << 24;

/// The replica machine's timers (Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationTiming {
    /// `replica.lag.time.max.ms`: a follower not caught up this long is
    /// proposed for removal from the ISR.
    pub replica_lag_time_max_ms: u64,
    /// Wait before fetching again after a failed fetch or an error answer
    /// (Kafka's `replica.fetch.backoff.ms`, shorter).
    pub replica_fetch_backoff_ms: u64,
    /// Wait before fetching again after an answer with no records: none,
    /// as Kafka's fetcher, since the leader already held the fetch (long
    /// poll) until it had something or its wait ran out.
    pub replica_fetch_empty_backoff_ms: u64,
    /// A fetch unanswered this long is sent again.
    pub replica_fetch_timeout_ms: u64,
}

impl Default for ReplicationTiming {
    fn default() -> Self {
        ReplicationTiming {
            replica_lag_time_max_ms: 30_000,
            replica_fetch_backoff_ms: 100,
            replica_fetch_empty_backoff_ms: 0,
            replica_fetch_timeout_ms: 30_000 + REPLICA_FETCH_WAIT_MS_MAX,
        }
    }
}

/// Why a role decision was refused (it came from the metadata: a bad one
/// is reported, never a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("node {node_id} cannot lead with ISR {isr:?} and replicas {replicas:?}: it must be in both and the ISR within the replicas")]
    InvalidAssignment {
        node_id: i32,
        isr: Vec<i32>,
        replicas: Vec<i32>,
    },
    #[error("node {0} cannot follow itself")]
    FollowsItself(i32),
    #[error("leader epoch {requested} is below epoch {stored} of records in the log")]
    StaleEpoch { requested: i32, stored: i32 },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl PartitionHandle {
    /// Sets the replica machine's timers (before the partition takes a role).
    pub fn set_replication_timing(&self, timing: ReplicationTiming) {
        let mut state = self.lock();
        let config = super::replica_config(self.node_id, &state.config, &state.bugs, &timing);
        state.machine.config = config;
    }

    /// The controller made this node the leader of `leader_epoch` with `isr`
    /// over `replicas`. The same epoch again is an ISR or replica-set update
    /// (how a committed ISR proposal arrives). The new epoch starts at the
    /// log end in the leader-epoch cache, written durably before this
    /// returns (Kafka's `makeLeader`).
    pub async fn become_leader(
        &self,
        leader_epoch: i32,
        isr: Vec<i32>,
        replicas: Vec<i32>,
    ) -> Result<(), RoleError> {
        let me = self.node_id;
        if !isr.contains(&me)
            || !replicas.contains(&me)
            || !isr.iter().all(|r| replicas.contains(r))
        {
            return Err(RoleError::InvalidAssignment {
                node_id: me,
                isr,
                replicas,
            });
        }
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            let newer = leader_epoch > state.machine.leader_epoch();
            if newer {
                self.check_epoch_not_stale(state, leader_epoch)?;
                raise_leader_epoch_max(state, leader_epoch);
            }
            let outcome = self.step(state, None, None, |machine, log, now| {
                if newer {
                    log.begin_epoch(leader_epoch);
                }
                machine.become_leader(log, leader_epoch, isr, replicas, now)
            });
            if let Some(error) = outcome.error {
                return Err(error.into());
            }
            if state.machine.is_leader() {
                crate::leadership_journal::leader_claimed(
                    &self.topic,
                    (self.topic_id, self.partition),
                    leader_epoch,
                    me,
                    state.log.log_end_offset(),
                );
            }
            if newer {
                tracing::info!(
                    node_id = me,
                    topic = %self.topic,
                    partition = self.partition,
                    leader_epoch,
                    isr = ?state.machine.isr(),
                    log_start = state.log.log_start_offset(),
                    high_watermark = state.machine.high_watermark(),
                    log_end = state.log.log_end_offset(),
                    "leading"
                );
            }
        }
        self.persist_epochs().await?;
        Ok(())
    }

    /// The controller made `leader_id` the leader of `leader_epoch` and this
    /// node its follower. Produce waiting here fail; the first fetch goes
    /// out through [`PartitionHandle::next_fetch`], and its answer decides
    /// any truncation (by epoch, never to the high watermark: KIP-101).
    pub fn become_follower(&self, leader_id: i32, leader_epoch: i32) -> Result<(), RoleError> {
        if leader_id == self.node_id {
            return Err(RoleError::FollowsItself(leader_id));
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        if leader_epoch > state.machine.leader_epoch() {
            self.check_epoch_not_stale(state, leader_epoch)?;
            raise_leader_epoch_max(state, leader_epoch);
        }
        let outcome = self.step(state, None, None, |machine, log, now| {
            machine.become_follower(log, leader_id, leader_epoch, now)
        });
        outcome.error.map_or(Ok(()), |e| Err(e.into()))
    }

    /// A new epoch must not be below one that already wrote records here
    /// (after a restart the machine knows no epoch, the log does).
    fn check_epoch_not_stale(
        &self,
        state: &super::PartitionState,
        leader_epoch: i32,
    ) -> Result<(), RoleError> {
        let end = state.log.log_end_offset();
        let stored = state
            .epoch_cache
            .entries()
            .iter()
            .rev()
            .find(|(_, start)| *start < end)
            .map(|(epoch, _)| *epoch);
        match stored {
            Some(stored) if stored > leader_epoch => Err(RoleError::StaleEpoch {
                requested: leader_epoch,
                stored,
            }),
            _ => Ok(()),
        }
    }

    /// Leader side: answers a follower's fetch, holding it up to
    /// `max_wait_ms` (at most [`REPLICA_FETCH_WAIT_MS_MAX`]) while there is
    /// nothing new, and reading at most `max_bytes` (at least one batch).
    /// The cluster serves many partitions in one wait
    /// (`server/cluster/fetch_serve.rs`); this is the one-partition form.
    pub async fn replica_fetch(
        &self,
        request: FetchRequest,
        max_bytes: usize,
        max_wait_ms: u64,
    ) -> FetchResponse<Vec<u8>> {
        let wait = Duration::from_millis(max_wait_ms.min(REPLICA_FETCH_WAIT_MS_MAX));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.hw_changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let response = self.replica_fetch_now(&request, max_bytes);
            if !response.is_empty() || tokio::time::Instant::now() >= deadline {
                return response;
            }
            // Woken by an append, a high watermark move or a role change;
            // at the deadline the next round answers whatever it finds.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Leader side: one step of a follower's fetch, answered at once with
    /// what the log holds (no records when there is nothing new), reading
    /// at most `max_bytes` (at least one batch; capped to
    /// [`REPLICA_FETCH_BYTES_MAX`]). A caller that waits for news enables
    /// [`PartitionHandle::hw_changed`] before calling, so no append is
    /// missed between this answer and its wait.
    pub fn replica_fetch_now(
        &self,
        request: &FetchRequest,
        max_bytes: usize,
    ) -> FetchResponse<Vec<u8>> {
        let max_bytes = max_bytes.clamp(1, REPLICA_FETCH_BYTES_MAX);
        if self.has_failed() {
            return refused(request, FetchError::NotLeaderOrFollower);
        }
        let mut state = self.lock();
        if state.log.is_offline() {
            // A failed sync cut this log back to its durable end:
            // answering from it would make followers cut records
            // the ISR acknowledged. Kafka answers
            // KAFKA_STORAGE_ERROR from an offline log dir; the
            // follower retries, truncating nothing.
            return refused(request, FetchError::NotLeaderOrFollower);
        }
        let outcome = self.step(&mut state, Some(max_bytes), None, |machine, log, now| {
            machine.follower_fetch(log, request.clone(), now)
        });
        outcome
            .fetch_answer
            .unwrap_or_else(|| refused(request, FetchError::NotLeaderOrFollower))
    }

    /// Follower side: the leader the machine's pending fetch goes to, if
    /// it wants one sent (the request stays for [`PartitionHandle::take_fetch`]).
    pub fn pending_fetch_leader(&self) -> Option<i32> {
        self.lock()
            .outgoing_fetch
            .as_ref()
            .map(|(leader, _)| *leader)
    }

    /// Follower side: resolves once the machine asked for a fetch since
    /// the last wait ended (a permit is kept when nobody waits, so a
    /// request made between a look at the slot and this wait is not
    /// missed).
    pub async fn fetch_wanted(&self) {
        self.fetch_wanted.notified().await;
    }

    /// Follower side: takes the fetch the machine wants sent now, if any
    /// (none once the partition is removed from the node).
    pub fn take_fetch(&self) -> Option<(i32, FetchRequest)> {
        let mut state = self.lock();
        if state.resigned {
            return None;
        }
        state.outgoing_fetch.take()
    }

    /// Follower side: the leader's answer to a fetch. Its batches are
    /// checked (CRC, offsets, epochs) before they are stored; under
    /// `fsync.policy=always` they are synced before this returns, so the
    /// next fetch tells the leader only what is durable. An error means the
    /// answer (or the disk) failed; the machine fetches again.
    pub async fn on_fetch_response(
        &self,
        response: FetchResponse<Vec<u8>>,
    ) -> Result<(), LogError> {
        let bytes = answer_bytes(&response);
        if bytes > REPLICA_FETCH_BYTES_MAX {
            return Err(LogError::RejectedBatch {
                reason: format!(
                    "a fetch answer of {bytes} bytes, more than {REPLICA_FETCH_BYTES_MAX}"
                ),
            });
        }
        // Held until the cut is made, not through the sync after it: a
        // checkpoint may then run (it syncs before it writes a point).
        let gate = self.recovery_point_gate.lock().await;
        self.lower_recovery_point_for(&response).await?;
        let (error, sync_now, started_over) = {
            let mut state = self.lock();
            if state.resigned {
                // Removed while the fetch was out (a fetcher still held
                // the handle): its directory may be gone or reused.
                return Ok(());
            }
            let outcome = self.step(&mut state, None, None, |machine, log, now| {
                machine.fetch_response(log, response, now)
            });
            // The leader's producer ids count against the same limit as
            // clients' do on a leader, so no answer grows the table unbounded.
            let max = state.limits.max_producers_per_partition;
            state.producers.evict_least_recent(max, |_| false);
            let sync_now = Self::sync_needed(&state, &outcome);
            (outcome.error, sync_now, outcome.started_over)
        };
        drop(gate);
        if started_over {
            // Before this returns, so before the fetch loop sends the next
            // fetch and appends at the new start: see
            // `PartitionLog::truncate_fully_and_start_at` for the order.
            self.persist_start_over().await?;
        }
        if sync_now {
            self.sync().await?;
        }
        error.map_or(Ok(()), Err)
    }

    /// Lowers the recovery point durably to where `response` will cut the
    /// log back, if it will (see `PartitionLog::recovery_point_lowering`).
    /// The caller holds `recovery_point_gate` until the cut is made.
    async fn lower_recovery_point_for(
        &self,
        response: &FetchResponse<Vec<u8>>,
    ) -> Result<(), LogError> {
        let lowering = {
            let mut state = self.lock();
            let mut planned = None;
            self.step(&mut state, None, None, |machine, log, _| {
                planned = machine.planned_truncation(log, response);
                Vec::new()
            });
            match planned {
                Some(offset) => state.log.recovery_point_lowering(offset)?,
                None => None,
            }
        };
        if let Some(write) = lowering {
            self.disk
                .write_file_durably(&write.path, &write.bytes)
                .await?;
        }
        Ok(())
    }

    /// Follower side: the fetch `correlation_id` got no answer the replica
    /// could take (transport error, timeout, refusal): fetch again after
    /// the backoff.
    pub fn fetch_failed(&self, correlation_id: u64) {
        if self.has_failed() {
            return;
        }
        let mut state = self.lock();
        self.step(&mut state, None, None, |machine, log, now| {
            machine.fetch_failed(log, correlation_id, now)
        });
    }

    /// Time passed: a leader may propose to shrink the ISR, a follower may
    /// resend a fetch that went unanswered or end its backoff. Call it
    /// periodically (every few hundred milliseconds).
    pub fn tick(&self) {
        if self.has_failed() {
            return;
        }
        let mut state = self.lock();
        self.step(&mut state, None, None, |machine, log, now| {
            machine.tick(log, now)
        });
    }

    /// Leader side: waits until the machine proposes an ISR change for the
    /// controller (AlterPartition).
    pub async fn next_isr_proposal(&self) -> IsrProposal {
        loop {
            let wanted = self.isr_wanted.notified();
            if let Some(proposal) = self.lock().isr_proposal.take() {
                return proposal;
            }
            wanted.await;
        }
    }

    /// Asks the ISR loop to send the pending `proposal` again, if it is
    /// still pending: its outcome was never seen, and dropping it could let
    /// the high watermark skip a member the controller may yet commit
    /// (Kafka's AlterPartitionManager retries until it gets an answer). It
    /// goes with the broker epochs it first had: a member that registered
    /// again since is refused (KIP-903).
    pub fn propose_again(&self, proposal: IsrProposal) {
        let mut state = self.lock();
        let pending = match state.machine.role() {
            crate::core::partition::replica_machine::Role::Leader(leader) => {
                leader.proposed_isr.as_ref() == Some(&proposal.isr)
            }
            _ => false,
        };
        if pending && state.machine.leader_epoch() == proposal.leader_epoch {
            state.isr_proposal = Some(proposal);
            self.isr_wanted.notify_one();
        }
    }

    /// The controller answered an ISR proposal of `leader_epoch`: `isr` is
    /// what it committed (the proposal, or the old ISR if it refused).
    /// `become_leader` with the same epoch does the same.
    pub fn isr_committed(&self, leader_epoch: i32, isr: Vec<i32>) -> Result<(), RoleError> {
        let settled = isr.clone();
        self.isr_settled(leader_epoch, isr, &settled)
    }

    /// The proposal `settled` of `leader_epoch` ended (committed or
    /// refused), and the metadata holds `isr`: a newer proposal stays
    /// pending (`ReplicaMachine::isr_settled`).
    pub fn isr_settled(
        &self,
        leader_epoch: i32,
        isr: Vec<i32>,
        settled: &[i32],
    ) -> Result<(), RoleError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let replicas_ok = match state.machine.role() {
            crate::core::partition::replica_machine::Role::Leader(leader) => {
                isr.iter().all(|r| leader.replicas.contains(r))
            }
            _ => true,
        };
        if !isr.contains(&self.node_id) || !replicas_ok {
            return Err(RoleError::InvalidAssignment {
                node_id: self.node_id,
                isr,
                replicas: Vec::new(),
            });
        }
        self.step(state, None, None, |machine, log, _| {
            machine.isr_settled(log, leader_epoch, isr, settled)
        });
        Ok(())
    }

    /// The committed ISR while leading.
    pub fn isr(&self) -> Option<Vec<i32>> {
        self.lock().machine.isr().map(<[i32]>::to_vec)
    }

    /// The log started over at the leader's log start: writes the new start
    /// durably (which deletes the old segments) and the emptied epoch cache.
    async fn persist_start_over(&self) -> Result<(), LogError> {
        {
            let _gate = self.log_start_gate.lock().await;
            self.persist_log_start().await?;
        }
        self.persist_epochs().await
    }

    /// Writes the leader-epoch cache if it changed since its last write.
    pub(super) async fn persist_epochs(&self) -> Result<(), LogError> {
        let _gate = self.epoch_file_gate.lock().await;
        let (path, text) = {
            let mut state = self.lock();
            if !state.epochs_dirty {
                return Ok(());
            }
            state.epochs_dirty = false;
            (
                join(state.log.dir(), LEADER_EPOCH_FILE),
                state.epoch_cache.encode(),
            )
        };
        if let Err(e) = self.disk.write_file_durably(&path, text.as_bytes()).await {
            self.lock().epochs_dirty = true;
            return Err(LogError::Disk(e));
        }
        Ok(())
    }
}

/// The log's recovery must accept records of every epoch this replica
/// is told of.
fn raise_leader_epoch_max(state: &mut super::PartitionState, leader_epoch: i32) {
    let mut config = *state.log.config();
    if config.leader_epoch_max < leader_epoch {
        config.leader_epoch_max = leader_epoch;
        state.log.set_config(config);
    }
}

fn refused(request: &FetchRequest, error: FetchError) -> FetchResponse<Vec<u8>> {
    FetchResponse {
        correlation_id: request.correlation_id,
        leader_id: -1,
        leader_epoch: -1,
        fetch_offset: request.fetch_offset,
        result: FetchResult::Error(error),
    }
}

/// The record bytes an answer carries.
fn answer_bytes(response: &FetchResponse<Vec<u8>>) -> usize {
    match &response.result {
        FetchResult::Records { batches, .. } => batches
            .iter()
            .map(|b| b.records.len())
            .fold(0, usize::saturating_add),
        _ => 0,
    }
}
