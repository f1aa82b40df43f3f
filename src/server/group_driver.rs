//! Drives the sans-IO [`GroupCoordinator`]: hands it requests, carries out
//! its actions (answers, persists to `__consumer_offsets`), and runs its
//! timers (session and rebalance deadlines).
//!
//! Persists are appended by one task, in the order the coordinator emitted
//! them, so `on_persisted(id)` truthfully covers every persist up to `id`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use crate::core::group::{
    GroupAction, GroupConfig, GroupCoordinator, GroupError, GroupRecord, GroupRequest,
    GroupResponse,
};
use crate::core::partition::Acks;
use crate::io::clock::Clock;
use crate::log::{record_batch, LogError};
use crate::server::config::BugSwitches;
use crate::server::offsets_topic::{self, OFFSETS_TOPIC};
use crate::server::partition_handle::PartitionHandle;

/// How long a persist may wait for its fsync before it counts as failed.
const PERSIST_TIMEOUT_MS: u64 = 30_000;
/// The timer task wakes at least this often (a bound, not a tick rate).
const TIMER_IDLE_MS: i64 = 1_000;

struct DriverState {
    coordinator: GroupCoordinator,
    waiters: BTreeMap<u64, oneshot::Sender<GroupResponse>>,
    next_request_id: u64,
}

pub struct GroupDriver {
    state: Mutex<DriverState>,
    persists: mpsc::UnboundedSender<(u64, Vec<GroupRecord>)>,
    /// The node's clock: deadlines are monotonic, commit timestamps wall.
    clock: Arc<dyn Clock>,
    /// Woken when a request may have moved the next deadline earlier.
    deadline_changed: Notify,
    /// Test-only bug switch: treat persists as durable once queued.
    commit_before_persist: bool,
    /// Set when this coordinator's leadership of the offsets partition
    /// ended: its tasks stop (a newer one took over).
    stopped: std::sync::atomic::AtomicBool,
    stop_signal: Notify,
}

impl GroupDriver {
    /// Loads the coordinator from the offsets partition and starts its
    /// persist and timer tasks. `incarnation` must differ on every start.
    ///
    /// Fails, starting nothing, when the partition cannot be read to its
    /// high watermark: the caller answers COORDINATOR_NOT_AVAILABLE and
    /// loads again on a later request.
    pub fn start(
        offsets: Arc<PartitionHandle>,
        clock: Arc<dyn Clock>,
        incarnation: u64,
        bugs: BugSwitches,
    ) -> Result<Arc<GroupDriver>, LoadError> {
        let mut coordinator = GroupCoordinator::new(GroupConfig::default(), incarnation);
        let (loaded, skipped) = load(&offsets, &mut coordinator)?;
        tracing::info!(loaded, skipped, "group coordinator loaded {OFFSETS_TOPIC}");
        let actions = coordinator.on_loaded(clock.now());
        let (persists, persist_queue) = mpsc::unbounded_channel();
        let driver = Arc::new(GroupDriver {
            state: Mutex::new(DriverState {
                coordinator,
                waiters: BTreeMap::new(),
                next_request_id: 0,
            }),
            persists,
            clock,
            deadline_changed: Notify::new(),
            commit_before_persist: bugs.commit_before_persist,
            stopped: std::sync::atomic::AtomicBool::new(false),
            stop_signal: Notify::new(),
        });
        {
            let mut state = driver.lock();
            driver.carry_out(&mut state, actions);
        }
        tokio::spawn(persist_loop(Arc::clone(&driver), offsets, persist_queue));
        tokio::spawn(timer_loop(Arc::clone(&driver)));
        Ok(driver)
    }

    /// Stops the persist and timer tasks (the leadership moved). Requests
    /// still queued are not persisted; their callers time out or were
    /// answered already, and clients find the new coordinator.
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        self.stop_signal.notify_waiters();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DriverState> {
        self.state.lock().expect("group driver poisoned")
    }

    /// One request in, its answer out (after whatever it needed persisted).
    pub async fn call(&self, request: GroupRequest) -> GroupResponse {
        let rx = {
            let mut state = self.lock();
            let request_id = state.next_request_id;
            state.next_request_id += 1;
            let (tx, rx) = oneshot::channel();
            state.waiters.insert(request_id, tx);
            let actions = state
                .coordinator
                .handle(self.clock.now(), request_id, request);
            self.carry_out(&mut state, actions);
            rx
        };
        self.deadline_changed.notify_one();
        rx.await
            .expect("the coordinator answers every request exactly once")
    }

