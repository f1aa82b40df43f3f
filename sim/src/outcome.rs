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
    /// Cluster mode: network partitions the nemesis made.
    pub partitions_cut: u64,
    /// Cluster mode, `--correlated-crashes`: power losses of every node at
    /// once (`NodesPowerLost`).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub correlated_power_losses: u64,
    /// Cluster mode: samples the metadata-log checker judged.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub metadata_log_samples: u64,
    /// Cluster mode: leader-churn episodes (`ChurnStarted`).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub churn_episodes: u64,
    /// Acknowledged records found missing after a power loss of every
    /// replica of their replicated `fsync.policy=never` partition: lost as
    /// that policy allows, excused by the checkers (`checker::Durability`).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub acked_lost_to_correlated_crashes: u64,
    /// The lifecycle workload's reach: delete + re-create cycles of its
    /// topic, live config changes, acknowledged DeleteRecords, ListOffsets
    /// by time, keyed reads, reads that skipped offsets compaction removed
    /// (and how many), and records that fell below the log start
    /// (retention, DeleteRecords) as its reader observed. Config changes
    /// whose answer was lost count apart: they may or may not be in effect.
    pub lc_acked: u64,
    pub lc_topics_recreated: u64,
    pub lc_configs_altered: u64,
    pub lc_config_alters_unanswered: u64,
    pub lc_delete_records: u64,
    pub lc_time_lookups: u64,
    pub lc_reads: u64,
    pub lc_compacted_reads: u64,
    pub lc_records_compacted_away: u64,
    pub lc_records_below_log_start: u64,
    /// Fetches of one batch at a random offset after the final read
    /// (`seek_reads`), which consult the offset indexes of trusted segments.
    pub seek_reads: u64,
    /// ListOffsets by time after the final read (`time_seeks`), judged
    /// against the final read.
    pub time_seeks: u64,
    /// Cluster mode: ListOffsets answers the offsets prober judged
    /// (`cluster::offsets_probe`).
    pub offset_probes: u64,
    /// Disk counters, by name (see `SimDiskCounters`).
    pub disk: BTreeMap<String, u64>,
    /// The broker node's clock faults, by name (see `SimClockCounters`):
    /// `jumps` (every step, the final resync included), `forward_jumps`,
    /// `backward_jumps`, `largest_forward_jump_ms`, `largest_backward_jump_ms`.
    pub clock: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedOutcome {
    pub seed: u64,
    pub ok: bool,
    /// Bug switches that were on (`crate::bugs::BUG_SWITCHES`' names), and
    /// experiments (`experiment:synced-bit-flips`, cluster mode's
    /// `experiment:fsync-never` and `experiment:correlated-crashes`).
    pub bugs: Vec<String>,
    /// 0: the single-node run; N: an N-node cluster (`--cluster N`).
    #[serde(skip_serializing_if = "is_zero")]
    pub cluster_nodes: usize,
    /// Violation counts by name.
    pub violations: BTreeMap<String, usize>,
    /// A few violations in full, first found first.
    pub examples: Vec<Violation>,
    /// FNV-1a of the ordered event history, 16 hex digits.
    pub trace_hash: String,
    pub events: u64,
    pub simulated_ms: u64,
    pub wall_ms: u64,
    /// Acknowledged produce requests (`stats.acked`; `no-progress` floor).
    pub acked_writes: u64,
    /// The broker's log settings drawn from the seed, by Kafka name.
    pub config: BTreeMap<String, String>,
    /// How often the run reached each mechanism (`odradek::coverage`).
    pub coverage: BTreeMap<String, u64>,
    pub stats: RunStats,
}

impl SeedOutcome {
    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        let mut command = format!("sim/run.sh --seed {}", self.seed);
        if self.cluster_nodes > 0 {
            command.push_str(&format!(" --cluster {}", self.cluster_nodes));
        }
        for bug in &self.bugs {
            match bug.strip_prefix("experiment:") {
                Some(experiment) => command.push_str(&format!(" --{experiment}")),
                None => command.push_str(&format!(" --bug {bug}")),
            }
        }
        command
    }

    /// Whether the run reported any of `kinds`.
    pub fn reports_any(&self, kinds: &[crate::checker::ViolationKind]) -> bool {
        kinds
            .iter()
            .any(|kind| self.violations.contains_key(kind.name()))
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

/// Coverage counters summed over a sweep, with how many seeds reached each.
#[derive(Debug, Clone, Default)]
pub struct CoverageSummary {
    seeds: u64,
    /// name -> (total, seeds with a non-zero count).
    counters: BTreeMap<String, (u64, u64)>,
}

impl CoverageSummary {
    pub fn add(&mut self, outcome: &SeedOutcome) {
        self.seeds += 1;
        for (name, value) in &outcome.coverage {
            let entry = self.counters.entry(name.clone()).or_insert((0, 0));
            entry.0 += value;
            entry.1 += u64::from(*value > 0);
        }
    }

    /// The counters no seed reached.
    pub fn never_reached(&self) -> Vec<&str> {
        self.counters
            .iter()
            .filter(|(_, (total, _))| *total == 0)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// One line per counter: total, seeds reaching it, and a loud mark on
    /// the ones never reached (a mechanism the sweep did not test).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "coverage over {} seeds (total, seeds that reached it):",
            self.seeds
        )];
        for (name, (total, seeds)) in &self.counters {
            let mark = if *total == 0 {
                "  <-- NEVER REACHED"
            } else {
                ""
            };
            lines.push(format!(
                "  {name:<32} {total:>10} {seeds:>6}/{}{mark}",
                self.seeds
            ));
        }
        lines
    }
}

/// serde: the single-node outcome keeps its fields (no `cluster_nodes`).
fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// serde: outcomes without the cluster experiments keep their fields.
fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(coverage: &[(&str, u64)]) -> SeedOutcome {
        SeedOutcome {
            seed: 0,
            ok: true,
            bugs: Vec::new(),
            cluster_nodes: 0,
            violations: BTreeMap::new(),
            examples: Vec::new(),
            trace_hash: String::new(),
            events: 0,
            simulated_ms: 0,
            wall_ms: 0,
            acked_writes: 0,
            config: BTreeMap::new(),
            coverage: coverage.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            stats: RunStats::default(),
        }
    }

    #[test]
    fn a_counter_no_seed_reached_stands_out() {
        let mut summary = CoverageSummary::default();
        summary.add(&outcome(&[("segments_rolled", 3), ("clock_jumps", 0)]));
        summary.add(&outcome(&[("segments_rolled", 0), ("clock_jumps", 0)]));
        assert_eq!(summary.never_reached(), vec!["clock_jumps"]);
        let lines = summary.lines();
        assert!(lines
            .iter()
            .any(|l| l.contains("clock_jumps") && l.contains("NEVER REACHED")));
        assert!(lines
            .iter()
            .any(|l| l.contains("segments_rolled") && l.contains("1/2") && !l.contains("NEVER")));
    }
}
