//! The log of one partition replica: an ordered set of segments on a [`Disk`].
//!
//! Offsets are assigned here: a produced record set gets consecutive offsets
//! from the log end offset, its batch headers are patched (outside the CRC)
//! and the bytes are appended as sent. Durability is explicit: appends land
//! in the page cache and [`PartitionLog::take_sync_work`] /
//! [`PartitionLog::complete_sync`] move the durable end offset, which the
//! server drives with real or simulated fsyncs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::coverage::{self, Counter};
use crate::io::disk::{join, Disk, DiskError};
use crate::log::config::LogConfig;
use crate::log::log_start::{self, SmallFileWrite};
use crate::log::offset_index::OffsetIndex;
use crate::log::read_plan::{PlannedSegment, ReadOutcome, ReadPlan, PLAN_SEGMENTS_MAX};
use crate::log::record_batch::{self, BatchHeader, BATCH_HEADER_SIZE_BYTES};
use crate::log::recovery::{scan_segment, SegmentScan};
use crate::log::segment::{self, Segment};
use crate::log::time_index::TimeIndex;
use crate::log::verbatim_batches::verbatim_headers;

/// Name of the file holding an offset below which every segment was synced.
const RECOVERY_POINT_FILE: &str = "recovery-point";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("log {dir} is offline after a storage failure: {cause}")]
    Offline { dir: String, cause: String },
    /// A stored batch failed its CRC (or its offsets do not continue the
    /// log) when read to be served: latent damage of synced data. The
    /// batch is refused, never served; Kafka's CORRUPT_MESSAGE.
    #[error("corrupt batch in {path} at byte {position}: {reason}")]
    CorruptBatch {
        path: String,
        position: u64,
        reason: String,
    },
    /// A small file the partition trusts says something impossible (bit rot
    /// in synced data): the partition is refused, never opened on a guess.
    #[error("corrupt {path}: {reason}")]
    CorruptFile { path: String, reason: String },
    /// Another replica's batches were refused before anything was written:
    /// a bad CRC, or offsets that do not continue the log.
    #[error("refused a replicated batch: {reason}")]
    RejectedBatch { reason: String },
    #[error("offset {requested} is outside [{start}, {end}]")]
    OffsetOutOfRange {
        requested: i64,
        start: i64,
        end: i64,
    },
}

/// What a startup recovery did; surfaced in logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments_loaded: usize,
    pub segments_scanned: usize,
    pub segments_dropped: usize,
    /// Bytes cut off torn or corrupt tails.
    pub truncated_bytes: u64,
    /// Why the first truncation happened.
    pub first_stop_reason: Option<String>,
    /// Where each leader epoch starts among the batches recovery scanned
    /// and kept (not those of segments loaded from their indexes), epochs
    /// increasing: the leader-epoch cache takes the ones it lacks, as
    /// Kafka's `LogSegment.recover` assigns them.
    pub scanned_epochs: Vec<(i32, i64)>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// `log_start_offset` at the time of the append (returned in Produce).
    pub log_start_offset: i64,
}

/// Files to fsync to make everything up to `end_offset` durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncWork {
    pub paths: Vec<String>,
    pub end_offset: i64,
}

