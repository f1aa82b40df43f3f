//! A partition hosted on this node: its log and its replica state machine
//! ([`ReplicaMachine`]), driven together: opening and recovery, syncs,
//! reads, retention, compaction and checkpoints here; a produce in
//! `partition_handle/produce.rs`; one machine step and its actions in
//! `partition_handle/actions.rs`; the cluster-facing API (roles, replica
//! fetches both ways, ISR changes) in `partition_handle/replication.rs`.

mod actions;
mod produce;
pub mod replication;

pub use replication::{ReplicationTiming, RoleError};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Notify};

use crate::core::metadata::TopicId;
use crate::core::partition::high_watermark_checkpoint::initial_high_watermark;
use crate::core::partition::leader_epoch_cache::LeaderEpochCache;
use crate::core::partition::{
    FetchRequest, IsrProposal, ProduceError as ReplicaProduceError, ReplicaBugs, ReplicaConfig,
    ReplicaMachine,
};
use crate::core::producer_state::{ProducerError, ProducerStateTable};
use crate::core::topic_config::{FsyncPolicy, TopicConfig};
use crate::coverage::{self, Counter};
use crate::io::clock::Clock;
use crate::io::disk::{join, Disk, DiskError};
use crate::log::read_plan::ReadOutcome;
use crate::log::{LogConfig, LogError, PartitionLog, RecoveryReport, SyncWork};
use crate::server::config::{BugSwitches, Limits};
use crate::server::partition_metadata::{self, DirOwner};
use crate::server::producer_snapshots;
use crate::server::segment_replica_log::SegmentReplicaLog;

