//! Compaction on disk: reading sealed segments, and replacing a segment by
//! its cleaned form through the [`Disk`] seam so that a crash at any point
//! leaves either the old or the new segment, whole.
//!
//! The swap, per segment `<base>`:
//! 1. [`prepare_cleaned_segment`] (async; the original stays readable):
//!    write `<base>.log.cleaned` durably; rename it to `<base>.log.swap`,
//!    sync the dir (**commit point**); remove `<base>.index` and
//!    `<base>.timeindex`, sync the dir.
//! 2. [`swap_in_cleaned_segment`] (no await: call it and
//!    `PartitionLog::replace_segment` in the same step, so no read sees the
//!    new file through the old in-memory index): rename `.swap` over
//!    `<base>.log`, rebuild the in-memory indexes and write the index files.
//! 3. [`sync_swapped_segment`]: sync the index files, then the dir.
//!
//! Recovery rule ([`recover_interrupted_compaction`], run before the log is
//! opened): a `.log.cleaned` file is an unfinished write: delete it (the
//! original is intact). A `.log.swap` file is complete and synced: finish the
//! swap (remove the base's index files, rename it over `.log`); the log's
//! open then finds no index files and rebuilds them by scanning. Both steps
//! are idempotent, so a crash during recovery is recovered the same way.
//!
//! If retention or truncation must touch a segment between steps 1 and 2,
//! the broker first calls [`abort_cleaned_segment`]: otherwise a crash could
//! resurrect deleted or truncated records from the `.swap` file.

use std::collections::BTreeMap;

use crate::io::disk::{join, Disk, DiskError, DiskResult};
use crate::log::compaction::{
    compact, CleanedSegment, CompactionError, CompactionOutcome, CompactionParams, SegmentBatches,
};
use crate::log::record_batch;
use crate::log::segment::{self, Segment};

pub const CLEANED_SUFFIX: &str = ".cleaned";
pub const SWAP_SUFFIX: &str = ".swap";
/// The cleaner checkpoint of a partition: text, one offset.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-checkpoint";

/// Present once the cleaner may have left gaps in the log's offsets: written
/// durably before the first cleaned segment's commit point, never removed.
/// Recovery then accepts gaps even if the topic is no longer compacted
/// (cleanup.policy altered from `compact` to `delete`): without it, a
/// cleaned segment read as "offsets do not continue the log" was cut, with
/// every acknowledged record after it, and its offsets handed out again
/// (simulator seed 9 of the lifecycle workload).
pub const COMPACTED_MARKER_FILE: &str = "compacted";