pub struct PartitionLog {
    disk: Arc<dyn Disk>,
    dir: String,
    config: LogConfig,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    /// The log start offset known durable (in `log-start-offset`). Segments
    /// wholly below it may be deleted; those between it and
    /// `log_start_offset` are kept until the new start is durable.
    log_start_persisted: i64,
    durable_end_offset: i64,
    /// Files (and the dir) written since their last sync.
    unsynced_paths: BTreeSet<String>,
    /// Set after a write or sync failure: the log takes no more writes until
    /// a restart recovers it from what is on disk.
    failure: Option<String>,
    /// A recovery point lowered by a truncation, to sync before anything else.
    recovery_point_to_sync: Option<String>,
    /// Bumped whenever bytes already in a segment file may change or vanish
    /// (retention, compaction, truncation, removal): a read planned before
    /// and executed after such a change is discarded (see `read_plan`).
    file_generation: u64,
    /// Set when the partition is being removed: reads fail from then on.
    reads_closed: bool,
    /// The cleaner has touched this log (now or before a restart: its
    /// marker or checkpoint is on disk): its offsets may skip, whatever
    /// `config.dense_offsets` (the topic's current policy) says.
    cleaned: bool,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering torn tails.
    ///
    /// Async because recovery may have to lower the recovery point durably
    /// before it rewrites the indexes of a segment the point vouched for.
    pub async fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<(PartitionLog, RecoveryReport), LogError> {
        // The directory's name is durable before anything in it is: synced
        // even when it exists, since an earlier open may have created it and
        // failed before its parent's sync.
        crate::io::disk::create_dir_all_durably(disk.as_ref(), dir).await?;
        // Finish or undo a compaction swap a crash interrupted.
        let finished =
            crate::log::compaction_files::recover_interrupted_compaction(disk.as_ref(), dir)?;
        coverage::add(Counter::CompactionSwapsInterrupted, finished.len() as u64);
        // A durable replacement a crash interrupted left its temp file.
        for name in disk.list_dir(dir)? {
            if name.ends_with(".tmp") {
                remove_if_exists(disk.as_ref(), &join(dir, &name))?;
            }
        }
        let mut bases: Vec<i64> = disk
            .list_dir(dir)?
            .iter()
            .filter_map(|n| segment::parse_log_file_name(n))
            .collect();
        bases.sort_unstable();
        // A recovery point that cannot be read (EIO) fails the open, as an
        // unreadable log start does: a full scan would take rot in synced
        // data for a torn tail and cut every record after it, records
        // consumers read, whose offsets the log would then hand out again
        // (seed 4388: read errors on, rot in segment 0, the point unread).
        // The open is retried when the image is next applied. A point whose
        // content is not a number (a lowered point a crash left partial)
        // still means a full scan.
        let recovery_point = read_recovery_point(disk.as_ref(), dir)?;
        // A log the cleaner ever touched may skip offsets, whatever its
        // policy is now.
        // (A cleaner checkpoint says the same of a log cleaned before the
        // marker existed.)
        let cleaned = disk.exists(&crate::log::compaction_files::compacted_marker_path(dir))
            || disk.exists(&join(
                dir,
                crate::log::compaction_files::CLEANER_CHECKPOINT_FILE,
            ));
        let dense_offsets = config.dense_offsets && !cleaned;
        let checkpointed_start = log_start::read(disk.as_ref(), dir)?;
        // Segments wholly below the durable start (their successor starts at
        // or below it) were being deleted when the node stopped: finish that
        // first. Their removals were not synced, and a crash may have made
        // any subset of them durable (each unlink is its own directory
        // entry), leaving a hole among them: a hole below the start is no
        // break in the log, and must not make recovery drop the segments
        // after it, which hold acknowledged records (seed 376).
        let doomed = bases
            .windows(2)
            .take_while(|pair| pair[1] <= checkpointed_start)
            .count();
        for base in bases.drain(..doomed) {
            for path in Segment::new(dir, base, now_ms).file_paths() {
                remove_if_exists(disk.as_ref(), path)?;
            }
        }
        // Segments wholly below the recovery point were synced, indexes
        // included: trust their indexes. Scan from the segment holding the
        // last offset below the point onwards.
        let first_scanned = bases.iter().rposition(|b| *b < recovery_point).unwrap_or(0);
        if bases.first().is_some_and(|b| *b < recovery_point) {
            coverage::bump(Counter::RecoveredFromRecoveryPoint);
        }
        let mut report = RecoveryReport::default();
        let mut segments = BTreeMap::new();
        let mut expected_base: Option<i64> = None;
        // The last leader epoch of the segment scanned just before (unknown
        // after a segment loaded from its indexes): epochs never go back.
        let mut last_epoch = i32::MIN;
        let mut dropping = false;
        for (i, base) in bases.iter().copied().enumerate() {
            let mut seg = Segment::new(dir, base, now_ms);
            // Segments continue each other; a compacted one may end before
            // the next begins, never after.
            let breaks_chain =
                expected_base.is_some_and(|e| if dense_offsets { e != base } else { e > base });
            if dropping || breaks_chain {
                // Data after a gap or a torn segment is not contiguous: drop it.
                dropping = true;
                for path in seg.file_paths() {
                    remove_if_exists(disk.as_ref(), path)?;
                }
                report.segments_dropped += 1;
                continue;
            }
            let next_base = bases.get(i + 1).copied();
            // The recovery point vouches that this segment, up to the next
            // one's base, was synced whole.
            let vouched = i < first_scanned;
            let loaded = if vouched {
                load_clean_segment(disk.as_ref(), &mut seg, next_base)?
            } else {
                false
            };
            if loaded {
                last_epoch = i32::MIN;
                report.segments_loaded += 1;
                coverage::bump(Counter::SegmentsLoadedFromIndex);
            } else {
                report.segments_scanned += 1;
                coverage::bump(Counter::SegmentsRebuiltByScan);
                let scan = scan_segment(
                    disk.as_ref(),
                    seg.log_path(),
                    0,
                    base,
                    config.verify_crc_on_recovery,
                    last_epoch..=config.leader_epoch_max,
                    dense_offsets,
                )?;
                last_epoch = scan
                    .batches
                    .last()
                    .map_or(last_epoch, |(_, h)| h.partition_leader_epoch);
                for (_, header) in &scan.batches {
                    note_scanned_epoch(&mut report.scanned_epochs, header);
                }
                match next_base.filter(|_| vouched) {
                    // The point vouched for indexes that are missing or do
                    // not fit. The data they index was synced, so a batch
                    // that fails its check in there is rot, never a torn
                    // write: rebuild the indexes without cutting anything,
                    // and write them durably, so the point keeps vouching
                    // for good ones.
                    Some(next_base) => {
                        tracing::warn!(
                            dir,
                            base,
                            recovery_point,
                            "indexes below the recovery point are unusable: rebuilding them"
                        );
                        rebuild_vouched_from_scan(
                            disk.as_ref(),
                            &mut seg,
                            &scan,
                            next_base,
                            &config,
                        )
                        .await?;
                    }
                    None => {
                        rebuild_from_scan(
                            disk.as_ref(),
                            &mut seg,
                            &scan,
                            config.index_interval_bytes,
                        )?;
                        if scan.discarded_bytes > 0 {
                            report.truncated_bytes += scan.discarded_bytes;
                            if report.first_stop_reason.is_none() {
                                report.first_stop_reason =
                                    scan.stop_reason.as_ref().map(|e| e.to_string());
                            }
                            dropping = true;
                        }
                    }
                }
            }
            expected_base = Some(seg.next_offset);
            segments.insert(base, seg);
        }
        let log_end_offset = segments.values().next_back().map_or(0, |s| s.next_offset);
        if log_end_offset < checkpointed_start {
            // Every record below the durable start was deleted, and the ones
            // after it (if any) were lost or their files vanished: the log
            // starts over at the start, never below it (no offset reused).
            tracing::warn!(
                dir,
                log_end_offset,
                checkpointed_start,
                "the log ends below its checkpointed start: starting empty at the start"
            );
            for seg in std::mem::take(&mut segments).into_values() {
                for path in seg.file_paths() {
                    remove_if_exists(disk.as_ref(), path)?;
                }
            }
            report.scanned_epochs.clear();
        }
        if segments.is_empty() {
            let base = checkpointed_start;
            segments.insert(base, Segment::new(dir, base, now_ms));
        }
        let first_base = *segments.keys().next().expect("at least one segment");
        let log_start_offset = first_base.max(checkpointed_start);
        let log_end_offset = segments
            .values()
            .next_back()
            .expect("non-empty")
            .next_offset;
        if recovery_point > log_end_offset {
            // Recovery kept less than the point vouched for (a segment
            // shorter than its successor's base, a gap): the point may not
            // vouch for offsets appended from here on before they are synced.
            let lowered = recovery_point_write(dir, log_end_offset);
            disk.write_file_durably(&lowered.path, &lowered.bytes)
                .await?;
        }
        let mut log = PartitionLog {
            disk,
            dir: dir.to_string(),
            config,
            segments,
            log_start_offset,
            log_start_persisted: checkpointed_start,
            // What recovery kept is what survived: treat it as durable once
            // the repairs below are synced.
            durable_end_offset: 0,
            unsynced_paths: BTreeSet::new(),
            failure: None,
            recovery_point_to_sync: None,
            file_generation: 0,
            reads_closed: false,
            cleaned,
        };
        for seg in log.segments.values() {
            for path in seg.file_paths() {
                log.unsynced_paths.insert(path.to_string());
            }
        }
        log.unsynced_paths.insert(log.dir.clone());
        log.durable_end_offset = log.log_start_offset;
        // Segments wholly below a durable start were being deleted when the
        // node stopped: finish the deletion.
        log.delete_segments_below(log.log_start_persisted)?;
        // Bytes past the recovery point may be in the page cache only, and a
        // failed fsync may have marked some of them clean without writing
        // them (fsyncgate: a failed sync of an earlier open, which cannot
        // cut them as `sync_failed` does, not knowing what was synced
        // before). Syncing such a file again "succeeds" without them, and a
        // power loss then takes back records served since. So recovery
        // copies every segment holding records past the point into a fresh
        // file (all its pages dirty), syncs that and renames it over the
        // original: the sync either really writes them or fails with the
        // original untouched (its durable bytes, which earlier reads may
        // have served, are never at risk). After a clean shutdown the point
        // is the log end and nothing is copied.
        let mut copied = false;
        for seg in log.segments.values() {
            if seg.next_offset > recovery_point && seg.size_bytes > 0 {
                copy_durably(log.disk.as_ref(), seg.log_path(), seg.size_bytes).await?;
                coverage::bump(Counter::SegmentsCopiedAtRecovery);
                copied = true;
            }
        }
        // The renames are durable before anything is appended to the copies:
        // a crash that undid one would bring back the original inode, without
        // every record acknowledged after this open (seed 471).
        if copied {
            log.disk.sync(dir).await?;
        }
        assert!(log.log_start_offset <= log_end_offset);
        Ok((log, report))
    }

