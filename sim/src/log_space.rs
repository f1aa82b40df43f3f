//! The broker's log configuration, drawn from the seed: segment sizes and
//! ages, index density, the fsync policy, and the flush and checkpoint
//! intervals, short enough that rolls, syncs, recovery points and producer
//! snapshots happen between the faults (which end at 20 s) rather than
//! never. Drawn from a stream of its own, so adding it shifted no other draw.
//!
//! Retention and compaction are drawn elsewhere (with the checkers that know
//! records may be deleted); retention stays at its default here.

use std::collections::BTreeMap;

use odradek::core::topic_config::FsyncPolicy;
use odradek::server::BrokerConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The stream this module draws from: `seed ^ "logspace"`.
const STREAM: u64 = 0x6c6f_6773_7061_6365;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSpace {
    /// The broker's default `fsync.policy` (the workload's topic uses it).
    pub fsync_policy: FsyncPolicy,
    /// `log.segment.bytes`.
    pub segment_bytes: i64,
    /// `log.roll.ms`.
    pub segment_ms: i64,
    /// `log.index.interval.bytes`.
    pub index_interval_bytes: i64,
    /// `log.flush.offset.checkpoint.interval.ms`: recovery points and
    /// producer-state snapshots.
    pub checkpoint_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`.
    pub flush_scheduler_interval_ms: u64,
    /// Default `fsync.interval.ms` (the `interval` policy's period).
    pub fsync_interval_ms: i64,
}

impl LogSpace {
    /// The configuration of `seed`. Most seeds roll segments every few
    /// batches (1 KiB to 8 KiB) and checkpoint several times before the
    /// faults end; a tenth keep each of Kafka's defaults, so the old space
    /// (no roll, no recovery point) stays covered.
    pub fn draw(seed: u64) -> LogSpace {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STREAM);
        let fsync_policy = match rng.gen_range(0..4) {
            0 | 1 => FsyncPolicy::Always,
            2 => FsyncPolicy::Interval,
            _ => FsyncPolicy::Never,
        };
        let segment_bytes = match rng.gen_range(0..10) {
            0..=5 => 1 << rng.gen_range(10..=13),
            6..=8 => 1 << rng.gen_range(14..=17),
            _ => 1 << 30,
        };
        let segment_ms = if rng.gen_bool(0.5) {
            rng.gen_range(300..=5_000)
        } else {
            7 * 24 * 3600 * 1000
        };
        let index_interval_bytes = [64, 128, 512, 1_024, 4_096][rng.gen_range(0..5)];
        let checkpoint_interval_ms = if rng.gen_bool(0.9) {
            rng.gen_range(200..=5_000)
        } else {
            60_000
        };
        LogSpace {
            fsync_policy,
            segment_bytes,
            segment_ms,
            index_interval_bytes,
            checkpoint_interval_ms,
            flush_scheduler_interval_ms: rng.gen_range(5..=200),
            fsync_interval_ms: rng.gen_range(10..=2_000),
        }
    }

    /// Sets the broker's settings to this space.
    pub fn apply(&self, config: &mut BrokerConfig) {
        config.default_fsync_policy = self.fsync_policy;
        config.default_segment_bytes = self.segment_bytes;
        config.log.default_segment_ms = self.segment_ms;
        config.log.default_index_interval_bytes = self.index_interval_bytes;
        config.log.flush_offset_checkpoint_interval_ms = self.checkpoint_interval_ms;
        config.log.flush_scheduler_interval_ms = self.flush_scheduler_interval_ms;
        config.log.default_fsync_interval_ms = self.fsync_interval_ms;
        // Retention is another draw's (with the checkers' awareness of
        // deleted records): keep everything.
        config.default_retention_ms = -1;
        config.default_retention_bytes = -1;
    }

    /// The settings by their Kafka names, for the outcome.
    pub fn describe(&self) -> BTreeMap<String, String> {
        [
            ("fsync.policy", self.fsync_policy.as_str().to_string()),
            ("log.segment.bytes", self.segment_bytes.to_string()),
            ("log.roll.ms", self.segment_ms.to_string()),
            (
                "log.index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            (
                "log.flush.offset.checkpoint.interval.ms",
                self.checkpoint_interval_ms.to_string(),
            ),
            (
                "log.flush.scheduler.interval.ms",
                self.flush_scheduler_interval_ms.to_string(),
            ),
            ("fsync.interval.ms", self.fsync_interval_ms.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_space() {
        assert_eq!(LogSpace::draw(7), LogSpace::draw(7));
    }

    #[test]
    fn seeds_cover_every_policy_and_mostly_roll_small_segments() {
        let spaces: Vec<LogSpace> = (0..200).map(LogSpace::draw).collect();
        for policy in [
            FsyncPolicy::Always,
            FsyncPolicy::Interval,
            FsyncPolicy::Never,
        ] {
            assert!(
                spaces.iter().any(|s| s.fsync_policy == policy),
                "{policy:?}"
            );
        }
        let small = spaces
            .iter()
            .filter(|s| s.segment_bytes <= 8 * 1024)
            .count();
        assert!(
            small > 100,
            "{small} of 200 seeds with segments up to 8 KiB"
        );
        assert!(spaces.iter().all(|s| s.segment_bytes >= 1024));
        let early = spaces
            .iter()
            .filter(|s| s.checkpoint_interval_ms < 20_000)
            .count();
        assert!(
            early > 150,
            "{early} of 200 seeds checkpoint before faults end"
        );
    }

    #[test]
    fn applying_keeps_retention_off() {
        let mut config = BrokerConfig::single_node_default();
        let space = LogSpace::draw(3);
        space.apply(&mut config);
        assert_eq!(config.default_retention_ms, -1);
        assert_eq!(config.default_segment_bytes, space.segment_bytes);
        assert_eq!(
            config.log.flush_offset_checkpoint_interval_ms,
            space.checkpoint_interval_ms
        );
    }
}
