//! Updating the ghost history after a step, as the harness's checker does
//! (src/core/partition/replication_harness/checks.rs): what a consumer could
//! have read at each offset, and whether a step broke it.

use odradek::core::partition::memory_log::MemoryLog;
use odradek::core::partition::ReplicaLog;

use super::state::{Broken, History, ReplicationState};

/// Records every entry now below a live replica's high watermark; an offset
/// that was readable with another record breaks consistent offsets.
pub fn observe(state: &mut ReplicationState) {
    for replica in &state.replicas {
        let Some(machine) = &replica.machine else {
            continue;
        };
        for offset in 0..machine.high_watermark() {
            let entry = replica
                .log
                .entry(offset)
                .expect("the high watermark is within the log");
            match state.history.committed.get(offset as usize) {
                Some(seen) if *seen != entry => {
                    state.history.broken |= Broken::INCONSISTENT_OFFSETS
                }
                Some(_) => {}
                None => state.history.committed.push(entry),
            }
        }
    }
}

/// A replica cut its log at `offset`; `before` is its log before the step.
pub fn on_truncate(history: &mut History, before: &MemoryLog, offset: i64) {
    for o in offset..before.log_end_offset() {
        if let (Some(seen), Some(had)) = (history.committed.get(o as usize), before.entry(o)) {
            if *seen == had {
                history.broken |= Broken::TRUNCATED_COMMITTED;
            }
        }
    }
}