    pub fn dir(&self) -> &str {
        &self.dir
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }
    /// Whether offsets follow each other without gaps: the topic says so
    /// and the cleaner never touched the log (a topic altered from
    /// `compact` to `delete` keeps its cleaned segments).
    fn dense_offsets(&self) -> bool {
        self.config.dense_offsets && !self.cleaned
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    /// The offset the next appended record gets (LEO).
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }
    /// Everything below this offset is on stable storage.
    pub fn durable_end_offset(&self) -> i64 {
        self.durable_end_offset
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size_bytes).sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    pub fn is_offline(&self) -> bool {
        self.failure.is_some()
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    fn check_online(&self) -> Result<(), LogError> {
        match &self.failure {
            Some(cause) => Err(LogError::Offline {
                dir: self.dir.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail(&mut self, cause: &DiskError) -> LogError {
        tracing::error!(dir = %self.dir, %cause, "partition log goes offline");
        self.failure = Some(cause.to_string());
        LogError::Disk(cause.clone())
    }

    /// Appends a validated record set (`headers` from
    /// [`record_batch::validate_produced`]), assigning offsets from the log
    /// end and stamping `leader_epoch` on each batch.
    pub fn append(
        &mut self,
        records: &mut [u8],
        headers: &[BatchHeader],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_online()?;
        assert!(!headers.is_empty(), "append of an empty record set");
        let base_offset = self.log_end_offset();
        let record_count: i64 = headers.iter().map(|h| h.last_offset_delta as i64 + 1).sum();
        let last_offset = base_offset + record_count - 1;
        self.maybe_roll(records.len() as u64, last_offset, now_ms);

        let mut patched = Vec::with_capacity(headers.len());
        let mut position = 0usize;
        let mut next = base_offset;
        for header in headers {
            let batch = &mut records[position..position + header.size_bytes];
            record_batch::patch_base_offset(batch, next);
            record_batch::patch_leader_epoch(batch, leader_epoch);
            let mut h = *header;
            h.base_offset = next;
            h.partition_leader_epoch = leader_epoch;
            patched.push(h);
            next = h.next_offset();
            position += header.size_bytes;
        }
        assert_eq!(position, records.len(), "headers cover the record set");
        assert_eq!(next, last_offset + 1);
        self.write_batches(records, &patched)?;
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_start_offset: self.log_start_offset,
        })
    }

    /// Appends another replica's batches as they are, with their offsets
    /// and partition leader epochs (a follower copying its leader). The
    /// bytes are untrusted: every batch must pass its CRC and the batches
    /// must continue the log exactly (the first at the log end, each at the
    /// end of the one before), or nothing is written and the error says why.
    /// At most `verbatim_batches::REPLICA_APPEND_BYTES_MAX` bytes at once.
    pub fn append_verbatim(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<(AppendInfo, Vec<BatchHeader>), LogError> {
        self.check_online()?;
        let headers = verbatim_headers(records, self.log_end_offset())?;
        let base_offset = self.log_end_offset();
        let last_offset = headers.last().expect("at least one batch").last_offset();
        self.maybe_roll(records.len() as u64, last_offset, now_ms);
        self.write_batches(records, &headers)?;
        Ok((
            AppendInfo {
                base_offset,
                last_offset,
                log_start_offset: self.log_start_offset,
            },
            headers,
        ))
    }

    /// Writes batches whose headers already carry their final offsets to the
    /// active segment and its indexes.
    fn write_batches(&mut self, records: &[u8], patched: &[BatchHeader]) -> Result<(), LogError> {
        let last_offset = patched.last().expect("batches to write").last_offset();
        let disk = Arc::clone(&self.disk);
        let interval = self.config.index_interval_bytes;
        let seg = self
            .segments
            .values_mut()
            .next_back()
            .expect("active segment");
        let start_size = seg.size_bytes;
        let log_path = seg.log_path().to_string();
        let creates_files = start_size == 0;
        if creates_files {
            // A segment's three files are created together, so a segment
            // below the recovery point always has its index files, and a
            // missing one means damage. Their names need a dir sync.
            let [_, index_path, time_index_path] = seg.file_paths();
            for path in [index_path, time_index_path] {
                if let Err(e) = disk.append(path, &[]) {
                    return Err(LogError::Disk(e));
                }
            }
        }
        if let Err(e) = disk.append(&log_path, records) {
            if e.is_resource_exhaustion() {
                // The file could not even be opened: nothing was written.
                return Err(LogError::Disk(e));
            }
            // Put the file back as it was, or stop taking writes.
            if disk.truncate(&log_path, start_size).is_err() {
                return Err(self.fail(&e));
            }
            return Err(LogError::Disk(e));
        }
        let mut batch_position = start_size;
        let mut index_result = Ok(());
        for h in patched {
            let entries = seg.note_batch(batch_position, h, interval);
            batch_position += h.size_bytes as u64;
            if index_result.is_ok() {
                index_result = seg.write_index_entries(disk.as_ref(), entries);
            }
        }
        for path in seg.file_paths() {
            self.unsynced_paths.insert(path.to_string());
        }
        if creates_files && !self.config.bugs.no_dir_sync {
            self.unsynced_paths.insert(self.dir.clone());
        }
        if let Err(e) = index_result {
            // The data is written but an index is not: recovery rebuilds it.
            return Err(self.fail(&e));
        }
        assert_eq!(self.log_end_offset(), last_offset + 1);
        Ok(())
    }

    fn maybe_roll(&mut self, incoming_bytes: u64, last_offset: i64, now_ms: i64) {
        let active = self.active();
        let too_big = active.size_bytes + incoming_bytes > self.config.segment_bytes;
        let too_old =
            self.config.segment_ms >= 0 && now_ms - active.created_ms >= self.config.segment_ms;
        let offsets_overflow = !active.fits_offset(last_offset);
        if !active.is_empty() && (too_big || too_old || offsets_overflow) {
            self.roll(now_ms);
        }
    }

    /// Starts a new, empty active segment at the log end offset.
    pub fn roll(&mut self, now_ms: i64) {
        let base = self.log_end_offset();
        if self.active().is_empty() {
            return;
        }
        self.segments
            .insert(base, Segment::new(&self.dir, base, now_ms));
        if !self.config.bugs.no_dir_sync {
            self.unsynced_paths.insert(self.dir.clone());
        }
        coverage::bump(Counter::SegmentsRolled);
    }

    /// Whether a read could start at `offset` (the log start to the log end).
    pub fn check_offset(&self, offset: i64) -> Result<(), LogError> {
        let (start, end) = (self.log_start_offset, self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        Ok(())
    }

    /// Reads whole batches starting with the one holding `offset`, up to
    /// `max_bytes` (but always at least one batch), never including a batch
    /// that ends past `upper_bound_offset` (the high watermark).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound_offset: i64,
    ) -> Result<Vec<u8>, LogError> {
        let mut from = offset;
        loop {
            let plan = self.plan_read(from, max_bytes, true, upper_bound_offset)?;
            match plan.execute(self.disk.as_ref())? {
                ReadOutcome::Bytes(bytes) => return Ok(bytes),
                ReadOutcome::ContinueFrom(next) => from = next,
            }
        }
    }

    /// Plans a read of whole batches from the one holding `offset`: at most
    /// `max_bytes`, except that with `min_one_batch` the first batch is
    /// returned whatever its size (KIP-74); none ending past
    /// `upper_bound_offset`. Touches no file: the caller executes the plan
    /// after releasing its lock, then checks [`PartitionLog::file_generation`].
    pub fn plan_read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        upper_bound_offset: i64,
    ) -> Result<ReadPlan, LogError> {
        if self.reads_closed {
            return Err(LogError::Offline {
                dir: self.dir.clone(),
                cause: "the partition is being removed".to_string(),
            });
        }
        self.check_offset(offset)?;
        let upper_offset = upper_bound_offset.min(self.log_end_offset());
        if offset >= upper_offset || (max_bytes == 0 && !min_one_batch) {
            return Ok(ReadPlan::empty(offset, self.file_generation));
        }
        let first_base = match self.segments.range(..=offset).next_back() {
            Some((base, _)) => *base,
            None => self.log_start_offset,
        };
        let mut segments = Vec::new();
        let mut continue_from = None;
        for seg in self.segments.range(first_base..).map(|(_, s)| s) {
            if seg.next_offset <= offset {
                continue;
            }
            if seg.base_offset >= upper_offset {
                break;
            }
            if segments.len() == PLAN_SEGMENTS_MAX {
                continue_from = Some(seg.base_offset);
                break;
            }
            segments.push(PlannedSegment {
                log_path: seg.log_path().to_string(),
                size_bytes: seg.size_bytes,
                scan_position: seg.scan_start(offset).0,
                scan_offset: seg.scan_start(offset).1,
                end_offset: seg.next_offset,
            });
        }
        Ok(ReadPlan {
            offset,
            max_bytes,
            min_one_batch,
            upper_offset,
            segments,
            continue_from,
            file_generation: self.file_generation,
            verify_crc: self.config.verify_crc_on_recovery,
            dense_offsets: self.dense_offsets(),
        })
    }

    /// See the `file_generation` field.
    pub fn file_generation(&self) -> u64 {
        self.file_generation
    }

    /// The partition is being removed: reads planned before fail their
    /// generation check, later ones fail to plan.
    pub fn close_reads(&mut self) {
        self.reads_closed = true;
        self.file_generation += 1;
    }

    /// The first record with a timestamp at or after `timestamp_ms`, as
    /// (offset, timestamp); `None` if every record is older. Only the one
    /// batch that holds the answer is decoded (decompressed if need be).
    pub fn find_offset_by_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        for seg in self.segments.values() {
            if seg.max_timestamp_ms < timestamp_ms {
                continue;
            }
            let start_offset = seg.base_offset + seg.time_index.search_start(timestamp_ms) as i64;
            let mut position = seg.scan_start_position(start_offset);
            while position < seg.size_bytes {
                let header = read_header_at(self.disk.as_ref(), seg.log_path(), position)?;
                if header.max_timestamp_ms >= timestamp_ms
                    && header.next_offset() > self.log_start_offset
                {
                    let batch = self
                        .disk
                        .read_at(seg.log_path(), position, header.size_bytes)?;
                    let first =
                        first_record_at_or_after(&batch, timestamp_ms, self.log_start_offset);
                    let offset = header.base_offset.max(self.log_start_offset);
                    return Ok(Some(first.unwrap_or((offset, header.max_timestamp_ms))));
                }
                position += header.size_bytes as u64;
            }
        }
        Ok(None)
    }

    /// KIP-734's MAX_TIMESTAMP: the first record carrying the largest
    /// timestamp in the log, as (offset, timestamp), found as Kafka finds it
    /// (the first segment with the largest max timestamp, its first batch
    /// reaching it, that batch's first record carrying it). `None` for a log
    /// without timestamps.
    pub fn find_max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut latest: Option<&Segment> = None;
        for seg in self.segments.values() {
            if seg.max_timestamp_ms >= 0
                && latest.is_none_or(|l| seg.max_timestamp_ms > l.max_timestamp_ms)
            {
                latest = Some(seg);
            }
        }
        let Some(seg) = latest else {
            return Ok(None);
        };
        let max = seg.max_timestamp_ms;
        let start_offset = seg.base_offset + seg.time_index.search_start(max) as i64;
        let mut position = seg.scan_start_position(start_offset);
        while position < seg.size_bytes {
            let header = read_header_at(self.disk.as_ref(), seg.log_path(), position)?;
            if header.max_timestamp_ms == max {
                let batch = self
                    .disk
                    .read_at(seg.log_path(), position, header.size_bytes)?;
                let first = first_record_at_or_after(&batch, max, header.base_offset);
                return Ok(Some(first.unwrap_or((header.base_offset, max))));
            }
            position += header.size_bytes as u64;
        }
        Ok(None)
    }

    /// The headers of every batch from the one holding `offset` to the log
    /// end, in order (rebuilding producer state after a restart).
    pub fn batch_headers_from(&self, offset: i64) -> Result<Vec<BatchHeader>, LogError> {
        let mut headers = Vec::new();
        let offset = offset.max(self.log_start_offset);
        let first_base = self
            .segments
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(offset);
        // Headers are read without their batch's CRC (that would read every
        // byte), so rot in a synced segment can hand back any value: each
        // header must fit between its neighbours, its segment's bounds and
        // the log end, or the walk stops with a clear error instead of
        // feeding impossible offsets to the producer state.
        let mut previous_end = first_base;
        let log_end = self.log_end_offset();
        for seg in self.segments.range(first_base..).map(|(_, s)| s) {
            let mut position = seg.scan_start_position(offset);
            while position < seg.size_bytes {
                let header = read_header_at(self.disk.as_ref(), seg.log_path(), position)?;
                let fits = header.last_offset_delta >= 0
                    && header.base_offset >= seg.base_offset.max(previous_end)
                    && header.next_offset() <= seg.next_offset.min(log_end)
                    && header.size_bytes as u64 <= seg.size_bytes - position;
                if !fits {
                    return Err(LogError::CorruptBatch {
                        path: seg.log_path().to_string(),
                        position,
                        reason: format!(
                            "batch header (offsets {}..{}, {} bytes) does not fit its segment",
                            header.base_offset,
                            header.next_offset(),
                            header.size_bytes
                        ),
                    });
                }
                previous_end = header.next_offset();
                if header.next_offset() > offset {
                    headers.push(header);
                }
                position += header.size_bytes as u64;
            }
        }
        Ok(headers)
    }

    pub fn active_base_offset(&self) -> i64 {
        self.active().base_offset
    }

    /// (base offset, size) of every segment but the active one, in order:
    /// what the cleaner may compact.
    pub fn sealed_segments(&self) -> Vec<(i64, u64)> {
        let active = self.active().base_offset;
        self.segments
            .values()
            .filter(|s| s.base_offset != active)
            .map(|s| (s.base_offset, s.size_bytes))
            .collect()
    }

    /// What the cleaner's decision needs of every sealed segment, in order.
    pub fn sealed_segment_summaries(&self) -> Vec<crate::log::cleaner_decision::SealedSegment> {
        let active = self.active().base_offset;
        self.segments
            .values()
            .filter(|s| s.base_offset != active)
            .map(|s| crate::log::cleaner_decision::SealedSegment {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
                size_bytes: s.size_bytes,
                max_timestamp_ms: s.max_timestamp_ms,
            })
            .collect()
    }

    /// Installs a compacted segment in place of the sealed one with its base
    /// (whose file the cleaner has just replaced). Its records keep their
    /// offsets, so it ends at or before the original.
    pub fn replace_segment(&mut self, segment: Segment) -> Result<(), LogError> {
        self.check_online()?;
        let base = segment.base_offset;
        assert_ne!(
            base,
            self.active().base_offset,
            "the active segment is never compacted"
        );
        let old = self
            .segments
            .get(&base)
            .expect("a compacted segment replaces an existing one");
        assert!(
            segment.next_offset <= old.next_offset,
            "compaction never adds offsets"
        );
        for path in segment.file_paths() {
            self.unsynced_paths.insert(path.to_string());
        }
        self.unsynced_paths.insert(self.dir.clone());
        self.segments.insert(base, segment);
        self.file_generation += 1;
        self.cleaned = true;
        Ok(())
    }

    /// Removes every record at or after `offset` (a batch holding `offset` is
    /// removed whole). Used when a replica's log must match its leader's.
    /// An error part way (a disk error, rot in a header it reads) leaves
    /// files cut and others not: the log goes offline (a restart recovers it from disk), and never counts as
    /// durable what it no longer holds (the cluster simulation's disk
    /// faults found a sync completing past the end after such a failure).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_online()?;
        let cut = self.cut_to(offset);
        self.durable_end_offset = self.durable_end_offset.min(self.log_end_offset());
        match cut {
            Ok(()) => Ok(()),
            Err(LogError::Disk(e)) => Err(self.fail(&e)),
            // Rot in a header it had to read: files may be cut already.
            Err(other) => {
                tracing::error!(dir = %self.dir, %other, "partition log goes offline");
                self.failure = Some(other.to_string());
                Err(other)
            }
        }
    }

