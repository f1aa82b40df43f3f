//! Runs the partition's replica machine: one step over the segment log
//! (`SegmentReplicaLog`) under the partition lock, then each action it
//! returns (answer a produce, wake fetchers, fill the fetch and ISR slots,
//! ask for a sync).

use crate::core::partition::{FetchResponse, ReplicaAction, ReplicaMachine};
use crate::core::topic_config::FsyncPolicy;
use crate::log::LogError;
use crate::server::partition_handle::{PartitionHandle, PartitionState};
use crate::server::segment_replica_log::SegmentReplicaLog;

/// What one machine step left for the caller.
#[derive(Default)]
pub(super) struct StepOutcome {
    /// The answer to a follower's fetch (`RespondFetch`).
    pub(super) fetch_answer: Option<FetchResponse<Vec<u8>>>,
    /// The machine asked for a sync (`Sync`).
    pub(super) sync_wanted: bool,
    /// The log refused a step (disk error, a bad batch from the leader).
    pub(super) error: Option<LogError>,
    /// The follower's log started over at its leader's log start
    /// (`StartedAt`): the caller makes the new start durable before the
    /// next fetch goes out.
    pub(super) started_over: bool,
}

impl PartitionHandle {
    /// The machine's time: the monotonic clock, so a wall-clock step
    /// neither expires fetches nor shrinks the ISR.
    pub(super) fn now_ms(&self) -> u64 {
        self.clock.monotonic_ms().max(0) as u64
    }

    /// Runs one machine step over the segment log and carries out the
    /// actions it returns. `read_bytes_max` bounds what a follower's fetch
    /// reads; `staged` is a client append the caller already wrote.
    pub(super) fn step(
        &self,
        state: &mut PartitionState,
        read_bytes_max: Option<usize>,
        staged: Option<(i64, i64)>,
        run: impl FnOnce(
            &mut ReplicaMachine,
            &mut SegmentReplicaLog<'_>,
            u64,
        ) -> Vec<ReplicaAction<Vec<u8>>>,
    ) -> StepOutcome {
        let now_ms = self.now_ms();
        let PartitionState {
            log,
            machine,
            epoch_cache,
            producers,
            bugs,
            epochs_dirty,
            ..
        } = state;
        let mut view = SegmentReplicaLog::new(
            log,
            epoch_cache,
            producers,
            self.disk.as_ref(),
            self.clock.wall_ms(),
            !bugs.no_idempotence,
        );
        if let Some(bytes) = read_bytes_max {
            view.set_read_bytes_max(bytes);
        }
        if let Some((base_offset, end_offset)) = staged {
            view.stage_client_append(base_offset, end_offset);
        }
        let actions = run(machine, &mut view, now_ms);
        if staged.is_some() && !view.staged_confirmed() {
            // Only reachable if the driver's checks before the append and
            // the machine's disagree: the records stay in the log unanswered.
            tracing::error!(topic = %self.topic, partition = self.partition, "the replica machine refused a client append the driver wrote");
        }
        *epochs_dirty |= view.epochs_changed;
        let mut outcome = StepOutcome {
            error: view.error.take(),
            ..StepOutcome::default()
        };
        self.apply(state, actions, &mut outcome);
        outcome
    }

    /// Carries out the machine's actions.
    pub(super) fn apply(
        &self,
        state: &mut PartitionState,
        actions: Vec<ReplicaAction<Vec<u8>>>,
        outcome: &mut StepOutcome,
    ) {
        for action in actions {
            match action {
                // The segment log keeps its own indexes while appending.
                ReplicaAction::Appended { .. } | ReplicaAction::AppendedVerbatim { .. } => {}
                ReplicaAction::Truncated { offset } => {
                    tracing::info!(topic = %self.topic, partition = self.partition, offset, "truncated to match the leader");
                    self.hw_changed.notify_waiters();
                }
                ReplicaAction::StartedAt { offset } => {
                    tracing::info!(topic = %self.topic, partition = self.partition, offset, "below the leader's log start: the log starts over there");
                    outcome.started_over = true;
                    self.hw_changed.notify_waiters();
                }
                ReplicaAction::Sync { .. } => outcome.sync_wanted = true,
                ReplicaAction::HighWatermark { offset } => {
                    if state.machine.is_leader()
                        && super::machine_fsync_policy(&state.config, &state.bugs)
                            == FsyncPolicy::Always
                    {
                        crate::leadership_journal::durable_high_watermark(
                            (self.topic_id, self.partition),
                            state.machine.leader_epoch(),
                            offset,
                        );
                    }
                    self.hw_changed.notify_waiters()
                }
                ReplicaAction::WakeFetchers => self.hw_changed.notify_waiters(),
                ReplicaAction::RespondProduce { request_id, result } => {
                    if let Some(waiter) = state.waiters.remove(&request_id) {
                        let _ = waiter.send(result);
                    }
                }
                ReplicaAction::RespondFetch { response, .. } => {
                    outcome.fetch_answer = Some(response)
                }
                ReplicaAction::ProposeIsr(proposal) => {
                    state.isr_proposal = Some(proposal);
                    self.isr_wanted.notify_one();
                }
                ReplicaAction::SendFetch { to, request } => {
                    state.outgoing_fetch = Some((to, request));
                    self.fetch_wanted.notify_one();
                }
            }
        }
    }

    /// Whether a sync the machine asked for must run before the caller
    /// answers (`fsync.policy=always`); other policies leave it to the
    /// background flusher.
    pub(super) fn sync_needed(state: &PartitionState, outcome: &StepOutcome) -> bool {
        outcome.sync_wanted
            && state.config.fsync_policy == FsyncPolicy::Always
            && !state.bugs.ack_before_sync
    }
}
