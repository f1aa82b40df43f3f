//! `no-progress`: a seed passes only if its workload did real work. A run
//! whose producers got (almost) nothing acknowledged, or whose consumers read
//! (almost) nothing, would pass every other checker without having tested
//! anything: a broker that refuses everything is not correct, it is silent.
//!
//! The floors are far below what every healthy seed reaches (see
//! [`FLOORS`]), so a seed under one means the broker (or the harness) stopped
//! serving, not that the seed drew a slow workload.

use crate::checker::{Violation, ViolationKind};
use crate::outcome::RunStats;

/// The least a seed must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressFloors {
    /// Acknowledged produce requests (`stats.acked`).
    pub acked_writes: u64,
    /// Records returned by every poll, final read included
    /// (`stats.records_read`).
    pub records_read: u64,
}

/// Measured on seeds 0..50 of the broadened configuration space (see
/// docs/testing.md, "Progress"): the lowest seed acknowledged 262 writes
/// (median 1,288) and read 780 records (median 4,086). The floors leave a
/// margin of 2.6x and 3.9x under the slowest healthy seed, and sit above
/// the 48 and 53 acknowledged writes of the seeds whose plain producers'
/// batches the broker refused (the harness bug these floors found first).
pub const FLOORS: ProgressFloors = ProgressFloors {
    acked_writes: 100,
    records_read: 200,
};

/// The `no-progress` violations of a run's counts against `floors`.
pub fn check(stats: &RunStats, floors: ProgressFloors) -> Vec<Violation> {
    let mut found = Vec::new();
    if stats.acked < floors.acked_writes {
        found.push(no_progress(format!(
            "{} writes acknowledged, fewer than the floor of {}",
            stats.acked, floors.acked_writes
        )));
    }
    if stats.records_read < floors.records_read {
        found.push(no_progress(format!(
            "{} records read, fewer than the floor of {}",
            stats.records_read, floors.records_read
        )));
    }
    found
}

fn no_progress(detail: String) -> Violation {
    Violation {
        kind: ViolationKind::NoProgress,
        at_seq: None,
        partition: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOORS: ProgressFloors = ProgressFloors {
        acked_writes: 10,
        records_read: 20,
    };

    fn stats(acked: u64, records_read: u64) -> RunStats {
        RunStats {
            acked,
            records_read,
            ..RunStats::default()
        }
    }

    #[test]
    fn a_run_at_or_above_both_floors_passes() {
        assert!(check(&stats(10, 20), FLOORS).is_empty());
        assert!(check(&stats(5_000, 9_000), FLOORS).is_empty());
    }

    #[test]
    fn too_few_acknowledged_writes_is_no_progress() {
        let found = check(&stats(9, 500), FLOORS);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, ViolationKind::NoProgress);
        assert!(found[0].detail.contains("9 writes acknowledged"));
    }

    #[test]
    fn too_few_records_read_is_no_progress() {
        let found = check(&stats(500, 19), FLOORS);
        assert_eq!(found.len(), 1);
        assert!(found[0].detail.contains("19 records read"));
    }

    #[test]
    fn a_run_that_did_nothing_fails_both() {
        let found = check(&RunStats::default(), FLOORS);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|v| v.kind == ViolationKind::NoProgress));
    }
}