    fn cut_to(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.max(self.log_start_offset);
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        // Before any file changes: a read racing the cut is discarded.
        self.file_generation += 1;
        // Segments below the recovery point are trusted at the next start, so
        // the point must come down before the truncation can become durable:
        // the lowered point is synced first in the next sync.
        if read_recovery_point(self.disk.as_ref(), &self.dir)? > offset {
            let path = join(&self.dir, RECOVERY_POINT_FILE);
            self.disk
                .write_file_unsynced(&path, format!("{offset}\n").as_bytes())?;
            self.recovery_point_to_sync = Some(path);
        }
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for base in doomed {
            if base == self.log_start_offset {
                continue; // the first segment is kept and truncated below
            }
            let seg = self.segments.remove(&base).expect("listed");
            for path in seg.file_paths() {
                remove_if_exists(self.disk.as_ref(), path)?;
                self.unsynced_paths.remove(path);
            }
            self.unsynced_paths.insert(self.dir.clone());
        }
        let disk = Arc::clone(&self.disk);
        let seg = self.segments.values_mut().next_back().expect("segment");
        // Walk from the start of the segment: the max timestamp below the
        // cut is needed as well as the cut position.
        let mut position = 0;
        let mut max_ts = -1;
        let mut cut = (seg.size_bytes, seg.next_offset);
        while position < seg.size_bytes {
            let header = read_header_at(disk.as_ref(), seg.log_path(), position)?;
            if header.next_offset() > offset {
                cut = (position, header.base_offset);
                break;
            }
            max_ts = max_ts.max(header.max_timestamp_ms);
            position += header.size_bytes as u64;
        }
        disk.truncate(seg.log_path(), cut.0)?;
        seg.truncate_in_memory(cut.0, cut.1, max_ts);
        seg.rewrite_indexes(disk.as_ref())?;
        for path in seg.file_paths() {
            self.unsynced_paths.insert(path.to_string());
        }
        // The rewritten indexes are new files under the old names.
        self.unsynced_paths.insert(self.dir.clone());
        self.durable_end_offset = self.durable_end_offset.min(self.log_end_offset());
        Ok(())
    }

