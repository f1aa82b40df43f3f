//! Broker-wide log settings that were constants until the simulator needed
//! them short enough to fire between two faults. Kafka's names; defaults as
//! Kafka's where the mechanism is the same (docs/limits.md lists them).

/// How often background log work runs, and the defaults of the per-topic
/// segment settings that `log.segment.bytes` does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// `log.flush.scheduler.interval.ms`: how often the flusher looks for
    /// partitions due a sync (`fsync.policy=interval` and the retry of a
    /// failed `always` sync). Kafka's default never runs the flusher (it has
    /// no `interval` policy); odradek's looks every 50 ms.
    pub flush_scheduler_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms`: how often each partition
    /// syncs fully and writes its recovery point and a producer-state
    /// snapshot (Kafka: 60 s). A restart scans only the log past the point.
    pub flush_offset_checkpoint_interval_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often every
    /// partition's high watermark is written to the data directory's
    /// `replication-offset-checkpoint` (Kafka: 5 s).
    pub high_watermark_checkpoint_interval_ms: u64,
    /// Default `fsync.interval.ms` of topics that set none (odradek's
    /// `interval` policy; Kafka's nearest is `log.flush.interval.ms`).
    pub default_fsync_interval_ms: i64,
    /// `log.roll.ms`: default `segment.ms` (Kafka: 7 days).
    pub default_segment_ms: i64,
    /// `log.index.interval.bytes`: default `index.interval.bytes` (4096).
    pub default_index_interval_bytes: i64,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            flush_scheduler_interval_ms: 50,
            flush_offset_checkpoint_interval_ms: 60_000,
            high_watermark_checkpoint_interval_ms: 5_000,
            default_fsync_interval_ms: 1_000,
            default_segment_ms: 7 * 24 * 3600 * 1000,
            default_index_interval_bytes: 4096,
        }
    }
}