    /// Carries out actions under the state lock, so persists are queued in
    /// the order the coordinator emitted them.
    fn carry_out(&self, state: &mut DriverState, actions: Vec<GroupAction>) {
        for action in actions {
            match action {
                GroupAction::Respond {
                    request_id,
                    response,
                } => {
                    if let Some(waiter) = state.waiters.remove(&request_id) {
                        let _ = waiter.send(response);
                    }
                }
                GroupAction::Persist {
                    persist_id,
                    records,
                } => {
                    // The receiver lives as long as the node's runtime.
                    let _ = self.persists.send((persist_id, records));
                    if self.commit_before_persist {
                        let early = state.coordinator.on_persisted(self.clock.now(), persist_id);
                        self.carry_out(state, early);
                    }
                }
            }
        }
    }

    fn on_persist_result(&self, persist_id: u64, result: Result<(), GroupError>) {
        let mut state = self.lock();
        let now = self.clock.now();
        let actions = match result {
            Ok(()) => state.coordinator.on_persisted(now, persist_id),
            Err(error) => state.coordinator.on_persist_failed(now, persist_id, error),
        };
        self.carry_out(&mut state, actions);
    }
}

/// Why the coordinator could not load its state.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {OFFSETS_TOPIC} at offset {offset} failed: {source}")]
    Read { offset: i64, source: LogError },
    #[error("reading {OFFSETS_TOPIC} at offset {offset} returned nothing below its high watermark {high_watermark}")]
    Stalled { offset: i64, high_watermark: i64 },
}

/// Replays every record of the offsets partition, from its log start to its
/// high watermark, into `coordinator`; returns (records replayed, records
/// undecodable).
///
/// All or nothing: a read that fails, or comes back empty, before the high
/// watermark is an error, never the end of the state. A coordinator started
/// from a prefix would hand out generations and serve committed offsets the
/// log has already moved past. Kafka does the same: its CoordinatorRuntime
/// moves a shard whose load threw to FAILED, serves nothing from it, and
/// loads it again from the start (FAILED -> LOADING); a read IOException
/// also takes the log directory offline.
fn load(
    offsets: &PartitionHandle,
    coordinator: &mut GroupCoordinator,
) -> Result<(usize, usize), LoadError> {
    let (mut loaded, mut skipped) = (0usize, 0usize);
    let (log_start, high_watermark, _) = offsets.offsets();
    let mut offset = log_start;
    while offset < high_watermark {
        let read = offsets
            .read(offset, offsets_topic::LOAD_READ_BYTES)
            .map_err(|source| LoadError::Read { offset, source })?;
        let mut next = offset;
        for (_, header) in record_batch::headers(&read.records) {
            next = header.next_offset();
        }
        if next <= offset {
            return Err(LoadError::Stalled {
                offset,
                high_watermark,
            });
        }
        let (records, bad) = offsets_topic::decode_batches(&read.records);
        skipped += bad;
        for record in &records {
            coordinator.replay(record);
        }
        loaded += records.len();
        offset = next;
    }
    Ok((loaded, skipped))
}

async fn persist_loop(
    driver: Arc<GroupDriver>,
    offsets: Arc<PartitionHandle>,
    mut queue: mpsc::UnboundedReceiver<(u64, Vec<GroupRecord>)>,
) {
    loop {
        let stopped = driver.stop_signal.notified();
        if driver.is_stopped() {
            return;
        }
        let next = tokio::select! {
            biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
            next = queue.recv() => next,
            _ = stopped => return,
        };
        let Some((persist_id, records)) = next else {
            return;
        };
        // The batch's timestamp, and the append's: wall time.
        let now = driver.clock.wall_ms();
        let batch = offsets_topic::encode_batch(&records, now);
        let result = match record_batch::validate_produced(&batch, usize::MAX) {
            Ok(headers) => offsets
                .produce(batch, &headers, Acks::All, PERSIST_TIMEOUT_MS, now)
                .await
                .map(|_| ()),
            Err(e) => panic!("the coordinator's own batch is invalid: {e}"),
        };
        let result = result.map_err(|e| {
            tracing::warn!(persist_id, %e, "persisting group records failed");
            GroupError::CoordinatorNotAvailable
        });
        driver.on_persist_result(persist_id, result);
    }
}

async fn timer_loop(driver: Arc<GroupDriver>) {
    loop {
        let wait_ms = {
            let state = driver.lock();
            let now = driver.clock.monotonic_ms();
            match state.coordinator.poll_timeout() {
                Some(deadline) => (deadline - now).clamp(0, TIMER_IDLE_MS),
                None => TIMER_IDLE_MS,
            }
        };
        let stopped = driver.stop_signal.notified();
        if driver.is_stopped() {
            return;
        }
        tokio::select! {
            biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            _ = driver.deadline_changed.notified() => {}
            _ = stopped => return,
        }
        let mut state = driver.lock();
        let actions = state.coordinator.on_tick(driver.clock.now());
        driver.carry_out(&mut state, actions);
    }
}