    /// Empties the log and starts it over at `offset`, past its end (Kafka's
    /// `truncateFullyAndStartAt`: a follower below its leader's log start).
    ///
    /// Crash-safe in retention's order: in memory the start moves to
    /// `offset` and a new, empty active segment begins there (its files are
    /// created by its first append); every old segment is then wholly below
    /// the start and is deleted by [`PartitionLog::complete_log_start_write`]
    /// once the caller wrote the new start durably
    /// ([`PartitionLog::pending_log_start_write`]). A power loss before that
    /// finds the old start and the old segments: the log as it was. After
    /// it, whatever subset of the old segments' unlinks survived, recovery
    /// finds a log ending below its checkpointed start and opens it empty
    /// at the start. The caller appends nothing before the start is
    /// durable: a new segment's records after the old ones would otherwise
    /// read, after a power loss, as a gap in a log that may skip offsets.
    pub fn truncate_fully_and_start_at(
        &mut self,
        offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        self.check_online()?;
        if offset <= self.log_end_offset() {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end: self.log_end_offset(),
            });
        }
        // Reads planned over the old segments are planned again.
        self.file_generation += 1;
        self.segments
            .insert(offset, Segment::new(&self.dir, offset, now_ms));
        self.log_start_offset = offset;
        self.durable_end_offset = offset;
        coverage::bump(Counter::LogsStartedOver);
        assert_eq!(self.log_end_offset(), offset);
        Ok(())
    }

    /// Moves the log start past whole segments beyond `retention.ms` or
    /// `retention.bytes` that lie wholly below `high_watermark` (Kafka's
    /// `UnifiedLog.deletableSegments`: a record no follower may still need
    /// is deleted only once committed; else a leader's log start could
    /// pass its high watermark and take uncommitted records from the ISR).
    /// The active segment is rolled first when every record in it has
    /// expired. Returns how many segments fell below the
    /// new start; they are deleted by
    /// [`PartitionLog::complete_log_start_write`], once the new start is
    /// durable (see [`PartitionLog::pending_log_start_write`]).
    pub fn apply_retention(&mut self, now_ms: i64, high_watermark: i64) -> Result<usize, LogError> {
        self.check_online()?;
        let retention_ms = self.config.retention_ms;
        let expired = |seg: &Segment| {
            let newest_ms = if seg.max_timestamp_ms >= 0 {
                seg.max_timestamp_ms
            } else {
                seg.created_ms
            };
            retention_ms >= 0 && now_ms - newest_ms > retention_ms
        };
        // An expired active segment is rolled so it can go, but only once
        // every record in it is below the high watermark (Kafka rolls only
        // when the active segment is deletable): rolling earlier would cut
        // the segment a follower still fetches into and delete nothing.
        let active_deletable = high_watermark >= self.log_end_offset();
        if !self.active().is_empty() && expired(self.active()) && active_deletable {
            self.roll(now_ms);
        }
        // Segments wholly below the start await their deletion: skip them.
        let first_live = self
            .segments
            .range(..=self.log_start_offset)
            .next_back()
            .map_or(self.log_start_offset, |(base, _)| *base);
        let live: Vec<&Segment> = self.segments.range(first_live..).map(|(_, s)| s).collect();
        let mut total: i64 = live.iter().map(|s| s.size_bytes as i64).sum();
        let mut new_start = None;
        let mut doomed = 0;
        let active_base = self.active().base_offset;
        for (i, seg) in live.iter().enumerate() {
            // The next segment's base is where this one ends.
            if seg.base_offset == active_base || live[i + 1].base_offset > high_watermark {
                break;
            }
            let over_size = self.config.retention_bytes >= 0
                && total - seg.size_bytes as i64 >= self.config.retention_bytes;
            if expired(seg) || over_size {
                doomed += 1;
                total -= seg.size_bytes as i64;
                new_start = Some(live[i + 1].base_offset);
            } else {
                break;
            }
        }
        if let Some(start) = new_start {
            self.advance_log_start_offset(start)?;
        }
        Ok(doomed)
    }

    /// Moves the log start offset up to `offset` (retention, DeleteRecords):
    /// records below it are no longer served. The move is in memory; the
    /// caller then makes it durable with [`PartitionLog::pending_log_start_write`]
    /// and [`PartitionLog::complete_log_start_write`], which deletes the
    /// segments wholly below it, so no deletion is ever durable before the
    /// start that explains it. Returns whether the start moved.
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<bool, LogError> {
        self.check_online()?;
        if offset > self.log_end_offset() || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end: self.log_end_offset(),
            });
        }
        if offset <= self.log_start_offset {
            return Ok(false);
        }
        self.log_start_offset = offset;
        self.durable_end_offset = self.durable_end_offset.max(offset);
        Ok(true)
    }

    /// The durable write that records the current log start, if it moved
    /// since it was last recorded. Write it with `Disk::write_file_durably`,
    /// then call [`PartitionLog::complete_log_start_write`].
    pub fn pending_log_start_write(&self) -> Option<SmallFileWrite> {
        (self.log_start_offset > self.log_start_persisted)
            .then(|| log_start::write_of(&self.dir, self.log_start_offset))
    }

    /// Records that `write` is durable and deletes the segments wholly below
    /// the durable start (those whose successor starts at or below it).
    /// Returns how many were deleted.
    pub fn complete_log_start_write(&mut self, write: &SmallFileWrite) -> Result<usize, LogError> {
        self.log_start_persisted = self.log_start_persisted.max(write.offset);
        self.delete_segments_below(self.log_start_persisted)
    }

    fn delete_segments_below(&mut self, offset: i64) -> Result<usize, LogError> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let doomed: Vec<i64> = bases
            .windows(2)
            .take_while(|pair| pair[1] <= offset)
            .map(|pair| pair[0])
            .collect();
        for base in &doomed {
            let seg = self.segments.remove(base).expect("listed");
            for path in seg.file_paths() {
                remove_if_exists(self.disk.as_ref(), path)?;
                self.unsynced_paths.remove(path);
            }
        }
        if !doomed.is_empty() {
            self.unsynced_paths.insert(self.dir.clone());
            // Reads planned over the deleted files must be planned again.
            self.file_generation += 1;
        }
        assert!(
            !self.segments.is_empty(),
            "the active segment is never deleted"
        );
        Ok(doomed.len())
    }

    /// Takes the data files (and directories) written since the last sync:
    /// what must be durable before an `fsync.policy=always` acknowledgement.
    /// Index files are left for [`PartitionLog::take_full_sync_work`]: they are
    /// rebuilt by recovery for every segment past the recovery point, so
    /// syncing them on the produce path would only triple the fsyncs. The
    /// caller syncs the paths in order, then calls [`PartitionLog::complete_sync`].
    pub fn take_sync_work(&mut self) -> SyncWork {
        let (indexes, data): (BTreeSet<String>, BTreeSet<String>) =
            std::mem::take(&mut self.unsynced_paths)
                .into_iter()
                .partition(|p| is_index_path(p));
        self.unsynced_paths = indexes;
        self.sync_work(data)
    }

    /// Takes every file written since the last sync, indexes included: the
    /// work to do before writing a recovery point.
    pub fn take_full_sync_work(&mut self) -> SyncWork {
        let all = std::mem::take(&mut self.unsynced_paths);
        self.sync_work(all)
    }

    /// Orders the paths to sync: a lowered recovery point first, with its
    /// directory (it was written as a new file under the old name, and must
    /// be durable, name included, before the truncation it allows for),
    /// then files, then directories, so a file's bytes are durable before
    /// the entry naming it.
    fn sync_work(&mut self, paths: BTreeSet<String>) -> SyncWork {
        let (dirs, files): (Vec<String>, Vec<String>) =
            paths.into_iter().partition(|p| *p == self.dir);
        let lowered_point: Vec<String> = match self.recovery_point_to_sync.take() {
            Some(path) => vec![path, self.dir.clone()],
            None => Vec::new(),
        };
        let paths = lowered_point.into_iter().chain(files).chain(dirs).collect();
        SyncWork {
            paths,
            end_offset: self.log_end_offset(),
        }
    }

    /// Records that the files of a [`SyncWork`] are durable.
    pub fn complete_sync(&mut self, work: &SyncWork) {
        if self.failure.is_some() {
            return;
        }
        let end = work.end_offset.min(self.log_end_offset());
        self.durable_end_offset = self.durable_end_offset.max(end);
        assert!(self.durable_end_offset <= self.log_end_offset());
    }

    /// A sync failed: after a failed fsync the kernel may have marked the
    /// failed dirty pages clean without writing them (fsyncgate): reads
    /// still see them, a later sync "succeeds", and a crash loses them. A
    /// process restart does not help (the page cache survives it), so the
    /// log first cuts itself back to its durable end, taking the suspect
    /// bytes out of the files (none of them was acknowledged as durable),
    /// then stops taking writes until a restart recovers it from disk.
    /// Out of file descriptors is not such a failure: the file was not
    /// opened, so nothing was synced and nothing was lost; the data stays
    /// unsynced and the next sync tries again.
    pub fn sync_failed(&mut self, error: &DiskError, work: &SyncWork) {
        if error.is_resource_exhaustion() {
            tracing::warn!(dir = %self.dir, %error, "sync postponed: out of file descriptors");
            // Every path of the work is synced again next time (syncing one
            // that did succeed again is harmless).
            self.unsynced_paths.extend(work.paths.iter().cloned());
            return;
        }
        if self.failure.is_none() && self.durable_end_offset < self.log_end_offset() {
            if let Err(cut_error) = self.truncate_to(self.durable_end_offset) {
                tracing::error!(dir = %self.dir, %cut_error, "could not cut the log back to its durable end");
            }
        }
        self.fail(error);
    }

    pub fn has_unsynced_data(&self) -> bool {
        self.recovery_point_to_sync.is_some()
            || self.unsynced_paths.iter().any(|p| !is_index_path(p))
            || self.durable_end_offset < self.log_end_offset()
    }

    /// Whether anything at all (indexes included) awaits a sync.
    pub fn has_unsynced_files(&self) -> bool {
        self.recovery_point_to_sync.is_some()
            || !self.unsynced_paths.is_empty()
            || self.durable_end_offset < self.log_end_offset()
    }

    /// The recovery point to write (with `Disk::write_file_durably`) so the
    /// next start only scans segments from there: the durable end, capped so
    /// that it never vouches for a segment with a file still unsynced. A
    /// segment is trusted at the next start when a later segment begins
    /// below the point, so the cap is the end of the first segment with an
    /// unsynced file: from that segment on, recovery scans and rebuilds.
    /// This holds whatever the caller synced before asking.
    pub fn recovery_point_write(&self) -> SmallFileWrite {
        let trusts_unsynced_indexes = self.config.bugs.unsynced_index;
        let first_unsynced_end = self
            .segments
            .values()
            .find(|seg| {
                seg.file_paths().iter().any(|p| {
                    self.unsynced_paths.contains(*p)
                        && !(trusts_unsynced_indexes && is_index_path(p))
                })
            })
            .map_or(i64::MAX, |seg| seg.next_offset);
        // A file created or removed in the directory is durable only after
        // the directory sync: until then nothing is vouched for.
        let dir_unsynced = self.unsynced_paths.contains(&self.dir);
        let mut point = self.durable_end_offset.min(first_unsynced_end);
        if dir_unsynced || self.recovery_point_to_sync.is_some() {
            point = point.min(self.log_start_offset);
        }
        recovery_point_write(&self.dir, point)
    }

    /// The durable write that lowers the recovery point to `offset` before
    /// a truncation there, if the point on disk is above it. The caller
    /// writes it with `Disk::write_file_durably` before it truncates, and
    /// no recovery point may be written in between: a truncation's changes
    /// can reach the disk in any order a crash picks (the kernel writes
    /// back a shortened file or appended pages whenever it likes), so a
    /// point left above the cut would vouch, after a power loss, for a
    /// segment the cut changed, once an unsynced deletion of a later
    /// segment is undone. [`PartitionLog::truncate_to`] still lowers the
    /// point itself when nobody did, but only in the page cache, synced
    /// first by the next sync.
    pub fn recovery_point_lowering(&self, offset: i64) -> Result<Option<SmallFileWrite>, LogError> {
        self.check_online()?;
        let on_disk = read_recovery_point(self.disk.as_ref(), &self.dir)?;
        Ok((on_disk > offset).then(|| recovery_point_write(&self.dir, offset)))
    }

    /// Deletes the whole log directory (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        self.disk.remove_dir_all(&self.dir)?;
        Ok(())
    }
}