const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
pub use crate::server::partition_metadata::{hex, PARTITION_METADATA_FILE};

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Log(#[from] LogError),
    /// This replica does not lead the partition (it follows, or was not
    /// told its role yet): the client must find the leader.
    #[error("this replica is not the partition's leader")]
    NotLeaderOrFollower,
    #[error("acks=all needs {required} in-sync replicas")]
    NotEnoughReplicas { required: i64 },
    /// Appended and committed, but the ISR shrank below
    /// `min.insync.replicas` meanwhile.
    #[error("the ISR fell below min.insync.replicas after the append")]
    NotEnoughReplicasAfterAppend,
    #[error("timed out waiting for the acknowledgement")]
    TimedOut,
    #[error(transparent)]
    Producer(#[from] ProducerError),
}

/// What a fetch of one partition returns.
#[derive(Debug, Clone, Default)]
pub struct PartitionRead {
    pub records: Vec<u8>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// A produce request waiting for the machine's answer.
type ProduceWaiter = oneshot::Sender<Result<i64, ReplicaProduceError>>;
type ProduceReceiver = oneshot::Receiver<Result<i64, ReplicaProduceError>>;

struct PartitionState {
    log: PartitionLog,
    machine: ReplicaMachine,
    config: TopicConfig,
    epoch_cache: LeaderEpochCache,
    /// The epoch cache changed since its file was last written.
    epochs_dirty: bool,
    waiters: BTreeMap<u64, ProduceWaiter>,
    next_request_id: u64,
    /// When the last sync completed, on the monotonic clock: the `interval`
    /// fsync is a timer, so a wall-clock step neither hastens nor starves it.
    last_sync_monotonic_ms: i64,
    /// Idempotent producers' last batches, to drop retried duplicates.
    producers: ProducerStateTable,
    /// Test-only bug switches (ack-before-sync: answer before the sync, which
    /// the background flusher then does a little later; no-idempotence).
    bugs: BugSwitches,
    /// The broker's resource limits this partition applies (producer ids,
    /// compaction memory).
    limits: Limits,
    /// The fetch the follower wants sent (the latest only: an older one is
    /// stale once the machine asks for a newer one).
    outgoing_fetch: Option<(i32, FetchRequest)>,
    /// The ISR change the leader wants the controller to commit (the
    /// latest only, as the machine proposes one at a time).
    isr_proposal: Option<IsrProposal>,
    /// Removed from the node (`resign`): no fetch leaves and no answer is
    /// stored any more, though a fetcher may still hold this handle.
    resigned: bool,
}

/// A partition's leader epoch and leader-epoch cache with its offsets at
/// one instant (see [`PartitionHandle::with_epochs`]).
pub struct EpochView<'a> {
    pub leader_epoch: i32,
    pub cache: &'a LeaderEpochCache,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    /// The log end when this replica became leader of its epoch; `None`
    /// when it does not lead.
    pub leader_epoch_start_offset: Option<i64>,
}

/// Times a read is planned again after racing a change of the files.
pub const READ_ATTEMPTS_MAX: usize = 4;

pub struct PartitionHandle {
    pub topic: String,
    pub topic_id: TopicId,
    pub partition: i32,
    disk: Arc<dyn Disk>,
    /// The node's clock: the `interval` fsync is timed on its monotonic side.
    clock: Arc<dyn Clock>,
    state: Mutex<PartitionState>,
    /// One sync at a time per partition; producers queued behind it find
    /// their records already synced (group commit).
    sync_gate: tokio::sync::Mutex<()>,
    /// One move of the log start at a time, so its durable writes never
    /// cross (retention and DeleteRecords).
    log_start_gate: tokio::sync::Mutex<()>,
    /// Woken when this partition's high watermark moves or the partition is
    /// removed: long-polling fetches wait on the partitions they read only.
    /// Also woken when the log grows, for replica fetches.
    hw_changed: Notify,
    /// Holds a permit when the follower has a fetch to send.
    fetch_wanted: Notify,
    /// Holds a permit when the leader has an ISR change to propose.
    isr_wanted: Notify,
    /// One write of the leader-epoch file at a time, so an older content
    /// never lands after a newer one.
    epoch_file_gate: tokio::sync::Mutex<()>,
    /// Held by a checkpoint from its sync to its recovery-point write, and
    /// by a follower's truncation from lowering the point to the cut: a
    /// point computed before a cut never lands after it.
    recovery_point_gate: tokio::sync::Mutex<()>,
    node_id: i32,
}

/// Where a partition's files live: `<data dir>/<topic>-<partition>`.
pub fn partition_dir(data_dir: &str, topic: &str, partition: i32) -> String {
    join(data_dir, &format!("{topic}-{partition}"))
}

impl PartitionHandle {
    /// Opens the partition's log (recovering it), its high watermark
    /// starting from `checkpointed_high_watermark`
    /// (`replication-offset-checkpoint`; None: 0, as Kafka). `leader_epoch`
    /// is the partition's epoch in the metadata, the largest one its files
    /// may name. The replica starts `Unassigned`: it serves nothing until
    /// [`PartitionHandle::become_leader`] or
    /// [`PartitionHandle::become_follower`].
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        disk: Arc<dyn Disk>,
        data_dir: &str,
        topic: &str,
        topic_id: TopicId,
        partition: i32,
        node_id: i32,
        leader_epoch: i32,
        checkpointed_high_watermark: Option<i64>,
        config: TopicConfig,
        bugs: BugSwitches,
        clock: Arc<dyn Clock>,
    ) -> Result<(PartitionHandle, RecoveryReport), LogError> {
        let now_ms = clock.wall_ms();
        let dir = partition_dir(data_dir, topic, partition);
        let id_text = partition_metadata::encode(&topic_id);
        let meta_path = join(&dir, PARTITION_METADATA_FILE);
        // Only a readable file naming another topic id removes anything; an
        // unreadable one refuses the partition (the `?`), a missing one is
        // adopted.
        let owner = if disk.exists(&dir) {
            partition_metadata::read_owner(disk.as_ref(), &dir, &topic_id)?
        } else {
            DirOwner::Unnamed
        };
        match owner {
            DirOwner::This => {}
            DirOwner::Unnamed if disk.exists(&dir) => {
                tracing::warn!(
                    dir,
                    "adopting a partition directory without {PARTITION_METADATA_FILE}"
                );
            }
            DirOwner::Unnamed => {}
            DirOwner::Other(other) => {
                tracing::warn!(
                    dir,
                    other = hex(&other),
                    "removing a directory left by a deleted topic of the same name"
                );
                disk.remove_dir_all(&dir)?;
                disk.sync(data_dir).await?;
            }
        }
        let log_config = LogConfig {
            leader_epoch_max: leader_epoch,
            bugs: log_bugs(&bugs),
            ..config.log_config(!bugs.no_crc_check)
        };
        let (mut log, report) =
            PartitionLog::open(Arc::clone(&disk), &dir, log_config, now_ms).await?;
        if owner != DirOwner::This {
            disk.write_file_durably(&meta_path, id_text.as_bytes())
                .await?;
        }
        let epoch_path = join(&dir, LEADER_EPOCH_FILE);
        let mut epoch_cache = match disk.file_len(&epoch_path) {
            Ok(len) => LeaderEpochCache::decode(&String::from_utf8_lossy(&disk.read_at(
                &epoch_path,
                0,
                len as usize,
            )?)),
            Err(_) => LeaderEpochCache::default(),
        };
        // The metadata's epoch is the latest this partition ever had here: a
        // larger one in the file is damage (a flipped digit), not history.
        if let Some(stored) = epoch_cache.latest_epoch().filter(|e| *e > leader_epoch) {
            return Err(LogError::CorruptFile {
                path: epoch_path,
                reason: format!(
                    "names leader epoch {stored}, above the partition's epoch {leader_epoch}"
                ),
            });
        }
        epoch_cache.truncate_from(log.log_end_offset() + 1);
        // The file may lack epochs whose records survived: it is written
        // when the log syncs, and under fsync.policy=never a power loss can
        // keep records the page cache wrote back and lose the file's last
        // update. A leader without them answered a follower ending in such
        // an epoch "diverging at the log start", and the follower cut its
        // log and fetched the same batches again, forever (`--cluster 3
        // --fsync-never --correlated-crashes` seeds 26, 51 and more).
        // Kafka's recovery assigns each scanned batch's newer epoch.
        let mut epochs_dirty = false;
        for &(epoch, start) in &report.scanned_epochs {
            if start < log.log_end_offset() && epoch_cache.latest_epoch().is_none_or(|e| e < epoch)
            {
                epochs_dirty |= epoch_cache.assign(epoch, start);
            }
        }
        // As Kafka's log load: no epoch starts below the log start. In
        // memory only (Kafka flushes this lazily): every open repeats it, and
        // the file is rewritten with the next new epoch.
        epoch_cache.truncate_before(log.log_start_offset());
        // Make recovery's repairs durable before serving anything.
        let work = log.take_full_sync_work();
        for path in &work.paths {
            sync_ignoring_removed(disk.as_ref(), path).await?;
        }
        log.complete_sync(&work);
        let mut producers = producer_snapshots::load(disk.as_ref(), &log)?;
        let high_watermark = initial_high_watermark(
            checkpointed_high_watermark,
            log.log_start_offset(),
            log.log_end_offset(),
        );
        let machine = {
            let view = SegmentReplicaLog::new(
                &mut log,
                &mut epoch_cache,
                &mut producers,
                disk.as_ref(),
                now_ms,
                !bugs.no_idempotence,
            );
            ReplicaMachine::new(
                replica_config(node_id, &config, &bugs, &ReplicationTiming::default()),
                &view,
                high_watermark,
            )
        };
        let state = PartitionState {
            log,
            machine,
            config,
            epoch_cache,
            epochs_dirty,
            waiters: BTreeMap::new(),
            next_request_id: 0,
            last_sync_monotonic_ms: clock.monotonic_ms(),
            producers,
            bugs,
            limits: Limits::default(),
            outgoing_fetch: None,
            isr_proposal: None,
            resigned: false,
        };
        let handle = PartitionHandle {
            topic: topic.to_string(),
            topic_id,
            partition,
            disk,
            clock,
            state: Mutex::new(state),
            sync_gate: tokio::sync::Mutex::new(()),
            log_start_gate: tokio::sync::Mutex::new(()),
            hw_changed: Notify::new(),
            fetch_wanted: Notify::new(),
            isr_wanted: Notify::new(),
            epoch_file_gate: tokio::sync::Mutex::new(()),
            recovery_point_gate: tokio::sync::Mutex::new(()),
            node_id,
        };
        Ok((handle, report))
    }

    /// Notified when the high watermark moves or the partition is removed.
    /// Enable the `Notified` before reading, so no move is missed.
    pub fn hw_changed(&self) -> &Notify {
        &self.hw_changed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PartitionState> {
        self.state.lock().expect("partition state poisoned")
    }

    /// Whether a panic (a bug) interrupted a change of this partition's
    /// state. Such a partition serves nothing more until a restart recovers
    /// it from disk; requests and background tasks check this first, so the
    /// failure stays inside the partition.
    pub fn has_failed(&self) -> bool {
        self.state.is_poisoned()
    }

    /// Puts the partition in the state a bug would leave it in: a panic
    /// while its lock was held.
    #[cfg(test)]
    pub fn poison_for_test(&self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = self.state.lock();
            panic!("a bug while the partition lock is held (test)");
        }));
        assert!(self.has_failed());
    }

    /// The largest leader epoch this replica was told of (-1 before any).
    pub fn leader_epoch(&self) -> i32 {
        self.lock().machine.leader_epoch()
    }

    /// Whether this replica leads the partition now.
    pub fn is_leader(&self) -> bool {
        self.lock().machine.is_leader()
    }

    /// Applies the broker's limits (set once, after opening).
    pub fn set_limits(&self, limits: Limits) {
        self.lock().limits = limits;
    }

    /// Forgets idempotent producers idle for `producer.id.expiration.ms`
    /// (by the timestamp of their last batch, as Kafka does). Holds the
    /// partition lock only for the table scan. Returns how many went.
    pub fn expire_producers(&self, now_ms: i64) -> usize {
        let mut state = self.lock();
        let expiration_ms = state.limits.producer_id_expiration_ms.max(0);
        state.producers.expire(now_ms, expiration_ms).len()
    }

    /// Idempotent producers the partition remembers now.
    pub fn producer_count(&self) -> usize {
        self.lock().producers.producer_count()
    }

    pub fn config(&self) -> TopicConfig {
        self.lock().config.clone()
    }

    pub fn update_config(&self, config: TopicConfig) {
        let mut state = self.lock();
        let leader_epoch_max = state
            .log
            .config()
            .leader_epoch_max
            .max(state.machine.leader_epoch());
        let verify_crc = !state.bugs.no_crc_check;
        let bugs = log_bugs(&state.bugs);
        state.log.set_config(LogConfig {
            leader_epoch_max,
            bugs,
            ..config.log_config(verify_crc)
        });
        let fsync_policy = machine_fsync_policy(&config, &state.bugs);
        state
            .machine
            .update_settings(fsync_policy, config.min_insync_replicas.max(1) as usize);
        state.config = config;
    }

    /// Syncs every record appended so far. Concurrent callers share one fsync.
    pub async fn sync(&self) -> Result<(), LogError> {
        self.sync_files(false).await
    }

    /// `full` also syncs index files (before a recovery point is written).
    async fn sync_files(&self, full: bool) -> Result<(), LogError> {
        let _gate = self.sync_gate.lock().await;
        // The epochs of records about to become durable are written first,
        // so a restart never finds records of an epoch its cache lacks.
        self.persist_epochs().await?;
        let work = {
            let mut state = self.lock();
            if state.log.is_offline() {
                return Err(LogError::Offline {
                    dir: state.log.dir().to_string(),
                    cause: "earlier failure".into(),
                });
            }
            let nothing_to_do = if full {
                !state.log.has_unsynced_files()
            } else {
                !state.log.has_unsynced_data()
            };
            if nothing_to_do {
                // Another sync may have covered what the machine waits for.
                let durable = state.log.durable_end_offset();
                self.step(&mut state, None, None, |machine, log, now| {
                    machine.sync_done(log, durable, now)
                });
                return Ok(());
            }
            if full {
                state.log.take_full_sync_work()
            } else {
                state.log.take_sync_work()
            }
        };
        crate::buggify::maybe_delay(crate::buggify::FaultPoint::SlowSync).await;
        for path in &work.paths {
            if let Err(e) = sync_ignoring_removed(self.disk.as_ref(), path).await {
                let mut guard = self.lock();
                let state = &mut *guard;
                state.log.sync_failed(&e, &work);
                // Out of file descriptors postpones the sync and cuts
                // nothing: the waiting produces stay.
                if state.log.is_offline() {
                    self.step(state, None, None, |machine, log, _| {
                        machine.log_cut_back(log)
                    });
                }
                return Err(LogError::Disk(e));
            }
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        state.log.complete_sync(&work);
        state.last_sync_monotonic_ms = self.clock.monotonic_ms();
        let durable = state.log.durable_end_offset();
        self.step(state, None, None, |machine, log, now| {
            machine.sync_done(log, durable, now)
        });
        Ok(())
    }

    /// Whether the background flusher should sync now: `interval` when its
    /// period passed; `always` whenever data is unsynced (only possible after
    /// a failed produce sync, or with the ack-before-sync bug).
    pub fn background_sync_due(&self) -> bool {
        let state = self.lock();
        if state.log.is_offline() || !state.log.has_unsynced_data() {
            return false;
        }
        match state.config.fsync_policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval => {
                self.clock.monotonic_ms() - state.last_sync_monotonic_ms
                    >= state.config.fsync_interval_ms
            }
            FsyncPolicy::Never => false,
        }
    }

    /// Whether a read from `offset` finds nothing it may serve until the log
    /// is synced: it starts at or past the durable end and below the high
    /// watermark (`interval` and `never` count appended records in the high
    /// watermark, as Kafka does, before they are synced). Fetch syncs such
    /// a partition first, so reads only ever return synced records.
    pub fn read_waits_for_sync(&self, offset: i64) -> bool {
        let state = self.lock();
        !state.bugs.read_unsynced
            && !state.log.is_offline()
            && offset >= state.log.durable_end_offset()
            && offset < state.machine.high_watermark()
    }

    /// Reads up to `max_bytes` of committed batches from `offset`, at least
    /// one batch whatever its size (for readers that must make progress).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<PartitionRead, LogError> {
        self.read_limited(offset, max_bytes, true)
    }

    /// Reads committed batches from `offset`: at most `max_bytes`, except
    /// that with `min_one_batch` the first batch comes whatever its size
    /// (KIP-74). With `max_bytes == 0` and no `min_one_batch` it reads
    /// nothing but still checks the offset and reports the watermarks.
    ///
    /// The files are read without the partition lock held: only the plan
    /// (segments, positions, high watermark) is taken under it. A read that
    /// raced retention, compaction or truncation is planned again; after
    /// [`READ_ATTEMPTS_MAX`] such races it returns no records.
    pub fn read_limited(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<PartitionRead, LogError> {
        let mut from = offset;
        let mut races = 0;
        loop {
            let (plan, high_watermark, log_start_offset) = {
                let state = self.lock();
                let high_watermark = state.machine.high_watermark();
                // Only synced records are served, whatever the policy: a
                // power loss may take back the rest, and an offset a consumer
                // has read must never be handed out again.
                let served_end = if state.bugs.read_unsynced {
                    high_watermark
                } else {
                    high_watermark.min(state.log.durable_end_offset())
                };
                let plan = state
                    .log
                    .plan_read(from, max_bytes, min_one_batch, served_end)?;
                (plan, high_watermark, state.log.log_start_offset())
            };
            let outcome = plan.execute(self.disk.as_ref());
            if self.lock().log.file_generation() != plan.file_generation {
                // The files changed under the read: its bytes (or its error)
                // may belong to another version of the file.
                races += 1;
                if races < READ_ATTEMPTS_MAX {
                    continue;
                }
                tracing::debug!(topic = %self.topic, partition = self.partition, "read kept racing file changes");
                return Ok(PartitionRead {
                    records: Vec::new(),
                    high_watermark,
                    log_start_offset,
                });
            }
            match outcome? {
                ReadOutcome::Bytes(records) => {
                    return Ok(PartitionRead {
                        records,
                        high_watermark,
                        log_start_offset,
                    })
                }
                // Compacted segments with nothing past `from`: each step
                // moves forward, so this ends.
                ReadOutcome::ContinueFrom(next) => from = next,
            }
        }
    }

    /// Runs `f` on the partition's leader epoch, its leader-epoch cache and
    /// its offsets, read together under the partition lock: what the KIP-320
    /// checks (OffsetForLeaderEpoch, a fetch's epochs) are answered from.
    pub fn with_epochs<R>(&self, f: impl FnOnce(&EpochView<'_>) -> R) -> R {
        let state = self.lock();
        f(&EpochView {
            leader_epoch: state.machine.leader_epoch(),
            cache: &state.epoch_cache,
            log_start_offset: state.log.log_start_offset(),
            high_watermark: state.machine.high_watermark(),
            log_end_offset: state.log.log_end_offset(),
            leader_epoch_start_offset: state.machine.leader_epoch_start_offset(),
        })
    }

    /// Whether this replica leads an epoch its high watermark has not yet
    /// reached the start of: offsets below the last leader's acknowledged
    /// ones may then be answered as the latest, so Kafka answers clients'
    /// ListOffsets OFFSET_NOT_AVAILABLE (retriable) until it catches up.
    pub fn high_watermark_lags_epoch_start(&self) -> bool {
        self.with_epochs(|view| {
            view.leader_epoch_start_offset
                .is_some_and(|start| view.high_watermark < start)
        })
    }

    /// The high watermark to checkpoint (`replication-offset-checkpoint`).
    pub fn high_watermark(&self) -> i64 {
        self.lock().machine.high_watermark()
    }

    /// Bytes of all the log's segments (DescribeLogDirs).
    pub fn size_bytes(&self) -> u64 {
        self.lock().log.size_bytes()
    }

    /// (log start offset, high watermark, log end offset).
    pub fn offsets(&self) -> (i64, i64, i64) {
        let state = self.lock();
        (
            state.log.log_start_offset(),
            state.machine.high_watermark(),
            state.log.log_end_offset(),
        )
    }

    /// The first committed offset with a timestamp at or after `timestamp_ms`.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        let state = self.lock();
        let found = state.log.find_offset_by_timestamp(timestamp_ms)?;
        Ok(found.filter(|(offset, _)| *offset < state.machine.high_watermark()))
    }

    /// The first committed record with the log's largest timestamp (KIP-734).
    pub fn offset_for_max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let state = self.lock();
        let found = state.log.find_max_timestamp()?;
        Ok(found.filter(|(offset, _)| *offset < state.machine.high_watermark()))
    }

    /// Applies retention; returns how many segments fell below the new log
    /// start (deleted once the start is durable, before this returns).
    pub async fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let _gate = self.log_start_gate.lock().await;
        let deleted = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let bound = if state.bugs.retention_past_hw {
                i64::MAX
            } else {
                state.machine.high_watermark()
            };
            state.log.apply_retention(now_ms, bound)?
        };
        if deleted > 0 {
            coverage::add(Counter::RetentionDeletedSegments, deleted as u64);
            let start = self.persist_log_start().await?;
            tracing::info!(topic = %self.topic, partition = self.partition, deleted, log_start = start, "retention deleted segments");
        }
        Ok(deleted)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1: the
    /// high watermark) and returns the new log start once it is durable;
    /// segments wholly below it are then deleted.
    /// Kafka's checks: a topic without `delete` in its cleanup policy is a
    /// policy violation; an offset below 0 or past the high watermark is out
    /// of range; an offset at or below the current start changes nothing.
    pub async fn advance_log_start(&self, offset: i64) -> Result<i64, DeleteRecordsError> {
        let _gate = self.log_start_gate.lock().await;
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            if !state.config.delete_by_retention {
                return Err(DeleteRecordsError::PolicyViolation);
            }
            let high_watermark = state.machine.high_watermark();
            let target = if offset == -1 { high_watermark } else { offset };
            if target < 0 || target > high_watermark {
                return Err(DeleteRecordsError::OutOfRange {
                    requested: offset,
                    high_watermark,
                });
            }
            state.log.advance_log_start_offset(target)?;
        }
        let start = self.persist_log_start().await?;
        tracing::info!(topic = %self.topic, partition = self.partition, log_start = start, "records deleted");
        Ok(start)
    }

    /// Moves the log start offset up to `offset` (DeleteRecords), durably:
    /// when this returns Ok the new start survives a crash, and segments
    /// wholly below it are deleted. Returns the log start offset.
    pub async fn advance_log_start_offset(&self, offset: i64) -> Result<i64, LogError> {
        let _gate = self.log_start_gate.lock().await;
        self.lock().log.advance_log_start_offset(offset)?;
        self.persist_log_start().await
    }

    /// Writes the in-memory log start durably, then lets the log delete the
    /// segments below it, and tells the replica and the epoch cache. The
    /// caller holds `log_start_gate`, so writes of the file never cross.
    async fn persist_log_start(&self) -> Result<i64, LogError> {
        let pending = self.lock().log.pending_log_start_write();
        let Some(write) = pending else {
            return Ok(self.lock().log.log_start_offset());
        };
        let forget = self.lock().bugs.forget_log_start;
        let written = if forget {
            // Bug switch: pretend the start was written.
            Ok(())
        } else {
            self.disk
                .write_file_durably(&write.path, &write.bytes)
                .await
        };
        if let Err(e) = written {
            let mut guard = self.lock();
            let state = &mut *guard;
            state.log.sync_failed(&e, &SyncWork::default());
            if state.log.is_offline() {
                self.step(state, None, None, |machine, log, _| {
                    machine.log_cut_back(log)
                });
            }
            return Err(LogError::Disk(e));
        }
        coverage::bump(Counter::LogStartOffsetWrites);
        let mut guard = self.lock();
        let state = &mut *guard;
        state.log.complete_log_start_write(&write)?;
        let start = state.log.log_start_offset();
        // In memory only, as Kafka flushes it lazily: the next open
        // truncates the file's copy the same way.
        state.epoch_cache.truncate_before(start);
        self.step(state, None, None, |machine, log, _| {
            machine.log_start_advanced(log)
        });
        Ok(start)
    }

    /// Cleans a compacted topic's sealed segments when some of them are
    /// dirty (written since the last cleaning): keeps the latest record per
    /// key at its offset, drops expired tombstones. Returns whether it ran.
    /// Runs in the housekeeping task, never concurrently with retention.
    pub async fn compact(&self, now_ms: i64) -> Result<bool, String> {
        use crate::log::cleaner_decision::{cleanable_until, CleanerPolicy};
        use crate::log::compaction::{self, CompactionParams, CompactionStats};
        use crate::log::compaction_files as files;
        let dir = self.dir();
        let (sealed, last_batch_offsets, params, index_interval) = {
            let state = self.lock();
            if !state.config.compacted || state.log.is_offline() {
                return Ok(false);
            }
            let sealed = state.log.sealed_segments();
            let checkpoint = files::read_cleaner_checkpoint(self.disk.as_ref(), &dir);
            let first_unsealed = state.log.active_base_offset();
            // Kafka's LogCleanerManager: clean when the dirty ratio is high
            // enough or a dirty segment is past max.compaction.lag.ms; never
            // records younger than min.compaction.lag.ms.
            let policy = CleanerPolicy {
                min_compaction_lag_ms: state.config.min_compaction_lag_ms,
                max_compaction_lag_ms: state.config.max_compaction_lag_ms,
                min_cleanable_dirty_ratio: state.config.min_cleanable_dirty_ratio.get(),
            };
            let Some(uncleanable_offset) = cleanable_until(
                &state.log.sealed_segment_summaries(),
                checkpoint,
                first_unsealed.min(state.machine.high_watermark()),
                now_ms,
                &policy,
                |base| files::first_batch_max_timestamp(self.disk.as_ref(), &dir, base),
            ) else {
                return Ok(false);
            };
            let params = CompactionParams {
                dirty_start_offset: checkpoint,
                uncleanable_offset,
                now_ms,
                delete_retention_ms: state.config.delete_retention_ms,
                offset_map_bytes_max: state.limits.cleaner_dedupe_buffer_bytes.max(1),
            };
            (
                sealed,
                state.producers.last_batch_offsets(),
                params,
                state.log.config().index_interval_bytes,
            )
        };
        // Two passes, one segment in memory at a time: build the offset map,
        // then clean and swap each planned segment.
        let disk = self.disk.as_ref();
        let load = |base: i64| {
            files::read_segment(disk, &dir, base).map_err(|e| compaction::CompactionError::Read {
                base_offset: base,
                detail: e.to_string(),
            })
        };
        let bases: Vec<i64> = sealed.iter().map(|(base, _)| *base).collect();
        let plan = compaction::plan_cleaning(&bases, load, &params).map_err(|e| e.to_string())?;
        let mut stats = CompactionStats::default();
        for base in &plan.segments {
            let input = load(*base).map_err(|e| e.to_string())?;
            let cleaned =
                compaction::clean_segment(&input, &plan, &last_batch_offsets, &params, &mut stats)
                    .map_err(|e| e.to_string())?;
            drop(input);
            if !cleaned.changed {
                continue;
            }
            let cleaned = &cleaned;
            let expected_size = sealed
                .iter()
                .find(|(b, _)| *b == cleaned.base_offset)
                .map_or(0, |(_, s)| *s);
            let marker = files::compacted_marker_path(&dir);
            if !self.disk.exists(&marker) {
                self.disk
                    .write_file_durably(&marker, b"compacted\n")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            files::prepare_cleaned_segment(self.disk.as_ref(), &dir, cleaned)
                .await
                .map_err(|e| e.to_string())?;
            // Swap the file and the in-memory segment in one step: no read
            // may see the new file through the old index.
            let swapped = {
                let mut state = self.lock();
                let installed = files::swap_in_cleaned_segment(
                    self.disk.as_ref(),
                    &dir,
                    cleaned,
                    expected_size,
                    index_interval,
                    now_ms,
                )
                .map_err(|e| e.to_string())
                .and_then(|seg| state.log.replace_segment(seg).map_err(|e| e.to_string()));
                installed
            };
            if let Err(e) = swapped {
                let _ = files::abort_cleaned_segment(self.disk.as_ref(), &dir, cleaned.base_offset)
                    .await;
                return Err(e);
            }
            files::sync_swapped_segment(self.disk.as_ref(), &dir, cleaned.base_offset)
                .await
                .map_err(|e| e.to_string())?;
            coverage::bump(Counter::CompactionSwaps);
        }
        files::write_cleaner_checkpoint(self.disk.as_ref(), &dir, plan.cleaned_end_offset)
            .await
            .map_err(|e| e.to_string())?;
        coverage::bump(Counter::CompactionPasses);
        tracing::info!(topic = %self.topic, partition = self.partition, ?stats, map_keys = plan.map.len(), map_bytes = plan.map.bytes(), "compacted");
        Ok(true)
    }

    /// Syncs and writes the recovery point so the next start scans little.
    pub async fn checkpoint(&self) -> Result<(), LogError> {
        let _gate = self.recovery_point_gate.lock().await;
        // The unsynced-index bug skips the index files.
        let trusts_unsynced_indexes = self.lock().bugs.unsynced_index;
        self.sync_files(!trusts_unsynced_indexes).await?;
        let writes = {
            let state = self.lock();
            let unsynced = if trusts_unsynced_indexes {
                state.log.has_unsynced_data()
            } else {
                state.log.has_unsynced_files()
            };
            if unsynced {
                return Ok(()); // written meanwhile; next checkpoint
            }
            // The log is synced to its end, so the producer table describes
            // durable data only.
            [
                producer_snapshots::snapshot_write(state.log.dir(), &state.producers),
                state.log.recovery_point_write(),
            ]
        };
        for write in &writes {
            self.disk
                .write_file_durably(&write.path, &write.bytes)
                .await?;
        }
        coverage::bump(Counter::ProducerSnapshotsWritten);
        coverage::bump(Counter::RecoveryPointsWritten);
        producer_snapshots::remove_old(self.disk.as_ref(), &self.dir())?;
        Ok(())
    }

    /// Fails every waiting produce (the partition is being removed).
    pub fn resign(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        for (_, waiter) in std::mem::take(&mut state.waiters) {
            let _ = waiter.send(Err(ReplicaProduceError::NotLeaderOrFollower));
        }
        state.resigned = true;
        state.outgoing_fetch = None;
        state.log.close_reads();
        // Waiting fetches look again and find the partition gone.
        self.hw_changed.notify_waiters();
    }

    /// Whether a write or sync failed: the log takes no writes until restart.
    pub fn is_offline(&self) -> bool {
        self.lock().log.is_offline()
    }

    pub fn dir(&self) -> String {
        self.lock().log.dir().to_string()
    }
}