pub fn compacted_marker_path(dir: &str) -> String {
    join(dir, COMPACTED_MARKER_FILE)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactionFileError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Compaction(#[from] CompactionError),
    #[error("segment {base_offset} changed while it was being cleaned")]
    SegmentChanged { base_offset: i64 },
}

fn cleaned_path(dir: &str, base_offset: i64) -> String {
    join(
        dir,
        &format!("{}{CLEANED_SUFFIX}", segment::log_file_name(base_offset)),
    )
}
fn swap_path(dir: &str, base_offset: i64) -> String {
    join(
        dir,
        &format!("{}{SWAP_SUFFIX}", segment::log_file_name(base_offset)),
    )
}

fn remove_if_exists(disk: &dyn Disk, path: &str) -> DiskResult<()> {
    match disk.remove_file(path) {
        Ok(()) | Err(DiskError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads a sealed segment's batches.
pub fn read_segment(
    disk: &dyn Disk,
    dir: &str,
    base_offset: i64,
) -> Result<SegmentBatches, CompactionFileError> {
    let path = join(dir, &segment::log_file_name(base_offset));
    let len = disk.file_len(&path)?;
    let bytes = disk.read_at(&path, 0, len as usize)?;
    Ok(SegmentBatches::from_file_bytes(base_offset, &bytes)?)
}

/// The max timestamp of a sealed segment's first batch (Kafka's
/// `getFirstBatchTimestamp`, for `max.compaction.lag.ms`); `None` when the
/// segment is empty or unreadable.
pub fn first_batch_max_timestamp(disk: &dyn Disk, dir: &str, base_offset: i64) -> Option<i64> {
    let path = join(dir, &segment::log_file_name(base_offset));
    let bytes = disk
        .read_at(&path, 0, crate::log::record_batch::BATCH_HEADER_SIZE_BYTES)
        .ok()?;
    crate::log::record_batch::parse_header_prefix(&bytes)
        .ok()
        .map(|h| h.max_timestamp_ms)
}

/// Step 1 of the swap (see the module docs).
pub async fn prepare_cleaned_segment(
    disk: &dyn Disk,
    dir: &str,
    cleaned: &CleanedSegment,
) -> DiskResult<()> {
    let base = cleaned.base_offset;
    let (cleaned_file, swap_file) = (cleaned_path(dir, base), swap_path(dir, base));
    disk.write_file_durably(&cleaned_file, &cleaned.batches.concat())
        .await?;
    disk.rename(&cleaned_file, &swap_file)?;
    disk.sync(dir).await?;
    remove_if_exists(disk, &join(dir, &segment::index_file_name(base)))?;
    remove_if_exists(disk, &join(dir, &segment::time_index_file_name(base)))?;
    disk.sync(dir).await
}

/// Step 2 of the swap: `expected_size_bytes` is the original segment's size
/// when it was read; if it changed, the swap is abandoned.
pub fn swap_in_cleaned_segment(
    disk: &dyn Disk,
    dir: &str,
    cleaned: &CleanedSegment,
    expected_size_bytes: u64,
    index_interval_bytes: u64,
    created_ms: i64,
) -> Result<Segment, CompactionFileError> {
    let base = cleaned.base_offset;
    let log_path = join(dir, &segment::log_file_name(base));
    if disk.file_len(&log_path)? != expected_size_bytes {
        return Err(CompactionFileError::SegmentChanged { base_offset: base });
    }
    disk.rename(&swap_path(dir, base), &log_path)?;
    let mut seg = Segment::new(dir, base, created_ms);
    let mut position = 0u64;
    for batch in &cleaned.batches {
        let header = record_batch::parse_verified(batch).expect("compaction writes valid batches");
        let _ = seg.note_batch(position, &header, index_interval_bytes);
        position += header.size_bytes as u64;
    }
    assert_eq!(seg.size_bytes, position);
    seg.rewrite_indexes(disk)?;
    Ok(seg)
}

/// Step 3 of the swap.
/// The index files' bytes first, then the directory that names them (and
/// the renamed log file): a durable name never points at lost bytes.
pub async fn sync_swapped_segment(disk: &dyn Disk, dir: &str, base_offset: i64) -> DiskResult<()> {
    disk.sync(&join(dir, &segment::index_file_name(base_offset)))
        .await?;
    disk.sync(&join(dir, &segment::time_index_file_name(base_offset)))
        .await?;
    disk.sync(dir).await
}

/// Drops an unfinished swap of `base_offset` (before retention or
/// truncation touch that segment).
pub async fn abort_cleaned_segment(disk: &dyn Disk, dir: &str, base_offset: i64) -> DiskResult<()> {
    remove_if_exists(disk, &cleaned_path(dir, base_offset))?;
    remove_if_exists(disk, &swap_path(dir, base_offset))?;
    disk.sync(dir).await
}

/// Finishes or discards swaps a crash interrupted (see the module docs).
/// Returns the bases whose swap was finished. The caller syncs `dir`.
pub fn recover_interrupted_compaction(disk: &dyn Disk, dir: &str) -> DiskResult<Vec<i64>> {
    let mut finished = Vec::new();
    for name in disk.list_dir(dir)? {
        if let Some(log_name) = name.strip_suffix(CLEANED_SUFFIX) {
            if segment::parse_log_file_name(log_name).is_some() {
                disk.remove_file(&join(dir, &name))?;
            }
        } else if let Some(log_name) = name.strip_suffix(SWAP_SUFFIX) {
            if let Some(base) = segment::parse_log_file_name(log_name) {
                remove_if_exists(disk, &join(dir, &segment::index_file_name(base)))?;
                remove_if_exists(disk, &join(dir, &segment::time_index_file_name(base)))?;
                disk.rename(&join(dir, &name), &join(dir, log_name))?;
                finished.push(base);
            }
        }
    }
    Ok(finished)
}

/// The cleaner checkpoint (0 if absent or unreadable: everything is dirty,
/// which costs work but is always correct).
pub fn read_cleaner_checkpoint(disk: &dyn Disk, dir: &str) -> i64 {
    let path = join(dir, CLEANER_CHECKPOINT_FILE);
    let Ok(bytes) = disk.read_at(&path, 0, 32) else {
        return 0;
    };
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|o: &i64| *o >= 0)
        .unwrap_or(0)
}

pub async fn write_cleaner_checkpoint(disk: &dyn Disk, dir: &str, offset: i64) -> DiskResult<()> {
    assert!(offset >= 0);
    let path = join(dir, CLEANER_CHECKPOINT_FILE);
    disk.write_file_durably(&path, format!("{offset}\n").as_bytes())
        .await
}

/// One cleaning run's result: the segments to install in the log, in order.
#[derive(Debug)]
pub struct CompactionRun {
    pub outcome: CompactionOutcome,
    pub installed: Vec<Segment>,
}

/// A whole cleaning run over the sealed segments `sealed_bases` of `dir`,
/// for a broker that owns the log exclusively while it runs (tests, tools,
/// and a broker that pauses appends' neighbours: only sealed segments are
/// touched). After it, install each returned segment with
/// `PartitionLog::replace_segment` and write the checkpoint
/// `outcome.cleaned_end_offset`.
pub async fn compact_segment_files(
    disk: &dyn Disk,
    dir: &str,
    sealed_bases: &[i64],
    last_batch_offsets: &BTreeMap<i64, i64>,
    params: &CompactionParams,
    index_interval_bytes: u64,
) -> Result<CompactionRun, CompactionFileError> {
    let mut inputs = Vec::with_capacity(sealed_bases.len());
    let mut sizes = BTreeMap::new();
    for base in sealed_bases {
        let input = read_segment(disk, dir, *base)?;
        sizes.insert(
            *base,
            input.batches.iter().map(|b| b.len() as u64).sum::<u64>(),
        );
        inputs.push(input);
    }
    let outcome = compact(&inputs, last_batch_offsets, params)?;
    let mut installed = Vec::new();
    for cleaned in outcome.segments.iter().filter(|s| s.changed) {
        prepare_cleaned_segment(disk, dir, cleaned).await?;
        let seg = swap_in_cleaned_segment(
            disk,
            dir,
            cleaned,
            sizes[&cleaned.base_offset],
            index_interval_bytes,
            params.now_ms,
        )?;
        sync_swapped_segment(disk, dir, cleaned.base_offset).await?;
        installed.push(seg);
    }
    Ok(CompactionRun { outcome, installed })
}

/// Issue 11 (lifecycle workload, seed 9): a topic compacted, then altered to
/// `cleanup.policy=delete`, reopened after a crash.
#[cfg(test)]
mod compacted_marker_tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};
    use crate::log::batch_builder::uncompressed_batch;
    use crate::log::{LogConfig, PartitionLog};

    const DIR: &str = "data/c-0";

    /// A cleaned segment at base 0 whose first surviving batch is at 2.
    fn disk_with_a_cleaned_segment(marker: bool) -> Arc<SimDisk> {
        let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
        disk.create_dir_all(DIR).unwrap();
        let record = (Some(Bytes::from("k")), Some(Bytes::from("v")));
        let mut batch = uncompressed_batch(&[record], 1_000, 0);
        batch[0..8].copy_from_slice(&2i64.to_be_bytes());
        let path = join(DIR, &segment::log_file_name(0));
        disk.append(&path, &batch).unwrap();
        if marker {
            disk.write_file_unsynced(&compacted_marker_path(DIR), b"compacted\n")
                .unwrap();
        }
        disk
    }

    fn reopened_end(disk: Arc<SimDisk>) -> i64 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let config = LogConfig {
            dense_offsets: true,
            ..LogConfig::default()
        };
        let disk = disk as Arc<dyn Disk>;
        let (log, _) = runtime
            .block_on(PartitionLog::open(disk, DIR, config, 1_000))
            .unwrap();
        log.log_end_offset()
    }

    #[test]
    fn a_log_once_compacted_keeps_its_gaps_under_a_delete_policy() {
        assert_eq!(reopened_end(disk_with_a_cleaned_segment(true)), 3);
    }

    /// Reads too (lifecycle workload, seed 74 once recovery copies
    /// segments): they checked offsets against the topic's current policy,
    /// so a read of the cleaned segment from its base was answered
    /// CORRUPT_MESSAGE ("does not continue the log") forever, whether the
    /// policy changed before a restart or while the log was open.
    #[test]
    fn a_log_once_compacted_serves_its_gaps_under_a_delete_policy() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for dense_at_open in [true, false] {
            let disk = disk_with_a_cleaned_segment(true) as Arc<dyn Disk>;
            let config = LogConfig {
                dense_offsets: dense_at_open,
                ..LogConfig::default()
            };
            let (mut log, _) = runtime
                .block_on(PartitionLog::open(disk, DIR, config, 1_000))
                .unwrap();
            // Altered to (or still) `cleanup.policy=delete`.
            log.set_config(LogConfig {
                dense_offsets: true,
                ..config
            });
            let bytes = log.read(0, 1 << 20, 3).unwrap();
            let (_, header) = crate::log::record_batch::headers(&bytes)
                .next()
                .expect("the cleaned batch is served");
            assert_eq!(header.base_offset, 2, "dense at open: {dense_at_open}");
        }
    }

    #[test]
    fn without_the_marker_a_dense_log_cuts_the_gap() {
        // What recovery did to a cleaned log before the marker: the batch
        // was taken for damage and dropped.
        assert_eq!(reopened_end(disk_with_a_cleaned_segment(false)), 0);
    }
}