/// Decodes one stored batch and finds its first record at or after
/// `timestamp_ms` (and at or after `min_offset`). `None` if the batch does not
/// decode (the caller falls back to the batch's base offset).
fn first_record_at_or_after(
    batch: &[u8],
    timestamp_ms: i64,
    min_offset: i64,
) -> Option<(i64, i64)> {
    // Decompression is bounded while it runs: a stored bomb costs at most
    // `DECOMPRESSED_RECORDS_SIZE_BYTES_MAX`, then falls back like any batch
    // that does not decode.
    let opened = crate::log::compaction_batch::open_batch(batch).ok()?;
    opened
        .records
        .iter()
        .map(|r| {
            let timestamp = opened.header.record_timestamp_ms(r.timestamp_ms);
            (opened.offset_of(r), timestamp)
        })
        .find(|(offset, timestamp)| *timestamp >= timestamp_ms && *offset >= min_offset)
}

fn is_index_path(path: &str) -> bool {
    path.ends_with(".index") || path.ends_with(".timeindex")
}

/// The header of the stored batch at `position` (only its 61 bytes are read).
pub(crate) fn read_header_at(
    disk: &dyn Disk,
    path: &str,
    position: u64,
) -> Result<BatchHeader, LogError> {
    let head = disk.read_at(path, position, BATCH_HEADER_SIZE_BYTES)?;
    record_batch::parse_header_prefix(&head).map_err(|e| corrupt(path, position, e))
}