async fn sync_ignoring_removed(disk: &dyn Disk, path: &str) -> Result<(), DiskError> {
    match disk.sync(path).await {
        Err(DiskError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// Why DeleteRecords refused a partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteRecordsError {
    #[error("offset {requested} is not between 0 and the high watermark {high_watermark}")]
    OutOfRange { requested: i64, high_watermark: i64 },
    #[error("records of a topic whose cleanup.policy lacks delete cannot be deleted")]
    PolicyViolation,
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The fsync policy the machine counts by: the ack-before-sync bug switch
/// makes a leader count unsynced records (acknowledging before the sync).
fn machine_fsync_policy(config: &TopicConfig, bugs: &BugSwitches) -> FsyncPolicy {
    match config.fsync_policy {
        FsyncPolicy::Always if bugs.ack_before_sync => FsyncPolicy::Never,
        policy => policy,
    }
}

fn replica_config(
    node_id: i32,
    config: &TopicConfig,
    bugs: &BugSwitches,
    timing: &ReplicationTiming,
) -> ReplicaConfig {
    ReplicaConfig {
        min_insync_replicas: config.min_insync_replicas.max(1) as usize,
        replica_lag_time_max_ms: timing.replica_lag_time_max_ms,
        replica_fetch_backoff_ms: timing.replica_fetch_backoff_ms,
        replica_fetch_empty_backoff_ms: timing.replica_fetch_empty_backoff_ms,
        replica_fetch_timeout_ms: timing.replica_fetch_timeout_ms,
        replica_fetch_max_records: replication::REPLICA_FETCH_RECORDS_MAX,
        fsync_policy: machine_fsync_policy(config, bugs),
        bugs: replica_bugs(bugs),
        ..ReplicaConfig::new(node_id)
    }
}

/// The replica machine's share of the broker's bug switches.
fn replica_bugs(bugs: &BugSwitches) -> ReplicaBugs {
    ReplicaBugs {
        ack_before_isr: bugs.ack_before_isr,
        truncate_to_hw: bugs.truncate_to_hw,
        unfenced_fetch: bugs.unfenced_fetch,
        kip101_only: bugs.kip101_only,
    }
}

/// The log's share of the broker's bug switches.
fn log_bugs(bugs: &BugSwitches) -> crate::log::config::LogBugs {
    crate::log::config::LogBugs {
        no_dir_sync: bugs.no_dir_sync,
        unsynced_index: bugs.unsynced_index,
    }
}
