//! What one seed's run produced: the line `--json` prints and the sweep
//! summarises.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checker::Violation;

/// Counts that say how hard the run pushed (for the report, not the verdict).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    pub partitions: i32,
    pub sends: u64,
    pub acked: u64,
    pub send_failures: u64,
    /// Idempotent producers' resends of a batch, and their InitProducerIds.
    pub send_retries: u64,
    pub producer_inits: u64,
    /// Idempotent batches acknowledged after being resent across a broker
    /// restart (the broker's rebuilt producer state had to recognise them).
    pub acked_after_restart_resend: u64,
    pub polls: u64,
    pub records_read: u64,
    pub kills: u64,
    /// Group members' successful SyncGroups, acknowledged commits, crashes.
    pub group_generations_synced: u64,
    pub group_commits: u64,
    pub group_member_crashes: u64,
    pub broker_exits: u64,
    /// Times the nemesis paused the broker node.
    pub pauses: u64,
    /// The lifecycle workload's reach: delete + re-create cycles of its
    /// topic, live config changes, acknowledged DeleteRecords, ListOffsets
    /// by time, keyed reads, reads that skipped offsets compaction removed
    /// (and how many), and records that fell below the log start
    /// (retention, DeleteRecords) as its reader observed.
    pub lc_acked: u64,
    pub lc_topics_recreated: u64,
    pub lc_configs_altered: u64,
    pub lc_delete_records: u64,
    pub lc_time_lookups: u64,
    pub lc_reads: u64,
    pub lc_compacted_reads: u64,
    pub lc_records_compacted_away: u64,
    pub lc_records_below_log_start: u64,
    /// Disk counters, by name (see `SimDiskCounters`).
    pub disk: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedOutcome {
    pub seed: u64,
    pub ok: bool,
    /// Bug switches that were on (`no-crc-check`, `ack-before-sync`,
    /// `no-idempotence`), and
    /// experiments (`experiment:synced-bit-flips`).
    pub bugs: Vec<String>,
    /// Violation counts by name.
    pub violations: BTreeMap<String, usize>,
    /// A few violations in full, first found first.
    pub examples: Vec<Violation>,
    /// FNV-1a of the ordered event history, 16 hex digits.
    pub trace_hash: String,
    pub events: u64,
    pub simulated_ms: u64,
    pub wall_ms: u64,
    pub stats: RunStats,
}

impl SeedOutcome {
    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        let mut command = format!("sim/run.sh --seed {}", self.seed);
        for bug in &self.bugs {
            match bug.strip_prefix("experiment:") {
                Some(experiment) => command.push_str(&format!(" --{experiment}")),
                None => command.push_str(&format!(" --bug {bug}")),
            }
        }
        command
    }

    /// `name=count` pairs, for one-line summaries.
    pub fn violation_summary(&self) -> String {
        self.violations
            .iter()
            .map(|(name, count)| format!("{name}={count}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