fn corrupt(path: &str, position: u64, e: record_batch::BatchError) -> LogError {
    LogError::CorruptBatch {
        path: path.to_string(),
        position,
        reason: e.to_string(),
    }
}

/// Replaces the first `len` bytes of `path` with a synced copy under the same
/// name (a `.tmp` file, removed at the next open if a crash leaves it).
/// The name change is durable once the directory is synced.
async fn copy_durably(disk: &dyn Disk, path: &str, len: u64) -> Result<(), DiskError> {
    const CHUNK_BYTES: u64 = 1 << 20;
    let tmp = format!("{path}.tmp");
    remove_if_exists(disk, &tmp)?;
    let mut position = 0;
    while position < len {
        let chunk = disk.read_at(path, position, CHUNK_BYTES.min(len - position) as usize)?;
        if chunk.is_empty() {
            return Err(DiskError::Io {
                path: path.to_string(),
                detail: format!("ends at {position}, before the {len} bytes recovery found"),
            });
        }
        disk.append(&tmp, &chunk)?;
        position += chunk.len() as u64;
    }
    if let Err(e) = disk.sync(&tmp).await {
        let _ = disk.remove_file(&tmp);
        return Err(e);
    }
    disk.rename(&tmp, path)
}

fn remove_if_exists(disk: &dyn Disk, path: &str) -> Result<(), DiskError> {
    match disk.remove_file(path) {
        Ok(()) | Err(DiskError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn recovery_point_write(dir: &str, point: i64) -> SmallFileWrite {
    SmallFileWrite {
        path: join(dir, RECOVERY_POINT_FILE),
        bytes: format!("{point}\n").into_bytes(),
        offset: point,
    }
}

/// The recovery point, 0 if there is none (or it does not parse); an error
/// if the file cannot be read.
pub(crate) fn read_recovery_point(disk: &dyn Disk, dir: &str) -> Result<i64, DiskError> {
    let path = join(dir, RECOVERY_POINT_FILE);
    let bytes = match disk.read_at(&path, 0, 32) {
        Ok(bytes) => bytes,
        Err(DiskError::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    Ok(std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0))
}

/// Loads a segment below the recovery point from its index files; returns
/// false (so the caller scans it) if they do not fit the log file.
fn load_clean_segment(
    disk: &dyn Disk,
    seg: &mut Segment,
    next_base: Option<i64>,
) -> Result<bool, LogError> {
    let Some(next_offset) = next_base else {
        return Ok(false);
    };
    let size = disk.file_len(seg.log_path())?;
    let [_, index_path, time_path] = seg.file_paths();
    let read_all = |p: &str| -> Option<Vec<u8>> {
        let len = disk.file_len(p).ok()?;
        disk.read_at(p, 0, len as usize).ok()
    };
    let (Some(index_bytes), Some(time_bytes)) = (read_all(index_path), read_all(time_path)) else {
        return Ok(false);
    };
    let (Some(offset_index), Some(time_index)) = (
        OffsetIndex::decode(&index_bytes, size),
        TimeIndex::decode(&time_bytes),
    ) else {
        return Ok(false);
    };
    // A non-empty segment has at least one time index entry (unless none of
    // its batches has a timestamp): an empty one is a file whose name became
    // durable without its bytes. Rebuild rather than serve from it.
    if size > 0 && time_index.entries().is_empty() {
        return Ok(false);
    }
    let max_ts = time_index.last_timestamp_ms().unwrap_or(-1);
    seg.install_loaded(size, next_offset, max_ts, offset_index, time_index);
    Ok(true)
}

/// Rebuilds the indexes of a segment the recovery point vouches for (synced
/// whole, ending where the next segment begins), without truncating: a
/// batch that fails its check there is rot in synced data. The segment keeps
/// its bytes and its end, reads refuse the damaged batch by its CRC, and the
/// indexes cover the batches before it (reads past it walk headers from the
/// last entry and are refused at the damage, never served from it).
/// Notes `header`'s leader epoch if it starts a newer one than the last
/// noted (a batch without an epoch, -1, starts none).
fn note_scanned_epoch(epochs: &mut Vec<(i32, i64)>, header: &BatchHeader) {
    let epoch = header.partition_leader_epoch;
    if epoch >= 0 && epochs.last().is_none_or(|(last, _)| *last < epoch) {
        epochs.push((epoch, header.base_offset));
    }
}

async fn rebuild_vouched_from_scan(
    disk: &dyn Disk,
    seg: &mut Segment,
    scan: &SegmentScan,
    next_base: i64,
    config: &LogConfig,
) -> Result<(), LogError> {
    for (position, header) in &scan.batches {
        let _ = seg.note_batch(*position, header, config.index_interval_bytes);
    }
    // A compacted segment's batches may skip offsets, so a rotted base
    // offset can pass the scan yet end past the next segment: refuse the
    // partition with a clear error rather than guess.
    if seg.next_offset > next_base {
        return Err(LogError::CorruptBatch {
            path: seg.log_path().to_string(),
            position: 0,
            reason: format!(
                "batches run to offset {}, past the next segment's base {next_base}",
                seg.next_offset
            ),
        });
    }
    if scan.discarded_bytes > 0 {
        tracing::error!(
            path = seg.log_path(),
            valid_end = scan.valid_end_bytes,
            damaged = scan.discarded_bytes,
            reason = ?scan.stop_reason,
            "rot in synced data below the recovery point: kept, refused when read"
        );
        coverage::bump(Counter::RotKeptAtRecovery);
        seg.extend_over_damage(scan.valid_end_bytes + scan.discarded_bytes, next_base);
    }
    let [_, index_path, time_path] = seg.file_paths();
    disk.write_file_durably(index_path, &seg.offset_index.encode())
        .await?;
    disk.write_file_durably(time_path, &seg.time_index.encode())
        .await?;
    Ok(())
}

/// Truncates a scanned segment to its valid end and rebuilds its indexes.
fn rebuild_from_scan(
    disk: &dyn Disk,
    seg: &mut Segment,
    scan: &SegmentScan,
    index_interval_bytes: u64,
) -> Result<(), LogError> {
    if scan.discarded_bytes > 0 {
        tracing::warn!(
            path = seg.log_path(),
            valid_end = scan.valid_end_bytes,
            discarded = scan.discarded_bytes,
            reason = ?scan.stop_reason,
            "truncating a torn or corrupt log tail"
        );
        disk.truncate(seg.log_path(), scan.valid_end_bytes)?;
        coverage::bump(Counter::TornTailsTruncated);
    }
    for (position, header) in &scan.batches {
        let _ = seg.note_batch(*position, header, index_interval_bytes);
    }
    seg.rewrite_indexes(disk)?;
    Ok(())
}
