//! Coverage counters: how often the broker reached each storage mechanism
//! the simulator must crash into (a segment roll, a recovery from a recovery
//! point, a torn tail truncated, ...). The simulator resets them before a
//! seed and reports them in its outcome, so a sweep shows which mechanisms
//! it never reached (a checker cannot catch a bug in code that never ran).
//!
//! A fixed set of process-wide relaxed atomic counters: one uncontended
//! `fetch_add` per event, on paths that already do disk I/O, so the cost is
//! nothing worth measuring. A real broker counts too and never reads them.
//! Counters named here but bumped by no code yet say so in docs/testing.md.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($variant:ident => $name:literal, $doc:literal;)+) => {
        /// One mechanism the simulator should reach.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Counter {
            $(#[doc = $doc] $variant,)+
        }

        impl Counter {
            /// Every counter, in report order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),+];

            /// The name the outcome's `coverage` object uses.
            pub fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => $name,)+
                }
            }
        }
    };
}

counters! {
    SegmentsRolled => "segments_rolled", "A new active segment was started (by size, age or index space).";
    SegmentsLoadedFromIndex => "segments_loaded_from_index", "Recovery trusted a segment's indexes (below the recovery point).";
    SegmentsRebuiltByScan => "segments_rebuilt_by_scan", "Recovery read a segment batch by batch and rebuilt its indexes.";
    RecoveredFromRecoveryPoint => "recovered_from_recovery_point", "A log opened with a recovery point above its start (the scan began there).";
    TornTailsTruncated => "torn_tails_truncated", "Recovery cut a log at a bad or incomplete batch.";
    RotKeptAtRecovery => "rot_kept_at_recovery", "Recovery found rot in synced data below the recovery point and kept the segment whole.";
    SegmentsCopiedAtRecovery => "segments_copied_at_recovery", "Recovery copied a segment holding records past the recovery point into a fresh synced file.";
    RecoveryPointsWritten => "recovery_points_written", "A recovery-point checkpoint was written durably.";
    ProducerSnapshotsWritten => "producer_snapshots_written", "A producer-state snapshot was written durably.";
    HighWatermarkCheckpointsWritten => "high_watermark_checkpoints_written", "The data directory's replication-offset-checkpoint was written durably.";
    ProducerSnapshotsLoaded => "producer_snapshots_loaded", "A partition opened from a producer-state snapshot.";
    LogStartOffsetWrites => "log_start_offset_writes", "The log start offset was written durably (retention, DeleteRecords).";
    DirectorySyncs => "directory_syncs", "A directory was synced (a created, renamed or removed name made durable).";
    CompactionPasses => "compactions", "The cleaner compacted a partition.";
    CompactionSwaps => "compaction_swaps", "A cleaned segment set replaced the originals.";
    CompactionSwapsInterrupted => "compaction_swaps_interrupted", "Recovery found a compaction swap a crash interrupted, and finished or undid it.";
    RetentionDeletedSegments => "retention_deleted_segments", "Retention deleted a segment.";
    LogsStartedOver => "logs_started_over", "A follower below its leader's log start emptied its log and started over there.";
    ClockJumps => "clock_jumps", "A node's wall clock jumped (the simulator's clock nemesis).";
    BuggifyFired => "buggify_fired", "A fault point on a rare path fired (`buggify`; simulator seeds that enable it).";
}

static COUNTS: [AtomicU64; Counter::ALL.len()] = [const { AtomicU64::new(0) }; Counter::ALL.len()];

/// Counts one occurrence of `counter`.
pub fn bump(counter: Counter) {
    add(counter, 1);
}

/// Counts `n` occurrences of `counter`.
pub fn add(counter: Counter, n: u64) {
    COUNTS[counter as usize].fetch_add(n, Ordering::Relaxed);
}

/// Every counter back to zero (the simulator, before a seed).
pub fn reset() {
    for count in &COUNTS {
        count.store(0, Ordering::Relaxed);
    }
}

/// Every counter with its value, in [`Counter::ALL`] order.
pub fn snapshot() -> Vec<(&'static str, u64)> {
    Counter::ALL
        .iter()
        .map(|c| (c.name(), COUNTS[*c as usize].load(Ordering::Relaxed)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_in_order() {
        let names: Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for (i, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, i);
        }
    }

    #[test]
    fn bumps_show_in_the_snapshot() {
        // Other tests of the process may bump too: compare differences.
        let before = value(Counter::ClockJumps);
        bump(Counter::ClockJumps);
        add(Counter::ClockJumps, 2);
        assert!(value(Counter::ClockJumps) >= before + 3);
    }

    fn value(counter: Counter) -> u64 {
        snapshot()
            .into_iter()
            .find(|(name, _)| *name == counter.name())
            .map(|(_, v)| v)
            .unwrap()
    }
}
